// Test support: a map-backed smmu_memory with a configurable latency per access
// (optionally per purpose), external-abort injection and a log of every access.
// Unwritten bytes read as zero. Multi-byte values are little-endian, as the SMMU
// reads its structures.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "model/arch/ste.h" // structure_words
#include "model/smmu/smmu_memory.h"

namespace smmu::test {

class fake_smmu_memory : public smmu_memory {
public:
    struct access {
        arch::phys_addr pa = 0;
        unsigned len = 0;
        mem_purpose why = mem_purpose::ste;
        bool write = false;
        bool debug = false;
        timing::time_ps start = 0; ///< the `now` the access was made at
        bool aborted = false;
    };

    explicit fake_smmu_memory(timing::time_ps latency = 0)
        : m_latency(latency) {}

    // ---- latency -------------------------------------------------------------------------
    /// Latency of every access without a per-purpose latency.
    void set_latency(timing::time_ps ps) { m_latency = ps; }
    void set_latency(mem_purpose why, timing::time_ps ps) { m_by_purpose[why] = ps; }
    timing::time_ps latency(mem_purpose why) const {
        const auto it = m_by_purpose.find(why);
        return it == m_by_purpose.end() ? m_latency : it->second;
    }

    // ---- contents ------------------------------------------------------------------------
    void write_bytes(arch::phys_addr pa, const void* src, std::size_t len) {
        const auto* p = static_cast<const unsigned char*>(src);
        for (std::size_t i = 0; i < len; ++i)
            byte_at(pa + i) = p[i];
    }
    void read_bytes(arch::phys_addr pa, void* dst, std::size_t len) const {
        auto* p = static_cast<unsigned char*>(dst);
        for (std::size_t i = 0; i < len; ++i)
            p[i] = byte(pa + i);
    }
    void write64(arch::phys_addr pa, std::uint64_t value) {
        unsigned char b[8];
        for (unsigned i = 0; i < 8; ++i)
            b[i] = static_cast<unsigned char>(value >> (8 * i));
        write_bytes(pa, b, 8);
    }
    std::uint64_t read64(arch::phys_addr pa) const {
        std::uint64_t v = 0;
        for (unsigned i = 8; i-- > 0;)
            v = (v << 8) | byte(pa + i);
        return v;
    }
    /// A 64-byte structure (STE, CD) as eight little-endian words.
    void write_words(arch::phys_addr pa, const arch::structure_words& words) {
        for (std::size_t i = 0; i < words.size(); ++i)
            write64(pa + 8 * i, words[i]);
    }

    // ---- external aborts -------------------------------------------------------------------
    /// Every access overlapping [pa, pa + len) gets an external abort.
    void abort_range(arch::phys_addr pa, std::uint64_t len = 1) { m_aborts.emplace_back(pa, len); }
    void clear_aborts() { m_aborts.clear(); }

    // ---- log -------------------------------------------------------------------------------
    const std::vector<access>& log() const { return m_log; }
    void clear_log() { m_log.clear(); }
    /// Non-debug accesses made for `why`.
    std::size_t count(mem_purpose why) const {
        std::size_t n = 0;
        for (const auto& a : m_log)
            n += (a.why == why && !a.debug) ? 1 : 0;
        return n;
    }

    // ---- smmu_memory -----------------------------------------------------------------------
    bool read(arch::phys_addr pa, void* dst, unsigned len, mem_purpose why, timing::time_ps& now,
              bool debug) override {
        const bool aborted = aborts(pa, len);
        m_log.push_back({pa, len, why, false, debug, now, aborted});
        if (!debug)
            now += latency(why);
        if (aborted)
            return false;
        read_bytes(pa, dst, len);
        return true;
    }
    bool write(arch::phys_addr pa, const void* src, unsigned len, mem_purpose why,
               timing::time_ps& now) override {
        const bool aborted = aborts(pa, len);
        m_log.push_back({pa, len, why, true, false, now, aborted});
        now += latency(why);
        if (aborted)
            return false;
        write_bytes(pa, src, len);
        return true;
    }

private:
    static constexpr unsigned page_shift = 12;
    using page = std::array<unsigned char, std::size_t{1} << page_shift>;

    unsigned char& byte_at(arch::phys_addr pa) {
        auto it = m_pages.find(pa >> page_shift);
        if (it == m_pages.end())
            it = m_pages.emplace(pa >> page_shift, page{}).first;
        return it->second[pa & ((arch::phys_addr{1} << page_shift) - 1)];
    }
    unsigned char byte(arch::phys_addr pa) const {
        const auto it = m_pages.find(pa >> page_shift);
        return it == m_pages.end() ? 0 : it->second[pa & ((arch::phys_addr{1} << page_shift) - 1)];
    }
    bool aborts(arch::phys_addr pa, unsigned len) const {
        for (const auto& [start, size] : m_aborts) {
            if (pa < start + size && start < pa + len)
                return true;
        }
        return false;
    }

    timing::time_ps m_latency;
    std::map<mem_purpose, timing::time_ps> m_by_purpose;
    std::map<arch::phys_addr, page> m_pages;
    std::vector<std::pair<arch::phys_addr, std::uint64_t>> m_aborts;
    std::vector<access> m_log;
};

} // namespace smmu::test
