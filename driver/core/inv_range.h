// Invalidation of an IOVA range through a domain's invs array
// (linux-invs.md §4): the walker turns the live entries into TLBI / ATC_INV
// commands per SMMU and decides where the CMD_SYNCs go.
#pragma once

#include <cstdint>

#include "driver/core/invs.h"
#include "driver/core/platform.h"
#include "model/arch/command.h"

namespace smmu::driver {

/// Where the walker's commands go: the driver's command-queue producer.
/// Batching (64 per submission) is the sink's business; the walker only says
/// which SMMU a command is for and where a CMD_SYNC must follow.
class command_sink {
public:
    virtual ~command_sink() = default;
    /// Queues one command for `smmu`. False if it could not be queued.
    virtual bool add(smmu_ref smmu, const arch::command& cmd) = 0;
    /// Issues everything queued for `smmu` followed by a CMD_SYNC and waits for
    /// its completion. False on a queue error or a timeout.
    virtual bool sync(smmu_ref smmu) = 0;
};

/// Deliberately broken driver behaviour, for the invalidation-protocol checker's
/// tests and for studies of what a missing step costs. All off in a correct driver.
struct fault_injection {
    /// unmap clears the PTEs but issues no invalidation (stale IOTLB and ATC entries).
    bool skip_unmap_invalidation = false;
    /// The walker omits the CMD_SYNC between an SMMU's TLBIs and its ATC_INVs (§4.3 rule 3).
    bool atc_inv_before_sync = false;
    /// The last detach releases the ASID / VMID without flushing it from the IOTLB (§5.2).
    bool skip_tag_flush = false;

    bool any() const { return skip_unmap_invalidation || atc_inv_before_sync || skip_tag_flush; }
};

/// One invalidation request (§4.1). size 0 or UINT64_MAX means everything.
struct inv_range_args {
    std::uint64_t iova = 0;
    std::uint64_t size = 0;
    std::uint64_t granule = 0; ///< bytes of the leaf (or table) being invalidated
    bool leaf = false;
    /// False only under fault_injection::atc_inv_before_sync.
    bool sync_before_ats = true;
};

/// §4.5: whether the range is better served by one whole-tag command on `smmu`.
bool inv_size_too_big(const smmu_caps& smmu, std::uint64_t size, std::uint64_t granule);

/// The whole-tag command of a tag entry (`nsize_opcode`): TLBI_NH_ASID /
/// TLBI_EL2_ASID for S1_ASID, TLBI_S12_VMALL for stage-2 types, TLBI_NH_ALL for
/// S2_VMID_S1_CLEAR, ATC_INV of everything for ATS types.
arch::command make_nsize_command(const inv& e);

/// Outcome of one walk.
struct inv_range_status {
    unsigned commands = 0; ///< commands handed to the sink
    unsigned syncs = 0;    ///< CMD_SYNCs requested
    bool ok = true;        ///< false if the sink refused any add or sync
};

/// The walker (§4.3, §4.4) over a loaded array, without the fence and lock of
/// domain_inv_range. Segments end (CMD_SYNC) at an SMMU change, on entering the
/// S2_VMID_S1_CLEAR group and on entering the ATS group; a segment that emitted
/// nothing gets no CMD_SYNC. S2_VMID_S1_CLEAR emits nothing when the same SMMU
/// already got TLBI_S12_VMALL for that VMID in this walk (§4.10 fix).
inv_range_status inv_range_walk(const inv_array& invs, const inv_range_args& args,
                                command_sink& sink);

/// arm_smmu_domain_inv_range (§4.2): full fence so the caller's IOPTE stores
/// are ordered before the array load, acquire-load of the domain's array, the
/// array's read lock if it has ATS entries, the walk. `platform`, if given, is
/// charged the barrier and the lock acquisition.
inv_range_status domain_inv_range(const invs_slot& slot, const inv_range_args& args,
                                  command_sink& sink, platform_ops* platform = nullptr);

/// arm_smmu_domain_inv: everything (size 0).
inv_range_status domain_inv_all(const invs_slot& slot, command_sink& sink,
                                platform_ops* platform = nullptr);

} // namespace smmu::driver
