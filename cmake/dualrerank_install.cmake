include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS dualrerank EXPORT dualrerankTargets)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(DUALRERANK_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/dualrerank)
install(EXPORT dualrerankTargets NAMESPACE dualrerank:: DESTINATION ${DUALRERANK_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dualrerankConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/dualrerankConfig.cmake INSTALL_DESTINATION ${DUALRERANK_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dualrerankConfigVersion.cmake COMPATIBILITY SameMinorVersion
                                 ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/dualrerankConfig.cmake ${PROJECT_BINARY_DIR}/dualrerankConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/dualrerank_deps.cmake DESTINATION ${DUALRERANK_CMAKE_DIR})
configure_file(${PROJECT_SOURCE_DIR}/cmake/dualrerank.pc.in ${PROJECT_BINARY_DIR}/dualrerank.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dualrerank.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
