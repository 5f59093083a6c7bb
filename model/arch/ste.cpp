#include "model/arch/ste.h"

#include <algorithm>
#include <tuple>
#include <type_traits>

#include "model/arch/bits.h"

namespace smmu::arch {

namespace {

// Word 0
constexpr field k_v = bit(0);
constexpr field k_config{3, 1};
constexpr field k_s1_fmt{5, 4};
constexpr std::uint64_t k_s1_context_ptr_mask = bit_mask(51, 6);
constexpr field k_s1_cd_max{63, 59};

// Word 1
constexpr field k_s1_dss{1, 0};
constexpr field k_s1_cir{3, 2};
constexpr field k_s1_cor{5, 4};
constexpr field k_s1_csh{7, 6};
constexpr field k_s2_hwu59 = bit(8);
constexpr field k_s2_hwu60 = bit(9);
constexpr field k_s2_hwu61 = bit(10);
constexpr field k_s2_hwu62 = bit(11);
constexpr field k_dre = bit(12);
constexpr field k_cont{16, 13};
constexpr field k_dcp = bit(17);
constexpr field k_ppar = bit(18);
constexpr field k_mev = bit(19);
constexpr field k_sw_reserved{23, 20};
constexpr field k_s2_fwb = bit(25);
constexpr field k_s1_mpam = bit(26);
constexpr field k_s1_stalld = bit(27);
constexpr field k_eats{29, 28};
constexpr field k_strw{31, 30};
constexpr field k_mem_attr{35, 32};
constexpr field k_mtcfg = bit(36);
constexpr field k_alloccfg{40, 37};
constexpr field k_shcfg{45, 44};
constexpr field k_nscfg{47, 46};
constexpr field k_privcfg{49, 48};
constexpr field k_instcfg{51, 50};
constexpr field k_imp_def_w1{63, 52};

// Word 2
constexpr field k_s2_vmid{15, 0};
constexpr field k_imp_def_w2{31, 16};
constexpr field k_s2_t0sz{37, 32};
constexpr field k_s2_sl0{39, 38};
constexpr field k_s2_ir0{41, 40};
constexpr field k_s2_or0{43, 42};
constexpr field k_s2_sh0{45, 44};
constexpr field k_s2_tg{47, 46};
constexpr field k_s2_ps{50, 48};
constexpr field k_s2_aa64 = bit(51);
constexpr field k_s2_endi = bit(52);
constexpr field k_s2_affd = bit(53);
constexpr field k_s2_ptw = bit(54);
constexpr field k_s2_hd = bit(55);
constexpr field k_s2_ha = bit(56);
constexpr field k_s2_s = bit(57);
constexpr field k_s2_r = bit(58);
constexpr field k_s2_haft = bit(59);

// Word 3
constexpr field k_s2_nsw = bit(0);
constexpr field k_s2_nsa = bit(1);
constexpr field k_s2_sl0_2 = bit(2);
constexpr field k_s2_ds = bit(3);
constexpr std::uint64_t k_s2_ttb_mask = bit_mask(51, 4);

// Words 4-5
constexpr field k_imp_def_w4{15, 0};
constexpr field k_partid{31, 16};
constexpr field k_pmg{7, 0};
constexpr field k_mpam_ns = bit(8);
constexpr std::uint64_t k_vms_ptr_mask = bit_mask(51, 12);

using namespace enc;

auto as_tuple(const ste& s) {
    return std::tie(s.v, s.config, s.s1_fmt, s.s1_context_ptr, s.s1_cd_max, s.s1_dss, s.s1_cir,
                    s.s1_cor, s.s1_csh, s.s2_hwu59, s.s2_hwu60, s.s2_hwu61, s.s2_hwu62, s.dre,
                    s.cont, s.dcp, s.ppar, s.mev, s.sw_reserved, s.s2_fwb, s.s1_mpam, s.s1_stalld,
                    s.eats, s.strw, s.mem_attr, s.mtcfg, s.alloccfg, s.shcfg, s.nscfg, s.privcfg,
                    s.instcfg, s.imp_def_w1, s.s2_vmid, s.imp_def_w2, s.s2_t0sz, s.s2_sl0, s.s2_ir0,
                    s.s2_or0, s.s2_sh0, s.s2_tg, s.s2_ps, s.s2_aa64, s.s2_endi, s.s2_affd, s.s2_ptw,
                    s.s2_hd, s.s2_ha, s.s2_s, s.s2_r, s.s2_haft, s.s2_nsw, s.s2_nsa, s.s2_sl0_2,
                    s.s2_ds, s.s2_ttb, s.imp_def_w4, s.partid, s.pmg, s.mpam_ns, s.vms_ptr);
}

std::uint64_t encode_w0(const ste& s) {
    std::uint64_t w = 0;
    w = k_v.set(w, flag(s.v));
    w = k_config.set(w, raw(s.config));
    w = k_s1_fmt.set(w, raw(s.s1_fmt));
    w |= s.s1_context_ptr & k_s1_context_ptr_mask;
    w = k_s1_cd_max.set(w, s.s1_cd_max);
    return w;
}

std::uint64_t encode_w1(const ste& s) {
    std::uint64_t w = 0;
    w = k_s1_dss.set(w, raw(s.s1_dss));
    w = k_s1_cir.set(w, raw(s.s1_cir));
    w = k_s1_cor.set(w, raw(s.s1_cor));
    w = k_s1_csh.set(w, raw(s.s1_csh));
    w = k_s2_hwu59.set(w, flag(s.s2_hwu59));
    w = k_s2_hwu60.set(w, flag(s.s2_hwu60));
    w = k_s2_hwu61.set(w, flag(s.s2_hwu61));
    w = k_s2_hwu62.set(w, flag(s.s2_hwu62));
    w = k_dre.set(w, flag(s.dre));
    w = k_cont.set(w, s.cont);
    w = k_dcp.set(w, flag(s.dcp));
    w = k_ppar.set(w, flag(s.ppar));
    w = k_mev.set(w, flag(s.mev));
    w = k_sw_reserved.set(w, s.sw_reserved);
    w = k_s2_fwb.set(w, flag(s.s2_fwb));
    w = k_s1_mpam.set(w, flag(s.s1_mpam));
    w = k_s1_stalld.set(w, flag(s.s1_stalld));
    w = k_eats.set(w, raw(s.eats));
    w = k_strw.set(w, raw(s.strw));
    w = k_mem_attr.set(w, s.mem_attr);
    w = k_mtcfg.set(w, flag(s.mtcfg));
    w = k_alloccfg.set(w, s.alloccfg);
    w = k_shcfg.set(w, raw(s.shcfg));
    w = k_nscfg.set(w, raw(s.nscfg));
    w = k_privcfg.set(w, raw(s.privcfg));
    w = k_instcfg.set(w, raw(s.instcfg));
    w = k_imp_def_w1.set(w, s.imp_def_w1);
    return w;
}

std::uint64_t encode_w2(const ste& s) {
    std::uint64_t w = 0;
    w = k_s2_vmid.set(w, s.s2_vmid);
    w = k_imp_def_w2.set(w, s.imp_def_w2);
    w = k_s2_t0sz.set(w, s.s2_t0sz);
    w = k_s2_sl0.set(w, s.s2_sl0);
    w = k_s2_ir0.set(w, raw(s.s2_ir0));
    w = k_s2_or0.set(w, raw(s.s2_or0));
    w = k_s2_sh0.set(w, raw(s.s2_sh0));
    w = k_s2_tg.set(w, raw(s.s2_tg));
    w = k_s2_ps.set(w, raw(s.s2_ps));
    w = k_s2_aa64.set(w, flag(s.s2_aa64));
    w = k_s2_endi.set(w, flag(s.s2_endi));
    w = k_s2_affd.set(w, flag(s.s2_affd));
    w = k_s2_ptw.set(w, flag(s.s2_ptw));
    w = k_s2_hd.set(w, flag(s.s2_hd));
    w = k_s2_ha.set(w, flag(s.s2_ha));
    w = k_s2_s.set(w, flag(s.s2_s));
    w = k_s2_r.set(w, flag(s.s2_r));
    w = k_s2_haft.set(w, flag(s.s2_haft));
    return w;
}

std::uint64_t encode_w3(const ste& s) {
    std::uint64_t w = 0;
    w = k_s2_nsw.set(w, flag(s.s2_nsw));
    w = k_s2_nsa.set(w, flag(s.s2_nsa));
    w = k_s2_sl0_2.set(w, flag(s.s2_sl0_2));
    w = k_s2_ds.set(w, flag(s.s2_ds));
    w |= s.s2_ttb & k_s2_ttb_mask;
    return w;
}

void decode_w0(std::uint64_t w, ste& s) {
    s.v = k_v.get(w) != 0;
    s.config = as<ste_config>(k_config.get(w));
    s.s1_fmt = as<cd_table_format>(k_s1_fmt.get(w));
    s.s1_context_ptr = w & k_s1_context_ptr_mask;
    s.s1_cd_max = u8(k_s1_cd_max.get(w));
}

void decode_w1(std::uint64_t w, ste& s) {
    s.s1_dss = as<ste_s1dss>(k_s1_dss.get(w));
    s.s1_cir = as<fetch_cacheability>(k_s1_cir.get(w));
    s.s1_cor = as<fetch_cacheability>(k_s1_cor.get(w));
    s.s1_csh = as<shareability_encoding>(k_s1_csh.get(w));
    s.s2_hwu59 = k_s2_hwu59.get(w) != 0;
    s.s2_hwu60 = k_s2_hwu60.get(w) != 0;
    s.s2_hwu61 = k_s2_hwu61.get(w) != 0;
    s.s2_hwu62 = k_s2_hwu62.get(w) != 0;
    s.dre = k_dre.get(w) != 0;
    s.cont = u8(k_cont.get(w));
    s.dcp = k_dcp.get(w) != 0;
    s.ppar = k_ppar.get(w) != 0;
    s.mev = k_mev.get(w) != 0;
    s.sw_reserved = u8(k_sw_reserved.get(w));
    s.s2_fwb = k_s2_fwb.get(w) != 0;
    s.s1_mpam = k_s1_mpam.get(w) != 0;
    s.s1_stalld = k_s1_stalld.get(w) != 0;
    s.eats = as<ste_eats>(k_eats.get(w));
    s.strw = as<ste_strw>(k_strw.get(w));
    s.mem_attr = u8(k_mem_attr.get(w));
    s.mtcfg = k_mtcfg.get(w) != 0;
    s.alloccfg = u8(k_alloccfg.get(w));
    s.shcfg = as<ste_shcfg>(k_shcfg.get(w));
    s.nscfg = as<ste_nscfg>(k_nscfg.get(w));
    s.privcfg = as<ste_privcfg>(k_privcfg.get(w));
    s.instcfg = as<ste_instcfg>(k_instcfg.get(w));
    s.imp_def_w1 = u16(k_imp_def_w1.get(w));
}

void decode_w2(std::uint64_t w, ste& s) {
    s.s2_vmid = u16(k_s2_vmid.get(w));
    s.imp_def_w2 = u16(k_imp_def_w2.get(w));
    s.s2_t0sz = u8(k_s2_t0sz.get(w));
    s.s2_sl0 = u8(k_s2_sl0.get(w));
    s.s2_ir0 = as<walk_cacheability>(k_s2_ir0.get(w));
    s.s2_or0 = as<walk_cacheability>(k_s2_or0.get(w));
    s.s2_sh0 = as<shareability_encoding>(k_s2_sh0.get(w));
    s.s2_tg = as<tg0_encoding>(k_s2_tg.get(w));
    s.s2_ps = as<pa_size_encoding>(k_s2_ps.get(w));
    s.s2_aa64 = k_s2_aa64.get(w) != 0;
    s.s2_endi = k_s2_endi.get(w) != 0;
    s.s2_affd = k_s2_affd.get(w) != 0;
    s.s2_ptw = k_s2_ptw.get(w) != 0;
    s.s2_hd = k_s2_hd.get(w) != 0;
    s.s2_ha = k_s2_ha.get(w) != 0;
    s.s2_s = k_s2_s.get(w) != 0;
    s.s2_r = k_s2_r.get(w) != 0;
    s.s2_haft = k_s2_haft.get(w) != 0;
}

void decode_w3(std::uint64_t w, ste& s) {
    s.s2_nsw = k_s2_nsw.get(w) != 0;
    s.s2_nsa = k_s2_nsa.get(w) != 0;
    s.s2_sl0_2 = k_s2_sl0_2.get(w) != 0;
    s.s2_ds = k_s2_ds.get(w) != 0;
    s.s2_ttb = w & k_s2_ttb_mask;
}

/// Bits the initial lookup at `level` resolves with a single table, and the
/// consistency rule of the Arm ARM (S2InconsistentSL): the IA must need this
/// level (more bits than level+1 covers) and may exceed one table by up to 4
/// bits through concatenation (never at level -1, at level 0 only with DS).
std::optional<s2_walk_start> start_at(unsigned g_shift, int level, unsigned ia_bits, bool ds) {
    constexpr unsigned k_max_ia_bits = 52;
    constexpr unsigned k_max_concat_bits = 4; // up to 16 tables
    if (ia_bits > k_max_ia_bits)
        return std::nullopt;
    const unsigned stride = g_shift - 3;
    const unsigned below =
        static_cast<unsigned>(3 - level) * stride + g_shift; // bits under the start level
    const unsigned single_max = below + stride;
    if (ia_bits <= below)
        return std::nullopt;
    const bool concat_allowed = level >= 1 || (level == 0 && ds);
    const unsigned limit = concat_allowed ? single_max + k_max_concat_bits : single_max;
    if (ia_bits > limit)
        return std::nullopt;
    s2_walk_start start;
    start.level = level;
    start.index_bits = ia_bits - below;
    start.tables = ia_bits > single_max ? 1u << (ia_bits - single_max) : 1u;
    return start;
}

std::optional<int> aarch64_start_level(granule g, unsigned sl0, const s2_level_options& opts) {
    switch (g) {
    case granule::size_4k:
        if (opts.ds && opts.sl2)
            return sl0 == 0 ? std::optional<int>{-1} : std::nullopt;
        if (sl0 == 3)
            return opts.ttst ? std::optional<int>{3} : std::nullopt;
        return 2 - static_cast<int>(sl0);
    case granule::size_16k:
        if (sl0 == 3)
            return opts.ds ? std::optional<int>{0} : std::nullopt;
        return 3 - static_cast<int>(sl0);
    case granule::size_64k:
        if (sl0 == 3)
            return std::nullopt;
        return 3 - static_cast<int>(sl0);
    }
    return std::nullopt;
}

/// VTCR.T0SZ is a signed 4-bit value: the IPA is 32 - T0SZ bits (25..40).
unsigned aarch32_ia_bits(unsigned t0sz) {
    const unsigned t = t0sz & 0xfu;
    const int value = t >= 8 ? static_cast<int>(t) - 16 : static_cast<int>(t);
    return static_cast<unsigned>(32 - value);
}

bool is_4k_or_16k(std::optional<granule> g) {
    return g == granule::size_4k || g == granule::size_16k;
}

std::optional<ste_illegal_reason> check_ats(const ste& s, const feature_set& f) {
    if (!f.ats || (raw(s.config) & 3u) == 0)
        return std::nullopt;
    if (s.eats == ste_eats::split) {
        if (s.config != ste_config::nested)
            return ste_illegal_reason::eats_split_needs_nested;
        if (s.s2_s)
            return ste_illegal_reason::eats_split_with_s2_stall;
        if (f.ns1ats)
            return ste_illegal_reason::eats_split_not_supported;
    }
    // v3.1+: only when stage 2 is enabled. EATS 0b11 is reserved (= 0b00) without DPT.
    if (s.eats == ste_eats::full && s.s2_s && config_stage2_enabled(s.config))
        return ste_illegal_reason::eats_full_with_s2_stall;
    return std::nullopt;
}

bool strw_used(const ste& s, const feature_set& f) {
    return f.s1p && f.hyp && s.config == ste_config::s1_translate;
}

std::optional<ste_illegal_reason> check_stage1(const ste& s, const feature_set& f) {
    if (s.s1_stalld && f.stalls != stall_model::stall_and_terminate)
        return ste_illegal_reason::s1_stalld_not_allowed;
    if (f.ssid_bits != 0 && s.s1_cd_max > f.ssid_bits)
        return ste_illegal_reason::s1_cd_max_too_large;
    const bool two_level =
        s.s1_fmt == cd_table_format::two_level_4k || s.s1_fmt == cd_table_format::two_level_64k;
    if (f.ssid_bits != 0 && s.s1_cd_max != 0 && !f.cd2l && two_level)
        return ste_illegal_reason::s1_fmt_needs_cd2l;
    const unsigned range = config_stage2_enabled(s.config) ? f.ias_bits() : f.oas_bits;
    if ((s.s1_context_ptr >> range) != 0)
        return ste_illegal_reason::s1_context_ptr_out_of_range;
    return std::nullopt;
}

std::optional<ste_illegal_reason> check_s2_format(const ste& s, const feature_set& f) {
    const bool aa32 = !s.s2_aa64;
    if (aa32 && f.fwb && s.s2_fwb)
        return ste_illegal_reason::s2_fwb_with_aarch32;
    if (s.s2_s && f.stalls == stall_model::terminate_only)
        return ste_illegal_reason::s2_stall_not_supported;
    if (!s.s2_s && f.stalls == stall_model::stall_forced)
        return ste_illegal_reason::s2_stall_required;
    if (aa32 && !f.ttf_aarch32)
        return ste_illegal_reason::s2_aarch32_not_supported;
    if (!aa32 && !f.ttf_aarch64)
        return ste_illegal_reason::s2_aarch64_not_supported;
    if ((s.s2_ha || s.s2_hd) && aa32)
        return ste_illegal_reason::s2_httu_with_aarch32;
    if ((s.s2_ha || s.s2_hd) && f.httu == httu_level::none)
        return ste_illegal_reason::s2_httu_not_supported;
    if (s.s2_hd && f.httu == httu_level::access_flag)
        return ste_illegal_reason::s2_hd_not_supported;
    if (s.s2_haft && !s.s2_ha && f.httu == httu_level::haft)
        return ste_illegal_reason::s2_haft_without_ha;
    return std::nullopt;
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

std::optional<ste_illegal_reason> check_s2_walk(const ste& s, const feature_set& f) {
    const auto g = s2_granule(s);
    if (s.s2_aa64) {
        if (!g)
            return ste_illegal_reason::s2_granule_reserved;
        if (!granule_supported(*g, f))
            return ste_illegal_reason::s2_granule_not_supported;
    }
    unsigned ttb_range = effective_s2ps_bits(s, f);
    if (s.s2_aa64 && is_4k_or_16k(g) && !effective_s2ds(s, f))
        ttb_range = std::min(ttb_range, 48u);
    if ((s.s2_ttb >> ttb_range) != 0)
        return ste_illegal_reason::s2_ttb_out_of_range;
    if (!s2_t0sz_in_range(s, f))
        return ste_illegal_reason::s2_t0sz_out_of_range;
    if (!ste_s2_start_level(s, f))
        return ste_illegal_reason::s2_walk_inconsistent;
    if ((f.endian == tt_endian::little && s.s2_endi) || (f.endian == tt_endian::big && !s.s2_endi))
        return ste_illegal_reason::s2_endianness_not_supported;
    return std::nullopt;
}

} // namespace

bool operator==(const ste& a, const ste& b) {
    return as_tuple(a) == as_tuple(b);
}

structure_words encode_ste(const ste& s) {
    structure_words w{};
    w[0] = encode_w0(s);
    w[1] = encode_w1(s);
    w[2] = encode_w2(s);
    w[3] = encode_w3(s);
    w[4] = k_partid.set(k_imp_def_w4.set(0, s.imp_def_w4), s.partid);
    w[5] = k_mpam_ns.set(k_pmg.set(0, s.pmg), flag(s.mpam_ns)) | (s.vms_ptr & k_vms_ptr_mask);
    return w;
}

ste decode_ste(const structure_words& w) {
    ste s;
    decode_w0(w[0], s);
    decode_w1(w[1], s);
    decode_w2(w[2], s);
    decode_w3(w[3], s);
    s.imp_def_w4 = u16(k_imp_def_w4.get(w[4]));
    s.partid = u16(k_partid.get(w[4]));
    s.pmg = u8(k_pmg.get(w[5]));
    s.mpam_ns = k_mpam_ns.get(w[5]) != 0;
    s.vms_ptr = w[5] & k_vms_ptr_mask;
    return s;
}

std::optional<granule> granule_from_tg0(tg0_encoding tg) {
    switch (tg) {
    case tg0_encoding::size_4k:
        return granule::size_4k;
    case tg0_encoding::size_16k:
        return granule::size_16k;
    case tg0_encoding::size_64k:
        return granule::size_64k;
    case tg0_encoding::reserved:
        break;
    }
    return std::nullopt;
}

std::optional<granule> granule_from_tg1(tg1_encoding tg) {
    switch (tg) {
    case tg1_encoding::size_4k:
        return granule::size_4k;
    case tg1_encoding::size_16k:
        return granule::size_16k;
    case tg1_encoding::size_64k:
        return granule::size_64k;
    case tg1_encoding::reserved:
        break;
    }
    return std::nullopt;
}

tg0_encoding tg0_from_granule(granule g) {
    switch (g) {
    case granule::size_16k:
        return tg0_encoding::size_16k;
    case granule::size_64k:
        return tg0_encoding::size_64k;
    case granule::size_4k:
        break;
    }
    return tg0_encoding::size_4k;
}

tg1_encoding tg1_from_granule(granule g) {
    switch (g) {
    case granule::size_16k:
        return tg1_encoding::size_16k;
    case granule::size_64k:
        return tg1_encoding::size_64k;
    case granule::size_4k:
        break;
    }
    return tg1_encoding::size_4k;
}

unsigned pa_size_bits(pa_size_encoding ps) {
    constexpr unsigned k_bits[8] = {32, 36, 40, 42, 44, 48, 52, 52};
    return k_bits[raw(ps) & 7u];
}

unsigned effective_s2ps_bits(const ste& s, const feature_set& f) {
    if (!s.s2_aa64)
        return 40;
    return std::min(pa_size_bits(s.s2_ps), f.oas_bits);
}

std::optional<granule> s2_granule(const ste& s) {
    if (!s.s2_aa64)
        return granule::size_4k;
    return granule_from_tg0(s.s2_tg);
}

bool effective_s2ds(const ste& s, const feature_set& f) {
    return f.ds && s.s2_ds && s.s2_aa64 && is_4k_or_16k(granule_from_tg0(s.s2_tg));
}

unsigned s2_input_bits(const ste& s) {
    if (s.s2_aa64)
        return 64u - (s.s2_t0sz & 0x3fu);
    return aarch32_ia_bits(s.s2_t0sz);
}

std::optional<s2_walk_start> s2_start_level(granule g, unsigned sl0, unsigned t0sz,
                                            const s2_level_options& opts) {
    if (sl0 > 3 || t0sz > 63)
        return std::nullopt;
    const auto level = aarch64_start_level(g, sl0, opts);
    if (!level)
        return std::nullopt;
    return start_at(granule_shift(g), *level, 64u - t0sz, opts.ds);
}

std::optional<s2_walk_start> s2_start_level_aarch32(unsigned sl0, unsigned t0sz) {
    if (sl0 > 1)
        return std::nullopt;
    return start_at(granule_shift(granule::size_4k), 2 - static_cast<int>(sl0),
                    aarch32_ia_bits(t0sz), false);
}

std::optional<s2_walk_start> ste_s2_start_level(const ste& s, const feature_set& f) {
    if (!s.s2_aa64)
        return s2_start_level_aarch32(s.s2_sl0, s.s2_t0sz);
    const auto g = granule_from_tg0(s.s2_tg);
    if (!g)
        return std::nullopt;
    s2_level_options opts;
    opts.ttst = f.stt;
    opts.ds = effective_s2ds(s, f);
    opts.sl2 = s.s2_sl0_2;
    return s2_start_level(*g, s.s2_sl0, s.s2_t0sz, opts);
}

bool s2_t0sz_in_range(const ste& s, const feature_set& f) {
    if (!s.s2_aa64)
        return true; // every 4-bit VMSAv8-32 value is in range
    const auto g = granule_from_tg0(s.s2_tg);
    const unsigned max = !f.stt ? 39u : (is_4k_or_16k(g) ? 48u : 47u);
    const unsigned ias = f.ias_bits();
    const unsigned floor = (g == granule::size_64k || (f.ds && s.s2_ds)) ? 12u : 16u;
    const unsigned min = std::max(floor, ias >= 64 ? 0u : 64u - ias);
    return s.s2_t0sz >= min && s.s2_t0sz <= max;
}

stream_world ste_stream_world(const ste& s, const feature_set& f, const ste_check_context& ctx) {
    if (strw_used(s, f) && s.strw == ste_strw::el2)
        return ctx.e2h ? stream_world::ns_el2_e2h : stream_world::ns_el2;
    return stream_world::ns_el1;
}

ste_eats effective_eats(const ste& s, const feature_set& f, const ste_check_context& ctx) {
    if (!f.ats || !config_allows_traffic(s.config) || (raw(s.config) & 3u) == 0)
        return ste_eats::abort;
    switch (s.eats) {
    case ste_eats::full:
        return ste_eats::full;
    case ste_eats::split:
        return ctx.atschk ? ste_eats::split : ste_eats::abort;
    case ste_eats::abort:
    case ste_eats::full_dpt:
        break;
    }
    return ste_eats::abort;
}

bool ste_s2vmid_used(const ste& s, const feature_set& f) {
    if (!config_allows_traffic(s.config) || s.config == ste_config::bypass || !f.s2p)
        return false;
    return !(strw_used(s, f) && s.strw != ste_strw::el1);
}

ste_illegal_reason validate_ste(const ste& s, const feature_set& f) {
    if (!s.v)
        return ste_illegal_reason::not_valid;
    if (!config_allows_traffic(s.config))
        return ste_illegal_reason::none; // silent abort, not ILLEGAL
    const bool s1 = config_stage1_enabled(s.config);
    const bool s2 = config_stage2_enabled(s.config);
    if (s1 && !f.s1p)
        return ste_illegal_reason::s1_not_supported;
    if (s2 && !f.s2p)
        return ste_illegal_reason::s2_not_supported;
    if (auto r = check_ats(s, f))
        return *r;
    if (strw_used(s, f) && (raw(s.strw) & 1u) != 0)
        return ste_illegal_reason::strw_reserved;
    if (s1) {
        if (auto r = check_stage1(s, f))
            return *r;
    }
    if (s2) {
        if (auto r = check_s2_format(s, f))
            return *r;
        if (auto r = check_s2_walk(s, f))
            return *r;
    }
    if (ste_s2vmid_used(s, f) && !f.vmid16 && (s.s2_vmid >> 8) != 0)
        return ste_illegal_reason::s2_vmid_too_large;
    return ste_illegal_reason::none;
}

const char* to_string(ste_illegal_reason r) {
    switch (r) {
    case ste_illegal_reason::none:
        return "none";
    case ste_illegal_reason::not_valid:
        return "STE.V is 0";
    case ste_illegal_reason::s1_not_supported:
        return "stage 1 enabled but not implemented";
    case ste_illegal_reason::s2_not_supported:
        return "stage 2 enabled but not implemented";
    case ste_illegal_reason::eats_split_needs_nested:
        return "split-stage ATS needs Config=0b111";
    case ste_illegal_reason::eats_split_with_s2_stall:
        return "split-stage ATS with S2S=1";
    case ste_illegal_reason::eats_split_not_supported:
        return "split-stage ATS not supported (NS1ATS=1)";
    case ste_illegal_reason::eats_full_with_s2_stall:
        return "full ATS with stage 2 and S2S=1";
    case ste_illegal_reason::strw_reserved:
        return "reserved STRW";
    case ste_illegal_reason::s1_stalld_not_allowed:
        return "S1STALLD=1 with a stall model other than 0b00";
    case ste_illegal_reason::s1_cd_max_too_large:
        return "S1CDMax above SSIDSIZE";
    case ste_illegal_reason::s1_fmt_needs_cd2l:
        return "2-level CD table without CD2L";
    case ste_illegal_reason::s1_context_ptr_out_of_range:
        return "S1ContextPtr out of range";
    case ste_illegal_reason::s2_fwb_with_aarch32:
        return "S2FWB with VMSAv8-32 stage 2";
    case ste_illegal_reason::s2_stall_not_supported:
        return "S2S=1 without stall support";
    case ste_illegal_reason::s2_stall_required:
        return "S2S=0 with stall forced";
    case ste_illegal_reason::s2_aarch32_not_supported:
        return "VMSAv8-32 stage 2 not supported";
    case ste_illegal_reason::s2_aarch64_not_supported:
        return "VMSAv8-64 stage 2 not supported";
    case ste_illegal_reason::s2_httu_with_aarch32:
        return "S2HA/S2HD with VMSAv8-32";
    case ste_illegal_reason::s2_httu_not_supported:
        return "S2HA/S2HD without HTTU";
    case ste_illegal_reason::s2_hd_not_supported:
        return "S2HD without dirty-state HTTU";
    case ste_illegal_reason::s2_haft_without_ha:
        return "S2HAFT without S2HA";
    case ste_illegal_reason::s2_granule_reserved:
        return "reserved S2TG";
    case ste_illegal_reason::s2_granule_not_supported:
        return "S2TG granule not supported";
    case ste_illegal_reason::s2_ttb_out_of_range:
        return "S2TTB out of range";
    case ste_illegal_reason::s2_t0sz_out_of_range:
        return "S2T0SZ out of range";
    case ste_illegal_reason::s2_walk_inconsistent:
        return "S2SL0 inconsistent with S2T0SZ/S2TG";
    case ste_illegal_reason::s2_endianness_not_supported:
        return "S2ENDI not supported";
    case ste_illegal_reason::s2_vmid_too_large:
        return "S2VMID[15:8] non-zero without VMID16";
    }
    return "unknown";
}

} // namespace smmu::arch
