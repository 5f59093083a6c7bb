// Memory as the SMMU itself sees it: the port for its own accesses (STE/CD
// fetches, table walks, command reads, event and MSI writes). The SystemC
// block implements it over its walker socket; unit tests use a plain map.
#pragma once

#include <cstdint>

#include "model/arch/types.h"
#include "model/timing/clock.h"

namespace smmu {

/// Why the SMMU accesses memory (statistics, tracing, and the latency a
/// downstream target may choose by kind).
enum class mem_purpose : std::uint8_t {
    l1std,
    ste,
    l1cd,
    cd,
    walk_s1,
    walk_s2,
    command,
    event,
    msi,
};

class smmu_memory {
public:
    virtual ~smmu_memory() = default;

    /// Reads `len` bytes at `pa`. `now` is the absolute simulated time at which
    /// the access starts; the implementation advances it by the access latency.
    /// `debug`: no side effects and no time (debug transport). Returns false on
    /// an external abort (the bytes of `dst` are then unspecified).
    virtual bool read(arch::phys_addr pa, void* dst, unsigned len, mem_purpose why,
                      timing::time_ps& now, bool debug) = 0;
    /// Writes `len` bytes at `pa`; as read().
    virtual bool write(arch::phys_addr pa, const void* src, unsigned len, mem_purpose why,
                       timing::time_ps& now) = 0;
};

} // namespace smmu
