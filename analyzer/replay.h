/* SPDX-License-Identifier: MIT */
/* Replay: puts the events of all threads back in time order (within the
 * window the trace's SYNC records allow), pairs every free with its block,
 * and keeps the totals.  Memory grows with the live blocks, not the trace. */
#ifndef HOTALLOC_REPLAY_H
#define HOTALLOC_REPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>
#include "addrmap.h"
#include "order.h"
#include "hotalloc/format.h"
#include "trace.h"

struct ha_totals {
	uint64_t calls[HA_EV_NKINDS];
	uint64_t allocations, frees, bytes_allocated;
	uint64_t live_bytes, live_blocks;
	uint64_t peak_bytes, peak_ts;
	uint64_t unmatched_frees;	/* frees of blocks the trace never saw allocated */
	uint64_t conflicts;		/* an address handed out again while still live */
	uint64_t failed;		/* calls that returned no block */
	uint64_t lost;			/* events the tracer could not record */
	uint64_t first_ts, last_ts;
};

/* One replayed operation, in time order: 32 bytes, as the replay keeps a
 * SYNC's worth or two of them queued and reads them back from memory.  The
 * size and the flags share a word, read through the accessors below (plain
 * shifts: bit-fields set one at a time stall on store forwarding). */
struct ha_pend {
	uint64_t ts;
	uint64_t addr;
	uint64_t bits;		/* size (48 bits), op, kind, call, linked */
	uint32_t stack;
	uint32_t tid;
};
#define HA_PEND_SIZE_MAX ((1ull << 48) - 1)	/* no block is larger */
#define HA_PEND_OP_SHIFT 48			/* HA_OP_*, 3 bits */
#define HA_PEND_KIND_SHIFT 51			/* the call's enum ha_event_kind, 4 bits */
#define HA_PEND_CALL (1ull << 55)		/* this op counts its event's call (one per event does) */
#define HA_PEND_LINKED (1ull << 56)		/* a moving realloc's release part: its block
						 * goes on at its thread's next op's address */

static inline uint64_t ha_pend_size(const struct ha_pend *p)
{
	return p->bits & HA_PEND_SIZE_MAX;
}

static inline unsigned ha_pend_op(const struct ha_pend *p)
{
	return (unsigned)(p->bits >> HA_PEND_OP_SHIFT) & 7;
}

static inline unsigned ha_pend_kind(const struct ha_pend *p)
{
	return (unsigned)(p->bits >> HA_PEND_KIND_SHIFT) & 15;
}

/* A block's operations (order.h). */
static inline struct ha_pend *ha_order_ops(const struct ha_order_block *b)
{
	return (struct ha_pend *)(b + 1);
}

/* The operation of an entry ha_order_take handed out (order.h). */
static inline struct ha_pend *ha_order_op(const struct ha_order *o, uint64_t e)
{
	uint32_t h = (uint32_t)e;

	return (struct ha_pend *)(o->arenas[h >> HA_ORDER_PLACE_BITS] +
				  (size_t)(h & ((1u << HA_ORDER_PLACE_BITS) - 1)) * sizeof(struct ha_pend));
}

/* Place k of the room ha_order_reserve_n made (order.h). */
static inline struct ha_pend *ha_order_room(const struct ha_order *o, size_t k)
{
	const struct ha_order_block *b = o->q[o->reserved].tb;

	return &ha_order_ops(b)[b->n + k];
}

/* A moving realloc's release (HA_PEND_LINKED) carries its new address, once
 * it is known, in its size bits and its stack, which a release does not use:
 * so that an operation crosses to the applying thread in 32 bytes. */
static inline void ha_pend_set_link(struct ha_pend *p, uint64_t link)
{
	p->bits = (p->bits & ~HA_PEND_SIZE_MAX) | (link & HA_PEND_SIZE_MAX);
	p->stack = (uint32_t)(link >> 48);
}

static inline uint64_t ha_pend_link(const struct ha_pend *p)
{
	return (p->bits & HA_PEND_SIZE_MAX) | (uint64_t)p->stack << 48;
}

/* A block as the figures see it: its table fields with its weight and its
 * whole growth count, which the table keeps in a compact form (addrmap.h). */
struct ha_life {
	uint64_t addr, ts, size;
	uint32_t stack, tid;
	uint64_t weight;	/* allocations it stands for: 1, or more in a sampled trace */
	uint64_t grows;		/* growing reallocs in its history */
};

/* A growth count of HA_BLOCK_GROWS_SAT or more, by the block's address:
 * set whenever a block's field reaches HA_BLOCK_GROWS_SAT, read only while
 * it is there, so an entry left by a block gone is never read. */
struct ha_aside {
	UT_hash_handle hh;
	uint64_t addr, grows;
};

enum { HA_OP_FREE = 0, HA_OP_RESIZE = 1, HA_OP_ALLOC = 2, HA_OP_NOP = 3, HA_OP_MARK = 4 };

/* A marker name seen in the trace, and the roles --from/--to/--per give it. */
struct ha_mark_name {
	char *name;
	uint64_t count;			/* occurrences inside the window */
	bool is_from, is_to, is_per;
};

enum { HA_WIN_BEFORE, HA_WIN_IN, HA_WIN_AFTER };

/* Applying runs on a thread of its own when it can (replay.c).  Each side's
 * fields are kept apart, a cache line between them, so that neither side's
 * stores evict the other's lines. */
struct ha_replay {
	/* Set before the first event; read by both sides. */
	uint32_t sample_bytes;		/* the trace's HOTALLOC_SAMPLE, 0 = exact */
	/* The window (--from, --to) and the per-operation marker (--per). */
	const char *from, *to, *per;
	/* Called when the window closes (--to) and at the end, if still open:
	 * the moment to take leaks from the live blocks. */
	void (*closing)(void *ctx, struct ha_replay *r);
	/* Optional observer of each operation after it was applied (for reports
	 * beyond the totals): freed is the block it released and born the block
	 * it created (NULL when none); new_peak says the total peak was raised. */
	void (*observe)(void *ctx, const struct ha_pend *op, const struct ha_life *freed,
			const struct ha_life *born, bool new_peak);
	void *observe_ctx;
	char gap0[64];

	/* The reading side: the caller's thread. */
	struct ha_order order;		/* operations waiting for their SYNC */
	uint64_t first_ts, last_ts;	/* copied to tot at the end */
	struct ha_mark_name *marks;	/* index = mark id; stack field of MARK ops */
	size_t nmarks;
	void *mark_index;		/* name -> id */
	struct ha_pipe *pipe;		/* to the applying thread; NULL: applied here */
	pthread_t applier;
	bool applier_tried;
	char gap1[64];

	/* The applying side: from the first release to the end, only the
	 * applying thread touches these (tot.lost excepted: the reader's) and
	 * what observe and closing touch. */
	struct ha_totals tot;
	bool load_ahead;		/* set before the applier starts (replay.c) */
	struct ha_addrmap live;
	struct ha_addrmap moving;	/* realloc'd blocks between their release and new address */
	struct ha_aside *aside_live, *aside_moving;	/* the two tables' long growth counts */
	uint64_t serial;		/* allocations so far: a sampled weight's random draw */
	int window;			/* HA_WIN_* */
	uint64_t window_start, window_end;
	bool window_closed;		/* leaks were taken when --to came */
	uint64_t *mark_counts;		/* by mark id: occurrences in the window */
	size_t nmark_counts;
};

/* from, to, per: marker names or NULL; they must outlive the replay. */
void ha_replay_init(struct ha_replay *r, const char *from, const char *to, const char *per);
void ha_replay_free(struct ha_replay *r);
/* Visitor entry points: feed events and syncs in file order.  The batch one
 * (trace.h) decodes a BATCH record's events straight into their thread's
 * queue. */
void ha_replay_batch(struct ha_replay *r, struct ha_cursor *c, uint32_t tid, uint64_t ts,
		     uint64_t count, uint32_t nstacks, uint64_t *last_ts);
void ha_replay_sync(struct ha_replay *r, uint64_t ts);
/* Applies every pending event: call at the end of the trace. */
void ha_replay_finish(struct ha_replay *r);
/* Block b of the live table, as the figures see it (for closing). */
struct ha_life ha_replay_life(const struct ha_replay *r, const struct ha_block *b);

#endif
