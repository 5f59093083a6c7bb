#include "model/timing/resource.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "model/timing/json.h"

namespace smmu::timing {

namespace {

/// In a sorted range of busy-until times: the last slot free at `arrival` (best fit), or the
/// earliest-free slot if none is free yet.
template <typename It>
It best_slot(It first, It last, time_ps arrival) {
    const It after = std::upper_bound(first, last, arrival);
    return after == first ? first : std::prev(after);
}

} // namespace

void resource_stats::to_json(std::string& out) const {
    out += '{';
    append_json_field(out, "acquisitions", acquisitions);
    append_json_field(out, "waits", waits);
    append_json_field(out, "total_wait_ps", total_wait);
    append_json_field(out, "max_wait_ps", max_wait);
    append_json_field(out, "busy_ps", busy);
    out += '}';
}

busy_resource::busy_resource(std::size_t slots)
    : m_free_at(slots, 0) {
    if (slots == 0)
        throw std::invalid_argument("busy_resource: the number of slots must be at least 1");
}

grant busy_resource::acquire_contended(time_ps arrival, time_ps hold) {
    const auto slot = best_slot(m_free_at.begin(), m_free_at.end(), arrival);
    grant g;
    g.start = std::max(arrival, *slot);
    g.wait = g.start - arrival;
    g.end = saturating_add(g.start, hold);

    if (hold != 0) {
        // The slot's new busy-until is >= every value before it; slide it right to keep the
        // vector sorted.
        const auto pos = std::upper_bound(slot + 1, m_free_at.end(), g.end);
        std::copy(slot + 1, pos, slot);
        *(pos - 1) = g.end;
    }

    ++m_stats.acquisitions;
    if (g.wait != 0) {
        ++m_stats.waits;
        m_stats.total_wait = saturating_add(m_stats.total_wait, g.wait);
        m_stats.max_wait = std::max(m_stats.max_wait, g.wait);
    }
    m_stats.busy = saturating_add(m_stats.busy, hold);
    return g;
}

time_ps busy_resource::contended_start_time(time_ps arrival) const {
    return std::max(arrival, *best_slot(m_free_at.begin(), m_free_at.end(), arrival));
}

void busy_resource::reset() {
    std::fill(m_free_at.begin(), m_free_at.end(), time_ps{0});
    reset_stats();
}

} // namespace smmu::timing
