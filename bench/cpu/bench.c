/*
 * bench.c - the CPU benchmark's driver, the same object code on every engine: starts SysTick at
 * bench_tick_hz, runs bench_iterations iterations of the workload (kernels.c), checks the
 * checksum against the one the host computed (expected.h) and reports:
 *
 *   bench: start iterations=<N> tick_hz=<Hz>
 *   bench: done iterations=<N> checksum=0x<8 hex digits> ok|bad|unchecked ticks=<SysTick interrupts taken>
 *
 * The host times the run from the first line to the second. The checksum is checked when the run
 * has BENCH_ITERATIONS iterations (expected.h has that run's checksum), "unchecked" otherwise.
 */
#include "bench.h"
#include "expected.h"
#include "kernels.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE_TICKINT_CPUCLK 0x7u

/* The SysTick rate and the iteration count: words in flash of their own, which bench/cpu.py changes
 * in a copy of the ELF (to measure what an interrupt costs, to count instructions in a shorter run)
 * without changing any code. Volatile: nothing can be precomputed. */
const volatile uint32_t bench_tick_hz = 1000u;
const volatile uint32_t bench_iterations = BENCH_ITERATIONS;

static volatile uint32_t s_ticks;                        /* SysTick interrupts taken */
static volatile uint32_t s_seed = BENCH_SEED;

void SysTick_Handler(void)
{
    s_ticks++;
}

/* ---- reporting: a line of text, numbers in decimal or hexadecimal --------------------------- */

struct line {
    char text[120];
    uint32_t length;
};

static void put_text(struct line *line, const char *text)
{
    while (*text != '\0' && line->length < sizeof line->text) {
        line->text[line->length++] = *text++;
    }
}

static void put_number(struct line *line, uint32_t value, uint32_t base, uint32_t digits)
{
    char reversed[10];
    uint32_t n = 0;
    do {
        reversed[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value != 0 || n < digits);
    while (n > 0 && line->length < sizeof line->text) {
        line->text[line->length++] = reversed[--n];
    }
}

/* ---- the run -------------------------------------------------------------------------------- */

void bench_main(void)
{
    platform_init();
    uint32_t tick_hz = bench_tick_hz;
    uint32_t iterations = bench_iterations;
    SYST_RVR = platform_core_hz / tick_hz - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE_TICKINT_CPUCLK;

    struct line line = {.length = 0};
    put_text(&line, "bench: start iterations=");
    put_number(&line, iterations, 10, 1);
    put_text(&line, " tick_hz=");
    put_number(&line, tick_hz, 10, 1);
    platform_log(line.text, line.length);

    uint32_t ticks_before = s_ticks;
    uint32_t checksum = bench_run(s_seed, iterations);
    uint32_t ticks = s_ticks - ticks_before;
    SYST_CSR = 0;

    line.length = 0;
    put_text(&line, "bench: done iterations=");
    put_number(&line, iterations, 10, 1);
    put_text(&line, " checksum=0x");
    put_number(&line, checksum, 16, 8);
    put_text(&line, iterations != BENCH_ITERATIONS ? " unchecked"
                    : checksum == BENCH_EXPECTED_CHECKSUM ? " ok" : " bad");
    put_text(&line, " ticks=");
    put_number(&line, ticks, 10, 1);
    platform_log(line.text, line.length);
    platform_finish();
}
