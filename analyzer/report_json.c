/* SPDX-License-Identifier: MIT */
/* The JSON report: every figure of the text report and more, with the stable
 * field names documented in README.md. */
#include "hotalloc/format.h"
#include "json.h"
#include "report.h"

static const char *const kind_names[] = HA_EVENT_NAMES;

static void trace_info(struct ha_json *j, const struct ha_profile *p)
{
	const struct ha_totals *t = &p->rp.tot;
	static const char *const end_names[] = { "exit", "exec", "_exit" };

	ha_json_begin(j, "trace", '{');
	ha_json_str(j, "file", p->path);
	ha_json_u64(j, "format_version", p->hdr.version);
	ha_json_u64(j, "pid", p->hdr.pid);
	ha_json_u64(j, "ppid", p->hdr.ppid);
	ha_json_bool(j, "forked", p->hdr.flags & HA_FILE_FORKED);
	ha_json_str(j, "command", p->command);
	ha_json_str(j, "exe", p->exe ? p->exe : "");
	ha_json_bool(j, "truncated", p->truncated);
	/* Sampled (HOTALLOC_SAMPLE): every count and byte figure is an estimate. */
	ha_json_u64(j, "sample_bytes", p->hdr.sample_bytes);
	ha_json_bool(j, "estimated", p->hdr.sample_bytes != 0);
	if (p->ended && p->end_reason < 3)
		ha_json_str(j, "end", end_names[p->end_reason]);
	else
		ha_json_null(j, "end");
	ha_json_u64(j, "lost_events", t->lost);
	ha_json_f64(j, "duration_s", (double)(t->last_ts > p->end_ts ? t->last_ts : p->end_ts) / 1e9);
	ha_json_u64(j, "chunks", p->chunks);
	ha_json_u64(j, "file_bytes", p->file_size);
	ha_json_u64(j, "stacks", p->nstacks);
	ha_json_u64(j, "modules", p->nmodules);
	ha_json_end(j, '}');
}

static void size_hist(struct ha_json *j, const char *key, const uint64_t *h)
{
	ha_json_begin(j, key, '[');
	for (unsigned b = 0; b < HA_SIZE_BUCKETS; b++) {
		if (!h[b])
			continue;
		ha_json_begin(j, NULL, '{');
		ha_json_u64(j, "min", ha_size_bucket_lo(b));
		ha_json_u64(j, "max", b ? ha_size_bucket_lo(b) * 2 - 1 : 0);
		ha_json_u64(j, "count", h[b]);
		ha_json_end(j, '}');
	}
	ha_json_end(j, ']');
}

static void site(struct ha_json *j, const struct ha_model *m, const struct ha_row *r, size_t rank)
{
	const struct ha_site *s = &r->site;

	ha_json_begin(j, NULL, '{');
	ha_json_u64(j, "rank", rank);
	ha_json_str(j, "key", r->key);
	ha_json_u64(j, "stacks", r->members);
	ha_json_begin(j, "stack", '[');
	for (unsigned i = 0; i < r->nframes; i++) {
		const struct ha_frame *f = r->frames[i];

		ha_json_begin(j, NULL, '{');
		ha_json_str(j, "function", f->function);
		if (f->file)
			ha_json_str(j, "file", f->file);
		else
			ha_json_null(j, "file");
		ha_json_u64(j, "line", f->line);
		ha_json_str(j, "module", f->module ? f->module : "");
		ha_json_bool(j, "inlined", f->inlined);
		ha_json_u64(j, "address", f->addr);
		ha_json_end(j, '}');
	}
	ha_json_end(j, ']');
	ha_json_u64(j, "caller_frame", r->key_frame);
	ha_json_u64(j, "allocations", s->allocations);
	ha_json_u64(j, "bytes", s->bytes);
	ha_json_f64(j, "share_allocations", m->tot.allocations ? (double)s->allocations / (double)m->tot.allocations : 0);
	ha_json_f64(j, "share_bytes", m->tot.bytes_allocated ? (double)s->bytes / (double)m->tot.bytes_allocated : 0);
	ha_json_u64(j, "peak_bytes", r->peak_bytes);
	ha_json_u64(j, "frees", s->frees);
	ha_json_u64(j, "leaked_blocks", s->leaked_blocks);
	ha_json_u64(j, "leaked_bytes", s->leaked_bytes);
	ha_json_u64(j, "temporary", s->temporary);
	ha_json_u64(j, "short_lived", s->short_lived);
	ha_json_f64(j, "churn_per_s", m->duration_s > 0 ? (double)s->churn / m->duration_s : 0);
	ha_json_u64(j, "cross_thread_frees", s->cross_thread_frees);
	if (m->per_count) {
		ha_json_f64(j, "allocations_per_op", (double)s->allocations / (double)m->per_count);
		ha_json_f64(j, "bytes_per_op", (double)s->bytes / (double)m->per_count);
	}
	if (s->life_n) {
		ha_json_begin(j, "lifetime_ns", '{');
		ha_json_u64(j, "p50", ha_site_lifetime_pct(s, 50));
		ha_json_u64(j, "p90", ha_site_lifetime_pct(s, 90));
		ha_json_u64(j, "p99", ha_site_lifetime_pct(s, 99));
		ha_json_u64(j, "max", s->life_max);
		ha_json_end(j, '}');
	} else {
		ha_json_null(j, "lifetime_ns");
	}
	ha_json_begin(j, "realloc_chains", '{');
	ha_json_u64(j, "chains", s->chains);
	ha_json_u64(j, "reallocs", s->chain_reallocs);
	ha_json_u64(j, "final_bytes_avg", s->chains ? s->chain_final_bytes / s->chains : 0);
	ha_json_end(j, '}');
	size_hist(j, "size_histogram", s->size_hist);
	if (r->hint)
		ha_json_str(j, "hint", r->hint);
	else
		ha_json_null(j, "hint");
	ha_json_end(j, '}');
}

static void threads(struct ha_json *j, struct ha_profile *p)
{
	ha_json_begin(j, "threads", '[');
	for (size_t i = 0; i < p->sites.nthreads; i++) {
		const struct ha_thread_stats *t = &p->sites.threads[i];

		ha_json_begin(j, NULL, '{');
		ha_json_u64(j, "tid", t->tid);
		ha_json_u64(j, "allocations", t->allocations);
		ha_json_u64(j, "bytes", t->bytes);
		ha_json_u64(j, "frees", t->frees);
		ha_json_u64(j, "cross_thread_frees", t->cross_thread_frees);
		ha_json_end(j, '}');
	}
	ha_json_end(j, ']');
}

static void section(struct ha_json *j, struct ha_profile *p, size_t n, const struct ha_report_opts *o)
{
	struct ha_model m;
	size_t shown;

	ha_model_build(&m, p, n, o);
	shown = o->top && o->top < m.nrows ? o->top : m.nrows;
	ha_json_begin(j, NULL, '{');
	if (n == 1) {
		trace_info(j, p);
	} else {
		ha_json_begin(j, "merged", '[');
		for (size_t k = 0; k < n; k++) {
			ha_json_begin(j, NULL, '{');
			trace_info(j, &p[k]);
			ha_json_end(j, '}');
		}
		ha_json_end(j, ']');
	}
	ha_json_begin(j, "calls", '{');
	for (int k = HA_EV_MALLOC; k < HA_EV_MARK; k++)
		ha_json_u64(j, kind_names[k], m.tot.calls[k]);
	ha_json_u64(j, "free", m.tot.calls[HA_EV_FREE]);
	ha_json_end(j, '}');

	ha_json_begin(j, "totals", '{');
	ha_json_u64(j, "allocations", m.tot.allocations);
	ha_json_u64(j, "frees", m.tot.frees);
	ha_json_u64(j, "bytes_allocated", m.tot.bytes_allocated);
	ha_json_u64(j, "peak_bytes", m.tot.peak_bytes);
	ha_json_f64(j, "peak_time_s", (double)m.tot.peak_ts / 1e9);
	ha_json_u64(j, "leaked_bytes", m.tot.live_bytes);
	ha_json_u64(j, "leaked_blocks", m.tot.live_blocks);
	ha_json_f64(j, "allocations_per_s", m.duration_s > 0 ? (double)m.tot.allocations / m.duration_s : 0);
	ha_json_u64(j, "temporary", m.temporary);
	ha_json_u64(j, "short_lived", m.short_lived);
	ha_json_u64(j, "realloc_chains", m.chains);
	ha_json_u64(j, "cross_thread_frees", m.cross_thread_frees);
	ha_json_u64(j, "failed_calls", m.tot.failed);
	ha_json_u64(j, "unmatched_frees", m.tot.unmatched_frees);
	ha_json_u64(j, "reused_while_live", m.tot.conflicts);
	ha_json_end(j, '}');
	if (n == 1 && (p->rp.from || p->rp.to)) {
		ha_json_begin(j, "window", '{');
		if (p->rp.from)
			ha_json_str(j, "from", p->rp.from);
		if (p->rp.to)
			ha_json_str(j, "to", p->rp.to);
		ha_json_f64(j, "start_s", (double)p->rp.window_start / 1e9);
		if (p->rp.window_closed)
			ha_json_f64(j, "end_s", (double)p->rp.window_end / 1e9);
		else
			ha_json_null(j, "end_s");
		ha_json_end(j, '}');
	}
	if (p->rp.per) {
		ha_json_begin(j, "per", '{');
		ha_json_str(j, "mark", p->rp.per);
		ha_json_u64(j, "count", m.per_count);
		ha_json_f64(j, "allocations_per_op", m.per_count ? (double)m.tot.allocations / (double)m.per_count : 0);
		ha_json_f64(j, "bytes_per_op", m.per_count ? (double)m.tot.bytes_allocated / (double)m.per_count : 0);
		ha_json_f64(j, "frees_per_op", m.per_count ? (double)m.tot.frees / (double)m.per_count : 0);
		ha_json_end(j, '}');
	}
	size_hist(j, "size_histogram", m.size_hist);
	if (n == 1)
		threads(j, p);
	ha_json_str(j, "group_by", ha_group_name(o->group));
	ha_json_str(j, "sort", ha_sort_name(o->sort));
	ha_json_f64(j, "short_lived_ns", (double)o->short_ns);
	ha_json_u64(j, "sites_total", m.nrows);
	ha_json_begin(j, "sites", '[');
	for (size_t i = 0; i < shown; i++)
		site(j, &m, &m.rows[i], i + 1);
	ha_json_end(j, ']');
	ha_json_end(j, '}');
	ha_model_free(&m);
}

void ha_report_json(FILE *f, struct ha_profile *profiles, size_t n, const struct ha_report_opts *o)
{
	struct ha_json j;

	ha_json_init(&j, f, true);
	if (n == 1 || o->merge) {
		section(&j, profiles, n, o);
		return;
	}
	ha_json_begin(&j, NULL, '[');
	for (size_t i = 0; i < n; i++)
		section(&j, &profiles[i], 1, o);
	ha_json_end(&j, ']');
}
