#include "driver/core/tags.h"

#include <new>

namespace smmu::driver {

const char* tag_error_name(tag_error e) {
    switch (e) {
    case tag_error::none:
        return "none";
    case tag_error::not_found:
        return "not_found";
    case tag_error::no_domain:
        return "no_domain";
    case tag_error::bad_input:
        return "bad_input";
    case tag_error::bad_vsmmu_vmid:
        return "bad_vsmmu_vmid";
    case tag_error::exhausted:
        return "exhausted";
    case tag_error::no_memory:
        return "no_memory";
    case tag_error::not_allocated:
        return "not_allocated";
    case tag_error::sink_failed:
        return "sink_failed";
    }
    return "unknown";
}

// ---- id_allocator --------------------------------------------------------------------------

std::optional<std::uint32_t> id_allocator::alloc(std::uint32_t first, std::uint32_t last) {
    if (last > max_id)
        last = max_id;
    for (std::uint32_t id = first; id <= last;) {
        const std::uint64_t word = m_bits[id / 64];
        if (word == ~std::uint64_t{0}) {
            id = (id / 64 + 1) * 64; // whole word taken
            continue;
        }
        if ((word & (std::uint64_t{1} << (id % 64))) == 0) {
            m_bits[id / 64] = word | (std::uint64_t{1} << (id % 64));
            ++m_count;
            return id;
        }
        ++id;
    }
    return std::nullopt;
}

bool id_allocator::free(std::uint32_t id) {
    if (!is_allocated(id))
        return false;
    m_bits[id / 64] &= ~(std::uint64_t{1} << (id % 64));
    --m_count;
    return true;
}

bool id_allocator::is_allocated(std::uint32_t id) const {
    if (id > max_id)
        return false;
    return (m_bits[id / 64] & (std::uint64_t{1} << (id % 64))) != 0;
}

// ---- tag_allocator -------------------------------------------------------------------------

namespace {

std::uint32_t max_for_bits(unsigned bits) {
    return bits >= 16 ? id_allocator::max_id : (std::uint32_t{1} << bits) - 1;
}

} // namespace

id_result tag_allocator::alloc_asid(smmu_ref smmu, const void* owner) {
    if (smmu == nullptr)
        return {0, tag_error::bad_input};
    const std::optional<std::uint32_t> id = m_asids.alloc(1, max_for_bits(smmu->asid_bits));
    if (!id)
        return {0, tag_error::exhausted};
    try {
        m_asid_owners[*id] = owner;
    } catch (const std::bad_alloc&) {
        m_asids.free(*id);
        return {0, tag_error::no_memory};
    }
    return {*id, tag_error::none};
}

tag_error tag_allocator::free_asid(std::uint32_t asid) {
    if (!m_asids.free(asid))
        return tag_error::not_allocated;
    m_asid_owners.erase(asid);
    return tag_error::none;
}

const void* tag_allocator::asid_owner(std::uint32_t asid) const {
    const auto it = m_asid_owners.find(asid);
    return it == m_asid_owners.end() ? nullptr : it->second;
}

id_result tag_allocator::alloc_vmid(smmu_ref smmu) {
    if (smmu == nullptr)
        return {0, tag_error::bad_input};
    id_allocator* space = nullptr;
    try {
        space = &m_vmids[smmu];
    } catch (const std::bad_alloc&) {
        return {0, tag_error::no_memory};
    }
    const std::optional<std::uint32_t> id = space->alloc(1, max_for_bits(smmu->vmid_bits));
    if (!id)
        return {0, tag_error::exhausted};
    return {*id, tag_error::none};
}

tag_error tag_allocator::free_vmid(smmu_ref smmu, std::uint32_t vmid) {
    const auto it = m_vmids.find(smmu);
    if (it == m_vmids.end() || !it->second.free(vmid))
        return tag_error::not_allocated;
    return tag_error::none;
}

bool tag_allocator::vmid_in_use(smmu_ref smmu, std::uint32_t vmid) const {
    const auto it = m_vmids.find(smmu);
    return it != m_vmids.end() && it->second.is_allocated(vmid);
}

std::size_t tag_allocator::vmids_in_use(smmu_ref smmu) const {
    const auto it = m_vmids.find(smmu);
    return it == m_vmids.end() ? 0 : it->second.count();
}

// ---- per-attachment tags -------------------------------------------------------------------

tag_result find_iotlb_tag(const tag_domain& domain, smmu_ref smmu) {
    tag_result r;
    if (smmu == nullptr || (domain.nested && !domain.stage2))
        return {r.tag, tag_error::bad_input};
    if (domain.invs == nullptr)
        return {r.tag, tag_error::no_domain};
    r.tag.smmu = smmu;
    if (domain.nested) {
        // The vSMMU owns its VMID; never searched (§5.2 review).
        if (domain.vsmmu_vmid == 0)
            return {r.tag, tag_error::bad_vsmmu_vmid};
        r.tag.type = inv_type::s2_vmid_vsmmu;
        r.tag.id = domain.vsmmu_vmid;
        return r;
    }
    r.tag.type = domain.stage2 ? inv_type::s2_vmid : inv_type::s1_asid;

    const std::shared_ptr<inv_array> invs = domain.invs->load();
    if (invs) {
        const std::size_t end = invs->num_invs();
        for (std::size_t i = invs->next_live(0, end); i < end; i = invs->next_live(i + 1, end)) {
            const inv& e = (*invs)[i];
            const int users = e.users.load();
            if (e.type == r.tag.type && e.smmu == smmu && users != 0) {
                r.tag.id = e.id;
                r.tag.users = users;
                return r;
            }
        }
    }
    r.error = tag_error::not_found;
    return r;
}

tag_result get_iotlb_tag(tag_allocator& tags, const tag_domain& domain, smmu_ref smmu) {
    tag_result r = find_iotlb_tag(domain, smmu);
    if (r.error != tag_error::not_found)
        return r;
    const id_result id = r.tag.type == inv_type::s1_asid ? tags.alloc_asid(smmu, domain.owner)
                                                         : tags.alloc_vmid(smmu);
    if (!id.ok())
        return {r.tag, id.error};
    r.tag.id = id.id;
    r.tag.users = 0;
    r.error = tag_error::none;
    return r;
}

bool flush_iotlb_tag(command_sink& sink, const iotlb_tag& tag) {
    if (tag.smmu == nullptr || !is_tag_type(tag.type))
        return false;
    const arch::command cmd = make_nsize_command(make_inv(tag.smmu, tag.type, tag.id));
    const bool added = sink.add(tag.smmu, cmd);
    const bool synced = sink.sync(tag.smmu);
    return added && synced;
}

tag_error iotlb_tag_free(tag_allocator& tags, command_sink& sink, const iotlb_tag& tag) {
    if (tag.smmu == nullptr || !is_tag_type(tag.type))
        return tag_error::bad_input;
    if (!flush_iotlb_tag(sink, tag))
        return tag_error::sink_failed;
    switch (tag.type) {
    case inv_type::s1_asid:
        return tags.free_asid(tag.id);
    case inv_type::s2_vmid:
        return tags.free_vmid(tag.smmu, tag.id);
    default:
        return tag_error::none; // S2_VMID_VSMMU: the vSMMU releases it on destroy
    }
}

bool unref_dropped_tag(const inv_list& to_unref) {
    return !to_unref.empty() && is_tag_type(to_unref[0].type) && to_unref[0].users.load() == 0;
}

build_spec build_spec_for(const iotlb_tag& tag, bool ats_enabled, std::uint32_t ssid,
                          unsigned pgsize_shift) {
    build_spec s;
    s.smmu = tag.smmu;
    s.tag_type = tag.type;
    s.tag_id = tag.id;
    s.nesting = tag.type == inv_type::s2_vmid_vsmmu;
    s.ats_enabled = ats_enabled;
    s.ssid = ssid;
    s.pgsize_shift = pgsize_shift;
    return s;
}

} // namespace smmu::driver
