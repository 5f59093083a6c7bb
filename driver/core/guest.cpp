#include "driver/core/guest.h"

#include <algorithm>
#include <new>
#include <utility>

#include "driver/core/attach.h"
#include "driver/core/strtab.h"
#include "model/arch/stream_table.h"

namespace smmu::driver {

/// One device of the guest: its vSID, CD (in guest memory) and domain.
struct guest_driver::device {
    device(std::uint32_t v, bool a, std::uint64_t cd_ipa, inv_list list)
        : vsid(v)
        , ats(a)
        , cd(cd_ipa)
        , build(std::move(list)) {}

    std::uint32_t vsid;
    bool ats;
    std::uint64_t cd; ///< IPA of the device's only CD (S1CDMax = 0)
    inv_list build;   ///< the pre-allocated build list (§2.4)
    std::vector<arch::stream_id> sids{vsid};
    domain* dom = nullptr;
    bool ste_installed = false;
};

guest_driver::guest_driver(vsmmu_port& port, smmu_ref guest_caps, platform_ops& memory,
                           lock_factory& locks, rw_lock_factory& rw_locks, guest_options opts)
    : m_port(port)
    , m_caps(guest_caps)
    , m_memory(memory)
    , m_locks(locks)
    , m_rw_locks(rw_locks)
    , m_opts(opts)
    , m_lock(locks.make_lock())
    , m_slots(new std::atomic<domain*>[opts.max_domains]) {
    for (std::size_t i = 0; i < opts.max_domains; ++i)
        m_slots[i].store(nullptr, std::memory_order_relaxed);
    m_domains.resize(opts.max_domains);
}

guest_driver::~guest_driver() {
    for (auto& [vsid, dev] : m_devices)
        if (dev->cd != 0)
            m_memory.free_dma(dev->cd, arch::k_cd_bytes);
}

template <typename F>
op_result guest_driver::measure(F&& body) {
    op_result r;
    if (!m_lock) {
        r.status = op_status::no_memory;
        return r;
    }
    const std::uint64_t start = m_memory.now_ns();
    body(r);
    r.latency_ns = m_memory.now_ns() - start;
    return r;
}

guest_driver::device* guest_driver::find_device(std::uint32_t vsid) {
    const auto it = m_devices.find(vsid);
    return it == m_devices.end() ? nullptr : it->second.get();
}

domain* guest_driver::find_domain(domain_id id) const {
    if (id == 0 || id > m_opts.max_domains)
        return nullptr;
    return m_slots[id - 1].load(std::memory_order_acquire);
}

std::optional<std::uint32_t> guest_driver::domain_asid(domain_id id) const {
    const domain* d = find_domain(id);
    if (d == nullptr)
        return std::nullopt;
    const tag_result t = find_iotlb_tag(d->tag_view(), m_caps);
    return t.ok() ? std::optional<std::uint32_t>(t.tag.id) : std::nullopt;
}

op_result guest_driver::add_device(std::uint32_t vsid, bool ats) {
    return measure([&](op_result& r) {
        m_memory.charge(cpu_op::lock);
        lock_guard g(*m_lock);
        if (m_devices.count(vsid) != 0) {
            r.status = op_status::bad_input;
            return;
        }
        std::optional<inv_list> list = inv_list::create(build_list_capacity(ats, 1));
        const std::optional<std::uint64_t> cd =
            m_memory.alloc_dma(arch::k_cd_bytes, arch::k_cd_bytes);
        if (!list || !cd) {
            if (cd)
                m_memory.free_dma(*cd, arch::k_cd_bytes);
            r.status = op_status::no_memory;
            return;
        }
        try {
            m_devices.emplace(vsid, std::make_unique<device>(vsid, ats, *cd, std::move(*list)));
        } catch (const std::bad_alloc&) {
            m_memory.free_dma(*cd, arch::k_cd_bytes);
            r.status = op_status::no_memory;
        }
    });
}

op_result guest_driver::create_domain() {
    return measure([&](op_result& r) {
        domain_config c;
        c.kind = domain_kind::paging_s1;
        c.granule = m_opts.granule;
        c.ias = 48;
        c.oas = m_opts.ipa_bits;
        c.faults = m_opts.faults;
        c.guest_of = &m_port;
        std::unique_ptr<lock_ops> table_lock = m_locks.make_lock();
        if (!table_lock) {
            r.status = op_status::no_memory;
            return;
        }
        domain_create_result d = domain::create(c, m_memory, m_rw_locks, std::move(table_lock));
        if (!d.dom) {
            r.status = d.status;
            return;
        }
        m_memory.charge(cpu_op::lock);
        lock_guard g(*m_lock);
        const auto free_slot = std::find(m_domains.begin(), m_domains.end(), nullptr);
        if (free_slot == m_domains.end()) {
            r.status = op_status::busy;
            return;
        }
        const auto index = static_cast<std::size_t>(free_slot - m_domains.begin());
        m_slots[index].store(d.dom.get(), std::memory_order_release);
        *free_slot = std::move(d.dom);
        r.id = static_cast<domain_id>(index + 1);
    });
}

op_result guest_driver::destroy_domain(domain_id id) {
    return measure([&](op_result& r) {
        m_memory.charge(cpu_op::lock);
        lock_guard g(*m_lock);
        domain* d = find_domain(id);
        if (d == nullptr || !d->attachments().empty()) {
            r.status = d == nullptr ? op_status::bad_input : op_status::busy;
            return;
        }
        m_slots[id - 1].store(nullptr, std::memory_order_release);
        m_domains[id - 1].reset();
    });
}

op_result guest_driver::attach(domain_id id, std::uint32_t vsid) {
    return measure([&](op_result& r) {
        m_memory.charge(cpu_op::lock);
        lock_guard g(*m_lock);
        domain* d = find_domain(id);
        device* dev = find_device(vsid);
        r.status = d == nullptr || dev == nullptr ? op_status::bad_input : attach_locked(*dev, d);
    });
}

op_result guest_driver::detach(std::uint32_t vsid) {
    return measure([&](op_result& r) {
        m_memory.charge(cpu_op::lock);
        lock_guard g(*m_lock);
        device* dev = find_device(vsid);
        r.status = dev == nullptr ? op_status::bad_input : attach_locked(*dev, nullptr);
    });
}

op_result guest_driver::map(domain_id id, std::uint64_t iova, std::uint64_t ipa, std::uint64_t size,
                            const iommu_prot& prot) {
    return measure([&](op_result& r) {
        run_domain_io(r, find_domain(id), [&](domain& d) { return d.map(iova, ipa, size, prot); });
    });
}

op_result guest_driver::unmap(domain_id id, std::uint64_t iova, std::uint64_t size) {
    return measure([&](op_result& r) {
        run_domain_io(r, find_domain(id), [&](domain& d) { return d.unmap(iova, size); });
    });
}

// ---- attach ----------------------------------------------------------------------------------

op_status guest_driver::attach_locked(device& dev, domain* d) {
    domain* old = dev.dom;
    if (old == d)
        return op_status::ok;
    iotlb_tag tag;
    if (d != nullptr) {
        std::shared_ptr<inv_array> merged;
        const op_status st = prepare_new(dev, *d, tag, merged);
        if (st != op_status::ok)
            return st;
        // The new domain invalidates for the device before its CD can be used (§3.6).
        d->invs().publish(std::move(merged));
    }
    op_status hw = op_status::ok;
    const auto note = [&hw](op_status st) {
        if (hw == op_status::ok)
            hw = st;
    };
    if (d != nullptr) {
        note(write_cd(dev, arch::encode_cd(make_domain_cd(*d, tag.id))));
        if (!dev.ste_installed) {
            const op_status st = m_port.install_ste(dev.vsid, guest_ste(dev));
            dev.ste_installed = st == op_status::ok;
            note(st);
        } else if (dev.ats) {
            // The STE stays: the ATC may hold translations of the old CD.
            const arch::atc_inv_params all = arch::encode_atc_inv_range(0, 0);
            note(forward(arch::make_atc_inv(dev.vsid, all.address, all.size)));
        }
    } else {
        // The STE stops using the CD before the CD goes.
        arch::ste blocked;
        blocked.v = true;
        note(m_port.install_ste(dev.vsid, blocked));
        dev.ste_installed = false;
        note(write_cd(dev, arch::structure_words{}));
    }
    if (old != nullptr)
        release_old(dev, *old);
    dev.dom = d;
    return hw == op_status::ok ? op_status::ok : op_status::hw_error;
}

op_status guest_driver::prepare_new(device& dev, domain& d, iotlb_tag& tag,
                                    std::shared_ptr<inv_array>& merged) {
    const tag_result t = get_iotlb_tag(m_tags, d.tag_view(), m_caps);
    if (!t.ok())
        return to_op_status(t.error);
    tag = t.tag;
    const auto drop_fresh_tag = [&] {
        if (tag_is_fresh(tag))
            m_tags.free_asid(tag.id); // never installed: nothing to flush
    };
    const build_spec spec = build_spec_for(tag, dev.ats, 0, d.pgsize_shift());
    invs_error e = build_master_invs(dev.build, spec, dev.sids);
    merge_result m;
    if (e == invs_error::none) {
        m = invs_merge(*d.invs().load(), dev.build);
        e = m.error;
    }
    if (e != invs_error::none) {
        drop_fresh_tag();
        return to_op_status(e);
    }
    if (!d.add_attachment(&dev, 0)) {
        drop_fresh_tag();
        return op_status::no_memory;
    }
    merged = std::move(m.invs);
    return op_status::ok;
}

void guest_driver::release_old(device& dev, domain& old) {
    old.remove_attachment(&dev, 0);
    const tag_result t = find_iotlb_tag(old.tag_view(), m_caps);
    if (!t.ok())
        return;
    const build_spec spec = build_spec_for(t.tag, dev.ats, 0, old.pgsize_shift());
    if (build_master_invs(dev.build, spec, dev.sids) != invs_error::none)
        return;
    const std::shared_ptr<inv_array> current = old.invs().load();
    invs_unref(*current, dev.build, &m_memory);
    if (unref_dropped_tag(dev.build)) {
        // The last device left: the ASID leaves the IOTLB clean before reuse (§3.7);
        // an unclean one is never reused. skip_tag_flush: released unflushed.
        const arch::command flush = arch::make_tlbi_nh_asid(0, static_cast<arch::asid_t>(t.tag.id));
        if (m_opts.faults.skip_tag_flush || forward(flush) == op_status::ok)
            m_tags.free_asid(t.tag.id);
    }
    purge_result p = invs_purge(*current);
    if (p.status == purge_status::purged)
        old.invs().publish(std::move(p.invs));
}

op_status guest_driver::write_cd(device& dev, const arch::structure_words& cd) {
    const std::uint32_t vsid = dev.vsid;
    const entry_sync_fn sync = [this, vsid] {
        return forward(arch::make_cfgi_cd(vsid, 0, true)) == op_status::ok ? smmu_status::ok
                                                                           : smmu_status::bad_input;
    };
    return write_cd_entry(m_memory, dev.cd, cd, sync).status == smmu_status::ok
               ? op_status::ok
               : op_status::hw_error;
}

op_status guest_driver::forward(const arch::command& cmd) {
    const arch::command_words w = arch::encode(cmd);
    const vsmmu_invalidate_result r = m_port.invalidate(&w, 1);
    return r.ok() ? op_status::ok : op_status::hw_error;
}

arch::ste guest_driver::guest_ste(const device& dev) const {
    arch::ste s;
    s.v = true;
    s.config = arch::ste_config::s1_translate;
    s.s1_fmt = arch::cd_table_format::linear;
    s.s1_context_ptr = dev.cd;
    s.s1_cd_max = 0;
    s.s1_cir = arch::fetch_cacheability::wb_read_allocate;
    s.s1_cor = arch::fetch_cacheability::wb_read_allocate;
    s.s1_csh = arch::shareability_encoding::inner;
    s.eats = dev.ats ? arch::ste_eats::full : arch::ste_eats::abort;
    return s;
}

} // namespace smmu::driver
