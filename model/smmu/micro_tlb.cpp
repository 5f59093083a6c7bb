#include "model/smmu/micro_tlb.h"

#include <stdexcept>

#include "model/arch/bits.h"

namespace smmu {

namespace {

/// log2 of the bucket count: at least four times as many buckets as entries, so that most
/// chains hold at most one entry.
unsigned bucket_bits_for(std::size_t entries) {
    unsigned bits = 2;
    while ((std::size_t{1} << bits) < 4 * entries)
        ++bits;
    return bits;
}

std::size_t checked_entries(std::size_t entries) {
    if (entries == 0)
        throw std::invalid_argument("micro_tlb: at least one entry is needed");
    if (entries >= 0xffff'ffffu)
        throw std::invalid_argument("micro_tlb: entries must be below 2^32 - 1");
    return entries;
}

} // namespace

micro_tlb::micro_tlb(std::size_t entries)
    : m_keys(checked_entries(entries))
    , m_entries(entries)
    , m_bucket_bits(bucket_bits_for(entries))
    , m_buckets(std::size_t{1} << m_bucket_bits, no_slot) {}

void micro_tlb::flush() {
    ++m_stats.flushes;
    // Every chain starts at a valid 4 KiB entry: emptying their buckets empties the index, in
    // no time when the micro-TLB is already empty (TLBIs come in batches).
    for (std::size_t i = 0; i < m_used; ++i) {
        if (m_keys[i].page != not_a_page)
            m_buckets[bucket_of(m_keys[i].tag, m_keys[i].page)] = no_slot;
    }
    m_used = 0;
    m_large = 0;
    m_next_victim = 0;
    m_last_hit = 0;
}

} // namespace smmu
