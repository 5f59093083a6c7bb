#include <cstdint>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "model/tlm/ats.h"
#include "model/tlm/smmu_extension.h"

namespace {

using namespace smmu::tlm_ext;

translation_request sample_request() {
    translation_request r;
    r.address = 0x0000'7F12'3456'7000ull;
    r.length = 4096;
    r.stream_id = 0x42;
    r.pasid = 0x15;
    r.no_write = false;
    r.execute = true;
    r.privileged = true;
    return r;
}

translation_completion sample_completion() {
    translation_completion c;
    c.status = ats_status::success;
    c.translated_address = 0x8020'0000ull;
    c.size = 0x20'0000; // 2 MiB
    c.permissions = {true, true, false, true};
    c.global = false;
    c.untranslated_only = false;
    return c;
}

invalidation_request sample_invalidation() {
    invalidation_request r;
    r.stream_id = 0x42;
    r.pasid = 0x15;
    r.global = true;
    r.address = 0x4000'0000ull;
    r.span = 0x1'0000;
    r.itag = 31;
    return r;
}

invalidation_completion sample_inv_completion() {
    invalidation_completion c;
    c.stream_id = 0x42;
    c.itag_vector = 0x8000'0001u;
    c.completion_count = 2;
    c.status = ats_status::success;
    return c;
}

// ---------------------------------------------------------------------------------------------
// Messages

TEST(ats_messages, defaults) {
    const translation_request r;
    EXPECT_EQ(r.address, 0u);
    EXPECT_FALSE(r.pasid.has_value());
    EXPECT_FALSE(r.no_write);
    const translation_completion c;
    EXPECT_EQ(c.status, ats_status::success);
    EXPECT_EQ(c.permissions, ats_permissions{});
    const invalidation_request i;
    EXPECT_EQ(i.span, 4096u);
    EXPECT_FALSE(i.covers_all());
    const invalidation_completion ic;
    EXPECT_EQ(ic.completion_count, 1u);
    EXPECT_EQ(ic.itag_vector, 0u);
}

TEST(ats_messages, requested_permissions_follow_pcie) {
    translation_request r = sample_request();
    EXPECT_EQ(r.requested(), (ats_permissions{true, true, true, true}));
    r.no_write = true;
    EXPECT_EQ(r.requested(), (ats_permissions{true, false, true, true}));
    r.execute = false;
    EXPECT_EQ(r.requested(), (ats_permissions{true, false, false, true}));
    r.privileged = false;
    EXPECT_EQ(r.requested(), (ats_permissions{true, false, false, false}));
}

TEST(ats_messages, execute_and_privileged_need_a_pasid) {
    translation_request r = sample_request();
    r.pasid.reset();
    EXPECT_EQ(r.requested(), (ats_permissions{true, true, false, false}));
}

TEST(ats_messages, translation_request_equality_covers_every_field) {
    const translation_request base = sample_request();
    EXPECT_EQ(base, sample_request());
    translation_request r = base;
    r.address += 0x1000;
    EXPECT_NE(r, base);
    r = base;
    r.length = 8192;
    EXPECT_NE(r, base);
    r = base;
    r.stream_id = 0x43;
    EXPECT_NE(r, base);
    r = base;
    r.pasid.reset();
    EXPECT_NE(r, base);
    r = base;
    r.no_write = true;
    EXPECT_NE(r, base);
    r = base;
    r.execute = false;
    EXPECT_NE(r, base);
    r = base;
    r.privileged = false;
    EXPECT_NE(r, base);
}

TEST(ats_messages, translation_completion_equality_covers_every_field) {
    const translation_completion base = sample_completion();
    translation_completion c = base;
    c.status = ats_status::completer_abort;
    EXPECT_NE(c, base);
    c = base;
    c.translated_address = 0;
    EXPECT_NE(c, base);
    c = base;
    c.size = 4096;
    EXPECT_NE(c, base);
    c = base;
    c.permissions.read = false;
    EXPECT_NE(c, base);
    c = base;
    c.permissions.write = false;
    EXPECT_NE(c, base);
    c = base;
    c.permissions.execute = true;
    EXPECT_NE(c, base);
    c = base;
    c.permissions.privileged = false;
    EXPECT_NE(c, base);
    c = base;
    c.global = true;
    EXPECT_NE(c, base);
    c = base;
    c.untranslated_only = true;
    EXPECT_NE(c, base);
    EXPECT_EQ(sample_completion(), base);
}

TEST(ats_messages, invalidation_equality_covers_every_field) {
    const invalidation_request base = sample_invalidation();
    invalidation_request r = base;
    r.stream_id = 1;
    EXPECT_NE(r, base);
    r = base;
    r.pasid.reset();
    EXPECT_NE(r, base);
    r = base;
    r.global = false;
    EXPECT_NE(r, base);
    r = base;
    r.address = 0;
    EXPECT_NE(r, base);
    r = base;
    r.span = span_all;
    EXPECT_NE(r, base);
    r = base;
    r.itag = 0;
    EXPECT_NE(r, base);

    const invalidation_completion cbase = sample_inv_completion();
    invalidation_completion c = cbase;
    c.stream_id = 1;
    EXPECT_NE(c, cbase);
    c = cbase;
    c.itag_vector = 1;
    EXPECT_NE(c, cbase);
    c = cbase;
    c.completion_count = 1;
    EXPECT_NE(c, cbase);
    c = cbase;
    c.status = ats_status::unsupported_request;
    EXPECT_NE(c, cbase);
}

TEST(ats_messages, names) {
    EXPECT_STREQ(to_string(ats_status::success), "success");
    EXPECT_STREQ(to_string(ats_status::unsupported_request), "unsupported_request");
    EXPECT_STREQ(to_string(ats_status::completer_abort), "completer_abort");
    EXPECT_STREQ(to_string(ats_kind::none), "none");
    EXPECT_STREQ(to_string(ats_kind::translation_request), "translation_request");
    EXPECT_STREQ(to_string(ats_kind::translation_completion), "translation_completion");
    EXPECT_STREQ(to_string(ats_kind::invalidation_request), "invalidation_request");
    EXPECT_STREQ(to_string(ats_kind::invalidation_completion), "invalidation_completion");
}

// ---------------------------------------------------------------------------------------------
// Sizes and CMD_ATC_INV spans (smmuv3-reference.md §5.5)

TEST(ats_sizes, valid_translation_sizes) {
    EXPECT_TRUE(is_valid_translation_size(0x1000));
    EXPECT_TRUE(is_valid_translation_size(0x2000));
    EXPECT_TRUE(is_valid_translation_size(0x20'0000));
    EXPECT_TRUE(is_valid_translation_size(0x8000'0000'0000'0000ull));
    EXPECT_FALSE(is_valid_translation_size(0));
    EXPECT_FALSE(is_valid_translation_size(0x800));
    EXPECT_FALSE(is_valid_translation_size(0x3000));
    EXPECT_FALSE(is_valid_translation_size(0x1001));
}

TEST(ats_sizes, atc_inv_span) {
    EXPECT_EQ(atc_inv_span(0), 0x1000u);
    EXPECT_EQ(atc_inv_span(1), 0x2000u);
    EXPECT_EQ(atc_inv_span(4), 0x1'0000u);
    EXPECT_EQ(atc_inv_span(9), 0x20'0000u);
    EXPECT_EQ(atc_inv_span(18), 0x4000'0000u);
    EXPECT_EQ(atc_inv_span(51), 0x8000'0000'0000'0000ull);
    EXPECT_EQ(atc_inv_span(52), span_all);
    EXPECT_EQ(atc_inv_span(52), std::optional<std::uint64_t>{0});
    EXPECT_EQ(atc_inv_span(53), std::nullopt);
    EXPECT_EQ(atc_inv_span(63), std::nullopt);
}

TEST(ats_sizes, from_atc_inv_aligns_the_address_to_the_span) {
    const auto r = from_atc_inv(0x42, 0x15, true, 0x1234'5678ull, 4); // 64 KiB
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->address, 0x1234'0000ull);
    EXPECT_EQ(r->span, 0x1'0000u);
    EXPECT_EQ(r->stream_id, 0x42u);
    EXPECT_EQ(r->pasid, 0x15u);
    EXPECT_TRUE(r->global);
    EXPECT_EQ(r->itag, 0u);
    EXPECT_TRUE(is_valid(*r));
}

TEST(ats_sizes, from_atc_inv_page) {
    const auto r = from_atc_inv(7, std::nullopt, false, 0xFFFF'FFFF'FFFF'FFFFull, 0);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->address, 0xFFFF'FFFF'FFFF'F000ull);
    EXPECT_EQ(r->span, 0x1000u);
    EXPECT_FALSE(r->pasid.has_value());
}

TEST(ats_sizes, from_atc_inv_all) {
    const auto r = from_atc_inv(7, std::nullopt, false, 0xDEAD'B000ull, 52);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->covers_all());
    EXPECT_EQ(r->address, 0u);
    const auto r51 = from_atc_inv(7, std::nullopt, false, 0xFFFF'FFFF'FFFF'F000ull, 51);
    ASSERT_TRUE(r51.has_value());
    EXPECT_EQ(r51->address, 0x8000'0000'0000'0000ull);
}

TEST(ats_sizes, from_atc_inv_rejects_sizes_above_52) {
    EXPECT_FALSE(from_atc_inv(7, std::nullopt, false, 0, 53).has_value());
    EXPECT_FALSE(from_atc_inv(7, std::nullopt, false, 0, 63).has_value());
}

TEST(ats_sizes, invalidation_overlaps) {
    invalidation_request r; // [0x4000_0000, 0x4001_0000)
    r.address = 0x4000'0000ull;
    r.span = 0x1'0000;
    EXPECT_TRUE(r.overlaps(0x4000'0000ull, 0x1000));
    EXPECT_TRUE(r.overlaps(0x4000'F000ull, 0x1000));            // last page
    EXPECT_FALSE(r.overlaps(0x4001'0000ull, 0x1000));           // just after
    EXPECT_FALSE(r.overlaps(0x3FFF'F000ull, 0x1000));           // just before
    EXPECT_TRUE(r.overlaps(0x3FFF'F000ull, 0x1001));            // straddles the start
    EXPECT_TRUE(r.overlaps(0, 0x8000'0000ull));                 // contains it
    EXPECT_FALSE(r.overlaps(0x4000'0000ull, 0));                // empty range
    EXPECT_TRUE(r.overlaps(0x4000'8000ull, ~std::uint64_t{0})); // clamps at the top

    invalidation_request top;
    top.address = 0xFFFF'FFFF'FFFF'F000ull;
    top.span = 0x1000;
    EXPECT_TRUE(top.overlaps(0xFFFF'FFFF'FFFF'FFFFull, 1));
    EXPECT_FALSE(top.overlaps(0xFFFF'FFFF'FFFF'E000ull, 0x1000));

    invalidation_request all;
    all.span = span_all;
    EXPECT_TRUE(all.overlaps(0xFFFF'FFFF'FFFF'F000ull, 0x1000));
    EXPECT_TRUE(all.overlaps(0, 1));
    EXPECT_FALSE(all.overlaps(0, 0));
}

TEST(ats_sizes, completion_validity) {
    translation_completion c = sample_completion();
    EXPECT_TRUE(is_valid(c));
    c.translated_address = 0x8020'1000ull; // not aligned to 2 MiB
    EXPECT_FALSE(is_valid(c));
    c = sample_completion();
    c.size = 0x3000;
    EXPECT_FALSE(is_valid(c));
    c.size = 0x800;
    EXPECT_FALSE(is_valid(c));
    c.status = ats_status::unsupported_request; // other fields are meaningless then
    EXPECT_TRUE(is_valid(c));
}

TEST(ats_sizes, invalidation_validity) {
    invalidation_request r = sample_invalidation();
    EXPECT_TRUE(is_valid(r));
    r.itag = 32;
    EXPECT_FALSE(is_valid(r));
    r = sample_invalidation();
    r.address = 0x4000'1000ull; // not aligned to 64 KiB
    EXPECT_FALSE(is_valid(r));
    r = sample_invalidation();
    r.span = 0x1800;
    EXPECT_FALSE(is_valid(r));
    r.span = span_all;
    r.address = 0x1234;
    EXPECT_TRUE(is_valid(r));
}

// ---------------------------------------------------------------------------------------------
// ats_extension

TEST(ats_extension, empty_by_default) {
    ats_extension e;
    EXPECT_EQ(e.kind(), ats_kind::none);
    EXPECT_EQ(e.get<translation_request>(), nullptr);
}

TEST(ats_extension, kind_tracks_the_message) {
    ats_extension e{sample_request()};
    EXPECT_EQ(e.kind(), ats_kind::translation_request);
    ASSERT_NE(e.get<translation_request>(), nullptr);
    EXPECT_EQ(*e.get<translation_request>(), sample_request());
    EXPECT_EQ(e.get<translation_completion>(), nullptr);
    e.message = sample_completion();
    EXPECT_EQ(e.kind(), ats_kind::translation_completion);
    e.message = sample_invalidation();
    EXPECT_EQ(e.kind(), ats_kind::invalidation_request);
    e.message = sample_inv_completion();
    EXPECT_EQ(e.kind(), ats_kind::invalidation_completion);
    const ats_extension& ce = e;
    ASSERT_NE(ce.get<invalidation_completion>(), nullptr);
    EXPECT_EQ(ce.get<invalidation_completion>()->itag_vector, 0x8000'0001u);
}

TEST(ats_extension, clone_and_copy_from_round_trip_every_message) {
    const ats_message messages[] = {std::monostate{}, sample_request(), sample_completion(),
                                    sample_invalidation(), sample_inv_completion()};
    for (const auto& m : messages) {
        const ats_extension original{m};
        std::unique_ptr<::tlm::tlm_extension_base, void (*)(::tlm::tlm_extension_base*)> copy(
            original.clone(), [](::tlm::tlm_extension_base* p) { p->free(); });
        auto* typed = dynamic_cast<ats_extension*>(copy.get());
        ASSERT_NE(typed, nullptr);
        EXPECT_EQ(*typed, original);

        ats_extension target{sample_inv_completion()};
        target.copy_from(original);
        EXPECT_EQ(target, original);
        EXPECT_EQ(target.kind(), original.kind());
    }
}

TEST(ats_extension, scoped_on_a_payload) {
    ::tlm::tlm_generic_payload gp;
    EXPECT_EQ(find_ats_extension(gp), nullptr);
    {
        scoped_extension<ats_extension> guard(gp, ats_extension{sample_request()});
        const ats_extension* e = find_ats_extension(gp);
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(e->kind(), ats_kind::translation_request);
    }
    EXPECT_EQ(find_ats_extension(gp), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Both ATS paths and a DMA with our extension, through real TLM-2.0 sockets. (The only test in
// this binary that runs the SystemC kernel.)

// Plays the SMMU on the translation path and the device on the invalidation path.
struct ats_target : sc_core::sc_module {
    tlm_utils::simple_target_socket<ats_target> socket;
    std::optional<translation_request> seen_request;
    std::optional<invalidation_request> seen_invalidation;
    std::optional<smmu_extension> seen_dma_identity;

    explicit ats_target(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , socket("socket") {
        socket.register_b_transport(this, &ats_target::b_transport);
    }

    void b_transport(::tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
        if (const smmu_extension* id = find_extension(gp))
            seen_dma_identity = *id;
        ats_extension* ext = gp.get_extension<ats_extension>();
        if (ext == nullptr) {
            gp.set_response_status(::tlm::TLM_OK_RESPONSE); // plain DMA
            return;
        }
        if (const auto* req = ext->get<translation_request>()) {
            seen_request = *req;
            translation_completion c;
            c.translated_address = 0x8020'0000ull;
            c.size = 0x20'0000;
            c.permissions = req->requested();
            c.permissions.execute = false; // e.g. the page is not executable
            ext->message = c;
            delay += sc_core::sc_time(10, sc_core::SC_NS);
        } else if (const auto* inv = ext->get<invalidation_request>()) {
            seen_invalidation = *inv;
            invalidation_completion c;
            c.stream_id = inv->stream_id;
            c.itag_vector = std::uint32_t{1} << inv->itag;
            ext->message = c;
            delay += sc_core::sc_time(2, sc_core::SC_US);
        } else {
            gp.set_response_status(::tlm::TLM_COMMAND_ERROR_RESPONSE);
            return;
        }
        gp.set_response_status(::tlm::TLM_OK_RESPONSE);
    }
};

struct ats_initiator : sc_core::sc_module {
    tlm_utils::simple_initiator_socket<ats_initiator> socket;
    std::optional<translation_completion> completion;
    std::optional<invalidation_completion> inv_completion;
    bool translation_extension_removed = false;
    bool invalidation_extension_removed = false;
    bool dma_extension_removed = false;
    ::tlm::tlm_response_status empty_status = ::tlm::TLM_INCOMPLETE_RESPONSE;
    sc_core::sc_time translation_delay;
    sc_core::sc_time invalidation_delay;

    explicit ats_initiator(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name)
        , socket("socket") {
        SC_HAS_PROCESS(ats_initiator);
        SC_THREAD(run);
    }

    void run() {
        ::tlm::tlm_generic_payload gp;
        gp.set_command(::tlm::TLM_IGNORE_COMMAND);
        gp.set_data_ptr(nullptr);
        gp.set_data_length(0);
        gp.set_streaming_width(0);

        // Translation Request -> Completion
        {
            gp.set_address(sample_request().address);
            gp.set_response_status(::tlm::TLM_INCOMPLETE_RESPONSE);
            scoped_extension<ats_extension> ext(gp, ats_extension{sample_request()});
            socket->b_transport(gp, translation_delay);
            if (const auto* c = ext.get().get<translation_completion>())
                completion = *c;
        }
        translation_extension_removed = find_ats_extension(gp) == nullptr;

        // Invalidate Request -> Completion
        {
            gp.set_address(sample_invalidation().address);
            gp.set_response_status(::tlm::TLM_INCOMPLETE_RESPONSE);
            scoped_extension<ats_extension> ext(gp, ats_extension{sample_invalidation()});
            socket->b_transport(gp, invalidation_delay);
            if (const auto* c = ext.get().get<invalidation_completion>())
                inv_completion = *c;
        }
        invalidation_extension_removed = find_ats_extension(gp) == nullptr;

        // An ATS payload with no message is refused.
        {
            gp.set_response_status(::tlm::TLM_INCOMPLETE_RESPONSE);
            scoped_extension<ats_extension> ext(gp, ats_extension{});
            sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
            socket->b_transport(gp, delay);
            empty_status = gp.get_response_status();
        }

        // A DMA carrying identity only.
        {
            smmu_extension id;
            id.stream_id = 0x42;
            id.substream_id = 0x15;
            id.ats = ats_type::translated;
            scoped_smmu_extension ext(gp, id);
            gp.set_command(::tlm::TLM_READ_COMMAND);
            sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
            socket->b_transport(gp, delay);
        }
        dma_extension_removed = find_extension(gp) == nullptr;
    }
};

TEST(ats_sockets, both_paths_round_trip_through_tlm_sockets) {
    ats_initiator initiator("initiator");
    ats_target target("target");
    initiator.socket.bind(target.socket);
    sc_core::sc_start();

    ASSERT_TRUE(target.seen_request.has_value());
    EXPECT_EQ(*target.seen_request, sample_request());
    ASSERT_TRUE(initiator.completion.has_value());
    EXPECT_EQ(initiator.completion->status, ats_status::success);
    EXPECT_EQ(initiator.completion->translated_address, 0x8020'0000ull);
    EXPECT_EQ(initiator.completion->size, 0x20'0000u);
    EXPECT_EQ(initiator.completion->permissions, (ats_permissions{true, true, false, true}));
    EXPECT_TRUE(is_valid(*initiator.completion));
    EXPECT_EQ(initiator.translation_delay, sc_core::sc_time(10, sc_core::SC_NS));
    EXPECT_TRUE(initiator.translation_extension_removed);

    ASSERT_TRUE(target.seen_invalidation.has_value());
    EXPECT_EQ(*target.seen_invalidation, sample_invalidation());
    ASSERT_TRUE(initiator.inv_completion.has_value());
    EXPECT_EQ(initiator.inv_completion->itag_vector, 0x8000'0000u); // ITag 31
    EXPECT_EQ(initiator.inv_completion->stream_id, 0x42u);
    EXPECT_EQ(initiator.invalidation_delay, sc_core::sc_time(2, sc_core::SC_US));
    EXPECT_TRUE(initiator.invalidation_extension_removed);

    EXPECT_EQ(initiator.empty_status, ::tlm::TLM_COMMAND_ERROR_RESPONSE);

    ASSERT_TRUE(target.seen_dma_identity.has_value());
    EXPECT_EQ(target.seen_dma_identity->stream_id, 0x42u);
    EXPECT_EQ(target.seen_dma_identity->substream_id, 0x15u);
    EXPECT_EQ(target.seen_dma_identity->ats, ats_type::translated);
    EXPECT_TRUE(initiator.dma_extension_removed);
}

} // namespace
