/* SPDX-License-Identifier: MIT */
/* The allocation-regression gate: snapshots of a run (from a trace or a JSON
 * report), sites matched across builds, limits, and their verdicts. */
#ifndef HOTALLOC_GATE_H
#define HOTALLOC_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "profile.h"

enum ha_metric { HA_M_ALLOCATIONS, HA_M_BYTES, HA_M_PEAK, HA_M_LEAKED, HA_M_LEAKED_BLOCKS, HA_M_COUNT };

struct ha_snap_frame {
	char *function, *file;
	unsigned line;
};

struct ha_snap_site {
	char *key;			/* functions and files, innermost first: what matches */
	uint64_t v[HA_M_COUNT];
	struct ha_snap_frame *frames;	/* of the largest stack in the group */
	unsigned nframes, caller;
	bool ignored;
};

struct ha_snapshot {
	char *name;			/* the file it came from */
	uint64_t v[HA_M_COUNT];		/* totals */
	uint64_t per_count;		/* --per occurrences, 0 without */
	struct ha_snap_site *sites;
	size_t nsites;
};

struct ha_gate_opts {
	struct ha_load_opts load;	/* --from, --to, --per for traces */
	const char *ignore;		/* --ignore REGEX, or NULL */
	bool accept_estimates;		/* --accept-estimates: sampled inputs are allowed */
};

/* Loads a trace or a JSON report.  0, or -1 after one error line. */
int ha_snapshot_load(struct ha_snapshot *s, const char *path, const struct ha_gate_opts *o);
void ha_snapshot_free(struct ha_snapshot *s);
/* Drops (marks ignored) the sites whose stack matches the regex, and takes
 * them out of the totals.  0, or -1 after an error line for a bad regex. */
int ha_snapshot_ignore(struct ha_snapshot *s, const char *regex);

/* A limit: on a total, on every matched site, or on every new site. */
enum ha_scope { HA_SCOPE_TOTAL, HA_SCOPE_SITE, HA_SCOPE_NEW_SITE, HA_SCOPE_PER_OP };
struct ha_limit {
	enum ha_scope scope;
	enum ha_metric metric;
	bool relative;			/* +N%: soft, against the baseline */
	double pct;			/* relative: allowed increase in percent */
	uint64_t abs;			/* absolute: the hard ceiling */
	char *text;			/* as written, for messages */
};

/* True for limits applied to each site (matched or new) rather than a total. */
static inline bool ha_limit_per_site(const struct ha_limit *l)
{
	return l->scope == HA_SCOPE_SITE || l->scope == HA_SCOPE_NEW_SITE;
}

/* Parses "allocations=+2%", "site.bytes=+5%", "peak_bytes=64MiB",
 * "new_site.allocations=100", "allocations_per_op=+0%".  0 or -1 (error printed). */
int ha_limit_parse(struct ha_limit *l, const char *text);
/* Reads one limit per line ('#' comments, blank lines). */
int ha_limits_file(struct ha_limit **ls, size_t *n, const char *path);
const char *ha_metric_name(enum ha_metric m);

/* One verdict: a limit applied to a total or a site. */
struct ha_verdict {
	const struct ha_limit *limit;
	const struct ha_snap_site *base_site, *new_site;	/* NULL for totals */
	double before, after, allowed;
	bool broken;
};

struct ha_check {
	struct ha_verdict *v;
	size_t n, broken;
	/* matching: index into the new snapshot's sites of each base site, or -1 */
	long *match;
};

void ha_check_run(struct ha_check *c, const struct ha_snapshot *base, const struct ha_snapshot *cur,
		  const struct ha_limit *limits, size_t nlimits);
void ha_check_free(struct ha_check *c);
/* Writes the verdicts: fmt is "text", "json", "markdown" or "junit". */
void ha_check_print(FILE *f, const char *fmt, const struct ha_check *c, const struct ha_snapshot *base,
		    const struct ha_snapshot *cur);
/* hotalloc diff: per site, before, after, delta, sorted by the size of the change. */
void ha_diff_print(FILE *f, const char *fmt, const struct ha_snapshot *base, const struct ha_snapshot *cur,
		   enum ha_metric sort, size_t top);

#endif
