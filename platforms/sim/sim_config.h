// The configuration of one smmu-sim run: platform shape, every model
// parameter, and the workload. Defaults are the default run of `smmu-sim`
// (docs/smmu-sim.md); register_params() names every field for JSON files,
// --set overrides and the resolved configuration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "driver/core/driver.h"
#include "driver/host/cpu.h"
#include "model/pcie/atc.h"
#include "model/pcie/traffic.h"
#include "model/smmu/smmu_params.h"
#include "platforms/sim/param_table.h"

namespace smmu::sim {

/// What the endpoints of a group run.
enum class generator_kind : std::uint8_t { none, stream, ring, random };

struct generator_config {
    generator_kind kind = generator_kind::none;
    // stream and random: a buffer mapped once at start, for the whole run.
    std::uint64_t buffer_bytes = 1 << 20;
    std::uint32_t transfer_bytes = 4096;
    pcie::stream_mode mode = pcie::stream_mode::read;
    double read_fraction = 1.0;
    // ring: buffers mapped and unmapped per packet (strict DMA API).
    pcie::ring_params ring{};
    // every kind
    std::uint64_t transactions = 0; ///< stop after this many transfers (0: no limit)
    std::uint64_t think_ps = 0;     ///< pause between transfers (ring: between packets)
    std::uint64_t start_ps = 0;
};

/// How the driver gives a group's endpoints their address space.
enum class domain_mode : std::uint8_t {
    dma, ///< one paging (stage-1) DMA domain per endpoint, like Linux's default domains
    s2,  ///< one stage-2 paging domain per endpoint (VMID-tagged)
    /// one nesting-parent stage-2 domain per endpoint (IOVA = IPA, no guest stage 1)
    nesting_parent,
    /// a virtual machine's device: the guest driver's stage-1 domain through the
    /// VM's vSMMU, over the VM's nesting-parent stage 2 (one VM for all such groups)
    nested,
    sva, ///< the endpoint's RID on a DMA domain, plus one SVA domain bound at PASID 1
};

/// `count` identical endpoints.
struct group_config {
    std::string name = "group";
    std::uint32_t count = 1;
    bool ats = false; ///< ATS capable (the driver enables it)
    domain_mode domain = domain_mode::dma;
    /// Every endpoint of the group attaches to one domain (and, with sva, binds
    /// one SVA domain at PASID 1) instead of one each.
    bool shared_domain = false;
    /// The driver is told about the endpoint's ATS capability. false with ats:
    /// a misbehaving device that enables ATS by itself (the STE keeps EATS = 0).
    bool driver_ats = true;
    /// PASID capable (the driver gives the master a CD table); implied by sva.
    bool pasid = false;
    /// Attach each endpoint to its domain during setup (false: a workload trace does it).
    bool attach_at_start = true;
    pcie::atc_params atc{};
    std::uint32_t max_payload_bytes = 256;
    std::uint64_t invalidation_latency_ps = 1'000'000; ///< endpoint's ATC invalidation
    bool answer_invalidations = true;
    std::uint64_t link_latency_ps = 500'000; ///< each direction (docs/pcie.md)
    std::uint64_t link_mb_per_s = 15754;     ///< each direction: PCIe 4.0 x8; 0 = unlimited
    /// StreamID of the group's first endpoint (the next ones follow); 0: the
    /// requester ID (bus 1, device = endpoint index).
    std::uint32_t stream_id_base = 0;
    generator_config generator{};
};

/// Attach/detach churn: one endpoint of a group moves between two domains that
/// map the same buffer, so that its DMA keeps working.
struct churn_config {
    std::string group;          ///< empty: no churn
    std::uint32_t switches = 0; ///< domain changes
    std::uint64_t period_ps = 20'000'000;
};

struct sim_config {
    // run
    std::uint64_t seed = 1;
    std::uint64_t end_ps = 0; ///< stop the simulation here (0: when the workload is done)
    bool strict = false;      ///< checker violations make the run fail
    std::string trace_file;   ///< workload trace to replay (traces/README.md); empty: none
    std::uint64_t trace_event_limit = 2'000'000;

    // platform
    std::uint32_t cpus = 4;
    std::uint64_t memory_bytes = 256ull << 20;
    std::uint64_t memory_latency_ps = 80'000;
    std::uint64_t quantum_ps = 0;
    smmu_params smmu{};
    driver::host::cpu_params cpu{};
    arch::granule granule = arch::granule::size_4k;
    std::uint32_t batch_entries = 64; ///< driver's command batch (Linux: 64)
    driver::fault_injection faults{};
    std::vector<group_config> groups;
    churn_config churn{};

    /// The default platform and workload of `smmu-sim` with no arguments.
    static sim_config default_config();
};

/// Binds every field of `c` (with its current number of groups) into `t`.
void register_params(param_table& t, sim_config& c);

/// Applies a JSON configuration on top of `c`: "groups" is a list (it replaces
/// the default groups; each element starts from group defaults), then every
/// other key through the parameter table.
void apply_config(sim_config& c, const nlohmann::json& j, const config_origin& origin);
/// Applies "key=value" overrides ("groups.1.count=4" addresses an existing group).
void apply_overrides(sim_config& c, const std::vector<std::string>& sets);
/// The resolved configuration (what --out writes).
nlohmann::json to_json(sim_config& c);
/// Checks cross-field rules (a churn group that exists, non-zero counts, ...);
/// throws config_error naming the key.
void validate(const sim_config& c);

} // namespace smmu::sim
