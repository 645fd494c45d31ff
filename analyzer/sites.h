/* SPDX-License-Identifier: MIT */
/* Per-site aggregation: a site is a distinct call stack.  Fed by the replay
 * in time order; memory grows with the number of stacks and threads. */
#ifndef HOTALLOC_SITES_H
#define HOTALLOC_SITES_H

#include <stdbool.h>
#include <stdint.h>
#include "replay.h"

#define HA_SIZE_BUCKETS 65		/* 0, then [2^k, 2^(k+1)) for k = 0..63 */
#define HA_LIFE_SUB 8			/* lifetime buckets per power of two */
#define HA_LIFE_BUCKETS (64 * HA_LIFE_SUB)
#define HA_THREAD_HINTS 64		/* a power of two */

struct ha_site {
	uint32_t stack;			/* stack id; 0 = no stack recorded */
	uint64_t allocations, bytes, frees;
	uint64_t live_bytes, live_blocks;
	uint64_t saved_live, saved_epoch;	/* live_bytes as of the latest peak */
	uint64_t temporary, short_lived, churn;
	uint64_t leaked_blocks, leaked_bytes;
	uint64_t life_n, life_max;
	uint64_t chains, chain_reallocs, chain_final_bytes;
	uint64_t cross_thread_frees;
	uint64_t size_hist[HA_SIZE_BUCKETS];
	uint64_t *life_hist;		/* HA_LIFE_BUCKETS counts, allocated at the first release */
};

struct ha_thread_stats {
	uint32_t tid;
	uint64_t allocations, bytes, frees, cross_thread_frees;
	uint64_t last_addr, last_ts;	/* its latest allocation, for "temporary" */
};

struct ha_sites {
	struct ha_site *by_stack;	/* index = stack id */
	size_t nsites;
	uint64_t **frames;		/* per stack id: the return addresses */
	uint32_t *nframes;
	size_t nstacks;
	struct ha_thread_stats *threads;
	size_t nthreads, cap_threads;
	uint32_t thread_hint[HA_THREAD_HINTS];	/* by tid's low bits: its index in threads, likely */
	uint64_t epoch;			/* how many times the total peak was raised */
	uint64_t short_ns;		/* --short-lived */
	uint64_t size_hist[HA_SIZE_BUCKETS];
	uint64_t temporary, short_lived, chains, cross_thread_frees;
};

/* The per-operation part, inline: the replay's applying loop runs it for
 * every operation (replay.c); sites.c has the rest. */
struct ha_site *ha_sites_grow(struct ha_sites *s, uint32_t stack);
struct ha_thread_stats *ha_sites_find_thread(struct ha_sites *s, uint32_t tid);
void ha_sites_life_hist(struct ha_site *site);

static inline struct ha_site *ha_site_of(struct ha_sites *s, uint32_t stack)
{
	return stack < s->nsites ? &s->by_stack[stack] : ha_sites_grow(s, stack);
}

static inline struct ha_thread_stats *ha_thread_of(struct ha_sites *s, uint32_t tid)
{
	uint32_t i = s->thread_hint[tid & (HA_THREAD_HINTS - 1)];

	if (i < s->nthreads && s->threads[i].tid == tid)
		return &s->threads[i];
	return ha_sites_find_thread(s, tid);
}

/* A lifetime's bucket: HA_LIFE_SUB of them to a power of two. */
static inline unsigned ha_life_bucket(uint64_t ns)
{
	unsigned top, sub;

	if (ns < HA_LIFE_SUB)
		return (unsigned)ns;
	top = 63u - (unsigned)__builtin_clzll(ns);		/* >= 3 */
	sub = (unsigned)(ns >> (top - 3)) & (HA_LIFE_SUB - 1);
	return (top - 2) * HA_LIFE_SUB + sub;
}

/* The bucket a size falls in. */
static inline unsigned ha_size_bucket(uint64_t size)
{
	return size ? 64u - (unsigned)__builtin_clzll(size) : 0;
}

/* A site about to change saves its live bytes, once per peak (sites.c). */
static inline void ha_site_save_for_peak(const struct ha_sites *s, struct ha_site *site)
{
	if (site->saved_epoch != s->epoch) {
		site->saved_live = site->live_bytes;
		site->saved_epoch = s->epoch;
	}
}

/* Block b released by op: freed, or the old part of a realloc. */
static inline void ha_sites_release(struct ha_sites *s, const struct ha_pend *op,
				    const struct ha_life *b)
{
	struct ha_site *site = ha_site_of(s, b->stack);
	uint64_t life = op->ts > b->ts ? op->ts - b->ts : 0;
	struct ha_thread_stats *th = ha_thread_of(s, op->tid);
	uint64_t w = b->weight;
	/* Gone for good: a free, not a realloc's release. */
	bool gone = ha_pend_op(op) == HA_OP_FREE && !(op->bits & HA_PEND_LINKED);
	bool young = false;

	ha_site_save_for_peak(s, site);
	site->live_bytes -= w * b->size;
	site->live_blocks -= w;
	site->frees += w;
	th->frees += w;
	if (!site->life_hist)
		ha_sites_life_hist(site);
	site->life_hist[ha_life_bucket(life)] += w;
	site->life_n += w;
	if (life > site->life_max)
		site->life_max = life;
	if (life < s->short_ns && gone) {
		site->short_lived += w;
		s->short_lived += w;
		young = true;
	}
	if (op->tid != b->tid) {
		site->cross_thread_frees += w;
		th->cross_thread_frees += w;
		s->cross_thread_frees += w;
	} else if (th->last_addr == b->addr && th->last_ts == b->ts && gone) {
		/* Freed by its thread before that thread allocated anything else:
		 * the thread's latest block has its address and its time (an
		 * earlier block of the thread there, or one made at that time,
		 * was gone before the latest was made). */
		site->temporary += w;
		s->temporary += w;
		young = true;
	}
	if (young)
		site->churn += w;
	/* A block that grew by realloc twice or more, now gone for good. */
	if (b->grows >= 2 && gone) {
		site->chains += w;
		site->chain_reallocs += w * b->grows;
		site->chain_final_bytes += w * b->size;
		s->chains += w;
	}
}

/* Block b just allocated (or resized into being). */
static inline void ha_sites_born(struct ha_sites *s, const struct ha_life *b)
{
	struct ha_site *site = ha_site_of(s, b->stack);
	struct ha_thread_stats *th = ha_thread_of(s, b->tid);
	unsigned k = ha_size_bucket(b->size);
	uint64_t w = b->weight;

	ha_site_save_for_peak(s, site);
	site->allocations += w;
	site->bytes += w * b->size;
	site->live_bytes += w * b->size;
	site->live_blocks += w;
	site->size_hist[k] += w;
	s->size_hist[k] += w;
	th->allocations += w;
	th->bytes += w * b->size;
	th->last_addr = b->addr;
	th->last_ts = b->ts;
}

void ha_sites_init(struct ha_sites *s, uint64_t short_ns);
void ha_sites_free(struct ha_sites *s);
/* Observer for struct ha_replay (ctx = struct ha_sites). */
void ha_sites_observe(void *ctx, const struct ha_pend *op, const struct ha_life *freed,
		      const struct ha_life *born, bool new_peak);
void ha_sites_stack(struct ha_sites *s, uint32_t id, const uint64_t *frames, unsigned n);
/* When the window closes (or the trace ends): leaks from the live blocks
 * born in the window.  The replay's closing callback (ctx = struct ha_sites). */
void ha_sites_finish(void *ctx, struct ha_replay *r);
/* Live bytes of a site at the total peak (valid after finish). */
uint64_t ha_site_peak_bytes(const struct ha_sites *s, const struct ha_site *site);
/* Lifetime percentile (0..100) from the site's histogram; 0 when none freed. */
uint64_t ha_site_lifetime_pct(const struct ha_site *site, double pct);
/* A size bucket's lower bound. */
uint64_t ha_size_bucket_lo(unsigned b);
/* Adds b's figures into a (for grouping by line or function, and --merge). */
void ha_site_add(struct ha_site *a, const struct ha_site *b);

#endif
