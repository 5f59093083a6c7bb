// The contract between a PCIe function's DMA engine and the traffic generators that drive it,
// and between a generator and the software that maps its buffers.
//
// A generator runs in a SystemC thread and calls dma() for every transfer; dma() blocks in
// simulated time until the transfer completes (so a generator's transfers are serial; run
// several generators on one endpoint for concurrency). Buffers that software must map before
// use (a NIC ring under the DMA API's strict mode) come from a buffer_mapper, implemented by
// the platform on top of the driver (model/pcie cannot depend on driver/).
#pragma once

#include <cstdint>
#include <optional>

#include <systemc>

namespace smmu::pcie {

enum class dma_dir : std::uint8_t { read, write };

/// One DMA transfer as a generator asks for it.
struct dma_request {
    dma_dir dir = dma_dir::read;
    std::uint64_t address = 0; ///< IOVA (untranslated address)
    std::uint32_t length = 0;  ///< bytes, at least 1
    std::optional<std::uint32_t> pasid;
    bool privileged = false;
    bool execute = false;
    /// Payload: read into / written from here; nullptr moves no data (the model still times
    /// and translates the transfer; memory sees a zero-filled or discarded payload).
    std::uint8_t* data = nullptr;
};

/// How a transfer went.
struct dma_outcome {
    bool ok = false;                                  ///< every TLP completed successfully
    sc_core::sc_time latency = sc_core::SC_ZERO_TIME; ///< issue to last completion
    /// Part of latency spent obtaining translations (ATS round trips), zero on ATC hits or
    /// without ATS.
    sc_core::sc_time translation_latency = sc_core::SC_ZERO_TIME;
    std::uint32_t tlps = 0;         ///< TLPs the transfer was split into
    std::uint32_t atc_hits = 0;     ///< TLPs sent translated after an ATC hit
    std::uint32_t atc_misses = 0;   ///< ATC lookups that missed (ATS on)
    std::uint32_t untranslated = 0; ///< TLPs sent untranslated (AT=00)
};

/// A PCIe function's DMA engine, as seen by a generator.
class dma_port {
public:
    virtual ~dma_port() = default;
    /// Performs the transfer; blocks the calling SystemC thread until it completes.
    virtual dma_outcome dma(const dma_request& req) = 0;
};

/// Maps and unmaps DMA buffers on behalf of a device (the DMA API). Called from the
/// generator's SystemC thread; blocks in simulated time for as long as the software takes.
class buffer_mapper {
public:
    virtual ~buffer_mapper() = default;
    /// Maps `bytes` of a buffer for device access; the IOVA, or nullopt on failure.
    virtual std::optional<std::uint64_t> map(std::uint32_t bytes, bool device_writes) = 0;
    /// Unmaps a buffer returned by map(); returns once the unmap (and its invalidation) is
    /// complete.
    virtual void unmap(std::uint64_t iova, std::uint32_t bytes) = 0;
};

} // namespace smmu::pcie
