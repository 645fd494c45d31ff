/* SPDX-License-Identifier: MIT */
/* Replay of a trace in time order.  Threads' events arrive in the file in
 * drain order, not time order; a SYNC(W) record promises that every event
 * stamped before W has been written, so at each SYNC the events older than
 * W less 2 ms are applied in time order (order.h), the 2 ms of slack
 * covering a push racing the drain (ha_replay_sync); the rest wait. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include "decode.h"
#include "pipe.h"
#include "replay.h"
#include "sites.h"
#include "util.h"

void ha_replay_init(struct ha_replay *r, const char *from, const char *to, const char *per)
{
	memset(r, 0, sizeof(*r));
	ha_addrmap_init(&r->live);
	ha_addrmap_init(&r->moving);
	ha_order_init(&r->order);
	r->first_ts = UINT64_MAX;
	r->from = from;
	r->to = to;
	r->per = per;
	r->window = from ? HA_WIN_BEFORE : HA_WIN_IN;
}

struct mark_ent {
	UT_hash_handle hh;
	uint32_t id;
};

static uint32_t mark_id(struct ha_replay *r, const char *name, size_t len)
{
	struct mark_ent *e, *index = r->mark_index;
	struct ha_mark_name *m;

	HASH_FIND(hh, index, name, len, e);
	if (e)
		return e->id;
	if (r->nmarks % 64 == 0)
		r->marks = xrealloc(r->marks, (r->nmarks + 64) * sizeof(*r->marks));
	m = &r->marks[r->nmarks];
	memset(m, 0, sizeof(*m));
	m->name = xmalloc(len + 1);
	memcpy(m->name, name, len);
	m->name[len] = 0;
	m->is_from = r->from && !strcmp(m->name, r->from);
	m->is_to = r->to && !strcmp(m->name, r->to);
	m->is_per = r->per && !strcmp(m->name, r->per);
	e = xcalloc(1, sizeof(*e));
	e->id = (uint32_t)r->nmarks;
	HASH_ADD_KEYPTR(hh, index, m->name, len, e);
	r->mark_index = index;
	return (uint32_t)r->nmarks++;
}

static void stop_applier(struct ha_replay *r);
static void free_aside(struct ha_aside **side);

void ha_replay_free(struct ha_replay *r)
{
	stop_applier(r);	/* a trace that failed half-way still has it running */
	free(r->mark_counts);
	ha_addrmap_free(&r->live);
	ha_addrmap_free(&r->moving);
	free_aside(&r->aside_live);
	free_aside(&r->aside_moving);
	struct mark_ent *e, *tmp, *index = r->mark_index;

	HASH_ITER(hh, index, e, tmp) {
		HASH_DEL(index, e);
		free(e);
	}
	for (size_t i = 0; i < r->nmarks; i++)
		free(r->marks[i].name);
	free(r->marks);
	ha_order_free(&r->order);
}

/* A MARK operation's roles, in its size bits. */
enum { MARK_FROM = 1, MARK_TO = 2 };

static void op_init(struct ha_pend *p, unsigned op, const struct ha_event *ev, uint64_t ts, uint64_t addr)
{
	p->ts = ts;
	p->addr = addr;
	/* Only a failed call (a NOP) can ask for more: address spaces are smaller. */
	p->bits = (ev->size < HA_PEND_SIZE_MAX ? ev->size : HA_PEND_SIZE_MAX) |
		  (uint64_t)(op & 7) << HA_PEND_OP_SHIFT |
		  (uint64_t)(ev->kind & 15) << HA_PEND_KIND_SHIFT;
	p->stack = ev->stack;
	/* Two loads, not one wide one the compiler would make of them: the
	 * reader stored tid and stack apart, and a wide load of two fresh
	 * stores stalls on store forwarding. */
	__asm__("" ::: "memory");
	p->tid = ev->tid;
}

/* Writes ev's operations into the room reserved in its thread's queue, from
 * place k on; returns how many it wrote (a realloc that moved makes two). */
static size_t put_event(struct ha_replay *r, const struct ha_event *ev, size_t k)
{
	struct ha_pend *p = ha_order_room(&r->order, k);
	size_t m = 1;

	switch (ev->kind) {
	case HA_EV_MARK:
		op_init(p, HA_OP_MARK, ev, ev->ts, 0);
		p->stack = mark_id(r, ev->mark, ev->mark_len);
		/* Its roles travel with it: the applying thread must not read
		 * the names, which this one may be moving. */
		p->bits = (p->bits & ~HA_PEND_SIZE_MAX) |
			  (r->marks[p->stack].is_from ? MARK_FROM : 0) |
			  (r->marks[p->stack].is_to ? MARK_TO : 0);
		break;
	case HA_EV_FREE:
		op_init(p, ev->addr ? HA_OP_FREE : HA_OP_NOP, ev, ev->ts, ev->addr);
		break;
	case HA_EV_REALLOC:
	case HA_EV_REALLOCARRAY:
		if (ev->addr) {
			if (!ev->old) {
				op_init(p, HA_OP_ALLOC, ev, ev->ts, ev->addr);
			} else if (ev->old == ev->addr) {
				op_init(p, HA_OP_RESIZE, ev, ev->ts, ev->addr);
			} else {
				/* The old block was released inside the real call,
				 * before any other thread could be given its address:
				 * two operations, the release at or before the
				 * allocation. */
				op_init(p, HA_OP_FREE, ev, ev->pre, ev->old);
				p->bits |= HA_PEND_LINKED;
				p = ha_order_room(&r->order, k + 1);
				op_init(p, HA_OP_ALLOC, ev, ev->ts, ev->addr);
				m = 2;
			}
		} else if (ev->old && ev->size == 0) {
			op_init(p, HA_OP_FREE, ev, ev->pre, ev->old);	/* glibc's realloc(p, 0) */
		} else {
			op_init(p, HA_OP_NOP, ev, ev->ts, 0);		/* failed */
		}
		break;
	default:
		op_init(p, ev->addr ? HA_OP_ALLOC : HA_OP_NOP, ev, ev->ts, ev->addr);
		break;
	}
	/* The event's last op counts its call: with a realloc that moved, the
	 * allocation, which is what the window decides on. */
	p->bits |= HA_PEND_CALL;
	return m;
}

enum { BATCH_PIECE = 256 };	/* events queued at a time */

/* ha_replay_batch for one encoding of events (packed: BATCH3's). */
static inline __attribute__((always_inline)) void
batch(struct ha_replay *r, struct ha_cursor *c, uint32_t tid, uint64_t ts, uint64_t count,
      uint32_t nstacks, uint64_t *last_ts, bool packed)
{
	uint64_t first = r->first_ts, last = r->last_ts, addr = 0, pts = 0, seen = *last_ts;
	uint64_t bases[2] = { 0, 0 };
	unsigned pop = 0;

	while (count && !c->bad) {
		size_t piece = count < BATCH_PIECE ? (size_t)count : BATCH_PIECE, k = 0, room;
		struct ha_pend *v;
		int sorted = 1;

		/* Two places per event: a realloc that moved makes two. */
		room = ha_order_reserve_n(&r->order, tid, 2 * piece);
		if (piece > room / 2)
			piece = room / 2;
		/* The room, in a local: stores into it cannot change it. */
		v = ha_order_room(&r->order, 0);
		for (size_t i = 0; i < piece; i++) {
			struct ha_event ev;	/* in registers */
			unsigned kind, op;

			if (!(packed ? ha_decode_packed(c, &ev, &ts, bases, nstacks) :
				       ha_decode_event(c, &ev, &ts, &addr, nstacks)))
				break;
			ev.tid = tid;
			kind = ev.kind;
			if (ts < first)
				first = ts;
			if (ts > last)
				last = ts;
			if (kind == HA_EV_MARK || kind == HA_EV_REALLOC || kind == HA_EV_REALLOCARRAY) {
				/* A copy whose address is taken: ev stays in registers. */
				const struct ha_event whole = ev;
				size_t m = put_event(r, &whole, k);

				for (size_t j = k; j < k + m; j++) {
					const struct ha_pend *p = &v[j];

					op = ha_pend_op(p);
					sorted &= p->ts > pts || (p->ts == pts && op >= pop);
					pts = p->ts;
					pop = op;
				}
				k += m;
				continue;
			}
			/* A free or an allocation other than a realloc: one
			 * operation, as put_event makes it. */
			struct ha_pend *p = &v[k++];

			op = !ev.addr ? HA_OP_NOP : kind == HA_EV_FREE ? HA_OP_FREE : HA_OP_ALLOC;
			p->ts = ts;
			p->addr = ev.addr;
			p->bits = (ev.size < HA_PEND_SIZE_MAX ? ev.size : HA_PEND_SIZE_MAX) |
				  (uint64_t)op << HA_PEND_OP_SHIFT | (uint64_t)kind << HA_PEND_KIND_SHIFT |
				  HA_PEND_CALL;
			p->stack = ev.stack;
			p->tid = tid;
			sorted &= ts > pts || (ts == pts && op >= pop);
			pts = ts;
			pop = op;
		}
		/* What was decoded before a fault still counts. */
		ha_order_commit_n(&r->order, k, sorted);
		count -= piece;
	}
	r->first_ts = first;
	r->last_ts = last;
	*last_ts = last > seen ? last : seen;
}

void ha_replay_batch(struct ha_replay *r, struct ha_cursor *c, uint32_t tid, uint64_t ts,
		     uint64_t count, uint32_t nstacks, uint64_t *last_ts)
{
	if (c->packed)
		batch(r, c, tid, ts, count, nstacks, last_ts, true);
	else
		batch(r, c, tid, ts, count, nstacks, last_ts, false);
}

static bool note_peak(struct ha_totals *t, uint64_t ts)
{
	if (t->live_bytes > t->peak_bytes) {
		t->peak_bytes = t->live_bytes;
		t->peak_ts = ts;
		return true;
	}
	return false;
}

static void on_mark(struct ha_replay *r, const struct ha_pend *p)
{
	uint64_t roles = ha_pend_size(p);

	if ((roles & MARK_FROM) && r->window == HA_WIN_BEFORE) {
		r->window = HA_WIN_IN;
		r->window_start = p->ts;
	} else if ((roles & MARK_TO) && r->window == HA_WIN_IN) {
		r->window = HA_WIN_AFTER;
		r->window_end = p->ts;
		if (r->closing)
			r->closing(r->observe_ctx, r);
		r->window_closed = true;
		return;
	}
	if (r->window == HA_WIN_IN) {
		if (p->stack >= r->nmark_counts) {
			size_t n = r->nmark_counts ? 2 * r->nmark_counts : 64;

			while (n <= p->stack)
				n *= 2;
			r->mark_counts = xrealloc(r->mark_counts, n * sizeof(*r->mark_counts));
			memset(r->mark_counts + r->nmark_counts, 0,
			       (n - r->nmark_counts) * sizeof(*r->mark_counts));
			r->nmark_counts = n;
		}
		r->mark_counts[p->stack]++;
	}
}

/* How many allocations a block stands for.  In a sampled trace an allocation
 * of s bytes was recorded with probability p = 1 - exp(-s / sample_bytes), so
 * it stands for 1/p of them (not sample_bytes / s, which overcounts blocks
 * near or above the rate).  1/p is rounded down or up at random, the chance
 * of up being its fraction, so the mean is exact; the random number is a hash
 * of the allocation's stack, size and number in the replay, none of which
 * moves with address-space randomization: two runs of a deterministic
 * program give the same estimates.  The block stores which way it went
 * (HA_BLOCK_ROUND_UP), and its weight is worked out again from its size. */
static uint64_t weight_rounded(const struct ha_replay *r, uint64_t size, bool up)
{
	double k;

	if (!r->sample_bytes || !size)
		return 1;
	k = floor(-1.0 / expm1(-(double)size / (double)r->sample_bytes)) + up;
	return k < 1 ? 1 : k > 0x7fffffff ? 0x7fffffff : (uint64_t)k;
}

/* A new block's rounding: true for up. */
static bool weight_draw(const struct ha_replay *r, uint64_t size, uint64_t stack, uint64_t serial)
{
	double w;
	uint64_t h;

	if (!r->sample_bytes || !size)
		return false;
	w = -1.0 / expm1(-(double)size / (double)r->sample_bytes);
	h = (serial * 0x9e3779b97f4a7c15ull) ^ (stack << 40) ^ size;
	h += 0x632be59bd9b4e019ull;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (double)(h >> 11) * 0x1.0p-53 < w - floor(w);
}

static inline uint64_t block_weight(const struct ha_replay *r, const struct ha_block *b)
{
	return r->sample_bytes ? weight_rounded(r, ha_block_size(b), b->bits & HA_BLOCK_ROUND_UP) : 1;
}

/* A block's growth count, from its field or, past HA_BLOCK_GROWS_SAT, from
 * its table's aside map (replay.h). */
static __attribute__((noinline)) uint64_t aside_grows(struct ha_aside *side, uint64_t addr)
{
	struct ha_aside *e;

	HASH_FIND(hh, side, &addr, sizeof(addr), e);
	return e ? e->grows : HA_BLOCK_GROWS_SAT;
}

static inline uint64_t block_grows(struct ha_aside *side, const struct ha_block *b)
{
	uint64_t g = ha_block_grows_field(b);

	return __builtin_expect(g < HA_BLOCK_GROWS_SAT, 1) ? g : aside_grows(side, b->addr);
}

/* Sets b's growth count (b->addr must be its address in the table whose
 * aside map *side is). */
static void set_grows(struct ha_aside **side, struct ha_block *b, uint64_t g)
{
	struct ha_aside *e;

	b->bits = (b->bits & ~(HA_BLOCK_GROWS_SAT << HA_BLOCK_GROWS_SHIFT)) |
		  (g < HA_BLOCK_GROWS_SAT ? g : HA_BLOCK_GROWS_SAT) << HA_BLOCK_GROWS_SHIFT;
	if (g < HA_BLOCK_GROWS_SAT)
		return;
	HASH_FIND(hh, *side, &b->addr, sizeof(b->addr), e);
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->addr = b->addr;
		HASH_ADD(hh, *side, addr, sizeof(e->addr), e);
	}
	e->grows = g;
}

static void free_aside(struct ha_aside **side)
{
	struct ha_aside *e, *tmp;

	HASH_ITER(hh, *side, e, tmp) {
		HASH_DEL(*side, e);
		free(e);
	}
}

/* A block's fields for a new allocation, but for its growth count (0). */
static inline uint64_t block_bits(uint64_t size, bool in_window, bool up)
{
	return size | (in_window ? HA_BLOCK_IN_WINDOW : 0) | (up ? HA_BLOCK_ROUND_UP : 0);
}

static inline struct ha_life life_of(const struct ha_block *b, uint64_t weight, uint64_t grows)
{
	return (struct ha_life){ .addr = b->addr, .ts = b->ts, .size = ha_block_size(b),
				 .stack = b->stack, .tid = b->tid, .weight = weight, .grows = grows };
}

struct ha_life ha_replay_life(const struct ha_replay *r, const struct ha_block *b)
{
	return life_of(b, block_weight(r, b), block_grows(r->aside_live, b));
}

/* The live table's slot for a new block at addr.  One already there is a
 * block whose free was never seen (or arrived out of the window): it is
 * counted, and taken out of the live figures. */
static inline __attribute__((always_inline)) struct ha_block *
claim_live(struct ha_replay *r, uint64_t addr)
{
	struct ha_totals *t = &r->tot;
	struct ha_block *b;
	int found;

	b = ha_addrmap_claim(&r->live, addr, &found);
	if (found) {
		t->conflicts++;
		if (ha_block_in_window(b)) {
			uint64_t w = block_weight(r, b);

			t->live_bytes -= w * ha_block_size(b);
			t->live_blocks -= w;
		}
	}
	return b;
}

/* The two operations nearly all traces are made of, applied and observed in
 * one go when the window is open and the observer is the per-site one: the
 * free of a block born in the window, and an allocation other than a
 * realloc's.  The same figures as apply's general path; false, with nothing
 * done, for the rest.  Inlined in apply: as a call, its entry (six
 * registers saved) took 9% of its samples, and the 8-thread trace is 2%
 * faster without it.  (apply itself stays a call from the applying loop:
 * inlined there too, the 8-thread trace was 3% slower on an AMD EPYC.) */
static inline __attribute__((always_inline)) bool
apply_fast(struct ha_replay *r, struct ha_sites *s, const struct ha_pend *p)
{
	struct ha_totals *t = &r->tot;
	unsigned op = ha_pend_op(p), kind = ha_pend_kind(p);
	uint64_t w, size;
	struct ha_block *b;
	struct ha_life l;
	bool peak, up;

	if (op == HA_OP_FREE && !(p->bits & HA_PEND_LINKED)) {
		b = ha_addrmap_find(&r->live, p->addr);
		if (!b || !ha_block_in_window(b))
			return false;
		w = block_weight(r, b);
		l = life_of(b, w, block_grows(r->aside_live, b));
		t->frees += w;
		t->live_bytes -= w * l.size;
		t->live_blocks -= w;
		if (p->bits & HA_PEND_CALL)
			t->calls[kind] += w;
		ha_sites_release(s, p, &l);
		ha_addrmap_erase(&r->live, b);
		return true;
	}
	if (op != HA_OP_ALLOC || kind == HA_EV_REALLOC || kind == HA_EV_REALLOCARRAY)
		return false;
	size = ha_pend_size(p);
	b = claim_live(r, p->addr);
	++r->serial;
	up = r->sample_bytes && weight_draw(r, size, p->stack, r->serial);
	w = r->sample_bytes ? weight_rounded(r, size, up) : 1;
	b->ts = p->ts;
	b->bits = block_bits(size, true, up);
	b->stack = p->stack;
	b->tid = p->tid;
	t->allocations += w;
	t->bytes_allocated += w * size;
	t->live_bytes += w * size;
	t->live_blocks += w;
	peak = note_peak(t, p->ts);
	if (p->bits & HA_PEND_CALL)
		t->calls[kind] += w;
	l = life_of(b, w, 0);
	ha_sites_born(s, &l);
	if (peak)
		s->epoch++;
	return true;
}

/* apply's general path: every operation, window and observer. */
static __attribute__((noinline)) void apply_any(struct ha_replay *r, const struct ha_pend *p,
						uint64_t link)
{
	struct ha_totals *t = &r->tot;
	struct ha_block old, *cur, moved, *slot = NULL;
	struct ha_life freed, born;
	bool have_old = false, have_born = false, peak = false, in = r->window == HA_WIN_IN, up;
	uint64_t grows = 0;
	uint64_t w = 1;		/* the call's weight: its block's */
	uint64_t size = ha_pend_size(p);
	unsigned kind = ha_pend_kind(p);
	bool call = p->bits & HA_PEND_CALL;

	switch (ha_pend_op(p)) {
	case HA_OP_MARK:
		if (call && in)
			t->calls[kind]++;
		on_mark(r, p);
		return;
	case HA_OP_NOP:
		if (call && in) {
			t->calls[kind]++;
			t->failed += kind != HA_EV_FREE;
		}
		return;
	case HA_OP_FREE:
		if (ha_addrmap_remove(&r->live, p->addr, &old)) {
			w = block_weight(r, &old);
			freed = life_of(&old, w, block_grows(r->aside_live, &old));
			have_old = ha_block_in_window(&old);
			if (have_old && in) {
				t->frees += w;
				t->live_bytes -= w * freed.size;
				t->live_blocks -= w;
			} else if (have_old) {
				/* Born in the window, freed after it: the window's
				 * figures were settled when it closed. */
				have_old = false;
			}
			if (link) {
				/* The first half of a moving realloc: the new block
				 * carries this one's history. */
				old.addr = link;
				set_grows(&r->aside_moving, &old, freed.grows);
				ha_addrmap_remove(&r->moving, link, NULL);
				ha_addrmap_insert(&r->moving, &old);
			}
		} else if (in) {
			t->unmatched_frees++;
		}
		break;
	case HA_OP_RESIZE:
		cur = ha_addrmap_find(&r->live, p->addr);
		if (cur && (!in || !ha_block_in_window(cur))) {
			/* Resized across the window's edge: a block from before
			 * the window is born into it, one from the window leaves
			 * the figures that were settled when it closed. */
			ha_addrmap_remove(&r->live, p->addr, &old);
			grows = block_grows(r->aside_live, &old) + (size > ha_block_size(&old));
			goto alloc;
		}
		if (cur) {
			uint64_t ow = block_weight(r, cur);

			freed = life_of(cur, ow, block_grows(r->aside_live, cur));
			have_old = true;
			up = weight_draw(r, size, p->stack, r->serial++);
			w = weight_rounded(r, size, up);
			t->frees += ow;
			t->live_bytes += w * size - ow * freed.size;
			t->live_blocks += w - ow;
			cur->ts = p->ts;
			cur->bits = block_bits(size, true, up);
			cur->stack = p->stack;
			cur->tid = p->tid;
			set_grows(&r->aside_live, cur, freed.grows + (size > freed.size));
			born = life_of(cur, w, freed.grows + (size > freed.size));
			have_born = true;
			t->allocations += w;
			t->bytes_allocated += w * size;
			peak = note_peak(t, p->ts);
			break;
		}
		/* The block came from before tracing: treat as a fresh allocation. */
		/* fall through */
	case HA_OP_ALLOC:
		if ((kind == HA_EV_REALLOC || kind == HA_EV_REALLOCARRAY) &&
		    ha_addrmap_remove(&r->moving, p->addr, &moved))
			grows = block_grows(r->aside_moving, &moved) + (size > ha_block_size(&moved));
		slot = claim_live(r, p->addr);
alloc:
		if (!slot) {
			int found;

			slot = ha_addrmap_claim(&r->live, p->addr, &found);
		}
		/* Field by field into its slot: a block built on the stack and
		 * copied would be read back wide before its stores settle. */
		++r->serial;
		up = weight_draw(r, size, p->stack, r->serial);
		w = weight_rounded(r, size, up);
		slot->ts = p->ts;
		slot->bits = block_bits(size, in, up);
		slot->stack = p->stack;
		slot->tid = p->tid;
		set_grows(&r->aside_live, slot, grows);
		if (!in)
			break;
		born = life_of(slot, w, grows);
		have_born = true;
		t->allocations += w;
		t->bytes_allocated += w * size;
		t->live_bytes += w * size;
		t->live_blocks += w;
		peak = note_peak(t, p->ts);
		break;
	}
	if (call && in)
		t->calls[kind] += w;
	if (r->observe)
		r->observe(r->observe_ctx, p, have_old ? &freed : NULL, have_born ? &born : NULL, peak);
}

/* Applies one operation; link is a moving realloc's new address (its
 * release part's), else 0. */
static inline void apply(struct ha_replay *r, const struct ha_pend *p, uint64_t link)
{
	if (!(r->window == HA_WIN_IN && !link && r->observe == ha_sites_observe &&
	      apply_fast(r, r->observe_ctx, p)))
		apply_any(r, p, link);
}

enum { PREFETCH_FROM = 16383 };	/* slots - 1: 768 KiB of table and more */
/* The channel holds a SYNC's worth of operations and more (4 MiB): the
 * reader releases them in a burst at each SYNC, and with 65536 it waited for
 * room while the applier had work (8-thread trace 2.36 s against 2.63,
 * medians of 5); 262144 was no faster than this, with 4 MiB more RSS. */
enum { PIPE_CAP = 131072, PIPE_AHEAD = 16 };
/* Operations sorted at a time, at most: the sort's two arrays of 8 bytes
 * each take 1 MiB.  A SYNC of an 8-thread trace releases 8,900 on average
 * and up to 260,000; a larger one is taken in parts (order.h). */
enum { TAKE_MAX = 65536 };
enum { AHEAD = 8 };	/* how far ahead the lone thread prefetches the table */
/* How far ahead the reader prefetches what it hands over, and the pipe
 * slots it will write (32 and 64 the same on churn, 16 slower). */
enum { COPY_AHEAD = 16, PUT_AHEAD = 32 };

/* The applying thread: takes the ordered operations from the pipe. */
static void *applier(void *arg)
{
	struct ha_replay *r = arg;
	struct ha_pipe *pipe = r->pipe;
	const struct ha_pipe_item *it;

	while ((it = ha_pipe_get(pipe))) {
		const struct ha_pipe_item *next = ha_pipe_peek(pipe, PIPE_AHEAD);

		/* The live table outgrows the caches when many blocks are live:
		 * its misses overlap when asked for well ahead.  (The pipe's own
		 * lines, read in order, the hardware prefetcher brings: asking
		 * for them 64 items ahead as well made an 8-thread trace 4%
		 * slower on an Intel Xeon, and no faster on an AMD EPYC.) */
		if (next && r->live.mask >= PREFETCH_FROM) {
			if (r->load_ahead)
				ha_addrmap_fetch(&r->live, next->op.addr);
			else
				ha_addrmap_prefetch(&r->live, next->op.addr);
		}
		apply(r, &it->op, it->op.bits & HA_PEND_LINKED ? ha_pend_link(&it->op) : 0);
	}
	return NULL;
}

/* Whether the applier loads the live table ahead (ha_addrmap_fetch) or only
 * prefetches: on an 8-thread trace the load was 3 to 5% faster than the
 * prefetch alone on an Intel Xeon, and the prefetch alone 3 to 9% faster
 * than the load on an AMD EPYC (Zen 5), where the load, waiting to retire,
 * held up the loop behind it (68% of the loop's own samples on it). */
static bool cpu_is_intel(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return __builtin_cpu_is("intel");
#else
	return false;
#endif
}

/* Applying gets a thread of its own when there is a second core for it and
 * HOTALLOC_ANALYZER_THREADS is not 1; else, or if no thread can be had, it
 * is done here. */
static void start_applier(struct ha_replay *r)
{
	r->applier_tried = true;
	if (!ha_threads_allowed())
		return;
	r->load_ahead = cpu_is_intel();
	r->pipe = xaligned(64, sizeof(*r->pipe));
	ha_pipe_init(r->pipe, PIPE_CAP);
	if (pthread_create(&r->applier, NULL, applier, r)) {
		ha_pipe_free(r->pipe);
		free(r->pipe);
		r->pipe = NULL;
	}
}

static void stop_applier(struct ha_replay *r)
{
	if (!r->pipe)
		return;
	ha_pipe_close(r->pipe);
	pthread_join(r->applier, NULL);
	ha_pipe_free(r->pipe);
	free(r->pipe);
	r->pipe = NULL;
}

/* Applies the queued operations older than limit: all when limit is
 * UINT64_MAX, but for any stamped UINT64_MAX itself, which only a corrupt
 * trace has (they are dropped). */
static void release(struct ha_replay *r, uint64_t limit)
{
	const uint64_t *e;
	size_t n;

	if (!r->applier_tried)
		start_applier(r);
	while ((n = ha_order_take(&r->order, limit, TAKE_MAX, &e))) {
		if (r->pipe) {
			struct ha_pipe *pipe = r->pipe;

			for (size_t i = 0, room; i < n; ha_pipe_put_n(pipe, room)) {
				struct ha_pipe_item *it = ha_pipe_room(pipe, n - i, &room);
				struct ha_pipe_item *v = pipe->v;
				size_t mask = pipe->mask, at = pipe->put_pos + PUT_AHEAD;

				for (size_t j = 0; j < room; j++, i++) {
					if (i + COPY_AHEAD < n)
						__builtin_prefetch(ha_order_op(&r->order, e[i + COPY_AHEAD]));
					ha_pipe_prefetch_item(&v[(at + j) & mask]);
					it[j].op = *ha_order_op(&r->order, e[i]);
				}
			}
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			const struct ha_pend *p = ha_order_op(&r->order, e[i]);

			if (i + AHEAD < n && r->live.mask >= PREFETCH_FROM)
				ha_addrmap_prefetch(&r->live, ha_order_op(&r->order, e[i + AHEAD])->addr);
			/* A moving realloc's release carries its new address. */
			apply(r, p, p->bits & HA_PEND_LINKED ? ha_pend_link(p) : 0);
		}
	}
	if (r->pipe)
		ha_pipe_flush(r->pipe);
}

/* A SYNC at ts: every event stamped before ts is in the trace, but for the
 * window of the stamping thread's store buffer (preload/clock.c): a store of
 * its in-flight flag, or of a realloc's pending stamp (preload/hook.c), not
 * yet visible to the writer when the writer looked.  That window is
 * nanoseconds; the operations of the last SYNC_SLACK_NS before ts stay
 * queued to cover it many times over.  (One whole SYNC of slack, as before,
 * kept up to 210,000 events waiting on an 8-thread trace whenever the
 * writer had a burst to encode between two SYNCs.) */
enum { SYNC_SLACK_NS = 2000000 };

void ha_replay_sync(struct ha_replay *r, uint64_t ts)
{
	if (ts > SYNC_SLACK_NS)
		release(r, ts - SYNC_SLACK_NS);
}

void ha_replay_finish(struct ha_replay *r)
{
	release(r, UINT64_MAX);
	stop_applier(r);
	for (size_t i = 0; i < r->nmarks && i < r->nmark_counts; i++)
		r->marks[i].count = r->mark_counts[i];
	if (!r->window_closed && r->closing)
		r->closing(r->observe_ctx, r);
	r->tot.first_ts = r->first_ts == UINT64_MAX ? 0 : r->first_ts;
	r->tot.last_ts = r->last_ts;
}
