#include "model/smmu/smmuv3.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "model/arch/registers.h"
#include "model/tlm/ats.h"
#include "model/tlm/smmu_extension.h"

namespace smmu {

using sc_core::SC_PS;
using sc_core::sc_time;
using timing::time_ps;

namespace {

constexpr std::uint64_t register_space = 2 * arch::reg_page_size;

const char* const k_msg_type = "smmuv3";

} // namespace

// ---------------------------------------------------------------- construction

smmuv3::smmuv3(const sc_core::sc_module_name& name, const smmu_params& params,
               const std::vector<tbu_params>& ports)
    : sc_core::sc_module(name)
    , reg_target("reg_target")
    , downstream("downstream")
    , walker("walker")
    , ats("ats")
    , ats_inv("ats_inv")
    , tbus("tbu")
    , irq_eventq("irq_eventq")
    , irq_gerror("irq_gerror")
    , irq_cmd_sync("irq_cmd_sync")
    , sev("sev")
    , m_params(params)
    , m_ps_per_tick(ps_per_tick())
    , m_one_tick(sc_core::sc_get_time_resolution())
    , m_utlb_lookup_time(m_params.cycles(m_params.utlb_lookup_cycles))
    , m_link_time(m_params.cycles(m_params.tbu_tcu_link_cycles))
    , m_memory(*this)
    , m_regs(m_params)
    , m_engine(m_params, m_memory)
    , m_eventq(m_regs, m_memory, m_params) {
    if (ports.empty())
        throw std::invalid_argument(std::string(this->name()) + ": at least one TBU is needed");
    if (m_params.clock_period_ps == 0)
        throw std::invalid_argument(std::string(this->name()) + ": clock_period_ps must be > 0");
    tbus.init(ports.size(), [this, &ports](const char* nm, std::size_t i) {
        return new tbu(nm, *this, ports[i]);
    });
    reg_target.register_b_transport(this, &smmuv3::reg_b_transport);
    reg_target.register_transport_dbg(this, &smmuv3::reg_transport_dbg);
    ats.register_b_transport(this, &smmuv3::ats_b_transport);
    downstream.register_invalidate_direct_mem_ptr(this, &smmuv3::downstream_invalidate_dmi);
    refresh_config();
    m_decode_context = arch::decode_context_for(m_params.features);

    SC_HAS_PROCESS(smmuv3);
    SC_THREAD(command_thread);
    SC_METHOD(drive_irq_levels);
    sensitive << m_irq_levels_changed;
    dont_initialize();
    SC_METHOD(drive_cmd_sync);
    sensitive << m_cmd_sync_line.edge;
    dont_initialize();
    SC_METHOD(drive_sev);
    sensitive << m_sev_line.edge;
    dont_initialize();
}

void smmuv3::reset() {
    m_regs.reset();
    m_engine.invalidate_all();
    m_atc_itags.clear();
    m_atc_outstanding = 0;
    m_atc_done_at = 0;
    refresh_config();
    invalidate_translations();
    update_irq_lines(now_ps(sc_core::SC_ZERO_TIME));
}

void smmuv3::refresh_config() {
    m_config.smmuen = m_regs.smmuen();
    m_config.atschk = m_regs.atschk();
    m_config.e2h = m_regs.e2h();
    m_config.recinvsid = m_regs.recinvsid();
    m_config.rec_cfg_ats = m_regs.rec_cfg_ats();
    m_config.gbpa = m_regs.gbpa();
    m_config.strtab = m_regs.strtab();
}

std::uint64_t smmuv3::ps_per_tick() {
    // Integer conversions on the hot path when the time resolution is a whole number of
    // picoseconds (SystemC's default is 1 ps); 0 selects the exact-enough double path.
    const double ps = sc_core::sc_get_time_resolution().to_seconds() * 1e12;
    return ps >= 1.0 ? static_cast<std::uint64_t>(std::llround(ps)) : 0;
}

time_ps smmuv3::now_ps_scaled(const time_base& base, const sc_time& delay) const {
    if (m_ps_per_tick != 0)
        return base.stamp_ps + delay.value() * m_ps_per_tick;
    return static_cast<time_ps>(std::llround((base.stamp + delay).to_seconds() * 1e12));
}

sc_time smmuv3::delay_until_scaled(const time_base& base, time_ps t) const {
    if (m_ps_per_tick != 0) {
        // t rounded to the nearest tick, less the current time, or zero if not later.
        return t > base.stamp_ps ? ticks((t - base.stamp_ps + m_ps_per_tick / 2) / m_ps_per_tick)
                                 : sc_core::SC_ZERO_TIME;
    }
    const sc_time at(static_cast<double>(t), SC_PS);
    return at > base.stamp ? at - base.stamp : sc_core::SC_ZERO_TIME;
}

time_ps smmuv3::now_ps(const sc_time& delay) const {
    return now_ps(time_now(), delay);
}

sc_time smmuv3::delay_until(time_ps t) const {
    return delay_until(time_now(), t);
}

void smmuv3::wait_until(time_ps t) {
    const sc_time d = delay_until(t);
    if (d != sc_core::SC_ZERO_TIME)
        wait(d);
}

// ---------------------------------------------------------------- programming interface

void smmuv3::reg_b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    const std::uint64_t offset = trans.get_address();
    const unsigned len = trans.get_data_length();
    if (trans.get_byte_enable_ptr() != nullptr) {
        trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
        return;
    }
    if (offset >= register_space) {
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    if ((len != 4 && len != 8) || trans.get_streaming_width() < len) {
        trans.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
        return;
    }
    unsigned char* data = trans.get_data_ptr();
    if (trans.is_read()) {
        const std::uint64_t v = m_regs.read(offset, len);
        std::memcpy(data, &v, len); // little-endian host, little-endian registers
    } else if (trans.is_write()) {
        std::uint64_t v = 0;
        std::memcpy(&v, data, len);
        const write_effects fx = m_regs.write(offset, len, v);
        on_register_write(fx, now_ps(delay));
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned smmuv3::reg_transport_dbg(tlm::tlm_generic_payload& trans) {
    // Debug reads only: a debug write must not change the model's state.
    const std::uint64_t offset = trans.get_address();
    const unsigned len = trans.get_data_length();
    if (!trans.is_read() || (len != 4 && len != 8) || offset >= register_space)
        return 0;
    const std::uint64_t v = m_regs.read(offset, len);
    std::memcpy(trans.get_data_ptr(), &v, len);
    return len;
}

// ---------------------------------------------------------------- the SMMU's own memory port

bool smmuv3::walker_memory::access(tlm::tlm_command cmd, arch::phys_addr pa, unsigned char* data,
                                   unsigned len, time_ps& now, bool debug) {
    // One payload serves every access (constructing one allocates); a second, local one is
    // used only if a downstream target waits and another process walks meanwhile.
    if (m_busy) {
        tlm::tlm_generic_payload local;
        return transfer(local, cmd, pa, data, len, now, debug);
    }
    m_busy = true;
    const bool ok = transfer(m_payload, cmd, pa, data, len, now, debug);
    m_busy = false;
    return ok;
}

bool smmuv3::walker_memory::transfer(tlm::tlm_generic_payload& gp, tlm::tlm_command cmd,
                                     arch::phys_addr pa, unsigned char* data, unsigned len,
                                     time_ps& now, bool debug) {
    gp.set_command(cmd);
    gp.set_address(pa);
    gp.set_data_ptr(data);
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_byte_enable_ptr(nullptr);
    gp.set_dmi_allowed(false);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    if (debug)
        return m_owner.walker->transport_dbg(gp) == len;
    sc_time delay = m_owner.delay_until(now);
    m_owner.walker->b_transport(gp, delay);
    now = std::max(now, m_owner.now_ps(delay));
    return gp.is_response_ok();
}

bool smmuv3::walker_memory::read(arch::phys_addr pa, void* dst, unsigned len, mem_purpose,
                                 time_ps& now, bool debug) {
    return access(tlm::TLM_READ_COMMAND, pa, static_cast<unsigned char*>(dst), len, now, debug);
}

bool smmuv3::walker_memory::write(arch::phys_addr pa, const void* src, unsigned len, mem_purpose,
                                  time_ps& now) {
    // TLM payloads carry a non-const data pointer; a write target does not modify it.
    unsigned char buffer[64];
    if (len > sizeof(buffer))
        return false;
    std::memcpy(buffer, src, len);
    return access(tlm::TLM_WRITE_COMMAND, pa, buffer, len, now, false);
}

// ---------------------------------------------------------------- TBUs: device traffic

tbu::tbu(const sc_core::sc_module_name& name, smmuv3& owner, const tbu_params& params)
    : sc_core::sc_module(name)
    , upstream("upstream")
    , m_owner(owner)
    , m_params(params)
    , m_utlb(owner.params().utlb.entries)
    , m_slots(std::max(1u, owner.params().tbu_translation_slots)) {
    upstream.register_b_transport(this, &tbu::b_transport);
    upstream.register_transport_dbg(this, &tbu::transport_dbg);
    upstream.register_get_direct_mem_ptr(this, &tbu::get_direct_mem_ptr);
}

void tbu::flush() {
    m_utlb.flush();
    invalidate_dmi();
}

void tbu::invalidate_dmi() {
    if (!m_dmi_granted)
        return;
    m_dmi_granted = false;
    ++m_owner.m_counters.dmi_invalidations;
    upstream->invalidate_direct_mem_ptr(0, ~sc_dt::uint64{0});
}

inline translation_request tbu::make_request(const tlm::tlm_generic_payload& trans,
                                             const tlm_ext::smmu_extension* ext, bool debug) {
    translation_request req;
    req.address = trans.get_address();
    req.sid = ext != nullptr && ext->stream_id ? *ext->stream_id : m_params.default_sid;
    req.ssid = ext != nullptr ? ext->substream_id : std::nullopt;
    req.access.write = trans.is_write();
    req.access.instruction = ext != nullptr && ext->instruction && !trans.is_write();
    req.access.privileged = ext != nullptr && ext->privileged;
    req.kind = ext != nullptr && ext->ats == tlm_ext::ats_type::translated
                   ? request_kind::translated
                   : request_kind::untranslated;
    req.debug = debug;
    if (!debug)
        req.memo = &m_context;
    return req;
}

namespace {

/// The parts of a payload a TBU changes while forwarding, restored on return.
struct payload_view {
    explicit payload_view(tlm::tlm_generic_payload& t)
        : trans(t)
        , address(t.get_address())
        , data(t.get_data_ptr())
        , length(t.get_data_length())
        , streaming(t.get_streaming_width())
        , byte_enable(t.get_byte_enable_ptr())
        , byte_enable_length(t.get_byte_enable_length()) {}
    ~payload_view() {
        trans.set_address(address);
        trans.set_data_ptr(data);
        trans.set_data_length(length);
        trans.set_streaming_width(streaming);
        trans.set_byte_enable_ptr(byte_enable);
        trans.set_byte_enable_length(byte_enable_length);
    }
    /// Points the payload at bytes [offset, offset + len) of the original, at `pa`.
    bool select(std::uint64_t pa, unsigned offset, unsigned len) {
        trans.set_address(pa);
        trans.set_data_ptr(data + offset);
        trans.set_data_length(len);
        if (streaming >= length)
            trans.set_streaming_width(len);
        if (byte_enable != nullptr) {
            // A repeating byte-enable pattern shorter than the burst cannot be split.
            if (byte_enable_length < length)
                return offset == 0 && len == length;
            trans.set_byte_enable_ptr(byte_enable + offset);
            trans.set_byte_enable_length(len);
        }
        return true;
    }

    tlm::tlm_generic_payload& trans;
    const std::uint64_t address;
    unsigned char* const data;
    const unsigned length;
    const unsigned streaming;
    unsigned char* const byte_enable;
    const unsigned byte_enable_length;
};

tlm::tlm_response_status to_tlm(translation_response r) {
    switch (r) {
    case translation_response::ok:
    case translation_response::raz_wi:
        return tlm::TLM_OK_RESPONSE;
    case translation_response::permission_denied:
        return tlm::TLM_COMMAND_ERROR_RESPONSE;
    case translation_response::abort:
        break;
    }
    return tlm::TLM_ADDRESS_ERROR_RESPONSE;
}

} // namespace

void tbu::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    const tlm_ext::smmu_extension* ext = tlm_ext::find_extension(trans);
    if (ext != nullptr && ext->ats == tlm_ext::ats_type::translation_request) {
        // A Translation Request on the data path (ats.h, style (b)): the message in the
        // ats_extension is answered as on the ats socket.
        auto* ats = trans.get_extension<tlm_ext::ats_extension>();
        auto* req = ats != nullptr ? ats->get<tlm_ext::translation_request>() : nullptr;
        if (req == nullptr) {
            trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
            return;
        }
        time_ps now = m_owner.now_ps(delay);
        m_owner.on_translation_request(*req, *ats, now);
        trans.set_response_status(tlm::TLM_OK_RESPONSE);
        delay = m_owner.delay_until(now);
        return;
    }
    if (trans.get_command() == tlm::TLM_IGNORE_COMMAND) {
        trans.set_response_status(tlm::TLM_OK_RESPONSE);
        return;
    }
    smmuv3::time_base base = m_owner.time_now();
    time_ps now = m_owner.now_ps(base, delay);
    translation_request req = make_request(trans, ext, false);
    payload_view view(trans);
    // A streaming burst (width < length) stays at one address range: translate it once.
    const bool splittable = view.streaming >= view.length;
    unsigned done = 0;
    tlm::tlm_response_status status = tlm::TLM_OK_RESPONSE;
    // The delay that reaches `now` when a downstream access returned it: converting `now`
    // back would give it again (exactly, with a whole number of picoseconds per tick).
    sc_time delay_of_now;
    bool delay_of_now_known = false;
    do {
        req.address = view.address + done;
        delay_of_now_known = false;
        const smmuv3::tbu_answer r = m_owner.translate_access(*this, req, now);
        if (r.may_have_waited)
            base = m_owner.time_now();
        if (r.response != translation_response::ok && r.response != translation_response::raz_wi) {
            status = to_tlm(r.response);
            break;
        }
        const std::uint64_t mapping_end =
            (req.address | ((std::uint64_t{1} << r.size_log2) - 1)) + 1; // 0 when it wraps
        std::uint64_t chunk = view.length - done;
        if (splittable && mapping_end != 0 && mapping_end - req.address < chunk)
            chunk = mapping_end - req.address;
        const auto len = static_cast<unsigned>(chunk);
        if (r.response == translation_response::raz_wi) {
            if (trans.is_read())
                std::memset(view.data + done, 0, len);
        } else {
            if (!view.select(r.output_address, done, len)) {
                status = tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE;
                break;
            }
            trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
            sc_time d = m_owner.delay_until(base, now);
            m_owner.downstream->b_transport(trans, d);
            base = m_owner.time_now(); // the target may have waited
            const time_ps back = m_owner.now_ps(base, d);
            if (back >= now) {
                now = back;
                delay_of_now = d;
                delay_of_now_known = m_owner.m_ps_per_tick != 0;
            }
            status = trans.get_response_status();
            if (status != tlm::TLM_OK_RESPONSE)
                break;
        }
        done += len;
    } while (done < view.length);
    trans.set_response_status(status);
    delay = delay_of_now_known ? delay_of_now : m_owner.delay_until(base, now);
}

unsigned tbu::transport_dbg(tlm::tlm_generic_payload& trans) {
    const translation_request req = make_request(trans, tlm_ext::find_extension(trans), true);
    const translation_result r = m_owner.translate_debug(req);
    if (r.response != translation_response::ok)
        return 0;
    payload_view view(trans);
    const std::uint64_t mapping_end = (req.address | ((std::uint64_t{1} << r.size_log2) - 1)) + 1;
    std::uint64_t len = view.length;
    if (mapping_end != 0 && mapping_end - req.address < len)
        len = mapping_end - req.address; // debug accesses stop at the end of the mapping
    trans.set_address(r.output_address);
    trans.set_data_length(static_cast<unsigned>(len));
    return m_owner.downstream->transport_dbg(trans);
}

bool tbu::get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
    // Refusing DMI is always legal; describe the page the refusal covers.
    const std::uint64_t addr = trans.get_address();
    dmi.set_start_address(arch::align_down(addr, 12));
    dmi.set_end_address(arch::align_down(addr, 12) + 0xfff);
    dmi.allow_read_write();
    if (!m_params.single_context || !m_owner.m_config.smmuen)
        return false;
    const translation_request req = make_request(trans, tlm_ext::find_extension(trans), true);
    if (req.kind != request_kind::untranslated || req.ssid)
        return false;
    const translation_result r = m_owner.translate_debug(req);
    if (r.response != translation_response::ok)
        return false;
    // Grant at most the translated page, with the translation's permissions.
    const unsigned page_log2 = std::min(r.size_log2, 12u);
    const std::uint64_t va_page = arch::align_down(addr, page_log2);
    const std::uint64_t pa_page = arch::align_down(r.output_address, page_log2);
    arch::access_kind read{};
    read.privileged = req.access.privileged;
    arch::access_kind write = read;
    write.write = true;
    const bool can_read = r.permissions.allows(read);
    const bool can_write = r.permissions.allows(write);
    if (!can_read && !can_write)
        return false;

    tlm::tlm_generic_payload down;
    down.set_address(pa_page);
    down.set_command(trans.get_command());
    tlm::tlm_dmi region;
    if (!m_owner.downstream->get_direct_mem_ptr(down, region))
        return false;
    if (region.get_start_address() > pa_page ||
        region.get_end_address() < pa_page + (std::uint64_t{1} << page_log2) - 1)
        return false;
    dmi.set_dmi_ptr(region.get_dmi_ptr() + (pa_page - region.get_start_address()));
    dmi.set_start_address(va_page);
    dmi.set_end_address(va_page + (std::uint64_t{1} << page_log2) - 1);
    dmi.set_granted_access(tlm::tlm_dmi::DMI_ACCESS_NONE);
    if (can_read && region.is_read_allowed())
        dmi.allow_read();
    if (can_write && region.is_write_allowed())
        dmi.set_granted_access(static_cast<tlm::tlm_dmi::dmi_access_e>(
            dmi.get_granted_access() | tlm::tlm_dmi::DMI_ACCESS_WRITE));
    const sc_time hit(
        static_cast<double>(m_owner.params().cycles(m_owner.params().utlb_lookup_cycles)), SC_PS);
    dmi.set_read_latency(region.get_read_latency() + hit);
    dmi.set_write_latency(region.get_write_latency() + hit);
    m_dmi_granted = true;
    ++m_owner.m_counters.dmi_grants;
    return dmi.get_granted_access() != tlm::tlm_dmi::DMI_ACCESS_NONE;
}

// ---------------------------------------------------------------- translation

smmuv3::tbu_answer smmuv3::translate_access(tbu& port, const translation_request& req,
                                            time_ps& now) {
    // The hit paths build no translation_result: it is large, and micro-TLB and IOTLB hits
    // are the most frequent things the SMMU does.
    if (req.kind == request_kind::untranslated && m_config.smmuen) {
        const time_ps start = now;
        const micro_tlb::entry* hit = port.m_utlb.lookup(req.sid, req.ssid, req.address);
        if (hit != nullptr && hit->perms.allows(req.access)) {
            now += m_utlb_lookup_time;
            ++m_counters.translations;
            ++m_counters.utlb_hits;
            m_translation_latency.record(now - start);
            if (m_observer != nullptr)
                m_observer->translation(req.sid, req.ssid, req.address, false, start);
            return {translation_response::ok, hit->output + (req.address - hit->base),
                    hit->size_log2, false};
        }
        // A miss, or a permission miss: the TCU decides (and reports any fault).
        tcu_trip trip = begin_tcu_trip(port, start);
        cached_translation c;
        if (m_engine.translate_cached(req, m_config, trip.at_tcu, c)) {
            end_tcu_trip(port, trip, now);
            fill_utlb(port, req, c.output_address, c.size_log2, c.permissions);
            count_tcu_translation(start, now);
            if (m_observer != nullptr)
                m_observer->translation(req.sid, req.ssid, req.address, false, start);
            return {translation_response::ok, c.output_address, c.size_log2, false};
        }
    }
    const translation_result r = translate(port, req, now);
    return {r.response, r.output_address, r.size_log2,
            r.cost.memory_accesses != 0 || r.event.has_value()};
}

translation_result smmuv3::translate(tbu& port, const translation_request& req, time_ps& now) {
    const time_ps start = now;
    tcu_trip trip = begin_tcu_trip(port, start);
    const time_ps tcu_start = trip.at_tcu;
    translation_result r = m_engine.translate(req, m_config, trip.at_tcu);
    if (m_observer != nullptr) {
        if (r.cost.walk_step_cycles != 0)
            m_observer->walk(req.sid, req.address, tcu_start, trip.at_tcu);
        if (r.response == translation_response::ok && !r.bypass &&
            req.kind == request_kind::untranslated)
            m_observer->translation(req.sid, req.ssid, req.address, false, start);
    }
    end_tcu_trip(port, trip, now);
    if (r.event)
        post_event(*r.event, now);
    if (r.response == translation_response::ok)
        fill_utlb(port, req, r.output_address, r.size_log2, r.permissions);
    count_tcu_translation(start, now);
    return r;
}

inline smmuv3::tcu_trip smmuv3::begin_tcu_trip(const tbu& port, time_ps start) const {
    tcu_trip trip;
    trip.issued = start + m_utlb_lookup_time;
    trip.slot_start = port.m_slots.start_time(trip.issued);
    trip.at_tcu = trip.slot_start + m_link_time;
    return trip;
}

inline void smmuv3::end_tcu_trip(tbu& port, tcu_trip& trip, time_ps& now) {
    const time_ps back = trip.at_tcu + m_link_time;
    port.m_slots.acquire(trip.issued, back - trip.slot_start);
    now = back;
}

inline void smmuv3::fill_utlb(tbu& port, const translation_request& req,
                              arch::phys_addr output_address, unsigned size_log2,
                              const arch::permission_set& permissions) {
    if (req.kind != request_kind::untranslated || !m_config.smmuen)
        return;
    micro_tlb::entry e;
    e.sid = req.sid;
    e.ssid = req.ssid;
    e.base = req.address;
    e.size_log2 = static_cast<std::uint8_t>(size_log2);
    e.output = output_address;
    e.perms = permissions;
    port.m_utlb.insert(e);
}

inline void smmuv3::count_tcu_translation(time_ps start, time_ps now) {
    ++m_counters.translations;
    m_translation_latency.record(now - start);
    m_translations_busy_until = std::max(m_translations_busy_until, now);
}

translation_result smmuv3::translate_debug(const translation_request& req) {
    time_ps now = now_ps(sc_core::SC_ZERO_TIME) + m_utlb_lookup_time; // not advanced
    return m_engine.translate(req, m_config, now);
}

// ---------------------------------------------------------------- ATS

void smmuv3::ats_b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    auto* ext = trans.get_extension<tlm_ext::ats_extension>();
    if (ext == nullptr) {
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    time_ps now = now_ps(delay);
    if (auto* req = ext->get<tlm_ext::translation_request>()) {
        on_translation_request(*req, *ext, now);
    } else if (const auto* done = ext->get<tlm_ext::invalidation_completion>()) {
        on_invalidation_completion(*done, now);
    } else {
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    delay = delay_until(now);
}

void smmuv3::on_translation_request(tlm_ext::translation_request& req, tlm_ext::ats_extension& ext,
                                    time_ps& now) {
    ++m_counters.ats_requests;
    ats_request a;
    a.address = req.address;
    a.sid = req.stream_id;
    a.ssid = req.pasid;
    a.no_write = req.no_write;
    a.exec = req.execute;
    a.priv = req.privileged;
    const time_ps arrived = now;
    now += m_params.cycles(m_params.tbu_tcu_link_cycles);
    const time_ps tcu_start = now;
    const ats_result r = m_engine.translate_ats(a, m_config, now);
    if (m_observer != nullptr) {
        if (r.cost.walk_step_cycles != 0)
            m_observer->walk(a.sid, a.address, tcu_start, now);
        if (r.status == ats_status::success && (r.read || r.write || r.exec))
            m_observer->translation(a.sid, a.ssid, a.address, true, arrived);
    }
    now += m_params.cycles(m_params.tbu_tcu_link_cycles);
    if (r.event)
        post_event(*r.event, now);
    tlm_ext::translation_completion c;
    switch (r.status) {
    case ats_status::success:
        c.status = tlm_ext::ats_status::success;
        break;
    case ats_status::unsupported_request:
        c.status = tlm_ext::ats_status::unsupported_request;
        break;
    case ats_status::completer_abort:
        c.status = tlm_ext::ats_status::completer_abort;
        break;
    }
    c.translated_address = r.translated_address;
    c.size = std::uint64_t{1} << r.size_log2;
    c.permissions.read = r.read;
    c.permissions.write = r.write;
    c.permissions.execute = r.exec;
    c.permissions.privileged = r.priv;
    c.global = r.global;
    ext.message = c;
    m_translations_busy_until = std::max(m_translations_busy_until, now);
}

void smmuv3::on_invalidation_completion(const tlm_ext::invalidation_completion& done, time_ps at) {
    auto it = m_atc_itags.find(done.stream_id);
    if (it == m_atc_itags.end())
        return; // unsolicited (or given up after a timeout): ignore
    m_atc_done_at = std::max(m_atc_done_at, at);
    const std::uint32_t completed = it->second & done.itag_vector;
    it->second &= ~completed;
    if (m_observer != nullptr)
        for (std::uint32_t bits = completed; bits != 0; bits &= bits - 1)
            m_observer->atc_invalidation(
                done.stream_id,
                m_atc_sent[done.stream_id][static_cast<unsigned>(__builtin_ctz(bits))], at);
    const auto n = static_cast<std::uint32_t>(__builtin_popcount(completed));
    m_atc_outstanding -= n;
    m_counters.atc_inv_completed += n;
    if (it->second == 0)
        m_atc_itags.erase(it);
    m_atc_done.notify(sc_core::SC_ZERO_TIME);
}

void smmuv3::send_atc_inv(const arch::command& cmd, time_ps& now) {
    if (!m_config.smmuen || ats_inv.size() == 0)
        return; // IGNORED when SMMUEN=0 or the system has no ATS (IHI0070 §4.5.1)
    const std::optional<std::uint32_t> ssid =
        cmd.ssv ? std::optional<std::uint32_t>{cmd.ssid} : std::nullopt;
    std::optional<tlm_ext::invalidation_request> req =
        tlm_ext::from_atc_inv(cmd.sid, ssid, cmd.global, cmd.address, cmd.size);
    if (!req)
        return; // Size > 52 was rejected by decode
    // At most atc_inv_outstanding per endpoint: wait for an ITag to free up.
    const std::uint32_t limit = std::min(32u, std::max(1u, m_params.atc_inv_outstanding));
    for (;;) {
        const std::uint32_t used = m_atc_itags.count(cmd.sid) ? m_atc_itags[cmd.sid] : 0;
        if (static_cast<std::uint32_t>(__builtin_popcount(used)) < limit) {
            req->itag = static_cast<std::uint8_t>(__builtin_ctz(~used));
            break;
        }
        wait_until(now);
        wait(m_atc_done);
        now = std::max(now, now_ps(sc_core::SC_ZERO_TIME));
    }
    m_atc_itags[cmd.sid] |= 1u << req->itag;
    if (m_observer != nullptr)
        m_atc_sent[cmd.sid][req->itag] = now;
    ++m_atc_outstanding;
    ++m_counters.atc_inv_sent;

    tlm_ext::ats_extension ext{*req};
    tlm::tlm_generic_payload gp;
    gp.set_command(tlm::TLM_IGNORE_COMMAND);
    gp.set_address(req->address);
    gp.set_data_length(0);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    tlm_ext::scoped_extension<tlm_ext::ats_extension> attach(gp, ext);
    sc_time d = delay_until(now);
    ats_inv->b_transport(gp, d);
    const time_ps answered = now_ps(d);
    if (const auto* done = attach.get().get<tlm_ext::invalidation_completion>()) {
        // Completed in the same payload, at the annotated time (ats.h). The command queue
        // moves on; a later CMD_SYNC waits for that time.
        on_invalidation_completion(*done, answered);
        return;
    }
    now = std::max(now, answered);
    if (!gp.is_response_ok()) {
        // Nobody owns the StreamID: nothing to wait for (like a UR completion).
        tlm_ext::invalidation_completion gone;
        gone.stream_id = cmd.sid;
        gone.itag_vector = 1u << req->itag;
        on_invalidation_completion(gone, now);
    }
}

// ---------------------------------------------------------------- command queue

void smmuv3::command_thread() {
    for (;;) {
        const command_queue_view q = m_regs.cmdq_view();
        if (!q.enabled || q.error || q.math.empty(q.prod, q.cons)) {
            wait(m_cmdq_kick);
            continue;
        }
        time_ps now = now_ps(sc_core::SC_ZERO_TIME);
        // Fetch a block of commands: up to cmd_fetch_bytes, not past PROD or the queue's end.
        const std::uint32_t per_block =
            std::max(1u, m_params.cmd_fetch_bytes / arch::command_bytes);
        const std::uint32_t index = q.math.index(q.cons);
        const std::uint32_t to_end = q.config.entries() - index;
        const std::uint32_t count = std::min({per_block, q.math.used(q.prod, q.cons), to_end});
        std::array<std::uint64_t, 2 * 64> words{};
        const unsigned bytes = count * arch::command_bytes;
        if (count > 64 || !m_memory.read(q.config.entry_address(index), words.data(), bytes,
                                         mem_purpose::command, now, false)) {
            wait_until(now);
            command_error(arch::cmdq_error::abt, q.cons);
            continue;
        }
        std::uint32_t cons = q.cons;
        step s = step::next;
        for (std::uint32_t i = 0; i < count && s == step::next; ++i) {
            const arch::command_words w{words[2 * i], words[2 * i + 1]};
            now += m_params.cycles(m_params.cmd_decode_cycles);
            const arch::command_decode_result d = arch::decode_command(w, m_decode_context);
            if (!d.ok()) {
                wait_until(now);
                command_error(d.error, cons);
                s = step::stop;
                break;
            }
            const time_ps begin = now;
            s = execute(d.cmd, cons, q.math, now);
            if (s == step::next && m_observer != nullptr)
                m_observer->command(d.cmd, begin, now);
            if (s == step::next) {
                cons = q.math.advance(cons);
                ++m_counters.commands[static_cast<std::uint8_t>(d.cmd.op)];
            }
        }
        wait_until(now);
        if (s == step::next)
            advance_cons(cons);
    }
}

smmuv3::step smmuv3::execute(const arch::command& cmd, std::uint32_t cons,
                             const arch::queue_ptr_math& math, time_ps& now) {
    switch (cmd.op) {
    case arch::opcode::sync:
        return execute_sync(cmd, cons, math, now);
    case arch::opcode::atc_inv:
        now += m_params.cycles(m_params.cmd_atc_inv_cycles);
        send_atc_inv(cmd, now);
        invalidate_translations(); // the TBUs' micro-TLBs may hold ATS-visible entries
        return step::next;
    case arch::opcode::prefetch_config:
    case arch::opcode::prefetch_addr:
        now += m_params.cycles(m_params.cmd_prefetch_cycles);
        return step::next;
    default:
        break;
    }
    if (arch::is_tlbi(cmd.op) || arch::is_cfgi(cmd.op)) {
        const invalidation_cost cost = m_engine.invalidate(cmd, m_config);
        now += m_params.cycles(cost.cycles);
        invalidate_translations();
    }
    // PRI_RESP, RESUME, STALL_TERM: no PRI and no stalls are implemented, and
    // decode already rejects them when the features are not advertised.
    return step::next;
}

smmuv3::step smmuv3::execute_sync(const arch::command& cmd, std::uint32_t cons,
                                  const arch::queue_ptr_math& math, time_ps& now) {
    const time_ps issued = now;
    // Every earlier command has completed, including ATC invalidation round
    // trips, and no translation that might use an invalidated entry is in flight.
    now = std::max(now, m_translations_busy_until);
    if (m_atc_outstanding != 0) {
        const time_ps deadline = issued + m_params.atc_inv_timeout_ps;
        wait_until(now);
        advance_cons(cons); // everything before the SYNC is consumed while it waits

        while (m_atc_outstanding != 0) {
            const time_ps t = now_ps(sc_core::SC_ZERO_TIME);
            if (t >= deadline)
                break;
            wait(delay_until(deadline), m_atc_done);
        }
        now = std::max(now, now_ps(sc_core::SC_ZERO_TIME));
        if (m_atc_outstanding != 0) {
            // Every outstanding invalidation is older than this SYNC and has now timed out:
            // give them up (their ITags are free again, late completions are ignored), so
            // that the SYNC software re-issues after the error can complete (IHI0070 §4.7.3).
            m_atc_itags.clear();
            m_atc_outstanding = 0;
            ++m_counters.atc_inv_timeouts;
            command_error(arch::cmdq_error::atc_inv_sync, cons); // CONS stays at the SYNC
            return step::stop;
        }
    }
    now = std::max(now, m_atc_done_at); // completions returned in their request's payload
    now += m_params.cycles(m_params.cmd_sync_cycles);
    ++m_counters.syncs;
    // The completion signal is observable only once CONS has passed the SYNC.
    wait_until(now);
    advance_cons(math.advance(cons));
    switch (cmd.cs) {
    case arch::sync_cs::irq:
        if (cmd.msi_addr != 0) {
            now += m_params.cycles(m_params.msi_cycles);
            ++m_counters.sync_msis;
            if (!msi_write(cmd.msi_addr, cmd.msi_data, now))
                raise_gerror(arch::gerror::msi_cmdq_abt_err, now);
        } else {
            ++m_counters.sync_irqs;
            pulse(m_cmd_sync_line, now);
        }
        break;
    case arch::sync_cs::sev:
        if (m_params.features.sev) {
            ++m_counters.sevs;
            pulse(m_sev_line, now);
        }
        break;
    default:
        break;
    }
    m_sync_latency.record(now - issued);
    return step::next;
}

void smmuv3::advance_cons(std::uint32_t cons) {
    m_regs.set_cmdq_cons_index(cons);
}

void smmuv3::command_error(arch::cmdq_error err, std::uint32_t cons) {
    // CONS points at the offending command and ERR is written before
    // GERROR.CMDQ_ERR becomes active (IHI0070 §7.1).
    ++m_counters.command_errors;
    m_regs.set_cmdq_cons_index(cons);
    m_regs.set_cmdq_error(err);
    time_ps now = now_ps(sc_core::SC_ZERO_TIME);
    raise_gerror(arch::gerror::cmdq_err, now);
}

// ---------------------------------------------------------------- events, errors, interrupts

void smmuv3::post_event(const arch::event_record& rec, time_ps& now) {
    const event_write_result r = m_eventq.post(rec, now);
    if (r.gerror_activated)
        signal_gerror(now); // the queue has activated EVENTQ_ABT_ERR itself
    if (r.became_non_empty && m_regs.eventq_irq_enabled()) {
        ++m_counters.eventq_irqs;
        send_msi(msi_source::eventq, now);
    }
    update_irq_lines(now);
}

void smmuv3::raise_gerror(const arch::field& bit, time_ps& now) {
    if (m_regs.activate_gerror(bit))
        signal_gerror(now); // else already active: not toggled again
}

void smmuv3::signal_gerror(time_ps& now) {
    if (m_regs.gerror_irq_enabled()) {
        ++m_counters.gerror_irqs;
        send_msi(msi_source::gerror, now);
    }
    update_irq_lines(now);
}

void smmuv3::send_msi(msi_source src, time_ps& now) {
    const msi_config msi = m_regs.msi(src);
    if (msi.address == 0 || !m_params.features.msi)
        return; // wired interrupt only
    now += m_params.cycles(m_params.msi_cycles);
    if (msi_write(msi.address, msi.data, now))
        return;
    ++m_counters.msis_aborted;
    const arch::field err = src == msi_source::gerror ? arch::gerror::msi_gerror_abt_err
                                                      : arch::gerror::msi_eventq_abt_err;
    // A GERROR MSI that aborts does not raise another MSI for itself.
    if (src == msi_source::gerror)
        m_regs.activate_gerror(err);
    else
        raise_gerror(err, now);
    update_irq_lines(now);
}

bool smmuv3::msi_write(std::uint64_t addr, std::uint32_t data, time_ps& now) {
    return m_memory.write(addr, &data, sizeof(data), mem_purpose::msi, now);
}

void smmuv3::update_irq_lines(time_ps now) {
    // A pending earlier notification wins; the method then writes the state of that moment,
    // which already includes this change.
    m_irq_levels_changed.notify(delay_until(now));
}

void smmuv3::drive_irq_levels() {
    if (irq_eventq.size() != 0)
        irq_eventq->write(m_regs.eventq_irq_enabled() && m_regs.eventq_not_empty());
    if (irq_gerror.size() != 0)
        irq_gerror->write(m_regs.gerror_irq_enabled() && m_regs.gerror_active() != 0);
}

void smmuv3::pulse(pulse_line& line, time_ps now) {
    if (!line.high)
        line.edge.notify(delay_until(now));
}

void smmuv3::drive_pulse(irq_port& port, pulse_line& line) {
    line.high = !line.high;
    if (port.size() != 0)
        port->write(line.high);
    if (line.high)
        line.edge.notify(sc_time(static_cast<double>(m_params.clock_period_ps), SC_PS));
}

// ---------------------------------------------------------------- register side effects

void smmuv3::on_register_write(const write_effects& fx, time_ps now) {
    const bool smmuen_changed = fx.cr0_rose(arch::cr0::smmuen) || fx.cr0_fell(arch::cr0::smmuen);
    refresh_config();
    if (smmuen_changed || fx.strtab_changed || fx.cr2_changed) {
        // Cached state of the old configuration must not outlive it.
        m_engine.invalidate_all();
        invalidate_translations();
    }
    if (fx.cmdq_prod_written || fx.cr0_changed || fx.cmdq_error_acknowledged)
        m_cmdq_kick.notify(delay_until(now));
    if (fx.gerrorn_written || fx.irq_ctrl_changed || fx.eventq_cons_written || fx.cr0_changed)
        update_irq_lines(now);
}

// ---------------------------------------------------------------- DMI and cache maintenance

void smmuv3::invalidate_translations() {
    for (tbu& port : tbus)
        port.flush();
}

void smmuv3::invalidate_upstream_dmi() {
    for (tbu& port : tbus)
        port.invalidate_dmi();
}

void smmuv3::downstream_invalidate_dmi(sc_dt::uint64, sc_dt::uint64) {
    // No cheap PA -> IOVA map: drop every grant that might alias.
    invalidate_upstream_dmi();
}

// ---------------------------------------------------------------- statistics

std::size_t smmuv3::iotlb_entries_tagged(std::optional<std::uint32_t> asid,
                                         std::optional<std::uint32_t> vmid) const {
    const auto a =
        asid ? std::optional<arch::asid_t>{static_cast<arch::asid_t>(*asid)} : std::nullopt;
    const auto v =
        vmid ? std::optional<arch::vmid_t>{static_cast<arch::vmid_t>(*vmid)} : std::nullopt;
    return m_engine.tlb().count_tagged(a, v);
}

std::string smmuv3::stats_json() const {
    std::string out;
    const auto field = [&out](const char* name, std::uint64_t v, bool last = false) {
        out += fmt::format("\"{}\":{}{}", name, v, last ? "" : ",");
    };
    const translation_engine_stats& e = m_engine.stats();
    const auto lookups = [&](const char* name, const lookup_stats& s) {
        out += fmt::format("\"{}\":{{\"lookups\":{},\"hits\":{},\"misses\":{}}},", name, s.lookups,
                           s.hits, s.misses);
    };
    out += "{";
    field("translations", m_counters.translations);
    field("utlb_hits", m_counters.utlb_hits);
    lookups("ste_cache", e.ste_cache);
    lookups("cd_cache", e.cd_cache);
    lookups("iotlb", e.iotlb);
    lookups("walk_cache", e.walk_cache);
    field("walks", e.walks);
    field("ste_fetches", e.ste_fetches);
    field("cd_fetches", e.cd_fetches);
    out += "\"descriptor_reads\":{";
    for (unsigned st = 0; st < 2; ++st) {
        out += fmt::format("\"s{}\":[", st + 1);
        for (std::size_t lvl = 0; lvl < e.descriptor_reads[st].size(); ++lvl)
            out += fmt::format("{}{}", lvl ? "," : "", e.descriptor_reads[st][lvl]);
        out += st == 0 ? "]," : "]";
    }
    out += "},";
    field("walk_slot_waits", e.walk_slot_waits);
    field("walk_slot_stall_ps", e.walk_slot_stall);
    out += "\"faults\":{";
    bool first = true;
    for (unsigned id = 0; id < e.faults.size(); ++id) {
        if (e.faults[id] == 0)
            continue;
        out += fmt::format("{}\"{}\":{}", first ? "" : ",",
                           arch::event_name(static_cast<arch::event_id>(id)), e.faults[id]);
        first = false;
    }
    out += "},";
    out += "\"commands\":{";
    first = true;
    for (unsigned op = 0; op < m_counters.commands.size(); ++op) {
        if (m_counters.commands[op] == 0)
            continue;
        out +=
            fmt::format("{}\"{}\":{}", first ? "" : ",",
                        arch::opcode_name(static_cast<arch::opcode>(op)), m_counters.commands[op]);
        first = false;
    }
    out += "},";
    field("command_errors", m_counters.command_errors);
    field("syncs", m_counters.syncs);
    field("sync_msis", m_counters.sync_msis);
    field("sync_irqs", m_counters.sync_irqs);
    field("sevs", m_counters.sevs);
    field("atc_inv_sent", m_counters.atc_inv_sent);
    field("atc_inv_completed", m_counters.atc_inv_completed);
    field("atc_inv_timeouts", m_counters.atc_inv_timeouts);
    field("ats_requests", m_counters.ats_requests);
    field("dmi_grants", m_counters.dmi_grants);
    field("dmi_invalidations", m_counters.dmi_invalidations);
    field("gerror_irqs", m_counters.gerror_irqs);
    field("eventq_irqs", m_counters.eventq_irqs);
    const auto& q = m_eventq.stats();
    out +=
        fmt::format("\"event_queue\":{{\"posted\":{},\"written\":{},\"lost\":{},\"aborted\":{}}},",
                    q.posted, q.written, q.lost, q.aborted);
    out += "\"tbus\":[";
    for (std::size_t i = 0; i < tbus.size(); ++i) {
        const tbu& t = tbus[i];
        out += fmt::format("{}{{\"utlb_lookups\":{},\"utlb_hits\":{},\"slot_waits\":{},"
                           "\"slot_stall_ps\":{}}}",
                           i ? "," : "", t.utlb().stats().lookups, t.utlb().stats().hits,
                           t.slots().stats().waits, t.slots().stats().total_wait);
    }
    out += "],";
    std::string h;
    m_translation_latency.to_json(h);
    out += "\"translation_latency_ps\":" + h + ",";
    h.clear();
    m_sync_latency.to_json(h);
    out += "\"sync_latency_ps\":" + h;
    out += "}";
    return out;
}

} // namespace smmu
