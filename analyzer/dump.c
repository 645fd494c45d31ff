/* SPDX-License-Identifier: MIT */
/* `hotalloc dump TRACE`: every record of a trace, one per line, in file
 * order, for debugging the tracer and for tests that look inside a trace. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "trace.h"
#include "util.h"

static const char *const kind_names[] = HA_EVENT_NAMES;

static void d_event(void *ctx, const struct ha_event *ev)
{
	FILE *f = ctx;

	fprintf(f, "%" PRIu64 " %u %s", ev->ts, ev->tid, kind_names[ev->kind]);
	if (ev->kind == HA_EV_MARK) {
		fprintf(f, " '%.*s'\n", (int)ev->mark_len, ev->mark);
		return;
	}
	fprintf(f, " 0x%" PRIx64, ev->addr);
	if (ev->kind != HA_EV_FREE)
		fprintf(f, " size=%" PRIu64, ev->size);
	if (ev->kind == HA_EV_REALLOC || ev->kind == HA_EV_REALLOCARRAY)
		fprintf(f, " old=0x%" PRIx64 " pre=%" PRIu64, ev->old, ev->pre);
	else if (ev->kind == HA_EV_CALLOC)
		fprintf(f, " nmemb=%" PRIu64, ev->align);
	else if (ev->align)
		fprintf(f, " align=%" PRIu64, ev->align);
	if (ev->kind != HA_EV_FREE)
		fprintf(f, " stack=%u", ev->stack);
	fputc('\n', f);
}

static void d_stack(void *ctx, uint32_t id, const uint64_t *frames, unsigned n)
{
	FILE *f = ctx;

	fprintf(f, "stack %u:", id);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, " 0x%" PRIx64, frames[i]);
	fputc('\n', f);
}

static void d_module(void *ctx, uint32_t id, uint64_t ts, uint64_t bias, const char *path,
		     const uint8_t *build_id, unsigned build_id_len, const uint64_t *segs, unsigned nseg)
{
	FILE *f = ctx;

	fprintf(f, "module %u at %" PRIu64 ": '%s' bias=0x%" PRIx64 " build-id=", id, ts, path, bias);
	for (unsigned i = 0; i < build_id_len; i++)
		fprintf(f, "%02x", build_id[i]);
	for (unsigned i = 0; i < nseg; i++)
		fprintf(f, " [0x%" PRIx64 "+0x%" PRIx64 " %c%c%c]", segs[3 * i], segs[3 * i + 1],
			(segs[3 * i + 2] & 4) ? 'r' : '-', (segs[3 * i + 2] & 2) ? 'w' : '-',
			(segs[3 * i + 2] & 1) ? 'x' : '-');
	fputc('\n', f);
}

static void d_unload(void *ctx, uint32_t id, uint64_t ts)
{
	fprintf(ctx, "unload %u at %" PRIu64 "\n", id, ts);
}

static void d_info(void *ctx, const char *key, const char *val, size_t len)
{
	FILE *f = ctx;

	fprintf(f, "info %s: '", key);
	for (size_t i = 0; i < len; i++)
		fputc(val[i] ? val[i] : ' ', f);
	fputs("'\n", f);
}

static void d_sync(void *ctx, uint64_t ts)
{
	fprintf(ctx, "sync %" PRIu64 "\n", ts);
}

static void d_lost(void *ctx, uint64_t n)
{
	fprintf(ctx, "lost %" PRIu64 "\n", n);
}

static void d_end(void *ctx, unsigned reason, uint64_t ts)
{
	static const char *const names[] = { "exit", "exec", "_exit" };

	fprintf(ctx, "end %s at %" PRIu64 "\n", reason < 3 ? names[reason] : "?", ts);
}

int ha_cmd_dump(int argc, char **argv)
{
	struct ha_visitor v = {
		.ctx = stdout, .event = d_event, .stack = d_stack, .module = d_module,
		.unload = d_unload, .info = d_info, .sync = d_sync, .lost = d_lost, .end = d_end,
	};
	struct ha_trace t;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			puts("usage: hotalloc dump TRACE\n  every record of the trace, one per line");
			return HA_EXIT_OK;
		}
		ha_die("dump: takes one trace; see 'hotalloc dump --help'");
	}
	if (ha_trace_open(&t, argv[1]) < 0)
		return HA_EXIT_USAGE;
	printf("header: version %u pid %u ppid %u flags 0x%x sample_bytes %u\n", t.hdr.version, t.hdr.pid,
	       t.hdr.ppid, t.hdr.flags, t.hdr.sample_bytes);
	while ((rc = ha_trace_next(&t, &v)) > 0)
		printf("-- chunk %" PRIu64 " ends\n", t.chunks - 1);
	if (rc == 0 && t.truncated)
		puts("truncated");
	ha_trace_close(&t);
	return rc < 0 ? HA_EXIT_USAGE : HA_EXIT_OK;
}
