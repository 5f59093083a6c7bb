#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "model/timing/clock.h"
#include "model/timing/resource.h"

namespace {

using smmu::timing::busy_resource;
using smmu::timing::clock_domain;
using smmu::timing::grant;
using smmu::timing::time_max;
using smmu::timing::time_ps;

// ---------------------------------------------------------------------------------------------
// clock_domain

TEST(clock_domain, cycles_multiply_by_the_period) {
    constexpr clock_domain clk{1000}; // 1 GHz
    static_assert(clk.cycles(3) == 3000);
    EXPECT_EQ(clk.period(), 1000u);
    EXPECT_EQ(clk.cycles(0), 0u);
    EXPECT_EQ(clk.cycles(1), 1000u);
    EXPECT_EQ(clk.cycles(250), 250000u);
    EXPECT_FALSE(clk.is_zero_time());
}

TEST(clock_domain, odd_period) {
    const clock_domain clk{1250}; // 800 MHz
    EXPECT_EQ(clk.cycles(7), 8750u);
}

TEST(clock_domain, zero_period_is_functional_mode) {
    const clock_domain clk{0};
    EXPECT_TRUE(clk.is_zero_time());
    EXPECT_EQ(clk.cycles(1000000), 0u);
    EXPECT_EQ(clk.to_cycles(12345), 0u);
    EXPECT_EQ(clk.next_edge(12345), 12345u);
}

TEST(clock_domain, cycles_saturate_instead_of_wrapping) {
    const clock_domain clk{1000};
    EXPECT_EQ(clk.cycles(0xFFFFFFFFFFFFFFFFull), time_max);
    EXPECT_EQ(clk.cycles(18446744073709551ull), 18446744073709551000ull); // largest exact
    EXPECT_EQ(clk.cycles(18446744073709552ull), time_max);
}

TEST(clock_domain, to_cycles_rounds_up) {
    const clock_domain clk{1000};
    EXPECT_EQ(clk.to_cycles(0), 0u);
    EXPECT_EQ(clk.to_cycles(1), 1u);
    EXPECT_EQ(clk.to_cycles(999), 1u);
    EXPECT_EQ(clk.to_cycles(1000), 1u);
    EXPECT_EQ(clk.to_cycles(1001), 2u);
}

TEST(clock_domain, next_edge) {
    const clock_domain clk{1000};
    EXPECT_EQ(clk.next_edge(0), 0u);
    EXPECT_EQ(clk.next_edge(1), 1000u);
    EXPECT_EQ(clk.next_edge(1000), 1000u);
    EXPECT_EQ(clk.next_edge(1999), 2000u);
    EXPECT_EQ(clk.next_edge(time_max), time_max); // no edge fits: saturates
}

TEST(clock_domain, saturating_helpers) {
    EXPECT_EQ(smmu::timing::saturating_add(1, 2), 3u);
    EXPECT_EQ(smmu::timing::saturating_add(time_max - 1, 1), time_max);
    EXPECT_EQ(smmu::timing::saturating_add(time_max - 1, 2), time_max);
    EXPECT_EQ(smmu::timing::saturating_mul(3, 4), 12u);
    EXPECT_EQ(smmu::timing::saturating_mul(time_max, 0), 0u);
    EXPECT_EQ(smmu::timing::saturating_mul(0x100000000ull, 0x100000000ull), time_max);
}

// ---------------------------------------------------------------------------------------------
// busy_resource

TEST(busy_resource, zero_slots_is_a_configuration_error) {
    EXPECT_THROW(busy_resource{0}, std::invalid_argument);
}

TEST(busy_resource, idle_slot_starts_at_arrival) {
    busy_resource r{1};
    const grant g = r.acquire(500, 100);
    EXPECT_EQ(g.start, 500u);
    EXPECT_EQ(g.wait, 0u);
    EXPECT_EQ(g.end, 600u);
    EXPECT_EQ(r.earliest_free(), 600u);
}

TEST(busy_resource, one_slot_second_request_waits_exactly_the_first_hold) {
    busy_resource r{1};
    const grant a = r.acquire(1000, 250);
    const grant b = r.acquire(1000, 40);
    EXPECT_EQ(a.wait, 0u);
    EXPECT_EQ(b.start, 1250u);
    EXPECT_EQ(b.wait, 250u);
    EXPECT_EQ(b.end, 1290u);
}

TEST(busy_resource, one_slot_partial_overlap_waits_for_the_remainder) {
    busy_resource r{1};
    r.acquire(0, 100);
    const grant b = r.acquire(30, 10);
    EXPECT_EQ(b.start, 100u);
    EXPECT_EQ(b.wait, 70u);
}

TEST(busy_resource, one_slot_arrival_after_release_does_not_wait) {
    busy_resource r{1};
    r.acquire(0, 100);
    EXPECT_EQ(r.acquire(100, 10).wait, 0u); // free exactly at 100
    EXPECT_EQ(r.acquire(200, 10).wait, 0u);
    EXPECT_EQ(r.stats().waits, 0u);
}

TEST(busy_resource, two_slots_two_requests_neither_waits) {
    busy_resource r{2};
    const grant a = r.acquire(1000, 250);
    const grant b = r.acquire(1000, 250);
    EXPECT_EQ(a.wait, 0u);
    EXPECT_EQ(b.wait, 0u);
    EXPECT_EQ(b.start, 1000u);
    // A third one waits for the first slot to free.
    const grant c = r.acquire(1100, 10);
    EXPECT_EQ(c.start, 1250u);
    EXPECT_EQ(c.wait, 150u);
}

TEST(busy_resource, third_request_takes_the_earliest_freeing_slot) {
    busy_resource r{2};
    r.acquire(0, 300);
    r.acquire(0, 100);
    const grant c = r.acquire(50, 10);
    EXPECT_EQ(c.start, 100u);
    EXPECT_EQ(c.wait, 50u);
}

TEST(busy_resource, out_of_order_arrival_on_one_slot_queues_behind_the_booking) {
    // Temporal decoupling: a request stamped 1000 is presented before one stamped 500. The
    // slot is one forward-moving timeline, so the earlier-stamped one waits behind it.
    busy_resource r{1};
    const grant late = r.acquire(1000, 100);
    const grant early = r.acquire(500, 100);
    EXPECT_EQ(late.start, 1000u);
    EXPECT_EQ(late.wait, 0u);
    EXPECT_EQ(early.start, 1100u);
    EXPECT_EQ(early.wait, 600u);
}

TEST(busy_resource, out_of_order_arrival_uses_the_slot_left_free_by_best_fit) {
    busy_resource r{2};
    r.acquire(100, 50); // slot A busy until 150, slot B free since 0
    // Arrives at 200: both slots are free; best fit takes A (free since 150), keeping B.
    EXPECT_EQ(r.acquire(200, 10).wait, 0u);
    // Presented later, stamped 10: slot B is still free since 0, so no wait. (Taking the
    // longest-free slot at 200 would have made this one wait until 150.)
    const grant early = r.acquire(10, 10);
    EXPECT_EQ(early.start, 10u);
    EXPECT_EQ(early.wait, 0u);
}

TEST(busy_resource, in_order_arrivals_are_first_come_first_served) {
    // 1 slot, 4 requests at t=0,10,20,30 each holding 25: starts 0,25,50,75.
    busy_resource r{1};
    const time_ps arrivals[] = {0, 10, 20, 30};
    const time_ps starts[] = {0, 25, 50, 75};
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(r.acquire(arrivals[i], 25).start, starts[i]) << i;
}

TEST(busy_resource, start_time_peeks_without_booking) {
    busy_resource r{1};
    r.acquire(0, 100);
    EXPECT_EQ(r.start_time(20), 100u);
    EXPECT_EQ(r.start_time(20), 100u);
    EXPECT_EQ(r.start_time(150), 150u);
    EXPECT_EQ(r.stats().acquisitions, 1u);
}

TEST(busy_resource, zero_hold_waits_but_occupies_nothing) {
    busy_resource r{1};
    r.acquire(0, 100);
    const grant z = r.acquire(10, 0); // e.g. a CMD_SYNC behind earlier commands
    EXPECT_EQ(z.start, 100u);
    EXPECT_EQ(z.wait, 90u);
    EXPECT_EQ(z.end, 100u);
    EXPECT_EQ(r.earliest_free(), 100u);
}

TEST(busy_resource, all_zero_latencies_never_wait_even_out_of_order) {
    busy_resource r{1};
    EXPECT_EQ(r.acquire(1000, 0).wait, 0u);
    EXPECT_EQ(r.acquire(10, 0).wait, 0u);
    EXPECT_EQ(r.stats().waits, 0u);
}

TEST(busy_resource, stall_accounting) {
    busy_resource r{1};
    r.acquire(0, 100);  // no wait
    r.acquire(0, 100);  // waits 100
    r.acquire(50, 100); // waits 150
    r.acquire(400, 5);  // no wait
    const auto& s = r.stats();
    EXPECT_EQ(s.acquisitions, 4u);
    EXPECT_EQ(s.waits, 2u);
    EXPECT_EQ(s.total_wait, 250u);
    EXPECT_EQ(s.max_wait, 150u);
    EXPECT_EQ(s.busy, 305u);
}

TEST(busy_resource, reset_stats_keeps_bookings_and_reset_clears_both) {
    busy_resource r{1};
    r.acquire(0, 100);
    r.acquire(0, 100);
    r.reset_stats();
    EXPECT_EQ(r.stats().acquisitions, 0u);
    EXPECT_EQ(r.stats().total_wait, 0u);
    EXPECT_EQ(r.earliest_free(), 200u);
    r.reset();
    EXPECT_EQ(r.earliest_free(), 0u);
    EXPECT_EQ(r.all_free(), 0u);
    EXPECT_EQ(r.acquire(0, 1).wait, 0u);
}

TEST(busy_resource, earliest_and_all_free) {
    busy_resource r{3};
    r.acquire(0, 300);
    r.acquire(0, 100);
    EXPECT_EQ(r.slots(), 3u);
    EXPECT_EQ(r.earliest_free(), 0u); // third slot untouched
    EXPECT_EQ(r.all_free(), 300u);
    r.acquire(0, 200);
    EXPECT_EQ(r.earliest_free(), 100u);
}

TEST(busy_resource, many_slots_keep_order_under_mixed_holds) {
    // 4 slots, 8 requests at t=0 with holds 80,10,40,20,30,70,60,50:
    // first four start at 0 (free at 80,10,40,20); the rest take slots as they free:
    // 30 -> slot free at 10 (start 10, end 40), 70 -> 20 (end 90), 60 -> 40 (end 100),
    // 50 -> the other 40 (end 90).
    busy_resource r{4};
    const time_ps holds[] = {80, 10, 40, 20, 30, 70, 60, 50};
    const time_ps starts[] = {0, 0, 0, 0, 10, 20, 40, 40};
    for (int i = 0; i < 8; ++i)
        EXPECT_EQ(r.acquire(0, holds[i]).start, starts[i]) << i;
    EXPECT_EQ(r.earliest_free(), 80u);
    EXPECT_EQ(r.all_free(), 100u);
}

TEST(busy_resource, idle_and_contended_requests_interleave) {
    // Requests arriving when every slot is free take the idle path; the others search.
    busy_resource r{2};
    grant g = r.acquire(0, 10); // idle: [0, 10]
    EXPECT_EQ(g.start, 0u);
    EXPECT_EQ(g.end, 10u);
    g = r.acquire(20, 5); // idle: the slot free at 10 is the best fit, [0, 25]
    EXPECT_EQ(g.start, 20u);
    EXPECT_EQ(g.end, 25u);
    g = r.acquire(5, 1); // contended: the slot free since 0, [6, 25]
    EXPECT_EQ(g.start, 5u);
    EXPECT_EQ(g.wait, 0u);
    EXPECT_EQ(r.start_time(7), 7u);
    g = r.acquire(7, 100); // the slot free at 6, [25, 107]
    EXPECT_EQ(g.end, 107u);
    EXPECT_EQ(r.start_time(8), 25u);
    g = r.acquire(8, 0); // waits for the slot free at 25, books nothing
    EXPECT_EQ(g.start, 25u);
    EXPECT_EQ(g.wait, 17u);
    g = r.acquire(200, 3); // idle: [25, 203]
    EXPECT_EQ(g.start, 200u);
    EXPECT_EQ(r.earliest_free(), 25u);
    EXPECT_EQ(r.all_free(), 203u);
    EXPECT_EQ(r.stats().acquisitions, 6u);
    EXPECT_EQ(r.stats().waits, 1u);
    EXPECT_EQ(r.stats().total_wait, 17u);
    EXPECT_EQ(r.stats().max_wait, 17u);
    EXPECT_EQ(r.stats().busy, 119u);
}

TEST(busy_resource, hold_saturates_at_time_max) {
    busy_resource r{1};
    const grant g = r.acquire(time_max - 5, 100);
    EXPECT_EQ(g.end, time_max);
    EXPECT_EQ(r.acquire(0, 1).start, time_max);
}

TEST(resource_stats, json_text) {
    busy_resource r{1};
    r.acquire(0, 100);
    r.acquire(40, 7);
    std::string out = "x";
    r.stats().to_json(out);
    EXPECT_EQ(out, "x{\"acquisitions\":2,\"waits\":1,\"total_wait_ps\":60,\"max_wait_ps\":60,"
                   "\"busy_ps\":107}");
}

} // namespace
