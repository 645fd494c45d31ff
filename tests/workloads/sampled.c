/* SPDX-License-Identifier: MIT */
/* sampled: workloads with known totals for the sampling-mode tests (tests/sampling.sh),
 * big enough that a sample at HOTALLOC_SAMPLE=65536 or 524288 holds thousands of
 * allocations.  A stress workload, not a benchmark; no stdio, so the program makes no
 * allocation besides those below.  SIZES = {16, 64, 256, 1024, 2048, 3072, 4096, 4096}
 * (sum 14672), BIG = 8 MiB.
 *
 * sampled main [N=2000000] [K=16384]
 *   One thread.  For i < N: malloc(SIZES[i % 8]) and free it; also, when i % 16 == 0,
 *   calloc(8, 64) and free; i % 32 == 1, posix_memalign(64, 256) and free; i % 64 == 2,
 *   aligned_alloc(4096, 4096) and free; i % 1000 == 3, a realloc growth chain: malloc(64),
 *   realloc to 64 + 256 * k for k = 1..32, free (33 allocations, 137280 bytes).  Then 16
 *   BIG blocks one at a time (big_block); then a batch of 262144 blocks of 512 bytes all
 *   live at once, then freed (the peak: 128 MiB exactly); then the leak: K blocks of 4096
 *   bytes (leak_small) and 2 BIG blocks (leak_large), never freed.
 *
 * sampled threads [T=4] [N=200000] [L=4]
 *   T threads; thread t mallocs N blocks of SIZES[(i + t) % 8] and L BIG blocks (one at
 *   each i = j * N / L) and hands each to thread (t + 1) % T through a lock-free ring;
 *   that thread reallocs every block with i % 4 == 0 to twice its size, then frees it.
 *   So every free is a cross-thread free.  Per thread: N + L mallocs, N/4 (rounded up)
 *   reallocs, N + L frees.  pthread_create may allocate inside libc.
 *
 * sampled seeds [S=8] [N=250000]
 *   S threads run one after another (created, joined, the next created); each makes N
 *   malloc/free pairs of SIZES[i % 8] and then 2 BIG blocks (malloc, free).  Each thread
 *   has its own sampling stream, so the per-thread figures of one sampled run are S
 *   independent estimates of the same known total.
 *
 * sampled grab [N=20000]
 *   One thread: malloc(4096) p, malloc(2000) g (right after p, so that p cannot grow
 *   in place), p = realloc(p, 8192) (it moves), free(p), free(g).  3N allocations, 3N
 *   frees, N * 14288 bytes.  Meant to run with libsampled-grab.so preloaded after
 *   libhotalloc.so (below), which adds a malloc of 4104 bytes per iteration: 4N
 *   allocations, 4N - 1 frees (the last block it keeps leaks), N * 18392 bytes.
 *
 * libsampled-grab.so: this file built with -DSAMPLED_INTERPOSER -shared -fPIC, preloaded
 *   after libhotalloc.so so that it is hotalloc's "real" realloc.  It calls the next
 *   realloc, and when the block moved, mallocs the old block's usable size through the
 *   first malloc in the lookup order (hotalloc's) and keeps that block until its next
 *   call: what another thread may do at the moment a realloc has released its old
 *   block, made to happen every time (glibc hands the just-freed chunk back).  For
 *   one-thread programs only (the kept block is a plain static).
 *
 * sampled realloc [C=200] [STEPS=1000] [TOGGLES=1000]
 *   C growth chains: malloc(16), realloc to 16 + 64 * k for k = 1..STEPS, free.  Then
 *   TOGGLES rounds of: p = malloc(16); realloc(p, BIG); realloc(p, 32); realloc(p, BIG);
 *   realloc(p, 0) (glibc frees p and returns NULL); q = malloc(BIG); realloc(q, 0);
 *   r = malloc(24); realloc(r, 0); s = realloc(NULL, 100); free(s).  Per round: 7
 *   allocations (3 of BIG bytes), 7 frees, 3 * BIG + 172 bytes.
 *
 * Exit status 0, or 1 with a message when a check fails, 2 on a bad argument. */
#define _GNU_SOURCE
#ifdef SAMPLED_INTERPOSER
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>

static void *held;

void *realloc(void *old, size_t size)
{
	static void *(*next)(void *, size_t);
	static void *(*first_malloc)(size_t);
	static void (*first_free)(void *);
	size_t old_size = old ? malloc_usable_size(old) : 0;
	void *p, *h;

	if (!next) {
		*(void **)&next = dlsym(RTLD_NEXT, "realloc");
		*(void **)&first_malloc = dlsym(RTLD_DEFAULT, "malloc");
		*(void **)&first_free = dlsym(RTLD_DEFAULT, "free");
		if (!next || !first_malloc || !first_free)
			abort();
	}
	p = next(old, size);
	if (p && old && p != old) {
		/* Taken before the last one is given back, so that it is the chunk
		 * just released, not a neighbour merged with it. */
		h = held;
		held = first_malloc(old_size);
		if (h)
			first_free(h);
	}
	return p;
}
#else
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "workload.h"

#define BIG ((size_t)8 << 20)
#define BATCH 262144
#define MAX_THREADS 64

static const size_t SIZES[8] = {16, 64, 256, 1024, 2048, 3072, 4096, 4096};
static void *batch[BATCH];

/* ---- main ---- */

__attribute__((noinline)) static void pair(size_t size)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(size)));

	WL_CHECK("sampled", p);
	p[0] = 1;
	free(wl_sink(p));
}

__attribute__((noinline)) static void calloc_site(void)
{
	unsigned char *p = wl_sink(calloc(wl_opaque(8), 64));

	WL_CHECK("sampled", p && p[511] == 0);
	free(wl_sink(p));
}

__attribute__((noinline)) static void memalign_site(void)
{
	void *p = NULL;

	WL_CHECK("sampled", posix_memalign(&p, 64, wl_opaque(256)) == 0);
	WL_CHECK("sampled", ((uintptr_t)p & 63) == 0);
	free(wl_sink(p));
}

__attribute__((noinline)) static void aligned_site(void)
{
	void *p = wl_sink(aligned_alloc(4096, wl_opaque(4096)));

	WL_CHECK("sampled", p && ((uintptr_t)p & 4095) == 0);
	free(wl_sink(p));
}

__attribute__((noinline)) static void chain_site(void)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(64)));

	WL_CHECK("sampled", p);
	p[0] = 7;
	for (size_t k = 1; k <= 32; k++) {
		p = wl_sink(realloc(p, wl_opaque(64 + 256 * k)));
		WL_CHECK("sampled", p && p[0] == 7);
	}
	free(wl_sink(p));
}

__attribute__((noinline)) static void big_block(void)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(BIG)));

	WL_CHECK("sampled", p);
	p[0] = 1;
	p[BIG - 1] = 1;
	free(wl_sink(p));
}

__attribute__((noinline)) static void batch_site(void)
{
	for (size_t i = 0; i < BATCH; i++) {
		batch[i] = wl_sink(malloc(wl_opaque(512)));
		WL_CHECK("sampled", batch[i]);
	}
	for (size_t i = 0; i < BATCH; i++)
		free(wl_sink(batch[i]));
}

__attribute__((noinline)) static void leak_small(void)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(4096)));

	WL_CHECK("sampled", p);
	p[0] = 1;
}

__attribute__((noinline)) static void leak_large(void)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(BIG)));

	WL_CHECK("sampled", p);
	p[0] = 1;
}

static void run_main(uint64_t n, uint64_t k)
{
	for (uint64_t i = 0; i < n; i++) {
		pair(SIZES[i % 8]);
		if (i % 16 == 0)
			calloc_site();
		if (i % 32 == 1)
			memalign_site();
		if (i % 64 == 2)
			aligned_site();
		if (i % 1000 == 3)
			chain_site();
	}
	for (int i = 0; i < 16; i++)
		big_block();
	batch_site();
	for (uint64_t i = 0; i < k; i++)
		leak_small();
	leak_large();
	leak_large();
}

/* ---- threads: every block is freed by the next thread ---- */

static struct ring rings[MAX_THREADS];
static unsigned nthreads;
static uint64_t iterations, nbig;
static atomic_uint ready;

/* A handed-over block starts with its tag (16 bytes: the smallest size): who made it,
 * whether it is BIG, its number; its size follows from those. */
struct tag {
	uint32_t thread;
	uint32_t big;
	uint64_t index;
};

static size_t block_size(unsigned t, uint64_t i, int big)
{
	return big ? BIG : SIZES[(i + t) % 8];
}

static void *make_block(unsigned t, uint64_t i, int big)
{
	struct tag *g = wl_sink(malloc(wl_opaque(block_size(t, i, big))));

	WL_CHECK("sampled", g);
	g->thread = t;
	g->big = (uint32_t)big;
	g->index = i;
	return g;
}

/* Checks a block made by thread from; reallocs one in four small ones; frees it. */
static void take_block(unsigned from, void *p)
{
	struct tag *g = p;
	uint64_t i = g->index;
	int big = (int)g->big;

	WL_CHECK("sampled", g->thread == from && (big == 0 || big == 1));
	if (!big && i % 4 == 0) {
		p = wl_sink(realloc(p, wl_opaque(2 * block_size(from, i, 0))));
		WL_CHECK("sampled", p && ((struct tag *)p)->index == i);
	}
	free(wl_sink(p));
}

static void *thread_worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	unsigned from = (t + nthreads - 1) % nthreads;
	struct ring *out = &rings[t], *in = &rings[from];
	void *pending = NULL;
	uint64_t made = 0, bigs = 0, freed = 0, total = iterations + nbig;

	/* Start together, so that the handoffs really overlap. */
	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < nthreads)
		sched_yield();

	while (made < iterations || bigs < nbig || pending || freed < total) {
		int progress = 0;
		void *p;

		if (!pending && (made < iterations || bigs < nbig)) {
			if (bigs < nbig && (made >= iterations || made >= bigs * iterations / nbig))
				pending = make_block(t, bigs++, 1);
			else
				pending = make_block(t, made++, 0);
		}
		if (pending && ring_push(out, pending)) {
			pending = NULL;
			progress = 1;
		}
		/* Drain the input even while our own output is full: that breaks the cycle. */
		while ((p = ring_pop(in)) != NULL) {
			take_block(from, p);
			freed++;
			progress = 1;
		}
		if (!progress)
			sched_yield();
	}
	return NULL;
}

static void run_threads(unsigned t, uint64_t n, uint64_t l)
{
	pthread_t tid[MAX_THREADS];

	nthreads = t;
	iterations = n;
	nbig = l;
	for (unsigned i = 0; i < t; i++)
		WL_CHECK("sampled", pthread_create(&tid[i], NULL, thread_worker, (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < t; i++)
		WL_CHECK("sampled", pthread_join(tid[i], NULL) == 0);
}

/* ---- grab: a realloc that moves, in one thread ---- */

static void run_grab(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *p = wl_sink(malloc(wl_opaque(4096))), *g = wl_sink(malloc(wl_opaque(2000)));

		WL_CHECK("sampled", p && g);
		p[0] = i;
		p = wl_sink(realloc(p, wl_opaque(8192)));
		WL_CHECK("sampled", p && p[0] == i);
		free(wl_sink(p));
		free(wl_sink(g));
	}
}

/* ---- seeds: one thread after another ---- */

static void *seed_worker(void *arg)
{
	uint64_t n = *(const uint64_t *)arg;

	for (uint64_t i = 0; i < n; i++)
		pair(SIZES[i % 8]);
	big_block();
	big_block();
	return NULL;
}

static void run_seeds(unsigned s, uint64_t n)
{
	for (unsigned i = 0; i < s; i++) {
		pthread_t tid;

		WL_CHECK("sampled", pthread_create(&tid, NULL, seed_worker, &n) == 0);
		WL_CHECK("sampled", pthread_join(tid, NULL) == 0);
	}
}

/* ---- realloc ---- */

__attribute__((noinline)) static void growth_chain(uint64_t steps)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(16)));

	WL_CHECK("sampled", p);
	p[0] = 9;
	for (uint64_t k = 1; k <= steps; k++) {
		p = wl_sink(realloc(p, wl_opaque(16 + 64 * k)));
		WL_CHECK("sampled", p && p[0] == 9);
	}
	free(wl_sink(p));
}

/* Small (rarely sampled) to BIG (always sampled) and back; realloc(p, 0) of both. */
__attribute__((noinline)) static void toggle(void)
{
	unsigned char *p = wl_sink(malloc(wl_opaque(16))), *q, *r, *s;

	WL_CHECK("sampled", p);
	p[0] = 5;
	p = wl_sink(realloc(p, wl_opaque(BIG)));
	WL_CHECK("sampled", p && p[0] == 5);
	p = wl_sink(realloc(p, wl_opaque(32)));
	WL_CHECK("sampled", p && p[0] == 5);
	p = wl_sink(realloc(p, wl_opaque(BIG)));
	WL_CHECK("sampled", p && p[0] == 5);
	WL_CHECK("sampled", realloc(p, wl_opaque(0)) == NULL);
	q = wl_sink(malloc(wl_opaque(BIG)));
	WL_CHECK("sampled", q);
	WL_CHECK("sampled", realloc(q, wl_opaque(0)) == NULL);
	r = wl_sink(malloc(wl_opaque(24)));
	WL_CHECK("sampled", r);
	WL_CHECK("sampled", realloc(r, wl_opaque(0)) == NULL);
	s = wl_sink(realloc(NULL, wl_opaque(100)));
	WL_CHECK("sampled", s);
	free(wl_sink(s));
}

static void run_realloc(uint64_t c, uint64_t steps, uint64_t toggles)
{
	for (uint64_t i = 0; i < c; i++)
		growth_chain(steps);
	for (uint64_t i = 0; i < toggles; i++)
		toggle();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "main")) {
		run_main(wl_arg(argc, argv, 2, 2000000), wl_arg(argc, argv, 3, 16384));
	} else if (!strcmp(mode, "threads")) {
		uint64_t t = wl_arg(argc, argv, 2, 4);

		if (t < 1 || t > MAX_THREADS) {
			wl_puts(2, "sampled: error: thread count must be 1 to 64\n");
			return 2;
		}
		run_threads((unsigned)t, wl_arg(argc, argv, 3, 200000), wl_arg(argc, argv, 4, 4));
	} else if (!strcmp(mode, "seeds")) {
		run_seeds((unsigned)wl_arg(argc, argv, 2, 8), wl_arg(argc, argv, 3, 250000));
	} else if (!strcmp(mode, "grab")) {
		run_grab(wl_arg(argc, argv, 2, 20000));
	} else if (!strcmp(mode, "realloc")) {
		run_realloc(wl_arg(argc, argv, 2, 200), wl_arg(argc, argv, 3, 1000), wl_arg(argc, argv, 4, 1000));
	} else {
		wl_puts(2, "usage: sampled main|threads|grab|seeds|realloc [ARGS...]\n");
		return 2;
	}
	return 0;
}
#endif /* SAMPLED_INTERPOSER */
