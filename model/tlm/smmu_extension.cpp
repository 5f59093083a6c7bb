#include "model/tlm/smmu_extension.h"

namespace smmu::tlm_ext {

const char* to_string(ats_type t) {
    switch (t) {
    case ats_type::untranslated:
        return "untranslated";
    case ats_type::translation_request:
        return "translation_request";
    case ats_type::translated:
        return "translated";
    }
    return "unknown";
}

::tlm::tlm_extension_base* smmu_extension::clone() const {
    return new smmu_extension(*this);
}

void smmu_extension::copy_from(const ::tlm::tlm_extension_base& other) {
    // TLM only calls copy_from with an extension of the same ID, i.e. the same type.
    *this = static_cast<const smmu_extension&>(other);
}

bool smmu_extension::operator==(const smmu_extension& other) const {
    return stream_id == other.stream_id && substream_id == other.substream_id &&
           privileged == other.privileged && instruction == other.instruction &&
           secure == other.secure && ats == other.ats;
}

} // namespace smmu::tlm_ext
