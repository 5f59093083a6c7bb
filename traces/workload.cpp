#include "traces/workload.h"

#include <array>
#include <fstream>
#include <istream>
#include <limits>
#include <map>
#include <ostream>
#include <sstream>
#include <string_view>
#include <utility>

#include <fmt/core.h>

namespace smmu::traces {

namespace {

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t u32_max = std::numeric_limits<std::uint32_t>::max();
/// PASIDs / SubstreamIDs are at most 20 bits (IHI0070 §3.3.2, IDR1.SSIDSIZE <= 20).
constexpr std::uint32_t pasid_max = (1U << 20) - 1;
/// Tokens quoted in messages are cut to this many characters.
constexpr std::size_t quote_limit = 48;

std::string error_text(const std::string& file, std::size_t line, const std::string& message) {
    if (line == 0)
        return fmt::format("{}: {}", file, message);
    return fmt::format("{}:{}: {}", file, line, message);
}

std::string quote(std::string_view token) {
    if (token.size() <= quote_limit)
        return fmt::format("'{}'", token);
    return fmt::format("'{}...'", token.substr(0, quote_limit));
}

// ---------------------------------------------------------------------------------------------
// Numbers and times

enum class number_status : std::uint8_t { ok, bad, overflow };

bool multiply_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& product) {
    if (a != 0 && b > u64_max / a)
        return true;
    product = a * b;
    return false;
}

bool add_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& sum) {
    if (b > u64_max - a)
        return true;
    sum = a + b;
    return false;
}

int digit_value(char c, unsigned base) {
    int v = -1;
    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
    return v >= 0 && static_cast<unsigned>(v) < base ? v : -1;
}

/// Digits in `base` (at least one); `bad` on any other character.
number_status parse_digits(std::string_view text, unsigned base, std::uint64_t& out) {
    if (text.empty())
        return number_status::bad;
    std::uint64_t value = 0;
    bool overflow = false;
    for (char c : text) {
        int d = digit_value(c, base);
        if (d < 0)
            return number_status::bad;
        overflow = overflow || multiply_overflows(value, base, value) ||
                   add_overflows(value, static_cast<std::uint64_t>(d), value);
    }
    out = value;
    return overflow ? number_status::overflow : number_status::ok;
}

std::uint64_t suffix_multiplier(char c) {
    switch (c) {
    case 'K':
        return std::uint64_t{1} << 10;
    case 'M':
        return std::uint64_t{1} << 20;
    case 'G':
        return std::uint64_t{1} << 30;
    default:
        return 0;
    }
}

/// Decimal or 0x hex, optionally (byte quantities) followed by K, M or G.
number_status parse_number(std::string_view text, bool allow_suffix, std::uint64_t& out) {
    std::uint64_t multiplier = 1;
    if (allow_suffix && !text.empty() && suffix_multiplier(text.back()) != 0) {
        multiplier = suffix_multiplier(text.back());
        text.remove_suffix(1);
    }
    unsigned base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    std::uint64_t value = 0;
    number_status status = parse_digits(text, base, value);
    if (status != number_status::ok)
        return status;
    if (multiply_overflows(value, multiplier, out))
        return number_status::overflow;
    return number_status::ok;
}

struct time_unit {
    std::string_view name;
    std::uint64_t ps;
    unsigned decimals; ///< log10(ps): the finest fraction the unit can express in whole ps
};

constexpr std::array<time_unit, 5> time_units{{
    {"s", 1'000'000'000'000, 12},
    {"ms", 1'000'000'000, 9},
    {"us", 1'000'000, 6},
    {"ns", 1'000, 3},
    {"ps", 1, 0},
}};

const time_unit* find_time_unit(std::string_view name) {
    for (const auto& u : time_units) {
        if (u.name == name)
            return &u;
    }
    return nullptr;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// ---------------------------------------------------------------------------------------------
// Tokens of one line

struct field {
    std::string_view key;
    std::optional<std::string_view> value; ///< unset for a flag
};

struct domain_info {
    domain_type type;
    std::size_t line;
};

/// Parses one line into an op; knows the file's earlier lines through `state`.
struct parse_state {
    std::map<std::string, domain_info, std::less<>> domains;
    std::size_t ops_seen = 0;
    std::optional<std::pair<time_ps, std::size_t>> last_absolute; ///< time and line
};

class line_parser {
public:
    line_parser(const std::string& file, std::size_t line, parse_state& state)
        : m_file(file)
        , m_line(line)
        , m_state(state) {}

    std::optional<op> parse(std::string_view text);

private:
    [[noreturn]] void fail(const std::string& message) const {
        throw trace_error(m_file, m_line, message);
    }
    [[noreturn]] void fail_key(std::string_view key, const std::string& message) const {
        fail(fmt::format("{}: key '{}': {}", m_op, key, message));
    }

    timing parse_timing(std::string_view token);
    time_ps parse_time(std::string_view token, std::string_view number);
    void split_fields(const std::vector<std::string_view>& tokens, std::size_t first);
    void allow_keys(std::initializer_list<std::string_view> keys,
                    std::initializer_list<std::string_view> flags = {});
    op_body parse_body(std::string_view name);

    const field* find(std::string_view key) const;
    std::string_view required_value(std::string_view key) const;
    std::uint64_t number(std::string_view key, std::string_view text, bool bytes,
                         std::uint64_t max) const;
    std::uint64_t required_number(std::string_view key, bool bytes, std::uint64_t max) const;
    std::optional<std::uint64_t> optional_number(std::string_view key, bool bytes,
                                                 std::uint64_t max) const;
    std::uint64_t address(std::string_view key) const {
        return required_number(key, true, u64_max);
    }
    std::uint64_t byte_count(std::string_view key) const;
    std::uint64_t optional_byte_count(std::string_view key, std::uint64_t fallback) const;
    std::uint32_t sid() const;
    std::uint32_t pasid() const;
    std::optional<std::uint32_t> optional_pasid() const;
    std::uint32_t cpu() const;
    bool flag(std::string_view key) const { return find(key) != nullptr; }
    void check_range(std::string_view key, std::uint64_t base, std::uint64_t size) const;
    std::string name_value(std::string_view key) const;
    std::string domain_ref(std::string_view key) const;
    domain_type domain_type_value(std::string_view key) const;
    std::optional<std::uint32_t> granule_value(std::string_view key) const;
    access access_value(std::string_view key) const;

    domain_op parse_domain();
    map_op parse_map();
    unmap_op parse_unmap();
    attach_op parse_attach();
    bind_op parse_bind();
    dma_op parse_dma(dma_direction direction);
    ats_req_op parse_ats_req();

    const std::string& m_file;
    std::size_t m_line;
    parse_state& m_state;
    std::string_view m_op;
    std::vector<field> m_fields;
};

std::vector<std::string_view> split_tokens(std::string_view text) {
    std::vector<std::string_view> tokens;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
            ++i;
        std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t')
            ++i;
        if (i > start)
            tokens.push_back(text.substr(start, i - start));
    }
    return tokens;
}

std::string_view strip_comment(std::string_view text) {
    std::size_t hash = text.find('#');
    if (hash != std::string_view::npos)
        text = text.substr(0, hash);
    if (!text.empty() && text.back() == '\r')
        text.remove_suffix(1);
    return text;
}

std::optional<op> line_parser::parse(std::string_view text) {
    std::vector<std::string_view> tokens = split_tokens(strip_comment(text));
    if (tokens.empty())
        return std::nullopt;
    std::size_t next = 0;
    timing when;
    char first = tokens[0][0];
    if (first == '@' || first == '+' || first == '&') {
        when = parse_timing(tokens[0]);
        next = 1;
    }
    if (next == tokens.size())
        fail(fmt::format("missing operation after {}", quote(tokens[0])));
    m_op = tokens[next];
    split_fields(tokens, next + 1);
    op result{m_line, when, parse_body(m_op)};
    ++m_state.ops_seen;
    return result;
}

timing line_parser::parse_timing(std::string_view token) {
    std::string_view rest = token.substr(1);
    switch (token[0]) {
    case '&':
        if (!rest.empty())
            fail(fmt::format("bad time {}: '&' takes no time", quote(token)));
        if (m_state.ops_seen == 0)
            fail("'&' on the first operation: there is no operation to issue it with");
        return {timing_kind::with_previous, 0};
    case '+':
        return {timing_kind::after_previous, rest.empty() ? 0 : parse_time(token, rest)};
    default: {
        time_ps t = parse_time(token, rest);
        if (m_state.last_absolute && t < m_state.last_absolute->first) {
            fail(fmt::format("time {} is earlier than @{} on line {}", quote(token),
                             format_time(m_state.last_absolute->first),
                             m_state.last_absolute->second));
        }
        m_state.last_absolute = std::make_pair(t, m_line);
        return {timing_kind::absolute, t};
    }
    }
}

/// `number` is "<digits>[.<digits>][unit]" (bare = ns), converted to ps exactly.
time_ps line_parser::parse_time(std::string_view token, std::string_view number) {
    std::size_t end = 0;
    while (end < number.size() && (is_digit(number[end]) || number[end] == '.'))
        ++end;
    std::string_view unit_name = number.substr(end);
    const time_unit* unit = find_time_unit(unit_name.empty() ? "ns" : unit_name);
    if (unit == nullptr)
        fail(fmt::format("bad time {}: unknown unit {} (ps, ns, us, ms, s)", quote(token),
                         quote(unit_name)));
    std::string_view digits = number.substr(0, end);
    std::size_t dot = digits.find('.');
    std::string_view whole = digits.substr(0, dot);
    std::string_view fraction;
    if (dot != std::string_view::npos) {
        fraction = digits.substr(dot + 1);
        if (fraction.empty())
            fail(fmt::format("bad time {}: expected a number like 1.5us", quote(token)));
    }
    while (!fraction.empty() && fraction.back() == '0')
        fraction.remove_suffix(1);
    std::uint64_t whole_value = 0;
    std::uint64_t fraction_value = 0;
    number_status status = parse_digits(whole, 10, whole_value);
    if (status != number_status::bad && !fraction.empty() &&
        parse_digits(fraction, 10, fraction_value) == number_status::bad)
        status = number_status::bad;
    if (status == number_status::bad)
        fail(fmt::format("bad time {}: expected a number like 1.5us", quote(token)));
    if (fraction.size() > unit->decimals)
        fail(fmt::format("bad time {}: finer than 1 ps", quote(token)));
    // fraction has at most `decimals` significant digits, so fraction_value * fraction_unit is
    // below unit->ps and cannot overflow.
    std::uint64_t fraction_unit = unit->ps;
    for (std::size_t i = 0; i < fraction.size(); ++i)
        fraction_unit /= 10;
    time_ps t = 0;
    if (status == number_status::overflow || multiply_overflows(whole_value, unit->ps, t) ||
        add_overflows(t, fraction_value * fraction_unit, t))
        fail(fmt::format("bad time {}: out of range", quote(token)));
    return t;
}

void line_parser::split_fields(const std::vector<std::string_view>& tokens, std::size_t first) {
    m_fields.clear();
    for (std::size_t i = first; i < tokens.size(); ++i) {
        std::string_view token = tokens[i];
        std::size_t eq = token.find('=');
        field f;
        f.key = token.substr(0, eq);
        if (eq != std::string_view::npos)
            f.value = token.substr(eq + 1);
        if (f.key.empty())
            fail(fmt::format("{}: {} has no key", m_op, quote(token)));
        if (find(f.key) != nullptr)
            fail(fmt::format("{}: duplicate key '{}'", m_op, f.key));
        m_fields.push_back(f);
    }
}

void line_parser::allow_keys(std::initializer_list<std::string_view> keys,
                             std::initializer_list<std::string_view> flags) {
    auto contains = [](std::initializer_list<std::string_view> list, std::string_view key) {
        for (std::string_view k : list) {
            if (k == key)
                return true;
        }
        return false;
    };
    for (const field& f : m_fields) {
        bool is_key = contains(keys, f.key);
        bool is_flag = contains(flags, f.key);
        if (!is_key && !is_flag)
            fail(fmt::format("{}: unknown key {}", m_op, quote(f.key)));
        if (is_flag && f.value)
            fail_key(f.key, "is a flag and takes no value");
        if (is_key && !f.value)
            fail_key(f.key, fmt::format("needs a value ({}=...)", f.key));
        if (is_key && f.value->empty())
            fail_key(f.key, "empty value");
    }
}

const field* line_parser::find(std::string_view key) const {
    for (const field& f : m_fields) {
        if (f.key == key)
            return &f;
    }
    return nullptr;
}

std::string_view line_parser::required_value(std::string_view key) const {
    const field* f = find(key);
    if (f == nullptr)
        fail(fmt::format("{}: missing key '{}'", m_op, key));
    return *f->value;
}

std::uint64_t line_parser::number(std::string_view key, std::string_view text, bool bytes,
                                  std::uint64_t max) const {
    std::uint64_t value = 0;
    switch (parse_number(text, bytes, value)) {
    case number_status::bad:
        fail_key(key, fmt::format("bad number {}", quote(text)));
    case number_status::overflow:
        fail_key(key, fmt::format("{} out of range (at most {:#x})", quote(text), max));
    case number_status::ok:
        break;
    }
    if (value > max)
        fail_key(key, fmt::format("{} out of range (at most {:#x})", quote(text), max));
    return value;
}

std::uint64_t line_parser::required_number(std::string_view key, bool bytes,
                                           std::uint64_t max) const {
    return number(key, required_value(key), bytes, max);
}

std::optional<std::uint64_t> line_parser::optional_number(std::string_view key, bool bytes,
                                                          std::uint64_t max) const {
    const field* f = find(key);
    if (f == nullptr)
        return std::nullopt;
    return number(key, *f->value, bytes, max);
}

std::uint64_t line_parser::byte_count(std::string_view key) const {
    std::uint64_t n = required_number(key, true, u64_max);
    if (n == 0)
        fail_key(key, "must not be 0");
    return n;
}

std::uint64_t line_parser::optional_byte_count(std::string_view key, std::uint64_t fallback) const {
    if (find(key) == nullptr)
        return fallback;
    return byte_count(key);
}

std::uint32_t line_parser::sid() const {
    return static_cast<std::uint32_t>(required_number("sid", false, u32_max));
}

std::uint32_t line_parser::pasid() const {
    return static_cast<std::uint32_t>(required_number("pasid", false, pasid_max));
}

std::optional<std::uint32_t> line_parser::optional_pasid() const {
    auto value = optional_number("pasid", false, pasid_max);
    if (!value)
        return std::nullopt;
    return static_cast<std::uint32_t>(*value);
}

std::uint32_t line_parser::cpu() const {
    return static_cast<std::uint32_t>(optional_number("cpu", false, u32_max).value_or(0));
}

void line_parser::check_range(std::string_view key, std::uint64_t base, std::uint64_t size) const {
    if (size - 1 > u64_max - base)
        fail(fmt::format("{}: {}={:#x} + {} bytes wraps past the end of the 64-bit address space",
                         m_op, key, base, size));
}

bool is_name_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-' || c == '.';
}

std::string line_parser::name_value(std::string_view key) const {
    std::string_view text = required_value(key);
    for (char c : text) {
        if (!is_name_char(c))
            fail_key(key, fmt::format("bad name {} (letters, digits, '_', '-', '.')", quote(text)));
    }
    return std::string(text);
}

std::string line_parser::domain_ref(std::string_view key) const {
    std::string name = name_value(key);
    if (m_state.domains.find(name) == m_state.domains.end())
        fail_key(key,
                 fmt::format("unknown domain '{}' (declare it with a domain line first)", name));
    return name;
}

domain_type line_parser::domain_type_value(std::string_view key) const {
    std::string_view text = required_value(key);
    for (domain_type t :
         {domain_type::s1, domain_type::s2, domain_type::nested, domain_type::sva}) {
        if (text == to_string(t))
            return t;
    }
    fail_key(key, fmt::format("unknown domain type {} (s1, s2, nested, sva)", quote(text)));
}

std::optional<std::uint32_t> line_parser::granule_value(std::string_view key) const {
    auto value = optional_number(key, true, u64_max);
    if (!value)
        return std::nullopt;
    if (*value != 4096 && *value != 16384 && *value != 65536)
        fail_key(key, fmt::format("{} is not a granule (4K, 16K, 64K)", *value));
    return static_cast<std::uint32_t>(*value);
}

access line_parser::access_value(std::string_view key) const {
    const field* f = find(key);
    if (f == nullptr)
        return access{};
    std::string_view text = *f->value;
    static constexpr std::array<std::pair<std::string_view, access>, 6> table{{
        {"r", {true, false, false}},
        {"w", {false, true, false}},
        {"rw", {true, true, false}},
        {"rx", {true, false, true}},
        {"wx", {false, true, true}},
        {"rwx", {true, true, true}},
    }};
    for (const auto& [name, value] : table) {
        if (text == name)
            return value;
    }
    fail_key(key, fmt::format("bad access {} (r, w, rw, rx, wx, rwx)", quote(text)));
}

domain_op line_parser::parse_domain() {
    allow_keys({"name", "type", "granule", "cpu"});
    domain_op d;
    d.name = name_value("name");
    auto existing = m_state.domains.find(d.name);
    if (existing != m_state.domains.end())
        fail_key("name", fmt::format("domain '{}' already declared on line {}", d.name,
                                     existing->second.line));
    d.type = domain_type_value("type");
    d.granule = granule_value("granule");
    d.cpu = cpu();
    m_state.domains.emplace(d.name, domain_info{d.type, m_line});
    return d;
}

map_op line_parser::parse_map() {
    allow_keys({"dom", "iova", "size", "pa", "prot", "cpu"});
    map_op m;
    m.dom = domain_ref("dom");
    m.iova = address("iova");
    m.size = byte_count("size");
    check_range("iova", m.iova, m.size);
    m.pa = optional_number("pa", true, u64_max);
    if (m.pa)
        check_range("pa", *m.pa, m.size);
    m.prot = access_value("prot");
    m.cpu = cpu();
    return m;
}

unmap_op line_parser::parse_unmap() {
    allow_keys({"dom", "iova", "size", "cpu"});
    unmap_op u;
    u.dom = domain_ref("dom");
    u.iova = address("iova");
    u.size = byte_count("size");
    check_range("iova", u.iova, u.size);
    u.cpu = cpu();
    return u;
}

attach_op line_parser::parse_attach() {
    allow_keys({"dom", "sid", "cpu"});
    attach_op a;
    a.dom = domain_ref("dom");
    if (m_state.domains.find(a.dom)->second.type == domain_type::sva)
        fail_key("dom", fmt::format("domain '{}' is sva: give it to a device with bind", a.dom));
    a.sid = sid();
    a.cpu = cpu();
    return a;
}

bind_op line_parser::parse_bind() {
    allow_keys({"sid", "pasid", "dom", "cpu"});
    bind_op b;
    b.sid = sid();
    b.pasid = pasid();
    b.dom = domain_ref("dom");
    domain_type type = m_state.domains.find(b.dom)->second.type;
    if (type != domain_type::sva)
        fail_key("dom", fmt::format("domain '{}' is {}: bind needs an sva domain", b.dom,
                                    to_string(type)));
    b.cpu = cpu();
    return b;
}

dma_op line_parser::parse_dma(dma_direction direction) {
    allow_keys({"sid", "iova", "len", "pasid"});
    dma_op d;
    d.direction = direction;
    d.sid = sid();
    d.iova = address("iova");
    d.len = byte_count("len");
    check_range("iova", d.iova, d.len);
    d.pasid = optional_pasid();
    return d;
}

ats_req_op line_parser::parse_ats_req() {
    allow_keys({"sid", "iova", "len", "pasid"}, {"nw"});
    ats_req_op a;
    a.sid = sid();
    a.iova = address("iova");
    a.len = optional_byte_count("len", default_ats_len);
    check_range("iova", a.iova, a.len);
    a.pasid = optional_pasid();
    a.no_write = flag("nw");
    return a;
}

op_body line_parser::parse_body(std::string_view name) {
    if (name == "domain")
        return parse_domain();
    if (name == "map")
        return parse_map();
    if (name == "unmap")
        return parse_unmap();
    if (name == "attach")
        return parse_attach();
    if (name == "bind")
        return parse_bind();
    if (name == "dma_read")
        return parse_dma(dma_direction::read);
    if (name == "dma_write")
        return parse_dma(dma_direction::write);
    if (name == "ats_req")
        return parse_ats_req();
    if (name == "detach") {
        allow_keys({"sid", "cpu"});
        return detach_op{sid(), cpu()};
    }
    if (name == "unbind") {
        allow_keys({"sid", "pasid", "cpu"});
        return unbind_op{sid(), pasid(), cpu()};
    }
    if (name == "enable_ats") {
        allow_keys({"sid", "cpu"});
        return enable_ats_op{sid(), cpu()};
    }
    if (name == "disable_ats") {
        allow_keys({"sid", "cpu"});
        return disable_ats_op{sid(), cpu()};
    }
    fail(fmt::format("unknown operation {}", quote(name)));
}

// ---------------------------------------------------------------------------------------------
// Printing

std::string format_bytes(std::uint64_t n) {
    for (char suffix : {'G', 'M', 'K'}) {
        std::uint64_t unit = suffix_multiplier(suffix);
        if (n != 0 && n % unit == 0)
            return fmt::format("{}{}", n / unit, suffix);
    }
    return fmt::format("{}", n);
}

std::string format_timing(const timing& t) {
    switch (t.kind) {
    case timing_kind::absolute:
        return "@" + format_time(t.time);
    case timing_kind::with_previous:
        return "&";
    case timing_kind::after_previous:
        break;
    }
    return t.time == 0 ? "+" : "+" + format_time(t.time);
}

std::string format_access(const access& a) {
    std::string s;
    if (a.read)
        s += 'r';
    if (a.write)
        s += 'w';
    if (a.exec)
        s += 'x';
    return s;
}

std::string cpu_suffix(std::uint32_t cpu) {
    return cpu == 0 ? std::string{} : fmt::format(" cpu={}", cpu);
}

std::string pasid_suffix(const std::optional<std::uint32_t>& pasid) {
    return pasid ? fmt::format(" pasid={}", *pasid) : std::string{};
}

struct body_printer {
    std::string operator()(const domain_op& d) const {
        std::string granule = d.granule ? " granule=" + format_bytes(*d.granule) : "";
        return fmt::format("domain name={} type={}{}{}", d.name, to_string(d.type), granule,
                           cpu_suffix(d.cpu));
    }
    std::string operator()(const map_op& m) const {
        std::string pa = m.pa ? fmt::format(" pa={:#x}", *m.pa) : "";
        std::string prot = m.prot == access{} ? "" : " prot=" + format_access(m.prot);
        return fmt::format("map dom={} iova={:#x} size={}{}{}{}", m.dom, m.iova,
                           format_bytes(m.size), pa, prot, cpu_suffix(m.cpu));
    }
    std::string operator()(const unmap_op& u) const {
        return fmt::format("unmap dom={} iova={:#x} size={}{}", u.dom, u.iova, format_bytes(u.size),
                           cpu_suffix(u.cpu));
    }
    std::string operator()(const attach_op& a) const {
        return fmt::format("attach dom={} sid={:#x}{}", a.dom, a.sid, cpu_suffix(a.cpu));
    }
    std::string operator()(const detach_op& d) const {
        return fmt::format("detach sid={:#x}{}", d.sid, cpu_suffix(d.cpu));
    }
    std::string operator()(const bind_op& b) const {
        return fmt::format("bind sid={:#x} pasid={} dom={}{}", b.sid, b.pasid, b.dom,
                           cpu_suffix(b.cpu));
    }
    std::string operator()(const unbind_op& u) const {
        return fmt::format("unbind sid={:#x} pasid={}{}", u.sid, u.pasid, cpu_suffix(u.cpu));
    }
    std::string operator()(const enable_ats_op& e) const {
        return fmt::format("enable_ats sid={:#x}{}", e.sid, cpu_suffix(e.cpu));
    }
    std::string operator()(const disable_ats_op& d) const {
        return fmt::format("disable_ats sid={:#x}{}", d.sid, cpu_suffix(d.cpu));
    }
    std::string operator()(const dma_op& d) const {
        return fmt::format("{} sid={:#x} iova={:#x} len={}{}",
                           d.direction == dma_direction::read ? "dma_read" : "dma_write", d.sid,
                           d.iova, format_bytes(d.len), pasid_suffix(d.pasid));
    }
    std::string operator()(const ats_req_op& a) const {
        std::string len = a.len == default_ats_len ? "" : " len=" + format_bytes(a.len);
        return fmt::format("ats_req sid={:#x} iova={:#x}{}{}{}", a.sid, a.iova, len,
                           pasid_suffix(a.pasid), a.no_write ? " nw" : "");
    }
};

struct name_of {
    const char* operator()(const domain_op&) const { return "domain"; }
    const char* operator()(const map_op&) const { return "map"; }
    const char* operator()(const unmap_op&) const { return "unmap"; }
    const char* operator()(const attach_op&) const { return "attach"; }
    const char* operator()(const detach_op&) const { return "detach"; }
    const char* operator()(const bind_op&) const { return "bind"; }
    const char* operator()(const unbind_op&) const { return "unbind"; }
    const char* operator()(const enable_ats_op&) const { return "enable_ats"; }
    const char* operator()(const disable_ats_op&) const { return "disable_ats"; }
    const char* operator()(const dma_op& d) const {
        return d.direction == dma_direction::read ? "dma_read" : "dma_write";
    }
    const char* operator()(const ats_req_op&) const { return "ats_req"; }
};

} // namespace

trace_error::trace_error(const std::string& file, std::size_t line, const std::string& message)
    : std::runtime_error(error_text(file, line, message))
    , m_file(file)
    , m_line(line)
    , m_message(message) {}

bool operator==(const timing& a, const timing& b) {
    return a.kind == b.kind && a.time == b.time;
}
bool operator!=(const timing& a, const timing& b) {
    return !(a == b);
}

bool operator==(const access& a, const access& b) {
    return a.read == b.read && a.write == b.write && a.exec == b.exec;
}
bool operator!=(const access& a, const access& b) {
    return !(a == b);
}

bool operator==(const domain_op& a, const domain_op& b) {
    return a.name == b.name && a.type == b.type && a.granule == b.granule && a.cpu == b.cpu;
}
bool operator==(const map_op& a, const map_op& b) {
    return a.dom == b.dom && a.iova == b.iova && a.size == b.size && a.pa == b.pa &&
           a.prot == b.prot && a.cpu == b.cpu;
}
bool operator==(const unmap_op& a, const unmap_op& b) {
    return a.dom == b.dom && a.iova == b.iova && a.size == b.size && a.cpu == b.cpu;
}
bool operator==(const attach_op& a, const attach_op& b) {
    return a.dom == b.dom && a.sid == b.sid && a.cpu == b.cpu;
}
bool operator==(const detach_op& a, const detach_op& b) {
    return a.sid == b.sid && a.cpu == b.cpu;
}
bool operator==(const bind_op& a, const bind_op& b) {
    return a.sid == b.sid && a.pasid == b.pasid && a.dom == b.dom && a.cpu == b.cpu;
}
bool operator==(const unbind_op& a, const unbind_op& b) {
    return a.sid == b.sid && a.pasid == b.pasid && a.cpu == b.cpu;
}
bool operator==(const enable_ats_op& a, const enable_ats_op& b) {
    return a.sid == b.sid && a.cpu == b.cpu;
}
bool operator==(const disable_ats_op& a, const disable_ats_op& b) {
    return a.sid == b.sid && a.cpu == b.cpu;
}
bool operator==(const dma_op& a, const dma_op& b) {
    return a.direction == b.direction && a.sid == b.sid && a.iova == b.iova && a.len == b.len &&
           a.pasid == b.pasid;
}
bool operator==(const ats_req_op& a, const ats_req_op& b) {
    return a.sid == b.sid && a.iova == b.iova && a.len == b.len && a.pasid == b.pasid &&
           a.no_write == b.no_write;
}

bool operator==(const op& a, const op& b) {
    return a.when == b.when && a.body == b.body;
}
bool operator!=(const op& a, const op& b) {
    return !(a == b);
}

bool operator==(const workload& a, const workload& b) {
    return a.ops == b.ops;
}
bool operator!=(const workload& a, const workload& b) {
    return !(a == b);
}

workload parse_workload(std::istream& in, const std::string& file_name) {
    workload w;
    w.file_name = file_name;
    parse_state state;
    std::string text;
    std::size_t line = 0;
    while (std::getline(in, text)) {
        ++line;
        if (auto parsed = line_parser(file_name, line, state).parse(text))
            w.ops.push_back(std::move(*parsed));
    }
    if (in.bad())
        throw trace_error(file_name, line + 1, "read error");
    return w;
}

workload load_workload(const std::string& path) {
    std::ifstream in(path);
    if (!in.is_open())
        throw trace_error(path, 0, "cannot open the file");
    return parse_workload(in, path);
}

const char* op_name(const op_body& body) {
    return std::visit(name_of{}, body);
}

const char* to_string(domain_type t) {
    switch (t) {
    case domain_type::s1:
        return "s1";
    case domain_type::s2:
        return "s2";
    case domain_type::nested:
        return "nested";
    case domain_type::sva:
        return "sva";
    }
    return "?";
}

std::string format_time(time_ps t) {
    if (t == 0)
        return "0ns";
    for (const auto& unit : time_units) {
        if (t % unit.ps == 0)
            return fmt::format("{}{}", t / unit.ps, unit.name);
    }
    return fmt::format("{}ps", t);
}

std::string to_string(const op& o) {
    return format_timing(o.when) + " " + std::visit(body_printer{}, o.body);
}

void write_workload(std::ostream& out, const workload& w) {
    for (const op& o : w.ops)
        out << to_string(o) << '\n';
}

std::string to_string(const workload& w) {
    std::ostringstream out;
    write_workload(out, w);
    return out.str();
}

} // namespace smmu::traces
