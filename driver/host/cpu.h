// A simulated CPU that runs driver/core work (docs/timing.md, "CPU cost
// model"): one SC_THREAD executes queued jobs, each given a platform_ops bound
// to this CPU.
//
// Sockets: two initiator sockets rather than one socket and an address map
// in the CPU, so that the two kinds of access keep their different timing
// rules and a platform routes each as it likes (several CPUs need a fan-in in
// front of the SMMU's single-bind register socket):
//   mmio  the SMMU's register window; an access to offset o goes to address
//         cpu_params::mmio_base + o, 4 or 8 bytes, and is ordered: the quantum
//         keeper is synchronised before it (the register sees the access at the
//         CPU's own time) and after it (nothing later runs ahead of it). A
//         write reaches the register when issued and costs mmio_write_ns; a
//         read reaches it half way through its mmio_read_ns round trip.
//   mem   physical memory (tables, queues, MSI words); accesses carry the
//         keeper's local time as their delay; DMI is used when granted.
// sev: optional input bound to the SMMU's sev signal; a rising edge is an
// event for WFE (poll_pause(true)), latched as the Arm event register is.
// DMA allocations come from a dma_allocator shared by the CPUs of a driver
// instance and are zeroed by debug transport; free_dma frees the allocation
// that starts at the address (its recorded size; the size argument is not used).
//
// Time: driver work costs what cpu_cost says; it accumulates in a
// tlm_utils::tlm_quantumkeeper and is synchronised when the global quantum
// (tlm::tlm_global_quantum, set by the platform) is reached, at every MMIO,
// lock operation (sim_locks.h), polling pause, and at the start and end of
// every job.
//
// Outside this CPU's jobs (e.g. a driver object destroyed from sc_main after
// the simulation), the platform_ops calls still reach the targets but are
// untimed: nothing is charged, nothing synchronises, pauses return at once.
// Several CPUs running one driver instance give it a current_cpu_platform.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "driver/core/platform.h"
#include "driver/host/cpu_cost.h"

namespace smmu::driver::host {

/// First-fit allocator of DMA-able physical memory over [base, base + size).
/// One instance serves all CPUs of a driver instance (pass it to each cpu).
/// Bookkeeping only: the cpu that allocates zeroes the memory.
class dma_allocator {
public:
    dma_allocator(std::uint64_t base, std::uint64_t size);

    /// Lowest free address that fits `bytes` aligned to `align` (a power of
    /// two; 0 counts as 1). nullopt when bytes is 0, align is not a power of
    /// two, or no free range fits.
    std::optional<std::uint64_t> allocate(std::uint64_t bytes, std::uint64_t align);
    /// Frees the allocation that starts at `pa` (adjacent free ranges merge);
    /// false when no allocation starts there.
    bool release(std::uint64_t pa);

    std::uint64_t base() const { return m_base; }
    std::uint64_t size() const { return m_size; }
    std::uint64_t bytes_in_use() const { return m_in_use; }
    std::uint64_t peak_bytes_in_use() const { return m_peak; }
    std::size_t live_allocations() const { return m_used.size(); }
    std::uint64_t failed_allocations() const { return m_failures; }
    /// Free ranges (start -> bytes), for inspection.
    const std::map<std::uint64_t, std::uint64_t>& free_ranges() const { return m_free; }

private:
    std::uint64_t m_base;
    std::uint64_t m_size;
    std::map<std::uint64_t, std::uint64_t> m_free; ///< start -> bytes
    std::map<std::uint64_t, std::uint64_t> m_used; ///< start -> bytes
    std::uint64_t m_in_use = 0;
    std::uint64_t m_peak = 0;
    std::uint64_t m_failures = 0;
};

struct cpu_params {
    /// Address of the SMMU's Page 0 on the mmio socket.
    std::uint64_t mmio_base = 0;
    cpu_cost cost{};
    /// The CPU reaches tables and queues through a coherent cache (the SMMU
    /// is IO-coherent, IDR0.COHACC): each access costs cost.mem_access_ns and
    /// the memory target's annotated latency is not charged. Else the CPU
    /// waits for what the target (or its DMI grant) annotates.
    bool cached_memory = true;
    /// Ask for DMI on the mem socket and use it while granted.
    bool use_dmi = true;
};

/// Counters of one CPU.
struct cpu_stats {
    std::uint64_t jobs = 0; ///< completed
    std::uint64_t mmio_reads = 0;
    std::uint64_t mmio_writes = 0;
    std::uint64_t mmio_errors = 0; ///< error responses (reads return 0)
    std::uint64_t mem_reads = 0;
    std::uint64_t mem_writes = 0;
    std::uint64_t mem_bytes = 0;
    std::uint64_t mem_errors = 0;   ///< error responses (reads return zeros)
    std::uint64_t dmi_accesses = 0; ///< mem accesses served by DMI
    std::uint64_t dma_allocs = 0;
    std::uint64_t dma_alloc_failures = 0;
    std::uint64_t dma_frees = 0;
    std::uint64_t dma_bad_frees = 0; ///< free_dma of an address that was not allocated
    std::uint64_t barriers = 0;
    std::uint64_t poll_pauses = 0;                     ///< poll_pause(false)
    std::uint64_t wfe_waits = 0;                       ///< poll_pause(true)
    std::uint64_t wfe_sev_wakes = 0;                   ///< WFEs ended by a SEV edge
    std::uint64_t wfe_timeouts = 0;                    ///< WFEs ended by wfe_timeout_ns
    std::uint64_t wfe_immediate = 0;                   ///< WFEs that found the event register set
    std::array<std::uint64_t, cpu_op_count> charges{}; ///< occurrences by cpu_op
    std::uint64_t syncs = 0; ///< quantum-keeper synchronisations that waited
};

/// The times of one job, in simulated time.
struct job_result {
    sc_core::sc_time start;
    sc_core::sc_time end;
    sc_core::sc_time latency() const { return end - start; }
};

namespace detail {
struct job_record {
    std::function<void(platform_ops&)> work;
    sc_core::sc_time start;
    sc_core::sc_time end;
    bool started = false;
    bool done = false;
    sc_core::sc_event done_event;
};
} // namespace detail

/// A submitted job: whether it ran, when, and an event for its completion.
class job_handle {
public:
    job_handle() = default;

    bool valid() const { return m_rec != nullptr; }
    bool started() const { return m_rec && m_rec->started; }
    bool done() const { return m_rec && m_rec->done; }
    /// When the CPU began the job (valid once started()).
    sc_core::sc_time start() const { return m_rec ? m_rec->start : sc_core::SC_ZERO_TIME; }
    /// When it finished, its last charge included (valid once done()).
    sc_core::sc_time end() const { return m_rec ? m_rec->end : sc_core::SC_ZERO_TIME; }
    sc_core::sc_time latency() const { return end() - start(); }
    job_result result() const { return {start(), end()}; }
    /// Notified when the job completes (valid handles only).
    const sc_core::sc_event& done_event() const { return m_rec->done_event; }
    /// Blocks the calling SC_THREAD until the job is done.
    job_result wait() const;

private:
    friend class cpu;
    explicit job_handle(std::shared_ptr<detail::job_record> rec)
        : m_rec(std::move(rec)) {}
    std::shared_ptr<detail::job_record> m_rec;
};

class cpu : public sc_core::sc_module {
public:
    using job = std::function<void(platform_ops&)>;

    tlm_utils::simple_initiator_socket<cpu> mmio;
    tlm_utils::simple_initiator_socket<cpu> mem;
    sc_core::sc_port<sc_core::sc_signal_in_if<bool>, 1, sc_core::SC_ZERO_OR_MORE_BOUND> sev;

    /// `dma` must outlive the cpu. Throws std::invalid_argument when
    /// params.cost is not valid().
    cpu(const sc_core::sc_module_name& name, dma_allocator& dma, const cpu_params& params = {});
    ~cpu() override;
    cpu(const cpu&) = delete;
    cpu& operator=(const cpu&) = delete;

    /// Queues `work` to run on this CPU after the jobs already queued (before
    /// or during simulation, from any process or from a job of this CPU).
    job_handle run(job work);
    std::size_t queued_jobs() const { return m_jobs.size(); }
    /// A job is running.
    bool busy() const { return m_in_job; }

    const cpu_params& params() const { return m_params; }
    const cpu_stats& stats() const { return m_stats; }
    dma_allocator& dma() { return m_dma; }
    /// Simulated time the CPU has run ahead of sc_time_stamp() (quantum keeper).
    sc_core::sc_time local_time() const { return m_keeper.get_local_time(); }
    /// The platform_ops jobs receive; call it only from this CPU's jobs.
    platform_ops& platform();

    /// The CPU whose job is running in the calling process; nullptr when the
    /// caller is not a cpu's thread running a job (or not simulating).
    static cpu* current();
    /// Folds the local time of the current() CPU into simulated time (used by
    /// sim locks before they look at a lock). False, doing nothing, when there
    /// is no current CPU.
    static bool sync_current();

private:
    class bound_platform;

    void thread_main();
    void on_sev();
    void invalidate_dmi(sc_dt::uint64 start, sc_dt::uint64 end);

    // platform_ops, as bound_platform forwards them.
    std::uint64_t mmio_access(::tlm::tlm_command cmd, std::uint64_t offset, unsigned len,
                              std::uint64_t value);
    void mem_access(::tlm::tlm_command cmd, std::uint64_t pa, unsigned char* data, std::size_t len);
    bool dmi_access(::tlm::tlm_command cmd, std::uint64_t pa, unsigned char* data, std::size_t len);
    void transport_access(::tlm::tlm_command cmd, std::uint64_t pa, unsigned char* data,
                          unsigned len);
    std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align);
    void free_dma(std::uint64_t pa);
    void zero(std::uint64_t pa, std::uint64_t bytes);
    void poll_pause(bool wfe);
    std::uint64_t now_ns() const;
    void charge(cpu_op op, unsigned count);

    /// Adds CPU time and synchronises when the quantum is used up.
    void advance(const sc_core::sc_time& t);
    /// Synchronises the quantum keeper with simulated time.
    void sync();

    dma_allocator& m_dma;
    cpu_params m_params;
    std::unique_ptr<bound_platform> m_platform;
    sc_core::sc_process_handle m_thread;
    tlm_utils::tlm_quantumkeeper m_keeper;

    // Costs converted once.
    std::array<sc_core::sc_time, cpu_op_count> m_op_cost{};
    sc_core::sc_time m_mmio_read, m_mmio_write, m_mem_access, m_poll_interval, m_wfe_wakeup,
        m_wfe_timeout;

    std::deque<std::shared_ptr<detail::job_record>> m_jobs;
    sc_core::sc_event m_job_added;
    bool m_in_job = false; ///< calls are timed only inside a job on this CPU's thread

    ::tlm::tlm_generic_payload m_payload; ///< reused for every access of this CPU
    ::tlm::tlm_dmi m_dmi;
    bool m_dmi_valid = false;

    bool m_sev_armed = false;
    bool m_event_register = false; ///< set by a SEV edge, cleared by WFE
    sc_core::sc_event m_wake;

    cpu_stats m_stats;
};

/// The platform_ops of one driver instance run by several CPUs: driver/core
/// keeps one platform_ops for its lifetime, while each call must act on (and
/// cost the time of) the CPU that makes it. Every call goes to cpu::current();
/// calls from anywhere else (sc_main, another process) go to `fallback`,
/// untimed. With a single CPU, its own platform() serves as well.
class current_cpu_platform final : public platform_ops {
public:
    /// `fallback` must outlive this object.
    explicit current_cpu_platform(cpu& fallback)
        : m_fallback(fallback) {}

    std::uint32_t mmio_read32(std::uint64_t offset) override {
        return target().mmio_read32(offset);
    }
    std::uint64_t mmio_read64(std::uint64_t offset) override {
        return target().mmio_read64(offset);
    }
    void mmio_write32(std::uint64_t offset, std::uint32_t value) override {
        target().mmio_write32(offset, value);
    }
    void mmio_write64(std::uint64_t offset, std::uint64_t value) override {
        target().mmio_write64(offset, value);
    }
    void mem_read(std::uint64_t pa, void* dst, std::size_t len) override {
        target().mem_read(pa, dst, len);
    }
    void mem_write(std::uint64_t pa, const void* src, std::size_t len) override {
        target().mem_write(pa, src, len);
    }
    std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align) override {
        return target().alloc_dma(bytes, align);
    }
    void free_dma(std::uint64_t pa, std::size_t bytes) override { target().free_dma(pa, bytes); }
    void barrier() override { target().barrier(); }
    void poll_pause(bool wfe) override { target().poll_pause(wfe); }
    std::uint64_t now_ns() override { return target().now_ns(); }
    void charge(cpu_op op, unsigned count) override { target().charge(op, count); }

private:
    platform_ops& target() const {
        cpu* const c = cpu::current();
        return (c != nullptr ? *c : m_fallback).platform();
    }
    cpu& m_fallback;
};

/// Runs `work` on `c` and waits for it; call from an SC_THREAD (not from a job
/// of `c` itself, which would wait for itself).
job_result run_and_wait(cpu& c, cpu::job work);

} // namespace smmu::driver::host
