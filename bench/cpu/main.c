/*
 * cpu - CPU benchmark firmware: runs the kernels of kernels.c once (about 150 million
 * instructions) with SysTick interrupting at 1 kHz, checks the checksum against the value the
 * host computed (expected.h), logs the verdict and sleeps for ever.
 *
 *   bench: start
 *   bench: elapsed_ms=<virtual milliseconds counted by SysTick>
 *   bench: done checksum=0x<8 hex digits> ok|bad
 */
#include <stdint.h>

#include "expected.h"
#include "kernels.h"
#include "log.h"
#include "stm32u585_regs.h"

static volatile uint32_t s_ms;
static volatile uint32_t s_seed = BENCH_SEED;   /* volatile: the compiler cannot precompute */

void SysTick_Handler(void)
{
    s_ms++;
}

int main(void)
{
    log_init();
    SYST_RVR = CORE_CLOCK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;

    log_printf("bench: start");
    uint32_t t0 = s_ms;
    uint32_t checksum = bench_run_all(s_seed);
    uint32_t elapsed = s_ms - t0;

    log_printf("bench: elapsed_ms=%u", (unsigned)elapsed);
    log_printf("bench: done checksum=0x%08x %s", (unsigned)checksum,
               checksum == BENCH_EXPECTED_CHECKSUM ? "ok" : "bad");
    for (;;) {
        __WFI();
    }
}
