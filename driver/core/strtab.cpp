#include "driver/core/strtab.h"

#include <algorithm>
#include <bitset>

namespace smmu::driver {

namespace {

using words = arch::structure_words;

constexpr std::size_t entry_words = std::tuple_size<words>::value;
constexpr std::size_t entry_bytes = entry_words * 8;

words or_words(const words& a, const words& b) {
    words r{};
    for (std::size_t i = 0; i < entry_words; ++i)
        r[i] = a[i] | b[i];
    return r;
}

// Field masks are the encodings of structures whose fields are all ones, so
// every bit position comes from model/arch.

words ste_mask_valid() {
    arch::ste s;
    s.v = true;
    return arch::encode_ste(s);
}

words ste_mask_config() {
    arch::ste s;
    s.config = arch::ste_config::nested;
    return arch::encode_ste(s);
}

/// Used whenever traffic flows (Config 1xx).
words ste_mask_traffic() {
    arch::ste s;
    s.nscfg = arch::ste_nscfg::non_secure;
    s.privcfg = arch::ste_privcfg::privileged;
    s.instcfg = arch::ste_instcfg::instruction;
    s.mev = true;
    s.dre = true;
    s.cont = 0xf;
    s.dcp = true;
    s.ppar = true;
    s.s1_mpam = true;
    s.imp_def_w1 = 0xfff;
    s.imp_def_w2 = 0xffff;
    s.imp_def_w4 = 0xffff;
    s.partid = 0xffff;
    s.pmg = 0xff;
    s.mpam_ns = true;
    s.vms_ptr = ~arch::phys_addr{0};
    return arch::encode_ste(s);
}

/// Incoming memory-type overrides: used unless stage 1 translates all traffic.
words ste_mask_memtype() {
    arch::ste s;
    s.mtcfg = true;
    s.mem_attr = 0xf;
    s.alloccfg = 0xf;
    s.shcfg = arch::ste_shcfg::inner;
    return arch::encode_ste(s);
}

words ste_mask_stage1() {
    arch::ste s;
    s.s1_fmt = arch::cd_table_format::reserved;
    s.s1_context_ptr = ~arch::phys_addr{0};
    s.s1_cd_max = 0x1f;
    s.s1_dss = arch::ste_s1dss::reserved;
    s.s1_cir = arch::fetch_cacheability::wb_no_read_allocate;
    s.s1_cor = arch::fetch_cacheability::wb_no_read_allocate;
    s.s1_csh = arch::shareability_encoding::inner;
    s.s1_stalld = true;
    s.strw = arch::ste_strw::reserved_3;
    s.eats = arch::ste_eats::full_dpt;
    s.s2_vmid = 0xffff; // tags stage-1 TLB entries of an SMMU with stage 2
    return arch::encode_ste(s);
}

words ste_mask_stage2() {
    arch::ste s;
    s.s2_hwu59 = s.s2_hwu60 = s.s2_hwu61 = s.s2_hwu62 = true;
    s.s2_fwb = true;
    s.eats = arch::ste_eats::full_dpt;
    s.s2_vmid = 0xffff;
    s.s2_t0sz = 0x3f;
    s.s2_sl0 = 3;
    s.s2_ir0 = arch::walk_cacheability::wb_ra_no_wa;
    s.s2_or0 = arch::walk_cacheability::wb_ra_no_wa;
    s.s2_sh0 = arch::shareability_encoding::inner;
    s.s2_tg = arch::tg0_encoding::reserved;
    s.s2_ps = arch::pa_size_encoding::bits_56;
    s.s2_aa64 = s.s2_endi = s.s2_affd = s.s2_ptw = true;
    s.s2_hd = s.s2_ha = s.s2_s = s.s2_r = s.s2_haft = true;
    s.s2_nsw = s.s2_nsa = s.s2_sl0_2 = s.s2_ds = true;
    s.s2_ttb = ~arch::phys_addr{0};
    return arch::encode_ste(s);
}

struct ste_masks {
    words valid = ste_mask_valid();
    words config = ste_mask_config();
    words traffic = ste_mask_traffic();
    words memtype = ste_mask_memtype();
    words stage1 = ste_mask_stage1();
    words stage2 = ste_mask_stage2();
};

const ste_masks& the_ste_masks() {
    static const ste_masks m;
    return m;
}

arch::cd all_ones_cd() {
    arch::cd c;
    c.t0sz = c.t1sz = 0x3f;
    c.tg0 = arch::tg0_encoding::reserved;
    c.tg1 = arch::tg1_encoding::size_64k;
    c.ir0 = c.or0 = c.ir1 = c.or1 = arch::walk_cacheability::wb_ra_no_wa;
    c.sh0 = c.sh1 = arch::shareability_encoding::inner;
    c.epd0 = c.endi = c.epd1 = c.v = true;
    c.ips = arch::pa_size_encoding::bits_56;
    c.affd = c.wxn = c.uwxn = c.tbi0 = c.tbi1 = c.pan = c.aa64 = true;
    c.hd = c.ha = c.s = c.r = c.a = c.aset = true;
    c.asid = 0xffff;
    c.nscfg0 = c.had0 = c.e0pd0 = c.haft = true;
    c.ttb0 = ~arch::phys_addr{0};
    c.hwu059 = c.hwu060 = c.hwu061 = c.hwu062 = true;
    c.nscfg1 = c.had1 = c.e0pd1 = c.ds = true;
    c.ttb1 = ~arch::phys_addr{0};
    c.hwu159 = c.hwu160 = c.hwu161 = c.hwu162 = true;
    c.mair0 = c.mair1 = c.amair0 = c.amair1 = c.imp_def = 0xffffffffu;
    c.partid = 0xffff;
    c.pmg = 0xff;
    return c;
}

words cd_mask_ttb0_walk() {
    arch::cd c;
    c.t0sz = 0x3f;
    c.tg0 = arch::tg0_encoding::reserved;
    c.ir0 = c.or0 = arch::walk_cacheability::wb_ra_no_wa;
    c.sh0 = arch::shareability_encoding::inner;
    c.ttb0 = ~arch::phys_addr{0};
    return arch::encode_cd(c);
}

words cd_mask_ttb1_walk() {
    arch::cd c;
    c.t1sz = 0x3f;
    c.tg1 = arch::tg1_encoding::size_64k;
    c.ir1 = c.or1 = arch::walk_cacheability::wb_ra_no_wa;
    c.sh1 = arch::shareability_encoding::inner;
    c.ttb1 = ~arch::phys_addr{0};
    return arch::encode_cd(c);
}

struct cd_masks {
    words valid = [] {
        arch::cd c;
        c.v = true;
        return arch::encode_cd(c);
    }();
    words all = arch::encode_cd(all_ones_cd());
    words ttb0_walk = cd_mask_ttb0_walk();
    words ttb1_walk = cd_mask_ttb1_walk();
    words epd0 = [] {
        arch::cd c;
        c.epd0 = true;
        return arch::encode_cd(c);
    }();
    words epd1 = [] {
        arch::cd c;
        c.epd1 = true;
        return arch::encode_cd(c);
    }();
};

const cd_masks& the_cd_masks() {
    static const cd_masks m;
    return m;
}

void store_le64(std::uint8_t* dst, std::uint64_t v) {
    for (unsigned i = 0; i < 8; ++i)
        dst[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t load_le64(const std::uint8_t* src) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i)
        v |= std::uint64_t{src[i]} << (8 * i);
    return v;
}

void write_word(platform_ops& p, std::uint64_t pa, std::uint64_t value) {
    std::uint8_t b[8];
    store_le64(b, value);
    p.mem_write(pa, b, sizeof b);
}

/// The entry as the writer believes it is in memory, and the steps that change it.
class entry_stepper {
public:
    entry_stepper(platform_ops& p, std::uint64_t pa, const words& current,
                  const entry_sync_fn& sync, entry_write_result& result)
        : m_platform(p)
        , m_pa(pa)
        , m_current(current)
        , m_sync(sync)
        , m_result(result) {}

    /// Writes the words of [first, first + count) that differ from `want`, then
    /// invalidates if anything was written. False once a sync failed.
    bool step(const words& want, std::size_t first, std::size_t count) {
        bool wrote = false;
        for (std::size_t i = first; i < first + count; ++i) {
            if (m_current[i] == want[i])
                continue;
            write_word(m_platform, m_pa + 8 * i, want[i]);
            m_current[i] = want[i];
            wrote = true;
        }
        if (!wrote)
            return true;
        ++m_result.syncs;
        m_result.status = m_sync();
        return m_result.status == smmu_status::ok;
    }

    const words& current() const { return m_current; }

private:
    platform_ops& m_platform;
    std::uint64_t m_pa;
    words m_current;
    const entry_sync_fn& m_sync;
    entry_write_result& m_result;
};

/// Current content with every bit the SMMU ignores now already set to target.
words unused_bits_updated(const words& current, const words& target, const words& used_now) {
    words r{};
    for (std::size_t i = 0; i < entry_words; ++i)
        r[i] = (current[i] & used_now[i]) | (target[i] & ~used_now[i]);
    return r;
}

/// Words where `from` still differs from `target` in bits the target uses.
std::bitset<entry_words> critical_words(const words& from, const words& target,
                                        const words& used_target) {
    std::bitset<entry_words> r;
    for (std::size_t i = 0; i < entry_words; ++i)
        r[i] = ((from[i] ^ target[i]) & used_target[i]) != 0;
    return r;
}

std::size_t first_set(const std::bitset<entry_words>& b) {
    for (std::size_t i = 0; i < entry_words; ++i)
        if (b[i])
            return i;
    return entry_words;
}

} // namespace

// --- Used bits ------------------------------------------------------------------

arch::structure_words ste_used_bits(const arch::structure_words& w) {
    const ste_masks& m = the_ste_masks();
    words used = m.valid;
    const arch::ste s = arch::decode_ste(w);
    if (!s.v)
        return used;
    used = or_words(used, m.config);
    if (!arch::config_allows_traffic(s.config))
        return used;
    used = or_words(used, m.traffic);
    const bool s1 = arch::config_stage1_enabled(s.config);
    const bool s2 = arch::config_stage2_enabled(s.config);
    if (s1)
        used = or_words(used, m.stage1);
    if (s2)
        used = or_words(used, m.stage2);
    if (!s1 || s2 || s.s1_dss == arch::ste_s1dss::bypass)
        used = or_words(used, m.memtype);
    return used;
}

entry_write_result write_cd_entry(platform_ops& platform, std::uint64_t pa,
                                  const arch::structure_words& target, const entry_sync_fn& sync) {
    return write_entry(platform, pa, target, cd_used_bits, the_cd_masks().valid[0], sync);
}

arch::structure_words cd_used_bits(const arch::structure_words& w) {
    const cd_masks& m = the_cd_masks();
    if ((w[0] & m.valid[0]) == 0)
        return m.valid;
    words used = m.all;
    for (std::size_t i = 0; i < entry_words; ++i) {
        if ((w[0] & m.epd0[0]) != 0)
            used[i] &= ~m.ttb0_walk[i];
        if ((w[0] & m.epd1[0]) != 0)
            used[i] &= ~m.ttb1_walk[i];
    }
    return used;
}

// --- Writer -------------------------------------------------------------------------

const char* to_string(entry_update u) {
    switch (u) {
    case entry_update::unchanged:
        return "unchanged";
    case entry_update::direct:
        return "direct";
    case entry_update::hitless:
        return "hitless";
    case entry_update::breaking:
        return "breaking";
    }
    return "unknown";
}

entry_update classify_update(const arch::structure_words& current,
                             const arch::structure_words& target, used_bits_fn used) {
    if (current == target)
        return entry_update::unchanged;
    const words step1 = unused_bits_updated(current, target, used(current));
    const std::size_t n = critical_words(step1, target, used(target)).count();
    if (n == 0)
        return entry_update::direct;
    return n == 1 ? entry_update::hitless : entry_update::breaking;
}

arch::structure_words read_entry(platform_ops& platform, std::uint64_t pa) {
    std::uint8_t b[entry_bytes];
    platform.mem_read(pa, b, sizeof b);
    words w{};
    for (std::size_t i = 0; i < entry_words; ++i)
        w[i] = load_le64(b + 8 * i);
    return w;
}

entry_write_result write_entry(platform_ops& platform, std::uint64_t pa,
                               const arch::structure_words& target, used_bits_fn used,
                               std::uint64_t valid_bit, const entry_sync_fn& sync) {
    entry_write_result r;
    // Orders the caller's earlier stores (page tables, CDs) before the entry.
    platform.barrier();
    platform.charge(cpu_op::barrier);
    const words current = read_entry(platform, pa);
    r.kind = classify_update(current, target, used);
    entry_stepper s(platform, pa, current, sync, r);
    switch (r.kind) {
    case entry_update::unchanged:
        break;
    case entry_update::direct:
        s.step(target, 0, entry_words);
        break;
    case entry_update::hitless: {
        words step1 = unused_bits_updated(current, target, used(current));
        const std::size_t critical = first_set(critical_words(step1, target, used(target)));
        step1[critical] = current[critical];
        if (s.step(step1, 0, entry_words) && s.step(target, critical, 1))
            s.step(target, 0, entry_words); // bits the target no longer uses
        break;
    }
    case entry_update::breaking: {
        words broken = current;
        broken[0] &= ~valid_bit;
        if (s.step(broken, 0, 1) && s.step(target, 1, entry_words - 1))
            s.step(target, 0, 1);
        break;
    }
    }
    return r;
}

// --- Stream table -----------------------------------------------------------------

arch::ste make_default_ste(bool disable_bypass) {
    arch::ste s;
    s.v = true;
    if (disable_bypass) {
        s.config = arch::ste_config::abort;
    } else {
        s.config = arch::ste_config::bypass;
        s.shcfg = arch::ste_shcfg::incoming;
    }
    return s;
}

stream_table::stream_table(platform_ops& platform, cmdq& queue)
    : m_platform(platform)
    , m_queue(queue) {}

stream_table::~stream_table() {
    release();
}

void stream_table::fill_default(std::uint64_t pa, std::size_t count) {
    constexpr std::size_t chunk_entries = 64;
    const words ste = arch::encode_ste(make_default_ste(m_disable_bypass));
    std::vector<std::uint8_t> buf(chunk_entries * entry_bytes);
    for (std::size_t e = 0; e < chunk_entries; ++e)
        for (std::size_t i = 0; i < entry_words; ++i)
            store_le64(buf.data() + e * entry_bytes + 8 * i, ste[i]);
    for (std::size_t done = 0; done < count; done += chunk_entries) {
        const std::size_t n = std::min(chunk_entries, count - done);
        m_platform.mem_write(pa + done * entry_bytes, buf.data(), n * entry_bytes);
    }
}

smmu_status stream_table::allocate(const arch::feature_set& f, bool disable_bypass) {
    release();
    m_disable_bypass = disable_bypass;
    const bool two_level = f.st_level_2 && f.sid_bits > strtab_split;
    if (!two_level) {
        if (f.sid_bits > 32)
            return smmu_status::bad_input;
        const std::size_t count = std::size_t{1} << f.sid_bits;
        const std::size_t bytes = count * entry_bytes;
        const auto pa = m_platform.alloc_dma(bytes, bytes);
        if (!pa)
            return smmu_status::no_memory;
        m_fmt = arch::strtab_fmt::linear;
        m_log2size = f.sid_bits;
        m_base = *pa;
        m_l1_bytes = bytes;
        fill_default(m_base, count);
        return smmu_status::ok;
    }
    const unsigned l1_log2 = std::min(f.sid_bits - strtab_split, strtab_max_l1_log2);
    const std::size_t l1_count = std::size_t{1} << l1_log2;
    const std::size_t bytes = l1_count * arch::k_l1_desc_bytes;
    // L1STDs start at 0 (Span 0, invalid) as alloc_dma zeroes.
    const auto pa = m_platform.alloc_dma(bytes, std::max<std::size_t>(bytes, 64));
    if (!pa)
        return smmu_status::no_memory;
    m_fmt = arch::strtab_fmt::two_level;
    m_log2size = l1_log2 + strtab_split;
    m_base = *pa;
    m_l1_bytes = bytes;
    m_l2.assign(l1_count, 0);
    return smmu_status::ok;
}

void stream_table::release() {
    const std::size_t l2_bytes = (std::size_t{1} << strtab_split) * entry_bytes;
    for (std::uint64_t& l2 : m_l2) {
        if (l2 != 0)
            m_platform.free_dma(l2, l2_bytes);
        l2 = 0;
    }
    m_l2.clear();
    if (m_l1_bytes != 0)
        m_platform.free_dma(m_base, m_l1_bytes);
    m_l1_bytes = 0;
    m_base = 0;
}

std::uint64_t stream_table::base_register() const {
    const std::uint64_t v = arch::strtab_base::addr.set(0, m_base >> arch::strtab_base::addr.lo);
    return arch::strtab_base::ra.set(v, 1);
}

std::uint32_t stream_table::base_cfg_register() const {
    std::uint64_t v = arch::strtab_base_cfg::log2size.set(0, m_log2size);
    if (m_fmt == arch::strtab_fmt::two_level) {
        v = arch::strtab_base_cfg::split.set(v, strtab_split);
        v = arch::strtab_base_cfg::fmt.set(v, static_cast<unsigned>(arch::strtab_fmt::two_level));
    }
    return static_cast<std::uint32_t>(v);
}

smmu_status stream_table::ensure_ste(arch::stream_id sid) {
    if (!allocated())
        return smmu_status::not_ready;
    if ((std::uint64_t{sid} >> m_log2size) != 0)
        return smmu_status::bad_input;
    if (m_fmt == arch::strtab_fmt::linear)
        return smmu_status::ok;
    const std::uint32_t l1_index = sid >> strtab_split;
    if (m_l2[l1_index] != 0)
        return smmu_status::ok;
    const std::size_t count = std::size_t{1} << strtab_split;
    const std::size_t bytes = count * entry_bytes;
    const auto pa = m_platform.alloc_dma(bytes, bytes); // L2Ptr is aligned to the table size
    if (!pa)
        return smmu_status::no_memory;
    fill_default(*pa, count);
    m_platform.barrier(); // the STEs before the descriptor that makes them reachable
    m_platform.charge(cpu_op::barrier);
    const std::uint64_t l1std =
        arch::encode_l1std({static_cast<std::uint8_t>(strtab_split + 1), *pa});
    write_word(m_platform, m_base + std::uint64_t{l1_index} * arch::k_l1_desc_bytes, l1std);
    m_l2[l1_index] = *pa;
    // An invalid L1STD may have been cached: non-leaf CFGI_STE for a StreamID
    // of the span (reference §2.1).
    return m_queue.issue_with_sync(arch::make_cfgi_ste(l1_index << strtab_split, false));
}

std::optional<std::uint64_t> stream_table::ste_address(arch::stream_id sid) const {
    if (!allocated() || (std::uint64_t{sid} >> m_log2size) != 0)
        return std::nullopt;
    if (m_fmt == arch::strtab_fmt::linear)
        return m_base + std::uint64_t{sid} * entry_bytes;
    const std::uint64_t l2 = m_l2[sid >> strtab_split];
    if (l2 == 0)
        return std::nullopt;
    const std::uint32_t index = sid & ((1u << strtab_split) - 1);
    return l2 + std::uint64_t{index} * entry_bytes;
}

std::optional<arch::ste> stream_table::read_ste(arch::stream_id sid) const {
    const auto pa = ste_address(sid);
    if (!pa)
        return std::nullopt;
    return arch::decode_ste(read_entry(m_platform, *pa));
}

entry_write_result stream_table::write_ste(arch::stream_id sid, const arch::ste& target) {
    entry_write_result r;
    r.status = ensure_ste(sid);
    if (r.status != smmu_status::ok)
        return r;
    const entry_sync_fn sync = [this, sid] {
        return m_queue.issue_with_sync(arch::make_cfgi_ste(sid, true));
    };
    return write_entry(m_platform, *ste_address(sid), arch::encode_ste(target), ste_used_bits,
                       the_ste_masks().valid[0], sync);
}

unsigned stream_table::l2_tables() const {
    return static_cast<unsigned>(
        std::count_if(m_l2.begin(), m_l2.end(), [](std::uint64_t pa) { return pa != 0; }));
}

// --- CD tables ------------------------------------------------------------------------

cd_table::cd_table(platform_ops& platform, cmdq& queue)
    : m_platform(platform)
    , m_queue(queue) {}

cd_table::~cd_table() {
    release();
}

smmu_status cd_table::allocate(unsigned ssid_bits, const arch::feature_set& f) {
    release();
    if (ssid_bits > f.ssid_bits)
        return smmu_status::bad_input;
    if (!f.cd2l)
        ssid_bits = std::min(ssid_bits, cd_split);
    const bool two_level = ssid_bits > cd_split;
    const std::size_t count = std::size_t{1} << (two_level ? ssid_bits - cd_split : ssid_bits);
    const std::size_t bytes = count * (two_level ? arch::k_l1_desc_bytes : entry_bytes);
    const auto pa = m_platform.alloc_dma(bytes, std::max<std::size_t>(bytes, 64));
    if (!pa)
        return smmu_status::no_memory;
    m_fmt = two_level ? arch::cd_table_format::two_level_64k : arch::cd_table_format::linear;
    m_log2_cds = ssid_bits;
    m_base = *pa;
    m_l1_bytes = bytes;
    if (two_level)
        m_l2.assign(count, 0);
    return smmu_status::ok;
}

void cd_table::release() {
    const std::size_t l2_bytes = (std::size_t{1} << cd_split) * entry_bytes;
    for (std::uint64_t& l2 : m_l2) {
        if (l2 != 0)
            m_platform.free_dma(l2, l2_bytes);
        l2 = 0;
    }
    m_l2.clear();
    if (m_l1_bytes != 0)
        m_platform.free_dma(m_base, m_l1_bytes);
    m_l1_bytes = 0;
    m_base = 0;
}

void cd_table::apply_to(arch::ste& s) const {
    s.s1_context_ptr = m_base;
    s.s1_fmt = m_fmt;
    s.s1_cd_max = s1_cd_max();
}

std::optional<std::uint64_t> cd_table::cd_address(arch::substream_id ssid) const {
    if (!allocated() || (std::uint64_t{ssid} >> m_log2_cds) != 0)
        return std::nullopt;
    if (m_fmt == arch::cd_table_format::linear)
        return m_base + std::uint64_t{ssid} * entry_bytes;
    const std::uint64_t l2 = m_l2[ssid >> cd_split];
    if (l2 == 0)
        return std::nullopt;
    return l2 + std::uint64_t{ssid & ((1u << cd_split) - 1)} * entry_bytes;
}

std::optional<arch::cd> cd_table::read_cd(arch::substream_id ssid) const {
    const auto pa = cd_address(ssid);
    if (!pa)
        return std::nullopt;
    return arch::decode_cd(read_entry(m_platform, *pa));
}

smmu_status cd_table::sync_cd(arch::substream_id ssid, bool leaf) {
    if (m_sids.empty())
        return smmu_status::ok; // no STE points here yet: nothing can be cached
    cmdq_batch batch(m_queue);
    for (const arch::stream_id sid : m_sids)
        if (const smmu_status st = batch.add(arch::make_cfgi_cd(sid, ssid, leaf));
            st != smmu_status::ok)
            return st;
    return batch.sync();
}

smmu_status cd_table::ensure_l2(arch::substream_id ssid) {
    if (m_fmt == arch::cd_table_format::linear)
        return smmu_status::ok;
    const std::uint32_t l1_index = ssid >> cd_split;
    if (m_l2[l1_index] != 0)
        return smmu_status::ok;
    const std::size_t bytes = (std::size_t{1} << cd_split) * entry_bytes;
    const auto pa = m_platform.alloc_dma(bytes, bytes); // 64 KB leaves: L2Ptr[15:12] RES0
    if (!pa)
        return smmu_status::no_memory;
    m_platform.barrier(); // the zeroed (invalid) CDs before the descriptor
    m_platform.charge(cpu_op::barrier);
    write_word(m_platform, m_base + std::uint64_t{l1_index} * arch::k_l1_desc_bytes,
               arch::encode_l1cd({true, *pa}));
    m_l2[l1_index] = *pa;
    // An invalid L1CD may have been cached (reference §4.3).
    return sync_cd(ssid, false);
}

entry_write_result cd_table::write_cd(arch::substream_id ssid, const arch::cd& target) {
    entry_write_result r;
    if (!allocated()) {
        r.status = smmu_status::not_ready;
        return r;
    }
    if ((std::uint64_t{ssid} >> m_log2_cds) != 0) {
        r.status = smmu_status::bad_input;
        return r;
    }
    r.status = ensure_l2(ssid);
    if (r.status != smmu_status::ok)
        return r;
    const entry_sync_fn sync = [this, ssid] { return sync_cd(ssid, true); };
    return write_cd_entry(m_platform, *cd_address(ssid), arch::encode_cd(target), sync);
}

entry_write_result cd_table::clear_cd(arch::substream_id ssid) {
    entry_write_result r;
    if (!allocated()) {
        r.status = smmu_status::not_ready;
        return r;
    }
    if ((std::uint64_t{ssid} >> m_log2_cds) != 0) {
        r.status = smmu_status::bad_input;
        return r;
    }
    const auto pa = cd_address(ssid);
    if (!pa)
        return r; // level-2 table never allocated: the CD is already invalid
    const entry_sync_fn sync = [this, ssid] { return sync_cd(ssid, true); };
    return write_cd_entry(m_platform, *pa, words{}, sync);
}

smmu_status cd_table::prepare_cd(arch::substream_id ssid) {
    if (!allocated())
        return smmu_status::not_ready;
    if ((std::uint64_t{ssid} >> m_log2_cds) != 0)
        return smmu_status::bad_input;
    return ensure_l2(ssid);
}

unsigned cd_table::l2_tables() const {
    return static_cast<unsigned>(
        std::count_if(m_l2.begin(), m_l2.end(), [](std::uint64_t pa) { return pa != 0; }));
}

} // namespace smmu::driver
