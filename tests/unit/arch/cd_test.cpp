#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "model/arch/cd.h"

namespace smmu::arch {

// Readable gtest output; internal linkage so no other test TU can clash.
static void PrintTo(cd_illegal_reason r, std::ostream* os) {
    *os << to_string(r);
}

namespace {

structure_words only(unsigned index, std::uint64_t value) {
    structure_words w{};
    w[index] = value;
    return w;
}

// --- Golden field positions (literal words worked out from reference §4.1) ---

struct cd_golden {
    const char* name;
    void (*set)(cd&);
    unsigned word;
    std::uint64_t expected;
};

void PrintTo(const cd_golden& g, std::ostream* os) {
    *os << g.name;
}

class cd_field_golden : public ::testing::TestWithParam<cd_golden> {};

TEST_P(cd_field_golden, encodes_to_literal_word) {
    const cd_golden& g = GetParam();
    cd c;
    g.set(c);
    EXPECT_EQ(encode_cd(c), only(g.word, g.expected));
}

TEST_P(cd_field_golden, decodes_from_literal_word) {
    const cd_golden& g = GetParam();
    cd expected;
    g.set(expected);
    EXPECT_EQ(decode_cd(only(g.word, g.expected)), expected);
}

const cd_golden k_cd_golden[] = {
    // Word 0
    {"t0sz_all", [](cd& c) { c.t0sz = 63; }, 0, 0x3full},
    {"t0sz_25", [](cd& c) { c.t0sz = 25; }, 0, 0x19ull},
    {"tg0_reserved", [](cd& c) { c.tg0 = tg0_encoding::reserved; }, 0, 0xc0ull},
    {"tg0_16k", [](cd& c) { c.tg0 = tg0_encoding::size_16k; }, 0, 0x80ull},
    {"tg0_64k", [](cd& c) { c.tg0 = tg0_encoding::size_64k; }, 0, 0x40ull},
    {"ir0_all", [](cd& c) { c.ir0 = walk_cacheability::wb_ra_no_wa; }, 0, 0x300ull},
    {"ir0_wb", [](cd& c) { c.ir0 = walk_cacheability::wb_ra_wa; }, 0, 0x100ull},
    {"or0_all", [](cd& c) { c.or0 = walk_cacheability::wb_ra_no_wa; }, 0, 0xc00ull},
    {"or0_wt", [](cd& c) { c.or0 = walk_cacheability::wt_ra; }, 0, 0x800ull},
    {"sh0_inner", [](cd& c) { c.sh0 = shareability_encoding::inner; }, 0, 0x3000ull},
    {"sh0_outer", [](cd& c) { c.sh0 = shareability_encoding::outer; }, 0, 0x2000ull},
    {"epd0", [](cd& c) { c.epd0 = true; }, 0, 0x4000ull},
    {"endi", [](cd& c) { c.endi = true; }, 0, 0x8000ull},
    {"t1sz_all", [](cd& c) { c.t1sz = 63; }, 0, 0x3f0000ull},
    {"t1sz_16", [](cd& c) { c.t1sz = 16; }, 0, 0x100000ull},
    {"tg1_64k", [](cd& c) { c.tg1 = tg1_encoding::size_64k; }, 0, 0xc00000ull},
    {"tg1_4k", [](cd& c) { c.tg1 = tg1_encoding::size_4k; }, 0, 0x800000ull},
    {"tg1_16k", [](cd& c) { c.tg1 = tg1_encoding::size_16k; }, 0, 0x400000ull},
    {"ir1_all", [](cd& c) { c.ir1 = walk_cacheability::wb_ra_no_wa; }, 0, 0x3000000ull},
    {"ir1_wt", [](cd& c) { c.ir1 = walk_cacheability::wt_ra; }, 0, 0x2000000ull},
    {"or1_all", [](cd& c) { c.or1 = walk_cacheability::wb_ra_no_wa; }, 0, 0xc000000ull},
    {"or1_wb", [](cd& c) { c.or1 = walk_cacheability::wb_ra_wa; }, 0, 0x4000000ull},
    {"sh1_inner", [](cd& c) { c.sh1 = shareability_encoding::inner; }, 0, 0x30000000ull},
    {"sh1_outer", [](cd& c) { c.sh1 = shareability_encoding::outer; }, 0, 0x20000000ull},
    {"epd1", [](cd& c) { c.epd1 = true; }, 0, 0x40000000ull},
    {"v", [](cd& c) { c.v = true; }, 0, 0x80000000ull},
    {"ips_all", [](cd& c) { c.ips = pa_size_encoding::bits_56; }, 0, 0x0000000700000000ull},
    {"ips_44", [](cd& c) { c.ips = pa_size_encoding::bits_44; }, 0, 0x0000000400000000ull},
    {"affd", [](cd& c) { c.affd = true; }, 0, 0x0000000800000000ull},
    {"wxn", [](cd& c) { c.wxn = true; }, 0, 0x0000001000000000ull},
    {"uwxn", [](cd& c) { c.uwxn = true; }, 0, 0x0000002000000000ull},
    {"tbi0", [](cd& c) { c.tbi0 = true; }, 0, 0x0000004000000000ull},
    {"tbi1", [](cd& c) { c.tbi1 = true; }, 0, 0x0000008000000000ull},
    {"pan", [](cd& c) { c.pan = true; }, 0, 0x0000010000000000ull},
    {"aa64", [](cd& c) { c.aa64 = true; }, 0, 0x0000020000000000ull},
    {"hd", [](cd& c) { c.hd = true; }, 0, 0x0000040000000000ull},
    {"ha", [](cd& c) { c.ha = true; }, 0, 0x0000080000000000ull},
    {"s", [](cd& c) { c.s = true; }, 0, 0x0000100000000000ull},
    {"r", [](cd& c) { c.r = true; }, 0, 0x0000200000000000ull},
    {"a", [](cd& c) { c.a = true; }, 0, 0x0000400000000000ull},
    {"aset", [](cd& c) { c.aset = true; }, 0, 0x0000800000000000ull},
    {"asid_all", [](cd& c) { c.asid = 0xffff; }, 0, 0xffff000000000000ull},
    {"asid_1234", [](cd& c) { c.asid = 0x1234; }, 0, 0x1234000000000000ull},
    // Word 1
    {"nscfg0", [](cd& c) { c.nscfg0 = true; }, 1, 0x1ull},
    {"had0", [](cd& c) { c.had0 = true; }, 1, 0x2ull},
    {"e0pd0", [](cd& c) { c.e0pd0 = true; }, 1, 0x4ull},
    {"haft", [](cd& c) { c.haft = true; }, 1, 0x8ull},
    {"ttb0_all", [](cd& c) { c.ttb0 = 0x000ffffffffffff0ull; }, 1, 0x000ffffffffffff0ull},
    {"ttb0_pattern", [](cd& c) { c.ttb0 = 0x0000000123456780ull; }, 1, 0x0000000123456780ull},
    {"hwu059", [](cd& c) { c.hwu059 = true; }, 1, 0x1000000000000000ull},
    {"hwu060", [](cd& c) { c.hwu060 = true; }, 1, 0x2000000000000000ull},
    {"hwu061", [](cd& c) { c.hwu061 = true; }, 1, 0x4000000000000000ull},
    {"hwu062", [](cd& c) { c.hwu062 = true; }, 1, 0x8000000000000000ull},
    // Word 2
    {"nscfg1", [](cd& c) { c.nscfg1 = true; }, 2, 0x1ull},
    {"had1", [](cd& c) { c.had1 = true; }, 2, 0x2ull},
    {"e0pd1", [](cd& c) { c.e0pd1 = true; }, 2, 0x4ull},
    {"ttb1_all", [](cd& c) { c.ttb1 = 0x000ffffffffffff0ull; }, 2, 0x000ffffffffffff0ull},
    {"ttb1_pattern", [](cd& c) { c.ttb1 = 0x00000fedcba98760ull; }, 2, 0x00000fedcba98760ull},
    {"ds", [](cd& c) { c.ds = true; }, 2, 0x0400000000000000ull},
    {"hwu159", [](cd& c) { c.hwu159 = true; }, 2, 0x1000000000000000ull},
    {"hwu160", [](cd& c) { c.hwu160 = true; }, 2, 0x2000000000000000ull},
    {"hwu161", [](cd& c) { c.hwu161 = true; }, 2, 0x4000000000000000ull},
    {"hwu162", [](cd& c) { c.hwu162 = true; }, 2, 0x8000000000000000ull},
    // Words 3-5
    {"mair0", [](cd& c) { c.mair0 = 0x44ff04f4; }, 3, 0x0000000044ff04f4ull},
    {"mair1", [](cd& c) { c.mair1 = 0x12345678; }, 3, 0x1234567800000000ull},
    {"amair0", [](cd& c) { c.amair0 = 0xa5a5a5a5; }, 4, 0x00000000a5a5a5a5ull},
    {"amair1", [](cd& c) { c.amair1 = 0x0f0f0f0f; }, 4, 0x0f0f0f0f00000000ull},
    {"impdef", [](cd& c) { c.imp_def = 0xdeadbeef; }, 5, 0x00000000deadbeefull},
    {"partid_all", [](cd& c) { c.partid = 0xffff; }, 5, 0x0000ffff00000000ull},
    {"partid_1f", [](cd& c) { c.partid = 0x1f; }, 5, 0x0000001f00000000ull},
    {"pmg_all", [](cd& c) { c.pmg = 0xff; }, 5, 0x00ff000000000000ull},
    {"pmg_5", [](cd& c) { c.pmg = 0x5; }, 5, 0x0005000000000000ull},
};

INSTANTIATE_TEST_SUITE_P(fields, cd_field_golden, ::testing::ValuesIn(k_cd_golden),
                         [](const ::testing::TestParamInfo<cd_golden>& param_info) {
                             return std::string(param_info.param.name);
                         });

TEST(cd_codec, default_cd_encodes_to_zero) {
    EXPECT_EQ(encode_cd(cd{}), structure_words{});
}

TEST(cd_codec, all_ones_keeps_exactly_the_defined_bits) {
    structure_words ones;
    ones.fill(~0ull);
    const structure_words kept = encode_cd(decode_cd(ones));
    EXPECT_EQ(kept[0], 0xffffffffffffffffull);
    EXPECT_EQ(kept[1], 0xf00fffffffffffffull) << "W1[59:52]: RES0, PnCH, EPAN";
    EXPECT_EQ(kept[2], 0xf40ffffffffffff7ull) << "W2[3] AIE, [57:52] RES0, [59] PIE";
    EXPECT_EQ(kept[3], 0xffffffffffffffffull);
    EXPECT_EQ(kept[4], 0xffffffffffffffffull);
    EXPECT_EQ(kept[5], 0x00ffffffffffffffull);
    EXPECT_EQ(kept[6], 0u) << "PIIU (v3.4)";
    EXPECT_EQ(kept[7], 0u) << "PIIP (v3.4)";
}

TEST(cd_codec, ttb_bits_55_to_52_are_res0) {
    EXPECT_EQ(decode_cd(only(1, 0x00f0000000001000ull)).ttb0, 0x1000u);
    EXPECT_EQ(decode_cd(only(2, 0x00f0000000002000ull)).ttb1, 0x2000u);
}

cd fully_populated() {
    cd c;
    c.t0sz = 25;
    c.tg0 = tg0_encoding::size_64k;
    c.ir0 = walk_cacheability::wb_ra_wa;
    c.or0 = walk_cacheability::wt_ra;
    c.sh0 = shareability_encoding::inner;
    c.endi = true;
    c.t1sz = 17;
    c.tg1 = tg1_encoding::size_16k;
    c.ir1 = walk_cacheability::wb_ra_no_wa;
    c.sh1 = shareability_encoding::outer;
    c.epd1 = true;
    c.v = true;
    c.ips = pa_size_encoding::bits_42;
    c.wxn = true;
    c.tbi1 = true;
    c.aa64 = true;
    c.ha = true;
    c.r = true;
    c.aset = true;
    c.asid = 0xcafe;
    c.had0 = true;
    c.haft = true;
    c.ttb0 = 0x0000000123456780ull;
    c.hwu061 = true;
    c.nscfg1 = true;
    c.e0pd1 = true;
    c.ttb1 = 0x00000fedcba98760ull;
    c.ds = true;
    c.hwu160 = true;
    c.mair0 = 0x44ff04f4;
    c.mair1 = 0x01020304;
    c.amair1 = 0x77;
    c.imp_def = 0x13579bdf;
    c.partid = 0x1f;
    c.pmg = 0x3;
    return c;
}

TEST(cd_codec, struct_round_trip) {
    const cd c = fully_populated();
    EXPECT_EQ(decode_cd(encode_cd(c)), c);
}

TEST(cd_codec, words_round_trip) {
    // T0SZ=31, 4K, WBWA, ISH, TG1=4K, EPD1, V, IPS=48, AA64, R, A, ASET, ASID 5.
    const structure_words w = {0x0005e205c080351full,
                               0x0000000081234000ull,
                               0,
                               0xf404ff44f404ff44ull,
                               0,
                               0x0002000100000000ull,
                               0,
                               0};
    const cd c = decode_cd(w);
    EXPECT_EQ(c.t0sz, 31u);
    EXPECT_TRUE(c.v);
    EXPECT_TRUE(c.epd1);
    EXPECT_EQ(c.tg1, tg1_encoding::size_4k);
    EXPECT_EQ(c.ips, pa_size_encoding::bits_48);
    EXPECT_EQ(c.sh0, shareability_encoding::inner);
    EXPECT_EQ(c.asid, 5u);
    EXPECT_EQ(c.partid, 1u);
    EXPECT_EQ(c.pmg, 2u);
    EXPECT_EQ(encode_cd(c), w);
}

TEST(cd_codec, equality_sees_every_field) {
    const cd a = fully_populated();
    cd b = a;
    b.pmg = 0;
    EXPECT_NE(a, b);
    b = a;
    b.hwu160 = false;
    EXPECT_NE(a, b);
}

TEST(cd_codec, mair_concatenates_both_halves) {
    cd c;
    c.mair0 = 0x44ff04f4;
    c.mair1 = 0x01020304;
    EXPECT_EQ(cd_mair(c), 0x0102030444ff04f4ull);
}

TEST(cd_helpers, effective_ips) {
    feature_set f;
    f.oas_bits = 44;
    cd c;
    c.aa64 = true;
    c.ips = pa_size_encoding::bits_48;
    EXPECT_EQ(effective_ips_bits(c, f), 44u);
    c.ips = pa_size_encoding::bits_36;
    EXPECT_EQ(effective_ips_bits(c, f), 36u);
    c.aa64 = false;
    EXPECT_EQ(effective_ips_bits(c, f), 40u) << "VMSAv8-32: fixed 40 bits";
}

TEST(cd_helpers, ttb_enables_follow_epd_and_world) {
    cd c;
    c.epd0 = true;
    c.epd1 = true;
    EXPECT_FALSE(cd_ttb0_enabled(c, stream_world::ns_el1));
    EXPECT_FALSE(cd_ttb1_enabled(c, stream_world::ns_el2_e2h));
    EXPECT_TRUE(cd_ttb0_enabled(c, stream_world::ns_el2)) << "EPD0 IGNORED for EL2";
    c.epd1 = false;
    EXPECT_TRUE(cd_ttb1_enabled(c, stream_world::ns_el1));
    EXPECT_FALSE(cd_ttb1_enabled(c, stream_world::ns_el2)) << "EL2 has no TTB1";
}

TEST(cd_helpers, check_context_from_ste) {
    feature_set f;
    ste s;
    s.config = ste_config::s1_translate;
    s.strw = ste_strw::el2;
    s.s1_stalld = true;
    ste_check_context ctx;
    ctx.e2h = true;
    cd_check_context c = make_cd_check_context(s, f, ctx);
    EXPECT_EQ(c.world, stream_world::ns_el2_e2h);
    EXPECT_TRUE(c.s1_stalld);
    EXPECT_FALSE(c.s2_aarch32);
    s.config = ste_config::nested;
    s.s2_aa64 = false;
    c = make_cd_check_context(s, f, ctx);
    EXPECT_EQ(c.world, stream_world::ns_el1);
    EXPECT_TRUE(c.s2_aarch32);
    s.s2_aa64 = true;
    EXPECT_FALSE(make_cd_check_context(s, f, ctx).s2_aarch32);
}

// --- Validation: one test per reason, each with a legal counterpart ------------

cd valid_cd() {
    cd c;
    c.v = true;
    c.aa64 = true;
    c.t0sz = 16;
    c.tg0 = tg0_encoding::size_4k;
    c.ips = pa_size_encoding::bits_48;
    c.epd1 = true;
    c.r = true;
    c.a = true;
    c.aset = true;
    c.asid = 1;
    c.ttb0 = 0x1000;
    return c;
}

/// TTB1 enabled as well, with its own (legal) configuration.
cd valid_cd_two_ttbs() {
    cd c = valid_cd();
    c.epd1 = false;
    c.t1sz = 25;
    c.tg1 = tg1_encoding::size_4k;
    c.ttb1 = 0x2000;
    return c;
}

const cd_check_context k_el1{};

cd_check_context world(stream_world w) {
    cd_check_context ctx;
    ctx.world = w;
    return ctx;
}

TEST(cd_validate, baselines_are_legal) {
    const feature_set f;
    EXPECT_EQ(validate_cd(valid_cd(), f, k_el1), cd_illegal_reason::none);
    EXPECT_EQ(validate_cd(valid_cd_two_ttbs(), f, k_el1), cd_illegal_reason::none);
    EXPECT_EQ(validate_cd(valid_cd(), f, world(stream_world::ns_el2)), cd_illegal_reason::none);
    EXPECT_EQ(validate_cd(valid_cd(), f, world(stream_world::ns_el2_e2h)), cd_illegal_reason::none);
}

TEST(cd_validate, not_valid) {
    cd c = valid_cd();
    c.v = false;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::not_valid);
}

TEST(cd_validate, stall_disabled_by_ste) {
    feature_set f;
    f.stalls = stall_model::stall_and_terminate;
    cd c = valid_cd();
    c.s = true;
    cd_check_context ctx;
    ctx.s1_stalld = true;
    EXPECT_EQ(validate_cd(c, f, ctx), cd_illegal_reason::stall_disabled_by_ste);
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, abort_required) {
    feature_set f;
    f.term_model = true;
    cd c = valid_cd();
    c.a = false;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::abort_required);
    f.term_model = false;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, stall_not_supported) {
    feature_set f;
    f.stalls = stall_model::terminate_only;
    cd c = valid_cd();
    c.s = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::stall_not_supported);
    f.stalls = stall_model::stall_and_terminate;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, stall_required) {
    feature_set f;
    f.stalls = stall_model::stall_forced;
    cd c = valid_cd();
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::stall_required);
    c.s = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, endianness_not_supported) {
    feature_set f;
    f.endian = tt_endian::little;
    cd c = valid_cd();
    c.endi = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::endianness_not_supported);
    f.endian = tt_endian::mixed;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    f.endian = tt_endian::big;
    c.endi = false;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::endianness_not_supported);
}

TEST(cd_validate, endianness_ignored_when_both_ttbs_disabled) {
    feature_set f;
    f.endian = tt_endian::little;
    cd c = valid_cd();
    c.endi = true;
    c.epd0 = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    EXPECT_EQ(validate_cd(c, f, world(stream_world::ns_el2)),
              cd_illegal_reason::endianness_not_supported)
        << "EPD0 is IGNORED for EL2";
}

TEST(cd_validate, aarch32_not_supported) {
    cd c = valid_cd();
    c.aa64 = false;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::aarch32_not_supported);
    feature_set f;
    f.ttf_aarch32 = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, aarch32_not_allowed_for_el2_e2h) {
    feature_set f;
    f.ttf_aarch32 = true;
    cd c = valid_cd();
    c.aa64 = false;
    EXPECT_EQ(validate_cd(c, f, world(stream_world::ns_el2_e2h)),
              cd_illegal_reason::aarch32_not_allowed);
    EXPECT_EQ(validate_cd(c, f, world(stream_world::ns_el2)), cd_illegal_reason::none);
}

TEST(cd_validate, aarch64_not_supported) {
    feature_set f;
    f.ttf_aarch32 = true;
    f.ttf_aarch64 = false;
    EXPECT_EQ(validate_cd(valid_cd(), f, k_el1), cd_illegal_reason::aarch64_not_supported);
}

TEST(cd_validate, aarch64_over_aarch32_stage2) {
    cd_check_context ctx;
    ctx.s2_aarch32 = true;
    EXPECT_EQ(validate_cd(valid_cd(), {}, ctx), cd_illegal_reason::aarch64_over_aarch32_stage2);
    feature_set f;
    f.ttf_aarch32 = true;
    cd c = valid_cd();
    c.aa64 = false;
    EXPECT_EQ(validate_cd(c, f, ctx), cd_illegal_reason::none);
}

TEST(cd_validate, httu_not_supported) {
    feature_set f;
    f.httu = httu_level::none;
    cd c = valid_cd();
    c.ha = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::httu_not_supported);
    c.ha = false;
    c.hd = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::httu_not_supported);
    c.hd = false;
    c.ha = true;
    f.httu = httu_level::access_flag;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, hd_not_supported) {
    feature_set f;
    f.httu = httu_level::access_flag;
    cd c = valid_cd();
    c.ha = true;
    c.hd = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::hd_not_supported);
    f.httu = httu_level::access_and_dirty;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, httu_ignored_for_aarch32) {
    feature_set f;
    f.ttf_aarch32 = true;
    f.httu = httu_level::none;
    cd c = valid_cd();
    c.aa64 = false;
    c.ha = true;
    c.hd = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, haft_without_ha) {
    feature_set f;
    f.httu = httu_level::haft;
    cd c = valid_cd();
    c.haft = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::haft_without_ha);
    c.ha = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    c.ha = false;
    f.httu = httu_level::access_and_dirty; // HAFT is RES0 below HTTU=0b11
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, asid_too_large) {
    feature_set f;
    f.asid16 = false;
    cd c = valid_cd();
    c.asid = 0x100;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::asid_too_large);
    EXPECT_EQ(validate_cd(c, f, world(stream_world::ns_el2_e2h)),
              cd_illegal_reason::asid_too_large);
    EXPECT_EQ(validate_cd(c, f, world(stream_world::ns_el2)), cd_illegal_reason::none)
        << "ASID IGNORED for EL2";
    c.asid = 0xff;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    f.asid16 = true;
    c.asid = 0xffff;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, t0sz_out_of_range) {
    feature_set f;
    cd c = valid_cd();
    c.t0sz = 40;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::t0sz_out_of_range);
    c.t0sz = 39;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    c.t0sz = 15;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::t0sz_out_of_range);
    c.t0sz = 40;
    f.stt = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    c.t0sz = 48;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    c.tg0 = tg0_encoding::size_64k;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::t0sz_out_of_range) << "max 47 with 64K";
}

TEST(cd_validate, t0sz_min_12_needs_vax52_and_64k_or_ds) {
    feature_set f;
    f.oas_bits = 52;
    cd c = valid_cd();
    c.t0sz = 12;
    c.tg0 = tg0_encoding::size_64k;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::t0sz_out_of_range);
    f.vax52 = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    c.tg0 = tg0_encoding::size_4k;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::t0sz_out_of_range);
    c.ds = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::t0sz_out_of_range) << "no IDR5.DS";
    f.ds = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, txsz_unchecked_when_disabled_or_aarch32) {
    feature_set f;
    cd c = valid_cd_two_ttbs();
    c.t0sz = 63;
    c.epd0 = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    f.ttf_aarch32 = true;
    c = valid_cd();
    c.aa64 = false;
    c.t0sz = 63;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, t1sz_out_of_range) {
    cd c = valid_cd_two_ttbs();
    c.t1sz = 40;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::t1sz_out_of_range);
    c.t1sz = 16;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::none);
    c.t1sz = 40;
    c.epd1 = true;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, tg0_reserved) {
    cd c = valid_cd();
    c.tg0 = tg0_encoding::reserved;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::tg0_reserved);
    c.epd0 = true;
    c.epd1 = false;
    c.tg1 = tg1_encoding::size_4k;
    c.t1sz = 16;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::none) << "IGNORED with EPD0";
}

TEST(cd_validate, tg0_not_supported) {
    feature_set f;
    f.gran4k = false;
    cd c = valid_cd();
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::tg0_not_supported);
    c.tg0 = tg0_encoding::size_16k;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, tg_ignored_for_aarch32) {
    feature_set f;
    f.ttf_aarch32 = true;
    cd c = valid_cd_two_ttbs();
    c.aa64 = false;
    c.tg0 = tg0_encoding::reserved;
    c.tg1 = tg1_encoding::reserved;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, ttb0_out_of_range) {
    cd c = valid_cd();
    c.ips = pa_size_encoding::bits_40;
    c.ttb0 = 0x10000000000ull; // bit 40
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::ttb0_out_of_range);
    c.ttb0 = 0xfffffffff0ull;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::none);
    c.ttb0 = 0x10000000000ull;
    c.epd0 = true;
    c.epd1 = false;
    c.tg1 = tg1_encoding::size_4k;
    c.t1sz = 16;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::none) << "IGNORED with EPD0";
}

TEST(cd_validate, ttb0_capped_by_oas_and_48_bits) {
    feature_set f;
    f.oas_bits = 52;
    cd c = valid_cd();
    c.ips = pa_size_encoding::bits_52;
    c.ttb0 = 0x1000000000000ull; // bit 48
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::ttb0_out_of_range);
    c.tg0 = tg0_encoding::size_64k;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    c.tg0 = tg0_encoding::size_4k;
    c.ds = true;
    f.ds = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
    f.oas_bits = 48;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::ttb0_out_of_range)
        << "IPS capped by OAS";
}

TEST(cd_validate, ttb0_aarch32_limited_to_40_bits) {
    feature_set f;
    f.ttf_aarch32 = true;
    cd c = valid_cd();
    c.aa64 = false;
    c.ttb0 = 0x10000000000ull;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::ttb0_out_of_range);
    c.ttb0 = 0x8000000000ull;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, tg1_reserved) {
    cd c = valid_cd_two_ttbs();
    c.tg1 = tg1_encoding::reserved;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::tg1_reserved);
    EXPECT_EQ(validate_cd(c, {}, world(stream_world::ns_el2)), cd_illegal_reason::none)
        << "EL2 has no TTB1";
}

TEST(cd_validate, tg1_not_supported) {
    feature_set f;
    f.gran64k = false;
    cd c = valid_cd_two_ttbs();
    c.tg1 = tg1_encoding::size_64k;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::tg1_not_supported);
    f.gran64k = true;
    EXPECT_EQ(validate_cd(c, f, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, ttb1_out_of_range) {
    cd c = valid_cd_two_ttbs();
    c.ttb1 = 0x1000000000000ull; // bit 48 with IPS 48
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::ttb1_out_of_range);
    c.ttb1 = 0xfffffffffff0ull;
    EXPECT_EQ(validate_cd(c, {}, k_el1), cd_illegal_reason::none);
}

TEST(cd_validate, every_reason_has_a_name) {
    for (unsigned r = 0; r <= static_cast<unsigned>(cd_illegal_reason::ttb1_out_of_range); ++r)
        EXPECT_STRNE(to_string(static_cast<cd_illegal_reason>(r)), "unknown") << r;
}

} // namespace
} // namespace smmu::arch
