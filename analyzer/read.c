/* SPDX-License-Identifier: MIT */
/* The trace reader: checks the header, reads one chunk at a time,
 * decompresses it and decodes its records into visitor calls.  Every length
 * and count read from the file is checked before it is used.  Reading and
 * decompressing run a chunk ahead on a thread of their own when the
 * machine has a second core (see fetch below). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>
#include "decode.h"
#include "trace.h"
#include "util.h"

#define MAX_FRAMES HA_MAX_FRAMES
#define MAX_SEGS HA_MAX_SEGS

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

/* A chunk read and decompressed, or why not. */
enum { CH_OK, CH_END, CH_TORN, CH_BAD_HEADER, CH_BAD_DATA };

struct chunk {
	int status;
	struct ha_chunk_header h;
	uint8_t *raw;
	size_t raw_cap;
	size_t len;		/* bytes of raw to decode: the chunk's, or a piece's */
	bool more;		/* a piece, and the chunk's next piece follows */
	const char *why;	/* CH_BAD_DATA: zstd's reason (a static string) */
};

/* A chunk whose payload is larger than KEEP_MAX (below) is handed to the
 * reader in pieces of about PIECE bytes that end on record boundaries, so
 * that no buffer holds the whole of it: a writer that falls behind makes
 * chunks of 20 MiB and more (an 8-thread trace had 45% of its bytes in such
 * chunks; holding two of them and the compressed bytes took the analyzer's
 * peak from 45 to 90 MiB).  Its compressed bytes are read IN_PIECE at a
 * time and decompressed into a staging buffer. */
enum { PIECE = 1u << 20, IN_PIECE = 128u << 10, STAGE_MIN = 2u << 20 };

struct split {
	bool on;
	struct ha_chunk_header h;	/* the chunk's */
	uint64_t comp_left;	/* compressed bytes still in the file */
	uint64_t raw_got;	/* bytes decompressed so far */
	bool frame_done;	/* zstd has seen the frame's end */
	ZSTD_inBuffer in;	/* over ha_fetch.comp */
	uint8_t *buf;		/* decompressed bytes: [pos, len) not handed out yet, */
	size_t cap, len, pos, scan;	/* [pos, scan) whole records */
};

/* The chunk being decoded and the next: the fetching thread is busy 15% of
 * the time, and more slots were no faster (3 or 4, on an 8-thread trace
 * whose chunks reach 4 MiB; 2 MiB of RSS each). */
enum { SLOTS = 2 };

/* The chunks ahead: a ring of SLOTS filled in file order, by the fetching
 * thread when there is one, else by the reader itself in slot 0. */
struct ha_fetch {
	FILE *f;
	void *dctx;
	uint64_t seq;			/* the next chunk's number, as read */
	struct chunk slot[SLOTS];
	uint8_t *comp;			/* a compressed chunk: one, the fetching side's */
	size_t comp_cap;
	struct split sp;		/* the chunk being handed out in pieces */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t filled, taken;		/* chunks put in the ring and taken out */
	bool stop;
	bool threaded;
	pthread_t thread;
};

/* Buffers larger than this are given back as soon as their chunk is done:
 * most chunks are 1 or 2 MiB, and a burst's of 8 MiB, kept in each slot and
 * in the compressed buffer, had been 19 MiB of the analyzer's peak on an
 * 8-thread trace. */
enum { KEEP_MAX = 2u << 20 };

/* Room for n bytes in *p; what it held is not kept.  Up to KEEP_MAX, a
 * power of two: chunks' sizes vary, and with buffers of 1 MiB and more
 * mapped apart (main.c), each new largest was fresh pages again (8-thread
 * trace: 24,870 page faults against 18,385). */
static void grow_buf(uint8_t **p, size_t *cap, size_t n)
{
	if (n > *cap) {
		size_t want = n;

		if (n <= KEEP_MAX)
			for (want = 4096; want < n; want *= 2)
				;
		free(*p);
		*p = want == KEEP_MAX ? xhuge(want) : xmalloc(want);
		*cap = want;
	}
}

static void shed_buf(uint8_t **p, size_t *cap)
{
	if (*cap > KEEP_MAX) {
		free(*p);
		*p = NULL;
		*cap = 0;
	}
}

static void split_bad(struct ha_fetch *F, struct chunk *c, const char *why)
{
	F->sp.on = false;
	c->status = CH_BAD_DATA;
	c->why = why;
}

/* Moves the bytes not handed out to the staging buffer's start and
 * decompresses more after them, until it is full or the frame ends.  A
 * buffer full of one record is doubled first.  Returns -1 with c->status
 * set when the frame is corrupt or the file ends. */
static int fill_stage(struct ha_fetch *F, struct chunk *c)
{
	struct split *s = &F->sp;

	memmove(s->buf, s->buf + s->pos, s->len - s->pos);
	s->len -= s->pos;
	s->scan -= s->pos;
	s->pos = 0;
	if (s->len == s->cap) {
		uint8_t *b = xmalloc(2 * s->cap);

		memcpy(b, s->buf, s->len);
		free(s->buf);
		s->buf = b;
		s->cap *= 2;
	}
	while (s->len < s->cap && !s->frame_done) {
		ZSTD_outBuffer o = { s->buf, s->cap, s->len };
		size_t r;

		if (s->in.pos == s->in.size && s->comp_left) {
			size_t n = s->comp_left < IN_PIECE ? (size_t)s->comp_left : IN_PIECE;

			if (fread(F->comp, 1, n, F->f) != n) {
				s->on = false;
				c->status = CH_TORN;
				return -1;
			}
			s->comp_left -= n;
			s->in = (ZSTD_inBuffer){ F->comp, n, 0 };
		}
		r = ZSTD_decompressStream(F->dctx, &o, &s->in);
		if (ZSTD_isError(r)) {
			split_bad(F, c, ZSTD_getErrorName(r));
			return -1;
		}
		/* Input all read and used, and nothing more came out: cut short. */
		if (r && o.pos == s->len && s->in.pos == s->in.size && !s->comp_left) {
			split_bad(F, c, "wrong size");
			return -1;
		}
		s->raw_got += o.pos - s->len;
		s->len = o.pos;
		s->frame_done = r == 0;
		if (s->raw_got > c->h.raw_size) {
			split_bad(F, c, "wrong size");
			return -1;
		}
	}
	if (s->frame_done && (s->in.pos != s->in.size || s->comp_left || s->raw_got != c->h.raw_size)) {
		split_bad(F, c, "wrong size");
		return -1;
	}
	return 0;
}

/* The next piece of the chunk being split: whole records from PIECE bytes
 * on, or all that is left once the frame has ended (with a record that does
 * not parse, for decode to report). */
static void next_piece(struct ha_fetch *F, struct chunk *c)
{
	struct split *s = &F->sp;
	size_t l, end;

	c->h = s->h;
	for (;;) {
		while (s->scan - s->pos < PIECE && (l = ha_record_len(s->buf + s->scan, s->buf + s->len)))
			s->scan += l;
		if (s->scan - s->pos >= PIECE || s->frame_done)
			break;
		if (fill_stage(F, c) < 0)
			return;
	}
	end = s->frame_done && s->scan - s->pos < PIECE ? s->len : s->scan;
	c->len = end - s->pos;
	c->more = !s->frame_done || end != s->len;
	grow_buf(&c->raw, &c->raw_cap, c->len);
	memcpy(c->raw, s->buf + s->pos, c->len);
	s->pos = s->scan = end;
	c->status = CH_OK;
	if (!c->more) {
		s->on = false;
		F->seq++;
		if (s->cap > STAGE_MIN) {
			free(s->buf);
			s->buf = NULL;
			s->cap = 0;
		}
	}
}

/* Starts handing out a large compressed chunk in pieces, once the file is
 * known to hold the whole of it: a torn chunk is not reported in part. */
static void split_start(struct ha_fetch *F, struct chunk *c)
{
	struct split *s = &F->sp;
	struct stat st;
	off_t at = ftello(F->f);

	if (at >= 0 && fstat(fileno(F->f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size - (uint64_t)at < c->h.comp_size) {
		c->status = CH_TORN;
		return;
	}
	ZSTD_DCtx_reset(F->dctx, ZSTD_reset_session_only);
	grow_buf(&F->comp, &F->comp_cap, IN_PIECE);
	if (!s->buf) {
		s->buf = xhuge(STAGE_MIN);
		s->cap = STAGE_MIN;
	}
	s->on = true;
	s->h = c->h;
	s->comp_left = c->h.comp_size;
	s->raw_got = 0;
	s->frame_done = false;
	s->in = (ZSTD_inBuffer){ NULL, 0, 0 };
	s->len = s->pos = s->scan = 0;
	next_piece(F, c);
}

static void read_chunk(struct ha_fetch *F, struct chunk *c)
{
	struct ha_chunk_header *h = &c->h;
	size_t n;

	c->more = false;
	if (F->sp.on) {
		next_piece(F, c);
		return;
	}
	n = fread(h, 1, sizeof(*h), F->f);
	if (n == 0) {
		c->status = CH_END;
		return;
	}
	if (n < sizeof(*h)) {
		c->status = CH_TORN;
		return;
	}
	if (h->magic != HA_CHUNK_MAGIC || h->raw_size > HA_CHUNK_MAX_RAW ||
	    h->comp_size > HA_CHUNK_MAX_RAW + (HA_CHUNK_MAX_RAW >> 4) || h->seq != F->seq ||
	    (h->codec != HA_CODEC_RAW && h->codec != HA_CODEC_ZSTD) ||
	    (h->codec == HA_CODEC_RAW && h->comp_size != h->raw_size)) {
		c->status = CH_BAD_HEADER;
		return;
	}
	if (h->codec == HA_CODEC_ZSTD && h->raw_size > KEEP_MAX) {
		split_start(F, c);
		return;
	}
	c->len = h->raw_size;
	grow_buf(&c->raw, &c->raw_cap, h->raw_size);
	if (h->codec == HA_CODEC_RAW) {
		/* Stored: read in place. */
		if (fread(c->raw, 1, h->raw_size, F->f) != h->raw_size) {
			c->status = CH_TORN;
			return;
		}
	} else {
		/* The compressed bytes need not outlive the call: one buffer
		 * serves every slot. */
		grow_buf(&F->comp, &F->comp_cap, h->comp_size);
		if (fread(F->comp, 1, h->comp_size, F->f) != h->comp_size) {
			c->status = CH_TORN;
			return;
		}
		if (h->raw_size) {
			size_t out = ZSTD_decompressDCtx(F->dctx, c->raw, h->raw_size, F->comp,
							 h->comp_size);

			shed_buf(&F->comp, &F->comp_cap);
			if (ZSTD_isError(out) || out != h->raw_size) {
				c->status = CH_BAD_DATA;
				c->why = ZSTD_isError(out) ? ZSTD_getErrorName(out) : "wrong size";
				return;
			}
		}
	}
	F->seq++;
	c->status = CH_OK;
}

/* The fetching thread: fills the ring until the file ends or goes wrong. */
static void *fetcher(void *arg)
{
	struct ha_fetch *F = arg;

	for (;;) {
		struct chunk *c;

		pthread_mutex_lock(&F->mu);
		while (!F->stop && F->filled - F->taken == SLOTS)
			pthread_cond_wait(&F->cv, &F->mu);
		if (F->stop) {
			pthread_mutex_unlock(&F->mu);
			return NULL;
		}
		c = &F->slot[F->filled % SLOTS];
		pthread_mutex_unlock(&F->mu);
		read_chunk(F, c);
		pthread_mutex_lock(&F->mu);
		F->filled++;
		pthread_cond_broadcast(&F->cv);
		pthread_mutex_unlock(&F->mu);
		if (c->status != CH_OK)
			return NULL;
	}
}

static void fetch_start(struct ha_trace *t)
{
	struct ha_fetch *F = xcalloc(1, sizeof(*F));

	F->f = t->f;
	F->dctx = ZSTD_createDCtx();
	t->fetch = F;
	if (!ha_threads_allowed())
		return;
	pthread_mutex_init(&F->mu, NULL);
	pthread_cond_init(&F->cv, NULL);
	F->threaded = !pthread_create(&F->thread, NULL, fetcher, F);
	if (!F->threaded) {
		pthread_mutex_destroy(&F->mu);
		pthread_cond_destroy(&F->cv);
	}
}

static void fetch_stop(struct ha_trace *t)
{
	struct ha_fetch *F = t->fetch;

	if (!F)
		return;
	if (F->threaded) {
		pthread_mutex_lock(&F->mu);
		F->stop = true;
		pthread_cond_broadcast(&F->cv);
		pthread_mutex_unlock(&F->mu);
		pthread_join(F->thread, NULL);
		pthread_mutex_destroy(&F->mu);
		pthread_cond_destroy(&F->cv);
	}
	for (int i = 0; i < SLOTS; i++)
		free(F->slot[i].raw);
	free(F->sp.buf);
	free(F->comp);
	ZSTD_freeDCtx(F->dctx);
	free(F);
	t->fetch = NULL;
}

/* The next chunk, waited for if the fetching thread has not got there. */
static struct chunk *fetch_next(struct ha_fetch *F)
{
	struct chunk *c;

	if (!F->threaded) {
		read_chunk(F, &F->slot[0]);
		return &F->slot[0];
	}
	pthread_mutex_lock(&F->mu);
	while (F->filled == F->taken)
		pthread_cond_wait(&F->cv, &F->mu);
	c = &F->slot[F->taken % SLOTS];
	pthread_mutex_unlock(&F->mu);
	return c;
}

/* Gives the chunk's slot back once it is decoded. */
static void fetch_done(struct ha_fetch *F)
{
	struct chunk *c = &F->slot[F->threaded ? F->taken % SLOTS : 0];

	/* Still the reader's: the fetching thread waits for taken to move. */
	shed_buf(&c->raw, &c->raw_cap);
	if (!F->threaded)
		return;
	pthread_mutex_lock(&F->mu);
	F->taken++;
	pthread_cond_broadcast(&F->cv);
	pthread_mutex_unlock(&F->mu);
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
	fetch_start(t);
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
	fetch_stop(t);		/* before the file it reads is closed */
	if (t->f)
		fclose(t->f);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

static int decode_batch(struct ha_trace *t, struct ha_cursor *cur, const struct ha_visitor *v,
			int packed)
{
	struct ha_cursor lc = *cur, *c = &lc;	/* in registers: nothing else sees it */
	uint32_t tid = (uint32_t)ha_cur_v(c);
	uint64_t ts = ha_cur_v(c), count = ha_cur_v(c), addr = 0, bases[2] = { 0, 0 };
	struct ha_event ev;

	lc.packed = packed;
	if (v->batch && !c->bad) {
		/* The visitor decodes the events itself, straight into its own. */
		v->batch(v->ctx, c, tid, ts, count, t->nstacks, &t->last_ts);
		lc.packed = 0;
		*cur = lc;
		return c->bad ? -1 : 0;
	}
	for (uint64_t i = 0; i < count && !c->bad; i++) {
		if (!(packed ? ha_decode_packed(c, &ev, &ts, bases, t->nstacks) :
			       ha_decode_event(c, &ev, &ts, &addr, t->nstacks)))
			break;
		ev.tid = tid;
		if (ts > t->last_ts)
			t->last_ts = ts;
		if (v->event)
			v->event(v->ctx, &ev);
	}
	lc.packed = 0;
	*cur = lc;
	return c->bad ? -1 : 0;
}

static int decode(struct ha_trace *t, const uint8_t *p, size_t len, const struct ha_visitor *v)
{
	struct ha_cursor c = { p, p + len, 0, 0 };
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
			s1 = ha_cur_s(&c, &l1);
			s2 = ha_cur_s(&c, &l2);
			if (!c.bad && v->info) {
				snprintf(key, sizeof(key), "%.*s", (int)l1, s1);
				v->info(v->ctx, key, s2, l2);
			}
			break;
		case HA_REC_MODULE: {
			uint64_t id = ha_cur_v(&c), ts = ha_cur_v(&c), bias = ha_cur_v(&c);
			s1 = ha_cur_s(&c, &l1);
			s2 = ha_cur_s(&c, &l2);
			n = ha_cur_v(&c);
			if (n > MAX_SEGS || l2 > 64)
				c.bad = 1;
			for (uint64_t i = 0; i < 3 * n && !c.bad; i++)
				segs[i] = ha_cur_v(&c);
			if (!c.bad && v->module) {
				snprintf(path, sizeof(path), "%.*s", (int)l1, s1);
				v->module(v->ctx, (uint32_t)id, ts, bias, path, (const uint8_t *)s2,
					  (unsigned)l2, segs, (unsigned)n);
			}
			break;
		}
		case HA_REC_UNLOAD:
			a = ha_cur_v(&c);
			b = ha_cur_v(&c);
			if (!c.bad && v->unload)
				v->unload(v->ctx, (uint32_t)a, b);
			break;
		case HA_REC_STACK:
			a = ha_cur_v(&c);
			n = ha_cur_v(&c);
			/* The writer numbers stacks 1, 2, 3, ... in file order. */
			if (n == 0 || n > MAX_FRAMES || a != (uint64_t)t->nstacks + 1) {
				c.bad = 1;
				break;
			}
			t->nstacks++;
			frames[0] = ha_cur_v(&c);
			for (uint64_t i = 1; i < n && !c.bad; i++)
				frames[i] = frames[i - 1] + (uint64_t)ha_cur_z(&c);
			if (!c.bad && v->stack)
				v->stack(v->ctx, (uint32_t)a, frames, (unsigned)n);
			break;
		case HA_REC_BATCH:
		case HA_REC_BATCH3:
			decode_batch(t, &c, v, type == HA_REC_BATCH3);
			break;
		case HA_REC_SYNC:
			a = ha_cur_v(&c);
			if (!c.bad && v->sync)
				v->sync(v->ctx, a);
			break;
		case HA_REC_LOST:
			a = ha_cur_v(&c);
			if (!c.bad && v->lost)
				v->lost(v->ctx, a);
			break;
		case HA_REC_END:
			a = ha_cur_v(&c);
			b = ha_cur_v(&c);
			ha_cur_v(&c);
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
	struct chunk *c;
	const struct ha_chunk_header *h;

again:
	c = fetch_next(t->fetch);
	h = &c->h;
	switch (c->status) {
	case CH_END:
		t->truncated = !t->ended;
		return 0;
	case CH_TORN:
		torn(t);
		return 0;
	case CH_BAD_HEADER:
		ha_error("'%s' is corrupt: chunk %llu at byte %llu has a bad header", t->path,
			 (unsigned long long)t->chunks, (unsigned long long)t->bytes_read);
		return -1;
	case CH_BAD_DATA:
		ha_error("'%s' is corrupt: chunk %llu at byte %llu does not decompress (%s)",
			 t->path, (unsigned long long)t->chunks,
			 (unsigned long long)t->bytes_read, c->why);
		return -1;
	}
	if (c->len && decode(t, c->raw, c->len, v) < 0) {
		ha_error("'%s' is corrupt: chunk %llu at byte %llu holds a malformed record",
			 t->path, (unsigned long long)t->chunks, (unsigned long long)t->bytes_read);
		return -1;
	}
	if (c->more) {
		fetch_done(t->fetch);
		goto again;
	}
	t->chunks++;
	t->bytes_read += sizeof(*h) + h->comp_size;
	fetch_done(t->fetch);
	return 1;
}
