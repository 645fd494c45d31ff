/* SPDX-License-Identifier: MIT */
/* Reading a trace file: the header, then chunk by chunk, each decoded into
 * calls of a visitor.  Memory stays bounded by one chunk. */
#ifndef HOTALLOC_TRACE_H
#define HOTALLOC_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "hotalloc/format.h"

/* One decoded event.  Times are ns since the trace's start. */
struct ha_event {
	uint64_t ts;
	uint64_t addr;		/* returned or freed block; 0 when a call failed */
	uint64_t old;		/* realloc, reallocarray: the block passed in */
	uint64_t size;		/* requested bytes (calloc: nmemb * size, saturated) */
	uint64_t pre;		/* realloc: time before the real call */
	uint64_t align;		/* aligned kinds: the alignment; calloc: nmemb */
	uint32_t tid;
	uint32_t stack;		/* 1-based stack id, 0 = none */
	uint8_t kind;		/* enum ha_event_kind */
	const char *mark;	/* HA_EV_MARK: the name, valid during the callback */
	uint32_t mark_len;
};

struct ha_cursor;

struct ha_visitor {
	void *ctx;
	void (*event)(void *ctx, const struct ha_event *ev);
	/* Optional, in event's place: decodes a BATCH or BATCH3 record's count
	 * events of thread tid itself (decode.h; c->packed tells which), its
	 * time starting at ts; sets c->bad at a malformed one and keeps
	 * *last_ts the latest time seen. */
	void (*batch)(void *ctx, struct ha_cursor *c, uint32_t tid, uint64_t ts, uint64_t count,
		      uint32_t nstacks, uint64_t *last_ts);
	void (*stack)(void *ctx, uint32_t id, const uint64_t *frames, unsigned n);
	void (*module)(void *ctx, uint32_t id, uint64_t ts, uint64_t bias, const char *path,
		       const uint8_t *build_id, unsigned build_id_len, const uint64_t *segs,
		       unsigned nseg);
	void (*unload)(void *ctx, uint32_t id, uint64_t ts);
	void (*info)(void *ctx, const char *key, const char *val, size_t len);
	void (*sync)(void *ctx, uint64_t ts);
	void (*lost)(void *ctx, uint64_t count);
	void (*end)(void *ctx, unsigned reason, uint64_t ts);
};

struct ha_trace {
	FILE *f;
	char *path;
	struct ha_file_header hdr;
	uint64_t chunks;
	uint64_t bytes_read;
	uint64_t file_size;
	bool truncated;		/* it did not end with END: killed, or torn at the end */
	bool ended;		/* the last record read was END */
	bool torn;		/* the file ends inside a chunk (warned) */
	uint64_t last_ts;	/* latest time seen, for messages */
	uint32_t nstacks;	/* stack ids defined so far: 1..nstacks */
	struct ha_fetch *fetch;	/* the chunks read ahead (read.c) */
};

/* Opens and checks the header.  Returns 0, or prints one error line and
 * returns -1 (missing, unreadable, foreign or unknown version). */
int ha_trace_open(struct ha_trace *t, const char *path);
/* Decodes the next chunk into v.  Returns 1 when a chunk was read, 0 at the
 * end (t->truncated says how it ended), -1 on a corrupt chunk (error printed). */
int ha_trace_next(struct ha_trace *t, const struct ha_visitor *v);
void ha_trace_close(struct ha_trace *t);
/* True when the file starts with the trace magic. */
bool ha_trace_sniff(const char *path);

#endif
