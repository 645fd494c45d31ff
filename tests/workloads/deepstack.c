/* SPDX-License-Identifier: MIT */
/* deepstack: four allocation sites reached through the same 14-deep chain of distinct
 * noinline functions, for tests/analyzer.sh: every frame symbolized, in order, with
 * its file and line, and an exact count per site.
 *
 * Usage: deepstack   (no arguments; one thread, no stdio, so nothing else allocates)
 *
 * main calls chain_01 once per site; chain_01 calls chain_02 ... chain_14, which calls
 * site_a, site_b, site_c or site_d.  Site k (k = 1..4) makes 1000*k malloc/free pairs
 * of 32 << (k-1) bytes.  A stack, innermost first, is
 *   site_X, chain_14, chain_13, ..., chain_01, main, then libc's start-up frames
 * and each call line carries an "@NAME" marker comment (the caller's line of the
 * function NAME; the allocating lines are @alloc_a ... @alloc_d).  So:
 *   calls.malloc = calls.free = allocations = frees = 10000
 *   site_a 1000 x 32 B, site_b 2000 x 64 B, site_c 3000 x 128 B, site_d 4000 x 256 B
 *   bytes_allocated = 32000 + 128000 + 384000 + 1024000 = 1568000
 *   peak_bytes = 256;  leaked_bytes = leaked_blocks = 0
 * Every chain function does work after its call (the "+ 1"), so no call becomes a
 * tail call and no frame disappears. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "workload.h"

#define PROG "deepstack"
#define NOINLINE __attribute__((noinline, noclone))

NOINLINE static long site_a(long n)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		char *p = wl_sink(malloc(32)); /* @alloc_a */

		WL_CHECK(PROG, p);
		p[0] = (char)i;
		sum += p[0] != 0;
		free(wl_sink(p));
	}
	return sum;
}

NOINLINE static long site_b(long n)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		char *p = wl_sink(malloc(64)); /* @alloc_b */

		WL_CHECK(PROG, p);
		p[0] = (char)i;
		sum += p[0] != 0;
		free(wl_sink(p));
	}
	return sum;
}

NOINLINE static long site_c(long n)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		char *p = wl_sink(malloc(128)); /* @alloc_c */

		WL_CHECK(PROG, p);
		p[0] = (char)i;
		sum += p[0] != 0;
		free(wl_sink(p));
	}
	return sum;
}

NOINLINE static long site_d(long n)
{
	long sum = 0;

	for (long i = 0; i < n; i++) {
		char *p = wl_sink(malloc(256)); /* @alloc_d */

		WL_CHECK(PROG, p);
		p[0] = (char)i;
		sum += p[0] != 0;
		free(wl_sink(p));
	}
	return sum;
}

NOINLINE static long chain_14(int site, long n)
{
	switch (site) {
	case 0:
		return site_a(n) + 1; /* @site_a */
	case 1:
		return site_b(n) + 1; /* @site_b */
	case 2:
		return site_c(n) + 1; /* @site_c */
	default:
		return site_d(n) + 1; /* @site_d */
	}
}

NOINLINE static long chain_13(int site, long n)
{
	return chain_14(site, n) + 1; /* @chain_14 */
}

NOINLINE static long chain_12(int site, long n)
{
	return chain_13(site, n) + 1; /* @chain_13 */
}

NOINLINE static long chain_11(int site, long n)
{
	return chain_12(site, n) + 1; /* @chain_12 */
}

NOINLINE static long chain_10(int site, long n)
{
	return chain_11(site, n) + 1; /* @chain_11 */
}

NOINLINE static long chain_09(int site, long n)
{
	return chain_10(site, n) + 1; /* @chain_10 */
}

NOINLINE static long chain_08(int site, long n)
{
	return chain_09(site, n) + 1; /* @chain_09 */
}

NOINLINE static long chain_07(int site, long n)
{
	return chain_08(site, n) + 1; /* @chain_08 */
}

NOINLINE static long chain_06(int site, long n)
{
	return chain_07(site, n) + 1; /* @chain_07 */
}

NOINLINE static long chain_05(int site, long n)
{
	return chain_06(site, n) + 1; /* @chain_06 */
}

NOINLINE static long chain_04(int site, long n)
{
	return chain_05(site, n) + 1; /* @chain_05 */
}

NOINLINE static long chain_03(int site, long n)
{
	return chain_04(site, n) + 1; /* @chain_04 */
}

NOINLINE static long chain_02(int site, long n)
{
	return chain_03(site, n) + 1; /* @chain_03 */
}

NOINLINE static long chain_01(int site, long n)
{
	return chain_02(site, n) + 1; /* @chain_02 */
}

int main(void)
{
	long sum = 0;

	for (int site = 0; site < (int)wl_opaque(4); site++)
		sum += chain_01(site, 1000 * (site + 1)); /* @chain_01 */
	/* Each chain adds 14; the sites add their nonzero first bytes. */
	WL_CHECK(PROG, sum > 4 * 14);
	return 0;
}
