/* SPDX-License-Identifier: MIT */
/* libdlalloc.so: the shared library that the dlopen workload loads and unloads; its one
 * function allocates known amounts from inside the library. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

void *dlalloc_run(unsigned n);

/* Mallocs n blocks of 64 bytes and frees all but the last, which it returns: the
 * caller leaks it on purpose, so that a block outlives the library that made it.
 * Returns NULL when n is 0 or malloc fails. */
__attribute__((visibility("default"))) void *dlalloc_run(unsigned n)
{
	void *prev = NULL;

	for (unsigned i = 0; i < n; i++) {
		void *p = malloc(64);

		if (!p)
			return NULL;
		memset(p, (int)i, 64);
		/* An asm barrier instead of workload.h: this file stays self-contained. */
		__asm__ volatile("" : : "r"(p) : "memory");
		free(prev);
		prev = p;
	}
	return prev;
}
