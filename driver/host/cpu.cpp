#include "driver/host/cpu.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace smmu::driver::host {

using sc_core::SC_NS;
using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;

namespace {

bool is_power_of_two(std::uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

sc_time from_ns(double ns) {
    return sc_time(ns, SC_NS);
}

/// Largest single transaction; longer accesses are split.
constexpr std::size_t max_transaction_bytes = std::size_t{1} << 20;

} // namespace

// ---------------------------------------------------------------- dma_allocator

dma_allocator::dma_allocator(std::uint64_t base, std::uint64_t size)
    : m_base(base)
    , m_size(size) {
    // A range running past the top of the address space ends at its top.
    if (m_size != 0 && m_size - 1 > std::numeric_limits<std::uint64_t>::max() - m_base)
        m_size = std::numeric_limits<std::uint64_t>::max() - m_base + 1;
    if (m_size != 0)
        m_free.emplace(m_base, m_size);
}

std::optional<std::uint64_t> dma_allocator::allocate(std::uint64_t bytes, std::uint64_t align) {
    if (align == 0)
        align = 1;
    if (bytes == 0 || !is_power_of_two(align)) {
        ++m_failures;
        return std::nullopt;
    }
    for (auto it = m_free.begin(); it != m_free.end(); ++it) {
        const std::uint64_t start = it->first;
        const std::uint64_t len = it->second;
        const std::uint64_t pad = (align - (start & (align - 1))) & (align - 1);
        if (pad > len || bytes > len - pad)
            continue;
        const std::uint64_t pa = start + pad;
        const std::uint64_t tail = len - pad - bytes;
        m_free.erase(it);
        if (pad != 0)
            m_free.emplace(start, pad);
        if (tail != 0)
            m_free.emplace(pa + bytes, tail);
        m_used.emplace(pa, bytes);
        m_in_use += bytes;
        m_peak = std::max(m_peak, m_in_use);
        return pa;
    }
    ++m_failures;
    return std::nullopt;
}

bool dma_allocator::release(std::uint64_t pa) {
    const auto used = m_used.find(pa);
    if (used == m_used.end())
        return false;
    std::uint64_t start = pa;
    std::uint64_t len = used->second;
    m_in_use -= len;
    m_used.erase(used);

    auto next = m_free.lower_bound(start);
    if (next != m_free.end() && next->first == start + len) {
        len += next->second;
        next = m_free.erase(next);
    }
    if (next != m_free.begin()) {
        const auto prev = std::prev(next);
        if (prev->first + prev->second == start) {
            start = prev->first;
            len += prev->second;
            m_free.erase(prev);
        }
    }
    m_free.emplace(start, len);
    return true;
}

// ---------------------------------------------------------------- job_handle

job_result job_handle::wait() const {
    while (!m_rec->done)
        sc_core::wait(m_rec->done_event);
    return result();
}

job_result run_and_wait(cpu& c, cpu::job work) {
    return c.run(std::move(work)).wait();
}

// ---------------------------------------------------------------- the bound platform

class cpu::bound_platform final : public platform_ops {
public:
    explicit bound_platform(cpu& owner)
        : m_cpu(owner) {}

    std::uint32_t mmio_read32(std::uint64_t offset) override {
        return static_cast<std::uint32_t>(m_cpu.mmio_access(::tlm::TLM_READ_COMMAND, offset, 4, 0));
    }
    std::uint64_t mmio_read64(std::uint64_t offset) override {
        return m_cpu.mmio_access(::tlm::TLM_READ_COMMAND, offset, 8, 0);
    }
    void mmio_write32(std::uint64_t offset, std::uint32_t value) override {
        m_cpu.mmio_access(::tlm::TLM_WRITE_COMMAND, offset, 4, value);
    }
    void mmio_write64(std::uint64_t offset, std::uint64_t value) override {
        m_cpu.mmio_access(::tlm::TLM_WRITE_COMMAND, offset, 8, value);
    }
    void mem_read(std::uint64_t pa, void* dst, std::size_t len) override {
        m_cpu.mem_access(::tlm::TLM_READ_COMMAND, pa, static_cast<unsigned char*>(dst), len);
    }
    void mem_write(std::uint64_t pa, const void* src, std::size_t len) override {
        // A write command only reads from the data pointer.
        m_cpu.mem_access(::tlm::TLM_WRITE_COMMAND, pa,
                         const_cast<unsigned char*>(static_cast<const unsigned char*>(src)), len);
    }
    std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align) override {
        return m_cpu.alloc_dma(bytes, align);
    }
    void free_dma(std::uint64_t pa, std::size_t) override { m_cpu.free_dma(pa); }
    void barrier() override {
        // Accesses complete in program order in the model; the cost is
        // charged by the core as cpu_op::barrier next to every barrier().
        ++m_cpu.m_stats.barriers;
    }
    void poll_pause(bool wfe) override { m_cpu.poll_pause(wfe); }
    std::uint64_t now_ns() override { return m_cpu.now_ns(); }
    void charge(cpu_op op, unsigned count) override { m_cpu.charge(op, count); }

private:
    cpu& m_cpu;
};

// ---------------------------------------------------------------- cpu

cpu::cpu(const sc_core::sc_module_name& name, dma_allocator& dma, const cpu_params& params)
    : sc_core::sc_module(name)
    , mmio("mmio")
    , mem("mem")
    , sev("sev")
    , m_dma(dma)
    , m_params(params)
    , m_platform(std::make_unique<bound_platform>(*this)) {
    if (!m_params.cost.valid())
        throw std::invalid_argument("smmu::driver::host::cpu: invalid cpu_cost");
    const cpu_cost& c = m_params.cost;
    for (unsigned i = 0; i < cpu_op_count; ++i)
        m_op_cost[i] = from_ns(c.ns(static_cast<cpu_op>(i)));
    m_mmio_read = from_ns(c.mmio_read_ns);
    m_mmio_write = from_ns(c.mmio_write_ns);
    m_mem_access = from_ns(c.mem_access_ns);
    m_poll_interval = from_ns(c.poll_interval_ns);
    m_wfe_wakeup = from_ns(c.wfe_wakeup_ns);
    m_wfe_timeout = from_ns(c.wfe_timeout_ns);

    mem.register_invalidate_direct_mem_ptr(this, &cpu::invalidate_dmi);

    SC_HAS_PROCESS(cpu);
    SC_THREAD(thread_main);
    m_thread = sc_core::sc_get_last_created_process_handle();
    // Runs once at initialisation to arm itself on the sev edge, if bound.
    SC_METHOD(on_sev);
}

cpu::~cpu() = default;

platform_ops& cpu::platform() {
    return *m_platform;
}

job_handle cpu::run(job work) {
    auto rec = std::make_shared<detail::job_record>();
    rec->work = std::move(work);
    m_jobs.push_back(rec);
    // Before simulation the thread finds the queue at its first activation.
    if (sc_core::sc_start_of_simulation_invoked())
        m_job_added.notify(SC_ZERO_TIME);
    return job_handle(std::move(rec));
}

void cpu::thread_main() {
    for (;;) {
        while (m_jobs.empty())
            wait(m_job_added);
        const std::shared_ptr<detail::job_record> rec = m_jobs.front();
        m_jobs.pop_front();
        m_in_job = true;
        sync();
        rec->start = sc_core::sc_time_stamp();
        rec->started = true;
        rec->work(*m_platform);
        sync();
        rec->end = sc_core::sc_time_stamp();
        m_in_job = false;
        rec->done = true;
        rec->work = nullptr; // release what the job captured
        ++m_stats.jobs;
        rec->done_event.notify();
    }
}

cpu* cpu::current() {
    if (sc_core::sc_get_status() != sc_core::SC_RUNNING)
        return nullptr;
    const sc_core::sc_process_handle h = sc_core::sc_get_current_process_handle();
    if (!h.valid())
        return nullptr;
    cpu* const c = dynamic_cast<cpu*>(h.get_parent_object());
    if (c == nullptr || !c->m_in_job || h != c->m_thread)
        return nullptr;
    return c;
}

bool cpu::sync_current() {
    cpu* const c = current();
    if (c == nullptr)
        return false;
    c->sync();
    return true;
}

void cpu::on_sev() {
    if (sev.size() == 0)
        return; // never triggered again: no static sensitivity
    if (m_sev_armed) {
        m_event_register = true;
        m_wake.notify();
    }
    m_sev_armed = true;
    next_trigger(sev->posedge_event());
}

void cpu::invalidate_dmi(sc_dt::uint64 start, sc_dt::uint64 end) {
    if (m_dmi_valid && start <= m_dmi.get_end_address() && end >= m_dmi.get_start_address())
        m_dmi_valid = false;
}

void cpu::sync() {
    if (!m_in_job)
        return;
    if (m_keeper.get_local_time() != SC_ZERO_TIME) {
        ++m_stats.syncs;
        m_keeper.sync();
    } else {
        m_keeper.reset();
    }
}

void cpu::advance(const sc_time& t) {
    if (!m_in_job)
        return;
    m_keeper.inc(t);
    if (m_keeper.need_sync())
        sync();
}

std::uint64_t cpu::mmio_access(::tlm::tlm_command cmd, std::uint64_t offset, unsigned len,
                               std::uint64_t value) {
    const bool read = cmd == ::tlm::TLM_READ_COMMAND;
    ++(read ? m_stats.mmio_reads : m_stats.mmio_writes);
    sync();
    // A read samples the register when the request reaches it, half way
    // through its round trip; a posted write takes effect when it is issued.
    const sc_time request_leg = read ? m_mmio_read / 2 : SC_ZERO_TIME;
    if (m_in_job && request_leg != SC_ZERO_TIME) {
        m_keeper.inc(request_leg);
        sync();
    }
    unsigned char data[8] = {};
    std::memcpy(data, &value, len); // little-endian host, little-endian registers
    ::tlm::tlm_generic_payload& gp = m_payload;
    gp.set_command(cmd);
    gp.set_address(m_params.mmio_base + offset);
    gp.set_data_ptr(data);
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_byte_enable_ptr(nullptr);
    gp.set_byte_enable_length(0);
    gp.set_dmi_allowed(false);
    gp.set_response_status(::tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time delay = SC_ZERO_TIME;
    mmio->b_transport(gp, delay);
    std::uint64_t result = 0;
    if (gp.is_response_error())
        ++m_stats.mmio_errors;
    else if (read)
        std::memcpy(&result, data, len);
    advance(delay + (read ? m_mmio_read - request_leg : m_mmio_write));
    sync();
    return result;
}

bool cpu::dmi_access(::tlm::tlm_command cmd, std::uint64_t pa, unsigned char* data,
                     std::size_t len) {
    if (!m_dmi_valid)
        return false;
    const bool read = cmd == ::tlm::TLM_READ_COMMAND;
    if (read ? !m_dmi.is_read_allowed() : !m_dmi.is_write_allowed())
        return false;
    const std::uint64_t start = m_dmi.get_start_address();
    const std::uint64_t end = m_dmi.get_end_address();
    if (pa < start || pa > end || len - 1 > end - pa)
        return false;
    unsigned char* const mem_ptr = m_dmi.get_dmi_ptr() + (pa - start);
    if (read)
        std::memcpy(data, mem_ptr, len);
    else
        std::memcpy(mem_ptr, data, len);
    ++m_stats.dmi_accesses;
    if (m_params.cached_memory)
        advance(m_mem_access);
    else
        advance(read ? m_dmi.get_read_latency() : m_dmi.get_write_latency());
    return true;
}

void cpu::transport_access(::tlm::tlm_command cmd, std::uint64_t pa, unsigned char* data,
                           unsigned len) {
    ::tlm::tlm_generic_payload& gp = m_payload;
    gp.set_command(cmd);
    gp.set_address(pa);
    gp.set_data_ptr(data);
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_byte_enable_ptr(nullptr);
    gp.set_byte_enable_length(0);
    gp.set_dmi_allowed(false);
    gp.set_response_status(::tlm::TLM_INCOMPLETE_RESPONSE);
    const sc_time local = m_in_job ? m_keeper.get_local_time() : SC_ZERO_TIME;
    const sc_time issued = sc_core::sc_time_stamp() + local;
    sc_time delay = local;
    mem->b_transport(gp, delay);
    if (gp.is_response_error()) {
        ++m_stats.mem_errors;
        if (cmd == ::tlm::TLM_READ_COMMAND)
            std::memset(data, 0, len);
    }
    // Outside a job the access is untimed: it happens, its time is nobody's.
    if (m_in_job && m_params.cached_memory) {
        // The target's latency is not the CPU's: a cache hit is. If the target
        // waited, simulated time may already be past the hit's completion.
        const sc_time done = issued + m_mem_access;
        const sc_time now = sc_core::sc_time_stamp();
        m_keeper.set(done > now ? done - now : SC_ZERO_TIME);
    } else if (m_in_job) {
        m_keeper.set(delay);
    }
    if (m_params.use_dmi && !m_dmi_valid && !gp.is_response_error() && gp.is_dmi_allowed()) {
        ::tlm::tlm_dmi dmi;
        gp.set_address(pa);
        if (mem->get_direct_mem_ptr(gp, dmi) && dmi.get_dmi_ptr() != nullptr) {
            m_dmi = dmi;
            m_dmi_valid = true;
        }
    }
    if (m_in_job && m_keeper.need_sync())
        sync();
}

void cpu::mem_access(::tlm::tlm_command cmd, std::uint64_t pa, unsigned char* data,
                     std::size_t len) {
    if (len == 0)
        return;
    ++(cmd == ::tlm::TLM_READ_COMMAND ? m_stats.mem_reads : m_stats.mem_writes);
    m_stats.mem_bytes += len;
    if (dmi_access(cmd, pa, data, len))
        return;
    while (len != 0) {
        const std::size_t chunk = std::min(len, max_transaction_bytes);
        transport_access(cmd, pa, data, static_cast<unsigned>(chunk));
        pa += chunk;
        data += chunk;
        len -= chunk;
    }
}

std::optional<std::uint64_t> cpu::alloc_dma(std::size_t bytes, std::size_t align) {
    const std::optional<std::uint64_t> pa = m_dma.allocate(bytes, align);
    if (!pa) {
        ++m_stats.dma_alloc_failures;
        return std::nullopt;
    }
    ++m_stats.dma_allocs;
    zero(*pa, bytes);
    return pa;
}

void cpu::free_dma(std::uint64_t pa) {
    if (m_dma.release(pa))
        ++m_stats.dma_frees;
    else
        ++m_stats.dma_bad_frees;
}

// Zeroing uses debug transport: it is the allocator's work, not the driver's
// timed path (Linux zeroes DMA memory when it is allocated, outside the
// operations the cost model calibrates). A target without debug transport
// gets timed writes instead.
void cpu::zero(std::uint64_t pa, std::uint64_t bytes) {
    static unsigned char zeros[4096] = {};
    ::tlm::tlm_generic_payload gp;
    while (bytes != 0) {
        const auto chunk = static_cast<unsigned>(std::min<std::uint64_t>(bytes, sizeof zeros));
        gp.set_command(::tlm::TLM_WRITE_COMMAND);
        gp.set_address(pa);
        gp.set_data_ptr(zeros);
        gp.set_data_length(chunk);
        gp.set_streaming_width(chunk);
        gp.set_byte_enable_ptr(nullptr);
        gp.set_byte_enable_length(0);
        if (mem->transport_dbg(gp) < chunk)
            transport_access(::tlm::TLM_WRITE_COMMAND, pa, zeros, chunk);
        pa += chunk;
        bytes -= chunk;
    }
}

void cpu::poll_pause(bool wfe) {
    if (!m_in_job)
        return;
    if (!wfe) {
        ++m_stats.poll_pauses;
        m_keeper.inc(m_poll_interval);
        sync(); // a polling loop waits for another agent: let it run
        return;
    }
    ++m_stats.wfe_waits;
    sync();
    if (m_event_register) {
        // WFE with the event register set clears it and does not sleep.
        m_event_register = false;
        ++m_stats.wfe_immediate;
        return;
    }
    if (sev.size() != 0)
        wait(m_wfe_timeout, m_wake);
    else
        wait(m_wfe_timeout);
    if (m_event_register) {
        m_event_register = false;
        ++m_stats.wfe_sev_wakes;
    } else {
        ++m_stats.wfe_timeouts;
    }
    advance(m_wfe_wakeup);
}

std::uint64_t cpu::now_ns() const {
    const sc_time t = sc_core::sc_time_stamp() + m_keeper.get_local_time();
    return t.value() / sc_time(1, SC_NS).value();
}

void cpu::charge(cpu_op op, unsigned count) {
    const auto i = static_cast<std::size_t>(op);
    if (i >= cpu_op_count || count == 0)
        return;
    m_stats.charges[i] += count;
    advance(m_op_cost[i] * static_cast<double>(count));
}

} // namespace smmu::driver::host
