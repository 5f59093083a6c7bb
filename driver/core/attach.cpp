#include "driver/core/attach.h"

#include <algorithm>
#include <new>
#include <utility>

#include "model/arch/command.h"

namespace smmu::driver {

namespace {

/// Accepts every command and sends none (fault_injection::skip_tag_flush).
class discarding_sink final : public command_sink {
public:
    bool add(smmu_ref, const arch::command&) override { return true; }
    bool sync(smmu_ref) override { return true; }
};

bool is_stage1(const domain* d) {
    return d != nullptr && !d->stage2();
}

bool stage_supported(const domain& d, const arch::feature_set& f) {
    return d.stage2() ? f.s2p : f.s1p;
}

/// The tag view of `d` as attached directly (v null) or through the vSMMU `v` (§5.2).
tag_domain tag_view_of(const domain& d, const vsmmu* v) {
    tag_domain t = d.tag_view();
    if (v != nullptr) {
        t.nested = true;
        t.vsmmu_vmid = v->vmid();
    }
    return t;
}

bool blocks(const arch::ste& guest) {
    return !guest.v || guest.config == arch::ste_config::abort;
}

} // namespace

// ---- smmu_instance -------------------------------------------------------------------------

smmu_instance::smmu_instance(smmu_device& device, std::uint32_t index)
    : m_device(device)
    , m_caps(caps_from_features(device.features(), device.config().e2h, index)) {
    m_caps.owner = &device.command_queue();
}

// ---- master --------------------------------------------------------------------------------

master::master(master_config cfg, smmu_instance& smmu, inv_list build)
    : m_cfg(std::move(cfg))
    , m_smmu(smmu)
    , m_build(std::move(build)) {}

master::~master() = default;

master_create_result master::create(master_config cfg, smmu_instance& smmu) {
    if (cfg.sids.empty())
        return {nullptr, op_status::bad_input};
    if (cfg.ssid_bits > smmu.features().ssid_bits)
        return {nullptr, op_status::unsupported};
    std::unique_ptr<master> m;
    try {
        std::vector<arch::stream_id> sids = cfg.sids;
        // Sorted StreamIDs make every build list sorted by construction (§2.4).
        std::sort(sids.begin(), sids.end());
        std::vector<arch::stream_id> unique = sids;
        unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
        std::optional<inv_list> build =
            inv_list::create(build_list_capacity(cfg.ats_capable, sids.size()));
        if (!build)
            return {nullptr, op_status::no_memory};
        m.reset(new master(std::move(cfg), smmu, std::move(*build)));
        m->m_sids = std::move(sids);
        m->m_unique_sids = std::move(unique);
    } catch (const std::bad_alloc&) {
        return {nullptr, op_status::no_memory};
    }
    for (const arch::stream_id sid : m->m_unique_sids) {
        const smmu_status st = smmu.strtab().ensure_ste(sid);
        if (st != smmu_status::ok)
            return {nullptr, to_op_status(st)};
    }
    return {std::move(m), op_status::ok};
}

bool master::ats_supported() const {
    return m_cfg.ats_capable && m_cfg.ats_wanted && m_smmu.caps().ats;
}

domain* master::pasid_domain(std::uint32_t pasid) const {
    const auto it = m_pasids.find(pasid);
    return it == m_pasids.end() ? nullptr : it->second;
}

// ---- attach state ----------------------------------------------------------------------------

/// One domain's side of an attach (linux-invs.md §2.5 arm_smmu_inv_state).
struct attach_engine::invs_side {
    domain* dom = nullptr;               ///< tracks invalidations; null = nothing to update
    std::shared_ptr<inv_array> old_invs; ///< the array the update starts from
    std::shared_ptr<inv_array> new_invs; ///< new side: the merged array to publish
    iotlb_tag tag;                       ///< the attachment's ASID / VMID
    bool tagged = false;                 ///< tag found / allocated and build list made
};

/// §2.5 arm_smmu_attach_state.
struct attach_engine::attach_state {
    explicit attach_state(master& dev)
        : m(dev) {}

    master& m;
    std::uint32_t ssid = 0;
    domain* old_domain = nullptr;
    domain* new_domain = nullptr;
    const vsmmu* old_vsmmu = nullptr; ///< the RID was attached through this vSMMU
    const vsmmu* new_vsmmu = nullptr; ///< the RID will be: new_domain is its parent
    arch::ste guest;                  ///< the guest STE, with new_vsmmu
    bool ats_enabled = false;         ///< ATS after the operation
    invs_side old_side;
    invs_side new_side;
    bool link_added = false;     ///< new_domain lists the master
    bool pasid_reserved = false; ///< the master's PASID map has the new slot
};

// ---- attach_engine ---------------------------------------------------------------------------

attach_engine::attach_engine(platform_ops& platform, lock_ops& asid_lock, tag_allocator& tags,
                             fault_injection faults)
    : m_platform(platform)
    , m_lock(asid_lock)
    , m_tags(tags)
    , m_faults(faults) {}

attach_stats attach_engine::stats() const {
    lock_guard g(m_lock);
    return m_stats;
}

op_status attach_engine::attach(master& m, domain* d) {
    m_platform.charge(cpu_op::lock);
    lock_guard g(m_lock);
    if (d == m.m_rid && m.m_vsmmu == nullptr)
        return op_status::ok;
    if (d != nullptr) {
        if (d->is_sva())
            return op_status::bad_input;
        if (!stage_supported(*d, m.smmu().features()))
            return op_status::unsupported;
        if (d->stage2() && !m.m_pasids.empty())
            return op_status::unsupported; // PASIDs need the STE to point at the CD table
    }
    attach_state s(m);
    s.old_domain = m.m_rid;
    s.old_vsmmu = m.m_vsmmu;
    s.new_domain = d;
    // With PASIDs bound the STE stays a CD-table STE, which keeps ATS (cd_needs_ats).
    s.ats_enabled = (d != nullptr || !m.m_pasids.empty()) && m.ats_supported();
    return attach_locked(s);
}

op_status attach_engine::attach_nested(master& m, const vsmmu& v, const arch::ste& guest) {
    m_platform.charge(cpu_op::lock);
    lock_guard g(m_lock);
    if (&v.smmu() != &m.smmu() || !v.acceptable(guest))
        return op_status::bad_input;
    if (!stage_supported(v.parent(), m.smmu().features()))
        return op_status::unsupported;
    if (!m.m_pasids.empty())
        return op_status::unsupported; // the guest owns the CD table
    const bool blocked = blocks(guest);
    const bool wants_ats = !blocked && guest.eats == arch::ste_eats::full;
    if (wants_ats && !m.ats_supported())
        return op_status::unsupported;
    if (blocked ? m.m_rid == nullptr : m.m_vsmmu == &v && m.m_vste == guest)
        return op_status::ok;
    attach_state s(m);
    s.old_domain = m.m_rid;
    s.old_vsmmu = m.m_vsmmu;
    if (!blocked) {
        s.new_domain = &v.parent();
        s.new_vsmmu = &v;
        s.guest = guest;
    }
    s.ats_enabled = wants_ats;
    return attach_locked(s);
}

op_status attach_engine::set_pasid(master& m, std::uint32_t pasid, domain& d) {
    m_platform.charge(cpu_op::lock);
    lock_guard g(m_lock);
    if (d.stage2())
        return op_status::bad_input;
    if (m.ssid_bits() == 0 || !m.smmu().features().s1p)
        return op_status::unsupported;
    if (pasid == 0 || (std::uint64_t{pasid} >> m.ssid_bits()) != 0)
        return op_status::bad_input;
    if (m.m_pasids.count(pasid) != 0)
        return op_status::busy;
    if (m.m_rid != nullptr && m.m_rid->stage2())
        return op_status::unsupported;
    attach_state s(m);
    s.ssid = pasid;
    s.new_domain = &d;
    // A blocked RID gets a CD-table STE now, and ATS with it.
    s.ats_enabled = m.m_rid != nullptr ? m.m_ats_enabled : m.ats_supported();
    return attach_locked(s);
}

op_status attach_engine::remove_pasid(master& m, std::uint32_t pasid) {
    m_platform.charge(cpu_op::lock);
    lock_guard g(m_lock);
    const auto it = m.m_pasids.find(pasid);
    if (pasid == 0 || it == m.m_pasids.end() || it->second == nullptr)
        return op_status::bad_input;
    attach_state s(m);
    s.ssid = pasid;
    s.old_domain = it->second;
    // The last PASID of a blocked master takes the STE back to abort, without ATS.
    const bool still_cd_table = m.m_rid != nullptr || m.m_pasids.size() > 1;
    s.ats_enabled = still_cd_table && m.m_ats_enabled;
    return attach_locked(s);
}

op_status attach_engine::set_ats(master& m, bool wanted) {
    m_platform.charge(cpu_op::lock);
    lock_guard g(m_lock);
    if (!m.ats_capable())
        return op_status::unsupported;
    if (!m.m_pasids.empty())
        return op_status::busy; // the PASIDs' ATS entries would have to change too
    m.m_cfg.ats_wanted = wanted;
    // Through a vSMMU, ATS also needs the guest STE's EATS.
    const bool ats =
        m.ats_supported() && (m.m_vsmmu == nullptr || m.m_vste.eats != arch::ste_eats::abort);
    if (m.m_rid == nullptr || ats == m.m_ats_enabled)
        return op_status::ok;
    attach_state s(m);
    s.old_domain = m.m_rid;
    s.new_domain = m.m_rid;
    s.old_vsmmu = s.new_vsmmu = m.m_vsmmu;
    s.guest = m.m_vste;
    s.ats_enabled = ats;
    return attach_locked(s);
}

op_status attach_engine::attach_locked(attach_state& s) {
    m_hw_status = smmu_status::ok;
    const op_status st = prepare(s);
    if (st != op_status::ok)
        return st;
    ++m_stats.attaches;

    // §3.6 step 4: the new domain invalidates for the master before the CD / STE
    // can use it (the writer's leading barrier pairs with the walker's fence, §3.8).
    if (s.new_side.dom != nullptr)
        s.new_side.dom->invs().publish(s.new_side.new_invs);

    if (s.m.m_ats_enabled && !s.ats_enabled) {
        // §3.6 step 5, reference §7.4: the endpoint stops using ATS, then its ATC
        // is emptied before EATS becomes 0.
        set_endpoint_ats(s.m, false);
        m_platform.barrier();
        m_platform.charge(cpu_op::barrier);
        atc_inv_master(s.m, std::nullopt);
    }
    write_hw(s);
    commit(s);
    return m_hw_status == smmu_status::ok ? op_status::ok : op_status::hw_error;
}

// ---- prepare ---------------------------------------------------------------------------------

op_status attach_engine::prepare(attach_state& s) {
    master& m = s.m;
    if (is_stage1(s.new_domain)) {
        if (!m.m_cds) {
            std::unique_ptr<cd_table> t;
            try {
                t = std::make_unique<cd_table>(m_platform, m.smmu().queue());
                t->set_stream_ids(m.unique_sids());
            } catch (const std::bad_alloc&) {
                return op_status::no_memory;
            }
            const smmu_status st = t->allocate(m.ssid_bits(), m.smmu().features());
            if (st != smmu_status::ok)
                return to_op_status(st);
            m.m_cds = std::move(t);
        }
        // The CD's level-2 table now, so the CD write after publication cannot fail for memory.
        const smmu_status st = m.m_cds->prepare_cd(s.ssid);
        if (st != smmu_status::ok)
            return to_op_status(st);
    }
    if (s.ssid != 0 && s.new_domain != nullptr) {
        try {
            m.m_pasids.emplace(s.ssid, nullptr);
        } catch (const std::bad_alloc&) {
            return op_status::no_memory;
        }
        s.pasid_reserved = true;
    }
    const op_status st = prepare_new_side(s);
    if (st != op_status::ok) {
        unwind(s);
        return st;
    }
    prepare_old_side(s);
    if (s.new_domain != nullptr) {
        if (!s.new_domain->add_attachment(&m, s.ssid)) {
            unwind(s);
            return op_status::no_memory;
        }
        s.link_added = true;
    }
    return op_status::ok;
}

op_status attach_engine::prepare_new_side(attach_state& s) {
    domain* d = s.new_domain;
    if (d == nullptr)
        return op_status::ok;
    invs_side& n = s.new_side;
    n.dom = d;
    const tag_result t = get_iotlb_tag(m_tags, tag_view_of(*d, s.new_vsmmu), s.m.smmu().ref());
    if (!t.ok())
        return to_op_status(t.error);
    n.tag = t.tag;
    n.tagged = true;

    build_spec spec = build_spec_for(n.tag, s.ats_enabled, s.ssid, d->pgsize_shift());
    spec.nesting = spec.nesting || d->nest_parent(); // §3.5 step 4 (merged baseline)
    const invs_error e = build_master_invs(s.m.m_build, spec, s.m.m_sids);
    if (e != invs_error::none)
        return to_op_status(e);
    n.old_invs = d->invs().load();
    merge_result r = invs_merge(*n.old_invs, s.m.m_build);
    if (!r.ok())
        return to_op_status(r.error);
    n.new_invs = std::move(r.invs);
    return op_status::ok;
}

void attach_engine::prepare_old_side(attach_state& s) {
    domain* d = s.old_domain;
    if (d == nullptr)
        return;
    invs_side& o = s.old_side;
    o.dom = d;
    // Re-attaching the same domain: the unref applies to the array just merged (§3.6).
    o.old_invs = d == s.new_domain ? s.new_side.new_invs : d->invs().load();
    const tag_result t = find_iotlb_tag(tag_view_of(*d, s.old_vsmmu), s.m.smmu().ref());
    if (!t.ok()) {
        ++m_stats.warnings; // an attached domain always carries its tag
        return;
    }
    o.tag = t.tag;
    // Built with the master's current ATS state; overwrites the list merge consumed.
    build_spec spec = build_spec_for(o.tag, s.m.m_ats_enabled, s.ssid, d->pgsize_shift());
    spec.nesting = spec.nesting || d->nest_parent();
    if (build_master_invs(s.m.m_build, spec, s.m.m_sids) != invs_error::none) {
        ++m_stats.warnings;
        return;
    }
    o.tagged = true;
}

void attach_engine::unwind(attach_state& s) {
    if (s.link_added)
        s.new_domain->remove_attachment(&s.m, s.ssid);
    if (s.pasid_reserved)
        s.m.m_pasids.erase(s.ssid);
    s.new_side.new_invs.reset(); // never published
    release_fresh_tag(s);
}

void attach_engine::release_fresh_tag(const attach_state& s) {
    const invs_side& n = s.new_side;
    if (!n.tagged || !tag_is_fresh(n.tag) || n.tag.type == inv_type::s2_vmid_vsmmu)
        return;
    // §5.2 prepare error path: iotlb_tag_free (flush, then release the number).
    cmdq_sink sink;
    const tag_error e = iotlb_tag_free(m_tags, sink, n.tag);
    if (e == tag_error::sink_failed)
        note(sink.status() != smmu_status::ok ? sink.status() : smmu_status::timeout);
    else if (e != tag_error::none)
        ++m_stats.warnings;
}

// ---- HW write --------------------------------------------------------------------------------

arch::cd make_domain_cd(const domain& d, std::uint32_t asid) {
    const s1_hw_config c = d.pgtable().s1_config().value_or(s1_hw_config{});
    arch::cd cd;
    cd.v = true;
    cd.t0sz = static_cast<std::uint8_t>(c.t0sz);
    cd.tg0 = c.tg0;
    cd.ir0 = c.ir0;
    cd.or0 = c.or0;
    cd.sh0 = c.sh0;
    cd.epd1 = c.epd1;
    cd.ips = c.ips;
    cd.aa64 = true;
    cd.r = true;
    cd.a = true;
    // An SVA ASID is the process's and takes part in broadcast TLBI; a paging
    // domain's ASID is the SMMU's own (reference §4.2 ASET).
    cd.aset = !d.is_sva();
    cd.asid = static_cast<arch::asid_t>(asid);
    cd.ttb0 = c.ttb0;
    cd.mair0 = static_cast<std::uint32_t>(c.mair);
    cd.mair1 = static_cast<std::uint32_t>(c.mair >> 32);
    return cd;
}

arch::ste attach_engine::target_ste(const attach_state& s) const {
    const master& m = s.m;
    const arch::feature_set& f = m.smmu().features();
    const domain* rid = s.ssid == 0 ? s.new_domain : m.m_rid;
    std::size_t pasids = m.m_pasids.size(); // includes a PASID being bound
    if (s.ssid != 0 && s.new_domain == nullptr)
        --pasids;
    if (s.ssid == 0 && s.new_vsmmu != nullptr)
        return s.new_vsmmu->physical_ste(s.guest, s.ats_enabled);
    const arch::ste_eats eats = s.ats_enabled ? arch::ste_eats::full : arch::ste_eats::abort;
    if (rid != nullptr && rid->stage2())
        return make_s2_ste(*rid, s.new_side.tag.id, f, eats);
    if ((rid == nullptr && pasids == 0) || !m.m_cds)
        return make_default_ste(true); // blocked: abort
    arch::ste t;
    t.v = true;
    t.config = arch::ste_config::s1_translate;
    m.m_cds->apply_to(t);
    // RID traffic uses CD 0 of a stage-1 RID domain; a blocked RID's is terminated.
    t.s1_dss = rid != nullptr ? arch::ste_s1dss::substream0 : arch::ste_s1dss::terminate;
    t.s1_cir = arch::fetch_cacheability::wb_read_allocate;
    t.s1_cor = arch::fetch_cacheability::wb_read_allocate;
    t.s1_csh = arch::shareability_encoding::inner;
    t.s1_stalld = f.stalls == arch::stall_model::stall_and_terminate; // our masters never stall
    t.eats = eats;
    t.strw = m.smmu().caps().e2h ? arch::ste_strw::el2 : arch::ste_strw::el1;
    return t;
}

void attach_engine::write_hw(attach_state& s) {
    master& m = s.m;
    const bool install_cd = is_stage1(s.new_domain);
    const bool clear_cd = !install_cd && is_stage1(s.old_domain);
    // A CD goes in before the STE that reaches it, and out after the STE stopped using it.
    if (install_cd)
        note(m.m_cds->write_cd(s.ssid, make_domain_cd(*s.new_domain, s.new_side.tag.id)).status);
    const arch::ste target = target_ste(s);
    for (const arch::stream_id sid : m.unique_sids())
        note(m.smmu().strtab().write_ste(sid, target).status);
    if (clear_cd && m.m_cds)
        note(m.m_cds->clear_cd(s.ssid).status);
}

// ---- commit ----------------------------------------------------------------------------------

void attach_engine::commit(attach_state& s) {
    master& m = s.m;
    const bool was = m.m_ats_enabled;
    const bool now = s.ats_enabled;
    if (!was && now) {
        // EATS is in the STE (CFGI + SYNC done): empty the ATC, then the endpoint may use ATS.
        atc_inv_master(m, std::nullopt);
        set_endpoint_ats(m, true);
    } else if (was && now) {
        atc_inv_master(m, s.ssid == 0 ? std::nullopt : std::optional<std::uint32_t>(s.ssid));
    }
    if (s.old_domain != nullptr)
        s.old_domain->remove_attachment(&m, s.ssid);
    install_old_invs(s);

    m.m_ats_enabled = now;
    if (s.ssid == 0) {
        m.m_rid = s.new_domain;
        m.m_vsmmu = s.new_vsmmu;
        m.m_vste = s.guest;
    } else if (s.new_domain != nullptr)
        m.m_pasids[s.ssid] = s.new_domain; // reserved in prepare: no allocation
    else
        m.m_pasids.erase(s.ssid);
}

void attach_engine::install_old_invs(attach_state& s) {
    invs_side& o = s.old_side;
    if (o.dom == nullptr || !o.tagged)
        return;
    // §3.6 commit 4 (after the CD / STE write): the old domain stops invalidating for the master.
    m_stats.warnings += invs_unref(*o.old_invs, s.m.m_build, &m_platform);
    if (unref_dropped_tag(s.m.m_build)) {
        // 4b: no live entry carries the tag any more, so it must leave the IOTLB clean.
        cmdq_sink sink;
        discarding_sink no_flush; // injected fault: the tag is released unflushed
        command_sink& flush = m_faults.skip_tag_flush ? static_cast<command_sink&>(no_flush) : sink;
        const tag_error e = iotlb_tag_free(m_tags, flush, o.tag);
        if (e == tag_error::none)
            ++m_stats.tag_frees;
        else if (e == tag_error::sink_failed)
            note(sink.status() != smmu_status::ok ? sink.status() : smmu_status::timeout);
        else
            ++m_stats.warnings;
    }
    purge_result p = invs_purge(*o.old_invs);
    if (p.status == purge_status::purged) {
        o.dom->invs().publish(std::move(p.invs));
        ++m_stats.purges;
    } else if (p.status == purge_status::inconsistent) {
        ++m_stats.warnings;
    }
}

// ---- helpers ---------------------------------------------------------------------------------

arch::ste make_s2_ste(const domain& d, std::uint32_t vmid, const arch::feature_set& f,
                      arch::ste_eats eats) {
    const s2_hw_config c = d.pgtable().s2_config().value_or(s2_hw_config{});
    arch::ste t;
    t.v = true;
    t.config = arch::ste_config::s2_translate;
    t.shcfg = f.attr_types_ovr ? arch::ste_shcfg::incoming : arch::ste_shcfg::non_shareable;
    t.eats = eats;
    t.s2_vmid = static_cast<arch::vmid_t>(vmid);
    t.s2_t0sz = static_cast<std::uint8_t>(c.s2t0sz);
    t.s2_sl0 = static_cast<std::uint8_t>(c.s2sl0);
    t.s2_ir0 = c.s2ir0;
    t.s2_or0 = c.s2or0;
    t.s2_sh0 = c.s2sh0;
    t.s2_tg = c.s2tg;
    t.s2_ps = c.s2ps;
    t.s2_aa64 = true;
    t.s2_ptw = true; // Linux always sets S2PTW and S2R (reference §3.2)
    t.s2_r = true;
    t.s2_ttb = c.s2ttb;
    return t;
}

void attach_engine::atc_inv_master(master& m, std::optional<std::uint32_t> ssid) {
    const arch::atc_inv_params all = arch::encode_atc_inv_range(0, 0);
    cmdq_batch batch(m.smmu().queue());
    for (const arch::stream_id sid : m.unique_sids()) {
        const arch::stream_ref r = ssid ? arch::stream_ref(sid, *ssid) : arch::stream_ref(sid);
        note(batch.add(arch::make_atc_inv(r, all.address, all.size)));
    }
    note(batch.sync());
}

void attach_engine::set_endpoint_ats(master& m, bool on) {
    m.m_endpoint_ats = on;
    if (m.m_cfg.set_endpoint_ats)
        m.m_cfg.set_endpoint_ats(on);
}

void attach_engine::note(smmu_status st) {
    if (st == smmu_status::ok)
        return;
    ++m_stats.hw_errors;
    if (m_hw_status == smmu_status::ok)
        m_hw_status = st;
}

} // namespace smmu::driver
