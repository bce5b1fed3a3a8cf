# packaging_version_sync: the project version (CMakeLists.txt), version.hpp and the vcpkg port
# agree. (The Conan recipe reads version.hpp itself; the single header is checked by
# single_header_fresh.)
#   cmake -DSOURCE_DIR=<dualrerank> -DVERSION=<project version> -P check_versions.cmake
cmake_minimum_required(VERSION 3.16)
file(READ "${SOURCE_DIR}/include/dualrerank/version.hpp" _hpp)
string(REGEX MATCH "#define DUALRERANK_VERSION_STRING \"([^\"]+)\"" _ "${_hpp}")
set(_hpp_version "${CMAKE_MATCH_1}")
string(REGEX MATCH "#define DUALRERANK_VERSION_MAJOR ([0-9]+)" _ "${_hpp}")
set(_major "${CMAKE_MATCH_1}")
string(REGEX MATCH "#define DUALRERANK_VERSION_MINOR ([0-9]+)" _ "${_hpp}")
set(_minor "${CMAKE_MATCH_1}")
string(REGEX MATCH "#define DUALRERANK_VERSION_PATCH ([0-9]+)" _ "${_hpp}")
set(_patch "${CMAKE_MATCH_1}")
file(READ "${SOURCE_DIR}/packaging/vcpkg/dualrerank/vcpkg.json" _json)
string(JSON _vcpkg_version GET "${_json}" version)
set(_bad "")
foreach(_pair "version.hpp DUALRERANK_VERSION_STRING=${_hpp_version}"
              "version.hpp MAJOR.MINOR.PATCH=${_major}.${_minor}.${_patch}"
              "packaging/vcpkg/dualrerank/vcpkg.json=${_vcpkg_version}")
  string(REGEX REPLACE "^.*=" "" _v "${_pair}")
  if(NOT _v STREQUAL VERSION)
    string(APPEND _bad "\n  ${_pair}")
  endif()
endforeach()
if(_bad)
  message(FATAL_ERROR "versions differ from the project version ${VERSION} (CMakeLists.txt):${_bad}")
endif()
message(STATUS "version ${VERSION} everywhere")
