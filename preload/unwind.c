/* SPDX-License-Identifier: MIT */
/* Stack capture with libunwind's local-only backtrace (per-thread caching),
 * with hotalloc's own frames cut from the top. */
#define UNW_LOCAL_ONLY
#define _GNU_SOURCE
#include <libunwind.h>
#include "internal.h"

/* Frames inside libhotalloc.so that sit above the program's call: the hook,
 * the shim, this function.  A few spare slots cover them. */
#define OWN_FRAMES_MAX 8

__attribute__((constructor(101))) static void unwind_setup(void)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

unsigned ha__capture(uint64_t *frames, unsigned max)
{
	void *buf[HA_MAX_DEPTH + OWN_FRAMES_MAX];
	int n, skip = 0;
	unsigned out = 0;

	if (!max)
		return 0;
	n = unw_backtrace(buf, (int)(max + OWN_FRAMES_MAX));
	while (skip < n && (uintptr_t)buf[skip] >= ha__self_lo && (uintptr_t)buf[skip] < ha__self_hi)
		skip++;
	for (int i = skip; i < n && out < max; i++)
		frames[out++] = (uint64_t)(uintptr_t)buf[i];
	return out;
}
