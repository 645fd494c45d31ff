/* SPDX-License-Identifier: MIT */
/* A profile: one trace file read to the end and replayed, with what the
 * reports need about the process that wrote it. */
#ifndef HOTALLOC_PROFILE_H
#define HOTALLOC_PROFILE_H

#include <stdbool.h>
#include "replay.h"
#include "sites.h"
#include "symbolize.h"
#include "trace.h"

struct ha_load_opts {
	uint64_t short_ns;	/* --short-lived, ns */
	const char *sysroot;	/* --sysroot, or NULL */
	const char *debug_dir;	/* --debug-dir, or NULL */
	bool progress;		/* progress on stderr after a second */
	const char *from, *to;	/* --from, --to markers, or NULL */
	const char *per;	/* --per marker, or NULL */
};

struct ha_profile {
	char *path;
	struct ha_file_header hdr;
	char *command;		/* argv joined by spaces */
	char *exe;
	bool truncated;
	bool ended;
	unsigned end_reason;	/* HA_END_*, when ended */
	uint64_t end_ts;
	uint64_t nstacks, nmodules, chunks, file_size;
	uint64_t per_count;	/* occurrences of --per inside the window (0 without --per) */
	struct ha_replay rp;
	struct ha_sites sites;
	struct ha_symbolizer *sym;
};

/* Reads and replays the trace at path.  Returns 0, or -1 after printing one
 * error line (missing, foreign, unknown version or corrupt). */
int ha_profile_load(struct ha_profile *p, const char *path, const struct ha_load_opts *o);
void ha_profile_free(struct ha_profile *p);

#endif
