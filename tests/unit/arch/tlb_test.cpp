#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/arch/tlb.h"

namespace smmu::arch {
namespace {

tlb_context el1(tlb_kind kind, std::optional<vmid_t> vmid, asid_t asid = 0) {
    return tlb_context{tlb_regime::ns_el1, kind, vmid, asid};
}
tlb_context s1(vmid_t vmid, asid_t asid) {
    return el1(tlb_kind::stage1, vmid, asid);
}
tlb_context el2(tlb_regime regime, asid_t asid) {
    return tlb_context{regime, tlb_kind::stage1, std::nullopt, asid};
}

tlb_entry make(const tlb_context& ctx, std::uint64_t va, phys_addr pa, unsigned size_log2 = 12,
               int level = 3, bool global = false) {
    tlb_entry e;
    e.ctx = ctx;
    e.input = va;
    e.output = pa;
    e.size_log2 = static_cast<std::uint8_t>(size_log2);
    e.level = static_cast<std::int8_t>(level);
    e.global = global;
    return e;
}

tlb_inv_scope scope(std::uint64_t start, std::uint64_t end, std::uint8_t ttl = 0,
                    bool leaf = false) {
    return tlb_inv_scope{addr_range{start, end}, leaf, ttl};
}

cache_geometry big() {
    return cache_geometry{256, 4, replacement_policy::lru, 1};
}

// ---------------------------------------------------------------- basics

TEST(iotlb, count_tagged_finds_entries_by_asid_and_vmid) {
    iotlb t(big());
    ASSERT_TRUE(t.insert(make(s1(1, 5), 0x1000, 0x8000'0000)));
    ASSERT_TRUE(t.insert(make(s1(1, 5), 0x2000, 0x8000'1000)));
    ASSERT_TRUE(t.insert(make(s1(1, 6), 0x1000, 0x8000'2000)));
    ASSERT_TRUE(t.insert(make(s1(2, 5), 0x1000, 0x8000'3000, 12, 3, true))); // global
    ASSERT_TRUE(t.insert(make(el1(tlb_kind::stage2, 2), 0x5000, 0x8000'4000)));
    EXPECT_EQ(t.count_tagged(asid_t{5}, std::nullopt), 2u) << "the global entry has no ASID";
    EXPECT_EQ(t.count_tagged(asid_t{6}, std::nullopt), 1u);
    EXPECT_EQ(t.count_tagged(asid_t{7}, std::nullopt), 0u);
    EXPECT_EQ(t.count_tagged(std::nullopt, vmid_t{1}), 3u);
    EXPECT_EQ(t.count_tagged(std::nullopt, vmid_t{2}), 2u);
    EXPECT_EQ(t.count_tagged(asid_t{5}, vmid_t{2}), 0u);
    EXPECT_EQ(t.count_tagged(asid_t{5}, vmid_t{1}), 2u);
    t.nh_asid(vmid_t{1}, 5);
    EXPECT_EQ(t.count_tagged(asid_t{5}, std::nullopt), 0u);
    EXPECT_EQ(t.stats().lookups, 0u) << "a query, not a lookup";
}

TEST(iotlb, rejects_bad_geometry) {
    EXPECT_THROW(iotlb(cache_geometry{0, 4}), std::invalid_argument);
    EXPECT_THROW(iotlb(cache_geometry{6, 4}), std::invalid_argument);
}

TEST(iotlb, page_hit_miss_and_translate) {
    iotlb tlb(big());
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x1234), nullptr);
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x1000, 0x8000'0000)));
    const tlb_entry* e = tlb.lookup(s1(1, 1), 0x1abc);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->translate(0x1abc), 0x8000'0abcu);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x2000), nullptr) << "next page";
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x0fff), nullptr) << "previous page";
    EXPECT_EQ(tlb.lookup(s1(1, 2), 0x1abc), nullptr) << "other ASID, non-global";
    EXPECT_EQ(tlb.lookup(s1(2, 1), 0x1abc), nullptr) << "other VMID";
    EXPECT_EQ(tlb.lookup(el1(tlb_kind::nested, 1, 1), 0x1abc), nullptr) << "other kind";
    EXPECT_EQ(tlb.lookup(el1(tlb_kind::stage2, 1), 0x1abc), nullptr) << "stage 2";
    EXPECT_EQ(tlb.lookup(el2(tlb_regime::el2_e2h, 1), 0x1abc), nullptr) << "other regime";
    EXPECT_EQ(tlb.lookup(el1(tlb_kind::stage1, std::nullopt, 1), 0x1abc), nullptr)
        << "VMID-less lookup is a different tag";
}

TEST(iotlb, insert_aligns_input_and_output_together) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x40212345, 0x9000'2345, 21, 2)));
    const tlb_entry* e = tlb.lookup(s1(1, 1), 0x40200000);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->input, 0x40200000u);
    EXPECT_EQ(e->output, 0x8fff'0000u);
    EXPECT_EQ(e->size(), 0x200000u);
}

TEST(iotlb, rejects_sizes_outside_4k_to_2_pow_63) {
    iotlb tlb(big());
    EXPECT_FALSE(tlb.insert(make(s1(1, 1), 0, 0, 11)));
    EXPECT_FALSE(tlb.insert(make(s1(1, 1), 0, 0, 64)));
    EXPECT_EQ(tlb.size(), 0u);
    EXPECT_EQ(tlb.stats().inserts, 0u);
    EXPECT_TRUE(tlb.insert(make(s1(1, 1), 0, 0, 63, 0)));
    EXPECT_NE(tlb.lookup(s1(1, 1), 0x7fff'ffff'ffff'ffffull), nullptr);
}

TEST(iotlb, global_entry_matches_every_asid_of_its_vmid) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 7), 0x5000, 0x6000, 12, 3, true)));
    EXPECT_NE(tlb.lookup(s1(1, 7), 0x5000), nullptr);
    EXPECT_NE(tlb.lookup(s1(1, 0x1234), 0x5000), nullptr);
    EXPECT_EQ(tlb.lookup(s1(2, 7), 0x5000), nullptr);
}

TEST(iotlb, stage2_entries_ignore_asid) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(el1(tlb_kind::stage2, 3, 99), 0x8000'0000, 0x1'0000'0000)));
    EXPECT_NE(tlb.lookup(el1(tlb_kind::stage2, 3, 0), 0x8000'0000), nullptr);
    EXPECT_NE(tlb.lookup(el1(tlb_kind::stage2, 3, 5), 0x8000'0000), nullptr);
    EXPECT_EQ(tlb.lookup(el1(tlb_kind::stage2, 4, 0), 0x8000'0000), nullptr);
}

TEST(iotlb, el2_entries_have_no_asid_el2_e2h_entries_do) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(el2(tlb_regime::el2, 5), 0x1000, 0x2000)));
    EXPECT_NE(tlb.lookup(el2(tlb_regime::el2, 0), 0x1000), nullptr);
    EXPECT_NE(tlb.lookup(el2(tlb_regime::el2, 9), 0x1000), nullptr);
    ASSERT_TRUE(tlb.insert(make(el2(tlb_regime::el2_e2h, 5), 0x3000, 0x4000)));
    EXPECT_NE(tlb.lookup(el2(tlb_regime::el2_e2h, 5), 0x3000), nullptr);
    EXPECT_EQ(tlb.lookup(el2(tlb_regime::el2_e2h, 6), 0x3000), nullptr);
    EXPECT_EQ(tlb.lookup(el2(tlb_regime::el2, 5), 0x3000), nullptr);
}

TEST(iotlb, same_tag_reinsert_overwrites_in_place) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x1000, 0xa000)));
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x1000, 0xb000)));
    EXPECT_EQ(tlb.size(), 1u);
    EXPECT_EQ(tlb.stats().evictions, 0u);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x1000)->output, 0xb000u);
    EXPECT_EQ(tlb.sizes_present(), 0x1000u);
    tlb.nh_all(1);
    EXPECT_EQ(tlb.sizes_present(), 0u) << "size bookkeeping must not double count";
}

// ---------------------------------------------------------------- blocks and contiguous

TEST(iotlb, block_2mb_found_from_middle_and_removed_by_4k_invalidation_inside) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x4020'0000, 0x8000'0000, 21, 2)));
    const tlb_entry* e = tlb.lookup(s1(1, 1), 0x402a'b123);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->translate(0x402a'b123), 0x800a'b123u);
    EXPECT_NE(tlb.lookup(s1(1, 1), 0x403f'ffff), nullptr) << "last byte";
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x4040'0000), nullptr) << "one past the end";

    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x402a'b000, 0x402a'c000)), 1u);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x402a'b123), nullptr);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x4020'0000), nullptr);
}

TEST(iotlb, block_removed_by_non_range_single_address_invalidation) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x4020'0000, 0x8000'0000, 21, 2)));
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x4031'2000, 0x4031'2001)), 1u);
    EXPECT_EQ(tlb.size(), 0u);
}

TEST(iotlb, contiguous_64k_found_and_removed_by_4k_inside) {
    iotlb tlb(big());
    // 4 KB granule, level 3, 16 contiguous entries: one 64 KB entry (reference §8.4).
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x0001'0000, 0x7777'0000, 16, 3)));
    const tlb_entry* e = tlb.lookup(s1(1, 1), 0x0001'f123);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->translate(0x0001'f123), 0x7777'f123u);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x0002'0000), nullptr);
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x0001'e000, 0x0001'f000)), 1u);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x0001'0000), nullptr);
}

TEST(iotlb, large_sizes_coexist_with_pages) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x0000'1000, 0x1000)));                 // 4 KB
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x0040'0000, 0x40'0000, 21, 2)));       // 2 MB
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x4000'0000, 0x4000'0000, 30, 1)));     // 1 GB
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x4'0000'0000, 0x8'0000'0000, 34, 1))); // 16 GB contig
    EXPECT_EQ(tlb.sizes_present(), 0x0000'0004'4020'1000ull);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x0000'1fff)->size_log2, 12u);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x0050'0000)->size_log2, 21u);
    EXPECT_EQ(tlb.lookup(s1(1, 1), 0x7fff'ffff)->size_log2, 30u);
    const tlb_entry* big_entry = tlb.lookup(s1(1, 1), 0x7'ffff'f000);
    ASSERT_NE(big_entry, nullptr);
    EXPECT_EQ(big_entry->translate(0x7'ffff'f000), 0xb'ffff'f000u);
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x6'0000'0000, 0x6'0000'1000)), 1u);
    EXPECT_EQ(tlb.sizes_present(), 0x0000'0000'4020'1000ull);
}

TEST(iotlb, range_partially_overlapping_a_block_removes_it) {
    iotlb tlb(big());
    const auto fill = [&] { tlb.insert(make(s1(1, 1), 0x4020'0000, 0x8000'0000, 21, 2)); };
    fill();
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x401f'f000, 0x4020'1000)), 1u) << "covers the first page";
    fill();
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x403f'f000, 0x4080'0000)), 1u) << "covers the last page";
    fill();
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x401f'f000, 0x4020'0000)), 0u) << "ends at the base";
    EXPECT_EQ(tlb.nh_va(1, 1, scope(0x4040'0000, 0x4040'1000)), 0u) << "starts past the end";
    EXPECT_EQ(tlb.size(), 1u);
}

TEST(iotlb, large_range_uses_full_scan_and_is_still_exact) {
    iotlb tlb(cache_geometry{16, 4}); // 4 sets: a 1 GB range needs more probes than sets
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x4000'0000, 0, 12)));
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x7fff'f000, 0, 12)));
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x7fe0'0000, 0, 21, 2)));
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x8000'0000, 0, 12)));
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0x3fff'f000, 0, 12)));
    EXPECT_EQ(tlb.nh_vaa(1, scope(0x4000'0000, 0x8000'0000)), 3u);
    EXPECT_NE(tlb.peek(s1(1, 1), 0x8000'0000), nullptr);
    EXPECT_NE(tlb.peek(s1(1, 1), 0x3fff'f000), nullptr);
}

TEST(iotlb, whole_space_and_empty_ranges) {
    iotlb tlb(big());
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0xffff'ffff'ffff'f000ull, 0x1000)));
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0, 0x2000)));
    EXPECT_EQ(tlb.nh_vaa(1, scope(0x1000, 0x1000)), 0u) << "empty";
    EXPECT_EQ(tlb.nh_vaa(1, tlb_inv_scope{addr_range::from_size(0, 0), false, 0}), 0u);
    EXPECT_EQ(tlb.nh_vaa(1, tlb_inv_scope{addr_range::from_size(0xffff'ffff'ffff'f000ull, 0x1000),
                                          false, 0}),
              1u)
        << "start + size wraps to 0: up to the top";
    ASSERT_TRUE(tlb.insert(make(s1(1, 1), 0xffff'ffff'ffff'f000ull, 0x1000)));
    EXPECT_EQ(tlb.nh_vaa(1, tlb_inv_scope{addr_range::all(), false, 0}), 2u);
}

// ---------------------------------------------------------------- TTL

class iotlb_ttl : public ::testing::Test {
protected:
    void SetUp() override {
        tlb.insert(make(s1(1, 1), 0x4000'0000, 0x1000'0000, 12, 3)); // page, L3
        tlb.insert(make(s1(1, 1), 0x4020'0000, 0x2000'0000, 21, 2)); // block, L2
        tlb.insert(make(s1(1, 1), 0x4040'0000, 0x3000'0000, 16, 3)); // contiguous, L3
        tlb.insert(make(s1(1, 1), 0x8000'0000, 0x4000'0000, 30, 1)); // block, L1
    }
    std::set<std::uint64_t> left() const {
        std::set<std::uint64_t> out;
        for (std::uint64_t va : {0x4000'0000ull, 0x4020'0000ull, 0x4040'0000ull, 0x8000'0000ull})
            if (tlb.peek(s1(1, 1), va) != nullptr)
                out.insert(va);
        return out;
    }
    iotlb tlb{big()};
    const std::uint64_t start = 0x4000'0000;
    const std::uint64_t end = 0xc000'0000;
};

TEST_F(iotlb_ttl, ttl_3_removes_only_level_3_leaves) {
    EXPECT_EQ(tlb.nh_va(1, 1, scope(start, end, 3)), 2u);
    EXPECT_EQ(left(), (std::set<std::uint64_t>{0x4020'0000, 0x8000'0000}));
}

TEST_F(iotlb_ttl, ttl_2_removes_only_level_2_leaves) {
    EXPECT_EQ(tlb.nh_vaa(1, scope(start, end, 2)), 1u);
    EXPECT_EQ(left(), (std::set<std::uint64_t>{0x4000'0000, 0x4040'0000, 0x8000'0000}));
}

TEST_F(iotlb_ttl, ttl_1_removes_only_level_1_leaves) {
    EXPECT_EQ(tlb.nh_va(1, 1, scope(start, end, 1)), 1u);
    EXPECT_EQ(left(), (std::set<std::uint64_t>{0x4000'0000, 0x4020'0000, 0x4040'0000}));
}

TEST_F(iotlb_ttl, ttl_0_removes_every_level_and_leaf_flag_changes_nothing) {
    EXPECT_EQ(tlb.nh_va(1, 1, scope(start, end, 0, true)), 4u);
    EXPECT_TRUE(left().empty());
}

TEST(iotlb, ttl_filters_stage2_and_el2_invalidations) {
    iotlb tlb(big());
    tlb.insert(make(el1(tlb_kind::stage2, 1), 0x1000, 0, 12, 3));
    tlb.insert(make(el1(tlb_kind::stage2, 1), 0x20'0000, 0, 21, 2));
    EXPECT_EQ(tlb.s2_ipa(1, scope(0, 0x40'0000, 2)), 1u);
    EXPECT_NE(tlb.peek(el1(tlb_kind::stage2, 1), 0x1000), nullptr);
    tlb.insert(make(el2(tlb_regime::el2, 0), 0x1000, 0, 12, 3));
    tlb.insert(make(el2(tlb_regime::el2, 0), 0x20'0000, 0, 21, 2));
    EXPECT_EQ(tlb.el2_vaa(scope(0, 0x40'0000, 3)), 1u);
    EXPECT_NE(tlb.peek(el2(tlb_regime::el2, 0), 0x20'0000), nullptr);
    EXPECT_EQ(tlb.el2_va(std::nullopt, scope(0, 0x40'0000, 2)), 1u);
}

// ---------------------------------------------------------------- invalidation matrix

// One entry per tag combination, all inside R = [0x4000'0000, 0x4020'0000),
// plus "far" copies outside it. Every invalidation must remove exactly the
// entries it names and leave the rest.
// Parameter: total entries (4 ways). The small geometry makes range
// invalidations scan the whole structure; the large one makes them probe sets.
class iotlb_matrix : public ::testing::TestWithParam<std::size_t> {
protected:
    struct named {
        std::string name;
        tlb_entry entry;
    };

    static constexpr std::uint64_t r_start = 0x4000'0000;
    static constexpr std::uint64_t r_end = 0x4020'0000;

    void add(const std::string& name, const tlb_context& ctx, std::uint64_t va, bool global = false,
             std::uint64_t ipa = 0) {
        tlb_entry e = make(ctx, va, 0x10'0000'0000 + va, 12, 3, global);
        e.ipa = ipa;
        m_all.push_back({name, e});
        ASSERT_TRUE(tlb.insert(e));
    }

    void populate() {
        const auto nested = el1(tlb_kind::nested, 1, 1);
        add("c1", s1(1, 1), 0x4000'0000);
        add("c1_glob", s1(1, 1), 0x4000'1000, true);
        add("c2", s1(1, 2), 0x4000'2000);
        add("c3", s1(2, 1), 0x4000'3000);
        add("n1", nested, 0x4000'4000, false, 0x4001'4000);
        add("n1_glob", nested, 0x4000'5000, true, 0x7000'0000);
        add("s2", el1(tlb_kind::stage2, 1), 0x4000'6000);
        add("s2b", el1(tlb_kind::stage2, 2), 0x4000'7000);
        add("e2", el2(tlb_regime::el2, 0), 0x4000'8000);
        add("h1", el2(tlb_regime::el2_e2h, 1), 0x4000'9000);
        add("h1_glob", el2(tlb_regime::el2_e2h, 1), 0x4000'a000, true);
        add("h2", el2(tlb_regime::el2_e2h, 2), 0x4000'b000);
        add("nv", el1(tlb_kind::stage1, std::nullopt, 1), 0x4000'c000);
        add("c1_far", s1(1, 1), 0x5000'0000);
        add("c3_far", s1(2, 1), 0x5000'1000);
        add("n1_far", nested, 0x5000'2000, false, 0x6000'0000);
        add("s2_far", el1(tlb_kind::stage2, 1), 0x5000'3000);
        add("e2_far", el2(tlb_regime::el2, 0), 0x5000'4000);
        add("h1_far", el2(tlb_regime::el2_e2h, 1), 0x5000'5000);
    }

    void SetUp() override { populate(); }

    std::set<std::string> removed() const {
        std::set<std::string> out;
        for (const auto& n : m_all) {
            const tlb_entry* e = tlb.peek(n.entry.ctx, n.entry.input);
            if (e == nullptr || e->output != n.entry.output)
                out.insert(n.name);
        }
        return out;
    }

    void expect(std::size_t count, const std::set<std::string>& names) {
        EXPECT_EQ(count, names.size());
        EXPECT_EQ(removed(), names);
        EXPECT_EQ(tlb.size(), m_all.size() - names.size());
        EXPECT_EQ(tlb.stats().invalidated, names.size());
    }

    tlb_inv_scope r(std::uint8_t ttl = 0) const { return scope(r_start, r_end, ttl); }

    iotlb tlb{cache_geometry{GetParam(), 4}};
    std::vector<named> m_all;
};

TEST_P(iotlb_matrix, nothing_removed_before_invalidation) {
    expect(0, {});
}

TEST_P(iotlb_matrix, nh_all) {
    expect(tlb.nh_all(1), {"c1", "c1_glob", "c2", "n1", "n1_glob", "nv", "c1_far", "n1_far"});
}

TEST_P(iotlb_matrix, nh_all_without_vmid_matches_every_vmid) {
    expect(tlb.nh_all(std::nullopt),
           {"c1", "c1_glob", "c2", "c3", "n1", "n1_glob", "nv", "c1_far", "c3_far", "n1_far"});
}

TEST_P(iotlb_matrix, nh_asid_spares_global_entries) {
    expect(tlb.nh_asid(1, 1), {"c1", "n1", "nv", "c1_far", "n1_far"});
}

TEST_P(iotlb_matrix, nh_va_matches_asid_plus_global_in_range) {
    expect(tlb.nh_va(1, 1, r()), {"c1", "c1_glob", "n1", "n1_glob", "nv"});
}

TEST_P(iotlb_matrix, nh_va_other_asid_still_hits_globals) {
    expect(tlb.nh_va(1, 2, r()), {"c1_glob", "c2", "n1_glob"});
}

TEST_P(iotlb_matrix, nh_vaa_matches_every_asid_in_range) {
    expect(tlb.nh_vaa(1, r()), {"c1", "c1_glob", "c2", "n1", "n1_glob", "nv"});
}

TEST_P(iotlb_matrix, el2_all) {
    expect(tlb.el2_all(), {"e2", "h1", "h1_glob", "h2", "e2_far", "h1_far"});
}

TEST_P(iotlb_matrix, el2_asid_only_non_global_e2h) {
    expect(tlb.el2_asid(1), {"h1", "h1_far"});
}

TEST_P(iotlb_matrix, el2_va_with_asid) {
    expect(tlb.el2_va(asid_t{1}, r()), {"e2", "h1", "h1_glob"});
}

TEST_P(iotlb_matrix, el2_va_without_asid) {
    expect(tlb.el2_va(std::nullopt, r()), {"e2", "h1", "h1_glob", "h2"});
}

TEST_P(iotlb_matrix, el2_vaa) {
    expect(tlb.el2_vaa(r()), {"e2", "h1", "h1_glob", "h2"});
}

TEST_P(iotlb_matrix, s12_vmall_removes_all_stages_of_the_vmid) {
    expect(tlb.s12_vmall(1),
           {"c1", "c1_glob", "c2", "n1", "n1_glob", "s2", "nv", "c1_far", "n1_far", "s2_far"});
}

TEST_P(iotlb_matrix, s2_ipa_hits_stage2_and_nested_by_ipa) {
    // n1's IPA is inside R; n1_glob's VA is inside R but its IPA is not.
    expect(tlb.s2_ipa(1, r()), {"s2", "n1"});
}

TEST_P(iotlb_matrix, s2_ipa_hits_nested_whatever_the_ttl) {
    expect(tlb.s2_ipa(1, r(2)), {"n1"});
}

TEST_P(iotlb_matrix, s2_ipa_other_vmid) {
    expect(tlb.s2_ipa(2, r()), {"s2b"});
}

TEST_P(iotlb_matrix, nsnh_all_removes_every_ns_el1_entry) {
    expect(tlb.nsnh_all(), {"c1", "c1_glob", "c2", "c3", "n1", "n1_glob", "s2", "s2b", "nv",
                            "c1_far", "c3_far", "n1_far", "s2_far"});
}

TEST_P(iotlb_matrix, flush_all) {
    std::set<std::string> everything;
    for (const auto& n : m_all)
        everything.insert(n.name);
    expect(tlb.flush_all(), everything);
    EXPECT_EQ(tlb.sizes_present(), 0u);
}

INSTANTIATE_TEST_SUITE_P(scan_and_probe, iotlb_matrix,
                         ::testing::Values(std::size_t{256}, std::size_t{4096}));

TEST(iotlb, s2_ipa_can_leave_nested_entries_alone) {
    iotlb tlb(big(), iotlb_options{false});
    tlb_entry n = make(el1(tlb_kind::nested, 1, 1), 0x1000, 0x9000);
    n.ipa = 0x5000;
    tlb.insert(n);
    tlb.insert(make(el1(tlb_kind::stage2, 1), 0x5000, 0x9000));
    EXPECT_EQ(tlb.s2_ipa(1, scope(0x5000, 0x6000)), 1u);
    EXPECT_NE(tlb.peek(el1(tlb_kind::nested, 1, 1), 0x1000), nullptr);
}

TEST(iotlb, nested_ipa_is_aligned_with_input_and_dropped_for_other_kinds) {
    iotlb tlb(big());
    tlb_entry n = make(el1(tlb_kind::nested, 1, 1), 0x1234, 0x9234);
    n.ipa = 0x5234;
    tlb.insert(n);
    EXPECT_EQ(tlb.peek(el1(tlb_kind::nested, 1, 1), 0x1000)->ipa, 0x5000u);
    tlb_entry s = make(s1(1, 1), 0x3000, 0x9000);
    s.ipa = 0x5234;
    tlb.insert(s);
    EXPECT_EQ(tlb.peek(s1(1, 1), 0x3000)->ipa, 0u);
}

// ---------------------------------------------------------------- capacity and replacement

std::vector<bool> present_pages(const iotlb& tlb, std::size_t n) {
    std::vector<bool> out;
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(tlb.peek(s1(1, 1), 0x1000 * (i + 1)) != nullptr);
    return out;
}

void fill_pages(iotlb& tlb, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        tlb.insert(make(s1(1, 1), 0x1000 * (i + 1), 0));
}

TEST(iotlb, lru_eviction_order) {
    iotlb tlb(cache_geometry{4, 4, replacement_policy::lru, 1});
    fill_pages(tlb, 4);
    ASSERT_NE(tlb.lookup(s1(1, 1), 0x1000), nullptr);
    tlb.insert(make(s1(1, 1), 0x5000, 0));
    EXPECT_EQ(present_pages(tlb, 5), (std::vector<bool>{true, false, true, true, true}));
    EXPECT_EQ(tlb.stats().evictions, 1u);
    EXPECT_EQ(tlb.size(), 4u);
}

TEST(iotlb, round_robin_eviction_order) {
    iotlb tlb(cache_geometry{4, 4, replacement_policy::round_robin, 1});
    fill_pages(tlb, 4);
    ASSERT_NE(tlb.lookup(s1(1, 1), 0x1000), nullptr);
    tlb.insert(make(s1(1, 1), 0x5000, 0));
    EXPECT_EQ(present_pages(tlb, 5), (std::vector<bool>{false, true, true, true, true}));
    tlb.insert(make(s1(1, 1), 0x6000, 0));
    EXPECT_EQ(present_pages(tlb, 6), (std::vector<bool>{false, false, true, true, true, true}));
}

TEST(iotlb, random_eviction_is_seeded) {
    // Seed 42, 4 ways: first victims are ways 2 then 3 (replacement_test golden).
    iotlb tlb(cache_geometry{4, 4, replacement_policy::random, 42});
    fill_pages(tlb, 4);
    tlb.insert(make(s1(1, 1), 0x5000, 0));
    EXPECT_EQ(present_pages(tlb, 5), (std::vector<bool>{true, true, false, true, true}));
    tlb.insert(make(s1(1, 1), 0x6000, 0));
    EXPECT_EQ(present_pages(tlb, 6), (std::vector<bool>{true, true, false, false, true, true}));
}

TEST(iotlb, sequential_pages_fill_every_set_before_evicting) {
    iotlb tlb(cache_geometry{64, 4});
    fill_pages(tlb, 64);
    EXPECT_EQ(tlb.size(), 64u);
    EXPECT_EQ(tlb.stats().evictions, 0u);
    fill_pages(tlb, 65);
    EXPECT_EQ(tlb.stats().evictions, 1u);
    EXPECT_EQ(tlb.size(), 64u);
}

TEST(iotlb, eviction_keeps_size_bookkeeping) {
    iotlb tlb(cache_geometry{1, 1});
    tlb.insert(make(s1(1, 1), 0x4020'0000, 0, 21, 2));
    tlb.insert(make(s1(1, 1), 0x1000, 0));
    EXPECT_EQ(tlb.sizes_present(), 0x1000u);
    EXPECT_EQ(tlb.capacity(), 1u);
}

TEST(iotlb, statistics) {
    iotlb tlb(cache_geometry{2, 2});
    tlb.lookup(s1(1, 1), 0x1000);          // miss
    tlb.insert(make(s1(1, 1), 0x1000, 0)); // insert
    tlb.lookup(s1(1, 1), 0x1000);          // hit
    tlb.insert(make(s1(1, 1), 0x2000, 0)); // insert
    tlb.insert(make(s1(1, 1), 0x3000, 0)); // insert + eviction
    tlb.lookup(s1(1, 1), 0x3000);          // hit
    tlb.peek(s1(1, 1), 0x3000);            // not counted
    tlb.nh_asid(1, 1);                     // 2 invalidated
    tlb.lookup(s1(1, 1), 0x3000);          // miss
    const cache_stats& st = tlb.stats();
    EXPECT_EQ(st.lookups, 4u);
    EXPECT_EQ(st.hits, 2u);
    EXPECT_EQ(st.misses, 2u);
    EXPECT_EQ(st.inserts, 3u);
    EXPECT_EQ(st.evictions, 1u);
    EXPECT_EQ(st.invalidated, 2u);
    tlb.reset_stats();
    EXPECT_EQ(tlb.stats().lookups, 0u);
    EXPECT_EQ(tlb.stats().invalidated, 0u);
}

TEST(iotlb, query_for_a_context_finds_what_the_context_finds) {
    iotlb tlb(big());
    tlb.insert(make(s1(1, 5), 0x1000, 0xa000));
    tlb.insert(make(s1(1, 6), 0x2000, 0xb000, 12, 3, true)); // global
    const iotlb::query q = iotlb::query_for(s1(1, 5));
    const tlb_entry* own = tlb.lookup(q, 0x1010);
    ASSERT_NE(own, nullptr);
    EXPECT_EQ(own->output, 0xa000u);
    const tlb_entry* global = tlb.lookup(q, 0x2010);
    ASSERT_NE(global, nullptr) << "a global entry of another ASID";
    EXPECT_EQ(global->output, 0xb000u);
    EXPECT_EQ(tlb.lookup(iotlb::query_for(s1(1, 6)), 0x1010), nullptr) << "other ASID";
    EXPECT_EQ(tlb.lookup(iotlb::query_for(s1(2, 5)), 0x1010), nullptr) << "other VMID";
    EXPECT_EQ(tlb.peek(q, 0x1fff), own);
    EXPECT_EQ(tlb.stats().lookups, 4u);
    EXPECT_EQ(tlb.stats().hits, 2u);
}

TEST(iotlb, a_counted_peek_is_a_lookup) {
    // One set of four ways, LRU: page 0x1000 is the oldest until its hit is counted.
    iotlb tlb(cache_geometry{4, 4, replacement_policy::lru, 1});
    fill_pages(tlb, 4);
    iotlb::hit_ref where;
    const tlb_entry* e = tlb.peek(iotlb::query_for(s1(1, 1)), 0x1800, where);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->input, 0x1000u);
    EXPECT_EQ(where.set, 0u);
    EXPECT_EQ(where.way, 0u);
    EXPECT_EQ(tlb.stats().lookups, 0u) << "a peek is not counted";
    tlb.count_hit(where);
    EXPECT_EQ(tlb.stats().lookups, 1u);
    EXPECT_EQ(tlb.stats().hits, 1u);
    EXPECT_EQ(tlb.stats().misses, 0u);
    tlb.insert(make(s1(1, 1), 0x5000, 0));
    EXPECT_EQ(present_pages(tlb, 5), (std::vector<bool>{true, false, true, true, true}))
        << "as after a lookup of 0x1000 (lru_eviction_order)";
}

TEST(iotlb, an_uncounted_peek_leaves_replacement_alone) {
    iotlb tlb(cache_geometry{4, 4, replacement_policy::lru, 1});
    fill_pages(tlb, 4);
    iotlb::hit_ref where;
    ASSERT_NE(tlb.peek(iotlb::query_for(s1(1, 1)), 0x1000, where), nullptr);
    tlb.insert(make(s1(1, 1), 0x5000, 0));
    EXPECT_EQ(present_pages(tlb, 5), (std::vector<bool>{false, true, true, true, true}));
}

TEST(addr_range, semantics) {
    EXPECT_TRUE((addr_range{0x2000, 0x1000}.empty()));
    EXPECT_TRUE((addr_range{0x1000, 0x1000}.empty()));
    EXPECT_FALSE(addr_range::all().empty());
    EXPECT_EQ(addr_range::all().last(), 0xffff'ffff'ffff'ffffull);
    EXPECT_TRUE(addr_range::from_size(5, 0).empty());
    EXPECT_EQ(addr_range::from_size(0x1000, 0x1000).last(), 0x1fffu);
    EXPECT_TRUE((addr_range{0x1000, 0x2000}.overlaps(0x1fff, 0x1fff)));
    EXPECT_FALSE((addr_range{0x1000, 0x2000}.overlaps(0x2000, 0x2fff)));
    EXPECT_FALSE((addr_range{0x1000, 0x2000}.overlaps(0x0, 0xfff)));
}

} // namespace
} // namespace smmu::arch
