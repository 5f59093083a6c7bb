#include <cstdint>
#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>

#include <tlm>

#include "model/tlm/smmu_extension.h"

namespace {

using smmu::tlm_ext::ats_type;
using smmu::tlm_ext::find_extension;
using smmu::tlm_ext::scoped_extension;
using smmu::tlm_ext::scoped_smmu_extension;
using smmu::tlm_ext::smmu_extension;

smmu_extension sample() {
    smmu_extension e;
    e.stream_id = 0x1234;
    e.substream_id = 7;
    e.privileged = true;
    e.instruction = true;
    e.secure = true;
    e.ats = ats_type::translated;
    return e;
}

// ---------------------------------------------------------------------------------------------
// Defaults and value semantics

TEST(smmu_extension, defaults_mean_port_default_and_plain_dma) {
    const smmu_extension e;
    EXPECT_FALSE(e.stream_id.has_value());
    EXPECT_FALSE(e.substream_id.has_value());
    EXPECT_FALSE(e.privileged);
    EXPECT_FALSE(e.instruction);
    EXPECT_FALSE(e.secure);
    EXPECT_EQ(e.ats, ats_type::untranslated);
}

TEST(smmu_extension, equality_looks_at_every_field) {
    const smmu_extension base = sample();
    EXPECT_EQ(base, sample());
    smmu_extension e = sample();
    e.stream_id.reset();
    EXPECT_NE(e, base);
    e = sample();
    e.stream_id = 0x1235;
    EXPECT_NE(e, base);
    e = sample();
    e.substream_id.reset();
    EXPECT_NE(e, base);
    e = sample();
    e.privileged = false;
    EXPECT_NE(e, base);
    e = sample();
    e.instruction = false;
    EXPECT_NE(e, base);
    e = sample();
    e.secure = false;
    EXPECT_NE(e, base);
    e = sample();
    e.ats = ats_type::translation_request;
    EXPECT_NE(e, base);
}

TEST(smmu_extension, stream_id_zero_is_distinct_from_absent) {
    smmu_extension zero;
    zero.stream_id = 0;
    EXPECT_NE(zero, smmu_extension{});
}

TEST(smmu_extension, clone_is_an_independent_equal_copy) {
    const smmu_extension original = sample();
    std::unique_ptr<::tlm::tlm_extension_base, void (*)(::tlm::tlm_extension_base*)> copy(
        original.clone(), [](::tlm::tlm_extension_base* p) { p->free(); });
    auto* typed = dynamic_cast<smmu_extension*>(copy.get());
    ASSERT_NE(typed, nullptr);
    EXPECT_NE(typed, &original);
    EXPECT_EQ(*typed, original);
    typed->stream_id = 99;
    EXPECT_EQ(original.stream_id, 0x1234u);
}

TEST(smmu_extension, copy_from_overwrites_every_field_including_absent_ids) {
    smmu_extension target = sample();
    const smmu_extension source; // all defaults: absent ids must be copied as absent
    target.copy_from(source);
    EXPECT_EQ(target, source);
    EXPECT_FALSE(target.stream_id.has_value());

    smmu_extension other;
    other.copy_from(sample());
    EXPECT_EQ(other, sample());
}

TEST(smmu_extension, ats_type_names) {
    EXPECT_STREQ(smmu::tlm_ext::to_string(ats_type::untranslated), "untranslated");
    EXPECT_STREQ(smmu::tlm_ext::to_string(ats_type::translation_request), "translation_request");
    EXPECT_STREQ(smmu::tlm_ext::to_string(ats_type::translated), "translated");
}

// ---------------------------------------------------------------------------------------------
// Payload helpers

TEST(smmu_extension, find_extension_on_a_bare_payload_is_null) {
    const ::tlm::tlm_generic_payload gp;
    EXPECT_EQ(find_extension(gp), nullptr);
}

TEST(smmu_extension, payload_deep_copy_clones_the_extension) {
    ::tlm::tlm_generic_payload source;
    scoped_smmu_extension guard(source, sample());
    ::tlm::tlm_generic_payload copy; // owns what deep_copy_from clones; frees it on destruction
    copy.deep_copy_from(source);
    const smmu_extension* cloned = find_extension(copy);
    ASSERT_NE(cloned, nullptr);
    EXPECT_NE(cloned, &guard.get());
    EXPECT_EQ(*cloned, sample());
}

TEST(smmu_extension, payload_deep_copy_into_existing_extension_uses_copy_from) {
    ::tlm::tlm_generic_payload source;
    scoped_smmu_extension src_guard(source, sample());
    ::tlm::tlm_generic_payload target;
    scoped_smmu_extension dst_guard(target, smmu_extension{});
    target.deep_copy_from(source);
    EXPECT_EQ(find_extension(target), &dst_guard.get()); // same object, updated in place
    EXPECT_EQ(dst_guard.get(), sample());
}

// ---------------------------------------------------------------------------------------------
// scoped_extension

TEST(scoped_extension, attaches_for_the_scope_and_removes_after) {
    ::tlm::tlm_generic_payload gp;
    {
        scoped_smmu_extension guard(gp, sample());
        const smmu_extension* seen = find_extension(gp);
        ASSERT_NE(seen, nullptr);
        EXPECT_EQ(seen, &guard.get());
        EXPECT_EQ(*seen, sample());
        EXPECT_EQ(guard.previous(), nullptr);
    }
    EXPECT_EQ(find_extension(gp), nullptr);
}

TEST(scoped_extension, holds_a_copy_of_the_value) {
    ::tlm::tlm_generic_payload gp;
    smmu_extension value = sample();
    scoped_smmu_extension guard(gp, value);
    value.stream_id = 1;
    EXPECT_EQ(find_extension(gp)->stream_id, 0x1234u);
    guard->stream_id = 2; // changes through the guard are visible on the payload
    EXPECT_EQ(find_extension(gp)->stream_id, 2u);
}

TEST(scoped_extension, restores_the_extension_it_replaced) {
    ::tlm::tlm_generic_payload gp;
    smmu_extension owners; // e.g. the initiator's own extension, not to be lost
    owners.stream_id = 5;
    gp.set_extension(&owners);
    {
        smmu_extension mine;
        mine.stream_id = 6;
        scoped_smmu_extension guard(gp, mine);
        EXPECT_EQ(guard.previous(), &owners);
        EXPECT_EQ(find_extension(gp)->stream_id, 6u);
    }
    EXPECT_EQ(find_extension(gp), &owners);
    gp.clear_extension(&owners); // the payload must not free a stack object
}

TEST(scoped_extension, nests) {
    ::tlm::tlm_generic_payload gp;
    smmu_extension a;
    a.stream_id = 1;
    smmu_extension b;
    b.stream_id = 2;
    {
        scoped_smmu_extension outer(gp, a);
        {
            scoped_smmu_extension inner(gp, b);
            EXPECT_EQ(find_extension(gp)->stream_id, 2u);
        }
        EXPECT_EQ(find_extension(gp), &outer.get());
    }
    EXPECT_EQ(find_extension(gp), nullptr);
}

TEST(scoped_extension, removes_on_exception) {
    ::tlm::tlm_generic_payload gp;
    try {
        scoped_smmu_extension guard(gp, sample());
        throw std::runtime_error("unwind");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(find_extension(gp), nullptr);
}

TEST(scoped_extension, leaves_other_extension_types_alone) {
    struct other_ext : ::tlm::tlm_extension<other_ext> {
        int v = 0;
        ::tlm::tlm_extension_base* clone() const override { return new other_ext(*this); }
        void copy_from(const ::tlm::tlm_extension_base& o) override {
            v = static_cast<const other_ext&>(o).v;
        }
    };
    ::tlm::tlm_generic_payload gp;
    other_ext o;
    o.v = 42;
    gp.set_extension(&o);
    {
        scoped_smmu_extension guard(gp, sample());
        EXPECT_EQ(gp.get_extension<other_ext>(), &o);
    }
    EXPECT_EQ(gp.get_extension<other_ext>(), &o);
    EXPECT_EQ(find_extension(gp), nullptr);
    gp.clear_extension(&o);
}

// A target that behaves like the SMMU's upstream socket: identity from the extension, or the
// port default when there is none.
std::uint32_t effective_stream_id(const ::tlm::tlm_generic_payload& gp,
                                  std::uint32_t port_default) {
    const smmu_extension* ext = find_extension(gp);
    return ext != nullptr && ext->stream_id ? *ext->stream_id : port_default;
}

TEST(scoped_extension, missing_stream_id_falls_back_to_the_port_default) {
    ::tlm::tlm_generic_payload gp;
    EXPECT_EQ(effective_stream_id(gp, 0x40), 0x40u); // no extension at all
    {
        scoped_smmu_extension guard(gp, smmu_extension{}); // extension without a StreamID
        EXPECT_EQ(effective_stream_id(gp, 0x40), 0x40u);
        guard->stream_id = 0; // explicit 0 wins over the default
        EXPECT_EQ(effective_stream_id(gp, 0x40), 0u);
    }
}

// ---------------------------------------------------------------------------------------------
// The VCML-style adapter example

struct fake_sbi { // the field shapes of vcml::tlm_sbi (bit-fields and u64s)
    std::uint64_t is_insn : 1;
    std::uint64_t is_secure : 1;
    std::uint64_t atype : 2;
    std::uint64_t cpuid;
    std::uint64_t privilege;
    std::uint64_t asid;
};

fake_sbi sbi_none() {
    return fake_sbi{0, 0, 0, 0, 0, ~std::uint64_t{0}};
}

TEST(from_sbi_like, defaults) {
    const auto e = smmu::tlm_ext::from_sbi_like(sbi_none());
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->stream_id, 0u); // present: the caller only adapts payloads carrying sbiext
    EXPECT_FALSE(e->substream_id.has_value());
    EXPECT_FALSE(e->privileged);
    EXPECT_FALSE(e->secure);
    EXPECT_FALSE(e->instruction);
    EXPECT_EQ(e->ats, ats_type::untranslated);
}

TEST(from_sbi_like, every_field) {
    fake_sbi s = sbi_none();
    s.cpuid = 0x2A;
    s.asid = 0x3;
    s.privilege = 1;
    s.is_secure = 1;
    s.is_insn = 1;
    s.atype = 2;
    const auto e = smmu::tlm_ext::from_sbi_like(s);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->stream_id, 0x2Au);
    EXPECT_EQ(e->substream_id, 3u);
    EXPECT_TRUE(e->privileged);
    EXPECT_TRUE(e->secure);
    EXPECT_TRUE(e->instruction);
    EXPECT_EQ(e->ats, ats_type::translated);
}

TEST(from_sbi_like, address_types) {
    fake_sbi s = sbi_none();
    s.atype = 1;
    EXPECT_EQ(smmu::tlm_ext::from_sbi_like(s)->ats, ats_type::translation_request);
    s.atype = 3; // not defined by VCML
    EXPECT_EQ(smmu::tlm_ext::from_sbi_like(s)->ats, ats_type::untranslated);
    s.atype = 0;
    EXPECT_EQ(smmu::tlm_ext::from_sbi_like(s)->ats, ats_type::untranslated);
}

TEST(from_sbi_like, privilege_levels_above_zero_are_privileged) {
    fake_sbi s = sbi_none();
    s.privilege = 3;
    EXPECT_TRUE(smmu::tlm_ext::from_sbi_like(s)->privileged);
}

TEST(from_sbi_like, ids_wider_than_32_bits_are_rejected) {
    fake_sbi s = sbi_none();
    s.cpuid = 0xFFFFFFFFull;
    EXPECT_TRUE(smmu::tlm_ext::from_sbi_like(s).has_value());
    s.cpuid = 0x100000000ull;
    EXPECT_FALSE(smmu::tlm_ext::from_sbi_like(s).has_value());
    s = sbi_none();
    s.asid = 0xFFFFFFFFull;
    EXPECT_EQ(smmu::tlm_ext::from_sbi_like(s)->substream_id, 0xFFFFFFFFu);
    s.asid = 0x100000000ull;
    EXPECT_FALSE(smmu::tlm_ext::from_sbi_like(s).has_value());
}

} // namespace
