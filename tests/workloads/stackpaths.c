/* SPDX-License-Identifier: MIT */
/* stackpaths: call paths built to fool a stack cache that trusts return-address slots,
 * for tests/stackcache.sh.  Not a benchmark.
 *
 * Usage: stackpaths SCENARIO
 *   samedepth  one leaf at one depth through 10 paths: four intermediate functions of
 *              one frame size called through a function pointer from one call site,
 *              under two callers of one frame size
 *   alloca     alloca() and VLA frames whose size is chosen at run time so that the
 *              frames below them sit at the same address on every path (callers of
 *              different frame sizes; recursion 1 to 5 deep; the function that calls
 *              malloc itself); the alloca'd memory is never written, so it keeps the
 *              return addresses of the other paths
 *   recursion  2048 distinct paths through two self- and mutually recursive
 *              functions, 34 to 82 frames deep (past HOTALLOC_DEPTH's 64, where the
 *              stack is cut): some 100000 frames, several times what a thread's
 *              cache holds (16384 nodes), so it is emptied and refilled
 *   longjmp    dives 5 frames deep that allocate in every frame and longjmp out of
 *              the deepest, each followed by a dive on another path that returns
 *   signal     handlers that allocate, raised from three paths of one depth and two
 *              of other depths, on a sigaltstack (SIGUSR1, SA_ONSTACK) and on the
 *              thread's stack (SIGUSR2)
 *   align      frames GCC realigns (a 64-byte-aligned local; the same with stack
 *              arguments, so through a DRAP register; force_align_arg_pointer),
 *              entered at four stack alignments that put the frames below the two
 *              64-byte-aligned ones at one address
 *   fork       samedepth, fork, and samedepth again in the child from the same call
 *              site (the parent's cache knows those stacks), then alloca in both
 *   threads    3 threads running samedepth, alloca, recursion, longjmp, signal and
 *              align at the same time
 *   mixed      every single-threaded scenario but fork, one after the other
 *
 * Every allocation is a malloc (calloc in leaf_calloc) of a size that no other site of
 * the run uses, freed at once.  The program prints nothing until the end, then writes
 * with write(2) (no stdio: nothing else allocates) one line per allocation site it
 * made, "expect ROLE SIZE COUNT CHAIN": ROLE is "main", or "child" for the fork child;
 * COUNT the number of allocations of SIZE bytes that site made; CHAIN this file's
 * functions on its stack, innermost first, comma-separated, "name*N" for N frames in a
 * row of one function.  Those numbers follow from the design (the loops and the path
 * bits), not from counting at run time.  Exit status 0; 1 with a message when a
 * set-up step fails or a path does not put its frames where the design says; 2 for an
 * unknown scenario. */
#define _GNU_SOURCE
#include <alloca.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "workload.h"

#define PROG "stackpaths"
#define NOIPA __attribute__((noipa))

#define THREADS 3
#define ALLOCA_STEP 512		/* bytes between the levels of rec_alloca, rec_vla */
#define ALLOCA_BELOW 16384	/* how far below run_alloca's frame the frames land */
#define REC_BITS 11		/* recursion: 2048 bit patterns */
#define LJ_LEVELS 5		/* longjmp: 32 bit patterns */
#define ALTSTACK_SIZE 65536

/* Allocation sizes: each scenario has its own range. */
#define SZ_SAMEDEPTH 20000
#define SZ_ALLOCA 21000
#define SZ_LONGJMP 22000	/* and 22256 for the dives that return */
#define SZ_SIGNAL 23000
#define SZ_ALIGN 24000
#define SZ_RECURSION 30000	/* to 32047 */

static volatile long g_sink;

/* ---- the expectations ("expect" lines), written by one thread (t_reg) ---- */

static char g_out[4u << 20];
static size_t g_out_len;
static char g_chain[4096];
static size_t g_chain_len;
static char g_last[64];		/* the chain's last name, and how many in a row */
static unsigned g_last_n;
static unsigned g_mult = 1;	/* threads that run each path */
static const char *g_role = "main";
static __thread int t_reg = 1;	/* this thread writes the expectations */
static __thread const char *t_root = "main";	/* the chain from the scenario's caller out */

static void out_str(char *buf, size_t *len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n >= cap)
		wl_fail(PROG, "expectation buffer full", __LINE__);
	memcpy(buf + *len, s, n);
	*len += n;
}

static void out_num(char *buf, size_t *len, size_t cap, uint64_t v)
{
	char num[21];

	out_str(buf, len, cap, wl_utoa(v, num));
}

static void chain_flush(void)
{
	if (!g_last_n)
		return;
	if (g_chain_len)
		out_str(g_chain, &g_chain_len, sizeof(g_chain), ",");
	out_str(g_chain, &g_chain_len, sizeof(g_chain), g_last);
	if (g_last_n > 1) {
		out_str(g_chain, &g_chain_len, sizeof(g_chain), "*");
		out_num(g_chain, &g_chain_len, sizeof(g_chain), g_last_n);
	}
	g_last_n = 0;
}

static void chain_start(void)
{
	if (!t_reg)
		return;
	g_chain_len = 0;
	g_last_n = 0;
}

/* Appends n frames of function name (a comma-separated list when n is 1). */
static void chain_add(const char *name, unsigned n)
{
	if (!t_reg)
		return;
	if (g_last_n && !strcmp(name, g_last)) {
		g_last_n += n;
		return;
	}
	chain_flush();
	if (strlen(name) >= sizeof(g_last))
		wl_fail(PROG, "function list too long", __LINE__);
	strcpy(g_last, name);
	g_last_n = n;
}

/* Appends the scenario function and the thread's root chain. */
static void chain_root(const char *scenario)
{
	chain_add(scenario, 1);
	chain_add(t_root, 1);
}

/* One site: `count` allocations of `size` bytes per thread, with the chain built. */
static void expect(size_t size, uint64_t count)
{
	const size_t cap = sizeof(g_out);

	if (!t_reg)
		return;
	chain_flush();
	g_chain[g_chain_len] = '\0';
	out_str(g_out, &g_out_len, cap, "expect ");
	out_str(g_out, &g_out_len, cap, g_role);
	out_str(g_out, &g_out_len, cap, " ");
	out_num(g_out, &g_out_len, cap, size);
	out_str(g_out, &g_out_len, cap, " ");
	out_num(g_out, &g_out_len, cap, count * g_mult);
	out_str(g_out, &g_out_len, cap, " ");
	out_str(g_out, &g_out_len, cap, g_chain);
	out_str(g_out, &g_out_len, cap, "\n");
}

static void write_expectations(void)
{
	const char *p = g_out;
	size_t len = g_out_len;

	while (len) {
		ssize_t n = write(1, p, len);

		if (n <= 0)
			wl_fail(PROG, "cannot write the expectations", __LINE__);
		p += n;
		len -= (size_t)n;
	}
}

/* ---- leaves ---- */

NOIPA static void leaf_alloc(size_t size)
{
	char *p = wl_sink(malloc(size));

	WL_CHECK(PROG, p);
	p[0] = 1;
	free(wl_sink(p));
}

NOIPA static void leaf_calloc(size_t size)
{
	char *p = wl_sink(calloc(1, size));

	WL_CHECK(PROG, p);
	free(wl_sink(p));
}

/* ---- samedepth ---- */

/* Four functions of one frame size, differing only in a constant. */
NOIPA static void mid_a(size_t size)
{
	volatile char pad[64];

	pad[0] = 'a';
	leaf_alloc(size);
	g_sink += pad[0];
}

NOIPA static void mid_b(size_t size)
{
	volatile char pad[64];

	pad[0] = 'b';
	leaf_alloc(size);
	g_sink += pad[0];
}

NOIPA static void mid_c(size_t size)
{
	volatile char pad[64];

	pad[0] = 'c';
	leaf_alloc(size);
	g_sink += pad[0];
}

NOIPA static void mid_d(size_t size)
{
	volatile char pad[64];

	pad[0] = 'd';
	leaf_alloc(size);
	g_sink += pad[0];
}

typedef void sized_fn(size_t size);
static sized_fn *const mid_table[] = { mid_a, mid_b, mid_c, mid_d, leaf_calloc };
static const char *const mid_names[] = { "mid_a", "mid_b", "mid_c", "mid_d", "leaf_calloc" };
#define MIDS 5

/* One call site for all five. */
NOIPA static void dispatch(unsigned which, size_t size)
{
	volatile unsigned w = which;

	mid_table[w](size);
	g_sink += w;
}

NOIPA static void top_1(unsigned which, size_t size)
{
	volatile char pad[32];

	pad[0] = 1;
	dispatch(which, size);
	g_sink += pad[0];
}

NOIPA static void top_2(unsigned which, size_t size)
{
	volatile char pad[32];

	pad[0] = 2;
	dispatch(which, size);
	g_sink += pad[0];
}

/* Path p = 5 * top + mid (0..9) allocates (p + 1) * reps times, SZ_SAMEDEPTH + p
 * bytes; the paths take turns, in one order then the other. */
NOIPA static void run_samedepth(unsigned reps)
{
	const unsigned paths = 2 * MIDS;

	for (unsigned p = 0; p < paths; p++) {
		chain_start();
		if (p % MIDS < 4)
			chain_add("leaf_alloc", 1);
		chain_add(mid_names[p % MIDS], 1);
		chain_add("dispatch", 1);
		chain_add(p < MIDS ? "top_1" : "top_2", 1);
		chain_root("run_samedepth");
		expect(SZ_SAMEDEPTH + p, (uint64_t)(p + 1) * reps);
	}
	for (unsigned r = 0; r < paths * reps; r++) {
		for (unsigned i = 0; i < paths; i++) {
			unsigned p = r % 2 ? paths - 1 - i : i;

			if (r >= (p + 1) * reps)
				continue;
			if (p < MIDS)
				top_1(p % MIDS, SZ_SAMEDEPTH + p);
			else
				top_2(p % MIDS, SZ_SAMEDEPTH + p);
		}
	}
	g_sink++;
}

/* ---- alloca ---- */

static __thread uintptr_t t_inner_at;	/* where inner_fixed's frame was */

NOIPA static void inner_fixed(size_t size)
{
	volatile char pad[48];

	pad[0] = 1;
	t_inner_at = (uintptr_t)pad;
	leaf_alloc(size);
	g_sink += pad[0];
}

/* Grows its frame down to target, so that inner_fixed's frame is at one address
 * whatever the caller.  The alloca'd block is never written. */
NOIPA static void var_alloca(uintptr_t target, size_t size)
{
	volatile char here = 0;
	char *buf;

	WL_CHECK(PROG, (uintptr_t)&here > target + 256);
	buf = alloca((uintptr_t)&here - target);
	wl_sink(buf);
	inner_fixed(size);
	g_sink += here;
}

NOIPA static void var_vla(uintptr_t target, size_t size)
{
	volatile char here = 0;

	WL_CHECK(PROG, (uintptr_t)&here > target + 256);
	char buf[(uintptr_t)&here - target];

	wl_sink(buf);
	inner_fixed(size);
	g_sink += here;
}

/* The function that calls malloc has a frame of variable size itself: its call is
 * at one address whatever the caller, only its saved frame pointer tells them apart. */
NOIPA static void vla_leaf(uintptr_t target, size_t size)
{
	volatile char here = 0;
	char *p;

	WL_CHECK(PROG, (uintptr_t)&here > target + 256);
	char buf[(uintptr_t)&here - target];

	wl_sink(buf);
	t_inner_at = (uintptr_t)buf;
	p = wl_sink(malloc(size));
	WL_CHECK(PROG, p);
	p[0] = 1;
	free(wl_sink(p));
	g_sink += here;
}

/* Three callers of different frame sizes; kind 0: var_alloca, 1: var_vla, 2: vla_leaf. */
NOIPA static void outer_s0(uintptr_t target, unsigned kind, size_t size)
{
	volatile char pad[16];

	pad[0] = 0;
	if (kind == 0)
		var_alloca(target, size);
	else if (kind == 1)
		var_vla(target, size);
	else
		vla_leaf(target, size);
	g_sink += pad[0];
}

NOIPA static void outer_s1(uintptr_t target, unsigned kind, size_t size)
{
	volatile char pad[208];

	pad[0] = 1;
	if (kind == 0)
		var_alloca(target, size);
	else if (kind == 1)
		var_vla(target, size);
	else
		vla_leaf(target, size);
	g_sink += pad[0];
}

NOIPA static void outer_s2(uintptr_t target, unsigned kind, size_t size)
{
	volatile char pad[608];

	pad[0] = 2;
	if (kind == 0)
		var_alloca(target, size);
	else if (kind == 1)
		var_vla(target, size);
	else
		vla_leaf(target, size);
	g_sink += pad[0];
}

/* Level j ends its frame at target + j * ALLOCA_STEP: the levels near the leaf are
 * at the same addresses in every recursion depth, only the outermost one moves. */
NOIPA static void rec_alloca(uintptr_t target, unsigned j, size_t size)
{
	volatile char here = 0;
	uintptr_t end = target + (uintptr_t)j * ALLOCA_STEP;
	char *buf;

	WL_CHECK(PROG, (uintptr_t)&here > end + 256);
	buf = alloca((uintptr_t)&here - end);
	wl_sink(buf);
	if (j)
		rec_alloca(target, j - 1, size);
	else
		inner_fixed(size);
	g_sink += here;
}

NOIPA static void rec_vla(uintptr_t target, unsigned j, size_t size)
{
	volatile char here = 0;
	uintptr_t end = target + (uintptr_t)j * ALLOCA_STEP;

	WL_CHECK(PROG, (uintptr_t)&here > end + 256);
	char buf[(uintptr_t)&here - end];

	wl_sink(buf);
	if (j)
		rec_vla(target, j - 1, size);
	else
		inner_fixed(size);
	g_sink += here;
}

/* Paths 0..8: outer_s(p/3) over var_alloca, var_vla or vla_leaf (p % 3); 9..13:
 * rec_alloca p-8 deep; 14..18: rec_vla p-13 deep.  Path p allocates (p + 1) * reps
 * times, SZ_ALLOCA + p bytes.  inner_fixed (vla_leaf's array) must be at one address
 * per family (p % 3 for p < 9, rec_alloca, rec_vla). */
NOIPA static void run_alloca(unsigned reps)
{
	static const char *const outers[] = { "outer_s0", "outer_s1", "outer_s2" };
	static const char *const kinds[] = { "var_alloca", "var_vla" };
	const unsigned paths = 19;
	volatile char anchor = 0;
	uintptr_t target = ((uintptr_t)&anchor - ALLOCA_BELOW) & ~(uintptr_t)63;
	uintptr_t family_at[5] = { 0, 0, 0, 0, 0 };

	for (unsigned p = 0; p < paths; p++) {
		chain_start();
		if (p < 9 && p % 3 == 2) {
			chain_add("vla_leaf", 1);
		} else {
			chain_add("leaf_alloc", 1);
			chain_add("inner_fixed", 1);
		}
		if (p < 9) {
			if (p % 3 < 2)
				chain_add(kinds[p % 3], 1);
			chain_add(outers[p / 3], 1);
		} else if (p < 14) {
			chain_add("rec_alloca", p - 8);
		} else {
			chain_add("rec_vla", p - 13);
		}
		chain_root("run_alloca");
		expect(SZ_ALLOCA + p, (uint64_t)(p + 1) * reps);
	}
	for (unsigned r = 0; r < paths * reps; r++) {
		for (unsigned i = 0; i < paths; i++) {
			unsigned p = r % 2 ? paths - 1 - i : i, family;
			size_t size = SZ_ALLOCA + p;

			if (r >= (p + 1) * reps)
				continue;
			if (p < 9) {
				family = p % 3;
				if (p / 3 == 0)
					outer_s0(target, p % 3, size);
				else if (p / 3 == 1)
					outer_s1(target, p % 3, size);
				else
					outer_s2(target, p % 3, size);
			} else if (p < 14) {
				family = 3;
				rec_alloca(target, p - 9, size);
			} else {
				family = 4;
				rec_vla(target, p - 14, size);
			}
			if (!family_at[family])
				family_at[family] = t_inner_at;
			WL_CHECK(PROG, t_inner_at == family_at[family]);
		}
	}
	g_sink += anchor;
}

/* ---- recursion ---- */

NOIPA static void step1(unsigned bits, unsigned level, size_t size, unsigned reps);

/* Bit `level` of bits is 0 here; the next bit picks the next function. */
NOIPA static void step0(unsigned bits, unsigned level, size_t size, unsigned reps)
{
	volatile unsigned keep = level;

	if (level + 1 == REC_BITS) {
		for (unsigned i = 0; i < reps; i++)
			leaf_alloc(size);
	} else if ((bits >> (level + 1)) & 1) {
		step1(bits, level + 1, size, reps);
	} else {
		step0(bits, level + 1, size, reps);
	}
	g_sink += keep;
}

NOIPA static void step1(unsigned bits, unsigned level, size_t size, unsigned reps)
{
	volatile unsigned keep = level + 1000;

	if (level + 1 == REC_BITS) {
		for (unsigned i = 0; i < reps; i++)
			leaf_alloc(size);
	} else if ((bits >> (level + 1)) & 1) {
		step1(bits, level + 1, size, reps);
	} else {
		step0(bits, level + 1, size, reps);
	}
	g_sink += keep;
}

/* left + 1 frames of deep, then the steps. */
NOIPA static void deep(unsigned left, unsigned bits, size_t size, unsigned reps)
{
	volatile unsigned keep = left;

	if (left)
		deep(left - 1, bits, size, reps);
	else if (bits & 1)
		step1(bits, 0, size, reps);
	else
		step0(bits, 0, size, reps);
	g_sink += keep;
}

/* Path k (0..2047): bits k under 17, 41 or 65 deep frames (k % 3).  Visited twice
 * from one call site, all paths in one order then the other, allocating 20 + k % 3
 * times in a row, then 20 + k % 2 times (a stack is cached when it is met a second
 * time, and a thread that misses more than 1 capture in 8 stops using its cache for a
 * while); SZ_RECURSION + k bytes. */
#define REC_PATHS (1u << REC_BITS)

static unsigned rec_prefix(unsigned k)
{
	return 16 + 24 * (k % 3);
}

NOIPA static void run_recursion(void)
{
	for (unsigned k = 0; k < REC_PATHS; k++) {
		chain_start();
		chain_add("leaf_alloc", 1);
		for (int level = REC_BITS - 1; level >= 0; level--)
			chain_add((k >> level) & 1 ? "step1" : "step0", 1);
		chain_add("deep", rec_prefix(k) + 1);
		chain_root("run_recursion");
		expect(SZ_RECURSION + k, 40 + k % 3 + k % 2);
	}
	/* No branch here: GCC would make two calls of deep, two stacks per path. */
	for (unsigned v = 0; v < 2 * REC_PATHS; v++) {
		unsigned second = v / REC_PATHS, k = (v % REC_PATHS) ^ (second * (REC_PATHS - 1));

		deep(rec_prefix(k), k, SZ_RECURSION + k, 20 + k % (3 - second));
	}
	g_sink++;
}

/* ---- longjmp ---- */

static __thread jmp_buf t_jb;

NOIPA static void plunge1(unsigned bits, unsigned level, size_t base, int jump);

/* Allocates (a size naming the level and the bits so far), then goes deeper; the
 * deepest frame allocates again and longjmps out when asked. */
NOIPA static void plunge0(unsigned bits, unsigned level, size_t base, int jump)
{
	volatile unsigned keep = level;

	leaf_alloc(base + level * 32 + (bits & ((2u << level) - 1)));
	if (level + 1 == LJ_LEVELS) {
		leaf_alloc(base + LJ_LEVELS * 32 + bits);
		if (jump)
			longjmp(t_jb, 1);
	} else if ((bits >> (level + 1)) & 1) {
		plunge1(bits, level + 1, base, jump);
	} else {
		plunge0(bits, level + 1, base, jump);
	}
	g_sink += keep;
}

NOIPA static void plunge1(unsigned bits, unsigned level, size_t base, int jump)
{
	volatile unsigned keep = level + 1000;

	leaf_alloc(base + level * 32 + (bits & ((2u << level) - 1)));
	if (level + 1 == LJ_LEVELS) {
		leaf_alloc(base + LJ_LEVELS * 32 + bits);
		if (jump)
			longjmp(t_jb, 1);
	} else if ((bits >> (level + 1)) & 1) {
		plunge1(bits, level + 1, base, jump);
	} else {
		plunge0(bits, level + 1, base, jump);
	}
	g_sink += keep;
}

NOIPA static void jump_dive(unsigned bits)
{
	if (!setjmp(t_jb)) {
		if (bits & 1)
			plunge1(bits, 0, SZ_LONGJMP, 1);
		else
			plunge0(bits, 0, SZ_LONGJMP, 1);
	}
	g_sink++;
}

NOIPA static void calm_dive(unsigned bits)
{
	volatile int keep = 1;

	if (bits & 1)
		plunge1(bits, 0, SZ_LONGJMP + 256, 0);
	else
		plunge0(bits, 0, SZ_LONGJMP + 256, 0);
	g_sink += keep;
}

/* The chain of a plunge allocation at `level` (LJ_LEVELS: the second one of the
 * deepest frame) for the bits, from the dive function. */
static void plunge_chain(unsigned bits, unsigned level, const char *dive)
{
	unsigned top = level < LJ_LEVELS ? level : LJ_LEVELS - 1;

	chain_start();
	chain_add("leaf_alloc", 1);
	for (int l = (int)top; l >= 0; l--)
		chain_add((bits >> l) & 1 ? "plunge1" : "plunge0", 1);
	chain_add(dive, 1);
	chain_root("run_longjmp");
}

/* Rounds r = 0..7; in each, for each of the 32 bit patterns p (one order, then the
 * other) with r <= p % 8: a dive on p that longjmps out of its deepest frame, then
 * a dive on 31 - p that returns.  So pattern p dives with a jump J(p) = 1 + p % 8
 * times and without C(p) = 1 + (31 - p) % 8 times; the allocation at level l is one
 * site for all patterns that share their bits 0..l. */
NOIPA static void run_longjmp(void)
{
	const unsigned pats = 1u << LJ_LEVELS;

	for (unsigned level = 0; level <= LJ_LEVELS; level++) {
		unsigned mask = level < LJ_LEVELS ? (2u << level) - 1 : pats - 1;

		for (unsigned pre = 0; pre <= mask; pre++) {
			uint64_t jumps = 0, calms = 0;

			for (unsigned p = 0; p < pats; p++) {
				if ((p & mask) != pre)
					continue;
				jumps += 1 + p % 8;
				calms += 1 + (pats - 1 - p) % 8;
			}
			plunge_chain(pre, level, "jump_dive");
			expect(SZ_LONGJMP + level * 32 + pre, jumps);
			plunge_chain(pre, level, "calm_dive");
			expect(SZ_LONGJMP + 256 + level * 32 + pre, calms);
		}
	}
	for (unsigned r = 0; r < 8; r++) {
		for (unsigned i = 0; i < pats; i++) {
			unsigned p = r % 2 ? pats - 1 - i : i;

			if (r > p % 8)
				continue;
			jump_dive(p);
			calm_dive(pats - 1 - p);
		}
	}
	g_sink++;
}

/* ---- signal ---- */

static char g_altstacks[THREADS + 1][ALTSTACK_SIZE] __attribute__((aligned(64)));
static __thread volatile size_t t_sig_size;
static __thread volatile unsigned t_sig_mid;

NOIPA static void hmid_a(size_t size)
{
	volatile char pad[40];

	pad[0] = 'a';
	leaf_alloc(size);
	g_sink += pad[0];
}

NOIPA static void hmid_b(size_t size)
{
	volatile char pad[40];

	pad[0] = 'b';
	leaf_alloc(size);
	g_sink += pad[0];
}

/* SIGUSR1's handler, on the sigaltstack. */
NOIPA static void on_altstack(int sig)
{
	(void)sig;
	if (t_sig_mid)
		hmid_b(t_sig_size);
	else
		hmid_a(t_sig_size);
	g_sink++;
}

/* SIGUSR2's, on the thread's stack. */
NOIPA static void on_stack(int sig)
{
	(void)sig;
	if (t_sig_mid)
		hmid_b(t_sig_size);
	else
		hmid_a(t_sig_size);
	g_sink++;
}

NOIPA static void fire(int sig)
{
	WL_CHECK(PROG, raise(sig) == 0);
	g_sink++;
}

/* Three paths of one frame size: each allocates, then raises. */
NOIPA static void sig_path_a(int sig, size_t size)
{
	volatile char pad[24];

	pad[0] = 'a';
	leaf_alloc(size);
	fire(sig);
	g_sink += pad[0];
}

NOIPA static void sig_path_b(int sig, size_t size)
{
	volatile char pad[24];

	pad[0] = 'b';
	leaf_alloc(size);
	fire(sig);
	g_sink += pad[0];
}

NOIPA static void sig_path_c(int sig, size_t size)
{
	volatile char pad[24];

	pad[0] = 'c';
	leaf_alloc(size);
	fire(sig);
	g_sink += pad[0];
}

/* And raising from other depths: a bigger frame, one frame more.  The SIGUSR1
 * handler's frames are at one address on the sigaltstack whatever the depth. */
NOIPA static void sig_path_big(int sig, size_t size)
{
	volatile char pad[440];

	pad[0] = 'd';
	leaf_alloc(size);
	fire(sig);
	g_sink += pad[0];
}

NOIPA static void sig_hop(int sig)
{
	volatile char pad[8];

	pad[0] = 'h';
	fire(sig);
	g_sink += pad[0];
}

NOIPA static void sig_path_hop(int sig, size_t size)
{
	volatile char pad[24];

	pad[0] = 'e';
	leaf_alloc(size);
	sig_hop(sig);
	g_sink += pad[0];
}

/* The handlers are process-wide: installed once, before any thread starts. */
static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_altstack;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_ONSTACK;
	WL_CHECK(PROG, sigaction(SIGUSR1, &sa, NULL) == 0);
	sa.sa_handler = on_stack;
	sa.sa_flags = 0;
	WL_CHECK(PROG, sigaction(SIGUSR2, &sa, NULL) == 0);
}

/* Path p = 10 * signal + 2 * raising path + handler path (0..19): the handler
 * allocates (p + 1) * reps times, SZ_SIGNAL + p bytes; raising path x allocates
 * before each raise, SZ_SIGNAL + 100 + x bytes. */
NOIPA static void run_signal(unsigned reps, unsigned altstack)
{
	static const char *const paths_x[] = { "sig_path_a", "sig_path_b", "sig_path_c",
					       "sig_path_big", "sig_path_hop" };
	const unsigned npx = 5, paths = 4 * npx;
	stack_t ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = g_altstacks[altstack];
	ss.ss_size = ALTSTACK_SIZE;
	WL_CHECK(PROG, sigaltstack(&ss, NULL) == 0);
	for (unsigned p = 0; p < paths; p++) {
		chain_start();
		chain_add("leaf_alloc", 1);
		chain_add(p % 2 ? "hmid_b" : "hmid_a", 1);
		chain_add(p < 2 * npx ? "on_altstack" : "on_stack", 1);
		chain_add("fire", 1);
		if (p / 2 % npx == 4)
			chain_add("sig_hop", 1);
		chain_add(paths_x[p / 2 % npx], 1);
		chain_root("run_signal");
		expect(SZ_SIGNAL + p, (uint64_t)(p + 1) * reps);
	}
	for (unsigned x = 0; x < npx; x++) {
		uint64_t n = 0;

		for (unsigned p = 0; p < paths; p++)
			if (p / 2 % npx == x)
				n += (uint64_t)(p + 1) * reps;
		chain_start();
		chain_add("leaf_alloc", 1);
		chain_add(paths_x[x], 1);
		chain_root("run_signal");
		expect(SZ_SIGNAL + 100 + x, n);
	}
	for (unsigned r = 0; r < paths * reps; r++) {
		for (unsigned i = 0; i < paths; i++) {
			unsigned p = r % 2 ? paths - 1 - i : i, x = p / 2 % npx;
			int sig = p < 2 * npx ? SIGUSR1 : SIGUSR2;

			if (r >= (p + 1) * reps)
				continue;
			t_sig_size = SZ_SIGNAL + p;
			t_sig_mid = p % 2;
			if (x == 0)
				sig_path_a(sig, SZ_SIGNAL + 100 + x);
			else if (x == 1)
				sig_path_b(sig, SZ_SIGNAL + 100 + x);
			else if (x == 2)
				sig_path_c(sig, SZ_SIGNAL + 100 + x);
			else if (x == 3)
				sig_path_big(sig, SZ_SIGNAL + 100 + x);
			else
				sig_path_hop(sig, SZ_SIGNAL + 100 + x);
		}
	}
	ss.ss_flags = SS_DISABLE;
	WL_CHECK(PROG, sigaltstack(&ss, NULL) == 0);
	g_sink++;
}

/* ---- align ---- */

static __thread uintptr_t t_aligned_at;	/* where the last 64-aligned local was */
static __thread int t_calibrating;	/* find the alignments; allocate nothing */

/* GCC realigns the frame for the 64-byte-aligned local. */
NOIPA static void realigned_local(size_t size)
{
	volatile char buf[64] __attribute__((aligned(64)));

	buf[0] = 1;
	t_aligned_at = (uintptr_t)buf;
	if (!t_calibrating)
		leaf_alloc(size);
	g_sink += buf[0];
}

/* The same with a variable-length array and arguments on the stack: GCC keeps the
 * incoming stack pointer in a DRAP register (the frame pointer is not the CFA). */
NOIPA static void realigned_drap(size_t size, long a1, long a2, long a3, long a4, long a5,
				 long a6, long a7)
{
	volatile char buf[64] __attribute__((aligned(64)));
	char vla[wl_opaque(40)];

	buf[0] = (char)(a1 + a2 + a3 + a4 + a5 + a6 + a7);
	t_aligned_at = (uintptr_t)buf;
	wl_sink(vla);
	if (!t_calibrating)
		leaf_alloc(size);
	g_sink += buf[0];
}

/* Realigns the incoming stack pointer whatever it is (as -mstackrealign does). */
__attribute__((force_align_arg_pointer)) NOIPA static void realigned_forced(size_t size)
{
	volatile char pad[32];

	pad[0] = 1;
	if (!t_calibrating)
		leaf_alloc(size);
	g_sink += pad[0];
}

/* Grows its frame down to sp_target, then calls one of the realigned functions. */
NOIPA static void align_to(uintptr_t sp_target, unsigned variant, size_t size)
{
	volatile char here = 0;
	char *buf;

	WL_CHECK(PROG, (uintptr_t)&here > sp_target + 256);
	buf = alloca((uintptr_t)&here - sp_target);
	wl_sink(buf);
	if (variant == 0)
		realigned_local(size);
	else if (variant == 1)
		realigned_drap(size, 1, 2, 3, 4, 5, 6, 7);
	else
		realigned_forced(size);
	g_sink += here;
}

/* Four callers, each entering at its own alignment (mod 64)... */
NOIPA static void c_0(uintptr_t t, unsigned variant, size_t size)
{
	volatile char pad[16];

	pad[0] = 0;
	align_to(t, variant, size);
	g_sink += pad[0];
}

NOIPA static void c_1(uintptr_t t, unsigned variant, size_t size)
{
	volatile char pad[32];

	pad[0] = 1;
	align_to(t - 16, variant, size);
	g_sink += pad[0];
}

NOIPA static void c_2(uintptr_t t, unsigned variant, size_t size)
{
	volatile char pad[48];

	pad[0] = 2;
	align_to(t - 32, variant, size);
	g_sink += pad[0];
}

NOIPA static void c_3(uintptr_t t, unsigned variant, size_t size)
{
	volatile char pad[64];

	pad[0] = 3;
	align_to(t - 48, variant, size);
	g_sink += pad[0];
}

/* ...and one call site for the four alignments. */
NOIPA static void c_same(uintptr_t t, unsigned shift, unsigned variant, size_t size)
{
	volatile char pad[16];

	pad[0] = 4;
	align_to(t - 16 * shift, variant, size);
	g_sink += pad[0];
}

NOIPA static void call_c(unsigned j, uintptr_t t, unsigned variant, size_t size)
{
	if (j == 0)
		c_0(t, variant, size);
	else if (j == 1)
		c_1(t, variant, size);
	else if (j == 2)
		c_2(t, variant, size);
	else
		c_3(t, variant, size);
	g_sink++;
}

/* A target for variant (0 or 1) at which the four alignments put the aligned local
 * at one address; fails when there is none. */
static uintptr_t calibrate(uintptr_t base, unsigned variant)
{
	t_calibrating = 1;
	for (uintptr_t off = 0; off < 64; off += 16) {
		uintptr_t at = 0;
		int same = 1;

		for (unsigned j = 0; j < 4; j++) {
			c_same(base + off, j, variant, 0);
			if (j && t_aligned_at != at)
				same = 0;
			at = t_aligned_at;
		}
		if (same) {
			t_calibrating = 0;
			return base + off;
		}
	}
	wl_fail(PROG, "no stack alignment puts the aligned frames at one address", __LINE__);
	return 0;
}

/* Path p = 3 * caller + variant (0..11) allocates (p + 1) * reps times,
 * SZ_ALIGN + p bytes; c_same with variant v, shift j = 0..3 each (j + 1) * reps
 * times, SZ_ALIGN + 20 + v bytes. */
NOIPA static void run_align(unsigned reps)
{
	static const char *const callers[] = { "c_0", "c_1", "c_2", "c_3" };
	static const char *const variants[] = { "realigned_local", "realigned_drap",
						 "realigned_forced" };
	volatile char anchor = 0;
	uintptr_t base = ((uintptr_t)&anchor - ALLOCA_BELOW) & ~(uintptr_t)63;
	uintptr_t t[3], first_at[2] = { 0, 0 };
	const unsigned paths = 12;

	t[0] = calibrate(base, 0);
	t[1] = calibrate(base - 1024, 1);
	t[2] = base - 2048;
	for (unsigned p = 0; p < paths + 3; p++) {
		chain_start();
		chain_add("leaf_alloc", 1);
		chain_add(variants[p < paths ? p % 3 : p - paths], 1);
		chain_add("align_to", 1);
		if (p < paths) {
			chain_add(callers[p / 3], 1);
			chain_add("call_c", 1);
		} else {
			chain_add("c_same", 1);
		}
		chain_root("run_align");
		expect(SZ_ALIGN + (p < paths ? p : 20 + p - paths),
		       p < paths ? (uint64_t)(p + 1) * reps : 10u * reps);
	}
	for (unsigned r = 0; r < paths * reps; r++) {
		for (unsigned i = 0; i < paths; i++) {
			unsigned p = r % 2 ? paths - 1 - i : i, v = p % 3;

			if (r < (p + 1) * reps) {
				call_c(p / 3, t[v], v, SZ_ALIGN + p);
				if (v < 2) {
					if (!first_at[v])
						first_at[v] = t_aligned_at;
					WL_CHECK(PROG, t_aligned_at == first_at[v]);
				}
			}
		}
		for (unsigned v = 0; v < 3; v++)
			for (unsigned j = 0; j < 4; j++)
				if (r < (j + 1) * reps)
					c_same(t[v], j, v, SZ_ALIGN + 20 + v);
	}
	g_sink += anchor;
}

/* ---- fork ---- */

static volatile unsigned g_fork_passes = 2;	/* unknown to GCC: no unrolling */

/* Pass 0 in the parent, pass 1 in the child: the same calls from the same call site
 * (the loop must not be unrolled), so the child meets the stacks the parent's cache
 * holds. */
NOIPA static pid_t fork_loop(void)
{
	pid_t pid = 0;

	for (unsigned pass = 0; pass < g_fork_passes; pass++) {
		run_samedepth(5 - 2 * pass);
		if (pass)
			break;
		pid = fork();
		WL_CHECK(PROG, pid >= 0);
		if (pid > 0)
			break;
		/* The child: its own expectations, from here on. */
		g_out_len = 0;
		g_role = "child";
	}
	return pid;
}

NOIPA static void run_fork(void)
{
	pid_t pid;
	int status;

	t_root = "fork_loop,run_fork,main";
	pid = fork_loop();
	t_root = "run_fork,main";
	run_alloca(pid ? 2 : 3);
	if (!pid) {
		write_expectations();
		exit(0);
	}
	WL_CHECK(PROG, waitpid(pid, &status, 0) == pid);
	WL_CHECK(PROG, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	g_sink++;
}

/* ---- threads ---- */

static pthread_barrier_t g_barrier;

NOIPA static void *thread_main(void *arg)
{
	unsigned idx = (unsigned)(uintptr_t)arg;

	t_reg = idx == 0;
	t_root = "thread_main";
	pthread_barrier_wait(&g_barrier);
	run_samedepth(20);
	run_alloca(5);
	run_recursion();
	run_longjmp();
	run_signal(5, idx + 1);
	run_align(5);
	return NULL;
}

NOIPA static void run_threads(void)
{
	pthread_t tids[THREADS];

	g_mult = THREADS;
	WL_CHECK(PROG, pthread_barrier_init(&g_barrier, NULL, THREADS) == 0);
	for (unsigned i = 0; i < THREADS; i++)
		WL_CHECK(PROG, pthread_create(&tids[i], NULL, thread_main, (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < THREADS; i++)
		WL_CHECK(PROG, pthread_join(tids[i], NULL) == 0);
	pthread_barrier_destroy(&g_barrier);
}

int main(int argc, char **argv)
{
	const char *s = argc == 2 ? argv[1] : "";

	install_handlers();
	if (!strcmp(s, "samedepth")) {
		run_samedepth(100);
	} else if (!strcmp(s, "alloca")) {
		run_alloca(20);
	} else if (!strcmp(s, "recursion")) {
		run_recursion();
	} else if (!strcmp(s, "longjmp")) {
		run_longjmp();
	} else if (!strcmp(s, "signal")) {
		run_signal(10, 0);
	} else if (!strcmp(s, "align")) {
		run_align(20);
	} else if (!strcmp(s, "fork")) {
		run_fork();
	} else if (!strcmp(s, "threads")) {
		run_threads();
	} else if (!strcmp(s, "mixed")) {
		run_samedepth(10);
		run_alloca(5);
		run_recursion();
		run_longjmp();
		run_signal(5, 0);
		run_align(5);
	} else {
		wl_puts(2, "usage: stackpaths samedepth|alloca|recursion|longjmp|signal|align|fork|threads|mixed\n");
		return 2;
	}
	write_expectations();
	return 0;
}
