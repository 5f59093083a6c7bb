// Translation engine tests. Stream tables, CDs and translation tables are laid
// out in a fake_smmu_memory with the arch encoders; descriptor bits, addresses,
// event fields and latencies are literal values worked out by hand from the
// reference (§2-§4, §6-§8) and the default smmu_params (1 GHz clock, lookups of
// 3/3/4 cycles, 2 cycles per descriptor), with memory answering in 10 cycles.
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "model/arch/cd.h"
#include "model/arch/command.h"
#include "model/arch/event.h"
#include "model/arch/ste.h"
#include "model/arch/stream_table.h"
#include "model/smmu/translation_engine.h"
#include "tests/unit/smmu/fake_smmu_memory.h"

namespace smmu {
namespace {

using arch::event_id;
using arch::fault_class;
using arch::phys_addr;
using test::fake_smmu_memory;
using timing::time_ps;

// Block/page descriptor bits (reference §8.4).
constexpr std::uint64_t k_af = 1ull << 10;
constexpr std::uint64_t k_ap_el0 = 1ull << 6;
constexpr std::uint64_t k_ap_ro = 1ull << 7;
constexpr std::uint64_t k_ng = 1ull << 11;
constexpr std::uint64_t k_s2ap_r = 1ull << 6;
constexpr std::uint64_t k_s2ap_w = 1ull << 7;
constexpr std::uint64_t k_memattr_wb = 0xfull << 2;
constexpr std::uint64_t k_s1_user_rw = k_af | k_ap_el0 | k_ng;
constexpr std::uint64_t k_s2_rw = k_af | k_s2ap_r | k_s2ap_w | k_memattr_wb;

constexpr std::uint64_t page_desc(phys_addr oa, std::uint64_t attrs) {
    return oa | attrs | 3;
}
constexpr std::uint64_t block_desc(phys_addr oa, std::uint64_t attrs) {
    return oa | attrs | 1;
}

constexpr time_ps k_mem_latency = 10'000; // 10 cycles
constexpr time_ps k_start = 1'000'000;

// Memory layout.
constexpr phys_addr k_strtab = 0x10000;    // linear, 256 STEs
constexpr phys_addr k_l1_strtab = 0x20000; // 2-level, SPLIT 8
constexpr phys_addr k_l2_strtab = 0x30000;
constexpr phys_addr k_cd_table = 0x40000; // single CD or linear CD table
constexpr phys_addr k_l1_cd = 0x50000;
constexpr phys_addr k_l2_cd = 0x60000;
constexpr phys_addr k_s1_root = 0x100000; // 39-bit VA, 4 KB, start level 1
constexpr phys_addr k_s1_pool = 0x101000;
constexpr phys_addr k_s2_root = 0x800000; // 40-bit IPA, 4 KB, level 1 (2 tables)
constexpr phys_addr k_s2_pool = 0x810000;

constexpr std::uint64_t k_va = 0x40001000;
constexpr phys_addr k_pa = 0x12345000;
constexpr std::uint64_t k_ipa = 0x7000000; // nested: the stage-1 output of k_va
constexpr phys_addr k_nested_pa = 0x9abc000;
// Descriptors of k_va in the stage-1 tables: L1[1], L2[0], L3[1].
constexpr phys_addr k_s1_l1_desc = 0x100008;
constexpr phys_addr k_s1_l2_desc = 0x101000;
constexpr phys_addr k_s1_l3_desc = 0x102008;

constexpr arch::asid_t k_asid = 5;
constexpr arch::vmid_t k_vmid = 7;

constexpr arch::access_kind k_read{false, false, false};
constexpr arch::access_kind k_write{true, false, false};
constexpr arch::access_kind k_priv_read{false, false, true};

/// 4 KB translation tables in the fake memory: the root (with concatenated
/// tables) at `root`, further tables from `pool`.
class page_tables {
public:
    page_tables(fake_smmu_memory& mem, phys_addr root, phys_addr pool, int start, unsigned ia_bits)
        : m_mem(mem)
        , m_root(root)
        , m_next(pool)
        , m_start(start)
        , m_ia_bits(ia_bits) {}

    /// Writes `desc` for `ia` at `level`, creating the tables above; returns its address.
    phys_addr map(std::uint64_t ia, int level, std::uint64_t desc) {
        phys_addr table = m_root;
        for (int l = m_start; l < level; ++l) {
            const phys_addr at = table + index(ia, l) * 8;
            std::uint64_t d = m_mem.read64(at);
            if ((d & 3) != 3) {
                d = m_next | 3;
                m_next += 0x1000;
                m_mem.write64(at, d);
            }
            table = d & 0x0000fffffffff000ull;
        }
        const phys_addr at = table + index(ia, level) * 8;
        m_mem.write64(at, desc);
        return at;
    }

private:
    static unsigned shift(int level) { return 12 + static_cast<unsigned>(3 - level) * 9; }
    std::uint64_t index(std::uint64_t ia, int level) const {
        const unsigned lo = shift(level);
        const unsigned hi = level == m_start ? m_ia_bits : lo + 9;
        return (ia >> lo) & ((1ull << (hi - lo)) - 1);
    }

    fake_smmu_memory& m_mem;
    phys_addr m_root;
    phys_addr m_next;
    int m_start;
    unsigned m_ia_bits;
};

arch::cd s1_cd(arch::asid_t asid = k_asid) {
    arch::cd c;
    c.v = true;
    c.t0sz = 25;
    c.tg0 = arch::tg0_encoding::size_4k;
    c.epd1 = true;
    c.ips = arch::pa_size_encoding::bits_48;
    c.aa64 = true;
    c.r = true;
    c.a = true;
    c.asid = asid;
    c.ttb0 = k_s1_root;
    return c;
}

arch::ste base_ste(arch::ste_config config) {
    arch::ste s;
    s.v = true;
    s.config = config;
    return s;
}

arch::ste s1_ste() {
    arch::ste s = base_ste(arch::ste_config::s1_translate);
    s.s1_context_ptr = k_cd_table;
    return s;
}

arch::ste with_s2(arch::ste s) {
    s.s2_vmid = k_vmid;
    s.s2_t0sz = 24;
    s.s2_sl0 = 1;
    s.s2_tg = arch::tg0_encoding::size_4k;
    s.s2_ps = arch::pa_size_encoding::bits_48;
    s.s2_aa64 = true;
    s.s2_r = true;
    s.s2_ttb = k_s2_root;
    return s;
}

arch::ste s2_ste() {
    return with_s2(base_ste(arch::ste_config::s2_translate));
}

arch::ste nested_ste() {
    arch::ste s = with_s2(base_ste(arch::ste_config::nested));
    s.s1_context_ptr = k_cd_table;
    return s;
}

translation_request make_req(std::uint64_t addr, arch::stream_id sid, arch::access_kind a = k_read,
                             std::optional<arch::substream_id> ssid = std::nullopt) {
    translation_request r;
    r.address = addr;
    r.sid = sid;
    r.ssid = ssid;
    r.access = a;
    return r;
}

ats_request make_ats(std::uint64_t addr, arch::stream_id sid,
                     std::optional<arch::substream_id> pasid = std::nullopt) {
    ats_request r;
    r.address = addr;
    r.sid = sid;
    r.ssid = pasid;
    return r;
}

class engine_fixture : public ::testing::Test {
protected:
    engine_fixture() {
        cfg.smmuen = true;
        cfg.strtab.base = k_strtab;
        cfg.strtab.log2size = 8;
    }

    translation_engine& engine() {
        if (!m_engine)
            m_engine = std::make_unique<translation_engine>(params, mem);
        return *m_engine;
    }

    void put_ste(arch::stream_id sid, const arch::ste& s) {
        mem.write_words(k_strtab + 64ull * sid, arch::encode_ste(s));
    }
    void put_cd(phys_addr at, const arch::cd& c) { mem.write_words(at, arch::encode_cd(c)); }

    /// SID 1: stage 1, k_va -> k_pa (user RW, nG).
    void setup_s1(arch::ste s = s1_ste(), std::uint64_t attrs = k_s1_user_rw) {
        put_ste(1, s);
        put_cd(k_cd_table, s1_cd());
        s1_tables.map(k_va, 3, page_desc(k_pa, attrs));
    }
    /// SID 2: stage 2, IPA k_va -> k_pa.
    void setup_s2(arch::ste s = s2_ste(), std::uint64_t attrs = k_s2_rw) {
        put_ste(2, s);
        s2_tables.map(k_va, 3, page_desc(k_pa, attrs));
    }
    /// SID 3: nested, k_va -> IPA k_ipa -> k_nested_pa; IPAs [0, 4 MB) map to themselves.
    void setup_nested(arch::ste s = nested_ste()) {
        put_ste(3, s);
        put_cd(k_cd_table, s1_cd());
        s2_tables.map(0x0, 2, block_desc(0x0, k_s2_rw));
        s2_tables.map(0x200000, 2, block_desc(0x200000, k_s2_rw));
        s1_tables.map(k_va, 3, page_desc(k_ipa, k_s1_user_rw));
        s2_tables.map(k_ipa, 3, page_desc(k_nested_pa, k_s2_rw));
    }

    translation_result run(const translation_request& r) { return engine().translate(r, cfg, now); }
    translation_result run(std::uint64_t addr, arch::stream_id sid, arch::access_kind a = k_read,
                           std::optional<arch::substream_id> ssid = std::nullopt) {
        return run(make_req(addr, sid, a, ssid));
    }
    ats_result ats(const ats_request& r) { return engine().translate_ats(r, cfg, now); }

    smmu_params params;
    fake_smmu_memory mem{k_mem_latency};
    smmu_config_state cfg;
    time_ps now = k_start;
    page_tables s1_tables{mem, k_s1_root, k_s1_pool, 1, 39};
    page_tables s2_tables{mem, k_s2_root, k_s2_pool, 1, 40};

private:
    std::unique_ptr<translation_engine> m_engine;
};

// One fixture type per suite, so that suite names say what they test.
class engine_gbpa : public engine_fixture {};
class engine_stream_table : public engine_fixture {};
class engine_stage1 : public engine_fixture {};
class engine_stage2 : public engine_fixture {};
class engine_nested : public engine_fixture {};
class engine_cd_table : public engine_fixture {};
class engine_faults : public engine_fixture {};
class engine_translated : public engine_fixture {};
class engine_ats : public engine_fixture {};
class engine_debug : public engine_fixture {};
class engine_timing : public engine_fixture {};
class engine_invalidation : public engine_fixture {};
class engine_stats : public engine_fixture {};

void expect_only_stream(const arch::event_record& e, event_id id, arch::stream_id sid) {
    EXPECT_EQ(e.id, id);
    EXPECT_EQ(e.sid, sid);
    EXPECT_EQ(e.input_addr, 0u);
    EXPECT_EQ(e.fetch_addr, 0u);
}

// ------------------------------------------------------------------ SMMUEN = 0

TEST_F(engine_gbpa, bypass_when_smmuen_is_0) {
    cfg.smmuen = false;
    const auto r = run(0x1234567, 9, k_write);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_TRUE(r.bypass);
    EXPECT_EQ(r.output_address, 0x1234567u);
    EXPECT_EQ(r.permissions, arch::permission_set::all());
    EXPECT_FALSE(r.event);
    EXPECT_TRUE(mem.log().empty()) << "no structure is read";
    EXPECT_EQ(now, k_start);
}

TEST_F(engine_gbpa, abort_bit_aborts_without_an_event) {
    cfg.smmuen = false;
    cfg.gbpa = 1u << 20; // GBPA.ABORT
    const auto r = run(0x1234567, 9);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
    EXPECT_TRUE(mem.log().empty());
}

TEST_F(engine_gbpa, bypass_beyond_oas_aborts) {
    cfg.smmuen = false;
    const auto r = run(0x1000000000000ull, 9); // bit 48, OAS = 48
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
}

// ------------------------------------------------------------------ stream table

TEST_F(engine_stream_table, sid_out_of_range_records_c_bad_streamid_with_recinvsid) {
    cfg.recinvsid = true;
    const auto r = run(0x1000, 256); // LOG2SIZE = 8
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    expect_only_stream(*r.event, event_id::c_bad_streamid, 256);
    EXPECT_TRUE(mem.log().empty());
    EXPECT_EQ(engine().stats().faults[0x02], 1u);
}

TEST_F(engine_stream_table, sid_out_of_range_is_silent_without_recinvsid) {
    const auto r = run(0x1000, 256);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_stream_table, two_level_lookup) {
    cfg.strtab.base = k_l1_strtab;
    cfg.strtab.fmt = arch::strtab_fmt::two_level;
    cfg.strtab.log2size = 16;
    cfg.strtab.split = 8;
    mem.write64(k_l1_strtab + 8, arch::encode_l1std({9, k_l2_strtab})); // SID[15:8] == 1
    mem.write_words(0x308c0, arch::encode_ste(base_ste(arch::ste_config::bypass)));
    const auto r = run(0x5000, 0x123);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x5000u);
    ASSERT_EQ(mem.log().size(), 2u);
    EXPECT_EQ(mem.log()[0].pa, 0x20008u);
    EXPECT_EQ(mem.log()[0].len, 8u);
    EXPECT_EQ(mem.log()[0].why, mem_purpose::l1std);
    EXPECT_EQ(mem.log()[1].pa, 0x308c0u);
    EXPECT_EQ(mem.log()[1].len, 64u);
    EXPECT_EQ(mem.log()[1].why, mem_purpose::ste);
}

TEST_F(engine_stream_table, invalid_l1std_is_c_bad_streamid) {
    cfg.strtab.base = k_l1_strtab;
    cfg.strtab.fmt = arch::strtab_fmt::two_level;
    cfg.strtab.log2size = 16;
    cfg.strtab.split = 8;
    cfg.recinvsid = true;
    mem.write64(k_l1_strtab + 8, arch::encode_l1std({0, k_l2_strtab})); // Span 0
    auto r = run(0x5000, 0x123);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    expect_only_stream(*r.event, event_id::c_bad_streamid, 0x123);
    // Span 2: two STEs, SID[7:0] == 0x23 is outside it.
    mem.write64(k_l1_strtab + 8, arch::encode_l1std({2, k_l2_strtab}));
    r = run(0x5000, 0x123);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_streamid);
}

TEST_F(engine_stream_table, ste_fetch_abort_is_f_ste_fetch) {
    put_ste(4, base_ste(arch::ste_config::bypass));
    mem.abort_range(k_strtab + 4 * 64, 64);
    const auto r = run(0x5000, 4, k_read, 7);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_ste_fetch);
    EXPECT_EQ(r.event->sid, 4u);
    EXPECT_TRUE(r.event->ssv);
    EXPECT_EQ(r.event->ssid, 7u);
    EXPECT_EQ(r.event->fetch_addr, 0x10100u);
    EXPECT_EQ(engine().config().ste_count(), 0u) << "a failed fetch is not cached";
}

TEST_F(engine_stream_table, l1std_fetch_abort_is_f_ste_fetch) {
    cfg.strtab.base = k_l1_strtab;
    cfg.strtab.fmt = arch::strtab_fmt::two_level;
    cfg.strtab.log2size = 16;
    cfg.strtab.split = 8;
    mem.abort_range(0x20008, 8);
    const auto r = run(0x5000, 0x123);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_ste_fetch);
    EXPECT_EQ(r.event->fetch_addr, 0x20008u);
}

TEST_F(engine_stream_table, ste_not_valid_is_c_bad_ste) {
    put_ste(4, arch::ste{}); // V = 0
    const auto r = run(0x5000, 4);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    expect_only_stream(*r.event, event_id::c_bad_ste, 4);
}

TEST_F(engine_stream_table, illegal_ste_is_c_bad_ste_and_not_cached) {
    arch::ste s = s1_ste();
    s.strw = arch::ste_strw::reserved_1; // STRW 0bx1 is ILLEGAL
    put_ste(4, s);
    auto r = run(0x5000, 4);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    expect_only_stream(*r.event, event_id::c_bad_ste, 4);
    r = run(0x5000, 4);
    EXPECT_EQ(mem.count(mem_purpose::ste), 2u);
    EXPECT_EQ(engine().config().ste_count(), 0u);
}

TEST_F(engine_stream_table, config_abort_is_silent) {
    put_ste(4, base_ste(arch::ste_config::abort));
    put_ste(5, base_ste(arch::ste_config::reserved_2));
    auto r = run(0x5000, 4);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
    r = run(0x5000, 5);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_stream_table, bypass_ste) {
    put_ste(4, base_ste(arch::ste_config::bypass));
    const auto r = run(0xabcdef, 4, k_write);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_TRUE(r.bypass);
    EXPECT_EQ(r.output_address, 0xabcdefu);
    EXPECT_EQ(r.size_log2, 48u);
    EXPECT_EQ(r.input_base, 0u);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_stream_table, bypass_ste_beyond_oas_is_a_stage1_address_size_fault) {
    put_ste(4, base_ste(arch::ste_config::bypass));
    const auto r = run(0x1000000000010ull, 4, k_write);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_addr_size);
    EXPECT_EQ(r.event->sid, 4u);
    EXPECT_EQ(r.event->input_addr, 0x1000000000010ull);
    EXPECT_FALSE(r.event->rnw);
    EXPECT_FALSE(r.event->s2);
    EXPECT_EQ(r.event->cls, fault_class::in);
}

// ------------------------------------------------------------------ stage 1, stage 2, nested

TEST_F(engine_stage1, translates_and_reports_the_mapping) {
    setup_s1();
    const auto r = run(k_va + 0x234, 1, k_write);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_FALSE(r.bypass);
    EXPECT_EQ(r.output_address, 0x12345234u);
    EXPECT_EQ(r.input_base, 0x40001000u);
    EXPECT_EQ(r.output_base, 0x12345000u);
    EXPECT_EQ(r.size_log2, 12u);
    EXPECT_TRUE(r.permissions.user_read);
    EXPECT_TRUE(r.permissions.user_write);
    EXPECT_FALSE(r.permissions.priv_exec) << "EL0-writable is never privileged-executable";
    EXPECT_EQ(r.tag.regime, arch::tlb_regime::ns_el1);
    EXPECT_EQ(r.tag.kind, arch::tlb_kind::stage1);
    EXPECT_EQ(r.tag.asid, 5u);
    EXPECT_EQ(r.tag.vmid.value_or(99), 0u) << "S2VMID tags a stage-1-only NS-EL1 stream";
    EXPECT_FALSE(r.global);
    EXPECT_FALSE(r.event);
    // STE, CD, then the three stage-1 descriptors.
    ASSERT_EQ(mem.log().size(), 5u);
    EXPECT_EQ(mem.log()[0].pa, 0x10040u);
    EXPECT_EQ(mem.log()[1].pa, 0x40000u);
    EXPECT_EQ(mem.log()[1].why, mem_purpose::cd);
    EXPECT_EQ(mem.log()[2].pa, k_s1_l1_desc);
    EXPECT_EQ(mem.log()[3].pa, k_s1_l2_desc);
    EXPECT_EQ(mem.log()[4].pa, k_s1_l3_desc);
    EXPECT_EQ(mem.log()[4].why, mem_purpose::walk_s1);
}

TEST_F(engine_stage1, global_mapping_and_el2_regime) {
    arch::ste s = s1_ste();
    s.strw = arch::ste_strw::el2;
    setup_s1(s, k_af); // privileged RW, global
    cfg.e2h = false;
    const auto r = run(k_va, 1, k_priv_read);
    ASSERT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, k_pa);
    EXPECT_TRUE(r.global);
    EXPECT_EQ(r.tag.regime, arch::tlb_regime::el2);
    EXPECT_FALSE(r.tag.vmid.has_value());
}

TEST_F(engine_stage1, privcfg_overrides_the_incoming_privilege) {
    arch::ste s = s1_ste();
    s.privcfg = arch::ste_privcfg::privileged;
    setup_s1(s, k_af); // privileged only
    auto r = run(k_va, 1, k_read);
    EXPECT_EQ(r.response, translation_response::ok);
    s.privcfg = arch::ste_privcfg::incoming;
    put_ste(1, s);
    engine().invalidate(arch::make_cfgi_ste(1, true), cfg);
    engine().invalidate(arch::make_tlbi_nh_all(0), cfg);
    r = run(k_va, 1, k_read);
    EXPECT_EQ(r.response, translation_response::permission_denied);
}

TEST_F(engine_stage1, tbi_tagged_addresses_share_one_tlb_entry) {
    put_ste(1, s1_ste());
    arch::cd c = s1_cd();
    c.tbi0 = true;
    put_cd(k_cd_table, c);
    s1_tables.map(k_va, 3, page_desc(k_pa, k_s1_user_rw));
    auto r = run(0xab00000040001010ull, 1);
    ASSERT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x12345010u);
    EXPECT_EQ(r.input_base, 0x40001000u) << "the top byte is not part of the mapping";
    mem.clear_log();
    r = run(0x1200000040001020ull, 1);
    EXPECT_EQ(r.output_address, 0x12345020u);
    EXPECT_TRUE(mem.log().empty());
    EXPECT_EQ(engine().stats().iotlb.hits, 1u);
}

TEST_F(engine_stage2, translates_an_ipa) {
    setup_s2();
    const auto r = run(k_va + 0x10, 2, k_write);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x12345010u);
    EXPECT_EQ(r.tag.kind, arch::tlb_kind::stage2);
    EXPECT_EQ(r.tag.vmid.value_or(0), 7u);
    // STE, then stage-2 descriptors L1[1] (second concatenated table), L2[0], L3[1].
    ASSERT_EQ(mem.log().size(), 4u);
    EXPECT_EQ(mem.log()[1].pa, 0x800008u);
    EXPECT_EQ(mem.log()[1].why, mem_purpose::walk_s2);
    EXPECT_EQ(mem.log()[2].pa, 0x810000u);
    EXPECT_EQ(mem.log()[3].pa, 0x811008u);
}

TEST_F(engine_nested, translates_through_both_stages) {
    setup_nested();
    const auto r = run(k_va + 0x88, 3, k_write);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x9abc088u);
    EXPECT_EQ(r.tag.kind, arch::tlb_kind::nested);
    EXPECT_EQ(r.tag.asid, 5u);
    EXPECT_EQ(r.tag.vmid.value_or(0), 7u);
    // The CD address is an IPA: stage-2 reads come before the CD read.
    std::size_t cd_index = 0;
    for (std::size_t i = 0; i < mem.log().size(); ++i) {
        if (mem.log()[i].why == mem_purpose::cd)
            cd_index = i;
    }
    ASSERT_EQ(cd_index, 3u);
    EXPECT_EQ(mem.log()[1].why, mem_purpose::walk_s2);
    EXPECT_EQ(mem.log()[2].why, mem_purpose::walk_s2);
    EXPECT_EQ(mem.log()[3].pa, 0x40000u);
    EXPECT_EQ(engine().stats().cd_walks, 1u);
}

TEST_F(engine_nested, tlb_hit_needs_no_memory) {
    setup_nested();
    ASSERT_EQ(run(k_va, 3).response, translation_response::ok);
    mem.clear_log();
    const auto r = run(k_va + 0x4, 3);
    EXPECT_EQ(r.output_address, 0x9abc004u);
    EXPECT_TRUE(mem.log().empty());
}

// ------------------------------------------------------------------ substreams

class substream_setup : public engine_fixture {
protected:
    /// SID 1 with 4 CDs (S1CDMax 2) in a linear table; CD n has ASID 10 + n.
    void setup_table(arch::ste_s1dss dss) {
        arch::ste s = s1_ste();
        s.s1_cd_max = 2;
        s.s1_dss = dss;
        put_ste(1, s);
        for (unsigned n = 0; n < 4; ++n)
            put_cd(k_cd_table + 64 * n, s1_cd(static_cast<arch::asid_t>(10 + n)));
        s1_tables.map(k_va, 3, page_desc(k_pa, k_s1_user_rw));
    }
};

using engine_s1dss = substream_setup;

TEST_F(engine_s1dss, terminate_is_f_stream_disabled) {
    setup_table(arch::ste_s1dss::terminate);
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    expect_only_stream(*r.event, event_id::f_stream_disabled, 1);
    EXPECT_FALSE(r.event->ssv);
}

TEST_F(engine_s1dss, bypass_skips_stage1) {
    setup_table(arch::ste_s1dss::bypass);
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_TRUE(r.bypass);
    EXPECT_EQ(r.output_address, k_va);
    EXPECT_EQ(mem.count(mem_purpose::cd), 0u);
}

TEST_F(engine_s1dss, substream0_uses_cd0_without_ssid) {
    setup_table(arch::ste_s1dss::substream0);
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, k_pa);
    EXPECT_EQ(r.tag.asid, 10u);
}

TEST_F(engine_s1dss, substream0_terminates_ssid_0) {
    setup_table(arch::ste_s1dss::substream0);
    const auto r = run(k_va, 1, k_read, 0);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_stream_disabled);
}

class engine_ssid : public substream_setup {};

TEST_F(engine_ssid, selects_its_cd) {
    setup_table(arch::ste_s1dss::terminate);
    const auto r = run(k_va, 1, k_read, 3);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.tag.asid, 13u);
    EXPECT_EQ(mem.log()[1].pa, 0x400c0u);
}

TEST_F(engine_ssid, different_asids_do_not_share_tlb_entries) {
    setup_table(arch::ste_s1dss::terminate);
    ASSERT_EQ(run(k_va, 1, k_read, 1).tag.asid, 11u);
    mem.clear_log();
    const auto r = run(k_va, 1, k_read, 2);
    EXPECT_EQ(r.tag.asid, 12u);
    EXPECT_EQ(engine().stats().iotlb.misses, 2u);
    EXPECT_EQ(mem.count(mem_purpose::walk_s1), 3u) << "the walk cache is ASID-tagged too";
}

TEST_F(engine_ssid, beyond_s1cdmax_is_c_bad_substreamid) {
    setup_table(arch::ste_s1dss::terminate);
    const auto r = run(k_va, 1, k_read, 4);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_substreamid);
    EXPECT_EQ(r.event->sid, 1u);
    EXPECT_EQ(r.event->ssid, 4u);
    EXPECT_FALSE(r.event->ssv);
}

TEST_F(engine_ssid, without_stage1_is_c_bad_substreamid) {
    setup_s2();
    const auto r = run(k_va, 2, k_read, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_substreamid);
    EXPECT_EQ(r.event->ssid, 1u);
}

TEST_F(engine_ssid, with_substreams_disabled_is_c_bad_substreamid) {
    setup_s1(); // S1CDMax = 0
    const auto r = run(k_va, 1, k_read, 0);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_substreamid);
    EXPECT_EQ(mem.count(mem_purpose::cd), 0u);
}

// ------------------------------------------------------------------ CD tables

TEST_F(engine_cd_table, two_level_4k_leaf) {
    arch::ste s = s1_ste();
    s.s1_context_ptr = k_l1_cd;
    s.s1_fmt = arch::cd_table_format::two_level_4k;
    s.s1_cd_max = 8;
    put_ste(1, s);
    mem.write64(k_l1_cd + 8, arch::encode_l1cd({true, k_l2_cd})); // SSID[7:6] == 1
    put_cd(0x601c0, s1_cd(0x47));                                 // SSID[5:0] == 7
    s1_tables.map(k_va, 3, page_desc(k_pa, k_s1_user_rw));
    const auto r = run(k_va, 1, k_read, 0x47);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.tag.asid, 0x47u);
    EXPECT_EQ(mem.log()[1].pa, 0x50008u);
    EXPECT_EQ(mem.log()[1].why, mem_purpose::l1cd);
    EXPECT_EQ(mem.log()[2].pa, 0x601c0u);
}

TEST_F(engine_cd_table, invalid_l1cd_is_c_bad_substreamid) {
    arch::ste s = s1_ste();
    s.s1_context_ptr = k_l1_cd;
    s.s1_fmt = arch::cd_table_format::two_level_4k;
    s.s1_cd_max = 8;
    put_ste(1, s);
    mem.write64(k_l1_cd + 8, arch::encode_l1cd({false, k_l2_cd}));
    const auto r = run(k_va, 1, k_read, 0x47);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_substreamid);
    EXPECT_EQ(r.event->ssid, 0x47u);
}

TEST_F(engine_cd_table, cd_fetch_abort_is_f_cd_fetch) {
    setup_s1();
    mem.abort_range(k_cd_table, 64);
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_cd_fetch);
    EXPECT_EQ(r.event->sid, 1u);
    EXPECT_EQ(r.event->fetch_addr, 0x40000u);
    EXPECT_EQ(engine().config().cd_count(), 0u);
}

TEST_F(engine_cd_table, cd_not_valid_is_c_bad_cd) {
    setup_s1();
    put_cd(k_cd_table, arch::cd{});
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    expect_only_stream(*r.event, event_id::c_bad_cd, 1);
}

TEST_F(engine_cd_table, illegal_cd_is_c_bad_cd_and_not_cached) {
    setup_s1();
    arch::cd c = s1_cd();
    c.tg0 = arch::tg0_encoding::reserved;
    put_cd(k_cd_table, c);
    auto r = run(k_va, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_cd);
    r = run(k_va, 1);
    EXPECT_EQ(mem.count(mem_purpose::cd), 2u);
    EXPECT_EQ(engine().config().cd_count(), 0u);
}

// ------------------------------------------------------------------ translation faults

TEST_F(engine_faults, translation_fault_event_fields) {
    setup_s1();
    const auto r = run(0x40002468, 1, arch::access_kind{false, true, true}); // unmapped
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    const arch::event_record& e = *r.event;
    EXPECT_EQ(e.id, event_id::f_translation);
    EXPECT_EQ(e.sid, 1u);
    EXPECT_FALSE(e.ssv);
    EXPECT_EQ(e.input_addr, 0x40002468u);
    EXPECT_TRUE(e.rnw);
    EXPECT_TRUE(e.ind);
    EXPECT_TRUE(e.pnu);
    EXPECT_FALSE(e.s2);
    EXPECT_EQ(e.cls, fault_class::in);
    EXPECT_EQ(engine().stats().faults[0x10], 1u);
}

TEST_F(engine_faults, translation_fault_with_substream) {
    arch::ste s = s1_ste();
    s.s1_cd_max = 1;
    put_ste(1, s);
    put_cd(k_cd_table + 64, s1_cd());
    const auto r = run(0x3000, 1, k_write, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_TRUE(r.event->ssv);
    EXPECT_EQ(r.event->ssid, 1u);
    EXPECT_FALSE(r.event->rnw);
}

TEST_F(engine_faults, access_flag_fault) {
    setup_s1(s1_ste(), k_ap_el0 | k_ng); // AF = 0
    const auto r = run(k_va, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_access);
    EXPECT_EQ(r.response, translation_response::abort);
}

TEST_F(engine_faults, address_size_fault) {
    put_ste(1, s1_ste());
    arch::cd c = s1_cd();
    c.ips = arch::pa_size_encoding::bits_40;
    put_cd(k_cd_table, c);
    s1_tables.map(k_va, 3, page_desc(0x10000000000ull, k_s1_user_rw)); // PA bit 40
    const auto r = run(k_va, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_addr_size);
    EXPECT_FALSE(r.event->s2);
}

TEST_F(engine_faults, permission_fault_is_permission_denied) {
    setup_s1(s1_ste(), k_s1_user_rw | k_ap_ro);
    const auto r = run(k_va + 8, 1, k_write);
    EXPECT_EQ(r.response, translation_response::permission_denied);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_permission);
    EXPECT_EQ(r.event->input_addr, 0x40001008u);
    EXPECT_FALSE(r.event->rnw);
    EXPECT_FALSE(r.event->s2);
    EXPECT_EQ(r.event->cls, fault_class::in);
}

TEST_F(engine_faults, permission_faulting_translation_is_cached) {
    setup_s1(s1_ste(), k_s1_user_rw | k_ap_ro);
    ASSERT_EQ(run(k_va, 1, k_write).response, translation_response::permission_denied);
    EXPECT_EQ(engine().tlb().size(), 1u);
    mem.clear_log();
    // A second write faults from the IOTLB; a read is served from it.
    auto r = run(k_va, 1, k_write);
    EXPECT_EQ(r.response, translation_response::permission_denied);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_permission);
    r = run(k_va, 1, k_read);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_TRUE(mem.log().empty());
    EXPECT_EQ(engine().stats().walks, 1u);
}

TEST_F(engine_faults, faulting_translations_are_not_cached) {
    put_ste(1, s1_ste());
    put_cd(k_cd_table, s1_cd());
    auto r = run(k_va, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_EQ(engine().tlb().size(), 0u);
    s1_tables.map(k_va, 3, page_desc(k_pa, k_s1_user_rw));
    r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::ok) << "no TLBI needed after a fault";
    EXPECT_EQ(r.output_address, k_pa);
}

TEST_F(engine_faults, walk_external_abort) {
    setup_s1();
    mem.abort_range(k_s1_l2_desc, 8);
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_walk_eabt);
    EXPECT_EQ(r.event->fetch_addr, 0x101000u);
    EXPECT_EQ(r.event->cls, fault_class::tt);
    EXPECT_FALSE(r.event->s2);
    EXPECT_EQ(r.event->input_addr, k_va);
}

TEST_F(engine_faults, walk_external_abort_is_recorded_even_without_cd_r) {
    arch::cd c = s1_cd();
    c.r = false;
    setup_s1();
    put_cd(k_cd_table, c);
    mem.abort_range(k_s1_l2_desc, 8);
    const auto r = run(k_va, 1);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_walk_eabt);
}

TEST_F(engine_faults, stage2_translation_fault) {
    setup_s2();
    const auto r = run(0x50000010, 2, k_write); // unmapped IPA
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_TRUE(r.event->s2);
    EXPECT_EQ(r.event->cls, fault_class::in);
    EXPECT_EQ(r.event->ipa, 0x50000010u);
    EXPECT_EQ(r.event->input_addr, 0x50000010u);
}

TEST_F(engine_faults, stage2_fault_without_s2r_is_not_recorded) {
    arch::ste s = s2_ste();
    s.s2_r = false;
    setup_s2(s);
    const auto r = run(0x50000010, 2);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
    EXPECT_EQ(engine().stats().faults[0x10], 1u) << "detected, not recorded";
}

TEST_F(engine_faults, stage2_permission_fault_reports_the_ipa) {
    setup_s2(s2_ste(), k_af | k_s2ap_r | k_memattr_wb);
    const auto r = run(k_va + 0x20, 2, k_write);
    EXPECT_EQ(r.response, translation_response::permission_denied);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_permission);
    EXPECT_TRUE(r.event->s2);
    EXPECT_EQ(r.event->ipa, 0x40001020u);
}

TEST_F(engine_faults, nested_stage2_fault_on_a_stage1_table_is_class_tt) {
    put_ste(3, nested_ste());
    put_cd(k_cd_table, s1_cd());
    // Stage 2 maps the CD page and the stage-1 root, not the level-2 table at IPA 0x101000.
    s2_tables.map(0x40000, 3, page_desc(0x40000, k_s2_rw));
    s2_tables.map(k_s1_root, 3, page_desc(k_s1_root, k_s2_rw));
    s1_tables.map(k_va, 3, page_desc(k_ipa, k_s1_user_rw));
    const auto r = run(k_va, 3);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_TRUE(r.event->s2);
    EXPECT_EQ(r.event->cls, fault_class::tt);
    EXPECT_EQ(r.event->ipa, 0x101000u); // the level-2 table IPA
}

TEST_F(engine_faults, nested_stage2_fault_on_the_cd_fetch_is_class_cd) {
    put_ste(3, nested_ste());
    put_cd(k_cd_table, s1_cd());
    const auto r = run(k_va, 3);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_TRUE(r.event->s2);
    EXPECT_EQ(r.event->cls, fault_class::cd);
    EXPECT_EQ(r.event->ipa, 0x40000u);
    EXPECT_EQ(mem.count(mem_purpose::cd), 0u);
}

TEST_F(engine_faults, nested_stage2_fault_on_the_cd_fetch_records_the_transaction) {
    // InputAddr, RnW, PnU and InD are the transaction's, not those of the CD read.
    put_ste(3, nested_ste());
    put_cd(k_cd_table, s1_cd());
    const auto r = run(k_va + 0x30, 3, k_write);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->cls, fault_class::cd);
    EXPECT_EQ(r.event->ipa, 0x40000u);
    EXPECT_EQ(r.event->input_addr, 0x40001030u);
    EXPECT_FALSE(r.event->rnw);
    EXPECT_FALSE(r.event->pnu);
    EXPECT_FALSE(r.event->ind);
}

TEST_F(engine_faults, cd_r_0_does_not_record) {
    arch::cd c = s1_cd();
    c.r = false;
    put_ste(1, s1_ste());
    put_cd(k_cd_table, c);
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_faults, cd_a_0_terminates_with_raz_wi) {
    arch::cd c = s1_cd();
    c.a = false;
    c.r = false;
    put_ste(1, s1_ste());
    put_cd(k_cd_table, c);
    auto r = run(k_va, 1, k_write);
    EXPECT_EQ(r.response, translation_response::raz_wi);
    EXPECT_FALSE(r.event);
    c.r = true;
    put_cd(k_cd_table, c);
    engine().invalidate(arch::make_cfgi_cd(1, 0, true), cfg);
    r = run(k_va, 1, k_write);
    EXPECT_EQ(r.response, translation_response::raz_wi);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
}

// ------------------------------------------------------------------ translated traffic (§7.3)

translation_request translated(std::uint64_t addr, arch::stream_id sid, bool write = false) {
    translation_request r = make_req(addr, sid, arch::access_kind{write, true, true}, 3);
    r.kind = request_kind::translated;
    return r;
}

TEST_F(engine_translated, smmuen_0_is_f_transl_forbidden) {
    cfg.smmuen = false;
    const auto r = run(translated(0x9000, 1, true));
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_transl_forbidden);
    EXPECT_EQ(r.event->sid, 1u);
    EXPECT_EQ(r.event->input_addr, 0x9000u);
    EXPECT_FALSE(r.event->rnw);
    EXPECT_FALSE(r.event->ssv);
}

TEST_F(engine_translated, atschk_0_passes_without_an_ste_lookup) {
    const auto r = run(translated(0x9000, 1));
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_TRUE(r.bypass);
    EXPECT_EQ(r.output_address, 0x9000u);
    EXPECT_TRUE(mem.log().empty());
    const auto beyond = run(translated(0x1000000000000ull, 1));
    EXPECT_EQ(beyond.response, translation_response::abort);
    EXPECT_FALSE(beyond.event);
}

TEST_F(engine_translated, atschk_1_eats_abort_is_f_transl_forbidden) {
    cfg.atschk = true;
    setup_s1(); // EATS = 0b00
    const auto r = run(translated(0x9000, 1));
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_transl_forbidden);
    EXPECT_TRUE(r.event->rnw);
}

TEST_F(engine_translated, atschk_1_bypass_ste_is_f_transl_forbidden) {
    cfg.atschk = true;
    arch::ste s = base_ste(arch::ste_config::bypass);
    s.eats = arch::ste_eats::full;
    put_ste(4, s);
    const auto r = run(translated(0x9000, 4));
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_transl_forbidden);
}

TEST_F(engine_translated, atschk_1_full_ats_passes_through) {
    cfg.atschk = true;
    arch::ste s = s1_ste();
    s.eats = arch::ste_eats::full;
    setup_s1(s);
    const auto r = run(translated(0x9000, 1));
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x9000u);
    EXPECT_EQ(mem.count(mem_purpose::cd), 0u);
}

TEST_F(engine_translated, atschk_1_split_stage_translates_the_ipa_by_stage2) {
    params.features.ns1ats = false;
    cfg.atschk = true;
    arch::ste s = nested_ste();
    s.eats = arch::ste_eats::split;
    setup_nested(s);
    auto r = run(translated(k_ipa + 0x10, 3));
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x9abc010u);
    EXPECT_EQ(r.tag.kind, arch::tlb_kind::stage2);
    EXPECT_EQ(mem.count(mem_purpose::cd), 0u);
    // Stage-2 faults are recorded normally (S2R = 1), with SSV = 0.
    r = run(translated(0x50000000, 3, true));
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_TRUE(r.event->s2);
    EXPECT_FALSE(r.event->ssv);
    EXPECT_FALSE(r.event->pnu) << "translated traffic is PnU = 0";
    EXPECT_FALSE(r.event->ind);
}

TEST_F(engine_translated, atschk_1_invalid_ste_records_only_with_rec_cfg_ats) {
    cfg.atschk = true;
    put_ste(4, arch::ste{});
    auto r = run(translated(0x9000, 4));
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
    cfg.rec_cfg_ats = true;
    r = run(translated(0x9000, 4));
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_ste);
}

TEST_F(engine_translated, atschk_1_config_abort_is_silent) {
    cfg.atschk = true;
    cfg.rec_cfg_ats = true;
    put_ste(4, base_ste(arch::ste_config::abort));
    const auto r = run(translated(0x9000, 4));
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
}

// ------------------------------------------------------------------ ATS Translation Requests
// (§7.2)

class ats_setup : public engine_fixture {
protected:
    /// SID 1: stage 1 with full ATS.
    void setup_ats_s1(std::uint64_t attrs = k_s1_user_rw) {
        arch::ste s = s1_ste();
        s.eats = arch::ste_eats::full;
        setup_s1(s, attrs);
    }
};

class engine_ats_status : public ats_setup {};
class engine_ats_success : public ats_setup {};

TEST_F(engine_ats_status, no_ats_in_idr0_is_ur) {
    params.features.ats = false;
    setup_ats_s1();
    const auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::unsupported_request);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_ats_status, smmuen_0_is_ur_with_f_bad_ats_treq) {
    cfg.smmuen = false;
    ats_request q = make_ats(0x40001234, 1, 2);
    q.no_write = true;
    q.exec = true;
    q.priv = true;
    const auto r = ats(q);
    EXPECT_EQ(r.status, ats_status::unsupported_request);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_bad_ats_treq);
    EXPECT_EQ(r.event->sid, 1u);
    EXPECT_TRUE(r.event->ssv);
    EXPECT_EQ(r.event->ssid, 2u);
    EXPECT_EQ(r.event->input_addr, 0x40001234u);
    EXPECT_TRUE(r.event->ats.read);
    EXPECT_FALSE(r.event->ats.write);
    EXPECT_TRUE(r.event->ats.exec);
    EXPECT_TRUE(r.event->ats.priv);
}

TEST_F(engine_ats_status, bypass_ste_is_ur_with_f_bad_ats_treq) {
    arch::ste s = base_ste(arch::ste_config::bypass);
    s.eats = arch::ste_eats::full;
    put_ste(4, s);
    const auto r = ats(make_ats(k_va, 4));
    EXPECT_EQ(r.status, ats_status::unsupported_request);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_bad_ats_treq);
}

TEST_F(engine_ats_status, eats_abort_is_ur_with_f_bad_ats_treq) {
    setup_s1(); // EATS = 0b00
    const auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::unsupported_request);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_bad_ats_treq);
}

TEST_F(engine_ats_status, split_stage_with_atschk_0_is_ur) {
    params.features.ns1ats = false;
    arch::ste s = nested_ste();
    s.eats = arch::ste_eats::split;
    setup_nested(s);
    const auto r = ats(make_ats(k_va, 3));
    EXPECT_EQ(r.status, ats_status::unsupported_request);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_bad_ats_treq);
}

TEST_F(engine_ats_status, config_abort_is_ur_without_an_event) {
    cfg.rec_cfg_ats = true;
    put_ste(4, base_ste(arch::ste_config::abort));
    const auto r = ats(make_ats(k_va, 4));
    EXPECT_EQ(r.status, ats_status::unsupported_request);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_ats_status, ste_not_valid_is_ca_without_an_event) {
    cfg.rec_cfg_ats = true;
    put_ste(4, arch::ste{});
    const auto r = ats(make_ats(k_va, 4));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_ats_status, bad_streamid_is_ca_recorded_only_with_rec_cfg_ats) {
    cfg.recinvsid = true;
    auto r = ats(make_ats(k_va, 300));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    EXPECT_FALSE(r.event);
    cfg.rec_cfg_ats = true;
    r = ats(make_ats(k_va, 300));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_streamid);
}

TEST_F(engine_ats_status, ste_fetch_abort_is_ca) {
    cfg.rec_cfg_ats = true;
    mem.abort_range(k_strtab + 64, 64);
    const auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_ste_fetch);
}

TEST_F(engine_ats_status, illegal_ste_is_ca) {
    cfg.rec_cfg_ats = true;
    arch::ste s = s1_ste();
    s.eats = arch::ste_eats::full;
    s.strw = arch::ste_strw::reserved_3;
    put_ste(1, s);
    const auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_ste);
}

TEST_F(engine_ats_status, substream_errors_are_ca) {
    arch::ste s = s1_ste();
    s.eats = arch::ste_eats::full;
    s.s1_cd_max = 1;
    put_ste(1, s);
    put_cd(k_cd_table, s1_cd());
    auto r = ats(make_ats(k_va, 1, 2)); // PASID beyond S1CDMax
    EXPECT_EQ(r.status, ats_status::completer_abort);
    EXPECT_FALSE(r.event) << "REC_CFG_ATS = 0";
    cfg.rec_cfg_ats = true;
    r = ats(make_ats(k_va, 1, 2));
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_substreamid);
    r = ats(make_ats(k_va, 1)); // no PASID, S1DSS = terminate
    EXPECT_EQ(r.status, ats_status::completer_abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_stream_disabled);
}

TEST_F(engine_ats_status, cd_errors_are_ca) {
    cfg.rec_cfg_ats = true;
    setup_ats_s1();
    mem.abort_range(k_cd_table, 64);
    auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_cd_fetch);
    mem.clear_aborts();
    put_cd(k_cd_table, arch::cd{});
    r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_cd);
}

TEST_F(engine_ats_status, walk_external_abort_is_ca) {
    setup_ats_s1();
    mem.abort_range(k_s1_l3_desc, 8);
    auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::completer_abort);
    EXPECT_FALSE(r.event);
    cfg.rec_cfg_ats = true;
    r = ats(make_ats(k_va, 1));
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::f_walk_eabt);
}

TEST_F(engine_ats_status, translation_faults_succeed_without_access) {
    cfg.rec_cfg_ats = true;
    setup_ats_s1();
    for (std::uint64_t addr : {0x40005000ull, 0x8000000000ull}) { // unmapped; beyond T0SZ
        const auto r = ats(make_ats(addr, 1));
        EXPECT_EQ(r.status, ats_status::success) << addr;
        EXPECT_FALSE(r.read);
        EXPECT_FALSE(r.write);
        EXPECT_FALSE(r.event);
    }
}

TEST_F(engine_ats_status, access_and_address_size_faults_succeed_without_access) {
    arch::ste s = s1_ste();
    s.eats = arch::ste_eats::full;
    put_ste(1, s);
    arch::cd c = s1_cd();
    c.ips = arch::pa_size_encoding::bits_40;
    put_cd(k_cd_table, c);
    s1_tables.map(k_va, 3, page_desc(k_pa, k_ap_el0 | k_ng));                   // AF = 0
    s1_tables.map(k_va + 0x1000, 3, page_desc(0x10000000000ull, k_s1_user_rw)); // beyond IPS
    for (std::uint64_t addr : {k_va, k_va + 0x1000}) {
        const auto r = ats(make_ats(addr, 1));
        EXPECT_EQ(r.status, ats_status::success);
        EXPECT_FALSE(r.read);
        EXPECT_FALSE(r.write);
        EXPECT_FALSE(r.event);
    }
    EXPECT_EQ(engine().stats().faults[0x12], 1u);
    EXPECT_EQ(engine().stats().faults[0x11], 1u);
}

TEST_F(engine_ats_status, stage2_fault_on_the_cd_fetch_succeeds_without_access) {
    arch::ste s = nested_ste();
    s.eats = arch::ste_eats::full;
    put_ste(3, s);
    put_cd(k_cd_table, s1_cd()); // CD IPA unmapped at stage 2
    const auto r = ats(make_ats(k_va, 3));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_FALSE(r.read);
    EXPECT_FALSE(r.write);
}

TEST_F(engine_ats_success, read_write_mapping) {
    setup_ats_s1();
    const auto r = ats(make_ats(k_va + 0x123, 1));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_EQ(r.translated_address, 0x12345000u);
    EXPECT_EQ(r.size_log2, 12u);
    EXPECT_TRUE(r.read);
    EXPECT_TRUE(r.write);
    EXPECT_FALSE(r.exec) << "not requested";
    EXPECT_FALSE(r.priv);
    EXPECT_FALSE(r.global) << "nG = 1";
    EXPECT_FALSE(r.event);
}

TEST_F(engine_ats_success, permission_fault_grants_the_permitted_subset) {
    setup_ats_s1(k_s1_user_rw | k_ap_ro);
    const auto r = ats(make_ats(k_va, 1)); // NW = 0: write requested
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_TRUE(r.read);
    EXPECT_FALSE(r.write);
    EXPECT_FALSE(r.event);
}

TEST_F(engine_ats_success, privileged_only_page_is_no_access_without_pasid) {
    setup_ats_s1(k_af | k_ng); // EL1 only; without a PASID the request is unprivileged
    const auto r = ats(make_ats(k_va, 1));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_FALSE(r.read);
    EXPECT_FALSE(r.write);
}

TEST_F(engine_ats_success, writable_page_grants_write_even_with_nw) {
    setup_ats_s1();
    ats_request q = make_ats(k_va, 1);
    q.no_write = true;
    const auto r = ats(q);
    EXPECT_TRUE(r.read);
    EXPECT_TRUE(r.write) << "without HTTU a writable page is writable-dirty";
}

TEST_F(engine_ats_success, global_mapping_without_pasid) {
    setup_ats_s1(k_af | k_ap_el0); // nG = 0
    const auto r = ats(make_ats(k_va, 1));
    EXPECT_TRUE(r.read);
    EXPECT_TRUE(r.global);
}

TEST_F(engine_ats_success, pasid_request_with_exec_and_priv) {
    arch::ste s = s1_ste();
    s.eats = arch::ste_eats::full;
    s.s1_cd_max = 1;
    put_ste(1, s);
    put_cd(k_cd_table + 64, s1_cd());
    s1_tables.map(k_va, 3, page_desc(k_pa, k_af | k_ap_el0)); // global, user RWX
    ats_request q = make_ats(k_va, 1, 1);
    q.exec = true;
    auto r = ats(q);
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_TRUE(r.read);
    EXPECT_TRUE(r.exec);
    EXPECT_FALSE(r.priv);
    EXPECT_FALSE(r.global) << "always 0 with a PASID";
    q.priv = true; // EL0-writable: never privileged-executable
    r = ats(q);
    EXPECT_TRUE(r.priv);
    EXPECT_TRUE(r.read);
    EXPECT_FALSE(r.exec);
}

TEST_F(engine_ats_success, s1dss_bypass_is_an_identity_map) {
    arch::ste s = s1_ste();
    s.eats = arch::ste_eats::full;
    s.s1_cd_max = 1;
    s.s1_dss = arch::ste_s1dss::bypass;
    put_ste(1, s);
    const auto r = ats(make_ats(0x40001234, 1));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_EQ(r.translated_address, 0x40001000u);
    EXPECT_EQ(r.size_log2, 12u);
    EXPECT_TRUE(r.read);
    EXPECT_TRUE(r.write);
}

TEST_F(engine_ats_success, stage2_only) {
    arch::ste s = s2_ste();
    s.eats = arch::ste_eats::full;
    setup_s2(s);
    const auto r = ats(make_ats(k_va, 2));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_EQ(r.translated_address, k_pa);
    EXPECT_TRUE(r.write);
}

TEST_F(engine_ats_success, nested_full_ats_returns_the_pa) {
    arch::ste s = nested_ste();
    s.eats = arch::ste_eats::full;
    setup_nested(s);
    const auto r = ats(make_ats(k_va, 3));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_EQ(r.translated_address, k_nested_pa);
}

TEST_F(engine_ats_success, split_stage_returns_the_ipa) {
    params.features.ns1ats = false;
    cfg.atschk = true;
    arch::ste s = nested_ste();
    s.eats = arch::ste_eats::split;
    setup_nested(s);
    s2_tables.map(k_ipa, 3, 0); // the IPA need not be mapped at stage 2
    auto r = ats(make_ats(k_va, 3));
    EXPECT_EQ(r.status, ats_status::success);
    EXPECT_EQ(r.translated_address, k_ipa);
    EXPECT_TRUE(r.read);
    EXPECT_TRUE(r.write);
    EXPECT_EQ(engine().tlb().size(), 0u) << "split-stage results do not fill the IOTLB";
}

TEST_F(engine_ats_success, split_stage_is_served_from_a_nested_tlb_entry) {
    params.features.ns1ats = false;
    cfg.atschk = true;
    arch::ste s = nested_ste();
    s.eats = arch::ste_eats::split;
    s.s2_r = true;
    setup_nested(s);
    s2_tables.map(k_ipa, 3, page_desc(k_nested_pa, k_af | k_s2ap_r | k_memattr_wb)); // S2 RO
    ASSERT_EQ(run(k_va, 3).response, translation_response::ok); // fills a nested entry
    mem.clear_log();
    const auto r = ats(make_ats(k_va, 3));
    EXPECT_EQ(r.translated_address, k_ipa);
    EXPECT_TRUE(r.write) << "stage-2 permissions do not apply to the IPA";
    EXPECT_TRUE(mem.log().empty());
}

TEST_F(engine_ats_success, ats_fills_the_iotlb) {
    setup_ats_s1();
    ASSERT_EQ(ats(make_ats(k_va, 1)).status, ats_status::success);
    mem.clear_log();
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.output_address, k_pa);
    EXPECT_TRUE(mem.log().empty());
    EXPECT_EQ(engine().stats().ats_requests, 1u);
    EXPECT_EQ(engine().stats().ats_completions[0], 1u);
}

// ------------------------------------------------------------------ debug requests

TEST_F(engine_debug, leaves_caches_statistics_and_time_untouched) {
    setup_s1();
    translation_request q = make_req(k_va + 4, 1);
    q.debug = true;
    const auto r = run(q);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, 0x12345004u);
    EXPECT_EQ(now, k_start);
    EXPECT_EQ(engine().config().ste_count(), 0u);
    EXPECT_EQ(engine().config().cd_count(), 0u);
    EXPECT_EQ(engine().tlb().size(), 0u);
    EXPECT_EQ(engine().walks().size(), 0u);
    EXPECT_EQ(engine().stats().translations, 0u);
    EXPECT_EQ(engine().stats().iotlb.lookups, 0u);
    EXPECT_EQ(engine().stats().walks, 0u);
    EXPECT_EQ(engine().stats().latency.count(), 0u);
    EXPECT_EQ(engine().walk_slots().stats().acquisitions, 0u);
    ASSERT_EQ(mem.log().size(), 5u);
    for (const auto& a : mem.log())
        EXPECT_TRUE(a.debug);
}

TEST_F(engine_debug, faults_produce_no_event) {
    setup_s1();
    translation_request q = make_req(0x40005000, 1, k_write);
    q.debug = true;
    const auto r = run(q);
    EXPECT_EQ(r.response, translation_response::abort);
    EXPECT_FALSE(r.event);
    EXPECT_EQ(engine().stats().faults[0x10], 0u);
    EXPECT_EQ(engine().stats().events, 0u);
    q.sid = 300; // C_BAD_STREAMID
    cfg.recinvsid = true;
    EXPECT_FALSE(run(q).event);
}

TEST_F(engine_debug, uses_cached_entries_without_touching_them) {
    setup_s1();
    ASSERT_EQ(run(k_va, 1).response, translation_response::ok);
    const auto before = engine().tlb().stats();
    mem.clear_log();
    translation_request q = make_req(k_va, 1);
    q.debug = true;
    EXPECT_EQ(run(q).output_address, k_pa);
    EXPECT_TRUE(mem.log().empty());
    EXPECT_EQ(engine().tlb().stats().lookups, before.lookups);
}

// ------------------------------------------------------------------ timing

TEST_F(engine_timing, miss_then_hit_cost_exactly_the_configured_cycles) {
    setup_s1();
    auto r = run(k_va, 1);
    ASSERT_EQ(r.response, translation_response::ok);
    // STE lookup 3 + read 10, CD lookup 3 + read 10, IOTLB 3, walk cache 4,
    // 3 descriptors x (10 + 2): 69 cycles.
    EXPECT_EQ(now, k_start + 69'000);
    EXPECT_EQ(r.cost.lookup_cycles, 13u);
    EXPECT_EQ(r.cost.walk_step_cycles, 6u);
    EXPECT_EQ(r.cost.memory_accesses, 5u);
    EXPECT_EQ(r.cost.memory_time, 50'000u);
    EXPECT_EQ(r.cost.slot_wait, 0u);

    const time_ps t = now;
    r = run(k_va + 0x10, 1);
    EXPECT_EQ(now, t + 9'000) << "STE, CD and IOTLB hits: 3 + 3 + 3 cycles";
    EXPECT_EQ(r.cost.lookup_cycles, 9u);
    EXPECT_EQ(r.cost.memory_accesses, 0u);
}

TEST_F(engine_timing, walk_cache_hit_reads_only_the_leaf) {
    setup_s1();
    s1_tables.map(k_va + 0x1000, 3, page_desc(0x55555000, k_s1_user_rw));
    run(k_va, 1);
    const time_ps t = now;
    mem.clear_log();
    const auto r = run(k_va + 0x1000, 1);
    EXPECT_EQ(r.output_address, 0x55555000u);
    EXPECT_EQ(now, t + 25'000) << "3 + 3 + 3 lookups, walk cache 4, one descriptor 10 + 2";
    ASSERT_EQ(mem.log().size(), 1u);
    EXPECT_EQ(mem.log()[0].pa, 0x102010u);
    EXPECT_EQ(engine().stats().walk_cache.hits, 1u);
}

TEST_F(engine_timing, stage2_hit) {
    setup_s2();
    run(k_va, 2);
    const time_ps t = now;
    run(k_va, 2);
    EXPECT_EQ(now, t + 6'000) << "STE and IOTLB lookups only";
}

TEST_F(engine_timing, functional_mode_takes_no_time) {
    params.mode = timing_mode::functional;
    setup_s1();
    const auto r = run(k_va, 1);
    EXPECT_EQ(r.output_address, k_pa);
    // The fake memory still charges its latency: 5 accesses.
    EXPECT_EQ(now, k_start + 50'000);
    EXPECT_EQ(r.cost.lookup_cycles, 13u);
}

TEST_F(engine_timing, a_miss_waits_for_the_only_walk_slot) {
    params.tcu_walk_slots = 1;
    setup_s1();
    s1_tables.map(k_va + 0x1000, 3, page_desc(0x55555000, k_s1_user_rw));
    time_ps t1 = k_start;
    engine().translate(make_req(k_va, 1), cfg, t1);
    EXPECT_EQ(t1, k_start + 69'000);
    time_ps t2 = k_start;
    const auto r = engine().translate(make_req(k_va + 0x1000, 1), cfg, t2);
    // Lookups until k_start + 9'000, then the slot is free at k_start + 69'000;
    // walk cache 4 and one descriptor 12 follow.
    EXPECT_EQ(r.cost.slot_wait, 60'000u);
    EXPECT_EQ(t2, k_start + 85'000);
    EXPECT_EQ(engine().stats().walk_slot_waits, 1u);
    EXPECT_EQ(engine().stats().walk_slot_stall, 60'000u);
}

TEST_F(engine_timing, two_walk_slots_do_not_wait) {
    params.tcu_walk_slots = 2;
    setup_s1();
    s1_tables.map(k_va + 0x1000, 3, page_desc(0x55555000, k_s1_user_rw));
    time_ps t1 = k_start;
    engine().translate(make_req(k_va, 1), cfg, t1);
    time_ps t2 = k_start;
    const auto r = engine().translate(make_req(k_va + 0x1000, 1), cfg, t2);
    EXPECT_EQ(r.cost.slot_wait, 0u);
    EXPECT_EQ(t2, k_start + 25'000);
    EXPECT_EQ(engine().stats().walk_slot_waits, 0u);
}

TEST_F(engine_timing, hits_take_no_walk_slot) {
    params.tcu_walk_slots = 1;
    setup_s1();
    time_ps t1 = k_start;
    engine().translate(make_req(k_va, 1), cfg, t1);
    time_ps t2 = k_start;
    engine().translate(make_req(k_va, 1), cfg, t2);
    EXPECT_EQ(t2, k_start + 9'000);
}

// ------------------------------------------------------------------ invalidation

TEST_F(engine_invalidation, tlbi_by_va_makes_the_next_translation_walk) {
    setup_s1();
    run(k_va, 1);
    const auto cost = engine().invalidate(arch::make_tlbi_nh_va(0, k_asid, k_va, true), cfg);
    EXPECT_EQ(cost.effect.tlb, 1u);
    EXPECT_EQ(cost.effect.walk, 0u) << "Leaf = 1 keeps the walk cache";
    EXPECT_EQ(cost.probes, 1u);
    EXPECT_EQ(cost.cycles, 61u) << "60 + 1 probe";
    EXPECT_EQ(cost.time, 61'000u);
    mem.clear_log();
    run(k_va, 1);
    EXPECT_EQ(engine().stats().walks, 2u);
    EXPECT_EQ(mem.log().size(), 1u) << "the walk cache still holds the level-2 table";
}

TEST_F(engine_invalidation, non_leaf_tlbi_also_probes_the_walk_cache) {
    setup_s1();
    run(k_va, 1);
    const auto cost = engine().invalidate(arch::make_tlbi_nh_va(0, k_asid, k_va, false), cfg);
    EXPECT_EQ(cost.effect.tlb, 1u);
    EXPECT_EQ(cost.effect.walk, 2u);
    EXPECT_EQ(cost.cycles, 125u) << "60 + 1 IOTLB probe + 64 walk-cache sets";
    mem.clear_log();
    run(k_va, 1);
    EXPECT_EQ(mem.log().size(), 3u);
}

TEST_F(engine_invalidation, tlbi_by_context_scans_both_structures) {
    const auto cost = engine().invalidate(arch::make_tlbi_nh_all(0), cfg);
    EXPECT_EQ(cost.probes, 576u) << "512 IOTLB sets + 64 walk-cache sets";
    EXPECT_EQ(cost.cycles, 636u);
}

TEST_F(engine_invalidation, tlbi_asid_and_tlb_holds_asid) {
    setup_s1();
    run(k_va, 1);
    EXPECT_TRUE(engine().tlb_holds_asid(std::nullopt, k_asid));
    EXPECT_TRUE(engine().tlb_holds_asid(0, k_asid));
    EXPECT_FALSE(engine().tlb_holds_asid(0, 6));
    EXPECT_TRUE(engine().walk_cache_holds_asid(std::nullopt, k_asid));
    engine().invalidate(arch::make_tlbi_nh_asid(0, 6), cfg);
    EXPECT_TRUE(engine().tlb_holds_asid(0, k_asid));
    engine().invalidate(arch::make_tlbi_nh_asid(0, k_asid), cfg);
    EXPECT_FALSE(engine().tlb_holds_asid(std::nullopt, k_asid));
    EXPECT_FALSE(engine().walk_cache_holds_asid(std::nullopt, k_asid));
    EXPECT_EQ(engine().tlb().size(), 0u) << "the probe did not remove anything itself";
}

TEST_F(engine_invalidation, tlb_holds_asid_does_not_change_the_tlb) {
    setup_s1();
    run(k_va, 1);
    EXPECT_TRUE(engine().tlb_holds_asid(std::nullopt, k_asid));
    EXPECT_TRUE(engine().tlb_holds_asid(std::nullopt, k_asid));
    EXPECT_EQ(engine().tlb().size(), 1u);
}

TEST_F(engine_invalidation, tlbi_s12_vmall_and_tlb_holds_vmid) {
    setup_s2();
    run(k_va, 2);
    EXPECT_TRUE(engine().tlb_holds_vmid(k_vmid));
    EXPECT_FALSE(engine().tlb_holds_vmid(8));
    EXPECT_TRUE(engine().walk_cache_holds_vmid(k_vmid));
    engine().invalidate(arch::make_tlbi_s12_vmall(k_vmid), cfg);
    EXPECT_FALSE(engine().tlb_holds_vmid(k_vmid));
    EXPECT_FALSE(engine().walk_cache_holds_vmid(k_vmid));
}

TEST_F(engine_invalidation, cfgi_ste_refetches_the_ste_and_its_cds) {
    setup_s1();
    run(k_va, 1);
    const auto cost = engine().invalidate(arch::make_cfgi_ste(1, true), cfg);
    EXPECT_EQ(cost.effect.config, 2u);
    EXPECT_EQ(cost.cycles, 20u);
    run(k_va, 1);
    EXPECT_EQ(mem.count(mem_purpose::ste), 2u);
    EXPECT_EQ(mem.count(mem_purpose::cd), 2u);
    EXPECT_EQ(engine().stats().walks, 1u) << "the IOTLB entry survives CFGI";
}

TEST_F(engine_invalidation, cfgi_cd_refetches_the_cd_only) {
    setup_s1();
    run(k_va, 1);
    engine().invalidate(arch::make_cfgi_cd(1, 0, true), cfg);
    run(k_va, 1);
    EXPECT_EQ(mem.count(mem_purpose::ste), 1u);
    EXPECT_EQ(mem.count(mem_purpose::cd), 2u);
}

TEST_F(engine_invalidation, stale_ste_is_used_until_cfgi) {
    setup_s1();
    run(k_va, 1);
    put_ste(1, base_ste(arch::ste_config::abort));
    EXPECT_EQ(run(k_va, 1).response, translation_response::ok);
    engine().invalidate(arch::make_cfgi_ste(1, true), cfg);
    EXPECT_EQ(run(k_va, 1).response, translation_response::abort);
}

TEST_F(engine_invalidation, other_commands_do_nothing) {
    setup_s1();
    run(k_va, 1);
    const auto cost = engine().invalidate(arch::make_sync(arch::sync_cs::none), cfg);
    EXPECT_EQ(cost.cycles, 0u);
    EXPECT_EQ(cost.effect.total(), 0u);
    EXPECT_EQ(engine().tlb().size(), 1u);
    EXPECT_EQ(engine().stats().invalidations, 0u);
}

TEST_F(engine_invalidation, invalidate_all_empties_every_cache) {
    setup_nested();
    run(k_va, 3);
    EXPECT_NE(engine().walks().size(), 0u);
    engine().invalidate_all();
    EXPECT_EQ(engine().tlb().size(), 0u);
    EXPECT_EQ(engine().walks().size(), 0u);
    EXPECT_EQ(engine().config().ste_count(), 0u);
    EXPECT_EQ(engine().config().cd_count(), 0u);
}

// ------------------------------------------------------------------ statistics

TEST_F(engine_stats, counts_one_cold_translation) {
    setup_s1();
    run(k_va, 1);
    const auto& s = engine().stats();
    EXPECT_EQ(s.translations, 1u);
    EXPECT_EQ(s.responses[0], 1u);
    EXPECT_EQ(s.ste_cache.lookups, 1u);
    EXPECT_EQ(s.ste_cache.misses, 1u);
    EXPECT_EQ(s.cd_cache.misses, 1u);
    EXPECT_EQ(s.iotlb.misses, 1u);
    EXPECT_EQ(s.walk_cache.lookups, 1u);
    EXPECT_EQ(s.walk_cache.misses, 1u);
    EXPECT_EQ(s.walks, 1u);
    EXPECT_EQ(s.ste_fetches, 1u);
    EXPECT_EQ(s.cd_fetches, 1u);
    EXPECT_EQ(s.l1std_fetches, 0u);
    EXPECT_EQ(s.descriptor_reads[0][arch::level_index(0)], 0u);
    EXPECT_EQ(s.descriptor_reads[0][arch::level_index(1)], 1u);
    EXPECT_EQ(s.descriptor_reads[0][arch::level_index(2)], 1u);
    EXPECT_EQ(s.descriptor_reads[0][arch::level_index(3)], 1u);
    EXPECT_EQ(s.latency.count(), 1u);
    EXPECT_EQ(s.latency.max(), 69'000u);

    run(k_va, 1);
    EXPECT_EQ(s.ste_cache.hits, 1u);
    EXPECT_EQ(s.cd_cache.hits, 1u);
    EXPECT_EQ(s.iotlb.hits, 1u);
    EXPECT_EQ(s.latency.min(), 9'000u);

    engine().reset_stats();
    EXPECT_EQ(engine().stats().translations, 0u);
    EXPECT_EQ(engine().stats().latency.count(), 0u);
}

TEST_F(engine_stats, counts_events_and_responses) {
    setup_s1(s1_ste(), k_s1_user_rw | k_ap_ro);
    run(k_va, 1, k_write);
    run(0x40005000, 1);
    const auto& s = engine().stats();
    EXPECT_EQ(s.events, 2u);
    EXPECT_EQ(s.faults[0x13], 1u);
    EXPECT_EQ(s.faults[0x10], 1u);
    EXPECT_EQ(s.responses[static_cast<std::size_t>(translation_response::permission_denied)], 1u);
    EXPECT_EQ(s.responses[static_cast<std::size_t>(translation_response::abort)], 1u);
}

// ------------------------------------------------------------------ cache changes during a job

/// Forwards to a fake_smmu_memory and, once, runs `hook` before the first read for
/// `when`: what another SystemC process may do while a downstream target waits.
class hooking_memory : public smmu_memory {
public:
    explicit hooking_memory(fake_smmu_memory& inner)
        : m_inner(inner) {}

    void arm(mem_purpose when, std::function<void()> hook) {
        m_when = when;
        m_hook = std::move(hook);
    }
    bool fired() const { return m_fired; }

    bool read(phys_addr pa, void* dst, unsigned len, mem_purpose why, time_ps& now,
              bool debug) override {
        if (m_hook && why == m_when) {
            const auto hook = std::move(m_hook);
            m_hook = nullptr;
            m_fired = true;
            hook();
        }
        return m_inner.read(pa, dst, len, why, now, debug);
    }
    bool write(phys_addr pa, const void* src, unsigned len, mem_purpose why,
               time_ps& now) override {
        return m_inner.write(pa, src, len, why, now);
    }

private:
    fake_smmu_memory& m_inner;
    mem_purpose m_when = mem_purpose::ste;
    std::function<void()> m_hook;
    bool m_fired = false;
};

/// One-entry STE and CD caches, so that any other stream's fetch replaces the entry a
/// translation in progress hit.
class engine_cache_changes : public engine_fixture {
protected:
    engine_cache_changes() {
        params.ste_cache = cache_shape{1, 1, arch::replacement_policy::lru};
        params.cd_cache = cache_shape{1, 1, arch::replacement_policy::lru};
    }

    translation_engine& hooked_engine() {
        if (!m_hooked)
            m_hooked = std::make_unique<translation_engine>(params, hooked);
        return *m_hooked;
    }
    translation_result run_hooked(std::uint64_t addr, arch::stream_id sid) {
        return hooked_engine().translate(make_req(addr, sid), cfg, now);
    }

    hooking_memory hooked{mem};

private:
    std::unique_ptr<translation_engine> m_hooked;
};

constexpr std::uint64_t k_unmapped_va = 0x40011000; // L3 table of k_va, empty entry
constexpr phys_addr k_other_cd = 0x48000;

TEST_F(engine_cache_changes, walk_keeps_the_cd_it_started_with) {
    setup_s1(); // CD.A = CD.R = 1
    arch::ste other = s1_ste();
    other.s1_context_ptr = k_other_cd;
    put_ste(4, other);
    arch::cd quiet = s1_cd(9);
    quiet.a = false; // a fault would be RAZ/WI
    quiet.r = false; // and not recorded
    put_cd(k_other_cd, quiet);
    ASSERT_EQ(run_hooked(k_va, 1).response, translation_response::ok); // caches SID 1

    hooked.arm(mem_purpose::walk_s1, [&] {
        EXPECT_EQ(hooked_engine().invalidate(arch::make_cfgi_all(), cfg).effect.total(), 2u);
        EXPECT_EQ(run_hooked(k_va, 4).response, translation_response::ok); // caches SID 4
    });
    const auto r = run_hooked(k_unmapped_va, 1);
    ASSERT_TRUE(hooked.fired());
    EXPECT_EQ(r.response, translation_response::abort) << "SID 1's CD.A = 1";
    ASSERT_TRUE(r.event) << "SID 1's CD.R = 1";
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_EQ(r.event->sid, 1u);
    EXPECT_EQ(hooked_engine().stats().ste_cache.hits, 1u);
    EXPECT_EQ(hooked_engine().stats().cd_cache.hits, 1u);
}

TEST_F(engine_cache_changes, walk_keeps_the_ste_it_started_with) {
    setup_s2(); // STE.S2R = 1
    arch::ste quiet = s2_ste();
    quiet.s2_r = false;
    put_ste(5, quiet);
    ASSERT_EQ(run_hooked(k_va, 2).response, translation_response::ok);

    hooked.arm(mem_purpose::walk_s2, [&] {
        EXPECT_EQ(run_hooked(k_va + 0x1000, 5).response, translation_response::abort);
    });
    const auto r = run_hooked(k_unmapped_va, 2);
    ASSERT_TRUE(hooked.fired());
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event) << "SID 2's STE.S2R = 1";
    EXPECT_EQ(r.event->id, event_id::f_translation);
    EXPECT_EQ(r.event->sid, 2u);
    EXPECT_EQ(hooked_engine().config().ste_count(), 1u);
}

TEST_F(engine_cache_changes, cd_fetch_keeps_the_ste_it_started_with) {
    setup_s1();                                                          // STE.S2VMID = 0
    arch::ste other = with_s2(base_ste(arch::ste_config::s2_translate)); // S2VMID = 7
    put_ste(6, other);
    ASSERT_EQ(run_hooked(k_va, 1).response, translation_response::ok);
    hooked_engine().invalidate(arch::make_cfgi_cd(1, 0, true), cfg); // the STE stays

    hooked.arm(mem_purpose::cd, [&] { run_hooked(k_va, 6); });
    const auto r = run_hooked(k_va, 1);
    ASSERT_TRUE(hooked.fired());
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.output_address, k_pa);
    ASSERT_TRUE(r.tag.vmid);
    EXPECT_EQ(*r.tag.vmid, 0u) << "tagged with SID 1's S2VMID, not SID 6's";
    EXPECT_EQ(r.tag.asid, k_asid);
}

} // namespace
} // namespace smmu

// ------------------------------------------------------------------ the context memo

namespace smmu {
namespace {

class engine_memo : public engine_fixture {
protected:
    translation_request memo_req(context_memo& m, std::uint64_t addr, arch::stream_id sid,
                                 arch::access_kind a = k_read) {
        translation_request r = make_req(addr, sid, a);
        r.memo = &m;
        return r;
    }
    translation_result run_with(context_memo& m, std::uint64_t addr, arch::stream_id sid,
                                arch::access_kind a = k_read) {
        return run(memo_req(m, addr, sid, a));
    }
    bool cached_with(context_memo& m, std::uint64_t addr, arch::stream_id sid,
                     cached_translation& out, arch::access_kind a = k_read) {
        return engine().translate_cached(memo_req(m, addr, sid, a), cfg, now, out);
    }

    /// SID 1 translated twice through memo `m`: the memo is then recorded and replayed.
    void warm_s1(context_memo& m) {
        setup_s1();
        ASSERT_EQ(run_with(m, k_va, 1).response, translation_response::ok);
        ASSERT_EQ(run_with(m, k_va, 1).response, translation_response::ok);
        cached_translation c;
        ASSERT_TRUE(cached_with(m, k_va, 1, c));
    }
};

TEST_F(engine_memo, cached_hit_has_the_effects_of_translate) {
    setup_s1();
    ASSERT_EQ(run(k_va, 1).response, translation_response::ok); // fills the caches
    context_memo m;
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c)) << "nothing recorded yet";
    ASSERT_EQ(run_with(m, k_va, 1).response, translation_response::ok);
    const translation_engine_stats before = engine().stats();
    const arch::cache_stats ste_before = engine().config().ste_stats();
    const arch::cache_stats tlb_before = engine().tlb().stats();
    const time_ps t0 = now;

    ASSERT_TRUE(cached_with(m, k_va + 0x234, 1, c, k_write));
    EXPECT_EQ(c.output_address, 0x12345234u);
    EXPECT_EQ(c.size_log2, 12u);
    EXPECT_TRUE(c.permissions.user_write);
    EXPECT_FALSE(c.permissions.priv_exec);
    EXPECT_EQ(now - t0, 9'000u) << "STE, CD and IOTLB lookups: 3 + 3 + 3 cycles";
    const translation_engine_stats& s = engine().stats();
    EXPECT_EQ(s.translations, before.translations + 1);
    EXPECT_EQ(s.responses[0], before.responses[0] + 1);
    EXPECT_EQ(s.ste_cache.hits, before.ste_cache.hits + 1);
    EXPECT_EQ(s.ste_cache.lookups, before.ste_cache.lookups + 1);
    EXPECT_EQ(s.cd_cache.hits, before.cd_cache.hits + 1);
    EXPECT_EQ(s.iotlb.hits, before.iotlb.hits + 1);
    EXPECT_EQ(s.iotlb.lookups, before.iotlb.lookups + 1);
    EXPECT_EQ(s.latency.count(), before.latency.count() + 1);
    EXPECT_EQ(s.latency.min(), 9'000u);
    EXPECT_EQ(engine().config().ste_stats().hits, ste_before.hits + 1);
    EXPECT_EQ(engine().tlb().stats().hits, tlb_before.hits + 1);
    EXPECT_EQ(mem.log().size(), 5u) << "no memory access beyond the first walk";
}

TEST_F(engine_memo, cached_hit_of_a_stage2_stream_has_one_config_lookup) {
    setup_s2();
    context_memo m;
    ASSERT_EQ(run_with(m, k_va, 2).response, translation_response::ok);
    ASSERT_EQ(run_with(m, k_va, 2).response, translation_response::ok);
    const time_ps t0 = now;
    cached_translation c;
    ASSERT_TRUE(cached_with(m, k_va + 8, 2, c));
    EXPECT_EQ(c.output_address, k_pa + 8);
    EXPECT_EQ(now - t0, 6'000u) << "STE and IOTLB lookups";
    EXPECT_EQ(engine().stats().cd_cache.lookups, 0u);
}

TEST_F(engine_memo, cached_has_no_effect_when_it_declines) {
    context_memo m;
    warm_s1(m);
    const translation_engine_stats before = engine().stats();
    const arch::cache_stats tlb_before = engine().tlb().stats();
    const arch::cache_stats ste_before = engine().config().ste_stats();
    const time_ps t0 = now;
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va + 0x4000, 1, c)) << "IOTLB miss";
    translation_request debug = memo_req(m, k_va, 1);
    debug.debug = true;
    EXPECT_FALSE(engine().translate_cached(debug, cfg, now, c)) << "debug";
    translation_request translated = memo_req(m, k_va, 1);
    translated.kind = request_kind::translated;
    EXPECT_FALSE(engine().translate_cached(translated, cfg, now, c)) << "translated";
    translation_request no_memo = make_req(k_va, 1);
    EXPECT_FALSE(engine().translate_cached(no_memo, cfg, now, c)) << "no memo";
    cfg.smmuen = false;
    EXPECT_FALSE(cached_with(m, k_va, 1, c)) << "SMMUEN = 0";
    cfg.smmuen = true;
    EXPECT_EQ(now, t0);
    EXPECT_EQ(engine().stats().translations, before.translations);
    EXPECT_EQ(engine().stats().iotlb.lookups, before.iotlb.lookups);
    EXPECT_EQ(engine().stats().ste_cache.lookups, before.ste_cache.lookups);
    EXPECT_EQ(engine().tlb().stats().lookups, tlb_before.lookups);
    EXPECT_EQ(engine().config().ste_stats().lookups, ste_before.lookups);
}

TEST_F(engine_memo, cached_declines_an_access_the_mapping_denies) {
    setup_s1(s1_ste(), k_s1_user_rw | k_ap_ro);
    context_memo m;
    run_with(m, k_va, 1);
    run_with(m, k_va, 1);
    const time_ps t0 = now;
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c, k_write));
    EXPECT_EQ(now, t0);
    const auto r = run_with(m, k_va, 1, k_write);
    EXPECT_EQ(r.response, translation_response::permission_denied) << "translate() reports it";
}

TEST_F(engine_memo, cached_declines_a_bypass_stream) {
    put_ste(4, base_ste(arch::ste_config::bypass));
    context_memo m;
    run_with(m, 0x5000, 4);
    run_with(m, 0x5000, 4);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, 0x5000, 4, c));
    EXPECT_TRUE(run_with(m, 0x5000, 4).bypass);
}

// Each way the configuration can change must make the memo stale. The IOTLB keeps the
// page throughout (no TLBI), so a stale memo would still hit and translate.

TEST_F(engine_memo, cfgi_ste_makes_it_stale) {
    context_memo m;
    warm_s1(m);
    put_ste(1, base_ste(arch::ste_config::abort));
    engine().invalidate(arch::make_cfgi_ste(1, true), cfg);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    EXPECT_EQ(run_with(m, k_va, 1).response, translation_response::abort);
}

TEST_F(engine_memo, cfgi_ste_range_makes_it_stale) {
    context_memo m;
    warm_s1(m);
    put_ste(1, base_ste(arch::ste_config::abort));
    engine().invalidate(arch::make_cfgi_ste_range(0, 1), cfg); // SIDs 0 to 3
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    EXPECT_EQ(run_with(m, k_va, 1).response, translation_response::abort);
}

TEST_F(engine_memo, cfgi_all_makes_it_stale) {
    context_memo m;
    warm_s1(m);
    put_ste(1, base_ste(arch::ste_config::abort));
    engine().invalidate(arch::make_cfgi_all(), cfg);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    EXPECT_EQ(run_with(m, k_va, 1).response, translation_response::abort);
}

TEST_F(engine_memo, invalidate_all_makes_it_stale) {
    context_memo m;
    warm_s1(m);
    put_ste(1, base_ste(arch::ste_config::abort));
    engine().invalidate_all(); // SMMUEN, STRTAB_BASE or CR2 changed
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    EXPECT_EQ(run_with(m, k_va, 1).response, translation_response::abort);
}

TEST_F(engine_memo, cfgi_cd_makes_it_stale) {
    context_memo m;
    warm_s1(m);
    put_cd(k_cd_table, s1_cd(9)); // a new ASID
    engine().invalidate(arch::make_cfgi_cd(1, 0, true), cfg);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c)) << "ASID 9 has no IOTLB entry";
    const auto r = run_with(m, k_va, 1);
    EXPECT_EQ(r.response, translation_response::ok);
    EXPECT_EQ(r.tag.asid, 9u);
    EXPECT_EQ(engine().stats().walks, 2u);
}

TEST_F(engine_memo, cfgi_cd_all_makes_it_stale) {
    context_memo m;
    warm_s1(m);
    put_cd(k_cd_table, s1_cd(9));
    engine().invalidate(arch::make_cfgi_cd_all(1), cfg);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    EXPECT_EQ(run_with(m, k_va, 1).tag.asid, 9u);
}

TEST_F(engine_memo, tlbi_leaves_it_valid) {
    context_memo m;
    warm_s1(m);
    engine().invalidate(arch::make_tlbi_nh_all(0), cfg);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c)) << "the IOTLB entry is gone";
    const std::uint64_t ste_lookups = engine().config().ste_stats().lookups;
    const std::uint64_t ste_hits = engine().config().ste_stats().hits;
    EXPECT_EQ(run_with(m, k_va, 1).response, translation_response::ok); // walks again
    EXPECT_EQ(engine().config().ste_stats().lookups, ste_lookups + 1);
    EXPECT_EQ(engine().config().ste_stats().hits, ste_hits + 1);
    EXPECT_TRUE(cached_with(m, k_va, 1, c));
}

TEST_F(engine_memo, another_streams_fetch_makes_it_stale_but_not_wrong) {
    // One-entry STE cache: SID 4's fetch replaces SID 1's STE in the slot the memo names.
    params.ste_cache = cache_shape{1, 1, arch::replacement_policy::lru};
    context_memo m;
    warm_s1(m);
    put_ste(4, base_ste(arch::ste_config::abort));
    context_memo other;
    EXPECT_EQ(run_with(other, 0x5000, 4).response, translation_response::abort);
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    const std::uint64_t fetches = engine().stats().ste_fetches;
    EXPECT_EQ(run_with(m, k_va, 1).response, translation_response::ok);
    EXPECT_EQ(engine().stats().ste_fetches, fetches + 1) << "SID 1's STE is fetched again";
}

TEST_F(engine_memo, is_keyed_on_the_stream) {
    context_memo m;
    warm_s1(m);
    put_ste(6, base_ste(arch::ste_config::abort));
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 6, c));
    EXPECT_EQ(run_with(m, k_va, 6).response, translation_response::abort);
    translation_request with_ssid = memo_req(m, k_va, 1);
    with_ssid.ssid = 0;
    EXPECT_FALSE(engine().translate_cached(with_ssid, cfg, now, c));
    EXPECT_EQ(run(with_ssid).response, translation_response::abort)
        << "no substreams: C_BAD_SUBSTREAMID";
}

TEST_F(engine_memo, is_keyed_on_the_stream_table_size) {
    context_memo m;
    warm_s1(m);
    cfg.strtab.log2size = 0; // only SID 0
    cfg.recinvsid = true;
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c));
    const auto r = run_with(m, k_va, 1);
    EXPECT_EQ(r.response, translation_response::abort);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->id, event_id::c_bad_streamid);
}

TEST_F(engine_memo, is_keyed_on_cr2_e2h) {
    arch::ste s = s1_ste();
    s.strw = arch::ste_strw::el2;
    setup_s1(s, k_af); // privileged, global
    context_memo m;
    ASSERT_EQ(run_with(m, k_va, 1, k_priv_read).tag.regime, arch::tlb_regime::el2);
    ASSERT_EQ(run_with(m, k_va, 1, k_priv_read).tag.regime, arch::tlb_regime::el2);
    cfg.e2h = true;
    cached_translation c;
    EXPECT_FALSE(cached_with(m, k_va, 1, c, k_priv_read));
    EXPECT_EQ(run_with(m, k_va, 1, k_priv_read).tag.regime, arch::tlb_regime::el2_e2h);
}

TEST_F(engine_memo, is_keyed_on_the_engine) {
    context_memo m;
    warm_s1(m);
    translation_engine other(params, mem); // empty caches
    cached_translation c;
    EXPECT_FALSE(other.translate_cached(memo_req(m, k_va, 1), cfg, now, c));
    EXPECT_EQ(other.translate(memo_req(m, k_va, 1), cfg, now).response, translation_response::ok);
    EXPECT_EQ(other.stats().ste_fetches, 1u);
}

/// Everything an engine counts, for comparing two engines.
void expect_same_stats(const translation_engine& a, const translation_engine& b) {
    const translation_engine_stats& x = a.stats();
    const translation_engine_stats& y = b.stats();
    EXPECT_EQ(x.translations, y.translations);
    EXPECT_EQ(x.responses, y.responses);
    const auto same_lookups = [](const lookup_stats& p, const lookup_stats& q, const char* what) {
        EXPECT_EQ(p.lookups, q.lookups) << what;
        EXPECT_EQ(p.hits, q.hits) << what;
        EXPECT_EQ(p.misses, q.misses) << what;
    };
    same_lookups(x.ste_cache, y.ste_cache, "ste_cache");
    same_lookups(x.cd_cache, y.cd_cache, "cd_cache");
    same_lookups(x.iotlb, y.iotlb, "iotlb");
    same_lookups(x.walk_cache, y.walk_cache, "walk_cache");
    EXPECT_EQ(x.walks, y.walks);
    EXPECT_EQ(x.descriptor_reads, y.descriptor_reads);
    EXPECT_EQ(x.ste_fetches, y.ste_fetches);
    EXPECT_EQ(x.cd_fetches, y.cd_fetches);
    EXPECT_EQ(x.faults, y.faults);
    EXPECT_EQ(x.events, y.events);
    EXPECT_EQ(x.latency.count(), y.latency.count());
    EXPECT_EQ(x.latency.sum(), y.latency.sum());
    EXPECT_EQ(x.latency.max(), y.latency.max());
    const auto same_cache = [](const arch::cache_stats& p, const arch::cache_stats& q,
                               const char* what) {
        EXPECT_EQ(p.lookups, q.lookups) << what;
        EXPECT_EQ(p.hits, q.hits) << what;
        EXPECT_EQ(p.misses, q.misses) << what;
        EXPECT_EQ(p.inserts, q.inserts) << what;
        EXPECT_EQ(p.evictions, q.evictions) << what;
        EXPECT_EQ(p.invalidated, q.invalidated) << what;
    };
    same_cache(a.config().ste_stats(), b.config().ste_stats(), "STE cache");
    same_cache(a.config().cd_stats(), b.config().cd_stats(), "CD cache");
    same_cache(a.tlb().stats(), b.tlb().stats(), "IOTLB");
}

TEST_F(engine_memo, gives_the_results_statistics_and_time_of_full_lookups) {
    // Two-entry LRU configuration caches, so that evictions depend on the replacement
    // updates of repeated hits; six streams on two requesters, faults and invalidations.
    params.ste_cache = cache_shape{2, 2, arch::replacement_policy::lru};
    params.cd_cache = cache_shape{2, 2, arch::replacement_policy::lru};
    setup_s1();
    put_ste(4, s1_ste());
    put_ste(5, s1_ste());
    setup_s2();
    setup_nested();
    put_ste(6, base_ste(arch::ste_config::abort));
    s1_tables.map(k_va + 0x1000, 3, page_desc(k_pa + 0x1000, k_s1_user_rw | k_ap_ro));
    translation_engine plain(params, mem);
    translation_engine memoed(params, mem);
    context_memo memos[2];
    time_ps t_plain = k_start;
    time_ps t_memo = k_start;

    // Two streams at a time, one per requester, alternating A B A B A: the last repeated
    // hit on A makes it the most recent entry, which decides what the next stream evicts.
    const std::pair<arch::stream_id, arch::stream_id> pairs[] = {{1, 4}, {5, 1}, {4, 2}, {3, 5},
                                                                 {2, 3}, {6, 1}, {1, 3}, {4, 5}};
    const std::uint64_t vas[] = {k_va, k_va + 0x10, k_va + 0x1000, k_va + 0x5000};
    const arch::command commands[] = {arch::make_cfgi_ste(4, true), arch::make_cfgi_cd(1, 0, true),
                                      arch::make_tlbi_nh_all(0), arch::make_cfgi_all()};
    unsigned cached = 0;
    unsigned step = 0;
    for (unsigned round = 0; round < 8; ++round) {
        for (const auto& [first, second] : pairs) {
            for (unsigned i = 0; i < 5; ++i) {
                const arch::stream_id sid = i % 2 == 0 ? first : second;
                const std::uint64_t va = vas[(i / 2 + round) % 4];
                const arch::access_kind a = (step % 7 == 3) ? k_write : k_read;
                context_memo& m = memos[i % 2];
                ++step;
                const translation_result want = plain.translate(make_req(va, sid, a), cfg, t_plain);
                translation_request req = make_req(va, sid, a);
                req.memo = &m;
                cached_translation c;
                if (memoed.translate_cached(req, cfg, t_memo, c)) {
                    ++cached;
                    EXPECT_EQ(want.response, translation_response::ok) << step;
                    EXPECT_EQ(c.output_address, want.output_address) << step;
                    EXPECT_EQ(c.size_log2, want.size_log2) << step;
                    EXPECT_EQ(c.permissions, want.permissions) << step;
                } else {
                    const translation_result got = memoed.translate(req, cfg, t_memo);
                    EXPECT_EQ(got.response, want.response) << step;
                    EXPECT_EQ(got.output_address, want.output_address) << step;
                    EXPECT_EQ(got.size_log2, want.size_log2) << step;
                    EXPECT_EQ(got.permissions, want.permissions) << step;
                    EXPECT_EQ(got.event.has_value(), want.event.has_value()) << step;
                    if (got.event && want.event) {
                        EXPECT_TRUE(*got.event == *want.event) << step;
                    }
                }
                ASSERT_EQ(t_memo, t_plain) << step;
            }
        }
        plain.invalidate(commands[round % 4], cfg);
        memoed.invalidate(commands[round % 4], cfg);
    }
    EXPECT_GT(cached, 30u) << "the memo was used";
    expect_same_stats(plain, memoed);
    for (arch::stream_id sid = 1; sid <= 6; ++sid)
        EXPECT_EQ(plain.config().peek_ste(sid) != nullptr, memoed.config().peek_ste(sid) != nullptr)
            << sid;
}

} // namespace
} // namespace smmu
