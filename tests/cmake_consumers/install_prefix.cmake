# Fixture of the find_package consumer test: install the current build into a fresh prefix and
# check the installed layout and the pkg-config file.
#   cmake -DBUILD_DIR=<dualrerank build> -DPREFIX=<dir to (re)create> -DVERSION=<project version> [-DPKG_CONFIG=<pkg-config>]
#         [-DCXX=<compiler> [-DNATIVE=ON]] -P install_prefix.cmake
cmake_minimum_required(VERSION 3.16)
foreach(_var BUILD_DIR PREFIX VERSION)
  if(NOT ${_var})
    message(FATAL_ERROR "install_prefix.cmake: pass -D${_var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed (${_rc})")
endif()

foreach(_file include/dualrerank/dualrerank.hpp include/dualrerank/version.hpp
              share/cmake/dualrerank/dualrerankConfig.cmake share/cmake/dualrerank/dualrerankConfigVersion.cmake
              share/cmake/dualrerank/dualrerankTargets.cmake share/cmake/dualrerank/dualrerank_deps.cmake
              share/pkgconfig/dualrerank.pc)
  if(NOT EXISTS "${PREFIX}/${_file}")
    message(FATAL_ERROR "not installed: ${_file}")
  endif()
endforeach()

# The version file: ARCH_INDEPENDENT (a 32-bit consumer accepts this header-only package) and
# SameMinorVersion (0.1 is compatible, 0.2 is not). Evaluated the way find_package does.
function(_dualrerank_check_version find_version pointer_size expect_compatible)
  set(PACKAGE_FIND_VERSION "${find_version}")
  string(REPLACE "." ";" _parts "${find_version}")
  list(GET _parts 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET _parts 1 PACKAGE_FIND_VERSION_MINOR)
  set(PACKAGE_FIND_VERSION_RANGE "")
  set(CMAKE_SIZEOF_VOID_P ${pointer_size})
  include("${PREFIX}/share/cmake/dualrerank/dualrerankConfigVersion.cmake")
  if(PACKAGE_VERSION_UNSUITABLE OR NOT PACKAGE_VERSION_COMPATIBLE STREQUAL "${expect_compatible}")
    message(FATAL_ERROR "dualrerankConfigVersion.cmake: asking for ${find_version} with sizeof(void*) = ${pointer_size}"
                        " gives compatible=${PACKAGE_VERSION_COMPATIBLE} unsuitable=${PACKAGE_VERSION_UNSUITABLE}")
  endif()
endfunction()
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _mm "${VERSION}")
math(EXPR _next_minor "${CMAKE_MATCH_2} + 1")
_dualrerank_check_version(${_mm} 8 TRUE)
_dualrerank_check_version(${_mm} 4 TRUE)
_dualrerank_check_version(${CMAKE_MATCH_1}.${_next_minor} 8 FALSE)

# pkg-config: relocatable, and its include directory is the one in the prefix.
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/share/pkgconfig")
  execute_process(COMMAND "${PKG_CONFIG}" --cflags dualrerank OUTPUT_VARIABLE _cflags
                  RESULT_VARIABLE _rc ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags dualrerank failed: ${_err}")
  endif()
  # The first -I must be the prefix's include directory (then Eigen's and xsimd's).
  separate_arguments(_flags UNIX_COMMAND "${_cflags}")
  list(GET _flags 0 _first)
  string(REGEX REPLACE "^-I" "" _inc "${_first}")
  get_filename_component(_inc "${_inc}" REALPATH)
  get_filename_component(_real_prefix "${PREFIX}/include" REALPATH)
  if(NOT _inc STREQUAL _real_prefix)
    message(FATAL_ERROR "pkg-config --cflags dualrerank = '${_cflags}', expected -I${PREFIX}/include first")
  endif()
  if(_cflags MATCHES "(^| )-m")
    message(FATAL_ERROR "pkg-config --cflags dualrerank carries -m flags: '${_cflags}'")
  endif()
  message(STATUS "pkg-config --cflags dualrerank: ${_cflags}")
  # The pkg-config route compiles a consumer with strict warnings (-Wall -Wextra -Wpedantic
  # -Werror; also -march=native when NATIVE is set), like the CMake routes.
  if(CXX)
    set(_strict -std=c++17 -O2 -Wall -Wextra -Wpedantic -Werror)
    if(NATIVE)
      list(APPEND _strict -march=native)
    endif()
    get_filename_component(_here "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
    execute_process(COMMAND "${CXX}" ${_strict} ${_flags} "${_here}/find_package/main.cpp" -o "${PREFIX}/pkg_config_consumer"
                    RESULT_VARIABLE _rc ERROR_VARIABLE _err)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "the pkg-config consumer (${_strict}) failed to compile:\n${_err}")
    endif()
    execute_process(COMMAND "${PREFIX}/pkg_config_consumer" RESULT_VARIABLE _rc OUTPUT_VARIABLE _out)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "the pkg-config consumer failed: ${_out}")
    endif()
    message(STATUS "pkg-config consumer with ${_strict}: ${_out}")
  endif()
endif()
message(STATUS "installed dualrerank into ${PREFIX}")
