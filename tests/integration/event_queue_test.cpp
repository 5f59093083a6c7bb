// The event queue as the driver sees it: overflow and lost records, write aborts
// (GERROR.EVENTQ_ABT_ERR), the wired event interrupt and the event MSI (reference §1.4, §6;
// IHI0070 §7.2, §7.4).
#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

using arch::event_id;
namespace reg = arch::reg;

/// SID 5: stage 1 with nothing mapped, so that every access is an F_TRANSLATION.
void faulting_stream(bench& b, const bench::layout& l) {
    b.add_s1_stream(l, 5, 1);
}

/// A read of VA `va` by SID 5: one F_TRANSLATION record with InputAddr = va.
void fault_at(bench& b, std::uint64_t va) {
    std::uint32_t v = 0;
    dma_attrs a;
    a.sid = 5;
    b.device().read(va, &v, 4, a);
}

std::vector<std::uint64_t> inputs(const std::vector<arch::event_record>& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
        out.push_back(e.input_addr);
    return out;
}

TEST(smmu_event_queue, a_full_queue_loses_records_and_signals_overflow_once) {
    bench b;
    const auto l = b.prepare(8, 8, 2); // 4 event entries
    faulting_stream(b, l);
    std::uint32_t prod_full = 0, prod_overflow = 0, prod_after = 0, prod_second = 0;
    std::vector<arch::event_record> first, second;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        for (unsigned i = 0; i < 4; ++i)
            fault_at(b, 0x100000 + 0x1000 * i);
        prod_full = b.reg_read32(reg::eventq_prod);
        fault_at(b, 0x200000);
        fault_at(b, 0x201000);
        prod_overflow = b.reg_read32(reg::eventq_prod);
        first = b.drain_events(l); // acknowledges the overflow
        fault_at(b, 0x300000);
        prod_after = b.reg_read32(reg::eventq_prod);
        for (unsigned i = 1; i < 5; ++i) // three fit, the fourth is lost
            fault_at(b, 0x300000 + 0x1000 * i);
        prod_second = b.reg_read32(reg::eventq_prod);
        second = b.drain_events(l);
    }));
    EXPECT_EQ(prod_full, 0x4u);            // wrap 1, index 0: full
    EXPECT_EQ(prod_overflow, 0x80000004u); // OVFLG toggled once for two lost records
    EXPECT_EQ(prod_after, 0x80000005u);    // no new overflow
    EXPECT_EQ(prod_second, 0x00000000u);   // full again and a new overflow: OVFLG back to 0
    const std::vector<std::uint64_t> first_expected = {0x100000, 0x101000, 0x102000, 0x103000};
    EXPECT_EQ(inputs(first), first_expected);
    const std::vector<std::uint64_t> second_expected = {0x300000, 0x301000, 0x302000, 0x303000};
    EXPECT_EQ(inputs(second), second_expected);
    EXPECT_NE(b.smmu().stats_json().find("\"event_queue\":{\"posted\":11,\"written\":8,\"lost\":3,"
                                         "\"aborted\":0}"),
              std::string::npos)
        << b.smmu().stats_json();
}

TEST(smmu_event_queue, events_are_discarded_without_overflow_while_eventqen_is_0) {
    bench b;
    const auto l = b.prepare(8, 8, 2);
    faulting_stream(b, l);
    std::uint32_t prod = 1;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write32(reg::cr0, 0x9); // EVENTQEN off
        for (unsigned i = 0; i < 6; ++i)
            fault_at(b, 0x100000 + 0x1000 * i);
        prod = b.reg_read32(reg::eventq_prod);
    }));
    EXPECT_EQ(prod, 0u);
}

TEST(smmu_event_queue, an_aborted_write_activates_eventq_abt_err_until_acknowledged) {
    bench b;
    const auto l = b.prepare();
    faulting_stream(b, l);
    std::uint32_t gerror = 0, prod_aborted = 1, prod_discarded = 1, prod_resumed = 0;
    bool line = false;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write32(reg::irq_ctrl, 0x1); // GERROR_IRQEN
        b.mem().add_abort_range(l.eventq, l.eventq + (32u << l.eventq_log2) - 1);
        fault_at(b, 0x100000);
        gerror = b.reg_read32(reg::gerror);
        line = b.irq_gerror.read();
        prod_aborted = b.reg_read32(reg::eventq_prod);
        b.mem().clear_abort_ranges();
        fault_at(b, 0x101000); // still discarded: the error is active
        prod_discarded = b.reg_read32(reg::eventq_prod);
        b.reg_write32(reg::gerrorn, gerror);
        fault_at(b, 0x102000);
        prod_resumed = b.reg_read32(reg::eventq_prod);
        events = b.drain_events(l);
    }));
    EXPECT_EQ(gerror, 0x4u);
    EXPECT_TRUE(line);
    EXPECT_EQ(prod_aborted, 0u);
    EXPECT_EQ(prod_discarded, 0u);
    EXPECT_EQ(prod_resumed, 1u);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].input_addr, 0x102000u);
    EXPECT_FALSE(b.irq_gerror.read());
    EXPECT_EQ(b.smmu().stats().gerror_irqs, 1u);
}

TEST(smmu_event_queue, wired_interrupt_follows_a_non_empty_queue_with_eventq_irqen) {
    bench b;
    const auto l = b.prepare();
    faulting_stream(b, l);
    bool before = true, disabled = true, raised = false, after_consume = true;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        fault_at(b, 0x100000);
        disabled = b.irq_eventq.read(); // IRQEN = 0
        b.drain_events(l);
        before = b.irq_eventq.read();
        b.reg_write32(reg::irq_ctrl, 0x4);
        fault_at(b, 0x101000);
        wait(sc_core::SC_ZERO_TIME); // the line rises when the record is written: now
        raised = b.irq_eventq.read();
        b.drain_events(l);
        wait(sc_core::SC_ZERO_TIME);
        after_consume = b.irq_eventq.read();
    }));
    EXPECT_FALSE(disabled);
    EXPECT_FALSE(before);
    EXPECT_TRUE(raised);
    EXPECT_FALSE(after_consume);
}

TEST(smmu_event_queue, msi_is_written_when_the_queue_becomes_non_empty) {
    bench b;
    const auto l = b.prepare();
    faulting_stream(b, l);
    const std::uint64_t msi = b.tables().alloc(4096);
    std::uint32_t first = 0, while_non_empty = 1, after_consume = 0;
    bool wired = true;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write64(reg::eventq_irq_cfg0, msi + 0x80);
        b.reg_write32(reg::eventq_irq_cfg1, 0xe0e0e0e1);
        b.reg_write32(reg::eventq_irq_cfg2, 0x1f);
        b.reg_write32(reg::irq_ctrl, 0x4);
        fault_at(b, 0x100000);
        first = b.mem().read32(msi + 0x80);
        b.mem().write32(msi + 0x80, 0);
        fault_at(b, 0x101000);
        while_non_empty = b.mem().read32(msi + 0x80);
        b.drain_events(l);
        fault_at(b, 0x102000);
        after_consume = b.mem().read32(msi + 0x80);
        wait(sc_core::SC_ZERO_TIME);
        wired = b.irq_eventq.read(); // the wired line is asserted as well
    }));
    EXPECT_EQ(first, 0xe0e0e0e1u);
    EXPECT_EQ(while_non_empty, 0u);
    EXPECT_EQ(after_consume, 0xe0e0e0e1u);
    EXPECT_TRUE(wired);
    EXPECT_EQ(b.smmu().stats().eventq_irqs, 2u);
}

TEST(smmu_event_queue, an_aborted_event_msi_activates_msi_eventq_abt_err) {
    bench b;
    const auto l = b.prepare();
    faulting_stream(b, l);
    std::uint32_t gerror = 0, prod = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write64(reg::eventq_irq_cfg0, 0x3ff0000);
        b.reg_write32(reg::eventq_irq_cfg1, 1);
        b.reg_write32(reg::irq_ctrl, 0x4);
        b.mem().add_abort_range(0x3ff0000, 0x3ff0003);
        fault_at(b, 0x100000);
        gerror = b.reg_read32(reg::gerror);
        prod = b.reg_read32(reg::eventq_prod);
    }));
    EXPECT_EQ(gerror, 0x20u); // MSI_EVENTQ_ABT_ERR; the record itself was written
    EXPECT_EQ(prod, 1u);
    EXPECT_EQ(b.smmu().stats().msis_aborted, 1u);
}

} // namespace
} // namespace smmu::test
