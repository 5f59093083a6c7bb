#include "driver/core/cmdq.h"

#include <algorithm>

namespace smmu::driver {

namespace {

/// CMD_SYNC MSIAttr for an MSI into normal memory: Inner/Outer WB (reference §5.6).
constexpr std::uint8_t msi_attr_normal_wb = 0xf;

void store_le64(std::uint8_t* dst, std::uint64_t v) {
    for (unsigned i = 0; i < 8; ++i)
        dst[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t load_le32(const std::uint8_t* src) {
    std::uint32_t v = 0;
    for (unsigned i = 0; i < 4; ++i)
        v |= std::uint32_t{src[i]} << (8 * i);
    return v;
}

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
}

} // namespace

const char* to_string(smmu_status s) {
    switch (s) {
    case smmu_status::ok:
        return "ok";
    case smmu_status::no_memory:
        return "no_memory";
    case smmu_status::timeout:
        return "timeout";
    case smmu_status::unsupported:
        return "unsupported";
    case smmu_status::bad_input:
        return "bad_input";
    case smmu_status::not_ready:
        return "not_ready";
    }
    return "unknown";
}

const char* to_string(sync_method m) {
    switch (m) {
    case sync_method::poll_cons:
        return "poll_cons";
    case sync_method::msi:
        return "msi";
    case sync_method::sev:
        return "sev";
    }
    return "unknown";
}

cmdq::cmdq(platform_ops& platform, lock_ops& lock)
    : m_platform(platform)
    , m_lock(lock) {}

cmdq::~cmdq() {
    release();
}

smmu_status cmdq::allocate(const cmdq_config& cfg) {
    release();
    m_cfg = cfg;
    unsigned log2 = cfg.log2_entries;
    for (;;) {
        const std::size_t bytes = std::size_t{arch::command_bytes} << log2;
        // Queues are naturally aligned (the SMMU ignores base bits below the size).
        if (auto pa = m_platform.alloc_dma(bytes, std::max<std::size_t>(bytes, 32))) {
            m_base = *pa;
            m_size_bytes = bytes;
            m_math = arch::queue_ptr_math(log2);
            m_cfg.log2_entries = log2;
            reset_pointers();
            return smmu_status::ok;
        }
        if (log2 == 0 || bytes < min_queue_bytes)
            return smmu_status::no_memory;
        --log2;
    }
}

void cmdq::release() {
    if (m_size_bytes != 0)
        m_platform.free_dma(m_base, m_size_bytes);
    m_base = 0;
    m_size_bytes = 0;
}

void cmdq::reset_pointers() {
    m_prod = 0;
    m_cons.store(0, std::memory_order_release);
}

std::uint64_t cmdq::base_register() const {
    std::uint64_t v = arch::queue_base::addr.set(0, m_base >> arch::queue_base::addr.lo);
    v = arch::queue_base::log2size.set(v, m_math.log2size());
    return arch::queue_base::ra_wa.set(v, 1);
}

void cmdq::set_completion(sync_method m, bool wfe_when_full, std::uint64_t timeout_ns) {
    m_cfg.completion = m;
    m_cfg.wfe_when_full = wfe_when_full;
    m_cfg.timeout_ns = timeout_ns;
}

arch::command cmdq::make_sync_for_slot(std::uint32_t index) const {
    switch (m_cfg.completion) {
    case sync_method::msi:
        // The MSI's 32-bit write of 0 lands on the SYNC's own first word (Linux MSIPOLL).
        return arch::make_sync(arch::sync_cs::irq, slot_address(index), 0, arch::shareability::ish,
                               msi_attr_normal_wb);
    case sync_method::sev:
        return arch::make_sync(arch::sync_cs::sev);
    case sync_method::poll_cons:
        break;
    }
    return arch::make_sync(arch::sync_cs::none);
}

void cmdq::write_command(std::uint64_t position, const arch::command& cmd) {
    const arch::command_words w = arch::encode(cmd);
    std::uint8_t bytes[arch::command_bytes];
    store_le64(bytes, w[0]);
    store_le64(bytes + 8, w[1]);
    m_platform.mem_write(slot_address(m_math.index(ptr(position))), bytes, sizeof bytes);
    m_platform.charge(cpu_op::command_write);
    bump(m_commands);
    bump(m_by_opcode[static_cast<std::uint8_t>(cmd.op)]);
}

// Under m_lock: m_prod is stable and the SMMU's CONS lies in [m_prod - size,
// m_prod], so the wrap:index value maps to exactly one count.
void cmdq::refresh_cons() {
    const std::uint32_t reg = m_platform.mmio_read32(arch::reg::cmdq_cons);
    m_platform.charge(cpu_op::cons_poll);
    bump(m_cons_polls);
    const std::uint32_t prod = ptr(m_prod);
    if (!m_math.consistent(prod, reg))
        return;
    const std::uint64_t cons = m_prod - m_math.used(prod, reg);
    if (cons > m_cons.load(std::memory_order_relaxed))
        m_cons.store(cons, std::memory_order_release);
}

smmu_status cmdq::wait_for_space(std::uint32_t needed) {
    const auto fits = [&] {
        return m_prod - m_cons.load(std::memory_order_relaxed) + needed <= entries();
    };
    if (fits())
        return smmu_status::ok;
    const std::uint64_t start = m_platform.now_ns();
    bump(m_space_waits);
    smmu_status st = smmu_status::ok;
    for (;;) {
        refresh_cons();
        if (fits())
            break;
        if (m_platform.now_ns() - start >= m_cfg.timeout_ns) {
            bump(m_timeouts);
            st = smmu_status::timeout;
            break;
        }
        m_platform.poll_pause(m_cfg.wfe_when_full);
    }
    bump(m_space_wait_ns, m_platform.now_ns() - start);
    return st;
}

smmu_status cmdq::issue(const arch::command* cmds, std::size_t count, bool with_sync) {
    if (m_size_bytes == 0)
        return smmu_status::not_ready;
    const std::size_t total = count + (with_sync ? 1 : 0);
    if (total == 0)
        return smmu_status::ok;

    std::uint64_t sync_end = 0;
    {
        lock_guard guard(m_lock);
        m_platform.charge(cpu_op::lock);
        std::size_t done = 0;
        while (done < total) {
            const auto chunk =
                static_cast<std::uint32_t>(std::min<std::size_t>(total - done, entries()));
            if (const smmu_status st = wait_for_space(chunk); st != smmu_status::ok)
                return st;
            for (std::uint32_t i = 0; i < chunk; ++i) {
                const std::uint64_t pos = m_prod + i;
                if (done + i < count)
                    write_command(pos, cmds[done + i]);
                else
                    write_command(pos, make_sync_for_slot(m_math.index(ptr(pos))));
            }
            // Commands must be visible to the SMMU before PROD says they exist.
            m_platform.barrier();
            m_platform.charge(cpu_op::barrier);
            m_prod += chunk;
            m_platform.mmio_write32(arch::reg::cmdq_prod, ptr(m_prod));
            bump(m_prod_writes);
            done += chunk;
        }
        bump(m_batches);
        sync_end = m_prod;
    }
    return with_sync ? wait_for_sync(sync_end) : smmu_status::ok;
}

bool cmdq::sync_done(std::uint64_t sync_end) {
    if (m_cons.load(std::memory_order_acquire) >= sync_end)
        return true;
    bump(m_cons_polls);
    m_platform.charge(cpu_op::cons_poll);
    if (m_cfg.completion == sync_method::msi) {
        std::uint8_t word[4];
        m_platform.mem_read(slot_address(m_math.index(ptr(sync_end - 1))), word, sizeof word);
        return load_le32(word) == 0;
    }
    const std::uint32_t reg = m_platform.mmio_read32(arch::reg::cmdq_cons);
    // Pending while 1 <= (sync_end - CONS) <= size; see the header for why the
    // wrap-around cases are covered by m_cons.
    const std::uint32_t ahead = m_math.used(ptr(sync_end), reg);
    return ahead == 0 || ahead > entries();
}

smmu_status cmdq::wait_for_sync(std::uint64_t sync_end) {
    const std::uint64_t start = m_platform.now_ns();
    smmu_status st = smmu_status::ok;
    while (!sync_done(sync_end)) {
        if (m_platform.now_ns() - start >= m_cfg.timeout_ns) {
            bump(m_timeouts);
            st = smmu_status::timeout;
            break;
        }
        m_platform.poll_pause(m_cfg.completion == sync_method::sev);
    }
    if (st == smmu_status::ok)
        bump(m_syncs);
    bump(m_sync_wait_ns, m_platform.now_ns() - start);
    return st;
}

arch::cmdq_error cmdq::skip_error() {
    if (m_size_bytes == 0)
        return arch::cmdq_error::none;
    const std::uint32_t reg = m_platform.mmio_read32(arch::reg::cmdq_cons);
    const auto err = static_cast<arch::cmdq_error>(arch::queue_ptr::cmdq_err.get(reg));
    if (err == arch::cmdq_error::none)
        return err;
    bump(m_errors_skipped);
    if (err == arch::cmdq_error::abt)
        return err; // the SMMU refetches the same command once GERRORN acknowledges
    // CERROR_ILL: replace the offending command; CERROR_ATC_INV_SYNC: CONS is at
    // the SYNC, write it again so it is retried; unknown codes: as ILL.
    const std::uint32_t index = m_math.index(reg);
    write_command(index, make_sync_for_slot(index));
    m_platform.barrier();
    m_platform.charge(cpu_op::barrier);
    return err;
}

cmdq_stats cmdq::stats() const {
    cmdq_stats s;
    for (std::size_t i = 0; i < s.commands_by_opcode.size(); ++i)
        s.commands_by_opcode[i] = m_by_opcode[i].load(std::memory_order_relaxed);
    s.commands = m_commands.load(std::memory_order_relaxed);
    s.batches = m_batches.load(std::memory_order_relaxed);
    s.prod_writes = m_prod_writes.load(std::memory_order_relaxed);
    s.syncs = m_syncs.load(std::memory_order_relaxed);
    s.space_waits = m_space_waits.load(std::memory_order_relaxed);
    s.space_wait_ns = m_space_wait_ns.load(std::memory_order_relaxed);
    s.sync_wait_ns = m_sync_wait_ns.load(std::memory_order_relaxed);
    s.cons_polls = m_cons_polls.load(std::memory_order_relaxed);
    s.timeouts = m_timeouts.load(std::memory_order_relaxed);
    s.errors_skipped = m_errors_skipped.load(std::memory_order_relaxed);
    return s;
}

// --- cmdq_batch -------------------------------------------------------------------

smmu_status cmdq_batch::add(const arch::command& cmd) {
    if (m_count == std::clamp<std::size_t>(m_queue.config().batch_entries, 1, m_cmds.size())) {
        if (const smmu_status st = flush_without_sync(); st != smmu_status::ok)
            return st;
    }
    m_cmds[m_count++] = cmd;
    return smmu_status::ok;
}

smmu_status cmdq_batch::sync() {
    const std::size_t n = m_count;
    m_count = 0;
    return m_queue.issue(m_cmds.data(), n, true);
}

smmu_status cmdq_batch::flush_without_sync() {
    const std::size_t n = m_count;
    m_count = 0;
    return m_queue.issue(m_cmds.data(), n, false);
}

} // namespace smmu::driver
