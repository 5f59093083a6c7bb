// A TBU's micro-TLB: a small fully-associative cache of finished translations
// tagged by what a TBU sees (StreamID, SubstreamID), in front of the TCU.
// Any TLBI, CFGI, ATC invalidation or SMMU disable flushes it whole: a TBU
// cannot map an ASID/VMID-scoped invalidation onto StreamIDs (MMU-600 TBUs
// likewise invalidate by broadcast over DTI).
//
// Host-speed layout (the model is fully associative with round-robin replacement; how
// a lookup finds an entry is not part of it): the entry hit last is tried first, then
// 4 KiB entries are found through a hash index of (tag, page) with a chain per bucket,
// so a hit or a miss examines about one entry instead of all of them. Larger entries
// (blocks) are rare and scanned.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "model/arch/bits.h"
#include "model/arch/types.h"
#include "model/arch/walker.h"

namespace smmu {

class micro_tlb {
public:
    struct entry {
        arch::stream_id sid = 0;
        std::optional<arch::substream_id> ssid;
        std::uint64_t base = 0; ///< input address aligned to the entry size
        std::uint8_t size_log2 = 12;
        arch::phys_addr output = 0; ///< output address of `base`
        arch::permission_set perms;
    };

    struct stats_t {
        std::uint64_t lookups = 0;
        std::uint64_t hits = 0;
        std::uint64_t flushes = 0;
    };

    /// Throws std::invalid_argument for 0 entries, or 2^32 - 1 or more (configuration error).
    explicit micro_tlb(std::size_t entries);

    /// The entry translating `addr` for (sid, ssid), or nullptr. When several valid entries
    /// translate it (a refill after a permission miss), the one hit last, else the one in the
    /// lowest slot.
    const entry* lookup(arch::stream_id sid, std::optional<arch::substream_id> ssid,
                        std::uint64_t addr) {
        ++m_stats.lookups;
        const std::uint64_t tag = tag_of(sid, ssid);
        // Streams tend to hit the entry they hit last: try it first.
        if (m_last_hit < m_used && matches(m_last_hit, tag, addr)) {
            ++m_stats.hits;
            return &m_entries[m_last_hit];
        }
        return search(tag, addr);
    }
    /// Caches a translation; `e.base` may be any address inside it.
    void insert(const entry& e);
    void flush();

    const stats_t& stats() const { return m_stats; }
    std::size_t size() const { return m_used; }

private:
    using slot_index = std::uint32_t;
    static constexpr slot_index no_slot = ~slot_index{0};

    /// (StreamID, SSV, SubstreamID) packed into one word: SubstreamIDs have 20 bits.
    static std::uint64_t tag_of(arch::stream_id sid, std::optional<arch::substream_id> ssid) {
        return (std::uint64_t{sid} << 21) |
               (ssid ? (std::uint64_t{1} << 20) | (*ssid & 0xfffffu) : 0);
    }
    bool matches(std::size_t i, std::uint64_t tag, std::uint64_t addr) const {
        return m_keys[i].tag == tag && ((addr ^ m_entries[i].base) >> m_entries[i].size_log2) == 0;
    }
    const entry* search(std::uint64_t tag, std::uint64_t addr);
    const entry* hit(std::size_t i);
    std::size_t bucket_of(std::uint64_t tag, std::uint64_t page) const {
        // Multiplicative hashing: the high bits of the product mix every bit of tag and page.
        const std::uint64_t h = (page ^ (tag * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
        return static_cast<std::size_t>(h >> (64 - m_bucket_bits));
    }
    void link(slot_index slot);
    void unlink(slot_index slot);

    /// Page number of a 4 KiB entry; larger entries get this, which no address has.
    static constexpr std::uint64_t not_a_page = ~std::uint64_t{0};

    /// What the index walk and the block scan compare, apart from the entries.
    struct slot_key {
        std::uint64_t tag = 0;
        std::uint64_t page = 0;    ///< 4 KiB entries only; not_a_page for larger ones
        slot_index next = no_slot; ///< the next slot of the same bucket (4 KiB entries)
    };

    std::vector<slot_key> m_keys;
    std::size_t m_large = 0;      ///< valid entries larger than 4 KiB
    std::vector<entry> m_entries; ///< m_used valid entries at the front
    std::size_t m_used = 0;
    std::size_t m_next_victim = 0;
    std::size_t m_last_hit = 0;
    // The index of the valid 4 KiB entries: per bucket, the first slot of its chain.
    unsigned m_bucket_bits;
    std::vector<slot_index> m_buckets;
    stats_t m_stats;
};

// Inline: lookups and fills are on every translation that misses the micro-TLB.

inline const micro_tlb::entry* micro_tlb::search(std::uint64_t tag, std::uint64_t addr) {
    const std::uint64_t page = addr >> 12;
    // The lowest matching slot, as a scan in slot order would find.
    slot_index found = no_slot;
    for (slot_index i = m_buckets[bucket_of(tag, page)]; i != no_slot; i = m_keys[i].next) {
        if (m_keys[i].page == page && m_keys[i].tag == tag)
            found = std::min(found, i);
    }
    if (found != no_slot)
        return hit(found);
    if (m_large != 0) {
        for (std::size_t i = 0; i < m_used; ++i) {
            if (m_keys[i].page == not_a_page && matches(i, tag, addr))
                return hit(i);
        }
    }
    return nullptr;
}

inline const micro_tlb::entry* micro_tlb::hit(std::size_t i) {
    m_last_hit = i;
    ++m_stats.hits;
    return &m_entries[i];
}

inline void micro_tlb::link(slot_index slot) {
    slot_key& k = m_keys[slot];
    slot_index& head = m_buckets[bucket_of(k.tag, k.page)];
    k.next = head;
    head = slot;
}

inline void micro_tlb::unlink(slot_index slot) {
    const slot_key& k = m_keys[slot];
    slot_index* at = &m_buckets[bucket_of(k.tag, k.page)];
    while (*at != slot)
        at = &m_keys[*at].next;
    *at = k.next;
}

inline void micro_tlb::insert(const entry& e) {
    auto slot = static_cast<slot_index>(m_used);
    if (m_used < m_entries.size()) {
        ++m_used;
    } else {
        slot = static_cast<slot_index>(m_next_victim); // round robin over a full array
        if (++m_next_victim == m_entries.size())
            m_next_victim = 0;
        if (m_keys[slot].page == not_a_page)
            --m_large;
        else
            unlink(slot);
    }
    entry& stored = m_entries[slot];
    stored = e;
    stored.output = arch::align_down(e.output, e.size_log2);
    stored.base = arch::align_down(e.base, e.size_log2);
    m_keys[slot].tag = tag_of(e.sid, e.ssid);
    m_keys[slot].page = e.size_log2 == 12 ? stored.base >> 12 : not_a_page;
    if (e.size_log2 != 12)
        ++m_large;
    else
        link(slot);
    m_last_hit = slot;
}

} // namespace smmu
