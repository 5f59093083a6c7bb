# Sanitizers and coverage apply to every target, so that libraries and tests agree.
if(SMMU_SANITIZERS)
    add_compile_options(-fsanitize=${SMMU_SANITIZERS} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${SMMU_SANITIZERS})
endif()
if(SMMU_COVERAGE)
    # Atomic counters: several tests run real host threads.
    add_compile_options(--coverage -O0 -fprofile-update=atomic)
    add_link_options(--coverage)
endif()
