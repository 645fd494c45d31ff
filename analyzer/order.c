/* SPDX-License-Identifier: MIT */
/* Per-thread queues merged through a heap: see order.h. */
#include <stdlib.h>
#include <string.h>
#include "order.h"
#include "replay.h"
#include "util.h"

enum { AHEAD = 8 };	/* how far behind in its queue *ahead looks */
enum { QUEUE_AHEAD = 16 };	/* and how much further the queue is prefetched */

/* Whether the queue keyed a goes before the one keyed b. */
static inline int before(const struct ha_order_key *a, const struct ha_order_key *b)
{
	return a->ts != b->ts ? a->ts < b->ts : a->opq < b->opq;
}

_Static_assert(sizeof(struct ha_order_block) == 64, "a block's header is one cache line");

/* Queue qi's key: that of its oldest operation. */
static inline struct ha_order_key key_of(const struct ha_order *o, uint32_t qi)
{
	const struct ha_order_queue *q = &o->q[qi];
	const struct ha_pend *p = &ha_order_ops(q->hb)[q->hi];

	return (struct ha_order_key){ p->ts, (uint32_t)ha_pend_op(p) << 28 | qi, qi };
}

/* The queue's i-th operation (i < len): a walk along its blocks, for the
 * rare operation that arrives out of order. */
static struct ha_pend *at(const struct ha_order_queue *q, size_t i)
{
	const struct ha_order_block *b = q->hb;

	i += q->hi;
	while (i >= b->n) {
		i -= b->n;
		b = b->next;
	}
	return &ha_order_ops(b)[i];
}

/* The operation k places after the oldest, if it is in the head block or
 * the next, else NULL: for prefetching. */
static inline const struct ha_pend *ahead_of(const struct ha_order_queue *q, size_t k)
{
	size_t i = q->hi + k;

	if (k >= q->len)
		return NULL;
	if (i < q->hb->n)
		return &ha_order_ops(q->hb)[i];
	i -= q->hb->n;
	return q->hb->next && i < q->hb->next->n ? &ha_order_ops(q->hb->next)[i] : NULL;
}

static struct ha_order_block *block_get(struct ha_order *o)
{
	struct ha_order_block *b = o->pool;

	if (b)
		o->pool = b->next;
	else
		b = xaligned(64, sizeof(*b) + HA_ORDER_BLOCK * sizeof(struct ha_pend));
	b->next = NULL;
	b->n = 0;
	return b;
}

static void block_put(struct ha_order *o, struct ha_order_block *b)
{
	b->next = o->pool;
	o->pool = b;
}

void ha_order_init(struct ha_order *o)
{
	memset(o, 0, sizeof(*o));
	o->index_mask = 63;
	o->index = xcalloc(o->index_mask + 1, sizeof(*o->index));
	o->last = UINT32_MAX;
}

static void free_list(struct ha_order_block *b)
{
	while (b) {
		struct ha_order_block *next = b->next;

		free(b);
		b = next;
	}
}

void ha_order_free(struct ha_order *o)
{
	for (size_t i = 0; i < o->nq; i++)
		free_list(o->q[i].hb);
	free_list(o->pool);
	free(o->retired);
	free(o->q);
	free(o->index);
	free(o->heap);
	memset(o, 0, sizeof(*o));
}

static size_t home(const struct ha_order *o, uint32_t tid)
{
	return (size_t)(((uint64_t)tid * 0x9e3779b97f4a7c15ull) >> 32) & o->index_mask;
}

static void index_put(struct ha_order *o, uint32_t tid, uint32_t qi)
{
	size_t i = home(o, tid);

	while (o->index[i])
		i = (i + 1) & o->index_mask;
	o->index[i] = qi + 1;
}

static uint32_t queue_of(struct ha_order *o, uint32_t tid)
{
	size_t i;

	if (o->last < o->nq && o->q[o->last].tid == tid)
		return o->last;
	for (i = home(o, tid); o->index[i]; i = (i + 1) & o->index_mask)
		if (o->q[o->index[i] - 1].tid == tid)
			return o->last = o->index[i] - 1;
	if (o->nq == HA_ORDER_MAX_QUEUES)
		ha_die("more than %u threads in one trace", HA_ORDER_MAX_QUEUES);
	if (o->nq == o->capq) {
		o->capq = o->capq ? 2 * o->capq : 16;
		o->q = xrealloc(o->q, o->capq * sizeof(*o->q));
		o->heap = xrealloc(o->heap, o->capq * sizeof(*o->heap));
	}
	memset(&o->q[o->nq], 0, sizeof(o->q[o->nq]));
	o->q[o->nq].tid = tid;
	if (2 * (o->nq + 1) > o->index_mask + 1) {	/* at most half full */
		free(o->index);
		o->index_mask = 2 * o->index_mask + 1;
		o->index = xcalloc(o->index_mask + 1, sizeof(*o->index));
		for (size_t k = 0; k < o->nq; k++)
			index_put(o, o->q[k].tid, (uint32_t)k);
	}
	index_put(o, tid, (uint32_t)o->nq);
	return o->last = (uint32_t)o->nq++;
}

static void heap_set(struct ha_order *o, size_t pos, struct ha_order_key k)
{
	o->heap[pos] = k;
	o->q[k.qi].heap_pos = (uint32_t)pos + 1;
}

static void sift_up(struct ha_order *o, size_t pos)
{
	struct ha_order_key k = o->heap[pos];

	while (pos) {
		size_t parent = (pos - 1) / 2;

		if (!before(&k, &o->heap[parent]))
			break;
		heap_set(o, pos, o->heap[parent]);
		pos = parent;
	}
	heap_set(o, pos, k);
}

static void sift_down(struct ha_order *o, size_t pos)
{
	struct ha_order_key k = o->heap[pos];

	for (;;) {
		size_t c = 2 * pos + 1;

		if (c >= o->nheap)
			break;
		if (c + 1 < o->nheap && before(&o->heap[c + 1], &o->heap[c]))
			c++;
		if (!before(&o->heap[c], &k))
			break;
		heap_set(o, pos, o->heap[c]);
		pos = c;
	}
	heap_set(o, pos, k);
}

/* What the last call left to put back: a block emptied under a run it
 * returned, and a queue that ran dry, whose block goes back to the pool if
 * nothing came in since (a thread that is gone would otherwise keep it). */
static inline void settle(struct ha_order *o)
{
	if (o->retired) {
		block_put(o, o->retired);
		o->retired = NULL;
	}
	if (o->dry) {
		struct ha_order_queue *q = &o->q[o->dry - 1];

		o->dry = 0;
		if (!q->len && q->hb) {
			block_put(o, q->hb);
			q->hb = q->tb = NULL;
			q->hi = 0;
		}
	}
}

struct ha_pend *ha_order_reserve(struct ha_order *o, uint32_t tid)
{
	ha_order_reserve_n(o, tid, 1);
	return ha_order_room(o, 0);
}

size_t ha_order_reserve_n(struct ha_order *o, uint32_t tid, size_t n)
{
	struct ha_order_queue *q;
	size_t room, need = n < 2 ? n : 2;

	settle(o);
	o->reserved = queue_of(o, tid);
	q = &o->q[o->reserved];
	if (!q->tb) {
		q->hb = q->tb = block_get(o);
		q->hi = 0;
	} else if (!q->len) {
		/* Empty, with its one block: write from the start again. */
		q->tb->n = 0;
		q->hi = 0;
	} else if (HA_ORDER_BLOCK - q->tb->n < need) {
		struct ha_order_block *b = block_get(o);

		q->tb->next = b;
		q->tb = b;
	}
	room = HA_ORDER_BLOCK - q->tb->n;
	return n < room ? n : room;
}

/* Place i of the queue, i <= len: len is the one reserved after the last. */
static struct ha_pend *place(const struct ha_order_queue *q, size_t i)
{
	return i == q->len ? &ha_order_ops(q->tb)[q->tb->n] : at(q, i);
}

void ha_order_commit(struct ha_order *o)
{
	uint32_t qi = o->reserved;
	struct ha_order_queue *q = &o->q[qi];
	struct ha_pend *p = place(q, q->len);
	size_t i = q->len;

	/* Behind its predecessors unless it is older (never in a sound trace
	 * but for equal times): then among them, in order. */
	if (i && (at(q, i - 1)->ts > p->ts ||
		  (at(q, i - 1)->ts == p->ts && ha_pend_op(at(q, i - 1)) > ha_pend_op(p)))) {
		struct ha_pend tmp = *p;

		for (; i > 0; i--) {
			struct ha_pend *prev = at(q, i - 1);

			if (prev->ts < tmp.ts || (prev->ts == tmp.ts && ha_pend_op(prev) <= ha_pend_op(&tmp)))
				break;
			*place(q, i) = *prev;
		}
		*place(q, i) = tmp;
	}
	q->tb->n++;
	q->len++;
	o->pending++;
	if (!q->heap_pos) {
		o->heap[o->nheap] = key_of(o, qi);
		sift_up(o, o->nheap++);
	} else if (i == 0) {
		o->heap[q->heap_pos - 1] = key_of(o, qi);	/* its oldest changed */
		sift_up(o, q->heap_pos - 1);
	}
}

void ha_order_commit_n(struct ha_order *o, size_t m, int sorted)
{
	uint32_t qi = o->reserved;
	struct ha_order_queue *q = &o->q[qi];
	const struct ha_pend *first = place(q, q->len);

	if (!m)
		return;
	/* Out of order somewhere (never in a sound trace but for equal
	 * times): each into its place, one at a time. */
	if (!sorted || (q->len && (at(q, q->len - 1)->ts > first->ts ||
				   (at(q, q->len - 1)->ts == first->ts &&
				    ha_pend_op(at(q, q->len - 1)) > ha_pend_op(first))))) {
		while (m--)
			ha_order_commit(o);
		return;
	}
	q->tb->n += (uint32_t)m;
	q->len += m;
	o->pending += m;
	if (!q->heap_pos) {
		o->heap[o->nheap] = key_of(o, qi);
		sift_up(o, o->nheap++);
	}
}

/* Dequeues k operations from the front of the top queue, q, and puts the
 * heap right: q's new oldest, or q out of it.  A head block left behind is
 * pooled at the next call (what was returned from it is still in use). */
static void dequeue_top(struct ha_order *o, struct ha_order_queue *q, size_t k)
{
	q->hi += (uint32_t)k;
	q->len -= k;
	o->pending -= k;
	if (q->hi == q->hb->n && q->hb != q->tb) {
		o->retired = q->hb;
		q->hb = q->hb->next;
		q->hi = 0;
	}
	if (q->len) {
		o->heap[0] = key_of(o, o->taken);
		if (o->nheap > 1)
			sift_down(o, 0);
	} else {
		q->heap_pos = 0;
		if (--o->nheap) {
			heap_set(o, 0, o->heap[o->nheap]);
			sift_down(o, 0);
		}
		o->dry = (uint32_t)(q - o->q) + 1;
	}
}

const struct ha_pend *ha_order_next(struct ha_order *o, uint64_t limit, uint64_t *ahead)
{
	struct ha_order_queue *q;
	const struct ha_pend *p, *a;

	settle(o);
	if (!o->nheap || o->heap[0].ts >= limit)
		return NULL;
	o->taken = o->heap[0].qi;
	q = &o->q[o->taken];
	p = &ha_order_ops(q->hb)[q->hi];
	a = ahead_of(q, AHEAD + 1);
	*ahead = a ? a->addr : 0;
	/* The queue itself was written a SYNC or two ago and has left the
	 * caches when many threads are busy: ask for it ahead too. */
	a = ahead_of(q, AHEAD + 1 + QUEUE_AHEAD);
	if (a)
		__builtin_prefetch(a);
	dequeue_top(o, q, 1);
	return p;
}

const struct ha_pend *ha_order_run(struct ha_order *o, uint64_t limit, size_t max, size_t *n)
{
	struct ha_order_key bound = { limit, 0, 0 };
	struct ha_order_queue *q;
	const struct ha_pend *p;
	size_t k, room;

	settle(o);
	if (!o->nheap || o->heap[0].ts >= limit)
		return NULL;
	/* The run ends before the next queue's oldest, or at limit. */
	for (size_t c = 1; c <= 2 && c < o->nheap; c++)
		if (before(&o->heap[c], &bound))
			bound = o->heap[c];
	o->taken = o->heap[0].qi;
	q = &o->q[o->taken];
	p = &ha_order_ops(q->hb)[q->hi];
	room = q->hb->n - q->hi;	/* contiguous up to the block's end */
	if (max > room)
		max = room;
	if (max > q->len)
		max = q->len;
	for (k = 1; k < max; k++) {
		struct ha_order_key key = { p[k].ts, (uint32_t)ha_pend_op(&p[k]) << 28 | o->taken, 0 };

		if (!before(&key, &bound))
			break;
	}
	dequeue_top(o, q, k);
	*n = k;
	return p;
}

uint64_t ha_order_peek_addr(const struct ha_order *o)
{
	const struct ha_order_queue *q;

	if (o->taken >= o->nq)
		return 0;
	q = &o->q[o->taken];
	return q->len ? ha_order_ops(q->hb)[q->hi].addr : 0;
}
