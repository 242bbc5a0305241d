/* expected.h - the benchmark's seed and the checksum it must produce (from host_reference.c). */
#ifndef BENCH_EXPECTED_H
#define BENCH_EXPECTED_H

#define BENCH_SEED 0x2545F491u
#define BENCH_EXPECTED_CHECKSUM 0x7996214Fu

#endif /* BENCH_EXPECTED_H */
