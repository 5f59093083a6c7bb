// The SystemC test bench for the SMMU block: a backing memory whose bytes tests
// write directly, the SMMU with its walker and downstream ports on that memory,
// a test initiator for MMIO, a test device per TBU for DMA, and an ATS port
// standing in for a root complex (translation requests up, invalidation
// requests down, completions back when the test says so).
//
// The CPU reaches the SMMU through a router that forwards four 64 KiB pages from
// smmu_base (the two register pages and two the SMMU does not decode) and debug
// transport; everything else goes to memory. The ATS port completes invalidations
// on request, after a fixed delay (auto_complete) or in the request's own payload
// (inline_completion).
//
// A test builds a bench, lays out tables with table_writer, then runs its
// scenario in a SystemC thread with run(): MMIO and DMA calls block in
// simulated time there. Several benches (with distinct bench_config::name
// prefixes) run in one simulation with run_together().
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/arch/cd.h"
#include "model/arch/command.h"
#include "model/arch/event.h"
#include "model/arch/registers.h"
#include "model/arch/ste.h"
#include "model/smmu/smmuv3.h"
#include "model/tlm/ats.h"
#include "model/tlm/smmu_extension.h"
#include "platforms/parts/memory.h"

namespace smmu::test {

/// Simulated durations in the units the tests state them in.
inline sc_core::sc_time ns(double v) {
    return sc_core::sc_time(v, sc_core::SC_NS);
}
inline sc_core::sc_time us(double v) {
    return sc_core::sc_time(v, sc_core::SC_US);
}

/// Outcome of one DMA through a TBU.
struct dma_result {
    tlm::tlm_response_status status = tlm::TLM_INCOMPLETE_RESPONSE;
    sc_core::sc_time latency; ///< annotated delay the SMMU and memory added
    bool ok() const { return status == tlm::TLM_OK_RESPONSE; }
};

/// Options of a DMA: the side-band attributes of smmu_extension.
struct dma_attrs {
    std::optional<std::uint32_t> sid;
    std::optional<std::uint32_t> ssid;
    bool privileged = false;
    bool instruction = false;
    tlm_ext::ats_type ats = tlm_ext::ats_type::untranslated;
};

/// A master with one initiator socket: MMIO for the CPU, DMA for devices.
class initiator : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<initiator> socket;
    explicit initiator(const sc_core::sc_module_name& name);

    // Blocking, to be called from a SystemC thread: each access waits for its delay.
    std::uint32_t read32(std::uint64_t addr);
    std::uint64_t read64(std::uint64_t addr);
    void write32(std::uint64_t addr, std::uint32_t value);
    void write64(std::uint64_t addr, std::uint64_t value);
    tlm::tlm_response_status last_status() const { return m_status; }

    dma_result access(tlm::tlm_command cmd, std::uint64_t addr, void* data, unsigned len,
                      const dma_attrs& attrs = {}, bool wait_for_delay = true);
    dma_result read(std::uint64_t addr, void* data, unsigned len, const dma_attrs& attrs = {}) {
        return access(tlm::TLM_READ_COMMAND, addr, data, len, attrs);
    }
    dma_result write(std::uint64_t addr, const void* data, unsigned len,
                     const dma_attrs& attrs = {});
    /// Debug transport; returns the byte count.
    unsigned debug_read(std::uint64_t addr, void* data, unsigned len, const dma_attrs& attrs = {});
    /// An ATS Translation Request on the data socket (smmu_extension::ats ==
    /// translation_request); the completion, or nullopt if the payload was refused.
    std::optional<tlm_ext::translation_completion>
    translation_request(const tlm_ext::translation_request& req);
    /// DMI request for `cmd` (read or write); returns whether granted.
    bool request_dmi(std::uint64_t addr, tlm::tlm_dmi& dmi, const dma_attrs& attrs = {},
                     tlm::tlm_command cmd = tlm::TLM_READ_COMMAND);
    /// Sends a payload the caller built (any size, byte enables, ...) and waits for its delay.
    dma_result transport(tlm::tlm_generic_payload& gp);
    /// Debug transport of a payload the caller built; returns the byte count.
    unsigned transport_dbg(tlm::tlm_generic_payload& gp);

    unsigned dmi_invalidations() const { return m_dmi_invalidations; }

private:
    void invalidate_dmi(sc_dt::uint64, sc_dt::uint64) { ++m_dmi_invalidations; }
    tlm::tlm_response_status m_status = tlm::TLM_OK_RESPONSE;
    unsigned m_dmi_invalidations = 0;
};

/// Stands in for a PCIe root complex on the SMMU's ATS sockets.
class ats_port : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<ats_port> to_smmu;
    tlm_utils::simple_target_socket<ats_port> from_smmu;

    explicit ats_port(const sc_core::sc_module_name& name);

    /// Sends a Translation Request; blocks for its delay.
    tlm_ext::translation_completion translate(const tlm_ext::translation_request& req);
    /// Sends the Invalidation Completion of every request received so far for `sid`.
    void complete_invalidations(std::uint32_t sid);
    /// Invalidation requests received from the SMMU, in order.
    const std::vector<tlm_ext::invalidation_request>& received() const { return m_received; }
    /// When each of received() arrived (simulated time plus the annotated delay).
    const std::vector<sc_core::sc_time>& received_at() const { return m_received_at; }
    /// When set, every invalidation request is completed right away after this delay.
    std::optional<sc_core::sc_time> auto_complete;
    /// When set, every invalidation request is answered in its own payload with an
    /// Invalidation Completion, the delay annotated by this much (ats.h's first option).
    std::optional<sc_core::sc_time> inline_completion;

private:
    void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    void send_completion(std::uint32_t sid, std::uint32_t itags);
    void auto_completer();

    std::vector<tlm_ext::invalidation_request> m_received;
    std::vector<sc_core::sc_time> m_received_at;
    std::vector<tlm_ext::invalidation_request> m_pending;
    sc_core::sc_event m_new_request;
};

struct bench_config {
    /// Prefix of every module and signal name, so that several benches can share a simulation.
    std::string name;
    smmu_params params{};
    std::vector<tbu_params> tbus{tbu_params{}};
    std::uint64_t memory_base = 0;
    std::uint64_t memory_size = 64ull << 20;
    sc_core::sc_time memory_latency = sc_core::sc_time(50, sc_core::SC_NS);
    std::uint64_t smmu_base = 0x2'0000'0000ull; ///< MMIO address of the register pages
};

/// Lays out stream tables, STEs, CDs and 4 KiB page tables in the memory with
/// the architecture's encoders, as a driver would (no SMMU involved).
class table_writer {
public:
    table_writer(platform::memory& mem, std::uint64_t pool_start);

    /// A page-aligned block of zeroed memory.
    std::uint64_t alloc(std::uint64_t bytes, std::uint64_t align = 4096);

    void write_ste(std::uint64_t strtab, std::uint32_t sid, const arch::ste& s);
    void write_cd(std::uint64_t addr, const arch::cd& c);

    /// 4 KiB-granule tables starting at `start_level` for `ia_bits` input bits
    /// (stage 1 or stage 2; concatenated initial tables when ia_bits exceeds one table).
    class page_table {
    public:
        page_table(table_writer& w, int start_level, unsigned ia_bits);
        std::uint64_t root() const { return m_root; }
        /// Maps one 4 KiB page (level 3) or a block at `level` with the given leaf attribute bits.
        void map(std::uint64_t ia, std::uint64_t oa, std::uint64_t attrs, int level = 3);
        void unmap(std::uint64_t ia, int level = 3);

    private:
        std::uint64_t slot(std::uint64_t ia, int level);
        table_writer& m_w;
        int m_start;
        unsigned m_ia_bits;
        std::uint64_t m_root;
    };

    platform::memory& mem() { return m_mem; }

private:
    platform::memory& m_mem;
    std::uint64_t m_next;
};

// Leaf attribute bits (reference §8.4).
inline constexpr std::uint64_t pte_af = 1ull << 10;
inline constexpr std::uint64_t pte_ng = 1ull << 11;
inline constexpr std::uint64_t pte_ish = 3ull << 8;
inline constexpr std::uint64_t s1_rw = 1ull << 6;       ///< AP=01: read/write at any privilege
inline constexpr std::uint64_t s1_ro = 3ull << 6;       ///< AP=11: read-only at any privilege
inline constexpr std::uint64_t s1_priv_rw = 0;          ///< AP=00: privileged read/write only
inline constexpr std::uint64_t s2_rw = 3ull << 6;       ///< S2AP=11
inline constexpr std::uint64_t s2_ro = 1ull << 6;       ///< S2AP=01
inline constexpr std::uint64_t s2_normal = 0xfull << 2; ///< MemAttr Normal WB
/// A stage-1 page readable and writable by anyone, non-global.
inline constexpr std::uint64_t s1_page_rw = pte_af | pte_ng | pte_ish | s1_rw;
inline constexpr std::uint64_t s1_page_ro = pte_af | pte_ng | pte_ish | s1_ro;
inline constexpr std::uint64_t s2_page_rw = pte_af | pte_ish | s2_rw | s2_normal;
inline constexpr std::uint64_t s2_page_ro = pte_af | pte_ish | s2_ro | s2_normal;

// Structures as a Linux-like driver programs them (4 KiB granule, 48-bit spaces, walks
// starting at level 0), for tests to adjust field by field.
/// A valid AArch64 CD: T0SZ = 16, TTB1 disabled, IPS = 48 bits, A = R = 1.
arch::cd make_s1_cd(std::uint64_t ttb0, std::uint16_t asid);
/// A valid STE translating stage 1 only through the CD (or CD table) at `cd`.
arch::ste make_s1_ste(std::uint64_t cd, std::uint16_t vmid = 0);
/// A valid STE translating stage 2 only: S2T0SZ = 16, S2SL0 = 2 (level 0), S2PS = 48 bits,
/// S2R = 1.
arch::ste make_s2_ste(std::uint64_t s2ttb, std::uint16_t vmid);
/// Both stages (the CD pointer is an IPA).
arch::ste make_nested_ste(std::uint64_t cd, std::uint64_t s2ttb, std::uint16_t vmid);
/// A valid STE with Config = bypass.
arch::ste make_bypass_ste();

/// An expected event record: `id` and StreamID, every other field 0 (tests set the rest).
inline arch::event_record event(arch::event_id id, std::uint32_t sid) {
    arch::event_record e;
    e.id = id;
    e.sid = sid;
    return e;
}

/// A stage-1 stream: its CD and its (empty) page tables; the STE is written at `sid`.
struct s1_stream {
    table_writer::page_table pt;
    std::uint64_t cd;
};

class bench {
public:
    explicit bench(const bench_config& cfg = {});
    ~bench();

    platform::memory& mem() { return *m_memory; }
    smmuv3& smmu() { return *m_smmu; }
    initiator& cpu() { return *m_cpu; }
    initiator& device(std::size_t tbu = 0) { return *m_devices.at(tbu); }
    ats_port& ats() { return *m_ats; }
    table_writer& tables() { return m_tables; }
    const bench_config& config() const { return m_cfg; }

    /// Runs `scenario` in a SystemC thread, and the simulation until nothing
    /// is left to do. Returns false if the scenario did not finish (it waited
    /// for something that never happened).
    bool run(std::function<void()> scenario);
    /// Several benches in one simulation: each scenario in its bench's thread, all started at
    /// time 0. Returns true if every scenario finished.
    static bool run_together(const std::vector<std::pair<bench*, std::function<void()>>>& runs);

    // Register access by offset (from a scenario thread).
    std::uint32_t reg_read32(std::uint64_t offset) {
        return m_cpu->read32(m_cfg.smmu_base + offset);
    }
    std::uint64_t reg_read64(std::uint64_t offset) {
        return m_cpu->read64(m_cfg.smmu_base + offset);
    }
    void reg_write32(std::uint64_t offset, std::uint32_t v) {
        m_cpu->write32(m_cfg.smmu_base + offset, v);
    }
    void reg_write64(std::uint64_t offset, std::uint64_t v) {
        m_cpu->write64(m_cfg.smmu_base + offset, v);
    }

    // A minimal bring-up, as a driver would do it (scenario thread only).
    struct layout {
        std::uint64_t strtab = 0;
        unsigned strtab_log2 = 8; ///< linear table of 256 STEs
        std::uint64_t cmdq = 0;
        unsigned cmdq_log2 = 8;
        std::uint64_t eventq = 0;
        unsigned eventq_log2 = 7;
        /// SMMU_STRTAB_BASE_CFG to program; 0: linear with strtab_log2 StreamIDs.
        std::uint32_t strtab_base_cfg = 0;
    };
    /// Allocates tables and queues (call before run()).
    layout prepare(unsigned strtab_log2 = 8, unsigned cmdq_log2 = 8, unsigned eventq_log2 = 7);
    /// Programs STRTAB/queues, enables the queues, then SMMUEN (scenario thread).
    void enable(const layout& l, bool atschk = false);
    /// Writes commands at CMDQ_PROD and advances it; does not wait.
    void submit(const layout& l, const std::vector<arch::command>& cmds);
    /// The same with raw 128-bit commands (illegal ones included).
    void submit_raw(const layout& l, const std::vector<arch::command_words>& cmds);
    /// The command queue slot CMDQ_PROD will use next.
    std::uint64_t next_command_slot(const layout& l) const;
    /// The software copy of CMDQ_PROD (wrap:index).
    std::uint32_t cmdq_prod() const { return m_cmdq_prod; }
    /// Polls CMDQ_CONS every 50 ns until it equals CMDQ_PROD or an error is reported;
    /// returns CMDQ_CONS.ERR.
    arch::cmdq_error wait_for_commands(const layout& l);
    /// submit() + a CMD_SYNC (CS=NONE), then polls CMDQ_CONS until it has
    /// passed the SYNC or an error is reported; returns CMDQ_CONS.ERR.
    arch::cmdq_error submit_and_sync(const layout& l, const std::vector<arch::command>& cmds);
    /// Event records currently between EVENTQ_CONS and EVENTQ_PROD (consumes them).
    std::vector<arch::event_record> drain_events(const layout& l);

    /// Writes a stage-1 stream for `sid` (make_s1_cd / make_s1_ste) with fresh page tables.
    s1_stream add_s1_stream(const layout& l, std::uint32_t sid, std::uint16_t asid,
                            std::uint16_t vmid = 0);

    // Signals bound to the SMMU's interrupt outputs.
    sc_core::sc_signal<bool> irq_eventq;
    sc_core::sc_signal<bool> irq_gerror;
    sc_core::sc_signal<bool> irq_cmd_sync;
    sc_core::sc_signal<bool> sev;

private:
    class router; // routes CPU MMIO to the SMMU's registers or to memory
    class runner; // the thread a scenario runs in

    bench_config m_cfg;
    std::unique_ptr<platform::memory> m_memory;
    std::unique_ptr<smmuv3> m_smmu;
    std::unique_ptr<initiator> m_cpu;
    std::unique_ptr<router> m_router;
    std::vector<std::unique_ptr<initiator>> m_devices;
    std::unique_ptr<ats_port> m_ats;
    std::unique_ptr<runner> m_runner;
    table_writer m_tables;
    std::uint32_t m_cmdq_prod = 0;
    std::uint32_t m_eventq_cons = 0;
};

} // namespace smmu::test

namespace smmu::arch {
/// GoogleTest printer: every field of an event record.
void PrintTo(const event_record& e, std::ostream* os);
} // namespace smmu::arch
