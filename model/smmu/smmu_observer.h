// What a platform can watch inside the SMMU block without changing it: the
// translations it hands out, the commands it executes and the ATC
// invalidation round trips. Used by smmu-sim's timeline trace and its
// invalidation-protocol checker. Every callback has an empty default; with no
// observer installed the model pays one pointer test per event.
//
// Times are absolute simulated picoseconds including the annotated delay of
// the transaction or command concerned.
#pragma once

#include <cstdint>
#include <optional>

#include "model/arch/command.h"
#include "model/timing/clock.h"

namespace smmu {

class smmu_observer {
public:
    virtual ~smmu_observer() = default;

    /// A successful translation used by a transaction (`ats` false; `at` is when
    /// it arrived at the TBU) or returned in an ATS Translation Completion that
    /// grants some access (`ats` true; `at` is when the request arrived).
    virtual void translation(std::uint32_t /*sid*/, std::optional<std::uint32_t> /*ssid*/,
                             std::uint64_t /*iova*/, bool /*ats*/, timing::time_ps /*at*/) {}
    /// A command executed by the command engine, from the start of its
    /// execution to its completion (a CMD_SYNC: to when its completion became
    /// visible).
    virtual void command(const arch::command& /*cmd*/, timing::time_ps /*begin*/,
                         timing::time_ps /*end*/) {}
    /// An ATC invalidation request sent for `sid` at `sent`, completed at `done`.
    virtual void atc_invalidation(std::uint32_t /*sid*/, timing::time_ps /*sent*/,
                                  timing::time_ps /*done*/) {}
    /// A table walk for a transaction or an ATS request (IOTLB miss).
    virtual void walk(std::uint32_t /*sid*/, std::uint64_t /*iova*/, timing::time_ps /*begin*/,
                      timing::time_ps /*end*/) {}
};

} // namespace smmu
