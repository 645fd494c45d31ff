/* SPDX-License-Identifier: MIT */
/* The report model: the rows a report shows, grouped, sorted, symbolized and
 * with their hints, built once from one or more profiles and printed by the
 * text and JSON writers alike. */
#ifndef HOTALLOC_MODEL_H
#define HOTALLOC_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "profile.h"

enum ha_group { HA_GROUP_STACK, HA_GROUP_LINE, HA_GROUP_FUNCTION };
enum ha_sort { HA_SORT_COUNT, HA_SORT_BYTES, HA_SORT_PEAK, HA_SORT_LEAKED, HA_SORT_CHURN };

struct ha_report_opts {
	enum ha_group group;
	enum ha_sort sort;
	size_t top;		/* rows shown; 0 = all */
	uint64_t short_ns;
	bool merge;
};

struct ha_row {
	struct ha_site site;		/* the figures, summed over the group */
	uint64_t peak_bytes;		/* live at the total peak */
	char *key;			/* the group's key (line, function, or the stack) */
	const struct ha_frame **frames;	/* a representative stack, innermost first */
	unsigned nframes;
	unsigned key_frame;		/* the frame that called the allocator (not libc's) */
	const char *hint;		/* what to do about its churn, or NULL */
	unsigned members;		/* stacks in the group */
	uint64_t rep_allocations;	/* allocations of the stack shown */
};

struct ha_model {
	struct ha_row *rows;		/* sorted, all of them */
	size_t nrows;
	struct ha_totals tot;		/* summed over the profiles */
	uint64_t size_hist[HA_SIZE_BUCKETS];
	uint64_t temporary, short_lived, chains, cross_thread_frees;
	double duration_s;
	uint64_t per_count;		/* --per occurrences, summed; 0 without --per */
};

/* Builds the rows of profiles[0..n) (n > 1 only with o->merge). */
void ha_model_build(struct ha_model *m, struct ha_profile *profiles, size_t n,
		    const struct ha_report_opts *o);
void ha_model_free(struct ha_model *m);
/* The value rows are sorted by. */
uint64_t ha_row_metric(const struct ha_row *r, enum ha_sort sort);
const char *ha_sort_name(enum ha_sort sort);

#endif
