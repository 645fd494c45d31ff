/* SPDX-License-Identifier: MIT */
/* Helpers shared by the workload programs: argument parsing, an optimisation barrier
 * that keeps malloc/free pairs from being elided, and messages that never allocate. */
#ifndef HOTALLOC_TESTS_WORKLOAD_H
#define HOTALLOC_TESTS_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes the compiler believe p escapes, so that an allocation and its free are both
 * emitted (GCC removes unused malloc/free pairs even at -O1). */
static inline void *wl_sink(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

/* Hides a constant from the optimiser (and from -Walloc-size-larger-than). */
static inline size_t wl_opaque(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

/* Writes s to fd with write(2); no stdio, so no buffer is allocated. */
static inline void wl_puts(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = write(fd, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* Formats v in decimal into buf (at least 21 bytes); returns buf. */
static inline char *wl_utoa(uint64_t v, char *buf)
{
	char tmp[21];
	size_t n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = '\0';
	return buf;
}

/* Prints "PROG: error: WHAT (line LINE)" on stderr and exits 1. */
static inline void wl_fail(const char *prog, const char *what, unsigned line)
{
	char num[21];

	wl_puts(2, prog);
	wl_puts(2, ": error: ");
	wl_puts(2, what);
	wl_puts(2, " (line ");
	wl_puts(2, wl_utoa(line, num));
	wl_puts(2, ")\n");
	_exit(1);
}

#define WL_CHECK(prog, cond) \
	do { \
		if (!(cond)) \
			wl_fail((prog), "check failed: " #cond, __LINE__); \
	} while (0)

/* Returns argv[i] as an unsigned number, or def when absent; exits 2 when malformed.
 * strtoull does not allocate. */
static inline uint64_t wl_arg(int argc, char **argv, int i, uint64_t def)
{
	char *end;
	unsigned long long v;

	if (i >= argc)
		return def;
	v = strtoull(argv[i], &end, 10);
	if (!*argv[i] || *end) {
		wl_puts(2, "workload: error: argument '");
		wl_puts(2, argv[i]);
		wl_puts(2, "' is not a number\n");
		_exit(2);
	}
	return v;
}

#endif
