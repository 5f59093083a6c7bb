#include "model/arch/walker.h"

#include <algorithm>

namespace smmu::arch {
namespace {

/// True when `addr` has a bit set at or above `bits`.
constexpr bool exceeds(std::uint64_t addr, unsigned bits) {
    return bits < 64 && (addr >> bits) != 0;
}

/// Geometry of one stage's walk, resolved from its configuration.
struct stage_walk {
    stage st = stage::one;
    granule g = granule::size_4k;
    int start_level = 0;
    phys_addr table_base = 0; ///< initial table(s), aligned
    unsigned ia_bits = 0;
    unsigned oa_bits = 0; ///< effective output size: min(IPS/PS, format width)
    oa_format fmt = oa_format::bits48;
    bool ds = false;
    bool pa_max_52 = false;
};

/// Alignment of the initial table(s): their size, and 64 bytes at least when
/// the output size is 52 bits (reference §8.2); smaller tables need only 8.
unsigned initial_table_align(const stage_walk& p) {
    const unsigned table_log2 = p.ia_bits - level_shift(p.g, p.start_level) + 3;
    return std::max(table_log2, p.oa_bits > 48 ? 6u : 3u);
}

/// The block or page descriptor a walk ended on.
struct leaf {
    std::uint64_t desc = 0;
    int level = 0;
    unsigned size_log2 = 0;        ///< block/page size, or the Contiguous span
    phys_addr output = 0;          ///< output address of the walked input address
    std::uint64_t table_attrs = 0; ///< OR of the hierarchical bits of the tables walked
};

/// How faults of one translation are reported.
struct fault_ctx {
    fault_class cls = fault_class::in;
    std::uint64_t ipa = 0; ///< stage 2: the IPA being translated
};

struct fetched {
    phys_addr pa = 0;
    std::uint64_t value = 0;
};

struct translation {
    leaf lf;
    permission_set perms;
};

permission_set s1_permissions(const stage1_config& c, const leaf& lf, bool hierarchical) {
    const std::uint64_t d = lf.desc;
    const std::uint64_t t = hierarchical ? lf.table_attrs : 0;
    const std::uint64_t ap_table = tt_desc::ap_table.get(t);
    const bool read_only = tt_desc::ap_ro.get(d) != 0 || (ap_table & 2) != 0;
    permission_set p;
    p.priv_read = true;
    p.priv_write = !read_only;
    if (c.regime == s1_regime::single_el) {
        // AP[1], APTable[0], PXN and PXNTable are RES0/RES1 here; there is no
        // EL0, so the transaction's privilege does not matter.
        const bool xn = tt_desc::uxn.get(d) != 0 || tt_desc::uxn_table.get(t) != 0;
        p.priv_exec = !xn && !(c.wxn && p.priv_write);
        p.user_read = p.priv_read;
        p.user_write = p.priv_write;
        p.user_exec = p.priv_exec;
        return p;
    }
    const bool el0 = tt_desc::ap_el0.get(d) != 0 && (ap_table & 1) == 0;
    const bool uxn = tt_desc::uxn.get(d) != 0 || tt_desc::uxn_table.get(t) != 0;
    const bool pxn = tt_desc::pxn.get(d) != 0 || tt_desc::pxn_table.get(t) != 0;
    p.user_read = el0;
    p.user_write = el0 && !read_only;
    p.user_exec = !uxn && !(c.wxn && p.user_write);
    // DDI0487 R_VWLLR: EL0-writable memory is never privileged-executable.
    p.priv_exec = !pxn && !p.user_write && !(c.wxn && p.priv_write);
    if (c.pan && (p.user_read || p.user_write)) {
        // PAN removes privileged data access to EL0-accessible memory.
        p.priv_read = false;
        p.priv_write = false;
    }
    return p;
}

permission_set s2_permissions(const stage2_config& c, std::uint64_t d) {
    const bool r = tt_desc::s2ap_read.get(d) != 0;
    const bool w = tt_desc::s2ap_write.get(d) != 0;
    bool priv_x = true;
    bool user_x = true;
    if (c.xnx) {
        // XN[1:0]: 00 both, 01 not EL1, 10 neither, 11 not EL0 (DDI0487 Table D8-78).
        switch (tt_desc::s2_xn.get(d)) {
        case 1:
            priv_x = false;
            break;
        case 2:
            priv_x = user_x = false;
            break;
        case 3:
            user_x = false;
            break;
        default:
            break;
        }
    } else {
        priv_x = user_x = tt_desc::uxn.get(d) == 0;
    }
    return {r, w, priv_x, r, w, user_x};
}

/// Stage-2 MemAttr[3:2] == 00 is Device memory (FWB = 0 encoding).
bool is_device(std::uint64_t s2_desc) {
    return (tt_desc::mem_attr.get(s2_desc) & 0xc) == 0;
}

class walk_engine {
public:
    walk_engine(const walk_request& req, walk_memory& mem)
        : m_req(req)
        , m_mem(mem) {}

    walk_outcome run();

private:
    void fail(fault_kind kind, stage st, int level, const fault_ctx& ctx, phys_addr fetch = 0);
    std::optional<fetched> fetch(const stage_walk& p, phys_addr addr, int level,
                                 const fault_ctx& ctx);
    std::optional<leaf> walk_tables(const stage_walk& p, std::uint64_t ia, const fault_ctx& ctx);
    std::optional<translation> stage1(std::uint64_t& canonical);
    std::optional<translation> stage2(std::uint64_t ipa, fault_class cls, bool structure_read);
    void finish(std::uint64_t canonical, std::uint64_t ipa, const translation* t1,
                const translation* t2);

    const walk_request& m_req;
    walk_memory& m_mem;
    walk_outcome m_out;
    /// Level of a stage-1 permission fault deferred by check_permissions == false.
    std::optional<int> m_s1_denied;
};

void walk_engine::fail(fault_kind kind, stage st, int level, const fault_ctx& ctx,
                       phys_addr fetch) {
    walk_fault f;
    f.kind = kind;
    f.st = st;
    f.level = level;
    f.cls = ctx.cls;
    f.input_address = m_req.input_address;
    f.ipa = st == stage::two ? ctx.ipa : 0;
    f.fetch_address = fetch;
    f.access = m_req.access;
    m_out.fault = f;
}

std::optional<fetched> walk_engine::fetch(const stage_walk& p, phys_addr addr, int level,
                                          const fault_ctx& ctx) {
    phys_addr pa = addr;
    if (p.st == stage::one && m_req.s2 != nullptr) {
        // Nested: the stage-1 descriptor address is an IPA (CLASS = TT).
        const auto t = stage2(addr, fault_class::tt, true);
        if (!t)
            return std::nullopt;
        pa = t->lf.output;
    }
    auto& counts = p.st == stage::one ? m_out.reads.s1 : m_out.reads.s2;
    ++counts[level_index(level)];
    const descriptor_read r = m_mem.read_descriptor(pa, p.st, level);
    if (r.abort) {
        // A stage-1 descriptor fetch abort is reported with CLASS = TT (§6.2).
        const fault_ctx abort_ctx{p.st == stage::one ? fault_class::tt : ctx.cls, ctx.ipa};
        fail(fault_kind::external_abort, p.st, level, abort_ctx, pa);
        return std::nullopt;
    }
    return fetched{pa, r.value};
}

std::optional<leaf> walk_engine::walk_tables(const stage_walk& p, std::uint64_t ia,
                                             const fault_ctx& ctx) {
    const unsigned s = bits_per_level(p.g);
    phys_addr table = p.table_base;
    std::uint64_t table_attrs = 0;
    int first_level = p.start_level;
    if (m_req.resume != nullptr) {
        const auto hit = m_req.resume->find(p.st, ia, p.g);
        if (hit && hit->level >= p.start_level && hit->level < max_level) {
            first_level = hit->level + 1;
            table = hit->next_table;
            if (p.st == stage::one)
                table_attrs = hit->table_attrs & tt_desc::table_attr_mask;
        }
    }
    for (int level = first_level; level <= max_level; ++level) {
        const unsigned shift = level_shift(p.g, level);
        // The initial lookup may resolve fewer bits, or more (concatenation).
        const unsigned top = level == p.start_level ? p.ia_bits : shift + s;
        const auto d = fetch(p, table + extract(ia, top - 1, shift) * 8, level, ctx);
        if (!d)
            return std::nullopt;
        const bool block_ok = block_allowed(p.g, level, p.ds, p.pa_max_52);
        const descriptor_type type = decode_type(d->value, level, block_ok);
        if (type == descriptor_type::invalid) {
            fail(fault_kind::translation, p.st, level, ctx);
            return std::nullopt;
        }
        if (type == descriptor_type::table) {
            const phys_addr next = descriptor_address(d->value, granule_shift(p.g), p.fmt);
            if (exceeds(next, p.oa_bits)) {
                fail(fault_kind::address_size, p.st, level, ctx);
                return std::nullopt;
            }
            if (p.st == stage::one)
                table_attrs |= d->value & tt_desc::table_attr_mask;
            if (m_req.observer != nullptr)
                m_req.observer->on_table(table_visit{p.st, p.g, level, align_down(ia, shift), shift,
                                                     d->pa, next, d->value, table_attrs});
            table = next;
            continue;
        }
        const phys_addr base = descriptor_address(d->value, shift, p.fmt);
        if (exceeds(base, p.oa_bits)) {
            fail(fault_kind::address_size, p.st, level, ctx);
            return std::nullopt;
        }
        leaf lf;
        lf.desc = d->value;
        lf.level = level;
        lf.size_log2 = shift;
        if (tt_desc::contiguous.get(d->value) != 0)
            lf.size_log2 += contiguous_log2_entries(p.g, level);
        lf.output = base | (ia & bit_mask(shift - 1, 0));
        lf.table_attrs = table_attrs;
        return lf;
    }
    return std::nullopt; // not reached: level 3 never decodes as a table
}

std::optional<translation> walk_engine::stage1(std::uint64_t& canonical) {
    const stage1_config& c = *m_req.s1;
    const std::uint64_t va = m_req.input_address;
    const bool two_el = c.regime == s1_regime::two_el;
    // VA[55] selects TTB1 in two-EL regimes; single-EL regimes only have TTB0.
    const bool upper = two_el && extract(va, 55, 55) != 0;
    const unsigned tsz = upper ? c.t1sz : c.t0sz;
    const granule g = upper ? c.tg1 : c.tg0;
    const bool tbi = upper ? c.tbi1 : c.tbi0;
    const bool epd = two_el && (upper ? c.epd1 : c.epd0);
    const bool hierarchical = !(upper ? c.had1 : c.had0);
    const phys_addr ttb = upper ? c.ttb1 : c.ttb0;
    const fault_ctx ctx{fault_class::in, 0};

    const auto start = stage1_start_level(g, tsz, c.ds);
    if (!start) {
        fail(fault_kind::translation, stage::one, 0, ctx);
        return std::nullopt;
    }
    // Bits [63:IA] (or [55:IA] with TBI) must all equal the selecting bit.
    const unsigned ia_bits = 64 - tsz;
    const std::uint64_t range = bit_mask(tbi ? 55 : 63, ia_bits);
    if ((va & range) != (upper ? range : 0) || epd) {
        fail(fault_kind::translation, stage::one, 0, ctx);
        return std::nullopt;
    }
    if (tbi)
        canonical = two_el ? sign_extend(va, 56) : va & bit_mask(55, 0);

    stage_walk p;
    p.st = stage::one;
    p.g = g;
    p.start_level = *start;
    p.ia_bits = ia_bits;
    p.fmt = select_oa_format(g, c.ds);
    p.oa_bits = std::min(c.ips_bits, oa_format_bits(p.fmt));
    p.ds = c.ds;
    p.pa_max_52 = m_req.oas_bits >= 52;
    if (exceeds(ttb, p.oa_bits)) {
        fail(fault_kind::address_size, stage::one, 0, ctx);
        return std::nullopt;
    }
    p.table_base = align_down(ttb, initial_table_align(p));

    auto lf = walk_tables(p, canonical, ctx);
    if (!lf)
        return std::nullopt;
    if (!c.affd && tt_desc::af.get(lf->desc) == 0) {
        fail(fault_kind::access_flag, stage::one, lf->level, ctx);
        return std::nullopt;
    }
    const permission_set perms = s1_permissions(c, *lf, hierarchical);
    if (!perms.allows(m_req.access)) {
        if (m_req.check_permissions) {
            fail(fault_kind::permission, stage::one, lf->level, ctx);
            return std::nullopt;
        }
        m_s1_denied = lf->level;
    }
    return translation{*lf, perms};
}

std::optional<translation> walk_engine::stage2(std::uint64_t ipa, fault_class cls,
                                               bool structure_read) {
    const stage2_config& c = *m_req.s2;
    const fault_ctx ctx{cls, ipa};
    // Inconsistent SL0/T0SZ is C_BAD_STE on the SMMU; a PE takes a level-0
    // Translation fault, which is what the walker reports if it gets here.
    const auto start = stage2_start_level(c.tg, c.sl0, c.t0sz, c.ds, c.sl2, c.stt);
    const unsigned ia_bits = 64 - c.t0sz;
    if (!start || exceeds(ipa, ia_bits)) {
        fail(fault_kind::translation, stage::two, 0, ctx);
        return std::nullopt;
    }
    stage_walk p;
    p.st = stage::two;
    p.g = c.tg;
    p.start_level = start->level;
    p.ia_bits = ia_bits;
    p.fmt = select_oa_format(c.tg, c.ds);
    p.oa_bits = std::min(c.ps_bits, oa_format_bits(p.fmt));
    p.ds = c.ds;
    p.pa_max_52 = m_req.oas_bits >= 52;
    if (exceeds(c.ttb, p.oa_bits)) {
        fail(fault_kind::address_size, stage::two, 0, ctx);
        return std::nullopt;
    }
    p.table_base = align_down(c.ttb, initial_table_align(p));

    auto lf = walk_tables(p, ipa, ctx);
    if (!lf)
        return std::nullopt;
    if (!c.affd && tt_desc::af.get(lf->desc) == 0) {
        fail(fault_kind::access_flag, stage::two, lf->level, ctx);
        return std::nullopt;
    }
    const permission_set perms = s2_permissions(c, lf->desc);
    // Table walks and CD fetches are privileged data reads; with S2PTW they
    // must not target Device memory (reference §3.2).
    const bool allowed = structure_read ? perms.priv_read && !(c.ptw && is_device(lf->desc))
                                        : !m_req.check_permissions || perms.allows(m_req.access);
    if (!allowed) {
        fail(fault_kind::permission, stage::two, lf->level, ctx);
        return std::nullopt;
    }
    return translation{*lf, perms};
}

void walk_engine::finish(std::uint64_t canonical, std::uint64_t ipa, const translation* t1,
                         const translation* t2) {
    walk_result& r = m_out.result;
    r.ipa = ipa;
    r.output_address = t2 != nullptr ? t2->lf.output : ipa;
    // With no stage at all the identity mapping is reported at the smallest granule.
    unsigned size_log2 = 64;
    if (t1 != nullptr) {
        const stage1_config& c = *m_req.s1;
        const std::uint64_t d = t1->lf.desc;
        const bool upper = c.regime == s1_regime::two_el && extract(canonical, 55, 55) != 0;
        const bool two_el = c.regime == s1_regime::two_el;
        r.s1_level = t1->lf.level;
        r.s1_size_log2 = t1->lf.size_log2;
        r.s1_perms = t1->perms;
        s1_attributes a;
        a.attr_indx = static_cast<std::uint8_t>(tt_desc::attr_indx.get(d));
        a.sh = c.ds ? (upper ? c.sh1 : c.sh0) : static_cast<std::uint8_t>(tt_desc::sh.get(d));
        a.ns = tt_desc::ns.get(d) != 0;
        a.ng = two_el && tt_desc::ng.get(d) != 0;
        a.contiguous = tt_desc::contiguous.get(d) != 0;
        a.dbm = tt_desc::dbm.get(d) != 0;
        a.gp = tt_desc::gp.get(d) != 0;
        r.s1_attrs = a;
        r.tag.global = !a.ng;
        if (a.ng)
            r.tag.asid = c.asid;
        r.tag.aset = c.aset;
        if (m_req.s2 == nullptr)
            r.tag.vmid = c.vmid;
        size_log2 = t1->lf.size_log2;
    }
    if (t2 != nullptr) {
        const stage2_config& c = *m_req.s2;
        const std::uint64_t d = t2->lf.desc;
        r.s2_level = t2->lf.level;
        r.s2_size_log2 = t2->lf.size_log2;
        r.s2_perms = t2->perms;
        s2_attributes a;
        a.mem_attr = static_cast<std::uint8_t>(tt_desc::mem_attr.get(d));
        a.sh = c.ds ? c.sh : static_cast<std::uint8_t>(tt_desc::sh.get(d));
        a.contiguous = tt_desc::contiguous.get(d) != 0;
        a.dbm = tt_desc::dbm.get(d) != 0;
        r.s2_attrs = a;
        r.tag.vmid = c.vmid;
        size_log2 = std::min(size_log2, t2->lf.size_log2);
    } else if (m_req.s2 != nullptr) {
        r.tag.vmid = m_req.s2->vmid; // stage1_ipa: the stage-1 tables belong to this VMID
    }
    if (size_log2 == 64)
        size_log2 = granule_shift(granule::size_4k);
    r.size_log2 = size_log2;
    r.perms = r.s1_perms & r.s2_perms;
    r.input_base = align_down(canonical, size_log2);
    r.output_base = align_down(r.output_address, size_log2);
}

walk_outcome walk_engine::run() {
    const bool cd_fetch = m_req.purpose == walk_purpose::cd_fetch;
    std::uint64_t canonical = m_req.input_address;
    std::uint64_t ipa = m_req.input_address;
    std::optional<translation> t1;
    std::optional<translation> t2;
    if (m_req.s1 != nullptr && !cd_fetch) {
        t1 = stage1(canonical);
        if (!t1)
            return m_out;
        ipa = t1->lf.output;
    } else if (!cd_fetch && m_req.bypass_ias_bits != 0 &&
               exceeds(m_req.input_address, m_req.bypass_ias_bits)) {
        fail(fault_kind::address_size, stage::one, 0, fault_ctx{});
        return m_out;
    }
    if (m_req.s2 != nullptr && m_req.purpose != walk_purpose::stage1_ipa) {
        t2 = stage2(ipa, cd_fetch ? fault_class::cd : fault_class::in, cd_fetch);
        if (!t2) {
            // The deferred stage-1 permission fault comes before anything stage 2
            // finds translating the output address (DDI0487 D8.15.4).
            if (m_s1_denied)
                fail(fault_kind::permission, stage::one, *m_s1_denied, fault_ctx{});
            return m_out;
        }
    }
    finish(canonical, ipa, t1 ? &*t1 : nullptr, t2 ? &*t2 : nullptr);
    return m_out;
}

} // namespace

walk_outcome walk(const walk_request& request, walk_memory& memory) {
    return walk_engine(request, memory).run();
}

std::optional<stage> denying_stage(const walk_result& result, const access_kind& access) {
    if (!result.s1_perms.allows(access))
        return stage::one;
    if (!result.s2_perms.allows(access))
        return stage::two;
    return std::nullopt;
}

event_record fault_record(const walk_fault& f, stream_ref s, stall_state stall) {
    const fault_stage where{f.st == stage::two, f.cls, f.ipa, false};
    switch (f.kind) {
    case fault_kind::translation:
        return make_translation_fault(s, f.input_address, f.access, where, stall);
    case fault_kind::address_size:
        return make_addr_size_fault(s, f.input_address, f.access, where, stall);
    case fault_kind::access_flag:
        return make_access_fault(s, f.input_address, f.access, where, stall);
    case fault_kind::permission:
        // TTRnW: a fault on a table access is always on a read (tables are never written).
        return make_permission_fault(s, f.input_address, f.access, where, stall,
                                     f.cls == fault_class::tt);
    case fault_kind::external_abort:
        break;
    }
    return make_walk_eabt(s, f.input_address, f.access, f.st == stage::two, f.cls, f.fetch_address);
}

} // namespace smmu::arch
