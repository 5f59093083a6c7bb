#include <gtest/gtest.h>

#include "model/arch/registers.h"

namespace smmu::arch {
namespace {

TEST(registers, page0_and_page1_offsets) {
    EXPECT_EQ(reg::idr0, 0x0u);
    EXPECT_EQ(reg::idr5, 0x14u);
    EXPECT_EQ(reg::iidr, 0x18u);
    EXPECT_EQ(reg::aidr, 0x1cu);
    EXPECT_EQ(reg::cr0, 0x20u);
    EXPECT_EQ(reg::cr0ack, 0x24u);
    EXPECT_EQ(reg::cr2, 0x2cu);
    EXPECT_EQ(reg::gbpa, 0x44u);
    EXPECT_EQ(reg::irq_ctrl, 0x50u);
    EXPECT_EQ(reg::irq_ctrlack, 0x54u);
    EXPECT_EQ(reg::gerror, 0x60u);
    EXPECT_EQ(reg::gerrorn, 0x64u);
    EXPECT_EQ(reg::gerror_irq_cfg0, 0x68u);
    EXPECT_EQ(reg::gerror_irq_cfg2, 0x74u);
    EXPECT_EQ(reg::strtab_base, 0x80u);
    EXPECT_EQ(reg::strtab_base_cfg, 0x88u);
    EXPECT_EQ(reg::cmdq_base, 0x90u);
    EXPECT_EQ(reg::cmdq_prod, 0x98u);
    EXPECT_EQ(reg::cmdq_cons, 0x9cu);
    EXPECT_EQ(reg::eventq_base, 0xa0u);
    EXPECT_EQ(reg::eventq_irq_cfg0, 0xb0u);
    EXPECT_EQ(reg::priq_base, 0xc0u);
    EXPECT_EQ(reg::priq_irq_cfg2, 0xdcu);
    EXPECT_EQ(reg::eventq_prod, 0x100a8u);
    EXPECT_EQ(reg::eventq_cons, 0x100acu);
    EXPECT_EQ(reg::priq_prod, 0x100c8u);
    EXPECT_EQ(reg::priq_cons, 0x100ccu);
}

TEST(registers, register_widths) {
    for (auto off : {reg::gerror_irq_cfg0, reg::strtab_base, reg::cmdq_base, reg::eventq_base,
                     reg::eventq_irq_cfg0, reg::priq_base, reg::priq_irq_cfg0})
        EXPECT_TRUE(is_64bit_register(off)) << std::hex << off;
    for (auto off : {reg::idr0, reg::cr0, reg::gerror_irq_cfg1, reg::strtab_base_cfg,
                     reg::cmdq_prod, reg::eventq_prod})
        EXPECT_FALSE(is_64bit_register(off)) << std::hex << off;
}

TEST(registers, control_register_fields) {
    EXPECT_EQ(cr0::smmuen.set(0, 1), 0x1u);
    EXPECT_EQ(cr0::priqen.set(0, 1), 0x2u);
    EXPECT_EQ(cr0::eventqen.set(0, 1), 0x4u);
    EXPECT_EQ(cr0::cmdqen.set(0, 1), 0x8u);
    EXPECT_EQ(cr0::atschk.set(0, 1), 0x10u);
    EXPECT_EQ(cr0::vmw.set(0, 7), 0x1c0u);
    EXPECT_EQ(cr1::table_sh.set(0, 3), 0xc00u);
    EXPECT_EQ(cr1::table_oc.set(0, 1), 0x100u);
    EXPECT_EQ(cr1::table_ic.set(0, 1), 0x40u);
    EXPECT_EQ(cr1::queue_sh.set(0, 3), 0x30u);
    EXPECT_EQ(cr1::queue_oc.set(0, 1), 0x4u);
    EXPECT_EQ(cr1::queue_ic.set(0, 1), 0x1u);
    EXPECT_EQ(cr2::e2h.set(0, 1), 0x1u);
    EXPECT_EQ(cr2::recinvsid.set(0, 1), 0x2u);
    EXPECT_EQ(cr2::ptm.set(0, 1), 0x4u);
    EXPECT_EQ(gbpa::update.set(0, 1), 0x80000000u);
    EXPECT_EQ(gbpa::abort.set(0, 1), 0x100000u);
    EXPECT_EQ(gbpa::instcfg.set(0, 3), 0xc0000u);
    EXPECT_EQ(gbpa::privcfg.set(0, 3), 0x30000u);
    EXPECT_EQ(gbpa::shcfg.set(0, 1), 0x1000u);
    EXPECT_EQ(gbpa::alloccfg.set(0, 0xf), 0xf00u);
    EXPECT_EQ(gbpa::mtcfg.set(0, 1), 0x10u);
    EXPECT_EQ(gbpa::memattr.set(0, 0xf), 0xfu);
    EXPECT_EQ(irq_ctrl::eventq_irqen.set(0, 1), 0x4u);
    EXPECT_EQ(irq_ctrl::priq_irqen.set(0, 1), 0x2u);
    EXPECT_EQ(irq_ctrl::gerror_irqen.set(0, 1), 0x1u);
}

TEST(registers, gerror_bits) {
    EXPECT_EQ(gerror::cmdq_err.set(0, 1), 0x1u);
    EXPECT_EQ(gerror::eventq_abt_err.set(0, 1), 0x4u);
    EXPECT_EQ(gerror::priq_abt_err.set(0, 1), 0x8u);
    EXPECT_EQ(gerror::msi_cmdq_abt_err.set(0, 1), 0x10u);
    EXPECT_EQ(gerror::msi_eventq_abt_err.set(0, 1), 0x20u);
    EXPECT_EQ(gerror::msi_priq_abt_err.set(0, 1), 0x40u);
    EXPECT_EQ(gerror::msi_gerror_abt_err.set(0, 1), 0x80u);
    EXPECT_EQ(gerror::sfm_err.set(0, 1), 0x100u);
    EXPECT_EQ(gerror::implemented_mask, 0x1fdu);
}

TEST(registers, base_and_pointer_fields) {
    EXPECT_EQ(strtab_base::ra.set(0, 1), 0x4000000000000000ull);
    EXPECT_EQ(strtab_base::addr.mask(), 0x000fffffffffffc0ull);
    EXPECT_EQ(strtab_base_cfg::fmt.set(0, 1), 0x10000u);
    EXPECT_EQ(strtab_base_cfg::split.set(0, 8), 0x200u);
    EXPECT_EQ(strtab_base_cfg::log2size.set(0, 16), 0x10u);
    EXPECT_EQ(queue_base::addr.mask(), 0x000fffffffffffe0ull);
    EXPECT_EQ(queue_base::log2size.mask(), 0x1full);
    EXPECT_EQ(queue_ptr::cmdq_err.set(0, 3), 0x03000000u);
    EXPECT_EQ(queue_ptr::overflow.set(0, 1), 0x80000000u);
    EXPECT_EQ(irq_cfg::addr.mask(), 0x000ffffffffffffcull);
    EXPECT_EQ(irq_cfg::lo.set(0, 1), 0x80000000u);
}

TEST(registers, strtab_decode_applies_fallbacks_and_alignment) {
    // Linear, 2^8 STEs: table aligned to 2^(8+6) = 16 KiB; low bits ignored.
    auto lin = decode_strtab(0x4000000080123fc0ull, 0x00000008);
    EXPECT_EQ(lin.fmt, strtab_fmt::linear);
    EXPECT_EQ(lin.log2size, 8u);
    EXPECT_EQ(lin.base, 0x80120000ull);
    // 2-level, LOG2SIZE 16, SPLIT 8: L1 has 256 8-byte entries = 2 KiB alignment.
    auto two = decode_strtab(0x80100fc0ull, 0x00010210);
    EXPECT_EQ(two.fmt, strtab_fmt::two_level);
    EXPECT_EQ(two.split, 8u);
    EXPECT_EQ(two.base, 0x80100800ull);
    // Reserved FMT 10 behaves as linear; reserved SPLIT 7 behaves as 6.
    auto odd = decode_strtab(0x80000000ull, 0x000201c4);
    EXPECT_EQ(odd.fmt, strtab_fmt::linear);
    EXPECT_EQ(odd.split, 6u);
    // Addresses above bit 51 are RES0 for a 52-bit PA model.
    EXPECT_EQ(decode_strtab(0x00f0000080000000ull, 0).base, 0x80000000ull);
}

TEST(registers, queue_base_decode_caps_size_and_aligns) {
    auto q = decode_queue_base(0x4000000081230000ull | 0x1f, 8, command_bytes);
    EXPECT_EQ(q.log2size, 8u) << "capped at IDR1.CMDQS";
    EXPECT_EQ(q.base, 0x81230000ull);
    EXPECT_EQ(q.entry_address(3), 0x81230030ull);
    EXPECT_EQ(q.entries(), 256u);
    // A one-entry command queue is still 32-byte aligned.
    auto tiny = decode_queue_base(0x81230060ull, 19, command_bytes);
    EXPECT_EQ(tiny.log2size, 0u);
    EXPECT_EQ(tiny.base, 0x81230060ull);
    // 2^4 events of 32 B: 512-byte alignment.
    auto ev = decode_queue_base(0x81230324ull, 19, event_bytes);
    EXPECT_EQ(ev.log2size, 4u);
    EXPECT_EQ(ev.base, 0x81230200ull);
}

TEST(queue_ptr_math, empty_full_and_wrap) {
    queue_ptr_math q(3); // 8 entries, wrap is bit 3
    EXPECT_TRUE(q.empty(0x0, 0x0));
    EXPECT_TRUE(q.empty(0xd, 0xd));
    EXPECT_FALSE(q.full(0x0, 0x0));
    EXPECT_TRUE(q.full(0x8, 0x0));
    EXPECT_TRUE(q.full(0x3, 0xb));
    EXPECT_FALSE(q.empty(0x8, 0x0));
    EXPECT_EQ(q.used(0x8, 0x0), 8u);
    EXPECT_EQ(q.used(0x2, 0xe), 4u) << "producer wrapped back to index 2";
    EXPECT_EQ(q.space(0x2, 0xe), 4u);
    EXPECT_EQ(q.advance(0x7), 0x8u);
    EXPECT_EQ(q.advance(0xf), 0x0u);
    EXPECT_EQ(q.advance(0xe, 3), 0x1u);
    EXPECT_EQ(q.index(0xd), 5u);
    EXPECT_TRUE(q.wrap(0xd));
}

TEST(queue_ptr_math, ignores_bits_above_wrap) {
    queue_ptr_math q(3);
    const std::uint32_t err_bits = 0x01000000; // CMDQ_CONS.ERR
    EXPECT_TRUE(q.empty(0x5, 0x5 | err_bits));
    EXPECT_TRUE(q.full(0x80000005u, 0xd));
    EXPECT_EQ(q.advance(0x80000007u), 0x8u);
}

TEST(queue_ptr_math, one_entry_queue) {
    queue_ptr_math q(0); // index has no bits, wrap is bit 0
    EXPECT_TRUE(q.empty(0, 0));
    EXPECT_TRUE(q.full(1, 0));
    EXPECT_EQ(q.advance(1), 0u);
    EXPECT_EQ(q.space(0, 0), 1u);
}

TEST(queue_ptr_math, consistency) {
    queue_ptr_math q(3);
    EXPECT_TRUE(q.consistent(0x8, 0x0));
    EXPECT_TRUE(q.consistent(0x5, 0x2));
    EXPECT_FALSE(q.consistent(0x2, 0x5)) << "WR < RD with equal wraps";
    EXPECT_FALSE(q.consistent(0xd, 0x2)) << "WR > RD with different wraps";
}

TEST(registers, oas_encoding) {
    EXPECT_EQ(encode_oas(32), 0u);
    EXPECT_EQ(encode_oas(44), 4u);
    EXPECT_EQ(encode_oas(48), 5u);
    EXPECT_EQ(encode_oas(52), 6u);
    EXPECT_FALSE(encode_oas(56).has_value());
    EXPECT_FALSE(encode_oas(47).has_value());
    EXPECT_EQ(decode_oas(2), 40u);
    EXPECT_EQ(decode_oas(3), 42u);
    EXPECT_EQ(decode_oas(6), 52u);
}

TEST(registers, id_registers_golden) {
    feature_set f{};
    f.s1p = f.s2p = true;
    f.ttf_aarch32 = false;
    f.ttf_aarch64 = true;
    f.cohacc = true;
    f.btm = false;
    f.httu = httu_level::none;
    f.hyp = true;
    f.ats = true;
    f.ns1ats = true;
    f.asid16 = true;
    f.msi = true;
    f.sev = true;
    f.atos = f.pri = f.vmw = false;
    f.vmid16 = true;
    f.cd2l = true;
    f.vatos = false;
    f.endian = tt_endian::little;
    f.stalls = stall_model::terminate_only;
    f.term_model = false;
    f.st_level_2 = true;
    // ST_LEVEL=01, STALL_MODEL=01, TTENDIAN=10, CD2L, VMID16, SEV, MSI, ASID16, NS1ATS, ATS,
    // HYP, COHACC, TTF=10, S1P, S2P
    EXPECT_EQ(encode_id_registers(f).idr0, 0x094c7e1bu);

    f.sid_bits = 16;
    f.ssid_bits = 20;
    f.cmdq_log2 = 19;
    f.eventq_log2 = 19;
    f.priq_log2 = 0;
    f.attr_perms_ovr = f.attr_types_ovr = true;
    EXPECT_EQ(encode_id_registers(f).idr1, 0x0e730510u);

    f.had = f.xnx = f.fwb = f.ril = true;
    f.stt = false;
    f.bbml = 2;
    EXPECT_EQ(encode_id_registers(f).idr3, 0x00001514u);

    f.oas_bits = 48;
    f.gran4k = f.gran16k = f.gran64k = true;
    f.ds = false;
    f.vax52 = false;
    f.stall_max = 0;
    EXPECT_EQ(encode_id_registers(f).idr5, 0x00000075u);
}

TEST(registers, id_registers_round_trip_and_reserved_values) {
    feature_set f{};
    f.s2p = false;
    f.ats = false;
    f.sid_bits = 7;
    f.ssid_bits = 0;
    f.oas_bits = 52;
    f.gran16k = false;
    f.httu = httu_level::access_and_dirty;
    f.stalls = stall_model::stall_forced;
    f.endian = tt_endian::big;
    f.vax52 = true;
    f.bbml = 1;
    const auto back = decode_id_registers(encode_id_registers(f));
    EXPECT_FALSE(back.s2p);
    EXPECT_FALSE(back.ats);
    EXPECT_EQ(back.sid_bits, 7u);
    EXPECT_EQ(back.ssid_bits, 0u);
    EXPECT_EQ(back.oas_bits, 52u);
    EXPECT_FALSE(back.gran16k);
    EXPECT_EQ(back.httu, httu_level::access_and_dirty);
    EXPECT_EQ(back.stalls, stall_model::stall_forced);
    EXPECT_EQ(back.endian, tt_endian::big);
    EXPECT_TRUE(back.vax52);
    EXPECT_EQ(back.bbml, 1u);
    EXPECT_EQ(back.ias_bits(), 52u);

    // Reserved encodings decode to something usable, never out of the enum's range.
    id_registers odd{};
    odd.idr0 = 0x03200000u; // STALL_MODEL 11, TTENDIAN 01
    const auto d = decode_id_registers(odd);
    EXPECT_EQ(d.stalls, stall_model::stall_and_terminate);
    EXPECT_EQ(d.endian, tt_endian::mixed);
}

TEST(registers, ias_derivation) {
    feature_set f{};
    f.oas_bits = 36;
    f.ttf_aarch32 = true;
    EXPECT_EQ(f.ias_bits(), 40u) << "AArch32 LPAE needs 40-bit IPA";
    f.ttf_aarch32 = false;
    EXPECT_EQ(f.ias_bits(), 36u);
}

} // namespace
} // namespace smmu::arch
