// The driver facade end to end on the fake SMMU: for every domain kind the
// exact command streams of attach / unmap / detach (linux-invs.md §3.6, §4.8),
// the attach ordering (publish -> STE -> unref), tags (flush and free on the
// last detach, reuse, exhaustion), failures that change nothing, ATS
// enable / disable ordering (reference §7.4) and the per-operation results.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/driver.h"
#include "model/arch/cd.h"
#include "model/arch/ste.h"
#include "tests/unit/driver/fake_platform_domains.h"

namespace smmu::driver {
namespace {

using arch::opcode;
using dtest::commands_since;
using dtest::hooked_rw_lock_factory;
using dtest::mutex_lock_factory;
using dtest::observed_smmu_hw;
using strings = std::vector<std::string>;

iommu_prot rw_prot() {
    iommu_prot p;
    p.read = true;
    p.write = true;
    p.cache = true;
    return p;
}

arch::feature_set features(bool ril = true) {
    arch::feature_set f = fake_smmu_default_features();
    f.ril = ril;
    return f;
}

struct rig {
    explicit rig(arch::feature_set f = features(), driver_options o = {})
        : hw(f)
        , drv(hw, locks, rw, o) {
        up = drv.bring_up();
    }

    domain_id domain(domain_kind kind) {
        const op_result r = drv.create_domain(kind);
        EXPECT_EQ(r.status, op_status::ok);
        return r.id;
    }
    void add_master(std::vector<arch::stream_id> sids, bool ats, unsigned ssid_bits = 0,
                    std::function<void(bool)> endpoint = nullptr) {
        master_config c;
        c.sids = std::move(sids);
        c.ats_capable = ats;
        c.ssid_bits = ssid_bits;
        c.set_endpoint_ats = std::move(endpoint);
        EXPECT_EQ(drv.add_master(std::move(c)).status, op_status::ok);
    }
    void map(domain_id d, std::uint64_t iova, std::uint64_t size, std::uint64_t pa = 0x80000000) {
        EXPECT_EQ(drv.map(d, iova, pa, size, rw_prot()).status, op_status::ok);
    }
    std::size_t mark() const { return hw.consumed_commands().size(); }
    strings since(std::size_t m) const { return commands_since(hw, m); }
    arch::ste ste(arch::stream_id sid) { return *drv.device()->strtab().read_ste(sid); }
    arch::cd cd(arch::stream_id sid, std::uint32_t ssid) {
        return *drv.find_master(sid)->cds()->read_cd(ssid);
    }
    const std::shared_ptr<inv_array> invs(domain_id d) { return drv.find_domain(d)->invs().load(); }

    observed_smmu_hw hw;
    mutex_lock_factory locks;
    hooked_rw_lock_factory rw;
    smmu_driver drv;
    op_result up;
};

// The CD write (invalid -> valid) and the STE write of a stage-1 attach, one StreamID.
const strings k_s1_attach_sid3 = {
    "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC",
    "CFGI_STE sid=3 leaf=1",       "SYNC", "CFGI_STE sid=3 leaf=1",       "SYNC"};

// ---- bring-up and handles ---------------------------------------------------------------------

TEST(smmu_driver, brings_up_the_smmu) {
    rig r;
    EXPECT_EQ(r.up.status, op_status::ok);
    EXPECT_TRUE(r.drv.ready());
    EXPECT_EQ(r.up.count(opcode::cfgi_ste_range), 1u) << "CFGI_ALL";
    EXPECT_EQ(r.up.count(opcode::tlbi_el2_all), 1u);
    EXPECT_EQ(r.up.count(opcode::tlbi_nsnh_all), 1u);
    EXPECT_EQ(r.up.count(opcode::sync), 1u);
    EXPECT_EQ(r.up.total_commands(), 4u);
    EXPECT_NE(r.drv.device()->cr0() & arch::cr0::smmuen.mask(), 0u);
    const op_result again = r.drv.bring_up();
    EXPECT_EQ(again.status, op_status::ok);
    EXPECT_EQ(again.total_commands(), 0u);
}

TEST(smmu_driver, nothing_works_before_bring_up) {
    observed_smmu_hw hw;
    mutex_lock_factory locks;
    hooked_rw_lock_factory rw;
    smmu_driver drv(hw, locks, rw);
    EXPECT_FALSE(drv.ready());
    EXPECT_EQ(drv.create_domain(domain_kind::paging_s1).status, op_status::not_ready);
    EXPECT_EQ(drv.add_master(master_config{}).status, op_status::not_ready);
    EXPECT_EQ(drv.attach(1, 3).status, op_status::not_ready);
    EXPECT_EQ(drv.unmap(1, 0, 0x1000).status, op_status::not_ready);
    EXPECT_EQ(drv.find_master(3), nullptr);
    EXPECT_EQ(drv.find_domain(1), nullptr);
    EXPECT_TRUE(hw.mmio_writes().empty());
}

TEST(smmu_driver, lock_and_probe_failures) {
    {
        observed_smmu_hw hw;
        mutex_lock_factory locks;
        locks.fail_from = 1;
        hooked_rw_lock_factory rw;
        smmu_driver drv(hw, locks, rw);
        EXPECT_EQ(drv.bring_up().status, op_status::no_memory);
        EXPECT_FALSE(drv.ready());
    }
    {
        arch::feature_set f = features();
        f.ttf_aarch64 = false;
        f.ttf_aarch32 = true;
        observed_smmu_hw hw(f);
        mutex_lock_factory locks;
        hooked_rw_lock_factory rw;
        smmu_driver drv(hw, locks, rw);
        EXPECT_EQ(drv.bring_up().status, op_status::unsupported);
        EXPECT_FALSE(drv.ready());
    }
}

TEST(smmu_driver, domain_handles) {
    driver_options o;
    o.max_domains = 2;
    rig r(features(), o);
    const domain_id a = r.domain(domain_kind::paging_s1);
    const domain_id b = r.domain(domain_kind::paging_s2);
    EXPECT_EQ(a, 1u);
    EXPECT_EQ(b, 2u);
    EXPECT_EQ(r.drv.find_domain(a)->kind(), domain_kind::paging_s1);
    EXPECT_EQ(r.drv.create_domain(domain_kind::sva).status, op_status::busy) << "table full";
    EXPECT_EQ(r.drv.destroy_domain(a).status, op_status::ok);
    EXPECT_EQ(r.drv.find_domain(a), nullptr);
    EXPECT_EQ(r.drv.destroy_domain(a).status, op_status::bad_input);
    EXPECT_EQ(r.drv.destroy_domain(0).status, op_status::bad_input);
    EXPECT_EQ(r.drv.destroy_domain(3).status, op_status::bad_input);
    EXPECT_EQ(r.domain(domain_kind::sva), 1u) << "slot reused";
    EXPECT_EQ(r.drv.map(7, 0, 0x80000000, 0x1000, rw_prot()).status, op_status::bad_input);
    EXPECT_EQ(r.drv.unmap(7, 0, 0x1000).status, op_status::bad_input);
    EXPECT_EQ(r.drv.flush_domain(7).status, op_status::bad_input);
}

TEST(smmu_driver, domain_kinds_the_smmu_lacks) {
    arch::feature_set f = features();
    f.s2p = false;
    rig r(f);
    EXPECT_EQ(r.drv.create_domain(domain_kind::paging_s2).status, op_status::unsupported);
    EXPECT_EQ(r.drv.create_domain(domain_kind::nesting_parent).status, op_status::unsupported);
    EXPECT_EQ(r.drv.create_domain(domain_kind::paging_s1).status, op_status::ok);
    driver_options o;
    o.granule = arch::granule::size_16k;
    arch::feature_set g = features();
    g.gran16k = false;
    rig r16(g, o);
    EXPECT_EQ(r16.drv.create_domain(domain_kind::paging_s1).status, op_status::unsupported);
}

TEST(smmu_driver, domains_are_sized_for_the_smmu) {
    arch::feature_set f = features();
    f.oas_bits = 40;
    rig r(f);
    const domain* s1 = r.drv.find_domain(r.domain(domain_kind::paging_s1));
    const domain* s2 = r.drv.find_domain(r.domain(domain_kind::paging_s2));
    EXPECT_EQ(s1->config().ias, 48u);
    EXPECT_EQ(s1->config().oas, 40u);
    EXPECT_EQ(s2->config().ias, 40u);
    EXPECT_EQ(s2->config().oas, 40u);
    EXPECT_TRUE(s2->config().coherent_walk);
}

TEST(smmu_driver, masters_and_their_stream_ids) {
    rig r;
    master_config c;
    c.sids = {5, 3};
    const op_result add = r.drv.add_master(c);
    EXPECT_EQ(add.status, op_status::ok);
    EXPECT_EQ(add.id, 3u);
    EXPECT_EQ(add.count(opcode::cfgi_ste), 1u) << "the level-2 stream table's L1STD";
    EXPECT_EQ(r.drv.find_master(5), r.drv.find_master(3));
    master_config clash;
    clash.sids = {7, 5};
    EXPECT_EQ(r.drv.add_master(clash).status, op_status::bad_input);
    EXPECT_EQ(r.drv.find_master(7), nullptr);
    EXPECT_EQ(r.drv.add_master(master_config{}).status, op_status::bad_input);

    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 5).ok());
    EXPECT_EQ(r.drv.remove_master(3).status, op_status::busy);
    EXPECT_EQ(r.drv.destroy_domain(d).status, op_status::busy);
    ASSERT_TRUE(r.drv.detach(3).ok());
    EXPECT_EQ(r.drv.remove_master(5).status, op_status::ok);
    EXPECT_EQ(r.drv.find_master(3), nullptr);
    EXPECT_EQ(r.drv.remove_master(5).status, op_status::bad_input);
    EXPECT_EQ(r.drv.destroy_domain(d).status, op_status::ok);
}

TEST(smmu_driver, bad_handles_and_kinds) {
    rig r;
    r.add_master({3}, false, 2);
    const domain_id s1 = r.domain(domain_kind::paging_s1);
    const domain_id sva = r.domain(domain_kind::sva);
    EXPECT_EQ(r.drv.attach(9, 3).status, op_status::bad_input);
    EXPECT_EQ(r.drv.attach(s1, 4).status, op_status::bad_input);
    EXPECT_EQ(r.drv.detach(4).status, op_status::bad_input);
    EXPECT_EQ(r.drv.attach(sva, 3).status, op_status::bad_input) << "SVA only at a PASID";
    EXPECT_EQ(r.drv.bind_sva(3, 1, s1).status, op_status::bad_input) << "not an SVA domain";
    EXPECT_EQ(r.drv.bind_sva(4, 1, sva).status, op_status::bad_input);
    EXPECT_EQ(r.drv.enable_ats(4).status, op_status::bad_input);
    EXPECT_EQ(r.drv.enable_ats(3).status, op_status::unsupported) << "not ATS-capable";
    EXPECT_EQ(r.drv.detach(3, 1).status, op_status::bad_input) << "PASID not bound";
}

// ---- stage 1 ----------------------------------------------------------------------------------

TEST(s1_domain, attach_map_unmap_detach_with_ril) {
    rig r;
    r.add_master({3}, false);
    const domain_id d = r.domain(domain_kind::paging_s1);
    std::size_t m = r.mark();
    const op_result a = r.drv.attach(d, 3);
    EXPECT_EQ(a.status, op_status::ok);
    EXPECT_EQ(r.since(m), k_s1_attach_sid3);
    EXPECT_EQ(a.count(opcode::cfgi_cd), 2u);
    EXPECT_EQ(a.count(opcode::cfgi_ste), 2u);
    EXPECT_EQ(a.count(opcode::sync), 4u);

    const arch::cd cd = r.cd(3, 0);
    EXPECT_TRUE(cd.v);
    EXPECT_EQ(cd.asid, 1u);
    EXPECT_TRUE(cd.aset);
    EXPECT_TRUE(cd.aa64);
    EXPECT_EQ(cd.t0sz, 16u);
    EXPECT_EQ(cd.ttb0, r.drv.find_domain(d)->pgtable().ttb());
    const arch::ste ste = r.ste(3);
    EXPECT_EQ(ste.config, arch::ste_config::s1_translate);
    EXPECT_EQ(ste.s1_context_ptr, r.drv.find_master(3)->cds()->context_ptr());
    EXPECT_EQ(ste.s1_dss, arch::ste_s1dss::substream0);
    EXPECT_EQ(ste.eats, arch::ste_eats::abort);
    EXPECT_EQ(ste.strw, arch::ste_strw::el1);
    EXPECT_EQ(arch::validate_ste(ste, r.hw.features()), arch::ste_illegal_reason::none);
    EXPECT_EQ(arch::validate_cd(cd, r.hw.features(), {}), arch::cd_illegal_reason::none);

    m = r.mark();
    const op_result mp = r.drv.map(d, 0x10000, 0x80000000, 0x2000, rw_prot());
    EXPECT_EQ(mp.status, op_status::ok);
    EXPECT_EQ(mp.bytes, 0x2000u);
    EXPECT_EQ(mp.total_commands(), 0u) << "map invalidates nothing";

    const op_result u = r.drv.unmap(d, 0x10000, 0x2000);
    EXPECT_EQ(u.status, op_status::ok);
    EXPECT_EQ(u.bytes, 0x2000u);
    EXPECT_EQ(
        r.since(m),
        (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1 tg=1 ttl=3 num=0 scale=1", "SYNC"}));
    EXPECT_EQ(u.count(opcode::tlbi_nh_va), 1u);
    EXPECT_EQ(u.count(opcode::sync), 1u);
    EXPECT_EQ(u.total_commands(), 2u);

    m = r.mark();
    EXPECT_EQ(r.drv.detach(3).status, op_status::ok);
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                       "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC",
                       "NH_ASID asid=1 vmid=0", "SYNC"}));
    EXPECT_EQ(r.ste(3).config, arch::ste_config::abort);
    EXPECT_FALSE(r.cd(3, 0).v) << "CD 0 cleared after the STE stopped using it";
}

TEST(s1_domain, unmap_without_ril_is_one_tlbi_per_page) {
    rig r(features(false));
    r.add_master({3}, false);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    r.map(d, 0x10000, 0x2000);
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x2000).ok());
    EXPECT_EQ(r.since(m), (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1",
                                   "NH_VA asid=1 vmid=0 addr=0x11000 leaf=1", "SYNC"}));
}

TEST(s1_domain, unmap_with_ats_and_ril) {
    rig r;
    r.add_master({5, 3}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    // Both StreamIDs' STEs, then the whole ATC before the endpoint may use ATS.
    EXPECT_EQ(
        r.since(m),
        (strings{"CFGI_CD sid=3 ssid=0 leaf=1", "CFGI_CD sid=5 ssid=0 leaf=1", "SYNC",
                 "CFGI_CD sid=3 ssid=0 leaf=1", "CFGI_CD sid=5 ssid=0 leaf=1", "SYNC",
                 "CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                 "CFGI_STE sid=5 leaf=1", "SYNC", "CFGI_STE sid=5 leaf=1", "SYNC",
                 "ATC_INV sid=3 addr=0x0 size=52", "ATC_INV sid=5 addr=0x0 size=52", "SYNC"}));
    EXPECT_EQ(r.ste(3).eats, arch::ste_eats::full);
    EXPECT_EQ(r.ste(5).eats, arch::ste_eats::full);
    EXPECT_TRUE(r.drv.find_master(3)->endpoint_ats());
    r.map(d, 0x10000, 0x2000);
    m = r.mark();
    const op_result u = r.drv.unmap(d, 0x10000, 0x2000);
    ASSERT_TRUE(u.ok());
    // §4.8: TLBIs, SYNC, then the ATC invalidations in their own SYNC group.
    EXPECT_EQ(r.since(m),
              (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1 tg=1 ttl=3 num=0 scale=1", "SYNC",
                       "ATC_INV sid=3 addr=0x10000 size=1", "ATC_INV sid=5 addr=0x10000 size=1",
                       "SYNC"}));
    EXPECT_EQ(u.count(opcode::tlbi_nh_va), 1u);
    EXPECT_EQ(u.count(opcode::atc_inv), 2u);
    EXPECT_EQ(u.count(opcode::sync), 2u);
}

TEST(s1_domain, unmap_with_ats_without_ril) {
    rig r(features(false));
    r.add_master({5, 3}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 5).ok());
    r.map(d, 0x10000, 0x2000);
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x2000).ok());
    // linux-invs.md §4.8 example: 2 x TLBI_NH_VA + SYNC; 2 x ATC_INV + SYNC.
    EXPECT_EQ(r.since(m), (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1",
                                   "NH_VA asid=1 vmid=0 addr=0x11000 leaf=1", "SYNC",
                                   "ATC_INV sid=3 addr=0x10000 size=1",
                                   "ATC_INV sid=5 addr=0x10000 size=1", "SYNC"}));
}

TEST(s1_domain, e2h_uses_the_el2_forms) {
    driver_options o;
    o.device.e2h = true;
    rig r(features(false), o);
    r.add_master({3}, false);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.ste(3).strw, arch::ste_strw::el2);
    const arch::feature_set& f = r.hw.features();
    const arch::ste_check_context e2h{true, true};
    EXPECT_EQ(arch::validate_ste(r.ste(3), f), arch::ste_illegal_reason::none);
    EXPECT_EQ(arch::ste_stream_world(r.ste(3), f, e2h), arch::stream_world::ns_el2_e2h);
    EXPECT_EQ(arch::validate_cd(r.cd(3, 0), f, arch::make_cd_check_context(r.ste(3), f, e2h)),
              arch::cd_illegal_reason::none);
    r.map(d, 0x10000, 0x1000);
    std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x1000).ok());
    EXPECT_EQ(r.since(m), (strings{"EL2_VA asid=1 addr=0x10000 leaf=1", "SYNC"}));
    m = r.mark();
    ASSERT_TRUE(r.drv.detach(3).ok());
    const strings s = r.since(m);
    EXPECT_EQ(strings(s.end() - 2, s.end()), (strings{"EL2_ASID asid=1", "SYNC"}));
}

TEST(s1_domain, switching_domains_rewrites_the_cd_and_flushes_the_old_asid) {
    rig r;
    r.add_master({3}, true);
    const domain_id a = r.domain(domain_kind::paging_s1);
    const domain_id b = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(a, 3).ok());
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.attach(b, 3).ok());
    // ASID (word 0) and TTB0 (word 1) both change: the CD is rewritten break-
    // before-make (3 steps), the STE stays; the master's ATC is emptied (ATS stays
    // on); A's last user left: its ASID is flushed.
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_CD sid=3 ssid=0 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC",
                       "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC", "ATC_INV sid=3 addr=0x0 size=52",
                       "SYNC", "NH_ASID asid=1 vmid=0", "SYNC"}));
    EXPECT_EQ(r.cd(3, 0).asid, 2u);
    EXPECT_EQ(r.invs(a)->num_invs(), 0u);
    EXPECT_FALSE(r.drv.tags().asid_in_use(1));
    EXPECT_TRUE(r.drv.tags().asid_in_use(2));
}

TEST(s1_domain, moving_to_stage2_clears_cd0_after_the_ste) {
    rig r;
    r.add_master({3}, false);
    const domain_id s1 = r.domain(domain_kind::paging_s1);
    const domain_id s2 = r.domain(domain_kind::paging_s2);
    ASSERT_TRUE(r.drv.attach(s1, 3).ok());
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.attach(s2, 3).ok());
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                       "CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC",
                       "CFGI_CD sid=3 ssid=0 leaf=1", "SYNC", "NH_ASID asid=1 vmid=0", "SYNC"}));
    EXPECT_EQ(r.ste(3).config, arch::ste_config::s2_translate);
}

// ---- stage 2 ----------------------------------------------------------------------------------

TEST(s2_domain, attach_map_unmap_detach) {
    rig r;
    r.add_master({3}, false);
    const domain_id d = r.domain(domain_kind::paging_s2);
    std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC"}));
    const arch::ste ste = r.ste(3);
    EXPECT_EQ(ste.config, arch::ste_config::s2_translate);
    EXPECT_EQ(ste.s2_vmid, 1u);
    EXPECT_EQ(ste.s2_ttb, r.drv.find_domain(d)->pgtable().ttb());
    EXPECT_EQ(ste.s2_t0sz, 16u);
    EXPECT_EQ(ste.s2_sl0, 2u);
    EXPECT_TRUE(ste.s2_aa64);
    EXPECT_TRUE(ste.s2_ptw);
    EXPECT_TRUE(ste.s2_r);
    EXPECT_EQ(ste.eats, arch::ste_eats::abort);
    EXPECT_EQ(ste.shcfg, arch::ste_shcfg::incoming);
    EXPECT_EQ(r.drv.find_master(3)->cds(), nullptr) << "stage 2 needs no CD table";
    EXPECT_EQ(arch::validate_ste(ste, r.hw.features()), arch::ste_illegal_reason::none);

    r.map(d, 0x10000, 0x2000);
    m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x2000).ok());
    EXPECT_EQ(r.since(m),
              (strings{"S2_IPA vmid=1 addr=0x10000 leaf=1 tg=1 ttl=3 num=0 scale=1", "SYNC"}));

    m = r.mark();
    ASSERT_TRUE(r.drv.detach(3).ok());
    EXPECT_EQ(r.since(m), (strings{"CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                                   "S12_VMALL vmid=1", "SYNC"}));
    EXPECT_FALSE(r.drv.tags().vmid_in_use(r.drv.instance()->ref(), 1));
}

TEST(s2_domain, unmap_without_ril_and_with_ats) {
    rig r(features(false));
    r.add_master({3}, true);
    const domain_id d = r.domain(domain_kind::paging_s2);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.ste(3).eats, arch::ste_eats::full);
    r.map(d, 0x10000, 0x2000);
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x2000).ok());
    EXPECT_EQ(r.since(m),
              (strings{"S2_IPA vmid=1 addr=0x10000 leaf=1", "S2_IPA vmid=1 addr=0x11000 leaf=1",
                       "SYNC", "ATC_INV sid=3 addr=0x10000 size=1", "SYNC"}));
}

// ---- nesting parent ---------------------------------------------------------------------------

TEST(nesting_parent, unmap_clears_guest_stage1_and_whole_atcs) {
    rig r(features(false));
    r.add_master({5, 3}, true);
    const domain_id d = r.domain(domain_kind::nesting_parent);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.ste(3).config, arch::ste_config::s2_translate);
    r.map(d, 0x10000, 0x2000);
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x2000).ok());
    // linux-invs.md §4.8: S2 by IPA + SYNC; NH_ALL(VMID) + SYNC; ATC_INV(all) + SYNC.
    EXPECT_EQ(r.since(m),
              (strings{"S2_IPA vmid=1 addr=0x10000 leaf=1", "S2_IPA vmid=1 addr=0x11000 leaf=1",
                       "SYNC", "NH_ALL vmid=1", "SYNC", "ATC_INV sid=3 addr=0x0 size=52",
                       "ATC_INV sid=5 addr=0x0 size=52", "SYNC"}));
}

TEST(nesting_parent, full_flush_skips_the_stage1_clear) {
    rig r(features(false));
    r.add_master({5, 3}, true);
    const domain_id d = r.domain(domain_kind::nesting_parent);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    // 512 pages of 4 KB (output not 2 MB aligned): the full-flush threshold (§4.5).
    r.map(d, 0x200000, 0x200000, 0x80001000);
    const std::size_t m = r.mark();
    const op_result u = r.drv.unmap(d, 0x200000, 0x200000);
    ASSERT_TRUE(u.ok());
    // The table is freed (walk flush), then iotlb_sync of the 2 MB span by its
    // one 2 MB step. Each TLBI_S12_VMALL covers the guest stage 1: no NH_ALL.
    EXPECT_EQ(r.since(m), (strings{"S12_VMALL vmid=1", "SYNC", "ATC_INV sid=3 addr=0x0 size=52",
                                   "ATC_INV sid=5 addr=0x0 size=52", "SYNC",
                                   "S2_IPA vmid=1 addr=0x200000 leaf=1", "SYNC", "NH_ALL vmid=1",
                                   "SYNC", "ATC_INV sid=3 addr=0x0 size=52",
                                   "ATC_INV sid=5 addr=0x0 size=52", "SYNC"}));
    const std::size_t f = r.mark();
    ASSERT_TRUE(r.drv.flush_domain(d).ok());
    EXPECT_EQ(r.since(f), (strings{"S12_VMALL vmid=1", "SYNC", "ATC_INV sid=3 addr=0x0 size=52",
                                   "ATC_INV sid=5 addr=0x0 size=52", "SYNC"}));
}

TEST(nesting_parent, last_detach_flushes_the_vmid) {
    rig r;
    r.add_master({3}, true);
    const domain_id d = r.domain(domain_kind::nesting_parent);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.detach(3).ok());
    EXPECT_EQ(r.since(m),
              (strings{"ATC_INV sid=3 addr=0x0 size=52", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                       "CFGI_STE sid=3 leaf=1", "SYNC", "S12_VMALL vmid=1", "SYNC"}));
}

// ---- SVA --------------------------------------------------------------------------------------

TEST(sva_domain, two_pasids_of_one_master) {
    rig r;
    r.add_master({3}, true, 4);
    const domain_id rid = r.domain(domain_kind::paging_s1);
    const domain_id sva = r.domain(domain_kind::sva);
    ASSERT_TRUE(r.drv.attach(rid, 3).ok());
    std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.bind_sva(3, 1, sva).ok());
    // The CD at SSID 1 (ASID 2), then the ATC of that PASID (ATS stays on).
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_CD sid=3 ssid=1 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=1 leaf=1", "SYNC",
                       "ATC_INV sid=3 ssid=1 addr=0x0 size=52", "SYNC"}));
    ASSERT_TRUE(r.drv.bind_sva(3, 2, sva).ok());
    const arch::cd cd1 = r.cd(3, 1);
    const arch::cd cd2 = r.cd(3, 2);
    EXPECT_EQ(cd1.asid, 2u);
    EXPECT_EQ(cd2.asid, 2u);
    EXPECT_FALSE(cd1.aset) << "a process ASID";
    EXPECT_EQ(cd1.ttb0, r.drv.find_domain(sva)->pgtable().ttb());
    EXPECT_EQ(r.cd(3, 0).asid, 1u);
    EXPECT_EQ(r.ste(3).s1_cd_max, 4u);
    const arch::feature_set& f = r.hw.features();
    EXPECT_EQ(arch::validate_ste(r.ste(3), f), arch::ste_illegal_reason::none);
    EXPECT_EQ(arch::validate_cd(cd1, f, arch::make_cd_check_context(r.ste(3), f, {})),
              arch::cd_illegal_reason::none);

    r.map(sva, 0x400000, 0x2000);
    m = r.mark();
    ASSERT_TRUE(r.drv.unmap(sva, 0x400000, 0x2000).ok());
    EXPECT_EQ(r.since(m),
              (strings{"NH_VA asid=2 vmid=0 addr=0x400000 leaf=0 tg=1 ttl=0 num=0 scale=1", "SYNC",
                       "ATC_INV sid=3 ssid=1 addr=0x400000 size=1",
                       "ATC_INV sid=3 ssid=2 addr=0x400000 size=1", "SYNC"}));

    m = r.mark();
    ASSERT_TRUE(r.drv.detach(3, 1).ok());
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_CD sid=3 ssid=1 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=1 leaf=1", "SYNC",
                       "ATC_INV sid=3 ssid=1 addr=0x0 size=52", "SYNC"}))
        << "PASID 2 keeps the ASID";
    EXPECT_FALSE(r.cd(3, 1).v);
    m = r.mark();
    ASSERT_TRUE(r.drv.detach(3, 2).ok());
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_CD sid=3 ssid=2 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=2 leaf=1", "SYNC",
                       "ATC_INV sid=3 ssid=2 addr=0x0 size=52", "SYNC", "NH_ASID asid=2 vmid=0",
                       "SYNC"}));
    EXPECT_FALSE(r.drv.tags().asid_in_use(2));
    EXPECT_TRUE(r.drv.tags().asid_in_use(1));
    EXPECT_EQ(r.drv.destroy_domain(sva).total_commands(), 0u) << "empty array: nothing to flush";
}

TEST(sva_domain, bind_on_a_blocked_master_installs_a_cd_table_ste) {
    std::vector<std::pair<bool, std::size_t>> endpoint; // (enable, commands consumed then)
    rig r;
    observed_smmu_hw* hw = &r.hw;
    r.add_master({3}, true, 4, [&endpoint, hw](bool on) {
        endpoint.emplace_back(on, hw->consumed_commands().size());
    });
    const domain_id sva = r.domain(domain_kind::sva);
    std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.bind_sva(3, 5, sva).ok());
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_CD sid=3 ssid=5 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=5 leaf=1", "SYNC",
                       "CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                       "ATC_INV sid=3 addr=0x0 size=52", "SYNC"}));
    const arch::ste ste = r.ste(3);
    EXPECT_EQ(ste.config, arch::ste_config::s1_translate);
    EXPECT_EQ(ste.s1_dss, arch::ste_s1dss::terminate) << "RID traffic stays blocked";
    EXPECT_EQ(ste.eats, arch::ste_eats::full);
    EXPECT_EQ(arch::validate_ste(ste, r.hw.features()), arch::ste_illegal_reason::none);
    ASSERT_EQ(endpoint.size(), 1u);
    EXPECT_TRUE(endpoint[0].first);
    EXPECT_EQ(endpoint[0].second, r.mark()) << "the endpoint enables ATS last";

    m = r.mark();
    ASSERT_TRUE(r.drv.detach(3, 5).ok());
    // Endpoint off, ATC emptied, STE back to abort, then the CD it no longer reaches.
    EXPECT_EQ(r.since(m),
              (strings{"ATC_INV sid=3 addr=0x0 size=52", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC",
                       "CFGI_STE sid=3 leaf=1", "SYNC", "CFGI_CD sid=3 ssid=5 leaf=1", "SYNC",
                       "CFGI_CD sid=3 ssid=5 leaf=1", "SYNC", "NH_ASID asid=1 vmid=0", "SYNC"}));
    EXPECT_EQ(r.ste(3).config, arch::ste_config::abort);
    ASSERT_EQ(endpoint.size(), 2u);
    EXPECT_FALSE(endpoint[1].first);
    EXPECT_EQ(endpoint[1].second, m) << "the endpoint stops first";
}

TEST(sva_domain, pasid_errors) {
    rig r;
    r.add_master({3}, false, 2);
    r.add_master({4}, false);
    const domain_id sva = r.domain(domain_kind::sva);
    const domain_id s2 = r.domain(domain_kind::paging_s2);
    EXPECT_EQ(r.drv.bind_sva(3, 4, sva).status, op_status::bad_input) << "2 PASID bits";
    EXPECT_EQ(r.drv.bind_sva(3, 0, sva).status, op_status::bad_input);
    EXPECT_EQ(r.drv.bind_sva(4, 1, sva).status, op_status::unsupported) << "no PASIDs";
    ASSERT_TRUE(r.drv.bind_sva(3, 1, sva).ok());
    EXPECT_EQ(r.drv.bind_sva(3, 1, sva).status, op_status::busy);
    EXPECT_EQ(r.drv.attach(s2, 3).status, op_status::unsupported) << "PASIDs need a CD table";
    EXPECT_EQ(r.drv.attach(s2, 3, 2).status, op_status::bad_input) << "stage 2 at a PASID";
    EXPECT_EQ(r.drv.destroy_domain(sva).status, op_status::busy);
}

// ---- attach ordering --------------------------------------------------------------------------

// §3.6: the new domain's array is published before the STE / CD write, and the
// old domain's array drops the master only after it.
TEST(attach_ordering, publish_then_ste_then_unref) {
    rig r;
    r.add_master({3}, true);
    const domain_id a = r.domain(domain_kind::paging_s2);
    const domain_id b = r.domain(domain_kind::paging_s2);
    ASSERT_TRUE(r.drv.attach(a, 3).ok());
    const std::uint64_t ste_pa = *r.drv.device()->strtab().ste_address(3);
    const invs_slot& a_slot = r.drv.find_domain(a)->invs();
    const invs_slot& b_slot = r.drv.find_domain(b)->invs();
    const auto has_master = [](const invs_slot& s) {
        const std::shared_ptr<inv_array> arr = s.load();
        for (std::size_t i = 0; i < arr->num_invs(); ++i)
            if ((*arr)[i].type == inv_type::ats && (*arr)[i].id == 3 && (*arr)[i].users.load() > 0)
                return true;
        return false;
    };
    struct event {
        char what; // 'S' STE write, 'U' unref (array write lock)
        bool new_has, old_has;
    };
    std::vector<event> events;
    r.hw.on_mem_write = [&](std::uint64_t pa, std::size_t) {
        if (pa >= ste_pa && pa < ste_pa + 64)
            events.push_back({'S', has_master(b_slot), has_master(a_slot)});
    };
    r.rw.on_exclusive = [&] { events.push_back({'U', has_master(b_slot), has_master(a_slot)}); };

    ASSERT_TRUE(r.drv.attach(b, 3).ok());
    r.hw.on_mem_write = nullptr;
    r.rw.on_exclusive = nullptr;

    ASSERT_GE(events.size(), 2u);
    std::string order;
    for (const event& e : events)
        order += e.what;
    EXPECT_EQ(order.back(), 'U');
    EXPECT_EQ(order.find('U'), order.size() - 1) << order << ": unref after every STE write";
    for (const event& e : events) {
        EXPECT_TRUE(e.new_has) << e.what << ": B invalidates for the master before its STE";
        if (e.what == 'S') {
            EXPECT_TRUE(e.old_has) << "A still invalidates for it while the STE switches";
        }
    }
    EXPECT_FALSE(has_master(a_slot));
    EXPECT_EQ(r.ste(3).s2_vmid, 2u);
}

// ---- tags -------------------------------------------------------------------------------------

TEST(tags, last_detach_frees_the_asid_for_the_next_domain) {
    rig r;
    r.add_master({3}, false);
    const domain_id a = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(a, 3).ok());
    EXPECT_TRUE(r.drv.tags().asid_in_use(1));
    const op_result d = r.drv.detach(3);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d.count(opcode::tlbi_nh_asid), 1u);
    EXPECT_FALSE(r.drv.tags().asid_in_use(1));
    EXPECT_EQ(r.drv.attach_paths()->stats().tag_frees, 1u);
    const domain_id b = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(b, 3).ok());
    EXPECT_EQ(r.cd(3, 0).asid, 1u) << "the flushed ASID is reused";
    EXPECT_EQ((*r.invs(b))[0].id, 1u);
}

TEST(tags, last_detach_frees_the_vmid_for_the_next_domain) {
    rig r;
    r.add_master({3}, false);
    const domain_id a = r.domain(domain_kind::paging_s2);
    ASSERT_TRUE(r.drv.attach(a, 3).ok());
    const op_result d = r.drv.detach(3);
    EXPECT_EQ(d.count(opcode::tlbi_s12_vmall), 1u);
    const domain_id b = r.domain(domain_kind::nesting_parent);
    ASSERT_TRUE(r.drv.attach(b, 3).ok());
    EXPECT_EQ(r.ste(3).s2_vmid, 1u);
}

TEST(tags, a_second_master_keeps_the_tag_alive) {
    rig r;
    r.add_master({3}, false);
    r.add_master({7}, false);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    ASSERT_TRUE(r.drv.attach(d, 7).ok());
    EXPECT_EQ(r.cd(7, 0).asid, 1u) << "one tag per (domain, SMMU)";
    EXPECT_EQ(r.invs(d)->num_invs(), 1u);
    EXPECT_EQ((*r.invs(d))[0].users.load(), 2);
    const op_result first = r.drv.detach(3);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first.count(opcode::tlbi_nh_asid), 0u);
    EXPECT_TRUE(r.drv.tags().asid_in_use(1));
    EXPECT_EQ((*r.invs(d))[0].users.load(), 1);
    r.map(d, 0x10000, 0x1000);
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x1000).ok());
    EXPECT_EQ(
        r.since(m),
        (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1 tg=1 ttl=3 num=0 scale=0", "SYNC"}));
    const op_result last = r.drv.detach(7);
    EXPECT_EQ(last.count(opcode::tlbi_nh_asid), 1u);
    EXPECT_FALSE(r.drv.tags().asid_in_use(1));
}

TEST(tags, asid_exhaustion_is_reported_and_changes_nothing) {
    arch::feature_set f = features();
    f.asid16 = false;
    rig r(f);
    r.add_master({3}, false);
    for (int i = 0; i < 255; ++i)
        ASSERT_TRUE(r.drv.tags().alloc_asid(r.drv.instance()->ref(), nullptr).ok());
    const domain_id d = r.domain(domain_kind::paging_s1);
    const arch::ste before = r.ste(3);
    const op_result a = r.drv.attach(d, 3);
    EXPECT_EQ(a.status, op_status::tag_exhausted);
    EXPECT_EQ(a.total_commands(), 0u);
    EXPECT_EQ(r.ste(3), before);
    EXPECT_EQ(r.invs(d)->num_invs(), 0u);
    EXPECT_EQ(r.drv.find_master(3)->rid_domain(), nullptr);
    EXPECT_TRUE(r.drv.find_domain(d)->attachments().empty());
    r.drv.tags().free_asid(77);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.cd(3, 0).asid, 77u);
}

TEST(tags, vmid_exhaustion_is_reported) {
    arch::feature_set f = features();
    f.vmid16 = false;
    rig r(f);
    r.add_master({3}, false);
    for (int i = 0; i < 255; ++i)
        ASSERT_TRUE(r.drv.tags().alloc_vmid(r.drv.instance()->ref()).ok());
    const domain_id d = r.domain(domain_kind::paging_s2);
    EXPECT_EQ(r.drv.attach(d, 3).status, op_status::tag_exhausted);
    EXPECT_EQ(r.ste(3).config, arch::ste_config::abort);
}

// ---- failures in prepare ----------------------------------------------------------------------

TEST(prepare_failure, merge_allocation_failure_leaves_everything_unchanged) {
    rig r;
    r.add_master({3}, true);
    const domain_id a = r.domain(domain_kind::paging_s1);
    const domain_id b = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(a, 3).ok());
    const arch::ste ste_before = r.ste(3);
    const arch::cd cd_before = r.cd(3, 0);
    const std::shared_ptr<inv_array> a_before = r.invs(a);
    const std::shared_ptr<inv_array> b_before = r.invs(b);
    const std::size_t asids = r.drv.tags().asids_in_use();

    r.rw.fail_next(); // the merged array's lock
    const std::size_t m = r.mark();
    const op_result res = r.drv.attach(b, 3);
    EXPECT_EQ(res.status, op_status::no_memory);
    // Only the fresh ASID's release (§5.2 iotlb_tag_free): no CD / STE / ATC work.
    EXPECT_EQ(r.since(m), (strings{"NH_ASID asid=2 vmid=0", "SYNC"}));
    EXPECT_EQ(r.ste(3), ste_before);
    EXPECT_EQ(r.cd(3, 0), cd_before);
    EXPECT_EQ(r.invs(a), a_before);
    EXPECT_EQ(r.invs(b), b_before);
    EXPECT_EQ((*a_before)[0].users.load(), 1);
    EXPECT_EQ(r.drv.tags().asids_in_use(), asids);
    EXPECT_FALSE(r.drv.tags().asid_in_use(2));
    master* dev = r.drv.find_master(3);
    EXPECT_EQ(dev->rid_domain(), r.drv.find_domain(a));
    EXPECT_TRUE(dev->ats_enabled());
    EXPECT_TRUE(r.drv.find_domain(b)->attachments().empty());
    EXPECT_EQ(r.drv.find_domain(a)->attachments().size(), 1u);

    ASSERT_TRUE(r.drv.attach(b, 3).ok()) << "and the retry works";
    EXPECT_EQ(r.cd(3, 0).asid, 2u);
}

TEST(prepare_failure, cd_table_allocation_failure_leaves_everything_unchanged) {
    rig r;
    r.add_master({3}, false, 4);
    const domain_id d = r.domain(domain_kind::paging_s1);
    r.hw.fail_allocations_after(0);
    const op_result res = r.drv.attach(d, 3);
    EXPECT_EQ(res.status, op_status::no_memory);
    EXPECT_EQ(res.total_commands(), 0u);
    EXPECT_EQ(r.drv.tags().asids_in_use(), 0u);
    EXPECT_EQ(r.ste(3).config, arch::ste_config::abort);
    EXPECT_EQ(r.drv.find_master(3)->cds(), nullptr);
}

// ---- ATS --------------------------------------------------------------------------------------

TEST(ats, detach_invalidates_exactly_the_masters_stream_ids) {
    rig r;
    r.add_master({5, 3}, true);
    r.add_master({7}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    ASSERT_TRUE(r.drv.attach(d, 7).ok());
    std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.detach(5).ok());
    strings atc;
    for (const std::string& c : r.since(m))
        if (c.rfind("ATC_INV", 0) == 0)
            atc.push_back(c);
    EXPECT_EQ(atc, (strings{"ATC_INV sid=3 addr=0x0 size=52", "ATC_INV sid=5 addr=0x0 size=52"}));
    EXPECT_FALSE(r.drv.find_master(3)->endpoint_ats());
    r.map(d, 0x10000, 0x1000);
    m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x1000).ok());
    EXPECT_EQ(r.since(m),
              (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1 tg=1 ttl=3 num=0 scale=0", "SYNC",
                       "ATC_INV sid=7 addr=0x10000 size=0", "SYNC"}));
}

// Reference §7.4: enable = EATS + CFGI_STE + SYNC, then the endpoint; disable =
// endpoint off, ATC_INV + SYNC, then EATS = 0 (+ CFGI_STE + SYNC).
TEST(ats, enable_and_disable_ordering) {
    struct endpoint_event {
        bool on;
        std::size_t consumed;
        arch::ste_eats eats;
    };
    std::vector<endpoint_event> endpoint;
    rig r;
    rig* rp = &r;
    r.add_master({3}, true, 0, [&endpoint, rp](bool on) {
        endpoint.push_back({on, rp->mark(), rp->ste(3).eats});
    });
    r.drv.find_master(3); // present
    ASSERT_TRUE(r.drv.disable_ats(3).ok()) << "detached: policy only";
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.ste(3).eats, arch::ste_eats::abort);
    EXPECT_TRUE(endpoint.empty());

    const std::uint64_t ste_pa = *r.drv.device()->strtab().ste_address(3);
    std::vector<std::size_t> ste_word1_writes; // commands consumed at each STE word-1 write
    r.hw.on_mem_write = [&](std::uint64_t pa, std::size_t) {
        if (pa == ste_pa + 8)
            ste_word1_writes.push_back(r.mark());
    };

    std::size_t m = r.mark();
    const op_result en = r.drv.enable_ats(3);
    ASSERT_TRUE(en.ok());
    EXPECT_EQ(r.since(m),
              (strings{"CFGI_STE sid=3 leaf=1", "SYNC", "ATC_INV sid=3 addr=0x0 size=52", "SYNC"}));
    ASSERT_EQ(ste_word1_writes.size(), 1u);
    EXPECT_EQ(ste_word1_writes[0], m) << "EATS written before any command of the operation";
    ASSERT_EQ(endpoint.size(), 1u);
    EXPECT_TRUE(endpoint[0].on);
    EXPECT_EQ(endpoint[0].eats, arch::ste_eats::full);
    EXPECT_EQ(endpoint[0].consumed, m + 4) << "after CFGI_STE + SYNC (and the ATC flush)";
    EXPECT_EQ(r.invs(d)->num_invs(), 2u);

    ste_word1_writes.clear();
    m = r.mark();
    const op_result dis = r.drv.disable_ats(3);
    ASSERT_TRUE(dis.ok());
    EXPECT_EQ(r.since(m),
              (strings{"ATC_INV sid=3 addr=0x0 size=52", "SYNC", "CFGI_STE sid=3 leaf=1", "SYNC"}));
    ASSERT_EQ(endpoint.size(), 2u);
    EXPECT_FALSE(endpoint[1].on);
    EXPECT_EQ(endpoint[1].consumed, m) << "the endpoint stops before the ATC flush";
    EXPECT_EQ(endpoint[1].eats, arch::ste_eats::full);
    ASSERT_EQ(ste_word1_writes.size(), 1u);
    EXPECT_EQ(ste_word1_writes[0], m + 2) << "EATS = 0 only after ATC_INV + SYNC";
    EXPECT_EQ(r.ste(3).eats, arch::ste_eats::abort);
    EXPECT_EQ(r.invs(d)->count_live(), 1u);
    r.hw.on_mem_write = nullptr;

    m = r.mark();
    EXPECT_TRUE(r.drv.disable_ats(3).ok());
    EXPECT_EQ(r.since(m), strings{}) << "no change, no work";
}

TEST(ats, no_ats_on_an_smmu_without_it) {
    arch::feature_set f = features();
    f.ats = false;
    rig r(f);
    r.add_master({3}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    EXPECT_EQ(r.ste(3).eats, arch::ste_eats::abort);
    EXPECT_FALSE(r.invs(d)->has_ats());
    EXPECT_TRUE(r.drv.enable_ats(3).ok());
    EXPECT_FALSE(r.drv.find_master(3)->ats_enabled());
}

// ---- results ----------------------------------------------------------------------------------

TEST(op_results, latency_is_the_cpu_visible_time) {
    driver_options o;
    o.device.completion = sync_method::poll_cons;
    rig r(features(), o);
    r.add_master({3}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    r.map(d, 0x10000, 0x1000);
    r.hw.set_consume_on_prod_write(false); // the SMMU consumes one command per poll
    r.hw.set_consume_per_step(1);
    r.hw.set_poll_pause_ns(250);
    const std::uint64_t t0 = r.hw.now_ns();
    const op_result u = r.drv.unmap(d, 0x10000, 0x1000);
    const std::uint64_t t1 = r.hw.now_ns();
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u.latency_ns, t1 - t0);
    EXPECT_GT(u.latency_ns, 0u);
    EXPECT_EQ(u.latency_ns % 250, 0u);
    EXPECT_EQ(u.total_commands(), 4u);
    const op_result mp = r.drv.map(d, 0x20000, 0x80000000, 0x1000, rw_prot());
    EXPECT_EQ(mp.latency_ns, 0u) << "no waiting in map";
}

TEST(op_results, page_table_errors_pass_through) {
    rig r;
    const domain_id d = r.domain(domain_kind::paging_s1);
    EXPECT_EQ(r.drv.map(d, 0x10800, 0x80000000, 0x1000, rw_prot()).status, op_status::misaligned);
    EXPECT_EQ(r.drv.map(d, 0x10000, 0x80000000, 0x1000, iommu_prot{}).status, op_status::no_access);
    const op_result u = r.drv.unmap(d, 0x10000, 0x1000);
    EXPECT_EQ(u.status, op_status::not_mapped);
    EXPECT_EQ(u.bytes, 0u);
}

// ---- concurrency ------------------------------------------------------------------------------

TEST(concurrency, unmaps_run_while_other_masters_attach_and_detach) {
    rig r;
    r.add_master({1}, true);
    r.add_master({2}, true);
    r.add_master({3}, true);
    const domain_id a = r.domain(domain_kind::paging_s1);
    const domain_id b = r.domain(domain_kind::paging_s2);
    ASSERT_TRUE(r.drv.attach(a, 1).ok());
    ASSERT_TRUE(r.drv.attach(b, 2).ok());
    std::atomic<int> failures{0};
    const auto worker = [&](domain_id d, std::uint64_t base) {
        for (int i = 0; i < 50; ++i) {
            if (!r.drv.map(d, base, 0x80000000, 0x2000, rw_prot()).ok())
                ++failures;
            if (!r.drv.unmap(d, base, 0x2000).ok())
                ++failures;
        }
    };
    std::thread t1(worker, a, 0x100000);
    std::thread t2(worker, b, 0x200000);
    for (int i = 0; i < 20; ++i) {
        if (!r.drv.attach(i % 2 == 0 ? a : b, 3).ok())
            ++failures;
        if (!r.drv.detach(3).ok())
            ++failures;
    }
    t1.join();
    t2.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ((*r.invs(a))[0].users.load(), 1);
    EXPECT_EQ((*r.invs(b))[0].users.load(), 1);
    EXPECT_EQ(r.drv.attach_paths()->stats().warnings, 0u);
}

// ---- fault injection (the invalidation-protocol checker's broken drivers) ----------------------

driver_options with_faults(fault_injection f) {
    driver_options o;
    o.faults = f;
    return o;
}

TEST(fault_injection, skip_unmap_invalidation_clears_ptes_but_sends_nothing) {
    fault_injection f;
    f.skip_unmap_invalidation = true;
    rig r(features(), with_faults(f));
    r.add_master({3}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    r.map(d, 0x10000, 0x2000);
    const std::size_t m = r.mark();
    const op_result u = r.drv.unmap(d, 0x10000, 0x2000);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u.bytes, 0x2000u);
    EXPECT_TRUE(r.since(m).empty());
    EXPECT_EQ(u.total_commands(), 0u);
}

TEST(fault_injection, atc_inv_before_sync_merges_the_two_sync_groups) {
    fault_injection f;
    f.atc_inv_before_sync = true;
    rig r(features(), with_faults(f));
    r.add_master({3}, true);
    const domain_id d = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    r.map(d, 0x10000, 0x2000);
    const std::size_t m = r.mark();
    ASSERT_TRUE(r.drv.unmap(d, 0x10000, 0x2000).ok());
    EXPECT_EQ(r.since(m),
              (strings{"NH_VA asid=1 vmid=0 addr=0x10000 leaf=1 tg=1 ttl=3 num=0 scale=1",
                       "ATC_INV sid=3 addr=0x10000 size=1", "SYNC"}));
}

TEST(fault_injection, skip_tag_flush_frees_the_asid_without_a_tlbi) {
    fault_injection f;
    f.skip_tag_flush = true;
    rig r(features(), with_faults(f));
    r.add_master({3}, false);
    const domain_id a = r.domain(domain_kind::paging_s1);
    ASSERT_TRUE(r.drv.attach(a, 3).ok());
    const op_result d = r.drv.detach(3);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d.count(opcode::tlbi_nh_asid), 0u);
    EXPECT_FALSE(r.drv.tags().asid_in_use(1)) << "released all the same";
}

TEST(fault_injection, none_by_default) {
    EXPECT_FALSE(driver_options{}.faults.any());
    fault_injection f;
    f.skip_tag_flush = true;
    EXPECT_TRUE(f.any());
}

TEST(smmu_driver, a_domain_may_have_its_own_granule) {
    arch::feature_set f = features();
    f.gran16k = false;
    rig r(f);
    const op_result big = r.drv.create_domain(domain_kind::paging_s1, arch::granule::size_64k);
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(r.drv.find_domain(big.id)->config().granule, arch::granule::size_64k);
    const op_result dflt = r.drv.create_domain(domain_kind::paging_s1);
    ASSERT_TRUE(dflt.ok());
    EXPECT_EQ(r.drv.find_domain(dflt.id)->config().granule, arch::granule::size_4k);
    EXPECT_EQ(r.drv.create_domain(domain_kind::paging_s2, arch::granule::size_16k).status,
              op_status::unsupported);
}

TEST(smmu_driver, the_batch_size_sets_how_often_a_long_invalidation_is_published) {
    for (const std::size_t batch : {std::size_t{64}, std::size_t{8}}) {
        driver_options o;
        o.device.batch_entries = batch;
        rig r(features(false), o);
        r.add_master({3}, false);
        const domain_id d = r.domain(domain_kind::paging_s1);
        ASSERT_TRUE(r.drv.attach(d, 3).ok());
        r.map(d, 0x100000, 32 * 4096);
        const std::uint64_t before = r.drv.device()->command_queue().stats().prod_writes;
        const op_result u = r.drv.unmap(d, 0x100000, 32 * 4096);
        ASSERT_TRUE(u.ok());
        EXPECT_EQ(u.count(opcode::tlbi_nh_va), 32u);
        EXPECT_EQ(u.count(opcode::sync), 1u);
        const std::uint64_t publications =
            r.drv.device()->command_queue().stats().prod_writes - before;
        EXPECT_EQ(publications, batch == 64 ? 1u : 4u) << "batch " << batch;
    }
}

TEST(tags, domain_tag_is_the_live_asid_entry_while_attached) {
    rig r;
    r.add_master({3}, false);
    const domain_id d = r.domain(domain_kind::paging_s1);
    EXPECT_FALSE(r.drv.domain_tag(d).has_value()) << "nothing attached";
    ASSERT_TRUE(r.drv.attach(d, 3).ok());
    const std::optional<inv> tag = r.drv.domain_tag(d);
    ASSERT_TRUE(tag.has_value());
    EXPECT_EQ(tag->type, inv_type::s1_asid);
    EXPECT_EQ(tag->id, 1u);
    ASSERT_TRUE(r.drv.detach(3).ok());
    EXPECT_FALSE(r.drv.domain_tag(d).has_value());
    EXPECT_FALSE(r.drv.domain_tag(99).has_value());
}

} // namespace
} // namespace smmu::driver
