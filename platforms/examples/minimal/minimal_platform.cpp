// A platform of its own around the installed SMMU model: a RAM, a "CPU" that
// programs the SMMU over its register socket, and a device whose DMA goes
// through one TBU. The CPU lays out a linear stream table with one stage-2
// STE and a 4 KiB page table mapping IPA 0x4000'0000 to PA 0x0010'0000, brings
// the SMMU up (queues, CFGI_ALL + TLBI + CMD_SYNC, SMMUEN), then the device
// writes through the mapping and touches an unmapped page.
//
// Exit status 0 when the write landed at the PA and the unmapped access was
// refused with a translation-fault event; the platform test checks it.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include "model/arch/command.h"
#include "model/arch/event.h"
#include "model/arch/registers.h"
#include "model/arch/ste.h"
#include "model/smmu/smmuv3.h"

namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

/// Zero-wait RAM with a 40 ns access time, shared by the SMMU and the CPU.
struct ram : sc_core::sc_module {
    tlm_utils::multi_passthrough_target_socket<ram> socket;
    std::vector<std::uint8_t> bytes;

    ram(const sc_core::sc_module_name& n, std::size_t size)
        : sc_module(n)
        , socket("socket")
        , bytes(size) {
        socket.register_b_transport(this, &ram::b_transport);
    }

    void b_transport(int, tlm::tlm_generic_payload& gp, sc_time& delay) {
        const std::uint64_t a = gp.get_address();
        if (a + gp.get_data_length() > bytes.size()) {
            gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
            return;
        }
        if (gp.is_read())
            std::memcpy(gp.get_data_ptr(), &bytes[a], gp.get_data_length());
        else if (gp.is_write())
            std::memcpy(&bytes[a], gp.get_data_ptr(), gp.get_data_length());
        delay += sc_time(40, SC_NS);
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
    }

    void put64(std::uint64_t a, std::uint64_t v) { std::memcpy(&bytes[a], &v, 8); }
    std::uint64_t get64(std::uint64_t a) const {
        std::uint64_t v;
        std::memcpy(&v, &bytes[a], 8);
        return v;
    }
};

/// A blocking initiator: register accesses for the CPU, DMA for the device.
struct master : sc_core::sc_module {
    tlm_utils::simple_initiator_socket<master> socket;
    explicit master(const sc_core::sc_module_name& n)
        : sc_module(n)
        , socket("socket") {}

    tlm::tlm_response_status access(tlm::tlm_command cmd, std::uint64_t addr, void* data,
                                    unsigned len) {
        tlm::tlm_generic_payload gp;
        gp.set_command(cmd);
        gp.set_address(addr);
        gp.set_data_ptr(static_cast<unsigned char*>(data));
        gp.set_data_length(len);
        gp.set_streaming_width(len);
        gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_time delay = sc_core::SC_ZERO_TIME;
        socket->b_transport(gp, delay);
        wait(delay);
        return gp.get_response_status();
    }
    void write32(std::uint64_t a, std::uint32_t v) { access(tlm::TLM_WRITE_COMMAND, a, &v, 4); }
    void write64(std::uint64_t a, std::uint64_t v) { access(tlm::TLM_WRITE_COMMAND, a, &v, 8); }
    std::uint32_t read32(std::uint64_t a) {
        std::uint32_t v = 0;
        access(tlm::TLM_READ_COMMAND, a, &v, 4);
        return v;
    }
};

constexpr std::uint64_t strtab = 0x0000;    // one STE (StreamID 0)
constexpr std::uint64_t cmdq = 0x1000;      // 16 commands
constexpr std::uint64_t eventq = 0x2000;    // 8 event records
constexpr std::uint64_t s2_tables = 0x3000; // levels 0..3 at 0x3000, 0x4000, 0x5000, 0x6000
constexpr std::uint64_t ipa = 0x4000'0000;
constexpr std::uint64_t pa = 0x0010'0000;

struct platform : sc_core::sc_module {
    ram mem{"mem", 2u << 20};
    smmu::smmuv3 smmu{"smmu", smmu::smmu_params{}, {smmu::tbu_params{}}};
    master cpu{"cpu"};
    master device{"device"};
    int failures = 0;

    SC_HAS_PROCESS(platform);
    explicit platform(const sc_core::sc_module_name& n)
        : sc_module(n) {
        cpu.socket.bind(smmu.reg_target);
        device.socket.bind(smmu.tbus[0].upstream);
        smmu.walker.bind(mem.socket);
        smmu.downstream.bind(mem.socket);
        SC_THREAD(scenario);
    }

    void lay_out_tables() {
        smmu::arch::ste s;
        s.v = true;
        s.config = smmu::arch::ste_config::s2_translate;
        s.s2_vmid = 1;
        s.s2_t0sz = 16; // 48-bit IPA, walk from level 0
        s.s2_sl0 = 2;
        s.s2_tg = smmu::arch::tg0_encoding::size_4k;
        s.s2_ps = smmu::arch::pa_size_encoding::bits_48;
        s.s2_aa64 = true;
        s.s2_r = true; // record faults
        s.s2_ttb = s2_tables;
        const auto words = smmu::arch::encode_ste(s);
        for (std::size_t i = 0; i < words.size(); ++i)
            mem.put64(strtab + 8 * i, words[i]);
        // Table descriptors for levels 0-2, then the page: AF, inner shareable, S2AP=RW, Normal WB.
        for (unsigned level = 0; level < 3; ++level) {
            const unsigned shift = 39 - 9 * level;
            const std::uint64_t table = s2_tables + 0x1000 * level;
            mem.put64(table + 8 * ((ipa >> shift) & 511), (table + 0x1000) | 3);
        }
        const std::uint64_t leaf = (1u << 10) | (3u << 8) | (3u << 6) | (0xfu << 2) | 3;
        mem.put64(s2_tables + 0x3000 + 8 * ((ipa >> 12) & 511), pa | leaf);
    }

    void command(const smmu::arch::command& c, unsigned& prod) {
        const auto w = smmu::arch::encode(c);
        mem.put64(cmdq + 16 * (prod & 15), w[0]);
        mem.put64(cmdq + 16 * (prod & 15) + 8, w[1]);
        prod = (prod + 1) & 31; // 4-bit index + wrap bit
    }

    void bring_up() {
        namespace reg = smmu::arch::reg;
        cpu.write64(reg::strtab_base, strtab);
        cpu.write32(reg::strtab_base_cfg, 0); // linear, 2^0 StreamIDs
        cpu.write64(reg::cmdq_base, cmdq | 4);
        cpu.write64(reg::eventq_base, eventq | 3);
        cpu.write32(reg::cr0, 0x8 | 0x4); // CMDQEN | EVENTQEN
        unsigned prod = 0;
        command(smmu::arch::make_cfgi_all(), prod);
        command(smmu::arch::make_tlbi_nsnh_all(), prod);
        command(smmu::arch::make_sync(smmu::arch::sync_cs::none), prod);
        cpu.write32(reg::cmdq_prod, prod);
        while ((cpu.read32(reg::cmdq_cons) & 31) != prod)
            wait(sc_time(100, SC_NS));
        cpu.write32(reg::cr0, 0x8 | 0x4 | 0x1); // + SMMUEN
    }

    void check(bool ok, const char* what) {
        std::printf("%-48s %s\n", what, ok ? "ok" : "FAILED");
        failures += ok ? 0 : 1;
    }

    void scenario() {
        lay_out_tables();
        bring_up();
        std::uint32_t value = 0xdeadbeef;
        const auto ok = device.access(tlm::TLM_WRITE_COMMAND, ipa + 0x40, &value, 4);
        std::uint32_t landed = 0;
        std::memcpy(&landed, &mem.bytes[pa + 0x40], 4);
        check(ok == tlm::TLM_OK_RESPONSE && landed == value,
              "DMA write through the stage-2 mapping");

        const auto refused = device.access(tlm::TLM_WRITE_COMMAND, ipa + 0x1000, &value, 4);
        check(refused != tlm::TLM_OK_RESPONSE, "DMA to an unmapped page is refused");
        const std::uint32_t eventq_prod = cpu.read32(smmu::arch::reg::eventq_prod);
        const auto id = static_cast<std::uint8_t>(mem.get64(eventq) & 0xff);
        check(eventq_prod == 1 &&
                  id == static_cast<std::uint8_t>(smmu::arch::event_id::f_translation),
              "F_TRANSLATION recorded in the event queue");
        std::printf("simulated time: %s\n", sc_core::sc_time_stamp().to_string().c_str());
    }
};

} // namespace

int sc_main(int, char*[]) {
    platform top("top");
    sc_core::sc_start();
    return top.failures == 0 ? 0 : 1;
}
