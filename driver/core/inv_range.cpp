#include "driver/core/inv_range.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <limits>
#include <optional>

#if defined(__SANITIZE_THREAD__)
#define SMMU_DRIVER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SMMU_DRIVER_TSAN 1
#endif
#endif

namespace smmu::driver {

namespace {

constexpr std::uint64_t all_bytes = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t page_address_mask = ~std::uint64_t{0xfff}; // command Address [63:12]

unsigned floor_log2(std::uint64_t v) {
    unsigned n = 0;
    while (v >>= 1)
        ++n;
    return n;
}

std::optional<arch::granule> granule_of_shift(unsigned shift) {
    switch (shift) {
    case 12:
        return arch::granule::size_4k;
    case 14:
        return arch::granule::size_16k;
    case 16:
        return arch::granule::size_64k;
    default:
        return std::nullopt;
    }
}

bool is_stage2_tag(inv_type t) {
    return t == inv_type::s2_vmid || t == inv_type::s2_vmid_vsmmu;
}

/// §4.3: where a CMD_SYNC must separate `cur` from `next`.
bool end_batch(const inv& cur, const inv& next, const inv_range_args& args) {
    if (cur.smmu != next.smmu)
        return true;
    if (next.type == inv_type::s2_vmid_s1_clear && cur.type != inv_type::s2_vmid_s1_clear)
        return true;
    return args.sync_before_ats && is_ats(next.type) && !is_ats(cur.type);
}

/// VMIDs that already got TLBI_S12_VMALL on the current SMMU in this walk: their
/// S2_VMID_S1_CLEAR entries are covered. Fixed size so the walk never allocates
/// for it; a VMID that does not fit is not recorded and its NH_ALL is emitted
/// (over-invalidation, never under-invalidation).
class vmall_record {
public:
    void add(smmu_ref smmu, std::uint32_t vmid) {
        if (smmu != m_smmu) {
            m_smmu = smmu;
            m_count = 0;
        }
        if (m_count < m_vmids.size())
            m_vmids[m_count++] = vmid;
    }
    bool covers(smmu_ref smmu, std::uint32_t vmid) const {
        if (smmu != m_smmu)
            return false;
        for (std::size_t i = 0; i < m_count; ++i) {
            if (m_vmids[i] == vmid)
                return true;
        }
        return false;
    }

private:
    smmu_ref m_smmu = nullptr;
    std::array<std::uint32_t, 16> m_vmids{};
    std::size_t m_count = 0;
};

class walker {
public:
    walker(const inv_range_args& args, command_sink& sink)
        : m_args(args)
        , m_sink(sink) {}

    /// Emits the commands of one entry (§4.4); returns how many.
    unsigned emit(const inv& e) {
        if (e.smmu == nullptr)
            return 0;
        const bool too_big = inv_size_too_big(*e.smmu, m_args.size, m_args.granule);
        switch (e.type) {
        case inv_type::s1_asid:
            return too_big ? add(e.smmu, make_nsize_command(e)) : emit_ranged(e);
        case inv_type::s2_vmid:
        case inv_type::s2_vmid_vsmmu:
            if (!too_big)
                return emit_ranged(e);
            m_vmall.add(e.smmu, e.id);
            return add(e.smmu, make_nsize_command(e));
        case inv_type::s2_vmid_s1_clear:
            // TLBI_S12_VMALL already removed the guest's stage-1 entries of this VMID.
            if (m_vmall.covers(e.smmu, e.id))
                return 0;
            return add(e.smmu, arch::make_tlbi_nh_all(static_cast<arch::vmid_t>(e.id)));
        case inv_type::ats: {
            const bool all = m_args.size == 0 || m_args.size == all_bytes;
            const arch::atc_inv_params p =
                arch::encode_atc_inv_range(all ? 0 : m_args.iova, all ? 0 : m_args.size);
            const arch::stream_ref s =
                e.ssid != 0 ? arch::stream_ref(e.id, e.ssid) : arch::stream_ref(e.id);
            return add(e.smmu, arch::make_atc_inv(s, p.address, p.size));
        }
        case inv_type::ats_full:
            return add(e.smmu, make_nsize_command(e));
        }
        return 0; // unknown type: nothing, but the walk still advances
    }

    void sync(smmu_ref smmu) {
        ++m_status.syncs;
        if (!m_sink.sync(smmu))
            m_status.ok = false;
    }

    const inv_range_status& status() const { return m_status; }

private:
    unsigned add(smmu_ref smmu, const arch::command& cmd) {
        ++m_status.commands;
        if (!m_sink.add(smmu, cmd))
            m_status.ok = false;
        return 1;
    }

    arch::command ranged_command(const inv& e, std::uint64_t address,
                                 const arch::tlbi_range& range) const {
        const std::uint64_t a = address & page_address_mask;
        const bool leaf = m_args.leaf;
        if (is_stage2_tag(e.type))
            return arch::make_tlbi_s2_ipa(static_cast<arch::vmid_t>(e.id), a, leaf, range);
        const auto asid = static_cast<arch::asid_t>(e.id);
        if (e.size_opcode == arch::opcode::tlbi_el2_va)
            return arch::make_tlbi_el2_va(asid, a, leaf, range);
        return arch::make_tlbi_nh_va(0, asid, a, leaf, range);
    }

    /// §4.6: range TLBIs with RIL, else one TLBI per granule.
    unsigned emit_ranged(const inv& e) {
        unsigned n = 0;
        const std::optional<arch::granule> tg = granule_of_shift(e.pgsize);
        if (e.smmu->ril && tg) {
            const unsigned leaf_shift =
                m_args.granule != 0 ? floor_log2(m_args.granule) : arch::granule_shift(*tg);
            for (const arch::tlbi_range_op& op :
                 arch::encode_range_tlbi(m_args.iova, m_args.size, *tg, leaf_shift, m_args.leaf))
                n += add(e.smmu, ranged_command(e, op.address, op.range));
            return n;
        }
        for (const std::uint64_t a :
             arch::encode_page_tlbi(m_args.iova, m_args.size, m_args.granule))
            n += add(e.smmu, ranged_command(e, a, arch::tlbi_range{}));
        return n;
    }

    const inv_range_args& m_args;
    command_sink& m_sink;
    vmall_record m_vmall;
    inv_range_status m_status;
};

/// Holds an array's read lock for one walk (released even if the walk throws).
class shared_lock_guard {
public:
    explicit shared_lock_guard(rw_lock_ops& l)
        : m_lock(l) {
        m_lock.lock_shared();
    }
    ~shared_lock_guard() { m_lock.unlock_shared(); }
    shared_lock_guard(const shared_lock_guard&) = delete;
    shared_lock_guard& operator=(const shared_lock_guard&) = delete;

private:
    rw_lock_ops& m_lock;
};

void full_barrier() {
#if !defined(SMMU_DRIVER_TSAN)
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    // ThreadSanitizer does not model stand-alone fences (GCC rejects them with
    // -Werror=tsan); what it checks, the array's publication, is ordered by the
    // acquire load.
}

} // namespace

bool inv_size_too_big(const smmu_caps& smmu, std::uint64_t size, std::uint64_t granule) {
    if (size == 0 || size == all_bytes)
        return true;
    if (smmu.ril)
        return false;
    if (granule == 0)
        return true; // no step to walk by: flush the tag
    // As many per-granule TLBIs as a granule-sized table has 8-byte entries.
    const unsigned g = floor_log2(granule);
    const std::uint64_t max_ops = g > 3 ? std::uint64_t{1} << (g - 3) : 1;
    if (granule > all_bytes / max_ops)
        return false;
    return size >= max_ops * granule;
}

arch::command make_nsize_command(const inv& e) {
    switch (e.type) {
    case inv_type::s1_asid: {
        const auto asid = static_cast<arch::asid_t>(e.id);
        if (e.nsize_opcode == arch::opcode::tlbi_el2_asid)
            return arch::make_tlbi_el2_asid(asid);
        return arch::make_tlbi_nh_asid(0, asid);
    }
    case inv_type::s2_vmid:
    case inv_type::s2_vmid_vsmmu:
        return arch::make_tlbi_s12_vmall(static_cast<arch::vmid_t>(e.id));
    case inv_type::s2_vmid_s1_clear:
        return arch::make_tlbi_nh_all(static_cast<arch::vmid_t>(e.id));
    case inv_type::ats: {
        const arch::atc_inv_params p = arch::encode_atc_inv_range(0, 0);
        const arch::stream_ref s =
            e.ssid != 0 ? arch::stream_ref(e.id, e.ssid) : arch::stream_ref(e.id);
        return arch::make_atc_inv(s, p.address, p.size);
    }
    case inv_type::ats_full:
        break;
    }
    const arch::atc_inv_params p = arch::encode_atc_inv_range(0, 0);
    return arch::make_atc_inv(arch::stream_ref(e.id), p.address, p.size);
}

inv_range_status inv_range_walk(const inv_array& invs, const inv_range_args& args,
                                command_sink& sink) {
    walker w(args, sink);
    const std::size_t end = invs.num_invs(); // loaded once (§4.3)
    unsigned batch = 0;
    std::size_t cur = invs.next_live(0, end);
    while (cur < end) {
        const inv& e = invs[cur];
        batch += w.emit(e);
        // A skipped entry (S1_CLEAR covered by S12_VMALL) still reaches this point,
        // so the walk always advances (the fix of §4.3).
        const std::size_t next = invs.next_live(cur + 1, end);
        if (batch > 0 && (next == end || end_batch(e, invs[next], args))) {
            w.sync(e.smmu);
            batch = 0;
        }
        cur = next;
    }
    return w.status();
}

inv_range_status domain_inv_range(const invs_slot& slot, const inv_range_args& args,
                                  command_sink& sink, platform_ops* platform) {
    // The caller's IOPTE stores must be visible to the SMMU before we load the
    // (possibly just updated) array; pairs with the barrier at the start of the
    // STE/CD writer (§3.8).
    full_barrier();
    if (platform != nullptr)
        platform->charge(cpu_op::barrier);

    const std::shared_ptr<inv_array> invs = slot.load();
    if (!invs)
        return {};
    if (!invs->has_ats())
        return inv_range_walk(*invs, args, sink);

    // Holding the read side keeps unref from completing while our ATC_INVs (and
    // their CMD_SYNC) are in flight.
    if (platform != nullptr)
        platform->charge(cpu_op::lock);
    const shared_lock_guard guard(invs->lock());
    return inv_range_walk(*invs, args, sink);
}

inv_range_status domain_inv_all(const invs_slot& slot, command_sink& sink, platform_ops* platform) {
    return domain_inv_range(slot, inv_range_args{}, sink, platform);
}

} // namespace smmu::driver
