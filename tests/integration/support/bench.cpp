#include "tests/integration/support/bench.h"

#include <cstring>
#include <ostream>
#include <stdexcept>

namespace smmu::test {

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;

// ---------------------------------------------------------------- initiator

initiator::initiator(const sc_core::sc_module_name& name)
    : sc_core::sc_module(name)
    , socket("socket") {
    socket.register_invalidate_direct_mem_ptr(this, &initiator::invalidate_dmi);
}

dma_result initiator::access(tlm::tlm_command cmd, std::uint64_t addr, void* data, unsigned len,
                             const dma_attrs& attrs, bool wait_for_delay) {
    tlm::tlm_generic_payload gp;
    gp.set_command(cmd);
    gp.set_address(addr);
    gp.set_data_ptr(static_cast<unsigned char*>(data));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    tlm_ext::smmu_extension ext;
    ext.stream_id = attrs.sid;
    ext.substream_id = attrs.ssid;
    ext.privileged = attrs.privileged;
    ext.instruction = attrs.instruction;
    ext.ats = attrs.ats;
    tlm_ext::scoped_smmu_extension scoped(gp, ext);
    sc_time delay = SC_ZERO_TIME;
    socket->b_transport(gp, delay);
    if (wait_for_delay)
        wait(delay);
    m_status = gp.get_response_status();
    return dma_result{m_status, delay};
}

dma_result initiator::write(std::uint64_t addr, const void* data, unsigned len,
                            const dma_attrs& attrs) {
    std::vector<unsigned char> copy(static_cast<const unsigned char*>(data),
                                    static_cast<const unsigned char*>(data) + len);
    return access(tlm::TLM_WRITE_COMMAND, addr, copy.data(), len, attrs);
}

std::uint32_t initiator::read32(std::uint64_t addr) {
    std::uint32_t v = 0;
    access(tlm::TLM_READ_COMMAND, addr, &v, 4);
    return v;
}

std::uint64_t initiator::read64(std::uint64_t addr) {
    std::uint64_t v = 0;
    access(tlm::TLM_READ_COMMAND, addr, &v, 8);
    return v;
}

void initiator::write32(std::uint64_t addr, std::uint32_t value) {
    access(tlm::TLM_WRITE_COMMAND, addr, &value, 4);
}

void initiator::write64(std::uint64_t addr, std::uint64_t value) {
    access(tlm::TLM_WRITE_COMMAND, addr, &value, 8);
}

unsigned initiator::debug_read(std::uint64_t addr, void* data, unsigned len,
                               const dma_attrs& attrs) {
    tlm::tlm_generic_payload gp;
    gp.set_command(tlm::TLM_READ_COMMAND);
    gp.set_address(addr);
    gp.set_data_ptr(static_cast<unsigned char*>(data));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    tlm_ext::smmu_extension ext;
    ext.stream_id = attrs.sid;
    ext.substream_id = attrs.ssid;
    ext.privileged = attrs.privileged;
    ext.instruction = attrs.instruction;
    ext.ats = attrs.ats;
    tlm_ext::scoped_smmu_extension scoped(gp, ext);
    return socket->transport_dbg(gp);
}

std::optional<tlm_ext::translation_completion>
initiator::translation_request(const tlm_ext::translation_request& req) {
    tlm::tlm_generic_payload gp;
    gp.set_command(tlm::TLM_IGNORE_COMMAND);
    gp.set_address(req.address);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    tlm_ext::smmu_extension side;
    side.stream_id = req.stream_id;
    side.ats = tlm_ext::ats_type::translation_request;
    tlm_ext::scoped_smmu_extension scoped_side(gp, side);
    tlm_ext::ats_extension ext{req};
    tlm_ext::scoped_extension<tlm_ext::ats_extension> scoped(gp, ext);
    sc_time delay = SC_ZERO_TIME;
    socket->b_transport(gp, delay);
    wait(delay);
    m_status = gp.get_response_status();
    if (const auto* c = scoped.get().get<tlm_ext::translation_completion>())
        return *c;
    return std::nullopt;
}

dma_result initiator::transport(tlm::tlm_generic_payload& gp) {
    sc_time delay = SC_ZERO_TIME;
    socket->b_transport(gp, delay);
    wait(delay);
    m_status = gp.get_response_status();
    return dma_result{m_status, delay};
}

unsigned initiator::transport_dbg(tlm::tlm_generic_payload& gp) {
    return socket->transport_dbg(gp);
}

bool initiator::request_dmi(std::uint64_t addr, tlm::tlm_dmi& dmi, const dma_attrs& attrs,
                            tlm::tlm_command cmd) {
    tlm::tlm_generic_payload gp;
    gp.set_command(cmd);
    gp.set_address(addr);
    tlm_ext::smmu_extension ext;
    ext.stream_id = attrs.sid;
    ext.substream_id = attrs.ssid;
    ext.privileged = attrs.privileged;
    ext.instruction = attrs.instruction;
    ext.ats = attrs.ats;
    tlm_ext::scoped_smmu_extension scoped(gp, ext);
    return socket->get_direct_mem_ptr(gp, dmi);
}

// ---------------------------------------------------------------- ATS port

ats_port::ats_port(const sc_core::sc_module_name& name)
    : sc_core::sc_module(name)
    , to_smmu("to_smmu")
    , from_smmu("from_smmu") {
    from_smmu.register_b_transport(this, &ats_port::b_transport);
    SC_HAS_PROCESS(ats_port);
    SC_THREAD(auto_completer);
}

tlm_ext::translation_completion ats_port::translate(const tlm_ext::translation_request& req) {
    tlm::tlm_generic_payload gp;
    gp.set_command(tlm::TLM_IGNORE_COMMAND);
    gp.set_address(req.address);
    tlm_ext::ats_extension ext{req};
    tlm_ext::scoped_extension<tlm_ext::ats_extension> scoped(gp, ext);
    sc_time delay = SC_ZERO_TIME;
    to_smmu->b_transport(gp, delay);
    wait(delay);
    if (const auto* c = scoped.get().get<tlm_ext::translation_completion>())
        return *c;
    tlm_ext::translation_completion none;
    none.status = tlm_ext::ats_status::completer_abort;
    return none;
}

void ats_port::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    auto* ext = trans.get_extension<tlm_ext::ats_extension>();
    const auto* req = ext != nullptr ? ext->get<tlm_ext::invalidation_request>() : nullptr;
    if (req == nullptr) {
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    m_received.push_back(*req);
    m_received_at.push_back(sc_core::sc_time_stamp() + delay);
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    if (inline_completion) {
        tlm_ext::invalidation_completion done;
        done.stream_id = req->stream_id;
        done.itag_vector = 1u << req->itag;
        ext->message = done;
        delay += *inline_completion;
        return;
    }
    m_pending.push_back(*req);
    m_new_request.notify(SC_ZERO_TIME);
}

void ats_port::send_completion(std::uint32_t sid, std::uint32_t itags) {
    tlm_ext::invalidation_completion done;
    done.stream_id = sid;
    done.itag_vector = itags;
    tlm::tlm_generic_payload gp;
    gp.set_command(tlm::TLM_IGNORE_COMMAND);
    tlm_ext::ats_extension ext{done};
    tlm_ext::scoped_extension<tlm_ext::ats_extension> scoped(gp, ext);
    sc_time delay = SC_ZERO_TIME;
    to_smmu->b_transport(gp, delay);
}

void ats_port::complete_invalidations(std::uint32_t sid) {
    std::uint32_t itags = 0;
    for (auto it = m_pending.begin(); it != m_pending.end();) {
        if (it->stream_id == sid) {
            itags |= 1u << it->itag;
            it = m_pending.erase(it);
        } else {
            ++it;
        }
    }
    if (itags != 0)
        send_completion(sid, itags);
}

void ats_port::auto_completer() {
    for (;;) {
        wait(m_new_request);
        if (!auto_complete)
            continue;
        wait(*auto_complete);
        std::vector<std::uint32_t> sids;
        for (const auto& r : m_pending)
            sids.push_back(r.stream_id);
        for (std::uint32_t sid : sids)
            complete_invalidations(sid);
    }
}

// ---------------------------------------------------------------- router

class bench::router : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<router> in;
    tlm_utils::simple_initiator_socket<router> to_smmu;
    tlm_utils::simple_initiator_socket<router> to_memory;

    router(const sc_core::sc_module_name& name, std::uint64_t smmu_base)
        : sc_core::sc_module(name)
        , in("in")
        , to_smmu("to_smmu")
        , to_memory("to_memory")
        , m_smmu_base(smmu_base) {
        in.register_b_transport(this, &router::b_transport);
        in.register_transport_dbg(this, &router::transport_dbg);
    }

private:
    /// The SMMU's window: its two register pages and two more it does not decode.
    static constexpr std::uint64_t window = 4 * arch::reg_page_size;

    void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
        const std::uint64_t addr = trans.get_address();
        if (addr >= m_smmu_base && addr - m_smmu_base < window) {
            trans.set_address(addr - m_smmu_base);
            to_smmu->b_transport(trans, delay);
            trans.set_address(addr);
        } else {
            to_memory->b_transport(trans, delay);
        }
    }
    unsigned transport_dbg(tlm::tlm_generic_payload& trans) {
        const std::uint64_t addr = trans.get_address();
        if (addr >= m_smmu_base && addr - m_smmu_base < window) {
            trans.set_address(addr - m_smmu_base);
            const unsigned n = to_smmu->transport_dbg(trans);
            trans.set_address(addr);
            return n;
        }
        return to_memory->transport_dbg(trans);
    }
    std::uint64_t m_smmu_base;
};

// ---------------------------------------------------------------- tables

table_writer::table_writer(platform::memory& mem, std::uint64_t pool_start)
    : m_mem(mem)
    , m_next(pool_start) {}

std::uint64_t table_writer::alloc(std::uint64_t bytes, std::uint64_t align) {
    m_next = (m_next + align - 1) & ~(align - 1);
    const std::uint64_t at = m_next;
    m_next += bytes;
    if (!m_mem.contains(at, bytes))
        throw std::runtime_error("table_writer: out of memory");
    m_mem.fill(at, bytes, 0);
    return at;
}

void table_writer::write_ste(std::uint64_t strtab, std::uint32_t sid, const arch::ste& s) {
    m_mem.write_words(strtab + 64ull * sid, arch::encode_ste(s));
}

void table_writer::write_cd(std::uint64_t addr, const arch::cd& c) {
    m_mem.write_words(addr, arch::encode_cd(c));
}

table_writer::page_table::page_table(table_writer& w, int start_level, unsigned ia_bits)
    : m_w(w)
    , m_start(start_level)
    , m_ia_bits(ia_bits) {
    const unsigned root_shift = 12u + 9u * static_cast<unsigned>(3 - start_level);
    const std::uint64_t root_bytes = 8ull << (ia_bits - root_shift);
    m_root = w.alloc(root_bytes < 4096 ? 4096 : root_bytes, root_bytes < 4096 ? 4096 : root_bytes);
}

std::uint64_t table_writer::page_table::slot(std::uint64_t ia, int level) {
    std::uint64_t table = m_root;
    for (int l = m_start;; ++l) {
        const unsigned shift = 12u + 9u * static_cast<unsigned>(3 - l);
        const unsigned width = l == m_start ? m_ia_bits - shift : 9u;
        const std::uint64_t at = table + 8 * ((ia >> shift) & ((1ull << width) - 1));
        if (l == level)
            return at;
        std::uint64_t d = m_w.mem().read64(at);
        if ((d & 3) != 3) {
            d = m_w.alloc(4096) | 3;
            m_w.mem().write64(at, d);
        }
        table = d & 0x0000fffffffff000ull;
    }
}

void table_writer::page_table::map(std::uint64_t ia, std::uint64_t oa, std::uint64_t attrs,
                                   int level) {
    m_w.mem().write64(slot(ia, level), oa | attrs | (level == 3 ? 3u : 1u));
}

void table_writer::page_table::unmap(std::uint64_t ia, int level) {
    m_w.mem().write64(slot(ia, level), 0);
}

// ---------------------------------------------------------------- structures

arch::cd make_s1_cd(std::uint64_t ttb0, std::uint16_t asid) {
    arch::cd c;
    c.v = true;
    c.aa64 = true;
    c.t0sz = 16;
    c.tg0 = arch::tg0_encoding::size_4k;
    c.epd1 = true;
    c.ips = arch::pa_size_encoding::bits_48;
    c.asid = asid;
    c.r = true;
    c.a = true;
    c.aset = true;
    c.ttb0 = ttb0;
    return c;
}

arch::ste make_s1_ste(std::uint64_t cd, std::uint16_t vmid) {
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::s1_translate;
    s.s1_context_ptr = cd;
    s.s2_vmid = vmid;
    return s;
}

arch::ste make_s2_ste(std::uint64_t s2ttb, std::uint16_t vmid) {
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::s2_translate;
    s.s2_vmid = vmid;
    s.s2_t0sz = 16;
    s.s2_sl0 = 2;
    s.s2_tg = arch::tg0_encoding::size_4k;
    s.s2_ps = arch::pa_size_encoding::bits_48;
    s.s2_aa64 = true;
    s.s2_r = true;
    s.s2_ttb = s2ttb;
    return s;
}

arch::ste make_nested_ste(std::uint64_t cd, std::uint64_t s2ttb, std::uint16_t vmid) {
    arch::ste s = make_s2_ste(s2ttb, vmid);
    s.config = arch::ste_config::nested;
    s.s1_context_ptr = cd;
    return s;
}

arch::ste make_bypass_ste() {
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::bypass;
    return s;
}

// ---------------------------------------------------------------- bench

class bench::runner : public sc_core::sc_module {
public:
    std::function<void()> scenario;
    bool finished = false;

    explicit runner(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name) {
        SC_HAS_PROCESS(runner);
        SC_THREAD(run);
    }

private:
    void run() {
        if (scenario)
            scenario();
        finished = true;
    }
};

bench::bench(const bench_config& cfg)
    : irq_eventq((cfg.name + "irq_eventq_sig").c_str())
    , irq_gerror((cfg.name + "irq_gerror_sig").c_str())
    , irq_cmd_sync((cfg.name + "irq_cmd_sync_sig").c_str())
    , sev((cfg.name + "sev_sig").c_str())
    , m_cfg(cfg)
    , m_memory(std::make_unique<platform::memory>((cfg.name + "memory").c_str(), cfg.memory_base,
                                                  cfg.memory_size, cfg.memory_latency,
                                                  cfg.memory_latency))
    , m_smmu(std::make_unique<smmuv3>((cfg.name + "smmu").c_str(), cfg.params, cfg.tbus))
    , m_cpu(std::make_unique<initiator>((cfg.name + "cpu").c_str()))
    , m_router(std::make_unique<router>((cfg.name + "router").c_str(), cfg.smmu_base))
    , m_ats(std::make_unique<ats_port>((cfg.name + "root_complex").c_str()))
    , m_runner(std::make_unique<runner>((cfg.name + "runner").c_str()))
    , m_tables(*m_memory, cfg.memory_base + cfg.memory_size / 2) {
    m_cpu->socket.bind(m_router->in);
    m_router->to_smmu.bind(m_smmu->reg_target);
    m_router->to_memory.bind(m_memory->socket);
    m_smmu->walker.bind(m_memory->socket);
    m_smmu->downstream.bind(m_memory->socket);
    for (std::size_t i = 0; i < cfg.tbus.size(); ++i) {
        m_devices.push_back(
            std::make_unique<initiator>((cfg.name + "device" + std::to_string(i)).c_str()));
        m_devices.back()->socket.bind(m_smmu->tbus[i].upstream);
    }
    m_ats->to_smmu.bind(m_smmu->ats);
    m_smmu->ats_inv.bind(m_ats->from_smmu);
    m_smmu->irq_eventq.bind(irq_eventq);
    m_smmu->irq_gerror.bind(irq_gerror);
    m_smmu->irq_cmd_sync.bind(irq_cmd_sync);
    m_smmu->sev.bind(sev);
}

bench::~bench() = default;

bool bench::run(std::function<void()> scenario) {
    m_runner->scenario = std::move(scenario);
    sc_core::sc_start();
    return m_runner->finished;
}

bool bench::run_together(const std::vector<std::pair<bench*, std::function<void()>>>& runs) {
    for (const auto& r : runs)
        r.first->m_runner->scenario = r.second;
    sc_core::sc_start();
    bool all = true;
    for (const auto& r : runs)
        all = all && r.first->m_runner->finished;
    return all;
}

bench::layout bench::prepare(unsigned strtab_log2, unsigned cmdq_log2, unsigned eventq_log2) {
    layout l;
    l.strtab_log2 = strtab_log2;
    l.cmdq_log2 = cmdq_log2;
    l.eventq_log2 = eventq_log2;
    l.strtab = m_tables.alloc(64ull << strtab_log2, 64ull << strtab_log2);
    l.cmdq = m_tables.alloc(16ull << cmdq_log2, 16ull << cmdq_log2);
    l.eventq = m_tables.alloc(32ull << eventq_log2, 32ull << eventq_log2);
    return l;
}

void bench::enable(const layout& l, bool atschk) {
    reg_write64(arch::reg::strtab_base, l.strtab);
    reg_write32(arch::reg::strtab_base_cfg,
                l.strtab_base_cfg != 0 ? l.strtab_base_cfg : l.strtab_log2); // linear by default
    reg_write64(arch::reg::cmdq_base, l.cmdq | l.cmdq_log2);
    reg_write32(arch::reg::cmdq_prod, 0);
    reg_write32(arch::reg::cmdq_cons, 0);
    reg_write64(arch::reg::eventq_base, l.eventq | l.eventq_log2);
    reg_write32(arch::reg::eventq_prod, 0);
    reg_write32(arch::reg::eventq_cons, 0);
    m_cmdq_prod = 0;
    m_eventq_cons = 0;
    std::uint32_t cr0 = 0x8 | 0x4; // CMDQEN | EVENTQEN
    reg_write32(arch::reg::cr0, cr0);
    submit_and_sync(l, {arch::make_cfgi_all(), arch::make_tlbi_nsnh_all()});
    cr0 |= 0x1 | (atschk ? 0x10u : 0u); // SMMUEN
    reg_write32(arch::reg::cr0, cr0);
}

void bench::submit(const layout& l, const std::vector<arch::command>& cmds) {
    std::vector<arch::command_words> words;
    for (const arch::command& c : cmds)
        words.push_back(arch::encode(c));
    submit_raw(l, words);
}

void bench::submit_raw(const layout& l, const std::vector<arch::command_words>& cmds) {
    const arch::queue_ptr_math q(l.cmdq_log2);
    bool published = true;
    for (const arch::command_words& w : cmds) {
        // Wait for space as a driver would, after publishing what is already written.
        while (q.full(m_cmdq_prod, reg_read32(arch::reg::cmdq_cons))) {
            if (!published)
                reg_write32(arch::reg::cmdq_prod, m_cmdq_prod);
            published = true;
            wait(sc_time(100, sc_core::SC_NS));
        }
        published = false;
        m_memory->write_words(l.cmdq + 16ull * q.index(m_cmdq_prod), w);
        m_cmdq_prod = q.advance(m_cmdq_prod);
    }
    reg_write32(arch::reg::cmdq_prod, m_cmdq_prod);
}

std::uint64_t bench::next_command_slot(const layout& l) const {
    return l.cmdq + 16ull * arch::queue_ptr_math(l.cmdq_log2).index(m_cmdq_prod);
}

arch::cmdq_error bench::submit_and_sync(const layout& l, const std::vector<arch::command>& cmds) {
    std::vector<arch::command> all = cmds;
    all.push_back(arch::make_sync(arch::sync_cs::none));
    submit(l, all);
    return wait_for_commands(l);
}

arch::cmdq_error bench::wait_for_commands(const layout& l) {
    const arch::queue_ptr_math q(l.cmdq_log2);
    for (;;) {
        const std::uint32_t cons = reg_read32(arch::reg::cmdq_cons);
        const auto err = static_cast<arch::cmdq_error>((cons >> 24) & 0x7f);
        if (err != arch::cmdq_error::none &&
            (reg_read32(arch::reg::gerror) ^ reg_read32(arch::reg::gerrorn)) & 1u)
            return err;
        if (q.empty(m_cmdq_prod, cons))
            return arch::cmdq_error::none;
        wait(sc_time(50, sc_core::SC_NS));
    }
}

s1_stream bench::add_s1_stream(const layout& l, std::uint32_t sid, std::uint16_t asid,
                               std::uint16_t vmid) {
    table_writer::page_table pt(m_tables, 0, 48);
    const std::uint64_t cd = m_tables.alloc(64);
    m_tables.write_cd(cd, make_s1_cd(pt.root(), asid));
    m_tables.write_ste(l.strtab, sid, make_s1_ste(cd, vmid));
    return s1_stream{pt, cd};
}

std::vector<arch::event_record> bench::drain_events(const layout& l) {
    std::vector<arch::event_record> events;
    const arch::queue_ptr_math q(l.eventq_log2);
    const std::uint32_t prod = reg_read32(arch::reg::eventq_prod);
    while (!q.empty(prod, m_eventq_cons)) {
        arch::event_words w{};
        for (unsigned i = 0; i < 4; ++i)
            w[i] = m_memory->read64(l.eventq + 32ull * q.index(m_eventq_cons) + 8 * i);
        events.push_back(arch::decode_event(w));
        m_eventq_cons = q.advance(m_eventq_cons);
    }
    // Acknowledge an overflow by copying OVFLG into OVACKFLG.
    reg_write32(arch::reg::eventq_cons, m_eventq_cons | (prod & 0x80000000u));
    return events;
}

} // namespace smmu::test

namespace smmu::arch {

void PrintTo(const event_record& e, std::ostream* os) {
    *os << event_name(e.id) << std::hex << " sid=0x" << e.sid << " ssv=" << e.ssv << " ssid=0x"
        << e.ssid << " stag=0x" << e.stag << " stall=" << e.stall << " pnu=" << e.pnu
        << " ind=" << e.ind << " rnw=" << e.rnw << " s2=" << e.s2
        << " class=" << static_cast<unsigned>(e.cls) << " ttrnw=" << e.ttrnw << " reason=0x"
        << e.reason << " input=0x" << e.input_addr << " ipa=0x" << e.ipa << " fetch=0x"
        << e.fetch_addr << " span=" << static_cast<unsigned>(e.span) << " ats=" << e.ats.read
        << e.ats.write << e.ats.exec << e.ats.priv << std::dec;
}

} // namespace smmu::arch
