// The command-queue producer (reference §1.4, §1.5, §5.6; linux-invs.md §4.8):
// batches of up to 64 commands, each publish made of command writes, a
// barrier and one CMDQ_PROD write, and completion of a CMD_SYNC by polling
// CMDQ_CONS, by an MSI the SYNC writes into its own slot, or by SEV + WFE.
//
// Concurrency scheme (simpler than Linux's lock-free one): producers are
// serialised by one lock_ops, the command-queue lock, held while a batch waits
// for space, is written and is published. The wait for a CMD_SYNC's completion
// happens outside the lock, so other CPUs keep queueing behind it as they do on
// Linux. A waiter decides that its SYNC was consumed from
//   * the producers' view of CONS (`m_cons`, a 64-bit count of consumed
//     commands that only producers update, under the lock, where the 20-bit
//     register value is unambiguous), or
//   * its own read of CMDQ_CONS: while the SYNC is pending, CONS is within one
//     queue of it, so the register says "consumed" only when it is. A CONS that
//     has run a whole queue or more past the SYNC could look pending, but then
//     a producer must have seen space beyond the SYNC, so `m_cons` already
//     covers it.
//   * with MSI completion, the SYNC slot's first word turning 0; the slot is
//     reused only after `m_cons` has passed it, which the waiter checks first.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "driver/core/platform.h"
#include "model/arch/command.h"
#include "model/arch/registers.h"

namespace smmu::driver {

/// Outcome of a driver operation that talks to the SMMU.
enum class smmu_status : std::uint8_t {
    ok = 0,
    no_memory,   ///< a DMA allocation failed
    timeout,     ///< the SMMU did not respond before the deadline
    unsupported, ///< the SMMU lacks something the driver needs
    bad_input,   ///< an argument is out of range
    not_ready,   ///< called before the structure was allocated / the device probed
};

const char* to_string(smmu_status s);

/// How the driver learns that a CMD_SYNC completed (reference §5.6).
enum class sync_method : std::uint8_t {
    poll_cons, ///< CS = NONE, poll CMDQ_CONS with cpu_relax
    msi,       ///< CS = IRQ, MSIAddr = the SYNC's own slot, MSIData = 0; poll that word
    sev,       ///< CS = SEV, poll CMDQ_CONS with WFE
};

const char* to_string(sync_method m);

/// Linux's CMDQ_BATCH_ENTRIES (linux-invs.md §4.8; calibration.md §1.2).
inline constexpr std::size_t cmdq_batch_entries = 64;
/// Linux's ARM_SMMU_POLL_TIMEOUT_US (1 s).
inline constexpr std::uint64_t default_poll_timeout_ns = 1'000'000'000;
/// Smallest queue the allocation fallback tries (Linux stops halving below a page).
inline constexpr std::size_t min_queue_bytes = 4096;

struct cmdq_config {
    unsigned log2_entries = 8; ///< first size tried; halved on allocation failure
    sync_method completion = sync_method::poll_cons;
    bool wfe_when_full = false; ///< IDR0.SEV: the SMMU signals when the queue stops being full
    std::uint64_t timeout_ns = default_poll_timeout_ns;
    /// Commands a cmdq_batch holds before publishing them without a CMD_SYNC:
    /// 1..64 (Linux: 64, CMDQ_BATCH_ENTRIES). A study parameter.
    std::size_t batch_entries = cmdq_batch_entries;
};

/// A snapshot of the producer's counters.
struct cmdq_stats {
    std::array<std::uint64_t, 256> commands_by_opcode{}; ///< indexed by the opcode byte
    std::uint64_t commands = 0;      ///< every command written, CMD_SYNCs included
    std::uint64_t batches = 0;       ///< issue() calls that wrote something
    std::uint64_t prod_writes = 0;   ///< CMDQ_PROD publications
    std::uint64_t syncs = 0;         ///< CMD_SYNCs that completed
    std::uint64_t space_waits = 0;   ///< publications that found the queue too full
    std::uint64_t space_wait_ns = 0; ///< time spent waiting for space
    std::uint64_t sync_wait_ns = 0;  ///< time spent waiting for CMD_SYNC completion
    std::uint64_t cons_polls = 0;    ///< CMDQ_CONS reads and MSI-word reads
    std::uint64_t timeouts = 0;
    std::uint64_t errors_skipped = 0; ///< skip_error() calls that found an error
};

/// The command queue of one SMMU: its memory, its producer state and statistics.
class cmdq {
public:
    cmdq(platform_ops& platform, lock_ops& lock);
    ~cmdq();
    cmdq(const cmdq&) = delete;
    cmdq& operator=(const cmdq&) = delete;

    /// Allocates the queue (2^log2_entries commands, halving on failure down to
    /// min_queue_bytes) and resets the pointers to 0. Frees a previous queue.
    smmu_status allocate(const cmdq_config& cfg);
    void release();
    bool allocated() const { return m_size_bytes != 0; }

    /// Pointers back to 0 (the driver writes CMDQ_PROD = CMDQ_CONS = 0 with it).
    void reset_pointers();
    /// SMMU_CMDQ_BASE: RA | ADDR | LOG2SIZE.
    std::uint64_t base_register() const;
    std::uint64_t base_address() const { return m_base; }
    unsigned log2_entries() const { return m_math.log2size(); }
    std::uint32_t entries() const { return std::uint32_t{1} << m_math.log2size(); }
    const cmdq_config& config() const { return m_cfg; }
    /// Changes the completion method and timeout (e.g. from probe) without reallocating.
    void set_completion(sync_method m, bool wfe_when_full, std::uint64_t timeout_ns);

    /// Writes `count` commands (then a CMD_SYNC if `with_sync`) and publishes
    /// them; with a SYNC, waits for its completion. Batches larger than the
    /// queue are published a queue at a time. Timeout when the queue stays full
    /// or the SYNC does not complete (the caller then runs handle_gerror).
    smmu_status issue(const arch::command* cmds, std::size_t count, bool with_sync);
    /// One command followed by a CMD_SYNC.
    smmu_status issue_with_sync(const arch::command& cmd) { return issue(&cmd, 1, true); }

    /// CMDQ_ERR recovery (reference §1.5), the cmdq half of handle_gerror: reads
    /// CMDQ_CONS.ERR; CERROR_ILL: the command at CONS becomes a CMD_SYNC;
    /// CERROR_ABT: nothing (the SMMU retries the fetch); CERROR_ATC_INV_SYNC: the
    /// SYNC at CONS is written again. Returns the error found. Takes no lock:
    /// the slot at CONS belongs to the SMMU until it is consumed.
    arch::cmdq_error skip_error();

    /// The CMD_SYNC this queue writes into slot `index` for its completion method.
    arch::command make_sync_for_slot(std::uint32_t index) const;

    cmdq_stats stats() const;

private:
    std::uint32_t ptr(std::uint64_t count) const {
        return static_cast<std::uint32_t>(count & m_math.wrap_index_mask());
    }
    std::uint64_t slot_address(std::uint32_t index) const {
        return m_base + std::uint64_t{index} * arch::command_bytes;
    }
    void refresh_cons();
    smmu_status wait_for_space(std::uint32_t needed);
    smmu_status wait_for_sync(std::uint64_t sync_end);
    bool sync_done(std::uint64_t sync_end);
    void write_command(std::uint64_t position, const arch::command& cmd);

    platform_ops& m_platform;
    lock_ops& m_lock;
    cmdq_config m_cfg;
    std::uint64_t m_base = 0;
    std::size_t m_size_bytes = 0;
    arch::queue_ptr_math m_math{0};

    std::uint64_t m_prod = 0;             ///< commands published (under m_lock)
    std::atomic<std::uint64_t> m_cons{0}; ///< commands known consumed (written under m_lock)

    std::array<std::atomic<std::uint64_t>, 256> m_by_opcode{};
    std::atomic<std::uint64_t> m_commands{0}, m_batches{0}, m_prod_writes{0}, m_syncs{0};
    std::atomic<std::uint64_t> m_space_waits{0}, m_space_wait_ns{0}, m_sync_wait_ns{0};
    std::atomic<std::uint64_t> m_cons_polls{0}, m_timeouts{0}, m_errors_skipped{0};
};

/// A producer-side batch as Linux keeps on the stack (linux-invs.md §4.8): up to
/// 64 commands (cmdq_config::batch_entries); adding one more publishes them
/// without a CMD_SYNC first.
class cmdq_batch {
public:
    explicit cmdq_batch(cmdq& q)
        : m_queue(q) {}

    /// Appends; when the batch is full, publishes it (no SYNC) first.
    smmu_status add(const arch::command& cmd);
    /// Publishes what is held plus a CMD_SYNC and waits for it (a lone SYNC when empty).
    smmu_status sync();
    /// Publishes what is held without a CMD_SYNC.
    smmu_status flush_without_sync();

    std::size_t size() const { return m_count; }
    bool empty() const { return m_count == 0; }

private:
    cmdq& m_queue;
    std::array<arch::command, cmdq_batch_entries> m_cmds{};
    std::size_t m_count = 0;
};

} // namespace smmu::driver
