// Applies a decoded TLBI / CFGI command to the SMMU's caches: the command's
// fields (VMID, ASID, Addr with NUM/SCALE/TG/TTL, Leaf, Range, SID/SSID) turned
// into the cache operations of the same semantics (IHI0070 §4.3-4.4;
// reference §5.3-5.4).
#pragma once

#include <cstddef>

#include "model/arch/command.h"
#include "model/arch/config_cache.h"
#include "model/arch/tlb.h"
#include "model/arch/walk_cache.h"

namespace smmu::arch {

/// SMMU state that changes what a TLBI command matches.
struct invalidation_context {
    bool s2p = true;  ///< IDR0.S2P: without stage 2 the VMID of TLBI_NH_* is unchecked
    bool e2h = false; ///< CR2.E2H: TLBI_EL2_VA matches on ASID only when set
    bool ds = false;  ///< IDR5.DS: 6-bit SCALE, 16K TTL level 1 valid
};

/// Entries each structure lost to one command.
struct invalidation_effect {
    std::size_t tlb = 0;
    std::size_t walk = 0;
    std::size_t config = 0;

    std::size_t total() const { return tlb + walk + config; }
};

/// The byte range and level filter of a TLBI by address: [Addr, Addr + Range)
/// for a range command, the single address otherwise (entries containing it match).
tlb_inv_scope tlbi_inv_scope(const command& c, bool ds);

/// True for the commands apply_tlbi() acts on (every CMD_TLBI_* of the
/// Non-secure programming interface).
bool is_tlbi(opcode op);
/// True for CMD_CFGI_STE, CMD_CFGI_STE_RANGE (and CFGI_ALL), CMD_CFGI_CD, CMD_CFGI_CD_ALL.
bool is_cfgi(opcode op);

/// Removes from the IOTLB and the walk cache what a CMD_TLBI_* invalidates.
/// Other commands (and the Secure ones, which never reach a Non-secure queue's
/// engine) have no effect.
invalidation_effect apply_tlbi(const command& c, const invalidation_context& ctx, iotlb& tlb,
                               walk_cache& walks);

/// Removes from the configuration cache what a CMD_CFGI_* invalidates. Other
/// commands have no effect.
template <class Ste, class Cd>
std::size_t apply_cfgi(const command& c, config_cache<Ste, Cd>& config) {
    switch (c.op) {
    case opcode::cfgi_ste:
        return config.cfgi_ste(c.sid, c.leaf);
    case opcode::cfgi_ste_range:
        return config.cfgi_ste_range(c.sid, c.ste_range);
    case opcode::cfgi_cd:
        return config.cfgi_cd(c.sid, c.ssid, c.leaf);
    case opcode::cfgi_cd_all:
        return config.cfgi_cd_all(c.sid);
    default:
        return 0;
    }
}

} // namespace smmu::arch
