#include "traces/timeline.h"

#include <algorithm>
#include <iterator>
#include <ostream>
#include <stdexcept>

namespace smmu::traces {

namespace {

constexpr time_ps ps_per_us = 1'000'000;
/// The buffer goes to the stream once it holds this many bytes.
constexpr std::size_t flush_threshold = 64 * 1024;

void append(fmt::memory_buffer& buffer, std::string_view s) {
    buffer.append(s.data(), s.data() + s.size());
}

/// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 (RFC 3629 §4: no
/// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    auto continuation = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return i < s.size() && byte(i) >= lo && byte(i) <= hi;
    };
    unsigned char lead = byte(0);
    if (lead >= 0xC2 && lead <= 0xDF)
        return continuation(1) ? 2 : 0;
    if (lead >= 0xE0 && lead <= 0xEF) {
        unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
        unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
        return continuation(1, lo, hi) && continuation(2) ? 3 : 0;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
        unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
        return continuation(1, lo, hi) && continuation(2) && continuation(3) ? 4 : 0;
    }
    return 0;
}

/// Appends `s` as the body of a JSON string: quotes, backslashes and control characters
/// escaped, and each byte that is not part of well-formed UTF-8 replaced by U+FFFD, so that
/// any input gives valid JSON.
void append_escaped(fmt::memory_buffer& buffer, std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::size_t n = utf8_sequence_length(s.substr(i));
            if (n == 0) {
                append(buffer, "\\ufffd");
                ++i;
            } else {
                append(buffer, s.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            append(buffer, "\\\"");
            break;
        case '\\':
            append(buffer, "\\\\");
            break;
        case '\n':
            append(buffer, "\\n");
            break;
        case '\r':
            append(buffer, "\\r");
            break;
        case '\t':
            append(buffer, "\\t");
            break;
        default:
            if (c < 0x20)
                fmt::format_to(std::back_inserter(buffer), "\\u{:04x}", c);
            else
                buffer.push_back(static_cast<char>(c));
        }
        ++i;
    }
}

void append_microseconds(fmt::memory_buffer& buffer, time_ps ps) {
    std::uint64_t whole = ps / ps_per_us;
    std::uint64_t fraction = ps % ps_per_us;
    if (fraction == 0) {
        fmt::format_to(std::back_inserter(buffer), "{}", whole);
        return;
    }
    unsigned digits = 6;
    while (fraction % 10 == 0) {
        fraction /= 10;
        --digits;
    }
    fmt::format_to(std::back_inserter(buffer), "{}.{:0{}}", whole, fraction, digits);
}

} // namespace

std::string format_microseconds(time_ps ps) {
    fmt::memory_buffer buffer;
    append_microseconds(buffer, ps);
    return fmt::to_string(buffer);
}

timeline_writer::timeline_writer(std::ostream& out, timeline_options options)
    : m_out(&out)
    , m_options(options) {
    begin_document();
}

timeline_writer::timeline_writer(const std::string& path, timeline_options options)
    : m_file(std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc))
    , m_options(options) {
    if (!m_file->is_open())
        throw std::invalid_argument("timeline path '" + path + "': cannot create the file");
    m_out = m_file.get();
    begin_document();
}

timeline_writer::~timeline_writer() {
    try {
        close();
    } catch (...) {
        // A destructor must not throw; failed() already says the file is incomplete.
    }
}

void timeline_writer::begin_document() {
    append(m_buffer, "{\"traceEvents\":[\n");
}

track_id timeline_writer::track(std::string_view process, std::string_view thread) {
    if (!enabled())
        return {};
    auto p = m_processes.find(process);
    if (p == m_processes.end()) {
        auto pid = static_cast<std::uint32_t>(m_processes.size() + 1);
        p = m_processes.emplace(std::string(process), process_entry{pid, {}}).first;
        write_name_metadata("process_name", {pid, 0}, process);
        write_sort_metadata("process_sort_index", {pid, 0}, pid);
    }
    auto t = p->second.threads.find(thread);
    if (t != p->second.threads.end())
        return {p->second.pid, t->second};
    track_id id{p->second.pid, m_next_tid++};
    p->second.threads.emplace(std::string(thread), id.tid);
    write_name_metadata("thread_name", id, thread);
    write_sort_metadata("thread_sort_index", id, id.tid);
    return id;
}

bool timeline_writer::admit_event() {
    if (m_written >= m_options.event_limit) {
        ++m_dropped;
        return false;
    }
    ++m_written;
    return true;
}

void timeline_writer::write_span(track_id track, std::string_view name, time_ps begin, time_ps end,
                                 const arg* args, std::size_t count) {
    if (!admit_event())
        return;
    open_event("X", track, name);
    append_time("ts", begin);
    append_time("dur", end > begin ? end - begin : 0);
    append_args(args, count);
    close_event();
}

void timeline_writer::write_async_span(track_id track, std::string_view name, time_ps begin,
                                       time_ps end, const arg* args, std::size_t count) {
    if (!admit_event())
        return;
    std::uint64_t id = m_next_async_id++;
    for (bool is_begin : {true, false}) {
        open_event(is_begin ? "b" : "e", track, name);
        fmt::format_to(std::back_inserter(m_buffer), ",\"cat\":\"async\",\"id\":{}", id);
        append_time("ts", is_begin ? begin : std::max(begin, end));
        if (is_begin)
            append_args(args, count);
        close_event();
    }
}

void timeline_writer::write_instant(track_id track, std::string_view name, time_ps at,
                                    const arg* args, std::size_t count) {
    if (!admit_event())
        return;
    open_event("i", track, name);
    append(m_buffer, ",\"s\":\"t\"");
    append_time("ts", at);
    append_args(args, count);
    close_event();
}

void timeline_writer::write_counter(track_id track, std::string_view name, time_ps at,
                                    std::int64_t value) {
    if (!admit_event())
        return;
    open_event("C", track, name);
    append_time("ts", at);
    fmt::format_to(std::back_inserter(m_buffer), ",\"args\":{{\"value\":{}}}", value);
    close_event();
}

void timeline_writer::write_flow(char phase, track_id track, std::string_view name, time_ps at,
                                 std::uint64_t id) {
    if (!admit_event())
        return;
    open_event(phase == 's' ? "s" : "f", track, name);
    fmt::format_to(std::back_inserter(m_buffer), ",\"cat\":\"flow\",\"id\":{}", id);
    // Bind the end to the slice that encloses it, not to the next slice to start.
    if (phase == 'f')
        append(m_buffer, ",\"bp\":\"e\"");
    append_time("ts", at);
    close_event();
}

void timeline_writer::write_name_metadata(std::string_view kind, track_id track,
                                          std::string_view name) {
    open_event("M", track, kind);
    append(m_buffer, ",\"args\":{\"name\":");
    append_string(name);
    m_buffer.push_back('}');
    close_event();
}

void timeline_writer::write_sort_metadata(std::string_view kind, track_id track,
                                          std::uint32_t index) {
    open_event("M", track, kind);
    fmt::format_to(std::back_inserter(m_buffer), ",\"args\":{{\"sort_index\":{}}}", index);
    close_event();
}

void timeline_writer::open_event(std::string_view phase, track_id track, std::string_view name) {
    if (!m_first_event)
        append(m_buffer, ",\n");
    m_first_event = false;
    fmt::format_to(std::back_inserter(m_buffer),
                   "{{\"ph\":\"{}\",\"pid\":{},\"tid\":{},\"name\":", phase, track.pid, track.tid);
    append_string(name);
}

void timeline_writer::append_time(std::string_view key, time_ps t) {
    fmt::format_to(std::back_inserter(m_buffer), ",\"{}\":", key);
    append_microseconds(m_buffer, t);
}

void timeline_writer::append_args(const arg* args, std::size_t count) {
    if (count == 0)
        return;
    append(m_buffer, ",\"args\":{");
    for (std::size_t i = 0; i < count; ++i) {
        const arg& a = args[i];
        if (i != 0)
            m_buffer.push_back(',');
        append_string(a.m_key);
        m_buffer.push_back(':');
        switch (a.m_kind) {
        case arg::kind::string:
            append_string(a.m_string);
            break;
        case arg::kind::signed_integer:
            fmt::format_to(std::back_inserter(m_buffer), "{}", a.m_signed);
            break;
        case arg::kind::unsigned_integer:
            fmt::format_to(std::back_inserter(m_buffer), "{}", a.m_unsigned);
            break;
        case arg::kind::hex:
            fmt::format_to(std::back_inserter(m_buffer), "\"{:#x}\"", a.m_unsigned);
            break;
        }
    }
    m_buffer.push_back('}');
}

void timeline_writer::append_string(std::string_view s) {
    m_buffer.push_back('"');
    append_escaped(m_buffer, s);
    m_buffer.push_back('"');
}

void timeline_writer::close_event() {
    m_buffer.push_back('}');
    if (m_buffer.size() >= flush_threshold)
        flush_buffer();
}

void timeline_writer::flush_buffer() {
    m_out->write(m_buffer.data(), static_cast<std::streamsize>(m_buffer.size()));
    m_buffer.clear();
    if (!*m_out)
        m_failed = true;
}

void timeline_writer::close() {
    if (!enabled())
        return;
    fmt::format_to(std::back_inserter(m_buffer),
                   "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{{\"events_written\":{},"
                   "\"events_dropped\":{}",
                   m_written, m_dropped);
    if (m_options.event_limit != no_event_limit)
        fmt::format_to(std::back_inserter(m_buffer), ",\"event_limit\":{}", m_options.event_limit);
    append(m_buffer, "}}\n");
    flush_buffer();
    m_out->flush();
    if (!*m_out)
        m_failed = true;
    m_out = nullptr;
    if (m_file)
        m_file->close();
}

} // namespace smmu::traces
