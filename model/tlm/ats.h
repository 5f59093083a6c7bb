// PCIe ATS messages between the SMMU and a root complex / endpoint, carried as plain structs in
// one generic-payload extension (ats_extension). Sizes are in bytes (no PCIe "S bit" encoding).
// Semantics: smmuv3-reference.md §5.5 (CMD_ATC_INV) and §7 (PCIe ATS interplay).
//
// Transport conventions (blocking transport; systemc-conventions.md §1.6 style (a), with the
// same-socket style (b) as an option):
//
// * Translation path, endpoint -> SMMU. The endpoint (or the root complex on its behalf) sends
//   a payload with command TLM_IGNORE_COMMAND, address = the untranslated address, no data
//   (data pointer null, length 0), and an ats_extension holding a translation_request. It uses
//   the SMMU's ATS socket, or the data socket with smmu_extension::ats ==
//   ats_type::translation_request. The SMMU replaces the message with a translation_completion
//   and sets TLM_OK_RESPONSE: the TLM response says the message was delivered, the completion
//   status says what the SMMU answered (UR / CA are not TLM errors). A target that does not
//   understand the payload answers TLM_COMMAND_ERROR_RESPONSE.
//
// * Invalidation path, SMMU -> endpoint. The SMMU sends TLM_IGNORE_COMMAND, address = the
//   invalidation address, with an invalidation_request. The endpoint either replaces it with an
//   invalidation_completion in the same payload (annotating the delay with the time until it
//   would send the completion), or leaves the request in place and later sends its
//   invalidation_completion to the SMMU as a transaction of its own.
//
// Attach the extension with scoped_extension<ats_extension> (smmu_extension.h) so that it is
// removed again after the call.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>

#include <tlm>

#include "model/tlm/smmu_extension.h"

namespace smmu::tlm_ext {

/// Outcome of a Translation Request or of an Invalidate Request.
enum class ats_status : std::uint8_t {
    success,
    unsupported_request, ///< UR: e.g. ATS not enabled for the stream (F_BAD_ATS_TREQ)
    completer_abort,     ///< CA: e.g. invalid STE or a configuration error
};

const char* to_string(ats_status s);

/// Access rights of a translation.
struct ats_permissions {
    bool read = false;
    bool write = false;
    bool execute = false;
    bool privileged = false;

    bool operator==(const ats_permissions& o) const;
    bool operator!=(const ats_permissions& o) const { return !(*this == o); }
};

/// Translation Request (PCIe AT=01). One request yields one translation.
struct translation_request {
    std::uint64_t address = 0; ///< untranslated address
    std::uint64_t length = 0;  ///< bytes the endpoint wants translated
    std::uint32_t stream_id = 0;
    std::optional<std::uint32_t> pasid; ///< PASID TLP prefix, if any
    bool no_write = false;              ///< NW: only read access is requested
    bool execute = false;               ///< Execute Requested (PASID prefix only)
    bool privileged = false;            ///< Privileged Mode Requested (PASID prefix only)

    /// The permissions asked for: PCIe has no Read bit (read is implied) and asks for write
    /// with NW=0; execute and privileged exist only in the PASID prefix, so they read as false
    /// without a PASID (smmuv3-reference.md §7.2).
    ats_permissions requested() const;

    bool operator==(const translation_request& o) const;
    bool operator!=(const translation_request& o) const { return !(*this == o); }
};

/// Translation Completion. Meaningful fields other than `status` only when status == success.
/// A translation fault is a *successful* completion with read = write = false.
struct translation_completion {
    ats_status status = ats_status::success;
    std::uint64_t translated_address = 0; ///< PA (or IPA with split-stage ATS), size-aligned
    std::uint64_t size = 0;               ///< bytes: a power of two >= 4 KiB
    ats_permissions permissions;          ///< granted
    bool global = false;                  ///< Global mapping (always false for PASID requests)
    bool untranslated_only = false;       ///< U: use untranslated requests for this range

    bool operator==(const translation_completion& o) const;
    bool operator!=(const translation_completion& o) const { return !(*this == o); }
};

/// The span of an invalidation covering the whole 64-bit address space (2^64 bytes does not
/// fit in 64 bits).
inline constexpr std::uint64_t span_all = 0;

/// Invalidate Request to an endpoint's ATC (from CMD_ATC_INV).
struct invalidation_request {
    std::uint32_t stream_id = 0;
    std::optional<std::uint32_t> pasid; ///< absent: entries of every PASID in range (SSV=0)
    bool global = false;                ///< Global Invalidate (meaningful with a PASID)
    std::uint64_t address = 0;          ///< untranslated address, aligned to span
    std::uint64_t span = 4096;          ///< bytes: 4096 * 2^Size, or span_all
    std::uint8_t itag = 0;              ///< 0..31: up to 32 outstanding per function

    bool covers_all() const { return span == span_all; }
    /// True when [base, base + bytes) intersects the invalidated range (false if bytes == 0).
    bool overlaps(std::uint64_t base, std::uint64_t bytes) const;

    bool operator==(const invalidation_request& o) const;
    bool operator!=(const invalidation_request& o) const { return !(*this == o); }
};

/// Invalidate Completion from an endpoint.
struct invalidation_completion {
    std::uint32_t stream_id = 0;             ///< the completing function
    std::uint32_t itag_vector = 0;           ///< bit n set: the request with ITag n is complete
    std::uint8_t completion_count = 1;       ///< completions sent for these ITags: 1..8
    ats_status status = ats_status::success; ///< UR: the function does not do ATS

    bool operator==(const invalidation_completion& o) const;
    bool operator!=(const invalidation_completion& o) const { return !(*this == o); }
};

/// Which message an ats_extension holds; the order matches ats_message's alternatives.
enum class ats_kind : std::uint8_t {
    none,
    translation_request,
    translation_completion,
    invalidation_request,
    invalidation_completion,
};

const char* to_string(ats_kind k);

using ats_message = std::variant<std::monostate, translation_request, translation_completion,
                                 invalidation_request, invalidation_completion>;

class ats_extension : public ::tlm::tlm_extension<ats_extension> {
public:
    ats_message message;

    ats_extension() = default;
    explicit ats_extension(ats_message m)
        : message(m) {}

    ats_kind kind() const { return static_cast<ats_kind>(message.index()); }

    /// The message if it is a T, else nullptr.
    template <typename T>
    T* get() {
        return std::get_if<T>(&message);
    }
    template <typename T>
    const T* get() const {
        return std::get_if<T>(&message);
    }

    ::tlm::tlm_extension_base* clone() const override;
    void copy_from(const ::tlm::tlm_extension_base& other) override;

    bool operator==(const ats_extension& o) const { return message == o.message; }
    bool operator!=(const ats_extension& o) const { return !(*this == o); }
};

inline const ats_extension* find_ats_extension(const ::tlm::tlm_generic_payload& gp) {
    return gp.get_extension<ats_extension>();
}

/// True for a power of two >= 4096 (the ATS translation sizes).
constexpr bool is_valid_translation_size(std::uint64_t bytes) {
    return bytes >= 4096 && (bytes & (bytes - 1)) == 0;
}

/// Span in bytes of CMD_ATC_INV's Size field: 4096 * 2^size; span_all for 52; nullopt above
/// 52 (CERROR_ILL or an UNKNOWN span: the caller decides).
std::optional<std::uint64_t> atc_inv_span(unsigned size);

/// The invalidation request a CMD_ATC_INV describes: the address is aligned down to the span
/// (Address[11+Size:0] treated as 0) and 0 for span_all. nullopt when size > 52.
std::optional<invalidation_request> from_atc_inv(std::uint32_t stream_id,
                                                 std::optional<std::uint32_t> substream_id,
                                                 bool global, std::uint64_t address, unsigned size);

/// Consistency checks for messages received from another model (never assert on them):
/// a successful completion has a valid size and a size-aligned address; an invalidation has
/// ITag < 32 and a valid, address-aligned span.
bool is_valid(const translation_completion& c);
bool is_valid(const invalidation_request& r);

} // namespace smmu::tlm_ext
