// The endpoint's ATC: fills honour the completion's size and permissions, lookups match PASIDs
// and Global entries, invalidations remove overlapping entries per PASID selection, capacity and
// replacement, and the in-flight times invalidations wait for.
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "model/pcie/atc.h"

namespace smmu::pcie {
namespace {

using tlm_ext::ats_status;
using tlm_ext::invalidation_request;
using tlm_ext::translation_completion;

constexpr atc_access read_access{false, false, false};
constexpr atc_access write_access{true, false, false};
const std::optional<std::uint32_t> no_pasid;

translation_completion completion(std::uint64_t translated, std::uint64_t size, bool r = true,
                                  bool w = true) {
    translation_completion c;
    c.status = ats_status::success;
    c.translated_address = translated;
    c.size = size;
    c.permissions.read = r;
    c.permissions.write = w;
    return c;
}

invalidation_request inval(std::uint64_t address, std::uint64_t span,
                           std::optional<std::uint32_t> pasid = std::nullopt, bool global = false) {
    invalidation_request r;
    r.address = address;
    r.span = span;
    r.pasid = pasid;
    r.global = global;
    return r;
}

atc make_atc(std::size_t entries = 64, std::size_t ways = 4,
             arch::replacement_policy policy = arch::replacement_policy::lru,
             std::uint64_t seed = 1) {
    return atc(atc_params{entries, ways, policy, seed});
}

bool hits(atc& cache, std::uint64_t addr, std::optional<std::uint32_t> pasid = std::nullopt,
          atc_access access = read_access) {
    return cache.lookup(pasid, addr, access).hit();
}

TEST(pcie_atc, rejects_a_geometry_that_cannot_be_built) {
    EXPECT_THROW(make_atc(6, 4), std::invalid_argument);
    EXPECT_THROW(make_atc(0, 4), std::invalid_argument);
    EXPECT_THROW(make_atc(8, 0), std::invalid_argument);
    EXPECT_NO_THROW(make_atc(8, 8));
}

TEST(pcie_atc, default_shape_is_sixteen_sets_of_eight_ways) {
    atc cache{atc_params{}};
    EXPECT_EQ(cache.capacity(), 128u);
    EXPECT_EQ(cache.params().ways, 8u);
}

TEST(pcie_atc, a_4k_entry_translates_every_byte_of_its_page_and_nothing_else) {
    atc cache = make_atc();
    const atc_lookup filled = cache.fill(no_pasid, 0x12345, completion(0x80000, 0x1000));
    EXPECT_TRUE(filled.hit());
    EXPECT_EQ(filled.translated_address, 0x80345u);
    EXPECT_EQ(filled.size, 0x1000u);

    EXPECT_EQ(cache.lookup(no_pasid, 0x12000, read_access).translated_address, 0x80000u);
    EXPECT_EQ(cache.lookup(no_pasid, 0x12abc, read_access).translated_address, 0x80abcu);
    EXPECT_EQ(cache.lookup(no_pasid, 0x12fff, read_access).translated_address, 0x80fffu);
    EXPECT_EQ(cache.lookup(no_pasid, 0x13000, read_access).status, atc_status::miss);
    EXPECT_EQ(cache.lookup(no_pasid, 0x11fff, read_access).status, atc_status::miss);
}

TEST(pcie_atc, a_64k_entry_hits_at_every_inner_page_and_misses_just_outside) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x12345678, completion(0x9'0000'0000, 0x10000));
    for (std::uint64_t off = 0; off < 0x10000; off += 0x1000) {
        const atc_lookup r = cache.lookup(no_pasid, 0x12340000 + off + 0x18, read_access);
        ASSERT_TRUE(r.hit()) << std::hex << off;
        EXPECT_EQ(r.translated_address, 0x9'0000'0018u + off);
        EXPECT_EQ(r.size, 0x10000u);
    }
    EXPECT_EQ(cache.lookup(no_pasid, 0x1234ffff, read_access).translated_address, 0x9'0000'ffffu);
    EXPECT_FALSE(hits(cache, 0x12350000));
    EXPECT_FALSE(hits(cache, 0x1233ffff));
}

TEST(pcie_atc, a_2m_entry_hits_at_every_inner_page_and_misses_just_outside) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x4012'3000, completion(0x8'0020'0000, 0x20'0000));
    for (std::uint64_t off = 0; off < 0x20'0000; off += 0x1000) {
        const atc_lookup r = cache.lookup(no_pasid, 0x4000'0000 + off + 0xabc, read_access);
        ASSERT_TRUE(r.hit()) << std::hex << off;
        EXPECT_EQ(r.translated_address, 0x8'0020'0abcu + off);
    }
    EXPECT_FALSE(hits(cache, 0x4020'0000));
    EXPECT_FALSE(hits(cache, 0x3fff'ffff));
    EXPECT_EQ(cache.size(), 1u);
}

TEST(pcie_atc, entries_of_different_sizes_live_side_by_side) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x0, completion(0x100000, 0x1000));
    cache.fill(no_pasid, 0x200000, completion(0x400000, 0x200000));
    EXPECT_EQ(cache.lookup(no_pasid, 0x10, read_access).translated_address, 0x100010u);
    EXPECT_EQ(cache.lookup(no_pasid, 0x3fffff, read_access).translated_address, 0x5fffffu);
    EXPECT_FALSE(hits(cache, 0x1000));
}

TEST(pcie_atc, a_write_to_a_read_only_entry_is_a_permission_miss) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000, true, false));
    EXPECT_EQ(cache.lookup(no_pasid, 0x5008, write_access).status, atc_status::permission_miss);
    EXPECT_EQ(cache.lookup(no_pasid, 0x5008, read_access).status, atc_status::hit);
    EXPECT_EQ(cache.stats().permission_misses, 1u);
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_EQ(cache.stats().misses, 0u);
}

TEST(pcie_atc, a_read_of_a_write_only_entry_is_a_permission_miss) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000, false, true));
    EXPECT_EQ(cache.lookup(no_pasid, 0x5000, read_access).status, atc_status::permission_miss);
    EXPECT_EQ(cache.lookup(no_pasid, 0x5000, write_access).status, atc_status::hit);
}

TEST(pcie_atc, execute_and_privilege_must_match_the_entry) {
    atc cache = make_atc();
    translation_completion c = completion(0x7000, 0x1000);
    cache.fill(1, 0x5000, c); // data, unprivileged
    EXPECT_EQ(cache.lookup(1, 0x5000, atc_access{false, true, false}).status,
              atc_status::permission_miss);
    EXPECT_EQ(cache.lookup(1, 0x5000, atc_access{false, false, true}).status,
              atc_status::permission_miss);

    c.permissions.execute = true;
    c.permissions.privileged = true;
    cache.fill(2, 0x5000, c); // privileged, executable
    EXPECT_EQ(cache.lookup(2, 0x5000, atc_access{false, true, true}).status, atc_status::hit);
    EXPECT_EQ(cache.lookup(2, 0x5000, atc_access{false, false, false}).status,
              atc_status::permission_miss);
}

TEST(pcie_atc, permits_checks_each_right) {
    tlm_ext::ats_permissions p;
    p.read = true;
    EXPECT_TRUE(permits(p, read_access));
    EXPECT_FALSE(permits(p, write_access));
    EXPECT_FALSE(permits(p, atc_access{false, true, false}));
    EXPECT_FALSE(permits(p, atc_access{false, false, true}));
    p.privileged = true;
    EXPECT_FALSE(permits(p, read_access));
    EXPECT_TRUE(permits(p, atc_access{false, false, true}));
}

TEST(pcie_atc, entries_are_tagged_with_their_pasid) {
    atc cache = make_atc();
    cache.fill(5, 0x5000, completion(0x7000, 0x1000));
    cache.fill(no_pasid, 0x9000, completion(0xb000, 0x1000));
    EXPECT_TRUE(hits(cache, 0x5000, 5));
    EXPECT_FALSE(hits(cache, 0x5000, 6));
    EXPECT_FALSE(hits(cache, 0x5000));
    EXPECT_TRUE(hits(cache, 0x9000));
    EXPECT_FALSE(hits(cache, 0x9000, 5));
}

TEST(pcie_atc, the_same_address_under_two_pasids_gives_two_translations) {
    atc cache = make_atc();
    cache.fill(1, 0x5000, completion(0x10000, 0x1000));
    cache.fill(2, 0x5000, completion(0x20000, 0x1000));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.lookup(1, 0x5004, read_access).translated_address, 0x10004u);
    EXPECT_EQ(cache.lookup(2, 0x5004, read_access).translated_address, 0x20004u);
}

TEST(pcie_atc, a_global_entry_matches_every_pasid) {
    atc cache = make_atc();
    translation_completion c = completion(0x7000, 0x1000);
    c.global = true;
    cache.fill(no_pasid, 0x5000, c);
    EXPECT_TRUE(hits(cache, 0x5000));
    EXPECT_TRUE(hits(cache, 0x5000, 3));
    EXPECT_TRUE(hits(cache, 0x5fff, 0xfffff));
}

TEST(pcie_atc, refilling_the_same_range_replaces_the_entry) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000, true, false));
    cache.fill(no_pasid, 0x5000, completion(0x8000, 0x1000));
    EXPECT_EQ(cache.size(), 1u);
    const atc_lookup r = cache.lookup(no_pasid, 0x5000, write_access);
    EXPECT_TRUE(r.hit());
    EXPECT_EQ(r.translated_address, 0x8000u);
    EXPECT_EQ(cache.stats().fills, 2u);
    EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST(pcie_atc, translation_faults_are_not_cached) {
    atc cache = make_atc();
    const atc_lookup r = cache.fill(no_pasid, 0x5000, completion(0, 0x1000, false, false));
    EXPECT_EQ(r.status, atc_status::miss);
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_FALSE(hits(cache, 0x5000));
    EXPECT_EQ(cache.stats().fills, 0u);
    EXPECT_EQ(cache.stats().fills_refused, 1u);
}

TEST(pcie_atc, unsuccessful_and_malformed_completions_are_not_cached) {
    atc cache = make_atc();
    translation_completion ur = completion(0x7000, 0x1000);
    ur.status = ats_status::unsupported_request;
    translation_completion ca = ur;
    ca.status = ats_status::completer_abort;
    EXPECT_FALSE(cache.fill(no_pasid, 0x5000, ur).hit());
    EXPECT_FALSE(cache.fill(no_pasid, 0x5000, ca).hit());
    EXPECT_FALSE(cache.fill(no_pasid, 0x5000, completion(0x7000, 0x800)).hit());  // < 4 KiB
    EXPECT_FALSE(cache.fill(no_pasid, 0x5000, completion(0x7000, 0x3000)).hit()); // not 2^n
    EXPECT_FALSE(cache.fill(no_pasid, 0x5000, completion(0x7800, 0x1000)).hit()); // misaligned
    EXPECT_FALSE(cache.fill(no_pasid, 0x5000, completion(0x10000, 0x0)).hit());   // size 0
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.stats().fills_refused, 6u);
}

TEST(pcie_atc, a_u_completion_is_cached_as_send_untranslated) {
    atc cache = make_atc();
    translation_completion c = completion(0x7000, 0x1000, false, false);
    c.untranslated_only = true;
    EXPECT_TRUE(cache.fill(no_pasid, 0x5000, c).hit());
    const atc_lookup r = cache.lookup(no_pasid, 0x5010, write_access);
    EXPECT_TRUE(r.hit());
    EXPECT_TRUE(r.untranslated_only);
    EXPECT_FALSE(cache.lookup(no_pasid, 0x6000, write_access).hit());
}

TEST(pcie_atc, invalidation_removes_exactly_the_overlapping_entries) {
    atc cache = make_atc();
    for (std::uint64_t page : {0x10000u, 0x11000u, 0x12000u, 0x20000u})
        cache.fill(no_pasid, page, completion(page + 0x100000, 0x1000));
    const atc_invalidation_result r = cache.invalidate(inval(0x10000, 0x2000));
    EXPECT_EQ(r.removed, 2u);
    EXPECT_FALSE(hits(cache, 0x10000));
    EXPECT_FALSE(hits(cache, 0x11fff));
    EXPECT_TRUE(hits(cache, 0x12000));
    EXPECT_TRUE(hits(cache, 0x20000));
    EXPECT_EQ(cache.stats().invalidations, 1u);
    EXPECT_EQ(cache.stats().entries_removed, 2u);
}

TEST(pcie_atc, invalidating_one_page_of_a_large_entry_removes_the_entry) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x200000, completion(0x400000, 0x200000));
    EXPECT_EQ(cache.invalidate(inval(0x3ff000, 0x1000)).removed, 1u);
    EXPECT_FALSE(hits(cache, 0x200000));
}

TEST(pcie_atc, a_large_invalidation_removes_the_small_entries_inside_it) {
    atc cache = make_atc(256, 4);
    for (std::uint64_t page = 0; page < 64; ++page)
        cache.fill(no_pasid, 0x40000000 + page * 0x1000, completion(page * 0x1000, 0x1000));
    cache.fill(no_pasid, 0x40040000, completion(0x0, 0x1000)); // just past 256 KiB
    EXPECT_EQ(cache.invalidate(inval(0x40000000, 0x40000)).removed, 64u);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_TRUE(hits(cache, 0x40040000));
}

TEST(pcie_atc, span_all_without_a_pasid_empties_the_cache) {
    atc cache = make_atc();
    cache.fill(no_pasid, 0x1000, completion(0x1000, 0x1000));
    cache.fill(1, 0xffff'ffff'ffff'f000, completion(0x2000, 0x1000));
    cache.fill(2, 0x4000'0000, completion(0x4000'0000, 0x4000'0000));
    EXPECT_EQ(cache.invalidate(inval(0, tlm_ext::span_all)).removed, 3u);
    EXPECT_EQ(cache.size(), 0u);
}

TEST(pcie_atc, span_all_with_a_pasid_removes_only_that_pasid) {
    atc cache = make_atc();
    cache.fill(1, 0x1000, completion(0x1000, 0x1000));
    cache.fill(1, 0x8000'0000, completion(0x2000, 0x1000));
    cache.fill(2, 0x1000, completion(0x3000, 0x1000));
    cache.fill(no_pasid, 0x1000, completion(0x4000, 0x1000));
    EXPECT_EQ(cache.invalidate(inval(0, tlm_ext::span_all, 1)).removed, 2u);
    EXPECT_FALSE(hits(cache, 0x1000, 1));
    EXPECT_TRUE(hits(cache, 0x1000, 2));
    EXPECT_TRUE(hits(cache, 0x1000));
}

TEST(pcie_atc, an_invalidation_without_a_pasid_removes_every_pasid_in_range) {
    atc cache = make_atc();
    translation_completion g = completion(0x9000, 0x1000);
    g.global = true;
    cache.fill(1, 0x5000, completion(0x1000, 0x1000));
    cache.fill(2, 0x5000, completion(0x2000, 0x1000));
    cache.fill(no_pasid, 0x5000, completion(0x3000, 0x1000));
    cache.fill(no_pasid, 0x6000, g);
    cache.fill(3, 0x8000, completion(0x4000, 0x1000)); // just past the range
    EXPECT_EQ(cache.invalidate(inval(0x4000, 0x4000)).removed, 4u);
    EXPECT_TRUE(hits(cache, 0x8000, 3));
    EXPECT_EQ(cache.size(), 1u);
}

TEST(pcie_atc, a_pasid_invalidation_keeps_global_entries_unless_global_is_set) {
    atc cache = make_atc();
    translation_completion g = completion(0x9000, 0x1000);
    g.global = true;
    cache.fill(no_pasid, 0x6000, g);
    cache.fill(1, 0x6000, completion(0x1000, 0x1000));
    cache.fill(2, 0x6000, completion(0x2000, 0x1000));

    EXPECT_EQ(cache.invalidate(inval(0x6000, 0x1000, 1)).removed, 1u);
    EXPECT_TRUE(hits(cache, 0x6000, 5)); // the global entry survives
    EXPECT_TRUE(hits(cache, 0x6000, 2));

    EXPECT_EQ(cache.invalidate(inval(0x6000, 0x1000, 1, true)).removed, 1u);
    EXPECT_FALSE(hits(cache, 0x6000, 5));
    EXPECT_TRUE(hits(cache, 0x6000, 2));
}

TEST(pcie_atc, lru_evicts_the_least_recently_used_entry) {
    atc cache = make_atc(4, 4, arch::replacement_policy::lru);
    for (std::uint64_t p = 0; p < 4; ++p)
        cache.fill(no_pasid, p * 0x1000, completion(0x100000 + p * 0x1000, 0x1000));
    EXPECT_TRUE(hits(cache, 0x0000)); // page 0 becomes the most recent
    cache.fill(no_pasid, 0x4000, completion(0x104000, 0x1000));
    EXPECT_EQ(cache.stats().evictions, 1u);
    EXPECT_EQ(cache.size(), 4u);
    EXPECT_TRUE(hits(cache, 0x0000));
    EXPECT_FALSE(hits(cache, 0x1000));
    EXPECT_TRUE(hits(cache, 0x2000));
    EXPECT_TRUE(hits(cache, 0x4000));
}

TEST(pcie_atc, round_robin_evicts_the_oldest_fill_even_if_just_used) {
    atc cache = make_atc(4, 4, arch::replacement_policy::round_robin);
    for (std::uint64_t p = 0; p < 4; ++p)
        cache.fill(no_pasid, p * 0x1000, completion(0x100000 + p * 0x1000, 0x1000));
    EXPECT_TRUE(hits(cache, 0x0000));
    cache.fill(no_pasid, 0x4000, completion(0x104000, 0x1000));
    EXPECT_FALSE(hits(cache, 0x0000));
    EXPECT_TRUE(hits(cache, 0x1000));
    EXPECT_TRUE(hits(cache, 0x4000));
}

std::uint64_t random_victim(std::uint64_t seed) {
    atc cache = make_atc(4, 4, arch::replacement_policy::random, seed);
    for (std::uint64_t p = 0; p < 4; ++p)
        cache.fill(no_pasid, p * 0x1000, completion(0x100000 + p * 0x1000, 0x1000));
    cache.fill(no_pasid, 0x4000, completion(0x104000, 0x1000));
    std::uint64_t missing = 0;
    int misses = 0;
    for (std::uint64_t p = 0; p < 4; ++p) {
        if (!hits(cache, p * 0x1000)) {
            missing = p;
            ++misses;
        }
    }
    EXPECT_EQ(misses, 1);
    EXPECT_TRUE(hits(cache, 0x4000));
    return missing;
}

TEST(pcie_atc, random_replacement_evicts_one_entry_determined_by_the_seed) {
    EXPECT_EQ(random_victim(7), random_victim(7));
    EXPECT_EQ(random_victim(1234), random_victim(1234));
}

TEST(pcie_atc, random_replacement_with_different_seeds_picks_different_victims) {
    bool differ = false;
    const std::uint64_t first = random_victim(1);
    for (std::uint64_t seed = 2; seed < 20 && !differ; ++seed)
        differ = random_victim(seed) != first;
    EXPECT_TRUE(differ);
}

TEST(pcie_atc, sets_are_indexed_by_page_number) {
    // 8 entries in 4 sets of 2 ways: 4 KiB pages 0, 4 and 8 share a set, page 1 does not.
    atc cache = make_atc(8, 2, arch::replacement_policy::lru);
    for (std::uint64_t p : {0u, 4u, 1u})
        cache.fill(no_pasid, p * 0x1000, completion(p * 0x1000, 0x1000));
    EXPECT_EQ(cache.stats().evictions, 0u);
    cache.fill(no_pasid, 8 * 0x1000, completion(0x8000, 0x1000));
    EXPECT_EQ(cache.stats().evictions, 1u);
    EXPECT_FALSE(hits(cache, 0x0000));
    EXPECT_TRUE(hits(cache, 0x4000));
    EXPECT_TRUE(hits(cache, 0x1000));
    EXPECT_TRUE(hits(cache, 0x8000));
}

TEST(pcie_atc, an_invalidation_reports_in_flight_tlps_of_the_entries_it_removed) {
    atc cache = make_atc();
    const atc_lookup a = cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000));
    const atc_lookup b = cache.fill(no_pasid, 0x9000, completion(0xb000, 0x1000));
    cache.mark_in_flight(a.entry, 1000);
    cache.mark_in_flight(a.entry, 700); // earlier: the later end stays
    cache.mark_in_flight(b.entry, 5000);
    const atc_invalidation_result r = cache.invalidate(inval(0x5000, 0x1000));
    EXPECT_EQ(r.removed, 1u);
    EXPECT_EQ(r.in_flight_until, 1000u);
    EXPECT_EQ(cache.invalidate(inval(0x20000, 0x1000)).in_flight_until, 0u);
    EXPECT_EQ(cache.invalidate(inval(0x9000, 0x1000)).in_flight_until, 5000u);
}

TEST(pcie_atc, a_refill_of_the_same_range_keeps_its_in_flight_time) {
    atc cache = make_atc();
    const atc_lookup a = cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000, true, false));
    cache.mark_in_flight(a.entry, 1000);
    cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000));
    EXPECT_EQ(cache.invalidate(inval(0x5000, 0x1000)).in_flight_until, 1000u);
}

TEST(pcie_atc, in_flight_times_of_evicted_entries_hold_back_every_later_invalidation) {
    atc cache = make_atc(2, 2, arch::replacement_policy::lru);
    const atc_lookup a = cache.fill(no_pasid, 0x1000, completion(0x1000, 0x1000));
    cache.mark_in_flight(a.entry, 3000);
    cache.fill(no_pasid, 0x2000, completion(0x2000, 0x1000));
    cache.fill(no_pasid, 0x3000, completion(0x3000, 0x1000)); // evicts 0x1000
    EXPECT_FALSE(hits(cache, 0x1000));
    EXPECT_EQ(cache.invalidate(inval(0x1000, 0x1000)).in_flight_until, 3000u);
    EXPECT_EQ(cache.invalidate(inval(0x80000, 0x1000)).in_flight_until, 3000u);
}

TEST(pcie_atc, a_stale_entry_reference_marks_the_watermark_not_the_new_entry) {
    atc cache = make_atc();
    const atc_lookup a = cache.fill(no_pasid, 0x5000, completion(0x7000, 0x1000));
    cache.invalidate(inval(0x5000, 0x1000));
    cache.fill(no_pasid, 0x5000, completion(0x8000, 0x1000)); // may reuse the slot
    cache.mark_in_flight(a.entry, 4000);
    // Every invalidation waits for the orphaned TLP, also one that does not cover it.
    EXPECT_EQ(cache.invalidate(inval(0x90000, 0x1000)).in_flight_until, 4000u);
}

TEST(pcie_atc, an_invalid_reference_is_ignored) {
    atc cache = make_atc();
    cache.mark_in_flight(atc_entry_ref{}, 4000);
    EXPECT_EQ(cache.invalidate(inval(0, tlm_ext::span_all)).in_flight_until, 0u);
}

TEST(pcie_atc, flush_empties_the_cache_and_keeps_in_flight_times) {
    atc cache = make_atc();
    const atc_lookup a = cache.fill(1, 0x5000, completion(0x7000, 0x1000));
    cache.fill(no_pasid, 0x6000, completion(0x8000, 0x1000));
    cache.mark_in_flight(a.entry, 2500);
    cache.flush();
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_FALSE(hits(cache, 0x5000, 1));
    EXPECT_EQ(cache.stats().entries_removed, 2u);
    EXPECT_EQ(cache.stats().flushes, 1u);
    EXPECT_EQ(cache.invalidate(inval(0, tlm_ext::span_all)).in_flight_until, 2500u);
    // The cache still works after a flush.
    cache.fill(no_pasid, 0x6000, completion(0x8000, 0x1000));
    EXPECT_TRUE(hits(cache, 0x6000));
}

TEST(pcie_atc, statistics_count_every_operation) {
    atc cache = make_atc(2, 2);
    cache.fill(no_pasid, 0x1000, completion(0x1000, 0x1000, true, false));
    cache.fill(no_pasid, 0x2000, completion(0x2000, 0x1000));
    cache.fill(no_pasid, 0x3000, completion(0x3000, 0x1000));               // evicts
    cache.fill(no_pasid, 0x4000, completion(0x4000, 0x1000, false, false)); // refused
    cache.lookup(no_pasid, 0x3000, read_access);                            // hit
    cache.lookup(no_pasid, 0x9000, read_access);                            // miss
    cache.lookup(no_pasid, 0x3000, atc_access{false, true, false});         // permission miss
    cache.invalidate(inval(0x3000, 0x1000));
    const atc_stats& s = cache.stats();
    EXPECT_EQ(s.lookups, 3u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.permission_misses, 1u);
    EXPECT_EQ(s.fills, 3u);
    EXPECT_EQ(s.fills_refused, 1u);
    EXPECT_EQ(s.evictions, 1u);
    EXPECT_EQ(s.invalidations, 1u);
    EXPECT_EQ(s.entries_removed, 1u);

    std::string json;
    s.to_json(json);
    EXPECT_EQ(json, "{\"lookups\":3,\"hits\":1,\"misses\":1,\"permission_misses\":1,\"fills\":3,"
                    "\"fills_refused\":1,\"evictions\":1,\"invalidations\":1,"
                    "\"entries_removed\":1,\"flushes\":0}");
}

TEST(pcie_atc, status_names) {
    EXPECT_STREQ(to_string(atc_status::hit), "hit");
    EXPECT_STREQ(to_string(atc_status::miss), "miss");
    EXPECT_STREQ(to_string(atc_status::permission_miss), "permission_miss");
}

} // namespace
} // namespace smmu::pcie
