/* SPDX-License-Identifier: MIT */
/* HOTALLOC_* options, read from the environment once at start without
 * allocating (the environment may be read before libc is fully up). */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>
#include "internal.h"

extern char **__environ;
struct ha_options ha__opt;

const char *ha__getenv(const char *name)
{
	size_t len = strlen(name);

	if (!__environ)
		return NULL;
	for (char **e = __environ; *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

static unsigned env_uint(const char *name, unsigned def, unsigned lo, unsigned hi)
{
	const char *s = ha__getenv(name);
	unsigned long v = 0;

	if (!s || !*s)
		return def;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > 1000000000ul) {
			ha__log("warning", "ignoring %s='%s': not a number", name, s);
			return def;
		}
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < lo || v > hi) {
		ha__log("warning", "ignoring %s=%s: not within %u..%u", name, s, lo, hi);
		return def;
	}
	return (unsigned)v;
}

void ha__env_load(void)
{
	const char *out = ha__getenv("HOTALLOC_OUT"), *clock;
	size_t n = 0;

	ha__opt.depth = env_uint("HOTALLOC_DEPTH", 64, 0, HA_MAX_DEPTH - 1);
	ha__opt.follow = env_uint("HOTALLOC_FOLLOW", 1, 0, 1);
	ha__opt.ring_kib = env_uint("HOTALLOC_RING_KIB", 1024, 64, 1u << 20);
	ha__opt.zstd_level = (int)env_uint("HOTALLOC_ZSTD_LEVEL", 1, 0, 19);
	ha__opt.flush_ms = 100;
	ha__opt.stack_cache = env_uint("HOTALLOC_STACK_CACHE", 1, 0, 1);
	ha__opt.sample = env_uint("HOTALLOC_SAMPLE", 0, 0, 1u << 30);
	ha__opt.clock_tsc = true;
	clock = ha__getenv("HOTALLOC_CLOCK");
	if (clock && !strcmp(clock, "monotonic"))
		ha__opt.clock_tsc = false;
	else if (clock && *clock && strcmp(clock, "auto"))
		ha__log("warning", "ignoring HOTALLOC_CLOCK='%s': not auto or monotonic", clock);
	if (!out || !*out)
		out = "hotalloc.%e.%p.trace";
	/* A relative pattern is made absolute now, so a program that changes
	 * directory later still writes where it was started. */
	if (out[0] != '/') {
		if (!getcwd(ha__opt.out, sizeof(ha__opt.out) - 2))
			ha__opt.out[0] = 0;
		n = strlen(ha__opt.out);
		if (n && ha__opt.out[n - 1] != '/')
			ha__opt.out[n++] = '/';
	}
	if (n + strlen(out) >= sizeof(ha__opt.out)) {
		ha__log("warning", "HOTALLOC_OUT is too long; using 'hotalloc.%%e.%%p.trace'");
		out = "hotalloc.%e.%p.trace";
	}
	strncpy(ha__opt.out + n, out, sizeof(ha__opt.out) - n - 1);
}

/* Edits the LD_PRELOAD string in place (environment strings are writable),
 * dropping every entry that names libhotalloc. */
void ha__env_unfollow(void)
{
	char *s = (char *)ha__getenv("LD_PRELOAD");
	char *w, *r;

	if (!s)
		return;
	w = r = s;
	while (*r) {
		char *start = r;
		size_t len;

		while (*r && *r != ':' && *r != ' ')
			r++;
		len = (size_t)(r - start);
		if (len && !memmem(start, len, "libhotalloc", 11)) {
			if (w != s)
				*w++ = ':';
			memmove(w, start, len);
			w += len;
		}
		while (*r == ':' || *r == ' ')
			r++;
	}
	*w = 0;
}
