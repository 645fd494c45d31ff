/* SPDX-License-Identifier: MIT */
/* grouping: stacks that meet on one source line, and lines that share one function,
 * for tests/analyzer.sh's --group-by checks.
 *
 * Usage: grouping   (no arguments; one thread, no stdio, so nothing else allocates)
 *
 * new_node mallocs 32 bytes on one line (@new_node) and is called by from_left 300
 * times and by from_right 200 times: two stacks, one line.  two_lines mallocs 64
 * bytes on one line (@odd_line) for odd k and 96 bytes on another (@even_line) for
 * even k, called 60 times each from main: two stacks, two lines, one function.
 * Every block is freed at once.  So:
 *   --group-by stack:    4 sites (300, 200, 60 and 60 allocations)
 *   --group-by line:     3 sites: new_node's line (2 stacks, 500 allocations,
 *                        16000 bytes), @odd_line (1 stack, 60, 3840),
 *                        @even_line (1 stack, 60, 5760)
 *   --group-by function: 2 sites: new_node (2 stacks, 500, 16000),
 *                        two_lines (2 stacks, 120, 9600)
 *   calls.malloc = calls.free = allocations = frees = 620;  bytes_allocated = 25600 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

#define PROG "grouping"
#define NOINLINE __attribute__((noinline, noclone))

NOINLINE static char *new_node(void)
{
	return wl_sink(malloc(32)); /* @new_node */
}

NOINLINE static void from_left(void)
{
	for (size_t i = 0; i < wl_opaque(300); i++) {
		char *p = new_node();

		WL_CHECK(PROG, p);
		p[0] = 'L';
		free(wl_sink(p));
	}
}

NOINLINE static void from_right(void)
{
	for (size_t i = 0; i < wl_opaque(200); i++) {
		char *p = new_node();

		WL_CHECK(PROG, p);
		p[31] = 'R';
		free(wl_sink(p));
	}
}

/* The two branches write different bytes, so the compiler keeps two malloc calls. */
NOINLINE static void two_lines(int k)
{
	char *p;

	if (k & 1) {
		p = wl_sink(malloc(64)); /* @odd_line */
		WL_CHECK(PROG, p);
		p[63] = 'o';
	} else {
		p = wl_sink(malloc(96)); /* @even_line */
		WL_CHECK(PROG, p);
		p[95] = 'e';
	}
	free(wl_sink(p));
}

int main(void)
{
	from_left();
	from_right();
	for (size_t k = 0; k < wl_opaque(120); k++)
		two_lines((int)k);
	return 0;
}
