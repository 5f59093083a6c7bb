// Vocabulary types shared across model/arch.
#pragma once

#include <cstdint>

namespace smmu::arch {

using phys_addr = std::uint64_t;
using stream_id = std::uint32_t;
using substream_id = std::uint32_t;
using asid_t = std::uint16_t;
using vmid_t = std::uint16_t;

/// Translation granule, valued by log2 of its size. Each format has its own
/// field encoding (CD.TG0/TG1, STE.S2TG, TLBI TG); they all convert to this.
enum class granule : std::uint8_t { size_4k = 12, size_16k = 14, size_64k = 16 };

constexpr unsigned granule_shift(granule g) {
    return static_cast<unsigned>(g);
}
constexpr std::uint64_t granule_bytes(granule g) {
    return std::uint64_t{1} << granule_shift(g);
}

enum class stage : std::uint8_t { one = 1, two = 2 };

/// What a transaction asks for: the inputs to permission checks.
struct access_kind {
    bool write = false;
    bool instruction = false; ///< instruction fetch (reads only)
    bool privileged = false;
};

} // namespace smmu::arch
