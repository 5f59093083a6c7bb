// Bit-field helpers for the architecture's little-endian 64-bit words.
#pragma once

#include <cstdint>
#include <type_traits>

namespace smmu::arch {

constexpr std::uint64_t bit_mask(unsigned hi, unsigned lo) {
    return (hi - lo >= 63 ? ~std::uint64_t{0} : ((std::uint64_t{1} << (hi - lo + 1)) - 1)) << lo;
}

/// An inclusive [hi:lo] field of a 64-bit word.
struct field {
    unsigned hi;
    unsigned lo;

    constexpr std::uint64_t mask() const { return bit_mask(hi, lo); }
    constexpr std::uint64_t get(std::uint64_t word) const { return (word & mask()) >> lo; }
    /// Returns `word` with the field replaced by `value` (excess bits of value are dropped).
    constexpr std::uint64_t set(std::uint64_t word, std::uint64_t value) const {
        return (word & ~mask()) | ((value << lo) & mask());
    }
    /// True when `value` fits the field without truncation.
    constexpr bool fits(std::uint64_t value) const { return (value & ~(mask() >> lo)) == 0; }
};

/// A single bit.
constexpr field bit(unsigned pos) {
    return field{pos, pos};
}

constexpr std::uint64_t extract(std::uint64_t word, unsigned hi, unsigned lo) {
    return field{hi, lo}.get(word);
}

constexpr std::uint64_t deposit(std::uint64_t word, unsigned hi, unsigned lo, std::uint64_t value) {
    return field{hi, lo}.set(word, value);
}

constexpr bool is_aligned(std::uint64_t value, unsigned log2_align) {
    return log2_align >= 64 ? value == 0 : (value & ((std::uint64_t{1} << log2_align) - 1)) == 0;
}

constexpr std::uint64_t align_down(std::uint64_t value, unsigned log2_align) {
    return log2_align >= 64 ? 0 : value & ~((std::uint64_t{1} << log2_align) - 1);
}

/// Sign-extends the low `bits` bits of value.
constexpr std::uint64_t sign_extend(std::uint64_t value, unsigned bits) {
    if (bits >= 64)
        return value;
    const std::uint64_t m = std::uint64_t{1} << (bits - 1);
    value &= (std::uint64_t{1} << bits) - 1;
    return (value ^ m) - m;
}

/// Conversions the structure encoders and decoders share.
namespace enc {

constexpr std::uint64_t flag(bool b) {
    return b ? 1u : 0u;
}

template <typename E>
constexpr std::uint64_t raw(E e) {
    return static_cast<std::uint64_t>(e);
}

/// A field value as an enum (the field is no wider than the enum's range).
template <typename E>
constexpr E as(std::uint64_t v) {
    return static_cast<E>(static_cast<std::underlying_type_t<E>>(v));
}

constexpr std::uint8_t u8(std::uint64_t v) {
    return static_cast<std::uint8_t>(v);
}
constexpr std::uint16_t u16(std::uint64_t v) {
    return static_cast<std::uint16_t>(v);
}
constexpr std::uint32_t u32(std::uint64_t v) {
    return static_cast<std::uint32_t>(v);
}

} // namespace enc

} // namespace smmu::arch
