#include <gtest/gtest.h>

#include "model/arch/bits.h"

namespace smmu::arch {
namespace {

TEST(bits, mask_covers_inclusive_range) {
    EXPECT_EQ(bit_mask(3, 1), 0xeu);
    EXPECT_EQ(bit_mask(63, 0), ~0ull);
    EXPECT_EQ(bit_mask(63, 63), 0x8000000000000000ull);
    EXPECT_EQ(bit_mask(55, 6), 0x00ffffffffffffc0ull);
}

TEST(bits, field_get_set_round_trip) {
    constexpr field f{29, 28};
    EXPECT_EQ(f.set(0, 2), 0x20000000u);
    EXPECT_EQ(f.get(0xffffffffffffffffull), 3u);
    EXPECT_EQ(f.set(~0ull, 0), ~0ull & ~0x30000000ull);
    EXPECT_EQ(f.set(0, 7), 0x30000000u) << "excess bits are dropped";
    EXPECT_TRUE(f.fits(3));
    EXPECT_FALSE(f.fits(4));
}

TEST(bits, sign_extend_and_alignment) {
    EXPECT_EQ(sign_extend(0x0000800000000000ull, 48), 0xffff800000000000ull);
    EXPECT_EQ(sign_extend(0x00007fffffffffffull, 48), 0x00007fffffffffffull);
    EXPECT_EQ(sign_extend(0x1234, 64), 0x1234u);
    EXPECT_TRUE(is_aligned(0x4000, 14));
    EXPECT_FALSE(is_aligned(0x4000, 15));
    EXPECT_EQ(align_down(0x12345, 12), 0x12000u);
    EXPECT_EQ(align_down(0x12345, 64), 0u);
}

} // namespace
} // namespace smmu::arch
