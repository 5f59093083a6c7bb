// The invalidation walker (linux-invs.md §4): commands per entry type, SYNC
// placement (§4.3, §4.8), the full-flush threshold (§4.5), RIL (§4.6) and
// ATC_INV (§4.7) encodings, and the fence / lock discipline of §4.2.
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/inv_range.h"
#include "tests/unit/driver/fake_platform_invs.h"

namespace smmu::driver {
namespace {

using arch::make_atc_inv;
using arch::make_tlbi_el2_asid;
using arch::make_tlbi_el2_va;
using arch::make_tlbi_nh_all;
using arch::make_tlbi_nh_asid;
using arch::make_tlbi_nh_va;
using arch::make_tlbi_s12_vmall;
using arch::make_tlbi_s2_ipa;
using arch::stream_ref;
using arch::tlbi_granule;
using arch::tlbi_range;
using arch::tlbi_ttl;
using test::ev;
using test::recording_sink;
using test::sink_event;
using test::sync_ev;

constexpr std::uint64_t k4k = 0x1000;
constexpr std::uint64_t k16k = 0x4000;
constexpr std::uint64_t k64k = 0x10000;
constexpr std::uint64_t k2m = 0x200000;

// plain: no RIL; ril: RIL; e2h: EL2 opcodes for stage 1. Array order = address order.
smmu_caps g_smmus[3] = {smmu_caps{0, false, true, false, 16, 16, nullptr},
                        smmu_caps{1, true, true, false, 16, 16, nullptr},
                        smmu_caps{2, false, true, true, 16, 16, nullptr}};
smmu_ref plain = &g_smmus[0];
smmu_ref ril = &g_smmus[1];
smmu_ref e2h = &g_smmus[2];

tlbi_range range(tlbi_granule tg, tlbi_ttl ttl, std::uint8_t num, std::uint8_t scale) {
    tlbi_range r;
    r.tg = tg;
    r.ttl = ttl;
    r.num = num;
    r.scale = scale;
    return r;
}

class inv_range_fixture : public ::testing::Test {
protected:
    /// An array holding `items` with users 1 (in the given order, which must be sorted).
    std::shared_ptr<inv_array> array_of(std::initializer_list<inv> items) {
        std::optional<inv_list> l = inv_list::create(items.size());
        EXPECT_TRUE(l.has_value());
        for (const inv& e : items)
            EXPECT_TRUE(l->push(e));
        auto empty = inv_array::create(0, m_locks);
        merge_result r = invs_merge(*empty, *l);
        EXPECT_TRUE(r.ok()) << invs_error_name(r.error);
        return r.invs;
    }
    /// The array a domain has after attaching one master built from `spec`.
    std::shared_ptr<inv_array> attached(const build_spec& spec,
                                        const std::vector<arch::stream_id>& sids) {
        std::optional<inv_list> l = inv_list::create(build_list_capacity(true, sids.size()));
        EXPECT_TRUE(l.has_value());
        EXPECT_EQ(build_master_invs(*l, spec, sids), invs_error::none);
        auto empty = inv_array::create(0, m_locks);
        merge_result r = invs_merge(*empty, *l);
        EXPECT_TRUE(r.ok());
        return r.invs;
    }
    inv_range_status run(const std::shared_ptr<inv_array>& a, std::uint64_t iova,
                         std::uint64_t size, std::uint64_t granule, bool leaf) {
        invs_slot slot(a);
        return domain_inv_range(slot, inv_range_args{iova, size, granule, leaf}, m_sink);
    }
    void expect_events(const std::vector<sink_event>& expected) {
        EXPECT_EQ(m_sink.events, expected) << "got:\n"
                                           << test::describe(m_sink.events) << "expected:\n"
                                           << test::describe(expected);
    }

    test::test_lock_factory m_locks;
    recording_sink m_sink;
};

build_spec spec(smmu_ref s, inv_type type, std::uint32_t id, bool ats, bool nesting = false,
                std::uint32_t ssid = 0, unsigned pgsize = 12) {
    build_spec b;
    b.smmu = s;
    b.tag_type = type;
    b.tag_id = id;
    b.ats_enabled = ats;
    b.nesting = nesting;
    b.ssid = ssid;
    b.pgsize_shift = pgsize;
    return b;
}

// ---- §4.5 threshold ------------------------------------------------------------------------

TEST(inv_size_too_big, thresholds_per_granule_without_ril) {
    EXPECT_FALSE(inv_size_too_big(*plain, 2 * 1024 * 1024 - k4k, k4k)); // 511 TLBIs
    EXPECT_TRUE(inv_size_too_big(*plain, 2 * 1024 * 1024, k4k));        // 512
    EXPECT_FALSE(inv_size_too_big(*plain, 32 * 1024 * 1024 - k16k, k16k));
    EXPECT_TRUE(inv_size_too_big(*plain, 32 * 1024 * 1024, k16k)); // 2048
    EXPECT_FALSE(inv_size_too_big(*plain, 512ull * 1024 * 1024 - k64k, k64k));
    EXPECT_TRUE(inv_size_too_big(*plain, 512ull * 1024 * 1024, k64k)); // 8192
    // A 2 MiB block granule: 2^18 ops of 2 MiB.
    EXPECT_FALSE(inv_size_too_big(*plain, (1ull << 39) - k2m, k2m));
    EXPECT_TRUE(inv_size_too_big(*plain, 1ull << 39, k2m));
}

TEST(inv_size_too_big, everything_sizes_and_odd_inputs) {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    EXPECT_TRUE(inv_size_too_big(*plain, 0, k4k));
    EXPECT_TRUE(inv_size_too_big(*plain, max, k4k));
    EXPECT_TRUE(inv_size_too_big(*ril, 0, k4k));
    EXPECT_TRUE(inv_size_too_big(*ril, max, k4k));
    EXPECT_FALSE(inv_size_too_big(*ril, 1ull << 40, k4k));          // RIL: never by size
    EXPECT_TRUE(inv_size_too_big(*plain, k4k, 0));                  // no granule to step by
    EXPECT_FALSE(inv_size_too_big(*plain, 1ull << 62, 1ull << 63)); // product overflows
    EXPECT_TRUE(inv_size_too_big(*plain, 8, 4));                    // tiny granule: one op allowed
    EXPECT_FALSE(inv_size_too_big(*plain, 3, 4));
}

// ---- commands per type ---------------------------------------------------------------------

TEST(make_nsize_command, per_entry_type) {
    EXPECT_EQ(make_nsize_command(make_inv(plain, inv_type::s1_asid, 7)), make_tlbi_nh_asid(0, 7));
    EXPECT_EQ(make_nsize_command(make_inv(e2h, inv_type::s1_asid, 7)), make_tlbi_el2_asid(7));
    EXPECT_EQ(make_nsize_command(make_inv(plain, inv_type::s2_vmid, 3)), make_tlbi_s12_vmall(3));
    EXPECT_EQ(make_nsize_command(make_inv(plain, inv_type::s2_vmid_vsmmu, 4)),
              make_tlbi_s12_vmall(4));
    EXPECT_EQ(make_nsize_command(make_inv(plain, inv_type::s2_vmid_s1_clear, 5)),
              make_tlbi_nh_all(5));
    EXPECT_EQ(make_nsize_command(make_inv(plain, inv_type::ats, 9, 2)),
              make_atc_inv(stream_ref(9, 2), 0, 52));
    EXPECT_EQ(make_nsize_command(make_inv(plain, inv_type::ats, 9, 0)),
              make_atc_inv(stream_ref(9), 0, 52));
    inv full = make_inv(plain, inv_type::ats_full, 9);
    full.ssid = 6; // ATS_FULL never carries a PASID
    EXPECT_EQ(make_nsize_command(full), make_atc_inv(stream_ref(9), 0, 52));
}

// ---- §4.8 examples -------------------------------------------------------------------------

TEST_F(inv_range_fixture, s1_with_two_ats_sids_no_ril) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, true), {4, 9});
    const inv_range_status st = run(a, 0x10000, 2 * k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_nh_va(0, 1, 0x10000, true)),
                   ev(plain, make_tlbi_nh_va(0, 1, 0x11000, true)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0x10000, 1)),
                   ev(plain, make_atc_inv(stream_ref(9), 0x10000, 1)), sync_ev(plain)});
    EXPECT_EQ(st.commands, 4u);
    EXPECT_EQ(st.syncs, 2u);
    EXPECT_TRUE(st.ok);
}

TEST_F(inv_range_fixture, s1_with_two_ats_sids_ril) {
    auto a = attached(spec(ril, inv_type::s1_asid, 1, true), {4, 9});
    run(a, 0x10000, 2 * k4k, k4k, true);
    expect_events({ev(ril, make_tlbi_nh_va(0, 1, 0x10000, true,
                                           range(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 1))),
                   sync_ev(ril), ev(ril, make_atc_inv(stream_ref(4), 0x10000, 1)),
                   ev(ril, make_atc_inv(stream_ref(9), 0x10000, 1)), sync_ev(ril)});
}

TEST_F(inv_range_fixture, s1_without_ats_takes_no_lock) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, false), {4});
    test::fake_platform_invs platform;
    invs_slot slot(a);
    domain_inv_range(slot, inv_range_args{0x10000, k4k, k4k, true}, m_sink, &platform);
    expect_events({ev(plain, make_tlbi_nh_va(0, 1, 0x10000, true)), sync_ev(plain)});
    EXPECT_EQ(m_locks.counters.shared.load(), 0u);
    EXPECT_EQ(platform.charges[cpu_op::barrier], 1u);
    EXPECT_EQ(platform.charges[cpu_op::lock], 0u);
}

TEST_F(inv_range_fixture, ats_array_takes_the_read_lock_once) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, true), {4});
    test::fake_platform_invs platform;
    invs_slot slot(a);
    domain_inv_range(slot, inv_range_args{0x10000, k4k, k4k, true}, m_sink, &platform);
    EXPECT_EQ(m_locks.counters.shared.load(), 1u);
    EXPECT_EQ(m_locks.counters.exclusive.load(), 0u);
    EXPECT_EQ(platform.charges[cpu_op::barrier], 1u);
    EXPECT_EQ(platform.charges[cpu_op::lock], 1u);
}

TEST_F(inv_range_fixture, s2_domain_no_ats) {
    auto a = attached(spec(plain, inv_type::s2_vmid, 2, false), {4});
    run(a, 0x10000, 2 * k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_s2_ipa(2, 0x10000, true)),
                   ev(plain, make_tlbi_s2_ipa(2, 0x11000, true)), sync_ev(plain)});
}

TEST_F(inv_range_fixture, s2_domain_with_ats_ril_16k_pages) {
    auto a = attached(spec(ril, inv_type::s2_vmid, 2, true, false, 0, 14), {4});
    run(a, 0x40000, 2 * k16k, k16k, true);
    expect_events({ev(ril, make_tlbi_s2_ipa(2, 0x40000, true,
                                            range(tlbi_granule::size_16k, tlbi_ttl::level3, 0, 1))),
                   sync_ev(ril), ev(ril, make_atc_inv(stream_ref(4), 0x40000, 3)), sync_ev(ril)});
}

TEST_F(inv_range_fixture, nesting_parent_with_ats) {
    auto a = attached(spec(plain, inv_type::s2_vmid, 2, true, true), {4, 9});
    const inv_range_status st = run(a, 0x10000, 2 * k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_s2_ipa(2, 0x10000, true)),
                   ev(plain, make_tlbi_s2_ipa(2, 0x11000, true)), sync_ev(plain),
                   ev(plain, make_tlbi_nh_all(2)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0, 52)),
                   ev(plain, make_atc_inv(stream_ref(9), 0, 52)), sync_ev(plain)});
    EXPECT_EQ(st.syncs, 3u);
}

TEST_F(inv_range_fixture, nesting_parent_full_flush_skips_s1_clear_without_a_sync) {
    auto a = attached(spec(plain, inv_type::s2_vmid, 2, true, true), {4, 9});
    invs_slot slot(a);
    const inv_range_status st = domain_inv_all(slot, m_sink);
    expect_events({ev(plain, make_tlbi_s12_vmall(2)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0, 52)),
                   ev(plain, make_atc_inv(stream_ref(9), 0, 52)), sync_ev(plain)});
    EXPECT_EQ(st.commands, 3u);
    EXPECT_EQ(st.syncs, 2u);
}

TEST_F(inv_range_fixture, nesting_parent_full_flush_by_threshold) {
    auto a = attached(spec(plain, inv_type::s2_vmid, 2, true, true), {4});
    run(a, 0, k2m, k4k, true);
    expect_events({ev(plain, make_tlbi_s12_vmall(2)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0, 52)), sync_ev(plain)});
}

TEST_F(inv_range_fixture, skipped_s1_clear_as_last_entry_ends_the_walk) {
    // The originally merged walker looped forever here (§4.3).
    auto a = attached(spec(plain, inv_type::s2_vmid, 3, false, true), {});
    invs_slot slot(a);
    const inv_range_status st = domain_inv_all(slot, m_sink);
    expect_events({ev(plain, make_tlbi_s12_vmall(3)), sync_ev(plain)});
    EXPECT_EQ(st.syncs, 1u);
}

TEST_F(inv_range_fixture, skipped_s1_clear_before_another_smmu) {
    auto a = array_of({make_inv(plain, inv_type::s2_vmid, 3),
                       make_inv(plain, inv_type::s2_vmid_s1_clear, 3),
                       make_inv(ril, inv_type::s1_asid, 1, 0, 12)});
    invs_slot slot(a);
    domain_inv_all(slot, m_sink);
    expect_events({ev(plain, make_tlbi_s12_vmall(3)), sync_ev(plain),
                   ev(ril, make_tlbi_nh_asid(0, 1)), sync_ev(ril)});
}

TEST_F(inv_range_fixture, s1_clear_skip_is_tied_to_its_own_vmid_and_smmu) {
    // Multi-pair: a plain S2 tag and a vSMMU tag; only VMID 7 has an S1_CLEAR.
    auto a = array_of({make_inv(plain, inv_type::s2_vmid, 3),
                       make_inv(plain, inv_type::s2_vmid_vsmmu, 7),
                       make_inv(plain, inv_type::s2_vmid_s1_clear, 7)});
    invs_slot slot(a);
    domain_inv_all(slot, m_sink);
    expect_events(
        {ev(plain, make_tlbi_s12_vmall(3)), ev(plain, make_tlbi_s12_vmall(7)), sync_ev(plain)});

    m_sink.events.clear();
    run(a, 0, k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_s2_ipa(3, 0, true)), ev(plain, make_tlbi_s2_ipa(7, 0, true)),
                   sync_ev(plain), ev(plain, make_tlbi_nh_all(7)), sync_ev(plain)});

    // An S1_CLEAR whose VMID got no S12_VMALL, or got it on another SMMU, is emitted.
    auto b = array_of({make_inv(plain, inv_type::s2_vmid, 3),
                       make_inv(plain, inv_type::s2_vmid_s1_clear, 9),
                       make_inv(ril, inv_type::s2_vmid_s1_clear, 3)});
    m_sink.events.clear();
    invs_slot slot_b(b);
    domain_inv_all(slot_b, m_sink);
    expect_events({ev(plain, make_tlbi_s12_vmall(3)), sync_ev(plain),
                   ev(plain, make_tlbi_nh_all(9)), sync_ev(plain), ev(ril, make_tlbi_nh_all(3)),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, sva_domain_uses_the_pasid_in_atc_inv) {
    auto a = attached(spec(plain, inv_type::s1_asid, 11, true, false, 5), {1, 2});
    run(a, 0x7000, 0x4000, k4k, false);
    // Pages 7..10 -> the aligned window 0..15 (SIZE 4).
    expect_events({ev(plain, make_tlbi_nh_va(0, 11, 0x7000, false)),
                   ev(plain, make_tlbi_nh_va(0, 11, 0x8000, false)),
                   ev(plain, make_tlbi_nh_va(0, 11, 0x9000, false)),
                   ev(plain, make_tlbi_nh_va(0, 11, 0xa000, false)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(1, 5), 0, 4)),
                   ev(plain, make_atc_inv(stream_ref(2, 5), 0, 4)), sync_ev(plain)});
}

TEST_F(inv_range_fixture, e2h_uses_el2_opcodes) {
    auto a = attached(spec(e2h, inv_type::s1_asid, 6, false), {});
    run(a, 0x3000, k4k, k4k, true);
    invs_slot slot(a);
    domain_inv_all(slot, m_sink);
    expect_events({ev(e2h, make_tlbi_el2_va(6, 0x3000, true)), sync_ev(e2h),
                   ev(e2h, make_tlbi_el2_asid(6)), sync_ev(e2h)});
}

TEST_F(inv_range_fixture, s1_full_flush_and_everything_sizes) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, true), {4});
    run(a, 0, k2m, k4k, true); // threshold: ASID flush, ATC by range
    run(a, 0x5000, std::numeric_limits<std::uint64_t>::max(), k4k, true); // everything
    expect_events({ev(plain, make_tlbi_nh_asid(0, 1)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0, 9)), sync_ev(plain),
                   ev(plain, make_tlbi_nh_asid(0, 1)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0, 52)), sync_ev(plain)});
}

TEST_F(inv_range_fixture, just_below_threshold_emits_511_tlbis) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, false), {});
    const inv_range_status st = run(a, 0, k2m - k4k, k4k, true);
    EXPECT_EQ(st.commands, 511u);
    EXPECT_EQ(st.syncs, 1u);
    ASSERT_EQ(m_sink.events.size(), 512u);
    EXPECT_EQ(m_sink.events[510], ev(plain, make_tlbi_nh_va(0, 1, 0x1fe000, true)));
    EXPECT_EQ(m_sink.events[511], sync_ev(plain));
}

TEST_F(inv_range_fixture, two_smmus_one_segment_each) {
    auto a = array_of({make_inv(plain, inv_type::s1_asid, 1), make_inv(plain, inv_type::ats, 4),
                       make_inv(ril, inv_type::s1_asid, 1, 0, 12)});
    run(a, 0x10000, 2 * k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_nh_va(0, 1, 0x10000, true)),
                   ev(plain, make_tlbi_nh_va(0, 1, 0x11000, true)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0x10000, 1)), sync_ev(plain),
                   ev(ril, make_tlbi_nh_va(0, 1, 0x10000, true,
                                           range(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 1))),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, trash_is_skipped_and_does_not_split_segments) {
    auto a = array_of({make_inv(plain, inv_type::s1_asid, 1), make_inv(plain, inv_type::s1_asid, 2),
                       make_inv(plain, inv_type::ats, 5), make_inv(plain, inv_type::ats, 6)});
    (*a)[1].users.store(0);
    (*a)[2].users.store(0);
    run(a, 0x10000, k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_nh_va(0, 1, 0x10000, true)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(6), 0x10000, 0)), sync_ev(plain)});
    // Trash at the end: the TLBI segment is the last one.
    (*a)[3].users.store(0);
    m_sink.events.clear();
    run(a, 0x10000, k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_nh_va(0, 1, 0x10000, true)), sync_ev(plain)});
}

TEST_F(inv_range_fixture, walker_respects_a_shrunk_num_invs) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, true), {4});
    std::optional<inv_list> l = inv_list::create(1);
    ASSERT_TRUE(l.has_value());
    l->push(make_inv(plain, inv_type::ats, 4));
    invs_unref(*a, *l);
    ASSERT_EQ(a->num_invs(), 1u);
    run(a, 0x10000, k4k, k4k, true);
    expect_events({ev(plain, make_tlbi_nh_va(0, 1, 0x10000, true)), sync_ev(plain)});
}

TEST_F(inv_range_fixture, empty_and_missing_arrays_emit_nothing) {
    auto empty = inv_array::create(0, m_locks);
    const inv_range_status st = run(empty, 0, 0, 0, false);
    EXPECT_EQ(st.commands, 0u);
    EXPECT_EQ(st.syncs, 0u);
    EXPECT_TRUE(st.ok);
    invs_slot none;
    domain_inv_all(none, m_sink);
    EXPECT_TRUE(m_sink.events.empty());
}

// ---- §4.6 RIL encodings --------------------------------------------------------------------

TEST_F(inv_range_fixture, ril_worked_example_67_pages) {
    auto a = attached(spec(ril, inv_type::s2_vmid, 2, false), {});
    run(a, 0x100000, 0x43000, k4k, true);
    expect_events({ev(ril, make_tlbi_s2_ipa(2, 0x100000, true,
                                            range(tlbi_granule::size_4k, tlbi_ttl::level3, 2, 0))),
                   ev(ril, make_tlbi_s2_ipa(2, 0x103000, true,
                                            range(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 6))),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, ril_non_leaf_single_page_is_bumped_to_two) {
    auto a = attached(spec(ril, inv_type::s1_asid, 3, false), {});
    run(a, 0x5000, k4k, k4k, false);
    expect_events({ev(ril, make_tlbi_nh_va(0, 3, 0x5000, false,
                                           range(tlbi_granule::size_4k, tlbi_ttl::any, 0, 1))),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, ril_block_leaf_gets_level_2_ttl) {
    auto a = attached(spec(ril, inv_type::s1_asid, 3, false), {});
    run(a, 0x40000000, 2 * k2m, k2m, true); // 1024 pages: NUM 0, SCALE 10
    expect_events({ev(ril, make_tlbi_nh_va(0, 3, 0x40000000, true,
                                           range(tlbi_granule::size_4k, tlbi_ttl::level2, 0, 10))),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, ril_64k_pages) {
    auto a = attached(spec(ril, inv_type::s2_vmid, 4, false, false, 0, 16), {});
    run(a, 0x30000, 3 * k64k, k64k, true);
    expect_events({ev(ril, make_tlbi_s2_ipa(4, 0x30000, true,
                                            range(tlbi_granule::size_64k, tlbi_ttl::level3, 2, 0))),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, ril_smmu_without_a_valid_pgsize_falls_back_to_pages) {
    auto a = array_of({make_inv(ril, inv_type::s1_asid, 1, 0, 0)});
    run(a, 0x1000, 2 * k4k, k4k, true);
    expect_events({ev(ril, make_tlbi_nh_va(0, 1, 0x1000, true)),
                   ev(ril, make_tlbi_nh_va(0, 1, 0x2000, true)), sync_ev(ril)});
}

TEST_F(inv_range_fixture, ril_without_granule_uses_the_page_size) {
    auto a = attached(spec(ril, inv_type::s1_asid, 1, false), {});
    run(a, 0x1000, 2 * k4k, 0, true);
    expect_events({ev(ril, make_tlbi_nh_va(0, 1, 0x1000, true,
                                           range(tlbi_granule::size_4k, tlbi_ttl::level3, 0, 1))),
                   sync_ev(ril)});
}

TEST_F(inv_range_fixture, non_ril_steps_by_the_granule_and_masks_the_address) {
    auto a = attached(spec(plain, inv_type::s2_vmid, 1, false), {});
    run(a, 0x200123, 2 * k2m, k2m, false);
    expect_events({ev(plain, make_tlbi_s2_ipa(1, 0x200000, false)),
                   ev(plain, make_tlbi_s2_ipa(1, 0x400000, false)), sync_ev(plain)});
}

// ---- §4.7 ATC_INV encodings ----------------------------------------------------------------

TEST_F(inv_range_fixture, atc_inv_windows) {
    auto a = array_of({make_inv(plain, inv_type::ats, 8)});
    run(a, 0x7000, 0x4000, k4k, true);   // pages 7..10 -> 0..15
    run(a, 0x12000, k4k, k4k, true);     // one page -> SIZE 0
    run(a, 0x1ff000, 0x2000, k4k, true); // pages 0x1ff..0x200 -> 0..0x3ff
    expect_events({ev(plain, make_atc_inv(stream_ref(8), 0, 4)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(8), 0x12000, 0)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(8), 0, 10)), sync_ev(plain)});
}

// ---- sink failures -------------------------------------------------------------------------

TEST_F(inv_range_fixture, sink_failures_are_reported_and_the_walk_continues) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, true), {4});
    m_sink.fail_add_at = 1;
    inv_range_status st = run(a, 0x10000, k4k, k4k, true);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.commands, 2u);
    EXPECT_EQ(st.syncs, 2u);
    EXPECT_EQ(m_sink.events.size(), 4u);

    recording_sink sync_fails;
    sync_fails.fail_sync_at = 2;
    invs_slot slot(a);
    st = domain_inv_range(slot, inv_range_args{0x10000, k4k, k4k, true}, sync_fails);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(sync_fails.events.size(), 4u);
}

TEST_F(inv_range_fixture, walk_without_fence_or_lock) {
    auto a = attached(spec(plain, inv_type::s1_asid, 1, true), {4});
    const inv_range_status st = inv_range_walk(*a, inv_range_args{0, 0, 0, false}, m_sink);
    expect_events({ev(plain, make_tlbi_nh_asid(0, 1)), sync_ev(plain),
                   ev(plain, make_atc_inv(stream_ref(4), 0, 52)), sync_ev(plain)});
    EXPECT_EQ(st.commands, 2u);
    EXPECT_EQ(m_locks.counters.shared.load(), 0u);
}

} // namespace
} // namespace smmu::driver
