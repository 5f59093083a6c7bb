#include "driver/core/invs.h"

#include <algorithm>
#include <functional>
#include <new>

namespace smmu::driver {

smmu_caps caps_from_features(const arch::feature_set& f, bool e2h, std::uint32_t index) {
    smmu_caps c;
    c.index = index;
    c.ril = f.ril;
    c.ats = f.ats;
    c.e2h = e2h;
    c.asid_bits = f.asid16 ? 16u : 8u;
    c.vmid_bits = f.vmid16 ? 16u : 8u;
    return c;
}

inv_opcodes opcodes_for(smmu_ref smmu, inv_type type) {
    using arch::opcode;
    switch (type) {
    case inv_type::s1_asid:
        if (smmu != nullptr && smmu->e2h)
            return {opcode::tlbi_el2_va, opcode::tlbi_el2_asid};
        return {opcode::tlbi_nh_va, opcode::tlbi_nh_asid};
    case inv_type::s2_vmid:
    case inv_type::s2_vmid_vsmmu:
        return {opcode::tlbi_s2_ipa, opcode::tlbi_s12_vmall};
    case inv_type::s2_vmid_s1_clear:
        return {opcode::tlbi_nh_all, opcode::tlbi_nh_all};
    case inv_type::ats:
    case inv_type::ats_full:
        break;
    }
    return {opcode::atc_inv, opcode::atc_inv};
}

inv make_inv(smmu_ref smmu, inv_type type, std::uint32_t id, std::uint32_t ssid,
             std::uint8_t pgsize) {
    inv e;
    e.smmu = smmu;
    e.type = type;
    const inv_opcodes ops = opcodes_for(smmu, type);
    e.size_opcode = ops.size_opcode;
    e.nsize_opcode = ops.nsize_opcode;
    e.id = id;
    e.ssid = is_ats(type) ? ssid : 0;
    e.pgsize = pgsize;
    e.users.store(0);
    return e;
}

namespace {

template <typename T>
int three_way(const T& a, const T& b) {
    return a < b ? -1 : (b < a ? 1 : 0);
}

} // namespace

int inv_cmp(const inv& l, const inv& r) {
    // Pointers of unrelated objects are ordered through std::less (a total order).
    if (l.smmu != r.smmu)
        return std::less<smmu_ref>{}(l.smmu, r.smmu) ? -1 : 1;
    if (const int c = three_way(l.type, r.type); c != 0)
        return c;
    if (const int c = three_way(l.id, r.id); c != 0)
        return c;
    if (is_ats(l.type))
        return three_way(l.ssid, r.ssid);
    return 0;
}

const char* invs_error_name(invs_error e) {
    switch (e) {
    case invs_error::none:
        return "none";
    case invs_error::no_memory:
        return "no_memory";
    case invs_error::unsorted:
        return "unsorted";
    case invs_error::overflow:
        return "overflow";
    case invs_error::bad_input:
        return "bad_input";
    case invs_error::inconsistent:
        return "inconsistent";
    }
    return "unknown";
}

// ---- inv_list ------------------------------------------------------------------------------

std::optional<inv_list> inv_list::create(std::size_t capacity) {
    inv_list l;
    l.m_items.reset(new (std::nothrow) inv[capacity]);
    if (!l.m_items)
        return std::nullopt;
    l.m_capacity = capacity;
    return l;
}

bool inv_list::push(const inv& e) {
    if (m_size >= m_capacity)
        return false;
    m_items[m_size++] = e;
    return true;
}

// ---- inv_array -----------------------------------------------------------------------------

inv_array::inv_array(std::size_t capacity, std::unique_ptr<inv[]> items,
                     std::unique_ptr<rw_lock_ops> lock, rw_lock_factory& factory)
    : m_capacity(capacity)
    , m_num_invs(capacity)
    , m_items(std::move(items))
    , m_lock(std::move(lock))
    , m_factory(&factory) {}

std::shared_ptr<inv_array> inv_array::create(std::size_t capacity, rw_lock_factory& locks) {
    std::unique_ptr<rw_lock_ops> lock = locks.make_rw_lock();
    if (!lock)
        return nullptr;
    std::unique_ptr<inv[]> items(new (std::nothrow) inv[capacity]);
    if (!items)
        return nullptr;
    inv_array* raw =
        new (std::nothrow) inv_array(capacity, std::move(items), std::move(lock), locks);
    if (raw == nullptr)
        return nullptr;
    try {
        return std::shared_ptr<inv_array>(raw); // deletes `raw` itself if it throws
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}

std::size_t inv_array::next_live(std::size_t from, std::size_t end) const {
    while (from < end && m_items[from].users.load() == 0)
        ++from;
    return from;
}

std::size_t inv_array::count_live() const {
    const std::size_t end = num_invs();
    std::size_t n = 0;
    for (std::size_t i = next_live(0, end); i < end; i = next_live(i + 1, end))
        ++n;
    return n;
}

// ---- merge / unref / purge -----------------------------------------------------------------

namespace {

/// The two-array lock-step walk of §3.1: `step(i, j, cmp)` once per step, where
/// cmp < 0 means only l[i], cmp > 0 only r[j], 0 both. Trash of `l` is skipped.
template <typename Step>
void for_each_cmp(const inv_array& l, const inv_list& r, Step&& step) {
    const std::size_t l_end = l.num_invs();
    const std::size_t r_end = r.size();
    std::size_t i = l.next_live(0, l_end);
    std::size_t j = 0;
    while (i < l_end || j < r_end) {
        int cmp = 0;
        if (i >= l_end)
            cmp = 1;
        else if (j >= r_end)
            cmp = -1;
        else
            cmp = inv_cmp(l[i], r[j]);
        step(i, j, cmp);
        if (cmp <= 0)
            i = l.next_live(i + 1, l_end);
        if (cmp >= 0)
            ++j;
    }
}

} // namespace

merge_result invs_merge(const inv_array& invs, const inv_list& to_merge) {
    std::size_t n = 0;
    for_each_cmp(invs, to_merge, [&n](std::size_t, std::size_t, int) { ++n; });

    std::shared_ptr<inv_array> out = inv_array::create(n, invs.lock_factory());
    if (!out)
        return {nullptr, invs_error::no_memory};

    std::size_t k = 0;
    bool sorted = true;
    for_each_cmp(invs, to_merge, [&](std::size_t i, std::size_t j, int cmp) {
        if (k >= n)
            return; // caught by the count check below
        inv& dst = out->m_items[k];
        if (cmp < 0) {
            dst = invs[i];
        } else if (cmp == 0) {
            dst = invs[i];
            dst.users.store(invs[i].users.load() + 1);
        } else {
            dst = to_merge[j];
            dst.users.store(1);
        }
        // Equal neighbours are fine (duplicate StreamIDs, §3.11); a decrease means
        // `to_merge` was not sorted.
        if (k > 0 && inv_cmp(out->m_items[k - 1], dst) > 0)
            sorted = false;
        if (is_ats(dst.type))
            out->m_has_ats = true;
        ++k;
    });
    if (!sorted)
        return {nullptr, invs_error::unsorted};
    if (k != n)
        return {nullptr, invs_error::inconsistent};
    return {std::move(out), invs_error::none};
}

std::size_t invs_unref(inv_array& invs, inv_list& to_unref, platform_ops* platform) {
    std::size_t last_live = 0;
    std::size_t unmatched = 0;
    for_each_cmp(invs, to_unref, [&](std::size_t i, std::size_t j, int cmp) {
        if (cmp < 0) {
            last_live = i + 1;
            return;
        }
        if (cmp > 0) {
            ++unmatched; // not present (or already trash)
            return;
        }
        const int users = invs.m_items[i].users.load() - 1;
        if (users < 0) {
            ++unmatched; // unreachable: the walk skips trash
            return;
        }
        invs.m_items[i].users.store(users);
        if (users > 0) {
            to_unref[j].users.store(1);
            last_live = i + 1;
        } else {
            to_unref[j].users.store(0);
            ++invs.m_num_trashes;
        }
    });

    // Every slot at or after last_live is trash, old or new: none of it stays counted.
    const std::size_t num = invs.num_invs();
    const std::size_t trailing = num - last_live;
    invs.m_num_trashes = trailing > invs.m_num_trashes ? 0 : invs.m_num_trashes - trailing;

    // The write lock is the ATS fence (§3.8): once held, no reader is still issuing
    // ATC invalidations from this array for the entries dropped above.
    if (platform != nullptr)
        platform->charge(cpu_op::lock);
    invs.m_lock->lock();
    invs.m_num_invs.store(last_live, std::memory_order_relaxed);
    invs.m_lock->unlock();
    return unmatched;
}

purge_result invs_purge(const inv_array& invs) {
    const std::size_t num = invs.num_invs();
    const std::size_t trash = invs.m_num_trashes;
    if (num < trash)
        return {nullptr, purge_status::inconsistent};
    if (num == 0 || trash == 0)
        return {nullptr, purge_status::nothing_to_do};

    const std::size_t n = num - trash;
    std::shared_ptr<inv_array> out = inv_array::create(n, invs.lock_factory());
    if (!out)
        return {nullptr, purge_status::no_memory};

    std::size_t k = 0;
    for (std::size_t i = invs.next_live(0, num); i < num; i = invs.next_live(i + 1, num)) {
        if (k == n)
            return {nullptr, purge_status::inconsistent};
        out->m_items[k] = invs[i];
        if (is_ats(invs[i].type))
            out->m_has_ats = true;
        ++k;
    }
    if (k != n)
        return {nullptr, purge_status::inconsistent};
    return {std::move(out), purge_status::purged};
}

// ---- invs_slot -----------------------------------------------------------------------------

invs_slot::invs_slot(std::shared_ptr<inv_array> initial)
    : m_ptr(std::move(initial)) {}

std::shared_ptr<inv_array> invs_slot::load() const {
    return std::atomic_load_explicit(&m_ptr, std::memory_order_acquire);
}

void invs_slot::publish(std::shared_ptr<inv_array> next) {
    std::atomic_store_explicit(&m_ptr, std::move(next), std::memory_order_release);
}

// ---- per-master build ----------------------------------------------------------------------

std::size_t build_list_capacity(bool ats_capable, std::size_t num_sids) {
    return ats_capable ? 2 + num_sids : 2;
}

namespace {

bool valid_page_shift(unsigned shift) {
    return shift == 12 || shift == 14 || shift == 16;
}

} // namespace

invs_error build_master_invs(inv_list& out, const build_spec& spec,
                             const std::vector<arch::stream_id>& sids) {
    out.clear();
    if (spec.smmu == nullptr || !is_tag_type(spec.tag_type))
        return invs_error::bad_input;
    if (spec.nesting && spec.tag_type == inv_type::s1_asid)
        return invs_error::bad_input;
    if (spec.smmu->ril && !valid_page_shift(spec.pgsize_shift))
        return invs_error::bad_input;
    if (!std::is_sorted(sids.begin(), sids.end()))
        return invs_error::unsorted;

    const auto overflow = [&out] {
        out.clear();
        return invs_error::overflow;
    };
    const auto pgsize = static_cast<std::uint8_t>(spec.smmu->ril ? spec.pgsize_shift : 0);
    if (!out.push(make_inv(spec.smmu, spec.tag_type, spec.tag_id, 0, pgsize)))
        return overflow();
    if (spec.nesting && !out.push(make_inv(spec.smmu, inv_type::s2_vmid_s1_clear, spec.tag_id)))
        return overflow();
    if (spec.ats_enabled) {
        const inv_type type = spec.nesting ? inv_type::ats_full : inv_type::ats;
        for (const arch::stream_id sid : sids) {
            if (!out.push(make_inv(spec.smmu, type, sid, spec.ssid)))
                return overflow();
        }
    }
    return invs_error::none;
}

} // namespace smmu::driver
