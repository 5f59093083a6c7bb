// IOTLB tags (linux-invs.md §5): ASID and VMID allocation, and the
// per-attachment tag of the share-domain design (§5.2): a tag lives from
// "installed into a CD/STE" to "removed", i.e. as long as some live invs entry
// carries it. Rule (§1, §3.7): a tag in no live invs entry is clean in the
// IOTLB, so whoever drops its last user flushes it before releasing it.
//
// None of this locks: the caller holds the driver's ASID lock (arm_smmu_asid_lock)
// for the whole time a tag from find/get lives on its stack (prepare -> HW write
// -> commit), and around every allocator call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

#include "driver/core/inv_range.h"
#include "driver/core/invs.h"

namespace smmu::driver {

enum class tag_error : std::uint8_t {
    none,
    not_found,      ///< find: no live entry of this domain carries a tag for the SMMU
    no_domain,      ///< the domain tracks no invalidations (identity / blocked)
    bad_input,      ///< null SMMU, non-tag type, nested without stage 2
    bad_vsmmu_vmid, ///< nested attach through a vSMMU whose VMID is 0
    exhausted,      ///< every ASID / VMID of the SMMU's width is taken
    no_memory,
    not_allocated, ///< freeing a number that is not allocated
    sink_failed,   ///< the flush could not be issued; the number was kept
};

const char* tag_error_name(tag_error e);

/// Lowest-free allocator of IDs in [0, 0xffff] (an IDA / allocating xarray).
/// No dynamic memory.
class id_allocator {
public:
    static constexpr std::uint32_t max_id = 0xffff;

    /// The lowest free ID in [first, last] (last clamped to max_id); nullopt when
    /// all are taken or the range is empty.
    std::optional<std::uint32_t> alloc(std::uint32_t first, std::uint32_t last);
    /// False if `id` was not allocated.
    bool free(std::uint32_t id);
    bool is_allocated(std::uint32_t id) const;
    std::size_t count() const { return m_count; }

private:
    static constexpr std::size_t words = (max_id + 1) / 64;
    std::array<std::uint64_t, words> m_bits{};
    std::size_t m_count = 0;
};

struct id_result {
    std::uint32_t id = 0;
    tag_error error = tag_error::none;
    bool ok() const { return error == tag_error::none; }
};

/// The driver-wide tag state: one global ASID space shared by all SMMUs and
/// one VMID space per SMMU (§5.1). IDs start at 1 (VMID 0 is reserved for
/// S1-only / bypass STEs; ASID 0 for the quiet SVA CD). Widths come from the
/// requesting SMMU: [1, 2^asid_bits - 1], [1, 2^vmid_bits - 1].
class tag_allocator {
public:
    /// `owner` (the domain) is recorded as the ASID's value.
    id_result alloc_asid(smmu_ref smmu, const void* owner);
    tag_error free_asid(std::uint32_t asid);
    /// The owner recorded at allocation; nullptr if `asid` is free.
    const void* asid_owner(std::uint32_t asid) const;
    bool asid_in_use(std::uint32_t asid) const { return m_asids.is_allocated(asid); }
    std::size_t asids_in_use() const { return m_asids.count(); }

    id_result alloc_vmid(smmu_ref smmu);
    tag_error free_vmid(smmu_ref smmu, std::uint32_t vmid);
    bool vmid_in_use(smmu_ref smmu, std::uint32_t vmid) const;
    std::size_t vmids_in_use(smmu_ref smmu) const;
    /// Forgets an SMMU's VMID space (the SMMU is going away).
    void remove_smmu(smmu_ref smmu) { m_vmids.erase(smmu); }

private:
    id_allocator m_asids;
    std::map<std::uint32_t, const void*> m_asid_owners;
    std::map<smmu_ref, id_allocator> m_vmids;
};

/// An IOTLB tag (an inv copy, §2.5): `users != 0` means it was found in a live
/// entry (existing), 0 means freshly allocated (or a vSMMU VMID).
struct iotlb_tag {
    smmu_ref smmu = nullptr;
    inv_type type = inv_type::s1_asid; ///< s1_asid, s2_vmid or s2_vmid_vsmmu
    std::uint32_t id = 0;
    int users = 0;
};

struct tag_result {
    iotlb_tag tag;
    tag_error error = tag_error::none;
    bool ok() const { return error == tag_error::none; }
};

/// What find/get need to know about the domain being attached to or detached from.
struct tag_domain {
    /// The tracking domain's array (to_smmu_domain_devices); null = none.
    const invs_slot* invs = nullptr;
    bool stage2 = false;          ///< S2 paging / nesting parent; false = S1 or SVA
    bool nested = false;          ///< attached as a NESTED domain through a vSMMU
    std::uint32_t vsmmu_vmid = 0; ///< the vSMMU's VMID when nested
    const void* owner = nullptr;  ///< recorded as a new ASID's owner
};

/// §5.2 find_iotlb_tag: the tag a live entry of the domain already carries for
/// `smmu` (users != 0), or for a nested domain the vSMMU's VMID (users 0,
/// never searched). Errors: bad_input, no_domain, bad_vsmmu_vmid, not_found.
tag_result find_iotlb_tag(const tag_domain& domain, smmu_ref smmu);

/// §5.2 get_iotlb_tag: find, else allocate (ASID from the global space, VMID from
/// the SMMU's space) with users 0. Errors: those of find except not_found,
/// exhausted, no_memory.
tag_result get_iotlb_tag(tag_allocator& tags, const tag_domain& domain, smmu_ref smmu);

/// The whole-tag flush (TLBI_NH_ASID / TLBI_EL2_ASID / TLBI_S12_VMALL) followed
/// by CMD_SYNC. False if the sink refused either.
bool flush_iotlb_tag(command_sink& sink, const iotlb_tag& tag);

/// §5.2 iotlb_tag_free: flush, then release the number (ASID, VMID; a vSMMU's
/// VMID is kept: the vSMMU frees it). If the flush fails the number is kept
/// (sink_failed): reusing an unclean tag would break the rule above.
tag_error iotlb_tag_free(tag_allocator& tags, command_sink& sink, const iotlb_tag& tag);

/// True for a tag get_iotlb_tag did not find in use: the prepare error path
/// must free it (§5.2).
inline bool tag_is_fresh(const iotlb_tag& tag) {
    return tag.users == 0;
}

/// After invs_unref(array, to_unref) on a list built from a tag (tag entry
/// first, §3.5): true when that unref dropped the tag's last user, so the
/// caller must flush (and with per-attachment tags free) it (§3.6 step 4b).
bool unref_dropped_tag(const inv_list& to_unref);

/// The build inputs for an attachment using `tag` (§5.2: nesting is decided by
/// the tag type, S2_VMID_VSMMU).
build_spec build_spec_for(const iotlb_tag& tag, bool ats_enabled, std::uint32_t ssid,
                          unsigned pgsize_shift);

} // namespace smmu::driver
