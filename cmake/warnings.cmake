# Warnings as errors on project code only; third-party headers come in as SYSTEM.
add_library(smmu_warnings INTERFACE)
target_compile_options(smmu_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Woverloaded-virtual -Wold-style-cast -Werror)
