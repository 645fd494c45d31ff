/* SPDX-License-Identifier: MIT */
/* Puts the replay's operations back in time order.  Each traced thread's
 * operations arrive in its own order, which is time order; the threads'
 * streams are interleaved in drain order.  So each thread gets a queue, an
 * operation is written once, in its queue, and at each SYNC what is older
 * than its limit is taken out of all the queues at once and radix-sorted.
 * (A heap merge of the queues cost a sift per run of one thread's
 * operations, and on an 8-thread trace runs were 2.2 operations long: 22% of
 * the analyzer's CPU time went to it, against 11% for the sort.)
 *
 * The order is (ts, op): at one instant releases come before allocations;
 * then a thread's operations keep their order, and threads are taken in the
 * order they first appeared.  An operation that arrives out of its thread's
 * order is put in its place within the queue. */
#ifndef HOTALLOC_ORDER_H
#define HOTALLOC_ORDER_H

#include <stddef.h>
#include <stdint.h>

struct ha_pend;

/* Queues are lists of fixed blocks taken from a pool shared by all: their
 * memory follows the operations pending, not each thread's largest backlog,
 * and a block is written again where it was, without fresh pages.  (Rings
 * that doubled, one per thread, held 13 to 17 MiB on an 8-thread trace
 * whose queues never held 7 MiB at once, and their growth was a third of
 * the analyzer's page faults.) */
#ifndef HA_ORDER_BLOCK
#define HA_ORDER_BLOCK 1024		/* operations in a block (32 KiB); tests use fewer */
#endif

struct ha_order_block {
	struct ha_order_block *next;
	uint32_t n;			/* places filled, from the first */
	uint32_t handle;		/* its first operation's (ha_order_op) */
	uint32_t pad[12];		/* the operations follow, on a cache line: ha_order_ops */
};

struct ha_order_queue {
	struct ha_order_block *hb, *tb;	/* head and tail blocks; NULL when empty */
	struct ha_pend *last;		/* the newest operation, while len > 0 */
	size_t len;			/* operations queued */
	uint32_t hi;			/* the oldest's place in hb */
	uint32_t tid;
	uint32_t active;	/* 1 when in the active list */
};
#define HA_ORDER_MAX_QUEUES (1u << 28)

#define HA_ORDER_DIGIT 12		/* bits sorted in a pass */
#define HA_ORDER_PASSES 3		/* passes for the 32 bits of a time */

struct ha_order {
	struct ha_order_queue *q;	/* one per thread id */
	size_t nq, capq;
	uint32_t *index;		/* tid -> queue + 1, open addressing */
	size_t index_mask;
	uint32_t *active;		/* the queues with operations (capq places) */
	size_t nactive;
	uint32_t last;			/* the queue pushed last (batches are per thread) */
	size_t pending;			/* operations queued in all */
	uint32_t *dry;			/* queues that just ran dry (capq places) */
	size_t ndry;
	uint32_t reserved;		/* the queue ha_order_reserve gave room in */
	struct ha_order_block *retired;	/* blocks just emptied, pooled at the next call */
	struct ha_order_block *pool;	/* free blocks */
	char **arenas;			/* where blocks are cut from (HA_ORDER_ARENA bytes each) */
	size_t narenas, arena_left;
	char *arena_at;
	/* ha_order_take's sort: two arrays of sort_cap, and the queues it takes from. */
	uint64_t *sort_a, *sort_b;
	size_t sort_cap;
	uint32_t *sel;			/* capq places */
	uint32_t (*count)[1u << HA_ORDER_DIGIT];	/* HA_ORDER_PASSES of them */
};

/* What ha_order_take hands out: 8 bytes an operation, as the sort moves
 * them two or three times (16, a key and a pointer, took 2.4% more wall time
 * on an 8-thread trace).  The operation's time less the oldest's in the high
 * 32 bits, its handle in the low: the arena it is in and its place there, in
 * units of 32 bytes (ha_order_op, replay.h). */
#define HA_ORDER_ARENA (2u << 20)	/* = HA_HUGE_PAGE (util.h) */
#define HA_ORDER_PLACE_BITS 16		/* a handle's place: HA_ORDER_ARENA / 32 */
#define HA_ORDER_MAX_ARENAS (1u << (32 - HA_ORDER_PLACE_BITS))	/* 128 GiB of operations */

void ha_order_init(struct ha_order *o);
void ha_order_free(struct ha_order *o);
/* Room for one operation of thread tid, to be filled in and then queued by
 * ha_order_commit before any other call.  Never fails (exits on OOM). */
struct ha_pend *ha_order_reserve(struct ha_order *o, uint32_t tid);
void ha_order_commit(struct ha_order *o);
/* Like reserve, for up to n operations of thread tid at once: returns how
 * many places it made, at least min(n, 2) and at most HA_ORDER_BLOCK; the
 * k-th is ha_order_room(o, k) (replay.h), and ha_order_commit_n queues the
 * first m of them.  sorted: the caller saw them in order, (ts, op) never
 * going back. */
size_t ha_order_reserve_n(struct ha_order *o, uint32_t tid, size_t n);
void ha_order_commit_n(struct ha_order *o, size_t m, int sorted);
/* The queued operations older than limit, dequeued at once and sorted by
 * (ts, op), then by queue, first seen first, then by place in the queue: a
 * stable radix sort of the queues' runs laid end to end.  When they are more
 * than max, or span more than 2^32 ns, only those older than an earlier
 * limit, max at most (unless more than max share one time), and the next
 * call goes on.  A moving realloc's release (HA_PEND_LINKED) gets its link
 * set (ha_pend_set_link).  Returns how many, 0 when none is older than
 * limit, and sets *out to them, entries whose operations ha_order_op
 * gives; they stay valid until the next call. */
size_t ha_order_take(struct ha_order *o, uint64_t limit, size_t max, const uint64_t **out);

#endif
