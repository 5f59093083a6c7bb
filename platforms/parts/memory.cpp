#include "platforms/parts/memory.h"

#include <cstring>

namespace smmu::platform {

memory::memory(const sc_core::sc_module_name& name, std::uint64_t base, std::uint64_t size,
               sc_core::sc_time read_latency, sc_core::sc_time write_latency)
    : sc_core::sc_module(name)
    , socket("socket")
    , m_base(base)
    , m_bytes(size, 0)
    , m_read_latency(read_latency)
    , m_write_latency(write_latency) {
    socket.register_b_transport(this, &memory::b_transport);
    socket.register_transport_dbg(this, &memory::transport_dbg);
    socket.register_get_direct_mem_ptr(this, &memory::get_direct_mem_ptr);
}

bool memory::contains(std::uint64_t addr, std::uint64_t len) const {
    return addr >= m_base && len <= m_bytes.size() && addr - m_base <= m_bytes.size() - len;
}

void memory::write64(std::uint64_t addr, std::uint64_t value) {
    std::memcpy(bytes(addr), &value, sizeof(value));
}

std::uint64_t memory::read64(std::uint64_t addr) const {
    std::uint64_t v = 0;
    std::memcpy(&v, m_bytes.data() + (addr - m_base), sizeof(v));
    return v;
}

void memory::write32(std::uint64_t addr, std::uint32_t value) {
    std::memcpy(bytes(addr), &value, sizeof(value));
}

std::uint32_t memory::read32(std::uint64_t addr) const {
    std::uint32_t v = 0;
    std::memcpy(&v, m_bytes.data() + (addr - m_base), sizeof(v));
    return v;
}

void memory::fill(std::uint64_t addr, std::uint64_t len, std::uint8_t value) {
    std::memset(bytes(addr), value, len);
}

void memory::add_abort_range(std::uint64_t start, std::uint64_t end) {
    m_aborts.push_back({start, end});
}

bool memory::aborts(std::uint64_t addr, std::uint64_t len) const {
    for (const range& r : m_aborts)
        if (addr <= r.end && addr + len - 1 >= r.start)
            return true;
    return false;
}

bool memory::copy(tlm::tlm_generic_payload& trans) {
    const std::uint64_t addr = trans.get_address();
    const unsigned len = trans.get_data_length();
    if (!contains(addr, len) || trans.get_streaming_width() < len)
        return false;
    unsigned char* data = trans.get_data_ptr();
    const unsigned char* be = trans.get_byte_enable_ptr();
    const unsigned be_len = trans.get_byte_enable_length();
    std::uint8_t* mem = bytes(addr);
    if (be == nullptr) {
        if (trans.is_read())
            std::memcpy(data, mem, len);
        else
            std::memcpy(mem, data, len);
        return true;
    }
    for (unsigned i = 0; i < len; ++i) {
        if (be[i % be_len] == 0)
            continue;
        if (trans.is_read())
            data[i] = mem[i];
        else
            mem[i] = data[i];
    }
    return true;
}

void memory::b_transport(int, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    if (trans.get_command() == tlm::TLM_IGNORE_COMMAND) {
        trans.set_response_status(tlm::TLM_OK_RESPONSE);
        return;
    }
    if (aborts(trans.get_address(), trans.get_data_length())) {
        trans.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
        return;
    }
    if (!copy(trans)) {
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    if (trans.is_read()) {
        ++m_reads;
        delay += m_read_latency;
    } else {
        ++m_writes;
        delay += m_write_latency;
    }
    trans.set_dmi_allowed(m_aborts.empty());
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned memory::transport_dbg(int, tlm::tlm_generic_payload& trans) {
    if (trans.get_command() == tlm::TLM_IGNORE_COMMAND)
        return 0;
    return copy(trans) ? trans.get_data_length() : 0;
}

bool memory::get_direct_mem_ptr(int, tlm::tlm_generic_payload&, tlm::tlm_dmi& dmi) {
    dmi.set_start_address(m_base);
    dmi.set_end_address(m_base + m_bytes.size() - 1);
    if (!m_aborts.empty())
        return false; // aborting ranges must be seen by every access
    dmi.set_dmi_ptr(m_bytes.data());
    dmi.allow_read_write();
    dmi.set_read_latency(m_read_latency);
    dmi.set_write_latency(m_write_latency);
    return true;
}

} // namespace smmu::platform
