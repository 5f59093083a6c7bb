// smmu-demo: the architecture core (model/arch) on a built-in example.
//
// It lays out what a driver would put in memory (a stream table, STEs, a CD,
// stage-1 and stage-2 page tables), then does what the SMMU does with it:
// locates, decodes and validates the STE and CD, walks stage 1, stage 2 and
// nested translations, reports faults as event records, decodes commands and
// applies a range TLBI to an IOTLB filled from the walks.
#include <cstdint>
#include <map>
#include <string>

#include <fmt/format.h>

#include "model/arch/command.h"
#include "model/arch/event.h"
#include "model/arch/invalidation.h"
#include "model/arch/registers.h"
#include "model/arch/stream_table.h"
#include "model/arch/walk_config.h"

namespace {

using namespace smmu::arch;

/// Sparse memory of 8-byte words, the way tests and the demo hold an image.
class sparse_memory : public walk_memory {
public:
    void write(phys_addr pa, std::uint64_t v) { m_words[pa] = v; }
    std::uint64_t read(phys_addr pa) const {
        const auto it = m_words.find(pa);
        return it == m_words.end() ? 0 : it->second;
    }
    template <std::size_t N>
    void write_words(phys_addr pa, const std::array<std::uint64_t, N>& words) {
        for (std::size_t i = 0; i < N; ++i)
            write(pa + 8 * i, words[i]);
    }
    template <std::size_t N>
    std::array<std::uint64_t, N> read_words(phys_addr pa) const {
        std::array<std::uint64_t, N> words{};
        for (std::size_t i = 0; i < N; ++i)
            words[i] = read(pa + 8 * i);
        return words;
    }
    descriptor_read read_descriptor(phys_addr pa, stage, int) override {
        ++m_reads;
        return {read(pa), false};
    }
    unsigned reads() const { return m_reads; }

private:
    std::map<phys_addr, std::uint64_t> m_words;
    unsigned m_reads = 0;
};

/// 4 KiB-granule tables written the way a driver's io-pgtable would.
class page_tables {
public:
    page_tables(sparse_memory& mem, phys_addr root, phys_addr pool, int start_level,
                unsigned ia_bits)
        : m_mem(mem)
        , m_root(root)
        , m_next(pool)
        , m_start(start_level)
        , m_ia_bits(ia_bits) {}

    void map(std::uint64_t ia, int level, std::uint64_t leaf) {
        m_mem.write(slot(ia, level), leaf);
    }
    phys_addr root() const { return m_root; }

private:
    static unsigned shift(int level) { return 12u + 9u * static_cast<unsigned>(3 - level); }
    std::uint64_t index(std::uint64_t ia, int level) const {
        const unsigned width = level == m_start ? m_ia_bits - shift(level) : 9u;
        return (ia >> shift(level)) & ((1ull << width) - 1);
    }
    phys_addr slot(std::uint64_t ia, int level) {
        phys_addr table = m_root;
        for (int l = m_start; l < level; ++l) {
            const phys_addr at = table + 8 * index(ia, l);
            if ((m_mem.read(at) & 3) != 3) {
                m_mem.write(at, m_next | 3); // table descriptor
                m_next += 0x1000;
            }
            table = m_mem.read(at) & 0x0000fffffffff000ull;
        }
        return table + 8 * index(ia, level);
    }

    sparse_memory& m_mem;
    phys_addr m_root;
    phys_addr m_next;
    int m_start;
    unsigned m_ia_bits;
};

// Leaf descriptor bits (reference §8.4).
constexpr std::uint64_t af = 1ull << 10, inner_shareable = 3ull << 8, not_global = 1ull << 11;
constexpr std::uint64_t s1_rw_all = 1ull << 6, s1_ro_all = 3ull << 6;
constexpr std::uint64_t s2_rw = 3ull << 6, s2_normal_wb = 0xfull << 2;
constexpr std::uint64_t page = 3, block = 1;

constexpr phys_addr strtab = 0x40000, cd_addr = 0x50000;
constexpr phys_addr s1_root = 0x100000, s1_pool = 0x101000;
constexpr phys_addr s2_root = 0x200000, s2_pool = 0x202000; // root: 2 concatenated tables
constexpr stream_id sid_s1 = 3, sid_s2 = 5, sid_nested = 7;

std::string hex_words(const std::uint64_t* w, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i)
        s += fmt::format("{}{:016x}", i ? " " : "", w[i]);
    return s;
}

std::string bytes(std::uint64_t n) {
    if (n >= (1ull << 30))
        return fmt::format("{} GiB", n >> 30);
    if (n >= (1ull << 20))
        return fmt::format("{} MiB", n >> 20);
    return fmt::format("{} KiB", n >> 10);
}

const char* config_name(ste_config c) {
    switch (c) {
    case ste_config::bypass:
        return "bypass";
    case ste_config::s1_translate:
        return "stage-1 translate";
    case ste_config::s2_translate:
        return "stage-2 translate";
    case ste_config::nested:
        return "nested";
    default:
        return "abort";
    }
}

ste make_s1_ste() {
    ste s;
    s.v = true;
    s.config = ste_config::s1_translate;
    s.s1_context_ptr = cd_addr;
    s.s1_cir = s.s1_cor = fetch_cacheability::wb_read_allocate;
    s.s1_csh = shareability_encoding::inner;
    return s;
}

ste make_s2_ste(ste_config config) {
    ste s = config == ste_config::nested ? make_s1_ste() : ste{};
    s.v = true;
    s.config = config;
    s.s2_vmid = 9;
    s.s2_t0sz = 24; // 40-bit IPA
    s.s2_sl0 = 1;   // start at level 1: 2 concatenated tables
    s.s2_tg = tg0_encoding::size_4k;
    s.s2_ps = pa_size_encoding::bits_48;
    s.s2_aa64 = true;
    s.s2_ptw = true;
    s.s2_r = true;
    s.s2_ttb = s2_root;
    return s;
}

cd make_cd() {
    cd c;
    c.v = true;
    c.aa64 = true;
    c.t0sz = 16; // 48-bit VA: four levels from level 0
    c.tg0 = tg0_encoding::size_4k;
    c.epd1 = true;
    c.tg1 = tg1_encoding::size_4k;
    c.t1sz = 16;
    c.ips = pa_size_encoding::bits_48;
    c.sh0 = shareability_encoding::inner;
    c.ir0 = c.or0 = walk_cacheability::wb_ra_wa;
    c.r = c.a = true;
    c.asid = 7;
    c.ttb0 = s1_root;
    c.mair0 = 0x0004ff44; // Linux-style MAIR: NC, WB, Device
    return c;
}

void print_walk(const char* what, std::uint64_t in, const walk_outcome& out, unsigned reads) {
    if (out.ok()) {
        const walk_result& r = out.result;
        fmt::print("  {:<28} {:#014x} -> PA {:#014x}  ({} mapping, {} descriptor read{})\n", what,
                   in, r.output_address, bytes(r.size()), reads, reads == 1 ? "" : "s");
    } else {
        const walk_fault& f = *out.fault;
        fmt::print("  {:<28} {:#014x} -> fault {} at stage {} level {}\n", what, in,
                   event_name(fault_event(f.kind)), static_cast<int>(f.st), f.level);
    }
}

void section(const char* title) {
    fmt::print("\n== {}\n", title);
}

} // namespace

int main() {
    const feature_set features{};
    const id_registers idr = encode_id_registers(features);
    fmt::print("SMMUv3-TLM architecture core demonstration\n");
    section("ID registers of the default feature set");
    fmt::print("  IDR0 {:#010x}  IDR1 {:#010x}  IDR3 {:#010x}  IDR5 {:#010x}\n", idr.idr0, idr.idr1,
               idr.idr3, idr.idr5);
    fmt::print(
        "  S1P {} S2P {} ATS {} RIL {} 2-level tables {}  SIDSIZE {} SSIDSIZE {} OAS {} bits\n",
        features.s1p, features.s2p, features.ats, features.ril, features.st_level_2,
        features.sid_bits, features.ssid_bits, features.oas_bits);

    // ---- what a driver lays out in memory
    sparse_memory mem;
    const stream_table_config st{strtab, 4, 6, 0, features.sid_bits};
    mem.write_words(strtab + 64 * sid_s1, encode_ste(make_s1_ste()));
    mem.write_words(strtab + 64 * sid_s2, encode_ste(make_s2_ste(ste_config::s2_translate)));
    mem.write_words(strtab + 64 * sid_nested, encode_ste(make_s2_ste(ste_config::nested)));
    mem.write_words(cd_addr, encode_cd(make_cd()));

    page_tables s1(mem, s1_root, s1_pool, 0, 48);
    s1.map(0x12345000, 3,
           0x0000000800456000ull | af | inner_shareable | not_global | s1_rw_all | (1 << 2) | page);
    s1.map(0x40000000, 2,
           0x0000000090000000ull | af | inner_shareable | not_global | s1_ro_all | (1 << 2) |
               block);
    page_tables s2(mem, s2_root, s2_pool, 1, 40);
    for (std::uint64_t gib = 0; gib < 4; ++gib) // IPA [0, 4 GiB) maps to itself
        s2.map(gib << 30, 1, (gib << 30) | af | inner_shareable | s2_rw | s2_normal_wb | block);
    s2.map(0x800000000ull, 1,
           0x4000000000ull | af | inner_shareable | s2_rw | s2_normal_wb | block);

    // ---- what the SMMU does with it
    section("Stream table: locate, decode and validate");
    for (stream_id sid : {sid_s1, sid_s2, sid_nested, stream_id{12}, stream_id{40}}) {
        const ste_lookup where = locate_ste(st, sid);
        if (where.status == ste_lookup_status::bad_stream_id) {
            fmt::print("  SID {:2}: out of range -> {}\n", sid,
                       event_name(event_id::c_bad_streamid));
            continue;
        }
        const auto words = mem.read_words<8>(where.address);
        const ste s = decode_ste(words);
        const ste_illegal_reason why = validate_ste(s, features);
        fmt::print("  SID {:2}: STE @ {:#x}  W0-W3 {}\n          Config {} -> {}\n", sid,
                   where.address, hex_words(words.data(), 4), config_name(s.config),
                   why == ste_illegal_reason::none
                       ? "valid"
                       : fmt::format("{} ({})", event_name(event_id::c_bad_ste), to_string(why)));
    }
    const ste s1_ste = decode_ste(mem.read_words<8>(strtab + 64 * sid_s1));
    const cd_lookup cd_at = locate_cd(make_cd_table_config(s1_ste, features), std::nullopt);
    const cd the_cd = decode_cd(mem.read_words<8>(cd_at.address));
    const cd_illegal_reason cd_why =
        validate_cd(the_cd, features, make_cd_check_context(s1_ste, features, ste_check_context{}));
    fmt::print("  CD for SID {} @ {:#x}: ASID {}, T0SZ {}, TTB0 {:#x} -> {}\n", sid_s1,
               cd_at.address, the_cd.asid, the_cd.t0sz, the_cd.ttb0,
               cd_why == cd_illegal_reason::none ? "valid" : to_string(cd_why));

    section("Translations");
    const stage1_config c1 = make_stage1_config(the_cd, stream_world::ns_el1, features, false);
    const stage1_config c1_nested =
        make_stage1_config(the_cd, stream_world::ns_el1, features, true);
    const stage2_config c2 = make_stage2_config(make_s2_ste(ste_config::s2_translate), features);
    const auto translate = [&](const char* what, std::uint64_t in, const stage1_config* a,
                               const stage2_config* b, access_kind access = {}) {
        const unsigned before = mem.reads();
        walk_request req;
        req.input_address = in;
        req.access = access;
        req.s1 = a;
        req.s2 = b;
        const walk_outcome out = walk(req, mem);
        print_walk(what, in, out, mem.reads() - before);
        return out;
    };
    const walk_outcome page_walk = translate("stage 1, 4 KiB page", 0x12345678, &c1, nullptr);
    const walk_outcome block_walk = translate("stage 1, 2 MiB block", 0x40123000, &c1, nullptr);
    translate("stage 2, 1 GiB block", 0x800001000ull, nullptr, &c2);
    translate("nested (S1 over S2)", 0x12345678, &c1_nested, &c2);
    translate("stage 1, unmapped", 0x7000000, &c1, nullptr);
    access_kind write{};
    write.write = true;
    const walk_outcome ro =
        translate("stage 1, write to read-only", 0x40000000, &c1, nullptr, write);

    section("Fault as an event record");
    const walk_fault& f = *ro.fault;
    const event_record ev = fault_record(f, stream_ref{sid_s1});
    const auto ev_words = encode_event(ev);
    fmt::print("  {} for SID {}: {}\n", event_name(ev.id), sid_s1, hex_words(ev_words.data(), 4));

    section("Commands");
    command_decode_context ctx{};
    const command_words illegal{0xff, 0};
    for (const command_words& w :
         {encode(make_tlbi_nh_va(0, 7, 0x40000000, true,
                                 tlbi_range{tlbi_granule::size_4k, tlbi_ttl::any, 0, 10})),
          encode(make_cfgi_ste(sid_s1, true)), encode(make_sync(sync_cs::sev)), illegal}) {
        const command_decode_result r = decode_command(w, ctx);
        fmt::print(
            "  {} -> {}\n", hex_words(w.data(), 2),
            r.ok() ? opcode_name(r.cmd.op)
                   : fmt::format("{} ({})", cmdq_error_name(r.error), ill_reason_name(r.reason)));
    }

    section("IOTLB and invalidation");
    iotlb tlb(cache_geometry{128, 4});
    walk_cache walks(cache_geometry{32, 2});
    for (const walk_outcome* w : {&page_walk, &block_walk}) {
        tlb_entry e;
        e.ctx.vmid.reset();
        e.ctx.asid = w->result.tag.asid.value_or(0);
        e.global = w->result.tag.global;
        e.input = w->result.input_base;
        e.output = w->result.output_base;
        e.size_log2 = static_cast<std::uint8_t>(w->result.size_log2);
        e.level = static_cast<std::int8_t>(w->result.s1_level.value_or(3));
        tlb.insert(e);
    }
    tlb_context ctx7;
    ctx7.asid = 7;
    const auto show = [&](std::uint64_t va) {
        const tlb_entry* hit = tlb.lookup(ctx7, va);
        fmt::print("  lookup {:#010x}: {}\n", va,
                   hit ? fmt::format("hit -> {:#x}", hit->translate(va)) : std::string("miss"));
    };
    show(0x12345678);
    show(0x401ff000);
    // 4 MiB range from 0x40000000 (SCALE 10, NUM 0): covers the block, not the page.
    const command tlbi =
        decode_command(
            encode(make_tlbi_nh_va(0, 7, 0x40000000, true,
                                   tlbi_range{tlbi_granule::size_4k, tlbi_ttl::any, 0, 10})),
            ctx)
            .cmd;
    invalidation_context ictx;
    ictx.s2p = features.s2p;
    const invalidation_effect gone = apply_tlbi(tlbi, ictx, tlb, walks);
    fmt::print("  TLBI_NH_VA ASID 7 [0x40000000, +4 MiB) removed {} IOTLB entr{}\n", gone.tlb,
               gone.tlb == 1 ? "y" : "ies");
    show(0x12345678);
    show(0x401ff000);
    fmt::print("  IOTLB: {} lookups, {} hits, {} misses\n", tlb.stats().lookups, tlb.stats().hits,
               tlb.stats().misses);
    return 0;
}
