// The invalidation array: inv_cmp, the trash-skipping iterator, merge / unref /
// purge (linux-invs.md §3.1-§3.4, every edge case of §3.11), publication and
// the per-master build (§3.5).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/invs.h"
#include "tests/unit/driver/fake_platform_invs.h"

namespace smmu::driver {

/// Reaches the counters no public operation can corrupt (error paths of purge).
struct inv_array_test_access {
    static void set_num_trashes(inv_array& a, std::size_t n) { a.m_num_trashes = n; }
};

namespace {

using arch::opcode;
using test::test_lock_factory;

// Two SMMUs in one array so their addresses are ordered: smmus[0] < smmus[1].
smmu_caps g_smmus[2] = {smmu_caps{0, false, true, false, 16, 16, nullptr},
                        smmu_caps{1, true, true, false, 16, 16, nullptr}};
smmu_ref s0 = &g_smmus[0];
smmu_ref s1 = &g_smmus[1];

inv asid(std::uint32_t id, smmu_ref s = s0) {
    return make_inv(s, inv_type::s1_asid, id);
}
inv vmid(std::uint32_t id, smmu_ref s = s0) {
    return make_inv(s, inv_type::s2_vmid, id);
}
inv vsmmu(std::uint32_t id, smmu_ref s = s0) {
    return make_inv(s, inv_type::s2_vmid_vsmmu, id);
}
inv clear(std::uint32_t id, smmu_ref s = s0) {
    return make_inv(s, inv_type::s2_vmid_s1_clear, id);
}
inv ats(std::uint32_t sid, std::uint32_t ssid = 0, smmu_ref s = s0) {
    return make_inv(s, inv_type::ats, sid, ssid);
}
inv ats_full(std::uint32_t sid, smmu_ref s = s0) {
    return make_inv(s, inv_type::ats_full, sid);
}

inv_list list_of(std::initializer_list<inv> items) {
    std::optional<inv_list> l = inv_list::create(items.size());
    EXPECT_TRUE(l.has_value());
    for (const inv& e : items)
        EXPECT_TRUE(l->push(e));
    return std::move(*l);
}

/// Every slot in [0, num_invs), trash included: "A1x2" = S1_ASID 1 with 2 users,
/// V = S2_VMID, W = S2_VMID_VSMMU, C = S2_VMID_S1_CLEAR, T = ATS sid.ssid,
/// F = ATS_FULL; a "1:" prefix marks the second SMMU.
std::string dump(const inv_array& a) {
    std::string s;
    for (std::size_t i = 0; i < a.num_invs(); ++i) {
        const inv& e = a[i];
        if (!s.empty())
            s += ' ';
        if (e.smmu == s1)
            s += "1:";
        switch (e.type) {
        case inv_type::s1_asid:
            s += 'A';
            break;
        case inv_type::s2_vmid:
            s += 'V';
            break;
        case inv_type::s2_vmid_vsmmu:
            s += 'W';
            break;
        case inv_type::s2_vmid_s1_clear:
            s += 'C';
            break;
        case inv_type::ats:
            s += 'T';
            break;
        case inv_type::ats_full:
            s += 'F';
            break;
        }
        s += std::to_string(e.id);
        if (e.type == inv_type::ats)
            s += "." + std::to_string(e.ssid);
        s += "x" + std::to_string(e.users.load());
    }
    return s;
}

std::string outcomes(const inv_list& l) {
    std::string s;
    for (std::size_t i = 0; i < l.size(); ++i)
        s += std::to_string(l[i].users.load());
    return s;
}

class invs_fixture : public ::testing::Test {
protected:
    std::shared_ptr<inv_array> empty() {
        auto a = inv_array::create(0, m_locks);
        EXPECT_NE(a, nullptr);
        return a;
    }
    /// Merges `items` into `base` and returns the new array (must succeed).
    std::shared_ptr<inv_array> merged(const inv_array& base, std::initializer_list<inv> items) {
        inv_list l = list_of(items);
        merge_result r = invs_merge(base, l);
        EXPECT_TRUE(r.ok()) << invs_error_name(r.error);
        return r.invs;
    }
    std::shared_ptr<inv_array> array_of(std::initializer_list<inv> items) {
        return merged(*empty(), items);
    }

    test_lock_factory m_locks;
};

// ---- primitives ----------------------------------------------------------------------------

TEST(invs_types, enum_values_follow_the_semantic_order) {
    EXPECT_EQ(static_cast<int>(inv_type::s1_asid), 0);
    EXPECT_EQ(static_cast<int>(inv_type::s2_vmid), 1);
    EXPECT_EQ(static_cast<int>(inv_type::s2_vmid_vsmmu), 2);
    EXPECT_EQ(static_cast<int>(inv_type::s2_vmid_s1_clear), 3);
    EXPECT_EQ(static_cast<int>(inv_type::ats), 4);
    EXPECT_EQ(static_cast<int>(inv_type::ats_full), 5);
    EXPECT_FALSE(is_ats(inv_type::s2_vmid_s1_clear));
    EXPECT_TRUE(is_ats(inv_type::ats));
    EXPECT_TRUE(is_ats(inv_type::ats_full));
    EXPECT_TRUE(is_tag_type(inv_type::s1_asid));
    EXPECT_TRUE(is_tag_type(inv_type::s2_vmid));
    EXPECT_TRUE(is_tag_type(inv_type::s2_vmid_vsmmu));
    EXPECT_FALSE(is_tag_type(inv_type::s2_vmid_s1_clear));
    EXPECT_FALSE(is_tag_type(inv_type::ats));
}

TEST(invs_types, opcodes_per_type_and_e2h) {
    const smmu_caps e2h{7, false, false, true, 16, 16, nullptr};
    EXPECT_EQ(opcodes_for(s0, inv_type::s1_asid).size_opcode, opcode::tlbi_nh_va);
    EXPECT_EQ(opcodes_for(s0, inv_type::s1_asid).nsize_opcode, opcode::tlbi_nh_asid);
    EXPECT_EQ(opcodes_for(&e2h, inv_type::s1_asid).size_opcode, opcode::tlbi_el2_va);
    EXPECT_EQ(opcodes_for(&e2h, inv_type::s1_asid).nsize_opcode, opcode::tlbi_el2_asid);
    EXPECT_EQ(opcodes_for(&e2h, inv_type::s2_vmid).size_opcode, opcode::tlbi_s2_ipa);
    EXPECT_EQ(opcodes_for(s0, inv_type::s2_vmid).nsize_opcode, opcode::tlbi_s12_vmall);
    EXPECT_EQ(opcodes_for(s0, inv_type::s2_vmid_vsmmu).size_opcode, opcode::tlbi_s2_ipa);
    EXPECT_EQ(opcodes_for(s0, inv_type::s2_vmid_vsmmu).nsize_opcode, opcode::tlbi_s12_vmall);
    EXPECT_EQ(opcodes_for(s0, inv_type::s2_vmid_s1_clear).size_opcode, opcode::tlbi_nh_all);
    EXPECT_EQ(opcodes_for(s0, inv_type::s2_vmid_s1_clear).nsize_opcode, opcode::tlbi_nh_all);
    EXPECT_EQ(opcodes_for(s0, inv_type::ats).size_opcode, opcode::atc_inv);
    EXPECT_EQ(opcodes_for(s0, inv_type::ats_full).nsize_opcode, opcode::atc_inv);
    EXPECT_EQ(opcodes_for(nullptr, inv_type::s1_asid).size_opcode, opcode::tlbi_nh_va);
}

TEST(invs_types, make_inv_fills_every_field) {
    const inv e = make_inv(s1, inv_type::s1_asid, 42, 9, 12);
    EXPECT_EQ(e.smmu, s1);
    EXPECT_EQ(e.type, inv_type::s1_asid);
    EXPECT_EQ(e.size_opcode, opcode::tlbi_nh_va);
    EXPECT_EQ(e.nsize_opcode, opcode::tlbi_nh_asid);
    EXPECT_EQ(e.id, 42u);
    EXPECT_EQ(e.ssid, 0u); // only ATS types keep a ssid
    EXPECT_EQ(e.pgsize, 12u);
    EXPECT_EQ(e.users.load(), 0);
    const inv t = make_inv(s0, inv_type::ats, 5, 3);
    EXPECT_EQ(t.ssid, 3u);
    EXPECT_EQ(t.pgsize, 0u);
}

TEST(invs_types, caps_from_features_reads_widths_ril_ats) {
    arch::feature_set f;
    f.asid16 = false;
    f.vmid16 = true;
    f.ril = false;
    f.ats = true;
    const smmu_caps c = caps_from_features(f, true, 3);
    EXPECT_EQ(c.index, 3u);
    EXPECT_EQ(c.asid_bits, 8u);
    EXPECT_EQ(c.vmid_bits, 16u);
    EXPECT_FALSE(c.ril);
    EXPECT_TRUE(c.ats);
    EXPECT_TRUE(c.e2h);
    f.asid16 = true;
    f.vmid16 = false;
    f.ril = true;
    f.ats = false;
    const smmu_caps d = caps_from_features(f, false);
    EXPECT_EQ(d.asid_bits, 16u);
    EXPECT_EQ(d.vmid_bits, 8u);
    EXPECT_TRUE(d.ril);
    EXPECT_FALSE(d.ats);
    EXPECT_FALSE(d.e2h);
}

TEST(invs_types, relaxed_int_copies_its_value) {
    relaxed_int a(5);
    relaxed_int b(a);
    EXPECT_EQ(b.load(), 5);
    a.store(7);
    b = a;
    EXPECT_EQ(b.load(), 7);
}

TEST(inv_cmp, orders_by_smmu_then_type_then_id) {
    EXPECT_EQ(inv_cmp(asid(1), asid(1)), 0);
    EXPECT_EQ(inv_cmp(asid(9), asid(1, s1)), -1); // SMMU first
    EXPECT_EQ(inv_cmp(ats(1, 0, s1), ats_full(9)), 1);
    EXPECT_EQ(inv_cmp(asid(9), vmid(1)), -1); // then type
    EXPECT_EQ(inv_cmp(vmid(9), vsmmu(1)), -1);
    EXPECT_EQ(inv_cmp(vsmmu(9), clear(1)), -1);
    EXPECT_EQ(inv_cmp(clear(9), ats(1)), -1);
    EXPECT_EQ(inv_cmp(ats(9, 9), ats_full(1)), -1);
    EXPECT_EQ(inv_cmp(vmid(2), vmid(1)), 1); // then id
    EXPECT_EQ(inv_cmp(ats(1, 7), ats(2, 0)), -1);
}

TEST(inv_cmp, ssid_only_compared_for_ats_types) {
    inv a = asid(1);
    inv b = asid(1);
    a.ssid = 1; // a ssid on a non-ATS entry is ignored
    b.ssid = 2;
    EXPECT_EQ(inv_cmp(a, b), 0);
    EXPECT_EQ(inv_cmp(ats(5, 1), ats(5, 2)), -1);
    EXPECT_EQ(inv_cmp(ats(5, 2), ats(5, 1)), 1);
    EXPECT_EQ(inv_cmp(ats(5, 2), ats(5, 2)), 0);
    inv f1 = ats_full(5);
    inv f2 = ats_full(5);
    f1.ssid = 3;
    EXPECT_EQ(inv_cmp(f1, f2), 1);
    // Users and opcodes never matter.
    inv u = asid(1);
    u.users.store(9);
    u.size_opcode = opcode::tlbi_el2_va;
    EXPECT_EQ(inv_cmp(u, asid(1)), 0);
}

// ---- inv_list and inv_array ----------------------------------------------------------------

TEST(inv_list, fixed_capacity_push_and_clear) {
    std::optional<inv_list> l = inv_list::create(2);
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->capacity(), 2u);
    EXPECT_TRUE(l->empty());
    EXPECT_TRUE(l->push(asid(1)));
    EXPECT_TRUE(l->push(ats(3)));
    EXPECT_FALSE(l->push(ats(4)));
    EXPECT_EQ(l->size(), 2u);
    EXPECT_EQ((*l)[1].id, 3u);
    l->clear();
    EXPECT_EQ(l->size(), 0u);
    EXPECT_EQ(l->capacity(), 2u);
    inv_list none;
    EXPECT_EQ(none.capacity(), 0u);
    EXPECT_FALSE(none.push(asid(1)));
}

TEST_F(invs_fixture, empty_array_for_a_new_domain) {
    auto a = inv_array::create(0, m_locks);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->capacity(), 0u);
    EXPECT_EQ(a->num_invs(), 0u);
    EXPECT_EQ(a->num_trashes(), 0u);
    EXPECT_FALSE(a->has_ats());
    EXPECT_EQ(a->next_live(0, 0), 0u);
    EXPECT_EQ(a->count_live(), 0u);
    EXPECT_EQ(&a->lock_factory(), &m_locks);
}

TEST_F(invs_fixture, create_sets_num_invs_to_capacity) {
    auto a = inv_array::create(3, m_locks);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->capacity(), 3u);
    EXPECT_EQ(a->num_invs(), 3u);
    EXPECT_EQ(a->count_live(), 0u); // default entries have users 0
}

TEST_F(invs_fixture, create_fails_when_the_lock_cannot_be_allocated) {
    m_locks.fail_next();
    EXPECT_EQ(inv_array::create(4, m_locks), nullptr);
    EXPECT_NE(inv_array::create(4, m_locks), nullptr);
}

TEST_F(invs_fixture, iterator_skips_trash) {
    auto a = array_of({asid(1), ats(2), ats(3), ats(4)});
    (*a)[1].users.store(0);
    (*a)[2].users.store(0);
    EXPECT_EQ(a->next_live(0, 4), 0u);
    EXPECT_EQ(a->next_live(1, 4), 3u);
    EXPECT_EQ(a->next_live(3, 3), 3u); // bounded by `end`
    (*a)[3].users.store(0);
    EXPECT_EQ(a->next_live(1, 4), 4u);
    EXPECT_EQ(a->count_live(), 1u);
}

// ---- merge ---------------------------------------------------------------------------------

TEST_F(invs_fixture, merge_into_empty_sets_users_to_one) {
    auto a = array_of({asid(1), ats(5), ats(7)});
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(dump(*a), "A1x1 T5.0x1 T7.0x1");
    EXPECT_EQ(a->capacity(), 3u);
    EXPECT_EQ(a->num_trashes(), 0u);
    EXPECT_TRUE(a->has_ats());
}

TEST_F(invs_fixture, merge_without_ats_entries_leaves_has_ats_clear) {
    auto a = array_of({vmid(3), clear(3)});
    EXPECT_EQ(dump(*a), "V3x1 C3x1");
    EXPECT_FALSE(a->has_ats());
    auto b = merged(*a, {asid(2), ats_full(8)});
    EXPECT_EQ(dump(*b), "A2x1 V3x1 C3x1 F8x1");
    EXPECT_TRUE(b->has_ats());
}

TEST_F(invs_fixture, merge_counts_shared_entries_and_keeps_the_input) {
    auto a = array_of({asid(1), ats(5)});
    auto b = merged(*a, {asid(1), ats(6)});
    EXPECT_EQ(dump(*b), "A1x2 T5.0x1 T6.0x1");
    EXPECT_EQ(dump(*a), "A1x1 T5.0x1"); // the published array is untouched
    EXPECT_NE(a.get(), b.get());
}

TEST_F(invs_fixture, merge_interleaves_two_smmus_and_all_types) {
    auto a = array_of({vmid(2), ats_full(9), asid(4, s1)});
    auto b = merged(*a, {asid(1), vsmmu(7), clear(7), ats(3, 0, s1)});
    EXPECT_EQ(dump(*b), "A1x1 V2x1 W7x1 C7x1 F9x1 1:A4x1 1:T3.0x1");
}

TEST_F(invs_fixture, merge_of_an_empty_list_copies_live_entries_only) {
    auto a = array_of({asid(1), ats(2), ats(3)});
    (*a)[1].users.store(0);
    inv_list none;
    merge_result r = invs_merge(*a, none);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(dump(*r.invs), "A1x1 T3.0x1");
    EXPECT_EQ(r.invs->capacity(), 2u);
}

TEST_F(invs_fixture, merge_reports_no_memory_and_changes_nothing) {
    auto a = array_of({asid(1)});
    inv_list l = list_of({asid(1), ats(2)});
    m_locks.fail_next();
    merge_result r = invs_merge(*a, l);
    EXPECT_EQ(r.error, invs_error::no_memory);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.invs, nullptr);
    EXPECT_EQ(dump(*a), "A1x1");
}

TEST_F(invs_fixture, merge_rejects_an_unsorted_list) {
    auto a = array_of({asid(1)});
    inv_list l = list_of({ats(7), ats(5)});
    merge_result r = invs_merge(*a, l);
    EXPECT_EQ(r.error, invs_error::unsorted);
    EXPECT_EQ(r.invs, nullptr);
    inv_list wrong_types = list_of({ats(1), asid(2)});
    EXPECT_EQ(invs_merge(*a, wrong_types).error, invs_error::unsorted);
    inv_list wrong_smmus = list_of({asid(1, s1), asid(1, s0)});
    EXPECT_EQ(invs_merge(*empty(), wrong_smmus).error, invs_error::unsorted);
}

// ---- unref ---------------------------------------------------------------------------------

TEST_F(invs_fixture, unref_middle_entry_leaves_trash_in_place) {
    auto a = array_of({asid(1), ats(5), ats(6)});
    inv_list l = list_of({ats(5)});
    EXPECT_EQ(invs_unref(*a, l), 0u);
    EXPECT_EQ(dump(*a), "A1x1 T5.0x0 T6.0x1");
    EXPECT_EQ(a->num_invs(), 3u);
    EXPECT_EQ(a->num_trashes(), 1u);
    EXPECT_EQ(outcomes(l), "0");
    EXPECT_TRUE(a->has_ats());
}

TEST_F(invs_fixture, unref_reports_still_referenced_entries) {
    auto a = array_of({asid(1), ats(5)});
    a = merged(*a, {asid(1), ats(6)}); // A1x2
    inv_list l = list_of({asid(1), ats(6)});
    invs_unref(*a, l);
    EXPECT_EQ(outcomes(l), "10");
    EXPECT_EQ(dump(*a), "A1x1 T5.0x1"); // T6 was trailing: trimmed
    EXPECT_EQ(a->num_trashes(), 0u);
}

TEST_F(invs_fixture, unref_of_trailing_entries_shrinks_num_invs_only) {
    auto a = array_of({asid(1), ats(5), ats(6)});
    inv_list l = list_of({ats(5), ats(6)});
    invs_unref(*a, l);
    EXPECT_EQ(a->num_invs(), 1u);
    EXPECT_EQ(a->num_trashes(), 0u);
    EXPECT_EQ(a->capacity(), 3u);
    EXPECT_EQ(dump(*a), "A1x1");
    EXPECT_EQ(outcomes(l), "00");
}

TEST_F(invs_fixture, unref_of_everything_empties_the_array) {
    auto a = array_of({vmid(3), clear(3), ats_full(4), ats_full(8)});
    inv_list l = list_of({vmid(3), clear(3), ats_full(4), ats_full(8)});
    invs_unref(*a, l);
    EXPECT_EQ(a->num_invs(), 0u);
    EXPECT_EQ(a->num_trashes(), 0u);
    EXPECT_EQ(outcomes(l), "0000");
    EXPECT_EQ(a->count_live(), 0u);
}

TEST_F(invs_fixture, middle_trash_that_becomes_trailing_leaves_num_trashes) {
    auto a = array_of({asid(1), asid(2), ats(5), ats(6)});
    inv_list first = list_of({asid(2), ats(5)});
    invs_unref(*a, first);
    EXPECT_EQ(dump(*a), "A1x1 A2x0 T5.0x0 T6.0x1");
    EXPECT_EQ(a->num_trashes(), 2u);
    inv_list second = list_of({ats(6)});
    invs_unref(*a, second);
    EXPECT_EQ(dump(*a), "A1x1");
    EXPECT_EQ(a->num_invs(), 1u);
    EXPECT_EQ(a->num_trashes(), 0u); // 2 old + 1 new, all trailing
}

TEST_F(invs_fixture, unref_only_partly_trailing_keeps_middle_trash_counted) {
    auto a = array_of({asid(1), asid(2), asid(3), ats(5)});
    inv_list l = list_of({asid(2), ats(5)});
    invs_unref(*a, l);
    EXPECT_EQ(dump(*a), "A1x1 A2x0 A3x1");
    EXPECT_EQ(a->num_trashes(), 1u);
}

TEST_F(invs_fixture, unref_of_a_missing_entry_is_reported_not_applied) {
    auto a = array_of({asid(1), ats(5)});
    inv_list l = list_of({asid(1), ats(6)});
    l[1].users.store(7); // untouched when not found
    EXPECT_EQ(invs_unref(*a, l), 1u);
    EXPECT_EQ(dump(*a), "A1x0 T5.0x1");
    EXPECT_EQ(outcomes(l), "07");
    EXPECT_EQ(a->num_trashes(), 1u);
}

TEST_F(invs_fixture, unref_ignores_entries_already_trash) {
    auto a = array_of({asid(1), ats(5), ats(6)});
    inv_list once = list_of({ats(5)});
    invs_unref(*a, once);
    inv_list again = list_of({ats(5)});
    EXPECT_EQ(invs_unref(*a, again), 1u);
    EXPECT_EQ(dump(*a), "A1x1 T5.0x0 T6.0x1");
    EXPECT_EQ(a->num_trashes(), 1u);
}

TEST_F(invs_fixture, unref_takes_the_write_lock_once_and_charges_it) {
    auto a = array_of({asid(1), ats(5)});
    inv_list l = list_of({ats(5)});
    test::fake_platform_invs platform;
    const unsigned before = m_locks.counters.exclusive.load();
    invs_unref(*a, l, &platform);
    EXPECT_EQ(m_locks.counters.exclusive.load(), before + 1);
    EXPECT_EQ(platform.charges[cpu_op::lock], 1u);
    inv_list nothing;
    invs_unref(*a, nothing); // even a no-op unref fences readers
    EXPECT_EQ(m_locks.counters.exclusive.load(), before + 2);
}

// ---- purge ---------------------------------------------------------------------------------

TEST_F(invs_fixture, purge_compacts_and_recomputes_has_ats) {
    auto a = array_of({asid(1), ats(5), asid(2, s1)});
    inv_list l = list_of({ats(5)});
    invs_unref(*a, l);
    ASSERT_EQ(dump(*a), "A1x1 T5.0x0 1:A2x1");
    purge_result p = invs_purge(*a);
    ASSERT_EQ(p.status, purge_status::purged);
    EXPECT_EQ(dump(*p.invs), "A1x1 1:A2x1");
    EXPECT_EQ(p.invs->capacity(), 2u);
    EXPECT_EQ(p.invs->num_trashes(), 0u);
    EXPECT_FALSE(p.invs->has_ats());
    EXPECT_TRUE(a->has_ats()); // the old array is immutable apart from users
}

TEST_F(invs_fixture, purge_keeps_has_ats_when_live_ats_remain) {
    auto a = array_of({asid(1), ats(5), ats(6)});
    inv_list l = list_of({ats(5)});
    invs_unref(*a, l);
    purge_result p = invs_purge(*a);
    ASSERT_EQ(p.status, purge_status::purged);
    EXPECT_EQ(dump(*p.invs), "A1x1 T6.0x1");
    EXPECT_TRUE(p.invs->has_ats());
}

TEST_F(invs_fixture, purge_has_nothing_to_do_without_trash) {
    auto a = array_of({asid(1), ats(5)});
    purge_result p = invs_purge(*a);
    EXPECT_EQ(p.status, purge_status::nothing_to_do);
    EXPECT_EQ(p.invs, nullptr);
    EXPECT_EQ(invs_purge(*empty()).status, purge_status::nothing_to_do);
    inv_list all = list_of({asid(1), ats(5)});
    invs_unref(*a, all); // trailing trash is trimmed, not left for purge
    EXPECT_EQ(invs_purge(*a).status, purge_status::nothing_to_do);
}

TEST_F(invs_fixture, purge_failure_is_harmless) {
    auto a = array_of({asid(1), ats(5), ats(6)});
    inv_list l = list_of({ats(5)});
    invs_unref(*a, l);
    m_locks.fail_next();
    purge_result p = invs_purge(*a);
    EXPECT_EQ(p.status, purge_status::no_memory);
    EXPECT_EQ(p.invs, nullptr);
    EXPECT_EQ(dump(*a), "A1x1 T5.0x0 T6.0x1"); // readers keep skipping the trash
    EXPECT_EQ(a->num_trashes(), 1u);
    EXPECT_EQ(invs_purge(*a).status, purge_status::purged); // retried later
}

TEST_F(invs_fixture, purge_detects_inconsistent_counters) {
    auto a = array_of({asid(1), ats(5)});
    inv_array_test_access::set_num_trashes(*a, 3);
    EXPECT_EQ(invs_purge(*a).status, purge_status::inconsistent); // trashes > num_invs
    inv_array_test_access::set_num_trashes(*a, 1);
    EXPECT_EQ(invs_purge(*a).status, purge_status::inconsistent); // 2 live, room for 1
    auto b = array_of({asid(1), ats(5), ats(6)});
    (*b)[1].users.store(0);
    inv_array_test_access::set_num_trashes(*b, 2);
    EXPECT_EQ(invs_purge(*b).status, purge_status::inconsistent); // 2 live, room for 1
    auto c = array_of({asid(1), ats(5), ats(6)});
    (*c)[1].users.store(0);
    (*c)[2].users.store(0);
    inv_array_test_access::set_num_trashes(*c, 1);
    EXPECT_EQ(invs_purge(*c).status, purge_status::inconsistent); // 1 live, room for 2
}

// ---- §3.11 edge cases ----------------------------------------------------------------------

TEST_F(invs_fixture, merge_drops_trash_and_recovers_a_re_added_entry) {
    auto a = array_of({asid(1), ats(5), ats(6)});
    inv_list l = list_of({ats(5)});
    invs_unref(*a, l);
    ASSERT_EQ(dump(*a), "A1x1 T5.0x0 T6.0x1");
    auto b = merged(*a, {asid(1), ats(5)});
    EXPECT_EQ(dump(*b), "A1x2 T5.0x1 T6.0x1"); // trash recovered from the list with users 1
    EXPECT_EQ(b->num_trashes(), 0u);
    auto c = merged(*a, {asid(2)});
    EXPECT_EQ(dump(*c), "A1x1 A2x1 T6.0x1"); // trash not re-added disappears
    EXPECT_EQ(c->capacity(), 3u);
}

TEST_F(invs_fixture, reattach_same_domain_turning_ats_on_nets_out) {
    // Current: one master attached without ATS. Re-attach with ATS: merge into
    // the current array first, then unref the old-side list against the merged one.
    auto cur = array_of({asid(1)});
    auto next = merged(*cur, {asid(1), ats(5), ats(6)});
    EXPECT_EQ(dump(*next), "A1x2 T5.0x1 T6.0x1");
    inv_list old_side = list_of({asid(1)});
    invs_unref(*next, old_side);
    EXPECT_EQ(dump(*next), "A1x1 T5.0x1 T6.0x1");
    EXPECT_EQ(outcomes(old_side), "1"); // the tag is still in use: no flush
    EXPECT_EQ(next->num_trashes(), 0u);
}

TEST_F(invs_fixture, reattach_same_domain_turning_ats_off_nets_out) {
    auto cur = array_of({asid(1), ats(5), ats(6)});
    auto next = merged(*cur, {asid(1)});
    EXPECT_EQ(dump(*next), "A1x2 T5.0x1 T6.0x1");
    inv_list old_side = list_of({asid(1), ats(5), ats(6)});
    invs_unref(*next, old_side);
    EXPECT_EQ(dump(*next), "A1x1");
    EXPECT_EQ(outcomes(old_side), "100");
    EXPECT_EQ(next->num_trashes(), 0u);
}

TEST_F(invs_fixture, duplicate_stream_ids_stay_separate_and_pair_one_to_one) {
    auto a = array_of({asid(1), ats(5), ats(5)});
    EXPECT_EQ(dump(*a), "A1x1 T5.0x1 T5.0x1");
    auto b = merged(*a, {asid(1), ats(5), ats(5)});
    EXPECT_EQ(dump(*b), "A1x2 T5.0x2 T5.0x2");
    auto c = merged(*a, {asid(1), ats(5), ats(5), ats(5)});
    EXPECT_EQ(dump(*c), "A1x2 T5.0x2 T5.0x2 T5.0x1");
    inv_list l = list_of({asid(1), ats(5), ats(5)});
    invs_unref(*c, l);
    EXPECT_EQ(dump(*c), "A1x1 T5.0x1 T5.0x1 T5.0x1");
    EXPECT_EQ(outcomes(l), "111");
    inv_list one = list_of({ats(5)});
    invs_unref(*a, one); // the first of two equal entries goes to trash
    EXPECT_EQ(dump(*a), "A1x1 T5.0x0 T5.0x1");
    EXPECT_EQ(a->num_trashes(), 1u);
}

TEST_F(invs_fixture, same_domain_at_two_pasids_shares_the_asid_entry) {
    auto a = array_of({asid(1), ats(5, 1)});
    auto b = merged(*a, {asid(1), ats(5, 2)});
    EXPECT_EQ(dump(*b), "A1x2 T5.1x1 T5.2x1");
    inv_list first = list_of({asid(1), ats(5, 1)});
    invs_unref(*b, first);
    EXPECT_EQ(dump(*b), "A1x1 T5.1x0 T5.2x1");
    EXPECT_EQ(outcomes(first), "10");
    inv_list second = list_of({asid(1), ats(5, 2)});
    invs_unref(*b, second);
    EXPECT_EQ(b->num_invs(), 0u);
    EXPECT_EQ(b->num_trashes(), 0u);
    EXPECT_EQ(outcomes(second), "00"); // tag dropped: the caller flushes it
}

TEST_F(invs_fixture, ats_entries_sort_by_ssid_within_a_sid) {
    auto a = array_of({asid(1), ats(5, 3)});
    auto b = merged(*a, {asid(1), ats(5, 1)});
    auto c = merged(*b, {asid(1), ats(4, 9), ats(5, 2)});
    EXPECT_EQ(dump(*c), "A1x3 T4.9x1 T5.1x1 T5.2x1 T5.3x1");
}

TEST_F(invs_fixture, worked_sequence_of_attaches_and_detaches) {
    // Our own vector (§6): two masters on one S1 domain across two SMMUs, an
    // SVA-style PASID attach, detaches in the middle and at the end, purges.
    auto a = array_of({asid(3), ats(16), ats(17)});
    a = merged(*a, {asid(3, s1), ats(2, 0, s1)});
    EXPECT_EQ(dump(*a), "A3x1 T16.0x1 T17.0x1 1:A3x1 1:T2.0x1");
    a = merged(*a, {asid(3), ats(16, 4)});
    EXPECT_EQ(dump(*a), "A3x2 T16.0x1 T16.4x1 T17.0x1 1:A3x1 1:T2.0x1");

    inv_list d1 = list_of({asid(3), ats(16), ats(17)});
    invs_unref(*a, d1);
    EXPECT_EQ(dump(*a), "A3x1 T16.0x0 T16.4x1 T17.0x0 1:A3x1 1:T2.0x1");
    EXPECT_EQ(outcomes(d1), "100");
    EXPECT_EQ(a->num_trashes(), 2u);
    purge_result p = invs_purge(*a);
    ASSERT_EQ(p.status, purge_status::purged);
    a = p.invs;
    EXPECT_EQ(dump(*a), "A3x1 T16.4x1 1:A3x1 1:T2.0x1");

    inv_list d2 = list_of({asid(3, s1), ats(2, 0, s1)});
    invs_unref(*a, d2);
    EXPECT_EQ(dump(*a), "A3x1 T16.4x1");
    EXPECT_EQ(outcomes(d2), "00");
    EXPECT_EQ(a->num_trashes(), 0u);
    EXPECT_EQ(invs_purge(*a).status, purge_status::nothing_to_do);

    inv_list d3 = list_of({asid(3), ats(16, 4)});
    invs_unref(*a, d3);
    EXPECT_EQ(a->num_invs(), 0u);
    EXPECT_EQ(outcomes(d3), "00");
    a = merged(*a, {vmid(1), clear(1), ats_full(16)});
    EXPECT_EQ(dump(*a), "V1x1 C1x1 F16x1");
}

// ---- publication ---------------------------------------------------------------------------

TEST_F(invs_fixture, slot_publishes_and_defers_the_free_of_old_arrays) {
    invs_slot slot(empty());
    std::shared_ptr<inv_array> reader = slot.load();
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(reader->num_invs(), 0u);
    std::weak_ptr<inv_array> old = reader;

    slot.publish(merged(*reader, {asid(1)}));
    EXPECT_FALSE(old.expired()); // a reader still holds the old array
    EXPECT_EQ(dump(*slot.load()), "A1x1");
    reader.reset();
    EXPECT_TRUE(old.expired()); // freed once its last reader dropped it

    invs_slot none;
    EXPECT_EQ(none.load(), nullptr);
}

// ---- per-master build ----------------------------------------------------------------------

class build_fixture : public invs_fixture {
protected:
    inv_list make_buffer(bool ats_capable, std::size_t sids) {
        std::optional<inv_list> l = inv_list::create(build_list_capacity(ats_capable, sids));
        EXPECT_TRUE(l.has_value());
        return std::move(*l);
    }
    std::string build(const build_spec& spec, const std::vector<arch::stream_id>& sids) {
        inv_list out = make_buffer(true, sids.size());
        const invs_error e = build_master_invs(out, spec, sids);
        EXPECT_EQ(e, invs_error::none) << invs_error_name(e);
        return dump(*merged_list(out));
    }
    std::shared_ptr<inv_array> merged_list(const inv_list& l) {
        merge_result r = invs_merge(*empty(), l);
        EXPECT_TRUE(r.ok());
        return r.invs;
    }
};

TEST(build_list_capacity, two_plus_sids_when_ats_capable) {
    EXPECT_EQ(build_list_capacity(false, 0), 2u);
    EXPECT_EQ(build_list_capacity(false, 5), 2u);
    EXPECT_EQ(build_list_capacity(true, 0), 2u);
    EXPECT_EQ(build_list_capacity(true, 3), 5u);
}

TEST_F(build_fixture, shape_s1_without_and_with_ats) {
    build_spec s;
    s.smmu = s0;
    s.tag_type = inv_type::s1_asid;
    s.tag_id = 7;
    EXPECT_EQ(build(s, {4, 9}), "A7x1");
    s.ats_enabled = true;
    EXPECT_EQ(build(s, {4, 9}), "A7x1 T4.0x1 T9.0x1");
}

TEST_F(build_fixture, shape_s2_without_and_with_ats) {
    build_spec s;
    s.smmu = s0;
    s.tag_type = inv_type::s2_vmid;
    s.tag_id = 2;
    EXPECT_EQ(build(s, {4}), "V2x1");
    s.ats_enabled = true;
    EXPECT_EQ(build(s, {4}), "V2x1 T4.0x1");
}

TEST_F(build_fixture, shape_nesting_parent) {
    build_spec s;
    s.smmu = s0;
    s.tag_type = inv_type::s2_vmid;
    s.tag_id = 2;
    s.nesting = true;
    s.ats_enabled = true;
    EXPECT_EQ(build(s, {4, 6}), "V2x1 C2x1 F4x1 F6x1");
    s.tag_type = inv_type::s2_vmid_vsmmu;
    EXPECT_EQ(build(s, {4, 6}), "W2x1 C2x1 F4x1 F6x1");
    s.ats_enabled = false;
    EXPECT_EQ(build(s, {4, 6}), "W2x1 C2x1");
}

TEST_F(build_fixture, shape_sva_uses_the_pasid) {
    build_spec s;
    s.smmu = s0;
    s.tag_type = inv_type::s1_asid;
    s.tag_id = 11;
    s.ats_enabled = true;
    s.ssid = 5;
    EXPECT_EQ(build(s, {1, 2}), "A11x1 T1.5x1 T2.5x1");
}

TEST_F(build_fixture, duplicate_sids_are_emitted_twice) {
    build_spec s;
    s.smmu = s0;
    s.tag_id = 1;
    s.ats_enabled = true;
    EXPECT_EQ(build(s, {3, 3}), "A1x1 T3.0x1 T3.0x1");
}

TEST_F(build_fixture, entry_fields_pgsize_only_on_ril_tag_entries) {
    build_spec s;
    s.smmu = s1; // RIL
    s.tag_type = inv_type::s2_vmid;
    s.tag_id = 9;
    s.nesting = true;
    s.ats_enabled = true;
    s.pgsize_shift = 14;
    inv_list out = make_buffer(true, 1);
    ASSERT_EQ(build_master_invs(out, s, {8}), invs_error::none);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].pgsize, 14u);
    EXPECT_EQ(out[0].smmu, s1);
    EXPECT_EQ(out[0].size_opcode, opcode::tlbi_s2_ipa);
    EXPECT_EQ(out[0].users.load(), 0);
    EXPECT_EQ(out[1].pgsize, 0u);
    EXPECT_EQ(out[1].id, 9u);
    EXPECT_EQ(out[2].pgsize, 0u);
    EXPECT_EQ(out[2].type, inv_type::ats_full);
    s.smmu = s0; // no RIL: pgsize 0, and any page shift is accepted
    s.pgsize_shift = 13;
    ASSERT_EQ(build_master_invs(out, s, {8}), invs_error::none);
    EXPECT_EQ(out[0].pgsize, 0u);
}

TEST_F(build_fixture, build_overwrites_the_previous_content) {
    inv_list out = make_buffer(true, 2);
    build_spec s;
    s.smmu = s0;
    s.tag_id = 1;
    s.ats_enabled = true;
    ASSERT_EQ(build_master_invs(out, s, {1, 2}), invs_error::none);
    EXPECT_EQ(out.size(), 3u);
    s.ats_enabled = false;
    ASSERT_EQ(build_master_invs(out, s, {1, 2}), invs_error::none);
    EXPECT_EQ(out.size(), 1u);
}

TEST_F(build_fixture, build_errors_leave_the_list_empty) {
    inv_list out = make_buffer(true, 1);
    build_spec s;
    s.smmu = s0;
    s.tag_id = 1;
    s.ats_enabled = true;
    ASSERT_EQ(build_master_invs(out, s, {1}), invs_error::none);

    build_spec null_smmu = s;
    null_smmu.smmu = nullptr;
    EXPECT_EQ(build_master_invs(out, null_smmu, {1}), invs_error::bad_input);
    EXPECT_TRUE(out.empty());

    build_spec not_a_tag = s;
    not_a_tag.tag_type = inv_type::ats;
    EXPECT_EQ(build_master_invs(out, not_a_tag, {1}), invs_error::bad_input);
    not_a_tag.tag_type = inv_type::s2_vmid_s1_clear;
    EXPECT_EQ(build_master_invs(out, not_a_tag, {1}), invs_error::bad_input);

    build_spec nested_asid = s;
    nested_asid.nesting = true;
    EXPECT_EQ(build_master_invs(out, nested_asid, {1}), invs_error::bad_input);

    build_spec bad_page = s;
    bad_page.smmu = s1; // RIL needs a real page size
    bad_page.pgsize_shift = 13;
    EXPECT_EQ(build_master_invs(out, bad_page, {1}), invs_error::bad_input);

    EXPECT_EQ(build_master_invs(out, s, {2, 1}), invs_error::unsorted);
    EXPECT_TRUE(out.empty());

    EXPECT_EQ(build_master_invs(out, s, {1, 2}), invs_error::none); // 3 entries fit exactly
    EXPECT_EQ(build_master_invs(out, s, {1, 2, 3}), invs_error::overflow);
    EXPECT_TRUE(out.empty());
}

TEST_F(build_fixture, overflow_when_the_buffer_was_sized_without_ats) {
    inv_list out = make_buffer(false, 0); // capacity 2
    build_spec s;
    s.smmu = s0;
    s.tag_type = inv_type::s2_vmid;
    s.tag_id = 1;
    s.nesting = true;
    EXPECT_EQ(build_master_invs(out, s, {1}), invs_error::none); // V + C fit exactly
    EXPECT_EQ(out.size(), 2u);
    s.ats_enabled = true;
    EXPECT_EQ(build_master_invs(out, s, {1}), invs_error::overflow);
    EXPECT_TRUE(out.empty());
    inv_list zero;
    EXPECT_EQ(build_master_invs(zero, s, {}), invs_error::overflow);
    EXPECT_STREQ(invs_error_name(invs_error::overflow), "overflow");
    EXPECT_STREQ(invs_error_name(invs_error::none), "none");
    EXPECT_STREQ(invs_error_name(invs_error::no_memory), "no_memory");
    EXPECT_STREQ(invs_error_name(invs_error::unsorted), "unsorted");
    EXPECT_STREQ(invs_error_name(invs_error::bad_input), "bad_input");
    EXPECT_STREQ(invs_error_name(invs_error::inconsistent), "inconsistent");
}

} // namespace
} // namespace smmu::driver
