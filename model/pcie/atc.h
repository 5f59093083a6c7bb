// A PCIe function's Address Translation Cache: the translations the function obtained with ATS
// Translation Requests, keyed by (PASID or none, untranslated address), each covering the
// size of its completion. Pure C++ (no SystemC).
//
// * fill() caches a successful completion for the range [base, base + size) that holds the
//   requested address (base = address aligned down to the size). Faults (R = W = 0) are not
//   cached; U completions are cached as "send untranslated" entries.
// * lookup() finds the entry for (PASID, address): an entry matches its own PASID (or
//   no-PASID) lookups, a Global entry matches every PASID. The access must be allowed by the
//   entry's permissions (read, write, execute, and the same privilege level it was obtained
//   for), else the lookup is a permission miss.
// * invalidate() removes every entry overlapping an Invalidate Request's range: without a
//   PASID, entries of every PASID; with one, that PASID's entries, plus the Global ones when
//   the request has the Global Invalidate bit.
//
// In-flight tracking: the function tells the ATC until when translated TLPs that used an entry
// are in flight (mark_in_flight). invalidate() reports the latest such time over the entries it
// removed, so the function sends its Invalidation Completion only after those TLPs (PCIe ATS
// ordering). Entries that leave the cache otherwise (eviction, flush) keep counting: their
// in-flight times fold into one watermark that every later invalidation waits for, which is
// conservative but never early.
//
// Storage: arch::set_assoc, sets indexed by the page number of the entry's base at its own
// size; a lookup probes each size present (arch::size_tracker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "model/arch/replacement.h"
#include "model/arch/set_assoc.h"
#include "model/timing/clock.h"
#include "model/tlm/ats.h"

namespace smmu::pcie {

struct atc_params {
    /// Total entries; a multiple of ways. Default: 16 sets of 8 ways, the shape of the 4 KiB
    /// device TLB in calibration.md §3 (one real device, illustrative).
    std::size_t entries = 128;
    std::size_t ways = 8;
    arch::replacement_policy policy = arch::replacement_policy::lru;
    std::uint64_t seed = 1; ///< for replacement_policy::random
};

/// An access as the ATC checks it against an entry's permissions.
struct atc_access {
    bool write = false;      ///< else a read
    bool execute = false;    ///< instruction fetch (reads only)
    bool privileged = false; ///< privileged mode (PASID prefix)
};

/// True when a translation with permissions `p` allows `access`: read or write, execute if
/// asked, and obtained for the same privilege level.
bool permits(const tlm_ext::ats_permissions& p, const atc_access& access);

/// Refers to one cached entry for as long as it stays in the cache (see mark_in_flight).
class atc_entry_ref {
public:
    bool valid() const { return m_generation != 0; }

private:
    friend class atc;
    void* m_slot = nullptr;
    std::uint64_t m_generation = 0;
};

enum class atc_status : std::uint8_t {
    hit,             ///< an entry allows the access
    miss,            ///< no entry covers the address for this PASID
    permission_miss, ///< entries cover the address but none allows the access
};

const char* to_string(atc_status s);

struct atc_lookup {
    atc_status status = atc_status::miss;
    /// Hit: the translated address of the looked-up address (unused with untranslated_only).
    std::uint64_t translated_address = 0;
    /// Hit on an entry from a completion with the U bit: send the TLP untranslated.
    bool untranslated_only = false;
    std::uint64_t size = 0; ///< hit: bytes the entry covers
    atc_entry_ref entry;    ///< hit: the entry used

    bool hit() const { return status == atc_status::hit; }
};

struct atc_invalidation_result {
    std::size_t removed = 0; ///< entries removed
    /// Latest end of a translated TLP that may have used a removed (or earlier evicted or
    /// flushed) entry; 0 when none.
    timing::time_ps in_flight_until = 0;
};

struct atc_stats {
    std::uint64_t lookups = 0; ///< hits + misses + permission_misses
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t permission_misses = 0;
    std::uint64_t fills = 0;           ///< completions cached
    std::uint64_t fills_refused = 0;   ///< completions not cached (fault, error, malformed)
    std::uint64_t evictions = 0;       ///< valid entries displaced by a fill
    std::uint64_t invalidations = 0;   ///< invalidate() calls
    std::uint64_t entries_removed = 0; ///< entries removed by invalidate() and flush()
    std::uint64_t flushes = 0;

    /// Appends {"lookups":N,"hits":N,"misses":N,"permission_misses":N,"fills":N,
    /// "fills_refused":N,"evictions":N,"invalidations":N,"entries_removed":N,"flushes":N}.
    void to_json(std::string& out) const;
};

class atc {
public:
    /// Throws std::invalid_argument unless entries is a non-zero multiple of ways.
    explicit atc(const atc_params& params);

    atc_lookup lookup(std::optional<std::uint32_t> pasid, std::uint64_t address,
                      const atc_access& access);

    /// Caches the completion of a Translation Request for `address` by `pasid`. Returns what a
    /// lookup of `address` would now find in the new entry (without counting a lookup), or a
    /// miss when the completion is not cacheable: not a success, malformed (ats.h is_valid),
    /// or a fault (R = W = 0 without U).
    atc_lookup fill(std::optional<std::uint32_t> pasid, std::uint64_t address,
                    const tlm_ext::translation_completion& completion);

    /// A translated TLP that used `entry` is in flight until `until`. If the entry has left
    /// the cache meanwhile, the time joins the watermark every invalidation waits for.
    void mark_in_flight(const atc_entry_ref& entry, timing::time_ps until);

    atc_invalidation_result invalidate(const tlm_ext::invalidation_request& request);

    /// Removes every entry (e.g. ATS disabled). In-flight times are kept for invalidations.
    void flush();

    std::size_t size() const { return m_store.size(); }
    std::size_t capacity() const { return m_store.capacity(); }
    const atc_params& params() const { return m_params; }
    const atc_stats& stats() const { return m_stats; }

private:
    struct entry {
        std::optional<std::uint32_t> pasid;
        bool global = false;
        std::uint64_t base = 0; ///< untranslated, aligned to the size
        unsigned size_log2 = 0;
        std::uint64_t translated = 0; ///< aligned to the size
        tlm_ext::ats_permissions permissions;
        bool untranslated_only = false;
        timing::time_ps in_flight_until = 0;
        std::uint64_t generation = 0; ///< 0 once removed
    };

    std::size_t set_for(std::uint64_t base, unsigned size_log2) const;
    static bool covers(const entry& e, std::optional<std::uint32_t> pasid, std::uint64_t base,
                       unsigned size_log2);
    static bool allows(const entry& e, const atc_access& access);
    static atc_lookup describe(entry& e, std::uint64_t address);
    /// Bookkeeping for an entry leaving the cache by eviction or flush.
    void retire(entry& e);

    atc_params m_params;
    arch::set_assoc<entry> m_store;
    arch::size_tracker m_sizes;
    std::uint64_t m_generation = 0;
    timing::time_ps m_retired_in_flight_until = 0;
    atc_stats m_stats;
};

} // namespace smmu::pcie
