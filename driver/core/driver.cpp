#include "driver/core/driver.h"

#include <algorithm>
#include <new>
#include <utility>

namespace smmu::driver {

namespace {

/// lock_guard that also charges the acquisition to the CPU.
class charged_lock {
public:
    charged_lock(platform_ops& platform, lock_ops& l)
        : m_lock(l) {
        platform.charge(cpu_op::lock);
        m_lock.lock();
    }
    ~charged_lock() { m_lock.unlock(); }
    charged_lock(const charged_lock&) = delete;
    charged_lock& operator=(const charged_lock&) = delete;

private:
    lock_ops& m_lock;
};

bool granule_supported(arch::granule g, const arch::feature_set& f) {
    switch (g) {
    case arch::granule::size_4k:
        return f.gran4k;
    case arch::granule::size_16k:
        return f.gran16k;
    case arch::granule::size_64k:
        return f.gran64k;
    }
    return false;
}

} // namespace

/// A vSMMU and the port its guest forwards through.
class smmu_driver::vsmmu_slot final : public vsmmu_port {
public:
    vsmmu_slot(smmu_driver& drv, vsmmu_id id, smmu_instance& smmu, domain& parent,
               std::uint32_t vmid)
        : m_drv(drv)
        , m_id(id)
        , v(smmu, parent, vmid) {}

    vsmmu_invalidate_result invalidate(const arch::command_words* cmds,
                                       std::size_t count) override {
        vsmmu_invalidate_result r;
        const op_result o = m_drv.vsmmu_invalidate(m_id, cmds, count, &r);
        r.issued = static_cast<std::size_t>(o.total_commands());
        return r;
    }

    op_status install_ste(std::uint32_t vsid, const arch::ste& guest) override {
        return m_drv.vsmmu_install_ste(m_id, vsid, guest).status;
    }

    smmu_driver& m_drv;
    vsmmu_id m_id;
    vsmmu v;
};

std::uint64_t op_result::count(arch::opcode op) const {
    const auto it = commands.find(op);
    return it == commands.end() ? 0 : it->second;
}

std::uint64_t op_result::total_commands() const {
    std::uint64_t n = 0;
    for (const auto& [op, c] : commands)
        n += c;
    return n;
}

smmu_driver::smmu_driver(platform_ops& platform, lock_factory& locks, rw_lock_factory& rw_locks,
                         driver_options opts)
    : m_platform(platform)
    , m_rw_locks(rw_locks)
    , m_locks(locks)
    , m_opts(std::move(opts))
    , m_cmdq_lock(locks.make_lock())
    , m_asid_lock(locks.make_lock())
    , m_registry_lock(locks.make_lock()) {
    if (m_cmdq_lock)
        m_device = std::make_unique<smmu_device>(platform, *m_cmdq_lock, m_opts.device);
}

// Masters and domains go first (members are destroyed in reverse order): their
// CD tables and page tables free memory through the device's platform.
smmu_driver::~smmu_driver() = default;

template <typename F>
op_result smmu_driver::measure(F&& body) {
    op_result r;
    if (!ready()) {
        r.status = op_status::not_ready;
        return r;
    }
    cmdq& q = m_device->command_queue();
    const cmdq_stats before = q.stats();
    const std::uint64_t start = m_platform.now_ns();
    body(r);
    r.latency_ns = m_platform.now_ns() - start;
    const cmdq_stats after = q.stats();
    for (std::size_t i = 0; i < after.commands_by_opcode.size(); ++i) {
        const std::uint64_t n = after.commands_by_opcode[i] - before.commands_by_opcode[i];
        if (n != 0)
            r.commands[static_cast<arch::opcode>(i)] = n;
    }
    return r;
}

op_result smmu_driver::bring_up() {
    op_result r;
    if (!m_device || !m_asid_lock || !m_registry_lock) {
        r.status = op_status::no_memory;
        return r;
    }
    if (ready())
        return r;
    const std::uint64_t start = m_platform.now_ns();
    const smmu_status st = m_device->bring_up();
    r.latency_ns = m_platform.now_ns() - start;
    const cmdq_stats after = m_device->command_queue().stats();
    for (std::size_t i = 0; i < after.commands_by_opcode.size(); ++i) {
        if (after.commands_by_opcode[i] != 0)
            r.commands[static_cast<arch::opcode>(i)] = after.commands_by_opcode[i];
    }
    if (st != smmu_status::ok) {
        r.status = to_op_status(st);
        return r;
    }
    try {
        m_domains.resize(m_opts.max_domains);
        m_domain_slots = std::make_unique<std::atomic<domain*>[]>(m_opts.max_domains);
        m_attach = std::make_unique<attach_engine>(m_platform, *m_asid_lock, m_tags, m_opts.faults);
        m_instance = std::make_unique<smmu_instance>(*m_device, m_opts.smmu_index);
    } catch (const std::bad_alloc&) {
        m_attach.reset();
        r.status = op_status::no_memory;
    }
    return r;
}

op_status smmu_driver::check_kind(domain_kind kind, arch::granule granule) const {
    const arch::feature_set& f = m_device->features();
    const bool stage_ok = stage_of(kind) == arch::stage::one ? f.s1p : f.s2p;
    return stage_ok && granule_supported(granule, f) ? op_status::ok : op_status::unsupported;
}

domain_config smmu_driver::config_for(domain_kind kind, arch::granule granule) const {
    const arch::feature_set& f = m_device->features();
    // io-pgtable outputs 52 bits with 64 KB pages only.
    const unsigned max_bits = granule == arch::granule::size_64k ? 52u : 48u;
    domain_config c;
    c.kind = kind;
    c.granule = granule;
    c.oas = std::min(f.oas_bits, max_bits);
    c.ias = stage_of(kind) == arch::stage::one ? 48u : std::min(f.ias_bits(), max_bits);
    c.coherent_walk = f.cohacc;
    c.faults = m_opts.faults;
    return c;
}

op_result smmu_driver::create_domain(domain_kind kind) {
    return create_domain(kind, m_opts.granule);
}

op_result smmu_driver::create_domain(domain_kind kind, arch::granule granule) {
    return measure([&](op_result& r) {
        r.status = check_kind(kind, granule);
        if (r.status != op_status::ok)
            return;
        std::unique_ptr<lock_ops> table_lock = m_locks.make_lock();
        if (!table_lock) {
            r.status = op_status::no_memory;
            return;
        }
        domain_create_result c = domain::create(config_for(kind, granule), m_platform, m_rw_locks,
                                                std::move(table_lock));
        if (!c.dom) {
            r.status = c.status;
            return;
        }
        const charged_lock g(m_platform, *m_registry_lock);
        const auto free_slot = std::find(m_domains.begin(), m_domains.end(), nullptr);
        if (free_slot == m_domains.end()) {
            r.status = op_status::busy;
            return;
        }
        const auto index = static_cast<std::size_t>(free_slot - m_domains.begin());
        m_domain_slots[index].store(c.dom.get(), std::memory_order_release);
        *free_slot = std::move(c.dom);
        r.id = static_cast<domain_id>(index + 1);
    });
}

op_result smmu_driver::destroy_domain(domain_id id) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        domain* d = find_domain(id);
        if (d == nullptr) {
            r.status = op_status::bad_input;
            return;
        }
        for (const auto& [vid, slot] : m_vsmmus) {
            if (&slot->v.parent() == d) {
                r.status = op_status::busy;
                return;
            }
        }
        {
            const charged_lock a(m_platform, *m_asid_lock);
            if (!d->attachments().empty()) {
                r.status = op_status::busy;
                return;
            }
        }
        // An SVA domain flushes before it goes (§3.7); its array is normally empty by now.
        if (d->is_sva() && !d->flush_all().ok)
            r.status = op_status::hw_error;
        m_domain_slots[id - 1].store(nullptr, std::memory_order_release);
        m_domains[id - 1].reset();
    });
}

op_result smmu_driver::add_master(master_config cfg) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        for (const arch::stream_id sid : cfg.sids) {
            if (m_by_sid.count(sid) != 0) {
                r.status = op_status::bad_input;
                return;
            }
        }
        master_create_result c = master::create(std::move(cfg), *m_instance);
        if (!c.dev) {
            r.status = c.status;
            return;
        }
        try {
            for (const arch::stream_id sid : c.dev->unique_sids())
                m_by_sid[sid] = c.dev.get();
            r.id = c.dev->sids().front();
            m_masters.push_back(std::move(c.dev));
        } catch (const std::bad_alloc&) {
            for (const arch::stream_id sid : c.dev->unique_sids())
                m_by_sid.erase(sid);
            r.status = op_status::no_memory;
        }
    });
}

op_result smmu_driver::remove_master(arch::stream_id sid) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        const auto it = m_by_sid.find(sid);
        if (it == m_by_sid.end()) {
            r.status = op_status::bad_input;
            return;
        }
        master* m = it->second;
        for (const auto& [vid, slot] : m_vsmmus) {
            if (slot->v.vsid_of(*m)) {
                r.status = op_status::busy; // a vdevice still names it
                return;
            }
        }
        {
            const charged_lock a(m_platform, *m_asid_lock);
            if (m->rid_domain() != nullptr || m->pasid_count() != 0) {
                r.status = op_status::busy;
                return;
            }
        }
        for (const arch::stream_id s : m->unique_sids())
            m_by_sid.erase(s);
        m_masters.erase(
            std::find_if(m_masters.begin(), m_masters.end(),
                         [m](const std::unique_ptr<master>& p) { return p.get() == m; }));
    });
}

std::optional<inv> smmu_driver::domain_tag(domain_id id) const {
    const domain* d = find_domain(id);
    if (d == nullptr)
        return std::nullopt;
    const std::shared_ptr<inv_array> array = d->invs().load();
    for (std::size_t i = 0; array && i < array->num_invs(); ++i) {
        const inv& e = (*array)[i];
        if (e.users.load() != 0 && (e.type == inv_type::s1_asid || e.type == inv_type::s2_vmid))
            return e;
    }
    return std::nullopt;
}

domain* smmu_driver::find_domain(domain_id id) const {
    if (!m_domain_slots || id == 0 || id > m_opts.max_domains)
        return nullptr;
    return m_domain_slots[id - 1].load(std::memory_order_acquire);
}

master* smmu_driver::find_master(arch::stream_id sid) {
    if (!ready())
        return nullptr;
    const charged_lock g(m_platform, *m_registry_lock);
    const auto it = m_by_sid.find(sid);
    return it == m_by_sid.end() ? nullptr : it->second;
}

op_result smmu_driver::attach(domain_id id, arch::stream_id sid, std::uint32_t pasid) {
    return measure([&](op_result& r) {
        domain* d = find_domain(id);
        master* m = find_master(sid);
        if (d == nullptr || m == nullptr) {
            r.status = op_status::bad_input;
            return;
        }
        r.status = pasid == 0 ? m_attach->attach(*m, d) : m_attach->set_pasid(*m, pasid, *d);
    });
}

op_result smmu_driver::detach(arch::stream_id sid, std::uint32_t pasid) {
    return measure([&](op_result& r) {
        master* m = find_master(sid);
        if (m == nullptr) {
            r.status = op_status::bad_input;
            return;
        }
        r.status = pasid == 0 ? m_attach->detach(*m) : m_attach->remove_pasid(*m, pasid);
    });
}

op_result smmu_driver::bind_sva(arch::stream_id sid, std::uint32_t pasid, domain_id id) {
    return measure([&](op_result& r) {
        domain* d = find_domain(id);
        master* m = find_master(sid);
        if (d == nullptr || m == nullptr || !d->is_sva()) {
            r.status = op_status::bad_input;
            return;
        }
        r.status = m_attach->set_pasid(*m, pasid, *d);
    });
}

op_result smmu_driver::enable_ats(arch::stream_id sid) {
    return measure([&](op_result& r) {
        master* m = find_master(sid);
        r.status = m == nullptr ? op_status::bad_input : m_attach->set_ats(*m, true);
    });
}

op_result smmu_driver::disable_ats(arch::stream_id sid) {
    return measure([&](op_result& r) {
        master* m = find_master(sid);
        r.status = m == nullptr ? op_status::bad_input : m_attach->set_ats(*m, false);
    });
}

op_result smmu_driver::map(domain_id id, std::uint64_t iova, arch::phys_addr pa, std::uint64_t size,
                           const iommu_prot& prot) {
    return measure([&](op_result& r) {
        run_domain_io(r, find_domain(id), [&](domain& d) { return d.map(iova, pa, size, prot); });
    });
}

op_result smmu_driver::unmap(domain_id id, std::uint64_t iova, std::uint64_t size) {
    return measure([&](op_result& r) {
        run_domain_io(r, find_domain(id), [&](domain& d) { return d.unmap(iova, size); });
    });
}

op_result smmu_driver::flush_domain(domain_id id) {
    return measure([&](op_result& r) {
        domain* d = find_domain(id);
        if (d == nullptr) {
            r.status = op_status::bad_input;
            return;
        }
        if (!d->flush_all().ok)
            r.status = op_status::hw_error;
    });
}

// ---- virtual SMMUs ---------------------------------------------------------------------------

op_result smmu_driver::create_vsmmu(domain_id parent) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        domain* d = find_domain(parent);
        if (d == nullptr || !d->nest_parent()) {
            r.status = op_status::bad_input;
            return;
        }
        id_result vmid;
        {
            const charged_lock a(m_platform, *m_asid_lock);
            vmid = m_tags.alloc_vmid(m_instance->ref());
        }
        if (!vmid.ok()) {
            r.status = to_op_status(vmid.error);
            return;
        }
        const vsmmu_id id = m_next_vsmmu++;
        try {
            m_vsmmus.emplace(id, std::make_unique<vsmmu_slot>(*this, id, *m_instance, *d, vmid.id));
        } catch (const std::bad_alloc&) {
            const charged_lock a(m_platform, *m_asid_lock);
            m_tags.free_vmid(m_instance->ref(), vmid.id);
            r.status = op_status::no_memory;
            return;
        }
        r.id = id;
    });
}

op_result smmu_driver::destroy_vsmmu(vsmmu_id id) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        const auto it = m_vsmmus.find(id);
        if (it == m_vsmmus.end()) {
            r.status = op_status::bad_input;
            return;
        }
        const vsmmu& v = it->second->v;
        const charged_lock a(m_platform, *m_asid_lock);
        for (const auto& m : m_masters) {
            if (m->nested_vsmmu() == &v) {
                r.status = op_status::busy;
                return;
            }
        }
        // The guest's entries may outlive its last detach's flush (a guest TLBI
        // never reaches the IOTLB once the STE is gone): the VMID leaves clean.
        iotlb_tag tag;
        tag.smmu = m_instance->ref();
        tag.type = inv_type::s2_vmid;
        tag.id = v.vmid();
        cmdq_sink sink;
        if (!flush_iotlb_tag(sink, tag)) {
            r.status = op_status::hw_error; // the VMID is kept: it may be unclean
            return;
        }
        m_tags.free_vmid(m_instance->ref(), v.vmid());
        m_vsmmus.erase(it);
    });
}

op_result smmu_driver::vsmmu_add_device(vsmmu_id id, std::uint32_t vsid, arch::stream_id sid) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        const auto it = m_vsmmus.find(id);
        const auto m = m_by_sid.find(sid);
        if (it == m_vsmmus.end() || m == m_by_sid.end()) {
            r.status = op_status::bad_input;
            return;
        }
        try {
            if (!it->second->v.add_device(vsid, *m->second))
                r.status = op_status::bad_input;
        } catch (const std::bad_alloc&) {
            r.status = op_status::no_memory;
        }
    });
}

op_result smmu_driver::vsmmu_remove_device(vsmmu_id id, std::uint32_t vsid) {
    return measure([&](op_result& r) {
        const charged_lock g(m_platform, *m_registry_lock);
        const auto it = m_vsmmus.find(id);
        const master* m = it == m_vsmmus.end() ? nullptr : it->second->v.device(vsid);
        if (m == nullptr) {
            r.status = op_status::bad_input;
            return;
        }
        const charged_lock a(m_platform, *m_asid_lock);
        if (m->nested_vsmmu() == &it->second->v) {
            r.status = op_status::busy;
            return;
        }
        it->second->v.remove_device(vsid);
    });
}

op_result smmu_driver::vsmmu_install_ste(vsmmu_id id, std::uint32_t vsid, const arch::ste& guest) {
    return measure([&](op_result& r) {
        const vsmmu* v = nullptr;
        master* m = nullptr;
        {
            const charged_lock g(m_platform, *m_registry_lock);
            const auto it = m_vsmmus.find(id);
            if (it != m_vsmmus.end()) {
                v = &it->second->v;
                m = v->device(vsid);
            }
        }
        r.status = m == nullptr ? op_status::bad_input : m_attach->attach_nested(*m, *v, guest);
    });
}

op_result smmu_driver::vsmmu_invalidate(vsmmu_id id, const arch::command_words* cmds,
                                        std::size_t count, vsmmu_invalidate_result* detail) {
    vsmmu_invalidate_result t;
    const op_result result = measure([&](op_result& r) {
        std::vector<arch::command> physical;
        {
            const charged_lock g(m_platform, *m_registry_lock);
            const auto it = m_vsmmus.find(id);
            if (it == m_vsmmus.end()) {
                r.status = op_status::bad_input;
                return;
            }
            try {
                physical.reserve(count);
                t = it->second->v.translate(cmds, count, physical);
            } catch (const std::bad_alloc&) {
                r.status = op_status::no_memory;
                return;
            }
        }
        r.id = static_cast<std::uint32_t>(t.consumed);
        if (!t.ok())
            r.status = op_status::bad_input;
        // What was translated before a refused command is still issued (as iommufd does).
        if (!physical.empty() || t.ok()) {
            const smmu_status st =
                m_device->command_queue().issue(physical.data(), physical.size(), true);
            if (st != smmu_status::ok) {
                r.status = op_status::hw_error;
                t.error = vsmmu_error::queue_failed;
            }
        }
    });
    if (detail != nullptr)
        *detail = t;
    return result;
}

vsmmu_port* smmu_driver::guest_port(vsmmu_id id) {
    if (!ready())
        return nullptr;
    const charged_lock g(m_platform, *m_registry_lock);
    const auto it = m_vsmmus.find(id);
    return it == m_vsmmus.end() ? nullptr : it->second.get();
}

const vsmmu* smmu_driver::find_vsmmu(vsmmu_id id) const {
    if (!ready())
        return nullptr;
    const charged_lock g(m_platform, *m_registry_lock);
    const auto it = m_vsmmus.find(id);
    return it == m_vsmmus.end() ? nullptr : &it->second->v;
}

} // namespace smmu::driver
