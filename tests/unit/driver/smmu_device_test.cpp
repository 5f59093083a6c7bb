#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/smmu_device.h"
#include "tests/unit/driver/fake_smmu_hw.h"

namespace smmu::driver {
namespace {

using reg_write = std::pair<std::uint64_t, std::uint64_t>;
using reg_writes = std::vector<reg_write>;

std::vector<std::string> describe_all(const std::vector<fake_smmu_trace>& trace) {
    std::vector<std::string> r;
    for (const fake_smmu_trace& t : trace)
        r.push_back(fake_smmu_hw::describe(t));
    return r;
}

std::vector<std::string> commands_after(const fake_smmu_hw& hw) {
    std::vector<std::string> r;
    for (const fake_smmu_trace& t : hw.trace())
        if (t.what == fake_smmu_trace::kind::command)
            r.push_back(fake_smmu_hw::describe(t));
    return r;
}

// --- probe ----------------------------------------------------------------------------

TEST(smmu_device_probe, decodes_the_id_registers) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    EXPECT_TRUE(dev.probed());
    const arch::feature_set& f = dev.features();
    EXPECT_TRUE(f.s1p);
    EXPECT_TRUE(f.s2p);
    EXPECT_TRUE(f.st_level_2);
    EXPECT_EQ(f.sid_bits, 16u);
    EXPECT_EQ(f.ssid_bits, 20u);
    EXPECT_EQ(f.cmdq_log2, 8u);
    EXPECT_EQ(f.eventq_log2, 4u);
    EXPECT_EQ(f.oas_bits, 48u);
    EXPECT_EQ(dev.info().cmdq_log2, 8u);
    EXPECT_EQ(dev.info().eventq_log2, 4u);
    EXPECT_EQ(dev.info().completion, sync_method::msi) << "MSI + COHACC: Linux MSIPOLL";
    EXPECT_EQ(hw.mmio_reads(arch::reg::idr0), 1u);
    EXPECT_EQ(hw.mmio_reads(arch::reg::idr1), 1u);
    EXPECT_EQ(hw.mmio_reads(arch::reg::idr3), 1u);
    EXPECT_EQ(hw.mmio_reads(arch::reg::idr5), 1u);
    EXPECT_TRUE(hw.mmio_writes().empty());
}

TEST(smmu_device_probe, queue_sizes_are_capped_by_the_config) {
    arch::feature_set f = fake_smmu_default_features();
    f.cmdq_log2 = 19;
    f.eventq_log2 = 19;
    fake_smmu_hw hw(f);
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    EXPECT_EQ(dev.info().cmdq_log2, 18u);
    EXPECT_EQ(dev.info().eventq_log2, 17u);
}

TEST(smmu_device_probe, completion_method_defaults_follow_linux) {
    struct case_t {
        bool msi, cohacc, sev;
        sync_method expected;
    };
    for (const case_t c :
         {case_t{true, true, true, sync_method::msi}, case_t{true, false, true, sync_method::sev},
          case_t{false, true, true, sync_method::sev},
          case_t{false, true, false, sync_method::poll_cons}}) {
        arch::feature_set f = fake_smmu_default_features();
        f.msi = c.msi;
        f.cohacc = c.cohacc;
        f.sev = c.sev;
        fake_smmu_hw hw(f);
        fake_smmu_lock lock;
        smmu_device dev(hw, lock);
        ASSERT_EQ(dev.probe(), smmu_status::ok);
        EXPECT_EQ(dev.info().completion, c.expected) << c.msi << c.cohacc << c.sev;
    }
}

smmu_status probe_with(const arch::feature_set& f, device_config cfg = {},
                       std::uint32_t idr1_extra = 0) {
    fake_smmu_hw hw(f);
    if (idr1_extra != 0)
        hw.set_register(arch::reg::idr1, hw.reg(arch::reg::idr1) | idr1_extra);
    fake_smmu_lock lock;
    smmu_device dev(hw, lock, cfg);
    return dev.probe();
}

TEST(smmu_device_probe, rejects_unsupported_configurations) {
    const arch::feature_set base = fake_smmu_default_features();
    ASSERT_EQ(probe_with(base), smmu_status::ok);

    arch::feature_set f = base;
    f.ttf_aarch64 = false;
    f.ttf_aarch32 = true;
    EXPECT_EQ(probe_with(f), smmu_status::unsupported) << "no AArch64 tables";

    f = base;
    f.s1p = f.s2p = false;
    EXPECT_EQ(probe_with(f), smmu_status::unsupported) << "no translation";

    f = base;
    f.endian = arch::tt_endian::big;
    EXPECT_EQ(probe_with(f), smmu_status::unsupported) << "big-endian tables only";
    f.endian = arch::tt_endian::mixed;
    EXPECT_EQ(probe_with(f), smmu_status::ok);

    EXPECT_EQ(probe_with(base, {}, 1u << 30), smmu_status::unsupported) << "TABLES_PRESET";
    EXPECT_EQ(probe_with(base, {}, 1u << 29), smmu_status::unsupported) << "QUEUES_PRESET";
    EXPECT_EQ(probe_with(base, {}, 1u << 28), smmu_status::unsupported) << "REL";

    f = base;
    f.cmdq_log2 = 6;
    EXPECT_EQ(probe_with(f), smmu_status::unsupported) << "64 entries cannot hold batch + SYNC";
    f.cmdq_log2 = 7;
    EXPECT_EQ(probe_with(f), smmu_status::ok);
    device_config small;
    small.cmdq_max_log2 = 6;
    EXPECT_EQ(probe_with(base, small), smmu_status::unsupported);

    f = base;
    f.msi = false;
    device_config want_msi;
    want_msi.completion = sync_method::msi;
    EXPECT_EQ(probe_with(f, want_msi), smmu_status::unsupported);
    device_config msi_irq;
    msi_irq.eventq_msi = msi_target{0x8000000, 1};
    EXPECT_EQ(probe_with(f, msi_irq), smmu_status::unsupported);
    msi_irq.eventq_msi.reset();
    msi_irq.gerror_msi = msi_target{0x8000000, 1};
    EXPECT_EQ(probe_with(f, msi_irq), smmu_status::unsupported);

    f = base;
    f.sev = false;
    device_config want_sev;
    want_sev.completion = sync_method::sev;
    EXPECT_EQ(probe_with(f, want_sev), smmu_status::unsupported);
    want_sev.completion = sync_method::poll_cons;
    EXPECT_EQ(probe_with(f, want_sev), smmu_status::ok);

    f = base;
    f.hyp = false;
    device_config e2h;
    e2h.e2h = true;
    EXPECT_EQ(probe_with(f, e2h), smmu_status::unsupported);
}

TEST(smmu_device_probe, steps_out_of_order_are_not_ready) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    EXPECT_EQ(dev.allocate(), smmu_status::not_ready);
    EXPECT_EQ(dev.reset(), smmu_status::not_ready);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    EXPECT_EQ(dev.reset(), smmu_status::not_ready) << "nothing allocated";
    EXPECT_EQ(hw.allocation_count(), 0u);
}

// --- allocation ------------------------------------------------------------------------

TEST(smmu_device_allocate, queues_and_two_level_stream_table) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    EXPECT_EQ(dev.command_queue().base_address(), 0x40000000u);
    EXPECT_EQ(dev.command_queue().entries(), 256u);
    EXPECT_EQ(dev.eventq_base(), 0x40001000u);
    EXPECT_EQ(dev.eventq_log2(), 4u);
    EXPECT_EQ(dev.strtab().format(), arch::strtab_fmt::two_level);
    EXPECT_EQ(dev.strtab().base_address(), 0x40001800u) << "2 KB L1 after the 512-byte event queue";
    EXPECT_EQ(hw.live_allocations(), 3u);
}

TEST(smmu_device_allocate, each_failure_is_reported_and_nothing_leaks) {
    for (unsigned ok_allocs = 0; ok_allocs < 3; ++ok_allocs) {
        fake_smmu_hw hw;
        fake_smmu_lock lock;
        smmu_device dev(hw, lock);
        ASSERT_EQ(dev.probe(), smmu_status::ok);
        hw.fail_allocations_after(ok_allocs);
        EXPECT_EQ(dev.allocate(), smmu_status::no_memory) << ok_allocs;
        EXPECT_EQ(hw.live_allocations(), 0u) << ok_allocs;
        EXPECT_EQ(dev.reset(), smmu_status::not_ready);
    }
}

TEST(smmu_device_allocate, event_queue_halves_on_failure) {
    arch::feature_set f = fake_smmu_default_features();
    f.eventq_log2 = 8; // 8 KB
    fake_smmu_hw hw(f);
    hw.set_max_allocation(4096);
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    EXPECT_EQ(dev.eventq_log2(), 7u);
}

TEST(smmu_device_allocate, destructor_frees_everything) {
    fake_smmu_hw hw;
    {
        fake_smmu_lock lock;
        smmu_device dev(hw, lock);
        ASSERT_EQ(dev.bring_up(), smmu_status::ok);
        ASSERT_EQ(dev.strtab().ensure_ste(0x4321), smmu_status::ok);
        EXPECT_EQ(hw.live_allocations(), 4u);
    }
    EXPECT_EQ(hw.live_allocations(), 0u);
}

// --- reset / enable ---------------------------------------------------------------------

TEST(smmu_device_reset, register_writes_in_order) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    ASSERT_EQ(dev.bring_up(), smmu_status::ok);
    const reg_writes expected = {
        {0x44, 0x80101000},         // GBPA: ABORT | Update, SHCFG kept
        {0x20, 0x0},                // CR0: everything off
        {0x28, 0xd75},              // CR1: ISH, WB for tables and queues
        {0x2c, 0x6},                // CR2: PTM | RECINVSID
        {0x80, 0x4000000040001800}, // STRTAB_BASE: RA | L1 table
        {0x88, 0x10210},            // STRTAB_BASE_CFG: 2-level, SPLIT 8, LOG2SIZE 16
        {0x90, 0x4000000040000008}, // CMDQ_BASE: RA | base | 256 entries
        {0x98, 0x0},                // CMDQ_PROD
        {0x9c, 0x0},                // CMDQ_CONS
        {0x20, 0x8},                // CR0: CMDQEN
        {0x98, 0x4},                // CFGI_ALL, TLBI_EL2_ALL, TLBI_NSNH_ALL, SYNC
        {0xa0, 0x4000000040001004}, // EVENTQ_BASE: WA | base | 16 entries
        {0x100a8, 0x0},             // EVENTQ_PROD (page 1)
        {0x100ac, 0x0},             // EVENTQ_CONS (page 1)
        {0x20, 0xc},                // CR0: + EVENTQEN
        {0x20, 0x1c},               // CR0: + ATSCHK (ATS)
        {0x50, 0x0},                // IRQ_CTRL off
        {0x68, 0x0},                // GERROR_IRQ_CFG0: wired
        {0xb0, 0x0},                // EVENTQ_IRQ_CFG0: wired
        {0x50, 0x5},                // IRQ_CTRL: GERROR | EVENTQ
        {0x20, 0x1d},               // CR0: + SMMUEN
    };
    EXPECT_EQ(hw.mmio_writes(), expected);
    EXPECT_EQ(commands_after(hw),
              (std::vector<std::string>{"CMD_CFGI_ALL", "CMD_TLBI_EL2_ALL", "CMD_TLBI_NSNH_ALL",
                                        "CMD_SYNC cs=irq msi=0x40000030 data=0x0"}));
    EXPECT_EQ(dev.cr0(), 0x1du);
    EXPECT_EQ(hw.reg(arch::reg::cr0ack), 0x1du);
    EXPECT_EQ(hw.reg(arch::reg::gbpa), 0x101000u);
}

TEST(smmu_device_reset, bypass_without_hyp_ats_or_irqs) {
    arch::feature_set f = fake_smmu_default_features();
    f.hyp = false;
    f.ats = false;
    f.msi = false;
    f.sev = false;
    f.st_level_2 = false;
    f.sid_bits = 6;
    fake_smmu_hw hw(f);
    fake_smmu_lock lock;
    device_config cfg;
    cfg.disable_bypass = false;
    cfg.enable_irqs = false;
    smmu_device dev(hw, lock, cfg);
    hw.set_register(arch::reg::gbpa, 0x00101000); // ABORT set at reset
    ASSERT_EQ(dev.bring_up(), smmu_status::ok);
    const reg_writes expected = {
        {0x44, 0x80001000},
        {0x20, 0x0},
        {0x28, 0xd75},
        {0x2c, 0x6},
        {0x80, 0x4000000040002000},
        {0x88, 0x6},
        {0x90, 0x4000000040000008},
        {0x98, 0x0},
        {0x9c, 0x0},
        {0x20, 0x8},
        {0x98, 0x3},
        {0xa0, 0x4000000040001004},
        {0x100a8, 0},
        {0x100ac, 0},
        {0x20, 0xc},
        {0x50, 0x0},
        {0x20, 0xd},
    };
    EXPECT_EQ(hw.mmio_writes(), expected);
    EXPECT_EQ(commands_after(hw),
              (std::vector<std::string>{"CMD_CFGI_ALL", "CMD_TLBI_NSNH_ALL", "CMD_SYNC cs=none"}));
    EXPECT_EQ(dev.strtab().format(), arch::strtab_fmt::linear);
    EXPECT_EQ(hw.peek64(0x40002000), 0x9u) << "STE 0: V, Config = bypass";
    EXPECT_EQ(hw.peek64(0x40002008), 0x100000000000u) << "SHCFG = incoming";
    EXPECT_EQ(hw.peek64(0x40002000 + 63 * 64), 0x9u) << "last STE";
}

TEST(smmu_device_reset, msi_interrupts_are_programmed) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.gerror_msi = msi_target{0x8000003, 0x21}; // low address bits are dropped
    cfg.eventq_msi = msi_target{0x8000004, 0x22};
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.bring_up(), smmu_status::ok);
    const reg_writes all = hw.mmio_writes();
    const auto first = std::find(all.begin(), all.end(), reg_write{0x50, 0x0});
    const auto last = std::find(all.begin(), all.end(), reg_write{0x50, 0x5});
    ASSERT_NE(first, all.end());
    ASSERT_NE(last, all.end());
    const reg_writes irq(first, last + 1);
    const reg_writes expected = {
        {0x50, 0x0},       {0x68, 0x8000000}, {0x70, 0x21}, {0x74, 0x1},
        {0xb0, 0x8000004}, {0xb8, 0x22},      {0xbc, 0x1},  {0x50, 0x5},
    };
    EXPECT_EQ(irq, expected);
}

TEST(smmu_device_reset, e2h_sets_cr2) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.e2h = true;
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.bring_up(), smmu_status::ok);
    EXPECT_EQ(hw.reg(arch::reg::cr2), 0x7u);
}

TEST(smmu_device_reset, cr0ack_timeout_is_reported) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.poll_timeout_ns = 10'000;
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    hw.set_register(arch::reg::cr0ack, 0x1); // stale SMMUEN that never clears
    hw.set_cr0_ack_stuck(true);
    EXPECT_EQ(dev.reset(), smmu_status::timeout);
    EXPECT_EQ(dev.stats().ack_timeouts, 1u);
    EXPECT_EQ(hw.now_ns(), 10'000u);
    EXPECT_EQ(hw.mmio_writes().back(), (reg_write{0x20, 0x0})) << "stopped after CR0 = 0";
}

TEST(smmu_device_reset, cmdqen_ack_timeout_is_reported) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.poll_timeout_ns = 1000;
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    hw.set_cr0_ack_stuck(true); // CR0ACK stays 0: CR0 = 0 is acknowledged, CMDQEN is not
    EXPECT_EQ(dev.reset(), smmu_status::timeout);
    EXPECT_EQ(hw.mmio_writes().back(), (reg_write{0x20, 0x8}));
    EXPECT_EQ(dev.cr0(), 0u);
}

TEST(smmu_device_reset, gbpa_update_timeout_is_reported) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.poll_timeout_ns = 1000;
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    hw.set_gbpa_stuck(true);
    EXPECT_EQ(dev.reset(), smmu_status::timeout);
    EXPECT_EQ(hw.mmio_writes(), (reg_writes{{0x44, 0x80101000}}));
}

TEST(smmu_device_reset, gbpa_busy_before_the_update_times_out) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.poll_timeout_ns = 1000;
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    hw.set_register(arch::reg::gbpa, 0x80001000); // an earlier update never completed
    EXPECT_EQ(dev.reset(), smmu_status::timeout);
    EXPECT_TRUE(hw.mmio_writes().empty());
}

TEST(smmu_device_reset, irq_ack_timeout_is_reported) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.poll_timeout_ns = 1000;
    smmu_device dev(hw, lock, cfg);
    ASSERT_EQ(dev.probe(), smmu_status::ok);
    ASSERT_EQ(dev.allocate(), smmu_status::ok);
    hw.set_irq_ack_stuck(true);
    hw.set_register(arch::reg::irq_ctrlack, 0x4);
    EXPECT_EQ(dev.reset(), smmu_status::timeout);
    EXPECT_EQ(hw.mmio_writes().back(), (reg_write{0x50, 0x0}));
    EXPECT_EQ(dev.cr0(), 0x1cu) << "SMMUEN never set";
}

TEST(smmu_device_reset, invalidation_timeout_is_reported) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    device_config cfg;
    cfg.poll_timeout_ns = 1000;
    smmu_device dev(hw, lock, cfg);
    hw.set_cmdq_stalled(true);
    EXPECT_EQ(dev.bring_up(), smmu_status::timeout);
    EXPECT_EQ(hw.mmio_writes().back(), (reg_write{0x98, 0x4}));
}

TEST(smmu_device_reset, disable_clears_cr0) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    ASSERT_EQ(dev.bring_up(), smmu_status::ok);
    hw.clear_trace();
    ASSERT_EQ(dev.disable(), smmu_status::ok);
    EXPECT_EQ(hw.mmio_writes(), (reg_writes{{0x20, 0x0}}));
    EXPECT_EQ(dev.cr0(), 0u);
    EXPECT_EQ(hw.reg(arch::reg::cr0ack), 0u);
}

// --- events ------------------------------------------------------------------------------

class smmu_device_events : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(dev.bring_up(), smmu_status::ok); }

    static arch::event_record fault(arch::stream_id sid, std::uint64_t va) {
        return arch::make_translation_fault(arch::stream_ref(sid), va, arch::access_kind{},
                                            arch::fault_stage{});
    }

    std::vector<std::uint64_t> cons_writes() const {
        std::vector<std::uint64_t> r;
        for (const reg_write& w : hw.mmio_writes())
            if (w.first == arch::reg::eventq_cons)
                r.push_back(w.second);
        return r;
    }

    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev{hw, lock};
    std::vector<arch::event_record> seen;
    event_handler collect = [this](const arch::event_record& e) { seen.push_back(e); };
};

TEST_F(smmu_device_events, records_are_decoded_and_consumed) {
    const std::vector<arch::event_record> pushed = {
        fault(1, 0x1000),
        arch::make_bad_ste(arch::stream_ref(2)),
        arch::make_cd_fetch(arch::stream_ref(3, 7), 0x9000040, 0x12),
    };
    for (const arch::event_record& e : pushed)
        ASSERT_TRUE(hw.push_event(e));
    hw.clear_trace();
    const event_report r = dev.process_events(collect);
    EXPECT_EQ(r.records, 3u);
    EXPECT_FALSE(r.overflow);
    EXPECT_EQ(seen, pushed);
    EXPECT_EQ(cons_writes(), (std::vector<std::uint64_t>{1, 2, 3})) << "one CONS write per record";
    EXPECT_EQ(dev.process_events(collect).records, 0u);
    EXPECT_EQ(dev.stats().events, 3u);
}

TEST_F(smmu_device_events, consumer_follows_the_queue_around) {
    for (unsigned round = 0; round < 3; ++round) {
        for (unsigned i = 0; i < 10; ++i)
            ASSERT_TRUE(hw.push_event(fault(round * 10 + i, 0)));
        EXPECT_EQ(dev.process_events(collect).records, 10u);
    }
    ASSERT_EQ(seen.size(), 30u);
    for (unsigned i = 0; i < 30; ++i)
        EXPECT_EQ(seen[i].sid, i);
    EXPECT_EQ(hw.reg(arch::reg::eventq_cons), 0x1eu) << "30 = wrap 1, index 14";
}

TEST_F(smmu_device_events, events_arriving_during_processing_are_taken) {
    ASSERT_TRUE(hw.push_event(fault(1, 0)));
    unsigned calls = 0;
    const event_report r = dev.process_events([&](const arch::event_record&) {
        if (++calls == 1)
            hw.push_event(fault(2, 0)); // the SMMU writes while the handler runs
    });
    EXPECT_EQ(r.records, 2u);
}

TEST_F(smmu_device_events, overflow_is_reported_and_acknowledged) {
    for (unsigned i = 0; i < 16; ++i)
        ASSERT_TRUE(hw.push_event(fault(i, 0)));
    EXPECT_FALSE(hw.push_event(fault(99, 0))) << "queue full";
    EXPECT_EQ(hw.reg(arch::reg::eventq_prod), 0x80000010u) << "OVFLG toggled";
    hw.clear_trace();
    event_report r = dev.process_events(collect);
    EXPECT_EQ(r.records, 16u);
    EXPECT_TRUE(r.overflow);
    std::vector<std::uint64_t> expected;
    for (std::uint64_t i = 1; i <= 16; ++i)
        expected.push_back(i);
    expected.push_back(0x80000010); // OVACKFLG = OVFLG
    EXPECT_EQ(cons_writes(), expected);
    EXPECT_EQ(seen.back().sid, 15u);

    ASSERT_TRUE(hw.push_event(fault(100, 0)));
    hw.clear_trace();
    r = dev.process_events(collect);
    EXPECT_EQ(r.records, 1u);
    EXPECT_FALSE(r.overflow);
    EXPECT_EQ(cons_writes(), (std::vector<std::uint64_t>{0x80000011})) << "OVACKFLG kept";

    // A second overflow toggles OVFLG back to 0.
    for (unsigned i = 0; i < 16; ++i)
        ASSERT_TRUE(hw.push_event(fault(i, 0)));
    EXPECT_FALSE(hw.push_event(fault(99, 0)));
    EXPECT_EQ(hw.reg(arch::reg::eventq_prod), 0x1u);
    r = dev.process_events(collect);
    EXPECT_EQ(r.records, 16u);
    EXPECT_TRUE(r.overflow);
    EXPECT_EQ(hw.reg(arch::reg::eventq_cons), 0x1u);
    EXPECT_EQ(dev.stats().event_overflows, 2u);
    EXPECT_EQ(dev.stats().events, 33u);
}

TEST_F(smmu_device_events, overflow_after_an_acknowledged_one_needs_a_new_ack_first) {
    for (unsigned i = 0; i < 17; ++i)
        hw.push_event(fault(i, 0));
    // Not yet acknowledged: a further overflow does not toggle OVFLG again.
    EXPECT_FALSE(hw.push_event(fault(98, 0)));
    EXPECT_EQ(hw.reg(arch::reg::eventq_prod), 0x80000010u);
    EXPECT_TRUE(dev.process_events(collect).overflow);
}

TEST(smmu_device_events_unallocated, nothing_to_process) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    smmu_device dev(hw, lock);
    EXPECT_EQ(dev.process_events(nullptr).records, 0u);
}

// --- GERROR -------------------------------------------------------------------------------

class smmu_device_gerror : public ::testing::Test {
protected:
    void SetUp() override {
        device_config cfg;
        cfg.completion = sync_method::poll_cons;
        cfg.poll_timeout_ns = 2000;
        dev = std::make_unique<smmu_device>(hw, lock, cfg);
        ASSERT_EQ(dev->bring_up(), smmu_status::ok);
        hw.clear_trace();
    }

    std::vector<std::string> lines() const { return describe_all(hw.trace()); }

    fake_smmu_hw hw;
    fake_smmu_lock lock;
    std::unique_ptr<smmu_device> dev;
};

TEST_F(smmu_device_gerror, nothing_active_writes_nothing) {
    const gerror_report r = dev->handle_gerror();
    EXPECT_EQ(r.active, 0u);
    EXPECT_EQ(r.cmdq_error, arch::cmdq_error::none);
    EXPECT_TRUE(hw.mmio_writes().empty());
    EXPECT_EQ(dev->stats().gerrors, 0u);
}

TEST_F(smmu_device_gerror, illegal_command_becomes_a_sync) {
    hw.inject_cmdq_error(arch::opcode::cfgi_ste, arch::cmdq_error::ill);
    EXPECT_EQ(dev->command_queue().issue_with_sync(arch::make_cfgi_ste(3, true)),
              smmu_status::timeout);
    EXPECT_EQ(hw.cmdq_cons_reg(), 0x01000004u) << "ERR = ILL at slot 4";
    hw.clear_trace();
    const gerror_report r = dev->handle_gerror();
    EXPECT_EQ(r.active, 0x1u);
    EXPECT_EQ(r.cmdq_error, arch::cmdq_error::ill);
    const std::vector<std::string> expected = {
        "mem 0x40000040 [16 bytes]", // the CFGI_STE's slot, now a CMD_SYNC
        "barrier",
        "mmio 0x64 <- 0x1", // GERRORN = GERROR
        "CMD_SYNC cs=none", // the replacement
        "CMD_SYNC cs=none", // the batch's own SYNC
    };
    EXPECT_EQ(lines(), expected);
    EXPECT_EQ(hw.peek64(0x40000040), 0xc00046u) << "CMD_SYNC, MSH = ISH";
    EXPECT_EQ(dev->stats().cmdq_errors, 1u);
    EXPECT_EQ(dev->command_queue().issue_with_sync(arch::make_cfgi_ste(4, true)), smmu_status::ok);
}

TEST_F(smmu_device_gerror, aborted_fetch_is_retried) {
    hw.inject_cmdq_error(arch::opcode::cfgi_ste, arch::cmdq_error::abt);
    EXPECT_EQ(dev->command_queue().issue_with_sync(arch::make_cfgi_ste(3, true)),
              smmu_status::timeout);
    EXPECT_EQ(hw.cmdq_cons_reg(), 0x02000004u);
    hw.clear_trace();
    const gerror_report r = dev->handle_gerror();
    EXPECT_EQ(r.cmdq_error, arch::cmdq_error::abt);
    const std::vector<std::string> expected = {
        "mmio 0x64 <- 0x1",
        "CMD_CFGI_STE sid=0x3 leaf=1",
        "CMD_SYNC cs=none",
    };
    EXPECT_EQ(lines(), expected);
    EXPECT_EQ(hw.peek64(0x40000040), 0x300000003u) << "the command was left in place";
}

TEST_F(smmu_device_gerror, atc_invalidation_timeout_reissues_the_sync) {
    hw.inject_cmdq_error(arch::opcode::sync, arch::cmdq_error::atc_inv_sync);
    EXPECT_EQ(dev->command_queue().issue_with_sync(arch::make_atc_inv(arch::stream_ref(8), 0, 52)),
              smmu_status::timeout);
    EXPECT_EQ(hw.cmdq_cons_reg(), 0x03000005u) << "CONS at the SYNC in slot 5";
    hw.clear_trace();
    const gerror_report r = dev->handle_gerror();
    EXPECT_EQ(r.cmdq_error, arch::cmdq_error::atc_inv_sync);
    const std::vector<std::string> expected = {
        "mem 0x40000050 [16 bytes]",
        "barrier",
        "mmio 0x64 <- 0x1",
        "CMD_SYNC cs=none",
    };
    EXPECT_EQ(lines(), expected);
}

TEST_F(smmu_device_gerror, interrupt_handler_recovers_while_the_producer_waits) {
    hw.set_gerror_hook([this] { dev->handle_gerror(); });
    hw.inject_cmdq_error(arch::opcode::cfgi_ste, arch::cmdq_error::ill);
    EXPECT_EQ(dev->command_queue().issue_with_sync(arch::make_cfgi_ste(3, true)), smmu_status::ok);
    EXPECT_EQ(dev->stats().gerrors, 1u);
    EXPECT_EQ(dev->command_queue().stats().timeouts, 0u);
    EXPECT_EQ(hw.reg(arch::reg::gerrorn), 0x1u);
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 2u);
    EXPECT_EQ(consumed[0], arch::make_sync(arch::sync_cs::none));
}

TEST_F(smmu_device_gerror, second_error_toggles_back) {
    hw.set_gerror_hook([this] { dev->handle_gerror(); });
    hw.inject_cmdq_error(arch::opcode::cfgi_ste, arch::cmdq_error::abt);
    ASSERT_EQ(dev->command_queue().issue_with_sync(arch::make_cfgi_ste(3, true)), smmu_status::ok);
    hw.inject_cmdq_error(arch::opcode::cfgi_ste, arch::cmdq_error::abt);
    ASSERT_EQ(dev->command_queue().issue_with_sync(arch::make_cfgi_ste(3, true)), smmu_status::ok);
    EXPECT_EQ(hw.reg(arch::reg::gerror), 0x0u);
    EXPECT_EQ(hw.reg(arch::reg::gerrorn), 0x0u);
    EXPECT_EQ(dev->stats().cmdq_errors, 2u);
}

TEST_F(smmu_device_gerror, other_errors_are_reported_and_acknowledged) {
    hw.set_register(arch::reg::gerror, 0x1a4); // SFM, MSI_GERROR_ABT, MSI_EVENTQ_ABT, EVENTQ_ABT
    const gerror_report r = dev->handle_gerror();
    EXPECT_EQ(r.active, 0x1a4u);
    EXPECT_TRUE(r.service_failure());
    EXPECT_EQ(r.cmdq_error, arch::cmdq_error::none);
    EXPECT_EQ(hw.mmio_writes(), (reg_writes{{0x64, 0x1a4}}));
    EXPECT_EQ(dev->handle_gerror().active, 0u) << "acknowledged";
}

TEST_F(smmu_device_gerror, unimplemented_bits_are_ignored) {
    hw.set_register(arch::reg::gerror, 0x2); // bit 1 is RES0
    EXPECT_EQ(dev->handle_gerror().active, 0u);
    EXPECT_TRUE(hw.mmio_writes().empty());
}

} // namespace
} // namespace smmu::driver
