/* SPDX-License-Identifier: MIT */
/* families: one thread calls every member of the malloc family but valloc/pvalloc:
 * realloc growth chains, calloc, aligned_alloc, posix_memalign and memalign.
 *
 * Usage: families [rounds=1037500]   (a benchmark workload for `make bench`)
 *
 * Each of the R rounds makes 16 calls, with sizes from a splitmix64 stream (fixed seed):
 *   - a growth chain: realloc(NULL, s), then six reallocs that each double the block
 *     (s from 16 to 79 bytes, so up to 5056), then free: 7 reallocs, 1 free;
 *   - calloc(1..64, 8), then free;
 *   - aligned_alloc(64, 64..1024 in steps of 64), then free;
 *   - posix_memalign(128, 32..1055 bytes), then free;
 *   - memalign(32, 16..271 bytes), then free.
 * The program makes no other call of the malloc family (no stdio), so a trace holds
 * exactly
 *   calls.realloc = 7 * R, calls.free = 5 * R,
 *   calls.calloc = calls.aligned_alloc = calls.posix_memalign = calls.memalign = R,
 * 16 * R events in all, and nothing leaks. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

BENCH_FRAME static void grow(uint64_t r)
{
	size_t size = 16 + (r & 63);
	char *p = NULL;

	for (int g = 0; g < 7; g++, size *= 2) {
		char *q = realloc(p, size);

		BENCH_CHECK("families", q);
		q[size - 1] = (char)g;
		p = q;
	}
	bench_sink = p;
	free(bench_sink);
}

BENCH_FRAME static void zeroed(uint64_t r)
{
	uint64_t *p = calloc(1 + (r & 63), 8);

	BENCH_CHECK("families", p && p[0] == 0);
	bench_sink = p;
	free(bench_sink);
}

BENCH_FRAME static void aligned(uint64_t r)
{
	char *p = aligned_alloc(64, 64 * (1 + (r & 15)));

	BENCH_CHECK("families", p && (uintptr_t)p % 64 == 0);
	p[0] = 1;
	bench_sink = p;
	free(bench_sink);
}

BENCH_FRAME static void posix_aligned(uint64_t r)
{
	void *p = NULL;

	BENCH_CHECK("families", posix_memalign(&p, 128, 32 + (r & 1023)) == 0);
	BENCH_CHECK("families", (uintptr_t)p % 128 == 0);
	*(char *)p = 2;
	bench_sink = p;
	free(bench_sink);
}

BENCH_FRAME static void old_aligned(uint64_t r)
{
	char *p = memalign(32, 16 + (r & 255));

	BENCH_CHECK("families", p && (uintptr_t)p % 32 == 0);
	p[0] = 3;
	bench_sink = p;
	free(bench_sink);
}

int main(int argc, char **argv)
{
	uint64_t rounds = bench_arg("families", argc, argv, 1, 1037500, 0, UINT64_MAX / 16);
	uint64_t seed = 0x66616d69; /* "fami" */

	for (uint64_t i = 0; i < rounds; i++) {
		uint64_t r = bench_rand(&seed);

		grow(r);
		zeroed(r >> 8);
		aligned(r >> 16);
		posix_aligned(r >> 24);
		old_aligned(r >> 40);
	}
	return 0;
}
