// A virtual machine's device end to end: the host driver's vSMMU over a
// nesting-parent stage 2 (guest RAM), a guest driver whose stage-1 tables and
// CD live in guest memory (IPA), DMA translated S1-over-S2 by the SMMU model,
// the guest's invalidations forwarded with the vSMMU's VMID, the host's
// stage-2 unmap clearing the guest's entries, and the refusals of bad guest
// input.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/guest.h"
#include "driver/host/guest_memory.h"
#include "tests/integration/support/driver_platform.h"

namespace smmu::test {
namespace {

using arch::opcode;
using driver::domain_id;
using driver::domain_kind;
using driver::op_result;
using driver::op_status;

constexpr std::uint64_t page = 4096;
constexpr std::uint32_t host_sid = 5;
constexpr std::uint32_t vsid = 1;
constexpr std::uint64_t ipa_base = 0x4000'0000;
constexpr std::uint64_t guest_ram = 4ull << 20;
constexpr std::uint64_t guest_buffer_ipa = ipa_base + (2ull << 20);
constexpr std::uint64_t iova = 0x1234'0000;

/// A VM with one device: host side (nesting parent mapping guest RAM, a vSMMU,
/// the vdevice) and guest side (guest memory, guest driver, the device).
struct vm {
    explicit vm(driver_platform& platform)
        : p(platform)
        , window{ipa_base, p.data_base(), guest_ram} {}

    /// Host and guest set-up; the guest's device is not attached yet.
    void build(bool ats = false) {
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().bring_up(); }).ok());
        const op_result d =
            p.on_cpu(0, [&] { return p.drv().create_domain(domain_kind::nesting_parent); });
        ASSERT_TRUE(d.ok());
        parent = d.id;
        driver::master_config m;
        m.sids = {host_sid};
        m.ats_capable = ats;
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().add_master(m); }).ok());
        ASSERT_TRUE(p.on_cpu(0, [&] {
                         return p.drv().map(parent, ipa_base, window.pa_base, guest_ram, dma_rw());
                     }).ok());
        const op_result v = p.on_cpu(0, [&] { return p.drv().create_vsmmu(parent); });
        ASSERT_TRUE(v.ok());
        id = v.id;
        ASSERT_TRUE(p.on_cpu(0, [&] { return p.drv().vsmmu_add_device(id, vsid, host_sid); }).ok());
        memory = std::make_unique<driver::host::guest_memory>(p.platform(), window, ipa_base,
                                                              1ull << 20);
        const driver::vsmmu* v_smmu = p.drv().find_vsmmu(id);
        ASSERT_NE(v_smmu, nullptr);
        guest = std::make_unique<driver::guest_driver>(*p.drv().guest_port(id), v_smmu->guest_ref(),
                                                       *memory, p.locks(), p.rw_locks());
        ASSERT_TRUE(p.on_cpu(1, [&] { return guest->add_device(vsid, ats); }).ok());
    }

    /// A guest domain attached to the device with `pages` mapped at iova.
    domain_id attached_guest_domain(std::uint64_t pages = 2) {
        const op_result d = p.on_cpu(1, [&] { return guest->create_domain(); });
        EXPECT_TRUE(d.ok());
        EXPECT_TRUE(p.on_cpu(1, [&] { return guest->attach(d.id, vsid); }).ok());
        EXPECT_TRUE(p.on_cpu(1, [&] {
                         return guest->map(d.id, iova, guest_buffer_ipa, pages * page, dma_rw());
                     }).ok());
        return d.id;
    }

    std::uint64_t pa_of(std::uint64_t ipa) const { return *memory->to_pa(ipa); }
    std::uint32_t vmid() const { return p.drv().find_vsmmu(id)->vmid(); }
    std::optional<arch::ste> ste() { return p.drv().instance()->strtab().read_ste(host_sid); }

    driver_platform& p;
    driver::host::guest_window window;
    domain_id parent = 0;
    driver::vsmmu_id id = 0;
    std::unique_ptr<driver::host::guest_memory> memory;
    std::unique_ptr<driver::guest_driver> guest;
};

TEST(nested_e2e, guest_stage1_over_host_stage2_translates_dma) {
    driver_platform p;
    vm v(p);
    std::uint32_t got = 0;
    dma_result r{};
    std::optional<arch::ste> ste;
    ASSERT_TRUE(p.run([&] {
        v.build();
        v.attached_guest_domain();
        p.mem().write32(v.pa_of(guest_buffer_ipa) + 0x24, 0xfeedc0deu);
        r = p.device(0).read(iova + 0x24, &got, 4, sid_attrs(host_sid));
        ste = v.ste();
    }));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(got, 0xfeedc0deu);
    ASSERT_TRUE(ste.has_value());
    EXPECT_EQ(ste->config, arch::ste_config::nested);
    EXPECT_EQ(ste->s2_vmid, v.vmid());
    EXPECT_NE(v.vmid(), 0u);
    // S1ContextPtr is the guest's CD, an IPA inside guest RAM (the first MiB).
    EXPECT_GE(ste->s1_context_ptr, ipa_base);
    EXPECT_LT(ste->s1_context_ptr, ipa_base + (1ull << 20));
    EXPECT_EQ(v.memory->stray_accesses(), 0u);
    EXPECT_EQ(p.smmu().stats().command_errors, 0u);
}

TEST(nested_e2e, guest_unmap_forwards_tlbis_with_the_vsmmu_vmid_and_the_dma_faults) {
    driver_platform p;
    vm v(p);
    std::uint32_t got = 0, second = 0;
    dma_result warm{}, after{}, other{};
    op_result unmap;
    std::uint64_t nh_va_before = 0, syncs_before = 0;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(p.run([&] {
        v.build();
        const domain_id d = v.attached_guest_domain();
        p.mem().write32(v.pa_of(guest_buffer_ipa + page) + 8, 0x22222222u);
        warm = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        nh_va_before = executed(p.smmu(), opcode::tlbi_nh_va);
        syncs_before = p.smmu().stats().syncs;
        unmap = p.on_cpu(1, [&] { return v.guest->unmap(d, iova, page); });
        after = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        other = p.device(0).read(iova + page + 8, &second, 4, sid_attrs(host_sid));
        events = p.process_events(0);
    }));
    ASSERT_TRUE(warm.ok());
    ASSERT_TRUE(unmap.ok());
    EXPECT_EQ(executed(p.smmu(), opcode::tlbi_nh_va) - nh_va_before, 1u);
    EXPECT_EQ(p.smmu().stats().syncs - syncs_before, 1u) << "one forward, one host CMD_SYNC";
    EXPECT_EQ(after.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_TRUE(other.ok()) << "the other page stays mapped";
    EXPECT_EQ(second, 0x22222222u);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, arch::event_id::f_translation);
    EXPECT_EQ(events[0].sid, host_sid);
    EXPECT_FALSE(events[0].s2) << "a stage-1 (guest) fault";
}

TEST(nested_e2e, host_stage2_unmap_also_clears_the_guest_entries_of_the_vmid) {
    driver_platform p;
    vm v(p);
    std::uint32_t got = 0;
    dma_result warm{}, after{};
    op_result unmap;
    bool held_before = false;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(p.run([&] {
        v.build();
        v.attached_guest_domain();
        warm = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        held_before = p.smmu().engine().tlb_holds_vmid(static_cast<arch::vmid_t>(v.vmid()));
        unmap = p.on_cpu(0, [&] { return p.drv().unmap(v.parent, guest_buffer_ipa, page); });
        after = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        events = p.process_events(0);
    }));
    ASSERT_TRUE(warm.ok());
    EXPECT_TRUE(held_before);
    ASSERT_TRUE(unmap.ok());
    // The vSMMU's VMID is in the parent's array: S2_VMID_VSMMU + S2_VMID_S1_CLEAR.
    EXPECT_GE(unmap.count(opcode::tlbi_s2_ipa), 1u);
    EXPECT_EQ(unmap.count(opcode::tlbi_nh_all), 1u);
    EXPECT_EQ(after.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_FALSE(events.empty());
    EXPECT_TRUE(events[0].s2) << "a stage-2 fault on the guest's output address";
}

TEST(nested_e2e, guest_domain_switch_and_detach_flush_the_guest_asid) {
    driver_platform p;
    vm v(p);
    std::uint32_t got = 0;
    dma_result before{}, after_switch{}, after_detach{};
    op_result sw, detach, destroy_busy, destroy;
    std::optional<std::uint32_t> first_asid;
    std::optional<arch::ste> blocked;
    bool vmid_freed = false;
    ASSERT_TRUE(p.run([&] {
        v.build();
        const domain_id d1 = v.attached_guest_domain();
        first_asid = v.guest->domain_asid(d1);
        p.mem().write32(v.pa_of(guest_buffer_ipa), 0x1u);
        p.mem().write32(v.pa_of(guest_buffer_ipa + page), 0x2u);
        before = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        // A second domain maps the same IOVA to the next page of guest RAM.
        const op_result d2 = p.on_cpu(1, [&] { return v.guest->create_domain(); });
        EXPECT_TRUE(p.on_cpu(1, [&] {
                         return v.guest->map(d2.id, iova, guest_buffer_ipa + page, page, dma_rw());
                     }).ok());
        sw = p.on_cpu(1, [&] { return v.guest->attach(d2.id, vsid); });
        after_switch = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        destroy_busy = p.on_cpu(0, [&] { return p.drv().destroy_vsmmu(v.id); });
        detach = p.on_cpu(1, [&] { return v.guest->detach(vsid); });
        after_detach = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        blocked = v.ste();
        const std::uint32_t vmid = v.vmid();
        destroy = p.on_cpu(0, [&] { return p.drv().destroy_vsmmu(v.id); });
        vmid_freed = !p.drv().tags().vmid_in_use(p.drv().instance()->ref(), vmid);
    }));
    ASSERT_TRUE(before.ok());
    ASSERT_TRUE(first_asid.has_value());
    ASSERT_TRUE(sw.ok());
    ASSERT_TRUE(after_switch.ok());
    EXPECT_EQ(got, 0x2u) << "the new CD's tables, not a stale IOTLB entry";
    EXPECT_FALSE(v.guest->tags().asid_in_use(*first_asid)) << "flushed and freed";
    EXPECT_GE(executed(p.smmu(), opcode::tlbi_nh_asid), 1u);
    EXPECT_EQ(destroy_busy.status, op_status::busy);
    ASSERT_TRUE(detach.ok());
    EXPECT_EQ(after_detach.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ASSERT_TRUE(blocked.has_value());
    EXPECT_EQ(blocked->config, arch::ste_config::abort);
    ASSERT_TRUE(destroy.ok());
    EXPECT_EQ(destroy.count(opcode::tlbi_s12_vmall), 1u);
    EXPECT_TRUE(vmid_freed);
}

TEST(nested_e2e, bad_guest_commands_are_refused_and_the_ones_before_them_issued) {
    driver_platform p;
    vm v(p);
    op_result illegal, unsupported, unknown_vsid, good;
    driver::vsmmu_invalidate_result detail;
    std::uint64_t nh_asid_before = 0;
    ASSERT_TRUE(p.run([&] {
        v.build();
        v.attached_guest_domain();
        nh_asid_before = executed(p.smmu(), opcode::tlbi_nh_asid);
        const arch::command_words asid_flush = arch::encode(arch::make_tlbi_nh_asid(0, 3));
        const std::vector<arch::command_words> bad_opcode{asid_flush, {0xffu, 0}};
        illegal = p.on_cpu(1, [&] {
            return p.drv().vsmmu_invalidate(v.id, bad_opcode.data(), bad_opcode.size(), &detail);
        });
        const std::vector<arch::command_words> s2{
            asid_flush, arch::encode(arch::make_tlbi_s2_ipa(1, 0x1000, true))};
        unsupported = p.on_cpu(1, [&] { return p.drv().vsmmu_invalidate(v.id, s2.data(), 2); });
        const arch::command_words cfgi = arch::encode(arch::make_cfgi_cd(42, 0, true));
        unknown_vsid = p.on_cpu(1, [&] { return p.drv().vsmmu_invalidate(v.id, &cfgi, 1); });
        const arch::command_words known = arch::encode(arch::make_cfgi_cd(vsid, 0, true));
        good = p.on_cpu(1, [&] { return p.drv().vsmmu_invalidate(v.id, &known, 1); });
    }));
    EXPECT_EQ(illegal.status, op_status::bad_input);
    EXPECT_EQ(illegal.id, 1u) << "the index of the refused command";
    EXPECT_EQ(detail.error, driver::vsmmu_error::illegal_command);
    EXPECT_EQ(unsupported.status, op_status::bad_input);
    EXPECT_EQ(unsupported.id, 1u);
    EXPECT_EQ(executed(p.smmu(), opcode::tlbi_nh_asid) - nh_asid_before, 2u)
        << "the command before each refusal was issued";
    EXPECT_EQ(unknown_vsid.status, op_status::bad_input);
    EXPECT_EQ(unknown_vsid.id, 0u);
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(good.count(opcode::cfgi_cd), 1u);
    EXPECT_EQ(good.count(opcode::sync), 1u);
    EXPECT_EQ(p.smmu().stats().command_errors, 0u) << "nothing illegal reached the queue";
}

TEST(nested_e2e, forwarded_tlbis_carry_the_vsmmu_vmid_whatever_the_guest_wrote) {
    driver_platform p;
    vm v(p);
    std::uint32_t got = 0;
    dma_result warm{};
    bool held_before = false, held_after = true;
    op_result flush;
    ASSERT_TRUE(p.run([&] {
        v.build();
        const domain_id d = v.attached_guest_domain();
        warm = p.device(0).read(iova, &got, 4, sid_attrs(host_sid));
        // The guest writes VMID 0x77 into a flush of its own ASID; the IOTLB
        // sees the vSMMU's VMID.
        const auto asid = static_cast<arch::asid_t>(*v.guest->domain_asid(d));
        const auto vmid = static_cast<arch::vmid_t>(v.vmid());
        held_before = p.smmu().engine().tlb_holds_asid(vmid, asid);
        const arch::command_words w = arch::encode(arch::make_tlbi_nh_asid(0x77, asid));
        flush = p.on_cpu(1, [&] { return p.drv().vsmmu_invalidate(v.id, &w, 1); });
        held_after = p.smmu().engine().tlb_holds_asid(vmid, asid);
    }));
    ASSERT_TRUE(warm.ok());
    ASSERT_TRUE(flush.ok());
    EXPECT_TRUE(held_before);
    EXPECT_FALSE(held_after);
}

TEST(nested_e2e, host_refuses_bad_guest_stes_and_misuse_of_vsmmus) {
    driver_platform p;
    vm v(p);
    op_result bad_config, bad_cdmax, eats_without_ats, s1_parent, parent_busy, master_busy,
        vdevice_busy, duplicate_vsid, unknown_sid;
    ASSERT_TRUE(p.run([&] {
        v.build();
        arch::ste s2;
        s2.v = true;
        s2.config = arch::ste_config::s2_translate;
        bad_config = p.on_cpu(0, [&] { return p.drv().vsmmu_install_ste(v.id, vsid, s2); });
        arch::ste wide;
        wide.v = true;
        wide.config = arch::ste_config::s1_translate;
        wide.s1_cd_max = 31;
        bad_cdmax = p.on_cpu(0, [&] { return p.drv().vsmmu_install_ste(v.id, vsid, wide); });
        arch::ste ats = wide;
        ats.s1_cd_max = 0;
        ats.eats = arch::ste_eats::full;
        eats_without_ats = p.on_cpu(0, [&] { return p.drv().vsmmu_install_ste(v.id, vsid, ats); });
        const op_result s1 =
            p.on_cpu(0, [&] { return p.drv().create_domain(domain_kind::paging_s1); });
        s1_parent = p.on_cpu(0, [&] { return p.drv().create_vsmmu(s1.id); });
        parent_busy = p.on_cpu(0, [&] { return p.drv().destroy_domain(v.parent); });
        master_busy = p.on_cpu(0, [&] { return p.drv().remove_master(host_sid); });
        duplicate_vsid =
            p.on_cpu(0, [&] { return p.drv().vsmmu_add_device(v.id, vsid, host_sid); });
        unknown_sid = p.on_cpu(0, [&] { return p.drv().vsmmu_add_device(v.id, 7, 999); });
        v.attached_guest_domain();
        vdevice_busy = p.on_cpu(0, [&] { return p.drv().vsmmu_remove_device(v.id, vsid); });
    }));
    EXPECT_EQ(bad_config.status, op_status::bad_input);
    EXPECT_EQ(bad_cdmax.status, op_status::bad_input);
    EXPECT_EQ(eats_without_ats.status, op_status::unsupported);
    EXPECT_EQ(s1_parent.status, op_status::bad_input);
    EXPECT_EQ(parent_busy.status, op_status::busy);
    EXPECT_EQ(master_busy.status, op_status::busy);
    EXPECT_EQ(duplicate_vsid.status, op_status::bad_input);
    EXPECT_EQ(unknown_sid.status, op_status::bad_input);
    EXPECT_EQ(vdevice_busy.status, op_status::busy);
}

} // namespace
} // namespace smmu::test
