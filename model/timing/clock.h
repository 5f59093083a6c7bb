// Simulated time as integer picoseconds, and a clock domain that turns cycle counts into it.
//
// model/timing is pure C++ (no SystemC): the SystemC shells convert between sc_time and
// time_ps at their boundary. Latencies are parameters in cycles of the SMMU clock, which is a
// period parameter rather than an sc_clock the model is sensitive to (ARCHITECTURE.md §4,
// systemc-conventions.md §1.9).
#pragma once

#include <cstdint>
#include <limits>

namespace smmu::timing {

/// A point in simulated time or a duration, in picoseconds. 2^64 ps is about 213 days.
using time_ps = std::uint64_t;

/// A number of clock cycles.
using cycles_t = std::uint64_t;

inline constexpr time_ps time_max = std::numeric_limits<time_ps>::max();

/// a + b, clamped to time_max instead of wrapping.
constexpr time_ps saturating_add(time_ps a, time_ps b) {
    return a > time_max - b ? time_max : a + b;
}

/// a * b, clamped to time_max instead of wrapping.
constexpr time_ps saturating_mul(time_ps a, std::uint64_t b) {
    return (b != 0 && a > time_max / b) ? time_max : a * b;
}

/// A clock given by its period. A period of 0 is the `functional` timing mode: every
/// latency expressed in cycles of this domain becomes zero.
class clock_domain {
public:
    constexpr explicit clock_domain(time_ps period)
        : m_period(period) {}

    constexpr time_ps period() const { return m_period; }
    constexpr bool is_zero_time() const { return m_period == 0; }

    /// Duration of n cycles (saturates at time_max).
    constexpr time_ps cycles(cycles_t n) const { return saturating_mul(m_period, n); }

    /// The number of whole cycles that cover duration t (rounded up); 0 when the period is 0.
    constexpr cycles_t to_cycles(time_ps t) const {
        return m_period == 0 ? 0 : t / m_period + (t % m_period != 0 ? 1 : 0);
    }

    /// The first clock edge at or after t, with edges at multiples of the period
    /// (t itself when the period is 0; saturates at time_max).
    constexpr time_ps next_edge(time_ps t) const {
        if (m_period == 0 || t % m_period == 0)
            return t;
        return saturating_add(t - t % m_period, m_period);
    }

private:
    time_ps m_period;
};

} // namespace smmu::timing
