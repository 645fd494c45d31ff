/* SPDX-License-Identifier: MIT */
/* leaksites: five call sites with known counts, bytes, shares of the peak and leaks,
 * for tests/analyzer.sh: leaks and the peak charged to the line that allocated them,
 * the order of --sort, --top, and the golden text report.
 *
 * Usage: leaksites   (no arguments; one thread, no stdio, so nothing else allocates)
 *
 * Each site is a noinline function whose allocating line carries an "@NAME" marker
 * comment (the test finds its line number with grep).  In time order:
 *   keep_early   2 x 100 B, never freed                  -> live at the peak, leaked
 *   churn_small 50 x  16 B, each freed at once            -> 50 temporary blocks
 *   hold_a       8 x 1000 B, held
 *   hold_b       3 x 4000 B, held; the third one makes the peak
 *   (hold_a's 8 blocks are freed, then hold_b's 3: the last of those is the latest
 *   allocation when it is freed, so it is temporary)
 *   leak_late    7 x  48 B, never freed                  -> leaked after the peak
 * so:
 *   calls.malloc = allocations = 70;  calls.free = frees = 61
 *   bytes_allocated = 200 + 800 + 8000 + 12000 + 336 = 21336
 *   peak_bytes = 200 + 8000 + 12000 = 20200
 *   leaked_blocks = 9;  leaked_bytes = 536;  temporary = 50 + 1
 * Per site (allocations, bytes, peak_bytes, leaked_blocks, leaked_bytes, temporary):
 *   keep_early  (2, 200, 200, 2, 200, 0)      churn_small (50, 800, 0, 0, 0, 50)
 *   hold_a      (8, 8000, 8000, 0, 0, 0)      hold_b      (3, 12000, 12000, 0, 0, 1)
 *   leak_late   (7, 336, 0, 7, 336, 0)
 * which rank differently by count, bytes, peak and leaked bytes.  Loop bounds go
 * through wl_opaque so that no loop is unrolled into several call sites. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

#define PROG "leaksites"

static char *early[2], *held_a[8], *held_b[3], *late[7];

__attribute__((noinline)) static void keep_early(void)
{
	for (size_t i = 0; i < wl_opaque(2); i++) {
		early[i] = wl_sink(malloc(100)); /* @keep_early */
		WL_CHECK(PROG, early[i]);
	}
}

__attribute__((noinline)) static void churn_small(void)
{
	for (size_t i = 0; i < wl_opaque(50); i++) {
		char *p = wl_sink(malloc(16)); /* @churn_small */

		WL_CHECK(PROG, p);
		p[0] = (char)i;
		free(wl_sink(p));
	}
}

__attribute__((noinline)) static void hold_a(void)
{
	for (size_t i = 0; i < wl_opaque(8); i++) {
		held_a[i] = wl_sink(malloc(1000)); /* @hold_a */
		WL_CHECK(PROG, held_a[i]);
	}
}

__attribute__((noinline)) static void hold_b(void)
{
	for (size_t i = 0; i < wl_opaque(3); i++) {
		held_b[i] = wl_sink(malloc(4000)); /* @hold_b */
		WL_CHECK(PROG, held_b[i]);
	}
}

__attribute__((noinline)) static void release_held(void)
{
	for (size_t i = 0; i < wl_opaque(8); i++)
		free(wl_sink(held_a[i]));
	for (size_t i = 0; i < wl_opaque(3); i++)
		free(wl_sink(held_b[i]));
}

__attribute__((noinline)) static void leak_late(void)
{
	for (size_t i = 0; i < wl_opaque(7); i++) {
		late[i] = wl_sink(malloc(48)); /* @leak_late */
		WL_CHECK(PROG, late[i]);
	}
}

int main(void)
{
	keep_early();
	churn_small();
	hold_a();
	hold_b();
	release_held();
	leak_late();
	return 0;
}
