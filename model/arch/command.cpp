#include "model/arch/command.h"

#include "model/arch/bits.h"
#include "model/arch/features.h"

namespace smmu::arch {

namespace {

// ---- field positions (reference §5.1, §5.3, §5.4, §5.6) ----------------------------------
// Word 0.
constexpr field f_opcode{7, 0};
constexpr field f_global = bit(9);
constexpr field f_ssec = bit(10);
constexpr field f_ssv = bit(11);
constexpr field f_ssid{31, 12};
constexpr field f_sid{63, 32};
constexpr field f_vmid{47, 32};
constexpr field f_asid{63, 48};
constexpr field f_num{16, 12};
constexpr field f_scale{24, 20};    // IDR5.DS == 0
constexpr field f_scale_ds{25, 20}; // IDR5.DS == 1
constexpr field f_ac = bit(12);
constexpr field f_ab = bit(13);
constexpr field f_cs{13, 12};
constexpr field f_msh{23, 22};
constexpr field f_msi_attr{27, 24};
constexpr field f_msi_data{63, 32};
// Word 1.
constexpr field f_leaf = bit(0);
constexpr field f_ttl{9, 8};
constexpr field f_tg{11, 10};
constexpr field f_va{63, 12};
constexpr field f_ipa{55, 12}; // G.b width; Linux masks [51:12]
constexpr field f_ste_range{4, 0};
constexpr field f_atc_size{5, 0};
constexpr field f_prefetch_size{4, 0};
// NOT CONFIRMED (reference §10): the PREFETCH_ADDR Stride and NS positions are only in
// images of the spec. Stride takes the bits between Size and the address, NS bit 11.
constexpr field f_prefetch_stride{9, 5};
constexpr field f_prefetch_ns = bit(11);
constexpr field f_prg_index{8, 0};
constexpr field f_resp{13, 12}; // Linux; QEMU (unused) says [12:11], reference §9 row 6
constexpr field f_stag{15, 0};
constexpr field f_msi_addr{55, 2}; // G.b width; Linux masks [51:2]

constexpr unsigned max_atc_size = 52;

// ---- per-opcode field groups -------------------------------------------------------------
enum group : std::uint32_t {
    g_ssec = 1u << 0,
    g_ssv = 1u << 1,
    g_ssid = 1u << 2,
    g_sid = 1u << 3,
    g_vmid = 1u << 4,
    g_asid = 1u << 5,
    g_leaf = 1u << 6,
    g_range = 1u << 7, // NUM, SCALE, TG, TTL
    g_va = 1u << 8,
    g_ipa = 1u << 9,
    g_ste_range = 1u << 10,
    g_atc = 1u << 11, // Global, Size
    g_prefetch = 1u << 12,
    g_pri = 1u << 13,
    g_resume = 1u << 14,
    g_sync = 1u << 15,
    g_defined = 1u << 31, // set for every defined opcode, so an empty shape still means "known"
};

constexpr std::uint32_t g_stream = g_ssv | g_ssid | g_sid;
constexpr std::uint32_t g_tlbi_va = g_leaf | g_range | g_va;
constexpr std::uint32_t g_tlbi_ipa = g_vmid | g_leaf | g_range | g_ipa;

/// Field groups of an opcode, 0 when the opcode is not defined.
std::uint32_t shape_of(std::uint8_t raw) {
    switch (static_cast<opcode>(raw)) {
    case opcode::prefetch_config:
        return g_defined | g_ssec | g_stream;
    case opcode::prefetch_addr:
        return g_defined | g_ssec | g_stream | g_va | g_prefetch;
    case opcode::cfgi_ste:
        return g_defined | g_ssec | g_sid | g_leaf;
    case opcode::cfgi_ste_range:
        return g_defined | g_ssec | g_sid | g_ste_range;
    case opcode::cfgi_cd:
        return g_defined | g_ssec | g_ssid | g_sid | g_leaf;
    case opcode::cfgi_cd_all:
        return g_defined | g_ssec | g_sid;
    case opcode::cfgi_vms_pidm:
        // IHI0070 §4.3.5 CMD_CFGI_VMS_PIDM(SSec, VMID); VMID assumed at the TLBI position.
        return g_defined | g_ssec | g_vmid;
    case opcode::tlbi_nh_all:
    case opcode::tlbi_s12_vmall:
    case opcode::tlbi_s_s12_vmall:
        return g_defined | g_vmid;
    case opcode::tlbi_nh_asid:
        return g_defined | g_vmid | g_asid;
    case opcode::tlbi_nh_va:
        return g_defined | g_vmid | g_asid | g_tlbi_va;
    case opcode::tlbi_nh_vaa:
        return g_defined | g_vmid | g_tlbi_va;
    case opcode::tlbi_el3_all:
    case opcode::tlbi_el2_all:
    case opcode::tlbi_s_el2_all:
    case opcode::tlbi_nsnh_all:
    case opcode::tlbi_snh_all:
        return g_defined;
    case opcode::tlbi_el3_va:
    case opcode::tlbi_el2_vaa:
    case opcode::tlbi_s_el2_vaa:
        return g_defined | g_tlbi_va;
    case opcode::tlbi_el2_asid:
    case opcode::tlbi_s_el2_asid:
        return g_defined | g_asid;
    case opcode::tlbi_el2_va:
    case opcode::tlbi_s_el2_va:
        return g_defined | g_asid | g_tlbi_va;
    case opcode::tlbi_s2_ipa:
    case opcode::tlbi_s_s2_ipa: // its NS parameter position is not in our sources: RES0 here
        return g_defined | g_tlbi_ipa;
    case opcode::atc_inv:
        return g_defined | g_stream | g_va | g_atc;
    case opcode::pri_resp:
        return g_defined | g_stream | g_pri;
    case opcode::resume:
        return g_defined | g_ssec | g_sid | g_resume;
    case opcode::stall_term:
        return g_defined | g_ssec | g_sid;
    case opcode::sync:
        return g_defined | g_sync;
    }
    return 0;
}

field scale_field(bool ds) {
    return ds ? f_scale_ds : f_scale;
}

std::uint64_t w0_defined_mask(std::uint32_t shape, bool ds) {
    std::uint64_t m = f_opcode.mask();
    if (shape & g_ssec)
        m |= f_ssec.mask();
    if (shape & g_ssv)
        m |= f_ssv.mask();
    if (shape & g_ssid)
        m |= f_ssid.mask();
    if (shape & g_sid)
        m |= f_sid.mask();
    if (shape & g_vmid)
        m |= f_vmid.mask();
    if (shape & g_asid)
        m |= f_asid.mask();
    if (shape & g_range)
        m |= f_num.mask() | scale_field(ds).mask();
    if (shape & g_atc)
        m |= f_global.mask();
    if (shape & g_resume)
        m |= f_ac.mask() | f_ab.mask();
    if (shape & g_sync)
        m |= f_cs.mask() | f_msh.mask() | f_msi_attr.mask() | f_msi_data.mask();
    return m;
}

std::uint64_t w1_defined_mask(std::uint32_t shape) {
    std::uint64_t m = 0;
    if (shape & g_leaf)
        m |= f_leaf.mask();
    if (shape & g_range)
        m |= f_tg.mask() | f_ttl.mask();
    if (shape & g_va)
        m |= f_va.mask();
    if (shape & g_ipa)
        m |= f_ipa.mask();
    if (shape & g_ste_range)
        m |= f_ste_range.mask();
    if (shape & g_atc)
        m |= f_atc_size.mask();
    if (shape & g_prefetch)
        m |= f_prefetch_size.mask() | f_prefetch_stride.mask() | f_prefetch_ns.mask();
    if (shape & g_pri)
        m |= f_prg_index.mask() | f_resp.mask();
    if (shape & g_resume)
        m |= f_stag.mask();
    if (shape & g_sync)
        m |= f_msi_addr.mask();
    return m;
}

command extract(const command_words& w, opcode op, std::uint32_t shape, bool ds) {
    command c;
    c.op = op;
    if (shape & g_ssec)
        c.ssec = f_ssec.get(w[0]) != 0;
    if (shape & g_ssv)
        c.ssv = f_ssv.get(w[0]) != 0;
    if (shape & g_ssid)
        c.ssid = static_cast<substream_id>(f_ssid.get(w[0]));
    if (shape & g_sid)
        c.sid = static_cast<stream_id>(f_sid.get(w[0]));
    if (shape & g_vmid)
        c.vmid = static_cast<vmid_t>(f_vmid.get(w[0]));
    if (shape & g_asid)
        c.asid = static_cast<asid_t>(f_asid.get(w[0]));
    if (shape & g_leaf)
        c.leaf = f_leaf.get(w[1]) != 0;
    if (shape & g_range) {
        c.range.num = static_cast<std::uint8_t>(f_num.get(w[0]));
        c.range.scale = static_cast<std::uint8_t>(scale_field(ds).get(w[0]));
        c.range.tg = static_cast<tlbi_granule>(f_tg.get(w[1]));
        c.range.ttl = static_cast<tlbi_ttl>(f_ttl.get(w[1]));
    }
    if (shape & g_va)
        c.address = w[1] & f_va.mask();
    if (shape & g_ipa)
        c.address = w[1] & f_ipa.mask();
    if (shape & g_ste_range)
        c.ste_range = static_cast<std::uint8_t>(f_ste_range.get(w[1]));
    if (shape & g_atc) {
        c.global = f_global.get(w[0]) != 0;
        c.size = static_cast<std::uint8_t>(f_atc_size.get(w[1]));
    }
    if (shape & g_prefetch) {
        c.size = static_cast<std::uint8_t>(f_prefetch_size.get(w[1]));
        c.stride = static_cast<std::uint8_t>(f_prefetch_stride.get(w[1]));
        c.ns = f_prefetch_ns.get(w[1]) != 0;
    }
    if (shape & g_pri) {
        c.prg_index = static_cast<std::uint16_t>(f_prg_index.get(w[1]));
        c.resp = static_cast<pri_response>(f_resp.get(w[1]));
    }
    if (shape & g_resume) {
        c.resume_retry = f_ac.get(w[0]) != 0;
        c.resume_abort = f_ab.get(w[0]) != 0;
        c.stag = static_cast<std::uint16_t>(f_stag.get(w[1]));
    }
    if (shape & g_sync) {
        c.cs = static_cast<sync_cs>(f_cs.get(w[0]));
        c.msh = static_cast<shareability>(f_msh.get(w[0]));
        c.msi_attr = static_cast<std::uint8_t>(f_msi_attr.get(w[0]));
        c.msi_data = static_cast<std::uint32_t>(f_msi_data.get(w[0]));
        c.msi_addr = w[1] & f_msi_addr.mask();
    }
    return c;
}

bool needs_secure_s2(opcode op) {
    switch (op) {
    case opcode::tlbi_s_el2_all:
    case opcode::tlbi_s_el2_asid:
    case opcode::tlbi_s_el2_va:
    case opcode::tlbi_s_el2_vaa:
    case opcode::tlbi_s_s12_vmall:
    case opcode::tlbi_s_s2_ipa:
    case opcode::tlbi_snh_all:
        return true;
    default:
        return false;
    }
}

ill_reason check_queue(opcode op, std::uint32_t shape, std::uint64_t w0,
                       const command_decode_context& ctx) {
    if (is_secure_only(op)) {
        if (!ctx.secure_queue)
            return ill_reason::secure_only_opcode;
        if (needs_secure_s2(op) && !ctx.secure_s2)
            return ill_reason::secure_stage2_unsupported;
    }
    if ((shape & g_ssec) && f_ssec.get(w0) != 0 && !ctx.secure_queue)
        return ill_reason::ssec_on_non_secure_queue;
    return ill_reason::none;
}

ill_reason check_features(opcode op, const command_decode_context& ctx) {
    switch (op) {
    case opcode::tlbi_nh_all:
    case opcode::tlbi_nh_asid:
    case opcode::tlbi_nh_va:
    case opcode::tlbi_nh_vaa:
    case opcode::tlbi_el3_all:
    case opcode::tlbi_el3_va:
        return ctx.s1p ? ill_reason::none : ill_reason::stage1_unsupported;
    case opcode::tlbi_el2_all:
    case opcode::tlbi_el2_asid:
    case opcode::tlbi_el2_va:
    case opcode::tlbi_el2_vaa:
        if (!ctx.hyp)
            return ill_reason::el2_unsupported;
        return ctx.s1p ? ill_reason::none : ill_reason::stage1_unsupported;
    case opcode::tlbi_s12_vmall:
    case opcode::tlbi_s2_ipa:
    case opcode::tlbi_s_s12_vmall:
    case opcode::tlbi_s_s2_ipa:
        return ctx.s2p ? ill_reason::none : ill_reason::stage2_unsupported;
    case opcode::cfgi_cd:
    case opcode::cfgi_cd_all:
        return ctx.s1p ? ill_reason::none : ill_reason::cfgi_cd_without_s1p;
    case opcode::cfgi_vms_pidm:
        return ctx.mpam ? ill_reason::none : ill_reason::vms_pidm_without_mpam;
    case opcode::atc_inv:
        return ctx.ats ? ill_reason::none : ill_reason::atc_inv_without_ats;
    case opcode::pri_resp:
        return ctx.pri ? ill_reason::none : ill_reason::pri_resp_without_pri;
    case opcode::resume:
    case opcode::stall_term:
        return ctx.stall ? ill_reason::none : ill_reason::stall_unsupported;
    default:
        return ill_reason::none;
    }
}

bool is_reserved_range(const tlbi_range& r, bool ds) {
    return r.tg != tlbi_granule::none && r.num == 0 && r.scale == 0 &&
           effective_ttl(r.tg, r.ttl, ds) == tlbi_ttl::any;
}

ill_reason check_values(const command& c, const command_decode_context& ctx) {
    switch (c.op) {
    case opcode::sync:
        return c.cs == sync_cs::reserved ? ill_reason::sync_cs_reserved : ill_reason::none;
    case opcode::atc_inv:
        return c.size > max_atc_size ? ill_reason::atc_inv_size_too_large : ill_reason::none;
    case opcode::pri_resp:
        return c.resp == pri_response::reserved ? ill_reason::pri_resp_reserved : ill_reason::none;
    default:
        break;
    }
    // Without RIL the range fields are RES0 (checked with the reserved fields), not a range.
    if (is_tlbi_by_address(c.op) && ctx.ril && is_reserved_range(c.range, ctx.ds))
        return ill_reason::reserved_range_encoding;
    return ill_reason::none;
}

bool range_fields_set(const tlbi_range& r) {
    return r.tg != tlbi_granule::none || r.ttl != tlbi_ttl::any || r.num != 0 || r.scale != 0;
}

ill_reason check_reserved(const command& c, std::uint32_t shape, const command_words& w,
                          const command_decode_context& ctx) {
    if ((shape & g_range) && range_fields_set(c.range)) {
        if (!ctx.ril)
            return ill_reason::range_without_ril;
        if (c.range.tg == tlbi_granule::none) // NUM, SCALE, TTL are RES0 when TG == 0
            return ill_reason::reserved_field_nonzero;
    }
    if ((w[0] & ~w0_defined_mask(shape, ctx.ds)) != 0 || (w[1] & ~w1_defined_mask(shape)) != 0)
        return ill_reason::reserved_field_nonzero;
    return ill_reason::none;
}

command_decode_result ill(command_decode_result r, ill_reason why) {
    r.error = cmdq_error::ill;
    r.reason = why;
    return r;
}

command base(opcode op) {
    command c;
    c.op = op;
    return c;
}

command with_stream(opcode op, stream_ref s) {
    command c = base(op);
    c.sid = s.sid;
    c.ssv = s.ssv;
    c.ssid = s.ssid;
    return c;
}

command tlbi_by_address(opcode op, std::uint64_t address, bool leaf, tlbi_range range) {
    command c = base(op);
    c.address = address;
    c.leaf = leaf;
    c.range = range;
    return c;
}

unsigned lowest_set_bit(std::uint64_t v) {
    unsigned n = 0;
    while ((v & 1) == 0 && n < 64) {
        v >>= 1;
        ++n;
    }
    return n;
}

/// Position of the highest set bit, 1-based; 0 for 0.
unsigned fls(std::uint64_t v) {
    unsigned n = 0;
    while (v != 0) {
        v >>= 1;
        ++n;
    }
    return n;
}

} // namespace

// ---- comparisons ---------------------------------------------------------------------------

bool operator==(const tlbi_range& a, const tlbi_range& b) {
    return a.tg == b.tg && a.ttl == b.ttl && a.num == b.num && a.scale == b.scale;
}

bool operator==(const command& a, const command& b) {
    return a.op == b.op && a.ssec == b.ssec && a.ssv == b.ssv && a.ssid == b.ssid &&
           a.sid == b.sid && a.vmid == b.vmid && a.asid == b.asid && a.leaf == b.leaf &&
           a.address == b.address && a.range == b.range && a.ste_range == b.ste_range &&
           a.global == b.global && a.size == b.size && a.stride == b.stride && a.ns == b.ns &&
           a.prg_index == b.prg_index && a.resp == b.resp && a.resume_retry == b.resume_retry &&
           a.resume_abort == b.resume_abort && a.stag == b.stag && a.cs == b.cs && a.msh == b.msh &&
           a.msi_attr == b.msi_attr && a.msi_data == b.msi_data && a.msi_addr == b.msi_addr;
}

bool operator==(const addr_span& a, const addr_span& b) {
    return a.start == b.start && a.last == b.last;
}

bool operator==(const tlbi_range_op& a, const tlbi_range_op& b) {
    return a.address == b.address && a.range == b.range;
}

bool operator==(const atc_inv_params& a, const atc_inv_params& b) {
    return a.address == b.address && a.size == b.size;
}

// ---- opcode properties ---------------------------------------------------------------------

bool is_defined_opcode(std::uint8_t raw) {
    return shape_of(raw) != 0;
}

bool is_secure_only(opcode op) {
    switch (op) {
    case opcode::tlbi_el3_all:
    case opcode::tlbi_el3_va:
        return true;
    default:
        return needs_secure_s2(op);
    }
}

bool is_tlbi_by_address(opcode op) {
    return (shape_of(static_cast<std::uint8_t>(op)) & g_range) != 0;
}

const char* opcode_name(opcode op) {
    switch (op) {
    case opcode::prefetch_config:
        return "CMD_PREFETCH_CONFIG";
    case opcode::prefetch_addr:
        return "CMD_PREFETCH_ADDR";
    case opcode::cfgi_ste:
        return "CMD_CFGI_STE";
    case opcode::cfgi_ste_range:
        return "CMD_CFGI_STE_RANGE";
    case opcode::cfgi_cd:
        return "CMD_CFGI_CD";
    case opcode::cfgi_cd_all:
        return "CMD_CFGI_CD_ALL";
    case opcode::cfgi_vms_pidm:
        return "CMD_CFGI_VMS_PIDM";
    case opcode::tlbi_nh_all:
        return "CMD_TLBI_NH_ALL";
    case opcode::tlbi_nh_asid:
        return "CMD_TLBI_NH_ASID";
    case opcode::tlbi_nh_va:
        return "CMD_TLBI_NH_VA";
    case opcode::tlbi_nh_vaa:
        return "CMD_TLBI_NH_VAA";
    case opcode::tlbi_el3_all:
        return "CMD_TLBI_EL3_ALL";
    case opcode::tlbi_el3_va:
        return "CMD_TLBI_EL3_VA";
    case opcode::tlbi_el2_all:
        return "CMD_TLBI_EL2_ALL";
    case opcode::tlbi_el2_asid:
        return "CMD_TLBI_EL2_ASID";
    case opcode::tlbi_el2_va:
        return "CMD_TLBI_EL2_VA";
    case opcode::tlbi_el2_vaa:
        return "CMD_TLBI_EL2_VAA";
    case opcode::tlbi_s12_vmall:
        return "CMD_TLBI_S12_VMALL";
    case opcode::tlbi_s2_ipa:
        return "CMD_TLBI_S2_IPA";
    case opcode::tlbi_nsnh_all:
        return "CMD_TLBI_NSNH_ALL";
    case opcode::atc_inv:
        return "CMD_ATC_INV";
    case opcode::pri_resp:
        return "CMD_PRI_RESP";
    case opcode::resume:
        return "CMD_RESUME";
    case opcode::stall_term:
        return "CMD_STALL_TERM";
    case opcode::sync:
        return "CMD_SYNC";
    case opcode::tlbi_s_el2_all:
        return "CMD_TLBI_S_EL2_ALL";
    case opcode::tlbi_s_el2_asid:
        return "CMD_TLBI_S_EL2_ASID";
    case opcode::tlbi_s_el2_va:
        return "CMD_TLBI_S_EL2_VA";
    case opcode::tlbi_s_el2_vaa:
        return "CMD_TLBI_S_EL2_VAA";
    case opcode::tlbi_s_s12_vmall:
        return "CMD_TLBI_S_S12_VMALL";
    case opcode::tlbi_s_s2_ipa:
        return "CMD_TLBI_S_S2_IPA";
    case opcode::tlbi_snh_all:
        return "CMD_TLBI_SNH_ALL";
    }
    return "CMD_RESERVED";
}

const char* ill_reason_name(ill_reason r) {
    switch (r) {
    case ill_reason::none:
        return "none";
    case ill_reason::reserved_opcode:
        return "reserved_opcode";
    case ill_reason::secure_only_opcode:
        return "secure_only_opcode";
    case ill_reason::ssec_on_non_secure_queue:
        return "ssec_on_non_secure_queue";
    case ill_reason::stage1_unsupported:
        return "stage1_unsupported";
    case ill_reason::stage2_unsupported:
        return "stage2_unsupported";
    case ill_reason::el2_unsupported:
        return "el2_unsupported";
    case ill_reason::secure_stage2_unsupported:
        return "secure_stage2_unsupported";
    case ill_reason::cfgi_cd_without_s1p:
        return "cfgi_cd_without_s1p";
    case ill_reason::atc_inv_without_ats:
        return "atc_inv_without_ats";
    case ill_reason::pri_resp_without_pri:
        return "pri_resp_without_pri";
    case ill_reason::stall_unsupported:
        return "stall_unsupported";
    case ill_reason::vms_pidm_without_mpam:
        return "vms_pidm_without_mpam";
    case ill_reason::sync_cs_reserved:
        return "sync_cs_reserved";
    case ill_reason::reserved_range_encoding:
        return "reserved_range_encoding";
    case ill_reason::range_without_ril:
        return "range_without_ril";
    case ill_reason::atc_inv_size_too_large:
        return "atc_inv_size_too_large";
    case ill_reason::pri_resp_reserved:
        return "pri_resp_reserved";
    case ill_reason::reserved_field_nonzero:
        return "reserved_field_nonzero";
    }
    return "unknown";
}

const char* cmdq_error_name(cmdq_error e) {
    switch (e) {
    case cmdq_error::none:
        return "CERROR_NONE";
    case cmdq_error::ill:
        return "CERROR_ILL";
    case cmdq_error::abt:
        return "CERROR_ABT";
    case cmdq_error::atc_inv_sync:
        return "CERROR_ATC_INV_SYNC";
    }
    return "CERROR_UNKNOWN";
}

// ---- encode / decode ---------------------------------------------------------------------

command_words encode(const command& c) {
    const auto raw = static_cast<std::uint8_t>(c.op);
    const std::uint32_t shape = shape_of(raw);
    std::uint64_t w0 = f_opcode.set(0, raw);
    std::uint64_t w1 = 0;
    if (shape & g_ssec)
        w0 = f_ssec.set(w0, c.ssec);
    if (shape & g_ssv)
        w0 = f_ssv.set(w0, c.ssv);
    if (shape & g_ssid)
        w0 = f_ssid.set(w0, c.ssid);
    if (shape & g_sid)
        w0 = f_sid.set(w0, c.sid);
    if (shape & g_vmid)
        w0 = f_vmid.set(w0, c.vmid);
    if (shape & g_asid)
        w0 = f_asid.set(w0, c.asid);
    if (shape & g_leaf)
        w1 = f_leaf.set(w1, c.leaf);
    if (shape & g_range) {
        // SCALE is written 6 bits wide; bit 25 is RES0 unless IDR5.DS.
        w0 = f_num.set(w0, c.range.num);
        w0 = f_scale_ds.set(w0, c.range.scale);
        w1 = f_tg.set(w1, static_cast<std::uint64_t>(c.range.tg));
        w1 = f_ttl.set(w1, static_cast<std::uint64_t>(c.range.ttl));
    }
    if (shape & g_va)
        w1 |= c.address & f_va.mask();
    if (shape & g_ipa)
        w1 |= c.address & f_ipa.mask();
    if (shape & g_ste_range)
        w1 = f_ste_range.set(w1, c.ste_range);
    if (shape & g_atc) {
        w0 = f_global.set(w0, c.global);
        w1 = f_atc_size.set(w1, c.size);
    }
    if (shape & g_prefetch) {
        w1 = f_prefetch_size.set(w1, c.size);
        w1 = f_prefetch_stride.set(w1, c.stride);
        w1 = f_prefetch_ns.set(w1, c.ns);
    }
    if (shape & g_pri) {
        w1 = f_prg_index.set(w1, c.prg_index);
        w1 = f_resp.set(w1, static_cast<std::uint64_t>(c.resp));
    }
    if (shape & g_resume) {
        w0 = f_ac.set(w0, c.resume_retry);
        w0 = f_ab.set(w0, c.resume_abort);
        w1 = f_stag.set(w1, c.stag);
    }
    if (shape & g_sync) {
        w0 = f_cs.set(w0, static_cast<std::uint64_t>(c.cs));
        w0 = f_msh.set(w0, static_cast<std::uint64_t>(c.msh));
        w0 = f_msi_attr.set(w0, c.msi_attr);
        w0 = f_msi_data.set(w0, c.msi_data);
        w1 |= c.msi_addr & f_msi_addr.mask();
    }
    return {w0, w1};
}

command_decode_result decode_command(const command_words& words,
                                     const command_decode_context& ctx) {
    command_decode_result r;
    const auto raw = static_cast<std::uint8_t>(f_opcode.get(words[0]));
    const auto op = static_cast<opcode>(raw);
    r.cmd.op = op;
    const std::uint32_t shape = shape_of(raw);
    if (shape == 0)
        return ill(r, ill_reason::reserved_opcode);
    if (const auto why = check_queue(op, shape, words[0], ctx); why != ill_reason::none)
        return ill(r, why);
    if (const auto why = check_features(op, ctx); why != ill_reason::none)
        return ill(r, why);

    command c = extract(words, op, shape, ctx.ds);
    if (const auto why = check_values(c, ctx); why != ill_reason::none)
        return ill(r, why);
    if (ctx.check_reserved_fields) {
        if (const auto why = check_reserved(c, shape, words, ctx); why != ill_reason::none)
            return ill(r, why);
    }
    // Ignored RES0 range fields: no RIL, or TG == 0 (NUM/SCALE/TTL unused).
    if (!ctx.ril || c.range.tg == tlbi_granule::none)
        c.range = tlbi_range{};
    r.cmd = c;
    return r;
}

// ---- builders ------------------------------------------------------------------------------

command make_prefetch_config(stream_ref s) {
    return with_stream(opcode::prefetch_config, s);
}

command make_prefetch_addr(stream_ref s, std::uint64_t address, std::uint8_t size,
                           std::uint8_t stride) {
    command c = with_stream(opcode::prefetch_addr, s);
    c.address = address;
    c.size = size;
    c.stride = stride;
    return c;
}

command make_cfgi_ste(stream_id sid, bool leaf) {
    command c = base(opcode::cfgi_ste);
    c.sid = sid;
    c.leaf = leaf;
    return c;
}

command make_cfgi_ste_range(stream_id sid, std::uint8_t range) {
    command c = base(opcode::cfgi_ste_range);
    c.sid = sid;
    c.ste_range = range;
    return c;
}

command make_cfgi_all() {
    return make_cfgi_ste_range(0, 31);
}

bool is_cfgi_all(const command& c) {
    return c.op == opcode::cfgi_ste_range && c.ste_range == 31;
}

command make_cfgi_cd(stream_id sid, substream_id ssid, bool leaf) {
    command c = base(opcode::cfgi_cd);
    c.sid = sid;
    c.ssid = ssid;
    c.leaf = leaf;
    return c;
}

command make_cfgi_cd_all(stream_id sid) {
    command c = base(opcode::cfgi_cd_all);
    c.sid = sid;
    return c;
}

command make_cfgi_vms_pidm(vmid_t vmid) {
    command c = base(opcode::cfgi_vms_pidm);
    c.vmid = vmid;
    return c;
}

command make_tlbi_nh_all(vmid_t vmid) {
    command c = base(opcode::tlbi_nh_all);
    c.vmid = vmid;
    return c;
}

command make_tlbi_nh_asid(vmid_t vmid, asid_t asid) {
    command c = base(opcode::tlbi_nh_asid);
    c.vmid = vmid;
    c.asid = asid;
    return c;
}

command make_tlbi_nh_va(vmid_t vmid, asid_t asid, std::uint64_t va, bool leaf, tlbi_range range) {
    command c = tlbi_by_address(opcode::tlbi_nh_va, va, leaf, range);
    c.vmid = vmid;
    c.asid = asid;
    return c;
}

command make_tlbi_nh_vaa(vmid_t vmid, std::uint64_t va, bool leaf, tlbi_range range) {
    command c = tlbi_by_address(opcode::tlbi_nh_vaa, va, leaf, range);
    c.vmid = vmid;
    return c;
}

command make_tlbi_el3_all() {
    return base(opcode::tlbi_el3_all);
}

command make_tlbi_el3_va(std::uint64_t va, bool leaf, tlbi_range range) {
    return tlbi_by_address(opcode::tlbi_el3_va, va, leaf, range);
}

command make_tlbi_el2_all() {
    return base(opcode::tlbi_el2_all);
}

command make_tlbi_el2_asid(asid_t asid) {
    command c = base(opcode::tlbi_el2_asid);
    c.asid = asid;
    return c;
}

command make_tlbi_el2_va(asid_t asid, std::uint64_t va, bool leaf, tlbi_range range) {
    command c = tlbi_by_address(opcode::tlbi_el2_va, va, leaf, range);
    c.asid = asid;
    return c;
}

command make_tlbi_el2_vaa(std::uint64_t va, bool leaf, tlbi_range range) {
    return tlbi_by_address(opcode::tlbi_el2_vaa, va, leaf, range);
}

command make_tlbi_s12_vmall(vmid_t vmid) {
    command c = base(opcode::tlbi_s12_vmall);
    c.vmid = vmid;
    return c;
}

command make_tlbi_s2_ipa(vmid_t vmid, std::uint64_t ipa, bool leaf, tlbi_range range) {
    command c = tlbi_by_address(opcode::tlbi_s2_ipa, ipa, leaf, range);
    c.vmid = vmid;
    return c;
}

command make_tlbi_nsnh_all() {
    return base(opcode::tlbi_nsnh_all);
}

command make_atc_inv(stream_ref s, std::uint64_t address, std::uint8_t size, bool global) {
    command c = with_stream(opcode::atc_inv, s);
    c.address = address;
    c.size = size;
    c.global = global;
    return c;
}

command make_pri_resp(stream_ref s, std::uint16_t prg_index, pri_response resp) {
    command c = with_stream(opcode::pri_resp, s);
    c.prg_index = prg_index;
    c.resp = resp;
    return c;
}

command make_resume(stream_id sid, std::uint16_t stag, resume_action action) {
    command c = base(opcode::resume);
    c.sid = sid;
    c.stag = stag;
    c.resume_retry = action == resume_action::retry;
    c.resume_abort = action == resume_action::abort;
    return c;
}

command make_stall_term(stream_id sid) {
    command c = base(opcode::stall_term);
    c.sid = sid;
    return c;
}

command make_sync(sync_cs cs, std::uint64_t msi_addr, std::uint32_t msi_data, shareability msh,
                  std::uint8_t msi_attr) {
    command c = base(opcode::sync);
    c.cs = cs;
    c.msi_addr = msi_addr;
    c.msi_data = msi_data;
    c.msh = msh;
    c.msi_attr = msi_attr;
    return c;
}

command make_tlbi_s_el2_all() {
    return base(opcode::tlbi_s_el2_all);
}

command make_tlbi_s_el2_asid(asid_t asid) {
    command c = base(opcode::tlbi_s_el2_asid);
    c.asid = asid;
    return c;
}

command make_tlbi_s_el2_va(asid_t asid, std::uint64_t va, bool leaf, tlbi_range range) {
    command c = tlbi_by_address(opcode::tlbi_s_el2_va, va, leaf, range);
    c.asid = asid;
    return c;
}

command make_tlbi_s_el2_vaa(std::uint64_t va, bool leaf, tlbi_range range) {
    return tlbi_by_address(opcode::tlbi_s_el2_vaa, va, leaf, range);
}

command make_tlbi_s_s12_vmall(vmid_t vmid) {
    command c = base(opcode::tlbi_s_s12_vmall);
    c.vmid = vmid;
    return c;
}

command make_tlbi_s_s2_ipa(vmid_t vmid, std::uint64_t ipa, bool leaf, tlbi_range range) {
    command c = tlbi_by_address(opcode::tlbi_s_s2_ipa, ipa, leaf, range);
    c.vmid = vmid;
    return c;
}

command make_tlbi_snh_all() {
    return base(opcode::tlbi_snh_all);
}

// ---- invalidation scope --------------------------------------------------------------------

tlbi_ttl effective_ttl(tlbi_granule tg, tlbi_ttl ttl, bool ds) {
    if (tg == tlbi_granule::none)
        return tlbi_ttl::any;
    // IHI0070 §4.4.1.1: 16K TTL == 1 is reserved without DS and treated as 0.
    if (tg == tlbi_granule::size_16k && ttl == tlbi_ttl::level1 && !ds)
        return tlbi_ttl::any;
    return ttl;
}

std::optional<granule> tlbi_granule_size(tlbi_granule tg) {
    switch (tg) {
    case tlbi_granule::size_4k:
        return granule::size_4k;
    case tlbi_granule::size_16k:
        return granule::size_16k;
    case tlbi_granule::size_64k:
        return granule::size_64k;
    case tlbi_granule::none:
        break;
    }
    return std::nullopt;
}

tlbi_granule to_tlbi_granule(granule g) {
    switch (g) {
    case granule::size_4k:
        return tlbi_granule::size_4k;
    case granule::size_16k:
        return tlbi_granule::size_16k;
    case granule::size_64k:
        return tlbi_granule::size_64k;
    }
    return tlbi_granule::none;
}

std::uint64_t tlbi_range_bytes(const tlbi_range& r, bool ds) {
    const auto g = tlbi_granule_size(r.tg);
    if (!g)
        return 0;
    // SCALE is 5 bits without DS; with DS values above 39 are treated as 39 (§4.4.1.1).
    const unsigned scale = ds ? (r.scale > 39 ? 39u : r.scale) : (r.scale & 31u);
    const std::uint64_t count = (r.num & 31u) + 1u;
    return count << (scale + granule_shift(*g)); // at most 2^(5+39+16)
}

tlbi_scope tlbi_covered_range(std::uint64_t address, const tlbi_range& r, bool ds) {
    tlbi_scope s;
    s.span = addr_span{address, address};
    s.tg = tlbi_granule_size(r.tg);
    if (!s.tg)
        return s;
    s.is_range = true;
    s.level = static_cast<unsigned>(effective_ttl(r.tg, r.ttl, ds));
    const std::uint64_t bytes = tlbi_range_bytes(r, ds);
    // The range does not wrap past the top of the address space.
    s.span.last = bytes - 1 > ~address ? ~std::uint64_t{0} : address + (bytes - 1);
    return s;
}

tlbi_scope tlbi_covered_range(const command& c, bool ds) {
    return tlbi_covered_range(c.address, c.range, ds);
}

addr_span atc_inv_span(std::uint64_t address, std::uint8_t size) {
    if (size >= max_atc_size)
        return addr_span{0, ~std::uint64_t{0}};
    const unsigned shift = 12u + size;
    const std::uint64_t start = align_down(address, shift);
    return addr_span{start, start + ((std::uint64_t{1} << shift) - 1)};
}

// ---- driver-side encoders ------------------------------------------------------------------

std::vector<tlbi_range_op> encode_range_tlbi(std::uint64_t iova, std::uint64_t size, granule tg,
                                             unsigned leaf_shift, bool leaf) {
    std::vector<tlbi_range_op> ops;
    if (size == 0)
        return ops;
    const unsigned tg_shift = granule_shift(tg);
    std::uint64_t pages = (size >> tg_shift) + (is_aligned(size, tg_shift) ? 0 : 1);

    tlbi_ttl ttl = tlbi_ttl::any;
    if (leaf) {
        const unsigned leaf_bits = leaf_shift < tg_shift ? tg_shift : leaf_shift;
        const unsigned levels_up = (leaf_bits - 3) / (tg_shift - 3); // 1 = last level
        if (levels_up >= 1 && levels_up <= 3)
            ttl = static_cast<tlbi_ttl>(4 - levels_up);
    }
    // Avoid the reserved NUM=0, SCALE=0, TTL=0 encoding: over-invalidate one page.
    if (ttl == tlbi_ttl::any && (pages & 31) == 1)
        ++pages;

    constexpr unsigned max_scale = 31; // 5-bit SCALE (IDR5.DS == 0)
    while (pages != 0) {
        unsigned scale = lowest_set_bit(pages);
        std::uint64_t n = 0;
        if (scale <= max_scale) {
            n = (pages >> scale) & 31;
        } else {
            // Beyond Linux (whose full-flush threshold stops far earlier): take up to
            // 32 chunks of 2^31 pages so the loop still terminates.
            scale = max_scale;
            n = pages >> max_scale;
            if (n > 32)
                n = 32;
        }
        tlbi_range r;
        r.tg = to_tlbi_granule(tg);
        r.ttl = ttl;
        r.num = static_cast<std::uint8_t>(n - 1);
        r.scale = static_cast<std::uint8_t>(scale);
        ops.push_back(tlbi_range_op{iova, r});
        iova += n << (scale + tg_shift);
        pages -= n << scale;
    }
    return ops;
}

std::vector<std::uint64_t> encode_page_tlbi(std::uint64_t iova, std::uint64_t size,
                                            std::uint64_t step_bytes) {
    std::vector<std::uint64_t> addrs;
    if (step_bytes == 0)
        return addrs;
    for (std::uint64_t off = 0; off < size; off += step_bytes) {
        addrs.push_back(iova + off);
        if (off + step_bytes < off) // offset would wrap
            break;
    }
    return addrs;
}

atc_inv_params encode_atc_inv_range(std::uint64_t iova, std::uint64_t size) {
    if (size == 0)
        return atc_inv_params{0, static_cast<std::uint8_t>(max_atc_size)};
    const std::uint64_t last = size - 1 > ~iova ? ~std::uint64_t{0} : iova + (size - 1);
    const std::uint64_t page_start = iova >> 12;
    const std::uint64_t page_end = last >> 12;
    const unsigned log2_span = fls(page_start ^ page_end); // at most 52
    const std::uint64_t first_page = align_down(page_start, log2_span);
    return atc_inv_params{first_page << 12, static_cast<std::uint8_t>(log2_span)};
}

command_decode_context decode_context_for(const feature_set& f) {
    command_decode_context c;
    c.s1p = f.s1p;
    c.s2p = f.s2p;
    c.hyp = f.hyp;
    c.ats = f.ats;
    c.ril = f.ril;
    c.pri = f.pri;
    c.stall = f.stalls != stall_model::terminate_only;
    c.ds = f.ds;
    return c;
}

} // namespace smmu::arch
