# Install rules for the header-only INTERFACE target (included by the top-level CMakeLists when
# DUALRERANK_INSTALL is ON). Installs:
#   include/dualrerank/...                         the headers
#   share/cmake/dualrerank/dualrerankConfig.cmake  find_package(dualrerank CONFIG) -> dualrerank::dualrerank
#   share/cmake/dualrerank/dualrerankConfigVersion.cmake   ARCH_INDEPENDENT (no size_t check)
#   share/cmake/dualrerank/dualrerankTargets.cmake + dualrerank_deps.cmake (the Debian xtl fix)
#   share/pkgconfig/dualrerank.pc                  relocatable (prefix from ${pcfiledir})
# Header-only and architecture independent, hence share/ rather than lib/. The exported target
# carries only the include directory, cxx_std_17 and Eigen3::Eigen + xsimd: no -m flags, no
# definitions, so a consumer picks its own instruction set (-march=...).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DUALRERANK_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/dualrerank" CACHE STRING
    "Where to install dualrerankConfig.cmake (relative to the prefix)")
set(DUALRERANK_PKGCONFIG_DIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING
    "Where to install dualrerank.pc (relative to the prefix)")
mark_as_advanced(DUALRERANK_CMAKE_DIR DUALRERANK_PKGCONFIG_DIR)

install(TARGETS dualrerank EXPORT dualrerankTargets)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/dualrerank" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT dualrerankTargets NAMESPACE dualrerank:: DESTINATION "${DUALRERANK_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/dualrerankConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/dualrerankConfig.cmake"
                              INSTALL_DESTINATION "${DUALRERANK_CMAKE_DIR}")
# 0.x: a minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/dualrerankConfigVersion.cmake"
                                 VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/dualrerankConfig.cmake" "${PROJECT_BINARY_DIR}/dualrerankConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/dualrerank_deps.cmake"
        DESTINATION "${DUALRERANK_CMAKE_DIR}")

# pkg-config: the prefix is computed from the .pc file's own location, so the file stays right
# under `cmake --install --prefix <elsewhere>` and when a package manager relocates the tree.
if(IS_ABSOLUTE "${DUALRERANK_PKGCONFIG_DIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(DUALRERANK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(DUALRERANK_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(DUALRERANK_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
else()
  file(RELATIVE_PATH _dualrerank_pc_up "/${DUALRERANK_PKGCONFIG_DIR}" "/")
  string(REGEX REPLACE "/$" "" _dualrerank_pc_up "${_dualrerank_pc_up}")
  set(DUALRERANK_PC_PREFIX "\${pcfiledir}/${_dualrerank_pc_up}")
  set(DUALRERANK_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  unset(_dualrerank_pc_up)
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/dualrerank.pc.in" "${PROJECT_BINARY_DIR}/dualrerank.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/dualrerank.pc" DESTINATION "${DUALRERANK_PKGCONFIG_DIR}")
