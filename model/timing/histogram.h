// A fixed-memory latency histogram with log-linear buckets, cheap enough to record on the
// translation hit path (no allocation, no floating point per record).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace smmu::timing {

/// Histogram of unsigned values (typically time_ps latencies).
///
/// Buckets: with s = sub_bucket_bits, every value below 2^s has its own bucket (exact), and
/// every power-of-two range [2^e, 2^(e+1)) above it is split into 2^s equal buckets of width
/// 2^(e-s). s = 0 gives plain log2 buckets ({0}, {1}, [2,4), [4,8), ...). There are
/// (65 - s) * 2^s buckets, allocated once by the constructor.
///
/// count, min, max and the sum are exact (the sum saturates at 2^64 - 1; mean() is then wrong).
///
/// Percentiles use the nearest-rank definition (the smallest recorded value v such that at
/// least p% of the values are <= v) and report the upper bound of the bucket holding that
/// value, clamped to max(). Hence, for the true nearest-rank percentile x:
///     x <= percentile(p) <= x + (bucket width - 1),
/// i.e. exact when x < 2^s, and otherwise too high by less than x / 2^s (relative error
/// < 2^-s: 6.25% at the default s = 4, 100% for plain log2 buckets).
class latency_histogram {
public:
    static constexpr unsigned default_sub_bucket_bits = 4;
    static constexpr unsigned max_sub_bucket_bits = 10;

    /// Throws std::invalid_argument when sub_bucket_bits > max_sub_bucket_bits
    /// (a configuration error).
    explicit latency_histogram(unsigned sub_bucket_bits = default_sub_bucket_bits);

    /// Inline: it is on the translation hit path.
    void record(std::uint64_t value) {
        ++m_buckets[bucket_index(value)];
        m_min = value < m_min ? value : m_min;
        m_max = value > m_max ? value : m_max;
        ++m_count;
        m_sum = m_sum > std::numeric_limits<std::uint64_t>::max() - value
                    ? std::numeric_limits<std::uint64_t>::max()
                    : m_sum + value;
    }

    /// Adds the other histogram's records. Returns false (and changes nothing) when the two
    /// have different bucket layouts.
    bool merge(const latency_histogram& other);

    void clear();

    std::uint64_t count() const { return m_count; }
    /// Smallest / largest value recorded; 0 when empty.
    std::uint64_t min() const { return m_count == 0 ? 0 : m_min; }
    std::uint64_t max() const { return m_max; }
    std::uint64_t sum() const { return m_sum; }
    /// Arithmetic mean; 0 when empty.
    double mean() const;

    /// Percentile p in [0, 100] as documented above; p <= 0 gives min(), p >= 100 max().
    /// 0 when empty.
    std::uint64_t percentile(double p) const;

    unsigned sub_bucket_bits() const { return m_sub_bits; }
    std::size_t bucket_count() const { return m_buckets.size(); }
    std::size_t bucket_index(std::uint64_t value) const {
        const std::uint64_t sub_count = std::uint64_t{1} << m_sub_bits;
        if (value < sub_count)
            return static_cast<std::size_t>(value);
        const auto e = static_cast<unsigned>(63 - __builtin_clzll(value)); // e >= m_sub_bits
        const std::uint64_t mantissa = value >> (e - m_sub_bits);          // [2^s, 2^(s+1))
        return static_cast<std::size_t>(std::uint64_t{e - m_sub_bits + 1} * sub_count +
                                        (mantissa - sub_count));
    }
    /// Smallest and largest value that falls in bucket i (i < bucket_count()).
    std::uint64_t bucket_lower(std::size_t i) const;
    std::uint64_t bucket_upper(std::size_t i) const;
    /// Number of values recorded in bucket i.
    std::uint64_t bucket_value_count(std::size_t i) const { return m_buckets[i]; }

    /// Appends the summary as one JSON object, keys in this order:
    /// {"count":N,"min":N,"max":N,"mean":X,"p50":N,"p90":N,"p99":N}
    /// Integers are printed exactly, the mean in the shortest form that reads back to the same
    /// double. All values are 0 when empty.
    void to_json(std::string& out) const;

private:
    static constexpr std::uint64_t empty_min = std::numeric_limits<std::uint64_t>::max();

    unsigned m_sub_bits;
    std::vector<std::uint64_t> m_buckets;
    std::uint64_t m_count = 0;
    std::uint64_t m_min = empty_min; ///< so that record() needs no test of m_count
    std::uint64_t m_max = 0;
    std::uint64_t m_sum = 0;
};

} // namespace smmu::timing
