#include "model/arch/walk_cache.h"

#include "model/arch/bits.h"

namespace smmu::arch {
namespace {

// Packed tag: [1:0] regime, [3:2] kind, [4] VMID present, [20:5] VMID,
// [36:21] ASID, [44:37] granule shift.
std::uint64_t pack(walk_context ctx) {
    if (ctx.regime != tlb_regime::ns_el1)
        ctx.vmid.reset();
    if (ctx.kind == tlb_kind::stage2 || ctx.regime == tlb_regime::el2)
        ctx.asid = 0;
    std::uint64_t key = static_cast<std::uint64_t>(ctx.regime) |
                        static_cast<std::uint64_t>(ctx.kind) << 2 | std::uint64_t{ctx.asid} << 21 |
                        std::uint64_t{granule_shift(ctx.gran)} << 37;
    if (ctx.vmid)
        key |= std::uint64_t{1} << 4 | std::uint64_t{*ctx.vmid} << 5;
    return key;
}

constexpr std::uint8_t regime_bit(tlb_regime r) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r));
}
constexpr std::uint8_t kind_bit(tlb_kind k) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
}
constexpr std::uint8_t el1_regime = regime_bit(tlb_regime::ns_el1);
constexpr std::uint8_t el2_regimes = regime_bit(tlb_regime::el2) | regime_bit(tlb_regime::el2_e2h);
constexpr std::uint8_t stage1_kinds = kind_bit(tlb_kind::stage1) | kind_bit(tlb_kind::nested);
constexpr std::uint8_t all_kinds = stage1_kinds | kind_bit(tlb_kind::stage2);

} // namespace

unsigned walk_span_log2(granule gran, int level) {
    if (level < -1 || level > 2)
        return 0;
    const int bits_per_level = static_cast<int>(granule_shift(gran)) - 3;
    return static_cast<unsigned>((4 - level) * bits_per_level + 3);
}

struct walk_cache::walk_filter {
    std::uint8_t regimes = 0;
    std::uint8_t kinds = 0;
    std::optional<vmid_t> vmid; ///< empty: any VMID
    std::optional<asid_t> asid; ///< empty: any ASID
    const tlb_inv_scope* scope = nullptr;

    bool matches(const stored& st) const {
        const walk_context& ctx = st.entry.ctx;
        if ((regimes & regime_bit(ctx.regime)) == 0 || (kinds & kind_bit(ctx.kind)) == 0)
            return false;
        if (vmid && ctx.vmid && *ctx.vmid != *vmid)
            return false;
        if (asid && ctx.asid != *asid)
            return false;
        if (scope == nullptr)
            return true;
        const std::uint64_t span_bytes = std::uint64_t{1} << st.span_log2;
        return scope->range.overlaps(st.entry.input, st.entry.input + (span_bytes - 1));
    }
};

walk_cache::walk_cache(const cache_geometry& geo)
    : m_store(geo) {}

std::size_t walk_cache::set_for(std::uint64_t base, unsigned span_log2) const {
    const std::uint64_t index = base >> span_log2;
    return m_store.set_of(index ^ (index >> 20) ^ (std::uint64_t{span_log2} << 7));
}

const walk_entry* walk_cache::lookup(const walk_context& ctx, std::uint64_t addr) {
    ++m_stats.lookups;
    const std::uint64_t key = pack(ctx);
    for (std::uint64_t spans = m_spans.mask(); spans != 0; spans &= spans - 1) {
        const unsigned s = size_tracker::lowest(spans);
        const std::uint64_t base = align_down(addr, s);
        const stored* hit = m_store.find(set_for(base, s), [&](const stored& st) {
            return st.entry.input == base && st.span_log2 == s && st.key == key;
        });
        if (hit != nullptr) {
            ++m_stats.hits;
            return &hit->entry;
        }
    }
    ++m_stats.misses;
    return nullptr;
}

const walk_entry* walk_cache::peek(const walk_context& ctx, std::uint64_t addr) const {
    const std::uint64_t key = pack(ctx);
    for (std::uint64_t spans = m_spans.mask(); spans != 0; spans &= spans - 1) {
        const unsigned s = size_tracker::lowest(spans);
        const std::uint64_t base = align_down(addr, s);
        const stored* hit = m_store.peek(set_for(base, s), [&](const stored& st) {
            return st.entry.input == base && st.span_log2 == s && st.key == key;
        });
        if (hit != nullptr)
            return &hit->entry;
    }
    return nullptr;
}

bool walk_cache::insert(const walk_entry& in) {
    const unsigned s = walk_span_log2(in.ctx.gran, in.level);
    if (s == 0 || s > 63)
        return false;
    stored st;
    st.entry = in;
    st.entry.input = align_down(in.input, s);
    if (in.ctx.regime != tlb_regime::ns_el1)
        st.entry.ctx.vmid.reset();
    if (in.ctx.kind == tlb_kind::stage2 || in.ctx.regime == tlb_regime::el2)
        st.entry.ctx.asid = 0;
    st.key = pack(in.ctx);
    st.span_log2 = static_cast<std::uint8_t>(s);

    auto slot = m_store.allocate(set_for(st.entry.input, s), [&](const stored& old) {
        return old.key == st.key && old.entry.input == st.entry.input && old.span_log2 == s;
    });
    using fill = set_assoc<stored>::fill;
    if (slot.how == fill::evicted) {
        m_spans.remove(slot.entry->span_log2);
        ++m_stats.evictions;
    }
    if (slot.how != fill::same_tag)
        m_spans.add(s);
    *slot.entry = st;
    ++m_stats.inserts;
    return true;
}

std::size_t walk_cache::remove(const walk_filter& f) {
    const auto pred = [&](const stored& st) { return f.matches(st); };
    const auto on_remove = [&](const stored& st) { m_spans.remove(st.span_log2); };
    std::size_t removed = 0;
    if (f.scope == nullptr) {
        removed = m_store.remove_if(pred, on_remove);
    } else if (!f.scope->range.empty()) {
        removed = remove_sized_range(
            m_store, m_spans.mask(), f.scope->range.start, f.scope->range.last(),
            [&](std::uint64_t base, unsigned s) { return set_for(base, s); }, pred, on_remove);
    }
    m_stats.invalidated += removed;
    return removed;
}

std::size_t walk_cache::nh_all(std::optional<vmid_t> vmid) {
    walk_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    return remove(f);
}

std::size_t walk_cache::nh_asid(std::optional<vmid_t> vmid, asid_t asid) {
    walk_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    f.asid = asid;
    return remove(f);
}

// The ASID is deliberately not matched (header comment).
std::size_t walk_cache::nh_va(std::optional<vmid_t> vmid, asid_t /*asid*/,
                              const tlb_inv_scope& scope) {
    return nh_vaa(vmid, scope);
}

std::size_t walk_cache::nh_vaa(std::optional<vmid_t> vmid, const tlb_inv_scope& scope) {
    if (scope.leaf)
        return 0;
    walk_filter f;
    f.regimes = el1_regime;
    f.kinds = stage1_kinds;
    f.vmid = vmid;
    f.scope = &scope;
    return remove(f);
}

std::size_t walk_cache::el2_all() {
    walk_filter f;
    f.regimes = el2_regimes;
    f.kinds = all_kinds;
    return remove(f);
}

std::size_t walk_cache::el2_asid(asid_t asid) {
    walk_filter f;
    f.regimes = regime_bit(tlb_regime::el2_e2h);
    f.kinds = all_kinds;
    f.asid = asid;
    return remove(f);
}

// The ASID is deliberately not matched (header comment).
std::size_t walk_cache::el2_va(std::optional<asid_t> /*asid*/, const tlb_inv_scope& scope) {
    return el2_vaa(scope);
}

std::size_t walk_cache::el2_vaa(const tlb_inv_scope& scope) {
    if (scope.leaf)
        return 0;
    walk_filter f;
    f.regimes = el2_regimes;
    f.kinds = all_kinds;
    f.scope = &scope;
    return remove(f);
}

std::size_t walk_cache::s12_vmall(vmid_t vmid) {
    walk_filter f;
    f.regimes = el1_regime;
    f.kinds = all_kinds;
    f.vmid = vmid;
    return remove(f);
}

std::size_t walk_cache::s2_ipa(vmid_t vmid, const tlb_inv_scope& scope) {
    if (scope.leaf)
        return 0;
    walk_filter f;
    f.regimes = el1_regime;
    f.kinds = kind_bit(tlb_kind::stage2);
    f.vmid = vmid;
    f.scope = &scope;
    return remove(f);
}

std::size_t walk_cache::nsnh_all() {
    walk_filter f;
    f.regimes = el1_regime;
    f.kinds = all_kinds;
    return remove(f);
}

std::size_t walk_cache::flush_all() {
    walk_filter f;
    f.regimes = el1_regime | el2_regimes;
    f.kinds = all_kinds;
    return remove(f);
}

} // namespace smmu::arch
