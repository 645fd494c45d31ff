/* SPDX-License-Identifier: MIT */
/* temporary: a known number of temporary blocks (freed by their thread before it
 * allocated anything else) next to blocks that are not, for tests/analyzer.sh.
 *
 * Usage: temporary   (no arguments; one thread, no stdio, so nothing else allocates)
 *
 * Each site is a noinline function whose allocating line carries an "@NAME" marker:
 *   pair_site      500 x malloc(40), each freed at once           500 temporary
 *   batch_site     300 x malloc(24) kept in an array, then one
 *   spoiler_site     1 x malloc(8), then the 300 are freed in
 *                  allocation order, then the spoiler:            batch 0, spoiler 1
 *   first_of_two   200 rounds of: a = malloc(56), b = malloc(72)
 *   second_of_two  (second_of_two), free(a), free(b):             first 0, second 200
 * so:
 *   calls.malloc = allocations = calls.free = frees = 1201
 *   bytes_allocated = 20000 + 7200 + 8 + 11200 + 14400 = 52808
 *   temporary = 701 (500 + 1 + 200);  leaked_bytes = leaked_blocks = 0
 * The 300 batch blocks and the 200 first_of_two blocks are not temporary: another
 * allocation happens between each one and its free. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

#define PROG "temporary"
#define NOINLINE __attribute__((noinline, noclone))

static char *batch[300];

NOINLINE static void pair_site(void)
{
	for (size_t i = 0; i < wl_opaque(500); i++) {
		char *p = wl_sink(malloc(40)); /* @pair_site */

		WL_CHECK(PROG, p);
		free(wl_sink(p));
	}
}

NOINLINE static char *spoiler_site(void)
{
	return wl_sink(malloc(8)); /* @spoiler_site */
}

NOINLINE static void batch_site(void)
{
	char *spoiler;

	for (size_t i = 0; i < wl_opaque(300); i++) {
		batch[i] = wl_sink(malloc(24)); /* @batch_site */
		WL_CHECK(PROG, batch[i]);
	}
	spoiler = spoiler_site();
	WL_CHECK(PROG, spoiler);
	for (size_t i = 0; i < wl_opaque(300); i++)
		free(wl_sink(batch[i]));
	free(wl_sink(spoiler));
}

NOINLINE static char *first_of_two(void)
{
	return wl_sink(malloc(56)); /* @first_of_two */
}

NOINLINE static char *second_of_two(void)
{
	return wl_sink(malloc(72)); /* @second_of_two */
}

NOINLINE static void two_at_a_time(void)
{
	for (size_t i = 0; i < wl_opaque(200); i++) {
		char *a = first_of_two();
		char *b = second_of_two();

		WL_CHECK(PROG, a && b);
		free(wl_sink(a));
		free(wl_sink(b));
	}
}

int main(void)
{
	pair_site();
	batch_site();
	two_at_a_time();
	return 0;
}
