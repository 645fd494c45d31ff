/* SPDX-License-Identifier: MIT */
/* Builds the report model: sites grouped by stack, source line or function,
 * with symbolized stacks, sorted by the chosen figure, and a hint for each
 * site whose allocations die young. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include "model.h"
#include "util.h"

struct group_ent {
	UT_hash_handle hh;
	char *key;
	size_t row;
};

static enum ha_sort g_sort;

uint64_t ha_row_metric(const struct ha_row *r, enum ha_sort sort)
{
	switch (sort) {
	case HA_SORT_BYTES:
		return r->site.bytes;
	case HA_SORT_PEAK:
		return r->peak_bytes;
	case HA_SORT_LEAKED:
		return r->site.leaked_bytes;
	case HA_SORT_CHURN:
		return r->site.churn + r->site.chain_reallocs;
	default:
		return r->site.allocations;
	}
}

const char *ha_sort_name(enum ha_sort sort)
{
	static const char *const names[] = { "allocations", "bytes", "bytes at peak",
					     "leaked bytes", "churn" };
	return names[sort];
}

static int cmp_rows(const void *a, const void *b)
{
	const struct ha_row *x = a, *y = b;
	uint64_t mx = ha_row_metric(x, g_sort), my = ha_row_metric(y, g_sort);

	if (mx != my)
		return mx > my ? -1 : 1;
	if (x->site.bytes != y->site.bytes)
		return x->site.bytes > y->site.bytes ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Frames of libc, the C++ runtime and the loader are the allocator's
 * wrappers (strdup, operator new): the key frame is the first one past them. */
static bool runtime_frame(const struct ha_frame *f)
{
	const char *m = f->module ? strrchr(f->module, '/') : NULL;

	m = m ? m + 1 : f->module;
	if (m && (!strncmp(m, "libc.so", 7) || !strncmp(m, "libstdc++.so", 12) ||
		  !strncmp(m, "ld-linux", 8) || !strncmp(m, "libhotalloc", 11)))
		return true;
	return f->function && !strncmp(f->function, "operator new", 12);
}

static void symbolize_row(struct ha_row *r, struct ha_profile *p, uint32_t stack)
{
	const uint64_t *addrs = stack < p->sites.nstacks ? p->sites.frames[stack] : NULL;
	unsigned n = addrs ? p->sites.nframes[stack] : 0;

	r->nframes = 0;
	r->key_frame = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct ha_frame *fr;
		unsigned k = ha_sym_resolve(p->sym, addrs[i], &fr);

		r->frames = xrealloc(r->frames, (r->nframes + k) * sizeof(*r->frames));
		for (unsigned j = 0; j < k; j++)
			r->frames[r->nframes++] = &fr[j];
	}
	for (unsigned i = 0; i < r->nframes; i++) {
		if (!runtime_frame(r->frames[i])) {
			r->key_frame = i;
			break;
		}
	}
}

static char *make_key(const struct ha_row *r, enum ha_group g, uint32_t stack, bool merge)
{
	char buf[8192];
	size_t len = 0;

	if (!r->nframes) {
		snprintf(buf, sizeof(buf), "(no stack)");
		return xstrdup(buf);
	}
	if (g == HA_GROUP_FUNCTION) {
		return xstrdup(r->frames[r->key_frame]->function);
	} else if (g == HA_GROUP_LINE) {
		const struct ha_frame *f = r->frames[r->key_frame];

		if (f->file)
			snprintf(buf, sizeof(buf), "%s:%u", f->file, f->line);
		else
			snprintf(buf, sizeof(buf), "%s", f->function);
		return xstrdup(buf);
	}
	if (!merge) {
		snprintf(buf, sizeof(buf), "#%u", stack);
		return xstrdup(buf);
	}
	/* Merging processes: a stack is known by its symbolized frames. */
	for (unsigned i = 0; i < r->nframes && len + 1 < sizeof(buf); i++) {
		const struct ha_frame *f = r->frames[i];
		int w = snprintf(buf + len, sizeof(buf) - len, "%s@%s:%u;", f->function,
				 f->file ? f->file : "?", f->line);
		if (w < 0 || (size_t)w >= sizeof(buf) - len)
			break;
		len += (size_t)w;
	}
	return xstrdup(buf);
}

/* One line a developer can act on, for a site whose allocations die young. */
static const char *make_hint(const struct ha_row *r)
{
	const struct ha_site *s = &r->site;
	uint64_t top = 0;
	unsigned top_b = 0;

	if (s->chains && s->chain_reallocs >= s->chains * 4)
		return "reserve capacity up front: the block is grown by realloc again and again";
	if (!s->allocations || s->churn * 4 < s->allocations)
		return NULL;
	for (unsigned b = 0; b < HA_SIZE_BUCKETS; b++) {
		if (s->size_hist[b] > top) {
			top = s->size_hist[b];
			top_b = b;
		}
	}
	if (s->temporary * 2 >= s->allocations && ha_size_bucket_lo(top_b) < 256)
		return "keep this small object on the stack: it is freed before anything else is allocated";
	if (s->temporary * 2 >= s->allocations)
		return "reuse one buffer across iterations: each is freed before the next allocation";
	if (top * 10 >= s->allocations * 9)
		return "pool blocks of this size: they are short-lived and nearly all one size";
	return "reuse buffers across iterations: most of these blocks die young";
}

void ha_model_build(struct ha_model *m, struct ha_profile *profiles, size_t n,
		    const struct ha_report_opts *o)
{
	struct group_ent *groups = NULL, *g, *tmp;
	size_t cap = 0;
	double dur = 0;

	memset(m, 0, sizeof(*m));
	for (size_t k = 0; k < n; k++) {
		struct ha_profile *p = &profiles[k];
		const struct ha_totals *t = &p->rp.tot;

		for (unsigned i = 0; i < HA_EV_NKINDS; i++)
			m->tot.calls[i] += t->calls[i];
		m->tot.allocations += t->allocations;
		m->tot.frees += t->frees;
		m->tot.bytes_allocated += t->bytes_allocated;
		m->tot.live_bytes += t->live_bytes;
		m->tot.live_blocks += t->live_blocks;
		m->tot.peak_bytes += t->peak_bytes;
		m->tot.peak_ts = t->peak_ts;
		m->tot.unmatched_frees += t->unmatched_frees;
		m->tot.conflicts += t->conflicts;
		m->tot.failed += t->failed;
		m->tot.lost += t->lost;
		if (t->last_ts > m->tot.last_ts)
			m->tot.last_ts = t->last_ts;
		dur += (double)(t->last_ts > p->end_ts ? t->last_ts : p->end_ts) / 1e9;
		for (unsigned b = 0; b < HA_SIZE_BUCKETS; b++)
			m->size_hist[b] += p->sites.size_hist[b];
		m->temporary += p->sites.temporary;
		m->short_lived += p->sites.short_lived;
		m->chains += p->sites.chains;
		m->cross_thread_frees += p->sites.cross_thread_frees;
		m->per_count += p->per_count;

		for (size_t id = 0; id < p->sites.nsites; id++) {
			const struct ha_site *site = &p->sites.by_stack[id];
			struct ha_row row;

			if (!site->allocations && !site->leaked_blocks && !site->frees)
				continue;
			memset(&row, 0, sizeof(row));
			symbolize_row(&row, p, (uint32_t)id);
			row.key = make_key(&row, o->group, (uint32_t)id, o->merge && n > 1);
			HASH_FIND_STR(groups, row.key, g);
			if (!g) {
				if (m->nrows == cap) {
					cap = cap ? 2 * cap : 256;
					m->rows = xrealloc(m->rows, cap * sizeof(*m->rows));
				}
				g = xcalloc(1, sizeof(*g));
				g->key = row.key;
				g->row = m->nrows;
				HASH_ADD_KEYPTR(hh, groups, g->key, strlen(g->key), g);
				row.rep_allocations = site->allocations;
				m->rows[m->nrows++] = row;
			} else {
				struct ha_row *into = &m->rows[g->row];

				/* The representative stack is the group's biggest member. */
				if (site->allocations > into->rep_allocations) {
					free(into->frames);
					into->frames = row.frames;
					into->nframes = row.nframes;
					into->key_frame = row.key_frame;
					into->rep_allocations = site->allocations;
				} else {
					free(row.frames);
				}
				free(row.key);
			}
			struct ha_row *into = &m->rows[g->row];
			ha_site_add(&into->site, site);
			into->peak_bytes += ha_site_peak_bytes(&p->sites, site);
			into->members++;
		}
	}
	HASH_ITER(hh, groups, g, tmp) {
		HASH_DEL(groups, g);
		free(g);
	}
	for (size_t i = 0; i < m->nrows; i++)
		m->rows[i].hint = make_hint(&m->rows[i]);
	g_sort = o->sort;
	if (m->nrows)
		qsort(m->rows, m->nrows, sizeof(*m->rows), cmp_rows);
	m->duration_s = dur;
}

void ha_model_free(struct ha_model *m)
{
	for (size_t i = 0; i < m->nrows; i++) {
		free(m->rows[i].site.life_hist);
		free(m->rows[i].frames);
		free(m->rows[i].key);
	}
	free(m->rows);
	memset(m, 0, sizeof(*m));
}
