#include "model/smmu/translation_engine.h"

#include <algorithm>
#include <array>

#include "model/arch/bits.h"
#include "model/arch/stream_table.h"
#include "model/arch/walk_config.h"

namespace smmu {

using arch::phys_addr;
using timing::time_ps;

namespace {

arch::cache_geometry geometry(const cache_shape& s, std::uint64_t seed) {
    return arch::cache_geometry{s.entries, s.ways, s.policy, seed};
}

std::size_t sets_of(const cache_shape& s) {
    return s.ways == 0 ? 0 : s.entries / s.ways;
}

/// True when `addr` has a bit set at or above `bits`.
constexpr bool exceeds(std::uint64_t addr, unsigned bits) {
    return bits < 64 && (addr >> bits) != 0;
}

std::uint64_t le64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

arch::structure_words words_of(const unsigned char* bytes) {
    arch::structure_words w{};
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = le64(bytes + 8 * i);
    return w;
}

arch::stream_table_config table_config(const arch::strtab_config& s, const arch::feature_set& f) {
    arch::stream_table_config c;
    c.base = s.base;
    c.log2size = s.log2size;
    c.split = s.split;
    // FMT == 2-level only counts when the SMMU implements 2-level tables.
    c.fmt = s.fmt == arch::strtab_fmt::two_level && f.st_level_2 ? 1u : 0u;
    c.sid_bits = f.sid_bits;
    return c;
}

arch::tlb_regime regime_of(arch::stream_world w) {
    switch (w) {
    case arch::stream_world::ns_el2:
        return arch::tlb_regime::el2;
    case arch::stream_world::ns_el2_e2h:
        return arch::tlb_regime::el2_e2h;
    case arch::stream_world::ns_el1:
        break;
    }
    return arch::tlb_regime::ns_el1;
}

/// The VA the walker resolves: the top byte made canonical under TBI (as walker.cpp does).
std::uint64_t canonical_va(const arch::stage1_config& c, std::uint64_t va) {
    const bool two_el = c.regime == arch::s1_regime::two_el;
    const bool upper = two_el && arch::extract(va, 55, 55) != 0;
    if (!(upper ? c.tbi1 : c.tbi0))
        return va;
    return two_el ? arch::sign_extend(va, 56) : va & arch::bit_mask(55, 0);
}

/// STE.PRIVCFG / STE.INSTCFG applied to an incoming access (IHI0070 §13.1.2).
arch::access_kind override_access(arch::access_kind a, const arch::ste& s,
                                  const arch::feature_set& f) {
    if (!f.attr_perms_ovr)
        return a;
    if (s.privcfg == arch::ste_privcfg::unprivileged)
        a.privileged = false;
    else if (s.privcfg == arch::ste_privcfg::privileged)
        a.privileged = true;
    if (s.instcfg == arch::ste_instcfg::data)
        a.instruction = false;
    else if (s.instcfg == arch::ste_instcfg::instruction)
        a.instruction = !a.write; // writes are always data
    return a;
}

// IOTLB entry payload: both stages' permission sets and leaf levels.
constexpr std::uint32_t pack_perms(const arch::permission_set& s1, const arch::permission_set& s2) {
    return s1.pack() | (s2.pack() << 8);
}
constexpr std::uint32_t s1_bits(std::uint32_t packed) {
    return packed & 0x3fu;
}
constexpr std::uint32_t s2_bits(std::uint32_t packed) {
    return (packed >> 8) & 0x3fu;
}
/// permission_set::allows() on a permission_set::pack() value: one bit per access kind.
constexpr bool bits_allow(std::uint32_t bits, const arch::access_kind& a) {
    const unsigned base = a.privileged ? 0u : 3u;
    const unsigned bit = base + (a.write ? 1u : a.instruction ? 2u : 0u);
    return ((bits >> bit) & 1u) != 0;
}
/// permission_set::unpack() of every six-bit value, for the hot path.
constexpr std::array<arch::permission_set, 64> make_unpacked() {
    std::array<arch::permission_set, 64> t{};
    for (std::uint32_t bits = 0; bits < 64; ++bits)
        t[bits] = arch::permission_set::unpack(bits);
    return t;
}
constexpr std::array<arch::permission_set, 64> k_unpacked = make_unpacked();

/// The permissions both stages grant.
arch::permission_set combined_perms(std::uint32_t packed) {
    return k_unpacked[s1_bits(packed) & s2_bits(packed)];
}

constexpr bool bits_allow_matches_permission_set() {
    for (std::uint32_t bits = 0; bits < 64; ++bits) {
        for (unsigned k = 0; k < 8; ++k) {
            const arch::access_kind a{(k & 1u) != 0, (k & 2u) != 0, (k & 4u) != 0};
            if (bits_allow(bits, a) != arch::permission_set::unpack(bits).allows(a))
                return false;
        }
    }
    return true;
}
static_assert(bits_allow_matches_permission_set());

constexpr std::uint32_t pack_levels(int s1, int s2) {
    return static_cast<std::uint32_t>(s1 + 1) | (static_cast<std::uint32_t>(s2 + 1) << 4);
}

template <class T>
void count_lookup(lookup_stats& s, const T* hit) {
    ++s.lookups;
    ++(hit != nullptr ? s.hits : s.misses);
}

} // namespace

// ------------------------------------------------------------------ per-request state

enum class translation_engine::stop : std::uint8_t {
    none,
    config_abort,  ///< STE.Config 0b0xx: terminated without an event
    ste_not_valid, ///< STE.V == 0: C_BAD_STE (ATS: CA without an event)
    config_error,  ///< job::config_event holds the record
    walk_fault,    ///< job::fault: a fault translating a CD address through stage 2
};

struct translation_engine::job {
    job(const smmu_config_state& c, time_ps& clock)
        : cfg(c)
        , now(clock) {}

    const smmu_config_state& cfg;
    time_ps& now; ///< the caller's time, or a scratch copy in debug mode
    std::uint64_t address = 0;
    arch::stream_id sid = 0;
    std::optional<arch::substream_id> ssid;
    arch::access_kind access{};
    bool debug = false;
    context_memo* memo = nullptr; ///< for run_translate(); null in debug mode

    translation_cost cost;
    bool slot_held = false;
    time_ps slot_arrival = 0;
    time_ps slot_start = 0;

    // Configuration: a configuration-cache entry (a hit) or the copy below (a fetch, or
    // a hit once the job reads memory: see own_config()).
    const cached_ste* ste = nullptr;
    const cached_cd* cd = nullptr;
    std::optional<cached_ste> ste_copy;
    std::optional<cached_cd> cd_copy;
    engine_config_cache::hit_ref ste_ref; ///< where `ste` was found (a hit only)
    engine_config_cache::hit_ref cd_ref;  ///< where `cd` was found (a hit only)
    arch::stream_world world = arch::stream_world::ns_el1;
    bool s1 = false;    ///< stage 1 translates (the CD is valid)
    bool s2 = false;    ///< stage 2 translates
    bool split = false; ///< split-stage ATS: stop at the IPA
    arch::tlb_context tlb_ctx;
    arch::iotlb::query tlb_query; ///< of tlb_ctx
    // Walk-cache tags, set before a walk (walk_contexts(), s2_walk_context()).
    arch::walk_context s1_walk_ctx;
    arch::walk_context s2_walk_ctx;
    std::optional<arch::event_record> config_event;
    bool bad_stream_id = false;
    std::optional<arch::walk_fault> fault;

    // The mapping found (IOTLB hit or walk).
    std::uint64_t lookup_address = 0; ///< the address as the IOTLB sees it
    std::uint64_t input_base = 0;
    phys_addr output_base = 0;
    std::uint64_t ipa_base = 0; ///< IPA of input_base (nested and stage-2 mappings)
    unsigned size_log2 = 12;
    std::uint32_t perms = 0; ///< pack_perms(stage 1, stage 2)
    int s1_level = 3;
    int s2_level = 3;
    bool global = false;

    /// The mapping's permissions of both stages allow the access.
    bool access_allowed() const {
        return bits_allow(s1_bits(perms), access) && bits_allow(s2_bits(perms), access);
    }

    void charge_lookup(std::uint32_t cycles, time_ps time) {
        cost.lookup_cycles += cycles;
        now += time;
    }

    /// Copies the STE and CD out of the configuration cache, before the job's first memory
    /// access: a downstream target may wait there, and another process may then insert
    /// into or invalidate the cache entries that this job still uses.
    void own_config() {
        if (ste != nullptr && !ste_copy)
            ste = &ste_copy.emplace(*ste);
        if (cd != nullptr && !cd_copy)
            cd = &cd_copy.emplace(*cd);
    }

    arch::stream_ref stream() const {
        return ssid ? arch::stream_ref(sid, *ssid) : arch::stream_ref(sid);
    }
};

/// The walker's view of the engine: memory with time, the walk cache to resume
/// from, and the observer that fills it.
class translation_engine::walk_port : public arch::walk_memory,
                                      public arch::walk_resume_source,
                                      public arch::walk_observer {
public:
    walk_port(translation_engine& e, job& j)
        : m_e(e)
        , m_j(j) {}

    arch::descriptor_read read_descriptor(phys_addr pa, arch::stage s, int level) override {
        unsigned char bytes[8] = {};
        const bool one = s == arch::stage::one;
        const bool ok =
            m_e.read_memory(m_j, pa, bytes, 8, one ? mem_purpose::walk_s1 : mem_purpose::walk_s2);
        m_j.cost.walk_step_cycles += m_e.m_params.walk_step_cycles;
        m_j.now += m_e.m_params.cycles(m_e.m_params.walk_step_cycles);
        if (!m_j.debug)
            ++m_e.m_stats.descriptor_reads[one ? 0 : 1][arch::level_index(level)];
        return {ok ? le64(bytes) : 0, !ok};
    }

    std::optional<arch::walk_resume> find(arch::stage st, std::uint64_t input,
                                          arch::granule g) override {
        m_j.charge_lookup(m_e.m_params.walk_cache_lookup_cycles, m_e.m_walk_cache_lookup_time);
        arch::walk_context ctx = st == arch::stage::one ? m_j.s1_walk_ctx : m_j.s2_walk_ctx;
        ctx.gran = g;
        const arch::walk_entry* hit =
            m_j.debug ? m_e.m_walks.peek(ctx, input) : m_e.m_walks.lookup(ctx, input);
        if (!m_j.debug)
            count_lookup(m_e.m_stats.walk_cache, hit);
        if (hit == nullptr)
            return std::nullopt;
        return arch::walk_resume{hit->level, hit->next_table, std::uint64_t{hit->attrs} << 59};
    }

    void on_table(const arch::table_visit& v) override {
        if (m_j.debug)
            return;
        arch::walk_entry e;
        e.ctx = v.st == arch::stage::one ? m_j.s1_walk_ctx : m_j.s2_walk_ctx;
        e.ctx.gran = v.gran;
        e.level = static_cast<std::int8_t>(v.level);
        e.input = v.input_base;
        e.next_table = v.next_table;
        e.attrs = static_cast<std::uint32_t>(v.table_attrs >> 59);
        m_e.m_walks.insert(e);
    }

private:
    translation_engine& m_e;
    job& m_j;
};

// ------------------------------------------------------------------ construction

translation_engine::translation_engine(const smmu_params& params, smmu_memory& memory)
    : m_params(params)
    , m_mem(memory)
    , m_tlb(geometry(params.main_tlb, params.random_seed))
    , m_walks(geometry(params.walk_cache, params.random_seed + 1))
    , m_config(geometry(params.ste_cache, params.random_seed + 2),
               geometry(params.cd_cache, params.random_seed + 3))
    , m_walk_slots(params.tcu_walk_slots)
    , m_config_lookup_time(params.cycles(params.config_lookup_cycles))
    , m_tlb_lookup_time(params.cycles(params.main_tlb_lookup_cycles))
    , m_walk_cache_lookup_time(params.cycles(params.walk_cache_lookup_cycles)) {}

translation_engine::~translation_engine() = default;

void translation_engine::reset_stats() {
    m_stats = translation_engine_stats{};
    m_tlb.reset_stats();
    m_walks.reset_stats();
    m_config.reset_stats();
    m_walk_slots.reset_stats();
}

void translation_engine::invalidate_all() {
    m_tlb.flush_all();
    m_walks.flush_all();
    m_config.cfgi_all();
}

// ------------------------------------------------------------------ entry points

translation_result translation_engine::translate(const translation_request& req,
                                                 const smmu_config_state& cfg, time_ps& now) {
    time_ps scratch = now;
    job j(cfg, req.debug ? scratch : now);
    j.address = req.address;
    j.sid = req.sid;
    j.ssid = req.ssid;
    j.access = req.access;
    j.debug = req.debug;
    j.memo = req.debug ? nullptr : req.memo;
    const time_ps start = now;

    translation_result r =
        req.kind == request_kind::translated ? run_translated(j) : run_translate(j);
    if (j.slot_held)
        end_job(j);
    r.cost = j.cost;
    if (!j.debug) {
        ++m_stats.translations;
        ++m_stats.responses[static_cast<std::size_t>(r.response)];
        m_stats.latency.record(now - start);
    }
    return r;
}

bool translation_engine::translate_cached(const translation_request& req,
                                          const smmu_config_state& cfg, time_ps& now,
                                          cached_translation& out) {
    const context_memo* m = req.memo;
    if (req.kind != request_kind::untranslated || req.debug || !cfg.smmuen ||
        !memo_holds(m, req.sid, req.ssid, cfg) || !(m->m_s1 || m->m_s2))
        return false;
    // As run_translate() would find it, without side effects so far...
    const arch::access_kind access = override_access(req.access, m->m_ste->ste, m_params.features);
    const std::uint64_t va = m->m_s1 ? canonical_va(m->m_cd->s1, req.address) : req.address;
    arch::iotlb::hit_ref where;
    const arch::tlb_entry* hit = m_tlb.peek(m->m_tlb_query, va, where);
    if (hit == nullptr)
        return false;
    const std::uint32_t perms = hit->perms & 0x3f3fu;
    if (!bits_allow(s1_bits(perms), access) || !bits_allow(s2_bits(perms), access))
        return false;
    // ... then with its effects: translate() with replay_context(), find_mapping() and
    // finish_translation().
    const time_ps start = now;
    repeat_config_hits(*m, now);
    now += m_tlb_lookup_time;
    m_tlb.count_hit(where);
    count_lookup(m_stats.iotlb, hit);
    ++m_stats.translations;
    ++m_stats.responses[static_cast<std::size_t>(translation_response::ok)];
    m_stats.latency.record(now - start);
    out.output_address = hit->output + (va - hit->input);
    out.size_log2 = hit->size_log2;
    out.permissions = combined_perms(perms);
    return true;
}

ats_result translation_engine::translate_ats(const ats_request& req, const smmu_config_state& cfg,
                                             time_ps& now) {
    job j(cfg, now);
    j.address = req.address;
    j.sid = req.sid;
    j.ssid = req.ssid;
    // Read is implied; without a PASID the request is data and unprivileged (§7.2).
    j.access = arch::access_kind{false, false, req.ssid.has_value() && req.priv};
    ats_result r = run_ats(j, req);
    if (j.slot_held)
        end_job(j);
    r.cost = j.cost;
    ++m_stats.ats_requests;
    ++m_stats.ats_completions[static_cast<std::size_t>(r.status)];
    return r;
}

// ------------------------------------------------------------------ untranslated traffic

translation_result translation_engine::run_translate(job& j) {
    const arch::feature_set& f = m_params.features;
    if (!j.cfg.smmuen) {
        // SMMU_GBPA: no structure is read, no event is recorded (IHI0070 §3.5).
        if (arch::gbpa::abort.get(j.cfg.gbpa) != 0 || exceeds(j.address, f.oas_bits))
            return abort_result(j, std::nullopt);
        return bypass_result(j);
    }
    if (!replay_context(j)) {
        const stop s = resolve_context(j);
        if (s != stop::none)
            return config_stop_result(j, s, false);
        remember_context(j);
    }
    if (!j.s1 && !j.s2) {
        // STE bypass: an input address beyond the OAS is a stage-1 Address size fault.
        if (exceeds(j.address, f.oas_bits)) {
            arch::walk_fault fault;
            fault.kind = arch::fault_kind::address_size;
            fault.input_address = j.address;
            fault.access = j.access;
            return fault_result(j, fault);
        }
        return bypass_result(j);
    }
    if (!find_mapping(j, true))
        return fault_result(j, *j.fault);
    if (!j.access_allowed())
        return fault_result(j, permission_fault(j));
    return finish_translation(j);
}

// ------------------------------------------------------------------ translated traffic (§7.3)

translation_result translation_engine::run_translated(job& j) {
    const arch::feature_set& f = m_params.features;
    // Without a PASID (IDR3.PASIDTT is not implemented) PnU = InD = SSV = 0.
    j.ssid.reset();
    j.access = arch::access_kind{j.access.write, false, false};
    const auto forbidden = [&] {
        count_fault(j, arch::event_id::f_transl_forbidden);
        return abort_result(j, arch::make_transl_forbidden(j.sid, j.address, !j.access.write));
    };
    if (!j.cfg.smmuen)
        return forbidden();
    if (!j.cfg.atschk) {
        // No STE lookup; an address beyond the OAS is aborted silently (IMPLEMENTATION DEFINED).
        if (exceeds(j.address, f.oas_bits))
            return abort_result(j, std::nullopt);
        return bypass_result(j);
    }
    const stop s = resolve_ste(j);
    if (s != stop::none)
        return config_stop_result(j, s, true);
    const arch::ste& ste = j.ste->ste;
    const arch::ste_eats eats = arch::effective_eats(ste, f, {j.cfg.atschk, j.cfg.e2h});
    if (ste.config == arch::ste_config::bypass || eats == arch::ste_eats::abort)
        return forbidden();
    if (eats == arch::ste_eats::full)
        return bypass_result(j);
    // Split-stage: the address is an IPA, translated by stage 2 (faults recorded normally).
    j.world = arch::stream_world::ns_el1;
    j.s1 = false;
    j.s2 = true;
    prepare_contexts(j);
    if (!find_mapping(j, true))
        return fault_result(j, *j.fault);
    if (!j.access_allowed())
        return fault_result(j, permission_fault(j));
    return finish_translation(j);
}

// ------------------------------------------------------------------ ATS (§7.2)

ats_result translation_engine::run_ats(job& j, const ats_request& req) {
    const arch::feature_set& f = m_params.features;
    ats_result r;
    const auto unsupported = [&](bool record) {
        r.status = ats_status::unsupported_request;
        if (record) {
            count_fault(j, arch::event_id::f_bad_ats_treq);
            const arch::ats_request_access asked{true, !req.no_write, req.exec, req.priv};
            emit(j, r.event, arch::make_bad_ats_treq(j.stream(), j.address, 0, asked));
        }
        return r;
    };
    // Configuration errors are CA, recorded only with CR2.REC_CFG_ATS.
    const auto completer_abort = [&](const std::optional<arch::event_record>& e) {
        r.status = ats_status::completer_abort;
        if (e) {
            count_fault(j, e->id);
            if (j.cfg.rec_cfg_ats && !(j.bad_stream_id && !j.cfg.recinvsid))
                emit(j, r.event, *e);
        }
        return r;
    };
    // F_TRANSLATION, F_ACCESS, F_ADDR_SIZE: a successful completion without access.
    const auto no_access = [&](const arch::walk_fault& fault) {
        if (fault.kind == arch::fault_kind::external_abort)
            return completer_abort(arch::fault_record(fault, j.stream()));
        count_fault(j, arch::fault_event(fault.kind));
        r.status = ats_status::success;
        r.translated_address = arch::align_down(j.address, 12);
        r.size_log2 = 12;
        return r;
    };

    if (!f.ats)
        return unsupported(false);
    if (!j.cfg.smmuen)
        return unsupported(true);
    stop s = resolve_ste(j);
    switch (s) {
    case stop::config_abort:
        return unsupported(false);
    case stop::ste_not_valid:
        count_fault(j, arch::event_id::c_bad_ste);
        return completer_abort(std::nullopt);
    case stop::config_error:
        return completer_abort(j.config_event);
    case stop::walk_fault:
    case stop::none:
        break;
    }
    const arch::ste& ste = j.ste->ste;
    const arch::ste_eats eats = arch::effective_eats(ste, f, {j.cfg.atschk, j.cfg.e2h});
    if (ste.config == arch::ste_config::bypass || eats == arch::ste_eats::abort)
        return unsupported(true);
    j.split = eats == arch::ste_eats::split;
    s = resolve_stages(j);
    if (s == stop::config_error)
        return completer_abort(j.config_event);
    if (s == stop::walk_fault)
        return no_access(*j.fault);
    if (!j.s1 && (!j.s2 || j.split)) {
        // S1DSS = bypass without a stage to translate (or the IPA is the input): identity.
        r.status = ats_status::success;
        r.translated_address = arch::align_down(j.address, 12);
        r.size_log2 = 12;
        r.read = true;
        r.write = true;
        r.global = !j.ssid.has_value();
        return r;
    }
    if (!find_mapping(j, !j.split))
        return no_access(*j.fault);
    return ats_from_mapping(j, req);
}

ats_result translation_engine::ats_from_mapping(job& j, const ats_request& req) {
    ats_result r;
    const bool pasid = j.ssid.has_value();
    const bool priv = pasid && req.priv;
    const arch::permission_set perms = combined_perms(j.perms);
    if (!perms.allows(j.access) && !j.debug)
        ++m_stats.faults[static_cast<std::size_t>(arch::event_id::f_permission)];
    r.status = ats_status::success;
    r.size_log2 = std::max(j.size_log2, 12u);
    r.translated_address = arch::align_down(j.output_base, r.size_log2);
    r.read = perms.allows(arch::access_kind{false, false, priv});
    // No HTTU: a writable page is writable-dirty, so W does not depend on NW (§7.2).
    r.write = perms.allows(arch::access_kind{true, false, priv});
    // Execute-only pages are not accessible through ATS.
    r.exec = pasid && req.exec && r.read && perms.allows(arch::access_kind{false, true, priv});
    r.priv = priv;
    r.global = !pasid && j.global;
    return r;
}

// ------------------------------------------------------------------ configuration

inline bool translation_engine::memo_holds(const context_memo* m, arch::stream_id sid,
                                           const std::optional<arch::substream_id>& ssid,
                                           const smmu_config_state& cfg) const {
    return m != nullptr && m->m_engine == this && m->m_generation == m_config.generation() &&
           m->m_sid == sid && m->m_ssid == ssid && m->m_e2h == cfg.e2h &&
           m->m_strtab_log2size == cfg.strtab.log2size;
}

inline std::uint32_t translation_engine::repeat_config_hits(const context_memo& m, time_ps& now) {
    // What resolve_context() does when both configuration-cache lookups hit.
    count_lookup(m_stats.ste_cache, &m_config.repeat_ste_hit(m.m_ste_at));
    std::uint32_t lookups = 1;
    if (m.m_cd != nullptr) {
        count_lookup(m_stats.cd_cache, &m_config.repeat_cd_hit(m.m_cd_at));
        ++lookups;
    }
    now += lookups * m_config_lookup_time;
    return lookups * m_params.config_lookup_cycles;
}

inline bool translation_engine::replay_context(job& j) {
    const context_memo* m = j.memo;
    if (!memo_holds(m, j.sid, j.ssid, j.cfg))
        return false;
    j.cost.lookup_cycles += repeat_config_hits(*m, j.now);
    j.ste = m->m_ste;
    j.cd = m->m_cd;
    j.access = override_access(j.access, j.ste->ste, m_params.features);
    j.world = m->m_world;
    j.s1 = m->m_s1;
    j.s2 = m->m_s2;
    j.tlb_ctx = m->m_tlb_ctx;
    j.tlb_query = m->m_tlb_query;
    return true;
}

void translation_engine::remember_context(const job& j) {
    // Only configuration-cache hits: a fetched STE or CD lives in the job, not the cache.
    if (j.memo == nullptr || j.ste_copy || j.cd_copy)
        return;
    context_memo& m = *j.memo;
    m.m_engine = this;
    m.m_generation = m_config.generation();
    m.m_sid = j.sid;
    m.m_ssid = j.ssid;
    m.m_e2h = j.cfg.e2h;
    m.m_strtab_log2size = j.cfg.strtab.log2size;
    m.m_ste = j.ste;
    m.m_cd = j.cd;
    m.m_ste_at = j.ste_ref;
    m.m_cd_at = j.cd_ref;
    m.m_world = j.world;
    m.m_s1 = j.s1;
    m.m_s2 = j.s2;
    m.m_tlb_ctx = j.tlb_ctx;
    m.m_tlb_query = j.tlb_query;
}

translation_engine::stop translation_engine::resolve_context(job& j) {
    const stop s = resolve_ste(j);
    if (s != stop::none)
        return s;
    j.access = override_access(j.access, j.ste->ste, m_params.features);
    return resolve_stages(j);
}

translation_engine::stop translation_engine::resolve_ste(job& j) {
    const arch::feature_set& f = m_params.features;
    const unsigned sid_bits = std::min(j.cfg.strtab.log2size, f.sid_bits);
    if (exceeds(j.sid, sid_bits)) {
        j.config_event = arch::make_bad_streamid(j.stream());
        j.bad_stream_id = true;
        return stop::config_error;
    }
    j.charge_lookup(m_params.config_lookup_cycles, m_config_lookup_time);
    const cached_ste* hit =
        j.debug ? m_config.peek_ste(j.sid) : m_config.lookup_ste(j.sid, j.ste_ref);
    if (!j.debug)
        count_lookup(m_stats.ste_cache, hit);
    if (hit != nullptr) {
        j.ste = hit;
    } else {
        cached_ste& fetched = j.ste_copy.emplace();
        j.ste = &fetched;
        const stop s = fetch_ste(j, fetched);
        if (s != stop::none)
            return s;
        if (!j.debug)
            m_config.insert_ste(j.sid, fetched);
    }
    if (!arch::config_allows_traffic(j.ste->ste.config))
        return stop::config_abort;
    return stop::none;
}

translation_engine::stop translation_engine::fetch_ste(job& j, cached_ste& out) {
    const arch::feature_set& f = m_params.features;
    const arch::stream_table_config table = table_config(j.cfg.strtab, f);
    const auto bad_stream_id = [&] {
        j.config_event = arch::make_bad_streamid(j.stream());
        j.bad_stream_id = true;
        return stop::config_error;
    };
    const auto fetch_abort = [&](phys_addr at) {
        j.config_event = arch::make_ste_fetch(j.stream(), at);
        return stop::config_error;
    };
    arch::ste_lookup where = arch::locate_ste(table, j.sid);
    if (where.status == arch::ste_lookup_status::bad_stream_id)
        return bad_stream_id();
    if (where.status == arch::ste_lookup_status::l1std) {
        unsigned char l1[8] = {};
        if (!j.debug)
            ++m_stats.l1std_fetches;
        if (!read_memory(j, where.address, l1, 8, mem_purpose::l1std))
            return fetch_abort(where.address);
        where = arch::locate_ste_in_l2(table, arch::decode_l1std(le64(l1)), where.l2_index);
        if (where.status != arch::ste_lookup_status::ste)
            return bad_stream_id();
    }
    unsigned char bytes[arch::k_ste_bytes] = {};
    if (!j.debug)
        ++m_stats.ste_fetches;
    if (!read_memory(j, where.address, bytes, arch::k_ste_bytes, mem_purpose::ste))
        return fetch_abort(where.address);
    out.ste = arch::decode_ste(words_of(bytes));
    if (!out.ste.v)
        return stop::ste_not_valid;
    if (arch::validate_ste(out.ste, f) != arch::ste_illegal_reason::none) {
        j.config_event = arch::make_bad_ste(j.stream());
        return stop::config_error;
    }
    out.s2 = arch::make_stage2_config(out.ste, f);
    return stop::none;
}

translation_engine::stop translation_engine::resolve_stages(job& j) {
    const arch::feature_set& f = m_params.features;
    const arch::ste& s = j.ste->ste;
    j.world = arch::ste_stream_world(s, f, {j.cfg.atschk, j.cfg.e2h});
    j.s2 = arch::config_stage2_enabled(s.config);
    j.s1 = false;
    const auto bad_substream = [&] {
        j.config_event = arch::make_bad_substreamid(j.sid, j.ssid.value_or(0));
        return stop::config_error;
    };
    const auto disabled = [&] {
        j.config_event = arch::make_stream_disabled(j.sid);
        return stop::config_error;
    };

    if (!arch::config_stage1_enabled(s.config)) {
        // A SubstreamID needs stage 1 (reference §3.3).
        if (j.ssid)
            return bad_substream();
        prepare_contexts(j);
        return stop::none;
    }
    const bool substreams = s.s1_cd_max != 0 && f.ssid_bits != 0;
    if (substreams && !j.ssid) {
        switch (s.s1_dss) {
        case arch::ste_s1dss::bypass:
            prepare_contexts(j);
            return stop::none;
        case arch::ste_s1dss::substream0:
            break; // CD 0
        case arch::ste_s1dss::terminate:
        case arch::ste_s1dss::reserved:
            return disabled();
        }
    }
    if (!substreams && j.ssid)
        return bad_substream();
    if (substreams && j.ssid && exceeds(*j.ssid, s.s1_cd_max))
        return bad_substream();
    if (substreams && j.ssid && *j.ssid == 0 && s.s1_dss == arch::ste_s1dss::substream0)
        return disabled();

    const arch::substream_id key = j.ssid.value_or(0);
    j.charge_lookup(m_params.config_lookup_cycles, m_config_lookup_time);
    const cached_cd* hit =
        j.debug ? m_config.peek_cd(j.sid, key) : m_config.lookup_cd(j.sid, key, j.cd_ref);
    if (!j.debug)
        count_lookup(m_stats.cd_cache, hit);
    if (hit != nullptr) {
        j.cd = hit;
    } else {
        j.own_config(); // before fetch_cd's memory reads
        cached_cd& fetched = j.cd_copy.emplace();
        j.cd = &fetched;
        const stop st = fetch_cd(j, fetched);
        if (st != stop::none)
            return st;
        if (!j.debug)
            m_config.insert_cd(j.sid, key, fetched);
    }
    j.s1 = true;
    prepare_contexts(j);
    return stop::none;
}

bool translation_engine::read_cd_structure(job& j, phys_addr address, void* dst, unsigned len,
                                           mem_purpose why, phys_addr& pa) {
    pa = address;
    if (j.s2) {
        // Nested: S1ContextPtr and L1CD.L2Ptr are IPAs (reference §4.5).
        s2_walk_context(j);
        walk_port port(*this, j);
        arch::walk_request w;
        w.input_address = address;
        w.access = arch::access_kind{false, false, true};
        w.s2 = &j.ste->s2;
        w.purpose = arch::walk_purpose::cd_fetch;
        w.oas_bits = m_params.features.oas_bits;
        w.observer = &port;
        w.resume = &port;
        begin_memory_phase(j);
        if (!j.debug)
            ++m_stats.cd_walks;
        const arch::walk_outcome o = arch::walk(w, port);
        if (!o.ok()) {
            // The record describes the transaction (InputAddr, PnU/InD/RnW); CLASS = CD and
            // the IPA field say that the CD access faulted (IHI0070 §7.3.12, reference §6.2).
            j.fault = *o.fault;
            j.fault->input_address = j.address;
            j.fault->access = j.access;
            return false;
        }
        pa = o.result.output_address;
    }
    return read_memory(j, pa, dst, len, why);
}

translation_engine::stop translation_engine::fetch_cd(job& j, cached_cd& out) {
    const arch::feature_set& f = m_params.features;
    const arch::ste& s = j.ste->ste;
    const arch::cd_table_config table = arch::make_cd_table_config(s, f);
    const auto bad_substream = [&] {
        j.config_event = arch::make_bad_substreamid(j.sid, j.ssid.value_or(0));
        return stop::config_error;
    };
    const auto fetch_failed = [&](phys_addr pa) {
        if (j.fault)
            return stop::walk_fault;
        j.config_event = arch::make_cd_fetch(j.stream(), pa);
        return stop::config_error;
    };
    arch::cd_lookup where = arch::locate_cd(table, j.ssid);
    if (where.status == arch::cd_lookup_status::bad_substream_id)
        return bad_substream();
    phys_addr pa = 0;
    if (where.status == arch::cd_lookup_status::l1cd) {
        unsigned char l1[8] = {};
        if (!j.debug)
            ++m_stats.l1cd_fetches;
        if (!read_cd_structure(j, where.address, l1, 8, mem_purpose::l1cd, pa))
            return fetch_failed(pa);
        where = arch::locate_cd_in_l2(table, arch::decode_l1cd(le64(l1)), where.l2_index);
        if (where.status != arch::cd_lookup_status::cd)
            return bad_substream();
    }
    unsigned char bytes[arch::k_cd_bytes] = {};
    if (!j.debug)
        ++m_stats.cd_fetches;
    if (!read_cd_structure(j, where.address, bytes, arch::k_cd_bytes, mem_purpose::cd, pa))
        return fetch_failed(pa);
    out.cd = arch::decode_cd(words_of(bytes));
    const auto check = arch::make_cd_check_context(s, f, {j.cfg.atschk, j.cfg.e2h});
    if (arch::validate_cd(out.cd, f, check) != arch::cd_illegal_reason::none) {
        j.config_event = arch::make_bad_cd(j.stream());
        return stop::config_error;
    }
    out.s1 = arch::make_stage1_config(out.cd, j.world, f, j.s2);
    if (!j.s2 && arch::ste_s2vmid_used(s, f))
        out.s1.vmid = s.s2_vmid; // a stage-1-only NS-EL1 stream is still VMID-tagged
    return stop::none;
}

inline void translation_engine::prepare_contexts(job& j) {
    const arch::tlb_regime regime = regime_of(j.world);
    arch::tlb_context& t = j.tlb_ctx;
    t.regime = regime;
    t.kind =
        j.s1 ? (j.s2 ? arch::tlb_kind::nested : arch::tlb_kind::stage1) : arch::tlb_kind::stage2;
    if (regime == arch::tlb_regime::ns_el1 && m_params.features.s2p)
        t.vmid = j.ste->ste.s2_vmid;
    else
        t.vmid.reset();
    t.asid = j.s1 ? j.cd->s1.asid : 0;
    j.tlb_query = arch::iotlb::query_for(t);
}

void translation_engine::walk_contexts(job& j) {
    const arch::tlb_context& t = j.tlb_ctx;
    j.s1_walk_ctx =
        arch::walk_context{t.regime, j.s2 ? arch::tlb_kind::nested : arch::tlb_kind::stage1, t.vmid,
                           t.asid, arch::granule::size_4k};
    s2_walk_context(j);
}

void translation_engine::s2_walk_context(job& j) {
    j.s2_walk_ctx = arch::walk_context{
        arch::tlb_regime::ns_el1, arch::tlb_kind::stage2,
        m_params.features.s2p ? std::optional<arch::vmid_t>{j.ste->ste.s2_vmid} : std::nullopt, 0,
        arch::granule::size_4k};
}

// ------------------------------------------------------------------ translation

inline bool translation_engine::find_mapping(job& j, bool fill_tlb) {
    j.lookup_address = j.s1 ? canonical_va(j.cd->s1, j.address) : j.address;
    j.charge_lookup(m_params.main_tlb_lookup_cycles, m_tlb_lookup_time);
    const arch::tlb_entry* hit = j.debug ? m_tlb.peek(j.tlb_query, j.lookup_address)
                                         : m_tlb.lookup(j.tlb_query, j.lookup_address);
    if (!j.debug)
        count_lookup(m_stats.iotlb, hit);
    if (hit == nullptr)
        return walk_mapping(j, fill_tlb);
    j.input_base = hit->input;
    j.output_base = hit->output;
    j.size_log2 = hit->size_log2;
    j.perms = hit->perms & 0x3f3fu;
    j.s1_level = static_cast<int>(hit->attrs & 0xfu) - 1;
    j.s2_level = static_cast<int>((hit->attrs >> 4) & 0xfu) - 1;
    j.global = hit->global;
    switch (hit->ctx.kind) {
    case arch::tlb_kind::nested:
        j.ipa_base = hit->ipa;
        break;
    case arch::tlb_kind::stage2:
        j.ipa_base = hit->input;
        break;
    case arch::tlb_kind::stage1:
        j.ipa_base = hit->output;
        break;
    }
    if (j.split) {
        // Split-stage ATS returns the IPA with the stage-1 permissions.
        j.output_base = j.ipa_base;
        j.perms = s1_bits(j.perms) | (arch::permission_set::all().pack() << 8);
    }
    return true;
}

bool translation_engine::walk_mapping(job& j, bool fill_tlb) {
    const arch::feature_set& f = m_params.features;
    j.own_config(); // the walker holds pointers to them across memory reads
    walk_contexts(j);
    begin_memory_phase(j);
    walk_port port(*this, j);
    arch::walk_request w;
    w.input_address = j.address;
    w.access = j.access;
    w.s1 = j.s1 ? &j.cd->s1 : nullptr;
    w.s2 = j.s2 ? &j.ste->s2 : nullptr;
    w.purpose = j.split ? arch::walk_purpose::stage1_ipa : arch::walk_purpose::transaction;
    w.bypass_ias_bits = f.ias_bits();
    w.oas_bits = f.oas_bits;
    w.observer = &port;
    w.resume = &port;
    // Permissions are checked here, so that translations denying the access are cached.
    w.check_permissions = false;
    if (!j.debug)
        ++m_stats.walks;
    const arch::walk_outcome o = arch::walk(w, port);
    if (!o.ok()) {
        j.fault = *o.fault;
        return false;
    }
    const arch::walk_result& r = o.result;
    j.input_base = r.input_base;
    j.output_base = r.output_base;
    j.size_log2 = r.size_log2;
    // The mapping is no larger than stage 1's, so its IPAs are contiguous and aligned alike.
    j.ipa_base = arch::align_down(r.ipa, r.size_log2);
    j.perms = pack_perms(r.s1_perms, r.s2_perms);
    j.s1_level = r.s1_level.value_or(3);
    j.s2_level = r.s2_level.value_or(3);
    j.global = r.tag.global;
    if (fill_tlb && !j.debug) {
        arch::tlb_entry e;
        e.ctx = j.tlb_ctx;
        e.global = r.tag.global;
        e.input = r.input_base;
        e.size_log2 = static_cast<std::uint8_t>(r.size_log2);
        e.level = static_cast<std::int8_t>(j.s1 ? j.s1_level : j.s2_level);
        e.ipa = j.ipa_base;
        e.output = r.output_base;
        e.perms = j.perms;
        e.attrs = pack_levels(j.s1_level, j.s2_level);
        m_tlb.insert(e);
    }
    return true;
}

arch::walk_fault translation_engine::permission_fault(const job& j) const {
    arch::walk_fault f;
    f.kind = arch::fault_kind::permission;
    f.cls = arch::fault_class::in;
    f.input_address = j.address;
    f.access = j.access;
    if (!bits_allow(s1_bits(j.perms), j.access)) {
        f.st = arch::stage::one;
        f.level = j.s1_level;
        return f;
    }
    f.st = arch::stage::two;
    f.level = j.s2_level;
    f.ipa = j.ipa_base + (j.lookup_address - j.input_base);
    return f;
}

// ------------------------------------------------------------------ results

inline translation_result translation_engine::finish_translation(job& j) {
    // Every member given, and the event copied from an empty optional rather than made
    // from std::nullopt: an optional's payload left uninitialised makes GCC clear the
    // whole 168-byte result first (rep stos), slower than all the rest of an IOTLB hit's
    // result (measured: 10 ns against 5 ns for this copy).
    return translation_result{
        translation_response::ok,
        j.output_base + (j.lookup_address - j.input_base),
        j.input_base,
        j.output_base,
        j.size_log2,
        combined_perms(j.perms),
        false,
        j.tlb_ctx,
        j.global,
        m_no_event,
        translation_cost{},
    };
}

translation_result translation_engine::bypass_result(job& j) {
    translation_result r;
    r.response = translation_response::ok;
    r.bypass = true;
    r.output_address = j.address;
    // The identity mapping of the whole output address space.
    const unsigned oas = m_params.features.oas_bits;
    r.size_log2 = exceeds(j.address, oas) ? 12u : oas;
    r.input_base = arch::align_down(j.address, r.size_log2);
    r.output_base = r.input_base;
    r.permissions = arch::permission_set::all();
    return r;
}

translation_result translation_engine::abort_result(job& j,
                                                    std::optional<arch::event_record> event) {
    translation_result r;
    r.response = translation_response::abort;
    if (event)
        emit(j, r.event, *event);
    return r;
}

translation_result translation_engine::config_stop_result(job& j, stop s, bool ats_traffic) {
    // Translated (ATS) traffic records configuration errors only with CR2.REC_CFG_ATS.
    const bool may_record = !ats_traffic || j.cfg.rec_cfg_ats;
    switch (s) {
    case stop::config_abort:
    case stop::none:
        return abort_result(j, std::nullopt);
    case stop::ste_not_valid:
        count_fault(j, arch::event_id::c_bad_ste);
        return abort_result(
            j, may_record ? std::optional<arch::event_record>(arch::make_bad_ste(j.stream()))
                          : std::nullopt);
    case stop::config_error: {
        count_fault(j, j.config_event->id);
        const bool record = may_record && !(j.bad_stream_id && !j.cfg.recinvsid);
        return abort_result(j, record ? j.config_event : std::nullopt);
    }
    case stop::walk_fault:
        break;
    }
    return fault_result(j, *j.fault);
}

translation_result translation_engine::fault_result(job& j, const arch::walk_fault& f) {
    count_fault(j, arch::fault_event(f.kind));
    // Fault configuration (reference §4.4): A/R/S of the CD for stage 1, STE.S2R/S2S with
    // an implicit A = 1 for stage 2. External aborts, and stage-1 faults of a stream
    // without a CD, always abort and record. Stalls are not modelled: S = 1 records and
    // aborts.
    bool terminate_raz = false;
    bool record = true;
    if (f.kind != arch::fault_kind::external_abort) {
        if (f.st == arch::stage::one && j.s1) {
            terminate_raz = !j.cd->cd.a && !j.cd->cd.s;
            record = j.cd->cd.r || j.cd->cd.s;
        } else if (f.st == arch::stage::two) {
            record = j.ste->ste.s2_r || j.ste->ste.s2_s;
        }
    }
    translation_result r;
    if (terminate_raz)
        r.response = translation_response::raz_wi;
    else if (f.kind == arch::fault_kind::permission && f.cls == arch::fault_class::in)
        r.response = translation_response::permission_denied;
    else
        r.response = translation_response::abort;
    if (record)
        emit(j, r.event, arch::fault_record(f, j.stream()));
    return r;
}

// ------------------------------------------------------------------ memory, time, statistics

bool translation_engine::read_memory(job& j, phys_addr pa, void* dst, unsigned len,
                                     mem_purpose why) {
    begin_memory_phase(j);
    const time_ps before = j.now;
    const bool ok = m_mem.read(pa, dst, len, why, j.now, j.debug);
    ++j.cost.memory_accesses;
    j.cost.memory_time += j.now - before;
    return ok;
}

void translation_engine::begin_memory_phase(job& j) {
    if (j.debug || j.slot_held)
        return;
    j.slot_held = true;
    j.slot_arrival = j.now;
    j.slot_start = m_walk_slots.start_time(j.now);
    j.cost.slot_wait = j.slot_start - j.now;
    j.now = j.slot_start;
}

void translation_engine::end_job(job& j) {
    const timing::grant g = m_walk_slots.acquire(j.slot_arrival, j.now - j.slot_start);
    if (g.wait != 0) {
        ++m_stats.walk_slot_waits;
        m_stats.walk_slot_stall = timing::saturating_add(m_stats.walk_slot_stall, g.wait);
    }
}

void translation_engine::count_fault(const job& j, arch::event_id id) {
    if (!j.debug)
        ++m_stats.faults[static_cast<std::size_t>(id)];
}

void translation_engine::emit(job& j, std::optional<arch::event_record>& slot,
                              const arch::event_record& e) {
    if (j.debug)
        return;
    slot = e;
    ++m_stats.events;
}

// ------------------------------------------------------------------ invalidation

std::uint64_t translation_engine::tlbi_probes(const arch::command& cmd) const {
    const std::uint64_t tlb_sets = sets_of(m_params.main_tlb);
    const std::uint64_t walk_sets = sets_of(m_params.walk_cache);
    if (!arch::is_tlbi_by_address(cmd.op))
        return tlb_sets + walk_sets;
    const arch::tlb_inv_scope scope = arch::tlbi_inv_scope(cmd, m_params.features.ds);
    if (scope.range.empty())
        return 0;
    // The probes arch::iotlb makes: one set per present size per aligned block.
    const std::uint64_t first = scope.range.start;
    const std::uint64_t last = scope.range.last();
    std::uint64_t probes = 0;
    for (std::uint64_t sizes = m_tlb.sizes_present(); sizes != 0; sizes &= sizes - 1) {
        const unsigned s = arch::size_tracker::lowest(sizes);
        probes += ((arch::align_down(last, s) - arch::align_down(first, s)) >> s) + 1;
        if (probes > tlb_sets) {
            probes = tlb_sets;
            break;
        }
    }
    if (!scope.leaf)
        probes += walk_sets;
    return probes;
}

invalidation_cost translation_engine::invalidate(const arch::command& cmd,
                                                 const smmu_config_state& cfg) {
    const arch::feature_set& f = m_params.features;
    invalidation_cost out;
    if (arch::is_tlbi(cmd.op)) {
        out.probes = tlbi_probes(cmd);
        out.effect =
            arch::apply_tlbi(cmd, arch::invalidation_context{f.s2p, cfg.e2h, f.ds}, m_tlb, m_walks);
        out.cycles = m_params.cmd_tlbi_cycles + m_params.cmd_tlbi_probe_cycles * out.probes;
    } else if (arch::is_cfgi(cmd.op)) {
        out.effect.config = arch::apply_cfgi(cmd, m_config);
        out.cycles = m_params.cmd_cfgi_cycles;
    } else {
        return out;
    }
    out.time = m_params.cycles(out.cycles);
    ++m_stats.invalidations;
    m_stats.entries_invalidated += out.effect.total();
    return out;
}

bool translation_engine::tlb_holds_asid(std::optional<arch::vmid_t> vmid, arch::asid_t asid) const {
    arch::iotlb probe = m_tlb;
    std::size_t n = probe.nh_asid(vmid, asid);
    if (!vmid)
        n += probe.el2_asid(asid);
    return n != 0;
}

bool translation_engine::tlb_holds_vmid(arch::vmid_t vmid) const {
    arch::iotlb probe = m_tlb;
    return probe.s12_vmall(vmid) != 0;
}

bool translation_engine::walk_cache_holds_asid(std::optional<arch::vmid_t> vmid,
                                               arch::asid_t asid) const {
    arch::walk_cache probe = m_walks;
    std::size_t n = probe.nh_asid(vmid, asid);
    if (!vmid)
        n += probe.el2_asid(asid);
    return n != 0;
}

bool translation_engine::walk_cache_holds_vmid(arch::vmid_t vmid) const {
    arch::walk_cache probe = m_walks;
    return probe.s12_vmall(vmid) != 0;
}

} // namespace smmu
