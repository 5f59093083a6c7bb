// What a PCIe function puts on the generic payloads it sends upstream: the TLP's requester ID,
// its PASID TLP prefix (with the privileged and execute bits that only exist there), and the
// address type (AT). The root complex turns it into the SMMU's smmu_extension (StreamID from
// the requester ID). ATS messages (translation requests, invalidation completions) travel in
// tlm_ext::ats_extension (model/tlm/ats.h) beside this extension.
//
// Ignorable-extension rule: whoever attaches a tlp_extension removes it again; use
// scoped_tlp_extension around the blocking call.
//
// Also here: the sizes of the TLPs the model puts on a link, and the sc_time <-> picosecond
// conversion the PCIe modules use at their SystemC boundary.
#pragma once

#include <cstdint>
#include <optional>

#include <systemc>
#include <tlm>

#include "model/timing/clock.h"
#include "model/tlm/smmu_extension.h"

namespace smmu::pcie {

/// A PCIe requester ID (Bus:Device.Function), bus << 8 | device << 3 | function.
using requester_id = std::uint16_t;

/// The requester ID of bus:device.function. Throws std::invalid_argument when bus > 255,
/// device > 31 or function > 7 (a configuration error).
requester_id make_requester_id(unsigned bus, unsigned device, unsigned function);

/// The largest PASID a PASID TLP prefix carries (20 bits).
inline constexpr std::uint32_t max_pasid = (1u << 20) - 1;

/// The PCIe address type of a TLP (AT field); the SMMU's encoding.
using address_type = tlm_ext::ats_type;

/// Side-band attributes of one TLP, as the endpoint sends it.
class tlp_extension : public ::tlm::tlm_extension<tlp_extension> {
public:
    requester_id rid = 0;
    std::optional<std::uint32_t> pasid; ///< PASID TLP prefix, if any
    bool privileged = false;            ///< Privileged Mode Requested (PASID prefix)
    bool execute = false;               ///< Execute Requested (PASID prefix)
    address_type at = address_type::untranslated;

    ::tlm::tlm_extension_base* clone() const override;
    void copy_from(const ::tlm::tlm_extension_base& other) override;

    bool operator==(const tlp_extension& o) const;
    bool operator!=(const tlp_extension& o) const { return !(*this == o); }
};

using scoped_tlp_extension = tlm_ext::scoped_extension<tlp_extension>;

/// The payload's tlp_extension, or nullptr.
inline const tlp_extension* find_tlp_extension(const ::tlm::tlm_generic_payload& gp) {
    return gp.get_extension<tlp_extension>();
}

// Data bytes of the ATS messages on a link (the header is the link's per-TLP overhead).
inline constexpr std::uint32_t translation_completion_data_bytes = 8; ///< one translation
inline constexpr std::uint32_t invalidation_request_data_bytes = 8;   ///< the 64-bit address

/// Picoseconds of simulated time; sc_time values below 1 ps round to the nearest ps.
timing::time_ps to_ps(const sc_core::sc_time& t);
/// The sc_time of a picosecond count.
sc_core::sc_time from_ps(timing::time_ps t);
/// sc_time_stamp() + delay, in picoseconds.
timing::time_ps now_ps(const sc_core::sc_time& delay);
/// The delay from sc_time_stamp() to `t` (zero when t is not in the future).
sc_core::sc_time delay_until(timing::time_ps t);

} // namespace smmu::pcie
