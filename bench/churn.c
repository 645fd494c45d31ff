/* SPDX-License-Identifier: MIT */
/* churn: one thread makes N malloc/free pairs of small blocks, each from one of four
 * call sites at the end of a call chain 16 frames deep (main included).
 *
 * Usage: churn [pairs=20000000]   (a benchmark workload for `make bench`)
 *
 * Pair i (0 <= i < N) descends main -> level1 -> ... -> level14 -> site(i % 4), which
 * mallocs a block of 8 to 519 bytes (drawn from a splitmix64 stream with a fixed seed),
 * stores its address in a volatile global and frees it.  The program makes no other call
 * of the malloc family (no stdio), so a trace holds exactly
 *   calls.malloc = calls.free = N, 2 * N events in all,
 * from four allocation stacks, and nothing leaks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

/* The four call sites differ in where they are and in their size ranges. */
BENCH_FRAME static uint64_t site0(uint64_t r)
{
	char *p = malloc(8 + (r & 31));

	BENCH_CHECK("churn", p);
	p[0] = 0;
	bench_sink = p;
	free(bench_sink);
	return 1;
}

BENCH_FRAME static uint64_t site1(uint64_t r)
{
	char *p = malloc(40 + (r & 127));

	BENCH_CHECK("churn", p);
	p[1] = 1;
	bench_sink = p;
	free(bench_sink);
	return 2;
}

BENCH_FRAME static uint64_t site2(uint64_t r)
{
	char *p = malloc(64 + (r & 255));

	BENCH_CHECK("churn", p);
	p[2] = 2;
	bench_sink = p;
	free(bench_sink);
	return 3;
}

BENCH_FRAME static uint64_t site3(uint64_t r)
{
	char *p = malloc(8 + (r & 511));

	BENCH_CHECK("churn", p);
	p[3] = 3;
	bench_sink = p;
	free(bench_sink);
	return 4;
}

BENCH_FRAME static uint64_t level14(uint64_t i, uint64_t r)
{
	switch (i % 4) {
	case 0:
		return bench_keep(site0(r));
	case 1:
		return bench_keep(site1(r));
	case 2:
		return bench_keep(site2(r));
	default:
		return bench_keep(site3(r));
	}
}

/* level1 .. level13 each call the next one and add their own number afterwards, so the
 * call is not a tail call and every level stays a frame of its own. */
#define LEVEL(n, next) \
	BENCH_FRAME static uint64_t level##n(uint64_t i, uint64_t r) \
	{ \
		return bench_keep(next(i, r)) + n; \
	}

LEVEL(13, level14)
LEVEL(12, level13)
LEVEL(11, level12)
LEVEL(10, level11)
LEVEL(9, level10)
LEVEL(8, level9)
LEVEL(7, level8)
LEVEL(6, level7)
LEVEL(5, level6)
LEVEL(4, level5)
LEVEL(3, level4)
LEVEL(2, level3)
LEVEL(1, level2)

int main(int argc, char **argv)
{
	uint64_t n = bench_arg("churn", argc, argv, 1, 20000000, 0, UINT64_MAX / 2);
	uint64_t seed = 0x63687572; /* "chur" */
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += level1(i, bench_rand(&seed));
	bench_keep(sum);
	return 0;
}
