// A reusable address router: any number of initiators bind to `in`, and `out`
// binds to N targets (target index = binding order). An address map sends each
// range [base, base + size) to one target, the address rebased so that `base`
// becomes `target_base` (0 by default: the offset into the range). Debug
// transport and DMI follow the same map; DMI regions granted by a target are
// translated back into the initiators' address space and clipped to the range,
// and a target's invalidate_direct_mem_ptr goes to every initiator with the
// range translated the same way. Accesses no range covers, or that cross the
// end of their range, get TLM_ADDRESS_ERROR_RESPONSE.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

namespace smmu::platform {

class router : public sc_core::sc_module {
public:
    tlm_utils::multi_passthrough_target_socket<router> in;
    tlm_utils::multi_passthrough_initiator_socket<router> out;

    explicit router(const sc_core::sc_module_name& name);

    /// Routes [base, base + size) to the target bound `target`-th on `out`, at
    /// target address `target_base` + (address - base). Throws
    /// std::invalid_argument for an empty range, one that wraps, or one that
    /// overlaps a range already mapped.
    void map(std::uint64_t base, std::uint64_t size, unsigned target,
             std::uint64_t target_base = 0);

    std::uint64_t unrouted_accesses() const { return m_unrouted; }

private:
    struct range {
        std::uint64_t base;
        std::uint64_t last; ///< inclusive
        unsigned target;
        std::uint64_t target_base;
        std::uint64_t to_target(std::uint64_t addr) const { return addr - base + target_base; }
        std::uint64_t from_target(std::uint64_t addr) const { return addr - target_base + base; }
        std::uint64_t target_last() const { return last - base + target_base; }
    };

    /// The range holding [addr, addr + len) (len 0 counts as 1), if any.
    const range* find(std::uint64_t addr, std::uint64_t len) const;

    void b_transport(int id, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
    unsigned transport_dbg(int id, tlm::tlm_generic_payload& trans);
    bool get_direct_mem_ptr(int id, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
    void invalidate_direct_mem_ptr(int target, sc_dt::uint64 start, sc_dt::uint64 end);
    static void translate_dmi(const range& r, tlm::tlm_dmi& dmi);

    std::vector<range> m_ranges;
    std::uint64_t m_unrouted = 0;
};

} // namespace smmu::platform
