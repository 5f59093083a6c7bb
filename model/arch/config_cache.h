// The SMMU's configuration cache: decoded STEs tagged by StreamID and decoded
// CDs tagged by (StreamID, SubstreamID), with the CMD_CFGI_* semantics of
// IHI0070 §4.3 (reference §3.4, §4.3, §5.3).
//
// Payloads are template parameters so the model caches its *decoded* STE/CD
// structs and a hit costs no re-decode; they must be default-constructible and
// copyable (storage is allocated once in the constructor). STEs and CDs live in
// two set-associative arrays with their own geometry, as CDs usually outnumber
// STEs. A CD is cached per (StreamID, SubstreamID) even when several STEs
// share one CD table, as the architecture describes (reference §4.3).
//
// Not cached: L1STD/L1CD descriptors and failed fetches, so CFGI Leaf=0 has no
// additional effect here. Negative caching is up to the caller (a payload can
// record "invalid").
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/arch/set_assoc.h"
#include "model/arch/types.h"

namespace smmu::arch {

/// Inclusive StreamID span of CMD_CFGI_STE_RANGE: 2^(range+1) StreamIDs from
/// sid aligned down to that size; range >= 31 covers every StreamID.
struct sid_span {
    stream_id first;
    stream_id last;
};
sid_span cfgi_ste_range_span(stream_id sid, unsigned range);

template <class Ste, class Cd>
class config_cache {
public:
    /// Throws std::invalid_argument on a bad geometry (configuration error).
    config_cache(const cache_geometry& ste_geo, const cache_geometry& cd_geo)
        : m_ste(ste_geo)
        , m_cd(cd_geo) {}

    /// Where a lookup hit: while generation() is unchanged, the same lookup would hit
    /// there again, and repeat_*_hit() does what it would do without searching.
    struct hit_ref {
        std::size_t set = 0;
        std::size_t way = 0;
    };

    /// The cached STE of `sid`, or nullptr. Valid until the next insert or
    /// invalidation.
    const Ste* lookup_ste(stream_id sid) {
        hit_ref where;
        return lookup_ste(sid, where);
    }
    /// As lookup_ste(sid); a hit is described in `where`.
    const Ste* lookup_ste(stream_id sid, hit_ref& where) {
        ++m_ste_stats.lookups;
        where.set = ste_set(sid);
        const ste_slot* hit = m_ste.find(where.set, ste_match(sid), where.way);
        return counted(m_ste_stats, hit == nullptr ? nullptr : &hit->payload);
    }
    const Cd* lookup_cd(stream_id sid, substream_id ssid) {
        hit_ref where;
        return lookup_cd(sid, ssid, where);
    }
    const Cd* lookup_cd(stream_id sid, substream_id ssid, hit_ref& where) {
        ++m_cd_stats.lookups;
        where.set = cd_set(sid, ssid);
        const cd_slot* hit = m_cd.find(where.set, cd_match(sid, ssid), where.way);
        return counted(m_cd_stats, hit == nullptr ? nullptr : &hit->payload);
    }

    /// A lookup that hit at `where` repeated: the same statistics and replacement update.
    /// Only while generation() is what it was at that hit.
    const Ste& repeat_ste_hit(const hit_ref& where) {
        ++m_ste_stats.lookups;
        ++m_ste_stats.hits;
        return m_ste.touch(where.set, where.way).payload;
    }
    const Cd& repeat_cd_hit(const hit_ref& where) {
        ++m_cd_stats.lookups;
        ++m_cd_stats.hits;
        return m_cd.touch(where.set, where.way).payload;
    }

    /// Changes whenever the contents may have changed: every insert and every invalidation.
    std::uint64_t generation() const { return m_generation; }
    /// As lookup_*() without statistics or replacement update.
    const Ste* peek_ste(stream_id sid) const {
        const ste_slot* hit = m_ste.peek(ste_set(sid), ste_match(sid));
        return hit == nullptr ? nullptr : &hit->payload;
    }
    const Cd* peek_cd(stream_id sid, substream_id ssid) const {
        const cd_slot* hit = m_cd.peek(cd_set(sid, ssid), cd_match(sid, ssid));
        return hit == nullptr ? nullptr : &hit->payload;
    }

    void insert_ste(stream_id sid, const Ste& ste) {
        ++m_generation;
        store_into(m_ste, m_ste_stats, ste_set(sid), ste_match(sid), ste_slot{sid, ste});
    }
    void insert_cd(stream_id sid, substream_id ssid, const Cd& cd) {
        ++m_generation;
        store_into(m_cd, m_cd_stats, cd_set(sid, ssid), cd_match(sid, ssid),
                   cd_slot{sid, ssid, cd});
    }

    // Invalidations; each returns the number of entries (STEs + CDs) removed.

    /// CMD_CFGI_STE: the STE and every CD cached through that StreamID.
    std::size_t cfgi_ste(stream_id sid, bool /*leaf*/) {
        const std::size_t stes = m_ste.remove_in_set_if(ste_set(sid), ste_match(sid), no_op);
        return count(m_ste_stats, stes) + remove_cds(sid, sid);
    }
    /// CMD_CFGI_STE_RANGE (Range=31 is CMD_CFGI_ALL).
    std::size_t cfgi_ste_range(stream_id sid, unsigned range) {
        const sid_span span = cfgi_ste_range_span(sid, range);
        const std::uint64_t n = std::uint64_t{span.last} - span.first + 1;
        const auto in_span = [&](const ste_slot& s) {
            return s.sid >= span.first && s.sid <= span.last;
        };
        std::size_t stes = 0;
        if (n > m_ste.sets()) {
            stes = m_ste.remove_if(in_span, no_op);
        } else {
            for (std::uint64_t i = 0; i < n; ++i) {
                const auto id = static_cast<stream_id>(span.first + i);
                stes += m_ste.remove_in_set_if(ste_set(id), in_span, no_op);
            }
        }
        return count(m_ste_stats, stes) + remove_cds(span.first, span.last);
    }
    /// CMD_CFGI_CD: the CD of (sid, ssid).
    std::size_t cfgi_cd(stream_id sid, substream_id ssid, bool /*leaf*/) {
        return count(m_cd_stats,
                     m_cd.remove_in_set_if(cd_set(sid, ssid), cd_match(sid, ssid), no_op));
    }
    /// CMD_CFGI_CD_ALL: every CD of sid (the STE stays).
    std::size_t cfgi_cd_all(stream_id sid) { return remove_cds(sid, sid); }
    /// CMD_CFGI_ALL.
    std::size_t cfgi_all() {
        const auto all = [](const auto&) { return true; };
        const std::size_t stes = count(m_ste_stats, m_ste.remove_if(all, no_op));
        return stes + count(m_cd_stats, m_cd.remove_if(all, no_op));
    }

    const cache_stats& ste_stats() const { return m_ste_stats; }
    const cache_stats& cd_stats() const { return m_cd_stats; }
    void reset_stats() {
        m_ste_stats = {};
        m_cd_stats = {};
    }
    std::size_t ste_count() const { return m_ste.size(); }
    std::size_t cd_count() const { return m_cd.size(); }

private:
    struct ste_slot {
        stream_id sid = 0;
        Ste payload{};
    };
    struct cd_slot {
        stream_id sid = 0;
        substream_id ssid = 0;
        Cd payload{};
    };

    static constexpr auto no_op = [](const auto&) {};

    static auto ste_match(stream_id sid) {
        return [sid](const ste_slot& s) { return s.sid == sid; };
    }
    static auto cd_match(stream_id sid, substream_id ssid) {
        return [sid, ssid](const cd_slot& s) { return s.sid == sid && s.ssid == ssid; };
    }
    std::size_t ste_set(stream_id sid) const {
        return m_ste.set_of(std::uint64_t{sid} ^ (std::uint64_t{sid} >> 16));
    }
    // Consecutive SubstreamIDs of one StreamID land in consecutive sets;
    // the StreamID term scatters where each StreamID's run starts.
    std::size_t cd_set(stream_id sid, substream_id ssid) const {
        return m_cd.set_of(std::uint64_t{ssid} + std::uint64_t{sid} * 0x9e3779b1u);
    }

    template <class T>
    static const T* counted(cache_stats& stats, const T* hit) {
        ++(hit != nullptr ? stats.hits : stats.misses);
        return hit;
    }
    /// Every invalidation goes through here.
    std::size_t count(cache_stats& stats, std::size_t removed) {
        ++m_generation;
        stats.invalidated += removed;
        return removed;
    }

    template <class Slot, class Match>
    static void store_into(set_assoc<Slot>& store, cache_stats& stats, std::size_t set, Match match,
                           const Slot& value) {
        auto slot = store.allocate(set, match);
        if (slot.how == set_assoc<Slot>::fill::evicted)
            ++stats.evictions;
        *slot.entry = value;
        ++stats.inserts;
    }

    std::size_t remove_cds(stream_id first, stream_id last) {
        const auto in_span = [&](const cd_slot& s) { return s.sid >= first && s.sid <= last; };
        return count(m_cd_stats, m_cd.remove_if(in_span, no_op));
    }

    set_assoc<ste_slot> m_ste;
    set_assoc<cd_slot> m_cd;
    cache_stats m_ste_stats;
    cache_stats m_cd_stats;
    std::uint64_t m_generation = 1;
};

} // namespace smmu::arch
