// Host-time cost of the SMMU block: nanoseconds of host CPU per translation
// (micro-TLB hit, IOTLB hit, walk-cache hit with one descriptor read, full
// 4-level cold walk) against a bare TLM pass-through, and commands executed
// per host second by the command engine.
//
// SystemC elaborates once per process, so one platform serves every benchmark:
// each scenario has its own TBU (its own micro-TLB) and its own host-side
// initiator. Translations are issued from sc_main between sc_start() calls:
// the TBU's b_transport never waits, so no SystemC thread is needed and the
// figures hold no context switches. Each initiator keeps a loosely-timed local
// offset (the delay returned by its previous access), so it issues back to
// back in simulated time as a temporally decoupled master would.
//
// Every benchmark also reports heap allocations per iteration (global
// operator new is counted) and, for translations, the cache behaviour it
// actually saw, so a figure cannot silently measure the wrong path.
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/arch/cd.h"
#include "model/arch/command.h"
#include "model/arch/descriptor.h"
#include "model/arch/registers.h"
#include "model/arch/ste.h"
#include "model/smmu/smmuv3.h"
#include "platforms/parts/memory.h"

// ---------------------------------------------------------------- allocation counter

namespace {
std::atomic<std::uint64_t> g_allocations{0};

void* counted_alloc(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n != 0 ? n : 1))
        return p;
    throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t n) {
    return counted_alloc(n);
}
void* operator new[](std::size_t n) {
    return counted_alloc(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

namespace smmu::bench {
namespace {

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;

constexpr unsigned k_access_bytes = 64;
constexpr std::uint64_t k_page = 4096;
constexpr std::uint64_t k_data_page = 0x10'0000; ///< every mapping points here
constexpr std::uint64_t k_pattern = 0x0123'4567'89ab'cdefull;
constexpr std::uint16_t k_asid = 1;
constexpr unsigned k_cmdq_log2 = 12; ///< 4096 entries: one batch fills the queue exactly
constexpr std::uint32_t k_batch = 1u << k_cmdq_log2;

// Leaf attributes of a stage-1 page: AF, nG, inner shareable, AP=01 (read/write at EL0/EL1).
constexpr std::uint64_t k_page_attrs = (1ull << 10) | (1ull << 11) | (3ull << 8) | (1ull << 6);

// ---------------------------------------------------------------- modules

/// A host-driven initiator socket.
class master : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<master> socket;
    explicit master(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , socket("socket") {}
};

/// The baseline: forwards b_transport unchanged.
class pass_through : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<pass_through> in;
    tlm_utils::simple_initiator_socket<pass_through> out;
    explicit pass_through(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , in("in")
        , out("out") {
        in.register_b_transport(this, &pass_through::b_transport);
    }

private:
    void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
        out->b_transport(trans, delay);
    }
};

/// One master's side of the traffic: a reused payload and an LT local time offset.
class dma_port {
public:
    explicit dma_port(master& m)
        : m_master(m) {}

    tlm::tlm_response_status read(std::uint64_t addr) {
        m_gp.set_command(tlm::TLM_READ_COMMAND);
        m_gp.set_address(addr);
        m_gp.set_data_ptr(m_data.data());
        m_gp.set_data_length(k_access_bytes);
        m_gp.set_streaming_width(k_access_bytes);
        m_gp.set_byte_enable_ptr(nullptr);
        m_gp.set_dmi_allowed(false);
        m_gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        m_master.socket->b_transport(m_gp, m_local);
        return m_gp.get_response_status();
    }
    std::uint64_t first_word() const {
        std::uint64_t v = 0;
        std::memcpy(&v, m_data.data(), sizeof(v));
        return v;
    }

private:
    master& m_master;
    tlm::tlm_generic_payload m_gp;
    std::array<unsigned char, k_access_bytes> m_data{};
    sc_time m_local = SC_ZERO_TIME;
};

// ---------------------------------------------------------------- tables

/// Zeroed, aligned blocks of the platform memory.
class table_pool {
public:
    table_pool(platform::memory& mem, std::uint64_t start, std::uint64_t end)
        : m_mem(mem)
        , m_next(start)
        , m_end(end) {}

    std::uint64_t alloc(std::uint64_t bytes, std::uint64_t align = k_page) {
        m_next = (m_next + align - 1) & ~(align - 1);
        const std::uint64_t at = m_next;
        m_next += bytes;
        if (m_next > m_end)
            throw std::runtime_error("table_pool: out of memory");
        m_mem.fill(at, bytes, 0);
        return at;
    }
    platform::memory& mem() { return m_mem; }

private:
    platform::memory& m_mem;
    std::uint64_t m_next;
    std::uint64_t m_end;
};

/// Stage-1 tables, 4 KiB granule, 48-bit VA: levels 0 to 3.
class page_table {
public:
    explicit page_table(table_pool& pool)
        : m_pool(pool)
        , m_root(pool.alloc(k_page)) {}

    std::uint64_t root() const { return m_root; }

    void map(std::uint64_t va, std::uint64_t pa) {
        std::uint64_t table = m_root;
        for (unsigned level = 0; level < 3; ++level) {
            const std::uint64_t slot = table + 8 * index(va, level);
            std::uint64_t d = m_pool.mem().read64(slot);
            if ((d & 3) != 3) {
                d = m_pool.alloc(k_page) | 3;
                m_pool.mem().write64(slot, d);
            }
            table = d & 0x0000'ffff'ffff'f000ull;
        }
        m_pool.mem().write64(table + 8 * index(va, 3), pa | k_page_attrs | 3);
    }

private:
    static std::uint64_t index(std::uint64_t va, unsigned level) {
        return (va >> (39 - 9 * level)) & 511;
    }
    table_pool& m_pool;
    std::uint64_t m_root;
};

// ---------------------------------------------------------------- platform

/// Memory, an SMMU with `tbus` TBUs (all on StreamID 0) and a CPU port on its registers.
class smmu_system : public sc_core::sc_module {
public:
    platform::memory mem;
    smmuv3 smmu;
    master cpu;
    sc_core::sc_vector<master> devices;

    smmu_system(const sc_core::sc_module_name& name, const smmu_params& params, std::size_t tbus,
                std::uint64_t mem_bytes)
        : sc_core::sc_module(name)
        , mem("memory", 0, mem_bytes)
        , smmu("smmu", params, std::vector<tbu_params>(tbus))
        , cpu("cpu")
        , devices("device", tbus)
        , m_pool(mem, 2ull << 20, mem_bytes)
        , m_tables(m_pool) {
        smmu.walker.bind(mem.socket);
        smmu.downstream.bind(mem.socket);
        cpu.socket.bind(smmu.reg_target);
        for (std::size_t i = 0; i < tbus; ++i)
            devices[i].socket.bind(smmu.tbus[i].upstream);
        for (std::uint64_t off = 0; off < k_page; off += 8)
            mem.write64(k_data_page + off, k_pattern);
    }

    void map(std::uint64_t va) { m_tables.map(va, k_data_page); }

    /// Stream table (StreamID 0: stage 1 with one CD), queues, then SMMUEN.
    /// Host code, after elaboration: no register access here waits.
    void bring_up() {
        const std::uint64_t cd_addr = m_pool.alloc(64);
        arch::cd c;
        c.v = true;
        c.aa64 = true;
        c.t0sz = 16;
        c.epd1 = true;
        c.ips = arch::pa_size_encoding::bits_48;
        c.asid = k_asid;
        c.r = c.a = true;
        c.ttb0 = m_tables.root();
        mem.write_words(cd_addr, arch::encode_cd(c));
        constexpr unsigned strtab_log2 = 4;
        const std::uint64_t strtab = m_pool.alloc(64ull << strtab_log2);
        arch::ste s;
        s.v = true;
        s.config = arch::ste_config::s1_translate;
        s.s1_context_ptr = cd_addr;
        mem.write_words(strtab, arch::encode_ste(s));
        m_cmdq = m_pool.alloc(16ull << k_cmdq_log2, 16ull << k_cmdq_log2);
        const std::uint64_t eventq = m_pool.alloc(32ull << 7, 32ull << 7);

        write_reg(arch::reg::strtab_base, strtab, 8);
        write_reg(arch::reg::strtab_base_cfg, strtab_log2, 4); // linear
        write_reg(arch::reg::cmdq_base, m_cmdq | k_cmdq_log2, 8);
        write_reg(arch::reg::eventq_base, eventq | 7, 8);
        write_reg(arch::reg::cr0, 0x8 | 0x4, 4); // CMDQEN | EVENTQEN
        write_reg(arch::reg::cr0, 0x8 | 0x4 | 0x1, 4);
        if ((read_reg(arch::reg::cr0ack) & 0xd) != 0xd)
            throw std::runtime_error("SMMU did not acknowledge CR0");
    }

    /// Writes one full batch of `cmds` (k_batch entries) into the command queue.
    void fill_command_queue(const std::vector<arch::command>& cmds) {
        if (cmds.size() != k_batch)
            throw std::logic_error("fill_command_queue: one full batch is needed");
        for (std::size_t i = 0; i < cmds.size(); ++i)
            mem.write_words(m_cmdq + 16 * i, arch::encode(cmds[i]));
    }

    /// Hands the SMMU the next k_batch commands and simulates until it consumed
    /// them. Returns false if it stopped short (an error, or it did not finish).
    bool run_batch() {
        const arch::queue_ptr_math q(k_cmdq_log2);
        m_prod = q.advance(m_prod, k_batch);
        write_reg(arch::reg::cmdq_prod, m_prod, 4);
        sc_core::sc_start();
        const auto cons = static_cast<std::uint32_t>(read_reg(arch::reg::cmdq_cons));
        return (cons & q.wrap_index_mask()) == m_prod && (cons & 0x7f00'0000u) == 0;
    }

    void write_reg(std::uint64_t offset, std::uint64_t value, unsigned len) {
        access_reg(tlm::TLM_WRITE_COMMAND, offset, value, len);
    }
    std::uint64_t read_reg(std::uint64_t offset) {
        return access_reg(tlm::TLM_READ_COMMAND, offset, 0, 4);
    }

private:
    std::uint64_t access_reg(tlm::tlm_command cmd, std::uint64_t offset, std::uint64_t value,
                             unsigned len) {
        tlm::tlm_generic_payload& gp = m_reg_gp; // reused: constructing a payload allocates
        gp.set_command(cmd);
        gp.set_address(offset);
        gp.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
        gp.set_data_length(len);
        gp.set_streaming_width(len);
        gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        sc_time delay = SC_ZERO_TIME;
        cpu.socket->b_transport(gp, delay);
        if (!gp.is_response_ok())
            throw std::runtime_error("register access failed");
        return value;
    }

    table_pool m_pool;
    page_table m_tables;
    tlm::tlm_generic_payload m_reg_gp;
    std::uint64_t m_cmdq = 0;
    std::uint32_t m_prod = 0;
};

/// The pass-through baseline: master -> pass_through -> memory.
class baseline_system : public sc_core::sc_module {
public:
    platform::memory mem;
    pass_through bridge;
    master cpu;

    explicit baseline_system(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , mem("memory", 0, 2ull << 20)
        , bridge("bridge")
        , cpu("cpu") {
        cpu.socket.bind(bridge.in);
        bridge.out.bind(mem.socket);
        for (std::uint64_t off = 0; off < k_page; off += 8)
            mem.write64(k_data_page + off, k_pattern);
    }
};

// ---------------------------------------------------------------- scenarios

// TBUs of the main system.
enum tbu_index : std::size_t { tbu_utlb, tbu_iotlb, tbu_walk_last, tbu_walk_cold, tbu_count };

// Address layout (one address space, ASID 1). All leaves map the same data page.
constexpr std::uint64_t k_utlb_va = 0x1000'0000;
constexpr std::uint64_t k_iotlb_va = 0x2000'0000;
constexpr unsigned k_iotlb_pages = 64; ///< twice the micro-TLB, 1/32 of the IOTLB
constexpr std::uint64_t k_walk_last_va = 0x40'0000'0000;
constexpr unsigned k_walk_last_tables = 64; ///< 64 level-3 tables: 64 walk-cache entries
constexpr unsigned k_walk_last_pages = k_walk_last_tables * 512; ///< 16x the IOTLB
constexpr unsigned k_cold_regions = 511;                         ///< level-0 entries 1..511
constexpr unsigned k_cold_pages_per_region = 32;                 ///< 16352 pages: 8x the IOTLB

std::uint64_t walk_last_va(std::uint64_t k) {
    // Table fastest: consecutive accesses land in different level-3 tables.
    const std::uint64_t table = k % k_walk_last_tables;
    const std::uint64_t page = (k / k_walk_last_tables) % 512;
    return k_walk_last_va + (table << 21) + (page << 12);
}

std::uint64_t cold_va(std::uint64_t k) {
    // Level-0 index fastest: every access needs four fresh descriptors.
    const std::uint64_t region = 1 + k % k_cold_regions;
    const std::uint64_t page = (k / k_cold_regions) % k_cold_pages_per_region;
    return (region << 39) + (page << 12);
}

struct platform_set {
    baseline_system* baseline = nullptr;
    smmu_system* main = nullptr;
    smmu_system* single_utlb = nullptr; ///< micro-TLB of one entry
};

/// Engine and TBU counters, sampled around a timed loop.
struct sample {
    std::uint64_t allocations = 0;
    std::uint64_t translations = 0;
    std::uint64_t utlb_hits = 0;
    std::uint64_t iotlb_lookups = 0;
    std::uint64_t iotlb_hits = 0;
    std::uint64_t descriptor_reads = 0;

    static sample take(const smmu_system* sys) {
        sample s;
        s.allocations = g_allocations.load(std::memory_order_relaxed);
        if (sys == nullptr)
            return s;
        s.translations = sys->smmu.stats().translations;
        s.utlb_hits = sys->smmu.stats().utlb_hits;
        const translation_engine_stats& e = sys->smmu.engine().stats();
        s.iotlb_lookups = e.iotlb.lookups;
        s.iotlb_hits = e.iotlb.hits;
        for (const auto& per_level : e.descriptor_reads)
            for (std::uint64_t n : per_level)
                s.descriptor_reads += n;
        return s;
    }
};

void report(benchmark::State& state, const sample& before, const sample& after, bool translations) {
    const auto iterations = static_cast<double>(state.iterations());
    if (iterations == 0)
        return;
    const auto per_iter = [&](std::uint64_t a, std::uint64_t b) {
        return static_cast<double>(b - a) / iterations;
    };
    state.counters["allocs/iter"] = per_iter(before.allocations, after.allocations);
    if (!translations)
        return;
    const std::uint64_t n = after.translations - before.translations;
    const std::uint64_t lookups = after.iotlb_lookups - before.iotlb_lookups;
    state.counters["utlb_hit%"] =
        n == 0 ? 0.0
               : 100.0 * static_cast<double>(after.utlb_hits - before.utlb_hits) /
                     static_cast<double>(n);
    state.counters["iotlb_hit%"] =
        lookups == 0 ? 0.0
                     : 100.0 * static_cast<double>(after.iotlb_hits - before.iotlb_hits) /
                           static_cast<double>(lookups);
    state.counters["desc_reads/iter"] = per_iter(before.descriptor_reads, after.descriptor_reads);
}

/// Reads every address once (warm-up and check); false (and an error) if one fails.
template <class AddressOf>
bool warm(benchmark::State& state, dma_port& port, std::uint64_t count, AddressOf address_of) {
    for (std::uint64_t k = 0; k < count; ++k) {
        if (port.read(address_of(k)) != tlm::TLM_OK_RESPONSE || port.first_word() != k_pattern) {
            state.SkipWithError("a warm-up access was not translated to the data page");
            return false;
        }
    }
    return true;
}

/// The timed loop shared by every translation benchmark: one 64-byte read per iteration.
template <class AddressOf>
void run_reads(benchmark::State& state, smmu_system* sys, dma_port& port, std::uint64_t warm_count,
               AddressOf address_of) {
    if (!warm(state, port, warm_count, address_of))
        return;
    std::uint64_t k = 0;
    bool ok = true;
    const sample before = sample::take(sys);
    for (auto _ : state) {
        ok &= port.read(address_of(k++)) == tlm::TLM_OK_RESPONSE;
    }
    const sample after = sample::take(sys);
    if (!ok)
        state.SkipWithError("an access failed");
    report(state, before, after, sys != nullptr);
}

/// Registers every benchmark; `ports` keeps the initiators' state alive until the end.
void register_benchmarks(const platform_set& p, std::vector<std::unique_ptr<dma_port>>& ports) {
    const auto new_port = [&ports](master& m) {
        ports.push_back(std::make_unique<dma_port>(m));
        return ports.back().get();
    };
    dma_port* baseline = new_port(p.baseline->cpu);
    benchmark::RegisterBenchmark("pass_through", [=](benchmark::State& state) {
        run_reads(state, nullptr, *baseline, 1, [](std::uint64_t) { return k_data_page; });
    })->Unit(benchmark::kNanosecond);

    smmu_system* sys = p.main;
    dma_port* utlb_port = new_port(sys->devices[tbu_utlb]);
    benchmark::RegisterBenchmark("utlb_hit", [=](benchmark::State& state) {
        run_reads(state, sys, *utlb_port, 1, [](std::uint64_t) { return k_utlb_va; });
    })->Unit(benchmark::kNanosecond);

    dma_port* iotlb_port = new_port(sys->devices[tbu_iotlb]);
    benchmark::RegisterBenchmark("iotlb_hit", [=](benchmark::State& state) {
        run_reads(state, sys, *iotlb_port, 2 * k_iotlb_pages,
                  [](std::uint64_t k) { return k_iotlb_va + (k % k_iotlb_pages) * k_page; });
    })->Unit(benchmark::kNanosecond);

    smmu_system* one = p.single_utlb;
    dma_port* one_port = new_port(one->devices[0]);
    benchmark::RegisterBenchmark("iotlb_hit_utlb1", [=](benchmark::State& state) {
        run_reads(state, one, *one_port, 2,
                  [](std::uint64_t k) { return k_iotlb_va + (k % 2) * k_page; });
    })->Unit(benchmark::kNanosecond);

    dma_port* last_port = new_port(sys->devices[tbu_walk_last]);
    benchmark::RegisterBenchmark("walk_cache_hit_last_level", [=](benchmark::State& state) {
        run_reads(state, sys, *last_port, k_walk_last_pages, walk_last_va);
    })->Unit(benchmark::kNanosecond);

    dma_port* cold_port = new_port(sys->devices[tbu_walk_cold]);
    benchmark::RegisterBenchmark("walk_cold_4_level", [=](benchmark::State& state) {
        run_reads(state, sys, *cold_port, std::uint64_t{k_cold_regions} * k_cold_pages_per_region,
                  cold_va);
    })->Unit(benchmark::kNanosecond);

    const auto commands = [sys](const char* name, arch::command (*make)(std::uint32_t)) {
        benchmark::RegisterBenchmark(name, [=](benchmark::State& state) {
            std::vector<arch::command> cmds;
            for (std::uint32_t i = 0; i + 1 < k_batch; ++i)
                cmds.push_back(make(i));
            cmds.push_back(arch::make_sync(arch::sync_cs::none));
            sys->fill_command_queue(cmds);
            bool ok = true;
            const sample before = sample::take(nullptr);
            for (auto _ : state)
                ok &= sys->run_batch();
            const sample after = sample::take(nullptr);
            if (!ok)
                state.SkipWithError("the command queue did not drain without error");
            state.counters["commands"] = benchmark::Counter(
                static_cast<double>(state.iterations()) * k_batch, benchmark::Counter::kIsRate);
            report(state, before, after, false);
            state.counters["allocs/cmd"] = state.counters["allocs/iter"] / k_batch;
        })->Unit(benchmark::kMillisecond);
    };
    // Leaf TLBIs of unmapped addresses: the simple case (no walk-cache scan, nothing removed).
    commands("cmdq_tlbi_nh_va", [](std::uint32_t i) {
        return arch::make_tlbi_nh_va(0, k_asid, 0x7000'0000ull + std::uint64_t{i} * k_page, true);
    });
    // A context-wide TLBI: scans the IOTLB and the walk cache.
    commands("cmdq_tlbi_nh_asid", [](std::uint32_t i) {
        return arch::make_tlbi_nh_asid(0, static_cast<arch::asid_t>(2 + i % 1000));
    });
}

// ---------------------------------------------------------------- reporting

/// Keeps the per-iteration CPU time of each benchmark (ns) for the closing summary.
template <class Base>
class recording_reporter : public Base {
public:
    using Base::Base;
    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
        for (const auto& r : runs) {
            if (r.error_occurred) {
                ++errors;
                continue;
            }
            const bool median = r.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate &&
                                r.aggregate_name == "median";
            const std::string name = r.run_name.function_name;
            if (r.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration || median) {
                ns[name] = r.GetAdjustedCPUTime() * multiplier(r.time_unit);
                const auto it = r.counters.find("commands");
                if (it != r.counters.end())
                    rates[name] = it->second.value;
            }
        }
        Base::ReportRuns(runs);
    }
    std::map<std::string, double> ns;
    std::map<std::string, double> rates;
    unsigned errors = 0;

private:
    static double multiplier(benchmark::TimeUnit u) {
        switch (u) {
        case benchmark::kSecond:
            return 1e9;
        case benchmark::kMillisecond:
            return 1e6;
        case benchmark::kMicrosecond:
            return 1e3;
        case benchmark::kNanosecond:
            break;
        }
        return 1.0;
    }
};

/// Runs everything, then prints the summary to `out` (stderr when stdout carries JSON).
template <class Reporter>
int run_all(Reporter& reporter, std::FILE* out) {
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    const auto ratio = [&](const char* a, const char* b) {
        const auto ia = reporter.ns.find(a);
        const auto ib = reporter.ns.find(b);
        if (ia == reporter.ns.end() || ib == reporter.ns.end() || ib->second <= 0)
            return;
        std::fprintf(out, "summary: %s / %s = %.2f (%.1f ns / %.1f ns)\n", a, b,
                     ia->second / ib->second, ia->second, ib->second);
    };
    ratio("utlb_hit", "pass_through");
    ratio("iotlb_hit_utlb1", "pass_through");
    for (const auto& [name, rate] : reporter.rates)
        std::fprintf(out, "summary: %s: %.0f commands per host second (%.1f ns per command)\n",
                     name.c_str(), rate, rate > 0 ? 1e9 / rate : 0.0);
    ratio("iotlb_hit", "pass_through"); // the headline: last line
    std::fflush(out);
    return reporter.errors == 0 ? 0 : 1; // a benchmark that measured the wrong path fails
}

bool format_is(int argc, char** argv, const char* format) {
    const std::string flag = std::string("--benchmark_format=") + format;
    for (int i = 1; i < argc; ++i)
        if (flag == argv[i])
            return true;
    return false;
}

} // namespace
} // namespace smmu::bench

int sc_main(int argc, char* argv[]) {
    using namespace smmu::bench;
    setenv("SC_COPYRIGHT_MESSAGE", "DISABLE", 0);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;

    smmu::smmu_params params;
    baseline_system baseline("baseline");
    smmu_system main_sys("sys", params, tbu_count, 16ull << 20);
    smmu::smmu_params single = params;
    single.utlb = smmu::cache_shape{1, 1, smmu::arch::replacement_policy::round_robin};
    smmu_system single_sys("sys_utlb1", single, 1, 4ull << 20);

    main_sys.map(k_utlb_va);
    for (unsigned i = 0; i < k_iotlb_pages; ++i)
        main_sys.map(k_iotlb_va + i * k_page);
    for (std::uint64_t k = 0; k < k_walk_last_pages; ++k)
        main_sys.map(walk_last_va(k));
    for (std::uint64_t k = 0; k < std::uint64_t{k_cold_regions} * k_cold_pages_per_region; ++k)
        main_sys.map(cold_va(k));
    for (unsigned i = 0; i < 2; ++i)
        single_sys.map(k_iotlb_va + i * k_page);

    sc_core::sc_start(sc_core::SC_ZERO_TIME); // elaboration and initialisation
    main_sys.bring_up();
    single_sys.bring_up();

    std::vector<std::unique_ptr<dma_port>> ports;
    register_benchmarks({&baseline, &main_sys, &single_sys}, ports);
    if (format_is(argc, argv, "json")) {
        recording_reporter<benchmark::JSONReporter> reporter;
        return run_all(reporter, stderr);
    }
    recording_reporter<benchmark::ConsoleReporter> reporter(benchmark::ConsoleReporter::OO_Tabular);
    return run_all(reporter, stdout);
}
