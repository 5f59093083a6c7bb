#include <gtest/gtest.h>

#include "model/arch/stream_table.h"

namespace smmu::arch {
namespace {

// --- L1STD / L1CD codecs (reference §2.1, §4.5) -----------------------------------

TEST(l1std_codec, golden_fields) {
    EXPECT_EQ(encode_l1std({9, 0xa0000000}), 0x00000000a0000009ull);
    EXPECT_EQ(encode_l1std({31, 0}), 0x1full);
    EXPECT_EQ(encode_l1std({0, 0x000fffffffffffc0ull}), 0x000fffffffffffc0ull);
    EXPECT_EQ(decode_l1std(0x00000000a0000009ull), (l1std{9, 0xa0000000}));
}

TEST(l1std_codec, res0_bits_are_dropped) {
    const l1std d = decode_l1std(~0ull);
    EXPECT_EQ(d.span, 31u);
    EXPECT_EQ(d.l2_ptr, 0x000fffffffffffc0ull) << "bit 5 and bits [63:52] are RES0";
    EXPECT_EQ(encode_l1std({0x3f, 0x3f}), 0x1full) << "values wider than the fields are cut";
}

TEST(l1std_codec, round_trip) {
    const l1std d{11, 0x0000123456789000ull};
    EXPECT_EQ(decode_l1std(encode_l1std(d)), d);
}

TEST(l1std_span, valid_spans_give_l2_size) {
    EXPECT_EQ(l1std_l2_log2_entries({1, 0}, 8), 0u);
    EXPECT_EQ(l1std_l2_log2_entries({9, 0}, 8), 8u);
    EXPECT_EQ(l1std_l2_log2_entries({11, 0}, 10), 10u);
}

TEST(l1std_span, invalid_reserved_and_out_of_bounds_spans) {
    EXPECT_EQ(l1std_l2_log2_entries({0, 0x1000}, 8), std::nullopt) << "Span 0: invalid";
    EXPECT_EQ(l1std_l2_log2_entries({12, 0}, 10), std::nullopt) << "12..31 reserved";
    EXPECT_EQ(l1std_l2_log2_entries({31, 0}, 10), std::nullopt);
    EXPECT_EQ(l1std_l2_log2_entries({10, 0}, 8), std::nullopt) << "beyond SPLIT + 1";
    EXPECT_EQ(l1std_l2_log2_entries({8, 0}, 7), std::nullopt) << "SPLIT 7 behaves as 6";
    EXPECT_EQ(l1std_l2_log2_entries({7, 0}, 7), 6u);
}

TEST(l1cd_codec, golden_fields) {
    EXPECT_EQ(encode_l1cd({true, 0}), 0x1ull);
    EXPECT_EQ(encode_l1cd({false, 0x000ffffffffff000ull}), 0x000ffffffffff000ull);
    EXPECT_EQ(encode_l1cd({true, 0x70003fffull}), 0x0000000070003001ull) << "L2Ptr[11:0] cut";
    EXPECT_EQ(decode_l1cd(0x0000000070003001ull), (l1cd{true, 0x70003000}));
}

TEST(l1cd_codec, res0_bits_are_dropped) {
    const l1cd d = decode_l1cd(~0ull);
    EXPECT_TRUE(d.v);
    EXPECT_EQ(d.l2_ptr, 0x000ffffffffff000ull);
    EXPECT_FALSE(decode_l1cd(0x0000000070003ffeull).v);
}

// --- Stream table (reference §1.3.13, §2) -------------------------------------------

stream_table_config linear(phys_addr base, unsigned log2size) {
    stream_table_config cfg;
    cfg.base = base;
    cfg.log2size = log2size;
    cfg.fmt = 0;
    return cfg;
}

stream_table_config two_level(phys_addr base, unsigned log2size, unsigned split) {
    stream_table_config cfg;
    cfg.base = base;
    cfg.log2size = log2size;
    cfg.split = split;
    cfg.fmt = 1;
    return cfg;
}

TEST(stream_table_linear, ste_address_is_base_plus_sid_times_64) {
    const auto cfg = linear(0x80000000, 8);
    ste_lookup r = locate_ste(cfg, 5);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0x80000140u);
    r = locate_ste(cfg, 255);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0x80003fc0u);
}

TEST(stream_table_linear, sid_beyond_log2size_is_bad) {
    EXPECT_EQ(locate_ste(linear(0x80000000, 8), 256).status, ste_lookup_status::bad_stream_id);
    EXPECT_EQ(locate_ste(linear(0x80000000, 0), 1).status, ste_lookup_status::bad_stream_id);
    const ste_lookup r = locate_ste(linear(0x80000000, 0), 0);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0x80000000u);
}

TEST(stream_table_linear, base_is_aligned_to_the_table_size) {
    const ste_lookup r = locate_ste(linear(0x80001040, 8), 1); // 16 KB table
    EXPECT_EQ(r.address, 0x80000040u);
}

TEST(stream_table_linear, sidsize_caps_the_range_but_not_the_alignment) {
    stream_table_config cfg = linear(0x80001000, 20);
    cfg.sid_bits = 8;
    EXPECT_EQ(locate_ste(cfg, 256).status, ste_lookup_status::bad_stream_id);
    const ste_lookup r = locate_ste(cfg, 2);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0x80000080u) << "aligned to 2^(20+6)";
}

TEST(stream_table_linear, full_32_bit_stream_ids) {
    stream_table_config cfg = linear(0, 32);
    const ste_lookup r = locate_ste(cfg, 0xffffffffu);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0x3fffffffc0ull);
    cfg.log2size = 63;
    EXPECT_EQ(locate_ste(cfg, 0xffffffffu).address, 0x3fffffffc0ull);
}

TEST(stream_table_linear, reserved_fmt_behaves_as_linear) {
    stream_table_config cfg = linear(0x80000000, 8);
    cfg.fmt = 2;
    EXPECT_EQ(locate_ste(cfg, 5).address, 0x80000140u);
    cfg.fmt = 3;
    EXPECT_EQ(locate_ste(cfg, 5).status, ste_lookup_status::ste);
}

TEST(stream_table_linear, base_bits_above_51_are_ignored) {
    const ste_lookup r = locate_ste(linear(0x00f0000080000000ull, 8), 1);
    EXPECT_EQ(r.address, 0x80000040u);
}

TEST(stream_table_two_level, l1std_address_and_l2_index) {
    const auto cfg = two_level(0x90000000, 16, 8);
    const ste_lookup r = locate_ste(cfg, 0x1234);
    EXPECT_EQ(r.status, ste_lookup_status::l1std);
    EXPECT_EQ(r.address, 0x90000090u);
    EXPECT_EQ(r.l2_index, 0x34u);
}

TEST(stream_table_two_level, second_step_gives_the_ste) {
    const auto cfg = two_level(0x90000000, 16, 8);
    const ste_lookup r = locate_ste_in_l2(cfg, l1std{9, 0xa0000000}, 0x34);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0xa0000d00u);
}

TEST(stream_table_two_level, l2_array_is_aligned_to_its_size) {
    const auto cfg = two_level(0x90000000, 16, 8);
    // Span 9: 256 STEs = 16 KB, L2Ptr[13:0] are treated as zero.
    EXPECT_EQ(locate_ste_in_l2(cfg, l1std{9, 0xa0001040}, 1).address, 0xa0000040u);
    // Span 3: 4 STEs = 256 bytes.
    EXPECT_EQ(locate_ste_in_l2(cfg, l1std{3, 0xa00010c0}, 1).address, 0xa0001040u);
}

TEST(stream_table_two_level, l1_table_is_aligned_to_its_size_or_64_bytes) {
    // 2^(16-8) L1STDs = 2 KB.
    EXPECT_EQ(locate_ste(two_level(0x900007c0, 16, 8), 0x100).address, 0x90000008u);
    // One L1STD: 64-byte alignment.
    EXPECT_EQ(locate_ste(two_level(0x90000048, 8, 8), 0x12).address, 0x90000040u);
    // LOG2SIZE < SPLIT: still one L1STD, index 0.
    const ste_lookup r = locate_ste(two_level(0x90000040, 4, 8), 0xf);
    EXPECT_EQ(r.address, 0x90000040u);
    EXPECT_EQ(r.l2_index, 0xfu);
}

TEST(stream_table_two_level, split_values) {
    ste_lookup r = locate_ste(two_level(0x90000000, 16, 10), 0x1234);
    EXPECT_EQ(r.address, 0x90000020u);
    EXPECT_EQ(r.l2_index, 0x234u);
    r = locate_ste(two_level(0x90000000, 16, 6), 0x1234);
    EXPECT_EQ(r.address, 0x90000240u);
    EXPECT_EQ(r.l2_index, 0x34u);
    r = locate_ste(two_level(0x90000000, 16, 7), 0x1234);
    EXPECT_EQ(r.address, 0x90000240u) << "reserved SPLIT behaves as 6";
    EXPECT_EQ(r.l2_index, 0x34u);
    r = locate_ste(two_level(0x90000000, 16, 0), 0x1234);
    EXPECT_EQ(r.l2_index, 0x34u);
}

TEST(stream_table_two_level, out_of_range_sid_is_bad) {
    EXPECT_EQ(locate_ste(two_level(0x90000000, 16, 8), 0x10000).status,
              ste_lookup_status::bad_stream_id);
}

TEST(stream_table_two_level, invalid_l1std_makes_the_sid_bad) {
    const auto cfg = two_level(0x90000000, 16, 8);
    EXPECT_EQ(locate_ste_in_l2(cfg, l1std{0, 0xa0000000}, 0).status,
              ste_lookup_status::bad_stream_id);
    EXPECT_EQ(locate_ste_in_l2(cfg, l1std{12, 0xa0000000}, 0).status,
              ste_lookup_status::bad_stream_id);
    EXPECT_EQ(locate_ste_in_l2(cfg, l1std{10, 0xa0000000}, 0).status,
              ste_lookup_status::bad_stream_id)
        << "Span beyond SPLIT + 1";
}

TEST(stream_table_two_level, sid_outside_the_span_is_bad) {
    const auto cfg = two_level(0x90000000, 16, 8);
    EXPECT_EQ(locate_ste_in_l2(cfg, l1std{3, 0xa0000000}, 4).status,
              ste_lookup_status::bad_stream_id);
    const ste_lookup r = locate_ste_in_l2(cfg, l1std{3, 0xa0000000}, 3);
    EXPECT_EQ(r.status, ste_lookup_status::ste);
    EXPECT_EQ(r.address, 0xa00000c0u);
}

// --- CD tables (reference §4.5) ---------------------------------------------------

cd_table_config cd_cfg(phys_addr ptr, cd_table_format fmt, unsigned cd_max) {
    cd_table_config cfg;
    cfg.context_ptr = ptr;
    cfg.fmt = fmt;
    cfg.cd_max = cd_max;
    cfg.ssid_bits = 20;
    return cfg;
}

TEST(cd_table_single, one_cd_without_substreams) {
    const auto cfg = cd_cfg(0x12340, cd_table_format::linear, 0);
    const cd_lookup r = locate_cd(cfg, std::nullopt);
    EXPECT_EQ(r.status, cd_lookup_status::cd);
    EXPECT_EQ(r.address, 0x12340u);
}

TEST(cd_table_single, any_substream_is_bad) {
    const auto cfg = cd_cfg(0x12340, cd_table_format::linear, 0);
    EXPECT_EQ(locate_cd(cfg, 0u).status, cd_lookup_status::bad_substream_id);
    EXPECT_EQ(locate_cd(cfg, 7u).status, cd_lookup_status::bad_substream_id);
}

TEST(cd_table_single, ssidsize_zero_ignores_s1cdmax) {
    cd_table_config cfg = cd_cfg(0x12340, cd_table_format::two_level_64k, 5);
    cfg.ssid_bits = 0;
    const cd_lookup r = locate_cd(cfg, std::nullopt);
    EXPECT_EQ(r.status, cd_lookup_status::cd);
    EXPECT_EQ(r.address, 0x12340u);
    EXPECT_EQ(locate_cd(cfg, 1u).status, cd_lookup_status::bad_substream_id);
}

TEST(cd_table_linear, cd_address_is_ptr_plus_ssid_times_64) {
    const auto cfg = cd_cfg(0x40000, cd_table_format::linear, 4);
    cd_lookup r = locate_cd(cfg, 3u);
    EXPECT_EQ(r.status, cd_lookup_status::cd);
    EXPECT_EQ(r.address, 0x400c0u);
    r = locate_cd(cfg, 15u);
    EXPECT_EQ(r.address, 0x403c0u);
    r = locate_cd(cfg, std::nullopt);
    EXPECT_EQ(r.address, 0x40000u) << "no SubstreamID: CD 0";
}

TEST(cd_table_linear, ssid_at_or_above_2_pow_cdmax_is_bad) {
    const auto cfg = cd_cfg(0x40000, cd_table_format::linear, 4);
    EXPECT_EQ(locate_cd(cfg, 16u).status, cd_lookup_status::bad_substream_id);
    EXPECT_EQ(locate_cd(cfg, 0xfffffu).status, cd_lookup_status::bad_substream_id);
}

TEST(cd_table_linear, table_is_aligned_to_its_size) {
    // 16 CDs = 1 KB: S1ContextPtr[9:6] are treated as zero.
    EXPECT_EQ(locate_cd(cd_cfg(0x40340, cd_table_format::linear, 4), 1u).address, 0x40040u);
    EXPECT_EQ(locate_cd(cd_cfg(0x40440, cd_table_format::linear, 4), 1u).address, 0x40440u);
}

TEST(cd_table_linear, reserved_fmt_behaves_as_linear) {
    const cd_lookup r = locate_cd(cd_cfg(0x40000, cd_table_format::reserved, 4), 3u);
    EXPECT_EQ(r.status, cd_lookup_status::cd);
    EXPECT_EQ(r.address, 0x400c0u);
}

TEST(cd_table_two_level_4k, l1cd_address_and_l2_index) {
    const auto cfg = cd_cfg(0x50000, cd_table_format::two_level_4k, 12);
    const cd_lookup r = locate_cd(cfg, 0x9c5u);
    EXPECT_EQ(r.status, cd_lookup_status::l1cd);
    EXPECT_EQ(r.address, 0x50138u);
    EXPECT_EQ(r.l2_index, 0x5u);
}

TEST(cd_table_two_level_4k, second_step_gives_the_cd) {
    const auto cfg = cd_cfg(0x50000, cd_table_format::two_level_4k, 12);
    const cd_lookup r = locate_cd_in_l2(cfg, l1cd{true, 0x70003000}, 0x5);
    EXPECT_EQ(r.status, cd_lookup_status::cd);
    EXPECT_EQ(r.address, 0x70003140u);
}

TEST(cd_table_two_level_4k, l1_table_aligned_to_its_size) {
    // 64 L1CDs = 512 bytes: S1ContextPtr[8:6] treated as zero.
    EXPECT_EQ(locate_cd(cd_cfg(0x501c0, cd_table_format::two_level_4k, 12), 0x40u).address,
              0x50008u);
}

TEST(cd_table_two_level_4k, small_cdmax_uses_only_l1_index_0) {
    const auto cfg = cd_cfg(0x50040, cd_table_format::two_level_4k, 5);
    const cd_lookup r = locate_cd(cfg, 31u);
    EXPECT_EQ(r.status, cd_lookup_status::l1cd);
    EXPECT_EQ(r.address, 0x50040u);
    EXPECT_EQ(r.l2_index, 31u);
}

TEST(cd_table_two_level_64k, l1cd_address_and_l2_index) {
    const auto cfg = cd_cfg(0x60000, cd_table_format::two_level_64k, 20);
    const cd_lookup r = locate_cd(cfg, 0xabcdeu);
    EXPECT_EQ(r.status, cd_lookup_status::l1cd);
    EXPECT_EQ(r.address, 0x61578u);
    EXPECT_EQ(r.l2_index, 0xdeu);
}

TEST(cd_table_two_level_64k, second_step_aligns_l2ptr_to_64k) {
    const auto cfg = cd_cfg(0x60000, cd_table_format::two_level_64k, 20);
    const cd_lookup r = locate_cd_in_l2(cfg, l1cd{true, 0x80013000}, 0xde);
    EXPECT_EQ(r.status, cd_lookup_status::cd);
    EXPECT_EQ(r.address, 0x80013780u) << "L2Ptr[15:12] are treated as zero";
}

TEST(cd_table_two_level, invalid_l1cd_is_bad_substream) {
    const auto cfg = cd_cfg(0x50000, cd_table_format::two_level_4k, 12);
    EXPECT_EQ(locate_cd_in_l2(cfg, l1cd{false, 0x70003000}, 5).status,
              cd_lookup_status::bad_substream_id);
}

TEST(cd_table_two_level, second_step_rejects_misuse) {
    const auto lin = cd_cfg(0x50000, cd_table_format::linear, 12);
    EXPECT_EQ(locate_cd_in_l2(lin, l1cd{true, 0x70003000}, 5).status,
              cd_lookup_status::bad_substream_id);
    const auto cfg = cd_cfg(0x50000, cd_table_format::two_level_4k, 12);
    EXPECT_EQ(locate_cd_in_l2(cfg, l1cd{true, 0x70003000}, 64).status,
              cd_lookup_status::bad_substream_id);
}

TEST(cd_table_two_level, ssid_out_of_range_is_bad) {
    const auto cfg = cd_cfg(0x60000, cd_table_format::two_level_64k, 12);
    EXPECT_EQ(locate_cd(cfg, 0x1000u).status, cd_lookup_status::bad_substream_id);
    EXPECT_EQ(locate_cd(cfg, 0xfffu).status, cd_lookup_status::l1cd);
}

TEST(cd_table_config_from_ste, copies_the_ste_fields) {
    ste s;
    s.s1_context_ptr = 0x1234c0;
    s.s1_fmt = cd_table_format::two_level_64k;
    s.s1_cd_max = 13;
    feature_set f;
    f.ssid_bits = 16;
    const cd_table_config cfg = make_cd_table_config(s, f);
    EXPECT_EQ(cfg.context_ptr, 0x1234c0u);
    EXPECT_EQ(cfg.fmt, cd_table_format::two_level_64k);
    EXPECT_EQ(cfg.cd_max, 13u);
    EXPECT_EQ(cfg.ssid_bits, 16u);
}

} // namespace
} // namespace smmu::arch
