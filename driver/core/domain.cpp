#include "driver/core/domain.h"

#include <algorithm>
#include <new>
#include <utility>

#include "driver/core/vsmmu.h"

namespace smmu::driver {

const char* to_string(op_status s) {
    switch (s) {
    case op_status::ok:
        return "ok";
    case op_status::no_memory:
        return "no_memory";
    case op_status::tag_exhausted:
        return "tag_exhausted";
    case op_status::bad_input:
        return "bad_input";
    case op_status::unsupported:
        return "unsupported";
    case op_status::busy:
        return "busy";
    case op_status::not_ready:
        return "not_ready";
    case op_status::hw_error:
        return "hw_error";
    case op_status::misaligned:
        return "misaligned";
    case op_status::out_of_range:
        return "out_of_range";
    case op_status::already_mapped:
        return "already_mapped";
    case op_status::not_mapped:
        return "not_mapped";
    case op_status::no_access:
        return "no_access";
    case op_status::internal:
        return "internal";
    }
    return "unknown";
}

op_status to_op_status(pgtable_status s) {
    switch (s) {
    case pgtable_status::ok:
        return op_status::ok;
    case pgtable_status::bad_config:
        return op_status::unsupported;
    case pgtable_status::no_memory:
        return op_status::no_memory;
    case pgtable_status::no_access:
        return op_status::no_access;
    case pgtable_status::misaligned:
        return op_status::misaligned;
    case pgtable_status::out_of_range:
        return op_status::out_of_range;
    case pgtable_status::already_mapped:
        return op_status::already_mapped;
    case pgtable_status::not_mapped:
        return op_status::not_mapped;
    }
    return op_status::internal;
}

op_status to_op_status(smmu_status s) {
    switch (s) {
    case smmu_status::ok:
        return op_status::ok;
    case smmu_status::no_memory:
        return op_status::no_memory;
    case smmu_status::timeout:
        return op_status::hw_error;
    case smmu_status::unsupported:
        return op_status::unsupported;
    case smmu_status::bad_input:
        return op_status::bad_input;
    case smmu_status::not_ready:
        return op_status::not_ready;
    }
    return op_status::internal;
}

op_status to_op_status(tag_error e) {
    switch (e) {
    case tag_error::none:
        return op_status::ok;
    case tag_error::exhausted:
        return op_status::tag_exhausted;
    case tag_error::no_memory:
        return op_status::no_memory;
    case tag_error::sink_failed:
        return op_status::hw_error;
    case tag_error::bad_input:
    case tag_error::bad_vsmmu_vmid:
        return op_status::bad_input;
    case tag_error::not_found:
    case tag_error::no_domain:
    case tag_error::not_allocated:
        break;
    }
    return op_status::internal;
}

op_status to_op_status(invs_error e) {
    switch (e) {
    case invs_error::none:
        return op_status::ok;
    case invs_error::no_memory:
        return op_status::no_memory;
    case invs_error::bad_input:
        return op_status::bad_input;
    case invs_error::unsorted:
    case invs_error::overflow:
    case invs_error::inconsistent:
        break;
    }
    return op_status::internal;
}

const char* to_string(domain_kind k) {
    switch (k) {
    case domain_kind::paging_s1:
        return "paging_s1";
    case domain_kind::paging_s2:
        return "paging_s2";
    case domain_kind::nesting_parent:
        return "nesting_parent";
    case domain_kind::sva:
        return "sva";
    }
    return "unknown";
}

void accumulate(inv_range_status& a, const inv_range_status& b) {
    a.commands += b.commands;
    a.syncs += b.syncs;
    a.ok = a.ok && b.ok;
}

// ---- cmdq_sink -----------------------------------------------------------------------------

cmdq_sink::~cmdq_sink() {
    if (m_batch && !m_batch->empty())
        submit();
}

cmdq* cmdq_sink::queue_of(smmu_ref smmu) {
    return smmu == nullptr ? nullptr : static_cast<cmdq*>(smmu->owner);
}

bool cmdq_sink::note(smmu_status st) {
    if (st != smmu_status::ok && m_status == smmu_status::ok)
        m_status = st;
    return st == smmu_status::ok;
}

bool cmdq_sink::submit() {
    const smmu_status st = m_batch->sync();
    return note(st);
}

bool cmdq_sink::switch_to(smmu_ref smmu, cmdq& q) {
    if (m_batch && smmu == m_smmu)
        return true;
    // Another queue: what the batch holds is finished with a CMD_SYNC first.
    const bool ok = !m_batch || m_batch->empty() || submit();
    m_batch.emplace(q);
    m_smmu = smmu;
    return ok;
}

bool cmdq_sink::add(smmu_ref smmu, const arch::command& cmd) {
    cmdq* q = queue_of(smmu);
    if (q == nullptr)
        return note(smmu_status::bad_input);
    const bool switched = switch_to(smmu, *q);
    return note(m_batch->add(cmd)) && switched;
}

bool cmdq_sink::sync(smmu_ref smmu) {
    cmdq* q = queue_of(smmu);
    if (q == nullptr)
        return note(smmu_status::bad_input);
    const bool switched = switch_to(smmu, *q);
    return submit() && switched;
}

// ---- domain --------------------------------------------------------------------------------

domain::domain(const domain_config& cfg, platform_ops& platform, std::unique_ptr<lock_ops> lock)
    : m_cfg(cfg)
    , m_platform(platform)
    , m_table_lock(std::move(lock)) {}

domain::~domain() = default;

domain_create_result domain::create(const domain_config& cfg, platform_ops& platform,
                                    rw_lock_factory& locks,
                                    std::unique_ptr<lock_ops> pgtable_lock) {
    std::unique_ptr<domain> d;
    try {
        d.reset(new domain(cfg, platform, std::move(pgtable_lock)));
    } catch (const std::bad_alloc&) {
        return {nullptr, op_status::no_memory};
    }
    // A new domain starts with an empty array so invalidations never see null (§1).
    std::shared_ptr<inv_array> empty = inv_array::create(0, locks);
    if (!empty)
        return {nullptr, op_status::no_memory};
    d->m_invs.publish(std::move(empty));

    io_pgtable_cfg pc;
    pc.stage = stage_of(cfg.kind);
    pc.granule = cfg.granule;
    pc.ias = cfg.ias;
    pc.oas = cfg.oas;
    pc.coherent_walk = cfg.coherent_walk;
    io_pgtable_create_result t = io_pgtable::create(pc, platform, *d);
    if (!t.table)
        return {nullptr, to_op_status(t.status)};
    d->m_table = std::move(t.table);
    return {std::move(d), op_status::ok};
}

tag_domain domain::tag_view() const {
    tag_domain t;
    t.invs = &m_invs;
    t.stage2 = stage2();
    t.owner = this;
    return t;
}

unsigned domain::pgsize_shift() const {
    const std::uint64_t bitmap = m_table->pgsize_bitmap();
    unsigned shift = 0;
    while (shift < 63 && (bitmap & (std::uint64_t{1} << shift)) == 0)
        ++shift;
    return shift;
}

void domain::lock_table() {
    if (!m_table_lock)
        return;
    m_platform.charge(cpu_op::lock);
    m_table_lock->lock();
}

void domain::unlock_table() {
    if (m_table_lock)
        m_table_lock->unlock();
}

inv_range_status domain::invalidate(inv_range_args args) {
    args.sync_before_ats = !m_cfg.faults.atc_inv_before_sync;
    if (m_cfg.guest_of != nullptr) {
        vsmmu_sink sink(*m_cfg.guest_of);
        inv_range_status st = domain_inv_range(m_invs, args, sink, &m_platform);
        if (sink.error() != vsmmu_error::none)
            st.ok = false;
        return st;
    }
    cmdq_sink sink;
    inv_range_status st = domain_inv_range(m_invs, args, sink, &m_platform);
    if (sink.status() != smmu_status::ok)
        st.ok = false;
    return st;
}

void domain::flush_walk(std::uint64_t iova, std::uint64_t size, std::uint64_t granule) {
    // A table is about to be freed: walk caches too (leaf = false, §4.1).
    accumulate(m_inner, invalidate({iova, size, granule, false}));
}

void domain::sync(const iotlb_gather& gather) {
    accumulate(m_inner, invalidate({gather.start, gather.size(), gather.pgsize, true}));
}

domain_io_result domain::map(std::uint64_t iova, arch::phys_addr pa, std::uint64_t size,
                             const iommu_prot& prot) {
    domain_io_result r;
    lock_table();
    m_inner = {};
    const map_result m = m_table->map(iova, pa, size, prot);
    r.inv = m_inner;
    unlock_table();
    r.status = to_op_status(m.status);
    r.bytes = m.mapped;
    if (r.status == op_status::ok && !r.inv.ok)
        r.status = op_status::hw_error;
    return r;
}

domain_io_result domain::unmap(std::uint64_t iova, std::uint64_t size) {
    domain_io_result r;
    iotlb_gather gather;
    // SVA: the CPU's page-table code gathers nothing; the mm notifier then
    // invalidates the whole range once.
    gather.queued = is_sva();
    lock_table();
    m_inner = {};
    const unmap_result u = m_table->unmap(iova, size, gather);
    r.inv = m_inner;
    unlock_table();
    r.status = to_op_status(u.status);
    r.bytes = u.unmapped;

    if (m_cfg.faults.skip_unmap_invalidation) {
        // Injected fault: the old translations stay in the IOTLB and the ATCs.
    } else if (is_sva()) {
        if (u.unmapped != 0)
            accumulate(r.inv, invalidate({iova, u.unmapped, m_table->granule_bytes(), false}));
    } else if (!gather.empty()) {
        // iotlb_sync (§4.1): gathered range, leaf size, leaf only.
        accumulate(r.inv, invalidate({gather.start, gather.size(), gather.pgsize, true}));
    }
    if (r.status == op_status::ok && !r.inv.ok)
        r.status = op_status::hw_error;
    return r;
}

inv_range_status domain::flush_all() {
    return invalidate(inv_range_args{});
}

bool domain::add_attachment(const void* master, std::uint32_t ssid) {
    try {
        m_attachments.push_back({master, ssid});
    } catch (const std::bad_alloc&) {
        return false;
    }
    return true;
}

bool domain::remove_attachment(const void* master, std::uint32_t ssid) {
    const auto it =
        std::find_if(m_attachments.begin(), m_attachments.end(), [&](const domain_attachment& a) {
            return a.master == master && a.ssid == ssid;
        });
    if (it == m_attachments.end())
        return false;
    m_attachments.erase(it);
    return true;
}

} // namespace smmu::driver
