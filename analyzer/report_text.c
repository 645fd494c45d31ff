/* SPDX-License-Identifier: MIT */
/* The text report: fits 80 columns, most important first, numbers with
 * units, readable without the manual. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "hotalloc/format.h"
#include "report.h"

#define WIDTH 80
#define STACK_LINES 8

static const char *const kind_names[] = HA_EVENT_NAMES;

const char *ha_fmt_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

const char *ha_fmt_ns(char *buf, size_t size, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, size, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", (double)ns / 1e9);
	return buf;
}

const char *ha_group_name(enum ha_group g)
{
	return g == HA_GROUP_LINE ? "line" : g == HA_GROUP_FUNCTION ? "function" : "stack";
}

/* 1234567 -> "1,234,567" */
static const char *num(char *buf, size_t size, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v), o = 0;

	for (int i = 0; i < n && (size_t)o + 2 < size; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

static const char *rate(char *buf, size_t size, double per_s)
{
	if (per_s >= 1e6)
		snprintf(buf, size, "%.1f M/s", per_s / 1e6);
	else if (per_s >= 1e3)
		snprintf(buf, size, "%.1f k/s", per_s / 1e3);
	else
		snprintf(buf, size, "%.0f /s", per_s);
	return buf;
}

static void histogram(FILE *f, const uint64_t *h, const char *indent)
{
	uint64_t max = 0, total = 0;
	char lo[32], hi[32], n[32];

	for (unsigned b = 0; b < HA_SIZE_BUCKETS; b++) {
		total += h[b];
		if (h[b] > max)
			max = h[b];
	}
	for (unsigned b = 0; b < HA_SIZE_BUCKETS && max; b++) {
		char bar[33];
		unsigned len;

		if (!h[b])
			continue;
		len = (unsigned)((h[b] * 30 + max - 1) / max);
		memset(bar, '#', len);
		bar[len] = 0;
		ha_fmt_bytes(lo, sizeof(lo), ha_size_bucket_lo(b));
		ha_fmt_bytes(hi, sizeof(hi), b ? ha_size_bucket_lo(b) * 2 - 1 : 0);
		fprintf(f, "%s%9s - %-9s %-30s %12s %5.1f%%\n", indent, lo, hi, bar,
			num(n, sizeof(n), h[b]), 100.0 * (double)h[b] / (double)total);
	}
}

/* "function   file:line", cut to fit the width. */
static void frame_line(FILE *f, const struct ha_frame *fr, const char *indent)
{
	char loc[512];
	int room;
	const char *file = fr->file;

	if (file) {
		const char *slash = strrchr(file, '/');
		/* Keep the last two path parts: enough to find the file. */
		if (slash && slash != file) {
			const char *p = slash - 1;
			while (p > file && *p != '/')
				p--;
			file = *p == '/' ? p + 1 : p;
		}
		snprintf(loc, sizeof(loc), "%s:%u", file, fr->line);
	} else {
		const char *m = fr->module ? strrchr(fr->module, '/') : NULL;

		m = m ? m + 1 : fr->module ? fr->module : "";
		/* An unresolved frame is already named "module+0xoffset". */
		snprintf(loc, sizeof(loc), "%s", strncmp(fr->function, m, strlen(m)) ? m : "");
	}
	if (!loc[0]) {
		fprintf(f, "%s%s%s\n", indent, fr->function, fr->inlined ? " (inlined)" : "");
		return;
	}
	room = WIDTH - (int)strlen(indent) - (int)strlen(loc) - 2 - (fr->inlined ? 10 : 0);
	if (room < 20)
		room = 20;
	fprintf(f, "%s%-*.*s  %s%s\n", indent, room, room, fr->function, loc,
		fr->inlined ? " (inlined)" : "");
}

static void site_block(FILE *f, const struct ha_model *m, const struct ha_row *r, size_t rank,
		       const struct ha_report_opts *o)
{
	const struct ha_site *s = &r->site;
	char a[32], b[32], c[32], d[32], e[32];
	unsigned first = o->group == HA_GROUP_STACK ? 0 : r->key_frame;

	fprintf(f, "#%-3zu %s allocations (%.1f%%)  %s  peak %s  leaked %s\n", rank,
		num(a, sizeof(a), s->allocations),
		m->tot.allocations ? 100.0 * (double)s->allocations / (double)m->tot.allocations : 0.0,
		ha_fmt_bytes(b, sizeof(b), s->bytes), ha_fmt_bytes(c, sizeof(c), r->peak_bytes),
		ha_fmt_bytes(d, sizeof(d), s->leaked_bytes));
	if (s->life_n)
		fprintf(f, "     lifetime p50 %s  p90 %s  p99 %s  max %s\n",
			ha_fmt_ns(a, sizeof(a), ha_site_lifetime_pct(s, 50)),
			ha_fmt_ns(b, sizeof(b), ha_site_lifetime_pct(s, 90)),
			ha_fmt_ns(c, sizeof(c), ha_site_lifetime_pct(s, 99)),
			ha_fmt_ns(d, sizeof(d), s->life_max));
	if (s->temporary || s->short_lived || s->chains)
		fprintf(f, "     temporary %s  short-lived %s  realloc chains %s\n",
			num(a, sizeof(a), s->temporary), num(b, sizeof(b), s->short_lived),
			num(e, sizeof(e), s->chains));
	if (o->group != HA_GROUP_STACK && r->members > 1)
		fprintf(f, "     %u stacks; the largest:\n", r->members);
	for (unsigned i = first; i < r->nframes && i < first + STACK_LINES; i++)
		frame_line(f, r->frames[i], "     ");
	if (r->nframes > first + STACK_LINES)
		fprintf(f, "     ... %u more frames\n", r->nframes - first - STACK_LINES);
	if (!r->nframes)
		fprintf(f, "     (no stack recorded)\n");
	if (r->hint)
		fprintf(f, "     hint: %s\n", r->hint);
}

/* A site's caller line, short: "function file:line". */
static void short_site(FILE *f, const struct ha_row *r)
{
	if (r->nframes)
		frame_line(f, r->frames[r->key_frame], "      ");
	else
		fprintf(f, "      (no stack recorded)\n");
}

static enum ha_sort top_sort;

static int cmp_metric(const void *a, const void *b)
{
	uint64_t x = ha_row_metric(*(const struct ha_row *const *)a, top_sort);
	uint64_t y = ha_row_metric(*(const struct ha_row *const *)b, top_sort);

	return x > y ? -1 : x < y;
}

/* The five rows with the most of one figure, with their share of total. */
static void top_by(FILE *f, const struct ha_model *m, enum ha_sort sort, uint64_t total)
{
	const struct ha_row **v = xcalloc(m->nrows ? m->nrows : 1, sizeof(*v));
	char a[32], b[32];

	for (size_t i = 0; i < m->nrows; i++)
		v[i] = &m->rows[i];
	top_sort = sort;
	qsort(v, m->nrows, sizeof(*v), cmp_metric);
	for (size_t i = 0; i < m->nrows && i < 5 && ha_row_metric(v[i], sort); i++) {
		uint64_t x = ha_row_metric(v[i], sort);

		if (sort == HA_SORT_LEAKED)
			fprintf(f, "  %10s  %5.1f%%  in %s block(s)\n", ha_fmt_bytes(a, sizeof(a), x),
				100.0 * (double)x / (double)total, num(b, sizeof(b), v[i]->site.leaked_blocks));
		else
			fprintf(f, "  %10s  %5.1f%%\n", ha_fmt_bytes(a, sizeof(a), x),
				100.0 * (double)x / (double)total);
		short_site(f, v[i]);
	}
	free(v);
}

static void section(FILE *f, struct ha_profile *p, size_t n, const struct ha_report_opts *o)
{
	struct ha_model m;
	const struct ha_totals *t;
	char a[32], b[32], c[32];
	size_t shown;

	ha_model_build(&m, p, n, o);
	t = &m.tot;
	shown = o->top && o->top < m.nrows ? o->top : m.nrows;
	if (n == 1)
		fprintf(f, "hotalloc report: %s\n  pid %u%s, %s traced, trace %s%s\n",
			p->command[0] ? p->command : p->path, p->hdr.pid,
			(p->hdr.flags & HA_FILE_FORKED) ? " (fork child)" : "",
			ha_fmt_ns(a, sizeof(a), (uint64_t)(m.duration_s * 1e9)),
			p->truncated ? "TRUNCATED (the program was killed)" : "complete",
			t->lost ? ", some events lost" : "");
	else
		fprintf(f, "hotalloc report: %zu processes merged\n", n);
	for (size_t i = 0; i < n; i++) {
		if (p[i].hdr.sample_bytes) {
			fprintf(f, "  SAMPLED: one allocation per %s allocated, on average; every count\n"
				"  and size below is an estimate (lifetimes are measured; temporary is\n"
				"  an upper bound)\n", ha_fmt_bytes(a, sizeof(a), p[i].hdr.sample_bytes));
			break;
		}
	}
	fprintf(f, "\n  allocations %14s   %s   %s\n", num(a, sizeof(a), t->allocations),
		ha_fmt_bytes(b, sizeof(b), t->bytes_allocated),
		rate(c, sizeof(c), m.duration_s > 0 ? (double)t->allocations / m.duration_s : 0));
	fprintf(f, "  frees       %14s\n", num(a, sizeof(a), t->frees));
	fprintf(f, "  peak        %14s   at %s\n", ha_fmt_bytes(a, sizeof(a), t->peak_bytes),
		ha_fmt_ns(b, sizeof(b), t->peak_ts));
	fprintf(f, "  leaked      %14s   in %s block(s)\n", ha_fmt_bytes(a, sizeof(a), t->live_bytes),
		num(b, sizeof(b), t->live_blocks));
	fprintf(f, "  churn       %14s   temporary, %s short-lived (< %s)\n",
		num(a, sizeof(a), m.temporary), num(b, sizeof(b), m.short_lived),
		ha_fmt_ns(c, sizeof(c), o->short_ns));
	if (m.chains)
		fprintf(f, "  realloc     %14s   growth chains (blocks grown by realloc twice or more)\n",
			num(a, sizeof(a), m.chains));
	fprintf(f, "  calls      ");
	for (int k = HA_EV_MALLOC; k < HA_EV_MARK; k++)
		if (t->calls[k])
			fprintf(f, " %s %s", kind_names[k], num(a, sizeof(a), t->calls[k]));
	fprintf(f, " free %s\n", num(a, sizeof(a), t->calls[HA_EV_FREE]));
	if (n == 1 && (p->rp.from || p->rp.to))
		fprintf(f, "  window      from %s (%s) to %s\n", p->rp.from ? p->rp.from : "start",
			ha_fmt_ns(a, sizeof(a), p->rp.window_start),
			p->rp.window_closed ? p->rp.to : "the end");
	if (m.per_count)
		fprintf(f, "  per '%s'    %.2f allocations, %.1f bytes, %.2f frees (%s operations)\n",
			p->rp.per, (double)t->allocations / (double)m.per_count,
			(double)t->bytes_allocated / (double)m.per_count,
			(double)t->frees / (double)m.per_count, num(b, sizeof(b), m.per_count));
	if (t->lost || t->failed)
		fprintf(f, "  failed calls %s, lost events %s\n", num(a, sizeof(a), t->failed),
			num(b, sizeof(b), t->lost));

	if (t->allocations) {
		fprintf(f, "\nAllocation sizes\n");
		histogram(f, m.size_hist, "  ");
	}
	fprintf(f, "\nTop %zu of %zu sites by %s (grouped by %s)\n", shown, m.nrows,
		ha_sort_name(o->sort), ha_group_name(o->group));
	for (size_t i = 0; i < shown; i++) {
		fputc('\n', f);
		site_block(f, &m, &m.rows[i], i + 1, o);
	}

	/* Who held the peak, and what leaked: the rows again, by those figures. */
	if (t->peak_bytes) {
		fprintf(f, "\nPeak %s at %s, held by\n", ha_fmt_bytes(a, sizeof(a), t->peak_bytes),
			ha_fmt_ns(b, sizeof(b), t->peak_ts));
		top_by(f, &m, HA_SORT_PEAK, t->peak_bytes);
	}
	if (t->live_blocks) {
		fprintf(f, "\nLeaked at exit: %s in %s block(s)\n", ha_fmt_bytes(a, sizeof(a), t->live_bytes),
			num(b, sizeof(b), t->live_blocks));
		top_by(f, &m, HA_SORT_LEAKED, t->live_bytes);
	}
	if (n == 1 && p->sites.nthreads > 1) {
		fprintf(f, "\nThreads: %zu, cross-thread frees %s\n", p->sites.nthreads,
			num(a, sizeof(a), m.cross_thread_frees));
		for (size_t i = 0; i < p->sites.nthreads && i < 16; i++) {
			const struct ha_thread_stats *th = &p->sites.threads[i];
			fprintf(f, "  tid %-8u %14s allocations %10s %14s frees\n", th->tid,
				num(a, sizeof(a), th->allocations), ha_fmt_bytes(b, sizeof(b), th->bytes),
				num(c, sizeof(c), th->frees));
		}
		if (p->sites.nthreads > 16)
			fprintf(f, "  ... %zu more threads (all in --format json)\n", p->sites.nthreads - 16);
	}
	ha_model_free(&m);
}

void ha_report_text(FILE *f, struct ha_profile *profiles, size_t n, const struct ha_report_opts *o)
{
	if (o->merge) {
		section(f, profiles, n, o);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			fprintf(f, "\n%.*s\n\n", WIDTH, "================================================================================");
		section(f, &profiles[i], 1, o);
	}
}
