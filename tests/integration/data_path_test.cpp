// The data path as a device sees it: DMI granted per translated page on single-context TBUs
// and invalidated whenever a translation may change (systemc-conventions.md §1.4), debug
// transport without side effects (§1.5), and bursts split at translation boundaries.
#include <array>
#include <cstring>

#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

namespace reg = arch::reg;

/// TBU 0 carries SID 1 only (DMI allowed), TBU 1 is shared (default SID 2).
bench_config two_tbus() {
    bench_config cfg;
    cfg.tbus = {tbu_params{1, true}, tbu_params{2, false}};
    return cfg;
}

/// SIDs 1 and 2: stage 1, VA 0x10000 -> 0x210000 read/write, VA 0x11000 -> 0x211000
/// read-only.
s1_stream dmi_streams(bench& b, const bench::layout& l) {
    auto s = b.add_s1_stream(l, 1, 1);
    b.tables().write_ste(l.strtab, 2, make_s1_ste(s.cd));
    s.pt.map(0x10000, 0x210000, s1_page_rw);
    s.pt.map(0x11000, 0x211000, s1_page_ro);
    b.mem().write32(0x210010, 0x21002100);
    return s;
}

TEST(smmu_dmi, granted_per_page_with_the_translations_permissions) {
    bench b(two_tbus());
    const auto l = b.prepare();
    dmi_streams(b, l);
    tlm::tlm_dmi rw, ro, unmapped, shared, with_ssid, translated, disabled;
    bool g_rw = false, g_ro = false, g_unmapped = true, g_shared = true, g_ssid = true,
         g_translated = true, g_disabled = true;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        g_rw = b.device(0).request_dmi(0x10abc, rw);
        g_ro = b.device(0).request_dmi(0x11abc, ro);
        g_unmapped = b.device(0).request_dmi(0x20abc, unmapped);
        g_shared = b.device(1).request_dmi(0x10abc, shared);
        dma_attrs a;
        a.ssid = 0;
        g_ssid = b.device(0).request_dmi(0x10abc, with_ssid, a);
        dma_attrs t;
        t.ats = tlm_ext::ats_type::translated;
        g_translated = b.device(0).request_dmi(0x210abc, translated, t);
        b.reg_write32(reg::cr0, 0xc);
        g_disabled = b.device(0).request_dmi(0x10abc, disabled);
    }));
    ASSERT_TRUE(g_rw);
    EXPECT_EQ(rw.get_start_address(), 0x10000u);
    EXPECT_EQ(rw.get_end_address(), 0x10fffu);
    EXPECT_EQ(rw.get_dmi_ptr(), b.mem().bytes(0x210000));
    EXPECT_TRUE(rw.is_read_write_allowed());
    EXPECT_EQ(rw.get_read_latency(), ns(51)); // memory + micro-TLB hit
    EXPECT_EQ(rw.get_write_latency(), ns(51));
    std::uint32_t through_dmi = 0;
    std::memcpy(&through_dmi, rw.get_dmi_ptr() + 0x10, 4);
    EXPECT_EQ(through_dmi, 0x21002100u);
    ASSERT_TRUE(g_ro);
    EXPECT_EQ(ro.get_start_address(), 0x11000u);
    EXPECT_EQ(ro.get_end_address(), 0x11fffu);
    EXPECT_EQ(ro.get_dmi_ptr(), b.mem().bytes(0x211000));
    EXPECT_TRUE(ro.is_read_allowed());
    EXPECT_FALSE(ro.is_write_allowed());
    EXPECT_FALSE(g_unmapped);
    EXPECT_FALSE(g_shared);
    EXPECT_FALSE(g_ssid);
    EXPECT_FALSE(g_translated);
    EXPECT_FALSE(g_disabled);
    EXPECT_EQ(b.smmu().stats().dmi_grants, 2u);
}

TEST(smmu_dmi, every_change_of_translations_invalidates_granted_pointers) {
    bench b(two_tbus());
    b.ats().auto_complete = ns(10);
    const auto l = b.prepare();
    dmi_streams(b, l);
    std::vector<unsigned> counts;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        tlm::tlm_dmi d;
        const auto grant = [&] { EXPECT_TRUE(b.device(0).request_dmi(0x10000, d)); };
        const auto record = [&] { counts.push_back(b.device(0).dmi_invalidations()); };
        grant();
        b.submit_and_sync(l, {arch::make_prefetch_config(1)});
        record(); // 0: a prefetch changes nothing
        b.submit_and_sync(l, {arch::make_tlbi_nh_asid(0, 1)});
        record(); // 1
        grant();
        b.submit_and_sync(l, {arch::make_cfgi_ste(1, true)});
        record(); // 2
        grant();
        b.submit_and_sync(l, {arch::make_atc_inv(arch::stream_ref(1), 0x10000, 0)});
        record(); // 3
        b.submit_and_sync(l, {arch::make_tlbi_nsnh_all()});
        record(); // 3: nothing was granted
        grant();
        b.reg_write32(reg::cr0, 0xc);
        record(); // 4: SMMUEN cleared
        b.reg_write32(reg::cr0, 0xd);
        grant();
        b.smmu().reset();
        record(); // 5
    }));
    const std::vector<unsigned> expected = {0, 1, 2, 3, 3, 4, 5};
    EXPECT_EQ(counts, expected);
    EXPECT_EQ(b.device(1).dmi_invalidations(), 0u); // never granted anything
    EXPECT_EQ(b.smmu().stats().dmi_invalidations, 5u);
}

TEST(smmu_debug_transport, leaves_no_trace) {
    bench b;
    const auto l = b.prepare();
    auto s = b.add_s1_stream(l, 1, 1);
    s.pt.map(0x10000, 0x210000, s1_page_rw);
    b.mem().write32(0x210010, 0xdb9db9db);
    std::string before, after;
    std::uint64_t reads_before = 0, reads_after = 0;
    unsigned n_mapped = 0, n_unmapped = 1, n_bad_sid = 1;
    std::uint32_t v = 0, prod = 1;
    sc_core::sc_time t_before, t_after;
    dma_result first{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        before = b.smmu().stats_json();
        reads_before = b.mem().reads();
        t_before = sc_core::sc_time_stamp();
        dma_attrs a;
        a.sid = 1;
        n_mapped = b.device().debug_read(0x10010, &v, 4, a);
        std::uint32_t w = 0;
        n_unmapped = b.device().debug_read(0x20010, &w, 4, a);
        a.sid = 200; // an invalid STE: C_BAD_STE if it were real
        n_bad_sid = b.device().debug_read(0x10010, &w, 4, a);
        t_after = sc_core::sc_time_stamp();
        after = b.smmu().stats_json();
        reads_after = b.mem().reads();
        prod = b.reg_read32(reg::eventq_prod);
        // Nothing was cached: the first real access misses everywhere.
        std::uint32_t x = 0;
        a.sid = 1;
        first = b.device().read(0x10010, &x, 4, a);
    }));
    EXPECT_EQ(n_mapped, 4u);
    EXPECT_EQ(v, 0xdb9db9dbu);
    EXPECT_EQ(n_unmapped, 0u);
    EXPECT_EQ(n_bad_sid, 0u);
    EXPECT_EQ(t_after, t_before);
    EXPECT_EQ(after, before);
    EXPECT_EQ(reads_after, reads_before);
    EXPECT_EQ(prod, 0u);
    EXPECT_EQ(first.latency, ns(388)); // the full miss of smmu_timing
}

/// VA 0x10000 -> PA 0x300000 and VA 0x11000 -> PA 0x205000: virtually contiguous pages on
/// physically unrelated ones; VA 0x12000 unmapped.
s1_stream split_pages(bench& b, const bench::layout& l) {
    auto s = b.add_s1_stream(l, 0, 1);
    s.pt.map(0x10000, 0x300000, s1_page_rw);
    s.pt.map(0x11000, 0x205000, s1_page_rw);
    return s;
}

TEST(smmu_bursts, a_burst_across_a_page_boundary_reaches_both_physical_pages) {
    bench b;
    const auto l = b.prepare();
    split_pages(b, l);
    std::array<std::uint8_t, 16> out{}, back{};
    for (unsigned i = 0; i < 16; ++i)
        out[i] = static_cast<std::uint8_t>(0x40 + i);
    std::vector<std::uint8_t> big(8192, 0);
    for (unsigned i = 0; i < 4096; ++i) {
        b.mem().bytes(0x300000)[i] = static_cast<std::uint8_t>(i);
        b.mem().bytes(0x205000)[i] = static_cast<std::uint8_t>(~i);
    }
    dma_result w{}, r{}, whole{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        whole = b.device().read(0x10000, big.data(), 8192);
        w = b.device().write(0x10ff8, out.data(), 16);
        r = b.device().read(0x10ff8, back.data(), 16);
    }));
    EXPECT_TRUE(whole.ok());
    EXPECT_EQ(big[0x0], 0x00u);
    EXPECT_EQ(big[0xfff], 0xffu);
    EXPECT_EQ(big[0x1000], 0xffu);
    EXPECT_EQ(big[0x1fff], 0x00u);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(std::memcmp(b.mem().bytes(0x300ff8), out.data(), 8), 0);
    EXPECT_EQ(std::memcmp(b.mem().bytes(0x205000), out.data() + 8, 8), 0);
    EXPECT_EQ(b.mem().read64(0x301000), 0u); // not past the first physical page
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(back, out);
}

TEST(smmu_bursts, byte_enables_follow_the_split) {
    bench b;
    const auto l = b.prepare();
    split_pages(b, l);
    std::array<std::uint8_t, 16> data{};
    std::array<std::uint8_t, 16> be{};
    for (unsigned i = 0; i < 16; ++i) {
        data[i] = static_cast<std::uint8_t>(0x80 + i);
        be[i] = i % 2 == 0 ? 0xff : 0x00;
    }
    b.mem().fill(0x300ff8, 8, 0x11);
    b.mem().fill(0x205000, 8, 0x22);
    dma_result r{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_WRITE_COMMAND);
        gp.set_address(0x10ff8);
        gp.set_data_ptr(data.data());
        gp.set_data_length(16);
        gp.set_streaming_width(16);
        gp.set_byte_enable_ptr(be.data());
        gp.set_byte_enable_length(16);
        gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        r = b.device().transport(gp);
    }));
    ASSERT_TRUE(r.ok());
    const std::uint8_t first[8] = {0x80, 0x11, 0x82, 0x11, 0x84, 0x11, 0x86, 0x11};
    const std::uint8_t second[8] = {0x88, 0x22, 0x8a, 0x22, 0x8c, 0x22, 0x8e, 0x22};
    EXPECT_EQ(std::memcmp(b.mem().bytes(0x300ff8), first, 8), 0);
    EXPECT_EQ(std::memcmp(b.mem().bytes(0x205000), second, 8), 0);
}

TEST(smmu_bursts, a_fault_in_the_second_page_fails_the_burst_and_names_that_page) {
    bench b;
    const auto l = b.prepare();
    split_pages(b, l);
    std::array<std::uint8_t, 16> data{};
    dma_result r{};
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        r = b.device().read(0x11ff8, data.data(), 16);
        events = b.drain_events(l);
    }));
    EXPECT_EQ(r.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    arch::event_record e = event(arch::event_id::f_translation, 0);
    e.input_addr = 0x12000;
    e.rnw = true;
    e.cls = arch::fault_class::in;
    const std::vector<arch::event_record> expected = {e};
    EXPECT_EQ(events, expected);
}

} // namespace
} // namespace smmu::test
