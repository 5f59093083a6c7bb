// Stream tables (linear and 2-level), STE configurations, substreams with CD tables, and the
// configuration events with every field of their records (reference §2-§4, §6).
#include <gtest/gtest.h>

#include "model/arch/stream_table.h"
#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

using arch::event_id;

TEST(smmu_stream_table, every_ste_configuration_of_a_linear_table) {
    bench b;
    const auto l = b.prepare();
    b.tables().write_ste(l.strtab, 1, make_bypass_ste());
    arch::ste abort_ste;
    abort_ste.v = true;
    abort_ste.config = arch::ste_config::abort;
    b.tables().write_ste(l.strtab, 2, abort_ste);
    auto s1 = b.add_s1_stream(l, 3, 1);
    s1.pt.map(0x10000, 0x210000, s1_page_rw);
    table_writer::page_table s2(b.tables(), 0, 48);
    s2.map(0x40000, 0x220000, s2_page_rw);
    b.tables().write_ste(l.strtab, 4, make_s2_ste(s2.root(), 4));
    // Nested: stage 2 maps the table pool 1:1 with a 1 GiB block (the CD and the stage-1
    // tables are IPAs), and the IPA of the data page somewhere else.
    table_writer::page_table n2(b.tables(), 0, 48);
    n2.map(0, 0, s2_page_rw, 1);
    n2.map(0x40000000, 0x230000, s2_page_rw);
    table_writer::page_table n1(b.tables(), 0, 48);
    n1.map(0x50000, 0x40000000, s1_page_rw);
    const std::uint64_t cd = b.tables().alloc(64);
    b.tables().write_cd(cd, make_s1_cd(n1.root(), 5));
    b.tables().write_ste(l.strtab, 5, make_nested_ste(cd, n2.root(), 5));
    b.mem().write32(0x123450, 0x11111111);
    b.mem().write32(0x210010, 0x33333333);
    b.mem().write32(0x220010, 0x44444444);
    b.mem().write32(0x230010, 0x55555555);

    std::uint32_t v[6] = {};
    dma_result r[6];
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        const auto read = [&](unsigned i, std::uint32_t sid, std::uint64_t va) {
            dma_attrs a;
            a.sid = sid;
            r[i] = b.device().read(va, &v[i], 4, a);
        };
        read(1, 1, 0x123450);
        read(2, 2, 0x123450);
        read(3, 3, 0x10010);
        read(4, 4, 0x40010);
        read(5, 5, 0x50010);
        events = b.drain_events(l);
    }));
    EXPECT_TRUE(r[1].ok());
    EXPECT_EQ(v[1], 0x11111111u);
    EXPECT_EQ(r[2].status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(v[2], 0u);
    EXPECT_TRUE(r[3].ok());
    EXPECT_EQ(v[3], 0x33333333u);
    EXPECT_TRUE(r[4].ok());
    EXPECT_EQ(v[4], 0x44444444u);
    EXPECT_TRUE(r[5].ok());
    EXPECT_EQ(v[5], 0x55555555u);
    EXPECT_TRUE(events.empty()); // Config = abort is silent
}

TEST(smmu_stream_table, two_level_table_with_l1std_spans) {
    bench_config cfg;
    bench b(cfg);
    auto l = b.prepare();
    // FMT = 2-level, SPLIT = 8, LOG2SIZE = 16: 256 L1STDs of 256 STEs each.
    const std::uint64_t l1 = b.tables().alloc(256 * 8);
    const std::uint64_t l2 = b.tables().alloc(256 * 64, 256 * 64);
    const std::uint64_t small = b.tables().alloc(2 * 64);
    b.mem().write64(l1 + 8 * 3, arch::encode_l1std({9, l2}));    // 256 STEs
    b.mem().write64(l1 + 8 * 5, arch::encode_l1std({2, small})); // 2 STEs
    b.mem().write64(l1 + 8 * 6, arch::encode_l1std({9, l2}));
    l.strtab = l1;
    l.strtab_base_cfg = 0x10000 | (8u << 6) | 16u;
    b.tables().write_ste(l2, 5, make_bypass_ste()); // SID 0x305
    table_writer::page_table pt(b.tables(), 0, 48);
    pt.map(0x10000, 0x210000, s1_page_rw);
    const std::uint64_t cd = b.tables().alloc(64);
    b.tables().write_cd(cd, make_s1_cd(pt.root(), 1));
    b.tables().write_ste(l2, 1, make_s1_ste(cd));      // SID 0x301
    b.tables().write_ste(small, 1, make_bypass_ste()); // SID 0x501
    b.mem().add_abort_range(l1 + 8 * 6, l1 + 8 * 6 + 7);
    b.mem().write32(0x123450, 0x11111111);
    b.mem().write32(0x210010, 0x33333333);

    std::uint32_t v[4] = {};
    dma_result ok[3], bad[4];
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.reg_write32(arch::reg::cr2, 0x2); // RECINVSID
        b.enable(l);
        dma_attrs a;
        a.sid = 0x305;
        ok[0] = b.device().read(0x123450, &v[0], 4, a);
        a.sid = 0x301;
        ok[1] = b.device().read(0x10010, &v[1], 4, a);
        a.sid = 0x501;
        ok[2] = b.device().read(0x123450, &v[2], 4, a);
        a.sid = 0x503; // beyond the 2 STEs of its span
        bad[0] = b.device().read(0x123450, &v[3], 4, a);
        a.sid = 0x405; // Span 0
        bad[1] = b.device().read(0x123450, &v[3], 4, a);
        a.sid = 0x10005; // beyond LOG2SIZE
        bad[2] = b.device().read(0x123450, &v[3], 4, a);
        a.sid = 0x605; // the L1STD read aborts
        bad[3] = b.device().read(0x123450, &v[3], 4, a);
        events = b.drain_events(l);
    }));
    for (const auto& r : ok)
        EXPECT_TRUE(r.ok());
    EXPECT_EQ(v[0], 0x11111111u);
    EXPECT_EQ(v[1], 0x33333333u);
    EXPECT_EQ(v[2], 0x11111111u);
    for (const auto& r : bad)
        EXPECT_EQ(r.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(v[3], 0u);
    arch::event_record fetch = event(event_id::f_ste_fetch, 0x605);
    fetch.fetch_addr = l1 + 8 * 6;
    const std::vector<arch::event_record> expected = {
        event(event_id::c_bad_streamid, 0x503), event(event_id::c_bad_streamid, 0x405),
        event(event_id::c_bad_streamid, 0x10005), fetch};
    EXPECT_EQ(events, expected);
    EXPECT_EQ(b.smmu().engine().stats().l1std_fetches, 6u); // not for 0x10005
}

TEST(smmu_stream_table, bad_streamids_are_recorded_only_with_recinvsid) {
    bench b;
    const auto l = b.prepare(); // 256 StreamIDs
    std::vector<arch::event_record> silent, recorded;
    dma_result r1{}, r2{}, r3{};
    std::uint32_t v = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        dma_attrs a;
        a.sid = 256;
        r1 = b.device().read(0x1000, &v, 4, a);
        silent = b.drain_events(l);
        b.reg_write32(arch::reg::cr0, 0xc); // SMMUEN off to change CR2
        b.reg_write32(arch::reg::cr2, 0x2);
        b.reg_write32(arch::reg::cr0, 0xd);
        r2 = b.device().read(0x1000, &v, 4, a);
        a.sid = 300;
        a.ssid = 7;
        r3 = b.device().read(0x1000, &v, 4, a);
        recorded = b.drain_events(l);
    }));
    EXPECT_EQ(r1.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r2.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r3.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_TRUE(silent.empty());
    arch::event_record with_ssid = event(event_id::c_bad_streamid, 300);
    with_ssid.ssv = true;
    with_ssid.ssid = 7;
    const std::vector<arch::event_record> expected = {event(event_id::c_bad_streamid, 256),
                                                      with_ssid};
    EXPECT_EQ(recorded, expected);
}

TEST(smmu_stream_table, ste_errors_c_bad_ste_and_f_ste_fetch) {
    bench b;
    const auto l = b.prepare();
    arch::ste invalid = make_bypass_ste();
    invalid.v = false;
    b.tables().write_ste(l.strtab, 8, invalid);
    auto s1 = b.add_s1_stream(l, 9, 1);
    arch::ste illegal = make_s1_ste(s1.cd);
    illegal.strw = arch::ste_strw::reserved_1;
    b.tables().write_ste(l.strtab, 9, illegal);
    b.tables().write_ste(l.strtab, 10, make_bypass_ste());
    b.mem().add_abort_range(l.strtab + 64 * 10 + 8, l.strtab + 64 * 10 + 15);
    dma_result r[3];
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        std::uint32_t v = 0;
        for (unsigned i = 0; i < 3; ++i) {
            dma_attrs a;
            a.sid = 8 + i;
            r[i] = b.device().write(0x1000, &v, 4, a);
        }
        events = b.drain_events(l);
    }));
    for (const auto& x : r)
        EXPECT_EQ(x.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    arch::event_record fetch = event(event_id::f_ste_fetch, 10);
    fetch.fetch_addr = l.strtab + 64 * 10;
    const std::vector<arch::event_record> expected = {event(event_id::c_bad_ste, 8),
                                                      event(event_id::c_bad_ste, 9), fetch};
    EXPECT_EQ(events, expected);
}

/// STE 10..12 share a linear table of 16 CDs: CD 0 (ASID 10) and CD 3 (ASID 13) map
/// VA 0x10000 to different pages, CD 5 is invalid.
struct substream_setup {
    std::uint64_t cd_table = 0;
};

substream_setup write_substreams(bench& b, const bench::layout& l) {
    substream_setup s;
    s.cd_table = b.tables().alloc(16 * 64);
    table_writer::page_table pt0(b.tables(), 0, 48);
    pt0.map(0x10000, 0x240000, s1_page_rw);
    table_writer::page_table pt3(b.tables(), 0, 48);
    pt3.map(0x10000, 0x241000, s1_page_rw);
    b.tables().write_cd(s.cd_table + 0 * 64, make_s1_cd(pt0.root(), 10));
    b.tables().write_cd(s.cd_table + 3 * 64, make_s1_cd(pt3.root(), 13));
    arch::cd invalid = make_s1_cd(pt3.root(), 15);
    invalid.v = false;
    b.tables().write_cd(s.cd_table + 5 * 64, invalid);
    const arch::ste_s1dss dss[3] = {arch::ste_s1dss::substream0, arch::ste_s1dss::terminate,
                                    arch::ste_s1dss::bypass};
    for (unsigned i = 0; i < 3; ++i) {
        arch::ste st = make_s1_ste(s.cd_table);
        st.s1_cd_max = 4;
        st.s1_dss = dss[i];
        b.tables().write_ste(l.strtab, 10 + i, st);
    }
    b.mem().write32(0x240010, 0xc0c0c0c0);
    b.mem().write32(0x241010, 0xc3c3c3c3);
    b.mem().write32(0x10010, 0xb0b0b0b0); // the bypass target
    return s;
}

TEST(smmu_stream_table, substreams_select_cds_and_s1dss_handles_traffic_without_one) {
    bench b;
    const auto l = b.prepare();
    write_substreams(b, l);
    struct access {
        std::uint32_t sid;
        std::optional<std::uint32_t> ssid;
    };
    const access accesses[] = {
        {10, 3},            // CD 3
        {10, std::nullopt}, // S1DSS = substream0: CD 0
        {10, 0},            // SSID 0 with substream0: F_STREAM_DISABLED
        {10, 16},           // beyond S1CDMax: C_BAD_SUBSTREAMID
        {10, 5},            // CD 5 invalid: C_BAD_CD
        {11, std::nullopt}, // S1DSS = terminate: F_STREAM_DISABLED
        {11, 0},            // SSID 0 is an ordinary substream here: CD 0
        {12, std::nullopt}, // S1DSS = bypass: no translation
        {12, 3},            // CD 3
    };
    constexpr std::size_t n = sizeof(accesses) / sizeof(accesses[0]);
    std::uint32_t v[n] = {};
    dma_result r[n];
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        for (std::size_t i = 0; i < n; ++i) {
            dma_attrs a;
            a.sid = accesses[i].sid;
            a.ssid = accesses[i].ssid;
            r[i] = b.device().read(0x10010, &v[i], 4, a);
        }
        events = b.drain_events(l);
    }));
    const std::uint32_t expected_values[n] = {0xc3c3c3c3, 0xc0c0c0c0, 0,          0,         0,
                                              0,          0xc0c0c0c0, 0xb0b0b0b0, 0xc3c3c3c3};
    const bool expected_ok[n] = {true, true, false, false, false, false, true, true, true};
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(v[i], expected_values[i]) << "access " << i;
        EXPECT_EQ(r[i].status,
                  expected_ok[i] ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE)
            << "access " << i;
    }
    arch::event_record bad_ssid = event(event_id::c_bad_substreamid, 10);
    bad_ssid.ssid = 16;
    arch::event_record bad_cd = event(event_id::c_bad_cd, 10);
    bad_cd.ssv = true;
    bad_cd.ssid = 5;
    const std::vector<arch::event_record> expected = {event(event_id::f_stream_disabled, 10),
                                                      bad_ssid, bad_cd,
                                                      event(event_id::f_stream_disabled, 11)};
    EXPECT_EQ(events, expected);
}

TEST(smmu_stream_table, two_level_cd_table_and_cd_fetch_errors) {
    bench b;
    const auto l = b.prepare();
    // S1Fmt = 2-level with 4 KiB leaves (64 CDs), S1CDMax = 8: four L1CDs.
    const std::uint64_t l1cd = b.tables().alloc(64);
    const std::uint64_t leaf = b.tables().alloc(4096);
    b.mem().write64(l1cd + 8 * 1, arch::encode_l1cd({true, leaf}));
    b.mem().write64(l1cd + 8 * 3, arch::encode_l1cd({true, leaf}));
    table_writer::page_table pt(b.tables(), 0, 48);
    pt.map(0x10000, 0x250000, s1_page_rw);
    b.tables().write_cd(leaf + 64 * 6, make_s1_cd(pt.root(), 70)); // SSID 70 and 198
    b.tables().write_cd(leaf + 64 * 7, make_s1_cd(pt.root(), 71)); // SSID 71: aborts
    b.mem().add_abort_range(leaf + 64 * 7 + 32, leaf + 64 * 7 + 39);
    b.mem().add_abort_range(l1cd + 8 * 2, l1cd + 8 * 2 + 7); // SSID 128..191
    arch::ste st = make_s1_ste(l1cd);
    st.s1_fmt = arch::cd_table_format::two_level_4k;
    st.s1_cd_max = 8;
    b.tables().write_ste(l.strtab, 20, st);
    table_writer::page_table s2(b.tables(), 0, 48);
    b.tables().write_ste(l.strtab, 21, make_s2_ste(s2.root(), 21));
    b.mem().write32(0x250010, 0x70707070);

    const std::uint32_t ssids[] = {70, 198, 5, 300, 71, 130};
    constexpr std::size_t n = sizeof(ssids) / sizeof(ssids[0]);
    std::uint32_t v[n + 1] = {};
    dma_result r[n + 1];
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        for (std::size_t i = 0; i < n; ++i) {
            dma_attrs a;
            a.sid = 20;
            a.ssid = ssids[i];
            r[i] = b.device().read(0x10010, &v[i], 4, a);
        }
        dma_attrs a; // a SubstreamID on a stream without stage 1
        a.sid = 21;
        a.ssid = 1;
        r[n] = b.device().read(0x10010, &v[n], 4, a);
        events = b.drain_events(l);
    }));
    EXPECT_TRUE(r[0].ok());
    EXPECT_EQ(v[0], 0x70707070u);
    EXPECT_TRUE(r[1].ok());
    EXPECT_EQ(v[1], 0x70707070u);
    for (std::size_t i = 2; i <= n; ++i)
        EXPECT_EQ(r[i].status, tlm::TLM_ADDRESS_ERROR_RESPONSE) << "access " << i;
    arch::event_record l1_invalid = event(event_id::c_bad_substreamid, 20);
    l1_invalid.ssid = 5; // L1CD 0 is invalid
    arch::event_record too_big = event(event_id::c_bad_substreamid, 20);
    too_big.ssid = 300;
    arch::event_record cd_fetch = event(event_id::f_cd_fetch, 20);
    cd_fetch.ssv = true;
    cd_fetch.ssid = 71;
    cd_fetch.fetch_addr = leaf + 64 * 7;
    arch::event_record l1_fetch = event(event_id::f_cd_fetch, 20);
    l1_fetch.ssv = true;
    l1_fetch.ssid = 130;
    l1_fetch.fetch_addr = l1cd + 8 * 2;
    arch::event_record no_s1 = event(event_id::c_bad_substreamid, 21);
    no_s1.ssid = 1;
    const std::vector<arch::event_record> expected = {l1_invalid, too_big, cd_fetch, l1_fetch,
                                                      no_s1};
    EXPECT_EQ(events, expected);
}

} // namespace
} // namespace smmu::test
