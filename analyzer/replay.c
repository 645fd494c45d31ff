/* SPDX-License-Identifier: MIT */
/* Replay of a trace in time order.  Threads' events arrive in the file in
 * drain order, not time order; a SYNC(W) record promises that every event
 * stamped before W has been written, so at each SYNC the events older than
 * the previous SYNC's W are sorted and applied (one SYNC of slack covers a
 * push racing the drain), and the rest wait. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include "replay.h"
#include "util.h"

void ha_replay_init(struct ha_replay *r, const char *from, const char *to, const char *per)
{
	memset(r, 0, sizeof(*r));
	ha_addrmap_init(&r->live);
	ha_addrmap_init(&r->moving);
	r->tot.first_ts = UINT64_MAX;
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

void ha_replay_free(struct ha_replay *r)
{
	ha_addrmap_free(&r->live);
	ha_addrmap_free(&r->moving);
	struct mark_ent *e, *tmp, *index = r->mark_index;

	HASH_ITER(hh, index, e, tmp) {
		HASH_DEL(index, e);
		free(e);
	}
	for (size_t i = 0; i < r->nmarks; i++)
		free(r->marks[i].name);
	free(r->marks);
	free(r->pend);
	free(r->scratch);
	r->pend = r->scratch = NULL;
}

static void push(struct ha_replay *r, uint8_t op, const struct ha_event *ev, uint64_t ts, uint64_t addr)
{
	struct ha_pend *p;

	if (r->npend == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 4096;
		r->pend = xrealloc(r->pend, r->cap * sizeof(*r->pend));
		free(r->scratch);
		r->scratch = xmalloc(r->cap * sizeof(*r->scratch));
	}
	p = &r->pend[r->npend++];
	p->ts = ts;
	p->addr = addr;
	p->size = ev->size;
	p->seq = r->seq++;
	p->stack = ev->stack;
	p->tid = ev->tid;
	p->op = op;
	p->kind = ev->kind;
	p->link = 0;
	p->call = 0;
}

void ha_replay_event(struct ha_replay *r, const struct ha_event *ev)
{
	struct ha_totals *t = &r->tot;

	if (ev->ts < t->first_ts)
		t->first_ts = ev->ts;
	if (ev->ts > t->last_ts)
		t->last_ts = ev->ts;
	switch (ev->kind) {
	case HA_EV_MARK:
		push(r, HA_OP_MARK, ev, ev->ts, 0);
		r->pend[r->npend - 1].stack = mark_id(r, ev->mark, ev->mark_len);
		break;
	case HA_EV_FREE:
		push(r, ev->addr ? HA_OP_FREE : HA_OP_NOP, ev, ev->ts, ev->addr);
		break;
	case HA_EV_REALLOC:
	case HA_EV_REALLOCARRAY:
		if (ev->addr) {
			if (!ev->old) {
				push(r, HA_OP_ALLOC, ev, ev->ts, ev->addr);
			} else if (ev->old == ev->addr) {
				push(r, HA_OP_RESIZE, ev, ev->ts, ev->addr);
			} else {
				/* The old block was released inside the real call,
				 * before any other thread could be given its address. */
				push(r, HA_OP_FREE, ev, ev->pre, ev->old);
				r->pend[r->npend - 1].link = ev->addr;
				push(r, HA_OP_ALLOC, ev, ev->ts, ev->addr);
			}
		} else if (ev->old && ev->size == 0) {
			push(r, HA_OP_FREE, ev, ev->pre, ev->old);	/* glibc's realloc(p, 0) */
		} else {
			push(r, HA_OP_NOP, ev, ev->ts, 0);		/* failed */
		}
		break;
	default:
		push(r, ev->addr ? HA_OP_ALLOC : HA_OP_NOP, ev, ev->ts, ev->addr);
		break;
	}
	/* The event's last op counts its call: with a realloc that moved, the
	 * allocation, which is what the window decides on. */
	r->pend[r->npend - 1].call = 1;
}

static int cmp_pend(const void *a, const void *b)
{
	const struct ha_pend *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->op != y->op)	/* at one instant, releases come first */
		return x->op < y->op ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
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
	struct ha_mark_name *m = &r->marks[p->stack];

	if (m->is_from && r->window == HA_WIN_BEFORE) {
		r->window = HA_WIN_IN;
		r->window_start = p->ts;
	} else if (m->is_to && r->window == HA_WIN_IN) {
		r->window = HA_WIN_AFTER;
		r->window_end = p->ts;
		if (r->closing)
			r->closing(r->observe_ctx, r);
		r->window_closed = true;
		return;
	}
	if (r->window == HA_WIN_IN)
		m->count++;
}

/* How many allocations a block stands for.  In a sampled trace an allocation
 * of s bytes was recorded with probability p = 1 - exp(-s / sample_bytes), so
 * it stands for 1/p of them (not sample_bytes / s, which overcounts blocks
 * near or above the rate).  1/p is rounded down or up at random, the chance
 * of up being its fraction, so the mean is exact; the random number is a hash
 * of the allocation's stack, size and number in the replay, none of which
 * moves with address-space randomization: two runs of a deterministic
 * program give the same estimates.  The block stores its weight. */
static uint32_t weight_of(const struct ha_replay *r, uint64_t size, uint64_t stack, uint64_t serial)
{
	double w, k;
	uint64_t h;

	if (!r->sample_bytes || !size)
		return 1;
	w = -1.0 / expm1(-(double)size / (double)r->sample_bytes);
	k = floor(w);
	h = (serial * 0x9e3779b97f4a7c15ull) ^ (stack << 40) ^ size;
	h += 0x632be59bd9b4e019ull;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	if ((double)(h >> 11) * 0x1.0p-53 < w - k)
		k += 1;
	return k < 1 ? 1 : k > 0x7fffffff ? 0x7fffffff : (uint32_t)k;
}

static void apply(struct ha_replay *r, const struct ha_pend *p)
{
	struct ha_totals *t = &r->tot;
	struct ha_block b, old, *cur, moved;
	bool have_old = false, born = false, peak = false, in = r->window == HA_WIN_IN;
	uint32_t grows = 0;
	uint64_t w = 1;		/* the call's weight: its block's */

	switch (p->op) {
	case HA_OP_MARK:
		if (p->call && in)
			t->calls[p->kind]++;
		on_mark(r, p);
		return;
	case HA_OP_NOP:
		if (p->call && in) {
			t->calls[p->kind]++;
			t->failed += p->kind != HA_EV_FREE;
		}
		return;
	case HA_OP_FREE:
		if (ha_addrmap_remove(&r->live, p->addr, &old)) {
			w = old.weight;
			have_old = old.in_window;
			if (have_old && in) {
				t->frees += w;
				t->live_bytes -= w * old.size;
				t->live_blocks -= w;
			} else if (have_old) {
				/* Born in the window, freed after it: the window's
				 * figures were settled when it closed. */
				have_old = false;
			}
			if (p->link) {
				/* The first half of a moving realloc: the new block
				 * carries this one's history. */
				old.addr = p->link;
				ha_addrmap_remove(&r->moving, p->link, NULL);
				ha_addrmap_insert(&r->moving, &old);
				old.addr = p->addr;
			}
		} else if (in) {
			t->unmatched_frees++;
		}
		break;
	case HA_OP_RESIZE:
		cur = ha_addrmap_find(&r->live, p->addr);
		if (cur && (!in || !cur->in_window)) {
			/* Resized across the window's edge: a block from before
			 * the window is born into it, one from the window leaves
			 * the figures that were settled when it closed. */
			ha_addrmap_remove(&r->live, p->addr, &old);
			grows = old.grows + (p->size > old.size);
			goto alloc;
		}
		if (cur) {
			old = *cur;
			have_old = true;
			w = weight_of(r, p->size, p->stack, r->serial);
			t->frees += old.weight;
			t->live_bytes += w * p->size - (uint64_t)old.weight * old.size;
			t->live_blocks += w - old.weight;
			if (p->size > cur->size)
				cur->grows++;
			cur->size = p->size;
			cur->ts = p->ts;
			cur->serial = ++r->serial;
			cur->stack = p->stack;
			cur->tid = p->tid;
			cur->weight = (uint32_t)w;
			b = *cur;
			born = true;
			t->allocations += w;
			t->bytes_allocated += w * p->size;
			peak = note_peak(t, p->ts);
			break;
		}
		/* The block came from before tracing: treat as a fresh allocation. */
		/* fall through */
	case HA_OP_ALLOC:
		{
			struct ha_block gone;

			if (ha_addrmap_remove(&r->live, p->addr, &gone)) {
				/* Its free was never seen (or arrived out of the window). */
				t->conflicts++;
				if (gone.in_window) {
					t->live_bytes -= (uint64_t)gone.weight * gone.size;
					t->live_blocks -= gone.weight;
				}
			}
		}
		if ((p->kind == HA_EV_REALLOC || p->kind == HA_EV_REALLOCARRAY) &&
		    ha_addrmap_remove(&r->moving, p->addr, &moved))
			grows = moved.grows + (p->size > moved.size);
alloc:
		b.addr = p->addr;
		b.size = p->size;
		b.ts = p->ts;
		b.serial = ++r->serial;
		b.stack = p->stack;
		b.tid = p->tid;
		b.grows = grows;
		b.in_window = in;
		w = weight_of(r, p->size, p->stack, r->serial);
		b.weight = (uint32_t)w;
		ha_addrmap_insert(&r->live, &b);
		if (!in)
			break;
		born = true;
		t->allocations += w;
		t->bytes_allocated += w * p->size;
		t->live_bytes += w * p->size;
		t->live_blocks += w;
		peak = note_peak(t, p->ts);
		break;
	}
	if (p->call && in)
		t->calls[p->kind] += w;
	if (r->observe)
		r->observe(r->observe_ctx, p, have_old ? &old : NULL, born ? &b : NULL, peak);
}

static inline bool before(const struct ha_pend *x, const struct ha_pend *y)
{
	if (x->ts != y->ts)
		return x->ts < y->ts;
	if (x->op != y->op)
		return x->op < y->op;
	return x->seq < y->seq;
}

/* Merges sorted a[0..na) and b[0..nb) into out. */
static void merge(struct ha_pend *out, const struct ha_pend *a, size_t na, const struct ha_pend *b, size_t nb)
{
	size_t i = 0, j = 0, k = 0;

	while (i < na && j < nb)
		out[k++] = before(&b[j], &a[i]) ? b[j++] : a[i++];
	if (i < na)
		memcpy(out + k, a + i, (na - i) * sizeof(*a));
	if (j < nb)
		memcpy(out + k + (na - i), b + j, (nb - j) * sizeof(*b));
}

/* Sorts v[0..n) using tmp[0..n): each thread's batch arrives in order, so
 * the array is a few sorted runs, merged pairwise (O(n log runs)).  Returns
 * whichever of v and tmp holds the result. */
static struct ha_pend *run_sort(struct ha_pend *v, struct ha_pend *tmp, size_t n)
{
	size_t starts[65], nruns = 0, cap = 64;

	starts[nruns++] = 0;
	for (size_t i = 1; i < n; i++) {
		if (before(&v[i], &v[i - 1])) {
			if (nruns == cap) {
				qsort(v, n, sizeof(*v), cmp_pend);
				return v;
			}
			starts[nruns++] = i;
		}
	}
	while (nruns > 1) {
		size_t out = 0;

		for (size_t r = 0; r < nruns; r += 2) {
			size_t lo = starts[r], mid = r + 1 < nruns ? starts[r + 1] : n;
			size_t hi = r + 2 < nruns ? starts[r + 2] : n;

			merge(tmp + lo, v + lo, mid - lo, v + mid, hi - mid);
			starts[out++] = lo;
		}
		nruns = out;
		struct ha_pend *t = v;
		v = tmp;
		tmp = t;
	}
	return v;
}

/* Applies the pending operations older than limit (all when limit is
 * UINT64_MAX).  What waited from the last time is already sorted; only the
 * new arrivals are sorted, then merged with it. */
static void release(struct ha_replay *r, uint64_t limit)
{
	size_t na = r->nsorted, nb = r->npend - na, n = r->npend, i;
	struct ha_pend *b, *sorted, *t;

	if (!n)
		return;
	b = r->pend + na;
	sorted = run_sort(b, r->scratch + na, nb);
	if (sorted != b)
		memcpy(b, sorted, nb * sizeof(*b));
	if (na && nb && before(&b[0], &r->pend[na - 1])) {
		merge(r->scratch, r->pend, na, b, nb);
		t = r->pend;
		r->pend = r->scratch;
		r->scratch = t;
	}
	for (i = 0; i < n && r->pend[i].ts < limit; i++)
		apply(r, &r->pend[i]);
	if (i && i < n)
		memmove(r->pend, r->pend + i, (n - i) * sizeof(*r->pend));
	r->npend = r->nsorted = n - i;
}

void ha_replay_sync(struct ha_replay *r, uint64_t ts)
{
	if (r->prev_sync)
		release(r, r->prev_sync);
	r->prev_sync = ts;
}

void ha_replay_finish(struct ha_replay *r)
{
	release(r, UINT64_MAX);
	if (!r->window_closed && r->closing)
		r->closing(r->observe_ctx, r);
	if (r->tot.first_ts == UINT64_MAX)
		r->tot.first_ts = 0;
}
