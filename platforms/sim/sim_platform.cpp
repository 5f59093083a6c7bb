#define SC_INCLUDE_DYNAMIC_PROCESSES
#include "platforms/sim/sim_platform.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <unistd.h>

#include "model/arch/invalidation.h"
#include "model/smmu/smmu_observer.h"
#include "traces/workload.h"

namespace smmu::sim {

using sc_core::SC_PS;
using sc_core::sc_time;

namespace {

constexpr std::uint64_t k_memory_base = 0x8000'0000;
constexpr std::uint64_t k_smmu_base = 0x1000'0000;
constexpr std::uint64_t k_driver_pool = 32ull << 20;   ///< at the top of the memory
constexpr std::uint64_t k_guest_ipa = 0x4000'0000;     ///< guest RAM of the nested groups' VM
constexpr std::uint64_t k_guest_kernel = 2ull << 20;   ///< guest RAM for its CDs and page tables
constexpr std::uint64_t k_guest_align = 2ull << 20;    ///< guest RAM is mapped with 2 MiB blocks
constexpr std::uint32_t k_guest_domains = 0x8000'0000; ///< checker ids of guest domains
constexpr std::uint64_t k_buffer_iova = 0x4000'0000;   ///< generators' long-lived buffers
constexpr std::uint64_t k_mapper_iova = 0x1'0000'0000; ///< the ring mapper's IOVA space
constexpr std::uint32_t k_sva_pasid = 1;

timing::time_ps now_ps() {
    return pcie::now_ps(sc_core::SC_ZERO_TIME);
}

std::string format_ps(std::uint64_t ps) {
    if (ps >= 1'000'000'000)
        return fmt::format("{:.3f} ms", static_cast<double>(ps) / 1e9);
    if (ps >= 1'000'000)
        return fmt::format("{:.2f} us", static_cast<double>(ps) / 1e6);
    return fmt::format("{:.0f} ns", static_cast<double>(ps) / 1e3);
}

/// SystemC names allow letters, digits and '_' only.
std::string module_name(std::string name) {
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
            c = '_';
    return name;
}

std::uint64_t page_round(std::uint64_t bytes) {
    return (bytes + 4095) & ~std::uint64_t{4095};
}

std::uint64_t ring_pool_bytes(const pcie::ring_params& r) {
    return page_round(r.buffer_bytes) * (r.depth + 2) +
           page_round(std::uint64_t{r.slots} * (r.descriptor_bytes + r.completion_bytes));
}

/// The memory an endpoint's generator needs for its buffers.
std::uint64_t buffer_bytes_of(const generator_config& q) {
    switch (q.kind) {
    case generator_kind::stream:
    case generator_kind::random:
        return page_round(q.buffer_bytes);
    case generator_kind::ring:
        return page_round(ring_pool_bytes(q.ring));
    case generator_kind::none:
        break;
    }
    return 0;
}

driver::iommu_prot rw_prot() {
    driver::iommu_prot p;
    p.read = true;
    p.write = true;
    p.cache = true;
    return p;
}

} // namespace

// ---------------------------------------------------------------- pieces

/// The virtual machine of the nested groups: guest RAM (an IPA window the
/// nesting parent maps onto a block of the platform's memory), the vSMMU, and
/// the guest's SMMU driver, which runs on the platform's CPUs (vCPUs).
struct sim_platform::virtual_machine {
    driver::host::guest_window window;
    std::uint64_t buffer_next = 0; ///< IPA bump allocator of guest buffers
    driver::domain_id parent = 0;
    driver::vsmmu_id vsmmu = 0;
    std::uint32_t vmid = 0;
    std::uint32_t next_vsid = 1; ///< vSIDs 1, 2, ... in set-up order
    std::unique_ptr<driver::host::guest_memory> memory;
    std::unique_ptr<driver::guest_driver> guest;
    std::map<std::string, driver::domain_id> shared; ///< shared_domain groups' guest domains
};

struct sim_platform::endpoint_slot {
    std::size_t index = 0;
    const group_config* group = nullptr;
    std::string name; ///< "<group>.<n>"
    std::uint32_t sid = 0;
    pcie::requester_id rid = 0;
    unsigned cpu = 0;
    std::unique_ptr<pcie::endpoint> ep;
    driver::domain_id domain = 0; ///< RID domain (in_vm: the guest's domain)
    bool in_vm = false;           ///< a nested group's endpoint: the VM's device
    std::uint32_t vsid = 0;       ///< in_vm: its StreamID in the guest

    /// The checker's name of `domain`: guest domains get their own range.
    std::uint32_t checker_domain() const { return in_vm ? k_guest_domains | domain : domain; }
    driver::domain_id sva_domain = 0; ///< at PASID 1 (domain_mode::sva)
    driver::domain_id churn_domain = 0;
    std::unique_ptr<mapper> buffers;
    std::unique_ptr<pcie::traffic_generator> generator;
    traces::track_id track{};
};

/// The DMA API for one endpoint's ring buffers: an IOVA allocator that reuses
/// freed addresses first (as Linux's IOVA caches do), physical buffers from a
/// per-endpoint pool, and the driver's map / unmap on the endpoint's CPU.
class sim_platform::mapper final : public pcie::buffer_mapper {
public:
    mapper(sim_platform& p, endpoint_slot& e, std::uint64_t pool, std::uint64_t pool_bytes)
        : m_p(p)
        , m_e(e)
        , m_pool(pool)
        , m_pool_bytes(pool_bytes) {}

    std::optional<std::uint64_t> map(std::uint32_t bytes, bool) override {
        const std::uint64_t size = page_round(bytes);
        if (size > m_pool_bytes)
            return std::nullopt;
        std::uint64_t iova = 0;
        auto& free = m_free[size];
        if (!free.empty()) {
            iova = free.back();
            free.pop_back();
        } else {
            iova = m_next_iova;
            m_next_iova += size;
        }
        if (m_pool_next + size > m_pool_bytes)
            m_pool_next = 0;
        const std::uint64_t pa = m_pool + m_pool_next;
        m_pool_next += size;
        const timing::time_ps begin = now_ps();
        const driver::op_result r =
            m_p.on_cpu(m_e.cpu, "map", [&] { return m_p.map_buffer(m_e, iova, pa, size); });
        m_p.m_map_latency.record(now_ps() - begin);
        if (!r.ok()) {
            free.push_back(iova);
            return std::nullopt;
        }
        m_p.m_checker.mapped(m_e.checker_domain(), iova, size);
        return iova;
    }

    void unmap(std::uint64_t iova, std::uint32_t bytes) override {
        const std::uint64_t size = page_round(bytes);
        const timing::time_ps begin = now_ps();
        m_p.on_cpu(m_e.cpu, "unmap", [&] { return m_p.unmap_buffer(m_e, iova, size); });
        m_p.m_unmap_latency.record(now_ps() - begin);
        m_p.m_checker.unmapped(m_e.checker_domain(), iova, size, now_ps());
        m_free[size].push_back(iova);
    }

private:
    sim_platform& m_p;
    endpoint_slot& m_e;
    std::uint64_t m_pool;
    std::uint64_t m_pool_bytes;
    std::uint64_t m_pool_next = 0;
    std::uint64_t m_next_iova = k_mapper_iova;
    std::map<std::uint64_t, std::vector<std::uint64_t>> m_free;
};

/// Feeds the SMMU's observations to the checker and the timeline.
class sim_platform::observer final : public smmu_observer {
public:
    explicit observer(sim_platform& p)
        : m_p(p) {
        if (p.m_timeline) {
            m_batches = p.m_timeline->track("smmu", "command batches");
            m_commands = p.m_timeline->track("smmu", "command queue");
            m_walks = p.m_timeline->track("smmu", "walks");
        }
    }

    void translation(std::uint32_t sid, std::optional<std::uint32_t> ssid, std::uint64_t iova,
                     bool ats, timing::time_ps at) override {
        m_p.m_checker.translation_used({sid, ssid}, iova, at, ats ? "ATS completion" : "DMA");
    }

    void command(const arch::command& c, timing::time_ps begin, timing::time_ps end) override {
        if (arch::is_tlbi(c.op))
            m_p.m_checker.tlbi_executed(0);
        else if (c.op == arch::opcode::sync)
            m_p.m_checker.sync_completed(0);
        else if (c.op == arch::opcode::atc_inv)
            m_p.m_checker.atc_inv_executed(0, c.sid, begin);
        if (!m_p.m_timeline)
            return;
        m_p.m_timeline->span(m_commands, arch::opcode_name(c.op), begin, end);
        // A batch: the commands up to and including the CMD_SYNC that completes them.
        if (m_batch_commands++ == 0)
            m_batch_begin = begin;
        if (c.op == arch::opcode::sync) {
            m_p.m_timeline->span(m_batches, "batch", m_batch_begin, end,
                                 {traces::arg("commands", m_batch_commands)});
            m_batch_commands = 0;
        }
    }

    void atc_invalidation(std::uint32_t sid, timing::time_ps sent, timing::time_ps done) override {
        if (!m_p.m_timeline)
            return;
        for (const auto& e : m_p.m_endpoints)
            if (e->sid == sid)
                m_p.m_timeline->async_span(e->track, "ATC invalidation", sent, done);
    }

    void walk(std::uint32_t sid, std::uint64_t iova, timing::time_ps begin,
              timing::time_ps end) override {
        if (m_p.m_timeline)
            m_p.m_timeline->async_span(
                m_walks, "walk", begin, end,
                {traces::arg("sid", std::uint64_t{sid}), traces::arg::hex("iova", iova)});
    }

private:
    sim_platform& m_p;
    traces::track_id m_batches{};
    traces::track_id m_commands{};
    traces::track_id m_walks{};
    timing::time_ps m_batch_begin = 0;
    std::uint64_t m_batch_commands = 0;
};

/// The SystemC process that sets the platform up and runs churn and the trace.
class sim_platform::top : public sc_core::sc_module {
public:
    bool finished = false;

    top(const sc_core::sc_module_name& name, sim_platform& p)
        : sc_module(name)
        , m_p(p) {
        SC_HAS_PROCESS(top);
        SC_THREAD(main);
    }

private:
    void main() {
        if (!m_p.set_up())
            return;
        m_p.m_start.notify(sc_core::SC_ZERO_TIME);
        wait(sc_core::SC_ZERO_TIME);
        sc_core::sc_spawn([this] { m_p.interrupts(); }, "interrupts");
        sc_core::sc_process_handle churn = sc_core::sc_spawn([this] { m_p.churn(); }, "churn");
        sc_core::sc_process_handle trace =
            sc_core::sc_spawn([this] { m_p.replay_trace(); }, "trace");
        if (m_p.m_progress)
            sc_core::sc_spawn([this] { progress(); }, "progress");
        for (const auto& e : m_p.m_endpoints)
            if (e->generator && !e->generator->finished())
                wait(e->generator->done());
        if (!churn.terminated())
            wait(churn.terminated_event());
        if (!trace.terminated())
            wait(trace.terminated_event());
        finished = true;
        if (m_p.m_progress)
            std::fprintf(stderr, "\r%60s\r", "");
    }

    /// On a terminal: simulated time and completion, at most four times a host second.
    void progress() {
        auto last = std::chrono::steady_clock::now();
        while (!finished) {
            wait(sc_time(20, sc_core::SC_US));
            const auto now = std::chrono::steady_clock::now();
            if (finished || now - last < std::chrono::milliseconds(250))
                continue;
            last = now;
            std::fprintf(stderr, "\rsimulated %s  %3.0f %%   ", format_ps(now_ps()).c_str(),
                         100.0 * m_p.progress_fraction());
            std::fflush(stderr);
        }
    }

    sim_platform& m_p;
};

// ---------------------------------------------------------------- construction

sim_platform::sim_platform(const sim_config& cfg, const std::string& timeline_path)
    : m_cfg(cfg)
    , m_sev("sev")
    , m_irq_gerror("irq_gerror")
    , m_irq_eventq("irq_eventq")
    , m_dma(k_memory_base + cfg.memory_bytes - k_driver_pool, k_driver_pool) {
    validate(m_cfg);
    if (m_cfg.memory_bytes < 2 * k_driver_pool)
        throw config_error("configuration: key \"platform.memory_bytes\": at least 64 MiB");
    if (!timeline_path.empty()) {
        traces::timeline_options o;
        o.event_limit = m_cfg.trace_event_limit;
        m_timeline = std::make_unique<traces::timeline_writer>(timeline_path, o);
    }
    tlm::tlm_global_quantum::instance().set(sc_time(static_cast<double>(m_cfg.quantum_ps), SC_PS));
    const sc_time mem_latency(static_cast<double>(m_cfg.memory_latency_ps), SC_PS);
    m_memory = std::make_unique<platform::memory>("memory", k_memory_base, m_cfg.memory_bytes,
                                                  mem_latency, mem_latency);
    smmu_params sp = m_cfg.smmu;
    m_smmu = std::make_unique<smmuv3>("smmu", sp, std::vector<tbu_params>{tbu_params{}});
    m_bus = std::make_unique<platform::router>("bus");
    m_bus->out.bind(m_smmu->reg_target);
    m_bus->out.bind(m_memory->socket);
    m_bus->map(k_smmu_base, 2 * arch::reg_page_size, 0);
    m_bus->map(k_memory_base, m_cfg.memory_bytes, 1, k_memory_base);
    m_smmu->walker.bind(m_memory->socket);
    m_smmu->downstream.bind(m_memory->socket);
    m_smmu->sev.bind(m_sev);
    m_smmu->irq_gerror.bind(m_irq_gerror);
    m_smmu->irq_eventq.bind(m_irq_eventq);

    driver::host::cpu_params cp = m_cfg.cpu;
    cp.mmio_base = k_smmu_base;
    for (unsigned i = 0; i < m_cfg.cpus; ++i) {
        m_cpus.push_back(
            std::make_unique<driver::host::cpu>(fmt::format("cpu{}", i).c_str(), m_dma, cp));
        m_cpus.back()->mmio.bind(m_bus->in);
        m_cpus.back()->mem.bind(m_bus->in);
        m_cpus.back()->sev.bind(m_sev);
    }
    m_irq_cpu = std::make_unique<driver::host::cpu>("irq_cpu", m_dma, cp);
    m_irq_cpu->mmio.bind(m_bus->in);
    m_irq_cpu->mem.bind(m_bus->in);
    m_irq_cpu->sev.bind(m_sev);
    m_platform = std::make_unique<driver::host::current_cpu_platform>(*m_cpus.at(0));
    driver::driver_options opts;
    opts.granule = m_cfg.granule;
    opts.faults = m_cfg.faults;
    opts.device.batch_entries = m_cfg.batch_entries;
    m_driver = std::make_unique<driver::smmu_driver>(*m_platform, m_locks, m_rw_locks, opts);

    build_endpoints();
    build_generators();
    load_trace();
    m_observer = std::make_unique<observer>(*this);
    m_smmu->set_observer(m_observer.get());
    m_top = std::make_unique<top>("top", *this);
}

sim_platform::~sim_platform() {
    m_driver.reset();
    if (m_timeline)
        m_timeline->close();
}

void sim_platform::build_endpoints() {
    pcie::root_complex_params rp;
    rp.ports.clear();
    std::size_t k = 0;
    for (const group_config& g : m_cfg.groups)
        for (std::uint32_t n = 0; n < g.count; ++n, ++k) {
            auto e = std::make_unique<endpoint_slot>();
            e->index = k;
            e->group = &g;
            e->name = fmt::format("{}.{}", g.name, n);
            e->rid = pcie::make_requester_id(1, static_cast<unsigned>(k % 32),
                                             static_cast<unsigned>(k / 32));
            e->sid = g.stream_id_base != 0 ? g.stream_id_base + n : e->rid;
            e->cpu = static_cast<unsigned>(k % m_cfg.cpus);
            e->in_vm = g.domain == domain_mode::nested;
            pcie::endpoint_params ep;
            ep.rid = e->rid;
            ep.ats_capable = g.ats;
            ep.pasid_capable = g.pasid || g.domain == domain_mode::sva;
            ep.max_payload_bytes = g.max_payload_bytes;
            ep.atc = g.atc;
            ep.atc.seed = m_cfg.seed + k;
            ep.invalidation_completion_latency_ps = g.invalidation_latency_ps;
            ep.answer_invalidations = g.answer_invalidations;
            try {
                e->ep = std::make_unique<pcie::endpoint>(module_name(e->name).c_str(), ep);
            } catch (const std::invalid_argument& ex) {
                throw config_error(
                    fmt::format("configuration: group \"{}\": {}", g.name, ex.what()));
            }
            pcie::root_port_params port;
            port.upstream.latency_ps = g.link_latency_ps;
            port.downstream.latency_ps = g.link_latency_ps;
            port.upstream.bandwidth_mb_s = g.link_mb_per_s;
            port.downstream.bandwidth_mb_s = g.link_mb_per_s;
            port.max_payload_bytes = g.max_payload_bytes;
            rp.ports.push_back(port);
            rp.functions.push_back({e->rid, k});
            for (const auto& other : m_endpoints)
                if (other->sid == e->sid)
                    throw config_error(
                        fmt::format("configuration: group \"{}\": StreamID {:#x} is used twice",
                                    g.name, e->sid));
            rp.stream_ids[e->rid] = e->sid;
            if (m_timeline)
                e->track = m_timeline->track("endpoints", e->name);
            e->ep->on_atc_hit = [this, sid = e->sid](std::uint64_t iova,
                                                     std::optional<std::uint32_t> pasid,
                                                     timing::time_ps at) {
                m_checker.translation_used({sid, pasid}, iova, at, "ATC hit");
            };
            m_endpoints.push_back(std::move(e));
        }
    m_rc = std::make_unique<pcie::root_complex>("rc", rp);
    for (auto& e : m_endpoints) {
        e->ep->upstream.bind(m_rc->upstream);
        m_rc->downstream.bind(e->ep->inv_in);
    }
    m_rc->to_smmu.bind(m_smmu->tbus[0].upstream);
    m_rc->ats_to_smmu.bind(m_smmu->ats);
    m_smmu->ats_inv.bind(m_rc->ats_from_smmu);
}

void sim_platform::build_generators() {
    // Physical memory for buffers: from the bottom of the memory up.
    m_data_next = k_memory_base;
    reserve_guest_ram();
    for (auto& e : m_endpoints) {
        const generator_config& q = e->group->generator;
        if (q.kind == generator_kind::none)
            continue;
        pcie::generator_spec spec;
        spec.start_time = sc_time(static_cast<double>(q.start_ps), SC_PS);
        spec.start_event = &m_start;
        spec.stop.transactions = q.transactions;
        if (m_cfg.end_ps != 0)
            spec.stop.end_time = sc_time(static_cast<double>(m_cfg.end_ps), SC_PS);
        spec.think_time = sc_time(static_cast<double>(q.think_ps), SC_PS);
        const std::optional<std::uint32_t> pasid = e->group->domain == domain_mode::sva
                                                       ? std::optional<std::uint32_t>{k_sva_pasid}
                                                       : std::nullopt;
        switch (q.kind) {
        case generator_kind::stream: {
            pcie::stream_params s;
            s.base = k_buffer_iova;
            s.size = q.buffer_bytes;
            s.transfer_bytes = q.transfer_bytes;
            s.mode = q.mode;
            s.read_fraction = q.read_fraction;
            s.seed = m_cfg.seed + e->index;
            s.pasid = pasid;
            spec.kind = s;
            break;
        }
        case generator_kind::random: {
            pcie::random_params r;
            r.base = k_buffer_iova;
            r.working_set = q.buffer_bytes;
            r.transfer_bytes = q.transfer_bytes;
            r.read_fraction = q.read_fraction;
            r.seed = m_cfg.seed + e->index;
            r.pasid = pasid;
            spec.kind = r;
            break;
        }
        case generator_kind::ring: {
            pcie::ring_params r = q.ring;
            r.pasid = std::nullopt; // ring buffers live in the RID's DMA domain
            spec.kind = r;
            spec.stop.transactions = 3 * q.transactions; // descriptor, buffer, completion
            const std::uint64_t pool = ring_pool_bytes(r);
            e->buffers = std::make_unique<mapper>(*this, *e, take_buffer(*e, pool), pool);
            break;
        }
        case generator_kind::none:
            break;
        }
        try {
            e->generator = std::make_unique<pcie::traffic_generator>(
                module_name(e->name + "_traffic").c_str(), *e->ep, spec, e->buffers.get());
        } catch (const std::invalid_argument& ex) {
            throw config_error(fmt::format("configuration: group \"{}\" generator: {}",
                                           e->group->name, ex.what()));
        }
    }
}

// ---------------------------------------------------------------- simulated software

driver::op_result sim_platform::on_cpu(unsigned cpu, const char* name,
                                       const std::function<driver::op_result()>& op) {
    driver::op_result r;
    const timing::time_ps begin = now_ps();
    driver::host::run_and_wait(*m_cpus.at(cpu), [&](driver::platform_ops&) { r = op(); });
    if (m_timeline) {
        const traces::track_id t = m_timeline->track("cpus", fmt::format("cpu{}", cpu));
        m_timeline->span(t, name, begin, now_ps(),
                         {traces::arg("commands", r.total_commands()),
                          traces::arg("status", driver::to_string(r.status))});
    }
    if (!r.ok())
        ++m_driver_errors;
    return r;
}

bool sim_platform::set_up() {
    auto fail = [this](const std::string& what, const driver::op_result& r) {
        m_result.error = fmt::format("{}: {}", what, driver::to_string(r.status));
        return false;
    };
    const driver::op_result up = on_cpu(0, "bring_up", [&] { return m_driver->bring_up(); });
    if (!up.ok())
        return fail("SMMU bring-up", up);
    for (auto& e : m_endpoints) {
        const group_config& g = *e->group;
        driver::master_config mc;
        mc.sids = {e->sid};
        pcie::endpoint* ep = e->ep.get();
        mc.ats_capable = g.ats && g.driver_ats;
        mc.ssid_bits = g.pasid || g.domain == domain_mode::sva ? 20 : 0;
        mc.set_endpoint_ats = [ep](bool on) { ep->set_ats_enabled(on); };
        if (g.ats && !g.driver_ats)
            ep->set_ats_enabled(true); // a device that enables ATS behind the driver's back
        const driver::op_result m =
            on_cpu(e->cpu, "add_master", [&] { return m_driver->add_master(mc); });
        if (!m.ok())
            return fail("add_master " + e->name, m);
        if (!g.attach_at_start)
            continue;
        if (e->in_vm) {
            if (!set_up_vm_endpoint(*e))
                return false;
            continue;
        }
        const driver::domain_kind kind =
            g.domain == domain_mode::s2               ? driver::domain_kind::paging_s2
            : g.domain == domain_mode::nesting_parent ? driver::domain_kind::nesting_parent
                                                      : driver::domain_kind::paging_s1;
        group_domains& shared = m_group_domains[g.name];
        const bool first_user = !g.shared_domain || shared.rid == 0;
        if (first_user) {
            const driver::op_result d =
                on_cpu(e->cpu, "create_domain", [&] { return m_driver->create_domain(kind); });
            if (!d.ok())
                return fail("create_domain for " + e->name, d);
            shared.rid = d.id;
        }
        e->domain = shared.rid;
        const driver::op_result a = attach_tracked(e->cpu, e->domain, e->sid, 0);
        if (!a.ok())
            return fail("attach " + e->name, a);
        driver::domain_id buffer_domain = e->domain;
        if (g.domain == domain_mode::sva) {
            ep->set_pasid_enabled(true);
            if (first_user) {
                const driver::op_result s = on_cpu(e->cpu, "create_domain", [&] {
                    return m_driver->create_domain(driver::domain_kind::sva);
                });
                if (!s.ok())
                    return fail("create SVA domain for " + e->name, s);
                shared.sva = s.id;
            }
            e->sva_domain = shared.sva;
            const driver::op_result b = attach_tracked(e->cpu, e->sva_domain, e->sid, k_sva_pasid);
            if (!b.ok())
                return fail("bind_sva " + e->name, b);
            buffer_domain = e->sva_domain;
        }
        if (!first_user)
            continue; // the shared domain's buffer is mapped already
        const generator_config& q = g.generator;
        if (q.kind == generator_kind::stream || q.kind == generator_kind::random) {
            const std::uint64_t size = page_round(q.buffer_bytes);
            const std::uint64_t pa = take_buffer(*e, size);
            std::vector<driver::domain_id> domains{buffer_domain};
            if (g.name == m_cfg.churn.group && e->name == g.name + ".0") {
                const driver::op_result c =
                    on_cpu(e->cpu, "create_domain", [&] { return m_driver->create_domain(kind); });
                if (!c.ok())
                    return fail("create churn domain for " + e->name, c);
                e->churn_domain = c.id;
                domains.push_back(c.id);
            }
            for (const driver::domain_id d2 : domains) {
                const driver::op_result r = on_cpu(e->cpu, "map", [&] {
                    return m_driver->map(d2, k_buffer_iova, pa, size, rw_prot());
                });
                if (!r.ok())
                    return fail("map the buffer of " + e->name, r);
            }
        }
    }
    if (m_data_next > k_memory_base + m_cfg.memory_bytes - k_driver_pool) {
        m_result.error = "the endpoints' buffers do not fit in platform.memory_bytes";
        return false;
    }
    return true;
}

// ---------------------------------------------------------------- the VM

void sim_platform::reserve_guest_ram() {
    if (std::none_of(m_endpoints.begin(), m_endpoints.end(),
                     [](const auto& e) { return e->in_vm; }))
        return;
    std::uint64_t buffers = 0;
    for (const auto& e : m_endpoints)
        if (e->in_vm)
            buffers += buffer_bytes_of(e->group->generator);
    m_vm = std::make_unique<virtual_machine>();
    const std::uint64_t ram = (k_guest_kernel + buffers + k_guest_align - 1) & ~(k_guest_align - 1);
    // Guest RAM at a 2 MiB-aligned physical block, so that stage 2 maps it with blocks.
    m_data_next = (m_data_next + k_guest_align - 1) & ~(k_guest_align - 1);
    m_vm->window = {k_guest_ipa, m_data_next, ram};
    m_vm->buffer_next = k_guest_ipa + k_guest_kernel;
    m_data_next += ram;
    if (m_data_next > k_memory_base + m_cfg.memory_bytes - k_driver_pool)
        throw config_error(fmt::format("configuration: key \"platform.memory_bytes\": the "
                                       "nested groups' guest RAM ({} MiB) does not fit",
                                       ram >> 20));
}

std::uint64_t sim_platform::take_buffer(const endpoint_slot& e, std::uint64_t size) {
    std::uint64_t& next = e.in_vm ? m_vm->buffer_next : m_data_next;
    const std::uint64_t at = next;
    next += page_round(size);
    return at;
}

bool sim_platform::start_vm() {
    virtual_machine& vm = *m_vm;
    auto fail = [this](const std::string& what, const driver::op_result& r) {
        m_result.error = fmt::format("VM set-up: {}: {}", what, driver::to_string(r.status));
        return false;
    };
    const driver::op_result p = on_cpu(0, "create_domain", [&] {
        return m_driver->create_domain(driver::domain_kind::nesting_parent);
    });
    if (!p.ok())
        return fail("nesting-parent domain", p);
    vm.parent = p.id;
    const driver::op_result m = on_cpu(0, "map guest RAM", [&] {
        return m_driver->map(vm.parent, vm.window.ipa_base, vm.window.pa_base, vm.window.size,
                             rw_prot());
    });
    if (!m.ok())
        return fail("map guest RAM", m);
    const driver::op_result v =
        on_cpu(0, "create_vsmmu", [&] { return m_driver->create_vsmmu(vm.parent); });
    if (!v.ok())
        return fail("vSMMU", v);
    vm.vsmmu = v.id;
    vm.vmid = m_driver->find_vsmmu(vm.vsmmu)->vmid();
    vm.memory = std::make_unique<driver::host::guest_memory>(*m_platform, vm.window,
                                                             vm.window.ipa_base, k_guest_kernel);
    driver::guest_options o;
    o.granule = m_cfg.granule;
    o.faults = m_cfg.faults;
    vm.guest = std::make_unique<driver::guest_driver>(*m_driver->guest_port(vm.vsmmu),
                                                      m_driver->find_vsmmu(vm.vsmmu)->guest_ref(),
                                                      *vm.memory, m_locks, m_rw_locks, o);
    return true;
}

bool sim_platform::set_up_vm_endpoint(endpoint_slot& e) {
    auto fail = [this, &e](const std::string& what, const driver::op_result& r) {
        m_result.error =
            fmt::format("VM set-up of {}: {}: {}", e.name, what, driver::to_string(r.status));
        return false;
    };
    if (!m_vm->guest && !start_vm())
        return false;
    virtual_machine& vm = *m_vm;
    driver::guest_driver& guest = *vm.guest;
    const group_config& g = *e.group;
    e.vsid = vm.next_vsid++;
    const driver::op_result d = on_cpu(e.cpu, "vsmmu_add_device", [&] {
        return m_driver->vsmmu_add_device(vm.vsmmu, e.vsid, e.sid);
    });
    if (!d.ok())
        return fail("vdevice", d);
    const bool ats = g.ats && g.driver_ats;
    const driver::op_result a =
        on_cpu(e.cpu, "guest add_device", [&] { return guest.add_device(e.vsid, ats); });
    if (!a.ok())
        return fail("guest device", a);
    driver::domain_id& shared = vm.shared[g.name];
    const bool first_user = !g.shared_domain || shared == 0;
    if (first_user) {
        const driver::op_result c =
            on_cpu(e.cpu, "guest create_domain", [&] { return guest.create_domain(); });
        if (!c.ok())
            return fail("guest domain", c);
        shared = c.id;
    }
    e.domain = shared;
    const driver::op_result t =
        on_cpu(e.cpu, "guest attach", [&] { return guest.attach(e.domain, e.vsid); });
    if (!t.ok())
        return fail("guest attach", t);
    m_checker.attached({e.sid, std::nullopt}, e.checker_domain());
    const generator_config& q = g.generator;
    if (first_user && (q.kind == generator_kind::stream || q.kind == generator_kind::random)) {
        const std::uint64_t size = page_round(q.buffer_bytes);
        const std::uint64_t ipa = take_buffer(e, size);
        const driver::op_result r = on_cpu(e.cpu, "guest map", [&] {
            return guest.map(e.domain, k_buffer_iova, ipa, size, rw_prot());
        });
        if (!r.ok())
            return fail("map the buffer", r);
    }
    return true;
}

driver::op_result sim_platform::map_buffer(const endpoint_slot& e, std::uint64_t iova,
                                           std::uint64_t addr, std::uint64_t size) {
    if (e.in_vm)
        return m_vm->guest->map(e.domain, iova, addr, size, rw_prot());
    return m_driver->map(e.domain, iova, addr, size, rw_prot());
}

driver::op_result sim_platform::unmap_buffer(const endpoint_slot& e, std::uint64_t iova,
                                             std::uint64_t size) {
    if (e.in_vm)
        return m_vm->guest->unmap(e.domain, iova, size);
    return m_driver->unmap(e.domain, iova, size);
}

void sim_platform::check_released_tag(const std::optional<driver::inv>& before,
                                      driver::domain_id id) {
    if (!before || m_driver->domain_tag(id))
        return; // no tag, or the domain still has attachments holding it
    const bool asid = before->type == driver::inv_type::s1_asid;
    const std::size_t left = m_smmu->iotlb_entries_tagged(
        asid ? std::optional<std::uint32_t>{before->id} : std::nullopt,
        asid ? std::nullopt : std::optional<std::uint32_t>{before->id});
    m_checker.tag_checked(fmt::format("{} {} of domain {}", asid ? "ASID" : "VMID", before->id, id),
                          left, now_ps());
}

driver::op_result sim_platform::attach_tracked(unsigned cpu, driver::domain_id d, std::uint32_t sid,
                                               std::uint32_t pasid) {
    const stream_key key{sid, pasid != 0 ? std::optional<std::uint32_t>{pasid} : std::nullopt};
    const auto old = m_attached.find(key);
    const driver::domain_id previous = old != m_attached.end() ? old->second : 0;
    const std::optional<driver::inv> tag =
        previous != 0 ? m_driver->domain_tag(previous) : std::nullopt;
    const driver::op_result r = on_cpu(cpu, d == 0 ? "detach" : "attach", [&] {
        if (d == 0)
            return m_driver->detach(sid, pasid);
        return pasid == 0 ? m_driver->attach(d, sid) : m_driver->bind_sva(sid, pasid, d);
    });
    if (!r.ok())
        return r;
    if (d == 0)
        m_attached.erase(key);
    else
        m_attached[key] = d;
    m_checker.attached(key, d);
    if (previous != 0 && previous != d)
        check_released_tag(tag, previous);
    return r;
}

void sim_platform::interrupts() {
    for (;;) {
        if (!m_irq_gerror.read() && !m_irq_eventq.read())
            wait(m_irq_gerror.posedge_event() | m_irq_eventq.posedge_event());
        driver::host::run_and_wait(*m_irq_cpu, [this](driver::platform_ops&) {
            driver::smmu_device& dev = *m_driver->device();
            if (dev.handle_gerror().cmdq_error != arch::cmdq_error::none)
                ++m_cmdq_errors;
            const driver::event_report r = dev.process_events(
                [this](const arch::event_record& e) { ++m_events[arch::event_name(e.id)]; });
            m_event_overflows += r.overflow ? 1 : 0;
        });
        // The SMMU lowers its levels once the queue is empty and GERROR acknowledged.
        wait(sc_core::SC_ZERO_TIME);
    }
}

void sim_platform::churn() {
    if (m_cfg.churn.group.empty())
        return;
    endpoint_slot* e = nullptr;
    for (auto& s : m_endpoints)
        if (s->name == m_cfg.churn.group + ".0")
            e = s.get();
    if (e == nullptr || e->churn_domain == 0)
        return;
    for (std::uint32_t i = 0; i < m_cfg.churn.switches; ++i) {
        if (m_cfg.end_ps != 0 && now_ps() + m_cfg.churn.period_ps >= m_cfg.end_ps)
            break;
        wait(sc_time(static_cast<double>(m_cfg.churn.period_ps), SC_PS));
        const driver::domain_id to = i % 2 == 0 ? e->churn_domain : e->domain;
        if (attach_tracked(e->cpu, to, e->sid, 0).ok())
            ++m_churn_switches;
    }
}

pcie::endpoint& sim_platform::endpoint(std::size_t k) {
    return *m_endpoints.at(k)->ep;
}

sim_platform::endpoint_slot* sim_platform::endpoint_with_sid(std::uint32_t sid) {
    for (auto& e : m_endpoints)
        if (e->sid == sid)
            return e.get();
    return nullptr;
}

namespace {

driver::domain_kind kind_of(traces::domain_type t) {
    switch (t) {
    case traces::domain_type::s1:
        return driver::domain_kind::paging_s1;
    case traces::domain_type::s2:
        return driver::domain_kind::paging_s2;
    case traces::domain_type::nested:
        return driver::domain_kind::nesting_parent;
    case traces::domain_type::sva:
        return driver::domain_kind::sva;
    }
    return driver::domain_kind::paging_s1;
}

} // namespace

/// Executes one trace operation in the calling SystemC thread.
class sim_platform::trace_runner {
public:
    trace_runner(sim_platform& p, const traces::workload& w)
        : m_p(p)
        , m_w(w) {}

    /// Checks what can be checked before the run: StreamIDs, CPUs, PA ranges.
    void check() const {
        for (const traces::op& o : m_w.ops)
            std::visit([&](const auto& b) { check_op(o, b); }, o.body);
    }

    void run(const traces::op& o) {
        const timing::time_ps begin = now_ps();
        const driver::op_result r = std::visit([&](const auto& b) { return execute(b); }, o.body);
        m_p.m_trace_outcomes.push_back({o.line, r.ok(), begin, now_ps(), r.commands});
        ++m_p.m_trace_ops;
    }

private:
    [[noreturn]] void fail(const traces::op& o, const std::string& why) const {
        throw config_error(fmt::format("{}:{}: {}", m_w.file_name, o.line, why));
    }
    void check_cpu(const traces::op& o, std::uint32_t cpu) const {
        if (cpu >= m_p.m_cfg.cpus)
            fail(o, fmt::format("key \"cpu\": CPU {} does not exist (platform.cpus = {})", cpu,
                                m_p.m_cfg.cpus));
    }
    void check_sid(const traces::op& o, std::uint32_t sid) const {
        for (const auto& e : m_p.m_endpoints)
            if (e->sid == sid)
                return;
        fail(o, fmt::format("key \"sid\": no endpoint has StreamID {:#x} (set the groups' "
                            "stream_id_base)",
                            sid));
    }
    template <typename T>
    void check_op(const traces::op& o, const T& b) const {
        if constexpr (std::is_same_v<T, traces::dma_op> || std::is_same_v<T, traces::ats_req_op>) {
            check_sid(o, b.sid);
            if constexpr (std::is_same_v<T, traces::dma_op>)
                if (b.len > 0xffff'ffffull)
                    fail(o, "key \"len\": at most 4 GiB - 1 per DMA");
        } else {
            check_cpu(o, b.cpu);
            if constexpr (std::is_same_v<T, traces::attach_op> ||
                          std::is_same_v<T, traces::detach_op> ||
                          std::is_same_v<T, traces::bind_op> ||
                          std::is_same_v<T, traces::unbind_op> ||
                          std::is_same_v<T, traces::enable_ats_op> ||
                          std::is_same_v<T, traces::disable_ats_op>)
                check_sid(o, b.sid);
            if constexpr (std::is_same_v<T, traces::map_op>)
                if (b.pa && !m_p.is_data_memory(*b.pa, b.size))
                    fail(o, fmt::format("key \"pa\": [{:#x}, +{:#x}) is not in the data memory "
                                        "[{:#x}, {:#x})",
                                        *b.pa, b.size, k_memory_base,
                                        k_memory_base + m_p.m_cfg.memory_bytes - k_driver_pool));
        }
    }

    static driver::op_result device_result(bool ok) {
        driver::op_result r;
        r.status = ok ? driver::op_status::ok : driver::op_status::hw_error;
        return r;
    }

    driver::domain_id domain(const std::string& name) const {
        const auto it = m_domains.find(name);
        return it != m_domains.end() ? it->second : 0;
    }

    driver::op_result execute(const traces::domain_op& b) {
        const arch::granule g = !b.granule            ? m_p.m_cfg.granule
                                : *b.granule == 16384 ? arch::granule::size_16k
                                : *b.granule == 65536 ? arch::granule::size_64k
                                                      : arch::granule::size_4k;
        const driver::op_result r = m_p.on_cpu(b.cpu, "create_domain", [&] {
            return m_p.m_driver->create_domain(kind_of(b.type), g);
        });
        if (r.ok())
            m_domains[b.name] = r.id;
        return r;
    }
    driver::op_result execute(const traces::map_op& b) {
        const driver::domain_id d = domain(b.dom);
        const std::uint64_t pa = b.pa ? *b.pa : m_p.allocate_data(b.size);
        driver::iommu_prot prot;
        prot.read = b.prot.read;
        prot.write = b.prot.write;
        prot.exec = b.prot.exec;
        prot.cache = true;
        const timing::time_ps begin = now_ps();
        const driver::op_result r = m_p.on_cpu(
            b.cpu, "map", [&] { return m_p.m_driver->map(d, b.iova, pa, b.size, prot); });
        m_p.m_map_latency.record(now_ps() - begin);
        if (r.ok())
            m_p.m_checker.mapped(d, b.iova, b.size);
        return r;
    }
    driver::op_result execute(const traces::unmap_op& b) {
        const driver::domain_id d = domain(b.dom);
        const timing::time_ps begin = now_ps();
        const driver::op_result r =
            m_p.on_cpu(b.cpu, "unmap", [&] { return m_p.m_driver->unmap(d, b.iova, b.size); });
        m_p.m_unmap_latency.record(now_ps() - begin);
        if (r.ok())
            m_p.m_checker.unmapped(d, b.iova, b.size, now_ps());
        return r;
    }
    driver::op_result execute(const traces::attach_op& b) {
        return m_p.attach_tracked(b.cpu, domain(b.dom), b.sid, 0);
    }
    driver::op_result execute(const traces::detach_op& b) {
        return m_p.attach_tracked(b.cpu, 0, b.sid, 0);
    }
    driver::op_result execute(const traces::bind_op& b) {
        m_p.endpoint_with_sid(b.sid)->ep->set_pasid_enabled(true);
        return m_p.attach_tracked(b.cpu, domain(b.dom), b.sid, b.pasid);
    }
    driver::op_result execute(const traces::unbind_op& b) {
        return m_p.attach_tracked(b.cpu, 0, b.sid, b.pasid);
    }
    driver::op_result execute(const traces::enable_ats_op& b) {
        return m_p.on_cpu(b.cpu, "enable_ats", [&] { return m_p.m_driver->enable_ats(b.sid); });
    }
    driver::op_result execute(const traces::disable_ats_op& b) {
        return m_p.on_cpu(b.cpu, "disable_ats", [&] { return m_p.m_driver->disable_ats(b.sid); });
    }
    driver::op_result execute(const traces::dma_op& b) {
        pcie::dma_request req;
        req.dir =
            b.direction == traces::dma_direction::read ? pcie::dma_dir::read : pcie::dma_dir::write;
        req.address = b.iova;
        req.length = static_cast<std::uint32_t>(b.len);
        req.pasid = b.pasid;
        const pcie::dma_outcome out = m_p.endpoint_with_sid(b.sid)->ep->dma(req);
        ++m_p.m_trace_dma_transfers;
        if (out.ok)
            m_p.m_trace_dma_bytes += b.len;
        return device_result(out.ok);
    }
    driver::op_result execute(const traces::ats_req_op& b) {
        const std::optional<tlm_ext::translation_completion> c =
            m_p.endpoint_with_sid(b.sid)->ep->prefetch_translation(b.iova, b.pasid, b.no_write);
        return device_result(c && c->status == tlm_ext::ats_status::success &&
                             (c->permissions.read || c->permissions.write));
    }

    sim_platform& m_p;
    const traces::workload& m_w;
    std::map<std::string, driver::domain_id> m_domains;
};

bool sim_platform::is_data_memory(std::uint64_t pa, std::uint64_t size) const {
    const std::uint64_t end = k_memory_base + m_cfg.memory_bytes - k_driver_pool;
    return pa >= k_memory_base && pa <= end && size <= end - pa;
}

std::uint64_t sim_platform::allocate_data(std::uint64_t size) {
    const std::uint64_t pa = m_data_next;
    m_data_next += page_round(size);
    const std::uint64_t end = k_memory_base + m_cfg.memory_bytes - k_driver_pool;
    if (m_data_next > end)
        m_data_next = k_memory_base + (m_data_next - end); // reuse from the bottom
    return pa;
}

void sim_platform::load_trace() {
    if (m_cfg.trace_file.empty())
        return;
    try {
        set_workload(traces::load_workload(m_cfg.trace_file));
    } catch (const traces::trace_error& e) {
        throw config_error(e.what());
    }
}

void sim_platform::set_workload(traces::workload w) {
    m_workload = std::make_unique<traces::workload>(std::move(w));
    m_trace = std::make_unique<trace_runner>(*this, *m_workload);
    m_trace->check();
}

void sim_platform::replay_trace() {
    if (!m_trace)
        return;
    const std::vector<traces::op>& ops = m_workload->ops;
    std::size_t i = 0;
    while (i < ops.size()) {
        // A group: one line with its timing and the `&` lines that follow it.
        std::size_t end = i + 1;
        while (end < ops.size() && ops[end].when.kind == traces::timing_kind::with_previous)
            ++end;
        const traces::timing& when = ops[i].when;
        const timing::time_ps now = now_ps();
        if (when.kind == traces::timing_kind::absolute && when.time > now)
            wait(sc_time(static_cast<double>(when.time - now), SC_PS));
        else if (when.kind == traces::timing_kind::after_previous && when.time != 0)
            wait(sc_time(static_cast<double>(when.time), SC_PS));
        if (m_cfg.end_ps != 0 && now_ps() >= m_cfg.end_ps)
            return;
        if (end == i + 1) {
            m_trace->run(ops[i]);
        } else {
            std::vector<sc_core::sc_process_handle> running;
            for (std::size_t k = i; k < end; ++k)
                running.push_back(sc_core::sc_spawn([this, &ops, k] { m_trace->run(ops[k]); }));
            for (auto& h : running)
                if (!h.terminated())
                    wait(h.terminated_event());
        }
        i = end;
    }
}

// ---------------------------------------------------------------- running and results

run_result sim_platform::run() {
    const auto start = std::chrono::steady_clock::now();
    if (m_cfg.end_ps != 0)
        sc_core::sc_start(sc_time(static_cast<double>(m_cfg.end_ps), SC_PS));
    else
        sc_core::sc_start();
    m_result.host_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m_result.simulated_ps = now_ps();
    m_result.finished = m_top->finished;
    if (m_result.error.empty() && !m_top->finished && m_cfg.end_ps == 0)
        m_result.error = "the workload did not complete (something waited forever)";
    return m_result;
}

void sim_platform::enable_progress() {
    m_progress = isatty(2) != 0;
}

double sim_platform::progress_fraction() const {
    if (m_cfg.end_ps != 0)
        return std::min(1.0, static_cast<double>(now_ps()) / static_cast<double>(m_cfg.end_ps));
    std::uint64_t done = 0, total = 0;
    for (const auto& e : m_endpoints)
        if (e->generator) {
            const pcie::traffic_stats& t = e->generator->stats();
            total += e->group->generator.transactions;
            done += e->group->generator.kind == generator_kind::ring ? t.packets : t.transactions;
        }
    return total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
}

std::uint64_t sim_platform::dma_transactions() const {
    std::uint64_t n = m_trace_dma_transfers;
    for (const auto& e : m_endpoints)
        if (e->generator)
            n += e->generator->stats().transactions;
    return n;
}

std::uint64_t sim_platform::dma_bytes() const {
    std::uint64_t n = m_trace_dma_bytes;
    for (const auto& e : m_endpoints)
        if (e->generator)
            n += e->generator->stats().bytes_read + e->generator->stats().bytes_written;
    return n;
}

namespace {

std::string percentiles(const timing::latency_histogram& h) {
    if (h.count() == 0)
        return "none";
    return fmt::format("p50 {}  p90 {}  p99 {}  max {}  ({} samples)", format_ps(h.percentile(50)),
                       format_ps(h.percentile(90)), format_ps(h.percentile(99)), format_ps(h.max()),
                       h.count());
}

double rate(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

} // namespace

std::string sim_platform::headline_json() const {
    const auto& c = m_smmu->stats();
    const translation_engine_stats& es = m_smmu->engine().stats();
    std::uint64_t tlbi = 0;
    for (std::size_t op = 0; op < c.commands.size(); ++op)
        if (arch::is_tlbi(static_cast<arch::opcode>(op)))
            tlbi += c.commands[op];
    std::uint64_t atc_hits = 0, atc_lookups = 0;
    for (const auto& e : m_endpoints) {
        atc_hits += e->ep->stats().atc_hits;
        atc_lookups += e->ep->stats().atc_hits + e->ep->stats().atc_misses;
    }
    const double seconds = static_cast<double>(m_result.simulated_ps) / 1e12;
    const auto ns = [](std::uint64_t ps) { return static_cast<double>(ps) / 1e3; };
    return fmt::format(
        "{{\"simulated_us\":{:.3f},\"host_seconds\":{:.3f},\"dma_transactions\":{},"
        "\"dma_gb_per_s\":{:.4f},\"unmaps\":{},\"unmap_p50_ns\":{:.1f},\"unmap_p99_ns\":{:.1f},"
        "\"syncs\":{},\"sync_p50_ns\":{:.1f},\"tlbi\":{},\"atc_inv\":{},"
        "\"iotlb_hit_rate\":{:.4f},\"atc_hit_rate\":{:.4f},\"violations\":{}}}",
        static_cast<double>(m_result.simulated_ps) / 1e6, m_result.host_seconds, dma_transactions(),
        seconds > 0 ? static_cast<double>(dma_bytes()) / seconds / 1e9 : 0.0,
        m_unmap_latency.count(), ns(m_unmap_latency.percentile(50)),
        ns(m_unmap_latency.percentile(99)), c.syncs, ns(m_smmu->sync_latency().percentile(50)),
        tlbi, c.commands[static_cast<std::uint8_t>(arch::opcode::atc_inv)],
        rate(es.iotlb.hits, es.iotlb.lookups) / 100.0, rate(atc_hits, atc_lookups) / 100.0,
        m_checker.total());
}

std::string sim_platform::stats_json() const {
    std::string out = "{";
    out += fmt::format("\"simulated_ps\":{},\"host_seconds\":{:.6f},\"finished\":{},",
                       m_result.simulated_ps, m_result.host_seconds,
                       m_result.finished ? "true" : "false");
    out +=
        fmt::format("\"dma_transactions\":{},\"dma_bytes\":{},", dma_transactions(), dma_bytes());
    out += "\"headline\":" + headline_json() + ",";
    out += "\"smmu\":" + m_smmu->stats_json() + ",";
    out += "\"root_complex\":" + m_rc->stats_json() + ",\"endpoints\":[";
    for (std::size_t k = 0; k < m_endpoints.size(); ++k) {
        const endpoint_slot& e = *m_endpoints[k];
        out += fmt::format("{}{{\"name\":\"{}\",\"sid\":{},\"stats\":", k == 0 ? "" : ",", e.name,
                           e.sid);
        e.ep->stats().to_json(out);
        out += ",\"traffic\":";
        if (e.generator)
            e.generator->stats().to_json(out);
        else
            out += "null";
        out += "}";
    }
    out += "],\"software\":{\"unmap_latency_ps\":";
    m_unmap_latency.to_json(out);
    out += ",\"map_latency_ps\":";
    m_map_latency.to_json(out);
    out += fmt::format(",\"driver_errors\":{},\"churn_switches\":{},\"trace_operations\":{},"
                       "\"cmdq_errors_recovered\":{},\"event_queue_overflows\":{},\"events\":{{",
                       m_driver_errors, m_churn_switches, m_trace_ops, m_cmdq_errors,
                       m_event_overflows);
    bool first_event = true;
    for (const auto& [name, n] : m_events) {
        out += fmt::format("{}\"{}\":{}", first_event ? "" : ",", name, n);
        first_event = false;
    }
    out += "}},";
    out += "\"vm\":" + vm_json() + ",";
    out += fmt::format("\"checker\":{{\"checks\":{},\"violations\":{}", m_checker.checks(),
                       m_checker.total());
    for (const violation_kind k :
         {violation_kind::stale_translation, violation_kind::atc_inv_before_sync,
          violation_kind::tag_after_detach})
        out += fmt::format(",\"{}\":{}", to_string(k), m_checker.count(k));
    out += ",\"first\":[";
    for (std::size_t i = 0; i < m_checker.violations().size() && i < 20; ++i) {
        const violation& v = m_checker.violations()[i];
        out += fmt::format("{}{{\"kind\":\"{}\",\"at_ps\":{},\"detail\":\"{}\"}}",
                           i == 0 ? "" : ",", to_string(v.kind), v.at, v.detail);
    }
    out += "]}}";
    return out;
}

std::string sim_platform::vm_json() const {
    if (!m_vm || !m_vm->guest)
        return "null";
    return fmt::format("{{\"vmid\":{},\"devices\":{},\"guest_ram_bytes\":{},\"guest_ram_ipa\":{},"
                       "\"guest_ram_pa\":{},\"guest_memory_stray_accesses\":{}}}",
                       m_vm->vmid, m_vm->next_vsid - 1, m_vm->window.size, m_vm->window.ipa_base,
                       m_vm->window.pa_base, m_vm->memory->stray_accesses());
}

std::string sim_platform::summary() const {
    std::string s;
    std::uint32_t ats = 0;
    for (const auto& e : m_endpoints)
        ats += e->group->ats ? 1u : 0u;
    s += fmt::format("smmu-sim: {} CPUs, 1 SMMU, {} endpoints ({} with ATS)\n", m_cfg.cpus,
                     m_endpoints.size(), ats);
    if (m_vm && m_vm->guest)
        s += fmt::format("virtual machine        {} devices through a vSMMU (VMID {}), guest RAM "
                         "{} MiB at IPA {:#x}\n",
                         m_vm->next_vsid - 1, m_vm->vmid, m_vm->window.size >> 20,
                         m_vm->window.ipa_base);
    const double seconds = static_cast<double>(m_result.simulated_ps) / 1e12;
    s += fmt::format("simulated time         {}   (host {:.2f} s{})\n",
                     format_ps(m_result.simulated_ps), m_result.host_seconds,
                     m_result.finished ? "" : ", stopped before the workload completed");
    s += fmt::format("DMA                    {} transfers, {:.1f} MB, {:.2f} GB/s\n",
                     dma_transactions(), static_cast<double>(dma_bytes()) / 1e6,
                     seconds > 0 ? static_cast<double>(dma_bytes()) / seconds / 1e9 : 0.0);
    timing::latency_histogram dma_latency;
    timing::latency_histogram ats_latency;
    for (const auto& e : m_endpoints) {
        dma_latency.merge(e->ep->dma_latency());
        ats_latency.merge(e->ep->translation_latency());
        if (!e->generator)
            continue;
        const pcie::traffic_stats& t = e->generator->stats();
        s += fmt::format(
            "  {:<20} {:>8} transfers {:>10.1f} MB  ATC hit rate {:5.1f} %{}\n", e->name,
            t.transactions, static_cast<double>(t.bytes_read + t.bytes_written) / 1e6,
            100.0 * t.atc_hit_rate(),
            t.failed_transactions != 0 ? fmt::format("  ({} failed)", t.failed_transactions)
                                       : std::string());
    }
    s += "DMA latency            " + percentiles(dma_latency) + "\n";
    s += "SMMU translation       " + percentiles(m_smmu->translation_latency()) + "\n";
    s += "ATS round trip         " + percentiles(ats_latency) + "\n";
    const translation_engine_stats& es = m_smmu->engine().stats();
    const auto& c = m_smmu->stats();
    s += fmt::format("IOTLB hit rate         {:.1f} % of {} lookups; micro-TLB hits {} of {} "
                     "translations\n",
                     rate(es.iotlb.hits, es.iotlb.lookups), es.iotlb.lookups, c.utlb_hits,
                     c.translations);
    std::uint64_t atc_hits = 0, atc_lookups = 0;
    for (const auto& e : m_endpoints) {
        atc_hits += e->ep->stats().atc_hits;
        atc_lookups += e->ep->stats().atc_hits + e->ep->stats().atc_misses;
    }
    s += fmt::format("ATC hit rate           {:.1f} % of {} lookups\n", rate(atc_hits, atc_lookups),
                     atc_lookups);
    std::string commands;
    for (std::size_t op = 0; op < c.commands.size(); ++op)
        if (c.commands[op] != 0)
            commands +=
                fmt::format("{}{} {}", commands.empty() ? "" : ", ",
                            arch::opcode_name(static_cast<arch::opcode>(op)), c.commands[op]);
    s += "commands               " + (commands.empty() ? std::string("none") : commands) + "\n";
    s += fmt::format("CMD_SYNC               {} syncs, latency {}\n", c.syncs,
                     percentiles(m_smmu->sync_latency()));
    s += fmt::format("ATC invalidations      {} sent, {} completed, {} timeouts\n", c.atc_inv_sent,
                     c.atc_inv_completed, c.atc_inv_timeouts);
    s += "unmap latency          " + percentiles(m_unmap_latency) + "\n";
    s += "map latency            " + percentiles(m_map_latency) + "\n";
    if (m_churn_switches != 0)
        s += fmt::format("attach churn           {} domain switches\n", m_churn_switches);
    if (!m_events.empty() || m_cmdq_errors != 0) {
        std::string events;
        for (const auto& [name, n] : m_events)
            events += fmt::format("{}{} {}", events.empty() ? "" : ", ", name, n);
        s += fmt::format("events, errors         {}{}{}\n", events.empty() ? "no events" : events,
                         m_cmdq_errors != 0
                             ? fmt::format("; {} command-queue errors recovered", m_cmdq_errors)
                             : std::string(),
                         m_event_overflows != 0 ? "; event queue overflowed" : "");
    }
    if (m_trace_ops != 0)
        s += fmt::format("trace                  {} operations replayed\n", m_trace_ops);
    if (m_driver_errors != 0)
        s += fmt::format("driver errors          {}\n", m_driver_errors);
    s += fmt::format("checker                {} violations in {} checks", m_checker.total(),
                     m_checker.checks());
    if (m_checker.total() != 0)
        s += fmt::format(" (stale translation {}, ATC_INV before SYNC {}, tag after detach {})",
                         m_checker.count(violation_kind::stale_translation),
                         m_checker.count(violation_kind::atc_inv_before_sync),
                         m_checker.count(violation_kind::tag_after_detach));
    s += "\n";
    for (std::size_t i = 0; i < m_checker.violations().size() && i < 5; ++i)
        s += "  " + std::string(to_string(m_checker.violations()[i].kind)) + ": " +
             m_checker.violations()[i].detail + "\n";
    if (!m_result.error.empty())
        s += "error: " + m_result.error + "\n";
    return s;
}

} // namespace smmu::sim
