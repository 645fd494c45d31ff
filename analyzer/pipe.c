/* SPDX-License-Identifier: MIT */
/* Single-producer, single-consumer channel of replay operations: see pipe.h. */
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "pipe.h"
#include "util.h"

enum { SPINS = 256 };

void ha_pipe_init(struct ha_pipe *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	/* 4 MiB for the replay's, written once around before it is reused:
	 * 1,024 page faults, or two. */
	p->v = xlarge(cap * sizeof(*p->v));
	p->mask = cap - 1;
	p->refill = cap >= 4 ? cap / 4 : 1;
}

void ha_pipe_free(struct ha_pipe *p)
{
	free(p->v);
	p->v = NULL;
}

/* Waits for the other side: spins a little, then sleeps on *waiting until
 * woken or 1 ms passes (the timeout bounds any wake-up lost in a race; the
 * ready() recheck after the flag is raised makes one rare). */
static void wait_for(_Atomic int *waiting, unsigned *spins, bool (*ready)(struct ha_pipe *),
		     struct ha_pipe *p)
{
	struct timespec ms = { 0, 1000000 };

	if (++*spins < SPINS) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		return;
	}
	atomic_store(waiting, 1);
	if (!ready(p))
		syscall(SYS_futex, waiting, FUTEX_WAIT_PRIVATE, 1, &ms, NULL, 0);
	atomic_store(waiting, 0);
}

/* After publishing: wakes the other side if it went to sleep.  The flag is
 * taken down here, by the one call that wakes: a sleeper takes a while to
 * come back and clear it itself, and every publication until then (one
 * every HA_PIPE_BATCH items) made a wake-up call of its own, 100,000 system
 * calls on a 40-million-event trace.  A sleeper whose flag is already down
 * does not sleep (FUTEX_WAIT wants the value 1). */
static void wake(_Atomic int *waiting)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(waiting, memory_order_relaxed) &&
	    atomic_exchange_explicit(waiting, 0, memory_order_relaxed))
		syscall(SYS_futex, waiting, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Room for the refill, once the channel was full. */
static bool has_room(struct ha_pipe *p)
{
	return p->put_pos - atomic_load(&p->head) <= p->mask + 1 - p->refill;
}

static bool has_items(struct ha_pipe *p)
{
	return atomic_load(&p->tail) != p->get_pos || atomic_load(&p->closed);
}

struct ha_pipe_item *ha_pipe_slot_wait(struct ha_pipe *p)
{
	unsigned spins = 0;

	/* Full: what the consumer has taken may not be published yet; when
	 * nothing is, a wait for the refill. */
	ha_pipe_flush(p);
	p->seen_head = atomic_load_explicit(&p->head, memory_order_acquire);
	if (p->put_pos - p->seen_head > p->mask) {
		while (p->put_pos - p->seen_head > p->mask + 1 - p->refill) {
			wait_for(&p->producer_waits, &spins, has_room, p);
			p->seen_head = atomic_load_explicit(&p->head, memory_order_acquire);
		}
	}
	return &p->v[p->put_pos & p->mask];
}

void ha_pipe_flush(struct ha_pipe *p)
{
	atomic_store_explicit(&p->tail, p->put_pos, memory_order_release);
	wake(&p->consumer_waits);
}

void ha_pipe_close(struct ha_pipe *p)
{
	atomic_store_explicit(&p->tail, p->put_pos, memory_order_release);
	atomic_store_explicit(&p->closed, true, memory_order_release);
	wake(&p->consumer_waits);
}

const struct ha_pipe_item *ha_pipe_get_wait(struct ha_pipe *p)
{
	unsigned spins = 0;

	/* The item returned last is done with: the room up to here is free,
	 * and a producer waiting for the refill is woken once it is there.  (It
	 * flushed before it waited: tail is where it stopped.  A stale tail
	 * only makes the room look larger, so no wake-up is missed.) */
	if (p->get_pos % HA_PIPE_BATCH == 0) {
		atomic_store_explicit(&p->head, p->get_pos, memory_order_release);
		if (p->mask + 1 - (atomic_load_explicit(&p->tail, memory_order_relaxed) - p->get_pos) >=
		    p->refill)
			wake(&p->producer_waits);
	}
	while (p->get_pos == p->seen_tail) {
		bool closed;

		/* Empty: let the producer have the room back, then look again. */
		atomic_store_explicit(&p->head, p->get_pos, memory_order_release);
		wake(&p->producer_waits);
		closed = atomic_load_explicit(&p->closed, memory_order_acquire);
		p->seen_tail = atomic_load_explicit(&p->tail, memory_order_acquire);
		if (p->get_pos != p->seen_tail)
			break;
		if (closed)
			return NULL;	/* closed before tail was read: tail was final */
		wait_for(&p->consumer_waits, &spins, has_items, p);
	}
	return &p->v[p->get_pos++ & p->mask];
}
