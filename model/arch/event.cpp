#include "model/arch/event.h"

#include "model/arch/bits.h"

namespace smmu::arch {

namespace {

// ---- field positions (reference §6.2; IHI0070 §7.3) ----------------------------------------
// Word 0.
constexpr field f_id{7, 0};
constexpr field f_ssv = bit(11);
constexpr field f_ssid{31, 12};
constexpr field f_sid{63, 32};
// Word 1.
constexpr field f_stag{15, 0};
constexpr field f_stall = bit(31);
constexpr field f_pnu = bit(33);
constexpr field f_ind = bit(34);
constexpr field f_rnw = bit(35);
constexpr field f_nsipa = bit(38); // NOT CONFIRMED: gem5 only (reference §10)
constexpr field f_s2 = bit(39);
constexpr field f_class{41, 40};
constexpr field f_ttrnw = bit(44); // NOT CONFIRMED: Linux only (reference §10)
// NOT CONFIRMED (reference §10): Reason positions. The spec text conversion shows
// Reason[79:64] for F_UUT / F_VMS_FETCH and Reason at [95:64] for F_CFG_CONFLICT.
constexpr field f_reason16{15, 0};
constexpr field f_reason32{31, 0};
// NOT CONFIRMED (reference §10): E_PAGE_REQUEST layout from a single spec-text
// conversion; F_BAD_ATS_TREQ shares its Span position, R/W/X/PRIV are our choice.
constexpr field f_span{51, 44};
constexpr field f_pr_priv_read = bit(39);
constexpr field f_pr_priv_write = bit(38);
constexpr field f_pr_priv_exec = bit(37);
constexpr field f_pr_user_read = bit(35);
constexpr field f_pr_user_write = bit(34);
constexpr field f_pr_user_exec = bit(33);
constexpr field f_ats_read = bit(35);
constexpr field f_ats_write = bit(34);
constexpr field f_ats_exec = bit(33);
constexpr field f_ats_priv = bit(32);
// Words 2 and 3.
constexpr field f_input_page{63, 12};
constexpr field f_ipa{55, 12};       // Linux [51:12]
constexpr field f_fetch_addr{55, 3}; // Linux [51:3]

// ---- per-event field groups ----------------------------------------------------------------
enum group : std::uint32_t {
    g_sid = 1u << 0,
    g_ssv = 1u << 1,
    g_ssid = 1u << 2,
    g_stall = 1u << 3,  // Stall + STAG
    g_access = 1u << 4, // PnU, InD, RnW
    g_rnw = 1u << 5,
    g_stage = 1u << 6, // S2, CLASS
    g_s2 = 1u << 18,   // S2 alone
    g_nsipa = 1u << 7,
    g_ttrnw = 1u << 8,
    g_reason16 = 1u << 9,
    g_reason32 = 1u << 10,
    g_input_addr = 1u << 11,
    g_input_page = 1u << 12,
    g_ipa = 1u << 13,
    g_fetch = 1u << 14,
    g_span = 1u << 15,
    g_ats = 1u << 16,
    g_page_req = 1u << 17,
};

constexpr std::uint32_t g_stream = g_sid | g_ssv | g_ssid;
constexpr std::uint32_t g_fault =
    g_stream | g_stall | g_access | g_stage | g_nsipa | g_input_addr | g_ipa;

std::uint32_t shape_of(event_id id) {
    switch (id) {
    case event_id::f_uut:
        return g_stream | g_reason16 | g_access | g_input_addr;
    case event_id::c_bad_streamid:
    case event_id::c_bad_ste:
    case event_id::c_bad_cd:
        return g_stream;
    case event_id::f_ste_fetch:
    case event_id::f_cd_fetch:
    case event_id::f_vms_fetch:
        return g_stream | g_reason16 | g_fetch;
    case event_id::f_bad_ats_treq:
        return g_stream | g_input_page | g_span | g_ats;
    case event_id::f_stream_disabled:
        return g_sid;
    case event_id::f_transl_forbidden:
        return g_sid | g_rnw | g_input_addr;
    case event_id::c_bad_substreamid:
        return g_sid | g_ssid;
    case event_id::f_walk_eabt:
        return g_stream | g_reason16 | g_access | g_stage | g_input_addr | g_fetch;
    case event_id::f_translation:
    case event_id::f_addr_size:
    case event_id::f_access:
        return g_fault;
    case event_id::f_permission:
        return g_fault | g_ttrnw;
    case event_id::f_tlb_conflict:
        return g_stream | g_reason32 | g_access | g_s2 | g_input_addr | g_ipa;
    case event_id::f_cfg_conflict:
        return g_stream | g_reason32;
    case event_id::e_page_request:
        return g_stream | g_input_page | g_span | g_page_req;
    default:
        return 0; // reserved or IMPLEMENTATION DEFINED: no fields we define
    }
}

event_record with_stream(event_id id, stream_ref s) {
    event_record e;
    e.id = id;
    e.sid = s.sid;
    e.ssv = s.ssv;
    e.ssid = s.ssid;
    return e;
}

void set_access(event_record& e, access_kind a) {
    e.rnw = !a.write;
    e.ind = a.instruction && !a.write;
    e.pnu = a.privileged;
}

event_record make_fault(event_id id, stream_ref s, std::uint64_t input_addr, access_kind access,
                        fault_stage stage, stall_state stall) {
    event_record e = with_stream(id, s);
    e.input_addr = input_addr;
    set_access(e, access);
    e.s2 = stage.s2;
    e.cls = stage.cls;
    e.ipa = stage.ipa;
    e.nsipa = stage.nsipa;
    e.stall = stall.stall;
    e.stag = stall.stag;
    return e;
}

} // namespace

bool operator==(const event_record& a, const event_record& b) {
    return a.id == b.id && a.sid == b.sid && a.ssv == b.ssv && a.ssid == b.ssid &&
           a.stag == b.stag && a.stall == b.stall && a.pnu == b.pnu && a.ind == b.ind &&
           a.rnw == b.rnw && a.nsipa == b.nsipa && a.s2 == b.s2 && a.cls == b.cls &&
           a.ttrnw == b.ttrnw && a.reason == b.reason && a.input_addr == b.input_addr &&
           a.ipa == b.ipa && a.fetch_addr == b.fetch_addr && a.span == b.span &&
           a.ats.read == b.ats.read && a.ats.write == b.ats.write && a.ats.exec == b.ats.exec &&
           a.ats.priv == b.ats.priv && a.page_req.priv_read == b.page_req.priv_read &&
           a.page_req.priv_write == b.page_req.priv_write &&
           a.page_req.priv_exec == b.page_req.priv_exec &&
           a.page_req.user_read == b.page_req.user_read &&
           a.page_req.user_write == b.page_req.user_write &&
           a.page_req.user_exec == b.page_req.user_exec;
}

bool is_architected_event(std::uint8_t raw) {
    return shape_of(static_cast<event_id>(raw)) != 0;
}

bool is_impdef_event(std::uint8_t raw) {
    return raw >= 0xe0 && raw <= 0xef;
}

const char* event_name(event_id id) {
    switch (id) {
    case event_id::f_uut:
        return "F_UUT";
    case event_id::c_bad_streamid:
        return "C_BAD_STREAMID";
    case event_id::f_ste_fetch:
        return "F_STE_FETCH";
    case event_id::c_bad_ste:
        return "C_BAD_STE";
    case event_id::f_bad_ats_treq:
        return "F_BAD_ATS_TREQ";
    case event_id::f_stream_disabled:
        return "F_STREAM_DISABLED";
    case event_id::f_transl_forbidden:
        return "F_TRANSL_FORBIDDEN";
    case event_id::c_bad_substreamid:
        return "C_BAD_SUBSTREAMID";
    case event_id::f_cd_fetch:
        return "F_CD_FETCH";
    case event_id::c_bad_cd:
        return "C_BAD_CD";
    case event_id::f_walk_eabt:
        return "F_WALK_EABT";
    case event_id::f_translation:
        return "F_TRANSLATION";
    case event_id::f_addr_size:
        return "F_ADDR_SIZE";
    case event_id::f_access:
        return "F_ACCESS";
    case event_id::f_permission:
        return "F_PERMISSION";
    case event_id::f_tlb_conflict:
        return "F_TLB_CONFLICT";
    case event_id::f_cfg_conflict:
        return "F_CFG_CONFLICT";
    case event_id::e_page_request:
        return "E_PAGE_REQUEST";
    case event_id::f_vms_fetch:
        return "F_VMS_FETCH";
    default:
        break;
    }
    return is_impdef_event(static_cast<std::uint8_t>(id)) ? "IMPDEF_EVENT" : "RESERVED_EVENT";
}

event_words encode_event(const event_record& e) {
    const std::uint32_t shape = shape_of(e.id);
    event_words w{f_id.set(0, static_cast<std::uint64_t>(e.id)), 0, 0, 0};
    if (shape & g_sid)
        w[0] = f_sid.set(w[0], e.sid);
    if (shape & g_ssv)
        w[0] = f_ssv.set(w[0], e.ssv);
    if (shape & g_ssid)
        w[0] = f_ssid.set(w[0], e.ssid);
    if (shape & g_stall) {
        w[1] = f_stag.set(w[1], e.stag);
        w[1] = f_stall.set(w[1], e.stall);
    }
    if (shape & g_access) {
        w[1] = f_pnu.set(w[1], e.pnu);
        w[1] = f_ind.set(w[1], e.ind);
    }
    if (shape & (g_access | g_rnw))
        w[1] = f_rnw.set(w[1], e.rnw);
    if (shape & (g_stage | g_s2))
        w[1] = f_s2.set(w[1], e.s2);
    if (shape & g_stage)
        w[1] = f_class.set(w[1], static_cast<std::uint64_t>(e.cls));
    if (shape & g_nsipa)
        w[1] = f_nsipa.set(w[1], e.nsipa);
    if (shape & g_ttrnw)
        w[1] = f_ttrnw.set(w[1], e.ttrnw);
    if (shape & g_reason16)
        w[1] = f_reason16.set(w[1], e.reason);
    if (shape & g_reason32)
        w[1] = f_reason32.set(w[1], e.reason);
    if (shape & g_span)
        w[1] = f_span.set(w[1], e.span);
    if (shape & g_ats) {
        w[1] = f_ats_read.set(w[1], e.ats.read);
        w[1] = f_ats_write.set(w[1], e.ats.write);
        w[1] = f_ats_exec.set(w[1], e.ats.exec);
        w[1] = f_ats_priv.set(w[1], e.ats.priv);
    }
    if (shape & g_page_req) {
        w[1] = f_pr_priv_read.set(w[1], e.page_req.priv_read);
        w[1] = f_pr_priv_write.set(w[1], e.page_req.priv_write);
        w[1] = f_pr_priv_exec.set(w[1], e.page_req.priv_exec);
        w[1] = f_pr_user_read.set(w[1], e.page_req.user_read);
        w[1] = f_pr_user_write.set(w[1], e.page_req.user_write);
        w[1] = f_pr_user_exec.set(w[1], e.page_req.user_exec);
    }
    if (shape & g_input_addr)
        w[2] = e.input_addr;
    if (shape & g_input_page)
        w[2] = e.input_addr & f_input_page.mask();
    if (shape & g_ipa)
        w[3] = e.ipa & f_ipa.mask();
    if (shape & g_fetch)
        w[3] = e.fetch_addr & f_fetch_addr.mask();
    return w;
}

event_record decode_event(const event_words& w) {
    event_record e;
    e.id = static_cast<event_id>(f_id.get(w[0]));
    const std::uint32_t shape = shape_of(e.id);
    if (shape & g_sid)
        e.sid = static_cast<stream_id>(f_sid.get(w[0]));
    if (shape & g_ssv)
        e.ssv = f_ssv.get(w[0]) != 0;
    if (shape & g_ssid)
        e.ssid = static_cast<substream_id>(f_ssid.get(w[0]));
    if (shape & g_stall) {
        e.stag = static_cast<std::uint16_t>(f_stag.get(w[1]));
        e.stall = f_stall.get(w[1]) != 0;
    }
    if (shape & g_access) {
        e.pnu = f_pnu.get(w[1]) != 0;
        e.ind = f_ind.get(w[1]) != 0;
    }
    if (shape & (g_access | g_rnw))
        e.rnw = f_rnw.get(w[1]) != 0;
    if (shape & (g_stage | g_s2))
        e.s2 = f_s2.get(w[1]) != 0;
    if (shape & g_stage)
        e.cls = static_cast<fault_class>(f_class.get(w[1]));
    if (shape & g_nsipa)
        e.nsipa = f_nsipa.get(w[1]) != 0;
    if (shape & g_ttrnw)
        e.ttrnw = f_ttrnw.get(w[1]) != 0;
    if (shape & g_reason16)
        e.reason = static_cast<std::uint32_t>(f_reason16.get(w[1]));
    if (shape & g_reason32)
        e.reason = static_cast<std::uint32_t>(f_reason32.get(w[1]));
    if (shape & g_span)
        e.span = static_cast<std::uint8_t>(f_span.get(w[1]));
    if (shape & g_ats) {
        e.ats.read = f_ats_read.get(w[1]) != 0;
        e.ats.write = f_ats_write.get(w[1]) != 0;
        e.ats.exec = f_ats_exec.get(w[1]) != 0;
        e.ats.priv = f_ats_priv.get(w[1]) != 0;
    }
    if (shape & g_page_req) {
        e.page_req.priv_read = f_pr_priv_read.get(w[1]) != 0;
        e.page_req.priv_write = f_pr_priv_write.get(w[1]) != 0;
        e.page_req.priv_exec = f_pr_priv_exec.get(w[1]) != 0;
        e.page_req.user_read = f_pr_user_read.get(w[1]) != 0;
        e.page_req.user_write = f_pr_user_write.get(w[1]) != 0;
        e.page_req.user_exec = f_pr_user_exec.get(w[1]) != 0;
    }
    if (shape & g_input_addr)
        e.input_addr = w[2];
    if (shape & g_input_page)
        e.input_addr = w[2] & f_input_page.mask();
    if (shape & g_ipa)
        e.ipa = w[3] & f_ipa.mask();
    if (shape & g_fetch)
        e.fetch_addr = w[3] & f_fetch_addr.mask();
    return e;
}

// ---- builders ------------------------------------------------------------------------------

event_record make_uut(stream_ref s, std::uint64_t input_addr, access_kind access,
                      std::uint16_t reason) {
    event_record e = with_stream(event_id::f_uut, s);
    e.input_addr = input_addr;
    set_access(e, access);
    e.reason = reason;
    return e;
}

event_record make_bad_streamid(stream_ref s) {
    return with_stream(event_id::c_bad_streamid, s);
}

event_record make_ste_fetch(stream_ref s, std::uint64_t fetch_addr, std::uint16_t reason) {
    event_record e = with_stream(event_id::f_ste_fetch, s);
    e.fetch_addr = fetch_addr;
    e.reason = reason;
    return e;
}

event_record make_bad_ste(stream_ref s) {
    return with_stream(event_id::c_bad_ste, s);
}

event_record make_bad_ats_treq(stream_ref s, std::uint64_t input_addr, std::uint8_t span,
                               ats_request_access req) {
    event_record e = with_stream(event_id::f_bad_ats_treq, s);
    e.input_addr = input_addr;
    e.span = span;
    e.ats = req;
    return e;
}

event_record make_stream_disabled(stream_id sid) {
    return with_stream(event_id::f_stream_disabled, stream_ref{sid});
}

event_record make_transl_forbidden(stream_id sid, std::uint64_t input_addr, bool rnw) {
    event_record e = with_stream(event_id::f_transl_forbidden, stream_ref{sid});
    e.input_addr = input_addr;
    e.rnw = rnw;
    return e;
}

event_record make_bad_substreamid(stream_id sid, substream_id ssid) {
    event_record e = with_stream(event_id::c_bad_substreamid, stream_ref{sid});
    e.ssid = ssid;
    return e;
}

event_record make_cd_fetch(stream_ref s, std::uint64_t fetch_addr, std::uint16_t reason) {
    event_record e = with_stream(event_id::f_cd_fetch, s);
    e.fetch_addr = fetch_addr;
    e.reason = reason;
    return e;
}

event_record make_bad_cd(stream_ref s) {
    return with_stream(event_id::c_bad_cd, s);
}

event_record make_walk_eabt(stream_ref s, std::uint64_t input_addr, access_kind access, bool s2,
                            fault_class cls, std::uint64_t fetch_addr, std::uint16_t reason) {
    event_record e = with_stream(event_id::f_walk_eabt, s);
    e.input_addr = input_addr;
    set_access(e, access);
    e.s2 = s2;
    e.cls = cls;
    e.fetch_addr = fetch_addr;
    e.reason = reason;
    return e;
}

event_record make_translation_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                                    fault_stage stage, stall_state stall) {
    return make_fault(event_id::f_translation, s, input_addr, access, stage, stall);
}

event_record make_addr_size_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                                  fault_stage stage, stall_state stall) {
    return make_fault(event_id::f_addr_size, s, input_addr, access, stage, stall);
}

event_record make_access_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                               fault_stage stage, stall_state stall) {
    return make_fault(event_id::f_access, s, input_addr, access, stage, stall);
}

event_record make_permission_fault(stream_ref s, std::uint64_t input_addr, access_kind access,
                                   fault_stage stage, stall_state stall, bool tt_read) {
    event_record e = make_fault(event_id::f_permission, s, input_addr, access, stage, stall);
    e.ttrnw = tt_read;
    return e;
}

event_record make_tlb_conflict(stream_ref s, std::uint64_t input_addr, access_kind access, bool s2,
                               std::uint64_t ipa, std::uint32_t reason) {
    event_record e = with_stream(event_id::f_tlb_conflict, s);
    e.input_addr = input_addr;
    set_access(e, access);
    e.s2 = s2;
    e.ipa = ipa;
    e.reason = reason;
    return e;
}

event_record make_cfg_conflict(stream_ref s, std::uint32_t reason) {
    event_record e = with_stream(event_id::f_cfg_conflict, s);
    e.reason = reason;
    return e;
}

event_record make_page_request(stream_ref s, std::uint64_t input_addr, std::uint8_t span,
                               page_request_access access) {
    event_record e = with_stream(event_id::e_page_request, s);
    e.input_addr = input_addr;
    e.span = span;
    e.page_req = access;
    return e;
}

event_record make_vms_fetch(stream_ref s, std::uint64_t fetch_addr, std::uint16_t reason) {
    event_record e = with_stream(event_id::f_vms_fetch, s);
    e.fetch_addr = fetch_addr;
    e.reason = reason;
    return e;
}

} // namespace smmu::arch
