#include "model/smmu/micro_tlb.h"

#include <stdexcept>

#include "model/arch/bits.h"

namespace smmu {

micro_tlb::micro_tlb(std::size_t entries)
    : m_tags(entries)
    , m_pages(entries)
    , m_entries(entries) {
    if (entries == 0)
        throw std::invalid_argument("micro_tlb: at least one entry is needed");
}

const micro_tlb::entry*
micro_tlb::lookup(arch::stream_id sid, std::optional<arch::substream_id> ssid, std::uint64_t addr) {
    ++m_stats.lookups;
    const std::uint64_t tag = tag_of(sid, ssid);
    // Streams tend to hit the entry they hit last: try it first.
    if (m_last_hit < m_used && matches(m_last_hit, tag, addr)) {
        ++m_stats.hits;
        return &m_entries[m_last_hit];
    }
    const std::uint64_t page = addr >> 12;
    for (std::size_t i = 0; i < m_used; ++i) {
        if (m_pages[i] == page && m_tags[i] == tag)
            return hit(i);
    }
    if (m_large != 0) {
        for (std::size_t i = 0; i < m_used; ++i) {
            if (m_pages[i] == not_a_page && matches(i, tag, addr))
                return hit(i);
        }
    }
    return nullptr;
}

const micro_tlb::entry* micro_tlb::hit(std::size_t i) {
    m_last_hit = i;
    ++m_stats.hits;
    return &m_entries[i];
}

void micro_tlb::insert(entry e) {
    e.output = arch::align_down(e.output, e.size_log2);
    e.base = arch::align_down(e.base, e.size_log2);
    std::size_t slot = m_used;
    if (m_used < m_entries.size()) {
        ++m_used;
    } else {
        slot = m_next_victim; // round robin over a full array
        m_next_victim = (m_next_victim + 1) % m_entries.size();
        if (m_pages[slot] == not_a_page)
            --m_large;
    }
    m_tags[slot] = tag_of(e.sid, e.ssid);
    m_pages[slot] = e.size_log2 == 12 ? e.base >> 12 : not_a_page;
    if (e.size_log2 != 12)
        ++m_large;
    m_entries[slot] = e;
    m_last_hit = slot;
}

void micro_tlb::flush() {
    ++m_stats.flushes;
    m_used = 0;
    m_large = 0;
    m_next_victim = 0;
    m_last_hit = 0;
}

} // namespace smmu
