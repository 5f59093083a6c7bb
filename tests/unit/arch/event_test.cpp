#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "model/arch/event.h"

namespace smmu::arch {
namespace {

access_kind acc(bool write, bool instruction, bool privileged) {
    access_kind a;
    a.write = write;
    a.instruction = instruction;
    a.privileged = privileged;
    return a;
}

fault_stage stage_of(bool s2, fault_class cls, std::uint64_t ipa = 0, bool nsipa = false) {
    fault_stage f;
    f.s2 = s2;
    f.cls = cls;
    f.ipa = ipa;
    f.nsipa = nsipa;
    return f;
}

const stream_ref s_ssid{0x1234, 0xabc}; // W0 = 0x0000123400abc8xx

// ---- golden records: one per event number --------------------------------------------------

struct golden {
    const char* name;
    event_record rec;
    event_words words;
};

std::vector<golden> goldens() {
    ats_request_access treq;
    treq.read = true;
    treq.write = true;
    treq.priv = true;
    page_request_access preq;
    preq.priv_read = true;
    preq.priv_exec = true;
    preq.user_read = true;
    preq.user_write = true;
    return {
        {"f_uut",
         make_uut(s_ssid, 0xffff0000deadbeefull, acc(false, true, true), 0x5a5a),
         {0x0000123400abc801ull, 0x0000000e00005a5aull, 0xffff0000deadbeefull, 0}},
        {"c_bad_streamid", make_bad_streamid(s_ssid), {0x0000123400abc802ull, 0, 0, 0}},
        {"c_bad_streamid_no_ssv", make_bad_streamid(0xffffffff), {0xffffffff00000002ull, 0, 0, 0}},
        {"f_ste_fetch",
         make_ste_fetch(s_ssid, 0x0000008000001040ull, 0x77),
         {0x0000123400abc803ull, 0x77, 0, 0x0000008000001040ull}},
        {"c_bad_ste", make_bad_ste(0x55), {0x0000005500000004ull, 0, 0, 0}},
        {"f_bad_ats_treq",
         make_bad_ats_treq(s_ssid, 0x00007fff12345000ull, 8, treq),
         {0x0000123400abc805ull, 0x0000800d00000000ull, 0x00007fff12345000ull, 0}},
        {"f_stream_disabled", make_stream_disabled(0x1234), {0x0000123400000006ull, 0, 0, 0}},
        {"f_transl_forbidden",
         make_transl_forbidden(0x1234, 0xcafe0123ull, true),
         {0x0000123400000007ull, 0x0000000800000000ull, 0xcafe0123ull, 0}},
        {"c_bad_substreamid",
         make_bad_substreamid(0x1234, 0xfffff),
         {0x00001234fffff008ull, 0, 0, 0}},
        {"f_cd_fetch",
         make_cd_fetch(s_ssid, 0x80000040ull, 0xffff),
         {0x0000123400abc809ull, 0xffff, 0, 0x80000040ull}},
        {"c_bad_cd", make_bad_cd(s_ssid), {0x0000123400abc80aull, 0, 0, 0}},
        {"f_walk_eabt",
         make_walk_eabt(s_ssid, 0x40000000ull, acc(true, true, false), true, fault_class::tt,
                        0x0000000880000ff8ull, 1),
         {0x0000123400abc80bull, 0x0000018000000001ull, 0x40000000ull, 0x0000000880000ff8ull}},
        {"f_translation",
         make_translation_fault(s_ssid, 0xffff800000001234ull, acc(false, false, true),
                                stage_of(false, fault_class::in), stall_state{true, 0xbeef}),
         {0x0000123400abc810ull, 0x0000020a8000beefull, 0xffff800000001234ull, 0}},
        {"f_addr_size",
         make_addr_size_fault(0x1234, 0x1000, acc(true, false, false),
                              stage_of(true, fault_class::in, 0x000ffffffffff000ull)),
         {0x0000123400000011ull, 0x0000028000000000ull, 0x1000, 0x000ffffffffff000ull}},
        {"f_access",
         make_access_fault(s_ssid, 0x2000, acc(false, true, false),
                           stage_of(true, fault_class::cd, 0x80000000ull, true)),
         {0x0000123400abc812ull, 0x000000cc00000000ull, 0x2000, 0x80000000ull}},
        {"f_permission",
         make_permission_fault(s_ssid, 0x3000, acc(true, false, false),
                               stage_of(true, fault_class::tt, 0x0000400000000000ull),
                               stall_state{false, 0x12}, true),
         {0x0000123400abc813ull, 0x0000118000000012ull, 0x3000, 0x0000400000000000ull}},
        {"f_tlb_conflict",
         make_tlb_conflict(s_ssid, 0x5000, acc(false, false, true), true, 0x6000, 0xdeadbeef),
         {0x0000123400abc820ull, 0x0000008adeadbeefull, 0x5000, 0x6000}},
        {"f_cfg_conflict",
         make_cfg_conflict(s_ssid, 0x12345678),
         {0x0000123400abc821ull, 0x12345678, 0, 0}},
        {"e_page_request",
         make_page_request(s_ssid, 0x0000555566667000ull, 0xff, preq),
         {0x0000123400abc824ull, 0x000ff0ac00000000ull, 0x0000555566667000ull, 0}},
        {"f_vms_fetch",
         make_vms_fetch(s_ssid, 0x10000, 0x3),
         {0x0000123400abc825ull, 0x3, 0, 0x10000}},
    };
}

TEST(event_encoding, golden_words_per_event) {
    for (const auto& g : goldens()) {
        SCOPED_TRACE(g.name);
        const event_words w = encode_event(g.rec);
        EXPECT_EQ(w[0], g.words[0]);
        EXPECT_EQ(w[1], g.words[1]);
        EXPECT_EQ(w[2], g.words[2]);
        EXPECT_EQ(w[3], g.words[3]);
    }
}

TEST(event_encoding, golden_words_decode_to_the_builder_record) {
    for (const auto& g : goldens()) {
        SCOPED_TRACE(g.name);
        EXPECT_EQ(decode_event(g.words), g.rec);
    }
}

TEST(event_encoding, every_architected_event_has_a_golden) {
    std::set<int> covered;
    for (const auto& g : goldens())
        covered.insert(static_cast<int>(g.words[0] & 0xff));
    const std::set<int> expected = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                                    0x0b, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x24, 0x25};
    EXPECT_EQ(covered, expected);
    for (int raw = 0; raw < 256; ++raw)
        EXPECT_EQ(is_architected_event(static_cast<std::uint8_t>(raw)), expected.count(raw) == 1)
            << raw;
}

TEST(event_encoding, builders_fill_exactly_their_fields) {
    // Configuration errors carry W0 only.
    const auto ste = make_bad_ste(s_ssid);
    EXPECT_EQ(ste.id, event_id::c_bad_ste);
    EXPECT_EQ(ste.sid, 0x1234u);
    EXPECT_TRUE(ste.ssv);
    EXPECT_EQ(ste.ssid, 0xabcu);
    EXPECT_EQ(ste.input_addr, 0u);
    // C_BAD_SUBSTREAMID: SubstreamID without SSV.
    const auto sub = make_bad_substreamid(7, 9);
    EXPECT_FALSE(sub.ssv);
    EXPECT_EQ(sub.ssid, 9u);
    // Writes record InD = 0 even for an instruction access.
    const auto walk = make_walk_eabt(1, 0, acc(true, true, true), false, fault_class::tt, 0x80);
    EXPECT_FALSE(walk.rnw);
    EXPECT_FALSE(walk.ind);
    EXPECT_TRUE(walk.pnu);
    EXPECT_EQ(walk.fetch_addr, 0x80u);
    // Translation faults: stall and STAG.
    const auto tf = make_translation_fault(3, 0x1000, acc(false, false, false),
                                           stage_of(false, fault_class::in), stall_state{true, 42});
    EXPECT_TRUE(tf.stall);
    EXPECT_EQ(tf.stag, 42);
    EXPECT_EQ(tf.cls, fault_class::in);
    EXPECT_FALSE(tf.s2);
    EXPECT_TRUE(tf.rnw);
    EXPECT_FALSE(tf.ttrnw);
}

TEST(event_encoding, address_fields_drop_bits_outside_their_position) {
    auto w = encode_event(make_ste_fetch(1, 0xffffffffffffffffull));
    EXPECT_EQ(w[3], 0x00fffffffffffff8ull); // FetchAddr[55:3]
    w = encode_event(make_translation_fault(1, 0, acc(false, false, false),
                                            stage_of(true, fault_class::in, ~0ull)));
    EXPECT_EQ(w[3], 0x00fffffffffff000ull); // IPA[55:12]
    ats_request_access r;
    w = encode_event(make_bad_ats_treq(1, 0x00007fff12345abcull, 1, r));
    EXPECT_EQ(w[2], 0x00007fff12345000ull); // InputAddr[63:12]
    w = encode_event(make_page_request(1, 0xffffffffffffffffull, 1, page_request_access{}));
    EXPECT_EQ(w[2], 0xfffffffffffff000ull);
    // InputAddr of fault records is the full 64-bit address (TBI does not strip it).
    w = encode_event(make_uut(1, 0xff00000000000fffull, acc(false, false, false)));
    EXPECT_EQ(w[2], 0xff00000000000fffull);
}

TEST(event_encoding, fields_an_event_does_not_define_are_not_encoded) {
    event_record e = make_bad_ste(s_ssid);
    e.input_addr = 0x1234;
    e.stall = true;
    e.s2 = true;
    e.fetch_addr = 0x8000;
    e.reason = 0xffff;
    const event_words w = encode_event(e);
    EXPECT_EQ(w, (event_words{0x0000123400abc804ull, 0, 0, 0}));
    // F_STREAM_DISABLED has no SSV/SubstreamID.
    event_record d = make_stream_disabled(0x1234);
    d.ssv = true;
    d.ssid = 0xfffff;
    EXPECT_EQ(encode_event(d)[0], 0x0000123400000006ull);
    // C_BAD_SUBSTREAMID has no SSV.
    event_record sub = make_bad_substreamid(0x1234, 1);
    sub.ssv = true;
    EXPECT_EQ(encode_event(sub)[0], 0x0000123400001008ull);
    // F_TRANSL_FORBIDDEN records RnW only.
    event_record tf = make_transl_forbidden(1, 0, false);
    tf.pnu = true;
    tf.ind = true;
    EXPECT_EQ(encode_event(tf)[1], 0u);
    // TTRnW only in F_PERMISSION; CLASS not in F_TLB_CONFLICT.
    event_record tr =
        make_translation_fault(1, 0, acc(true, false, false), stage_of(true, fault_class::tt));
    tr.ttrnw = true;
    EXPECT_EQ(encode_event(tr)[1], 0x0000018000000000ull);
    event_record tc = make_tlb_conflict(1, 0, acc(true, false, false), false, 0);
    tc.cls = fault_class::in;
    EXPECT_EQ(encode_event(tc)[1], 0u);
}

TEST(event_encoding, decode_ignores_bits_the_event_does_not_define) {
    const event_words all_ones{0xffffffffffffff04ull, ~0ull, ~0ull, ~0ull};
    const event_record e = decode_event(all_ones);
    EXPECT_EQ(e, make_bad_ste(stream_ref{0xffffffff, 0xfffff}));
    const event_record s = decode_event({0xffffffffffffff08ull, ~0ull, ~0ull, ~0ull});
    EXPECT_EQ(s, make_bad_substreamid(0xffffffff, 0xfffff));
    EXPECT_FALSE(s.ssv);
    const event_record d = decode_event({0xffffffffffffff06ull, ~0ull, ~0ull, ~0ull});
    EXPECT_EQ(d, make_stream_disabled(0xffffffff));
}

TEST(event_encoding, every_fault_field_position) {
    struct single {
        const char* name;
        event_words w;
    };
    // F_PERMISSION with one field set at a time.
    const single cases[] = {
        {"stag", {0x13, 0x000000000000ffffull, 0, 0}},
        {"stall", {0x13, 0x0000000080000000ull, 0, 0}},
        {"pnu", {0x13, 0x0000000200000000ull, 0, 0}},
        {"ind", {0x13, 0x0000000400000000ull, 0, 0}},
        {"rnw", {0x13, 0x0000000800000000ull, 0, 0}},
        {"nsipa", {0x13, 0x0000004000000000ull, 0, 0}},
        {"s2", {0x13, 0x0000008000000000ull, 0, 0}},
        {"class", {0x13, 0x0000030000000000ull, 0, 0}},
        {"ttrnw", {0x13, 0x0000100000000000ull, 0, 0}},
        {"ssv", {0x0813, 0, 0, 0}},
        {"ssid", {0xfffff013ull, 0, 0, 0}},
        {"sid", {0xffffffff00000013ull, 0, 0, 0}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const event_record e = decode_event(c.w);
        EXPECT_EQ(encode_event(e), c.w);
        event_record zero;
        zero.id = event_id::f_permission;
        EXPECT_NE(e, zero);
    }
    const event_record cls = decode_event({0x13, 0x0000030000000000ull, 0, 0});
    EXPECT_EQ(static_cast<int>(cls.cls), 3) << "reserved CLASS is kept as decoded";
    EXPECT_EQ(decode_event({0x13, 0x0000010000000000ull, 0, 0}).cls, fault_class::tt);
    EXPECT_EQ(decode_event({0x13, 0x0000020000000000ull, 0, 0}).cls, fault_class::in);
    EXPECT_EQ(decode_event({0x13, 0, 0, 0}).cls, fault_class::cd);
}

TEST(event_encoding, stag_is_16_bits) {
    // Reference §9 row 1: gem5 reads STAG as [16:0]; the spec, Linux and QEMU use [15:0].
    const event_record e = decode_event({0x10, 0x000000000001ffffull, 0, 0});
    EXPECT_EQ(e.stag, 0xffff);
    EXPECT_EQ(encode_event(e)[1], 0x000000000000ffffull) << "bit 16 is RES0";
}

TEST(event_encoding, ats_and_page_request_flags) {
    // F_BAD_ATS_TREQ: R/W/X/PRIV and Span (positions not confirmed).
    const event_record t = decode_event({0x05, 0x000ff00f00000000ull, 0, 0});
    EXPECT_TRUE(t.ats.read);
    EXPECT_TRUE(t.ats.write);
    EXPECT_TRUE(t.ats.exec);
    EXPECT_TRUE(t.ats.priv);
    EXPECT_EQ(t.span, 0xff);
    EXPECT_TRUE(decode_event({0x05, 0x0000000100000000ull, 0, 0}).ats.priv);
    EXPECT_TRUE(decode_event({0x05, 0x0000000200000000ull, 0, 0}).ats.exec);
    // E_PAGE_REQUEST flags one at a time.
    EXPECT_TRUE(decode_event({0x24, 0x0000008000000000ull, 0, 0}).page_req.priv_read);
    EXPECT_TRUE(decode_event({0x24, 0x0000004000000000ull, 0, 0}).page_req.priv_write);
    EXPECT_TRUE(decode_event({0x24, 0x0000002000000000ull, 0, 0}).page_req.priv_exec);
    EXPECT_TRUE(decode_event({0x24, 0x0000000800000000ull, 0, 0}).page_req.user_read);
    EXPECT_TRUE(decode_event({0x24, 0x0000000400000000ull, 0, 0}).page_req.user_write);
    EXPECT_TRUE(decode_event({0x24, 0x0000000200000000ull, 0, 0}).page_req.user_exec);
    EXPECT_EQ(decode_event({0x24, 0x0000001100000000ull, 0, 0}), decode_event({0x24, 0, 0, 0}))
        << "bits 36 and 32 are not page-request flags";
}

TEST(event_encoding, impdef_and_reserved_numbers) {
    for (int raw = 0xe0; raw <= 0xef; ++raw)
        EXPECT_TRUE(is_impdef_event(static_cast<std::uint8_t>(raw)));
    EXPECT_FALSE(is_impdef_event(0xdf));
    EXPECT_FALSE(is_impdef_event(0xf0));
    EXPECT_EQ(static_cast<int>(event_id::impdef_0), 0xe0);
    EXPECT_EQ(static_cast<int>(event_id::impdef_15), 0xef);

    event_record e;
    e.id = event_id::impdef_5;
    e.sid = 5;
    EXPECT_EQ(encode_event(e), (event_words{0xe5, 0, 0, 0}));
    const event_record r = decode_event({0xffffffffffffff0cull, ~0ull, ~0ull, ~0ull});
    event_record only_id;
    only_id.id = static_cast<event_id>(0x0c);
    EXPECT_EQ(r, only_id);
    EXPECT_STREQ(event_name(static_cast<event_id>(0x0c)), "RESERVED_EVENT");
    EXPECT_STREQ(event_name(event_id::impdef_3), "IMPDEF_EVENT");
    EXPECT_STREQ(event_name(event_id::f_translation), "F_TRANSLATION");
    EXPECT_STREQ(event_name(event_id::c_bad_substreamid), "C_BAD_SUBSTREAMID");
}

TEST(event_encoding, fault_class_values) {
    EXPECT_EQ(static_cast<int>(fault_class::cd), 0);
    EXPECT_EQ(static_cast<int>(fault_class::tt), 1);
    EXPECT_EQ(static_cast<int>(fault_class::in), 2);
}

TEST(event_fuzz, decode_encode_is_stable) {
    std::uint64_t state = 0xe7e27e27ull;
    auto next = [&state] {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    };
    const std::uint8_t ids[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                                0x0b, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x24, 0x25};
    for (int i = 0; i < 50000; ++i) {
        event_words w{next(), next(), next(), next()};
        if (i % 2 == 0)
            w[0] = (w[0] & ~0xffull) | ids[next() % sizeof(ids)];
        const event_record e = decode_event(w);
        const event_words enc = encode_event(e);
        ASSERT_EQ(enc[0] & ~w[0], 0u);
        ASSERT_EQ(enc[1] & ~w[1], 0u);
        ASSERT_EQ(enc[2] & ~w[2], 0u);
        ASSERT_EQ(enc[3] & ~w[3], 0u);
        ASSERT_EQ(decode_event(enc), e);
    }
}

} // namespace
} // namespace smmu::arch
