#include <cstdint>
#include <initializer_list>
#include <stdexcept>

#include <gtest/gtest.h>

#include "model/smmu/register_file.h"

namespace smmu {
namespace {

using offsets = std::initializer_list<std::uint64_t>;

// CR0 bits.
constexpr std::uint32_t smmuen = 0x1, eventqen = 0x4, cmdqen = 0x8, atschk = 0x10;
// IRQ_CTRL bits.
constexpr std::uint32_t gerror_irqen = 0x1, eventq_irqen = 0x4;
// GERROR bits.
constexpr std::uint32_t cmdq_err = 0x1, eventq_abt_err = 0x4;

std::uint32_t rd(const register_file& rf, std::uint64_t off) {
    return static_cast<std::uint32_t>(rf.read(off, 4));
}

write_effects wr(register_file& rf, std::uint64_t off, std::uint32_t v) {
    return rf.write(off, 4, v);
}

std::uint64_t rd64(const register_file& rf, std::uint64_t off) {
    return rf.read(off, 8);
}

write_effects wr64(register_file& rf, std::uint64_t off, std::uint64_t v) {
    return rf.write(off, 8, v);
}

smmu_params default_params() {
    return smmu_params{};
}

// ---- ID registers -----------------------------------------------------------------------------

TEST(register_file, id_registers_from_default_features) {
    register_file rf(default_params());
    EXPECT_EQ(rd(rf, 0x00), 0x094c7e1bu); // S1P S2P TTF=64 COHACC HYP ATS NS1ATS ASID16 MSI SEV
                                          // VMID16 CD2L TTENDIAN=LE STALL=01 ST_LEVEL=01
    EXPECT_EQ(rd(rf, 0x04), 0x0e730510u); // SIDSIZE 16, SSIDSIZE 20, EVENTQS/CMDQS 19, OVR
    EXPECT_EQ(rd(rf, 0x08), 0u);          // IDR2
    EXPECT_EQ(rd(rf, 0x0c), 0x00001514u); // HAD XNX FWB RIL BBML=2
    EXPECT_EQ(rd(rf, 0x10), 0u);          // IDR4
    EXPECT_EQ(rd(rf, 0x14), 0x00000075u); // OAS 48, 4K/16K/64K
    EXPECT_EQ(rd(rf, 0x18), 0x4830043bu); // IIDR
    EXPECT_EQ(rd(rf, 0x1c), 0x00000002u); // AIDR: SMMUv3.2
    EXPECT_EQ(rf.id_registers().idr0, 0x094c7e1bu);
}

TEST(register_file, iidr_and_aidr_come_from_params) {
    smmu_params p;
    p.iidr = 0x12345678;
    p.aidr = 0x01;
    register_file rf(p);
    EXPECT_EQ(rd(rf, 0x18), 0x12345678u);
    EXPECT_EQ(rd(rf, 0x1c), 0x01u);
}

TEST(register_file, id_registers_are_read_only) {
    register_file rf(default_params());
    for (std::uint64_t off : offsets{0x00, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c}) {
        const std::uint32_t before = rd(rf, off);
        const write_effects fx = wr(rf, off, ~before);
        EXPECT_TRUE(fx.ignored) << std::hex << off;
        EXPECT_FALSE(fx.illegal_access) << std::hex << off;
        EXPECT_EQ(rd(rf, off), before) << std::hex << off;
    }
}

TEST(register_file, constructor_rejects_pri) {
    smmu_params p;
    p.features.pri = true;
    EXPECT_THROW(register_file{p}, std::invalid_argument);
}

// ---- reset ------------------------------------------------------------------------------------

TEST(register_file, reset_values) {
    register_file rf(default_params());
    for (std::uint64_t off :
         offsets{0x20, 0x24, 0x28, 0x2c, 0x40, 0x50, 0x54, 0x60, 0x64,    0x68,
                 0x6c, 0x70, 0x74, 0x80, 0x84, 0x88, 0x90, 0x94, 0x98,    0x9c,
                 0xa0, 0xa4, 0xa8, 0xac, 0xb0, 0xb4, 0xb8, 0xbc, 0x100a8, 0x100ac})
        EXPECT_EQ(rd(rf, off), 0u) << std::hex << off;
    EXPECT_EQ(rd(rf, 0x44), 0x00001000u); // GBPA: SHCFG = use incoming, ABORT = 0
    EXPECT_FALSE(rf.gbpa_abort());
}

TEST(register_file, reset_restores_reset_values) {
    register_file rf(default_params());
    wr64(rf, 0x80, 0x80000000);
    wr(rf, 0x88, 0x10);
    wr64(rf, 0x90, 0x81000008);
    wr(rf, 0x98, 3);
    wr64(rf, 0x68, 0x90000000);
    wr(rf, 0x44, 0x80100000);
    wr(rf, 0x50, gerror_irqen);
    wr(rf, 0x20, smmuen | cmdqen);
    wr(rf, 0x2c, 0x2);
    rf.activate_gerror(arch::gerror::cmdq_err);
    rf.set_eventq_prod(0x80000003);

    rf.reset();
    EXPECT_EQ(rd(rf, 0x20), 0u);
    EXPECT_EQ(rd(rf, 0x24), 0u);
    EXPECT_EQ(rd(rf, 0x2c), 0u);
    EXPECT_EQ(rd(rf, 0x44), 0x1000u);
    EXPECT_EQ(rd(rf, 0x50), 0u);
    EXPECT_EQ(rd(rf, 0x54), 0u);
    EXPECT_EQ(rd(rf, 0x60), 0u);
    EXPECT_EQ(rd64(rf, 0x68), 0u);
    EXPECT_EQ(rd64(rf, 0x80), 0u);
    EXPECT_EQ(rd(rf, 0x88), 0u);
    EXPECT_EQ(rd64(rf, 0x90), 0u);
    EXPECT_EQ(rd(rf, 0x98), 0u);
    EXPECT_EQ(rd(rf, 0x100a8), 0u);
    EXPECT_EQ(rf.gerror_active(), 0u);
    EXPECT_EQ(rd(rf, 0x00), 0x094c7e1bu); // IDRs survive
}

// ---- CR0 / CR0ACK -----------------------------------------------------------------------------

TEST(register_file, cr0_writable_mask_default_features) {
    register_file rf(default_params());
    wr(rf, 0x20, 0xffffffff);
    // SMMUEN EVENTQEN CMDQEN ATSCHK; PRIQEN (no PRI) and VMW (no IDR0.VMW) are RES0.
    EXPECT_EQ(rd(rf, 0x20), 0x1du);
    EXPECT_EQ(rd(rf, 0x24), 0x1du);
}

TEST(register_file, cr0_vmw_writable_with_vmw_and_atschk_res0_without_ats) {
    smmu_params p;
    p.features.vmw = true;
    p.features.ats = false;
    register_file rf(p);
    wr(rf, 0x20, 0xffffffff);
    EXPECT_EQ(rd(rf, 0x20), 0x1cdu);
    EXPECT_EQ(rf.vmw(), 7u);
    EXPECT_FALSE(rf.atschk());
}

TEST(register_file, cr0ack_takes_the_written_value_at_once) {
    register_file rf(default_params());
    write_effects fx = wr(rf, 0x20, cmdqen | smmuen);
    EXPECT_EQ(rd(rf, 0x24), 0x9u);
    EXPECT_TRUE(fx.cr0_written);
    EXPECT_TRUE(fx.cr0_changed);
    EXPECT_EQ(fx.old_cr0, 0u);
    EXPECT_EQ(fx.new_cr0, 0x9u);
    EXPECT_TRUE(fx.cr0_rose(arch::cr0::smmuen));
    EXPECT_TRUE(fx.cr0_rose(arch::cr0::cmdqen));
    EXPECT_FALSE(fx.cr0_rose(arch::cr0::eventqen));
    EXPECT_FALSE(fx.ignored);
    EXPECT_TRUE(rf.smmuen());
    EXPECT_TRUE(rf.cmdq_enabled());
    EXPECT_FALSE(rf.eventq_enabled());

    fx = wr(rf, 0x20, smmuen | eventqen | atschk);
    EXPECT_EQ(fx.old_cr0, 0x9u);
    EXPECT_EQ(fx.new_cr0, 0x15u);
    EXPECT_TRUE(fx.cr0_fell(arch::cr0::cmdqen));
    EXPECT_TRUE(fx.cr0_rose(arch::cr0::eventqen));
    EXPECT_FALSE(fx.cr0_fell(arch::cr0::smmuen));
    EXPECT_TRUE(rf.eventq_enabled());
    EXPECT_TRUE(rf.atschk());

    fx = wr(rf, 0x20, smmuen | eventqen | atschk); // same value
    EXPECT_TRUE(fx.cr0_written);
    EXPECT_FALSE(fx.cr0_changed);
}

TEST(register_file, cr0ack_is_read_only) {
    register_file rf(default_params());
    const write_effects fx = wr(rf, 0x24, 0x1d);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.cr0_written);
    EXPECT_EQ(rd(rf, 0x24), 0u);
    EXPECT_FALSE(rf.smmuen());
}

// ---- CR1 --------------------------------------------------------------------------------------

TEST(register_file, cr1_writable_mask) {
    register_file rf(default_params());
    const write_effects fx = wr(rf, 0x28, 0xffffffff);
    EXPECT_EQ(rd(rf, 0x28), 0xfffu);
    EXPECT_TRUE(fx.cr1_changed);
    EXPECT_FALSE(fx.ignored);
}

TEST(register_file, cr1_table_fields_ignored_while_smmuen) {
    register_file rf(default_params());
    wr(rf, 0x20, smmuen);
    // TABLE_SH=ISH TABLE_OC=WB TABLE_IC=WB (0xd40) | QUEUE_SH=ISH QUEUE_OC=WB QUEUE_IC=WB (0x35)
    const write_effects fx = wr(rf, 0x28, 0xd75);
    EXPECT_EQ(rd(rf, 0x28), 0x035u);
    EXPECT_TRUE(fx.ignored);
    EXPECT_TRUE(fx.cr1_changed);
}

TEST(register_file, cr1_unchanged_table_fields_may_be_rewritten_while_smmuen) {
    register_file rf(default_params());
    wr(rf, 0x28, 0xd40);
    wr(rf, 0x20, smmuen);
    const write_effects fx = wr(rf, 0x28, 0xd75);
    EXPECT_EQ(rd(rf, 0x28), 0xd75u);
    EXPECT_FALSE(fx.ignored);
}

TEST(register_file, cr1_queue_fields_ignored_while_any_queue_enabled) {
    for (std::uint32_t en : {cmdqen, eventqen}) {
        register_file rf(default_params());
        wr(rf, 0x20, en);
        const write_effects fx = wr(rf, 0x28, 0xd75);
        EXPECT_EQ(rd(rf, 0x28), 0xd40u) << en;
        EXPECT_TRUE(fx.ignored) << en;
    }
}

TEST(register_file, cr1_ignores_everything_while_smmu_and_queues_enabled) {
    register_file rf(default_params());
    wr(rf, 0x20, smmuen | cmdqen);
    const write_effects fx = wr(rf, 0x28, 0xd75);
    EXPECT_EQ(rd(rf, 0x28), 0u);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.cr1_changed);
}

// ---- CR2 --------------------------------------------------------------------------------------

TEST(register_file, cr2_writable_mask_depends_on_features) {
    register_file rf(default_params()); // HYP, no BTM, no ATSRECERR
    wr(rf, 0x2c, 0xffffffff);
    EXPECT_EQ(rd(rf, 0x2c), 0x3u);
    EXPECT_TRUE(rf.e2h());
    EXPECT_TRUE(rf.recinvsid());
    EXPECT_FALSE(rf.ptm());
    EXPECT_FALSE(rf.rec_cfg_ats()); // RES0: IDR0.ATSRECERR is 0

    smmu_params p;
    p.features.hyp = false;
    p.features.btm = true;
    register_file rf2(p);
    wr(rf2, 0x2c, 0xffffffff);
    EXPECT_EQ(rd(rf2, 0x2c), 0x6u);
}

TEST(register_file, cr2_ignored_while_smmuen) {
    register_file rf(default_params());
    wr(rf, 0x2c, 0x2);
    wr(rf, 0x20, smmuen);
    write_effects fx = wr(rf, 0x2c, 0x1);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.cr2_changed);
    EXPECT_EQ(rd(rf, 0x2c), 0x2u);

    wr(rf, 0x20, 0);
    fx = wr(rf, 0x2c, 0x1);
    EXPECT_FALSE(fx.ignored);
    EXPECT_TRUE(fx.cr2_changed);
    EXPECT_EQ(rd(rf, 0x2c), 0x1u);
}

// ---- STATUSR, AGBPA ---------------------------------------------------------------------------

TEST(register_file, statusr_is_read_as_zero_and_read_only) {
    register_file rf(default_params());
    EXPECT_TRUE(wr(rf, 0x40, 0xffffffff).ignored);
    EXPECT_EQ(rd(rf, 0x40), 0u);
}

// ---- GBPA -------------------------------------------------------------------------------------

TEST(register_file, gbpa_write_with_update_completes_at_once) {
    register_file rf(default_params());
    // Update | ABORT | all attribute fields, plus RES0 bits 30:21, 15:14, 7:5.
    const write_effects fx = wr(rf, 0x44, 0xffffffff);
    EXPECT_EQ(rd(rf, 0x44), 0x001f3f1fu); // Update reads 0
    EXPECT_TRUE(fx.gbpa_changed);
    EXPECT_FALSE(fx.ignored);
    EXPECT_TRUE(rf.gbpa_abort());
    EXPECT_EQ(rf.gbpa(), 0x001f3f1fu);
}

TEST(register_file, gbpa_write_without_update_is_ignored) {
    register_file rf(default_params());
    const write_effects fx = wr(rf, 0x44, 0x00100000);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.gbpa_changed);
    EXPECT_EQ(rd(rf, 0x44), 0x00001000u);
    EXPECT_FALSE(rf.gbpa_abort());
}

TEST(register_file, gbpa_update_with_same_value_is_not_a_change) {
    register_file rf(default_params());
    const write_effects fx = wr(rf, 0x44, 0x80001000);
    EXPECT_FALSE(fx.gbpa_changed);
    EXPECT_FALSE(fx.ignored);
    EXPECT_EQ(rd(rf, 0x44), 0x00001000u);
}

TEST(register_file, gbpa_is_writable_while_smmuen) {
    register_file rf(default_params());
    wr(rf, 0x20, smmuen);
    EXPECT_TRUE(wr(rf, 0x44, 0x80100000).gbpa_changed);
    EXPECT_EQ(rd(rf, 0x44), 0x00100000u);
}

// ---- IRQ_CTRL / IRQ_CTRLACK -------------------------------------------------------------------

TEST(register_file, irq_ctrl_mask_and_ack) {
    register_file rf(default_params());
    write_effects fx = wr(rf, 0x50, 0xffffffff);
    EXPECT_EQ(rd(rf, 0x50), 0x5u); // PRIQ_IRQEN RES0 without PRI
    EXPECT_EQ(rd(rf, 0x54), 0x5u);
    EXPECT_TRUE(fx.irq_ctrl_written);
    EXPECT_TRUE(fx.irq_ctrl_changed);
    EXPECT_EQ(fx.old_irq_ctrl, 0u);
    EXPECT_EQ(fx.new_irq_ctrl, 0x5u);
    EXPECT_TRUE(rf.gerror_irq_enabled());
    EXPECT_TRUE(rf.eventq_irq_enabled());

    fx = wr(rf, 0x50, eventq_irqen);
    EXPECT_EQ(fx.old_irq_ctrl, 0x5u);
    EXPECT_EQ(fx.new_irq_ctrl, 0x4u);
    EXPECT_FALSE(rf.gerror_irq_enabled());
    EXPECT_TRUE(rf.eventq_irq_enabled());
}

TEST(register_file, irq_ctrlack_is_read_only) {
    register_file rf(default_params());
    const write_effects fx = wr(rf, 0x54, 0x5);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.irq_ctrl_written);
    EXPECT_EQ(rd(rf, 0x54), 0u);
}

// ---- GERROR / GERRORN -------------------------------------------------------------------------

TEST(register_file, gerror_is_read_only) {
    register_file rf(default_params());
    EXPECT_TRUE(wr(rf, 0x60, 0xffffffff).ignored);
    EXPECT_EQ(rd(rf, 0x60), 0u);
}

TEST(register_file, gerror_implemented_bits) {
    register_file rf(default_params()); // MSI, no PRI
    EXPECT_EQ(rf.gerror_implemented(), 0x1b5u);
    smmu_params p;
    p.features.msi = false;
    register_file rf2(p);
    EXPECT_EQ(rf2.gerror_implemented(), 0x105u);
    EXPECT_FALSE(rf2.activate_gerror(arch::gerror::msi_eventq_abt_err));
    EXPECT_EQ(rd(rf2, 0x60), 0u);
}

TEST(register_file, activate_gerror_toggles_an_inactive_error_only) {
    register_file rf(default_params());
    EXPECT_TRUE(rf.activate_gerror(arch::gerror::cmdq_err));
    EXPECT_EQ(rd(rf, 0x60), 0x1u);
    EXPECT_EQ(rf.gerror_active(), 0x1u);
    EXPECT_TRUE(rf.gerror_is_active(arch::gerror::cmdq_err));

    EXPECT_FALSE(rf.activate_gerror(arch::gerror::cmdq_err)); // already active: no toggle
    EXPECT_EQ(rd(rf, 0x60), 0x1u);
    EXPECT_EQ(rf.gerror_active(), 0x1u);
}

TEST(register_file, acknowledge_then_reactivate_toggles_back) {
    register_file rf(default_params());
    rf.activate_gerror(arch::gerror::eventq_abt_err);
    const write_effects fx = wr(rf, 0x64, eventq_abt_err);
    EXPECT_TRUE(fx.gerrorn_written);
    EXPECT_EQ(fx.gerror_acknowledged, 0x4u);
    EXPECT_EQ(fx.gerror_activated, 0u);
    EXPECT_FALSE(fx.cmdq_error_acknowledged);
    EXPECT_EQ(rd(rf, 0x64), 0x4u);
    EXPECT_EQ(rf.gerror_active(), 0u);

    EXPECT_TRUE(rf.activate_gerror(arch::gerror::eventq_abt_err));
    EXPECT_EQ(rd(rf, 0x60), 0x0u); // toggled back to 0; GERRORN is 1: active
    EXPECT_EQ(rf.gerror_active(), 0x4u);
    EXPECT_EQ(wr(rf, 0x64, 0).gerror_acknowledged, 0x4u);
    EXPECT_EQ(rf.gerror_active(), 0u);
}

TEST(register_file, acknowledge_one_error_while_another_stays_active) {
    register_file rf(default_params());
    rf.activate_gerror(arch::gerror::cmdq_err);
    rf.activate_gerror(arch::gerror::eventq_abt_err);
    EXPECT_EQ(rd(rf, 0x60), 0x5u);
    const write_effects fx = wr(rf, 0x64, eventq_abt_err);
    EXPECT_EQ(fx.gerror_acknowledged, 0x4u);
    EXPECT_FALSE(fx.cmdq_error_acknowledged);
    EXPECT_EQ(rf.gerror_active(), 0x1u);
    EXPECT_TRUE(rf.gerror_is_active(arch::gerror::cmdq_err));
    EXPECT_FALSE(rf.gerror_is_active(arch::gerror::eventq_abt_err));
}

TEST(register_file, unimplemented_gerror_bits_never_activate) {
    register_file rf(default_params());
    EXPECT_FALSE(rf.activate_gerror(arch::gerror::priq_abt_err));
    EXPECT_FALSE(rf.activate_gerror(arch::gerror::msi_priq_abt_err));
    EXPECT_FALSE(rf.activate_gerror(arch::field{1, 1}));
    EXPECT_EQ(rd(rf, 0x60), 0u);
}

TEST(register_file, gerrorn_keeps_last_written_implemented_bits) {
    register_file rf(default_params());
    // Toggling GERRORN of inactive errors activates them (a permitted CONSTRAINED
    // UNPREDICTABLE behaviour); reserved bits read as 0.
    const write_effects fx = wr(rf, 0x64, 0xffffffff);
    EXPECT_EQ(rd(rf, 0x64), 0x1b5u);
    EXPECT_EQ(fx.gerror_activated, 0x1b5u);
    EXPECT_EQ(rf.gerror_active(), 0x1b5u);
    EXPECT_FALSE(rf.activate_gerror(arch::gerror::cmdq_err)); // already active
}

// ---- *_IRQ_CFGn -------------------------------------------------------------------------------

TEST(register_file, irq_cfg_masks_and_msi_view) {
    register_file rf(default_params());
    wr64(rf, 0x68, 0xffffffffffffffffu);
    wr(rf, 0x70, 0xffffffff);
    wr(rf, 0x74, 0xffffffff);
    EXPECT_EQ(rd64(rf, 0x68), 0x000ffffffffffffcu); // ADDR[51:2]
    EXPECT_EQ(rd(rf, 0x70), 0xffffffffu);
    EXPECT_EQ(rd(rf, 0x74), 0x3fu); // SH[5:4] MemAttr[3:0]

    wr64(rf, 0xb0, 0x0000000090001004u);
    wr(rf, 0xb8, 0x12345678);
    wr(rf, 0xbc, 0x2f);
    const msi_config m = rf.msi(msi_source::eventq);
    EXPECT_EQ(m.address, 0x90001004u);
    EXPECT_EQ(m.data, 0x12345678u);
    EXPECT_EQ(m.attr, 0x2fu);
    EXPECT_EQ(m.sh(), 2u);
    EXPECT_EQ(m.memattr(), 0xfu);
    EXPECT_TRUE(m.enabled());
    EXPECT_EQ(rf.msi(msi_source::gerror).address, 0x000ffffffffffffcu);
    EXPECT_FALSE(msi_config{}.enabled());
}

TEST(register_file, irq_cfg_of_a_source_ignored_while_its_irqen) {
    register_file rf(default_params());
    wr(rf, 0x50, gerror_irqen);
    EXPECT_TRUE(wr64(rf, 0x68, 0x90000000).ignored);
    EXPECT_TRUE(wr(rf, 0x6c, 0x1).ignored);
    EXPECT_TRUE(wr(rf, 0x70, 0x1).ignored);
    EXPECT_TRUE(wr(rf, 0x74, 0x1).ignored);
    EXPECT_EQ(rd64(rf, 0x68), 0u);
    EXPECT_EQ(rd(rf, 0x70), 0u);
    EXPECT_EQ(rd(rf, 0x74), 0u);
    // The event queue's set is not guarded by GERROR_IRQEN.
    EXPECT_FALSE(wr64(rf, 0xb0, 0x90000000).ignored);
    EXPECT_FALSE(wr(rf, 0xb8, 0x1).ignored);
    EXPECT_EQ(rd64(rf, 0xb0), 0x90000000u);

    wr(rf, 0x50, eventq_irqen);
    EXPECT_TRUE(wr(rf, 0xbc, 0x1).ignored);
    EXPECT_EQ(rd(rf, 0xbc), 0u);
    EXPECT_FALSE(wr(rf, 0x70, 0x7).ignored); // GERROR_IRQEN is now 0
    EXPECT_EQ(rd(rf, 0x70), 0x7u);
}

TEST(register_file, irq_cfg_res0_without_msi) {
    smmu_params p;
    p.features.msi = false;
    register_file rf(p);
    EXPECT_TRUE(wr64(rf, 0x68, 0x90000000).ignored);
    EXPECT_TRUE(wr(rf, 0xb8, 0x1).ignored);
    EXPECT_EQ(rd64(rf, 0x68), 0u);
    EXPECT_EQ(rd(rf, 0xb8), 0u);
}

// ---- 64-bit registers and their halves --------------------------------------------------------

TEST(register_file, sixty_four_bit_register_halves) {
    register_file rf(default_params());
    wr(rf, 0x80, 0x12345678);
    wr(rf, 0x84, 0x40000abc);
    EXPECT_EQ(rd64(rf, 0x80), 0x40000abc12345640u); // ADDR[5:0] RES0
    EXPECT_EQ(rd(rf, 0x80), 0x12345640u);
    EXPECT_EQ(rd(rf, 0x84), 0x40000abcu);
    wr(rf, 0x80, 0x00000fc0); // low half only; high half kept
    EXPECT_EQ(rd64(rf, 0x80), 0x40000abc00000fc0u);
    wr(rf, 0x84, 0xffffffff); // bits 63, 61:52 RES0
    EXPECT_EQ(rd(rf, 0x84), 0x400fffffu);
}

TEST(register_file, strtab_registers_masks_and_decode) {
    register_file rf(default_params());
    write_effects fx = wr64(rf, 0x80, 0xffffffffffffffffu);
    EXPECT_TRUE(fx.strtab_changed);
    EXPECT_EQ(rd64(rf, 0x80), 0x400fffffffffffc0u);
    fx = wr(rf, 0x88, 0xffffffff);
    EXPECT_TRUE(fx.strtab_changed);
    EXPECT_EQ(rd(rf, 0x88), 0x000307ffu);

    wr64(rf, 0x80, 0x0000000080040000u);
    wr(rf, 0x88, 0x00010210); // FMT 2-level, SPLIT 8, LOG2SIZE 16
    const arch::strtab_config s = rf.strtab();
    EXPECT_EQ(s.base, 0x80040000u);
    EXPECT_EQ(s.fmt, arch::strtab_fmt::two_level);
    EXPECT_EQ(s.log2size, 16u);
    EXPECT_EQ(s.split, 8u);
    EXPECT_FALSE(wr(rf, 0x88, 0x00010210).strtab_changed);
}

TEST(register_file, strtab_registers_ignored_while_smmuen) {
    register_file rf(default_params());
    wr64(rf, 0x80, 0x80000000);
    wr(rf, 0x88, 0x8);
    wr(rf, 0x20, smmuen);
    write_effects fx = wr64(rf, 0x80, 0x90000000);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.strtab_changed);
    EXPECT_TRUE(wr(rf, 0x84, 0x1).ignored);
    fx = wr(rf, 0x88, 0x10);
    EXPECT_TRUE(fx.ignored);
    EXPECT_FALSE(fx.strtab_changed);
    EXPECT_EQ(rd64(rf, 0x80), 0x80000000u);
    EXPECT_EQ(rd(rf, 0x88), 0x8u);
}

// ---- command queue ----------------------------------------------------------------------------

TEST(register_file, cmdq_base_mask_decode_and_cap) {
    register_file rf(default_params());
    wr64(rf, 0x90, 0xffffffffffffffffu);
    EXPECT_EQ(rd64(rf, 0x90), 0x400fffffffffffffu); // RA, ADDR[51:5], LOG2SIZE

    wr64(rf, 0x90, 0x0000000081000008u);
    arch::queue_config q = rf.cmdq();
    EXPECT_EQ(q.base, 0x81000000u);
    EXPECT_EQ(q.log2size, 8u);
    EXPECT_EQ(q.entry_bytes, 16u);

    // LOG2SIZE 31 is capped at IDR1.CMDQS = 19 and the base aligned to 16 B << 19.
    wr64(rf, 0x90, 0x000000008123457fu);
    q = rf.cmdq();
    EXPECT_EQ(q.log2size, 19u);
    EXPECT_EQ(q.base, 0x81000000u);
}

TEST(register_file, cmdq_base_ignored_while_cmdqen) {
    register_file rf(default_params());
    wr64(rf, 0x90, 0x81000008);
    wr(rf, 0x20, cmdqen);
    EXPECT_TRUE(wr64(rf, 0x90, 0x82000004).ignored);
    EXPECT_TRUE(wr(rf, 0x90, 0x4).ignored);
    EXPECT_EQ(rd64(rf, 0x90), 0x81000008u);
}

TEST(register_file, cmdq_prod_is_always_writable) {
    register_file rf(default_params());
    write_effects fx = wr(rf, 0x98, 0xffffffff);
    EXPECT_TRUE(fx.cmdq_prod_written);
    EXPECT_EQ(rd(rf, 0x98), 0x000fffffu);
    wr(rf, 0x20, cmdqen);
    fx = wr(rf, 0x98, 0x105);
    EXPECT_TRUE(fx.cmdq_prod_written);
    EXPECT_FALSE(fx.ignored);
    EXPECT_EQ(rf.cmdq_prod(), 0x105u);
}

TEST(register_file, cmdq_cons_writable_by_software_only_while_cmdq_disabled) {
    register_file rf(default_params());
    write_effects fx = wr(rf, 0x9c, 0xffffffff);
    EXPECT_FALSE(fx.ignored);
    EXPECT_EQ(rd(rf, 0x9c), 0x000fffffu); // ERR ignores software writes, bit 31 RES0
    wr(rf, 0x9c, 0x3);
    wr(rf, 0x20, cmdqen);
    fx = wr(rf, 0x9c, 0x0);
    EXPECT_TRUE(fx.ignored);
    EXPECT_EQ(rd(rf, 0x9c), 0x3u);
}

/// The command engine's error sequence: ERR first, then GERROR.CMDQ_ERR.
bool report_cmdq_error(register_file& rf, arch::cmdq_error err) {
    if (!rf.set_cmdq_error(err))
        return false;
    return rf.activate_gerror(arch::gerror::cmdq_err);
}

TEST(register_file, set_cmdq_error_writes_err_only) {
    register_file rf(default_params());
    rf.set_cmdq_cons_index(0x5);
    EXPECT_TRUE(rf.set_cmdq_error(arch::cmdq_error::ill));
    EXPECT_EQ(rd(rf, 0x9c), 0x01000005u);
    EXPECT_EQ(rf.cmdq_error(), arch::cmdq_error::ill);
    EXPECT_EQ(rd(rf, 0x60), 0x0u); // the caller activates CMDQ_ERR
    EXPECT_TRUE(rf.activate_gerror(arch::gerror::cmdq_err));
    EXPECT_EQ(rd(rf, 0x60), 0x1u);
    EXPECT_TRUE(rf.gerror_is_active(arch::gerror::cmdq_err));
}

TEST(register_file, cmdq_error_kept_across_index_updates) {
    register_file rf(default_params());
    rf.set_cmdq_cons_index(0x2);
    report_cmdq_error(rf, arch::cmdq_error::atc_inv_sync);
    rf.set_cmdq_cons_index(0x107);
    EXPECT_EQ(rf.cmdq_cons(), 0x03000107u);
    rf.set_cmdq_cons_index(0xfff00001); // bits above [19:0] are not the index
    EXPECT_EQ(rf.cmdq_cons(), 0x03000001u);
    // Software may rewrite RD while the queue is disabled; ERR stays.
    wr(rf, 0x9c, 0x4);
    EXPECT_EQ(rd(rf, 0x9c), 0x03000004u);
}

TEST(register_file, second_cmdq_error_does_not_overwrite_the_first) {
    register_file rf(default_params());
    EXPECT_TRUE(report_cmdq_error(rf, arch::cmdq_error::abt));
    EXPECT_FALSE(rf.set_cmdq_error(arch::cmdq_error::ill));
    EXPECT_FALSE(rf.activate_gerror(arch::gerror::cmdq_err));
    EXPECT_EQ(rf.cmdq_error(), arch::cmdq_error::abt);
    EXPECT_EQ(rd(rf, 0x60), 0x1u);
}

TEST(register_file, acknowledging_cmdq_err_clears_err_for_the_restart) {
    register_file rf(default_params());
    wr(rf, 0x20, cmdqen);
    rf.set_cmdq_cons_index(0x9);
    report_cmdq_error(rf, arch::cmdq_error::ill);
    write_effects fx = wr(rf, 0x64, 0x0); // GERRORN unchanged: nothing acknowledged
    EXPECT_FALSE(fx.cmdq_error_acknowledged);
    EXPECT_EQ(rd(rf, 0x9c), 0x01000009u);

    fx = wr(rf, 0x64, cmdq_err);
    EXPECT_TRUE(fx.cmdq_error_acknowledged);
    EXPECT_EQ(fx.gerror_acknowledged, 0x1u);
    EXPECT_EQ(rd(rf, 0x9c), 0x00000009u);
    EXPECT_EQ(rf.cmdq_error(), arch::cmdq_error::none);
    EXPECT_EQ(rf.gerror_active(), 0u);
    EXPECT_FALSE(rf.cmdq_view().error);

    // A later error toggles GERROR back to 0 and is reported again.
    EXPECT_TRUE(report_cmdq_error(rf, arch::cmdq_error::abt));
    EXPECT_EQ(rd(rf, 0x9c), 0x02000009u);
    EXPECT_EQ(rd(rf, 0x60), 0x0u);
    EXPECT_EQ(rf.gerror_active(), 0x1u);
}

TEST(register_file, cmdq_view) {
    register_file rf(default_params());
    wr64(rf, 0x90, 0x0000000081000003u); // 8 entries
    wr(rf, 0x98, 0x0000000a);            // wrap 1, index 2
    wr(rf, 0x9c, 0x00000006);            // wrap 0, index 6
    command_queue_view v = rf.cmdq_view();
    EXPECT_FALSE(v.enabled);
    EXPECT_FALSE(v.error);
    EXPECT_EQ(v.config.base, 0x81000000u);
    EXPECT_EQ(v.config.log2size, 3u);
    EXPECT_EQ(v.math.log2size(), 3u);
    EXPECT_EQ(v.prod, 0xau);
    EXPECT_EQ(v.cons, 0x6u);
    EXPECT_FALSE(v.empty());
    EXPECT_EQ(v.math.used(v.prod, v.cons), 4u);

    wr(rf, 0x20, cmdqen);
    report_cmdq_error(rf, arch::cmdq_error::ill);
    v = rf.cmdq_view();
    EXPECT_TRUE(v.enabled);
    EXPECT_TRUE(v.error);
    EXPECT_EQ(v.cons, 0x6u); // without ERR
}

// ---- event queue registers --------------------------------------------------------------------

TEST(register_file, eventq_base_mask_decode_and_guard) {
    register_file rf(default_params());
    wr64(rf, 0xa0, 0xffffffffffffffffu);
    EXPECT_EQ(rd64(rf, 0xa0), 0x400fffffffffffffu);

    wr64(rf, 0xa0, 0x0000000090000004u);
    const arch::queue_config q = rf.eventq();
    EXPECT_EQ(q.base, 0x90000000u);
    EXPECT_EQ(q.log2size, 4u);
    EXPECT_EQ(q.entry_bytes, 32u);

    wr(rf, 0x20, eventqen);
    EXPECT_TRUE(wr64(rf, 0xa0, 0x91000004).ignored);
    EXPECT_TRUE(wr(rf, 0xa4, 0x1).ignored);
    EXPECT_EQ(rd64(rf, 0xa0), 0x90000004u);
}

TEST(register_file, eventq_prod_in_page1_with_page0_alias) {
    register_file rf(default_params());
    EXPECT_FALSE(wr(rf, 0x100a8, 0xffffffff).ignored);
    EXPECT_EQ(rd(rf, 0x100a8), 0x800fffffu); // OVFLG, WR[19:0]
    EXPECT_EQ(rd(rf, 0xa8), 0x800fffffu);
    wr(rf, 0xa8, 0x3);
    EXPECT_EQ(rd(rf, 0x100a8), 0x3u);
    EXPECT_EQ(rf.eventq_prod(), 0x3u);
}

TEST(register_file, eventq_prod_writable_by_software_only_while_eventq_disabled) {
    register_file rf(default_params());
    wr(rf, 0x100a8, 0x2);
    wr(rf, 0x20, eventqen);
    EXPECT_TRUE(wr(rf, 0x100a8, 0x0).ignored);
    EXPECT_TRUE(wr(rf, 0xa8, 0x0).ignored);
    EXPECT_EQ(rd(rf, 0x100a8), 0x2u);
    rf.set_eventq_prod(0x80000003); // the SMMU's own update
    EXPECT_EQ(rd(rf, 0x100a8), 0x80000003u);
}

TEST(register_file, eventq_cons_always_writable) {
    register_file rf(default_params());
    wr(rf, 0x20, eventqen);
    write_effects fx = wr(rf, 0x100ac, 0xffffffff);
    EXPECT_TRUE(fx.eventq_cons_written);
    EXPECT_FALSE(fx.ignored);
    EXPECT_EQ(rd(rf, 0x100ac), 0x800fffffu); // OVACKFLG, RD[19:0]
    fx = wr(rf, 0xac, 0x5);
    EXPECT_TRUE(fx.eventq_cons_written);
    EXPECT_EQ(rd(rf, 0x100ac), 0x5u);
    EXPECT_EQ(rf.eventq_cons(), 0x5u);
}

TEST(register_file, eventq_not_empty) {
    register_file rf(default_params());
    wr64(rf, 0xa0, 0x0000000090000002u); // 4 entries
    EXPECT_FALSE(rf.eventq_not_empty());
    rf.set_eventq_prod(0x80000004); // wrap 1, index 0; OVFLG is not part of the comparison
    EXPECT_TRUE(rf.eventq_not_empty());
    wr(rf, 0x100ac, 0x4);
    EXPECT_FALSE(rf.eventq_not_empty());
}

TEST(register_file, eventq_overflow_condition) {
    register_file rf(default_params());
    EXPECT_FALSE(rf.eventq_overflow());
    rf.set_eventq_prod(0x80000000);
    EXPECT_TRUE(rf.eventq_overflow());
    wr(rf, 0x100ac, 0x80000000);
    EXPECT_FALSE(rf.eventq_overflow());
}

// ---- PRIQ, undefined offsets, illegal accesses ------------------------------------------------

TEST(register_file, priq_registers_are_raz_wi) {
    register_file rf(default_params());
    for (std::uint64_t off : offsets{0xc0, 0xd0}) {
        EXPECT_TRUE(wr64(rf, off, 0x90000004).ignored) << std::hex << off;
        EXPECT_FALSE(wr64(rf, off, 0x90000004).illegal_access) << std::hex << off;
        EXPECT_EQ(rd64(rf, off), 0u) << std::hex << off;
    }
    for (std::uint64_t off :
         offsets{0xc0, 0xc4, 0xc8, 0xcc, 0xd0, 0xd4, 0xd8, 0xdc, 0x100c8, 0x100cc}) {
        EXPECT_TRUE(wr(rf, off, 0xffffffff).ignored) << std::hex << off;
        EXPECT_EQ(rd(rf, off), 0u) << std::hex << off;
    }
}

TEST(register_file, undefined_offsets_are_raz_wi) {
    register_file rf(default_params());
    for (std::uint64_t off :
         offsets{0x30, 0x34, 0x38, 0x48, 0x58, 0x100, 0x130, 0x190, 0xe00, 0xfd0, 0x4000, 0x8000,
                 0x8020, 0xfffc, 0x10000, 0x10020, 0x100a0, 0x100b0, 0x1fffc}) {
        const write_effects fx = wr(rf, off, 0xffffffff);
        EXPECT_TRUE(fx.ignored) << std::hex << off;
        EXPECT_FALSE(fx.illegal_access) << std::hex << off;
        EXPECT_EQ(rd(rf, off), 0u) << std::hex << off;
    }
}

TEST(register_file, legal_access_rules) {
    EXPECT_TRUE(register_file::is_legal_access(0x20, 4));
    EXPECT_TRUE(register_file::is_legal_access(0x84, 4));
    EXPECT_TRUE(register_file::is_legal_access(0x1fffc, 4));
    EXPECT_TRUE(register_file::is_legal_access(0x80, 8));
    EXPECT_TRUE(register_file::is_legal_access(0xd0, 8));
    EXPECT_FALSE(register_file::is_legal_access(0x22, 4));  // unaligned
    EXPECT_FALSE(register_file::is_legal_access(0x20, 2));  // size
    EXPECT_FALSE(register_file::is_legal_access(0x20, 1));  // size
    EXPECT_FALSE(register_file::is_legal_access(0x20, 16)); // size
    EXPECT_FALSE(register_file::is_legal_access(0x20, 8));  // CR0 + CR0ACK pair
    EXPECT_FALSE(register_file::is_legal_access(0x84, 8));  // unaligned 64-bit
    EXPECT_FALSE(register_file::is_legal_access(0x98, 8));  // CMDQ_PROD + CONS pair
    EXPECT_FALSE(register_file::is_legal_access(0x100a8, 8));
    EXPECT_FALSE(register_file::is_legal_access(0x20000, 4)); // beyond Page 1
}

TEST(register_file, illegal_accesses_are_raz_wi) {
    register_file rf(default_params());
    wr(rf, 0x28, 0x5);
    EXPECT_EQ(rf.read(0x28, 2), 0u);
    EXPECT_EQ(rf.read(0x29, 4), 0u);
    EXPECT_EQ(rf.read(0x28, 8), 0u);

    write_effects fx = rf.write(0x28, 2, 0xfff);
    EXPECT_TRUE(fx.illegal_access);
    EXPECT_TRUE(fx.ignored);
    fx = rf.write(0x20, 8, 0x0000000d0000000du); // 64-bit to CR0/CR0ACK: no effect
    EXPECT_TRUE(fx.illegal_access);
    EXPECT_FALSE(fx.cr0_written);
    EXPECT_EQ(rd(rf, 0x20), 0u);
    EXPECT_EQ(rd(rf, 0x28), 0x5u);
    EXPECT_TRUE(rf.write(0x98, 8, 0x0000000300000003u).illegal_access);
    EXPECT_EQ(rd(rf, 0x98), 0u);
    EXPECT_TRUE(rf.write(0x20000, 4, 1).illegal_access);
}

TEST(register_file, thirty_two_bit_write_ignores_upper_value_bits) {
    register_file rf(default_params());
    wr64(rf, 0x90, 0); // keep CMDQ_BASE zero
    rf.write(0x98, 4, 0xffffffff00000007u);
    EXPECT_EQ(rd(rf, 0x98), 0x7u);
    rf.write(0x90, 4, 0xffffffff00000008u); // low half of a 64-bit register
    EXPECT_EQ(rd64(rf, 0x90), 0x8u);
}

} // namespace
} // namespace smmu
