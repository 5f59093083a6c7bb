// io_pgtable tests. Expected descriptor words, sizes and table addresses are
// literal numbers worked out by hand from the reference (§8.1-§8.4); the
// model's walker (arch::walk) is the oracle for translations and permissions.
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "driver/core/io_pgtable.h"
#include "model/arch/walker.h"
#include "tests/unit/driver/fake_platform_pgtable.h"

namespace smmu::driver {
namespace {

using arch::granule;
using arch::stage;
using test::fake_platform_pgtable;
using test::recording_flush_ops;

constexpr std::uint64_t k_table_base = 0x40'0000'0000ull; // fake allocator start
constexpr std::uint64_t k_iova = 0x1'0000'0000ull;        // 4 GiB: 1 GiB aligned
constexpr std::uint64_t k_pa = 0x8'0000'0000ull;          // 32 GiB: 1 GiB aligned
constexpr std::uint64_t k_xn = 0x0060000000000000ull;     // bits 54:53

iommu_prot rw_cache() {
    return {true, true, true, false, false, false};
}
iommu_prot ro_cache() {
    return {true, false, true, false, false, false};
}
iommu_prot rw_priv_cache() {
    return {true, true, true, false, true, false};
}

/// Leaf attributes Linux writes for read/write cacheable no-exec mappings.
std::uint64_t rw_cache_attrs(stage st) {
    // S1: XN | nG 0x800 | AF 0x400 | SH IS 0x300 | AP[1] 0x40 | AttrIndx 1 (0x4)
    // S2: XN | AF 0x400 | SH IS 0x300 | S2AP RW 0xC0 | MemAttr 0xF (0x3C)
    return st == stage::one ? 0x0060000000000F44ull : 0x00600000000007FCull;
}

class walk_mem : public arch::walk_memory {
public:
    explicit walk_mem(const fake_platform_pgtable& m)
        : m_mem(m) {}
    arch::descriptor_read read_descriptor(arch::phys_addr pa, stage, int) override {
        return {m_mem.word(pa), false};
    }

private:
    const fake_platform_pgtable& m_mem;
};

arch::stage1_config s1_walk_config(const io_pgtable& pt) {
    const s1_hw_config c = *pt.s1_config();
    arch::stage1_config w;
    w.ttb0 = c.ttb0;
    w.t0sz = c.t0sz;
    w.tg0 = *arch::granule_from_tg0(c.tg0);
    w.epd1 = c.epd1;
    w.ips_bits = arch::pa_size_bits(c.ips);
    w.asid = 5;
    return w;
}

arch::stage2_config s2_walk_config(const io_pgtable& pt) {
    const s2_hw_config c = *pt.s2_config();
    arch::stage2_config w;
    w.ttb = c.s2ttb;
    w.t0sz = c.s2t0sz;
    w.sl0 = c.s2sl0;
    w.tg = *arch::granule_from_tg0(c.s2tg);
    w.ps_bits = arch::pa_size_bits(c.s2ps);
    w.vmid = 3;
    return w;
}

arch::access_kind rd(bool priv = false) {
    return {false, false, priv};
}
arch::access_kind wr(bool priv = false) {
    return {true, false, priv};
}
arch::access_kind ex(bool priv = false) {
    return {false, true, priv};
}

/// Walks `iova` through the table with the SMMU's walker.
arch::walk_outcome walk(const io_pgtable& pt, const fake_platform_pgtable& mem, std::uint64_t iova,
                        arch::access_kind access, unsigned oas_bits = 48, bool xnx = true) {
    walk_mem m(mem);
    arch::walk_request req;
    req.input_address = iova;
    req.access = access;
    req.oas_bits = oas_bits;
    arch::stage1_config s1;
    arch::stage2_config s2;
    if (pt.cfg().stage == stage::one) {
        s1 = s1_walk_config(pt);
        req.s1 = &s1;
    } else {
        s2 = s2_walk_config(pt);
        s2.xnx = xnx;
        req.s2 = &s2;
    }
    return arch::walk(req, m);
}

void expect_gather(const iotlb_gather& g, std::uint64_t start, std::uint64_t end,
                   std::uint64_t pgsize) {
    EXPECT_EQ(g.start, start);
    EXPECT_EQ(g.end, end);
    EXPECT_EQ(g.pgsize, pgsize);
}

struct harness {
    explicit harness(const io_pgtable_cfg& cfg, std::uint64_t base = k_table_base)
        : mem(base)
        , flush(&mem) {
        auto r = io_pgtable::create(cfg, mem, flush);
        status = r.status;
        pt = std::move(r.table);
    }
    fake_platform_pgtable mem;
    recording_flush_ops flush;
    pgtable_status status;
    std::unique_ptr<io_pgtable> pt;
};

io_pgtable_cfg make_cfg(stage st, granule g, unsigned ias = 48, unsigned oas = 48) {
    io_pgtable_cfg c;
    c.stage = st;
    c.granule = g;
    c.ias = ias;
    c.oas = oas;
    return c;
}

// ============================================================ geometry

TEST(io_pgtable_geometry, stage1_4k_48_bit_starts_at_level_0) {
    const auto g = compute_geometry(make_cfg(stage::one, granule::size_4k));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 0);
    EXPECT_EQ(g->pgd_index_bits, 9u);
    EXPECT_EQ(g->pgd_bytes(), 4096u);
    EXPECT_EQ(g->tsz, 16u);
    EXPECT_EQ(g->concat_tables, 1u);
    EXPECT_EQ(g->pgsize_bitmap, 0x40201000ull); // 4K | 2M | 1G
}

TEST(io_pgtable_geometry, stage1_4k_39_bit_starts_at_level_1) {
    const auto g = compute_geometry(make_cfg(stage::one, granule::size_4k, 39));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->pgd_index_bits, 9u);
    EXPECT_EQ(g->tsz, 25u);
}

TEST(io_pgtable_geometry, stage1_16k_48_bit_has_two_entry_level_0) {
    const auto g = compute_geometry(make_cfg(stage::one, granule::size_16k));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 0);
    EXPECT_EQ(g->pgd_index_bits, 1u);
    EXPECT_EQ(g->pgd_bytes(), 16u);
    EXPECT_EQ(g->pgsize_bitmap, 0x2004000ull); // 16K | 32M
}

TEST(io_pgtable_geometry, stage1_64k_48_bit_starts_at_level_1_with_64_entries) {
    const auto g = compute_geometry(make_cfg(stage::one, granule::size_64k));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->pgd_index_bits, 6u);
    EXPECT_EQ(g->pgd_bytes(), 512u);
    EXPECT_EQ(g->pgsize_bitmap, 0x20010000ull); // 64K | 512M
}

TEST(io_pgtable_geometry, oas_52_with_64k_adds_4t_blocks) {
    const auto g = compute_geometry(make_cfg(stage::one, granule::size_64k, 48, 52));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->pgsize_bitmap, 0x40020010000ull); // 64K | 512M | 4T
}

TEST(io_pgtable_geometry, stage1_64k_52_bit_va_has_1024_entry_level_1) {
    const auto g = compute_geometry(make_cfg(stage::one, granule::size_64k, 52, 52));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->pgd_index_bits, 10u);
    EXPECT_EQ(g->pgd_bytes(), 8192u);
    EXPECT_EQ(g->tsz, 12u);
}

TEST(io_pgtable_geometry, stage2_4k_48_bit_starts_at_level_0_without_concatenation) {
    const auto g = compute_geometry(make_cfg(stage::two, granule::size_4k));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 0);
    EXPECT_EQ(g->concat_tables, 1u);
    EXPECT_EQ(g->sl0, 2u);
    EXPECT_EQ(g->tsz, 16u);
}

TEST(io_pgtable_geometry, stage2_4k_40_bit_ipa_40_bit_pa_concatenates_two_tables) {
    const auto g = compute_geometry(make_cfg(stage::two, granule::size_4k, 40, 40));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->concat_tables, 2u);
    EXPECT_EQ(g->pgd_index_bits, 10u);
    EXPECT_EQ(g->pgd_bytes(), 8192u);
    EXPECT_EQ(g->sl0, 1u);
    EXPECT_EQ(g->tsz, 24u);
}

TEST(io_pgtable_geometry, stage2_4k_40_bit_ipa_48_bit_pa_concatenates_only_with_old_policy) {
    auto cfg = make_cfg(stage::two, granule::size_4k, 40, 48);
    const auto recent = compute_geometry(cfg);
    ASSERT_TRUE(recent);
    EXPECT_EQ(recent->start_level, 0);
    EXPECT_EQ(recent->concat_tables, 1u);
    EXPECT_EQ(recent->pgd_index_bits, 1u);
    EXPECT_EQ(recent->sl0, 2u);
    cfg.concat = s2_concat_policy::at_level_zero;
    const auto old = compute_geometry(cfg);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->start_level, 1);
    EXPECT_EQ(old->concat_tables, 2u);
    EXPECT_EQ(old->sl0, 1u);
}

TEST(io_pgtable_geometry, stage2_old_policy_keeps_level_0_when_more_than_16_entries) {
    auto cfg = make_cfg(stage::two, granule::size_4k, 48, 48);
    cfg.concat = s2_concat_policy::at_level_zero;
    const auto g = compute_geometry(cfg);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 0);
    EXPECT_EQ(g->concat_tables, 1u);
}

TEST(io_pgtable_geometry, stage2_mandatory_concatenation_over_16_tables_is_rejected) {
    // 4K, 44-bit IPA: level 0 would have 32 entries, OAS 40 makes concatenation mandatory.
    EXPECT_FALSE(compute_geometry(make_cfg(stage::two, granule::size_4k, 44, 40)));
}

TEST(io_pgtable_geometry, stage2_16k_48_bit_concatenates_at_level_1) {
    const auto g = compute_geometry(make_cfg(stage::two, granule::size_16k, 48, 48));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->concat_tables, 2u);
    EXPECT_EQ(g->pgd_bytes(), 32768u);
    EXPECT_EQ(g->sl0, 2u);
}

TEST(io_pgtable_geometry, stage2_16k_40_bit_pa_concatenates_16_tables_at_level_2) {
    const auto g = compute_geometry(make_cfg(stage::two, granule::size_16k, 40, 40));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 2);
    EXPECT_EQ(g->concat_tables, 16u);
    EXPECT_EQ(g->sl0, 1u);
    EXPECT_EQ(g->tsz, 24u);
}

TEST(io_pgtable_geometry, stage2_16k_47_bit_starts_at_level_1_single_table) {
    const auto g = compute_geometry(make_cfg(stage::two, granule::size_16k, 47, 44));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->concat_tables, 1u);
    EXPECT_EQ(g->sl0, 2u);
}

TEST(io_pgtable_geometry, stage2_64k_48_bit_starts_at_level_1) {
    const auto g = compute_geometry(make_cfg(stage::two, granule::size_64k));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->concat_tables, 1u);
    EXPECT_EQ(g->sl0, 2u);
}

TEST(io_pgtable_geometry, stage2_small_ipa_starts_low) {
    const auto g4 = compute_geometry(make_cfg(stage::two, granule::size_4k, 32, 40));
    ASSERT_TRUE(g4);
    EXPECT_EQ(g4->start_level, 1);
    EXPECT_EQ(g4->pgd_index_bits, 2u);
    EXPECT_EQ(g4->sl0, 1u);
    const auto g16 = compute_geometry(make_cfg(stage::two, granule::size_16k, 25, 40));
    ASSERT_TRUE(g16);
    EXPECT_EQ(g16->start_level, 3);
    EXPECT_EQ(g16->sl0, 0u);
    EXPECT_EQ(g16->tsz, 39u);
}

TEST(io_pgtable_geometry, unsupported_configurations_are_rejected) {
    EXPECT_FALSE(compute_geometry(make_cfg(stage::one, granule::size_4k, 48, 52)));
    EXPECT_FALSE(compute_geometry(make_cfg(stage::one, granule::size_16k, 48, 52)));
    EXPECT_FALSE(compute_geometry(make_cfg(stage::one, granule::size_4k, 48, 50)));
    EXPECT_FALSE(compute_geometry(make_cfg(stage::one, granule::size_4k, 49, 48)));
    EXPECT_FALSE(compute_geometry(make_cfg(stage::one, granule::size_4k, 24, 48)));
    EXPECT_FALSE(compute_geometry(make_cfg(stage::two, granule::size_64k, 53, 52)));
}

// ============================================================ create / hw config

TEST(io_pgtable_create, stage1_cd_fields) {
    harness h(make_cfg(stage::one, granule::size_4k));
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(h.pt->ttb(), k_table_base);
    EXPECT_FALSE(h.pt->s2_config());
    const auto c = h.pt->s1_config();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->ttb0, k_table_base);
    EXPECT_EQ(c->t0sz, 16u);
    EXPECT_EQ(c->tg0, arch::tg0_encoding::size_4k);
    EXPECT_EQ(c->ips, arch::pa_size_encoding::bits_48);
    EXPECT_EQ(c->ir0, arch::walk_cacheability::wb_ra_wa);
    EXPECT_EQ(c->or0, arch::walk_cacheability::wb_ra_wa);
    EXPECT_EQ(c->sh0, arch::shareability_encoding::inner);
    EXPECT_TRUE(c->epd1);
    EXPECT_EQ(c->mair, 0xF404FF44ull);
    EXPECT_EQ(h.pt->pgsize_bitmap(), 0x40201000ull);
    EXPECT_EQ(h.pt->granule_bytes(), 4096u);
    EXPECT_EQ(h.mem.live.at(k_table_base), 4096u);
}

TEST(io_pgtable_create, stage1_non_coherent_walk_is_outer_shareable_non_cacheable) {
    auto cfg = make_cfg(stage::one, granule::size_16k, 36, 40);
    cfg.coherent_walk = false;
    harness h(cfg);
    const auto c = h.pt->s1_config();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->t0sz, 28u);
    EXPECT_EQ(c->tg0, arch::tg0_encoding::size_16k);
    EXPECT_EQ(c->ips, arch::pa_size_encoding::bits_40);
    EXPECT_EQ(c->ir0, arch::walk_cacheability::non_cacheable);
    EXPECT_EQ(c->or0, arch::walk_cacheability::non_cacheable);
    EXPECT_EQ(c->sh0, arch::shareability_encoding::outer);
}

TEST(io_pgtable_create, stage2_ste_fields) {
    harness h(make_cfg(stage::two, granule::size_64k, 44, 52));
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_FALSE(h.pt->s1_config());
    const auto c = h.pt->s2_config();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->s2ttb, k_table_base);
    EXPECT_EQ(c->s2t0sz, 20u);
    EXPECT_EQ(c->s2sl0, 2u); // 64K, 44 bits: level 1 with 4 entries
    EXPECT_EQ(c->s2tg, arch::tg0_encoding::size_64k);
    EXPECT_EQ(c->s2ps, arch::pa_size_encoding::bits_52);
    EXPECT_EQ(c->s2ir0, arch::walk_cacheability::wb_ra_wa);
    EXPECT_EQ(c->s2sh0, arch::shareability_encoding::inner);
}

TEST(io_pgtable_create, stage2_non_coherent_walk) {
    auto cfg = make_cfg(stage::two, granule::size_4k);
    cfg.coherent_walk = false;
    harness h(cfg);
    const auto c = h.pt->s2_config();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->s2ir0, arch::walk_cacheability::non_cacheable);
    EXPECT_EQ(c->s2or0, arch::walk_cacheability::non_cacheable);
    EXPECT_EQ(c->s2sh0, arch::shareability_encoding::outer);
}

TEST(io_pgtable_create, small_pgd_is_64_byte_allocation_aligned_to_itself) {
    harness h(make_cfg(stage::one, granule::size_16k), k_table_base + 8);
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(h.pt->ttb(), k_table_base + 64);
    EXPECT_EQ(h.mem.live.at(h.pt->ttb()), 64u);
}

TEST(io_pgtable_create, concatenated_pgd_is_aligned_to_its_size) {
    harness h(make_cfg(stage::two, granule::size_16k), k_table_base + 0x4000);
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(h.pt->ttb(), k_table_base + 0x8000);
    EXPECT_EQ(h.mem.live.at(h.pt->ttb()), 0x8000u);
}

TEST(io_pgtable_create, bad_config_allocates_nothing) {
    fake_platform_pgtable mem;
    recording_flush_ops flush;
    const auto r = io_pgtable::create(make_cfg(stage::one, granule::size_4k, 48, 52), mem, flush);
    EXPECT_EQ(r.status, pgtable_status::bad_config);
    EXPECT_EQ(r.table, nullptr);
    EXPECT_EQ(mem.alloc_calls, 0u);
}

TEST(io_pgtable_create, allocation_failure_is_no_memory) {
    fake_platform_pgtable mem;
    recording_flush_ops flush;
    mem.fail_allocations_after(0);
    const auto r = io_pgtable::create(make_cfg(stage::one, granule::size_4k), mem, flush);
    EXPECT_EQ(r.status, pgtable_status::no_memory);
    EXPECT_EQ(r.table, nullptr);
}

TEST(io_pgtable_create, exhausted_allocator_is_no_memory) {
    fake_platform_pgtable mem(k_table_base, 0x1000);
    recording_flush_ops flush;
    const auto r = io_pgtable::create(make_cfg(stage::two, granule::size_4k, 40, 40), mem, flush);
    EXPECT_EQ(r.status, pgtable_status::no_memory); // two concatenated 4K tables do not fit
}

TEST(io_pgtable_create, destructor_frees_every_table) {
    harness h(make_cfg(stage::one, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x1000, rw_cache()).ok());
    ASSERT_TRUE(h.pt->map(0x80'0000'0000ull, k_pa, 0x200000, rw_cache()).ok());
    EXPECT_EQ(h.mem.live.size(), 6u); // pgd, 2 x L1, 2 x L2, 1 x L3
    h.pt.reset();
    EXPECT_TRUE(h.mem.live.empty());
    EXPECT_EQ(h.mem.bad_frees, 0u);
}

TEST(io_pgtable_status, names) {
    EXPECT_STREQ(to_string(pgtable_status::ok), "ok");
    EXPECT_STREQ(to_string(pgtable_status::bad_config), "bad_config");
    EXPECT_STREQ(to_string(pgtable_status::no_memory), "no_memory");
    EXPECT_STREQ(to_string(pgtable_status::no_access), "no_access");
    EXPECT_STREQ(to_string(pgtable_status::misaligned), "misaligned");
    EXPECT_STREQ(to_string(pgtable_status::out_of_range), "out_of_range");
    EXPECT_STREQ(to_string(pgtable_status::already_mapped), "already_mapped");
    EXPECT_STREQ(to_string(pgtable_status::not_mapped), "not_mapped");
}

// ============================================================ descriptor bits

TEST(io_pgtable_descriptor, stage1_attributes_from_prot) {
    harness h(make_cfg(stage::one, granule::size_4k));
    const io_pgtable& pt = *h.pt;
    EXPECT_EQ(pt.leaf_attributes(rw_cache()), 0x0060000000000F44ull);
    EXPECT_EQ(pt.leaf_attributes(ro_cache()), 0x0060000000000FC4ull);      // + AP[2]
    EXPECT_EQ(pt.leaf_attributes(rw_priv_cache()), 0x0060000000000F04ull); // no AP[1]
    // write-only is read/write at stage 1 (no write-only AP encoding)
    EXPECT_EQ(pt.leaf_attributes({false, true, true, false, false, false}), 0x0060000000000F44ull);
    // non-cacheable: AttrIndx 0, outer shareable
    EXPECT_EQ(pt.leaf_attributes({true, true, false, false, false, false}), 0x0060000000000E40ull);
    // device, privileged, executable: AttrIndx 2, OSH, no XN
    EXPECT_EQ(pt.leaf_attributes({true, true, false, true, true, true}), 0x0000000000000E08ull);
    // mmio wins over cache for AttrIndx; cache still picks ISH
    EXPECT_EQ(pt.leaf_attributes({true, false, true, true, false, true}), 0x0000000000000FC8ull);
}

TEST(io_pgtable_descriptor, stage2_attributes_from_prot) {
    harness h(make_cfg(stage::two, granule::size_4k));
    const io_pgtable& pt = *h.pt;
    EXPECT_EQ(pt.leaf_attributes(rw_cache()), 0x00600000000007FCull);
    EXPECT_EQ(pt.leaf_attributes(ro_cache()), 0x006000000000077Cull);
    EXPECT_EQ(pt.leaf_attributes({false, true, true, false, false, false}),
              0x00600000000007BCull);                                      // write-only S2AP 10
    EXPECT_EQ(pt.leaf_attributes(rw_priv_cache()), 0x00600000000007FCull); // priv: no effect
    EXPECT_EQ(pt.leaf_attributes({true, true, false, false, false, false}),
              0x00600000000006D4ull); // MemAttr 0x5, OSH
    EXPECT_EQ(pt.leaf_attributes({true, true, false, true, false, true}),
              0x00000000000006C4ull); // MemAttr 0x1, executable
}

TEST(io_pgtable_descriptor, stage1_4k_page_map_writes_literal_tables_in_order) {
    harness h(make_cfg(stage::one, granule::size_4k));
    const auto r = h.pt->map(k_iova, k_pa, 0x1000, rw_cache());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mapped, 0x1000u);
    using k = fake_platform_pgtable::log_entry::kind;
    const auto& log = h.mem.log;
    ASSERT_EQ(log.size(), 8u);
    // L0[0] -> L1 table at +0x1000; L1[4] -> L2 at +0x2000; L2[0] -> L3 at +0x3000
    EXPECT_EQ(log[0].what, k::barrier);
    EXPECT_EQ(log[1].what, k::write);
    EXPECT_EQ(log[1].pa, k_table_base);
    EXPECT_EQ(log[1].value, 0x40'0000'1003ull);
    EXPECT_EQ(log[2].what, k::barrier);
    EXPECT_EQ(log[3].pa, k_table_base + 0x1020);
    EXPECT_EQ(log[3].value, 0x40'0000'2003ull);
    EXPECT_EQ(log[4].what, k::barrier);
    EXPECT_EQ(log[5].pa, k_table_base + 0x2000);
    EXPECT_EQ(log[5].value, 0x40'0000'3003ull);
    EXPECT_EQ(log[6].what, k::write);
    EXPECT_EQ(log[6].pa, k_table_base + 0x3000);
    EXPECT_EQ(log[6].value, 0x0060000800000F47ull);
    EXPECT_EQ(log[7].what, k::barrier);
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 4u);
    EXPECT_EQ(h.mem.charged(cpu_op::barrier), 4u);
    EXPECT_EQ(h.mem.barriers, 4u);
}

TEST(io_pgtable_descriptor, stage1_4k_1g_block_at_level_1) {
    harness h(make_cfg(stage::one, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x40000000, rw_cache()).ok());
    const auto l = h.pt->lookup(k_iova + 0x1234);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 1);
    EXPECT_EQ(l->descriptor, 0x0060000800000F45ull);
    EXPECT_EQ(l->descriptor_address, k_table_base + 0x1020);
    EXPECT_EQ(l->size, 0x40000000u);
    EXPECT_EQ(l->output_address, k_pa + 0x1234);
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 2u);
}

TEST(io_pgtable_descriptor, map_with_no_access_is_refused) {
    harness h(make_cfg(stage::one, granule::size_4k));
    const auto r = h.pt->map(k_iova, k_pa, 0x1000, iommu_prot{});
    EXPECT_EQ(r.status, pgtable_status::no_access);
    EXPECT_EQ(r.mapped, 0u);
    EXPECT_EQ(h.mem.mem_writes, 0u);
}

// ============================================================ per granule x stage

struct pg_case {
    const char* name;
    stage st;
    granule g;
    std::uint64_t page;
    std::uint64_t block;
    int block_level;
    unsigned block_map_writes; ///< table installs down to the block level + the leaf
    unsigned tables_for_page;  ///< allocations to map the first page
};

void PrintTo(const pg_case& c, std::ostream* os) {
    *os << c.name;
}

class io_pgtable_granule : public ::testing::TestWithParam<pg_case> {
protected:
    io_pgtable_granule()
        : h(make_cfg(GetParam().st, GetParam().g)) {}

    std::uint64_t P() const { return GetParam().page; }
    std::uint64_t B() const { return GetParam().block; }
    stage st() const { return GetParam().st; }
    std::uint64_t entries() const { return B() / P(); }
    std::uint64_t page_desc(std::uint64_t pa) const { return pa | rw_cache_attrs(st()) | 3; }
    std::uint64_t block_desc(std::uint64_t pa) const { return pa | rw_cache_attrs(st()) | 1; }
    io_pgtable& pt() { return *h.pt; }

    harness h;
};

TEST_P(io_pgtable_granule, creates) {
    EXPECT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(pt().granule_bytes(), P());
    EXPECT_NE(pt().pgsize_bitmap() & B(), 0u);
    EXPECT_NE(pt().pgsize_bitmap() & P(), 0u);
}

TEST_P(io_pgtable_granule, maps_one_page) {
    const auto r = pt().map(k_iova, k_pa, P(), rw_cache());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mapped, P());
    const auto l = pt().lookup(k_iova);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 3);
    EXPECT_EQ(l->descriptor, page_desc(k_pa));
    EXPECT_EQ(l->size, P());
    EXPECT_EQ(h.mem.word(l->descriptor_address), page_desc(k_pa));
    EXPECT_EQ(pt().iova_to_phys(k_iova + 0x123), k_pa + 0x123);
    EXPECT_FALSE(pt().iova_to_phys(k_iova + P()));
    EXPECT_FALSE(pt().iova_to_phys(k_iova - P()));
    EXPECT_EQ(h.mem.alloc_calls, 1u + GetParam().tables_for_page);
}

TEST_P(io_pgtable_granule, maps_a_block_when_aligned) {
    const auto r = pt().map(k_iova, k_pa, B(), rw_cache());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mapped, B());
    const auto l = pt().lookup(k_iova + B() - 8);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, GetParam().block_level);
    EXPECT_EQ(l->descriptor, block_desc(k_pa));
    EXPECT_EQ(l->size, B());
    EXPECT_EQ(l->output_address, k_pa + B() - 8);
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), GetParam().block_map_writes);
    // one barrier per table install, one at the end
    EXPECT_EQ(h.mem.charged(cpu_op::barrier), GetParam().block_map_writes);
}

TEST_P(io_pgtable_granule, maps_several_blocks_in_one_call) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, 3 * B(), rw_cache()).ok());
    for (std::uint64_t i = 0; i < 3; ++i) {
        const auto l = pt().lookup(k_iova + i * B());
        ASSERT_TRUE(l);
        EXPECT_EQ(l->level, GetParam().block_level);
        EXPECT_EQ(l->descriptor, block_desc(k_pa + i * B()));
    }
}

TEST_P(io_pgtable_granule, unaligned_range_mixes_pages_and_a_block) {
    const std::uint64_t iova = k_iova + B() - 2 * P();
    const std::uint64_t pa = k_pa + B() - 2 * P();
    const auto r = pt().map(iova, pa, B() + 5 * P(), rw_cache());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mapped, B() + 5 * P());
    for (std::uint64_t off : {std::uint64_t{0}, P()}) {
        const auto l = pt().lookup(iova + off);
        ASSERT_TRUE(l);
        EXPECT_EQ(l->level, 3);
        EXPECT_EQ(l->descriptor, page_desc(pa + off));
    }
    const auto blk = pt().lookup(k_iova + B());
    ASSERT_TRUE(blk);
    EXPECT_EQ(blk->level, GetParam().block_level);
    EXPECT_EQ(blk->descriptor, block_desc(k_pa + B()));
    for (std::uint64_t i = 0; i < 3; ++i) {
        const auto l = pt().lookup(k_iova + 2 * B() + i * P());
        ASSERT_TRUE(l);
        EXPECT_EQ(l->level, 3);
        EXPECT_EQ(l->descriptor, page_desc(k_pa + 2 * B() + i * P()));
    }
    EXPECT_FALSE(pt().lookup(k_iova + 2 * B() + 3 * P()));
    EXPECT_FALSE(pt().lookup(iova - P()));
}

TEST_P(io_pgtable_granule, pa_misaligned_to_iova_uses_pages_only) {
    const auto r = pt().map(k_iova, k_pa + P(), B(), rw_cache());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mapped, B());
    const auto first = pt().lookup(k_iova);
    const auto last = pt().lookup(k_iova + B() - P());
    ASSERT_TRUE(first && last);
    EXPECT_EQ(first->level, 3);
    EXPECT_EQ(last->level, 3);
    EXPECT_EQ(last->descriptor, page_desc(k_pa + B()));
}

TEST_P(io_pgtable_granule, walker_translates_and_checks_permissions) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, P(), rw_cache()).ok());
    ASSERT_TRUE(pt().map(k_iova + P(), k_pa + 5 * P(), P(), ro_cache()).ok());
    ASSERT_TRUE(pt().map(k_iova + 2 * P(), k_pa + 9 * P(), P(), rw_priv_cache()).ok());
    ASSERT_TRUE(pt().map(k_iova + B(), k_pa + B(), B(), rw_cache()).ok());

    auto o = walk(pt(), h.mem, k_iova + 0x10, rd());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + 0x10);
    EXPECT_TRUE(walk(pt(), h.mem, k_iova, wr()).ok());

    o = walk(pt(), h.mem, k_iova + P() + 8, rd());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + 5 * P() + 8);
    o = walk(pt(), h.mem, k_iova + P(), wr());
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.fault->kind, arch::fault_kind::permission);
    EXPECT_EQ(o.fault->st, st());
    EXPECT_EQ(o.fault->level, 3);

    o = walk(pt(), h.mem, k_iova + B() + 0x40, wr());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + B() + 0x40);
    EXPECT_EQ(o.result.size(), B());

    o = walk(pt(), h.mem, k_iova + 2 * P(), rd());
    if (st() == stage::one) {
        ASSERT_FALSE(o.ok()); // privileged-only page, unprivileged access
        EXPECT_EQ(o.fault->kind, arch::fault_kind::permission);
        EXPECT_TRUE(walk(pt(), h.mem, k_iova + 2 * P(), wr(true)).ok());
    } else {
        EXPECT_TRUE(o.ok()); // stage 2 has no privilege distinction
    }

    o = walk(pt(), h.mem, k_iova + 3 * P(), rd());
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.fault->kind, arch::fault_kind::translation);
    EXPECT_EQ(o.fault->level, 3);
}

TEST_P(io_pgtable_granule, unmap_page_records_gather) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, 2 * P(), rw_cache()).ok());
    iotlb_gather g;
    const auto r = pt().unmap(k_iova + P(), P(), g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, P());
    expect_gather(g, k_iova + P(), k_iova + 2 * P() - 1, P());
    EXPECT_FALSE(pt().lookup(k_iova + P()));
    EXPECT_TRUE(pt().lookup(k_iova));
    EXPECT_TRUE(h.flush.syncs.empty());
    EXPECT_TRUE(h.flush.walks.empty());
    const auto o = walk(pt(), h.mem, k_iova + P(), rd());
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.fault->kind, arch::fault_kind::translation);
}

TEST_P(io_pgtable_granule, unmap_block_records_block_pgsize) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, B(), rw_cache()).ok());
    h.mem.reset_counts();
    iotlb_gather g;
    const auto r = pt().unmap(k_iova, B(), g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, B());
    expect_gather(g, k_iova, k_iova + B() - 1, B());
    EXPECT_FALSE(pt().lookup(k_iova));
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 1u);
    EXPECT_EQ(h.mem.barriers, 1u); // published before the caller's invalidation
    EXPECT_EQ(h.mem.log.back().what, fake_platform_pgtable::log_entry::kind::barrier);
}

TEST_P(io_pgtable_granule, unmap_of_mixed_range_syncs_when_pgsize_changes) {
    const std::uint64_t iova = k_iova + B() - 2 * P();
    ASSERT_TRUE(pt().map(iova, k_pa + B() - 2 * P(), B() + 5 * P(), rw_cache()).ok());
    iotlb_gather g;
    const auto r = pt().unmap(iova, B() + 5 * P(), g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, B() + 5 * P());
    ASSERT_EQ(h.flush.syncs.size(), 2u);
    expect_gather(h.flush.syncs[0], iova, k_iova + B() - 1, P());
    expect_gather(h.flush.syncs[1], k_iova + B(), k_iova + 2 * B() - 1, B());
    expect_gather(g, k_iova + 2 * B(), k_iova + 2 * B() + 3 * P() - 1, P());
    EXPECT_EQ(h.flush.ordered, (std::vector<bool>{true, true}));
    EXPECT_FALSE(pt().lookup(iova));
    EXPECT_FALSE(pt().lookup(k_iova + B()));
    EXPECT_FALSE(pt().lookup(k_iova + 2 * B() + 2 * P()));
}

TEST_P(io_pgtable_granule, gather_merges_adjacent_and_syncs_disjoint) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, 8 * P(), rw_cache()).ok());
    iotlb_gather g;
    ASSERT_TRUE(pt().unmap(k_iova + 3 * P(), P(), g).ok());
    ASSERT_TRUE(pt().unmap(k_iova + 2 * P(), P(), g).ok()); // adjacent below
    ASSERT_TRUE(pt().unmap(k_iova + 4 * P(), P(), g).ok()); // adjacent above
    EXPECT_TRUE(h.flush.syncs.empty());
    expect_gather(g, k_iova + 2 * P(), k_iova + 5 * P() - 1, P());
    ASSERT_TRUE(pt().unmap(k_iova + 7 * P(), P(), g).ok()); // gap of one page
    ASSERT_EQ(h.flush.syncs.size(), 1u);
    expect_gather(h.flush.syncs[0], k_iova + 2 * P(), k_iova + 5 * P() - 1, P());
    expect_gather(g, k_iova + 7 * P(), k_iova + 8 * P() - 1, P());
}

TEST_P(io_pgtable_granule, queued_gather_records_nothing) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, B() + P(), rw_cache()).ok());
    iotlb_gather g;
    g.queued = true;
    const auto r = pt().unmap(k_iova, B() + P(), g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, B() + P());
    EXPECT_TRUE(g.empty());
    EXPECT_TRUE(h.flush.syncs.empty());
}

TEST_P(io_pgtable_granule, partial_unmap_splits_the_block) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, B(), rw_cache()).ok());
    h.mem.reset_counts();
    iotlb_gather g;
    const auto r = pt().unmap(k_iova + 3 * P(), P(), g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, P());
    expect_gather(g, k_iova + 3 * P(), k_iova + 4 * P() - 1, B()); // the block's size
    EXPECT_FALSE(pt().lookup(k_iova + 3 * P()));
    for (std::uint64_t i : {std::uint64_t{0}, std::uint64_t{2}, std::uint64_t{4}, entries() - 1}) {
        const auto l = pt().lookup(k_iova + i * P());
        ASSERT_TRUE(l);
        EXPECT_EQ(l->level, 3);
        EXPECT_EQ(l->descriptor, page_desc(k_pa + i * P()));
    }
    // entries - 1 pages, then the table install, ordered by a barrier
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), entries());
    EXPECT_EQ(h.mem.alloc_calls, 1u);
    const auto& log = h.mem.log;
    ASSERT_GE(log.size(), 3u);
    using k = fake_platform_pgtable::log_entry::kind;
    EXPECT_EQ(log[log.size() - 3].what, k::barrier);
    EXPECT_EQ(log[log.size() - 2].what, k::write);
    EXPECT_EQ(log[log.size() - 2].value & 3, 3u); // table descriptor
    EXPECT_EQ(log.back().what, k::barrier);
    const auto o = walk(pt(), h.mem, k_iova + 4 * P() + 4, wr());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + 4 * P() + 4);
    EXPECT_EQ(o.result.size(), P());
}

TEST_P(io_pgtable_granule, unmap_next_to_a_split_syncs_the_block_sized_gather) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, B(), rw_cache()).ok());
    iotlb_gather g;
    ASSERT_TRUE(pt().unmap(k_iova, P(), g).ok());
    ASSERT_TRUE(pt().unmap(k_iova + P(), P(), g).ok()); // now a page: pgsize differs
    ASSERT_EQ(h.flush.syncs.size(), 1u);
    expect_gather(h.flush.syncs[0], k_iova, k_iova + P() - 1, B());
    expect_gather(g, k_iova + P(), k_iova + 2 * P() - 1, P());
}

TEST_P(io_pgtable_granule, split_allocation_failure_keeps_the_block) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, B(), rw_cache()).ok());
    h.mem.fail_allocations_after(0);
    iotlb_gather g;
    const auto r = pt().unmap(k_iova + P(), P(), g);
    EXPECT_EQ(r.status, pgtable_status::no_memory);
    EXPECT_EQ(r.unmapped, 0u);
    EXPECT_TRUE(g.empty());
    const auto l = pt().lookup(k_iova + P());
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, GetParam().block_level);
}

TEST_P(io_pgtable_granule, unmap_covering_a_table_flushes_walks_and_frees_it) {
    ASSERT_TRUE(pt().map(k_iova, k_pa + P(), B(), rw_cache()).ok()); // pages
    const auto live = h.mem.live.size();
    iotlb_gather g;
    const auto r = pt().unmap(k_iova, B(), g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, B());
    ASSERT_EQ(h.flush.walks.size(), 1u);
    EXPECT_EQ(h.flush.walks[0].iova, k_iova);
    EXPECT_EQ(h.flush.walks[0].size, B());
    EXPECT_EQ(h.flush.walks[0].granule, P());
    EXPECT_EQ(h.flush.ordered, (std::vector<bool>{true}));
    expect_gather(g, k_iova, k_iova + B() - 1, B());
    EXPECT_EQ(h.mem.live.size(), live - 1);
    EXPECT_EQ(h.mem.bad_frees, 0u);
    EXPECT_FALSE(pt().lookup(k_iova));
}

TEST_P(io_pgtable_granule, block_over_an_emptied_table_replaces_it) {
    ASSERT_TRUE(pt().map(k_iova, k_pa + P(), 2 * P(), rw_cache()).ok());
    iotlb_gather g;
    ASSERT_TRUE(pt().unmap(k_iova, P(), g).ok());
    ASSERT_TRUE(pt().unmap(k_iova + P(), P(), g).ok());
    EXPECT_TRUE(h.flush.walks.empty()); // empty table left in place
    const auto live = h.mem.live.size();
    const auto r = pt().map(k_iova, k_pa, B(), rw_cache());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.mapped, B());
    ASSERT_EQ(h.flush.walks.size(), 1u);
    EXPECT_EQ(h.flush.walks[0].iova, k_iova);
    EXPECT_EQ(h.flush.walks[0].size, B());
    EXPECT_EQ(h.mem.live.size(), live - 1);
    const auto l = pt().lookup(k_iova);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, GetParam().block_level);
    EXPECT_EQ(l->descriptor, block_desc(k_pa));
}

TEST_P(io_pgtable_granule, double_map_is_already_mapped) {
    ASSERT_TRUE(pt().map(k_iova + P(), k_pa, P(), rw_cache()).ok());
    h.mem.reset_counts();
    auto r = pt().map(k_iova + P(), k_pa, P(), rw_cache());
    EXPECT_EQ(r.status, pgtable_status::already_mapped);
    EXPECT_EQ(r.mapped, 0u);
    // a block over a table holding a page
    r = pt().map(k_iova, k_pa, B(), rw_cache());
    EXPECT_EQ(r.status, pgtable_status::already_mapped);
    EXPECT_EQ(r.mapped, 0u);
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 0u);
    // a range whose second page is mapped maps its first page, then stops
    r = pt().map(k_iova, k_pa, 2 * P(), rw_cache());
    EXPECT_EQ(r.status, pgtable_status::already_mapped);
    EXPECT_EQ(r.mapped, P());
    EXPECT_TRUE(h.flush.walks.empty());
}

TEST_P(io_pgtable_granule, page_inside_a_block_is_already_mapped) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, B(), rw_cache()).ok());
    const auto r = pt().map(k_iova + P(), k_pa, P(), rw_cache());
    EXPECT_EQ(r.status, pgtable_status::already_mapped);
    EXPECT_EQ(r.mapped, 0u);
    EXPECT_EQ(pt().lookup(k_iova + P())->descriptor, block_desc(k_pa));
}

TEST_P(io_pgtable_granule, misaligned_arguments) {
    EXPECT_EQ(pt().map(k_iova + P() / 2, k_pa, P(), rw_cache()).status, pgtable_status::misaligned);
    EXPECT_EQ(pt().map(k_iova, k_pa + 0x800, P(), rw_cache()).status, pgtable_status::misaligned);
    EXPECT_EQ(pt().map(k_iova, k_pa, P() + 0x800, rw_cache()).status, pgtable_status::misaligned);
    iotlb_gather g;
    EXPECT_EQ(pt().unmap(k_iova + 0x800, P(), g).status, pgtable_status::misaligned);
    EXPECT_EQ(pt().unmap(k_iova, 0x800, g).status, pgtable_status::misaligned);
    EXPECT_EQ(h.mem.mem_writes, 0u);
}

TEST_P(io_pgtable_granule, out_of_range_arguments) {
    const std::uint64_t top = std::uint64_t{1} << 48;
    EXPECT_EQ(pt().map(top - P(), k_pa, 2 * P(), rw_cache()).status, pgtable_status::out_of_range);
    EXPECT_EQ(pt().map(top, k_pa, P(), rw_cache()).status, pgtable_status::out_of_range);
    EXPECT_EQ(pt().map(k_iova, top - P(), 2 * P(), rw_cache()).status,
              pgtable_status::out_of_range);
    iotlb_gather g;
    EXPECT_EQ(pt().unmap(top - P(), 2 * P(), g).status, pgtable_status::out_of_range);
    EXPECT_FALSE(pt().lookup(top));
    // the last page of the input range is fine
    EXPECT_TRUE(pt().map(top - P(), top - P(), P(), rw_cache()).ok());
    EXPECT_EQ(pt().iova_to_phys(top - 8), top - 8);
}

TEST_P(io_pgtable_granule, zero_size_is_a_no_op) {
    const auto m = pt().map(k_iova, k_pa, 0, rw_cache());
    EXPECT_TRUE(m.ok());
    EXPECT_EQ(m.mapped, 0u);
    iotlb_gather g;
    const auto u = pt().unmap(k_iova, 0, g);
    EXPECT_TRUE(u.ok());
    EXPECT_EQ(u.unmapped, 0u);
    EXPECT_EQ(h.mem.mem_writes, 0u);
    EXPECT_EQ(h.mem.barriers, 0u);
}

TEST_P(io_pgtable_granule, unmap_of_unmapped_range_stops_at_the_hole) {
    iotlb_gather g;
    auto r = pt().unmap(k_iova, P(), g);
    EXPECT_EQ(r.status, pgtable_status::not_mapped);
    EXPECT_EQ(r.unmapped, 0u);
    ASSERT_TRUE(pt().map(k_iova, k_pa, P(), rw_cache()).ok());
    r = pt().unmap(k_iova, 3 * P(), g);
    EXPECT_EQ(r.status, pgtable_status::not_mapped);
    EXPECT_EQ(r.unmapped, P());
    expect_gather(g, k_iova, k_iova + P() - 1, P());
}

TEST_P(io_pgtable_granule, allocation_failure_while_mapping) {
    h.mem.fail_allocations_after(GetParam().tables_for_page - 1);
    auto r = pt().map(k_iova, k_pa, P(), rw_cache());
    EXPECT_EQ(r.status, pgtable_status::no_memory);
    EXPECT_EQ(r.mapped, 0u);
    EXPECT_FALSE(pt().lookup(k_iova));

    // Enough tables for the first page only: a range crossing into the next
    // leaf table maps one page and stops.
    harness fresh(make_cfg(GetParam().st, GetParam().g));
    fresh.mem.fail_allocations_after(GetParam().tables_for_page);
    r = fresh.pt->map(k_iova + B() - P(), k_pa + B() - P(), 2 * P(), rw_cache());
    EXPECT_EQ(r.status, pgtable_status::no_memory);
    EXPECT_EQ(r.mapped, P());
    EXPECT_TRUE(fresh.pt->lookup(k_iova + B() - P()));
    EXPECT_FALSE(fresh.pt->lookup(k_iova + B()));
    EXPECT_EQ(fresh.mem.log.back().what, fake_platform_pgtable::log_entry::kind::barrier);
}

TEST_P(io_pgtable_granule, every_pte_write_is_charged) {
    ASSERT_TRUE(
        pt().map(k_iova + B() - 2 * P(), k_pa + B() - 2 * P(), B() + 5 * P(), rw_cache()).ok());
    iotlb_gather g;
    ASSERT_TRUE(pt().unmap(k_iova + B() - P(), 2 * P(), g).ok()); // page + split of the block
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), h.mem.mem_writes);
    EXPECT_EQ(h.mem.charged(cpu_op::barrier), h.mem.barriers);
}

TEST_P(io_pgtable_granule, destroy_after_splits_frees_everything) {
    ASSERT_TRUE(pt().map(k_iova, k_pa, 2 * B(), rw_cache()).ok());
    iotlb_gather g;
    ASSERT_TRUE(pt().unmap(k_iova + B() + P(), P(), g).ok());
    h.pt.reset();
    EXPECT_TRUE(h.mem.live.empty());
    EXPECT_EQ(h.mem.bad_frees, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    all, io_pgtable_granule,
    ::testing::Values(
        pg_case{"s1_4k", stage::one, granule::size_4k, 0x1000, 0x200000, 2, 3, 3},
        pg_case{"s1_16k", stage::one, granule::size_16k, 0x4000, 0x2000000, 2, 3, 3},
        pg_case{"s1_64k", stage::one, granule::size_64k, 0x10000, 0x20000000, 2, 2, 2},
        pg_case{"s2_4k", stage::two, granule::size_4k, 0x1000, 0x200000, 2, 3, 3},
        pg_case{"s2_16k", stage::two, granule::size_16k, 0x4000, 0x2000000, 2, 2, 2},
        pg_case{"s2_64k", stage::two, granule::size_64k, 0x10000, 0x20000000, 2, 2, 2}),
    [](const ::testing::TestParamInfo<pg_case>& p) { return std::string(p.param.name); });

// ============================================================ 4K 1G blocks

TEST(io_pgtable_4k_1g, partial_unmap_splits_two_levels) {
    harness h(make_cfg(stage::two, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x40000000, rw_cache()).ok());
    h.mem.reset_counts();
    iotlb_gather g;
    const std::uint64_t hole = k_iova + 0x200000 + 0x5000; // 2nd 2M, 6th page
    const auto r = h.pt->unmap(hole, 0x1000, g);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.unmapped, 0x1000u);
    expect_gather(g, hole, hole + 0xFFF, 0x40000000);
    EXPECT_EQ(h.mem.alloc_calls, 2u);
    // 511 2M blocks + 511 pages + the sub-table descriptor + the install
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 1024u);
    EXPECT_FALSE(h.pt->lookup(hole));
    auto l = h.pt->lookup(k_iova);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 2);
    EXPECT_EQ(l->descriptor, k_pa | 0x00600000000007FDull);
    l = h.pt->lookup(hole + 0x1000);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 3);
    EXPECT_EQ(l->descriptor, (k_pa + 0x206000) | 0x00600000000007FFull);
    l = h.pt->lookup(k_iova + 0x3FE00000);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 2);
    EXPECT_EQ(l->output_address, k_pa + 0x3FE00000);
    const auto o = walk(*h.pt, h.mem, hole - 0x1000 + 0x10, wr());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + 0x204010);
    EXPECT_FALSE(walk(*h.pt, h.mem, hole, rd()).ok());
}

TEST(io_pgtable_4k_1g, split_failure_at_second_level_frees_the_first) {
    harness h(make_cfg(stage::one, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x40000000, rw_cache()).ok());
    const auto live = h.mem.live.size();
    h.mem.fail_allocations_after(1);
    iotlb_gather g;
    const auto r = h.pt->unmap(k_iova + 0x3000, 0x1000, g);
    EXPECT_EQ(r.status, pgtable_status::no_memory);
    EXPECT_EQ(r.unmapped, 0u);
    EXPECT_EQ(h.mem.live.size(), live);
    EXPECT_EQ(h.mem.bad_frees, 0u);
    EXPECT_EQ(h.pt->lookup(k_iova + 0x3000)->level, 1);
}

TEST(io_pgtable_4k_1g, unmap_of_2m_inside_1g_splits_one_level) {
    harness h(make_cfg(stage::one, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x40000000, rw_cache()).ok());
    h.mem.reset_counts();
    iotlb_gather g;
    ASSERT_TRUE(h.pt->unmap(k_iova + 0x400000, 0x200000, g).ok());
    EXPECT_EQ(h.mem.alloc_calls, 1u);
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 512u); // 511 blocks + install
    expect_gather(g, k_iova + 0x400000, k_iova + 0x5FFFFF, 0x40000000);
    EXPECT_FALSE(h.pt->lookup(k_iova + 0x400000));
    EXPECT_EQ(h.pt->lookup(k_iova + 0x600000)->descriptor, (k_pa + 0x600000) | 0x0060000000000F45);
}

TEST(io_pgtable_4k_1g, mixed_range_uses_1g_2m_and_4k) {
    harness h(make_cfg(stage::one, granule::size_4k));
    // [1G - 2M - 4K, 2G + 2M + 4K): 1 page, 1 x 2M, 1 x 1G, 1 x 2M, 1 page
    const std::uint64_t iova = k_iova + 0x40000000 - 0x201000;
    const std::uint64_t size = 0x40000000 + 0x402000;
    ASSERT_TRUE(h.pt->map(iova, k_pa + 0x40000000 - 0x201000, size, rw_cache()).ok());
    EXPECT_EQ(h.pt->lookup(iova)->level, 3);
    EXPECT_EQ(h.pt->lookup(iova + 0x1000)->level, 2);
    EXPECT_EQ(h.pt->lookup(k_iova + 0x40000000)->level, 1);
    EXPECT_EQ(h.pt->lookup(k_iova + 0x80000000)->level, 2);
    EXPECT_EQ(h.pt->lookup(k_iova + 0x80200000)->level, 3);
    EXPECT_FALSE(h.pt->lookup(k_iova + 0x80201000));
    iotlb_gather g;
    ASSERT_TRUE(h.pt->unmap(iova, size, g).ok());
    // pgsize sequence 4K, 2M, 1G, 2M, 4K: four syncs before the last range
    ASSERT_EQ(h.flush.syncs.size(), 4u);
    EXPECT_EQ(h.flush.syncs[0].pgsize, 0x1000u);
    EXPECT_EQ(h.flush.syncs[1].pgsize, 0x200000u);
    EXPECT_EQ(h.flush.syncs[2].pgsize, 0x40000000u);
    expect_gather(h.flush.syncs[2], k_iova + 0x40000000, k_iova + 0x7FFFFFFF, 0x40000000);
    EXPECT_EQ(h.flush.syncs[3].pgsize, 0x200000u);
    expect_gather(g, k_iova + 0x80200000, k_iova + 0x80200FFF, 0x1000);
}

// ============================================================ concatenated stage 2

TEST(io_pgtable_concat, stage2_4k_40_bit_maps_into_the_second_table) {
    harness h(make_cfg(stage::two, granule::size_4k, 40, 40));
    ASSERT_EQ(h.status, pgtable_status::ok);
    const std::uint64_t ipa = 0xFF'C000'0000ull; // last 1G of the 40-bit IPA space
    ASSERT_TRUE(h.pt->map(ipa, 0x40000000, 0x40000000, rw_cache()).ok());
    const auto l = h.pt->lookup(ipa);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 1);
    EXPECT_EQ(l->descriptor_address, h.pt->ttb() + 0x1FF8); // entry 1023 of 1024
    const auto o = walk(*h.pt, h.mem, ipa + 0x1234, wr());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x40001234u);
    EXPECT_EQ(o.reads.total(), 1u); // one lookup: start level 1, a block
}

TEST(io_pgtable_concat, stage2_16k_40_bit_walks_from_16_tables) {
    harness h(make_cfg(stage::two, granule::size_16k, 40, 40));
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(h.mem.live.at(h.pt->ttb()), 0x40000u); // 16 x 16K
    const std::uint64_t ipa = 0xFE'0000'4000ull;
    ASSERT_TRUE(h.pt->map(ipa, 0x1234'4000ull, 0x4000, rw_cache()).ok());
    const auto o = walk(*h.pt, h.mem, ipa + 8, rd());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, 0x1234'4008ull);
    ASSERT_TRUE(o.result.s2_level);
    EXPECT_EQ(*o.result.s2_level, 3);
}

TEST(io_pgtable_concat, old_policy_stage2_walks) {
    auto cfg = make_cfg(stage::two, granule::size_4k, 40, 48);
    cfg.concat = s2_concat_policy::at_level_zero;
    harness h(cfg);
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(h.pt->s2_config()->s2sl0, 1u);
    ASSERT_TRUE(h.pt->map(0x80'0000'0000ull, k_pa, 0x1000, rw_cache()).ok());
    const auto o = walk(*h.pt, h.mem, 0x80'0000'0010ull, rd());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + 0x10);
    EXPECT_EQ(o.reads.total(), 3u); // L1 (concatenated), L2, L3
}

// ============================================================ 52-bit output with 64K

TEST(io_pgtable_pa52, stage1_64k_page_above_48_bits) {
    harness h(make_cfg(stage::one, granule::size_64k, 48, 52));
    ASSERT_EQ(h.status, pgtable_status::ok);
    EXPECT_EQ(h.pt->s1_config()->ips, arch::pa_size_encoding::bits_52);
    const std::uint64_t pa = 0x000F'1234'5678'0000ull;
    ASSERT_TRUE(h.pt->map(k_iova, pa, 0x10000, rw_cache()).ok());
    const auto l = h.pt->lookup(k_iova);
    ASSERT_TRUE(l);
    // PA[51:48] = 0xF in bits [15:12]
    EXPECT_EQ(l->descriptor, 0x0060123456780000ull | 0xF000 | 0xF47);
    EXPECT_EQ(h.pt->iova_to_phys(k_iova + 0x10), pa + 0x10);
    const auto o = walk(*h.pt, h.mem, k_iova + 0x10, rd(), 52);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, pa + 0x10);
}

TEST(io_pgtable_pa52, stage2_64k_4t_block_at_level_1) {
    harness h(make_cfg(stage::two, granule::size_64k, 48, 52));
    ASSERT_EQ(h.status, pgtable_status::ok);
    const std::uint64_t iova = 0x400'0000'0000ull;     // 4 TiB
    const std::uint64_t pa = 0x000C'0000'0000'0000ull; // PA[51:48] = 0xC
    ASSERT_TRUE(h.pt->map(iova, pa, 0x400'0000'0000ull, rw_cache()).ok());
    const auto l = h.pt->lookup(iova + 0x10000);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->level, 1);
    EXPECT_EQ(l->descriptor, 0x00600000000007FDull | 0xC000);
    EXPECT_EQ(h.mem.charged(cpu_op::pte_write), 1u);
    const auto o = walk(*h.pt, h.mem, iova + 0x123'4567'0000ull, wr(), 52);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, pa + 0x123'4567'0000ull);
    EXPECT_EQ(o.result.size(), 0x400'0000'0000ull);
}

TEST(io_pgtable_pa52, tables_above_48_bits) {
    harness h(make_cfg(stage::two, granule::size_64k, 48, 52), 0x000A'0000'0000'0000ull);
    ASSERT_EQ(h.status, pgtable_status::ok);
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x10000, rw_cache()).ok());
    const auto o = walk(*h.pt, h.mem, k_iova + 4, rd(), 52);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.output_address, k_pa + 4);
    EXPECT_EQ(h.pt->iova_to_phys(k_iova + 4), k_pa + 4);
}

// ============================================================ walker attributes

TEST(io_pgtable_walk, stage1_entries_are_asid_tagged_with_linux_attributes) {
    harness h(make_cfg(stage::one, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x1000, rw_cache()).ok());
    ASSERT_TRUE(
        h.pt->map(k_iova + 0x1000, k_pa, 0x1000, {true, true, false, true, false, false}).ok());
    auto o = walk(*h.pt, h.mem, k_iova, rd());
    ASSERT_TRUE(o.ok());
    EXPECT_FALSE(o.result.tag.global);
    ASSERT_TRUE(o.result.tag.asid);
    EXPECT_EQ(*o.result.tag.asid, 5);
    ASSERT_TRUE(o.result.s1_attrs);
    EXPECT_EQ(o.result.s1_attrs->attr_indx, 1);
    EXPECT_EQ(o.result.s1_attrs->sh, 3);
    o = walk(*h.pt, h.mem, k_iova + 0x1000, rd());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.s1_attrs->attr_indx, 2);
    EXPECT_EQ(o.result.s1_attrs->sh, 2);
}

TEST(io_pgtable_walk, stage1_execute_needs_exec) {
    harness h(make_cfg(stage::one, granule::size_16k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x4000, rw_cache()).ok());
    ASSERT_TRUE(
        h.pt->map(k_iova + 0x4000, k_pa, 0x4000, {true, false, true, false, false, true}).ok());
    EXPECT_FALSE(walk(*h.pt, h.mem, k_iova, ex()).ok());
    EXPECT_FALSE(walk(*h.pt, h.mem, k_iova, ex(true)).ok());
    EXPECT_TRUE(walk(*h.pt, h.mem, k_iova + 0x4000, ex()).ok());
    EXPECT_TRUE(walk(*h.pt, h.mem, k_iova + 0x4000, ex(true)).ok());
}

TEST(io_pgtable_walk, stage2_attributes_and_linux_xn) {
    harness h(make_cfg(stage::two, granule::size_64k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x10000, rw_cache()).ok());
    ASSERT_TRUE(
        h.pt->map(k_iova + 0x10000, k_pa, 0x10000, {true, true, false, true, false, true}).ok());
    auto o = walk(*h.pt, h.mem, k_iova, rd());
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(o.result.s2_attrs);
    EXPECT_EQ(o.result.s2_attrs->mem_attr, 0xF);
    EXPECT_EQ(o.result.s2_attrs->sh, 3);
    ASSERT_TRUE(o.result.tag.vmid);
    EXPECT_EQ(*o.result.tag.vmid, 3);
    // XN = 0b11: without FEAT_XNX no execute; with it, EL1 may still execute
    EXPECT_FALSE(walk(*h.pt, h.mem, k_iova, ex(), 48, false).ok());
    EXPECT_FALSE(walk(*h.pt, h.mem, k_iova, ex(true), 48, false).ok());
    EXPECT_FALSE(walk(*h.pt, h.mem, k_iova, ex(false), 48, true).ok());
    EXPECT_TRUE(walk(*h.pt, h.mem, k_iova, ex(true), 48, true).ok());
    o = walk(*h.pt, h.mem, k_iova + 0x10000, ex());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.result.s2_attrs->mem_attr, 0x1);
}

TEST(io_pgtable_walk, stage2_write_only_page) {
    harness h(make_cfg(stage::two, granule::size_4k));
    ASSERT_TRUE(h.pt->map(k_iova, k_pa, 0x1000, {false, true, true, false, false, false}).ok());
    EXPECT_TRUE(walk(*h.pt, h.mem, k_iova, wr()).ok());
    const auto o = walk(*h.pt, h.mem, k_iova, rd());
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.fault->kind, arch::fault_kind::permission);
    EXPECT_EQ(o.fault->st, stage::two);
}

// ============================================================ gather

TEST(io_pgtable_gather, starts_empty) {
    iotlb_gather g;
    EXPECT_TRUE(g.empty());
    EXPECT_EQ(g.size(), 0u);
    EXPECT_FALSE(g.is_disjoint(0x1000, 0x1000));
    EXPECT_FALSE(g.needs_sync(0x1000, 0x1000, 0x1000));
}

TEST(io_pgtable_gather, merges_touching_and_overlapping_ranges) {
    iotlb_gather g;
    g.add(0x10000, 0x1000, 0x1000);
    expect_gather(g, 0x10000, 0x10FFF, 0x1000);
    EXPECT_EQ(g.size(), 0x1000u);
    EXPECT_FALSE(g.needs_sync(0x11000, 0x1000, 0x1000)); // touches above
    EXPECT_FALSE(g.needs_sync(0xF000, 0x1000, 0x1000));  // touches below
    EXPECT_FALSE(g.needs_sync(0x10000, 0x1000, 0x1000)); // overlaps
    g.add(0xF000, 0x1000, 0x1000);
    g.add(0x11000, 0x2000, 0x1000);
    expect_gather(g, 0xF000, 0x12FFF, 0x1000);
    EXPECT_EQ(g.size(), 0x4000u);
}

TEST(io_pgtable_gather, needs_sync_when_disjoint_or_pgsize_differs) {
    iotlb_gather g;
    g.add(0x10000, 0x1000, 0x1000);
    EXPECT_TRUE(g.is_disjoint(0x12000, 0x1000));
    EXPECT_TRUE(g.needs_sync(0x12000, 0x1000, 0x1000));
    EXPECT_TRUE(g.is_disjoint(0xE000, 0x1000));
    EXPECT_TRUE(g.needs_sync(0x11000, 0x200000, 0x200000)); // adjacent, other pgsize
    g.reset();
    EXPECT_TRUE(g.empty());
    EXPECT_EQ(g.start, 0xFFFFFFFFFFFFFFFFull);
    EXPECT_EQ(g.end, 0u);
}

TEST(io_pgtable_gather, reset_keeps_queued) {
    iotlb_gather g;
    g.queued = true;
    g.add(0, 0x1000, 0x1000);
    g.reset();
    EXPECT_TRUE(g.queued);
    EXPECT_TRUE(g.empty());
}

} // namespace
} // namespace smmu::driver
