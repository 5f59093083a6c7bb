// The command queue as a driver uses it: every TLBI and CFGI taking effect on exactly the
// cached state it names (stale entries of other contexts keep being used until their own
// invalidation), CMD_SYNC with each completion signal, queue wrap, command errors with the
// documented restart (reference §1.5, §5; IHI0070 §4, §7.1), and CMD_ATC_INV towards the
// root complex with CMD_SYNC waiting for its completion.
#include <iterator>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

namespace reg = arch::reg;
using arch::event_id;

// ------------------------------------------------------------------------------ TLBI

/// Seven cached translations in different TLB contexts. Each reads `old_value(i)` through
/// its old mapping; remap() points all of them at pages holding `new_value(i)`.
///   1: SID 1, stage 1, VMID 0, ASID 1, VA A       5: SID 5, nested, VMID 6, ASID 3
///   2: SID 2, stage 1, VMID 0, ASID 2, VA A       6: SID 6, stage 1 at EL2 (no ASID)
///   3: SID 3, stage 1, VMID 7, ASID 1, VA A       7: SID 2's global (nG = 0) page
///   4: SID 4, stage 2, VMID 5, IPA 0x104000
class tlb_contexts {
public:
    static constexpr std::uint64_t va_a = 0x101000;
    static constexpr std::uint64_t va_nested = 0x105000;
    static constexpr std::uint64_t va_el2 = 0x106000;
    static constexpr std::uint64_t va_global = 0x200000;
    static constexpr std::uint64_t ipa_s2 = 0x104000;
    static constexpr std::uint64_t ipa_nested = 0x40000000;
    static constexpr unsigned count = 7;

    tlb_contexts(bench& b, const bench::layout& l)
        : m_b(b)
        , m_s2(b.tables(), 0, 48)
        , m_n2(b.tables(), 0, 48) {
        for (unsigned i = 1; i <= count; ++i) {
            b.mem().write32(old_pa(i), old_value(i));
            b.mem().write32(new_pa(i), new_value(i));
        }
        const std::uint16_t asids[4] = {0, 1, 2, 1};
        const std::uint16_t vmids[4] = {0, 0, 0, 7};
        for (unsigned i = 1; i <= 3; ++i)
            m_s1.push_back(b.add_s1_stream(l, i, asids[i], vmids[i]));
        b.tables().write_ste(l.strtab, 4, make_s2_ste(m_s2.root(), 5));
        m_n2.map(0, 0, s2_page_rw, 1); // the table pool, 1:1
        table_writer::page_table n1(b.tables(), 0, 48);
        n1.map(va_nested, ipa_nested, s1_page_rw);
        const std::uint64_t ncd = b.tables().alloc(64);
        b.tables().write_cd(ncd, make_s1_cd(n1.root(), 3));
        b.tables().write_ste(l.strtab, 5, make_nested_ste(ncd, m_n2.root(), 6));
        m_s1.push_back(b.add_s1_stream(l, 6, 9));
        arch::ste el2 = make_s1_ste(m_s1.back().cd);
        el2.strw = arch::ste_strw::el2;
        b.tables().write_ste(l.strtab, 6, el2);
        map_all(false);
    }

    static std::uint64_t old_pa(unsigned i) { return 0x300000 + 0x2000 * i; }
    static std::uint64_t new_pa(unsigned i) { return old_pa(i) + 0x1000; }
    static std::uint32_t old_value(unsigned i) { return 0xa0a0a000 + i; }
    static std::uint32_t new_value(unsigned i) { return 0xb0b0b000 + i; }

    /// Writes the leaf descriptors (old or new mappings) in memory only.
    void map_all(bool remapped) {
        const auto pa = [&](unsigned i) { return remapped ? new_pa(i) : old_pa(i); };
        m_s1[0].pt.map(va_a, pa(1), s1_page_rw);
        m_s1[1].pt.map(va_a, pa(2), s1_page_rw);
        m_s1[1].pt.map(va_global, pa(7), s1_page_rw & ~pte_ng);
        m_s1[2].pt.map(va_a, pa(3), s1_page_rw);
        m_s2.map(ipa_s2, pa(4), s2_page_rw);
        m_n2.map(ipa_nested, pa(5), s2_page_rw);
        m_s1[3].pt.map(va_el2, pa(6), s1_page_rw);
    }

    /// Reads every context from a scenario thread: the value each one sees.
    std::vector<std::uint32_t> read_all() {
        const std::uint32_t sids[count + 1] = {0, 1, 2, 3, 4, 5, 6, 2};
        const std::uint64_t vas[count + 1] = {0,      va_a,      va_a,   va_a,
                                              ipa_s2, va_nested, va_el2, va_global};
        std::vector<std::uint32_t> out(count + 1, 0);
        for (unsigned i = 1; i <= count; ++i) {
            dma_attrs a;
            a.sid = sids[i];
            m_b.device().read(vas[i], &out[i], 4, a);
        }
        return out;
    }

private:
    bench& m_b;
    std::vector<s1_stream> m_s1; // SIDs 1, 2, 3, 6
    table_writer::page_table m_s2;
    table_writer::page_table m_n2;
};

struct tlbi_case {
    const char* name;
    arch::command cmd;
    std::set<unsigned> invalidated; ///< contexts that see the new mapping afterwards
};

class smmu_tlbi : public ::testing::TestWithParam<tlbi_case> {};

TEST_P(smmu_tlbi, invalidates_exactly_its_entries) {
    const tlbi_case& c = GetParam();
    bench b;
    const auto l = b.prepare();
    tlb_contexts ctx(b, l);
    std::vector<std::uint32_t> before, after;
    arch::cmdq_error err = arch::cmdq_error::ill;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        before = ctx.read_all(); // fills the TLBs
        ctx.map_all(true);       // stale from now on
        err = b.submit_and_sync(l, {c.cmd});
        after = ctx.read_all();
    }));
    EXPECT_EQ(err, arch::cmdq_error::none);
    for (unsigned i = 1; i <= tlb_contexts::count; ++i) {
        EXPECT_EQ(before[i], tlb_contexts::old_value(i)) << "context " << i;
        const bool fresh = c.invalidated.count(i) != 0;
        EXPECT_EQ(after[i], fresh ? tlb_contexts::new_value(i) : tlb_contexts::old_value(i))
            << "context " << i << (fresh ? " should have been invalidated" : " should be stale");
    }
}

arch::tlbi_range two_pages() {
    arch::tlbi_range r;
    r.tg = arch::tlbi_granule::size_4k;
    r.num = 1; // (NUM + 1) * 2^SCALE pages
    return r;
}

INSTANTIATE_TEST_SUITE_P(
    all_commands, smmu_tlbi,
    ::testing::Values(
        tlbi_case{"nh_all_vmid0", arch::make_tlbi_nh_all(0), {1, 2, 7}},
        tlbi_case{"nh_all_vmid7", arch::make_tlbi_nh_all(7), {3}},
        tlbi_case{"nh_asid_vmid0_asid1", arch::make_tlbi_nh_asid(0, 1), {1}},
        tlbi_case{"nh_asid_vmid7_asid1", arch::make_tlbi_nh_asid(7, 1), {3}},
        tlbi_case{"nh_va", arch::make_tlbi_nh_va(0, 1, tlb_contexts::va_a, true), {1}},
        tlbi_case{"nh_va_of_a_global_page",
                  arch::make_tlbi_nh_va(0, 1, tlb_contexts::va_global, true),
                  {7}},
        tlbi_case{"nh_va_range", arch::make_tlbi_nh_va(0, 1, 0x100000, true, two_pages()), {1}},
        tlbi_case{"nh_vaa", arch::make_tlbi_nh_vaa(0, tlb_contexts::va_a, false), {1, 2}},
        tlbi_case{"el2_all", arch::make_tlbi_el2_all(), {6}},
        tlbi_case{"el2_asid", arch::make_tlbi_el2_asid(1), {}},
        tlbi_case{"el2_va", arch::make_tlbi_el2_va(0, tlb_contexts::va_el2, true), {6}},
        tlbi_case{"el2_vaa", arch::make_tlbi_el2_vaa(tlb_contexts::va_el2, false), {6}},
        tlbi_case{"s12_vmall_5", arch::make_tlbi_s12_vmall(5), {4}},
        tlbi_case{"s12_vmall_6", arch::make_tlbi_s12_vmall(6), {5}},
        tlbi_case{"s12_vmall_7", arch::make_tlbi_s12_vmall(7), {3}},
        tlbi_case{"s2_ipa", arch::make_tlbi_s2_ipa(5, tlb_contexts::ipa_s2, true), {4}},
        tlbi_case{"s2_ipa_of_a_nested_entry",
                  arch::make_tlbi_s2_ipa(6, tlb_contexts::ipa_nested, false),
                  {5}},
        tlbi_case{"nsnh_all", arch::make_tlbi_nsnh_all(), {1, 2, 3, 4, 5, 7}},
        tlbi_case{"prefetch_config_changes_nothing", arch::make_prefetch_config(1), {}},
        tlbi_case{"cfgi_all_keeps_the_tlb", arch::make_cfgi_all(), {}}),
    [](const ::testing::TestParamInfo<tlbi_case>& p) { return std::string(p.param.name); });

// ------------------------------------------------------------------------------ CFGI

/// Streams whose STEs and CDs get cached, then all made invalid in memory:
///   0: SID 1 SSID 0, 1: SID 1 SSID 1 (CD table of 4), 2: SID 2 (one CD), 3: SID 3 (bypass),
///   4: SID 4, 5: SID 5, 6: SID 6 (stage 1, one CD each).
struct cfgi_case {
    const char* name;
    arch::command cmd;
    std::set<unsigned> refetched; ///< accesses that see the invalid structures afterwards
};

class smmu_cfgi : public ::testing::TestWithParam<cfgi_case> {};

TEST_P(smmu_cfgi, refetches_exactly_its_structures) {
    const cfgi_case& c = GetParam();
    bench b;
    const auto l = b.prepare();
    table_writer::page_table pt(b.tables(), 0, 48);
    pt.map(0x10000, 0x210000, s1_page_rw);
    b.mem().write32(0x210010, 0x5a5a5a5a);
    b.mem().write32(0x10010, 0xb1b1b1b1); // SID 3 bypasses
    const std::uint64_t table = b.tables().alloc(4 * 64);
    std::vector<std::uint64_t> cds = {table, table + 64};
    arch::ste with_substreams = make_s1_ste(table);
    with_substreams.s1_cd_max = 2;
    with_substreams.s1_dss = arch::ste_s1dss::bypass;
    b.tables().write_ste(l.strtab, 1, with_substreams);
    for (std::uint32_t sid : {2u, 4u, 5u, 6u}) {
        cds.push_back(b.tables().alloc(64));
        b.tables().write_ste(l.strtab, sid, make_s1_ste(cds.back()));
    }
    for (std::size_t i = 0; i < cds.size(); ++i)
        b.tables().write_cd(cds[i], make_s1_cd(pt.root(), static_cast<std::uint16_t>(i + 1)));
    b.tables().write_ste(l.strtab, 3, make_bypass_ste());

    struct target {
        std::uint32_t sid;
        std::optional<std::uint32_t> ssid;
        std::uint32_t value;
    };
    const target targets[] = {{1, 0, 0x5a5a5a5a},  {1, 1, 0x5a5a5a5a},  {2, {}, 0x5a5a5a5a},
                              {3, {}, 0xb1b1b1b1}, {4, {}, 0x5a5a5a5a}, {5, {}, 0x5a5a5a5a},
                              {6, {}, 0x5a5a5a5a}};
    constexpr unsigned n = 7;
    dma_result before[n], after[n];
    std::uint32_t v_before[n] = {}, v_after[n] = {};
    arch::cmdq_error err = arch::cmdq_error::ill;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        for (unsigned i = 0; i < n; ++i) {
            dma_attrs a;
            a.sid = targets[i].sid;
            a.ssid = targets[i].ssid;
            before[i] = b.device().read(0x10010, &v_before[i], 4, a);
        }
        for (std::uint32_t sid = 1; sid <= 6; ++sid) {
            arch::ste s = make_bypass_ste();
            s.v = false;
            b.tables().write_ste(l.strtab, sid, s);
        }
        for (std::uint64_t cd : cds) {
            arch::cd x = make_s1_cd(pt.root(), 1);
            x.v = false;
            b.tables().write_cd(cd, x);
        }
        err = b.submit_and_sync(l, {c.cmd});
        for (unsigned i = 0; i < n; ++i) {
            dma_attrs a;
            a.sid = targets[i].sid;
            a.ssid = targets[i].ssid;
            after[i] = b.device().read(0x10010, &v_after[i], 4, a);
        }
        events = b.drain_events(l);
    }));
    EXPECT_EQ(err, arch::cmdq_error::none);
    for (unsigned i = 0; i < n; ++i) {
        EXPECT_TRUE(before[i].ok()) << "access " << i;
        EXPECT_EQ(v_before[i], targets[i].value) << "access " << i;
        if (c.refetched.count(i) != 0) {
            EXPECT_EQ(after[i].status, tlm::TLM_ADDRESS_ERROR_RESPONSE) << "access " << i;
        } else {
            EXPECT_TRUE(after[i].ok()) << "access " << i << " should use its cached structures";
            EXPECT_EQ(v_after[i], targets[i].value) << "access " << i;
        }
    }
    EXPECT_EQ(events.size(), c.refetched.size()); // one C_BAD_STE or C_BAD_CD each
}

INSTANTIATE_TEST_SUITE_P(
    all_commands, smmu_cfgi,
    ::testing::Values(cfgi_case{"cfgi_ste", arch::make_cfgi_ste(1, true), {0, 1}},
                      cfgi_case{"cfgi_ste_non_leaf", arch::make_cfgi_ste(3, false), {3}},
                      cfgi_case{"cfgi_ste_range", arch::make_cfgi_ste_range(4, 0), {4, 5}},
                      cfgi_case{"cfgi_all", arch::make_cfgi_all(), {0, 1, 2, 3, 4, 5, 6}},
                      cfgi_case{"cfgi_cd", arch::make_cfgi_cd(1, 1, true), {1}},
                      cfgi_case{"cfgi_cd_all", arch::make_cfgi_cd_all(1), {0, 1}},
                      cfgi_case{"cfgi_cd_of_a_single_cd", arch::make_cfgi_cd(2, 0, false), {2}},
                      cfgi_case{"tlbi_keeps_the_config_cache", arch::make_tlbi_nsnh_all(), {}}),
    [](const ::testing::TestParamInfo<cfgi_case>& p) { return std::string(p.param.name); });

// ------------------------------------------------------------------------------ CMD_SYNC

TEST(smmu_cmd_sync, irq_without_msi_pulses_irq_cmd_sync_for_one_clock) {
    bench b;
    const auto l = b.prepare();
    sc_core::sc_time t0, rise, fall;
    std::uint32_t cons_at_rise = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        wait(us(1));
        t0 = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_sync(arch::sync_cs::irq)});
        wait(b.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
        cons_at_rise = b.reg_read32(reg::cmdq_cons);
        wait(b.irq_cmd_sync.negedge_event());
        fall = sc_core::sc_time_stamp();
    }));
    // Fetch 50 ns, decode 2 cycles, completion 100 cycles.
    EXPECT_EQ(rise - t0, ns(152));
    EXPECT_EQ(fall - rise, ns(1));
    EXPECT_EQ(cons_at_rise, 4u); // CONS passed the SYNC before the signal
    EXPECT_EQ(b.smmu().stats().sync_irqs, 1u);
    EXPECT_EQ(b.smmu().stats().syncs, 2u); // with the one of enable()
}

TEST(smmu_cmd_sync, irq_with_msi_writes_the_data_after_cons_has_passed) {
    bench b;
    const auto l = b.prepare();
    const std::uint64_t msi = b.tables().alloc(4096);
    std::uint32_t cons_when_written = 0, word = 0;
    bool pulsed = false;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.submit(l, {arch::make_sync(arch::sync_cs::irq, msi + 8, 0x5eed)});
        for (unsigned i = 0; i < 1000 && b.mem().read32(msi + 8) == 0; ++i)
            wait(ns(1));
        word = b.mem().read32(msi + 8);
        cons_when_written = b.reg_read32(reg::cmdq_cons);
        wait(us(1));
        pulsed = b.smmu().stats().sync_irqs != 0;
    }));
    EXPECT_EQ(word, 0x5eedu);
    EXPECT_EQ(cons_when_written, 4u);
    EXPECT_FALSE(pulsed);
    EXPECT_EQ(b.smmu().stats().sync_msis, 1u);
}

TEST(smmu_cmd_sync, an_aborted_msi_activates_msi_cmdq_abt_err) {
    bench b;
    const auto l = b.prepare();
    std::uint32_t gerror = 0, cons = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.mem().add_abort_range(0x3ff0000, 0x3ff0003);
        b.submit(l, {arch::make_sync(arch::sync_cs::irq, 0x3ff0000, 1)});
        wait(us(1));
        gerror = b.reg_read32(reg::gerror);
        cons = b.reg_read32(reg::cmdq_cons);
    }));
    EXPECT_EQ(gerror, 0x10u); // MSI_CMDQ_ABT_ERR
    EXPECT_EQ(cons, 4u);      // the SYNC itself completed
}

TEST(smmu_cmd_sync, sev_pulses_the_sev_output) {
    bench b;
    const auto l = b.prepare();
    sc_core::sc_time t0, rise, fall;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        t0 = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_sync(arch::sync_cs::sev)});
        wait(b.sev.posedge_event());
        rise = sc_core::sc_time_stamp();
        wait(b.sev.negedge_event());
        fall = sc_core::sc_time_stamp();
    }));
    EXPECT_EQ(rise - t0, ns(152));
    EXPECT_EQ(fall - rise, ns(1));
    EXPECT_EQ(b.smmu().stats().sevs, 1u);
}

TEST(smmu_cmd_sync, sev_without_idr0_sev_is_a_plain_sync) {
    bench_config cfg;
    cfg.params.features.sev = false;
    bench b(cfg);
    const auto l = b.prepare();
    std::uint32_t cons = 0;
    bool rose = false;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.submit(l, {arch::make_sync(arch::sync_cs::sev)});
        wait(us(1));
        cons = b.reg_read32(reg::cmdq_cons);
        rose = b.sev.read() || b.smmu().stats().sevs != 0;
    }));
    EXPECT_EQ(cons, 4u);
    EXPECT_FALSE(rose);
}

TEST(smmu_cmd_sync, completes_after_the_invalidations_before_it) {
    bench b;
    const auto l = b.prepare();
    sc_core::sc_time t0, rise;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        t0 = sc_core::sc_time_stamp();
        b.submit(l,
                 {arch::make_tlbi_nh_all(0), arch::make_tlbi_nh_all(1), arch::make_tlbi_nh_all(2),
                  arch::make_tlbi_nh_all(3), arch::make_sync(arch::sync_cs::irq)});
        wait(b.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    // A TLBI by context scans the IOTLB (512 sets) and the walk cache (64 sets):
    // 60 + 576 = 636 cycles. Two fetches of 50 ns, five decodes, the SYNC's 100 cycles.
    EXPECT_GE(rise - t0, ns(4 * 636));
    EXPECT_EQ(rise - t0, ns(2 * 50 + 5 * 2 + 4 * 636 + 100));
    EXPECT_EQ(b.smmu().stats().commands[0x10], 4u);
}

// ------------------------------------------------------------------------------ queue

TEST(smmu_command_queue, wraps_around_a_small_queue) {
    bench b;
    const auto l = b.prepare(8, 2, 7); // 4 command slots
    arch::cmdq_error err = arch::cmdq_error::ill;
    std::uint32_t cons = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l); // 3 commands
        std::vector<arch::command> cmds;
        for (unsigned i = 0; i < 10; ++i)
            cmds.push_back(arch::make_tlbi_nh_asid(0, static_cast<std::uint16_t>(i)));
        err = b.submit_and_sync(l, cmds);
        cons = b.reg_read32(reg::cmdq_cons);
    }));
    EXPECT_EQ(err, arch::cmdq_error::none);
    EXPECT_EQ(cons, 0x6u); // 14 commands: wrap 1, index 2
    EXPECT_EQ(b.smmu().stats().commands[0x11], 10u);
    EXPECT_EQ(b.smmu().stats().syncs, 2u);
}

TEST(smmu_command_queue, commands_wait_while_cmdqen_is_0) {
    bench b;
    const auto l = b.prepare();
    std::uint32_t cons_disabled = 1, cons_enabled = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write64(reg::cmdq_base, l.cmdq | l.cmdq_log2);
        b.submit(l, {arch::make_tlbi_nsnh_all(), arch::make_sync(arch::sync_cs::none)});
        wait(us(1));
        cons_disabled = b.reg_read32(reg::cmdq_cons);
        b.reg_write32(reg::cr0, 0x8);
        wait(us(1));
        cons_enabled = b.reg_read32(reg::cmdq_cons);
    }));
    EXPECT_EQ(cons_disabled, 0u);
    EXPECT_EQ(cons_enabled, 2u);
}

TEST(smmu_command_queue, illegal_command_stops_the_queue_until_fixed_and_acknowledged) {
    bench b;
    const auto l = b.prepare();
    std::uint32_t cons_err = 0, gerror = 0, cons_done = 0, gerror_after = 0;
    std::uint64_t tlbis_at_error = 0;
    arch::cmdq_error err = arch::cmdq_error::none, resumed = arch::cmdq_error::ill;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.submit_raw(l, {arch::encode(arch::make_tlbi_nh_all(0)),
                         arch::command_words{0x7f, 0}, // reserved opcode, slot 4
                         arch::encode(arch::make_tlbi_nh_all(0)),
                         arch::encode(arch::make_sync(arch::sync_cs::none))});
        err = b.wait_for_commands(l);
        cons_err = b.reg_read32(reg::cmdq_cons);
        gerror = b.reg_read32(reg::gerror);
        tlbis_at_error = b.smmu().stats().commands[0x10];
        // The documented restart: replace the command, then acknowledge CMDQ_ERR.
        b.mem().write_words(l.cmdq + 16 * 4, arch::encode(arch::make_prefetch_config(0)));
        b.reg_write32(reg::gerrorn, gerror);
        resumed = b.wait_for_commands(l);
        cons_done = b.reg_read32(reg::cmdq_cons);
        gerror_after = b.reg_read32(reg::gerror) ^ b.reg_read32(reg::gerrorn);
    }));
    EXPECT_EQ(err, arch::cmdq_error::ill);
    EXPECT_EQ(cons_err, 0x01000004u); // ERR = CERROR_ILL, RD at the illegal command
    EXPECT_EQ(gerror, 0x1u);
    EXPECT_EQ(tlbis_at_error, 1u); // the TLBI after it had no effect
    EXPECT_EQ(resumed, arch::cmdq_error::none);
    EXPECT_EQ(cons_done, 7u);
    EXPECT_EQ(gerror_after, 0u);
    EXPECT_EQ(b.smmu().stats().commands[0x10], 2u);
    EXPECT_EQ(b.smmu().stats().commands[0x01], 1u);
    EXPECT_EQ(b.smmu().stats().command_errors, 1u);
}

TEST(smmu_command_queue, every_illegal_encoding_is_cerror_ill) {
    const arch::command_words illegal[] = {
        {0x46 | (3u << 12), 0}, // CMD_SYNC with CS = 0b11
        {0x03 | (1u << 10), 0}, // CMD_CFGI_STE with SSec = 1 on the NS queue
        {0x18, 0},              // CMD_TLBI_EL3_ALL: Secure queue only
        {0x41, 0},              // CMD_PRI_RESP without PRI
        {0x44, 0},              // CMD_RESUME without stalls
        {0x40, 53},             // CMD_ATC_INV with Size > 52
        {0x12, (1u << 10)},     // TLBI_NH_VA range with NUM = SCALE = TTL = 0
        {0x8f, 0},              // IMPLEMENTATION DEFINED opcode
    };
    bench b;
    const auto l = b.prepare();
    std::vector<std::uint32_t> cons;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        for (const auto& w : illegal) {
            const std::uint64_t slot = b.next_command_slot(l);
            b.submit_raw(l, {w});
            b.wait_for_commands(l);
            cons.push_back(b.reg_read32(reg::cmdq_cons));
            b.mem().write_words(slot, arch::encode(arch::make_prefetch_config(0)));
            b.reg_write32(reg::gerrorn, b.reg_read32(reg::gerror));
            b.wait_for_commands(l);
        }
    }));
    ASSERT_EQ(cons.size(), std::size(illegal));
    for (std::size_t i = 0; i < cons.size(); ++i)
        EXPECT_EQ(cons[i], 0x01000000u | (3u + static_cast<std::uint32_t>(i))) << "command " << i;
    EXPECT_EQ(b.smmu().stats().command_errors, std::size(illegal));
}

TEST(smmu_command_queue, aborted_command_fetch_is_cerror_abt_and_retried_after_the_ack) {
    bench b;
    const auto l = b.prepare();
    std::uint32_t cons_err = 0, gerror = 0, cons_done = 0;
    std::uint64_t tlbis_at_error = 1;
    arch::cmdq_error err = arch::cmdq_error::none, resumed = arch::cmdq_error::ill;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.mem().add_abort_range(l.cmdq + 16 * 3, l.cmdq + 16 * 3 + 15);
        b.submit(l, {arch::make_tlbi_nh_all(0), arch::make_sync(arch::sync_cs::none)});
        err = b.wait_for_commands(l);
        cons_err = b.reg_read32(reg::cmdq_cons);
        gerror = b.reg_read32(reg::gerror);
        tlbis_at_error = b.smmu().stats().commands[0x10];
        b.mem().clear_abort_ranges();
        b.reg_write32(reg::gerrorn, gerror);
        resumed = b.wait_for_commands(l);
        cons_done = b.reg_read32(reg::cmdq_cons);
    }));
    EXPECT_EQ(err, arch::cmdq_error::abt);
    EXPECT_EQ(cons_err, 0x02000003u);
    EXPECT_EQ(gerror, 0x1u);
    EXPECT_EQ(tlbis_at_error, 0u);
    EXPECT_EQ(resumed, arch::cmdq_error::none);
    EXPECT_EQ(cons_done, 5u);
    EXPECT_EQ(b.smmu().stats().commands[0x10], 1u);
}

// ------------------------------------------------------------------------------ ATC_INV

TEST(smmu_atc_inv, requests_reach_the_root_complex_and_sync_waits_for_completion) {
    bench b;
    const auto l = b.prepare();
    sc_core::sc_time t0, completed, rise;
    std::uint32_t cons_waiting = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        t0 = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_atc_inv(arch::stream_ref(7, 3), 0x12345000, 2, true),
                     arch::make_atc_inv(arch::stream_ref(7), 0x0, 52),
                     arch::make_sync(arch::sync_cs::irq)});
        wait(us(5));
        cons_waiting = b.reg_read32(reg::cmdq_cons);
        completed = sc_core::sc_time_stamp();
        b.ats().complete_invalidations(7);
        wait(b.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    ASSERT_EQ(b.ats().received().size(), 2u);
    tlm_ext::invalidation_request first;
    first.stream_id = 7;
    first.pasid = 3;
    first.global = true;
    first.address = 0x12344000; // aligned to the 16 KiB span
    first.span = 16384;
    first.itag = 0;
    tlm_ext::invalidation_request all;
    all.stream_id = 7;
    all.address = 0;
    all.span = tlm_ext::span_all;
    all.itag = 1;
    EXPECT_EQ(b.ats().received()[0], first);
    EXPECT_EQ(b.ats().received()[1], all);
    // One fetch of three commands (50 ns), then decode (2) and send (20) each.
    EXPECT_EQ(b.ats().received_at()[0] - t0, ns(72));
    EXPECT_EQ(b.ats().received_at()[1] - t0, ns(94));
    EXPECT_EQ(cons_waiting, 5u); // at the SYNC
    EXPECT_EQ(rise - completed, ns(100));
    EXPECT_EQ(b.smmu().stats().atc_inv_sent, 2u);
    EXPECT_EQ(b.smmu().stats().atc_inv_completed, 2u);
}

TEST(smmu_atc_inv, completions_returned_in_the_request_payload_complete_the_sync) {
    bench b;
    const auto l = b.prepare();
    b.ats().inline_completion = ns(300);
    sc_core::sc_time t0, rise;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        t0 = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_atc_inv(arch::stream_ref(7), 0x10000, 0),
                     arch::make_atc_inv(arch::stream_ref(8), 0x10000, 0),
                     arch::make_sync(arch::sync_cs::irq)});
        wait(b.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    // Sent at 72 and 94 ns; the second completes at 394 ns; then the SYNC's 100 cycles.
    EXPECT_EQ(rise - t0, ns(494));
    EXPECT_EQ(b.smmu().stats().atc_inv_completed, 2u);
    EXPECT_EQ(b.smmu().stats().atc_inv_timeouts, 0u);
}

TEST(smmu_atc_inv, timeout_is_cerror_atc_inv_sync_and_the_retried_sync_completes) {
    bench_config cfg;
    cfg.params.atc_inv_timeout_ps = 10'000'000; // 10 us
    bench b(cfg);
    const auto l = b.prepare();
    sc_core::sc_time t0, t_err;
    std::uint32_t cons_err = 0, gerror = 0, cons_done = 0;
    arch::cmdq_error err = arch::cmdq_error::none, resumed = arch::cmdq_error::ill;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write32(reg::irq_ctrl, 0x1);
        t0 = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_atc_inv(arch::stream_ref(7), 0x10000, 0),
                     arch::make_sync(arch::sync_cs::none)});
        wait(b.irq_gerror.posedge_event());
        t_err = sc_core::sc_time_stamp();
        err = b.wait_for_commands(l);
        cons_err = b.reg_read32(reg::cmdq_cons);
        gerror = b.reg_read32(reg::gerror);
        // The endpoint never answers. Linux re-issues the SYNC: acknowledge and go on.
        b.reg_write32(reg::gerrorn, gerror);
        resumed = b.wait_for_commands(l);
        cons_done = b.reg_read32(reg::cmdq_cons);
        b.ats().complete_invalidations(7); // too late: ignored
    }));
    EXPECT_EQ(err, arch::cmdq_error::atc_inv_sync);
    EXPECT_EQ(cons_err, 0x03000004u); // RD at the SYNC, which did not complete
    EXPECT_EQ(gerror, 0x1u);
    // Fetch 50, decode 2, send 20, decode 2; the SYNC gives up 10 us after it started.
    EXPECT_EQ(t_err - t0, ns(74) + us(10));
    EXPECT_EQ(resumed, arch::cmdq_error::none);
    EXPECT_EQ(cons_done, 5u);
    EXPECT_EQ(b.smmu().stats().atc_inv_timeouts, 1u);
    EXPECT_EQ(b.smmu().stats().atc_inv_completed, 0u);
}

TEST(smmu_atc_inv, is_ignored_while_smmuen_is_0) {
    bench b;
    const auto l = b.prepare();
    arch::cmdq_error err = arch::cmdq_error::ill;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write32(reg::cr0, 0xc);
        err = b.submit_and_sync(l, {arch::make_atc_inv(arch::stream_ref(7), 0x10000, 0)});
    }));
    EXPECT_EQ(err, arch::cmdq_error::none);
    EXPECT_TRUE(b.ats().received().empty());
}

} // namespace
} // namespace smmu::test
