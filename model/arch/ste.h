// Stream Table Entry (STE): the 64-byte per-stream configuration structure,
// its encode/decode, its ILLEGAL checks (C_BAD_STE) and the stage-2 walk
// geometry derived from it. IHI0070 §5.2; reference §3 and §8.3.
//
// Scope: a Non-secure SMMUv3.0-3.2 class model. Fields that only exist from
// SMMUv3.3 on (S1PIE, S2PIE, S2POE, S2POI, DPT_VMATCH, S2SKL, AssuredOnly,
// TL0/TL1, MECID) and the Secure-only stage-2 words (S_S2*) are RES0 here:
// decode drops them and encode writes zeros. Address fields hold bits [51:x]
// (bits [55:52] are RES0 for VMSAv8-64 with at most 52-bit PAs).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "model/arch/features.h"
#include "model/arch/types.h"

namespace smmu::arch {

/// A 64-byte structure as eight little-endian 64-bit words (STE, CD).
using structure_words = std::array<std::uint64_t, 8>;

/// STE.Config[3:1].
enum class ste_config : std::uint8_t {
    abort = 0, ///< no traffic, no event
    reserved_1 = 1,
    reserved_2 = 2,
    reserved_3 = 3, ///< 0b001..0b011 behave as abort
    bypass = 4,
    s1_translate = 5,
    s2_translate = 6,
    nested = 7,
};

/// STE.S1Fmt: layout of the CD table.
enum class cd_table_format : std::uint8_t {
    linear = 0,
    two_level_4k = 1,  ///< 4 KB leaf tables of 64 CDs
    two_level_64k = 2, ///< 64 KB leaf tables of 1024 CDs
    reserved = 3,      ///< behaves as linear
};

/// STE.S1DSS: what happens to traffic without a SubstreamID when S1CDMax != 0.
enum class ste_s1dss : std::uint8_t {
    terminate = 0,
    bypass = 1,     ///< bypass stage 1
    substream0 = 2, ///< use CD 0; traffic with SSID 0 is terminated
    reserved = 3,   ///< behaves as terminate
};

/// STE.S1CIR/S1COR: cacheability of CD and L1CD fetches.
enum class fetch_cacheability : std::uint8_t {
    non_cacheable = 0,
    wb_read_allocate = 1,
    wt_read_allocate = 2,
    wb_no_read_allocate = 3,
};

/// STE.S2IR0/S2OR0, CD.IRx/ORx: cacheability of translation table walks.
enum class walk_cacheability : std::uint8_t {
    non_cacheable = 0,
    wb_ra_wa = 1,
    wt_ra = 2,
    wb_ra_no_wa = 3,
};

/// STE.S1CSH/S2SH0, CD.SHx.
enum class shareability_encoding : std::uint8_t {
    non_shareable = 0,
    reserved = 1, ///< behaves as non_shareable
    outer = 2,
    inner = 3,
};

/// STE.EATS.
enum class ste_eats : std::uint8_t {
    abort = 0,
    full = 1,     ///< full ATS
    split = 2,    ///< split-stage ATS (stage-1 IPA returned)
    full_dpt = 3, ///< full ATS with DPT checks; reserved (= abort) without IDR3.DPT
};

/// STE.STRW (Non-secure interpretation).
enum class ste_strw : std::uint8_t { el1 = 0, reserved_1 = 1, el2 = 2, reserved_3 = 3 };

/// STE.SHCFG: shareability override.
enum class ste_shcfg : std::uint8_t { non_shareable = 0, incoming = 1, outer = 2, inner = 3 };

/// STE.NSCFG (Secure streams only).
enum class ste_nscfg : std::uint8_t { incoming = 0, reserved = 1, secure = 2, non_secure = 3 };

/// STE.PRIVCFG.
enum class ste_privcfg : std::uint8_t {
    incoming = 0,
    reserved = 1,
    unprivileged = 2,
    privileged = 3,
};

/// STE.INSTCFG.
enum class ste_instcfg : std::uint8_t { incoming = 0, reserved = 1, data = 2, instruction = 3 };

/// STE.S2TG and CD.TG0 encoding (same as TCR_ELx.TG0).
enum class tg0_encoding : std::uint8_t { size_4k = 0, size_64k = 1, size_16k = 2, reserved = 3 };

/// CD.TG1 encoding (same as TCR_ELx.TG1): differs from TG0.
enum class tg1_encoding : std::uint8_t { reserved = 0, size_16k = 1, size_4k = 2, size_64k = 3 };

/// STE.S2PS and CD.IPS encoding.
enum class pa_size_encoding : std::uint8_t {
    bits_32 = 0,
    bits_36 = 1,
    bits_40 = 2,
    bits_42 = 3,
    bits_44 = 4,
    bits_48 = 5,
    bits_52 = 6,
    bits_56 = 7, ///< reserved before SMMUv3.4, behaves as 52 bits in v3.1-v3.3
};

/// The translation regime a stream's stage 1 belongs to (Non-secure only).
enum class stream_world : std::uint8_t { ns_el1 = 0, ns_el2 = 1, ns_el2_e2h = 2 };

/// Every STE field SMMUv3.0-3.2 defines for Non-secure use (plus the W3 Secure
/// stage-2 NS bits and the DS/HAFT fields backed by feature_set). Default-
/// constructed, it encodes to all-zero words.
struct ste {
    // Word 0
    bool v = false;
    ste_config config = ste_config::abort;
    cd_table_format s1_fmt = cd_table_format::linear;
    phys_addr s1_context_ptr = 0; ///< byte address, bits [51:6]
    std::uint8_t s1_cd_max = 0;   ///< 5 bits: log2 of the number of CDs

    // Word 1
    ste_s1dss s1_dss = ste_s1dss::terminate;
    fetch_cacheability s1_cir = fetch_cacheability::non_cacheable;
    fetch_cacheability s1_cor = fetch_cacheability::non_cacheable;
    shareability_encoding s1_csh = shareability_encoding::non_shareable;
    bool s2_hwu59 = false;
    bool s2_hwu60 = false;
    bool s2_hwu61 = false;
    bool s2_hwu62 = false;
    bool dre = false;
    std::uint8_t cont = 0; ///< 4 bits: contiguous hint, span 2^CONT
    bool dcp = false;
    bool ppar = false;
    bool mev = false;
    std::uint8_t sw_reserved = 0; ///< 4 bits, ignored by the SMMU
    bool s2_fwb = false;          ///< v3.2
    bool s1_mpam = false;         ///< v3.2 MPAM
    bool s1_stalld = false;
    ste_eats eats = ste_eats::abort;
    ste_strw strw = ste_strw::el1;
    std::uint8_t mem_attr = 0; ///< 4 bits, VMSAv8-64 stage-2 MemAttr encoding
    bool mtcfg = false;
    std::uint8_t alloccfg = 0; ///< 4 bits: 0xxx incoming, 1RWT override
    ste_shcfg shcfg = ste_shcfg::non_shareable;
    ste_nscfg nscfg = ste_nscfg::incoming;
    ste_privcfg privcfg = ste_privcfg::incoming;
    ste_instcfg instcfg = ste_instcfg::incoming;
    std::uint16_t imp_def_w1 = 0; ///< 12 bits, W1[63:52]

    // Word 2
    vmid_t s2_vmid = 0;
    std::uint16_t imp_def_w2 = 0; ///< W2[31:16]
    std::uint8_t s2_t0sz = 0;     ///< 6 bits (VMSAv8-32: [3:0] signed, [5:4] ignored)
    std::uint8_t s2_sl0 = 0;      ///< 2 bits, VTCR_EL2.SL0 encoding
    walk_cacheability s2_ir0 = walk_cacheability::non_cacheable;
    walk_cacheability s2_or0 = walk_cacheability::non_cacheable;
    shareability_encoding s2_sh0 = shareability_encoding::non_shareable;
    tg0_encoding s2_tg = tg0_encoding::size_4k;
    pa_size_encoding s2_ps = pa_size_encoding::bits_32;
    bool s2_aa64 = false; ///< 1 = VMSAv8-64, 0 = VMSAv8-32 LPAE
    bool s2_endi = false; ///< 1 = big-endian tables
    bool s2_affd = false;
    bool s2_ptw = false;
    bool s2_hd = false;
    bool s2_ha = false;
    bool s2_s = false;
    bool s2_r = false;
    bool s2_haft = false; ///< RES0 unless IDR0.HTTU == 0b11

    // Word 3
    bool s2_nsw = false;   ///< Secure STEs only
    bool s2_nsa = false;   ///< Secure STEs only
    bool s2_sl0_2 = false; ///< SL0 bit 2 (VTCR_EL2.SL2), with IDR5.DS
    bool s2_ds = false;    ///< 52-bit addresses with 4K/16K granules, with IDR5.DS
    phys_addr s2_ttb = 0;  ///< byte address, bits [51:4]

    // Words 4-5 (v3.2 MPAM)
    std::uint16_t imp_def_w4 = 0; ///< W4[15:0]
    std::uint16_t partid = 0;
    std::uint8_t pmg = 0;
    bool mpam_ns = false;  ///< Secure STEs only
    phys_addr vms_ptr = 0; ///< byte address, bits [51:12]
};

bool operator==(const ste& a, const ste& b);
inline bool operator!=(const ste& a, const ste& b) {
    return !(a == b);
}

/// Packs every field; values wider than their field are truncated.
structure_words encode_ste(const ste& s);
/// Unpacks every field; RES0 and post-v3.2 bits are dropped. Never fails.
ste decode_ste(const structure_words& words);

// --- Config -----------------------------------------------------------------

/// True when Config lets traffic through (1xx).
constexpr bool config_allows_traffic(ste_config c) {
    return static_cast<unsigned>(c) >= 4;
}
/// Stage 1 translates (Config 1x1).
constexpr bool config_stage1_enabled(ste_config c) {
    return c == ste_config::s1_translate || c == ste_config::nested;
}
/// Stage 2 translates (Config 11x).
constexpr bool config_stage2_enabled(ste_config c) {
    return static_cast<unsigned>(c) >= 6;
}

// --- Encodings ----------------------------------------------------------------

/// TG0/S2TG to a granule; nullopt for the reserved encoding.
std::optional<granule> granule_from_tg0(tg0_encoding tg);
/// TG1 to a granule; nullopt for the reserved encoding.
std::optional<granule> granule_from_tg1(tg1_encoding tg);
tg0_encoding tg0_from_granule(granule g);
tg1_encoding tg1_from_granule(granule g);

/// Address size in bits; 0b111 behaves as 52 bits in an SMMUv3.1-3.3.
unsigned pa_size_bits(pa_size_encoding ps);

/// Effective stage-2 output size: min(S2PS, OAS), or 40 bits for VMSAv8-32.
unsigned effective_s2ps_bits(const ste& s, const feature_set& f);

/// Stage-2 granule: S2TG for VMSAv8-64 (nullopt if reserved), 4 KB for VMSAv8-32.
std::optional<granule> s2_granule(const ste& s);

/// S2DS as the SMMU sees it: RES0 without IDR5.DS, with VMSAv8-32 or a 64 KB granule.
bool effective_s2ds(const ste& s, const feature_set& f);

/// Stage-2 input (IPA) size in bits from S2T0SZ (VMSAv8-32: 32 - signed T0SZ[3:0]).
unsigned s2_input_bits(const ste& s);

// --- Stage-2 start level --------------------------------------------------

/// The initial stage-2 lookup: start level (-1..3), how many tables are
/// concatenated there (1..16) and how many IA bits that lookup resolves.
struct s2_walk_start {
    int level = 0;
    unsigned tables = 1;
    unsigned index_bits = 0; ///< the initial table(s) hold 2^index_bits descriptors
};

inline bool operator==(const s2_walk_start& a, const s2_walk_start& b) {
    return a.level == b.level && a.tables == b.tables && a.index_bits == b.index_bits;
}

/// Options of the VMSAv8-64 SL0 decode that come from the implementation/STE.
struct s2_level_options {
    bool ttst = false; ///< IDR3.STT: SL0=0b11 selects level 3 with 4 KB
    bool ds = false;   ///< effective S2DS: SL0=0b11 selects level 0 with 16 KB
    bool sl2 = false;  ///< S2SL0_2, only considered with ds and 4 KB
};

/// VMSAv8-64: start level and concatenation for (granule, SL0, T0SZ), or
/// nullopt when SL0 is reserved or inconsistent with T0SZ (ref §8.3). Does
/// not check the T0SZ min/max range (see s2_t0sz_in_range).
std::optional<s2_walk_start> s2_start_level(granule g, unsigned sl0, unsigned t0sz,
                                            const s2_level_options& opts = {});

/// VMSAv8-32 LPAE (4 KB only): SL0 0b00 = level 2, 0b01 = level 1, 0b1x reserved;
/// t0sz is the signed 4-bit VTCR.T0SZ in bits [3:0].
std::optional<s2_walk_start> s2_start_level_aarch32(unsigned sl0, unsigned t0sz);

/// The STE's stage-2 start, using S2AA64, S2TG, S2SL0(_2), S2T0SZ and effective DS/STT.
std::optional<s2_walk_start> ste_s2_start_level(const ste& s, const feature_set& f);

/// S2T0SZ within [max(16 or 12, 64 - IAS), 39 or 47/48 with STT] (VMSAv8-64, v3.1+).
bool s2_t0sz_in_range(const ste& s, const feature_set& f);

// --- Context-dependent effective values ---------------------------------

/// Register state (not in the STE) that changes how an STE behaves.
struct ste_check_context {
    bool atschk = false; ///< SMMU_CR0.ATSCHK
    bool e2h = false;    ///< SMMU_CR2.E2H
};

/// StreamWorld of a Non-secure STE. NS-EL1 whenever STRW is unused (stage 2
/// enabled, no stage 1, no HYP); also returned for a reserved STRW, which makes
/// the STE ILLEGAL anyway.
stream_world ste_stream_world(const ste& s, const feature_set& f, const ste_check_context& ctx);

/// The EATS value the STE behaves as: abort when EATS is IGNORED (no ATS,
/// Config[1:0] == 00), for the reserved 0b11 (no DPT) and for split-stage
/// with CR0.ATSCHK == 0.
ste_eats effective_eats(const ste& s, const feature_set& f, const ste_check_context& ctx);

/// True when S2VMID tags translations (not IGNORED).
bool ste_s2vmid_used(const ste& s, const feature_set& f);

// --- Validation ---------------------------------------------------------

/// Why an STE is ILLEGAL (C_BAD_STE), in the order IHI0070 §5.2.2 checks them.
enum class ste_illegal_reason : std::uint8_t {
    none,
    not_valid,                   ///< V == 0
    s1_not_supported,            ///< Config 1x1 without IDR0.S1P
    s2_not_supported,            ///< Config 11x without IDR0.S2P
    eats_split_needs_nested,     ///< EATS 0b10 with Config != 0b111
    eats_split_with_s2_stall,    ///< EATS 0b10 with S2S == 1
    eats_split_not_supported,    ///< EATS 0b10 with IDR0.NS1ATS == 1
    eats_full_with_s2_stall,     ///< EATS 0b01, stage 2 enabled, S2S == 1
    strw_reserved,               ///< STRW 0bx1 while used
    s1_stalld_not_allowed,       ///< S1STALLD == 1 with STALL_MODEL != 0b00
    s1_cd_max_too_large,         ///< S1CDMax > IDR1.SSIDSIZE
    s1_fmt_needs_cd2l,           ///< 2-level CD table without IDR0.CD2L
    s1_context_ptr_out_of_range, ///< above OAS (IAS when stage 2 enabled)
    s2_fwb_with_aarch32,         ///< S2FWB with VMSAv8-32 stage 2
    s2_stall_not_supported,      ///< S2S == 1 with STALL_MODEL == 0b01
    s2_stall_required,           ///< S2S == 0 with STALL_MODEL == 0b10
    s2_aarch32_not_supported,    ///< S2AA64 == 0 without IDR0.TTF[0]
    s2_aarch64_not_supported,    ///< S2AA64 == 1 without IDR0.TTF[1]
    s2_httu_with_aarch32,        ///< S2HA or S2HD with VMSAv8-32
    s2_httu_not_supported,       ///< S2HA or S2HD with IDR0.HTTU == 0b00
    s2_hd_not_supported,         ///< S2HD with IDR0.HTTU == 0b01
    s2_haft_without_ha,          ///< S2HAFT without S2HA (IDR0.HTTU == 0b11)
    s2_granule_reserved,         ///< S2TG == 0b11
    s2_granule_not_supported,    ///< S2TG not in IDR5.GRANxx
    s2_ttb_out_of_range,         ///< S2TTB above effective S2PS (or 48 bits)
    s2_t0sz_out_of_range,        ///< S2T0SZ outside its min/max
    s2_walk_inconsistent,        ///< S2SL0 reserved or inconsistent with S2T0SZ/S2TG
    s2_endianness_not_supported, ///< S2ENDI not allowed by IDR0.TTENDIAN
    s2_vmid_too_large,           ///< S2VMID[15:8] != 0 without IDR0.VMID16
};

/// Checks an STE as the SMMU does when it is used (IHI0070 §5.2.2), only for
/// fields that are not IGNORED. CR0.ATSCHK and CR2.E2H never make an STE
/// ILLEGAL; see effective_eats and ste_stream_world for what they change.
ste_illegal_reason validate_ste(const ste& s, const feature_set& f);

const char* to_string(ste_illegal_reason r);

} // namespace smmu::arch
