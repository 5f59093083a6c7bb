// The driver end to end on simulated CPUs against the SMMU model: bring-up,
// S1 and S2 domains, DMA through a TBU before and after unmap (the fault and
// the driver's event consumer), the tag flushed out of the IOTLB and freed at
// the last detach, the unmap's command stream (linux-invs.md §4.8), and two
// CPUs serialising on the command queue.
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/support/driver_platform.h"

namespace smmu::test {
namespace {

using arch::opcode;
using driver::domain_id;
using driver::domain_kind;
using driver::op_result;
using driver::op_status;

constexpr std::uint64_t page = 4096;

driver_platform_config no_ril() {
    driver_platform_config c;
    c.params.features.ril = false;
    return c;
}

/// A domain of `kind` with the master `sid` attached (from the scenario thread).
domain_id attached_domain(driver_platform& p, domain_kind kind, arch::stream_id sid) {
    const op_result d = p.on_cpu(0, [&] { return p.drv().create_domain(kind); });
    EXPECT_EQ(d.status, op_status::ok);
    driver::master_config m;
    m.sids = {sid};
    EXPECT_EQ(p.on_cpu(0, [&] { return p.drv().add_master(m); }).status, op_status::ok);
    EXPECT_EQ(p.on_cpu(0, [&] { return p.drv().attach(d.id, sid); }).status, op_status::ok);
    return d.id;
}

TEST(driver_e2e, brings_up_the_smmu_from_a_simulated_cpu) {
    driver_platform p;
    op_result up;
    ASSERT_TRUE(p.run([&] { up = p.on_cpu(0, [&] { return p.drv().bring_up(); }); }));
    EXPECT_EQ(up.status, op_status::ok);
    EXPECT_TRUE(p.drv().ready());
    EXPECT_NE(p.drv().device()->cr0() & arch::cr0::smmuen.mask(), 0u);
    EXPECT_EQ(p.drv().device()->info().completion, driver::sync_method::msi);
    // The §1.6 invalidations, as issued and as executed by the SMMU.
    EXPECT_EQ(up.count(opcode::cfgi_ste_range), 1u);
    EXPECT_EQ(up.count(opcode::tlbi_el2_all), 1u);
    EXPECT_EQ(up.count(opcode::tlbi_nsnh_all), 1u);
    EXPECT_EQ(up.count(opcode::sync), 1u);
    EXPECT_EQ(executed(p.smmu(), opcode::cfgi_ste_range), 1u);
    EXPECT_EQ(executed(p.smmu(), opcode::tlbi_nsnh_all), 1u);
    EXPECT_EQ(p.smmu().stats().syncs, 1u);
    EXPECT_EQ(p.smmu().stats().command_errors, 0u);
    EXPECT_GT(up.latency_ns, 0u);
    EXPECT_GT(p.cpu(0).stats().mmio_writes, 10u);
    EXPECT_EQ(p.cpu(1).stats().jobs, 0u);
    EXPECT_EQ(p.bus().unrouted_accesses(), 0u);
}

TEST(driver_e2e, stage1_map_dma_unmap_fault_and_last_detach_frees_the_asid) {
    driver_platform p;
    const std::uint64_t buf = p.data_base();
    p.mem().write32(buf + 0x10, 0xcafef00du);
    p.mem().write32(buf + page + 0x20, 0x600dd00du);
    std::uint32_t got0 = 0, got1 = 0, after = 0;
    dma_result before_unmap{}, second_page{}, after_unmap{};
    op_result unmap, detach;
    std::vector<arch::event_record> events;
    std::optional<driver::inv> tag;
    bool held_before_detach = false, held_after_detach = true;
    ASSERT_TRUE(p.run([&] {
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().bring_up(); }).ok());
        const domain_id d = attached_domain(p, domain_kind::paging_s1, 3);
        tag = p.tag_of(d);
        ASSERT_TRUE(
            p.on_cpu(1, [&] { return p.drv().map(d, 0x40000, buf, 2 * page, dma_rw()); }).ok());
        before_unmap = p.device(0).read(0x40010, &got0, 4, sid_attrs(3));
        second_page = p.device(0).read(0x41020, &got1, 4, sid_attrs(3));
        unmap = p.on_cpu(1, [&] { return p.drv().unmap(d, 0x40000, page); });
        after_unmap = p.device(0).read(0x40010, &after, 4, sid_attrs(3));
        events = p.process_events(0);
        held_before_detach =
            p.smmu().engine().tlb_holds_asid(std::nullopt, static_cast<arch::asid_t>(tag->id));
        detach = p.on_cpu(0, [&] { return p.drv().detach(3); });
        held_after_detach =
            p.smmu().engine().tlb_holds_asid(std::nullopt, static_cast<arch::asid_t>(tag->id));
    }));
    ASSERT_TRUE(tag.has_value());
    EXPECT_EQ(tag->type, driver::inv_type::s1_asid);
    EXPECT_EQ(tag->id, 1u) << "ASIDs are allocated from 1";

    ASSERT_TRUE(before_unmap.ok());
    EXPECT_EQ(got0, 0xcafef00du);
    ASSERT_TRUE(second_page.ok());
    EXPECT_EQ(got1, 0x600dd00du);

    ASSERT_TRUE(unmap.ok());
    EXPECT_EQ(unmap.bytes, page);
    EXPECT_EQ(after_unmap.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, arch::event_id::f_translation);
    EXPECT_EQ(events[0].sid, 3u);
    EXPECT_EQ(events[0].input_addr, 0x40010u);
    EXPECT_TRUE(events[0].rnw);
    EXPECT_EQ(p.drv().device()->stats().events, 1u);

    EXPECT_TRUE(held_before_detach) << "the second page's IOTLB entry";
    ASSERT_TRUE(detach.ok());
    EXPECT_EQ(detach.count(opcode::tlbi_nh_asid), 1u);
    EXPECT_FALSE(held_after_detach);
    EXPECT_FALSE(p.drv().tags().asid_in_use(1));
    EXPECT_EQ(p.drv().tags().asids_in_use(), 0u);
}

TEST(driver_e2e, stage2_map_dma_unmap_fault_and_last_detach_frees_the_vmid) {
    driver_platform p;
    const std::uint64_t buf = p.data_base() + 0x10'0000;
    p.mem().write32(buf + 0x800, 0x5eed5eedu);
    p.mem().write32(buf + page + 0x8, 0x12345678u);
    std::uint32_t got0 = 0, got1 = 0, after = 0;
    dma_result before_unmap{}, second_page{}, after_unmap{};
    op_result unmap, detach;
    std::vector<arch::event_record> events;
    std::optional<driver::inv> tag;
    bool held_before_detach = false, held_after_detach = true;
    ASSERT_TRUE(p.run([&] {
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().bring_up(); }).ok());
        const domain_id d = attached_domain(p, domain_kind::paging_s2, 9);
        tag = p.tag_of(d);
        ASSERT_TRUE(
            p.on_cpu(0, [&] { return p.drv().map(d, 0x7000'0000, buf, 2 * page, dma_rw()); }).ok());
        before_unmap = p.device(1).read(0x7000'0800, &got0, 4, sid_attrs(9));
        second_page = p.device(1).read(0x7000'1008, &got1, 4, sid_attrs(9));
        unmap = p.on_cpu(1, [&] { return p.drv().unmap(d, 0x7000'0000, page); });
        after_unmap = p.device(1).read(0x7000'0800, &after, 4, sid_attrs(9));
        events = p.process_events(1);
        held_before_detach = p.smmu().engine().tlb_holds_vmid(static_cast<arch::vmid_t>(tag->id));
        detach = p.on_cpu(0, [&] { return p.drv().detach(9); });
        held_after_detach = p.smmu().engine().tlb_holds_vmid(static_cast<arch::vmid_t>(tag->id));
    }));
    ASSERT_TRUE(tag.has_value());
    EXPECT_EQ(tag->type, driver::inv_type::s2_vmid);
    EXPECT_EQ(tag->id, 1u) << "VMIDs are allocated from 1";

    ASSERT_TRUE(before_unmap.ok());
    EXPECT_EQ(got0, 0x5eed5eedu);
    ASSERT_TRUE(second_page.ok());
    EXPECT_EQ(got1, 0x12345678u);

    ASSERT_TRUE(unmap.ok());
    EXPECT_EQ(unmap.count(opcode::tlbi_s2_ipa), 1u);
    EXPECT_EQ(unmap.count(opcode::sync), 1u);
    EXPECT_EQ(unmap.total_commands(), 2u);
    EXPECT_EQ(after_unmap.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, arch::event_id::f_translation);
    EXPECT_EQ(events[0].sid, 9u);
    EXPECT_EQ(events[0].input_addr, 0x7000'0800u);
    EXPECT_TRUE(events[0].s2) << "a stage-2 fault";

    EXPECT_TRUE(held_before_detach);
    ASSERT_TRUE(detach.ok());
    EXPECT_EQ(detach.count(opcode::tlbi_s12_vmall), 1u);
    EXPECT_FALSE(held_after_detach);
    EXPECT_FALSE(p.drv().tags().vmid_in_use(p.drv().instance()->ref(), tag->id));
}

TEST(driver_e2e, unmap_command_streams_follow_linux_invs_4_8) {
    driver_platform p(no_ril());
    const std::uint64_t buf = p.data_base();
    op_result s1_4k, s1_8k, s1_2m_pages, s1_2m_block, s2_8k;
    ASSERT_TRUE(p.run([&] {
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().bring_up(); }).ok());
        const domain_id s1 = attached_domain(p, domain_kind::paging_s1, 3);
        const domain_id s2 = attached_domain(p, domain_kind::paging_s2, 4);
        auto map = [&](domain_id d, std::uint64_t iova, std::uint64_t size) {
            EXPECT_TRUE(
                p.on_cpu(0, [&] { return p.drv().map(d, iova, buf, size, dma_rw()); }).ok());
        };
        auto unmap = [&](domain_id d, std::uint64_t iova, std::uint64_t size) {
            return p.on_cpu(1, [&] { return p.drv().unmap(d, iova, size); });
        };
        map(s1, 0x10000, page);
        map(s1, 0x20000, 2 * page);
        map(s1, 0x40'0000, 2ull << 20); // a 2 MiB block
        EXPECT_TRUE(p.on_cpu(0, [&] {
                         return p.drv().map(s1, 0x80'1000, buf + page, 2ull << 20, dma_rw());
                     }).ok()); // 512 pages
        map(s2, 0x10000, 2 * page);
        s1_4k = unmap(s1, 0x10000, page);
        s1_8k = unmap(s1, 0x20000, 2 * page);
        s1_2m_block = unmap(s1, 0x40'0000, 2ull << 20);
        s1_2m_pages = unmap(s1, 0x80'1000, 2ull << 20);
        s2_8k = unmap(s2, 0x10000, 2 * page);
    }));
    // 4 KiB S1 leaf, no ATS: one TLBI_NH_VA and the segment's CMD_SYNC.
    EXPECT_EQ(s1_4k.commands,
              (std::map<opcode, std::uint64_t>{{opcode::tlbi_nh_va, 1}, {opcode::sync, 1}}));
    // Without RIL one command per granule.
    EXPECT_EQ(s1_8k.commands,
              (std::map<opcode, std::uint64_t>{{opcode::tlbi_nh_va, 2}, {opcode::sync, 1}}));
    // A block is one leaf: one TLBI at its own granule (2 MiB, far below §4.5's threshold).
    EXPECT_EQ(s1_2m_block.commands,
              (std::map<opcode, std::uint64_t>{{opcode::tlbi_nh_va, 1}, {opcode::sync, 1}}));
    // 512 pages of 4 KiB reach the full-flush threshold (§4.5): the ASID flush instead.
    EXPECT_EQ(s1_2m_pages.commands,
              (std::map<opcode, std::uint64_t>{{opcode::tlbi_nh_asid, 1}, {opcode::sync, 1}}));
    EXPECT_EQ(s2_8k.commands,
              (std::map<opcode, std::uint64_t>{{opcode::tlbi_s2_ipa, 2}, {opcode::sync, 1}}));
    EXPECT_EQ(p.smmu().stats().command_errors, 0u);
}

TEST(driver_e2e, with_ril_a_multi_page_unmap_is_one_ranged_tlbi) {
    driver_platform p;
    const std::uint64_t buf = p.data_base();
    op_result r;
    ASSERT_TRUE(p.run([&] {
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().bring_up(); }).ok());
        const domain_id s1 = attached_domain(p, domain_kind::paging_s1, 3);
        ASSERT_TRUE(
            p.on_cpu(0, [&] { return p.drv().map(s1, 0x100000, buf, 16 * page, dma_rw()); }).ok());
        r = p.on_cpu(0, [&] { return p.drv().unmap(s1, 0x100000, 16 * page); });
    }));
    // 16 pages: SCALE = 4, NUM = 1 (§4.6): a single command.
    EXPECT_EQ(r.commands,
              (std::map<opcode, std::uint64_t>{{opcode::tlbi_nh_va, 1}, {opcode::sync, 1}}));
}

TEST(driver_e2e, two_cpus_unmapping_at_once_serialise_on_the_command_queue) {
    constexpr std::uint64_t pages = 32;
    driver_platform p(no_ril());
    const std::uint64_t buf = p.data_base();
    op_result solo, first, second;
    driver::host::job_result job0{}, job1{};
    std::uint64_t contended_before = 0;
    ASSERT_TRUE(p.run([&] {
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().bring_up(); }).ok());
        const domain_id a = attached_domain(p, domain_kind::paging_s1, 3);
        const domain_id b = attached_domain(p, domain_kind::paging_s1, 4);
        auto map = [&](domain_id d) {
            EXPECT_TRUE(p.on_cpu(0, [&] {
                             return p.drv().map(d, 0x100000, buf, pages * page, dma_rw());
                         }).ok());
        };
        map(a);
        solo = p.on_cpu(0, [&] { return p.drv().unmap(a, 0x100000, pages * page); });
        map(a);
        map(b);
        contended_before = p.cmdq_lock().stats().contended;
        auto h0 = p.submit(0, [&] { first = p.drv().unmap(a, 0x100000, pages * page); });
        auto h1 = p.submit(1, [&] { second = p.drv().unmap(b, 0x100000, pages * page); });
        job0 = h0.wait();
        job1 = h1.wait();
    }));
    ASSERT_TRUE(solo.ok());
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(p.cmdq_lock().stats().contended - contended_before, 1u)
        << "the second CPU waited for the queue lock";
    EXPECT_EQ(job0.start, job1.start) << "both unmaps started together";
    // Whichever CPU took the queue lock first finishes first, in its solo time;
    // the other's CMD_SYNC sits behind the first's 32 TLBIs in the queue, so at
    // least the SMMU's 40-cycle base cost of each of them adds to its own time.
    const bool cpu0_first = job0.end < job1.end;
    const op_result& winner = cpu0_first ? first : second;
    const op_result& loser = cpu0_first ? second : first;
    EXPECT_NE(job0.end, job1.end) << "CMD_SYNC completions are ordered";
    EXPECT_NEAR(static_cast<double>(winner.latency_ns), static_cast<double>(solo.latency_ns),
                0.05 * static_cast<double>(solo.latency_ns));
    EXPECT_GE(loser.latency_ns, solo.latency_ns + pages * 40);
    const sc_core::sc_time gap = cpu0_first ? job1.end - job0.end : job0.end - job1.end;
    EXPECT_NEAR(gap.to_seconds() * 1e9, static_cast<double>(loser.latency_ns - winner.latency_ns),
                1.0)
        << "the loser's extra latency is the gap between the completions";
}

} // namespace
} // namespace smmu::test
