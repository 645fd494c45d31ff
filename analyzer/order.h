/* SPDX-License-Identifier: MIT */
/* Puts the replay's operations back in time order.  Each traced thread's
 * operations arrive in its own order, which is time order; the threads'
 * streams are interleaved in drain order.  So each thread gets a queue, and
 * the queues are merged through a heap on their oldest operation: nothing is
 * sorted, and an operation is written once, in its queue.
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
	uint32_t pad[13];		/* the operations follow, on a cache line: ha_order_ops */
};

struct ha_order_queue {
	struct ha_order_block *hb, *tb;	/* head and tail blocks; NULL when empty */
	size_t len;			/* operations queued */
	uint32_t hi;			/* the oldest's place in hb */
	uint32_t tid;
	uint32_t heap_pos;	/* index in the heap + 1; 0 = not in it */
};

/* A heap entry: a queue and the key of its oldest operation, kept in the
 * heap itself so that a comparison reads no queue.  opq is op << 28 | queue:
 * ties on time go to the lower op, then to the queue that came first. */
struct ha_order_key {
	uint64_t ts;
	uint32_t opq;
	uint32_t qi;
};
#define HA_ORDER_MAX_QUEUES (1u << 28)

struct ha_order {
	struct ha_order_queue *q;	/* one per thread id */
	size_t nq, capq;
	uint32_t *index;		/* tid -> queue + 1, open addressing */
	size_t index_mask;
	struct ha_order_key *heap;	/* queues with operations, by oldest */
	size_t nheap;
	uint32_t last;			/* the queue pushed last (batches are per thread) */
	size_t pending;			/* operations queued in all */
	uint32_t dry;			/* a queue that just ran dry, + 1 */
	uint32_t taken;			/* the queue ha_order_next took from last */
	uint32_t reserved;		/* the queue ha_order_reserve gave room in */
	struct ha_order_block *retired;	/* a block just emptied, pooled at the next call */
	struct ha_order_block *pool;	/* free blocks */
};

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
/* The oldest queued operation if its ts is below limit, else NULL; it is
 * dequeued, and the pointer stays valid until the next call.  *ahead is set
 * to the address of an operation some way behind it in its thread's queue
 * (0 if none), for the caller to prefetch what it will look up then. */
const struct ha_pend *ha_order_next(struct ha_order *o, uint64_t limit, uint64_t *ahead);
/* Like ha_order_next, for a run: up to max of the oldest operations, all from
 * one queue and all older than limit and than every other queue's oldest, so
 * in order; they are dequeued, and stay valid, contiguous, until the next
 * call.  Returns the first and sets *n (1..max), or NULL.  An operation's
 * successor in its thread is the next one of the run, or, for the last,
 * what ha_order_peek_addr tells. */
const struct ha_pend *ha_order_run(struct ha_order *o, uint64_t limit, size_t max, size_t *n);
/* The address of the operation now first in the queue the last one returned
 * by ha_order_next came from (its thread's next), or 0 if there is none. */
uint64_t ha_order_peek_addr(const struct ha_order *o);

#endif
