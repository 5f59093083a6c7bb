// The SMMU's translation engine: the work of the TCU. From a transaction's
// StreamID/SubstreamID and address to an output address, a response and, for
// faults, an event record: global bypass (GBPA), Stream table and CD table
// walks through the configuration cache, the IOTLB, the walk cache and the
// translation table walker, permission checks, ATS Translation Requests and
// Translated transactions, and TLBI/CFGI invalidation of its caches.
// References: smmuv3-reference.md §2-§4 (structures), §6 (events), §7 (ATS),
// §8.5 (faults); IHI0070 §3.9, §3.13, §5, §7.3.
//
// Timing (ARCHITECTURE.md §4). Every call takes `now`, the absolute time at
// which the request reaches the TCU, and advances it:
//   * each config-cache lookup (STE, then CD) costs config_lookup_cycles, the
//     IOTLB lookup main_tlb_lookup_cycles and each walk-cache lookup (one per
//     table walk of a stage, including the stage-2 walks of a nested walk)
//     walk_cache_lookup_cycles; lookups are serial;
//   * every memory access (L1STD, STE, L1CD, CD, descriptor) costs what
//     smmu_memory says, and each descriptor read walk_step_cycles more;
//   * a translation that has to read memory takes one of tcu_walk_slots
//     walk slots at its first memory access and holds it until it completes
//     (a timing::busy_resource): when all slots are busy it waits, and the wait
//     is added to `now` and counted in the statistics.
// Debug requests (TLM debug transport) take the same path with debug memory
// reads, but do not advance `now`, fill no cache, update no replacement
// state, produce no event and count nothing (systemc-conventions.md §1.5).
//
// Caching choices (each permitted by the architecture):
//   * only valid, legal STEs and CDs are cached (no negative caching), keyed
//     by StreamID and by (StreamID, SubstreamID); L1STD/L1CD are not cached;
//   * faulting walks are not cached, except that translations denying the
//     access (permission faults) are: the IOTLB keeps both stages' permission
//     sets and every hit is checked against them;
//   * table descriptors visited by a walk fill the walk cache even if the
//     walk then faults below them;
//   * split-stage ATS results (STE.EATS == 0b10) are served from nested
//     IOTLB entries but do not fill the IOTLB.
// The cached configuration depends on CR2.E2H; callers call invalidate_all()
// whenever SMMUEN or CR2 change (E2H may only change while SMMUEN == 0).
//
// Not modelled: stalls (a fault with CD.S = 1 or STE.S2S = 1 is recorded and
// terminated with an abort), Secure streams, HTTU (no Access flag or dirty
// updates), F_UUT, PRI, MPAM (F_VMS_FETCH), TLB/config conflicts, memory
// attributes (MTCFG/MemAttr/ALLOCCFG/SHCFG are not reported).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "model/arch/cd.h"
#include "model/arch/command.h"
#include "model/arch/config_cache.h"
#include "model/arch/event.h"
#include "model/arch/invalidation.h"
#include "model/arch/registers.h"
#include "model/arch/ste.h"
#include "model/arch/tlb.h"
#include "model/arch/walk_cache.h"
#include "model/arch/walker.h"
#include "model/smmu/smmu_memory.h"
#include "model/smmu/smmu_params.h"
#include "model/timing/clock.h"
#include "model/timing/histogram.h"
#include "model/timing/resource.h"

namespace smmu {

/// What the engine reads from the programming interface (post-Update values).
struct smmu_config_state {
    bool smmuen = false;      ///< CR0ACK.SMMUEN
    bool atschk = false;      ///< CR0ACK.ATSCHK
    bool e2h = false;         ///< CR2.E2H
    bool recinvsid = false;   ///< CR2.RECINVSID: record C_BAD_STREAMID
    bool rec_cfg_ats = false; ///< CR2.REC_CFG_ATS: record configuration errors of ATS traffic
    std::uint32_t gbpa = 0;   ///< raw SMMU_GBPA: ABORT decides bypass or abort when SMMUEN == 0
    arch::strtab_config strtab{};
};

/// PCIe AT of a transaction: untranslated (AT=00) or translated (AT=10, checked per
/// CR0.ATSCHK and STE.EATS, reference §7.3).
enum class request_kind : std::uint8_t { untranslated, translated };

class context_memo;

struct translation_request {
    std::uint64_t address = 0;
    arch::stream_id sid = 0;
    std::optional<arch::substream_id> ssid;
    arch::access_kind access{};
    request_kind kind = request_kind::untranslated;
    bool debug = false;
    /// The requester's memo of the context it resolved last (optional; see context_memo).
    context_memo* memo = nullptr;
};

enum class translation_response : std::uint8_t {
    ok,
    abort,             ///< -> TLM address error
    permission_denied, ///< a permission fault on the access itself -> TLM command error
    raz_wi,            ///< CD.A == 0 terminate: reads return 0, writes are ignored
};

/// Where the time of one request went. Cycle counts are counted in functional mode too.
struct translation_cost {
    std::uint32_t lookup_cycles = 0;    ///< config-cache, IOTLB and walk-cache lookups
    std::uint32_t walk_step_cycles = 0; ///< descriptor processing
    std::uint32_t memory_accesses = 0;  ///< L1STD, STE, L1CD, CD and descriptor reads
    timing::time_ps memory_time = 0;    ///< latency of those accesses
    timing::time_ps slot_wait = 0;      ///< waiting for a walk slot
};

struct translation_result {
    translation_response response = translation_response::abort;
    arch::phys_addr output_address = 0; ///< of the request's address (ok only)
    /// The mapping the address lies in (ok only): an input range of 2^size_log2 bytes
    /// at input_base (the VA with its top byte made canonical under TBI), mapped to
    /// output_base with `permissions`. Bypass reports the whole output address space.
    std::uint64_t input_base = 0;
    arch::phys_addr output_base = 0;
    unsigned size_log2 = 12;
    arch::permission_set permissions{};
    bool bypass = false; ///< no translation stage applied (GBPA, STE bypass, translated traffic)
    /// The IOTLB tag of the mapping, so a TBU can cache and invalidate it (translations only).
    arch::tlb_context tag{};
    bool global = false; ///< nG == 0 (matches every ASID)
    /// Record for the event queue. Never in debug mode; for the faults of §4.4 only when
    /// CD.R / STE.S2R say record.
    std::optional<arch::event_record> event;
    translation_cost cost;
};

/// What translate_cached() answers: the parts of a translation_result a TBU uses.
struct cached_translation {
    arch::phys_addr output_address = 0; ///< of the request's address
    unsigned size_log2 = 12;            ///< of the mapping the address lies in
    arch::permission_set permissions{};
};

/// An ATS Translation Request (PCIe AT=01).
struct ats_request {
    std::uint64_t address = 0;
    arch::stream_id sid = 0;
    std::optional<arch::substream_id> ssid; ///< PASID
    bool no_write = false;                  ///< NW
    bool exec = false;                      ///< Execute Requested (PASID only)
    bool priv = false;                      ///< Privileged Mode Requested (PASID only)
};

enum class ats_status : std::uint8_t { success, unsupported_request, completer_abort };

/// The Translation Completion (reference §7.2). Fields other than status are meaningful
/// for success only; a translation fault is a success with read = write = false.
struct ats_result {
    ats_status status = ats_status::completer_abort;
    arch::phys_addr translated_address = 0; ///< PA (IPA for split-stage), aligned to the size
    unsigned size_log2 = 12;                ///< at least the STU (4 KiB)
    bool read = false;
    bool write = false;
    bool exec = false;
    bool priv = false;   ///< echoes the request (PASID only)
    bool global = false; ///< always false for requests with a PASID
    std::optional<arch::event_record> event;
    translation_cost cost;
};

/// What one TLBI/CFGI removed and what it cost (see invalidate()).
struct invalidation_cost {
    arch::invalidation_effect effect;
    std::uint64_t cycles = 0; ///< cycles of the SMMU clock (counted in functional mode too)
    std::uint64_t probes = 0; ///< TLB and walk-cache sets examined (TLBI)
    timing::time_ps time = 0; ///< params.cycles(cycles)
};

struct lookup_stats {
    std::uint64_t lookups = 0;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
};

struct translation_engine_stats {
    std::uint64_t translations = 0;           ///< translate() calls (not debug)
    std::array<std::uint64_t, 4> responses{}; ///< by translation_response
    std::uint64_t ats_requests = 0;
    std::array<std::uint64_t, 3> ats_completions{}; ///< by ats_status

    lookup_stats ste_cache;
    lookup_stats cd_cache;
    lookup_stats iotlb;
    lookup_stats walk_cache;

    std::uint64_t walks = 0;    ///< table walks for transactions and ATS (IOTLB misses)
    std::uint64_t cd_walks = 0; ///< stage-2 walks translating an L1CD/CD address
    /// Descriptor reads, [stage - 1][arch::level_index(level)].
    std::array<std::array<std::uint64_t, arch::level_count>, 2> descriptor_reads{};
    std::uint64_t l1std_fetches = 0;
    std::uint64_t ste_fetches = 0;
    std::uint64_t l1cd_fetches = 0;
    std::uint64_t cd_fetches = 0;

    /// Faults and configuration errors detected, by event number, recorded or not.
    std::array<std::uint64_t, 256> faults{};
    std::uint64_t events = 0; ///< event records produced

    std::uint64_t walk_slot_waits = 0;   ///< translations that waited for a walk slot
    timing::time_ps walk_slot_stall = 0; ///< total wait (saturating)

    std::uint64_t invalidations = 0;       ///< invalidate() calls that matched a TLBI/CFGI
    std::uint64_t entries_invalidated = 0; ///< entries removed by them

    /// now(end) - now(start) of every non-debug translate().
    timing::latency_histogram latency{timing::latency_histogram::default_sub_bucket_bits};
};

/// The decoded STE as the configuration cache holds it, with its stage-2 walk inputs.
struct cached_ste {
    arch::ste ste;
    arch::stage2_config s2;
};

/// The decoded CD as the configuration cache holds it, with its stage-1 walk inputs.
struct cached_cd {
    arch::cd cd;
    arch::stage1_config s1;
};

using engine_config_cache = arch::config_cache<cached_ste, cached_cd>;

class translation_engine;

/// A requester's memo (a TBU keeps one) of the translation context that translate() resolved
/// for it last: where its STE and CD are in the configuration cache and what the engine
/// derived from them (stream world, stages, IOTLB tag). When the next untranslated request
/// has the same StreamID and SubstreamID, under the same STRTAB_BASE_CFG.LOG2SIZE (the
/// StreamID range check) and CR2.E2H (the stream world), and the configuration cache has not
/// changed since (engine_config_cache::generation(): every insert, every CFGI_*, and
/// invalidate_all() on SMMUEN, STRTAB or CR2 changes), translate() repeats the one or two
/// cache hits from the memo instead of searching: the same statistics, replacement updates
/// and time as the lookups. It is recorded only when every lookup hit. Opaque to its owner;
/// never needs flushing, but must not outlive the engines it is used with.
class context_memo {
    friend class translation_engine;

    const translation_engine* m_engine = nullptr; ///< whose caches it describes; null: empty
    std::uint64_t m_generation = 0;               ///< of that engine's configuration cache
    // The key.
    arch::stream_id m_sid = 0;
    std::optional<arch::substream_id> m_ssid;
    bool m_e2h = false;
    unsigned m_strtab_log2size = 0;
    // The context: the entries themselves (valid while the generation is), and where they are.
    const cached_ste* m_ste = nullptr;
    const cached_cd* m_cd = nullptr; ///< null: no CD was looked up
    engine_config_cache::hit_ref m_ste_at;
    engine_config_cache::hit_ref m_cd_at;
    arch::stream_world m_world = arch::stream_world::ns_el1;
    bool m_s1 = false;
    bool m_s2 = false;
    arch::tlb_context m_tlb_ctx;
    arch::iotlb::query m_tlb_query;
};

class translation_engine {
public:
    /// Throws std::invalid_argument for a bad cache geometry or tcu_walk_slots == 0.
    translation_engine(const smmu_params& params, smmu_memory& memory);
    ~translation_engine();
    translation_engine(const translation_engine&) = delete;
    translation_engine& operator=(const translation_engine&) = delete;

    /// Translates one transaction starting at `now`, which is advanced by its latency
    /// (not in debug mode). Uses and updates req.memo, if given (not in debug mode).
    translation_result translate(const translation_request& req, const smmu_config_state& cfg,
                                 timing::time_ps& now);

    /// translate() in its most frequent case, without its generality: an untranslated,
    /// non-debug request under SMMUEN whose context req.memo holds (see context_memo), with
    /// at least one translation stage, and whose address hits the IOTLB with the access
    /// allowed. Then it has exactly translate()'s effects (statistics, replacement updates,
    /// `now` advanced by the same lookups) and answers in `out`; otherwise it has no effect
    /// and returns false, and translate() does the work.
    bool translate_cached(const translation_request& req, const smmu_config_state& cfg,
                          timing::time_ps& now, cached_translation& out);

    /// Answers an ATS Translation Request (reference §7.2) starting at `now`.
    ats_result translate_ats(const ats_request& req, const smmu_config_state& cfg,
                             timing::time_ps& now);

    /// Applies a CMD_TLBI_* or CMD_CFGI_* to the caches; other commands do nothing and cost
    /// nothing. Cost model (for docs/timing.md):
    ///   TLBI: cmd_tlbi_cycles + cmd_tlbi_probe_cycles x sets examined, where a TLBI by
    ///         address examines, in the IOTLB, one set per entry size present per
    ///         size-aligned block of the range (capped at a full scan, as arch::iotlb
    ///         does), and in the walk cache nothing for Leaf = 1 and a full scan
    ///         otherwise; a TLBI by context (ALL/ASID/VMALL) scans both structures.
    ///   CFGI: cmd_cfgi_cycles.
    invalidation_cost invalidate(const arch::command& cmd, const smmu_config_state& cfg);

    /// Empties every cache (reset, SMMUEN or CR2 changes).
    void invalidate_all();

    // Read-only views for tests, checkers and statistics.
    const arch::iotlb& tlb() const { return m_tlb; }
    const arch::walk_cache& walks() const { return m_walks; }
    const engine_config_cache& config() const { return m_config; }
    const timing::busy_resource& walk_slots() const { return m_walk_slots; }

    /// True when the IOTLB still holds a non-global entry tagged with `asid` (NS-EL1
    /// stage-1/nested entries of `vmid`, every VMID if empty; with no VMID given, also
    /// EL2-E2H entries). O(IOTLB size) and allocates: for checkers, not the hot path.
    bool tlb_holds_asid(std::optional<arch::vmid_t> vmid, arch::asid_t asid) const;
    /// True when the IOTLB still holds an NS-EL1 entry tagged with `vmid`.
    bool tlb_holds_vmid(arch::vmid_t vmid) const;
    /// The same questions for the walk cache.
    bool walk_cache_holds_asid(std::optional<arch::vmid_t> vmid, arch::asid_t asid) const;
    bool walk_cache_holds_vmid(arch::vmid_t vmid) const;

    const translation_engine_stats& stats() const { return m_stats; }
    void reset_stats();

private:
    struct job;
    class walk_port;
    enum class stop : std::uint8_t;

    // Configuration.
    bool memo_holds(const context_memo* m, arch::stream_id sid,
                    const std::optional<arch::substream_id>& ssid,
                    const smmu_config_state& cfg) const;
    std::uint32_t repeat_config_hits(const context_memo& m, timing::time_ps& now);
    bool replay_context(job& j);
    void remember_context(const job& j);
    stop resolve_context(job& j);
    stop resolve_ste(job& j);
    stop fetch_ste(job& j, cached_ste& out);
    stop resolve_stages(job& j);
    stop fetch_cd(job& j, cached_cd& out);
    bool read_cd_structure(job& j, arch::phys_addr address, void* dst, unsigned len,
                           mem_purpose why, arch::phys_addr& pa);
    void prepare_contexts(job& j);
    void walk_contexts(job& j);
    void s2_walk_context(job& j);

    // Translation.
    bool find_mapping(job& j, bool fill_tlb);
    bool walk_mapping(job& j, bool fill_tlb);
    /// The permission fault of an access the mapping does not allow.
    arch::walk_fault permission_fault(const job& j) const;

    // Results.
    translation_result run_translate(job& j);
    translation_result run_translated(job& j);
    translation_result finish_translation(job& j);
    translation_result bypass_result(job& j);
    translation_result abort_result(job& j, std::optional<arch::event_record> event);
    translation_result fault_result(job& j, const arch::walk_fault& f);
    translation_result config_stop_result(job& j, stop s, bool ats_traffic);
    ats_result run_ats(job& j, const ats_request& req);
    ats_result ats_from_mapping(job& j, const ats_request& req);

    // Memory and time.
    bool read_memory(job& j, arch::phys_addr pa, void* dst, unsigned len, mem_purpose why);
    void begin_memory_phase(job& j);
    void end_job(job& j); ///< releases the walk slot (slot_held only)
    void count_fault(const job& j, arch::event_id id);
    void emit(job& j, std::optional<arch::event_record>& slot, const arch::event_record& e);

    std::uint64_t tlbi_probes(const arch::command& cmd) const;

    const smmu_params m_params;
    smmu_memory& m_mem;
    arch::iotlb m_tlb;
    arch::walk_cache m_walks;
    engine_config_cache m_config;
    timing::busy_resource m_walk_slots;
    translation_engine_stats m_stats;
    // params.cycles() of one lookup of each kind.
    timing::time_ps m_config_lookup_time;
    timing::time_ps m_tlb_lookup_time;
    timing::time_ps m_walk_cache_lookup_time;
    const std::optional<arch::event_record> m_no_event; ///< see finish_translation()
};

} // namespace smmu
