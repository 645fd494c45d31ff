/* SPDX-License-Identifier: MIT */
/* Per-thread queues, taken out in time order by a radix sort: see order.h. */
#include <stdlib.h>
#include <string.h>
#include "order.h"
#include "replay.h"
#include "util.h"

/* Under AddressSanitizer, a block's operations are poisoned while it is in
 * the pool or not yet cut from its arena: a read of an operation after the
 * call that handed it out (order.h) is reported, not served stale. */
#if defined(__SANITIZE_ADDRESS__)
#define HA_ORDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HA_ORDER_ASAN 1
#endif
#endif
#ifdef HA_ORDER_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

_Static_assert(sizeof(struct ha_order_block) == 64, "a block's header is one cache line");
_Static_assert(HA_ORDER_ARENA == HA_HUGE_PAGE, "an arena is a huge page");
_Static_assert(HA_ORDER_ARENA / sizeof(struct ha_pend) == 1u << HA_ORDER_PLACE_BITS,
	       "a handle's place numbers an arena's operations");
_Static_assert(sizeof(struct ha_order_block) % sizeof(struct ha_pend) == 0, "operations on handles");

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

enum { BLOCK_BYTES = sizeof(struct ha_order_block) + HA_ORDER_BLOCK * sizeof(struct ha_pend) };
_Static_assert(BLOCK_BYTES <= HA_ORDER_ARENA, "a block fits an arena");

/* A free block: from the pool, else cut from the current arena, 2 MiB on a
 * huge page, which is one page fault for 63 blocks, not 8 for one (a
 * pool that grew to 8 MiB was 17% of an 8-thread trace's faults). */
static struct ha_order_block *block_get(struct ha_order *o)
{
	struct ha_order_block *b = o->pool;

	if (b) {
		o->pool = b->next;
	} else {
		if (o->arena_left < BLOCK_BYTES) {
			if (o->narenas == HA_ORDER_MAX_ARENAS)
				ha_die("more than %u GiB of operations waiting for their time",
				       HA_ORDER_MAX_ARENAS / 512);
			if (o->narenas % 16 == 0)
				o->arenas = xrealloc(o->arenas, (o->narenas + 16) * sizeof(*o->arenas));
			o->arena_at = o->arenas[o->narenas++] = xhuge(HA_ORDER_ARENA);
			o->arena_left = HA_ORDER_ARENA;
			POISON(o->arena_at, HA_ORDER_ARENA);
		}
		b = (struct ha_order_block *)o->arena_at;
		o->arena_at += BLOCK_BYTES;
		o->arena_left -= BLOCK_BYTES;
		UNPOISON(b, sizeof(*b));
		b->handle = (uint32_t)(o->narenas - 1) << HA_ORDER_PLACE_BITS |
			    (uint32_t)(((char *)ha_order_ops(b) - o->arenas[o->narenas - 1]) /
				       sizeof(struct ha_pend));
	}
	UNPOISON(ha_order_ops(b), HA_ORDER_BLOCK * sizeof(struct ha_pend));
	b->next = NULL;
	b->n = 0;
	return b;
}

static void block_put(struct ha_order *o, struct ha_order_block *b)
{
	b->next = o->pool;
	o->pool = b;
	POISON(ha_order_ops(b), HA_ORDER_BLOCK * sizeof(struct ha_pend));
}

void ha_order_init(struct ha_order *o)
{
	memset(o, 0, sizeof(*o));
	o->index_mask = 63;
	o->index = xcalloc(o->index_mask + 1, sizeof(*o->index));
	o->last = UINT32_MAX;
}

void ha_order_free(struct ha_order *o)
{
	for (size_t i = 0; i < o->narenas; i++) {
		UNPOISON(o->arenas[i], HA_ORDER_ARENA);
		free(o->arenas[i]);
	}
	free(o->arenas);
	free(o->dry);
	free(o->sel);
	free(o->sort_a);	/* sort_b is in it */
	free(o->count);
	free(o->q);
	free(o->index);
	free(o->active);
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
		o->active = xrealloc(o->active, o->capq * sizeof(*o->active));
		o->dry = xrealloc(o->dry, o->capq * sizeof(*o->dry));
		o->sel = xrealloc(o->sel, o->capq * sizeof(*o->sel));
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

/* What the last call left to put back: blocks emptied under what it
 * returned, and queues that ran dry, whose block goes back to the pool if
 * nothing came in since (a thread that is gone would otherwise keep it). */
static inline void settle(struct ha_order *o)
{
	while (o->retired) {
		struct ha_order_block *b = o->retired;

		o->retired = b->next;
		block_put(o, b);
	}
	while (o->ndry) {
		struct ha_order_queue *q = &o->q[o->dry[--o->ndry]];

		if (!q->len && q->hb) {
			block_put(o, q->hb);
			q->hb = q->tb = NULL;
			q->hi = 0;
		}
	}
}

/* q's head block, emptied: to the pool at the next call. */
static inline void retire_head(struct ha_order *o, struct ha_order_queue *q)
{
	struct ha_order_block *b = q->hb;

	q->hb = b->next;
	q->hi = 0;
	b->next = o->retired;
	o->retired = b;
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

/* Queue qi, with operations now, among the active ones. */
static inline void activate(struct ha_order *o, uint32_t qi)
{
	if (!o->q[qi].active) {
		o->q[qi].active = 1;
		o->active[o->nactive++] = qi;
	}
}

void ha_order_commit(struct ha_order *o)
{
	uint32_t qi = o->reserved;
	struct ha_order_queue *q = &o->q[qi];
	struct ha_pend *p = place(q, q->len);
	size_t i = q->len;

	/* Behind its predecessors unless it is older (never in a sound trace
	 * but for equal times): then among them, in order. */
	if (i && (q->last->ts > p->ts ||
		  (q->last->ts == p->ts && ha_pend_op(q->last) > ha_pend_op(p)))) {
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
	/* The newest is in the place just filled, moved there if it had to. */
	q->last = &ha_order_ops(q->tb)[q->tb->n - 1];
	o->pending++;
	activate(o, qi);
}

void ha_order_commit_n(struct ha_order *o, size_t m, int sorted)
{
	uint32_t qi = o->reserved;
	struct ha_order_queue *q = &o->q[qi];
	const struct ha_pend *first = place(q, q->len);

	if (!m)
		return;
	/* Out of order somewhere (never in a sound trace but for equal
	 * times): each into its place, one at a time.  (The newest queued is
	 * kept: found by a walk along the blocks, a one-thread trace's queue
	 * of a thousand blocks cost 13% of its analysis.) */
	if (!sorted || (q->len && (q->last->ts > first->ts ||
				   (q->last->ts == first->ts &&
				    ha_pend_op(q->last) > ha_pend_op(first))))) {
		while (m--)
			ha_order_commit(o);
		return;
	}
	q->tb->n += (uint32_t)m;
	q->len += m;
	q->last = &ha_order_ops(q->tb)[q->tb->n - 1];
	o->pending += m;
	activate(o, qi);
}

/* Sorts n entries of a by their time (ha_order_take), stably; b is as large;
 * returns the one that holds them sorted.  Times are below 2^bits.  Least
 * significant digit first, each pass a counting sort on 12 bits (4096
 * counters, 16 KiB a pass): a SYNC's worth of operations, times within a few
 * milliseconds of each other, take two passes, whose counts the caller made
 * as it wrote the entries (o->count[0] and [1]); a third is counted here. */
enum { DIGIT = HA_ORDER_DIGIT, DIGIT_MASK = (1u << DIGIT) - 1, RADIX_FROM = 48, COUNTED = 2 };
enum { KEY = 32 };	/* where an entry's time starts */

static uint64_t *radix_sort(struct ha_order *o, uint64_t *a, uint64_t *b, size_t n, unsigned bits)
{
	unsigned passes = (bits + DIGIT - 1) / DIGIT;
	uint32_t (*count)[1u << DIGIT] = o->count;

	if (n < RADIX_FROM) {
		/* Few: insertion, stable. */
		for (size_t i = 1; i < n; i++) {
			uint64_t e = a[i];
			size_t j = i;

			for (; j > 0 && a[j - 1] >> KEY > e >> KEY; j--)
				a[j] = a[j - 1];
			a[j] = e;
		}
		return a;
	}
	if (passes > COUNTED) {
		memset(count[COUNTED], 0, (passes - COUNTED) * sizeof(count[0]));
		for (size_t i = 0; i < n; i++)
			for (unsigned k = COUNTED; k < passes; k++)
				count[k][(a[i] >> (KEY + k * DIGIT)) & DIGIT_MASK]++;
	}
	for (unsigned k = 0, shift = KEY; k < passes; k++, shift += DIGIT) {
		uint32_t sum = 0, *c = count[k];
		uint64_t *t;

		if (c[(a[0] >> shift) & DIGIT_MASK] == n)
			continue;	/* one digit for all: nothing moves */
		for (size_t d = 0; d <= DIGIT_MASK; d++) {
			uint32_t m = c[d];

			c[d] = sum;
			sum += m;
		}
		for (size_t i = 0; i < n; i++)
			b[c[(a[i] >> shift) & DIGIT_MASK]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	return a;
}

/* Operations of one time from different threads, sorted by time alone, put
 * in (time, op) order: releases before allocations, otherwise as they were.
 * (Entries without the op: a SYNC's times take two passes, not three.) */
static void order_ties(const struct ha_order *o, uint64_t *e, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (__builtin_expect(e[i] >> KEY != e[i - 1] >> KEY, 1))
			continue;
		uint64_t x = e[i];
		unsigned op = ha_pend_op(ha_order_op(o, x));
		size_t j = i;

		for (; j > 0 && e[j - 1] >> KEY == x >> KEY && ha_pend_op(ha_order_op(o, e[j - 1])) > op; j--)
			e[j] = e[j - 1];
		e[j] = x;
	}
}

/* How many of q's operations are older than limit, or some number above
 * budget once that many are: whole blocks, then a binary search in the block
 * where they end (a queue is in time order). */
static size_t count_below(const struct ha_order_queue *q, uint64_t limit, size_t budget)
{
	size_t n = 0;

	for (const struct ha_order_block *b = q->hb; b && n <= budget; b = b->next) {
		const struct ha_pend *v = ha_order_ops(b);
		uint32_t lo = b == q->hb ? q->hi : 0, hi = b->n;

		if (lo == hi)
			break;
		if (v[hi - 1].ts < limit) {
			n += hi - lo;
			continue;
		}
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (v[mid].ts < limit)
				lo = mid + 1;
			else
				hi = mid;
		}
		n += lo - (b == q->hb ? q->hi : 0);
		break;
	}
	return n;
}

/* How many queued operations are older than limit, or some number above max
 * once that many are: counting stops there, so that a backlog far larger than
 * max, taken in parts, costs each part what max does, not what the backlog
 * does (32 million operations queued took 9 s in parts of 65,536 when every
 * part counted them all). */
static size_t count_all_below(const struct ha_order *o, size_t nsel, uint64_t limit, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < nsel && n <= max; i++)
		n += count_below(&o->q[o->sel[i]], limit, max - n);
	return n;
}

static int by_index(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

size_t ha_order_take(struct ha_order *o, uint64_t limit, size_t max, const uint64_t **out)
{
	size_t nsel = 0, n = 0, want, kept = 0, from = 0;
	uint64_t base = UINT64_MAX, span = 0, *e;

	settle(o);
	*out = NULL;
	/* The queues with operations older than limit, and the oldest of all. */
	for (size_t i = 0; i < o->nactive; i++) {
		const struct ha_order_queue *q = &o->q[o->active[i]];
		uint64_t ts = ha_order_ops(q->hb)[q->hi].ts;

		if (ts < limit) {
			o->sel[nsel++] = o->active[i];
			if (ts < base)
				base = ts;
		}
	}
	if (!nsel)
		return 0;
	/* Entries hold times since base in 32 bits: a longer span is taken
	 * in parts (a trace with a pause between two SYNCs). */
	if (limit - base > (1ull << KEY))
		limit = base + (1ull << KEY);
	/* Too many: an earlier limit, halving the time, for a part of them;
	 * the rest come with the next call.  (Not below base + 1: what is
	 * stamped base is taken whole, however many.) */
	want = count_all_below(o, nsel, limit, max);
	while (want > max && limit - base > 1) {
		limit = base + (limit - base) / 2;
		want = count_all_below(o, nsel, limit, max);
	}
	if (want > max)		/* more than max at one time: all of them */
		want = count_all_below(o, nsel, limit, SIZE_MAX);
	/* Room for them; arrays grown past max for one time are shrunk again. */
	if (want > o->sort_cap || (want <= max && o->sort_cap > 2 * max + 4096)) {
		size_t cap = 4096;

		while (cap < want)
			cap *= 2;
		free(o->sort_a);
		/* Both arrays in one: 1 MiB at 65,536 (order.h). */
		o->sort_a = xlarge(2 * cap * sizeof(*o->sort_a));
		o->sort_b = o->sort_a + cap;
		o->sort_cap = cap;
	}
	/* Queue order, so that equal keys keep it: the one first seen first. */
	if (nsel > 1) {
		qsort(o->sel, nsel, sizeof(*o->sel), by_index);
		if (!o->count)
			o->count = xmalloc(HA_ORDER_PASSES * sizeof(*o->count));
		memset(o->count, 0, COUNTED * sizeof(*o->count));
	}
	e = o->sort_a;
	for (size_t i = 0; i < nsel; i++) {
		struct ha_order_queue *q = &o->q[o->sel[i]];
		size_t taken = 0;
		uint64_t bits = 0;	/* of all taken: is one linked? */

		for (;;) {
			struct ha_pend *v = ha_order_ops(q->hb);
			uint32_t end = q->hb->n, k = q->hi;

			if (nsel > 1) {
				/* The first two passes' counts, while the keys are at
				 * hand.  The second digit, of a queue in time order,
				 * comes in runs: counted a run at a time, not with
				 * an increment of one counter after another. */
				uint32_t (*count)[1u << DIGIT] = o->count;
				uint32_t d1 = 0, run = 0;

				for (; k < end && v[k].ts < limit; k++) {
					uint64_t key = v[k].ts - base;
					uint32_t d = (uint32_t)(key >> DIGIT) & DIGIT_MASK;

					e[n++] = key << KEY | (q->hb->handle + k);
					bits |= v[k].bits;
					count[0][key & DIGIT_MASK]++;
					if (d != d1) {
						count[1][d1] += run;
						d1 = d;
						run = 0;
					}
					run++;
				}
				count[1][d1] += run;
			} else {
				/* One queue: in order already, nothing to count. */
				for (; k < end && v[k].ts < limit; k++) {
					e[n++] = (v[k].ts - base) << KEY | (q->hb->handle + k);
					bits |= v[k].bits;
				}
			}
			taken += k - q->hi;
			q->hi = k;
			if (k < end || q->hb == q->tb)
				break;
			retire_head(o, q);
		}
		if (!taken)
			continue;	/* (all of it at or after a limit brought forward) */
		from++;
		q->len -= taken;
		o->pending -= taken;
		if (e[n - 1] >> KEY > span)
			span = e[n - 1] >> KEY;
		/* A moving realloc's release: its link is its thread's next. */
		for (size_t j = bits & HA_PEND_LINKED ? n - taken : n; j < n; j++) {
			struct ha_pend *p = ha_order_op(o, e[j]);

			if (p->bits & HA_PEND_LINKED)
				ha_pend_set_link(p, j + 1 < n ? ha_order_op(o, e[j + 1])->addr :
						    q->len ? ha_order_ops(q->hb)[q->hi].addr : 0);
		}
		if (!q->len)
			o->dry[o->ndry++] = o->sel[i];
	}
	/* The active list again: the queues left. */
	for (size_t i = 0; i < o->nactive; i++) {
		struct ha_order_queue *q = &o->q[o->active[i]];

		if (q->len)
			o->active[kept++] = o->active[i];
		else
			q->active = 0;
	}
	o->nactive = kept;
	/* From one queue: in order already (a one-thread trace's every time). */
	if (from == 1) {
		*out = o->sort_a;
	} else {
		e = radix_sort(o, o->sort_a, o->sort_b, n, 64 - (unsigned)__builtin_clzll(span | 1));
		order_ties(o, e, n);
		*out = e;
	}
	return n;
}
