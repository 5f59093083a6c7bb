#include "model/smmu/event_queue.h"

#include <array>
#include <cstddef>

namespace smmu {

namespace {

constexpr std::uint32_t ovflg_mask = static_cast<std::uint32_t>(arch::queue_ptr::overflow.mask());

/// The record as it lies in memory: four little-endian 64-bit words.
std::array<std::uint8_t, arch::event_bytes> to_bytes(const arch::event_words& words) {
    std::array<std::uint8_t, arch::event_bytes> bytes{};
    for (std::size_t w = 0; w < words.size(); ++w)
        for (std::size_t b = 0; b < 8; ++b)
            bytes[w * 8 + b] = static_cast<std::uint8_t>(words[w] >> (8 * b));
    return bytes;
}

} // namespace

const char* event_outcome_name(event_outcome o) {
    switch (o) {
    case event_outcome::written:
        return "written";
    case event_outcome::discarded_disabled:
        return "discarded_disabled";
    case event_outcome::discarded_abort_active:
        return "discarded_abort_active";
    case event_outcome::lost_full:
        return "lost_full";
    case event_outcome::aborted:
        return "aborted";
    }
    return "unknown";
}

event_queue::event_queue(register_file& regs, smmu_memory& mem, const smmu_params& params)
    : m_regs(regs)
    , m_mem(mem)
    , m_write_time(params.cycles(params.event_write_cycles)) {}

bool event_queue::non_empty() const {
    return m_regs.eventq_not_empty();
}

event_write_result event_queue::post(const arch::event_record& e, timing::time_ps& now) {
    event_write_result r;
    ++m_stats.posted;

    if (!m_regs.eventq_enabled()) {
        r.outcome = event_outcome::discarded_disabled;
        ++m_stats.discarded;
        return r;
    }
    if (m_regs.gerror_is_active(arch::gerror::eventq_abt_err)) {
        r.outcome = event_outcome::discarded_abort_active;
        ++m_stats.discarded_abort_active;
        return r;
    }

    const arch::queue_config cfg = m_regs.eventq();
    const arch::queue_ptr_math q(cfg.log2size);
    const std::uint32_t prod = m_regs.eventq_prod();
    const std::uint32_t cons = m_regs.eventq_cons();

    if (q.full(prod, cons)) {
        r.outcome = event_outcome::lost_full;
        ++m_stats.lost;
        // IHI0070 §7.4: OVFLG toggles only if no overflow condition is already present.
        if (((prod ^ cons) & ovflg_mask) == 0) {
            m_regs.set_eventq_prod(prod ^ ovflg_mask);
            r.overflow_signalled = true;
            ++m_stats.overflows;
        }
        return r;
    }

    const auto bytes = to_bytes(arch::encode_event(e));
    now = timing::saturating_add(now, m_write_time);
    if (!m_mem.write(cfg.entry_address(q.index(prod)), bytes.data(), arch::event_bytes,
                     mem_purpose::event, now)) {
        // Synchronous abort (§7.2.2): PROD stays, the queue is unwritable until acknowledged.
        r.outcome = event_outcome::aborted;
        r.gerror_activated = m_regs.activate_gerror(arch::gerror::eventq_abt_err);
        ++m_stats.aborted;
        return r;
    }

    r.outcome = event_outcome::written;
    r.became_non_empty = q.empty(prod, cons);
    m_regs.set_eventq_prod((prod & ovflg_mask) | q.advance(prod));
    ++m_stats.written;
    return r;
}

} // namespace smmu
