/* SPDX-License-Identifier: MIT */
/* inlined: an allocation made inside an always_inline function, built at -O2, for
 * tests/analyzer.sh: the report must show the inlined function as a frame of its own
 * ("inlined": true) above the function it was inlined into.
 *
 * Usage: inlined   (no arguments; one thread, no stdio, so nothing else allocates)
 *
 * label_user (noinline) calls make_label (always_inline), whose malloc line carries
 * the marker @inline_malloc; label_user's call line carries @inline_call and main's
 * call line @label_user.  64 calls, each a malloc(48) freed at once.  The one stack
 * is, innermost first:
 *   make_label (inlined, at @inline_malloc), label_user (at @inline_call),
 *   main (at @label_user), then libc's start-up frames
 * and calls.malloc = calls.free = allocations = frees = 64, bytes_allocated = 3072. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

#define PROG "inlined"

static inline __attribute__((always_inline)) char *make_label(size_t n, char c)
{
	char *p = wl_sink(malloc(n)); /* @inline_malloc */

	WL_CHECK(PROG, p);
	p[0] = c;
	return p;
}

/* Work after the inlined call keeps label_user's own frame (no tail call). */
__attribute__((noinline, noclone)) static long label_user(char c)
{
	char *p = make_label(48, c); /* @inline_call */
	long r = p[0];

	free(wl_sink(p));
	return r;
}

int main(void)
{
	long sum = 0;

	for (size_t i = 0; i < wl_opaque(64); i++)
		sum += label_user((char)('a' + i % 26)); /* @label_user */
	WL_CHECK(PROG, sum > 0);
	return 0;
}
