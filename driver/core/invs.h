// The per-domain invalidation array (linux-invs.md §2, §3): one sorted,
// reference-counted list of invalidation actions ("flush ASID x on SMMU A",
// "ATC-invalidate SID s") that every IOPTE change of the domain must perform.
//
// Concurrency contract (§3.8):
// * writers (merge, unref, purge, publish) are serialised by the caller (the
//   driver's ASID lock); merge and purge only write into fresh arrays;
// * readers (the inv_range walker) take no lock except the array's read lock
//   when the array holds ATS entries; they load `users` and `num_invs` atomically;
// * an array is published into an invs_slot with a release store and loaded
//   with an acquire load; a reader's std::shared_ptr snapshot keeps the array
//   alive until it is done, which is our deferred free (the RCU grace period).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "driver/core/platform.h"
#include "model/arch/command.h"
#include "model/arch/features.h"
#include "model/arch/types.h"

namespace smmu::driver {

/// What the invalidation logic needs to know about one SMMU instance. The
/// driver's per-SMMU object owns one; its address is the SMMU identity that
/// invs entries carry and the primary sort key.
struct smmu_caps {
    std::uint32_t index = 0; ///< for diagnostics only; identity is the address
    bool ril = false;        ///< IDR3.RIL: range TLBIs
    bool ats = false;        ///< IDR0.ATS
    bool e2h = false;        ///< stage 1 uses the EL2 TLBI opcodes (CR2.E2H, §2.1)
    unsigned asid_bits = 8;  ///< 16 if IDR0.ASID16 else 8
    unsigned vmid_bits = 8;  ///< 16 if IDR0.VMID16 else 8
    void* owner = nullptr;   ///< opaque back pointer for the command sink's use
};

/// The SMMU identity (never null in a valid entry).
using smmu_ref = const smmu_caps*;

/// Capabilities as decoded from the ID registers.
smmu_caps caps_from_features(const arch::feature_set& f, bool e2h, std::uint32_t index = 0);

/// Entry types in their semantic (emission) order within one SMMU (§2.1).
enum class inv_type : std::uint8_t {
    s1_asid = 0,          ///< stage-1 entries by ASID (S1 and SVA domains)
    s2_vmid = 1,          ///< stage-2 entries by VMID (S2 domains, nesting parents)
    s2_vmid_vsmmu = 2,    ///< VMID owned by a vSMMU (share-domain §5.2); same commands as s2_vmid
    s2_vmid_s1_clear = 3, ///< nesting parent: guest stage-1 entries under the VMID
    ats = 4,              ///< ATC of one StreamID (optionally one PASID), by range
    ats_full = 5,         ///< whole ATC of one StreamID
};

constexpr bool is_ats(inv_type t) {
    return t == inv_type::ats || t == inv_type::ats_full;
}
/// Types an IOTLB tag (ASID / VMID) entry may have (§5.2).
constexpr bool is_tag_type(inv_type t) {
    return t == inv_type::s1_asid || t == inv_type::s2_vmid || t == inv_type::s2_vmid_vsmmu;
}

/// An int read and written by single relaxed atomic accesses (READ_ONCE /
/// WRITE_ONCE), copyable so entries can be copied between arrays.
class relaxed_int {
public:
    relaxed_int(int v = 0) // NOLINT(google-explicit-constructor): reads like a plain int
        : m_value(v) {}
    relaxed_int(const relaxed_int& o)
        : m_value(o.load()) {}
    relaxed_int& operator=(const relaxed_int& o) {
        store(o.load());
        return *this;
    }
    int load() const { return m_value.load(std::memory_order_relaxed); }
    void store(int v) { m_value.store(v, std::memory_order_relaxed); }

private:
    std::atomic<int> m_value;
};

/// One invalidation action (§2.2).
struct inv {
    smmu_ref smmu = nullptr;
    inv_type type = inv_type::s1_asid;
    arch::opcode size_opcode = arch::opcode::tlbi_nh_va;    ///< ranged form
    arch::opcode nsize_opcode = arch::opcode::tlbi_nh_asid; ///< whole-tag form
    std::uint32_t id = 0;                                   ///< ASID, VMID or StreamID
    std::uint32_t ssid = 0;                                 ///< PASID of ATS entries (0 = no PASID)
    std::uint8_t pgsize = 0; ///< log2 of the smallest page size, tag entries on RIL SMMUs only
    relaxed_int users;       ///< attachments needing this entry; 0 = trash
};

/// The opcodes of an entry type on an SMMU (§2.1: E2H variants for stage 1).
struct inv_opcodes {
    arch::opcode size_opcode;
    arch::opcode nsize_opcode;
};
inv_opcodes opcodes_for(smmu_ref smmu, inv_type type);

/// An entry with opcodes filled in, users = 0. `ssid` is kept for ATS types only.
inv make_inv(smmu_ref smmu, inv_type type, std::uint32_t id, std::uint32_t ssid = 0,
             std::uint8_t pgsize = 0);

/// -1 / 0 / +1 by (SMMU, type, id, and ssid if `l` is an ATS type) (§3.1).
int inv_cmp(const inv& l, const inv& r);

/// Creates the per-array reader/writer lock; supplied by the lock owner
/// (driver/host: simulated-CPU locks; tests: std::shared_mutex).
class rw_lock_factory {
public:
    virtual ~rw_lock_factory() = default;
    /// nullptr when no lock can be allocated (the array allocation then fails).
    virtual std::unique_ptr<rw_lock_ops> make_rw_lock() = 0;
};

enum class invs_error : std::uint8_t {
    none,
    no_memory,   ///< array or lock allocation failed
    unsorted,    ///< an input list was not sorted by inv_cmp
    overflow,    ///< the per-master build list is too small (a sizing bug)
    bad_input,   ///< null SMMU, a non-tag type as tag, nesting on an ASID tag
    inconsistent ///< internal counters disagree (num_trashes > num_invs, count mismatch)
};

const char* invs_error_name(invs_error e);

/// A fixed-capacity list of entries: the per-master build buffer (§2.4), used as
/// the to-merge and to-unref lists. Allocated once; never grows.
class inv_list {
public:
    inv_list() = default;
    /// nullopt on allocation failure.
    static std::optional<inv_list> create(std::size_t capacity);

    std::size_t capacity() const { return m_capacity; }
    std::size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }
    /// False when full.
    bool push(const inv& e);
    void clear() { m_size = 0; }

    inv& operator[](std::size_t i) { return m_items[i]; }
    const inv& operator[](std::size_t i) const { return m_items[i]; }

private:
    std::unique_ptr<inv[]> m_items;
    std::size_t m_capacity = 0;
    std::size_t m_size = 0;
};

struct merge_result;
struct purge_result;

/// The array object (§2.3). Elements other than `users` and the header's
/// `num_invs` are immutable once published.
class inv_array {
public:
    /// An array of `capacity` default entries with num_invs = capacity (§2.3
    /// invs_alloc); nullptr on allocation failure. capacity 0 is the empty array
    /// a new domain starts with.
    static std::shared_ptr<inv_array> create(std::size_t capacity, rw_lock_factory& locks);

    inv_array(const inv_array&) = delete;
    inv_array& operator=(const inv_array&) = delete;

    std::size_t capacity() const { return m_capacity; }
    /// Slots readers consider (live entries and in-between trash); one atomic load.
    std::size_t num_invs() const { return m_num_invs.load(std::memory_order_relaxed); }
    /// Trash entries inside [0, num_invs) (writer side only).
    std::size_t num_trashes() const { return m_num_trashes; }
    bool has_ats() const { return m_has_ats; }
    rw_lock_ops& lock() const { return *m_lock; }
    rw_lock_factory& lock_factory() const { return *m_factory; }

    inv& operator[](std::size_t i) { return m_items[i]; }
    const inv& operator[](std::size_t i) const { return m_items[i]; }

    /// First index in [from, end) whose users != 0, or `end` (§3.1 iterator).
    std::size_t next_live(std::size_t from, std::size_t end) const;

    /// Number of live entries in [0, num_invs).
    std::size_t count_live() const;

private:
    inv_array(std::size_t capacity, std::unique_ptr<inv[]> items, std::unique_ptr<rw_lock_ops> lock,
              rw_lock_factory& factory);

    friend merge_result invs_merge(const inv_array&, const inv_list&);
    friend std::size_t invs_unref(inv_array&, inv_list&, platform_ops*);
    friend purge_result invs_purge(const inv_array&);
    friend struct inv_array_test_access; // tests corrupt counters to reach error paths

    std::size_t m_capacity;
    std::atomic<std::size_t> m_num_invs;
    std::size_t m_num_trashes = 0;
    bool m_has_ats = false;
    std::unique_ptr<inv[]> m_items;
    std::unique_ptr<rw_lock_ops> m_lock;
    rw_lock_factory* m_factory;
};

struct merge_result {
    std::shared_ptr<inv_array> invs; ///< the new array; null on error
    invs_error error = invs_error::none;
    bool ok() const { return error == invs_error::none; }
};

/// §3.2: a new array holding the live entries of `invs` and `to_merge`
/// (shared entries get users + 1, new ones users = 1; trash disappears).
/// `invs` is not modified. Errors: no_memory, unsorted (to_merge not sorted).
merge_result invs_merge(const inv_array& invs, const inv_list& to_merge);

/// §3.3: drops one reference per entry of `to_unref` in place; cannot fail.
/// Writes each outcome into to_unref[k].users (1 = still referenced, 0 = last
/// reference dropped; an entry not found keeps its value), trims trailing trash
/// and shrinks num_invs under the array's write lock, which also waits for every
/// reader holding the read lock (in-flight ATC invalidations). `platform`, if
/// given, is charged one lock acquisition. Returns how many entries of
/// `to_unref` matched no live entry (0 unless the caller is inconsistent).
std::size_t invs_unref(inv_array& invs, inv_list& to_unref, platform_ops* platform = nullptr);

enum class purge_status : std::uint8_t {
    purged,        ///< `invs` holds the compacted array
    nothing_to_do, ///< no trash (or an empty array)
    no_memory,     ///< allocation failed: harmless, the trash stays
    inconsistent   ///< num_trashes > num_invs or live count mismatch
};

struct purge_result {
    std::shared_ptr<inv_array> invs; ///< non-null only when purged
    purge_status status = purge_status::nothing_to_do;
};

/// §3.4: a new array with the trash of `invs` removed.
purge_result invs_purge(const inv_array& invs);

/// A domain's published array pointer (`smmu_domain->invs`).
class invs_slot {
public:
    explicit invs_slot(std::shared_ptr<inv_array> initial = nullptr);
    invs_slot(const invs_slot&) = delete;
    invs_slot& operator=(const invs_slot&) = delete;

    /// Acquire load; the returned snapshot keeps the array alive.
    std::shared_ptr<inv_array> load() const;
    /// Release store; the previous array is freed once its last reader drops it.
    void publish(std::shared_ptr<inv_array> next);

private:
    std::shared_ptr<inv_array> m_ptr; // accessed only through std::atomic_load/store
};

/// Capacity of a master's build list (§2.4): 2, plus one per StreamID if ATS-capable.
std::size_t build_list_capacity(bool ats_capable, std::size_t num_sids);

/// Inputs of one per-master build (§3.5; tag as in share-domain §5.2).
struct build_spec {
    smmu_ref smmu = nullptr;
    inv_type tag_type = inv_type::s1_asid; ///< s1_asid, s2_vmid or s2_vmid_vsmmu
    std::uint32_t tag_id = 0;              ///< ASID or VMID
    bool nesting = false;       ///< adds S2_VMID_S1_CLEAR and uses ATS_FULL (stage-2 tags only)
    bool ats_enabled = false;   ///< adds one ATS / ATS_FULL entry per StreamID
    std::uint32_t ssid = 0;     ///< PASID of the attachment (0 = none)
    unsigned pgsize_shift = 12; ///< log2 of the domain's smallest page size
};

/// §3.5: overwrites `out` with the sorted entry list of one attachment:
///   S1 / SVA:           S1_ASID [+ ATS(sid, ssid) per SID]
///   S2:                 S2_VMID [+ ATS(sid, ssid) per SID]
///   nesting parent:     S2_VMID(_VSMMU) + S2_VMID_S1_CLEAR [+ ATS_FULL(sid) per SID]
/// `sids` must be sorted ascending (duplicates allowed). Errors: bad_input,
/// unsorted, overflow; `out` is left empty on error.
invs_error build_master_invs(inv_list& out, const build_spec& spec,
                             const std::vector<arch::stream_id>& sids);

} // namespace smmu::driver
