// The simulated CPU: MMIO, memory, DMA allocation, the cost model, polling and
// WFE, the quantum keeper and the job queue. Each test elaborates its own
// modules and runs the simulation once (one test per process, as ctest runs it).
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>

#include "driver/host/cpu.h"
#include "tests/unit/driver_host/host_test_bench.h"

namespace {

using namespace smmu::host_test;
using smmu::driver::cpu_op;
using smmu::driver::platform_ops;
using smmu::driver::host::cpu;
using smmu::driver::host::cpu_cost;
using smmu::driver::host::cpu_params;
using smmu::driver::host::current_cpu_platform;
using smmu::driver::host::dma_allocator;
using smmu::driver::host::job_handle;
using smmu::driver::host::job_result;
using smmu::driver::host::run_and_wait;

void set_quantum(const sc_time& q) {
    tlm::tlm_global_quantum::instance().set(q);
}

// ---------------------------------------------------------------- MMIO

TEST(cpu_mmio, write32_reaches_base_plus_offset_with_four_bytes) {
    bench b;
    const job_handle h = b.cpu().run([](platform_ops& p) { p.mmio_write32(0x98, 0xDEADBEEF); });
    sc_core::sc_start();
    ASSERT_EQ(b.regs.log.size(), 1u);
    EXPECT_EQ(b.regs.log[0].cmd, tlm::TLM_WRITE_COMMAND);
    EXPECT_EQ(b.regs.log[0].address, 0x1000'0098u);
    EXPECT_EQ(b.regs.log[0].length, 4u);
    EXPECT_EQ(b.regs.log[0].value, 0xDEADBEEFu);
    EXPECT_EQ(h.latency(), ns(30)); // mmio_write_ns
    EXPECT_EQ(b.cpu().stats().mmio_writes, 1u);
}

TEST(cpu_mmio, write64_reaches_base_plus_offset_with_eight_bytes) {
    bench b;
    b.cpu().run([](platform_ops& p) { p.mmio_write64(0x10090, 0x0123'4567'89AB'CDEFull); });
    sc_core::sc_start();
    ASSERT_EQ(b.regs.log.size(), 1u);
    EXPECT_EQ(b.regs.log[0].address, 0x1001'0090u);
    EXPECT_EQ(b.regs.log[0].length, 8u);
    EXPECT_EQ(b.regs.log[0].value, 0x0123'4567'89AB'CDEFull);
}

TEST(cpu_mmio, reads_return_the_register_value_at_the_right_size) {
    bench b;
    b.regs.values[0x1000'009C] = 0xAAAA'BBBB'1234'5678ull;
    b.regs.values[0x1000'0020] = 0x0011'2233'4455'6677ull;
    std::uint32_t r32 = 0;
    std::uint64_t r64 = 0;
    const job_handle h = b.cpu().run([&](platform_ops& p) {
        r32 = p.mmio_read32(0x9C);
        r64 = p.mmio_read64(0x20);
    });
    sc_core::sc_start();
    EXPECT_EQ(r32, 0x1234'5678u);
    EXPECT_EQ(r64, 0x0011'2233'4455'6677ull);
    ASSERT_EQ(b.regs.log.size(), 2u);
    EXPECT_EQ(b.regs.log[0].cmd, tlm::TLM_READ_COMMAND);
    EXPECT_EQ(b.regs.log[0].length, 4u);
    EXPECT_EQ(b.regs.log[1].length, 8u);
    EXPECT_EQ(b.regs.log[0].at, ns(25)); // half way through the 50 ns round trip
    EXPECT_EQ(b.regs.log[1].at, ns(75));
    EXPECT_EQ(h.latency(), ns(100));
    EXPECT_EQ(b.cpu().stats().mmio_reads, 2u);
}

TEST(cpu_mmio, access_happens_at_the_cpus_own_time_and_syncs_after) {
    set_quantum(ns(1000));
    bench b;
    sc_time stamp_before, stamp_after;
    b.cpu().run([&](platform_ops& p) {
        p.charge(cpu_op::pte_write, 4); // 12 ns ahead, not synchronised
        stamp_before = sc_core::sc_time_stamp();
        p.mmio_write32(0x44, 1);
        stamp_after = sc_core::sc_time_stamp();
    });
    sc_core::sc_start();
    EXPECT_EQ(stamp_before, sc_core::SC_ZERO_TIME);
    ASSERT_EQ(b.regs.log.size(), 1u);
    EXPECT_EQ(b.regs.log[0].at, ns(12));
    EXPECT_EQ(stamp_after, ns(42));
}

TEST(cpu_mmio, target_latency_adds_to_the_access_cost) {
    bench b;
    b.regs.latency = ns(5);
    const job_handle h = b.cpu().run([](platform_ops& p) { p.mmio_write32(0, 1); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), ns(35));
}

TEST(cpu_mmio, error_response_reads_zero_and_is_counted) {
    bench b;
    b.regs.values[0x1000'0100] = 0xFFFF'FFFF;
    b.regs.error_address = 0x1000'0100;
    std::uint32_t r = 1;
    b.cpu().run([&](platform_ops& p) {
        r = p.mmio_read32(0x100);
        p.mmio_write32(0x100, 5);
    });
    sc_core::sc_start();
    EXPECT_EQ(r, 0u);
    EXPECT_EQ(b.cpu().stats().mmio_errors, 2u);
    EXPECT_EQ(b.regs.values[0x1000'0100], 0xFFFF'FFFFu);
}

// ---------------------------------------------------------------- memory

TEST(cpu_memory, write_then_read_round_trips_through_the_memory) {
    bench b;
    const std::array<std::uint8_t, 8> out{1, 2, 3, 4, 5, 6, 7, 8};
    std::array<std::uint8_t, 8> in{};
    b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base + 0x100, out.data(), out.size());
        p.mem_read(mem_base + 0x100, in.data(), in.size());
    });
    sc_core::sc_start();
    EXPECT_EQ(in, out);
    EXPECT_EQ(b.memory.read64(mem_base + 0x100), 0x0807'0605'0403'0201ull);
    EXPECT_EQ(b.cpu().stats().mem_writes, 1u);
    EXPECT_EQ(b.cpu().stats().mem_reads, 1u);
    EXPECT_EQ(b.cpu().stats().mem_bytes, 16u);
}

TEST(cpu_memory, dmi_serves_accesses_after_the_first_transaction) {
    bench b;
    std::uint64_t v = 0x1122'3344'5566'7788ull;
    std::uint64_t r = 0;
    b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base, &v, 8); // transaction, DMI granted with it
        p.mem_read(mem_base, &r, 8);
        p.mem_write(mem_base + 8, &v, 8);
    });
    sc_core::sc_start();
    EXPECT_EQ(r, v);
    EXPECT_EQ(b.cpu().stats().dmi_accesses, 2u);
    EXPECT_EQ(b.memory.writes(), 1u); // the DMI write bypassed the target
    EXPECT_EQ(b.memory.read64(mem_base + 8), v);
}

TEST(cpu_memory, without_dmi_every_access_is_a_transaction) {
    cpu_params params = bench::default_params();
    params.use_dmi = false;
    bench b(1, params);
    std::uint64_t v = 7;
    b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base, &v, 8);
        p.mem_read(mem_base, &v, 8);
        p.mem_read(mem_base, &v, 8);
    });
    sc_core::sc_start();
    EXPECT_EQ(b.cpu().stats().dmi_accesses, 0u);
    EXPECT_EQ(b.memory.reads(), 2u);
    EXPECT_EQ(b.memory.writes(), 1u);
}

TEST(cpu_memory, cached_accesses_cost_a_cache_hit_not_the_memory_latency) {
    bench b;
    std::uint64_t v = 0;
    const job_handle h = b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base, &v, 8); // transaction: memory annotates 50 ns
        p.mem_read(mem_base, &v, 8);  // DMI
        p.mem_read(mem_base, &v, 8);  // DMI
    });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), ns(6)); // 3 x mem_access_ns
}

TEST(cpu_memory, uncached_accesses_cost_the_memory_latency) {
    cpu_params params = bench::default_params();
    params.cached_memory = false;
    bench b(1, params);
    b.memory.set_latency(ns(40), ns(25));
    std::uint64_t v = 0;
    const job_handle h = b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base, &v, 8); // transaction: 25
        p.mem_read(mem_base, &v, 8);  // DMI read latency: 40
        p.mem_write(mem_base, &v, 8); // DMI write latency: 25
    });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), ns(90));
    EXPECT_EQ(b.cpu().stats().dmi_accesses, 2u);
}

TEST(cpu_memory, error_response_reads_zeros_and_is_counted) {
    bench b;
    std::array<std::uint8_t, 4> buf{0xAA, 0xAA, 0xAA, 0xAA};
    b.cpu().run([&](platform_ops& p) { p.mem_read(mem_base + mem_size, buf.data(), buf.size()); });
    sc_core::sc_start();
    EXPECT_EQ(buf, (std::array<std::uint8_t, 4>{0, 0, 0, 0}));
    EXPECT_EQ(b.cpu().stats().mem_errors, 1u);
}

TEST(cpu_memory, zero_length_access_does_nothing) {
    bench b;
    const job_handle h = b.cpu().run([&](platform_ops& p) { p.mem_read(mem_base, nullptr, 0); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(b.cpu().stats().mem_reads, 0u);
}

TEST(cpu_memory, accesses_longer_than_one_transaction_are_split) {
    cpu_params params = bench::default_params();
    params.use_dmi = false;
    bench b(1, params);
    std::vector<std::uint8_t> out(0x28'0000, 0x5A); // 2.5 MiB
    std::vector<std::uint8_t> in(out.size(), 0);
    b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base, out.data(), out.size());
        p.mem_read(mem_base, in.data(), in.size());
    });
    sc_core::sc_start();
    EXPECT_EQ(b.memory.writes(), 3u); // 1 MiB + 1 MiB + 0.5 MiB
    EXPECT_EQ(b.memory.reads(), 3u);
    EXPECT_EQ(in, out);
    EXPECT_EQ(b.cpu().stats().mem_writes, 1u);
}

TEST(cpu_memory, invalidated_dmi_is_no_longer_used) {
    bench b;
    std::uint64_t v = 1;
    b.cpu().run([&](platform_ops& p) {
        p.mem_write(mem_base, &v, 8); // DMI granted
        p.mem_write(mem_base, &v, 8); // via DMI
        b.memory.socket[0]->invalidate_direct_mem_ptr(mem_base, mem_base + 0xFFF);
        b.memory.add_abort_range(mem_base, mem_base + 7);
        p.mem_write(mem_base, &v, 8); // a transaction again: aborted
    });
    sc_core::sc_start();
    EXPECT_EQ(b.cpu().stats().dmi_accesses, 1u);
    EXPECT_EQ(b.cpu().stats().mem_errors, 1u);
}

TEST(cpu_memory, accesses_annotate_the_local_time_without_syncing_within_the_quantum) {
    set_quantum(ns(1000));
    cpu_params params = bench::default_params();
    params.cached_memory = false;
    params.use_dmi = false;
    bench b(1, params);
    sc_time stamp;
    sc_time local;
    std::uint64_t v = 0;
    b.cpu().run([&](platform_ops& p) {
        p.charge(cpu_op::barrier);   // 17
        p.mem_read(mem_base, &v, 8); // + 50
        stamp = sc_core::sc_time_stamp();
        local = b.cpu().local_time();
    });
    sc_core::sc_start();
    EXPECT_EQ(stamp, sc_core::SC_ZERO_TIME);
    EXPECT_EQ(local, ns(67));
}

// ---------------------------------------------------------------- DMA allocator

TEST(dma_allocator, first_fit_with_alignment) {
    dma_allocator a(0x1000, 0x1'0000);
    EXPECT_EQ(a.allocate(100, 64), std::optional<std::uint64_t>(0x1000));
    EXPECT_EQ(a.allocate(16, 4096), std::optional<std::uint64_t>(0x2000));
    // The hole between 0x1064 and 0x2000 is found first.
    EXPECT_EQ(a.allocate(8, 8), std::optional<std::uint64_t>(0x1068));
    EXPECT_EQ(a.allocate(1, 0), std::optional<std::uint64_t>(0x1064)); // align 0 counts as 1
    EXPECT_EQ(a.bytes_in_use(), 125u);
    EXPECT_EQ(a.live_allocations(), 4u);
}

TEST(dma_allocator, rejects_zero_bytes_and_bad_alignment) {
    dma_allocator a(0x1000, 0x1000);
    EXPECT_EQ(a.allocate(0, 8), std::nullopt);
    EXPECT_EQ(a.allocate(8, 24), std::nullopt);
    EXPECT_EQ(a.failed_allocations(), 2u);
    EXPECT_EQ(a.bytes_in_use(), 0u);
}

TEST(dma_allocator, exhaustion_returns_nullopt) {
    dma_allocator a(0x1000, 0x1000);
    EXPECT_EQ(a.allocate(0x800, 0x800), std::optional<std::uint64_t>(0x1000));
    EXPECT_EQ(a.allocate(0x800, 0x800), std::optional<std::uint64_t>(0x1800));
    EXPECT_EQ(a.allocate(1, 1), std::nullopt);
    EXPECT_EQ(a.failed_allocations(), 1u);
}

TEST(dma_allocator, alignment_that_no_free_range_satisfies_fails) {
    dma_allocator a(0x1000, 0x2000);
    EXPECT_EQ(a.allocate(0x100, 0x4000), std::nullopt);
    EXPECT_EQ(a.allocate(0x1000, 0x2000), std::optional<std::uint64_t>(0x2000));
}

TEST(dma_allocator, release_merges_neighbours_so_the_whole_range_is_reusable) {
    dma_allocator a(0x1000, 0x3000);
    const auto x = a.allocate(0x1000, 1);
    const auto y = a.allocate(0x1000, 1);
    const auto z = a.allocate(0x1000, 1);
    ASSERT_TRUE(x && y && z);
    EXPECT_TRUE(a.release(*x));
    EXPECT_TRUE(a.release(*z));
    EXPECT_EQ(a.free_ranges().size(), 2u);
    EXPECT_TRUE(a.release(*y));
    EXPECT_EQ(a.free_ranges().size(), 1u);
    EXPECT_EQ(a.allocate(0x3000, 1), std::optional<std::uint64_t>(0x1000));
    EXPECT_EQ(a.peak_bytes_in_use(), 0x3000u);
}

TEST(dma_allocator, release_of_an_unknown_address_fails) {
    dma_allocator a(0x1000, 0x1000);
    const auto x = a.allocate(0x100, 1);
    ASSERT_TRUE(x);
    EXPECT_FALSE(a.release(0x1010));
    EXPECT_FALSE(a.release(0x5000));
    EXPECT_TRUE(a.release(*x));
    EXPECT_FALSE(a.release(*x)); // twice
}

TEST(dma_allocator, range_at_the_top_of_the_address_space) {
    dma_allocator a(0xFFFF'FFFF'FFFF'F000ull, 0x1000);
    EXPECT_EQ(a.allocate(0x10, 0x8000'0000'0000'0000ull), std::nullopt);
    EXPECT_EQ(a.allocate(0x1000, 0x1000), std::optional<std::uint64_t>(0xFFFF'FFFF'FFFF'F000ull));
}

TEST(dma_allocator, range_past_the_top_of_the_address_space_is_clipped) {
    dma_allocator a(0xFFFF'FFFF'FFFF'F000ull, 0x2000);
    EXPECT_EQ(a.size(), 0x1000u);
    EXPECT_EQ(a.allocate(0x1000, 1), std::optional<std::uint64_t>(0xFFFF'FFFF'FFFF'F000ull));
    EXPECT_EQ(a.allocate(1, 1), std::nullopt);
    EXPECT_TRUE(a.release(0xFFFF'FFFF'FFFF'F000ull));
    EXPECT_EQ(a.free_ranges().size(), 1u);
}

TEST(dma_allocator, empty_range_allocates_nothing) {
    dma_allocator a(0x1000, 0);
    EXPECT_EQ(a.allocate(1, 1), std::nullopt);
    EXPECT_TRUE(a.free_ranges().empty());
}

TEST(cpu_dma, allocations_are_zeroed_in_no_simulated_time) {
    bench b;
    b.memory.fill(dma_base, 0x2000, 0xAA);
    std::optional<std::uint64_t> pa;
    const job_handle h = b.cpu().run([&](platform_ops& p) { pa = p.alloc_dma(0x1000, 0x1000); });
    sc_core::sc_start();
    ASSERT_EQ(pa, std::optional<std::uint64_t>(dma_base));
    for (std::uint64_t off = 0; off < 0x1000; off += 8)
        ASSERT_EQ(b.memory.read64(dma_base + off), 0u) << off;
    EXPECT_EQ(*b.memory.bytes(dma_base + 0x1000), 0xAA); // the neighbour is untouched
    EXPECT_EQ(h.latency(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(b.cpu().stats().dma_allocs, 1u);
}

TEST(cpu_dma, exhaustion_and_bad_frees_are_reported) {
    bench b;
    std::optional<std::uint64_t> big, more;
    b.cpu().run([&](platform_ops& p) {
        big = p.alloc_dma(dma_size, 8);
        more = p.alloc_dma(8, 8);
        p.free_dma(dma_base + 8, 8);
        p.free_dma(*big, dma_size);
        more = p.alloc_dma(8, 8);
    });
    sc_core::sc_start();
    EXPECT_EQ(big, std::optional<std::uint64_t>(dma_base));
    EXPECT_EQ(more, std::optional<std::uint64_t>(dma_base));
    EXPECT_EQ(b.cpu().stats().dma_alloc_failures, 1u);
    EXPECT_EQ(b.cpu().stats().dma_bad_frees, 1u);
    EXPECT_EQ(b.cpu().stats().dma_frees, 1u);
}

TEST(cpu_dma, cpus_share_one_allocator) {
    bench b(2);
    std::optional<std::uint64_t> a, c;
    b.cpu(0).run([&](platform_ops& p) { a = p.alloc_dma(0x100, 0x100); });
    b.cpu(1).run([&](platform_ops& p) { c = p.alloc_dma(0x100, 0x100); });
    sc_core::sc_start();
    ASSERT_TRUE(a && c);
    EXPECT_NE(*a, *c);
    EXPECT_EQ(b.dma.live_allocations(), 2u);
}

// ---------------------------------------------------------------- cost model

TEST(cpu_cost, each_charge_advances_time_by_its_configured_cost) {
    bench b;
    std::vector<std::uint64_t> steps;
    b.cpu().run([&](platform_ops& p) {
        std::uint64_t last = p.now_ns();
        const auto step = [&](cpu_op op, unsigned n) {
            p.charge(op, n);
            steps.push_back(p.now_ns() - last);
            last = p.now_ns();
        };
        step(cpu_op::pte_write, 2);
        step(cpu_op::command_write, 3);
        step(cpu_op::mmio, 1);
        step(cpu_op::lock, 1);
        step(cpu_op::cons_poll, 2);
        step(cpu_op::barrier, 1);
        step(cpu_op::barrier, 0);
    });
    sc_core::sc_start();
    EXPECT_EQ(steps, (std::vector<std::uint64_t>{6, 21, 50, 11, 26, 17, 0}));
    const auto& ch = b.cpu().stats().charges;
    EXPECT_EQ(ch[static_cast<unsigned>(cpu_op::pte_write)], 2u);
    EXPECT_EQ(ch[static_cast<unsigned>(cpu_op::command_write)], 3u);
    EXPECT_EQ(ch[static_cast<unsigned>(cpu_op::cons_poll)], 2u);
    EXPECT_EQ(sc_core::sc_time_stamp(), ns(131));
}

TEST(cpu_cost, unknown_operation_charges_nothing) {
    bench b;
    const job_handle h =
        b.cpu().run([](platform_ops& p) { p.charge(static_cast<cpu_op>(200), 5); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), sc_core::SC_ZERO_TIME);
}

TEST(cpu_cost, barrier_itself_costs_nothing) {
    bench b;
    const job_handle h = b.cpu().run([](platform_ops& p) {
        p.barrier();
        p.barrier();
    });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(b.cpu().stats().barriers, 2u);
}

TEST(cpu_cost, fractional_costs_accumulate_exactly) {
    cpu_params params = bench::default_params();
    params.cost.pte_write_ns = 2.5;
    bench b(1, params);
    const job_handle h = b.cpu().run([](platform_ops& p) { p.charge(cpu_op::pte_write, 3); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), sc_time(7500, sc_core::SC_PS));
}

TEST(cpu_cost, invalid_costs_are_rejected) {
    cpu_cost c;
    EXPECT_TRUE(c.valid());
    c.lock_ns = -1;
    EXPECT_FALSE(c.valid());
    c = cpu_cost{};
    c.barrier_ns = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(c.valid());
    c = cpu_cost{};
    c.poll_interval_ns = 0;
    EXPECT_FALSE(c.valid());
    c = cpu_cost{};
    c.wfe_timeout_ns = 0;
    EXPECT_FALSE(c.valid());
    c = cpu_cost{};
    c.mmio_read_ns = std::numeric_limits<double>::infinity();
    EXPECT_FALSE(c.valid());
}

TEST(cpu_cost, cpu_with_invalid_costs_throws) {
    dma_allocator dma(dma_base, dma_size);
    cpu_params params;
    params.cost.pte_write_ns = -3;
    EXPECT_THROW(cpu("bad_cpu", dma, params), std::invalid_argument);
}

TEST(cpu_cost, mmio_charge_from_outside_costs_a_register_read) {
    cpu_cost c = test_cost();
    EXPECT_EQ(c.ns(cpu_op::mmio), 50.0);
    EXPECT_EQ(c.ns(cpu_op::pte_write), 3.0);
    EXPECT_EQ(c.ns(cpu_op::command_write), 7.0);
    EXPECT_EQ(c.ns(cpu_op::lock), 11.0);
    EXPECT_EQ(c.ns(cpu_op::cons_poll), 13.0);
    EXPECT_EQ(c.ns(cpu_op::barrier), 17.0);
}

// ---------------------------------------------------------------- quantum keeper

TEST(cpu_quantum, time_runs_ahead_within_the_quantum_and_syncs_at_it) {
    set_quantum(ns(100));
    bench b;
    std::vector<std::uint64_t> now;
    std::vector<sc_time> stamp;
    b.cpu().run([&](platform_ops& p) {
        for (int i = 0; i < 5; ++i) {
            p.charge(cpu_op::command_write, 4); // 28 ns
            now.push_back(p.now_ns());
            stamp.push_back(sc_core::sc_time_stamp());
        }
    });
    sc_core::sc_start();
    EXPECT_EQ(now, (std::vector<std::uint64_t>{28, 56, 84, 112, 140}));
    // The quantum ends at 100 ns: the charge that crosses it synchronises.
    const sc_time zero = sc_core::SC_ZERO_TIME;
    EXPECT_EQ(stamp, (std::vector<sc_time>{zero, zero, zero, ns(112), ns(112)}));
    EXPECT_EQ(sc_core::sc_time_stamp(), ns(140)); // the job's end synchronises
}

TEST(cpu_quantum, zero_quantum_synchronises_every_charge) {
    set_quantum(sc_core::SC_ZERO_TIME);
    bench b;
    std::vector<sc_time> stamp;
    b.cpu().run([&](platform_ops& p) {
        for (int i = 0; i < 3; ++i) {
            p.charge(cpu_op::pte_write);
            stamp.push_back(sc_core::sc_time_stamp());
        }
    });
    sc_core::sc_start();
    EXPECT_EQ(stamp, (std::vector<sc_time>{ns(3), ns(6), ns(9)}));
    EXPECT_EQ(b.cpu().stats().syncs, 3u);
}

TEST(cpu_quantum, two_cpus_keep_consistent_time_through_mmio) {
    set_quantum(ns(1000));
    bench b(2);
    b.cpu(0).run([](platform_ops& p) {
        p.charge(cpu_op::barrier, 3); // 51
        p.mmio_write32(0x0, 1);
        p.charge(cpu_op::barrier, 1); // 17
        p.mmio_write32(0x4, 3);
    });
    b.cpu(1).run([](platform_ops& p) {
        p.charge(cpu_op::lock, 6); // 66
        p.mmio_write32(0x8, 2);
    });
    sc_core::sc_start();
    // The register target sees the writes in the CPUs' time order.
    ASSERT_EQ(b.regs.log.size(), 3u);
    EXPECT_EQ(b.regs.log[0].address, 0x1000'0000u);
    EXPECT_EQ(b.regs.log[0].at, ns(51));
    EXPECT_EQ(b.regs.log[1].address, 0x1000'0008u);
    EXPECT_EQ(b.regs.log[1].at, ns(66));
    EXPECT_EQ(b.regs.log[2].address, 0x1000'0004u);
    EXPECT_EQ(b.regs.log[2].at, ns(98)); // 51 + 30 + 17
}

// ---------------------------------------------------------------- polling and WFE

TEST(cpu_poll, pause_waits_one_poll_interval) {
    bench b;
    sc_time after;
    const job_handle h = b.cpu().run([&](platform_ops& p) {
        p.poll_pause(false);
        after = sc_core::sc_time_stamp();
    });
    sc_core::sc_start();
    EXPECT_EQ(after, ns(40));
    EXPECT_EQ(h.latency(), ns(40));
    EXPECT_EQ(b.cpu().stats().poll_pauses, 1u);
}

TEST(cpu_poll, wfe_without_sev_wire_ends_at_the_timeout) {
    bench b;
    const job_handle h = b.cpu().run([](platform_ops& p) { p.poll_pause(true); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), ns(106)); // wfe_timeout_ns + wfe_wakeup_ns
    EXPECT_EQ(b.cpu().stats().wfe_timeouts, 1u);
}

TEST(cpu_poll, wfe_wakes_on_a_sev_edge_before_the_timeout) {
    bench b;
    sev_source sev("sev", {ns(37)});
    b.cpu().sev.bind(sev.line);
    const job_handle h = b.cpu().run([](platform_ops& p) { p.poll_pause(true); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), ns(43)); // 37 + wfe_wakeup_ns
    EXPECT_EQ(b.cpu().stats().wfe_sev_wakes, 1u);
    EXPECT_EQ(b.cpu().stats().wfe_timeouts, 0u);
}

TEST(cpu_poll, wfe_with_a_bound_but_silent_sev_times_out) {
    bench b;
    sev_source sev("sev", {});
    b.cpu().sev.bind(sev.line);
    const job_handle h = b.cpu().run([](platform_ops& p) { p.poll_pause(true); });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), ns(106));
    EXPECT_EQ(b.cpu().stats().wfe_timeouts, 1u);
}

TEST(cpu_poll, sev_before_wfe_is_latched_and_wfe_falls_through) {
    bench b;
    sev_source sev("sev", {ns(5)});
    b.cpu().sev.bind(sev.line);
    sc_time first, second;
    b.cpu().run([&](platform_ops& p) {
        p.poll_pause(false); // 40 ns: the edge at 5 ns sets the event register
        p.poll_pause(true);  // falls through
        first = sc_core::sc_time_stamp();
        p.poll_pause(true); // register cleared: sleeps to the timeout
        second = sc_core::sc_time_stamp();
    });
    sc_core::sc_start();
    EXPECT_EQ(first, ns(40));
    EXPECT_EQ(second, ns(146));
    EXPECT_EQ(b.cpu().stats().wfe_immediate, 1u);
    EXPECT_EQ(b.cpu().stats().wfe_timeouts, 1u);
}

TEST(cpu_poll, several_cpus_wake_on_one_sev) {
    bench b(2);
    sev_source sev("sev", {ns(20)});
    b.cpu(0).sev.bind(sev.line);
    b.cpu(1).sev.bind(sev.line);
    const job_handle h0 = b.cpu(0).run([](platform_ops& p) { p.poll_pause(true); });
    const job_handle h1 = b.cpu(1).run([](platform_ops& p) { p.poll_pause(true); });
    sc_core::sc_start();
    EXPECT_EQ(h0.end(), ns(26));
    EXPECT_EQ(h1.end(), ns(26));
}

TEST(cpu_poll, now_ns_counts_whole_nanoseconds_of_simulated_time) {
    bench b;
    std::uint64_t t0 = 1, t1 = 0;
    b.cpu().run([&](platform_ops& p) {
        t0 = p.now_ns();
        p.poll_pause(false);
        p.poll_pause(false);
        t1 = p.now_ns();
    });
    sc_core::sc_start();
    EXPECT_EQ(t0, 0u);
    EXPECT_EQ(t1, 80u);
}

// ---------------------------------------------------------------- jobs

TEST(cpu_jobs, jobs_queued_before_simulation_run_in_order_back_to_back) {
    bench b;
    std::vector<int> order;
    const job_handle a = b.cpu().run([&](platform_ops& p) {
        order.push_back(1);
        p.charge(cpu_op::command_write, 2);
    });
    const job_handle c = b.cpu().run([&](platform_ops& p) {
        order.push_back(2);
        p.charge(cpu_op::barrier);
    });
    EXPECT_EQ(b.cpu().queued_jobs(), 2u);
    EXPECT_FALSE(a.started());
    sc_core::sc_start();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    EXPECT_TRUE(a.done());
    EXPECT_TRUE(c.done());
    EXPECT_EQ(a.start(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(a.end(), ns(14));
    EXPECT_EQ(c.start(), ns(14));
    EXPECT_EQ(c.end(), ns(31));
    EXPECT_EQ(b.cpu().stats().jobs, 2u);
    EXPECT_EQ(b.cpu().queued_jobs(), 0u);
}

struct submitter : sc_core::sc_module {
    cpu& target;
    job_result result;
    bool busy_seen = false;
    bool synced_from_here = true;
    explicit submitter(const sc_core::sc_module_name& name, cpu& c)
        : sc_core::sc_module(name)
        , target(c) {
        SC_HAS_PROCESS(submitter);
        SC_THREAD(main);
    }
    void main() {
        synced_from_here = cpu::sync_current(); // not a cpu's thread
        wait(ns(100));
        result = run_and_wait(target, [this](platform_ops& p) {
            busy_seen = target.busy();
            p.mmio_write32(0x10, 1);
        });
    }
};

TEST(cpu_jobs, run_and_wait_from_another_thread_returns_the_jobs_times) {
    bench b;
    submitter s("submitter", b.cpu());
    sc_core::sc_start();
    EXPECT_EQ(s.result.start, ns(100));
    EXPECT_EQ(s.result.end, ns(130));
    EXPECT_EQ(s.result.latency(), ns(30));
    EXPECT_TRUE(s.busy_seen);
    EXPECT_FALSE(b.cpu().busy());
    EXPECT_FALSE(s.synced_from_here);
}

TEST(cpu_jobs, a_job_may_queue_another_on_its_cpu) {
    bench b;
    job_handle inner;
    cpu& c = b.cpu();
    b.cpu().run([&](platform_ops& p) {
        p.charge(cpu_op::lock);
        inner = c.run([](platform_ops& q) { q.charge(cpu_op::barrier); });
    });
    sc_core::sc_start();
    ASSERT_TRUE(inner.done());
    EXPECT_EQ(inner.start(), ns(11));
    EXPECT_EQ(inner.end(), ns(28));
}

TEST(cpu_jobs, cpus_run_their_jobs_in_parallel_simulated_time) {
    bench b(2);
    const job_handle a = b.cpu(0).run([](platform_ops& p) { p.charge(cpu_op::barrier, 2); });
    const job_handle c = b.cpu(1).run([](platform_ops& p) { p.charge(cpu_op::lock, 2); });
    sc_core::sc_start();
    EXPECT_EQ(a.start(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(c.start(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(a.end(), ns(34));
    EXPECT_EQ(c.end(), ns(22));
}

TEST(cpu_jobs, jobs_get_the_cpus_platform) {
    bench b;
    platform_ops* seen = nullptr;
    b.cpu().run([&](platform_ops& p) { seen = &p; });
    sc_core::sc_start();
    EXPECT_EQ(seen, &b.cpu().platform());
}

TEST(cpu_jobs, calls_outside_a_job_are_untimed) {
    bench b;
    b.regs.values[smmu_base + 0x4] = 9;
    sc_core::sc_start(ns(10));
    platform_ops& p = b.cpu().platform();
    std::uint64_t v = 0x77;
    p.mmio_write32(0x0, 3);
    const std::uint32_t r = p.mmio_read32(0x4);
    p.mem_write(mem_base, &v, 8);
    p.charge(cpu_op::barrier, 4);
    p.poll_pause(false);
    p.poll_pause(true);
    EXPECT_EQ(r, 9u);
    ASSERT_EQ(b.regs.log.size(), 2u);
    EXPECT_EQ(b.regs.log[0].at, ns(10));
    EXPECT_EQ(b.memory.read64(mem_base), 0x77u);
    EXPECT_EQ(p.now_ns(), 10u);
    EXPECT_EQ(b.cpu().local_time(), sc_core::SC_ZERO_TIME);
    EXPECT_EQ(b.cpu().stats().wfe_waits, 0u);
    EXPECT_EQ(sc_core::sc_time_stamp(), ns(10));
}

TEST(current_cpu_platform, each_call_goes_to_the_cpu_that_makes_it) {
    bench b(2);
    current_cpu_platform platform(b.cpu(0));
    platform_ops& shared = platform; // as driver/core holds it
    cpu* seen0 = nullptr;
    cpu* seen1 = nullptr;
    b.cpu(0).run([&](platform_ops&) {
        seen0 = cpu::current();
        shared.charge(cpu_op::barrier); // 17
        shared.mmio_write32(0x0, 1);
    });
    b.cpu(1).run([&](platform_ops&) {
        seen1 = cpu::current();
        shared.charge(cpu_op::command_write, 5); // 35
        shared.mmio_write32(0x4, 2);
        shared.mmio_write32(0x8, 3);
    });
    sc_core::sc_start();
    EXPECT_EQ(seen0, &b.cpu(0));
    EXPECT_EQ(seen1, &b.cpu(1));
    ASSERT_EQ(b.regs.log.size(), 3u);
    EXPECT_EQ(b.regs.log[0].at, ns(17));
    EXPECT_EQ(b.regs.log[1].at, ns(35));
    EXPECT_EQ(b.regs.log[2].at, ns(65));
    EXPECT_EQ(b.cpu(0).stats().mmio_writes, 1u);
    EXPECT_EQ(b.cpu(1).stats().mmio_writes, 2u);
    EXPECT_EQ(b.cpu(1).stats().charges[static_cast<unsigned>(cpu_op::command_write)], 5u);
}

struct plain_caller : sc_core::sc_module {
    platform_ops& platform;
    bool had_cpu = true;
    explicit plain_caller(const sc_core::sc_module_name& name, platform_ops& p)
        : sc_core::sc_module(name)
        , platform(p) {
        SC_HAS_PROCESS(plain_caller);
        SC_THREAD(main);
    }
    void main() {
        wait(ns(5));
        had_cpu = cpu::current() != nullptr;
        platform.mmio_write32(0x20, 1);
        platform.charge(cpu_op::lock, 3);
        platform.poll_pause(false);
    }
};

TEST(current_cpu_platform, calls_from_elsewhere_go_to_the_fallback_untimed) {
    bench b(2);
    current_cpu_platform shared(b.cpu(1));
    plain_caller caller("caller", shared);
    sc_core::sc_start();
    EXPECT_FALSE(caller.had_cpu);
    ASSERT_EQ(b.regs.log.size(), 1u);
    EXPECT_EQ(b.regs.log[0].at, ns(5));
    EXPECT_EQ(sc_core::sc_time_stamp(), ns(5));
    EXPECT_EQ(b.cpu(1).stats().mmio_writes, 1u);
    EXPECT_EQ(b.cpu(0).stats().mmio_writes, 0u);
    std::uint64_t v = 0xAB;
    shared.mem_write(mem_base, &v, 8); // from sc_main
    EXPECT_EQ(b.memory.read64(mem_base), 0xABu);
    EXPECT_EQ(cpu::current(), nullptr);
}

TEST(current_cpu_platform, allocations_come_from_the_shared_allocator) {
    bench b(2);
    current_cpu_platform shared(b.cpu(0));
    std::optional<std::uint64_t> a, c;
    b.cpu(0).run([&](platform_ops&) { a = shared.alloc_dma(0x40, 0x40); });
    b.cpu(1).run([&](platform_ops&) {
        c = shared.alloc_dma(0x40, 0x40);
        shared.free_dma(*c, 0x40);
        shared.barrier();
    });
    sc_core::sc_start();
    EXPECT_EQ(a, std::optional<std::uint64_t>(dma_base));
    EXPECT_EQ(c, std::optional<std::uint64_t>(dma_base + 0x40));
    EXPECT_EQ(b.cpu(1).stats().dma_frees, 1u);
    EXPECT_EQ(b.cpu(1).stats().barriers, 1u);
    EXPECT_EQ(b.dma.live_allocations(), 1u);
}

TEST(current_cpu_platform, reads_and_time_come_from_the_calling_cpu) {
    bench b(2);
    b.regs.values[smmu_base + 0x10] = 0x1'0000'0002ull;
    current_cpu_platform shared(b.cpu(0));
    std::uint32_t r32 = 0;
    std::uint64_t r64 = 0, t = 0;
    std::uint8_t byte = 0;
    b.cpu(1).run([&](platform_ops&) {
        shared.poll_pause(false); // 40
        r32 = shared.mmio_read32(0x10);
        r64 = shared.mmio_read64(0x10);
        shared.mmio_write64(0x18, 7);
        shared.mem_read(mem_base + 3, &byte, 1);
        t = shared.now_ns();
    });
    sc_core::sc_start();
    EXPECT_EQ(r32, 2u);
    EXPECT_EQ(r64, 0x1'0000'0002ull);
    EXPECT_EQ(t, 172u); // 40 + 50 + 50 + 30 + 2
    EXPECT_EQ(b.cpu(1).stats().poll_pauses, 1u);
    EXPECT_EQ(b.cpu(1).stats().mem_reads, 1u);
    EXPECT_EQ(b.regs.values[smmu_base + 0x18], 7u);
}

TEST(cpu_jobs, empty_handle_is_not_valid) {
    const job_handle h;
    EXPECT_FALSE(h.valid());
    EXPECT_FALSE(h.started());
    EXPECT_FALSE(h.done());
    EXPECT_EQ(h.latency(), sc_core::SC_ZERO_TIME);
}

TEST(cpu_jobs, sync_current_outside_a_cpu_thread_does_nothing) {
    EXPECT_FALSE(cpu::sync_current()); // not simulating
    bench b;
    bool inside = false;
    b.cpu().run([&](platform_ops&) { inside = cpu::sync_current(); });
    sc_core::sc_start();
    EXPECT_TRUE(inside);
}

} // namespace
