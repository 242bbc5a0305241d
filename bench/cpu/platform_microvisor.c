/*
 * platform_microvisor.c - the CPU benchmark as a Microvisor application: reports through server
 * logging (mvServerLog), sleeps for ever when done. Linked at 0x08000000 by the SDK.
 */
#include <stdint.h>

#include "bench.h"
#include "mv_syscalls.h"
#include "stm32u585_regs.h"

const uint32_t platform_core_hz = CORE_CLOCK_HZ;

/* The microvisor owns this buffer once logging starts. */
static uint8_t s_log_buffer[4096] __attribute__((aligned(512)));

void platform_init(void)
{
    mvServerLoggingInit(s_log_buffer, sizeof s_log_buffer);
}

void platform_log(const char *text, uint32_t length)
{
    mvServerLog((const uint8_t *)text, (uint16_t)length);
}

void platform_finish(void)
{
    for (;;) {
        __WFI();
    }
}

int main(void)
{
    bench_main();
}
