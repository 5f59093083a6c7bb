// The bench itself: bring-up, a translated DMA, and the event of a fault.
#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

TEST(smmu_smoke, stage1_dma_is_translated_and_a_fault_is_recorded) {
    bench b;
    const auto l = b.prepare();
    table_writer::page_table pt(b.tables(), 0, 48);
    pt.map(0x10000, 0x200000, s1_page_rw);
    const std::uint64_t cd_addr = b.tables().alloc(64);
    arch::cd c;
    c.v = true;
    c.aa64 = true;
    c.t0sz = 16;
    c.epd1 = true;
    c.ips = arch::pa_size_encoding::bits_48;
    c.asid = 1;
    c.r = c.a = true;
    c.ttb0 = pt.root();
    b.tables().write_cd(cd_addr, c);
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::s1_translate;
    s.s1_context_ptr = cd_addr;
    b.tables().write_ste(l.strtab, 5, s);
    b.mem().write32(0x200010, 0xcafef00d);

    std::uint32_t got = 0;
    dma_result miss{}, fault{};
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        dma_attrs a;
        a.sid = 5;
        miss = b.device().read(0x10010, &got, 4, a);
        fault = b.device().read(0x20000, &got, 4, a);
        events = b.drain_events(l);
    }));
    EXPECT_TRUE(miss.ok());
    EXPECT_EQ(got, 0xcafef00du);
    EXPECT_EQ(fault.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, arch::event_id::f_translation);
    EXPECT_EQ(events[0].sid, 5u);
    EXPECT_EQ(events[0].input_addr, 0x20000u);
}

} // namespace
} // namespace smmu::test
