// Appending statistics to a JSON object being built in a string, without a
// JSON library (the model's stats_json() and to_json() functions).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

namespace smmu::timing {

/// Appends `"key":` to an object that `out` has opened, with a comma unless it
/// is the object's first field; the caller appends the value.
inline void append_json_key(std::string& out, const char* key) {
    if (!out.empty() && out.back() != '{')
        out += ',';
    out += '"';
    out += key;
    out += "\":";
}

/// Appends `"key":value`.
inline void append_json_field(std::string& out, const char* key, std::uint64_t value) {
    append_json_key(out, key);
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, res.ptr);
}

} // namespace smmu::timing
