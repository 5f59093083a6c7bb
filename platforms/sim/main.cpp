// smmu-sim: the simulator's command line (docs/smmu-sim.md).
//
//   smmu-sim                      the default platform and workload, with a summary
//   smmu-sim run [options]        one configuration (--config, --set, --workload, --out)
//   smmu-sim sweep [options]      a cross product of parameter values, one CSV row per point
//   smmu-sim params               every parameter with its type, unit and meaning
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <systemc>

#include "platforms/sim/sim_config.h"
#include "platforms/sim/sim_platform.h"
#include "platforms/sim/sweep.h"

namespace {

using namespace smmu::sim;

struct run_options {
    std::string config;
    std::vector<std::string> sets;
    std::string workload;
    std::string out;
    bool strict = false;
    bool quiet = false;
};

sim_config resolve(const run_options& o) {
    sim_config c = sim_config::default_config();
    if (!o.config.empty()) {
        config_origin origin;
        const nlohmann::json j = load_json_file(o.config, origin);
        apply_config(c, j, origin);
    }
    apply_overrides(c, o.sets);
    if (!o.workload.empty())
        c.trace_file = o.workload;
    if (o.strict)
        c.strict = true;
    validate(c);
    return c;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    if (!f || !(f << text))
        throw config_error(path + ": cannot write the file");
}

int run_simulation(const run_options& o) {
    sim_config cfg = resolve(o);
    if (!o.out.empty())
        make_directory(o.out);
    sim_platform platform(cfg, o.out.empty() ? "" : o.out + "/trace.json");
    if (!o.quiet)
        platform.enable_progress();
    const run_result r = platform.run();
    const std::string stats = platform.stats_json();
    if (!o.out.empty()) {
        write_file(o.out + "/stats.json", nlohmann::json::parse(stats).dump(2) + "\n");
        write_file(o.out + "/config.json", to_json(cfg).dump(2) + "\n");
    }
    if (!o.quiet)
        std::cout << platform.summary();
    if (!r.error.empty())
        return 2;
    if (cfg.strict && platform.checker().total() != 0)
        return 3;
    return 0;
}

int list_params() {
    sim_config c = sim_config::default_config();
    param_table t;
    register_params(t, c);
    const nlohmann::json values = to_json(c);
    std::cout << fmt::format("{:<44} {:<12} {:<10} {:<14} {}\n", "key", "type", "unit", "default",
                             "meaning");
    for (const param_info& p : t.list()) {
        std::string key = p.key;
        std::replace(key.begin(), key.end(), '.', '/');
        const std::string value = values.at(nlohmann::json::json_pointer("/" + key)).dump();
        std::cout << fmt::format("{:<44} {:<12} {:<10} {:<14} {}\n", p.key, p.type, p.unit, value,
                                 p.doc);
    }
    return 0;
}

void add_run_options(CLI::App& app, run_options& o) {
    app.add_option("--config", o.config, "JSON configuration (platforms/configs/*.json)")
        ->check(CLI::ExistingFile);
    app.add_option("--set", o.sets, "override one parameter: key=value (repeatable)");
    app.add_option("--workload", o.workload, "workload trace to replay (traces/README.md)")
        ->check(CLI::ExistingFile);
    app.add_flag("--strict", o.strict, "exit with status 3 if the checker flags a violation");
}

} // namespace

int sc_main(int argc, char* argv[]) {
    CLI::App app{"smmu-sim: SMMUv3 platform simulator (SMMUv3-TLM).\n"
                 "Without a subcommand: runs the default platform and workload."};
    app.set_help_all_flag("--help-all", "help for every subcommand");
    run_options defaults;
    app.add_flag("--strict", defaults.strict,
                 "exit with status 3 if the checker flags a violation");

    run_options run;
    CLI::App* run_cmd = app.add_subcommand("run", "run one configuration");
    add_run_options(*run_cmd, run);
    run_cmd->add_option("--out", run.out, "write stats.json, trace.json and config.json here");
    run_cmd->add_flag("--quiet", run.quiet, "no summary, no progress");

    run_options sweep_base;
    sweep_options sweep;
    CLI::App* sweep_cmd =
        app.add_subcommand("sweep", "run a cross product of parameter values, one CSV row each");
    add_run_options(*sweep_cmd, sweep_base);
    sweep_cmd
        ->add_option("--vary", sweep.axes,
                     "key=v1,v2,... : one axis of the cross product (repeatable)")
        ->required();
    sweep_cmd->add_option("--csv", sweep.csv, "where to write the CSV (default: stdout)");
    sweep_cmd->add_option("--jobs", sweep.jobs, "points run at once (default: CPUs)");
    sweep_cmd->add_option("--keep", sweep.keep_dir,
                          "keep each point's stats.json and config.json under this directory");

    app.add_subcommand("params", "list every parameter (key, type, unit, meaning)");
    app.require_subcommand(0, 1);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    sc_core::sc_report_handler::set_actions(sc_core::SC_WARNING, sc_core::SC_DISPLAY);
    try {
        if (run_cmd->parsed())
            return run_simulation(run);
        if (sweep_cmd->parsed()) {
            sweep.base_config = sweep_base.config;
            sweep.base_sets = sweep_base.sets;
            sweep.workload = sweep_base.workload;
            sweep.self = argv[0];
            return run_sweep(sweep, resolve(sweep_base));
        }
        if (app.got_subcommand("params"))
            return list_params();
        return run_simulation(defaults);
    } catch (const config_error& e) {
        std::cerr << "smmu-sim: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "smmu-sim: " << e.what() << "\n";
        return 1;
    }
}
