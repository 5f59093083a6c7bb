#include "platforms/sim/sim_config.h"

#include <filesystem>

#include <fmt/format.h>

namespace smmu::sim {

namespace {

using policy_names = std::vector<std::pair<std::string, arch::replacement_policy>>;
const policy_names k_policies = {{"lru", arch::replacement_policy::lru},
                                 {"round_robin", arch::replacement_policy::round_robin},
                                 {"random", arch::replacement_policy::random}};

void add_cache(param_table& t, const std::string& key, cache_shape& s, const std::string& doc) {
    t.add(key + ".entries", s.entries, "entries", doc);
    t.add(key + ".ways", s.ways, "ways", doc + ": associativity");
    t.add_choice(key + ".policy", s.policy, k_policies, doc + ": replacement");
}

void add_features(param_table& t, arch::feature_set& f) {
    const std::string p = "smmu.features.";
    t.add(p + "s1p", f.s1p, "IDR0.S1P: stage 1 translation");
    t.add(p + "s2p", f.s2p, "IDR0.S2P: stage 2 translation");
    t.add(p + "ats", f.ats, "IDR0.ATS: PCIe ATS");
    t.add(p + "ril", f.ril, "IDR3.RIL: range invalidation");
    t.add(p + "msi", f.msi, "IDR0.MSI: MSIs (the driver completes CMD_SYNC by MSI)");
    t.add(p + "sev", f.sev, "IDR0.SEV: WFE wake-up on CMD_SYNC");
    t.add(p + "btm", f.btm, "IDR0.BTM: broadcast TLB maintenance");
    t.add(p + "hyp", f.hyp, "IDR0.HYP: EL2 translation regimes");
    t.add(p + "asid16", f.asid16, "IDR0.ASID16");
    t.add(p + "vmid16", f.vmid16, "IDR0.VMID16");
    t.add(p + "st_level_2", f.st_level_2, "IDR0.ST_LEVEL: 2-level stream tables");
    t.add(p + "cd2l", f.cd2l, "IDR0.CD2L: 2-level CD tables");
    t.add(p + "sid_bits", f.sid_bits, "bits", "IDR1.SIDSIZE");
    t.add(p + "ssid_bits", f.ssid_bits, "bits", "IDR1.SSIDSIZE");
    t.add(p + "cmdq_log2", f.cmdq_log2, "log2 entries", "IDR1.CMDQS");
    t.add(p + "eventq_log2", f.eventq_log2, "log2 entries", "IDR1.EVENTQS");
    t.add(p + "oas_bits", f.oas_bits, "bits", "IDR5.OAS");
}

void add_smmu(param_table& t, smmu_params& s) {
    add_features(t, s.features);
    t.add_choice(
        "smmu.mode", s.mode,
        {{"approximate", timing_mode::approximate}, {"functional", timing_mode::functional}},
        "approximate: every latency applies; functional: zero SMMU time");
    t.add("smmu.clock_period_ps", s.clock_period_ps, "ps", "SMMU clock period");
    add_cache(t, "smmu.utlb", s.utlb, "per-TBU micro-TLB");
    add_cache(t, "smmu.main_tlb", s.main_tlb, "IOTLB");
    add_cache(t, "smmu.walk_cache", s.walk_cache, "walk cache");
    add_cache(t, "smmu.ste_cache", s.ste_cache, "STE cache");
    add_cache(t, "smmu.cd_cache", s.cd_cache, "CD cache");
    t.add("smmu.random_seed", s.random_seed, "", "seed of random replacement");
    const std::pair<const char*, std::uint32_t*> cycles[] = {
        {"utlb_lookup_cycles", &s.utlb_lookup_cycles},
        {"main_tlb_lookup_cycles", &s.main_tlb_lookup_cycles},
        {"config_lookup_cycles", &s.config_lookup_cycles},
        {"walk_cache_lookup_cycles", &s.walk_cache_lookup_cycles},
        {"walk_step_cycles", &s.walk_step_cycles},
        {"tbu_tcu_link_cycles", &s.tbu_tcu_link_cycles},
        {"cmd_decode_cycles", &s.cmd_decode_cycles},
        {"cmd_tlbi_cycles", &s.cmd_tlbi_cycles},
        {"cmd_tlbi_probe_cycles", &s.cmd_tlbi_probe_cycles},
        {"cmd_cfgi_cycles", &s.cmd_cfgi_cycles},
        {"cmd_atc_inv_cycles", &s.cmd_atc_inv_cycles},
        {"cmd_prefetch_cycles", &s.cmd_prefetch_cycles},
        {"cmd_sync_cycles", &s.cmd_sync_cycles},
        {"msi_cycles", &s.msi_cycles},
        {"event_write_cycles", &s.event_write_cycles}};
    for (const auto& [name, field] : cycles)
        t.add(std::string("smmu.") + name, *field, "cycles", "see docs/timing.md");
    t.add("smmu.tbu_translation_slots", s.tbu_translation_slots, "translations",
          "outstanding translations per TBU");
    t.add("smmu.tcu_walk_slots", s.tcu_walk_slots, "walks", "concurrent table walks");
    t.add("smmu.cmd_fetch_bytes", s.cmd_fetch_bytes, "bytes", "command fetch block");
    t.add("smmu.atc_inv_outstanding", s.atc_inv_outstanding, "invalidations",
          "outstanding ATC invalidations per endpoint (<= 32)");
    t.add_time("smmu.atc_inv_timeout", s.atc_inv_timeout_ps,
               "CMD_SYNC gives up on ATC invalidation completions (CERROR_ATC_INV_SYNC)");
}

void add_cpu(param_table& t, driver::host::cpu_params& c) {
    driver::host::cpu_cost& k = c.cost;
    const std::pair<const char*, double*> costs[] = {{"pte_write_ns", &k.pte_write_ns},
                                                     {"command_write_ns", &k.command_write_ns},
                                                     {"mmio_read_ns", &k.mmio_read_ns},
                                                     {"mmio_write_ns", &k.mmio_write_ns},
                                                     {"lock_ns", &k.lock_ns},
                                                     {"cons_poll_ns", &k.cons_poll_ns},
                                                     {"barrier_ns", &k.barrier_ns},
                                                     {"mem_access_ns", &k.mem_access_ns},
                                                     {"poll_interval_ns", &k.poll_interval_ns},
                                                     {"wfe_wakeup_ns", &k.wfe_wakeup_ns},
                                                     {"wfe_timeout_ns", &k.wfe_timeout_ns}};
    for (const auto& [name, field] : costs)
        t.add(std::string("cpu.cost.") + name, *field, "ns", "CPU cost model (docs/timing.md)");
    t.add("cpu.cached_memory", c.cached_memory, "CPU reaches tables through a coherent cache");
    t.add("cpu.use_dmi", c.use_dmi, "CPU memory accesses through DMI");
}

void add_group(param_table& t, const std::string& p, group_config& g) {
    t.add(p + "name", g.name, "label in the summary and the trace");
    t.add(p + "count", g.count, "endpoints", "identical endpoints in the group");
    t.add(p + "ats", g.ats, "ATS capable (the driver enables ATS)");
    t.add_choice(p + "domain", g.domain,
                 {{"dma", domain_mode::dma},
                  {"s2", domain_mode::s2},
                  {"nesting_parent", domain_mode::nesting_parent},
                  {"nested", domain_mode::nested},
                  {"sva", domain_mode::sva}},
                 "dma: a stage-1 DMA domain per endpoint; s2: stage 2; nesting_parent: a "
                 "nesting-parent stage 2 (IOVA = IPA); nested: a VM's device (guest stage 1 "
                 "through a vSMMU over the VM's stage 2); sva: dma plus an SVA domain at PASID 1");
    t.add(p + "shared_domain", g.shared_domain,
          "all endpoints of the group in one domain (sva: one SVA domain, PASID 1 each)");
    t.add(p + "driver_ats", g.driver_ats,
          "false: the driver is not told about ATS; the endpoint enables it by itself");
    t.add(p + "pasid", g.pasid, "PASID capable (implied by domain sva)");
    t.add(p + "attach_at_start", g.attach_at_start,
          "attach each endpoint to its domain at setup (false: the workload trace does it)");
    t.add(p + "atc.entries", g.atc.entries, "entries", "endpoint ATC size");
    t.add(p + "atc.ways", g.atc.ways, "ways", "endpoint ATC associativity");
    t.add_choice(p + "atc.policy", g.atc.policy, k_policies, "endpoint ATC replacement");
    t.add(p + "max_payload_bytes", g.max_payload_bytes, "bytes", "PCIe Max_Payload_Size");
    t.add_time(p + "invalidation_latency", g.invalidation_latency_ps,
               "endpoint: invalidation request to completion");
    t.add(p + "answer_invalidations", g.answer_invalidations,
          "false: the endpoint never completes invalidations (fault injection)");
    t.add_time(p + "link_latency", g.link_latency_ps, "root port link, each direction");
    t.add(p + "link_mb_per_s", g.link_mb_per_s, "MB/s", "root port link bandwidth (0: unlimited)");
    t.add(p + "stream_id_base", g.stream_id_base, "",
          "StreamID of the first endpoint (0: its requester ID)");

    generator_config& q = g.generator;
    const std::string gp = p + "generator.";
    t.add_choice(gp + "kind", q.kind,
                 {{"none", generator_kind::none},
                  {"stream", generator_kind::stream},
                  {"ring", generator_kind::ring},
                  {"random", generator_kind::random}},
                 "traffic generator (docs/traffic.md)");
    t.add(gp + "buffer_bytes", q.buffer_bytes, "bytes", "stream / random: mapped buffer");
    t.add(gp + "transfer_bytes", q.transfer_bytes, "bytes", "stream / random: per transfer");
    t.add_choice(gp + "mode", q.mode,
                 {{"read", pcie::stream_mode::read},
                  {"write", pcie::stream_mode::write},
                  {"alternate", pcie::stream_mode::alternate},
                  {"mixed", pcie::stream_mode::mixed}},
                 "stream direction pattern");
    t.add(gp + "read_fraction", q.read_fraction, "", "stream mixed / random: share of reads");
    t.add_choice(gp + "ring.dir", q.ring.dir,
                 {{"rx", pcie::ring_dir::rx}, {"tx", pcie::ring_dir::tx}},
                 "ring: device writes (rx) or reads (tx) the buffers");
    t.add(gp + "ring.slots", q.ring.slots, "entries", "ring size");
    t.add(gp + "ring.depth", q.ring.depth, "buffers", "buffers mapped ahead");
    t.add(gp + "ring.buffer_bytes", q.ring.buffer_bytes, "bytes", "ring buffer size");
    t.add(gp + "ring.descriptor_bytes", q.ring.descriptor_bytes, "bytes", "descriptor read");
    t.add(gp + "ring.completion_bytes", q.ring.completion_bytes, "bytes", "completion write");
    t.add(gp + "transactions", q.transactions, "transfers", "stop after (ring: packets)");
    t.add_time(gp + "think", q.think_ps, "pause between transfers");
    t.add_time(gp + "start", q.start_ps, "start time");
}

} // namespace

sim_config sim_config::default_config() {
    sim_config c;
    group_config nic;
    nic.name = "nic";
    nic.ats = true;
    nic.generator.kind = generator_kind::ring;
    nic.generator.ring.slots = 256;
    nic.generator.ring.depth = 32;
    nic.generator.ring.buffer_bytes = 2048;
    nic.generator.transactions = 2000;
    c.groups.push_back(nic);

    group_config accel;
    accel.name = "accel";
    accel.ats = true;
    accel.domain = domain_mode::sva;
    accel.generator.kind = generator_kind::random;
    accel.generator.buffer_bytes = 8 << 20;
    accel.generator.transfer_bytes = 512;
    accel.generator.read_fraction = 0.7;
    accel.generator.transactions = 6000;
    c.groups.push_back(accel);

    group_config storage;
    storage.name = "storage";
    storage.generator.kind = generator_kind::stream;
    storage.generator.buffer_bytes = 4 << 20;
    storage.generator.transfer_bytes = 4096;
    storage.generator.transactions = 3000;
    c.groups.push_back(storage);

    group_config churn;
    churn.name = "churn";
    churn.generator.kind = generator_kind::stream;
    churn.generator.mode = pcie::stream_mode::alternate;
    churn.generator.buffer_bytes = 256 << 10;
    churn.generator.transfer_bytes = 1024;
    churn.generator.transactions = 2000;
    churn.generator.think_ps = 200'000;
    c.groups.push_back(churn);

    c.churn.group = "churn";
    c.churn.switches = 20;
    return c;
}

void register_params(param_table& t, sim_config& c) {
    t.add("run.seed", c.seed, "", "seed of every random choice (generators, replacement)");
    t.add_time("run.end", c.end_ps, "stop the simulation at this time (0: when done)");
    t.add("run.strict", c.strict, "checker violations make smmu-sim exit non-zero");
    t.add("run.trace_file", c.trace_file, "workload trace to replay (traces/README.md)");
    t.add("run.trace_event_limit", c.trace_event_limit, "events", "trace.json size bound");
    t.add("platform.cpus", c.cpus, "CPUs", "simulated CPUs running the driver");
    t.add("platform.memory_bytes", c.memory_bytes, "bytes", "memory size");
    t.add_time("platform.memory_latency", c.memory_latency_ps, "memory access latency");
    t.add_time("platform.quantum", c.quantum_ps, "CPUs' global quantum");
    add_smmu(t, c.smmu);
    add_cpu(t, c.cpu);
    t.add_choice("driver.granule", c.granule,
                 {{"4k", arch::granule::size_4k},
                  {"16k", arch::granule::size_16k},
                  {"64k", arch::granule::size_64k}},
                 "page-table granule of every domain");
    t.add("driver.batch_entries", c.batch_entries, "commands",
          "commands the driver batches before publishing without a CMD_SYNC (1..64)");
    t.add("driver.faults.skip_unmap_invalidation", c.faults.skip_unmap_invalidation,
          "broken driver: unmap sends no invalidation");
    t.add("driver.faults.atc_inv_before_sync", c.faults.atc_inv_before_sync,
          "broken driver: no CMD_SYNC between TLBIs and ATC_INVs");
    t.add("driver.faults.skip_tag_flush", c.faults.skip_tag_flush,
          "broken driver: the last detach frees the ASID/VMID unflushed");
    for (std::size_t i = 0; i < c.groups.size(); ++i)
        add_group(t, fmt::format("groups.{}.", i), c.groups[i]);
    t.add("churn.group", c.churn.group, "group whose first endpoint changes domains");
    t.add("churn.switches", c.churn.switches, "", "domain changes");
    t.add_time("churn.period", c.churn.period_ps, "time between domain changes");
}

void apply_config(sim_config& c, const nlohmann::json& j, const config_origin& origin) {
    if (!j.is_object())
        throw config_error(origin.name + ": the configuration must be a JSON object");
    nlohmann::json rest = j;
    if (auto it = rest.find("groups"); it != rest.end()) {
        if (!it->is_array())
            throw config_error(origin.where("groups") + "key \"groups\": expected a list");
        c.groups.assign(it->size(), group_config{});
        param_table t;
        register_params(t, c);
        for (std::size_t i = 0; i < it->size(); ++i)
            t.apply((*it)[i], origin, fmt::format("groups.{}", i));
        rest.erase("groups");
    }
    const std::string trace_before = c.trace_file;
    param_table t;
    register_params(t, c);
    t.apply(rest, origin);
    // A trace named by a configuration file is relative to that file.
    const std::filesystem::path trace(c.trace_file);
    if (c.trace_file != trace_before && trace.is_relative() && !origin.text.empty())
        c.trace_file =
            (std::filesystem::path(origin.name).parent_path() / trace).lexically_normal().string();
}

void apply_overrides(sim_config& c, const std::vector<std::string>& sets) {
    param_table t;
    register_params(t, c);
    for (const std::string& s : sets)
        t.apply_override(s);
}

nlohmann::json to_json(sim_config& c) {
    param_table t;
    register_params(t, c);
    nlohmann::json j = t.to_json();
    nlohmann::json groups = nlohmann::json::array();
    for (std::size_t i = 0; i < c.groups.size(); ++i)
        groups.push_back(j["groups"][std::to_string(i)]);
    j["groups"] = groups;
    return j;
}

void validate(const sim_config& c) {
    auto fail = [](const std::string& key, const std::string& why) {
        throw config_error("configuration: key \"" + key + "\": " + why);
    };
    if (c.cpus == 0)
        fail("platform.cpus", "at least 1");
    if (c.batch_entries < 1 || c.batch_entries > 64)
        fail("driver.batch_entries", "1..64");
    if (c.groups.empty())
        fail("groups", "at least one group of endpoints");
    std::uint32_t endpoints = 0;
    for (std::size_t i = 0; i < c.groups.size(); ++i) {
        const group_config& g = c.groups[i];
        const std::string p = fmt::format("groups.{}.", i);
        if (g.count == 0)
            fail(p + "count", "at least 1");
        if (g.generator.kind != generator_kind::none && g.generator.transactions == 0 &&
            c.end_ps == 0)
            fail(p + "generator.transactions", "a generator needs a limit (or set run.end)");
        if (!g.attach_at_start && g.generator.kind != generator_kind::none)
            fail(p + "attach_at_start", "a generator needs its endpoint attached at start");
        if (!g.attach_at_start && g.domain == domain_mode::nested)
            fail(p + "attach_at_start", "a nested group's guest attaches at start");
        if (g.domain == domain_mode::nested && g.pasid)
            fail(p + "pasid", "the guest driver of a nested group has no PASIDs");
        for (std::size_t k = 0; k < i; ++k)
            if (c.groups[k].name == g.name)
                fail(p + "name", "\"" + g.name + "\" is used twice");
        endpoints += g.count;
    }
    if (endpoints > 256)
        fail("groups", "at most 256 endpoints");
    if (!c.churn.group.empty()) {
        bool found = false;
        for (const group_config& g : c.groups)
            found = found || g.name == c.churn.group;
        if (!found)
            fail("churn.group", "no group named \"" + c.churn.group + "\"");
        for (const group_config& g : c.groups)
            if (g.name == c.churn.group && g.domain == domain_mode::nested)
                fail("churn.group", "churn of a nested group (the guest's) is not modelled");
    }
}

} // namespace smmu::sim
