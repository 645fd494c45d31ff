/* SPDX-License-Identifier: MIT */
/* Checks analyzer/order.c against what the replay needs, on random streams:
 * threads (some short-lived, so their queues run dry and give their blocks back,
 * some long, so queues span many blocks) push operations in batches of random
 * length, in drain order; now and then a "SYNC" takes out everything older
 * than a limit.  Equal times across threads and out-of-order arrivals within
 * a thread are frequent.  Every operation must come out exactly once, only
 * when older than the limit asked for and all of those at that SYNC, in
 * (ts, op) order, equal (ts, op) operations of different threads in the
 * order the threads first appeared, a thread's in their arrival order.
 * ha_order_take is asked for a random most at a time (often fewer than a
 * SYNC releases, so that it takes them in parts).  Some releases are a
 * moving realloc's (HA_PEND_LINKED): their link must be the address of the
 * thread's next operation.  Run under ASan and UBSan by `make test`.
 * Usage: order_check [rounds] [seed]; exit 0 when all held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../analyzer/order.h"
#include "../../analyzer/replay.h"

#define MAXT 64

static unsigned long long rng = 88172645463325252ull;

static unsigned long long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int fail(const char *what, unsigned long long n)
{
	fprintf(stderr, "order_check: %s (operation %llu)\n", what, n);
	return 1;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
	struct ha_order o;
	unsigned long long pushed = 0, popped = 0;
	uint64_t clock[MAXT] = { 0 }, last_ts = 0, floor = 0;
	unsigned last_op = 0;
	uint32_t left[MAXT] = { 0 };	/* operations a thread has still to make */
	uint32_t serial[MAXT] = { 0 };	/* per thread: numbers operations as pushed */
	uint32_t out_serial[MAXT][8];	/* last serial seen out, per thread and (op) */
	uint64_t out_ts[MAXT][8];
	unsigned first_seen[MAXT] = { 0 };	/* the order threads first pushed in, from 1 */
	unsigned nseen = 0, last_t = 0;
	uint64_t want_link[MAXT] = { 0 };	/* a linked release's link, for the thread's next */
	uint64_t pair_floor[MAXT] = { 0 };	/* after a linked pair: no going back before it */
	unsigned long long linked = 0, parts = 0, jumps = 0;

	if (argc > 2)
		rng = strtoull(argv[2], NULL, 0) | 1;
	memset(out_serial, 0, sizeof(out_serial));
	memset(out_ts, 0, sizeof(out_ts));
	ha_order_init(&o);
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t limit;
		const uint64_t *e;
		size_t got, max;

		/* Drain: a batch from each of a few threads. */
		for (unsigned b = (unsigned)(next_rand() % 12); b > 0; b--) {
			uint32_t t = (uint32_t)(next_rand() % MAXT);
			unsigned n = (unsigned)(next_rand() % 400);

			if (!left[t])
				left[t] = next_rand() % 4 ? (uint32_t)(next_rand() % 50) + 1 : 20000;
			/* Half the batches go in at once (ha_order_reserve_n), and
			 * now and then as if the caller had not seen them in order. */
			bool many = next_rand() % 2;
			size_t k = 0;
			int sorted = 1;
			uint64_t pts = 0;
			unsigned pop = 0;

			size_t room = n;

			/* The room may be less than asked for: what is left of
			 * the tail block, if that is two places or more. */
			if (many)
				room = ha_order_reserve_n(&o, 1000 + t, n);
			/* A thread's queue, and its place among them, dates from
			 * its first reserve, even one that pushed nothing. */
			if (many && !first_seen[t])
				first_seen[t] = ++nseen;
			if (many && room < (n < 2 ? n : 2))
				return fail("less room than promised", popped);
			bool pair = false;	/* the last was a linked release */
			uint64_t pair_ts = 0;

			for (unsigned i = 0; i < n && i < room && left[t]; i++, left[t]--) {
				struct ha_pend *q = many ? ha_order_room(&o, k) : ha_order_reserve(&o, 1000 + t);
				uint64_t ts;

				/* Now and then a thread goes quiet for a while, 8 us to
				 * 17 s: SYNCs span times of up to 35 bits (three radix
				 * passes, and parts of 2^32 ns). */
				if (!pair && next_rand() % 2048 == 0) {
					clock[t] += 1ull << (13 + next_rand() % 22);
					jumps++;
				}
				ts = clock[t] + next_rand() % 3;	/* equal times often */
				unsigned op = (unsigned)(next_rand() % 5);
				bool link = false;

				if (pair) {
					/* A linked release's successor, the allocation, as
					 * a moving realloc's: at its time or later, often
					 * after a SYNC's limit, so that the two are taken
					 * apart; what the thread does next is later still,
					 * so that nothing goes between them. */
					ts = pair_ts + (next_rand() % 4 ? next_rand() % 40 : 0);
					op = HA_OP_ALLOC;
					pair = false;
					pair_floor[t] = ts + 1;
					clock[t] = ts + 1;
				} else if (op == HA_OP_FREE && next_rand() % 8 == 0 && i + 1 < n &&
					   i + 1 < room && left[t] >= 2) {
					link = pair = true;
					pair_ts = ts;
				} else if (ts >= floor + 2 && ts >= pair_floor[t] + 2 && next_rand() % 50 == 0) {
					/* Out of order now and then: a little back in time. */
					ts -= 2;
				}
				clock[t] = ts > clock[t] ? ts : clock[t];
				memset(q, 0, sizeof(*q));
				q->ts = ts;
				q->addr = 0x1000 + 16 * (pushed % 100000);
				q->bits = (uint64_t)op << HA_PEND_OP_SHIFT;
				q->tid = 1000 + t;
				q->stack = ++serial[t];
				if (link)
					q->bits |= HA_PEND_LINKED;
				if (!first_seen[t])
					first_seen[t] = ++nseen;
				if (many) {
					sorted &= ts > pts || (ts == pts && op >= pop);
					pts = ts;
					pop = op;
					k++;
				} else {
					ha_order_commit(&o);
				}
				pushed++;
			}
			if (many)
				ha_order_commit_n(&o, k, sorted && next_rand() % 8);
		}
		/* SYNC: everything older than a time near the threads' clocks. */
		limit = r + 1 == rounds ? UINT64_MAX : clock[next_rand() % MAXT];
		max = next_rand() % 3 ? 1 + next_rand() % 600 : 1000000;
		for (unsigned part = 0; (got = ha_order_take(&o, limit, max, &e)); part++) {
			parts += part > 0;
			/* More than max only when more than max share a time. */
			if (got > max && ha_order_op(&o, e[0])->ts != ha_order_op(&o, e[got - 1])->ts)
				return fail("more than asked for", popped);
			for (size_t k = 0; k < got; k++) {
				const struct ha_pend *p = ha_order_op(&o, e[k]);
				unsigned t = p->tid - 1000, op = ha_pend_op(p);

				popped++;
				if (p->ts >= limit)
					return fail("released at or after the limit", popped);
				if (p->ts < floor)
					return fail("held back past its SYNC", popped);
				if (p->ts < last_ts || (p->ts == last_ts && op < last_op))
					return fail("out of (ts, op) order", popped);
				if (t >= MAXT)
					return fail("a thread that never pushed", popped);
				/* Equal (ts, op): the thread that came first first. */
				if (p->ts == last_ts && op == last_op && popped > 1 &&
				    first_seen[t] < first_seen[last_t])
					return fail("threads' equal operations out of order", popped);
				if (want_link[t] && p->addr != want_link[t])
					return fail("a linked release's link is not its thread's next", popped);
				want_link[t] = 0;
				if (p->bits & HA_PEND_LINKED) {
					/* The link took the size and stack bits; its
					 * successor is always queued with it. */
					want_link[t] = ha_pend_link(p);
					if (!want_link[t])
						return fail("a linked release without its link", popped);
					linked++;
				} else {
					/* A thread's equal (ts, op) operations keep their order. */
					if (out_ts[t][op] == p->ts && p->stack < out_serial[t][op])
						return fail("a thread's operations swapped", popped);
					out_ts[t][op] = p->ts;
					out_serial[t][op] = p->stack;
				}
				last_ts = p->ts;
				last_op = op;
				last_t = t;
			}
		}
		/* Time only moves on: what is left starts later than the limit. */
		if (limit != UINT64_MAX && limit > floor) {
			floor = limit;
			for (unsigned t = 0; t < MAXT; t++)
				if (clock[t] < limit)
					clock[t] = limit;
		}
	}
	if (popped != pushed || o.pending)
		return fail("operations lost or duplicated", popped);
	ha_order_free(&o);
	if (!linked || !parts || !jumps)
		return fail("no linked release, no SYNC taken in parts or no pause: the test tests less",
			    popped);
	printf("order_check: %llu operations from %u threads in %u rounds, in order "
	       "(%llu linked, %llu SYNCs taken in parts, %llu pauses)\n", popped, MAXT, rounds, linked,
	       parts, jumps);
	return 0;
}
