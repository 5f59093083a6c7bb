#include "model/arch/descriptor.h"

namespace smmu::arch {

std::optional<int> stage1_start_level(granule g, unsigned tsz, bool ds) {
    if (tsz < min_tsz(g, ds) || tsz > max_tsz(g))
        return std::nullopt;
    const unsigned ia_bits = 64 - tsz;
    const unsigned s = bits_per_level(g);
    const unsigned levels = (ia_bits - granule_shift(g) + s - 1) / s;
    return 4 - static_cast<int>(levels);
}

namespace {

/// SL0 (+SL2) -> start level, per granule (reference §8.3 SL0 table).
std::optional<int> decode_sl0(granule g, unsigned sl0, bool ds, bool sl2, bool stt) {
    if (sl0 > 3)
        return std::nullopt;
    if (ds && sl2 && g == granule::size_4k) {
        // Only {SL2, SL0} = 1,00 is defined: level -1 (FEAT_LPA2). SL2 plays
        // no part in the 16K/64K decode.
        if (sl0 == 0)
            return -1;
        return std::nullopt;
    }
    switch (g) {
    case granule::size_4k:
        switch (sl0) {
        case 0:
            return 2;
        case 1:
            return 1;
        case 2:
            return 0;
        default:
            return stt ? std::optional<int>{3} : std::nullopt;
        }
    case granule::size_16k:
        switch (sl0) {
        case 0:
            return 3;
        case 1:
            return 2;
        case 2:
            return 1;
        default:
            return ds ? std::optional<int>{0} : std::nullopt;
        }
    case granule::size_64k:
        switch (sl0) {
        case 0:
            return 3;
        case 1:
            return 2;
        case 2:
            return 1;
        default:
            return std::nullopt;
        }
    }
    return std::nullopt;
}

} // namespace

std::optional<stage2_start> stage2_start_level(granule g, unsigned sl0, unsigned t0sz, bool ds,
                                               bool sl2, bool stt) {
    const auto level = decode_sl0(g, sl0, ds, sl2, stt);
    if (!level)
        return std::nullopt;
    const unsigned max = stt ? max_tsz(g) : 39u;
    if (t0sz < min_tsz(g, ds) || t0sz > max)
        return std::nullopt;
    // The initial lookup resolves IA[ia_bits-1 : shift]: at least one bit, and
    // at most one level's worth plus four (16 concatenated tables).
    const unsigned ia_bits = 64 - t0sz;
    const unsigned shift = level_shift(g, *level);
    const unsigned s = bits_per_level(g);
    if (ia_bits <= shift || ia_bits - shift > s + 4)
        return std::nullopt;
    const unsigned resolved = ia_bits - shift;
    return stage2_start{*level, resolved > s ? 1u << (resolved - s) : 1u};
}

} // namespace smmu::arch
