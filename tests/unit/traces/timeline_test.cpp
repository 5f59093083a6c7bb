#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "traces/timeline.h"

namespace smmu::traces {
namespace {

using json = nlohmann::json;

/// The events of a closed document with phase `ph`, in file order.
std::vector<json> events_with_phase(const json& doc, const std::string& ph) {
    std::vector<json> result;
    for (const auto& e : doc.at("traceEvents")) {
        if (e.at("ph") == ph)
            result.push_back(e);
    }
    return result;
}

TEST(timeline_time, microseconds_from_picoseconds_exactly) {
    EXPECT_EQ(format_microseconds(0), "0");
    EXPECT_EQ(format_microseconds(1), "0.000001");
    EXPECT_EQ(format_microseconds(10), "0.00001");
    EXPECT_EQ(format_microseconds(999'999), "0.999999");
    EXPECT_EQ(format_microseconds(1'000'000), "1");
    EXPECT_EQ(format_microseconds(1'234'567), "1.234567");
    EXPECT_EQ(format_microseconds(1'500'000), "1.5");
    EXPECT_EQ(format_microseconds(2'000'100), "2.0001");
    EXPECT_EQ(format_microseconds(123'456'789'012'345), "123456789.012345");
    EXPECT_EQ(format_microseconds(18446744073709551615ULL), "18446744073709.551615");
}

TEST(timeline_document, empty_document_is_valid_json_with_metadata) {
    std::ostringstream out;
    {
        timeline_writer w(out);
        EXPECT_TRUE(w.enabled());
    }
    json doc = json::parse(out.str());
    EXPECT_TRUE(doc.at("traceEvents").is_array());
    EXPECT_TRUE(doc.at("traceEvents").empty());
    EXPECT_EQ(doc.at("displayTimeUnit"), "ns");
    EXPECT_EQ(doc.at("otherData").at("events_written"), 0);
    EXPECT_EQ(doc.at("otherData").at("events_dropped"), 0);
    EXPECT_FALSE(doc.at("otherData").contains("event_limit"));
}

TEST(timeline_tracks, names_are_given_once_with_sort_indices) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id cpu0 = w.track("CPU", "cpu0");
    track_id cpu1 = w.track("CPU", "cpu1");
    track_id cmdq = w.track("SMMU0", "cmdq");
    track_id again = w.track("CPU", "cpu0");
    track_id ep = w.track("EP 0x100", "cpu0");
    EXPECT_EQ(cpu0.pid, 1U);
    EXPECT_EQ(cpu0.tid, 1U);
    EXPECT_EQ(cpu1.pid, 1U);
    EXPECT_EQ(cpu1.tid, 2U);
    EXPECT_EQ(cmdq.pid, 2U);
    EXPECT_EQ(cmdq.tid, 3U);
    EXPECT_EQ(again.pid, 1U);
    EXPECT_EQ(again.tid, 1U);
    // Same thread name in another process: another track.
    EXPECT_EQ(ep.pid, 3U);
    EXPECT_EQ(ep.tid, 4U);
    w.close();

    json doc = json::parse(out.str());
    auto meta = events_with_phase(doc, "M");
    ASSERT_EQ(meta.size(), 3U * 2U + 4U * 2U);
    EXPECT_EQ(
        meta[0],
        json::parse(R"({"ph":"M","pid":1,"tid":0,"name":"process_name","args":{"name":"CPU"}})"));
    EXPECT_EQ(meta[1], json::parse(R"({"ph":"M","pid":1,"tid":0,"name":"process_sort_index",
                                       "args":{"sort_index":1}})"));
    EXPECT_EQ(
        meta[2],
        json::parse(R"({"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"cpu0"}})"));
    EXPECT_EQ(meta[3], json::parse(R"({"ph":"M","pid":1,"tid":1,"name":"thread_sort_index",
                                       "args":{"sort_index":1}})"));
    EXPECT_EQ(
        meta[4],
        json::parse(R"({"ph":"M","pid":1,"tid":2,"name":"thread_name","args":{"name":"cpu1"}})"));
    EXPECT_EQ(meta[6], json::parse(R"({"ph":"M","pid":2,"tid":0,"name":"process_name",
                                       "args":{"name":"SMMU0"}})"));
    EXPECT_EQ(
        meta[8],
        json::parse(R"({"ph":"M","pid":2,"tid":3,"name":"thread_name","args":{"name":"cmdq"}})"));
    EXPECT_EQ(meta[10], json::parse(R"({"ph":"M","pid":3,"tid":0,"name":"process_name",
                                        "args":{"name":"EP 0x100"}})"));
    EXPECT_EQ(meta[13], json::parse(R"({"ph":"M","pid":3,"tid":4,"name":"thread_sort_index",
                                        "args":{"sort_index":4}})"));
}

TEST(timeline_events, span_has_exact_ts_and_dur_text) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("CPU", "cpu0");
    w.span(t, "unmap", 1'234'567, 1'734'567);
    w.span(t, "map", 0, 1);
    w.span(t, "long", 3'000'000'000'000, 3'000'002'500'000);
    w.close();
    const std::string text = out.str();
    EXPECT_NE(text.find(R"({"ph":"X","pid":1,"tid":1,"name":"unmap","ts":1.234567,"dur":0.5})"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"("name":"map","ts":0,"dur":0.000001})"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("name":"long","ts":3000000,"dur":2.5})"), std::string::npos) << text;
    json doc = json::parse(text);
    EXPECT_EQ(events_with_phase(doc, "X").size(), 3U);
    EXPECT_EQ(doc.at("otherData").at("events_written"), 3);
}

TEST(timeline_events, span_ending_before_it_begins_has_zero_length) {
    std::ostringstream out;
    timeline_writer w(out);
    w.span(w.track("p", "t"), "odd", 5'000'000, 1'000'000);
    w.close();
    EXPECT_NE(out.str().find(R"("name":"odd","ts":5,"dur":0})"), std::string::npos) << out.str();
}

TEST(timeline_events, args_of_every_kind) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("CPU", "cpu0");
    const std::string dom = "dom0";
    w.span(t, "unmap", 0, 10,
           {{"domain", dom},
            {"kind", "strict"},
            {"pages", 256},
            {"delta", -3},
            {"big", std::uint64_t{18446744073709551615ULL}},
            arg::hex("iova", 0xfffff000)});
    std::vector<arg> list{{"n", std::uint8_t{7}}, {"s", "x"}};
    w.span(t, "vec", 10, 20, list);
    w.close();
    EXPECT_NE(out.str().find(R"("args":{"domain":"dom0","kind":"strict","pages":256,"delta":-3,)"
                             R"("big":18446744073709551615,"iova":"0xfffff000"}})"),
              std::string::npos)
        << out.str();
    json doc = json::parse(out.str());
    auto spans = events_with_phase(doc, "X");
    ASSERT_EQ(spans.size(), 2U);
    EXPECT_EQ(spans[0].at("args").at("big").get<std::uint64_t>(), 18446744073709551615ULL);
    EXPECT_EQ(spans[1].at("args"), json::parse(R"({"n":7,"s":"x"})"));
}

TEST(timeline_events, events_without_args_have_no_args_member) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("p", "t");
    w.span(t, "s", 0, 1);
    w.instant(t, "i", 2);
    w.close();
    json doc = json::parse(out.str());
    EXPECT_FALSE(events_with_phase(doc, "X")[0].contains("args"));
    EXPECT_FALSE(events_with_phase(doc, "i")[0].contains("args"));
}

TEST(timeline_events, instant_counter_and_async_span) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("EP 0x100", "atc");
    w.instant(t, "ATC miss", 2'500'000, {{"iova", "0x1000"}});
    w.counter(t, "ATC_INV outstanding", 3'000'000, 2);
    w.counter(t, "ATC_INV outstanding", 4'000'000, -1);
    w.async_span(t, "ATC_INV", 1'000'000, 4'000'001, {{"itag", 3}});
    w.async_span(t, "ATC_INV", 1'500'000, 2'000'000);
    w.close();
    const std::string text = out.str();
    EXPECT_NE(text.find(R"({"ph":"i","pid":1,"tid":1,"name":"ATC miss","s":"t","ts":2.5,)"
                        R"("args":{"iova":"0x1000"}})"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"({"ph":"C","pid":1,"tid":1,"name":"ATC_INV outstanding","ts":3,)"
                        R"("args":{"value":2}})"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"({"ph":"b","pid":1,"tid":1,"name":"ATC_INV","cat":"async","id":1,)"
                        R"("ts":1,"args":{"itag":3}})"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"({"ph":"e","pid":1,"tid":1,"name":"ATC_INV","cat":"async","id":1,)"
                        R"("ts":4.000001})"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"({"ph":"b","pid":1,"tid":1,"name":"ATC_INV","cat":"async","id":2,)"
                        R"("ts":1.5})"),
              std::string::npos)
        << text;
    json doc = json::parse(text);
    auto counters = events_with_phase(doc, "C");
    ASSERT_EQ(counters.size(), 2U);
    EXPECT_EQ(counters[1].at("args").at("value"), -1);
    EXPECT_EQ(events_with_phase(doc, "e").size(), 2U);
    // One logical event per call.
    EXPECT_EQ(doc.at("otherData").at("events_written"), 5);
}

TEST(timeline_events, flow_links_two_tracks) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id cmdq = w.track("SMMU0", "cmdq");
    track_id ep = w.track("EP 0x100", "atc");
    w.flow_begin(cmdq, "ATC_INV", 1'000'000, 42);
    w.flow_end(ep, "ATC_INV", 1'700'000, 42);
    w.close();
    const std::string text = out.str();
    EXPECT_NE(
        text.find(R"({"ph":"s","pid":1,"tid":1,"name":"ATC_INV","cat":"flow","id":42,"ts":1})"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find(R"({"ph":"f","pid":2,"tid":2,"name":"ATC_INV","cat":"flow","id":42,)"
                        R"("bp":"e","ts":1.7})"),
              std::string::npos)
        << text;
    EXPECT_NO_THROW(json::parse(text));
}

TEST(timeline_escaping, quotes_backslashes_and_control_characters) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("proc \"A\"", "th\\read");
    w.span(t, std::string("a\"b\\c\nd\re\tf\x01g\x1fh\x7f", 16), 0, 1,
           {{"k\"ey", std::string_view("v\0w", 3)}});
    w.close();
    const std::string text = out.str();
    EXPECT_NE(text.find(R"("name":"a\"b\\c\nd\re\tf\u0001g\u001fh)"
                        "\x7f"
                        R"(")"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"("args":{"k\"ey":"v\u0000w"})"), std::string::npos) << text;
    json doc = json::parse(text);
    auto meta = events_with_phase(doc, "M");
    EXPECT_EQ(meta[0].at("args").at("name"), "proc \"A\"");
    EXPECT_EQ(meta[2].at("args").at("name"), "th\\read");
    auto span = events_with_phase(doc, "X").at(0);
    EXPECT_EQ(span.at("name"), std::string("a\"b\\c\nd\re\tf\x01g\x1fh\x7f", 16));
    EXPECT_EQ(span.at("args").at("k\"ey"), std::string("v\0w", 3));
}

TEST(timeline_escaping, utf8_is_kept_and_broken_utf8_replaced) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("p", "t");
    w.instant(t, "\xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80", 0); // "µs € 😀": well formed
    w.instant(t,
              "a\xff"
              "b",
              0);                        // never valid in UTF-8
    w.instant(t, "\xe2\x82", 0);         // truncated 3-byte sequence
    w.instant(t, "\xc0\xaf", 0);         // overlong '/'
    w.instant(t, "\xed\xa0\x80", 0);     // UTF-16 surrogate D800
    w.instant(t, "\xf4\x90\x80\x80", 0); // above U+10FFFF
    w.close();
    const std::string text = out.str();
    EXPECT_NE(text.find("\"name\":\"\xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80\""), std::string::npos);
    EXPECT_NE(text.find(R"("name":"a\ufffdb")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("name":"\ufffd\ufffd")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("name":"\ufffd\ufffd\ufffd")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("name":"\ufffd\ufffd\ufffd\ufffd")"), std::string::npos) << text;
    json doc = json::parse(text); // nlohmann rejects ill-formed UTF-8
    auto instants = events_with_phase(doc, "i");
    ASSERT_EQ(instants.size(), 6U);
    EXPECT_EQ(instants[0].at("name"), "\xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT_EQ(instants[1].at("name"), "a\xef\xbf\xbd"
                                      "b");
}

TEST(timeline_limit, events_beyond_the_limit_are_counted_not_written) {
    std::ostringstream out;
    timeline_options options;
    options.event_limit = 2;
    timeline_writer w(out, options);
    track_id t = w.track("p", "t");
    w.span(t, "one", 0, 1);
    w.instant(t, "two", 1);
    w.span(t, "three", 2, 3);
    w.counter(t, "four", 3, 4);
    w.flow_begin(t, "five", 4, 1);
    track_id late = w.track("p", "late"); // track metadata is still written
    w.async_span(late, "six", 5, 6);
    EXPECT_EQ(w.events_written(), 2U);
    EXPECT_EQ(w.events_dropped(), 4U);
    w.close();
    json doc = json::parse(out.str());
    EXPECT_EQ(events_with_phase(doc, "X").size(), 1U);
    EXPECT_EQ(events_with_phase(doc, "i").size(), 1U);
    EXPECT_TRUE(events_with_phase(doc, "C").empty());
    EXPECT_TRUE(events_with_phase(doc, "s").empty());
    EXPECT_TRUE(events_with_phase(doc, "b").empty());
    EXPECT_EQ(events_with_phase(doc, "M").size(), 6U);
    EXPECT_EQ(doc.at("otherData"),
              json::parse(R"({"events_written":2,"events_dropped":4,"event_limit":2})"));
}

TEST(timeline_limit, zero_limit_writes_only_metadata) {
    std::ostringstream out;
    timeline_options options;
    options.event_limit = 0;
    timeline_writer w(out, options);
    w.span(w.track("p", "t"), "x", 0, 1);
    w.close();
    json doc = json::parse(out.str());
    EXPECT_EQ(doc.at("traceEvents").size(), 4U);
    EXPECT_EQ(doc.at("otherData").at("events_dropped"), 1);
}

TEST(timeline_close, close_is_idempotent_and_later_calls_are_ignored) {
    std::ostringstream out;
    timeline_writer w(out);
    track_id t = w.track("p", "t");
    w.span(t, "x", 0, 1);
    w.close();
    const std::string closed = out.str();
    EXPECT_FALSE(w.enabled());
    w.close();
    w.span(t, "y", 0, 1);
    w.instant(t, "z", 0);
    track_id other = w.track("q", "u");
    EXPECT_EQ(other.pid, 0U);
    EXPECT_EQ(out.str(), closed);
    EXPECT_EQ(w.events_written(), 1U);
    json doc = json::parse(closed);
    EXPECT_EQ(events_with_phase(doc, "X").size(), 1U);
}

TEST(timeline_close, destructor_closes_the_document) {
    std::ostringstream out;
    {
        timeline_writer w(out);
        w.span(w.track("p", "t"), "x", 0, 1);
    }
    json doc = json::parse(out.str());
    EXPECT_EQ(doc.at("otherData").at("events_written"), 1);
}

TEST(timeline_null, null_writer_writes_nothing) {
    timeline_writer w;
    EXPECT_FALSE(w.enabled());
    track_id t = w.track("p", "t");
    EXPECT_EQ(t.pid, 0U);
    EXPECT_EQ(t.tid, 0U);
    w.span(t, "x", 0, 1);
    w.async_span(t, "x", 0, 1);
    w.instant(t, "x", 0);
    w.counter(t, "x", 0, 1);
    w.flow_begin(t, "x", 0, 1);
    w.flow_end(t, "x", 0, 1);
    w.close();
    w.close();
    EXPECT_EQ(w.events_written(), 0U);
    EXPECT_EQ(w.events_dropped(), 0U);
    EXPECT_FALSE(w.failed());
}

TEST(timeline_file, writes_a_file_and_rejects_a_bad_path) {
    const std::string path = ::testing::TempDir() + "timeline_test_trace.json";
    {
        timeline_writer w(path);
        w.span(w.track("CPU", "cpu0"), "unmap", 1'000'000, 3'000'000);
    }
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json doc = json::parse(text);
    EXPECT_EQ(events_with_phase(doc, "X").at(0).at("dur"), 2);
    std::remove(path.c_str());

    const std::string bad = ::testing::TempDir() + "no_such_dir/trace.json";
    try {
        timeline_writer w(bad);
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), "timeline path '" + bad + "': cannot create the file");
    }
}

TEST(timeline_file, a_failing_stream_is_reported) {
    std::ostream broken(nullptr); // no buffer: every write fails
    timeline_writer w(broken);
    w.span(w.track("p", "t"), "x", 0, 1);
    EXPECT_FALSE(w.failed()); // still buffered
    w.close();
    EXPECT_TRUE(w.failed());
}

TEST(timeline_output, large_output_is_streamed_and_deterministic) {
    auto render = [] {
        std::ostringstream out;
        timeline_writer w(out);
        for (std::uint32_t i = 0; i < 3000; ++i) {
            track_id t = w.track("CPU", i % 2 == 0 ? "cpu0" : "cpu1");
            w.span(t, "unmap", i * 1'000'000ULL, i * 1'000'000ULL + 500'000, {{"i", i}});
        }
        w.close();
        return out.str();
    };
    const std::string first = render();
    EXPECT_GT(first.size(), 2U * 64U * 1024U); // crossed the flush threshold
    EXPECT_EQ(render(), first);
    json doc = json::parse(first);
    auto spans = events_with_phase(doc, "X");
    ASSERT_EQ(spans.size(), 3000U);
    EXPECT_EQ(spans[2999].at("args").at("i"), 2999);
    EXPECT_EQ(spans[2999].at("tid"), 2);
}

} // namespace
} // namespace smmu::traces
