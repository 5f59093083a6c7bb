#include "model/pcie/atc.h"

#include <algorithm>

#include "model/arch/bits.h"
#include "model/timing/json.h"

namespace smmu::pcie {

using timing::append_json_field;

namespace {

unsigned log2_of(std::uint64_t power_of_two) {
    return arch::size_tracker::lowest(power_of_two);
}

std::uint64_t last_byte(const tlm_ext::invalidation_request& r) {
    if (r.covers_all())
        return ~std::uint64_t{0};
    const std::uint64_t extra = r.span - 1;
    return r.address > ~std::uint64_t{0} - extra ? ~std::uint64_t{0} : r.address + extra;
}

} // namespace

bool permits(const tlm_ext::ats_permissions& p, const atc_access& access) {
    if (access.write ? !p.write : !p.read)
        return false;
    if (access.execute && !p.execute)
        return false;
    return access.privileged == p.privileged;
}

const char* to_string(atc_status s) {
    switch (s) {
    case atc_status::hit:
        return "hit";
    case atc_status::miss:
        return "miss";
    case atc_status::permission_miss:
        return "permission_miss";
    }
    return "unknown";
}

void atc_stats::to_json(std::string& out) const {
    out += '{';
    append_json_field(out, "lookups", lookups);
    append_json_field(out, "hits", hits);
    append_json_field(out, "misses", misses);
    append_json_field(out, "permission_misses", permission_misses);
    append_json_field(out, "fills", fills);
    append_json_field(out, "fills_refused", fills_refused);
    append_json_field(out, "evictions", evictions);
    append_json_field(out, "invalidations", invalidations);
    append_json_field(out, "entries_removed", entries_removed);
    append_json_field(out, "flushes", flushes);
    out += '}';
}

namespace {

arch::cache_geometry checked_geometry(const atc_params& p) {
    const arch::cache_geometry geo{p.entries, p.ways, p.policy, p.seed};
    arch::validate_geometry(geo, "atc");
    return geo;
}

} // namespace

atc::atc(const atc_params& params)
    : m_params(params)
    , m_store(checked_geometry(params)) {}

std::size_t atc::set_for(std::uint64_t base, unsigned size_log2) const {
    const std::uint64_t page = base >> size_log2;
    // Consecutive pages of one size use consecutive sets; the size term keeps the first page of
    // every size out of set 0.
    return m_store.set_of(page ^ (page >> 20) ^ (std::uint64_t{size_log2} << 7));
}

bool atc::covers(const entry& e, std::optional<std::uint32_t> pasid, std::uint64_t base,
                 unsigned size_log2) {
    return e.base == base && e.size_log2 == size_log2 && (e.global || e.pasid == pasid);
}

bool atc::allows(const entry& e, const atc_access& access) {
    return e.untranslated_only || permits(e.permissions, access);
}

atc_lookup atc::describe(entry& e, std::uint64_t address) {
    atc_lookup r;
    r.status = atc_status::hit;
    r.size = std::uint64_t{1} << e.size_log2;
    r.untranslated_only = e.untranslated_only;
    r.translated_address = e.translated + (address - e.base);
    r.entry.m_slot = &e;
    r.entry.m_generation = e.generation;
    return r;
}

atc_lookup atc::lookup(std::optional<std::uint32_t> pasid, std::uint64_t address,
                       const atc_access& access) {
    ++m_stats.lookups;
    bool denied = false;
    for (std::uint64_t sizes = m_sizes.mask(); sizes != 0; sizes &= sizes - 1) {
        const unsigned s = arch::size_tracker::lowest(sizes);
        const std::uint64_t base = arch::align_down(address, s);
        const std::size_t set = set_for(base, s);
        entry* e = m_store.find(
            set, [&](const entry& c) { return covers(c, pasid, base, s) && allows(c, access); });
        if (e != nullptr) {
            ++m_stats.hits;
            return describe(*e, address);
        }
        denied =
            denied || m_store.peek(set, [&](const entry& c) { return covers(c, pasid, base, s); });
    }
    atc_lookup r;
    if (denied) {
        r.status = atc_status::permission_miss;
        ++m_stats.permission_misses;
    } else {
        ++m_stats.misses;
    }
    return r;
}

atc_lookup atc::fill(std::optional<std::uint32_t> pasid, std::uint64_t address,
                     const tlm_ext::translation_completion& c) {
    const bool fault = !c.permissions.read && !c.permissions.write && !c.untranslated_only;
    if (c.status != tlm_ext::ats_status::success || !tlm_ext::is_valid(c) || fault) {
        ++m_stats.fills_refused;
        return atc_lookup{};
    }
    entry fresh;
    fresh.pasid = pasid;
    fresh.global = c.global;
    fresh.size_log2 = log2_of(c.size);
    fresh.base = arch::align_down(address, fresh.size_log2);
    fresh.translated = c.translated_address;
    fresh.permissions = c.permissions;
    fresh.untranslated_only = c.untranslated_only;
    fresh.generation = ++m_generation;

    const unsigned s = fresh.size_log2;
    auto slot = m_store.allocate(set_for(fresh.base, s), [&](const entry& old) {
        return old.pasid == fresh.pasid && old.base == fresh.base && old.size_log2 == s;
    });
    using fill_kind = arch::set_assoc<entry>::fill;
    if (slot.how == fill_kind::evicted) {
        retire(*slot.entry);
        ++m_stats.evictions;
    }
    if (slot.how == fill_kind::same_tag) // the same range: TLPs that used it still count
        fresh.in_flight_until = slot.entry->in_flight_until;
    else
        m_sizes.add(s);
    *slot.entry = fresh;
    ++m_stats.fills;
    return describe(*slot.entry, address);
}

void atc::mark_in_flight(const atc_entry_ref& ref, timing::time_ps until) {
    if (!ref.valid())
        return;
    // The slot is storage inside m_store; the generation says whether it still holds the
    // entry the reference was made for.
    auto* e = static_cast<entry*>(ref.m_slot);
    if (e->generation == ref.m_generation)
        e->in_flight_until = std::max(e->in_flight_until, until);
    else
        m_retired_in_flight_until = std::max(m_retired_in_flight_until, until);
}

void atc::retire(entry& e) {
    m_sizes.remove(e.size_log2);
    m_retired_in_flight_until = std::max(m_retired_in_flight_until, e.in_flight_until);
    e.generation = 0;
}

atc_invalidation_result atc::invalidate(const tlm_ext::invalidation_request& req) {
    ++m_stats.invalidations;
    atc_invalidation_result r;
    r.in_flight_until = m_retired_in_flight_until;
    const auto selected = [&](const entry& e) {
        if (!req.pasid)
            return true;
        return e.pasid == req.pasid || (req.global && e.global);
    };
    r.removed = arch::remove_sized_range(
        m_store, m_sizes.mask(), req.covers_all() ? 0 : req.address, last_byte(req),
        [&](std::uint64_t base, unsigned s) { return set_for(base, s); },
        [&](const entry& e) {
            return selected(e) && req.overlaps(e.base, std::uint64_t{1} << e.size_log2);
        },
        [&](entry& e) {
            m_sizes.remove(e.size_log2);
            r.in_flight_until = std::max(r.in_flight_until, e.in_flight_until);
            e.generation = 0;
        });
    m_stats.entries_removed += r.removed;
    return r;
}

void atc::flush() {
    ++m_stats.flushes;
    m_stats.entries_removed +=
        m_store.remove_if([](const entry&) { return true; }, [&](entry& e) { retire(e); });
}

} // namespace smmu::pcie
