# Overlay port for dualrerank (header-only). It builds the checkout it lives in:
#   vcpkg install dualrerank --overlay-ports=<checkout>/packaging/vcpkg
# or, in manifest mode, list "dualrerank" in your vcpkg.json and add the same directory to
# "overlay-ports" in vcpkg-configuration.json.
#
# For a registry port, replace the SOURCE_PATH line with a pinned download, e.g.
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/dualrerank REF "v${VERSION}"
#                     SHA512 <sha512 of the release tarball> HEAD_REF main)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT EXISTS "${SOURCE_PATH}/include/dualrerank/dualrerank.hpp")
    message(FATAL_ERROR "dualrerank overlay port: no dualrerank checkout at ${SOURCE_PATH}")
endif()

set(VCPKG_BUILD_TYPE release) # header-only: one configuration is enough

# Only the library and its install rules: no tests, benchmarks or examples (and so no Catch2 or
# Google Benchmark), and no -march=native anywhere (the library target never carries -m flags).
vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DDUALRERANK_BUILD_TESTS=OFF
        -DDUALRERANK_BUILD_BENCH=OFF
        -DDUALRERANK_BUILD_EXAMPLES=OFF
        -DDUALRERANK_NATIVE=OFF
        -DDUALRERANK_INSTALL=ON
)
vcpkg_cmake_install()

# share/cmake/dualrerank -> share/dualrerank (dualrerankConfig.cmake, the version file, the
# exported targets and dualrerank_deps.cmake move together).
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/dualrerank)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
file(GLOB _dualrerank_left "${CURRENT_PACKAGES_DIR}/share/cmake/*")
if(NOT _dualrerank_left)
    file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/cmake")
endif()

vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
