// The SMMU's generic-payload extension: who issued a transaction (StreamID, SubstreamID) and
// with which attributes, plus the PCIe address type (untranslated / translation request /
// translated). See systemc-conventions.md §1.1 and §1.6.
//
// Ignorable-extension rule: a component that adds this extension to a payload it does not own
// must remove it before returning; scoped_extension below does exactly that. A missing
// extension (or a missing StreamID in it) means "use the port's default StreamID", never 0.
//
// The namespace is smmu::tlm_ext rather than smmu::tlm so that `tlm::` keeps naming the
// TLM-2.0 library everywhere inside namespace smmu.
//
// Adapting other ecosystems' side-band extensions, field by field (none of their headers is
// needed here):
//
//   ours           VCML sbiext (tlm_sbi)    gem5 ControlExtension   Xilinx genattr / atsattr
//   stream_id      cpuid                    getStreamId()           genattr get_master_id()
//   substream_id   asid; ~0 means none      getSubstreamId()        (none: leave empty)
//   privileged     privilege != 0           isPrivileged()          (none: false)
//   instruction    is_insn                  isInstruction()         (none: false)
//   secure         is_secure                isSecure()              genattr get_secure()
//   ats            atype 0/1/2 = UX/RQ/TX   (separate ATS ports)    (separate ATS sockets)
//
// * VCML: a payload without sbiext has no identity: attach nothing, so the port default
//   applies. atype RQ maps to translation_request, TX to translated.
// * gem5: getStreamId()/getSubstreamId() are already std::optional<uint32_t>; copy them as is.
//   ATS travels on the device interface's own ATS ports: whatever arrives there is a
//   translation_request.
// * Xilinx: master_id is a u64 (a PCI requester ID for PCIe) and may need a RID-to-StreamID
//   map. ATS requests travel on their own socket with an atsattr_extension (ATTR_READ/WRITE/
//   EXEC requested, ATTR_PHYS_ADDR, length, result) and map onto ats.h's translation_request /
//   translation_completion; the invalidation socket maps onto invalidation_request.
//
// An adapter runs at the SMMU's upstream edge (or in a small bridge module) and attaches our
// extension with scoped_extension for the duration of the forwarded call. from_sbi_like()
// below is one such adapter, written against the field names only, so it needs no VCML headers.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

#include <tlm>

namespace smmu::tlm_ext {

/// PCIe address type of a transaction (the AT field).
enum class ats_type : std::uint8_t {
    untranslated,        ///< AT=00: normal DMA, translated by the SMMU
    translation_request, ///< AT=01: asks the SMMU for a translation (see ats.h)
    translated,          ///< AT=10: address already translated by the endpoint's ATC
};

const char* to_string(ats_type t);

/// Identity and attributes of an upstream transaction.
class smmu_extension : public ::tlm::tlm_extension<smmu_extension> {
public:
    std::optional<std::uint32_t> stream_id;    ///< absent: the port's default StreamID
    std::optional<std::uint32_t> substream_id; ///< absent: no SubstreamID (SSV=0)
    bool privileged = false;
    bool instruction = false;
    bool secure = false;
    ats_type ats = ats_type::untranslated;

    ::tlm::tlm_extension_base* clone() const override;
    void copy_from(const ::tlm::tlm_extension_base& other) override;

    bool operator==(const smmu_extension& other) const;
    bool operator!=(const smmu_extension& other) const { return !(*this == other); }
};

/// The payload's smmu_extension, or nullptr.
inline const smmu_extension* find_extension(const ::tlm::tlm_generic_payload& gp) {
    return gp.get_extension<smmu_extension>();
}

/// Attaches a copy of an extension to a payload for the lifetime of this object, then restores
/// the payload's previous extension of that type (or none). The extension lives inside this
/// object: no allocation. Use it around blocking calls (b_transport, transport_dbg,
/// get_direct_mem_ptr); declare it after the payload so it is destroyed first. Not for
/// payloads handed off with nb_transport, nor across a memory manager's release().
template <typename Ext>
class scoped_extension {
public:
    scoped_extension(::tlm::tlm_generic_payload& gp, const Ext& value)
        : m_gp(gp)
        , m_ext(value) {
        m_previous = m_gp.set_extension(&m_ext);
    }

    ~scoped_extension() {
        if (m_previous != nullptr)
            m_gp.set_extension(m_previous);
        else
            m_gp.clear_extension<Ext>();
    }

    scoped_extension(const scoped_extension&) = delete;
    scoped_extension& operator=(const scoped_extension&) = delete;

    Ext& get() { return m_ext; }
    const Ext& get() const { return m_ext; }
    Ext* operator->() { return &m_ext; }
    /// The extension this one temporarily replaces, or nullptr.
    Ext* previous() const { return m_previous; }

private:
    ::tlm::tlm_generic_payload& m_gp;
    Ext m_ext;
    Ext* m_previous = nullptr;
};

using scoped_smmu_extension = scoped_extension<smmu_extension>;

/// Adapter example: our extension from a VCML-style side-band object (anything with the
/// integer/bit fields cpuid, asid, privilege, is_secure, is_insn, atype; e.g. a vcml::tlm_sbi).
/// Only call it when the payload actually carries the side-band extension: VCML reports a
/// missing one as cpuid 0, which must not become StreamID 0.
/// Returns nullopt when cpuid or asid do not fit in 32 bits (the caller decides how to fail);
/// an atype other than 0/1/2 is treated as untranslated.
template <typename SbiLike>
std::optional<smmu_extension> from_sbi_like(const SbiLike& sbi) {
    constexpr std::uint64_t asid_none = ~std::uint64_t{0}; // VCML's SBI_ASID_GLOBAL
    constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
    const std::uint64_t cpuid = sbi.cpuid;
    const std::uint64_t asid = sbi.asid;
    if (cpuid > u32_max || (asid != asid_none && asid > u32_max))
        return std::nullopt;

    smmu_extension ext;
    ext.stream_id = static_cast<std::uint32_t>(cpuid);
    if (asid != asid_none)
        ext.substream_id = static_cast<std::uint32_t>(asid);
    ext.privileged = sbi.privilege != 0;
    ext.secure = sbi.is_secure != 0;
    ext.instruction = sbi.is_insn != 0;
    switch (static_cast<std::uint64_t>(sbi.atype)) {
    case 1:
        ext.ats = ats_type::translation_request;
        break;
    case 2:
        ext.ats = ats_type::translated;
        break;
    default:
        ext.ats = ats_type::untranslated;
        break;
    }
    return ext;
}

} // namespace smmu::tlm_ext
