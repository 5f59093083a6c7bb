// The SMMU's VMSAv8-64 translation-table walker: stage 1, stage 2 and nested
// (stage 1 whose table addresses and output are IPAs translated by stage 2).
// Pure function of its configuration and of the descriptors it reads through
// walk_memory; it never throws on guest data, every failure is a walk_fault.
// Reference: smmuv3-reference.md §8 (geometry, descriptors, faults), §4.1/§4.2
// (CD fields driving stage 1), §3.2 (STE stage-2 fields), §6.2 (event fields).
//
// Not modelled: hardware Access-flag/dirty updates (HA/HD/HAFT, DBM is only
// reported), big-endian tables, VMSAv8-32 and VMSAv9-128 formats, indirect and
// overlay permissions (S1PIE/S2PIE/POE), E0PD, FWB, Secure/Realm state (NS,
// NSTable) and MPAM. The walk cache itself lives with the caller: the walker
// reports the table descriptors it visits (walk_observer) so the caller can
// fill one, and asks a walk_resume_source for a cached table descriptor to
// start each stage's walk below its root.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "model/arch/descriptor.h"
#include "model/arch/event.h"
#include "model/arch/types.h"

namespace smmu::arch {

// ---------------------------------------------------------------- memory

/// One descriptor read: the 64-bit little-endian word, or an external abort.
struct descriptor_read {
    std::uint64_t value = 0;
    bool abort = false;
};

/// Where the walker reads descriptors. The SystemC model implements it over its
/// walker socket and charges latency per read; tests use a map.
class walk_memory {
public:
    virtual ~walk_memory() = default;
    /// Reads the 8-byte descriptor at physical address `pa`, which belongs to a
    /// `s` table at lookup `level` (-1..3).
    virtual descriptor_read read_descriptor(phys_addr pa, stage s, int level) = 0;
};

/// One table descriptor followed during a walk (for a walk cache).
struct table_visit {
    stage st = stage::one;
    granule gran = granule::size_4k; ///< granule of the tables walked
    int level = 0;
    std::uint64_t input_base = 0;     ///< input address aligned down to span_log2
    unsigned span_log2 = 0;           ///< input span the descriptor covers (level_shift)
    phys_addr descriptor_address = 0; ///< PA the descriptor was read from
    phys_addr next_table = 0;         ///< next-level table (an IPA for stage 1 when nested)
    std::uint64_t descriptor = 0;     ///< raw word (APTable/XNTable/PXNTable etc.)
    /// Stage 1: the hierarchical attribute bits [63:59] (tt_desc::table_attr_mask) ORed over
    /// this descriptor and every table descriptor above it; what a walk resumed from here
    /// needs. 0 at stage 2.
    std::uint64_t table_attrs = 0;
};

class walk_observer {
public:
    virtual ~walk_observer() = default;
    virtual void on_table(const table_visit& visit) = 0;
};

/// A cached table descriptor from which one stage's walk can continue below its root.
struct walk_resume {
    int level = 0;                 ///< level of the cached table descriptor (-1..2)
    phys_addr next_table = 0;      ///< the table it points to (an IPA for stage 1 when nested)
    std::uint64_t table_attrs = 0; ///< as table_visit::table_attrs (stage 1)
};

/// Where the walker looks for a walk-cache hit (IHI0070 §3.13: a walk cache
/// holds table descriptors of either stage).
class walk_resume_source {
public:
    virtual ~walk_resume_source() = default;
    /// Asked once per table walk of stage `st` (in a nested walk, also once per stage-2
    /// translation of a stage-1 table address), after the checks that read no memory
    /// (input range, EPDx, TTB address size). `input` is the address the walk resolves:
    /// the VA with the top byte made canonical under TBI for stage 1, an IPA for stage 2.
    /// An answer at a level that is not in [start level, 2] is ignored.
    virtual std::optional<walk_resume> find(stage st, std::uint64_t input, granule g) = 0;
};

// ---------------------------------------------------------------- configuration

/// Stage-1 translation regime (from STE.StreamWorld): EL1&0 and EL2&0 have
/// two privilege levels, two TTBs and ASIDs; EL2 (E2H=0) and EL3 have one.
enum class s1_regime : std::uint8_t { two_el, single_el };

/// Stage-1 inputs, filled by the model from a decoded CD (reference §4.1).
struct stage1_config {
    phys_addr ttb0 = 0; ///< CD.TTB0 (an IPA when stage 2 is enabled)
    phys_addr ttb1 = 0; ///< CD.TTB1 (two-EL regimes only)
    unsigned t0sz = 16;
    unsigned t1sz = 16;
    granule tg0 = granule::size_4k;
    granule tg1 = granule::size_4k;
    bool epd0 = false; ///< ignored in single-EL regimes
    bool epd1 = false;
    bool tbi0 = false; ///< CD.TBI[0]
    bool tbi1 = false; ///< CD.TBI[1]
    /// Effective IPS in bits: min(CD.IPS, OAS), and also at most IAS when
    /// nested. Capped further at 48 for 4K/16K without DS.
    unsigned ips_bits = 48;
    bool affd = false; ///< no Access flag faults
    bool had0 = false; ///< hierarchical attributes disabled for TTB0 tables
    bool had1 = false;
    bool wxn = false;
    bool uwxn = false; ///< IGNORED for VMSAv8-64 (reference §4.1); kept for completeness
    bool pan = false;
    bool ds = false;      ///< CD.DS: 52-bit addresses with 4K/16K (FEAT_LPA2)
    std::uint8_t sh0 = 0; ///< CD.SH0: output shareability of TTB0 mappings when DS
    std::uint8_t sh1 = 0;
    asid_t asid = 0;
    bool aset = false; ///< reported in the tag (TLBI broadcast participation)
    s1_regime regime = s1_regime::two_el;
    /// VMID tagging a stage-1-only NS-EL1 stream (STE.S2VMID); ignored when
    /// stage 2 is enabled (stage2_config::vmid is used).
    std::optional<vmid_t> vmid;
};

/// Stage-2 inputs, filled by the model from a decoded STE (reference §3.2).
struct stage2_config {
    phys_addr ttb = 0; ///< STE.S2TTB
    unsigned t0sz = 24;
    unsigned sl0 = 1;
    bool sl2 = false; ///< STE.S2SL0_2 (only with DS)
    granule tg = granule::size_4k;
    /// Effective PS in bits: min(S2PS, OAS). Capped at 48 for 4K/16K without DS.
    unsigned ps_bits = 48;
    bool affd = false;   ///< STE.S2AFFD
    bool ptw = false;    ///< STE.S2PTW: stage-1 walks / CD fetches to Device memory fault
    bool xnx = true;     ///< IDR3.XNX: XN is two bits [54:53]
    bool ds = false;     ///< STE.S2DS
    bool stt = false;    ///< IDR3.STT: SL0=11 (4K level 3) and T0SZ above 39
    std::uint8_t sh = 0; ///< STE.S2SH0: output shareability when DS
    vmid_t vmid = 0;
};

/// Why the translation is done: a client transaction; the fetch of a CD
/// whose address (S1ContextPtr / L1CD.L2Ptr) is an IPA (stage 2 only); or a
/// split-stage ATS Translation Request (STE.EATS == 0b10), which stops after
/// stage 1 and returns the IPA (stage-1 table addresses still go through
/// stage 2 when `s2` is set).
enum class walk_purpose : std::uint8_t { transaction, cd_fetch, stage1_ipa };

struct walk_request {
    std::uint64_t input_address = 0; ///< VA (or IPA when stage 1 is absent), as presented
    access_kind access{};
    const stage1_config* s1 = nullptr; ///< null: stage 1 bypassed
    const stage2_config* s2 = nullptr; ///< null: stage 2 bypassed
    walk_purpose purpose = walk_purpose::transaction;
    /// IAS in bits; when non-zero and stage 1 is bypassed, an input address at
    /// or above 2^bypass_ias_bits gives a stage-1 Address size fault
    /// (reference §8.5). 0 = no check.
    unsigned bypass_ias_bits = 0;
    /// Implemented PA size (IDR5.OAS in bits): 64K level-1 blocks need 52.
    unsigned oas_bits = 48;
    walk_observer* observer = nullptr;
    /// Optional walk cache to start each stage's walk from (null: always from the root).
    walk_resume_source* resume = nullptr;
    /// false: the leaf permissions of either stage are not checked against `access`; the
    /// walk succeeds with its permission sets (check them with denying_stage), so that a
    /// caller can cache a translation that denies this access or report the permissions it
    /// grants (ATS). Stage-2 permission checks on stage-1 table and CD fetches still apply,
    /// and a stage-1 permission fault keeps its priority over any fault stage 2 then takes
    /// translating the output address.
    bool check_permissions = true;
};

// ---------------------------------------------------------------- results

/// Resolved permissions of a translation for every kind of access.
struct permission_set {
    bool priv_read = false;
    bool priv_write = false;
    bool priv_exec = false;
    bool user_read = false;
    bool user_write = false;
    bool user_exec = false;

    static constexpr permission_set all() { return {true, true, true, true, true, true}; }
    /// Writes are always data (IHI0070 §13.1.2); instruction reads need
    /// execute permission only, as on a PE.
    constexpr bool allows(const access_kind& a) const {
        if (a.write)
            return a.privileged ? priv_write : user_write;
        if (a.instruction)
            return a.privileged ? priv_exec : user_exec;
        return a.privileged ? priv_read : user_read;
    }
    constexpr permission_set operator&(const permission_set& o) const {
        return {priv_read && o.priv_read, priv_write && o.priv_write, priv_exec && o.priv_exec,
                user_read && o.user_read, user_write && o.user_write, user_exec && o.user_exec};
    }
    constexpr bool operator==(const permission_set& o) const {
        return priv_read == o.priv_read && priv_write == o.priv_write && priv_exec == o.priv_exec &&
               user_read == o.user_read && user_write == o.user_write && user_exec == o.user_exec;
    }
    constexpr bool operator!=(const permission_set& o) const { return !(*this == o); }
    /// Six bits, bit 0 priv_read .. bit 5 user_exec (for tlb_entry::perms).
    constexpr std::uint32_t pack() const {
        return (priv_read ? 1u : 0u) | (priv_write ? 2u : 0u) | (priv_exec ? 4u : 0u) |
               (user_read ? 8u : 0u) | (user_write ? 16u : 0u) | (user_exec ? 32u : 0u);
    }
    static constexpr permission_set unpack(std::uint32_t v) {
        return {(v & 1u) != 0, (v & 2u) != 0,  (v & 4u) != 0,
                (v & 8u) != 0, (v & 16u) != 0, (v & 32u) != 0};
    }
};

struct s1_attributes {
    std::uint8_t attr_indx = 0; ///< MAIR byte index
    std::uint8_t sh = 0;        ///< descriptor SH, or CD.SHx when DS
    bool ns = false;
    bool ng = false;
    bool contiguous = false;
    bool dbm = false;
    bool gp = false;
};

struct s2_attributes {
    std::uint8_t mem_attr = 0; ///< MemAttr[3:0] (FWB = 0 encoding)
    std::uint8_t sh = 0;       ///< descriptor SH, or STE.S2SH0 when DS
    bool contiguous = false;
    bool dbm = false;
};

struct tlb_tag {
    std::optional<asid_t> asid; ///< empty when global or when there is no stage 1
    std::optional<vmid_t> vmid;
    bool global = true; ///< nG == 0, single-EL regime, or stage-2-only
    bool aset = false;
};

/// What a TLB needs from a successful walk.
struct walk_result {
    phys_addr output_address = 0; ///< PA of the input address
    std::uint64_t input_base = 0; ///< input aligned down to size_log2 (VA made canonical under TBI)
    phys_addr output_base = 0;    ///< output aligned down to size_log2
    unsigned size_log2 = 0;       ///< page/block/contiguous span; nested: min of both stages
    std::uint64_t ipa = 0;        ///< stage-1 output when stage 2 runs (else the input / output)
    std::optional<int> s1_level;  ///< leaf levels of the stages that ran
    std::optional<int> s2_level;
    unsigned s1_size_log2 = 0;
    unsigned s2_size_log2 = 0;
    permission_set perms; ///< s1_perms & s2_perms
    permission_set s1_perms = permission_set::all();
    permission_set s2_perms = permission_set::all();
    std::optional<s1_attributes> s1_attrs;
    std::optional<s2_attributes> s2_attrs;
    tlb_tag tag;

    std::uint64_t size() const { return std::uint64_t{1} << size_log2; }
};

enum class fault_kind : std::uint8_t {
    translation,    ///< F_TRANSLATION
    address_size,   ///< F_ADDR_SIZE
    access_flag,    ///< F_ACCESS
    permission,     ///< F_PERMISSION
    external_abort, ///< F_WALK_EABT
};

/// The event number a walk fault is recorded with (reference §8.5).
constexpr event_id fault_event(fault_kind k) {
    switch (k) {
    case fault_kind::translation:
        return event_id::f_translation;
    case fault_kind::address_size:
        return event_id::f_addr_size;
    case fault_kind::access_flag:
        return event_id::f_access;
    case fault_kind::permission:
        return event_id::f_permission;
    case fault_kind::external_abort:
        break;
    }
    return event_id::f_walk_eabt;
}

/// A walk fault, ready to become an event record. `cls` is the record's CLASS
/// (reference §6.2): what was being translated when a stage-2 fault hit.
/// Stage-1 faults are CLASS=IN, except a stage-1 descriptor fetch abort (TT).
struct walk_fault {
    fault_kind kind = fault_kind::translation;
    stage st = stage::one;
    int level = 0; ///< lookup level (0 for range/TTB/EPD faults)
    fault_class cls = fault_class::in;
    std::uint64_t input_address = 0; ///< the request's input address, as presented
    std::uint64_t ipa = 0;           ///< st == two: the IPA being translated (descriptor/CD/output)
    phys_addr fetch_address = 0;     ///< external_abort: PA of the descriptor
    access_kind access{};            ///< the request's access (table reads are always reads)

    /// A stage-2 fault hit while fetching a stage-1 descriptor (CLASS = TT).
    bool on_s1_table_walk() const { return st == stage::two && cls == fault_class::tt; }
};

/// Descriptor reads performed, per stage and level (fault or not).
struct read_counts {
    std::array<std::uint16_t, level_count> s1{};
    std::array<std::uint16_t, level_count> s2{};

    unsigned at(stage s, int level) const {
        return (s == stage::one ? s1 : s2)[level_index(level)];
    }
    unsigned total(stage s) const {
        unsigned n = 0;
        for (auto c : (s == stage::one ? s1 : s2))
            n += c;
        return n;
    }
    unsigned total() const { return total(stage::one) + total(stage::two); }
};

struct walk_outcome {
    walk_result result; ///< meaningful only when ok()
    std::optional<walk_fault> fault;
    read_counts reads;

    bool ok() const { return !fault.has_value(); }
};

/// Translates request.input_address through the enabled stages.
walk_outcome walk(const walk_request& request, walk_memory& memory);

/// The event record of a walk fault for the transaction of `s`.
event_record fault_record(const walk_fault& f, stream_ref s, stall_state stall = {});

/// For a cached translation: which stage denies `access` (stage 1 is checked
/// first), or std::nullopt when it is allowed.
std::optional<stage> denying_stage(const walk_result& result, const access_kind& access);

} // namespace smmu::arch
