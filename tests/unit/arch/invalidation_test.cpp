// Commands as the driver writes them (encoded, then decoded as the SMMU
// would) applied to the caches: each removes exactly what its semantics cover.
#include <gtest/gtest.h>

#include "model/arch/invalidation.h"

namespace smmu::arch {
namespace {

command decoded(const command& c) {
    const auto r = decode_command(encode(c), command_decode_context{});
    EXPECT_TRUE(r.ok()) << ill_reason_name(r.reason);
    return r.cmd;
}

class invalidation_test : public ::testing::Test {
protected:
    iotlb m_tlb{cache_geometry{256, 4}};
    walk_cache m_walks{cache_geometry{64, 4}};
    invalidation_context m_ctx{};

    static tlb_context s1(vmid_t vmid, asid_t asid) {
        tlb_context c;
        c.kind = tlb_kind::stage1;
        c.vmid = vmid;
        c.asid = asid;
        return c;
    }
    static tlb_context s2(vmid_t vmid) {
        tlb_context c;
        c.kind = tlb_kind::stage2;
        c.vmid = vmid;
        return c;
    }
    void page(const tlb_context& ctx, std::uint64_t va, bool global = false,
              unsigned size_log2 = 12, int level = 3) {
        tlb_entry e;
        e.ctx = ctx;
        e.global = global;
        e.input = va;
        e.output = 0x80000000ull + va;
        e.size_log2 = static_cast<std::uint8_t>(size_log2);
        e.level = static_cast<std::int8_t>(level);
        ASSERT_TRUE(m_tlb.insert(e));
    }
    bool cached(const tlb_context& ctx, std::uint64_t va) const {
        return m_tlb.peek(ctx, va) != nullptr;
    }
    invalidation_effect run(const command& c) {
        return apply_tlbi(decoded(c), m_ctx, m_tlb, m_walks);
    }
};

TEST_F(invalidation_test, range_tlbi_covers_num_scale_pages_from_address) {
    for (std::uint64_t va = 0xf000; va <= 0x14000; va += 0x1000)
        page(s1(1, 5), va);
    // TG=4K, SCALE=0, NUM=3: 4 pages from 0x10000.
    const auto e = run(make_tlbi_nh_va(1, 5, 0x10000, true,
                                       tlbi_range{tlbi_granule::size_4k, tlbi_ttl::level3, 3, 0}));
    EXPECT_EQ(e.tlb, 4u);
    EXPECT_TRUE(cached(s1(1, 5), 0xf000));
    for (std::uint64_t va = 0x10000; va < 0x14000; va += 0x1000)
        EXPECT_FALSE(cached(s1(1, 5), va)) << std::hex << va;
    EXPECT_TRUE(cached(s1(1, 5), 0x14000));
}

TEST_F(invalidation_test, range_scale_multiplies_the_span) {
    page(s1(1, 5), 0x200000, false, 21, 2); // 2 MiB block
    page(s1(1, 5), 0x400000);
    page(s1(1, 5), 0x1ff000);
    // SCALE=9, NUM=0: 512 pages = 2 MiB from 0x200000, any level.
    run(make_tlbi_nh_va(1, 5, 0x200000, false,
                        tlbi_range{tlbi_granule::size_4k, tlbi_ttl::any, 0, 9}));
    EXPECT_FALSE(cached(s1(1, 5), 0x2ff000));
    EXPECT_TRUE(cached(s1(1, 5), 0x400000));
    EXPECT_TRUE(cached(s1(1, 5), 0x1ff000));
}

TEST_F(invalidation_test, ttl_spares_leaf_entries_of_other_levels) {
    page(s1(1, 5), 0x200000, false, 21, 2);                                       // level-2 block
    page(s1(1, 5), 0x600000);                                                     // level-3 page
    const tlbi_range level3_only{tlbi_granule::size_4k, tlbi_ttl::level3, 0, 10}; // 4 MiB
    run(make_tlbi_nh_va(1, 5, 0x200000, true, level3_only));
    EXPECT_TRUE(cached(s1(1, 5), 0x300000)) << "level-2 block is outside TTL=3";
    run(make_tlbi_nh_va(1, 5, 0x600000, true, {}));
    EXPECT_FALSE(cached(s1(1, 5), 0x600000));
}

TEST_F(invalidation_test, non_range_address_inside_a_block_removes_it) {
    page(s1(1, 5), 0x40000000, false, 21, 2);
    run(make_tlbi_nh_va(1, 5, 0x40123000, true));
    EXPECT_FALSE(cached(s1(1, 5), 0x40000000));
}

TEST_F(invalidation_test, nh_asid_spares_global_and_other_asids) {
    page(s1(1, 5), 0x1000);
    page(s1(1, 6), 0x2000);
    page(s1(1, 5), 0x3000, true);
    page(s1(2, 5), 0x4000);
    run(make_tlbi_nh_asid(1, 5));
    EXPECT_FALSE(cached(s1(1, 5), 0x1000));
    EXPECT_TRUE(cached(s1(1, 6), 0x2000));
    EXPECT_TRUE(cached(s1(1, 7), 0x3000)) << "global entries survive TLBI by ASID";
    EXPECT_TRUE(cached(s1(2, 5), 0x4000));
}

TEST_F(invalidation_test, nh_va_hits_global_entries_nh_vaa_hits_every_asid) {
    page(s1(1, 5), 0x1000, true);
    page(s1(1, 6), 0x1000);
    run(make_tlbi_nh_va(1, 5, 0x1000, true));
    EXPECT_FALSE(cached(s1(1, 9), 0x1000)) << "global entry matched through any ASID";
    EXPECT_TRUE(cached(s1(1, 6), 0x1000));
    run(make_tlbi_nh_vaa(1, 0x1000, true));
    EXPECT_FALSE(cached(s1(1, 6), 0x1000));
}

TEST_F(invalidation_test, nh_all_is_per_vmid_unless_stage2_is_absent) {
    page(s1(1, 5), 0x1000);
    page(s1(2, 5), 0x1000);
    run(make_tlbi_nh_all(1));
    EXPECT_FALSE(cached(s1(1, 5), 0x1000));
    EXPECT_TRUE(cached(s1(2, 5), 0x1000));
    m_ctx.s2p = false;
    run(make_tlbi_nh_all(7));
    EXPECT_FALSE(cached(s1(2, 5), 0x1000)) << "VMID unchecked without stage 2";
}

TEST_F(invalidation_test, stage2_commands) {
    page(s2(3), 0x80000);
    page(s2(3), 0x90000);
    page(s2(4), 0x80000);
    page(s1(3, 1), 0x80000);
    run(make_tlbi_s2_ipa(3, 0x80000, true));
    EXPECT_FALSE(cached(s2(3), 0x80000));
    EXPECT_TRUE(cached(s2(3), 0x90000));
    EXPECT_TRUE(cached(s2(4), 0x80000));
    EXPECT_TRUE(cached(s1(3, 1), 0x80000)) << "S2_IPA does not touch stage-1 entries";
    run(make_tlbi_s12_vmall(3));
    EXPECT_FALSE(cached(s2(3), 0x90000));
    EXPECT_FALSE(cached(s1(3, 1), 0x80000));
    EXPECT_TRUE(cached(s2(4), 0x80000));
    run(make_tlbi_nsnh_all());
    EXPECT_FALSE(cached(s2(4), 0x80000));
}

TEST_F(invalidation_test, el2_va_matches_asid_only_with_e2h) {
    tlb_context e2h = s1(0, 5);
    e2h.regime = tlb_regime::el2_e2h;
    e2h.vmid.reset();
    tlb_context other = e2h;
    other.asid = 6;
    page(e2h, 0x1000);
    page(other, 0x1000);
    page(s1(1, 5), 0x1000);
    m_ctx.e2h = true;
    run(make_tlbi_el2_va(5, 0x1000, true));
    EXPECT_FALSE(cached(e2h, 0x1000));
    EXPECT_TRUE(cached(other, 0x1000));
    EXPECT_TRUE(cached(s1(1, 5), 0x1000)) << "EL2 TLBI leaves NS-EL1 entries";
    run(make_tlbi_el2_all());
    EXPECT_FALSE(cached(other, 0x1000));
    EXPECT_TRUE(cached(s1(1, 5), 0x1000));
}

TEST_F(invalidation_test, el2_asid_and_vaa) {
    tlb_context a = s1(0, 5), b = s1(0, 6);
    a.regime = b.regime = tlb_regime::el2_e2h;
    a.vmid.reset();
    b.vmid.reset();
    page(a, 0x1000);
    page(b, 0x2000);
    page(b, 0x3000);
    run(make_tlbi_el2_asid(5));
    EXPECT_FALSE(cached(a, 0x1000));
    EXPECT_TRUE(cached(b, 0x2000));
    run(make_tlbi_el2_vaa(0x2000, true));
    EXPECT_FALSE(cached(b, 0x2000));
    EXPECT_TRUE(cached(b, 0x3000));
}

TEST_F(invalidation_test, walk_cache_follows_leaf_flag) {
    walk_entry w;
    w.ctx.vmid = 1;
    w.ctx.asid = 5;
    w.level = 2;
    w.input = 0x200000;
    w.next_table = 0x9000;
    ASSERT_TRUE(m_walks.insert(w));
    EXPECT_EQ(run(make_tlbi_nh_va(1, 5, 0x200000, true)).walk, 0u) << "leaf TLBI may keep tables";
    EXPECT_EQ(run(make_tlbi_nh_va(1, 5, 0x200000, false)).walk, 1u);
}

TEST_F(invalidation_test, other_commands_have_no_effect) {
    page(s1(1, 5), 0x1000);
    for (const command& c : {make_sync(sync_cs::none), make_atc_inv(stream_ref{3}, 0x1000, 0),
                             make_cfgi_all(), make_prefetch_config(stream_ref{3})}) {
        EXPECT_FALSE(is_tlbi(c.op));
        EXPECT_EQ(run(c).total(), 0u) << opcode_name(c.op);
    }
    EXPECT_TRUE(cached(s1(1, 5), 0x1000));
}

TEST(invalidation_scope, range_and_single_address) {
    const auto single = tlbi_inv_scope(make_tlbi_nh_va(1, 2, 0x5000, true), false);
    EXPECT_EQ(single.range.start, 0x5000u);
    EXPECT_EQ(single.range.end, 0x5001u);
    EXPECT_TRUE(single.leaf);
    EXPECT_EQ(single.ttl, 0u);
    // 64K granule, SCALE=1, NUM=2: (2+1) * 2 * 64 KiB = 384 KiB, TTL level 2.
    const auto ranged =
        tlbi_inv_scope(make_tlbi_nh_va(1, 2, 0x100000, false,
                                       tlbi_range{tlbi_granule::size_64k, tlbi_ttl::level2, 2, 1}),
                       false);
    EXPECT_EQ(ranged.range.start, 0x100000u);
    EXPECT_EQ(ranged.range.end, 0x160000u);
    EXPECT_EQ(ranged.ttl, 2u);
    // A range reaching the top of the address space does not wrap.
    const auto top =
        tlbi_inv_scope(make_tlbi_nh_va(1, 2, 0xffffffffffff0000ull, false,
                                       tlbi_range{tlbi_granule::size_4k, tlbi_ttl::any, 31, 1}),
                       false);
    EXPECT_EQ(top.range.end, 0u) << "end == 0 stands for 2^64";
}

TEST(invalidation_cfgi, each_cfgi_command_reaches_the_config_cache) {
    config_cache<int, int> cfg(cache_geometry{16, 4}, cache_geometry{16, 4});
    for (stream_id sid : {4u, 5u, 6u, 7u, 9u})
        cfg.insert_ste(sid, static_cast<int>(sid));
    cfg.insert_cd(4, 0, 40);
    cfg.insert_cd(4, 1, 41);
    cfg.insert_cd(9, 3, 93);

    EXPECT_TRUE(is_cfgi(opcode::cfgi_cd));
    EXPECT_TRUE(is_cfgi(opcode::cfgi_ste_range));
    EXPECT_TRUE(is_tlbi(opcode::tlbi_s2_ipa));
    EXPECT_FALSE(is_tlbi(opcode::tlbi_el3_all)) << "Secure-only: never on a Non-secure queue";
    EXPECT_FALSE(is_cfgi(opcode::tlbi_nh_all));
    EXPECT_EQ(apply_cfgi(decoded(make_cfgi_cd(4, 1, true)), cfg), 1u);
    EXPECT_EQ(cfg.peek_cd(4, 1), nullptr);
    EXPECT_NE(cfg.peek_cd(4, 0), nullptr);
    EXPECT_EQ(apply_cfgi(decoded(make_cfgi_cd_all(9)), cfg), 1u);
    EXPECT_NE(cfg.peek_ste(9), nullptr);
    // Range=1: 4 StreamIDs from 5 aligned down to 4, i.e. 4..7, with their CDs.
    EXPECT_EQ(apply_cfgi(decoded(make_cfgi_ste_range(5, 1)), cfg), 5u);
    EXPECT_NE(cfg.peek_ste(9), nullptr);
    EXPECT_EQ(apply_cfgi(decoded(make_cfgi_ste(9, true)), cfg), 1u);
    cfg.insert_ste(1, 1);
    EXPECT_EQ(apply_cfgi(decoded(make_cfgi_all()), cfg), 1u);
    EXPECT_EQ(apply_cfgi(decoded(make_tlbi_nsnh_all()), cfg), 0u);
}

} // namespace
} // namespace smmu::arch
