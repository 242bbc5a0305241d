# arm-none-eabi.cmake - CMake toolchain file: Debian's arm-none-eabi-gcc for the STM32U585
# (Cortex-M33, Thumb, soft-float ABI), newlib-nano without OS stubs.
#
#   cmake -S <project> -B <build> -DCMAKE_TOOLCHAIN_FILE=sdk/cmake/arm-none-eabi.cmake

set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy")
set(CMAKE_OBJDUMP arm-none-eabi-objdump CACHE FILEPATH "objdump")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size")

# Test-compile a static library: there is no linker script yet at configure time.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(MV_CPU_FLAGS "-mcpu=cortex-m33 -mthumb -mfloat-abi=soft")
set(MV_COMMON_FLAGS "${MV_CPU_FLAGS} -ffunction-sections -fdata-sections -g")

set(CMAKE_C_FLAGS_INIT "${MV_COMMON_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${MV_COMMON_FLAGS} -fno-exceptions -fno-rtti")
set(CMAKE_ASM_FLAGS_INIT "${MV_CPU_FLAGS} -g")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "${MV_CPU_FLAGS} --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")

# Look for libraries and headers in the target environment only, programs on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
