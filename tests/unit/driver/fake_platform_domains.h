// Test doubles for the domain / attach / driver tests: fake_smmu_hw with a
// hook on memory writes (ordering checks), mutex and reader/writer lock
// factories with failure injection and a hook on the writer side (the unref
// fence), and readable one-line forms of the commands the fake SMMU consumed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "driver/core/driver.h"
#include "driver/core/invs.h"
#include "model/arch/command.h"
#include "tests/unit/driver/fake_smmu_hw.h"

namespace smmu::driver::dtest {

/// fake_smmu_hw that reports every memory write after performing it.
class observed_smmu_hw : public fake_smmu_hw {
public:
    using fake_smmu_hw::fake_smmu_hw;
    void mem_write(std::uint64_t pa, const void* src, std::size_t len) override {
        fake_smmu_hw::mem_write(pa, src, len);
        if (on_mem_write)
            on_mem_write(pa, len);
    }
    std::function<void(std::uint64_t pa, std::size_t len)> on_mem_write;
};

/// Mutexes; the n-th and later creations (0-based) fail from `fail_from`.
class mutex_lock_factory final : public lock_factory {
public:
    std::unique_ptr<lock_ops> make_lock() override {
        const unsigned n = m_created++;
        if (fail_from && n >= *fail_from)
            return nullptr;
        return std::make_unique<fake_smmu_lock>();
    }
    unsigned created() const { return m_created; }
    std::optional<unsigned> fail_from;

private:
    unsigned m_created = 0;
};

/// std::shared_mutex; `on_exclusive` runs after each writer acquisition.
class hooked_rw_lock final : public rw_lock_ops {
public:
    explicit hooked_rw_lock(const std::function<void()>& hook)
        : m_hook(hook) {}
    void lock_shared() override { m_mutex.lock_shared(); }
    void unlock_shared() override { m_mutex.unlock_shared(); }
    void lock() override {
        m_mutex.lock();
        if (m_hook)
            m_hook();
    }
    void unlock() override { m_mutex.unlock(); }

private:
    std::shared_mutex m_mutex;
    const std::function<void()>& m_hook;
};

/// Reader/writer locks for the invs arrays; `fail_next()` makes the next creation fail.
class hooked_rw_lock_factory final : public rw_lock_factory {
public:
    std::unique_ptr<rw_lock_ops> make_rw_lock() override {
        ++m_created;
        if (m_fail_next) {
            m_fail_next = false;
            return nullptr;
        }
        return std::make_unique<hooked_rw_lock>(on_exclusive);
    }
    void fail_next() { m_fail_next = true; }
    unsigned created() const { return m_created; }
    std::function<void()> on_exclusive;

private:
    bool m_fail_next = false;
    unsigned m_created = 0;
};

/// One line per command with the fields the invalidation and attach paths set.
inline std::string cmd_str(const arch::command& c) {
    using arch::opcode;
    const auto range = [&c] {
        if (c.range.tg == arch::tlbi_granule::none)
            return std::string();
        return fmt::format(" tg={} ttl={} num={} scale={}", static_cast<unsigned>(c.range.tg),
                           static_cast<unsigned>(c.range.ttl), c.range.num, c.range.scale);
    };
    switch (c.op) {
    case opcode::tlbi_nh_va:
        return fmt::format("NH_VA asid={} vmid={} addr={:#x} leaf={}{}", c.asid, c.vmid, c.address,
                           c.leaf ? 1 : 0, range());
    case opcode::tlbi_el2_va:
        return fmt::format("EL2_VA asid={} addr={:#x} leaf={}{}", c.asid, c.address, c.leaf ? 1 : 0,
                           range());
    case opcode::tlbi_s2_ipa:
        return fmt::format("S2_IPA vmid={} addr={:#x} leaf={}{}", c.vmid, c.address, c.leaf ? 1 : 0,
                           range());
    case opcode::tlbi_nh_asid:
        return fmt::format("NH_ASID asid={} vmid={}", c.asid, c.vmid);
    case opcode::tlbi_el2_asid:
        return fmt::format("EL2_ASID asid={}", c.asid);
    case opcode::tlbi_s12_vmall:
        return fmt::format("S12_VMALL vmid={}", c.vmid);
    case opcode::tlbi_nh_all:
        return fmt::format("NH_ALL vmid={}", c.vmid);
    case opcode::atc_inv:
        if (c.ssv)
            return fmt::format("ATC_INV sid={} ssid={} addr={:#x} size={}", c.sid, c.ssid,
                               c.address, c.size);
        return fmt::format("ATC_INV sid={} addr={:#x} size={}", c.sid, c.address, c.size);
    case opcode::cfgi_ste:
        return fmt::format("CFGI_STE sid={} leaf={}", c.sid, c.leaf ? 1 : 0);
    case opcode::cfgi_cd:
        return fmt::format("CFGI_CD sid={} ssid={} leaf={}", c.sid, c.ssid, c.leaf ? 1 : 0);
    case opcode::sync:
        return "SYNC";
    default:
        return arch::opcode_name(c.op);
    }
}

/// The commands consumed since `mark` (an index into consumed_commands()).
inline std::vector<std::string> commands_since(const fake_smmu_hw& hw, std::size_t mark) {
    const std::vector<arch::command> all = hw.consumed_commands();
    std::vector<std::string> r;
    for (std::size_t i = mark; i < all.size(); ++i)
        r.push_back(cmd_str(all[i]));
    return r;
}

} // namespace smmu::driver::dtest
