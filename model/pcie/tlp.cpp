#include "model/pcie/tlp.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace smmu::pcie {

requester_id make_requester_id(unsigned bus, unsigned device, unsigned function) {
    if (bus > 255)
        throw std::invalid_argument("requester ID: bus " + std::to_string(bus) + " exceeds 255");
    if (device > 31)
        throw std::invalid_argument("requester ID: device " + std::to_string(device) +
                                    " exceeds 31");
    if (function > 7)
        throw std::invalid_argument("requester ID: function " + std::to_string(function) +
                                    " exceeds 7");
    return static_cast<requester_id>(bus << 8 | device << 3 | function);
}

::tlm::tlm_extension_base* tlp_extension::clone() const {
    return new tlp_extension(*this);
}

void tlp_extension::copy_from(const ::tlm::tlm_extension_base& other) {
    // TLM only calls copy_from with an extension of the same ID, i.e. the same type.
    *this = static_cast<const tlp_extension&>(other);
}

bool tlp_extension::operator==(const tlp_extension& o) const {
    return rid == o.rid && pasid == o.pasid && privileged == o.privileged && execute == o.execute &&
           at == o.at;
}

namespace {

/// Picoseconds per tick of the SystemC time resolution; 0 for resolutions below 1 ps.
timing::time_ps ps_per_tick() {
    const double ps = sc_core::sc_get_time_resolution().to_seconds() * 1e12;
    return ps >= 1.0 ? static_cast<timing::time_ps>(std::llround(ps)) : 0;
}

} // namespace

timing::time_ps to_ps(const sc_core::sc_time& t) {
    const timing::time_ps tick = ps_per_tick();
    if (tick != 0)
        return timing::saturating_mul(t.value(), tick);
    return static_cast<timing::time_ps>(std::llround(t.to_seconds() * 1e12));
}

sc_core::sc_time from_ps(timing::time_ps t) {
    const timing::time_ps tick = ps_per_tick();
    if (tick != 0)
        return sc_core::sc_time::from_value((t / tick) + (t % tick >= (tick + 1) / 2 ? 1 : 0));
    return sc_core::sc_time(static_cast<double>(t), sc_core::SC_PS);
}

timing::time_ps now_ps(const sc_core::sc_time& delay) {
    return to_ps(sc_core::sc_time_stamp() + delay);
}

sc_core::sc_time delay_until(timing::time_ps t) {
    const sc_core::sc_time at = from_ps(t);
    const sc_core::sc_time now = sc_core::sc_time_stamp();
    return at > now ? at - now : sc_core::SC_ZERO_TIME;
}

} // namespace smmu::pcie
