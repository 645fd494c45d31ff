/* SPDX-License-Identifier: MIT */
/* Per-thread single-producer, single-consumer byte rings, and the lock-free
 * pool they are taken from and returned to.
 *
 * Contract: one thread (the owner) reserves and commits records; the writer
 * thread alone reads them and advances tail.  Records never straddle the end
 * of the buffer: a PAD record fills the gap instead.  head and tail only grow. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "internal.h"

struct ha_ring *ha__rings;
_Atomic uint32_t ha__rings_used;
/* Free list: a Treiber stack of ring indices, tagged against ABA.
 * Low 32 bits: index + 1 (0 = empty); high 32 bits: a generation. */
static _Atomic uint64_t free_top;

int ha__rings_init(void)
{
	void *p = mmap(NULL, sizeof(struct ha_ring) * HA_MAX_RINGS, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -ENOMEM;
	ha__rings = p;
	return 0;
}

static struct ha_ring *pop_free(void)
{
	uint64_t top = atomic_load(&free_top), next;
	struct ha_ring *r;

	do {
		if (!(uint32_t)top)
			return NULL;
		r = &ha__rings[(uint32_t)top - 1];
		next = (atomic_load(&r->next_free) & 0xffffffffu) | ((top >> 32) + 1) << 32;
	} while (!atomic_compare_exchange_weak(&free_top, &top, next));
	return r;
}

void ha__ring_recycle(struct ha_ring *r)
{
	uint64_t top = atomic_load(&free_top);

	atomic_store(&r->state, HA_RING_FREE);
	do {
		atomic_store(&r->next_free, (uint32_t)top);
	} while (!atomic_compare_exchange_weak(&free_top, &top,
					       (uint64_t)(r->index + 1) | ((top >> 32) + 1) << 32));
}

struct ha_ring *ha__ring_acquire(uint32_t tid)
{
	struct ha_ring *r = pop_free();

	if (!r) {
		uint32_t i = atomic_fetch_add(&ha__rings_used, 1);

		if (i >= HA_MAX_RINGS) {
			atomic_fetch_sub(&ha__rings_used, 1);
			return NULL;
		}
		r = &ha__rings[i];
		r->index = i;
	}
	if (!r->buf) {
		size_t size = (size_t)ha__opt.ring_kib * 1024;
		void *p;

		/* Round down to a power of two. */
		while (size & (size - 1))
			size &= size - 1;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			ha__ring_recycle(r);
			return NULL;
		}
		r->buf = p;
		r->size = size;
	}
	r->owner_tid = tid;
	r->scache_stale = 1;
	r->lost = 0;
	atomic_store(&r->stalled, 0);
	r->checked_ns = ha__now();
	atomic_store(&r->owner_exiting, 0);
	r->tail_cache = atomic_load(&r->tail);
	atomic_store_explicit(&r->state, HA_RING_ACTIVE, memory_order_release);
	return r;
}

void ha__ring_retire(struct ha_ring *r)
{
	atomic_store_explicit(&r->state, HA_RING_RETIRED, memory_order_release);
}

/* How long a producer waits for room before it counts its events as lost.
 * Waiting forever could deadlock: a thread that allocates inside a
 * dl_iterate_phdr callback holds the loader lock the writer may be waiting for. */
#define STALL_NS 2000000000ull

static HA_COLD int wait_for_room(struct ha_ring *r, uint64_t need)
{
	struct timespec ts = { 0, 20000 };
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed), start = 0;

	if (atomic_load_explicit(&r->stalled, memory_order_relaxed))
		return -1;	/* until the writer has drained this ring again */
	for (;;) {
		if (atomic_load_explicit(&ha__state, memory_order_relaxed) != HA_ON)
			return -1;
		if (!atomic_load(&ha__writer_running) && ha__writer_start() < 0)
			return -1;
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + need - r->tail_cache <= r->size)
			return 0;
		if (!start) {
			start = ha__now();
		} else if (ha__now() - start > STALL_NS) {
			static _Atomic int warned;

			atomic_store(&r->stalled, 1);
			if (!atomic_exchange(&warned, 1))
				ha__log("warning", "thread %u waited 2 s for the writer; its events are "
					"counted as lost until the writer catches up", r->owner_tid);
			return -1;
		}
		ha__writer_kick();
		nanosleep(&ts, NULL);
	}
}

struct ha_rec *ha__ring_reserve(struct ha_ring *r, unsigned words)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t off = head & (r->size - 1);
	uint64_t bytes = (uint64_t)words * 8, need = bytes;

	if (ha_unlikely(off + bytes > r->size))
		need += r->size - off;
	if (ha_unlikely(head + need - r->tail_cache > r->size)) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + need - r->tail_cache > r->size && wait_for_room(r, need) < 0)
			return NULL;
	}
	if (ha_unlikely(need != bytes)) {
		/* The record would straddle the end: pad to the end and publish
		 * the pad on its own, then start at offset 0. */
		struct ha_rec *pad = (struct ha_rec *)(r->buf + off);

		pad->words = (uint16_t)((r->size - off) / 8);	/* < one record */
		pad->kind = HA_RK_PAD;
		atomic_store_explicit(&r->head, head + (r->size - off), memory_order_release);
		off = 0;
	}
	return (struct ha_rec *)(r->buf + off);
}

void ha__ring_commit(struct ha_ring *r, unsigned words)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	atomic_store_explicit(&r->head, head + (uint64_t)words * 8, memory_order_release);
}

void ha__rings_reset_child(void)
{
	uint32_t n = atomic_load(&ha__rings_used);

	/* The child has one thread.  Every ring's unread records are the
	 * parent's to write; the child starts from empty rings. */
	atomic_store(&free_top, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct ha_ring *r = &ha__rings[n - 1 - i];

		atomic_store(&r->tail, atomic_load(&r->head));
		r->tail_cache = atomic_load(&r->head);
		atomic_store(&r->inflight, 0);
		r->lost_seen = r->lost = 0;
		r->tokmap = NULL;	/* the writer's arena and stack ids start again */
		ha__ring_recycle(r);
	}
}
