#include "model/arch/descriptor.h"

#include "model/arch/ste.h"

namespace smmu::arch {

std::optional<int> stage1_start_level(granule g, unsigned tsz, bool ds) {
    if (tsz < min_tsz(g, ds) || tsz > max_tsz(g))
        return std::nullopt;
    const unsigned ia_bits = 64 - tsz;
    const unsigned s = bits_per_level(g);
    const unsigned levels = (ia_bits - granule_shift(g) + s - 1) / s;
    return 4 - static_cast<int>(levels);
}

std::optional<stage2_start> stage2_start_level(granule g, unsigned sl0, unsigned t0sz, bool ds,
                                               bool sl2, bool stt) {
    const unsigned max = stt ? max_tsz(g) : 39u;
    if (t0sz < min_tsz(g, ds) || t0sz > max)
        return std::nullopt;
    // One decoder of SL0 and concatenation for the walker and STE validation.
    const auto start = s2_start_level(g, sl0, t0sz, s2_level_options{stt, ds, sl2});
    if (!start)
        return std::nullopt;
    return stage2_start{start->level, start->tables};
}

} // namespace smmu::arch
