/* SPDX-License-Identifier: MIT */
/* regrow: realloc growth chains of known length and number, for tests/analyzer.sh.
 *
 * Usage: regrow [long]   (one thread, no stdio, so nothing else allocates)
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
 *   leaked_bytes = leaked_blocks = 0
 *
 * regrow long: chains too long for a block's growth field (16,383 grows, then
 * the analyzer keeps the count aside), some of whose reallocs move the block.
 * grow_long_freed grows one buffer by realloc 20,000 times (@long_freed), 8 bytes
 * more each time, from NULL to 160,000 bytes, then frees it: one chain of 19,999
 * growth reallocs.  grow_long_leaked does the same 17,000 times (@long_leaked), to
 * 136,000 bytes, and leaks it: one leaked chain of 16,999.  Every 1,000 steps a
 * pin larger than any hole the buffer left is allocated, after the buffer at the
 * top of the heap: the next realloc moves the buffer.  The pins are freed at the
 * end.  So:
 *   the two sites' realloc_chains: 1 chain of 19,999 reallocs, final 160,000
 *   bytes; 1 of 16,999, final 136,000; total realloc_chains = 2 */
#define _GNU_SOURCE
#include <malloc.h>
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

static void *pins[64];
static size_t npins;

NOINLINE static void grow_long_freed(void)
{
	char *buf = NULL;

	for (size_t k = 1; k <= wl_opaque(20000); k++) {
		buf = wl_sink(realloc(buf, 8 * k)); /* @long_freed */
		WL_CHECK(PROG, buf);
		buf[8 * k - 1] = (char)k;
		if (k % 1000 == 0)
			pins[npins++] = wl_sink(malloc(8 * k + 4096));
	}
	free(wl_sink(buf));
}

NOINLINE static char *grow_long_leaked(void)
{
	char *buf = NULL;

	for (size_t k = 1; k <= wl_opaque(17000); k++) {
		buf = wl_sink(realloc(buf, 8 * k)); /* @long_leaked */
		WL_CHECK(PROG, buf);
		buf[8 * k - 1] = (char)k;
		if (k % 1000 == 0)
			pins[npins++] = wl_sink(malloc(8 * k + 4096));
	}
	return buf;
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == 'l') {
		static char *leaked;

		/* On the heap, where a pin after the buffer makes it move. */
		mallopt(M_MMAP_THRESHOLD, 1 << 20);
		mallopt(M_TOP_PAD, 0);
		grow_long_freed();
		leaked = wl_sink(grow_long_leaked());
		for (size_t i = 0; i < npins; i++)
			free(wl_sink(pins[i]));
		return leaked ? 0 : 1;
	}

	for (size_t i = 0; i < wl_opaque(100); i++)
		grow_buffer();
	for (size_t i = 0; i < wl_opaque(50); i++)
		grow_once();
	return 0;
}
