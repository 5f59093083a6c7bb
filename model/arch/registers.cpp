#include "model/arch/registers.h"

#include <algorithm>
#include <array>

namespace smmu::arch {

bool is_64bit_register(std::uint64_t offset) {
    switch (offset) {
    case reg::gerror_irq_cfg0:
    case reg::strtab_base:
    case reg::cmdq_base:
    case reg::eventq_base:
    case reg::eventq_irq_cfg0:
    case reg::priq_base:
    case reg::priq_irq_cfg0:
        return true;
    default:
        return false;
    }
}

strtab_config decode_strtab(std::uint64_t base_reg, std::uint32_t cfg_reg) {
    strtab_config c;
    c.log2size = static_cast<unsigned>(strtab_base_cfg::log2size.get(cfg_reg));
    c.fmt = strtab_base_cfg::fmt.get(cfg_reg) == 1 ? strtab_fmt::two_level : strtab_fmt::linear;
    const auto split = static_cast<unsigned>(strtab_base_cfg::split.get(cfg_reg));
    c.split = (split == 8 || split == 10) ? split : 6;
    std::uint64_t addr = strtab_base::addr.get(base_reg) << strtab_base::addr.lo;
    // The SMMU ignores the low address bits below the table's alignment (reference §1.3.13).
    const unsigned align = c.fmt == strtab_fmt::linear
                               ? c.log2size + 6
                               : std::max(6u, c.log2size > c.split ? c.log2size - c.split + 3 : 3u);
    c.base = align_down(addr, align);
    return c;
}

queue_config decode_queue_base(std::uint64_t base_reg, unsigned max_log2size,
                               unsigned entry_bytes) {
    queue_config q;
    q.entry_bytes = entry_bytes;
    q.log2size = std::min(static_cast<unsigned>(queue_base::log2size.get(base_reg)), max_log2size);
    const std::uint64_t bytes = std::uint64_t{entry_bytes} << q.log2size;
    const unsigned align = std::max(5u, static_cast<unsigned>(63 - __builtin_clzll(bytes)));
    q.base = align_down(queue_base::addr.get(base_reg) << queue_base::addr.lo, align);
    return q;
}

namespace {
constexpr std::array<unsigned, 8> oas_bits_table{32, 36, 40, 42, 44, 48, 52, 56};
}

std::optional<unsigned> encode_oas(unsigned bits) {
    for (unsigned i = 0; i < 7; ++i) // 56 bits needs VMSAv9-128: not a v3.0-3.2 encoding
        if (oas_bits_table[i] == bits)
            return i;
    return std::nullopt;
}

unsigned decode_oas(unsigned field_value) {
    return oas_bits_table[field_value & 7];
}

id_registers encode_id_registers(const feature_set& f) {
    id_registers r;
    std::uint64_t v = 0;
    v = idr0::s2p.set(v, f.s2p);
    v = idr0::s1p.set(v, f.s1p);
    v = idr0::ttf.set(v, (f.ttf_aarch64 ? 2u : 0u) | (f.ttf_aarch32 ? 1u : 0u));
    v = idr0::cohacc.set(v, f.cohacc);
    v = idr0::btm.set(v, f.btm);
    v = idr0::httu.set(v, static_cast<unsigned>(f.httu));
    v = idr0::hyp.set(v, f.hyp);
    v = idr0::ats.set(v, f.ats);
    v = idr0::ns1ats.set(v, f.ns1ats);
    v = idr0::asid16.set(v, f.asid16);
    v = idr0::msi.set(v, f.msi);
    v = idr0::sev.set(v, f.sev);
    v = idr0::atos.set(v, f.atos);
    v = idr0::pri.set(v, f.pri);
    v = idr0::vmw.set(v, f.vmw);
    v = idr0::vmid16.set(v, f.vmid16);
    v = idr0::cd2l.set(v, f.cd2l);
    v = idr0::vatos.set(v, f.vatos);
    v = idr0::ttendian.set(v, static_cast<unsigned>(f.endian));
    v = idr0::stall_model.set(v, static_cast<unsigned>(f.stalls));
    v = idr0::term_model.set(v, f.term_model);
    v = idr0::st_level.set(v, f.st_level_2 ? 1u : 0u);
    r.idr0 = static_cast<std::uint32_t>(v);

    v = 0;
    v = idr1::sidsize.set(v, f.sid_bits);
    v = idr1::ssidsize.set(v, f.ssid_bits);
    v = idr1::priqs.set(v, f.priq_log2);
    v = idr1::eventqs.set(v, f.eventq_log2);
    v = idr1::cmdqs.set(v, f.cmdq_log2);
    v = idr1::attr_perms_ovr.set(v, f.attr_perms_ovr);
    v = idr1::attr_types_ovr.set(v, f.attr_types_ovr);
    r.idr1 = static_cast<std::uint32_t>(v);

    v = 0;
    v = idr3::had.set(v, f.had);
    v = idr3::xnx.set(v, f.xnx);
    v = idr3::fwb.set(v, f.fwb);
    v = idr3::stt.set(v, f.stt);
    v = idr3::ril.set(v, f.ril);
    v = idr3::bbml.set(v, f.bbml);
    r.idr3 = static_cast<std::uint32_t>(v);

    v = 0;
    v = idr5::oas.set(v, encode_oas(f.oas_bits).value_or(5));
    v = idr5::gran4k.set(v, f.gran4k);
    v = idr5::gran16k.set(v, f.gran16k);
    v = idr5::gran64k.set(v, f.gran64k);
    v = idr5::ds.set(v, f.ds);
    v = idr5::vax.set(v, f.vax52 ? 1u : 0u);
    v = idr5::stall_max.set(v, f.stall_max);
    r.idr5 = static_cast<std::uint32_t>(v);
    return r;
}

feature_set decode_id_registers(const id_registers& r) {
    const auto flag = [](std::uint32_t reg_value, field f) { return f.get(reg_value) != 0; };
    const auto num = [](std::uint32_t reg_value, field f) {
        return static_cast<unsigned>(f.get(reg_value));
    };
    feature_set f;
    f.s2p = flag(r.idr0, idr0::s2p);
    f.s1p = flag(r.idr0, idr0::s1p);
    f.ttf_aarch32 = (num(r.idr0, idr0::ttf) & 1u) != 0;
    f.ttf_aarch64 = (num(r.idr0, idr0::ttf) & 2u) != 0;
    f.cohacc = flag(r.idr0, idr0::cohacc);
    f.btm = flag(r.idr0, idr0::btm);
    f.httu = static_cast<httu_level>(num(r.idr0, idr0::httu));
    f.hyp = flag(r.idr0, idr0::hyp);
    f.ats = flag(r.idr0, idr0::ats);
    f.ns1ats = flag(r.idr0, idr0::ns1ats);
    f.asid16 = flag(r.idr0, idr0::asid16);
    f.msi = flag(r.idr0, idr0::msi);
    f.sev = flag(r.idr0, idr0::sev);
    f.atos = flag(r.idr0, idr0::atos);
    f.pri = flag(r.idr0, idr0::pri);
    f.vmw = flag(r.idr0, idr0::vmw);
    f.vmid16 = flag(r.idr0, idr0::vmid16);
    f.cd2l = flag(r.idr0, idr0::cd2l);
    f.vatos = flag(r.idr0, idr0::vatos);
    const unsigned endian = num(r.idr0, idr0::ttendian);
    f.endian = endian == 1 ? tt_endian::mixed : static_cast<tt_endian>(endian); // 01 reserved
    const unsigned stalls = num(r.idr0, idr0::stall_model);
    f.stalls = stalls == 3 ? stall_model::stall_and_terminate : static_cast<stall_model>(stalls);
    f.term_model = flag(r.idr0, idr0::term_model);
    f.st_level_2 = num(r.idr0, idr0::st_level) == 1;

    f.sid_bits = num(r.idr1, idr1::sidsize);
    f.ssid_bits = num(r.idr1, idr1::ssidsize);
    f.priq_log2 = num(r.idr1, idr1::priqs);
    f.eventq_log2 = num(r.idr1, idr1::eventqs);
    f.cmdq_log2 = num(r.idr1, idr1::cmdqs);
    f.attr_perms_ovr = flag(r.idr1, idr1::attr_perms_ovr);
    f.attr_types_ovr = flag(r.idr1, idr1::attr_types_ovr);

    f.had = flag(r.idr3, idr3::had);
    f.xnx = flag(r.idr3, idr3::xnx);
    f.fwb = flag(r.idr3, idr3::fwb);
    f.stt = flag(r.idr3, idr3::stt);
    f.ril = flag(r.idr3, idr3::ril);
    f.bbml = num(r.idr3, idr3::bbml);

    f.oas_bits = decode_oas(num(r.idr5, idr5::oas));
    f.gran4k = flag(r.idr5, idr5::gran4k);
    f.gran16k = flag(r.idr5, idr5::gran16k);
    f.gran64k = flag(r.idr5, idr5::gran64k);
    f.ds = flag(r.idr5, idr5::ds);
    f.vax52 = num(r.idr5, idr5::vax) == 1;
    f.stall_max = num(r.idr5, idr5::stall_max);
    return f;
}

} // namespace smmu::arch
