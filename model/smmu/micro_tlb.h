// A TBU's micro-TLB: a small fully-associative cache of finished translations
// tagged by what a TBU sees (StreamID, SubstreamID), in front of the TCU.
// Any TLBI, CFGI, ATC invalidation or SMMU disable flushes it whole: a TBU
// cannot map an ASID/VMID-scoped invalidation onto StreamIDs (MMU-600 TBUs
// likewise invalidate by broadcast over DTI).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

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

    /// Throws std::invalid_argument for 0 entries (configuration error).
    explicit micro_tlb(std::size_t entries);

    /// The entry translating `addr` for (sid, ssid), or nullptr.
    const entry* lookup(arch::stream_id sid, std::optional<arch::substream_id> ssid,
                        std::uint64_t addr);
    /// Caches a translation; `e.base` may be any address inside it.
    void insert(entry e);
    void flush();

    const stats_t& stats() const { return m_stats; }
    std::size_t size() const { return m_used; }

private:
    /// (StreamID, SSV, SubstreamID) packed into one word: SubstreamIDs have 20 bits.
    static std::uint64_t tag_of(arch::stream_id sid, std::optional<arch::substream_id> ssid) {
        return (std::uint64_t{sid} << 21) |
               (ssid ? (std::uint64_t{1} << 20) | (*ssid & 0xfffffu) : 0);
    }
    const entry* hit(std::size_t i);
    bool matches(std::size_t i, std::uint64_t tag, std::uint64_t addr) const {
        return m_tags[i] == tag && ((addr ^ m_entries[i].base) >> m_entries[i].size_log2) == 0;
    }

    /// Page number of a 4 KiB entry; larger entries get this, which no address has.
    static constexpr std::uint64_t not_a_page = ~std::uint64_t{0};

    // Tags and page numbers apart from the entries, so the scan of a miss touches two small
    // arrays with two compares per entry; only larger entries (blocks) need the general check.
    std::vector<std::uint64_t> m_tags;
    std::vector<std::uint64_t> m_pages;
    std::size_t m_large = 0;      ///< valid entries larger than 4 KiB
    std::vector<entry> m_entries; ///< m_used valid entries at the front
    std::size_t m_used = 0;
    std::size_t m_next_victim = 0;
    std::size_t m_last_hit = 0;
    stats_t m_stats;
};

} // namespace smmu
