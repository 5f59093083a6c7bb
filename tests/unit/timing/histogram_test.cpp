#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "model/timing/histogram.h"

namespace {

using smmu::timing::latency_histogram;

constexpr std::uint64_t u64_max = 0xFFFFFFFFFFFFFFFFull;

TEST(latency_histogram, empty) {
    const latency_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
    EXPECT_EQ(h.percentile(50), 0u);
    std::string out;
    h.to_json(out);
    EXPECT_EQ(out, R"({"count":0,"min":0,"max":0,"mean":0,"p50":0,"p90":0,"p99":0})");
}

TEST(latency_histogram, too_many_sub_bucket_bits_is_a_configuration_error) {
    EXPECT_THROW(latency_histogram{11}, std::invalid_argument);
    EXPECT_NO_THROW(latency_histogram{10});
}

TEST(latency_histogram, bucket_count) {
    EXPECT_EQ(latency_histogram{0}.bucket_count(), 65u);       // {0} + 64 powers of two
    EXPECT_EQ(latency_histogram{4}.bucket_count(), 61u * 16u); // 976
    EXPECT_EQ(latency_histogram{}.sub_bucket_bits(), 4u);
}

TEST(latency_histogram, log2_bucket_layout) {
    const latency_histogram h{0};
    EXPECT_EQ(h.bucket_index(0), 0u);
    EXPECT_EQ(h.bucket_index(1), 1u);
    EXPECT_EQ(h.bucket_index(2), 2u);
    EXPECT_EQ(h.bucket_index(3), 2u);
    EXPECT_EQ(h.bucket_index(4), 3u);
    EXPECT_EQ(h.bucket_index(1023), 10u);
    EXPECT_EQ(h.bucket_index(1024), 11u);
    EXPECT_EQ(h.bucket_index(u64_max), 64u);
    EXPECT_EQ(h.bucket_lower(11), 1024u);
    EXPECT_EQ(h.bucket_upper(11), 2047u);
    EXPECT_EQ(h.bucket_lower(64), 0x8000000000000000ull);
    EXPECT_EQ(h.bucket_upper(64), u64_max);
}

TEST(latency_histogram, log_linear_bucket_layout) {
    const latency_histogram h{4};
    // Below 16: one bucket per value.
    EXPECT_EQ(h.bucket_index(0), 0u);
    EXPECT_EQ(h.bucket_index(15), 15u);
    // [16, 32): width 1, indices 16..31.
    EXPECT_EQ(h.bucket_index(16), 16u);
    EXPECT_EQ(h.bucket_index(31), 31u);
    // [32, 64): width 2.
    EXPECT_EQ(h.bucket_index(32), 32u);
    EXPECT_EQ(h.bucket_index(33), 32u);
    EXPECT_EQ(h.bucket_index(34), 33u);
    // 500 = 0b1_1111_0100: [256, 512) has width 16; 500 is in [496, 511], index 5*16+15.
    EXPECT_EQ(h.bucket_index(500), 95u);
    EXPECT_EQ(h.bucket_lower(95), 496u);
    EXPECT_EQ(h.bucket_upper(95), 511u);
    EXPECT_EQ(h.bucket_index(u64_max), 975u);
    EXPECT_EQ(h.bucket_lower(975), 0xF800000000000000ull);
    EXPECT_EQ(h.bucket_upper(975), u64_max);
}

TEST(latency_histogram, buckets_tile_the_value_range) {
    const latency_histogram h{3};
    for (std::size_t i = 0; i + 1 < h.bucket_count(); ++i) {
        ASSERT_EQ(h.bucket_upper(i) + 1, h.bucket_lower(i + 1)) << i;
        ASSERT_EQ(h.bucket_index(h.bucket_lower(i)), i);
        ASSERT_EQ(h.bucket_index(h.bucket_upper(i)), i);
    }
}

TEST(latency_histogram, count_min_max_mean_sum_are_exact) {
    latency_histogram h;
    h.record(7);
    h.record(1000000);
    h.record(3);
    h.record(10);
    EXPECT_EQ(h.count(), 4u);
    EXPECT_EQ(h.min(), 3u);
    EXPECT_EQ(h.max(), 1000000u);
    EXPECT_EQ(h.sum(), 1000020u);
    EXPECT_DOUBLE_EQ(h.mean(), 250005.0);
    EXPECT_EQ(h.bucket_value_count(h.bucket_index(7)), 1u);
}

TEST(latency_histogram, sum_saturates) {
    latency_histogram h;
    h.record(u64_max);
    h.record(5);
    EXPECT_EQ(h.sum(), u64_max);
    EXPECT_EQ(h.max(), u64_max);
    EXPECT_EQ(h.min(), 5u);
}

TEST(latency_histogram, small_values_are_exact) {
    // 0..15 once each, s = 4: every value has its own bucket.
    latency_histogram h{4};
    for (std::uint64_t v = 0; v < 16; ++v)
        h.record(v);
    EXPECT_EQ(h.percentile(50), 7u);  // rank 8
    EXPECT_EQ(h.percentile(90), 14u); // rank ceil(14.4) = 15
    EXPECT_EQ(h.percentile(99), 15u); // rank ceil(15.84) = 16
    EXPECT_EQ(h.percentile(1), 0u);   // rank 1
    EXPECT_EQ(h.percentile(0), 0u);
    EXPECT_EQ(h.percentile(100), 15u);
}

TEST(latency_histogram, uniform_1_to_1000_log_linear) {
    // True nearest-rank percentiles: p50 = 500, p90 = 900, p99 = 990.
    // Reported: the upper bound of their s=4 bucket:
    //   500 in [496, 511]; 900 in [896, 927] (width 32 in [512,1024)); 990 in [960, 991].
    latency_histogram h{4};
    for (std::uint64_t v = 1; v <= 1000; ++v)
        h.record(v);
    EXPECT_EQ(h.percentile(50), 511u);
    EXPECT_EQ(h.percentile(90), 927u);
    EXPECT_EQ(h.percentile(99), 991u);
    EXPECT_EQ(h.percentile(100), 1000u);
    EXPECT_DOUBLE_EQ(h.mean(), 500.5);
}

TEST(latency_histogram, uniform_1_to_1000_plain_log2) {
    // s = 0: 500 and 990 fall in [256, 511] and [512, 1023]; the latter is clamped to max.
    latency_histogram h{0};
    for (std::uint64_t v = 1; v <= 1000; ++v)
        h.record(v);
    EXPECT_EQ(h.percentile(50), 511u);
    EXPECT_EQ(h.percentile(90), 1000u);
    EXPECT_EQ(h.percentile(99), 1000u);
    EXPECT_EQ(h.percentile(25), 255u); // true 250 in [128, 255]
}

TEST(latency_histogram, constant_distribution_reports_the_constant) {
    latency_histogram h;
    for (int i = 0; i < 50; ++i)
        h.record(280000); // 280 ns in ps
    EXPECT_EQ(h.percentile(50), 280000u);
    EXPECT_EQ(h.percentile(99), 280000u);
    EXPECT_EQ(h.min(), 280000u);
}

TEST(latency_histogram, tail_outlier) {
    // 99 fast values and one slow: p99 is still fast, anything beyond 99% is the outlier.
    latency_histogram h;
    for (int i = 0; i < 99; ++i)
        h.record(10);
    h.record(1000000);
    EXPECT_EQ(h.percentile(50), 10u);
    EXPECT_EQ(h.percentile(99), 10u);        // rank 99
    EXPECT_EQ(h.percentile(99.5), 1000000u); // rank 100
    EXPECT_EQ(h.percentile(100), 1000000u);
}

TEST(latency_histogram, percentile_error_is_bounded_by_the_bucket_width) {
    // Geometric-ish values; check x <= reported < x + x/16 for s = 4 at many ranks.
    latency_histogram h{4};
    std::uint64_t v = 17;
    std::uint64_t values[200];
    for (int i = 0; i < 200; ++i) {
        values[i] = v;
        h.record(v);
        v = v + v / 7 + 3;
    }
    for (int r = 1; r <= 200; ++r) {
        const double p = 100.0 * r / 200.0;
        const std::uint64_t truth = values[r - 1]; // values are increasing
        const std::uint64_t got = h.percentile(p);
        ASSERT_GE(got, truth) << r;
        ASSERT_LT(got, truth + truth / 16 + 1) << r;
    }
}

TEST(latency_histogram, percentile_out_of_range_arguments) {
    latency_histogram h;
    h.record(5);
    h.record(100);
    EXPECT_EQ(h.percentile(-3), 5u);
    EXPECT_EQ(h.percentile(250), 100u);
    EXPECT_EQ(h.percentile(std::numeric_limits<double>::quiet_NaN()), 5u);
}

TEST(latency_histogram, merge) {
    latency_histogram a, b, c{3};
    a.record(10);
    a.record(20);
    b.record(5);
    b.record(40);
    EXPECT_TRUE(a.merge(b));
    EXPECT_EQ(a.count(), 4u);
    EXPECT_EQ(a.min(), 5u);
    EXPECT_EQ(a.max(), 40u);
    EXPECT_EQ(a.sum(), 75u);
    EXPECT_EQ(a.percentile(50), 10u);
    EXPECT_FALSE(a.merge(c)); // different layout
    EXPECT_EQ(a.count(), 4u);
    latency_histogram empty;
    EXPECT_TRUE(empty.merge(b));
    EXPECT_EQ(empty.min(), 5u);
    EXPECT_TRUE(b.merge(latency_histogram{}));
    EXPECT_EQ(b.count(), 2u);
}

TEST(latency_histogram, clear) {
    latency_histogram h;
    h.record(9);
    h.clear();
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.bucket_value_count(9), 0u);
    h.record(4);
    EXPECT_EQ(h.min(), 4u);
}

TEST(latency_histogram, clear_forgets_the_minimum) {
    latency_histogram h;
    h.record(4);
    h.clear();
    EXPECT_EQ(h.min(), 0u);
    h.record(9);
    EXPECT_EQ(h.min(), 9u);
    latency_histogram other;
    other.record(30);
    EXPECT_TRUE(h.merge(other));
    EXPECT_EQ(h.min(), 9u);
}

TEST(latency_histogram, json_text) {
    latency_histogram h{4};
    for (std::uint64_t v = 1; v <= 1000; ++v)
        h.record(v);
    std::string out = "{\"h\":";
    h.to_json(out);
    out += '}';
    EXPECT_EQ(out, R"({"h":{"count":1000,"min":1,"max":1000,"mean":500.5,"p50":511,)"
                   R"("p90":927,"p99":991}})");
}

TEST(latency_histogram, json_mean_round_trips) {
    latency_histogram h;
    h.record(1);
    h.record(1);
    h.record(2);
    std::string out;
    h.to_json(out);
    EXPECT_EQ(out, R"({"count":3,"min":1,"max":2,"mean":1.3333333333333333,"p50":1,"p90":2,)"
                   R"("p99":2})");
}

} // namespace
