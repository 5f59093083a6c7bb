// The guest driver and vsmmu_sink against a recording vSMMU port, on plain
// memory: what a guest forwards, in which order, and how it reacts when the
// host refuses.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/guest.h"
#include "driver/core/vsmmu.h"
#include "tests/unit/driver/fake_platform_domains.h"
#include "tests/unit/driver/fake_platform_invs.h"
#include "tests/unit/driver/fake_platform_pgtable.h"

namespace smmu::driver::test {
namespace {

using arch::opcode;

constexpr std::uint64_t page = 4096;

/// Records every forward (as decoded commands) and every guest STE install.
class recording_port final : public vsmmu_port {
public:
    struct step {
        std::string what; ///< opcode name, or "STE"
        std::uint32_t sid = 0;
        arch::ste ste;
    };

    vsmmu_invalidate_result invalidate(const arch::command_words* cmds,
                                       std::size_t count) override {
        ++forwards;
        vsmmu_invalidate_result r;
        for (; r.consumed < count; ++r.consumed) {
            if (refuse) {
                r.error = vsmmu_error::queue_failed;
                return r;
            }
            const arch::command_decode_result d =
                arch::decode_command(cmds[r.consumed], arch::command_decode_context{});
            EXPECT_TRUE(d.ok());
            log.push_back({arch::opcode_name(d.cmd.op), d.cmd.sid, {}});
            commands.push_back(d.cmd);
        }
        return r;
    }

    op_status install_ste(std::uint32_t vsid, const arch::ste& guest) override {
        log.push_back({"STE", vsid, guest});
        return refuse ? op_status::hw_error : op_status::ok;
    }

    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (const step& s : log)
            n.push_back(s.what);
        return n;
    }

    std::vector<step> log;
    std::vector<arch::command> commands;
    unsigned forwards = 0;
    bool refuse = false;
};

iommu_prot rw() {
    iommu_prot p;
    p.read = p.write = true;
    return p;
}

struct guest_fixture {
    guest_fixture() {
        caps.ril = true;
        caps.ats = true;
        caps.asid_bits = 16;
        caps.vmid_bits = 16;
    }

    recording_port port;
    smmu_caps caps;
    fake_platform_pgtable memory{0x4000'0000, 4ull << 20};
    dtest::mutex_lock_factory locks;
    test_lock_factory rw_locks;
    guest_driver guest{port, &caps, memory, locks, rw_locks};
};

TEST(vsmmu_sink, forwards_64_commands_at_a_time_and_the_rest_on_sync) {
    recording_port port;
    smmu_caps caps;
    {
        vsmmu_sink sink(port);
        for (unsigned i = 0; i < 65; ++i)
            EXPECT_TRUE(sink.add(&caps, arch::make_tlbi_nh_asid(0, static_cast<arch::asid_t>(i))));
        EXPECT_EQ(port.forwards, 1u);
        EXPECT_TRUE(sink.sync(&caps));
        EXPECT_EQ(port.forwards, 2u);
        EXPECT_TRUE(sink.sync(&caps)) << "nothing held: nothing to forward";
        EXPECT_EQ(port.forwards, 2u);
        EXPECT_EQ(sink.error(), vsmmu_error::none);
    }
    ASSERT_EQ(port.commands.size(), 65u);
    EXPECT_EQ(port.commands[64].asid, 64u);
}

TEST(vsmmu_sink, a_refused_forward_is_reported) {
    recording_port port;
    port.refuse = true;
    smmu_caps caps;
    vsmmu_sink sink(port);
    EXPECT_TRUE(sink.add(&caps, arch::make_tlbi_nh_all(0)));
    EXPECT_FALSE(sink.sync(&caps));
    EXPECT_EQ(sink.error(), vsmmu_error::queue_failed);
}

TEST(guest_driver, first_attach_writes_the_cd_then_the_guest_ste) {
    guest_fixture f;
    ASSERT_TRUE(f.guest.add_device(3, false).ok());
    const op_result d = f.guest.create_domain();
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(f.guest.attach(d.id, 3).ok());
    // The entry writer's two steps (reference §3.4): the other words, then word 0 with V.
    EXPECT_EQ(f.port.names(), (std::vector<std::string>{"CMD_CFGI_CD", "CMD_CFGI_CD", "STE"}));
    const arch::ste& ste = f.port.log.back().ste;
    EXPECT_TRUE(ste.v);
    EXPECT_EQ(ste.config, arch::ste_config::s1_translate);
    EXPECT_EQ(ste.s1_cd_max, 0u);
    EXPECT_EQ(ste.eats, arch::ste_eats::abort);
    EXPECT_GE(ste.s1_context_ptr, 0x4000'0000u) << "the CD is in guest memory";
    EXPECT_EQ(f.port.log.front().sid, 3u) << "CFGI_CD names the guest's StreamID";
    // The CD in guest memory carries the domain's guest ASID.
    arch::structure_words words{};
    f.memory.mem_read(ste.s1_context_ptr, words.data(), 64);
    const arch::cd cd = arch::decode_cd(words);
    EXPECT_TRUE(cd.v);
    EXPECT_EQ(cd.asid, *f.guest.domain_asid(d.id));
}

TEST(guest_driver, unmap_with_ats_forwards_tlbis_then_atc_invalidations_separately) {
    guest_fixture f;
    ASSERT_TRUE(f.guest.add_device(1, true).ok());
    const op_result d = f.guest.create_domain();
    ASSERT_TRUE(f.guest.attach(d.id, 1).ok());
    EXPECT_EQ(f.port.log.back().ste.eats, arch::ste_eats::full);
    ASSERT_TRUE(f.guest.map(d.id, 0x10'0000, 0x4020'0000, 2 * page, rw()).ok());
    f.port.log.clear();
    const unsigned forwards = f.port.forwards;
    ASSERT_TRUE(f.guest.unmap(d.id, 0x10'0000, 2 * page).ok());
    EXPECT_EQ(f.port.names(), (std::vector<std::string>{"CMD_TLBI_NH_VA", "CMD_ATC_INV"}));
    EXPECT_EQ(f.port.forwards - forwards, 2u) << "the TLBIs complete before the ATC_INV is sent";
    EXPECT_EQ(f.port.commands[f.port.commands.size() - 2].asid, *f.guest.domain_asid(d.id));
    EXPECT_EQ(f.port.log.back().sid, 1u);
}

TEST(guest_driver, switching_domains_invalidates_the_atc_and_flushes_the_old_asid) {
    guest_fixture f;
    ASSERT_TRUE(f.guest.add_device(1, true).ok());
    const op_result d1 = f.guest.create_domain();
    const op_result d2 = f.guest.create_domain();
    ASSERT_TRUE(f.guest.attach(d1.id, 1).ok());
    const std::uint32_t old_asid = *f.guest.domain_asid(d1.id);
    f.port.log.clear();
    ASSERT_TRUE(f.guest.attach(d2.id, 1).ok());
    // A hitless CD update (three steps), the ATC, then the old ASID.
    EXPECT_EQ(f.port.names(), (std::vector<std::string>{"CMD_CFGI_CD", "CMD_CFGI_CD", "CMD_CFGI_CD",
                                                        "CMD_ATC_INV", "CMD_TLBI_NH_ASID"}));
    EXPECT_EQ(f.port.commands.back().asid, old_asid);
    EXPECT_FALSE(f.guest.tags().asid_in_use(old_asid));
    EXPECT_FALSE(f.guest.domain_asid(d1.id).has_value());
    EXPECT_EQ(f.guest.destroy_domain(d2.id).status, op_status::busy);
    EXPECT_TRUE(f.guest.destroy_domain(d1.id).ok());
}

TEST(guest_driver, detach_blocks_the_ste_before_clearing_the_cd) {
    guest_fixture f;
    ASSERT_TRUE(f.guest.add_device(2, false).ok());
    const op_result d = f.guest.create_domain();
    ASSERT_TRUE(f.guest.attach(d.id, 2).ok());
    f.port.log.clear();
    ASSERT_TRUE(f.guest.detach(2).ok());
    EXPECT_EQ(f.port.names(),
              (std::vector<std::string>{"STE", "CMD_CFGI_CD", "CMD_CFGI_CD", "CMD_TLBI_NH_ASID"}));
    EXPECT_EQ(f.port.log.front().ste.config, arch::ste_config::abort);
    // A second attach installs the STE again.
    f.port.log.clear();
    ASSERT_TRUE(f.guest.attach(d.id, 2).ok());
    EXPECT_EQ(f.port.names().back(), "STE");
}

TEST(guest_driver, refusals_and_bad_handles_are_errors_not_crashes) {
    guest_fixture f;
    EXPECT_EQ(f.guest.attach(1, 1).status, op_status::bad_input);
    ASSERT_TRUE(f.guest.add_device(1, false).ok());
    EXPECT_EQ(f.guest.add_device(1, false).status, op_status::bad_input);
    EXPECT_EQ(f.guest.detach(9).status, op_status::bad_input);
    EXPECT_EQ(f.guest.map(7, 0, 0x4000'0000, page, rw()).status, op_status::bad_input);
    const op_result d = f.guest.create_domain();
    f.port.refuse = true;
    EXPECT_EQ(f.guest.attach(d.id, 1).status, op_status::hw_error);
    f.port.refuse = false;
    ASSERT_TRUE(f.guest.map(d.id, 0x10'0000, 0x4020'0000, page, rw()).ok());
    f.port.refuse = true;
    EXPECT_EQ(f.guest.unmap(d.id, 0x10'0000, page).status, op_status::hw_error);
}

TEST(guest_driver, skip_tag_flush_releases_the_asid_unflushed) {
    recording_port port;
    smmu_caps caps;
    fake_platform_pgtable memory{0x4000'0000, 4ull << 20};
    dtest::mutex_lock_factory locks;
    test_lock_factory rw_locks;
    guest_options o;
    o.faults.skip_tag_flush = true;
    guest_driver guest{port, &caps, memory, locks, rw_locks, o};
    ASSERT_TRUE(guest.add_device(1, false).ok());
    const op_result d = guest.create_domain();
    ASSERT_TRUE(guest.attach(d.id, 1).ok());
    const std::uint32_t asid = *guest.domain_asid(d.id);
    ASSERT_TRUE(guest.detach(1).ok());
    EXPECT_FALSE(guest.tags().asid_in_use(asid));
    for (const auto& s : port.log)
        EXPECT_NE(s.what, "CMD_TLBI_NH_ASID");
}

} // namespace
} // namespace smmu::driver::test
