// smmu-sim's platform end to end: the driver on simulated CPUs, the SMMU, the
// root complex and ATS endpoints. One platform per test (one process per test).
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "platforms/sim/sim_platform.h"

namespace smmu::sim {
namespace {

std::string source_path(const std::string& relative) {
#ifdef SMMU_SOURCE_DIR
    return std::string(SMMU_SOURCE_DIR) + "/" + relative;
#else
    return relative;
#endif
}

traces::workload workload(const std::string& text) {
    std::istringstream in(text);
    return traces::parse_workload(in, "test.trace");
}

/// One group of `count` endpoints from StreamID 0x10, nothing attached at start.
sim_config scripted(std::uint32_t count, bool ats) {
    sim_config c;
    c.cpus = 2;
    group_config g;
    g.name = "dev";
    g.count = count;
    g.ats = ats;
    g.pasid = true;
    g.stream_id_base = 0x10;
    g.attach_at_start = false;
    c.groups.push_back(g);
    return c;
}

/// The outcome of the operation on `line`.
bool ok_at(const sim_platform& p, std::size_t line) {
    for (const auto& o : p.trace_outcomes())
        if (o.line == line)
            return o.ok;
    ADD_FAILURE() << "no operation on line " << line;
    return false;
}

const char* const k_map_dma_unmap_dma = "@0 domain name=d type=s1\n"                 // 1
                                        "+ attach dom=d sid=0x10\n"                  // 2
                                        "+ map dom=d iova=0x10000 size=4K\n"         // 3
                                        "+ dma_read sid=0x10 iova=0x10000 len=64\n"  // 4
                                        "+ dma_read sid=0x10 iova=0x10040 len=64\n"  // 5
                                        "+ unmap dom=d iova=0x10000 size=4K\n"       // 6
                                        "+ dma_read sid=0x10 iova=0x10000 len=64\n"; // 7

// ---------------------------------------------------------------- issue scenarios

TEST(sim_platform, dma_after_unmap_never_succeeds_through_a_stale_atc_entry) {
    sim_platform p(scripted(1, true));
    p.set_workload(workload(k_map_dma_unmap_dma));
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    EXPECT_TRUE(ok_at(p, 4));
    EXPECT_TRUE(ok_at(p, 5));
    EXPECT_FALSE(ok_at(p, 7)) << "the ATC entry must be gone";
    EXPECT_GE(p.endpoint(0).stats().atc_hits, 1u) << "line 5 used the ATC";
    // One ATC_INV of everything when the attach enabled ATS, one for the unmap.
    EXPECT_EQ(p.endpoint(0).stats().invalidations_received, 2u);
    EXPECT_EQ(p.smmu().stats().atc_inv_sent, 2u);
    EXPECT_EQ(p.checker().total(), 0u);
}

TEST(sim_platform, dma_after_unmap_never_succeeds_through_a_stale_iotlb_entry) {
    sim_platform p(scripted(1, false));
    p.set_workload(workload(k_map_dma_unmap_dma));
    ASSERT_TRUE(p.run().finished);
    EXPECT_TRUE(ok_at(p, 5));
    EXPECT_FALSE(ok_at(p, 7));
    EXPECT_GE(p.smmu().engine().stats().iotlb.hits + p.smmu().stats().utlb_hits, 1u);
    EXPECT_EQ(p.checker().total(), 0u);
}

TEST(sim_platform, an_unanswered_invalidation_fails_the_sync_and_the_driver_recovers) {
    sim_config c = scripted(2, true);
    c.groups[0].count = 1;
    group_config mute = c.groups[0];
    mute.name = "mute";
    mute.answer_invalidations = false;
    mute.stream_id_base = 0x20;
    c.groups.insert(c.groups.begin(), mute);
    c.smmu.atc_inv_timeout_ps = 20'000'000; // 20 us
    sim_platform p(c);
    p.set_workload(workload("@0 domain name=d type=s1\n"                   // 1
                            "+ domain name=e type=s1\n"                    // 2
                            "+ attach dom=d sid=0x20\n"                    // 3
                            "+ attach dom=e sid=0x10\n"                    // 4
                            "+ map dom=d iova=0x10000 size=4K\n"           // 5
                            "+ dma_read sid=0x20 iova=0x10000 len=64\n"    // 6
                            "+ unmap dom=d iova=0x10000 size=4K\n"         // 7
                            "+ map dom=e iova=0x10000 size=4K\n"           // 8
                            "+ dma_read sid=0x10 iova=0x10000 len=64\n"    // 9
                            "+ unmap dom=e iova=0x10000 size=4K\n"         // 10
                            "+ dma_read sid=0x10 iova=0x10000 len=64\n")); // 11
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    // Twice CERROR_ATC_INV_SYNC: the ATC flush when the attach enabled ATS (line 3) and the
    // unmap's ATC_INV (line 7). Each time the GERROR handler skips the error as Linux does
    // (CONS stays at the CMD_SYNC, which is retried and completes: the SMMU gave up the
    // ITags), so the waiting driver call returns.
    EXPECT_EQ(p.smmu().stats().atc_inv_timeouts, 2u);
    EXPECT_EQ(p.smmu().stats().command_errors, 2u);
    EXPECT_NE(p.stats_json().find("\"cmdq_errors_recovered\":2"), std::string::npos);
    EXPECT_TRUE(ok_at(p, 3));
    EXPECT_TRUE(ok_at(p, 6));
    EXPECT_TRUE(ok_at(p, 7));
    // Recovered: the queue runs again and the other endpoint is invalidated normally.
    EXPECT_TRUE(ok_at(p, 8));
    EXPECT_TRUE(ok_at(p, 9));
    EXPECT_TRUE(ok_at(p, 10));
    EXPECT_FALSE(ok_at(p, 11));
    EXPECT_EQ(p.endpoint(1).stats().invalidations_completed, 2u) << p.summary();
}

TEST(sim_platform, a_translation_request_for_a_stream_without_eats_gets_unsupported_request) {
    sim_config c = scripted(1, true);
    c.groups[0].driver_ats = false; // the STE keeps EATS = 0; the device enables ATS anyway
    sim_platform p(c);
    p.set_workload(workload("@0 domain name=d type=s1\n"
                            "+ attach dom=d sid=0x10\n"
                            "+ map dom=d iova=0x10000 size=4K\n"
                            "+ ats_req sid=0x10 iova=0x10000\n"            // 4
                            "+ dma_read sid=0x10 iova=0x10000 len=64\n")); // 5
    ASSERT_TRUE(p.run().finished);
    EXPECT_FALSE(ok_at(p, 4));
    EXPECT_EQ(p.endpoint(0).stats().translations_unsupported, 2u) << "the prefetch and the DMA";
    EXPECT_EQ(p.endpoint(0).stats().translations_granted, 0u);
    EXPECT_TRUE(ok_at(p, 5)) << "a UR completion sends the TLP untranslated";
    EXPECT_EQ(p.endpoint(0).stats().tlps_untranslated, 1u);
}

TEST(sim_platform, two_endpoints_with_different_pasids_in_one_sva_domain_are_both_invalidated) {
    sim_platform p(scripted(2, true));
    p.set_workload(workload("@0 domain name=proc type=sva\n"                        // 1
                            "+ domain name=dma type=s1\n"                           // 2
                            "+ attach dom=dma sid=0x10\n"                           // 3
                            "+ attach dom=dma sid=0x11\n"                           // 4
                            "+ bind sid=0x10 pasid=3 dom=proc\n"                    // 5
                            "+ bind sid=0x11 pasid=7 dom=proc\n"                    // 6
                            "+ map dom=proc iova=0x400000 size=4K\n"                // 7
                            "+ dma_read sid=0x10 iova=0x400000 len=64 pasid=3\n"    // 8
                            "+ dma_read sid=0x11 iova=0x400000 len=64 pasid=7\n"    // 9
                            "+ unmap dom=proc iova=0x400000 size=4K\n"              // 10
                            "+ dma_read sid=0x10 iova=0x400000 len=64 pasid=3\n"    // 11
                            "+ dma_read sid=0x11 iova=0x400000 len=64 pasid=7\n")); // 12
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    for (std::size_t line = 1; line <= 9; ++line)
        EXPECT_TRUE(ok_at(p, line)) << "line " << line;
    EXPECT_TRUE(ok_at(p, 10));
    EXPECT_FALSE(ok_at(p, 11));
    EXPECT_FALSE(ok_at(p, 12));
    EXPECT_GE(p.endpoint(0).stats().invalidations_received, 1u);
    EXPECT_GE(p.endpoint(1).stats().invalidations_received, 1u);
    EXPECT_EQ(p.endpoint(0).translation_cache().stats().entries_removed +
                  p.endpoint(1).translation_cache().stats().entries_removed,
              2u);
    EXPECT_EQ(p.checker().total(), 0u);
}

TEST(sim_platform, unmap_invalidates_exactly_the_endpoints_of_the_domain_and_waits_for_them) {
    sim_platform p(scripted(3, true));
    p.set_workload(workload("@0 domain name=d type=s1\n"                // 1
                            "+ domain name=e type=s1\n"                 // 2
                            "+ attach dom=d sid=0x10\n"                 // 3
                            "+ attach dom=d sid=0x11\n"                 // 4
                            "+ attach dom=e sid=0x12\n"                 // 5
                            "+ map dom=d iova=0x10000 size=4K\n"        // 6
                            "+ dma_read sid=0x10 iova=0x10000 len=64\n" // 7
                            "& dma_read sid=0x11 iova=0x10000 len=64\n" // 8
                            "+ unmap dom=d iova=0x10000 size=4K\n"));   // 9
    ASSERT_TRUE(p.run().finished);
    const sim_platform::op_outcome* unmap = nullptr;
    for (const auto& o : p.trace_outcomes())
        if (o.line == 9)
            unmap = &o;
    ASSERT_NE(unmap, nullptr);
    ASSERT_TRUE(unmap->ok);
    // TLBI, CMD_SYNC, then one ATC_INV per endpoint of the domain and a CMD_SYNC.
    const std::map<arch::opcode, std::uint64_t> expected{
        {arch::opcode::tlbi_nh_va, 1}, {arch::opcode::atc_inv, 2}, {arch::opcode::sync, 2}};
    EXPECT_EQ(unmap->commands, expected);
    // Each endpoint got the ATC flush of its attach; only d's endpoints got the unmap's.
    EXPECT_EQ(p.endpoint(0).stats().invalidations_received, 2u);
    EXPECT_EQ(p.endpoint(1).stats().invalidations_received, 2u);
    EXPECT_EQ(p.endpoint(2).stats().invalidations_received, 1u);
    // The second CMD_SYNC waited for both answers: 500 ns down, 1 us in the endpoint,
    // 500 ns up.
    EXPECT_GT(unmap->end - unmap->begin, 2'000'000u);
    EXPECT_EQ(p.checker().total(), 0u);
}

TEST(sim_platform, the_timeline_shows_where_an_unmap_went) {
    const std::string path =
        (std::filesystem::temp_directory_path() / "smmu_sim_timeline_test.json").string();
    {
        sim_platform p(scripted(2, true), path);
        p.set_workload(workload(k_map_dma_unmap_dma));
        ASSERT_TRUE(p.run().finished);
    }
    std::ifstream in(path);
    const nlohmann::json t = nlohmann::json::parse(in);
    std::map<std::pair<int, int>, std::string> tracks;
    for (const auto& e : t.at("traceEvents"))
        if (e.at("ph") == "M" && e.at("name") == "thread_name")
            tracks[{e.at("pid").get<int>(), e.at("tid").get<int>()}] =
                e.at("args").at("name").get<std::string>();
    std::map<std::string, int> seen; // "track/name" -> events
    for (const auto& e : t.at("traceEvents"))
        if (e.at("ph") != "M")
            ++seen[tracks[{e.at("pid").get<int>(), e.at("tid").get<int>()}] + "/" +
                   e.at("name").get<std::string>()];
    EXPECT_EQ(seen["cpu0/unmap"], 1);
    EXPECT_EQ(seen["cpu0/attach"], 1);
    EXPECT_GE(seen["command batches/batch"], 1);
    EXPECT_GE(seen["command queue/CMD_SYNC"], 2);
    EXPECT_EQ(seen["command queue/CMD_TLBI_NH_VA"], 1);
    EXPECT_GE(seen["walks/walk"], 2) << "an async begin/end pair";
    EXPECT_EQ(seen["dev.0/ATC invalidation"], 4) << "two round trips, begin and end each";
    std::filesystem::remove(path);
}

// ---------------------------------------------------------------- the checker on broken drivers

TEST(sim_platform, checker_flags_a_dma_through_an_uninvalidated_translation) {
    sim_config c = scripted(1, false);
    c.faults.skip_unmap_invalidation = true;
    sim_platform p(c);
    p.set_workload(workload(k_map_dma_unmap_dma));
    ASSERT_TRUE(p.run().finished);
    EXPECT_TRUE(ok_at(p, 7)) << "the stale IOTLB entry still translates";
    EXPECT_EQ(p.checker().count(violation_kind::stale_translation), 1u);
    EXPECT_EQ(p.checker().total(), 1u);
}

TEST(sim_platform, checker_flags_a_stale_atc_hit) {
    sim_config c = scripted(1, true);
    c.faults.skip_unmap_invalidation = true;
    sim_platform p(c);
    p.set_workload(workload(k_map_dma_unmap_dma));
    ASSERT_TRUE(p.run().finished);
    EXPECT_TRUE(ok_at(p, 7));
    EXPECT_EQ(p.checker().count(violation_kind::stale_translation), 1u);
}

TEST(sim_platform, checker_flags_an_atc_inv_before_the_sync_of_the_tlbis) {
    sim_config c = scripted(1, true);
    c.faults.atc_inv_before_sync = true;
    sim_platform p(c);
    p.set_workload(workload(k_map_dma_unmap_dma));
    ASSERT_TRUE(p.run().finished);
    EXPECT_EQ(p.checker().count(violation_kind::atc_inv_before_sync), 1u);
    EXPECT_EQ(p.checker().count(violation_kind::stale_translation), 0u);
}

TEST(sim_platform, checker_flags_a_tag_left_in_the_iotlb_after_the_last_detach) {
    sim_config c = scripted(1, false);
    c.faults.skip_tag_flush = true;
    sim_platform p(c);
    p.set_workload(workload("@0 domain name=d type=s1\n"
                            "+ attach dom=d sid=0x10\n"
                            "+ map dom=d iova=0x10000 size=4K\n"
                            "+ dma_read sid=0x10 iova=0x10000 len=64\n"
                            "+ detach sid=0x10\n"));
    ASSERT_TRUE(p.run().finished);
    EXPECT_EQ(p.checker().count(violation_kind::tag_after_detach), 1u);
}

TEST(sim_platform, the_correct_driver_leaves_no_tag_behind) {
    sim_platform p(scripted(1, false));
    p.set_workload(workload("@0 domain name=d type=s1\n"
                            "+ attach dom=d sid=0x10\n"
                            "+ map dom=d iova=0x10000 size=4K\n"
                            "+ dma_read sid=0x10 iova=0x10000 len=64\n"
                            "+ detach sid=0x10\n"));
    ASSERT_TRUE(p.run().finished);
    EXPECT_EQ(p.checker().total(), 0u);
    EXPECT_GE(p.checker().checks(), 2u) << "the DMA and the tag were checked";
}

// ---------------------------------------------------------------- a virtual machine

/// One nested group: the VM's ring devices (ATS) behind the guest's driver.
sim_config vm_config(std::uint32_t count, bool ats) {
    sim_config c = sim_config::default_config();
    c.churn.group = "";
    group_config g;
    g.name = "vf";
    g.count = count;
    g.ats = ats;
    g.domain = domain_mode::nested;
    g.generator.kind = generator_kind::ring;
    g.generator.transactions = 200;
    g.generator.ring.slots = 64;
    g.generator.ring.depth = 8;
    c.groups = {g};
    return c;
}

TEST(sim_platform, a_vm_device_translates_guest_stage1_over_host_stage2) {
    sim_platform p(vm_config(2, true));
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    EXPECT_EQ(p.checker().total(), 0u) << p.summary();
    EXPECT_GE(p.dma_transactions(), 2 * 3 * 200u);
    const auto& c = p.smmu().stats();
    EXPECT_GT(c.commands[static_cast<unsigned>(arch::opcode::tlbi_nh_va)], 0u)
        << "guest unmaps forwarded";
    EXPECT_GT(c.commands[static_cast<unsigned>(arch::opcode::atc_inv)], 0u);
    EXPECT_EQ(c.commands[static_cast<unsigned>(arch::opcode::tlbi_nsnh_all)], 1u)
        << "only bring-up's: nothing flushed the VM wholesale";
    EXPECT_EQ(c.command_errors, 0u);
    for (std::size_t k = 0; k < p.endpoints(); ++k) {
        const std::optional<arch::ste> ste = p.drv().instance()->strtab().read_ste(
            static_cast<arch::stream_id>(0x100 + 8 * k)); // RID 01:k.0
        ASSERT_TRUE(ste.has_value());
        EXPECT_EQ(ste->config, arch::ste_config::nested) << k;
        EXPECT_EQ(ste->eats, arch::ste_eats::full) << k;
        EXPECT_GE(ste->s1_context_ptr, 0x4000'0000u) << "the guest's CD, an IPA";
    }
    const std::string vm = p.vm_json();
    EXPECT_NE(vm.find("\"devices\":2"), std::string::npos) << vm;
    EXPECT_NE(vm.find("\"guest_memory_stray_accesses\":0"), std::string::npos) << vm;
    EXPECT_NE(p.summary().find("virtual machine        2 devices through a vSMMU"),
              std::string::npos);
}

TEST(sim_platform, checker_flags_a_guest_atc_inv_before_the_sync_of_its_tlbis) {
    sim_config c = vm_config(1, true);
    c.faults.atc_inv_before_sync = true;
    sim_platform p(c);
    ASSERT_TRUE(p.run().finished);
    EXPECT_GT(p.checker().count(violation_kind::atc_inv_before_sync), 0u)
        << "the guest's walker took the broken order through the vSMMU";
}

// ---------------------------------------------------------------- shipped workloads

sim_config for_samples() {
    sim_config c;
    const std::pair<const char*, std::uint32_t> groups[] = {
        {"bench", 0x8}, {"pair", 1}, {"nic", 0x100}, {"kdma", 0x200}, {"churn", 0x300}};
    const std::uint32_t counts[] = {1, 2, 2, 2, 4};
    for (std::size_t i = 0; i < 5; ++i) {
        group_config g;
        g.name = groups[i].first;
        g.stream_id_base = groups[i].second;
        g.count = counts[i];
        g.ats = true;
        g.pasid = true;
        g.attach_at_start = false;
        c.groups.push_back(g);
    }
    c.memory_bytes = 1ull << 30;
    return c;
}

/// A sample trace and the lines its comments say must fail (faults by design).
struct sample {
    const char* file;
    const char* failing_lines;
};

class sample_trace : public ::testing::TestWithParam<sample> {};

TEST_P(sample_trace, replays_with_no_violation_and_exactly_the_intended_faults) {
    sim_config c = for_samples();
    c.trace_file = source_path(std::string("traces/samples/") + GetParam().file);
    sim_platform p(c);
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    EXPECT_EQ(p.checker().total(), 0u) << p.summary();
    std::string failed;
    for (const auto& o : p.trace_outcomes())
        if (!o.ok)
            failed += " " + std::to_string(o.line);
    EXPECT_EQ(failed, GetParam().failing_lines) << p.summary();
}

INSTANTIATE_TEST_SUITE_P(samples, sample_trace,
                         ::testing::Values(sample{"dma_map_benchmark.trace", ""},
                                           sample{"nic_strict.trace", ""},
                                           sample{"sva_ats.trace", " 51 52"},
                                           sample{"churn.trace", " 47 53 54"}));

class shipped_config : public ::testing::TestWithParam<const char*> {};

TEST_P(shipped_config, runs_to_completion_with_no_violation) {
    sim_config c = sim_config::default_config();
    config_origin origin;
    apply_config(c, load_json_file(source_path(GetParam()), origin), origin);
    sim_platform p(c);
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    EXPECT_EQ(p.checker().total(), 0u) << p.summary();
    EXPECT_GT(p.dma_transactions(), 0u);
    EXPECT_NE(p.stats_json().find("\"headline\":{"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(configs, shipped_config,
                         ::testing::Values("platforms/configs/default.json",
                                           "platforms/configs/dma_map_benchmark.json",
                                           "platforms/configs/nic_strict.json",
                                           "platforms/configs/sva_ats_accelerator.json",
                                           "platforms/configs/nested_vm.json",
                                           "platforms/configs/streaming.json",
                                           "docs/tutorial/unmap.json"));

TEST(sim_platform, default_run_exercises_every_part_of_the_workload) {
    sim_platform p(sim_config::default_config());
    const run_result r = p.run();
    ASSERT_TRUE(r.finished) << r.error;
    EXPECT_EQ(p.checker().total(), 0u);
    const auto& c = p.smmu().stats();
    EXPECT_GT(c.atc_inv_sent, 0u) << "strict unmaps on ATS endpoints";
    EXPECT_GT(c.syncs, 0u);
    EXPECT_GT(c.ats_requests, 0u);
    EXPECT_GT(p.unmap_latency().count(), 1000u) << "ring buffers are unmapped per packet";
    const std::string summary = p.summary();
    for (const char* line :
         {"simulated time", "DMA latency", "IOTLB hit rate", "ATC hit rate", "commands", "CMD_SYNC",
          "unmap latency", "attach churn", "checker                0 violations"})
        EXPECT_NE(summary.find(line), std::string::npos) << line << "\n" << summary;
}

TEST(sim_platform, default_config_file_is_the_built_in_default) {
    sim_config from_file = sim_config::default_config();
    config_origin origin;
    apply_config(from_file, load_json_file(source_path("platforms/configs/default.json"), origin),
                 origin);
    sim_config built_in = sim_config::default_config();
    EXPECT_EQ(to_json(from_file), to_json(built_in));
}

TEST(sim_platform, trace_errors_name_the_file_and_line) {
    sim_config c = scripted(1, false);
    sim_platform p(c);
    try {
        p.set_workload(workload("@0 domain name=d type=s1\n+ attach dom=d sid=0x99\n"));
        FAIL() << "accepted an unknown StreamID";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("test.trace:2: key \"sid\""), std::string::npos)
            << e.what();
    }
}

} // namespace
} // namespace smmu::sim
