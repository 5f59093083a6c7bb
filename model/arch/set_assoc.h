// A generic set-associative container: fixed storage allocated in the
// constructor, O(ways) probes, pluggable replacement (replacement.h). The
// owning cache (IOTLB, walk cache, config cache) computes the set from its own
// tag, defines what a match is, and keeps the statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/arch/bits.h"
#include "model/arch/replacement.h"

namespace smmu::arch {

/// Shape of one cache structure. `ways == entries` gives a fully associative cache.
struct cache_geometry {
    std::size_t entries = 0;
    std::size_t ways = 0;
    replacement_policy policy = replacement_policy::lru;
    std::uint64_t seed = 1; ///< for replacement_policy::random
};

/// Throws std::invalid_argument for a geometry that cannot be built (a
/// configuration error, reported before simulation starts; never guest data).
inline void validate_geometry(const cache_geometry& geo, const char* what) {
    if (geo.entries == 0 || geo.ways == 0 || geo.entries % geo.ways != 0) {
        throw std::invalid_argument(std::string(what) +
                                    ": entries must be a non-zero multiple of ways");
    }
}

struct cache_stats {
    std::uint64_t lookups = 0;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t inserts = 0;
    std::uint64_t evictions = 0;   ///< valid entries displaced by an insert
    std::uint64_t invalidated = 0; ///< entries removed by invalidation operations
};

/// Which power-of-two sizes (log2 0..63) currently have at least one entry,
/// so that lookups probe only those sizes.
class size_tracker {
public:
    void add(unsigned log2) {
        if (m_count[log2]++ == 0)
            m_mask |= std::uint64_t{1} << log2;
    }
    void remove(unsigned log2) {
        if (--m_count[log2] == 0)
            m_mask &= ~(std::uint64_t{1} << log2);
    }
    void clear() {
        m_mask = 0;
        for (auto& c : m_count)
            c = 0;
    }
    /// Bit n set = some entry of size 2^n is present.
    std::uint64_t mask() const { return m_mask; }

    /// Index of the lowest set bit of a non-zero value (the smallest size).
    static unsigned lowest(std::uint64_t bits) {
#if defined(__GNUC__)
        return static_cast<unsigned>(__builtin_ctzll(bits));
#else
        unsigned n = 0;
        while ((bits & 1) == 0) {
            bits >>= 1;
            ++n;
        }
        return n;
#endif
    }

private:
    std::uint64_t m_mask = 0;
    std::uint32_t m_count[64] = {};
};

template <class Entry>
class set_assoc {
public:
    enum class fill : std::uint8_t {
        empty_way, ///< an invalid way was taken
        same_tag,  ///< an entry with the same tag is overwritten in place
        evicted,   ///< a valid entry was chosen by the replacement policy
    };

    /// The slot chosen by allocate(). Unless `how` is empty_way, *entry still
    /// holds the old entry so the owner can do its bookkeeping before
    /// overwriting it.
    struct allocation {
        Entry* entry;
        fill how;
    };

    explicit set_assoc(const cache_geometry& geo)
        : m_sets(checked_sets(geo))
        , m_ways(geo.ways)
        , m_pow2(m_sets != 0 && (m_sets & (m_sets - 1)) == 0)
        , m_slots(m_sets * m_ways)
        , m_repl(m_sets, m_ways, geo.policy, geo.seed) {}

    std::size_t sets() const { return m_sets; }
    std::size_t ways() const { return m_ways; }
    std::size_t capacity() const { return m_slots.size(); }
    std::size_t size() const { return m_valid_count; }

    /// Maps an owner-computed hash to a set.
    std::size_t set_of(std::uint64_t hash) const {
        return static_cast<std::size_t>(m_pow2 ? hash & (m_sets - 1) : hash % m_sets);
    }

    /// First valid entry of `set` satisfying pred; refreshes it for
    /// replacement. nullptr on a miss.
    template <class Pred>
    Entry* find(std::size_t set, Pred&& pred) {
        std::size_t way = 0;
        return find(set, pred, way);
    }
    /// As find(), and sets `way` to where a hit was found (for touch()).
    template <class Pred>
    Entry* find(std::size_t set, Pred&& pred, std::size_t& way) {
        slot* s = &m_slots[set * m_ways];
        for (std::size_t w = 0; w < m_ways; ++w) {
            if (s[w].valid && pred(s[w].entry)) {
                m_repl.on_hit(set, w);
                way = w;
                return &s[w].entry;
            }
        }
        return nullptr;
    }

    /// Repeats a hit of find() (or makes one of peek()) on (set, way), which the caller
    /// knows to still hold the same entry: refreshes it for replacement and returns it.
    Entry& touch(std::size_t set, std::size_t way) {
        m_repl.on_hit(set, way);
        return m_slots[set * m_ways + way].entry;
    }

    /// As find() but without touching replacement state.
    template <class Pred>
    const Entry* peek(std::size_t set, Pred&& pred) const {
        std::size_t way = 0;
        return peek(set, pred, way);
    }
    /// As peek(), and sets `way` to where a hit was found (for touch()).
    template <class Pred>
    const Entry* peek(std::size_t set, Pred&& pred, std::size_t& way) const {
        const slot* s = &m_slots[set * m_ways];
        for (std::size_t w = 0; w < m_ways; ++w) {
            if (s[w].valid && pred(s[w].entry)) {
                way = w;
                return &s[w].entry;
            }
        }
        return nullptr;
    }

    /// Chooses the slot for a new entry in `set`: an existing entry satisfying
    /// `same_tag` (overwritten in place), else an invalid way, else the
    /// policy's victim. The slot is marked valid and filled for replacement.
    template <class SameTag>
    allocation allocate(std::size_t set, SameTag&& same_tag) {
        slot* s = &m_slots[set * m_ways];
        std::size_t free_way = m_ways;
        for (std::size_t way = 0; way < m_ways; ++way) {
            if (!s[way].valid) {
                if (free_way == m_ways)
                    free_way = way;
            } else if (same_tag(s[way].entry)) {
                m_repl.on_fill(set, way);
                return {&s[way].entry, fill::same_tag};
            }
        }
        fill how = fill::empty_way;
        std::size_t way = free_way;
        if (way == m_ways) {
            way = m_repl.victim(set);
            how = fill::evicted;
        } else {
            s[way].valid = true;
            ++m_valid_count;
        }
        m_repl.on_fill(set, way);
        return {&s[way].entry, how};
    }

    /// Removes every valid entry of `set` satisfying pred, calling on_remove
    /// on each before it goes. Returns the number removed.
    template <class Pred, class OnRemove>
    std::size_t remove_in_set_if(std::size_t set, Pred&& pred, OnRemove&& on_remove) {
        return remove_range(set * m_ways, (set + 1) * m_ways, pred, on_remove);
    }

    /// Removes every valid entry of the whole structure satisfying pred.
    template <class Pred, class OnRemove>
    std::size_t remove_if(Pred&& pred, OnRemove&& on_remove) {
        return remove_range(0, m_slots.size(), pred, on_remove);
    }

    void clear() {
        for (auto& s : m_slots)
            s.valid = false;
        m_valid_count = 0;
    }

    template <class F>
    void for_each(F&& f) const {
        for (const auto& s : m_slots) {
            if (s.valid)
                f(s.entry);
        }
    }

private:
    struct slot {
        Entry entry{};
        bool valid = false;
    };

    static std::size_t checked_sets(const cache_geometry& geo) {
        validate_geometry(geo, "set_assoc");
        return geo.entries / geo.ways;
    }

    template <class Pred, class OnRemove>
    std::size_t remove_range(std::size_t first, std::size_t last, Pred& pred, OnRemove& on_remove) {
        std::size_t removed = 0;
        for (std::size_t i = first; i < last; ++i) {
            if (m_slots[i].valid && pred(m_slots[i].entry)) {
                on_remove(m_slots[i].entry);
                m_slots[i].valid = false;
                ++removed;
            }
        }
        m_valid_count -= removed;
        return removed;
    }

    std::size_t m_sets;
    std::size_t m_ways;
    bool m_pow2;
    std::vector<slot> m_slots;
    replacement_state m_repl;
    std::size_t m_valid_count = 0;
};

/// For caches whose entries have power-of-two sizes and live in the set
/// `set_for(base, size_log2)` of their own aligned base: removes the entries
/// satisfying pred from every set the inclusive range [first, last] can reach
/// at each size present in `sizes`, or scans the whole structure when that
/// would take more probes than there are sets. pred must check the overlap
/// itself (a probed set also holds unrelated entries).
template <class Entry, class SetFor, class Pred, class OnRemove>
std::size_t remove_sized_range(set_assoc<Entry>& store, std::uint64_t sizes, std::uint64_t first,
                               std::uint64_t last, SetFor&& set_for, Pred&& pred,
                               OnRemove&& on_remove) {
    std::uint64_t probes = 0;
    for (std::uint64_t rest = sizes; rest != 0; rest &= rest - 1) {
        const unsigned s = size_tracker::lowest(rest);
        probes += ((align_down(last, s) - align_down(first, s)) >> s) + 1;
        if (probes > store.sets())
            return store.remove_if(pred, on_remove);
    }
    std::size_t removed = 0;
    for (std::uint64_t rest = sizes; rest != 0; rest &= rest - 1) {
        const unsigned s = size_tracker::lowest(rest);
        const std::uint64_t last_base = align_down(last, s);
        for (std::uint64_t base = align_down(first, s);; base += std::uint64_t{1} << s) {
            removed += store.remove_in_set_if(set_for(base, s), pred, on_remove);
            if (base == last_base)
                break;
        }
    }
    return removed;
}

} // namespace smmu::arch
