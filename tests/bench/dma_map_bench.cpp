// dma-map-bench: the loop of Linux's dma_map_benchmark on the simulated
// platform (tests/integration/support/driver_platform.h). Each thread runs on
// its own simulated CPU and repeatedly maps `pages` pages at its own IOVA in
// one shared stage-1 domain, then unmaps them (strict: the unmap waits for its
// invalidation). Prints the average and standard deviation of the map and
// unmap latencies in simulated microseconds, as the tool does. The DMA API's
// own share (IOVA allocation, scatterlist handling) is not run.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <systemc>

#include "tests/integration/support/driver_platform.h"

namespace {

using smmu::driver::domain_id;
using smmu::driver::op_result;

struct options {
    unsigned threads = 1;
    std::uint64_t pages = 1;
    unsigned iterations = 100;
    std::uint64_t granule = 4096;
    bool ril = false;
    int tlbi_cycles = -1; ///< SMMU cmd_tlbi_cycles; negative: the default
};

void usage() {
    std::fprintf(stderr, "usage: dma-map-bench [--threads N] [--pages P] [--iterations K] "
                         "[--granule 4k|16k|64k] [--ril on|off] [--tlbi-cycles C]\n");
}

bool parse_granule(const std::string& v, std::uint64_t& out) {
    if (v == "4k" || v == "4096")
        out = 4096;
    else if (v == "16k" || v == "16384")
        out = 16384;
    else if (v == "64k" || v == "65536")
        out = 65536;
    else
        return false;
    return true;
}

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc)
            return false;
        const std::string v = argv[++i];
        if (a == "--threads")
            o.threads = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 0));
        else if (a == "--pages")
            o.pages = std::strtoull(v.c_str(), nullptr, 0);
        else if (a == "--iterations")
            o.iterations = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 0));
        else if (a == "--granule") {
            if (!parse_granule(v, o.granule))
                return false;
        } else if (a == "--tlbi-cycles")
            o.tlbi_cycles = static_cast<int>(std::strtol(v.c_str(), nullptr, 0));
        else if (a == "--ril" && (v == "on" || v == "off"))
            o.ril = v == "on";
        else
            return false;
    }
    return o.threads > 0 && o.pages > 0 && o.iterations > 0;
}

smmu::arch::granule to_granule(std::uint64_t bytes) {
    switch (bytes) {
    case 16384:
        return smmu::arch::granule::size_16k;
    case 65536:
        return smmu::arch::granule::size_64k;
    default:
        return smmu::arch::granule::size_4k;
    }
}

struct summary {
    double mean_us = 0;
    double stddev_us = 0;
};

summary summarise(const std::vector<std::uint64_t>& ns) {
    double sum = 0, sq = 0;
    for (const std::uint64_t v : ns) {
        sum += static_cast<double>(v);
        sq += static_cast<double>(v) * static_cast<double>(v);
    }
    const double n = static_cast<double>(ns.size());
    const double mean = sum / n;
    return {mean / 1000.0, std::sqrt(std::max(0.0, sq / n - mean * mean)) / 1000.0};
}

struct thread_result {
    std::vector<std::uint64_t> map_ns;
    std::vector<std::uint64_t> unmap_ns;
    bool ok = true;
};

/// The dma_map_benchmark loop of one thread (a job on its CPU).
void thread_loop(smmu::driver::smmu_driver& drv, domain_id d, const options& o, unsigned t,
                 std::uint64_t pa, thread_result& out) {
    const std::uint64_t iova = (std::uint64_t{t} + 1) << 32;
    const std::uint64_t size = o.pages * o.granule;
    for (unsigned k = 0; k < o.iterations && out.ok; ++k) {
        const op_result m = drv.map(d, iova, pa, size, smmu::test::dma_rw());
        const op_result u = m.ok() ? drv.unmap(d, iova, size) : op_result{};
        out.ok = m.ok() && u.ok() && u.bytes == size;
        if (!out.ok)
            std::fprintf(stderr, "thread %u iteration %u: map %s, unmap %s\n", t, k,
                         smmu::driver::to_string(m.status), smmu::driver::to_string(u.status));
        out.map_ns.push_back(m.latency_ns);
        out.unmap_ns.push_back(u.latency_ns);
    }
}

smmu::test::driver_platform_config platform_config(const options& o) {
    smmu::test::driver_platform_config cfg;
    cfg.cpus = o.threads;
    cfg.tbus = {smmu::tbu_params{}};
    cfg.params.features.ril = o.ril;
    if (o.tlbi_cycles >= 0)
        cfg.params.cmd_tlbi_cycles = static_cast<std::uint32_t>(o.tlbi_cycles);
    cfg.driver.granule = to_granule(o.granule);
    return cfg;
}

/// Runs the benchmark; false on an error (reported on stderr).
bool run(const options& o) {
    smmu::test::driver_platform p(platform_config(o));
    std::vector<thread_result> results(o.threads);
    bool setup_ok = false;
    const bool finished = p.run([&] {
        auto& drv = p.drv();
        if (!p.on_cpu(0, [&] { return drv.bring_up(); }).ok())
            return;
        const op_result d =
            p.on_cpu(0, [&] { return drv.create_domain(smmu::driver::domain_kind::paging_s1); });
        smmu::driver::master_config m;
        m.sids = {1};
        if (!d.ok() || !p.on_cpu(0, [&] { return drv.add_master(m); }).ok() ||
            !p.on_cpu(0, [&] { return drv.attach(d.id, 1); }).ok())
            return;
        setup_ok = true;
        std::vector<smmu::driver::host::job_handle> jobs;
        for (unsigned t = 0; t < o.threads; ++t)
            jobs.push_back(
                p.submit(t, [&, t] { thread_loop(drv, d.id, o, t, p.data_base(), results[t]); }));
        for (const auto& j : jobs)
            j.wait();
    });
    if (!finished || !setup_ok) {
        std::fprintf(stderr, "dma-map-bench: bring-up or domain setup failed\n");
        return false;
    }
    std::vector<std::uint64_t> map_ns, unmap_ns;
    bool ok = true;
    for (const thread_result& r : results) {
        ok = ok && r.ok;
        map_ns.insert(map_ns.end(), r.map_ns.begin(), r.map_ns.end());
        unmap_ns.insert(unmap_ns.end(), r.unmap_ns.begin(), r.unmap_ns.end());
    }
    const summary sm = summarise(map_ns);
    const summary su = summarise(unmap_ns);
    std::printf("dma mapping benchmark (simulated): threads:%u pages:%llu granule:%llu ril:%s "
                "iterations:%u strict\n",
                o.threads, static_cast<unsigned long long>(o.pages),
                static_cast<unsigned long long>(o.granule), o.ril ? "on" : "off", o.iterations);
    std::printf("average map latency(us):%.3f standard deviation:%.3f\n", sm.mean_us, sm.stddev_us);
    std::printf("average unmap latency(us):%.3f standard deviation:%.3f\n", su.mean_us,
                su.stddev_us);
    const auto q = p.drv().device()->command_queue().stats();
    std::printf("cmdq: %llu commands, CMD_SYNC waits (whole run) / unmaps: %.3f us\n",
                static_cast<unsigned long long>(q.commands),
                static_cast<double>(q.sync_wait_ns) / 1000.0 /
                    static_cast<double>(unmap_ns.size()));
    std::printf("cmdq lock: %llu acquisitions, %llu contended, %.3f us waited\n",
                static_cast<unsigned long long>(p.cmdq_lock().stats().acquisitions),
                static_cast<unsigned long long>(p.cmdq_lock().stats().contended),
                p.cmdq_lock().stats().wait_time.to_seconds() * 1e6);
    return ok;
}

} // namespace

int sc_main(int argc, char* argv[]) {
    options o;
    if (!parse(argc, argv, o)) {
        usage();
        return 2;
    }
    return run(o) ? 0 : 1;
}
