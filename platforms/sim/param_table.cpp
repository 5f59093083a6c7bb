#include "platforms/sim/param_table.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

namespace smmu::sim {

namespace {

std::vector<std::string> split_key(const std::string& key) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(key);
    while (std::getline(in, part, '.'))
        parts.push_back(part);
    return parts;
}

template <typename T>
T unsigned_value(const nlohmann::json& j) {
    if (!j.is_number_integer() || (j.is_number_integer() && !j.is_number_unsigned()))
        throw std::invalid_argument("expected a non-negative integer");
    const auto v = j.get<std::uint64_t>();
    if (v > std::numeric_limits<T>::max())
        throw std::invalid_argument(
            fmt::format("out of range (at most {})", std::numeric_limits<T>::max()));
    return static_cast<T>(v);
}

} // namespace

std::string config_origin::where(const std::string& key) const {
    if (text.empty())
        return name + ": ";
    std::size_t pos = 0;
    bool found = true;
    for (const std::string& part : split_key(key)) {
        const std::size_t at = text.find('"' + part + '"', pos);
        if (at == std::string::npos) {
            found = false;
            break;
        }
        pos = at + 1;
    }
    if (!found || pos == 0)
        return name + ": ";
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n');
    return fmt::format("{}:{}: ", name, line);
}

std::uint64_t parse_time_ps(const nlohmann::json& value) {
    if (value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0))
        return value.get<std::uint64_t>();
    if (!value.is_string())
        throw std::invalid_argument("expected a time: a number of ps or a string like \"50ns\"");
    const std::string s = value.get<std::string>();
    std::size_t used = 0;
    double number = 0;
    try {
        number = std::stod(s, &used);
    } catch (const std::exception&) {
        throw std::invalid_argument("bad time \"" + s + "\"");
    }
    const std::string unit = s.substr(used);
    double scale = 0;
    if (unit == "ps" || unit.empty())
        scale = 1;
    else if (unit == "ns")
        scale = 1e3;
    else if (unit == "us")
        scale = 1e6;
    else if (unit == "ms")
        scale = 1e9;
    else if (unit == "s")
        scale = 1e12;
    else
        throw std::invalid_argument("bad time unit \"" + unit + "\" (ps, ns, us, ms, s)");
    const double ps = number * scale;
    if (!std::isfinite(ps) || ps < 0 || ps > 1.8e19)
        throw std::invalid_argument("time out of range \"" + s + "\"");
    return static_cast<std::uint64_t>(std::llround(ps));
}

void param_table::insert(param p) {
    if (find(p.info.key) != nullptr)
        throw std::logic_error("parameter registered twice: " + p.info.key);
    m_params.push_back(std::move(p));
}

void param_table::add(const std::string& key, bool& v, std::string doc) {
    insert({{key, "bool", "", std::move(doc)},
            [&v](const nlohmann::json& j) {
                if (!j.is_boolean())
                    throw std::invalid_argument("expected true or false");
                v = j.get<bool>();
            },
            [&v]() { return nlohmann::json(v); }});
}

void param_table::add(const std::string& key, std::uint32_t& v, std::string unit, std::string doc) {
    insert({{key, "integer", std::move(unit), std::move(doc)},
            [&v](const nlohmann::json& j) { v = unsigned_value<std::uint32_t>(j); },
            [&v]() { return nlohmann::json(v); }});
}

void param_table::add(const std::string& key, std::uint64_t& v, std::string unit, std::string doc) {
    insert({{key, "integer", std::move(unit), std::move(doc)},
            [&v](const nlohmann::json& j) { v = unsigned_value<std::uint64_t>(j); },
            [&v]() { return nlohmann::json(v); }});
}

void param_table::add(const std::string& key, double& v, std::string unit, std::string doc) {
    insert({{key, "number", std::move(unit), std::move(doc)},
            [&v](const nlohmann::json& j) {
                if (!j.is_number() || !std::isfinite(j.get<double>()))
                    throw std::invalid_argument("expected a number");
                v = j.get<double>();
            },
            [&v]() { return nlohmann::json(v); }});
}

void param_table::add(const std::string& key, std::string& v, std::string doc) {
    insert({{key, "string", "", std::move(doc)},
            [&v](const nlohmann::json& j) {
                if (!j.is_string())
                    throw std::invalid_argument("expected a string");
                v = j.get<std::string>();
            },
            [&v]() { return nlohmann::json(v); }});
}

void param_table::add_time(const std::string& key, std::uint64_t& ps, std::string doc) {
    insert({{key, "time", "ps", std::move(doc)},
            [&ps](const nlohmann::json& j) { ps = parse_time_ps(j); },
            [&ps]() { return nlohmann::json(ps); }});
}

const param_table::param* param_table::find(const std::string& key) const {
    for (const param& p : m_params)
        if (p.info.key == key)
            return &p;
    return nullptr;
}

bool param_table::contains(const std::string& key) const {
    return find(key) != nullptr;
}

bool param_table::is_prefix(const std::string& key) const {
    const std::string dotted = key + '.';
    return std::any_of(m_params.begin(), m_params.end(), [&](const param& p) {
        return p.info.key.compare(0, dotted.size(), dotted) == 0;
    });
}

void param_table::set(const std::string& key, const nlohmann::json& value,
                      const config_origin& origin) {
    const param* p = find(key);
    if (p == nullptr)
        throw config_error(origin.where(key) + "unknown key \"" + key + "\"");
    try {
        p->set(value);
    } catch (const std::invalid_argument& e) {
        throw config_error(fmt::format("{}key \"{}\": {} (got {})", origin.where(key), key,
                                       e.what(), value.dump()));
    }
}

void param_table::apply(const nlohmann::json& object, const config_origin& origin,
                        const std::string& prefix) {
    if (!object.is_object())
        throw config_error(origin.where(prefix) + "expected an object" +
                           (prefix.empty() ? "" : " for \"" + prefix + "\""));
    for (const auto& [name, value] : object.items()) {
        const std::string key = prefix.empty() ? name : prefix + '.' + name;
        if (value.is_object() && find(key) == nullptr && is_prefix(key))
            apply(value, origin, key);
        else if (find(key) != nullptr)
            set(key, value, origin);
        else
            throw config_error(origin.where(key) + "unknown key \"" + key + "\"");
    }
}

void param_table::apply_override(const std::string& assignment) {
    const config_origin origin{"--set", ""};
    const std::size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw config_error("--set: expected key=value, got \"" + assignment + "\"");
    const std::string key = assignment.substr(0, eq);
    const std::string text = assignment.substr(eq + 1);
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded())
        value = text;
    set(key, value, origin);
}

nlohmann::json param_table::to_json() const {
    nlohmann::json out = nlohmann::json::object();
    for (const param& p : m_params) {
        nlohmann::json* node = &out;
        for (const std::string& part : split_key(p.info.key))
            node = &(*node)[part];
        *node = p.get();
    }
    return out;
}

std::vector<param_info> param_table::list() const {
    std::vector<param_info> out;
    for (const param& p : m_params)
        out.push_back(p.info);
    return out;
}

nlohmann::json load_json_file(const std::string& path, config_origin& origin) {
    std::ifstream in(path);
    if (!in)
        throw config_error(path + ": cannot open the file");
    std::ostringstream text;
    text << in.rdbuf();
    origin = config_origin{path, text.str()};
    try {
        return nlohmann::json::parse(origin.text, nullptr, true, true); // comments allowed
    } catch (const nlohmann::json::parse_error& e) {
        const std::size_t at = std::min<std::size_t>(e.byte, origin.text.size());
        const auto line =
            1 + std::count(origin.text.begin(), origin.text.begin() + static_cast<long>(at), '\n');
        throw config_error(fmt::format("{}:{}: JSON syntax error: {}", path, line, e.what()));
    }
}

} // namespace smmu::sim
