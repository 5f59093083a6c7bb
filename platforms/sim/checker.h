// The invalidation-protocol checker: watches what the hardware model does
// (translations the SMMU hands out, translated TLPs endpoints send from their
// ATCs, commands the SMMU executes, IOTLB contents) against what software
// completed (unmaps whose CMD_SYNC returned, last detaches), and flags:
//
//   stale_translation  a DMA or an ATS completion that used a translation the
//                      driver had unmapped and completed a CMD_SYNC for before
//                      the DMA began;
//   atc_inv_before_sync an ATC_INV executed while a TLBI of the same SMMU had
//                      not yet been completed by a CMD_SYNC;
//   tag_after_detach   an ASID / VMID still present in the IOTLB once its last
//                      detach has completed.
//
// Pure C++: the platform forwards the observations (platforms/sim/sim_platform).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/timing/clock.h"

namespace smmu::sim {

enum class violation_kind : std::uint8_t {
    stale_translation,
    atc_inv_before_sync,
    tag_after_detach
};

const char* to_string(violation_kind k);

struct violation {
    violation_kind kind;
    timing::time_ps at = 0;
    std::string detail;
};

/// Who a translation is for: a StreamID and, for PASID traffic, a SubstreamID.
struct stream_key {
    std::uint32_t sid = 0;
    std::optional<std::uint32_t> ssid;
    bool operator<(const stream_key& o) const;
};

class invalidation_checker {
public:
    // Software side (called when the driver operation has returned).
    /// `stream` now translates through `domain` (0: blocked / detached).
    void attached(const stream_key& stream, std::uint32_t domain);
    /// [iova, iova + size) of `domain` is mapped (again).
    void mapped(std::uint32_t domain, std::uint64_t iova, std::uint64_t size);
    /// The unmap of [iova, iova + size) returned at `done` (its CMD_SYNC completed).
    void unmapped(std::uint32_t domain, std::uint64_t iova, std::uint64_t size,
                  timing::time_ps done);

    // Hardware side.
    /// A DMA (or an ATS completion) for `stream` used a translation of `iova`;
    /// `began` is when the DMA (or the request) started.
    void translation_used(const stream_key& stream, std::uint64_t iova, timing::time_ps began,
                          const char* by);
    /// An SMMU executed a TLBI (any scope).
    void tlbi_executed(unsigned smmu);
    /// An SMMU completed a CMD_SYNC: every earlier command has completed.
    void sync_completed(unsigned smmu);
    /// An SMMU executed CMD_ATC_INV for `sid` at `at`.
    void atc_inv_executed(unsigned smmu, std::uint32_t sid, timing::time_ps at);
    /// After a last detach completed at `at`: `entries` IOTLB entries still carry `tag`.
    void tag_checked(const std::string& tag, std::size_t entries, timing::time_ps at);

    const std::vector<violation>& violations() const { return m_violations; }
    std::uint64_t count(violation_kind k) const;
    std::uint64_t total() const { return m_violations.size() + m_dropped; }
    /// Violations beyond the first `limit` are counted, not stored.
    void set_limit(std::size_t limit) { m_limit = limit; }
    std::uint64_t checks() const { return m_checks; }

private:
    struct unmapped_range {
        std::uint64_t end = 0; ///< exclusive
        timing::time_ps done = 0;
    };
    void flag(violation_kind k, timing::time_ps at, std::string detail);
    const unmapped_range* find_unmapped(std::uint32_t domain, std::uint64_t iova) const;

    std::map<stream_key, std::uint32_t> m_domain_of;
    /// Per domain: unmapped ranges by start address, non-overlapping.
    std::map<std::uint32_t, std::map<std::uint64_t, unmapped_range>> m_unmapped;
    std::map<unsigned, std::uint64_t> m_unsynced_tlbis;
    std::vector<violation> m_violations;
    std::uint64_t m_counts[3] = {0, 0, 0};
    std::uint64_t m_dropped = 0;
    std::size_t m_limit = 1000;
    std::uint64_t m_checks = 0;
};

} // namespace smmu::sim
