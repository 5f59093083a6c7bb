// Stream table and CD tables in memory, and the writer that updates a live
// 64-byte STE or CD without the SMMU ever seeing a mix of the old and new
// configuration (reference §2, §3.4, §4.5). The SMMU reads these structures
// with at least 64-bit single-copy atomicity (reference §3.4).
//
// The writer compares the bits the SMMU uses in the current and the target
// entry. Bits it ignores now can be written at any time; if after that a
// single word still differs in used bits, writing that word switches the
// entry atomically (hitless). Otherwise the entry is broken first (V = 0),
// filled, and made valid again (break-before-make). Every step that wrote
// something is followed by the entry's invalidation (CMD_CFGI_STE or
// CMD_CFGI_CD) and a CMD_SYNC.
//
// Callers serialise updates of one table (Linux holds its master / stream
// locks); the command queue does its own locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "driver/core/cmdq.h"
#include "driver/core/platform.h"
#include "model/arch/cd.h"
#include "model/arch/features.h"
#include "model/arch/registers.h"
#include "model/arch/ste.h"
#include "model/arch/stream_table.h"

namespace smmu::driver {

// --- Entry writer ---------------------------------------------------------------

/// Bits of each word the SMMU uses for an entry with this content.
using used_bits_fn = arch::structure_words (*)(const arch::structure_words&);

/// STE bits in use (IHI0070 §5.2 field usage by Config): V; with V, Config;
/// with Config 1xx the permission/type overrides other than the memory-type
/// ones, MEV and the misc/MPAM/IMPDEF fields; memory-type overrides (MTCFG,
/// MemAttr, ALLOCCFG, SHCFG) when stage 1 does not translate all traffic
/// (bypass, stage 2 enabled, or S1DSS = bypass); the stage-1 fields and S2VMID
/// with stage 1; the stage-2 fields, EATS and S2VMID with stage 2. SW_RESERVED
/// and RES0 bits are never in use.
arch::structure_words ste_used_bits(const arch::structure_words& ste);

/// CD bits in use (IHI0070 §5.4): V; with V every field, except the TTB0
/// walk fields (T0SZ, TG0, IR0, OR0, SH0, TTB0) when EPD0 = 1 and the TTB1
/// ones when EPD1 = 1. (EPD0 is ignored in EL2 stream worlds; this driver
/// never sets it for them.)
arch::structure_words cd_used_bits(const arch::structure_words& cd);

/// How an update was carried out.
enum class entry_update : std::uint8_t {
    unchanged, ///< target already in place: nothing written
    direct,    ///< only unused bits differ: one write step
    hitless,   ///< unused bits, then the one critical word, then clean-up
    breaking,  ///< V = 0, other words, then word 0
};

const char* to_string(entry_update u);

/// The plan for moving `current` to `target`, without writing anything.
entry_update classify_update(const arch::structure_words& current,
                             const arch::structure_words& target, used_bits_fn used);

/// Invalidates the entry's cached copies and waits (CFGI + CMD_SYNC).
using entry_sync_fn = std::function<smmu_status()>;

struct entry_write_result {
    smmu_status status = smmu_status::ok;
    entry_update kind = entry_update::unchanged;
    unsigned syncs = 0; ///< invalidation steps issued
};

/// Updates the 64-byte entry at `pa` to `target`. `valid_bit` is the mask of
/// V in word 0 (STE bit 0, CD bit 31). Begins with a barrier (dma_wmb,
/// linux-invs.md §3.6); each word is one 64-bit mem_write.
entry_write_result write_entry(platform_ops& platform, std::uint64_t pa,
                               const arch::structure_words& target, used_bits_fn used,
                               std::uint64_t valid_bit, const entry_sync_fn& sync);

arch::structure_words read_entry(platform_ops& platform, std::uint64_t pa);

/// write_entry for the CD at `pa` (encoded `target`; all zero: an invalid CD).
entry_write_result write_cd_entry(platform_ops& platform, std::uint64_t pa,
                                  const arch::structure_words& target, const entry_sync_fn& sync);

// --- Stream table -----------------------------------------------------------------

/// Linux's STRTAB_SPLIT: 256 STEs (16 KB) per level-2 table.
inline constexpr unsigned strtab_split = 8;
/// Linux's cap on level-1 entries (reference §2).
inline constexpr unsigned strtab_max_l1_log2 = 17;

/// The STE every StreamID gets until it is configured: abort when bypass is
/// disabled, else bypass with incoming shareability (V = 1 either way).
arch::ste make_default_ste(bool disable_bypass);

class stream_table {
public:
    stream_table(platform_ops& platform, cmdq& queue);
    ~stream_table();
    stream_table(const stream_table&) = delete;
    stream_table& operator=(const stream_table&) = delete;

    /// Linux policy (reference §2): linear (2^SIDSIZE STEs) without 2-level
    /// support or when SIDSIZE <= SPLIT; else 2-level with SPLIT = 8, at most
    /// 2^17 level-1 descriptors, all invalid until a StreamID is first used.
    /// Linear tables are filled with make_default_ste(disable_bypass).
    smmu_status allocate(const arch::feature_set& f, bool disable_bypass);
    void release();
    bool allocated() const { return m_l1_bytes != 0; }

    arch::strtab_fmt format() const { return m_fmt; }
    unsigned log2size() const { return m_log2size; }
    unsigned split() const { return strtab_split; }
    std::uint64_t base_address() const { return m_base; }
    /// SMMU_STRTAB_BASE: RA | ADDR.
    std::uint64_t base_register() const;
    /// SMMU_STRTAB_BASE_CFG: FMT, SPLIT, LOG2SIZE.
    std::uint32_t base_cfg_register() const;

    /// Makes the STE of `sid` exist: for a 2-level table, allocates its level-2
    /// table (filled with default STEs), writes the L1STD (Span = SPLIT + 1) and
    /// invalidates it with CMD_CFGI_STE Leaf = 0 + CMD_SYNC. bad_input when sid
    /// is beyond the table, no_memory when the level-2 allocation fails.
    smmu_status ensure_ste(arch::stream_id sid);
    /// Address of the STE, nullopt when out of range or its level-2 table is absent.
    std::optional<std::uint64_t> ste_address(arch::stream_id sid) const;
    std::optional<arch::ste> read_ste(arch::stream_id sid) const;
    /// ensure_ste, then the hitless writer with CMD_CFGI_STE(sid, Leaf = 1) + CMD_SYNC.
    entry_write_result write_ste(arch::stream_id sid, const arch::ste& target);

    unsigned l2_tables() const;

private:
    void fill_default(std::uint64_t pa, std::size_t count);

    platform_ops& m_platform;
    cmdq& m_queue;
    arch::strtab_fmt m_fmt = arch::strtab_fmt::linear;
    unsigned m_log2size = 0;
    bool m_disable_bypass = true;
    std::uint64_t m_base = 0;
    std::size_t m_l1_bytes = 0;      ///< the linear table or the level-1 table
    std::vector<std::uint64_t> m_l2; ///< level-2 table per L1 index, 0 = absent
};

// --- CD tables ----------------------------------------------------------------------

/// Linux's CTXDESC_L2_ENTRIES: 1024 CDs (64 KB) per level-2 table, S1Fmt = 64K leaves.
inline constexpr unsigned cd_split = 10;

/// The CD table of one master (shared by its StreamIDs): linear when it holds
/// at most 1024 CDs or the SMMU lacks 2-level CD tables (then capped at 1024),
/// else 2-level with 64 KB leaves allocated when an SSID is first written
/// (reference §4.5).
class cd_table {
public:
    cd_table(platform_ops& platform, cmdq& queue);
    ~cd_table();
    cd_table(const cd_table&) = delete;
    cd_table& operator=(const cd_table&) = delete;

    /// `ssid_bits` = 0: a single CD (S1CDMax = 0). bad_input above IDR1.SSIDSIZE.
    smmu_status allocate(unsigned ssid_bits, const arch::feature_set& f);
    void release();
    bool allocated() const { return m_l1_bytes != 0; }

    /// The StreamIDs whose STEs point at this table: each gets a CMD_CFGI_CD.
    void set_stream_ids(std::vector<arch::stream_id> sids) { m_sids = std::move(sids); }
    const std::vector<arch::stream_id>& stream_ids() const { return m_sids; }

    arch::cd_table_format format() const { return m_fmt; }
    std::uint8_t s1_cd_max() const { return static_cast<std::uint8_t>(m_log2_cds); }
    std::uint64_t context_ptr() const { return m_base; }
    /// Sets S1ContextPtr, S1Fmt and S1CDMax of an STE to this table.
    void apply_to(arch::ste& s) const;

    std::optional<std::uint64_t> cd_address(arch::substream_id ssid) const;
    std::optional<arch::cd> read_cd(arch::substream_id ssid) const;
    /// Writes the CD of `ssid` hitlessly, allocating its level-2 table (and
    /// installing the L1CD with CMD_CFGI_CD Leaf = 0 + CMD_SYNC) when needed.
    entry_write_result write_cd(arch::substream_id ssid, const arch::cd& target);
    /// Writes an invalid CD (nothing to do when its level-2 table is absent).
    entry_write_result clear_cd(arch::substream_id ssid);
    /// Allocates and installs the level-2 table holding `ssid`'s CD (if any is
    /// needed), so that a later write_cd cannot fail for memory: the attach path
    /// does this before it publishes anything (linux-invs.md §3.6 prepare).
    /// not_ready before allocate, bad_input beyond the table, no_memory.
    smmu_status prepare_cd(arch::substream_id ssid);

    unsigned l2_tables() const;

private:
    smmu_status ensure_l2(arch::substream_id ssid);
    smmu_status sync_cd(arch::substream_id ssid, bool leaf);

    platform_ops& m_platform;
    cmdq& m_queue;
    std::vector<arch::stream_id> m_sids;
    arch::cd_table_format m_fmt = arch::cd_table_format::linear;
    unsigned m_log2_cds = 0;
    std::uint64_t m_base = 0;
    std::size_t m_l1_bytes = 0;      ///< the linear table or the level-1 table
    std::vector<std::uint64_t> m_l2; ///< level-2 table per L1 index, 0 = absent
};

} // namespace smmu::driver
