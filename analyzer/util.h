/* SPDX-License-Identifier: MIT */
/* Small helpers of the analyzer: messages in the house format, allocation
 * that never returns NULL, and byte formatting. */
#ifndef HOTALLOC_UTIL_H
#define HOTALLOC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of every hotalloc command. */
#define HA_EXIT_OK 0
#define HA_EXIT_FAIL 1		/* check: a limit broke */
#define HA_EXIT_USAGE 2		/* bad option, missing or corrupt input */

/* "hotalloc: error: ..." on stderr. */
void ha_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ha_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the error and exits with HA_EXIT_USAGE. */
void ha_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Abort with a message on out-of-memory; never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xaligned(size_t align, size_t n);	/* align: a power of two, a multiple of sizeof(void *) */
/* n bytes or more (n rounded up to a whole number of HA_HUGE_PAGE), on
 * transparent huge pages when the kernel gives them (its madvise mode);
 * free() frees it. */
void *xhuge(size_t n);
/* n bytes: xhuge's from HA_HUGE_PAGE up, plain xmalloc's below. */
void *xlarge(size_t n);
#define HA_HUGE_PAGE ((size_t)2 << 20)

/* Whether the analyzer may add threads (read-ahead, applying): a second core
 * and HOTALLOC_ANALYZER_THREADS not 1. */
bool ha_threads_allowed(void);
char *xstrdup(const char *s);

/* The value of option name at argv[*i], written "--name VALUE" (advances *i)
 * or "--name=VALUE"; NULL when argv[*i] is another option.  A missing value
 * is a usage error (exit 2). */
const char *ha_opt_value(int argc, char **argv, int *i, const char *name);

#endif
