// A virtual SMMU for one guest (iommufd's vIOMMU on Arm: linux-invs.md §5.2,
// peers.md §2.8): a nesting-parent stage-2 domain (the guest's IPA space), a
// VMID of the physical SMMU allocated when the vSMMU is created and freed when
// it is destroyed, the guest's virtual StreamIDs (vdevices), and the two things
// a VMM forwards from its emulated SMMU:
//   - a guest STE (vSTE): installed as a nested STE (Config = S1+S2) whose
//     stage-1 fields are the guest's (S1ContextPtr is an IPA) and whose stage 2
//     is the parent's, tagged with the vSMMU's VMID;
//   - guest invalidation commands: TLBI_NH_{VA,VAA,ASID,ALL}, CFGI_CD(_ALL)
//     and ATC_INV, issued on the physical command queue with the vSMMU's VMID
//     and the physical StreamIDs, followed by one CMD_SYNC.
//
// vsmmu_sink is the command_sink of a guest's own driver (guest.h): its
// invalidation walker's commands go through the vSMMU instead of a queue.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "driver/core/cmdq.h"
#include "driver/core/domain.h"
#include "driver/core/inv_range.h"
#include "driver/core/invs.h"
#include "model/arch/command.h"
#include "model/arch/ste.h"

namespace smmu::driver {

class master;
class smmu_instance;

/// Why a guest command or vSTE was refused.
enum class vsmmu_error : std::uint8_t {
    none,
    illegal_command,     ///< the words do not decode (CERROR_ILL on real hardware)
    unsupported_command, ///< an opcode a guest may not forward (CMD_SYNC, S2 / EL2 TLBIs, ...)
    unknown_vsid,        ///< a CFGI_CD or ATC_INV for a vSID with no vdevice
    queue_failed,        ///< the physical command queue refused or timed out
};

const char* to_string(vsmmu_error e);

/// Outcome of forwarding guest commands: those before `consumed` were issued
/// (with a CMD_SYNC); the one at `consumed` failed with `error` (iommufd
/// reports the same index back to the VMM).
struct vsmmu_invalidate_result {
    vsmmu_error error = vsmmu_error::none;
    std::size_t consumed = 0;
    std::size_t issued = 0; ///< physical commands, CMD_SYNCs included
    bool ok() const { return error == vsmmu_error::none; }
};

class vsmmu {
public:
    /// `parent` must be a nesting-parent domain; `vmid` is the VMID this vSMMU
    /// owns on `smmu` (allocated by the caller, freed by the caller after destroy).
    vsmmu(smmu_instance& smmu, domain& parent, std::uint32_t vmid);
    vsmmu(const vsmmu&) = delete;
    vsmmu& operator=(const vsmmu&) = delete;

    smmu_instance& smmu() const { return m_smmu; }
    domain& parent() const { return m_parent; }
    std::uint32_t vmid() const { return m_vmid; }
    /// The SMMU the guest's own invs entries name (owner = this vSMMU): what
    /// the guest sees of the physical SMMU (its RIL, ATS and widths, no E2H).
    smmu_ref guest_ref() const { return &m_guest_caps; }

    // vdevices: the caller serialises these with invalidate().
    /// False when `vsid` is taken or the master already has a vSID here.
    bool add_device(std::uint32_t vsid, master& m);
    /// False when `vsid` is unknown.
    bool remove_device(std::uint32_t vsid);
    master* device(std::uint32_t vsid) const;
    std::optional<std::uint32_t> vsid_of(const master& m) const;

    /// The host's reading of a guest STE: true for the configurations it can
    /// install (V = 0 or abort: blocked; bypass: stage 2 only; stage 1:
    /// nested), with EATS none or full and S1CDMax within IDR1.SSIDSIZE.
    bool acceptable(const arch::ste& guest) const;
    /// The physical STE for a guest STE on a master of this vSMMU: nested (or
    /// stage 2 only for a bypass vSTE) with the parent's stage 2, this VMID and
    /// EATS when `ats` (the host enabled ATS for the master).
    arch::ste physical_ste(const arch::ste& guest, bool ats) const;

    /// Translates guest commands into physical ones (VMID, StreamIDs) in `out`.
    vsmmu_invalidate_result translate(const arch::command_words* cmds, std::size_t count,
                                      std::vector<arch::command>& out) const;

private:
    smmu_instance& m_smmu;
    domain& m_parent;
    std::uint32_t m_vmid;
    smmu_caps m_guest_caps;
    std::map<std::uint32_t, master*> m_devices; ///< vSID -> master
};

/// What a VMM does on the host for its guest's writes to one vSMMU: the
/// host side a guest driver (guest.h) calls. smmu_driver::guest_port.
class vsmmu_port {
public:
    virtual ~vsmmu_port() = default;
    /// Issues the commands (translated) and a CMD_SYNC, and waits for it.
    virtual vsmmu_invalidate_result invalidate(const arch::command_words* cmds,
                                               std::size_t count) = 0;
    /// The guest wrote `guest` as the STE of `vsid` and invalidated it.
    virtual op_status install_ste(std::uint32_t vsid, const arch::ste& guest) = 0;
};

/// command_sink for a guest driver: collects the walker's commands, encoded as
/// the guest would write them, and forwards them through `port` on sync() and
/// whenever 64 are held (each forward ends with the host's CMD_SYNC).
class vsmmu_sink final : public command_sink {
public:
    explicit vsmmu_sink(vsmmu_port& port)
        : m_port(port) {}
    /// Forwards anything still held.
    ~vsmmu_sink() override;
    vsmmu_sink(const vsmmu_sink&) = delete;
    vsmmu_sink& operator=(const vsmmu_sink&) = delete;

    bool add(smmu_ref smmu, const arch::command& cmd) override;
    bool sync(smmu_ref smmu) override;

    /// The first refusal seen (none if every forward succeeded).
    vsmmu_error error() const { return m_error; }

private:
    bool forward();

    vsmmu_port& m_port;
    std::array<arch::command_words, cmdq_batch_entries> m_cmds{};
    std::size_t m_count = 0;
    vsmmu_error m_error = vsmmu_error::none;
};

} // namespace smmu::driver
