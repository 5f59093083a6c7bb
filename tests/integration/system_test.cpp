// Several SMMUs in one simulation, and determinism (ARCHITECTURE.md §4): instances share no
// state, and the same stimulus and seed give the same statistics.
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

bench_config named(const std::string& name) {
    bench_config cfg;
    cfg.name = name;
    return cfg;
}

TEST(smmu_system, two_instances_work_independently) {
    bench a(named("a_"));
    bench b(named("b_"));
    const auto la = a.prepare();
    const auto lb = b.prepare();
    // The same StreamID and VA translate to different pages in the two systems.
    auto sa = a.add_s1_stream(la, 1, 1);
    sa.pt.map(0x10000, 0x210000, s1_page_rw);
    a.mem().write32(0x210010, 0xaaaa0001);
    auto sb = b.add_s1_stream(lb, 1, 1);
    sb.pt.map(0x10000, 0x220000, s1_page_rw);
    b.mem().write32(0x220010, 0xbbbb0001);
    b.mem().write32(0x10010, 0xbbbb0002);

    std::uint32_t va1 = 0, vb1 = 0, vb2 = 0, va2 = 0;
    dma_result fault_a{};
    std::vector<arch::event_record> events_a, events_b;
    std::uint32_t cr0_a = 0, cr0_b = 0;
    ASSERT_TRUE(bench::run_together({{&a,
                                      [&] {
                                          a.enable(la);
                                          dma_attrs at;
                                          at.sid = 1;
                                          a.device().read(0x10010, &va1, 4, at);
                                          fault_a = a.device().read(0x30000, &va2, 4, at);
                                          a.submit_and_sync(la, {arch::make_tlbi_nsnh_all()});
                                          a.device().read(0x10010, &va2, 4, at);
                                          events_a = a.drain_events(la);
                                          cr0_a = a.reg_read32(arch::reg::cr0ack);
                                      }},
                                     {&b, [&] {
                                          b.enable(lb);
                                          dma_attrs at;
                                          at.sid = 1;
                                          b.device().read(0x10010, &vb1, 4, at);
                                          wait(us(2));
                                          b.reg_write32(arch::reg::cr0,
                                                        0xc); // SMMUEN off: B bypasses, A does not
                                          b.device().read(0x10010, &vb2, 4, at);
                                          events_b = b.drain_events(lb);
                                          cr0_b = b.reg_read32(arch::reg::cr0ack);
                                      }}}));
    EXPECT_EQ(va1, 0xaaaa0001u);
    EXPECT_EQ(va2, 0xaaaa0001u);
    EXPECT_EQ(vb1, 0xbbbb0001u);
    EXPECT_EQ(vb2, 0xbbbb0002u);
    EXPECT_EQ(fault_a.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(events_a.size(), 1u);
    EXPECT_TRUE(events_b.empty());
    EXPECT_EQ(cr0_a, 0xdu);
    EXPECT_EQ(cr0_b, 0xcu);
    EXPECT_EQ(a.smmu().stats().commands[0x30], 2u); // enable()'s and the scenario's
    EXPECT_EQ(b.smmu().stats().commands[0x30], 1u);
    EXPECT_EQ(a.smmu().stats().translations, 3u);
    EXPECT_EQ(b.smmu().stats().translations, 2u);
}

TEST(smmu_system, reset_restores_the_reset_state_before_and_during_simulation) {
    bench b;
    const auto l = b.prepare();
    auto s = b.add_s1_stream(l, 1, 1);
    s.pt.map(0x10000, 0x210000, s1_page_rw);
    b.smmu().reset(); // during elaboration
    std::uint32_t cr0_before = 1, cr0_after = 1, gbpa = 0, prod = 1, cons = 1;
    std::uint64_t strtab = 1;
    dma_result bypass{};
    std::uint32_t v = 0;
    b.mem().write32(0x10010, 0xb7b7b7b7);
    ASSERT_TRUE(b.run([&] {
        cr0_before = b.reg_read32(arch::reg::cr0ack);
        b.enable(l);
        b.reg_write32(arch::reg::gbpa, 0x80100000);
        b.smmu().reset();
        cr0_after = b.reg_read32(arch::reg::cr0ack);
        gbpa = b.reg_read32(arch::reg::gbpa);
        strtab = b.reg_read64(arch::reg::strtab_base);
        prod = b.reg_read32(arch::reg::cmdq_prod);
        cons = b.reg_read32(arch::reg::cmdq_cons);
        dma_attrs a;
        a.sid = 1;
        bypass = b.device().read(0x10010, &v, 4, a); // SMMUEN = 0, GBPA bypass
    }));
    EXPECT_EQ(cr0_before, 0u);
    EXPECT_EQ(cr0_after, 0u);
    EXPECT_EQ(gbpa, 0x1000u);
    EXPECT_EQ(strtab, 0u);
    EXPECT_EQ(prod, 0u);
    EXPECT_EQ(cons, 0u);
    EXPECT_TRUE(bypass.ok());
    EXPECT_EQ(v, 0xb7b7b7b7u);
}

/// A workload that evicts from a small randomly replaced IOTLB: 8 entries, 2 ways.
bench_config small_tlb(const std::string& name, std::uint64_t seed) {
    bench_config cfg = named(name);
    cfg.params.main_tlb = cache_shape{8, 2, arch::replacement_policy::random};
    cfg.params.utlb = cache_shape{2, 2, arch::replacement_policy::round_robin};
    cfg.params.random_seed = seed;
    return cfg;
}

void thrash_setup(bench& b, const bench::layout& l) {
    auto s = b.add_s1_stream(l, 1, 1);
    for (std::uint64_t p = 0; p < 32; ++p)
        s.pt.map(0x100000 + 0x1000 * p, 0x300000 + 0x1000 * p, s1_page_rw);
}

void thrash(bench& b, const bench::layout& l) {
    b.enable(l);
    dma_attrs a;
    a.sid = 1;
    std::uint32_t v = 0;
    std::uint64_t x = 12345;
    for (unsigned i = 0; i < 200; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b.device().read(0x100000 + 0x1000 * ((x >> 33) % 32), &v, 4, a);
    }
    b.device().read(0x400000, &v, 4, a); // and one fault
    b.submit_and_sync(l, {arch::make_tlbi_nh_asid(0, 1)});
    b.drain_events(l);
}

TEST(smmu_system, the_same_stimulus_gives_identical_statistics) {
    bench a(small_tlb("a_", 1));
    bench b(small_tlb("b_", 1));
    bench c(small_tlb("c_", 7)); // another seed: another replacement sequence
    const auto la = a.prepare();
    const auto lb = b.prepare();
    const auto lc = c.prepare();
    thrash_setup(a, la);
    thrash_setup(b, lb);
    thrash_setup(c, lc);
    ASSERT_TRUE(bench::run_together({{&a, [&] { thrash(a, la); }},
                                     {&b, [&] { thrash(b, lb); }},
                                     {&c, [&] { thrash(c, lc); }}}));
    const std::string ja = a.smmu().stats_json();
    EXPECT_EQ(ja, b.smmu().stats_json());
    EXPECT_NE(ja, c.smmu().stats_json());
    EXPECT_EQ(a.smmu().stats().translations, 201u);
    EXPECT_NE(ja.find("\"faults\":{\"F_TRANSLATION\":1}"), std::string::npos) << ja;
    EXPECT_NE(ja.find("\"commands\":{\"CMD_CFGI_STE_RANGE\":1,\"CMD_TLBI_NH_ASID\":1,"
                      "\"CMD_TLBI_NSNH_ALL\":1,\"CMD_SYNC\":2}"),
              std::string::npos)
        << ja;
    EXPECT_NE(ja.find("\"event_queue\":{\"posted\":1,\"written\":1,\"lost\":0,\"aborted\":0}"),
              std::string::npos)
        << ja;
}

} // namespace
} // namespace smmu::test
