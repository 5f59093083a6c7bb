#include "model/timing/histogram.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace smmu::timing {

namespace {

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

void append_key(std::string& out, const char* key, bool first) {
    if (!first)
        out += ',';
    out += '"';
    out += key;
    out += "\":";
}

void append_uint(std::string& out, const char* key, std::uint64_t value, bool first = false) {
    append_key(out, key, first);
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, res.ptr);
}

void append_double(std::string& out, const char* key, double value) {
    append_key(out, key, false);
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, res.ptr);
}

} // namespace

latency_histogram::latency_histogram(unsigned sub_bucket_bits)
    : m_sub_bits(sub_bucket_bits) {
    if (sub_bucket_bits > max_sub_bucket_bits)
        throw std::invalid_argument("latency_histogram: sub_bucket_bits must be at most 10");
    m_buckets.assign(std::size_t{65u - sub_bucket_bits} << sub_bucket_bits, 0);
}

std::uint64_t latency_histogram::bucket_lower(std::size_t i) const {
    const std::uint64_t sub_count = std::uint64_t{1} << m_sub_bits;
    if (i < sub_count)
        return i;
    const std::uint64_t group = i >> m_sub_bits; // >= 1
    const unsigned shift = static_cast<unsigned>(group - 1);
    return (sub_count + (i & (sub_count - 1))) << shift;
}

std::uint64_t latency_histogram::bucket_upper(std::size_t i) const {
    const std::uint64_t sub_count = std::uint64_t{1} << m_sub_bits;
    if (i < sub_count)
        return i;
    const unsigned shift = static_cast<unsigned>((i >> m_sub_bits) - 1);
    return bucket_lower(i) + ((std::uint64_t{1} << shift) - 1);
}

bool latency_histogram::merge(const latency_histogram& other) {
    if (other.m_sub_bits != m_sub_bits)
        return false;
    if (other.m_count == 0)
        return true;
    for (std::size_t i = 0; i < m_buckets.size(); ++i)
        m_buckets[i] += other.m_buckets[i];
    m_min = std::min(m_min, other.m_min);
    m_max = std::max(m_max, other.m_max);
    m_count += other.m_count;
    m_sum = m_sum > u64_max - other.m_sum ? u64_max : m_sum + other.m_sum;
    return true;
}

void latency_histogram::clear() {
    std::fill(m_buckets.begin(), m_buckets.end(), std::uint64_t{0});
    m_count = m_max = m_sum = 0;
    m_min = empty_min;
}

double latency_histogram::mean() const {
    return m_count == 0 ? 0.0 : static_cast<double>(m_sum) / static_cast<double>(m_count);
}

std::uint64_t latency_histogram::percentile(double p) const {
    if (m_count == 0)
        return 0;
    if (!(p > 0.0)) // also catches NaN
        return min();
    if (p >= 100.0)
        return m_max;
    // Nearest rank ceil(p * count / 100): p * count is exact for integral p and count < 2^53,
    // and dividing an exact multiple of 100 by 100 is exact, so p50/p90/p99 hit exact ranks.
    const double scaled = std::ceil(p * static_cast<double>(m_count) / 100.0);
    const std::uint64_t rank =
        std::clamp<std::uint64_t>(static_cast<std::uint64_t>(scaled), 1, m_count);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < m_buckets.size(); ++i) {
        seen += m_buckets[i];
        if (seen >= rank)
            return std::min(bucket_upper(i), m_max);
    }
    return m_max; // not reached: the buckets sum to m_count
}

void latency_histogram::to_json(std::string& out) const {
    out += '{';
    append_uint(out, "count", count(), true);
    append_uint(out, "min", min());
    append_uint(out, "max", max());
    append_double(out, "mean", mean());
    append_uint(out, "p50", percentile(50));
    append_uint(out, "p90", percentile(90));
    append_uint(out, "p99", percentile(99));
    out += '}';
}

} // namespace smmu::timing
