#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "model/arch/command.h"

namespace smmu::arch {
namespace {

/// Every feature on, Secure queue, reserved-field checking on: accepts every
/// well-formed command of every opcode.
command_decode_context full_context() {
    command_decode_context ctx;
    ctx.s1p = ctx.s2p = ctx.hyp = ctx.ats = ctx.ril = ctx.pri = true;
    ctx.stall = ctx.mpam = true;
    ctx.secure_queue = ctx.secure_s2 = true;
    ctx.check_reserved_fields = true;
    return ctx;
}

command_decode_context ns_context() {
    command_decode_context ctx = full_context();
    ctx.secure_queue = false;
    ctx.secure_s2 = false;
    return ctx;
}

tlbi_range range_of(tlbi_granule tg, tlbi_ttl ttl, std::uint8_t num, std::uint8_t scale) {
    tlbi_range r;
    r.tg = tg;
    r.ttl = ttl;
    r.num = num;
    r.scale = scale;
    return r;
}

command_decode_result decode(std::uint64_t w0, std::uint64_t w1,
                             const command_decode_context& ctx) {
    return decode_command(command_words{w0, w1}, ctx);
}

void expect_ill(const command_decode_result& r, ill_reason why) {
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error, cmdq_error::ill);
    EXPECT_EQ(r.reason, why) << ill_reason_name(r.reason) << " instead of " << ill_reason_name(why);
}

// ---- golden encodings: one per opcode -----------------------------------------------------

struct golden {
    const char* name;
    command cmd;
    std::uint64_t w0;
    std::uint64_t w1;
};

command with_ssec(command c) {
    c.ssec = true;
    return c;
}

std::vector<golden> goldens() {
    const auto g4k = tlbi_granule::size_4k;
    const auto g16k = tlbi_granule::size_16k;
    const auto g64k = tlbi_granule::size_64k;
    return {
        {"prefetch_config", make_prefetch_config(stream_ref{0x1234, 0xabcde}),
         0x00001234abcde801ull, 0},
        {"prefetch_addr", make_prefetch_addr(stream_ref{7}, 0xffff800012345000ull, 5, 3),
         0x0000000700000002ull, 0xffff800012345065ull},
        {"cfgi_ste", make_cfgi_ste(0x42, true), 0x0000004200000003ull, 0x1},
        {"cfgi_ste_ssec", with_ssec(make_cfgi_ste(0x42, false)), 0x0000004200000403ull, 0},
        {"cfgi_ste_range", make_cfgi_ste_range(0x1000, 4), 0x0000100000000004ull, 0x4},
        {"cfgi_all", make_cfgi_all(), 0x0000000000000004ull, 0x1f},
        {"cfgi_cd", make_cfgi_cd(0x9, 0x12345, false), 0x0000000912345005ull, 0},
        {"cfgi_cd_leaf", make_cfgi_cd(0xffffffff, 0xfffff, true), 0xfffffffffffff005ull, 1},
        {"cfgi_cd_all", make_cfgi_cd_all(0xdeadbeef), 0xdeadbeef00000006ull, 0},
        {"cfgi_vms_pidm", make_cfgi_vms_pidm(0x1234), 0x0000123400000007ull, 0},
        {"tlbi_nh_all", make_tlbi_nh_all(0xbeef), 0x0000beef00000010ull, 0},
        {"tlbi_nh_asid", make_tlbi_nh_asid(0x0102, 0xa5a5), 0xa5a5010200000011ull, 0},
        {"tlbi_nh_va",
         make_tlbi_nh_va(0x0003, 0x0042, 0x0000ffffc0de0000ull, true,
                         range_of(g4k, tlbi_ttl::level3, 2, 6)),
         0x0042000300602012ull, 0x0000ffffc0de0701ull},
        {"tlbi_nh_vaa", make_tlbi_nh_vaa(7, 0xffff000000001000ull, false), 0x0000000700000013ull,
         0xffff000000001000ull},
        {"tlbi_el3_all", make_tlbi_el3_all(), 0x18, 0},
        {"tlbi_el3_va", make_tlbi_el3_va(0x4000, true, range_of(g64k, tlbi_ttl::level2, 31, 31)),
         0x0000000001f1f01aull, 0x4e01},
        {"tlbi_el2_all", make_tlbi_el2_all(), 0x20, 0},
        {"tlbi_el2_asid", make_tlbi_el2_asid(0xffff), 0xffff000000000021ull, 0},
        {"tlbi_el2_va", make_tlbi_el2_va(0x0001, 0xfffffffffffff000ull, false),
         0x0001000000000022ull, 0xfffffffffffff000ull},
        {"tlbi_el2_vaa", make_tlbi_el2_vaa(0x100000000ull, true), 0x23, 0x0000000100000001ull},
        {"tlbi_s12_vmall", make_tlbi_s12_vmall(0x00ff), 0x000000ff00000028ull, 0},
        {"tlbi_s2_ipa",
         make_tlbi_s2_ipa(0x0010, 0x000ffffffffff000ull, true,
                          range_of(g16k, tlbi_ttl::level2, 1, 0)),
         0x000000100000102aull, 0x000ffffffffffa01ull},
        {"tlbi_nsnh_all", make_tlbi_nsnh_all(), 0x30, 0},
        {"atc_inv", make_atc_inv(stream_ref{0x20, 0x3}, 0x12340000, 4, true), 0x0000002000003a40ull,
         0x0000000012340004ull},
        {"atc_inv_all", make_atc_inv(stream_ref{0x21}, 0, 52), 0x0000002100000040ull, 0x34},
        {"pri_resp", make_pri_resp(stream_ref{0x11, 0x5}, 0x1ff, pri_response::success),
         0x0000001100005841ull, 0x21ff},
        {"pri_resp_invalid", make_pri_resp(stream_ref{0x11}, 3, pri_response::invalid_request),
         0x0000001100000041ull, 0x1003},
        {"resume_retry", make_resume(0x33, 0xbeef, resume_action::retry), 0x0000003300001044ull,
         0xbeef},
        {"resume_abort", make_resume(0x33, 0x0001, resume_action::abort), 0x0000003300002044ull,
         0x0001},
        {"resume_terminate", make_resume(0x33, 0xffff, resume_action::terminate),
         0x0000003300000044ull, 0xffff},
        {"stall_term", make_stall_term(0x77), 0x0000007700000045ull, 0},
        {"sync_msi", make_sync(sync_cs::irq, 0x80001234ull, 0xcafef00d, shareability::ish, 0xf),
         0xcafef00d0fc01046ull, 0x0000000080001234ull},
        {"sync_sev", make_sync(sync_cs::sev), 0x0000000000c02046ull, 0},
        {"sync_none_osh", make_sync(sync_cs::none, 0, 0, shareability::osh), 0x0000000000800046ull,
         0},
        {"tlbi_s_el2_all", make_tlbi_s_el2_all(), 0x50, 0},
        {"tlbi_s_el2_asid", make_tlbi_s_el2_asid(0x1234), 0x1234000000000051ull, 0},
        {"tlbi_s_el2_va", make_tlbi_s_el2_va(2, 0x5000, true), 0x0002000000000052ull, 0x5001},
        {"tlbi_s_el2_vaa", make_tlbi_s_el2_vaa(0x6000, false), 0x53, 0x6000},
        {"tlbi_s_s12_vmall", make_tlbi_s_s12_vmall(9), 0x0000000900000058ull, 0},
        {"tlbi_s_s2_ipa", make_tlbi_s_s2_ipa(1, 0x7000, true), 0x000000010000005aull, 0x7001},
        {"tlbi_snh_all", make_tlbi_snh_all(), 0x60, 0},
    };
}

TEST(command_encoding, golden_words_per_opcode) {
    for (const auto& g : goldens()) {
        SCOPED_TRACE(g.name);
        const command_words w = encode(g.cmd);
        EXPECT_EQ(w[0], g.w0);
        EXPECT_EQ(w[1], g.w1);
    }
}

TEST(command_encoding, golden_words_decode_to_the_builder_command) {
    const auto ctx = full_context();
    for (const auto& g : goldens()) {
        SCOPED_TRACE(g.name);
        const auto r = decode(g.w0, g.w1, ctx);
        ASSERT_TRUE(r.ok()) << ill_reason_name(r.reason);
        EXPECT_EQ(r.cmd, g.cmd);
    }
}

TEST(command_encoding, every_opcode_has_a_golden) {
    std::set<int> covered;
    for (const auto& g : goldens())
        covered.insert(static_cast<int>(g.w0 & 0xff));
    for (int raw = 0; raw < 256; ++raw) {
        if (is_defined_opcode(static_cast<std::uint8_t>(raw))) {
            EXPECT_EQ(covered.count(raw), 1u) << "opcode " << raw;
        }
    }
}

TEST(command_encoding, defined_opcode_set_is_exactly_v3_2) {
    const std::set<int> expected = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10,
                                    0x11, 0x12, 0x13, 0x18, 0x1a, 0x20, 0x21, 0x22,
                                    0x23, 0x28, 0x2a, 0x30, 0x40, 0x41, 0x44, 0x45,
                                    0x46, 0x50, 0x51, 0x52, 0x53, 0x58, 0x5a, 0x60};
    for (int raw = 0; raw < 256; ++raw)
        EXPECT_EQ(is_defined_opcode(static_cast<std::uint8_t>(raw)), expected.count(raw) == 1)
            << "opcode " << raw;
}

TEST(command_encoding, secure_only_opcodes) {
    const std::set<int> secure = {0x18, 0x1a, 0x50, 0x51, 0x52, 0x53, 0x58, 0x5a, 0x60};
    for (int raw = 0; raw < 256; ++raw) {
        if (is_defined_opcode(static_cast<std::uint8_t>(raw))) {
            EXPECT_EQ(is_secure_only(static_cast<opcode>(raw)), secure.count(raw) == 1) << raw;
        }
    }
}

TEST(command_encoding, cfgi_all_is_range_31) {
    const command c = make_cfgi_all();
    EXPECT_EQ(c.op, opcode::cfgi_ste_range);
    EXPECT_EQ(c.ste_range, 31);
    EXPECT_TRUE(is_cfgi_all(c));
    EXPECT_FALSE(is_cfgi_all(make_cfgi_ste_range(0, 30)));
}

TEST(command_encoding, fields_wider_than_their_position_are_truncated) {
    // IPA stops at bit 55; low address bits are not encoded.
    EXPECT_EQ(encode(make_tlbi_s2_ipa(0, 0xff00000000001fffull, false))[1], 0x1000u);
    EXPECT_EQ(encode(make_tlbi_nh_vaa(0, 0x0000000000001fffull, false))[1], 0x1000u);
    // MSIAddr is [55:2].
    EXPECT_EQ(encode(make_sync(sync_cs::irq, 0xffffffffffffffffull))[1], 0x00fffffffffffffcull);
    // ATC Size is 6 bits, CFGI Range 5 bits, PRGIndex 9 bits.
    EXPECT_EQ(encode(make_atc_inv(stream_ref{0}, 0, 0x7f))[1], 0x3fu);
    EXPECT_EQ(encode(make_cfgi_ste_range(0, 0xff))[1], 0x1fu);
    EXPECT_EQ(encode(make_pri_resp(stream_ref{0}, 0xffff, pri_response::failure))[1], 0x1ffu);
}

TEST(command_encoding, scale_bit_25_is_written_for_ds) {
    const command c =
        make_tlbi_nh_vaa(0, 0, false, range_of(tlbi_granule::size_4k, tlbi_ttl::any, 0, 39));
    EXPECT_EQ(encode(c)[0], 0x0000000002700013ull); // 39 << 20
}

TEST(command_encoding, names) {
    EXPECT_STREQ(opcode_name(opcode::tlbi_nh_va), "CMD_TLBI_NH_VA");
    EXPECT_STREQ(opcode_name(opcode::sync), "CMD_SYNC");
    EXPECT_STREQ(opcode_name(static_cast<opcode>(0x99)), "CMD_RESERVED");
    EXPECT_STREQ(cmdq_error_name(cmdq_error::atc_inv_sync), "CERROR_ATC_INV_SYNC");
    EXPECT_STREQ(ill_reason_name(ill_reason::reserved_range_encoding), "reserved_range_encoding");
    EXPECT_EQ(static_cast<int>(cmdq_error::none), 0);
    EXPECT_EQ(static_cast<int>(cmdq_error::ill), 1);
    EXPECT_EQ(static_cast<int>(cmdq_error::abt), 2);
    EXPECT_EQ(static_cast<int>(cmdq_error::atc_inv_sync), 3);
}

// ---- decode: field positions ----------------------------------------------------------------

TEST(command_decode, field_boundaries) {
    const auto ctx = full_context();
    // CFGI_CD: SID all ones, SSID all ones.
    auto r = decode(0xfffffffffffff005ull, 0, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.sid, 0xffffffffu);
    EXPECT_EQ(r.cmd.ssid, 0xfffffu);
    EXPECT_FALSE(r.cmd.leaf);
    // TLBI_NH_ASID: ASID and VMID split at bit 48.
    r = decode(0xffff000000000011ull, 0, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.asid, 0xffff);
    EXPECT_EQ(r.cmd.vmid, 0);
    r = decode(0x0000ffff00000011ull, 0, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.asid, 0);
    EXPECT_EQ(r.cmd.vmid, 0xffff);
    // CMD_SYNC fields.
    r = decode(0x123456780f402046ull, 0x00fffffffffffffcull, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.cs, sync_cs::sev);
    EXPECT_EQ(r.cmd.msh, shareability::reserved); // MSH 01 is accepted (reference lists no ILL)
    EXPECT_EQ(r.cmd.msi_attr, 0xf);
    EXPECT_EQ(r.cmd.msi_data, 0x12345678u);
    EXPECT_EQ(r.cmd.msi_addr, 0x00fffffffffffffcull);
    // PREFETCH_ADDR Size / Stride / NS (Stride and NS positions not confirmed).
    r = decode(0x0000000100000402ull, 0xabcde0000000083full, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.cmd.ssec);
    EXPECT_EQ(r.cmd.size, 0x1f);
    EXPECT_EQ(r.cmd.stride, 0x1);
    EXPECT_TRUE(r.cmd.ns);
    EXPECT_EQ(r.cmd.address, 0xabcde00000000000ull);
    // ATC_INV Global and Size.
    r = decode(0x0000000500000240ull, 0x0000000000000034ull, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.cmd.global);
    EXPECT_FALSE(r.cmd.ssv);
    EXPECT_EQ(r.cmd.size, 52);
    EXPECT_EQ(r.cmd.sid, 5u);
    // PRI_RESP Resp at [13:12].
    r = decode(0x41, 0x0000000000002000ull, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.resp, pri_response::success);
    r = decode(0x41, 0x0000000000000000ull, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.resp, pri_response::failure);
    // RESUME Ac=1 Ab=1 (retry, Ab ignored by the engine but decoded).
    r = decode(0x0000000900003044ull, 0x7, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.cmd.resume_retry);
    EXPECT_TRUE(r.cmd.resume_abort);
    EXPECT_EQ(r.cmd.stag, 7);
}

TEST(command_decode, scale_is_six_bits_with_ds) {
    auto ctx = full_context();
    // TLBI_NH_VAA, SCALE = 0b100001 (bit 25 and bit 20), TG = 4K.
    const std::uint64_t w0 = 0x0000000002100013ull;
    const std::uint64_t w1 = 0x0000000000000400ull;
    expect_ill(decode(w0, w1, ctx), ill_reason::reserved_field_nonzero);
    ctx.ds = true;
    auto r = decode(w0, w1, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.range.scale, 33);
    ctx.ds = false;
    ctx.check_reserved_fields = false;
    r = decode(w0, w1, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.range.scale, 1) << "bit 25 is RES0 and ignored without DS";
}

// ---- decode: every CERROR_ILL reason ---------------------------------------------------------

TEST(command_decode, reserved_opcodes) {
    const auto ctx = full_context();
    for (std::uint64_t raw : {0x00ull, 0x08ull, 0x09ull, 0x0aull, 0x0bull, 0x14ull, 0x19ull,
                              0x24ull, 0x29ull, 0x31ull, 0x42ull, 0x43ull, 0x47ull, 0x54ull,
                              0x70ull, 0x73ull, 0x80ull, 0x8full, 0xe0ull, 0xffull}) {
        SCOPED_TRACE(raw);
        const auto r = decode(raw, 0, ctx);
        expect_ill(r, ill_reason::reserved_opcode);
        EXPECT_EQ(static_cast<std::uint64_t>(r.cmd.op), raw) << "raw opcode kept for stats";
    }
}

TEST(command_decode, secure_only_opcode_on_non_secure_queue) {
    const auto ctx = ns_context();
    for (std::uint64_t raw :
         {0x18ull, 0x1aull, 0x50ull, 0x51ull, 0x52ull, 0x53ull, 0x58ull, 0x5aull, 0x60ull}) {
        SCOPED_TRACE(raw);
        expect_ill(decode(raw, 0x1000, ctx), ill_reason::secure_only_opcode);
    }
}

TEST(command_decode, secure_stage2_commands_need_sel2) {
    auto ctx = full_context();
    ctx.secure_s2 = false;
    for (std::uint64_t raw : {0x50ull, 0x51ull, 0x52ull, 0x53ull, 0x58ull, 0x5aull, 0x60ull}) {
        SCOPED_TRACE(raw);
        expect_ill(decode(raw, 0x1000, ctx), ill_reason::secure_stage2_unsupported);
    }
    // EL3 commands only need the Secure queue.
    EXPECT_TRUE(decode(0x18, 0, ctx).ok());
    EXPECT_TRUE(decode(0x1a, 0x1000, ctx).ok());
}

TEST(command_decode, ssec_on_non_secure_queue) {
    const auto ns = ns_context();
    const auto sec = full_context();
    // Every opcode with an SSec field, with SSec = 1.
    for (std::uint64_t raw :
         {0x01ull, 0x02ull, 0x03ull, 0x04ull, 0x05ull, 0x06ull, 0x07ull, 0x44ull, 0x45ull}) {
        SCOPED_TRACE(raw);
        const std::uint64_t w0 = raw | 0x400;
        expect_ill(decode(w0, 0, ns), ill_reason::ssec_on_non_secure_queue);
        const auto r = decode(w0, 0, sec);
        ASSERT_TRUE(r.ok()) << ill_reason_name(r.reason);
        EXPECT_TRUE(r.cmd.ssec);
        EXPECT_TRUE(decode(raw, 0, ns).ok()) << "SSec = 0 is fine on the NS queue";
    }
}

TEST(command_decode, bit_10_is_reserved_where_there_is_no_ssec) {
    auto ctx = ns_context();
    expect_ill(decode(0x0000000000000410ull, 0, ctx), ill_reason::reserved_field_nonzero);
    ctx.check_reserved_fields = false;
    EXPECT_TRUE(decode(0x0000000000000410ull, 0, ctx).ok());
}

TEST(command_decode, stage1_commands_need_s1p) {
    auto ctx = full_context();
    ctx.s1p = false;
    ctx.hyp = false;
    for (std::uint64_t raw : {0x10ull, 0x11ull, 0x12ull, 0x13ull, 0x18ull, 0x1aull}) {
        SCOPED_TRACE(raw);
        expect_ill(decode(raw, 0x1000, ctx), ill_reason::stage1_unsupported);
    }
    // Stage-2 and common commands still work on a stage-2-only SMMU.
    EXPECT_TRUE(decode(0x28, 0, ctx).ok());
    EXPECT_TRUE(decode(0x2a, 0x1000, ctx).ok());
    EXPECT_TRUE(decode(0x30, 0, ctx).ok());
    EXPECT_TRUE(decode(0x03, 0, ctx).ok());
}

TEST(command_decode, el2_commands_need_hyp) {
    auto ctx = full_context();
    ctx.hyp = false;
    for (std::uint64_t raw : {0x20ull, 0x21ull, 0x22ull, 0x23ull}) {
        SCOPED_TRACE(raw);
        expect_ill(decode(raw, 0x1000, ctx), ill_reason::el2_unsupported);
    }
    EXPECT_TRUE(decode(0x10, 0, ctx).ok());
}

TEST(command_decode, stage2_commands_need_s2p) {
    auto ctx = full_context();
    ctx.s2p = false;
    for (std::uint64_t raw : {0x28ull, 0x2aull, 0x58ull, 0x5aull}) {
        SCOPED_TRACE(raw);
        expect_ill(decode(raw, 0x1000, ctx), ill_reason::stage2_unsupported);
    }
    EXPECT_TRUE(decode(0x10, 0, ctx).ok());
    EXPECT_TRUE(decode(0x30, 0, ctx).ok()) << "NSNH_ALL is valid on any SMMU";
}

TEST(command_decode, cfgi_cd_needs_s1p) {
    auto ctx = full_context();
    ctx.s1p = false;
    expect_ill(decode(0x05, 0, ctx), ill_reason::cfgi_cd_without_s1p);
    expect_ill(decode(0x06, 0, ctx), ill_reason::cfgi_cd_without_s1p);
    EXPECT_TRUE(decode(0x03, 0, ctx).ok());
    EXPECT_TRUE(decode(0x04, 0x1f, ctx).ok());
}

TEST(command_decode, atc_inv_needs_ats) {
    auto ctx = full_context();
    ctx.ats = false;
    expect_ill(decode(0x40, 0, ctx), ill_reason::atc_inv_without_ats);
    ctx.ats = true;
    EXPECT_TRUE(decode(0x40, 0, ctx).ok());
}

TEST(command_decode, pri_resp_needs_pri) {
    auto ctx = full_context();
    ctx.pri = false;
    expect_ill(decode(0x41, 0x2000, ctx), ill_reason::pri_resp_without_pri);
    EXPECT_FALSE(command_decode_context{}.pri) << "default context has no PRI";
}

TEST(command_decode, resume_and_stall_term_need_a_stall_model) {
    const command_decode_context def; // STALL_MODEL = 0b01 by default
    expect_ill(decode(0x44, 0, def), ill_reason::stall_unsupported);
    expect_ill(decode(0x45, 0, def), ill_reason::stall_unsupported);
    auto ctx = def;
    ctx.stall = true;
    EXPECT_TRUE(decode(0x44, 0, ctx).ok());
    EXPECT_TRUE(decode(0x45, 0, ctx).ok());
}

TEST(command_decode, vms_pidm_needs_mpam) {
    const command_decode_context def;
    expect_ill(decode(0x0000000100000007ull, 0, def), ill_reason::vms_pidm_without_mpam);
    auto ctx = def;
    ctx.mpam = true;
    const auto r = decode(0x0000000100000007ull, 0, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.vmid, 1);
}

TEST(command_decode, sync_cs_reserved) {
    const auto ctx = full_context();
    expect_ill(decode(0x3046, 0, ctx), ill_reason::sync_cs_reserved);
    for (std::uint64_t cs = 0; cs < 3; ++cs)
        EXPECT_TRUE(decode(0x46 | (cs << 12), 0, ctx).ok()) << cs;
}

TEST(command_decode, reserved_range_encoding) {
    auto ctx = full_context();
    // TLBI_NH_VA with TG=4K, NUM=0, SCALE=0, TTL=0.
    expect_ill(decode(0x12, 0x400, ctx), ill_reason::reserved_range_encoding);
    expect_ill(decode(0x2a, 0xc00, ctx), ill_reason::reserved_range_encoding);
    // Any of NUM, SCALE, TTL non-zero makes it legal.
    EXPECT_TRUE(decode(0x12 | 0x1000, 0x400, ctx).ok());
    EXPECT_TRUE(decode(0x12 | 0x100000, 0x400, ctx).ok());
    EXPECT_TRUE(decode(0x12, 0x400 | 0x100, ctx).ok());
    // 16K with TTL=1 is treated as TTL=0 without DS, so it is the reserved encoding.
    expect_ill(decode(0x12, 0x800 | 0x100, ctx), ill_reason::reserved_range_encoding);
    ctx.ds = true;
    EXPECT_TRUE(decode(0x12, 0x800 | 0x100, ctx).ok());
    // Without RIL the fields are not a range (and are ignored when not checking RES0).
    ctx.ds = false;
    ctx.ril = false;
    ctx.check_reserved_fields = false;
    const auto r = decode(0x12, 0x400, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.range, tlbi_range{});
}

TEST(command_decode, range_fields_without_ril) {
    auto ctx = full_context();
    ctx.ril = false;
    const std::uint64_t w0 = 0x12 | (2ull << 12);    // NUM = 2
    const std::uint64_t w1 = 0x1000 | 0x400 | 0x300; // TG = 4K, TTL = 3
    expect_ill(decode(w0, w1, ctx), ill_reason::range_without_ril);
    expect_ill(decode(0x12 | (1ull << 20), 0x1000, ctx), ill_reason::range_without_ril);
    EXPECT_TRUE(decode(0x12, 0x1000, ctx).ok());
    ctx.check_reserved_fields = false;
    const auto r = decode(w0, w1, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.range, tlbi_range{}) << "RES0 range fields are ignored";
    EXPECT_EQ(r.cmd.address, 0x1000u);
}

TEST(command_decode, range_fields_with_tg_zero_are_res0) {
    auto ctx = full_context();
    // TG = 0 but NUM = 3 and TTL = 2.
    expect_ill(decode(0x12 | (3ull << 12), 0x200, ctx), ill_reason::reserved_field_nonzero);
    ctx.check_reserved_fields = false;
    const auto r = decode(0x12 | (3ull << 12), 0x200, ctx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd.range, tlbi_range{});
}

TEST(command_decode, atc_inv_size_above_52) {
    const auto ctx = full_context();
    EXPECT_TRUE(decode(0x40, 52, ctx).ok());
    expect_ill(decode(0x40, 53, ctx), ill_reason::atc_inv_size_too_large);
    expect_ill(decode(0x40, 63, ctx), ill_reason::atc_inv_size_too_large);
}

TEST(command_decode, pri_resp_reserved_response) {
    const auto ctx = full_context();
    expect_ill(decode(0x41, 0x3000, ctx), ill_reason::pri_resp_reserved);
    EXPECT_TRUE(decode(0x41, 0x1000, ctx).ok());
}

TEST(command_decode, reserved_fields_are_checked_only_when_asked) {
    auto on = full_context();
    auto off = on;
    off.check_reserved_fields = false;
    struct rsv {
        const char* name;
        std::uint64_t w0;
        std::uint64_t w1;
    };
    const rsv cases[] = {
        {"nsnh_all w0 bit 8", 0x130, 0},
        {"nsnh_all w0 bit 63", 0x8000000000000030ull, 0},
        {"nsnh_all w1 bit 0", 0x30, 1},
        {"cfgi_ste w1 bit 1", 0x03, 0x2},
        {"cfgi_ste ssv", 0x803, 0},
        {"cfgi_cd ssv", 0x805, 0},
        {"cfgi_ste_range w1 bit 5", 0x04, 0x20},
        {"tlbi_nh_all asid", 0x0001000000000010ull, 0},
        {"tlbi_nh_vaa asid", 0x0001000000000013ull, 0x1000},
        {"tlbi_nh_va ttl128", 0x12 | (1ull << 12), 0x1000 | 0x400 | 0x80},
        {"tlbi_nh_va w1 bit 1", 0x12, 0x1002},
        {"tlbi_nh_va w0 bit 19", 0x12 | (1ull << 19), 0x1000},
        {"tlbi_s2_ipa bit 56", 0x2a, 0x0100000000001000ull},
        {"atc_inv w0 bit 8", 0x140, 0},
        {"atc_inv w1 bit 6", 0x40, 0x40},
        {"pri_resp w1 bit 9", 0x41, 0x200},
        {"pri_resp ssec", 0x441, 0},
        {"resume w1 bit 16", 0x44, 0x10000},
        {"resume ssv", 0x844, 0},
        {"sync w1 bit 0", 0x46, 0x1},
        {"sync w1 bit 56", 0x46, 0x0100000000000000ull},
        {"sync w0 bit 14", 0x4046, 0},
        {"sync w0 bit 28", 0x10000046ull, 0},
        {"prefetch_config w1", 0x01, 0x1000},
        {"prefetch_addr w1 bit 10", 0x02, 0x400},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        expect_ill(decode(c.w0, c.w1, on), ill_reason::reserved_field_nonzero);
        const auto r = decode(c.w0, c.w1, off);
        ASSERT_TRUE(r.ok()) << ill_reason_name(r.reason);
        // The ignored bits do not reach the command: re-encoding drops them.
        const command_words again = encode(r.cmd);
        EXPECT_TRUE(again[0] != c.w0 || again[1] != c.w1);
    }
}

TEST(command_decode, check_order) {
    auto ctx = full_context();
    // Reserved opcode before everything.
    expect_ill(decode(0xffffffffffffff00ull | 0x99, ~0ull, ctx), ill_reason::reserved_opcode);
    // Secure-only before features.
    auto ns = ns_context();
    ns.s1p = false;
    expect_ill(decode(0x1a, 0x1000, ns), ill_reason::secure_only_opcode);
    // SSec before features.
    ns.s1p = false;
    expect_ill(decode(0x405, 0, ns), ill_reason::ssec_on_non_secure_queue);
    // Features before values.
    ctx.ats = false;
    expect_ill(decode(0x40, 60, ctx), ill_reason::atc_inv_without_ats);
    // Values before reserved fields.
    ctx.ats = true;
    expect_ill(decode(0x40 | 0x100, 60, ctx), ill_reason::atc_inv_size_too_large);
    expect_ill(decode(0x3046 | 0x4000, 0x1, ctx), ill_reason::sync_cs_reserved);
}

TEST(command_decode, default_context_is_permissive_about_reserved_bits) {
    const command_decode_context def;
    EXPECT_FALSE(def.check_reserved_fields);
    EXPECT_FALSE(def.secure_queue);
    EXPECT_TRUE(def.ril);
    const auto r = decode(0xffffffffffffff30ull, ~0ull, def);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.cmd, make_tlbi_nsnh_all());
}

// ---- fuzz ---------------------------------------------------------------------------------

struct splitmix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

std::vector<std::uint8_t> defined_opcodes() {
    std::vector<std::uint8_t> ops;
    for (int raw = 0; raw < 256; ++raw) {
        if (is_defined_opcode(static_cast<std::uint8_t>(raw)))
            ops.push_back(static_cast<std::uint8_t>(raw));
    }
    return ops;
}

command random_command(splitmix64& rng, const std::vector<std::uint8_t>& ops) {
    command c;
    c.op = static_cast<opcode>(ops[rng.next() % ops.size()]);
    const std::uint64_t a = rng.next();
    const std::uint64_t b = rng.next();
    c.ssec = (a & 1) != 0;
    c.ssv = (a & 2) != 0;
    c.ssid = static_cast<substream_id>(b & 0xfffff);
    c.sid = static_cast<stream_id>(b >> 32);
    c.vmid = static_cast<vmid_t>(a >> 16);
    c.asid = static_cast<asid_t>(a >> 32);
    c.leaf = (a & 4) != 0;
    c.address = rng.next();
    c.range.tg = static_cast<tlbi_granule>((b >> 20) & 3);
    c.range.ttl = static_cast<tlbi_ttl>((b >> 22) & 3);
    c.range.num = static_cast<std::uint8_t>((b >> 24) & 31);
    c.range.scale = static_cast<std::uint8_t>((b >> 29) & 63);
    c.ste_range = static_cast<std::uint8_t>((a >> 8) & 31);
    c.global = (a & 8) != 0;
    c.size = static_cast<std::uint8_t>((a >> 50) % 56);
    c.stride = static_cast<std::uint8_t>((a >> 56) & 31);
    c.prg_index = static_cast<std::uint16_t>(b & 0x1ff);
    c.resp = static_cast<pri_response>((a >> 4) & 3);
    c.resume_retry = (a & 16) != 0;
    c.resume_abort = (a & 32) != 0;
    c.stag = static_cast<std::uint16_t>(b >> 16);
    c.cs = static_cast<sync_cs>((a >> 6) & 3);
    c.msh = static_cast<shareability>((a >> 10) & 3);
    c.msi_attr = static_cast<std::uint8_t>((a >> 12) & 15);
    c.msi_data = static_cast<std::uint32_t>(b);
    c.msi_addr = rng.next();
    return c;
}

TEST(command_fuzz, decode_is_total_and_reencoding_is_stable) {
    const auto ops = defined_opcodes();
    std::vector<command_decode_context> contexts;
    contexts.push_back(command_decode_context{});
    contexts.push_back(full_context());
    contexts.push_back(ns_context());
    {
        command_decode_context c = full_context();
        c.ril = false;
        c.ds = true;
        contexts.push_back(c);
        c = command_decode_context{};
        c.s1p = c.hyp = c.ats = false;
        contexts.push_back(c);
    }
    splitmix64 rng{0x5eedc0de12345678ull};
    std::size_t accepted = 0;
    std::size_t exact = 0;
    std::set<ill_reason> reasons;
    for (int i = 0; i < 200000; ++i) {
        const auto& ctx = contexts[static_cast<std::size_t>(i) % contexts.size()];
        command_words w{rng.next(), rng.next()};
        switch (i % 4) {
        case 0: // raw random words
            break;
        case 1: // random words with a defined opcode
            w[0] = (w[0] & ~0xffull) | ops[rng.next() % ops.size()];
            break;
        default: { // a well-formed command, sometimes with one flipped bit
            w = encode(random_command(rng, ops));
            if (i % 4 == 3) {
                const std::uint64_t bitpos = rng.next() % 128;
                w[bitpos / 64] ^= std::uint64_t{1} << (bitpos % 64);
            }
            break;
        }
        }
        const command_decode_result r = decode_command(w, ctx);
        if (!r.ok()) {
            ASSERT_EQ(r.error, cmdq_error::ill);
            ASSERT_NE(r.reason, ill_reason::none);
            reasons.insert(r.reason);
            continue;
        }
        ++accepted;
        ASSERT_EQ(r.reason, ill_reason::none);
        const command_words e = encode(r.cmd);
        // Encode sets only bits that were set in the input.
        ASSERT_EQ(e[0] & ~w[0], 0u);
        ASSERT_EQ(e[1] & ~w[1], 0u);
        if (ctx.check_reserved_fields) {
            // Nothing is dropped when reserved bits are rejected.
            ASSERT_EQ(e, w) << opcode_name(r.cmd.op);
            ++exact;
        }
        const command_decode_result again = decode_command(e, ctx);
        ASSERT_TRUE(again.ok()) << ill_reason_name(again.reason);
        ASSERT_EQ(again.cmd, r.cmd);
        ASSERT_EQ(encode(again.cmd), e);
    }
    EXPECT_GT(accepted, 40000u);
    EXPECT_GT(exact, 5000u);
    EXPECT_GE(reasons.size(), 12u);
}

// ---- range semantics (§5.4) ---------------------------------------------------------------

TEST(tlbi_range_semantics, non_range_tlbi_is_one_address_all_levels) {
    const tlbi_scope s = tlbi_covered_range(0x12345000, tlbi_range{}, false);
    EXPECT_FALSE(s.is_range);
    EXPECT_EQ(s.span, (addr_span{0x12345000, 0x12345000}));
    EXPECT_FALSE(s.tg.has_value());
    EXPECT_EQ(s.level, 0u);
}

TEST(tlbi_range_semantics, range_is_num_plus_one_times_two_to_scale_granules) {
    auto s = tlbi_covered_range(0x100000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 2, 0),
                                false);
    EXPECT_TRUE(s.is_range);
    EXPECT_EQ(s.span, (addr_span{0x100000, 0x102fff}));
    ASSERT_TRUE(s.tg.has_value());
    EXPECT_EQ(*s.tg, granule::size_4k);
    EXPECT_EQ(s.level, 3u);

    s = tlbi_covered_range(0x103000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 6),
                           false);
    EXPECT_EQ(s.span, (addr_span{0x103000, 0x142fff}));

    s = tlbi_covered_range(0x40000000, range_of(tlbi_granule::size_16k, tlbi_ttl::level2, 3, 2),
                           false);
    EXPECT_EQ(s.span, (addr_span{0x40000000, 0x4003ffff})); // 16 x 16K
    EXPECT_EQ(*s.tg, granule::size_16k);
    EXPECT_EQ(s.level, 2u);

    s = tlbi_covered_range(0, range_of(tlbi_granule::size_64k, tlbi_ttl::any, 31, 31), false);
    EXPECT_EQ(s.span, (addr_span{0, 0x000fffffffffffffull})); // 32 * 2^31 * 64K = 2^52
    EXPECT_EQ(*s.tg, granule::size_64k);
    EXPECT_EQ(s.level, 0u);
}

TEST(tlbi_range_semantics, range_does_not_wrap_past_the_top) {
    const auto s = tlbi_covered_range(
        0xffffffffffff0000ull, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 31, 0), false);
    EXPECT_EQ(s.span, (addr_span{0xffffffffffff0000ull, 0xffffffffffffffffull}));
    const auto exact = tlbi_covered_range(
        0xfffffffffffe0000ull, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 31, 0), false);
    EXPECT_EQ(exact.span, (addr_span{0xfffffffffffe0000ull, 0xffffffffffffffffull}));
}

TEST(tlbi_range_semantics, scale_limits) {
    // With DS, SCALE above 39 is treated as 39.
    EXPECT_EQ(tlbi_range_bytes(range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 45), true),
              0x0008000000000000ull); // 2^(39+12)
    EXPECT_EQ(tlbi_range_bytes(range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 39), true),
              0x0008000000000000ull);
    // Without DS, SCALE is the 5-bit field.
    EXPECT_EQ(tlbi_range_bytes(range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 33), false),
              0x2000u);
    EXPECT_EQ(tlbi_range_bytes(tlbi_range{}, false), 0u);
}

TEST(tlbi_range_semantics, ttl_16k_level1_needs_ds) {
    EXPECT_EQ(effective_ttl(tlbi_granule::size_16k, tlbi_ttl::level1, false), tlbi_ttl::any);
    EXPECT_EQ(effective_ttl(tlbi_granule::size_16k, tlbi_ttl::level1, true), tlbi_ttl::level1);
    EXPECT_EQ(effective_ttl(tlbi_granule::size_4k, tlbi_ttl::level1, false), tlbi_ttl::level1);
    EXPECT_EQ(effective_ttl(tlbi_granule::size_64k, tlbi_ttl::level1, false), tlbi_ttl::level1);
    EXPECT_EQ(effective_ttl(tlbi_granule::size_16k, tlbi_ttl::level2, false), tlbi_ttl::level2);
    EXPECT_EQ(effective_ttl(tlbi_granule::none, tlbi_ttl::level3, false), tlbi_ttl::any);
    const auto s =
        tlbi_covered_range(0, range_of(tlbi_granule::size_16k, tlbi_ttl::level1, 1, 0), false);
    EXPECT_EQ(s.level, 0u);
    EXPECT_EQ(
        tlbi_covered_range(0, range_of(tlbi_granule::size_16k, tlbi_ttl::level1, 1, 0), true).level,
        1u);
}

TEST(tlbi_range_semantics, granule_conversions) {
    EXPECT_EQ(to_tlbi_granule(granule::size_4k), tlbi_granule::size_4k);
    EXPECT_EQ(to_tlbi_granule(granule::size_16k), tlbi_granule::size_16k);
    EXPECT_EQ(to_tlbi_granule(granule::size_64k), tlbi_granule::size_64k);
    EXPECT_EQ(static_cast<int>(tlbi_granule::size_16k), 2);
    EXPECT_FALSE(tlbi_granule_size(tlbi_granule::none).has_value());
    EXPECT_EQ(*tlbi_granule_size(tlbi_granule::size_64k), granule::size_64k);
}

TEST(tlbi_range_semantics, scope_of_a_decoded_command) {
    const auto r = decode(0x0042000300602012ull, 0x0000ffffc0de0701ull, full_context());
    ASSERT_TRUE(r.ok());
    const auto s = tlbi_covered_range(r.cmd, false);
    EXPECT_EQ(s.span, (addr_span{0x0000ffffc0de0000ull, 0x0000ffffc0e9ffffull})); // 3 * 64 * 4K
    EXPECT_EQ(s.level, 3u);
    EXPECT_TRUE(s.span.contains(0x0000ffffc0e9f000ull));
    EXPECT_FALSE(s.span.contains(0x0000ffffc0ea0000ull));
    EXPECT_TRUE(s.span.overlaps(0x0000ffffc0d00000ull, 0x0000ffffc0de0000ull));
    EXPECT_FALSE(s.span.overlaps(0, 0x0000ffffc0ddffffull));
}

// ---- ATC_INV span (§5.5) ------------------------------------------------------------------

TEST(atc_inv_range, span_is_aligned_power_of_two_pages) {
    EXPECT_EQ(atc_inv_span(0x12345678, 0), (addr_span{0x12345000, 0x12345fff}));
    EXPECT_EQ(atc_inv_span(0x12345678, 4), (addr_span{0x12340000, 0x1234ffff}));
    EXPECT_EQ(atc_inv_span(0x7000, 4), (addr_span{0x0, 0xffff}));
    EXPECT_EQ(atc_inv_span(0xffffffffffffffffull, 51),
              (addr_span{0x8000000000000000ull, 0xffffffffffffffffull}));
}

TEST(atc_inv_range, size_52_is_everything) {
    EXPECT_EQ(atc_inv_span(0x12345000, 52), (addr_span{0, 0xffffffffffffffffull}));
    EXPECT_EQ(atc_inv_span(0, 63), (addr_span{0, 0xffffffffffffffffull}));
}

TEST(atc_inv_range, driver_encoding_examples) {
    // Pages 7..10 -> pages 0..15, Size = 4.
    EXPECT_EQ(encode_atc_inv_range(0x7000, 0x4000), (atc_inv_params{0, 4}));
    // Size 0 means everything.
    EXPECT_EQ(encode_atc_inv_range(0x12345000, 0), (atc_inv_params{0, 52}));
    // One page.
    EXPECT_EQ(encode_atc_inv_range(0x5000, 0x1000), (atc_inv_params{0x5000, 0}));
    EXPECT_EQ(encode_atc_inv_range(0x5fff, 1), (atc_inv_params{0x5000, 0}));
    // Unaligned: pages 5..6 -> 4..7.
    EXPECT_EQ(encode_atc_inv_range(0x5800, 0x1000), (atc_inv_params{0x4000, 2}));
    // Crossing a large boundary.
    EXPECT_EQ(encode_atc_inv_range(0x7ffffffffffff000ull, 0x2000), (atc_inv_params{0, 52}));
    EXPECT_EQ(encode_atc_inv_range(0, 0x8000000000000000ull), (atc_inv_params{0, 51}));
    // A range running past the top is clamped there.
    EXPECT_EQ(encode_atc_inv_range(0xfffffffffffff000ull, 0x2000),
              (atc_inv_params{0xfffffffffffff000ull, 0}));
}

TEST(atc_inv_range, driver_encoding_is_minimal_and_covering) {
    splitmix64 rng{0xa7c1a7c1ull};
    for (int i = 0; i < 20000; ++i) {
        const std::uint64_t iova = rng.next() >> (rng.next() % 64);
        const std::uint64_t size = (rng.next() >> (rng.next() % 64)) | 1;
        if (size - 1 > ~iova)
            continue;
        const atc_inv_params p = encode_atc_inv_range(iova, size);
        ASSERT_LE(p.size, 52);
        const addr_span s = atc_inv_span(p.address, p.size);
        EXPECT_EQ(s.start, p.address) << "address is aligned to the span";
        ASSERT_TRUE(s.contains(iova));
        ASSERT_TRUE(s.contains(iova + (size - 1)));
        if (p.size > 0) {
            const addr_span smaller = atc_inv_span(iova, static_cast<std::uint8_t>(p.size - 1));
            ASSERT_FALSE(smaller.contains(iova + (size - 1))) << "a smaller span would do";
        }
    }
}

// ---- range TLBI encoder (§5.4) ------------------------------------------------------------

TEST(tlbi_range_encoder, worked_example_67_pages) {
    const auto ops = encode_range_tlbi(0x100000, 0x43000, granule::size_4k, 12, true);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0],
              (tlbi_range_op{0x100000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 2, 0)}));
    EXPECT_EQ(ops[1],
              (tlbi_range_op{0x103000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 6)}));
}

TEST(tlbi_range_encoder, leaf_ttl_from_the_leaf_size) {
    // 4 x 2MB blocks with 4K pages: TTL 2, one command of 2^11 pages.
    auto ops = encode_range_tlbi(0x40000000, 0x800000, granule::size_4k, 21, true);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_4k, tlbi_ttl::level2, 0, 11));
    // 1GB block with 4K: TTL 1.
    ops = encode_range_tlbi(0x40000000, 0x40000000, granule::size_4k, 30, true);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_4k, tlbi_ttl::level1, 0, 18));
    // 16K pages: 16K leaf -> TTL 3, 32MB block -> TTL 2.
    ops = encode_range_tlbi(0, 0x4000, granule::size_16k, 14, true);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_16k, tlbi_ttl::level3, 0, 0));
    ops = encode_range_tlbi(0, 0x2000000, granule::size_16k, 25, true);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_16k, tlbi_ttl::level2, 0, 11));
    // 64K pages: 512MB block -> TTL 2.
    ops = encode_range_tlbi(0, 0x20000000, granule::size_64k, 29, true);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_64k, tlbi_ttl::level2, 0, 13));
}

TEST(tlbi_range_encoder, non_leaf_avoids_the_reserved_encoding) {
    // One page, non-leaf: bumped to two pages.
    auto ops = encode_range_tlbi(0x5000, 0x1000, granule::size_4k, 12, false);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0],
              (tlbi_range_op{0x5000, range_of(tlbi_granule::size_4k, tlbi_ttl::any, 0, 1)}));
    // 33 pages -> 34 = 17 x 2^1: one command.
    ops = encode_range_tlbi(0x100000, 33 * 0x1000, granule::size_4k, 12, false);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0],
              (tlbi_range_op{0x100000, range_of(tlbi_granule::size_4k, tlbi_ttl::any, 16, 1)}));
    // 65 pages -> 66: 2 pages at SCALE 1, then 64 pages at SCALE 6.
    ops = encode_range_tlbi(0x100000, 65 * 0x1000, granule::size_4k, 12, false);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0],
              (tlbi_range_op{0x100000, range_of(tlbi_granule::size_4k, tlbi_ttl::any, 0, 1)}));
    EXPECT_EQ(ops[1],
              (tlbi_range_op{0x102000, range_of(tlbi_granule::size_4k, tlbi_ttl::any, 0, 6)}));
    // The same 65 pages as a leaf invalidation need no bump: 1 page, then 64.
    ops = encode_range_tlbi(0x100000, 65 * 0x1000, granule::size_4k, 12, true);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0],
              (tlbi_range_op{0x100000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 0)}));
    EXPECT_EQ(ops[1],
              (tlbi_range_op{0x101000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 6)}));
    // Two pages non-leaf need no bump.
    ops = encode_range_tlbi(0x100000, 0x2000, granule::size_4k, 12, false);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_4k, tlbi_ttl::any, 0, 1));
}

TEST(tlbi_range_encoder, five_bit_chunks) {
    // 1023 pages = 31 + 31 * 32.
    const auto ops = encode_range_tlbi(0, 1023 * 0x1000ull, granule::size_4k, 12, true);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0], (tlbi_range_op{0, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 30, 0)}));
    EXPECT_EQ(ops[1],
              (tlbi_range_op{0x1f000, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 30, 5)}));
}

TEST(tlbi_range_encoder, edge_cases) {
    EXPECT_TRUE(encode_range_tlbi(0x1000, 0, granule::size_4k, 12, true).empty());
    // A partial page is rounded up: two pages.
    auto ops = encode_range_tlbi(0x1000, 0x1001, granule::size_4k, 12, true);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].range, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 1));
    // 2^40 pages: SCALE saturates at 31, 32 chunks of 2^31 pages per command.
    ops = encode_range_tlbi(0, 1ull << 52, granule::size_4k, 12, true);
    ASSERT_EQ(ops.size(), 16u);
    for (std::size_t i = 0; i < ops.size(); ++i) {
        EXPECT_EQ(ops[i].address, i << 48);
        EXPECT_EQ(ops[i].range, range_of(tlbi_granule::size_4k, tlbi_ttl::level3, 31, 31));
    }
}

TEST(tlbi_range_encoder, commands_tile_the_range_and_are_legal) {
    splitmix64 rng{0x7161b1ull};
    const auto ctx = full_context();
    const granule grans[] = {granule::size_4k, granule::size_16k, granule::size_64k};
    for (int i = 0; i < 5000; ++i) {
        const granule g = grans[rng.next() % 3];
        const unsigned shift = granule_shift(g);
        const std::uint64_t pages = (rng.next() >> (rng.next() % 36 + 28)) + 1; // <= 2^36
        const std::uint64_t iova = (rng.next() & 0x0000ffffffffffffull) >> shift << shift;
        const bool leaf = (rng.next() & 1) != 0;
        const auto ops = encode_range_tlbi(iova, pages << shift, g, shift, leaf);
        std::uint64_t next = iova;
        unsigned bits = 0;
        for (std::uint64_t p = pages + 1; p != 0; p >>= 1)
            ++bits;
        ASSERT_LE(ops.size(), (bits + 4) / 5);
        for (const auto& op : ops) {
            ASSERT_EQ(op.address, next);
            const auto s = tlbi_covered_range(op.address, op.range, false);
            next = s.span.last + 1;
            // Each one is a legal command.
            const auto r =
                decode_command(encode(make_tlbi_nh_va(1, 2, op.address, leaf, op.range)), ctx);
            ASSERT_TRUE(r.ok()) << ill_reason_name(r.reason);
        }
        const std::uint64_t covered = (next - iova) >> shift;
        if (leaf)
            ASSERT_EQ(covered, pages);
        else
            ASSERT_TRUE(covered == pages || ((pages & 31) == 1 && covered == pages + 1));
    }
}

TEST(tlbi_range_encoder, without_ril_one_address_per_step) {
    EXPECT_EQ(encode_page_tlbi(0x1000, 0x3000, 0x1000),
              (std::vector<std::uint64_t>{0x1000, 0x2000, 0x3000}));
    EXPECT_EQ(encode_page_tlbi(0, 0x2001, 0x1000), (std::vector<std::uint64_t>{0, 0x1000, 0x2000}));
    EXPECT_EQ(encode_page_tlbi(0x200000, 0x400000, 0x200000),
              (std::vector<std::uint64_t>{0x200000, 0x400000}));
    EXPECT_TRUE(encode_page_tlbi(0x1000, 0, 0x1000).empty());
    EXPECT_TRUE(encode_page_tlbi(0x1000, 0x1000, 0).empty());
    EXPECT_EQ(encode_page_tlbi(0, 0xffffffffffffffffull, 0x8000000000000000ull).size(), 2u);
}

} // namespace
} // namespace smmu::arch
