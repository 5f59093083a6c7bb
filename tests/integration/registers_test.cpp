// The programming interface as a driver sees it over MMIO: ID registers built from the
// parameters, 32- and 64-bit accesses, RES0 and read-only bits, the CR0/IRQ_CTRL/GBPA update
// protocols, GERROR/GERRORN and the TLM responses to accesses the SMMU does not support.
#include <cstring>

#include <gtest/gtest.h>

#include "tests/integration/support/bench.h"

namespace smmu::test {
namespace {

namespace reg = arch::reg;

TEST(smmu_registers, id_registers_advertise_the_default_features) {
    bench b;
    std::uint32_t idr[6] = {}, iidr = 0, aidr = 0;
    ASSERT_TRUE(b.run([&] {
        for (unsigned i = 0; i < 6; ++i)
            idr[i] = b.reg_read32(4u * i);
        iidr = b.reg_read32(reg::iidr);
        aidr = b.reg_read32(reg::aidr);
    }));
    // S2P S1P TTF=AArch64 COHACC HYP ATS NS1ATS ASID16 MSI SEV VMID16 CD2L TTENDIAN=LE
    // STALL_MODEL=terminate ST_LEVEL=2-level.
    EXPECT_EQ(idr[0], 0x094c7e1bu);
    // SIDSIZE 16, SSIDSIZE 20, EVENTQS 19, CMDQS 19, ATTR_PERMS_OVR, ATTR_TYPES_OVR.
    EXPECT_EQ(idr[1], 0x0e730510u);
    EXPECT_EQ(idr[2], 0u);
    EXPECT_EQ(idr[3], 0x1514u); // HAD XNX FWB RIL BBML=2
    EXPECT_EQ(idr[4], 0u);
    EXPECT_EQ(idr[5], 0x75u); // OAS 48, 4K 16K 64K
    EXPECT_EQ(iidr, 0x4830043bu);
    EXPECT_EQ(aidr, 0x02u);
}

TEST(smmu_registers, id_registers_follow_changed_parameters) {
    bench_config cfg;
    cfg.params.features.ats = false;
    cfg.params.features.sev = false;
    cfg.params.features.sid_bits = 8;
    cfg.params.features.ssid_bits = 0;
    cfg.params.features.oas_bits = 40;
    cfg.params.features.cmdq_log2 = 10;
    cfg.params.features.eventq_log2 = 8;
    cfg.params.features.gran16k = false;
    cfg.params.iidr = 0x12345678;
    cfg.params.aidr = 0x01;
    bench b(cfg);
    std::uint32_t idr0 = 0, idr1 = 0, idr5 = 0, iidr = 0, aidr = 0;
    ASSERT_TRUE(b.run([&] {
        idr0 = b.reg_read32(reg::idr0);
        idr1 = b.reg_read32(reg::idr1);
        idr5 = b.reg_read32(reg::idr5);
        iidr = b.reg_read32(reg::iidr);
        aidr = b.reg_read32(reg::aidr);
    }));
    EXPECT_EQ(idr0, 0x094c3a1bu); // no ATS (bit 10), no SEV (bit 14)
    EXPECT_EQ(idr1, 0x0d480008u); // SIDSIZE 8, SSIDSIZE 0, EVENTQS 8, CMDQS 10
    EXPECT_EQ(idr5, 0x52u);       // OAS 40, 4K 64K
    EXPECT_EQ(iidr, 0x12345678u);
    EXPECT_EQ(aidr, 0x01u);
}

TEST(smmu_registers, sixty_four_bit_registers_take_both_access_sizes) {
    bench b;
    std::uint32_t lo = 0, hi = 0;
    std::uint64_t after_hi = 0, after_lo = 0, cmdq = 0, eventq = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write64(reg::strtab_base, 0x0000123456789ac0ull);
        lo = b.reg_read32(reg::strtab_base);
        hi = b.reg_read32(reg::strtab_base + 4);
        b.reg_write32(reg::strtab_base + 4, 0xab);
        after_hi = b.reg_read64(reg::strtab_base);
        b.reg_write32(reg::strtab_base, 0x11111100);
        after_lo = b.reg_read64(reg::strtab_base);
        b.reg_write32(reg::cmdq_base, 0x00345007);
        b.reg_write32(reg::cmdq_base + 4, 0x00000012);
        cmdq = b.reg_read64(reg::cmdq_base);
        b.reg_write64(reg::eventq_base, 0x0000000000678005ull);
        eventq = (std::uint64_t{b.reg_read32(reg::eventq_base + 4)} << 32) |
                 b.reg_read32(reg::eventq_base);
    }));
    EXPECT_EQ(lo, 0x56789ac0u);
    EXPECT_EQ(hi, 0x00001234u);
    EXPECT_EQ(after_hi, 0x000000ab56789ac0ull);
    EXPECT_EQ(after_lo, 0x000000ab11111100ull);
    EXPECT_EQ(cmdq, 0x0000001200345007ull);
    EXPECT_EQ(eventq, 0x0000000000678005ull);
}

TEST(smmu_registers, res0_bits_read_as_zero) {
    bench b;
    std::uint64_t strtab = 0, cmdq = 0, eventq = 0, gerror_cfg0 = 0, eventq_cfg0 = 0;
    std::uint32_t strtab_cfg = 0, cr0 = 0, cr0ack = 0, cr1 = 0, cr2 = 0, irq_ctrl = 0,
                  irq_ctrlack = 0, cfg1 = 0, cfg2 = 0, cmdq_prod = 0, eventq_cons = 0;
    ASSERT_TRUE(b.run([&] {
        const std::uint64_t ones = ~std::uint64_t{0};
        b.reg_write64(reg::strtab_base, ones);
        b.reg_write32(reg::strtab_base_cfg, 0xffffffff);
        b.reg_write64(reg::cmdq_base, ones);
        b.reg_write64(reg::eventq_base, ones);
        b.reg_write64(reg::gerror_irq_cfg0, ones);
        b.reg_write64(reg::eventq_irq_cfg0, ones);
        b.reg_write32(reg::eventq_irq_cfg1, 0xffffffff);
        b.reg_write32(reg::eventq_irq_cfg2, 0xffffffff);
        b.reg_write32(reg::cr1, 0xffffffff);
        b.reg_write32(reg::cr2, 0xffffffff);
        b.reg_write32(reg::cmdq_prod, 0xffffffff);
        b.reg_write32(reg::eventq_cons, 0xffffffff);
        strtab = b.reg_read64(reg::strtab_base);
        strtab_cfg = b.reg_read32(reg::strtab_base_cfg);
        cmdq = b.reg_read64(reg::cmdq_base);
        eventq = b.reg_read64(reg::eventq_base);
        gerror_cfg0 = b.reg_read64(reg::gerror_irq_cfg0);
        eventq_cfg0 = b.reg_read64(reg::eventq_irq_cfg0);
        cfg1 = b.reg_read32(reg::eventq_irq_cfg1);
        cfg2 = b.reg_read32(reg::eventq_irq_cfg2);
        cr1 = b.reg_read32(reg::cr1);
        cr2 = b.reg_read32(reg::cr2);
        cmdq_prod = b.reg_read32(reg::cmdq_prod);
        eventq_cons = b.reg_read32(reg::eventq_cons);
        // Last: these enable things.
        b.reg_write32(reg::irq_ctrl, 0xffffffff);
        irq_ctrl = b.reg_read32(reg::irq_ctrl);
        irq_ctrlack = b.reg_read32(reg::irq_ctrlack);
        b.reg_write32(reg::cr0, 0xffffffff);
        cr0 = b.reg_read32(reg::cr0);
        cr0ack = b.reg_read32(reg::cr0ack);
    }));
    EXPECT_EQ(strtab, 0x400fffffffffffc0ull);      // RA, ADDR[51:6]
    EXPECT_EQ(strtab_cfg, 0x000307ffu);            // FMT, SPLIT, LOG2SIZE
    EXPECT_EQ(cmdq, 0x400fffffffffffffull);        // RA, ADDR[51:5], LOG2SIZE
    EXPECT_EQ(eventq, 0x400fffffffffffffull);      // WA, ADDR[51:5], LOG2SIZE
    EXPECT_EQ(gerror_cfg0, 0x000ffffffffffffcull); // ADDR[51:2]
    EXPECT_EQ(eventq_cfg0, 0x000ffffffffffffcull);
    EXPECT_EQ(cfg1, 0xffffffffu);
    EXPECT_EQ(cfg2, 0x3fu);         // SH, MemAttr
    EXPECT_EQ(cr1, 0xfffu);         // TABLE_* and QUEUE_*
    EXPECT_EQ(cr2, 0x3u);           // E2H (HYP), RECINVSID; no PTM (BTM), no REC_CFG_ATS
    EXPECT_EQ(cmdq_prod, 0xfffffu); // [19:0]
    EXPECT_EQ(eventq_cons, 0x800fffffu);
    EXPECT_EQ(irq_ctrl, 0x5u); // no PRIQ_IRQEN without PRI
    EXPECT_EQ(irq_ctrlack, 0x5u);
    EXPECT_EQ(cr0, 0x1du); // SMMUEN EVENTQEN CMDQEN ATSCHK; no PRIQEN, no VMW
    EXPECT_EQ(cr0ack, 0x1du);
}

TEST(smmu_registers, read_only_registers_ignore_writes) {
    bench b;
    std::uint32_t before[8] = {}, after[8] = {};
    std::uint32_t cr0ack = 0, irq_ctrlack = 0, gerror = 0, undefined = 0, page1_undefined = 0;
    ASSERT_TRUE(b.run([&] {
        for (unsigned i = 0; i < 8; ++i)
            before[i] = b.reg_read32(4u * i);
        for (unsigned i = 0; i < 8; ++i)
            b.reg_write32(4u * i, 0xa5a5a5a5);
        for (unsigned i = 0; i < 8; ++i)
            after[i] = b.reg_read32(4u * i);
        b.reg_write32(reg::cr0ack, 0xf);
        b.reg_write32(reg::irq_ctrlack, 0x5);
        b.reg_write32(reg::gerror, 0x1);
        b.reg_write32(0x0e00, 0x12345678);
        b.reg_write32(arch::reg_page_size + 0x0e00, 0x12345678);
        cr0ack = b.reg_read32(reg::cr0ack);
        irq_ctrlack = b.reg_read32(reg::irq_ctrlack);
        gerror = b.reg_read32(reg::gerror);
        undefined = b.reg_read32(0x0e00);
        page1_undefined = b.reg_read32(arch::reg_page_size + 0x0e00);
    }));
    for (unsigned i = 0; i < 8; ++i)
        EXPECT_EQ(after[i], before[i]) << "offset " << 4 * i;
    EXPECT_EQ(before[0], 0x094c7e1bu);
    EXPECT_EQ(cr0ack, 0u);
    EXPECT_EQ(irq_ctrlack, 0u);
    EXPECT_EQ(gerror, 0u);
    EXPECT_EQ(undefined, 0u);
    EXPECT_EQ(page1_undefined, 0u);
}

TEST(smmu_registers, fields_guarded_by_an_enable_ignore_writes_while_it_is_set) {
    bench b;
    std::uint64_t strtab = 0, cmdq_base = 0, eventq_cfg0 = 0;
    std::uint32_t cr2 = 0, cmdq_cons = 0, eventq_prod = 0, alias_prod = 0, alias_cons = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write64(reg::strtab_base, 0x100000);
        b.reg_write64(reg::cmdq_base, 0x200004);
        b.reg_write64(reg::eventq_base, 0x300004);
        b.reg_write64(reg::eventq_irq_cfg0, 0x400000);
        b.reg_write32(reg::cr2, 0x2);
        b.reg_write32(reg::irq_ctrl, 0x4);
        b.reg_write32(reg::cr0, 0xd); // SMMUEN, EVENTQEN, CMDQEN
        b.reg_write64(reg::strtab_base, 0x500000);
        b.reg_write64(reg::cmdq_base, 0x600004);
        b.reg_write32(reg::cmdq_cons, 3);
        b.reg_write32(reg::eventq_prod, 3);
        b.reg_write64(reg::eventq_irq_cfg0, 0x700000);
        b.reg_write32(reg::cr2, 0x0);
        strtab = b.reg_read64(reg::strtab_base);
        cmdq_base = b.reg_read64(reg::cmdq_base);
        cmdq_cons = b.reg_read32(reg::cmdq_cons);
        eventq_prod = b.reg_read32(reg::eventq_prod);
        eventq_cfg0 = b.reg_read64(reg::eventq_irq_cfg0);
        cr2 = b.reg_read32(reg::cr2);
        // Page 0 aliases of the Page 1 event queue pointers.
        b.reg_write32(reg::eventq_cons_alias, 0);
        alias_prod = b.reg_read32(reg::eventq_prod_alias);
        b.reg_write32(reg::eventq_cons, 2);
        alias_cons = b.reg_read32(reg::eventq_cons_alias);
    }));
    EXPECT_EQ(strtab, 0x100000u);
    EXPECT_EQ(cmdq_base, 0x200004u);
    EXPECT_EQ(cmdq_cons, 0u);
    EXPECT_EQ(eventq_prod, 0u);
    EXPECT_EQ(eventq_cfg0, 0x400000u);
    EXPECT_EQ(cr2, 0x2u);
    EXPECT_EQ(alias_prod, 0u);
    EXPECT_EQ(alias_cons, 2u);
}

/// An MMIO access the caller shapes.
struct mmio_access {
    tlm::tlm_command cmd = tlm::TLM_READ_COMMAND;
    std::uint64_t offset = 0;
    unsigned length = 4;
    unsigned streaming_width = 0; ///< 0: the length
    const unsigned char* byte_enables = nullptr;
    unsigned byte_enable_length = 0;
};

tlm::tlm_response_status mmio(bench& b, const mmio_access& a, std::uint64_t* value = nullptr) {
    unsigned char data[16] = {};
    if (value != nullptr)
        std::memcpy(data, value, 8);
    tlm::tlm_generic_payload gp;
    gp.set_command(a.cmd);
    gp.set_address(b.config().smmu_base + a.offset);
    gp.set_data_ptr(data);
    gp.set_data_length(a.length);
    gp.set_streaming_width(a.streaming_width != 0 ? a.streaming_width : a.length);
    gp.set_byte_enable_ptr(const_cast<unsigned char*>(a.byte_enables));
    gp.set_byte_enable_length(a.byte_enable_length);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    const dma_result r = b.cpu().transport(gp);
    if (value != nullptr)
        std::memcpy(value, data, 8);
    return r.status;
}

TEST(smmu_registers, unsupported_sizes_and_byte_enables_are_tlm_errors) {
    bench b;
    tlm::tlm_response_status one = tlm::TLM_OK_RESPONSE, two = one, sixteen = one, be_read = one,
                             be_write = one, narrow = one, two_write = one;
    std::uint32_t cr2_after = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write32(reg::cr2, 0x2);
        one = mmio(b, {tlm::TLM_READ_COMMAND, reg::idr0, 1});
        two = mmio(b, {tlm::TLM_READ_COMMAND, reg::idr0, 2});
        sixteen = mmio(b, {tlm::TLM_READ_COMMAND, reg::strtab_base, 16});
        static const unsigned char be[4] = {0xff, 0xff, 0, 0};
        be_read = mmio(b, {tlm::TLM_READ_COMMAND, reg::cr2, 4, 0, be, 4});
        std::uint64_t v = 0x1;
        be_write = mmio(b, {tlm::TLM_WRITE_COMMAND, reg::cr2, 4, 0, be, 4}, &v);
        narrow = mmio(b, {tlm::TLM_READ_COMMAND, reg::strtab_base, 8, 4});
        v = 0x0;
        two_write = mmio(b, {tlm::TLM_WRITE_COMMAND, reg::cr2, 2}, &v);
        cr2_after = b.reg_read32(reg::cr2);
    }));
    EXPECT_EQ(one, tlm::TLM_BURST_ERROR_RESPONSE);
    EXPECT_EQ(two, tlm::TLM_BURST_ERROR_RESPONSE);
    EXPECT_EQ(sixteen, tlm::TLM_BURST_ERROR_RESPONSE);
    EXPECT_EQ(be_read, tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    EXPECT_EQ(be_write, tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    EXPECT_EQ(narrow, tlm::TLM_BURST_ERROR_RESPONSE);
    EXPECT_EQ(two_write, tlm::TLM_BURST_ERROR_RESPONSE);
    EXPECT_EQ(cr2_after, 0x2u); // neither failed write changed it
}

TEST(smmu_registers, offsets_beyond_page_1_are_address_errors) {
    bench b;
    tlm::tlm_response_status read = tlm::TLM_OK_RESPONSE, write = read, odd = read;
    ASSERT_TRUE(b.run([&] {
        read = mmio(b, {tlm::TLM_READ_COMMAND, 2 * arch::reg_page_size, 4});
        std::uint64_t v = 1;
        write = mmio(b, {tlm::TLM_WRITE_COMMAND, 3 * arch::reg_page_size + 0x20, 4}, &v);
        odd = mmio(b, {tlm::TLM_READ_COMMAND, 2 * arch::reg_page_size + 8, 2});
    }));
    EXPECT_EQ(read, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(write, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(odd, tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

TEST(smmu_registers, illegal_but_sized_accesses_are_raz_wi) {
    // 8 bytes at a 32-bit register and a misaligned word: RAZ/WI with an OK response
    // (reference §1.1 allows RAZ/WI for both).
    bench b;
    tlm::tlm_response_status wide = tlm::TLM_INCOMPLETE_RESPONSE, wide_write = wide,
                             misaligned = wide;
    std::uint64_t wide_value = 1, misaligned_value = 1;
    std::uint32_t cr1 = 0, cr2 = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write32(reg::cr1, 0x5);
        b.reg_write32(reg::cr2, 0x2);
        wide = mmio(b, {tlm::TLM_READ_COMMAND, reg::cr1, 8}, &wide_value);
        std::uint64_t v = 0;
        wide_write = mmio(b, {tlm::TLM_WRITE_COMMAND, reg::cr1, 8}, &v);
        misaligned = mmio(b, {tlm::TLM_READ_COMMAND, reg::cr0 + 2, 4}, &misaligned_value);
        cr1 = b.reg_read32(reg::cr1);
        cr2 = b.reg_read32(reg::cr2);
    }));
    EXPECT_EQ(wide, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(wide_value, 0u);
    EXPECT_EQ(wide_write, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(misaligned, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(misaligned_value, 0u);
    EXPECT_EQ(cr1, 0x5u);
    EXPECT_EQ(cr2, 0x2u);
}

TEST(smmu_registers, debug_transport_reads_registers_and_never_writes_them) {
    bench b;
    unsigned read_bytes = 0, write_bytes = 1;
    std::uint32_t value = 0, cr2 = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write32(reg::cr2, 0x2);
        tlm::tlm_generic_payload gp;
        gp.set_command(tlm::TLM_READ_COMMAND);
        gp.set_address(b.config().smmu_base + reg::idr0);
        gp.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
        gp.set_data_length(4);
        gp.set_streaming_width(4);
        read_bytes = b.cpu().transport_dbg(gp);
        std::uint32_t zero = 0;
        gp.set_command(tlm::TLM_WRITE_COMMAND);
        gp.set_address(b.config().smmu_base + reg::cr2);
        gp.set_data_ptr(reinterpret_cast<unsigned char*>(&zero));
        write_bytes = b.cpu().transport_dbg(gp);
        cr2 = b.reg_read32(reg::cr2);
    }));
    EXPECT_EQ(read_bytes, 4u);
    EXPECT_EQ(value, 0x094c7e1bu);
    EXPECT_EQ(write_bytes, 0u);
    EXPECT_EQ(cr2, 0x2u);
}

TEST(smmu_registers, cr0_updates_are_acknowledged_at_once) {
    bench b;
    std::uint32_t ack[4] = {};
    ASSERT_TRUE(b.run([&] {
        b.reg_write32(reg::cr0, 0x8);
        ack[0] = b.reg_read32(reg::cr0ack);
        b.reg_write32(reg::cr0, 0xc);
        ack[1] = b.reg_read32(reg::cr0ack);
        b.reg_write32(reg::cr0, 0x1d);
        ack[2] = b.reg_read32(reg::cr0ack);
        b.reg_write32(reg::cr0, 0x0);
        ack[3] = b.reg_read32(reg::cr0ack);
    }));
    EXPECT_EQ(ack[0], 0x8u);
    EXPECT_EQ(ack[1], 0xcu);
    EXPECT_EQ(ack[2], 0x1du);
    EXPECT_EQ(ack[3], 0x0u);
}

TEST(smmu_registers, gbpa_changes_only_with_update_and_decides_bypass_or_abort) {
    bench b;
    const auto l = b.prepare();
    b.mem().write32(0x123450, 0x600dcafe);
    std::uint32_t reset_value = 0, after_plain = 0, after_update = 0, all_fields = 0;
    std::uint32_t bypass_data = 0, aborted_data = 0xffffffff;
    dma_result bypass{}, aborted{}, bypass_again{};
    std::uint32_t events_prod = 1;
    ASSERT_TRUE(b.run([&] {
        // Event queue enabled, SMMUEN = 0: nothing may be recorded.
        b.reg_write64(reg::eventq_base, l.eventq | l.eventq_log2);
        b.reg_write32(reg::cr0, 0x4);
        reset_value = b.reg_read32(reg::gbpa);
        b.reg_write32(reg::gbpa, 0x00100000); // ABORT without Update: ignored
        after_plain = b.reg_read32(reg::gbpa);
        bypass = b.device().read(0x123450, &bypass_data, 4);
        b.reg_write32(reg::gbpa, 0x80100000); // ABORT with Update
        after_update = b.reg_read32(reg::gbpa);
        aborted = b.device().read(0x123450, &aborted_data, 4);
        b.reg_write32(reg::gbpa, 0x80ffffff);
        all_fields = b.reg_read32(reg::gbpa);
        b.reg_write32(reg::gbpa, 0x80001000);
        bypass_again = b.device().read(0x123450, &bypass_data, 4);
        events_prod = b.reg_read32(reg::eventq_prod);
    }));
    EXPECT_EQ(reset_value, 0x00001000u);
    EXPECT_EQ(after_plain, 0x00001000u);
    EXPECT_EQ(after_update, 0x00100000u); // Update reads back 0: complete
    EXPECT_EQ(all_fields, 0x001f3f1fu);
    EXPECT_TRUE(bypass.ok());
    EXPECT_EQ(bypass_data, 0x600dcafeu);
    EXPECT_EQ(aborted.status, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(aborted_data, 0xffffffffu);
    EXPECT_TRUE(bypass_again.ok());
    EXPECT_EQ(events_prod, 0u);
}

/// Submits a command the SMMU rejects with CERROR_ILL (reserved opcode 0x7f).
void submit_illegal(bench& b, const bench::layout& l) {
    b.submit_raw(l, {arch::command_words{0x7f, 0}});
}

TEST(smmu_registers, gerror_toggles_and_gerrorn_acknowledges) {
    bench b;
    const auto l = b.prepare();
    std::uint32_t g1 = 0, n1 = 0, g2 = 0, n2 = 0, g3 = 0, n3 = 0, g4 = 0, n4 = 0;
    std::uint32_t cons_err = 0, cons_after_ack = 0;
    bool line_error = false, line_acked = true, line_second = false, line_second_acked = true;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write32(reg::irq_ctrl, 0x1); // GERROR_IRQEN
        submit_illegal(b, l);
        wait(ns(500));
        g1 = b.reg_read32(reg::gerror);
        n1 = b.reg_read32(reg::gerrorn);
        cons_err = b.reg_read32(reg::cmdq_cons);
        line_error = b.irq_gerror.read();
        // Replace the command (a CMD_SYNC, as Linux does), then acknowledge.
        b.mem().write_words(l.cmdq + 16 * 3, arch::encode(arch::make_sync(arch::sync_cs::none)));
        b.reg_write32(reg::gerrorn, g1);
        wait(ns(500));
        g2 = b.reg_read32(reg::gerror);
        n2 = b.reg_read32(reg::gerrorn);
        cons_after_ack = b.reg_read32(reg::cmdq_cons);
        line_acked = b.irq_gerror.read();
        // A second error toggles GERROR back.
        submit_illegal(b, l);
        wait(ns(500));
        g3 = b.reg_read32(reg::gerror);
        n3 = b.reg_read32(reg::gerrorn);
        line_second = b.irq_gerror.read();
        b.mem().write_words(l.cmdq + 16 * 4, arch::encode(arch::make_sync(arch::sync_cs::none)));
        b.reg_write32(reg::gerrorn, g3);
        wait(ns(500));
        g4 = b.reg_read32(reg::gerror);
        n4 = b.reg_read32(reg::gerrorn);
        line_second_acked = b.irq_gerror.read();
    }));
    EXPECT_EQ(g1, 0x1u);
    EXPECT_EQ(n1, 0x0u);
    EXPECT_EQ(cons_err, 0x01000003u); // ERR = CERROR_ILL, RD = the illegal command
    EXPECT_TRUE(line_error);
    EXPECT_EQ(g2, 0x1u);
    EXPECT_EQ(n2, 0x1u);
    EXPECT_EQ(cons_after_ack, 0x4u); // ERR cleared, the replacement executed
    EXPECT_FALSE(line_acked);
    EXPECT_EQ(g3, 0x0u);
    EXPECT_EQ(n3, 0x1u);
    EXPECT_TRUE(line_second);
    EXPECT_EQ(g4, 0x0u);
    EXPECT_EQ(n4, 0x0u);
    EXPECT_FALSE(line_second_acked);
    EXPECT_EQ(b.smmu().stats().gerror_irqs, 2u);
}

TEST(smmu_registers, gerror_line_stays_low_without_gerror_irqen) {
    bench b;
    const auto l = b.prepare();
    bool line = true;
    std::uint32_t gerror = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        submit_illegal(b, l);
        wait(ns(500));
        gerror = b.reg_read32(reg::gerror);
        line = b.irq_gerror.read();
        // Enabling the interrupt with the error still active raises the line.
        b.reg_write32(reg::irq_ctrl, 0x1);
    }));
    EXPECT_EQ(gerror, 0x1u);
    EXPECT_FALSE(line);
    EXPECT_TRUE(b.irq_gerror.read());
    EXPECT_EQ(b.smmu().stats().gerror_irqs, 0u);
}

TEST(smmu_registers, gerror_msi_writes_its_data_once_per_activation) {
    bench b;
    const auto l = b.prepare();
    const std::uint64_t msi = b.tables().alloc(4096);
    std::uint32_t first = 0, second = 0, gerror = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write64(reg::gerror_irq_cfg0, msi + 0x40);
        b.reg_write32(reg::gerror_irq_cfg1, 0xfeed0001);
        b.reg_write32(reg::gerror_irq_cfg2, 0x1f);
        b.reg_write32(reg::irq_ctrl, 0x1);
        submit_illegal(b, l);
        wait(ns(500));
        first = b.mem().read32(msi + 0x40);
        gerror = b.reg_read32(reg::gerror);
        // While the error is active nothing new is signalled.
        b.mem().write32(msi + 0x40, 0);
        wait(ns(500));
        second = b.mem().read32(msi + 0x40);
    }));
    EXPECT_EQ(gerror, 0x1u);
    EXPECT_EQ(first, 0xfeed0001u);
    EXPECT_EQ(second, 0u);
    EXPECT_EQ(b.smmu().stats().gerror_irqs, 1u);
}

TEST(smmu_registers, an_aborted_gerror_msi_activates_msi_gerror_abt_err_only) {
    bench b;
    const auto l = b.prepare();
    std::uint32_t gerror = 0;
    ASSERT_TRUE(b.run([&] {
        b.enable(l);
        b.reg_write64(reg::gerror_irq_cfg0, 0x3ff0000);
        b.reg_write32(reg::gerror_irq_cfg1, 1);
        b.reg_write32(reg::irq_ctrl, 0x1);
        b.mem().add_abort_range(0x3ff0000, 0x3ff0003);
        submit_illegal(b, l);
        wait(ns(500));
        gerror = b.reg_read32(reg::gerror);
    }));
    EXPECT_EQ(gerror, 0x81u); // CMDQ_ERR and MSI_GERROR_ABT_ERR
    EXPECT_EQ(b.smmu().stats().msis_aborted, 1u);
    EXPECT_EQ(b.smmu().stats().gerror_irqs, 1u); // no second MSI for the MSI's own error
}

TEST(smmu_registers, irq_cfg_registers_ignore_writes_while_their_irq_is_enabled) {
    bench b;
    std::uint64_t cfg0 = 0;
    std::uint32_t cfg1 = 0, cfg2 = 0, other = 0;
    ASSERT_TRUE(b.run([&] {
        b.reg_write64(reg::gerror_irq_cfg0, 0x1000);
        b.reg_write32(reg::gerror_irq_cfg1, 0x11);
        b.reg_write32(reg::gerror_irq_cfg2, 0x1);
        b.reg_write32(reg::irq_ctrl, 0x1);
        b.reg_write64(reg::gerror_irq_cfg0, 0x2000);
        b.reg_write32(reg::gerror_irq_cfg1, 0x22);
        b.reg_write32(reg::gerror_irq_cfg2, 0x2);
        b.reg_write32(reg::eventq_irq_cfg1, 0x33); // EVENTQ_IRQEN is 0
        cfg0 = b.reg_read64(reg::gerror_irq_cfg0);
        cfg1 = b.reg_read32(reg::gerror_irq_cfg1);
        cfg2 = b.reg_read32(reg::gerror_irq_cfg2);
        other = b.reg_read32(reg::eventq_irq_cfg1);
    }));
    EXPECT_EQ(cfg0, 0x1000u);
    EXPECT_EQ(cfg1, 0x11u);
    EXPECT_EQ(cfg2, 0x1u);
    EXPECT_EQ(other, 0x33u);
}

} // namespace
} // namespace smmu::test
