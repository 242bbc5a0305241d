/*
 * host_reference.c - runs the benchmark's workload on the build host and prints the checksum the
 * firmware must reproduce (BENCH_EXPECTED_CHECKSUM in expected.h):
 *
 *   cc -O2 -o /tmp/bench_ref bench/cpu/host_reference.c bench/cpu/kernels.c && /tmp/bench_ref
 */
#include <stdio.h>

#include "expected.h"
#include "kernels.h"

int main(void)
{
    bench_setup(BENCH_SEED);
    printf("first iteration: list=0x%08x matrix=0x%08x state=0x%08x\n", (unsigned)bench_list(0),
           (unsigned)bench_matrix(0), (unsigned)bench_state(0));
    uint32_t checksum = bench_run(BENCH_SEED, BENCH_ITERATIONS);
    printf("checksum of %u iterations=0x%08x (expected.h says 0x%08x)\n", (unsigned)BENCH_ITERATIONS,
           (unsigned)checksum, (unsigned)BENCH_EXPECTED_CHECKSUM);
    return checksum == BENCH_EXPECTED_CHECKSUM ? 0 : 1;
}
