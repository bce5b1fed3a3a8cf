# cpp-httplib for the HTTP service example (examples/rerank_service*.cpp) and its test
# (tests/test_service.cpp). Optional: without it those targets are skipped with a status message.
# Upstream cpp-httplib installs httplibConfig.cmake (target httplib::httplib, header-only); Debian's
# libcpp-httplib-dev ships a split build instead (declarations in httplib.h, the code in
# libcpp-httplib.so) with only a pkg-config file, whose -DCPPHTTPLIB_*_SUPPORT flags must match the
# library's build. Defines the INTERFACE target dualrerank_httplib and DUALRERANK_HTTPLIB_FOUND.
include_guard(GLOBAL)
set(DUALRERANK_HTTPLIB_FOUND OFF)
find_package(httplib CONFIG QUIET)
if(TARGET httplib::httplib)
  add_library(dualrerank_httplib INTERFACE)
  target_link_libraries(dualrerank_httplib INTERFACE httplib::httplib)
  set(DUALRERANK_HTTPLIB_FOUND ON)
  message(STATUS "dualrerank: cpp-httplib ${httplib_VERSION} (CMake config): building the HTTP service example")
else()
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(DUALRERANK_PC_HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
  endif()
  if(DUALRERANK_PC_HTTPLIB_FOUND)
    add_library(dualrerank_httplib INTERFACE)
    target_link_libraries(dualrerank_httplib INTERFACE PkgConfig::DUALRERANK_PC_HTTPLIB)
    set(DUALRERANK_HTTPLIB_FOUND ON)
    message(STATUS "dualrerank: cpp-httplib ${DUALRERANK_PC_HTTPLIB_VERSION} (pkg-config): building the HTTP service example")
  else()
    message(STATUS "dualrerank: cpp-httplib not found (apt-get install libcpp-httplib-dev, or a cpp-httplib CMake "
                   "package): skipping examples/rerank_service and tests/test_service.cpp")
  endif()
endif()
