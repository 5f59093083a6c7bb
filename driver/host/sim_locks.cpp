#include "driver/host/sim_locks.h"

#include <algorithm>
#include <utility>

#include "driver/host/cpu.h"

namespace smmu::driver::host {

using sc_core::sc_time;

// ---------------------------------------------------------------- lock_stats

void lock_stats::add(bool was_contended, const sc_time& waited) {
    ++acquisitions;
    if (!was_contended)
        return;
    ++contended;
    wait_time += waited;
    max_wait = std::max(max_wait, waited);
}

void lock_stats::merge(const lock_stats& other) {
    acquisitions += other.acquisitions;
    contended += other.contended;
    wait_time += other.wait_time;
    max_wait = std::max(max_wait, other.max_wait);
    bad_unlocks += other.bad_unlocks;
}

// ---------------------------------------------------------------- sim_lock

void sim_lock::lock() {
    cpu::sync_current();
    if (!m_held && m_queue.empty()) {
        m_held = true;
        m_stats.add(false, sc_core::SC_ZERO_TIME);
        return;
    }
    waiter w;
    const sc_time asked = sc_core::sc_time_stamp();
    m_queue.push_back(&w);
    while (!w.granted)
        sc_core::wait(w.wake);
    m_stats.add(true, sc_core::sc_time_stamp() - asked);
}

bool sim_lock::try_lock() {
    cpu::sync_current();
    if (m_held || !m_queue.empty())
        return false;
    m_held = true;
    m_stats.add(false, sc_core::SC_ZERO_TIME);
    return true;
}

void sim_lock::unlock() {
    cpu::sync_current();
    if (!m_held) {
        ++m_stats.bad_unlocks;
        return;
    }
    if (m_queue.empty()) {
        m_held = false;
        return;
    }
    // Hand-over: the lock stays held, now by the first waiter.
    waiter* const next = m_queue.front();
    m_queue.pop_front();
    next->granted = true;
    next->wake.notify();
}

// ---------------------------------------------------------------- sim_rw_lock

void sim_rw_lock::lock_shared() {
    acquire(false);
}

void sim_rw_lock::lock() {
    acquire(true);
}

void sim_rw_lock::acquire(bool writer) {
    cpu::sync_current();
    const bool free_now = writer ? (!m_writer && m_readers == 0) : !m_writer;
    if (free_now && m_queue.empty()) {
        if (writer)
            m_writer = true;
        else
            ++m_readers;
        record(writer, false, sc_core::SC_ZERO_TIME);
        return;
    }
    waiter w;
    w.writer = writer;
    const sc_time asked = sc_core::sc_time_stamp();
    m_queue.push_back(&w);
    while (!w.granted)
        sc_core::wait(w.wake);
    record(writer, true, sc_core::sc_time_stamp() - asked);
}

void sim_rw_lock::unlock_shared() {
    cpu::sync_current();
    if (m_readers == 0) {
        record_bad_unlock(false);
        return;
    }
    --m_readers;
    grant_waiters();
}

void sim_rw_lock::unlock() {
    cpu::sync_current();
    if (!m_writer) {
        record_bad_unlock(true);
        return;
    }
    m_writer = false;
    grant_waiters();
}

void sim_rw_lock::grant_waiters() {
    if (m_writer || m_readers != 0 || m_queue.empty())
        return;
    if (m_queue.front()->writer) {
        waiter* const w = m_queue.front();
        m_queue.pop_front();
        m_writer = true;
        w->granted = true;
        w->wake.notify();
        return;
    }
    while (!m_queue.empty() && !m_queue.front()->writer) {
        waiter* const r = m_queue.front();
        m_queue.pop_front();
        ++m_readers;
        r->granted = true;
        r->wake.notify();
    }
}

void sim_rw_lock::record(bool writer, bool contended, const sc_time& waited) {
    for (rw_lock_stats* s : {&m_stats, m_also}) {
        if (s == nullptr)
            continue;
        (writer ? s->exclusive : s->shared).add(contended, waited);
    }
}

void sim_rw_lock::record_bad_unlock(bool writer) {
    for (rw_lock_stats* s : {&m_stats, m_also})
        if (s != nullptr)
            ++(writer ? s->exclusive : s->shared).bad_unlocks;
}

// ---------------------------------------------------------------- factory

std::unique_ptr<rw_lock_ops> sim_rw_lock_factory::make_rw_lock() {
    ++m_made;
    return std::make_unique<sim_rw_lock>(&m_totals);
}

// ---------------------------------------------------------------- sim_lock_factory

namespace {

/// The driver owns its locks; the factory keeps them alive for their statistics.
class shared_sim_lock final : public lock_ops {
public:
    explicit shared_sim_lock(std::shared_ptr<sim_lock> l)
        : m_lock(std::move(l)) {}
    void lock() override { m_lock->lock(); }
    void unlock() override { m_lock->unlock(); }

private:
    std::shared_ptr<sim_lock> m_lock;
};

} // namespace

std::unique_ptr<lock_ops> sim_lock_factory::make_lock() {
    m_locks.push_back(std::make_shared<sim_lock>());
    return std::make_unique<shared_sim_lock>(m_locks.back());
}

} // namespace smmu::driver::host
