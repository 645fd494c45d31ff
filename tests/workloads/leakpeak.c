/* SPDX-License-Identifier: MIT */
/* leakpeak: reaches a known peak, frees it, then leaks K smaller blocks of known sizes.
 *
 * Usage: leakpeak [leaks K=10] [peak blocks P=100]
 *
 * Phase 1 mallocs P blocks of 1000 bytes, all live at once, then frees them all.
 * Phase 2 mallocs K blocks of 10, 20, ..., 10*K bytes and never frees them.  The
 * program makes no other allocation (no stdio), so:
 *   calls.malloc = allocations = P + K;  calls.free = frees = P
 *   bytes_allocated = 1000*P + 5*K*(K+1)
 *   peak_bytes = max(1000*P, 5*K*(K+1))
 *   leaked_blocks = K;  leaked_bytes = 5*K*(K+1)
 * and all other calls are 0.  "leakpeak 0 0" allocates nothing at all. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

/* Phase 1 blocks are chained through their first bytes, so no array is needed. */
struct block {
	struct block *next;
	char pad[1000 - sizeof(struct block *)];
};

int main(int argc, char **argv)
{
	uint64_t leaks = wl_arg(argc, argv, 1, 10);
	uint64_t peak_blocks = wl_arg(argc, argv, 2, 100);
	struct block *head = NULL;

	for (uint64_t i = 0; i < peak_blocks; i++) {
		struct block *b = wl_sink(malloc(sizeof(*b)));

		WL_CHECK("leakpeak", b);
		b->next = head;
		head = b;
	}
	while (head) {
		struct block *next = head->next;

		free(wl_sink(head));
		head = next;
	}
	for (uint64_t j = 0; j < leaks; j++) {
		char *p = wl_sink(malloc(10 * (j + 1)));

		WL_CHECK("leakpeak", p);
		p[0] = 1;
	}
	return 0;
}
