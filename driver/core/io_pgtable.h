// AArch64 (VMSAv8-64) IOMMU page tables as the Linux driver's io-pgtable-arm
// builds them: stage 1 (TTB0, ASID-tagged) or stage 2, 4K/16K/64K granules,
// 48-bit output (52 with 64K), map of arbitrary ranges with the largest blocks
// that alignment allows, unmap recording an IOTLB gather, iova_to_phys.
// Reference: smmuv3-reference.md §8.1-§8.4 (geometry, SL0 and concatenation,
// descriptor bits, MAIR/MemAttr values Linux uses); linux-invs.md §4.1 (what
// the gather and the walk flush feed).
//
// Decisions (see also the .cpp):
// * Unmap of part of a block splits it (older Linux): the replacement subtree
//   (one or more levels) is built off-line and installed with one write. The
//   gather records the unmapped part with pgsize = the block's size, because
//   the TLB may hold the block and a TTL hint of a smaller leaf would not be
//   required to hit it. Recent Linux refuses such unmaps instead.
// * Tables are freed only when an unmap covers the whole span of a table
//   descriptor (after a synchronous walk flush), as Linux does. Tables emptied
//   by partial unmaps stay until a block is mapped over them or the table is
//   destroyed.
// * Mapping a block over a table that still holds leaves is already_mapped;
//   over an empty table, the table is flushed and freed first (Linux replaces
//   the table whatever it holds).
// * A map that fails part-way leaves what it mapped (map_result::mapped), as
//   io-pgtable's map_pages; the caller unmaps it (the IOMMU core does).
// * Stage-2 XN is written as Linux writes it for IOMMU_NOEXEC: both bits
//   [54:53] (under FEAT_XNX, 0b11 still lets EL1 execute; reference §8.4).
// * Not thread-safe: callers serialise map/unmap on one table (Linux relies
//   on cmpxchg for concurrent installs; the model does not need it).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>

#include "driver/core/platform.h"
#include "model/arch/descriptor.h"
#include "model/arch/ste.h"
#include "model/arch/types.h"

namespace smmu::driver {

/// What a mapping allows: Linux's IOMMU_READ/WRITE/CACHE/MMIO/PRIV, and `exec`
/// the inverse of IOMMU_NOEXEC (execute is denied unless asked for).
struct iommu_prot {
    bool read = false;
    bool write = false;
    bool cache = false; ///< normal inner/outer write-back (else normal non-cacheable)
    bool mmio = false;  ///< device memory; takes precedence over `cache`
    bool priv = false;  ///< stage 1: privileged accesses only (no AP[1])
    bool exec = false;  ///< instruction fetches allowed (no XN)
};

/// When a stage-2 table starts one level lower with concatenated initial tables
/// (reference §8.3 "Linux stage-2 policy").
enum class s2_concat_policy : std::uint8_t {
    when_mandatory, ///< recent io-pgtable: only where the Arm ARM requires it
    /// older io-pgtable: also whenever a level-0 start has <= 16 entries
    at_level_zero,
};

struct io_pgtable_cfg {
    arch::stage stage = arch::stage::one;
    arch::granule granule = arch::granule::size_4k;
    unsigned ias = 48; ///< input bits: VA (stage 1) or IPA (stage 2)
    unsigned oas = 48; ///< output bits: 32, 36, 40, 42, 44, 48; 52 with 64K only
    /// The SMMU's table walks snoop CPU caches (IDR0.COHACC): walks are
    /// inner-shareable write-back, else outer-shareable non-cacheable.
    bool coherent_walk = true;
    s2_concat_policy concat = s2_concat_policy::when_mandatory;
};

enum class pgtable_status : std::uint8_t {
    ok,
    bad_config,     ///< unsupported granule/IAS/OAS combination
    no_memory,      ///< platform_ops::alloc_dma failed
    no_access,      ///< prot grants neither read nor write
    misaligned,     ///< iova, paddr or size not a multiple of the granule
    out_of_range,   ///< iova beyond the IAS or paddr beyond the OAS
    already_mapped, ///< part of the range is mapped
    not_mapped,     ///< unmap reached an unmapped address
};

const char* to_string(pgtable_status s);

/// Where walks start and how big the initial lookup is.
struct pgtable_geometry {
    int start_level = 0;
    unsigned concat_tables = 1;  ///< stage 2: concatenated initial tables (1..16)
    unsigned pgd_index_bits = 0; ///< the initial lookup holds 2^pgd_index_bits descriptors
    unsigned tsz = 16;           ///< T0SZ / S2T0SZ = 64 - ias
    unsigned sl0 = 0;            ///< stage 2: S2SL0 (VTCR_EL2.SL0 encoding)
    std::uint64_t pgsize_bitmap = 0;

    std::uint64_t pgd_bytes() const { return std::uint64_t{8} << pgd_index_bits; }
};

/// Geometry for a configuration, or std::nullopt when it is unsupported.
std::optional<pgtable_geometry> compute_geometry(const io_pgtable_cfg& cfg);

/// Stage-1 MAIR: idx0 0x44 normal NC, idx1 0xFF normal WB RWA, idx2 0x04
/// Device-nGnRE, idx3 0xF4 inner NC / outer WB (reference §8.4).
constexpr std::uint64_t k_linux_mair = 0x00000000F404FF44ull;
constexpr unsigned k_mair_idx_nc = 0;
constexpr unsigned k_mair_idx_cache = 1;
constexpr unsigned k_mair_idx_dev = 2;
/// Stage-2 MemAttr[3:0] Linux uses (reference §8.4).
constexpr unsigned k_memattr_oiwb = 0xF;
constexpr unsigned k_memattr_nc = 0x5;
constexpr unsigned k_memattr_dev = 0x1;

/// What the CD writer takes from a stage-1 table.
struct s1_hw_config {
    arch::phys_addr ttb0 = 0;
    unsigned t0sz = 16;
    arch::tg0_encoding tg0 = arch::tg0_encoding::size_4k;
    arch::pa_size_encoding ips = arch::pa_size_encoding::bits_48;
    arch::walk_cacheability ir0 = arch::walk_cacheability::wb_ra_wa;
    arch::walk_cacheability or0 = arch::walk_cacheability::wb_ra_wa;
    arch::shareability_encoding sh0 = arch::shareability_encoding::inner;
    bool epd1 = true; ///< TTB1 unused
    std::uint64_t mair = k_linux_mair;
};

/// What the STE writer takes from a stage-2 table.
struct s2_hw_config {
    arch::phys_addr s2ttb = 0;
    unsigned s2t0sz = 16;
    unsigned s2sl0 = 0;
    arch::tg0_encoding s2tg = arch::tg0_encoding::size_4k;
    arch::pa_size_encoding s2ps = arch::pa_size_encoding::bits_48;
    arch::walk_cacheability s2ir0 = arch::walk_cacheability::wb_ra_wa;
    arch::walk_cacheability s2or0 = arch::walk_cacheability::wb_ra_wa;
    arch::shareability_encoding s2sh0 = arch::shareability_encoding::inner;
};

/// The range an unmap leaves to invalidate, as Linux's iommu_iotlb_gather:
/// inclusive [start, end] and the leaf size `pgsize` (0 = empty). Ranges of the
/// same pgsize that touch or overlap merge; anything else needs a sync first.
struct iotlb_gather {
    std::uint64_t start = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t end = 0;
    std::uint64_t pgsize = 0;
    /// Lazy (flush-queue) mode: unmap records nothing, a later full flush covers it.
    bool queued = false;

    bool empty() const { return pgsize == 0; }
    /// Bytes to invalidate: end - start + 1 (0 when empty).
    std::uint64_t size() const { return empty() ? 0 : end - start + 1; }
    /// True when [iova, iova + size) neither touches nor overlaps the gathered range.
    bool is_disjoint(std::uint64_t iova, std::uint64_t size) const;
    /// True when the gathered range must be synced (invalidated) before adding
    /// [iova, iova + size) of leaf size `leaf_size`.
    bool needs_sync(std::uint64_t iova, std::uint64_t size, std::uint64_t leaf_size) const;
    /// Merges [iova, iova + size) in and sets pgsize (call needs_sync first).
    void add(std::uint64_t iova, std::uint64_t size, std::uint64_t leaf_size);
    /// Empties the gather (after a sync); keeps `queued`.
    void reset();
};

/// The TLB maintenance a table needs from its owner (Linux io-pgtable's
/// iommu_flush_ops with iommu_iotlb_sync), usually inv_range of linux-invs.md §4.
class io_pgtable_flush_ops {
public:
    virtual ~io_pgtable_flush_ops() = default;
    /// Synchronous invalidation of [iova, iova + size), walks included
    /// (leaf = false), before a table is freed. `granule` is the page granule.
    virtual void flush_walk(std::uint64_t iova, std::uint64_t size, std::uint64_t granule) = 0;
    /// Invalidates what `gather` holds (leaf = true) and waits for it; the
    /// table resets the gather afterwards.
    virtual void sync(const iotlb_gather& gather) = 0;
};

struct map_result {
    pgtable_status status = pgtable_status::ok;
    std::uint64_t mapped = 0; ///< bytes mapped, also when status is an error

    bool ok() const { return status == pgtable_status::ok; }
};

struct unmap_result {
    pgtable_status status = pgtable_status::ok;
    std::uint64_t unmapped = 0; ///< bytes unmapped before stopping

    bool ok() const { return status == pgtable_status::ok; }
};

/// The leaf that maps an address.
struct pte_lookup {
    int level = 0;
    std::uint64_t descriptor = 0;
    arch::phys_addr descriptor_address = 0;
    arch::phys_addr output_address = 0; ///< of the looked-up address
    std::uint64_t size = 0;             ///< bytes the leaf maps
};

class io_pgtable;

struct io_pgtable_create_result {
    std::unique_ptr<io_pgtable> table; ///< null on error
    pgtable_status status = pgtable_status::ok;
};

class io_pgtable {
public:
    /// Validates `cfg` and allocates the (zeroed) initial table. `platform` and
    /// `flush` must outlive the table.
    static io_pgtable_create_result create(const io_pgtable_cfg& cfg, platform_ops& platform,
                                           io_pgtable_flush_ops& flush);

    /// Frees every table (no TLB maintenance: the owner detached it already).
    ~io_pgtable();
    io_pgtable(const io_pgtable&) = delete;
    io_pgtable& operator=(const io_pgtable&) = delete;

    const io_pgtable_cfg& cfg() const { return m_cfg; }
    const pgtable_geometry& geometry() const { return m_geo; }
    std::uint64_t pgsize_bitmap() const { return m_geo.pgsize_bitmap; }
    std::uint64_t granule_bytes() const { return arch::granule_bytes(m_cfg.granule); }
    arch::phys_addr ttb() const { return m_pgd; }
    /// CD fields (stage-1 tables only).
    std::optional<s1_hw_config> s1_config() const;
    /// STE fields (stage-2 tables only).
    std::optional<s2_hw_config> s2_config() const;

    /// Maps [iova, iova + size) to [paddr, paddr + size) with the largest
    /// leaves that iova, paddr and the remaining size allow.
    map_result map(std::uint64_t iova, arch::phys_addr paddr, std::uint64_t size,
                   const iommu_prot& prot);
    /// Unmaps [iova, iova + size), recording the leaves removed in `gather`
    /// (syncing it through the flush ops whenever a range cannot merge).
    /// Stops at the first unmapped address (not_mapped).
    unmap_result unmap(std::uint64_t iova, std::uint64_t size, iotlb_gather& gather);
    /// Output address of `iova`, std::nullopt when unmapped.
    std::optional<arch::phys_addr> iova_to_phys(std::uint64_t iova) const;
    /// The leaf mapping `iova`, std::nullopt when unmapped.
    std::optional<pte_lookup> lookup(std::uint64_t iova) const;

    /// The leaf descriptor (without output address and type bits) for `prot`.
    std::uint64_t leaf_attributes(const iommu_prot& prot) const;

private:
    io_pgtable(const io_pgtable_cfg& cfg, const pgtable_geometry& geo, platform_ops& platform,
               io_pgtable_flush_ops& flush, arch::phys_addr pgd);

    unsigned shift(int level) const { return arch::level_shift(m_cfg.granule, level); }
    std::uint64_t entries(int level) const;
    std::uint64_t table_bytes(int level) const;
    arch::phys_addr entry_address(arch::phys_addr table, int level, std::uint64_t iova) const;
    bool leaf_allowed(int level) const;
    bool is_leaf(std::uint64_t desc, int level) const;
    std::uint64_t leaf_descriptor(int level, arch::phys_addr pa, std::uint64_t attrs) const;
    std::uint64_t table_descriptor(arch::phys_addr table) const;
    arch::phys_addr next_table(std::uint64_t desc) const;
    arch::phys_addr leaf_output(std::uint64_t desc, int level) const;
    std::uint64_t address_mask() const;

    std::uint64_t read_pte(arch::phys_addr pa) const;
    void write_pte(arch::phys_addr pa, std::uint64_t value);
    void barrier();
    void publish();
    void install_table(arch::phys_addr entry, arch::phys_addr table);

    std::optional<arch::phys_addr> alloc_table();
    void free_tree(arch::phys_addr table, int level);
    bool tree_has_leaf(arch::phys_addr table, int level) const;
    void discard_table(arch::phys_addr entry, std::uint64_t desc, int level, std::uint64_t base);

    pgtable_status map_range(arch::phys_addr table, int level, std::uint64_t& iova,
                             arch::phys_addr& pa, std::uint64_t end, std::uint64_t attrs,
                             std::uint64_t& mapped);
    pgtable_status unmap_range(arch::phys_addr table, int level, std::uint64_t& iova,
                               std::uint64_t end, iotlb_gather& gather, std::uint64_t& unmapped);
    std::optional<arch::phys_addr> build_split(int level, std::uint64_t block_desc,
                                               std::uint64_t block_base, std::uint64_t hole_start,
                                               std::uint64_t hole_end);
    void gather_add(iotlb_gather& gather, std::uint64_t iova, std::uint64_t size,
                    std::uint64_t leaf_size);

    io_pgtable_cfg m_cfg;
    pgtable_geometry m_geo;
    platform_ops& m_platform;
    io_pgtable_flush_ops& m_flush;
    arch::phys_addr m_pgd;
    arch::oa_format m_oa_format;
    bool m_dirty = false; ///< PTE writes not yet ordered by a barrier
};

} // namespace smmu::driver
