#include "model/arch/config_cache.h"

#include <limits>

namespace smmu::arch {

sid_span cfgi_ste_range_span(stream_id sid, unsigned range) {
    if (range >= 31)
        return {0, std::numeric_limits<stream_id>::max()};
    const std::uint64_t count = std::uint64_t{1} << (range + 1);
    const std::uint64_t first = std::uint64_t{sid} & ~(count - 1);
    return {static_cast<stream_id>(first), static_cast<stream_id>(first + count - 1)};
}

} // namespace smmu::arch
