/* SPDX-License-Identifier: MIT */
/* The text report: fits 80 columns, most important first, with units. */
#include <inttypes.h>
#include "hotalloc/format.h"
#include "report.h"

static const char *const kind_names[] = HA_EVENT_NAMES;

const char *ha_fmt_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

static void one(FILE *f, const struct ha_profile *p)
{
	const struct ha_totals *t = &p->rp.tot;
	char b1[32], b2[32];
	double secs = (double)t->last_ts / 1e9;

	fprintf(f, "hotalloc report: %s\n", p->command[0] ? p->command : p->path);
	fprintf(f, "  pid %u%s, %.3f s traced, trace %s%s\n", p->hdr.pid,
		(p->hdr.flags & HA_FILE_FORKED) ? " (forked)" : "", secs,
		p->truncated ? "TRUNCATED" : "complete",
		t->lost ? ", some events lost" : "");
	fprintf(f, "\n  allocations  %12" PRIu64 "   %s\n", t->allocations,
		ha_fmt_bytes(b1, sizeof(b1), t->bytes_allocated));
	fprintf(f, "  frees        %12" PRIu64 "\n", t->frees);
	fprintf(f, "  peak         %12s   at %.3f s\n", ha_fmt_bytes(b1, sizeof(b1), t->peak_bytes),
		(double)t->peak_ts / 1e9);
	fprintf(f, "  leaked       %12s   in %" PRIu64 " blocks\n",
		ha_fmt_bytes(b2, sizeof(b2), t->live_bytes), t->live_blocks);
	if (secs > 0)
		fprintf(f, "  rate         %12.0f allocations/s\n", (double)t->allocations / secs);
	fprintf(f, "\n  calls:");
	for (int k = HA_EV_MALLOC; k < HA_EV_MARK; k++)
		if (t->calls[k])
			fprintf(f, " %s %" PRIu64 ",", kind_names[k], t->calls[k]);
	fprintf(f, " free %" PRIu64 "\n", t->calls[HA_EV_FREE]);
	if (t->lost)
		fprintf(f, "  lost events: %" PRIu64 "\n", t->lost);
	if (t->failed)
		fprintf(f, "  failed calls: %" PRIu64 "\n", t->failed);
}

void ha_report_text(FILE *f, struct ha_profile *profiles, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc('\n', f);
		one(f, &profiles[i]);
	}
}
