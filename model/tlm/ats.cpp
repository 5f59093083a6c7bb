#include "model/tlm/ats.h"

#include <type_traits>

#include "model/arch/bits.h"

namespace smmu::tlm_ext {

static_assert(std::variant_size_v<ats_message> == 5, "ats_kind must list every alternative");
static_assert(
    std::is_same_v<std::variant_alternative_t<
                       static_cast<std::size_t>(ats_kind::invalidation_completion), ats_message>,
                   invalidation_completion>);

namespace {

constexpr unsigned atc_inv_size_all = 52; // CMD_ATC_INV Size = 52: invalidate all

/// a + b - 1 (the last byte of a range), clamped at the top of the address space.
std::uint64_t last_byte(std::uint64_t base, std::uint64_t bytes) {
    const std::uint64_t extra = bytes - 1;
    return base > ~std::uint64_t{0} - extra ? ~std::uint64_t{0} : base + extra;
}

} // namespace

const char* to_string(ats_status s) {
    switch (s) {
    case ats_status::success:
        return "success";
    case ats_status::unsupported_request:
        return "unsupported_request";
    case ats_status::completer_abort:
        return "completer_abort";
    }
    return "unknown";
}

const char* to_string(ats_kind k) {
    switch (k) {
    case ats_kind::none:
        return "none";
    case ats_kind::translation_request:
        return "translation_request";
    case ats_kind::translation_completion:
        return "translation_completion";
    case ats_kind::invalidation_request:
        return "invalidation_request";
    case ats_kind::invalidation_completion:
        return "invalidation_completion";
    }
    return "unknown";
}

bool ats_permissions::operator==(const ats_permissions& o) const {
    return read == o.read && write == o.write && execute == o.execute && privileged == o.privileged;
}

ats_permissions translation_request::requested() const {
    ats_permissions p;
    p.read = true;
    p.write = !no_write;
    p.execute = pasid.has_value() && execute;
    p.privileged = pasid.has_value() && privileged;
    return p;
}

bool translation_request::operator==(const translation_request& o) const {
    return address == o.address && length == o.length && stream_id == o.stream_id &&
           pasid == o.pasid && no_write == o.no_write && execute == o.execute &&
           privileged == o.privileged;
}

bool translation_completion::operator==(const translation_completion& o) const {
    return status == o.status && translated_address == o.translated_address && size == o.size &&
           permissions == o.permissions && global == o.global &&
           untranslated_only == o.untranslated_only;
}

bool invalidation_request::overlaps(std::uint64_t base, std::uint64_t bytes) const {
    if (bytes == 0)
        return false;
    if (covers_all())
        return true;
    return address <= last_byte(base, bytes) && base <= last_byte(address, span);
}

bool invalidation_request::operator==(const invalidation_request& o) const {
    return stream_id == o.stream_id && pasid == o.pasid && global == o.global &&
           address == o.address && span == o.span && itag == o.itag;
}

bool invalidation_completion::operator==(const invalidation_completion& o) const {
    return stream_id == o.stream_id && itag_vector == o.itag_vector &&
           completion_count == o.completion_count && status == o.status;
}

::tlm::tlm_extension_base* ats_extension::clone() const {
    return new ats_extension(*this);
}

void ats_extension::copy_from(const ::tlm::tlm_extension_base& other) {
    // TLM only calls copy_from with an extension of the same ID, i.e. the same type.
    message = static_cast<const ats_extension&>(other).message;
}

std::optional<std::uint64_t> atc_inv_span(unsigned size) {
    if (size > atc_inv_size_all)
        return std::nullopt;
    if (size == atc_inv_size_all)
        return span_all;
    return std::uint64_t{4096} << size;
}

std::optional<invalidation_request> from_atc_inv(std::uint32_t stream_id,
                                                 std::optional<std::uint32_t> substream_id,
                                                 bool global, std::uint64_t address,
                                                 unsigned size) {
    const auto span = atc_inv_span(size);
    if (!span)
        return std::nullopt;
    invalidation_request r;
    r.stream_id = stream_id;
    r.pasid = substream_id;
    r.global = global;
    r.span = *span;
    r.address = arch::align_down(address, 12 + size); // 0 for size 52 (align 2^64)
    return r;
}

bool is_valid(const translation_completion& c) {
    if (c.status != ats_status::success)
        return true;
    return is_valid_translation_size(c.size) && (c.translated_address & (c.size - 1)) == 0;
}

bool is_valid(const invalidation_request& r) {
    if (r.itag >= 32)
        return false;
    if (r.covers_all())
        return true;
    return is_valid_translation_size(r.span) && (r.address & (r.span - 1)) == 0;
}

} // namespace smmu::tlm_ext
