// Real host threads on one domain's invs array (linux-invs.md §3.8): readers
// run domain_inv_range / domain_inv_all while one writer attaches and
// detaches masters (merge + publish, unref, purge + publish), with injected
// allocation failures. Meant to be run under ThreadSanitizer as well:
//   g++ -std=c++17 -O1 -g -fsanitize=thread ... invs_stress_test.cpp
// Checked: no data race (TSan), every CMD_SYNC segment holds one class of
// command (TLBIs, nested-S1 clears, or ATC_INVs, §4.9), and no ATC_INV for a
// StreamID is issued after the unref that removed it returned (the ATS fence).
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "driver/core/inv_range.h"
#include "driver/core/invs.h"
#include "tests/unit/driver/fake_platform_invs.h"

namespace smmu::driver {
namespace {

constexpr unsigned writer_iterations = 600;
constexpr unsigned reader_threads = 2;
constexpr std::uint32_t sid_base_a = 0x100000; // masters of the S1 attach, one per iteration
constexpr std::uint32_t sid_base_b = 0x200000; // masters of the nested attach, one per iteration
constexpr std::uint32_t persistent_sid = 5;

smmu_caps g_smmus[2] = {smmu_caps{0, false, true, false, 16, 16, nullptr},
                        smmu_caps{1, true, true, false, 16, 16, nullptr}};
smmu_ref s0 = &g_smmus[0];
smmu_ref s1 = &g_smmus[1];

enum class cmd_class { none, tlbi, s1_clear, atc };

cmd_class class_of(const arch::command& c) {
    if (c.op == arch::opcode::atc_inv)
        return cmd_class::atc;
    if (c.op == arch::opcode::tlbi_nh_all)
        return cmd_class::s1_clear;
    return cmd_class::tlbi;
}

/// Per-reader sink that checks each command as it is issued.
class checking_sink final : public command_sink {
public:
    explicit checking_sink(const std::atomic<std::uint32_t>& dead_b)
        : m_dead_b(dead_b) {}

    bool add(smmu_ref smmu, const arch::command& cmd) override {
        ++commands;
        if (m_segment_smmu != nullptr && m_segment_smmu != smmu)
            ++violations; // the walker must sync before switching SMMU
        m_segment_smmu = smmu;
        const cmd_class c = class_of(cmd);
        if (m_segment != cmd_class::none && m_segment != c)
            ++violations; // TLBIs, S1 clears and ATC_INVs never share a segment
        m_segment = c;
        if (c == cmd_class::atc && cmd.sid >= sid_base_b) {
            ++removable_atcs;
            // Its unref returned (dead_b passed it): the write lock should have
            // waited for us, or we should have seen the entry as trash.
            if (cmd.sid - sid_base_b < m_dead_b.load(std::memory_order_acquire))
                ++violations;
        }
        return true;
    }
    bool sync(smmu_ref smmu) override {
        ++syncs;
        if (m_segment_smmu != smmu)
            ++violations; // a sync must close the current SMMU's segment
        m_segment = cmd_class::none;
        m_segment_smmu = nullptr;
        return true;
    }
    bool segment_open() const { return m_segment_smmu != nullptr; }

    unsigned long commands = 0;
    unsigned long syncs = 0;
    unsigned long violations = 0;
    unsigned long removable_atcs = 0; ///< ATC_INVs for the nested masters (fence checked)

private:
    const std::atomic<std::uint32_t>& m_dead_b;
    cmd_class m_segment = cmd_class::none;
    smmu_ref m_segment_smmu = nullptr;
};

class writer {
public:
    writer(invs_slot& slot, test::test_lock_factory& locks, std::atomic<std::uint32_t>& dead_b,
           const std::atomic<unsigned long>& walks_total)
        : m_slot(slot)
        , m_locks(locks)
        , m_dead_b(dead_b)
        , m_walks_total(walks_total)
        , m_buf_a(*inv_list::create(build_list_capacity(true, 1)))
        , m_buf_b(*inv_list::create(build_list_capacity(true, 1))) {}

    void run() {
        for (unsigned k = 0; k < writer_iterations; ++k) {
            // Every 7th array allocation fails: merges are skipped, purges retried.
            if (k % 7 == 3)
                m_locks.fail_next();
            const bool a = attach(m_buf_a, spec_a(k), {sid_base_a + k});
            if (k % 11 == 5)
                m_locks.fail_next();
            const bool b = attach(m_buf_b, spec_b(k), {sid_base_b + k});
            if (b) {
                let_readers_walk();
                detach(m_buf_b, spec_b(k), {sid_base_b + k});
                m_dead_b.store(k + 1, std::memory_order_release);
            }
            if (a)
                detach(m_buf_a, spec_a(k), {sid_base_a + k});
            if (!b)
                m_dead_b.store(k + 1, std::memory_order_release);
        }
    }

    unsigned merges = 0;
    unsigned failed_merges = 0;
    unsigned purges = 0;

private:
    static build_spec spec_a(unsigned k) {
        build_spec s;
        s.smmu = s0;
        s.tag_type = inv_type::s1_asid;
        s.tag_id = 1 + k % 5;
        s.ats_enabled = true;
        return s;
    }
    static build_spec spec_b(unsigned k) {
        build_spec s;
        s.smmu = s1;
        s.tag_type = inv_type::s2_vmid;
        s.tag_id = 1 + k % 3;
        s.nesting = true;
        s.ats_enabled = true;
        s.pgsize_shift = 12;
        return s;
    }

    /// Keeps the nested master attached while readers walk a couple of times
    /// (bounded), so its ATC_INVs race with its unref. Relaxed loads: no
    /// synchronisation that could hide a race from TSan.
    void let_readers_walk() {
        const unsigned long start = m_walks_total.load(std::memory_order_relaxed);
        for (int i = 0; i < 2000 && m_walks_total.load(std::memory_order_relaxed) < start + 2; ++i)
            std::this_thread::yield();
    }

    bool attach(inv_list& buf, const build_spec& spec, const std::vector<arch::stream_id>& sids) {
        if (build_master_invs(buf, spec, sids) != invs_error::none)
            return false;
        const merge_result r = invs_merge(*m_slot.load(), buf);
        if (!r.ok()) {
            ++failed_merges;
            return false;
        }
        ++merges;
        m_slot.publish(r.invs);
        return true;
    }

    void detach(inv_list& buf, const build_spec& spec, const std::vector<arch::stream_id>& sids) {
        if (build_master_invs(buf, spec, sids) != invs_error::none)
            return;
        const std::shared_ptr<inv_array> cur = m_slot.load();
        invs_unref(*cur, buf);
        const purge_result p = invs_purge(*cur);
        if (p.invs) {
            ++purges;
            m_slot.publish(p.invs);
        }
    }

    invs_slot& m_slot;
    test::test_lock_factory& m_locks;
    std::atomic<std::uint32_t>& m_dead_b;
    const std::atomic<unsigned long>& m_walks_total;
    inv_list m_buf_a;
    inv_list m_buf_b;
};

TEST(invs_stress, readers_walk_while_the_writer_merges_unrefs_and_purges) {
    test::test_lock_factory locks;
    invs_slot slot(inv_array::create(0, locks));

    // One master stays attached throughout so arrays are rarely empty.
    std::optional<inv_list> persistent = inv_list::create(build_list_capacity(true, 1));
    ASSERT_TRUE(persistent.has_value());
    build_spec p;
    p.smmu = s0;
    p.tag_type = inv_type::s1_asid;
    p.tag_id = 9;
    p.ats_enabled = true;
    ASSERT_EQ(build_master_invs(*persistent, p, {persistent_sid}), invs_error::none);
    merge_result first = invs_merge(*slot.load(), *persistent);
    ASSERT_TRUE(first.ok());
    slot.publish(first.invs);

    std::atomic<std::uint32_t> dead_b{0};
    std::atomic<bool> done{false};
    std::atomic<unsigned long> walks_total{0};
    std::vector<unsigned long> walks(reader_threads, 0);
    std::vector<unsigned long> commands(reader_threads, 0);
    std::vector<unsigned long> violations(reader_threads, 0);
    std::vector<unsigned long> removable_atcs(reader_threads, 0);
    std::vector<std::thread> readers;
    for (unsigned t = 0; t < reader_threads; ++t) {
        readers.emplace_back([&, t] {
            checking_sink sink(dead_b);
            std::uint64_t iova = 0x10000 * (t + 1);
            // Keep walking until the writer is done, and at least a few times.
            while (!done.load(std::memory_order_acquire) || walks[t] < 20) {
                inv_range_status st;
                if (walks[t] % 4 == 3)
                    st = domain_inv_all(slot, sink);
                else
                    st = domain_inv_range(slot, inv_range_args{iova, 0x2000, 0x1000, true}, sink);
                if (!st.ok || sink.segment_open())
                    ++sink.violations; // every walk ends with its segment synced
                iova = (iova + 0x3000) & 0xffffff000;
                ++walks[t];
                walks_total.fetch_add(1, std::memory_order_relaxed);
            }
            commands[t] = sink.commands;
            violations[t] = sink.violations;
            removable_atcs[t] = sink.removable_atcs;
        });
    }

    writer w(slot, locks, dead_b, walks_total);
    w.run();
    done.store(true, std::memory_order_release);
    for (std::thread& r : readers)
        r.join();

    for (unsigned t = 0; t < reader_threads; ++t) {
        EXPECT_EQ(violations[t], 0u) << "reader " << t;
        EXPECT_GE(walks[t], 20u);
        EXPECT_GT(commands[t], 0u);
        // How much the readers overlapped the writer depends on scheduling: reported only.
        RecordProperty("reader" + std::to_string(t) + "_walks", std::to_string(walks[t]));
        RecordProperty("reader" + std::to_string(t) + "_fenced_atcs",
                       std::to_string(removable_atcs[t]));
    }
    EXPECT_GT(w.merges, writer_iterations); // most attaches went through
    EXPECT_GT(w.failed_merges, 0u);         // and the failure path ran too
    EXPECT_EQ(dead_b.load(), writer_iterations);

    // Only the persistent master is left once trash is purged.
    std::shared_ptr<inv_array> final_invs = slot.load();
    purge_result last = invs_purge(*final_invs);
    if (last.invs)
        final_invs = last.invs;
    ASSERT_EQ(final_invs->num_invs(), 2u);
    EXPECT_EQ((*final_invs)[0].type, inv_type::s1_asid);
    EXPECT_EQ((*final_invs)[0].id, 9u);
    EXPECT_EQ((*final_invs)[0].users.load(), 1);
    EXPECT_EQ((*final_invs)[1].type, inv_type::ats);
    EXPECT_EQ((*final_invs)[1].id, persistent_sid);
}

} // namespace
} // namespace smmu::driver
