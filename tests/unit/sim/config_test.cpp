#include <gtest/gtest.h>

#include "platforms/sim/sim_config.h"

namespace smmu::sim {
namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

TEST(param_table, types_are_checked_and_named) {
    std::uint32_t n = 1;
    bool b = false;
    double d = 0;
    std::uint64_t t = 0;
    param_table p;
    p.add("a.n", n, "cycles", "");
    p.add("a.b", b, "");
    p.add("d", d, "GB/s", "");
    p.add_time("t", t, "");
    const config_origin o{"x.json", "{\n  \"a\": {\n    \"n\": \"seven\"\n  }\n}\n"};
    EXPECT_EQ(error_of([&] { p.apply(nlohmann::json::parse(o.text), o); }),
              "x.json:3: key \"a.n\": expected a non-negative integer (got \"seven\")");
    EXPECT_EQ(error_of([&] { p.set("a.n", -1, o); }).find("expected a non-negative integer"),
              std::string("x.json:3: key \"a.n\": ").size());
    EXPECT_NE(error_of([&] { p.set("a.n", 5000000000ull, o); }).find("out of range"),
              std::string::npos);
    EXPECT_NE(error_of([&] { p.set("a.b", 1, o); }).find("expected true or false"),
              std::string::npos);
    p.apply(nlohmann::json::parse(R"({"a": {"n": 7, "b": true}, "d": 2.5, "t": "1.5us"})"), o);
    EXPECT_EQ(n, 7u);
    EXPECT_TRUE(b);
    EXPECT_EQ(d, 2.5);
    EXPECT_EQ(t, 1'500'000u);
}

TEST(param_table, unknown_keys_are_rejected_with_file_and_line) {
    std::uint32_t n = 1;
    param_table p;
    p.add("smmu.n", n, "", "");
    const config_origin o{"c.json", "{\n \"smmu\": {\n  \"nn\": 1\n }\n}"};
    EXPECT_EQ(error_of([&] { p.apply(nlohmann::json::parse(o.text), o); }),
              "c.json:3: unknown key \"smmu.nn\"");
    EXPECT_EQ(error_of([&] { p.apply_override("smmu.m=3"); }), "--set: unknown key \"smmu.m\"");
    EXPECT_EQ(error_of([&] { p.apply_override("smmu.n"); }),
              "--set: expected key=value, got \"smmu.n\"");
}

TEST(param_table, overrides_parse_json_or_take_the_text) {
    std::uint32_t n = 1;
    std::string s;
    arch::replacement_policy pol = arch::replacement_policy::lru;
    param_table p;
    p.add("n", n, "", "");
    p.add("s", s, "");
    p.add_choice(
        "pol", pol,
        {{"lru", arch::replacement_policy::lru}, {"random", arch::replacement_policy::random}}, "");
    p.apply_override("n=42");
    p.apply_override("s=hello world");
    p.apply_override("pol=random");
    EXPECT_EQ(n, 42u);
    EXPECT_EQ(s, "hello world");
    EXPECT_EQ(pol, arch::replacement_policy::random);
    EXPECT_EQ(error_of([&] { p.apply_override("pol=fifo"); }),
              "--set: key \"pol\": expected one of lru|random (got \"fifo\")");
    EXPECT_EQ(p.to_json(), nlohmann::json::parse(R"({"n":42,"s":"hello world","pol":"random"})"));
}

TEST(param_table, times) {
    EXPECT_EQ(parse_time_ps(nlohmann::json(250)), 250u);
    EXPECT_EQ(parse_time_ps(nlohmann::json("50ns")), 50'000u);
    EXPECT_EQ(parse_time_ps(nlohmann::json("2ms")), 2'000'000'000u);
    EXPECT_EQ(parse_time_ps(nlohmann::json("1s")), 1'000'000'000'000u);
    EXPECT_EQ(parse_time_ps(nlohmann::json("300ps")), 300u);
    EXPECT_THROW(parse_time_ps(nlohmann::json("5 parsecs")), std::invalid_argument);
    EXPECT_THROW(parse_time_ps(nlohmann::json("fast")), std::invalid_argument);
    EXPECT_THROW(parse_time_ps(nlohmann::json(-3)), std::invalid_argument);
    EXPECT_THROW(parse_time_ps(nlohmann::json("-3ns")), std::invalid_argument);
}

TEST(sim_config, default_is_the_issue_platform) {
    const sim_config c = sim_config::default_config();
    EXPECT_EQ(c.cpus, 4u);
    std::uint32_t endpoints = 0, ats = 0;
    for (const group_config& g : c.groups) {
        endpoints += g.count;
        ats += g.ats ? g.count : 0;
    }
    EXPECT_EQ(endpoints, 4u);
    EXPECT_EQ(ats, 2u);
    EXPECT_NO_THROW(validate(c));
}

TEST(sim_config, groups_replace_the_defaults_and_start_from_group_defaults) {
    sim_config c = sim_config::default_config();
    const config_origin o{"g.json", ""};
    apply_config(c, nlohmann::json::parse(R"({"groups": [{"name": "a", "count": 16, "ats": true}],
                                           "smmu": {"cmd_tlbi_cycles": 80}, "churn": {"group": ""}})"),
                 o);
    ASSERT_EQ(c.groups.size(), 1u);
    EXPECT_EQ(c.groups[0].count, 16u);
    EXPECT_TRUE(c.groups[0].ats);
    EXPECT_EQ(c.groups[0].generator.kind, generator_kind::none);
    EXPECT_EQ(c.smmu.cmd_tlbi_cycles, 80u);
    apply_overrides(c, {"groups.0.count=2", "smmu.features.ril=false"});
    EXPECT_EQ(c.groups[0].count, 2u);
    EXPECT_FALSE(c.smmu.features.ril);
    EXPECT_EQ(error_of([&] { apply_overrides(c, {"groups.1.count=2"}); }),
              "--set: unknown key \"groups.1.count\"");
}

TEST(sim_config, resolved_configuration_round_trips) {
    sim_config c = sim_config::default_config();
    apply_overrides(c, {"smmu.main_tlb.entries=512", "groups.2.generator.mode=write"});
    const nlohmann::json j = to_json(c);
    EXPECT_EQ(j["smmu"]["main_tlb"]["entries"], 512);
    EXPECT_EQ(j["groups"][2]["generator"]["mode"], "write");
    sim_config d;
    apply_config(d, j, config_origin{"resolved.json", ""});
    EXPECT_EQ(to_json(d), j);
}

TEST(sim_config, cross_field_rules_name_the_key) {
    sim_config c = sim_config::default_config();
    c.churn.group = "nope";
    EXPECT_EQ(error_of([&] { validate(c); }),
              "configuration: key \"churn.group\": no group named \"nope\"");
    c = sim_config::default_config();
    c.groups[1].name = c.groups[0].name;
    EXPECT_NE(error_of([&] { validate(c); }).find("groups.1.name"), std::string::npos);
    c = sim_config::default_config();
    c.groups[0].count = 0;
    EXPECT_NE(error_of([&] { validate(c); }).find("groups.0.count"), std::string::npos);
    c = sim_config::default_config();
    c.groups[0].generator.transactions = 0;
    EXPECT_NE(error_of([&] { validate(c); }).find("groups.0.generator.transactions"),
              std::string::npos);
    c.end_ps = 1000000;
    EXPECT_NO_THROW(validate(c));
}

TEST(sim_config, nested_groups_attach_at_start_without_pasids_or_churn) {
    sim_config c = sim_config::default_config();
    c.churn.group = "";
    c.groups[0].domain = domain_mode::nested;
    EXPECT_NO_THROW(validate(c));
    c.churn.group = c.groups[0].name;
    EXPECT_EQ(error_of([&] { validate(c); }),
              "configuration: key \"churn.group\": churn of a nested group (the guest's) is not "
              "modelled");
    c.churn.group = "";
    c.groups[0].pasid = true;
    EXPECT_NE(error_of([&] { validate(c); }).find("groups.0.pasid"), std::string::npos);
    c.groups[0].pasid = false;
    c.groups[0].attach_at_start = false;
    c.groups[0].generator.kind = generator_kind::none;
    EXPECT_NE(error_of([&] { validate(c); }).find("groups.0.attach_at_start"), std::string::npos);
}

TEST(sim_config, domain_names_nesting_parent_and_nested) {
    sim_config c = sim_config::default_config();
    apply_overrides(c, {"groups.0.domain=nesting_parent", "groups.1.domain=nested"});
    EXPECT_EQ(c.groups[0].domain, domain_mode::nesting_parent);
    EXPECT_EQ(c.groups[1].domain, domain_mode::nested);
}

} // namespace
} // namespace smmu::sim
