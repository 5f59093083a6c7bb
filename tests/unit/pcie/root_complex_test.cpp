// The root complex between fake functions and a fake SMMU: requester ID -> StreamID stamping
// (several functions, aliases, unmapped IDs), Translation Requests, routing Invalidation
// Requests to the owning functions and merging their completions, and link timing.
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/pcie/root_complex.h"

namespace smmu::pcie {
namespace {

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;
using tlm_ext::ats_status;
using tlm_ext::invalidation_completion;
using tlm_ext::invalidation_request;
using tlm_ext::smmu_extension;
using tlm_ext::translation_completion;
using tlm_ext::translation_request;

sc_time ns(double v) {
    return sc_time(v, sc_core::SC_NS);
}

/// A PCIe function as the root complex sees it: sends TLPs, receives Invalidate Requests.
class fake_function : public sc_core::sc_module {
public:
    tlm_utils::simple_initiator_socket<fake_function> out;
    tlm_utils::simple_target_socket<fake_function> inv_in;

    enum class reply : std::uint8_t { later, in_payload, refuse };
    reply mode = reply::later;
    sc_time in_payload_delay = ns(50);   ///< added when answering in the payload
    sc_time accept_after = SC_ZERO_TIME; ///< inv_in blocks this long first
    std::vector<invalidation_request> received;
    std::vector<sc_time> received_at;

    struct result {
        tlm::tlm_response_status status;
        sc_time delay;
        bool extension_left; ///< an smmu_extension was still on the payload afterwards
    };

    fake_function(const sc_core::sc_module_name& name, requester_id rid)
        : sc_core::sc_module(name)
        , out("out")
        , inv_in("inv_in")
        , m_rid(rid) {
        inv_in.register_b_transport(this, &fake_function::b_transport);
    }

    tlp_extension tlp(std::optional<std::uint32_t> pasid = std::nullopt) const {
        tlp_extension e;
        e.rid = m_rid;
        e.pasid = pasid;
        return e;
    }

    result send(tlm::tlm_command cmd, std::uint64_t addr, std::uint32_t len,
                const tlp_extension& ext) {
        m_data.assign(len, 0);
        tlm::tlm_generic_payload gp;
        gp.set_command(cmd);
        gp.set_address(addr);
        gp.set_data_ptr(m_data.data());
        gp.set_data_length(len);
        gp.set_streaming_width(len);
        scoped_tlp_extension tag(gp, ext);
        sc_time d = SC_ZERO_TIME;
        out->b_transport(gp, d);
        return {gp.get_response_status(), d, gp.get_extension<smmu_extension>() != nullptr};
    }
    result write(std::uint64_t addr, std::uint32_t len) {
        return send(tlm::TLM_WRITE_COMMAND, addr, len, tlp());
    }
    result read(std::uint64_t addr, std::uint32_t len) {
        return send(tlm::TLM_READ_COMMAND, addr, len, tlp());
    }

    translation_completion translate(std::uint64_t addr, sc_time* delay = nullptr,
                                     std::optional<std::uint32_t> pasid = std::nullopt) {
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_IGNORE_COMMAND);
        gp.set_address(addr);
        tlp_extension ext = tlp(pasid);
        ext.at = address_type::translation_request;
        scoped_tlp_extension tag(gp, ext);
        translation_request r;
        r.address = addr;
        r.length = 4096;
        r.stream_id = 0xdead; // the root complex fills it in
        r.pasid = pasid;
        tlm_ext::scoped_extension<tlm_ext::ats_extension> msg(gp, tlm_ext::ats_extension{r});
        sc_time d = SC_ZERO_TIME;
        out->b_transport(gp, d);
        EXPECT_EQ(gp.get_response_status(), tlm::TLM_OK_RESPONSE);
        if (delay != nullptr)
            *delay = d;
        const auto* c = msg.get().get<translation_completion>();
        return c != nullptr ? *c : translation_completion{};
    }

    tlm::tlm_response_status complete(std::uint32_t itags, sc_time* delay = nullptr) {
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_IGNORE_COMMAND);
        scoped_tlp_extension tag(gp, tlp());
        invalidation_completion done;
        done.stream_id = 0xdead; // the root complex maps the requester ID
        done.itag_vector = itags;
        tlm_ext::scoped_extension<tlm_ext::ats_extension> msg(gp, tlm_ext::ats_extension{done});
        sc_time d = SC_ZERO_TIME;
        out->b_transport(gp, d);
        if (delay != nullptr)
            *delay = d;
        return gp.get_response_status();
    }

private:
    void b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
        if (accept_after != SC_ZERO_TIME)
            wait(accept_after);
        auto* ext = gp.get_extension<tlm_ext::ats_extension>();
        const auto* req = ext != nullptr ? ext->get<invalidation_request>() : nullptr;
        ASSERT_NE(req, nullptr);
        received.push_back(*req);
        received_at.push_back(sc_core::sc_time_stamp() + delay);
        if (mode == reply::refuse) {
            gp.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
            return;
        }
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
        if (mode == reply::in_payload) {
            invalidation_completion done;
            done.stream_id = req->stream_id;
            done.itag_vector = 1u << req->itag;
            ext->message = done;
            delay += in_payload_delay;
        }
    }

    requester_id m_rid;
    std::vector<std::uint8_t> m_data;
};

/// The SMMU's three sockets as the root complex uses them.
class fake_smmu : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<fake_smmu> dma_in;
    tlm_utils::simple_target_socket<fake_smmu> ats_in;
    tlm_utils::simple_initiator_socket<fake_smmu> inv_out;

    struct seen_dma {
        tlm::tlm_command cmd;
        std::uint64_t address;
        smmu_extension ext;
        bool had_ext;
        sc_time at;
    };
    struct seen_completion {
        invalidation_completion done;
        sc_time at;
    };
    sc_time dma_latency = SC_ZERO_TIME;
    tlm::tlm_response_status ats_response = tlm::TLM_OK_RESPONSE;
    std::vector<seen_dma> dmas;
    std::vector<translation_request> requests;
    std::vector<seen_completion> completions;
    std::vector<smmu_extension> debug_exts;

    explicit fake_smmu(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , dma_in("dma_in")
        , ats_in("ats_in")
        , inv_out("inv_out") {
        dma_in.register_b_transport(this, &fake_smmu::dma_b_transport);
        dma_in.register_transport_dbg(this, &fake_smmu::dma_debug);
        ats_in.register_b_transport(this, &fake_smmu::ats_b_transport);
    }

    /// Sends an Invalidate Request for (sid, itag); the status, the message left in the
    /// payload and the returned delay.
    tlm::tlm_response_status invalidate(std::uint32_t sid, std::uint8_t itag,
                                        tlm_ext::ats_extension* left = nullptr,
                                        sc_time* delay = nullptr) {
        invalidation_request r;
        r.stream_id = sid;
        r.address = 0x5000;
        r.span = 0x1000;
        r.itag = itag;
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_IGNORE_COMMAND);
        gp.set_address(r.address);
        tlm_ext::scoped_extension<tlm_ext::ats_extension> msg(gp, tlm_ext::ats_extension{r});
        sc_time d = SC_ZERO_TIME;
        inv_out->b_transport(gp, d);
        if (left != nullptr)
            *left = msg.get();
        if (delay != nullptr)
            *delay = d;
        return gp.get_response_status();
    }

private:
    void dma_b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
        const smmu_extension* ext = tlm_ext::find_extension(gp);
        dmas.push_back({gp.get_command(), gp.get_address(),
                        ext != nullptr ? *ext : smmu_extension{}, ext != nullptr,
                        sc_core::sc_time_stamp() + delay});
        delay += dma_latency;
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
    }
    unsigned dma_debug(tlm::tlm_generic_payload& gp) {
        const smmu_extension* ext = tlm_ext::find_extension(gp);
        debug_exts.push_back(ext != nullptr ? *ext : smmu_extension{});
        return gp.get_data_length();
    }
    void ats_b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
        auto* ext = gp.get_extension<tlm_ext::ats_extension>();
        ASSERT_NE(ext, nullptr);
        if (ats_response != tlm::TLM_OK_RESPONSE) {
            gp.set_response_status(ats_response);
            return;
        }
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
        if (const auto* done = ext->get<invalidation_completion>()) {
            completions.push_back({*done, sc_core::sc_time_stamp() + delay});
            return;
        }
        const auto* req = ext->get<translation_request>();
        ASSERT_NE(req, nullptr);
        requests.push_back(*req);
        translation_completion c;
        c.translated_address = req->address + 0x100000;
        c.size = 4096;
        c.permissions.read = true;
        ext->message = c;
    }
};

/// Runs a function in its own SystemC thread.
class runner : public sc_core::sc_module {
public:
    runner(const sc_core::sc_module_name& name, std::function<void()> body)
        : sc_core::sc_module(name)
        , m_body(std::move(body)) {
        SC_HAS_PROCESS(runner);
        SC_THREAD(run);
    }
    bool finished = false;

private:
    void run() {
        m_body();
        finished = true;
    }
    std::function<void()> m_body;
};

constexpr requester_id rid_a = 0x0100; // 01:00.0, SID 7, port 0
constexpr requester_id rid_b = 0x0101; // 01:00.1, SID 8, port 0
constexpr requester_id rid_c = 0x0200; // 02:00.0, SID 9, port 1
constexpr requester_id rid_d = 0x0201; // 02:00.1, SID 9 (alias), port 1
constexpr requester_id rid_x = 0x0300; // 03:00.0, no StreamID, port 1

link_params test_link() {
    link_params l;
    l.latency_ps = 100'000;  // 100 ns
    l.bandwidth_mb_s = 1000; // 1 byte per ns
    return l;
}

root_complex_params five_functions(bool timed) {
    root_complex_params p;
    root_port_params port;
    if (timed) {
        port.upstream = test_link();
        port.downstream = test_link();
    } else {
        port.upstream = link_params{0, 0};
        port.downstream = link_params{0, 0};
    }
    p.ports = {port, port};
    p.functions = {{rid_a, 0}, {rid_b, 0}, {rid_c, 1}, {rid_d, 1}, {rid_x, 1}};
    p.stream_ids = {{rid_a, 7}, {rid_b, 8}, {rid_c, 9}, {rid_d, 9}};
    return p;
}

struct bench {
    explicit bench(bool timed = false, const root_complex_params* custom = nullptr)
        : rc("rc", custom != nullptr ? *custom : five_functions(timed))
        , smmu("smmu") {
        const requester_id rids[] = {rid_a, rid_b, rid_c, rid_d, rid_x};
        for (std::size_t i = 0; i < 5; ++i) {
            fn.push_back(
                std::make_unique<fake_function>(("fn" + std::to_string(i)).c_str(), rids[i]));
            fn.back()->out.bind(rc.upstream);
            rc.downstream.bind(fn.back()->inv_in);
        }
        rc.to_smmu.bind(smmu.dma_in);
        rc.ats_to_smmu.bind(smmu.ats_in);
        smmu.inv_out.bind(rc.ats_from_smmu);
    }
    bool run(std::function<void()> scenario) {
        runner r("scenario", std::move(scenario));
        sc_core::sc_start();
        return r.finished;
    }
    fake_function& f(std::size_t i) { return *fn[i]; }

    root_complex rc;
    fake_smmu smmu;
    std::vector<std::unique_ptr<fake_function>> fn;
};

// ---------------------------------------------------------------- parameters

TEST(pcie_root_complex, parameters_are_validated) {
    const auto fails = [](auto change, const char* names) {
        root_complex_params p = five_functions(false);
        change(p);
        try {
            p.validate();
            ADD_FAILURE() << "accepted: " << names;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
        }
    };
    fails([](root_complex_params& p) { p.ports.clear(); }, "ports");
    fails([](root_complex_params& p) { p.functions[2].port = 2; }, "functions[2].port");
    fails([](root_complex_params& p) { p.functions[3].rid = rid_a; }, "functions[3].rid");
    fails([](root_complex_params& p) { p.ports[1].max_payload_bytes = 64; },
          "ports[1].max_payload_bytes");
    fails([](root_complex_params& p) { p.ports[0].max_payload_bytes = 300; },
          "ports[0].max_payload_bytes");
    EXPECT_NO_THROW(five_functions(false).validate());
    root_complex_params bad = five_functions(false);
    bad.ports.clear();
    EXPECT_THROW(root_complex("bad", bad), std::invalid_argument);
}

TEST(pcie_root_complex, every_function_must_be_bound_on_both_sockets) {
    root_complex_params p = five_functions(false);
    p.functions.push_back({0x0400, 0}); // six functions, five bound
    bench b(false, &p);
    EXPECT_NONFATAL_FAILURE(EXPECT_THROW(sc_core::sc_start(), sc_core::sc_report),
                            "params.functions lists 6 functions");
}

// ---------------------------------------------------------------- DMA

TEST(pcie_root_complex, requester_ids_are_stamped_as_stream_ids) {
    bench b;
    std::vector<fake_function::result> results;
    ASSERT_TRUE(b.run([&] {
        tlp_extension e = b.f(0).tlp(5);
        e.privileged = true;
        e.execute = true;
        results.push_back(b.f(0).send(tlm::TLM_READ_COMMAND, 0x1000, 64, e));
        results.push_back(b.f(1).write(0x2000, 64));
        tlp_extension t = b.f(2).tlp();
        t.at = address_type::translated;
        results.push_back(b.f(2).send(tlm::TLM_WRITE_COMMAND, 0x3000, 64, t));
        results.push_back(b.f(3).read(0x4000, 64));
    }));
    for (const auto& r : results) {
        EXPECT_EQ(r.status, tlm::TLM_OK_RESPONSE);
        EXPECT_FALSE(r.extension_left); // removed by the root complex
    }
    ASSERT_EQ(b.smmu.dmas.size(), 4u);
    const auto& d = b.smmu.dmas;
    ASSERT_TRUE(d[0].had_ext);
    EXPECT_EQ(d[0].ext.stream_id, 7u);
    EXPECT_EQ(d[0].ext.substream_id, 5u);
    EXPECT_TRUE(d[0].ext.privileged);
    EXPECT_TRUE(d[0].ext.instruction);
    EXPECT_EQ(d[0].ext.ats, tlm_ext::ats_type::untranslated);
    EXPECT_EQ(d[0].address, 0x1000u);
    EXPECT_EQ(d[1].ext.stream_id, 8u);
    EXPECT_FALSE(d[1].ext.substream_id.has_value());
    EXPECT_FALSE(d[1].ext.privileged);
    EXPECT_EQ(d[1].cmd, tlm::TLM_WRITE_COMMAND);
    EXPECT_EQ(d[2].ext.stream_id, 9u);
    EXPECT_EQ(d[2].ext.ats, tlm_ext::ats_type::translated);
    EXPECT_EQ(d[3].ext.stream_id, 9u); // alias
    EXPECT_EQ(b.rc.stats().dma_tlps, 4u);
    EXPECT_EQ(b.rc.stats().dma_read_bytes, 128u);
    EXPECT_EQ(b.rc.stats().dma_write_bytes, 128u);
}

TEST(pcie_root_complex, an_unmapped_requester_id_gets_unsupported_request) {
    bench b;
    fake_function::result r{};
    ASSERT_TRUE(b.run([&] { r = b.f(4).write(0x1000, 64); }));
    EXPECT_EQ(r.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_TRUE(b.smmu.dmas.empty());
    EXPECT_EQ(b.rc.stats().unsupported_requests, 1u);
    EXPECT_EQ(b.rc.stats().dma_tlps, 0u);
}

TEST(pcie_root_complex, the_requester_id_in_the_tlp_decides_not_the_binding) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        tlp_extension e = b.f(4).tlp();
        e.rid = rid_b; // function 4 sends on behalf of 01:00.1 (e.g. a bridge's alias)
        EXPECT_EQ(b.f(4).send(tlm::TLM_READ_COMMAND, 0x1000, 8, e).status, tlm::TLM_OK_RESPONSE);
    }));
    ASSERT_EQ(b.smmu.dmas.size(), 1u);
    EXPECT_EQ(b.smmu.dmas[0].ext.stream_id, 8u);
}

TEST(pcie_root_complex, payloads_it_cannot_place_get_a_command_error) {
    bench b;
    std::vector<tlm::tlm_response_status> got;
    ASSERT_TRUE(b.run([&] {
        tlm::tlm_generic_payload bare; // no tlp_extension
        bare.set_command(tlm::TLM_READ_COMMAND);
        sc_time d = SC_ZERO_TIME;
        b.f(0).out->b_transport(bare, d);
        got.push_back(bare.get_response_status());
        got.push_back(b.f(0).send(tlm::TLM_IGNORE_COMMAND, 0, 0, b.f(0).tlp()).status);
        tlp_extension tr = b.f(0).tlp();
        tr.at = address_type::translation_request; // but no message
        got.push_back(b.f(0).send(tlm::TLM_IGNORE_COMMAND, 0, 0, tr).status);
        tlm::tlm_generic_payload at;
        tlm::tlm_phase phase = tlm::BEGIN_REQ;
        EXPECT_EQ(b.f(0).out->nb_transport_fw(at, phase, d), tlm::TLM_COMPLETED);
        got.push_back(at.get_response_status());
    }));
    for (const auto s : got)
        EXPECT_EQ(s, tlm::TLM_COMMAND_ERROR_RESPONSE);
    EXPECT_EQ(got.size(), 4u);
    EXPECT_EQ(b.rc.stats().malformed, 4u);
    EXPECT_TRUE(b.smmu.dmas.empty());
}

TEST(pcie_root_complex, debug_transport_is_stamped_too) {
    bench b;
    unsigned n = 0;
    unsigned unmapped = 0;
    ASSERT_TRUE(b.run([&] {
        std::vector<std::uint8_t> data(16);
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_READ_COMMAND);
        gp.set_data_ptr(data.data());
        gp.set_data_length(16);
        {
            scoped_tlp_extension tag(gp, b.f(1).tlp(3));
            n = b.f(1).out->transport_dbg(gp);
        }
        scoped_tlp_extension tag(gp, b.f(4).tlp());
        unmapped = b.f(4).out->transport_dbg(gp);
    }));
    EXPECT_EQ(n, 16u);
    EXPECT_EQ(unmapped, 0u);
    ASSERT_EQ(b.smmu.debug_exts.size(), 1u);
    EXPECT_EQ(b.smmu.debug_exts[0].stream_id, 8u);
    EXPECT_EQ(b.smmu.debug_exts[0].substream_id, 3u);
}

// ---------------------------------------------------------------- translation requests

TEST(pcie_root_complex, translation_requests_reach_the_smmu_with_the_stream_id) {
    bench b;
    translation_completion c;
    ASSERT_TRUE(b.run([&] { c = b.f(1).translate(0x7000, nullptr, 0x22); }));
    ASSERT_EQ(b.smmu.requests.size(), 1u);
    EXPECT_EQ(b.smmu.requests[0].stream_id, 8u);
    EXPECT_EQ(b.smmu.requests[0].pasid, 0x22u);
    EXPECT_EQ(b.smmu.requests[0].address, 0x7000u);
    EXPECT_EQ(c.status, ats_status::success);
    EXPECT_EQ(c.translated_address, 0x107000u);
    EXPECT_EQ(b.rc.stats().translation_requests, 1u);
    EXPECT_TRUE(b.smmu.dmas.empty());
}

TEST(pcie_root_complex, a_translation_request_from_an_unmapped_id_gets_unsupported_request) {
    bench b;
    translation_completion c;
    ASSERT_TRUE(b.run([&] { c = b.f(4).translate(0x7000); }));
    EXPECT_EQ(c.status, ats_status::unsupported_request);
    EXPECT_TRUE(b.smmu.requests.empty());
    EXPECT_EQ(b.rc.stats().unsupported_requests, 1u);
}

TEST(pcie_root_complex, an_smmu_that_refuses_the_request_gives_completer_abort) {
    bench b;
    b.smmu.ats_response = tlm::TLM_COMMAND_ERROR_RESPONSE;
    translation_completion c;
    ASSERT_TRUE(b.run([&] { c = b.f(0).translate(0x7000); }));
    EXPECT_EQ(c.status, ats_status::completer_abort);
}

// ---------------------------------------------------------------- invalidation

TEST(pcie_root_complex, an_invalidation_goes_only_to_the_owner_of_the_stream) {
    bench b;
    sc_time returned = ns(1);
    ASSERT_TRUE(b.run(
        [&] { EXPECT_EQ(b.smmu.invalidate(7, 1, nullptr, &returned), tlm::TLM_OK_RESPONSE); }));
    EXPECT_EQ(returned, SC_ZERO_TIME); // posted
    ASSERT_EQ(b.f(0).received.size(), 1u);
    EXPECT_EQ(b.f(0).received[0].stream_id, 7u);
    EXPECT_EQ(b.f(0).received[0].itag, 1u);
    EXPECT_EQ(b.f(0).received[0].address, 0x5000u);
    for (std::size_t i = 1; i < 5; ++i)
        EXPECT_TRUE(b.f(i).received.empty()) << i;
    EXPECT_TRUE(b.smmu.completions.empty());
    EXPECT_EQ(b.rc.stats().invalidations_forwarded, 1u);
}

TEST(pcie_root_complex, a_completion_is_mapped_to_its_stream_and_passed_on) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        b.smmu.invalidate(7, 1);
        b.smmu.invalidate(7, 4);
        wait(ns(10));
        EXPECT_EQ(b.f(0).complete((1u << 1) | (1u << 4)), tlm::TLM_OK_RESPONSE);
    }));
    ASSERT_EQ(b.smmu.completions.size(), 1u);
    EXPECT_EQ(b.smmu.completions[0].done.stream_id, 7u);
    EXPECT_EQ(b.smmu.completions[0].done.itag_vector, (1u << 1) | (1u << 4));
    EXPECT_EQ(b.smmu.completions[0].at, ns(10));
    EXPECT_EQ(b.rc.stats().function_completions, 1u);
    EXPECT_EQ(b.rc.stats().smmu_completions, 1u);
}

TEST(pcie_root_complex, an_alias_invalidation_completes_when_every_function_has) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        b.smmu.invalidate(9, 2);
        EXPECT_EQ(b.f(2).received.size(), 1u);
        EXPECT_EQ(b.f(3).received.size(), 1u);
        wait(ns(10));
        b.f(2).complete(1u << 2);
        EXPECT_TRUE(b.smmu.completions.empty()); // 02:00.1 still owes it
        wait(ns(10));
        b.f(3).complete(1u << 2);
    }));
    ASSERT_EQ(b.smmu.completions.size(), 1u);
    EXPECT_EQ(b.smmu.completions[0].done.stream_id, 9u);
    EXPECT_EQ(b.smmu.completions[0].done.itag_vector, 1u << 2);
    EXPECT_EQ(b.smmu.completions[0].at, ns(20));
    EXPECT_EQ(b.rc.stats().invalidations_forwarded, 2u);
    EXPECT_EQ(b.rc.stats().function_completions, 2u);
}

TEST(pcie_root_complex, completions_of_one_function_are_not_counted_twice) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        b.smmu.invalidate(9, 2);
        b.f(2).complete(1u << 2);
        b.f(2).complete(1u << 2); // a duplicate does not stand in for 02:00.1
        b.f(2).complete(1u << 6); // nobody asked for ITag 6
    }));
    EXPECT_TRUE(b.smmu.completions.empty());
    EXPECT_EQ(b.rc.stats().unsolicited_completions, 2u);
}

TEST(pcie_root_complex, a_completion_during_a_blocked_request_is_not_lost) {
    bench b;
    b.f(3).accept_after = ns(50); // 02:00.1's invalidation queue is full for a while
    runner completer("completer", [&] {
        wait(ns(10)); // 02:00.0 has the request by now and completes it
        b.f(2).complete(1u << 5);
        wait(ns(100));
        b.f(3).complete(1u << 5);
    });
    ASSERT_TRUE(b.run([&] { b.smmu.invalidate(9, 5); }));
    ASSERT_EQ(b.smmu.completions.size(), 1u);
    EXPECT_EQ(b.smmu.completions[0].done.itag_vector, 1u << 5);
    EXPECT_EQ(b.smmu.completions[0].at, ns(110));
    EXPECT_EQ(b.rc.stats().unsolicited_completions, 0u);
}

TEST(pcie_root_complex, an_invalidation_for_a_stream_nobody_owns_gets_an_error) {
    bench b;
    ASSERT_TRUE(
        b.run([&] { EXPECT_EQ(b.smmu.invalidate(99, 0), tlm::TLM_ADDRESS_ERROR_RESPONSE); }));
    for (std::size_t i = 0; i < 5; ++i)
        EXPECT_TRUE(b.f(i).received.empty());
    EXPECT_EQ(b.rc.stats().invalidations_unowned, 1u);
}

TEST(pcie_root_complex, functions_that_refuse_are_not_waited_for) {
    bench b;
    b.f(2).mode = fake_function::reply::refuse;
    ASSERT_TRUE(b.run([&] {
        EXPECT_EQ(b.smmu.invalidate(9, 3), tlm::TLM_OK_RESPONSE);
        b.f(3).complete(1u << 3);
        b.f(3).mode = fake_function::reply::refuse;
        EXPECT_EQ(b.smmu.invalidate(9, 4), tlm::TLM_ADDRESS_ERROR_RESPONSE); // nobody took it
    }));
    ASSERT_EQ(b.smmu.completions.size(), 1u);
    EXPECT_EQ(b.smmu.completions[0].done.itag_vector, 1u << 3);
    EXPECT_EQ(b.rc.stats().invalidations_unowned, 1u);
}

TEST(pcie_root_complex, an_answer_in_the_payload_is_passed_back_in_the_payload) {
    bench b;
    b.f(2).mode = fake_function::reply::in_payload;
    b.f(3).mode = fake_function::reply::in_payload;
    b.f(3).in_payload_delay = ns(80);
    tlm_ext::ats_extension left;
    sc_time delay;
    ASSERT_TRUE(
        b.run([&] { EXPECT_EQ(b.smmu.invalidate(9, 6, &left, &delay), tlm::TLM_OK_RESPONSE); }));
    const auto* done = left.get<invalidation_completion>();
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(done->stream_id, 9u);
    EXPECT_EQ(done->itag_vector, 1u << 6);
    EXPECT_EQ(delay, ns(80)); // the later of the two
    EXPECT_TRUE(b.smmu.completions.empty());
}

TEST(pcie_root_complex, a_mix_of_payload_and_message_answers_completes_with_the_message) {
    bench b;
    b.f(2).mode = fake_function::reply::in_payload;
    tlm_ext::ats_extension left;
    ASSERT_TRUE(b.run([&] {
        b.smmu.invalidate(9, 6, &left);
        wait(ns(200));
        b.f(3).complete(1u << 6);
    }));
    EXPECT_EQ(left.kind(), tlm_ext::ats_kind::invalidation_request);
    ASSERT_EQ(b.smmu.completions.size(), 1u);
    EXPECT_EQ(b.smmu.completions[0].at, ns(200));
}

TEST(pcie_root_complex, malformed_smmu_messages_get_a_command_error) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_IGNORE_COMMAND);
        sc_time d = SC_ZERO_TIME;
        b.smmu.inv_out->b_transport(gp, d);
        EXPECT_EQ(gp.get_response_status(), tlm::TLM_COMMAND_ERROR_RESPONSE);
        invalidation_request bad;
        bad.stream_id = 7;
        bad.itag = 40;
        tlm_ext::scoped_extension<tlm_ext::ats_extension> msg(gp, tlm_ext::ats_extension{bad});
        b.smmu.inv_out->b_transport(gp, d);
        EXPECT_EQ(gp.get_response_status(), tlm::TLM_COMMAND_ERROR_RESPONSE);
    }));
    EXPECT_TRUE(b.f(0).received.empty());
    EXPECT_EQ(b.rc.stats().malformed, 2u);
}

TEST(pcie_root_complex, a_completion_from_an_unmapped_function_is_refused) {
    bench b;
    ASSERT_TRUE(b.run([&] { EXPECT_EQ(b.f(4).complete(1u), tlm::TLM_ADDRESS_ERROR_RESPONSE); }));
    EXPECT_TRUE(b.smmu.completions.empty());
}

// ---------------------------------------------------------------- link timing

TEST(pcie_root_complex, a_write_pays_serialisation_and_latency_upstream) {
    bench b(true);
    fake_function::result r{};
    ASSERT_TRUE(b.run([&] { r = b.f(0).write(0x1000, 256); }));
    // (24 + 256) bytes at 1 byte/ns, then 100 ns; a posted write has no completion.
    ASSERT_EQ(b.smmu.dmas.size(), 1u);
    EXPECT_EQ(b.smmu.dmas[0].at, ns(380));
    EXPECT_EQ(r.delay, ns(380));
}

TEST(pcie_root_complex, a_read_pays_the_request_up_and_the_completions_down) {
    bench b(true);
    fake_function::result small{};
    fake_function::result split{};
    ASSERT_TRUE(b.run([&] {
        small = b.f(0).read(0x1000, 256);
        wait(small.delay);
        split = b.f(0).read(0x1000, 512);
    }));
    EXPECT_EQ(b.smmu.dmas[0].at, ns(124)); // 24 bytes + 100 ns
    EXPECT_EQ(small.delay, ns(504));       // + 24 + 256 bytes + 100 ns
    EXPECT_EQ(split.delay, ns(784));       // two completions: 124 + 48 + 512 + 100
}

TEST(pcie_root_complex, the_smmu_time_is_passed_through) {
    bench b(true);
    b.smmu.dma_latency = ns(1000);
    fake_function::result r{};
    ASSERT_TRUE(b.run([&] { r = b.f(0).read(0x1000, 256); }));
    EXPECT_EQ(r.delay, ns(1504));
}

TEST(pcie_root_complex, a_big_write_takes_its_bytes_over_the_bandwidth) {
    bench b(true);
    fake_function::result r{};
    ASSERT_TRUE(b.run([&] { r = b.f(0).write(0x1000, 4096); }));
    EXPECT_EQ(r.delay, ns(4220));
    EXPECT_EQ(b.rc.upstream_link(0).stats().busy, 4'120'000u);
}

TEST(pcie_root_complex, functions_on_one_port_share_its_link_other_ports_do_not_contend) {
    bench b(true);
    std::vector<fake_function::result> r;
    ASSERT_TRUE(b.run([&] {
        r.push_back(b.f(0).write(0x1000, 4096)); // port 0
        r.push_back(b.f(1).write(0x1000, 4096)); // port 0, behind it
        r.push_back(b.f(2).write(0x1000, 4096)); // port 1, in parallel
    }));
    EXPECT_EQ(r[0].delay, ns(4220));
    EXPECT_EQ(r[1].delay, ns(8340));
    EXPECT_EQ(r[2].delay, ns(4220));
    EXPECT_EQ(b.rc.upstream_link(0).stats().waits, 1u);
    EXPECT_EQ(b.rc.upstream_link(1).stats().waits, 0u);
}

TEST(pcie_root_complex, an_unlimited_link_adds_only_latency) {
    root_complex_params p = five_functions(true);
    p.ports[0].upstream.bandwidth_mb_s = 0;
    bench b(true, &p);
    fake_function::result r{};
    ASSERT_TRUE(b.run([&] { r = b.f(0).write(0x1000, 4096); }));
    EXPECT_EQ(r.delay, ns(100));
}

TEST(pcie_root_complex, a_translation_round_trip_crosses_both_directions) {
    bench b(true);
    sc_time d;
    ASSERT_TRUE(b.run([&] { b.f(0).translate(0x7000, &d); }));
    EXPECT_EQ(d, ns(256)); // 24 + 100 up, (24 + 8) + 100 down
}

TEST(pcie_root_complex, invalidations_and_completions_cross_the_links) {
    bench b(true);
    ASSERT_TRUE(b.run([&] {
        b.smmu.invalidate(7, 0);
        wait(ns(1000));
        b.f(0).complete(1u);
    }));
    ASSERT_EQ(b.f(0).received_at.size(), 1u);
    EXPECT_EQ(b.f(0).received_at[0], ns(132)); // (24 + 8) bytes + 100 ns down
    ASSERT_EQ(b.smmu.completions.size(), 1u);
    EXPECT_EQ(b.smmu.completions[0].at, ns(1124)); // 24 bytes + 100 ns up
}

TEST(pcie_root_complex, an_answer_in_the_payload_returns_over_the_upstream_link) {
    bench b(true);
    b.f(0).mode = fake_function::reply::in_payload;
    sc_time delay;
    ASSERT_TRUE(b.run([&] { b.smmu.invalidate(7, 0, nullptr, &delay); }));
    EXPECT_EQ(delay, ns(306)); // 132 down + 50 in the function + 124 up
}

TEST(pcie_root_complex, statistics_as_json) {
    bench b(true);
    ASSERT_TRUE(b.run([&] { b.f(2).write(0x1000, 100); }));
    EXPECT_EQ(b.rc.stats_json(),
              "{\"counters\":{\"dma_tlps\":1,\"dma_read_bytes\":0,\"dma_write_bytes\":100,"
              "\"unsupported_requests\":0,\"malformed\":0,\"translation_requests\":0,"
              "\"invalidation_requests\":0,\"invalidations_unowned\":0,"
              "\"invalidations_forwarded\":0,\"function_completions\":0,\"smmu_completions\":0,"
              "\"unsolicited_completions\":0},\"ports\":["
              "{\"upstream\":{\"acquisitions\":0,\"waits\":0,\"total_wait_ps\":0,"
              "\"max_wait_ps\":0,\"busy_ps\":0},"
              "\"downstream\":{\"acquisitions\":0,\"waits\":0,\"total_wait_ps\":0,"
              "\"max_wait_ps\":0,\"busy_ps\":0}},"
              "{\"upstream\":{\"acquisitions\":1,\"waits\":0,\"total_wait_ps\":0,"
              "\"max_wait_ps\":0,\"busy_ps\":124000},"
              "\"downstream\":{\"acquisitions\":0,\"waits\":0,\"total_wait_ps\":0,"
              "\"max_wait_ps\":0,\"busy_ps\":0}}]}");
}

} // namespace
} // namespace smmu::pcie
