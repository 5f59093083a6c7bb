#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/cmdq.h"
#include "tests/unit/driver/fake_smmu_hw.h"

namespace smmu::driver {
namespace {

constexpr std::uint64_t cmdq_pa = fake_smmu_hw::dma_base;

class cmdq_test : public ::testing::Test {
protected:
    /// Allocates a queue of 2^log2 entries and enables it in the fake as the device would.
    void start(unsigned log2, sync_method m, bool wfe = false, std::uint64_t timeout = 1'000'000) {
        cmdq_config c;
        c.log2_entries = log2;
        c.completion = m;
        c.wfe_when_full = wfe;
        c.timeout_ns = timeout;
        ASSERT_EQ(q.allocate(c), smmu_status::ok);
        hw.mmio_write64(arch::reg::cmdq_base, q.base_register());
        hw.mmio_write32(arch::reg::cmdq_prod, 0);
        hw.mmio_write32(arch::reg::cmdq_cons, 0);
        hw.mmio_write32(arch::reg::cr0, 0x8);
        hw.clear_trace();
    }

    std::vector<std::string> trace_lines() const {
        std::vector<std::string> r;
        for (const fake_smmu_trace& t : hw.trace())
            r.push_back(fake_smmu_hw::describe(t));
        return r;
    }

    std::vector<std::uint64_t> prod_writes() const {
        std::vector<std::uint64_t> r;
        for (const auto& [off, v] : hw.mmio_writes())
            if (off == arch::reg::cmdq_prod)
                r.push_back(v);
        return r;
    }

    static std::vector<arch::command> cfgi_stes(arch::stream_id first, unsigned n) {
        std::vector<arch::command> r;
        for (unsigned i = 0; i < n; ++i)
            r.push_back(arch::make_cfgi_ste(first + i, true));
        return r;
    }

    fake_smmu_hw hw;
    fake_smmu_lock lock;
    cmdq q{hw, lock};
};

// --- allocation ---------------------------------------------------------------------

TEST_F(cmdq_test, allocate_gives_base_register_and_zero_pointers) {
    start(4, sync_method::poll_cons);
    EXPECT_EQ(q.base_address(), 0x40000000u);
    EXPECT_EQ(q.base_register(), 0x4000000040000004ull) << "RA | ADDR | LOG2SIZE";
    EXPECT_EQ(q.entries(), 16u);
    EXPECT_EQ(hw.live_allocations(), 1u);
    q.release();
    EXPECT_EQ(hw.live_allocations(), 0u);
    EXPECT_FALSE(q.allocated());
}

TEST_F(cmdq_test, allocation_halves_until_it_fits) {
    hw.set_max_allocation(4096);
    cmdq_config c;
    c.log2_entries = 10; // 16 KB, then 8 KB, then 4 KB
    ASSERT_EQ(q.allocate(c), smmu_status::ok);
    EXPECT_EQ(q.log2_entries(), 8u);
    EXPECT_EQ(q.config().log2_entries, 8u);
}

TEST_F(cmdq_test, allocation_failure_is_reported) {
    hw.fail_allocations_after(0);
    cmdq_config c;
    c.log2_entries = 9;
    EXPECT_EQ(q.allocate(c), smmu_status::no_memory);
    EXPECT_FALSE(q.allocated());
    EXPECT_EQ(q.issue_with_sync(arch::make_cfgi_all()), smmu_status::not_ready);
}

TEST_F(cmdq_test, allocation_stops_halving_below_a_page) {
    hw.set_max_allocation(1024);
    cmdq_config c;
    c.log2_entries = 8; // 4 KB, then 2 KB (below a page): give up
    EXPECT_EQ(q.allocate(c), smmu_status::no_memory);
}

// --- publishing -----------------------------------------------------------------------

TEST_F(cmdq_test, issue_writes_commands_barrier_prod_then_polls_cons) {
    start(4, sync_method::poll_cons);
    ASSERT_EQ(q.issue_with_sync(arch::make_cfgi_ste(5, true)), smmu_status::ok);
    const std::vector<std::string> expected = {
        "mem 0x40000000 [16 bytes]", "mem 0x40000010 [16 bytes]",   "barrier",
        "mmio 0x98 <- 0x2",          "CMD_CFGI_STE sid=0x5 leaf=1", "CMD_SYNC cs=none",
    };
    EXPECT_EQ(trace_lines(), expected);
    EXPECT_EQ(hw.charges(cpu_op::command_write), 2u);
    EXPECT_EQ(hw.charges(cpu_op::barrier), 1u);
    EXPECT_EQ(hw.charges(cpu_op::lock), 1u);
    EXPECT_EQ(hw.charges(cpu_op::cons_poll), 1u);
    EXPECT_EQ(lock.acquisitions(), 1u);
    const cmdq_stats s = q.stats();
    EXPECT_EQ(s.commands, 2u);
    EXPECT_EQ(s.commands_by_opcode[0x03], 1u);
    EXPECT_EQ(s.commands_by_opcode[0x46], 1u);
    EXPECT_EQ(s.batches, 1u);
    EXPECT_EQ(s.prod_writes, 1u);
    EXPECT_EQ(s.syncs, 1u);
    EXPECT_EQ(s.cons_polls, 1u);
    EXPECT_EQ(s.space_waits, 0u);
    EXPECT_EQ(s.timeouts, 0u);
}

TEST_F(cmdq_test, issue_without_sync_does_not_wait) {
    start(4, sync_method::poll_cons);
    hw.set_cmdq_stalled(true);
    const auto cmds = cfgi_stes(0, 3);
    EXPECT_EQ(q.issue(cmds.data(), cmds.size(), false), smmu_status::ok);
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{3}));
    EXPECT_EQ(hw.mmio_reads(arch::reg::cmdq_cons), 0u);
    EXPECT_EQ(q.stats().syncs, 0u);
}

TEST_F(cmdq_test, empty_issue_is_a_no_op) {
    start(4, sync_method::poll_cons);
    EXPECT_EQ(q.issue(nullptr, 0, false), smmu_status::ok);
    EXPECT_TRUE(hw.trace().empty());
    EXPECT_EQ(lock.acquisitions(), 0u);
}

TEST_F(cmdq_test, queue_wraps_when_more_commands_than_entries) {
    start(2, sync_method::poll_cons); // 4 entries: wrap bit is bit 2
    const auto cmds = cfgi_stes(0x100, 10);
    ASSERT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::ok);
    // 11 commands published a queue at a time: 4 (wrap 1, idx 0), 8 (wrap 0, idx 0), 11.
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{0x4, 0x0, 0x3}));
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 11u);
    for (unsigned i = 0; i < 10; ++i)
        EXPECT_EQ(consumed[i], arch::make_cfgi_ste(0x100 + i, true)) << i;
    EXPECT_EQ(consumed[10].op, arch::opcode::sync);
    EXPECT_EQ(hw.cmdq_cons_reg(), 0x3u);
    EXPECT_EQ(q.stats().prod_writes, 3u);
}

TEST_F(cmdq_test, pointers_wrap_over_many_batches) {
    start(3, sync_method::poll_cons); // 8 entries: wrap bit 3, pointer mask 0xf
    for (unsigned b = 0; b < 5; ++b) {
        const auto cmds = cfgi_stes(b * 3, 3);
        ASSERT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::ok) << b;
    }
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{0x4, 0x8, 0xc, 0x0, 0x4}));
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 20u);
    EXPECT_EQ(consumed[16], arch::make_cfgi_ste(12, true));
    EXPECT_EQ(consumed[19].op, arch::opcode::sync);
    EXPECT_EQ(q.stats().syncs, 5u);
}

TEST_F(cmdq_test, waits_for_space_by_polling_cons) {
    start(2, sync_method::poll_cons);
    hw.set_consume_on_prod_write(false);
    hw.set_consume_per_step(1); // one command per CONS read and per pause
    const auto cmds = cfgi_stes(0, 6);
    ASSERT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::ok);
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{0x4, 0x7}));
    EXPECT_EQ(hw.consumed_commands().size(), 7u);
    const cmdq_stats s = q.stats();
    // Space: CONS read (1), pause (2), CONS read (3): room for 3. SYNC: read (4),
    // pause (5), read (6), pause (7), read: consumed.
    EXPECT_EQ(s.space_waits, 1u);
    EXPECT_EQ(s.space_wait_ns, 100u);
    EXPECT_EQ(s.sync_wait_ns, 200u);
    EXPECT_EQ(s.cons_polls, 5u);
    EXPECT_EQ(hw.charges(cpu_op::cons_poll), 5u);
    EXPECT_EQ(hw.mmio_reads(arch::reg::cmdq_cons), 5u);
    EXPECT_EQ(hw.poll_pauses(false), 3u);
    EXPECT_EQ(hw.poll_pauses(true), 0u);
}

TEST_F(cmdq_test, waits_for_space_with_wfe_when_the_smmu_has_sev) {
    start(2, sync_method::poll_cons, true);
    hw.set_consume_on_prod_write(false);
    hw.set_consume_per_step(1);
    const auto cmds = cfgi_stes(0, 6);
    ASSERT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::ok);
    EXPECT_EQ(hw.poll_pauses(true), 1u) << "only the space wait uses WFE with poll_cons";
}

TEST_F(cmdq_test, space_wait_times_out) {
    start(2, sync_method::poll_cons, false, 1000);
    hw.set_cmdq_stalled(true);
    const auto cmds = cfgi_stes(0, 6);
    EXPECT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::timeout);
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{0x4})) << "the first queueful went out";
    const cmdq_stats s = q.stats();
    EXPECT_EQ(s.timeouts, 1u);
    EXPECT_EQ(s.space_wait_ns, 1000u);
    EXPECT_EQ(s.batches, 0u);
    EXPECT_EQ(hw.now_ns(), 1000u);
}

// --- completion methods ----------------------------------------------------------------

TEST_F(cmdq_test, poll_cons_sync_has_no_signal) {
    start(4, sync_method::poll_cons);
    ASSERT_EQ(q.issue(nullptr, 0, true), smmu_status::ok);
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 1u);
    EXPECT_EQ(consumed[0].cs, arch::sync_cs::none);
    EXPECT_EQ(hw.sev_signals(), 0u);
}

TEST_F(cmdq_test, msi_sync_writes_zero_into_its_own_slot) {
    start(4, sync_method::msi);
    const auto cmds = cfgi_stes(0, 2);
    ASSERT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::ok);
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 3u);
    const arch::command& sync = consumed[2];
    EXPECT_EQ(sync.cs, arch::sync_cs::irq);
    EXPECT_EQ(sync.msi_addr, cmdq_pa + 0x20) << "slot 2";
    EXPECT_EQ(sync.msi_data, 0u);
    EXPECT_EQ(sync.msh, arch::shareability::ish);
    EXPECT_EQ(sync.msi_attr, 0xfu);
    const auto lines = [&] {
        std::vector<std::string> r;
        for (const fake_smmu_trace& t : hw.trace())
            if (t.what == fake_smmu_trace::kind::msi)
                r.push_back(fake_smmu_hw::describe(t));
        return r;
    }();
    EXPECT_EQ(lines, (std::vector<std::string>{"msi 0x40000020 <- 0x0"}));
    EXPECT_EQ(hw.peek32(cmdq_pa + 0x20), 0u);
    EXPECT_EQ(hw.mmio_reads(arch::reg::cmdq_cons), 0u) << "MSI completion polls memory";
}

TEST_F(cmdq_test, msi_completion_polls_the_slot_until_written) {
    start(4, sync_method::msi);
    hw.set_consume_on_prod_write(false);
    hw.set_consume_per_step(1);
    const auto cmds = cfgi_stes(0, 2);
    ASSERT_EQ(q.issue(cmds.data(), cmds.size(), true), smmu_status::ok);
    EXPECT_EQ(hw.poll_pauses(false), 3u) << "one command consumed per pause";
    EXPECT_EQ(q.stats().cons_polls, 4u);
    EXPECT_EQ(q.stats().sync_wait_ns, 300u);
    EXPECT_EQ(hw.mmio_reads(arch::reg::cmdq_cons), 0u);
}

TEST_F(cmdq_test, sev_sync_waits_with_wfe) {
    start(4, sync_method::sev);
    hw.set_consume_on_prod_write(false);
    hw.set_consume_per_step(1);
    ASSERT_EQ(q.issue_with_sync(arch::make_tlbi_nsnh_all()), smmu_status::ok);
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 2u);
    EXPECT_EQ(consumed[1].cs, arch::sync_cs::sev);
    EXPECT_EQ(hw.sev_signals(), 1u);
    EXPECT_EQ(hw.poll_pauses(true), 1u);
    EXPECT_EQ(hw.poll_pauses(false), 1u) << "all pauses were WFE";
}

TEST_F(cmdq_test, sync_timeout_polling_cons) {
    start(4, sync_method::poll_cons, false, 5000);
    hw.set_cmdq_stalled(true);
    EXPECT_EQ(q.issue_with_sync(arch::make_cfgi_all()), smmu_status::timeout);
    const cmdq_stats s = q.stats();
    EXPECT_EQ(s.timeouts, 1u);
    EXPECT_EQ(s.syncs, 0u);
    EXPECT_EQ(s.sync_wait_ns, 5000u);
    EXPECT_EQ(s.cons_polls, 51u) << "one poll at t = 0, 100, ..., 5000";
}

TEST_F(cmdq_test, sync_timeout_with_msi) {
    start(4, sync_method::msi, false, 1000);
    hw.set_cmdq_stalled(true);
    EXPECT_EQ(q.issue_with_sync(arch::make_cfgi_all()), smmu_status::timeout);
    EXPECT_EQ(q.stats().timeouts, 1u);
    EXPECT_NE(hw.peek32(cmdq_pa + 0x10), 0u) << "the SYNC's first word is still its opcode";
}

TEST_F(cmdq_test, set_completion_changes_the_sync_encoding) {
    start(4, sync_method::poll_cons);
    q.set_completion(sync_method::sev, true, 77);
    EXPECT_EQ(q.config().completion, sync_method::sev);
    EXPECT_TRUE(q.config().wfe_when_full);
    EXPECT_EQ(q.config().timeout_ns, 77u);
    EXPECT_EQ(q.make_sync_for_slot(3), arch::make_sync(arch::sync_cs::sev));
    q.set_completion(sync_method::msi, false, 77);
    EXPECT_EQ(q.make_sync_for_slot(3),
              arch::make_sync(arch::sync_cs::irq, cmdq_pa + 0x30, 0, arch::shareability::ish, 0xf));
}

/// A lock that runs `after_unlock` once, right after a release: the window in
/// which another CPU may publish between a producer's publish and its wait.
class hook_lock : public lock_ops {
public:
    void lock() override { m_mutex.lock(); }
    void unlock() override {
        m_mutex.unlock();
        if (auto f = std::exchange(after_unlock, nullptr))
            f();
    }
    std::function<void()> after_unlock;

private:
    std::mutex m_mutex;
};

TEST(cmdq_wrap, sync_consumed_then_overtaken_by_a_whole_queue_still_completes) {
    fake_smmu_hw hw;
    hook_lock lock;
    cmdq q(hw, lock);
    cmdq_config c;
    c.log2_entries = 2; // 4 entries
    c.timeout_ns = 1000;
    ASSERT_EQ(q.allocate(c), smmu_status::ok);
    hw.mmio_write64(arch::reg::cmdq_base, q.base_register());
    hw.mmio_write32(arch::reg::cr0, 0x8);
    // Our CFGI + SYNC end at count 2. Before we poll, another producer publishes
    // four commands: CONS reaches 6, whose pointer (0x6) is 4 behind our 0x2 as
    // if our SYNC were still pending. Its space check moved the producers' view
    // of CONS to 2, which settles it.
    lock.after_unlock = [&] {
        std::vector<arch::command> more(4, arch::make_tlbi_nsnh_all());
        ASSERT_EQ(q.issue(more.data(), more.size(), false), smmu_status::ok);
    };
    EXPECT_EQ(q.issue_with_sync(arch::make_cfgi_all()), smmu_status::ok);
    EXPECT_EQ(hw.cmdq_cons_reg(), 0x6u);
    EXPECT_EQ(q.stats().cons_polls, 1u) << "only the other producer's space check read CONS";
    EXPECT_EQ(q.stats().timeouts, 0u);
}

// --- batches ----------------------------------------------------------------------------

TEST_F(cmdq_test, batch_publishes_64_without_sync_when_full) {
    start(8, sync_method::poll_cons);
    cmdq_batch b(q);
    for (unsigned i = 0; i < 64; ++i)
        ASSERT_EQ(b.add(arch::make_cfgi_ste(i, true)), smmu_status::ok);
    EXPECT_EQ(b.size(), 64u);
    EXPECT_TRUE(prod_writes().empty());
    ASSERT_EQ(b.add(arch::make_cfgi_ste(64, true)), smmu_status::ok);
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{64}));
    EXPECT_EQ(b.size(), 1u);
    ASSERT_EQ(b.sync(), smmu_status::ok);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{64, 66}));
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 66u);
    EXPECT_EQ(consumed[64], arch::make_cfgi_ste(64, true));
    EXPECT_EQ(consumed[65].op, arch::opcode::sync);
    const cmdq_stats s = q.stats();
    EXPECT_EQ(s.batches, 2u);
    EXPECT_EQ(s.syncs, 1u);
    EXPECT_EQ(s.commands_by_opcode[0x03], 65u);
}

TEST_F(cmdq_test, empty_batch_sync_issues_a_lone_sync_and_flush_does_nothing) {
    start(4, sync_method::poll_cons);
    cmdq_batch b(q);
    ASSERT_EQ(b.flush_without_sync(), smmu_status::ok);
    EXPECT_TRUE(prod_writes().empty());
    ASSERT_EQ(b.sync(), smmu_status::ok);
    ASSERT_EQ(hw.consumed_commands().size(), 1u);
    EXPECT_EQ(hw.consumed_commands()[0].op, arch::opcode::sync);
}

TEST_F(cmdq_test, batch_flush_without_sync) {
    start(4, sync_method::poll_cons);
    cmdq_batch b(q);
    b.add(arch::make_tlbi_nh_asid(1, 2));
    b.add(arch::make_tlbi_nh_asid(1, 3));
    ASSERT_EQ(b.flush_without_sync(), smmu_status::ok);
    EXPECT_EQ(prod_writes(), (std::vector<std::uint64_t>{2}));
    EXPECT_EQ(q.stats().syncs, 0u);
    EXPECT_EQ(q.stats().commands_by_opcode[0x11], 2u);
}

TEST_F(cmdq_test, batch_reports_timeout_of_its_overflow_publish) {
    start(2, sync_method::poll_cons, false, 500);
    hw.set_cmdq_stalled(true);
    cmdq_batch b(q);
    for (unsigned i = 0; i < 64; ++i)
        b.add(arch::make_cfgi_ste(i, true));
    EXPECT_EQ(b.add(arch::make_cfgi_ste(64, true)), smmu_status::timeout);
}

// --- error skipping -----------------------------------------------------------------------

TEST_F(cmdq_test, skip_error_without_error_does_nothing) {
    start(4, sync_method::poll_cons);
    EXPECT_EQ(q.skip_error(), arch::cmdq_error::none);
    EXPECT_TRUE(hw.trace().empty());
    EXPECT_EQ(q.stats().errors_skipped, 0u);
}

TEST_F(cmdq_test, skip_error_replaces_an_illegal_command_with_a_sync) {
    start(4, sync_method::msi, false, 1000);
    hw.inject_cmdq_error(arch::opcode::cfgi_ste, arch::cmdq_error::ill);
    EXPECT_EQ(q.issue_with_sync(arch::make_cfgi_ste(9, true)), smmu_status::timeout);
    EXPECT_EQ(hw.cmdq_cons_reg(), 0x01000000u) << "ERR = ILL, CONS at slot 0";
    hw.clear_trace();
    EXPECT_EQ(q.skip_error(), arch::cmdq_error::ill);
    const std::vector<std::string> expected = {
        "mem 0x40000000 [16 bytes]",
        "barrier",
    };
    std::vector<std::string> lines;
    for (const fake_smmu_trace& t : hw.trace())
        lines.push_back(fake_smmu_hw::describe(t));
    EXPECT_EQ(lines, expected);
    // Acknowledge as handle_gerror does: the SMMU refetches slot 0, now a SYNC.
    hw.mmio_write32(arch::reg::gerrorn, static_cast<std::uint32_t>(hw.reg(arch::reg::gerror)));
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), 2u);
    EXPECT_EQ(consumed[0],
              arch::make_sync(arch::sync_cs::irq, cmdq_pa, 0, arch::shareability::ish, 0xf));
    EXPECT_EQ(consumed[1].op, arch::opcode::sync);
    EXPECT_EQ(q.stats().errors_skipped, 1u);
}

// --- concurrency ----------------------------------------------------------------------

TEST_F(cmdq_test, concurrent_producers_keep_batches_contiguous) {
    start(4, sync_method::poll_cons, false, ~std::uint64_t{0} / 2);
    hw.set_consume_on_prod_write(false);
    hw.set_consume_per_step(3);
    constexpr unsigned threads = 4, batches = 25, per_batch = 5;
    std::vector<std::thread> pool;
    std::vector<smmu_status> failures;
    std::mutex failures_mutex;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (unsigned b = 0; b < batches; ++b) {
                cmdq_batch batch(q);
                for (unsigned i = 0; i < per_batch; ++i)
                    batch.add(arch::make_cfgi_ste((t << 16) | (b << 8) | i, true));
                if (const smmu_status st = batch.sync(); st != smmu_status::ok) {
                    std::lock_guard<std::mutex> g(failures_mutex);
                    failures.push_back(st);
                }
            }
        });
    }
    for (std::thread& th : pool)
        th.join();
    EXPECT_TRUE(failures.empty());
    // Drain whatever the last waiter did not need to see consumed.
    hw.set_consume_per_step(~0u);
    hw.poll_pause(false);
    const auto consumed = hw.consumed_commands();
    ASSERT_EQ(consumed.size(), threads * batches * (per_batch + 1));
    std::vector<unsigned> next_batch(threads, 0);
    for (std::size_t i = 0; i < consumed.size(); i += per_batch + 1) {
        const unsigned owner = consumed[i].sid >> 16;
        ASSERT_LT(owner, threads);
        const unsigned b = next_batch[owner]++;
        for (unsigned k = 0; k < per_batch; ++k)
            EXPECT_EQ(consumed[i + k].sid, (owner << 16) | (b << 8) | k) << "batch interleaved";
        EXPECT_EQ(consumed[i + per_batch].op, arch::opcode::sync);
    }
    EXPECT_EQ(q.stats().syncs, threads * batches);
    EXPECT_EQ(lock.acquisitions(), threads * batches);
    EXPECT_EQ(q.stats().timeouts, 0u);
}

} // namespace
} // namespace smmu::driver
