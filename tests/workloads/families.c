/* SPDX-License-Identifier: MIT */
/* families: every interposed allocation function, in success and in failure, with
 * checks that return values and errno are exactly glibc's.
 *
 * Usage: families [rounds=3]
 *
 * Exits 0 when every check passes, 1 (with a message on stderr) when one fails, so it
 * also serves as a "the traced program must not notice" test.  It makes no allocation
 * besides the ones below (no stdio).  Each round does, in this order (sizes in bytes):
 *   malloc(SIZE_MAX) fails with ENOMEM; malloc(100)+free; malloc(0)+free; free(NULL)
 *   realloc(NULL,16), then realloc to 32, 64, ..., 2048 (7 calls), realloc to 8, then
 *     realloc(p,0), which frees p and returns NULL
 *   realloc(NULL,0)+free; malloc(50), realloc(that,SIZE_MAX) fails with ENOMEM, free
 *   calloc(10,20)+free; calloc(SIZE_MAX/2,4) fails with ENOMEM
 *   reallocarray(NULL,10,30), reallocarray(p,20,30), reallocarray(p,SIZE_MAX/2,4) fails
 *     with ENOMEM, free
 *   posix_memalign(64,1000)+free; posix_memalign(3,16) returns EINVAL;
 *     posix_memalign(64,SIZE_MAX) returns ENOMEM
 *   aligned_alloc(256,512)+free; aligned_alloc(64,SIZE_MAX) fails with ENOMEM
 *   memalign(128,300)+free; memalign(64,SIZE_MAX) fails with ENOMEM
 *   valloc(10000)+free; valloc(SIZE_MAX) fails with ENOMEM
 *   pvalloc(100)+free; pvalloc(SIZE_MAX) fails with ENOMEM
 * Per round: calls malloc 4, calloc 2, realloc 12, reallocarray 3, free 12 (one of them
 * free(NULL)), posix_memalign 3, aligned_alloc 2, memalign 2, valloc 2, pvalloc 2;
 * allocations 21, frees 21, bytes_allocated 17250.  With R rounds every count is R times
 * that; peak_bytes = 10000 (the valloc block, alone) when R > 0, else 0; nothing leaks. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workload.h"

#define CHECK(cond) WL_CHECK("families", cond)
#define ERRNO_SENTINEL 1234

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i))
			return 0;
	return 1;
}

static int aligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

/* Frees p and checks that free kept errno, as glibc >= 2.33 does. */
static void checked_free(void *p)
{
	errno = ERRNO_SENTINEL;
	free(wl_sink(p));
	CHECK(errno == ERRNO_SENTINEL);
}

static void malloc_family(void)
{
	unsigned char *p;

	errno = 0;
	CHECK(malloc(wl_opaque(SIZE_MAX)) == NULL);
	CHECK(errno == ENOMEM);

	errno = ERRNO_SENTINEL;
	p = wl_sink(malloc(wl_opaque(100)));
	CHECK(p != NULL);
	CHECK(errno == ERRNO_SENTINEL);
	fill(p, 100, 1);
	CHECK(same(p, 100, 1));
	checked_free(p);

	/* glibc returns a unique pointer for malloc(0). */
	errno = ERRNO_SENTINEL;
	p = wl_sink(malloc(wl_opaque(0)));
	CHECK(p != NULL);
	CHECK(errno == ERRNO_SENTINEL);
	checked_free(p);

	checked_free(NULL);
}

static void realloc_family(void)
{
	unsigned char *p, *q;
	size_t size = 16;

	errno = ERRNO_SENTINEL;
	p = wl_sink(realloc(wl_sink(NULL), wl_opaque(size)));
	CHECK(p != NULL);
	fill(p, size, 7);
	/* A growth chain: each step must keep the old contents. */
	while (size < 2048) {
		size *= 2;
		p = wl_sink(realloc(p, wl_opaque(size)));
		CHECK(p != NULL);
		CHECK(same(p, size / 2, 7));
		fill(p, size, 7);
	}
	p = wl_sink(realloc(p, wl_opaque(8)));
	CHECK(p != NULL);
	CHECK(same(p, 8, 7));
	CHECK(errno == ERRNO_SENTINEL);
	/* glibc: realloc(p, 0) frees p and returns NULL, leaving errno alone. */
	CHECK(realloc(p, wl_opaque(0)) == NULL);
	CHECK(errno == ERRNO_SENTINEL);

	/* realloc(NULL, 0) is malloc(0).  The NULL goes through wl_sink because GCC
	 * would otherwise turn realloc(NULL, n) into malloc(n). */
	p = wl_sink(realloc(wl_sink(NULL), wl_opaque(0)));
	CHECK(p != NULL);
	checked_free(p);

	/* A failed realloc leaves the block alone. */
	p = wl_sink(malloc(wl_opaque(50)));
	CHECK(p != NULL);
	fill(p, 50, 3);
	/* The block goes through wl_sink: GCC's -Wuse-after-free does not know that a
	 * failed realloc leaves it alone. */
	errno = 0;
	q = realloc(wl_sink(p), wl_opaque(SIZE_MAX));
	CHECK(q == NULL);
	CHECK(errno == ENOMEM);
	CHECK(same(p, 50, 3));
	checked_free(p);
}

static void calloc_family(void)
{
	unsigned char *p;

	errno = ERRNO_SENTINEL;
	p = wl_sink(calloc(wl_opaque(10), wl_opaque(20)));
	CHECK(p != NULL);
	CHECK(errno == ERRNO_SENTINEL);
	for (size_t i = 0; i < 200; i++)
		CHECK(p[i] == 0);
	checked_free(p);

	errno = 0;
	CHECK(calloc(wl_opaque(SIZE_MAX / 2), wl_opaque(4)) == NULL);
	CHECK(errno == ENOMEM);

	errno = ERRNO_SENTINEL;
	p = wl_sink(reallocarray(wl_sink(NULL), wl_opaque(10), wl_opaque(30)));
	CHECK(p != NULL);
	fill(p, 300, 5);
	p = wl_sink(reallocarray(p, wl_opaque(20), wl_opaque(30)));
	CHECK(p != NULL);
	CHECK(same(p, 300, 5));
	CHECK(errno == ERRNO_SENTINEL);
	errno = 0;
	CHECK(reallocarray(wl_sink(p), wl_opaque(SIZE_MAX / 2), wl_opaque(4)) == NULL);
	CHECK(errno == ENOMEM);
	CHECK(same(p, 300, 5));
	checked_free(p);
}

static void aligned_family(void)
{
	void *p, *sentinel = (void *)&p;
	long page = sysconf(_SC_PAGESIZE);
	int rc;

	errno = ERRNO_SENTINEL;
	p = NULL;
	rc = posix_memalign(&p, wl_opaque(64), wl_opaque(1000));
	CHECK(rc == 0);
	CHECK(p != NULL && aligned(p, 64));
	CHECK(errno == ERRNO_SENTINEL);
	checked_free(p);

	/* posix_memalign reports errors by return value and must leave errno alone
	 * and *memptr untouched. */
	errno = ERRNO_SENTINEL;
	p = sentinel;
	rc = posix_memalign(&p, wl_opaque(3), wl_opaque(16));
	CHECK(rc == EINVAL);
	CHECK(p == sentinel);
	CHECK(errno == ERRNO_SENTINEL);

	/* glibc 2.36 sets errno to ENOMEM here too (from its internal memalign). */
	errno = ERRNO_SENTINEL;
	p = sentinel;
	rc = posix_memalign(&p, wl_opaque(64), wl_opaque(SIZE_MAX));
	CHECK(rc == ENOMEM);
	CHECK(p == sentinel);
	CHECK(errno == ENOMEM);

	errno = ERRNO_SENTINEL;
	p = wl_sink(aligned_alloc(wl_opaque(256), wl_opaque(512)));
	CHECK(p != NULL && aligned(p, 256));
	CHECK(errno == ERRNO_SENTINEL);
	checked_free(p);
	errno = 0;
	CHECK(aligned_alloc(wl_opaque(64), wl_opaque(SIZE_MAX)) == NULL);
	CHECK(errno == ENOMEM);

	errno = ERRNO_SENTINEL;
	p = wl_sink(memalign(wl_opaque(128), wl_opaque(300)));
	CHECK(p != NULL && aligned(p, 128));
	CHECK(errno == ERRNO_SENTINEL);
	checked_free(p);
	errno = 0;
	CHECK(memalign(wl_opaque(64), wl_opaque(SIZE_MAX)) == NULL);
	CHECK(errno == ENOMEM);

	errno = ERRNO_SENTINEL;
	p = wl_sink(valloc(wl_opaque(10000)));
	CHECK(p != NULL && aligned(p, (size_t)page));
	CHECK(errno == ERRNO_SENTINEL);
	memset(p, 0xab, 10000);
	checked_free(p);
	errno = 0;
	CHECK(valloc(wl_opaque(SIZE_MAX)) == NULL);
	CHECK(errno == ENOMEM);

	errno = ERRNO_SENTINEL;
	p = wl_sink(pvalloc(wl_opaque(100)));
	CHECK(p != NULL && aligned(p, (size_t)page));
	CHECK(errno == ERRNO_SENTINEL);
	/* pvalloc rounds the block up to a whole page. */
	memset(p, 0xcd, (size_t)page);
	checked_free(p);
	errno = 0;
	CHECK(pvalloc(wl_opaque(SIZE_MAX)) == NULL);
	CHECK(errno == ENOMEM);
}

int main(int argc, char **argv)
{
	uint64_t rounds = wl_arg(argc, argv, 1, 3);

	for (uint64_t r = 0; r < rounds; r++) {
		malloc_family();
		realloc_family();
		calloc_family();
		aligned_family();
	}
	return 0;
}
