/* SPDX-License-Identifier: MIT */
/* dlopen: loads a shared library, calls a function in it that allocates, unloads it,
 * R times over.
 *
 * Usage: dlopen LIBRARY [rounds R=20] [blocks per call N=100]
 *
 * Each round: dlopen(LIBRARY, RTLD_NOW | RTLD_LOCAL), dlsym "dlalloc_run", call it with
 * N (it mallocs N blocks of 64 bytes, frees N-1 of them, returns the last one, which
 * is never freed), dlclose.  dlopen and dlclose allocate inside libc, so compare against
 * "dlopen LIBRARY R 0", which loads and unloads as often.  The difference is, for N > 0:
 *   calls.malloc = allocations = R*N;  calls.free = R*N (one is free(NULL));
 *   frees = R*(N-1)
 *   bytes_allocated = 64*R*N;  leaked_blocks = R;  leaked_bytes = 64*R
 * and 0 for every other field. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define CHECK(cond) WL_CHECK("dlopen", cond)

int main(int argc, char **argv)
{
	uint64_t rounds = wl_arg(argc, argv, 2, 20);
	unsigned blocks = (unsigned)wl_arg(argc, argv, 3, 100);

	if (argc < 2) {
		wl_puts(2, "usage: dlopen LIBRARY [rounds] [blocks]\n");
		return 2;
	}
	for (uint64_t r = 0; r < rounds; r++) {
		void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
		void *(*run)(unsigned);
		void *leak;

		if (!lib) {
			wl_puts(2, "dlopen: error: cannot load '");
			wl_puts(2, argv[1]);
			wl_puts(2, "'\n");
			return 1;
		}
		*(void **)&run = dlsym(lib, "dlalloc_run");
		CHECK(run != NULL);
		leak = run(blocks);
		CHECK((leak != NULL) == (blocks > 0));
		wl_sink(leak);
		CHECK(dlclose(lib) == 0);
	}
	return 0;
}
