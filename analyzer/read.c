/* SPDX-License-Identifier: MIT */
/* The trace reader: checks the header, reads one chunk at a time,
 * decompresses it and decodes its records into visitor calls.  Every length
 * and count read from the file is checked before it is used. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>
#include "trace.h"
#include "util.h"

#define MAX_FRAMES 1024
#define ha_likely_r(x) __builtin_expect(!!(x), 1)
#define MAX_SEGS 64

bool ha_trace_sniff(const char *path)
{
	char magic[8];
	FILE *f = fopen(path, "rb");
	bool ok;

	if (!f)
		return false;
	ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, HA_FILE_MAGIC, 8);
	fclose(f);
	return ok;
}

int ha_trace_open(struct ha_trace *t, const char *path)
{
	struct stat st;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->f = fopen(path, "rb");
	if (!t->f) {
		ha_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(t->f), &st) == 0 && S_ISDIR(st.st_mode)) {
		ha_error("cannot read '%s': Is a directory", path);
		goto out_close;
	}
	t->file_size = (uint64_t)st.st_size;
	t->path = xstrdup(path);
	n = fread(&t->hdr, 1, sizeof(t->hdr), t->f);
	if (n == 0) {
		ha_error("'%s' is empty: the traced program wrote no trace header", path);
		goto out_free;
	}
	if (n < 8 || memcmp(t->hdr.magic, HA_FILE_MAGIC, 8)) {
		ha_error("'%s' is not a hotalloc trace (no HOTALLOC magic at its start)", path);
		goto out_free;
	}
	if (t->hdr.version < HA_FORMAT_OLDEST || t->hdr.version > HA_FORMAT_VERSION) {
		ha_error("'%s' has trace format version %u; this hotalloc reads versions %u to %u",
			 path, t->hdr.version, HA_FORMAT_OLDEST, HA_FORMAT_VERSION);
		goto out_free;
	}
	if (n < sizeof(t->hdr) || t->hdr.header_size != sizeof(t->hdr)) {
		ha_error("'%s' is corrupt: its header is cut short", path);
		goto out_free;
	}
	t->bytes_read = sizeof(t->hdr);
	t->dctx = ZSTD_createDCtx();
	return 0;
out_free:
	free(t->path);
out_close:
	fclose(t->f);
	t->f = NULL;
	return -1;
}

void ha_trace_close(struct ha_trace *t)
{
	if (t->f)
		fclose(t->f);
	ZSTD_freeDCtx(t->dctx);
	free(t->raw);
	free(t->comp);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

struct cursor {
	const uint8_t *p, *end;
	int bad;
};

static inline uint64_t get_v(struct cursor *c)
{
	uint64_t v = 0;

	/* Most values are one byte. */
	if (ha_likely_r(c->p < c->end && !(*c->p & 0x80) && !c->bad))
		return *c->p++;
	if (!c->bad && ha_get_varint(&c->p, c->end, &v) < 0)
		c->bad = 1;
	return c->bad ? 0 : v;
}

static int64_t get_z(struct cursor *c)
{
	return ha_unzigzag(get_v(c));
}

static const char *get_s(struct cursor *c, size_t *len)
{
	uint64_t n = get_v(c);
	const char *s = (const char *)c->p;

	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		*len = 0;
		return "";
	}
	c->p += n;
	*len = (size_t)n;
	return s;
}

static int decode_batch(struct ha_trace *t, struct cursor *c, const struct ha_visitor *v)
{
	uint32_t tid = (uint32_t)get_v(c);
	uint64_t ts = get_v(c), count = get_v(c), addr = 0;

	for (uint64_t i = 0; i < count && !c->bad; i++) {
		struct ha_event ev;
		size_t len;

		memset(&ev, 0, sizeof(ev));
		if (c->p >= c->end) {
			c->bad = 1;
			break;
		}
		ev.kind = *c->p++;
		ev.tid = tid;
		ts += get_v(c);
		ev.ts = ts;
		if (ev.kind >= HA_EV_NKINDS) {
			c->bad = 1;
			break;
		}
		if (ev.kind == HA_EV_MARK) {
			ev.mark = get_s(c, &len);
			ev.mark_len = (uint32_t)len;
		} else {
			addr += (uint64_t)get_z(c);
			ev.addr = addr;
		}
		switch (ev.kind) {
		case HA_EV_FREE:
		case HA_EV_MARK:
			break;
		case HA_EV_MALLOC:
		case HA_EV_VALLOC:
		case HA_EV_PVALLOC:
			ev.size = get_v(c);
			ev.stack = (uint32_t)get_v(c);
			break;
		case HA_EV_REALLOC:
		case HA_EV_REALLOCARRAY:
			ev.old = ev.addr + (uint64_t)get_z(c);
			ev.size = get_v(c);
			ev.stack = (uint32_t)get_v(c);
			ev.pre = get_v(c);
			ev.pre = ev.pre <= ev.ts ? ev.ts - ev.pre : 0;
			break;
		case HA_EV_CALLOC: {
			uint64_t nmemb = get_v(c), size = get_v(c);
			ev.align = nmemb;
			if (__builtin_mul_overflow(nmemb, size, &ev.size))
				ev.size = UINT64_MAX;
			ev.stack = (uint32_t)get_v(c);
			break;
		}
		default:
			ev.align = get_v(c);
			ev.size = get_v(c);
			ev.stack = (uint32_t)get_v(c);
			break;
		}
		/* A stack is defined before the events that use it. */
		if (ev.stack > t->nstacks)
			c->bad = 1;
		if (c->bad)
			break;
		if (ts > t->last_ts)
			t->last_ts = ts;
		if (v->event)
			v->event(v->ctx, &ev);
	}
	return c->bad ? -1 : 0;
}

static int decode(struct ha_trace *t, const uint8_t *p, size_t len, const struct ha_visitor *v)
{
	struct cursor c = { p, p + len, 0 };
	uint64_t frames[MAX_FRAMES], segs[3 * MAX_SEGS];
	char key[64], path[4096];

	while (c.p < c.end && !c.bad) {
		int type = *c.p++;
		size_t l1, l2;
		const char *s1, *s2;
		uint64_t a, b, n;

		t->ended = false;
		switch (type) {
		case HA_REC_INFO:
			s1 = get_s(&c, &l1);
			s2 = get_s(&c, &l2);
			if (!c.bad && v->info) {
				snprintf(key, sizeof(key), "%.*s", (int)l1, s1);
				v->info(v->ctx, key, s2, l2);
			}
			break;
		case HA_REC_MODULE: {
			uint64_t id = get_v(&c), ts = get_v(&c), bias = get_v(&c);
			s1 = get_s(&c, &l1);
			s2 = get_s(&c, &l2);
			n = get_v(&c);
			if (n > MAX_SEGS || l2 > 64)
				c.bad = 1;
			for (uint64_t i = 0; i < 3 * n && !c.bad; i++)
				segs[i] = get_v(&c);
			if (!c.bad && v->module) {
				snprintf(path, sizeof(path), "%.*s", (int)l1, s1);
				v->module(v->ctx, (uint32_t)id, ts, bias, path, (const uint8_t *)s2,
					  (unsigned)l2, segs, (unsigned)n);
			}
			break;
		}
		case HA_REC_UNLOAD:
			a = get_v(&c);
			b = get_v(&c);
			if (!c.bad && v->unload)
				v->unload(v->ctx, (uint32_t)a, b);
			break;
		case HA_REC_STACK:
			a = get_v(&c);
			n = get_v(&c);
			/* The writer numbers stacks 1, 2, 3, ... in file order. */
			if (n == 0 || n > MAX_FRAMES || a != (uint64_t)t->nstacks + 1) {
				c.bad = 1;
				break;
			}
			t->nstacks++;
			frames[0] = get_v(&c);
			for (uint64_t i = 1; i < n && !c.bad; i++)
				frames[i] = frames[i - 1] + (uint64_t)get_z(&c);
			if (!c.bad && v->stack)
				v->stack(v->ctx, (uint32_t)a, frames, (unsigned)n);
			break;
		case HA_REC_BATCH:
			decode_batch(t, &c, v);
			break;
		case HA_REC_SYNC:
			a = get_v(&c);
			if (!c.bad && v->sync)
				v->sync(v->ctx, a);
			break;
		case HA_REC_LOST:
			a = get_v(&c);
			if (!c.bad && v->lost)
				v->lost(v->ctx, a);
			break;
		case HA_REC_END:
			a = get_v(&c);
			b = get_v(&c);
			get_v(&c);
			if (c.bad)
				break;
			t->ended = true;
			if (v->end)
				v->end(v->ctx, (unsigned)a, b);
			break;
		default:
			c.bad = 1;
			break;
		}
	}
	return c.bad ? -1 : 0;
}

static void torn(struct ha_trace *t)
{
	t->truncated = true;
	t->torn = true;
	ha_warn("trace '%s' ends mid-chunk; events after %.3f s are lost", t->path,
		(double)t->last_ts / 1e9);
}

int ha_trace_next(struct ha_trace *t, const struct ha_visitor *v)
{
	struct ha_chunk_header h;
	size_t n = fread(&h, 1, sizeof(h), t->f);

	if (n == 0) {
		t->truncated = !t->ended;
		return 0;
	}
	if (n < sizeof(h)) {
		torn(t);
		return 0;
	}
	if (h.magic != HA_CHUNK_MAGIC || h.raw_size > HA_CHUNK_MAX_RAW ||
	    h.comp_size > HA_CHUNK_MAX_RAW + (HA_CHUNK_MAX_RAW >> 4) || h.seq != t->chunks ||
	    (h.codec != HA_CODEC_RAW && h.codec != HA_CODEC_ZSTD) ||
	    (h.codec == HA_CODEC_RAW && h.comp_size != h.raw_size)) {
		ha_error("'%s' is corrupt: chunk %llu at byte %llu has a bad header", t->path,
			 (unsigned long long)t->chunks, (unsigned long long)t->bytes_read);
		return -1;
	}
	if (h.comp_size > t->comp_cap) {
		t->comp = xrealloc(t->comp, h.comp_size);
		t->comp_cap = h.comp_size;
	}
	if (h.raw_size > t->raw_cap) {
		t->raw = xrealloc(t->raw, h.raw_size);
		t->raw_cap = h.raw_size;
	}
	if (fread(t->comp, 1, h.comp_size, t->f) != h.comp_size) {
		torn(t);
		return 0;
	}
	if (h.raw_size == 0) {
		/* An empty chunk: nothing to decode. */
	} else if (h.codec == HA_CODEC_ZSTD) {
		size_t out = ZSTD_decompressDCtx(t->dctx, t->raw, h.raw_size, t->comp, h.comp_size);

		if (ZSTD_isError(out) || out != h.raw_size) {
			ha_error("'%s' is corrupt: chunk %llu at byte %llu does not decompress (%s)",
				 t->path, (unsigned long long)t->chunks,
				 (unsigned long long)t->bytes_read,
				 ZSTD_isError(out) ? ZSTD_getErrorName(out) : "wrong size");
			return -1;
		}
	} else {
		memcpy(t->raw, t->comp, h.raw_size);
	}
	if (h.raw_size && decode(t, t->raw, h.raw_size, v) < 0) {
		ha_error("'%s' is corrupt: chunk %llu at byte %llu holds a malformed record",
			 t->path, (unsigned long long)t->chunks, (unsigned long long)t->bytes_read);
		return -1;
	}
	t->chunks++;
	t->bytes_read += sizeof(h) + h.comp_size;
	return 1;
}
