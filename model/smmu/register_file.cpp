#include "model/smmu/register_file.h"

#include <cstddef>
#include <stdexcept>

namespace smmu {

namespace {

namespace reg = arch::reg;

constexpr std::uint64_t strtab_base_mask =
    arch::strtab_base::ra.mask() | arch::strtab_base::addr.mask();
constexpr std::uint64_t queue_base_mask = arch::queue_base::ra_wa.mask() |
                                          arch::queue_base::addr.mask() |
                                          arch::queue_base::log2size.mask();
constexpr std::uint64_t irq_cfg0_mask = arch::irq_cfg::addr.mask();
constexpr std::uint32_t irq_cfg2_mask =
    static_cast<std::uint32_t>(arch::irq_cfg::sh.mask() | arch::irq_cfg::memattr.mask());
constexpr std::uint32_t ptr_mask = arch::queue_ptr::wrap_index_mask;
constexpr std::uint32_t ovflg_mask = static_cast<std::uint32_t>(arch::queue_ptr::overflow.mask());
constexpr std::uint32_t cmdq_err_mask =
    static_cast<std::uint32_t>(arch::queue_ptr::cmdq_err.mask());
constexpr std::uint32_t cr1_table_mask = static_cast<std::uint32_t>(
    arch::cr1::table_ic.mask() | arch::cr1::table_oc.mask() | arch::cr1::table_sh.mask());
constexpr std::uint32_t cr1_queue_mask = static_cast<std::uint32_t>(
    arch::cr1::queue_ic.mask() | arch::cr1::queue_oc.mask() | arch::cr1::queue_sh.mask());
constexpr std::uint32_t cr0_queue_enables = static_cast<std::uint32_t>(
    arch::cr0::cmdqen.mask() | arch::cr0::eventqen.mask() | arch::cr0::priqen.mask());

constexpr std::uint32_t mask32(arch::field f) {
    return static_cast<std::uint32_t>(f.mask());
}

constexpr std::uint32_t lo32(std::uint64_t v) {
    return static_cast<std::uint32_t>(v);
}

unsigned idr1_field(const arch::id_registers& idr, arch::field f) {
    return static_cast<unsigned>(f.get(idr.idr1));
}

/// Index of the register set of a source in the *_IRQ_CFG arrays.
std::size_t idx(msi_source src) {
    return static_cast<std::size_t>(src);
}

} // namespace

register_file::register_file(const smmu_params& params)
    : m_idr(arch::encode_id_registers(params.features))
    , m_iidr(params.iidr)
    , m_aidr(params.aidr)
    , m_msi(params.features.msi) {
    if (params.features.pri)
        throw std::invalid_argument("register_file: PRI is not implemented (features.pri)");
    const auto& f = params.features;

    // Fields of features that are not advertised are RES0 (IHI0070 §6.3.9, §6.3.12).
    m_cr0_mask = arch::cr0::writable_mask & ~mask32(arch::cr0::priqen);
    if (!f.ats)
        m_cr0_mask &= ~mask32(arch::cr0::atschk);
    if (!f.vmw)
        m_cr0_mask &= ~mask32(arch::cr0::vmw);

    m_cr2_mask = mask32(arch::cr2::recinvsid);
    if (f.hyp)
        m_cr2_mask |= mask32(arch::cr2::e2h);
    if (f.btm)
        m_cr2_mask |= mask32(arch::cr2::ptm);
    if (arch::idr0::atsrecerr.get(m_idr.idr0) != 0)
        m_cr2_mask |= mask32(arch::cr2::rec_cfg_ats);

    m_irq_ctrl_mask = mask32(arch::irq_ctrl::gerror_irqen) | mask32(arch::irq_ctrl::eventq_irqen);

    // GERROR bits of PRI (3, 6) are reserved without PRI, the MSI ones without MSI (§6.3.19).
    m_gerror_mask = mask32(arch::gerror::cmdq_err) | mask32(arch::gerror::eventq_abt_err) |
                    mask32(arch::gerror::sfm_err);
    if (m_msi)
        m_gerror_mask |= mask32(arch::gerror::msi_cmdq_abt_err) |
                         mask32(arch::gerror::msi_eventq_abt_err) |
                         mask32(arch::gerror::msi_gerror_abt_err);
    reset();
}

void register_file::reset() {
    m_cr0 = m_cr0ack = 0;
    m_cr1 = m_cr2 = 0;
    m_gbpa = gbpa_reset_value;
    m_irq_ctrl = m_irq_ctrlack = 0;
    m_gerror = m_gerrorn = 0;
    for (std::size_t i = 0; i < 2; ++i) {
        m_irq_cfg0[i] = 0;
        m_irq_cfg1[i] = 0;
        m_irq_cfg2[i] = 0;
    }
    m_strtab_base = 0;
    m_strtab_base_cfg = 0;
    m_cmdq_base = 0;
    m_cmdq_prod = m_cmdq_cons = 0;
    m_eventq_base = 0;
    m_eventq_prod = m_eventq_cons = 0;
}

bool register_file::is_legal_access(std::uint64_t offset, unsigned size_bytes) {
    if (offset >= mapped_bytes)
        return false;
    if (size_bytes == 4)
        return offset % 4 == 0;
    if (size_bytes == 8)
        return offset % 8 == 0 && arch::is_64bit_register(offset);
    return false;
}

// ---- reads ------------------------------------------------------------------------------------

std::uint64_t register_file::read(std::uint64_t offset, unsigned size_bytes) const {
    if (!is_legal_access(offset, size_bytes))
        return 0;
    if (size_bytes == 8)
        return read64(offset);
    const std::uint64_t base = offset & ~std::uint64_t{7};
    if (arch::is_64bit_register(base)) {
        const std::uint64_t v = read64(base);
        return (offset & 4) != 0 ? v >> 32 : lo32(v);
    }
    return read32(offset);
}

std::uint64_t register_file::read64(std::uint64_t offset) const {
    switch (offset) {
    case reg::gerror_irq_cfg0:
        return m_irq_cfg0[idx(msi_source::gerror)];
    case reg::eventq_irq_cfg0:
        return m_irq_cfg0[idx(msi_source::eventq)];
    case reg::strtab_base:
        return m_strtab_base;
    case reg::cmdq_base:
        return m_cmdq_base;
    case reg::eventq_base:
        return m_eventq_base;
    default: // PRIQ_BASE, PRIQ_IRQ_CFG0: no PRI
        return 0;
    }
}

std::uint32_t register_file::read32(std::uint64_t offset) const {
    switch (offset) {
    case reg::idr0:
        return m_idr.idr0;
    case reg::idr1:
        return m_idr.idr1;
    case reg::idr3:
        return m_idr.idr3;
    case reg::idr5:
        return m_idr.idr5;
    case reg::iidr:
        return m_iidr;
    case reg::aidr:
        return m_aidr;
    case reg::cr0:
        return m_cr0;
    case reg::cr0ack:
        return m_cr0ack;
    case reg::cr1:
        return m_cr1;
    case reg::cr2:
        return m_cr2;
    case reg::gbpa:
        return m_gbpa;
    case reg::irq_ctrl:
        return m_irq_ctrl;
    case reg::irq_ctrlack:
        return m_irq_ctrlack;
    case reg::gerror:
        return m_gerror;
    case reg::gerrorn:
        return m_gerrorn;
    case reg::gerror_irq_cfg1:
        return m_irq_cfg1[idx(msi_source::gerror)];
    case reg::gerror_irq_cfg2:
        return m_irq_cfg2[idx(msi_source::gerror)];
    case reg::strtab_base_cfg:
        return m_strtab_base_cfg;
    case reg::cmdq_prod:
        return m_cmdq_prod;
    case reg::cmdq_cons:
        return m_cmdq_cons;
    case reg::eventq_prod:
    case reg::eventq_prod_alias:
        return m_eventq_prod;
    case reg::eventq_cons:
    case reg::eventq_cons_alias:
        return m_eventq_cons;
    case reg::eventq_irq_cfg1:
        return m_irq_cfg1[idx(msi_source::eventq)];
    case reg::eventq_irq_cfg2:
        return m_irq_cfg2[idx(msi_source::eventq)];
    default: // IDR2, IDR4, STATUSR (no DORMHINT), AGBPA, PRIQ_*, undefined: RAZ
        return 0;
    }
}

// ---- writes -----------------------------------------------------------------------------------

write_effects register_file::write(std::uint64_t offset, unsigned size_bytes, std::uint64_t value) {
    write_effects fx;
    if (!is_legal_access(offset, size_bytes)) {
        fx.illegal_access = true;
        fx.ignored = true;
        return fx;
    }
    if (size_bytes == 8) {
        write64(offset, value, fx);
        return fx;
    }
    const std::uint32_t v = lo32(value);
    const std::uint64_t base = offset & ~std::uint64_t{7};
    if (arch::is_64bit_register(base)) {
        // A 32-bit write to one half is a 64-bit write that keeps the other half.
        const std::uint64_t old = read64(base);
        const std::uint64_t merged = (offset & 4) != 0
                                         ? (old & 0xffffffffu) | (std::uint64_t{v} << 32)
                                         : (old & ~std::uint64_t{0xffffffffu}) | v;
        write64(base, merged, fx);
        return fx;
    }
    write32(offset, v, fx);
    return fx;
}

void register_file::write64(std::uint64_t offset, std::uint64_t value, write_effects& fx) {
    switch (offset) {
    case reg::gerror_irq_cfg0:
        write_irq_cfg0(msi_source::gerror, value, fx);
        return;
    case reg::eventq_irq_cfg0:
        write_irq_cfg0(msi_source::eventq, value, fx);
        return;
    case reg::strtab_base:
        if (enabled_any(mask32(arch::cr0::smmuen))) {
            fx.ignored = true;
            return;
        }
        fx.strtab_changed = (value & strtab_base_mask) != m_strtab_base;
        m_strtab_base = value & strtab_base_mask;
        return;
    case reg::cmdq_base:
        if (enabled_any(mask32(arch::cr0::cmdqen))) {
            fx.ignored = true;
            return;
        }
        m_cmdq_base = value & queue_base_mask;
        return;
    case reg::eventq_base:
        if (enabled_any(mask32(arch::cr0::eventqen))) {
            fx.ignored = true;
            return;
        }
        m_eventq_base = value & queue_base_mask;
        return;
    default: // PRIQ_BASE, PRIQ_IRQ_CFG0
        fx.ignored = true;
        return;
    }
}

void register_file::write32(std::uint64_t offset, std::uint32_t value, write_effects& fx) {
    switch (offset) {
    case reg::cr0:
        fx.cr0_written = true;
        fx.old_cr0 = m_cr0ack;
        m_cr0 = m_cr0ack = value & m_cr0_mask;
        fx.new_cr0 = m_cr0ack;
        fx.cr0_changed = fx.old_cr0 != fx.new_cr0;
        return;
    case reg::cr1:
        write_cr1(value, fx);
        return;
    case reg::cr2:
        if (enabled_any(mask32(arch::cr0::smmuen))) {
            fx.ignored = true;
            return;
        }
        fx.cr2_changed = (value & m_cr2_mask) != m_cr2;
        m_cr2 = value & m_cr2_mask;
        return;
    case reg::gbpa:
        // IHI0070 §6.3.14.1: only a write with Update == 1 changes GBPA; the update
        // completes with the write, so Update reads back 0.
        if (arch::gbpa::update.get(value) == 0) {
            fx.ignored = true;
            return;
        }
        fx.gbpa_changed = (value & arch::gbpa::writable_mask) != m_gbpa;
        m_gbpa = value & arch::gbpa::writable_mask;
        return;
    case reg::irq_ctrl:
        fx.irq_ctrl_written = true;
        fx.old_irq_ctrl = m_irq_ctrlack;
        m_irq_ctrl = m_irq_ctrlack = value & m_irq_ctrl_mask;
        fx.new_irq_ctrl = m_irq_ctrlack;
        fx.irq_ctrl_changed = fx.old_irq_ctrl != fx.new_irq_ctrl;
        return;
    case reg::gerrorn:
        write_gerrorn(value, fx);
        return;
    case reg::gerror_irq_cfg1:
        write_irq_cfg(msi_source::gerror, 1, value, fx);
        return;
    case reg::gerror_irq_cfg2:
        write_irq_cfg(msi_source::gerror, 2, value, fx);
        return;
    case reg::eventq_irq_cfg1:
        write_irq_cfg(msi_source::eventq, 1, value, fx);
        return;
    case reg::eventq_irq_cfg2:
        write_irq_cfg(msi_source::eventq, 2, value, fx);
        return;
    case reg::strtab_base_cfg:
        if (enabled_any(mask32(arch::cr0::smmuen))) {
            fx.ignored = true;
            return;
        }
        fx.strtab_changed = (value & arch::strtab_base_cfg::writable_mask) != m_strtab_base_cfg;
        m_strtab_base_cfg = value & arch::strtab_base_cfg::writable_mask;
        return;
    case reg::cmdq_prod:
        m_cmdq_prod = value & ptr_mask;
        fx.cmdq_prod_written = true;
        return;
    case reg::cmdq_cons:
        if (enabled_any(mask32(arch::cr0::cmdqen))) {
            fx.ignored = true;
            return;
        }
        m_cmdq_cons = (m_cmdq_cons & cmdq_err_mask) | (value & ptr_mask);
        return;
    case reg::eventq_prod:
    case reg::eventq_prod_alias:
        if (enabled_any(mask32(arch::cr0::eventqen))) {
            fx.ignored = true;
            return;
        }
        m_eventq_prod = value & (ovflg_mask | ptr_mask);
        return;
    case reg::eventq_cons:
    case reg::eventq_cons_alias:
        m_eventq_cons = value & (ovflg_mask | ptr_mask);
        fx.eventq_cons_written = true;
        return;
    default: // read-only, RAZ/WI and undefined locations
        fx.ignored = true;
        return;
    }
}

void register_file::write_cr1(std::uint32_t value, write_effects& fx) {
    const std::uint32_t old = m_cr1;
    std::uint32_t next = m_cr1;
    const std::uint32_t changed = (value ^ m_cr1) & arch::cr1::writable_mask;
    if ((changed & cr1_table_mask) != 0) {
        if (enabled_any(mask32(arch::cr0::smmuen)))
            fx.ignored = true;
        else
            next = (next & ~cr1_table_mask) | (value & cr1_table_mask);
    }
    if ((changed & cr1_queue_mask) != 0) {
        if (enabled_any(cr0_queue_enables))
            fx.ignored = true;
        else
            next = (next & ~cr1_queue_mask) | (value & cr1_queue_mask);
    }
    m_cr1 = next;
    fx.cr1_changed = next != old;
}

void register_file::write_gerrorn(std::uint32_t value, write_effects& fx) {
    const std::uint32_t was_active = gerror_active();
    m_gerrorn = value & m_gerror_mask;
    const std::uint32_t now_active = gerror_active();
    fx.gerrorn_written = true;
    fx.gerror_acknowledged = was_active & ~now_active;
    fx.gerror_activated = now_active & ~was_active;
    if ((fx.gerror_acknowledged & mask32(arch::gerror::cmdq_err)) != 0) {
        // ERR is UNKNOWN while CMDQ_ERR is inactive: clear it for the restart (IHI0070 §6.3.28).
        m_cmdq_cons &= ~cmdq_err_mask;
        fx.cmdq_error_acknowledged = true;
    }
}

void register_file::write_irq_cfg0(msi_source src, std::uint64_t value, write_effects& fx) {
    const arch::field en =
        src == msi_source::gerror ? arch::irq_ctrl::gerror_irqen : arch::irq_ctrl::eventq_irqen;
    // Without MSI support the registers are RES0; with it, IGNORED while IRQEN (§6.3.21).
    if (!m_msi || irq_enabled_any(en)) {
        fx.ignored = true;
        return;
    }
    m_irq_cfg0[idx(src)] = value & irq_cfg0_mask;
}

void register_file::write_irq_cfg(msi_source src, unsigned index, std::uint32_t value,
                                  write_effects& fx) {
    const arch::field en =
        src == msi_source::gerror ? arch::irq_ctrl::gerror_irqen : arch::irq_ctrl::eventq_irqen;
    if (!m_msi || irq_enabled_any(en)) {
        fx.ignored = true;
        return;
    }
    if (index == 1)
        m_irq_cfg1[idx(src)] = value;
    else
        m_irq_cfg2[idx(src)] = value & irq_cfg2_mask;
}

// ---- decoded state and SMMU-side updates ------------------------------------------------------

arch::strtab_config register_file::strtab() const {
    return arch::decode_strtab(m_strtab_base, m_strtab_base_cfg);
}

arch::queue_config register_file::cmdq() const {
    return arch::decode_queue_base(m_cmdq_base, idr1_field(m_idr, arch::idr1::cmdqs),
                                   arch::command_bytes);
}

arch::queue_config register_file::eventq() const {
    return arch::decode_queue_base(m_eventq_base, idr1_field(m_idr, arch::idr1::eventqs),
                                   arch::event_bytes);
}

msi_config register_file::msi(msi_source src) const {
    msi_config m;
    m.address = m_irq_cfg0[idx(src)];
    m.data = m_irq_cfg1[idx(src)];
    m.attr = m_irq_cfg2[idx(src)];
    return m;
}

bool register_file::activate_gerror(arch::field bit) {
    const std::uint32_t m = mask32(bit) & m_gerror_mask;
    if (m == 0 || (gerror_active() & m) != 0)
        return false;
    m_gerror ^= m;
    return true;
}

arch::cmdq_error register_file::cmdq_error() const {
    return static_cast<arch::cmdq_error>(arch::queue_ptr::cmdq_err.get(m_cmdq_cons));
}

void register_file::set_cmdq_cons_index(std::uint32_t wrap_index) {
    m_cmdq_cons = (m_cmdq_cons & cmdq_err_mask) | (wrap_index & ptr_mask);
}

bool register_file::set_cmdq_error(arch::cmdq_error err) {
    if (gerror_is_active(arch::gerror::cmdq_err))
        return false;
    m_cmdq_cons = lo32(arch::queue_ptr::cmdq_err.set(m_cmdq_cons, static_cast<unsigned>(err)));
    return true;
}

command_queue_view register_file::cmdq_view() const {
    command_queue_view v;
    v.enabled = cmdq_enabled();
    v.error = gerror_is_active(arch::gerror::cmdq_err);
    v.config = cmdq();
    v.math = arch::queue_ptr_math(v.config.log2size);
    v.prod = m_cmdq_prod;
    v.cons = m_cmdq_cons & ptr_mask;
    return v;
}

void register_file::set_eventq_prod(std::uint32_t value) {
    m_eventq_prod = value & (ovflg_mask | ptr_mask);
}

bool register_file::eventq_overflow() const {
    return ((m_eventq_prod ^ m_eventq_cons) & ovflg_mask) != 0;
}

bool register_file::eventq_not_empty() const {
    const arch::queue_ptr_math q(eventq().log2size);
    return !q.empty(m_eventq_prod, m_eventq_cons);
}

} // namespace smmu
