/* SPDX-License-Identifier: MIT */
/* Stress test of preload/ring.c: P producer threads push numbered records of
 * varying size, taking a new ring from the pool every R records; one consumer
 * drains like the writer and recycles retired rings.  Checks that every record
 * arrives exactly once, intact, and in order within its ring.
 * Not a benchmark.  Usage: ring_stress [threads] [records per thread] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../preload/internal.h"
#include "hotalloc/format.h"

/* What ring.c needs from the rest of the library. */
struct ha_options ha__opt;
_Atomic int ha__state = HA_ON;
_Atomic int ha__writer_running = 1;
int ha__writer_start(void) { return 0; }
void ha__writer_kick(void) {}
uint64_t ha__now(void) { return 0; }
void ha__log(const char *level, const char *fmt, ...) { (void)level; (void)fmt; }

static unsigned nthreads = 4, per_thread = 200000, swap_every = 5000;
static _Atomic unsigned producers_done;
static unsigned char *seen;	/* nthreads * per_thread flags */
static unsigned long errors;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); if (++errors > 10) exit(1); } } while (0)

static void *producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct ha_ring *r = ha__ring_acquire(id + 1);
	unsigned seed = id * 7919u + 1;

	for (unsigned i = 0; i < per_thread; i++) {
		unsigned n = (seed = seed * 1103515245u + 12345u) % 40;
		unsigned words = 5 + n;
		struct ha_rec *rec;

		if (i && i % swap_every == 0) {
			ha__ring_retire(r);
			r = ha__ring_acquire(id + 1);
		}
		CHECK(r != NULL, "producer %u: no ring", id);
		rec = ha__ring_reserve(r, words);
		CHECK(rec != NULL, "producer %u: reserve failed", id);
		rec->words = (uint16_t)words;
		rec->kind = HA_EV_MALLOC;
		rec->nframes = (uint8_t)n;
		rec->tid = id + 1;
		rec->ts = i;
		rec->addr = i;
		rec->a = ~(uint64_t)i;
		rec->b = n;
		for (unsigned k = 0; k < n; k++)
			((uint64_t *)(rec + 1))[k] = (uint64_t)i * 131 + k;
		ha__ring_commit(r, words);
	}
	ha__ring_retire(r);
	atomic_fetch_add(&producers_done, 1);
	return NULL;
}

static uint64_t drain(void)
{
	uint64_t got = 0;
	uint32_t n = atomic_load(&ha__rings_used);

	for (uint32_t i = 0; i < n; i++) {
		struct ha_ring *r = &ha__rings[i];
		int st = atomic_load_explicit(&r->state, memory_order_acquire);
		uint64_t head, tail, last = UINT64_MAX;

		if (st == HA_RING_FREE)
			continue;
		head = atomic_load_explicit(&r->head, memory_order_acquire);
		tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		while (tail < head) {
			const struct ha_rec *rec = (const struct ha_rec *)(r->buf + (tail & (r->size - 1)));
			const uint64_t *fr = (const uint64_t *)(rec + 1);

			CHECK(rec->words && tail + rec->words * 8u <= head, "ring %u: bad length %u", i, rec->words);
			if (!rec->words)
				exit(1);
			tail += rec->words * 8u;
			if (rec->kind == HA_RK_PAD)
				continue;
			CHECK(rec->tid >= 1 && rec->tid <= nthreads && rec->addr < per_thread,
			      "ring %u: bad record tid %u seq %llu", i, rec->tid, (unsigned long long)rec->addr);
			CHECK(rec->a == ~rec->addr && rec->b == rec->nframes && rec->words == 5u + rec->nframes,
			      "ring %u: torn record %llu", i, (unsigned long long)rec->addr);
			for (unsigned k = 0; k < rec->nframes; k++)
				CHECK(fr[k] == rec->addr * 131 + k, "ring %u: frame %u of %llu", i, k,
				      (unsigned long long)rec->addr);
			CHECK(last == UINT64_MAX || rec->addr == last + 1, "ring %u: %llu after %llu", i,
			      (unsigned long long)rec->addr, (unsigned long long)last);
			last = rec->addr;
			size_t at = (size_t)(rec->tid - 1) * per_thread + rec->addr;
			CHECK(!seen[at], "record %u/%llu seen twice", rec->tid, (unsigned long long)rec->addr);
			seen[at] = 1;
			got++;
		}
		atomic_store_explicit(&r->tail, head, memory_order_release);
		if (st == HA_RING_RETIRED)
			ha__ring_recycle(r);
	}
	return got;
}

int main(int argc, char **argv)
{
	pthread_t *t;
	uint64_t total = 0, want;

	if (argc > 1)
		nthreads = (unsigned)atoi(argv[1]);
	if (argc > 2)
		per_thread = (unsigned)atoi(argv[2]);
	ha__opt.ring_kib = 64;	/* small rings: wrap-around and full-ring waits happen often */
	want = (uint64_t)nthreads * per_thread;
	seen = calloc(want, 1);
	t = calloc(nthreads, sizeof(*t));
	if (!seen || !t || ha__rings_init() < 0)
		return 1;
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)i);
	while (atomic_load(&producers_done) < nthreads)
		total += drain();
	total += drain();
	total += drain();
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	CHECK(total == want, "received %llu records, expected %llu", (unsigned long long)total,
	      (unsigned long long)want);
	printf("ring_stress: %u threads x %u records, %u rings used: %s\n", nthreads, per_thread,
	       atomic_load(&ha__rings_used), errors ? "FAIL" : "ok");
	return errors ? 1 : 0;
}
