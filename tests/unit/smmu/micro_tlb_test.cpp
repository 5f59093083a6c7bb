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

TEST(micro_tlb, too_many_entries_is_a_configuration_error) {
    EXPECT_THROW(micro_tlb(0xffff'ffffu), std::invalid_argument);
}

// The hash index of 4 KiB entries must find exactly what a scan of every slot would.

TEST(micro_tlb, every_page_of_a_full_array_hits_and_no_other) {
    micro_tlb t(32);
    for (std::uint64_t i = 0; i < 32; ++i)
        t.insert(page(1, std::nullopt, 0x10'0000 + i * 0x1000, 0x8000'0000 + i * 0x1000));
    for (std::uint64_t i = 0; i < 32; ++i) {
        const auto* e = t.lookup(1, std::nullopt, 0x10'0000 + i * 0x1000 + 0x10);
        ASSERT_NE(e, nullptr) << i;
        EXPECT_EQ(e->output, 0x8000'0000 + i * 0x1000);
    }
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x10'0000 + 32 * 0x1000), nullptr);
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x0f'f000), nullptr);
    EXPECT_EQ(t.lookup(1, 0, 0x10'0000), nullptr) << "same page, with a SubstreamID";
    EXPECT_EQ(t.lookup(0, std::nullopt, 0x10'0000), nullptr) << "same page, other stream";
    EXPECT_EQ(t.stats().lookups, 36u);
    EXPECT_EQ(t.stats().hits, 32u);
}

TEST(micro_tlb, evicted_pages_leave_the_index) {
    micro_tlb t(4);
    // 20 pages through 4 slots, round robin: pages 16 to 19 remain.
    for (std::uint64_t i = 0; i < 20; ++i)
        t.insert(page(2, 3, i * 0x1000, 0xa000'0000 + i * 0x1000));
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_EQ(t.lookup(2, 3, i * 0x1000), nullptr) << i;
    for (std::uint64_t i = 16; i < 20; ++i) {
        const auto* e = t.lookup(2, 3, i * 0x1000);
        ASSERT_NE(e, nullptr) << i;
        EXPECT_EQ(e->output, 0xa000'0000 + i * 0x1000);
    }
    EXPECT_EQ(t.size(), 4u);
}

TEST(micro_tlb, duplicate_pages_resolve_to_the_lowest_slot) {
    // A refill after a permission miss may duplicate a page; lookups then find the entry
    // hit last, else the one in the lowest slot.
    micro_tlb t(4);
    t.insert(page(1, std::nullopt, 0x5000, 0xa000));   // slot 0
    t.insert(page(1, std::nullopt, 0x6000, 0xb000));   // slot 1
    t.insert(page(1, std::nullopt, 0x5000, 0xc000));   // slot 2: page 0x5000 again
    const auto* e = t.lookup(1, std::nullopt, 0x5000); // the last insert is the last hit
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->output, 0xc000u);
    ASSERT_NE(t.lookup(1, std::nullopt, 0x6000), nullptr);
    e = t.lookup(1, std::nullopt, 0x5000);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->output, 0xa000u) << "slot 0 before slot 2";
}

TEST(micro_tlb, flush_empties_the_index) {
    micro_tlb t(4);
    t.insert(page(1, std::nullopt, 0x5000, 0xa000));
    t.flush();
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x5000), nullptr);
    // Slot 0 again for the same page, then another entry so that the next lookup of
    // 0x5000 goes through the index: a chain left over from before the flush would loop.
    t.insert(page(1, std::nullopt, 0x5000, 0xd000));
    t.insert(page(1, std::nullopt, 0x7000, 0xe000));
    const auto* e = t.lookup(1, std::nullopt, 0x5000);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->output, 0xd000u);
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x6000), nullptr);
}

TEST(micro_tlb, flush_of_a_full_array_empties_every_chain) {
    micro_tlb t(8);
    for (std::uint64_t i = 0; i < 8; ++i)
        t.insert(page(1, std::nullopt, i * 0x1000, 0xa000'0000 + i * 0x1000));
    t.insert(page(1, std::nullopt, 0x4000'0000, 0xb000'0000, 21)); // a block replaces page 0
    t.flush();
    // Slots reused by other pages, in reverse order: chains left over would cross-link.
    for (std::uint64_t i = 0; i < 4; ++i)
        t.insert(page(1, std::nullopt, (20 - i) * 0x1000, 0xc000'0000 + i * 0x1000));
    for (std::uint64_t i = 0; i < 8; ++i)
        EXPECT_EQ(t.lookup(1, std::nullopt, i * 0x1000), nullptr) << i;
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x4000'0000), nullptr);
    for (std::uint64_t i = 0; i < 4; ++i) {
        const auto* e = t.lookup(1, std::nullopt, (20 - i) * 0x1000);
        ASSERT_NE(e, nullptr) << i;
        EXPECT_EQ(e->output, 0xc000'0000 + i * 0x1000);
    }
    EXPECT_EQ(t.size(), 4u);
}

TEST(micro_tlb, a_page_may_replace_a_block_and_a_block_a_page) {
    micro_tlb t(1);
    t.insert(page(1, std::nullopt, 0x5000, 0xa000));
    t.insert(page(1, std::nullopt, 0x40000000, 0x80000000, 21)); // evicts the page
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x5000), nullptr);
    EXPECT_NE(t.lookup(1, std::nullopt, 0x40100000), nullptr);
    t.insert(page(1, std::nullopt, 0x6000, 0xb000)); // evicts the block
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x40100000), nullptr);
    const auto* e = t.lookup(1, std::nullopt, 0x6008);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->output, 0xb000u);
    EXPECT_EQ(t.lookup(1, std::nullopt, 0x5000), nullptr);
}

} // namespace
} // namespace smmu
