// Guest memory as a guest's driver sees it (driver/core/guest.h): addresses
// are IPAs of one window of guest RAM, [ipa_base, ipa_base + size), which the
// VMM backs with host physical memory at pa_base (the nesting parent's stage 2
// maps the same window). Memory accesses, barriers, time and CPU cost go to
// the host platform_ops of the CPU running the guest; DMA-able allocations
// come from the window's own allocator and are zeroed. The guest has no MMIO
// of the physical SMMU: reads return 0, writes are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "driver/core/platform.h"
#include "driver/host/cpu.h"

namespace smmu::driver::host {

struct guest_window {
    std::uint64_t ipa_base = 0;
    std::uint64_t pa_base = 0;
    std::uint64_t size = 0;
};

class guest_memory final : public platform_ops {
public:
    /// Allocations come from [alloc_ipa, alloc_ipa + alloc_bytes), inside `window`.
    guest_memory(platform_ops& host, const guest_window& window, std::uint64_t alloc_ipa,
                 std::uint64_t alloc_bytes);

    /// The host physical address of `ipa`; nullopt outside the window.
    std::optional<std::uint64_t> to_pa(std::uint64_t ipa, std::size_t len = 1) const;
    const guest_window& window() const { return m_window; }
    const dma_allocator& allocator() const { return m_alloc; }
    /// Accesses outside the window (dropped; reads return zeros).
    std::uint64_t stray_accesses() const { return m_stray; }

    std::uint32_t mmio_read32(std::uint64_t) override { return 0; }
    std::uint64_t mmio_read64(std::uint64_t) override { return 0; }
    void mmio_write32(std::uint64_t, std::uint32_t) override {}
    void mmio_write64(std::uint64_t, std::uint64_t) override {}
    void mem_read(std::uint64_t ipa, void* dst, std::size_t len) override;
    void mem_write(std::uint64_t ipa, const void* src, std::size_t len) override;
    std::optional<std::uint64_t> alloc_dma(std::size_t bytes, std::size_t align) override;
    void free_dma(std::uint64_t ipa, std::size_t bytes) override;
    void barrier() override { m_host.barrier(); }
    void poll_pause(bool wfe) override { m_host.poll_pause(wfe); }
    std::uint64_t now_ns() override { return m_host.now_ns(); }
    void charge(cpu_op op, unsigned count) override { m_host.charge(op, count); }

private:
    platform_ops& m_host;
    guest_window m_window;
    dma_allocator m_alloc;
    std::uint64_t m_stray = 0;
};

} // namespace smmu::driver::host
