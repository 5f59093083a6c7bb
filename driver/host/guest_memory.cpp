#include "driver/host/guest_memory.h"

#include <cstring>
#include <vector>

namespace smmu::driver::host {

guest_memory::guest_memory(platform_ops& host, const guest_window& window, std::uint64_t alloc_ipa,
                           std::uint64_t alloc_bytes)
    : m_host(host)
    , m_window(window)
    , m_alloc(alloc_ipa, alloc_bytes) {}

std::optional<std::uint64_t> guest_memory::to_pa(std::uint64_t ipa, std::size_t len) const {
    if (ipa < m_window.ipa_base || len > m_window.size ||
        ipa - m_window.ipa_base > m_window.size - len)
        return std::nullopt;
    return m_window.pa_base + (ipa - m_window.ipa_base);
}

void guest_memory::mem_read(std::uint64_t ipa, void* dst, std::size_t len) {
    if (const auto pa = to_pa(ipa, len)) {
        m_host.mem_read(*pa, dst, len);
        return;
    }
    ++m_stray;
    std::memset(dst, 0, len);
}

void guest_memory::mem_write(std::uint64_t ipa, const void* src, std::size_t len) {
    if (const auto pa = to_pa(ipa, len))
        m_host.mem_write(*pa, src, len);
    else
        ++m_stray;
}

std::optional<std::uint64_t> guest_memory::alloc_dma(std::size_t bytes, std::size_t align) {
    const std::optional<std::uint64_t> ipa = m_alloc.allocate(bytes, align);
    if (!ipa)
        return std::nullopt;
    const std::vector<std::uint8_t> zeros(bytes, 0);
    mem_write(*ipa, zeros.data(), bytes);
    return ipa;
}

void guest_memory::free_dma(std::uint64_t ipa, std::size_t) {
    m_alloc.release(ipa);
}

} // namespace smmu::driver::host
