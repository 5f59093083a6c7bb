// platform::router: address map with the offset removed (or rebased), several
// initiators, error responses outside the map, debug transport, DMI regions
// translated back and DMI invalidations forwarded with the range translated.
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "platforms/parts/memory.h"
#include "platforms/parts/router.h"

namespace {

using sc_core::SC_NS;
using sc_core::sc_time;
using smmu::platform::memory;
using smmu::platform::router;

/// A target that records the addresses it sees and returns them as read data.
class recorder : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<recorder> socket;
    std::vector<std::uint64_t> seen;
    std::vector<std::uint64_t> debug_seen;

    explicit recorder(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , socket("socket") {
        socket.register_b_transport(this, &recorder::b_transport);
        socket.register_transport_dbg(this, &recorder::transport_dbg);
    }
    void invalidate(std::uint64_t start, std::uint64_t end) {
        socket->invalidate_direct_mem_ptr(start, end);
    }

private:
    void b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
        seen.push_back(gp.get_address());
        if (gp.is_read())
            std::memcpy(gp.get_data_ptr(), &seen.back(), gp.get_data_length());
        delay += sc_time(7, SC_NS);
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
    }
    unsigned transport_dbg(tlm::tlm_generic_payload& gp) {
        debug_seen.push_back(gp.get_address());
        return gp.get_data_length();
    }
};

/// An initiator that records the DMI invalidations it receives.
class master : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<master> socket;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> invalidations;

    explicit master(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , socket("socket") {
        socket.register_invalidate_direct_mem_ptr(this, &master::invalidate);
    }

    tlm::tlm_response_status read64(std::uint64_t addr, std::uint64_t& value) {
        tlm::tlm_generic_payload gp;
        sc_time delay = sc_core::SC_ZERO_TIME;
        setup(gp, tlm::TLM_READ_COMMAND, addr, &value, 8);
        socket->b_transport(gp, delay);
        EXPECT_EQ(gp.get_address(), addr) << "the router restores the address";
        return gp.get_response_status();
    }
    tlm::tlm_response_status write32(std::uint64_t addr, std::uint32_t value) {
        tlm::tlm_generic_payload gp;
        sc_time delay = sc_core::SC_ZERO_TIME;
        setup(gp, tlm::TLM_WRITE_COMMAND, addr, &value, 4);
        socket->b_transport(gp, delay);
        return gp.get_response_status();
    }
    unsigned debug_read(std::uint64_t addr, void* data, unsigned len) {
        tlm::tlm_generic_payload gp;
        setup(gp, tlm::TLM_READ_COMMAND, addr, data, len);
        return socket->transport_dbg(gp);
    }
    bool dmi(std::uint64_t addr, tlm::tlm_dmi& d) {
        tlm::tlm_generic_payload gp;
        std::uint64_t unused = 0;
        setup(gp, tlm::TLM_READ_COMMAND, addr, &unused, 8);
        return socket->get_direct_mem_ptr(gp, d);
    }

private:
    static void setup(tlm::tlm_generic_payload& gp, tlm::tlm_command cmd, std::uint64_t addr,
                      void* data, unsigned len) {
        gp.set_command(cmd);
        gp.set_address(addr);
        gp.set_data_ptr(static_cast<unsigned char*>(data));
        gp.set_data_length(len);
        gp.set_streaming_width(len);
        gp.set_byte_enable_ptr(nullptr);
        gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    }
    void invalidate(sc_dt::uint64 start, sc_dt::uint64 end) {
        invalidations.emplace_back(start, end);
    }
};

constexpr std::uint64_t regs_at = 0x1000'0000;
constexpr std::uint64_t mem_at = 0x8000'0000;
constexpr std::uint64_t mem_bytes = 0x10'0000;
constexpr std::uint64_t alias_at = 0x4000'0000; ///< a 64 KiB window onto mem + 0x2'0000

/// Two masters; target 0 a recorder at regs_at (offset removed), target 1 a
/// memory at its own addresses and through a rebased alias window.
struct rig {
    master cpu0{"cpu0"};
    master cpu1{"cpu1"};
    router bus{"bus"};
    recorder regs{"regs"};
    memory mem{"mem", mem_at, mem_bytes};

    rig() {
        cpu0.socket.bind(bus.in);
        cpu1.socket.bind(bus.in);
        bus.out.bind(regs.socket);
        bus.out.bind(mem.socket);
        bus.map(regs_at, 0x2'0000, 0);
        bus.map(mem_at, mem_bytes, 1, mem_at);
        bus.map(alias_at, 0x1'0000, 1, mem_at + 0x2'0000);
    }

    static void run(std::function<void()> body) {
        sc_core::sc_spawn(std::move(body));
        sc_core::sc_start();
    }
};

TEST(router, routes_each_range_to_its_target_with_the_offset_removed) {
    rig r;
    std::uint64_t v0 = 0, v1 = 0;
    rig::run([&] {
        EXPECT_EQ(r.cpu0.read64(regs_at + 0x20, v0), tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(r.cpu1.read64(regs_at + 0x1'0100, v1), tlm::TLM_OK_RESPONSE);
    });
    EXPECT_EQ(v0, 0x20u);
    EXPECT_EQ(v1, 0x1'0100u);
    EXPECT_EQ(r.regs.seen, (std::vector<std::uint64_t>{0x20, 0x1'0100}));
}

TEST(router, rebased_ranges_reach_the_memory_at_its_own_addresses) {
    rig r;
    r.mem.write64(mem_at + 0x2'0040, 0x1122334455667788ull);
    std::uint64_t direct = 0, aliased = 0;
    rig::run([&] {
        EXPECT_EQ(r.cpu0.read64(mem_at + 0x2'0040, direct), tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(r.cpu1.read64(alias_at + 0x40, aliased), tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(r.cpu1.write32(alias_at + 0x80, 0xabcd1234u), tlm::TLM_OK_RESPONSE);
    });
    EXPECT_EQ(direct, 0x1122334455667788ull);
    EXPECT_EQ(aliased, 0x1122334455667788ull);
    EXPECT_EQ(r.mem.read32(mem_at + 0x2'0080), 0xabcd1234u);
}

TEST(router, addresses_outside_the_map_or_across_a_range_end_are_address_errors) {
    rig r;
    std::uint64_t v = 0;
    rig::run([&] {
        EXPECT_EQ(r.cpu0.read64(0x2000'0000, v), tlm::TLM_ADDRESS_ERROR_RESPONSE);
        EXPECT_EQ(r.cpu0.read64(regs_at + 0x2'0000 - 4, v), tlm::TLM_ADDRESS_ERROR_RESPONSE);
        EXPECT_EQ(r.cpu1.write32(alias_at + 0x1'0000, 1), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    });
    EXPECT_TRUE(r.regs.seen.empty());
    EXPECT_EQ(r.mem.writes(), 0u);
    EXPECT_EQ(r.bus.unrouted_accesses(), 3u);
}

TEST(router, debug_transport_follows_the_map) {
    rig r;
    r.mem.write32(mem_at + 0x2'0010, 0x5a5a0001u);
    std::uint32_t got = 0;
    unsigned char buf[16] = {};
    rig::run([&] {
        EXPECT_EQ(r.cpu0.debug_read(alias_at + 0x10, &got, 4), 4u);
        EXPECT_EQ(r.cpu1.debug_read(regs_at + 0x44, buf, 16), 16u);
        EXPECT_EQ(r.cpu1.debug_read(0x10, buf, 4), 0u);
    });
    EXPECT_EQ(got, 0x5a5a0001u);
    EXPECT_EQ(r.regs.debug_seen, (std::vector<std::uint64_t>{0x44}));
}

TEST(router, dmi_regions_are_translated_back_and_clipped_to_the_range) {
    rig r;
    tlm::tlm_dmi direct, aliased, regs;
    bool got_direct = false, got_alias = false, got_regs = true;
    rig::run([&] {
        got_direct = r.cpu0.dmi(mem_at + 0x100, direct);
        got_alias = r.cpu1.dmi(alias_at + 0x100, aliased);
        got_regs = r.cpu0.dmi(regs_at, regs);
    });
    ASSERT_TRUE(got_direct);
    EXPECT_EQ(direct.get_start_address(), mem_at);
    EXPECT_EQ(direct.get_end_address(), mem_at + mem_bytes - 1);
    EXPECT_EQ(direct.get_dmi_ptr(), r.mem.bytes(mem_at));
    ASSERT_TRUE(got_alias);
    EXPECT_EQ(aliased.get_start_address(), alias_at);
    EXPECT_EQ(aliased.get_end_address(), alias_at + 0xffff);
    EXPECT_EQ(aliased.get_dmi_ptr(), r.mem.bytes(mem_at + 0x2'0000));
    EXPECT_FALSE(got_regs) << "the recorder grants no DMI";
}

TEST(router, dmi_invalidations_reach_every_initiator_translated_and_clipped) {
    rig r;
    rig::run([&] {
        r.regs.invalidate(0x100, 0x1ff);
        r.regs.invalidate(0x1'ff00, 0x5'0000); // runs past the window: clipped
        r.regs.invalidate(0x3'0000, 0x3'ffff); // outside the window: not forwarded
    });
    const std::vector<std::pair<std::uint64_t, std::uint64_t>> want = {
        {regs_at + 0x100, regs_at + 0x1ff}, {regs_at + 0x1'ff00, regs_at + 0x1'ffff}};
    EXPECT_EQ(r.cpu0.invalidations, want);
    EXPECT_EQ(r.cpu1.invalidations, want);
}

TEST(router, targeted_invalidation_is_translated_through_each_range_of_the_target) {
    rig r;
    rig::run(
        [&] { r.mem.socket[0]->invalidate_direct_mem_ptr(mem_at + 0x2'0800, mem_at + 0x2'08ff); });
    const std::vector<std::pair<std::uint64_t, std::uint64_t>> want = {
        {mem_at + 0x2'0800, mem_at + 0x2'08ff}, {alias_at + 0x800, alias_at + 0x8ff}};
    EXPECT_EQ(r.cpu0.invalidations, want);
    EXPECT_EQ(r.cpu1.invalidations, want);
}

TEST(router, overlapping_or_empty_ranges_are_rejected) {
    router bus("bus");
    bus.map(0x1000, 0x1000, 0);
    EXPECT_THROW(bus.map(0x1800, 0x1000, 1), std::invalid_argument);
    EXPECT_THROW(bus.map(0x0, 0x1001, 1), std::invalid_argument);
    EXPECT_THROW(bus.map(0x4000, 0, 1), std::invalid_argument);
    EXPECT_THROW(bus.map(~0ull - 0xff, 0x200, 1), std::invalid_argument);
    EXPECT_NO_THROW(bus.map(0x2000, 0x1000, 1));
}

} // namespace
