// SMMUv3 programming interface: register offsets, field layouts, ID register
// encoding and queue pointer arithmetic (IHI0070 §6.3; reference §1).
#pragma once

#include <cstdint>
#include <optional>

#include "model/arch/bits.h"
#include "model/arch/features.h"

namespace smmu::arch {

/// Size of each of the two register pages.
inline constexpr std::uint64_t reg_page_size = 0x10000;

/// Register offsets from the SMMU base (Page 0 unless noted).
namespace reg {
inline constexpr std::uint64_t idr0 = 0x0000;
inline constexpr std::uint64_t idr1 = 0x0004;
inline constexpr std::uint64_t idr2 = 0x0008;
inline constexpr std::uint64_t idr3 = 0x000c;
inline constexpr std::uint64_t idr4 = 0x0010;
inline constexpr std::uint64_t idr5 = 0x0014;
inline constexpr std::uint64_t iidr = 0x0018;
inline constexpr std::uint64_t aidr = 0x001c;
inline constexpr std::uint64_t cr0 = 0x0020;
inline constexpr std::uint64_t cr0ack = 0x0024;
inline constexpr std::uint64_t cr1 = 0x0028;
inline constexpr std::uint64_t cr2 = 0x002c;
inline constexpr std::uint64_t statusr = 0x0040;
inline constexpr std::uint64_t gbpa = 0x0044;
inline constexpr std::uint64_t agbpa = 0x0048;
inline constexpr std::uint64_t irq_ctrl = 0x0050;
inline constexpr std::uint64_t irq_ctrlack = 0x0054;
inline constexpr std::uint64_t gerror = 0x0060;
inline constexpr std::uint64_t gerrorn = 0x0064;
inline constexpr std::uint64_t gerror_irq_cfg0 = 0x0068; ///< 64-bit
inline constexpr std::uint64_t gerror_irq_cfg1 = 0x0070;
inline constexpr std::uint64_t gerror_irq_cfg2 = 0x0074;
inline constexpr std::uint64_t strtab_base = 0x0080; ///< 64-bit
inline constexpr std::uint64_t strtab_base_cfg = 0x0088;
inline constexpr std::uint64_t cmdq_base = 0x0090; ///< 64-bit
inline constexpr std::uint64_t cmdq_prod = 0x0098;
inline constexpr std::uint64_t cmdq_cons = 0x009c;
inline constexpr std::uint64_t eventq_base = 0x00a0;       ///< 64-bit
inline constexpr std::uint64_t eventq_prod_alias = 0x00a8; ///< Page 0 alias of Page 1 EVENTQ_PROD
inline constexpr std::uint64_t eventq_cons_alias = 0x00ac;
inline constexpr std::uint64_t eventq_irq_cfg0 = 0x00b0; ///< 64-bit
inline constexpr std::uint64_t eventq_irq_cfg1 = 0x00b8;
inline constexpr std::uint64_t eventq_irq_cfg2 = 0x00bc;
inline constexpr std::uint64_t priq_base = 0x00c0; ///< 64-bit
inline constexpr std::uint64_t priq_prod_alias = 0x00c8;
inline constexpr std::uint64_t priq_cons_alias = 0x00cc;
inline constexpr std::uint64_t priq_irq_cfg0 = 0x00d0; ///< 64-bit
inline constexpr std::uint64_t priq_irq_cfg1 = 0x00d8;
inline constexpr std::uint64_t priq_irq_cfg2 = 0x00dc;
inline constexpr std::uint64_t eventq_prod = reg_page_size + 0x00a8; ///< Page 1
inline constexpr std::uint64_t eventq_cons = reg_page_size + 0x00ac; ///< Page 1
inline constexpr std::uint64_t priq_prod = reg_page_size + 0x00c8;   ///< Page 1
inline constexpr std::uint64_t priq_cons = reg_page_size + 0x00cc;   ///< Page 1
} // namespace reg

/// True for the registers that are 64 bits wide (reference §1.2).
bool is_64bit_register(std::uint64_t offset);

namespace idr0 {
inline constexpr field s2p = bit(0), s1p = bit(1), ttf{3, 2}, cohacc = bit(4), btm = bit(5);
inline constexpr field httu{7, 6}, dormhint = bit(8), hyp = bit(9), ats = bit(10), ns1ats = bit(11);
inline constexpr field asid16 = bit(12), msi = bit(13), sev = bit(14), atos = bit(15),
                       pri = bit(16);
inline constexpr field vmw = bit(17), vmid16 = bit(18), cd2l = bit(19), vatos = bit(20);
inline constexpr field ttendian{22, 21}, atsrecerr = bit(23), stall_model{25, 24};
inline constexpr field term_model = bit(26), st_level{28, 27}, rme_impl = bit(30);
} // namespace idr0

namespace idr1 {
inline constexpr field sidsize{5, 0}, ssidsize{10, 6}, priqs{15, 11}, eventqs{20, 16},
    cmdqs{25, 21};
inline constexpr field attr_perms_ovr = bit(26), attr_types_ovr = bit(27), rel = bit(28);
inline constexpr field queues_preset = bit(29), tables_preset = bit(30), ecmdq = bit(31);
} // namespace idr1

namespace idr3 {
inline constexpr field had = bit(2), pbha = bit(3), xnx = bit(4), pps = bit(5), mpam = bit(7);
inline constexpr field fwb = bit(8), stt = bit(9), ril = bit(10), bbml{12, 11}, e0pd = bit(13);
inline constexpr field ptwnnc = bit(14), dpt = bit(15);
} // namespace idr3

namespace idr5 {
inline constexpr field oas{2, 0}, gran4k = bit(4), gran16k = bit(5), gran64k = bit(6), ds = bit(7);
inline constexpr field d128 = bit(8), vax{11, 10}, stall_max{31, 16};
} // namespace idr5

namespace iidr {
inline constexpr field implementer{11, 0}, revision{15, 12}, variant{19, 16}, product_id{31, 20};
}
namespace aidr {
inline constexpr field minor{3, 0}, major{7, 4};
}

namespace cr0 {
inline constexpr field smmuen = bit(0), priqen = bit(1), eventqen = bit(2), cmdqen = bit(3);
inline constexpr field atschk = bit(4), vmw{8, 6};
inline constexpr std::uint32_t writable_mask = 0x1df; ///< v3.2 fields; bit 5 and 31:9 RES0
} // namespace cr0

namespace cr1 {
inline constexpr field queue_ic{1, 0}, queue_oc{3, 2}, queue_sh{5, 4};
inline constexpr field table_ic{7, 6}, table_oc{9, 8}, table_sh{11, 10};
inline constexpr std::uint32_t writable_mask = 0xfff;
} // namespace cr1

namespace cr2 {
inline constexpr field e2h = bit(0), recinvsid = bit(1), ptm = bit(2), rec_cfg_ats = bit(3);
inline constexpr std::uint32_t writable_mask = 0xf;
} // namespace cr2

namespace gbpa {
inline constexpr field memattr{3, 0}, mtcfg = bit(4), alloccfg{11, 8}, shcfg{13, 12};
inline constexpr field privcfg{17, 16}, instcfg{19, 18}, abort = bit(20), update = bit(31);
inline constexpr std::uint32_t writable_mask = 0x001f3f1f; ///< attribute fields, without Update
} // namespace gbpa

namespace irq_ctrl {
inline constexpr field gerror_irqen = bit(0), priq_irqen = bit(1), eventq_irqen = bit(2);
inline constexpr std::uint32_t writable_mask = 0x7;
} // namespace irq_ctrl

/// GERROR / GERRORN bits: an error is active while the two bits differ.
namespace gerror {
inline constexpr field cmdq_err = bit(0), eventq_abt_err = bit(2), priq_abt_err = bit(3);
inline constexpr field msi_cmdq_abt_err = bit(4), msi_eventq_abt_err = bit(5);
inline constexpr field msi_priq_abt_err = bit(6), msi_gerror_abt_err = bit(7), sfm_err = bit(8);
inline constexpr std::uint32_t implemented_mask = 0x1fd; ///< bits 0 and 2..8 (v3.0-3.2)
} // namespace gerror

/// *_IRQ_CFG0/1/2: MSI address, data, attributes.
namespace irq_cfg {
inline constexpr field addr{51, 2};   ///< in CFG0 (bits 55:52 RES0 for a 52-bit PA model)
inline constexpr field memattr{3, 0}; ///< in CFG2
inline constexpr field sh{5, 4};      ///< in CFG2
inline constexpr field lo = bit(31);  ///< PRIQ_IRQ_CFG2 only
} // namespace irq_cfg

namespace strtab_base {
inline constexpr field addr{51, 6}, ra = bit(62);
}
namespace strtab_base_cfg {
inline constexpr field log2size{5, 0}, split{10, 6}, fmt{17, 16};
inline constexpr std::uint32_t writable_mask = 0x307ff;
} // namespace strtab_base_cfg

/// CMDQ_BASE / EVENTQ_BASE / PRIQ_BASE.
namespace queue_base {
inline constexpr field log2size{4, 0}, addr{51, 5}, ra_wa = bit(62);
}

/// PROD/CONS pointer register fields other than the wrap:index pair.
namespace queue_ptr {
inline constexpr field cmdq_err{30, 24};   ///< CMDQ_CONS.ERR
inline constexpr field overflow = bit(31); ///< EVENTQ/PRIQ PROD.OVFLG and CONS.OVACKFLG
inline constexpr std::uint32_t wrap_index_mask = 0xfffff; ///< [19:0]
} // namespace queue_ptr

/// Stream table format in STRTAB_BASE_CFG.FMT.
enum class strtab_fmt : std::uint8_t { linear = 0, two_level = 1 };

/// STRTAB_BASE_CFG decoded with the architected fallbacks: FMT other than 01
/// behaves as linear; SPLIT other than 6, 8 or 10 behaves as 6.
struct strtab_config {
    std::uint64_t base = 0;
    strtab_fmt fmt = strtab_fmt::linear;
    unsigned log2size = 0;
    unsigned split = 6;
};
strtab_config decode_strtab(std::uint64_t base_reg, std::uint32_t cfg_reg);

/// A decoded queue base register, with LOG2SIZE capped at the implemented
/// maximum and the address aligned to max(queue bytes, 32 B) as the SMMU does.
struct queue_config {
    std::uint64_t base = 0;
    unsigned log2size = 0;
    unsigned entry_bytes = 0;

    std::uint32_t entries() const { return std::uint32_t{1} << log2size; }
    std::uint64_t entry_address(std::uint32_t index) const {
        return base + std::uint64_t{index} * entry_bytes;
    }
};
queue_config decode_queue_base(std::uint64_t base_reg, unsigned max_log2size, unsigned entry_bytes);

inline constexpr unsigned command_bytes = 16;
inline constexpr unsigned event_bytes = 32;
inline constexpr unsigned pri_bytes = 16;

/// Queue pointer arithmetic on the (wrap:index) pair of a PROD or CONS value
/// for a queue of 2^log2size entries (reference §1.4). Bits other than
/// wrap:index are ignored by the predicates and preserved by nothing: callers
/// keep ERR / OVFLG themselves.
class queue_ptr_math {
public:
    explicit constexpr queue_ptr_math(unsigned log2size)
        : m_log2size(log2size) {}

    constexpr unsigned log2size() const { return m_log2size; }
    constexpr std::uint32_t index_mask() const { return (std::uint32_t{1} << m_log2size) - 1; }
    constexpr std::uint32_t wrap_bit() const { return std::uint32_t{1} << m_log2size; }
    constexpr std::uint32_t wrap_index_mask() const { return (wrap_bit() << 1) - 1; }

    constexpr std::uint32_t index(std::uint32_t ptr) const { return ptr & index_mask(); }
    constexpr bool wrap(std::uint32_t ptr) const { return (ptr & wrap_bit()) != 0; }

    constexpr bool empty(std::uint32_t prod, std::uint32_t cons) const {
        return ((prod ^ cons) & wrap_index_mask()) == 0;
    }
    constexpr bool full(std::uint32_t prod, std::uint32_t cons) const {
        return index(prod) == index(cons) && wrap(prod) != wrap(cons);
    }
    /// Number of entries written by the producer and not yet consumed.
    constexpr std::uint32_t used(std::uint32_t prod, std::uint32_t cons) const {
        return ((prod & wrap_index_mask()) - (cons & wrap_index_mask())) & wrap_index_mask();
    }
    constexpr std::uint32_t space(std::uint32_t prod, std::uint32_t cons) const {
        return (std::uint32_t{1} << m_log2size) - used(prod, cons);
    }
    /// (wrap:index) + n modulo 2^(log2size+1); other bits of ptr are dropped.
    constexpr std::uint32_t advance(std::uint32_t ptr, std::uint32_t n = 1) const {
        return (ptr + n) & wrap_index_mask();
    }
    /// A state a producer and consumer can legally be in: used() never exceeds the size.
    constexpr bool consistent(std::uint32_t prod, std::uint32_t cons) const {
        return used(prod, cons) <= (std::uint32_t{1} << m_log2size);
    }

private:
    unsigned m_log2size;
};

/// Encodes the OAS field for an output-address size in bits; nullopt if it has no encoding.
std::optional<unsigned> encode_oas(unsigned bits);
/// Decodes an OAS / IPS / PS field (3 bits) to a size in bits (reserved 111 -> 56, v3.4).
unsigned decode_oas(unsigned field_value);

/// ID registers from a feature set, and back (the driver's probe).
struct id_registers {
    std::uint32_t idr0 = 0, idr1 = 0, idr3 = 0, idr5 = 0;
};
id_registers encode_id_registers(const feature_set& f);
feature_set decode_id_registers(const id_registers& regs);

} // namespace smmu::arch
