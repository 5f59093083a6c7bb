// SMMUv3 command queue entries (16 bytes): the command value type, builders,
// encode/decode with the CERROR_ILL checks, and the address-range semantics
// of TLBI range invalidation and CMD_ATC_INV (IHI0070 §4, reference §5).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "model/arch/types.h"

namespace smmu::arch {

struct feature_set;

/// Command opcodes of SMMUv3.0-3.2 (reference §5.2). 0x04 is both
/// CMD_CFGI_STE_RANGE and CMD_CFGI_ALL (Range == 31); see make_cfgi_all().
enum class opcode : std::uint8_t {
    prefetch_config = 0x01,
    prefetch_addr = 0x02,
    cfgi_ste = 0x03,
    cfgi_ste_range = 0x04,
    cfgi_cd = 0x05,
    cfgi_cd_all = 0x06,
    cfgi_vms_pidm = 0x07,
    tlbi_nh_all = 0x10,
    tlbi_nh_asid = 0x11,
    tlbi_nh_va = 0x12,
    tlbi_nh_vaa = 0x13,
    tlbi_el3_all = 0x18, ///< Secure queue only
    tlbi_el3_va = 0x1a,  ///< Secure queue only
    tlbi_el2_all = 0x20,
    tlbi_el2_asid = 0x21,
    tlbi_el2_va = 0x22,
    tlbi_el2_vaa = 0x23,
    tlbi_s12_vmall = 0x28,
    tlbi_s2_ipa = 0x2a,
    tlbi_nsnh_all = 0x30,
    atc_inv = 0x40,
    pri_resp = 0x41,
    resume = 0x44,
    stall_term = 0x45,
    sync = 0x46,
    tlbi_s_el2_all = 0x50,   ///< Secure queue only, needs Secure EL2
    tlbi_s_el2_asid = 0x51,  ///< Secure queue only, needs Secure EL2
    tlbi_s_el2_va = 0x52,    ///< Secure queue only, needs Secure EL2
    tlbi_s_el2_vaa = 0x53,   ///< Secure queue only, needs Secure EL2
    tlbi_s_s12_vmall = 0x58, ///< Secure queue only, needs Secure stage 2
    tlbi_s_s2_ipa = 0x5a,    ///< Secure queue only, needs Secure stage 2
    tlbi_snh_all = 0x60,     ///< Secure queue only, needs Secure stage 2
};

/// SMMU_CMDQ_CONS.ERR codes (reference §1.5).
enum class cmdq_error : std::uint8_t { none = 0, ill = 1, abt = 2, atc_inv_sync = 3 };

/// Why a command was rejected with CERROR_ILL. Checked in this order: opcode,
/// queue security, implemented features, field values, reserved fields.
enum class ill_reason : std::uint8_t {
    none = 0,
    reserved_opcode,           ///< unknown, reserved or IMPLEMENTATION DEFINED opcode
    secure_only_opcode,        ///< Secure-only opcode on the Non-secure queue
    ssec_on_non_secure_queue,  ///< SSec == 1 on the Non-secure queue
    stage1_unsupported,        ///< stage-1 TLBI when !IDR0.S1P
    stage2_unsupported,        ///< stage-2 TLBI when !IDR0.S2P
    el2_unsupported,           ///< EL2 TLBI when !IDR0.HYP
    secure_stage2_unsupported, ///< CMD_TLBI_S_* / SNH_ALL without Secure EL2 / stage 2
    cfgi_cd_without_s1p,       ///< CMD_CFGI_CD(_ALL) when !IDR0.S1P
    atc_inv_without_ats,       ///< CMD_ATC_INV when !IDR0.ATS
    pri_resp_without_pri,      ///< CMD_PRI_RESP when !IDR0.PRI
    stall_unsupported,         ///< CMD_RESUME / CMD_STALL_TERM with STALL_MODEL == 0b01
    vms_pidm_without_mpam,     ///< CMD_CFGI_VMS_PIDM when !IDR3.MPAM
    sync_cs_reserved,          ///< CMD_SYNC CS == 0b11
    reserved_range_encoding,   ///< TG != 0 with NUM == 0, SCALE == 0, effective TTL == 0
    range_without_ril,         ///< NUM/SCALE/TG/TTL non-zero when !IDR3.RIL (reserved check)
    atc_inv_size_too_large,    ///< CMD_ATC_INV Size > 52
    pri_resp_reserved,         ///< CMD_PRI_RESP Resp == 0b11
    reserved_field_nonzero,    ///< a RES0 field is non-zero (reserved check)
};

/// TLBI TG field (W1[11:10]); differs from the CD/STE granule encodings.
enum class tlbi_granule : std::uint8_t { none = 0, size_4k = 1, size_16k = 2, size_64k = 3 };

/// TLBI TTL field (W1[9:8]): level of the leaf entries (hint), only with TG != 0.
enum class tlbi_ttl : std::uint8_t { any = 0, level1 = 1, level2 = 2, level3 = 3 };

/// CMD_SYNC CS field (W0[13:12]).
enum class sync_cs : std::uint8_t { none = 0, irq = 1, sev = 2, reserved = 3 };

/// CMD_SYNC MSH field (W0[23:22]).
enum class shareability : std::uint8_t { nsh = 0, reserved = 1, osh = 2, ish = 3 };

/// CMD_PRI_RESP Resp field (W1[13:12]).
enum class pri_response : std::uint8_t {
    failure = 0,         ///< ResponseFailure
    invalid_request = 1, ///< InvalidRequest
    success = 2,
    reserved = 3, ///< ILLEGAL
};

/// CMD_RESUME action, i.e. the Ac/Ab pair.
enum class resume_action : std::uint8_t {
    terminate, ///< Ac=0 Ab=0: complete with RAZ/WI (abort if IDR0.TERM_MODEL == 1)
    abort,     ///< Ac=0 Ab=1: terminate with abort
    retry,     ///< Ac=1: retry as if newly arrived
};

/// Range TLBI fields (IDR3.RIL): NUM W0[16:12], SCALE W0[24:20] (W0[25:20] with
/// IDR5.DS), TG W1[11:10], TTL W1[9:8]. All zero for a non-range TLBI.
struct tlbi_range {
    tlbi_granule tg = tlbi_granule::none;
    tlbi_ttl ttl = tlbi_ttl::any;
    std::uint8_t num = 0;
    std::uint8_t scale = 0;
};

bool operator==(const tlbi_range& a, const tlbi_range& b);
inline bool operator!=(const tlbi_range& a, const tlbi_range& b) {
    return !(a == b);
}

/// StreamID with an optional SubstreamID: the addressing of PREFETCH/ATC_INV/PRI_RESP
/// commands and of event records. Implicitly built from a bare StreamID.
struct stream_ref {
    stream_id sid = 0;
    bool ssv = false;
    substream_id ssid = 0;

    constexpr stream_ref(stream_id s = 0)
        : sid(s) {}
    constexpr stream_ref(stream_id s, substream_id ss)
        : sid(s)
        , ssv(true)
        , ssid(ss) {}
};

/// One decoded command. A flat struct rather than a variant of per-command
/// structs: the command engine switches on `op` and reads the fields it needs
/// directly (no std::get/visit per case), the type stays trivially copyable and
/// fixed-size, and comparison is plain. Fields an opcode does not define are
/// zero after decode and ignored by encode.
struct command {
    opcode op = opcode::sync;

    bool ssec = false;     ///< W0[10]: PREFETCH_*, CFGI_*, RESUME, STALL_TERM
    bool ssv = false;      ///< W0[11]: PREFETCH_*, ATC_INV, PRI_RESP
    substream_id ssid = 0; ///< W0[31:12]: PREFETCH_*, CFGI_CD, ATC_INV, PRI_RESP
    stream_id sid = 0;     ///< W0[63:32]
    vmid_t vmid = 0;       ///< W0[47:32]: TLBI_NH_*, S12_VMALL, S2_IPA, CFGI_VMS_PIDM
    asid_t asid = 0;       ///< W0[63:48]: TLBI_*_ASID, TLBI_*_VA
    bool leaf = false;     ///< W1[0]: CFGI_STE, CFGI_CD, TLBI by address

    /// Byte address with bits [11:0] zero: TLBI VA W1[63:12], TLBI IPA W1[55:12],
    /// ATC_INV and PREFETCH_ADDR W1[63:12].
    std::uint64_t address = 0;
    tlbi_range range; ///< TLBI by address

    std::uint8_t ste_range = 0; ///< CFGI_STE_RANGE Range W1[4:0]; 31 = CFGI_ALL

    bool global = false;   ///< ATC_INV Global W0[9]
    std::uint8_t size = 0; ///< ATC_INV Size W1[5:0]; PREFETCH_ADDR Size W1[4:0]

    std::uint8_t stride = 0; ///< PREFETCH_ADDR Stride (position not confirmed, see command.cpp)
    bool ns = false;         ///< PREFETCH_ADDR NS (position not confirmed, see command.cpp)

    std::uint16_t prg_index = 0;               ///< PRI_RESP PRGIndex W1[8:0]
    pri_response resp = pri_response::failure; ///< PRI_RESP Resp W1[13:12]

    bool resume_retry = false; ///< RESUME Ac W0[12]
    bool resume_abort = false; ///< RESUME Ab W0[13]
    std::uint16_t stag = 0;    ///< RESUME STAG W1[15:0]

    sync_cs cs = sync_cs::none;           ///< SYNC CS W0[13:12]
    shareability msh = shareability::nsh; ///< SYNC MSH W0[23:22]
    std::uint8_t msi_attr = 0;            ///< SYNC MSIAttr W0[27:24]
    std::uint32_t msi_data = 0;           ///< SYNC MSIData W0[63:32]
    std::uint64_t msi_addr = 0;           ///< SYNC MSIAddr W1[55:2], bits [1:0] zero
};

bool operator==(const command& a, const command& b);
inline bool operator!=(const command& a, const command& b) {
    return !(a == b);
}

using command_words = std::array<std::uint64_t, 2>;

/// The SMMU state decode needs. Defaults match a Non-secure queue of an SMMU
/// with the default feature_set (S1P, S2P, HYP, ATS, RIL; no PRI, no stall).
struct command_decode_context {
    bool s1p = true;
    bool s2p = true;
    bool hyp = true;
    bool ats = true;
    bool ril = true;
    bool pri = false;
    bool stall = false; ///< IDR0.STALL_MODEL != 0b01 (CMD_RESUME / CMD_STALL_TERM legal)
    bool mpam = false;  ///< IDR3.MPAM (CMD_CFGI_VMS_PIDM legal)
    bool ds = false;    ///< IDR5.DS: SCALE is 6 bits, 16K TTL == 1 valid
    bool secure_queue = false;
    bool secure_s2 = false; ///< S_IDR1.SEL2: Secure EL2 / Secure stage 2 commands exist
    /// Raise CERROR_ILL for non-zero RES0 fields (optional in the architecture).
    /// When false, RES0 bits are ignored, including range fields without RIL.
    bool check_reserved_fields = false;
};

/// The decode context of a Non-secure queue of an SMMU with features `f`.
command_decode_context decode_context_for(const feature_set& f);

/// Decode outcome: `cmd` is meaningful when ok(); otherwise `cmd.op` holds the
/// raw opcode byte (for statistics) and `reason` says why CERROR_ILL.
struct command_decode_result {
    command cmd;
    cmdq_error error = cmdq_error::none;
    ill_reason reason = ill_reason::none;

    bool ok() const { return error == cmdq_error::none; }
};

// ---- opcode properties ---------------------------------------------------------------------

/// True if `raw` is an opcode listed in `opcode` (SMMUv3.0-3.2 defined, incl. Secure-only).
bool is_defined_opcode(std::uint8_t raw);
bool is_secure_only(opcode op);
/// CMD_TLBI_* with an address (and the range fields).
bool is_tlbi_by_address(opcode op);
const char* opcode_name(opcode op);
const char* ill_reason_name(ill_reason r);
const char* cmdq_error_name(cmdq_error e);

// ---- encode / decode ---------------------------------------------------------------------

/// Encodes the fields `c.op` defines; values wider than their field are truncated.
command_words encode(const command& c);

/// Never throws: every 128-bit input yields a command or CERROR_ILL with a reason.
command_decode_result decode_command(const command_words& words, const command_decode_context& ctx);

// ---- builders (one per opcode) -------------------------------------------------------------

command make_prefetch_config(stream_ref s);
command make_prefetch_addr(stream_ref s, std::uint64_t address, std::uint8_t size,
                           std::uint8_t stride = 0);
command make_cfgi_ste(stream_id sid, bool leaf);
command make_cfgi_ste_range(stream_id sid, std::uint8_t range);
/// CMD_CFGI_ALL: CMD_CFGI_STE_RANGE with Range == 31 (SID ignored).
command make_cfgi_all();
bool is_cfgi_all(const command& c);
command make_cfgi_cd(stream_id sid, substream_id ssid, bool leaf);
command make_cfgi_cd_all(stream_id sid);
command make_cfgi_vms_pidm(vmid_t vmid);
command make_tlbi_nh_all(vmid_t vmid);
command make_tlbi_nh_asid(vmid_t vmid, asid_t asid);
command make_tlbi_nh_va(vmid_t vmid, asid_t asid, std::uint64_t va, bool leaf,
                        tlbi_range range = {});
command make_tlbi_nh_vaa(vmid_t vmid, std::uint64_t va, bool leaf, tlbi_range range = {});
command make_tlbi_el3_all();
command make_tlbi_el3_va(std::uint64_t va, bool leaf, tlbi_range range = {});
command make_tlbi_el2_all();
command make_tlbi_el2_asid(asid_t asid);
command make_tlbi_el2_va(asid_t asid, std::uint64_t va, bool leaf, tlbi_range range = {});
command make_tlbi_el2_vaa(std::uint64_t va, bool leaf, tlbi_range range = {});
command make_tlbi_s12_vmall(vmid_t vmid);
command make_tlbi_s2_ipa(vmid_t vmid, std::uint64_t ipa, bool leaf, tlbi_range range = {});
command make_tlbi_nsnh_all();
command make_atc_inv(stream_ref s, std::uint64_t address, std::uint8_t size, bool global = false);
command make_pri_resp(stream_ref s, std::uint16_t prg_index, pri_response resp);
command make_resume(stream_id sid, std::uint16_t stag, resume_action action);
command make_stall_term(stream_id sid);
command make_sync(sync_cs cs, std::uint64_t msi_addr = 0, std::uint32_t msi_data = 0,
                  shareability msh = shareability::ish, std::uint8_t msi_attr = 0);
command make_tlbi_s_el2_all();
command make_tlbi_s_el2_asid(asid_t asid);
command make_tlbi_s_el2_va(asid_t asid, std::uint64_t va, bool leaf, tlbi_range range = {});
command make_tlbi_s_el2_vaa(std::uint64_t va, bool leaf, tlbi_range range = {});
command make_tlbi_s_s12_vmall(vmid_t vmid);
command make_tlbi_s_s2_ipa(vmid_t vmid, std::uint64_t ipa, bool leaf, tlbi_range range = {});
command make_tlbi_snh_all();

// ---- invalidation scope (SMMU side) --------------------------------------------------------

/// Inclusive byte span [start, last]: the half-open [start, end) with end = last + 1,
/// written this way so spans reaching 2^64 are representable.
struct addr_span {
    std::uint64_t start = 0;
    std::uint64_t last = 0;

    bool contains(std::uint64_t a) const { return a >= start && a <= last; }
    /// True if [lo, hi] (inclusive) intersects the span.
    bool overlaps(std::uint64_t lo, std::uint64_t hi) const { return lo <= last && hi >= start; }
};

bool operator==(const addr_span& a, const addr_span& b);
inline bool operator!=(const addr_span& a, const addr_span& b) {
    return !(a == b);
}

/// What a TLBI by address covers (IHI0070 §4.4.1.1, reference §5.4).
struct tlbi_scope {
    /// Range TLBI: [Address, Address + Range) clamped at 2^64 (no wrap).
    /// Non-range TLBI: the single byte at Address; entries containing it match.
    addr_span span;
    bool is_range = false;
    /// Only entries inserted with this granule must be invalidated (TG != 0).
    std::optional<granule> tg;
    /// Leaf entries only at this level (1..3); 0 = any level.
    unsigned level = 0;
};

/// TTL after the 16K rule: TG == 16K, TTL == 1 without IDR5.DS behaves as 0.
tlbi_ttl effective_ttl(tlbi_granule tg, tlbi_ttl ttl, bool ds);
/// Granule of a TG encoding; nullopt for TG == 0.
std::optional<granule> tlbi_granule_size(tlbi_granule tg);
tlbi_granule to_tlbi_granule(granule g);
/// Range in bytes of a TG != 0 TLBI: (NUM+1) * 2^SCALE * granule. SCALE above 39
/// (possible only with DS) is treated as 39; 0 for TG == 0.
std::uint64_t tlbi_range_bytes(const tlbi_range& r, bool ds);
tlbi_scope tlbi_covered_range(std::uint64_t address, const tlbi_range& r, bool ds);
tlbi_scope tlbi_covered_range(const command& c, bool ds);

/// Addresses invalidated by CMD_ATC_INV (IHI0070 §4.5.1): 4096 * 2^Size bytes,
/// aligned down to that size; Size >= 52 covers everything (above 52 the span is
/// UNKNOWN architecturally; we choose everything).
addr_span atc_inv_span(std::uint64_t address, std::uint8_t size);

// ---- driver-side encoders ------------------------------------------------------------------

struct tlbi_range_op {
    std::uint64_t address = 0;
    tlbi_range range;
};

bool operator==(const tlbi_range_op& a, const tlbi_range_op& b);
inline bool operator!=(const tlbi_range_op& a, const tlbi_range_op& b) {
    return !(a == b);
}

/// Splits [iova, iova + size) into range TLBIs (reference §5.4, the Linux
/// algorithm): `tg` is the domain's smallest page size, `leaf_shift` the log2 of
/// the leaf being unmapped (12, 21, 30, ... for 4K). Leaf invalidations get the
/// TTL of that leaf; non-leaf ones get TTL 0 and a page count ending in 0b00001
/// (mod 32) is bumped by one page to avoid the reserved NUM=0, SCALE=0, TTL=0.
/// Each command covers the lowest 5-bit chunk of the remaining page count.
/// A size that is not a whole number of pages is rounded up.
std::vector<tlbi_range_op> encode_range_tlbi(std::uint64_t iova, std::uint64_t size, granule tg,
                                             unsigned leaf_shift, bool leaf);

/// Without RIL: one non-range TLBI address per `step_bytes` (the leaf size) step.
std::vector<std::uint64_t> encode_page_tlbi(std::uint64_t iova, std::uint64_t size,
                                            std::uint64_t step_bytes);

struct atc_inv_params {
    std::uint64_t address = 0;
    std::uint8_t size = 0;
};

bool operator==(const atc_inv_params& a, const atc_inv_params& b);
inline bool operator!=(const atc_inv_params& a, const atc_inv_params& b) {
    return !(a == b);
}

/// Smallest naturally aligned power-of-two page span covering [iova, iova + size)
/// (reference §5.5); size 0 means everything (Size = 52).
atc_inv_params encode_atc_inv_range(std::uint64_t iova, std::uint64_t size);

} // namespace smmu::arch
