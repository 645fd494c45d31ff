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
	uint64_t last_serial;		/* its latest allocation, for "temporary" */
};

struct ha_sites {
	struct ha_site *by_stack;	/* index = stack id */
	size_t nsites;
	uint64_t **frames;		/* per stack id: the return addresses */
	uint32_t *nframes;
	size_t nstacks;
	struct ha_thread_stats *threads;
	size_t nthreads, cap_threads, last_thread;
	uint64_t epoch;			/* how many times the total peak was raised */
	uint64_t short_ns;		/* --short-lived */
	uint64_t size_hist[HA_SIZE_BUCKETS];
	uint64_t temporary, short_lived, chains, cross_thread_frees;
};

void ha_sites_init(struct ha_sites *s, uint64_t short_ns);
void ha_sites_free(struct ha_sites *s);
/* Observer for struct ha_replay (ctx = struct ha_sites). */
void ha_sites_observe(void *ctx, const struct ha_pend *op, const struct ha_block *freed,
		      const struct ha_block *born, bool new_peak);
void ha_sites_stack(struct ha_sites *s, uint32_t id, const uint64_t *frames, unsigned n);
/* When the window closes (or the trace ends): leaks from the live blocks
 * born in the window.  The replay's closing callback (ctx = struct ha_sites). */
void ha_sites_finish(void *ctx, struct ha_replay *r);
/* Live bytes of a site at the total peak (valid after finish). */
uint64_t ha_site_peak_bytes(const struct ha_sites *s, const struct ha_site *site);
/* Lifetime percentile (0..100) from the site's histogram; 0 when none freed. */
uint64_t ha_site_lifetime_pct(const struct ha_site *site, double pct);
/* The bucket a size falls in, and a bucket's lower bound. */
unsigned ha_size_bucket(uint64_t size);
uint64_t ha_size_bucket_lo(unsigned b);
/* Adds b's figures into a (for grouping by line or function, and --merge). */
void ha_site_add(struct ha_site *a, const struct ha_site *b);

#endif
