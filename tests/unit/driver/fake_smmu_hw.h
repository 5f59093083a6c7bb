// A platform_ops whose MMIO behaves like just enough of an SMMU for the
// driver's device, command-queue and table tests: registers that hold their
// values, CR0ACK / IRQ_CTRLACK that follow their registers, GBPA.Update that
// clears, a command consumer (decoding with model/arch) that advances
// CMDQ_CONS, performs CMD_SYNC MSI writes and can stop on an injected
// CMDQ error or stall, and an event producer. Memory is sparse and zeroed;
// DMA allocations come from a bump allocator that can be told to fail.
// Time only advances in poll_pause. Every call is serialised by one mutex so
// tests may drive it from several host threads.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "driver/core/platform.h"
#include "model/arch/command.h"
#include "model/arch/event.h"
#include "model/arch/features.h"
#include "model/arch/registers.h"

namespace smmu::driver {

/// One observable action, in order.
struct fake_smmu_trace {
    enum class kind : std::uint8_t { mmio_write, mem_write, barrier, command, msi, gerror };
    kind what = kind::barrier;
    std::uint64_t addr = 0;  ///< register offset, PA, or slot index (command)
    std::uint64_t value = 0; ///< register value, first 8 bytes written, MSI data
    std::size_t bytes = 0;
    arch::command cmd; ///< consumed command (kind::command)
};

/// Features of a typical SMMUv3.2 with small queues for tests.
arch::feature_set fake_smmu_default_features();

class fake_smmu_hw : public platform_ops {
public:
    static constexpr std::uint64_t dma_base = 0x40000000;
    static constexpr std::uint32_t gbpa_reset = 0x00001000; ///< SHCFG = incoming, as QEMU

    explicit fake_smmu_hw(const arch::feature_set& f = fake_smmu_default_features());

    // --- platform_ops -----------------------------------------------------------
    std::uint32_t mmio_read32(std::uint64_t offset) override;
    std::uint64_t mmio_read64(std::uint64_t offset) override;
    void mmio_write32(std::uint64_t offset, std::uint32_t value) override;
    void mmio_write64(std::uint64_t offset, std::uint64_t value) override;
    void mem_read(std::uint64_t pa, void* dst, std::size_t len) override;
    void mem_write(std::uint64_t pa, const void* src, std::size_t len) override;
    std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align) override;
    void free_dma(std::uint64_t pa, std::size_t bytes) override;
    void barrier() override;
    void poll_pause(bool wfe) override;
    std::uint64_t now_ns() override;
    void charge(cpu_op op, unsigned count) override;

    // --- behaviour knobs -----------------------------------------------------------
    /// Overrides a register's reset value (e.g. an ID register).
    void set_register(std::uint64_t offset, std::uint64_t value);
    void set_cr0_ack_stuck(bool stuck);
    void set_irq_ack_stuck(bool stuck);
    void set_gbpa_stuck(bool stuck);
    /// Consume everything on each CMDQ_PROD write and on error acknowledgement (default).
    void set_consume_on_prod_write(bool on);
    /// Commands consumed per CMDQ_CONS read or poll_pause (default: unlimited).
    void set_consume_per_step(unsigned n);
    /// A stalled consumer consumes nothing (CMD_SYNCs never complete).
    void set_cmdq_stalled(bool stalled);
    /// The next command with opcode `op` stops the queue with `err` (once).
    void inject_cmdq_error(arch::opcode op, arch::cmdq_error err);
    /// Called (like an interrupt) when the SMMU activates a GERROR bit.
    void set_gerror_hook(std::function<void()> hook);
    /// Allocations fail after `n` more successes.
    void fail_allocations_after(unsigned n);
    /// Allocations larger than `bytes` fail.
    void set_max_allocation(std::size_t bytes);
    void set_poll_pause_ns(std::uint64_t ns);

    /// Writes an event record at EVENTQ_PROD; false when the queue is disabled
    /// or full (then OVFLG toggles if the previous overflow was acknowledged).
    bool push_event(const arch::event_record& e);

    // --- observation -------------------------------------------------------------
    std::vector<fake_smmu_trace> trace() const;
    void clear_trace();
    /// (offset, value) of every MMIO write, in order.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> mmio_writes() const;
    std::vector<arch::command> consumed_commands() const;
    std::uint64_t reg(std::uint64_t offset) const; ///< raw register value, no side effects
    std::uint32_t cmdq_cons_reg() const;
    std::uint64_t peek64(std::uint64_t pa) const;
    std::uint32_t peek32(std::uint64_t pa) const;
    unsigned charges(cpu_op op) const;
    unsigned poll_pauses(bool wfe) const;
    unsigned mmio_reads(std::uint64_t offset) const;
    unsigned sev_signals() const;
    std::size_t live_allocations() const;
    std::size_t allocation_count() const;
    const arch::feature_set& features() const { return m_features; }

    /// Readable form of a trace entry, e.g. "mem 0x40004048 <- 0x9" or "CMD_CFGI_STE sid=5 leaf=1".
    static std::string describe(const fake_smmu_trace& t);

private:
    using lock = std::lock_guard<std::recursive_mutex>;
    std::uint8_t* page(std::uint64_t pa);
    void write_mem(std::uint64_t pa, const void* src, std::size_t len);
    void read_mem(std::uint64_t pa, void* dst, std::size_t len) const;
    void record(fake_smmu_trace t);
    bool cmdq_error_active() const;
    void raise_gerror(std::uint32_t bit);
    void consume(unsigned budget);

    mutable std::recursive_mutex m_mu;
    arch::feature_set m_features;
    arch::command_decode_context m_decode;
    std::map<std::uint64_t, std::uint64_t> m_regs;
    std::unordered_map<std::uint64_t, std::array<std::uint8_t, 4096>> m_pages;
    std::vector<fake_smmu_trace> m_trace;

    std::uint32_t m_cmdq_cons = 0; ///< wrap:index
    std::uint32_t m_cmdq_err = 0;  ///< CMDQ_CONS.ERR
    std::uint32_t m_evtq_prod = 0; ///< wrap:index | OVFLG
    bool m_in_consumer = false;
    bool m_cr0_ack_stuck = false, m_irq_ack_stuck = false, m_gbpa_stuck = false;
    bool m_consume_on_prod = true;
    unsigned m_per_step = ~0u;
    bool m_stalled = false;
    std::optional<std::pair<arch::opcode, arch::cmdq_error>> m_injection;
    std::function<void()> m_gerror_hook;

    std::uint64_t m_next_pa = dma_base;
    std::optional<unsigned> m_allocs_left;
    std::size_t m_max_alloc = ~std::size_t{0};
    std::map<std::uint64_t, std::size_t> m_live;
    std::size_t m_alloc_count = 0;

    std::uint64_t m_time = 0;
    std::uint64_t m_pause_ns = 100;
    std::array<unsigned, 8> m_charges{};
    unsigned m_pauses = 0, m_wfe_pauses = 0, m_sevs = 0;
    std::map<std::uint64_t, unsigned> m_reads;
};

/// A lock_ops on a std::mutex that counts acquisitions.
class fake_smmu_lock : public lock_ops {
public:
    void lock() override {
        m_mutex.lock();
        ++m_acquisitions;
    }
    void unlock() override { m_mutex.unlock(); }
    unsigned acquisitions() const { return m_acquisitions; }

private:
    std::mutex m_mutex;
    unsigned m_acquisitions = 0;
};

} // namespace smmu::driver
