#include "model/pcie/traffic.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "model/pcie/tlp.h"
#include "model/timing/json.h"

namespace smmu::pcie {

using timing::append_json_field;
using timing::append_json_key;

namespace {

using sc_core::sc_time;

constexpr std::uint32_t max_pasid = (1u << 20) - 1; // PCIe PASID is 20 bits

[[noreturn]] void invalid(const std::string& field, const char* what) {
    throw std::invalid_argument("traffic_generator: " + field + " " + what);
}

bool fits(std::uint64_t base, std::uint64_t size) {
    return base == 0 || size <= std::numeric_limits<std::uint64_t>::max() - base + 1;
}

void check_pasid(const std::optional<std::uint32_t>& pasid, const std::string& field) {
    if (pasid && *pasid > max_pasid)
        invalid(field, "must fit in 20 bits");
}

void check_fraction(double f, const std::string& field) {
    if (!(f >= 0.0 && f <= 1.0)) // also rejects NaN
        invalid(field, "must be in [0, 1]");
}

void check_region(std::uint64_t base, std::uint64_t size, std::uint32_t transfer,
                  const std::string& kind, const char* size_name) {
    if (transfer == 0)
        invalid(kind + ".transfer_bytes", "must be at least 1");
    if (size < transfer)
        invalid(kind + "." + size_name, "must be at least transfer_bytes");
    if (!fits(base, size))
        invalid(kind + ".base", "plus size passes the end of the address space");
}

void check(const stream_params& p) {
    check_region(p.base, p.size, p.transfer_bytes, "stream", "size");
    check_fraction(p.read_fraction, "stream.read_fraction");
    check_pasid(p.pasid, "stream.pasid");
}

void check(const random_params& p) {
    check_region(p.base, p.working_set, p.transfer_bytes, "random", "working_set");
    check_fraction(p.read_fraction, "random.read_fraction");
    check_pasid(p.pasid, "random.pasid");
}

void check(const ring_params& p) {
    if (p.slots == 0)
        invalid("ring.slots", "must be at least 1");
    if (p.depth == 0 || p.depth > p.slots)
        invalid("ring.depth", "must be in [1, slots]");
    if (p.descriptor_bytes == 0)
        invalid("ring.descriptor_bytes", "must be at least 1");
    if (p.completion_bytes == 0)
        invalid("ring.completion_bytes", "must be at least 1");
    if (p.buffer_bytes == 0)
        invalid("ring.buffer_bytes", "must be at least 1");
    const std::uint64_t ring_bytes =
        std::uint64_t{p.slots} * (std::uint64_t{p.descriptor_bytes} + p.completion_bytes);
    if (ring_bytes > std::numeric_limits<std::uint32_t>::max())
        invalid("ring.slots", "times (descriptor_bytes + completion_bytes) must fit in 32 bits");
    check_pasid(p.pasid, "ring.pasid");
}

void check(const replay_params& p) {
    for (std::size_t i = 0; i < p.ops.size(); ++i) {
        const replay_op& op = p.ops[i];
        const std::string name = "replay.ops[" + std::to_string(i) + "]";
        if (op.length == 0)
            invalid(name + ".length", "must be at least 1");
        if (!fits(op.address, op.length))
            invalid(name + ".address", "plus length passes the end of the address space");
        check_pasid(op.pasid, name + ".pasid");
    }
}

bool has_limit(const stop_condition& s) {
    return s.transactions != 0 || s.bytes != 0 || s.end_time != sc_core::SC_ZERO_TIME;
}

std::uint64_t ring_bytes(const ring_params& p) {
    return std::uint64_t{p.slots} * (std::uint64_t{p.descriptor_bytes} + p.completion_bytes);
}

std::uint64_t packet_bytes(const ring_params& p) {
    return std::uint64_t{p.descriptor_bytes} + p.buffer_bytes + p.completion_bytes;
}

constexpr std::uint64_t transfers_per_packet = 3;

void append_double(std::string& out, const char* key, double value) {
    append_json_key(out, key);
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, res.ptr);
}

void append_histogram(std::string& out, const char* key, const timing::latency_histogram& h) {
    append_json_key(out, key);
    h.to_json(out);
}

} // namespace

void validate(const generator_spec& spec) {
    std::visit([](const auto& p) { check(p); }, spec.kind);
    const bool replay = std::holds_alternative<replay_params>(spec.kind);
    if (!replay && !has_limit(spec.stop))
        invalid("stop", "needs at least one of transactions, bytes, end_time");
    if (replay && spec.think_time != sc_core::SC_ZERO_TIME)
        invalid("think_time", "must be zero for replay (ops carry their own timing)");
}

double traffic_stats::atc_hit_rate() const {
    const std::uint64_t lookups = atc_hits + atc_misses;
    return lookups == 0 ? 0.0 : static_cast<double>(atc_hits) / static_cast<double>(lookups);
}

void traffic_stats::to_json(std::string& out) const {
    out += '{';
    append_json_field(out, "transactions", transactions);
    append_json_field(out, "failed_transactions", failed_transactions);
    append_json_field(out, "bytes_read", bytes_read);
    append_json_field(out, "bytes_written", bytes_written);
    append_json_field(out, "tlps", tlps);
    append_json_field(out, "atc_hits", atc_hits);
    append_json_field(out, "atc_misses", atc_misses);
    append_json_field(out, "untranslated", untranslated);
    append_double(out, "atc_hit_rate", atc_hit_rate());
    append_histogram(out, "dma_latency_ps", dma_latency_ps);
    append_histogram(out, "translation_latency_ps", translation_latency_ps);
    append_json_field(out, "packets", packets);
    append_json_field(out, "maps", maps);
    append_json_field(out, "map_failures", map_failures);
    append_json_field(out, "unmaps", unmaps);
    append_histogram(out, "map_latency_ps", map_latency_ps);
    append_histogram(out, "unmap_latency_ps", unmap_latency_ps);
    append_json_field(out, "late_ops", late_ops);
    out += '}';
}

traffic_generator::traffic_generator(const sc_core::sc_module_name& name, dma_port& port,
                                     const generator_spec& spec, buffer_mapper* mapper)
    : sc_core::sc_module(name)
    , m_port(port)
    , m_mapper(mapper)
    , m_spec(spec) {
    validate(m_spec);
    const bool ring = std::holds_alternative<ring_params>(m_spec.kind);
    if (ring && m_mapper == nullptr)
        invalid("buffer_mapper", "is required by a ring generator");
    if (const auto* s = std::get_if<stream_params>(&m_spec.kind))
        m_rng.seed(s->seed);
    if (const auto* r = std::get_if<random_params>(&m_spec.kind))
        m_rng.seed(r->seed);

    SC_HAS_PROCESS(traffic_generator);
    SC_THREAD(run);
    if (ring)
        SC_THREAD(run_ring_device);
}

void traffic_generator::run() {
    wait_for_start();
    std::visit(
        [this](const auto& p) {
            using kind = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<kind, stream_params>)
                run_stream(p);
            else if constexpr (std::is_same_v<kind, random_params>)
                run_random(p);
            else if constexpr (std::is_same_v<kind, replay_params>)
                run_replay(p);
            else
                run_ring_cpu(p);
        },
        m_spec.kind);
    finish();
}

void traffic_generator::wait_for_start() {
    if (m_spec.start_time > sc_core::sc_time_stamp())
        wait(m_spec.start_time - sc_core::sc_time_stamp());
    if (m_spec.start_event != nullptr)
        wait(*m_spec.start_event);
}

bool traffic_generator::stop_reached() const {
    const stop_condition& s = m_spec.stop;
    return (s.transactions != 0 && m_stats.transactions >= s.transactions) ||
           (s.bytes != 0 && m_issued_bytes >= s.bytes) || past_end_time(sc_core::sc_time_stamp());
}

bool traffic_generator::past_end_time(const sc_time& t) const {
    const sc_time& end = m_spec.stop.end_time;
    return end != sc_core::SC_ZERO_TIME && t >= end;
}

void traffic_generator::think() {
    if (m_spec.think_time != sc_core::SC_ZERO_TIME)
        wait(m_spec.think_time);
}

// No think time after the last transfer, nor one that would end at or after the end time.
bool traffic_generator::ready_for_next(bool first) {
    if (stop_reached())
        return false;
    if (first)
        return true;
    if (past_end_time(sc_core::sc_time_stamp() + m_spec.think_time))
        return false;
    think();
    return true;
}

void traffic_generator::run_stream(const stream_params& p) {
    std::uint64_t offset = 0;
    for (std::uint64_t i = 0;; ++i) {
        if (!ready_for_next(i == 0))
            return;
        dma_request req;
        switch (p.mode) {
        case stream_mode::read:
            req.dir = dma_dir::read;
            break;
        case stream_mode::write:
            req.dir = dma_dir::write;
            break;
        case stream_mode::alternate:
            req.dir = i % 2 == 0 ? dma_dir::read : dma_dir::write;
            break;
        case stream_mode::mixed:
            req.dir = draw_read(p.read_fraction) ? dma_dir::read : dma_dir::write;
            break;
        }
        if (offset + p.transfer_bytes > p.size)
            offset = 0;
        req.address = p.base + offset;
        req.length = p.transfer_bytes;
        req.pasid = p.pasid;
        offset += p.transfer_bytes;
        issue(req);
    }
}

void traffic_generator::run_random(const random_params& p) {
    const std::uint64_t count = p.working_set / p.transfer_bytes;
    for (std::uint64_t i = 0;; ++i) {
        if (!ready_for_next(i == 0))
            return;
        dma_request req;
        req.address = p.base + (m_rng() % count) * p.transfer_bytes;
        req.dir = draw_read(p.read_fraction) ? dma_dir::read : dma_dir::write;
        req.length = p.transfer_bytes;
        req.pasid = p.pasid;
        issue(req);
    }
}

bool traffic_generator::draw_read(double read_fraction) {
    const double unit = static_cast<double>(m_rng() >> 11) * 0x1.0p-53; // [0, 1)
    return unit < read_fraction;
}

void traffic_generator::run_replay(const replay_params& p) {
    for (const replay_op& op : p.ops) {
        if (stop_reached())
            return;
        const sc_time now = sc_core::sc_time_stamp();
        const sc_time time = from_ps(op.time);
        const bool late = op.when == replay_when::at && time < now;
        const sc_time issue_at = op.when == replay_when::at ? std::max(time, now) : now + time;
        if (past_end_time(issue_at))
            return;
        if (late)
            ++m_stats.late_ops;
        if (issue_at > now)
            wait(issue_at - now);
        dma_request req;
        req.dir = op.dir;
        req.address = op.address;
        req.length = op.length;
        req.pasid = op.pasid;
        req.privileged = op.privileged;
        req.execute = op.execute;
        issue(req);
    }
}

// The driver side of the ring: see the header comment for the CPU/device split.
void traffic_generator::run_ring_cpu(const ring_params& p) {
    const auto ring_iova = map_buffer(static_cast<std::uint32_t>(ring_bytes(p)), true);
    if (!ring_iova) {
        m_device_stop = true;
        m_buffer_posted.notify(sc_core::SC_ZERO_TIME);
        return;
    }
    m_ring_iova = *ring_iova;
    bool posting = true;
    for (;;) {
        unmap_completed_buffers(p);
        while (posting && m_buffers_mapped < p.depth)
            posting = post_ring_buffer(p);
        if (!posting && m_buffers_mapped == 0)
            break;
        if (m_completed.empty())
            wait(m_buffer_completed);
    }
    m_device_stop = true;
    m_buffer_posted.notify(sc_core::SC_ZERO_TIME);
    unmap_buffer(m_ring_iova, static_cast<std::uint32_t>(ring_bytes(p)));
}

bool traffic_generator::ring_stop_reached(const ring_params& p) const {
    const stop_condition& s = m_spec.stop;
    return (s.transactions != 0 && m_packets_posted * transfers_per_packet >= s.transactions) ||
           (s.bytes != 0 && m_packets_posted * packet_bytes(p) >= s.bytes) ||
           past_end_time(sc_core::sc_time_stamp());
}

/// Maps and posts the next buffer; false when the driver stops posting (a stop condition, or
/// a failed map: the driver gives up refilling and lets the ring drain).
bool traffic_generator::post_ring_buffer(const ring_params& p) {
    if (ring_stop_reached(p))
        return false;
    const auto iova = map_buffer(p.buffer_bytes, p.dir == ring_dir::rx);
    if (!iova)
        return false;
    m_posted.push_back({m_packets_posted++, *iova});
    ++m_buffers_mapped;
    m_buffer_posted.notify(sc_core::SC_ZERO_TIME);
    return true;
}

void traffic_generator::unmap_completed_buffers(const ring_params& p) {
    while (!m_completed.empty()) {
        const posted_buffer b = m_completed.front();
        m_completed.pop_front();
        unmap_buffer(b.iova, p.buffer_bytes);
        --m_buffers_mapped;
    }
}

void traffic_generator::run_ring_device() {
    for (;;) {
        while (m_posted.empty() && !m_device_stop)
            wait(m_buffer_posted);
        if (m_posted.empty())
            return;
        const posted_buffer b = m_posted.front();
        m_posted.pop_front();
        device_process(b);
        m_completed.push_back(b);
        ++m_stats.packets;
        m_buffer_completed.notify(sc_core::SC_ZERO_TIME);
        think();
    }
}

void traffic_generator::device_process(const posted_buffer& b) {
    const auto& p = std::get<ring_params>(m_spec.kind);
    const std::uint64_t slot = b.packet % p.slots;
    dma_request req;
    req.pasid = p.pasid;

    req.dir = dma_dir::read;
    req.address = m_ring_iova + slot * p.descriptor_bytes;
    req.length = p.descriptor_bytes;
    issue(req);

    req.dir = p.dir == ring_dir::rx ? dma_dir::write : dma_dir::read;
    req.address = b.iova;
    req.length = p.buffer_bytes;
    issue(req);

    req.dir = dma_dir::write;
    req.address =
        m_ring_iova + std::uint64_t{p.slots} * p.descriptor_bytes + slot * p.completion_bytes;
    req.length = p.completion_bytes;
    issue(req);
}

std::optional<std::uint64_t> traffic_generator::map_buffer(std::uint32_t bytes,
                                                           bool device_writes) {
    const sc_time start = sc_core::sc_time_stamp();
    const auto iova = m_mapper->map(bytes, device_writes);
    m_stats.map_latency_ps.record(to_ps(sc_core::sc_time_stamp() - start));
    if (iova)
        ++m_stats.maps;
    else
        ++m_stats.map_failures;
    return iova;
}

void traffic_generator::unmap_buffer(std::uint64_t iova, std::uint32_t bytes) {
    const sc_time start = sc_core::sc_time_stamp();
    m_mapper->unmap(iova, bytes);
    m_stats.unmap_latency_ps.record(to_ps(sc_core::sc_time_stamp() - start));
    ++m_stats.unmaps;
}

dma_outcome traffic_generator::issue(const dma_request& req) {
    ++m_stats.transactions;
    m_issued_bytes += req.length;
    const dma_outcome outcome = m_port.dma(req);
    record(req, outcome);
    return outcome;
}

void traffic_generator::record(const dma_request& req, const dma_outcome& o) {
    m_stats.tlps += o.tlps;
    m_stats.atc_hits += o.atc_hits;
    m_stats.atc_misses += o.atc_misses;
    m_stats.untranslated += o.untranslated;
    if (o.atc_misses != 0)
        m_stats.translation_latency_ps.record(to_ps(o.translation_latency));
    if (!o.ok) {
        ++m_stats.failed_transactions;
        return;
    }
    m_stats.dma_latency_ps.record(to_ps(o.latency));
    if (req.dir == dma_dir::read)
        m_stats.bytes_read += req.length;
    else
        m_stats.bytes_written += req.length;
}

void traffic_generator::finish() {
    m_finished = true;
    m_finished_at = sc_core::sc_time_stamp();
    m_done.notify(sc_core::SC_ZERO_TIME);
}

} // namespace smmu::pcie
