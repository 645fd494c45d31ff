/* SPDX-License-Identifier: MIT */
/* Finds the real allocator with dlsym(RTLD_NEXT), and serves the few
 * allocations dlsym itself makes meanwhile from a static arena that free ignores. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct ha_real ha__real;
_Atomic int ha__booting;

#define BOOT_SIZE HA_BOOT_SIZE
_Alignas(64) unsigned char ha__boot_arena[BOOT_SIZE];
#define boot_arena ha__boot_arena
static _Atomic size_t boot_used;

/* Each boot block is preceded by its size, so realloc can copy it. */
void *ha__boot_alloc(size_t size, size_t align)
{
	size_t start, old, end;

	if (align < 16)
		align = 16;
	if (size > BOOT_SIZE || (align & (align - 1)))
		return NULL;
	old = atomic_load(&boot_used);
	do {
		start = (old + 16 + align - 1) & ~(align - 1);
		end = start + size;
		if (end > BOOT_SIZE)
			return NULL;
	} while (!atomic_compare_exchange_weak(&boot_used, &old, end));
	memcpy(boot_arena + start - sizeof(size_t), &size, sizeof(size));
	return boot_arena + start;
}

size_t ha__boot_size(const void *p)
{
	size_t size;

	memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof(size));
	return size;
}

#define RESOLVE(field, name) \
	do { \
		void *sym_ = dlsym(RTLD_NEXT, name); \
		memcpy(&r.field, &sym_, sizeof(sym_)); \
	} while (0)

void ha__boot_resolve(void)
{
	struct ha_real r;
	int expected = 0;

	if (ha__real.free)
		return;
	/* A second thread arriving here while the first resolves waits; the
	 * resolving thread's own nested calls see ha__booting and use the arena. */
	if (!atomic_compare_exchange_strong(&ha__booting, &expected, 1)) {
		while (!__atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE) && atomic_load(&ha__booting))
			;
		return;
	}
	memset(&r, 0, sizeof(r));
	RESOLVE(malloc, "malloc");
	RESOLVE(calloc, "calloc");
	RESOLVE(realloc, "realloc");
	RESOLVE(reallocarray, "reallocarray");
	RESOLVE(posix_memalign, "posix_memalign");
	RESOLVE(aligned_alloc, "aligned_alloc");
	RESOLVE(memalign, "memalign");
	RESOLVE(valloc, "valloc");
	RESOLVE(pvalloc, "pvalloc");
	RESOLVE(malloc_usable_size, "malloc_usable_size");
	RESOLVE(dlopen, "dlopen");
	RESOLVE(dlclose, "dlclose");
	RESOLVE(execve, "execve");
	RESOLVE(execvpe, "execvpe");
	RESOLVE(exit_, "_exit");
	RESOLVE(Exit, "_Exit");
	RESOLVE(free, "free");
	if (!r.malloc || !r.free || !r.calloc || !r.realloc || !r.memalign) {
		static const char msg[] = "hotalloc: error: cannot find the real malloc with dlsym; aborting\n";
		ssize_t ignored = write(2, msg, sizeof(msg) - 1);
		(void)ignored;
		/* Bootstrap is the one fault that may not be survived: without the
		 * real allocator there is nothing to pass calls to. */
		__builtin_trap();
	}
	/* free last: it is the field that says "resolved". */
	void (*real_free)(void *) = r.free;
	r.free = NULL;
	ha__real = r;
	__atomic_store_n(&ha__real.free, real_free, __ATOMIC_RELEASE);
	atomic_store(&ha__booting, 0);
}
