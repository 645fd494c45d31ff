/* SPDX-License-Identifier: MIT */
/* The JSON report: stable field names, documented in README.md. */
#include "hotalloc/format.h"
#include "json.h"
#include "report.h"

static const char *const kind_names[] = HA_EVENT_NAMES;

static void one(struct ha_json *j, const struct ha_profile *p)
{
	const struct ha_totals *t = &p->rp.tot;
	static const char *const end_names[] = { "exit", "exec", "_exit" };

	ha_json_begin(j, NULL, '{');
	ha_json_begin(j, "trace", '{');
	ha_json_str(j, "file", p->path);
	ha_json_u64(j, "format_version", p->hdr.version);
	ha_json_u64(j, "pid", p->hdr.pid);
	ha_json_u64(j, "ppid", p->hdr.ppid);
	ha_json_bool(j, "forked", p->hdr.flags & HA_FILE_FORKED);
	ha_json_str(j, "command", p->command);
	ha_json_str(j, "exe", p->exe ? p->exe : "");
	ha_json_bool(j, "truncated", p->truncated);
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

	ha_json_begin(j, "calls", '{');
	for (int k = HA_EV_MALLOC; k < HA_EV_MARK; k++)
		ha_json_u64(j, kind_names[k], t->calls[k]);
	ha_json_u64(j, "free", t->calls[HA_EV_FREE]);
	ha_json_end(j, '}');

	ha_json_begin(j, "totals", '{');
	ha_json_u64(j, "allocations", t->allocations);
	ha_json_u64(j, "frees", t->frees);
	ha_json_u64(j, "bytes_allocated", t->bytes_allocated);
	ha_json_u64(j, "peak_bytes", t->peak_bytes);
	ha_json_f64(j, "peak_time_s", (double)t->peak_ts / 1e9);
	ha_json_u64(j, "leaked_bytes", t->live_bytes);
	ha_json_u64(j, "leaked_blocks", t->live_blocks);
	ha_json_u64(j, "failed_calls", t->failed);
	ha_json_u64(j, "unmatched_frees", t->unmatched_frees);
	ha_json_u64(j, "reused_while_live", t->conflicts);
	ha_json_end(j, '}');
	ha_json_end(j, '}');
}

void ha_report_json(FILE *f, struct ha_profile *profiles, size_t n)
{
	struct ha_json j;

	ha_json_init(&j, f, true);
	if (n == 1) {
		one(&j, &profiles[0]);
		return;
	}
	ha_json_begin(&j, NULL, '[');
	for (size_t i = 0; i < n; i++)
		one(&j, &profiles[i]);
	ha_json_end(&j, ']');
}
