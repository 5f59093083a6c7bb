#include "driver/core/smmu_device.h"

#include <algorithm>

namespace smmu::driver {

namespace {

/// log2 of the batch: the queue must hold a batch plus its SYNC (Linux rejects smaller).
constexpr unsigned batch_log2 = 6;
static_assert((std::size_t{1} << batch_log2) == cmdq_batch_entries);

std::uint32_t reg_bits(arch::field f) {
    return static_cast<std::uint32_t>(f.mask());
}

std::uint64_t load_le64(const std::uint8_t* src) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i)
        v |= std::uint64_t{src[i]} << (8 * i);
    return v;
}

/// CR1: tables and queues Inner Shareable, Write-Back (Linux's choice).
std::uint32_t cr1_value() {
    constexpr unsigned sh_ish = 3;
    constexpr unsigned cache_wb = 1; // CR1's own encoding: WB = 01 (reference §1.3.7)
    std::uint64_t v = 0;
    v = arch::cr1::table_sh.set(v, sh_ish);
    v = arch::cr1::table_oc.set(v, cache_wb);
    v = arch::cr1::table_ic.set(v, cache_wb);
    v = arch::cr1::queue_sh.set(v, sh_ish);
    v = arch::cr1::queue_oc.set(v, cache_wb);
    v = arch::cr1::queue_ic.set(v, cache_wb);
    return static_cast<std::uint32_t>(v);
}

} // namespace

smmu_device::smmu_device(platform_ops& platform, lock_ops& cmdq_lock, device_config cfg)
    : m_platform(platform)
    , m_cfg(cfg)
    , m_cmdq(platform, cmdq_lock)
    , m_strtab(platform, m_cmdq) {}

smmu_device::~smmu_device() {
    release_eventq();
}

smmu_status smmu_device::probe() {
    m_probed = false;
    arch::id_registers idr;
    idr.idr0 = m_platform.mmio_read32(arch::reg::idr0);
    idr.idr1 = m_platform.mmio_read32(arch::reg::idr1);
    idr.idr3 = m_platform.mmio_read32(arch::reg::idr3);
    idr.idr5 = m_platform.mmio_read32(arch::reg::idr5);
    probe_info info;
    info.features = arch::decode_id_registers(idr);
    info.idr1_raw = idr.idr1;
    const arch::feature_set& f = info.features;

    if (!f.ttf_aarch64 || (!f.s1p && !f.s2p))
        return smmu_status::unsupported;
    if (f.endian == arch::tt_endian::big) // tables are written little-endian
        return smmu_status::unsupported;
    const std::uint32_t preset = reg_bits(arch::idr1::tables_preset) |
                                 reg_bits(arch::idr1::queues_preset) | reg_bits(arch::idr1::rel);
    if ((idr.idr1 & preset) != 0)
        return smmu_status::unsupported;

    info.cmdq_log2 = std::min(f.cmdq_log2, m_cfg.cmdq_max_log2);
    if (info.cmdq_log2 <= batch_log2)
        return smmu_status::unsupported;
    info.eventq_log2 = std::min(f.eventq_log2, m_cfg.eventq_max_log2);

    if (m_cfg.completion) {
        info.completion = *m_cfg.completion;
        if ((info.completion == sync_method::msi && !f.msi) ||
            (info.completion == sync_method::sev && !f.sev))
            return smmu_status::unsupported;
    } else if (f.msi && f.cohacc) {
        info.completion = sync_method::msi;
    } else if (f.sev) {
        info.completion = sync_method::sev;
    } else {
        info.completion = sync_method::poll_cons;
    }
    if ((m_cfg.gerror_msi || m_cfg.eventq_msi) && !f.msi)
        return smmu_status::unsupported;
    if (m_cfg.e2h && !f.hyp)
        return smmu_status::unsupported;

    m_info = info;
    m_probed = true;
    return smmu_status::ok;
}

smmu_status smmu_device::allocate() {
    if (!m_probed)
        return smmu_status::not_ready;
    cmdq_config qc;
    qc.log2_entries = m_info.cmdq_log2;
    qc.completion = m_info.completion;
    qc.wfe_when_full = m_info.features.sev;
    qc.timeout_ns = m_cfg.poll_timeout_ns;
    qc.batch_entries = m_cfg.batch_entries;
    smmu_status st = m_cmdq.allocate(qc);
    if (st == smmu_status::ok)
        st = allocate_eventq();
    if (st == smmu_status::ok)
        st = m_strtab.allocate(m_info.features, m_cfg.disable_bypass);
    if (st != smmu_status::ok) {
        m_strtab.release();
        release_eventq();
        m_cmdq.release();
    }
    return st;
}

smmu_status smmu_device::allocate_eventq() {
    release_eventq();
    unsigned log2 = m_info.eventq_log2;
    for (;;) {
        const std::size_t bytes = std::size_t{arch::event_bytes} << log2;
        if (auto pa = m_platform.alloc_dma(bytes, bytes)) {
            m_evtq_base = *pa;
            m_evtq_bytes = bytes;
            m_evtq_math = arch::queue_ptr_math(log2);
            m_evtq_cons = 0;
            return smmu_status::ok;
        }
        if (log2 == 0 || bytes < min_queue_bytes)
            return smmu_status::no_memory;
        --log2;
    }
}

void smmu_device::release_eventq() {
    if (m_evtq_bytes != 0)
        m_platform.free_dma(m_evtq_base, m_evtq_bytes);
    m_evtq_bytes = 0;
    m_evtq_base = 0;
}

std::uint64_t smmu_device::eventq_base_register() const {
    std::uint64_t v = arch::queue_base::addr.set(0, m_evtq_base >> arch::queue_base::addr.lo);
    v = arch::queue_base::log2size.set(v, m_evtq_math.log2size());
    return arch::queue_base::ra_wa.set(v, 1);
}

smmu_status smmu_device::poll_until(std::uint64_t reg, std::uint32_t mask, std::uint32_t want) {
    const std::uint64_t start = m_platform.now_ns();
    while ((m_platform.mmio_read32(reg) & mask) != want) {
        if (m_platform.now_ns() - start >= m_cfg.poll_timeout_ns) {
            ++m_stats.ack_timeouts;
            return smmu_status::timeout;
        }
        m_platform.poll_pause(false);
    }
    return smmu_status::ok;
}

smmu_status smmu_device::write_acked(std::uint64_t reg, std::uint64_t ack, std::uint32_t value) {
    m_platform.mmio_write32(reg, value);
    return poll_until(ack, ~std::uint32_t{0}, value);
}

smmu_status smmu_device::enable_cr0(std::uint32_t bits) {
    const smmu_status st = write_acked(arch::reg::cr0, arch::reg::cr0ack, m_cr0 | bits);
    if (st == smmu_status::ok)
        m_cr0 |= bits;
    return st;
}

smmu_status smmu_device::update_gbpa(bool abort) {
    const std::uint32_t update = reg_bits(arch::gbpa::update);
    if (const smmu_status st = poll_until(arch::reg::gbpa, update, 0); st != smmu_status::ok)
        return st;
    std::uint32_t v = m_platform.mmio_read32(arch::reg::gbpa);
    v = abort ? (v | reg_bits(arch::gbpa::abort)) : (v & ~reg_bits(arch::gbpa::abort));
    m_platform.mmio_write32(arch::reg::gbpa, v | update);
    return poll_until(arch::reg::gbpa, update, 0);
}

smmu_status smmu_device::setup_irqs() {
    if (const smmu_status st = write_acked(arch::reg::irq_ctrl, arch::reg::irq_ctrlack, 0);
        st != smmu_status::ok)
        return st;
    if (m_info.features.msi) {
        // CFG0 = 0 leaves a source on its wired interrupt.
        const auto program = [this](std::uint64_t cfg0, std::uint64_t cfg1, std::uint64_t cfg2,
                                    const std::optional<msi_target>& msi) {
            m_platform.mmio_write64(cfg0, msi ? (msi->address & arch::irq_cfg::addr.mask()) : 0);
            if (!msi)
                return;
            m_platform.mmio_write32(cfg1, msi->data);
            m_platform.mmio_write32(cfg2, msi_memattr_device_ngnre);
        };
        program(arch::reg::gerror_irq_cfg0, arch::reg::gerror_irq_cfg1, arch::reg::gerror_irq_cfg2,
                m_cfg.gerror_msi);
        program(arch::reg::eventq_irq_cfg0, arch::reg::eventq_irq_cfg1, arch::reg::eventq_irq_cfg2,
                m_cfg.eventq_msi);
    }
    if (!m_cfg.enable_irqs)
        return smmu_status::ok;
    const std::uint32_t en =
        reg_bits(arch::irq_ctrl::gerror_irqen) | reg_bits(arch::irq_ctrl::eventq_irqen);
    return write_acked(arch::reg::irq_ctrl, arch::reg::irq_ctrlack, en);
}

smmu_status smmu_device::reset() {
    if (!m_probed || !m_cmdq.allocated() || !m_strtab.allocated() || m_evtq_bytes == 0)
        return smmu_status::not_ready;
    const arch::feature_set& f = m_info.features;

    smmu_status st = update_gbpa(m_cfg.disable_bypass);
    if (st != smmu_status::ok)
        return st;
    m_cr0 = 0;
    if (st = write_acked(arch::reg::cr0, arch::reg::cr0ack, 0); st != smmu_status::ok)
        return st;

    m_platform.mmio_write32(arch::reg::cr1, cr1_value());
    std::uint64_t cr2 = arch::cr2::recinvsid.set(0, 1);
    cr2 = arch::cr2::ptm.set(cr2, 1); // no broadcast TLB maintenance reaches this SMMU
    if (m_cfg.e2h)
        cr2 = arch::cr2::e2h.set(cr2, 1);
    m_platform.mmio_write32(arch::reg::cr2, static_cast<std::uint32_t>(cr2));

    m_platform.mmio_write64(arch::reg::strtab_base, m_strtab.base_register());
    m_platform.mmio_write32(arch::reg::strtab_base_cfg, m_strtab.base_cfg_register());

    m_cmdq.reset_pointers();
    m_platform.mmio_write64(arch::reg::cmdq_base, m_cmdq.base_register());
    m_platform.mmio_write32(arch::reg::cmdq_prod, 0);
    m_platform.mmio_write32(arch::reg::cmdq_cons, 0);
    if (st = enable_cr0(reg_bits(arch::cr0::cmdqen)); st != smmu_status::ok)
        return st;

    // Reset contents of the configuration caches and TLBs are unknown (reference §1.6).
    cmdq_batch batch(m_cmdq);
    batch.add(arch::make_cfgi_all());
    if (f.hyp)
        batch.add(arch::make_tlbi_el2_all());
    batch.add(arch::make_tlbi_nsnh_all());
    if (st = batch.sync(); st != smmu_status::ok)
        return st;

    m_evtq_cons = 0;
    m_platform.mmio_write64(arch::reg::eventq_base, eventq_base_register());
    m_platform.mmio_write32(arch::reg::eventq_prod, 0);
    m_platform.mmio_write32(arch::reg::eventq_cons, 0);
    if (st = enable_cr0(reg_bits(arch::cr0::eventqen)); st != smmu_status::ok)
        return st;

    if (f.ats) {
        if (st = enable_cr0(reg_bits(arch::cr0::atschk)); st != smmu_status::ok)
            return st;
    }
    if (st = setup_irqs(); st != smmu_status::ok)
        return st;
    return enable_cr0(reg_bits(arch::cr0::smmuen));
}

smmu_status smmu_device::bring_up() {
    smmu_status st = probe();
    if (st == smmu_status::ok)
        st = allocate();
    if (st == smmu_status::ok)
        st = reset();
    return st;
}

smmu_status smmu_device::disable() {
    const smmu_status st = write_acked(arch::reg::cr0, arch::reg::cr0ack, 0);
    if (st == smmu_status::ok)
        m_cr0 = 0;
    return st;
}

event_report smmu_device::process_events(const event_handler& handler) {
    event_report r;
    if (m_evtq_bytes == 0)
        return r;
    const std::uint32_t ovf = reg_bits(arch::queue_ptr::overflow);
    std::uint32_t prod = m_platform.mmio_read32(arch::reg::eventq_prod);
    while (!m_evtq_math.empty(prod, m_evtq_cons)) {
        do {
            std::uint8_t raw[arch::event_bytes];
            m_platform.mem_read(m_evtq_base + std::uint64_t{m_evtq_math.index(m_evtq_cons)} *
                                                  arch::event_bytes,
                                raw, sizeof raw);
            arch::event_words w{};
            for (std::size_t i = 0; i < w.size(); ++i)
                w[i] = load_le64(raw + 8 * i);
            if (handler)
                handler(arch::decode_event(w));
            ++r.records;
            // Free the slot at once so the SMMU can reuse it.
            m_evtq_cons = m_evtq_math.advance(m_evtq_cons) | (m_evtq_cons & ovf);
            m_platform.mmio_write32(arch::reg::eventq_cons, m_evtq_cons);
        } while (!m_evtq_math.empty(prod, m_evtq_cons));
        prod = m_platform.mmio_read32(arch::reg::eventq_prod);
    }
    if (((prod ^ m_evtq_cons) & ovf) != 0) {
        r.overflow = true;
        ++m_stats.event_overflows;
        m_evtq_cons = (m_evtq_cons & ~ovf) | (prod & ovf);
        m_platform.mmio_write32(arch::reg::eventq_cons, m_evtq_cons);
    }
    m_stats.events += r.records;
    return r;
}

gerror_report smmu_device::handle_gerror() {
    gerror_report r;
    const std::uint32_t gerror = m_platform.mmio_read32(arch::reg::gerror);
    const std::uint32_t gerrorn = m_platform.mmio_read32(arch::reg::gerrorn);
    r.active = (gerror ^ gerrorn) & arch::gerror::implemented_mask;
    if (r.active == 0)
        return r;
    ++m_stats.gerrors;
    if ((r.active & reg_bits(arch::gerror::cmdq_err)) != 0) {
        ++m_stats.cmdq_errors;
        r.cmdq_error = m_cmdq.skip_error();
    }
    // Acknowledges every active error: GERRORN bits of inactive ones already match.
    m_platform.mmio_write32(arch::reg::gerrorn, gerror);
    return r;
}

} // namespace smmu::driver
