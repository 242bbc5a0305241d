/*
 * host_reference.c - runs the benchmark kernels on the build host and prints the checksum the
 * device must reproduce (BENCH_EXPECTED_CHECKSUM in expected.h):
 *
 *   cc -O2 -o /tmp/bench_ref bench/cpu/host_reference.c bench/cpu/kernels.c && /tmp/bench_ref
 */
#include <stdio.h>

#include "kernels.h"
#include "expected.h"

int main(void)
{
    uint32_t sum = bench_run_all(BENCH_SEED);
    printf("crc32=0x%08x matrix=0x%08x sort=0x%08x parse=0x%08x\n",
           (unsigned)bench_crc32(BENCH_SEED), (unsigned)bench_matrix(BENCH_SEED),
           (unsigned)bench_sort(BENCH_SEED), (unsigned)bench_parse(BENCH_SEED));
    printf("checksum=0x%08x (expected.h says 0x%08x)\n", (unsigned)sum,
           (unsigned)BENCH_EXPECTED_CHECKSUM);
    return sum == BENCH_EXPECTED_CHECKSUM ? 0 : 1;
}
