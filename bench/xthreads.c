/* SPDX-License-Identifier: MIT */
/* xthreads: T threads allocate blocks and hand them, through fixed arrays of atomic
 * slots, to the next thread, which frees them: every free is a cross-thread free.
 *
 * Usage: xthreads [threads=2] [blocks=12000000]   (a benchmark workload for `make bench`;
 *        threads from 2 to 64)
 *
 * Thread t allocates B / T blocks (one more when t < B % T) of 16 to 527 bytes (a
 * splitmix64 stream seeded with t) and frees the blocks of thread t - 1 (mod T).  The work
 * goes in phases separated by a barrier: in phase k, thread t fills its half k % 2 of
 * 4096 slots while it empties the other half of its predecessor's slots, filled in phase
 * k - 1; a last phase only empties.  No list node or queue is ever allocated, and the
 * program itself makes exactly
 *   calls.malloc = calls.free = B, 2 * B events in all,
 * to which glibc adds a calloc per thread it creates (the thread's TLS block) and some
 * frees while it reaps them, free(NULL) included: 6 calls in all with 2 threads and 96
 * with 8 on Debian 12's glibc 2.36.  Nothing the program allocates leaks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

#define MAX_THREADS 64
#define SLOTS 4096

struct worker {
	pthread_t tid;
	unsigned index;
	uint64_t blocks;	/* blocks this thread allocates */
};

static unsigned nthreads;
static uint64_t nphases;
static pthread_barrier_t barrier;
/* slots[half][t][j]: written by thread t, emptied by thread t + 1; the barrier between
 * phases orders the two, so relaxed operations are enough. */
static _Atomic(uint64_t *) slots[2][MAX_THREADS][SLOTS];
static struct worker workers[MAX_THREADS];

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned pred = (w->index + nthreads - 1) % nthreads;
	uint64_t seed = 0x78746872u + w->index;	/* "xthr" + t */

	for (uint64_t k = 0; k < nphases; k++) {
		_Atomic(uint64_t *) *mine = slots[k % 2][w->index];
		_Atomic(uint64_t *) *theirs = slots[(k + 1) % 2][pred];
		uint64_t done = k * SLOTS;
		uint64_t quota = done >= w->blocks ? 0 : w->blocks - done;

		if (quota > SLOTS)
			quota = SLOTS;
		for (uint64_t j = 0; j < SLOTS; j++) {
			uint64_t *q = atomic_exchange_explicit(&theirs[j], NULL,
							       memory_order_relaxed);

			if (q) {
				/* The owner's mark proves the block came from another thread. */
				BENCH_CHECK("xthreads", *q == pred);
				free(q);
			}
			if (j < quota) {
				uint64_t *p = malloc(16 + (bench_rand(&seed) & 511));

				BENCH_CHECK("xthreads", p);
				*p = w->index;
				atomic_store_explicit(&mine[j], p, memory_order_relaxed);
			}
		}
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t blocks, most;

	nthreads = (unsigned)bench_arg("xthreads", argc, argv, 1, 2, 2, MAX_THREADS);
	blocks = bench_arg("xthreads", argc, argv, 2, 12000000, 0, UINT64_MAX / 2);
	most = blocks / nthreads + (blocks % nthreads != 0);
	/* The phases that allocate, then one that only frees. */
	nphases = (most + SLOTS - 1) / SLOTS + 1;

	if (pthread_barrier_init(&barrier, NULL, nthreads))
		bench_fail("xthreads", "cannot create the barrier");
	for (unsigned t = 0; t < nthreads; t++) {
		workers[t].index = t;
		workers[t].blocks = blocks / nthreads + (t < blocks % nthreads);
		if (pthread_create(&workers[t].tid, NULL, work, &workers[t]))
			bench_fail("xthreads", "cannot create a thread");
	}
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(workers[t].tid, NULL);
	pthread_barrier_destroy(&barrier);
	return 0;
}
