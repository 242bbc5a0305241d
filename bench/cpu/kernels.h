/*
 * kernels.h - the CPU-bound kernels of the CPU benchmark. Portable C (fixed-width integers
 * only) so that a host build computes the same checksum as the device.
 */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

#include <stdint.h>

/* Iteration counts: together about 150 million Cortex-M33 instructions at -O2. */
#define CRC_BUFFER_BYTES   4096u
#define CRC_PASSES         1000u
#define MATRIX_N           24u
#define MATRIX_PASSES      520u
#define SORT_ELEMENTS      1024u
#define SORT_PASSES        100u
#define PARSE_TEXT_BYTES   4096u
#define PARSE_PASSES       600u

uint32_t bench_crc32(uint32_t seed);
uint32_t bench_matrix(uint32_t seed);
uint32_t bench_sort(uint32_t seed);
uint32_t bench_parse(uint32_t seed);

/* All four kernels, combined into one checksum. */
uint32_t bench_run_all(uint32_t seed);

#endif /* BENCH_KERNELS_H */
