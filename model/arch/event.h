// SMMUv3 event queue records (32 bytes): event numbers, the record value type,
// builders per event kind, and encode/decode (IHI0070 §7.3, reference §6).
#pragma once

#include <array>
#include <cstdint>

#include "model/arch/command.h" // stream_ref
#include "model/arch/types.h"

namespace smmu::arch {

/// Event numbers (reference §6.1). Other values are reserved.
enum class event_id : std::uint8_t {
    f_uut = 0x01,
    c_bad_streamid = 0x02,
    f_ste_fetch = 0x03,
    c_bad_ste = 0x04,
    f_bad_ats_treq = 0x05,
    f_stream_disabled = 0x06,
    f_transl_forbidden = 0x07,
    c_bad_substreamid = 0x08,
    f_cd_fetch = 0x09,
    c_bad_cd = 0x0a,
    f_walk_eabt = 0x0b,
    f_translation = 0x10,
    f_addr_size = 0x11,
    f_access = 0x12,
    f_permission = 0x13,
    f_tlb_conflict = 0x20,
    f_cfg_conflict = 0x21,
    e_page_request = 0x24,
    f_vms_fetch = 0x25, ///< SMMUv3.2 MPAM
    impdef_0 = 0xe0,
    impdef_1 = 0xe1,
    impdef_2 = 0xe2,
    impdef_3 = 0xe3,
    impdef_4 = 0xe4,
    impdef_5 = 0xe5,
    impdef_6 = 0xe6,
    impdef_7 = 0xe7,
    impdef_8 = 0xe8,
    impdef_9 = 0xe9,
    impdef_10 = 0xea,
    impdef_11 = 0xeb,
    impdef_12 = 0xec,
    impdef_13 = 0xed,
    impdef_14 = 0xee,
    impdef_15 = 0xef,
};

/// CLASS (W1[41:40]): what the faulting access was doing. 0b11 is reserved.
enum class fault_class : std::uint8_t { cd = 0, tt = 1, in = 2 };

/// Permissions requested by an ATS Translation Request (F_BAD_ATS_TREQ), before
/// the STE overrides. For PCIe ATS `read` is always 1 and `write` is !NW.
struct ats_request_access {
    bool read = false;
    bool write = false;
    bool exec = false;
    bool priv = false;
};

/// Accesses anticipated by a page request hint (E_PAGE_REQUEST).
struct page_request_access {
    bool priv_read = false;
    bool priv_write = false;
    bool priv_exec = false;
    bool user_read = false;
    bool user_write = false;
    bool user_exec = false;
};

/// Stage, class and IPA of a translation-related fault.
struct fault_stage {
    bool s2 = false; ///< false: stage 1 fault
    fault_class cls = fault_class::in;
    std::uint64_t ipa = 0; ///< valid when s2
    bool nsipa = false;    ///< Secure event queue with s2 only
};

/// Stall state of a fault that has a Stall field.
struct stall_state {
    bool stall = false;
    std::uint16_t stag = 0;
};

/// One event record. Each event defines a subset of these fields (see the
/// builders); encode writes only those, decode fills only those, the rest is 0.
struct event_record {
    event_id id = event_id::f_translation;

    stream_id sid = 0;     ///< W0[63:32]
    bool ssv = false;      ///< W0[11]
    substream_id ssid = 0; ///< W0[31:12]

    std::uint16_t stag = 0;            ///< W1[15:0]: translation faults
    bool stall = false;                ///< W1[31]: translation faults
    bool pnu = false;                  ///< W1[33]: privileged
    bool ind = false;                  ///< W1[34]: instruction (0 when rnw == 0)
    bool rnw = false;                  ///< W1[35]: 1 read, 0 write
    bool nsipa = false;                ///< W1[38]: translation faults (gem5 only, not confirmed)
    bool s2 = false;                   ///< W1[39]
    fault_class cls = fault_class::cd; ///< W1[41:40]
    bool ttrnw = false; ///< W1[44]: F_PERMISSION, CLASS == TT (Linux only, not confirmed)

    /// IMPLEMENTATION DEFINED reason: W1[15:0] for F_UUT, *_FETCH, F_WALK_EABT;
    /// W1[31:0] for F_TLB_CONFLICT, F_CFG_CONFLICT (positions not confirmed).
    std::uint32_t reason = 0;

    std::uint64_t input_addr = 0; ///< W2[63:0] (W2[63:12] for ATS TREQ / page requests)
    std::uint64_t ipa = 0;        ///< W3[55:12]
    std::uint64_t fetch_addr = 0; ///< W3[55:3]

    std::uint8_t span = 0;        ///< STUs (F_BAD_ATS_TREQ) or 4K pages (E_PAGE_REQUEST)
    ats_request_access ats;       ///< F_BAD_ATS_TREQ
    page_request_access page_req; ///< E_PAGE_REQUEST
};

bool operator==(const event_record& a, const event_record& b);
inline bool operator!=(const event_record& a, const event_record& b) {
    return !(a == b);
}

using event_words = std::array<std::uint64_t, 4>;

/// True for the numbers of §6.1 other than IMPDEF ones.
bool is_architected_event(std::uint8_t raw);
bool is_impdef_event(std::uint8_t raw);
const char* event_name(event_id id);

event_words encode_event(const event_record& e);
/// Never fails: reserved and IMPDEF numbers decode to a record with only `id` set.
event_record decode_event(const event_words& words);

// ---- builders ------------------------------------------------------------------------------
// `access` is the transaction's (post-STE-override) read/write, instruction, privilege;
// InD is recorded as 0 for writes.

/// F_UUT: InD/PnU are the incoming attributes, not the post-override ones.
event_record make_uut(stream_ref s, std::uint64_t input_addr, access_kind access,
                      std::uint16_t reason = 0);
event_record make_bad_streamid(stream_ref s);
event_record make_ste_fetch(stream_ref s, std::uint64_t fetch_addr, std::uint16_t reason = 0);
event_record make_bad_ste(stream_ref s);
event_record make_bad_ats_treq(stream_ref s, std::uint64_t input_addr, std::uint8_t span,
                               ats_request_access req);
/// F_STREAM_DISABLED records only the StreamID (IHI0070 §7.3.7).
event_record make_stream_disabled(stream_id sid);
/// F_TRANSL_FORBIDDEN records the StreamID, InputAddr and RnW (IHI0070 §7.3.8).
event_record make_transl_forbidden(stream_id sid, std::uint64_t input_addr, bool rnw);
/// C_BAD_SUBSTREAMID has no SSV: the SubstreamID is always valid (IHI0070 §7.3.9).
event_record make_bad_substreamid(stream_id sid, substream_id ssid);
event_record make_cd_fetch(stream_ref s, std::uint64_t fetch_addr, std::uint16_t reason = 0);
event_record make_bad_cd(stream_ref s);
/// F_WALK_EABT: stage-1 walk aborts are S2=0 CLASS=TT; FetchAddr is the descriptor PA.
event_record make_walk_eabt(stream_ref s, std::uint64_t input_addr, access_kind access, bool s2,
                            fault_class cls, std::uint64_t fetch_addr, std::uint16_t reason = 0);
event_record make_translation_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                                    fault_stage stage, stall_state stall = {});
event_record make_addr_size_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                                  fault_stage stage, stall_state stall = {});
event_record make_access_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                               fault_stage stage, stall_state stall = {});
/// `tt_read`: for CLASS == TT, whether the table access that faulted was a read.
event_record make_permission_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                                   fault_stage stage, stall_state stall = {}, bool tt_read = false);
event_record make_tlb_conflict(stream_ref s, std::uint64_t input_addr, access_kind access, bool s2,
                               std::uint64_t ipa, std::uint32_t reason = 0);
event_record make_cfg_conflict(stream_ref s, std::uint32_t reason = 0);
event_record make_page_request(stream_ref s, std::uint64_t input_addr, std::uint8_t span,
                               page_request_access access);
event_record make_vms_fetch(stream_ref s, std::uint64_t fetch_addr, std::uint16_t reason = 0);

} // namespace smmu::arch
