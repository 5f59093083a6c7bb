// The SMMU's implemented features: the architectural content of the ID
// registers as plain values. The model builds its IDRs from this; a driver
// decodes its IDRs into it; validation of STEs and CDs checks against it.
#pragma once

#include <cstdint>

namespace smmu::arch {

enum class stall_model : std::uint8_t {
    stall_and_terminate = 0,
    terminate_only = 1,
    stall_forced = 2
};
enum class tt_endian : std::uint8_t { mixed = 0, little = 2, big = 3 };
enum class httu_level : std::uint8_t { none = 0, access_flag = 1, access_and_dirty = 2, haft = 3 };

struct feature_set {
    // IDR0
    bool s1p = true;
    bool s2p = true;
    bool ttf_aarch32 = false; ///< VMSAv8-32 LPAE tables (TTF[0])
    bool ttf_aarch64 = true;  ///< VMSAv8-64 tables (TTF[1])
    bool cohacc = true;
    bool btm = false;
    httu_level httu = httu_level::none;
    bool hyp = true;
    bool ats = true;
    bool ns1ats = true; ///< 1 = split-stage ATS NOT supported
    bool asid16 = true;
    bool msi = true;
    bool sev = true;
    bool atos = false;
    bool pri = false;
    bool vmw = false;
    bool vmid16 = true;
    bool cd2l = true;
    bool vatos = false;
    tt_endian endian = tt_endian::little;
    stall_model stalls = stall_model::terminate_only;
    bool term_model = false;
    bool st_level_2 = true; ///< 2-level stream tables supported
    // IDR1
    unsigned sid_bits = 16;    ///< SIDSIZE, 0..32
    unsigned ssid_bits = 20;   ///< SSIDSIZE, 0..20
    unsigned cmdq_log2 = 19;   ///< CMDQS
    unsigned eventq_log2 = 19; ///< EVENTQS
    unsigned priq_log2 = 0;    ///< PRIQS
    bool attr_types_ovr = true;
    bool attr_perms_ovr = true;
    // IDR3
    bool had = true;
    bool xnx = true;
    bool fwb = true;
    bool stt = false;
    bool ril = true;
    unsigned bbml = 2;
    // IDR5
    bool gran4k = true;
    bool gran16k = true;
    bool gran64k = true;
    bool ds = false;
    bool vax52 = false;     ///< VAX = 01: 52-bit VA
    unsigned oas_bits = 48; ///< output address size in bits (32,36,40,42,44,48,52)
    std::uint32_t stall_max = 0;

    /// IAS per IHI0070 §3.4: max(TTF[0] ? 40 : 0, TTF[1] ? OAS : 0).
    unsigned ias_bits() const {
        const unsigned a32 = ttf_aarch32 ? 40u : 0u;
        const unsigned a64 = ttf_aarch64 ? oas_bits : 0u;
        return a32 > a64 ? a32 : a64;
    }
};

} // namespace smmu::arch
