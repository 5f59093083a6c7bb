#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/smmu/event_queue.h"

namespace smmu {
namespace {

/// Minimal map-backed smmu_memory: fixed latency, optional abort range, write log.
class map_memory : public smmu_memory {
public:
    struct access {
        arch::phys_addr pa;
        unsigned len;
        mem_purpose why;
    };

    bool read(arch::phys_addr pa, void* dst, unsigned len, mem_purpose, timing::time_ps& now,
              bool debug) override {
        if (!debug)
            now += latency;
        auto* out = static_cast<std::uint8_t*>(dst);
        for (unsigned i = 0; i < len; ++i) {
            const auto it = bytes.find(pa + i);
            out[i] = it == bytes.end() ? 0 : it->second;
        }
        return !aborts(pa);
    }

    bool write(arch::phys_addr pa, const void* src, unsigned len, mem_purpose why,
               timing::time_ps& now) override {
        now += latency;
        writes.push_back({pa, len, why});
        if (aborts(pa))
            return false;
        const auto* in = static_cast<const std::uint8_t*>(src);
        for (unsigned i = 0; i < len; ++i)
            bytes[pa + i] = in[i];
        return true;
    }

    std::uint64_t word(arch::phys_addr pa) const {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < 8; ++i) {
            const auto it = bytes.find(pa + i);
            v |= std::uint64_t{it == bytes.end() ? std::uint8_t{0} : it->second} << (8 * i);
        }
        return v;
    }

    std::uint8_t byte(arch::phys_addr pa) const {
        const auto it = bytes.find(pa);
        return it == bytes.end() ? 0 : it->second;
    }

    bool aborts(arch::phys_addr pa) const { return pa >= abort_lo && pa < abort_hi; }

    std::map<arch::phys_addr, std::uint8_t> bytes;
    std::vector<access> writes;
    timing::time_ps latency = 0;
    arch::phys_addr abort_lo = 0;
    arch::phys_addr abort_hi = 0; ///< empty range: nothing aborts
};

constexpr std::uint64_t queue_base = 0x80000000;
constexpr std::uint32_t eventqen = 0x4;

/// A register file with a 4-entry event queue at queue_base, PROD = CONS = 0, enabled.
struct fixture {
    explicit fixture(const smmu_params& p = smmu_params{})
        : params(p)
        , regs(params)
        , queue(regs, mem, params) {
        regs.write(arch::reg::eventq_base, 8, queue_base | 2); // LOG2SIZE 2
        regs.write(arch::reg::eventq_prod, 4, 0);
        regs.write(arch::reg::eventq_cons, 4, 0);
        regs.write(arch::reg::cr0, 4, eventqen);
    }

    event_write_result post(std::uint32_t sid = 0x1234) {
        return queue.post(arch::make_bad_streamid(sid), now);
    }
    std::uint32_t prod() const { return static_cast<std::uint32_t>(regs.read(0x100a8, 4)); }
    void set_cons(std::uint32_t v) { regs.write(0x100ac, 4, v); }

    smmu_params params;
    map_memory mem;
    register_file regs;
    event_queue queue;
    timing::time_ps now = 0;
};

TEST(event_queue, writes_the_record_at_the_prod_index_and_advances_prod) {
    fixture f;
    event_write_result r = f.post(0x1234);
    EXPECT_EQ(r.outcome, event_outcome::written);
    EXPECT_TRUE(r.written());
    EXPECT_TRUE(r.became_non_empty);
    EXPECT_FALSE(r.overflow_signalled);
    EXPECT_EQ(f.prod(), 0x1u);
    ASSERT_EQ(f.mem.writes.size(), 1u);
    EXPECT_EQ(f.mem.writes[0].pa, 0x80000000u);
    EXPECT_EQ(f.mem.writes[0].len, 32u);
    EXPECT_EQ(f.mem.writes[0].why, mem_purpose::event);
    // C_BAD_STREAMID: W0 = StreamID << 32 | 0x02, W1..W3 = 0; little-endian in memory.
    EXPECT_EQ(f.mem.word(0x80000000), 0x0000123400000002u);
    EXPECT_EQ(f.mem.byte(0x80000000), 0x02u);
    EXPECT_EQ(f.mem.byte(0x80000004), 0x34u);
    EXPECT_EQ(f.mem.byte(0x80000005), 0x12u);
    EXPECT_EQ(f.mem.word(0x80000008), 0u);

    r = f.post(0x55);
    EXPECT_TRUE(r.written());
    EXPECT_FALSE(r.became_non_empty);
    EXPECT_EQ(f.prod(), 0x2u);
    EXPECT_EQ(f.mem.writes[1].pa, 0x80000020u);
    EXPECT_EQ(f.mem.word(0x80000020), 0x0000005500000002u);
    EXPECT_TRUE(f.queue.non_empty());
}

TEST(event_queue, record_words_are_stored_little_endian) {
    fixture f;
    arch::access_kind read;
    const arch::event_record e = arch::make_translation_fault(
        arch::stream_ref{0x7, 0x3}, 0x1122334455667788u, read, arch::fault_stage{});
    f.queue.post(e, f.now);
    EXPECT_EQ(f.mem.byte(0x80000010), 0x88u);
    EXPECT_EQ(f.mem.byte(0x80000017), 0x11u);
    EXPECT_EQ(f.mem.word(0x80000010), 0x1122334455667788u);
    EXPECT_EQ(f.mem.word(0x80000000), 0x0000000700003810u); // SID 7, SSID 3, SSV, F_TRANSLATION
}

TEST(event_queue, prod_wrap_bit_toggles_after_the_last_entry) {
    fixture f;
    for (std::uint32_t i = 0; i < 3; ++i)
        f.post();
    EXPECT_EQ(f.prod(), 0x3u);
    f.set_cons(0x3);
    f.post();
    EXPECT_EQ(f.mem.writes.back().pa, 0x80000060u); // index 3: the last entry
    EXPECT_EQ(f.prod(), 0x4u);                      // wrap = 1, index 0
    f.set_cons(0x4);
    const event_write_result r = f.post();
    EXPECT_TRUE(r.became_non_empty);
    EXPECT_EQ(f.mem.writes.back().pa, 0x80000000u);
    EXPECT_EQ(f.prod(), 0x5u);
    // Four more entries wrap back to wrap = 0.
    f.set_cons(0x5);
    for (std::uint32_t i = 0; i < 3; ++i)
        f.post();
    EXPECT_EQ(f.prod(), 0x0u);
}

TEST(event_queue, full_queue_loses_the_record_and_toggles_ovflg_once) {
    fixture f;
    for (std::uint32_t i = 0; i < 4; ++i)
        EXPECT_TRUE(f.post().written());
    EXPECT_EQ(f.prod(), 0x4u); // full: index 0 with the wrap bit opposite to CONS
    f.now = 100;

    event_write_result r = f.post();
    EXPECT_EQ(r.outcome, event_outcome::lost_full);
    EXPECT_TRUE(r.overflow_signalled);
    EXPECT_FALSE(r.became_non_empty);
    EXPECT_EQ(f.prod(), 0x80000004u);
    EXPECT_TRUE(f.regs.eventq_overflow());

    r = f.post(); // overflow condition already present: no second toggle
    EXPECT_EQ(r.outcome, event_outcome::lost_full);
    EXPECT_FALSE(r.overflow_signalled);
    EXPECT_EQ(f.prod(), 0x80000004u);
    EXPECT_EQ(f.mem.writes.size(), 4u); // nothing overwritten
    EXPECT_EQ(f.now, 100u);             // lost records cost no time
    EXPECT_EQ(f.queue.stats().lost, 2u);
    EXPECT_EQ(f.queue.stats().overflows, 1u);
}

TEST(event_queue, overflow_stays_until_acknowledged_then_can_toggle_again) {
    fixture f;
    for (std::uint32_t i = 0; i < 5; ++i)
        f.post();
    EXPECT_EQ(f.prod(), 0x80000004u);

    // Consuming without acknowledging: the queue delivers events, the condition stays.
    f.set_cons(0x4);
    EXPECT_TRUE(f.post().written());
    EXPECT_EQ(f.prod(), 0x80000005u);
    EXPECT_TRUE(f.regs.eventq_overflow());
    for (std::uint32_t i = 0; i < 3; ++i)
        f.post();
    EXPECT_EQ(f.prod(), 0x80000000u); // full again
    EXPECT_FALSE(f.post().overflow_signalled);
    EXPECT_EQ(f.prod(), 0x80000000u);

    // Software copies OVFLG into OVACKFLG while consuming: the next overflow toggles back.
    f.set_cons(0x80000000);
    EXPECT_FALSE(f.regs.eventq_overflow());
    for (std::uint32_t i = 0; i < 4; ++i)
        EXPECT_TRUE(f.post().written());
    EXPECT_EQ(f.prod(), 0x80000004u);
    const event_write_result r = f.post();
    EXPECT_TRUE(r.overflow_signalled);
    EXPECT_EQ(f.prod(), 0x00000004u);
    EXPECT_TRUE(f.regs.eventq_overflow());
    EXPECT_EQ(f.queue.stats().overflows, 2u);
}

TEST(event_queue, disabled_queue_discards_without_overflow) {
    fixture f;
    for (std::uint32_t i = 0; i < 4; ++i)
        f.post();
    f.regs.write(arch::reg::cr0, 4, 0);
    f.now = 500;
    const event_write_result r = f.post();
    EXPECT_EQ(r.outcome, event_outcome::discarded_disabled);
    EXPECT_FALSE(r.overflow_signalled);
    EXPECT_FALSE(r.became_non_empty);
    EXPECT_EQ(f.prod(), 0x4u);
    EXPECT_EQ(f.mem.writes.size(), 4u);
    EXPECT_EQ(f.now, 500u);
    EXPECT_EQ(f.queue.stats().discarded, 1u);
    EXPECT_EQ(f.queue.stats().lost, 0u);
}

TEST(event_queue, write_abort_activates_eventq_abt_err_and_loses_the_record) {
    fixture f;
    f.post();
    f.mem.abort_lo = 0x80000020;
    f.mem.abort_hi = 0x80000040;
    event_write_result r = f.post();
    EXPECT_EQ(r.outcome, event_outcome::aborted);
    EXPECT_TRUE(r.gerror_activated);
    EXPECT_FALSE(r.became_non_empty);
    EXPECT_EQ(f.prod(), 0x1u); // synchronous abort: PROD not advanced
    EXPECT_EQ(f.regs.read(arch::reg::gerror, 4), 0x4u);
    EXPECT_TRUE(f.regs.gerror_is_active(arch::gerror::eventq_abt_err));

    // Unwritable until acknowledged: discarded, no write attempted, no overflow.
    f.mem.abort_hi = 0;
    r = f.post();
    EXPECT_EQ(r.outcome, event_outcome::discarded_abort_active);
    EXPECT_FALSE(r.gerror_activated);
    EXPECT_EQ(f.mem.writes.size(), 2u);
    EXPECT_EQ(f.prod(), 0x1u);

    f.regs.write(arch::reg::gerrorn, 4, 0x4);
    r = f.post();
    EXPECT_TRUE(r.written());
    EXPECT_EQ(f.mem.writes.back().pa, 0x80000020u);
    EXPECT_EQ(f.prod(), 0x2u);
    EXPECT_EQ(f.queue.stats().aborted, 1u);
    EXPECT_EQ(f.queue.stats().discarded_abort_active, 1u);
}

TEST(event_queue, abort_into_an_empty_queue_keeps_it_empty) {
    fixture f;
    f.mem.abort_lo = 0x80000000;
    f.mem.abort_hi = 0x80000080;
    const event_write_result r = f.post();
    EXPECT_EQ(r.outcome, event_outcome::aborted);
    EXPECT_FALSE(r.became_non_empty);
    EXPECT_FALSE(f.queue.non_empty());
}

TEST(event_queue, write_costs_event_write_cycles_plus_memory_latency) {
    fixture f; // 1 GHz, event_write_cycles 10
    f.mem.latency = 5000;
    f.now = 1'000'000;
    f.post();
    EXPECT_EQ(f.now, 1'015'000u);
    f.mem.abort_lo = 0x80000020; // an aborted write costs the same
    f.mem.abort_hi = 0x80000040;
    f.post();
    EXPECT_EQ(f.now, 1'030'000u);
}

TEST(event_queue, event_write_cycles_is_a_parameter) {
    smmu_params p;
    p.event_write_cycles = 3;
    p.clock_period_ps = 500;
    fixture f(p);
    f.mem.latency = 700;
    f.post();
    EXPECT_EQ(f.now, 2200u);
}

TEST(event_queue, functional_mode_adds_no_smmu_time) {
    smmu_params p;
    p.mode = timing_mode::functional;
    fixture f(p);
    f.now = 42;
    f.post();
    EXPECT_EQ(f.now, 42u);
    EXPECT_EQ(f.prod(), 0x1u);
}

TEST(event_queue, queue_size_capped_by_idr1_eventqs) {
    smmu_params p;
    p.features.eventq_log2 = 1;
    fixture f(p);
    f.regs.write(arch::reg::cr0, 4, 0);
    f.regs.write(arch::reg::eventq_base, 8, queue_base | 5); // LOG2SIZE 5 > EVENTQS 1
    f.regs.write(arch::reg::cr0, 4, eventqen);
    f.post();
    f.post();
    EXPECT_EQ(f.prod(), 0x2u); // wrap bit 1: full with two entries
    EXPECT_EQ(f.post().outcome, event_outcome::lost_full);
}

TEST(event_queue, one_entry_queue) {
    fixture f;
    f.regs.write(arch::reg::cr0, 4, 0);
    f.regs.write(arch::reg::eventq_base, 8, queue_base | 0);
    f.regs.write(arch::reg::cr0, 4, eventqen);
    EXPECT_TRUE(f.post().became_non_empty);
    EXPECT_EQ(f.prod(), 0x1u); // QS = 0: the wrap flag is bit 0
    EXPECT_EQ(f.post().outcome, event_outcome::lost_full);
    f.set_cons(0x80000001);
    EXPECT_TRUE(f.post().became_non_empty);
    EXPECT_EQ(f.mem.writes.back().pa, 0x80000000u);
    EXPECT_EQ(f.prod(), 0x80000000u);
}

TEST(event_queue, statistics) {
    fixture f;
    for (std::uint32_t i = 0; i < 5; ++i)
        f.post();
    f.regs.write(arch::reg::cr0, 4, 0);
    f.post();
    const event_queue_stats& s = f.queue.stats();
    EXPECT_EQ(s.posted, 6u);
    EXPECT_EQ(s.written, 4u);
    EXPECT_EQ(s.lost, 1u);
    EXPECT_EQ(s.discarded, 1u);
    EXPECT_EQ(s.aborted, 0u);
    EXPECT_EQ(s.overflows, 1u);
    f.queue.reset_stats();
    EXPECT_EQ(f.queue.stats().posted, 0u);
}

TEST(event_queue, outcome_names) {
    EXPECT_EQ(std::string(event_outcome_name(event_outcome::written)), "written");
    EXPECT_EQ(std::string(event_outcome_name(event_outcome::discarded_disabled)),
              "discarded_disabled");
    EXPECT_EQ(std::string(event_outcome_name(event_outcome::discarded_abort_active)),
              "discarded_abort_active");
    EXPECT_EQ(std::string(event_outcome_name(event_outcome::lost_full)), "lost_full");
    EXPECT_EQ(std::string(event_outcome_name(event_outcome::aborted)), "aborted");
}

} // namespace
} // namespace smmu
