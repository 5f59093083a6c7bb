# Finds SystemC and exposes it as the imported target SystemC::systemc.
#
# Order: a CMake package (SystemC built with CMake, e.g. under SYSTEMC_HOME or
# CMAKE_PREFIX_PATH), then pkg-config (Debian's libsystemc-dev ships only
# systemc.pc and tlm.pc). Headers are always included as SYSTEM.
if(DEFINED ENV{SYSTEMC_HOME})
    list(APPEND CMAKE_PREFIX_PATH "$ENV{SYSTEMC_HOME}")
endif()

find_package(SystemCLanguage CONFIG QUIET)
if(TARGET SystemC::systemc)
    if(DEFINED SystemC_CXX_STANDARD AND NOT SystemC_CXX_STANDARD STREQUAL "17")
        message(FATAL_ERROR
            "SystemC at ${SystemCLanguage_DIR} was built as C++${SystemC_CXX_STANDARD}, "
            "but this project is C++17 exactly. Rebuild SystemC with -DCMAKE_CXX_STANDARD=17.")
    endif()
    get_target_property(_sc_inc SystemC::systemc INTERFACE_INCLUDE_DIRECTORIES)
    set_target_properties(SystemC::systemc PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_sc_inc}")
    set(SMMU_SYSTEMC_SOURCE "CMake package ${SystemCLanguage_DIR}")
    set(_sc_target SystemC::systemc)
else()
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(SYSTEMC REQUIRED IMPORTED_TARGET GLOBAL systemc>=2.3.3)
    add_library(SystemC::systemc ALIAS PkgConfig::SYSTEMC)
    get_target_property(_sc_inc PkgConfig::SYSTEMC INTERFACE_INCLUDE_DIRECTORIES)
    if(_sc_inc)
        set_target_properties(PkgConfig::SYSTEMC PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_sc_inc}")
    endif()
    set(SMMU_SYSTEMC_SOURCE "pkg-config systemc ${SYSTEMC_VERSION}")
    set(_sc_target PkgConfig::SYSTEMC) # try_compile does not resolve ALIAS targets
endif()

# The library exports sc_api_version_<ver>_cxx<__cplusplus>; a mismatch between
# the library's standard and ours only shows as an obscure link error. Link a
# one-line sc_main now so that a mismatch fails configuration with a clear message.
set(_sc_probe_dir "${CMAKE_BINARY_DIR}/systemc-probe")
file(WRITE "${_sc_probe_dir}/probe.cpp"
    "#include <systemc>\nint sc_main(int, char**) { return sc_core::sc_time_stamp().value() == 0 ? 0 : 1; }\n")
try_compile(SMMU_SYSTEMC_LINKS "${_sc_probe_dir}/build"
    SOURCES "${_sc_probe_dir}/probe.cpp"
    LINK_LIBRARIES ${_sc_target}
    CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    OUTPUT_VARIABLE _sc_probe_log)
if(NOT SMMU_SYSTEMC_LINKS)
    if(_sc_probe_log MATCHES "sc_api_version_[0-9_]+_cxx([0-9]+)")
        string(CONCAT _sc_hint " The program asked for sc_api_version ..._cxx${CMAKE_MATCH_1}: the installed "
                               "SystemC library was built with a different C++ standard than C++17.")
    endif()
    message(FATAL_ERROR "Cannot link a C++17 program against SystemC (${SMMU_SYSTEMC_SOURCE}).${_sc_hint}\n"
                        "Build log:\n${_sc_probe_log}")
endif()
message(STATUS "SystemC: ${SMMU_SYSTEMC_SOURCE} (C++17 link check passed)")
