/*
 * bench.h - the CPU benchmark's driver (bench.c) and what it needs from the board it runs on:
 * platform_microvisor.c for the Microvisor device, qemu/platform_an505.c for QEMU's mps2-an505.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdint.h>

/* The clock SysTick counts (CLKSOURCE = the processor clock), in Hz. */
extern const uint32_t platform_core_hz;

/* Get ready to report (the device starts server logging). */
void platform_init(void);

/* Report one line of text (no newline). */
void platform_log(const char *text, uint32_t length);

/* The benchmark is over: sleep for ever (the device) or end the emulator (QEMU). */
void platform_finish(void) __attribute__((noreturn));

/* Runs the benchmark with SysTick interrupting at bench_tick_hz and reports it; never returns. */
void bench_main(void) __attribute__((noreturn));

#endif /* BENCH_BENCH_H */
