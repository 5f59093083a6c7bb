#include "model/arch/replacement.h"

namespace smmu::arch {

replacement_state::replacement_state(std::size_t sets, std::size_t ways, replacement_policy policy,
                                     std::uint64_t seed)
    : m_policy(policy)
    , m_ways(ways)
    , m_stamp(sets * ways, 0)
    , m_rng(seed) {}

std::size_t replacement_state::victim(std::size_t set) {
    if (m_policy == replacement_policy::random)
        return static_cast<std::size_t>((m_rng.next() >> 32) % m_ways);
    // LRU and FIFO both evict the smallest stamp; they differ only in when stamps move.
    const std::uint64_t* stamps = &m_stamp[set * m_ways];
    std::size_t oldest = 0;
    for (std::size_t way = 1; way < m_ways; ++way) {
        if (stamps[way] < stamps[oldest])
            oldest = way;
    }
    return oldest;
}

} // namespace smmu::arch
