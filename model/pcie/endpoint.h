// One PCIe function with a DMA engine, an ATC and the ATS protocol (docs/pcie.md).
//
// Sockets:
//   upstream  initiator to a root complex's `upstream` socket: DMA TLPs, ATS Translation
//             Requests and Invalidation Completions, each with a tlp_extension (tlp.h).
//   inv_in    target for Invalidation Requests from the root complex (ats_extension).
//
// DMA (dma_port::dma, called from a generator's SystemC thread): the transfer is split into
// TLPs of at most max_payload_bytes (writes) or max_read_request_bytes (reads), never crossing
// a 4 KiB boundary. With ATS enabled, every TLP looks up the ATC: a hit goes out translated; a
// miss (or a permission miss) sends a Translation Request when request_translations is set
// (success: cache, then send translated; UR: send untranslated; CA or a completion that does
// not grant the access: the TLP fails and the transfer stops), else goes out untranslated.
// Without ATS every TLP is untranslated. Each TLP's delay annotation is waited for before the
// next TLP starts (pipelined_tlps = false), or the TLPs of a transfer leave back to back and
// the transfer waits once for the last completion (pipelined_tlps = true). dma() returns when
// the last TLP has completed.
//
// Invalidation: an Invalidate Request removes the matching ATC entries at once, then the
// function waits until every translated TLP that used one of them has completed, then for
// invalidation_completion_latency_ps, and sends an Invalidation Completion upstream as a
// transaction of its own (ats.h, second option) from its completion thread. Completions that
// become ready at the same time share one message (ITag vector). At most
// max_outstanding_invalidations requests are outstanding: a further one blocks the caller's
// b_transport until a completion has been sent. A function that is not ATS capable answers
// every Invalidate Request at once, in its payload, with status UR.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/pcie/atc.h"
#include "model/pcie/dma_port.h"
#include "model/pcie/tlp.h"
#include "model/timing/clock.h"
#include "model/timing/histogram.h"
#include "model/tlm/ats.h"

namespace smmu::pcie {

struct endpoint_params {
    requester_id rid = 0;
    bool ats_capable = true;
    bool pasid_capable = false;
    /// Max_Payload_Size: bytes of data per write TLP; a power of two, 128..4096.
    std::uint32_t max_payload_bytes = 256;
    /// Max_Read_Request_Size: bytes per read request; a power of two, 128..4096.
    std::uint32_t max_read_request_bytes = 512;
    atc_params atc;
    /// Device processing time of an Invalidate Request, after the TLPs that used the removed
    /// entries have completed (calibration.md §3: not sourced, "a few µs" round trip).
    timing::time_ps invalidation_completion_latency_ps = 1'000'000;
    /// On an ATC miss, ask for a translation (else send the TLP untranslated).
    bool request_translations = true;
    /// Fault injection: false = never send Invalidation Completions.
    bool answer_invalidations = true;
    /// Invalidate Requests the function accepts at a time: 1..32 (PCIe ITags).
    std::uint32_t max_outstanding_invalidations = 32;
    /// Send a transfer's TLPs back to back instead of one after the other.
    bool pipelined_tlps = false;

    /// Throws std::invalid_argument naming the first bad parameter.
    void validate() const;
};

struct endpoint_stats {
    std::uint64_t dma_transfers = 0; ///< dma() calls
    std::uint64_t dma_failed = 0;    ///< transfers that returned ok = false (rejected included)
    std::uint64_t dma_rejected = 0;  ///< refused before any TLP (length 0, wrap, PASID unusable)
    std::uint64_t dma_bytes = 0;     ///< bytes moved by successful TLPs
    std::uint64_t tlps = 0;          ///< data TLPs attempted
    std::uint64_t tlps_translated = 0;
    std::uint64_t tlps_untranslated = 0;
    std::uint64_t tlps_failed = 0; ///< error response, or no usable translation
    std::uint64_t atc_hits = 0;    ///< TLPs sent translated after an ATC hit
    std::uint64_t atc_misses = 0;  ///< TLPs whose lookup missed (permission misses included)

    std::uint64_t translation_requests = 0;
    std::uint64_t translations_granted = 0;           ///< success allowing the access (cached)
    std::uint64_t translations_untranslated_only = 0; ///< success with U (cached, untranslated)
    std::uint64_t translations_denied = 0;            ///< success without the access (not cached)
    std::uint64_t translations_unsupported = 0;       ///< UR: TLP sent untranslated
    std::uint64_t translations_aborted = 0;           ///< CA: TLP failed
    std::uint64_t translations_broken = 0;            ///< error response or malformed completion

    std::uint64_t invalidations_received = 0;
    std::uint64_t invalidations_completed = 0;       ///< ITags completed
    std::uint64_t invalidation_messages = 0;         ///< Invalidation Completion messages sent
    std::uint64_t invalidations_unsupported = 0;     ///< answered UR (not ATS capable)
    std::uint64_t invalidations_malformed = 0;       ///< refused with an error response
    std::uint32_t max_outstanding_invalidations = 0; ///< highest number outstanding at once

    atc_stats atc;

    /// Appends every field above as one JSON object, in declaration order; "atc" is
    /// atc_stats::to_json.
    void to_json(std::string& out) const;
};

class endpoint : public sc_core::sc_module, public dma_port {
public:
    tlm_utils::simple_initiator_socket<endpoint> upstream;
    tlm_utils::simple_target_socket<endpoint> inv_in;

    /// Throws std::invalid_argument for bad parameters (endpoint_params::validate).
    endpoint(const sc_core::sc_module_name& name, const endpoint_params& params);
    ~endpoint() override;

    dma_outcome dma(const dma_request& req) override;
    /// Sends one Translation Request for the page of `address` (as on an ATC miss; a
    /// usable answer is cached) and returns the completion; nullopt when ATS is not enabled
    /// or no well-formed completion came back. Blocks for the round trip.
    std::optional<tlm_ext::translation_completion>
    prefetch_translation(std::uint64_t address, std::optional<std::uint32_t> pasid, bool no_write);

    /// Called for every TLP sent translated from an ATC entry: the untranslated address, the
    /// PASID and when the TLP left (for an invalidation-protocol checker). Optional.
    std::function<void(std::uint64_t, std::optional<std::uint32_t>, timing::time_ps)> on_atc_hit;

    /// ATS Control.Enable (written by the driver). Ignored without ats_capable; disabling
    /// empties the ATC.
    void set_ats_enabled(bool on);
    bool ats_enabled() const { return m_ats_enabled; }
    /// PASID Control.Enable. Ignored without pasid_capable.
    void set_pasid_enabled(bool on);
    bool pasid_enabled() const { return m_pasid_enabled; }

    const endpoint_params& params() const { return m_params; }
    const atc& translation_cache() const { return m_atc; }
    std::uint32_t outstanding_invalidations() const { return m_outstanding; }
    endpoint_stats stats() const;
    /// Transfer latency (issue to last completion) and per-request ATS round trips, in ps.
    const timing::latency_histogram& dma_latency() const { return m_dma_latency; }
    const timing::latency_histogram& translation_latency() const { return m_translation_latency; }

private:
    struct transfer;      // one dma() call in progress
    struct payload_lease; // a pooled payload held for one call
    struct pending_invalidation {
        std::uint32_t stream_id;
        std::uint8_t itag;
        timing::time_ps ready_at;
    };
    enum class translation_verdict : std::uint8_t { translated, untranslated, failed };

    bool acceptable(const dma_request& req) const;
    std::uint32_t tlp_bytes(const transfer& t, std::uint64_t address, std::uint64_t left) const;
    /// Sends one data TLP (with its ATS steps); false if it failed. Advances t's issue time.
    bool send_tlp(transfer& t, std::uint64_t address, std::uint32_t bytes, std::uint8_t* data);
    /// Looks up the ATC and translates on a miss; the lookup to use (hit = send translated).
    translation_verdict translate(transfer& t, std::uint64_t address, atc_lookup& use);
    translation_verdict request_translation(transfer& t, std::uint64_t address, atc_lookup& use);
    bool transport(tlm::tlm_generic_payload& gp, transfer& t, timing::time_ps& end);

    tlm::tlm_generic_payload* acquire_payload();
    void release_payload(tlm::tlm_generic_payload* gp);

    void inv_b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    void completion_thread();
    void send_completion(std::uint32_t stream_id, std::uint32_t itags);

    endpoint_params m_params;
    atc m_atc;
    bool m_ats_enabled = false;
    bool m_pasid_enabled = false;

    std::vector<std::unique_ptr<tlm::tlm_generic_payload>> m_payloads; ///< idle, for reuse
    std::vector<std::uint8_t> m_zeros;   ///< data of writes without a buffer
    std::vector<std::uint8_t> m_discard; ///< data of reads without a buffer

    std::vector<pending_invalidation> m_pending;
    std::uint32_t m_outstanding = 0;
    sc_core::sc_event m_pending_changed;
    sc_core::sc_event m_slot_freed;
    tlm::tlm_generic_payload m_completion_payload;

    endpoint_stats m_stats;
    std::optional<tlm_ext::translation_completion> m_last_completion;
    timing::latency_histogram m_dma_latency;
    timing::latency_histogram m_translation_latency;
};

} // namespace smmu::pcie
