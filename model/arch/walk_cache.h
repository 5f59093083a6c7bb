// The SMMU's walk cache: cached table descriptors (next-level table
// addresses), per stage and level, so a walk can start below the root.
//
// An entry for a table descriptor at level L covers the input range its
// next-level table maps: 2^span bytes with span = (4 - L) * (g - 3) + 3 for a
// granule of 2^g (reference §8.1; e.g. 4 KB: L0 512 GB, L1 1 GB, L2 2 MB). It is
// indexed like the IOTLB (tlb.h): by the input bits above its span, probing
// once per span present. Within one context the span shrinks as the level
// deepens, so a lookup that tries spans smallest-first returns the deepest
// cached level.
//
// Tags: regime, kind (stage1: a stage-1-only walk whose table addresses are
// PAs; nested: the stage-1 walk of a nested translation, whose table
// addresses are IPAs still to be translated by stage 2; stage2: a stage-2
// walk over IPAs), VMID, ASID (not for stage 2 or EL2), and the granule. The
// next-table address is stored as the descriptor holds it: a nested stage-1
// entry keeps the IPA, and its stage-2 translation is an ordinary stage-2
// IOTLB entry, so TLBI_S2_IPA stays exact for both structures.
//
// Invalidation (IHI0070 §4.4, reference §5.3): leaf-only TLBIs (Leaf=1)
// leave the walk cache alone; non-leaf ones remove every entry whose span
// overlaps the range. TTL restricts leaf entries only, so it never spares a
// walk-cache entry. TLBI_NH_VA and TLBI_EL2_VA with an ASID remove
// overlapping entries of every ASID (of the VMID): table descriptors have no
// nG bit, and a global leaf may have been reached through another ASID's
// tables, so matching the ASID could leave a stale path to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "model/arch/set_assoc.h"
#include "model/arch/tlb.h"
#include "model/arch/types.h"

namespace smmu::arch {

struct walk_context {
    tlb_regime regime = tlb_regime::ns_el1;
    tlb_kind kind = tlb_kind::stage1;
    std::optional<vmid_t> vmid; ///< NS-EL1 only; empty when stage 2 is not implemented
    asid_t asid = 0;            ///< stage-1/nested walks in NS-EL1 and EL2-E2H
    granule gran = granule::size_4k;
};

struct walk_entry {
    walk_context ctx;
    std::int8_t level = 0;    ///< level of the cached table descriptor, -1..2
    std::uint64_t input = 0;  ///< input address; aligned down to the span on insert
    phys_addr next_table = 0; ///< next-level table address (an IPA for kind nested)
    std::uint32_t attrs = 0;  ///< opaque: accumulated APTable/XNTable/PXNTable etc.
};

/// log2 of the input range mapped by the table a level-`level` table
/// descriptor points to; 0 when level is outside -1..2 (no table descriptor).
unsigned walk_span_log2(granule gran, int level);

class walk_cache {
public:
    /// Throws std::invalid_argument on a bad geometry (configuration error).
    explicit walk_cache(const cache_geometry& geo);

    /// The deepest cached table descriptor on the walk of `addr`, or nullptr.
    /// The pointer stays valid until the next insert or invalidation.
    const walk_entry* lookup(const walk_context& ctx, std::uint64_t addr);
    /// As lookup() without statistics or replacement update.
    const walk_entry* peek(const walk_context& ctx, std::uint64_t addr) const;
    /// Returns false (and caches nothing) for a level outside -1..2.
    bool insert(const walk_entry& entry);

    // Invalidations, same arguments as the iotlb methods of the same names.
    std::size_t nh_all(std::optional<vmid_t> vmid);
    std::size_t nh_asid(std::optional<vmid_t> vmid, asid_t asid);
    std::size_t nh_va(std::optional<vmid_t> vmid, asid_t asid, const tlb_inv_scope& scope);
    std::size_t nh_vaa(std::optional<vmid_t> vmid, const tlb_inv_scope& scope);
    std::size_t el2_all();
    std::size_t el2_asid(asid_t asid);
    std::size_t el2_va(std::optional<asid_t> asid, const tlb_inv_scope& scope);
    std::size_t el2_vaa(const tlb_inv_scope& scope);
    std::size_t s12_vmall(vmid_t vmid);
    std::size_t s2_ipa(vmid_t vmid, const tlb_inv_scope& scope);
    std::size_t nsnh_all();
    std::size_t flush_all();

    const cache_stats& stats() const { return m_stats; }
    void reset_stats() { m_stats = {}; }
    std::size_t size() const { return m_store.size(); }
    std::size_t capacity() const { return m_store.capacity(); }

private:
    struct stored {
        walk_entry entry;
        std::uint64_t key = 0; ///< packed context
        std::uint8_t span_log2 = 0;
    };
    struct walk_filter; // defined in walk_cache.cpp

    std::size_t set_for(std::uint64_t base, unsigned span_log2) const;
    std::size_t remove(const walk_filter& f);

    set_assoc<stored> m_store;
    size_tracker m_spans;
    cache_stats m_stats;
};

} // namespace smmu::arch
