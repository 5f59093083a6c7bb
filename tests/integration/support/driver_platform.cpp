#include "tests/integration/support/driver_platform.h"

#include <string>
#include <utility>

namespace smmu::test {

namespace {

/// The SMMU's two register pages.
constexpr std::uint64_t smmu_window = 2 * arch::reg_page_size;

} // namespace

class driver_platform::runner : public sc_core::sc_module {
public:
    std::function<void()> scenario;
    bool finished = false;

    explicit runner(const sc_core::sc_module_name& name)
        : sc_core::sc_module(name) {
        SC_HAS_PROCESS(runner);
        SC_THREAD(run);
    }

private:
    void run() {
        if (scenario)
            scenario();
        finished = true;
    }
};

driver_platform::driver_platform(const driver_platform_config& cfg)
    : m_cfg(cfg)
    , m_sev("sev")
    , m_memory(std::make_unique<platform::memory>("memory", cfg.memory_base, cfg.memory_size,
                                                  cfg.memory_latency, cfg.memory_latency))
    , m_smmu(std::make_unique<smmuv3>("smmu", cfg.params, cfg.tbus))
    , m_bus(std::make_unique<platform::router>("bus"))
    , m_dma(cfg.memory_base, cfg.dma_size)
    , m_runner(std::make_unique<runner>("runner")) {
    tlm::tlm_global_quantum::instance().set(cfg.quantum);
    m_bus->out.bind(m_smmu->reg_target);
    m_bus->out.bind(m_memory->socket);
    m_bus->map(cfg.smmu_base, smmu_window, 0);
    m_bus->map(cfg.memory_base, cfg.memory_size, 1, cfg.memory_base);
    m_smmu->walker.bind(m_memory->socket);
    m_smmu->downstream.bind(m_memory->socket);
    m_smmu->sev.bind(m_sev);

    driver::host::cpu_params cp = cfg.cpu;
    cp.mmio_base = cfg.smmu_base;
    for (unsigned i = 0; i < cfg.cpus; ++i) {
        m_cpus.push_back(
            std::make_unique<driver::host::cpu>(("cpu" + std::to_string(i)).c_str(), m_dma, cp));
        m_cpus.back()->mmio.bind(m_bus->in);
        m_cpus.back()->mem.bind(m_bus->in);
        m_cpus.back()->sev.bind(m_sev);
    }
    for (std::size_t t = 0; t < cfg.tbus.size(); ++t) {
        m_devices.push_back(std::make_unique<initiator>(("device" + std::to_string(t)).c_str()));
        m_devices.back()->socket.bind(m_smmu->tbus[t].upstream);
    }
    m_platform = std::make_unique<driver::host::current_cpu_platform>(*m_cpus.at(0));
    m_driver = std::make_unique<driver::smmu_driver>(*m_platform, m_locks, m_rw_locks, cfg.driver);
}

driver_platform::~driver_platform() {
    m_driver.reset(); // frees its tables through the CPUs, untimed
}

bool driver_platform::run(std::function<void()> scenario) {
    m_runner->scenario = std::move(scenario);
    sc_core::sc_start();
    return m_runner->finished;
}

driver::op_result driver_platform::on_cpu(unsigned i,
                                          const std::function<driver::op_result()>& op) {
    driver::op_result r;
    driver::host::run_and_wait(cpu(i), [&](driver::platform_ops&) { r = op(); });
    return r;
}

driver::host::job_handle driver_platform::submit(unsigned i, std::function<void()> work) {
    return cpu(i).run([w = std::move(work)](driver::platform_ops&) { w(); });
}

std::vector<arch::event_record> driver_platform::process_events(unsigned i) {
    std::vector<arch::event_record> events;
    driver::host::run_and_wait(cpu(i), [&](driver::platform_ops&) {
        m_driver->device()->process_events(
            [&](const arch::event_record& e) { events.push_back(e); });
    });
    return events;
}

std::optional<driver::inv> driver_platform::tag_of(driver::domain_id id) const {
    return m_driver->domain_tag(id);
}

driver::iommu_prot dma_rw() {
    driver::iommu_prot p;
    p.read = true;
    p.write = true;
    p.cache = true;
    return p;
}

} // namespace smmu::test
