// ats-unmap-bench: the simulated cost of a strict unmap when N ATS endpoints
// share the domain (smmu-sim's platform, platforms/sim/sim_platform.h).
//
// One stage-1 domain, N ATS-capable endpoints attached to it. Each iteration
// maps `size` bytes, lets every endpoint read the first page (so its ATC holds
// a translation and the SMMU's IOTLB too), then unmaps: the driver issues the
// TLBIs, a CMD_SYNC, one ATC_INV per endpoint and a CMD_SYNC that completes
// only when every endpoint has answered. Reports the unmap latency (software
// view: the driver call) and the commands per unmap.
//
//   ats-unmap-bench [--endpoints N] [--size 4k|1m|BYTES] [--ril on|off] [--iterations K]
//   ats-unmap-bench --table      every point of {1,4,16} x {4 KiB, 1 MiB} x {RIL, no RIL},
//                                one process each, as a Markdown table
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <systemc>

#include "platforms/sim/sim_platform.h"

extern char** environ;

namespace {

using namespace smmu;

struct options {
    unsigned endpoints = 1;
    std::uint64_t size = 4096;
    bool ril = true;
    unsigned iterations = 50;
    bool table = false;
};

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--table") {
            o.table = true;
            continue;
        }
        if (i + 1 >= argc)
            return false;
        const std::string v = argv[++i];
        if (a == "--endpoints")
            o.endpoints = static_cast<unsigned>(std::stoul(v));
        else if (a == "--size")
            o.size = v == "4k" ? 4096 : v == "1m" ? (1u << 20) : std::stoull(v);
        else if (a == "--ril")
            o.ril = v == "on";
        else if (a == "--iterations")
            o.iterations = static_cast<unsigned>(std::stoul(v));
        else
            return false;
    }
    return o.endpoints >= 1 && o.endpoints <= 64 && o.size >= 4096 && o.size % 4096 == 0 &&
           o.iterations >= 1;
}

traces::workload make_workload(const options& o) {
    std::ostringstream t;
    t << "@0 domain name=d type=s1\n";
    for (unsigned e = 0; e < o.endpoints; ++e)
        t << fmt::format("+ attach dom=d sid={:#x}\n", 0x10 + e);
    for (unsigned i = 0; i < o.iterations; ++i) {
        t << fmt::format("+ map dom=d iova=0x1000000 size={}\n", o.size);
        for (unsigned e = 0; e < o.endpoints; ++e)
            t << fmt::format("{} dma_read sid={:#x} iova=0x1000000 len=64\n", e == 0 ? "+" : "&",
                             0x10 + e);
        t << fmt::format("+ unmap dom=d iova=0x1000000 size={}\n", o.size);
    }
    std::istringstream in(t.str());
    return traces::parse_workload(in, "ats-unmap-bench");
}

int run_point(const options& o) {
    sim::sim_config c;
    c.cpus = 1;
    c.smmu.features.ril = o.ril;
    sim::group_config g;
    g.name = "ep";
    g.count = o.endpoints;
    g.ats = true;
    g.stream_id_base = 0x10;
    g.attach_at_start = false;
    c.groups.push_back(g);
    sim::sim_platform p(c);
    const traces::workload w = make_workload(o);
    p.set_workload(w);
    const sim::run_result r = p.run();
    if (!r.finished || p.checker().total() != 0) {
        std::fprintf(stderr, "ats-unmap-bench: %s\n", r.error.c_str());
        return 1;
    }
    // The unmaps are the last line of each iteration.
    double total_ns = 0;
    std::uint64_t tlbi = 0, atc_inv = 0, sync = 0, unmaps = 0;
    for (const auto& out : p.trace_outcomes()) {
        const auto& ops = w.ops;
        const auto it = std::find_if(ops.begin(), ops.end(),
                                     [&](const traces::op& op) { return op.line == out.line; });
        if (it == ops.end() || !std::holds_alternative<traces::unmap_op>(it->body))
            continue;
        ++unmaps;
        total_ns += static_cast<double>(out.end - out.begin) / 1e3;
        for (const auto& [op, n] : out.commands) {
            if (op == arch::opcode::atc_inv)
                atc_inv += n;
            else if (op == arch::opcode::sync)
                sync += n;
            else
                tlbi += n;
        }
    }
    const auto per = [&](std::uint64_t n) {
        return static_cast<double>(n) / static_cast<double>(unmaps);
    };
    std::printf("| %u | %s | %s | %.2f | %.1f | %.1f | %.1f |\n", o.endpoints,
                o.size == 4096         ? "4 KiB"
                : o.size == (1u << 20) ? "1 MiB"
                                       : "other",
                o.ril ? "yes" : "no", total_ns / static_cast<double>(unmaps) / 1e3, per(tlbi),
                per(atc_inv), per(sync));
    return 0;
}

int run_table(const char* self, unsigned iterations) {
    std::printf("| ATS endpoints | unmap | RIL | unmap latency (µs) | TLBI / unmap | ATC_INV / "
                "unmap | CMD_SYNC / unmap |\n|---|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    int failures = 0;
    for (const char* size : {"4k", "1m"})
        for (const char* ril : {"on", "off"})
            for (const char* n : {"1", "4", "16"}) {
                const std::string it = std::to_string(iterations);
                std::vector<const char*> argv{self,       "--endpoints", n,   "--size",
                                              size,       "--ril",       ril, "--iterations",
                                              it.c_str(), nullptr};
                pid_t pid = 0;
                if (posix_spawn(&pid, self, nullptr, nullptr, const_cast<char**>(argv.data()),
                                environ) != 0) {
                    ++failures;
                    continue;
                }
                int status = 0;
                waitpid(pid, &status, 0);
                failures += WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
            }
    return failures == 0 ? 0 : 1;
}

} // namespace

int sc_main(int argc, char* argv[]) {
    options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr, "usage: ats-unmap-bench [--endpoints N] [--size 4k|1m|BYTES] "
                             "[--ril on|off] [--iterations K] | --table [--iterations K]\n");
        return 2;
    }
    if (o.table)
        return run_table(argv[0], o.iterations);
    return run_point(o);
}
