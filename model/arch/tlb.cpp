#include "model/arch/tlb.h"

#include "model/arch/bits.h"

namespace smmu::arch {
namespace {

// Packed tag: [1:0] regime, [3:2] kind, [4] VMID present, [20:5] VMID,
// [36:21] ASID, [37] global.
constexpr unsigned asid_shift = 21;
constexpr std::uint64_t asid_mask = std::uint64_t{0xffff} << asid_shift;
constexpr std::uint64_t global_bit = std::uint64_t{1} << 37;

constexpr std::uint8_t regime_bit(tlb_regime r) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r));
}
constexpr std::uint8_t kind_bit(tlb_kind k) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
}
constexpr std::uint8_t el1_regime = regime_bit(tlb_regime::ns_el1);
constexpr std::uint8_t el2_regimes = regime_bit(tlb_regime::el2) | regime_bit(tlb_regime::el2_e2h);
constexpr std::uint8_t all_regimes = el1_regime | el2_regimes;
constexpr std::uint8_t stage1_kinds = kind_bit(tlb_kind::stage1) | kind_bit(tlb_kind::nested);
constexpr std::uint8_t all_kinds = stage1_kinds | kind_bit(tlb_kind::stage2);

/// Drops the tag parts a regime/kind does not have (header comment, "Tags").
tlb_context normalized(tlb_context ctx) {
    if (ctx.regime != tlb_regime::ns_el1)
        ctx.vmid.reset();
    if (ctx.kind == tlb_kind::stage2 || ctx.regime == tlb_regime::el2)
        ctx.asid = 0;
    return ctx;
}

std::uint64_t pack(const tlb_context& ctx) {
    std::uint64_t key = static_cast<std::uint64_t>(ctx.regime) |
                        static_cast<std::uint64_t>(ctx.kind) << 2 |
                        std::uint64_t{ctx.asid} << asid_shift;
    if (ctx.vmid)
        key |= std::uint64_t{1} << 4 | std::uint64_t{*ctx.vmid} << 5;
    return key;
}

} // namespace

struct iotlb::tlbi_filter {
    enum class asid_match : std::uint8_t { any, non_global, asid_or_global };

    std::uint8_t regimes = 0;
    std::uint8_t kinds = 0;
    std::optional<vmid_t> vmid; ///< empty: any VMID
    asid_match asid_mode = asid_match::any;
    asid_t asid = 0;
    const tlb_inv_scope* scope = nullptr; ///< null: no address restriction
    bool on_ipa = false; ///< compare the range with the IPA (nested entries), ignore TTL

    bool matches(const tlb_entry& e) const {
        if ((regimes & regime_bit(e.ctx.regime)) == 0 || (kinds & kind_bit(e.ctx.kind)) == 0)
            return false;
        if (vmid && e.ctx.vmid && *e.ctx.vmid != *vmid)
            return false;
        if (asid_mode == asid_match::non_global && (e.global || e.ctx.asid != asid))
            return false;
        if (asid_mode == asid_match::asid_or_global && !e.global && e.ctx.asid != asid)
            return false;
        if (scope == nullptr)
            return true;
        const std::uint64_t first = on_ipa ? e.ipa : e.input;
        if (!scope->range.overlaps(first, first + (e.size() - 1)))
            return false;
        return on_ipa || scope->ttl == 0 || e.level == scope->ttl;
    }
};

iotlb::iotlb(const cache_geometry& geo, iotlb_options opts)
    : m_store(geo)
    , m_opts(opts) {}

inline std::size_t iotlb::set_for(std::uint64_t base, unsigned size_log2) const {
    const std::uint64_t page = base >> size_log2;
    // Consecutive pages of one size land in consecutive sets; the size term
    // staggers sizes so the first page of each does not share set 0.
    return m_store.set_of(page ^ (page >> 20) ^ (std::uint64_t{size_log2} << 7));
}

iotlb::query iotlb::query_for(const tlb_context& ctx) {
    const std::uint64_t own = pack(normalized(ctx));
    return {own, (own & ~asid_mask) | global_bit};
}

const tlb_entry* iotlb::lookup(const tlb_context& ctx, std::uint64_t addr) {
    return lookup(query_for(ctx), addr);
}

const tlb_entry* iotlb::lookup(const query& keys, std::uint64_t addr) {
    ++m_stats.lookups;
    for (std::uint64_t sizes = m_sizes.mask(); sizes != 0; sizes &= sizes - 1) {
        const unsigned s = size_tracker::lowest(sizes);
        const std::uint64_t base = align_down(addr, s);
        const stored* hit = m_store.find(set_for(base, s), [&](const stored& st) {
            return st.entry.input == base && st.entry.size_log2 == s &&
                   (st.key == keys.own || st.key == keys.global);
        });
        if (hit != nullptr) {
            ++m_stats.hits;
            return &hit->entry;
        }
    }
    ++m_stats.misses;
    return nullptr;
}

const tlb_entry* iotlb::peek(const tlb_context& ctx, std::uint64_t addr) const {
    return peek(query_for(ctx), addr);
}

const tlb_entry* iotlb::peek(const query& keys, std::uint64_t addr) const {
    hit_ref where;
    return peek(keys, addr, where);
}

const tlb_entry* iotlb::peek(const query& keys, std::uint64_t addr, hit_ref& where) const {
    for (std::uint64_t sizes = m_sizes.mask(); sizes != 0; sizes &= sizes - 1) {
        const unsigned s = size_tracker::lowest(sizes);
        const std::uint64_t base = align_down(addr, s);
        where.set = set_for(base, s);
        const stored* hit = m_store.peek(
            where.set,
            [&](const stored& st) {
                return st.entry.input == base && st.entry.size_log2 == s &&
                       (st.key == keys.own || st.key == keys.global);
            },
            where.way);
        if (hit != nullptr)
            return &hit->entry;
    }
    return nullptr;
}

bool iotlb::insert(const tlb_entry& in) {
    if (in.size_log2 < min_size_log2 || in.size_log2 > max_size_log2)
        return false;
    stored st;
    st.entry = in;
    st.entry.ctx = normalized(in.ctx);
    if (in.ctx.regime == tlb_regime::el2)
        st.entry.global = true;
    else if (in.ctx.kind == tlb_kind::stage2)
        st.entry.global = false;
    if (st.entry.global)
        st.entry.ctx.asid = 0;
    const std::uint64_t offset = in.input & (in.size() - 1);
    st.entry.input -= offset;
    st.entry.output -= offset;
    st.entry.ipa = in.ctx.kind == tlb_kind::nested ? in.ipa - offset : 0;
    st.key = pack(st.entry.ctx) | (st.entry.global ? global_bit : 0);

    const unsigned s = in.size_log2;
    auto slot = m_store.allocate(set_for(st.entry.input, s), [&](const stored& old) {
        return old.key == st.key && old.entry.input == st.entry.input && old.entry.size_log2 == s;
    });
    using fill = set_assoc<stored>::fill;
    if (slot.how == fill::evicted) {
        forget(*slot.entry);
        ++m_stats.evictions;
    }
    if (slot.how != fill::same_tag) {
        m_sizes.add(s);
        if (st.entry.ctx.kind == tlb_kind::nested)
            ++m_nested;
    }
    *slot.entry = st;
    ++m_stats.inserts;
    return true;
}

void iotlb::forget(const stored& st) {
    m_sizes.remove(st.entry.size_log2);
    if (st.entry.ctx.kind == tlb_kind::nested)
        --m_nested;
}

std::size_t iotlb::remove(const tlbi_filter& f) {
    std::size_t removed = 0;
    if (f.scope != nullptr && f.scope->range.empty())
        removed = 0;
    else if (f.scope != nullptr && !f.on_ipa)
        removed = remove_probing(f);
    else
        removed = m_store.remove_if([&](const stored& st) { return f.matches(st.entry); },
                                    [&](const stored& st) { forget(st); });
    m_stats.invalidated += removed;
    return removed;
}

std::size_t iotlb::remove_probing(const tlbi_filter& f) {
    const addr_range& range = f.scope->range;
    return remove_sized_range(
        m_store, m_sizes.mask(), range.start, range.last(),
        [&](std::uint64_t base, unsigned s) { return set_for(base, s); },
        [&](const stored& st) { return f.matches(st.entry); },
        [&](const stored& st) { forget(st); });
}

std::size_t iotlb::nh_all(std::optional<vmid_t> vmid) {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    return remove(f);
}

std::size_t iotlb::nh_asid(std::optional<vmid_t> vmid, asid_t asid) {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    f.asid_mode = tlbi_filter::asid_match::non_global;
    f.asid = asid;
    return remove(f);
}

std::size_t iotlb::nh_va(std::optional<vmid_t> vmid, asid_t asid, const tlb_inv_scope& scope) {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    f.asid_mode = tlbi_filter::asid_match::asid_or_global;
    f.asid = asid;
    f.scope = &scope;
    return remove(f);
}

std::size_t iotlb::nh_vaa(std::optional<vmid_t> vmid, const tlb_inv_scope& scope) {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    f.scope = &scope;
    return remove(f);
}

std::size_t iotlb::el2_all() {
    tlbi_filter f;
    f.regimes = el2_regimes;
    f.kinds = all_kinds;
    return remove(f);
}

std::size_t iotlb::el2_asid(asid_t asid) {
    tlbi_filter f;
    f.regimes = regime_bit(tlb_regime::el2_e2h);
    f.kinds = all_kinds;
    f.asid_mode = tlbi_filter::asid_match::non_global;
    f.asid = asid;
    return remove(f);
}

std::size_t iotlb::el2_va(std::optional<asid_t> asid, const tlb_inv_scope& scope) {
    tlbi_filter f;
    f.regimes = el2_regimes;
    f.kinds = all_kinds;
    if (asid) {
        f.asid_mode = tlbi_filter::asid_match::asid_or_global;
        f.asid = *asid;
    }
    f.scope = &scope;
    return remove(f);
}

std::size_t iotlb::el2_vaa(const tlb_inv_scope& scope) {
    tlbi_filter f;
    f.regimes = el2_regimes;
    f.kinds = all_kinds;
    f.scope = &scope;
    return remove(f);
}

std::size_t iotlb::s12_vmall(vmid_t vmid) {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = all_kinds;
    f.vmid = vmid;
    return remove(f);
}

std::size_t iotlb::s2_ipa(vmid_t vmid, const tlb_inv_scope& scope) {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = kind_bit(tlb_kind::stage2);
    f.vmid = vmid;
    f.scope = &scope;
    std::size_t removed = remove(f);
    if (m_opts.s2_ipa_hits_nested && m_nested != 0) {
        f.kinds = kind_bit(tlb_kind::nested);
        f.on_ipa = true;
        removed += remove(f);
    }
    return removed;
}

std::size_t iotlb::nsnh_all() {
    tlbi_filter f;
    f.regimes = el1_regime;
    f.kinds = all_kinds;
    return remove(f);
}

std::size_t iotlb::flush_all() {
    tlbi_filter f;
    f.regimes = all_regimes;
    f.kinds = all_kinds;
    return remove(f);
}

std::size_t iotlb::count_tagged(std::optional<asid_t> asid, std::optional<vmid_t> vmid) const {
    std::size_t n = 0;
    m_store.for_each([&](const stored& s) {
        const tlb_entry& e = s.entry;
        const bool asid_ok =
            !asid || (e.ctx.kind != tlb_kind::stage2 && !e.global && e.ctx.asid == *asid);
        const bool vmid_ok = !vmid || e.ctx.vmid == *vmid;
        n += asid_ok && vmid_ok ? 1 : 0;
    });
    return n;
}

} // namespace smmu::arch
