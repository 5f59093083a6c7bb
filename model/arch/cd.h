// Context Descriptor (CD): the 64-byte stage-1 configuration structure, its
// encode/decode and its ILLEGAL checks (C_BAD_CD). IHI0070 §5.4; reference §4.
//
// Scope: SMMUv3.0-3.2 fields (plus DS, HAFT and E0PDx, backed by feature_set).
// PnCH, EPAN, AIE, PIE and PIIU/PIIP (v3.3+) and the VMSAv9-128 variants are
// RES0 here. Table bases hold bits [51:4].
#pragma once

#include <cstdint>
#include <optional>

#include "model/arch/features.h"
#include "model/arch/ste.h"
#include "model/arch/types.h"

namespace smmu::arch {

struct cd {
    // Word 0
    std::uint8_t t0sz = 0; ///< 6 bits (VMSAv8-32: [2:0])
    tg0_encoding tg0 = tg0_encoding::size_4k;
    walk_cacheability ir0 = walk_cacheability::non_cacheable;
    walk_cacheability or0 = walk_cacheability::non_cacheable;
    shareability_encoding sh0 = shareability_encoding::non_shareable;
    bool epd0 = false;
    bool endi = false;     ///< 1 = big-endian tables
    std::uint8_t t1sz = 0; ///< 6 bits
    tg1_encoding tg1 = tg1_encoding::reserved;
    walk_cacheability ir1 = walk_cacheability::non_cacheable;
    walk_cacheability or1 = walk_cacheability::non_cacheable;
    shareability_encoding sh1 = shareability_encoding::non_shareable;
    bool epd1 = false;
    bool v = false;
    pa_size_encoding ips = pa_size_encoding::bits_32;
    bool affd = false;
    bool wxn = false;
    bool uwxn = false;
    bool tbi0 = false;
    bool tbi1 = false;
    bool pan = false;
    bool aa64 = false; ///< 1 = VMSAv8-64, 0 = VMSAv8-32 LPAE
    bool hd = false;
    bool ha = false;
    bool s = false; ///< stall
    bool r = false; ///< record
    bool a = false; ///< abort (vs RAZ/WI)
    bool aset = false;
    asid_t asid = 0;

    // Word 1
    bool nscfg0 = false; ///< Secure streams only
    bool had0 = false;
    bool e0pd0 = false;
    bool haft = false;  ///< RES0 unless IDR0.HTTU == 0b11
    phys_addr ttb0 = 0; ///< byte address, bits [51:4]
    bool hwu059 = false;
    bool hwu060 = false;
    bool hwu061 = false;
    bool hwu062 = false;

    // Word 2
    bool nscfg1 = false;
    bool had1 = false;
    bool e0pd1 = false;
    phys_addr ttb1 = 0; ///< byte address, bits [51:4]
    bool ds = false;    ///< 52-bit addresses with 4K/16K granules, with IDR5.DS
    bool hwu159 = false;
    bool hwu160 = false;
    bool hwu161 = false;
    bool hwu162 = false;

    // Words 3-5
    std::uint32_t mair0 = 0; ///< MAIR_ELx[31:0]
    std::uint32_t mair1 = 0; ///< MAIR_ELx[63:32]
    std::uint32_t amair0 = 0;
    std::uint32_t amair1 = 0;
    std::uint32_t imp_def = 0; ///< W5[31:0]
    std::uint16_t partid = 0;  ///< v3.2 MPAM
    std::uint8_t pmg = 0;      ///< v3.2 MPAM
};

bool operator==(const cd& a, const cd& b);
inline bool operator!=(const cd& a, const cd& b) {
    return !(a == b);
}

structure_words encode_cd(const cd& c);
/// Never fails; RES0 and post-v3.2 bits are dropped.
cd decode_cd(const structure_words& words);

/// The 64-bit MAIR, {MAIR1, MAIR0}.
constexpr std::uint64_t cd_mair(const cd& c) {
    return (std::uint64_t{c.mair1} << 32) | c.mair0;
}

/// Effective stage-1 output size: min(IPS, OAS), or 40 bits for VMSAv8-32.
unsigned effective_ips_bits(const cd& c, const feature_set& f);

/// TTB0 walks happen: EPD0 == 0, and EPD0 is IGNORED (effectively 0) for NS-EL2.
bool cd_ttb0_enabled(const cd& c, stream_world world);
/// TTB1 walks happen: EPD1 == 0 and TTB1 exists (not for NS-EL2).
bool cd_ttb1_enabled(const cd& c, stream_world world);

/// What the STE that located the CD contributes to the CD's legality.
struct cd_check_context {
    stream_world world = stream_world::ns_el1;
    bool s1_stalld = false;  ///< STE.S1STALLD
    bool s2_aarch32 = false; ///< stage 2 enabled with VMSAv8-32 LPAE tables
};

cd_check_context make_cd_check_context(const ste& s, const feature_set& f,
                                       const ste_check_context& ctx);

/// Why a CD is ILLEGAL (C_BAD_CD), in the order IHI0070 §5.4.2 checks them.
enum class cd_illegal_reason : std::uint8_t {
    none,
    not_valid,                   ///< V == 0
    stall_disabled_by_ste,       ///< S == 1 with STE.S1STALLD == 1
    abort_required,              ///< A == 0 with IDR0.TERM_MODEL == 1
    stall_not_supported,         ///< S == 1 with STALL_MODEL == 0b01
    stall_required,              ///< S == 0 with STALL_MODEL == 0b10
    endianness_not_supported,    ///< ENDI not allowed by TTENDIAN (a TTB enabled)
    aarch32_not_supported,       ///< AA64 == 0 without IDR0.TTF[0]
    aarch32_not_allowed,         ///< AA64 == 0 with StreamWorld NS-EL2-E2H
    aarch64_not_supported,       ///< AA64 == 1 without IDR0.TTF[1]
    aarch64_over_aarch32_stage2, ///< AA64 == 1 with a VMSAv8-32 stage 2
    httu_not_supported,          ///< HA or HD with IDR0.HTTU == 0b00
    hd_not_supported,            ///< HD with IDR0.HTTU == 0b01
    haft_without_ha,             ///< HAFT without HA (IDR0.HTTU == 0b11)
    asid_too_large,              ///< ASID[15:8] != 0 without ASID16 (ASID-tagged worlds)
    t0sz_out_of_range,
    t1sz_out_of_range,
    tg0_reserved,
    tg0_not_supported,
    ttb0_out_of_range, ///< above effective IPS (or 48 bits for 4K/16K without DS)
    tg1_reserved,
    tg1_not_supported,
    ttb1_out_of_range,
};

/// Checks a CD as the SMMU does when a transaction uses it (IHI0070 §5.4.2);
/// fields disabled by EPDx or IGNORED for the format are not checked.
cd_illegal_reason validate_cd(const cd& c, const feature_set& f, const cd_check_context& ctx);

const char* to_string(cd_illegal_reason r);

} // namespace smmu::arch
