// Test platform for io_pgtable: sparse little-endian memory of 8-byte words,
// a bump DMA allocator with a byte limit and an optional failure countdown,
// live-allocation tracking (leak checks), charge counts and an ordered log of
// PTE writes and barriers. Also a recording io_pgtable_flush_ops.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "driver/core/io_pgtable.h"
#include "driver/core/platform.h"

namespace smmu::driver::test {

class fake_platform_pgtable : public platform_ops {
public:
    struct log_entry {
        enum class kind : std::uint8_t { write, barrier } what;
        std::uint64_t pa = 0;
        std::uint64_t value = 0;
    };

    explicit fake_platform_pgtable(std::uint64_t base = 0x40'0000'0000ull,
                                   std::uint64_t limit_bytes = 64ull << 20)
        : m_next(base)
        , m_end(base + limit_bytes) {}

    // MMIO is not used by page tables.
    std::uint32_t mmio_read32(std::uint64_t) override { return 0; }
    std::uint64_t mmio_read64(std::uint64_t) override { return 0; }
    void mmio_write32(std::uint64_t, std::uint32_t) override {}
    void mmio_write64(std::uint64_t, std::uint64_t) override {}

    void mem_read(std::uint64_t pa, void* dst, std::size_t len) override {
        auto* out = static_cast<std::uint8_t*>(dst);
        for (std::size_t i = 0; i < len; ++i)
            out[i] = byte(pa + i);
    }
    void mem_write(std::uint64_t pa, const void* src, std::size_t len) override {
        const auto* in = static_cast<const std::uint8_t*>(src);
        for (std::size_t i = 0; i < len; ++i)
            set_byte(pa + i, in[i]);
        if (len == 8) {
            std::uint64_t v = 0;
            std::memcpy(&v, src, 8);
            log.push_back({log_entry::kind::write, pa, v});
        }
        ++mem_writes;
    }

    std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align) override {
        ++alloc_calls;
        if (m_fail_after) {
            if (*m_fail_after == 0)
                return std::nullopt;
            --*m_fail_after;
        }
        const std::uint64_t pa = (m_next + align - 1) & ~(std::uint64_t{align} - 1);
        if (pa + bytes > m_end)
            return std::nullopt;
        m_next = pa + bytes;
        clear(pa, bytes);
        live[pa] = bytes;
        return pa;
    }
    void free_dma(std::uint64_t pa, std::size_t bytes) override {
        auto it = live.find(pa);
        if (it == live.end() || it->second != bytes) {
            ++bad_frees;
            return;
        }
        live.erase(it);
        clear(pa, bytes);
        ++frees;
    }

    void barrier() override {
        ++barriers;
        log.push_back({log_entry::kind::barrier, 0, 0});
    }
    void poll_pause(bool) override {}
    std::uint64_t now_ns() override { return 0; }
    void charge(cpu_op op, unsigned count = 1) override {
        charges[static_cast<unsigned>(op)] += count;
    }

    /// Succeed `n` more allocations, then fail every one.
    void fail_allocations_after(unsigned n) { m_fail_after = n; }
    void allow_allocations() { m_fail_after.reset(); }

    std::uint64_t word(std::uint64_t pa) const {
        auto it = m_words.find(pa >> 3);
        return it == m_words.end() ? 0 : it->second;
    }
    void set_word(std::uint64_t pa, std::uint64_t v) { m_words[pa >> 3] = v; }
    unsigned charged(cpu_op op) const {
        auto it = charges.find(static_cast<unsigned>(op));
        return it == charges.end() ? 0 : it->second;
    }
    std::uint64_t live_bytes() const {
        std::uint64_t n = 0;
        for (const auto& kv : live)
            n += kv.second;
        return n;
    }
    /// Drops the counters and the log (not memory or allocations).
    void reset_counts() {
        charges.clear();
        log.clear();
        barriers = mem_writes = alloc_calls = frees = 0;
    }

    std::map<unsigned, unsigned> charges;
    std::vector<log_entry> log;
    std::map<std::uint64_t, std::uint64_t> live; ///< pa -> bytes
    unsigned barriers = 0;
    unsigned mem_writes = 0;
    unsigned alloc_calls = 0;
    unsigned frees = 0;
    unsigned bad_frees = 0;

private:
    std::uint8_t byte(std::uint64_t pa) const {
        return static_cast<std::uint8_t>(word(pa & ~std::uint64_t{7}) >> ((pa & 7) * 8));
    }
    void set_byte(std::uint64_t pa, std::uint8_t b) {
        std::uint64_t& w = m_words[pa >> 3];
        const unsigned sh = static_cast<unsigned>((pa & 7) * 8);
        w = (w & ~(std::uint64_t{0xff} << sh)) | (std::uint64_t{b} << sh);
    }
    void clear(std::uint64_t pa, std::uint64_t bytes) {
        for (std::uint64_t a = pa; a < pa + bytes; a += 8)
            m_words.erase(a >> 3);
    }

    std::unordered_map<std::uint64_t, std::uint64_t> m_words;
    std::uint64_t m_next;
    std::uint64_t m_end;
    std::optional<unsigned> m_fail_after;
};

/// Records the TLB maintenance a table asks for, and for each request whether
/// the platform's last logged event was a barrier (PTE writes ordered before it).
class recording_flush_ops : public io_pgtable_flush_ops {
public:
    struct walk_flush {
        std::uint64_t iova, size, granule;
    };

    explicit recording_flush_ops(const fake_platform_pgtable* platform = nullptr)
        : m_platform(platform) {}

    void flush_walk(std::uint64_t iova, std::uint64_t size, std::uint64_t granule) override {
        walks.push_back({iova, size, granule});
        ordered.push_back(last_was_barrier());
    }
    void sync(const iotlb_gather& gather) override {
        syncs.push_back(gather);
        ordered.push_back(last_was_barrier());
    }

    std::vector<walk_flush> walks;
    std::vector<iotlb_gather> syncs;
    std::vector<bool> ordered; ///< per walk flush or sync, in call order

private:
    bool last_was_barrier() const {
        return m_platform && !m_platform->log.empty() &&
               m_platform->log.back().what == fake_platform_pgtable::log_entry::kind::barrier;
    }

    const fake_platform_pgtable* m_platform;
};

} // namespace smmu::driver::test
