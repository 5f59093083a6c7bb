// The SMMU side of the Non-secure Event queue: writes 32-byte event records at
// EVENTQ_PROD, advances PROD, signals overflow through EVENTQ_PROD.OVFLG and write aborts
// through GERROR.EVENTQ_ABT_ERR (reference §1.4, §6; IHI0070 §7.2, §7.4). Interrupts are
// the shell's business: it raises the event interrupt / MSI when a post reports the queue
// going non-empty and EVENTQ_IRQEN is set, and the GERROR one when a post activated an error.
//
// Not modelled: event merging (§6.3) and stall records (this SMMU is terminate-only by
// default; a record with Stall = 1 is treated like any other and may be lost). Queue writes
// abort synchronously: PROD is not advanced past an aborted record.
#pragma once

#include <cstdint>

#include "model/arch/event.h"
#include "model/smmu/register_file.h"
#include "model/smmu/smmu_memory.h"
#include "model/smmu/smmu_params.h"
#include "model/timing/clock.h"

namespace smmu {

enum class event_outcome : std::uint8_t {
    written,                ///< written at the PROD index, PROD advanced
    discarded_disabled,     ///< EVENTQEN == 0: dropped silently, no overflow
    discarded_abort_active, ///< unacknowledged EVENTQ_ABT_ERR: queue unwritable (§7.2.1)
    lost_full,              ///< queue full: lost, overflow condition entered if not present
    aborted,                ///< the memory write aborted: EVENTQ_ABT_ERR, record lost
};

const char* event_outcome_name(event_outcome o);

struct event_write_result {
    event_outcome outcome = event_outcome::discarded_disabled;
    /// The queue was empty before this record and is not any more.
    bool became_non_empty = false;
    /// This post toggled EVENTQ_PROD.OVFLG (a new overflow condition).
    bool overflow_signalled = false;
    /// This post activated GERROR.EVENTQ_ABT_ERR.
    bool gerror_activated = false;

    bool written() const { return outcome == event_outcome::written; }
};

struct event_queue_stats {
    std::uint64_t posted = 0;
    std::uint64_t written = 0;
    std::uint64_t discarded = 0;              ///< EVENTQEN == 0
    std::uint64_t discarded_abort_active = 0; ///< while EVENTQ_ABT_ERR was active
    std::uint64_t lost = 0;                   ///< queue full
    std::uint64_t aborted = 0;                ///< write aborted
    std::uint64_t overflows = 0;              ///< overflow conditions entered (OVFLG toggles)
};

class event_queue {
public:
    /// Keeps references to `regs` and `mem`; copies what it needs of `params`.
    event_queue(register_file& regs, smmu_memory& mem, const smmu_params& params);

    /// Records one event. `now` is when the SMMU starts writing it; when a write is attempted
    /// it advances by event_write_cycles plus the memory latency of the write. Discarded and
    /// lost records cost no time.
    event_write_result post(const arch::event_record& e, timing::time_ps& now);

    /// PROD != CONS (wrap:index): entries are waiting for software.
    bool non_empty() const;

    const event_queue_stats& stats() const { return m_stats; }
    void reset_stats() { m_stats = {}; }

private:
    register_file& m_regs;
    smmu_memory& m_mem;
    timing::time_ps m_write_time;
    event_queue_stats m_stats;
};

} // namespace smmu
