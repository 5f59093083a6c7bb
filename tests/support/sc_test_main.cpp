// GoogleTest entry point for SystemC test binaries. Every SystemC warning,
// error or fatal report fails the running test; errors are then handled as
// SystemC would (an exception unwinds the test).
#include <gtest/gtest.h>

#include <systemc>

namespace {

void report_as_test_failure(const sc_core::sc_report& report, const sc_core::sc_actions& actions) {
    if (report.get_severity() < sc_core::SC_WARNING) {
        sc_core::sc_report_handler::default_handler(report, actions);
        return;
    }
    ADD_FAILURE() << "SystemC "
                  << (report.get_severity() == sc_core::SC_WARNING ? "warning" : "error") << " ["
                  << report.get_msg_type() << "] " << report.get_msg();
    // The failure above already shows the message; keep only the other actions (throw, stop).
    const auto quiet = static_cast<sc_core::sc_actions>(sc_core::SC_DISPLAY | sc_core::SC_LOG);
    sc_core::sc_report_handler::default_handler(report, actions & ~quiet);
}

} // namespace

int sc_main(int argc, char* argv[]) {
    ::testing::InitGoogleTest(&argc, argv);
    sc_core::sc_report_handler::set_handler(report_as_test_failure);
    return RUN_ALL_TESTS();
}
