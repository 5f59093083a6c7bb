// A byte-addressed backing memory for platforms and test benches: any number
// of initiators bind to its multi-passthrough socket; it annotates a fixed
// read and write latency, grants DMI over its whole range, answers debug
// transport, and can be told to abort accesses to chosen ranges (to exercise
// external-abort paths). Tests read and write its bytes directly.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

namespace smmu::platform {

class memory : public sc_core::sc_module {
public:
    tlm_utils::multi_passthrough_target_socket<memory> socket;

    /// `size` bytes starting at address `base`.
    memory(const sc_core::sc_module_name& name, std::uint64_t base, std::uint64_t size,
           sc_core::sc_time read_latency = sc_core::sc_time(50, sc_core::SC_NS),
           sc_core::sc_time write_latency = sc_core::sc_time(50, sc_core::SC_NS));

    std::uint64_t base() const { return m_base; }
    std::uint64_t size() const { return m_bytes.size(); }
    bool contains(std::uint64_t addr, std::uint64_t len) const;

    // Direct access for tests and loaders (no time, no side effects).
    std::uint8_t* bytes(std::uint64_t addr) { return m_bytes.data() + (addr - m_base); }
    void write64(std::uint64_t addr, std::uint64_t value);
    std::uint64_t read64(std::uint64_t addr) const;
    void write32(std::uint64_t addr, std::uint32_t value);
    std::uint32_t read32(std::uint64_t addr) const;
    template <std::size_t N>
    void write_words(std::uint64_t addr, const std::array<std::uint64_t, N>& words) {
        for (std::size_t i = 0; i < N; ++i)
            write64(addr + 8 * i, words[i]);
    }
    void fill(std::uint64_t addr, std::uint64_t len, std::uint8_t value);

    /// Accesses overlapping [start, end] get TLM_GENERIC_ERROR_RESPONSE.
    void add_abort_range(std::uint64_t start, std::uint64_t end);
    void clear_abort_ranges() { m_aborts.clear(); }

    void set_latency(sc_core::sc_time read, sc_core::sc_time write) {
        m_read_latency = read;
        m_write_latency = write;
    }

    std::uint64_t reads() const { return m_reads; }
    std::uint64_t writes() const { return m_writes; }

private:
    void b_transport(int id, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    unsigned transport_dbg(int id, tlm::tlm_generic_payload& trans);
    bool get_direct_mem_ptr(int id, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
    bool aborts(std::uint64_t addr, std::uint64_t len) const;
    /// Copies data for a read or write; false if out of range.
    bool copy(tlm::tlm_generic_payload& trans);

    struct range {
        std::uint64_t start;
        std::uint64_t end;
    };

    std::uint64_t m_base;
    std::vector<std::uint8_t> m_bytes;
    std::vector<range> m_aborts;
    sc_core::sc_time m_read_latency;
    sc_core::sc_time m_write_latency;
    std::uint64_t m_reads = 0;
    std::uint64_t m_writes = 0;
};

} // namespace smmu::platform
