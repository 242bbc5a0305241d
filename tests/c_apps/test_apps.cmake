# What the C test applications' projects (tests/*/apps) share, included after their project():
# the build settings, the SDK's microvisor_app(), and test_app(name [sources…]), an application
# made of <name>.c (and the sources given), the PASS/FAIL helpers (check.c, the examples' checks.c)
# and the examples' log.c, built into <build>/<name>/<name>.elf.
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE MinSizeRel CACHE STRING "Build type" FORCE)
endif()
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_EXTENSIONS ON)

include(${MV_REPO}/sdk/cmake/microvisor_app.cmake)

set(EXAMPLES_COMMON ${MV_REPO}/sdk/examples/common)
set(TEST_APPS_COMMON ${MV_REPO}/tests/c_apps)

function(test_app name)
  microvisor_app(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c ${ARGN} ${TEST_APPS_COMMON}/check.c
                 ${EXAMPLES_COMMON}/checks.c ${EXAMPLES_COMMON}/log.c)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${TEST_APPS_COMMON}
                             ${EXAMPLES_COMMON})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${name})
endfunction()
