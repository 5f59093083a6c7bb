// Locks between simulated CPUs: waits pass in simulated time, FIFO order,
// readers share, writers exclude and block later readers, statistics.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>

#include "driver/core/invs.h"
#include "driver/host/cpu.h"
#include "driver/host/sim_locks.h"
#include "tests/unit/driver_host/host_test_bench.h"

namespace {

using namespace smmu::host_test;
using smmu::driver::cpu_op;
using smmu::driver::platform_ops;
using smmu::driver::host::cpu_params;
using smmu::driver::host::job_handle;
using smmu::driver::host::sim_lock;
using smmu::driver::host::sim_rw_lock;
using smmu::driver::host::sim_rw_lock_factory;

/// pte_write costs 10 ns, so charge(pte_write, n) holds for 10n ns.
cpu_params lock_params() {
    cpu_params p = bench::default_params();
    p.cost.pte_write_ns = 10;
    return p;
}

void hold(platform_ops& p, unsigned tens_of_ns) {
    if (tens_of_ns != 0)
        p.charge(cpu_op::pte_write, tens_of_ns);
}

struct event_log {
    std::vector<std::pair<std::string, sc_time>> entries;
    void add(std::string what) { entries.emplace_back(std::move(what), sc_core::sc_time_stamp()); }
};

using entries = std::vector<std::pair<std::string, sc_time>>;

/// A job: wait `delay`, take `lock`, hold it `held`, release it; logs the acquisition.
template <typename Lock>
smmu::driver::host::cpu::job exclusive_job(Lock& lock, event_log& log, std::string name,
                                           unsigned delay, unsigned held) {
    return [&lock, &log, name, delay, held](platform_ops& p) {
        hold(p, delay);
        lock.lock();
        log.add(name);
        hold(p, held);
        lock.unlock();
    };
}

smmu::driver::host::cpu::job shared_job(sim_rw_lock& lock, event_log& log, std::string name,
                                        unsigned delay, unsigned held) {
    return [&lock, &log, name, delay, held](platform_ops& p) {
        hold(p, delay);
        lock.lock_shared();
        log.add(name);
        hold(p, held);
        lock.unlock_shared();
    };
}

// ---------------------------------------------------------------- sim_lock

TEST(sim_lock, uncontended_acquisition_takes_no_time) {
    bench b(1, lock_params());
    sim_lock l;
    const job_handle h = b.cpu().run([&](platform_ops&) {
        l.lock();
        EXPECT_TRUE(l.locked());
        l.unlock();
    });
    sc_core::sc_start();
    EXPECT_EQ(h.latency(), sc_core::SC_ZERO_TIME);
    EXPECT_FALSE(l.locked());
    EXPECT_EQ(l.stats().acquisitions, 1u);
    EXPECT_EQ(l.stats().contended, 0u);
    EXPECT_EQ(l.stats().wait_time, sc_core::SC_ZERO_TIME);
}

TEST(sim_lock, second_cpu_acquires_when_the_first_releases) {
    bench b(2, lock_params());
    sim_lock l;
    event_log log;
    b.cpu(0).run(exclusive_job(l, log, "a", 0, 10));
    const job_handle hb = b.cpu(1).run(exclusive_job(l, log, "b", 1, 5));
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"a", ns(0)}, {"b", ns(100)}}));
    EXPECT_EQ(hb.end(), ns(150));
    EXPECT_EQ(l.stats().acquisitions, 2u);
    EXPECT_EQ(l.stats().contended, 1u);
    EXPECT_EQ(l.stats().wait_time, ns(90));
    EXPECT_EQ(l.stats().max_wait, ns(90));
}

TEST(sim_lock, waiters_are_served_in_the_order_they_asked) {
    bench b(3, lock_params());
    sim_lock l;
    event_log log;
    b.cpu(0).run(exclusive_job(l, log, "a", 0, 10));
    b.cpu(1).run(exclusive_job(l, log, "b", 3, 5)); // asks at 30
    b.cpu(2).run(exclusive_job(l, log, "c", 2, 5)); // asks at 20
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"a", ns(0)}, {"c", ns(100)}, {"b", ns(150)}}));
    EXPECT_EQ(l.stats().contended, 2u);
    EXPECT_EQ(l.stats().wait_time, ns(200)); // c: 80, b: 120
    EXPECT_EQ(l.stats().max_wait, ns(120));
}

TEST(sim_lock, a_releasing_cpu_that_asks_again_queues_behind_the_waiter) {
    bench b(2, lock_params());
    sim_lock l;
    event_log log;
    b.cpu(0).run([&](platform_ops& p) {
        for (int i = 0; i < 2; ++i) {
            l.lock();
            log.add("a");
            hold(p, 10);
            l.unlock();
        }
    });
    b.cpu(1).run(exclusive_job(l, log, "b", 1, 10));
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"a", ns(0)}, {"b", ns(100)}, {"a", ns(200)}}));
}

TEST(sim_lock, acquisition_order_follows_each_cpus_own_time) {
    tlm::tlm_global_quantum::instance().set(ns(1000));
    bench b(2, lock_params());
    sim_lock l;
    event_log log;
    // Both run ahead of simulated time; the one that asks earlier in its own
    // time must win, whichever thread the kernel runs first.
    b.cpu(0).run(exclusive_job(l, log, "late", 5, 10));
    b.cpu(1).run(exclusive_job(l, log, "early", 3, 10));
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"early", ns(30)}, {"late", ns(130)}}));
}

TEST(sim_lock, unlock_when_not_held_is_counted_and_ignored) {
    bench b(1, lock_params());
    sim_lock l;
    b.cpu().run([&](platform_ops&) {
        l.unlock();
        l.lock();
        l.unlock();
        l.unlock();
    });
    sc_core::sc_start();
    EXPECT_EQ(l.stats().bad_unlocks, 2u);
    EXPECT_EQ(l.stats().acquisitions, 1u);
    EXPECT_FALSE(l.locked());
}

TEST(sim_lock, try_lock_never_waits) {
    bench b(2, lock_params());
    sim_lock l;
    bool first = false, second = true, third = false;
    b.cpu(0).run([&](platform_ops& p) {
        first = l.try_lock();
        hold(p, 10);
        l.unlock();
    });
    const job_handle h = b.cpu(1).run([&](platform_ops& p) {
        hold(p, 5);
        second = l.try_lock();
        hold(p, 6);
        third = l.try_lock();
        l.unlock();
    });
    sc_core::sc_start();
    EXPECT_TRUE(first);
    EXPECT_FALSE(second);
    EXPECT_TRUE(third);
    EXPECT_EQ(h.end(), ns(110));
    EXPECT_EQ(l.stats().acquisitions, 2u);
    EXPECT_EQ(l.stats().contended, 0u);
}

TEST(sim_lock, waiters_are_visible_while_they_wait) {
    bench b(3, lock_params());
    sim_lock l;
    event_log log;
    std::size_t seen = 0;
    b.cpu(0).run([&](platform_ops& p) {
        l.lock();
        hold(p, 10);
        seen = l.waiters();
        l.unlock();
    });
    b.cpu(1).run(exclusive_job(l, log, "b", 1, 1));
    b.cpu(2).run(exclusive_job(l, log, "c", 2, 1));
    sc_core::sc_start();
    EXPECT_EQ(seen, 2u);
    EXPECT_EQ(l.waiters(), 0u);
}

struct plain_threads : sc_core::sc_module {
    sim_lock lock;
    event_log log;
    explicit plain_threads(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name) {
        SC_HAS_PROCESS(plain_threads);
        SC_THREAD(first);
        SC_THREAD(second);
    }
    void first() {
        lock.lock();
        log.add("first");
        wait(ns(70));
        lock.unlock();
    }
    void second() {
        wait(ns(10));
        lock.lock();
        log.add("second");
        lock.unlock();
    }
};

TEST(sim_lock, plain_sc_threads_can_share_a_lock) {
    plain_threads t("threads");
    sc_core::sc_start();
    EXPECT_EQ(t.log.entries, (entries{{"first", ns(0)}, {"second", ns(70)}}));
}

// ---------------------------------------------------------------- sim_rw_lock

TEST(sim_rw_lock, readers_share) {
    bench b(3, lock_params());
    sim_rw_lock l;
    event_log log;
    unsigned readers_seen = 0;
    b.cpu(0).run(shared_job(l, log, "r1", 0, 10));
    b.cpu(1).run(shared_job(l, log, "r2", 2, 10));
    b.cpu(2).run([&](platform_ops& p) {
        hold(p, 5);
        readers_seen = l.readers();
    });
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"r1", ns(0)}, {"r2", ns(20)}}));
    EXPECT_EQ(readers_seen, 2u);
    EXPECT_EQ(l.readers(), 0u);
    EXPECT_EQ(l.stats().shared.acquisitions, 2u);
    EXPECT_EQ(l.stats().shared.contended, 0u);
}

TEST(sim_rw_lock, a_writer_excludes_readers_and_writers) {
    bench b(3, lock_params());
    sim_rw_lock l;
    event_log log;
    bool write_locked = false;
    b.cpu(0).run([&](platform_ops& p) {
        l.lock();
        log.add("w1");
        write_locked = l.write_locked();
        hold(p, 10);
        l.unlock();
    });
    b.cpu(1).run(shared_job(l, log, "r", 1, 5));
    b.cpu(2).run(exclusive_job(l, log, "w2", 2, 5));
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"w1", ns(0)}, {"r", ns(100)}, {"w2", ns(150)}}));
    EXPECT_TRUE(write_locked);
    EXPECT_FALSE(l.write_locked());
    EXPECT_EQ(l.stats().exclusive.acquisitions, 2u);
    EXPECT_EQ(l.stats().exclusive.contended, 1u);
    EXPECT_EQ(l.stats().exclusive.wait_time, ns(130));
    EXPECT_EQ(l.stats().shared.wait_time, ns(90));
}

TEST(sim_rw_lock, a_waiting_writer_blocks_later_readers) {
    bench b(3, lock_params());
    sim_rw_lock l;
    event_log log;
    b.cpu(0).run(shared_job(l, log, "r1", 0, 10));
    b.cpu(1).run(exclusive_job(l, log, "w", 1, 5));
    b.cpu(2).run(shared_job(l, log, "r2", 2, 5)); // the lock is only read-held at 20
    sc_core::sc_start();
    EXPECT_EQ(log.entries, (entries{{"r1", ns(0)}, {"w", ns(100)}, {"r2", ns(150)}}));
    EXPECT_EQ(l.stats().shared.contended, 1u);
    EXPECT_EQ(l.stats().shared.wait_time, ns(130));
}

TEST(sim_rw_lock, readers_queued_behind_a_writer_are_granted_together) {
    bench b(4, lock_params());
    sim_rw_lock l;
    event_log log;
    b.cpu(0).run(exclusive_job(l, log, "w1", 0, 10));
    b.cpu(1).run(shared_job(l, log, "r1", 1, 5));
    b.cpu(2).run(shared_job(l, log, "r2", 2, 5));
    b.cpu(3).run(exclusive_job(l, log, "w2", 3, 5));
    sc_core::sc_start();
    EXPECT_EQ(log.entries,
              (entries{{"w1", ns(0)}, {"r1", ns(100)}, {"r2", ns(100)}, {"w2", ns(150)}}));
}

TEST(sim_rw_lock, readers_stop_at_the_next_queued_writer) {
    bench b(5, lock_params());
    sim_rw_lock l;
    event_log log;
    b.cpu(0).run(exclusive_job(l, log, "w1", 0, 10));
    b.cpu(1).run(shared_job(l, log, "r1", 1, 5));
    b.cpu(2).run(exclusive_job(l, log, "w2", 2, 5));
    b.cpu(3).run(shared_job(l, log, "r2", 3, 5));
    b.cpu(4).run(shared_job(l, log, "r3", 4, 5));
    sc_core::sc_start();
    EXPECT_EQ(
        log.entries,
        (entries{
            {"w1", ns(0)}, {"r1", ns(100)}, {"w2", ns(150)}, {"r2", ns(200)}, {"r3", ns(200)}}));
}

TEST(sim_rw_lock, bad_unlocks_are_counted_per_side) {
    bench b(1, lock_params());
    sim_rw_lock l;
    b.cpu().run([&](platform_ops&) {
        l.unlock_shared();
        l.unlock();
        l.unlock();
        l.lock_shared();
        l.unlock(); // read-held, not write-held
        l.unlock_shared();
    });
    sc_core::sc_start();
    EXPECT_EQ(l.stats().shared.bad_unlocks, 1u);
    EXPECT_EQ(l.stats().exclusive.bad_unlocks, 3u);
    EXPECT_EQ(l.readers(), 0u);
}

TEST(sim_rw_lock_factory, locks_report_into_the_factory_totals) {
    bench b(2, lock_params());
    sim_rw_lock_factory f;
    auto l1 = f.make_rw_lock();
    auto l2 = f.make_rw_lock();
    ASSERT_NE(l1, nullptr);
    ASSERT_NE(l2, nullptr);
    b.cpu(0).run([&](platform_ops& p) {
        l1->lock();
        hold(p, 10);
        l1->unlock();
        l2->lock_shared();
        l2->unlock_shared();
        l2->unlock_shared();
    });
    b.cpu(1).run([&](platform_ops& p) {
        hold(p, 1);
        l1->lock_shared();
        l1->unlock_shared();
    });
    sc_core::sc_start();
    EXPECT_EQ(f.locks_made(), 2u);
    EXPECT_EQ(f.totals().exclusive.acquisitions, 1u);
    EXPECT_EQ(f.totals().shared.acquisitions, 2u);
    EXPECT_EQ(f.totals().shared.contended, 1u);
    EXPECT_EQ(f.totals().shared.wait_time, ns(90));
    EXPECT_EQ(f.totals().shared.bad_unlocks, 1u);
}

TEST(sim_rw_lock_factory, invs_arrays_take_their_lock_from_it) {
    sim_rw_lock_factory f;
    const auto arr = smmu::driver::inv_array::create(4, f);
    ASSERT_NE(arr, nullptr);
    EXPECT_EQ(f.locks_made(), 1u);
    EXPECT_NE(dynamic_cast<sim_rw_lock*>(&arr->lock()), nullptr);
}

} // namespace
