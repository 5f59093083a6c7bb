#include "model/arch/cd.h"

#include <algorithm>
#include <tuple>
#include <type_traits>

#include "model/arch/bits.h"

namespace smmu::arch {

namespace {

// Word 0
constexpr field k_t0sz{5, 0};
constexpr field k_tg0{7, 6};
constexpr field k_ir0{9, 8};
constexpr field k_or0{11, 10};
constexpr field k_sh0{13, 12};
constexpr field k_epd0 = bit(14);
constexpr field k_endi = bit(15);
constexpr field k_t1sz{21, 16};
constexpr field k_tg1{23, 22};
constexpr field k_ir1{25, 24};
constexpr field k_or1{27, 26};
constexpr field k_sh1{29, 28};
constexpr field k_epd1 = bit(30);
constexpr field k_v = bit(31);
constexpr field k_ips{34, 32};
constexpr field k_affd = bit(35);
constexpr field k_wxn = bit(36);
constexpr field k_uwxn = bit(37);
constexpr field k_tbi0 = bit(38);
constexpr field k_tbi1 = bit(39);
constexpr field k_pan = bit(40);
constexpr field k_aa64 = bit(41);
constexpr field k_hd = bit(42);
constexpr field k_ha = bit(43);
constexpr field k_s = bit(44);
constexpr field k_r = bit(45);
constexpr field k_a = bit(46);
constexpr field k_aset = bit(47);
constexpr field k_asid{63, 48};

// Words 1 and 2 share their layout for the TTB0 / TTB1 halves.
constexpr field k_nscfg = bit(0);
constexpr field k_had = bit(1);
constexpr field k_e0pd = bit(2);
constexpr field k_haft = bit(3); // word 1 only
constexpr std::uint64_t k_ttb_mask = bit_mask(51, 4);
constexpr field k_ds = bit(58); // word 2 only
constexpr field k_hwu59 = bit(60);
constexpr field k_hwu60 = bit(61);
constexpr field k_hwu61 = bit(62);
constexpr field k_hwu62 = bit(63);

// Words 3-5
constexpr field k_low32{31, 0};
constexpr field k_high32{63, 32};
constexpr field k_partid{47, 32};
constexpr field k_pmg{55, 48};

using namespace enc;

auto as_tuple(const cd& c) {
    return std::tie(c.t0sz, c.tg0, c.ir0, c.or0, c.sh0, c.epd0, c.endi, c.t1sz, c.tg1, c.ir1, c.or1,
                    c.sh1, c.epd1, c.v, c.ips, c.affd, c.wxn, c.uwxn, c.tbi0, c.tbi1, c.pan, c.aa64,
                    c.hd, c.ha, c.s, c.r, c.a, c.aset, c.asid, c.nscfg0, c.had0, c.e0pd0, c.haft,
                    c.ttb0, c.hwu059, c.hwu060, c.hwu061, c.hwu062, c.nscfg1, c.had1, c.e0pd1,
                    c.ttb1, c.ds, c.hwu159, c.hwu160, c.hwu161, c.hwu162, c.mair0, c.mair1,
                    c.amair0, c.amair1, c.imp_def, c.partid, c.pmg);
}

std::uint64_t encode_w0(const cd& c) {
    std::uint64_t w = 0;
    w = k_t0sz.set(w, c.t0sz);
    w = k_tg0.set(w, raw(c.tg0));
    w = k_ir0.set(w, raw(c.ir0));
    w = k_or0.set(w, raw(c.or0));
    w = k_sh0.set(w, raw(c.sh0));
    w = k_epd0.set(w, flag(c.epd0));
    w = k_endi.set(w, flag(c.endi));
    w = k_t1sz.set(w, c.t1sz);
    w = k_tg1.set(w, raw(c.tg1));
    w = k_ir1.set(w, raw(c.ir1));
    w = k_or1.set(w, raw(c.or1));
    w = k_sh1.set(w, raw(c.sh1));
    w = k_epd1.set(w, flag(c.epd1));
    w = k_v.set(w, flag(c.v));
    w = k_ips.set(w, raw(c.ips));
    w = k_affd.set(w, flag(c.affd));
    w = k_wxn.set(w, flag(c.wxn));
    w = k_uwxn.set(w, flag(c.uwxn));
    w = k_tbi0.set(w, flag(c.tbi0));
    w = k_tbi1.set(w, flag(c.tbi1));
    w = k_pan.set(w, flag(c.pan));
    w = k_aa64.set(w, flag(c.aa64));
    w = k_hd.set(w, flag(c.hd));
    w = k_ha.set(w, flag(c.ha));
    w = k_s.set(w, flag(c.s));
    w = k_r.set(w, flag(c.r));
    w = k_a.set(w, flag(c.a));
    w = k_aset.set(w, flag(c.aset));
    w = k_asid.set(w, c.asid);
    return w;
}

void decode_w0(std::uint64_t w, cd& c) {
    c.t0sz = u8(k_t0sz.get(w));
    c.tg0 = as<tg0_encoding>(k_tg0.get(w));
    c.ir0 = as<walk_cacheability>(k_ir0.get(w));
    c.or0 = as<walk_cacheability>(k_or0.get(w));
    c.sh0 = as<shareability_encoding>(k_sh0.get(w));
    c.epd0 = k_epd0.get(w) != 0;
    c.endi = k_endi.get(w) != 0;
    c.t1sz = u8(k_t1sz.get(w));
    c.tg1 = as<tg1_encoding>(k_tg1.get(w));
    c.ir1 = as<walk_cacheability>(k_ir1.get(w));
    c.or1 = as<walk_cacheability>(k_or1.get(w));
    c.sh1 = as<shareability_encoding>(k_sh1.get(w));
    c.epd1 = k_epd1.get(w) != 0;
    c.v = k_v.get(w) != 0;
    c.ips = as<pa_size_encoding>(k_ips.get(w));
    c.affd = k_affd.get(w) != 0;
    c.wxn = k_wxn.get(w) != 0;
    c.uwxn = k_uwxn.get(w) != 0;
    c.tbi0 = k_tbi0.get(w) != 0;
    c.tbi1 = k_tbi1.get(w) != 0;
    c.pan = k_pan.get(w) != 0;
    c.aa64 = k_aa64.get(w) != 0;
    c.hd = k_hd.get(w) != 0;
    c.ha = k_ha.get(w) != 0;
    c.s = k_s.get(w) != 0;
    c.r = k_r.get(w) != 0;
    c.a = k_a.get(w) != 0;
    c.aset = k_aset.get(w) != 0;
    c.asid = u16(k_asid.get(w));
}

/// The fields word 1 (TTB0) and word 2 (TTB1) have in common.
struct ttb_half {
    bool nscfg;
    bool had;
    bool e0pd;
    phys_addr ttb;
    bool hwu59;
    bool hwu60;
    bool hwu61;
    bool hwu62;
};

std::uint64_t encode_half(const ttb_half& h) {
    std::uint64_t w = 0;
    w = k_nscfg.set(w, flag(h.nscfg));
    w = k_had.set(w, flag(h.had));
    w = k_e0pd.set(w, flag(h.e0pd));
    w |= h.ttb & k_ttb_mask;
    w = k_hwu59.set(w, flag(h.hwu59));
    w = k_hwu60.set(w, flag(h.hwu60));
    w = k_hwu61.set(w, flag(h.hwu61));
    w = k_hwu62.set(w, flag(h.hwu62));
    return w;
}

ttb_half decode_half(std::uint64_t w) {
    return ttb_half{k_nscfg.get(w) != 0, k_had.get(w) != 0,   k_e0pd.get(w) != 0,
                    w & k_ttb_mask,      k_hwu59.get(w) != 0, k_hwu60.get(w) != 0,
                    k_hwu61.get(w) != 0, k_hwu62.get(w) != 0};
}

std::uint64_t pack32(std::uint32_t low, std::uint32_t high) {
    return k_high32.set(k_low32.set(0, low), high);
}

bool is_4k_or_16k(std::optional<granule> g) {
    return g == granule::size_4k || g == granule::size_16k;
}

bool granule_supported(granule g, const feature_set& f) {
    switch (g) {
    case granule::size_4k:
        return f.gran4k;
    case granule::size_16k:
        return f.gran16k;
    case granule::size_64k:
        return f.gran64k;
    }
    return false;
}

/// TxSZ range for VMSAv8-64 (IHI0070 §5.4 CD.T0SZ; CDTxSZInvalid).
bool txsz_in_range(unsigned txsz, std::optional<granule> g, const cd& c, const feature_set& f) {
    const unsigned max = !f.stt ? 39u : (is_4k_or_16k(g) ? 48u : 47u);
    const bool va52 = f.vax52 && (g == granule::size_64k || (f.ds && c.ds));
    const unsigned min = va52 ? 12u : 16u;
    return txsz >= min && txsz <= max;
}

/// Highest TTBx address bit + 1 that is legal for this CD and granule.
unsigned ttb_range_bits(const cd& c, std::optional<granule> g, const feature_set& f) {
    unsigned bits = effective_ips_bits(c, f);
    if (c.aa64 && is_4k_or_16k(g) && !(f.ds && c.ds))
        bits = std::min(bits, 48u);
    return bits;
}

std::optional<cd_illegal_reason> check_fault_model(const cd& c, const feature_set& f,
                                                   const cd_check_context& ctx) {
    if (ctx.s1_stalld && c.s)
        return cd_illegal_reason::stall_disabled_by_ste;
    if (f.term_model && !c.a)
        return cd_illegal_reason::abort_required;
    if (f.stalls == stall_model::terminate_only && c.s)
        return cd_illegal_reason::stall_not_supported;
    if (f.stalls == stall_model::stall_forced && !c.s)
        return cd_illegal_reason::stall_required;
    return std::nullopt;
}

std::optional<cd_illegal_reason> check_format(const cd& c, const feature_set& f,
                                              const cd_check_context& ctx) {
    if (!c.aa64 && !f.ttf_aarch32)
        return cd_illegal_reason::aarch32_not_supported;
    if (!c.aa64 && ctx.world == stream_world::ns_el2_e2h)
        return cd_illegal_reason::aarch32_not_allowed;
    if (c.aa64 && !f.ttf_aarch64)
        return cd_illegal_reason::aarch64_not_supported;
    if (c.aa64 && ctx.s2_aarch32)
        return cd_illegal_reason::aarch64_over_aarch32_stage2;
    if (!c.aa64)
        return std::nullopt; // HA/HD/HAFT are IGNORED for VMSAv8-32
    if ((c.ha || c.hd) && f.httu == httu_level::none)
        return cd_illegal_reason::httu_not_supported;
    if (c.hd && f.httu == httu_level::access_flag)
        return cd_illegal_reason::hd_not_supported;
    if (c.haft && !c.ha && f.httu == httu_level::haft)
        return cd_illegal_reason::haft_without_ha;
    return std::nullopt;
}

struct ttb_view {
    std::optional<granule> g;
    bool reserved_tg;
    phys_addr ttb;
};

std::optional<cd_illegal_reason> check_ttb(const cd& c, const feature_set& f, const ttb_view& t,
                                           cd_illegal_reason reserved,
                                           cd_illegal_reason not_supported,
                                           cd_illegal_reason out_of_range) {
    if (c.aa64) {
        if (t.reserved_tg)
            return reserved;
        if (!granule_supported(*t.g, f))
            return not_supported;
    }
    if ((t.ttb >> ttb_range_bits(c, t.g, f)) != 0)
        return out_of_range;
    return std::nullopt;
}

} // namespace

bool operator==(const cd& a, const cd& b) {
    return as_tuple(a) == as_tuple(b);
}

structure_words encode_cd(const cd& c) {
    structure_words w{};
    w[0] = encode_w0(c);
    w[1] = encode_half({c.nscfg0, c.had0, c.e0pd0, c.ttb0, c.hwu059, c.hwu060, c.hwu061, c.hwu062});
    w[1] = k_haft.set(w[1], flag(c.haft));
    w[2] = encode_half({c.nscfg1, c.had1, c.e0pd1, c.ttb1, c.hwu159, c.hwu160, c.hwu161, c.hwu162});
    w[2] = k_ds.set(w[2], flag(c.ds));
    w[3] = pack32(c.mair0, c.mair1);
    w[4] = pack32(c.amair0, c.amair1);
    w[5] = k_pmg.set(k_partid.set(k_low32.set(0, c.imp_def), c.partid), c.pmg);
    return w;
}

cd decode_cd(const structure_words& w) {
    cd c;
    decode_w0(w[0], c);
    const ttb_half h0 = decode_half(w[1]);
    c.nscfg0 = h0.nscfg;
    c.had0 = h0.had;
    c.e0pd0 = h0.e0pd;
    c.haft = k_haft.get(w[1]) != 0;
    c.ttb0 = h0.ttb;
    c.hwu059 = h0.hwu59;
    c.hwu060 = h0.hwu60;
    c.hwu061 = h0.hwu61;
    c.hwu062 = h0.hwu62;
    const ttb_half h1 = decode_half(w[2]);
    c.nscfg1 = h1.nscfg;
    c.had1 = h1.had;
    c.e0pd1 = h1.e0pd;
    c.ttb1 = h1.ttb;
    c.ds = k_ds.get(w[2]) != 0;
    c.hwu159 = h1.hwu59;
    c.hwu160 = h1.hwu60;
    c.hwu161 = h1.hwu61;
    c.hwu162 = h1.hwu62;
    c.mair0 = u32(k_low32.get(w[3]));
    c.mair1 = u32(k_high32.get(w[3]));
    c.amair0 = u32(k_low32.get(w[4]));
    c.amair1 = u32(k_high32.get(w[4]));
    c.imp_def = u32(k_low32.get(w[5]));
    c.partid = u16(k_partid.get(w[5]));
    c.pmg = u8(k_pmg.get(w[5]));
    return c;
}

unsigned effective_ips_bits(const cd& c, const feature_set& f) {
    if (!c.aa64)
        return 40;
    return std::min(pa_size_bits(c.ips), f.oas_bits);
}

bool cd_ttb0_enabled(const cd& c, stream_world world) {
    return world == stream_world::ns_el2 || !c.epd0;
}

bool cd_ttb1_enabled(const cd& c, stream_world world) {
    return world != stream_world::ns_el2 && !c.epd1;
}

cd_check_context make_cd_check_context(const ste& s, const feature_set& f,
                                       const ste_check_context& ctx) {
    cd_check_context out;
    out.world = ste_stream_world(s, f, ctx);
    out.s1_stalld = f.s1p && s.s1_stalld;
    out.s2_aarch32 = config_stage2_enabled(s.config) && !s.s2_aa64;
    return out;
}

cd_illegal_reason validate_cd(const cd& c, const feature_set& f, const cd_check_context& ctx) {
    if (!c.v)
        return cd_illegal_reason::not_valid;
    if (auto r = check_fault_model(c, f, ctx))
        return *r;
    const bool ttb0_on = cd_ttb0_enabled(c, ctx.world);
    const bool ttb1_on = cd_ttb1_enabled(c, ctx.world);
    const bool bad_endian =
        (f.endian == tt_endian::little && c.endi) || (f.endian == tt_endian::big && !c.endi);
    if ((ttb0_on || ttb1_on) && bad_endian)
        return cd_illegal_reason::endianness_not_supported;
    if (auto r = check_format(c, f, ctx))
        return *r;
    const bool asid_tagged = ctx.world != stream_world::ns_el2;
    if (asid_tagged && !f.asid16 && (c.asid >> 8) != 0)
        return cd_illegal_reason::asid_too_large;

    const auto g0 = granule_from_tg0(c.tg0);
    const auto g1 = granule_from_tg1(c.tg1);
    if (c.aa64) { // every VMSAv8-32 TxSZ value is in range
        if (ttb0_on && !txsz_in_range(c.t0sz, g0, c, f))
            return cd_illegal_reason::t0sz_out_of_range;
        if (ttb1_on && !txsz_in_range(c.t1sz, g1, c, f))
            return cd_illegal_reason::t1sz_out_of_range;
    }
    if (ttb0_on) {
        const ttb_view t{g0, !g0.has_value(), c.ttb0};
        if (auto r = check_ttb(c, f, t, cd_illegal_reason::tg0_reserved,
                               cd_illegal_reason::tg0_not_supported,
                               cd_illegal_reason::ttb0_out_of_range))
            return *r;
    }
    if (ttb1_on) {
        const ttb_view t{g1, !g1.has_value(), c.ttb1};
        if (auto r = check_ttb(c, f, t, cd_illegal_reason::tg1_reserved,
                               cd_illegal_reason::tg1_not_supported,
                               cd_illegal_reason::ttb1_out_of_range))
            return *r;
    }
    return cd_illegal_reason::none;
}

const char* to_string(cd_illegal_reason r) {
    switch (r) {
    case cd_illegal_reason::none:
        return "none";
    case cd_illegal_reason::not_valid:
        return "CD.V is 0";
    case cd_illegal_reason::stall_disabled_by_ste:
        return "CD.S=1 with STE.S1STALLD=1";
    case cd_illegal_reason::abort_required:
        return "CD.A=0 with TERM_MODEL=1";
    case cd_illegal_reason::stall_not_supported:
        return "CD.S=1 without stall support";
    case cd_illegal_reason::stall_required:
        return "CD.S=0 with stall forced";
    case cd_illegal_reason::endianness_not_supported:
        return "CD.ENDI not supported";
    case cd_illegal_reason::aarch32_not_supported:
        return "VMSAv8-32 stage 1 not supported";
    case cd_illegal_reason::aarch32_not_allowed:
        return "VMSAv8-32 stage 1 not allowed for this StreamWorld";
    case cd_illegal_reason::aarch64_not_supported:
        return "VMSAv8-64 stage 1 not supported";
    case cd_illegal_reason::aarch64_over_aarch32_stage2:
        return "VMSAv8-64 stage 1 over a VMSAv8-32 stage 2";
    case cd_illegal_reason::httu_not_supported:
        return "CD.HA/HD without HTTU";
    case cd_illegal_reason::hd_not_supported:
        return "CD.HD without dirty-state HTTU";
    case cd_illegal_reason::haft_without_ha:
        return "CD.HAFT without CD.HA";
    case cd_illegal_reason::asid_too_large:
        return "CD.ASID[15:8] non-zero without ASID16";
    case cd_illegal_reason::t0sz_out_of_range:
        return "CD.T0SZ out of range";
    case cd_illegal_reason::t1sz_out_of_range:
        return "CD.T1SZ out of range";
    case cd_illegal_reason::tg0_reserved:
        return "reserved CD.TG0";
    case cd_illegal_reason::tg0_not_supported:
        return "CD.TG0 granule not supported";
    case cd_illegal_reason::ttb0_out_of_range:
        return "CD.TTB0 out of range";
    case cd_illegal_reason::tg1_reserved:
        return "reserved CD.TG1";
    case cd_illegal_reason::tg1_not_supported:
        return "CD.TG1 granule not supported";
    case cd_illegal_reason::ttb1_out_of_range:
        return "CD.TTB1 out of range";
    }
    return "unknown";
}

} // namespace smmu::arch
