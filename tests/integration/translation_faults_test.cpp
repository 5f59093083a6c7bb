// Translation faults of both stages as a device and the driver see them: the TLM response of
// the faulting transaction (permission faults on the access are command errors, everything
// else address errors, CD.A = 0 terminates with RAZ/WI) and every field of the event record
// (reference §4.4, §6.2, §8.5).
#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

using arch::event_id;
using arch::fault_class;

/// PA of the descriptor a 4-level 48-bit walk from `root` reads at `level` for `va`.
std::uint64_t descriptor_address(bench& b, std::uint64_t root, std::uint64_t va, int level) {
    std::uint64_t table = root;
    for (int lvl = 0;; ++lvl) {
        const std::uint64_t at = table + 8 * ((va >> (39 - 9 * static_cast<unsigned>(lvl))) & 511);
        if (lvl == level)
            return at;
        table = b.mem().read64(at) & 0x0000fffffffff000ull;
    }
}

struct access {
    std::uint32_t sid;
    std::uint64_t va;
    bool write = false;
    bool privileged = false;
    bool instruction = false;
};

/// Runs the accesses in order (each reads or writes 4 bytes) and returns their results.
std::vector<dma_result> run_accesses(bench& b, const std::vector<access>& list,
                                     std::vector<std::uint32_t>& values) {
    std::vector<dma_result> out;
    values.assign(list.size(), 0xffffffffu);
    for (std::size_t i = 0; i < list.size(); ++i) {
        dma_attrs a;
        a.sid = list[i].sid;
        a.privileged = list[i].privileged;
        a.instruction = list[i].instruction;
        out.push_back(list[i].write ? b.device().write(list[i].va, &values[i], 4, a)
                                    : b.device().read(list[i].va, &values[i], 4, a));
    }
    return out;
}

arch::event_record fault(event_id id, std::uint32_t sid, std::uint64_t input, bool rnw) {
    arch::event_record e = event(id, sid);
    e.input_addr = input;
    e.rnw = rnw;
    e.cls = fault_class::in;
    return e;
}

TEST(smmu_translation_faults, stage1_faults_and_their_records) {
    bench b;
    const auto l = b.prepare();
    auto s = b.add_s1_stream(l, 5, 1);
    s.pt.map(0x10000, 0x210000, s1_page_rw);
    s.pt.map(0x30000, 0x211000, pte_ng | pte_ish | s1_rw); // no AF
    s.pt.map(0x40000, 0x212000, s1_page_ro);
    s.pt.map(0x50000, 0x213000, pte_af | pte_ng | pte_ish | s1_priv_rw);
    s.pt.map(0x60000, 0x214000, s1_page_rw | (1ull << 54)); // UXN
    s.pt.map(0x70000, 0x100000000ull, s1_page_rw);          // beyond a 32-bit IPS
    // SID 6: the same tables through a CD with IPS = 32 bits.
    const std::uint64_t cd32 = b.tables().alloc(64);
    arch::cd c = make_s1_cd(s.pt.root(), 2);
    c.ips = arch::pa_size_encoding::bits_32;
    b.tables().write_cd(cd32, c);
    b.tables().write_ste(l.strtab, 6, make_s1_ste(cd32));
    b.tables().write_ste(l.strtab, 15, make_bypass_ste());
    b.mem().write32(0x212010, 0x12121212);
    b.mem().write32(0x213010, 0x13131313);

    const std::vector<access> list = {
        {5, 0x20010},                     // 0: F_TRANSLATION, read
        {5, 0x20020, true, true},         // 1: F_TRANSLATION, privileged write
        {5, 0x20030, false, false, true}, // 2: F_TRANSLATION, instruction fetch
        {5, 0x30010},                     // 3: F_ACCESS
        {5, 0x40010, true},               // 4: F_PERMISSION: write to a read-only page
        {5, 0x40010},                     // 5: read of it: fine
        {5, 0x50010},                     // 6: F_PERMISSION: unprivileged read, AP = 00
        {5, 0x50010, false, true},        // 7: privileged read: fine
        {5, 0x60010, false, false, true}, // 8: F_PERMISSION: fetch from a UXN page
        {5, 0x1000000000010ull},          // 9: F_TRANSLATION: beyond T0SZ
        {6, 0x70010},                     // 10: F_ADDR_SIZE: output beyond IPS
        {15, 0x1000000000010ull},         // 11: F_ADDR_SIZE: bypass beyond OAS
    };
    std::vector<dma_result> r;
    std::vector<std::uint32_t> v;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        r = run_accesses(b, list, v);
        events = b.drain_events(l);
    }));
    const tlm::tlm_response_status addr = tlm::TLM_ADDRESS_ERROR_RESPONSE;
    const tlm::tlm_response_status cmd = tlm::TLM_COMMAND_ERROR_RESPONSE;
    const tlm::tlm_response_status expected_status[] = {
        addr, addr, addr, addr, cmd, tlm::TLM_OK_RESPONSE, cmd, tlm::TLM_OK_RESPONSE,
        cmd,  addr, addr, addr};
    for (std::size_t i = 0; i < list.size(); ++i)
        EXPECT_EQ(r[i].status, expected_status[i]) << "access " << i;
    EXPECT_EQ(v[5], 0x12121212u);
    EXPECT_EQ(v[7], 0x13131313u);

    arch::event_record priv_write = fault(event_id::f_translation, 5, 0x20020, false);
    priv_write.pnu = true;
    arch::event_record fetch = fault(event_id::f_translation, 5, 0x20030, true);
    fetch.ind = true;
    arch::event_record xn = fault(event_id::f_permission, 5, 0x60010, true);
    xn.ind = true;
    const std::vector<arch::event_record> expected = {
        fault(event_id::f_translation, 5, 0x20010, true),
        priv_write,
        fetch,
        fault(event_id::f_access, 5, 0x30010, true),
        fault(event_id::f_permission, 5, 0x40010, false),
        fault(event_id::f_permission, 5, 0x50010, true),
        xn,
        fault(event_id::f_translation, 5, 0x1000000000010ull, true),
        fault(event_id::f_addr_size, 6, 0x70010, true),
        fault(event_id::f_addr_size, 15, 0x1000000000010ull, true),
    };
    EXPECT_EQ(events, expected);
}

arch::event_record s2_fault(event_id id, std::uint32_t sid, std::uint64_t input, bool rnw,
                            std::uint64_t ipa, fault_class cls = fault_class::in) {
    arch::event_record e = fault(id, sid, input, rnw);
    e.s2 = true;
    e.ipa = ipa;
    e.cls = cls;
    return e;
}

TEST(smmu_translation_faults, stage2_faults_report_the_ipa_and_class) {
    bench b;
    const auto l = b.prepare();
    // SID 7: stage 2 only.
    table_writer::page_table s2(b.tables(), 0, 48);
    s2.map(0x40000, 0x220000, s2_page_ro);
    s2.map(0x50000, 0x221000, pte_ish | s2_rw | s2_normal); // no AF
    b.tables().write_ste(l.strtab, 7, make_s2_ste(s2.root(), 7));
    // SID 8: nested. Stage 2 maps the table pool 1:1; IPA 0x40000000 is unmapped,
    // 0x40001000 read-only. A stage-1 level-2 table descriptor points at unmapped IPA
    // 0x80000000.
    table_writer::page_table n2(b.tables(), 0, 48);
    n2.map(0, 0, s2_page_rw, 1);
    n2.map(0x40001000, 0x260000, s2_page_ro);
    table_writer::page_table n1(b.tables(), 0, 48);
    n1.map(0x10000, 0x40000000, s1_page_rw);
    n1.map(0x20000, 0x40001000, s1_page_rw);
    n1.map(0x40200000, 0x80000000, 0x2, 2); // 0x80000000 | 0b11: a table descriptor
    const std::uint64_t cd = b.tables().alloc(64);
    b.tables().write_cd(cd, make_s1_cd(n1.root(), 8));
    b.tables().write_ste(l.strtab, 8, make_nested_ste(cd, n2.root(), 8));
    // SID 9: nested with its CD at an unmapped IPA.
    b.tables().write_ste(l.strtab, 9, make_nested_ste(0x90000000, n2.root(), 9));
    b.mem().write32(0x220010, 0x22222222);

    const std::vector<access> list = {
        {7, 0x60010},       // 0: F_TRANSLATION (S2, IN)
        {7, 0x40010, true}, // 1: F_PERMISSION (S2, IN)
        {7, 0x40010},       // 2: fine
        {7, 0x50010},       // 3: F_ACCESS (S2, IN)
        {8, 0x10010},       // 4: F_TRANSLATION (S2, IN) of the stage-1 output
        {8, 0x20010, true}, // 5: F_PERMISSION (S2, IN)
        {8, 0x40200010},    // 6: F_TRANSLATION (S2, TT): stage-1 table at an unmapped IPA
        {9, 0x10010},       // 7: F_TRANSLATION (S2, CD): the CD at an unmapped IPA
    };
    std::vector<dma_result> r;
    std::vector<std::uint32_t> v;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        r = run_accesses(b, list, v);
        events = b.drain_events(l);
    }));
    const tlm::tlm_response_status addr = tlm::TLM_ADDRESS_ERROR_RESPONSE;
    const tlm::tlm_response_status cmd = tlm::TLM_COMMAND_ERROR_RESPONSE;
    const tlm::tlm_response_status expected_status[] = {
        addr, cmd, tlm::TLM_OK_RESPONSE, addr, addr, cmd, addr, addr};
    for (std::size_t i = 0; i < list.size(); ++i)
        EXPECT_EQ(r[i].status, expected_status[i]) << "access " << i;
    EXPECT_EQ(v[2], 0x22222222u);
    const std::vector<arch::event_record> expected = {
        s2_fault(event_id::f_translation, 7, 0x60010, true, 0x60000),
        s2_fault(event_id::f_permission, 7, 0x40010, false, 0x40000),
        s2_fault(event_id::f_access, 7, 0x50010, true, 0x50000),
        s2_fault(event_id::f_translation, 8, 0x10010, true, 0x40000000),
        s2_fault(event_id::f_permission, 8, 0x20010, false, 0x40001000),
        s2_fault(event_id::f_translation, 8, 0x40200010, true, 0x80000000, fault_class::tt),
        s2_fault(event_id::f_translation, 9, 0x10010, true, 0x90000000, fault_class::cd),
    };
    EXPECT_EQ(events, expected);
}

TEST(smmu_translation_faults, walk_external_abort_is_recorded_whatever_cd_r_and_a_say) {
    bench b;
    const auto l = b.prepare();
    auto s = b.add_s1_stream(l, 5, 1);
    s.pt.map(0x10000, 0x210000, s1_page_rw);
    s.pt.map(0x400000, 0x215000, s1_page_rw); // its own level-3 table
    const std::uint64_t desc = descriptor_address(b, s.pt.root(), 0x400000, 3);
    b.mem().add_abort_range(desc, desc + 7);
    // SID 10: the same tables, CD.R = 0 and A = 0 (faults would be silent RAZ/WI).
    const std::uint64_t cd = b.tables().alloc(64);
    arch::cd c = make_s1_cd(s.pt.root(), 2);
    c.r = false;
    c.a = false;
    b.tables().write_cd(cd, c);
    b.tables().write_ste(l.strtab, 10, make_s1_ste(cd));
    b.mem().write32(0x210010, 0x21021021);

    std::vector<dma_result> r;
    std::vector<std::uint32_t> v;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        r = run_accesses(b, {{5, 0x400010}, {10, 0x400020, true}, {5, 0x10010}}, v);
        events = b.drain_events(l);
    }));
    EXPECT_EQ(r[0].status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r[1].status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_TRUE(r[2].ok());
    EXPECT_EQ(v[2], 0x21021021u);
    arch::event_record e1 = fault(event_id::f_walk_eabt, 5, 0x400010, true);
    e1.cls = fault_class::tt;
    e1.fetch_addr = desc;
    arch::event_record e2 = fault(event_id::f_walk_eabt, 10, 0x400020, false);
    e2.cls = fault_class::tt;
    e2.fetch_addr = desc;
    const std::vector<arch::event_record> expected = {e1, e2};
    EXPECT_EQ(events, expected);
}

TEST(smmu_translation_faults, cd_a_r_and_ste_s2r_configure_terminate_and_record) {
    bench b;
    const auto l = b.prepare();
    table_writer::page_table pt(b.tables(), 0, 48);
    pt.map(0x40000, 0x216000, s1_page_ro);
    const bool a_r[3][2] = {{false, true}, {false, false}, {true, false}};
    for (unsigned i = 0; i < 3; ++i) {
        const std::uint64_t cd = b.tables().alloc(64);
        arch::cd c = make_s1_cd(pt.root(), static_cast<std::uint16_t>(11 + i));
        c.a = a_r[i][0];
        c.r = a_r[i][1];
        b.tables().write_cd(cd, c);
        b.tables().write_ste(l.strtab, 11 + i, make_s1_ste(cd));
    }
    table_writer::page_table s2(b.tables(), 0, 48);
    arch::ste quiet = make_s2_ste(s2.root(), 14);
    quiet.s2_r = false;
    b.tables().write_ste(l.strtab, 14, quiet);
    b.mem().write32(0x216010, 0x16161616);

    const std::vector<access> list = {
        {11, 0x20010},       // 0: A=0 R=1: RAZ, recorded
        {11, 0x40010, true}, // 1: A=0 R=1: permission fault, WI, recorded
        {12, 0x20010},       // 2: A=0 R=0: RAZ, silent
        {13, 0x20010},       // 3: A=1 R=0: abort, silent
        {14, 0x20010},       // 4: S2R=0: abort, silent
    };
    std::vector<dma_result> r;
    std::vector<std::uint32_t> v;
    std::vector<arch::event_record> events;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        r = run_accesses(b, list, v);
        events = b.drain_events(l);
    }));
    EXPECT_TRUE(r[0].ok());
    EXPECT_EQ(v[0], 0u); // read as zero
    EXPECT_TRUE(r[1].ok());
    EXPECT_EQ(b.mem().read32(0x216010), 0x16161616u); // write ignored
    EXPECT_TRUE(r[2].ok());
    EXPECT_EQ(v[2], 0u);
    EXPECT_EQ(r[3].status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(v[3], 0xffffffffu);
    EXPECT_EQ(r[4].status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    const std::vector<arch::event_record> expected = {
        fault(event_id::f_translation, 11, 0x20010, true),
        fault(event_id::f_permission, 11, 0x40010, false)};
    EXPECT_EQ(events, expected);
}

} // namespace
} // namespace smmu::test
