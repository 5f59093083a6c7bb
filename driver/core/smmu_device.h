// One SMMU as the driver sees it: probe of the ID registers, allocation of
// the command queue, event queue and stream table, the reset / enable
// sequence (reference §1.6), interrupts, the event-queue consumer and GERROR
// handling (reference §1.3.11, §1.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "driver/core/cmdq.h"
#include "driver/core/platform.h"
#include "driver/core/strtab.h"
#include "model/arch/event.h"
#include "model/arch/features.h"
#include "model/arch/registers.h"

namespace smmu::driver {

/// Where an interrupt source sends its MSI (reference §1.3.12).
struct msi_target {
    std::uint64_t address = 0;
    std::uint32_t data = 0;
};

/// *_IRQ_CFG2 for MSIs to an interrupt controller: Device-nGnRE (reference §1.3.12).
inline constexpr std::uint32_t msi_memattr_device_ngnre = 0x1;

/// Linux's queue size caps for 4 KB pages and MAX_PAGE_ORDER 10 (4 MB queues).
inline constexpr unsigned cmdq_max_log2_default = 18;
inline constexpr unsigned eventq_max_log2_default = 17;

struct device_config {
    /// Traffic of unconfigured streams aborts (GBPA.ABORT, abort default STEs);
    /// else it bypasses. Linux's `disable_bypass`, default on.
    bool disable_bypass = true;
    /// CMD_SYNC completion; unset: MSI when IDR0.MSI and COHACC (Linux MSIPOLL),
    /// else SEV when IDR0.SEV, else polling CONS.
    std::optional<sync_method> completion;
    unsigned cmdq_max_log2 = cmdq_max_log2_default;
    unsigned eventq_max_log2 = eventq_max_log2_default;
    std::uint64_t poll_timeout_ns = default_poll_timeout_ns;
    /// Enable GERROR and EVENTQ interrupts in IRQ_CTRL.
    bool enable_irqs = true;
    /// MSI targets; unset sources use the wired interrupt (CFG0 = 0).
    std::optional<msi_target> gerror_msi;
    std::optional<msi_target> eventq_msi;
    /// CR2.E2H (needs IDR0.HYP).
    bool e2h = false;
    /// Commands per cmdq_batch before an intermediate publication (1..64).
    std::size_t batch_entries = cmdq_batch_entries;
};

/// What probe() decided beyond the feature set.
struct probe_info {
    arch::feature_set features;
    std::uint32_t idr1_raw = 0;
    sync_method completion = sync_method::poll_cons;
    unsigned cmdq_log2 = 0;   ///< queue size to try first
    unsigned eventq_log2 = 0; ///< queue size to try first
};

/// Outcome of process_events().
struct event_report {
    unsigned records = 0;
    bool overflow = false; ///< EVENTQ_PROD.OVFLG toggled: records were lost (acknowledged)
};

/// Outcome of handle_gerror().
struct gerror_report {
    std::uint32_t active = 0; ///< GERROR ^ GERRORN over the implemented bits
    arch::cmdq_error cmdq_error = arch::cmdq_error::none; ///< when CMDQ_ERR was active
    bool service_failure() const { return (active & arch::gerror::sfm_err.mask()) != 0; }
};

/// Counters of the device-level paths (not the command queue). process_events and
/// handle_gerror are each run by one context at a time (their interrupt threads).
struct device_stats {
    std::uint64_t events = 0;
    std::uint64_t event_overflows = 0;
    std::uint64_t gerrors = 0;      ///< handle_gerror() calls that found active errors
    std::uint64_t cmdq_errors = 0;  ///< of which CMDQ_ERR
    std::uint64_t ack_timeouts = 0; ///< CR0ACK / IRQ_CTRLACK / GBPA polls that timed out
};

using event_handler = std::function<void(const arch::event_record&)>;

class smmu_device {
public:
    /// `cmdq_lock` serialises command-queue producers (see cmdq.h).
    smmu_device(platform_ops& platform, lock_ops& cmdq_lock, device_config cfg = {});
    ~smmu_device();
    smmu_device(const smmu_device&) = delete;
    smmu_device& operator=(const smmu_device&) = delete;

    /// Reads IDR0/1/3/5 and checks what the driver needs: AArch64 tables, at
    /// least one stage, little-endian tables, no preset (embedded) tables or
    /// queues, a command queue larger than one batch, and the configured
    /// completion method and MSIs. unsupported otherwise.
    smmu_status probe();
    /// Allocates the command queue, the event queue and the stream table.
    smmu_status allocate();
    /// The reset / enable sequence (reference §1.6, Linux order): GBPA (ABORT
    /// per disable_bypass, set first so that it governs traffic as soon as
    /// SMMUEN is 0), CR0 = 0, CR1, CR2, stream table, command queue and
    /// CMDQEN, CFGI_ALL + TLBI_EL2_ALL (with HYP) + TLBI_NSNH_ALL + SYNC,
    /// event queue and EVENTQEN, ATSCHK (with ATS), interrupts, SMMUEN. Every
    /// CR0 / IRQ_CTRL write waits for its ACK register, GBPA for Update = 0.
    smmu_status reset();
    /// probe(), allocate(), reset().
    smmu_status bring_up();
    /// CR0 = 0 (waits for CR0ACK).
    smmu_status disable();

    /// Reads event records between EVENTQ_CONS and EVENTQ_PROD, hands each to
    /// `handler` and frees its slot (CONS written per record); acknowledges an
    /// overflow by copying OVFLG into OVACKFLG.
    event_report process_events(const event_handler& handler);

    /// The GERROR interrupt handler: active = GERROR ^ GERRORN; CMDQ_ERR is
    /// recovered as Linux does (cmdq::skip_error); then GERRORN = GERROR.
    gerror_report handle_gerror();

    const arch::feature_set& features() const { return m_info.features; }
    const probe_info& info() const { return m_info; }
    const device_config& config() const { return m_cfg; }
    bool probed() const { return m_probed; }
    cmdq& command_queue() { return m_cmdq; }
    stream_table& strtab() { return m_strtab; }
    std::uint64_t eventq_base() const { return m_evtq_base; }
    unsigned eventq_log2() const { return m_evtq_math.log2size(); }
    std::uint32_t cr0() const { return m_cr0; }
    device_stats stats() const { return m_stats; }

private:
    smmu_status write_acked(std::uint64_t reg, std::uint64_t ack, std::uint32_t value);
    smmu_status poll_until(std::uint64_t reg, std::uint32_t mask, std::uint32_t want);
    smmu_status update_gbpa(bool abort);
    smmu_status enable_cr0(std::uint32_t bits);
    smmu_status allocate_eventq();
    void release_eventq();
    smmu_status setup_irqs();
    std::uint64_t eventq_base_register() const;

    platform_ops& m_platform;
    device_config m_cfg;
    probe_info m_info;
    bool m_probed = false;
    cmdq m_cmdq;
    stream_table m_strtab;

    std::uint64_t m_evtq_base = 0;
    std::size_t m_evtq_bytes = 0;
    arch::queue_ptr_math m_evtq_math{0};
    std::uint32_t m_evtq_cons = 0; ///< wrap:index plus OVACKFLG, as last written

    std::uint32_t m_cr0 = 0;
    device_stats m_stats;
};

} // namespace smmu::driver
