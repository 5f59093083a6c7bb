// Named, typed parameters bound to configuration fields: the single place where
// a JSON configuration, `--set key=value` overrides, the resolved configuration
// written by `--out` and the parameter listing (`smmu-sim params`) meet.
//
// Keys are dotted paths ("smmu.cmd_tlbi_cycles"). A JSON object is applied
// recursively: every key it holds must be a registered parameter or a prefix
// of one, and every value must have the parameter's type, else a config_error
// names the file, the line (when the text is available) and the key.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace smmu::sim {

/// A configuration problem, with the message already naming file, line and key.
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Where values come from, for error messages: a file (with its text, to find
/// line numbers) or the command line.
struct config_origin {
    std::string name; ///< file path, or "--set"
    std::string text; ///< the file's content; empty for the command line

    /// "name:line: " for `key` (its last occurrence in order of the path's
    /// components), or "name: " when the line cannot be found.
    std::string where(const std::string& key) const;
};

struct param_info {
    std::string key;
    std::string type; ///< bool, integer, number, string, time, or "a|b|c" for choices
    std::string unit;
    std::string doc;
};

class param_table {
public:
    void add(const std::string& key, bool& v, std::string doc);
    void add(const std::string& key, std::uint32_t& v, std::string unit, std::string doc);
    void add(const std::string& key, std::uint64_t& v, std::string unit, std::string doc);
    void add(const std::string& key, double& v, std::string unit, std::string doc);
    void add(const std::string& key, std::string& v, std::string doc);
    /// A duration in picoseconds: a number (ps) or a string with a unit ("50ns", "1.5us").
    void add_time(const std::string& key, std::uint64_t& ps, std::string doc);

    /// One of a fixed set of names.
    template <typename E>
    void add_choice(const std::string& key, E& v, std::vector<std::pair<std::string, E>> names,
                    std::string doc) {
        std::string type;
        for (const auto& n : names)
            type += (type.empty() ? "" : "|") + n.first;
        param p{{key, type, "", std::move(doc)}, {}, {}};
        p.set = [&v, names, type](const nlohmann::json& j) {
            if (j.is_string())
                for (const auto& n : names)
                    if (n.first == j.get<std::string>()) {
                        v = n.second;
                        return;
                    }
            throw std::invalid_argument("expected one of " + type);
        };
        p.get = [&v, names]() {
            for (const auto& n : names)
                if (n.second == v)
                    return nlohmann::json(n.first);
            return nlohmann::json(nullptr);
        };
        insert(std::move(p));
    }

    /// Applies every key of `object` (nested objects descend into dotted keys).
    void apply(const nlohmann::json& object, const config_origin& origin,
               const std::string& prefix = "");
    /// One override "key=value": the value is read as JSON when it parses as such
    /// (numbers, true/false, quoted strings), else as a bare string.
    void apply_override(const std::string& assignment);
    /// Sets one parameter.
    void set(const std::string& key, const nlohmann::json& value, const config_origin& origin);

    bool contains(const std::string& key) const;
    /// The current values as a nested JSON object.
    nlohmann::json to_json() const;
    std::vector<param_info> list() const;

private:
    struct param {
        param_info info;
        std::function<void(const nlohmann::json&)> set;
        std::function<nlohmann::json()> get;
    };
    void insert(param p);
    const param* find(const std::string& key) const;
    bool is_prefix(const std::string& key) const;

    std::vector<param> m_params;
};

/// Parses a JSON configuration file; a syntax error names the file and line.
nlohmann::json load_json_file(const std::string& path, config_origin& origin);

/// Parses "50ns", "1.5us", "2ms", "1s", "300ps" or a bare number of picoseconds.
std::uint64_t parse_time_ps(const nlohmann::json& value);

} // namespace smmu::sim
