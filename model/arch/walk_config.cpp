#include "model/arch/walk_config.h"

#include <algorithm>

namespace smmu::arch {

stage1_config make_stage1_config(const cd& c, stream_world world, const feature_set& f,
                                 bool nested) {
    stage1_config s;
    s.ttb0 = c.ttb0;
    s.ttb1 = c.ttb1;
    s.t0sz = c.t0sz;
    s.t1sz = c.t1sz;
    // validate_cd() has rejected reserved granules of the halves that walk.
    s.tg0 = granule_from_tg0(c.tg0).value_or(granule::size_4k);
    s.tg1 = granule_from_tg1(c.tg1).value_or(granule::size_4k);
    s.epd0 = !cd_ttb0_enabled(c, world);
    s.epd1 = !cd_ttb1_enabled(c, world);
    s.tbi0 = c.tbi0;
    s.tbi1 = c.tbi1;
    s.ips_bits = effective_ips_bits(c, f);
    if (nested)
        s.ips_bits = std::min(s.ips_bits, f.ias_bits());
    s.affd = c.affd;
    s.had0 = f.had && c.had0;
    s.had1 = f.had && c.had1;
    s.wxn = c.wxn;
    s.uwxn = c.uwxn;
    s.pan = c.pan;
    s.ds = f.ds && c.ds;
    s.sh0 = static_cast<std::uint8_t>(c.sh0);
    s.sh1 = static_cast<std::uint8_t>(c.sh1);
    s.asid = f.asid16 ? c.asid : static_cast<asid_t>(c.asid & 0xffu);
    s.aset = c.aset;
    s.regime = world == stream_world::ns_el2 ? s1_regime::single_el : s1_regime::two_el;
    return s;
}

stage2_config make_stage2_config(const ste& s, const feature_set& f) {
    stage2_config c;
    c.ttb = s.s2_ttb;
    c.t0sz = s.s2_t0sz;
    c.sl0 = s.s2_sl0;
    c.ds = effective_s2ds(s, f);
    c.sl2 = c.ds && s.s2_sl0_2;
    c.tg = s2_granule(s).value_or(granule::size_4k);
    c.ps_bits = effective_s2ps_bits(s, f);
    c.affd = s.s2_affd;
    c.ptw = s.s2_ptw;
    c.xnx = f.xnx;
    c.stt = f.stt;
    c.sh = static_cast<std::uint8_t>(s.s2_sh0);
    c.vmid = s.s2_vmid;
    return c;
}

} // namespace smmu::arch
