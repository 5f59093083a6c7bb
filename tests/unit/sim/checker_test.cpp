#include <gtest/gtest.h>

#include "platforms/sim/checker.h"

namespace smmu::sim {
namespace {

const stream_key k_sid3{3, std::nullopt};

TEST(invalidation_checker, dma_after_a_synced_unmap_is_flagged) {
    invalidation_checker c;
    c.attached(k_sid3, 7);
    c.unmapped(7, 0x10000, 0x2000, 1000);
    c.translation_used(k_sid3, 0x11fff, 1500, "smmu");
    ASSERT_EQ(c.violations().size(), 1u);
    EXPECT_EQ(c.violations()[0].kind, violation_kind::stale_translation);
    EXPECT_EQ(c.violations()[0].at, 1500u);
    EXPECT_NE(c.violations()[0].detail.find("iova 0x11fff"), std::string::npos);
    EXPECT_EQ(c.count(violation_kind::stale_translation), 1u);
}

TEST(invalidation_checker, dma_that_began_before_the_unmap_completed_is_allowed) {
    invalidation_checker c;
    c.attached(k_sid3, 7);
    c.unmapped(7, 0x10000, 0x1000, 1000);
    c.translation_used(k_sid3, 0x10000, 999, "smmu");
    EXPECT_EQ(c.total(), 0u);
}

TEST(invalidation_checker, addresses_outside_the_range_and_other_domains_are_fine) {
    invalidation_checker c;
    c.attached(k_sid3, 7);
    c.attached({4, std::nullopt}, 8);
    c.unmapped(7, 0x10000, 0x1000, 1000);
    c.translation_used(k_sid3, 0x11000, 2000, "smmu");
    c.translation_used(k_sid3, 0xffff, 2000, "smmu");
    c.translation_used({4, std::nullopt}, 0x10000, 2000, "smmu");
    c.translation_used({3, 1u}, 0x10000, 2000, "atc"); // a PASID of sid 3 not attached
    EXPECT_EQ(c.total(), 0u);
    EXPECT_EQ(c.checks(), 4u);
}

TEST(invalidation_checker, remapping_clears_exactly_the_remapped_part) {
    invalidation_checker c;
    c.attached(k_sid3, 7);
    c.unmapped(7, 0x10000, 0x4000, 1000);
    c.mapped(7, 0x11000, 0x1000);
    c.translation_used(k_sid3, 0x11000, 2000, "smmu"); // mapped again
    EXPECT_EQ(c.total(), 0u);
    c.translation_used(k_sid3, 0x10000, 2000, "smmu");
    c.translation_used(k_sid3, 0x12000, 2000, "smmu");
    c.translation_used(k_sid3, 0x13fff, 2000, "smmu");
    EXPECT_EQ(c.total(), 3u);
}

TEST(invalidation_checker, detached_streams_are_not_checked) {
    invalidation_checker c;
    c.attached(k_sid3, 7);
    c.unmapped(7, 0x10000, 0x1000, 1000);
    c.attached(k_sid3, 0);
    c.translation_used(k_sid3, 0x10000, 2000, "smmu");
    EXPECT_EQ(c.total(), 0u);
}

TEST(invalidation_checker, atc_inv_needs_a_sync_after_the_tlbis) {
    invalidation_checker c;
    c.atc_inv_executed(0, 3, 10); // nothing pending
    c.tlbi_executed(0);
    c.sync_completed(0);
    c.atc_inv_executed(0, 3, 20); // TLBIs synced
    EXPECT_EQ(c.total(), 0u);
    c.tlbi_executed(0);
    c.tlbi_executed(1); // another SMMU's TLBI does not matter to SMMU 0... but to SMMU 1
    c.sync_completed(1);
    c.atc_inv_executed(0, 5, 30);
    ASSERT_EQ(c.total(), 1u);
    EXPECT_EQ(c.violations()[0].kind, violation_kind::atc_inv_before_sync);
    EXPECT_NE(c.violations()[0].detail.find("sid 5 with 1 TLBI"), std::string::npos);
    c.atc_inv_executed(1, 5, 40);
    EXPECT_EQ(c.total(), 1u);
}

TEST(invalidation_checker, tag_left_in_the_iotlb) {
    invalidation_checker c;
    c.tag_checked("asid 1", 0, 5);
    EXPECT_EQ(c.total(), 0u);
    c.tag_checked("asid 2", 3, 6);
    ASSERT_EQ(c.total(), 1u);
    EXPECT_EQ(c.violations()[0].kind, violation_kind::tag_after_detach);
    EXPECT_EQ(c.violations()[0].detail, "asid 2: 3 IOTLB entries after its last detach");
}

TEST(invalidation_checker, the_record_is_bounded_the_count_is_not) {
    invalidation_checker c;
    c.set_limit(2);
    for (int i = 0; i < 5; ++i)
        c.tag_checked("vmid 1", 1, 1);
    EXPECT_EQ(c.violations().size(), 2u);
    EXPECT_EQ(c.total(), 5u);
    EXPECT_EQ(c.count(violation_kind::tag_after_detach), 5u);
}

TEST(invalidation_checker, names) {
    EXPECT_STREQ(to_string(violation_kind::stale_translation), "stale_translation");
    EXPECT_STREQ(to_string(violation_kind::atc_inv_before_sync), "atc_inv_before_sync");
    EXPECT_STREQ(to_string(violation_kind::tag_after_detach), "tag_after_detach");
}

} // namespace
} // namespace smmu::sim
