/* SPDX-License-Identifier: MIT */
/* regrow: realloc growth chains of known length and number, for tests/analyzer.sh.
 *
 * Usage: regrow   (no arguments; one thread, no stdio, so nothing else allocates)
 *
 * grow_buffer, 100 times: starts from NULL and calls realloc 8 times on one line
 * (@grow_realloc), to 24, 48, ..., 192 bytes, then frees the buffer.  Each realloc
 * that returns a block counts as an allocation at that line and releases the block
 * before it, so that site has 800 allocations and 100 chains (blocks grown by
 * realloc twice or more: here 7 times each), 700 growth reallocs, final size 192.
 * grow_once, 50 times: malloc(100) (@once_malloc), one realloc to 200 bytes
 * (@once_realloc), free: grown once, so no chain.  So:
 *   calls.realloc = 850;  calls.malloc = 50;  calls.free = 150
 *   allocations = frees = 900;  realloc_chains = 100
 *   bytes_allocated = 100 * 24 * 36 + 50 * 300 = 101400
 *   leaked_bytes = leaked_blocks = 0 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

#define PROG "regrow"
#define NOINLINE __attribute__((noinline, noclone))

NOINLINE static void grow_buffer(void)
{
	char *buf = NULL;

	for (size_t k = 1; k <= wl_opaque(8); k++) {
		buf = wl_sink(realloc(buf, 24 * k)); /* @grow_realloc */
		WL_CHECK(PROG, buf);
		buf[24 * k - 1] = (char)k;
	}
	free(wl_sink(buf));
}

NOINLINE static void grow_once(void)
{
	char *p = wl_sink(malloc(100)); /* @once_malloc */

	WL_CHECK(PROG, p);
	p = wl_sink(realloc(p, 200)); /* @once_realloc */
	WL_CHECK(PROG, p);
	p[199] = 1;
	free(wl_sink(p));
}

int main(void)
{
	for (size_t i = 0; i < wl_opaque(100); i++)
		grow_buffer();
	for (size_t i = 0; i < wl_opaque(50); i++)
		grow_once();
	return 0;
}
