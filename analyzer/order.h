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

struct ha_order_queue {
	struct ha_pend *v;	/* ring of cap (a power of two) operations */
	size_t head, len, cap;
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
#define HA_ORDER_SPARES 8
#define HA_ORDER_SPARE_MAX 65536	/* operations: larger rings are not kept (2 MiB) */

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
	/* Rings of queues that ran dry, kept for the next queue that needs one
	 * (threads' queues run dry and fill again all the time). */
	struct ha_pend *spare[HA_ORDER_SPARES];
	size_t spare_cap[HA_ORDER_SPARES];
	unsigned nspare;
};

void ha_order_init(struct ha_order *o);
void ha_order_free(struct ha_order *o);
/* Room for one operation of thread tid, to be filled in and then queued by
 * ha_order_commit before any other call.  Never fails (exits on OOM). */
struct ha_pend *ha_order_reserve(struct ha_order *o, uint32_t tid);
void ha_order_commit(struct ha_order *o);
/* Like reserve, for up to n operations of thread tid at once: the k-th goes
 * at ha_order_room(o, k) (replay.h), and ha_order_commit_n queues the first
 * m of them.  sorted: the caller saw them in order, (ts, op) never going back. */
void ha_order_reserve_n(struct ha_order *o, uint32_t tid, size_t n);
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
