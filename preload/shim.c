/* SPDX-License-Identifier: MIT */
/* The interposed libc entry points, and nothing else: each calls the real
 * function and tells the hook.  Allocations are reported after the real call
 * returns, frees before the real free runs (see hook.c for why). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <assert.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hotalloc/format.h"
#include "internal.h"

#define HA_EXPORT __attribute__((visibility("default")))

extern char **__environ;

/* False while dlsym is still looking for the real functions: the caller then
 * serves the call from the boot arena. */
static HA_COLD bool resolve_slow(void)
{
	if (atomic_load(&ha__booting))
		return false;
	ha__boot_resolve();
	return __atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE) != NULL;
}

static inline bool ready(void)
{
	if (ha_likely(__atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE) != NULL))
		return true;
	return resolve_slow();
}

/* malloc, free, calloc and realloc: the calls that sampling lets through go
 * straight to the real function from a frameless fast path (*_counted when
 * the countdown ran out: picked or not); everything else is *_hooked. */
static __attribute__((noinline)) void *malloc_hooked(size_t size, int picked)
{
	void *p;

	if (ha_unlikely(!ready()))
		return ha__boot_alloc(size, 16);
	p = ha__real.malloc(size);
	ha__on_alloc(HA_EV_MALLOC | picked, p, 0, size, NULL, 0);
	return p;
}

/* Sampling, the countdown ran out. */
static __attribute__((noinline)) void *malloc_counted(size_t size)
{
	if (!ha__sample_pick_slow(size))
		return ha__real.malloc(size);
	return malloc_hooked(size, HA_KIND_PICKED);
}

HA_EXPORT void *malloc(size_t size)
{
	if (ha_likely(__atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE) != NULL) &&
	    ha_unlikely(ha__opt.sample)) {
		if (ha_likely(ha__sample_skip(size)))
			return ha__real.malloc(size);
		return malloc_counted(size);
	}
	return malloc_hooked(size, 0);
}

static __attribute__((noinline)) void free_hooked(void *p)
{
	if (ha_unlikely(ha__boot_owns(p)))
		return;
	if (ha_unlikely(!ready()))
		return;
	if (!ha__opt.sample || ha__sample_maybe(p))
		ha__on_free(p);
	ha__real.free(p);
}

HA_EXPORT void free(void *p)
{
	void (*real)(void *) = __atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE);

	/* A boot-arena block is never a sampled block, so it takes the slow path. */
	if (ha_likely(real != NULL) && ha__opt.sample && !ha__sample_maybe(p) && !ha__boot_owns(p)) {
		real(p);
		return;
	}
	free_hooked(p);
}

static __attribute__((noinline)) void *calloc_hooked(size_t nmemb, size_t size, int picked)
{
	size_t bytes;
	void *p;

	if (ha_unlikely(!ready())) {
		if (__builtin_mul_overflow(nmemb, size, &bytes))
			return NULL;
		return ha__boot_alloc(bytes, 16);	/* static memory is zero */
	}
	p = ha__real.calloc(nmemb, size);
	ha__on_alloc(HA_EV_CALLOC | picked, p, nmemb, size, NULL, 0);
	return p;
}

static __attribute__((noinline)) void *calloc_counted(size_t nmemb, size_t size, size_t bytes)
{
	if (!ha__sample_pick_slow(bytes))
		return ha__real.calloc(nmemb, size);
	return calloc_hooked(nmemb, size, HA_KIND_PICKED);
}

HA_EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t bytes;

	if (ha_likely(__atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE) != NULL) &&
	    ha_unlikely(ha__opt.sample)) {
		if (__builtin_mul_overflow(nmemb, size, &bytes))
			bytes = SIZE_MAX;	/* saturated, as the hook counts it */
		if (ha_likely(ha__sample_skip(bytes)))
			return ha__real.calloc(nmemb, size);
		return calloc_counted(nmemb, size, bytes);
	}
	return calloc_hooked(nmemb, size, 0);
}

static HA_COLD void *realloc_boot(void *old, size_t size)
{
	size_t old_size = old ? ha__boot_size(old) : 0;
	void *p;

	if (!ready()) {
		p = ha__boot_alloc(size, 16);
	} else {
		uint64_t t0 = ha__stamp(old);

		p = ha__real.malloc(size);
		ha__on_alloc(HA_EV_REALLOC, p, 0, size, old, t0);
	}
	if (p && old)
		memcpy(p, old, old_size < size ? old_size : size);
	return p;
}

static __attribute__((noinline)) void *realloc_hooked(void *old, size_t size, int picked)
{
	uint64_t t0;
	void *p;

	if (ha_unlikely(ha__boot_owns(old) || !ready()))
		return realloc_boot(old, size);
	t0 = ha__stamp(old);
	p = ha__real.realloc(old, size);
	ha__on_alloc(HA_EV_REALLOC | picked, p, 0, size, old, t0);
	return p;
}

static __attribute__((noinline)) void *realloc_counted(void *old, size_t size)
{
	if (!ha__sample_pick_slow(size))
		return ha__real.realloc(old, size);
	return realloc_hooked(old, size, HA_KIND_PICKED);
}

/* Sampling's fast path is for a realloc whose old block is neither in the
 * boot arena nor maybe a sampled block (the hook looks that up). */
HA_EXPORT void *realloc(void *old, size_t size)
{
	if (ha_likely(__atomic_load_n(&ha__real.free, __ATOMIC_ACQUIRE) != NULL) &&
	    ha_unlikely(ha__opt.sample) && !ha__boot_owns(old) && !(old && ha__sample_maybe(old))) {
		if (ha_likely(ha__sample_skip(size)))
			return ha__real.realloc(old, size);
		return realloc_counted(old, size);
	}
	return realloc_hooked(old, size, 0);
}

/* Done here rather than by the real reallocarray: glibc's calls realloc
 * through the PLT, which would count one call twice. */
HA_EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
	int gate;
	size_t bytes;
	uint64_t t0;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &bytes)) {
		if (ready()) {
			t0 = ha__stamp(old);
			ha__on_alloc(HA_EV_REALLOCARRAY, NULL, 0, UINT64_MAX, old, t0);
		}
		errno = ENOMEM;
		return NULL;
	}
	if (ha_unlikely(ha__boot_owns(old) || !ready()))
		return realloc_boot(old, bytes);
	gate = ha__sample_gate(bytes, old);
	if (gate == HA_SAMPLE_PASS)
		return ha__real.realloc(old, bytes);
	t0 = ha__stamp(old);
	p = ha__real.realloc(old, bytes);
	ha__on_alloc(HA_EV_REALLOCARRAY | gate, p, 0, bytes, old, t0);
	return p;
}

HA_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	int gate;
	int err;

	if (ha_unlikely(!ready())) {
		void *p = ha__boot_alloc(size, align);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	gate = ha__sample_gate(size, NULL);
	if (gate == HA_SAMPLE_PASS)
		return ha__real.posix_memalign(out, align, size);
	err = ha__real.posix_memalign(out, align, size);
	ha__on_alloc(HA_EV_POSIX_MEMALIGN | gate, err ? NULL : *out, align, size, NULL, 0);
	return err;
}

HA_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	int gate;
	void *p;

	if (ha_unlikely(!ready()))
		return ha__boot_alloc(size, align);
	gate = ha__sample_gate(size, NULL);
	if (gate == HA_SAMPLE_PASS)
		return ha__real.aligned_alloc(align, size);
	p = ha__real.aligned_alloc(align, size);
	ha__on_alloc(HA_EV_ALIGNED_ALLOC | gate, p, align, size, NULL, 0);
	return p;
}

HA_EXPORT void *memalign(size_t align, size_t size)
{
	int gate;
	void *p;

	if (ha_unlikely(!ready()))
		return ha__boot_alloc(size, align);
	gate = ha__sample_gate(size, NULL);
	if (gate == HA_SAMPLE_PASS)
		return ha__real.memalign(align, size);
	p = ha__real.memalign(align, size);
	ha__on_alloc(HA_EV_MEMALIGN | gate, p, align, size, NULL, 0);
	return p;
}

HA_EXPORT void *valloc(size_t size)
{
	int gate;
	void *p;

	if (ha_unlikely(!ready()))
		return ha__boot_alloc(size, 4096);
	gate = ha__sample_gate(size, NULL);
	if (gate == HA_SAMPLE_PASS)
		return ha__real.valloc(size);
	p = ha__real.valloc(size);
	ha__on_alloc(HA_EV_VALLOC | gate, p, 0, size, NULL, 0);
	return p;
}

HA_EXPORT void *pvalloc(size_t size)
{
	int gate;
	void *p;

	if (ha_unlikely(!ready()))
		return ha__boot_alloc(size, 4096);
	gate = ha__sample_gate(size, NULL);
	if (gate == HA_SAMPLE_PASS)
		return ha__real.pvalloc(size);
	p = ha__real.pvalloc(size);
	ha__on_alloc(HA_EV_PVALLOC | gate, p, 0, size, NULL, 0);
	return p;
}

HA_EXPORT size_t malloc_usable_size(void *p)
{
	if (ha_unlikely(ha__boot_owns(p)))
		return ha__boot_size(p);
	if (ha_unlikely(!ready()))
		return 0;
	return ha__real.malloc_usable_size(p);
}

HA_EXPORT int dlclose(void *handle)
{
	if (ha_unlikely(!ready()))
		return -1;
	ha__sync_modules();
	return ha__real.dlclose(handle);
}

HA_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	if (ha_unlikely(!ready())) {
		errno = ENOSYS;
		return -1;
	}
	ha__flush_before(HA_END_EXEC);
	return ha__real.execve(path, argv, envp);
}

HA_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, __environ);
}

HA_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (ha_unlikely(!ready())) {
		errno = ENOSYS;
		return -1;
	}
	ha__flush_before(HA_END_EXEC);
	return ha__real.execvpe(file, argv, envp);
}

HA_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, __environ);
}

/* The execl family: gathers the variable arguments into an argv on the stack. */
#define GATHER_ARGV(first, argv, ap) \
	do { \
		size_t n_ = 1; \
		va_list cp_; \
		va_copy(cp_, ap); \
		while (va_arg(cp_, char *)) \
			n_++; \
		va_end(cp_); \
		argv = __builtin_alloca((n_ + 1) * sizeof(char *)); \
		argv[0] = (char *)(first); \
		for (size_t i_ = 1; i_ <= n_; i_++) \
			argv[i_] = va_arg(ap, char *); \
	} while (0)

HA_EXPORT int execl(const char *path, const char *arg, ...)
{
	char **argv;
	va_list ap;

	va_start(ap, arg);
	GATHER_ARGV(arg, argv, ap);
	va_end(ap);
	return execve(path, argv, __environ);
}

HA_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char **argv;
	va_list ap;

	va_start(ap, arg);
	GATHER_ARGV(arg, argv, ap);
	va_end(ap);
	return execvpe(file, argv, __environ);
}

HA_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv, **envp;
	va_list ap;

	va_start(ap, arg);
	GATHER_ARGV(arg, argv, ap);
	envp = va_arg(ap, char **);
	va_end(ap);
	return execve(path, argv, envp);
}

HA_EXPORT void _exit(int status)
{
	if (ready()) {
		ha__flush_before(HA_END_UNEXIT);
		ha__real.exit_(status);
	}
	for (;;)
		syscall(SYS_exit_group, status);
}

HA_EXPORT void _Exit(int status)
{
	_exit(status);
}

/* abort and failed asserts: what was recorded is written before the signal.
 * No END record: the trace says, truly, that the program was killed. */
HA_EXPORT void abort(void)
{
	static void (*real_abort)(void);

	if (ready()) {
		ha__flush_before(HA_END_NONE);
		if (!real_abort)
			*(void **)&real_abort = dlsym(RTLD_NEXT, "abort");
	}
	if (real_abort)
		real_abort();
	for (;;)
		__builtin_trap();
}

HA_EXPORT void __assert_fail(const char *expr, const char *file, unsigned line, const char *func)
{
	static void (*real)(const char *, const char *, unsigned, const char *);

	if (ready()) {
		ha__flush_before(HA_END_NONE);
		if (!real)
			*(void **)&real = dlsym(RTLD_NEXT, "__assert_fail");
	}
	if (real)
		real(expr, file, line, func);
	abort();
}

/* The public API of include/hotalloc.h. */
HA_EXPORT void hotalloc_mark(const char *name)
{
	if (name && ready())
		ha__on_mark(name);
}

HA_EXPORT void hotalloc_pause(void)
{
	atomic_fetch_add(&ha__paused, 1);
}

HA_EXPORT void hotalloc_resume(void)
{
	int v = atomic_load(&ha__paused);

	while (v > 0 && !atomic_compare_exchange_weak(&ha__paused, &v, v - 1))
		;
}
