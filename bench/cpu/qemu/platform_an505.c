/*
 * platform_an505.c - the CPU benchmark on QEMU's mps2-an505: reports through Arm semihosting
 * (SYS_WRITE0; QEMU prints it) and ends QEMU with SYS_EXIT when done. SysTick counts the board's
 * 20 MHz system clock.
 */
#include <stdint.h>

#include "bench.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

const uint32_t platform_core_hz = 20000000u;

static uint32_t semihost(uint32_t operation, uint32_t argument)
{
    register uint32_t r0 __asm("r0") = operation;
    register uint32_t r1 __asm("r1") = argument;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void platform_init(void)
{
}

void platform_log(const char *text, uint32_t length)
{
    char line[130];
    uint32_t n = 0;
    while (n < length && n < sizeof line - 2u) {
        line[n] = text[n];
        n++;
    }
    line[n++] = '\n';
    line[n] = '\0';
    semihost(SYS_WRITE0, (uint32_t)(uintptr_t)line);
}

void platform_finish(void)
{
    semihost(SYS_EXIT, ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
    }
}

int main(void)
{
    bench_main();
}
