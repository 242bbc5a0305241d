# microvisor_app.cmake - microvisor_app(NAME SOURCES...): build a Microvisor application.
#
# Adds the SDK startup code, include directory and linker script (with the system-call
# addresses), links NAME.elf with a map file and makes NAME.bin next to it: a flat image of
# application flash from 0x08000000, gaps filled with 0xFF. Use it after include()-ing this file:
#
#   include(${MV_SDK_DIR}/cmake/microvisor_app.cmake)
#   microvisor_app(blinky main.c)

get_filename_component(MV_SDK_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

function(microvisor_app name)
  set(sources ${ARGN})
  if(NOT sources)
    message(FATAL_ERROR "microvisor_app(${name}): no sources given")
  endif()

  add_executable(${name} ${sources} ${MV_SDK_DIR}/startup/startup_stm32u585.c)
  set_target_properties(${name} PROPERTIES SUFFIX ".elf")
  target_include_directories(${name} PRIVATE ${MV_SDK_DIR}/include)
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  target_link_options(${name} PRIVATE
    -L${MV_SDK_DIR}/ld
    -T${MV_SDK_DIR}/ld/stm32u585_app.ld
    -Wl,-Map=$<TARGET_FILE_DIR:${name}>/${name}.map
    -Wl,--no-warn-rwx-segments)
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS
    ${MV_SDK_DIR}/ld/stm32u585_app.ld ${MV_SDK_DIR}/ld/mv_syscalls.ld)

  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND ${CMAKE_OBJCOPY} -O binary --gap-fill 0xff $<TARGET_FILE:${name}>
            $<TARGET_FILE_DIR:${name}>/${name}.bin
    COMMAND ${CMAKE_SIZE} $<TARGET_FILE:${name}>
    COMMENT "Making ${name}.bin"
    VERBATIM)
endfunction()
