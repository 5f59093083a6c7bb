// Locating STEs and CDs in memory: the level-1 descriptors (L1STD, L1CD) and
// the pure address math of linear and 2-level Stream tables and CD tables.
// IHI0070 §3.3.2, §5.1, §5.3, SMMU_STRTAB_BASE(_CFG); reference §2, §4.5.
//
// Lookups are two-step because the model reads the level-1 descriptor from
// memory in between: locate_* gives the STE/CD address, or the address of
// the level-1 descriptor plus the index into the level-2 table; then
// locate_*_in_l2 takes the decoded descriptor and gives the final address.
#pragma once

#include <cstdint>
#include <optional>

#include "model/arch/ste.h"
#include "model/arch/types.h"

namespace smmu::arch {

constexpr unsigned k_ste_bytes = 64;
constexpr unsigned k_cd_bytes = 64;
constexpr unsigned k_l1_desc_bytes = 8;

// --- Level-1 descriptors ----------------------------------------------------

/// Level-1 Stream Table Descriptor (IHI0070 §5.1).
struct l1std {
    std::uint8_t span = 0; ///< 5 bits: 0 invalid, 1..11 = 2^(Span-1) STEs, 12..31 reserved
    phys_addr l2_ptr = 0;  ///< byte address, bits [51:6]
};

inline bool operator==(const l1std& a, const l1std& b) {
    return a.span == b.span && a.l2_ptr == b.l2_ptr;
}

std::uint64_t encode_l1std(const l1std& d);
l1std decode_l1std(std::uint64_t word);

/// log2 of the STEs the L2 array holds, or nullopt when the descriptor makes
/// its StreamIDs invalid: Span 0, reserved (12..31), or beyond SPLIT + 1.
std::optional<unsigned> l1std_l2_log2_entries(const l1std& d, unsigned split);

/// Level-1 Context Descriptor (IHI0070 §5.3).
struct l1cd {
    bool v = false;
    phys_addr l2_ptr = 0; ///< byte address, bits [51:12]
};

inline bool operator==(const l1cd& a, const l1cd& b) {
    return a.v == b.v && a.l2_ptr == b.l2_ptr;
}

std::uint64_t encode_l1cd(const l1cd& d);
l1cd decode_l1cd(std::uint64_t word);

// --- Stream table -------------------------------------------------------------

/// SMMU_STRTAB_BASE / SMMU_STRTAB_BASE_CFG as decoded field values.
struct stream_table_config {
    phys_addr base = 0;     ///< STRTAB_BASE.ADDR as a byte address (bits [51:6] used)
    unsigned log2size = 0;  ///< LOG2SIZE, 0..63
    unsigned split = 6;     ///< SPLIT; values other than 6, 8, 10 behave as 6
    unsigned fmt = 0;       ///< FMT; only 0b01 is 2-level (pass 0 when IDR0.ST_LEVEL == 0b00)
    unsigned sid_bits = 32; ///< IDR1.SIDSIZE: caps the effective LOG2SIZE
};

/// SPLIT as the SMMU uses it: 6, 8 or 10.
unsigned effective_split(unsigned split);

enum class ste_lookup_status : std::uint8_t {
    ste,          ///< address is the STE
    l1std,        ///< address is the L1STD; read it and call locate_ste_in_l2
    bad_stream_id ///< StreamID out of range / invalid span: C_BAD_STREAMID
};

struct ste_lookup {
    ste_lookup_status status = ste_lookup_status::bad_stream_id;
    phys_addr address = 0;
    std::uint32_t l2_index = 0; ///< StreamID[SPLIT-1:0], for the second step
};

/// First step: the STE (linear) or the L1STD (2-level) for `sid`.
ste_lookup locate_ste(const stream_table_config& cfg, stream_id sid);

/// Second step of a 2-level lookup, with the L1STD read from memory.
ste_lookup locate_ste_in_l2(const stream_table_config& cfg, const l1std& desc,
                            std::uint32_t l2_index);

// --- CD table -------------------------------------------------------------

/// The STE fields (and IDR1.SSIDSIZE) that locate CDs.
struct cd_table_config {
    phys_addr context_ptr = 0; ///< STE.S1ContextPtr (bits [51:6] used)
    cd_table_format fmt = cd_table_format::linear;
    unsigned cd_max = 0;    ///< STE.S1CDMax
    unsigned ssid_bits = 0; ///< IDR1.SSIDSIZE; 0 disables substreams
};

cd_table_config make_cd_table_config(const ste& s, const feature_set& f);

enum class cd_lookup_status : std::uint8_t {
    cd,              ///< address is the CD
    l1cd,            ///< address is the L1CD; read it and call locate_cd_in_l2
    bad_substream_id ///< C_BAD_SUBSTREAMID
};

struct cd_lookup {
    cd_lookup_status status = cd_lookup_status::bad_substream_id;
    phys_addr address = 0;
    std::uint32_t l2_index = 0; ///< SSID[5:0] or SSID[9:0], for the second step
};

/// First step: the CD or L1CD for a transaction's SubstreamID (nullopt when it
/// has none). Substreams disabled (S1CDMax == 0 or SSIDSIZE == 0): the single
/// CD, and any SubstreamID is bad. Substreams enabled: SSID >= 2^S1CDMax is
/// bad; no SubstreamID selects CD 0 (the caller applies STE.S1DSS first).
cd_lookup locate_cd(const cd_table_config& cfg, std::optional<substream_id> ssid);

/// Second step of a 2-level lookup, with the L1CD read from memory.
cd_lookup locate_cd_in_l2(const cd_table_config& cfg, const l1cd& desc, std::uint32_t l2_index);

} // namespace smmu::arch
