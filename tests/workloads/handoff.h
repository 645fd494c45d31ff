/* SPDX-License-Identifier: MIT */
/* A single-producer, single-consumer ring of pointers, for workloads that hand blocks
 * from one thread to the next (cross-thread frees).  C only (stdatomic). */
#ifndef HOTALLOC_TESTS_HANDOFF_H
#define HOTALLOC_TESTS_HANDOFF_H

#include <stdatomic.h>
#include <stddef.h>

#define RING_SIZE 256		/* a power of two */

struct ring {
	_Alignas(64) atomic_size_t head;	/* next slot to write; producer only */
	_Alignas(64) atomic_size_t tail;	/* next slot to read; consumer only */
	_Alignas(64) void *slot[RING_SIZE];
};

/* Producer only: 1 when p was queued, 0 when the ring is full. */
static inline int ring_push(struct ring *r, void *p)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (head - tail == RING_SIZE)
		return 0;
	r->slot[head % RING_SIZE] = p;
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return 1;
}

/* Consumer only: the oldest pointer, or NULL when the ring is empty. */
static inline void *ring_pop(struct ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	void *p;

	if (head == tail)
		return NULL;
	p = r->slot[tail % RING_SIZE];
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return p;
}

#endif
