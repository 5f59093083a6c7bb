// What the driver core knows of the machine it runs on, and nothing more: the
// SMMU's registers (MMIO), physical memory, DMA-able allocations, barriers,
// polling, time, locks and the CPU cost of its own work. driver/host
// implements these on simulated CPUs over TLM; unit tests implement them on
// plain memory (and real host threads where concurrency is tested).
//
// driver/core depends on model/arch (the architectural encodings are the
// contract between hardware and software) and on nothing else of the model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace smmu::driver {

/// Driver work that costs CPU time in the host binding's cost model
/// (docs/timing.md): the core reports each occurrence.
enum class cpu_op : std::uint8_t {
    pte_write,     ///< one page-table entry written
    command_write, ///< one 16-byte command written into the queue
    mmio,          ///< one register access (charged by the MMIO calls themselves)
    lock,          ///< one lock acquisition
    cons_poll,     ///< one poll of CMDQ_CONS (or of an MSI completion word)
    barrier,       ///< one memory barrier (dma_wmb / dsb)
};

/// A lock that may block the calling CPU in simulated time (driver/host) or a
/// host thread (tests). Not recursive.
class lock_ops {
public:
    virtual ~lock_ops() = default;
    virtual void lock() = 0;
    virtual void unlock() = 0;
};

/// A reader/writer lock with the same blocking rules as lock_ops.
class rw_lock_ops {
public:
    virtual ~rw_lock_ops() = default;
    virtual void lock_shared() = 0;
    virtual void unlock_shared() = 0;
    virtual void lock() = 0;
    virtual void unlock() = 0;
};

/// The machine as one driver instance sees it (one SMMU).
class platform_ops {
public:
    virtual ~platform_ops() = default;

    // SMMU registers: offsets from the SMMU base (Page 0 and Page 1).
    virtual std::uint32_t mmio_read32(std::uint64_t offset) = 0;
    virtual std::uint64_t mmio_read64(std::uint64_t offset) = 0;
    virtual void mmio_write32(std::uint64_t offset, std::uint32_t value) = 0;
    virtual void mmio_write64(std::uint64_t offset, std::uint64_t value) = 0;

    // Physical memory shared with the SMMU (tables, queues), little-endian.
    virtual void mem_read(std::uint64_t pa, void* dst, std::size_t len) = 0;
    virtual void mem_write(std::uint64_t pa, const void* src, std::size_t len) = 0;

    /// Zeroed DMA-able memory aligned to `align` (a power of two); nullopt when
    /// exhausted (the caller reports an error, never crashes).
    virtual std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align) = 0;
    virtual void free_dma(std::uint64_t pa, std::size_t bytes) = 0;

    /// Orders earlier memory writes before later ones and before MMIO (dma_wmb / dsb).
    virtual void barrier() = 0;
    /// Gives up the CPU for one polling interval (cpu_relax; WFE when `wfe`,
    /// which an SMMU SEV or an interrupt ends early).
    virtual void poll_pause(bool wfe) = 0;
    /// Monotonic time in nanoseconds (simulated time in driver/host), for timeouts.
    virtual std::uint64_t now_ns() = 0;
    /// Charges the CPU cost of `count` occurrences of `op`.
    virtual void charge(cpu_op op, unsigned count = 1) = 0;
};

/// RAII holder for lock_ops.
class lock_guard {
public:
    explicit lock_guard(lock_ops& l)
        : m_lock(l) {
        m_lock.lock();
    }
    ~lock_guard() { m_lock.unlock(); }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;

private:
    lock_ops& m_lock;
};

} // namespace smmu::driver
