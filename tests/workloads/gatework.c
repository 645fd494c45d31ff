/* SPDX-License-Identifier: MIT */
/* gatework: a stand-in "parser" with known allocation counts, for the allocation-gate
 * tests (tests/gate.sh): hotalloc check and diff, limits, markers, --per.
 *
 * Usage: gatework [--more] [--new-site] [--setup N=100] [ops=1000]
 *   (a test workload, not a benchmark)
 *
 * The set-up phase mallocs N blocks of 48 bytes, all live at once, then frees them.
 * Then it marks "steady" and runs `ops` operations, each marked "op": parse_one
 * mallocs one 256-byte node, calls parse_token TOKENS (10) times, each mallocing one
 * 100-byte token, and frees them all.  Then it marks "done".  No stdio, so in the
 * window from "steady" to "done", per operation:
 *   allocations = 11, bytes = 1256, frees = 11, nothing leaked
 * and over the whole run peak_bytes = max(48 * N, 1256) (4800 by default).  The marks
 * come from include/hotalloc.h, so the program runs the same without the tracer.
 * and parse_token makes 10 * ops allocations.  Each allocating line carries a marker
 * comment "@NAME" that tests/gate.sh looks up: it never writes a line number.
 *
 *   --more       parse_token is called once more per operation: 11 * ops allocations
 *                at its site, 10% more, and 12 allocations per operation
 *   --new-site   each operation also calls intern_name, which mallocs 24 bytes that
 *                parse_one frees: a site the plain run lacks
 *   --setup N    the set-up makes N allocations instead of 100 (before "steady")
 *
 * Built with -DGATEWORK_MORE, --more is the default (a binary with the switch baked in).
 * Built with -DEXTRA_CODE, unrelated functions are compiled in above parse_token, so
 * every address below them moves while the sites stay the same; tests/workloads.mk
 * builds that variant from a copy with lines inserted above them too (tests/moved/),
 * so every line number below moves as well. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hotalloc.h>

#include "workload.h"

#define TOKENS 10

/* Results go here, so the compiler keeps every block and every computation. */
static volatile uintptr_t sink;

__attribute__((noinline)) static void setup(uint64_t n)
{
	void **table = NULL;

	/* Blocks are chained through their first bytes: no array, so exactly n
	 * allocations, all live at once. */
	for (uint64_t i = 0; i < n; i++) {
		void **b = wl_sink(malloc(48));

		WL_CHECK("gatework", b);
		b[0] = table;
		table = b;
	}
	while (table) {
		void **next = table[0];

		free(wl_sink(table));
		table = next;
	}
}

#ifdef EXTRA_CODE
/* Unrelated code, only in the "moved" build: it shifts everything below it, in the
 * binary and in the source, without changing what is allocated or from where. */
__attribute__((noinline)) static uintptr_t checksum_args(int argc, char **argv)
{
	uintptr_t h = 5381;

	for (int i = 0; i < argc; i++)
		for (const char *s = argv[i]; *s; s++)
			h = h * 33 + (unsigned char)*s;
	return h;
}

__attribute__((noinline)) static uintptr_t mix(uintptr_t h)
{
	h ^= h >> 17;
	h *= 0xed5ad4bbu;
	h ^= h >> 11;
	h *= 0xac4c1b51u;
	h ^= h >> 15;
	return h;
}
#endif

__attribute__((noinline)) static char *parse_token(uint64_t op, unsigned t)
{
	char *tok = wl_sink(malloc(100)); /* @parse_token */

	WL_CHECK("gatework", tok);
	tok[0] = (char)('a' + (op + t) % 26);
	tok[99] = 0;
	return tok;
}

__attribute__((noinline)) static char *intern_name(uint64_t op)
{
	char *name = wl_sink(malloc(24)); /* @intern_name */

	WL_CHECK("gatework", name);
	name[0] = (char)('A' + op % 26);
	return name;
}

__attribute__((noinline)) static void parse_one(uint64_t op, bool more, bool new_site)
{
	char **node = wl_sink(malloc(256)); /* @parse_one */
	unsigned ntok = TOKENS + (more ? 1 : 0);
	char *name = NULL;

	WL_CHECK("gatework", node);
	for (unsigned t = 0; t < ntok; t++)
		node[t] = parse_token(op, t);
	if (new_site)
		name = intern_name(op);
	for (unsigned t = 0; t < ntok; t++) {
		sink += (unsigned char)node[t][0];
		free(wl_sink(node[t]));
	}
	free(wl_sink(name));
	free(wl_sink(node));
}

__attribute__((noinline)) static void run_ops(uint64_t ops, bool more, bool new_site)
{
	for (uint64_t i = 0; i < ops; i++) {
		ha_mark("op");
		parse_one(i, more, new_site);
	}
}

int main(int argc, char **argv)
{
#ifdef GATEWORK_MORE
	bool more = true;
#else
	bool more = false;
#endif
	bool new_site = false;
	uint64_t setup_n = 100, ops = 1000;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--more")) {
			more = true;
		} else if (!strcmp(argv[i], "--new-site")) {
			new_site = true;
		} else if (!strcmp(argv[i], "--setup") && i + 1 < argc) {
			setup_n = wl_arg(argc, argv, ++i, 100);
		} else {
			wl_puts(2, "gatework: error: unknown option '");
			wl_puts(2, argv[i]);
			wl_puts(2, "'\n");
			return 2;
		}
	}
	ops = wl_arg(argc, argv, i, ops);
#ifdef EXTRA_CODE
	sink = mix(checksum_args(argc, argv));
#endif
	setup(setup_n);
	ha_mark("steady");
	run_ops(ops, more, new_site);
	ha_mark("done");
	return 0;
}
