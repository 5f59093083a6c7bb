// `smmu-sim sweep`: one configuration over the cross product of parameter
// values, each point in its own process (SystemC elaborates once per process),
// at most `jobs` at a time, one CSV row per point with the headline figures of
// its stats.json.
#pragma once

#include <string>
#include <vector>

#include "platforms/sim/sim_config.h"

namespace smmu::sim {

struct sweep_options {
    std::vector<std::string> axes; ///< "key=v1,v2,..."
    std::string csv;               ///< empty: stdout
    unsigned jobs = 0;             ///< 0: the number of CPUs
    std::string keep_dir;          ///< empty: points run in a temporary directory
    // How to re-run this configuration in a child process.
    std::string self;
    std::string base_config;
    std::vector<std::string> base_sets;
    std::string workload;
};

/// One axis: the key and its values as written.
struct sweep_axis {
    std::string key;
    std::vector<std::string> values;
};

/// Parses "key=v1,v2,..."; throws config_error.
sweep_axis parse_axis(const std::string& text);
/// Every combination, the last axis varying fastest: each point is a list of "key=value".
std::vector<std::vector<std::string>> cross_product(const std::vector<sweep_axis>& axes);
/// The CSV columns that follow the axes, and one row's values from a stats.json document.
std::vector<std::string> headline_columns();
std::vector<std::string> headline_values(const nlohmann::json& stats);

/// Runs the sweep; returns the process exit status (0 when every point succeeded).
/// `resolved` is the base configuration, used to reject bad axis keys and values
/// before anything runs.
int run_sweep(const sweep_options& o, const sim_config& resolved);

/// mkdir -p; throws config_error naming the path.
void make_directory(const std::string& path);

} // namespace smmu::sim
