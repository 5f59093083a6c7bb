// PCIe endpoints behind a root complex in front of the real SMMU and memory: ATS translations
// fill the endpoint's ATC and DMA goes out translated; CMD_ATC_INV reaches the owning endpoint
// and CMD_SYNC completes only after its Invalidation Completion (or reports
// CERROR_ATC_INV_SYNC when it never comes); a Translation Request for a stream with EATS = 0
// gets UR and the endpoint falls back to untranslated DMA; after CMD_ATC_INV + CMD_SYNC no DMA
// uses the stale translation (reference §5.5, §7).
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <systemc>

#include "model/pcie/endpoint.h"
#include "model/pcie/root_complex.h"
#include "model/smmu/smmuv3.h"
#include "platforms/parts/memory.h"
#include "platforms/parts/router.h"
#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

using pcie::dma_outcome;
using pcie::dma_request;
using pcie::endpoint;
using pcie::endpoint_params;
using sc_core::sc_time;

constexpr std::uint64_t smmu_base = 0x2'0000'0000;
constexpr std::uint64_t memory_size = 64ull << 20;
constexpr pcie::requester_id rid0 = 0x0100; // 01:00.0
constexpr pcie::requester_id rid1 = 0x0200; // 02:00.0
constexpr pcie::requester_id rid2 = 0x0300; // 03:00.0

struct platform_config {
    std::string name; ///< prefix of every module name
    smmu_params params{};
    std::vector<endpoint_params> endpoints;
    std::map<pcie::requester_id, std::uint32_t> stream_ids;
};

endpoint_params function(pcie::requester_id rid) {
    endpoint_params p;
    p.rid = rid;
    return p;
}

/// Root complex with one root port per endpoint, bound to the SMMU's TBU 0 and ATS sockets.
pcie::root_complex_params rc_params(const platform_config& cfg) {
    pcie::root_complex_params p;
    p.ports.assign(cfg.endpoints.size(), pcie::root_port_params{});
    for (std::size_t i = 0; i < cfg.endpoints.size(); ++i)
        p.functions.push_back({cfg.endpoints[i].rid, i});
    p.stream_ids = cfg.stream_ids;
    return p;
}

/// Runs a function in its own SystemC thread.
class runner : public sc_core::sc_module {
public:
    explicit runner(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name) {
        SC_HAS_PROCESS(runner);
        SC_THREAD(run);
    }
    std::function<void()> body;
    bool finished = false;

private:
    void run() {
        if (body)
            body();
        finished = true;
    }
};

//   cpu ── bus ─┬─ smmu.reg_target
//               └─ memory ─┬─ smmu.walker, smmu.downstream
//   endpoint[i] ── rc (port i) ── smmu.tbus[0] / smmu.ats / smmu.ats_inv
class pcie_platform {
public:
    explicit pcie_platform(const platform_config& cfg)
        : irq_cmd_sync((cfg.name + "irq_cmd_sync").c_str())
        , m_name(cfg.name)
        , m_memory((cfg.name + "memory").c_str(), 0, memory_size)
        , m_smmu((cfg.name + "smmu").c_str(), cfg.params)
        , m_cpu((cfg.name + "cpu").c_str())
        , m_bus((cfg.name + "bus").c_str())
        , m_rc((cfg.name + "rc").c_str(), rc_params(cfg))
        , m_runner((cfg.name + "runner").c_str())
        , m_tables(m_memory, memory_size / 2) {
        m_cpu.socket.bind(m_bus.in);
        m_bus.out.bind(m_smmu.reg_target);
        m_bus.out.bind(m_memory.socket);
        m_bus.map(smmu_base, 2 * arch::reg_page_size, 0);
        m_bus.map(0, memory_size, 1);
        m_smmu.walker.bind(m_memory.socket);
        m_smmu.downstream.bind(m_memory.socket);
        m_smmu.irq_cmd_sync.bind(irq_cmd_sync);
        m_rc.to_smmu.bind(m_smmu.tbus[0].upstream);
        m_rc.ats_to_smmu.bind(m_smmu.ats);
        m_smmu.ats_inv.bind(m_rc.ats_from_smmu);
        for (std::size_t i = 0; i < cfg.endpoints.size(); ++i) {
            m_endpoints.push_back(std::make_unique<endpoint>(
                (cfg.name + "ep" + std::to_string(i)).c_str(), cfg.endpoints[i]));
            m_endpoints.back()->upstream.bind(m_rc.upstream);
            m_rc.downstream.bind(m_endpoints.back()->inv_in);
        }
        m_strtab = m_tables.alloc(64ull << 8, 64ull << 8);
        m_cmdq = m_tables.alloc(16ull << 8, 16ull << 8);
        m_eventq = m_tables.alloc(32ull << 7, 32ull << 7);
    }

    platform::memory& mem() { return m_memory; }
    smmuv3& smmu() { return m_smmu; }
    pcie::root_complex& rc() { return m_rc; }
    endpoint& ep(std::size_t i) { return *m_endpoints.at(i); }
    table_writer& tables() { return m_tables; }

    /// A stage-1 stream for `sid` with ASID `asid` and the given STE.EATS; its page tables.
    table_writer::page_table add_s1_stream(std::uint32_t sid, std::uint16_t asid,
                                           arch::ste_eats eats) {
        table_writer::page_table pt(m_tables, 0, 48);
        const std::uint64_t cd = m_tables.alloc(64);
        m_tables.write_cd(cd, make_s1_cd(pt.root(), asid));
        arch::ste s = make_s1_ste(cd);
        s.eats = eats;
        m_tables.write_ste(m_strtab, sid, s);
        return pt;
    }
    void write_ste(std::uint32_t sid, const arch::ste& s) { m_tables.write_ste(m_strtab, sid, s); }

    void set_scenario(std::function<void()> body) { m_runner.body = std::move(body); }
    bool finished() const { return m_runner.finished; }
    bool run(std::function<void()> body) {
        set_scenario(std::move(body));
        sc_core::sc_start();
        return finished();
    }

    // Driver-like steps, from the scenario thread.
    std::uint32_t reg_read32(std::uint64_t off) { return m_cpu.read32(smmu_base + off); }
    void reg_write32(std::uint64_t off, std::uint32_t v) { m_cpu.write32(smmu_base + off, v); }
    void reg_write64(std::uint64_t off, std::uint64_t v) { m_cpu.write64(smmu_base + off, v); }

    /// Stream table (256 STEs), queues, then SMMUEN with CR0.ATSCHK = 1.
    void enable() {
        reg_write64(arch::reg::strtab_base, m_strtab);
        reg_write32(arch::reg::strtab_base_cfg, 8);
        reg_write64(arch::reg::cmdq_base, m_cmdq | 8);
        reg_write64(arch::reg::eventq_base, m_eventq | 7);
        reg_write32(arch::reg::cr0, 0xc); // CMDQEN | EVENTQEN
        submit_and_sync({arch::make_cfgi_all(), arch::make_tlbi_nsnh_all()});
        reg_write32(arch::reg::cr0, 0xc | 0x1 | 0x10); // + SMMUEN | ATSCHK
    }
    void submit(const std::vector<arch::command>& cmds) {
        const arch::queue_ptr_math q(8);
        for (const arch::command& c : cmds) {
            m_memory.write_words(m_cmdq + 16ull * q.index(m_prod), arch::encode(c));
            m_prod = q.advance(m_prod);
        }
        reg_write32(arch::reg::cmdq_prod, m_prod);
    }
    /// Polls CMDQ_CONS every 50 ns until it reaches PROD or reports an error; CMDQ_CONS.ERR.
    arch::cmdq_error wait_for_commands() {
        const arch::queue_ptr_math q(8);
        for (;;) {
            const std::uint32_t cons = reg_read32(arch::reg::cmdq_cons);
            const auto err = static_cast<arch::cmdq_error>((cons >> 24) & 0x7f);
            if (err != arch::cmdq_error::none &&
                ((reg_read32(arch::reg::gerror) ^ reg_read32(arch::reg::gerrorn)) & 1u) != 0)
                return err;
            if (q.empty(m_prod, cons))
                return arch::cmdq_error::none;
            wait(sc_time(50, sc_core::SC_NS));
        }
    }
    arch::cmdq_error submit_and_sync(std::vector<arch::command> cmds) {
        cmds.push_back(arch::make_sync(arch::sync_cs::none));
        submit(cmds);
        return wait_for_commands();
    }
    std::vector<arch::event_record> drain_events() {
        std::vector<arch::event_record> events;
        const arch::queue_ptr_math q(7);
        const std::uint32_t prod = reg_read32(arch::reg::eventq_prod);
        while (!q.empty(prod, m_event_cons)) {
            arch::event_words w{};
            for (unsigned i = 0; i < 4; ++i)
                w[i] = m_memory.read64(m_eventq + 32ull * q.index(m_event_cons) + 8 * i);
            events.push_back(arch::decode_event(w));
            m_event_cons = q.advance(m_event_cons);
        }
        reg_write32(arch::reg::eventq_cons, m_event_cons);
        return events;
    }

    sc_core::sc_signal<bool> irq_cmd_sync;

private:
    std::string m_name;
    platform::memory m_memory;
    smmuv3 m_smmu;
    initiator m_cpu;
    platform::router m_bus;
    pcie::root_complex m_rc;
    runner m_runner;
    std::vector<std::unique_ptr<endpoint>> m_endpoints;
    table_writer m_tables;
    std::uint64_t m_strtab = 0;
    std::uint64_t m_cmdq = 0;
    std::uint64_t m_eventq = 0;
    std::uint32_t m_prod = 0;
    std::uint32_t m_event_cons = 0;
};

dma_request read_req(std::uint64_t iova, std::uint32_t len, std::uint8_t* data) {
    dma_request r;
    r.dir = pcie::dma_dir::read;
    r.address = iova;
    r.length = len;
    r.data = data;
    return r;
}

dma_request write_req(std::uint64_t iova, std::uint32_t len, std::uint8_t* data) {
    dma_request r = read_req(iova, len, data);
    r.dir = pcie::dma_dir::write;
    return r;
}

/// Two endpoints: 01:00.0 -> SID 1, 02:00.0 -> SID 2, both with EATS = full.
platform_config two_functions(const std::string& name = "") {
    platform_config cfg;
    cfg.name = name;
    cfg.endpoints = {function(rid0), function(rid1)};
    cfg.stream_ids = {{rid0, 1}, {rid1, 2}};
    return cfg;
}

TEST(pcie_smmu, an_ats_translation_fills_the_atc_and_dma_goes_translated_to_memory) {
    pcie_platform p(two_functions());
    auto pt = p.add_s1_stream(1, 1, arch::ste_eats::full);
    pt.map(0x10000, 0x210000, s1_page_rw);
    for (unsigned i = 0; i < 256; ++i)
        *p.mem().bytes(0x210040 + i) = static_cast<std::uint8_t>(i ^ 0x5a);
    std::vector<std::uint8_t> got(256);
    std::vector<std::uint8_t> put(128, 0xc3);
    dma_outcome first, second, third;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(0).set_ats_enabled(true);
        first = p.ep(0).dma(read_req(0x10040, 256, got.data()));
        second = p.ep(0).dma(write_req(0x10800, 128, put.data()));
        third = p.ep(0).dma(read_req(0x10040, 64, nullptr));
    }));
    EXPECT_TRUE(first.ok);
    EXPECT_EQ(first.atc_misses, 1u);
    EXPECT_EQ(first.atc_hits, 0u);
    EXPECT_EQ(first.untranslated, 0u);
    EXPECT_GT(first.translation_latency, sc_core::SC_ZERO_TIME);
    for (unsigned i = 0; i < 256; ++i)
        ASSERT_EQ(got[i], static_cast<std::uint8_t>(i ^ 0x5a)) << i;
    EXPECT_TRUE(second.ok);
    EXPECT_EQ(second.atc_hits, 1u);
    for (unsigned i = 0; i < 128; ++i)
        ASSERT_EQ(*p.mem().bytes(0x210800 + i), 0xc3) << i;
    EXPECT_EQ(third.atc_hits, 1u);
    EXPECT_EQ(third.translation_latency, sc_core::SC_ZERO_TIME);
    EXPECT_LT(third.latency, first.latency); // no ATS round trip
    EXPECT_EQ(p.ep(0).translation_cache().size(), 1u);
    EXPECT_EQ(p.ep(0).stats().translation_requests, 1u);
    EXPECT_EQ(p.ep(0).stats().tlps_translated, 3u);
    EXPECT_EQ(p.smmu().stats().ats_requests, 1u);
    EXPECT_EQ(p.rc().stats().translation_requests, 1u);
}

TEST(pcie_smmu, cmd_atc_inv_reaches_the_owner_and_cmd_sync_waits_for_its_completion) {
    pcie_platform p(two_functions());
    auto pt1 = p.add_s1_stream(1, 1, arch::ste_eats::full);
    auto pt2 = p.add_s1_stream(2, 2, arch::ste_eats::full);
    pt1.map(0x10000, 0x210000, s1_page_rw);
    pt2.map(0x10000, 0x220000, s1_page_rw);
    sc_time t0, rise;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(0).set_ats_enabled(true);
        p.ep(1).set_ats_enabled(true);
        p.ep(0).dma(read_req(0x10000, 64, nullptr));
        p.ep(1).dma(read_req(0x10000, 64, nullptr));
        t0 = sc_core::sc_time_stamp();
        p.submit({arch::make_atc_inv(arch::stream_ref(1), 0x10000, 0),
                  arch::make_sync(arch::sync_cs::irq)});
        wait(p.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    EXPECT_EQ(p.ep(0).stats().invalidations_received, 1u);
    EXPECT_EQ(p.ep(0).stats().invalidations_completed, 1u);
    EXPECT_EQ(p.ep(0).translation_cache().size(), 0u);
    EXPECT_EQ(p.ep(1).stats().invalidations_received, 0u);
    EXPECT_EQ(p.ep(1).translation_cache().size(), 1u);
    EXPECT_EQ(p.smmu().stats().atc_inv_completed, 1u);
    // SMMU: one fetch of both commands (50 ns), decode (2 ns) and ATC_INV (20 ns) as in
    // command_queue_test; link down: (24 + 8) bytes at 15754 MB/s (2.032 ns) + 500 ns; the
    // endpoint: 1 us; link up: 24 bytes (1.524 ns) + 500 ns; then the SYNC's 100 cycles.
    EXPECT_EQ(rise - t0, sc_time(72 + 2.032 + 500 + 1000 + 1.524 + 500 + 100, sc_core::SC_NS));
}

TEST(pcie_smmu, cmd_sync_time_follows_the_endpoint_completion_latency_one_to_one) {
    platform_config fast_cfg = two_functions("fast_");
    platform_config slow_cfg = two_functions("slow_");
    slow_cfg.endpoints[0].invalidation_completion_latency_ps = 3'000'000; // 3 us, not 1 us
    pcie_platform fast(fast_cfg);
    pcie_platform slow(slow_cfg);
    sc_time took[2];
    pcie_platform* platforms[2] = {&fast, &slow};
    for (int i = 0; i < 2; ++i) {
        pcie_platform& p = *platforms[i];
        p.add_s1_stream(1, 1, arch::ste_eats::full).map(0x10000, 0x210000, s1_page_rw);
        p.set_scenario([&p, &took, i] {
            p.enable();
            p.ep(0).set_ats_enabled(true);
            p.ep(0).dma(read_req(0x10000, 64, nullptr));
            const sc_time t0 = sc_core::sc_time_stamp();
            p.submit({arch::make_atc_inv(arch::stream_ref(1), 0x10000, 0),
                      arch::make_sync(arch::sync_cs::irq)});
            wait(p.irq_cmd_sync.posedge_event());
            took[i] = sc_core::sc_time_stamp() - t0;
        });
    }
    sc_core::sc_start();
    ASSERT_TRUE(fast.finished());
    ASSERT_TRUE(slow.finished());
    EXPECT_EQ(took[1] - took[0], sc_time(2, sc_core::SC_US));
}

TEST(pcie_smmu, an_endpoint_that_never_answers_makes_cmd_sync_report_cerror_atc_inv_sync) {
    platform_config cfg = two_functions();
    cfg.params.atc_inv_timeout_ps = 10'000'000; // 10 us
    cfg.endpoints[1].answer_invalidations = false;
    pcie_platform p(cfg);
    p.add_s1_stream(2, 2, arch::ste_eats::full);
    arch::cmdq_error err = arch::cmdq_error::none;
    std::uint32_t cons = 0, gerror = 0;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(1).set_ats_enabled(true);
        err = p.submit_and_sync({arch::make_atc_inv(arch::stream_ref(2), 0x10000, 0)});
        cons = p.reg_read32(arch::reg::cmdq_cons);
        gerror = p.reg_read32(arch::reg::gerror);
    }));
    EXPECT_EQ(err, arch::cmdq_error::atc_inv_sync);
    EXPECT_EQ((cons >> 24) & 0x7f, 3u); // CMDQ_CONS.ERR = CERROR_ATC_INV_SYNC
    EXPECT_EQ(gerror & 1u, 1u);         // GERROR.CMDQ_ERR
    EXPECT_EQ(p.ep(1).stats().invalidations_received, 1u);
    EXPECT_EQ(p.ep(1).outstanding_invalidations(), 1u);
    EXPECT_EQ(p.smmu().stats().atc_inv_timeouts, 1u);
}

TEST(pcie_smmu, eats_0_gets_unsupported_request_and_the_endpoint_goes_untranslated) {
    pcie_platform p(two_functions());
    auto pt = p.add_s1_stream(2, 2, arch::ste_eats::abort);
    pt.map(0x10000, 0x230000, s1_page_rw);
    p.mem().write32(0x230010, 0x600dcafe);
    std::uint32_t v = 0;
    dma_outcome out;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(1).set_ats_enabled(true);
        out = p.ep(1).dma(read_req(0x10010, 4, reinterpret_cast<std::uint8_t*>(&v)));
        events = p.drain_events();
    }));
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.atc_misses, 1u);
    EXPECT_EQ(out.untranslated, 1u); // translated by the SMMU instead
    EXPECT_EQ(v, 0x600dcafeu);
    EXPECT_EQ(p.ep(1).stats().translations_unsupported, 1u);
    EXPECT_EQ(p.ep(1).translation_cache().size(), 0u);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, arch::event_id::f_bad_ats_treq);
    EXPECT_EQ(events[0].sid, 2u);
}

TEST(pcie_smmu, an_invalid_ste_gets_completer_abort_and_the_dma_fails) {
    pcie_platform p(two_functions());
    arch::ste invalid = make_bypass_ste();
    invalid.eats = arch::ste_eats::full;
    invalid.v = false;
    p.write_ste(1, invalid);
    dma_outcome out;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(0).set_ats_enabled(true);
        out = p.ep(0).dma(read_req(0x10000, 64, nullptr));
    }));
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(p.ep(0).stats().translations_aborted, 1u);
    EXPECT_EQ(p.smmu().stats().ats_requests, 1u);
}

TEST(pcie_smmu, a_dma_from_an_unmapped_requester_id_never_reaches_the_smmu) {
    platform_config cfg = two_functions();
    cfg.stream_ids.erase(rid1);
    pcie_platform p(cfg);
    dma_outcome out;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        out = p.ep(1).dma(write_req(0x10000, 64, nullptr));
    }));
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(p.rc().stats().unsupported_requests, 1u);
    EXPECT_EQ(p.smmu().stats().translations, 0u);
}

TEST(pcie_smmu, after_atc_inv_and_sync_no_dma_uses_the_stale_translation) {
    pcie_platform p(two_functions());
    auto pt = p.add_s1_stream(1, 1, arch::ste_eats::full);
    pt.map(0x10000, 0x210000, s1_page_rw);
    p.mem().write32(0x210020, 0xaaaaaaaa);
    p.mem().write32(0x240020, 0xbbbbbbbb);
    std::uint32_t before = 0, stale = 0, after = 0;
    dma_outcome stale_out, after_out;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(0).set_ats_enabled(true);
        p.ep(0).dma(read_req(0x10020, 4, reinterpret_cast<std::uint8_t*>(&before)));
        // Software moves the page: new PTE, TLBI + SYNC, then ATC_INV + SYNC (reference §7.4).
        pt.map(0x10000, 0x240000, s1_page_rw);
        EXPECT_EQ(p.submit_and_sync({arch::make_tlbi_nh_va(0, 1, 0x10000, true)}),
                  arch::cmdq_error::none);
        // Until the ATC is invalidated the endpoint still uses its cached translation.
        stale_out = p.ep(0).dma(read_req(0x10020, 4, reinterpret_cast<std::uint8_t*>(&stale)));
        EXPECT_EQ(p.submit_and_sync({arch::make_atc_inv(arch::stream_ref(1), 0x10000, 0)}),
                  arch::cmdq_error::none);
        after_out = p.ep(0).dma(read_req(0x10020, 4, reinterpret_cast<std::uint8_t*>(&after)));
    }));
    EXPECT_EQ(before, 0xaaaaaaaau);
    EXPECT_EQ(stale, 0xaaaaaaaau);
    EXPECT_EQ(stale_out.atc_hits, 1u);
    EXPECT_EQ(after, 0xbbbbbbbbu);
    EXPECT_EQ(after_out.atc_hits, 0u);
    EXPECT_EQ(after_out.atc_misses, 1u);
    EXPECT_EQ(p.ep(0).stats().translation_requests, 2u);
}

TEST(pcie_smmu, cmd_sync_waits_for_a_dma_in_flight_on_the_invalidated_translation) {
    platform_config cfg = two_functions();
    pcie_platform p(cfg);
    p.add_s1_stream(1, 1, arch::ste_eats::full).map(0x10000, 0x210000, s1_page_rw);
    sc_time dma_done, sync_done;
    runner dma_thread("dma_thread");
    dma_thread.body = [&] {
        wait(sc_time(20, sc_core::SC_US)); // after enable() and the first DMA
        p.mem().set_latency(sc_time(50, sc_core::SC_NS),
                            sc_time(10, sc_core::SC_US)); // slow writes
        p.ep(0).dma(write_req(0x10000, 64, nullptr));     // an ATC hit, slow to complete
        dma_done = sc_core::sc_time_stamp();
    };
    ASSERT_TRUE(p.run([&] {
        p.enable();
        p.ep(0).set_ats_enabled(true);
        p.ep(0).dma(read_req(0x10000, 64, nullptr));
        wait(sc_time(21, sc_core::SC_US) - sc_core::sc_time_stamp());
        p.submit({arch::make_atc_inv(arch::stream_ref(1), 0x10000, 0),
                  arch::make_sync(arch::sync_cs::irq)});
        wait(p.irq_cmd_sync.posedge_event());
        sync_done = sc_core::sc_time_stamp();
    }));
    EXPECT_TRUE(dma_thread.finished);
    // The invalidation reached the endpoint at about 21.6 us, but the endpoint completes it
    // only 1 us after its write has landed; then the link up (501.524 ns) and the SYNC (100 ns).
    EXPECT_EQ(sync_done - dma_done, sc_time(1000 + 501.524 + 100, sc_core::SC_NS));
}

TEST(pcie_smmu, an_alias_invalidation_waits_for_every_function_of_the_stream) {
    platform_config cfg;
    cfg.endpoints = {function(rid0), function(rid1), function(rid2)};
    cfg.endpoints[1].invalidation_completion_latency_ps = 4'000'000; // 4 us
    cfg.stream_ids = {{rid0, 1}, {rid1, 1}, {rid2, 2}};
    pcie_platform p(cfg);
    p.add_s1_stream(1, 1, arch::ste_eats::full);
    sc_time t0, rise;
    ASSERT_TRUE(p.run([&] {
        p.enable();
        t0 = sc_core::sc_time_stamp();
        p.submit(
            {arch::make_atc_inv(arch::stream_ref(1), 0, 52), arch::make_sync(arch::sync_cs::irq)});
        wait(p.irq_cmd_sync.posedge_event());
        rise = sc_core::sc_time_stamp();
    }));
    EXPECT_EQ(p.ep(0).stats().invalidations_received, 1u);
    EXPECT_EQ(p.ep(1).stats().invalidations_received, 1u);
    EXPECT_EQ(p.ep(2).stats().invalidations_received, 0u);
    EXPECT_EQ(p.rc().stats().smmu_completions, 1u);
    // As in the test above, with the slower function's 4 us.
    EXPECT_EQ(rise - t0, sc_time(72 + 2.032 + 500 + 4000 + 1.524 + 500 + 100, sc_core::SC_NS));
}

} // namespace
} // namespace smmu::test
