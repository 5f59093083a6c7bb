#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/arch/walk_cache.h"

namespace smmu::arch {
namespace {

walk_context ctx(tlb_regime regime, tlb_kind kind, std::optional<vmid_t> vmid, asid_t asid,
                 granule gran = granule::size_4k) {
    return walk_context{regime, kind, vmid, asid, gran};
}
walk_context s1(vmid_t vmid, asid_t asid, granule gran = granule::size_4k) {
    return ctx(tlb_regime::ns_el1, tlb_kind::stage1, vmid, asid, gran);
}
walk_context s2(vmid_t vmid) {
    return ctx(tlb_regime::ns_el1, tlb_kind::stage2, vmid, 0);
}

walk_entry make(const walk_context& c, int level, std::uint64_t input, phys_addr table) {
    walk_entry e;
    e.ctx = c;
    e.level = static_cast<std::int8_t>(level);
    e.input = input;
    e.next_table = table;
    return e;
}

tlb_inv_scope scope(std::uint64_t start, std::uint64_t end, bool leaf = false,
                    std::uint8_t ttl = 0) {
    return tlb_inv_scope{addr_range{start, end}, leaf, ttl};
}

cache_geometry big() {
    return cache_geometry{256, 4};
}

TEST(walk_span_log2, per_granule_and_level) {
    // Reference §8.1: what one table descriptor at each level maps.
    EXPECT_EQ(walk_span_log2(granule::size_4k, -1), 48u);
    EXPECT_EQ(walk_span_log2(granule::size_4k, 0), 39u); // 512 GB
    EXPECT_EQ(walk_span_log2(granule::size_4k, 1), 30u); // 1 GB
    EXPECT_EQ(walk_span_log2(granule::size_4k, 2), 21u); // 2 MB
    EXPECT_EQ(walk_span_log2(granule::size_16k, 0), 47u);
    EXPECT_EQ(walk_span_log2(granule::size_16k, 1), 36u); // 64 GB
    EXPECT_EQ(walk_span_log2(granule::size_16k, 2), 25u); // 32 MB
    EXPECT_EQ(walk_span_log2(granule::size_64k, 1), 42u); // 4 TB
    EXPECT_EQ(walk_span_log2(granule::size_64k, 2), 29u); // 512 MB
    EXPECT_EQ(walk_span_log2(granule::size_4k, 3), 0u) << "level 3 has no table descriptors";
    EXPECT_EQ(walk_span_log2(granule::size_4k, -2), 0u);
}

TEST(walk_cache, rejects_bad_geometry_and_levels) {
    EXPECT_THROW(walk_cache(cache_geometry{3, 2}), std::invalid_argument);
    walk_cache wc(big());
    EXPECT_FALSE(wc.insert(make(s1(1, 1), 3, 0, 0)));
    EXPECT_FALSE(wc.insert(make(s1(1, 1), -2, 0, 0)));
    EXPECT_FALSE(wc.insert(make(s1(1, 1, granule::size_64k), -1, 0, 0))) << "span 2^68";
    EXPECT_EQ(wc.size(), 0u);
    EXPECT_EQ(wc.stats().inserts, 0u);
}

TEST(walk_cache, lookup_returns_deepest_cached_level) {
    walk_cache wc(big());
    ASSERT_TRUE(wc.insert(make(s1(1, 1), 0, 0x40'1234'5678, 0xa000)));
    ASSERT_TRUE(wc.insert(make(s1(1, 1), 1, 0x40'1234'5678, 0xb000)));
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x40'1234'5678)->level, 1);
    ASSERT_TRUE(wc.insert(make(s1(1, 1), 2, 0x40'1234'5678, 0xc000)));
    const walk_entry* e = wc.lookup(s1(1, 1), 0x40'1234'5678);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->level, 2);
    EXPECT_EQ(e->next_table, 0xc000u);
    EXPECT_EQ(e->input, 0x40'1220'0000u) << "aligned down to the 2 MB span";
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x40'1240'0000)->level, 1) << "other 2 MB, same 1 GB";
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x40'4000'0000)->level, 0) << "other 1 GB, same 512 GB";
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x80'0000'0000), nullptr) << "other 512 GB";
}

TEST(walk_cache, tags_separate_contexts) {
    walk_cache wc(big());
    ASSERT_TRUE(wc.insert(make(s1(1, 1), 2, 0x20'0000, 0xc000)));
    EXPECT_NE(wc.lookup(s1(1, 1), 0x3f'ffff), nullptr);
    EXPECT_EQ(wc.lookup(s1(1, 2), 0x20'0000), nullptr) << "ASID";
    EXPECT_EQ(wc.lookup(s1(2, 1), 0x20'0000), nullptr) << "VMID";
    EXPECT_EQ(wc.lookup(s1(1, 1, granule::size_16k), 0x20'0000), nullptr) << "granule";
    EXPECT_EQ(wc.lookup(ctx(tlb_regime::ns_el1, tlb_kind::nested, 1, 1), 0x20'0000), nullptr);
    EXPECT_EQ(wc.lookup(s2(1), 0x20'0000), nullptr) << "stage";
    EXPECT_EQ(wc.lookup(ctx(tlb_regime::el2_e2h, tlb_kind::stage1, std::nullopt, 1), 0x20'0000),
              nullptr)
        << "regime";
}

TEST(walk_cache, stage2_and_el2_ignore_asid) {
    walk_cache wc(big());
    ASSERT_TRUE(wc.insert(make(ctx(tlb_regime::ns_el1, tlb_kind::stage2, 4, 77), 1, 0, 0x1000)));
    EXPECT_NE(wc.lookup(s2(4), 0x1000), nullptr);
    ASSERT_TRUE(wc.insert(make(ctx(tlb_regime::el2, tlb_kind::stage1, 5, 9), 1, 0, 0x2000)));
    EXPECT_NE(wc.lookup(ctx(tlb_regime::el2, tlb_kind::stage1, std::nullopt, 0), 0x1000), nullptr)
        << "EL2 has neither ASID nor VMID";
}

TEST(walk_cache, same_tag_reinsert_overwrites) {
    walk_cache wc(big());
    wc.insert(make(s1(1, 1), 2, 0x20'0000, 0xc000));
    wc.insert(make(s1(1, 1), 2, 0x21'0000, 0xd000));
    EXPECT_EQ(wc.size(), 1u);
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x20'0000)->next_table, 0xd000u);
}

TEST(walk_cache, level0_entry_removed_by_4k_range_inside_it) {
    walk_cache wc(big());
    wc.insert(make(s1(1, 1), 0, 0, 0xa000));
    EXPECT_EQ(wc.nh_va(1, 1, scope(0x12'3456'7000, 0x12'3456'8000)), 1u);
    EXPECT_EQ(wc.lookup(s1(1, 1), 0), nullptr);
}

TEST(walk_cache, leaf_invalidations_leave_the_walk_cache_alone) {
    walk_cache wc(big());
    wc.insert(make(s1(1, 1), 2, 0x20'0000, 0xc000));
    wc.insert(make(s2(1), 2, 0x20'0000, 0xc000));
    wc.insert(make(ctx(tlb_regime::el2, tlb_kind::stage1, std::nullopt, 0), 2, 0x20'0000, 0));
    const tlb_inv_scope leaf = scope(0, 0x100'0000, true);
    EXPECT_EQ(wc.nh_va(1, 1, leaf), 0u);
    EXPECT_EQ(wc.nh_vaa(1, leaf), 0u);
    EXPECT_EQ(wc.el2_va(asid_t{0}, leaf), 0u);
    EXPECT_EQ(wc.el2_vaa(leaf), 0u);
    EXPECT_EQ(wc.s2_ipa(1, leaf), 0u);
    EXPECT_EQ(wc.size(), 3u);
}

TEST(walk_cache, ttl_never_spares_a_table_entry) {
    walk_cache wc(big());
    wc.insert(make(s1(1, 1), 1, 0x4000'0000, 0xb000));
    wc.insert(make(s1(1, 1), 2, 0x4000'0000, 0xc000));
    EXPECT_EQ(wc.nh_va(1, 1, scope(0x4000'0000, 0x4000'1000, false, 3)), 2u);
}

TEST(walk_cache, range_partially_overlapping_span) {
    walk_cache wc(big());
    wc.insert(make(s1(1, 1), 2, 0x20'0000, 0xc000));
    EXPECT_EQ(wc.nh_vaa(1, scope(0x1f'f000, 0x20'0000)), 0u) << "ends at the base";
    EXPECT_EQ(wc.nh_vaa(1, scope(0x40'0000, 0x40'1000)), 0u) << "starts past the end";
    EXPECT_EQ(wc.nh_vaa(1, scope(0x3f'f000, 0x80'0000)), 1u);
}

TEST(walk_cache, large_range_full_scan_path) {
    walk_cache wc(cache_geometry{8, 2}); // 4 sets
    wc.insert(make(s1(1, 1), 2, 0x4000'0000, 0));
    wc.insert(make(s1(1, 1), 2, 0x7fe0'0000, 0));
    wc.insert(make(s1(1, 1), 2, 0x8000'0000, 0));
    EXPECT_EQ(wc.nh_vaa(1, scope(0x4000'0000, 0x8000'0000)), 2u);
    EXPECT_NE(wc.peek(s1(1, 1), 0x8000'0000), nullptr);
}

// ---------------------------------------------------------------- invalidation matrix

// Parameter: total entries (4 ways). The small geometry makes range
// invalidations scan the whole structure; the large one makes them probe sets.
class walk_matrix : public ::testing::TestWithParam<std::size_t> {
protected:
    struct named {
        std::string name;
        walk_entry entry;
    };
    static constexpr std::uint64_t r_start = 0x4000'0000;
    static constexpr std::uint64_t r_end = 0x4400'0000; // 32 level-2 spans of 2 MB

    void add(const std::string& name, const walk_context& c, std::uint64_t input) {
        const walk_entry e = make(c, 2, input, 0x100'0000 + input);
        m_all.push_back({name, e});
        ASSERT_TRUE(wc.insert(e));
    }

    void SetUp() override {
        const auto e2 = ctx(tlb_regime::el2, tlb_kind::stage1, std::nullopt, 0);
        const auto h1 = ctx(tlb_regime::el2_e2h, tlb_kind::stage1, std::nullopt, 1);
        add("c1", s1(1, 1), 0x4000'0000);
        add("c2", s1(1, 2), 0x4020'0000);
        add("c3", s1(2, 1), 0x4040'0000);
        add("n1", ctx(tlb_regime::ns_el1, tlb_kind::nested, 1, 1), 0x4060'0000);
        add("s2", s2(1), 0x4080'0000);
        add("s2b", s2(2), 0x40a0'0000);
        add("e2", e2, 0x40c0'0000);
        add("h1", h1, 0x40e0'0000);
        add("h2", ctx(tlb_regime::el2_e2h, tlb_kind::stage1, std::nullopt, 2), 0x4100'0000);
        add("nv", ctx(tlb_regime::ns_el1, tlb_kind::stage1, std::nullopt, 1), 0x4120'0000);
        add("c1_far", s1(1, 1), 0x8000'0000);
        add("c3_far", s1(2, 1), 0x8020'0000);
        add("s2_far", s2(1), 0x8040'0000);
        add("e2_far", e2, 0x8060'0000);
        add("h1_far", h1, 0x8080'0000);
    }

    std::set<std::string> removed() const {
        std::set<std::string> out;
        for (const auto& n : m_all) {
            const walk_entry* e = wc.peek(n.entry.ctx, n.entry.input);
            if (e == nullptr || e->next_table != n.entry.next_table)
                out.insert(n.name);
        }
        return out;
    }

    void expect(std::size_t count, const std::set<std::string>& names) {
        EXPECT_EQ(count, names.size());
        EXPECT_EQ(removed(), names);
        EXPECT_EQ(wc.size(), m_all.size() - names.size());
        EXPECT_EQ(wc.stats().invalidated, names.size());
    }

    tlb_inv_scope r() const { return scope(r_start, r_end); }

    walk_cache wc{cache_geometry{GetParam(), 4}};
    std::vector<named> m_all;
};

TEST_P(walk_matrix, nothing_removed_before_invalidation) {
    expect(0, {});
}

TEST_P(walk_matrix, nh_all) {
    expect(wc.nh_all(1), {"c1", "c2", "n1", "nv", "c1_far"});
}

TEST_P(walk_matrix, nh_all_without_vmid) {
    expect(wc.nh_all(std::nullopt), {"c1", "c2", "c3", "n1", "nv", "c1_far", "c3_far"});
}

TEST_P(walk_matrix, nh_asid) {
    expect(wc.nh_asid(1, 1), {"c1", "n1", "nv", "c1_far"});
}

TEST_P(walk_matrix, nh_va_non_leaf_hits_every_asid_of_the_vmid_in_range) {
    expect(wc.nh_va(1, 1, r()), {"c1", "c2", "n1", "nv"});
}

TEST_P(walk_matrix, nh_vaa) {
    expect(wc.nh_vaa(1, r()), {"c1", "c2", "n1", "nv"});
}

TEST_P(walk_matrix, el2_all) {
    expect(wc.el2_all(), {"e2", "h1", "h2", "e2_far", "h1_far"});
}

TEST_P(walk_matrix, el2_asid) {
    expect(wc.el2_asid(1), {"h1", "h1_far"});
}

TEST_P(walk_matrix, el2_va) {
    expect(wc.el2_va(asid_t{1}, r()), {"e2", "h1", "h2"});
}

TEST_P(walk_matrix, el2_vaa) {
    expect(wc.el2_vaa(r()), {"e2", "h1", "h2"});
}

TEST_P(walk_matrix, s12_vmall) {
    expect(wc.s12_vmall(1), {"c1", "c2", "n1", "s2", "nv", "c1_far", "s2_far"});
}

TEST_P(walk_matrix, s2_ipa_only_stage2_walks_of_the_vmid) {
    expect(wc.s2_ipa(1, r()), {"s2"});
}

TEST_P(walk_matrix, nsnh_all) {
    expect(wc.nsnh_all(),
           {"c1", "c2", "c3", "n1", "s2", "s2b", "nv", "c1_far", "c3_far", "s2_far"});
}

TEST_P(walk_matrix, flush_all) {
    std::set<std::string> everything;
    for (const auto& n : m_all)
        everything.insert(n.name);
    expect(wc.flush_all(), everything);
}

INSTANTIATE_TEST_SUITE_P(scan_and_probe, walk_matrix,
                         ::testing::Values(std::size_t{32}, std::size_t{256}));

// ---------------------------------------------------------------- replacement and stats

TEST(walk_cache, lru_eviction_and_statistics) {
    walk_cache wc(cache_geometry{2, 2, replacement_policy::lru, 1});
    wc.lookup(s1(1, 1), 0x20'0000); // miss
    wc.insert(make(s1(1, 1), 2, 0x20'0000, 1));
    wc.insert(make(s1(1, 1), 2, 0x40'0000, 2));
    wc.lookup(s1(1, 1), 0x20'0000);             // hit: 0x40'0000 becomes LRU
    wc.insert(make(s1(1, 1), 2, 0x60'0000, 3)); // evicts 0x40'0000
    EXPECT_NE(wc.peek(s1(1, 1), 0x20'0000), nullptr);
    EXPECT_EQ(wc.peek(s1(1, 1), 0x40'0000), nullptr);
    EXPECT_NE(wc.peek(s1(1, 1), 0x60'0000), nullptr);
    wc.nh_all(1);
    const cache_stats& st = wc.stats();
    EXPECT_EQ(st.lookups, 2u);
    EXPECT_EQ(st.hits, 1u);
    EXPECT_EQ(st.misses, 1u);
    EXPECT_EQ(st.inserts, 3u);
    EXPECT_EQ(st.evictions, 1u);
    EXPECT_EQ(st.invalidated, 2u);
    EXPECT_EQ(wc.capacity(), 2u);
    wc.reset_stats();
    EXPECT_EQ(wc.stats().inserts, 0u);
}

TEST(walk_cache, round_robin_eviction) {
    walk_cache wc(cache_geometry{2, 2, replacement_policy::round_robin, 1});
    wc.insert(make(s1(1, 1), 2, 0x20'0000, 1));
    wc.insert(make(s1(1, 1), 2, 0x40'0000, 2));
    wc.lookup(s1(1, 1), 0x20'0000);
    wc.insert(make(s1(1, 1), 2, 0x60'0000, 3));
    EXPECT_EQ(wc.peek(s1(1, 1), 0x20'0000), nullptr) << "oldest fill goes despite the hit";
    EXPECT_NE(wc.peek(s1(1, 1), 0x40'0000), nullptr);
}

TEST(walk_cache, eviction_keeps_span_bookkeeping) {
    walk_cache wc(cache_geometry{1, 1});
    wc.insert(make(s1(1, 1), 0, 0, 1));
    wc.insert(make(s1(1, 1), 2, 0x20'0000, 2));
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x20'0000)->level, 2);
    EXPECT_EQ(wc.lookup(s1(1, 1), 0x60'0000), nullptr) << "the evicted level-0 entry is gone";
}

} // namespace
} // namespace smmu::arch
