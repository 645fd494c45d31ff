/* SPDX-License-Identifier: MIT */
/* churn: one thread makes N malloc/free pairs of four sizes from four call sites.
 *
 * Usage: churn [iterations=2000000]   (a stress workload, not a benchmark)
 *
 * Iteration i (0 <= i < N) calls site i % 4, which mallocs SIZE[i % 4] bytes with
 * SIZE = {24, 200, 1500, 5000}, writes to the block and frees it at once.  The program
 * itself makes no other allocation (no stdio).  With q = N / 4 and r = N % 4:
 *   calls.malloc = calls.free = allocations = frees = N
 *   bytes_allocated = 6724 * q + {0, 24, 224, 1724}[r]
 *   peak_bytes = {0, 24, 200, 1500, 5000}[min(N, 4)]
 *   leaked_bytes = leaked_blocks = 0
 * and all other calls are 0. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "workload.h"

/* Each site is its own function so that the four sites have four different stacks. */
__attribute__((noinline)) static void site0(void)
{
	char *p = wl_sink(malloc(24));

	WL_CHECK("churn", p);
	p[0] = 0;
	free(wl_sink(p));
}

__attribute__((noinline)) static void site1(void)
{
	char *p = wl_sink(malloc(200));

	WL_CHECK("churn", p);
	p[199] = 1;
	free(wl_sink(p));
}

__attribute__((noinline)) static void site2(void)
{
	char *p = wl_sink(malloc(1500));

	WL_CHECK("churn", p);
	memset(p, 2, 64);
	free(wl_sink(p));
}

__attribute__((noinline)) static void site3(void)
{
	char *p = wl_sink(malloc(5000));

	WL_CHECK("churn", p);
	p[4999] = 3;
	free(wl_sink(p));
}

int main(int argc, char **argv)
{
	uint64_t n = wl_arg(argc, argv, 1, 2000000);

	for (uint64_t i = 0; i < n; i++) {
		switch (i % 4) {
		case 0:
			site0();
			break;
		case 1:
			site1();
			break;
		case 2:
			site2();
			break;
		default:
			site3();
			break;
		}
	}
	return 0;
}
