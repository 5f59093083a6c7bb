// Walker tests. Tables are built in a fake memory by table_builder; expected
// addresses, read positions and sizes are literal numbers worked out from the
// reference (§8) by hand, not from descriptor.h.
#include <gtest/gtest.h>

#include "model/arch/walker.h"
#include "tests/unit/arch/walker_test_support.h"

namespace smmu::arch {
namespace {

using namespace test; // fake_memory, table_builder and the k_* descriptor bits

constexpr phys_addr k_s1_root = 0x100000;
constexpr phys_addr k_s1_pool = 0x200000;
constexpr phys_addr k_s1_root1 = 0x400000; // TTB1 tables
constexpr phys_addr k_s1_pool1 = 0x600000;
constexpr phys_addr k_s2_root = 0x800000;
constexpr phys_addr k_s2_pool = 0x1000000;

constexpr std::uint64_t k_s1_rw_all = k_af | k_ap_el0; // user RW, executable by EL0
constexpr std::uint64_t k_s2_leaf = k_af | k_s2_rw | k_memattr_wb;

access_kind data_read(bool priv = false) {
    return access_kind{false, false, priv};
}
access_kind data_write(bool priv = false) {
    return access_kind{true, false, priv};
}
access_kind exec(bool priv = false) {
    return access_kind{false, true, priv};
}

stage1_config s1_config(granule g, unsigned tsz) {
    stage1_config c;
    c.ttb0 = k_s1_root;
    c.ttb1 = k_s1_root1;
    c.t0sz = tsz;
    c.t1sz = tsz;
    c.tg0 = g;
    c.tg1 = g;
    c.ips_bits = 48;
    c.asid = 5;
    return c;
}

stage2_config s2_config(granule g, unsigned t0sz, unsigned sl0) {
    stage2_config c;
    c.ttb = k_s2_root;
    c.t0sz = t0sz;
    c.sl0 = sl0;
    c.tg = g;
    c.ps_bits = 48;
    c.vmid = 9;
    return c;
}

unsigned log2_of(granule g) {
    return static_cast<unsigned>(g);
}

table_builder s1_tables(fake_memory& mem, granule g, int start, unsigned ia_bits) {
    return table_builder(mem, log2_of(g), start, ia_bits, k_s1_root, k_s1_pool);
}

table_builder s2_tables(fake_memory& mem, granule g, int start, unsigned ia_bits) {
    return table_builder(mem, log2_of(g), start, ia_bits, k_s2_root, k_s2_pool);
}

/// Identity-maps every page of the stage-1 tables at stage 2 (level-3 pages).
void map_s1_tables(table_builder& s2, const table_builder& s1, std::uint64_t attrs = k_s2_leaf) {
    for (phys_addr t : s1.tables())
        for (std::uint64_t off = 0; off < s1.granule_bytes(); off += s2.granule_bytes())
            s2.map(t + off, 3, page_desc(t + off, attrs));
}

walk_request request(std::uint64_t addr, access_kind a, const stage1_config* s1,
                     const stage2_config* s2 = nullptr) {
    walk_request r;
    r.input_address = addr;
    r.access = a;
    r.s1 = s1;
    r.s2 = s2;
    return r;
}

void expect_fault(const walk_outcome& o, fault_kind kind, stage st, int level,
                  fault_class cls = fault_class::in) {
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.fault->kind, kind);
    EXPECT_EQ(o.fault->st, st);
    EXPECT_EQ(o.fault->level, level);
    EXPECT_EQ(o.fault->cls, cls);
}

// ------------------------------------------------------------------ stage 1

TEST(walker_stage1, four_level_4k_page) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    b.map(va, 3, page_desc(0x0000000876543000ull, k_s1_rw_all | k_ng | (1ull << 2) | (3ull << 8)));
    const auto cfg = s1_config(granule::size_4k, 16);

    const auto o = walk(request(va, data_write(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    const walk_result& r = o.result;
    EXPECT_EQ(r.output_address, 0x0000000876543abcull);
    EXPECT_EQ(r.size_log2, 12u);
    EXPECT_EQ(r.input_base, 0x0000123456789000ull);
    EXPECT_EQ(r.output_base, 0x0000000876543000ull);
    EXPECT_EQ(r.ipa, 0x0000000876543abcull);
    EXPECT_EQ(r.s1_level.value_or(-9), 3);
    EXPECT_FALSE(r.s2_level.has_value());
    EXPECT_FALSE(r.s2_attrs.has_value());
    ASSERT_TRUE(r.s1_attrs.has_value());
    EXPECT_EQ(r.s1_attrs->attr_indx, 1u);
    EXPECT_EQ(r.s1_attrs->sh, 3u);
    EXPECT_TRUE(r.s1_attrs->ng);
    EXPECT_FALSE(r.s1_attrs->contiguous);
    EXPECT_EQ(r.tag.asid.value_or(0), 5u);
    EXPECT_FALSE(r.tag.global);
    EXPECT_FALSE(r.tag.vmid.has_value());
    // Descriptor positions: L0 index 0x24, L1 0xd1, L2 0xb3, L3 0x189.
    ASSERT_EQ(mem.log().size(), 4u);
    EXPECT_EQ(mem.log()[0].pa, 0x100120ull);
    EXPECT_EQ(mem.log()[1].pa, 0x200688ull);
    EXPECT_EQ(mem.log()[2].pa, 0x201598ull);
    EXPECT_EQ(mem.log()[3].pa, 0x202c48ull);
    for (int l = 0; l <= 3; ++l) {
        EXPECT_EQ(mem.log()[static_cast<std::size_t>(l)].level, l);
        EXPECT_EQ(mem.log()[static_cast<std::size_t>(l)].st, stage::one);
        EXPECT_EQ(o.reads.at(stage::one, l), 1u);
    }
    EXPECT_EQ(o.reads.at(stage::one, -1), 0u);
    EXPECT_EQ(o.reads.total(stage::one), 4u);
    EXPECT_EQ(o.reads.total(stage::two), 0u);
}

TEST(walker_stage1, three_level_16k_page) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_16k, 1, 47);
    const std::uint64_t va = 0x0000234567894abcull;
    b.map(va, 3, page_desc(0x000000012345c000ull, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_16k, 17);

    const auto o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000000012345cabcull);
    EXPECT_EQ(o.result.size_log2, 14u);
    EXPECT_EQ(o.result.s1_level.value_or(-9), 1 + 2);
    // L1 index 0x234, L2 0x2b3, L3 0x625; tables are 16 KB apart in the pool.
    ASSERT_EQ(mem.log().size(), 3u);
    EXPECT_EQ(mem.log()[0].pa, 0x1011a0ull);
    EXPECT_EQ(mem.log()[1].pa, 0x201598ull);
    EXPECT_EQ(mem.log()[2].pa, 0x207128ull);
    EXPECT_EQ(o.reads.at(stage::one, 0), 0u);
    EXPECT_EQ(o.reads.at(stage::one, 1), 1u);
    EXPECT_EQ(o.reads.total(), 3u);
}

TEST(walker_stage1, two_level_64k_page) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 2, 42);
    const std::uint64_t va = 0x00000123456789abull;
    b.map(va, 3, page_desc(0x00000000abcd0000ull, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_64k, 22);

    const auto o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x00000000abcd89abull);
    EXPECT_EQ(o.result.size_log2, 16u);
    ASSERT_EQ(mem.log().size(), 2u);
    EXPECT_EQ(mem.log()[0].pa, 0x1048d0ull); // L2 index 0x91a
    EXPECT_EQ(mem.log()[1].pa, 0x202b38ull); // L3 index 0x567
    EXPECT_EQ(o.reads.at(stage::one, 2), 1u);
    EXPECT_EQ(o.reads.at(stage::one, 3), 1u);
}

TEST(walker_stage1, ttb_low_bits_below_table_size_are_ignored) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    b.map(0x1000, 3, page_desc(0x5000, k_s1_rw_all));
    auto cfg = s1_config(granule::size_4k, 16);
    cfg.ttb0 = k_s1_root + 0x18;
    const auto o = walk(request(0x1000, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(mem.log()[0].pa, 0x100000ull);
}

TEST(walker_stage1, small_initial_table_alignment_is_64_bytes_with_52_bit_output) {
    // 4K, T0SZ=33: one bit at level 1, a 16-byte initial table.
    fake_memory mem;
    mem.write(0x100030, 0); // invalid descriptor: only the read position matters
    auto cfg = s1_config(granule::size_4k, 33);
    cfg.ttb0 = k_s1_root + 0x30;
    auto o = walk(request(0, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 1);
    EXPECT_EQ(mem.log().back().pa, 0x100030ull);

    cfg.ds = true;
    cfg.ips_bits = 52;
    o = walk(request(0, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 1);
    EXPECT_EQ(mem.log().back().pa, 0x100000ull);
}

TEST(walker_stage1, ttb1_selected_by_va_bit_55) {
    fake_memory mem;
    table_builder b0(mem, 12, 1, 39, k_s1_root, k_s1_pool);
    table_builder b1(mem, 12, 1, 39, k_s1_root1, k_s1_pool1);
    b0.map(0x1234, 3, page_desc(0xa000, k_s1_rw_all));
    b1.map(0xffffff8000001234ull, 3, page_desc(0xb000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 25);

    auto o = walk(request(0xffffff8000001234ull, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0xb234ull);
    EXPECT_EQ(o.result.input_base, 0xffffff8000001000ull);
    EXPECT_EQ(mem.log()[0].pa, 0x400000ull);

    o = walk(request(0x1234, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0xa234ull);
}

TEST(walker_stage1, ttb1_uses_its_own_granule_and_size) {
    fake_memory mem;
    table_builder b1(mem, 16, 2, 42, k_s1_root1, k_s1_pool1);
    b1.map(0xfffffc0000010000ull, 3, page_desc(0xc0000, k_s1_rw_all));
    auto cfg = s1_config(granule::size_4k, 25);
    cfg.tg1 = granule::size_64k;
    cfg.t1sz = 22;
    const auto o = walk(request(0xfffffc0000010042ull, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0xc0042ull);
    EXPECT_EQ(o.result.size_log2, 16u);
    EXPECT_EQ(o.reads.total(), 2u);
}

TEST(walker_stage1, tbi0_ignores_the_top_byte) {
    fake_memory mem;
    table_builder b(mem, 12, 1, 39, k_s1_root, k_s1_pool);
    b.map(0x12345678, 3, page_desc(0x9000, k_s1_rw_all));
    auto cfg = s1_config(granule::size_4k, 25);
    const std::uint64_t va = 0xab00000012345678ull;

    auto o = walk(request(va, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.fault->input_address, va);

    cfg.tbi0 = true;
    o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x9678ull);
    EXPECT_EQ(o.result.input_base, 0x0000000012345000ull);
}

TEST(walker_stage1, tbi1_applies_to_the_upper_half_only) {
    fake_memory mem;
    table_builder b1(mem, 12, 1, 39, k_s1_root1, k_s1_pool1);
    b1.map(0xffffff8000001234ull, 3, page_desc(0xb000, k_s1_rw_all));
    auto cfg = s1_config(granule::size_4k, 25);
    const std::uint64_t va = 0x12ffff8000001234ull;
    cfg.tbi0 = true; // the wrong half
    auto o = walk(request(va, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);

    cfg.tbi1 = true;
    o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0xb234ull);
    EXPECT_EQ(o.result.input_base, 0xffffff8000001000ull);
}

TEST(walker_stage1, descriptor_reads_per_level) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x40200000, 2, block_desc(0x80000000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x40200123, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.reads.s1[0], 0u); // level -1
    EXPECT_EQ(o.reads.s1[1], 0u); // level 0
    EXPECT_EQ(o.reads.s1[2], 1u);
    EXPECT_EQ(o.reads.s1[3], 1u);
    EXPECT_EQ(o.reads.s1[4], 0u);
    EXPECT_EQ(o.reads.total(), 2u);
}

// ------------------------------------------------------------------ stage 2

TEST(walker_stage2, concatenated_4k_two_tables_at_level_1) {
    // T0SZ=24 SL0=01: 40-bit IPA, two concatenated level-1 tables.
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 1, 40);
    const std::uint64_t ipa = 0x0000008012345678ull;
    b.map(ipa, 3, page_desc(0x000000abcde01000ull, k_s2_leaf));
    const auto cfg = s2_config(granule::size_4k, 24, 1);

    const auto o = walk(request(ipa, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000000abcde01678ull);
    EXPECT_EQ(mem.log()[0].pa, 0x801000ull); // index 0x200: second table
    EXPECT_EQ(mem.log()[0].st, stage::two);
    EXPECT_EQ(mem.log()[0].level, 1);
    EXPECT_EQ(o.reads.at(stage::two, 1), 1u);
    EXPECT_EQ(o.reads.total(stage::two), 3u);
    EXPECT_EQ(o.reads.total(stage::one), 0u);
    EXPECT_EQ(o.result.s2_level.value_or(-9), 3);
    EXPECT_FALSE(o.result.s1_level.has_value());
    ASSERT_TRUE(o.result.s2_attrs.has_value());
    EXPECT_EQ(o.result.s2_attrs->mem_attr, 0xfu);
    EXPECT_EQ(o.result.tag.vmid.value_or(0), 9u);
    EXPECT_FALSE(o.result.tag.asid.has_value());
    EXPECT_TRUE(o.result.tag.global);
    EXPECT_EQ(o.result.ipa, ipa);
}

TEST(walker_stage2, concatenated_16k_two_tables_at_level_1) {
    // T0SZ=16 SL0=10: 48-bit IPA at level 1 needs two concatenated tables.
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_16k, 1, 48);
    const std::uint64_t ipa = 0x0000800000004123ull;
    b.map(ipa, 3, page_desc(0x40000000, k_s2_leaf));
    const auto cfg = s2_config(granule::size_16k, 16, 2);
    const auto o = walk(request(ipa, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x40000123ull);
    EXPECT_EQ(mem.log()[0].pa, 0x804000ull); // index 0x800: second 16 KB table
}

TEST(walker_stage2, concatenated_64k_two_tables_at_level_2) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_64k, 2, 43);
    const std::uint64_t ipa = 0x0000040000001234ull;
    b.map(ipa, 3, page_desc(0x0000000500000000ull, k_s2_leaf));
    const auto cfg = s2_config(granule::size_64k, 21, 1);
    const auto o = walk(request(ipa, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000000500001234ull);
    EXPECT_EQ(mem.log()[0].pa, 0x810000ull); // index 0x2000: second 64 KB table
    EXPECT_EQ(o.reads.total(), 2u);
}

TEST(walker_stage2, four_concatenated_tables_at_level_2) {
    // 4K, T0SZ=32 SL0=00: level 2 with 4 tables.
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 2, 32);
    b.map(0xc0000345, 3, page_desc(0x7000, k_s2_leaf));
    const auto cfg = s2_config(granule::size_4k, 32, 0);
    const auto o = walk(request(0xc0000345, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x7345ull);
    EXPECT_EQ(mem.log()[0].pa, 0x803000ull); // index 0x600: fourth table
    EXPECT_EQ(o.reads.total(), 2u);
}

TEST(walker_stage2, inconsistent_sl0_is_a_level_0_translation_fault) {
    fake_memory mem;
    const auto cfg = s2_config(granule::size_4k, 24, 0); // 40-bit IPA cannot start at level 2
    auto o = walk(request(0x1000, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::two, 0);
    EXPECT_EQ(o.reads.total(), 0u);
    const auto reserved = s2_config(granule::size_64k, 25, 3);
    o = walk(request(0x1000, data_read(), nullptr, &reserved), mem);
    expect_fault(o, fault_kind::translation, stage::two, 0);
}

TEST(walker_stage2, ipa_outside_t0sz_is_a_level_0_translation_fault) {
    fake_memory mem;
    const auto cfg = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x0000010000000000ull, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::two, 0);
    EXPECT_EQ(o.fault->ipa, 0x0000010000000000ull);
    EXPECT_EQ(o.fault->input_address, 0x0000010000000000ull);
    EXPECT_EQ(o.reads.total(), 0u);
}

TEST(walker_stage2, level_1_block) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 1, 40);
    b.map(0x0000008012345678ull, 1, block_desc(0x0000000240000000ull, k_s2_leaf));
    const auto cfg = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x0000008012345678ull, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000000252345678ull);
    EXPECT_EQ(o.result.size_log2, 30u);
    EXPECT_EQ(o.result.s2_level.value_or(-9), 1);
}

TEST(walker_stage2, bypassed_stage_1_checks_input_against_ias) {
    fake_memory mem;
    const auto cfg = s2_config(granule::size_4k, 24, 1);
    auto r = request(0x0000010000000000ull, data_read(), nullptr, &cfg);
    r.bypass_ias_bits = 40;
    const auto o = walk(r, mem);
    expect_fault(o, fault_kind::address_size, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
}

// ------------------------------------------------------------------ nested

struct nested_case {
    granule g;
    unsigned s1_tsz;
    int s1_start;
    unsigned s2_tsz;
    unsigned s2_sl0;
    int s2_start;
    std::uint64_t va;
    std::uint64_t ipa_page;
    std::uint64_t pa_page;
    std::uint64_t expected_pa;
    unsigned s1_reads;
    unsigned s2_reads;
};

void run_nested(const nested_case& c) {
    fake_memory mem;
    auto s1b = s1_tables(mem, c.g, c.s1_start, 64 - c.s1_tsz);
    auto s2b = s2_tables(mem, c.g, c.s2_start, 64 - c.s2_tsz);
    s1b.map(c.va, 3, page_desc(c.ipa_page, k_af | k_ng));
    map_s1_tables(s2b, s1b);
    s2b.map(c.ipa_page, 3, page_desc(c.pa_page, k_s2_leaf));
    const auto s1 = s1_config(c.g, c.s1_tsz);
    const auto s2 = s2_config(c.g, c.s2_tsz, c.s2_sl0);

    const auto o = walk(request(c.va, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, c.expected_pa);
    EXPECT_EQ(o.result.ipa, c.ipa_page | (c.va & (s1b.granule_bytes() - 1)));
    EXPECT_EQ(o.reads.total(stage::one), c.s1_reads);
    EXPECT_EQ(o.reads.total(stage::two), c.s2_reads);
    EXPECT_EQ(o.result.s1_level.value_or(-9), 3);
    EXPECT_EQ(o.result.s2_level.value_or(-9), 3);
    EXPECT_EQ(o.result.tag.asid.value_or(0), 5u);
    EXPECT_EQ(o.result.tag.vmid.value_or(0), 9u);
    EXPECT_TRUE(o.result.s1_attrs.has_value());
    EXPECT_TRUE(o.result.s2_attrs.has_value());
    // The walk starts with stage 2 translating the first stage-1 descriptor.
    EXPECT_EQ(mem.log()[0].st, stage::two);
}

TEST(walker_nested, granule_4k) {
    // S1 3 levels, S2 3 levels: 3 S1 reads, 3 x 3 + 3 S2 reads.
    run_nested({granule::size_4k, 25, 1, 24, 1, 1, 0x0000001234567089ull, 0x0000005555555000ull,
                0x99999000ull, 0x99999089ull, 3, 12});
}

TEST(walker_nested, granule_16k) {
    run_nested({granule::size_16k, 28, 2, 28, 1, 2, 0x0000000876543210ull, 0x0000000444444000ull,
                0x77774000ull, 0x77777210ull, 2, 6});
}

TEST(walker_nested, granule_64k) {
    run_nested({granule::size_64k, 22, 2, 22, 1, 2, 0x000000123456789aull, 0x0000003333330000ull,
                0x66660000ull, 0x6666789aull, 2, 6});
}

TEST(walker_nested, four_by_four_levels_reads_24_descriptors) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 0, 48);
    auto s2b = s2_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    s1b.map(va, 3, page_desc(0x0000700000001000ull, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x0000700000001000ull, 3, page_desc(0x0000000000042000ull, k_s2_leaf));
    const auto s1 = s1_config(granule::size_4k, 16);
    const auto s2 = s2_config(granule::size_4k, 16, 2);

    const auto o = walk(request(va, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x42abcull);
    EXPECT_EQ(o.reads.total(), 24u);
    EXPECT_EQ(o.reads.total(stage::one), 4u);
    for (int l = 0; l <= 3; ++l) {
        EXPECT_EQ(o.reads.at(stage::one, l), 1u);
        EXPECT_EQ(o.reads.at(stage::two, l), 5u);
    }
}

TEST(walker_nested, mixed_granules) {
    // Stage 1 with 64 KB tables translated by a 4 KB stage 2.
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_64k, 2, 42);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x00000123456789abull, 3, page_desc(0x0000003333330000ull, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x0000003333338000ull, 3, page_desc(0x5000, k_s2_leaf));
    const auto s1 = s1_config(granule::size_64k, 22);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x00000123456789abull, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x59abull);
    EXPECT_EQ(o.result.size_log2, 12u); // min(64K, 4K)
    EXPECT_EQ(o.result.s1_size_log2, 16u);
    EXPECT_EQ(o.result.s2_size_log2, 12u);
    EXPECT_EQ(o.result.input_base, 0x0000012345678000ull);
    EXPECT_EQ(o.result.output_base, 0x5000ull);
}

TEST(walker_nested, mapping_size_is_the_smaller_stage) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    // Stage 1: 2 MB block; stage 2: 1 GB block covering both it and the tables.
    s1b.map(0x40200000, 2, block_desc(0x80600000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x80000000, 1, block_desc(0x0000000140000000ull, k_s2_leaf));
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x40212345, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000000140612345ull);
    EXPECT_EQ(o.result.size_log2, 21u);
    EXPECT_EQ(o.result.input_base, 0x40200000ull);
    EXPECT_EQ(o.result.output_base, 0x0000000140600000ull);
    EXPECT_EQ(o.result.ipa, 0x80612345ull);
}

TEST(walker_nested, stage2_fault_on_a_stage1_table_fetch) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    const std::uint64_t va = 0x0000001234567089ull;
    s1b.map(va, 3, page_desc(0x5000, k_af));
    // Map only the root page at stage 2: the level-2 table's IPA is unmapped.
    s2b.map(k_s1_root, 3, page_desc(k_s1_root, k_s2_leaf));
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);

    const auto o = walk(request(va, data_write(true), &s1, &s2), mem);
    // Stage 2 has no level-2 entry for IPA 0x200000 (index 1).
    expect_fault(o, fault_kind::translation, stage::two, 2, fault_class::tt);
    EXPECT_TRUE(o.fault->on_s1_table_walk());
    // L2 table at 0x200000, index VA[29:21] = 0x1a2.
    EXPECT_EQ(o.fault->ipa, 0x200d10ull);
    EXPECT_EQ(o.fault->input_address, va);
    EXPECT_TRUE(o.fault->access.write);
    EXPECT_EQ(o.reads.total(stage::one), 1u);
}

TEST(walker_nested, stage2_fault_on_the_final_output) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    const std::uint64_t va = 0x0000001234567089ull;
    s1b.map(va, 3, page_desc(0x0000005555555000ull, k_af));
    map_s1_tables(s2b, s1b);
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);

    const auto o = walk(request(va, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::translation, stage::two, 1, fault_class::in);
    EXPECT_FALSE(o.fault->on_s1_table_walk());
    EXPECT_EQ(o.fault->ipa, 0x0000005555555089ull);
    EXPECT_EQ(o.fault->input_address, va);
    EXPECT_EQ(o.reads.total(stage::one), 3u);
}

TEST(walker_nested, stage1_output_beyond_ips_is_a_stage1_address_size_fault) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x0000010000000000ull, k_af));
    map_s1_tables(s2b, s1b);
    auto s1 = s1_config(granule::size_4k, 25);
    s1.ips_bits = 40; // min(IPS, IAS)
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 3);
}

TEST(walker_nested, ipa_beyond_s2t0sz_is_a_stage2_translation_fault) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x0000020000000000ull, k_af));
    map_s1_tables(s2b, s1b);
    const auto s1 = s1_config(granule::size_4k, 25); // IPS 48
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::translation, stage::two, 0, fault_class::in);
    EXPECT_EQ(o.fault->ipa, 0x0000020000000000ull);
}

TEST(walker_nested, s2ptw_device_memory_on_a_table_walk_is_a_stage2_permission_fault) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b, k_af | k_s2_rw | k_memattr_dev);
    s2b.map(0x5000, 3, page_desc(0x9000, k_af | k_s2_rw | k_memattr_dev));
    const auto s1 = s1_config(granule::size_4k, 25);
    auto s2 = s2_config(granule::size_4k, 24, 1);

    auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok()) << "without S2PTW, Device tables are fine";
    EXPECT_EQ(o.result.output_address, 0x9000ull);

    s2.ptw = true;
    o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::permission, stage::two, 3, fault_class::tt);
    EXPECT_EQ(o.fault->ipa, k_s1_root);
}

TEST(walker_nested, s2ptw_does_not_apply_to_the_final_output) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x5000, 3, page_desc(0x9000, k_af | k_s2_rw | k_memattr_dev));
    const auto s1 = s1_config(granule::size_4k, 25);
    auto s2 = s2_config(granule::size_4k, 24, 1);
    s2.ptw = true;
    const auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.s2_attrs->mem_attr, 1u);
}

TEST(walker_nested, table_fetch_needs_stage2_read_permission) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b, k_af | k_s2ap_w | k_memattr_wb); // write-only
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_write(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::permission, stage::two, 3, fault_class::tt);
}

TEST(walker_nested, stage1_permission_is_checked_before_stage2_translates_the_output) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af | k_ap_ro));
    map_s1_tables(s2b, s1b); // output IPA 0x5000 unmapped at stage 2
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_write(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::permission, stage::one, 3);
}

TEST(walker_nested, stage2_permission_fault_on_output) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x5000, 3, page_desc(0x9000, k_af | k_s2ap_r | k_memattr_wb));
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    auto o = walk(request(0x1000, data_write(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::permission, stage::two, 3, fault_class::in);
    EXPECT_EQ(o.fault->ipa, 0x5000ull);

    o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o.result.s1_perms.priv_write);
    EXPECT_FALSE(o.result.s2_perms.priv_write);
    EXPECT_FALSE(o.result.perms.priv_write);
    EXPECT_TRUE(o.result.perms.priv_read);
    EXPECT_EQ(denying_stage(o.result, data_write(true)), stage::two);
    EXPECT_EQ(denying_stage(o.result, data_read(true)), std::nullopt);
}

// ------------------------------------------------------------------ CD fetch

TEST(walker_cd_fetch, translates_the_cd_address_through_stage2_only) {
    fake_memory mem;
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s2b.map(0x3000, 3, page_desc(0x00000000abc00000ull, k_s2_leaf));
    auto s1 = s1_config(granule::size_4k, 25);
    s1.epd0 = true; // would fault if stage 1 were used
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    auto r = request(0x3040, data_read(false), &s1, &s2);
    r.purpose = walk_purpose::cd_fetch;
    r.bypass_ias_bits = 8; // not applied to CD fetches
    const auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x00000000abc00040ull);
    EXPECT_EQ(o.reads.total(stage::one), 0u);
}

TEST(walker_cd_fetch, faults_are_class_cd) {
    fake_memory mem;
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s2b.map(0x3000, 3, page_desc(0xabc00000ull, k_af | k_s2_rw | k_memattr_dev));
    auto s2 = s2_config(granule::size_4k, 24, 1);
    auto r = request(0x7040, data_read(), nullptr, &s2);
    r.purpose = walk_purpose::cd_fetch;
    auto o = walk(r, mem);
    expect_fault(o, fault_kind::translation, stage::two, 3, fault_class::cd);
    EXPECT_EQ(o.fault->ipa, 0x7040ull);

    s2.ptw = true;
    r.input_address = 0x3040;
    o = walk(r, mem);
    expect_fault(o, fault_kind::permission, stage::two, 3, fault_class::cd);
}

// ------------------------------------------------------------------ no stage

TEST(walker_bypass, no_stage_is_an_identity_mapping) {
    fake_memory mem;
    auto r = request(0x0000001234567890ull, data_write(), nullptr, nullptr);
    auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000001234567890ull);
    EXPECT_EQ(o.result.size_log2, 12u);
    EXPECT_EQ(o.result.perms, permission_set::all());
    EXPECT_EQ(o.reads.total(), 0u);

    r.bypass_ias_bits = 36;
    o = walk(r, mem);
    expect_fault(o, fault_kind::address_size, stage::one, 0);
}

// ------------------------------------------------------------------ blocks

TEST(walker_blocks, level_1_block_4k) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x0000004012345678ull, 1, block_desc(0x00000001c0000000ull, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x0000004012345678ull, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x00000001d2345678ull);
    EXPECT_EQ(o.result.size_log2, 30u);
    EXPECT_EQ(o.result.s1_level.value_or(-9), 1);
    EXPECT_EQ(o.result.input_base, 0x0000004000000000ull);
    EXPECT_EQ(o.result.output_base, 0x00000001c0000000ull);
    EXPECT_EQ(o.reads.total(), 1u);
}

TEST(walker_blocks, level_2_block_4k) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x40200000, 2, block_desc(0x80600000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x40200123, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x80600123ull);
    EXPECT_EQ(o.result.size_log2, 21u);
    EXPECT_EQ(o.result.s1_level.value_or(-9), 2);
}

TEST(walker_blocks, level_2_block_16k) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_16k, 2, 36);
    b.map(0x06001234, 2, block_desc(0x0000000400000000ull, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_16k, 28);
    const auto o = walk(request(0x06001234, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000000400001234ull);
    EXPECT_EQ(o.result.size_log2, 25u);
}

TEST(walker_blocks, level_2_block_64k) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 2, 42);
    b.map(0x000001203456789aull, 2, block_desc(0x0000004000000000ull, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_64k, 22);
    const auto o = walk(request(0x000001203456789aull, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000000401456789aull);
    EXPECT_EQ(o.result.size_log2, 29u);
}

TEST(walker_blocks, level_1_block_64k_needs_a_52_bit_pa) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 1, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    // 4 TB block at OA 0x000f000000000000: OA[51:48] = 0xf in bits [15:12].
    b.map(va, 1, 0xf000 | k_s1_rw_all | 1);
    auto cfg = s1_config(granule::size_64k, 16);
    cfg.ips_bits = 52;
    auto r = request(va, data_read(), &cfg);
    r.oas_bits = 52;
    auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000f023456789abcull);
    EXPECT_EQ(o.result.size_log2, 42u);

    r.oas_bits = 48;
    o = walk(r, mem);
    expect_fault(o, fault_kind::translation, stage::one, 1);
}

TEST(walker_blocks, level_0_block_4k_only_with_ds) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    // 512 GB block at OA 0x000d008000000000: OA[49:48]=01 in place, OA[51:50]=11 in [9:8].
    b.map(va, 0, 0x0001008000000000ull | (3ull << 8) | k_s1_rw_all | 1);
    auto cfg = s1_config(granule::size_4k, 16);
    auto o = walk(request(va, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);

    cfg.ds = true;
    cfg.ips_bits = 52;
    cfg.sh0 = 2;
    o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000d00b456789abcull);
    EXPECT_EQ(o.result.size_log2, 39u);
    EXPECT_EQ(o.result.s1_attrs->sh, 2u) << "with DS, shareability comes from the CD";
}

TEST(walker_blocks, level_1_block_16k_only_with_ds) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_16k, 1, 47);
    const std::uint64_t va = 0x0000234567894abcull;
    b.map(va, 1, block_desc(0x0000003000000000ull, k_s1_rw_all | k_cont));
    auto cfg = s1_config(granule::size_16k, 17);
    auto o = walk(request(va, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 1);

    cfg.ds = true;
    cfg.ips_bits = 52;
    o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000003567894abcull);
    EXPECT_EQ(o.result.size_log2, 36u) << "no Contiguous span is defined at 16K level 1";
}

TEST(walker_blocks, reserved_level_3_encoding_is_invalid) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, block_desc(0x5000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 3);
}

// ------------------------------------------------------------------ contiguous

TEST(walker_contiguous, page_4k_spans_64k) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x12345678, 3, page_desc(0xabcd5000, k_s1_rw_all | k_cont));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x12345678, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0xabcd5678ull);
    EXPECT_EQ(o.result.size_log2, 16u);
    EXPECT_EQ(o.result.s1_size_log2, 16u);
    EXPECT_EQ(o.result.input_base, 0x12340000ull);
    EXPECT_EQ(o.result.output_base, 0xabcd0000ull);
    EXPECT_TRUE(o.result.s1_attrs->contiguous);
}

TEST(walker_contiguous, page_16k_spans_2m) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_16k, 2, 36);
    b.map(0x01234567, 3, page_desc(0x0ab04000, k_s1_rw_all | k_cont));
    const auto cfg = s1_config(granule::size_16k, 28);
    const auto o = walk(request(0x01234567, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0ab04567ull);
    EXPECT_EQ(o.result.size_log2, 21u);
    EXPECT_EQ(o.result.input_base, 0x01200000ull);
    EXPECT_EQ(o.result.output_base, 0x0aa00000ull);
}

TEST(walker_contiguous, page_64k_spans_2m) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 2, 42);
    b.map(0x00000123456789abull, 3, page_desc(0xabcd0000, k_s1_rw_all | k_cont));
    const auto cfg = s1_config(granule::size_64k, 22);
    const auto o = walk(request(0x00000123456789abull, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.size_log2, 21u);
    EXPECT_EQ(o.result.input_base, 0x0000012345600000ull);
    EXPECT_EQ(o.result.output_base, 0xabc00000ull);
}

TEST(walker_contiguous, block_4k_level_2_spans_32m) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x40200000, 2, block_desc(0x80600000, k_s1_rw_all | k_cont));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x40200123, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x80600123ull);
    EXPECT_EQ(o.result.size_log2, 25u);
    EXPECT_EQ(o.result.input_base, 0x40000000ull);
    EXPECT_EQ(o.result.output_base, 0x80000000ull);
}

TEST(walker_contiguous, block_64k_level_2_spans_16g) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 2, 42);
    b.map(0x000001203456789aull, 2, block_desc(0x0000004000000000ull, k_s1_rw_all | k_cont));
    const auto cfg = s1_config(granule::size_64k, 22);
    const auto o = walk(request(0x000001203456789aull, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.size_log2, 34u);
    EXPECT_EQ(o.result.input_base, 0x0000012000000000ull);
}

TEST(walker_contiguous, stage2_page) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 1, 40);
    b.map(0x12345000, 3, page_desc(0x77775000, k_s2_leaf | k_cont));
    const auto cfg = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x12345678, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x77775678ull);
    EXPECT_EQ(o.result.size_log2, 16u);
    EXPECT_EQ(o.result.s2_size_log2, 16u);
    EXPECT_TRUE(o.result.s2_attrs->contiguous);
}

// ------------------------------------------------------------------ translation faults

TEST(walker_translation_fault, invalid_descriptor_at_each_level) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const auto cfg = s1_config(granule::size_4k, 16);
    const std::uint64_t va = 0x0000123456789abcull;
    const access_kind a = data_write(true);

    auto o = walk(request(va, a, &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 1u);
    EXPECT_EQ(o.fault->input_address, va);
    EXPECT_TRUE(o.fault->access.write);
    EXPECT_TRUE(o.fault->access.privileged);
    EXPECT_FALSE(o.fault->access.instruction);
    EXPECT_EQ(o.fault->fetch_address, 0u);
    EXPECT_FALSE(o.fault->on_s1_table_walk());

    b.slot(va, 2); // tables down to level 2, no level-2 descriptor
    o = walk(request(va, a, &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 2);
    EXPECT_EQ(o.reads.total(), 3u);

    b.slot(va, 3);
    o = walk(request(va, a, &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 3);
    EXPECT_EQ(o.reads.total(), 4u);
}

TEST(walker_translation_fault, epd0_and_epd1) {
    fake_memory mem;
    table_builder b0(mem, 12, 1, 39, k_s1_root, k_s1_pool);
    table_builder b1(mem, 12, 1, 39, k_s1_root1, k_s1_pool1);
    b0.map(0x1000, 3, page_desc(0xa000, k_s1_rw_all));
    b1.map(0xffffff8000001000ull, 3, page_desc(0xb000, k_s1_rw_all));
    auto cfg = s1_config(granule::size_4k, 25);
    cfg.epd0 = true;
    auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
    o = walk(request(0xffffff8000001000ull, data_read(), &cfg), mem);
    EXPECT_TRUE(o.ok()) << "EPD0 leaves TTB1 usable";

    cfg.epd0 = false;
    cfg.epd1 = true;
    o = walk(request(0xffffff8000001000ull, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
    o = walk(request(0x1000, data_read(), &cfg), mem);
    EXPECT_TRUE(o.ok());
}

TEST(walker_translation_fault, va_outside_t0sz_range) {
    fake_memory mem;
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x0000008000000000ull, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
}

TEST(walker_translation_fault, non_canonical_va) {
    fake_memory mem;
    const auto cfg = s1_config(granule::size_4k, 25);
    // VA[55] = 1 selects TTB1 but VA[63:56] are not all ones.
    auto o = walk(request(0x00ffff8000001000ull, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    // Upper half with a hole below bit 55.
    o = walk(request(0xffff7f8000001000ull, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
}

TEST(walker_translation_fault, tsz_outside_the_walkable_range) {
    fake_memory mem;
    auto cfg = s1_config(granule::size_4k, 12); // 52-bit VA needs DS with 4K
    auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    cfg = s1_config(granule::size_64k, 48);
    o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    cfg = s1_config(granule::size_4k, 49);
    o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
}

// ------------------------------------------------------------------ address size faults

TEST(walker_address_size, ttb_beyond_ips) {
    fake_memory mem;
    auto cfg = s1_config(granule::size_4k, 25);
    cfg.ips_bits = 40;
    cfg.ttb0 = 0x0000010000000000ull;
    const auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 0);
    EXPECT_EQ(o.reads.total(), 0u);
}

TEST(walker_address_size, ips_52_is_48_for_4k_without_ds) {
    fake_memory mem;
    auto cfg = s1_config(granule::size_4k, 16);
    cfg.ips_bits = 52;
    cfg.ttb0 = 0x0001000000000000ull;
    auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 0);

    cfg.ds = true; // now 52 bits are usable: the empty table gives a translation fault
    o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(mem.log().back().pa, 0x0001000000000000ull);
}

TEST(walker_address_size, next_level_table_beyond_ips) {
    fake_memory mem;
    mem.write(k_s1_root, 0x0000010000000000ull | 3);
    auto cfg = s1_config(granule::size_4k, 25);
    cfg.ips_bits = 40;
    const auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 1);
    EXPECT_EQ(o.reads.total(), 1u);
}

TEST(walker_address_size, output_beyond_ips) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, page_desc(0x0000020000000000ull, k_s1_rw_all));
    b.map(0x40000000, 2, block_desc(0x0000010000000000ull, k_s1_rw_all));
    auto cfg = s1_config(granule::size_4k, 25);
    cfg.ips_bits = 40;
    auto o = walk(request(0x1000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 3);
    o = walk(request(0x40000000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 2);

    cfg.ips_bits = 42;
    o = walk(request(0x1000, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000020000000000ull);
}

TEST(walker_address_size, bits_above_47_are_not_address_bits_for_4k_without_ds) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    // DBM (51) and GP (50) set: not part of the output address.
    b.map(0x1000, 3, page_desc(0x5000, k_s1_rw_all | (1ull << 51) | (1ull << 50)));
    auto cfg = s1_config(granule::size_4k, 25);
    cfg.ips_bits = 52;
    const auto o = walk(request(0x1000, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x5000ull);
    EXPECT_TRUE(o.result.s1_attrs->dbm);
    EXPECT_TRUE(o.result.s1_attrs->gp);
}

TEST(walker_address_size, oa_51_48_of_a_64k_page_fault_below_52_bits) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 2, 42);
    b.map(0x10000, 3, page_desc(0xabcd0000, k_s1_rw_all | 0x1000));
    const auto cfg = s1_config(granule::size_64k, 22);
    const auto o = walk(request(0x10000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 3);
}

TEST(walker_address_size, stage2_output_ttb_and_table_beyond_ps) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 1, 40);
    b.map(0x1000, 3, page_desc(0x0000010000000000ull, k_s2_leaf));
    mem.write(k_s2_root + 8, 0x0000010000000000ull | 3); // level-1 entry for IPA 1 GB
    auto cfg = s2_config(granule::size_4k, 24, 1);
    cfg.ps_bits = 40;
    auto o = walk(request(0x1000, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::two, 3);
    EXPECT_EQ(o.fault->ipa, 0x1000ull);
    o = walk(request(0x40000000, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::two, 1);

    cfg.ttb = 0x0000010000000000ull;
    o = walk(request(0x1000, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::two, 0);
    EXPECT_EQ(o.reads.total(), 0u);
}

// ------------------------------------------------------------------ access flag

TEST(walker_access_flag, stage1_af_zero) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, page_desc(0x5000, k_ap_el0 | k_ap_ro));
    b.map(0x40000000, 2, block_desc(0x80000000, k_ap_el0));
    auto cfg = s1_config(granule::size_4k, 25);
    auto o = walk(request(0x1000, data_write(), &cfg), mem);
    expect_fault(o, fault_kind::access_flag, stage::one, 3); // before the permission check
    o = walk(request(0x40000000, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::access_flag, stage::one, 2);

    cfg.affd = true;
    o = walk(request(0x40000000, data_read(), &cfg), mem);
    EXPECT_TRUE(o.ok());
    o = walk(request(0x1000, data_write(), &cfg), mem);
    expect_fault(o, fault_kind::permission, stage::one, 3);
}

TEST(walker_access_flag, stage2_af_zero) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 1, 40);
    b.map(0x1000, 3, page_desc(0x5000, k_s2_rw | k_memattr_wb));
    auto cfg = s2_config(granule::size_4k, 24, 1);
    auto o = walk(request(0x1000, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::access_flag, stage::two, 3);
    EXPECT_EQ(o.fault->ipa, 0x1000ull);
    cfg.affd = true;
    o = walk(request(0x1000, data_read(), nullptr, &cfg), mem);
    EXPECT_TRUE(o.ok());
}

// ------------------------------------------------------------------ stage-1 permissions

/// A 4K page at VA 0x1000 (T0SZ=25, levels 1-3) with `leaf` attributes and
/// optional bits in the level-1 and level-2 table descriptors.
walk_outcome s1_page(const stage1_config& cfg, std::uint64_t leaf, access_kind a,
                     std::uint64_t l1_bits = 0, std::uint64_t l2_bits = 0) {
    fake_memory mem;
    table_builder b(mem, 12, 1, 39, k_s1_root, k_s1_pool);
    b.map(0x1000, 3, page_desc(0x5000, leaf));
    if (l1_bits != 0)
        b.or_table_bits(0x1000, 1, l1_bits);
    if (l2_bits != 0)
        b.or_table_bits(0x1000, 2, l2_bits);
    return walk(request(0x1000, a, &cfg), mem);
}

bool s1_allows(const stage1_config& cfg, std::uint64_t leaf, access_kind a,
               std::uint64_t l1_bits = 0, std::uint64_t l2_bits = 0) {
    const auto o = s1_page(cfg, leaf, a, l1_bits, l2_bits);
    if (!o.ok()) {
        EXPECT_EQ(o.fault->kind, fault_kind::permission);
        EXPECT_EQ(o.fault->st, stage::one);
        EXPECT_EQ(o.fault->level, 3);
        EXPECT_EQ(o.fault->cls, fault_class::in);
    }
    return o.ok();
}

constexpr std::uint64_t k_ap00 = k_af;
constexpr std::uint64_t k_ap01 = k_af | k_ap_el0;
constexpr std::uint64_t k_ap10 = k_af | k_ap_ro;
constexpr std::uint64_t k_ap11 = k_af | k_ap_ro | k_ap_el0;

TEST(walker_s1_permissions, ap_data_access) {
    const auto c = s1_config(granule::size_4k, 25);
    // 00: privileged RW only.
    EXPECT_TRUE(s1_allows(c, k_ap00, data_write(true)));
    EXPECT_FALSE(s1_allows(c, k_ap00, data_read(false)));
    EXPECT_FALSE(s1_allows(c, k_ap00, data_write(false)));
    // 01: RW at both.
    EXPECT_TRUE(s1_allows(c, k_ap01, data_write(false)));
    EXPECT_TRUE(s1_allows(c, k_ap01, data_read(true)));
    // 10: privileged RO.
    EXPECT_TRUE(s1_allows(c, k_ap10, data_read(true)));
    EXPECT_FALSE(s1_allows(c, k_ap10, data_write(true)));
    EXPECT_FALSE(s1_allows(c, k_ap10, data_read(false)));
    // 11: RO at both.
    EXPECT_TRUE(s1_allows(c, k_ap11, data_read(false)));
    EXPECT_FALSE(s1_allows(c, k_ap11, data_write(false)));
    EXPECT_FALSE(s1_allows(c, k_ap11, data_write(true)));
}

TEST(walker_s1_permissions, uxn_pxn_and_user_writable_implies_pxn) {
    const auto c = s1_config(granule::size_4k, 25);
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(false)));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(true)));
    EXPECT_FALSE(s1_allows(c, k_ap00 | k_uxn, exec(false)));
    EXPECT_TRUE(s1_allows(c, k_ap00 | k_uxn, exec(true)));
    EXPECT_FALSE(s1_allows(c, k_ap00 | k_pxn, exec(true)));
    EXPECT_TRUE(s1_allows(c, k_ap00 | k_pxn, exec(false)));
    EXPECT_FALSE(s1_allows(c, k_ap01, exec(true)));
    EXPECT_TRUE(s1_allows(c, k_ap01, exec(false)));
    EXPECT_TRUE(s1_allows(c, k_ap11, exec(true)));
}

TEST(walker_s1_permissions, wxn) {
    auto c = s1_config(granule::size_4k, 25);
    c.wxn = true;
    EXPECT_FALSE(s1_allows(c, k_ap00, exec(true)));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(false))) << "not writable at EL0";
    EXPECT_TRUE(s1_allows(c, k_ap10, exec(true)));
    EXPECT_FALSE(s1_allows(c, k_ap01, exec(false)));
    const auto o = s1_page(c, k_ap01, data_read(true));
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.s1_perms, (permission_set{true, true, false, true, true, false}));
}

TEST(walker_s1_permissions, uwxn_is_ignored) {
    auto c = s1_config(granule::size_4k, 25);
    c.uwxn = true;
    EXPECT_TRUE(s1_allows(c, k_ap01, exec(false)));
}

TEST(walker_s1_permissions, pan) {
    auto c = s1_config(granule::size_4k, 25);
    c.pan = true;
    EXPECT_FALSE(s1_allows(c, k_ap01, data_read(true)));
    EXPECT_FALSE(s1_allows(c, k_ap01, data_write(true)));
    EXPECT_TRUE(s1_allows(c, k_ap01, data_read(false)));
    EXPECT_FALSE(s1_allows(c, k_ap11, data_read(true)));
    EXPECT_TRUE(s1_allows(c, k_ap11, exec(true))) << "PAN restricts data accesses only";
    EXPECT_TRUE(s1_allows(c, k_ap00, data_write(true)));
}

TEST(walker_s1_permissions, ap_table) {
    auto c = s1_config(granule::size_4k, 25);
    // APTable[0] at level 1: no EL0 access below.
    EXPECT_FALSE(s1_allows(c, k_ap01, data_read(false), k_ap_table0));
    EXPECT_TRUE(s1_allows(c, k_ap01, data_write(true), k_ap_table0));
    c.pan = true;
    EXPECT_TRUE(s1_allows(c, k_ap01, data_read(true), k_ap_table0))
        << "not EL0-accessible after APTable, so PAN does not apply";
    c.pan = false;
    // APTable[1] at level 2: read-only below; EL0 no longer writable, so PXN is not implied.
    EXPECT_FALSE(s1_allows(c, k_ap01, data_write(true), 0, k_ap_table1));
    EXPECT_FALSE(s1_allows(c, k_ap01, data_write(false), 0, k_ap_table1));
    EXPECT_TRUE(s1_allows(c, k_ap01, data_read(false), 0, k_ap_table1));
    EXPECT_TRUE(s1_allows(c, k_ap01, exec(true), 0, k_ap_table1));
}

TEST(walker_s1_permissions, xn_tables) {
    const auto c = s1_config(granule::size_4k, 25);
    EXPECT_FALSE(s1_allows(c, k_ap00, exec(false), k_uxn_table));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(true), k_uxn_table));
    EXPECT_FALSE(s1_allows(c, k_ap00, exec(true), 0, k_pxn_table));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(false), 0, k_pxn_table));
}

TEST(walker_s1_permissions, had_disables_hierarchical_attributes) {
    auto c = s1_config(granule::size_4k, 25);
    c.had1 = true; // TTB1 only: still applies to this TTB0 walk
    EXPECT_FALSE(s1_allows(c, k_ap00, data_write(true), k_ap_table1));
    c.had0 = true;
    EXPECT_TRUE(s1_allows(c, k_ap00, data_write(true), k_ap_table1));
    EXPECT_TRUE(s1_allows(c, k_ap01, data_read(false), k_ap_table0));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(false), k_uxn_table));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(true), k_pxn_table));
}

TEST(walker_s1_permissions, had1_applies_to_ttb1_walks) {
    fake_memory mem;
    table_builder b1(mem, 12, 1, 39, k_s1_root1, k_s1_pool1);
    const std::uint64_t va = 0xffffff8000001000ull;
    b1.map(va, 3, page_desc(0x5000, k_ap00));
    b1.or_table_bits(va, 1, k_ap_table1);
    auto c = s1_config(granule::size_4k, 25);
    c.had0 = true; // the other half
    auto o = walk(request(va, data_write(true), &c), mem);
    expect_fault(o, fault_kind::permission, stage::one, 3);
    c.had1 = true;
    o = walk(request(va, data_write(true), &c), mem);
    EXPECT_TRUE(o.ok());
}

TEST(walker_s1_permissions, single_el_regime) {
    auto c = s1_config(granule::size_4k, 25);
    c.regime = s1_regime::single_el;
    // AP[1] is RES1 and the transaction's privilege does not matter.
    EXPECT_TRUE(s1_allows(c, k_ap00, data_write(false)));
    EXPECT_TRUE(s1_allows(c, k_ap00, data_read(false)));
    EXPECT_FALSE(s1_allows(c, k_ap10, data_write(true)));
    EXPECT_FALSE(s1_allows(c, k_ap10, data_write(false)));
    EXPECT_TRUE(s1_allows(c, k_ap10, data_read(true)));
    // XN is bit 54; bit 53 is RES0.
    EXPECT_FALSE(s1_allows(c, k_ap00 | k_uxn, exec(true)));
    EXPECT_FALSE(s1_allows(c, k_ap00 | k_uxn, exec(false)));
    EXPECT_TRUE(s1_allows(c, k_ap00 | k_pxn, exec(true)));
    EXPECT_TRUE(s1_allows(c, k_ap01, exec(true))) << "no EL0: AP[1] does not imply PXN";
    // APTable[0] RES0, APTable[1] applies; XNTable applies, PXNTable RES0.
    EXPECT_TRUE(s1_allows(c, k_ap00, data_read(false), k_ap_table0));
    EXPECT_FALSE(s1_allows(c, k_ap00, data_write(true), k_ap_table1));
    EXPECT_FALSE(s1_allows(c, k_ap00, exec(true), k_uxn_table));
    EXPECT_TRUE(s1_allows(c, k_ap00, exec(true), k_pxn_table));
    c.wxn = true;
    EXPECT_FALSE(s1_allows(c, k_ap00, exec(true)));
    EXPECT_TRUE(s1_allows(c, k_ap10, exec(true)));
    c.wxn = false;
    c.pan = true;
    EXPECT_TRUE(s1_allows(c, k_ap01, data_read(true))) << "PAN has no meaning without EL0";
}

TEST(walker_s1_regime, single_el_has_no_ttb1_no_epd_and_no_asid) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, page_desc(0x5000, k_ap00 | k_ng));
    auto c = s1_config(granule::size_4k, 25);
    c.regime = s1_regime::single_el;
    c.epd0 = true;
    auto o = walk(request(0x1000, data_read(true), &c), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o.result.tag.global);
    EXPECT_FALSE(o.result.tag.asid.has_value());
    EXPECT_FALSE(o.result.s1_attrs->ng);
    o = walk(request(0xffffff8000001000ull, data_read(true), &c), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    // TBI: the top byte is ignored and the TLB input is zero-extended.
    c.tbi0 = true;
    o = walk(request(0xab00000000001234ull, data_read(true), &c), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.input_base, 0x1000ull);
    EXPECT_EQ(o.result.output_address, 0x5234ull);
}

// ------------------------------------------------------------------ stage-2 permissions

walk_outcome s2_page(const stage2_config& cfg, std::uint64_t leaf, access_kind a) {
    fake_memory mem;
    table_builder b(mem, 12, 1, 40, k_s2_root, k_s2_pool);
    b.map(0x1000, 3, page_desc(0x5000, leaf));
    return walk(request(0x1000, a, nullptr, &cfg), mem);
}

bool s2_allows(const stage2_config& cfg, std::uint64_t leaf, access_kind a) {
    const auto o = s2_page(cfg, leaf, a);
    if (!o.ok()) {
        EXPECT_EQ(o.fault->kind, fault_kind::permission);
        EXPECT_EQ(o.fault->st, stage::two);
        EXPECT_EQ(o.fault->level, 3);
        EXPECT_EQ(o.fault->ipa, 0x1000u);
    }
    return o.ok();
}

TEST(walker_s2_permissions, s2ap) {
    const auto c = s2_config(granule::size_4k, 24, 1);
    const std::uint64_t base = k_af | k_memattr_wb;
    EXPECT_FALSE(s2_allows(c, base, data_read(true)));
    EXPECT_FALSE(s2_allows(c, base, data_write(true)));
    EXPECT_TRUE(s2_allows(c, base | k_s2ap_r, data_read(false)));
    EXPECT_FALSE(s2_allows(c, base | k_s2ap_r, data_write(true)));
    EXPECT_TRUE(s2_allows(c, base | k_s2ap_w, data_write(false)));
    EXPECT_FALSE(s2_allows(c, base | k_s2ap_w, data_read(true)));
    EXPECT_TRUE(s2_allows(c, base | k_s2_rw, data_read(false)));
    EXPECT_TRUE(s2_allows(c, base | k_s2_rw, data_write(false)));
}

TEST(walker_s2_permissions, xn_with_xnx) {
    const auto c = s2_config(granule::size_4k, 24, 1);
    const std::uint64_t xn0 = 1ull << 53;
    const std::uint64_t xn1 = 1ull << 54;
    EXPECT_TRUE(s2_allows(c, k_s2_leaf, exec(true)));
    EXPECT_TRUE(s2_allows(c, k_s2_leaf, exec(false)));
    EXPECT_FALSE(s2_allows(c, k_s2_leaf | xn0, exec(true)));
    EXPECT_TRUE(s2_allows(c, k_s2_leaf | xn0, exec(false)));
    EXPECT_FALSE(s2_allows(c, k_s2_leaf | xn1, exec(true)));
    EXPECT_FALSE(s2_allows(c, k_s2_leaf | xn1, exec(false)));
    EXPECT_TRUE(s2_allows(c, k_s2_leaf | xn1 | xn0, exec(true)));
    EXPECT_FALSE(s2_allows(c, k_s2_leaf | xn1 | xn0, exec(false)));
}

TEST(walker_s2_permissions, xn_without_xnx) {
    auto c = s2_config(granule::size_4k, 24, 1);
    c.xnx = false;
    EXPECT_FALSE(s2_allows(c, k_s2_leaf | (1ull << 54), exec(true)));
    EXPECT_FALSE(s2_allows(c, k_s2_leaf | (1ull << 54), exec(false)));
    EXPECT_TRUE(s2_allows(c, k_s2_leaf | (1ull << 53), exec(true)));
    EXPECT_TRUE(s2_allows(c, k_s2_leaf | (1ull << 53), exec(false)));
}

TEST(walker_s2_permissions, instruction_reads_need_execute_only) {
    // As on a PE: an instruction fetch is checked against execute permission.
    const auto c = s2_config(granule::size_4k, 24, 1);
    EXPECT_TRUE(s2_allows(c, k_af | k_memattr_wb, exec(true)));
    const auto s1 = s1_config(granule::size_4k, 25);
    EXPECT_TRUE(s1_allows(s1, k_ap00, exec(false))) << "EL0 execute-only memory";
}

// ------------------------------------------------------------------ external aborts

TEST(walker_external_abort, stage1_descriptor_fetch) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x12345678, 3, page_desc(0x5000, k_s1_rw_all));
    mem.abort_at(0x200488); // level-2 descriptor: table 0x200000, index 0x91
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(request(0x12345678, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::external_abort, stage::one, 2, fault_class::tt);
    EXPECT_EQ(o.fault->fetch_address, 0x200488ull);
    EXPECT_EQ(o.fault->input_address, 0x12345678ull);
    EXPECT_EQ(o.reads.at(stage::one, 2), 1u);
    EXPECT_EQ(o.reads.total(), 2u);
}

TEST(walker_external_abort, stage2_descriptor_fetch) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_4k, 1, 40);
    b.map(0x1000, 3, page_desc(0x5000, k_s2_leaf));
    mem.abort_at(0x1001008); // level-3 table is the pool's second page, index 1
    const auto cfg = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::external_abort, stage::two, 3, fault_class::in);
    EXPECT_EQ(o.fault->fetch_address, 0x1001008ull);
    EXPECT_EQ(o.fault->ipa, 0x1000ull);
}

TEST(walker_external_abort, nested_stage2_fetch_for_a_stage1_table) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    mem.abort_at(k_s2_root); // stage-2 level-1 entry for IPA 0
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::external_abort, stage::two, 1, fault_class::tt);
    EXPECT_EQ(o.fault->fetch_address, 0x800000ull);
    EXPECT_EQ(o.fault->ipa, 0x100000ull); // the stage-1 level-1 descriptor's IPA
    EXPECT_EQ(o.reads.total(stage::one), 0u);
    EXPECT_EQ(o.reads.total(stage::two), 1u);
}

TEST(walker_external_abort, nested_stage1_descriptor_after_stage2) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    mem.abort_at(k_s1_root);
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::external_abort, stage::one, 1, fault_class::tt);
    EXPECT_EQ(o.fault->fetch_address, 0x100000ull);
    EXPECT_EQ(o.reads.total(stage::one), 1u);
    EXPECT_EQ(o.reads.total(stage::two), 3u);
}

// ------------------------------------------------------------------ 52-bit addresses

TEST(walker_52bit, page_64k_output_address) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_64k, 2, 42);
    const std::uint64_t va = 0x00000123456789abull;
    // OA 0x000abcde12340000: [47:16] in place, [51:48] = 0xa in bits [15:12].
    b.map(va, 3, 0x0000bcde12340000ull | 0xa000 | k_s1_rw_all | 3);
    auto cfg = s1_config(granule::size_64k, 22);
    cfg.ips_bits = 52;
    auto o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000abcde123489abull);
    EXPECT_EQ(o.result.output_base, 0x000abcde12340000ull);

    cfg.ips_bits = 48;
    o = walk(request(va, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::one, 3);
}

TEST(walker_52bit, table_64k_next_level_address) {
    fake_memory mem;
    const std::uint64_t va = 0x00000123456789abull;
    mem.write(0x1048d0, 0xf000 | 3); // L2 -> table at 0x000f000000000000
    mem.write(0x000f000000002b38ull, page_desc(0x50000, k_s1_rw_all)); // L3 index 0x567
    auto cfg = s1_config(granule::size_64k, 22);
    cfg.ips_bits = 52;
    const auto o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x589abull);
    EXPECT_EQ(mem.log()[1].pa, 0x000f000000002b38ull);
}

TEST(walker_52bit, stage2_64k_output_address) {
    fake_memory mem;
    auto b = s2_tables(mem, granule::size_64k, 2, 42);
    b.map(0x10000, 3, 0x0000000012340000ull | 0x5000 | k_s2_leaf | 3);
    auto cfg = s2_config(granule::size_64k, 22, 1);
    cfg.ps_bits = 52;
    auto o = walk(request(0x10042, data_read(), nullptr, &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0005000012340042ull);
    cfg.ps_bits = 48;
    o = walk(request(0x10042, data_read(), nullptr, &cfg), mem);
    expect_fault(o, fault_kind::address_size, stage::two, 3);
}

TEST(walker_52bit, ds_4k_level_minus_1_walk) {
    fake_memory mem;
    table_builder b(mem, 12, -1, 52, k_s1_root, k_s1_pool);
    const std::uint64_t va = 0x000f000000001abcull;
    // OA 0x000b123456789000: [49:12] in place, [51:50] = 10 in bits [9:8].
    b.map(va, 3, 0x0003123456789000ull | 0x200 | k_s1_rw_all | 3);
    auto cfg = s1_config(granule::size_4k, 12);
    cfg.ds = true;
    cfg.ips_bits = 52;
    cfg.sh0 = 3;
    const auto o = walk(request(va, data_read(), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x000b123456789abcull);
    EXPECT_EQ(o.reads.at(stage::one, -1), 1u);
    EXPECT_EQ(o.reads.total(), 5u);
    EXPECT_EQ(mem.log()[0].pa, 0x100078ull); // index VA[51:48] = 0xf
    EXPECT_EQ(mem.log()[0].level, -1);
    EXPECT_EQ(o.result.s1_attrs->sh, 3u);
}

TEST(walker_52bit, ds_table_address_bits_51_50) {
    fake_memory mem;
    mem.write(0x100078, 0x300 | 3); // level -1 -> table at 0x000c000000000000
    auto cfg = s1_config(granule::size_4k, 12);
    cfg.ds = true;
    cfg.ips_bits = 52;
    const auto o = walk(request(0x000f000000001abcull, data_read(), &cfg), mem);
    expect_fault(o, fault_kind::translation, stage::one, 0);
    EXPECT_EQ(mem.log()[1].pa, 0x000c000000000000ull);
}

// ------------------------------------------------------------------ observer and tags

TEST(walker_observer, reports_each_table_descriptor) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    b.map(va, 3, page_desc(0x5000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 16);
    visit_recorder rec;
    auto r = request(va, data_read(), &cfg);
    r.observer = &rec;
    ASSERT_TRUE(walk(r, mem).ok());
    ASSERT_EQ(rec.visits.size(), 3u);
    const table_visit& v0 = rec.visits[0];
    EXPECT_EQ(v0.st, stage::one);
    EXPECT_EQ(v0.level, 0);
    EXPECT_EQ(v0.input_base, 0x0000120000000000ull);
    EXPECT_EQ(v0.span_log2, 39u);
    EXPECT_EQ(v0.descriptor_address, 0x100120ull);
    EXPECT_EQ(v0.next_table, 0x200000ull);
    EXPECT_EQ(v0.descriptor, 0x200003ull);
    EXPECT_EQ(rec.visits[1].level, 1);
    EXPECT_EQ(rec.visits[1].input_base, 0x0000123440000000ull);
    EXPECT_EQ(rec.visits[1].span_log2, 30u);
    EXPECT_EQ(rec.visits[1].descriptor_address, 0x200688ull);
    EXPECT_EQ(rec.visits[1].next_table, 0x201000ull);
    EXPECT_EQ(rec.visits[2].input_base, 0x0000123456600000ull);
    EXPECT_EQ(rec.visits[2].span_log2, 21u);
    EXPECT_EQ(rec.visits[2].next_table, 0x202000ull);
}

TEST(walker_observer, nested_reports_both_stages) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x5000, 3, page_desc(0x9000, k_s2_leaf));
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    visit_recorder rec;
    auto r = request(0x1000, data_read(true), &s1, &s2);
    r.observer = &rec;
    ASSERT_TRUE(walk(r, mem).ok());
    unsigned s1_visits = 0;
    unsigned s2_visits = 0;
    for (const auto& v : rec.visits)
        ++(v.st == stage::one ? s1_visits : s2_visits);
    EXPECT_EQ(s1_visits, 2u);
    EXPECT_EQ(s2_visits, 8u); // 4 stage-2 walks x 2 table levels
}

TEST(walker_tags, global_asid_vmid_and_aset) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, page_desc(0x5000, k_s1_rw_all));
    b.map(0x2000, 3, page_desc(0x6000, k_s1_rw_all | k_ng));
    auto c = s1_config(granule::size_4k, 25);
    c.aset = true;
    c.vmid = 3;
    auto o = walk(request(0x1000, data_read(), &c), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o.result.tag.global);
    EXPECT_FALSE(o.result.tag.asid.has_value());
    EXPECT_TRUE(o.result.tag.aset);
    EXPECT_EQ(o.result.tag.vmid.value_or(0), 3u);
    o = walk(request(0x2000, data_read(), &c), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_FALSE(o.result.tag.global);
    EXPECT_EQ(o.result.tag.asid.value_or(0), 5u);
}

TEST(walker_tags, nested_vmid_comes_from_stage2) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x5000, 3, page_desc(0x9000, k_s2_leaf));
    auto s1 = s1_config(granule::size_4k, 25);
    s1.vmid = 3;
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(request(0x1000, data_read(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.tag.vmid.value_or(0), 9u);
    EXPECT_TRUE(o.result.tag.global);
}

// ------------------------------------------------------------------ permission_set

TEST(walker_permission_set, allows_selects_the_right_bit) {
    const permission_set only_priv_write{false, true, false, false, false, false};
    EXPECT_TRUE(only_priv_write.allows(access_kind{true, false, true}));
    EXPECT_TRUE(only_priv_write.allows(access_kind{true, true, true})) << "writes are data";
    EXPECT_FALSE(only_priv_write.allows(access_kind{true, false, false}));
    EXPECT_FALSE(only_priv_write.allows(access_kind{false, false, true}));
    const permission_set only_user_exec{false, false, false, false, false, true};
    EXPECT_TRUE(only_user_exec.allows(access_kind{false, true, false}));
    EXPECT_FALSE(only_user_exec.allows(access_kind{false, true, true}));
    EXPECT_FALSE(only_user_exec.allows(access_kind{false, false, false}));
}

TEST(walker_permission_set, pack_unpack_and_intersection) {
    EXPECT_EQ((permission_set{true, false, true, false, true, false}.pack()), 0x15u);
    EXPECT_EQ(permission_set::all().pack(), 0x3fu);
    EXPECT_EQ(permission_set::unpack(0x2a),
              (permission_set{false, true, false, true, false, true}));
    const permission_set a{true, true, true, false, false, false};
    const permission_set b{true, false, true, true, false, true};
    EXPECT_EQ(a & b, (permission_set{true, false, true, false, false, false}));
    EXPECT_NE(a, b);
}

TEST(walker_permission_set, denying_stage_checks_stage1_first) {
    walk_result r;
    r.s1_perms = permission_set{true, false, false, false, false, false};
    r.s2_perms = permission_set{false, false, false, false, false, false};
    EXPECT_EQ(denying_stage(r, data_write(true)), stage::one);
    EXPECT_EQ(denying_stage(r, data_read(true)), stage::two);
    r.s2_perms = permission_set::all();
    EXPECT_EQ(denying_stage(r, data_read(true)), std::nullopt);
}

} // namespace
} // namespace smmu::arch

namespace smmu::arch {
namespace {

TEST(walker_fault_event, each_fault_kind_has_its_event_number) {
    EXPECT_EQ(static_cast<unsigned>(fault_event(fault_kind::translation)), 0x10u);
    EXPECT_EQ(static_cast<unsigned>(fault_event(fault_kind::address_size)), 0x11u);
    EXPECT_EQ(static_cast<unsigned>(fault_event(fault_kind::access_flag)), 0x12u);
    EXPECT_EQ(static_cast<unsigned>(fault_event(fault_kind::permission)), 0x13u);
    EXPECT_EQ(static_cast<unsigned>(fault_event(fault_kind::external_abort)), 0x0bu);
}

} // namespace
} // namespace smmu::arch

namespace smmu::arch {
namespace {

TEST(walker_fault_record, stage2_fault_on_a_table_walk_becomes_its_event) {
    walk_fault f;
    f.kind = fault_kind::permission;
    f.st = stage::two;
    f.level = 2;
    f.cls = fault_class::tt;
    f.input_address = 0x12345678;
    f.ipa = 0x80042000;
    f.access.write = true;
    const event_record e = fault_record(f, stream_ref{5, 3});
    EXPECT_EQ(e.id, event_id::f_permission);
    EXPECT_EQ(e.sid, 5u);
    EXPECT_TRUE(e.ssv);
    EXPECT_EQ(e.ssid, 3u);
    EXPECT_TRUE(e.s2);
    EXPECT_EQ(e.cls, fault_class::tt);
    EXPECT_EQ(e.input_addr, 0x12345678u);
    EXPECT_EQ(e.ipa, 0x80042000u);
    EXPECT_FALSE(e.rnw);
    EXPECT_TRUE(e.ttrnw) << "the table access that faulted was a read";
}

TEST(walker_fault_record, every_kind_maps_to_its_builder) {
    walk_fault f;
    f.input_address = 0x1000;
    f.access.privileged = true;
    for (auto k : {fault_kind::translation, fault_kind::address_size, fault_kind::access_flag,
                   fault_kind::permission}) {
        f.kind = k;
        const event_record e = fault_record(f, stream_ref{1}, stall_state{true, 0x42});
        EXPECT_EQ(e.id, fault_event(k));
        EXPECT_TRUE(e.pnu);
        EXPECT_TRUE(e.stall);
        EXPECT_EQ(e.stag, 0x42u);
        EXPECT_FALSE(e.s2);
        EXPECT_FALSE(e.ttrnw) << "TTRnW only for CLASS == TT";
    }
    f.kind = fault_kind::external_abort;
    f.cls = fault_class::tt;
    f.fetch_address = 0x200008;
    const event_record eabt = fault_record(f, stream_ref{1});
    EXPECT_EQ(eabt.id, event_id::f_walk_eabt);
    EXPECT_EQ(eabt.fetch_addr, 0x200008u);
    EXPECT_EQ(eabt.cls, fault_class::tt);
}

// ------------------------------------------------------------------ walk-cache resume

/// Answers find() with a fixed entry for one stage and logs every question.
class scripted_resume : public walk_resume_source {
public:
    struct question {
        stage st;
        std::uint64_t input;
        granule g;
    };
    std::optional<walk_resume> find(stage st, std::uint64_t input, granule g) override {
        questions.push_back({st, input, g});
        return st == for_stage ? answer : std::nullopt;
    }
    stage for_stage = stage::one;
    std::optional<walk_resume> answer;
    std::vector<question> questions;
};

/// A minimal walk cache: remembers every visit and answers with the deepest
/// one of the stage covering the input.
class recording_cache : public walk_observer, public walk_resume_source {
public:
    void on_table(const table_visit& v) override { visits.push_back(v); }
    std::optional<walk_resume> find(stage st, std::uint64_t input, granule g) override {
        std::optional<walk_resume> best;
        for (const auto& v : visits) {
            if (v.st != st || v.gran != g ||
                (input >> v.span_log2) != (v.input_base >> v.span_log2))
                continue;
            if (!best || v.level > best->level)
                best = walk_resume{v.level, v.next_table, v.table_attrs};
        }
        return best;
    }
    std::vector<table_visit> visits;
};

TEST(walker_resume, stage1_continues_below_the_cached_table_descriptor) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    b.map(va, 3, page_desc(0x0000000876543000ull, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 16);
    scripted_resume cache;
    cache.answer = walk_resume{2, 0x202000, 0}; // the level-2 descriptor's table
    auto r = request(va, data_read(), &cfg);
    r.resume = &cache;

    const auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x0000000876543abcull);
    ASSERT_EQ(mem.log().size(), 1u);
    EXPECT_EQ(mem.log()[0].pa, 0x202c48ull);
    EXPECT_EQ(mem.log()[0].level, 3);
    EXPECT_EQ(o.reads.total(), 1u);
    ASSERT_EQ(cache.questions.size(), 1u);
    EXPECT_EQ(cache.questions[0].st, stage::one);
    EXPECT_EQ(cache.questions[0].input, va);
    EXPECT_EQ(cache.questions[0].g, granule::size_4k);
}

TEST(walker_resume, level_0_entry_skips_one_read) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    b.map(va, 3, page_desc(0x5000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 16);
    scripted_resume cache;
    cache.answer = walk_resume{0, 0x200000, 0};
    auto r = request(va, data_read(), &cfg);
    r.resume = &cache;
    const auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    ASSERT_EQ(mem.log().size(), 3u);
    EXPECT_EQ(mem.log()[0].pa, 0x200688ull);
    EXPECT_EQ(o.reads.at(stage::one, 0), 0u);
    EXPECT_EQ(o.reads.at(stage::one, 1), 1u);
}

TEST(walker_resume, answers_outside_start_level_to_2_are_ignored) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, page_desc(0x5000, k_s1_rw_all));
    const auto cfg = s1_config(granule::size_4k, 25); // starts at level 1
    for (int level : {0, 3, -1}) {
        scripted_resume cache;
        cache.answer = walk_resume{level, 0xdead000, 0};
        auto r = request(0x1000, data_read(), &cfg);
        r.resume = &cache;
        const auto o = walk(r, mem);
        ASSERT_TRUE(o.ok()) << level;
        EXPECT_EQ(o.reads.total(), 3u) << level;
        EXPECT_EQ(o.result.output_address, 0x5000ull);
    }
}

TEST(walker_resume, resumed_walk_keeps_the_cached_hierarchical_attributes) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    b.map(va, 3, page_desc(0x5000, k_af)); // privileged RW
    const auto cfg = s1_config(granule::size_4k, 16);
    scripted_resume cache;
    cache.answer = walk_resume{2, 0x202000, k_ap_table1}; // APTable[1]: read-only below
    auto r = request(va, data_write(true), &cfg);
    r.resume = &cache;
    auto o = walk(r, mem);
    expect_fault(o, fault_kind::permission, stage::one, 3);
    r.access = data_read(true);
    o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_FALSE(o.result.perms.priv_write);
}

TEST(walker_resume, observer_reports_granule_and_accumulated_table_attributes) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 0, 48);
    const std::uint64_t va = 0x0000123456789abcull;
    b.map(va, 3, page_desc(0x5000, k_s1_rw_all));
    b.or_table_bits(va, 1, k_ap_table1);
    b.or_table_bits(va, 2, k_pxn_table);
    const auto cfg = s1_config(granule::size_4k, 16);
    visit_recorder rec;
    auto r = request(va, data_read(), &cfg);
    r.observer = &rec;
    ASSERT_TRUE(walk(r, mem).ok());
    ASSERT_EQ(rec.visits.size(), 3u);
    EXPECT_EQ(rec.visits[0].gran, granule::size_4k);
    EXPECT_EQ(rec.visits[0].table_attrs, 0u);
    EXPECT_EQ(rec.visits[1].table_attrs, k_ap_table1);
    EXPECT_EQ(rec.visits[2].table_attrs, k_ap_table1 | k_pxn_table);
}

TEST(walker_resume, nested_walk_resumes_both_stages) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x5000, 3, page_desc(0x9000, k_s2_leaf));
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    recording_cache cache;
    auto r = request(0x1000, data_read(true), &s1, &s2);
    r.observer = &cache;
    auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.reads.total(stage::one), 3u);
    EXPECT_EQ(o.reads.total(stage::two), 12u);

    r.resume = &cache;
    o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x9000ull);
    // Stage 1 from its level-2 entry (one read, whose IPA takes one stage-2 read
    // from a level-2 entry), then one stage-2 read for the output IPA.
    EXPECT_EQ(o.reads.total(stage::one), 1u);
    EXPECT_EQ(o.reads.at(stage::one, 3), 1u);
    EXPECT_EQ(o.reads.total(stage::two), 2u);
    EXPECT_EQ(o.reads.at(stage::two, 3), 2u);
}

// ------------------------------------------------------------------ deferred permission checks

walk_request unchecked(std::uint64_t addr, access_kind a, const stage1_config* s1,
                       const stage2_config* s2 = nullptr) {
    auto r = request(addr, a, s1, s2);
    r.check_permissions = false;
    return r;
}

TEST(walker_unchecked_permissions, stage1_denial_returns_the_translation) {
    fake_memory mem;
    auto b = s1_tables(mem, granule::size_4k, 1, 39);
    b.map(0x1000, 3, page_desc(0x5000, k_af | k_ap_ro));
    const auto cfg = s1_config(granule::size_4k, 25);
    const auto o = walk(unchecked(0x1000, data_write(true), &cfg), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x5000ull);
    EXPECT_TRUE(o.result.perms.priv_read);
    EXPECT_FALSE(o.result.perms.priv_write);
    EXPECT_EQ(denying_stage(o.result, data_write(true)), stage::one);
    // The default still faults.
    expect_fault(walk(request(0x1000, data_write(true), &cfg), mem), fault_kind::permission,
                 stage::one, 3);
}

TEST(walker_unchecked_permissions, nested_stage2_denial_returns_the_translation) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b);
    s2b.map(0x5000, 3, page_desc(0x9000, k_af | k_s2ap_r | k_memattr_wb));
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(unchecked(0x1000, data_write(true), &s1, &s2), mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x9000ull);
    EXPECT_EQ(denying_stage(o.result, data_write(true)), stage::two);
}

TEST(walker_unchecked_permissions, deferred_stage1_fault_beats_a_stage2_output_fault) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af | k_ap_ro));
    map_s1_tables(s2b, s1b); // output IPA 0x5000 unmapped at stage 2
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    auto o = walk(unchecked(0x1000, data_write(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::permission, stage::one, 3);
    // Allowed at stage 1: the stage-2 fault stands.
    o = walk(unchecked(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::translation, stage::two, 3);
}

TEST(walker_unchecked_permissions, table_fetch_permission_is_still_checked) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af));
    map_s1_tables(s2b, s1b, k_af | k_s2ap_w | k_memattr_wb); // write-only
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    const auto o = walk(unchecked(0x1000, data_read(true), &s1, &s2), mem);
    expect_fault(o, fault_kind::permission, stage::two, 3, fault_class::tt);
}

// ------------------------------------------------------------------ split-stage ATS

TEST(walker_stage1_ipa, stops_after_stage1_with_tables_through_stage2) {
    fake_memory mem;
    auto s1b = s1_tables(mem, granule::size_4k, 1, 39);
    auto s2b = s2_tables(mem, granule::size_4k, 1, 40);
    s1b.map(0x1000, 3, page_desc(0x5000, k_af | k_ng));
    map_s1_tables(s2b, s1b); // output IPA 0x5000 unmapped at stage 2: not looked at
    const auto s1 = s1_config(granule::size_4k, 25);
    const auto s2 = s2_config(granule::size_4k, 24, 1);
    auto r = request(0x1234, data_read(true), &s1, &s2);
    r.purpose = walk_purpose::stage1_ipa;
    const auto o = walk(r, mem);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x5234ull);
    EXPECT_EQ(o.result.ipa, 0x5234ull);
    EXPECT_EQ(o.result.size_log2, 12u);
    EXPECT_EQ(o.result.s1_level.value_or(-9), 3);
    EXPECT_FALSE(o.result.s2_level.has_value());
    EXPECT_EQ(o.result.tag.vmid.value_or(0), 9u);
    EXPECT_EQ(o.result.tag.asid.value_or(0), 5u);
    EXPECT_EQ(o.reads.total(stage::one), 3u);
    EXPECT_EQ(o.reads.total(stage::two), 9u); // 3 table IPAs x 3 levels, no output walk
}

} // namespace
} // namespace smmu::arch
