#include <map>

#include <gtest/gtest.h>

#include "model/arch/stream_table.h"
#include "model/arch/walk_config.h"

namespace smmu::arch {
namespace {

cd sample_cd() {
    cd c;
    c.v = true;
    c.aa64 = true;
    c.t0sz = 25;
    c.tg0 = tg0_encoding::size_16k;
    c.t1sz = 20;
    c.tg1 = tg1_encoding::size_64k;
    c.ips = pa_size_encoding::bits_52;
    c.tbi0 = true;
    c.affd = true;
    c.had0 = true;
    c.had1 = true;
    c.wxn = true;
    c.pan = true;
    c.asid = 0x1234;
    c.aset = true;
    c.ttb0 = 0x81230000;
    c.ttb1 = 0x91230000;
    c.sh0 = shareability_encoding::inner;
    return c;
}

TEST(walk_config, stage1_fields_come_from_the_cd) {
    feature_set f{};
    f.oas_bits = 48;
    const stage1_config s = make_stage1_config(sample_cd(), stream_world::ns_el1, f, false);
    EXPECT_EQ(s.ttb0, 0x81230000u);
    EXPECT_EQ(s.ttb1, 0x91230000u);
    EXPECT_EQ(s.t0sz, 25u);
    EXPECT_EQ(s.t1sz, 20u);
    EXPECT_EQ(s.tg0, granule::size_16k);
    EXPECT_EQ(s.tg1, granule::size_64k) << "TG1 has its own encoding";
    EXPECT_FALSE(s.epd0);
    EXPECT_FALSE(s.epd1);
    EXPECT_TRUE(s.tbi0);
    EXPECT_FALSE(s.tbi1);
    EXPECT_EQ(s.ips_bits, 48u) << "IPS 52 is capped at the OAS";
    EXPECT_TRUE(s.affd);
    EXPECT_TRUE(s.had0);
    EXPECT_TRUE(s.had1);
    EXPECT_TRUE(s.wxn);
    EXPECT_TRUE(s.pan);
    EXPECT_EQ(s.asid, 0x1234u);
    EXPECT_TRUE(s.aset);
    EXPECT_EQ(s.sh0, 3u);
    EXPECT_EQ(s.regime, s1_regime::two_el);
}

TEST(walk_config, stage1_depends_on_features_and_world) {
    feature_set f{};
    f.had = false;
    f.asid16 = false;
    f.oas_bits = 52;
    f.ttf_aarch32 = false;
    cd c = sample_cd();
    c.epd1 = true;
    const stage1_config s = make_stage1_config(c, stream_world::ns_el1, f, false);
    EXPECT_FALSE(s.had0) << "HAD ignored without IDR3.HAD";
    EXPECT_EQ(s.asid, 0x34u) << "8-bit ASIDs";
    EXPECT_TRUE(s.epd1);
    EXPECT_EQ(s.ips_bits, 52u);
    f.oas_bits = 44;
    EXPECT_EQ(make_stage1_config(c, stream_world::ns_el1, f, true).ips_bits, 44u);
    const stage1_config el2 = make_stage1_config(c, stream_world::ns_el2, f, false);
    EXPECT_EQ(el2.regime, s1_regime::single_el);
    EXPECT_TRUE(el2.epd1) << "NS-EL2 has no TTB1";
}

TEST(walk_config, stage2_fields_come_from_the_ste) {
    feature_set f{};
    f.oas_bits = 44;
    f.xnx = true;
    f.stt = true;
    ste s;
    s.v = true;
    s.config = ste_config::s2_translate;
    s.s2_aa64 = true;
    s.s2_t0sz = 24;
    s.s2_sl0 = 1;
    s.s2_tg = tg0_encoding::size_64k;
    s.s2_ps = pa_size_encoding::bits_48;
    s.s2_affd = true;
    s.s2_ptw = true;
    s.s2_sh0 = shareability_encoding::outer;
    s.s2_vmid = 77;
    s.s2_ttb = 0x44440000;
    s.s2_sl0_2 = true; // ignored without DS
    const stage2_config c = make_stage2_config(s, f);
    EXPECT_EQ(c.ttb, 0x44440000u);
    EXPECT_EQ(c.t0sz, 24u);
    EXPECT_EQ(c.sl0, 1u);
    EXPECT_FALSE(c.sl2);
    EXPECT_EQ(c.tg, granule::size_64k);
    EXPECT_EQ(c.ps_bits, 44u) << "min(S2PS, OAS)";
    EXPECT_TRUE(c.affd);
    EXPECT_TRUE(c.ptw);
    EXPECT_TRUE(c.xnx);
    EXPECT_TRUE(c.stt);
    EXPECT_FALSE(c.ds);
    EXPECT_EQ(c.sh, 2u);
    EXPECT_EQ(c.vmid, 77u);
}

/// Memory the SMMU reads: STE, CD and page tables as encoded words.
class word_memory : public walk_memory {
public:
    void write(phys_addr pa, std::uint64_t v) { m_words[pa] = v; }
    void write_structure(phys_addr pa, const structure_words& w) {
        for (std::size_t i = 0; i < w.size(); ++i)
            write(pa + 8 * i, w[i]);
    }
    structure_words read_structure(phys_addr pa) const {
        structure_words w{};
        for (std::size_t i = 0; i < w.size(); ++i)
            w[i] = value(pa + 8 * i);
        return w;
    }
    descriptor_read read_descriptor(phys_addr pa, stage, int) override {
        return {value(pa), false};
    }

private:
    std::uint64_t value(phys_addr pa) const {
        const auto it = m_words.find(pa);
        return it == m_words.end() ? 0 : it->second;
    }
    std::map<phys_addr, std::uint64_t> m_words;
};

TEST(walk_config, end_to_end_from_stream_table_to_physical_address) {
    const feature_set f{};
    word_memory mem;
    ste s;
    s.v = true;
    s.config = ste_config::s1_translate;
    s.s1_context_ptr = 0x20000;
    cd c;
    c.v = true;
    c.aa64 = true;
    c.t0sz = 25; // 39-bit VA, 4K: start at level 1
    c.tg0 = tg0_encoding::size_4k;
    c.epd1 = true;
    c.ips = pa_size_encoding::bits_48;
    c.asid = 3;
    c.ttb0 = 0x30000;
    const stream_table_config st{0x10000, 8, 6, 0, f.sid_bits};
    mem.write_structure(0x10000 + 64 * 9, encode_ste(s));
    mem.write_structure(0x20000, encode_cd(c));
    // VA 0x40201000: L1 index 1, L2 index 1, L3 index 1.
    mem.write(0x30000 + 8 * 1, 0x31000 | 3);
    mem.write(0x31000 + 8 * 1, 0x32000 | 3);
    mem.write(0x32000 + 8 * 1, 0x87654000ull | (1 << 11) | (1 << 10) | (1 << 6) | 3); // nG, AF

    const ste_lookup where = locate_ste(st, 9);
    ASSERT_EQ(where.status, ste_lookup_status::ste);
    const ste got_ste = decode_ste(mem.read_structure(where.address));
    ASSERT_EQ(validate_ste(got_ste, f), ste_illegal_reason::none);
    const cd_lookup cd_at = locate_cd(make_cd_table_config(got_ste, f), std::nullopt);
    ASSERT_EQ(cd_at.status, cd_lookup_status::cd);
    const cd got_cd = decode_cd(mem.read_structure(cd_at.address));
    ASSERT_EQ(validate_cd(got_cd, f, make_cd_check_context(got_ste, f, ste_check_context{})),
              cd_illegal_reason::none);

    const stage1_config s1 = make_stage1_config(got_cd, stream_world::ns_el1, f, false);
    walk_request req;
    req.input_address = 0x40201abc;
    req.s1 = &s1;
    const walk_outcome out = walk(req, mem);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out.result.output_address, 0x87654abcu);
    EXPECT_EQ(out.result.tag.asid, asid_t{3});
    EXPECT_EQ(out.reads.total(), 3u);
}

} // namespace
} // namespace smmu::arch
