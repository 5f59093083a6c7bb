// Every configurable quantity of the SMMU block: features, structure sizes,
// latencies (in cycles of the SMMU clock) and capacities. docs/timing.md lists
// each with its unit, default and the provenance of the default.
#pragma once

#include <cstdint>

#include "model/arch/features.h"
#include "model/arch/replacement.h"
#include "model/timing/clock.h"

namespace smmu {

/// approximate: every latency below applies. functional: zero time, same
/// behaviour (for booting and functional tests).
enum class timing_mode : std::uint8_t { approximate, functional };

/// A set-associative structure's shape.
struct cache_shape {
    std::uint32_t entries;
    std::uint32_t ways;
    arch::replacement_policy policy;
};

struct smmu_params {
    /// What the ID registers advertise.
    arch::feature_set features{};
    std::uint32_t iidr = 0x4830043b; ///< ProductID 0x483, Arm (JEP106 0x43B)
    std::uint32_t aidr = 0x02;       ///< SMMUv3.2

    timing_mode mode = timing_mode::approximate;
    timing::time_ps clock_period_ps = 1000; ///< 1 GHz

    // Structures.
    cache_shape utlb{32, 32, arch::replacement_policy::round_robin}; ///< per TBU, fully associative
    cache_shape main_tlb{2048, 4, arch::replacement_policy::random}; ///< the IOTLB
    cache_shape walk_cache{256, 4, arch::replacement_policy::round_robin};
    cache_shape ste_cache{64, 4, arch::replacement_policy::lru};
    cache_shape cd_cache{64, 4, arch::replacement_policy::lru};
    std::uint64_t random_seed = 1; ///< for random replacement

    // Lookup latencies (cycles).
    std::uint32_t utlb_lookup_cycles = 1;
    std::uint32_t main_tlb_lookup_cycles = 3;
    std::uint32_t config_lookup_cycles = 3;
    std::uint32_t walk_cache_lookup_cycles = 4;
    /// Processing of one descriptor on top of the memory latency of its read.
    std::uint32_t walk_step_cycles = 2;
    /// One way of the TBU <-> TCU link (DTI).
    std::uint32_t tbu_tcu_link_cycles = 8;

    // Capacities.
    std::uint32_t tbu_translation_slots = 16; ///< outstanding translations per TBU
    std::uint32_t tcu_walk_slots = 16;        ///< concurrent table walks

    // Command queue.
    std::uint32_t cmd_fetch_bytes = 64; ///< commands are read in blocks of this many bytes
    std::uint32_t cmd_decode_cycles = 2;
    std::uint32_t cmd_tlbi_cycles = 60;      ///< base cost of a TLBI
    std::uint32_t cmd_tlbi_probe_cycles = 1; ///< per TLB set or entry a TLBI examines
    std::uint32_t cmd_cfgi_cycles = 20;
    std::uint32_t cmd_atc_inv_cycles = 20; ///< to build and send the invalidation request
    std::uint32_t cmd_prefetch_cycles = 2;
    std::uint32_t cmd_sync_cycles = 100;   ///< completion of a CMD_SYNC once nothing is outstanding
    std::uint32_t msi_cycles = 50;         ///< to issue an MSI write, plus the memory latency
    std::uint32_t event_write_cycles = 10; ///< to format an event record, plus the memory latency

    // ATS.
    /// Invalidations the SMMU keeps outstanding towards one endpoint (PCIe: 32).
    std::uint32_t atc_inv_outstanding = 32;
    /// A CMD_SYNC waiting longer than this for ATC invalidation completions
    /// fails with CERROR_ATC_INV_SYNC.
    timing::time_ps atc_inv_timeout_ps = 1'000'000'000; ///< 1 ms

    timing::time_ps cycles(std::uint64_t n) const {
        return mode == timing_mode::functional ? 0 : n * clock_period_ps;
    }
};

} // namespace smmu
