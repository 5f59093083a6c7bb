#include "driver/core/io_pgtable.h"

#include <algorithm>

#include "model/arch/bits.h"
#include "model/arch/registers.h"

namespace smmu::driver {

namespace td = arch::tt_desc;
using arch::phys_addr;

namespace {

constexpr std::uint64_t k_one = 1;
constexpr unsigned k_min_ias = 25; // T0SZ 39: deeper needs IDR3.STT
constexpr std::uint64_t k_min_pgd_bytes = 64;

bool desc_valid(std::uint64_t desc) {
    return td::valid.get(desc) != 0;
}

/// The cases where the Arm ARM makes stage-2 concatenation mandatory, as
/// recent io-pgtable lists them (reference §8.3, R_DXBSH / R_SRKBC).
bool concat_mandatory(arch::granule g, int level, unsigned ias, unsigned oas) {
    if (g == arch::granule::size_16k && level == 0)
        return oas == 48 || ias == 48;
    if (g == arch::granule::size_4k && level == 0)
        return oas == 40 || oas == 42;
    if (g == arch::granule::size_16k && level == 1)
        return oas == 40;
    return false;
}

/// VTCR_EL2.SL0 for a start level (reference §8.3): 4K counts from level 2,
/// 16K/64K from level 3, downwards.
unsigned encode_sl0(arch::granule g, int level) {
    const int sl = g == arch::granule::size_4k ? level + 1 : level;
    return static_cast<unsigned>(~sl) & 3u;
}

bool leaf_level_allowed(arch::granule g, int level, unsigned oas) {
    return level == arch::max_level || arch::block_allowed(g, level, false, oas == 52);
}

} // namespace

const char* to_string(pgtable_status s) {
    switch (s) {
    case pgtable_status::ok:
        return "ok";
    case pgtable_status::bad_config:
        return "bad_config";
    case pgtable_status::no_memory:
        return "no_memory";
    case pgtable_status::no_access:
        return "no_access";
    case pgtable_status::misaligned:
        return "misaligned";
    case pgtable_status::out_of_range:
        return "out_of_range";
    case pgtable_status::already_mapped:
        return "already_mapped";
    case pgtable_status::not_mapped:
        return "not_mapped";
    }
    return "?";
}

// ---------------------------------------------------------------- geometry

std::optional<pgtable_geometry> compute_geometry(const io_pgtable_cfg& cfg) {
    const arch::granule g = cfg.granule;
    const bool g64k = g == arch::granule::size_64k;
    if (!arch::encode_oas(cfg.oas) || (cfg.oas > 48 && !g64k))
        return std::nullopt;
    if (cfg.ias < k_min_ias || cfg.ias > (g64k ? 52u : 48u))
        return std::nullopt;

    pgtable_geometry geo;
    geo.tsz = 64 - cfg.ias;
    // Same level count at both stages: ceil((ias - g) / s) (reference §8.2).
    const auto start = arch::stage1_start_level(g, geo.tsz, false);
    if (!start)
        return std::nullopt;
    geo.start_level = *start;
    geo.pgd_index_bits = cfg.ias - arch::level_shift(g, geo.start_level);

    if (cfg.stage == arch::stage::two) {
        const bool mandatory = concat_mandatory(g, geo.start_level, cfg.ias, cfg.oas);
        const bool wanted = cfg.concat == s2_concat_policy::when_mandatory
                                ? mandatory
                                : geo.start_level == 0 || mandatory;
        const bool fits = geo.pgd_index_bits <= 4; // at most 16 tables
        if (wanted && !fits && mandatory)
            return std::nullopt;
        if (wanted && fits) {
            geo.concat_tables = 1u << geo.pgd_index_bits;
            geo.start_level += 1;
            geo.pgd_index_bits += arch::bits_per_level(g);
        }
        geo.sl0 = encode_sl0(g, geo.start_level);
        // The SMMU's own decode must agree, or the STE would be ILLEGAL.
        const auto check = arch::stage2_start_level(g, geo.sl0, geo.tsz, false, false, false);
        if (!check || check->level != geo.start_level || check->tables != geo.concat_tables)
            return std::nullopt;
    }

    for (int level = 1; level <= arch::max_level; ++level)
        if (leaf_level_allowed(g, level, cfg.oas))
            geo.pgsize_bitmap |= k_one << arch::level_shift(g, level);
    return geo;
}

// ---------------------------------------------------------------- gather

bool iotlb_gather::is_disjoint(std::uint64_t iova, std::uint64_t size) const {
    return !empty() && (iova + size < start || iova > end + 1);
}

bool iotlb_gather::needs_sync(std::uint64_t iova, std::uint64_t size,
                              std::uint64_t leaf_size) const {
    return (pgsize != 0 && pgsize != leaf_size) || is_disjoint(iova, size);
}

void iotlb_gather::add(std::uint64_t iova, std::uint64_t size, std::uint64_t leaf_size) {
    start = std::min(start, iova);
    end = std::max(end, iova + size - 1);
    pgsize = leaf_size;
}

void iotlb_gather::reset() {
    start = std::numeric_limits<std::uint64_t>::max();
    end = 0;
    pgsize = 0;
}

// ---------------------------------------------------------------- lifetime

io_pgtable_create_result io_pgtable::create(const io_pgtable_cfg& cfg, platform_ops& platform,
                                            io_pgtable_flush_ops& flush) {
    const auto geo = compute_geometry(cfg);
    if (!geo)
        return {nullptr, pgtable_status::bad_config};
    const std::uint64_t bytes = std::max(geo->pgd_bytes(), k_min_pgd_bytes);
    const auto pgd = platform.alloc_dma(bytes, bytes);
    if (!pgd)
        return {nullptr, pgtable_status::no_memory};
    return {std::unique_ptr<io_pgtable>(new io_pgtable(cfg, *geo, platform, flush, *pgd)),
            pgtable_status::ok};
}

io_pgtable::io_pgtable(const io_pgtable_cfg& cfg, const pgtable_geometry& geo,
                       platform_ops& platform, io_pgtable_flush_ops& flush, phys_addr pgd)
    : m_cfg(cfg)
    , m_geo(geo)
    , m_platform(platform)
    , m_flush(flush)
    , m_pgd(pgd)
    , m_oa_format(arch::select_oa_format(cfg.granule, false)) {}

io_pgtable::~io_pgtable() {
    free_tree(m_pgd, m_geo.start_level);
}

std::optional<s1_hw_config> io_pgtable::s1_config() const {
    if (m_cfg.stage != arch::stage::one)
        return std::nullopt;
    s1_hw_config c;
    c.ttb0 = m_pgd;
    c.t0sz = m_geo.tsz;
    c.tg0 = arch::tg0_from_granule(m_cfg.granule);
    c.ips = static_cast<arch::pa_size_encoding>(arch::encode_oas(m_cfg.oas).value_or(5));
    if (!m_cfg.coherent_walk) {
        c.ir0 = c.or0 = arch::walk_cacheability::non_cacheable;
        c.sh0 = arch::shareability_encoding::outer;
    }
    return c;
}

std::optional<s2_hw_config> io_pgtable::s2_config() const {
    if (m_cfg.stage != arch::stage::two)
        return std::nullopt;
    s2_hw_config c;
    c.s2ttb = m_pgd;
    c.s2t0sz = m_geo.tsz;
    c.s2sl0 = m_geo.sl0;
    c.s2tg = arch::tg0_from_granule(m_cfg.granule);
    c.s2ps = static_cast<arch::pa_size_encoding>(arch::encode_oas(m_cfg.oas).value_or(5));
    if (!m_cfg.coherent_walk) {
        c.s2ir0 = c.s2or0 = arch::walk_cacheability::non_cacheable;
        c.s2sh0 = arch::shareability_encoding::outer;
    }
    return c;
}

// ---------------------------------------------------------------- descriptors

std::uint64_t io_pgtable::leaf_attributes(const iommu_prot& prot) const {
    std::uint64_t d = td::af.set(0, 1);
    // Linux: inner-shareable for cacheable mappings, outer-shareable otherwise.
    d = td::sh.set(d, prot.cache ? 3u : 2u);
    if (!prot.exec)
        d |= td::pxn.mask() | td::uxn.mask(); // Linux's XN is bits [54:53] at both stages
    if (m_cfg.stage == arch::stage::one) {
        d = td::ng.set(d, 1);
        d = td::attr_indx.set(d, prot.mmio    ? k_mair_idx_dev
                                 : prot.cache ? k_mair_idx_cache
                                              : k_mair_idx_nc);
        if (prot.read && !prot.write)
            d = td::ap_ro.set(d, 1);
        if (!prot.priv)
            d = td::ap_el0.set(d, 1);
    } else {
        d = td::mem_attr.set(d, prot.mmio    ? k_memattr_dev
                                : prot.cache ? k_memattr_oiwb
                                             : k_memattr_nc);
        if (prot.read)
            d = td::s2ap_read.set(d, 1);
        if (prot.write)
            d = td::s2ap_write.set(d, 1);
    }
    return d;
}

std::uint64_t io_pgtable::entries(int level) const {
    const unsigned bits =
        level == m_geo.start_level ? m_geo.pgd_index_bits : arch::bits_per_level(m_cfg.granule);
    return k_one << bits;
}

std::uint64_t io_pgtable::table_bytes(int level) const {
    return level == m_geo.start_level ? std::max(m_geo.pgd_bytes(), k_min_pgd_bytes)
                                      : granule_bytes();
}

phys_addr io_pgtable::entry_address(phys_addr table, int level, std::uint64_t iova) const {
    return table + ((iova >> shift(level)) & (entries(level) - 1)) * 8;
}

bool io_pgtable::leaf_allowed(int level) const {
    return leaf_level_allowed(m_cfg.granule, level, m_cfg.oas);
}

bool io_pgtable::is_leaf(std::uint64_t desc, int level) const {
    return level == arch::max_level || td::type.get(desc) == 0;
}

std::uint64_t io_pgtable::leaf_descriptor(int level, phys_addr pa, std::uint64_t attrs) const {
    std::uint64_t d = attrs | arch::encode_descriptor_address(pa, shift(level), m_oa_format);
    d = td::valid.set(d, 1);
    return td::type.set(d, level == arch::max_level ? 1u : 0u);
}

std::uint64_t io_pgtable::table_descriptor(phys_addr table) const {
    const std::uint64_t d =
        arch::encode_descriptor_address(table, arch::granule_shift(m_cfg.granule), m_oa_format);
    return td::type.set(td::valid.set(d, 1), 1);
}

phys_addr io_pgtable::next_table(std::uint64_t desc) const {
    return arch::descriptor_address(desc, arch::granule_shift(m_cfg.granule), m_oa_format);
}

phys_addr io_pgtable::leaf_output(std::uint64_t desc, int level) const {
    return arch::descriptor_address(desc, shift(level), m_oa_format);
}

std::uint64_t io_pgtable::address_mask() const {
    return arch::encode_descriptor_address(~std::uint64_t{0}, arch::granule_shift(m_cfg.granule),
                                           m_oa_format);
}

// ---------------------------------------------------------------- memory

std::uint64_t io_pgtable::read_pte(phys_addr pa) const {
    std::uint64_t v = 0;
    m_platform.mem_read(pa, &v, sizeof v);
    return v;
}

void io_pgtable::write_pte(phys_addr pa, std::uint64_t value) {
    m_platform.mem_write(pa, &value, sizeof value);
    m_platform.charge(cpu_op::pte_write);
    m_dirty = true;
}

void io_pgtable::barrier() {
    m_platform.barrier();
    m_platform.charge(cpu_op::barrier);
    m_dirty = false;
}

void io_pgtable::publish() {
    if (m_dirty)
        barrier();
}

void io_pgtable::install_table(phys_addr entry, phys_addr table) {
    // The new table's contents must be visible before the descriptor that
    // points to it (Linux: dma_wmb() in the table install, always).
    barrier();
    write_pte(entry, table_descriptor(table));
}

std::optional<phys_addr> io_pgtable::alloc_table() {
    const std::uint64_t bytes = granule_bytes();
    return m_platform.alloc_dma(bytes, bytes);
}

void io_pgtable::free_tree(phys_addr table, int level) {
    if (level < arch::max_level) {
        for (std::uint64_t i = 0; i < entries(level); ++i) {
            const std::uint64_t d = read_pte(table + i * 8);
            if (desc_valid(d) && !is_leaf(d, level))
                free_tree(next_table(d), level + 1);
        }
    }
    m_platform.free_dma(table, table_bytes(level));
}

bool io_pgtable::tree_has_leaf(phys_addr table, int level) const {
    for (std::uint64_t i = 0; i < entries(level); ++i) {
        const std::uint64_t d = read_pte(table + i * 8);
        if (!desc_valid(d))
            continue;
        if (is_leaf(d, level) || tree_has_leaf(next_table(d), level + 1))
            return true;
    }
    return false;
}

void io_pgtable::discard_table(phys_addr entry, std::uint64_t desc, int level, std::uint64_t base) {
    // Clear, make it visible, flush walks that may hold the table, then free.
    write_pte(entry, 0);
    publish();
    m_flush.flush_walk(base, k_one << shift(level), granule_bytes());
    free_tree(next_table(desc), level + 1);
}

// ---------------------------------------------------------------- map

map_result io_pgtable::map(std::uint64_t iova, phys_addr paddr, std::uint64_t size,
                           const iommu_prot& prot) {
    if (size == 0)
        return {};
    if (((iova | paddr | size) & (granule_bytes() - 1)) != 0)
        return {pgtable_status::misaligned, 0};
    const std::uint64_t ia_limit = k_one << m_cfg.ias;
    const std::uint64_t oa_limit = k_one << m_cfg.oas;
    if (iova >= ia_limit || size > ia_limit - iova || paddr >= oa_limit || size > oa_limit - paddr)
        return {pgtable_status::out_of_range, 0};
    if (!prot.read && !prot.write)
        return {pgtable_status::no_access, 0};

    map_result r;
    std::uint64_t va = iova;
    phys_addr pa = paddr;
    r.status =
        map_range(m_pgd, m_geo.start_level, va, pa, iova + size, leaf_attributes(prot), r.mapped);
    publish();
    return r;
}

pgtable_status io_pgtable::map_range(phys_addr table, int level, std::uint64_t& iova, phys_addr& pa,
                                     std::uint64_t end, std::uint64_t attrs,
                                     std::uint64_t& mapped) {
    const unsigned s = shift(level);
    const std::uint64_t span = k_one << s;
    while (iova < end) {
        const phys_addr entry = entry_address(table, level, iova);
        std::uint64_t desc = read_pte(entry);
        const std::uint64_t base = arch::align_down(iova, s);
        // Level 3 always takes this branch: iova, pa and size are page aligned.
        if (leaf_allowed(level) && iova == base && arch::is_aligned(pa, s) && end - iova >= span) {
            if (desc_valid(desc)) {
                if (is_leaf(desc, level) || tree_has_leaf(next_table(desc), level + 1))
                    return pgtable_status::already_mapped;
                discard_table(entry, desc, level, base);
            }
            write_pte(entry, leaf_descriptor(level, pa, attrs));
            iova += span;
            pa += span;
            mapped += span;
            continue;
        }
        if (!desc_valid(desc)) {
            const auto next = alloc_table();
            if (!next)
                return pgtable_status::no_memory;
            install_table(entry, *next);
            desc = table_descriptor(*next);
        } else if (is_leaf(desc, level)) {
            return pgtable_status::already_mapped;
        }
        const auto st = map_range(next_table(desc), level + 1, iova, pa, std::min(end, base + span),
                                  attrs, mapped);
        if (st != pgtable_status::ok)
            return st;
    }
    return pgtable_status::ok;
}

// ---------------------------------------------------------------- unmap

unmap_result io_pgtable::unmap(std::uint64_t iova, std::uint64_t size, iotlb_gather& gather) {
    if (size == 0)
        return {};
    if (((iova | size) & (granule_bytes() - 1)) != 0)
        return {pgtable_status::misaligned, 0};
    const std::uint64_t ia_limit = k_one << m_cfg.ias;
    if (iova >= ia_limit || size > ia_limit - iova)
        return {pgtable_status::out_of_range, 0};

    unmap_result r;
    std::uint64_t va = iova;
    r.status = unmap_range(m_pgd, m_geo.start_level, va, iova + size, gather, r.unmapped);
    publish();
    return r;
}

pgtable_status io_pgtable::unmap_range(phys_addr table, int level, std::uint64_t& iova,
                                       std::uint64_t end, iotlb_gather& gather,
                                       std::uint64_t& unmapped) {
    const unsigned s = shift(level);
    const std::uint64_t span = k_one << s;
    while (iova < end) {
        const phys_addr entry = entry_address(table, level, iova);
        const std::uint64_t desc = read_pte(entry);
        const std::uint64_t base = arch::align_down(iova, s);
        const std::uint64_t chunk_end = std::min(end, base + span);
        if (!desc_valid(desc))
            return pgtable_status::not_mapped;
        const bool leaf = is_leaf(desc, level);
        if (iova == base && chunk_end == base + span) {
            if (leaf)
                write_pte(entry, 0);
            else
                discard_table(entry, desc, level, base);
            // Recent Linux also gathers the span of a freed table (already
            // flushed by flush_walk); kept so the gather covers the whole unmap.
            gather_add(gather, base, span, span);
        } else if (leaf) {
            const auto replacement = build_split(level, desc, base, iova, chunk_end);
            if (!replacement)
                return pgtable_status::no_memory;
            install_table(entry, *replacement);
            gather_add(gather, iova, chunk_end - iova, span);
        } else {
            const auto st =
                unmap_range(next_table(desc), level + 1, iova, chunk_end, gather, unmapped);
            if (st != pgtable_status::ok)
                return st;
            continue; // the recursion advanced iova and counted
        }
        unmapped += chunk_end - iova;
        iova = chunk_end;
    }
    return pgtable_status::ok;
}

std::optional<phys_addr> io_pgtable::build_split(int level, std::uint64_t block_desc,
                                                 std::uint64_t block_base, std::uint64_t hole_start,
                                                 std::uint64_t hole_end) {
    const auto table = alloc_table();
    if (!table)
        return std::nullopt;
    const int child = level + 1;
    const std::uint64_t child_span = k_one << shift(child);
    const std::uint64_t attrs = block_desc & ~address_mask() & ~arch::bit_mask(1, 0);
    const phys_addr block_pa = leaf_output(block_desc, level);
    for (std::uint64_t i = 0; i < entries(child); ++i) {
        const std::uint64_t lo = block_base + i * child_span;
        const std::uint64_t hi = lo + child_span;
        const phys_addr out = block_pa + i * child_span;
        if (lo >= hole_start && hi <= hole_end)
            continue; // unmapped: stays zero
        if (hi <= hole_start || lo >= hole_end) {
            write_pte(*table + i * 8, leaf_descriptor(child, out, attrs));
            continue;
        }
        const auto sub = build_split(child, leaf_descriptor(child, out, attrs), lo,
                                     std::max(hole_start, lo), std::min(hole_end, hi));
        if (!sub) {
            free_tree(*table, child);
            return std::nullopt;
        }
        write_pte(*table + i * 8, table_descriptor(*sub));
    }
    return table;
}

void io_pgtable::gather_add(iotlb_gather& gather, std::uint64_t iova, std::uint64_t size,
                            std::uint64_t leaf_size) {
    if (gather.queued)
        return;
    if (gather.needs_sync(iova, size, leaf_size)) {
        publish();
        m_flush.sync(gather);
        gather.reset();
    }
    gather.add(iova, size, leaf_size);
}

// ---------------------------------------------------------------- lookup

std::optional<pte_lookup> io_pgtable::lookup(std::uint64_t iova) const {
    if (iova >= (k_one << m_cfg.ias))
        return std::nullopt;
    phys_addr table = m_pgd;
    for (int level = m_geo.start_level; level <= arch::max_level; ++level) {
        const phys_addr entry = entry_address(table, level, iova);
        const std::uint64_t d = read_pte(entry);
        if (!desc_valid(d))
            return std::nullopt;
        if (is_leaf(d, level)) {
            const std::uint64_t span = k_one << shift(level);
            return pte_lookup{level, d, entry, leaf_output(d, level) + (iova & (span - 1)), span};
        }
        table = next_table(d);
    }
    return std::nullopt;
}

std::optional<phys_addr> io_pgtable::iova_to_phys(std::uint64_t iova) const {
    const auto l = lookup(iova);
    if (!l)
        return std::nullopt;
    return l->output_address;
}

} // namespace smmu::driver
