/* SPDX-License-Identifier: MIT */
/* Loads a profile: drives the trace reader into the replay. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include "profile.h"
#include "util.h"

static void on_batch(void *ctx, struct ha_cursor *c, uint32_t tid, uint64_t ts, uint64_t count,
		     uint32_t nstacks, uint64_t *last_ts)
{
	ha_replay_batch(&((struct ha_profile *)ctx)->rp, c, tid, ts, count, nstacks, last_ts);
}

static void on_sync(void *ctx, uint64_t ts)
{
	ha_replay_sync(&((struct ha_profile *)ctx)->rp, ts);
}

static void on_lost(void *ctx, uint64_t n)
{
	((struct ha_profile *)ctx)->rp.tot.lost += n;
}

static void on_stack(void *ctx, uint32_t id, const uint64_t *frames, unsigned n)
{
	struct ha_profile *p = ctx;

	p->nstacks++;
	ha_sites_stack(&p->sites, id, frames, n);
	ha_sym_hint(p->sym, frames, n);
}

static void on_module(void *ctx, uint32_t id, uint64_t ts, uint64_t bias, const char *path,
		      const uint8_t *build_id, unsigned build_id_len, const uint64_t *segs,
		      unsigned nseg)
{
	struct ha_profile *p = ctx;

	p->nmodules++;
	ha_sym_add_module(p->sym, id, ts, bias, path, build_id, build_id_len, segs, nseg);
}

static void on_unload(void *ctx, uint32_t id, uint64_t ts)
{
	ha_sym_unload(((struct ha_profile *)ctx)->sym, id, ts);
}

static void on_info(void *ctx, const char *key, const char *val, size_t len)
{
	struct ha_profile *p = ctx;

	if (!strcmp(key, "argv")) {
		free(p->command);
		p->command = xmalloc(len + 1);
		memcpy(p->command, val, len);
		p->command[len] = 0;
		/* argv is NUL-separated, with a trailing NUL. */
		while (len && !p->command[len - 1])
			len--;
		for (size_t i = 0; i < len; i++)
			if (!p->command[i])
				p->command[i] = ' ';
		p->command[len] = 0;
	} else if (!strcmp(key, "exe")) {
		free(p->exe);
		p->exe = xmalloc(len + 1);
		memcpy(p->exe, val, len);
		p->exe[len] = 0;
	}
}

static void on_end(void *ctx, unsigned reason, uint64_t ts)
{
	struct ha_profile *p = ctx;

	p->end_reason = reason;
	p->end_ts = ts;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ha_profile_load(struct ha_profile *p, const char *path, const struct ha_load_opts *o)
{
	struct ha_trace t;
	struct ha_visitor v = {
		.ctx = p, .batch = on_batch, .stack = on_stack, .module = on_module,
		.unload = on_unload, .info = on_info, .sync = on_sync, .lost = on_lost, .end = on_end,
	};
	double start = now_s(), last = start;
	bool shown = false;
	int rc;

	memset(p, 0, sizeof(*p));
	if (ha_trace_open(&t, path) < 0)
		return -1;
	p->path = xstrdup(path);
	p->hdr = t.hdr;
	p->sym = ha_sym_new(o->sysroot, o->debug_dir);
	ha_replay_init(&p->rp, o->from, o->to, o->per);
	p->rp.sample_bytes = t.hdr.version >= 2 ? t.hdr.sample_bytes : 0;
	ha_sites_init(&p->sites, o->short_ns);
	p->rp.observe = ha_sites_observe;
	p->rp.observe_ctx = &p->sites;
	p->rp.closing = ha_sites_finish;
	while ((rc = ha_trace_next(&t, &v)) > 0) {
		if (o->progress && (t.chunks & 15) == 0) {
			double now = now_s();

			if (now - start > 1.0 && now - last > 0.25) {
				fprintf(stderr, "\rhotalloc: reading '%s': %3.0f%%, %.1f s of the run",
					path, t.file_size ? 100.0 * (double)t.bytes_read / (double)t.file_size : 0.0,
					(double)t.last_ts / 1e9);
				last = now;
				shown = true;
			}
		}
	}
	if (shown)
		fputs("\r\033[K", stderr);
	if (rc < 0) {
		ha_trace_close(&t);
		return -1;	/* the caller's ha_profile_free releases the rest */
	}
	ha_replay_finish(&p->rp);
	/* One trace's modules at a time: the next's load may open others. */
	ha_sym_settle(p->sym);
	p->truncated = t.truncated;
	p->ended = t.ended;
	p->chunks = t.chunks;
	p->file_size = t.file_size;
	if (t.truncated && t.chunks && !t.torn)
		ha_warn("trace '%s' has no end record: the program was killed or is still running; "
			"reporting its %llu chunks up to %.3f s", path,
			(unsigned long long)t.chunks, (double)t.last_ts / 1e9);
	else if (t.truncated && !t.chunks && !t.torn)
		ha_warn("trace '%s' holds no events: the program was killed before its first chunk", path);
	if (!p->command)
		p->command = xstrdup("");
	ha_trace_close(&t);
	/* A gate must not pass because a marker was misspelt. */
	for (int k = 0; k < 3; k++) {
		const char *want = k == 0 ? o->from : k == 1 ? o->to : o->per;
		bool found = false;

		for (size_t i = 0; want && i < p->rp.nmarks; i++)
			found |= !strcmp(p->rp.marks[i].name, want);
		if (want && !found) {
			ha_error("marker '%s' (%s) does not occur in trace '%s'", want,
				 k == 0 ? "--from" : k == 1 ? "--to" : "--per", path);
			return -1;
		}
	}
	for (size_t i = 0; o->per && i < p->rp.nmarks; i++)
		if (p->rp.marks[i].is_per)
			p->per_count = p->rp.marks[i].count;
	return 0;
}

void ha_profile_free(struct ha_profile *p)
{
	ha_replay_free(&p->rp);
	ha_sites_free(&p->sites);
	ha_sym_free(p->sym);
	free(p->path);
	free(p->command);
	free(p->exe);
	memset(p, 0, sizeof(*p));
}
