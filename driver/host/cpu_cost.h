// The CPU cost model of the simulated CPUs (docs/timing.md, "CPU cost model"):
// what each piece of driver work costs in nanoseconds of simulated CPU time.
// Defaults are derived from the calibration targets of calibration.md §8;
// the derivation is in docs/timing.md.
//
// Charging happens in exactly one place per kind of work:
//   * pte_write, command_write, lock, cons_poll, barrier: driver/core reports
//     each occurrence through platform_ops::charge (the sim locks and
//     platform_ops::barrier() charge nothing themselves);
//   * MMIO: the cpu's mmio_read / mmio_write calls (driver/core never charges
//     cpu_op::mmio);
//   * memory accesses, polling pauses and WFE: the cpu's own calls.
#pragma once

#include <cmath>

#include "driver/core/platform.h"

namespace smmu::driver::host {

struct cpu_cost {
    /// One page-table entry written (the store plus the walk bookkeeping around it).
    double pte_write_ns = 1.5;
    /// One 16-byte command built and written into the queue.
    double command_write_ns = 15.0;
    /// One register read: a non-posted round trip to the SMMU's register block.
    double mmio_read_ns = 60.0;
    /// One register write: posted, the CPU continues once it leaves.
    double mmio_write_ns = 20.0;
    /// One lock acquisition, uncontended (atomic read-modify-write plus release).
    double lock_ns = 40.0;
    /// The software side of one poll of CMDQ_CONS or an MSI word (the MMIO or
    /// memory read itself is charged separately).
    double cons_poll_ns = 25.0;
    /// One memory barrier (dma_wmb / dsb).
    double barrier_ns = 10.0;
    /// One CPU access to table or queue memory when the CPU's caches are
    /// modelled (cpu_params::cached_memory): a cache hit.
    double mem_access_ns = 0.5;
    /// One cpu_relax() pause of a polling loop.
    double poll_interval_ns = 10.0;
    /// From the wake-up event to the CPU running again after WFE.
    double wfe_wakeup_ns = 10.0;
    /// Longest WFE without an event (the wake-up that always comes: on arm64
    /// the timer event stream, every 100 µs; see docs/timing.md for the default).
    double wfe_timeout_ns = 10.0;

    /// The cost of one occurrence of `op` (cpu_op::mmio: a register read).
    double ns(cpu_op op) const {
        switch (op) {
        case cpu_op::pte_write:
            return pte_write_ns;
        case cpu_op::command_write:
            return command_write_ns;
        case cpu_op::mmio:
            return mmio_read_ns;
        case cpu_op::lock:
            return lock_ns;
        case cpu_op::cons_poll:
            return cons_poll_ns;
        case cpu_op::barrier:
            return barrier_ns;
        }
        return 0.0;
    }

    /// Every value finite and non-negative; polling and WFE take time (> 0), so
    /// that no wait loop can spin in zero simulated time.
    bool valid() const {
        for (const double v :
             {pte_write_ns, command_write_ns, mmio_read_ns, mmio_write_ns, lock_ns, cons_poll_ns,
              barrier_ns, mem_access_ns, poll_interval_ns, wfe_wakeup_ns, wfe_timeout_ns})
            if (!std::isfinite(v) || v < 0.0)
                return false;
        return poll_interval_ns > 0.0 && wfe_timeout_ns > 0.0;
    }
};

/// Number of cpu_op values (for per-operation statistics).
inline constexpr unsigned cpu_op_count = 6;

} // namespace smmu::driver::host
