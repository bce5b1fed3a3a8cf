# Find the dependencies of the INTERFACE target and repair Debian's xsimd 8.1 package, whose
# exported target names `xtl` in INTERFACE_LINK_LIBRARIES without finding it (upstream xsimd
# #869): linking then fails with "cannot find -lxtl". xsimd is used header-only here, so the
# stray entry is dropped when no `xtl` target exists. This file is also installed and included
# by dualrerankConfig.cmake, so consumers get the same fix.
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
if(NOT TARGET Eigen3::Eigen)
  find_package(Eigen3 3.3 REQUIRED NO_MODULE)
endif()
