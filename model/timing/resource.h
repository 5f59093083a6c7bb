// Finite resources for loosely-timed contention: N identical slots, each with a "busy until"
// timestamp (systemc-conventions.md §1.8). No SystemC, no wait(): a caller that knows when a
// request arrives (sc_time_stamp() + its annotated delay) asks when it can start, and adds the
// wait to its delay. This works under temporal decoupling.
//
// Examples: TBU translation slots, TCU walk slots, per-endpoint outstanding ATC invalidations,
// a link. A serial engine executing in order (the command engine) is busy_resource{1}.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/timing/clock.h"

namespace smmu::timing {

/// The outcome of one acquisition.
struct grant {
    time_ps start = 0; ///< when the request got a slot (>= its arrival)
    time_ps wait = 0;  ///< start - arrival: the stall caused by contention
    time_ps end = 0;   ///< start + hold: when the slot becomes free again
};

/// Stall accounting of one resource. All times in picoseconds.
struct resource_stats {
    std::uint64_t acquisitions = 0; ///< calls to acquire()
    std::uint64_t waits = 0;        ///< acquisitions that had to wait (wait > 0)
    time_ps total_wait = 0;         ///< sum of all waits (saturating)
    time_ps max_wait = 0;
    time_ps busy = 0; ///< sum of all hold durations (saturating): slot occupancy

    /// Appends {"acquisitions":..,"waits":..,"total_wait_ps":..,"max_wait_ps":..,"busy_ps":..}.
    void to_json(std::string& out) const;
};

/// N identical slots with busy-until timestamps.
///
/// acquire(arrival, hold) gives the request the slot that lets it start earliest; among slots
/// already free at `arrival` it takes the one that became free last (best fit), so that slots
/// free since long ago stay available for requests that arrive out of order with an earlier
/// timestamp. The slot is then busy until start + hold.
///
/// When requests are presented in arrival order, this is an exact first-come-first-served
/// queue with N servers. When they are presented out of order (temporally decoupled
/// initiators), each slot is a single timeline that only moves forward: an earlier-stamped
/// request presented later waits behind bookings already made on the slot it gets, even if a
/// gap before them would have fitted it. That is the usual LT approximation.
///
/// A zero hold occupies nothing: it only waits for a free slot. So with every latency zero
/// (functional mode) nothing ever waits.
///
/// Cost per call: O(1) when every slot is free at arrival (inline), else an O(log N) search
/// plus moving at most N timestamps; no allocation.
class busy_resource {
public:
    /// slots must be at least 1 (throws std::invalid_argument otherwise: a configuration
    /// error, reported before simulation).
    explicit busy_resource(std::size_t slots);

    /// Books a slot for a request arriving at `arrival` that holds it for `hold`.
    grant acquire(time_ps arrival, time_ps hold) {
        return arrival >= all_free() ? acquire_when_idle(arrival, hold)
                                     : acquire_contended(arrival, hold);
    }

    /// The start time acquire(arrival, ...) would return, without booking anything.
    time_ps start_time(time_ps arrival) const {
        return arrival >= all_free() ? arrival : contended_start_time(arrival);
    }

    /// The earliest time at which some slot is free.
    time_ps earliest_free() const { return m_free_at.front(); }
    /// The time at which every slot is free.
    time_ps all_free() const { return m_free_at.back(); }

    std::size_t slots() const { return m_free_at.size(); }
    const resource_stats& stats() const { return m_stats; }

    void reset_stats() { m_stats = resource_stats{}; }
    /// All slots free from time 0, statistics cleared.
    void reset();

private:
    // Inline: the common case, every slot free at arrival (translation hit paths). The best fit
    // is the last slot, and its new busy-until is the largest value: the order is kept as is.
    grant acquire_when_idle(time_ps arrival, time_ps hold) {
        grant g;
        g.start = arrival;
        g.end = saturating_add(arrival, hold);
        if (hold != 0)
            m_free_at.back() = g.end;
        ++m_stats.acquisitions;
        m_stats.busy = saturating_add(m_stats.busy, hold);
        return g;
    }
    grant acquire_contended(time_ps arrival, time_ps hold);
    time_ps contended_start_time(time_ps arrival) const;

    std::vector<time_ps> m_free_at; ///< busy-until per slot, kept sorted ascending
    resource_stats m_stats;
};

} // namespace smmu::timing
