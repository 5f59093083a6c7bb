// IOTLB tags (linux-invs.md §5): the ID allocators, ASID / VMID widths and
// spaces, find / get / free of per-attachment tags, and the last-detach rule
// (§3.6 step 4b, §3.7).
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/tags.h"
#include "tests/unit/driver/fake_platform_invs.h"

namespace smmu::driver {
namespace {

using arch::make_tlbi_el2_asid;
using arch::make_tlbi_nh_asid;
using arch::make_tlbi_s12_vmall;
using test::ev;
using test::recording_sink;
using test::sync_ev;

// wide: 16-bit ASIDs and VMIDs; narrow: 8-bit; el2: E2H. Ordered by address.
smmu_caps g_smmus[3] = {smmu_caps{0, false, true, false, 16, 16, nullptr},
                        smmu_caps{1, false, true, false, 8, 8, nullptr},
                        smmu_caps{2, false, true, true, 16, 16, nullptr}};
smmu_ref wide = &g_smmus[0];
smmu_ref narrow = &g_smmus[1];
smmu_ref el2 = &g_smmus[2];

// ---- id_allocator --------------------------------------------------------------------------

TEST(id_allocator, lowest_free_first_and_reuse_after_free) {
    id_allocator a;
    EXPECT_EQ(a.alloc(1, 10), 1u);
    EXPECT_EQ(a.alloc(1, 10), 2u);
    EXPECT_EQ(a.alloc(1, 10), 3u);
    EXPECT_EQ(a.count(), 3u);
    EXPECT_TRUE(a.free(2));
    EXPECT_FALSE(a.is_allocated(2));
    EXPECT_EQ(a.alloc(1, 10), 2u); // reused
    EXPECT_EQ(a.alloc(1, 10), 4u);
    EXPECT_TRUE(a.is_allocated(4));
    EXPECT_EQ(a.count(), 4u);
}

TEST(id_allocator, range_bounds_and_exhaustion) {
    id_allocator a;
    EXPECT_EQ(a.alloc(5, 6), 5u);
    EXPECT_EQ(a.alloc(5, 6), 6u);
    EXPECT_EQ(a.alloc(5, 6), std::nullopt);
    EXPECT_EQ(a.alloc(7, 6), std::nullopt); // empty range
    EXPECT_EQ(a.alloc(0, 0), 0u);
    EXPECT_EQ(a.alloc(0xffff, 0xffffffff), 0xffffu); // clamped to max_id
    EXPECT_EQ(a.alloc(0xffff, 0xffffffff), std::nullopt);
    EXPECT_EQ(a.alloc(0x10000, 0x20000), std::nullopt);
}

TEST(id_allocator, free_of_unallocated_ids_fails) {
    id_allocator a;
    EXPECT_FALSE(a.free(3));
    EXPECT_FALSE(a.free(0x10000));
    EXPECT_FALSE(a.is_allocated(0x10000));
    EXPECT_EQ(a.alloc(3, 3), 3u);
    EXPECT_TRUE(a.free(3));
    EXPECT_FALSE(a.free(3));
    EXPECT_EQ(a.count(), 0u);
}

TEST(id_allocator, skips_full_words) {
    id_allocator a;
    for (std::uint32_t i = 0; i < 130; ++i)
        ASSERT_EQ(a.alloc(0, 200), i);
    EXPECT_TRUE(a.free(64));
    EXPECT_EQ(a.alloc(1, 200), 64u);
    EXPECT_EQ(a.alloc(1, 200), 130u);
}

// ---- ASIDs and VMIDs -----------------------------------------------------------------------

TEST(tag_allocator, asid_width_8_bits_exhausts_at_255) {
    tag_allocator t;
    int owner = 0;
    for (std::uint32_t i = 1; i <= 255; ++i) {
        const id_result r = t.alloc_asid(narrow, &owner);
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(r.id, i);
    }
    const id_result full = t.alloc_asid(narrow, &owner);
    EXPECT_EQ(full.error, tag_error::exhausted);
    EXPECT_FALSE(full.ok());
    // The ASID space is global: a 16-bit SMMU continues above 255.
    EXPECT_EQ(t.alloc_asid(wide, &owner).id, 256u);
    EXPECT_EQ(t.free_asid(17), tag_error::none);
    EXPECT_EQ(t.alloc_asid(narrow, &owner).id, 17u);
    EXPECT_EQ(t.asids_in_use(), 256u);
}

TEST(tag_allocator, asid_width_16_bits_exhausts_at_65535) {
    tag_allocator t;
    for (std::uint32_t i = 1; i <= 0xffff; ++i)
        ASSERT_EQ(t.alloc_asid(wide, nullptr).id, i);
    EXPECT_EQ(t.alloc_asid(wide, nullptr).error, tag_error::exhausted);
    EXPECT_EQ(t.asids_in_use(), 0xffffu);
    EXPECT_FALSE(t.asid_in_use(0)); // ASID 0 is never handed out
}

TEST(tag_allocator, asid_owner_is_recorded_and_cleared) {
    tag_allocator t;
    int d1 = 0;
    int d2 = 0;
    const id_result a = t.alloc_asid(wide, &d1);
    const id_result b = t.alloc_asid(wide, &d2);
    EXPECT_EQ(t.asid_owner(a.id), &d1);
    EXPECT_EQ(t.asid_owner(b.id), &d2);
    EXPECT_TRUE(t.asid_in_use(a.id));
    EXPECT_EQ(t.free_asid(a.id), tag_error::none);
    EXPECT_EQ(t.asid_owner(a.id), nullptr);
    EXPECT_FALSE(t.asid_in_use(a.id));
    EXPECT_EQ(t.free_asid(a.id), tag_error::not_allocated);
    EXPECT_EQ(t.alloc_asid(nullptr, &d1).error, tag_error::bad_input);
}

TEST(tag_allocator, vmids_are_per_smmu) {
    tag_allocator t;
    EXPECT_EQ(t.alloc_vmid(wide).id, 1u);
    EXPECT_EQ(t.alloc_vmid(wide).id, 2u);
    EXPECT_EQ(t.alloc_vmid(narrow).id, 1u); // its own space
    EXPECT_EQ(t.vmids_in_use(wide), 2u);
    EXPECT_EQ(t.vmids_in_use(narrow), 1u);
    EXPECT_EQ(t.vmids_in_use(el2), 0u);
    EXPECT_TRUE(t.vmid_in_use(wide, 2));
    EXPECT_FALSE(t.vmid_in_use(el2, 1));
    EXPECT_EQ(t.free_vmid(wide, 1), tag_error::none);
    EXPECT_EQ(t.free_vmid(wide, 1), tag_error::not_allocated);
    EXPECT_EQ(t.free_vmid(el2, 1), tag_error::not_allocated);
    EXPECT_EQ(t.alloc_vmid(wide).id, 1u); // reuse
    EXPECT_EQ(t.alloc_vmid(nullptr).error, tag_error::bad_input);
    t.remove_smmu(wide);
    EXPECT_EQ(t.vmids_in_use(wide), 0u);
    EXPECT_EQ(t.alloc_vmid(wide).id, 1u);
}

TEST(tag_allocator, vmid_width_8_bits_exhausts_at_255) {
    tag_allocator t;
    for (std::uint32_t i = 1; i <= 255; ++i)
        ASSERT_EQ(t.alloc_vmid(narrow).id, i);
    EXPECT_EQ(t.alloc_vmid(narrow).error, tag_error::exhausted);
    EXPECT_EQ(t.alloc_vmid(wide).id, 1u);
    EXPECT_EQ(t.free_vmid(narrow, 200), tag_error::none);
    EXPECT_EQ(t.alloc_vmid(narrow).id, 200u);
}

TEST(tag_allocator, vmid_width_16_bits_exhausts_at_65535) {
    tag_allocator t;
    for (std::uint32_t i = 1; i <= 0xffff; ++i)
        ASSERT_EQ(t.alloc_vmid(wide).id, i);
    EXPECT_EQ(t.alloc_vmid(wide).error, tag_error::exhausted);
}

// ---- find / get / free ---------------------------------------------------------------------

class tags_fixture : public ::testing::Test {
protected:
    tags_fixture()
        : m_slot(inv_array::create(0, m_locks)) {}

    /// What the attach path does on the new side: get the tag, build, merge, publish.
    /// Returns the build list (the master's scratch buffer).
    inv_list attach(const tag_domain& d, smmu_ref smmu, std::vector<arch::stream_id> sids,
                    iotlb_tag* tag_out = nullptr) {
        const tag_result t = get_iotlb_tag(m_tags, d, smmu);
        EXPECT_TRUE(t.ok()) << tag_error_name(t.error);
        if (tag_out != nullptr)
            *tag_out = t.tag;
        std::optional<inv_list> l = inv_list::create(build_list_capacity(true, sids.size()));
        EXPECT_EQ(build_master_invs(*l, build_spec_for(t.tag, !sids.empty(), 0, 12), sids),
                  invs_error::none);
        merge_result r = invs_merge(*m_slot.load(), *l);
        EXPECT_TRUE(r.ok());
        m_slot.publish(r.invs);
        return std::move(*l);
    }
    /// The old side on detach: find, build, unref, flush-and-free if the tag died, purge.
    bool detach(const tag_domain& d, smmu_ref smmu, std::vector<arch::stream_id> sids) {
        const tag_result t = find_iotlb_tag(d, smmu);
        EXPECT_TRUE(t.ok()) << tag_error_name(t.error);
        std::optional<inv_list> l = inv_list::create(build_list_capacity(true, sids.size()));
        EXPECT_EQ(build_master_invs(*l, build_spec_for(t.tag, !sids.empty(), 0, 12), sids),
                  invs_error::none);
        std::shared_ptr<inv_array> cur = m_slot.load();
        invs_unref(*cur, *l);
        const bool dropped = unref_dropped_tag(*l);
        if (dropped) {
            EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, t.tag), tag_error::none);
        }
        purge_result p = invs_purge(*cur);
        if (p.invs)
            m_slot.publish(p.invs);
        return dropped;
    }
    tag_domain s1_domain() {
        tag_domain d;
        d.invs = &m_slot;
        d.owner = this;
        return d;
    }
    tag_domain s2_domain() {
        tag_domain d = s1_domain();
        d.stage2 = true;
        return d;
    }

    test::test_lock_factory m_locks;
    invs_slot m_slot;
    tag_allocator m_tags;
    recording_sink m_sink;
};

TEST_F(tags_fixture, find_errors) {
    tag_domain d = s1_domain();
    EXPECT_EQ(find_iotlb_tag(d, nullptr).error, tag_error::bad_input);
    tag_domain untracked;
    EXPECT_EQ(find_iotlb_tag(untracked, wide).error, tag_error::no_domain);
    tag_domain nested_s1 = s1_domain();
    nested_s1.nested = true;
    nested_s1.vsmmu_vmid = 3;
    EXPECT_EQ(find_iotlb_tag(nested_s1, wide).error, tag_error::bad_input);
    tag_domain nested = s2_domain();
    nested.nested = true;
    EXPECT_EQ(find_iotlb_tag(nested, wide).error, tag_error::bad_vsmmu_vmid);
    const tag_result r = find_iotlb_tag(d, wide);
    EXPECT_EQ(r.error, tag_error::not_found);
    EXPECT_EQ(r.tag.type, inv_type::s1_asid);
    invs_slot null_slot;
    tag_domain no_array = s1_domain();
    no_array.invs = &null_slot;
    EXPECT_EQ(find_iotlb_tag(no_array, wide).error, tag_error::not_found);
}

TEST_F(tags_fixture, nested_domain_uses_the_vsmmu_vmid_without_searching) {
    tag_domain d = s2_domain();
    d.nested = true;
    d.vsmmu_vmid = 9;
    const tag_result r = get_iotlb_tag(m_tags, d, wide);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.tag.type, inv_type::s2_vmid_vsmmu);
    EXPECT_EQ(r.tag.id, 9u);
    EXPECT_EQ(r.tag.smmu, wide);
    EXPECT_EQ(r.tag.users, 0);
    EXPECT_EQ(m_tags.vmids_in_use(wide), 0u); // nothing allocated
}

TEST_F(tags_fixture, get_allocates_then_finds_the_shared_tag) {
    iotlb_tag first;
    attach(s1_domain(), wide, {4}, &first);
    EXPECT_EQ(first.type, inv_type::s1_asid);
    EXPECT_EQ(first.id, 1u);
    EXPECT_EQ(first.users, 0); // fresh
    EXPECT_TRUE(tag_is_fresh(first));
    EXPECT_EQ(m_tags.asid_owner(1), this);

    const tag_result again = get_iotlb_tag(m_tags, s1_domain(), wide);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.tag.id, 1u);
    EXPECT_EQ(again.tag.users, 1); // found in a live entry
    EXPECT_FALSE(tag_is_fresh(again.tag));
    EXPECT_EQ(m_tags.asids_in_use(), 1u);

    // Another SMMU attached to the same domain gets its own tag.
    iotlb_tag other;
    attach(s1_domain(), narrow, {}, &other);
    EXPECT_EQ(other.id, 2u);
    EXPECT_EQ(other.smmu, narrow);
}

TEST_F(tags_fixture, find_ignores_trash_other_types_and_other_smmus) {
    inv_list l = attach(s2_domain(), wide, {4});
    EXPECT_EQ(find_iotlb_tag(s1_domain(), wide).error, tag_error::not_found);   // other type
    EXPECT_EQ(find_iotlb_tag(s2_domain(), narrow).error, tag_error::not_found); // other SMMU
    const tag_result r = find_iotlb_tag(s2_domain(), wide);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.tag.type, inv_type::s2_vmid);
    EXPECT_EQ(r.tag.id, 1u);
    (*m_slot.load())[0].users.store(0); // the tag entry as trash
    EXPECT_EQ(find_iotlb_tag(s2_domain(), wide).error, tag_error::not_found);
}

TEST_F(tags_fixture, get_reports_exhaustion) {
    for (int i = 0; i < 255; ++i)
        ASSERT_TRUE(m_tags.alloc_vmid(narrow).ok());
    const tag_result r = get_iotlb_tag(m_tags, s2_domain(), narrow);
    EXPECT_EQ(r.error, tag_error::exhausted);
    EXPECT_FALSE(r.ok());
    tag_domain nested = s2_domain();
    nested.nested = true;
    EXPECT_EQ(get_iotlb_tag(m_tags, nested, wide).error, tag_error::bad_vsmmu_vmid);
    EXPECT_EQ(get_iotlb_tag(m_tags, tag_domain{}, wide).error, tag_error::no_domain);
}

TEST_F(tags_fixture, flush_commands_per_tag_type) {
    EXPECT_TRUE(flush_iotlb_tag(m_sink, iotlb_tag{wide, inv_type::s1_asid, 5, 0}));
    EXPECT_TRUE(flush_iotlb_tag(m_sink, iotlb_tag{el2, inv_type::s1_asid, 6, 0}));
    EXPECT_TRUE(flush_iotlb_tag(m_sink, iotlb_tag{wide, inv_type::s2_vmid, 7, 0}));
    EXPECT_TRUE(flush_iotlb_tag(m_sink, iotlb_tag{narrow, inv_type::s2_vmid_vsmmu, 8, 0}));
    EXPECT_FALSE(flush_iotlb_tag(m_sink, iotlb_tag{wide, inv_type::ats, 8, 0}));
    EXPECT_FALSE(flush_iotlb_tag(m_sink, iotlb_tag{nullptr, inv_type::s1_asid, 8, 0}));
    const std::vector<test::sink_event> expected = {
        ev(wide, make_tlbi_nh_asid(0, 5)),  sync_ev(wide),
        ev(el2, make_tlbi_el2_asid(6)),     sync_ev(el2),
        ev(wide, make_tlbi_s12_vmall(7)),   sync_ev(wide),
        ev(narrow, make_tlbi_s12_vmall(8)), sync_ev(narrow)};
    EXPECT_EQ(m_sink.events, expected) << test::describe(m_sink.events);
}

TEST_F(tags_fixture, free_flushes_then_releases_by_type) {
    const id_result asid = m_tags.alloc_asid(wide, nullptr);
    const id_result vmid = m_tags.alloc_vmid(wide);
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{wide, inv_type::s1_asid, asid.id, 0}),
              tag_error::none);
    EXPECT_FALSE(m_tags.asid_in_use(asid.id));
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{wide, inv_type::s2_vmid, vmid.id, 0}),
              tag_error::none);
    EXPECT_FALSE(m_tags.vmid_in_use(wide, vmid.id));
    // A vSMMU's VMID is flushed but stays allocated: the vSMMU frees it.
    const id_result vs = m_tags.alloc_vmid(wide);
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{wide, inv_type::s2_vmid_vsmmu, vs.id, 0}),
              tag_error::none);
    EXPECT_TRUE(m_tags.vmid_in_use(wide, vs.id));
    const std::vector<test::sink_event> expected = {
        ev(wide, make_tlbi_nh_asid(0, 1)), sync_ev(wide),
        ev(wide, make_tlbi_s12_vmall(1)),  sync_ev(wide),
        ev(wide, make_tlbi_s12_vmall(1)),  sync_ev(wide)};
    EXPECT_EQ(m_sink.events, expected) << test::describe(m_sink.events);
}

TEST_F(tags_fixture, free_errors) {
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{nullptr, inv_type::s1_asid, 1, 0}),
              tag_error::bad_input);
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{wide, inv_type::ats_full, 1, 0}),
              tag_error::bad_input);
    EXPECT_TRUE(m_sink.events.empty());
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{wide, inv_type::s1_asid, 4, 0}),
              tag_error::not_allocated); // flushed anyway: harmless
    EXPECT_EQ(iotlb_tag_free(m_tags, m_sink, iotlb_tag{wide, inv_type::s2_vmid, 4, 0}),
              tag_error::not_allocated);

    const id_result asid = m_tags.alloc_asid(wide, nullptr);
    recording_sink broken;
    broken.fail_sync_at = 1;
    EXPECT_EQ(iotlb_tag_free(m_tags, broken, iotlb_tag{wide, inv_type::s1_asid, asid.id, 0}),
              tag_error::sink_failed);
    EXPECT_TRUE(m_tags.asid_in_use(asid.id)); // not clean: not reusable
    recording_sink add_fails;
    add_fails.fail_add_at = 1;
    EXPECT_EQ(iotlb_tag_free(m_tags, add_fails, iotlb_tag{wide, inv_type::s1_asid, asid.id, 0}),
              tag_error::sink_failed);
    EXPECT_EQ(add_fails.events.size(), 2u); // the SYNC is still requested
}

TEST_F(tags_fixture, last_detach_flushes_and_frees_the_tag) {
    attach(s1_domain(), wide, {4});
    attach(s1_domain(), wide, {6});
    EXPECT_EQ(m_tags.asids_in_use(), 1u);
    EXPECT_FALSE(detach(s1_domain(), wide, {4})); // another master still uses ASID 1
    EXPECT_TRUE(m_sink.events.empty());
    EXPECT_TRUE(detach(s1_domain(), wide, {6}));
    const std::vector<test::sink_event> expected = {ev(wide, make_tlbi_nh_asid(0, 1)),
                                                    sync_ev(wide)};
    EXPECT_EQ(m_sink.events, expected) << test::describe(m_sink.events);
    EXPECT_EQ(m_tags.asids_in_use(), 0u);
    EXPECT_EQ(m_slot.load()->num_invs(), 0u);
    // The number is reusable and a new attach starts fresh.
    iotlb_tag t;
    attach(s1_domain(), wide, {}, &t);
    EXPECT_EQ(t.id, 1u);
    EXPECT_TRUE(tag_is_fresh(t));
}

TEST_F(tags_fixture, last_detach_of_a_stage2_tag) {
    attach(s2_domain(), narrow, {});
    EXPECT_TRUE(m_tags.vmid_in_use(narrow, 1));
    EXPECT_TRUE(detach(s2_domain(), narrow, {}));
    const std::vector<test::sink_event> expected = {ev(narrow, make_tlbi_s12_vmall(1)),
                                                    sync_ev(narrow)};
    EXPECT_EQ(m_sink.events, expected);
    EXPECT_FALSE(m_tags.vmid_in_use(narrow, 1));
}

TEST(unref_dropped_tag, reads_element_zero) {
    smmu_caps c;
    std::optional<inv_list> l = inv_list::create(2);
    ASSERT_TRUE(l.has_value());
    EXPECT_FALSE(unref_dropped_tag(*l)); // empty list
    l->push(make_inv(&c, inv_type::s1_asid, 1));
    l->push(make_inv(&c, inv_type::ats, 1));
    EXPECT_TRUE(unref_dropped_tag(*l));
    (*l)[0].users.store(1);
    EXPECT_FALSE(unref_dropped_tag(*l));
    std::optional<inv_list> ats_only = inv_list::create(1);
    ats_only->push(make_inv(&c, inv_type::ats, 1));
    EXPECT_FALSE(unref_dropped_tag(*ats_only)); // not a tag entry
}

TEST(build_spec_for, nesting_follows_the_vsmmu_tag_type) {
    smmu_caps c;
    const build_spec a = build_spec_for(iotlb_tag{&c, inv_type::s2_vmid_vsmmu, 4, 0}, true, 3, 14);
    EXPECT_EQ(a.smmu, &c);
    EXPECT_EQ(a.tag_type, inv_type::s2_vmid_vsmmu);
    EXPECT_EQ(a.tag_id, 4u);
    EXPECT_TRUE(a.nesting);
    EXPECT_TRUE(a.ats_enabled);
    EXPECT_EQ(a.ssid, 3u);
    EXPECT_EQ(a.pgsize_shift, 14u);
    EXPECT_FALSE(build_spec_for(iotlb_tag{&c, inv_type::s2_vmid, 4, 0}, false, 0, 12).nesting);
    EXPECT_FALSE(build_spec_for(iotlb_tag{&c, inv_type::s1_asid, 4, 0}, false, 0, 12).nesting);
}

TEST(tag_error_name, names) {
    EXPECT_STREQ(tag_error_name(tag_error::none), "none");
    EXPECT_STREQ(tag_error_name(tag_error::not_found), "not_found");
    EXPECT_STREQ(tag_error_name(tag_error::no_domain), "no_domain");
    EXPECT_STREQ(tag_error_name(tag_error::bad_input), "bad_input");
    EXPECT_STREQ(tag_error_name(tag_error::bad_vsmmu_vmid), "bad_vsmmu_vmid");
    EXPECT_STREQ(tag_error_name(tag_error::exhausted), "exhausted");
    EXPECT_STREQ(tag_error_name(tag_error::no_memory), "no_memory");
    EXPECT_STREQ(tag_error_name(tag_error::not_allocated), "not_allocated");
    EXPECT_STREQ(tag_error_name(tag_error::sink_failed), "sink_failed");
}

} // namespace
} // namespace smmu::driver
