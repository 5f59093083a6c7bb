// The SMMU's IOTLB: a set-associative cache of leaf translations with the TLBI
// command semantics of IHI0070 §4.4 (reference §5.3, §5.4).
//
// Indexing. Entries of different sizes (4 KB pages up to multi-GB blocks and
// contiguous runs, reference §8.4) coexist. An entry of size 2^s is stored in
// the set chosen by the bits of its input address above s (its "page number at
// its own size"), so every address inside the entry names the same set once
// aligned down to 2^s. A size_tracker records which sizes are present; a lookup
// aligns the address down to each present size in turn and probes that one set
// (O(ways) per present size, typically one to three sizes). A range
// invalidation does the same for every 2^s-aligned base the range touches,
// falling back to a scan of the whole structure when that would probe more
// bases than there are sets. Context-only invalidations (by ASID, VMID, ...)
// scan the whole structure: they are rare next to lookups.
//
// Tags. An entry is tagged by regime (NS-EL1, EL2, EL2-E2H), kind (stage-1,
// stage-2, nested S1+S2), VMID (NS-EL1 only; absent when stage 2 is not
// implemented), ASID (stage-1 and nested in ASID-tagged regimes) or "global"
// (nG=0), and its 2^s-aligned input range. EL2 (non-E2H) has no ASIDs, so its
// entries are stored as global; stage-2 entries carry no ASID; EL2 entries
// carry no VMID. An entry without a VMID is hit by every VMID-scoped
// invalidation, which is what an SMMU without stage 2 does (VMID unchecked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "model/arch/set_assoc.h"
#include "model/arch/types.h"

namespace smmu::arch {

/// Translation regime of a cached entry (STE.STRW and CR2.E2H, reference §3.2).
enum class tlb_regime : std::uint8_t { ns_el1 = 0, el2 = 1, el2_e2h = 2 };

/// What a cached entry translates.
enum class tlb_kind : std::uint8_t {
    stage1 = 0, ///< stage-1 only: VA -> PA
    stage2 = 1, ///< stage-2 only: IPA -> PA (no ASID)
    nested = 2, ///< combined S1+S2: VA -> PA, tagged with ASID and VMID
};

/// A [start, end) byte range. end == 0 means "up to the top of the 64-bit
/// space" (what start + size gives when it wraps), so {0, 0} is everything.
struct addr_range {
    std::uint64_t start = 0;
    std::uint64_t end = 0;

    static constexpr addr_range all() { return {0, 0}; }
    /// [start, start + size); size 0 gives an empty range.
    static constexpr addr_range from_size(std::uint64_t start, std::uint64_t size) {
        return size == 0 ? addr_range{1, 1} : addr_range{start, start + size};
    }
    constexpr bool empty() const { return end != 0 && end <= start; }
    /// Last byte (inclusive); meaningful only when !empty().
    constexpr std::uint64_t last() const { return end - 1; }
    /// True when [first, last] (inclusive) intersects the range.
    constexpr bool overlaps(std::uint64_t first, std::uint64_t last_byte) const {
        return !empty() && first <= last() && start <= last_byte;
    }
};

/// The address part of a TLBI_*_VA/VAA/S2_IPA command, already decoded by the
/// caller from Addr/NUM/SCALE/TG (a non-range command is {addr, addr + 1}:
/// the low bits are ignored per entry size).
struct tlb_inv_scope {
    addr_range range;
    bool leaf = false;    ///< Leaf=1: walk-cache entries need not go (IOTLB: no effect)
    std::uint8_t ttl = 0; ///< 0: leaf entries at any level; 1..3: only that level's
};

/// The tag a lookup presents.
struct tlb_context {
    tlb_regime regime = tlb_regime::ns_el1;
    tlb_kind kind = tlb_kind::stage1;
    std::optional<vmid_t> vmid; ///< NS-EL1 only; empty when stage 2 is not implemented
    asid_t asid = 0;            ///< stage-1/nested in NS-EL1 and EL2-E2H
};

struct tlb_entry {
    tlb_context ctx;
    bool global = false;         ///< nG=0: matches every ASID (stage-1/nested)
    std::uint64_t input = 0;     ///< VA (IPA for stage-2); aligned down to the size on insert
    std::uint8_t size_log2 = 12; ///< page, block or contiguous-run size
    std::int8_t level = 3;       ///< level of the leaf descriptor (stage-1 level when nested)
    std::uint64_t ipa = 0;       ///< nested only: IPA of `input` (for TLBI_S2_IPA)
    phys_addr output = 0;        ///< PA of `input`
    std::uint32_t perms = 0;     ///< opaque: encoding owned by the translation code
    std::uint32_t attrs = 0;     ///< opaque: encoding owned by the translation code

    std::uint64_t size() const { return std::uint64_t{1} << size_log2; }
    bool contains(std::uint64_t addr) const { return addr - input <= size() - 1; }
    /// Output address of `addr`, which must lie inside the entry.
    phys_addr translate(std::uint64_t addr) const { return output + (addr - input); }
};

struct iotlb_options {
    /// TLBI_S2_IPA need not hit combined S1+S2 entries (IHI0070 §4.4,
    /// reference §5.3). true (default): it removes nested entries whose IPA
    /// range overlaps, whatever their level (the conservative choice: no stale
    /// nested entry survives a stage-2 change even if software skips the
    /// follow-up TLBI_NH_*). false: nested entries are left alone, as the
    /// minimum the architecture requires.
    bool s2_ipa_hits_nested = true;
};

class iotlb {
public:
    static constexpr unsigned min_size_log2 = 12;
    static constexpr unsigned max_size_log2 = 63;

    /// Throws std::invalid_argument on a bad geometry (configuration error).
    explicit iotlb(const cache_geometry& geo, iotlb_options opts = {});

    /// The stored tags a lookup in a context may hit (its own ASID, or global), for
    /// callers that look up many addresses in one context.
    struct query {
        std::uint64_t own = 0;
        std::uint64_t global = 0;
    };
    static query query_for(const tlb_context& ctx);

    /// The entry translating `addr` in `ctx`, or nullptr. The pointer stays
    /// valid until the next insert or invalidation.
    const tlb_entry* lookup(const tlb_context& ctx, std::uint64_t addr);
    const tlb_entry* lookup(const query& q, std::uint64_t addr);
    /// As lookup() without statistics or replacement update.
    const tlb_entry* peek(const tlb_context& ctx, std::uint64_t addr) const;
    const tlb_entry* peek(const query& q, std::uint64_t addr) const;

    /// Where a peek() hit. Until the next insert or invalidation, count_hit() turns that
    /// peek into the lookup() it stands for: the same statistics and replacement update.
    struct hit_ref {
        std::size_t set = 0;
        std::size_t way = 0;
    };
    const tlb_entry* peek(const query& q, std::uint64_t addr, hit_ref& where) const;
    void count_hit(const hit_ref& where) {
        ++m_stats.lookups;
        ++m_stats.hits;
        m_store.touch(where.set, where.way);
    }
    /// Caches a translation. `input` may be any address inside the entry:
    /// input, output and ipa are aligned down together. Returns false (and
    /// caches nothing) when size_log2 is outside [12, 63].
    bool insert(const tlb_entry& entry);

    // Invalidations (IHI0070 §4.4; reference §5.3). Each returns the number of
    // entries removed. A std::nullopt VMID matches every VMID (use it when stage
    // 2 is not implemented: the command's VMID is then unchecked).
    std::size_t nh_all(std::optional<vmid_t> vmid);
    std::size_t nh_asid(std::optional<vmid_t> vmid, asid_t asid);
    std::size_t nh_va(std::optional<vmid_t> vmid, asid_t asid, const tlb_inv_scope& scope);
    std::size_t nh_vaa(std::optional<vmid_t> vmid, const tlb_inv_scope& scope);
    std::size_t el2_all();
    std::size_t el2_asid(asid_t asid);
    /// asid: the command's ASID when CR2.E2H=1, std::nullopt when E2H=0.
    std::size_t el2_va(std::optional<asid_t> asid, const tlb_inv_scope& scope);
    std::size_t el2_vaa(const tlb_inv_scope& scope);
    std::size_t s12_vmall(vmid_t vmid);
    std::size_t s2_ipa(vmid_t vmid, const tlb_inv_scope& scope);
    std::size_t nsnh_all();
    std::size_t flush_all();

    /// Entries carrying a tag (a query for checkers and tests, no statistics): with `asid`,
    /// non-global stage-1 / nested entries of that ASID; with `vmid`, entries of that VMID;
    /// with both, entries matching both.
    std::size_t count_tagged(std::optional<asid_t> asid, std::optional<vmid_t> vmid) const;

    const cache_stats& stats() const { return m_stats; }
    void reset_stats() { m_stats = {}; }
    std::size_t size() const { return m_store.size(); }
    std::size_t capacity() const { return m_store.capacity(); }
    /// Bit n set: an entry of size 2^n is cached.
    std::uint64_t sizes_present() const { return m_sizes.mask(); }

private:
    struct stored {
        tlb_entry entry;
        std::uint64_t key = 0; ///< packed context + global flag
    };
    struct tlbi_filter; // defined in tlb.cpp

    std::size_t set_for(std::uint64_t base, unsigned size_log2) const;
    std::size_t remove(const tlbi_filter& f);
    std::size_t remove_probing(const tlbi_filter& f);
    void forget(const stored& s);

    set_assoc<stored> m_store;
    size_tracker m_sizes;
    std::size_t m_nested = 0;
    iotlb_options m_opts;
    cache_stats m_stats;
};

} // namespace smmu::arch
