#include <array>
#include <cstdint>
#include <stdexcept>

#include <gtest/gtest.h>

#include "model/arch/config_cache.h"

namespace smmu::arch {
namespace {

struct fake_ste {
    std::uint64_t word0 = 0;
};
struct fake_cd {
    std::array<std::uint64_t, 2> words{};
};

using cache = config_cache<fake_ste, fake_cd>;

cache make_cache(std::size_t ste_entries = 64, std::size_t cd_entries = 256) {
    return cache(cache_geometry{ste_entries, 4}, cache_geometry{cd_entries, 4});
}

fake_cd cd_of(std::uint64_t v) {
    return fake_cd{{v, ~v}};
}

TEST(cfgi_ste_range_span, aligned_power_of_two_spans) {
    // 2^(Range+1) StreamIDs from SID aligned down (reference §5.3, §9 row 7).
    EXPECT_EQ(cfgi_ste_range_span(0x1234, 0).first, 0x1234u);
    EXPECT_EQ(cfgi_ste_range_span(0x1234, 0).last, 0x1235u);
    EXPECT_EQ(cfgi_ste_range_span(0x1235, 0).first, 0x1234u);
    EXPECT_EQ(cfgi_ste_range_span(0x1237, 3).first, 0x1230u);
    EXPECT_EQ(cfgi_ste_range_span(0x1237, 3).last, 0x123fu);
    EXPECT_EQ(cfgi_ste_range_span(0x8000'0005u, 30).first, 0x8000'0000u);
    EXPECT_EQ(cfgi_ste_range_span(0x8000'0005u, 30).last, 0xffff'ffffu);
    EXPECT_EQ(cfgi_ste_range_span(0x1234, 31).first, 0u) << "Range=31: CFGI_ALL";
    EXPECT_EQ(cfgi_ste_range_span(0x1234, 31).last, 0xffff'ffffu);
    EXPECT_EQ(cfgi_ste_range_span(0x1234, 40).last, 0xffff'ffffu);
}

TEST(config_cache, rejects_bad_geometry) {
    EXPECT_THROW(cache(cache_geometry{0, 1}, cache_geometry{4, 4}), std::invalid_argument);
    EXPECT_THROW(cache(cache_geometry{4, 4}, cache_geometry{5, 4}), std::invalid_argument);
}

TEST(config_cache, ste_and_cd_hit_miss) {
    cache c = make_cache();
    EXPECT_EQ(c.lookup_ste(5), nullptr);
    c.insert_ste(5, fake_ste{0xabc});
    ASSERT_NE(c.lookup_ste(5), nullptr);
    EXPECT_EQ(c.lookup_ste(5)->word0, 0xabcu);
    EXPECT_EQ(c.lookup_ste(6), nullptr);

    c.insert_cd(5, 3, cd_of(0x33));
    ASSERT_NE(c.lookup_cd(5, 3), nullptr);
    EXPECT_EQ(c.lookup_cd(5, 3)->words[0], 0x33u);
    EXPECT_EQ(c.lookup_cd(5, 4), nullptr) << "other SSID";
    EXPECT_EQ(c.lookup_cd(6, 3), nullptr) << "same SSID, other SID";
}

TEST(config_cache, reinsert_replaces_payload) {
    cache c = make_cache();
    c.insert_ste(1, fake_ste{1});
    c.insert_ste(1, fake_ste{2});
    c.insert_cd(1, 0, cd_of(1));
    c.insert_cd(1, 0, cd_of(2));
    EXPECT_EQ(c.ste_count(), 1u);
    EXPECT_EQ(c.cd_count(), 1u);
    EXPECT_EQ(c.peek_ste(1)->word0, 2u);
    EXPECT_EQ(c.peek_cd(1, 0)->words[0], 2u);
    EXPECT_EQ(c.ste_stats().evictions, 0u);
}

class config_matrix : public ::testing::Test {
protected:
    void SetUp() override {
        for (stream_id sid : {0x0fu, 0x10u, 0x11u, 0x13u, 0x14u, 0x1000u}) {
            c.insert_ste(sid, fake_ste{sid});
            for (substream_id ssid : {0u, 1u, 0x7ffu})
                c.insert_cd(sid, ssid, cd_of(sid * 0x10000u + ssid));
        }
    }
    bool ste(stream_id sid) const { return c.peek_ste(sid) != nullptr; }
    bool cd(stream_id sid, substream_id ssid) const { return c.peek_cd(sid, ssid) != nullptr; }
    std::size_t cds_of(stream_id sid) const {
        return static_cast<std::size_t>(cd(sid, 0)) + cd(sid, 1) + cd(sid, 0x7ff);
    }

    cache c = make_cache();
};

TEST_F(config_matrix, cfgi_ste_removes_ste_and_its_cds_only) {
    EXPECT_EQ(c.cfgi_ste(0x11, true), 4u);
    EXPECT_FALSE(ste(0x11));
    EXPECT_EQ(cds_of(0x11), 0u);
    for (stream_id other : {0x0fu, 0x10u, 0x13u, 0x14u, 0x1000u}) {
        EXPECT_TRUE(ste(other)) << other;
        EXPECT_EQ(cds_of(other), 3u) << other;
    }
    EXPECT_EQ(c.ste_stats().invalidated, 1u);
    EXPECT_EQ(c.cd_stats().invalidated, 3u);
}

TEST_F(config_matrix, cfgi_ste_leaf_0_same_effect) {
    EXPECT_EQ(c.cfgi_ste(0x1000, false), 4u);
    EXPECT_FALSE(ste(0x1000));
    EXPECT_TRUE(ste(0x10));
}

TEST_F(config_matrix, cfgi_ste_range_aligned_span) {
    // SID 0x13, Range=1: 4 StreamIDs 0x10..0x13.
    EXPECT_EQ(c.cfgi_ste_range(0x13, 1), 12u);
    for (stream_id gone : {0x10u, 0x11u, 0x13u}) {
        EXPECT_FALSE(ste(gone)) << gone;
        EXPECT_EQ(cds_of(gone), 0u) << gone;
    }
    for (stream_id kept : {0x0fu, 0x14u, 0x1000u}) {
        EXPECT_TRUE(ste(kept)) << kept;
        EXPECT_EQ(cds_of(kept), 3u) << kept;
    }
}

TEST_F(config_matrix, cfgi_ste_range_wider_than_the_cache_scans) {
    // Range=11: 4096 StreamIDs 0x0..0xfff, more than the 16 STE sets.
    EXPECT_EQ(c.cfgi_ste_range(0x0abc, 11), 20u);
    EXPECT_TRUE(ste(0x1000));
    EXPECT_EQ(cds_of(0x1000), 3u);
    EXPECT_EQ(c.ste_count(), 1u);
    EXPECT_EQ(c.cd_count(), 3u);
}

TEST_F(config_matrix, cfgi_ste_range_31_is_cfgi_all) {
    EXPECT_EQ(c.cfgi_ste_range(0x1000, 31), 24u);
    EXPECT_EQ(c.ste_count(), 0u);
    EXPECT_EQ(c.cd_count(), 0u);
}

TEST_F(config_matrix, cfgi_cd_removes_one_cd) {
    EXPECT_EQ(c.cfgi_cd(0x10, 1, true), 1u);
    EXPECT_FALSE(cd(0x10, 1));
    EXPECT_TRUE(cd(0x10, 0));
    EXPECT_TRUE(cd(0x10, 0x7ff));
    EXPECT_TRUE(cd(0x11, 1)) << "same SSID of another StreamID";
    EXPECT_TRUE(ste(0x10)) << "the STE stays";
    EXPECT_EQ(c.cfgi_cd(0x10, 1, false), 0u) << "already gone";
    EXPECT_EQ(c.ste_stats().invalidated, 0u);
    EXPECT_EQ(c.cd_stats().invalidated, 1u);
}

TEST_F(config_matrix, cfgi_cd_all_removes_every_cd_of_the_sid) {
    EXPECT_EQ(c.cfgi_cd_all(0x13), 3u);
    EXPECT_EQ(cds_of(0x13), 0u);
    EXPECT_TRUE(ste(0x13));
    EXPECT_EQ(cds_of(0x14), 3u);
    EXPECT_EQ(cds_of(0x11), 3u);
}

TEST_F(config_matrix, cfgi_all) {
    EXPECT_EQ(c.cfgi_all(), 24u);
    EXPECT_EQ(c.ste_count(), 0u);
    EXPECT_EQ(c.cd_count(), 0u);
    EXPECT_EQ(c.ste_stats().invalidated, 6u);
    EXPECT_EQ(c.cd_stats().invalidated, 18u);
}

TEST(config_cache, eviction_per_policy) {
    cache lru(cache_geometry{2, 2, replacement_policy::lru, 1}, cache_geometry{2, 2});
    lru.insert_ste(1, {});
    lru.insert_ste(2, {});
    lru.lookup_ste(1);
    lru.insert_ste(3, {});
    EXPECT_NE(lru.peek_ste(1), nullptr);
    EXPECT_EQ(lru.peek_ste(2), nullptr);
    EXPECT_EQ(lru.ste_stats().evictions, 1u);

    cache fifo(cache_geometry{2, 2, replacement_policy::round_robin, 1}, cache_geometry{2, 2});
    fifo.insert_ste(1, {});
    fifo.insert_ste(2, {});
    fifo.lookup_ste(1);
    fifo.insert_ste(3, {});
    EXPECT_EQ(fifo.peek_ste(1), nullptr);
    EXPECT_NE(fifo.peek_ste(2), nullptr);

    // Seed 42, 4 ways: the first victim is way 2 (replacement_test golden).
    cache rnd(cache_geometry{4, 4}, cache_geometry{4, 4, replacement_policy::random, 42});
    for (substream_id ssid = 0; ssid < 5; ++ssid)
        rnd.insert_cd(1, ssid, {});
    EXPECT_EQ(rnd.peek_cd(1, 2), nullptr);
    EXPECT_NE(rnd.peek_cd(1, 0), nullptr);
    EXPECT_NE(rnd.peek_cd(1, 4), nullptr);
    EXPECT_EQ(rnd.cd_stats().evictions, 1u);
}

TEST(config_cache, statistics) {
    cache c = make_cache();
    c.lookup_ste(1); // miss
    c.insert_ste(1, {});
    c.lookup_ste(1);   // hit
    c.peek_ste(1);     // not counted
    c.lookup_cd(1, 0); // miss
    c.insert_cd(1, 0, {});
    c.insert_cd(1, 1, {});
    c.lookup_cd(1, 1); // hit
    c.lookup_cd(1, 1); // hit
    c.cfgi_ste(1, true);
    EXPECT_EQ(c.ste_stats().lookups, 2u);
    EXPECT_EQ(c.ste_stats().hits, 1u);
    EXPECT_EQ(c.ste_stats().misses, 1u);
    EXPECT_EQ(c.ste_stats().inserts, 1u);
    EXPECT_EQ(c.ste_stats().invalidated, 1u);
    EXPECT_EQ(c.cd_stats().lookups, 3u);
    EXPECT_EQ(c.cd_stats().hits, 2u);
    EXPECT_EQ(c.cd_stats().misses, 1u);
    EXPECT_EQ(c.cd_stats().inserts, 2u);
    EXPECT_EQ(c.cd_stats().invalidated, 2u);
    c.reset_stats();
    EXPECT_EQ(c.ste_stats().lookups, 0u);
    EXPECT_EQ(c.cd_stats().inserts, 0u);
}

// ------------------------------------------------------------------ repeated hits

TEST(config_cache, generation_changes_with_every_insert_and_invalidation_only) {
    cache c = make_cache();
    std::uint64_t g = c.generation();
    const auto changed = [&] {
        const bool yes = c.generation() != g;
        g = c.generation();
        return yes;
    };
    c.insert_ste(1, {});
    EXPECT_TRUE(changed()) << "insert_ste";
    c.insert_cd(1, 0, {});
    EXPECT_TRUE(changed()) << "insert_cd";
    c.lookup_ste(1);
    c.lookup_cd(1, 0);
    c.lookup_ste(9);
    c.peek_ste(1);
    c.peek_cd(1, 0);
    EXPECT_FALSE(changed()) << "lookups and peeks";
    c.cfgi_cd(1, 0, true);
    EXPECT_TRUE(changed()) << "cfgi_cd";
    c.cfgi_cd_all(1);
    EXPECT_TRUE(changed()) << "cfgi_cd_all, even with nothing to remove";
    c.cfgi_ste(1, true);
    EXPECT_TRUE(changed()) << "cfgi_ste";
    c.cfgi_ste_range(0, 3);
    EXPECT_TRUE(changed()) << "cfgi_ste_range";
    c.cfgi_all();
    EXPECT_TRUE(changed()) << "cfgi_all";
}

TEST(config_cache, a_repeated_hit_counts_and_refreshes_like_a_lookup) {
    // Two ways, LRU. STE 1 is filled first; a hit on it keeps it, so STE 2 goes.
    cache c(cache_geometry{2, 2, replacement_policy::lru, 1},
            cache_geometry{2, 2, replacement_policy::lru, 1});
    c.insert_ste(1, fake_ste{0x11});
    cache::hit_ref ste_at;
    ASSERT_NE(c.lookup_ste(1, ste_at), nullptr);
    c.insert_ste(2, fake_ste{0x22});
    EXPECT_EQ(c.repeat_ste_hit(ste_at).word0, 0x11u);
    c.insert_ste(3, {});
    EXPECT_NE(c.peek_ste(1), nullptr) << "the repeated hit made STE 1 the most recent";
    EXPECT_EQ(c.peek_ste(2), nullptr);
    EXPECT_EQ(c.ste_stats().lookups, 2u);
    EXPECT_EQ(c.ste_stats().hits, 2u);

    c.insert_cd(1, 7, cd_of(7));
    cache::hit_ref cd_at;
    ASSERT_NE(c.lookup_cd(1, 7, cd_at), nullptr);
    c.insert_cd(1, 8, cd_of(8));
    const fake_cd& repeated = c.repeat_cd_hit(cd_at);
    EXPECT_EQ(repeated.words[0], 7u);
    EXPECT_EQ(repeated.words[1], ~std::uint64_t{7});
    c.insert_cd(1, 9, cd_of(9));
    EXPECT_NE(c.peek_cd(1, 7), nullptr);
    EXPECT_EQ(c.peek_cd(1, 8), nullptr);
    EXPECT_EQ(c.cd_stats().lookups, 2u);
    EXPECT_EQ(c.cd_stats().hits, 2u);
    EXPECT_EQ(c.cd_stats().misses, 0u);
}

TEST(config_cache, hit_ref_names_the_slot_of_the_hit) {
    cache c = make_cache();
    c.insert_ste(0x10, fake_ste{0x10});
    c.insert_ste(0x20, fake_ste{0x20}); // same set (16 sets), second way
    cache::hit_ref at;
    ASSERT_NE(c.lookup_ste(0x20, at), nullptr);
    EXPECT_EQ(at.set, 0u);
    EXPECT_EQ(at.way, 1u);
    EXPECT_EQ(c.repeat_ste_hit(at).word0, 0x20u);
}

} // namespace
} // namespace smmu::arch
