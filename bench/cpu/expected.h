/* expected.h - the benchmark's seed and the checksum its run must produce (from host_reference.c). */
#ifndef BENCH_EXPECTED_H
#define BENCH_EXPECTED_H

#define BENCH_SEED 0x2545F491u
#define BENCH_EXPECTED_CHECKSUM 0x956B9ADFu   /* of BENCH_ITERATIONS (kernels.h) iterations */

#endif /* BENCH_EXPECTED_H */
