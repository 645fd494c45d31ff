/* SPDX-License-Identifier: MIT */
/* A single-producer, single-consumer channel of replay operations, between
 * the thread that reads and orders a trace and the one that applies it (the
 * live table and the per-site figures): the two halves of the analyzer's
 * work run on two cores.  Fixed capacity; each side publishes its position
 * every PIPE_BATCH items, so the shared lines move once per batch, not once
 * per item.  A side that finds the channel full or empty spins a little,
 * then sleeps on a futex until the other wakes it. */
#ifndef HOTALLOC_PIPE_H
#define HOTALLOC_PIPE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "replay.h"

struct ha_pipe_item {
	struct ha_pend op;
	uint64_t link;		/* a moving realloc's release: the new address */
};

struct ha_pipe {
	struct ha_pipe_item *v;
	size_t mask;
	/* The producer's line. */
	_Alignas(64) _Atomic size_t tail;
	size_t put_pos, seen_head;
	_Atomic int producer_waits;	/* asleep on a full channel */
	/* The consumer's line. */
	_Alignas(64) _Atomic size_t head;
	size_t get_pos, seen_tail;
	_Atomic int consumer_waits;	/* asleep on an empty channel */
	_Atomic bool closed;
};

/* cap: a power of two.  Never fails (exits on OOM). */
void ha_pipe_init(struct ha_pipe *p, size_t cap);
void ha_pipe_free(struct ha_pipe *p);
/* Producer: room for the next item, to fill and then hand over with put;
 * waits while the channel is full. */
struct ha_pipe_item *ha_pipe_slot(struct ha_pipe *p);
void ha_pipe_put(struct ha_pipe *p);
/* Producer: makes every item put so far visible (at the end of a burst). */
void ha_pipe_flush(struct ha_pipe *p);
/* Producer: no more items; flushes. */
void ha_pipe_close(struct ha_pipe *p);
/* Consumer: the next item, valid until the next call, or NULL once the
 * channel is closed and empty; waits while it is open and empty. */
const struct ha_pipe_item *ha_pipe_get(struct ha_pipe *p);
/* Consumer: the item k places after the one get returned last, if already
 * visible, else NULL: for prefetching what it will touch. */
static inline const struct ha_pipe_item *ha_pipe_peek(const struct ha_pipe *p, size_t k)
{
	return p->get_pos + k - 1 < p->seen_tail ? &p->v[(p->get_pos + k - 1) & p->mask] : NULL;
}

#endif
