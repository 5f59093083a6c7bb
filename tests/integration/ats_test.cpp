// PCIe ATS as the root complex and an endpoint see it: Translation Requests answered per
// IDR0.ATS, CR0.ATSCHK and STE.EATS with the address, size and permissions of the mapping or
// UR / CA (reference §7.2, with F_BAD_ATS_TREQ), and Translated transactions with
// ATSCHK = 0 and 1 (reference §7.3, with F_TRANSL_FORBIDDEN).
#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

using arch::event_id;
using tlm_ext::ats_status;
using tlm_ext::translation_completion;

tlm_ext::translation_request treq(std::uint32_t sid, std::uint64_t addr, bool no_write = false,
                                  std::optional<std::uint32_t> pasid = std::nullopt,
                                  bool exec = false, bool priv = false) {
    tlm_ext::translation_request r;
    r.address = addr;
    r.length = 4096;
    r.stream_id = sid;
    r.pasid = pasid;
    r.no_write = no_write;
    r.execute = exec;
    r.privileged = priv;
    return r;
}

translation_completion success(std::uint64_t addr, std::uint64_t size, bool r, bool w,
                               bool global = false, bool x = false, bool p = false) {
    translation_completion c;
    c.status = ats_status::success;
    c.translated_address = addr;
    c.size = size;
    c.permissions.read = r;
    c.permissions.write = w;
    c.permissions.execute = x;
    c.permissions.privileged = p;
    c.global = global;
    return c;
}

/// Only the status of UR and CA completions is meaningful.
ats_status status_of(const translation_completion& c) {
    return c.status;
}

arch::event_record bad_treq(std::uint32_t sid, std::uint64_t addr, bool write) {
    arch::event_record e = event(event_id::f_bad_ats_treq, sid);
    e.input_addr = addr;
    e.ats.read = true;
    e.ats.write = write;
    return e;
}

TEST(smmu_ats, translation_requests_follow_eats_and_the_mapping) {
    bench b;
    const auto l = b.prepare();
    auto s1 = b.add_s1_stream(l, 1, 1);
    arch::ste ste1 = make_s1_ste(s1.cd);
    ste1.eats = arch::ste_eats::full;
    b.tables().write_ste(l.strtab, 1, ste1);
    s1.pt.map(0x10000, 0x210000, s1_page_rw);
    s1.pt.map(0x11000, 0x211000, s1_page_ro);
    s1.pt.map(0x12000, 0x212000, pte_af | pte_ng | pte_ish | s1_priv_rw);
    s1.pt.map(0x13000, 0x213000, pte_ng | pte_ish | s1_rw);     // no AF
    s1.pt.map(0x200000, 0x400000, pte_af | pte_ish | s1_rw, 2); // 2 MiB global block
    b.add_s1_stream(l, 2, 2);                                   // EATS = 0
    arch::ste bypass = make_bypass_ste();
    bypass.eats = arch::ste_eats::full;
    b.tables().write_ste(l.strtab, 3, bypass);
    arch::ste abort_ste = bypass;
    abort_ste.config = arch::ste_config::abort;
    b.tables().write_ste(l.strtab, 4, abort_ste);
    arch::ste invalid = ste1;
    invalid.v = false;
    b.tables().write_ste(l.strtab, 5, invalid);
    const std::uint64_t bad_cd = b.tables().alloc(64);
    arch::cd cd_invalid = make_s1_cd(s1.pt.root(), 6);
    cd_invalid.v = false;
    b.tables().write_cd(bad_cd, cd_invalid);
    arch::ste ste6 = make_s1_ste(bad_cd);
    ste6.eats = arch::ste_eats::full;
    b.tables().write_ste(l.strtab, 6, ste6);
    // SID 7: two CDs, S1DSS = bypass; CD 1 maps a privileged, executable page.
    table_writer::page_table pt7(b.tables(), 0, 48);
    pt7.map(0x10000, 0x230000, pte_af | pte_ng | pte_ish | s1_priv_rw);
    const std::uint64_t cds = b.tables().alloc(4 * 64);
    b.tables().write_cd(cds + 64, make_s1_cd(pt7.root(), 71));
    arch::ste ste7 = make_s1_ste(cds);
    ste7.s1_cd_max = 2;
    ste7.s1_dss = arch::ste_s1dss::bypass;
    ste7.eats = arch::ste_eats::full;
    b.tables().write_ste(l.strtab, 7, ste7);

    std::vector<translation_completion> got;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        const tlm_ext::translation_request reqs[] = {
            treq(1, 0x10abc),                       // 0 read/write page
            treq(1, 0x11abc, true),                 // 1 read-only page, NW
            treq(1, 0x11abc),                       // 2 read-only page, write asked
            treq(1, 0x12abc),                       // 3 privileged page, unprivileged request
            treq(1, 0x200abc),                      // 4 2 MiB global block
            treq(1, 0x20abc),                       // 5 unmapped: F_TRANSLATION
            treq(1, 0x13abc),                       // 6 no AF: F_ACCESS
            treq(2, 0x10000),                       // 7 EATS = 0: UR + F_BAD_ATS_TREQ
            treq(3, 0x10000, true),                 // 8 Config = bypass: UR + F_BAD_ATS_TREQ
            treq(4, 0x10000),                       // 9 Config = abort: UR, silent
            treq(5, 0x10000),                       // 10 STE.V = 0: CA, silent
            treq(6, 0x10000),                       // 11 C_BAD_CD: CA, silent
            treq(7, 0x10abc),                       // 12 S1DSS = bypass: identity
            treq(7, 0x10abc, false, 1, true, true), // 13 PASID 1: CD 1
            treq(300, 0x10000),                     // 14 C_BAD_STREAMID: CA
        };
        for (const auto& r : reqs)
            got.push_back(b.ats().translate(r));
        events = b.drain_events(l);
    }));
    ASSERT_EQ(got.size(), 15u);
    EXPECT_EQ(got[0], success(0x210000, 4096, true, true));
    EXPECT_EQ(got[1], success(0x211000, 4096, true, false));
    EXPECT_EQ(got[2], success(0x211000, 4096, true, false));
    EXPECT_EQ(got[3], success(0x212000, 4096, false, false));
    EXPECT_EQ(got[4], success(0x400000, 0x200000, true, true, true));
    EXPECT_EQ(got[5], success(0x20000, 4096, false, false));
    EXPECT_EQ(got[6], success(0x13000, 4096, false, false));
    EXPECT_EQ(status_of(got[7]), ats_status::unsupported_request);
    EXPECT_EQ(status_of(got[8]), ats_status::unsupported_request);
    EXPECT_EQ(status_of(got[9]), ats_status::unsupported_request);
    EXPECT_EQ(status_of(got[10]), ats_status::completer_abort);
    EXPECT_EQ(status_of(got[11]), ats_status::completer_abort);
    EXPECT_EQ(got[12], success(0x10000, 4096, true, true, true));
    EXPECT_EQ(got[13], success(0x230000, 4096, true, true, false, true, true));
    EXPECT_EQ(status_of(got[14]), ats_status::completer_abort);
    // Only the disallowed requests are recorded; translation faults and configuration
    // errors of ATS are not (CR2.REC_CFG_ATS = 0).
    const std::vector<arch::event_record> expected = {bad_treq(2, 0x10000, true),
                                                      bad_treq(3, 0x10000, false)};
    EXPECT_EQ(events, expected);
    EXPECT_EQ(b.smmu().stats().ats_requests, 15u);
}

TEST(smmu_ats, requests_on_the_data_socket_are_answered_alike) {
    bench b;
    const auto l = b.prepare();
    auto s1 = b.add_s1_stream(l, 1, 1);
    arch::ste ste1 = make_s1_ste(s1.cd);
    ste1.eats = arch::ste_eats::full;
    b.tables().write_ste(l.strtab, 1, ste1);
    s1.pt.map(0x10000, 0x210000, s1_page_ro);
    std::optional<translation_completion> data_path;
    translation_completion ats_path;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        data_path = b.device().translation_request(treq(1, 0x10abc));
        ats_path = b.ats().translate(treq(1, 0x10abc));
    }));
    ASSERT_TRUE(data_path.has_value());
    EXPECT_EQ(*data_path, success(0x210000, 4096, true, false));
    EXPECT_EQ(ats_path, *data_path);
    EXPECT_EQ(b.device().last_status(), tlm::TLM_OK_RESPONSE);
}

TEST(smmu_ats, smmuen_0_is_unsupported_request_with_f_bad_ats_treq) {
    bench b;
    const auto l = b.prepare();
    translation_completion got;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write32(arch::reg::cr0, 0xc); // queues on, SMMUEN off
        got = b.ats().translate(treq(9, 0x7000, true));
        events = b.drain_events(l);
    }));
    EXPECT_EQ(got.status, ats_status::unsupported_request);
    const std::vector<arch::event_record> expected = {bad_treq(9, 0x7000, false)};
    EXPECT_EQ(events, expected);
}

TEST(smmu_ats, without_idr0_ats_requests_are_unsupported_and_atschk_is_res0) {
    bench_config cfg;
    cfg.params.features.ats = false;
    bench b(cfg);
    const auto l = b.prepare();
    auto s1 = b.add_s1_stream(l, 1, 1);
    s1.pt.map(0x10000, 0x210000, s1_page_rw);
    translation_completion got;
    std::uint32_t cr0 = 0;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l, true);
        cr0 = b.reg_read32(arch::reg::cr0ack);
        got = b.ats().translate(treq(1, 0x10000));
        events = b.drain_events(l);
    }));
    EXPECT_EQ(cr0, 0xdu); // no ATSCHK
    EXPECT_EQ(got.status, ats_status::unsupported_request);
    EXPECT_TRUE(events.empty());
}

/// Split-stage ATS (STE.EATS = 0b10, needs IDR0.NS1ATS = 0): SID 8 is nested, stage 1 maps
/// VA 0x10000 to IPA 0x40000000 read-only, stage 2 maps that IPA to PA 0x250000.
struct split_stage {
    explicit split_stage(bench& b, const bench::layout& l)
        : n2(b.tables(), 0, 48)
        , n1(b.tables(), 0, 48) {
        n2.map(0, 0, s2_page_rw, 1);
        n2.map(0x40000000, 0x250000, s2_page_rw);
        n1.map(0x10000, 0x40000000, s1_page_ro);
        const std::uint64_t cd = b.tables().alloc(64);
        b.tables().write_cd(cd, make_s1_cd(n1.root(), 8));
        arch::ste s = make_nested_ste(cd, n2.root(), 8);
        s.eats = arch::ste_eats::split;
        b.tables().write_ste(l.strtab, 8, s);
        b.mem().write32(0x250010, 0x5b5b5b5b);
    }
    table_writer::page_table n2;
    table_writer::page_table n1;
};

TEST(smmu_ats, split_stage_returns_the_ipa_with_atschk_1_only) {
    bench_config cfg;
    cfg.params.features.ns1ats = false;
    bench b(cfg);
    const auto l = b.prepare();
    split_stage setup(b, l);
    translation_completion checked, unchecked;
    std::uint32_t v = 0;
    dma_result translated{};
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l, true);
        checked = b.ats().translate(treq(8, 0x10abc));
        // The endpoint then uses the IPA: stage 2 translates it.
        dma_attrs a;
        a.sid = 8;
        a.ats = tlm_ext::ats_type::translated;
        translated = b.device().read(0x40000010, &v, 4, a);
        b.reg_write32(arch::reg::cr0, 0xd); // ATSCHK = 0: EATS = 0b10 behaves as 0b00
        unchecked = b.ats().translate(treq(8, 0x10abc));
        events = b.drain_events(l);
    }));
    EXPECT_EQ(checked, success(0x40000000, 4096, true, false));
    EXPECT_TRUE(translated.ok());
    EXPECT_EQ(v, 0x5b5b5b5bu);
    EXPECT_EQ(unchecked.status, ats_status::unsupported_request);
    const std::vector<arch::event_record> expected = {bad_treq(8, 0x10000, true)};
    EXPECT_EQ(events, expected);
}

TEST(smmu_ats, translated_transactions_bypass_with_atschk_0) {
    bench b;
    const auto l = b.prepare();
    arch::ste invalid = make_bypass_ste();
    invalid.v = false;
    b.tables().write_ste(l.strtab, 1, invalid);
    b.mem().write32(0x260010, 0x26262626);
    std::uint32_t v = 0;
    dma_result r{}, beyond{};
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l, false);
        dma_attrs a;
        a.sid = 1; // no STE lookup: its invalid STE does not matter
        a.ats = tlm_ext::ats_type::translated;
        r = b.device().read(0x260010, &v, 4, a);
        beyond = b.device().read(0x1000000000000ull, &v, 4, a); // beyond the OAS
        events = b.drain_events(l);
    }));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(v, 0x26262626u);
    EXPECT_EQ(beyond.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_TRUE(events.empty());
}

TEST(smmu_ats, translated_transactions_are_checked_against_eats_with_atschk_1) {
    bench b;
    const auto l = b.prepare();
    auto s1 = b.add_s1_stream(l, 1, 1);
    arch::ste full = make_s1_ste(s1.cd);
    full.eats = arch::ste_eats::full;
    b.tables().write_ste(l.strtab, 1, full);
    b.add_s1_stream(l, 2, 2); // EATS = 0
    b.tables().write_ste(l.strtab, 3, make_bypass_ste());
    arch::ste invalid = full;
    invalid.v = false;
    b.tables().write_ste(l.strtab, 4, invalid);
    arch::ste abort_ste = full;
    abort_ste.config = arch::ste_config::abort;
    b.tables().write_ste(l.strtab, 5, abort_ste);
    b.mem().write32(0x260010, 0x26262626);
    std::uint32_t v[5] = {};
    dma_result r[5];
    dma_result disabled{};
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l, true);
        for (unsigned i = 0; i < 5; ++i) {
            dma_attrs a;
            a.sid = 1 + i;
            a.ats = tlm_ext::ats_type::translated;
            r[i] = i == 1 ? b.device().write(0x260010, &v[i], 4, a)
                          : b.device().read(0x260010, &v[i], 4, a);
        }
        b.reg_write32(arch::reg::cr0, 0x1c); // SMMUEN off
        dma_attrs a;
        a.sid = 1;
        a.ats = tlm_ext::ats_type::translated;
        disabled = b.device().read(0x260010, &v[0], 4, a);
        events = b.drain_events(l);
    }));
    EXPECT_TRUE(r[0].ok()); // full ATS: the address is a PA
    EXPECT_EQ(v[0], 0x26262626u);
    for (unsigned i = 1; i < 5; ++i)
        EXPECT_EQ(r[i].status, tlm::TLM_ADDRESS_ERROR_RESPONSE) << "SID " << 1 + i;
    EXPECT_EQ(disabled.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    arch::event_record eats0 = event(event_id::f_transl_forbidden, 2);
    eats0.input_addr = 0x260010;
    arch::event_record bypass = event(event_id::f_transl_forbidden, 3);
    bypass.input_addr = 0x260010;
    bypass.rnw = true;
    arch::event_record off = event(event_id::f_transl_forbidden, 1);
    off.input_addr = 0x260010;
    off.rnw = true;
    // SID 4 (invalid STE) and 5 (Config = abort) are silent without CR2.REC_CFG_ATS.
    const std::vector<arch::event_record> expected = {eats0, bypass, off};
    EXPECT_EQ(events, expected);
}

} // namespace
} // namespace smmu::test
