// The SMMU's Non-secure programming interface (Page 0 and Page 1 registers) as plain state:
// widths, RES0 masks, read-only registers, the CR0/IRQ_CTRL Update/ACK protocol, the GBPA
// Update protocol, the GERROR/GERRORN toggle protocol and the write-ordering guards of
// SMMUv3.2 (reference §1, IHI0070 §6.3). Pure C++: the SystemC shell forwards register
// accesses here and reacts to the returned write_effects.
//
// Implementation choices (each an architected option):
// * Illegal accesses (size other than 4 or 8, unaligned, 8 bytes anywhere but a 64-bit
//   register, offset beyond Page 1) are RAZ/WI (§1.1). is_legal_access() and
//   write_effects::illegal_access report them, so a shell may answer with a TLM error
//   instead; RAZ/WI with TLM_OK_RESPONSE is the behaviour this model intends.
// * Page 0 offsets 0xA8/0xAC alias Page 1 EVENTQ_PROD/EVENTQ_CONS (Linux
//   ARM_SMMU_OPT_PAGE0_REGS_ONLY works). PRI is not implemented: PRIQ_* (Page 0 and Page 1)
//   are RAZ/WI. Undefined Page 0 and Page 1 offsets are RAZ/WI, as are optional registers
//   of features not advertised (S2PII, AGBPA, GATOS, MPAM, VATOS, ECMDQ, DPT, Secure bank).
// * CR0ACK / IRQ_CTRLACK take the written value at once: every Update completes with the
//   write. Writes that break a "must only change while X == 0" rule are IGNORED (the only
//   behaviour SMMUv3.2 permits), field group by field group: CR1 TABLE_* and QUEUE_*, CR2,
//   STRTAB_BASE(_CFG), CMDQ_BASE, CMDQ_CONS, EVENTQ_BASE, EVENTQ_PROD, *_IRQ_CFGn.
// * GBPA: a write with Update == 1 completes at once (Update reads 0); a write with
//   Update == 0 is IGNORED. Reset value 0x00001000: ABORT = 0 and SHCFG = "use incoming",
//   i.e. transparent bypass while SMMUEN == 0 (as QEMU).
// * GERRORN holds the last value written to its implemented bits. A write that toggles the
//   bit of an inactive error therefore activates it (one of the two permitted behaviours).
//   Acknowledging CMDQ_ERR clears CMDQ_CONS.ERR (UNKNOWN while the error is inactive).
//   Service Failure Mode is not modelled: SFM_ERR is an implemented GERROR bit but nothing
//   activates it.
// * CMDQ_CONS.ERR ignores software writes (permitted when CMDQEN == 0).
// * Software writes to PROD/CONS keep bits [19:0] (bits above the wrap bit "might be
//   stored but have no other effect"); users apply arch::queue_ptr_math.
// * Reset values: 0 everywhere except the ID registers and GBPA (UNKNOWN resets are 0).
#pragma once

#include <cstdint>

#include "model/arch/bits.h"
#include "model/arch/command.h"
#include "model/arch/registers.h"
#include "model/smmu/smmu_params.h"

namespace smmu {

/// The command queue as the command engine sees it.
struct command_queue_view {
    bool enabled = false; ///< CR0ACK.CMDQEN
    bool error = false;   ///< GERROR.CMDQ_ERR active: commands are not processed
    arch::queue_config config{};
    arch::queue_ptr_math math{0};
    std::uint32_t prod = 0; ///< CMDQ_PROD.WR (wrap:index and the bits above, [19:0])
    std::uint32_t cons = 0; ///< CMDQ_CONS.RD, without ERR

    bool empty() const { return math.empty(prod, cons); }
};

/// A source of interrupts with its own *_IRQ_CFG0/1/2 MSI registers.
enum class msi_source : std::uint8_t { gerror, eventq };

/// The MSI a source sends: *_IRQ_CFG0.ADDR, CFG1.DATA, CFG2 (SH[5:4], MemAttr[3:0]).
struct msi_config {
    std::uint64_t address = 0; ///< 0: no MSI (wired interrupt only)
    std::uint32_t data = 0;
    std::uint32_t attr = 0;

    bool enabled() const { return address != 0; }
    unsigned memattr() const { return static_cast<unsigned>(arch::irq_cfg::memattr.get(attr)); }
    unsigned sh() const { return static_cast<unsigned>(arch::irq_cfg::sh.get(attr)); }
};

/// What a register write did, for the SystemC shell to react to.
struct write_effects {
    /// The access had no architected size/alignment: it was treated as RAZ/WI.
    bool illegal_access = false;
    /// All or part of the written value was dropped: read-only or RAZ/WI location, or a
    /// field guarded by an enable that is set (RES0 bits do not count).
    bool ignored = false;

    /// CR0 was written; old_cr0/new_cr0 are CR0ACK before and after (equal to CR0: every
    /// Update completes with the write).
    bool cr0_written = false;
    bool cr0_changed = false; ///< CR0ACK took a different value
    std::uint32_t old_cr0 = 0;
    std::uint32_t new_cr0 = 0;
    bool cr1_changed = false;
    bool cr2_changed = false;
    bool gbpa_changed = false;   ///< an Update completed with a different value
    bool strtab_changed = false; ///< STRTAB_BASE or STRTAB_BASE_CFG took a different value
    bool irq_ctrl_written = false;
    bool irq_ctrl_changed = false; ///< IRQ_CTRLACK took a different value
    std::uint32_t old_irq_ctrl = 0;
    std::uint32_t new_irq_ctrl = 0;
    bool cmdq_prod_written = false;
    bool eventq_cons_written = false;
    bool gerrorn_written = false;
    std::uint32_t gerror_acknowledged = 0; ///< errors this write made inactive
    std::uint32_t gerror_activated = 0;    ///< errors this write made active (see header)
    /// CMDQ_ERR went inactive: the command queue resumes at CMDQ_CONS.RD if CMDQEN.
    bool cmdq_error_acknowledged = false;

    /// A CR0 field (arch::cr0::*) went from 0 to non-zero / from non-zero to 0.
    bool cr0_rose(arch::field f) const { return f.get(old_cr0) == 0 && f.get(new_cr0) != 0; }
    bool cr0_fell(arch::field f) const { return f.get(old_cr0) != 0 && f.get(new_cr0) == 0; }
};

class register_file {
public:
    /// Throws std::invalid_argument if params.features advertises PRI (no PRI queue here).
    explicit register_file(const smmu_params& params);

    /// Bytes decoded: Page 0 and Page 1.
    static constexpr std::uint64_t mapped_bytes = 2 * arch::reg_page_size;
    /// GBPA after reset: ABORT = 0, SHCFG = use incoming, every other attribute incoming.
    static constexpr std::uint32_t gbpa_reset_value = 0x00001000;

    /// 4-byte aligned accesses to any offset, and 8-byte aligned accesses to a 64-bit
    /// register, within the two pages. Everything else is RAZ/WI.
    static bool is_legal_access(std::uint64_t offset, unsigned size_bytes);

    std::uint64_t read(std::uint64_t offset, unsigned size_bytes) const;
    write_effects write(std::uint64_t offset, unsigned size_bytes, std::uint64_t value);

    /// Restores the reset values.
    void reset();

    // ---- raw register values ---------------------------------------------------------------
    arch::id_registers id_registers() const { return m_idr; }
    std::uint32_t cr0() const { return m_cr0; }
    std::uint32_t cr0ack() const { return m_cr0ack; }
    std::uint32_t cr1() const { return m_cr1; }
    std::uint32_t cr2() const { return m_cr2; }
    std::uint32_t gbpa() const { return m_gbpa; }
    std::uint32_t irq_ctrl() const { return m_irq_ctrl; }
    std::uint32_t irq_ctrlack() const { return m_irq_ctrlack; }
    std::uint32_t gerror() const { return m_gerror; }
    std::uint32_t gerrorn() const { return m_gerrorn; }

    // ---- configuration state (post-Update values, i.e. CR0ACK / IRQ_CTRLACK) ---------------
    bool smmuen() const { return ack(arch::cr0::smmuen); }
    bool cmdq_enabled() const { return ack(arch::cr0::cmdqen); }
    bool eventq_enabled() const { return ack(arch::cr0::eventqen); }
    bool atschk() const { return ack(arch::cr0::atschk); }
    unsigned vmw() const { return static_cast<unsigned>(arch::cr0::vmw.get(m_cr0ack)); }
    bool e2h() const { return arch::cr2::e2h.get(m_cr2) != 0; }
    bool recinvsid() const { return arch::cr2::recinvsid.get(m_cr2) != 0; }
    bool ptm() const { return arch::cr2::ptm.get(m_cr2) != 0; }
    bool rec_cfg_ats() const { return arch::cr2::rec_cfg_ats.get(m_cr2) != 0; }
    bool gbpa_abort() const { return arch::gbpa::abort.get(m_gbpa) != 0; }
    bool gerror_irq_enabled() const { return arch::irq_ctrl::gerror_irqen.get(m_irq_ctrlack) != 0; }
    bool eventq_irq_enabled() const { return arch::irq_ctrl::eventq_irqen.get(m_irq_ctrlack) != 0; }
    arch::strtab_config strtab() const;
    /// Queue geometry with LOG2SIZE capped at IDR1.CMDQS / EVENTQS.
    arch::queue_config cmdq() const;
    arch::queue_config eventq() const;
    msi_config msi(msi_source src) const;

    // ---- global errors ---------------------------------------------------------------------
    /// GERROR bits this implementation can activate.
    std::uint32_t gerror_implemented() const { return m_gerror_mask; }
    /// (GERROR ^ GERRORN) over the implemented bits.
    std::uint32_t gerror_active() const { return (m_gerror ^ m_gerrorn) & m_gerror_mask; }
    bool gerror_is_active(arch::field bit) const { return (gerror_active() & bit.mask()) != 0; }
    /// Toggles GERROR[bit] if that error is implemented and inactive. Returns true if the
    /// error became active (the shell then raises the GERROR interrupt / MSI).
    bool activate_gerror(arch::field bit);

    // ---- command queue ---------------------------------------------------------------------
    std::uint32_t cmdq_prod() const { return m_cmdq_prod; }
    /// CMDQ_CONS including ERR.
    std::uint32_t cmdq_cons() const { return m_cmdq_cons; }
    arch::cmdq_error cmdq_error() const;
    /// The SMMU's update of CMDQ_CONS.RD (wrap:index); ERR is kept.
    void set_cmdq_cons_index(std::uint32_t wrap_index);
    /// Writes CMDQ_CONS.ERR. The caller then activates GERROR.CMDQ_ERR with
    /// activate_gerror(arch::gerror::cmdq_err): ERR is written before the error becomes
    /// active (IHI0070 §6.3.28). Ignored, returning false, while CMDQ_ERR is active: the
    /// reported error stays the first one.
    bool set_cmdq_error(arch::cmdq_error err);
    command_queue_view cmdq_view() const;

    // ---- event queue -----------------------------------------------------------------------
    /// EVENTQ_PROD including OVFLG[31].
    std::uint32_t eventq_prod() const { return m_eventq_prod; }
    /// EVENTQ_CONS including OVACKFLG[31].
    std::uint32_t eventq_cons() const { return m_eventq_cons; }
    /// The SMMU's update of EVENTQ_PROD (wrap:index and OVFLG).
    void set_eventq_prod(std::uint32_t value);
    /// Overflow condition: EVENTQ_PROD.OVFLG != EVENTQ_CONS.OVACKFLG.
    bool eventq_overflow() const;
    /// EVENTQ_PROD != EVENTQ_CONS (wrap:index): records wait for software. The event
    /// interrupt is asserted while this holds and EVENTQ_IRQEN is set.
    bool eventq_not_empty() const;

private:
    bool ack(arch::field f) const { return f.get(m_cr0ack) != 0; }
    /// A field guarded by a CR0 enable may change only while the enable is 0 in both CR0
    /// and CR0ACK (IHI0070 §6.3.9: a field in transition still counts as 1).
    bool enabled_any(std::uint32_t cr0_bits) const { return ((m_cr0 | m_cr0ack) & cr0_bits) != 0; }
    bool irq_enabled_any(arch::field f) const {
        return ((m_irq_ctrl | m_irq_ctrlack) & f.mask()) != 0;
    }

    std::uint64_t read64(std::uint64_t offset) const;
    std::uint32_t read32(std::uint64_t offset) const;
    void write64(std::uint64_t offset, std::uint64_t value, write_effects& fx);
    void write32(std::uint64_t offset, std::uint32_t value, write_effects& fx);
    void write_cr1(std::uint32_t value, write_effects& fx);
    void write_gerrorn(std::uint32_t value, write_effects& fx);
    void write_irq_cfg0(msi_source src, std::uint64_t value, write_effects& fx);
    void write_irq_cfg(msi_source src, unsigned index, std::uint32_t value, write_effects& fx);

    // Constant after construction.
    arch::id_registers m_idr;
    std::uint32_t m_iidr;
    std::uint32_t m_aidr;
    std::uint32_t m_cr0_mask;
    std::uint32_t m_cr2_mask;
    std::uint32_t m_irq_ctrl_mask;
    std::uint32_t m_gerror_mask;
    bool m_msi;

    // Register state.
    std::uint32_t m_cr0 = 0;
    std::uint32_t m_cr0ack = 0;
    std::uint32_t m_cr1 = 0;
    std::uint32_t m_cr2 = 0;
    std::uint32_t m_gbpa = 0;
    std::uint32_t m_irq_ctrl = 0;
    std::uint32_t m_irq_ctrlack = 0;
    std::uint32_t m_gerror = 0;
    std::uint32_t m_gerrorn = 0;
    std::uint64_t m_irq_cfg0[2] = {0, 0}; ///< indexed by msi_source
    std::uint32_t m_irq_cfg1[2] = {0, 0};
    std::uint32_t m_irq_cfg2[2] = {0, 0};
    std::uint64_t m_strtab_base = 0;
    std::uint32_t m_strtab_base_cfg = 0;
    std::uint64_t m_cmdq_base = 0;
    std::uint32_t m_cmdq_prod = 0;
    std::uint32_t m_cmdq_cons = 0;
    std::uint64_t m_eventq_base = 0;
    std::uint32_t m_eventq_prod = 0;
    std::uint32_t m_eventq_cons = 0;
};

} // namespace smmu
