// Locks for driver/core on simulated CPUs: a waiter blocks its SC_THREAD on an
// sc_event, so the wait passes in simulated time and the OS thread never
// blocks. Any number of cpu modules (or plain SC_THREADs) may share a lock.
//
// * Fairness: waiters are granted in the order they asked (FIFO); an unlock
//   hands the lock straight to the first waiter, at the unlock's time.
// * Reader/writer lock: readers share; a writer excludes everyone; a waiting
//   writer blocks readers that ask after it (writer preference), and readers
//   queued together behind a writer are granted together when it unlocks.
// * Time: before looking at the lock, lock and unlock fold the calling CPU's
//   quantum-keeper time into simulated time (cpu::sync_current), so lock order
//   follows each CPU's own time.
// * Cost: the locks charge nothing. driver/core charges cpu_op::lock itself
//   at every acquisition (cmdq, invs, inv_range), so charging here too would
//   count it twice; the locks model only the waiting.
// * Misuse: unlocking a lock that is not held is counted (bad_unlocks) and
//   ignored. Not recursive: locking a lock one already holds waits forever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <systemc>

#include "driver/core/driver.h"
#include "driver/core/invs.h"
#include "driver/core/platform.h"

namespace smmu::driver::host {

struct lock_stats {
    std::uint64_t acquisitions = 0;
    std::uint64_t contended = 0; ///< acquisitions that had to wait
    sc_core::sc_time wait_time;  ///< total simulated time spent waiting
    sc_core::sc_time max_wait;
    std::uint64_t bad_unlocks = 0;

    /// One acquisition; `contended` when the caller had to queue (even if it
    /// was granted at the time it asked).
    void add(bool contended, const sc_core::sc_time& waited);
    void merge(const lock_stats& other);
};

struct rw_lock_stats {
    lock_stats shared;    ///< lock_shared / unlock_shared
    lock_stats exclusive; ///< lock / unlock
};

class sim_lock final : public lock_ops {
public:
    sim_lock() = default;
    sim_lock(const sim_lock&) = delete;
    sim_lock& operator=(const sim_lock&) = delete;

    void lock() override;
    void unlock() override;
    /// Takes the lock if it is free and nobody waits; never blocks.
    bool try_lock();

    bool locked() const { return m_held; }
    std::size_t waiters() const { return m_queue.size(); }
    const lock_stats& stats() const { return m_stats; }

private:
    struct waiter {
        sc_core::sc_event wake;
        bool granted = false;
    };

    bool m_held = false;
    std::deque<waiter*> m_queue;
    lock_stats m_stats;
};

class sim_rw_lock final : public rw_lock_ops {
public:
    /// `also`, if given, accumulates this lock's statistics too (and must
    /// outlive the lock).
    explicit sim_rw_lock(rw_lock_stats* also = nullptr)
        : m_also(also) {}
    sim_rw_lock(const sim_rw_lock&) = delete;
    sim_rw_lock& operator=(const sim_rw_lock&) = delete;

    void lock_shared() override;
    void unlock_shared() override;
    void lock() override;
    void unlock() override;

    unsigned readers() const { return m_readers; }
    bool write_locked() const { return m_writer; }
    std::size_t waiters() const { return m_queue.size(); }
    const rw_lock_stats& stats() const { return m_stats; }

private:
    struct waiter {
        bool writer = false;
        sc_core::sc_event wake;
        bool granted = false;
    };

    void acquire(bool writer);
    /// Grants the head of the queue: one writer, or every reader up to the
    /// next writer. Only when nobody holds the lock.
    void grant_waiters();
    void record(bool writer, bool contended, const sc_core::sc_time& waited);
    void record_bad_unlock(bool writer);

    unsigned m_readers = 0;
    bool m_writer = false;
    std::deque<waiter*> m_queue;
    rw_lock_stats m_stats;
    rw_lock_stats* m_also;
};

/// Makes the driver's mutexes as sim locks and keeps every one it made (in
/// creation order) alive for their statistics, also after the driver dropped
/// them. smmu_driver makes its command-queue lock first.
class sim_lock_factory final : public lock_factory {
public:
    std::unique_ptr<lock_ops> make_lock() override;
    std::size_t locks_made() const { return m_locks.size(); }
    const sim_lock& lock(std::size_t i) const { return *m_locks.at(i); }

private:
    std::vector<std::shared_ptr<sim_lock>> m_locks;
};

/// Makes the per-array reader/writer locks of driver/core's invs arrays and
/// keeps their combined statistics. Must outlive every lock it made.
class sim_rw_lock_factory final : public rw_lock_factory {
public:
    std::unique_ptr<rw_lock_ops> make_rw_lock() override;

    const rw_lock_stats& totals() const { return m_totals; }
    std::uint64_t locks_made() const { return m_made; }

private:
    rw_lock_stats m_totals;
    std::uint64_t m_made = 0;
};

} // namespace smmu::driver::host
