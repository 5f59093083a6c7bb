// The platform smmu-sim runs: simulated CPUs running the driver, one SMMU, a
// memory, a root complex and the endpoint groups of a sim_config, with their
// traffic generators, the attach/detach churn, an optional workload trace, the
// invalidation-protocol checker and the timeline trace.
//
//   cpu[i] ──┬─ router ─┬─ smmu.reg_target
//            │          └─ memory
//   smmu.walker, smmu.downstream ── memory
//   endpoint[k] ── rc.upstream;  rc.to_smmu ── smmu.tbus[0].upstream
//   rc.ats_to_smmu ── smmu.ats;  smmu.ats_inv ── rc.ats_from_smmu
//   rc.downstream ── endpoint[k].inv_in
//
// Endpoint k of the whole list has requester ID 01:k.0 (bus 1, device k % 32,
// function k / 32) and StreamID = that requester ID. Each endpoint's driver
// work (map, unmap, attach) runs on CPU k % cpus.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <systemc>

#include "driver/core/driver.h"
#include "driver/core/guest.h"
#include "driver/host/cpu.h"
#include "driver/host/guest_memory.h"
#include "driver/host/sim_locks.h"
#include "model/pcie/endpoint.h"
#include "model/pcie/root_complex.h"
#include "model/pcie/traffic.h"
#include "model/smmu/smmuv3.h"
#include "model/timing/histogram.h"
#include "platforms/parts/memory.h"
#include "platforms/parts/router.h"
#include "platforms/sim/checker.h"
#include "platforms/sim/sim_config.h"
#include "traces/timeline.h"
#include "traces/workload.h"

namespace smmu::sim {

/// What a run produced, beyond the components' own statistics.
struct run_result {
    bool finished = false;            ///< the workload completed (else stopped at run.end)
    std::string error;                ///< setup or driver failure; empty when fine
    timing::time_ps simulated_ps = 0; ///< simulated time at the end
    double host_seconds = 0;
};

class sim_platform {
public:
    /// Builds the platform (elaboration). `timeline_path` empty: no trace.json.
    /// Throws config_error for a configuration the platform cannot build.
    explicit sim_platform(const sim_config& cfg, const std::string& timeline_path = "");
    ~sim_platform();
    sim_platform(const sim_platform&) = delete;
    sim_platform& operator=(const sim_platform&) = delete;

    /// Replays `w` (instead of run.trace_file); before run(). Throws config_error
    /// for an operation the platform cannot run (unknown StreamID, CPU, PA).
    void set_workload(traces::workload w);
    /// How each replayed operation went, in completion order.
    struct op_outcome {
        std::size_t line = 0;
        bool ok = false;
        timing::time_ps begin = 0;
        timing::time_ps end = 0;
        std::map<arch::opcode, std::uint64_t> commands; ///< driver operations: what they issued
    };
    const std::vector<op_outcome>& trace_outcomes() const { return m_trace_outcomes; }

    /// Shows simulated time and completion on stderr while running, if it is a terminal.
    void enable_progress();
    /// Share of the generators' transfers done (or of run.end), 0..1.
    double progress_fraction() const;
    /// Runs the simulation to the end of the workload (or run.end). Once per process.
    run_result run();

    /// Every statistic as one JSON document (stats.json).
    std::string stats_json() const;
    /// The figures a sweep puts in its CSV, as a JSON object.
    std::string headline_json() const;
    /// The human-readable summary.
    std::string summary() const;
    /// The nested groups' virtual machine as a JSON object ("null" without one).
    std::string vm_json() const;

    const invalidation_checker& checker() const { return m_checker; }
    smmuv3& smmu() { return *m_smmu; }
    pcie::endpoint& endpoint(std::size_t k);
    std::size_t endpoints() const { return m_endpoints.size(); }
    driver::smmu_driver& drv() { return *m_driver; }
    /// DMA transfers completed by every generator and replayed trace operation.
    std::uint64_t dma_transactions() const;
    std::uint64_t dma_bytes() const;
    /// Unmap latency seen by software (the driver call, CMD_SYNC included), ps.
    const timing::latency_histogram& unmap_latency() const { return m_unmap_latency; }

private:
    struct endpoint_slot;   // one endpoint with its domain, mapper and generator
    struct virtual_machine; // the nested groups' guest: vSMMU, guest RAM and driver
    class observer;         // smmu_observer feeding the checker and the timeline
    class mapper;           // buffer_mapper over the driver
    class top;              // the SystemC module running setup, churn and the trace
    class trace_runner;     // executes workload trace operations

    void build_endpoints();
    void build_generators();
    bool set_up();
    void churn();
    /// The GERROR and event-queue interrupt handlers (on m_irq_cpu).
    void interrupts();
    void load_trace();
    void replay_trace();
    bool is_data_memory(std::uint64_t pa, std::uint64_t size) const;
    /// Physical memory for a buffer (wraps around: buffers are never read back).
    std::uint64_t allocate_data(std::uint64_t size);
    /// Attaches `d` to (sid, pasid) (d == 0: detaches; pasid != 0: binds an SVA
    /// domain), tells the checker, and checks the IOTLB for the tag of the domain
    /// the stream left if that was its last attachment.
    driver::op_result attach_tracked(unsigned cpu, driver::domain_id d, std::uint32_t sid,
                                     std::uint32_t pasid);
    void check_released_tag(const std::optional<driver::inv>& before, driver::domain_id id);
    endpoint_slot* endpoint_with_sid(std::uint32_t sid);
    /// Guest RAM for the nested groups (before any buffer is placed).
    void reserve_guest_ram();
    /// Memory for an endpoint's buffers: physical, or guest RAM (IPA) in the VM.
    std::uint64_t take_buffer(const endpoint_slot& e, std::uint64_t size);
    /// The VM's parent domain, vSMMU and guest driver (on CPU 0).
    bool start_vm();
    /// A nested group's endpoint: vdevice, guest device, guest domain, attach.
    bool set_up_vm_endpoint(endpoint_slot& e);
    /// The driver's map / unmap of the endpoint's domain (the guest's in the VM).
    driver::op_result map_buffer(const endpoint_slot& e, std::uint64_t iova, std::uint64_t addr,
                                 std::uint64_t size);
    driver::op_result unmap_buffer(const endpoint_slot& e, std::uint64_t iova, std::uint64_t size);
    /// Runs `op` as a job on CPU `cpu` and waits for it; records a timeline span.
    driver::op_result on_cpu(unsigned cpu, const char* name,
                             const std::function<driver::op_result()>& op);

    sim_config m_cfg;
    std::unique_ptr<traces::timeline_writer> m_timeline;
    invalidation_checker m_checker;
    sc_core::sc_signal<bool> m_sev;
    sc_core::sc_signal<bool> m_irq_gerror;
    sc_core::sc_signal<bool> m_irq_eventq;
    std::unique_ptr<platform::memory> m_memory;
    std::unique_ptr<smmuv3> m_smmu;
    std::unique_ptr<platform::router> m_bus;
    std::unique_ptr<pcie::root_complex> m_rc;
    driver::host::dma_allocator m_dma;
    std::vector<std::unique_ptr<driver::host::cpu>> m_cpus;
    /// Runs the interrupt handlers (GERROR, event queue), so that they never wait
    /// behind a driver call that polls for the very completion they unblock.
    std::unique_ptr<driver::host::cpu> m_irq_cpu;
    std::map<std::string, std::uint64_t> m_events; ///< event records by name
    std::uint64_t m_event_overflows = 0;
    std::uint64_t m_cmdq_errors = 0;
    std::unique_ptr<driver::host::current_cpu_platform> m_platform;
    driver::host::sim_lock_factory m_locks;
    driver::host::sim_rw_lock_factory m_rw_locks;
    std::unique_ptr<driver::smmu_driver> m_driver;
    std::vector<std::unique_ptr<endpoint_slot>> m_endpoints;
    std::map<stream_key, driver::domain_id> m_attached;
    struct group_domains {
        driver::domain_id rid = 0;
        driver::domain_id sva = 0;
    };
    std::map<std::string, group_domains> m_group_domains; ///< shared_domain groups
    std::unique_ptr<virtual_machine> m_vm;                ///< null without nested groups
    std::unique_ptr<observer> m_observer;
    std::unique_ptr<traces::workload> m_workload;
    std::unique_ptr<trace_runner> m_trace;
    std::unique_ptr<top> m_top;
    sc_core::sc_event m_start;
    timing::latency_histogram m_unmap_latency;
    timing::latency_histogram m_map_latency;
    std::uint64_t m_data_next = 0; ///< bump allocator of physical buffers
    std::uint64_t m_churn_switches = 0;
    std::uint64_t m_trace_ops = 0;
    std::vector<op_outcome> m_trace_outcomes;
    std::uint64_t m_trace_dma_bytes = 0;
    std::uint64_t m_trace_dma_transfers = 0;
    std::uint64_t m_driver_errors = 0;
    bool m_progress = false;
    run_result m_result;
};

} // namespace smmu::sim
