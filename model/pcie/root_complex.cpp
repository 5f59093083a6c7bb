#include "model/pcie/root_complex.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "model/timing/json.h"

namespace smmu::pcie {

using timing::append_json_field;

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;
using timing::time_ps;

namespace {

std::string indexed(const char* what, std::size_t i, const char* field) {
    return std::string("root_complex: ") + what + "[" + std::to_string(i) + "]." + field;
}

void prepare_message(tlm::tlm_generic_payload& gp, std::uint64_t address) {
    gp.set_command(tlm::TLM_IGNORE_COMMAND);
    gp.set_address(address);
    gp.set_data_ptr(nullptr);
    gp.set_data_length(0);
    gp.set_streaming_width(0);
    gp.set_byte_enable_ptr(nullptr);
    gp.set_byte_enable_length(0);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

tlm_ext::translation_completion completion_with(tlm_ext::ats_status status) {
    tlm_ext::translation_completion c;
    c.status = status;
    return c;
}

} // namespace

void root_complex_params::validate() const {
    if (ports.empty())
        throw std::invalid_argument("root_complex: ports must list at least one root port");
    for (std::size_t i = 0; i < ports.size(); ++i) {
        const std::uint32_t mps = ports[i].max_payload_bytes;
        if (mps < 128 || mps > 4096 || (mps & (mps - 1)) != 0)
            throw std::invalid_argument(indexed("ports", i, "max_payload_bytes") +
                                        " must be a power of two from 128 to 4096");
    }
    std::set<requester_id> seen;
    for (std::size_t i = 0; i < functions.size(); ++i) {
        if (functions[i].port >= ports.size())
            throw std::invalid_argument(indexed("functions", i, "port") + " " +
                                        std::to_string(functions[i].port) + " names no root port");
        if (!seen.insert(functions[i].rid).second)
            throw std::invalid_argument(indexed("functions", i, "rid") + " " +
                                        std::to_string(functions[i].rid) +
                                        " belongs to an earlier function too");
    }
}

void root_complex_stats::to_json(std::string& out) const {
    out += '{';
    append_json_field(out, "dma_tlps", dma_tlps);
    append_json_field(out, "dma_read_bytes", dma_read_bytes);
    append_json_field(out, "dma_write_bytes", dma_write_bytes);
    append_json_field(out, "unsupported_requests", unsupported_requests);
    append_json_field(out, "malformed", malformed);
    append_json_field(out, "translation_requests", translation_requests);
    append_json_field(out, "invalidation_requests", invalidation_requests);
    append_json_field(out, "invalidations_unowned", invalidations_unowned);
    append_json_field(out, "invalidations_forwarded", invalidations_forwarded);
    append_json_field(out, "function_completions", function_completions);
    append_json_field(out, "smmu_completions", smmu_completions);
    append_json_field(out, "unsolicited_completions", unsolicited_completions);
    out += '}';
}

root_complex::root_complex(const sc_core::sc_module_name& name, const root_complex_params& params)
    : sc_core::sc_module(name)
    , upstream("upstream")
    , downstream("downstream")
    , to_smmu("to_smmu")
    , ats_to_smmu("ats_to_smmu")
    , ats_from_smmu("ats_from_smmu")
    , m_params((params.validate(), params)) {
    for (const root_port_params& p : m_params.ports)
        m_ports.push_back(
            port{link{p.upstream}, link{p.downstream}, p.tlp_overhead_bytes, p.max_payload_bytes});
    for (std::size_t f = 0; f < m_params.functions.size(); ++f) {
        if (const auto sid = stream_of(m_params.functions[f].rid))
            m_owners[*sid].push_back(f);
    }
    upstream.register_b_transport(this, &root_complex::b_transport);
    upstream.register_nb_transport_fw(this, &root_complex::nb_transport_fw);
    upstream.register_transport_dbg(this, &root_complex::transport_dbg);
    ats_from_smmu.register_b_transport(this, &root_complex::smmu_b_transport);
}

void root_complex::end_of_elaboration() {
    const std::size_t n = m_params.functions.size();
    if (upstream.size() != n || downstream.size() != n) {
        const std::string msg = "params.functions lists " + std::to_string(n) +
                                " functions, but upstream has " + std::to_string(upstream.size()) +
                                " and downstream " + std::to_string(downstream.size()) +
                                " bindings";
        SC_REPORT_ERROR(name(), msg.c_str());
    }
}

const timing::busy_resource& root_complex::upstream_link(std::size_t p) const {
    return m_ports.at(p).up.wire;
}

const timing::busy_resource& root_complex::downstream_link(std::size_t p) const {
    return m_ports.at(p).down.wire;
}

std::string root_complex::stats_json() const {
    std::string out = "{\"counters\":";
    m_stats.to_json(out);
    out += ",\"ports\":[";
    for (std::size_t i = 0; i < m_ports.size(); ++i) {
        out += i == 0 ? "{\"upstream\":" : ",{\"upstream\":";
        m_ports[i].up.wire.stats().to_json(out);
        out += ",\"downstream\":";
        m_ports[i].down.wire.stats().to_json(out);
        out += '}';
    }
    out += "]}";
    return out;
}

std::optional<std::uint32_t> root_complex::stream_of(requester_id rid) const {
    const auto it = m_params.stream_ids.find(rid);
    if (it == m_params.stream_ids.end())
        return std::nullopt;
    return it->second;
}

time_ps root_complex::cross(link& l, std::uint32_t overhead, std::uint64_t tlps,
                            std::uint64_t data_bytes, time_ps at) {
    const std::uint64_t bytes = overhead * tlps + data_bytes;
    const std::uint64_t bandwidth = l.params.bandwidth_mb_s;
    // 1 byte at 1 MB/s takes 1 µs = 10^6 ps; round the serialisation time up.
    const time_ps hold = bandwidth == 0 ? 0 : (bytes * 1'000'000 + bandwidth - 1) / bandwidth;
    const timing::grant g = l.wire.acquire(at, hold);
    return timing::saturating_add(g.end, l.params.latency_ps);
}

// ---------------------------------------------------------------- from the functions

void root_complex::b_transport(int id, tlm::tlm_generic_payload& trans, sc_time& delay) {
    const auto f = static_cast<std::size_t>(id);
    const tlp_extension* tlp = find_tlp_extension(trans);
    if (id < 0 || f >= m_params.functions.size() || tlp == nullptr) {
        ++m_stats.malformed;
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    port& p = m_ports[m_params.functions[f].port];
    auto* ats = trans.get_extension<tlm_ext::ats_extension>();
    if (ats != nullptr) {
        if (const auto* done = ats->get<tlm_ext::invalidation_completion>()) {
            on_function_completion(f, p, *tlp, *done, trans, delay);
            return;
        }
    }
    if (tlp->at == address_type::translation_request) {
        if (ats == nullptr || ats->get<tlm_ext::translation_request>() == nullptr) {
            ++m_stats.malformed;
            trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
            return;
        }
        forward_translation_request(p, *tlp, *ats, trans, delay);
        return;
    }
    if (trans.get_command() == tlm::TLM_IGNORE_COMMAND) {
        ++m_stats.malformed; // neither data nor a message this root complex handles
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    forward_dma(p, *tlp, trans, delay);
}

tlm::tlm_sync_enum root_complex::nb_transport_fw(int, tlm::tlm_generic_payload& trans,
                                                 tlm::tlm_phase&, sc_time&) {
    // Loosely timed only: refuse approximately-timed traffic instead of failing in SystemC.
    ++m_stats.malformed;
    trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
    return tlm::TLM_COMPLETED;
}

unsigned root_complex::transport_dbg(int, tlm::tlm_generic_payload& trans) {
    const tlp_extension* tlp = find_tlp_extension(trans);
    const auto sid = tlp != nullptr ? stream_of(tlp->rid) : std::nullopt;
    if (!sid || tlp->at == address_type::translation_request)
        return 0;
    tlm_ext::smmu_extension side;
    side.stream_id = *sid;
    side.substream_id = tlp->pasid;
    side.privileged = tlp->privileged;
    side.instruction = tlp->execute;
    side.ats = tlp->at;
    tlm_ext::scoped_smmu_extension tag(trans, side);
    return to_smmu->transport_dbg(trans);
}

void root_complex::forward_dma(port& p, const tlp_extension& tlp, tlm::tlm_generic_payload& trans,
                               sc_time& delay) {
    const bool write = trans.is_write();
    const std::uint64_t bytes = trans.get_data_length();
    time_ps t = cross(p.up, p.overhead, 1, write ? bytes : 0, now_ps(delay));
    const auto sid = stream_of(tlp.rid);
    if (!sid) {
        ++m_stats.unsupported_requests;
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        if (!write) // a completion with UR status, no data
            t = cross(p.down, p.overhead, 1, 0, t);
        delay = delay_until(t);
        return;
    }
    tlm_ext::smmu_extension side;
    side.stream_id = *sid;
    side.substream_id = tlp.pasid;
    side.privileged = tlp.privileged;
    side.instruction = tlp.execute;
    side.ats = tlp.at;
    sc_time d = delay_until(t);
    {
        tlm_ext::scoped_smmu_extension tag(trans, side);
        to_smmu->b_transport(trans, d);
    }
    t = now_ps(d);
    ++m_stats.dma_tlps;
    if (write) {
        m_stats.dma_write_bytes += bytes;
    } else {
        m_stats.dma_read_bytes += bytes;
        const bool data = trans.is_response_ok() && bytes != 0;
        const std::uint64_t tlps = data ? (bytes + p.max_payload - 1) / p.max_payload : 1;
        t = cross(p.down, p.overhead, tlps, data ? bytes : 0, t);
    }
    delay = delay_until(t);
}

void root_complex::forward_translation_request(port& p, const tlp_extension& tlp,
                                               tlm_ext::ats_extension& ats,
                                               tlm::tlm_generic_payload& trans, sc_time& delay) {
    time_ps t = cross(p.up, p.overhead, 1, 0, now_ps(delay));
    const auto sid = stream_of(tlp.rid);
    if (!sid) {
        ++m_stats.unsupported_requests;
        ats.message = completion_with(tlm_ext::ats_status::unsupported_request);
    } else if (ats_to_smmu.size() == 0) {
        ats.message = completion_with(tlm_ext::ats_status::unsupported_request); // no TA
    } else {
        auto* req = ats.get<tlm_ext::translation_request>();
        req->stream_id = *sid;
        req->pasid = tlp.pasid;
        ++m_stats.translation_requests;
        trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_time d = delay_until(t);
        ats_to_smmu->b_transport(trans, d);
        t = now_ps(d);
        if (!trans.is_response_ok() || ats.get<tlm_ext::translation_completion>() == nullptr)
            ats.message = completion_with(tlm_ext::ats_status::completer_abort);
    }
    const auto* c = ats.get<tlm_ext::translation_completion>();
    const bool data = c->status == tlm_ext::ats_status::success;
    t = cross(p.down, p.overhead, 1, data ? translation_completion_data_bytes : 0, t);
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    delay = delay_until(t);
}

void root_complex::on_function_completion(std::size_t f, port& p, const tlp_extension& tlp,
                                          const tlm_ext::invalidation_completion& done,
                                          tlm::tlm_generic_payload& trans, sc_time& delay) {
    ++m_stats.function_completions;
    const time_ps t = cross(p.up, p.overhead, 1, 0, now_ps(delay));
    delay = delay_until(t);
    const auto sid = stream_of(tlp.rid);
    if (!sid) {
        ++m_stats.unsupported_requests;
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    std::uint32_t complete = 0;
    time_ps at = t;
    for (std::uint32_t rest = done.itag_vector; rest != 0; rest &= rest - 1) {
        const auto itag = static_cast<std::uint8_t>(__builtin_ctz(rest));
        const auto it = m_waiting.find({*sid, itag});
        auto* owed = it != m_waiting.end() ? &it->second.functions : nullptr;
        const auto pos = owed != nullptr ? std::find(owed->begin(), owed->end(), f)
                                         : std::vector<std::size_t>::iterator{};
        if (owed == nullptr || pos == owed->end()) {
            ++m_stats.unsolicited_completions;
            continue;
        }
        owed->erase(pos);
        if (owed->empty()) {
            complete |= 1u << itag;
            at = std::max(at, it->second.not_before);
            m_waiting.erase(it);
        }
    }
    if (complete != 0)
        send_smmu_completion(*sid, complete, at);
}

void root_complex::send_smmu_completion(std::uint32_t stream_id, std::uint32_t itags, time_ps at) {
    if (ats_to_smmu.size() == 0)
        return;
    tlm::tlm_generic_payload gp;
    prepare_message(gp, 0);
    tlm_ext::invalidation_completion done;
    done.stream_id = stream_id;
    done.itag_vector = itags;
    tlm_ext::scoped_extension<tlm_ext::ats_extension> message(gp, tlm_ext::ats_extension{done});
    sc_time d = delay_until(at);
    ats_to_smmu->b_transport(gp, d);
    ++m_stats.smmu_completions;
}

// ---------------------------------------------------------------- from the SMMU

void root_complex::smmu_b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    auto* ats = trans.get_extension<tlm_ext::ats_extension>();
    const auto* req = ats != nullptr ? ats->get<tlm_ext::invalidation_request>() : nullptr;
    if (req == nullptr || !tlm_ext::is_valid(*req)) {
        ++m_stats.malformed;
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    on_invalidation_request(*ats, trans, delay);
}

void root_complex::on_invalidation_request(tlm_ext::ats_extension& ats,
                                           tlm::tlm_generic_payload& trans, sc_time& delay) {
    const tlm_ext::invalidation_request req = *ats.get<tlm_ext::invalidation_request>();
    ++m_stats.invalidation_requests;
    const auto owners = m_owners.find(req.stream_id);
    if (owners == m_owners.end()) {
        ++m_stats.invalidations_unowned;
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    const time_ps t0 = now_ps(delay);
    const std::pair<std::uint32_t, std::uint8_t> key{req.stream_id, req.itag};
    // Registered before asking anyone: a function may complete while a later one still blocks
    // the request (its invalidation queue is full). A reused ITag replaces one the SMMU gave up.
    m_waiting[key] = waiting{owners->second, t0};
    bool accepted = false;
    for (const std::size_t f : owners->second) {
        const function_answer a = ask_function(f, req, t0);
        if (a.how == function_answer::kind::later) {
            accepted = true;
            continue;
        }
        const auto it = m_waiting.find(key);
        if (it == m_waiting.end())
            continue;
        auto& owed = it->second.functions;
        owed.erase(std::remove(owed.begin(), owed.end(), f), owed.end());
        if (a.how == function_answer::kind::in_payload) {
            accepted = true;
            it->second.not_before = std::max(it->second.not_before, a.at);
        }
    }
    const auto it = m_waiting.find(key);
    if (!accepted) {
        if (it != m_waiting.end())
            m_waiting.erase(it);
        ++m_stats.invalidations_unowned;
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    if (it != m_waiting.end() && it->second.functions.empty()) {
        // Every owner has answered already: complete in the request's own payload.
        tlm_ext::invalidation_completion done;
        done.stream_id = req.stream_id;
        done.itag_vector = 1u << req.itag;
        const time_ps at = std::max(it->second.not_before, now_ps(SC_ZERO_TIME));
        m_waiting.erase(it);
        ats.message = done;
        delay = delay_until(at);
        return;
    }
    delay = delay_until(t0); // posted: the SMMU does not wait for the delivery
}

root_complex::function_answer
root_complex::ask_function(std::size_t f, const tlm_ext::invalidation_request& req, time_ps at) {
    port& p = m_ports[m_params.functions[f].port];
    const time_ps arrival = cross(p.down, p.overhead, 1, invalidation_request_data_bytes, at);
    tlm::tlm_generic_payload gp;
    prepare_message(gp, req.address);
    tlm_ext::scoped_extension<tlm_ext::ats_extension> message(gp, tlm_ext::ats_extension{req});
    sc_time d = delay_until(arrival);
    ++m_stats.invalidations_forwarded;
    downstream[static_cast<int>(f)]->b_transport(gp, d);
    if (!gp.is_response_ok())
        return function_answer{function_answer::kind::refused, 0};
    const auto* done = message.get().get<tlm_ext::invalidation_completion>();
    if (done != nullptr && ((done->itag_vector >> req.itag) & 1u) != 0) {
        ++m_stats.function_completions;
        return function_answer{function_answer::kind::in_payload,
                               cross(p.up, p.overhead, 1, 0, now_ps(d))};
    }
    return function_answer{function_answer::kind::later, 0};
}

} // namespace smmu::pcie
