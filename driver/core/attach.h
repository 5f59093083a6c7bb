// Masters (devices with StreamIDs) and the attach / detach path of
// linux-invs.md §3.6: prepare (tag, per-master list, merge: may fail, nothing
// changed), publish the new domain's array, write the CD / STE, commit (ATS,
// unref of the old domain's array, flush and free of a tag whose last user
// left, purge). ATS enable / disable follow reference §7.4.
//
// Every operation runs under the driver's ASID / attach mutex, which also
// serialises all writers of the invs arrays and the tag allocator (§3.8, §5.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "driver/core/domain.h"
#include "driver/core/invs.h"
#include "driver/core/platform.h"
#include "driver/core/smmu_device.h"
#include "driver/core/strtab.h"
#include "driver/core/tags.h"
#include "driver/core/vsmmu.h"
#include "model/arch/cd.h"
#include "model/arch/ste.h"

namespace smmu::driver {

/// One brought-up SMMU as the attach path and the invs entries see it. Its
/// caps are the SMMU identity invs entries carry (§2.2); their `owner` is the
/// SMMU's command queue, which is what cmdq_sink needs.
class smmu_instance {
public:
    /// `device` must be probed (its features decide the caps) and outlive this.
    explicit smmu_instance(smmu_device& device, std::uint32_t index = 0);
    smmu_instance(const smmu_instance&) = delete;
    smmu_instance& operator=(const smmu_instance&) = delete;

    smmu_ref ref() const { return &m_caps; }
    const smmu_caps& caps() const { return m_caps; }
    smmu_device& device() { return m_device; }
    const arch::feature_set& features() const { return m_device.features(); }
    cmdq& queue() { return m_device.command_queue(); }
    stream_table& strtab() { return m_device.strtab(); }

private:
    smmu_device& m_device;
    smmu_caps m_caps;
};

struct master_config {
    std::vector<arch::stream_id> sids; ///< any order; duplicates (aliases) allowed
    bool ats_capable = false;          ///< the endpoint has the PCIe ATS capability
    /// Policy: use ATS whenever the master is attached (enable_ats / disable_ats).
    bool ats_wanted = true;
    unsigned ssid_bits = 0; ///< PASID width; 0 = no PASIDs (a single CD)
    /// Sets the endpoint's ATS Enable bit (PCIe ATS control). Optional.
    std::function<void(bool)> set_endpoint_ats;
};

class master;

struct master_create_result {
    std::unique_ptr<master> dev; ///< null on error
    op_status status = op_status::ok;
};

/// Linux's arm_smmu_master: StreamIDs, ATS state, CD table, the domains it is
/// attached to, and the pre-allocated build list (§2.4).
class master {
public:
    /// Sorts the StreamIDs (§2.4), allocates the build list (2, plus one per
    /// StreamID when ATS-capable) and creates every StreamID's STE (level-2
    /// stream tables). Errors: bad_input (no StreamIDs, one beyond the stream
    /// table), unsupported (ssid_bits above IDR1.SSIDSIZE), no_memory.
    static master_create_result create(master_config cfg, smmu_instance& smmu);
    ~master();
    master(const master&) = delete;
    master& operator=(const master&) = delete;

    smmu_instance& smmu() const { return m_smmu; }
    /// Sorted ascending, duplicates kept.
    const std::vector<arch::stream_id>& sids() const { return m_sids; }
    /// Sorted, without duplicates: the STEs and ATC invalidations.
    const std::vector<arch::stream_id>& unique_sids() const { return m_unique_sids; }
    bool ats_capable() const { return m_cfg.ats_capable; }
    bool ats_wanted() const { return m_cfg.ats_wanted; }
    /// Capable, wanted and supported by the SMMU.
    bool ats_supported() const;
    /// ATS as the STE (EATS) and the invs entries have it (master->ats_enabled).
    bool ats_enabled() const { return m_ats_enabled; }
    /// The endpoint's ATS Enable as last set.
    bool endpoint_ats() const { return m_endpoint_ats; }
    unsigned ssid_bits() const { return m_cfg.ssid_bits; }

    domain* rid_domain() const { return m_rid; }
    /// The vSMMU whose guest STE the RID uses (rid_domain() is then its
    /// parent); null when not attached through a vSMMU.
    const vsmmu* nested_vsmmu() const { return m_vsmmu; }
    /// The guest STE installed through nested_vsmmu().
    const arch::ste& guest_ste() const { return m_vste; }
    domain* pasid_domain(std::uint32_t pasid) const;
    std::size_t pasid_count() const { return m_pasids.size(); }
    /// Null until a stage-1 or PASID attach needed it.
    const cd_table* cds() const { return m_cds.get(); }
    const inv_list& build_list() const { return m_build; }

private:
    master(master_config cfg, smmu_instance& smmu, inv_list build);
    friend class attach_engine;

    master_config m_cfg;
    smmu_instance& m_smmu;
    std::vector<arch::stream_id> m_sids;
    std::vector<arch::stream_id> m_unique_sids;
    inv_list m_build;
    std::unique_ptr<cd_table> m_cds;
    domain* m_rid = nullptr;
    const vsmmu* m_vsmmu = nullptr;
    arch::ste m_vste;
    std::map<std::uint32_t, domain*> m_pasids; ///< null while a bind is in flight
    bool m_ats_enabled = false;
    bool m_endpoint_ats = false;
};

/// Counters of the attach path.
struct attach_stats {
    std::uint64_t attaches = 0;  ///< operations that reached the HW write
    std::uint64_t tag_frees = 0; ///< tags flushed and freed after their last user left
    std::uint64_t purges = 0;    ///< arrays compacted and republished
    std::uint64_t warnings = 0;  ///< old-side tag not found, unmatched unref entries
    std::uint64_t hw_errors = 0; ///< CD / STE / ATC / flush steps that failed
};

/// The attach / detach / PASID / ATS paths. Thread-safe: every call takes
/// the ASID lock for its whole duration (prepare -> HW write -> commit).
class attach_engine {
public:
    attach_engine(platform_ops& platform, lock_ops& asid_lock, tag_allocator& tags,
                  fault_injection faults = {});

    /// Attaches a paging or nesting-parent domain to the master's RID (ssid 0);
    /// nullptr blocks the master (abort STE, or a CD-table STE that terminates
    /// RID traffic while PASIDs are bound). Re-attaching the current domain is
    /// a no-op. Errors: bad_input (SVA domain), unsupported (stage the SMMU lacks,
    /// stage 2 while PASIDs are bound), tag_exhausted, no_memory (nothing
    /// changed), hw_error (a CD / STE / ATC step failed; the attach completed).
    op_status attach(master& m, domain* d);
    op_status detach(master& m) { return attach(m, nullptr); }
    /// Installs a guest STE for the master through `v` (the VMM forwarding
    /// its guest's STE, linux-invs.md §3.6 "nested attach"): the RID is
    /// tracked by v's nesting parent with v's VMID as its tag (S2_VMID_VSMMU,
    /// hence S1_CLEAR and ATS_FULL entries), and its STE becomes
    /// vsmmu::physical_ste. A V = 0 or abort guest STE blocks the master.
    /// Errors: bad_input (a guest STE vsmmu::acceptable refuses), unsupported
    /// (PASIDs bound, EATS asked of a master without ATS), and those of attach.
    op_status attach_nested(master& m, const vsmmu& v, const arch::ste& guest);
    /// Attaches a stage-1 domain (paging S1 or SVA: SVA bind) at `pasid`: CD at
    /// that SSID with the domain's ASID. Errors: bad_input (PASID 0 or beyond
    /// the master's width, stage-2 domain), unsupported (no PASIDs, stage-2
    /// RID domain), busy (PASID bound), tag_exhausted, no_memory, hw_error.
    op_status set_pasid(master& m, std::uint32_t pasid, domain& d);
    /// Clears the PASID's CD and drops the attachment. bad_input if not bound.
    op_status remove_pasid(master& m, std::uint32_t pasid);
    /// Changes the ATS policy; when the attached master's ATS changes, the RID
    /// domain is re-attached (§3.11: merge into its array, then unref).
    /// unsupported if not ATS-capable, busy while PASIDs are bound.
    op_status set_ats(master& m, bool wanted);

    tag_allocator& tags() { return m_tags; }
    attach_stats stats() const;

private:
    struct invs_side;
    struct attach_state;

    op_status attach_locked(attach_state& s);
    op_status prepare(attach_state& s);
    op_status prepare_new_side(attach_state& s);
    void prepare_old_side(attach_state& s);
    void unwind(attach_state& s);
    void release_fresh_tag(const attach_state& s);
    void write_hw(attach_state& s);
    void commit(attach_state& s);
    void install_old_invs(attach_state& s);

    arch::ste target_ste(const attach_state& s) const;
    void atc_inv_master(master& m, std::optional<std::uint32_t> ssid);
    void set_endpoint_ats(master& m, bool on);
    void note(smmu_status st);

    platform_ops& m_platform;
    lock_ops& m_lock;
    tag_allocator& m_tags;
    fault_injection m_faults;
    attach_stats m_stats;
    smmu_status m_hw_status = smmu_status::ok; ///< first HW failure of the current operation
};

/// The CD of a stage-1 domain (paging S1 or SVA) with `asid`.
arch::cd make_domain_cd(const domain& d, std::uint32_t asid);

/// A stage-2 STE for `d` (paging S2 or nesting parent) tagged with `vmid`.
arch::ste make_s2_ste(const domain& d, std::uint32_t vmid, const arch::feature_set& f,
                      arch::ste_eats eats);

} // namespace smmu::driver
