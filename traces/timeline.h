// Timeline trace writer: streams the Chrome / Perfetto Trace Event Format (a JSON object
// {"traceEvents":[...], "displayTimeUnit":"ns", "otherData":{...}}) that the Perfetto UI and
// chrome://tracing open. Tracks are (process, thread) pairs: e.g. process "CPU" with threads
// "cpu0", "cpu1"; process "SMMU0" with "cmdq"; process "EP 0x100" with "atc".
//
// Times are simulated picoseconds; the file carries microseconds with six decimals, so no
// precision is lost (Perfetto itself keeps nanoseconds). Events need not be written in time
// order (viewers sort them), and the output depends only on the sequence of calls.
//
// Spans on one track must nest properly (complete events, "ph":"X"); work that overlaps on
// one track, such as several outstanding ATC invalidations of one endpoint, goes through
// async_span, which viewers lay out on rows of their own.
#pragma once

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <iosfwd>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

namespace smmu::traces {

/// Simulated time in picoseconds (the same unit as smmu::timing::time_ps; workload.h declares
/// the same alias).
using time_ps = std::uint64_t;

/// A (process, thread) track of one timeline_writer.
struct track_id {
    std::uint32_t pid = 0;
    std::uint32_t tid = 0;
};

/// One key/value argument shown with an event: a string, an integer, or an integer shown in
/// hex (for addresses: Perfetto keeps integers as int64, so write a 64-bit address with hex).
/// Holds views: the strings must outlive the call it is passed to.
class arg {
public:
    arg(std::string_view key, std::string_view value)
        : m_key(key)
        , m_kind(kind::string)
        , m_string(value) {}
    arg(std::string_view key, const char* value)
        : arg(key, std::string_view(value)) {}
    template <typename T,
              typename = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
    arg(std::string_view key, T value)
        : m_key(key)
        , m_kind(std::is_signed_v<T> ? kind::signed_integer : kind::unsigned_integer)
        , m_signed(static_cast<std::int64_t>(value))
        , m_unsigned(static_cast<std::uint64_t>(value)) {}

    /// `value` written as the string "0x...".
    static arg hex(std::string_view key, std::uint64_t value) {
        arg a(key, value);
        a.m_kind = kind::hex;
        return a;
    }

private:
    friend class timeline_writer;
    enum class kind : std::uint8_t { string, signed_integer, unsigned_integer, hex };

    std::string_view m_key;
    kind m_kind;
    std::string_view m_string;
    std::int64_t m_signed = 0;
    std::uint64_t m_unsigned = 0;
};

inline constexpr std::uint64_t no_event_limit = std::numeric_limits<std::uint64_t>::max();

struct timeline_options {
    /// Events (spans, instants, counters, flow ends) written before the writer starts
    /// dropping them; the number dropped goes into otherData. Track metadata is not counted.
    std::uint64_t event_limit = no_event_limit;
};

/// Streaming writer of one trace file. A default-constructed writer is the null writer: it
/// writes nothing and every call returns at once; callers that build costly arguments test
/// enabled() first. Not copyable.
class timeline_writer {
public:
    /// The null writer.
    timeline_writer() = default;
    /// Writes to `out`, which must outlive the writer (or its close()).
    explicit timeline_writer(std::ostream& out, timeline_options options = {});
    /// Writes to the file at `path`; throws std::invalid_argument naming `path` when it cannot
    /// be created.
    explicit timeline_writer(const std::string& path, timeline_options options = {});
    ~timeline_writer();

    timeline_writer(const timeline_writer&) = delete;
    timeline_writer& operator=(const timeline_writer&) = delete;

    /// False for the null writer and after close().
    bool enabled() const { return m_out != nullptr; }

    /// The track for (process, thread), created with its names on first use: pids and tids
    /// are numbered from 1 in order of first use, and tracks are sorted in that order.
    track_id track(std::string_view process, std::string_view thread);

    /// A complete event from `begin` to `end` (an `end` before `begin` gives a zero length).
    void span(track_id track, std::string_view name, time_ps begin, time_ps end,
              std::initializer_list<arg> args = {}) {
        if (enabled())
            write_span(track, name, begin, end, args.begin(), args.size());
    }
    void span(track_id track, std::string_view name, time_ps begin, time_ps end,
              const std::vector<arg>& args) {
        if (enabled())
            write_span(track, name, begin, end, args.data(), args.size());
    }

    /// A span that may overlap other spans of the track (async begin/end pair with a fresh id).
    void async_span(track_id track, std::string_view name, time_ps begin, time_ps end,
                    std::initializer_list<arg> args = {}) {
        if (enabled())
            write_async_span(track, name, begin, end, args.begin(), args.size());
    }

    /// A thread-scoped instant event.
    void instant(track_id track, std::string_view name, time_ps at,
                 std::initializer_list<arg> args = {}) {
        if (enabled())
            write_instant(track, name, at, args.begin(), args.size());
    }

    /// A counter sample; viewers show one counter track per (process, name).
    void counter(track_id track, std::string_view name, time_ps at, std::int64_t value) {
        if (enabled())
            write_counter(track, name, at, value);
    }

    /// An arrow from the slice enclosing `at` on `track` to the slice enclosing the matching
    /// flow_end (same name and id). E.g. from an ATC_INV command to the CMD_SYNC it holds up.
    void flow_begin(track_id track, std::string_view name, time_ps at, std::uint64_t id) {
        if (enabled())
            write_flow('s', track, name, at, id);
    }
    void flow_end(track_id track, std::string_view name, time_ps at, std::uint64_t id) {
        if (enabled())
            write_flow('f', track, name, at, id);
    }

    /// Ends the JSON document and flushes. Idempotent; the destructor calls it.
    void close();

    std::uint64_t events_written() const { return m_written; }
    std::uint64_t events_dropped() const { return m_dropped; }
    /// True once writing to the stream failed (e.g. disk full); the file is then incomplete.
    bool failed() const { return m_failed; }

private:
    struct process_entry {
        std::uint32_t pid = 0;
        std::map<std::string, std::uint32_t, std::less<>> threads;
    };

    void begin_document();
    bool admit_event();
    void write_span(track_id track, std::string_view name, time_ps begin, time_ps end,
                    const arg* args, std::size_t count);
    void write_async_span(track_id track, std::string_view name, time_ps begin, time_ps end,
                          const arg* args, std::size_t count);
    void write_instant(track_id track, std::string_view name, time_ps at, const arg* args,
                       std::size_t count);
    void write_counter(track_id track, std::string_view name, time_ps at, std::int64_t value);
    void write_flow(char phase, track_id track, std::string_view name, time_ps at,
                    std::uint64_t id);
    void write_name_metadata(std::string_view kind, track_id track, std::string_view name);
    void write_sort_metadata(std::string_view kind, track_id track, std::uint32_t index);

    void open_event(std::string_view phase, track_id track, std::string_view name);
    void append_time(std::string_view key, time_ps t);
    void append_args(const arg* args, std::size_t count);
    void append_string(std::string_view s);
    void close_event();
    void flush_buffer();

    std::ostream* m_out = nullptr;
    std::unique_ptr<std::ofstream> m_file;
    timeline_options m_options;
    fmt::memory_buffer m_buffer;
    bool m_first_event = true;
    bool m_failed = false;
    std::uint64_t m_written = 0;
    std::uint64_t m_dropped = 0;
    std::uint64_t m_next_async_id = 1;
    std::uint32_t m_next_tid = 1;
    std::map<std::string, process_entry, std::less<>> m_processes;
};

/// `ps` as microseconds with up to six decimals, trailing zeros dropped: 1234567 -> "1.234567",
/// 1500000 -> "1.5", 2000000 -> "2", 1 -> "0.000001".
std::string format_microseconds(time_ps ps);

} // namespace smmu::traces
