#include "platforms/sim/sweep.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace smmu::sim {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(s);
    while (std::getline(in, part, sep))
        parts.push_back(part);
    return parts;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos)
        return s;
    std::string q = "\"";
    for (const char c : s)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

struct point_run {
    std::size_t index = 0;
    std::string dir;
    pid_t pid = 0;
    int status = 0;
};

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
    std::vector<char*> argv;
    for (const std::string& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw config_error(fmt::format("sweep: cannot start {}: {}", args[0], std::strerror(rc)));
    return pid;
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

} // namespace

void make_directory(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec)
        throw config_error(path + ": cannot create the directory: " + ec.message());
}

sweep_axis parse_axis(const std::string& text) {
    const std::size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        throw config_error("--vary: expected key=v1,v2,..., got \"" + text + "\"");
    sweep_axis a;
    a.key = text.substr(0, eq);
    a.values = split(text.substr(eq + 1), ',');
    for (const std::string& v : a.values)
        if (v.empty())
            throw config_error("--vary: empty value in \"" + text + "\"");
    return a;
}

std::vector<std::vector<std::string>> cross_product(const std::vector<sweep_axis>& axes) {
    std::vector<std::vector<std::string>> points{{}};
    for (const sweep_axis& a : axes) {
        std::vector<std::vector<std::string>> next;
        for (const auto& p : points)
            for (const std::string& v : a.values) {
                next.push_back(p);
                next.back().push_back(a.key + "=" + v);
            }
        points = std::move(next);
    }
    return points;
}

std::vector<std::string> headline_columns() {
    return {"status",         "simulated_us", "host_seconds", "dma_transactions",
            "dma_gb_per_s",   "unmaps",       "unmap_p50_ns", "unmap_p99_ns",
            "syncs",          "sync_p50_ns",  "tlbi",         "atc_inv",
            "iotlb_hit_rate", "atc_hit_rate", "violations"};
}

std::vector<std::string> headline_values(const nlohmann::json& stats) {
    std::vector<std::string> row;
    const nlohmann::json& h = stats.at("headline");
    for (const std::string& c : headline_columns()) {
        if (c == "status")
            continue;
        const nlohmann::json& v = h.at(c);
        row.push_back(v.is_number_float() ? fmt::format("{:.6g}", v.get<double>()) : v.dump());
    }
    return row;
}

int run_sweep(const sweep_options& o, const sim_config& resolved) {
    std::vector<sweep_axis> axes;
    for (const std::string& text : o.axes)
        axes.push_back(parse_axis(text));
    const std::vector<std::vector<std::string>> points = cross_product(axes);
    for (const auto& p : points) { // reject bad keys and values before running anything
        sim_config c = resolved;
        try {
            apply_overrides(c, p);
            validate(c);
        } catch (const config_error& e) {
            std::string what = e.what();
            if (what.rfind("--set: ", 0) == 0)
                what = what.substr(7);
            throw config_error("--vary: " + what);
        }
    }
    const bool terminal = isatty(2) != 0;
    std::string root = o.keep_dir;
    if (root.empty()) {
        char tmpl[] = "/tmp/smmu-sweep-XXXXXX";
        if (mkdtemp(tmpl) == nullptr)
            throw config_error("sweep: cannot create a temporary directory");
        root = tmpl;
    }
    make_directory(root);
    const unsigned jobs =
        o.jobs != 0 ? o.jobs : std::max(1u, static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN)));

    std::vector<point_run> runs(points.size());
    std::map<pid_t, std::size_t> running;
    std::size_t next = 0;
    auto start_next = [&] {
        point_run& r = runs[next];
        r.index = next;
        r.dir = fmt::format("{}/point-{}", root, next);
        make_directory(r.dir);
        std::vector<std::string> args{o.self, "run", "--quiet", "--out", r.dir};
        if (!o.base_config.empty())
            args.insert(args.end(), {"--config", o.base_config});
        if (!o.workload.empty())
            args.insert(args.end(), {"--workload", o.workload});
        for (const std::string& s : o.base_sets)
            args.insert(args.end(), {"--set", s});
        for (const std::string& s : points[next])
            args.insert(args.end(), {"--set", s});
        r.pid = spawn(args, r.dir + "/log.txt");
        running[r.pid] = next;
        ++next;
    };
    while (next < points.size() || !running.empty()) {
        while (next < points.size() && running.size() < jobs)
            start_next();
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0)
            break;
        const auto it = running.find(pid);
        if (it == running.end())
            continue;
        runs[it->second].status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        running.erase(it);
        if (terminal)
            std::cerr << fmt::format("\rsweep: {}/{} points done", next - running.size(),
                                     points.size())
                      << std::flush;
    }
    if (terminal)
        std::cerr << "\n";

    std::ostringstream csv;
    std::vector<std::string> header;
    for (const sweep_axis& a : axes)
        header.push_back(a.key);
    for (const std::string& c : headline_columns())
        header.push_back(c);
    for (std::size_t i = 0; i < header.size(); ++i)
        csv << (i ? "," : "") << csv_field(header[i]);
    csv << "\n";
    int failures = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
        std::vector<std::string> row;
        for (const std::string& kv : points[i])
            row.push_back(kv.substr(kv.find('=') + 1));
        const point_run& r = runs[i];
        row.push_back(std::to_string(r.status));
        nlohmann::json stats =
            nlohmann::json::parse(read_text(r.dir + "/stats.json"), nullptr, false);
        if (r.status == 0 && !stats.is_discarded() && stats.contains("headline")) {
            const std::vector<std::string> v = headline_values(stats);
            row.insert(row.end(), v.begin(), v.end());
        } else {
            ++failures;
            std::cerr << fmt::format("sweep: point {} failed (status {}), see {}/log.txt\n", i,
                                     r.status, r.dir);
        }
        for (std::size_t k = 0; k < row.size(); ++k)
            csv << (k ? "," : "") << csv_field(row[k]);
        csv << "\n";
    }
    if (o.csv.empty()) {
        std::cout << csv.str();
    } else {
        std::ofstream f(o.csv);
        if (!f || !(f << csv.str()))
            throw config_error(o.csv + ": cannot write the file");
    }
    if (o.keep_dir.empty())
        std::filesystem::remove_all(root);
    return failures == 0 ? 0 : 4;
}

} // namespace smmu::sim
