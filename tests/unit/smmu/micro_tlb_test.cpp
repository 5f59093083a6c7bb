#include <stdexcept>

#include <gtest/gtest.h>

#include "model/smmu/micro_tlb.h"

namespace smmu {
namespace {

micro_tlb::entry page(arch::stream_id sid, std::optional<arch::substream_id> ssid, std::uint64_t va,
                      std::uint64_t pa, unsigned size_log2 = 12) {
    micro_tlb::entry e;
    e.sid = sid;
    e.ssid = ssid;
    e.base = va;
    e.output = pa;
    e.size_log2 = static_cast<std::uint8_t>(size_log2);
    e.perms = arch::permission_set::all();
    return e;
}

TEST(micro_tlb, hit_is_tagged_by_stream_and_substream) {
    micro_tlb t(4);
    t.insert(page(1, std::nullopt, 0x1000, 0x80001000));
    t.insert(page(1, 7, 0x1000, 0x90001000));
    const auto* a = t.lookup(1, std::nullopt, 0x1234);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->output + (0x1234 - a->base), 0x80001234u);
    const auto* b = t.lookup(1, 7, 0x1fff);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->output, 0x90001000u);
    EXPECT_EQ(t.lookup(2, std::nullopt, 0x1000), nullptr);
    EXPECT_EQ(t.lookup(1, 8, 0x1000), nullptr);
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x2000), nullptr);
    EXPECT_EQ(t.stats().lookups, 5u);
    EXPECT_EQ(t.stats().hits, 2u);
}

TEST(micro_tlb, block_entries_match_anywhere_inside_and_insert_aligns) {
    micro_tlb t(2);
    t.insert(page(3, std::nullopt, 0x40123456, 0x80123456, 21)); // 2 MiB, any inner address
    const auto* e = t.lookup(3, std::nullopt, 0x401fffff);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->base, 0x40000000u);
    EXPECT_EQ(e->output, 0x80000000u);
    EXPECT_EQ(t.lookup(3, std::nullopt, 0x40200000), nullptr);
}

TEST(micro_tlb, round_robin_replacement_and_flush) {
    micro_tlb t(2);
    t.insert(page(1, std::nullopt, 0x1000, 0xa000));
    t.insert(page(1, std::nullopt, 0x2000, 0xb000));
    t.insert(page(1, std::nullopt, 0x3000, 0xc000)); // evicts the oldest (0x1000)
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x1000), nullptr);
    EXPECT_NE(t.lookup(1, std::nullopt, 0x2000), nullptr);
    EXPECT_NE(t.lookup(1, std::nullopt, 0x3000), nullptr);
    EXPECT_EQ(t.size(), 2u);
    t.flush();
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x2000), nullptr);
    EXPECT_EQ(t.stats().flushes, 1u);
}

TEST(micro_tlb, pages_and_blocks_coexist_and_evict_each_other) {
    micro_tlb t(2);
    t.insert(page(1, std::nullopt, 0x40000000, 0x80000000, 21)); // 2 MiB block
    t.insert(page(1, std::nullopt, 0x1000, 0xa000));             // 4 KiB page
    EXPECT_NE(t.lookup(1, std::nullopt, 0x40100000), nullptr);
    EXPECT_NE(t.lookup(1, std::nullopt, 0x1800), nullptr);
    EXPECT_EQ(t.lookup(2, std::nullopt, 0x40100000), nullptr) << "other stream, same block";
    t.insert(page(1, std::nullopt, 0x2000, 0xb000)); // evicts the block (oldest)
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x40100000), nullptr);
    EXPECT_NE(t.lookup(1, std::nullopt, 0x1000), nullptr);
    EXPECT_NE(t.lookup(1, std::nullopt, 0x2fff), nullptr);
    t.insert(page(1, 4, 0x40000000, 0x80000000, 30)); // 1 GiB, with a SubstreamID
    EXPECT_NE(t.lookup(1, 4, 0x7fffffff), nullptr);
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x7fffffff), nullptr);
}

TEST(micro_tlb, zero_entries_is_a_configuration_error) {
    EXPECT_THROW(micro_tlb(0), std::invalid_argument);
}

} // namespace
} // namespace smmu
