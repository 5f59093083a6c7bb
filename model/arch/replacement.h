// Replacement policies for the SMMU's set-associative caches (IOTLB, walk cache,
// config cache). Pure bookkeeping: the container decides which ways are valid and
// asks this class for a victim only when every way of the set is valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace smmu::arch {

enum class replacement_policy : std::uint8_t {
    lru,         ///< evict the least recently used way (hits and fills refresh)
    round_robin, ///< FIFO per set: evict the oldest fill; hits do not refresh
    random,      ///< pseudo-random way from a seeded xorshift64* (deterministic)
};

/// xorshift64* (Marsaglia's xorshift64 with shifts 13, 7, 17, output scrambled
/// by a multiply, whose high bits are the well-mixed ones). A zero seed would
/// be a fixed point, so it is replaced by a fixed non-zero constant.
class xorshift64 {
public:
    static constexpr std::uint64_t zero_seed_substitute = 0x9e3779b97f4a7c15ull;
    static constexpr std::uint64_t multiplier = 0x2545f4914f6cdd1dull;

    explicit xorshift64(std::uint64_t seed)
        : m_state(seed != 0 ? seed : zero_seed_substitute) {}

    std::uint64_t next() {
        m_state ^= m_state << 13;
        m_state ^= m_state >> 7;
        m_state ^= m_state << 17;
        return m_state * multiplier;
    }

private:
    std::uint64_t m_state;
};

/// Per-set replacement state. Storage is allocated once in the constructor;
/// hit/fill/victim never allocate.
class replacement_state {
public:
    replacement_state(std::size_t sets, std::size_t ways, replacement_policy policy,
                      std::uint64_t seed);

    replacement_policy policy() const { return m_policy; }

    /// A lookup hit `way` of `set`.
    void on_hit(std::size_t set, std::size_t way) {
        if (m_policy == replacement_policy::lru)
            m_stamp[set * m_ways + way] = ++m_tick;
    }

    /// `way` of `set` was (re)filled with a new entry.
    void on_fill(std::size_t set, std::size_t way) {
        if (m_policy != replacement_policy::random)
            m_stamp[set * m_ways + way] = ++m_tick;
    }

    /// The way to evict from a full set. O(ways).
    std::size_t victim(std::size_t set);

private:
    replacement_policy m_policy;
    std::size_t m_ways;
    std::uint64_t m_tick = 0;
    std::vector<std::uint64_t> m_stamp; ///< LRU: last use; round-robin: fill order
    xorshift64 m_rng;
};

} // namespace smmu::arch
