/* SPDX-License-Identifier: MIT */
/* Per-site figures, computed in one pass over the replay: counts and bytes,
 * size and lifetime histograms, temporary and short-lived blocks, realloc
 * growth chains, cross-thread frees, and each site's share of the peak.
 *
 * The peak share costs O(1) per event: every time the total peak is raised
 * an epoch counter moves on, and a site about to change saves the live bytes
 * it had, once per epoch; at the end a site's value "as of the latest peak"
 * is the saved one if it changed since, else its current one. */
#include <stdlib.h>
#include <string.h>
#include "sites.h"
#include "util.h"

void ha_sites_init(struct ha_sites *s, uint64_t short_ns)
{
	memset(s, 0, sizeof(*s));
	s->short_ns = short_ns;
}

void ha_sites_free(struct ha_sites *s)
{
	for (size_t i = 0; i < s->nsites; i++)
		free(s->by_stack[i].life_hist);
	for (size_t i = 0; i < s->nstacks; i++)
		free(s->frames[i]);
	free(s->by_stack);
	free(s->frames);
	free(s->nframes);
	free(s->threads);
	memset(s, 0, sizeof(*s));
}

uint64_t ha_size_bucket_lo(unsigned b)
{
	return b ? (uint64_t)1 << (b - 1) : 0;
}

/* The upper bound of a lifetime bucket (what a percentile reports). */
static uint64_t life_bucket_hi(unsigned b)
{
	unsigned top, sub;

	if (b < HA_LIFE_SUB)
		return b;
	top = b / HA_LIFE_SUB + 2;
	sub = b % HA_LIFE_SUB;
	return ((uint64_t)(HA_LIFE_SUB + sub + 1) << (top - 3)) - 1;
}

uint64_t ha_site_lifetime_pct(const struct ha_site *site, double pct)
{
	uint64_t want, seen = 0;

	if (!site->life_n || !site->life_hist)
		return 0;
	want = (uint64_t)((double)site->life_n * pct / 100.0 + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < HA_LIFE_BUCKETS; b++) {
		seen += site->life_hist[b];
		if (seen >= want) {
			uint64_t hi = life_bucket_hi(b);
			return hi < site->life_max ? hi : site->life_max;
		}
	}
	return site->life_max;
}

struct ha_site *ha_sites_grow(struct ha_sites *s, uint32_t stack)
{
	size_t n = s->nsites ? s->nsites : 64;

	while (n <= stack)
		n *= 2;
	s->by_stack = xrealloc(s->by_stack, n * sizeof(*s->by_stack));
	memset(s->by_stack + s->nsites, 0, (n - s->nsites) * sizeof(*s->by_stack));
	for (size_t i = s->nsites; i < n; i++)
		s->by_stack[i].stack = (uint32_t)i;
	s->nsites = n;
	return &s->by_stack[stack];
}

struct ha_thread_stats *ha_sites_find_thread(struct ha_sites *s, uint32_t tid)
{
	/* Few threads live at once; the latest ones are searched first. */
	for (size_t i = s->nthreads; i > 0; i--)
		if (s->threads[i - 1].tid == tid) {
			s->thread_hint[tid & (HA_THREAD_HINTS - 1)] = (uint32_t)(i - 1);
			return &s->threads[i - 1];
		}
	if (s->nthreads == s->cap_threads) {
		s->cap_threads = s->cap_threads ? 2 * s->cap_threads : 16;
		s->threads = xrealloc(s->threads, s->cap_threads * sizeof(*s->threads));
	}
	memset(&s->threads[s->nthreads], 0, sizeof(*s->threads));
	s->threads[s->nthreads].tid = tid;
	s->thread_hint[tid & (HA_THREAD_HINTS - 1)] = (uint32_t)s->nthreads;
	return &s->threads[s->nthreads++];
}

void ha_sites_life_hist(struct ha_site *site)
{
	site->life_hist = xcalloc(HA_LIFE_BUCKETS, sizeof(uint64_t));
}

uint64_t ha_site_peak_bytes(const struct ha_sites *s, const struct ha_site *site)
{
	return site->saved_epoch == s->epoch ? site->saved_live : site->live_bytes;
}

void ha_sites_observe(void *ctx, const struct ha_pend *op, const struct ha_life *freed,
		      const struct ha_life *born, bool new_peak)
{
	struct ha_sites *s = ctx;

	if (freed)
		ha_sites_release(s, op, freed);
	if (born)
		ha_sites_born(s, born);
	if (new_peak)
		s->epoch++;
}

void ha_sites_stack(struct ha_sites *s, uint32_t id, const uint64_t *frames, unsigned n)
{
	if (id >= s->nstacks) {
		size_t cap = s->nstacks ? s->nstacks : 64;

		while (cap <= id)
			cap *= 2;
		s->frames = xrealloc(s->frames, cap * sizeof(*s->frames));
		s->nframes = xrealloc(s->nframes, cap * sizeof(*s->nframes));
		memset(s->frames + s->nstacks, 0, (cap - s->nstacks) * sizeof(*s->frames));
		memset(s->nframes + s->nstacks, 0, (cap - s->nstacks) * sizeof(*s->nframes));
		s->nstacks = cap;
	}
	free(s->frames[id]);
	s->frames[id] = xmalloc(n * sizeof(uint64_t));
	memcpy(s->frames[id], frames, n * sizeof(uint64_t));
	s->nframes[id] = n;
}

void ha_sites_finish(void *ctx, struct ha_replay *r)
{
	struct ha_sites *s = ctx;
	struct ha_addrmap *m = &r->live;

	for (size_t i = 0; i <= m->mask; i++) {
		struct ha_site *site;
		struct ha_life b;

		if (!m->slots[i].addr || !ha_block_in_window(&m->slots[i]))
			continue;
		b = ha_replay_life(r, &m->slots[i]);
		site = ha_site_of(s, b.stack);
		site->leaked_blocks += b.weight;
		site->leaked_bytes += b.weight * b.size;
		if (b.grows >= 2) {
			site->chains += b.weight;
			site->chain_reallocs += b.weight * b.grows;
			site->chain_final_bytes += b.weight * b.size;
			s->chains += b.weight;
		}
	}
}

void ha_site_add(struct ha_site *a, const struct ha_site *b)
{
	a->allocations += b->allocations;
	a->bytes += b->bytes;
	a->frees += b->frees;
	a->live_bytes += b->live_bytes;
	a->live_blocks += b->live_blocks;
	a->temporary += b->temporary;
	a->short_lived += b->short_lived;
	a->churn += b->churn;
	a->leaked_blocks += b->leaked_blocks;
	a->leaked_bytes += b->leaked_bytes;
	a->life_n += b->life_n;
	if (b->life_max > a->life_max)
		a->life_max = b->life_max;
	a->chains += b->chains;
	a->chain_reallocs += b->chain_reallocs;
	a->chain_final_bytes += b->chain_final_bytes;
	a->cross_thread_frees += b->cross_thread_frees;
	for (unsigned i = 0; i < HA_SIZE_BUCKETS; i++)
		a->size_hist[i] += b->size_hist[i];
	if (b->life_hist) {
		if (!a->life_hist)
			a->life_hist = xcalloc(HA_LIFE_BUCKETS, sizeof(uint64_t));
		for (unsigned i = 0; i < HA_LIFE_BUCKETS; i++)
			a->life_hist[i] += b->life_hist[i];
	}
}
