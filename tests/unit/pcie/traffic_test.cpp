// Traffic generators against a fake DMA port and a fake buffer mapper. Each SystemC test
// elaborates once: run one test per process.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <systemc>

#include "model/pcie/traffic.h"

namespace smmu::pcie {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

sc_time ns(double v) {
    return sc_time(v, SC_NS);
}

struct dma_record {
    sc_time at;
    dma_dir dir;
    std::uint64_t address;
    std::uint32_t length;
    std::optional<std::uint32_t> pasid;
    bool privileged;
    bool execute;
};

/// Records every request with its issue time; answers with scripted outcomes (by call index)
/// or a successful untranslated one, after waiting the outcome's latency.
class fake_port : public dma_port {
public:
    explicit fake_port(sc_time latency = ns(10))
        : m_latency(latency) {}

    dma_outcome dma(const dma_request& req) override {
        log.push_back({sc_core::sc_time_stamp(), req.dir, req.address, req.length, req.pasid,
                       req.privileged, req.execute});
        dma_outcome o;
        const std::size_t index = log.size() - 1;
        if (index < script.size()) {
            o = script[index];
        } else {
            o.ok = true;
            o.latency = m_latency;
            o.tlps = 1;
            o.untranslated = 1;
        }
        sc_core::wait(o.latency);
        return o;
    }

    std::vector<dma_record> log;
    std::vector<dma_outcome> script;

private:
    sc_time m_latency;
};

struct map_record {
    sc_time at;
    bool is_map;
    std::uint64_t iova;
    std::uint32_t bytes;
    bool device_writes;
};

/// Hands out IOVAs 0x10000, 0x20000, ...; map() takes map_latency and unmap() unmap_latency;
/// the calls to map() whose (0-based) index is in fail_calls fail.
class fake_mapper : public buffer_mapper {
public:
    std::optional<std::uint64_t> map(std::uint32_t bytes, bool device_writes) override {
        const std::size_t call = m_map_calls++;
        sc_core::wait(map_latency);
        if (fail_calls.count(call) != 0) {
            log.push_back({sc_core::sc_time_stamp() - map_latency, true, 0, bytes, device_writes});
            return std::nullopt;
        }
        const std::uint64_t iova = m_next;
        m_next += 0x10000;
        log.push_back({sc_core::sc_time_stamp() - map_latency, true, iova, bytes, device_writes});
        ++outstanding;
        max_outstanding = std::max(max_outstanding, outstanding);
        return iova;
    }

    void unmap(std::uint64_t iova, std::uint32_t bytes) override {
        log.push_back({sc_core::sc_time_stamp(), false, iova, bytes, false});
        sc_core::wait(unmap_latency);
        --outstanding;
    }

    sc_time map_latency = ns(100);
    sc_time unmap_latency = ns(200);
    std::set<std::size_t> fail_calls;
    std::vector<map_record> log;
    int outstanding = 0;
    int max_outstanding = 0;

private:
    std::size_t m_map_calls = 0;
    std::uint64_t m_next = 0x10000;
};

void expect_dma(const dma_record& r, double at_ns, dma_dir dir, std::uint64_t address,
                std::uint32_t length) {
    EXPECT_EQ(r.at, ns(at_ns));
    EXPECT_EQ(r.dir, dir);
    EXPECT_EQ(r.address, address);
    EXPECT_EQ(r.length, length);
}

void expect_map(const map_record& r, double at_ns, bool is_map, std::uint64_t iova,
                std::uint32_t bytes) {
    EXPECT_EQ(r.at, ns(at_ns));
    EXPECT_EQ(r.is_map, is_map);
    EXPECT_EQ(r.iova, iova);
    EXPECT_EQ(r.bytes, bytes);
}

std::vector<std::uint64_t> addresses(const fake_port& port) {
    std::vector<std::uint64_t> out;
    for (const dma_record& r : port.log)
        out.push_back(r.address);
    return out;
}

std::vector<dma_dir> directions(const fake_port& port) {
    std::vector<dma_dir> out;
    for (const dma_record& r : port.log)
        out.push_back(r.dir);
    return out;
}

constexpr dma_dir R = dma_dir::read;
constexpr dma_dir W = dma_dir::write;

generator_spec stream_spec(stream_mode mode, std::uint64_t transactions) {
    stream_params p;
    p.base = 0x1000;
    p.size = 0x300;
    p.transfer_bytes = 0x100;
    p.mode = mode;
    generator_spec spec;
    spec.kind = p;
    spec.stop.transactions = transactions;
    return spec;
}

// ---------------------------------------------------------------- stream

TEST(traffic_stream, reads_wrap_at_the_end_of_the_buffer) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 5);
    std::get<stream_params>(spec.kind).pasid = 7;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();

    ASSERT_EQ(port.log.size(), 5u);
    expect_dma(port.log[0], 0, R, 0x1000, 0x100);
    expect_dma(port.log[1], 10, R, 0x1100, 0x100);
    expect_dma(port.log[2], 20, R, 0x1200, 0x100);
    expect_dma(port.log[3], 30, R, 0x1000, 0x100);
    expect_dma(port.log[4], 40, R, 0x1100, 0x100);
    for (const dma_record& r : port.log) {
        EXPECT_EQ(r.pasid, std::optional<std::uint32_t>{7});
        EXPECT_FALSE(r.privileged);
    }
    EXPECT_TRUE(gen.finished());
    EXPECT_EQ(gen.finished_at(), ns(50));
    EXPECT_EQ(gen.stats().bytes_read, 0x500u);
    EXPECT_EQ(gen.stats().bytes_written, 0u);
}

TEST(traffic_stream, wraps_before_a_transfer_that_would_pass_the_end) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 4);
    std::get<stream_params>(spec.kind).size = 0x250;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x1000, 0x1100, 0x1000, 0x1100}));
}

TEST(traffic_stream, writes) {
    fake_port port;
    traffic_generator gen("gen", port, stream_spec(stream_mode::write, 3));
    sc_core::sc_start();
    EXPECT_EQ(directions(port), (std::vector<dma_dir>{W, W, W}));
    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x1000, 0x1100, 0x1200}));
    EXPECT_EQ(gen.stats().bytes_written, 0x300u);
    EXPECT_EQ(gen.stats().bytes_read, 0u);
}

TEST(traffic_stream, alternate_starts_with_a_read) {
    fake_port port;
    traffic_generator gen("gen", port, stream_spec(stream_mode::alternate, 5));
    sc_core::sc_start();
    EXPECT_EQ(directions(port), (std::vector<dma_dir>{R, W, R, W, R}));
    EXPECT_EQ(gen.stats().bytes_read, 0x300u);
    EXPECT_EQ(gen.stats().bytes_written, 0x200u);
}

TEST(traffic_stream, mixed_draws_directions_from_the_seed) {
    // std::mt19937_64 seeded 7: the top bits of its first 8 outputs are 1,1,0,1,0,0,1,1, and
    // with read_fraction 0.5 a draw reads when its top bit is 0.
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::mixed, 8);
    std::get<stream_params>(spec.kind).read_fraction = 0.5;
    std::get<stream_params>(spec.kind).seed = 7;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(directions(port), (std::vector<dma_dir>{W, W, R, W, R, R, W, W}));
    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x1000, 0x1100, 0x1200, 0x1000, 0x1100,
                                                           0x1200, 0x1000, 0x1100}));
}

TEST(traffic_stream, mixed_with_fraction_zero_only_writes) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::mixed, 6);
    std::get<stream_params>(spec.kind).read_fraction = 0.0;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(directions(port), (std::vector<dma_dir>(6, W)));
}

TEST(traffic_stream, mixed_with_fraction_one_only_reads) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::mixed, 6);
    std::get<stream_params>(spec.kind).read_fraction = 1.0;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(directions(port), (std::vector<dma_dir>(6, R)));
}

// ---------------------------------------------------------------- stop, start, think, done

TEST(traffic_stop, bytes_stop_once_the_issued_bytes_reach_the_limit) {
    // 0x100 per transfer: 0x000, 0x100, 0x200 issued are below 0x250, 0x300 is not.
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 0);
    spec.stop.bytes = 0x250;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 3u);
}

TEST(traffic_stop, failed_transfers_count_towards_the_byte_limit) {
    fake_port port;
    dma_outcome fail;
    fail.latency = ns(5);
    port.script = {fail, fail, fail, fail};
    generator_spec spec = stream_spec(stream_mode::read, 0);
    spec.stop.bytes = 0x200;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 2u);
    EXPECT_EQ(gen.stats().failed_transactions, 2u);
    EXPECT_EQ(gen.stats().bytes_read, 0u);
    EXPECT_TRUE(gen.finished());
}

TEST(traffic_stop, end_time_lets_the_transfer_in_flight_complete) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 0);
    spec.stop.end_time = ns(35);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 4u);
    EXPECT_EQ(port.log[3].at, ns(30));
    EXPECT_EQ(gen.finished_at(), ns(40));
}

TEST(traffic_stop, first_limit_reached_wins) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 10);
    spec.stop.bytes = 0x1000;
    spec.stop.end_time = ns(25);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 3u); // at 0, 10, 20; at 30 the end time has passed
}

TEST(traffic_start, think_time_separates_transfers) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 3);
    spec.think_time = ns(5);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 3u);
    EXPECT_EQ(port.log[0].at, ns(0));
    EXPECT_EQ(port.log[1].at, ns(15));
    EXPECT_EQ(port.log[2].at, ns(30));
    EXPECT_EQ(gen.finished_at(), ns(40));
}

TEST(traffic_start, no_think_time_that_would_reach_the_end_time) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 0);
    spec.think_time = ns(10);
    spec.stop.end_time = ns(20); // the first transfer ends at 10, the think time would at 20
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 1u);
    EXPECT_EQ(gen.finished_at(), ns(10));
}

TEST(traffic_start, starts_at_start_time) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 2);
    spec.start_time = ns(100);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 2u);
    EXPECT_EQ(port.log[0].at, ns(100));
    EXPECT_EQ(port.log[1].at, ns(110));
}

struct event_source : sc_core::sc_module {
    sc_core::sc_event go;
    sc_time at;
    event_source(const sc_core::sc_module_name& name, sc_time when)
        : sc_core::sc_module(name)
        , at(when) {
        SC_HAS_PROCESS(event_source);
        SC_THREAD(fire);
    }
    void fire() {
        wait(at);
        go.notify();
    }
};

TEST(traffic_start, waits_for_the_start_event_after_start_time) {
    fake_port port;
    event_source source("source", ns(50));
    generator_spec spec = stream_spec(stream_mode::read, 1);
    spec.start_time = ns(20);
    spec.start_event = &source.go;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 1u);
    EXPECT_EQ(port.log[0].at, ns(50));
}

struct done_waiter : sc_core::sc_module {
    const traffic_generator& gen;
    sc_time woke;
    bool finished_when_woken = false;
    bool finished_at_start = true;
    done_waiter(const sc_core::sc_module_name& name, const traffic_generator& g)
        : sc_core::sc_module(name)
        , gen(g) {
        SC_HAS_PROCESS(done_waiter);
        SC_THREAD(watch);
    }
    void watch() {
        finished_at_start = gen.finished();
        wait(gen.done());
        woke = sc_core::sc_time_stamp();
        finished_when_woken = gen.finished();
    }
};

TEST(traffic_start, done_is_notified_when_finished) {
    fake_port port;
    traffic_generator gen("gen", port, stream_spec(stream_mode::read, 3));
    done_waiter waiter("waiter", gen);
    EXPECT_FALSE(gen.finished());
    EXPECT_EQ(gen.finished_at(), sc_core::SC_ZERO_TIME);
    sc_core::sc_start();
    EXPECT_FALSE(waiter.finished_at_start);
    EXPECT_TRUE(waiter.finished_when_woken);
    EXPECT_EQ(waiter.woke, ns(30));
    EXPECT_EQ(gen.finished_at(), ns(30));
}

TEST(traffic_start, start_after_end_time_issues_nothing) {
    fake_port port;
    generator_spec spec = stream_spec(stream_mode::read, 0);
    spec.start_time = ns(100);
    spec.stop.end_time = ns(50);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_TRUE(port.log.empty());
    EXPECT_TRUE(gen.finished());
    EXPECT_EQ(gen.finished_at(), ns(100));
}

// ---------------------------------------------------------------- stats

TEST(traffic_stats_test, sums_outcomes_and_fills_histograms) {
    fake_port port;
    dma_outcome hit; // read, 2 TLPs both ATC hits
    hit.ok = true;
    hit.latency = ns(10);
    hit.tlps = 2;
    hit.atc_hits = 2;
    dma_outcome miss; // write, one miss then a hit, 40 ns of it translating
    miss.ok = true;
    miss.latency = ns(60);
    miss.translation_latency = ns(40);
    miss.tlps = 2;
    miss.atc_hits = 1;
    miss.atc_misses = 1;
    dma_outcome failed; // read, untranslated, failed
    failed.latency = ns(5);
    failed.tlps = 1;
    failed.untranslated = 1;
    dma_outcome hit_write; // write, 1 hit
    hit_write.ok = true;
    hit_write.latency = ns(20);
    hit_write.tlps = 1;
    hit_write.atc_hits = 1;
    port.script = {hit, miss, failed, hit_write};
    traffic_generator gen("gen", port, stream_spec(stream_mode::alternate, 4));
    sc_core::sc_start();

    const traffic_stats& s = gen.stats();
    EXPECT_EQ(s.transactions, 4u);
    EXPECT_EQ(s.failed_transactions, 1u);
    EXPECT_EQ(s.bytes_read, 0x100u);
    EXPECT_EQ(s.bytes_written, 0x200u);
    EXPECT_EQ(s.tlps, 6u);
    EXPECT_EQ(s.atc_hits, 4u);
    EXPECT_EQ(s.atc_misses, 1u);
    EXPECT_EQ(s.untranslated, 1u);
    EXPECT_DOUBLE_EQ(s.atc_hit_rate(), 0.8);
    EXPECT_EQ(s.dma_latency_ps.count(), 3u); // successful transfers only
    EXPECT_EQ(s.dma_latency_ps.min(), 10000u);
    EXPECT_EQ(s.dma_latency_ps.max(), 60000u);
    EXPECT_EQ(s.dma_latency_ps.sum(), 90000u);
    EXPECT_EQ(s.translation_latency_ps.count(), 1u);
    EXPECT_EQ(s.translation_latency_ps.min(), 40000u);
    EXPECT_EQ(s.maps, 0u);
    EXPECT_EQ(s.late_ops, 0u);
    EXPECT_EQ(gen.finished_at(), ns(95));
}

TEST(traffic_stats_test, translation_latency_covers_every_miss_and_only_misses) {
    fake_port port;
    dma_outcome zero_time_miss; // functional mode: the ATS round trip takes no time
    zero_time_miss.ok = true;
    zero_time_miss.tlps = 1;
    zero_time_miss.atc_misses = 1;
    dma_outcome hit;
    hit.ok = true;
    hit.latency = ns(10);
    hit.tlps = 1;
    hit.atc_hits = 1;
    dma_outcome failed_miss;
    failed_miss.latency = ns(30);
    failed_miss.translation_latency = ns(30);
    failed_miss.tlps = 1;
    failed_miss.atc_misses = 1;
    port.script = {zero_time_miss, hit, failed_miss};
    traffic_generator gen("gen", port, stream_spec(stream_mode::read, 3));
    sc_core::sc_start();
    const traffic_stats& s = gen.stats();
    EXPECT_EQ(s.translation_latency_ps.count(), 2u);
    EXPECT_EQ(s.translation_latency_ps.min(), 0u);
    EXPECT_EQ(s.translation_latency_ps.max(), 30000u);
    EXPECT_EQ(s.dma_latency_ps.count(), 2u);
    EXPECT_EQ(s.dma_latency_ps.max(), 10000u);
    EXPECT_DOUBLE_EQ(s.atc_hit_rate(), 1.0 / 3.0);
}

TEST(traffic_stats_test, hit_rate_is_zero_without_atc_lookups) {
    traffic_stats s;
    EXPECT_EQ(s.atc_hit_rate(), 0.0);
    s.untranslated = 5;
    EXPECT_EQ(s.atc_hit_rate(), 0.0);
    s.atc_misses = 4;
    EXPECT_EQ(s.atc_hit_rate(), 0.0);
    s.atc_hits = 1;
    EXPECT_DOUBLE_EQ(s.atc_hit_rate(), 0.2);
}

TEST(traffic_stats_test, to_json_lists_every_field) {
    traffic_stats s;
    s.transactions = 10;
    s.failed_transactions = 1;
    s.bytes_read = 2048;
    s.bytes_written = 4096;
    s.tlps = 12;
    s.atc_hits = 3;
    s.atc_misses = 1;
    s.untranslated = 8;
    s.dma_latency_ps.record(7);
    s.packets = 2;
    s.maps = 3;
    s.map_failures = 1;
    s.unmaps = 3;
    s.unmap_latency_ps.record(5);
    s.late_ops = 4;
    std::string out = "x:";
    s.to_json(out);
    const std::string empty = R"({"count":0,"min":0,"max":0,"mean":0,"p50":0,"p90":0,"p99":0})";
    EXPECT_EQ(out,
              R"(x:{"transactions":10,"failed_transactions":1,"bytes_read":2048,)"
              R"("bytes_written":4096,"tlps":12,"atc_hits":3,"atc_misses":1,"untranslated":8,)"
              R"("atc_hit_rate":0.75,)"
              R"("dma_latency_ps":{"count":1,"min":7,"max":7,"mean":7,"p50":7,"p90":7,"p99":7},)"
              R"("translation_latency_ps":)" +
                  empty + R"(,"packets":2,"maps":3,"map_failures":1,"unmaps":3,)" +
                  R"("map_latency_ps":)" + empty +
                  R"(,"unmap_latency_ps":{"count":1,"min":5,"max":5,"mean":5,"p50":5,"p90":5,)"
                  R"("p99":5},"late_ops":4})");
}

// ---------------------------------------------------------------- random

generator_spec random_spec(std::uint64_t seed, double read_fraction, std::uint64_t count) {
    random_params p;
    p.base = 0x80000;
    p.working_set = 0x10000;
    p.transfer_bytes = 0x40;
    p.read_fraction = read_fraction;
    p.seed = seed;
    generator_spec spec;
    spec.kind = p;
    spec.stop.transactions = count;
    return spec;
}

TEST(traffic_random, sequence_follows_the_seeded_engine) {
    // std::mt19937_64 seeded 42, outputs in pairs (index, direction): indices 726, 778, 341,
    // 32, 182, 843 (output % 1024); direction outputs with top bit 1, 0, 0, 0, 0, 1.
    fake_port port;
    traffic_generator gen("gen", port, random_spec(42, 0.5, 6));
    sc_core::sc_start();
    EXPECT_EQ(addresses(port),
              (std::vector<std::uint64_t>{0x8b580, 0x8c280, 0x85540, 0x80800, 0x82d80, 0x8d2c0}));
    EXPECT_EQ(directions(port), (std::vector<dma_dir>{W, R, R, R, R, W}));
    for (const dma_record& r : port.log)
        EXPECT_EQ(r.length, 0x40u);
}

TEST(traffic_random, same_seed_same_sequence_different_seed_different) {
    fake_port a_port, b_port, c_port;
    traffic_generator a("a", a_port, random_spec(42, 0.5, 200));
    traffic_generator b("b", b_port, random_spec(42, 0.5, 200));
    traffic_generator c("c", c_port, random_spec(43, 0.5, 200));
    sc_core::sc_start();
    ASSERT_EQ(a_port.log.size(), 200u);
    EXPECT_EQ(addresses(a_port), addresses(b_port));
    EXPECT_EQ(directions(a_port), directions(b_port));
    EXPECT_NE(addresses(a_port), addresses(c_port));
    // seed 43: indices 150, 774, 319 first
    EXPECT_EQ(c_port.log[0].address, 0x80000u + 150 * 0x40);
    EXPECT_EQ(c_port.log[1].address, 0x80000u + 774 * 0x40);
    EXPECT_EQ(c_port.log[2].address, 0x80000u + 319 * 0x40);
}

TEST(traffic_random, stays_aligned_within_the_working_set) {
    fake_port port;
    generator_spec spec = random_spec(3, 0.5, 2000);
    std::get<random_params>(spec.kind).working_set = 0x1030; // 0x40 whole transfers + 0x30
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 2000u);
    std::set<std::uint64_t> seen;
    for (const dma_record& r : port.log) {
        EXPECT_GE(r.address, 0x80000u);
        EXPECT_LE(r.address + r.length, 0x81000u); // the partial tail is never used
        EXPECT_EQ(r.address % 0x40, 0u);
        seen.insert(r.address);
    }
    EXPECT_EQ(seen.size(), 0x40u); // 2000 draws over 64 slots reach every slot
}

TEST(traffic_random, read_fraction_bounds) {
    fake_port reads_port, writes_port;
    traffic_generator reads("reads", reads_port, random_spec(5, 1.0, 50));
    traffic_generator writes("writes", writes_port, random_spec(5, 0.0, 50));
    sc_core::sc_start();
    EXPECT_EQ(directions(reads_port), (std::vector<dma_dir>(50, R)));
    EXPECT_EQ(directions(writes_port), (std::vector<dma_dir>(50, W)));
    // The address sequence does not depend on read_fraction.
    EXPECT_EQ(addresses(reads_port), addresses(writes_port));
}

// ---------------------------------------------------------------- replay

replay_op op_at(dma_dir dir, std::uint64_t address, std::uint32_t length, timing::time_ps at) {
    replay_op op;
    op.dir = dir;
    op.address = address;
    op.length = length;
    op.when = replay_when::at;
    op.time = at;
    return op;
}

replay_op op_after(dma_dir dir, std::uint64_t address, std::uint32_t length,
                   timing::time_ps delay) {
    replay_op op = op_at(dir, address, length, delay);
    op.when = replay_when::after_previous;
    return op;
}

TEST(traffic_replay, honours_timestamps_and_dependencies) {
    fake_port port(ns(20));
    replay_params p;
    p.ops.push_back(op_at(R, 0x4000, 64, 100'000));   // at 100 ns
    p.ops.push_back(op_at(W, 0x5000, 128, 250'000));  // at 250 ns
    p.ops.push_back(op_after(R, 0x6000, 32, 30'000)); // 270 + 30 = 300 ns
    p.ops.push_back(op_after(W, 0x7000, 16, 0));      // at once after 320 ns
    p.ops.push_back(op_at(R, 0x8000, 8, 50'000));     // 50 ns has passed: late, at 340 ns
    p.ops[1].pasid = 3;
    p.ops[1].privileged = true;
    p.ops[2].execute = true;
    generator_spec spec;
    spec.kind = p;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();

    ASSERT_EQ(port.log.size(), 5u);
    expect_dma(port.log[0], 100, R, 0x4000, 64);
    expect_dma(port.log[1], 250, W, 0x5000, 128);
    expect_dma(port.log[2], 300, R, 0x6000, 32);
    expect_dma(port.log[3], 320, W, 0x7000, 16);
    expect_dma(port.log[4], 340, R, 0x8000, 8);
    EXPECT_EQ(port.log[0].pasid, std::nullopt);
    EXPECT_EQ(port.log[1].pasid, std::optional<std::uint32_t>{3});
    EXPECT_TRUE(port.log[1].privileged);
    EXPECT_FALSE(port.log[1].execute);
    EXPECT_TRUE(port.log[2].execute);
    EXPECT_FALSE(port.log[2].privileged);
    EXPECT_EQ(gen.stats().late_ops, 1u);
    EXPECT_EQ(gen.stats().bytes_read, 104u);
    EXPECT_EQ(gen.stats().bytes_written, 144u);
    EXPECT_EQ(gen.finished_at(), ns(360));
}

TEST(traffic_replay, first_relative_op_counts_from_the_start) {
    fake_port port;
    replay_params p;
    p.ops.push_back(op_after(R, 0x4000, 64, 15'000));
    generator_spec spec;
    spec.kind = p;
    spec.start_time = ns(40);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 1u);
    EXPECT_EQ(port.log[0].at, ns(55));
}

TEST(traffic_replay, op_exactly_on_time_is_not_late) {
    fake_port port(ns(20));
    replay_params p;
    p.ops.push_back(op_at(R, 0x4000, 64, 0));
    p.ops.push_back(op_at(R, 0x4000, 64, 20'000));
    generator_spec spec;
    spec.kind = p;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 2u);
    EXPECT_EQ(port.log[1].at, ns(20));
    EXPECT_EQ(gen.stats().late_ops, 0u);
}

TEST(traffic_replay, stop_condition_cuts_the_list) {
    fake_port port;
    replay_params p;
    for (int i = 0; i < 5; ++i)
        p.ops.push_back(op_after(R, 0x1000 * static_cast<std::uint64_t>(i + 1), 64, 0));
    generator_spec spec;
    spec.kind = p;
    spec.stop.transactions = 2;
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x1000, 0x2000}));
    EXPECT_TRUE(gen.finished());
}

TEST(traffic_replay, ops_due_at_or_after_the_end_time_are_not_issued) {
    fake_port port(ns(20));
    replay_params p;
    p.ops.push_back(op_at(R, 0x1000, 64, 100'000));
    p.ops.push_back(op_at(R, 0x2000, 64, 200'000)); // the end time
    generator_spec spec;
    spec.kind = p;
    spec.stop.end_time = ns(200);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x1000}));
    EXPECT_EQ(gen.finished_at(), ns(120)); // stops without waiting for the op's time
}

TEST(traffic_replay, relative_delay_reaching_the_end_time_stops) {
    fake_port port(ns(20));
    replay_params p;
    p.ops.push_back(op_after(R, 0x1000, 64, 0));
    p.ops.push_back(op_after(R, 0x2000, 64, 29'000)); // 20 + 29 = 49 < 100
    p.ops.push_back(op_after(R, 0x3000, 64, 31'000)); // 69 + 31 = 100: the end time
    generator_spec spec;
    spec.kind = p;
    spec.stop.end_time = ns(100);
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x1000, 0x2000}));
    EXPECT_EQ(port.log[1].at, ns(49));
    EXPECT_EQ(gen.finished_at(), ns(69));
}

TEST(traffic_replay, empty_list_finishes_at_once) {
    fake_port port;
    generator_spec spec;
    spec.kind = replay_params{};
    traffic_generator gen("gen", port, spec);
    sc_core::sc_start();
    EXPECT_TRUE(port.log.empty());
    EXPECT_TRUE(gen.finished());
    EXPECT_EQ(gen.finished_at(), sc_core::SC_ZERO_TIME);
}

// ---------------------------------------------------------------- ring

generator_spec ring_spec(ring_dir dir, std::uint32_t slots, std::uint32_t depth,
                         std::uint64_t transactions) {
    ring_params p;
    p.dir = dir;
    p.slots = slots;
    p.depth = depth;
    p.descriptor_bytes = 16;
    p.completion_bytes = 16;
    p.buffer_bytes = 2048;
    generator_spec spec;
    spec.kind = p;
    spec.stop.transactions = transactions;
    return spec;
}

TEST(traffic_ring, rx_sequence_with_cpu_and_device_overlapping) {
    // Ring: 4 slots * (16 + 16) = 128 bytes at 0x10000; completions from 0x10040.
    // map 100 ns, unmap 200 ns, DMA 50 ns; depth 2; 9 transactions = 3 packets.
    fake_port port(ns(50));
    fake_mapper mapper;
    traffic_generator gen("gen", port, ring_spec(ring_dir::rx, 4, 2, 9), &mapper);
    sc_core::sc_start();

    ASSERT_EQ(mapper.log.size(), 8u);
    expect_map(mapper.log[0], 0, true, 0x10000, 128);     // ring, once
    expect_map(mapper.log[1], 100, true, 0x20000, 2048);  // post packet 0
    expect_map(mapper.log[2], 200, true, 0x30000, 2048);  // post packet 1: depth reached
    expect_map(mapper.log[3], 350, false, 0x20000, 2048); // packet 0 completed at 350
    expect_map(mapper.log[4], 550, false, 0x30000, 2048); // packet 1 completed at 500
    expect_map(mapper.log[5], 750, true, 0x40000, 2048);  // post packet 2: the last one
    expect_map(mapper.log[6], 1000, false, 0x40000, 2048);
    expect_map(mapper.log[7], 1200, false, 0x10000, 128); // ring, last
    for (const std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{5}})
        EXPECT_TRUE(mapper.log[i].device_writes) << i;

    ASSERT_EQ(port.log.size(), 9u);
    expect_dma(port.log[0], 200, R, 0x10000, 16); // descriptor slot 0
    expect_dma(port.log[1], 250, W, 0x20000, 2048);
    expect_dma(port.log[2], 300, W, 0x10040, 16); // completion slot 0
    expect_dma(port.log[3], 350, R, 0x10010, 16);
    expect_dma(port.log[4], 400, W, 0x30000, 2048);
    expect_dma(port.log[5], 450, W, 0x10050, 16);
    expect_dma(port.log[6], 850, R, 0x10020, 16);
    expect_dma(port.log[7], 900, W, 0x40000, 2048);
    expect_dma(port.log[8], 950, W, 0x10060, 16);

    const traffic_stats& s = gen.stats();
    EXPECT_EQ(s.packets, 3u);
    EXPECT_EQ(s.transactions, 9u);
    EXPECT_EQ(s.bytes_read, 48u);
    EXPECT_EQ(s.bytes_written, 3u * (2048 + 16));
    EXPECT_EQ(s.maps, 4u);
    EXPECT_EQ(s.unmaps, 4u);
    EXPECT_EQ(s.map_failures, 0u);
    EXPECT_EQ(s.map_latency_ps.count(), 4u);
    EXPECT_EQ(s.map_latency_ps.min(), 100000u);
    EXPECT_EQ(s.map_latency_ps.max(), 100000u);
    EXPECT_EQ(s.unmap_latency_ps.count(), 4u);
    EXPECT_EQ(s.unmap_latency_ps.min(), 200000u);
    EXPECT_EQ(s.unmap_latency_ps.max(), 200000u);
    EXPECT_TRUE(gen.finished());
    EXPECT_EQ(gen.finished_at(), ns(1400));
    EXPECT_EQ(mapper.outstanding, 0);
}

TEST(traffic_ring, tx_reads_buffers_mapped_for_device_reads) {
    fake_port port(ns(50));
    fake_mapper mapper;
    generator_spec spec = ring_spec(ring_dir::tx, 2, 1, 6);
    std::get<ring_params>(spec.kind).pasid = 9;
    traffic_generator gen("gen", port, spec, &mapper);
    sc_core::sc_start();

    ASSERT_EQ(port.log.size(), 6u);
    EXPECT_EQ(directions(port), (std::vector<dma_dir>{R, R, W, R, R, W}));
    // Ring of 2 * 32 bytes: descriptors 0x10000, 0x10010; completions 0x10020, 0x10030.
    EXPECT_EQ(addresses(port),
              (std::vector<std::uint64_t>{0x10000, 0x20000, 0x10020, 0x10010, 0x30000, 0x10030}));
    for (const dma_record& r : port.log)
        EXPECT_EQ(r.pasid, std::optional<std::uint32_t>{9});
    ASSERT_EQ(mapper.log.size(), 6u);
    EXPECT_EQ(mapper.log[0].bytes, 64u);
    EXPECT_TRUE(mapper.log[0].device_writes); // the device writes completions into the ring
    EXPECT_FALSE(mapper.log[1].device_writes);
    EXPECT_EQ(gen.stats().bytes_read, 2u * (16 + 2048));
    EXPECT_EQ(gen.stats().bytes_written, 32u);
    EXPECT_EQ(mapper.max_outstanding, 2); // the ring and one buffer (depth 1)
}

TEST(traffic_ring, buffers_are_mapped_before_use_and_unmapped_after) {
    fake_port port(ns(30));
    fake_mapper mapper;
    mapper.map_latency = ns(40);
    mapper.unmap_latency = ns(70);
    traffic_generator gen("gen", port, ring_spec(ring_dir::rx, 4, 3, 30), &mapper);
    sc_core::sc_start();

    ASSERT_EQ(port.log.size(), 30u);
    ASSERT_FALSE(mapper.log.empty());
    const map_record ring = mapper.log.front();
    EXPECT_TRUE(ring.is_map);
    EXPECT_EQ(ring.bytes, 128u);
    const map_record last = mapper.log.back();
    EXPECT_FALSE(last.is_map);
    EXPECT_EQ(last.iova, ring.iova);
    EXPECT_EQ(std::count_if(mapper.log.begin(), mapper.log.end(),
                            [&](const map_record& m) { return m.iova == ring.iova; }),
              2);

    // Each buffer IOVA is mapped once: its map returns before the device's first access and
    // its unmap starts after the device's last access completed.
    std::map<std::uint64_t, sc_time> mapped_at, unmapped_at;
    for (const map_record& m : mapper.log) {
        if (m.iova == ring.iova)
            continue;
        if (m.is_map)
            mapped_at[m.iova] = m.at + ns(40);
        else
            unmapped_at[m.iova] = m.at;
    }
    EXPECT_EQ(mapped_at.size(), 10u);
    EXPECT_EQ(unmapped_at.size(), 10u);
    for (std::size_t packet = 0; packet < 10; ++packet) {
        const dma_record& desc = port.log[3 * packet];
        const dma_record& buf = port.log[3 * packet + 1];
        const dma_record& cpl = port.log[3 * packet + 2];
        EXPECT_EQ(desc.address, 0x10000u + 16 * (packet % 4)) << packet;
        EXPECT_EQ(cpl.address, 0x10040u + 16 * (packet % 4)) << packet;
        ASSERT_EQ(mapped_at.count(buf.address), 1u) << packet;
        EXPECT_LE(mapped_at[buf.address], desc.at) << packet;
        EXPECT_GE(unmapped_at[buf.address], cpl.at + ns(30)) << packet;
    }
    EXPECT_EQ(mapper.max_outstanding, 4); // the ring and depth 3 buffers
    EXPECT_EQ(mapper.outstanding, 0);
}

TEST(traffic_ring, failed_buffer_map_stops_posting_and_drains) {
    // Map calls: 0 the ring, 1 packet 0, 2 packet 1 fails.
    fake_port port(ns(50));
    fake_mapper mapper;
    mapper.fail_calls = {2};
    traffic_generator gen("gen", port, ring_spec(ring_dir::rx, 4, 2, 30), &mapper);
    sc_core::sc_start();

    EXPECT_EQ(addresses(port), (std::vector<std::uint64_t>{0x10000, 0x20000, 0x10040}));
    const traffic_stats& s = gen.stats();
    EXPECT_EQ(s.map_failures, 1u);
    EXPECT_EQ(s.maps, 2u);
    EXPECT_EQ(s.unmaps, 2u);
    EXPECT_EQ(s.map_latency_ps.count(), 3u);
    EXPECT_EQ(s.packets, 1u);
    EXPECT_TRUE(gen.finished());
    EXPECT_EQ(mapper.outstanding, 0);
    ASSERT_FALSE(mapper.log.empty());
    EXPECT_FALSE(mapper.log.back().is_map);
    EXPECT_EQ(mapper.log.back().iova, 0x10000u);
}

TEST(traffic_ring, failed_ring_map_issues_nothing) {
    fake_port port;
    fake_mapper mapper;
    mapper.fail_calls = {0};
    traffic_generator gen("gen", port, ring_spec(ring_dir::rx, 4, 2, 30), &mapper);
    sc_core::sc_start();
    EXPECT_TRUE(port.log.empty());
    EXPECT_EQ(gen.stats().map_failures, 1u);
    EXPECT_EQ(gen.stats().maps, 0u);
    EXPECT_EQ(gen.stats().unmaps, 0u);
    EXPECT_EQ(mapper.log.size(), 1u);
    EXPECT_TRUE(gen.finished());
    EXPECT_EQ(gen.finished_at(), ns(100));
}

TEST(traffic_ring, failed_dma_is_counted_and_the_ring_goes_on) {
    fake_port port(ns(50));
    dma_outcome ok;
    ok.ok = true;
    ok.latency = ns(50);
    dma_outcome fault;
    fault.latency = ns(50);
    port.script = {ok, fault, ok, ok, ok, ok};
    fake_mapper mapper;
    traffic_generator gen("gen", port, ring_spec(ring_dir::rx, 4, 1, 6), &mapper);
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 6u);
    EXPECT_EQ(gen.stats().failed_transactions, 1u);
    EXPECT_EQ(gen.stats().bytes_written, 2048u + 16 + 16);
    EXPECT_EQ(gen.stats().packets, 2u);
    EXPECT_EQ(gen.stats().unmaps, 3u);
}

TEST(traffic_ring, byte_limit_counts_whole_packets) {
    // A packet is 16 + 2048 + 16 = 2080 bytes: posting stops once 2 packets (4160) >= 4000.
    fake_port port;
    fake_mapper mapper;
    generator_spec spec = ring_spec(ring_dir::rx, 4, 4, 0);
    spec.stop.bytes = 4000;
    traffic_generator gen("gen", port, spec, &mapper);
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 6u);
    EXPECT_EQ(gen.stats().maps, 3u);
    EXPECT_EQ(mapper.max_outstanding, 3);
}

TEST(traffic_ring, end_time_stops_posting) {
    // Packets 0 and 1 are mapped 100..200 and 200..300 (depth 2) and complete at 350 and 500;
    // the CPU unmaps them 350..550 and 550..750, and at 750 the end time (500) has passed.
    fake_port port(ns(50));
    fake_mapper mapper;
    generator_spec spec = ring_spec(ring_dir::rx, 4, 2, 0);
    spec.stop.end_time = ns(500);
    traffic_generator gen("gen", port, spec, &mapper);
    sc_core::sc_start();
    EXPECT_EQ(gen.stats().packets, 2u);
    EXPECT_EQ(port.log.size(), 6u);
    EXPECT_EQ(gen.stats().maps, 3u);
    EXPECT_EQ(gen.stats().unmaps, 3u);
}

TEST(traffic_ring, think_time_paces_the_device) {
    // Depth 2 with fast maps: the device is the bottleneck and pauses 100 ns between packets.
    fake_port port(ns(10));
    fake_mapper mapper;
    mapper.map_latency = ns(1);
    mapper.unmap_latency = ns(1);
    generator_spec spec = ring_spec(ring_dir::rx, 4, 2, 9);
    spec.think_time = ns(100);
    traffic_generator gen("gen", port, spec, &mapper);
    sc_core::sc_start();
    ASSERT_EQ(port.log.size(), 9u);
    EXPECT_EQ(port.log[0].at, ns(2));   // packet 0 posted at 2 ns
    EXPECT_EQ(port.log[3].at, ns(132)); // completed at 32, +100
    EXPECT_EQ(port.log[6].at, ns(262));
}

TEST(traffic_ring, requires_a_mapper) {
    fake_port port;
    try {
        traffic_generator gen("gen", port, ring_spec(ring_dir::rx, 4, 2, 9));
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("buffer_mapper"), std::string::npos) << e.what();
    }
}

// ---------------------------------------------------------------- validation

std::string error_of(const generator_spec& spec) {
    try {
        validate(spec);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

void expect_rejected(const generator_spec& spec, const std::string& field) {
    const std::string message = error_of(spec);
    EXPECT_NE(message.find(field), std::string::npos) << "'" << message << "' lacks " << field;
}

TEST(traffic_validate, valid_specs_pass) {
    EXPECT_EQ(error_of(stream_spec(stream_mode::mixed, 1)), "");
    EXPECT_EQ(error_of(random_spec(1, 0.3, 1)), "");
    EXPECT_EQ(error_of(ring_spec(ring_dir::tx, 4, 4, 3)), "");
    generator_spec replay;
    replay.kind = replay_params{{op_at(R, 0xffff'ffff'ffff'ff00, 0x100, 0)}};
    EXPECT_EQ(error_of(replay), ""); // ends exactly at 2^64
}

TEST(traffic_validate, stream_fields) {
    auto with = [](auto change) {
        generator_spec spec = stream_spec(stream_mode::read, 1);
        change(std::get<stream_params>(spec.kind));
        return spec;
    };
    expect_rejected(with([](stream_params& p) { p.transfer_bytes = 0; }), "stream.transfer_bytes");
    expect_rejected(with([](stream_params& p) { p.size = 0xff; }), "stream.size");
    expect_rejected(with([](stream_params& p) { p.base = 0xffff'ffff'ffff'ff00; }), "stream.base");
    expect_rejected(with([](stream_params& p) { p.read_fraction = 1.5; }), "stream.read_fraction");
    expect_rejected(with([](stream_params& p) { p.read_fraction = -0.1; }), "stream.read_fraction");
    expect_rejected(with([](stream_params& p) { p.read_fraction = std::nan(""); }),
                    "stream.read_fraction");
    expect_rejected(with([](stream_params& p) { p.pasid = 0x100000; }), "stream.pasid");
    EXPECT_EQ(error_of(with([](stream_params& p) { p.pasid = 0xfffff; })), "");
}

TEST(traffic_validate, random_fields) {
    auto with = [](auto change) {
        generator_spec spec = random_spec(1, 0.5, 1);
        change(std::get<random_params>(spec.kind));
        return spec;
    };
    expect_rejected(with([](random_params& p) { p.transfer_bytes = 0; }), "random.transfer_bytes");
    expect_rejected(with([](random_params& p) { p.working_set = 0x3f; }), "random.working_set");
    expect_rejected(with([](random_params& p) { p.base = ~std::uint64_t{0}; }), "random.base");
    expect_rejected(with([](random_params& p) { p.read_fraction = 2; }), "random.read_fraction");
    expect_rejected(with([](random_params& p) { p.pasid = 0x100000; }), "random.pasid");
}

TEST(traffic_validate, ring_fields) {
    auto with = [](auto change) {
        generator_spec spec = ring_spec(ring_dir::rx, 8, 4, 3);
        change(std::get<ring_params>(spec.kind));
        return spec;
    };
    expect_rejected(with([](ring_params& p) { p.slots = 0; }), "ring.slots");
    expect_rejected(with([](ring_params& p) { p.depth = 0; }), "ring.depth");
    expect_rejected(with([](ring_params& p) { p.depth = 9; }), "ring.depth");
    expect_rejected(with([](ring_params& p) { p.descriptor_bytes = 0; }), "ring.descriptor_bytes");
    expect_rejected(with([](ring_params& p) { p.completion_bytes = 0; }), "ring.completion_bytes");
    expect_rejected(with([](ring_params& p) { p.buffer_bytes = 0; }), "ring.buffer_bytes");
    expect_rejected(with([](ring_params& p) {
                        p.slots = 0x1000'0000;
                        p.depth = 1;
                    }),
                    "ring.slots"); // 2^28 * 32 bytes does not fit a 32-bit map() size
    expect_rejected(with([](ring_params& p) { p.pasid = 0x100000; }), "ring.pasid");
}

TEST(traffic_validate, replay_fields) {
    generator_spec spec;
    replay_params p;
    p.ops = {op_at(R, 0x1000, 64, 0), op_at(R, 0x1000, 0, 0)};
    spec.kind = p;
    expect_rejected(spec, "replay.ops[1].length");
    p.ops = {op_at(R, 0xffff'ffff'ffff'ff00, 0x101, 0)};
    spec.kind = p;
    expect_rejected(spec, "replay.ops[0].address");
    p.ops = {op_at(R, 0x1000, 64, 0)};
    p.ops[0].pasid = 0x100000;
    spec.kind = p;
    expect_rejected(spec, "replay.ops[0].pasid");
    p.ops[0].pasid = std::nullopt;
    spec.kind = p;
    spec.think_time = ns(1);
    expect_rejected(spec, "think_time");
}

TEST(traffic_validate, unbounded_generators_need_a_stop_condition) {
    expect_rejected(stream_spec(stream_mode::read, 0), "stop");
    expect_rejected(random_spec(1, 0.5, 0), "stop");
    expect_rejected(ring_spec(ring_dir::rx, 4, 2, 0), "stop");
    generator_spec replay;
    replay.kind = replay_params{};
    EXPECT_EQ(error_of(replay), "");
}

TEST(traffic_validate, constructor_rejects_an_invalid_spec) {
    fake_port port;
    EXPECT_THROW(traffic_generator("gen", port, stream_spec(stream_mode::read, 0)),
                 std::invalid_argument);
    // The name is free again: a valid generator can take it.
    traffic_generator gen("gen", port, stream_spec(stream_mode::read, 1));
    sc_core::sc_start();
    EXPECT_EQ(port.log.size(), 1u);
}

} // namespace
} // namespace smmu::pcie
