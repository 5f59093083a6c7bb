// The driver as one object: it brings up one SMMU (smmu_device) and offers
// the workload API: domains, masters, attach / detach, map / unmap, SVA bind,
// ATS enable / disable. Every operation returns its status, the commands it
// put in the command queue by opcode (CMD_SYNC included; deltas of the queue's
// statistics, so commands other CPUs issue at the same time are counted too)
// and its CPU-visible latency (platform_ops::now_ns() after minus before).
//
// Locks: the attach mutex (ASID lock) serialises attach paths and tags; a
// registry lock (the role of Linux's group mutex) guards the handle tables;
// each domain's page-table lock serialises its map / unmap. map / unmap find
// their domain without a lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "driver/core/attach.h"
#include "driver/core/domain.h"
#include "driver/core/invs.h"
#include "driver/core/platform.h"
#include "driver/core/smmu_device.h"
#include "driver/core/tags.h"
#include "driver/core/vsmmu.h"
#include "model/arch/command.h"

namespace smmu::driver {

/// Creates the driver's mutexes (driver/host: simulated-CPU locks; tests: std::mutex).
class lock_factory {
public:
    virtual ~lock_factory() = default;
    /// nullptr when no lock can be allocated.
    virtual std::unique_ptr<lock_ops> make_lock() = 0;
};

struct driver_options {
    device_config device;
    arch::granule granule = arch::granule::size_4k; ///< of every domain's page table
    std::size_t max_domains = 256;
    std::uint32_t smmu_index = 0; ///< diagnostics only
    /// Steps to skip on purpose (tests of the invalidation-protocol checker).
    fault_injection faults{};
};

using domain_id = std::uint32_t; ///< 0 is never a domain
using vsmmu_id = std::uint32_t;  ///< 0 is never a vSMMU

struct op_result {
    op_status status = op_status::ok;
    /// Commands written to the command queue during the operation, by opcode.
    std::map<arch::opcode, std::uint64_t> commands;
    std::uint64_t latency_ns = 0;
    std::uint32_t id = 0;    ///< create_domain: the new domain
    std::uint64_t bytes = 0; ///< map / unmap: bytes done (also on error)

    bool ok() const { return status == op_status::ok; }
    std::uint64_t count(arch::opcode op) const;
    std::uint64_t total_commands() const;
};

/// Runs `io` (a map or unmap of `d`) and records its outcome in `r`;
/// bad_input when `d` is null.
template <typename F>
void run_domain_io(op_result& r, domain* d, F&& io) {
    if (d == nullptr) {
        r.status = op_status::bad_input;
        return;
    }
    const domain_io_result x = io(*d);
    r.status = x.status;
    r.bytes = x.bytes;
}

class smmu_driver {
public:
    /// Creates the locks (a failure is reported by bring_up). Touches no hardware.
    smmu_driver(platform_ops& platform, lock_factory& locks, rw_lock_factory& rw_locks,
                driver_options opts = {});
    ~smmu_driver();
    smmu_driver(const smmu_driver&) = delete;
    smmu_driver& operator=(const smmu_driver&) = delete;

    /// Probe, allocation and the reset / enable sequence (smmu_device::bring_up).
    /// no_memory when a lock could not be created. Every other call is
    /// not_ready until this succeeded.
    op_result bring_up();
    bool ready() const { return m_instance != nullptr; }

    /// A domain of `kind` sized for this SMMU (id in the result). unsupported
    /// when the SMMU lacks the stage or granule, busy when the table is full.
    op_result create_domain(domain_kind kind);
    /// The same with its own page-table granule (unsupported when the SMMU lacks it).
    op_result create_domain(domain_kind kind, arch::granule granule);
    /// busy while attached or a vSMMU's parent; an SVA domain is flushed first (§3.7).
    op_result destroy_domain(domain_id id);
    /// A device; its StreamIDs must not belong to another master (bad_input).
    op_result add_master(master_config cfg);
    /// busy while attached or a vSMMU's vdevice.
    op_result remove_master(arch::stream_id sid);

    /// Attaches to the master owning `sid`: its RID when pasid == 0, else the PASID.
    op_result attach(domain_id id, arch::stream_id sid, std::uint32_t pasid = 0);
    /// Blocks the RID (pasid == 0) or removes the PASID's domain.
    op_result detach(arch::stream_id sid, std::uint32_t pasid = 0);
    /// Binds an SVA domain at `pasid` (bad_input for other kinds).
    op_result bind_sva(arch::stream_id sid, std::uint32_t pasid, domain_id id);
    op_result enable_ats(arch::stream_id sid);
    op_result disable_ats(arch::stream_id sid);

    op_result map(domain_id id, std::uint64_t iova, arch::phys_addr pa, std::uint64_t size,
                  const iommu_prot& prot);
    op_result unmap(domain_id id, std::uint64_t iova, std::uint64_t size);
    /// Invalidates everything the domain's array names (arm_smmu_domain_inv).
    op_result flush_domain(domain_id id);

    // --- virtual SMMUs: what a VMM asks of the host for a guest (vsmmu.h) --------------
    /// A vSMMU over the nesting-parent domain `parent` (id in the result); its
    /// VMID is allocated now. bad_input for another kind of domain,
    /// tag_exhausted when no VMID is free.
    op_result create_vsmmu(domain_id parent);
    /// busy while a master is attached through it; flushes its VMID
    /// (TLBI_S12_VMALL + CMD_SYNC), then frees it.
    op_result destroy_vsmmu(vsmmu_id id);
    /// A vdevice: the guest's StreamID `vsid` is the master owning `sid`.
    /// bad_input when either is unknown or already has a vdevice here.
    op_result vsmmu_add_device(vsmmu_id id, std::uint32_t vsid, arch::stream_id sid);
    /// busy while the master is attached through the vSMMU.
    op_result vsmmu_remove_device(vsmmu_id id, std::uint32_t vsid);
    /// The guest installed `guest` as the STE of `vsid` (attach_engine::attach_nested).
    op_result vsmmu_install_ste(vsmmu_id id, std::uint32_t vsid, const arch::ste& guest);
    /// Forwards guest invalidation commands (vsmmu::translate) and a CMD_SYNC;
    /// r.id = commands consumed. bad_input when one is refused (those before it
    /// were issued), hw_error when the queue failed.
    op_result vsmmu_invalidate(vsmmu_id id, const arch::command_words* cmds, std::size_t count,
                               vsmmu_invalidate_result* detail = nullptr);
    /// The port a guest driver of vSMMU `id` forwards through; null if unknown.
    vsmmu_port* guest_port(vsmmu_id id);
    const vsmmu* find_vsmmu(vsmmu_id id) const;

    // --- for hosts and tests ---------------------------------------------------------
    smmu_device* device() { return m_device.get(); }
    smmu_instance* instance() { return m_instance.get(); }
    attach_engine* attach_paths() { return m_attach.get(); }
    tag_allocator& tags() { return m_tags; }
    domain* find_domain(domain_id id) const;
    /// The IOTLB tag (ASID or VMID entry) the domain's invalidation array holds
    /// live; nullopt when nothing attached to the domain holds one.
    std::optional<inv> domain_tag(domain_id id) const;
    master* find_master(arch::stream_id sid);
    const driver_options& options() const { return m_opts; }

private:
    class vsmmu_slot;

    template <typename F>
    op_result measure(F&& body);
    domain_config config_for(domain_kind kind, arch::granule granule) const;
    op_status check_kind(domain_kind kind, arch::granule granule) const;

    platform_ops& m_platform;
    rw_lock_factory& m_rw_locks;
    lock_factory& m_locks;
    driver_options m_opts;

    std::unique_ptr<lock_ops> m_cmdq_lock;
    std::unique_ptr<lock_ops> m_asid_lock;
    std::unique_ptr<lock_ops> m_registry_lock;
    std::unique_ptr<smmu_device> m_device;
    std::unique_ptr<smmu_instance> m_instance;
    tag_allocator m_tags;
    std::unique_ptr<attach_engine> m_attach;

    // Domains: owned under the registry lock; found by map / unmap without it.
    std::vector<std::unique_ptr<domain>> m_domains;
    std::unique_ptr<std::atomic<domain*>[]> m_domain_slots;
    std::vector<std::unique_ptr<master>> m_masters;
    std::map<arch::stream_id, master*> m_by_sid;
    std::map<vsmmu_id, std::unique_ptr<vsmmu_slot>> m_vsmmus; ///< under the registry lock
    vsmmu_id m_next_vsmmu = 1;
};

} // namespace smmu::driver
