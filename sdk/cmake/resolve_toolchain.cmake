# resolve_toolchain.cmake - include before project(): makes a relative CMAKE_TOOLCHAIN_FILE work
# when it is relative to the current working directory or to the repository root (CMake itself
# only tries the build and source directories).
if(DEFINED CMAKE_TOOLCHAIN_FILE AND NOT IS_ABSOLUTE "${CMAKE_TOOLCHAIN_FILE}")
  get_filename_component(_mv_repo_root "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
  foreach(_mv_base "$ENV{PWD}" "${_mv_repo_root}")
    if(_mv_base AND EXISTS "${_mv_base}/${CMAKE_TOOLCHAIN_FILE}")
      get_filename_component(_mv_tc "${_mv_base}/${CMAKE_TOOLCHAIN_FILE}" ABSOLUTE)
      set(CMAKE_TOOLCHAIN_FILE "${_mv_tc}" CACHE FILEPATH "CMake toolchain file" FORCE)
      break()
    endif()
  endforeach()
endif()
