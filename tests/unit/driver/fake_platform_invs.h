// Test doubles for the invs / tags / inv_range tests: a std::shared_mutex
// rw lock and its factory (with allocation-failure injection), a recording
// command sink, and a platform_ops that only counts CPU-cost charges.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "driver/core/inv_range.h"
#include "driver/core/invs.h"
#include "driver/core/platform.h"
#include "model/arch/command.h"

namespace smmu::driver::test {

/// Counts shared and exclusive acquisitions across every lock of a factory.
struct lock_counters {
    std::atomic<unsigned> shared{0};
    std::atomic<unsigned> exclusive{0};
};

/// std::shared_mutex with writer preference (like the kernel's queued rwlock in
/// process context): new readers wait while a writer is waiting, so a stream of
/// readers cannot starve unref. glibc's rwlock alone prefers readers.
class shared_mutex_rw_lock final : public rw_lock_ops {
public:
    explicit shared_mutex_rw_lock(lock_counters& c)
        : m_counters(c) {}
    void lock_shared() override {
        while (m_writers_waiting.load(std::memory_order_relaxed) != 0)
            std::this_thread::yield();
        m_mutex.lock_shared();
        m_counters.shared.fetch_add(1, std::memory_order_relaxed);
    }
    void unlock_shared() override { m_mutex.unlock_shared(); }
    void lock() override {
        m_writers_waiting.fetch_add(1, std::memory_order_relaxed);
        m_mutex.lock();
        m_writers_waiting.fetch_sub(1, std::memory_order_relaxed);
        m_counters.exclusive.fetch_add(1, std::memory_order_relaxed);
    }
    void unlock() override { m_mutex.unlock(); }

private:
    std::shared_mutex m_mutex;
    std::atomic<int> m_writers_waiting{0};
    lock_counters& m_counters;
};

/// Lock factory; `fail_from` makes the n-th and later creations (0-based) fail,
/// `fail_once_at` only the n-th. Used by the writer only (not thread-safe).
class test_lock_factory final : public rw_lock_factory {
public:
    std::unique_ptr<rw_lock_ops> make_rw_lock() override {
        const unsigned n = m_created++;
        if ((fail_from && n >= *fail_from) || (fail_once_at && n == *fail_once_at))
            return nullptr;
        return std::make_unique<shared_mutex_rw_lock>(counters);
    }
    unsigned created() const { return m_created; }
    /// Makes the next creation fail (and only it).
    void fail_next() { fail_once_at = m_created; }

    std::optional<unsigned> fail_from;
    std::optional<unsigned> fail_once_at;
    lock_counters counters;

private:
    unsigned m_created = 0;
};

/// One event the walker produced: a command for an SMMU or a CMD_SYNC.
struct sink_event {
    smmu_ref smmu = nullptr;
    bool is_sync = false;
    arch::command cmd;
};

inline bool operator==(const sink_event& a, const sink_event& b) {
    return a.smmu == b.smmu && a.is_sync == b.is_sync && (a.is_sync || a.cmd == b.cmd);
}

inline sink_event ev(smmu_ref s, const arch::command& c) {
    return sink_event{s, false, c};
}
inline sink_event sync_ev(smmu_ref s) {
    return sink_event{s, true, arch::command{}};
}

inline std::string describe(const sink_event& e) {
    if (e.is_sync)
        return "SYNC(smmu" + std::to_string(e.smmu ? e.smmu->index : 99) + ")";
    const auto w = arch::encode(e.cmd);
    return std::string(arch::opcode_name(e.cmd.op)) + "(smmu" +
           std::to_string(e.smmu ? e.smmu->index : 99) + " w0=" + std::to_string(w[0]) +
           " w1=" + std::to_string(w[1]) + ")";
}

inline std::string describe(const std::vector<sink_event>& v) {
    std::string s;
    for (const auto& e : v)
        s += describe(e) + "\n";
    return s;
}

class recording_sink : public command_sink {
public:
    bool add(smmu_ref smmu, const arch::command& cmd) override {
        events.push_back(ev(smmu, cmd));
        ++m_adds;
        return !(fail_add_at && m_adds == *fail_add_at);
    }
    bool sync(smmu_ref smmu) override {
        events.push_back(sync_ev(smmu));
        ++m_syncs;
        return !(fail_sync_at && m_syncs == *fail_sync_at);
    }

    std::vector<sink_event> events;
    std::optional<unsigned> fail_add_at;  ///< 1-based add that returns false
    std::optional<unsigned> fail_sync_at; ///< 1-based sync that returns false

private:
    unsigned m_adds = 0;
    unsigned m_syncs = 0;
};

/// platform_ops that records charges; memory is a sparse byte map (unused by
/// these tests beyond completeness).
class fake_platform_invs final : public platform_ops {
public:
    std::uint32_t mmio_read32(std::uint64_t) override { return 0; }
    std::uint64_t mmio_read64(std::uint64_t) override { return 0; }
    void mmio_write32(std::uint64_t, std::uint32_t) override {}
    void mmio_write64(std::uint64_t, std::uint64_t) override {}
    void mem_read(std::uint64_t pa, void* dst, std::size_t len) override {
        auto* d = static_cast<std::uint8_t*>(dst);
        for (std::size_t i = 0; i < len; ++i)
            d[i] = m_mem.count(pa + i) ? m_mem[pa + i] : 0;
    }
    void mem_write(std::uint64_t pa, const void* src, std::size_t len) override {
        const auto* s = static_cast<const std::uint8_t*>(src);
        for (std::size_t i = 0; i < len; ++i)
            m_mem[pa + i] = s[i];
    }
    std::optional<std::uint64_t> alloc_dma(std::size_t, std::size_t) override {
        return std::nullopt;
    }
    void free_dma(std::uint64_t, std::size_t) override {}
    void barrier() override {}
    void poll_pause(bool) override {}
    std::uint64_t now_ns() override { return 0; }
    void charge(cpu_op op, unsigned count) override { charges[op] += count; }

    std::map<cpu_op, unsigned> charges;

private:
    std::map<std::uint64_t, std::uint8_t> m_mem;
};

} // namespace smmu::driver::test
