#include "platforms/sim/checker.h"

#include <iterator>
#include <utility>

#include <fmt/format.h>

namespace smmu::sim {

const char* to_string(violation_kind k) {
    switch (k) {
    case violation_kind::stale_translation:
        return "stale_translation";
    case violation_kind::atc_inv_before_sync:
        return "atc_inv_before_sync";
    case violation_kind::tag_after_detach:
        return "tag_after_detach";
    }
    return "?";
}

bool stream_key::operator<(const stream_key& o) const {
    return std::pair(sid, ssid) < std::pair(o.sid, o.ssid);
}

void invalidation_checker::flag(violation_kind k, timing::time_ps at, std::string detail) {
    ++m_counts[static_cast<unsigned>(k)];
    if (m_violations.size() < m_limit)
        m_violations.push_back({k, at, std::move(detail)});
    else
        ++m_dropped;
}

std::uint64_t invalidation_checker::count(violation_kind k) const {
    return m_counts[static_cast<unsigned>(k)];
}

void invalidation_checker::attached(const stream_key& stream, std::uint32_t domain) {
    if (domain == 0)
        m_domain_of.erase(stream);
    else
        m_domain_of[stream] = domain;
}

void invalidation_checker::mapped(std::uint32_t domain, std::uint64_t iova, std::uint64_t size) {
    auto d = m_unmapped.find(domain);
    if (d == m_unmapped.end() || size == 0)
        return;
    auto& ranges = d->second;
    const std::uint64_t end = iova + size;
    // Cut [iova, end) out of every recorded range: those addresses translate again.
    auto it = ranges.lower_bound(iova);
    if (it != ranges.begin() && std::prev(it)->second.end > iova)
        --it;
    while (it != ranges.end() && it->first < end) {
        const std::uint64_t start = it->first;
        const unmapped_range r = it->second;
        it = ranges.erase(it);
        if (start < iova)
            ranges[start] = {iova, r.done};
        if (r.end > end)
            it = ranges.emplace(end, unmapped_range{r.end, r.done}).first;
    }
}

void invalidation_checker::unmapped(std::uint32_t domain, std::uint64_t iova, std::uint64_t size,
                                    timing::time_ps done) {
    if (size == 0)
        return;
    mapped(domain, iova, size); // replace whatever overlapped with the newer record
    m_unmapped[domain][iova] = {iova + size, done};
}

const invalidation_checker::unmapped_range*
invalidation_checker::find_unmapped(std::uint32_t domain, std::uint64_t iova) const {
    const auto d = m_unmapped.find(domain);
    if (d == m_unmapped.end())
        return nullptr;
    auto it = d->second.upper_bound(iova);
    if (it == d->second.begin())
        return nullptr;
    --it;
    return iova < it->second.end ? &it->second : nullptr;
}

void invalidation_checker::translation_used(const stream_key& stream, std::uint64_t iova,
                                            timing::time_ps began, const char* by) {
    ++m_checks;
    const auto d = m_domain_of.find(stream);
    if (d == m_domain_of.end())
        return;
    const unmapped_range* r = find_unmapped(d->second, iova);
    if (r != nullptr && r->done <= began)
        flag(violation_kind::stale_translation, began,
             fmt::format("{}: sid {} ssid {} iova {:#x} of domain {} used at {} ps, unmapped "
                         "and synced at {} ps",
                         by, stream.sid, stream.ssid ? static_cast<long>(*stream.ssid) : -1L, iova,
                         d->second, began, r->done));
}

void invalidation_checker::tlbi_executed(unsigned smmu) {
    ++m_unsynced_tlbis[smmu];
}

void invalidation_checker::sync_completed(unsigned smmu) {
    m_unsynced_tlbis[smmu] = 0;
}

void invalidation_checker::atc_inv_executed(unsigned smmu, std::uint32_t sid, timing::time_ps at) {
    ++m_checks;
    const auto it = m_unsynced_tlbis.find(smmu);
    if (it != m_unsynced_tlbis.end() && it->second != 0)
        flag(violation_kind::atc_inv_before_sync, at,
             fmt::format("smmu {}: ATC_INV for sid {} with {} TLBI(s) not yet completed by a "
                         "CMD_SYNC",
                         smmu, sid, it->second));
}

void invalidation_checker::tag_checked(const std::string& tag, std::size_t entries,
                                       timing::time_ps at) {
    ++m_checks;
    if (entries != 0)
        flag(violation_kind::tag_after_detach, at,
             fmt::format("{}: {} IOTLB entries after its last detach", tag, entries));
}

} // namespace smmu::sim
