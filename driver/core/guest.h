// The SMMU driver of a guest OS running on a vSMMU (vsmmu.h), as the guest's
// own arm-smmu-v3 driver behaves towards its virtual SMMU: stage-1 paging
// domains whose page tables and CDs live in guest memory (IPA space: the
// `memory` platform_ops addresses IPAs), guest ASIDs from the guest's own
// space, the same invalidation arrays (S1_ASID + ATS entries naming vSIDs) and
// inv_range walker as the host, and every command the guest would write to
// its queue forwarded by the VMM (vsmmu_port) with the VMID and StreamIDs the
// host owns. A guest STE is written once per device (stage 1, linear CD table
// with one CD) and installed through the port; detach writes an abort STE.
//
// Scope: RID traffic (no guest PASIDs) and paging stage-1 domains; the guest
// has no event queue of its own (stage-1 faults reach the host's).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "driver/core/domain.h"
#include "driver/core/driver.h"
#include "driver/core/vsmmu.h"

namespace smmu::driver {

struct guest_options {
    arch::granule granule = arch::granule::size_4k;
    unsigned ipa_bits = 40; ///< the guest's physical address size (stage-1 OAS)
    std::size_t max_domains = 64;
    fault_injection faults{}; ///< broken guest-driver behaviour (checker tests)
};

class guest_driver {
public:
    /// `guest_caps` is what the guest sees of its SMMU (vsmmu::guest_ref());
    /// `memory` is guest memory: addresses are IPAs, alloc_dma returns IPAs.
    guest_driver(vsmmu_port& port, smmu_ref guest_caps, platform_ops& memory, lock_factory& locks,
                 rw_lock_factory& rw_locks, guest_options opts = {});
    ~guest_driver();
    guest_driver(const guest_driver&) = delete;
    guest_driver& operator=(const guest_driver&) = delete;

    /// A device at the guest StreamID `vsid`: its CD table (one CD) in guest
    /// memory. bad_input when the vSID is known, no_memory.
    op_result add_device(std::uint32_t vsid, bool ats);
    /// A stage-1 paging domain (id in the result). busy when the table is full.
    op_result create_domain();
    /// busy while attached.
    op_result destroy_domain(domain_id id);
    /// Attaches the domain to the device: the new domain's array first, then
    /// the CD (CFGI_CD), the guest STE on the first attach, the ATC, and the
    /// old domain's array (its ASID flushed with TLBI_NH_ASID and freed when
    /// its last device left).
    op_result attach(domain_id id, std::uint32_t vsid);
    /// Writes an abort guest STE, clears the CD and releases the domain.
    op_result detach(std::uint32_t vsid);
    /// Maps IOVA -> IPA in the domain's stage-1 table.
    op_result map(domain_id id, std::uint64_t iova, std::uint64_t ipa, std::uint64_t size,
                  const iommu_prot& prot);
    /// Unmaps and invalidates through the vSMMU (TLBI_NH_VA, ATC_INV).
    op_result unmap(domain_id id, std::uint64_t iova, std::uint64_t size);

    domain* find_domain(domain_id id) const;
    /// The guest ASID a domain's array holds live, if any.
    std::optional<std::uint32_t> domain_asid(domain_id id) const;
    tag_allocator& tags() { return m_tags; }

private:
    struct device;

    template <typename F>
    op_result measure(F&& body);
    device* find_device(std::uint32_t vsid);
    op_status attach_locked(device& dev, domain* d);
    op_status prepare_new(device& dev, domain& d, iotlb_tag& tag,
                          std::shared_ptr<inv_array>& merged);
    void release_old(device& dev, domain& old);
    op_status write_cd(device& dev, const arch::structure_words& cd);
    op_status forward(const arch::command& cmd);
    arch::ste guest_ste(const device& dev) const;

    vsmmu_port& m_port;
    smmu_ref m_caps;
    platform_ops& m_memory;
    lock_factory& m_locks;
    rw_lock_factory& m_rw_locks;
    guest_options m_opts;
    std::unique_ptr<lock_ops> m_lock; ///< the guest's attach mutex
    tag_allocator m_tags;
    /// Domains: created and destroyed under m_lock; found by map / unmap without it.
    std::unique_ptr<std::atomic<domain*>[]> m_slots;
    std::vector<std::unique_ptr<domain>> m_domains;
    std::map<std::uint32_t, std::unique_ptr<device>> m_devices;
};

} // namespace smmu::driver
