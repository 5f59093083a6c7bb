// Domains, the cmdq command sink, masters and the attach engine on the fake
// SMMU (linux-invs.md §2.4-§2.6, §3.5-§3.7, §4.1, §4.8).
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/attach.h"
#include "driver/core/domain.h"
#include "driver/core/smmu_device.h"
#include "tests/unit/driver/fake_platform_domains.h"

namespace smmu::driver {
namespace {

using dtest::commands_since;
using dtest::hooked_rw_lock_factory;
using dtest::observed_smmu_hw;
using strings = std::vector<std::string>;

const char* type_name(inv_type t) {
    switch (t) {
    case inv_type::s1_asid:
        return "S1_ASID";
    case inv_type::s2_vmid:
        return "S2_VMID";
    case inv_type::s2_vmid_vsmmu:
        return "S2_VMID_VSMMU";
    case inv_type::s2_vmid_s1_clear:
        return "S2_VMID_S1_CLEAR";
    case inv_type::ats:
        return "ATS";
    case inv_type::ats_full:
        return "ATS_FULL";
    }
    return "?";
}

/// The live entries of a domain's array: "TYPE id[/ssid] xusers".
strings live_entries(const invs_slot& slot) {
    const std::shared_ptr<inv_array> a = slot.load();
    strings r;
    const std::size_t end = a->num_invs();
    for (std::size_t i = a->next_live(0, end); i < end; i = a->next_live(i + 1, end)) {
        const inv& e = (*a)[i];
        std::string s = std::string(type_name(e.type)) + " " + std::to_string(e.id);
        if (is_ats(e.type))
            s += "/" + std::to_string(e.ssid);
        r.push_back(s + " x" + std::to_string(e.users.load()));
    }
    return r;
}

iommu_prot rw_prot() {
    iommu_prot p;
    p.read = true;
    p.write = true;
    p.cache = true;
    return p;
}

/// A brought-up fake SMMU with the pieces the attach path needs.
struct rig {
    explicit rig(arch::feature_set f = fake_smmu_default_features(), device_config cfg = {})
        : hw(f)
        , dev(hw, qlock, cfg) {
        EXPECT_EQ(dev.bring_up(), smmu_status::ok);
        inst = std::make_unique<smmu_instance>(dev);
    }

    std::unique_ptr<domain> make_domain(domain_kind kind) {
        domain_config c;
        c.kind = kind;
        domain_create_result r = domain::create(c, hw, rw);
        EXPECT_EQ(r.status, op_status::ok);
        return std::move(r.dom);
    }
    std::unique_ptr<master> make_master(std::vector<arch::stream_id> sids, bool ats,
                                        unsigned ssid_bits = 0) {
        master_config c;
        c.sids = std::move(sids);
        c.ats_capable = ats;
        c.ssid_bits = ssid_bits;
        master_create_result r = master::create(std::move(c), *inst);
        EXPECT_EQ(r.status, op_status::ok);
        return std::move(r.dev);
    }
    std::size_t mark() const { return hw.consumed_commands().size(); }
    strings since(std::size_t m) const { return commands_since(hw, m); }

    observed_smmu_hw hw;
    fake_smmu_lock qlock;
    smmu_device dev;
    std::unique_ptr<smmu_instance> inst;
    fake_smmu_lock asid_lock;
    tag_allocator tags;
    hooked_rw_lock_factory rw;
    attach_engine engine{hw, asid_lock, tags};
};

arch::feature_set no_ril() {
    arch::feature_set f = fake_smmu_default_features();
    f.ril = false;
    return f;
}

// ---- status names and mappings -------------------------------------------------------------

TEST(op_status, names) {
    EXPECT_STREQ(to_string(op_status::ok), "ok");
    EXPECT_STREQ(to_string(op_status::tag_exhausted), "tag_exhausted");
    EXPECT_STREQ(to_string(op_status::hw_error), "hw_error");
    EXPECT_STREQ(to_string(op_status::internal), "internal");
    EXPECT_STREQ(to_string(domain_kind::nesting_parent), "nesting_parent");
    EXPECT_STREQ(to_string(domain_kind::sva), "sva");
}

TEST(op_status, mappings) {
    EXPECT_EQ(to_op_status(pgtable_status::bad_config), op_status::unsupported);
    EXPECT_EQ(to_op_status(pgtable_status::not_mapped), op_status::not_mapped);
    EXPECT_EQ(to_op_status(smmu_status::timeout), op_status::hw_error);
    EXPECT_EQ(to_op_status(smmu_status::bad_input), op_status::bad_input);
    EXPECT_EQ(to_op_status(tag_error::exhausted), op_status::tag_exhausted);
    EXPECT_EQ(to_op_status(tag_error::no_memory), op_status::no_memory);
    EXPECT_EQ(to_op_status(tag_error::not_found), op_status::internal);
    EXPECT_EQ(to_op_status(invs_error::no_memory), op_status::no_memory);
    EXPECT_EQ(to_op_status(invs_error::overflow), op_status::internal);
}

// ---- cmdq_sink -------------------------------------------------------------------------------

TEST(cmdq_sink, commands_then_one_sync) {
    rig r;
    const std::size_t m = r.mark();
    {
        cmdq_sink s;
        EXPECT_TRUE(s.add(r.inst->ref(), arch::make_tlbi_nh_asid(0, 7)));
        EXPECT_TRUE(s.add(r.inst->ref(), arch::make_tlbi_s12_vmall(3)));
        EXPECT_EQ(r.since(m), strings{}) << "held until the sync";
        EXPECT_TRUE(s.sync(r.inst->ref()));
        EXPECT_EQ(s.status(), smmu_status::ok);
    }
    EXPECT_EQ(r.since(m), (strings{"NH_ASID asid=7 vmid=0", "S12_VMALL vmid=3", "SYNC"}));
}

TEST(cmdq_sink, sync_without_commands_is_a_lone_sync) {
    rig r;
    const std::size_t m = r.mark();
    cmdq_sink s;
    EXPECT_TRUE(s.sync(r.inst->ref()));
    EXPECT_EQ(r.since(m), strings{"SYNC"});
}

TEST(cmdq_sink, a_65th_command_publishes_the_first_64_without_sync) {
    rig r;
    const cmdq_stats before = r.dev.command_queue().stats();
    cmdq_sink s;
    for (int i = 0; i < 65; ++i)
        ASSERT_TRUE(s.add(r.inst->ref(), arch::make_tlbi_nh_asid(0, 1)));
    const cmdq_stats mid = r.dev.command_queue().stats();
    EXPECT_EQ(mid.commands - before.commands, 64u);
    EXPECT_EQ(mid.syncs - before.syncs, 0u);
    EXPECT_TRUE(s.sync(r.inst->ref()));
    const cmdq_stats after = r.dev.command_queue().stats();
    EXPECT_EQ(after.commands - before.commands, 66u);
    EXPECT_EQ(after.syncs - before.syncs, 1u);
    EXPECT_EQ(after.batches - before.batches, 2u);
}

TEST(cmdq_sink, another_smmu_first_finishes_the_batch_with_a_sync) {
    rig a;
    rig b;
    smmu_instance b_inst(b.dev, 1);
    const std::size_t ma = a.mark();
    const std::size_t mb = b.mark();
    cmdq_sink s;
    EXPECT_TRUE(s.add(a.inst->ref(), arch::make_tlbi_nh_asid(0, 1)));
    EXPECT_TRUE(s.add(b_inst.ref(), arch::make_tlbi_nh_asid(0, 2)));
    EXPECT_EQ(a.since(ma), (strings{"NH_ASID asid=1 vmid=0", "SYNC"}));
    EXPECT_EQ(b.since(mb), strings{});
    EXPECT_TRUE(s.sync(b_inst.ref()));
    EXPECT_EQ(b.since(mb), (strings{"NH_ASID asid=2 vmid=0", "SYNC"}));
    // A sync for A while B's batch is empty: a lone SYNC on A.
    EXPECT_TRUE(s.sync(a.inst->ref()));
    EXPECT_EQ(a.since(ma), (strings{"NH_ASID asid=1 vmid=0", "SYNC", "SYNC"}));
}

TEST(cmdq_sink, destruction_submits_what_is_held) {
    rig r;
    const std::size_t m = r.mark();
    {
        cmdq_sink s;
        EXPECT_TRUE(s.add(r.inst->ref(), arch::make_tlbi_nh_all(4)));
    }
    EXPECT_EQ(r.since(m), (strings{"NH_ALL vmid=4", "SYNC"}));
}

TEST(cmdq_sink, an_smmu_without_queue_is_refused) {
    smmu_caps caps; // owner == nullptr
    cmdq_sink s;
    EXPECT_FALSE(s.add(&caps, arch::make_tlbi_nh_all(1)));
    EXPECT_FALSE(s.sync(&caps));
    EXPECT_FALSE(s.add(nullptr, arch::make_tlbi_nh_all(1)));
    EXPECT_EQ(s.status(), smmu_status::bad_input);
}

TEST(cmdq_sink, a_sync_that_never_completes_reports_timeout) {
    device_config cfg;
    cfg.poll_timeout_ns = 10'000;
    rig r(fake_smmu_default_features(), cfg);
    r.hw.set_cmdq_stalled(true);
    cmdq_sink s;
    EXPECT_TRUE(s.add(r.inst->ref(), arch::make_tlbi_nh_asid(0, 1)));
    EXPECT_FALSE(s.sync(r.inst->ref()));
    EXPECT_EQ(s.status(), smmu_status::timeout);
}

// ---- domain ----------------------------------------------------------------------------------

TEST(domain, kinds_and_their_tables) {
    rig r;
    struct expect_t {
        domain_kind kind;
        arch::stage stage;
        bool stage2, nest, sva;
    };
    for (const expect_t e :
         {expect_t{domain_kind::paging_s1, arch::stage::one, false, false, false},
          expect_t{domain_kind::paging_s2, arch::stage::two, true, false, false},
          expect_t{domain_kind::nesting_parent, arch::stage::two, true, true, false},
          expect_t{domain_kind::sva, arch::stage::one, false, false, true}}) {
        SCOPED_TRACE(to_string(e.kind));
        std::unique_ptr<domain> d = r.make_domain(e.kind);
        ASSERT_NE(d, nullptr);
        EXPECT_EQ(d->kind(), e.kind);
        EXPECT_EQ(stage_of(e.kind), e.stage);
        EXPECT_EQ(d->pgtable().cfg().stage, e.stage);
        EXPECT_EQ(d->stage2(), e.stage2);
        EXPECT_EQ(d->nest_parent(), e.nest);
        EXPECT_EQ(d->is_sva(), e.sva);
        EXPECT_EQ(d->pgsize_shift(), 12u);
        const std::shared_ptr<inv_array> a = d->invs().load();
        ASSERT_NE(a, nullptr) << "an empty array, never null (§1)";
        EXPECT_EQ(a->capacity(), 0u);
        EXPECT_EQ(a->num_invs(), 0u);
        const tag_domain t = d->tag_view();
        EXPECT_EQ(t.invs, &d->invs());
        EXPECT_EQ(t.stage2, e.stage2);
        EXPECT_FALSE(t.nested);
        EXPECT_EQ(t.owner, d.get());
        EXPECT_TRUE(d->attachments().empty());
    }
}

TEST(domain, smallest_page_of_a_16k_table) {
    rig r;
    domain_config c;
    c.granule = arch::granule::size_16k;
    domain_create_result d = domain::create(c, r.hw, r.rw);
    ASSERT_EQ(d.status, op_status::ok);
    EXPECT_EQ(d.dom->pgsize_shift(), 14u);
}

TEST(domain, creation_errors) {
    rig r;
    domain_config bad;
    bad.ias = 60;
    EXPECT_EQ(domain::create(bad, r.hw, r.rw).status, op_status::unsupported);
    EXPECT_EQ(domain::create(bad, r.hw, r.rw).dom, nullptr);

    r.rw.fail_next();
    EXPECT_EQ(domain::create(domain_config{}, r.hw, r.rw).status, op_status::no_memory)
        << "the empty array's lock";

    r.hw.fail_allocations_after(0);
    EXPECT_EQ(domain::create(domain_config{}, r.hw, r.rw).status, op_status::no_memory)
        << "the page table";
}

TEST(domain, map_and_unmap_without_attachments_issue_nothing) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    const std::size_t m = r.mark();
    const domain_io_result mp = d->map(0x10000, 0x80000000, 0x2000, rw_prot());
    EXPECT_EQ(mp.status, op_status::ok);
    EXPECT_EQ(mp.bytes, 0x2000u);
    EXPECT_EQ(d->pgtable().iova_to_phys(0x11000), 0x80001000u);
    const domain_io_result u = d->unmap(0x10000, 0x2000);
    EXPECT_EQ(u.status, op_status::ok);
    EXPECT_EQ(u.bytes, 0x2000u);
    EXPECT_EQ(u.inv.commands, 0u);
    EXPECT_EQ(u.inv.syncs, 0u);
    EXPECT_EQ(r.since(m), strings{});
    EXPECT_EQ(d->pgtable().iova_to_phys(0x11000), std::nullopt);
}

TEST(domain, page_table_errors) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s2);
    EXPECT_EQ(d->map(0x10800, 0x80000000, 0x1000, rw_prot()).status, op_status::misaligned);
    EXPECT_EQ(d->map(0x10000, 0x80000000, 0x1000, iommu_prot{}).status, op_status::no_access);
    EXPECT_EQ(d->map(std::uint64_t{1} << 48, 0x80000000, 0x1000, rw_prot()).status,
              op_status::out_of_range);
    EXPECT_EQ(d->map(0x10000, 0x80000000, 0x1000, rw_prot()).status, op_status::ok);
    EXPECT_EQ(d->map(0x10000, 0x80000000, 0x1000, rw_prot()).status, op_status::already_mapped);
    const domain_io_result u = d->unmap(0x10000, 0x2000);
    EXPECT_EQ(u.status, op_status::not_mapped);
    EXPECT_EQ(u.bytes, 0x1000u);
}

TEST(domain, attachment_links) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    int a = 0, b = 0;
    EXPECT_TRUE(d->add_attachment(&a, 0));
    EXPECT_TRUE(d->add_attachment(&a, 0)); // re-attach: two links until commit removes one
    EXPECT_TRUE(d->add_attachment(&b, 3));
    EXPECT_EQ(d->attachments().size(), 3u);
    EXPECT_TRUE(d->remove_attachment(&a, 0));
    EXPECT_FALSE(d->remove_attachment(&b, 0));
    EXPECT_TRUE(d->remove_attachment(&b, 3));
    ASSERT_EQ(d->attachments().size(), 1u);
    EXPECT_EQ(d->attachments()[0].master, &a);
}

// The gather feeds the invalidation whenever it cannot grow and once at the end
// (§4.1 iotlb_sync); freeing a table flushes its walk first (leaf = false).
TEST(domain, unmap_syncs_the_gather_when_the_leaf_size_changes) {
    rig r(no_ril());
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({9}, false);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    ASSERT_TRUE(d->map(0x1ff000, 0x80000000, 0x1000, rw_prot()).ok());
    ASSERT_TRUE(d->map(0x200000, 0x80200000, 0x200000, rw_prot()).ok()); // one 2 MB block
    const std::size_t mk = r.mark();
    const domain_io_result u = d->unmap(0x1ff000, 0x201000);
    EXPECT_EQ(u.status, op_status::ok);
    EXPECT_EQ(u.bytes, 0x201000u);
    EXPECT_EQ(r.since(mk), (strings{"NH_VA asid=1 vmid=0 addr=0x1ff000 leaf=1", "SYNC",
                                    "NH_VA asid=1 vmid=0 addr=0x200000 leaf=1", "SYNC"}));
    EXPECT_EQ(u.inv.commands, 2u);
    EXPECT_EQ(u.inv.syncs, 2u);
    EXPECT_TRUE(u.inv.ok);
}

TEST(domain, unmap_of_a_whole_table_flushes_its_walk_first) {
    rig r(no_ril());
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({9}, false);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    // 2 MB of 4 KB pages: the output is not 2 MB aligned, so no block.
    ASSERT_TRUE(d->map(0x200000, 0x80001000, 0x200000, rw_prot()).ok());
    const std::size_t mk = r.mark();
    const domain_io_result u = d->unmap(0x200000, 0x200000);
    EXPECT_EQ(u.status, op_status::ok);
    // Walk flush of 512 pages reaches the full-flush threshold (§4.5): ASID flush;
    // then iotlb_sync of the gathered 2 MB span.
    EXPECT_EQ(r.since(mk), (strings{"NH_ASID asid=1 vmid=0", "SYNC",
                                    "NH_VA asid=1 vmid=0 addr=0x200000 leaf=1", "SYNC"}));
    EXPECT_EQ(u.inv.commands, 2u);
    EXPECT_EQ(u.inv.syncs, 2u);
}

// Page granule, non-leaf, the whole range in one walk (§4.1 mmu notifier).
TEST(domain, sva_unmap_invalidates_pages_non_leaf) {
    rig r(no_ril());
    std::unique_ptr<domain> d = r.make_domain(domain_kind::sva);
    std::unique_ptr<master> m = r.make_master({9}, false, 4);
    ASSERT_EQ(r.engine.set_pasid(*m, 1, *d), op_status::ok);
    ASSERT_TRUE(d->map(0x1ff000, 0x80000000, 0x1000, rw_prot()).ok());
    ASSERT_TRUE(d->map(0x200000, 0x80200000, 0x200000, rw_prot()).ok());
    const std::size_t mk = r.mark();
    const domain_io_result u = d->unmap(0x1ff000, 0x3000);
    EXPECT_EQ(u.status, op_status::ok);
    EXPECT_EQ(u.bytes, 0x3000u);
    EXPECT_EQ(r.since(mk), (strings{"NH_VA asid=1 vmid=0 addr=0x1ff000 leaf=0",
                                    "NH_VA asid=1 vmid=0 addr=0x200000 leaf=0",
                                    "NH_VA asid=1 vmid=0 addr=0x201000 leaf=0", "SYNC"}));
}

TEST(domain, flush_all_uses_the_whole_tag_forms) {
    rig r;
    std::unique_ptr<domain> s2 = r.make_domain(domain_kind::paging_s2);
    std::unique_ptr<master> m = r.make_master({9}, true);
    ASSERT_EQ(r.engine.attach(*m, s2.get()), op_status::ok);
    const std::size_t mk = r.mark();
    const inv_range_status st = s2->flush_all();
    EXPECT_TRUE(st.ok);
    EXPECT_EQ(r.since(mk),
              (strings{"S12_VMALL vmid=1", "SYNC", "ATC_INV sid=9 addr=0x0 size=52", "SYNC"}));
}

TEST(domain, an_invalidation_that_times_out_is_reported) {
    device_config cfg;
    cfg.poll_timeout_ns = 10'000;
    rig r(fake_smmu_default_features(), cfg);
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({9}, false);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    ASSERT_TRUE(d->map(0x10000, 0x80000000, 0x1000, rw_prot()).ok());
    r.hw.set_cmdq_stalled(true);
    const domain_io_result u = d->unmap(0x10000, 0x1000);
    EXPECT_EQ(u.status, op_status::hw_error);
    EXPECT_EQ(u.bytes, 0x1000u);
    EXPECT_FALSE(u.inv.ok);
}

// ---- master ----------------------------------------------------------------------------------

TEST(master, sorted_stream_ids_and_build_list_capacity) {
    rig r;
    std::unique_ptr<master> m = r.make_master({7, 3, 5, 3}, true);
    EXPECT_EQ(m->sids(), (std::vector<arch::stream_id>{3, 3, 5, 7}));
    EXPECT_EQ(m->unique_sids(), (std::vector<arch::stream_id>{3, 5, 7}));
    EXPECT_EQ(m->build_list().capacity(), 6u) << "2 + one per StreamID (§2.4)";
    EXPECT_TRUE(m->ats_capable());
    EXPECT_TRUE(m->ats_wanted());
    EXPECT_TRUE(m->ats_supported());
    EXPECT_FALSE(m->ats_enabled());
    EXPECT_FALSE(m->endpoint_ats());
    EXPECT_EQ(m->rid_domain(), nullptr);
    EXPECT_EQ(m->pasid_count(), 0u);
    EXPECT_EQ(m->cds(), nullptr);

    std::unique_ptr<master> plain = r.make_master({9, 8}, false);
    EXPECT_EQ(plain->build_list().capacity(), 2u);
    EXPECT_FALSE(plain->ats_supported());
}

TEST(master, stream_table_entries_exist_after_creation) {
    rig r;
    ASSERT_EQ(r.dev.strtab().format(), arch::strtab_fmt::two_level);
    EXPECT_FALSE(r.dev.strtab().ste_address(0x1234).has_value());
    std::unique_ptr<master> m = r.make_master({0x1234}, false);
    EXPECT_TRUE(r.dev.strtab().ste_address(0x1234).has_value());
}

TEST(master, creation_errors) {
    rig r;
    master_config none;
    EXPECT_EQ(master::create(none, *r.inst).status, op_status::bad_input);
    master_config wide;
    wide.sids = {1};
    wide.ssid_bits = 21;
    EXPECT_EQ(master::create(wide, *r.inst).status, op_status::unsupported);
    master_config far;
    far.sids = {0x10000};
    EXPECT_EQ(master::create(far, *r.inst).status, op_status::bad_input);
    r.hw.fail_allocations_after(0);
    master_config fresh;
    fresh.sids = {0x4000};
    EXPECT_EQ(master::create(fresh, *r.inst).status, op_status::no_memory) << "level-2 table";
}

TEST(master, ats_is_unsupported_without_smmu_ats) {
    arch::feature_set f = fake_smmu_default_features();
    f.ats = false;
    rig r(f);
    std::unique_ptr<master> m = r.make_master({3}, true);
    EXPECT_FALSE(m->ats_supported());
}

// ---- cd_table::prepare_cd (the additive strtab.h helper) ------------------------------------

TEST(cd_table_prepare, allocates_the_leaf_once_and_checks_its_input) {
    rig r;
    cd_table t(r.hw, r.dev.command_queue());
    EXPECT_EQ(t.prepare_cd(1), smmu_status::not_ready);
    ASSERT_EQ(t.allocate(12, r.hw.features()), smmu_status::ok);
    ASSERT_EQ(t.format(), arch::cd_table_format::two_level_64k);
    EXPECT_EQ(t.prepare_cd(1u << 12), smmu_status::bad_input);
    EXPECT_EQ(t.l2_tables(), 0u);
    EXPECT_FALSE(t.cd_address(0x800).has_value());
    EXPECT_EQ(t.prepare_cd(0x800), smmu_status::ok);
    EXPECT_EQ(t.l2_tables(), 1u);
    EXPECT_TRUE(t.cd_address(0x800).has_value());
    EXPECT_FALSE(t.read_cd(0x800)->v) << "the leaf holds invalid CDs";
    EXPECT_EQ(t.prepare_cd(0xbff), smmu_status::ok);
    EXPECT_EQ(t.l2_tables(), 1u) << "same leaf";
    r.hw.fail_allocations_after(0);
    EXPECT_EQ(t.prepare_cd(0xc00), smmu_status::no_memory);

    cd_table linear(r.hw, r.dev.command_queue());
    r.hw.fail_allocations_after(100);
    ASSERT_EQ(linear.allocate(4, r.hw.features()), smmu_status::ok);
    EXPECT_EQ(linear.prepare_cd(15), smmu_status::ok);
    EXPECT_EQ(linear.l2_tables(), 0u);
}

// ---- attach engine: invs contents -------------------------------------------------------------

TEST(attach_engine, s1_attach_builds_asid_and_ats_entries) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({5, 3}, true);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S1_ASID 1 x1", "ATS 3/0 x1", "ATS 5/0 x1"}));
    EXPECT_TRUE(d->invs().load()->has_ats());
    EXPECT_EQ(m->rid_domain(), d.get());
    EXPECT_TRUE(m->ats_enabled());
    EXPECT_TRUE(m->endpoint_ats());
    ASSERT_EQ(d->attachments().size(), 1u);
    EXPECT_EQ(d->attachments()[0].master, m.get());
    EXPECT_EQ(d->attachments()[0].ssid, 0u);
    EXPECT_TRUE(r.tags.asid_in_use(1));
    EXPECT_EQ(r.tags.asid_owner(1), d.get());
}

TEST(attach_engine, pgsize_of_the_tag_entry_follows_ril) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({3}, false);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    EXPECT_EQ((*d->invs().load())[0].pgsize, 12u);

    rig plain(no_ril());
    std::unique_ptr<domain> d2 = plain.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m2 = plain.make_master({3}, false);
    ASSERT_EQ(plain.engine.attach(*m2, d2.get()), op_status::ok);
    EXPECT_EQ((*d2->invs().load())[0].pgsize, 0u);
}

TEST(attach_engine, nesting_parent_entries) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::nesting_parent);
    std::unique_ptr<master> m = r.make_master({4, 2}, true);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S2_VMID 1 x1", "S2_VMID_S1_CLEAR 1 x1",
                                                "ATS_FULL 2/0 x1", "ATS_FULL 4/0 x1"}));
    EXPECT_TRUE(r.tags.vmid_in_use(r.inst->ref(), 1));
}

TEST(attach_engine, shared_domain_shares_the_tag_entry) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s2);
    std::unique_ptr<master> a = r.make_master({1}, false);
    std::unique_ptr<master> b = r.make_master({2}, true);
    ASSERT_EQ(r.engine.attach(*a, d.get()), op_status::ok);
    ASSERT_EQ(r.engine.attach(*b, d.get()), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S2_VMID 1 x2", "ATS 2/0 x1"}));
    EXPECT_EQ(r.tags.vmids_in_use(r.inst->ref()), 1u);
    ASSERT_EQ(r.engine.detach(*b), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S2_VMID 1 x1"}));
    EXPECT_EQ(d->invs().load()->num_invs(), 1u) << "trailing trash trimmed";
    EXPECT_EQ(d->invs().load()->num_trashes(), 0u) << "nothing left to purge";
    EXPECT_TRUE(d->invs().load()->has_ats()) << "fixed per array (§3.8) until the next merge";
    EXPECT_EQ(r.engine.stats().tag_frees, 0u);
}

TEST(attach_engine, same_s1_domain_at_two_pasids) {
    rig r;
    std::unique_ptr<domain> rid = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({3}, true, 4);
    ASSERT_EQ(r.engine.attach(*m, rid.get()), op_status::ok);
    ASSERT_EQ(r.engine.set_pasid(*m, 1, *d), op_status::ok);
    ASSERT_EQ(r.engine.set_pasid(*m, 2, *d), op_status::ok);
    // §3.11: one shared tag entry, ATS entries told apart by ssid.
    EXPECT_EQ(live_entries(d->invs()), (strings{"S1_ASID 2 x2", "ATS 3/1 x1", "ATS 3/2 x1"}));
    EXPECT_EQ(m->pasid_domain(1), d.get());
    EXPECT_EQ(m->pasid_domain(2), d.get());
    EXPECT_EQ(m->pasid_domain(3), nullptr);
    EXPECT_EQ(d->attachments().size(), 2u);
    ASSERT_EQ(r.engine.remove_pasid(*m, 1), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S1_ASID 2 x1", "ATS 3/2 x1"}));
    EXPECT_EQ(d->invs().load()->num_invs(), 2u) << "middle trash purged";
}

TEST(attach_engine, duplicate_stream_ids_give_duplicate_ats_entries) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({6, 6}, true);
    const std::size_t mk = r.mark();
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S1_ASID 1 x1", "ATS 6/0 x1", "ATS 6/0 x1"}));
    // The STE is written once (§3.11 "STE installation skips duplicates").
    strings ste;
    for (const std::string& c : r.since(mk))
        if (c.rfind("CFGI_STE", 0) == 0)
            ste.push_back(c);
    EXPECT_EQ(ste, (strings{"CFGI_STE sid=6 leaf=1", "CFGI_STE sid=6 leaf=1"}));
    ASSERT_EQ(r.engine.detach(*m), op_status::ok);
    EXPECT_EQ(d->invs().load()->num_invs(), 0u);
    EXPECT_EQ(r.engine.stats().warnings, 0u) << "unref pairs duplicates one-to-one";
}

TEST(attach_engine, ats_toggle_reattaches_the_same_domain) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({3}, true);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    const std::shared_ptr<inv_array> before = d->invs().load();
    ASSERT_EQ(r.engine.set_ats(*m, false), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S1_ASID 1 x1"}));
    EXPECT_NE(d->invs().load(), before) << "merged, then purged";
    EXPECT_FALSE(m->ats_enabled());
    EXPECT_FALSE(m->ats_wanted());
    EXPECT_EQ(d->attachments().size(), 1u) << "the second link is gone after commit";
    EXPECT_TRUE(r.tags.asid_in_use(1)) << "the tag kept its user";
    ASSERT_EQ(r.engine.set_ats(*m, true), op_status::ok);
    EXPECT_EQ(live_entries(d->invs()), (strings{"S1_ASID 1 x1", "ATS 3/0 x1"}));
    EXPECT_EQ(r.engine.stats().tag_frees, 0u);
}

TEST(attach_engine, set_ats_errors_and_policy_only_changes) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> plain = r.make_master({1}, false);
    EXPECT_EQ(r.engine.set_ats(*plain, true), op_status::unsupported);
    std::unique_ptr<master> m = r.make_master({3}, true, 2);
    const std::size_t mk = r.mark();
    EXPECT_EQ(r.engine.set_ats(*m, false), op_status::ok) << "detached: policy only";
    EXPECT_EQ(r.since(mk), strings{});
    EXPECT_FALSE(m->ats_wanted());
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    EXPECT_FALSE(m->ats_enabled());
    ASSERT_EQ(r.engine.set_pasid(*m, 1, *d), op_status::ok);
    EXPECT_EQ(r.engine.set_ats(*m, true), op_status::busy);
}

TEST(attach_engine, attach_errors) {
    arch::feature_set f = fake_smmu_default_features();
    f.s2p = false;
    rig r(f);
    std::unique_ptr<domain> sva = r.make_domain(domain_kind::sva);
    std::unique_ptr<domain> s2 = r.make_domain(domain_kind::paging_s2);
    std::unique_ptr<master> m = r.make_master({3}, false, 2);
    EXPECT_EQ(r.engine.attach(*m, sva.get()), op_status::bad_input);
    EXPECT_EQ(r.engine.attach(*m, s2.get()), op_status::unsupported) << "no stage 2";
    EXPECT_EQ(r.engine.set_pasid(*m, 1, *s2), op_status::bad_input);
    EXPECT_EQ(r.engine.set_pasid(*m, 0, *sva), op_status::bad_input);
    EXPECT_EQ(r.engine.set_pasid(*m, 4, *sva), op_status::bad_input) << "2 PASID bits";
    EXPECT_EQ(r.engine.remove_pasid(*m, 1), op_status::bad_input);
    EXPECT_EQ(r.engine.remove_pasid(*m, 0), op_status::bad_input);
    ASSERT_EQ(r.engine.set_pasid(*m, 3, *sva), op_status::ok);
    EXPECT_EQ(r.engine.set_pasid(*m, 3, *sva), op_status::busy);
    std::unique_ptr<master> no_pasid = r.make_master({4}, false);
    EXPECT_EQ(r.engine.set_pasid(*no_pasid, 1, *sva), op_status::unsupported);
    EXPECT_EQ(r.engine.stats().attaches, 1u);
}

TEST(attach_engine, stage2_and_pasids_exclude_each_other) {
    rig r;
    std::unique_ptr<domain> sva = r.make_domain(domain_kind::sva);
    std::unique_ptr<domain> s2 = r.make_domain(domain_kind::paging_s2);
    std::unique_ptr<master> m = r.make_master({3}, false, 2);
    ASSERT_EQ(r.engine.set_pasid(*m, 1, *sva), op_status::ok);
    EXPECT_EQ(r.engine.attach(*m, s2.get()), op_status::unsupported);
    ASSERT_EQ(r.engine.remove_pasid(*m, 1), op_status::ok);
    ASSERT_EQ(r.engine.attach(*m, s2.get()), op_status::ok);
    EXPECT_EQ(r.engine.set_pasid(*m, 1, *sva), op_status::unsupported);
}

TEST(attach_engine, reattaching_the_current_domain_is_a_no_op) {
    rig r;
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({3}, true);
    ASSERT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    const std::size_t mk = r.mark();
    const std::shared_ptr<inv_array> before = d->invs().load();
    EXPECT_EQ(r.engine.attach(*m, d.get()), op_status::ok);
    EXPECT_EQ(r.since(mk), strings{});
    EXPECT_EQ(d->invs().load(), before);
    EXPECT_EQ(r.engine.stats().attaches, 1u);
}

TEST(attach_engine, the_cd_table_is_allocated_on_first_stage1_use) {
    rig r;
    std::unique_ptr<domain> s2 = r.make_domain(domain_kind::paging_s2);
    std::unique_ptr<domain> s1 = r.make_domain(domain_kind::paging_s1);
    std::unique_ptr<master> m = r.make_master({3, 4}, false, 3);
    ASSERT_EQ(r.engine.attach(*m, s2.get()), op_status::ok);
    EXPECT_EQ(m->cds(), nullptr);
    ASSERT_EQ(r.engine.attach(*m, s1.get()), op_status::ok);
    ASSERT_NE(m->cds(), nullptr);
    EXPECT_EQ(m->cds()->s1_cd_max(), 3u);
    EXPECT_EQ(m->cds()->stream_ids(), (std::vector<arch::stream_id>{3, 4}));
}

TEST(attach_engine, a_two_level_cd_table_gets_its_leaf_in_prepare) {
    rig r;
    std::unique_ptr<domain> sva = r.make_domain(domain_kind::sva);
    std::unique_ptr<master> m = r.make_master({3}, false, 20);
    const std::size_t allocations = r.hw.allocation_count();
    r.hw.fail_allocations_after(1); // the level-1 CD table, not the leaf
    EXPECT_EQ(r.engine.set_pasid(*m, 0x5000, *sva), op_status::no_memory);
    EXPECT_EQ(r.hw.allocation_count(), allocations + 1);
    EXPECT_EQ(m->pasid_count(), 0u);
    EXPECT_EQ(sva->invs().load()->num_invs(), 0u);
    EXPECT_EQ(r.tags.asids_in_use(), 0u);
    r.hw.fail_allocations_after(100);
    ASSERT_EQ(r.engine.set_pasid(*m, 0x5000, *sva), op_status::ok);
    EXPECT_EQ(m->cds()->l2_tables(), 1u);
    ASSERT_TRUE(m->cds()->read_cd(0x5000).has_value());
    EXPECT_EQ(m->cds()->read_cd(0x5000)->asid, 1u);
}

TEST(attach_engine, a_failed_ste_write_is_reported_after_completing) {
    device_config cfg;
    cfg.poll_timeout_ns = 10'000;
    rig r(fake_smmu_default_features(), cfg);
    std::unique_ptr<domain> d = r.make_domain(domain_kind::paging_s2);
    std::unique_ptr<master> m = r.make_master({3}, false);
    r.hw.set_cmdq_stalled(true);
    EXPECT_EQ(r.engine.attach(*m, d.get()), op_status::hw_error);
    EXPECT_EQ(m->rid_domain(), d.get()) << "published and committed regardless";
    EXPECT_EQ(live_entries(d->invs()), (strings{"S2_VMID 1 x1"}));
    EXPECT_GT(r.engine.stats().hw_errors, 0u);
}

} // namespace
} // namespace smmu::driver
