// The PCIe endpoint against a fake root complex that answers everything itself: TLP splitting,
// translated and untranslated TLPs, every Translation Completion status, ATS and PASID
// enables, timing of serial and pipelined TLPs, and the invalidation path (entries removed,
// completion after the latency and after in-flight TLPs, the outstanding limit, the
// fault-injection switch).
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/pcie/endpoint.h"

namespace smmu::pcie {
namespace {

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;
using tlm_ext::ats_status;
using tlm_ext::invalidation_completion;
using tlm_ext::invalidation_request;
using tlm_ext::translation_completion;
using tlm_ext::translation_request;

sc_time ns(double v) {
    return sc_time(v, sc_core::SC_NS);
}
sc_time us(double v) {
    return sc_time(v, sc_core::SC_US);
}

constexpr std::uint64_t pa_offset = 0x30000; ///< the fake's default translation: PA = IOVA + this

/// The byte the fake memory holds at `addr`.
std::uint8_t pattern(std::uint64_t addr) {
    return static_cast<std::uint8_t>(addr + (addr >> 12));
}

translation_completion granted(std::uint64_t pa, std::uint64_t size, bool r, bool w) {
    translation_completion c;
    c.translated_address = pa;
    c.size = size;
    c.permissions.read = r;
    c.permissions.write = w;
    return c;
}

struct seen_tlp {
    tlm::tlm_command cmd;
    std::uint64_t address;
    std::uint32_t length;
    tlp_extension ext;
    sc_time at; ///< arrival (time stamp + annotation)
};

struct seen_completion {
    invalidation_completion done;
    requester_id rid;
    sc_time at;
};

/// Stands in for the root complex and everything behind it.
class fake_root : public sc_core::sc_module {
public:
    tlm_utils::simple_target_socket<fake_root> in;
    tlm_utils::simple_initiator_socket<fake_root> inv_out;

    /// The answer to a Translation Request; default: 4 KiB read/write at IOVA + pa_offset.
    std::function<translation_completion(const translation_request&)> translate =
        [](const translation_request& r) {
            return granted(r.address + pa_offset, 4096, true, true);
        };
    sc_time data_latency = ns(100);
    sc_time translation_latency = ns(200);
    tlm::tlm_response_status data_response = tlm::TLM_OK_RESPONSE;
    /// Wait for data_latency inside b_transport instead of annotating it (legal in LT).
    bool wait_inside = false;

    std::vector<seen_tlp> tlps;
    std::vector<translation_request> requests;
    std::vector<tlp_extension> request_tlps;
    std::vector<seen_completion> completions;
    std::vector<std::uint8_t> written; ///< bytes of every write, in order

    explicit fake_root(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , in("in")
        , inv_out("inv_out") {
        in.register_b_transport(this, &fake_root::b_transport);
    }

    /// Sends an Invalidate Request; the response status. `answer` receives the message left
    /// in the payload, `returned` the time the call returned.
    tlm::tlm_response_status invalidate(const invalidation_request& r,
                                        tlm_ext::ats_extension* answer = nullptr,
                                        sc_time* returned = nullptr) {
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_IGNORE_COMMAND);
        gp.set_address(r.address);
        tlm_ext::scoped_extension<tlm_ext::ats_extension> ext(gp, tlm_ext::ats_extension{r});
        sc_time d = SC_ZERO_TIME;
        inv_out->b_transport(gp, d);
        if (answer != nullptr)
            *answer = ext.get();
        if (returned != nullptr)
            *returned = sc_core::sc_time_stamp();
        return gp.get_response_status();
    }

private:
    void b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
        const tlp_extension* tlp = find_tlp_extension(gp);
        ASSERT_NE(tlp, nullptr);
        auto* ats = gp.get_extension<tlm_ext::ats_extension>();
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
        if (ats != nullptr) {
            if (const auto* done = ats->get<invalidation_completion>()) {
                completions.push_back({*done, tlp->rid, sc_core::sc_time_stamp() + delay});
                return;
            }
            const auto* req = ats->get<translation_request>();
            ASSERT_NE(req, nullptr);
            EXPECT_EQ(tlp->at, address_type::translation_request);
            requests.push_back(*req);
            request_tlps.push_back(*tlp);
            ats->message = translate(*req);
            delay += translation_latency;
            return;
        }
        tlps.push_back({gp.get_command(), gp.get_address(), gp.get_data_length(), *tlp,
                        sc_core::sc_time_stamp() + delay});
        unsigned char* data = gp.get_data_ptr();
        for (unsigned i = 0; i < gp.get_data_length(); ++i) {
            if (gp.is_read())
                data[i] = pattern(gp.get_address() + i);
            else
                written.push_back(data[i]);
        }
        gp.set_response_status(data_response);
        if (wait_inside)
            wait(data_latency);
        else
            delay += data_latency;
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

endpoint_params ats_params() {
    endpoint_params p;
    p.rid = 0x0108;
    p.pasid_capable = true;
    return p;
}

/// An endpoint bound to a fake root.
struct bench {
    explicit bench(const endpoint_params& p = ats_params())
        : root("root")
        , ep("ep", p) {
        ep.upstream.bind(root.in);
        root.inv_out.bind(ep.inv_in);
    }
    /// Runs the scenario (and everything it sets off) to the end; true if it finished.
    bool run(std::function<void()> scenario) {
        runner r("scenario", std::move(scenario));
        sc_core::sc_start();
        return r.finished;
    }
    fake_root root;
    endpoint ep;
};

dma_request read_req(std::uint64_t addr, std::uint32_t len, std::uint8_t* data = nullptr) {
    dma_request r;
    r.dir = dma_dir::read;
    r.address = addr;
    r.length = len;
    r.data = data;
    return r;
}

dma_request write_req(std::uint64_t addr, std::uint32_t len, std::uint8_t* data = nullptr) {
    dma_request r = read_req(addr, len, data);
    r.dir = dma_dir::write;
    return r;
}

invalidation_request inval(std::uint64_t addr, std::uint64_t span, std::uint8_t itag) {
    invalidation_request r;
    r.stream_id = 12;
    r.address = addr;
    r.span = span;
    r.itag = itag;
    return r;
}

// ---------------------------------------------------------------- parameters

TEST(pcie_endpoint, parameters_are_validated) {
    const auto fails = [](auto change) {
        endpoint_params p;
        change(p);
        EXPECT_THROW(p.validate(), std::invalid_argument);
    };
    fails([](endpoint_params& p) { p.max_payload_bytes = 64; });
    fails([](endpoint_params& p) { p.max_payload_bytes = 8192; });
    fails([](endpoint_params& p) { p.max_payload_bytes = 384; });
    fails([](endpoint_params& p) { p.max_read_request_bytes = 0; });
    fails([](endpoint_params& p) { p.max_outstanding_invalidations = 0; });
    fails([](endpoint_params& p) { p.max_outstanding_invalidations = 33; });
    fails([](endpoint_params& p) {
        p.atc.entries = 6;
        p.atc.ways = 4;
    });
    EXPECT_NO_THROW(endpoint_params{}.validate());
    endpoint_params edge;
    edge.max_payload_bytes = 4096;
    edge.max_read_request_bytes = 128;
    edge.max_outstanding_invalidations = 1;
    EXPECT_NO_THROW(edge.validate());
}

TEST(pcie_endpoint, the_message_names_the_parameter) {
    endpoint_params p;
    p.max_read_request_bytes = 100;
    try {
        p.validate();
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("max_read_request_bytes"), std::string::npos);
    }
}

TEST(pcie_endpoint, construction_rejects_bad_parameters) {
    endpoint_params p;
    p.max_payload_bytes = 100;
    EXPECT_THROW(endpoint("bad", p), std::invalid_argument);
}

// ---------------------------------------------------------------- splitting

TEST(pcie_endpoint, writes_split_at_max_payload_and_4k_boundaries) {
    bench b;
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(write_req(0x1f80, 1000)); }));
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.tlps, 5u);
    ASSERT_EQ(b.root.tlps.size(), 5u);
    const std::uint64_t addrs[] = {0x1f80, 0x2000, 0x2100, 0x2200, 0x2300};
    const std::uint32_t lens[] = {128, 256, 256, 256, 104};
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(b.root.tlps[i].cmd, tlm::TLM_WRITE_COMMAND);
        EXPECT_EQ(b.root.tlps[i].address, addrs[i]);
        EXPECT_EQ(b.root.tlps[i].length, lens[i]);
        EXPECT_EQ(b.root.tlps[i].ext.at, address_type::untranslated);
        EXPECT_EQ(b.root.tlps[i].ext.rid, 0x0108);
    }
}

TEST(pcie_endpoint, reads_split_at_max_read_request_and_4k_boundaries) {
    bench b;
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x0f00, 1000)); }));
    EXPECT_EQ(out.tlps, 3u);
    ASSERT_EQ(b.root.tlps.size(), 3u);
    EXPECT_EQ(b.root.tlps[0].address, 0x0f00u);
    EXPECT_EQ(b.root.tlps[0].length, 256u);
    EXPECT_EQ(b.root.tlps[1].address, 0x1000u);
    EXPECT_EQ(b.root.tlps[1].length, 512u);
    EXPECT_EQ(b.root.tlps[2].address, 0x1200u);
    EXPECT_EQ(b.root.tlps[2].length, 232u);
    EXPECT_EQ(b.root.tlps[0].cmd, tlm::TLM_READ_COMMAND);
}

TEST(pcie_endpoint, data_moves_through_the_callers_buffer) {
    bench b;
    std::vector<std::uint8_t> in(700, 0);
    std::vector<std::uint8_t> out(300);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::uint8_t>(i * 3 + 1);
    ASSERT_TRUE(b.run([&] {
        EXPECT_TRUE(b.ep.dma(read_req(0x7e80, 700, in.data())).ok);
        EXPECT_TRUE(b.ep.dma(write_req(0x9f00, 300, out.data())).ok);
    }));
    for (std::size_t i = 0; i < in.size(); ++i)
        ASSERT_EQ(in[i], pattern(0x7e80 + i)) << i;
    EXPECT_EQ(b.root.written, out);
}

TEST(pcie_endpoint, a_transfer_without_a_buffer_writes_zeros) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        b.ep.dma(read_req(0x1000, 64)); // fills the scratch buffer with non-zero bytes
        b.ep.dma(write_req(0x2000, 64));
    }));
    EXPECT_EQ(b.root.written, std::vector<std::uint8_t>(64, 0));
}

TEST(pcie_endpoint, concurrent_transfers_do_not_share_a_payload) {
    bench b;
    b.root.wait_inside = true; // a target that blocks: a shared payload would be overwritten
    std::vector<std::uint8_t> first(1024), second(1024);
    dma_outcome other;
    runner concurrent("concurrent",
                      [&] { other = b.ep.dma(read_req(0x20000, 1024, second.data())); });
    dma_outcome mine;
    ASSERT_TRUE(b.run([&] { mine = b.ep.dma(read_req(0x10000, 1024, first.data())); }));
    EXPECT_TRUE(mine.ok);
    EXPECT_TRUE(other.ok);
    for (std::size_t i = 0; i < 1024; ++i) {
        ASSERT_EQ(first[i], pattern(0x10000 + i)) << i;
        ASSERT_EQ(second[i], pattern(0x20000 + i)) << i;
    }
    EXPECT_EQ(sc_core::sc_time_stamp(), ns(200)); // both ran side by side
}

TEST(pcie_endpoint, transfers_that_cannot_be_sent_are_rejected) {
    bench b;
    std::vector<dma_outcome> outs;
    ASSERT_TRUE(b.run([&] {
        outs.push_back(b.ep.dma(read_req(0x1000, 0)));                    // empty
        outs.push_back(b.ep.dma(read_req(0xffff'ffff'ffff'ff00, 0x101))); // wraps
        dma_request r = read_req(0x1000, 64);
        r.pasid = 3;
        outs.push_back(b.ep.dma(r)); // PASID not enabled
        b.ep.set_pasid_enabled(true);
        r.pasid = max_pasid + 1;
        outs.push_back(b.ep.dma(r)); // does not fit the prefix
    }));
    for (const dma_outcome& o : outs) {
        EXPECT_FALSE(o.ok);
        EXPECT_EQ(o.tlps, 0u);
    }
    EXPECT_TRUE(b.root.tlps.empty());
    EXPECT_EQ(b.ep.stats().dma_rejected, 4u);
    EXPECT_EQ(b.ep.stats().dma_failed, 4u);
}

TEST(pcie_endpoint, the_last_byte_of_the_address_space_is_reachable) {
    bench b;
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0xffff'ffff'ffff'ff00, 0x100)); }));
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.tlps, 1u);
}

// ---------------------------------------------------------------- ATS

TEST(pcie_endpoint, without_ats_every_tlp_is_untranslated) {
    bench b;
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x5000, 2048)); }));
    EXPECT_EQ(out.tlps, 4u);
    EXPECT_EQ(out.untranslated, 4u);
    EXPECT_EQ(out.atc_hits + out.atc_misses, 0u);
    EXPECT_TRUE(b.root.requests.empty());
    EXPECT_EQ(b.ep.translation_cache().stats().lookups, 0u);
}

TEST(pcie_endpoint, ats_enable_needs_the_capability) {
    endpoint_params p = ats_params();
    p.ats_capable = false;
    p.pasid_capable = false;
    bench b(p);
    b.ep.set_ats_enabled(true);
    b.ep.set_pasid_enabled(true);
    EXPECT_FALSE(b.ep.ats_enabled());
    EXPECT_FALSE(b.ep.pasid_enabled());
    ASSERT_TRUE(b.run([&] { b.ep.dma(read_req(0x5000, 64)); }));
    EXPECT_TRUE(b.root.requests.empty());
}

TEST(pcie_endpoint, a_miss_requests_a_translation_then_sends_translated) {
    bench b;
    b.ep.set_ats_enabled(true);
    dma_outcome first;
    dma_outcome second;
    ASSERT_TRUE(b.run([&] {
        first = b.ep.dma(write_req(0x5040, 128));
        second = b.ep.dma(read_req(0x5100, 64));
    }));
    ASSERT_EQ(b.root.requests.size(), 1u);
    const translation_request& r = b.root.requests[0];
    EXPECT_EQ(r.address, 0x5000u);
    EXPECT_EQ(r.length, 4096u);
    EXPECT_FALSE(r.no_write); // a write asks for write permission
    EXPECT_FALSE(r.pasid.has_value());
    EXPECT_EQ(b.root.request_tlps[0].rid, 0x0108);

    EXPECT_TRUE(first.ok);
    EXPECT_EQ(first.atc_misses, 1u);
    EXPECT_EQ(first.atc_hits, 0u);
    EXPECT_EQ(first.untranslated, 0u);
    EXPECT_TRUE(second.ok);
    EXPECT_EQ(second.atc_hits, 1u);
    EXPECT_EQ(second.atc_misses, 0u);

    ASSERT_EQ(b.root.tlps.size(), 2u);
    EXPECT_EQ(b.root.tlps[0].address, 0x5040u + pa_offset);
    EXPECT_EQ(b.root.tlps[0].ext.at, address_type::translated);
    EXPECT_EQ(b.root.tlps[1].address, 0x5100u + pa_offset);
    EXPECT_EQ(b.root.tlps[1].ext.at, address_type::translated);
    const endpoint_stats s = b.ep.stats();
    EXPECT_EQ(s.translation_requests, 1u);
    EXPECT_EQ(s.translations_granted, 1u);
    EXPECT_EQ(s.tlps_translated, 2u);
    EXPECT_EQ(s.atc_hits, 1u);
    EXPECT_EQ(s.atc_misses, 1u);
    EXPECT_EQ(s.atc.fills, 1u);
}

TEST(pcie_endpoint, a_read_asks_without_write_and_a_later_write_asks_again) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request& r) {
        return granted(r.address + pa_offset, 4096, true, !r.no_write);
    };
    ASSERT_TRUE(b.run([&] {
        EXPECT_TRUE(b.ep.dma(read_req(0x5000, 64)).ok);
        const dma_outcome w = b.ep.dma(write_req(0x5000, 64));
        EXPECT_TRUE(w.ok);
        EXPECT_EQ(w.atc_misses, 1u); // a permission miss
    }));
    ASSERT_EQ(b.root.requests.size(), 2u);
    EXPECT_TRUE(b.root.requests[0].no_write);
    EXPECT_FALSE(b.root.requests[1].no_write);
    EXPECT_EQ(b.ep.translation_cache().size(), 1u);
}

TEST(pcie_endpoint, one_large_translation_serves_every_page_it_covers) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request&) {
        return granted(0x8'0000'0000, 0x10000, true, true);
    };
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x4'0000, 0x4000)); }));
    EXPECT_EQ(b.root.requests.size(), 1u);
    EXPECT_EQ(out.tlps, 32u);
    EXPECT_EQ(out.atc_misses, 1u);
    EXPECT_EQ(out.atc_hits, 31u);
    EXPECT_EQ(b.root.tlps.back().address, 0x8'0000'3e00u);
}

TEST(pcie_endpoint, unsupported_request_sends_untranslated_and_caches_nothing) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request&) {
        translation_completion c;
        c.status = ats_status::unsupported_request;
        return c;
    };
    dma_outcome out;
    ASSERT_TRUE(b.run([&] {
        out = b.ep.dma(read_req(0x5000, 64));
        b.ep.dma(read_req(0x5000, 64));
    }));
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.untranslated, 1u);
    EXPECT_EQ(out.atc_misses, 1u);
    EXPECT_EQ(b.root.tlps[0].address, 0x5000u);
    EXPECT_EQ(b.root.tlps[0].ext.at, address_type::untranslated);
    EXPECT_EQ(b.root.requests.size(), 2u); // asked again: nothing was cached
    EXPECT_EQ(b.ep.stats().translations_unsupported, 2u);
}

TEST(pcie_endpoint, completer_abort_fails_the_transfer_at_that_tlp) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request& r) {
        if (r.address == 0x6000) {
            translation_completion c;
            c.status = ats_status::completer_abort;
            return c;
        }
        return granted(r.address + pa_offset, 4096, true, true);
    };
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x5000, 0x3000)); }));
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(b.root.tlps.size(), 8u); // the first page only, 8 x 512 bytes
    EXPECT_EQ(out.tlps, 9u);           // the ninth failed before leaving
    EXPECT_EQ(b.ep.stats().translations_aborted, 1u);
    EXPECT_EQ(b.ep.stats().tlps_failed, 1u);
    EXPECT_EQ(b.ep.stats().dma_failed, 1u);
}

TEST(pcie_endpoint, a_completion_without_the_needed_permission_fails_and_is_not_cached) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request& r) {
        if (r.address == 0x5000)
            return granted(0x10000, 4096, true, false); // read-only
        return granted(0, 4096, false, false);          // translation fault
    };
    dma_outcome write_ro;
    dma_outcome fault;
    ASSERT_TRUE(b.run([&] {
        write_ro = b.ep.dma(write_req(0x5000, 64));
        fault = b.ep.dma(read_req(0x7000, 64));
    }));
    EXPECT_FALSE(write_ro.ok);
    EXPECT_FALSE(fault.ok);
    EXPECT_TRUE(b.root.tlps.empty());
    EXPECT_EQ(b.ep.translation_cache().size(), 0u);
    EXPECT_EQ(b.ep.stats().translations_denied, 2u);
}

TEST(pcie_endpoint, a_malformed_completion_fails_the_tlp) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request&) {
        return granted(0x10800, 4096, true, true); // not aligned to its size
    };
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x5000, 64)); }));
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(b.ep.stats().translations_broken, 1u);
    EXPECT_EQ(b.ep.translation_cache().size(), 0u);
}

TEST(pcie_endpoint, a_u_completion_is_cached_and_sends_untranslated) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.root.translate = [](const translation_request& r) {
        translation_completion c = granted(r.address, 4096, true, true);
        c.untranslated_only = true;
        return c;
    };
    ASSERT_TRUE(b.run([&] {
        const dma_outcome first = b.ep.dma(read_req(0x5000, 64));
        EXPECT_TRUE(first.ok);
        EXPECT_EQ(first.untranslated, 1u);
        const dma_outcome second = b.ep.dma(write_req(0x5800, 64));
        EXPECT_EQ(second.untranslated, 1u);
        EXPECT_EQ(second.atc_misses, 0u);
    }));
    EXPECT_EQ(b.root.requests.size(), 1u);
    EXPECT_EQ(b.root.tlps[1].address, 0x5800u);
    EXPECT_EQ(b.root.tlps[1].ext.at, address_type::untranslated);
    EXPECT_EQ(b.ep.stats().translations_untranslated_only, 1u);
}

TEST(pcie_endpoint, without_request_translations_a_miss_goes_untranslated) {
    endpoint_params p = ats_params();
    p.request_translations = false;
    bench b(p);
    b.ep.set_ats_enabled(true);
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x5000, 64)); }));
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.atc_misses, 1u);
    EXPECT_EQ(out.untranslated, 1u);
    EXPECT_TRUE(b.root.requests.empty());
}

TEST(pcie_endpoint, an_error_response_fails_the_transfer) {
    bench b;
    b.root.data_response = tlm::TLM_ADDRESS_ERROR_RESPONSE;
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(write_req(0x5000, 1024)); }));
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.tlps, 1u);
    EXPECT_EQ(b.ep.stats().tlps_failed, 1u);
    EXPECT_EQ(b.ep.stats().dma_bytes, 0u);
}

TEST(pcie_endpoint, pasid_and_its_attributes_travel_in_the_prefix) {
    bench b;
    b.ep.set_ats_enabled(true);
    b.ep.set_pasid_enabled(true);
    b.root.translate = [](const translation_request& r) {
        translation_completion c = granted(r.address + pa_offset, 4096, true, false);
        c.permissions.execute = r.execute;
        c.permissions.privileged = r.privileged;
        return c;
    };
    ASSERT_TRUE(b.run([&] {
        dma_request r = read_req(0x5000, 64);
        r.pasid = 0x4567;
        r.privileged = true;
        r.execute = true;
        EXPECT_TRUE(b.ep.dma(r).ok);
        dma_request no_pasid = read_req(0x9000, 64);
        no_pasid.privileged = true; // dropped: there is no prefix to carry it
        no_pasid.execute = true;
        EXPECT_TRUE(b.ep.dma(no_pasid).ok);
    }));
    ASSERT_EQ(b.root.requests.size(), 2u);
    EXPECT_EQ(b.root.requests[0].pasid, 0x4567u);
    EXPECT_TRUE(b.root.requests[0].privileged);
    EXPECT_TRUE(b.root.requests[0].execute);
    EXPECT_TRUE(b.root.requests[0].no_write);
    EXPECT_EQ(b.root.request_tlps[0].pasid, 0x4567u);
    EXPECT_FALSE(b.root.requests[1].privileged);
    EXPECT_FALSE(b.root.requests[1].execute);
    ASSERT_EQ(b.root.tlps.size(), 2u);
    EXPECT_EQ(b.root.tlps[0].ext.pasid, 0x4567u);
    EXPECT_TRUE(b.root.tlps[0].ext.privileged);
    EXPECT_TRUE(b.root.tlps[0].ext.execute);
    EXPECT_FALSE(b.root.tlps[1].ext.pasid.has_value());
    EXPECT_FALSE(b.root.tlps[1].ext.privileged);
    EXPECT_FALSE(b.root.tlps[1].ext.execute);
}

TEST(pcie_endpoint, disabling_ats_empties_the_atc) {
    bench b;
    b.ep.set_ats_enabled(true);
    ASSERT_TRUE(b.run([&] {
        b.ep.dma(read_req(0x5000, 64));
        EXPECT_EQ(b.ep.translation_cache().size(), 1u);
        b.ep.set_ats_enabled(false);
        EXPECT_EQ(b.ep.translation_cache().size(), 0u);
        b.ep.set_ats_enabled(true);
        EXPECT_EQ(b.ep.dma(read_req(0x5000, 64)).atc_misses, 1u);
    }));
    EXPECT_EQ(b.root.requests.size(), 2u);
}

// ---------------------------------------------------------------- timing

TEST(pcie_endpoint, serial_tlps_each_wait_for_the_previous_one) {
    bench b;
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(write_req(0x1000, 768)); }));
    EXPECT_EQ(out.latency, ns(300));
    ASSERT_EQ(b.root.tlps.size(), 3u);
    EXPECT_EQ(b.root.tlps[0].at, ns(0));
    EXPECT_EQ(b.root.tlps[1].at, ns(100));
    EXPECT_EQ(b.root.tlps[2].at, ns(200));
    EXPECT_EQ(sc_core::sc_time_stamp(), ns(300));
}

TEST(pcie_endpoint, pipelined_tlps_leave_back_to_back) {
    endpoint_params p = ats_params();
    p.pipelined_tlps = true;
    bench b(p);
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(write_req(0x1000, 768)); }));
    EXPECT_EQ(out.latency, ns(100));
    for (const seen_tlp& t : b.root.tlps)
        EXPECT_EQ(t.at, ns(0));
}

TEST(pcie_endpoint, a_translation_round_trip_precedes_the_tlp) {
    bench b;
    b.ep.set_ats_enabled(true);
    dma_outcome miss;
    dma_outcome hit;
    ASSERT_TRUE(b.run([&] {
        miss = b.ep.dma(read_req(0x5000, 64));
        hit = b.ep.dma(read_req(0x5000, 64));
    }));
    EXPECT_EQ(miss.translation_latency, ns(200));
    EXPECT_EQ(miss.latency, ns(300));
    EXPECT_EQ(b.root.tlps[0].at, ns(200));
    EXPECT_EQ(hit.translation_latency, SC_ZERO_TIME);
    EXPECT_EQ(hit.latency, ns(100));
    EXPECT_EQ(b.ep.translation_latency().count(), 1u);
    EXPECT_EQ(b.ep.translation_latency().max(), 200'000u);
    EXPECT_EQ(b.ep.dma_latency().count(), 2u);
    EXPECT_EQ(b.ep.dma_latency().max(), 300'000u);
}

TEST(pcie_endpoint, pipelined_tlps_after_a_translation_leave_when_it_returns) {
    endpoint_params p = ats_params();
    p.pipelined_tlps = true;
    bench b(p);
    b.ep.set_ats_enabled(true);
    dma_outcome out;
    ASSERT_TRUE(b.run([&] { out = b.ep.dma(read_req(0x5000, 1024)); }));
    ASSERT_EQ(b.root.tlps.size(), 2u);
    EXPECT_EQ(b.root.tlps[0].at, ns(200));
    EXPECT_EQ(b.root.tlps[1].at, ns(200));
    EXPECT_EQ(out.latency, ns(300));
}

// ---------------------------------------------------------------- invalidation

TEST(pcie_endpoint, an_invalidation_removes_entries_and_completes_after_the_latency) {
    bench b;
    b.ep.set_ats_enabled(true);
    ASSERT_TRUE(b.run([&] {
        b.ep.dma(read_req(0x5000, 64));
        b.ep.dma(read_req(0x6000, 64));
        EXPECT_EQ(b.ep.translation_cache().size(), 2u);
        const sc_time sent = sc_core::sc_time_stamp();
        sc_time returned;
        EXPECT_EQ(b.root.invalidate(inval(0x5000, 0x1000, 7), nullptr, &returned),
                  tlm::TLM_OK_RESPONSE);
        EXPECT_EQ(returned, sent);                      // posted: the caller does not wait
        EXPECT_EQ(b.ep.translation_cache().size(), 1u); // removed at once
        EXPECT_EQ(b.ep.outstanding_invalidations(), 1u);
        EXPECT_EQ(b.ep.dma(read_req(0x5000, 64)).atc_misses, 1u);
        EXPECT_EQ(b.ep.dma(read_req(0x6000, 64)).atc_hits, 1u);
        wait(us(5));
        ASSERT_EQ(b.root.completions.size(), 1u);
        EXPECT_EQ(b.root.completions[0].at, sent + us(1));
    }));
    const seen_completion& c = b.root.completions[0];
    EXPECT_EQ(c.done.itag_vector, 1u << 7);
    EXPECT_EQ(c.done.stream_id, 12u);
    EXPECT_EQ(c.done.status, ats_status::success);
    EXPECT_EQ(c.rid, 0x0108);
    EXPECT_EQ(b.ep.outstanding_invalidations(), 0u);
    const endpoint_stats s = b.ep.stats();
    EXPECT_EQ(s.invalidations_received, 1u);
    EXPECT_EQ(s.invalidations_completed, 1u);
    EXPECT_EQ(s.invalidation_messages, 1u);
    EXPECT_EQ(s.atc.invalidations, 1u);
}

TEST(pcie_endpoint, the_completion_waits_for_in_flight_tlps_that_used_an_invalidated_entry) {
    bench b;
    b.ep.set_ats_enabled(true);
    sc_time dma_end;
    runner dma_thread("dma_thread", [&] {
        b.ep.dma(read_req(0x5000, 64)); // miss: 200 ns + 100 ns; now cached
        b.root.data_latency = us(5);    // the memory becomes slow
        b.ep.dma(read_req(0x5000, 64)); // hit at 300 ns, in flight until 5.3 us
        dma_end = sc_core::sc_time_stamp();
    });
    ASSERT_TRUE(b.run([&] {
        wait(us(1));
        b.root.invalidate(inval(0x5000, 0x1000, 3)); // used by the in-flight TLP
        b.root.invalidate(inval(0x9000, 0x1000, 4)); // not used by anyone
    }));
    EXPECT_TRUE(dma_thread.finished);
    EXPECT_EQ(dma_end, ns(5300));
    ASSERT_EQ(b.root.completions.size(), 2u);
    EXPECT_EQ(b.root.completions[0].done.itag_vector, 1u << 4);
    EXPECT_EQ(b.root.completions[0].at, us(2));
    EXPECT_EQ(b.root.completions[1].done.itag_vector, 1u << 3);
    EXPECT_EQ(b.root.completions[1].at, ns(6300));
}

TEST(pcie_endpoint, an_invalidation_covers_tlps_of_a_pipelined_transfer_still_in_flight) {
    endpoint_params p = ats_params();
    p.pipelined_tlps = true;
    bench b(p);
    b.ep.set_ats_enabled(true);
    b.root.data_latency = us(3);
    runner dma_thread("dma_thread", [&] { b.ep.dma(write_req(0x5000, 4096)); });
    ASSERT_TRUE(b.run([&] {
        wait(ns(500)); // translation done at 200 ns, 16 TLPs in flight until 3.2 us
        b.root.invalidate(inval(0x5000, 0x1000, 0));
    }));
    ASSERT_EQ(b.root.completions.size(), 1u);
    EXPECT_EQ(b.root.completions[0].at, ns(4200));
}

TEST(pcie_endpoint, completions_ready_together_share_one_message) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        b.root.invalidate(inval(0x1000, 0x1000, 1));
        b.root.invalidate(inval(0x2000, 0x1000, 2));
        b.root.invalidate(inval(0, tlm_ext::span_all, 9));
        wait(ns(10));
        b.root.invalidate(inval(0x3000, 0x1000, 3)); // ready 10 ns later
    }));
    ASSERT_EQ(b.root.completions.size(), 2u);
    EXPECT_EQ(b.root.completions[0].done.itag_vector, (1u << 1) | (1u << 2) | (1u << 9));
    EXPECT_EQ(b.root.completions[0].at, us(1));
    EXPECT_EQ(b.root.completions[1].done.itag_vector, 1u << 3);
    EXPECT_EQ(b.root.completions[1].at, us(1) + ns(10));
    EXPECT_EQ(b.ep.stats().invalidations_completed, 4u);
    EXPECT_EQ(b.ep.stats().invalidation_messages, 2u);
}

TEST(pcie_endpoint, a_33rd_invalidation_waits_until_one_completes) {
    bench b;
    std::vector<sc_time> returned(33);
    ASSERT_TRUE(b.run([&] {
        for (unsigned i = 0; i < 33; ++i) {
            b.root.invalidate(inval(0x1000ull * i, 0x1000, static_cast<std::uint8_t>(i % 32)),
                              nullptr, &returned[i]);
        }
    }));
    for (unsigned i = 0; i < 32; ++i)
        EXPECT_EQ(returned[i], SC_ZERO_TIME) << i;
    EXPECT_EQ(returned[32], us(1));
    ASSERT_EQ(b.root.completions.size(), 2u);
    EXPECT_EQ(b.root.completions[0].done.itag_vector, 0xffff'ffffu);
    EXPECT_EQ(b.root.completions[1].done.itag_vector, 1u);
    EXPECT_EQ(b.root.completions[1].at, us(2));
    EXPECT_EQ(b.ep.stats().max_outstanding_invalidations, 32u);
}

TEST(pcie_endpoint, the_outstanding_limit_is_a_parameter) {
    endpoint_params p = ats_params();
    p.max_outstanding_invalidations = 2;
    bench b(p);
    std::vector<sc_time> returned(3);
    ASSERT_TRUE(b.run([&] {
        for (unsigned i = 0; i < 3; ++i)
            b.root.invalidate(inval(0, tlm_ext::span_all, static_cast<std::uint8_t>(i)), nullptr,
                              &returned[i]);
    }));
    EXPECT_EQ(returned[1], SC_ZERO_TIME);
    EXPECT_EQ(returned[2], us(1));
    EXPECT_EQ(b.ep.stats().max_outstanding_invalidations, 2u);
}

TEST(pcie_endpoint, with_answer_invalidations_off_nothing_ever_completes) {
    endpoint_params p = ats_params();
    p.answer_invalidations = false;
    bench b(p);
    b.ep.set_ats_enabled(true);
    ASSERT_TRUE(b.run([&] {
        b.ep.dma(read_req(0x5000, 64));
        b.root.invalidate(inval(0x5000, 0x1000, 0));
        EXPECT_EQ(b.ep.translation_cache().size(), 0u); // the entry still goes
        wait(sc_time(1, sc_core::SC_MS));
    }));
    EXPECT_TRUE(b.root.completions.empty());
    EXPECT_EQ(b.ep.outstanding_invalidations(), 1u);
    EXPECT_EQ(b.ep.stats().invalidations_completed, 0u);
}

TEST(pcie_endpoint, a_function_without_ats_answers_unsupported_in_the_payload) {
    endpoint_params p = ats_params();
    p.ats_capable = false;
    bench b(p);
    tlm_ext::ats_extension answer;
    ASSERT_TRUE(b.run([&] {
        EXPECT_EQ(b.root.invalidate(inval(0x5000, 0x1000, 6), &answer), tlm::TLM_OK_RESPONSE);
    }));
    const auto* done = answer.get<invalidation_completion>();
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(done->status, ats_status::unsupported_request);
    EXPECT_EQ(done->itag_vector, 1u << 6);
    EXPECT_EQ(done->stream_id, 12u);
    EXPECT_TRUE(b.root.completions.empty());
    EXPECT_EQ(b.ep.stats().invalidations_unsupported, 1u);
}

TEST(pcie_endpoint, malformed_invalidations_get_an_error_response) {
    bench b;
    ASSERT_TRUE(b.run([&] {
        EXPECT_EQ(b.root.invalidate(inval(0x5000, 0x1000, 32)), tlm::TLM_COMMAND_ERROR_RESPONSE);
        EXPECT_EQ(b.root.invalidate(inval(0x5800, 0x1000, 1)), tlm::TLM_COMMAND_ERROR_RESPONSE);
        tlm::tlm_generic_payload bare;
        bare.set_command(tlm::TLM_IGNORE_COMMAND);
        sc_time d = SC_ZERO_TIME;
        b.root.inv_out->b_transport(bare, d);
        EXPECT_EQ(bare.get_response_status(), tlm::TLM_COMMAND_ERROR_RESPONSE);
    }));
    EXPECT_EQ(b.ep.stats().invalidations_malformed, 3u);
    EXPECT_EQ(b.ep.outstanding_invalidations(), 0u);
}

TEST(pcie_endpoint, statistics_as_json) {
    bench b;
    std::string json;
    b.ep.stats().to_json(json);
    EXPECT_EQ(json, "{\"dma_transfers\":0,\"dma_failed\":0,\"dma_rejected\":0,\"dma_bytes\":0,"
                    "\"tlps\":0,\"tlps_translated\":0,\"tlps_untranslated\":0,\"tlps_failed\":0,"
                    "\"atc_hits\":0,\"atc_misses\":0,\"translation_requests\":0,"
                    "\"translations_granted\":0,\"translations_untranslated_only\":0,"
                    "\"translations_denied\":0,\"translations_unsupported\":0,"
                    "\"translations_aborted\":0,\"translations_broken\":0,"
                    "\"invalidations_received\":0,\"invalidations_completed\":0,"
                    "\"invalidation_messages\":0,\"invalidations_unsupported\":0,"
                    "\"invalidations_malformed\":0,\"max_outstanding_invalidations\":0,"
                    "\"atc\":{\"lookups\":0,\"hits\":0,\"misses\":0,\"permission_misses\":0,"
                    "\"fills\":0,\"fills_refused\":0,\"evictions\":0,\"invalidations\":0,"
                    "\"entries_removed\":0,\"flushes\":0}}");
    ASSERT_TRUE(b.run([&] { b.ep.dma(write_req(0x1000, 300)); }));
    json.clear();
    b.ep.stats().to_json(json);
    EXPECT_EQ(json.rfind("{\"dma_transfers\":1,\"dma_failed\":0,\"dma_rejected\":0,"
                         "\"dma_bytes\":300,\"tlps\":2,\"tlps_translated\":0,"
                         "\"tlps_untranslated\":2,",
                         0),
              0u);
}

TEST(pcie_endpoint, prefetch_translation_asks_once_and_fills_the_atc) {
    bench b;
    b.ep.set_ats_enabled(true);
    std::optional<translation_completion> c;
    dma_outcome later;
    sc_time returned;
    ASSERT_TRUE(b.run([&] {
        c = b.ep.prefetch_translation(0x5123, std::nullopt, true);
        returned = sc_core::sc_time_stamp();
        later = b.ep.dma(read_req(0x5200, 64));
    }));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->status, ats_status::success);
    ASSERT_EQ(b.root.requests.size(), 1u);
    EXPECT_EQ(b.root.requests[0].address, 0x5000u);
    EXPECT_TRUE(b.root.requests[0].no_write);
    EXPECT_TRUE(b.root.tlps.size() == 1u && b.root.tlps[0].ext.at == address_type::translated);
    EXPECT_EQ(later.atc_hits, 1u);
    EXPECT_GE(returned, ns(200)) << "blocks for the round trip";
}

TEST(pcie_endpoint, prefetch_translation_reports_refusals_and_needs_ats) {
    bench b;
    std::optional<translation_completion> off;
    std::optional<translation_completion> refused;
    b.root.translate = [](const translation_request&) {
        translation_completion c;
        c.status = ats_status::unsupported_request;
        return c;
    };
    ASSERT_TRUE(b.run([&] {
        off = b.ep.prefetch_translation(0x5000, std::nullopt, false);
        b.ep.set_ats_enabled(true);
        refused = b.ep.prefetch_translation(0x5000, std::nullopt, false);
    }));
    EXPECT_FALSE(off.has_value());
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, ats_status::unsupported_request);
    EXPECT_EQ(b.ep.translation_cache().stats().fills, 0u);
}

TEST(pcie_endpoint, atc_hits_are_reported_to_the_observer) {
    bench b;
    b.ep.set_ats_enabled(true);
    std::vector<std::uint64_t> seen;
    b.ep.on_atc_hit = [&](std::uint64_t iova, std::optional<std::uint32_t> pasid, timing::time_ps) {
        EXPECT_FALSE(pasid.has_value());
        seen.push_back(iova);
    };
    ASSERT_TRUE(b.run([&] {
        b.ep.dma(read_req(0x5000, 64)); // miss: the SMMU's translation, not an ATC hit
        b.ep.dma(read_req(0x5040, 64));
        b.ep.dma(read_req(0x5080, 64));
    }));
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{0x5040, 0x5080}));
}

} // namespace
} // namespace smmu::pcie
