// Descriptor layouts and granule geometry, pinned with literal values from
// smmuv3-reference.md §8.1-§8.4.
#include <string>

#include <gtest/gtest.h>

#include "model/arch/descriptor.h"

namespace smmu::arch {
namespace {

constexpr granule g4 = granule::size_4k;
constexpr granule g16 = granule::size_16k;
constexpr granule g64 = granule::size_64k;

TEST(descriptor_geometry, bits_per_level) {
    EXPECT_EQ(bits_per_level(g4), 9u);
    EXPECT_EQ(bits_per_level(g16), 11u);
    EXPECT_EQ(bits_per_level(g64), 13u);
}

TEST(descriptor_geometry, level_shift_matches_the_index_table) {
    // 4K: L0 IA[47:39], L1 [38:30], L2 [29:21], L3 [20:12]; level -1 [51:48].
    EXPECT_EQ(level_shift(g4, -1), 48u);
    EXPECT_EQ(level_shift(g4, 0), 39u);
    EXPECT_EQ(level_shift(g4, 1), 30u);
    EXPECT_EQ(level_shift(g4, 2), 21u);
    EXPECT_EQ(level_shift(g4, 3), 12u);
    // 16K: L0 IA[47], L1 [46:36], L2 [35:25], L3 [24:14].
    EXPECT_EQ(level_shift(g16, 0), 47u);
    EXPECT_EQ(level_shift(g16, 1), 36u);
    EXPECT_EQ(level_shift(g16, 2), 25u);
    EXPECT_EQ(level_shift(g16, 3), 14u);
    // 64K: L1 IA[47:42], L2 [41:29], L3 [28:16].
    EXPECT_EQ(level_shift(g64, 1), 42u);
    EXPECT_EQ(level_shift(g64, 2), 29u);
    EXPECT_EQ(level_shift(g64, 3), 16u);
}

TEST(descriptor_geometry, level_index) {
    EXPECT_EQ(level_index(-1), 0u);
    EXPECT_EQ(level_index(0), 1u);
    EXPECT_EQ(level_index(3), 4u);
    EXPECT_EQ(level_count, 5u);
}

TEST(descriptor_fields, common_and_table_bits) {
    EXPECT_EQ(tt_desc::valid.mask(), 0x1ull);
    EXPECT_EQ(tt_desc::type.mask(), 0x2ull);
    EXPECT_EQ(tt_desc::pxn_table.mask(), 0x0800000000000000ull);
    EXPECT_EQ(tt_desc::uxn_table.mask(), 0x1000000000000000ull);
    EXPECT_EQ(tt_desc::ap_table.mask(), 0x6000000000000000ull);
    EXPECT_EQ(tt_desc::ns_table.mask(), 0x8000000000000000ull);
    EXPECT_EQ(tt_desc::table_attr_mask, 0xf800000000000000ull);
}

TEST(descriptor_fields, stage1_leaf_bits) {
    EXPECT_EQ(tt_desc::attr_indx.mask(), 0x1cull);
    EXPECT_EQ(tt_desc::ns.mask(), 0x20ull);
    EXPECT_EQ(tt_desc::ap.mask(), 0xc0ull);
    EXPECT_EQ(tt_desc::ap_el0.mask(), 0x40ull);
    EXPECT_EQ(tt_desc::ap_ro.mask(), 0x80ull);
    EXPECT_EQ(tt_desc::sh.mask(), 0x300ull);
    EXPECT_EQ(tt_desc::af.mask(), 0x400ull);
    EXPECT_EQ(tt_desc::ng.mask(), 0x800ull);
    EXPECT_EQ(tt_desc::gp.mask(), 0x0004000000000000ull);
    EXPECT_EQ(tt_desc::dbm.mask(), 0x0008000000000000ull);
    EXPECT_EQ(tt_desc::contiguous.mask(), 0x0010000000000000ull);
    EXPECT_EQ(tt_desc::pxn.mask(), 0x0020000000000000ull);
    EXPECT_EQ(tt_desc::uxn.mask(), 0x0040000000000000ull);
}

TEST(descriptor_fields, stage2_leaf_and_address_bits) {
    EXPECT_EQ(tt_desc::mem_attr.mask(), 0x3cull);
    EXPECT_EQ(tt_desc::s2ap.mask(), 0xc0ull);
    EXPECT_EQ(tt_desc::s2ap_read.mask(), 0x40ull);
    EXPECT_EQ(tt_desc::s2ap_write.mask(), 0x80ull);
    EXPECT_EQ(tt_desc::s2_xn.mask(), 0x0060000000000000ull);
    EXPECT_EQ(tt_desc::lpa_oa_51_48.mask(), 0xf000ull);
    EXPECT_EQ(tt_desc::ds_oa_51_50.mask(), 0x300ull);
    EXPECT_EQ(tt_desc::ds_oa_49_48.mask(), 0x0003000000000000ull);
}

TEST(descriptor_type, decode_per_level) {
    EXPECT_EQ(decode_type(0x0, 1, true), descriptor_type::invalid);
    EXPECT_EQ(decode_type(0x2, 1, true), descriptor_type::invalid) << "bit 0 clear";
    EXPECT_EQ(decode_type(0xfffffffffffffffeull, 3, true), descriptor_type::invalid);
    EXPECT_EQ(decode_type(0x3, 0, false), descriptor_type::table);
    EXPECT_EQ(decode_type(0x3, 2, true), descriptor_type::table);
    EXPECT_EQ(decode_type(0x3, -1, false), descriptor_type::table);
    EXPECT_EQ(decode_type(0x1, 2, true), descriptor_type::block);
    EXPECT_EQ(decode_type(0x1, 0, false), descriptor_type::invalid) << "block not allowed";
    EXPECT_EQ(decode_type(0x3, 3, false), descriptor_type::page);
    EXPECT_EQ(decode_type(0x1, 3, true), descriptor_type::invalid) << "reserved at level 3";
}

TEST(descriptor_type, block_allowed_levels) {
    EXPECT_FALSE(block_allowed(g4, 0, false, true));
    EXPECT_TRUE(block_allowed(g4, 0, true, false));
    EXPECT_TRUE(block_allowed(g4, 1, false, false));
    EXPECT_TRUE(block_allowed(g4, 2, false, false));
    EXPECT_FALSE(block_allowed(g4, -1, true, true));
    EXPECT_FALSE(block_allowed(g16, 0, true, true));
    EXPECT_FALSE(block_allowed(g16, 1, false, true));
    EXPECT_TRUE(block_allowed(g16, 1, true, false));
    EXPECT_TRUE(block_allowed(g16, 2, false, false));
    EXPECT_FALSE(block_allowed(g64, 1, true, false));
    EXPECT_TRUE(block_allowed(g64, 1, false, true));
    EXPECT_TRUE(block_allowed(g64, 2, false, false));
}

TEST(descriptor_type, contiguous_spans) {
    // 4K: 16 entries at L1-L3 (16 GB / 32 MB / 64 KB).
    EXPECT_EQ(contiguous_log2_entries(g4, 0), 0u);
    EXPECT_EQ(contiguous_log2_entries(g4, 1), 4u);
    EXPECT_EQ(contiguous_log2_entries(g4, 2), 4u);
    EXPECT_EQ(contiguous_log2_entries(g4, 3), 4u);
    // 16K: 32 at L2 (1 GB), 128 at L3 (2 MB).
    EXPECT_EQ(contiguous_log2_entries(g16, 1), 0u);
    EXPECT_EQ(contiguous_log2_entries(g16, 2), 5u);
    EXPECT_EQ(contiguous_log2_entries(g16, 3), 7u);
    // 64K: 32 at L2 (16 GB) and L3 (2 MB).
    EXPECT_EQ(contiguous_log2_entries(g64, 1), 0u);
    EXPECT_EQ(contiguous_log2_entries(g64, 2), 5u);
    EXPECT_EQ(contiguous_log2_entries(g64, 3), 5u);
}

TEST(descriptor_address, format_selection) {
    EXPECT_EQ(select_oa_format(g4, false), oa_format::bits48);
    EXPECT_EQ(select_oa_format(g16, true), oa_format::lpa2_ds);
    EXPECT_EQ(select_oa_format(g64, false), oa_format::lpa_64k);
    EXPECT_EQ(select_oa_format(g64, true), oa_format::lpa_64k);
    EXPECT_EQ(oa_format_bits(oa_format::bits48), 48u);
    EXPECT_EQ(oa_format_bits(oa_format::lpa_64k), 52u);
    EXPECT_EQ(oa_format_bits(oa_format::lpa2_ds), 52u);
}

TEST(descriptor_address, bits48_ignores_attribute_bits) {
    // A 4K level-1 block: OA [47:30]; attribute bits above and below are dropped.
    EXPECT_EQ(descriptor_address(0x007f0001c0000f41ull, 30, oa_format::bits48),
              0x00000001c0000000ull);
    // A 4K page: [47:12]; bits 51:48 are not address bits.
    EXPECT_EQ(descriptor_address(0x000f876543210fffull, 12, oa_format::bits48),
              0x0000876543210000ull);
}

TEST(descriptor_address, lpa_64k) {
    EXPECT_EQ(descriptor_address(0x00001234567ba703ull, 16, oa_format::lpa_64k),
              0x000a1234567b0000ull);
    EXPECT_EQ(descriptor_address(0x0000bcde1234a743ull, 16, oa_format::lpa_64k),
              0x000abcde12340000ull);
    // Block at L2 (lo = 29): bits [28:16] are not part of the address.
    EXPECT_EQ(descriptor_address(0x000000401fffc401ull, 29, oa_format::lpa_64k),
              0x000c004000000000ull);
}

TEST(descriptor_address, lpa2_ds) {
    // [49:12] in place, [51:50] from bits [9:8].
    EXPECT_EQ(descriptor_address(0x0003123456789243ull, 12, oa_format::lpa2_ds),
              0x000b123456789000ull);
    EXPECT_EQ(descriptor_address(0x0001008000000701ull, 39, oa_format::lpa2_ds),
              0x000d008000000000ull);
}

TEST(descriptor_address, encode_is_the_inverse) {
    EXPECT_EQ(encode_descriptor_address(0x000abcde12340000ull, 16, oa_format::lpa_64k),
              0x0000bcde1234a000ull);
    EXPECT_EQ(encode_descriptor_address(0x000b123456789000ull, 12, oa_format::lpa2_ds),
              0x0003123456789200ull);
    EXPECT_EQ(encode_descriptor_address(0x0000876543210abcull, 12, oa_format::bits48),
              0x0000876543210000ull);
    EXPECT_EQ(encode_descriptor_address(0x000f000000000000ull, 12, oa_format::bits48), 0u)
        << "bits above 47 cannot be expressed";
    for (const phys_addr pa : {0x000abcde12340000ull, 0x0001000000010000ull}) {
        const auto d = encode_descriptor_address(pa, 16, oa_format::lpa_64k);
        EXPECT_EQ(descriptor_address(d, 16, oa_format::lpa_64k), pa);
    }
    const phys_addr ds_pa = 0x000fffffffffc000ull;
    EXPECT_EQ(descriptor_address(encode_descriptor_address(ds_pa, 14, oa_format::lpa2_ds), 14,
                                 oa_format::lpa2_ds),
              ds_pa);
}

TEST(descriptor_start_level, stage1_4k) {
    EXPECT_EQ(stage1_start_level(g4, 16, false), 0);
    EXPECT_EQ(stage1_start_level(g4, 24, false), 0);
    EXPECT_EQ(stage1_start_level(g4, 25, false), 1);
    EXPECT_EQ(stage1_start_level(g4, 33, false), 1);
    EXPECT_EQ(stage1_start_level(g4, 34, false), 2);
    EXPECT_EQ(stage1_start_level(g4, 42, false), 2);
    EXPECT_EQ(stage1_start_level(g4, 43, false), 3);
    EXPECT_EQ(stage1_start_level(g4, 48, false), 3);
    EXPECT_EQ(stage1_start_level(g4, 12, true), -1);
    EXPECT_EQ(stage1_start_level(g4, 15, true), -1);
    EXPECT_EQ(stage1_start_level(g4, 15, false), std::nullopt);
    EXPECT_EQ(stage1_start_level(g4, 49, false), std::nullopt);
}

TEST(descriptor_start_level, stage1_16k) {
    EXPECT_EQ(stage1_start_level(g16, 16, false), 0);
    EXPECT_EQ(stage1_start_level(g16, 17, false), 1);
    EXPECT_EQ(stage1_start_level(g16, 27, false), 1);
    EXPECT_EQ(stage1_start_level(g16, 28, false), 2);
    EXPECT_EQ(stage1_start_level(g16, 38, false), 2);
    EXPECT_EQ(stage1_start_level(g16, 39, false), 3);
    EXPECT_EQ(stage1_start_level(g16, 48, false), 3);
    EXPECT_EQ(stage1_start_level(g16, 12, true), 0);
    EXPECT_EQ(stage1_start_level(g16, 12, false), std::nullopt);
}

TEST(descriptor_start_level, stage1_64k) {
    EXPECT_EQ(stage1_start_level(g64, 12, false), 1);
    EXPECT_EQ(stage1_start_level(g64, 16, false), 1);
    EXPECT_EQ(stage1_start_level(g64, 21, false), 1);
    EXPECT_EQ(stage1_start_level(g64, 22, false), 2);
    EXPECT_EQ(stage1_start_level(g64, 34, false), 2);
    EXPECT_EQ(stage1_start_level(g64, 35, false), 3);
    EXPECT_EQ(stage1_start_level(g64, 47, false), 3);
    EXPECT_EQ(stage1_start_level(g64, 48, false), std::nullopt);
    EXPECT_EQ(stage1_start_level(g64, 11, true), std::nullopt);
}

/// "level/tables" or "none", for compact expectations.
std::string s2(granule g, unsigned sl0, unsigned t0sz, bool ds = false, bool sl2 = false,
               bool stt = false) {
    const auto r = stage2_start_level(g, sl0, t0sz, ds, sl2, stt);
    if (!r)
        return "none";
    return std::to_string(r->level) + "/" + std::to_string(r->tables);
}

TEST(descriptor_start_level, stage2_4k) {
    // SL0=10 level 0: 16..24 single; no concatenation without DS.
    EXPECT_EQ(s2(g4, 2, 16), "0/1");
    EXPECT_EQ(s2(g4, 2, 24), "0/1");
    EXPECT_EQ(s2(g4, 2, 25), "none");
    EXPECT_EQ(s2(g4, 2, 15), "none");
    EXPECT_EQ(s2(g4, 2, 12, true), "0/16");
    EXPECT_EQ(s2(g4, 2, 15, true), "0/2");
    // SL0=01 level 1: 25..33 single, 24..21 -> 2, 4, 8, 16 tables.
    EXPECT_EQ(s2(g4, 1, 25), "1/1");
    EXPECT_EQ(s2(g4, 1, 33), "1/1");
    EXPECT_EQ(s2(g4, 1, 24), "1/2");
    EXPECT_EQ(s2(g4, 1, 23), "1/4");
    EXPECT_EQ(s2(g4, 1, 22), "1/8");
    EXPECT_EQ(s2(g4, 1, 21), "1/16");
    EXPECT_EQ(s2(g4, 1, 20), "none");
    EXPECT_EQ(s2(g4, 1, 34), "none");
    // SL0=00 level 2: 34..39 single (40..42 with STT), 33..30 concatenated.
    EXPECT_EQ(s2(g4, 0, 39), "2/1");
    EXPECT_EQ(s2(g4, 0, 40), "none");
    EXPECT_EQ(s2(g4, 0, 42, false, false, true), "2/1");
    EXPECT_EQ(s2(g4, 0, 43, false, false, true), "none");
    EXPECT_EQ(s2(g4, 0, 33), "2/2");
    EXPECT_EQ(s2(g4, 0, 30), "2/16");
    EXPECT_EQ(s2(g4, 0, 29), "none");
    // SL0=11 level 3 only with STT: 43..48 single, 42..39 concatenated.
    EXPECT_EQ(s2(g4, 3, 43), "none");
    EXPECT_EQ(s2(g4, 3, 43, false, false, true), "3/1");
    EXPECT_EQ(s2(g4, 3, 48, false, false, true), "3/1");
    EXPECT_EQ(s2(g4, 3, 42, false, false, true), "3/2");
    EXPECT_EQ(s2(g4, 3, 39, false, false, true), "3/16");
    // DS with SL2=1, SL0=00: level -1; other SL0 values reserved with SL2=1.
    EXPECT_EQ(s2(g4, 0, 12, true, true), "-1/1");
    EXPECT_EQ(s2(g4, 1, 12, true, true), "none");
    EXPECT_EQ(s2(g4, 0, 39, false, true), "2/1") << "SL2 ignored without DS";
}

TEST(descriptor_start_level, stage2_16k) {
    EXPECT_EQ(s2(g16, 2, 17), "1/1");
    EXPECT_EQ(s2(g16, 2, 27), "1/1");
    EXPECT_EQ(s2(g16, 2, 16), "1/2");
    EXPECT_EQ(s2(g16, 2, 13, true), "1/16");
    EXPECT_EQ(s2(g16, 1, 28), "2/1");
    EXPECT_EQ(s2(g16, 1, 38), "2/1");
    EXPECT_EQ(s2(g16, 1, 27), "2/2");
    EXPECT_EQ(s2(g16, 1, 24), "2/16");
    EXPECT_EQ(s2(g16, 1, 23), "none");
    EXPECT_EQ(s2(g16, 0, 39), "3/1");
    EXPECT_EQ(s2(g16, 0, 38), "3/2");
    EXPECT_EQ(s2(g16, 0, 35), "3/16");
    EXPECT_EQ(s2(g16, 0, 34), "none");
    EXPECT_EQ(s2(g16, 3, 16), "none") << "level 0 needs DS";
    EXPECT_EQ(s2(g16, 3, 12, true), "0/1");
    EXPECT_EQ(s2(g16, 0, 39, true, true), "3/1") << "SL2 plays no part for 16K";
}

TEST(descriptor_start_level, stage2_64k) {
    EXPECT_EQ(s2(g64, 2, 16), "1/1");
    EXPECT_EQ(s2(g64, 2, 21), "1/1");
    EXPECT_EQ(s2(g64, 2, 12), "1/1") << "52-bit IPA with LPA";
    EXPECT_EQ(s2(g64, 2, 22), "none");
    EXPECT_EQ(s2(g64, 1, 22), "2/1");
    EXPECT_EQ(s2(g64, 1, 34), "2/1");
    EXPECT_EQ(s2(g64, 1, 21), "2/2");
    EXPECT_EQ(s2(g64, 1, 18), "2/16");
    EXPECT_EQ(s2(g64, 1, 17), "none");
    EXPECT_EQ(s2(g64, 0, 35), "3/1");
    EXPECT_EQ(s2(g64, 0, 39), "3/1");
    EXPECT_EQ(s2(g64, 0, 34), "3/2");
    EXPECT_EQ(s2(g64, 0, 31), "3/16");
    EXPECT_EQ(s2(g64, 0, 47, false, false, true), "3/1");
    EXPECT_EQ(s2(g64, 3, 22), "none") << "SL0=11 reserved for 64K";
    EXPECT_EQ(s2(g64, 3, 22, true, false, true), "none");
}

TEST(descriptor_start_level, stage2_sl0_wider_than_two_bits_is_rejected) {
    EXPECT_EQ(s2(g4, 4, 25), "none");
    EXPECT_EQ(s2(g4, 7, 43, false, false, true), "none");
    EXPECT_EQ(s2(g16, 5, 28), "none");
}

} // namespace
} // namespace smmu::arch
