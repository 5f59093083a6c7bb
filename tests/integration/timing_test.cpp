// Timing relations a user of the block relies on (ARCHITECTURE.md §4, docs/timing.md): what
// a micro-TLB hit, an IOTLB hit, a walk-cache hit and a full miss cost, contention for walk
// slots and TBU slots, and functional mode. Expected latencies are summed by hand from the
// parameters: the device sees the SMMU's latency plus the memory's.
#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

/// SID 1: stage 1, VA 0x10000 and 0x11000 mapped (one level-3 table).
s1_stream timed_stream(bench& b, const bench::layout& l) {
    auto s = b.add_s1_stream(l, 1, 1);
    s.pt.map(0x10000, 0x210000, s1_page_rw);
    s.pt.map(0x11000, 0x211000, s1_page_rw);
    b.mem().write32(0x210010, 0x7100d001);
    return s;
}

/// SID 2: a stream sharing nothing cached with SID 1 (own STE, CD, ASID and tables).
s1_stream other_stream(bench& b, const bench::layout& l) {
    auto s = b.add_s1_stream(l, 2, 2);
    s.pt.map(0x11000, 0x212000, s1_page_rw);
    return s;
}

dma_result timed_read(bench& b, std::uint64_t va, std::uint32_t sid = 1, std::size_t tbu = 0) {
    std::uint32_t v = 0;
    dma_attrs a;
    a.sid = sid;
    return b.device(tbu).read(va, &v, 4, a);
}

TEST(smmu_timing, hit_miss_and_partial_hits_with_default_parameters) {
    bench b;
    const auto l = b.prepare();
    timed_stream(b, l);
    dma_result miss{}, hit{}, write_hit{}, walk_cache_hit{}, iotlb_hit{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        miss = timed_read(b, 0x10010);
        hit = timed_read(b, 0x10020);
        std::uint32_t v = 1;
        dma_attrs a;
        a.sid = 1;
        write_hit = b.device().write(0x10030, &v, 4, a);
        walk_cache_hit = timed_read(b, 0x11010);
        b.submit_and_sync(l, {arch::make_prefetch_config(0)}); // flushes nothing
        b.submit_and_sync(l, {arch::make_tlbi_nh_asid(0, 9)}); // flushes the micro-TLBs only
        iotlb_hit = timed_read(b, 0x10010);
    }));
    // Micro-TLB hit: utlb_lookup_cycles (1) + the memory's 50 ns.
    EXPECT_EQ(hit.latency, ns(1 + 50));
    EXPECT_EQ(write_hit.latency, ns(1 + 50));
    // Full miss: micro-TLB 1, link 8, STE lookup 3 + fetch 50, CD lookup 3 + fetch 50,
    // IOTLB lookup 3, walk-cache lookup 4, four descriptors of 50 + 2, link 8, data 50.
    EXPECT_EQ(miss.latency, ns(1 + 8 + 3 + 50 + 3 + 50 + 3 + 4 + 4 * 52 + 8 + 50));
    // Same level-3 table: the walk cache resumes there, one descriptor read.
    EXPECT_EQ(walk_cache_hit.latency, ns(1 + 8 + 3 + 3 + 3 + 4 + 52 + 8 + 50));
    // IOTLB hit behind a flushed micro-TLB: lookups and the link only.
    EXPECT_EQ(iotlb_hit.latency, ns(1 + 8 + 3 + 3 + 3 + 8 + 50));
    EXPECT_EQ(b.smmu().stats().utlb_hits, 2u);
}

TEST(smmu_timing, a_fault_costs_the_walk_and_the_event_write) {
    bench b;
    const auto l = b.prepare();
    timed_stream(b, l);
    dma_result fault{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        fault = timed_read(b, 0x20010); // its level-3 descriptor is invalid
    }));
    EXPECT_EQ(fault.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    // The full miss up to the return link (no data access), then event_write_cycles (10)
    // and the memory's 50 ns for the record.
    EXPECT_EQ(fault.latency, ns(1 + 8 + 3 + 50 + 3 + 50 + 3 + 4 + 4 * 52 + 8 + 10 + 50));
}

TEST(smmu_timing, cmd_sync_completes_no_earlier_than_the_translations_before_it) {
    bench_config cfg;
    cfg.params.cmd_tlbi_cycles = 0;
    cfg.params.cmd_tlbi_probe_cycles = 0;
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    sc_core::sc_time t0, rise;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        wait(us(1));
        t0 = sc_core::sc_time_stamp();
        std::uint32_t v = 0;
        dma_attrs a;
        a.sid = 1;
        // Annotated, not waited for: the translation holds the TCU until 338 ns from now.
        b.device().access(tlm::TLM_READ_COMMAND, 0x10010, &v, 4, a, false);
        b.submit(l, {arch::make_tlbi_nh_asid(0, 1), arch::make_sync(arch::sync_cs::irq)});
        wait(b.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    // Alone the SYNC would complete at 50 + 2 + 2 + 100 = 154 ns; the translation
    // started before it holds the TCU until 338 ns.
    EXPECT_EQ(rise - t0, ns(338 + 100));
}

TEST(smmu_timing, latencies_scale_with_every_parameter) {
    bench_config cfg;
    cfg.params.clock_period_ps = 2000; // 500 MHz
    cfg.params.utlb_lookup_cycles = 2;
    cfg.params.tbu_tcu_link_cycles = 10;
    cfg.params.config_lookup_cycles = 4;
    cfg.params.main_tlb_lookup_cycles = 5;
    cfg.params.walk_cache_lookup_cycles = 6;
    cfg.params.walk_step_cycles = 3;
    cfg.memory_latency = ns(30);
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    dma_result miss{}, hit{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        miss = timed_read(b, 0x10010);
        hit = timed_read(b, 0x10010);
    }));
    EXPECT_EQ(hit.latency, ns(4 + 30));
    // The miss costs more by two link crossings, the lookups and the structure and
    // descriptor reads (memory latency + walk_step_cycles each descriptor).
    EXPECT_EQ(miss.latency - hit.latency, ns(2 * 20 + 8 + 30 + 8 + 30 + 10 + 12 + 4 * (30 + 6)));
}

TEST(smmu_timing, a_second_walk_waits_for_the_only_walk_slot) {
    bench_config cfg;
    cfg.params.tcu_walk_slots = 1;
    cfg.tbus = {tbu_params{}, tbu_params{}};
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    other_stream(b, l);
    dma_result first{}, second{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        std::uint32_t v0 = 0, v1 = 0;
        dma_attrs a0, a1;
        a0.sid = 1;
        a1.sid = 2;
        // Both at the same simulated time, from two TBUs.
        first = b.device(0).access(tlm::TLM_READ_COMMAND, 0x10010, &v0, 4, a0, false);
        second = b.device(1).access(tlm::TLM_READ_COMMAND, 0x11010, &v1, 4, a1, false);
        wait(second.latency);
    }));
    const sc_core::sc_time alone = ns(388);
    // The first holds the slot from its STE fetch (at 12 ns) to the end of its walk
    // (330 ns): 318 ns. The second, with its own STE, CD and walk, starts then.
    EXPECT_EQ(first.latency, alone);
    EXPECT_EQ(second.latency, alone + ns(318));
    EXPECT_NE(b.smmu().stats_json().find("\"walk_slot_waits\":1,\"walk_slot_stall_ps\":318000"),
              std::string::npos)
        << b.smmu().stats_json();
}

TEST(smmu_timing, concurrent_walks_do_not_wait_with_enough_slots) {
    bench_config cfg;
    cfg.tbus = {tbu_params{}, tbu_params{}};
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    other_stream(b, l);
    dma_result first{}, second{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        std::uint32_t v0 = 0, v1 = 0;
        dma_attrs a0, a1;
        a0.sid = 1;
        a1.sid = 2;
        first = b.device(0).access(tlm::TLM_READ_COMMAND, 0x10010, &v0, 4, a0, false);
        second = b.device(1).access(tlm::TLM_READ_COMMAND, 0x11010, &v1, 4, a1, false);
        wait(second.latency);
    }));
    EXPECT_EQ(first.latency, ns(388));
    EXPECT_EQ(second.latency, ns(388));
}

TEST(smmu_timing, a_tbu_with_one_slot_serialises_its_misses) {
    bench_config cfg;
    cfg.params.tbu_translation_slots = 1;
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    other_stream(b, l);
    dma_result first{}, second{};
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        std::uint32_t v0 = 0, v1 = 0;
        dma_attrs a0, a1;
        a0.sid = 1;
        a1.sid = 2;
        first = b.device(0).access(tlm::TLM_READ_COMMAND, 0x10010, &v0, 4, a0, false);
        second = b.device(0).access(tlm::TLM_READ_COMMAND, 0x11010, &v1, 4, a1, false);
        wait(second.latency);
    }));
    // The slot is held from the request to the TCU's answer: 1 ns to 338 ns. The second
    // request gets it then and takes a full miss (387 ns after its micro-TLB lookup).
    EXPECT_EQ(first.latency, ns(388));
    EXPECT_EQ(second.latency, ns(338) + ns(388 - 1));
}

TEST(smmu_timing, functional_mode_has_no_smmu_latency_and_the_same_results) {
    bench_config cfg;
    cfg.params.mode = timing_mode::functional;
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    dma_result miss{}, hit{}, fault{};
    std::uint32_t v = 0;
    std::vector<arch::event_record> events;
    sc_core::sc_time t0, rise;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        dma_attrs a;
        a.sid = 1;
        miss = b.device().read(0x10010, &v, 4, a);
        hit = timed_read(b, 0x10010);
        fault = timed_read(b, 0x20010);
        events = b.drain_events(l);
        t0 = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_tlbi_nh_all(0), arch::make_sync(arch::sync_cs::irq)});
        wait(b.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    EXPECT_EQ(v, 0x7100d001u);
    EXPECT_TRUE(miss.ok());
    // Only the memory's latency remains: STE, CD, four descriptors and the data.
    EXPECT_EQ(miss.latency, ns(7 * 50));
    EXPECT_EQ(hit.latency, ns(50));
    EXPECT_EQ(fault.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, arch::event_id::f_translation);
    EXPECT_EQ(events[0].input_addr, 0x20010u);
    EXPECT_EQ(rise - t0, ns(50)); // the command fetch only
}

TEST(smmu_timing, functional_mode_with_instant_memory_takes_no_time_at_all) {
    bench_config cfg;
    cfg.params.mode = timing_mode::functional;
    cfg.memory_latency = sc_core::SC_ZERO_TIME;
    bench b(cfg);
    const auto l = b.prepare();
    timed_stream(b, l);
    dma_result miss{};
    std::uint32_t v = 0;
    sc_core::sc_time start, end, sync_done;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        start = sc_core::sc_time_stamp();
        dma_attrs a;
        a.sid = 1;
        miss = b.device().read(0x10010, &v, 4, a);
        end = sc_core::sc_time_stamp();
        b.submit(l, {arch::make_tlbi_nh_all(0), arch::make_sync(arch::sync_cs::irq)});
        wait(b.irq_cmd_sync.posedge_event());
        sync_done = sc_core::sc_time_stamp();
    }));
    EXPECT_EQ(v, 0x7100d001u);
    EXPECT_EQ(miss.latency, sc_core::SC_ZERO_TIME);
    EXPECT_EQ(end, start);
    EXPECT_EQ(sync_done, end);
}

} // namespace
} // namespace smmu::test
