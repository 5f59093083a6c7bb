// Traffic generators for simulated PCIe endpoints (docs/traffic.md).
//
// A traffic_generator module runs one generator in SystemC threads and drives a dma_port
// (model/pcie/dma_port.h); dma() blocks until the transfer completes, so a generator's
// transfers are serial. Kinds:
//   stream  sequential transfers over a buffer, wrapping at its end
//   ring    a NIC / NVMe style descriptor ring whose buffers software maps per use
//   random  aligned transfers at random offsets of a working set (seeded, reproducible)
//   replay  a list of operations with absolute or relative issue times (from a trace)
//
// Ring: two threads share the generator. The CPU thread plays the driver: it maps the
// descriptor ring once, maps each buffer when it posts it (at most `depth` mapped at once),
// unmaps each buffer once the device has completed it, then posts the next, and finally
// unmaps the ring. The device thread plays the DMA engine: for each posted buffer in order it
// reads the descriptor, reads (tx) or writes (rx) the buffer and writes a completion entry.
// buffer_mapper calls block the CPU thread for the software's cost, while the device keeps
// working on the buffers already posted, so the device stalls only when the CPU falls more
// than `depth` buffers behind: the overlap of strict-mode map/unmap with DMA, as on hardware.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <systemc>

#include "model/pcie/dma_port.h"
#include "model/timing/clock.h"
#include "model/timing/histogram.h"

namespace smmu::pcie {

/// Direction pattern of a stream.
enum class stream_mode : std::uint8_t {
    read,      ///< every transfer reads
    write,     ///< every transfer writes
    alternate, ///< read, write, read, ... (starting with a read)
    mixed,     ///< each transfer reads with probability read_fraction (seeded)
};

/// Sequential transfers over [base, base + size): transfer i starts at the next offset, and
/// the offset wraps to 0 when the next transfer would pass the end of the buffer.
struct stream_params {
    std::uint64_t base = 0;           ///< IOVA of the buffer
    std::uint64_t size = 0;           ///< bytes, at least transfer_bytes
    std::uint32_t transfer_bytes = 0; ///< bytes per transfer, at least 1
    stream_mode mode = stream_mode::read;
    double read_fraction = 1.0; ///< [0, 1]; used by mode mixed
    std::uint64_t seed = 1;     ///< mode mixed: seed of the std::mt19937_64
    std::optional<std::uint32_t> pasid;
};

/// Ring direction: what the device does with the buffers.
enum class ring_dir : std::uint8_t {
    rx, ///< the device writes the buffers (NIC receive, NVMe read command)
    tx, ///< the device reads the buffers (NIC transmit, NVMe write command)
};

/// A descriptor ring with `slots` entries and a completion ring with as many entries, mapped
/// together once (descriptors first, completions after them). Packet k uses slot k % slots.
struct ring_params {
    ring_dir dir = ring_dir::rx;
    std::uint32_t slots = 256;           ///< ring entries, at least 1
    std::uint32_t depth = 64;            ///< buffers mapped (posted) at once, 1..slots
    std::uint32_t descriptor_bytes = 16; ///< bytes the device reads per descriptor, >= 1
    std::uint32_t completion_bytes = 16; ///< bytes the device writes per completion, >= 1
    std::uint32_t buffer_bytes = 2048;   ///< bytes per buffer, read or written whole, >= 1
    std::optional<std::uint32_t> pasid;
};

/// Transfers of transfer_bytes at offsets index * transfer_bytes of [base, base + working_set),
/// index uniform over the whole transfers that fit. Each transfer draws two numbers from a
/// std::mt19937_64 seeded with `seed`: the index (draw % count) and the direction (read when
/// (draw >> 11) * 2^-53 < read_fraction); so the address sequence does not depend on
/// read_fraction, and the same seed gives the same sequence on every platform.
struct random_params {
    std::uint64_t base = 0;
    std::uint64_t working_set = 0;    ///< bytes, at least transfer_bytes
    std::uint32_t transfer_bytes = 0; ///< at least 1
    double read_fraction = 1.0;       ///< [0, 1]
    std::uint64_t seed = 1;
    std::optional<std::uint32_t> pasid;
};

/// When a replayed operation is issued.
enum class replay_when : std::uint8_t {
    at,             ///< at absolute simulated time `time` (or at once if that has passed)
    after_previous, ///< `time` after the previous operation completed (or after the start)
};

/// One replayed DMA operation (what the trace parser produces).
struct replay_op {
    dma_dir dir = dma_dir::read;
    std::uint64_t address = 0; ///< IOVA
    std::uint32_t length = 0;  ///< bytes, at least 1
    std::optional<std::uint32_t> pasid;
    bool privileged = false;
    bool execute = false;
    replay_when when = replay_when::after_previous;
    timing::time_ps time = 0; ///< ps: absolute issue time (at) or delay (after_previous)
};

struct replay_params {
    std::vector<replay_op> ops; ///< issued in order
};

/// When a generator stops; zero fields are not limits. Checked before each unit of work: a
/// transfer (stream, random, replay) or, for ring, the posting of a packet (its three
/// transfers count as committed when posted). Limits on counts are therefore never exceeded
/// by more than one unit. Nothing starts at or after end_time: a generator whose next transfer
/// would start then (after a think time or a replay delay) stops at once; a transfer in flight
/// at end_time completes.
struct stop_condition {
    std::uint64_t transactions = 0;                    ///< transfers issued (failed ones included)
    std::uint64_t bytes = 0;                           ///< bytes issued (failed transfers included)
    sc_core::sc_time end_time = sc_core::SC_ZERO_TIME; ///< absolute simulated time
};

struct generator_spec {
    std::variant<stream_params, ring_params, random_params, replay_params> kind;
    /// The generator starts at start_time and then, when start_event is set, on its next
    /// notification (which must therefore come after start_time).
    sc_core::sc_time start_time = sc_core::SC_ZERO_TIME;
    const sc_core::sc_event* start_event = nullptr;
    /// Stream, random and ring need at least one limit; replay also stops after its last op.
    stop_condition stop;
    /// Pause between the completion of one transfer and the start of the next (ring: of one
    /// packet and the next, on the device). Must be zero for replay (ops carry their timing).
    sc_core::sc_time think_time = sc_core::SC_ZERO_TIME;
};

/// Throws std::invalid_argument naming the first invalid field (e.g. "ring.depth").
void validate(const generator_spec& spec);

/// What a generator did. Latencies in picoseconds.
struct traffic_stats {
    std::uint64_t transactions = 0;        ///< dma() calls
    std::uint64_t failed_transactions = 0; ///< dma() calls with !ok
    std::uint64_t bytes_read = 0;          ///< by successful read transfers
    std::uint64_t bytes_written = 0;       ///< by successful write transfers
    std::uint64_t tlps = 0;                ///< summed over all outcomes, as the next three
    std::uint64_t atc_hits = 0;
    std::uint64_t atc_misses = 0;
    std::uint64_t untranslated = 0;
    /// Issue to completion of successful transfers.
    timing::latency_histogram dma_latency_ps;
    /// Translation part (ATS round trips) of the transfers that missed in the ATC, zero-time
    /// ones included; empty without ATS (the SMMU's translation is not visible here).
    timing::latency_histogram translation_latency_ps;
    std::uint64_t packets = 0;                  ///< ring: packets the device completed
    std::uint64_t maps = 0;                     ///< ring: successful buffer_mapper::map() calls
    std::uint64_t map_failures = 0;             ///< ring: map() calls that returned nullopt
    std::uint64_t unmaps = 0;                   ///< ring: unmap() calls
    timing::latency_histogram map_latency_ps;   ///< ring: every map() call
    timing::latency_histogram unmap_latency_ps; ///< ring: every unmap() call
    std::uint64_t late_ops = 0;                 ///< replay: `at` ops issued after their time

    /// atc_hits / (atc_hits + atc_misses); 0 when there was no ATC lookup.
    double atc_hit_rate() const;

    /// Appends one JSON object with every field above, in declaration order, plus
    /// "atc_hit_rate" after "untranslated"; histograms as latency_histogram::to_json.
    void to_json(std::string& out) const;
};

/// Runs one generator against a dma_port. The port (and the mapper) must outlive it.
class traffic_generator : public sc_core::sc_module {
public:
    /// Throws std::invalid_argument for an invalid spec (see validate()) and, naming
    /// "buffer_mapper", for a ring without a mapper.
    traffic_generator(const sc_core::sc_module_name& name, dma_port& port,
                      const generator_spec& spec, buffer_mapper* mapper = nullptr);

    const traffic_stats& stats() const { return m_stats; }
    /// True once the generator has stopped (ring: everything unmapped).
    bool finished() const { return m_finished; }
    /// Notified (delta) when the generator finishes.
    const sc_core::sc_event& done() const { return m_done; }
    /// Simulated time at which it finished; SC_ZERO_TIME before.
    const sc_core::sc_time& finished_at() const { return m_finished_at; }

private:
    struct posted_buffer {
        std::uint64_t packet = 0;
        std::uint64_t iova = 0;
    };

    void run();
    void run_stream(const stream_params& p);
    void run_random(const random_params& p);
    void run_replay(const replay_params& p);
    void run_ring_cpu(const ring_params& p);
    void run_ring_device();

    void wait_for_start();
    bool stop_reached() const;
    bool past_end_time(const sc_core::sc_time& t) const;
    bool ring_stop_reached(const ring_params& p) const;
    void think();
    bool ready_for_next(bool first);
    dma_outcome issue(const dma_request& req);
    void record(const dma_request& req, const dma_outcome& outcome);
    std::optional<std::uint64_t> map_buffer(std::uint32_t bytes, bool device_writes);
    void unmap_buffer(std::uint64_t iova, std::uint32_t bytes);
    bool post_ring_buffer(const ring_params& p);
    void unmap_completed_buffers(const ring_params& p);
    void device_process(const posted_buffer& b);
    void finish();

    bool draw_read(double read_fraction);

    dma_port& m_port;
    buffer_mapper* m_mapper;
    generator_spec m_spec;
    std::mt19937_64 m_rng;

    traffic_stats m_stats;
    std::uint64_t m_issued_bytes = 0;
    bool m_finished = false;
    sc_core::sc_time m_finished_at = sc_core::SC_ZERO_TIME;
    sc_core::sc_event m_done;

    // Ring state shared by the CPU and device threads.
    std::uint64_t m_ring_iova = 0;
    std::uint64_t m_packets_posted = 0;
    std::uint32_t m_buffers_mapped = 0;
    std::deque<posted_buffer> m_posted;    ///< mapped, waiting for the device
    std::deque<posted_buffer> m_completed; ///< done by the device, waiting for unmap
    bool m_device_stop = false;
    sc_core::sc_event m_buffer_posted;
    sc_core::sc_event m_buffer_completed;
};

} // namespace smmu::pcie
