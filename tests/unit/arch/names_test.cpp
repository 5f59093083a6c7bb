// Names appear in logs, statistics and JSON keys: each is distinct and
// follows the architecture's spelling.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "model/arch/command.h"
#include "model/arch/event.h"

namespace smmu::arch {
namespace {

TEST(names, every_defined_opcode_has_its_own_cmd_name) {
    std::set<std::string> seen;
    for (unsigned raw = 0; raw < 256; ++raw) {
        if (!is_defined_opcode(static_cast<std::uint8_t>(raw)))
            continue;
        const std::string name = opcode_name(static_cast<opcode>(raw));
        EXPECT_EQ(name.rfind("CMD_", 0), 0u) << name;
        EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
    }
    EXPECT_EQ(seen.size(), 32u);
    EXPECT_STREQ(opcode_name(opcode::tlbi_nh_va), "CMD_TLBI_NH_VA");
    EXPECT_STREQ(opcode_name(opcode::sync), "CMD_SYNC");
    EXPECT_STREQ(opcode_name(opcode::cfgi_ste_range), "CMD_CFGI_STE_RANGE");
}

TEST(names, every_ill_reason_and_cmdq_error_is_named) {
    std::set<std::string> seen;
    for (unsigned r = 0; r <= static_cast<unsigned>(ill_reason::reserved_field_nonzero); ++r)
        EXPECT_TRUE(seen.insert(ill_reason_name(static_cast<ill_reason>(r))).second);
    EXPECT_STREQ(ill_reason_name(ill_reason::reserved_opcode), "reserved_opcode");
    EXPECT_STREQ(cmdq_error_name(cmdq_error::none), "CERROR_NONE");
    EXPECT_STREQ(cmdq_error_name(cmdq_error::ill), "CERROR_ILL");
    EXPECT_STREQ(cmdq_error_name(cmdq_error::abt), "CERROR_ABT");
    EXPECT_STREQ(cmdq_error_name(cmdq_error::atc_inv_sync), "CERROR_ATC_INV_SYNC");
}

TEST(names, every_architected_event_has_its_own_name) {
    std::set<std::string> seen;
    for (unsigned raw = 0; raw < 256; ++raw) {
        if (!is_architected_event(static_cast<std::uint8_t>(raw)))
            continue;
        const std::string name = event_name(static_cast<event_id>(raw));
        EXPECT_TRUE(name.rfind("F_", 0) == 0 || name.rfind("C_", 0) == 0 ||
                    name.rfind("E_", 0) == 0)
            << name;
        EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
    }
    EXPECT_EQ(seen.size(), 19u); // 0x01-0x0B, 0x10-0x13, 0x20, 0x21, 0x24, 0x25
    EXPECT_STREQ(event_name(event_id::c_bad_ste), "C_BAD_STE");
    EXPECT_STREQ(event_name(event_id::f_walk_eabt), "F_WALK_EABT");
}

} // namespace
} // namespace smmu::arch
