// The platform of the driver end-to-end tests and of dma-map-bench: simulated
// CPUs running the driver, the SMMU, a memory.
//
//   cpu[i].mmio ─┐                 ┌─ out[0]: smmu.reg_target  (smmu_base, 128 KiB)
//   cpu[i].mem  ─┴─ router "bus" ──┴─ out[1]: memory           (its own addresses)
//   smmu.walker, smmu.downstream ──── memory
//   device[t] ──────────────────────── smmu.tbus[t].upstream
//   smmu.sev ───────────────────────── cpu[i].sev
//
// One smmu_driver instance runs on every CPU: its platform_ops is a
// current_cpu_platform (each call acts on, and costs the time of, the CPU
// whose job makes it), its DMA allocations come from one dma_allocator over
// the bottom dma_size bytes of the memory, and its locks are sim locks. The
// rest of the memory (from data_base()) is for the tests' DMA buffers.
//
// A test builds the platform, then runs a scenario in a SystemC thread with
// run(); from there on_cpu() runs driver work on a CPU and waits for it, and
// the devices' DMA calls block in simulated time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <systemc>

#include "driver/core/driver.h"
#include "driver/host/cpu.h"
#include "driver/host/sim_locks.h"
#include "model/arch/event.h"
#include "model/smmu/smmuv3.h"
#include "platforms/parts/memory.h"
#include "platforms/parts/router.h"
#include "tests/integration/support/bench.h"

namespace smmu::test {

using driver::host::sim_lock_factory;

struct driver_platform_config {
    unsigned cpus = 2;
    smmu_params params{};
    std::vector<tbu_params> tbus{tbu_params{}, tbu_params{}};
    std::uint64_t memory_base = 0x8000'0000;
    std::uint64_t memory_size = 64ull << 20;
    /// The driver's DMA pool: the bottom of the memory.
    std::uint64_t dma_size = 16ull << 20;
    sc_core::sc_time memory_latency = sc_core::sc_time(50, sc_core::SC_NS);
    std::uint64_t smmu_base = 0x1000'0000;
    driver::host::cpu_params cpu{}; ///< mmio_base is set to smmu_base
    driver::driver_options driver{};
    /// tlm_global_quantum for the CPUs (zero: they synchronise at every charge).
    sc_core::sc_time quantum = sc_core::SC_ZERO_TIME;
};

class driver_platform {
public:
    explicit driver_platform(const driver_platform_config& cfg = {});
    ~driver_platform();
    driver_platform(const driver_platform&) = delete;
    driver_platform& operator=(const driver_platform&) = delete;

    platform::memory& mem() { return *m_memory; }
    smmuv3& smmu() { return *m_smmu; }
    platform::router& bus() { return *m_bus; }
    driver::host::cpu& cpu(unsigned i) { return *m_cpus.at(i); }
    unsigned cpus() const { return static_cast<unsigned>(m_cpus.size()); }
    initiator& device(std::size_t tbu) { return *m_devices.at(tbu); }
    driver::smmu_driver& drv() { return *m_driver; }
    driver::host::dma_allocator& dma() { return m_dma; }
    const sim_lock_factory& locks() const { return m_locks; }
    sim_lock_factory& locks() { return m_locks; }
    const driver::host::sim_rw_lock_factory& rw_locks() const { return m_rw_locks; }
    driver::host::sim_rw_lock_factory& rw_locks() { return m_rw_locks; }
    /// The driver's platform_ops (acts on the CPU whose job calls it).
    driver::platform_ops& platform() { return *m_platform; }
    /// The command-queue lock (the first lock the driver made).
    const driver::host::sim_lock& cmdq_lock() const { return m_locks.lock(0); }
    const driver_platform_config& config() const { return m_cfg; }
    /// First byte after the driver's DMA pool: room for the tests' buffers.
    std::uint64_t data_base() const { return m_cfg.memory_base + m_cfg.dma_size; }

    /// Runs `scenario` in a SystemC thread and the simulation until nothing is
    /// left to do; false if the scenario did not finish.
    bool run(std::function<void()> scenario);

    // From the scenario thread.
    /// Runs `op` as a job on CPU `i`, waits for it and returns its result.
    driver::op_result on_cpu(unsigned i, const std::function<driver::op_result()>& op);
    /// Queues `work` on CPU `i` without waiting.
    driver::host::job_handle submit(unsigned i, std::function<void()> work);
    /// The driver's event consumer (smmu_device::process_events) on CPU `i`.
    std::vector<arch::event_record> process_events(unsigned i = 0);
    /// The IOTLB tag (ASID or VMID) of the first live tag entry of a domain's
    /// invalidation array; nullopt when it has none.
    std::optional<driver::inv> tag_of(driver::domain_id id) const;

private:
    class runner;

    driver_platform_config m_cfg;
    sc_core::sc_signal<bool> m_sev;
    std::unique_ptr<platform::memory> m_memory;
    std::unique_ptr<smmuv3> m_smmu;
    std::unique_ptr<platform::router> m_bus;
    driver::host::dma_allocator m_dma;
    std::vector<std::unique_ptr<driver::host::cpu>> m_cpus;
    std::vector<std::unique_ptr<initiator>> m_devices;
    std::unique_ptr<runner> m_runner;
    std::unique_ptr<driver::host::current_cpu_platform> m_platform;
    sim_lock_factory m_locks;
    driver::host::sim_rw_lock_factory m_rw_locks;
    std::unique_ptr<driver::smmu_driver> m_driver; ///< last: destroyed before what it uses
};

/// Read, write and cacheable: what dma_map gives a device buffer.
driver::iommu_prot dma_rw();

/// Commands of opcode `op` the SMMU has executed.
inline std::uint64_t executed(smmuv3& s, arch::opcode op) {
    return s.stats().commands[static_cast<unsigned>(op)];
}

/// DMA attributes naming StreamID `sid`.
inline dma_attrs sid_attrs(std::uint32_t sid) {
    dma_attrs a;
    a.sid = sid;
    return a;
}

} // namespace smmu::test
