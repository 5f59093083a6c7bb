// Parts for the driver/host tests: a register target that records every
// access, a SEV pulse source, a cost model with distinct round values, and a
// bench of CPUs bound to one register target and one memory.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "driver/host/cpu.h"
#include "platforms/parts/memory.h"

namespace smmu::host_test {

using sc_core::SC_NS;
using sc_core::sc_time;

inline sc_time ns(double v) {
    return sc_time(v, SC_NS);
}

struct reg_access {
    tlm::tlm_command cmd = tlm::TLM_IGNORE_COMMAND;
    std::uint64_t address = 0;
    unsigned length = 0;
    std::uint64_t value = 0;
    sc_time at; ///< sc_time_stamp() + delay when the access arrived
};

/// A register window that records accesses, answers reads from `values`
/// (address -> 64-bit value, little-endian), can fail one address and adds
/// `latency` to every access.
class reg_target : public sc_core::sc_module {
public:
    tlm_utils::multi_passthrough_target_socket<reg_target> socket;
    std::vector<reg_access> log;
    std::map<std::uint64_t, std::uint64_t> values;
    std::optional<std::uint64_t> error_address;
    sc_time latency = sc_core::SC_ZERO_TIME;

    explicit reg_target(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , socket("socket") {
        socket.register_b_transport(this, &reg_target::b_transport);
    }

private:
    void b_transport(int, tlm::tlm_generic_payload& gp, sc_time& delay) {
        reg_access a;
        a.cmd = gp.get_command();
        a.address = gp.get_address();
        a.length = gp.get_data_length();
        a.at = sc_core::sc_time_stamp() + delay;
        if (error_address && *error_address == a.address) {
            log.push_back(a);
            gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
            return;
        }
        if (gp.is_write()) {
            std::memcpy(&a.value, gp.get_data_ptr(), a.length);
            values[a.address] = a.value;
        } else {
            const auto it = values.find(a.address);
            a.value = it == values.end() ? 0 : it->second;
            std::memcpy(gp.get_data_ptr(), &a.value, a.length);
        }
        log.push_back(a);
        delay += latency;
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
    }
};

/// Drives a sev signal high for 1 ns at each of `edges`.
class sev_source : public sc_core::sc_module {
public:
    sc_core::sc_signal<bool> line;

    sev_source(const sc_core::sc_module_name& name, std::vector<sc_time> edges)
        : sc_core::sc_module(name)
        , line("line", false)
        , m_edges(std::move(edges)) {
        SC_HAS_PROCESS(sev_source);
        SC_THREAD(drive);
    }

private:
    void drive() {
        for (const sc_time& t : m_edges) {
            wait(t - sc_core::sc_time_stamp());
            line.write(true);
            wait(ns(1));
            line.write(false);
        }
    }
    std::vector<sc_time> m_edges;
};

/// Distinct costs so that each expected time names what was charged.
inline driver::host::cpu_cost test_cost() {
    driver::host::cpu_cost c;
    c.pte_write_ns = 3;
    c.command_write_ns = 7;
    c.mmio_read_ns = 50;
    c.mmio_write_ns = 30;
    c.lock_ns = 11;
    c.cons_poll_ns = 13;
    c.barrier_ns = 17;
    c.mem_access_ns = 2;
    c.poll_interval_ns = 40;
    c.wfe_wakeup_ns = 6;
    c.wfe_timeout_ns = 100;
    return c;
}

inline constexpr std::uint64_t mem_base = 0x8000'0000;
inline constexpr std::uint64_t mem_size = 0x40'0000; // 4 MiB
inline constexpr std::uint64_t dma_base = 0x8008'0000;
inline constexpr std::uint64_t dma_size = 0x1'0000; // 64 KiB
inline constexpr std::uint64_t smmu_base = 0x1000'0000;

/// `n` CPUs sharing one register target, one memory (50 ns reads and writes)
/// and one DMA allocator.
struct bench {
    platform::memory memory{"memory", mem_base, mem_size};
    reg_target regs{"regs"};
    driver::host::dma_allocator dma{dma_base, dma_size};
    std::vector<std::unique_ptr<driver::host::cpu>> cpus;

    explicit bench(unsigned n = 1, driver::host::cpu_params params = default_params()) {
        for (unsigned i = 0; i < n; ++i) {
            cpus.push_back(std::make_unique<driver::host::cpu>(("cpu" + std::to_string(i)).c_str(),
                                                               dma, params));
            cpus.back()->mmio.bind(regs.socket);
            cpus.back()->mem.bind(memory.socket);
        }
    }

    driver::host::cpu& cpu(unsigned i = 0) { return *cpus.at(i); }

    static driver::host::cpu_params default_params() {
        driver::host::cpu_params p;
        p.mmio_base = smmu_base;
        p.cost = test_cost();
        return p;
    }
};

} // namespace smmu::host_test
