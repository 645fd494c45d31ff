/* SPDX-License-Identifier: MIT */
/* A single-producer, single-consumer channel of replay operations, between
 * the thread that reads and orders a trace and the one that applies it (the
 * live table and the per-site figures): the two halves of the analyzer's
 * work run on two cores.  Fixed capacity; each side publishes its position
 * every HA_PIPE_BATCH items, so the shared lines move once per batch, not once
 * per item.  A side that finds the channel full or empty spins a little,
 * then sleeps on a futex until the other wakes it: a full channel's producer
 * once a quarter of it is free again, not a batch (woken every 256 items, the
 * reader of an 8-thread trace slept 7,180 times, and the analyzer took 4%
 * more CPU time). */
#ifndef HOTALLOC_PIPE_H
#define HOTALLOC_PIPE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "replay.h"

struct ha_pipe_item {
	struct ha_pend op;	/* a moving realloc's release with its link set (replay.h) */
};

/* Four lines: what each side publishes, read by the other (while it spins on
 * a full or empty channel, over and over), apart from what each side keeps
 * to itself and touches at every item.  Sharing a line, the consumer's
 * position and the head the waiting producer kept reading cost the
 * consumer a miss per item (a third of its time on an 8-thread trace). */
struct ha_pipe {
	struct ha_pipe_item *v;
	size_t mask;
	/* Published by the producer. */
	_Alignas(64) _Atomic size_t tail;
	_Atomic int producer_waits;	/* asleep on a full channel */
	_Atomic bool closed;
	/* The producer's own. */
	_Alignas(64) size_t put_pos;
	size_t seen_head;
	size_t refill;		/* room a producer that found the channel full waits for */
	/* Published by the consumer. */
	_Alignas(64) _Atomic size_t head;
	_Atomic int consumer_waits;	/* asleep on an empty channel */
	/* The consumer's own. */
	_Alignas(64) size_t get_pos;
	size_t seen_tail;
};

/* cap: a power of two.  Never fails (exits on OOM). */
void ha_pipe_init(struct ha_pipe *p, size_t cap);
void ha_pipe_free(struct ha_pipe *p);
/* Producer: makes every item put so far visible (at the end of a burst). */
void ha_pipe_flush(struct ha_pipe *p);
/* ha_pipe_slot's wait for room. */
struct ha_pipe_item *ha_pipe_slot_wait(struct ha_pipe *p);

enum { HA_PIPE_BATCH = 256 };	/* items between publications */

/* Producer: room for the next item, to fill and then hand over with put;
 * waits while the channel is full. */
static inline struct ha_pipe_item *ha_pipe_slot(struct ha_pipe *p)
{
	if (__builtin_expect(p->put_pos - p->seen_head <= p->mask, 1))
		return &p->v[p->put_pos & p->mask];
	return ha_pipe_slot_wait(p);
}

static inline void ha_pipe_put(struct ha_pipe *p)
{
	if (++p->put_pos % HA_PIPE_BATCH == 0)
		ha_pipe_flush(p);
}

/* Producer, a run at a time: room for *n items in a row, 1 <= *n <= want
 * (want > 0), to fill and then hand over with put_n(*n); waits while the
 * channel is full.  A run ends where a publication is due, or the ring
 * wraps: the copying loop keeps its pointer and count in registers, where
 * slot and put, one item at a time, read the channel's fields again after
 * every store. */
static inline struct ha_pipe_item *ha_pipe_room(struct ha_pipe *p, size_t want, size_t *n)
{
	struct ha_pipe_item *it = ha_pipe_slot(p);
	size_t avail = p->mask + 1 - (p->put_pos - p->seen_head);
	size_t ring = p->mask + 1 - (p->put_pos & p->mask);
	size_t batch = HA_PIPE_BATCH - p->put_pos % HA_PIPE_BATCH;

	*n = want < avail ? want : avail;
	*n = *n < ring ? *n : ring;
	*n = *n < batch ? *n : batch;
	return it;
}

static inline void ha_pipe_put_n(struct ha_pipe *p, size_t n)
{
	p->put_pos += n;
	if (p->put_pos % HA_PIPE_BATCH == 0)
		ha_pipe_flush(p);
}

/* Producer: asks for the line of item it, a slot ahead, to write: the
 * consumer read it last, on its own core, and a store that finds it there
 * waits for it (PREFETCHW; a no-op where it is not known). */
static inline void ha_pipe_prefetch_item(const struct ha_pipe_item *it)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*it));
#else
	__builtin_prefetch(it, 1);
#endif
}
/* Producer: no more items; flushes. */
void ha_pipe_close(struct ha_pipe *p);
/* ha_pipe_get's slow path: publishing what was taken, waiting for items. */
const struct ha_pipe_item *ha_pipe_get_wait(struct ha_pipe *p);

/* Consumer: the next item, valid until the next call, or NULL once the
 * channel is closed and empty; waits while it is open and empty. */
static inline const struct ha_pipe_item *ha_pipe_get(struct ha_pipe *p)
{
	if (__builtin_expect(p->get_pos % HA_PIPE_BATCH != 0 && p->get_pos != p->seen_tail, 1))
		return &p->v[p->get_pos++ & p->mask];
	return ha_pipe_get_wait(p);
}
/* Consumer: the item k places after the one get returned last, if already
 * visible, else NULL: for prefetching what it will touch. */
static inline const struct ha_pipe_item *ha_pipe_peek(const struct ha_pipe *p, size_t k)
{
	return p->get_pos + k - 1 < p->seen_tail ? &p->v[(p->get_pos + k - 1) & p->mask] : NULL;
}

#endif
