#include "model/arch/stream_table.h"

#include <algorithm>

#include "model/arch/bits.h"

namespace smmu::arch {

namespace {

constexpr field k_l1std_span{4, 0};
constexpr std::uint64_t k_l1std_l2ptr_mask = bit_mask(51, 6);
constexpr unsigned k_l1std_max_span = 11;

constexpr field k_l1cd_v = bit(0);
constexpr std::uint64_t k_l1cd_l2ptr_mask = bit_mask(51, 12);

constexpr std::uint64_t k_table_base_mask = bit_mask(51, 6);
constexpr unsigned k_ste_shift = 6; // 64-byte STEs
constexpr unsigned k_cd_shift = 6;  // 64-byte CDs
constexpr unsigned k_l1_shift = 3;  // 8-byte L1STD/L1CD
constexpr unsigned k_min_l1_align = 6;

/// True when `index` has no bits at or above `bits`.
constexpr bool fits_bits(std::uint64_t index, unsigned bits) {
    return bits >= 64 || (index >> bits) == 0;
}

/// Alignment (log2) of a level-1 table indexed by `index_bits` bits: its size,
/// at least 64 bytes. `index_bits` may be negative (a single used entry).
unsigned l1_table_align(int index_bits) {
    return static_cast<unsigned>(std::max(static_cast<int>(k_min_l1_align), index_bits + 3));
}

unsigned cd_leaf_bits(cd_table_format fmt) {
    return fmt == cd_table_format::two_level_64k ? 10u : 6u;
}

bool is_two_level(cd_table_format fmt) {
    return fmt == cd_table_format::two_level_4k || fmt == cd_table_format::two_level_64k;
}

} // namespace

std::uint64_t encode_l1std(const l1std& d) {
    return k_l1std_span.set(0, d.span) | (d.l2_ptr & k_l1std_l2ptr_mask);
}

l1std decode_l1std(std::uint64_t word) {
    l1std d;
    d.span = static_cast<std::uint8_t>(k_l1std_span.get(word));
    d.l2_ptr = word & k_l1std_l2ptr_mask;
    return d;
}

std::optional<unsigned> l1std_l2_log2_entries(const l1std& d, unsigned split) {
    if (d.span == 0 || d.span > k_l1std_max_span || d.span > effective_split(split) + 1)
        return std::nullopt;
    return d.span - 1u;
}

std::uint64_t encode_l1cd(const l1cd& d) {
    return k_l1cd_v.set(0, d.v ? 1u : 0u) | (d.l2_ptr & k_l1cd_l2ptr_mask);
}

l1cd decode_l1cd(std::uint64_t word) {
    l1cd d;
    d.v = k_l1cd_v.get(word) != 0;
    d.l2_ptr = word & k_l1cd_l2ptr_mask;
    return d;
}

unsigned effective_split(unsigned split) {
    return (split == 8 || split == 10) ? split : 6u;
}

ste_lookup locate_ste(const stream_table_config& cfg, stream_id sid) {
    ste_lookup out;
    // The range check uses min(LOG2SIZE, SIDSIZE); the base alignment uses
    // the literal LOG2SIZE (SMMU_STRTAB_BASE.ADDR).
    const unsigned log2size = std::min(cfg.log2size, cfg.sid_bits);
    if (!fits_bits(sid, log2size))
        return out;
    const phys_addr base = cfg.base & k_table_base_mask;
    if (cfg.fmt != 1) {
        out.status = ste_lookup_status::ste;
        out.address =
            align_down(base, cfg.log2size + k_ste_shift) + (phys_addr{sid} << k_ste_shift);
        return out;
    }
    const unsigned split = effective_split(cfg.split);
    const int l1_bits = static_cast<int>(cfg.log2size) - static_cast<int>(split);
    out.status = ste_lookup_status::l1std;
    out.address =
        align_down(base, l1_table_align(l1_bits)) + (phys_addr{sid >> split} << k_l1_shift);
    out.l2_index = sid & ((1u << split) - 1u);
    return out;
}

ste_lookup locate_ste_in_l2(const stream_table_config& cfg, const l1std& desc,
                            std::uint32_t l2_index) {
    ste_lookup out;
    const auto log2_entries = l1std_l2_log2_entries(desc, cfg.split);
    if (!log2_entries || !fits_bits(l2_index, *log2_entries))
        return out;
    out.status = ste_lookup_status::ste;
    out.address = align_down(desc.l2_ptr & k_l1std_l2ptr_mask, *log2_entries + k_ste_shift) +
                  (phys_addr{l2_index} << k_ste_shift);
    out.l2_index = l2_index;
    return out;
}

cd_table_config make_cd_table_config(const ste& s, const feature_set& f) {
    cd_table_config cfg;
    cfg.context_ptr = s.s1_context_ptr;
    cfg.fmt = s.s1_fmt;
    cfg.cd_max = s.s1_cd_max;
    cfg.ssid_bits = f.ssid_bits;
    return cfg;
}

cd_lookup locate_cd(const cd_table_config& cfg, std::optional<substream_id> ssid) {
    cd_lookup out;
    const phys_addr ptr = cfg.context_ptr & k_table_base_mask;
    const unsigned cd_max = cfg.ssid_bits == 0 ? 0u : cfg.cd_max;
    if (cd_max == 0) {
        if (ssid)
            return out;
        out.status = cd_lookup_status::cd;
        out.address = ptr;
        return out;
    }
    const substream_id index = ssid.value_or(0);
    if (!fits_bits(index, cd_max))
        return out;
    if (!is_two_level(cfg.fmt)) { // linear, and reserved 0b11 behaves as linear
        out.status = cd_lookup_status::cd;
        out.address = align_down(ptr, cd_max + k_cd_shift) + (phys_addr{index} << k_cd_shift);
        return out;
    }
    const unsigned leaf = cd_leaf_bits(cfg.fmt);
    const int l1_bits = static_cast<int>(cd_max) - static_cast<int>(leaf);
    out.status = cd_lookup_status::l1cd;
    out.address =
        align_down(ptr, l1_table_align(l1_bits)) + (phys_addr{index >> leaf} << k_l1_shift);
    out.l2_index = index & ((1u << leaf) - 1u);
    return out;
}

cd_lookup locate_cd_in_l2(const cd_table_config& cfg, const l1cd& desc, std::uint32_t l2_index) {
    cd_lookup out;
    const unsigned leaf = cd_leaf_bits(cfg.fmt);
    if (!desc.v || !is_two_level(cfg.fmt) || !fits_bits(l2_index, leaf))
        return out;
    out.status = cd_lookup_status::cd;
    out.address = align_down(desc.l2_ptr & k_l1cd_l2ptr_mask, leaf + k_cd_shift) +
                  (phys_addr{l2_index} << k_cd_shift);
    out.l2_index = l2_index;
    return out;
}

} // namespace smmu::arch
