/*
 * kernels.h - the CPU benchmark's workload: one iteration runs four small kernels in the manner
 * of CoreMark (our own code, not EEMBC's): linked-list processing, integer matrix arithmetic, a
 * state machine scanning text, and CRCs. Portable C (fixed-width integers, no pointer values in
 * the results) so that a host build computes the same checksum as the Cortex-M33.
 */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

#include <stdint.h>

/* Iterations of a run (the firmware reports them); about 76,000 Cortex-M33 instructions each. */
#define BENCH_ITERATIONS 5000u

#define LIST_NODES   96u     /* nodes of the linked list */
#define MATRIX_N     14u     /* the matrices are MATRIX_N x MATRIX_N */
#define STATE_BYTES  512u    /* text the state machine scans */
#define CRC_BYTES    768u    /* bytes the table-driven CRC-32 covers each iteration */

/* Build the data sets from a seed (once per run). */
void bench_setup(uint32_t seed);

/* One iteration: every kernel once; returns the iteration's result, folded from all four. */
uint32_t bench_iteration(uint32_t iteration);

/* bench_setup, then `iterations` iterations; the checksum of the whole run. */
uint32_t bench_run(uint32_t seed, uint32_t iterations);

/* The kernels one by one (bench_iteration calls them; the host reference prints them). */
uint32_t bench_list(uint32_t iteration);
uint32_t bench_matrix(uint32_t iteration);
uint32_t bench_state(uint32_t iteration);
uint32_t bench_crc(uint32_t iteration, uint32_t input);

#endif /* BENCH_KERNELS_H */
