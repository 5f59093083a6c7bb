#include "platforms/parts/router.h"

#include <algorithm>
#include <stdexcept>

namespace smmu::platform {

router::router(const sc_core::sc_module_name& name)
    : sc_core::sc_module(name)
    , in("in")
    , out("out") {
    in.register_b_transport(this, &router::b_transport);
    in.register_transport_dbg(this, &router::transport_dbg);
    in.register_get_direct_mem_ptr(this, &router::get_direct_mem_ptr);
    out.register_invalidate_direct_mem_ptr(this, &router::invalidate_direct_mem_ptr);
}

void router::map(std::uint64_t base, std::uint64_t size, unsigned target,
                 std::uint64_t target_base) {
    if (size == 0 || base + (size - 1) < base || target_base + (size - 1) < target_base)
        throw std::invalid_argument("router: empty or wrapping range");
    const range r{base, base + (size - 1), target, target_base};
    for (const range& o : m_ranges)
        if (r.base <= o.last && o.base <= r.last)
            throw std::invalid_argument("router: overlapping ranges");
    m_ranges.push_back(r);
}

const router::range* router::find(std::uint64_t addr, std::uint64_t len) const {
    const std::uint64_t last = addr + (len == 0 ? 0 : len - 1);
    if (last < addr)
        return nullptr;
    for (const range& r : m_ranges)
        if (addr >= r.base && last <= r.last)
            return &r;
    return nullptr;
}

void router::b_transport(int, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
    const std::uint64_t addr = trans.get_address();
    const range* r = find(addr, trans.get_data_length());
    if (r == nullptr || r->target >= static_cast<unsigned>(out.size())) {
        ++m_unrouted;
        trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
    }
    trans.set_address(r->to_target(addr));
    out[static_cast<int>(r->target)]->b_transport(trans, delay);
    trans.set_address(addr);
}

unsigned router::transport_dbg(int, tlm::tlm_generic_payload& trans) {
    const std::uint64_t addr = trans.get_address();
    const range* r = find(addr, trans.get_data_length());
    if (r == nullptr || r->target >= static_cast<unsigned>(out.size()))
        return 0;
    trans.set_address(r->to_target(addr));
    const unsigned n = out[static_cast<int>(r->target)]->transport_dbg(trans);
    trans.set_address(addr);
    return n;
}

bool router::get_direct_mem_ptr(int, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
    const std::uint64_t addr = trans.get_address();
    const range* r = find(addr, 1);
    if (r == nullptr || r->target >= static_cast<unsigned>(out.size())) {
        dmi.set_start_address(addr);
        dmi.set_end_address(addr);
        return false;
    }
    trans.set_address(r->to_target(addr));
    const bool granted = out[static_cast<int>(r->target)]->get_direct_mem_ptr(trans, dmi);
    trans.set_address(addr);
    translate_dmi(*r, dmi);
    return granted;
}

void router::translate_dmi(const range& r, tlm::tlm_dmi& dmi) {
    std::uint64_t start = dmi.get_start_address();
    std::uint64_t end = dmi.get_end_address();
    if (start < r.target_base) {
        if (dmi.get_dmi_ptr() != nullptr)
            dmi.set_dmi_ptr(dmi.get_dmi_ptr() + (r.target_base - start));
        start = r.target_base;
    }
    end = std::min<std::uint64_t>(end, r.target_last());
    dmi.set_start_address(r.from_target(start));
    dmi.set_end_address(r.from_target(std::max(start, end)));
}

void router::invalidate_direct_mem_ptr(int target, sc_dt::uint64 start, sc_dt::uint64 end) {
    for (const range& r : m_ranges) {
        if (static_cast<int>(r.target) != target || end < r.target_base || start > r.target_last())
            continue;
        const std::uint64_t lo = r.from_target(std::max<std::uint64_t>(start, r.target_base));
        const std::uint64_t hi = r.from_target(std::min<std::uint64_t>(end, r.target_last()));
        for (unsigned i = 0; i < in.size(); ++i)
            in[static_cast<int>(i)]->invalidate_direct_mem_ptr(lo, hi);
    }
}

} // namespace smmu::platform
