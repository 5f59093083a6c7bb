#include "model/pcie/endpoint.h"

#include <algorithm>
#include <stdexcept>

#include "model/arch/bits.h"
#include "model/timing/json.h"

namespace smmu::pcie {

using timing::append_json_field;

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;
using timing::time_ps;

namespace {

constexpr unsigned page_log2 = 12; // PCIe: a request never crosses a 4 KiB boundary
constexpr std::uint64_t page_bytes = std::uint64_t{1} << page_log2;
constexpr std::uint32_t max_itags = 32;

bool is_power_of_two_in(std::uint32_t v, std::uint32_t lo, std::uint32_t hi) {
    return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

void require_tlp_size(std::uint32_t v, const char* name) {
    if (!is_power_of_two_in(v, 128, 4096))
        throw std::invalid_argument(std::string("endpoint: ") + name +
                                    " must be a power of two from 128 to 4096, not " +
                                    std::to_string(v));
}

/// The access a transfer makes. The privileged and execute attributes travel in the PASID
/// prefix, so they exist only with a PASID; execute only for reads.
atc_access access_of(const dma_request& req) {
    atc_access a;
    a.write = req.dir == dma_dir::write;
    a.privileged = req.pasid.has_value() && req.privileged;
    a.execute = req.pasid.has_value() && req.execute && !a.write;
    return a;
}

/// Points a payload at one data TLP, or at an ATS message (no data).
void prepare(tlm::tlm_generic_payload& gp, tlm::tlm_command cmd, std::uint64_t address,
             std::uint8_t* data, std::uint32_t bytes) {
    gp.set_command(cmd);
    gp.set_address(address);
    gp.set_data_ptr(data);
    gp.set_data_length(bytes);
    gp.set_streaming_width(bytes);
    gp.set_byte_enable_ptr(nullptr);
    gp.set_byte_enable_length(0);
    gp.set_dmi_allowed(false);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

} // namespace

void endpoint_params::validate() const {
    require_tlp_size(max_payload_bytes, "max_payload_bytes");
    require_tlp_size(max_read_request_bytes, "max_read_request_bytes");
    if (max_outstanding_invalidations < 1 || max_outstanding_invalidations > max_itags)
        throw std::invalid_argument("endpoint: max_outstanding_invalidations must be 1..32, not " +
                                    std::to_string(max_outstanding_invalidations));
    arch::validate_geometry(arch::cache_geometry{atc.entries, atc.ways, atc.policy, atc.seed},
                            "endpoint: atc");
}

void endpoint_stats::to_json(std::string& out) const {
    out += '{';
    append_json_field(out, "dma_transfers", dma_transfers);
    append_json_field(out, "dma_failed", dma_failed);
    append_json_field(out, "dma_rejected", dma_rejected);
    append_json_field(out, "dma_bytes", dma_bytes);
    append_json_field(out, "tlps", tlps);
    append_json_field(out, "tlps_translated", tlps_translated);
    append_json_field(out, "tlps_untranslated", tlps_untranslated);
    append_json_field(out, "tlps_failed", tlps_failed);
    append_json_field(out, "atc_hits", atc_hits);
    append_json_field(out, "atc_misses", atc_misses);
    append_json_field(out, "translation_requests", translation_requests);
    append_json_field(out, "translations_granted", translations_granted);
    append_json_field(out, "translations_untranslated_only", translations_untranslated_only);
    append_json_field(out, "translations_denied", translations_denied);
    append_json_field(out, "translations_unsupported", translations_unsupported);
    append_json_field(out, "translations_aborted", translations_aborted);
    append_json_field(out, "translations_broken", translations_broken);
    append_json_field(out, "invalidations_received", invalidations_received);
    append_json_field(out, "invalidations_completed", invalidations_completed);
    append_json_field(out, "invalidation_messages", invalidation_messages);
    append_json_field(out, "invalidations_unsupported", invalidations_unsupported);
    append_json_field(out, "invalidations_malformed", invalidations_malformed);
    append_json_field(out, "max_outstanding_invalidations", max_outstanding_invalidations);
    out += ",\"atc\":";
    atc.to_json(out);
    out += '}';
}

/// One dma() call in progress.
struct endpoint::transfer {
    const dma_request& req;
    atc_access access;
    tlm::tlm_generic_payload& gp;
    time_ps issue_at; ///< when the next TLP can leave the function
    time_ps last_end; ///< latest completion so far
    dma_outcome& out;
};

/// A payload from the pool, returned even if the thread is killed while waiting.
struct endpoint::payload_lease {
    endpoint& owner;
    tlm::tlm_generic_payload* gp;
    explicit payload_lease(endpoint& e)
        : owner(e)
        , gp(e.acquire_payload()) {}
    ~payload_lease() { owner.release_payload(gp); }
    payload_lease(const payload_lease&) = delete;
    payload_lease& operator=(const payload_lease&) = delete;
};

endpoint::endpoint(const sc_core::sc_module_name& name, const endpoint_params& params)
    : sc_core::sc_module(name)
    , upstream("upstream")
    , inv_in("inv_in")
    , m_params((params.validate(), params))
    , m_atc(params.atc)
    , m_zeros(page_bytes, 0)
    , m_discard(page_bytes, 0) {
    inv_in.register_b_transport(this, &endpoint::inv_b_transport);
    SC_HAS_PROCESS(endpoint);
    SC_THREAD(completion_thread);
}

endpoint::~endpoint() = default;

void endpoint::set_ats_enabled(bool on) {
    if (!m_params.ats_capable)
        return;
    if (m_ats_enabled && !on)
        m_atc.flush();
    m_ats_enabled = on;
}

void endpoint::set_pasid_enabled(bool on) {
    if (m_params.pasid_capable)
        m_pasid_enabled = on;
}

endpoint_stats endpoint::stats() const {
    endpoint_stats s = m_stats;
    s.atc = m_atc.stats();
    return s;
}

// ---------------------------------------------------------------- DMA

tlm::tlm_generic_payload* endpoint::acquire_payload() {
    if (m_payloads.empty())
        return new tlm::tlm_generic_payload;
    tlm::tlm_generic_payload* gp = m_payloads.back().release();
    m_payloads.pop_back();
    return gp;
}

void endpoint::release_payload(tlm::tlm_generic_payload* gp) {
    m_payloads.emplace_back(gp);
}

bool endpoint::acceptable(const dma_request& req) const {
    if (req.length == 0 || req.length - 1 > ~std::uint64_t{0} - req.address)
        return false;
    return !req.pasid || (m_pasid_enabled && *req.pasid <= max_pasid);
}

std::uint32_t endpoint::tlp_bytes(const transfer& t, std::uint64_t address,
                                  std::uint64_t left) const {
    const std::uint64_t limit =
        t.access.write ? m_params.max_payload_bytes : m_params.max_read_request_bytes;
    const std::uint64_t to_boundary = page_bytes - (address & (page_bytes - 1));
    return static_cast<std::uint32_t>(std::min({left, limit, to_boundary}));
}

dma_outcome endpoint::dma(const dma_request& req) {
    dma_outcome out;
    ++m_stats.dma_transfers;
    if (!acceptable(req)) {
        ++m_stats.dma_rejected;
        ++m_stats.dma_failed;
        return out;
    }
    const sc_time start = sc_core::sc_time_stamp();
    payload_lease held{*this};

    const time_ps now = now_ps(SC_ZERO_TIME);
    transfer t{req, access_of(req), *held.gp, now, now, out};
    bool ok = true;
    for (std::uint64_t done = 0; ok && done < req.length;) {
        const std::uint64_t address = req.address + done;
        const std::uint32_t bytes = tlp_bytes(t, address, req.length - done);
        std::uint8_t* data = req.data != nullptr ? req.data + done
                             : t.access.write    ? m_zeros.data()
                                                 : m_discard.data();
        ok = send_tlp(t, address, bytes, data);
        done += bytes;
    }
    const sc_time rest = delay_until(t.last_end);
    if (rest != SC_ZERO_TIME)
        wait(rest);
    out.ok = ok;
    out.latency = sc_core::sc_time_stamp() - start;
    if (!ok)
        ++m_stats.dma_failed;
    m_dma_latency.record(to_ps(out.latency));
    return out;
}

bool endpoint::send_tlp(transfer& t, std::uint64_t address, std::uint32_t bytes,
                        std::uint8_t* data) {
    ++m_stats.tlps;
    ++t.out.tlps;
    atc_lookup use;
    const translation_verdict verdict = translate(t, address, use);
    if (verdict == translation_verdict::failed) {
        ++m_stats.tlps_failed;
        return false;
    }
    const bool translated = verdict == translation_verdict::translated;
    prepare(t.gp, t.access.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND,
            translated ? use.translated_address : address, data, bytes);
    tlp_extension ext;
    ext.rid = m_params.rid;
    ext.pasid = t.req.pasid;
    ext.privileged = t.access.privileged;
    ext.execute = t.access.execute;
    ext.at = translated ? address_type::translated : address_type::untranslated;
    time_ps end = 0;
    bool ok = false;
    {
        scoped_tlp_extension tag(t.gp, ext);
        ok = transport(t.gp, t, end);
    }
    if (translated) {
        m_atc.mark_in_flight(use.entry, end);
        ++m_stats.tlps_translated;
    } else {
        ++m_stats.tlps_untranslated;
        ++t.out.untranslated;
    }
    t.last_end = std::max(t.last_end, end);
    if (ok)
        m_stats.dma_bytes += bytes;
    else
        ++m_stats.tlps_failed;
    if (!m_params.pipelined_tlps) {
        const sc_time d = delay_until(end);
        if (d != SC_ZERO_TIME)
            wait(d);
        t.issue_at = std::max(t.issue_at, now_ps(SC_ZERO_TIME));
    }
    return ok;
}

bool endpoint::transport(tlm::tlm_generic_payload& gp, transfer& t, time_ps& end) {
    sc_time delay = delay_until(t.issue_at);
    upstream->b_transport(gp, delay);
    end = now_ps(delay);
    return gp.is_response_ok();
}

std::optional<tlm_ext::translation_completion>
endpoint::prefetch_translation(std::uint64_t address, std::optional<std::uint32_t> pasid,
                               bool no_write) {
    if (!m_ats_enabled)
        return std::nullopt;
    dma_request req;
    req.dir = no_write ? dma_dir::read : dma_dir::write;
    req.address = address;
    req.length = 1;
    req.pasid = pasid;
    if (!acceptable(req))
        return std::nullopt;
    payload_lease held{*this};
    dma_outcome out;
    const time_ps now = now_ps(SC_ZERO_TIME);
    transfer t{req, access_of(req), *held.gp, now, now, out};
    m_last_completion.reset();
    atc_lookup use;
    request_translation(t, address, use);
    const sc_time rest = delay_until(t.issue_at);
    if (rest != SC_ZERO_TIME)
        wait(rest);
    return m_last_completion;
}

endpoint::translation_verdict endpoint::translate(transfer& t, std::uint64_t address,
                                                  atc_lookup& use) {
    if (!m_ats_enabled)
        return translation_verdict::untranslated;
    use = m_atc.lookup(t.req.pasid, address, t.access);
    if (use.hit() && use.untranslated_only)
        return translation_verdict::untranslated;
    if (use.hit()) {
        ++m_stats.atc_hits;
        ++t.out.atc_hits;
        if (on_atc_hit)
            on_atc_hit(address, t.req.pasid, t.issue_at);
        return translation_verdict::translated;
    }
    ++m_stats.atc_misses;
    ++t.out.atc_misses;
    if (!m_params.request_translations)
        return translation_verdict::untranslated;
    return request_translation(t, address, use);
}

endpoint::translation_verdict endpoint::request_translation(transfer& t, std::uint64_t address,
                                                            atc_lookup& use) {
    ++m_stats.translation_requests;
    const std::uint64_t page = arch::align_down(address, page_log2);
    prepare(t.gp, tlm::TLM_IGNORE_COMMAND, page, nullptr, 0);
    tlp_extension ext;
    ext.rid = m_params.rid;
    ext.pasid = t.req.pasid;
    ext.privileged = t.access.privileged;
    ext.execute = t.access.execute;
    ext.at = address_type::translation_request;
    tlm_ext::translation_request tr;
    tr.address = page;
    tr.length = page_bytes;
    tr.pasid = t.req.pasid;
    tr.no_write = !t.access.write;
    tr.execute = t.access.execute;
    tr.privileged = t.access.privileged;

    time_ps done = 0;
    bool delivered = false;
    std::optional<tlm_ext::translation_completion> answer;
    {
        scoped_tlp_extension tag(t.gp, ext);
        tlm_ext::scoped_extension<tlm_ext::ats_extension> message(t.gp, tlm_ext::ats_extension{tr});
        delivered = transport(t.gp, t, done);
        if (const auto* c = message.get().get<tlm_ext::translation_completion>())
            answer = *c;
    }
    const time_ps round_trip = done - std::min(done, t.issue_at);
    m_translation_latency.record(round_trip);
    t.out.translation_latency += from_ps(round_trip);
    t.issue_at = std::max(t.issue_at, done);

    m_last_completion = answer;
    if (!delivered || !answer) {
        ++m_stats.translations_broken;
        return translation_verdict::failed;
    }
    switch (answer->status) {
    case tlm_ext::ats_status::unsupported_request:
        ++m_stats.translations_unsupported;
        return translation_verdict::untranslated;
    case tlm_ext::ats_status::completer_abort:
        ++m_stats.translations_aborted;
        return translation_verdict::failed;
    case tlm_ext::ats_status::success:
        break;
    }
    if (!tlm_ext::is_valid(*answer)) {
        ++m_stats.translations_broken;
        return translation_verdict::failed;
    }
    if (answer->untranslated_only) {
        ++m_stats.translations_untranslated_only;
        use = m_atc.fill(t.req.pasid, address, *answer);
        return translation_verdict::untranslated;
    }
    if (!permits(answer->permissions, t.access)) {
        ++m_stats.translations_denied; // a translation fault for this access: not cached
        return translation_verdict::failed;
    }
    ++m_stats.translations_granted;
    use = m_atc.fill(t.req.pasid, address, *answer);
    return use.hit() ? translation_verdict::translated : translation_verdict::failed;
}

// ---------------------------------------------------------------- invalidation

void endpoint::inv_b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    auto* ext = trans.get_extension<tlm_ext::ats_extension>();
    const auto* msg = ext != nullptr ? ext->get<tlm_ext::invalidation_request>() : nullptr;
    if (msg == nullptr || !tlm_ext::is_valid(*msg)) {
        ++m_stats.invalidations_malformed;
        trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
    }
    const tlm_ext::invalidation_request req = *msg;
    ++m_stats.invalidations_received;
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    if (!m_params.ats_capable) {
        tlm_ext::invalidation_completion done;
        done.stream_id = req.stream_id;
        done.itag_vector = 1u << req.itag;
        done.status = tlm_ext::ats_status::unsupported_request;
        ext->message = done;
        ++m_stats.invalidations_unsupported;
        return;
    }
    const time_ps arrival = now_ps(delay);
    while (m_outstanding >= m_params.max_outstanding_invalidations)
        wait(m_slot_freed);
    const time_ps start = std::max(arrival, now_ps(SC_ZERO_TIME));
    const atc_invalidation_result r = m_atc.invalidate(req);
    ++m_outstanding;
    m_stats.max_outstanding_invalidations =
        std::max(m_stats.max_outstanding_invalidations, m_outstanding);
    const time_ps drained = std::max(start, r.in_flight_until);
    m_pending.push_back(pending_invalidation{
        req.stream_id, req.itag,
        timing::saturating_add(drained, m_params.invalidation_completion_latency_ps)});
    m_pending_changed.notify(SC_ZERO_TIME);
    delay = delay_until(start);
}

void endpoint::completion_thread() {
    for (;;) {
        if (m_pending.empty() || !m_params.answer_invalidations) {
            wait(m_pending_changed);
            continue;
        }
        const auto first =
            std::min_element(m_pending.begin(), m_pending.end(),
                             [](const pending_invalidation& a, const pending_invalidation& b) {
                                 return a.ready_at < b.ready_at;
                             });
        const sc_time until = delay_until(first->ready_at);
        if (until != SC_ZERO_TIME) {
            wait(until, m_pending_changed); // an earlier one may arrive meanwhile
            continue;
        }
        // Everything ready now leaves together: one message per StreamID.
        const auto is_ready = [](const pending_invalidation& p) {
            return delay_until(p.ready_at) == SC_ZERO_TIME;
        };
        for (auto ready = std::find_if(m_pending.begin(), m_pending.end(), is_ready);
             ready != m_pending.end();
             ready = std::find_if(m_pending.begin(), m_pending.end(), is_ready)) {
            const std::uint32_t sid = ready->stream_id;
            std::uint32_t itags = 0;
            std::uint32_t count = 0;
            for (auto it = m_pending.begin(); it != m_pending.end();) {
                if (it->stream_id == sid && is_ready(*it)) {
                    itags |= 1u << it->itag;
                    ++count;
                    it = m_pending.erase(it);
                } else {
                    ++it;
                }
            }
            m_outstanding -= count;
            m_stats.invalidations_completed += count;
            send_completion(sid, itags);
        }
        m_slot_freed.notify(SC_ZERO_TIME);
    }
}

void endpoint::send_completion(std::uint32_t stream_id, std::uint32_t itags) {
    tlm::tlm_generic_payload& gp = m_completion_payload;
    prepare(gp, tlm::TLM_IGNORE_COMMAND, 0, nullptr, 0);
    tlp_extension ext;
    ext.rid = m_params.rid;
    tlm_ext::invalidation_completion done;
    done.stream_id = stream_id;
    done.itag_vector = itags;
    scoped_tlp_extension tag(gp, ext);
    tlm_ext::scoped_extension<tlm_ext::ats_extension> message(gp, tlm_ext::ats_extension{done});
    sc_time delay = SC_ZERO_TIME; // a posted message: the thread does not wait for its delivery
    upstream->b_transport(gp, delay);
    ++m_stats.invalidation_messages;
}

} // namespace smmu::pcie
