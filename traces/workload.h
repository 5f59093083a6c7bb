// Workload traces: a text format, one operation per line, that drives a simulation with
// CPU-side driver operations (domains, map/unmap, attach/detach, SVA bind, ATS enable) and
// device-side traffic (DMA, ATS translation requests). traces/README.md is the reference for
// the format and for what the timing prefixes mean; this header is its parser and printer.
//
// Pure C++17: the platform layer maps the parsed operations onto the simulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace smmu::traces {

/// Simulated time or a duration in picoseconds (the same unit as smmu::timing::time_ps).
using time_ps = std::uint64_t;

/// A malformed workload: what() is "<file>:<line>: <message>" (line 0 when the file itself
/// could not be read).
class trace_error : public std::runtime_error {
public:
    trace_error(const std::string& file, std::size_t line, const std::string& message);

    const std::string& file() const { return m_file; }
    std::size_t line() const { return m_line; }
    const std::string& message() const { return m_message; }

private:
    std::string m_file;
    std::size_t m_line;
    std::string m_message;
};

/// When an operation is issued, relative to the operations before it (README "Timing").
enum class timing_kind : std::uint8_t {
    absolute,       ///< `@t`: at simulated time t (or when the previous group is issued, if later)
    after_previous, ///< `+d` / `+` / no prefix: d after every operation of the previous group
                    ///< completed
    with_previous,  ///< `&`: in the same group as the line above, issued together with it
};

struct timing {
    timing_kind kind = timing_kind::after_previous;
    time_ps time = 0; ///< the absolute time or the delay; always 0 for with_previous
};

bool operator==(const timing& a, const timing& b);
bool operator!=(const timing& a, const timing& b);

enum class domain_type : std::uint8_t {
    s1,     ///< paging domain, stage 1 (ASID-tagged)
    s2,     ///< paging domain, stage 2 (VMID-tagged)
    nested, ///< nesting-parent stage 2 (its VMID also tags guest stage-1 entries)
    sva,    ///< a process address space, bound to devices at a PASID
};

/// Access a mapping allows; at least one of read and write.
struct access {
    bool read = true;
    bool write = true;
    bool exec = false;
};

bool operator==(const access& a, const access& b);
bool operator!=(const access& a, const access& b);

// CPU-side operations. `cpu` is the simulated CPU that runs the driver call.

/// Creates a domain; its ASID/VMID is allocated by the driver.
struct domain_op {
    std::string name;
    domain_type type = domain_type::s1;
    std::optional<std::uint32_t> granule; ///< 4K, 16K or 64K; unset: the platform's default
    std::uint32_t cpu = 0;
};

struct map_op {
    std::string dom;
    std::uint64_t iova = 0;
    std::uint64_t size = 0;
    std::optional<std::uint64_t> pa; ///< unset: the platform allocates the memory
    access prot;
    std::uint32_t cpu = 0;
};

struct unmap_op {
    std::string dom;
    std::uint64_t iova = 0;
    std::uint64_t size = 0;
    std::uint32_t cpu = 0;
};

struct attach_op {
    std::string dom;
    std::uint32_t sid = 0;
    std::uint32_t cpu = 0;
};

struct detach_op {
    std::uint32_t sid = 0;
    std::uint32_t cpu = 0;
};

/// Binds an SVA domain to a device at a PASID.
struct bind_op {
    std::uint32_t sid = 0;
    std::uint32_t pasid = 0;
    std::string dom;
    std::uint32_t cpu = 0;
};

struct unbind_op {
    std::uint32_t sid = 0;
    std::uint32_t pasid = 0;
    std::uint32_t cpu = 0;
};

struct enable_ats_op {
    std::uint32_t sid = 0;
    std::uint32_t cpu = 0;
};

struct disable_ats_op {
    std::uint32_t sid = 0;
    std::uint32_t cpu = 0;
};

// Device-side operations, issued by the endpoint with StreamID `sid`.

enum class dma_direction : std::uint8_t { read, write };

/// An untranslated DMA (translated by the SMMU, or by the endpoint's ATC when ATS is on).
struct dma_op {
    dma_direction direction = dma_direction::read;
    std::uint32_t sid = 0;
    std::uint64_t iova = 0;
    std::uint64_t len = 0;
    std::optional<std::uint32_t> pasid;
};

inline constexpr std::uint64_t default_ats_len = 4096;

/// A PCIe ATS Translation Request (IHI0070 §3.9).
struct ats_req_op {
    std::uint32_t sid = 0;
    std::uint64_t iova = 0;
    std::uint64_t len = default_ats_len;
    std::optional<std::uint32_t> pasid;
    bool no_write = false; ///< the NW bit: read-only access is requested
};

bool operator==(const domain_op& a, const domain_op& b);
bool operator==(const map_op& a, const map_op& b);
bool operator==(const unmap_op& a, const unmap_op& b);
bool operator==(const attach_op& a, const attach_op& b);
bool operator==(const detach_op& a, const detach_op& b);
bool operator==(const bind_op& a, const bind_op& b);
bool operator==(const unbind_op& a, const unbind_op& b);
bool operator==(const enable_ats_op& a, const enable_ats_op& b);
bool operator==(const disable_ats_op& a, const disable_ats_op& b);
bool operator==(const dma_op& a, const dma_op& b);
bool operator==(const ats_req_op& a, const ats_req_op& b);

using op_body = std::variant<domain_op, map_op, unmap_op, attach_op, detach_op, bind_op, unbind_op,
                             enable_ats_op, disable_ats_op, dma_op, ats_req_op>;

/// One line of a workload.
struct op {
    std::size_t line = 0; ///< where it came from (1-based); not part of its value
    timing when;
    op_body body;
};

/// Same timing and body; the line number is provenance, not value.
bool operator==(const op& a, const op& b);
bool operator!=(const op& a, const op& b);

struct workload {
    std::string file_name; ///< for messages; not part of the value
    std::vector<op> ops;
};

/// Same operations in the same order (file names may differ).
bool operator==(const workload& a, const workload& b);
bool operator!=(const workload& a, const workload& b);

/// Parses a whole workload; throws trace_error "<file_name>:<line>: ..." on the first bad line.
workload parse_workload(std::istream& in, const std::string& file_name);

/// Reads and parses the file at `path` (messages name `path`).
workload load_workload(const std::string& path);

/// The operation's keyword: "domain", "map", ..., "dma_read", "dma_write", "ats_req".
const char* op_name(const op_body& body);
const char* to_string(domain_type t);

/// Canonical text of a time: the largest unit that shows it as an integer ("1500ns", "2us",
/// "0ns").
std::string format_time(time_ps t);

/// Canonical line for `o` (no line number, no comment), e.g. "+ map dom=a iova=0x1000 size=4K".
std::string to_string(const op& o);

/// The canonical text of a whole workload, one line per operation.
void write_workload(std::ostream& out, const workload& w);
std::string to_string(const workload& w);

} // namespace smmu::traces
