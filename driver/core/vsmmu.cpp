#include "driver/core/vsmmu.h"

#include "driver/core/attach.h"
#include "driver/core/domain.h"
#include "model/arch/invalidation.h"

namespace smmu::driver {

const char* to_string(vsmmu_error e) {
    switch (e) {
    case vsmmu_error::none:
        return "none";
    case vsmmu_error::illegal_command:
        return "illegal_command";
    case vsmmu_error::unsupported_command:
        return "unsupported_command";
    case vsmmu_error::unknown_vsid:
        return "unknown_vsid";
    case vsmmu_error::queue_failed:
        return "queue_failed";
    }
    return "?";
}

// ---- vsmmu -----------------------------------------------------------------------------------

vsmmu::vsmmu(smmu_instance& smmu, domain& parent, std::uint32_t vmid)
    : m_smmu(smmu)
    , m_parent(parent)
    , m_vmid(vmid)
    , m_guest_caps(smmu.caps()) {
    m_guest_caps.e2h = false; // the guest's stage 1 is an EL1 regime under the VMID
    m_guest_caps.owner = this;
}

bool vsmmu::add_device(std::uint32_t vsid, master& m) {
    if (m_devices.count(vsid) != 0 || vsid_of(m))
        return false;
    m_devices.emplace(vsid, &m);
    return true;
}

std::optional<std::uint32_t> vsmmu::vsid_of(const master& m) const {
    for (const auto& [vsid, dev] : m_devices)
        if (dev == &m)
            return vsid;
    return std::nullopt;
}

bool vsmmu::remove_device(std::uint32_t vsid) {
    return m_devices.erase(vsid) != 0;
}

master* vsmmu::device(std::uint32_t vsid) const {
    const auto it = m_devices.find(vsid);
    return it == m_devices.end() ? nullptr : it->second;
}

bool vsmmu::acceptable(const arch::ste& g) const {
    if (!g.v || g.config == arch::ste_config::abort)
        return true;
    if (g.config != arch::ste_config::bypass && g.config != arch::ste_config::s1_translate)
        return false;
    if (g.eats != arch::ste_eats::abort && g.eats != arch::ste_eats::full)
        return false;
    return g.s1_cd_max <= m_smmu.features().ssid_bits;
}

arch::ste vsmmu::physical_ste(const arch::ste& g, bool ats) const {
    const arch::ste_eats eats = ats ? arch::ste_eats::full : arch::ste_eats::abort;
    arch::ste t = make_s2_ste(m_parent, m_vmid, m_smmu.features(), eats);
    if (g.config != arch::ste_config::s1_translate)
        return t; // bypass: the guest's IOVA is its IPA
    t.config = arch::ste_config::nested;
    t.s1_fmt = g.s1_fmt;
    t.s1_context_ptr = g.s1_context_ptr; // an IPA, translated by the parent's stage 2
    t.s1_cd_max = g.s1_cd_max;
    t.s1_dss = g.s1_dss;
    t.s1_cir = g.s1_cir;
    t.s1_cor = g.s1_cor;
    t.s1_csh = g.s1_csh;
    t.s1_stalld = g.s1_stalld;
    t.strw = arch::ste_strw::el1;
    return t;
}

vsmmu_invalidate_result vsmmu::translate(const arch::command_words* cmds, std::size_t count,
                                         std::vector<arch::command>& out) const {
    vsmmu_invalidate_result r;
    const arch::command_decode_context ctx = arch::decode_context_for(m_smmu.features());
    for (; r.consumed < count; ++r.consumed) {
        const arch::command_decode_result d = arch::decode_command(cmds[r.consumed], ctx);
        if (!d.ok()) {
            r.error = vsmmu_error::illegal_command;
            return r;
        }
        arch::command c = d.cmd;
        switch (c.op) {
        case arch::opcode::tlbi_nh_all:
        case arch::opcode::tlbi_nh_asid:
        case arch::opcode::tlbi_nh_va:
        case arch::opcode::tlbi_nh_vaa:
            c.vmid = static_cast<arch::vmid_t>(m_vmid); // whatever the guest wrote
            break;
        case arch::opcode::cfgi_cd:
        case arch::opcode::cfgi_cd_all:
        case arch::opcode::atc_inv: {
            const master* m = device(c.sid);
            if (m == nullptr) {
                r.error = vsmmu_error::unknown_vsid;
                return r;
            }
            // A master with several StreamIDs gets the command for each.
            for (const arch::stream_id sid : m->unique_sids()) {
                c.sid = sid;
                out.push_back(c);
            }
            continue;
        }
        default:
            r.error = vsmmu_error::unsupported_command;
            return r;
        }
        out.push_back(c);
    }
    return r;
}

// ---- vsmmu_sink ------------------------------------------------------------------------------

vsmmu_sink::~vsmmu_sink() {
    if (m_count != 0)
        forward();
}

bool vsmmu_sink::forward() {
    const vsmmu_invalidate_result r = m_port.invalidate(m_cmds.data(), m_count);
    m_count = 0;
    if (!r.ok() && m_error == vsmmu_error::none)
        m_error = r.error;
    return r.ok();
}

bool vsmmu_sink::add(smmu_ref, const arch::command& cmd) {
    bool ok = true;
    if (m_count == m_cmds.size())
        ok = forward();
    m_cmds[m_count++] = arch::encode(cmd);
    return ok;
}

bool vsmmu_sink::sync(smmu_ref) {
    return m_count == 0 || forward();
}

} // namespace smmu::driver
