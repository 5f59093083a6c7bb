// The SMMUv3 block as a SystemC TLM-2.0 module.
//
// Sockets (all LT, blocking transport with delay annotation):
//   reg_target      the programming interface: Page 0 and Page 1 (128 KiB)
//   tbus[i].upstream device traffic, one socket per TBU (see below)
//   downstream      translated device traffic towards memory
//   walker          the SMMU's own accesses: STE/CD fetches, table walks,
//                   command reads, event and MSI writes
//   ats             from the root complex: ATS Translation Requests and ATC
//                   Invalidation Completions (optional). A Translation Request may
//                   also come on a TBU's upstream socket (smmu_extension::ats ==
//                   translation_request with the message in an ats_extension).
//   ats_inv         to the root complex: ATC Invalidation Requests (optional)
// Interrupt outputs (optional): irq_eventq and irq_gerror are levels; irq_cmd_sync
// and sev pulse for one SMMU clock.
//
// Upstream ports are TBUs, one target socket each, rather than one multi-bound
// socket: each TBU has its own micro-TLB, translation slots and default
// StreamID, and DMI can be granted exactly on the ports that carry a single
// translation context (tbu_params::single_context). A multi-bound socket would
// share these across unrelated masters.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/smmu/event_queue.h"
#include "model/smmu/micro_tlb.h"
#include "model/smmu/register_file.h"
#include "model/smmu/smmu_memory.h"
#include "model/smmu/smmu_observer.h"
#include "model/smmu/smmu_params.h"
#include "model/smmu/translation_engine.h"
#include "model/timing/histogram.h"
#include "model/timing/resource.h"
#include "model/tlm/ats.h"
#include "model/tlm/smmu_extension.h"

namespace smmu {

class smmuv3;

struct tbu_params {
    /// StreamID of transactions that carry no smmu_extension (or no StreamID in it).
    std::uint32_t default_sid = 0;
    /// The port carries one translation context (one StreamID, no SubstreamIDs):
    /// DMI may be granted on it, per translated page.
    bool single_context = false;
};

/// One upstream port with its micro-TLB and translation slots.
class tbu : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket_optional<tbu> upstream;

    tbu(const sc_core::sc_module_name& name, smmuv3& owner, const tbu_params& params);

    /// Drops every micro-TLB entry and every DMI grant of this port.
    void flush();

    const micro_tlb& utlb() const { return m_utlb; }
    const timing::busy_resource& slots() const { return m_slots; }
    const tbu_params& params() const { return m_params; }

private:
    friend class smmuv3;

    void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    unsigned transport_dbg(tlm::tlm_generic_payload& trans);
    bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
    void invalidate_dmi();

    translation_request make_request(const tlm::tlm_generic_payload& trans,
                                     const tlm_ext::smmu_extension* ext, bool debug);

    smmuv3& m_owner;
    tbu_params m_params;
    micro_tlb m_utlb;
    timing::busy_resource m_slots;
    context_memo m_context; ///< the TCU's memo of this port's last translation context
    bool m_dmi_granted = false;
};

class smmuv3 : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<smmuv3> reg_target;
    tlm_utils::simple_initiator_socket<smmuv3> downstream;
    tlm_utils::simple_initiator_socket<smmuv3> walker;
    tlm_utils::simple_target_socket_optional<smmuv3> ats;
    tlm_utils::simple_initiator_socket_optional<smmuv3> ats_inv;
    sc_core::sc_vector<tbu> tbus;

    sc_core::sc_port<sc_core::sc_signal_inout_if<bool>, 1, sc_core::SC_ZERO_OR_MORE_BOUND>
        irq_eventq;
    sc_core::sc_port<sc_core::sc_signal_inout_if<bool>, 1, sc_core::SC_ZERO_OR_MORE_BOUND>
        irq_gerror;
    sc_core::sc_port<sc_core::sc_signal_inout_if<bool>, 1, sc_core::SC_ZERO_OR_MORE_BOUND>
        irq_cmd_sync;
    sc_core::sc_port<sc_core::sc_signal_inout_if<bool>, 1, sc_core::SC_ZERO_OR_MORE_BOUND> sev;

    /// Throws std::invalid_argument for inconsistent parameters.
    smmuv3(const sc_core::sc_module_name& name, const smmu_params& params,
           const std::vector<tbu_params>& ports = {tbu_params{}});

    /// Back to the reset state: registers, caches, queues, DMI grants.
    void reset();

    const smmu_params& params() const { return m_params; }
    const register_file& registers() const { return m_regs; }
    const translation_engine& engine() const { return m_engine; }

    /// Statistics of the whole block as one JSON object.
    std::string stats_json() const;

    /// Installs (or, with nullptr, removes) an observer; it must outlive its installation.
    void set_observer(smmu_observer* observer) { m_observer = observer; }
    /// IOTLB entries carrying an ASID and / or a VMID (smmu_observer's checkers).
    std::size_t iotlb_entries_tagged(std::optional<std::uint32_t> asid,
                                     std::optional<std::uint32_t> vmid) const;

    // Counters tests and platforms read directly.
    struct counters {
        std::array<std::uint64_t, 256> commands{}; ///< executed, by opcode byte
        std::uint64_t command_errors = 0;
        std::uint64_t syncs = 0;
        std::uint64_t sync_msis = 0;
        std::uint64_t sync_irqs = 0;
        std::uint64_t sevs = 0;
        std::uint64_t atc_inv_sent = 0;
        std::uint64_t atc_inv_completed = 0;
        std::uint64_t atc_inv_timeouts = 0;
        std::uint64_t ats_requests = 0;
        std::uint64_t translations = 0;
        std::uint64_t utlb_hits = 0;
        std::uint64_t dmi_grants = 0;
        std::uint64_t dmi_invalidations = 0;
        std::uint64_t gerror_irqs = 0;
        std::uint64_t eventq_irqs = 0;
        std::uint64_t msis_aborted = 0;
    };
    const counters& stats() const { return m_counters; }
    const timing::latency_histogram& sync_latency() const { return m_sync_latency; }
    const timing::latency_histogram& translation_latency() const { return m_translation_latency; }

private:
    friend class tbu;

    /// The SMMU's own memory port over the walker socket.
    class walker_memory : public smmu_memory {
    public:
        explicit walker_memory(smmuv3& owner)
            : m_owner(owner) {}
        bool read(arch::phys_addr pa, void* dst, unsigned len, mem_purpose why,
                  timing::time_ps& now, bool debug) override;
        bool write(arch::phys_addr pa, const void* src, unsigned len, mem_purpose why,
                   timing::time_ps& now) override;

    private:
        bool access(tlm::tlm_command cmd, arch::phys_addr pa, unsigned char* data, unsigned len,
                    timing::time_ps& now, bool debug);
        bool transfer(tlm::tlm_generic_payload& gp, tlm::tlm_command cmd, arch::phys_addr pa,
                      unsigned char* data, unsigned len, timing::time_ps& now, bool debug);
        smmuv3& m_owner;
        tlm::tlm_generic_payload m_payload;
        bool m_busy = false;
    };

    // Programming interface.
    void reg_b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    unsigned reg_transport_dbg(tlm::tlm_generic_payload& trans);
    void on_register_write(const write_effects& effects, timing::time_ps now);
    void refresh_config();

    // Translation (called by TBUs).
    /// What a TBU needs to forward an access.
    struct tbu_answer {
        translation_response response;
        arch::phys_addr output_address;
        unsigned size_log2;
        /// The SMMU accessed memory (a walk, a fetch, an event): a target may have waited.
        bool may_have_waited;
    };
    /// A device access: the micro-TLB, else the TCU's hit path, else translate().
    tbu_answer translate_access(tbu& port, const translation_request& req, timing::time_ps& now);
    /// A device access through the TCU (micro-TLB lookup time included).
    translation_result translate(tbu& port, const translation_request& req, timing::time_ps& now);
    /// A request from a TBU to the TCU, after its micro-TLB lookup: it holds one of the
    /// port's translation slots from then until the answer is back.
    struct tcu_trip {
        timing::time_ps issued;     ///< after the micro-TLB lookup
        timing::time_ps slot_start; ///< when a slot was free
        timing::time_ps at_tcu;     ///< the TCU's time: slot_start + link, advanced by it
    };
    tcu_trip begin_tcu_trip(const tbu& port, timing::time_ps start) const;
    /// The answer travels back; `now` becomes its arrival.
    void end_tcu_trip(tbu& port, tcu_trip& trip, timing::time_ps& now);
    /// A translation the TCU answered with `ok`: the micro-TLB fill.
    void fill_utlb(tbu& port, const translation_request& req, arch::phys_addr output_address,
                   unsigned size_log2, const arch::permission_set& permissions);
    /// Counts a TCU translation that took from `start` to `now`.
    void count_tcu_translation(timing::time_ps start, timing::time_ps now);
    /// The same without side effects (req.debug): no time, no slot, no fill, no event.
    translation_result translate_debug(const translation_request& req);

    // ATS.
    void ats_b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    void on_translation_request(tlm_ext::translation_request& req, tlm_ext::ats_extension& ext,
                                timing::time_ps& now);
    /// An Invalidation Completion that arrived at time `at`.
    void on_invalidation_completion(const tlm_ext::invalidation_completion& done,
                                    timing::time_ps at);

    // Command queue.
    void command_thread();
    enum class step { next, stop };
    step execute(const arch::command& cmd, std::uint32_t cons, const arch::queue_ptr_math& math,
                 timing::time_ps& now);
    step execute_sync(const arch::command& cmd, std::uint32_t cons,
                      const arch::queue_ptr_math& math, timing::time_ps& now);
    void send_atc_inv(const arch::command& cmd, timing::time_ps& now);
    void command_error(arch::cmdq_error err, std::uint32_t cons);
    void advance_cons(std::uint32_t cons);
    void wait_until(timing::time_ps t);

    // Events, errors, interrupts.
    void post_event(const arch::event_record& rec, timing::time_ps& now);
    void raise_gerror(const arch::field& bit, timing::time_ps& now);
    void signal_gerror(timing::time_ps& now);
    void send_msi(msi_source src, timing::time_ps& now);
    bool msi_write(std::uint64_t addr, std::uint32_t data, timing::time_ps& now);

    // Interrupt outputs. A signal bound to an output accepts one writer process, while the
    // state behind the lines changes in whichever process calls into the SMMU (CPU, devices,
    // command thread): so each output is written only by its own SC_METHOD, from that state.
    using irq_port =
        sc_core::sc_port<sc_core::sc_signal_inout_if<bool>, 1, sc_core::SC_ZERO_OR_MORE_BOUND>;
    struct pulse_line {
        sc_core::sc_event edge;
        bool high = false;
    };
    /// The levels of irq_eventq and irq_gerror follow the registers from `now` on.
    void update_irq_lines(timing::time_ps now);
    /// A one-clock pulse starting at `now`; a request while the line is high joins that pulse.
    void pulse(pulse_line& line, timing::time_ps now);
    void drive_irq_levels();
    void drive_pulse(irq_port& port, pulse_line& line);
    void drive_cmd_sync() { drive_pulse(irq_cmd_sync, m_cmd_sync_line); }
    void drive_sev() { drive_pulse(sev, m_sev_line); }

    // DMI and cache maintenance.
    void invalidate_translations(); ///< TBU micro-TLBs and DMI
    void invalidate_upstream_dmi();
    void downstream_invalidate_dmi(sc_dt::uint64 start, sc_dt::uint64 end);

    // Simulated time: absolute picoseconds inside the model, LT delays (relative to
    // sc_time_stamp()) at the sockets.
    /// sc_time_stamp(), read once for several conversions (it is an out-of-line call). Valid
    /// until the calling process waits, or calls a target that may wait.
    struct time_base {
        sc_core::sc_time stamp;
        timing::time_ps stamp_ps; ///< used when m_ps_per_tick != 0
    };
    // Inline, with a fast path for SystemC's default resolution of 1 ps: they are on every
    // device access.
    time_base time_now() const {
        const sc_core::sc_time stamp = sc_core::sc_time_stamp();
        return {stamp, stamp.value() * m_ps_per_tick};
    }
    timing::time_ps now_ps(const time_base& base, const sc_core::sc_time& delay) const {
        if (m_ps_per_tick == 1)
            return base.stamp_ps + delay.value();
        return now_ps_scaled(base, delay);
    }
    /// The LT delay (relative to base) that reaches `t`: zero if `t` is not later.
    sc_core::sc_time delay_until(const time_base& base, timing::time_ps t) const {
        if (m_ps_per_tick == 1)
            return t > base.stamp_ps ? ticks(t - base.stamp_ps) : sc_core::SC_ZERO_TIME;
        return delay_until_scaled(base, t);
    }
    /// n ticks of the time resolution. sc_time::from_value() is an out-of-line library call
    /// (it also locks the resolution); scaling one tick is inline, and exact while n + 0.5 is
    /// exact in a double.
    sc_core::sc_time ticks(std::uint64_t n) const {
        return n < (std::uint64_t{1} << 52) ? m_one_tick * static_cast<double>(n)
                                            : sc_core::sc_time::from_value(n);
    }
    timing::time_ps now_ps_scaled(const time_base& base, const sc_core::sc_time& delay) const;
    sc_core::sc_time delay_until_scaled(const time_base& base, timing::time_ps t) const;
    timing::time_ps now_ps(const sc_core::sc_time& delay) const;
    sc_core::sc_time delay_until(timing::time_ps t) const;
    static std::uint64_t ps_per_tick();

    smmu_params m_params;
    std::uint64_t m_ps_per_tick;
    sc_core::sc_time m_one_tick; ///< the time resolution
    timing::time_ps m_utlb_lookup_time;
    timing::time_ps m_link_time; ///< one way of the TBU <-> TCU link
    walker_memory m_memory;
    register_file m_regs;
    translation_engine m_engine;
    event_queue m_eventq;
    smmu_config_state m_config;
    arch::command_decode_context m_decode_context;

    sc_core::sc_event m_cmdq_kick;
    sc_core::sc_event m_atc_done;
    sc_core::sc_event m_irq_levels_changed;
    pulse_line m_cmd_sync_line;
    pulse_line m_sev_line;
    /// Outstanding ATC invalidations: ITags in use per StreamID.
    std::map<std::uint32_t, std::uint32_t> m_atc_itags;
    std::uint32_t m_atc_outstanding = 0;
    /// Latest arrival time of an Invalidation Completion: a CMD_SYNC completes no earlier.
    timing::time_ps m_atc_done_at = 0;
    /// Latest time a translation already started will finish: a CMD_SYNC
    /// completes no earlier (in-flight translations may use invalidated entries).
    timing::time_ps m_translations_busy_until = 0;

    smmu_observer* m_observer = nullptr;
    /// When each outstanding ATC invalidation was sent, by StreamID and ITag.
    std::map<std::uint32_t, std::array<timing::time_ps, 32>> m_atc_sent;
    counters m_counters;
    timing::latency_histogram m_sync_latency;
    timing::latency_histogram m_translation_latency;
};

} // namespace smmu
