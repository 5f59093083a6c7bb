#include "tests/unit/driver/fake_smmu_hw.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace smmu::driver {

namespace {

constexpr std::uint64_t page_size = 4096;

std::uint32_t bits(arch::field f) {
    return static_cast<std::uint32_t>(f.mask());
}

const char* cs_name(arch::sync_cs cs) {
    switch (cs) {
    case arch::sync_cs::none:
        return "none";
    case arch::sync_cs::irq:
        return "irq";
    case arch::sync_cs::sev:
        return "sev";
    case arch::sync_cs::reserved:
        break;
    }
    return "reserved";
}

} // namespace

arch::feature_set fake_smmu_default_features() {
    arch::feature_set f;
    f.cmdq_log2 = 8;
    f.eventq_log2 = 4;
    return f;
}

fake_smmu_hw::fake_smmu_hw(const arch::feature_set& f)
    : m_features(f) {
    const arch::id_registers idr = arch::encode_id_registers(f);
    m_regs[arch::reg::idr0] = idr.idr0;
    m_regs[arch::reg::idr1] = idr.idr1;
    m_regs[arch::reg::idr3] = idr.idr3;
    m_regs[arch::reg::idr5] = idr.idr5;
    m_regs[arch::reg::gbpa] = gbpa_reset;
    m_decode.s1p = f.s1p;
    m_decode.s2p = f.s2p;
    m_decode.hyp = f.hyp;
    m_decode.ats = f.ats;
    m_decode.ril = f.ril;
    m_decode.pri = f.pri;
    m_decode.stall = f.stalls != arch::stall_model::terminate_only;
    m_decode.ds = f.ds;
}

// --- memory -----------------------------------------------------------------------

std::uint8_t* fake_smmu_hw::page(std::uint64_t pa) {
    auto [it, inserted] = m_pages.try_emplace(pa / page_size);
    if (inserted)
        it->second.fill(0);
    return it->second.data();
}

void fake_smmu_hw::write_mem(std::uint64_t pa, const void* src, std::size_t len) {
    const auto* s = static_cast<const std::uint8_t*>(src);
    while (len > 0) {
        const std::size_t off = pa % page_size;
        const std::size_t n = std::min<std::size_t>(len, page_size - off);
        std::memcpy(page(pa) + off, s, n);
        pa += n;
        s += n;
        len -= n;
    }
}

void fake_smmu_hw::read_mem(std::uint64_t pa, void* dst, std::size_t len) const {
    auto* d = static_cast<std::uint8_t*>(dst);
    while (len > 0) {
        const std::size_t off = pa % page_size;
        const std::size_t n = std::min<std::size_t>(len, page_size - off);
        const auto it = m_pages.find(pa / page_size);
        if (it == m_pages.end())
            std::memset(d, 0, n);
        else
            std::memcpy(d, it->second.data() + off, n);
        pa += n;
        d += n;
        len -= n;
    }
}

void fake_smmu_hw::mem_read(std::uint64_t pa, void* dst, std::size_t len) {
    lock g(m_mu);
    read_mem(pa, dst, len);
}

void fake_smmu_hw::mem_write(std::uint64_t pa, const void* src, std::size_t len) {
    lock g(m_mu);
    write_mem(pa, src, len);
    fake_smmu_trace t;
    t.what = fake_smmu_trace::kind::mem_write;
    t.addr = pa;
    t.bytes = len;
    std::memcpy(&t.value, src, std::min<std::size_t>(len, 8));
    record(t);
}

std::optional<std::uint64_t> fake_smmu_hw::alloc_dma(std::size_t bytes, std::size_t align) {
    lock g(m_mu);
    if (bytes > m_max_alloc)
        return std::nullopt;
    if (m_allocs_left) {
        if (*m_allocs_left == 0)
            return std::nullopt;
        --*m_allocs_left;
    }
    const std::uint64_t a = std::max<std::uint64_t>(align, 1);
    const std::uint64_t pa = (m_next_pa + a - 1) / a * a;
    m_next_pa = pa + bytes;
    m_live[pa] = bytes;
    ++m_alloc_count;
    for (std::uint64_t p = pa / page_size; p * page_size < pa + bytes; ++p)
        m_pages.erase(p); // fresh allocations read as zero
    return pa;
}

void fake_smmu_hw::free_dma(std::uint64_t pa, std::size_t bytes) {
    lock g(m_mu);
    const auto it = m_live.find(pa);
    if (it != m_live.end() && it->second == bytes)
        m_live.erase(it);
}

void fake_smmu_hw::barrier() {
    lock g(m_mu);
    record({fake_smmu_trace::kind::barrier, 0, 0, 0, {}});
}

void fake_smmu_hw::poll_pause(bool wfe) {
    {
        lock g(m_mu);
        m_time += m_pause_ns;
        ++m_pauses;
        if (wfe)
            ++m_wfe_pauses;
        consume(m_per_step);
    }
    std::this_thread::yield();
}

std::uint64_t fake_smmu_hw::now_ns() {
    lock g(m_mu);
    return m_time;
}

void fake_smmu_hw::charge(cpu_op op, unsigned count) {
    lock g(m_mu);
    m_charges[static_cast<std::size_t>(op)] += count;
}

// --- registers ---------------------------------------------------------------------

std::uint32_t fake_smmu_hw::mmio_read32(std::uint64_t offset) {
    lock g(m_mu);
    ++m_reads[offset];
    switch (offset) {
    case arch::reg::cmdq_cons:
        consume(m_per_step);
        return cmdq_cons_reg();
    case arch::reg::eventq_prod:
        return m_evtq_prod;
    default:
        break;
    }
    if (arch::is_64bit_register(offset))
        return static_cast<std::uint32_t>(m_regs[offset]);
    if (arch::is_64bit_register(offset - 4))
        return static_cast<std::uint32_t>(m_regs[offset - 4] >> 32);
    return static_cast<std::uint32_t>(m_regs[offset]);
}

std::uint64_t fake_smmu_hw::mmio_read64(std::uint64_t offset) {
    lock g(m_mu);
    ++m_reads[offset];
    return m_regs[offset];
}

void fake_smmu_hw::mmio_write32(std::uint64_t offset, std::uint32_t value) {
    lock g(m_mu);
    record({fake_smmu_trace::kind::mmio_write, offset, value, 4, {}});
    switch (offset) {
    case arch::reg::cr0:
        m_regs[offset] = value;
        if (!m_cr0_ack_stuck)
            m_regs[arch::reg::cr0ack] = value & arch::cr0::writable_mask;
        return;
    case arch::reg::irq_ctrl:
        m_regs[offset] = value;
        if (!m_irq_ack_stuck)
            m_regs[arch::reg::irq_ctrlack] = value & arch::irq_ctrl::writable_mask;
        return;
    case arch::reg::gbpa:
        m_regs[offset] = (m_gbpa_stuck ? value : value & ~bits(arch::gbpa::update));
        return;
    case arch::reg::gerrorn: {
        const bool was_active = cmdq_error_active();
        m_regs[offset] = value;
        if (was_active && !cmdq_error_active() && m_consume_on_prod)
            consume(~0u);
        return;
    }
    case arch::reg::cmdq_prod:
        m_regs[offset] = value & arch::queue_ptr::wrap_index_mask;
        if (m_consume_on_prod)
            consume(~0u);
        return;
    case arch::reg::cmdq_cons:
        m_cmdq_cons = value & arch::queue_ptr::wrap_index_mask;
        m_cmdq_err = static_cast<std::uint32_t>(arch::queue_ptr::cmdq_err.get(value));
        return;
    case arch::reg::eventq_prod:
        m_evtq_prod = value;
        return;
    default:
        m_regs[offset] = value;
        return;
    }
}

void fake_smmu_hw::mmio_write64(std::uint64_t offset, std::uint64_t value) {
    lock g(m_mu);
    record({fake_smmu_trace::kind::mmio_write, offset, value, 8, {}});
    m_regs[offset] = value;
}

// --- command consumer ----------------------------------------------------------------

bool fake_smmu_hw::cmdq_error_active() const {
    const auto get = [this](std::uint64_t off) {
        const auto it = m_regs.find(off);
        return it == m_regs.end() ? std::uint64_t{0} : it->second;
    };
    return ((get(arch::reg::gerror) ^ get(arch::reg::gerrorn)) & bits(arch::gerror::cmdq_err)) != 0;
}

void fake_smmu_hw::raise_gerror(std::uint32_t bit) {
    m_regs[arch::reg::gerror] ^= bit;
    record({fake_smmu_trace::kind::gerror, arch::reg::gerror, m_regs[arch::reg::gerror], 4, {}});
    if (m_gerror_hook)
        m_gerror_hook();
}

void fake_smmu_hw::consume(unsigned budget) {
    if (m_in_consumer || m_stalled)
        return;
    if ((m_regs[arch::reg::cr0ack] & bits(arch::cr0::cmdqen)) == 0)
        return;
    m_in_consumer = true;
    while (budget > 0 && !cmdq_error_active()) {
        const arch::queue_config q =
            arch::decode_queue_base(m_regs[arch::reg::cmdq_base], m_features.cmdq_log2, 16);
        const arch::queue_ptr_math math(q.log2size);
        const auto prod = static_cast<std::uint32_t>(m_regs[arch::reg::cmdq_prod]);
        if (math.empty(prod, m_cmdq_cons))
            break;
        const std::uint32_t index = math.index(m_cmdq_cons);
        std::uint64_t raw[2];
        read_mem(q.entry_address(index), raw, sizeof raw);
        const arch::command_decode_result d = arch::decode_command({raw[0], raw[1]}, m_decode);
        arch::cmdq_error err = d.error;
        if (m_injection && d.cmd.op == m_injection->first) {
            err = m_injection->second;
            m_injection.reset();
        }
        if (err != arch::cmdq_error::none) {
            m_cmdq_err = static_cast<std::uint32_t>(err);
            raise_gerror(bits(arch::gerror::cmdq_err)); // the hook may recover at once
            continue;
        }
        fake_smmu_trace t;
        t.what = fake_smmu_trace::kind::command;
        t.addr = index;
        t.cmd = d.cmd;
        record(t);
        if (d.cmd.op == arch::opcode::sync) {
            if (d.cmd.cs == arch::sync_cs::irq && d.cmd.msi_addr != 0) {
                std::uint8_t data[4];
                std::memcpy(data, &d.cmd.msi_data, 4);
                write_mem(d.cmd.msi_addr, data, 4);
                record({fake_smmu_trace::kind::msi, d.cmd.msi_addr, d.cmd.msi_data, 4, {}});
            } else if (d.cmd.cs == arch::sync_cs::sev) {
                ++m_sevs;
            }
        }
        m_cmdq_cons = math.advance(m_cmdq_cons);
        --budget;
    }
    m_in_consumer = false;
}

std::uint32_t fake_smmu_hw::cmdq_cons_reg() const {
    lock g(m_mu);
    return static_cast<std::uint32_t>(arch::queue_ptr::cmdq_err.set(m_cmdq_cons, m_cmdq_err));
}

// --- events ----------------------------------------------------------------------------

bool fake_smmu_hw::push_event(const arch::event_record& e) {
    lock g(m_mu);
    if ((m_regs[arch::reg::cr0ack] & bits(arch::cr0::eventqen)) == 0)
        return false;
    const arch::queue_config q =
        arch::decode_queue_base(m_regs[arch::reg::eventq_base], m_features.eventq_log2, 32);
    const arch::queue_ptr_math math(q.log2size);
    const std::uint32_t ovf = bits(arch::queue_ptr::overflow);
    const auto cons = static_cast<std::uint32_t>(m_regs[arch::reg::eventq_cons]);
    if (math.full(m_evtq_prod, cons)) {
        if ((m_evtq_prod & ovf) == (cons & ovf))
            m_evtq_prod ^= ovf;
        return false;
    }
    const arch::event_words w = arch::encode_event(e);
    write_mem(q.entry_address(math.index(m_evtq_prod)), w.data(), sizeof w);
    m_evtq_prod = math.advance(m_evtq_prod) | (m_evtq_prod & ovf);
    return true;
}

// --- knobs ---------------------------------------------------------------------------

void fake_smmu_hw::set_register(std::uint64_t offset, std::uint64_t value) {
    lock g(m_mu);
    m_regs[offset] = value;
}
void fake_smmu_hw::set_cr0_ack_stuck(bool stuck) {
    lock g(m_mu);
    m_cr0_ack_stuck = stuck;
}
void fake_smmu_hw::set_irq_ack_stuck(bool stuck) {
    lock g(m_mu);
    m_irq_ack_stuck = stuck;
}
void fake_smmu_hw::set_gbpa_stuck(bool stuck) {
    lock g(m_mu);
    m_gbpa_stuck = stuck;
}
void fake_smmu_hw::set_consume_on_prod_write(bool on) {
    lock g(m_mu);
    m_consume_on_prod = on;
}
void fake_smmu_hw::set_consume_per_step(unsigned n) {
    lock g(m_mu);
    m_per_step = n;
}
void fake_smmu_hw::set_cmdq_stalled(bool stalled) {
    lock g(m_mu);
    m_stalled = stalled;
}
void fake_smmu_hw::inject_cmdq_error(arch::opcode op, arch::cmdq_error err) {
    lock g(m_mu);
    m_injection = std::make_pair(op, err);
}
void fake_smmu_hw::set_gerror_hook(std::function<void()> hook) {
    lock g(m_mu);
    m_gerror_hook = std::move(hook);
}
void fake_smmu_hw::fail_allocations_after(unsigned n) {
    lock g(m_mu);
    m_allocs_left = n;
}
void fake_smmu_hw::set_max_allocation(std::size_t bytes) {
    lock g(m_mu);
    m_max_alloc = bytes;
}
void fake_smmu_hw::set_poll_pause_ns(std::uint64_t ns) {
    lock g(m_mu);
    m_pause_ns = ns;
}

// --- observation -----------------------------------------------------------------------

void fake_smmu_hw::record(fake_smmu_trace t) {
    m_trace.push_back(t);
}

std::vector<fake_smmu_trace> fake_smmu_hw::trace() const {
    lock g(m_mu);
    return m_trace;
}

void fake_smmu_hw::clear_trace() {
    lock g(m_mu);
    m_trace.clear();
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> fake_smmu_hw::mmio_writes() const {
    lock g(m_mu);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> r;
    for (const fake_smmu_trace& t : m_trace)
        if (t.what == fake_smmu_trace::kind::mmio_write)
            r.emplace_back(t.addr, t.value);
    return r;
}

std::vector<arch::command> fake_smmu_hw::consumed_commands() const {
    lock g(m_mu);
    std::vector<arch::command> r;
    for (const fake_smmu_trace& t : m_trace)
        if (t.what == fake_smmu_trace::kind::command)
            r.push_back(t.cmd);
    return r;
}

std::uint64_t fake_smmu_hw::reg(std::uint64_t offset) const {
    lock g(m_mu);
    if (offset == arch::reg::cmdq_cons)
        return cmdq_cons_reg();
    if (offset == arch::reg::eventq_prod)
        return m_evtq_prod;
    const auto it = m_regs.find(offset);
    return it == m_regs.end() ? 0 : it->second;
}

std::uint64_t fake_smmu_hw::peek64(std::uint64_t pa) const {
    lock g(m_mu);
    std::uint64_t v = 0;
    read_mem(pa, &v, sizeof v);
    return v;
}

std::uint32_t fake_smmu_hw::peek32(std::uint64_t pa) const {
    lock g(m_mu);
    std::uint32_t v = 0;
    read_mem(pa, &v, sizeof v);
    return v;
}

unsigned fake_smmu_hw::charges(cpu_op op) const {
    lock g(m_mu);
    return m_charges[static_cast<std::size_t>(op)];
}

unsigned fake_smmu_hw::poll_pauses(bool wfe) const {
    lock g(m_mu);
    return wfe ? m_wfe_pauses : m_pauses;
}

unsigned fake_smmu_hw::mmio_reads(std::uint64_t offset) const {
    lock g(m_mu);
    const auto it = m_reads.find(offset);
    return it == m_reads.end() ? 0 : it->second;
}

unsigned fake_smmu_hw::sev_signals() const {
    lock g(m_mu);
    return m_sevs;
}

std::size_t fake_smmu_hw::live_allocations() const {
    lock g(m_mu);
    return m_live.size();
}

std::size_t fake_smmu_hw::allocation_count() const {
    lock g(m_mu);
    return m_alloc_count;
}

std::string fake_smmu_hw::describe(const fake_smmu_trace& t) {
    switch (t.what) {
    case fake_smmu_trace::kind::mmio_write:
        return fmt::format("mmio {:#x} <- {:#x}", t.addr, t.value);
    case fake_smmu_trace::kind::mem_write:
        if (t.bytes == 8)
            return fmt::format("mem {:#x} <- {:#x}", t.addr, t.value);
        return fmt::format("mem {:#x} [{} bytes]", t.addr, t.bytes);
    case fake_smmu_trace::kind::barrier:
        return "barrier";
    case fake_smmu_trace::kind::msi:
        return fmt::format("msi {:#x} <- {:#x}", t.addr, t.value);
    case fake_smmu_trace::kind::gerror:
        return fmt::format("gerror {:#x}", t.value);
    case fake_smmu_trace::kind::command:
        break;
    }
    const arch::command& c = t.cmd;
    switch (c.op) {
    case arch::opcode::cfgi_ste:
        return fmt::format("CMD_CFGI_STE sid={:#x} leaf={}", c.sid, c.leaf ? 1 : 0);
    case arch::opcode::cfgi_ste_range:
        if (arch::is_cfgi_all(c))
            return "CMD_CFGI_ALL";
        return fmt::format("CMD_CFGI_STE_RANGE sid={:#x} range={}", c.sid, c.ste_range);
    case arch::opcode::cfgi_cd:
        return fmt::format("CMD_CFGI_CD sid={:#x} ssid={:#x} leaf={}", c.sid, c.ssid,
                           c.leaf ? 1 : 0);
    case arch::opcode::sync:
        if (c.cs == arch::sync_cs::irq)
            return fmt::format("CMD_SYNC cs=irq msi={:#x} data={:#x}", c.msi_addr, c.msi_data);
        return fmt::format("CMD_SYNC cs={}", cs_name(c.cs));
    default:
        return arch::opcode_name(c.op);
    }
}

} // namespace smmu::driver
