// A PCIe root complex in front of an SMMU (docs/pcie.md).
//
// Sockets:
//   upstream       target, multi-bound: binding i is PCIe function i (params.functions[i]),
//                  which sits behind root port functions[i].port. Carries the functions' DMA
//                  TLPs, Translation Requests and Invalidation Completions (tlp_extension).
//   downstream     initiator, multi-bound in the same order: Invalidation Requests to each
//                  function's inv_in.
//   to_smmu        initiator: DMA, bound to one smmuv3::tbus[i].upstream. The root complex
//                  attaches an smmu_extension: StreamID = stream_ids[requester ID], SubstreamID
//                  = PASID, privileged, instruction = execute, ats = the TLP's address type.
//   ats_to_smmu    initiator (optional): Translation Requests and Invalidation Completions,
//                  bound to smmuv3::ats.
//   ats_from_smmu  target (optional): Invalidation Requests, bound from smmuv3::ats_inv.
//
// One multi-bound socket pair with a function table, rather than one socket per root port:
// a root port can lead to several functions (a multi-function device, a switch), each with its
// own requester ID, and the root complex must reach exactly the functions that own a StreamID.
// Ports only matter for link timing, which functions.port gives.
//
// Errors: a TLP from a requester ID without a StreamID gets TLM_ADDRESS_ERROR_RESPONSE (an
// Unsupported Request); a Translation Request from one gets a UR completion. A payload without
// a tlp_extension, or with an ATS message that does not belong there, gets
// TLM_COMMAND_ERROR_RESPONSE. An Invalidation Request for a StreamID that no function owns (or
// that every owner refused) gets TLM_ADDRESS_ERROR_RESPONSE: the SMMU then has nobody to wait
// for.
//
// Aliases: several requester IDs may map to one StreamID. An Invalidation Request for it goes to
// every function whose requester ID maps to it, and the root complex sends the SMMU one
// Invalidation Completion per ITag once all of them have completed it.
//
// Timing (loosely timed, the incoming delay annotation is passed through and extended): each
// root port has one link per direction, a timing::busy_resource that a TLP occupies for
// (tlp_overhead_bytes + data bytes) / bandwidth, after which it arrives link latency later.
// Requests and writes cross the upstream link; read completions (split at the port's
// max_payload_bytes), translation completions and Invalidation Requests cross the downstream
// link. A posted write ends when the SMMU (and memory) return it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/pcie/tlp.h"
#include "model/timing/clock.h"
#include "model/timing/resource.h"
#include "model/tlm/ats.h"

namespace smmu::pcie {

/// One direction of a root port's link.
struct link_params {
    /// Time from the end of a TLP's serialisation to its arrival (one way). Default 500 ns:
    /// calibration.md §3's assumed 0.5-1 µs per PCIe traversal (not measured), low end.
    timing::time_ps latency_ps = 500'000;
    /// Bytes per microsecond (MB/s); 0 = unlimited. Default: PCIe 4.0 x8, 16 GT/s x 8 lanes
    /// with 128b/130b encoding = 15754 MB/s.
    std::uint64_t bandwidth_mb_s = 15754;
};

struct root_port_params {
    link_params upstream;   ///< function -> root complex
    link_params downstream; ///< root complex -> function
    /// Bytes a TLP adds to its data on the link: 4-DW header (16), sequence number (2),
    /// LCRC (4), framing (2). DLLPs (ACK, flow control) are not modelled.
    std::uint32_t tlp_overhead_bytes = 24;
    /// Read completions are split into TLPs of at most this many data bytes (the link's
    /// Max_Payload_Size); a power of two, 128..4096.
    std::uint32_t max_payload_bytes = 256;
};

/// A function bound to the root complex.
struct function_params {
    requester_id rid = 0;
    std::size_t port = 0; ///< index into root_complex_params::ports
};

struct root_complex_params {
    std::vector<root_port_params> ports{root_port_params{}};
    /// Binding i of `upstream` and of `downstream` is functions[i].
    std::vector<function_params> functions;
    /// Requester ID -> StreamID. Several requester IDs may share a StreamID (aliases); a
    /// requester ID missing here gets Unsupported Requests.
    std::map<requester_id, std::uint32_t> stream_ids;

    /// Throws std::invalid_argument naming the first bad parameter.
    void validate() const;
};

struct root_complex_stats {
    std::uint64_t dma_tlps = 0;                ///< forwarded to the SMMU
    std::uint64_t dma_read_bytes = 0;          ///< requested by forwarded reads
    std::uint64_t dma_write_bytes = 0;         ///< carried by forwarded writes
    std::uint64_t unsupported_requests = 0;    ///< from requester IDs without a StreamID
    std::uint64_t malformed = 0;               ///< refused with TLM_COMMAND_ERROR_RESPONSE
    std::uint64_t translation_requests = 0;    ///< forwarded to the SMMU
    std::uint64_t invalidation_requests = 0;   ///< received from the SMMU
    std::uint64_t invalidations_unowned = 0;   ///< answered with an error: nobody to ask
    std::uint64_t invalidations_forwarded = 0; ///< sent to functions (one per owner)
    std::uint64_t function_completions = 0;    ///< Invalidation Completions from functions
    std::uint64_t smmu_completions = 0;        ///< Invalidation Completions sent to the SMMU
    std::uint64_t unsolicited_completions = 0; ///< ITags completed that nobody waited for

    /// Appends every field above as one JSON object, in declaration order.
    void to_json(std::string& out) const;
};

class root_complex : public sc_core::sc_module {
public:
    tlm_utils::multi_passthrough_target_socket<root_complex> upstream;
    tlm_utils::multi_passthrough_initiator_socket<root_complex> downstream;
    tlm_utils::simple_initiator_socket<root_complex> to_smmu;
    tlm_utils::simple_initiator_socket_optional<root_complex> ats_to_smmu;
    tlm_utils::simple_target_socket_optional<root_complex> ats_from_smmu;

    /// Throws std::invalid_argument for bad parameters (root_complex_params::validate).
    root_complex(const sc_core::sc_module_name& name, const root_complex_params& params);

    const root_complex_params& params() const { return m_params; }
    const root_complex_stats& stats() const { return m_stats; }
    /// The link of `port` in one direction (occupancy and waits).
    const timing::busy_resource& upstream_link(std::size_t port) const;
    const timing::busy_resource& downstream_link(std::size_t port) const;
    /// {"counters":root_complex_stats,"ports":[{"upstream":resource_stats,
    /// "downstream":resource_stats},...]}
    std::string stats_json() const;

private:
    struct link {
        link_params params;
        timing::busy_resource wire{1};
    };
    struct port {
        link up;
        link down;
        std::uint32_t overhead;
        std::uint32_t max_payload;
    };
    /// Functions that still owe a completion for one (StreamID, ITag).
    struct waiting {
        std::vector<std::size_t> functions;
        timing::time_ps not_before = 0; ///< latest completion returned in a request payload
    };

    void end_of_elaboration() override;

    void b_transport(int id, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    tlm::tlm_sync_enum nb_transport_fw(int id, tlm::tlm_generic_payload& trans,
                                       tlm::tlm_phase& phase, sc_core::sc_time& delay);
    unsigned transport_dbg(int id, tlm::tlm_generic_payload& trans);
    void smmu_b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);

    void forward_dma(port& p, const tlp_extension& tlp, tlm::tlm_generic_payload& trans,
                     sc_core::sc_time& delay);
    void forward_translation_request(port& p, const tlp_extension& tlp, tlm_ext::ats_extension& ats,
                                     tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    void on_function_completion(std::size_t function, port& p, const tlp_extension& tlp,
                                const tlm_ext::invalidation_completion& done,
                                tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    void on_invalidation_request(tlm_ext::ats_extension& ats, tlm::tlm_generic_payload& trans,
                                 sc_core::sc_time& delay);
    /// What a function did with an Invalidation Request.
    struct function_answer {
        enum class kind : std::uint8_t { refused, later, in_payload };
        kind how = kind::refused;
        timing::time_ps at = 0; ///< in_payload: when its completion arrived back
    };
    function_answer ask_function(std::size_t function, const tlm_ext::invalidation_request& req,
                                 timing::time_ps at);
    void send_smmu_completion(std::uint32_t stream_id, std::uint32_t itags, timing::time_ps at);

    /// When `tlps` TLPs carrying `data_bytes` in all, presented to `l` at `at`, have arrived.
    static timing::time_ps cross(link& l, std::uint32_t overhead, std::uint64_t tlps,
                                 std::uint64_t data_bytes, timing::time_ps at);
    std::optional<std::uint32_t> stream_of(requester_id rid) const;

    root_complex_params m_params;
    std::vector<port> m_ports;
    /// StreamID -> the functions whose requester ID maps to it.
    std::map<std::uint32_t, std::vector<std::size_t>> m_owners;
    std::map<std::pair<std::uint32_t, std::uint8_t>, waiting> m_waiting;
    root_complex_stats m_stats;
};

} // namespace smmu::pcie
