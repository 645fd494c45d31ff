/* SPDX-License-Identifier: MIT */
/* recurse: one thread recurses 48 levels deep and allocates at the bottom, along K
 * distinct paths, so the tracer sees deep stacks of which exactly K are distinct.
 *
 * Usage: recurse [stacks=4] [descents=2400000]   (a benchmark workload for `make bench`;
 *        stacks from 1 to 1048576)
 *
 * Descent i (0 <= i < N) takes path k = i % K: main calls down_a(level 0), and each
 * level l < 48 calls level l + 1 through down_b when bit l of k is set, else through
 * down_a; level 48 calls leaf(), which mallocs one of 16 sizes, 16 to 256 bytes (a
 * splitmix64 stream with a fixed seed), and frees the block.  Every allocation stack is then main, 49 down_*
 * frames and leaf (51 frames from malloc's caller up to main), and distinct k give
 * distinct stacks.  The program makes no other call of the malloc family (no stdio), so
 * a trace holds exactly
 *   calls.malloc = calls.free = N, 2 * N events in all,
 * from K allocation stacks, and nothing leaks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

#define DEPTH 48

/* Few sizes on purpose: heaptrack 1.4's interpreter keeps one record per distinct (size,
 * stack) pair in a hash set whose hash clusters such small values, and with tens of
 * thousands of pairs (256 stacks times 256 sizes) it grows to all memory and dies of
 * std::bad_alloc.  16 sizes keep recurse 256 at 4096 pairs. */
BENCH_FRAME static uint64_t leaf(uint64_t r)
{
	char *p = malloc(16 * (1 + (r & 15)));

	BENCH_CHECK("recurse", p);
	p[0] = 1;
	bench_sink = p;
	free(bench_sink);
	return 1;
}

static uint64_t down_b(unsigned level, uint64_t path, uint64_t r);

/* down_a and down_b differ only in what they add after the call: two functions, so
 * that the path taken shows in the return addresses on the stack. */
BENCH_FRAME static uint64_t down_a(unsigned level, uint64_t path, uint64_t r)
{
	if (level == DEPTH)
		return bench_keep(leaf(r));
	if (path & 1)
		return bench_keep(down_b(level + 1, path >> 1, r)) + 1;
	return bench_keep(down_a(level + 1, path >> 1, r)) + 1;
}

BENCH_FRAME static uint64_t down_b(unsigned level, uint64_t path, uint64_t r)
{
	if (level == DEPTH)
		return bench_keep(leaf(r));
	if (path & 1)
		return bench_keep(down_b(level + 1, path >> 1, r)) + 2;
	return bench_keep(down_a(level + 1, path >> 1, r)) + 2;
}

int main(int argc, char **argv)
{
	uint64_t k = bench_arg("recurse", argc, argv, 1, 4, 1, 1u << 20);
	uint64_t n = bench_arg("recurse", argc, argv, 2, 2400000, 0, UINT64_MAX / 2);
	uint64_t seed = 0x72656375; /* "recu" */
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += down_a(0, i % k, bench_rand(&seed));
	bench_keep(sum);
	return 0;
}
