# `cmake --install <build> --prefix <dir>` installs the model, the driver and the
# platform parts as static libraries with their headers, and a CMake package:
#   find_package(smmuv3_tlm REQUIRED)
#   target_link_libraries(my_platform PRIVATE smmuv3_tlm::smmu)
# (docs/integration.md, example in platforms/examples/minimal).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Target -> exported name (smmuv3_tlm::<name>, the same names as the in-tree aliases).
set(_smmu_installed
    smmu_arch:arch smmu_timing:timing smmu_tlm:tlm smmu_engine:engine smmu_model:smmu
    smmu_driver_core:driver_core smmu_driver_host:driver_host
    smmu_platform_parts:platform_parts)
if(TARGET smmu_pcie)
    list(APPEND _smmu_installed smmu_pcie:pcie)
endif()
if(TARGET smmu_traces)
    list(APPEND _smmu_installed smmu_traces:traces)
endif()

set(_smmu_targets "")
foreach(pair IN LISTS _smmu_installed)
    string(REPLACE ":" ";" pair "${pair}")
    list(GET pair 0 target)
    list(GET pair 1 name)
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
    list(APPEND _smmu_targets ${target})
endforeach()

install(TARGETS ${_smmu_targets} EXPORT smmuv3_tlm_targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(dir model driver platforms/parts traces)
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/smmuv3_tlm/${dir}
        FILES_MATCHING PATTERN "*.h")
endforeach()

set(_smmu_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/smmuv3_tlm)
install(EXPORT smmuv3_tlm_targets NAMESPACE smmuv3_tlm:: DESTINATION ${_smmu_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/smmuv3_tlmConfig.cmake.in
    ${PROJECT_BINARY_DIR}/smmuv3_tlmConfig.cmake INSTALL_DESTINATION ${_smmu_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/smmuv3_tlmConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/smmuv3_tlmConfig.cmake
    ${PROJECT_BINARY_DIR}/smmuv3_tlmConfigVersion.cmake
    ${PROJECT_SOURCE_DIR}/cmake/systemc.cmake
    DESTINATION ${_smmu_cmake_dir})
