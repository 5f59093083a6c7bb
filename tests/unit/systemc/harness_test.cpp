// The harness contract: SystemC runs under our sc_main, and any SystemC
// warning turns into a test failure.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <systemc>

namespace {

struct ticker : sc_core::sc_module {
    int ticks = 0;
    explicit ticker(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name) {
        SC_HAS_PROCESS(ticker);
        SC_THREAD(run);
    }
    void run() {
        for (; ticks < 3; ++ticks)
            wait(sc_core::sc_time(10, sc_core::SC_NS));
    }
};

TEST(systemc_harness, simulation_runs_under_our_sc_main) {
    ticker t("ticker");
    sc_core::sc_start();
    EXPECT_EQ(t.ticks, 3);
    EXPECT_EQ(sc_core::sc_time_stamp(), sc_core::sc_time(30, sc_core::SC_NS));
}

TEST(systemc_harness, warning_fails_the_test) {
    EXPECT_NONFATAL_FAILURE(SC_REPORT_WARNING("smmu/test", "deliberate warning"),
                            "deliberate warning");
}

TEST(systemc_harness, error_fails_the_test_and_throws) {
    EXPECT_NONFATAL_FAILURE(
        EXPECT_THROW(SC_REPORT_ERROR("smmu/test", "deliberate error"), sc_core::sc_report),
        "deliberate error");
}

} // namespace
