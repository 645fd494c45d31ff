/* SPDX-License-Identifier: MIT */
/* threads: T threads each malloc blocks that the next thread frees, handed over through
 * fixed-size lock-free rings, so that every free happens on another thread.
 *
 * Usage: threads [threads T=8] [iterations N=50000]   (a stress workload, not a benchmark)
 *
 * Thread t (0 <= t < T) mallocs N blocks of 32 + 8*t bytes, tags each with t, and pushes
 * it into ring t; thread (t+1) % T pops from ring t, checks the tag and frees the block.
 * The rings are static arrays: the handoff allocates nothing.  The interleaving varies
 * from run to run but the totals do not.  What the threads themselves make is:
 *   calls.malloc = calls.free = allocations = frees = T*N
 *   bytes_allocated = N * (32*T + 4*T*(T-1))
 *   leaked_blocks = leaked_bytes = 0
 *   peak_bytes rises by at most T * (RING_SIZE + 1) * (32 + 8*(T-1))
 * pthread_create may allocate inside libc (the TLS vector of a new stack), so compare
 * against a baseline "threads T 0", which creates and joins the same T threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "handoff.h"
#include "workload.h"

#define MAX_THREADS 64

/* rings[t]: thread t produces, thread t+1 consumes. */
static struct ring rings[MAX_THREADS];
static unsigned nthreads;
static uint64_t iterations;
static atomic_uint ready;

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	unsigned from = (t + nthreads - 1) % nthreads;
	size_t size = 32 + 8 * (size_t)t;
	struct ring *out = &rings[t], *in = &rings[from];
	unsigned char *pending = NULL;
	uint64_t made = 0, freed = 0;

	/* Start together, so that the handoffs really overlap. */
	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < nthreads)
		sched_yield();

	/* Not done while a block is still pending: the ring out may have been
	 * full when the last one was made, and the next thread waits for it. */
	while (made < iterations || freed < iterations || pending) {
		int progress = 0;
		unsigned char *p;

		if (!pending && made < iterations) {
			pending = wl_sink(malloc(size));
			WL_CHECK("threads", pending);
			pending[0] = (unsigned char)t;
			pending[size - 1] = (unsigned char)t;
			made++;
		}
		if (pending && ring_push(out, pending)) {
			pending = NULL;
			progress = 1;
		}
		/* Drain the input even while our own output is full: that breaks the cycle. */
		while ((p = ring_pop(in)) != NULL) {
			size_t from_size = 32 + 8 * (size_t)from;

			WL_CHECK("threads", p[0] == (unsigned char)from);
			WL_CHECK("threads", p[from_size - 1] == (unsigned char)from);
			free(wl_sink(p));
			freed++;
			progress = 1;
		}
		if (!progress)
			sched_yield();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];

	nthreads = (unsigned)wl_arg(argc, argv, 1, 8);
	iterations = wl_arg(argc, argv, 2, 50000);
	if (nthreads < 1 || nthreads > MAX_THREADS) {
		wl_puts(2, "threads: error: thread count must be 1 to 64\n");
		return 2;
	}
	for (unsigned t = 0; t < nthreads; t++)
		WL_CHECK("threads", pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)t) == 0);
	for (unsigned t = 0; t < nthreads; t++)
		WL_CHECK("threads", pthread_join(tid[t], NULL) == 0);
	return 0;
}
