/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmark workloads in bench/: arguments, a seeded generator,
 * optimisation barriers and messages, none of which allocates, so that the only calls
 * of the malloc family a workload makes are the ones its header counts. */
#ifndef HOTALLOC_BENCH_H
#define HOTALLOC_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keeps a function out of line, unmerged and uncloned, so each one is its own frame on
 * the stack; GCC's identical-code folding would otherwise fold look-alike functions. */
#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_FRAME __attribute__((noipa))
#else
#define BENCH_FRAME __attribute__((noinline))
#endif

/* Every block is stored here before it is freed, so the compiler must emit both the
 * allocation and the free (GCC removes unused malloc/free pairs even at -O1).  Each
 * workload is one file, so each has one copy. */
static void *volatile bench_sink __attribute__((unused));

/* Hides v from the optimiser.  Used after a call, it also keeps the call from being
 * turned into a jump (a tail call or a tail-recursion loop), which would drop a frame. */
static inline uint64_t bench_keep(uint64_t v)
{
	__asm__ volatile("" : "+r"(v) : : "memory");
	return v;
}

/* splitmix64: a fixed seed gives every run the same sizes. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Messages through write(2): the workloads' helper, no stdio. */
#include "../tests/workloads/workload.h"
#define bench_puts wl_puts

/* Prints "PROG: error: WHAT" on stderr and exits 1. */
static inline void bench_fail(const char *prog, const char *what)
{
	bench_puts(2, prog);
	bench_puts(2, ": error: ");
	bench_puts(2, what);
	bench_puts(2, "\n");
	_exit(1);
}

#define BENCH_CHECK(prog, cond) \
	do { \
		if (!(cond)) \
			bench_fail((prog), "check failed: " #cond); \
	} while (0)

/* Returns argv[i] as a number in [min, max], or def when absent; exits 2 when it is
 * malformed or out of range.  strtoull does not allocate. */
static inline uint64_t bench_arg(const char *prog, int argc, char **argv, int i,
				 uint64_t def, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	if (i >= argc)
		return def;
	v = strtoull(argv[i], &end, 10);
	if (!*argv[i] || *end || *argv[i] == '-' || v < min || v > max) {
		bench_puts(2, prog);
		bench_puts(2, ": error: argument '");
		bench_puts(2, argv[i]);
		bench_puts(2, "' is not a number in range\n");
		_exit(2);
	}
	return v;
}

#endif
