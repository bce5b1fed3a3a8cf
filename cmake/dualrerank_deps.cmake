# Find the dependencies of the INTERFACE target and repair Debian's xsimd 8.1 package, whose
# exported target names `xtl` in INTERFACE_LINK_LIBRARIES without finding it (upstream xsimd
# #869): linking then fails with "cannot find -lxtl". xsimd is used header-only here, so the
# stray entry is dropped when no `xtl` target exists. This file is also installed and included
# by dualrerankConfig.cmake, so consumers get the same fix.
# Sets `out` to a message when the Eigen found is outside [3.3, 6), else to "".
function(dualrerank_check_eigen_version out)
  set(_v "${Eigen3_VERSION}")
  if(NOT _v AND EIGEN3_VERSION_STRING)
    set(_v "${EIGEN3_VERSION_STRING}")
  endif()
  if(_v AND (_v VERSION_LESS 3.3 OR _v VERSION_GREATER_EQUAL 6))
    set(${out} "Eigen ${_v} found (in ${Eigen3_DIR}); dualrerank supports Eigen 3.3 to 5.x" PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()

if(NOT TARGET xsimd)
  find_package(xsimd REQUIRED)
endif()
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_dualrerank_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_dualrerank_xsimd_libs)
    list(REMOVE_ITEM _dualrerank_xsimd_libs xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_dualrerank_xsimd_libs}")
  endif()
  unset(_dualrerank_xsimd_libs)
endif()
# Eigen (only dualrerank/eigen.hpp includes it): 3.3 to 5.x. Eigen's version file accepts only a
# request of its own major version (SameMajorVersion: 3.4's rejects `3.3` for nothing else but
# also a range like `3.3...5`, whose two ends must both have the installed major), and Eigen went
# from 3.4 to 5.0. So it is found without a version and the range is checked here.
if(NOT TARGET Eigen3::Eigen)
  find_package(Eigen3 REQUIRED NO_MODULE)
  dualrerank_check_eigen_version(_dualrerank_eigen_bad)
  if(_dualrerank_eigen_bad)
    message(FATAL_ERROR "dualrerank: ${_dualrerank_eigen_bad}")
  endif()
endif()
