#include "model/arch/invalidation.h"

#include <optional>

namespace smmu::arch {

tlb_inv_scope tlbi_inv_scope(const command& c, bool ds) {
    const tlbi_scope covered = tlbi_covered_range(c, ds);
    tlb_inv_scope s;
    // addr_range's end == 0 stands for 2^64, which is what last + 1 wraps to.
    s.range = addr_range{covered.span.start, covered.span.last + 1};
    s.leaf = c.leaf;
    s.ttl = static_cast<std::uint8_t>(covered.level);
    return s;
}

bool is_tlbi(opcode op) {
    switch (op) {
    case opcode::tlbi_nh_all:
    case opcode::tlbi_nh_asid:
    case opcode::tlbi_nh_va:
    case opcode::tlbi_nh_vaa:
    case opcode::tlbi_el2_all:
    case opcode::tlbi_el2_asid:
    case opcode::tlbi_el2_va:
    case opcode::tlbi_el2_vaa:
    case opcode::tlbi_s12_vmall:
    case opcode::tlbi_s2_ipa:
    case opcode::tlbi_nsnh_all:
        return true;
    default:
        return false;
    }
}

bool is_cfgi(opcode op) {
    return op == opcode::cfgi_ste || op == opcode::cfgi_ste_range || op == opcode::cfgi_cd ||
           op == opcode::cfgi_cd_all;
}

namespace {

/// Runs the same operation on both structures, which share the method set.
template <class Op>
invalidation_effect on_both(iotlb& tlb, walk_cache& walks, Op op) {
    invalidation_effect e;
    e.tlb = op(tlb);
    e.walk = op(walks);
    return e;
}

} // namespace

invalidation_effect apply_tlbi(const command& c, const invalidation_context& ctx, iotlb& tlb,
                               walk_cache& walks) {
    // Without stage 2 the VMID field of TLBI_NH_* is RES0 and not checked.
    const std::optional<vmid_t> vmid = ctx.s2p ? std::optional<vmid_t>{c.vmid} : std::nullopt;
    const tlb_inv_scope scope = tlbi_inv_scope(c, ctx.ds);
    switch (c.op) {
    case opcode::tlbi_nh_all:
        return on_both(tlb, walks, [&](auto& s) { return s.nh_all(vmid); });
    case opcode::tlbi_nh_asid:
        return on_both(tlb, walks, [&](auto& s) { return s.nh_asid(vmid, c.asid); });
    case opcode::tlbi_nh_va:
        return on_both(tlb, walks, [&](auto& s) { return s.nh_va(vmid, c.asid, scope); });
    case opcode::tlbi_nh_vaa:
        return on_both(tlb, walks, [&](auto& s) { return s.nh_vaa(vmid, scope); });
    case opcode::tlbi_el2_all:
        return on_both(tlb, walks, [](auto& s) { return s.el2_all(); });
    case opcode::tlbi_el2_asid:
        return on_both(tlb, walks, [&](auto& s) { return s.el2_asid(c.asid); });
    case opcode::tlbi_el2_va: {
        const std::optional<asid_t> asid = ctx.e2h ? std::optional<asid_t>{c.asid} : std::nullopt;
        return on_both(tlb, walks, [&](auto& s) { return s.el2_va(asid, scope); });
    }
    case opcode::tlbi_el2_vaa:
        return on_both(tlb, walks, [&](auto& s) { return s.el2_vaa(scope); });
    case opcode::tlbi_s12_vmall:
        return on_both(tlb, walks, [&](auto& s) { return s.s12_vmall(c.vmid); });
    case opcode::tlbi_s2_ipa:
        return on_both(tlb, walks, [&](auto& s) { return s.s2_ipa(c.vmid, scope); });
    case opcode::tlbi_nsnh_all:
        return on_both(tlb, walks, [](auto& s) { return s.nsnh_all(); });
    default:
        return {};
    }
}

} // namespace smmu::arch
