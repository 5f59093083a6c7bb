// VMSAv8-64 translation-table descriptors and granule geometry: bit layouts of
// table/block/page descriptors for both stages, lookup-level arithmetic, the
// stage-1 start level from TxSZ and the stage-2 start level (SL0) with
// concatenated initial tables (smmuv3-reference.md §8.1-§8.4, DDI0487 D8).
//
// Descriptors are 64-bit words read little-endian (the memory model assembles
// the word); big-endian tables (CD.ENDI / STE.S2ENDI = 1) are not supported.
//
// Levels are signed: level -1 exists only with the 4 KB granule and DS = 1
// (52-bit input addresses), so every level is in [min_level, max_level].
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "model/arch/bits.h"
#include "model/arch/types.h"

namespace smmu::arch {

constexpr int min_level = -1;
constexpr int max_level = 3;
constexpr std::size_t level_count = 5;

/// Index of `level` in a per-level array of level_count entries.
constexpr std::size_t level_index(int level) {
    return static_cast<std::size_t>(level + 1);
}

/// Input-address bits resolved by one lookup level (s = log2(granule) - 3).
constexpr unsigned bits_per_level(granule g) {
    return granule_shift(g) - 3;
}

/// log2 of the input span mapped by one descriptor at `level`
/// (= block size at that level; the granule itself at level 3).
constexpr unsigned level_shift(granule g, int level) {
    return granule_shift(g) + static_cast<unsigned>(max_level - level) * bits_per_level(g);
}

/// Bit positions of VMSAv8-64 descriptors (reference §8.4).
namespace tt_desc {
// Common to every descriptor.
constexpr field valid = bit(0);
constexpr field type = bit(1); ///< levels 0-2: 1 table / 0 block; level 3: 1 page / 0 reserved

// Table descriptors, stage 1 only (RES0 at stage 2).
constexpr field pxn_table = bit(59);
constexpr field uxn_table = bit(60); ///< XNTable in single-EL regimes
constexpr field ap_table = field{62, 61};
constexpr field ns_table = bit(63);
/// All hierarchical attribute bits of a stage-1 table descriptor.
constexpr std::uint64_t table_attr_mask = bit_mask(63, 59);

// Block and page descriptors, both stages.
constexpr field sh = field{9, 8}; ///< absent with DS (holds OA[51:50])
constexpr field af = bit(10);
constexpr field dbm = bit(51);
constexpr field contiguous = bit(52);

// Block and page descriptors, stage 1.
constexpr field attr_indx = field{4, 2};
constexpr field ns = bit(5);
constexpr field ap = field{7, 6}; ///< AP[2:1]: bit 7 = AP[2] read-only, bit 6 = AP[1] EL0 access
constexpr field ap_ro = bit(7);
constexpr field ap_el0 = bit(6);
constexpr field ng = bit(11);
constexpr field gp = bit(50);
constexpr field pxn = bit(53);
constexpr field uxn = bit(54); ///< XN in single-EL regimes

// Block and page descriptors, stage 2.
constexpr field mem_attr = field{5, 2};
constexpr field s2ap = field{7, 6}; ///< S2AP[1:0]: bit 7 write, bit 6 read
constexpr field s2ap_read = bit(6);
constexpr field s2ap_write = bit(7);
constexpr field s2_xn = field{54, 53}; ///< XN[1:0] with FEAT_XNX; only bit 54 without

// Output / next-level table address pieces beyond bit 47.
constexpr field lpa_oa_51_48 = field{15, 12}; ///< 64 KB granule: OA[51:48]
constexpr field ds_oa_51_50 = field{9, 8};    ///< 4/16 KB granule with DS: OA[51:50]
constexpr field ds_oa_49_48 = field{49, 48};  ///< 4/16 KB granule with DS: OA[49:48]
} // namespace tt_desc

enum class descriptor_type : std::uint8_t { invalid, table, block, page };

/// Decodes bits [1:0] at `level`. Blocks where the granule does not allow them
/// (`block_ok` false) and the reserved level-3 encoding decode as invalid
/// (Translation fault, DDI0487 Table D8-48).
constexpr descriptor_type decode_type(std::uint64_t desc, int level, bool block_ok) {
    if (!tt_desc::valid.get(desc))
        return descriptor_type::invalid;
    const bool type_bit = tt_desc::type.get(desc) != 0;
    if (level == max_level)
        return type_bit ? descriptor_type::page : descriptor_type::invalid;
    if (type_bit)
        return descriptor_type::table;
    return block_ok ? descriptor_type::block : descriptor_type::invalid;
}

/// True when a block descriptor is legal at `level`: 4K L1/L2 (L0 with DS),
/// 16K L2 (L1 with DS), 64K L2 (L1 when the implemented PA size is 52 bits).
constexpr bool block_allowed(granule g, int level, bool ds, bool pa_max_52) {
    switch (g) {
    case granule::size_4k:
        return level == 1 || level == 2 || (level == 0 && ds);
    case granule::size_16k:
        return level == 2 || (level == 1 && ds);
    case granule::size_64k:
        return level == 2 || (level == 1 && pa_max_52);
    }
    return false;
}

/// log2 of the number of entries a Contiguous run spans at `level`, or 0 when
/// the hint has no defined span there (and is ignored): 4K 16 at L1-L3; 16K 32
/// at L2, 128 at L3; 64K 32 at L2/L3.
constexpr unsigned contiguous_log2_entries(granule g, int level) {
    switch (g) {
    case granule::size_4k:
        return level >= 1 && level <= 3 ? 4u : 0u;
    case granule::size_16k:
        return level == 2 ? 5u : level == 3 ? 7u : 0u;
    case granule::size_64k:
        return level == 2 || level == 3 ? 5u : 0u;
    }
    return 0;
}

/// How a descriptor holds address bits above 47.
enum class oa_format : std::uint8_t {
    bits48,  ///< 4/16 KB without DS: address [47:n] only
    lpa_64k, ///< 64 KB granule: OA[51:48] in bits [15:12]
    lpa2_ds, ///< 4/16 KB with DS: OA[49:48] in place, OA[51:50] in bits [9:8]
};

constexpr oa_format select_oa_format(granule g, bool ds) {
    if (g == granule::size_64k)
        return oa_format::lpa_64k;
    return ds ? oa_format::lpa2_ds : oa_format::bits48;
}

/// Widest output address a format can express.
constexpr unsigned oa_format_bits(oa_format f) {
    return f == oa_format::bits48 ? 48u : 52u;
}

/// Address held in a descriptor whose address field starts at bit `lo`
/// (the granule shift for tables and pages, the level shift for blocks).
constexpr phys_addr descriptor_address(std::uint64_t desc, unsigned lo, oa_format f) {
    switch (f) {
    case oa_format::bits48:
        return desc & bit_mask(47, lo);
    case oa_format::lpa_64k:
        return (desc & bit_mask(47, lo)) | (tt_desc::lpa_oa_51_48.get(desc) << 48);
    case oa_format::lpa2_ds:
        return (desc & bit_mask(49, lo)) | (tt_desc::ds_oa_51_50.get(desc) << 50);
    }
    return 0;
}

/// Inverse of descriptor_address(): the descriptor bits holding `pa` (bits of
/// `pa` below `lo` or above the format's width are dropped).
constexpr std::uint64_t encode_descriptor_address(phys_addr pa, unsigned lo, oa_format f) {
    switch (f) {
    case oa_format::bits48:
        return pa & bit_mask(47, lo);
    case oa_format::lpa_64k:
        return (pa & bit_mask(47, lo)) | tt_desc::lpa_oa_51_48.set(0, extract(pa, 51, 48));
    case oa_format::lpa2_ds:
        return (pa & bit_mask(49, lo)) | tt_desc::ds_oa_51_50.set(0, extract(pa, 51, 50));
    }
    return 0;
}

/// Smallest and largest TxSZ the descriptor geometry can walk (IA 52..16 bits;
/// 52-bit IA needs 64K or DS). Feature limits (IDR5.VAX, IDR3.STT, the 39
/// ceiling without STT) are the CD/STE validators' business.
constexpr unsigned min_tsz(granule g, bool ds) {
    return g == granule::size_64k || ds ? 12u : 16u;
}
constexpr unsigned max_tsz(granule g) {
    return g == granule::size_64k ? 47u : 48u;
}

/// Stage-1 start level for TxSZ (reference §8.2): levels = ceil((IA - g) / s),
/// start = 4 - levels. std::nullopt when TxSZ is outside [min_tsz, max_tsz].
std::optional<int> stage1_start_level(granule g, unsigned tsz, bool ds);

/// Where a stage-2 walk starts.
struct stage2_start {
    int level = 0;
    unsigned tables = 1; ///< concatenated initial tables: 1, 2, 4, 8 or 16
};

/// Stage-2 start level from SL0 (and SL2 when DS) and the number of
/// concatenated initial tables for S2T0SZ (reference §8.3, DDI0487 D8.2.2).
/// std::nullopt when the SL0 encoding is reserved for the granule (4K SL0=11
/// without STT, 16K SL0=11 without DS, 64K SL0=11, 4K SL2=1 with SL0!=00), when
/// T0SZ is outside [min_tsz, 39] (max_tsz with STT), or when the IPA size cannot
/// be resolved from that level with at most 16 concatenated tables (the
/// inconsistent SL0/T0SZ case: C_BAD_STE on the SMMU). sl2 only counts with DS
/// and the 4K granule.
std::optional<stage2_start> stage2_start_level(granule g, unsigned sl0, unsigned t0sz, bool ds,
                                               bool sl2, bool stt);

} // namespace smmu::arch
