// IOMMU domains (linux-invs.md §1, §2.6): an address space (an io_pgtable)
// plus the invalidation array that says which TLBs and ATCs must be cleaned
// whenever one of its IOPTEs changes. Four kinds: paging stage 1 (ASID-tagged,
// installed through a CD), paging stage 2 (VMID-tagged, installed in STEs),
// nesting parent (a stage 2 that also clears guest stage-1 entries of its
// VMID) and SVA (a process's stage-1 tables bound to a PASID).
//
// Also here: the command_sink the inv_range walker uses to reach the real
// command queues (one cmdq_batch at a time, CMD_SYNC on request), and the
// status every driver operation reports.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "driver/core/cmdq.h"
#include "driver/core/inv_range.h"
#include "driver/core/invs.h"
#include "driver/core/io_pgtable.h"
#include "driver/core/platform.h"
#include "driver/core/tags.h"
#include "model/arch/command.h"
#include "model/arch/types.h"

namespace smmu::driver {

class vsmmu_port;

/// Outcome of a domain, attach or driver operation.
enum class op_status : std::uint8_t {
    ok,
    no_memory,      ///< a DMA, array or lock allocation failed
    tag_exhausted,  ///< every ASID / VMID is in use
    bad_input,      ///< unknown handle, wrong domain kind, PASID out of range
    unsupported,    ///< the SMMU or the master lacks what the operation needs
    busy,           ///< the domain is attached / the PASID is bound
    not_ready,      ///< the SMMU is not brought up
    hw_error,       ///< a command was refused or a CMD_SYNC did not complete
    misaligned,     ///< page table: address or size not a multiple of the granule
    out_of_range,   ///< page table: beyond the input or output size
    already_mapped, ///< page table: part of the range is mapped
    not_mapped,     ///< page table: unmap reached an unmapped address
    no_access,      ///< page table: neither read nor write asked for
    internal,       ///< invalidation-array bookkeeping disagrees (a driver bug)
};

const char* to_string(op_status s);
op_status to_op_status(pgtable_status s);
op_status to_op_status(smmu_status s);
op_status to_op_status(tag_error e);
op_status to_op_status(invs_error e);

/// command_sink over the SMMUs' command queues: `smmu->owner` must be the
/// SMMU's cmdq. Holds one cmdq_batch at a time, as the walker finishes one SMMU
/// with a CMD_SYNC before it moves to the next; a command for another SMMU while
/// the batch holds commands first submits them with a CMD_SYNC
/// (linux-invs.md §4.8 rule 1). Live on the caller's stack, like Linux's batch.
class cmdq_sink final : public command_sink {
public:
    cmdq_sink() = default;
    /// Submits (with a CMD_SYNC) anything still held.
    ~cmdq_sink() override;
    cmdq_sink(const cmdq_sink&) = delete;
    cmdq_sink& operator=(const cmdq_sink&) = delete;

    /// Appends to the SMMU's batch (a full batch of 64 is published without a SYNC).
    bool add(smmu_ref smmu, const arch::command& cmd) override;
    /// Publishes the SMMU's batch plus a CMD_SYNC and waits (a lone SYNC when empty).
    bool sync(smmu_ref smmu) override;

    /// The first failure seen (ok if none); bad_input for an SMMU without a queue.
    smmu_status status() const { return m_status; }

private:
    static cmdq* queue_of(smmu_ref smmu);
    bool note(smmu_status st);
    bool submit();
    bool switch_to(smmu_ref smmu, cmdq& q);

    smmu_ref m_smmu = nullptr;
    std::optional<cmdq_batch> m_batch;
    smmu_status m_status = smmu_status::ok;
};

enum class domain_kind : std::uint8_t {
    paging_s1,      ///< stage 1, ASID tag, CD
    paging_s2,      ///< stage 2, VMID tag, STE
    nesting_parent, ///< stage 2 whose VMID also tags guest stage-1 entries
    sva,            ///< a process's stage-1 tables, bound at a PASID
};

const char* to_string(domain_kind k);

/// Stage 1 for paging_s1 and sva, stage 2 otherwise.
constexpr arch::stage stage_of(domain_kind k) {
    return k == domain_kind::paging_s1 || k == domain_kind::sva ? arch::stage::one
                                                                : arch::stage::two;
}

struct domain_config {
    domain_kind kind = domain_kind::paging_s1;
    arch::granule granule = arch::granule::size_4k;
    unsigned ias = 48; ///< VA bits (stage 1) or IPA bits (stage 2)
    unsigned oas = 48;
    bool coherent_walk = true; ///< IDR0.COHACC
    fault_injection faults{};
    /// A guest's domain: its invalidations go through this vSMMU (vsmmu_sink)
    /// instead of the command queues its invs entries name.
    vsmmu_port* guest_of = nullptr;
};

/// Outcome of map / unmap on a domain. `inv` counts the walker's work
/// (commands handed to the sink and CMD_SYNCs), including walk flushes.
struct domain_io_result {
    op_status status = op_status::ok;
    std::uint64_t bytes = 0; ///< bytes mapped / unmapped, also on error
    inv_range_status inv;
    bool ok() const { return status == op_status::ok; }
};

/// One (master, SSID) using the domain: Linux's master_domain link.
struct domain_attachment {
    const void* master = nullptr;
    std::uint32_t ssid = 0;
};

class domain;

struct domain_create_result {
    std::unique_ptr<domain> dom; ///< null on error
    op_status status = op_status::ok;
};

class domain final : private io_pgtable_flush_ops {
public:
    /// Allocates the page table and the empty invalidation array (§1: never
    /// null). `pgtable_lock`, if given, serialises map/unmap on the table (the
    /// walker's final invalidation runs outside it). `platform` and `locks`
    /// must outlive the domain.
    static domain_create_result create(const domain_config& cfg, platform_ops& platform,
                                       rw_lock_factory& locks,
                                       std::unique_ptr<lock_ops> pgtable_lock = nullptr);
    ~domain() override;
    domain(const domain&) = delete;
    domain& operator=(const domain&) = delete;

    domain_kind kind() const { return m_cfg.kind; }
    const domain_config& config() const { return m_cfg; }
    /// Paging S2 or nesting parent (tag = VMID); else the tag is an ASID.
    bool stage2() const { return stage_of(m_cfg.kind) == arch::stage::two; }
    bool nest_parent() const { return m_cfg.kind == domain_kind::nesting_parent; }
    bool is_sva() const { return m_cfg.kind == domain_kind::sva; }

    /// `smmu_domain->invs`.
    invs_slot& invs() { return m_invs; }
    const invs_slot& invs() const { return m_invs; }
    /// What find/get_iotlb_tag need (§5.2): this domain tracks its own invalidations.
    tag_domain tag_view() const;

    io_pgtable& pgtable() { return *m_table; }
    const io_pgtable& pgtable() const { return *m_table; }
    /// log2 of the smallest page size (`__ffs(pgsize_bitmap)`, §3.5 step 2).
    unsigned pgsize_shift() const;

    /// Maps [iova, iova + size) to [pa, pa + size) (no invalidation, as Linux).
    domain_io_result map(std::uint64_t iova, arch::phys_addr pa, std::uint64_t size,
                         const iommu_prot& prot);
    /// Unmaps and invalidates. Paging domains: the unmap's gather feeds
    /// domain_inv_range as iotlb_sync does (whenever the gather cannot grow,
    /// and once at the end: gather range, gather pgsize, leaf). SVA: one
    /// mmu-notifier style invalidation of the range (page granule, non-leaf,
    /// §4.1).
    domain_io_result unmap(std::uint64_t iova, std::uint64_t size);
    /// arm_smmu_domain_inv: everything, through the array.
    inv_range_status flush_all();

    /// The masters using the domain (maintained by the attach path, under its lock).
    const std::vector<domain_attachment>& attachments() const { return m_attachments; }
    /// False when the link cannot be allocated.
    bool add_attachment(const void* master, std::uint32_t ssid);
    /// Removes one matching link; false if none.
    bool remove_attachment(const void* master, std::uint32_t ssid);

private:
    domain(const domain_config& cfg, platform_ops& platform, std::unique_ptr<lock_ops> lock);

    void flush_walk(std::uint64_t iova, std::uint64_t size, std::uint64_t granule) override;
    void sync(const iotlb_gather& gather) override;
    inv_range_status invalidate(inv_range_args args);
    void lock_table();
    void unlock_table();

    domain_config m_cfg;
    platform_ops& m_platform;
    std::unique_ptr<lock_ops> m_table_lock;
    std::unique_ptr<io_pgtable> m_table;
    invs_slot m_invs;
    /// Invalidations issued from inside the page-table code (under the table lock).
    inv_range_status m_inner;
    std::vector<domain_attachment> m_attachments;
};

/// Adds `b`'s counts to `a` (ok only if both were).
void accumulate(inv_range_status& a, const inv_range_status& b);

} // namespace smmu::driver
