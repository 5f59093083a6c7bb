// Test support for the walker: a fake descriptor memory and a page-table
// builder. Descriptor bits are spelled out here with literal positions from
// the reference (§8.4), independently of model/arch/descriptor.h.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "model/arch/walker.h"

namespace smmu::arch::test {

// Block/page descriptor bits (reference §8.4).
constexpr std::uint64_t k_af = 1ull << 10;
constexpr std::uint64_t k_ap_el0 = 1ull << 6; ///< AP[1]
constexpr std::uint64_t k_ap_ro = 1ull << 7;  ///< AP[2]
constexpr std::uint64_t k_ng = 1ull << 11;
constexpr std::uint64_t k_cont = 1ull << 52;
constexpr std::uint64_t k_pxn = 1ull << 53;
constexpr std::uint64_t k_uxn = 1ull << 54;
constexpr std::uint64_t k_s2ap_r = 1ull << 6;
constexpr std::uint64_t k_s2ap_w = 1ull << 7;
constexpr std::uint64_t k_s2_rw = k_s2ap_r | k_s2ap_w;
constexpr std::uint64_t k_memattr_wb = 0xfull << 2;  ///< MemAttr 0b1111
constexpr std::uint64_t k_memattr_dev = 0x1ull << 2; ///< MemAttr 0b0001 Device-nGnRE
// Table descriptor bits.
constexpr std::uint64_t k_pxn_table = 1ull << 59;
constexpr std::uint64_t k_uxn_table = 1ull << 60;
constexpr std::uint64_t k_ap_table0 = 1ull << 61;
constexpr std::uint64_t k_ap_table1 = 1ull << 62;

constexpr std::uint64_t page_desc(std::uint64_t oa, std::uint64_t attrs) {
    return oa | attrs | 3;
}
constexpr std::uint64_t block_desc(std::uint64_t oa, std::uint64_t attrs) {
    return oa | attrs | 1;
}

struct read_record {
    phys_addr pa;
    stage st;
    int level;
};

class fake_memory : public walk_memory {
public:
    void write(phys_addr pa, std::uint64_t value) { m_words[pa] = value; }
    std::uint64_t peek(phys_addr pa) const {
        const auto it = m_words.find(pa);
        return it == m_words.end() ? 0 : it->second;
    }
    void abort_at(phys_addr pa) { m_aborts.insert(pa); }

    descriptor_read read_descriptor(phys_addr pa, stage s, int level) override {
        m_log.push_back({pa, s, level});
        if (m_aborts.count(pa) != 0)
            return {0, true};
        return {peek(pa), false};
    }
    const std::vector<read_record>& log() const { return m_log; }

private:
    std::map<phys_addr, std::uint64_t> m_words;
    std::set<phys_addr> m_aborts;
    std::vector<read_record> m_log;
};

/// Builds tables for one stage in a fake_memory: the initial table (all
/// concatenated tables) at `root`, further tables allocated from `pool`.
/// Addresses are physical, except that a nested stage-1 builder works on IPAs
/// that the test's stage 2 maps to themselves.
class table_builder {
public:
    table_builder(fake_memory& mem, unsigned granule_log2, int start_level, unsigned ia_bits,
                  phys_addr root, phys_addr pool)
        : m_mem(mem)
        , m_g(granule_log2)
        , m_start(start_level)
        , m_ia_bits(ia_bits)
        , m_root(root)
        , m_next(pool) {
        const unsigned root_log2 = ia_bits - shift(start_level) + 3;
        const std::uint64_t root_bytes = 1ull << root_log2;
        for (std::uint64_t off = 0; off < root_bytes; off += granule_bytes())
            m_tables.push_back(root + off);
    }

    phys_addr root() const { return m_root; }
    /// Every table page (root pages first) the builder owns.
    const std::vector<phys_addr>& tables() const { return m_tables; }

    unsigned shift(int level) const { return m_g + static_cast<unsigned>(3 - level) * (m_g - 3); }
    std::uint64_t index(std::uint64_t ia, int level) const {
        const unsigned lo = shift(level);
        const unsigned hi = level == m_start ? m_ia_bits : lo + m_g - 3;
        return (ia >> lo) & ((1ull << (hi - lo)) - 1);
    }

    /// Address of the descriptor for `ia` at `level`, creating tables above it.
    phys_addr slot(std::uint64_t ia, int level) {
        phys_addr table = m_root;
        for (int l = m_start; l < level; ++l) {
            const phys_addr at = table + index(ia, l) * 8;
            std::uint64_t d = m_mem.peek(at);
            if ((d & 3) != 3) {
                const phys_addr fresh = m_next;
                m_next += granule_bytes();
                m_tables.push_back(fresh);
                d = fresh | 3;
                m_mem.write(at, d);
            }
            table = d & 0x0000fffffffff000ull & ~(granule_bytes() - 1);
        }
        return table + index(ia, level) * 8;
    }
    /// Writes `desc` as the descriptor for `ia` at `level`; returns its address.
    phys_addr map(std::uint64_t ia, int level, std::uint64_t desc) {
        const phys_addr at = slot(ia, level);
        m_mem.write(at, desc);
        return at;
    }
    /// ORs `bits` into the (existing) table descriptor for `ia` at `level`.
    void or_table_bits(std::uint64_t ia, int level, std::uint64_t bits) {
        const phys_addr at = slot(ia, level);
        m_mem.write(at, m_mem.peek(at) | bits);
    }
    std::uint64_t granule_bytes() const { return 1ull << m_g; }

private:
    fake_memory& m_mem;
    unsigned m_g;
    int m_start;
    unsigned m_ia_bits;
    phys_addr m_root;
    phys_addr m_next;
    std::vector<phys_addr> m_tables;
};

/// Collects the table descriptors a walk follows.
class visit_recorder : public walk_observer {
public:
    void on_table(const table_visit& v) override { visits.push_back(v); }
    std::vector<table_visit> visits;
};

} // namespace smmu::arch::test
