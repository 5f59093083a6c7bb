#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "model/arch/ste.h"

namespace smmu::arch {

// Readable gtest output; internal linkage so no other test TU can clash.
static void PrintTo(ste_illegal_reason r, std::ostream* os) {
    *os << to_string(r);
}

namespace {

structure_words only(unsigned index, std::uint64_t value) {
    structure_words w{};
    w[index] = value;
    return w;
}

// --- Golden field positions (literal words worked out from reference §3.1) ---

struct ste_golden {
    const char* name;
    void (*set)(ste&);
    unsigned word;
    std::uint64_t expected;
};

void PrintTo(const ste_golden& g, std::ostream* os) {
    *os << g.name;
}

class ste_field_golden : public ::testing::TestWithParam<ste_golden> {};

TEST_P(ste_field_golden, encodes_to_literal_word) {
    const ste_golden& g = GetParam();
    ste s;
    g.set(s);
    EXPECT_EQ(encode_ste(s), only(g.word, g.expected));
}

TEST_P(ste_field_golden, decodes_from_literal_word) {
    const ste_golden& g = GetParam();
    ste expected;
    g.set(expected);
    EXPECT_EQ(decode_ste(only(g.word, g.expected)), expected);
}

const ste_golden k_ste_golden[] = {
    // Word 0
    {"v", [](ste& s) { s.v = true; }, 0, 0x0000000000000001ull},
    {"config_nested", [](ste& s) { s.config = ste_config::nested; }, 0, 0x000000000000000eull},
    {"config_bypass", [](ste& s) { s.config = ste_config::bypass; }, 0, 0x0000000000000008ull},
    {"config_s1", [](ste& s) { s.config = ste_config::s1_translate; }, 0, 0x000000000000000aull},
    {"s1fmt_64k", [](ste& s) { s.s1_fmt = cd_table_format::two_level_64k; }, 0, 0x20ull},
    {"s1fmt_reserved", [](ste& s) { s.s1_fmt = cd_table_format::reserved; }, 0, 0x30ull},
    {"s1contextptr_all", [](ste& s) { s.s1_context_ptr = 0x000fffffffffffc0ull; }, 0,
     0x000fffffffffffc0ull},
    {"s1contextptr_pattern", [](ste& s) { s.s1_context_ptr = 0x0000123456789ac0ull; }, 0,
     0x0000123456789ac0ull},
    {"s1cdmax_all", [](ste& s) { s.s1_cd_max = 31; }, 0, 0xf800000000000000ull},
    {"s1cdmax_20", [](ste& s) { s.s1_cd_max = 20; }, 0, 0xa000000000000000ull},
    // Word 1
    {"s1dss_ssid0", [](ste& s) { s.s1_dss = ste_s1dss::substream0; }, 1, 0x2ull},
    {"s1dss_reserved", [](ste& s) { s.s1_dss = ste_s1dss::reserved; }, 1, 0x3ull},
    {"s1cir_wt", [](ste& s) { s.s1_cir = fetch_cacheability::wt_read_allocate; }, 1, 0x8ull},
    {"s1cir_all", [](ste& s) { s.s1_cir = fetch_cacheability::wb_no_read_allocate; }, 1, 0xcull},
    {"s1cor_all", [](ste& s) { s.s1_cor = fetch_cacheability::wb_no_read_allocate; }, 1, 0x30ull},
    {"s1cor_wb", [](ste& s) { s.s1_cor = fetch_cacheability::wb_read_allocate; }, 1, 0x10ull},
    {"s1csh_inner", [](ste& s) { s.s1_csh = shareability_encoding::inner; }, 1, 0xc0ull},
    {"s1csh_outer", [](ste& s) { s.s1_csh = shareability_encoding::outer; }, 1, 0x80ull},
    {"s2hwu59", [](ste& s) { s.s2_hwu59 = true; }, 1, 0x100ull},
    {"s2hwu60", [](ste& s) { s.s2_hwu60 = true; }, 1, 0x200ull},
    {"s2hwu61", [](ste& s) { s.s2_hwu61 = true; }, 1, 0x400ull},
    {"s2hwu62", [](ste& s) { s.s2_hwu62 = true; }, 1, 0x800ull},
    {"dre", [](ste& s) { s.dre = true; }, 1, 0x1000ull},
    {"cont_all", [](ste& s) { s.cont = 15; }, 1, 0x1e000ull},
    {"cont_5", [](ste& s) { s.cont = 5; }, 1, 0xa000ull},
    {"dcp", [](ste& s) { s.dcp = true; }, 1, 0x20000ull},
    {"ppar", [](ste& s) { s.ppar = true; }, 1, 0x40000ull},
    {"mev", [](ste& s) { s.mev = true; }, 1, 0x80000ull},
    {"sw_reserved_all", [](ste& s) { s.sw_reserved = 15; }, 1, 0xf00000ull},
    {"sw_reserved_9", [](ste& s) { s.sw_reserved = 9; }, 1, 0x900000ull},
    {"s2fwb", [](ste& s) { s.s2_fwb = true; }, 1, 0x2000000ull},
    {"s1mpam", [](ste& s) { s.s1_mpam = true; }, 1, 0x4000000ull},
    {"s1stalld", [](ste& s) { s.s1_stalld = true; }, 1, 0x8000000ull},
    {"eats_full", [](ste& s) { s.eats = ste_eats::full; }, 1, 0x10000000ull},
    {"eats_split", [](ste& s) { s.eats = ste_eats::split; }, 1, 0x20000000ull},
    {"eats_dpt", [](ste& s) { s.eats = ste_eats::full_dpt; }, 1, 0x30000000ull},
    {"strw_el2", [](ste& s) { s.strw = ste_strw::el2; }, 1, 0x80000000ull},
    {"strw_reserved_1", [](ste& s) { s.strw = ste_strw::reserved_1; }, 1, 0x40000000ull},
    {"memattr_all", [](ste& s) { s.mem_attr = 0xf; }, 1, 0x0000000f00000000ull},
    {"memattr_nc", [](ste& s) { s.mem_attr = 0x5; }, 1, 0x0000000500000000ull},
    {"mtcfg", [](ste& s) { s.mtcfg = true; }, 1, 0x0000001000000000ull},
    {"alloccfg_all", [](ste& s) { s.alloccfg = 0xf; }, 1, 0x000001e000000000ull},
    {"alloccfg_a", [](ste& s) { s.alloccfg = 0xa; }, 1, 0x0000014000000000ull},
    {"shcfg_inner", [](ste& s) { s.shcfg = ste_shcfg::inner; }, 1, 0x0000300000000000ull},
    {"shcfg_incoming", [](ste& s) { s.shcfg = ste_shcfg::incoming; }, 1, 0x0000100000000000ull},
    {"nscfg_ns", [](ste& s) { s.nscfg = ste_nscfg::non_secure; }, 1, 0x0000c00000000000ull},
    {"nscfg_secure", [](ste& s) { s.nscfg = ste_nscfg::secure; }, 1, 0x0000800000000000ull},
    {"privcfg_priv", [](ste& s) { s.privcfg = ste_privcfg::privileged; }, 1, 0x0003000000000000ull},
    {"privcfg_unpriv", [](ste& s) { s.privcfg = ste_privcfg::unprivileged; }, 1,
     0x0002000000000000ull},
    {"instcfg_inst", [](ste& s) { s.instcfg = ste_instcfg::instruction; }, 1,
     0x000c000000000000ull},
    {"instcfg_data", [](ste& s) { s.instcfg = ste_instcfg::data; }, 1, 0x0008000000000000ull},
    {"impdef_w1_all", [](ste& s) { s.imp_def_w1 = 0xfff; }, 1, 0xfff0000000000000ull},
    {"impdef_w1_abc", [](ste& s) { s.imp_def_w1 = 0xabc; }, 1, 0xabc0000000000000ull},
    // Word 2
    {"s2vmid_all", [](ste& s) { s.s2_vmid = 0xffff; }, 2, 0xffffull},
    {"s2vmid_1234", [](ste& s) { s.s2_vmid = 0x1234; }, 2, 0x1234ull},
    {"impdef_w2", [](ste& s) { s.imp_def_w2 = 0xbeef; }, 2, 0xbeef0000ull},
    {"s2t0sz_all", [](ste& s) { s.s2_t0sz = 63; }, 2, 0x0000003f00000000ull},
    {"s2t0sz_25", [](ste& s) { s.s2_t0sz = 25; }, 2, 0x0000001900000000ull},
    {"s2sl0_all", [](ste& s) { s.s2_sl0 = 3; }, 2, 0x000000c000000000ull},
    {"s2sl0_value2", [](ste& s) { s.s2_sl0 = 2; }, 2, 0x0000008000000000ull},
    {"s2ir0_all", [](ste& s) { s.s2_ir0 = walk_cacheability::wb_ra_no_wa; }, 2,
     0x0000030000000000ull},
    {"s2ir0_wt", [](ste& s) { s.s2_ir0 = walk_cacheability::wt_ra; }, 2, 0x0000020000000000ull},
    {"s2or0_all", [](ste& s) { s.s2_or0 = walk_cacheability::wb_ra_no_wa; }, 2,
     0x00000c0000000000ull},
    {"s2or0_wb", [](ste& s) { s.s2_or0 = walk_cacheability::wb_ra_wa; }, 2, 0x0000040000000000ull},
    {"s2sh0_inner", [](ste& s) { s.s2_sh0 = shareability_encoding::inner; }, 2,
     0x0000300000000000ull},
    {"s2sh0_outer", [](ste& s) { s.s2_sh0 = shareability_encoding::outer; }, 2,
     0x0000200000000000ull},
    {"s2tg_reserved", [](ste& s) { s.s2_tg = tg0_encoding::reserved; }, 2, 0x0000c00000000000ull},
    {"s2tg_16k", [](ste& s) { s.s2_tg = tg0_encoding::size_16k; }, 2, 0x0000800000000000ull},
    {"s2tg_64k", [](ste& s) { s.s2_tg = tg0_encoding::size_64k; }, 2, 0x0000400000000000ull},
    {"s2ps_all", [](ste& s) { s.s2_ps = pa_size_encoding::bits_56; }, 2, 0x0007000000000000ull},
    {"s2ps_48", [](ste& s) { s.s2_ps = pa_size_encoding::bits_48; }, 2, 0x0005000000000000ull},
    {"s2aa64", [](ste& s) { s.s2_aa64 = true; }, 2, 0x0008000000000000ull},
    {"s2endi", [](ste& s) { s.s2_endi = true; }, 2, 0x0010000000000000ull},
    {"s2affd", [](ste& s) { s.s2_affd = true; }, 2, 0x0020000000000000ull},
    {"s2ptw", [](ste& s) { s.s2_ptw = true; }, 2, 0x0040000000000000ull},
    {"s2hd", [](ste& s) { s.s2_hd = true; }, 2, 0x0080000000000000ull},
    {"s2ha", [](ste& s) { s.s2_ha = true; }, 2, 0x0100000000000000ull},
    {"s2s", [](ste& s) { s.s2_s = true; }, 2, 0x0200000000000000ull},
    {"s2r", [](ste& s) { s.s2_r = true; }, 2, 0x0400000000000000ull},
    {"s2haft", [](ste& s) { s.s2_haft = true; }, 2, 0x0800000000000000ull},
    // Word 3
    {"s2nsw", [](ste& s) { s.s2_nsw = true; }, 3, 0x1ull},
    {"s2nsa", [](ste& s) { s.s2_nsa = true; }, 3, 0x2ull},
    {"s2sl0_2", [](ste& s) { s.s2_sl0_2 = true; }, 3, 0x4ull},
    {"s2ds", [](ste& s) { s.s2_ds = true; }, 3, 0x8ull},
    {"s2ttb_all", [](ste& s) { s.s2_ttb = 0x000ffffffffffff0ull; }, 3, 0x000ffffffffffff0ull},
    {"s2ttb_pattern", [](ste& s) { s.s2_ttb = 0x0000000012345670ull; }, 3, 0x0000000012345670ull},
    // Words 4-5
    {"impdef_w4", [](ste& s) { s.imp_def_w4 = 0xffff; }, 4, 0xffffull},
    {"partid_all", [](ste& s) { s.partid = 0xffff; }, 4, 0xffff0000ull},
    {"partid_1234", [](ste& s) { s.partid = 0x1234; }, 4, 0x12340000ull},
    {"pmg", [](ste& s) { s.pmg = 0xff; }, 5, 0xffull},
    {"mpam_ns", [](ste& s) { s.mpam_ns = true; }, 5, 0x100ull},
    {"vmsptr_all", [](ste& s) { s.vms_ptr = 0x000ffffffffff000ull; }, 5, 0x000ffffffffff000ull},
    {"vmsptr_pattern", [](ste& s) { s.vms_ptr = 0x0000000abcdef000ull; }, 5, 0x0000000abcdef000ull},
};

INSTANTIATE_TEST_SUITE_P(fields, ste_field_golden, ::testing::ValuesIn(k_ste_golden),
                         [](const ::testing::TestParamInfo<ste_golden>& param_info) {
                             return std::string(param_info.param.name);
                         });

TEST(ste_codec, default_ste_encodes_to_zero) {
    EXPECT_EQ(encode_ste(ste{}), structure_words{});
}

TEST(ste_codec, all_ones_keeps_exactly_the_defined_bits) {
    structure_words ones;
    ones.fill(~0ull);
    const structure_words kept = encode_ste(decode_ste(ones));
    EXPECT_EQ(kept[0], 0xf80fffffffffffffull) << "W0[58:52] RES0";
    EXPECT_EQ(kept[1], 0xfffff1fffeffffffull) << "W1[24] S1PIE (v3.4), W1[43:41] RES0";
    EXPECT_EQ(kept[2], 0x0fffffffffffffffull) << "W2[63:60] v3.3+ fields";
    EXPECT_EQ(kept[3], 0x000fffffffffffffull) << "W3[63:52] RES0/D128";
    EXPECT_EQ(kept[4], 0x00000000ffffffffull) << "W4[63:32] Secure S2 / MECID";
    EXPECT_EQ(kept[5], 0x000ffffffffff1ffull) << "W5[11:9] v3.3+, [63:52]";
    EXPECT_EQ(kept[6], 0u);
    EXPECT_EQ(kept[7], 0u);
}

TEST(ste_codec, address_bits_55_to_52_are_res0) {
    const ste s = decode_ste(only(0, 0x00f0000000000040ull));
    EXPECT_EQ(s.s1_context_ptr, 0x40u);
    EXPECT_EQ(decode_ste(only(3, 0x00f0000000000010ull)).s2_ttb, 0x10u);
}

TEST(ste_codec, oversized_values_are_truncated_to_their_field) {
    ste s;
    s.cont = 0x1f;
    s.s1_cd_max = 0x3f;
    const structure_words w = encode_ste(s);
    EXPECT_EQ(w[1], 0x1e000ull);
    EXPECT_EQ(w[0], 0xf800000000000000ull);
}

ste fully_populated() {
    ste s;
    s.v = true;
    s.config = ste_config::nested;
    s.s1_fmt = cd_table_format::two_level_4k;
    s.s1_context_ptr = 0x0000123456789ac0ull;
    s.s1_cd_max = 17;
    s.s1_dss = ste_s1dss::bypass;
    s.s1_cir = fetch_cacheability::wt_read_allocate;
    s.s1_cor = fetch_cacheability::wb_read_allocate;
    s.s1_csh = shareability_encoding::outer;
    s.s2_hwu60 = true;
    s.s2_hwu62 = true;
    s.dre = true;
    s.cont = 6;
    s.ppar = true;
    s.sw_reserved = 0x6;
    s.s2_fwb = true;
    s.s1_stalld = true;
    s.eats = ste_eats::split;
    s.strw = ste_strw::el2;
    s.mem_attr = 0xf;
    s.mtcfg = true;
    s.alloccfg = 0xd;
    s.shcfg = ste_shcfg::incoming;
    s.nscfg = ste_nscfg::secure;
    s.privcfg = ste_privcfg::unprivileged;
    s.instcfg = ste_instcfg::data;
    s.imp_def_w1 = 0x5a5;
    s.s2_vmid = 0xbeef;
    s.imp_def_w2 = 0x1357;
    s.s2_t0sz = 25;
    s.s2_sl0 = 1;
    s.s2_ir0 = walk_cacheability::wb_ra_wa;
    s.s2_or0 = walk_cacheability::wt_ra;
    s.s2_sh0 = shareability_encoding::inner;
    s.s2_tg = tg0_encoding::size_16k;
    s.s2_ps = pa_size_encoding::bits_44;
    s.s2_aa64 = true;
    s.s2_affd = true;
    s.s2_ha = true;
    s.s2_r = true;
    s.s2_sl0_2 = true;
    s.s2_ttb = 0x0000000abcdef010ull;
    s.imp_def_w4 = 0x2468;
    s.partid = 0x77;
    s.pmg = 0x12;
    s.vms_ptr = 0x0000000123456000ull;
    return s;
}

TEST(ste_codec, struct_round_trip) {
    const ste s = fully_populated();
    EXPECT_EQ(decode_ste(encode_ste(s)), s);
}

TEST(ste_codec, words_round_trip) {
    const structure_words w = {0x8800123456789acbull,
                               0x0000400000a0c045ull,
                               0x02256a1900051234ull,
                               0x0000000abcdef018ull,
                               0x0012abcdull,
                               0x0000000123456105ull,
                               0,
                               0};
    EXPECT_EQ(encode_ste(decode_ste(w)), w);
}

TEST(ste_codec, equality_sees_every_field) {
    const ste a = fully_populated();
    ste b = a;
    b.vms_ptr = 0;
    EXPECT_NE(a, b);
    b = a;
    b.s2_haft = true;
    EXPECT_NE(a, b);
    b = a;
    b.imp_def_w1 = 0;
    EXPECT_NE(a, b);
}

// --- Encoding helpers ---------------------------------------------------------

TEST(ste_encodings, config_stage_enables) {
    EXPECT_FALSE(config_allows_traffic(ste_config::abort));
    EXPECT_FALSE(config_allows_traffic(ste_config::reserved_3));
    EXPECT_TRUE(config_allows_traffic(ste_config::bypass));
    EXPECT_FALSE(config_stage1_enabled(ste_config::bypass));
    EXPECT_FALSE(config_stage2_enabled(ste_config::bypass));
    EXPECT_TRUE(config_stage1_enabled(ste_config::s1_translate));
    EXPECT_FALSE(config_stage2_enabled(ste_config::s1_translate));
    EXPECT_FALSE(config_stage1_enabled(ste_config::s2_translate));
    EXPECT_TRUE(config_stage2_enabled(ste_config::s2_translate));
    EXPECT_TRUE(config_stage1_enabled(ste_config::nested));
    EXPECT_TRUE(config_stage2_enabled(ste_config::nested));
    EXPECT_FALSE(config_stage1_enabled(ste_config::reserved_1)) << "0b001 behaves as abort";
}

TEST(ste_encodings, tg0_and_tg1_decode_differently) {
    EXPECT_EQ(granule_from_tg0(tg0_encoding::size_4k), granule::size_4k);
    EXPECT_EQ(granule_from_tg0(static_cast<tg0_encoding>(1)), granule::size_64k);
    EXPECT_EQ(granule_from_tg0(static_cast<tg0_encoding>(2)), granule::size_16k);
    EXPECT_EQ(granule_from_tg0(static_cast<tg0_encoding>(3)), std::nullopt);
    EXPECT_EQ(granule_from_tg1(static_cast<tg1_encoding>(0)), std::nullopt);
    EXPECT_EQ(granule_from_tg1(static_cast<tg1_encoding>(1)), granule::size_16k);
    EXPECT_EQ(granule_from_tg1(static_cast<tg1_encoding>(2)), granule::size_4k);
    EXPECT_EQ(granule_from_tg1(static_cast<tg1_encoding>(3)), granule::size_64k);
}

TEST(ste_encodings, granule_to_tg_round_trip) {
    for (granule g : {granule::size_4k, granule::size_16k, granule::size_64k}) {
        EXPECT_EQ(granule_from_tg0(tg0_from_granule(g)), g);
        EXPECT_EQ(granule_from_tg1(tg1_from_granule(g)), g);
    }
    EXPECT_EQ(static_cast<unsigned>(tg0_from_granule(granule::size_64k)), 1u);
    EXPECT_EQ(static_cast<unsigned>(tg1_from_granule(granule::size_64k)), 3u);
}

TEST(ste_encodings, pa_size_bits_per_encoding) {
    const unsigned expected[8] = {32, 36, 40, 42, 44, 48, 52, 52};
    for (unsigned e = 0; e < 8; ++e)
        EXPECT_EQ(pa_size_bits(static_cast<pa_size_encoding>(e)), expected[e]) << e;
}

TEST(ste_encodings, effective_s2ps_is_capped_by_oas) {
    feature_set f;
    f.oas_bits = 44;
    ste s;
    s.s2_aa64 = true;
    s.s2_ps = pa_size_encoding::bits_48;
    EXPECT_EQ(effective_s2ps_bits(s, f), 44u);
    s.s2_ps = pa_size_encoding::bits_40;
    EXPECT_EQ(effective_s2ps_bits(s, f), 40u);
    f.oas_bits = 52;
    s.s2_ps = pa_size_encoding::bits_56;
    EXPECT_EQ(effective_s2ps_bits(s, f), 52u);
    s.s2_aa64 = false;
    s.s2_ps = pa_size_encoding::bits_32;
    EXPECT_EQ(effective_s2ps_bits(s, f), 40u) << "VMSAv8-32 ignores S2PS";
}

TEST(ste_encodings, s2_granule_and_input_bits) {
    ste s;
    s.s2_aa64 = true;
    s.s2_tg = tg0_encoding::size_64k;
    s.s2_t0sz = 24;
    EXPECT_EQ(s2_granule(s), granule::size_64k);
    EXPECT_EQ(s2_input_bits(s), 40u);
    s.s2_tg = tg0_encoding::reserved;
    EXPECT_EQ(s2_granule(s), std::nullopt);
    s.s2_aa64 = false;
    EXPECT_EQ(s2_granule(s), granule::size_4k) << "VMSAv8-32 is always 4 KB";
    s.s2_t0sz = 0x38; // bits [5:4] ignored, T0SZ = -8
    EXPECT_EQ(s2_input_bits(s), 40u);
    s.s2_t0sz = 7;
    EXPECT_EQ(s2_input_bits(s), 25u);
}

TEST(ste_encodings, effective_s2ds_needs_feature_aa64_and_small_granule) {
    feature_set f;
    ste s;
    s.s2_aa64 = true;
    s.s2_ds = true;
    EXPECT_FALSE(effective_s2ds(s, f)) << "RES0 without IDR5.DS";
    f.ds = true;
    EXPECT_TRUE(effective_s2ds(s, f));
    s.s2_tg = tg0_encoding::size_64k;
    EXPECT_FALSE(effective_s2ds(s, f));
    s.s2_tg = tg0_encoding::size_16k;
    s.s2_aa64 = false;
    EXPECT_FALSE(effective_s2ds(s, f));
}

// --- Stage-2 start level (reference §8.3 table) ----------------------------------

struct start_case {
    const char* name;
    granule g;
    unsigned sl0;
    unsigned t0sz;
    s2_level_options opts;
    std::optional<s2_walk_start> expected;
};

void PrintTo(const start_case& c, std::ostream* os) {
    *os << c.name;
}

class s2_start_level_table : public ::testing::TestWithParam<start_case> {};

TEST_P(s2_start_level_table, matches_reference) {
    const start_case& c = GetParam();
    EXPECT_EQ(s2_start_level(c.g, c.sl0, c.t0sz, c.opts), c.expected);
}

constexpr s2_level_options k_plain{};
constexpr s2_level_options k_ttst{true, false, false};
constexpr s2_level_options k_ds{false, true, false};
constexpr s2_level_options k_ds_sl2{false, true, true};
constexpr auto k_4k = granule::size_4k;
constexpr auto k_16k = granule::size_16k;
constexpr auto k_64k = granule::size_64k;

s2_walk_start at(int level, unsigned tables, unsigned index_bits) {
    return s2_walk_start{level, tables, index_bits};
}

const start_case k_start_cases[] = {
    {"g4k_l0_t16", k_4k, 2, 16, k_plain, at(0, 1, 9)},
    {"g4k_l0_t24", k_4k, 2, 24, k_plain, at(0, 1, 1)},
    {"g4k_l0_t25_inconsistent", k_4k, 2, 25, k_plain, std::nullopt},
    {"g4k_l0_t15_no_concat_without_ds", k_4k, 2, 15, k_plain, std::nullopt},
    {"g4k_l1_t25", k_4k, 1, 25, k_plain, at(1, 1, 9)},
    {"g4k_l1_t33", k_4k, 1, 33, k_plain, at(1, 1, 1)},
    {"g4k_l1_t24_concat2", k_4k, 1, 24, k_plain, at(1, 2, 10)},
    {"g4k_l1_t21_concat16", k_4k, 1, 21, k_plain, at(1, 16, 13)},
    {"g4k_l1_t20_too_many_tables", k_4k, 1, 20, k_plain, std::nullopt},
    {"g4k_l1_t34_inconsistent", k_4k, 1, 34, k_plain, std::nullopt},
    {"g4k_l2_t34", k_4k, 0, 34, k_plain, at(2, 1, 9)},
    {"g4k_l2_t39", k_4k, 0, 39, k_plain, at(2, 1, 4)},
    {"g4k_l2_t33_concat2", k_4k, 0, 33, k_plain, at(2, 2, 10)},
    {"g4k_l2_t30_concat16", k_4k, 0, 30, k_plain, at(2, 16, 13)},
    {"g4k_l2_t29_inconsistent", k_4k, 0, 29, k_plain, std::nullopt},
    {"g4k_sl3_needs_ttst", k_4k, 3, 43, k_plain, std::nullopt},
    {"g4k_l3_t43", k_4k, 3, 43, k_ttst, at(3, 1, 9)},
    {"g4k_l3_t48", k_4k, 3, 48, k_ttst, at(3, 1, 4)},
    {"g4k_l3_t42_concat2", k_4k, 3, 42, k_ttst, at(3, 2, 10)},
    {"g4k_l3_t39_concat16", k_4k, 3, 39, k_ttst, at(3, 16, 13)},
    {"g4k_ds_l0_t15_concat2", k_4k, 2, 15, k_ds, at(0, 2, 10)},
    {"g4k_ds_l0_t12_concat16", k_4k, 2, 12, k_ds, at(0, 16, 13)},
    {"g4k_ds_sl2_lm1_t12", k_4k, 0, 12, k_ds_sl2, at(-1, 1, 4)},
    {"g4k_ds_sl2_lm1_t15", k_4k, 0, 15, k_ds_sl2, at(-1, 1, 1)},
    {"g4k_ds_sl2_reserved_sl0", k_4k, 1, 15, k_ds_sl2, std::nullopt},
    {"g16k_l1_t17", k_16k, 2, 17, k_plain, at(1, 1, 11)},
    {"g16k_l1_t27", k_16k, 2, 27, k_plain, at(1, 1, 1)},
    {"g16k_l1_t16_concat2", k_16k, 2, 16, k_plain, at(1, 2, 12)},
    {"g16k_l1_t28_inconsistent", k_16k, 2, 28, k_plain, std::nullopt},
    {"g16k_l2_t28", k_16k, 1, 28, k_plain, at(2, 1, 11)},
    {"g16k_l2_t38", k_16k, 1, 38, k_plain, at(2, 1, 1)},
    {"g16k_l2_t24_concat16", k_16k, 1, 24, k_plain, at(2, 16, 15)},
    {"g16k_l2_t23_inconsistent", k_16k, 1, 23, k_plain, std::nullopt},
    {"g16k_l3_t39", k_16k, 0, 39, k_plain, at(3, 1, 11)},
    {"g16k_l3_t35_concat16", k_16k, 0, 35, k_plain, at(3, 16, 15)},
    {"g16k_sl3_needs_ds", k_16k, 3, 16, k_plain, std::nullopt},
    {"g16k_ds_l0_t16", k_16k, 3, 16, k_ds, at(0, 1, 1)},
    {"g16k_ds_l0_t12", k_16k, 3, 12, k_ds, at(0, 1, 5)},
    {"g64k_l1_t16", k_64k, 2, 16, k_plain, at(1, 1, 6)},
    {"g64k_l1_t21", k_64k, 2, 21, k_plain, at(1, 1, 1)},
    {"g64k_l1_t12", k_64k, 2, 12, k_plain, at(1, 1, 10)},
    {"g64k_l1_t22_inconsistent", k_64k, 2, 22, k_plain, std::nullopt},
    {"g64k_l2_t22", k_64k, 1, 22, k_plain, at(2, 1, 13)},
    {"g64k_l2_t34", k_64k, 1, 34, k_plain, at(2, 1, 1)},
    {"g64k_l2_t18_concat16", k_64k, 1, 18, k_plain, at(2, 16, 17)},
    {"g64k_l2_t17_inconsistent", k_64k, 1, 17, k_plain, std::nullopt},
    {"g64k_l3_t35", k_64k, 0, 35, k_plain, at(3, 1, 13)},
    {"g64k_l3_t31_concat16", k_64k, 0, 31, k_plain, at(3, 16, 17)},
    {"g64k_l3_t30_inconsistent", k_64k, 0, 30, k_plain, std::nullopt},
    {"g64k_sl3_reserved", k_64k, 3, 35, k_ttst, std::nullopt},
    {"t0sz_above_63", k_4k, 0, 64, k_plain, std::nullopt},
    {"ia_above_52_bits", k_64k, 2, 11, k_plain, std::nullopt},
};

INSTANTIATE_TEST_SUITE_P(cases, s2_start_level_table, ::testing::ValuesIn(k_start_cases),
                         [](const ::testing::TestParamInfo<start_case>& param_info) {
                             return std::string(param_info.param.name);
                         });

TEST(s2_start_level_aarch32, level1_covers_31_to_40_bits) {
    EXPECT_EQ(s2_start_level_aarch32(1, 0), at(1, 1, 2));    // 32-bit IPA
    EXPECT_EQ(s2_start_level_aarch32(1, 1), at(1, 1, 1));    // 31 bits
    EXPECT_EQ(s2_start_level_aarch32(1, 0x8), at(1, 2, 10)); // T0SZ -8: 40 bits, 2 tables
    EXPECT_EQ(s2_start_level_aarch32(1, 2), std::nullopt);   // 30 bits needs level 2
}

TEST(s2_start_level_aarch32, level2_covers_25_to_34_bits) {
    EXPECT_EQ(s2_start_level_aarch32(0, 7), at(2, 1, 4));
    EXPECT_EQ(s2_start_level_aarch32(0, 2), at(2, 1, 9));
    EXPECT_EQ(s2_start_level_aarch32(0, 0xe), at(2, 16, 13)); // T0SZ -2: 34 bits
    EXPECT_EQ(s2_start_level_aarch32(0, 0xd), std::nullopt);  // T0SZ -3: 35 bits
}

TEST(s2_start_level_aarch32, sl0_1x_is_reserved) {
    EXPECT_EQ(s2_start_level_aarch32(2, 0), std::nullopt);
    EXPECT_EQ(s2_start_level_aarch32(3, 0), std::nullopt);
}

TEST(s2_start_level_ste, uses_stt_ds_and_sl2_from_features) {
    feature_set f;
    ste s;
    s.s2_aa64 = true;
    s.s2_tg = tg0_encoding::size_4k;
    s.s2_sl0 = 3;
    s.s2_t0sz = 43;
    EXPECT_EQ(ste_s2_start_level(s, f), std::nullopt);
    f.stt = true;
    EXPECT_EQ(ste_s2_start_level(s, f), at(3, 1, 9));
    s.s2_sl0 = 0;
    s.s2_t0sz = 12;
    s.s2_sl0_2 = true;
    s.s2_ds = true;
    EXPECT_EQ(ste_s2_start_level(s, f), std::nullopt) << "SL2 is RES0 without IDR5.DS";
    f.ds = true;
    EXPECT_EQ(ste_s2_start_level(s, f), at(-1, 1, 4));
    s.s2_tg = tg0_encoding::reserved;
    EXPECT_EQ(ste_s2_start_level(s, f), std::nullopt);
    s.s2_aa64 = false;
    s.s2_sl0 = 1;
    s.s2_t0sz = 0;
    EXPECT_EQ(ste_s2_start_level(s, f), at(1, 1, 2));
}

TEST(s2_t0sz_range, limits_follow_stt_granule_ias_and_ds) {
    feature_set f; // OAS 48, no STT, no DS
    ste s;
    s.s2_aa64 = true;
    s.s2_t0sz = 39;
    EXPECT_TRUE(s2_t0sz_in_range(s, f));
    s.s2_t0sz = 40;
    EXPECT_FALSE(s2_t0sz_in_range(s, f));
    f.stt = true;
    s.s2_t0sz = 48;
    EXPECT_TRUE(s2_t0sz_in_range(s, f));
    s.s2_tg = tg0_encoding::size_64k;
    EXPECT_FALSE(s2_t0sz_in_range(s, f)) << "max 47 with 64 KB";
    s.s2_t0sz = 16;
    EXPECT_TRUE(s2_t0sz_in_range(s, f));
    s.s2_t0sz = 15;
    EXPECT_FALSE(s2_t0sz_in_range(s, f)) << "64 - IAS = 16";
    f.oas_bits = 52;
    s.s2_t0sz = 12;
    EXPECT_TRUE(s2_t0sz_in_range(s, f));
    s.s2_tg = tg0_encoding::size_4k;
    EXPECT_FALSE(s2_t0sz_in_range(s, f)) << "16 for 4 KB without DS";
    f.ds = true;
    s.s2_ds = true;
    EXPECT_TRUE(s2_t0sz_in_range(s, f));
    f.oas_bits = 40;
    s.s2_t0sz = 23;
    EXPECT_FALSE(s2_t0sz_in_range(s, f)) << "min 64 - 40 = 24";
    s.s2_aa64 = false;
    EXPECT_TRUE(s2_t0sz_in_range(s, f)) << "every VMSAv8-32 value is in range";
}

// --- Context-dependent values ------------------------------------------------

TEST(ste_context, stream_world_from_strw_and_e2h) {
    feature_set f;
    ste s;
    s.config = ste_config::s1_translate;
    s.strw = ste_strw::el2;
    EXPECT_EQ(ste_stream_world(s, f, {}), stream_world::ns_el2);
    ste_check_context ctx;
    ctx.e2h = true;
    EXPECT_EQ(ste_stream_world(s, f, ctx), stream_world::ns_el2_e2h);
    s.strw = ste_strw::el1;
    EXPECT_EQ(ste_stream_world(s, f, ctx), stream_world::ns_el1);
    s.strw = ste_strw::el2;
    s.config = ste_config::nested;
    EXPECT_EQ(ste_stream_world(s, f, ctx), stream_world::ns_el1) << "STRW IGNORED with stage 2";
    s.config = ste_config::s1_translate;
    f.hyp = false;
    EXPECT_EQ(ste_stream_world(s, f, ctx), stream_world::ns_el1) << "STRW RES0 without HYP";
}

TEST(ste_context, effective_eats) {
    feature_set f;
    ste s;
    s.config = ste_config::nested;
    s.eats = ste_eats::split;
    ste_check_context ctx;
    ctx.atschk = true;
    EXPECT_EQ(effective_eats(s, f, ctx), ste_eats::split);
    EXPECT_EQ(effective_eats(s, f, {}), ste_eats::abort) << "split behaves as 00 when ATSCHK=0";
    s.eats = ste_eats::full;
    EXPECT_EQ(effective_eats(s, f, {}), ste_eats::full);
    s.eats = ste_eats::full_dpt;
    EXPECT_EQ(effective_eats(s, f, ctx), ste_eats::abort) << "0b11 reserved without DPT";
    s.eats = ste_eats::full;
    s.config = ste_config::bypass;
    EXPECT_EQ(effective_eats(s, f, ctx), ste_eats::abort) << "Config[1:0]=00";
    s.config = ste_config::s1_translate;
    f.ats = false;
    EXPECT_EQ(effective_eats(s, f, ctx), ste_eats::abort) << "no ATS";
}

TEST(ste_context, s2vmid_used) {
    feature_set f;
    ste s;
    s.config = ste_config::s1_translate;
    EXPECT_TRUE(ste_s2vmid_used(s, f)) << "NS-EL1 stage 1 is VMID-tagged";
    s.strw = ste_strw::el2;
    EXPECT_FALSE(ste_s2vmid_used(s, f));
    s.config = ste_config::s2_translate;
    EXPECT_TRUE(ste_s2vmid_used(s, f));
    s.config = ste_config::bypass;
    EXPECT_FALSE(ste_s2vmid_used(s, f));
    s.config = ste_config::abort;
    EXPECT_FALSE(ste_s2vmid_used(s, f));
    s.config = ste_config::nested;
    f.s2p = false;
    EXPECT_FALSE(ste_s2vmid_used(s, f));
}

// --- Validation: one test per reason, each with a legal counterpart ------------

ste valid_s1() {
    ste s;
    s.v = true;
    s.config = ste_config::s1_translate;
    s.s1_context_ptr = 0x80000;
    return s;
}

ste valid_s2() {
    ste s;
    s.v = true;
    s.config = ste_config::s2_translate;
    s.s2_aa64 = true;
    s.s2_tg = tg0_encoding::size_4k;
    s.s2_t0sz = 25; // 39-bit IPA, level 1, single table
    s.s2_sl0 = 1;
    s.s2_ps = pa_size_encoding::bits_48;
    s.s2_ttb = 0x40000000;
    s.s2_r = true;
    s.s2_vmid = 3;
    return s;
}

ste valid_nested() {
    ste s = valid_s2();
    s.config = ste_config::nested;
    s.s1_context_ptr = 0x80000;
    return s;
}

/// A VMSAv8-32 stage 2: 32-bit IPA from level 1.
ste valid_s2_aarch32() {
    ste s = valid_s2();
    s.s2_aa64 = false;
    s.s2_t0sz = 0;
    s.s2_sl0 = 1;
    s.s2_ttb = 0x1000;
    return s;
}

feature_set with_aarch32() {
    feature_set f;
    f.ttf_aarch32 = true;
    return f;
}

TEST(ste_validate, baselines_are_legal) {
    const feature_set f;
    EXPECT_EQ(validate_ste(valid_s1(), f), ste_illegal_reason::none);
    EXPECT_EQ(validate_ste(valid_s2(), f), ste_illegal_reason::none);
    EXPECT_EQ(validate_ste(valid_nested(), f), ste_illegal_reason::none);
    EXPECT_EQ(validate_ste(valid_s2_aarch32(), with_aarch32()), ste_illegal_reason::none);
}

TEST(ste_validate, not_valid) {
    ste s = valid_nested();
    s.v = false;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::not_valid);
}

TEST(ste_validate, abort_config_is_never_illegal) {
    feature_set f;
    f.s1p = false;
    f.s2p = false;
    ste s = valid_nested();
    s.s2_tg = tg0_encoding::reserved;
    s.config = ste_config::abort;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s.config = ste_config::reserved_3;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, bypass_ignores_s1_and_s2_fields) {
    ste s = valid_nested();
    s.config = ste_config::bypass;
    s.s2_tg = tg0_encoding::reserved;
    s.s1_stalld = true;
    s.eats = ste_eats::split;
    s.s2_vmid = 0xff00;
    feature_set f;
    f.vmid16 = false;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s1_not_supported) {
    feature_set f;
    f.s1p = false;
    EXPECT_EQ(validate_ste(valid_s1(), f), ste_illegal_reason::s1_not_supported);
    EXPECT_EQ(validate_ste(valid_nested(), f), ste_illegal_reason::s1_not_supported);
    EXPECT_EQ(validate_ste(valid_s2(), f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_not_supported) {
    feature_set f;
    f.s2p = false;
    EXPECT_EQ(validate_ste(valid_s2(), f), ste_illegal_reason::s2_not_supported);
    EXPECT_EQ(validate_ste(valid_nested(), f), ste_illegal_reason::s2_not_supported);
    ste s1 = valid_s1();
    s1.s2_vmid = 0xffff; // IGNORED without stage 2
    EXPECT_EQ(validate_ste(s1, f), ste_illegal_reason::none);
}

TEST(ste_validate, eats_split_needs_nested) {
    feature_set f;
    f.ns1ats = false;
    ste s = valid_s2();
    s.eats = ste_eats::split;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::eats_split_needs_nested);
    s = valid_s1();
    s.eats = ste_eats::split;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::eats_split_needs_nested);
    s = valid_nested();
    s.eats = ste_eats::split;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, eats_split_with_s2_stall) {
    feature_set f;
    f.ns1ats = false;
    f.stalls = stall_model::stall_and_terminate;
    ste s = valid_nested();
    s.eats = ste_eats::split;
    s.s2_s = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::eats_split_with_s2_stall);
    s.s2_s = false;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, eats_split_not_supported) {
    feature_set f;
    f.ns1ats = true;
    ste s = valid_nested();
    s.eats = ste_eats::split;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::eats_split_not_supported);
    f.ns1ats = false;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, eats_ignored_without_ats) {
    feature_set f;
    f.ats = false;
    ste s = valid_s1();
    s.eats = ste_eats::split;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, eats_full_with_s2_stall) {
    feature_set f;
    f.stalls = stall_model::stall_and_terminate;
    ste s = valid_s2();
    s.eats = ste_eats::full;
    s.s2_s = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::eats_full_with_s2_stall);
    s.s2_s = false;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s = valid_s1();
    s.eats = ste_eats::full;
    s.s2_s = true; // stage 2 bypassed: v3.1+ does not check
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, eats_dpt_encoding_is_reserved_not_illegal) {
    feature_set f;
    f.stalls = stall_model::stall_and_terminate;
    ste s = valid_nested();
    s.eats = ste_eats::full_dpt;
    s.s2_s = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, strw_reserved) {
    ste s = valid_s1();
    s.strw = ste_strw::reserved_1;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::strw_reserved);
    s.strw = ste_strw::reserved_3;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::strw_reserved);
    s.strw = ste_strw::el2;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::none);
}

TEST(ste_validate, strw_ignored_with_stage2_or_without_hyp) {
    ste s = valid_nested();
    s.strw = ste_strw::reserved_1;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::none);
    feature_set f;
    f.hyp = false;
    s = valid_s1();
    s.strw = ste_strw::reserved_3;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s1_stalld_not_allowed) {
    feature_set f;
    f.stalls = stall_model::terminate_only;
    ste s = valid_s1();
    s.s1_stalld = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s1_stalld_not_allowed);
    f.stalls = stall_model::stall_forced;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s1_stalld_not_allowed);
    f.stalls = stall_model::stall_and_terminate;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    f.stalls = stall_model::terminate_only;
    ste s2 = valid_s2();
    s2.s1_stalld = true; // IGNORED with stage 1 bypassed
    EXPECT_EQ(validate_ste(s2, f), ste_illegal_reason::none);
}

TEST(ste_validate, s1_cd_max_too_large) {
    feature_set f;
    f.ssid_bits = 8;
    ste s = valid_s1();
    s.s1_cd_max = 9;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s1_cd_max_too_large);
    s.s1_cd_max = 8;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    f.ssid_bits = 0;
    s.s1_cd_max = 31; // IGNORED without substreams
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s1_fmt_needs_cd2l) {
    feature_set f;
    f.cd2l = false;
    ste s = valid_s1();
    s.s1_cd_max = 4;
    s.s1_fmt = cd_table_format::two_level_4k;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s1_fmt_needs_cd2l);
    s.s1_fmt = cd_table_format::two_level_64k;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s1_fmt_needs_cd2l);
    s.s1_fmt = cd_table_format::reserved; // behaves as linear
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s.s1_fmt = cd_table_format::two_level_4k;
    s.s1_cd_max = 0; // a single CD: S1Fmt IGNORED
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    f.cd2l = true;
    s.s1_cd_max = 4;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s1_context_ptr_out_of_range) {
    feature_set f;
    f.oas_bits = 40;
    ste s = valid_s1();
    s.s1_context_ptr = 0x10000000000ull; // bit 40
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s1_context_ptr_out_of_range);
    s.s1_context_ptr = 0xffffffffc0ull;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s1_context_ptr_is_an_ipa_checked_against_ias_with_stage2) {
    feature_set f = with_aarch32(); // IAS = max(40, OAS)
    f.oas_bits = 36;
    ste s = valid_nested();
    s.s2_ps = pa_size_encoding::bits_36;
    s.s2_t0sz = 28;                     // 36-bit IPA: level 1 for 4 KB
    s.s1_context_ptr = 0x8000000000ull; // bit 39: inside IAS, outside OAS
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    ste s1 = valid_s1();
    s1.s1_context_ptr = 0x8000000000ull;
    EXPECT_EQ(validate_ste(s1, f), ste_illegal_reason::s1_context_ptr_out_of_range);
}

TEST(ste_validate, s2_fwb_with_aarch32) {
    feature_set f = with_aarch32();
    ste s = valid_s2_aarch32();
    s.s2_fwb = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_fwb_with_aarch32);
    f.fwb = false; // S2FWB is RES0 without IDR3.FWB
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    ste s64 = valid_s2();
    s64.s2_fwb = true;
    EXPECT_EQ(validate_ste(s64, with_aarch32()), ste_illegal_reason::none);
}

TEST(ste_validate, s2_stall_not_supported) {
    feature_set f;
    f.stalls = stall_model::terminate_only;
    ste s = valid_s2();
    s.s2_s = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_stall_not_supported);
    f.stalls = stall_model::stall_and_terminate;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_stall_required) {
    feature_set f;
    f.stalls = stall_model::stall_forced;
    ste s = valid_s2();
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_stall_required);
    s.s2_s = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_aarch32_not_supported) {
    EXPECT_EQ(validate_ste(valid_s2_aarch32(), {}), ste_illegal_reason::s2_aarch32_not_supported);
    EXPECT_EQ(validate_ste(valid_s2_aarch32(), with_aarch32()), ste_illegal_reason::none);
}

TEST(ste_validate, s2_aarch64_not_supported) {
    feature_set f = with_aarch32();
    f.ttf_aarch64 = false;
    EXPECT_EQ(validate_ste(valid_s2(), f), ste_illegal_reason::s2_aarch64_not_supported);
    EXPECT_EQ(validate_ste(valid_s2_aarch32(), f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_httu_with_aarch32) {
    feature_set f = with_aarch32();
    f.httu = httu_level::access_and_dirty;
    ste s = valid_s2_aarch32();
    s.s2_ha = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_httu_with_aarch32);
    s.s2_ha = false;
    s.s2_hd = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_httu_with_aarch32);
    s.s2_hd = false;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_httu_not_supported) {
    feature_set f;
    f.httu = httu_level::none;
    ste s = valid_s2();
    s.s2_ha = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_httu_not_supported);
    f.httu = httu_level::access_flag;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_hd_not_supported) {
    feature_set f;
    f.httu = httu_level::access_flag;
    ste s = valid_s2();
    s.s2_ha = true;
    s.s2_hd = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_hd_not_supported);
    f.httu = httu_level::access_and_dirty;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s.s2_ha = false; // {HA,HD} = 01 is reserved, behaves as off: not ILLEGAL
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_haft_without_ha) {
    feature_set f;
    f.httu = httu_level::haft;
    ste s = valid_s2();
    s.s2_haft = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_haft_without_ha);
    s.s2_ha = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s.s2_ha = false;
    f.httu = httu_level::access_and_dirty; // S2HAFT is RES0 below HTTU=0b11
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_granule_reserved) {
    ste s = valid_s2();
    s.s2_tg = tg0_encoding::reserved;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::s2_granule_reserved);
}

TEST(ste_validate, s2_granule_not_supported) {
    feature_set f;
    f.gran16k = false;
    ste s = valid_s2();
    s.s2_tg = tg0_encoding::size_16k;
    s.s2_sl0 = 2; // 39-bit IPA starts at level 1 with 16 KB
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_granule_not_supported);
    f.gran16k = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_granule_is_ignored_for_aarch32) {
    feature_set f = with_aarch32();
    f.gran64k = false;
    ste s = valid_s2_aarch32();
    s.s2_tg = tg0_encoding::reserved;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_ttb_out_of_range_of_s2ps) {
    ste s = valid_s2();
    s.s2_ps = pa_size_encoding::bits_40;
    s.s2_ttb = 0x10000000000ull; // bit 40
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::s2_ttb_out_of_range);
    s.s2_ttb = 0xfffffffff0ull;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::none);
}

TEST(ste_validate, s2_ttb_out_of_range_of_oas) {
    feature_set f;
    f.oas_bits = 44;
    ste s = valid_s2();
    s.s2_ps = pa_size_encoding::bits_52;
    s.s2_ttb = 0x100000000000ull; // bit 44
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_ttb_out_of_range);
    s.s2_ttb = 0x80000000000ull; // bit 43
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_ttb_above_48_bits_needs_64k_or_ds) {
    feature_set f;
    f.oas_bits = 52;
    ste s = valid_s2();
    s.s2_ps = pa_size_encoding::bits_52;
    s.s2_ttb = 0x1000000000000ull; // bit 48
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_ttb_out_of_range);
    s.s2_tg = tg0_encoding::size_64k;
    s.s2_t0sz = 25; // 39-bit IPA: level 2 for 64 KB
    s.s2_sl0 = 1;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s = valid_s2();
    s.s2_ps = pa_size_encoding::bits_52;
    s.s2_ttb = 0x1000000000000ull;
    s.s2_ds = true;
    f.ds = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_ttb_of_aarch32_is_limited_to_40_bits) {
    ste s = valid_s2_aarch32();
    s.s2_ps = pa_size_encoding::bits_48; // IGNORED for VMSAv8-32
    s.s2_ttb = 0x10000000000ull;
    EXPECT_EQ(validate_ste(s, with_aarch32()), ste_illegal_reason::s2_ttb_out_of_range);
}

TEST(ste_validate, s2_t0sz_out_of_range) {
    feature_set f;
    ste s = valid_s2();
    s.s2_t0sz = 40;
    s.s2_sl0 = 0; // consistent with 24-bit IPA at level 2
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_t0sz_out_of_range);
    f.stt = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s = valid_s2();
    s.s2_t0sz = 15;
    s.s2_sl0 = 2;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::s2_t0sz_out_of_range);
    s.s2_t0sz = 16;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::none);
}

TEST(ste_validate, s2_t0sz_min_follows_ias) {
    feature_set f;
    f.oas_bits = 40;
    ste s = valid_s2();
    s.s2_ps = pa_size_encoding::bits_40;
    s.s2_t0sz = 23; // 41-bit IPA > IAS
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_t0sz_out_of_range);
    s.s2_t0sz = 24; // 40-bit IPA: 2 concatenated tables at level 1
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, s2_walk_inconsistent) {
    ste s = valid_s2();
    s.s2_sl0 = 0; // level 2 cannot cover a 39-bit IPA with 4 KB
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::s2_walk_inconsistent);
    s.s2_sl0 = 3; // level 3 needs STT
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::s2_walk_inconsistent);
    s.s2_sl0 = 1;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::none);
}

TEST(ste_validate, s2_walk_inconsistent_aarch32) {
    ste s = valid_s2_aarch32();
    s.s2_sl0 = 0; // level 2 covers a 32-bit IPA with 4 concatenated tables
    EXPECT_EQ(validate_ste(s, with_aarch32()), ste_illegal_reason::none);
    s.s2_t0sz = 0x8; // T0SZ -8: a 40-bit IPA needs level 1
    EXPECT_EQ(validate_ste(s, with_aarch32()), ste_illegal_reason::s2_walk_inconsistent);
    s.s2_sl0 = 1;
    EXPECT_EQ(validate_ste(s, with_aarch32()), ste_illegal_reason::none);
    s.s2_sl0 = 2;
    EXPECT_EQ(validate_ste(s, with_aarch32()), ste_illegal_reason::s2_walk_inconsistent);
}

TEST(ste_validate, s2_endianness_not_supported) {
    feature_set f;
    f.endian = tt_endian::little;
    ste s = valid_s2();
    s.s2_endi = true;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_endianness_not_supported);
    f.endian = tt_endian::mixed;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    f.endian = tt_endian::big;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s.s2_endi = false;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_endianness_not_supported);
}

TEST(ste_validate, s2_fields_ignored_when_stage2_bypassed) {
    ste s = valid_s1();
    s.s2_tg = tg0_encoding::reserved;
    s.s2_t0sz = 63;
    s.s2_endi = true;
    s.s2_ttb = 0x000ffffffffffff0ull;
    s.s2_ha = true;
    EXPECT_EQ(validate_ste(s, {}), ste_illegal_reason::none);
}

TEST(ste_validate, s2_vmid_too_large) {
    feature_set f;
    f.vmid16 = false;
    ste s = valid_s2();
    s.s2_vmid = 0x100;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_vmid_too_large);
    s.s2_vmid = 0xff;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    s = valid_s1();
    s.s2_vmid = 0x100; // NS-EL1 stage 1 is VMID-tagged
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::s2_vmid_too_large);
    s.strw = ste_strw::el2; // not NS-EL1: S2VMID IGNORED
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
    f.vmid16 = true;
    s = valid_s2();
    s.s2_vmid = 0xffff;
    EXPECT_EQ(validate_ste(s, f), ste_illegal_reason::none);
}

TEST(ste_validate, every_reason_has_a_name) {
    for (unsigned r = 0; r <= static_cast<unsigned>(ste_illegal_reason::s2_vmid_too_large); ++r)
        EXPECT_STRNE(to_string(static_cast<ste_illegal_reason>(r)), "unknown") << r;
}

} // namespace
} // namespace smmu::arch
