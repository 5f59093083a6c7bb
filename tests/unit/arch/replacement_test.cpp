#include <cstdint>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "model/arch/replacement.h"
#include "model/arch/set_assoc.h"

namespace smmu::arch {
namespace {

TEST(xorshift64, golden_sequence_seed_1) {
    xorshift64 rng(1);
    EXPECT_EQ(rng.next(), 0xbafacf624f01c45dull);
    EXPECT_EQ(rng.next(), 0x02da6891e507685dull);
    EXPECT_EQ(rng.next(), 0xfe17a361146fb7a5ull);
}

TEST(xorshift64, zero_seed_is_substituted_not_stuck) {
    xorshift64 rng(0);
    EXPECT_EQ(rng.next(), 0x7403d1a28c9a2599ull);
    EXPECT_EQ(rng.next(), 0xdd70f339ab8ecb5eull);
    xorshift64 same(0x9e3779b97f4a7c15ull);
    EXPECT_EQ(same.next(), 0x7403d1a28c9a2599ull);
}

TEST(replacement_state, lru_evicts_least_recently_used) {
    replacement_state r(1, 4, replacement_policy::lru, 1);
    for (std::size_t w = 0; w < 4; ++w)
        r.on_fill(0, w);
    EXPECT_EQ(r.victim(0), 0u);
    r.on_hit(0, 0);
    EXPECT_EQ(r.victim(0), 1u);
    r.on_hit(0, 1);
    r.on_hit(0, 2);
    EXPECT_EQ(r.victim(0), 3u);
    r.on_fill(0, 3);
    EXPECT_EQ(r.victim(0), 0u);
}

TEST(replacement_state, round_robin_is_fifo_and_ignores_hits) {
    replacement_state r(1, 4, replacement_policy::round_robin, 1);
    for (std::size_t w = 0; w < 4; ++w)
        r.on_fill(0, w);
    r.on_hit(0, 0);
    r.on_hit(0, 0);
    EXPECT_EQ(r.victim(0), 0u) << "a hit must not refresh FIFO order";
    r.on_fill(0, 0);
    EXPECT_EQ(r.victim(0), 1u);
    r.on_fill(0, 1);
    EXPECT_EQ(r.victim(0), 2u);
    r.on_fill(0, 2);
    r.on_fill(0, 3);
    EXPECT_EQ(r.victim(0), 0u) << "wraps around";
}

TEST(replacement_state, sets_are_independent) {
    replacement_state r(2, 2, replacement_policy::lru, 1);
    r.on_fill(0, 0);
    r.on_fill(0, 1);
    r.on_fill(1, 1);
    r.on_fill(1, 0);
    EXPECT_EQ(r.victim(0), 0u);
    EXPECT_EQ(r.victim(1), 1u);
}

TEST(replacement_state, random_is_deterministic_for_a_seed) {
    // Expected ways: (xorshift64*(42) >> 32) % 4, worked out independently.
    replacement_state r(1, 4, replacement_policy::random, 42);
    const std::vector<std::size_t> expected{2, 3, 3, 3, 3, 1, 1, 3, 2, 0, 3, 3};
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_EQ(r.victim(0), expected[i]) << "draw " << i;

    replacement_state seven(1, 4, replacement_policy::random, 7);
    const std::vector<std::size_t> expected7{0, 1, 0, 1, 1, 3, 3, 3, 2, 1, 1, 2};
    for (std::size_t i = 0; i < expected7.size(); ++i)
        EXPECT_EQ(seven.victim(0), expected7[i]) << "draw " << i;
}

TEST(replacement_state, random_same_seed_same_sequence_and_covers_all_ways) {
    replacement_state a(4, 8, replacement_policy::random, 1234);
    replacement_state b(4, 8, replacement_policy::random, 1234);
    std::set<std::size_t> seen;
    for (int i = 0; i < 200; ++i) {
        const std::size_t v = a.victim(1);
        EXPECT_EQ(v, b.victim(1));
        EXPECT_LT(v, 8u);
        seen.insert(v);
    }
    EXPECT_EQ(seen.size(), 8u);
}

TEST(set_assoc, rejects_bad_geometry) {
    using cache = set_assoc<int>;
    EXPECT_THROW(cache(cache_geometry{0, 1}), std::invalid_argument);
    EXPECT_THROW(cache(cache_geometry{8, 0}), std::invalid_argument);
    EXPECT_THROW(cache(cache_geometry{10, 4}), std::invalid_argument);
    EXPECT_NO_THROW(cache(cache_geometry{12, 4}));
}

TEST(set_assoc, geometry_and_set_mapping) {
    set_assoc<int> pow2(cache_geometry{64, 4});
    EXPECT_EQ(pow2.sets(), 16u);
    EXPECT_EQ(pow2.ways(), 4u);
    EXPECT_EQ(pow2.capacity(), 64u);
    EXPECT_EQ(pow2.set_of(0x23), 3u);
    set_assoc<int> odd(cache_geometry{12, 4});
    EXPECT_EQ(odd.sets(), 3u);
    EXPECT_EQ(odd.set_of(7), 1u);
    set_assoc<int> full(cache_geometry{8, 8});
    EXPECT_EQ(full.sets(), 1u);
    EXPECT_EQ(full.set_of(12345), 0u);
}

struct tagged {
    int tag = 0;
    int value = 0;
};

TEST(set_assoc, allocate_fills_empty_ways_then_evicts_lru) {
    set_assoc<tagged> c(cache_geometry{4, 4, replacement_policy::lru, 1});
    using fill = set_assoc<tagged>::fill;
    for (int t = 0; t < 4; ++t) {
        auto a = c.allocate(0, [&](const tagged& e) { return e.tag == t; });
        EXPECT_EQ(a.how, fill::empty_way);
        *a.entry = {t, t * 10};
    }
    EXPECT_EQ(c.size(), 4u);
    ASSERT_NE(c.find(0, [](const tagged& e) { return e.tag == 0; }), nullptr);
    auto a = c.allocate(0, [](const tagged& e) { return e.tag == 9; });
    EXPECT_EQ(a.how, fill::evicted);
    EXPECT_EQ(a.entry->tag, 1) << "tag 1 is least recently used after the hit on 0";
    *a.entry = {9, 90};
    EXPECT_EQ(c.size(), 4u);
}

TEST(set_assoc, allocate_overwrites_same_tag_in_place) {
    set_assoc<tagged> c(cache_geometry{4, 4});
    using fill = set_assoc<tagged>::fill;
    *c.allocate(0, [](const tagged&) { return false; }).entry = {5, 1};
    auto a = c.allocate(0, [](const tagged& e) { return e.tag == 5; });
    EXPECT_EQ(a.how, fill::same_tag);
    EXPECT_EQ(a.entry->value, 1);
    EXPECT_EQ(c.size(), 1u);
}

TEST(set_assoc, peek_does_not_touch_replacement) {
    set_assoc<tagged> c(cache_geometry{2, 2, replacement_policy::lru, 1});
    *c.allocate(0, [](const tagged&) { return false; }).entry = {1, 0};
    *c.allocate(0, [](const tagged&) { return false; }).entry = {2, 0};
    ASSERT_NE(c.peek(0, [](const tagged& e) { return e.tag == 1; }), nullptr);
    EXPECT_EQ(c.allocate(0, [](const tagged&) { return false; }).entry->tag, 1);
}

TEST(set_assoc, remove_if_and_remove_in_set_if) {
    set_assoc<tagged> c(cache_geometry{8, 2});
    for (int t = 0; t < 8; ++t)
        *c.allocate(static_cast<std::size_t>(t / 2), [](const tagged&) { return false; }).entry = {
            t, 0};
    int seen = 0;
    const auto count = [&](const tagged&) { ++seen; };
    EXPECT_EQ(c.remove_in_set_if(
                  1, [](const tagged&) { return true; }, count),
              2u);
    EXPECT_EQ(seen, 2);
    EXPECT_EQ(c.remove_if([](const tagged& e) { return e.tag % 2 == 0; }, count), 3u);
    EXPECT_EQ(seen, 5);
    EXPECT_EQ(c.size(), 3u);
    std::set<int> left;
    c.for_each([&](const tagged& e) { left.insert(e.tag); });
    EXPECT_EQ(left, (std::set<int>{1, 5, 7}));
    c.clear();
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.find(3, [](const tagged&) { return true; }), nullptr);
}

TEST(size_tracker, mask_follows_counts) {
    size_tracker t;
    t.add(12);
    t.add(12);
    t.add(21);
    EXPECT_EQ(t.mask(), 0x201000ull);
    t.remove(12);
    EXPECT_EQ(t.mask(), 0x201000ull);
    t.remove(12);
    EXPECT_EQ(t.mask(), 0x200000ull);
    t.clear();
    EXPECT_EQ(t.mask(), 0u);
}

TEST(size_tracker, lowest_is_the_smallest_size) {
    EXPECT_EQ(size_tracker::lowest(1), 0u);
    EXPECT_EQ(size_tracker::lowest(0x201000), 12u);
    EXPECT_EQ(size_tracker::lowest(0x8000000000000000ull), 63u);
}

} // namespace
} // namespace smmu::arch
