#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/smmu_device.h"
#include "driver/core/strtab.h"
#include "tests/unit/driver/fake_smmu_hw.h"

namespace smmu::driver {
namespace {

using words = arch::structure_words;

// --- STEs used in the transition tests ------------------------------------------------

arch::ste s1_ste() {
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::s1_translate;
    s.s1_context_ptr = 0x50000000;
    s.s1_cir = arch::fetch_cacheability::wb_read_allocate;
    s.s1_cor = arch::fetch_cacheability::wb_read_allocate;
    s.s1_csh = arch::shareability_encoding::inner;
    return s;
}

arch::ste s2_ste() {
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::s2_translate;
    s.shcfg = arch::ste_shcfg::incoming;
    s.s2_vmid = 1;
    s.s2_t0sz = 25;
    s.s2_sl0 = 1;
    s.s2_ir0 = arch::walk_cacheability::wb_ra_wa;
    s.s2_or0 = arch::walk_cacheability::wb_ra_wa;
    s.s2_sh0 = arch::shareability_encoding::inner;
    s.s2_ps = arch::pa_size_encoding::bits_48;
    s.s2_aa64 = true;
    s.s2_r = true;
    s.s2_ttb = 0x60000000;
    return s;
}

arch::ste nested_ste() {
    arch::ste s = s2_ste();
    const arch::ste s1 = s1_ste();
    s.config = arch::ste_config::nested;
    s.s1_context_ptr = s1.s1_context_ptr;
    s.s1_cir = s1.s1_cir;
    s.s1_cor = s1.s1_cor;
    s.s1_csh = s1.s1_csh;
    return s;
}

arch::cd s1_cd(arch::asid_t asid, std::uint64_t ttb0) {
    arch::cd c;
    c.t0sz = 16;
    c.ir0 = arch::walk_cacheability::wb_ra_wa;
    c.or0 = arch::walk_cacheability::wb_ra_wa;
    c.sh0 = arch::shareability_encoding::inner;
    c.epd1 = true;
    c.v = true;
    c.ips = arch::pa_size_encoding::bits_48;
    c.aa64 = true;
    c.r = true;
    c.a = true;
    c.aset = true;
    c.asid = asid;
    c.ttb0 = ttb0;
    c.mair0 = 0x44ff04;
    return c;
}

// --- used bits ---------------------------------------------------------------------------

TEST(ste_used_bits, invalid_entry_uses_only_v) {
    EXPECT_EQ(ste_used_bits(words{}), (words{0x1, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(ste_used_bits(words{0xfffffffffffffffe, ~0ull, ~0ull, ~0ull, 0, 0, 0, 0}),
              (words{0x1, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(ste_used_bits, abort_uses_v_and_config) {
    EXPECT_EQ(ste_used_bits(words{0x1, ~0ull, ~0ull, 0, 0, 0, 0, 0}),
              (words{0xf, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(ste_used_bits(words{0x7, 0, 0, 0, 0, 0, 0, 0}), (words{0xf, 0, 0, 0, 0, 0, 0, 0}))
        << "reserved Config 011 behaves as abort";
}

constexpr std::uint64_t w1_traffic = 0xffffc000040ff000; // IMPDEF, INST/PRIV/NSCFG, S1MPAM, 19:12
constexpr std::uint64_t w1_memtype = 0x000031ff00000000; // SHCFG, ALLOCCFG, MTCFG, MemAttr
constexpr std::uint64_t w2_impdef = 0x00000000ffff0000;
constexpr std::uint64_t w4_mpam = 0x00000000ffffffff; // PARTID, IMPDEF
constexpr std::uint64_t w5_mpam = 0x000ffffffffff1ff; // VMSPtr, MPAM_NS, PMG

TEST(ste_used_bits, bypass_uses_the_overrides) {
    EXPECT_EQ(ste_used_bits(arch::encode_ste(make_default_ste(false))),
              (words{0xf, w1_traffic | w1_memtype, w2_impdef, 0, w4_mpam, w5_mpam, 0, 0}));
}

TEST(ste_used_bits, stage1_uses_cd_table_fields_and_vmid) {
    const std::uint64_t w0 = 0xf80fffffffffffff; // S1CDMax, S1ContextPtr, S1Fmt, Config, V
    const std::uint64_t w1_s1 = 0xfc0000ff;      // STRW, EATS, S1STALLD, S1CSH/COR/CIR/DSS
    EXPECT_EQ(ste_used_bits(arch::encode_ste(s1_ste())),
              (words{w0, w1_traffic | w1_s1, 0xffffffff, 0, w4_mpam, w5_mpam, 0, 0}));
    arch::ste dss_bypass = s1_ste();
    dss_bypass.s1_dss = arch::ste_s1dss::bypass;
    EXPECT_EQ(ste_used_bits(arch::encode_ste(dss_bypass))[1], w1_traffic | w1_s1 | w1_memtype)
        << "non-substream traffic bypasses stage 1: memory-type overrides apply";
}

TEST(ste_used_bits, stage2_uses_the_s2_words) {
    const std::uint64_t w1_s2 = 0x32000f00; // EATS, S2FWB, S2HWU59..62
    EXPECT_EQ(ste_used_bits(arch::encode_ste(s2_ste())),
              (words{0xf, w1_traffic | w1_memtype | w1_s2, 0x0fffffffffffffff, 0x000fffffffffffff,
                     w4_mpam, w5_mpam, 0, 0}));
}

TEST(ste_used_bits, nested_uses_both_stages) {
    const words u = ste_used_bits(arch::encode_ste(nested_ste()));
    EXPECT_EQ(u[0], 0xf80fffffffffffffu);
    EXPECT_EQ(u[1], w1_traffic | w1_memtype | 0xfe000fffu);
    EXPECT_EQ(u[2], 0x0fffffffffffffffu);
    EXPECT_EQ(u[3], 0x000fffffffffffffu);
}

TEST(cd_used_bits, invalid_cd_uses_only_v) {
    EXPECT_EQ(cd_used_bits(words{0x7fffffff, ~0ull, 0, 0, 0, 0, 0, 0}),
              (words{0x80000000, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(cd_used_bits, valid_cd_uses_every_field) {
    const std::uint64_t w1_all = 0xf00fffffffffffff, w2_all = 0xf40ffffffffffff7;
    EXPECT_EQ(cd_used_bits(words{0x80000000, 0, 0, 0, 0, 0, 0, 0}),
              (words{~0ull, w1_all, w2_all, ~0ull, ~0ull, 0x00ffffffffffffff, 0, 0}));
}

TEST(cd_used_bits, epd_drops_that_walks_fields) {
    const words epd0 = cd_used_bits(words{0x80004000, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_EQ(epd0[0], 0xffffffffffffc000u) << "T0SZ, TG0, IR0, OR0, SH0 unused";
    EXPECT_EQ(epd0[1], 0xf00000000000000fu) << "TTB0 unused";
    EXPECT_EQ(epd0[2], 0xf40ffffffffffff7u);
    const words epd1 = cd_used_bits(words{0xc0000000, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_EQ(epd1[0], 0xffffffffc000ffffu) << "T1SZ, TG1, IR1, OR1, SH1 unused";
    EXPECT_EQ(epd1[1], 0xf00fffffffffffffu);
    EXPECT_EQ(epd1[2], 0xf400000000000007u) << "TTB1 unused";
}

// --- plans -------------------------------------------------------------------------------

TEST(classify_update, plans) {
    const words abort = arch::encode_ste(make_default_ste(true));
    const words bypass = arch::encode_ste(make_default_ste(false));
    EXPECT_EQ(classify_update(abort, abort, ste_used_bits), entry_update::unchanged);
    EXPECT_EQ(classify_update(abort, bypass, ste_used_bits), entry_update::hitless);
    EXPECT_EQ(classify_update(bypass, arch::encode_ste(s1_ste()), ste_used_bits),
              entry_update::hitless);
    EXPECT_EQ(
        classify_update(arch::encode_ste(s1_ste()), arch::encode_ste(s2_ste()), ste_used_bits),
        entry_update::breaking)
        << "Config in word 0 and S2VMID in word 2 both change";
    arch::ste s1_vmid1 = s1_ste();
    s1_vmid1.s2_vmid = 1;
    EXPECT_EQ(
        classify_update(arch::encode_ste(s1_vmid1), arch::encode_ste(s2_ste()), ste_used_bits),
        entry_update::hitless)
        << "same VMID: the stage-2 words are unused by stage 1 and can go first";
    arch::ste sw = make_default_ste(false);
    sw.sw_reserved = 5;
    EXPECT_EQ(classify_update(bypass, arch::encode_ste(sw), ste_used_bits), entry_update::direct);
    EXPECT_EQ(classify_update(words{}, arch::encode_ste(s2_ste()), ste_used_bits),
              entry_update::hitless)
        << "from V = 0 only word 0 matters";
}

TEST(entry_update_names, all) {
    EXPECT_STREQ(to_string(entry_update::unchanged), "unchanged");
    EXPECT_STREQ(to_string(entry_update::direct), "direct");
    EXPECT_STREQ(to_string(entry_update::hitless), "hitless");
    EXPECT_STREQ(to_string(entry_update::breaking), "breaking");
    EXPECT_STREQ(to_string(smmu_status::no_memory), "no_memory");
    EXPECT_STREQ(to_string(sync_method::sev), "sev");
}

TEST(make_default_ste, abort_or_bypass) {
    EXPECT_EQ(arch::encode_ste(make_default_ste(true)), (words{0x1, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(arch::encode_ste(make_default_ste(false)),
              (words{0x9, 0x100000000000, 0, 0, 0, 0, 0, 0}));
}

// --- a running device -------------------------------------------------------------------

/// The SMMU brought up with CMD_SYNC polling CONS; the trace keeps table
/// writes (not the queue's own) and consumed commands.
class strtab_device : public ::testing::Test {
protected:
    explicit strtab_device(unsigned sid_bits = 8)
        : hw(features(sid_bits)) {}

    static arch::feature_set features(unsigned sid_bits) {
        arch::feature_set f = fake_smmu_default_features();
        f.sid_bits = sid_bits;
        return f;
    }

    void SetUp() override {
        device_config cfg;
        cfg.completion = sync_method::poll_cons;
        cfg.poll_timeout_ns = 1000;
        dev = std::make_unique<smmu_device>(hw, lock, cfg);
        ASSERT_EQ(dev->bring_up(), smmu_status::ok);
        hw.clear_trace();
    }

    std::vector<std::string> lines(bool barriers = false) const {
        const std::uint64_t q = dev->command_queue().base_address();
        const std::uint64_t q_end = q + std::uint64_t{dev->command_queue().entries()} * 16;
        std::vector<std::string> r;
        for (const fake_smmu_trace& t : hw.trace()) {
            const bool keep =
                (t.what == fake_smmu_trace::kind::mem_write && (t.addr < q || t.addr >= q_end)) ||
                t.what == fake_smmu_trace::kind::command ||
                (barriers && t.what == fake_smmu_trace::kind::barrier);
            if (keep)
                r.push_back(fake_smmu_hw::describe(t));
        }
        return r;
    }

    fake_smmu_hw hw;
    fake_smmu_lock lock;
    std::unique_ptr<smmu_device> dev;
};

// Linear table (SIDSIZE 8 <= SPLIT) at 0x40004000; STE 5 at 0x40004140.
class ste_transitions : public strtab_device {};

constexpr const char* cfgi5 = "CMD_CFGI_STE sid=0x5 leaf=1";
constexpr const char* sync_line = "CMD_SYNC cs=none";

TEST_F(ste_transitions, linear_table_starts_with_abort_stes) {
    EXPECT_EQ(dev->strtab().format(), arch::strtab_fmt::linear);
    EXPECT_EQ(dev->strtab().base_address(), 0x40004000u);
    EXPECT_EQ(dev->strtab().base_cfg_register(), 0x8u);
    EXPECT_EQ(dev->strtab().ste_address(5), 0x40004140u);
    EXPECT_EQ(dev->strtab().read_ste(255), make_default_ste(true));
    EXPECT_EQ(dev->strtab().ste_address(256), std::nullopt);
    EXPECT_EQ(dev->strtab().write_ste(256, s1_ste()).status, smmu_status::bad_input);
}

TEST_F(ste_transitions, abort_bypass_s1_s2_nested_abort) {
    // abort -> bypass: word 1 first (unused by abort), then word 0.
    entry_write_result r = dev->strtab().write_ste(5, make_default_ste(false));
    EXPECT_EQ(r.status, smmu_status::ok);
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(r.syncs, 2u);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40004148 <- 0x100000000000", cfgi5, sync_line,
                                        "mem 0x40004140 <- 0x9", cfgi5, sync_line}));

    // bypass -> S1: stage-1 fields of word 1 while SHCFG stays, word 0, then SHCFG cleared.
    hw.clear_trace();
    r = dev->strtab().write_ste(5, s1_ste());
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(r.syncs, 3u);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40004148 <- 0x1000000000d4", cfgi5, sync_line,
                                        "mem 0x40004140 <- 0x5000000b", cfgi5, sync_line,
                                        "mem 0x40004148 <- 0xd4", cfgi5, sync_line}));

    // S1 -> S2: Config and S2VMID both change: break (V = 0), fill, make.
    hw.clear_trace();
    r = dev->strtab().write_ste(5, s2_ste());
    EXPECT_EQ(r.kind, entry_update::breaking);
    EXPECT_EQ(r.syncs, 3u);
    EXPECT_EQ(lines(), (std::vector<std::string>{"mem 0x40004140 <- 0x5000000a", cfgi5, sync_line,
                                                 "mem 0x40004148 <- 0x100000000000",
                                                 "mem 0x40004150 <- 0x40d355900000001",
                                                 "mem 0x40004158 <- 0x60000000", cfgi5, sync_line,
                                                 "mem 0x40004140 <- 0xd", cfgi5, sync_line}));

    // S2 -> nested: stage-1 fields are unused by S2, so only word 0 is critical.
    hw.clear_trace();
    r = dev->strtab().write_ste(5, nested_ste());
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(r.syncs, 2u);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40004148 <- 0x1000000000d4", cfgi5, sync_line,
                                        "mem 0x40004140 <- 0x5000000f", cfgi5, sync_line}));

    // nested -> abort: word 0 first, then the words abort no longer uses.
    hw.clear_trace();
    r = dev->strtab().write_ste(5, make_default_ste(true));
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(r.syncs, 2u);
    EXPECT_EQ(lines(), (std::vector<std::string>{"mem 0x40004140 <- 0x1", cfgi5, sync_line,
                                                 "mem 0x40004148 <- 0x0", "mem 0x40004150 <- 0x0",
                                                 "mem 0x40004158 <- 0x0", cfgi5, sync_line}));
    EXPECT_EQ(dev->strtab().read_ste(5), make_default_ste(true));
}

TEST_F(ste_transitions, writer_starts_with_a_barrier) {
    hw.clear_trace();
    dev->strtab().write_ste(5, make_default_ste(false));
    const auto t = hw.trace();
    ASSERT_FALSE(t.empty());
    EXPECT_EQ(t.front().what, fake_smmu_trace::kind::barrier);
}

TEST_F(ste_transitions, same_ste_writes_nothing) {
    const entry_write_result r = dev->strtab().write_ste(5, make_default_ste(true));
    EXPECT_EQ(r.kind, entry_update::unchanged);
    EXPECT_EQ(r.syncs, 0u);
    EXPECT_TRUE(lines().empty());
}

TEST_F(ste_transitions, unused_bits_only_is_one_direct_step) {
    ASSERT_EQ(dev->strtab().write_ste(5, make_default_ste(false)).status, smmu_status::ok);
    hw.clear_trace();
    arch::ste s = make_default_ste(false);
    s.sw_reserved = 5;
    const entry_write_result r = dev->strtab().write_ste(5, s);
    EXPECT_EQ(r.kind, entry_update::direct);
    EXPECT_EQ(r.syncs, 1u);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40004148 <- 0x100000500000", cfgi5, sync_line}));
}

TEST_F(ste_transitions, context_pointer_change_is_one_word) {
    ASSERT_EQ(dev->strtab().write_ste(5, s1_ste()).status, smmu_status::ok);
    hw.clear_trace();
    arch::ste s = s1_ste();
    s.s1_context_ptr = 0x50001000;
    const entry_write_result r = dev->strtab().write_ste(5, s);
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40004140 <- 0x5000100b", cfgi5, sync_line}));
}

TEST_F(ste_transitions, sync_timeout_stops_the_update) {
    hw.set_cmdq_stalled(true);
    const entry_write_result r = dev->strtab().write_ste(5, s2_ste());
    EXPECT_EQ(r.status, smmu_status::timeout);
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(r.syncs, 1u) << "word 0 is not written after a failed invalidation";
    EXPECT_EQ(hw.peek64(0x40004140), 0x1u);
}

// --- 2-level stream table -------------------------------------------------------------

// SIDSIZE 16: L1 of 256 descriptors at 0x40001800.
class strtab_two_level : public strtab_device {
protected:
    strtab_two_level()
        : strtab_device(16) {}
};

TEST_F(strtab_two_level, layout) {
    EXPECT_EQ(dev->strtab().format(), arch::strtab_fmt::two_level);
    EXPECT_EQ(dev->strtab().base_address(), 0x40001800u);
    EXPECT_EQ(dev->strtab().log2size(), 16u);
    EXPECT_EQ(dev->strtab().split(), 8u);
    EXPECT_EQ(dev->strtab().base_register(), 0x4000000040001800u);
    EXPECT_EQ(dev->strtab().base_cfg_register(), 0x10210u);
    EXPECT_EQ(dev->strtab().l2_tables(), 0u);
    EXPECT_EQ(hw.peek64(0x40001800 + 0x12 * 8), 0u) << "L1STDs start invalid";
}

TEST_F(strtab_two_level, l2_table_allocated_on_first_use) {
    EXPECT_EQ(dev->strtab().ste_address(0x1234), std::nullopt);
    ASSERT_EQ(dev->strtab().ensure_ste(0x1234), smmu_status::ok);
    const std::vector<std::string> got = lines(true);
    const std::vector<std::string> want = {
        "mem 0x40004000 [4096 bytes]", // 256 default STEs, 64 per write
        "mem 0x40005000 [4096 bytes]",
        "mem 0x40006000 [4096 bytes]",
        "mem 0x40007000 [4096 bytes]",
        "barrier",                      // STEs before the descriptor
        "mem 0x40001890 <- 0x40004009", // L1STD 0x12: Span 9
        "barrier",                      // commands before CMDQ_PROD
        "CMD_CFGI_STE sid=0x1200 leaf=0",
        sync_line,
    };
    EXPECT_EQ(got, want);
    EXPECT_EQ(dev->strtab().ste_address(0x1234), 0x40004d00u);
    EXPECT_EQ(dev->strtab().read_ste(0x1234), make_default_ste(true));
    EXPECT_EQ(dev->strtab().l2_tables(), 1u);

    hw.clear_trace();
    ASSERT_EQ(dev->strtab().ensure_ste(0x12ff), smmu_status::ok);
    EXPECT_TRUE(hw.trace().empty()) << "same level-2 table";
    EXPECT_EQ(dev->strtab().ste_address(0x12ff), 0x40007fc0u);
    EXPECT_EQ(dev->strtab().ste_address(0x1300), std::nullopt);
}

TEST_F(strtab_two_level, write_ste_allocates_then_updates) {
    ASSERT_EQ(dev->strtab().write_ste(0x1301, make_default_ste(false)).status, smmu_status::ok);
    const std::vector<std::string> want = {
        "mem 0x40004000 [4096 bytes]",
        "mem 0x40005000 [4096 bytes]",
        "mem 0x40006000 [4096 bytes]",
        "mem 0x40007000 [4096 bytes]",
        "mem 0x40001898 <- 0x40004009",
        "CMD_CFGI_STE sid=0x1300 leaf=0",
        sync_line,
        "mem 0x40004048 <- 0x100000000000",
        "CMD_CFGI_STE sid=0x1301 leaf=1",
        sync_line,
        "mem 0x40004040 <- 0x9",
        "CMD_CFGI_STE sid=0x1301 leaf=1",
        sync_line,
    };
    EXPECT_EQ(lines(), want);
}

TEST_F(strtab_two_level, second_l2_table_gets_its_own_descriptor) {
    ASSERT_EQ(dev->strtab().ensure_ste(0x0005), smmu_status::ok);
    ASSERT_EQ(dev->strtab().ensure_ste(0xff00), smmu_status::ok);
    EXPECT_EQ(hw.peek64(0x40001800), 0x40004009u);
    EXPECT_EQ(hw.peek64(0x40001800 + 0xff * 8), 0x40008009u);
    EXPECT_EQ(dev->strtab().l2_tables(), 2u);
}

TEST_F(strtab_two_level, out_of_range_stream_id) {
    EXPECT_EQ(dev->strtab().ensure_ste(0x10000), smmu_status::bad_input);
    EXPECT_EQ(dev->strtab().ste_address(0x10000), std::nullopt);
    EXPECT_TRUE(hw.trace().empty());
}

TEST_F(strtab_two_level, l2_allocation_failure_is_reported) {
    hw.fail_allocations_after(0);
    EXPECT_EQ(dev->strtab().ensure_ste(0x1234), smmu_status::no_memory);
    EXPECT_EQ(dev->strtab().write_ste(0x1234, s1_ste()).status, smmu_status::no_memory);
    EXPECT_TRUE(hw.trace().empty());
    EXPECT_EQ(dev->strtab().l2_tables(), 0u);
    EXPECT_EQ(hw.peek64(0x40001800 + 0x12 * 8), 0u);
}

TEST_F(strtab_two_level, l1std_invalidation_timeout_is_reported) {
    hw.set_cmdq_stalled(true);
    EXPECT_EQ(dev->strtab().ensure_ste(0x1234), smmu_status::timeout);
    EXPECT_EQ(dev->strtab().l2_tables(), 1u) << "installed; only its invalidation failed";
}

// --- stream table sizing (no device) ----------------------------------------------------

class strtab_sizing : public ::testing::Test {
protected:
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    cmdq q{hw, lock};
    stream_table st{hw, q};
};

TEST_F(strtab_sizing, linear_when_two_level_is_unsupported) {
    arch::feature_set f = fake_smmu_default_features();
    f.st_level_2 = false;
    f.sid_bits = 10;
    ASSERT_EQ(st.allocate(f, true), smmu_status::ok);
    EXPECT_EQ(st.format(), arch::strtab_fmt::linear);
    EXPECT_EQ(st.base_cfg_register(), 0xau);
    EXPECT_EQ(st.ste_address(1023), fake_smmu_hw::dma_base + 1023 * 64);
    EXPECT_EQ(hw.peek64(fake_smmu_hw::dma_base + 1023 * 64), 0x1u);
    EXPECT_EQ(st.ensure_ste(1023), smmu_status::ok);
    EXPECT_EQ(st.ensure_ste(1024), smmu_status::bad_input);
}

TEST_F(strtab_sizing, two_level_needs_more_sid_bits_than_split) {
    arch::feature_set f = fake_smmu_default_features();
    f.sid_bits = 8;
    ASSERT_EQ(st.allocate(f, true), smmu_status::ok);
    EXPECT_EQ(st.format(), arch::strtab_fmt::linear);
    f.sid_bits = 9;
    ASSERT_EQ(st.allocate(f, true), smmu_status::ok);
    EXPECT_EQ(st.format(), arch::strtab_fmt::two_level);
    EXPECT_EQ(st.base_cfg_register(), 0x10209u);
    EXPECT_EQ(hw.live_allocations(), 1u) << "the linear table was freed";
}

TEST_F(strtab_sizing, level1_is_capped_at_2_pow_17) {
    arch::feature_set f = fake_smmu_default_features();
    f.sid_bits = 32;
    ASSERT_EQ(st.allocate(f, true), smmu_status::ok);
    EXPECT_EQ(st.log2size(), 25u);
    EXPECT_EQ(st.base_cfg_register(), 0x10219u);
    EXPECT_EQ(st.ensure_ste(0x2000000), smmu_status::bad_input);
}

TEST_F(strtab_sizing, allocation_failure_and_not_ready) {
    EXPECT_EQ(st.ensure_ste(0), smmu_status::not_ready);
    EXPECT_EQ(st.read_ste(0), std::nullopt);
    hw.fail_allocations_after(0);
    EXPECT_EQ(st.allocate(fake_smmu_default_features(), true), smmu_status::no_memory);
    EXPECT_FALSE(st.allocated());
    arch::feature_set f = fake_smmu_default_features();
    f.st_level_2 = false;
    EXPECT_EQ(st.allocate(f, true), smmu_status::no_memory);
}

// --- CD tables ---------------------------------------------------------------------------

// A single CD at 0x40008000 (after the 16 KB linear stream table), used by StreamID 5.
class cd_writes : public strtab_device {
protected:
    void SetUp() override {
        strtab_device::SetUp();
        cds = std::make_unique<cd_table>(hw, dev->command_queue());
        ASSERT_EQ(cds->allocate(0, dev->features()), smmu_status::ok);
        cds->set_stream_ids({5});
        hw.clear_trace();
    }
    std::unique_ptr<cd_table> cds;
};

constexpr const char* cfgi_cd5 = "CMD_CFGI_CD sid=0x5 ssid=0x0 leaf=1";

TEST_F(cd_writes, single_cd_layout) {
    EXPECT_EQ(cds->format(), arch::cd_table_format::linear);
    EXPECT_EQ(cds->s1_cd_max(), 0u);
    EXPECT_EQ(cds->context_ptr(), 0x40008000u);
    EXPECT_EQ(cds->cd_address(0), 0x40008000u);
    EXPECT_EQ(cds->cd_address(1), std::nullopt);
    arch::ste s = s1_ste();
    cds->apply_to(s);
    EXPECT_EQ(s.s1_context_ptr, 0x40008000u);
    EXPECT_EQ(s.s1_fmt, arch::cd_table_format::linear);
    EXPECT_EQ(s.s1_cd_max, 0u);
}

TEST_F(cd_writes, install_replace_and_clear) {
    // Install: V = 0 before, so words 1 and 3 go first and word 0 (with V) last.
    entry_write_result r = cds->write_cd(0, s1_cd(1, 0x70000000));
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(lines(), (std::vector<std::string>{
                           "mem 0x40008008 <- 0x70000000", "mem 0x40008018 <- 0x44ff04", cfgi_cd5,
                           sync_line, "mem 0x40008000 <- 0x1e205c0003510", cfgi_cd5, sync_line}));

    // New ASID and TTB0: two used words change: break-before-make.
    hw.clear_trace();
    r = cds->write_cd(0, s1_cd(2, 0x71000000));
    EXPECT_EQ(r.kind, entry_update::breaking);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40008000 <- 0x1e20540003510", cfgi_cd5, sync_line,
                                        "mem 0x40008008 <- 0x71000000", cfgi_cd5, sync_line,
                                        "mem 0x40008000 <- 0x2e205c0003510", cfgi_cd5, sync_line}));

    // ASID only: one word.
    hw.clear_trace();
    r = cds->write_cd(0, s1_cd(3, 0x71000000));
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40008000 <- 0x3e205c0003510", cfgi_cd5, sync_line}));

    // T1SZ is unused with EPD1 = 1: a direct write.
    hw.clear_trace();
    arch::cd t1 = s1_cd(3, 0x71000000);
    t1.t1sz = 16;
    r = cds->write_cd(0, t1);
    EXPECT_EQ(r.kind, entry_update::direct);
    EXPECT_EQ(lines(),
              (std::vector<std::string>{"mem 0x40008000 <- 0x3e205c0103510", cfgi_cd5, sync_line}));

    // Clear: V first, then the rest.
    hw.clear_trace();
    r = cds->clear_cd(0);
    EXPECT_EQ(r.kind, entry_update::hitless);
    EXPECT_EQ(lines(), (std::vector<std::string>{"mem 0x40008000 <- 0x0", cfgi_cd5, sync_line,
                                                 "mem 0x40008008 <- 0x0", "mem 0x40008018 <- 0x0",
                                                 cfgi_cd5, sync_line}));
    EXPECT_EQ(cds->read_cd(0), arch::cd{});
}

TEST_F(cd_writes, every_stream_id_is_invalidated) {
    cds->set_stream_ids({5, 6});
    ASSERT_EQ(cds->write_cd(0, s1_cd(1, 0x70000000)).status, smmu_status::ok);
    const std::string cfgi_cd6 = "CMD_CFGI_CD sid=0x6 ssid=0x0 leaf=1";
    EXPECT_EQ(lines(), (std::vector<std::string>{"mem 0x40008008 <- 0x70000000",
                                                 "mem 0x40008018 <- 0x44ff04", cfgi_cd5, cfgi_cd6,
                                                 sync_line, "mem 0x40008000 <- 0x1e205c0003510",
                                                 cfgi_cd5, cfgi_cd6, sync_line}));
}

TEST_F(cd_writes, unreferenced_table_needs_no_invalidation) {
    cds->set_stream_ids({});
    const entry_write_result r = cds->write_cd(0, s1_cd(1, 0x70000000));
    EXPECT_EQ(r.status, smmu_status::ok);
    EXPECT_EQ(r.syncs, 2u);
    EXPECT_EQ(lines(), (std::vector<std::string>{"mem 0x40008008 <- 0x70000000",
                                                 "mem 0x40008018 <- 0x44ff04",
                                                 "mem 0x40008000 <- 0x1e205c0003510"}));
}

TEST_F(cd_writes, bad_ssid_and_unallocated) {
    EXPECT_EQ(cds->write_cd(1, s1_cd(1, 0)).status, smmu_status::bad_input);
    EXPECT_EQ(cds->clear_cd(1).status, smmu_status::bad_input);
    cd_table empty(hw, dev->command_queue());
    EXPECT_EQ(empty.write_cd(0, s1_cd(1, 0)).status, smmu_status::not_ready);
    EXPECT_EQ(empty.clear_cd(0).status, smmu_status::not_ready);
    EXPECT_EQ(empty.read_cd(0), std::nullopt);
}

TEST_F(cd_writes, invalidation_timeout_is_reported) {
    hw.set_cmdq_stalled(true);
    const entry_write_result r = cds->write_cd(0, s1_cd(1, 0x70000000));
    EXPECT_EQ(r.status, smmu_status::timeout);
    EXPECT_EQ(hw.peek64(0x40008000), 0u) << "V never set";
}

// 2-level: SSIDSIZE 16 -> 64 L1CDs at 0x40008000, 64 KB leaves.
class cd_two_level : public strtab_device {
protected:
    void SetUp() override {
        strtab_device::SetUp();
        cds = std::make_unique<cd_table>(hw, dev->command_queue());
        ASSERT_EQ(cds->allocate(16, dev->features()), smmu_status::ok);
        cds->set_stream_ids({5});
        hw.clear_trace();
    }
    std::unique_ptr<cd_table> cds;
};

TEST_F(cd_two_level, layout) {
    EXPECT_EQ(cds->format(), arch::cd_table_format::two_level_64k);
    EXPECT_EQ(cds->s1_cd_max(), 16u);
    EXPECT_EQ(cds->context_ptr(), 0x40008000u);
    EXPECT_EQ(cds->l2_tables(), 0u);
    EXPECT_EQ(cds->cd_address(0x405), std::nullopt);
    EXPECT_EQ(cds->cd_address(0x10000), std::nullopt);
}

TEST_F(cd_two_level, leaf_allocated_on_first_write) {
    ASSERT_EQ(cds->write_cd(0x405, s1_cd(1, 0x70000000)).status, smmu_status::ok);
    const std::string cfgi = "CMD_CFGI_CD sid=0x5 ssid=0x405 leaf=1";
    const std::vector<std::string> want = {
        "mem 0x40008008 <- 0x40010001", // L1CD 1: V | L2Ptr
        "CMD_CFGI_CD sid=0x5 ssid=0x405 leaf=0",
        sync_line,
        "mem 0x40010148 <- 0x70000000",
        "mem 0x40010158 <- 0x44ff04",
        cfgi,
        sync_line,
        "mem 0x40010140 <- 0x1e205c0003510",
        cfgi,
        sync_line,
    };
    EXPECT_EQ(lines(), want);
    EXPECT_EQ(cds->l2_tables(), 1u);
    EXPECT_EQ(cds->cd_address(0x7ff), 0x4001ffc0u);
    EXPECT_EQ(cds->cd_address(0x800), std::nullopt);
    EXPECT_EQ(cds->read_cd(0x405), s1_cd(1, 0x70000000));

    hw.clear_trace();
    ASSERT_EQ(cds->write_cd(0x406, s1_cd(2, 0x70000000)).status, smmu_status::ok);
    EXPECT_EQ(lines().front(), "mem 0x40010188 <- 0x70000000") << "no new leaf";
}

TEST_F(cd_two_level, clear_without_leaf_does_nothing) {
    const entry_write_result r = cds->clear_cd(0x9000);
    EXPECT_EQ(r.status, smmu_status::ok);
    EXPECT_EQ(r.kind, entry_update::unchanged);
    EXPECT_TRUE(hw.trace().empty());
}

TEST_F(cd_two_level, leaf_allocation_failure_is_reported) {
    hw.fail_allocations_after(0);
    EXPECT_EQ(cds->write_cd(0x405, s1_cd(1, 0)).status, smmu_status::no_memory);
    EXPECT_TRUE(hw.trace().empty());
    EXPECT_EQ(hw.peek64(0x40008008), 0u);
}

TEST_F(cd_two_level, release_frees_leaves) {
    const std::size_t before = hw.live_allocations();
    ASSERT_EQ(cds->write_cd(0x405, s1_cd(1, 0)).status, smmu_status::ok);
    ASSERT_EQ(cds->write_cd(0x8005, s1_cd(1, 0)).status, smmu_status::ok);
    EXPECT_EQ(hw.live_allocations(), before + 2);
    cds->release();
    EXPECT_EQ(hw.live_allocations(), before - 1);
    EXPECT_FALSE(cds->allocated());
}

TEST(cd_table_sizing, linear_only_smmu_caps_at_1024_cds) {
    fake_smmu_hw hw;
    fake_smmu_lock lock;
    cmdq q(hw, lock);
    cd_table t(hw, q);
    arch::feature_set f = fake_smmu_default_features();
    f.cd2l = false;
    ASSERT_EQ(t.allocate(16, f), smmu_status::ok);
    EXPECT_EQ(t.format(), arch::cd_table_format::linear);
    EXPECT_EQ(t.s1_cd_max(), 10u);
    EXPECT_EQ(t.cd_address(1023), fake_smmu_hw::dma_base + 1023 * 64);
    f.cd2l = true;
    ASSERT_EQ(t.allocate(10, f), smmu_status::ok);
    EXPECT_EQ(t.format(), arch::cd_table_format::linear) << "1024 CDs fit one linear table";
    f.ssid_bits = 8;
    EXPECT_EQ(t.allocate(9, f), smmu_status::bad_input) << "beyond IDR1.SSIDSIZE";
    hw.fail_allocations_after(0);
    EXPECT_EQ(t.allocate(4, f), smmu_status::no_memory);
}

} // namespace
} // namespace smmu::driver
