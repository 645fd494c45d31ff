/* SPDX-License-Identifier: MIT */
/* Decoding a chunk's bytes (include/hotalloc/format.h): a cursor that turns
 * any overrun or malformed value into its bad flag, and one event of a BATCH
 * record.  Inline, for the reader (read.c) and for the replay, which decodes
 * a thread's events straight into its queue (replay.c). */
#ifndef HOTALLOC_DECODE_H
#define HOTALLOC_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "hotalloc/format.h"
#include "trace.h"

#define ha_likely_d(x) __builtin_expect(!!(x), 1)

struct ha_cursor {
	const uint8_t *p, *end;
	int bad;		/* set once, then every read gives 0 */
	int packed;		/* a batch's events are packed (BATCH3), not varints */
};

static inline uint64_t ha_cur_v(struct ha_cursor *c)
{
	uint64_t v = 0;

	/* Most values are one byte. */
	if (ha_likely_d(c->p < c->end && !(*c->p & 0x80) && !c->bad))
		return *c->p++;
	if (!c->bad && ha_get_varint(&c->p, c->end, &v) < 0)
		c->bad = 1;
	return c->bad ? 0 : v;
}

static inline int64_t ha_cur_z(struct ha_cursor *c)
{
	return ha_unzigzag(ha_cur_v(c));
}

static inline const char *ha_cur_s(struct ha_cursor *c, size_t *len)
{
	uint64_t n = ha_cur_v(c);
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

/* An event's longest encoding but a mark's: its kind and six varints. */
enum { HA_FAST_ROOM = 64 };

/* A varint with no bound check: the caller made sure that HA_FAST_ROOM bytes
 * are left.  Longer than 10 bytes is malformed.  Up to 8 bytes are read as
 * one word and their 7-bit groups packed without a branch on the length:
 * addresses' deltas are 5 or 6 bytes, times' 1 or 2, and a loop's exit
 * mispredicted on them (8-thread trace: decoding was 23% of the time). */
static inline uint64_t ha_cur_fast(struct ha_cursor *c)
{
	const uint8_t *p = c->p;
	uint64_t v, b;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w, stop;

	memcpy(&w, p, sizeof(w));
	stop = ~w & 0x8080808080808080ull;	/* each byte's "last" bit */
	v = w & 0x7f7f7f7f7f7f7f7full;
	if (ha_likely_d(stop))
		v &= stop ^ (stop - 1);		/* the bytes up to the first last one */
	v = (v & 0x007f007f007f007full) | (v & 0x7f007f007f007f00ull) >> 1;
	v = (v & 0x00003fff00003fffull) | (v & 0x3fff00003fff0000ull) >> 2;
	v = (v & 0x000000000fffffffull) | (v & 0x0fffffff00000000ull) >> 4;
	if (ha_likely_d(stop)) {
		c->p = p + (__builtin_ctzll(stop) >> 3) + 1;
		return v;
	}
	p += 8;
	for (unsigned s = 56; s < 70; s += 7) {
#else
	v = 0;
	for (unsigned s = 0; s < 70; s += 7) {
#endif
		b = *p++;
		v |= (b & 0x7f) << s;
		if (b < 0x80) {
			c->p = p;
			return v;
		}
	}
	c->bad = 1;
	return 0;
}

/* The fields of an event other than a mark, after its kind and time; fast:
 * HA_FAST_ROOM bytes are left (a constant, so that each caller gets its own
 * copy). */
static inline __attribute__((always_inline)) void
ha_decode_fields(struct ha_cursor *c, struct ha_event *ev, unsigned kind, uint64_t *addr, bool fast)
{
#define GET() (fast ? ha_cur_fast(c) : ha_cur_v(c))
	*addr += (uint64_t)ha_unzigzag(GET());
	ev->addr = *addr;
	ev->old = ev->pre = ev->align = 0;
	ev->size = 0;
	ev->stack = 0;
	ev->mark = NULL;
	ev->mark_len = 0;
	switch (kind) {
	case HA_EV_FREE:
		break;
	case HA_EV_MALLOC:
	case HA_EV_VALLOC:
	case HA_EV_PVALLOC:
		ev->size = GET();
		ev->stack = (uint32_t)GET();
		break;
	case HA_EV_REALLOC:
	case HA_EV_REALLOCARRAY:
		ev->old = ev->addr + (uint64_t)ha_unzigzag(GET());
		ev->size = GET();
		ev->stack = (uint32_t)GET();
		ev->pre = GET();
		ev->pre = ev->pre <= ev->ts ? ev->ts - ev->pre : 0;
		break;
	case HA_EV_CALLOC: {
		uint64_t nmemb = GET(), size = GET();
		ev->align = nmemb;
		if (__builtin_mul_overflow(nmemb, size, &ev->size))
			ev->size = UINT64_MAX;
		ev->stack = (uint32_t)GET();
		break;
	}
	default:
		ev->align = GET();
		ev->size = GET();
		ev->stack = (uint32_t)GET();
		break;
	}
#undef GET
}

/* A mark at ts: its name, which points into the chunk. */
static inline void ha_decode_mark(struct ha_cursor *c, struct ha_event *ev, uint64_t ts)
{
	size_t len;

	ev->ts = ts;
	ev->mark = ha_cur_s(c, &len);
	ev->mark_len = (uint32_t)len;
	ev->addr = ev->old = ev->pre = ev->align = ev->size = 0;
	ev->stack = 0;
}

/* Decodes the next event of a batch into ev (all but its tid): *ts and
 * *addr are the batch's running time and address.  Returns false, with
 * c->bad set, on a malformed event or one that uses a stack not yet defined
 * (beyond nstacks).  A mark's name points into the chunk. */
static inline __attribute__((always_inline)) bool
ha_decode_event(struct ha_cursor *c, struct ha_event *ev, uint64_t *ts, uint64_t *addr,
		uint32_t nstacks)
{
	unsigned kind;

	if (c->p >= c->end || c->bad) {
		c->bad = 1;
		return false;
	}
	kind = *c->p++;
	if (kind >= HA_EV_NKINDS) {
		c->bad = 1;
		return false;
	}
	ev->kind = (uint8_t)kind;
	if (ha_likely_d(c->end - c->p >= HA_FAST_ROOM && kind != HA_EV_MARK)) {
		*ts += ha_cur_fast(c);
		ev->ts = *ts;
		ha_decode_fields(c, ev, kind, addr, true);
	} else if (kind != HA_EV_MARK) {
		*ts += ha_cur_v(c);
		ev->ts = *ts;
		ha_decode_fields(c, ev, kind, addr, false);
	} else {
		*ts += ha_cur_v(c);
		ha_decode_mark(c, ev, *ts);
	}
	/* A stack is defined before the events that use it. */
	if (ev->stack > nstacks)
		c->bad = 1;
	return !c->bad;
}

/* The n low bytes of those at p, little-endian (1 <= n <= 8); fast: 8
 * bytes can be read at p, else only n. */
static inline uint64_t ha_le(const uint8_t *p, unsigned n, bool fast)
{
	uint64_t v = 0;

	if (fast) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		memcpy(&v, p, sizeof(v));
		return v & (~0ull >> (64 - 8 * n));
#endif
	}
	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* The fields of a packed event (format.h, BATCH3) after its tag, whose
 * lengths the tag gives; fast: HA_FAST_ROOM bytes are left after the tag, else
 * the caller has checked that the fixed fields are there.  bases: the
 * batch's last allocated and last freed addresses. */
static inline __attribute__((always_inline)) void
ha_decode_packed_fields(struct ha_cursor *c, struct ha_event *ev, unsigned tag, uint64_t *ts,
			uint64_t bases[2], bool fast)
{
	const uint8_t *p = c->p;
	unsigned kind = tag & 15, dl = 1u << (tag >> 4 & 3), al = (tag >> 6 & 7) + 1;
	unsigned sl = 1u << (tag >> 9 & 3), kl = (tag >> 11 & 3) + 1;

	*ts += ha_le(p, dl, fast);
	ev->ts = *ts;
	p += dl;
	/* (An unsigned shift: a signed one of a negative delta is undefined.) */
	ev->addr = bases[(tag & HA_PACK_FROM_FREED) != 0] +
		   ((uint64_t)ha_unzigzag(ha_le(p, al, fast)) << (tag >> 12 & 4));
	bases[kind == HA_EV_FREE] = ev->addr;
	p += al;
	ev->old = ev->pre = ev->align = 0;
	ev->size = 0;
	ev->stack = 0;
	ev->mark = NULL;
	ev->mark_len = 0;
	if (kind == HA_EV_FREE) {
		c->p = p;
		return;
	}
	ev->size = ha_le(p, sl, fast);
	p += sl;
	ev->stack = (uint32_t)ha_le(p, kl, fast);
	c->p = p + kl;
	switch (kind) {
	case HA_EV_MALLOC:
	case HA_EV_VALLOC:
	case HA_EV_PVALLOC:
		break;
	case HA_EV_REALLOC:
	case HA_EV_REALLOCARRAY:
		ev->old = ev->addr + (uint64_t)ha_unzigzag(ha_cur_v(c));
		ev->pre = ha_cur_v(c);
		ev->pre = ev->pre <= ev->ts ? ev->ts - ev->pre : 0;
		break;
	case HA_EV_CALLOC:
		ev->align = ha_cur_v(c);
		if (__builtin_mul_overflow(ev->align, ev->size, &ev->size))
			ev->size = UINT64_MAX;
		break;
	default:
		ev->align = ha_cur_v(c);
		break;
	}
}

/* The bytes of a packed event's fields, but its varints and a mark's name. */
static inline size_t ha_packed_len(unsigned tag)
{
	unsigned kind = tag & 15;
	size_t n = 1u << (tag >> 4 & 3);

	if (kind != HA_EV_MARK)
		n += (tag >> 6 & 7) + 1;
	if (kind != HA_EV_MARK && kind != HA_EV_FREE)
		n += (1u << (tag >> 9 & 3)) + (tag >> 11 & 3) + 1;
	return n;
}

/* ha_decode_event for a packed event (BATCH3): bases are the batch's last
 * allocated and last freed addresses, both 0 at its start. */
static inline __attribute__((always_inline)) bool
ha_decode_packed(struct ha_cursor *c, struct ha_event *ev, uint64_t *ts, uint64_t bases[2],
		 uint32_t nstacks)
{
	unsigned tag, kind;

	if (c->end - c->p < 2 || c->bad) {
		c->bad = 1;
		return false;
	}
	tag = (unsigned)c->p[0] | (unsigned)c->p[1] << 8;
	kind = tag & 15;
	if (kind >= HA_EV_NKINDS || (tag & HA_PACK_RESERVED) ||
	    (kind == HA_EV_MARK && (tag & 0x7fc0))) {
		c->bad = 1;
		return false;
	}
	c->p += 2;
	ev->kind = (uint8_t)kind;
	if (ha_likely_d(c->end - c->p >= HA_FAST_ROOM && kind != HA_EV_MARK)) {
		ha_decode_packed_fields(c, ev, tag, ts, bases, true);
	} else if ((size_t)(c->end - c->p) < ha_packed_len(tag)) {
		c->bad = 1;
		return false;
	} else if (kind != HA_EV_MARK) {
		ha_decode_packed_fields(c, ev, tag, ts, bases, false);
	} else {
		unsigned dl = 1u << (tag >> 4 & 3);

		*ts += ha_le(c->p, dl, false);
		c->p += dl;
		ha_decode_mark(c, ev, *ts);
	}
	if (ev->stack > nstacks)
		c->bad = 1;
	return !c->bad;
}

/* Readers refuse stacks and modules larger than these. */
#define HA_MAX_FRAMES 1024
#define HA_MAX_SEGS 64

/* Where the k-th varint from p ends (k > 0), from the "last byte" bits of
 * the 16 bytes at p, which the caller has; NULL when they hold fewer than k
 * ends.  Longer varints than decode takes are not seen as such here: decode
 * finds them. */
static inline const uint8_t *ha_skip_varints(const uint8_t *p, unsigned k)
{
#if defined(__SSE2__)
	/* One bit per byte, set on the last byte of a varint; the k-1 lowest
	 * are cleared without a branch (k is 2 to 6, and follows the kind of
	 * event, which a branch would mispredict). */
	uint32_t m = ~(uint32_t)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p)) & 0xffffu;

	m &= k > 1 ? m - 1 : ~0u;
	m &= k > 2 ? m - 1 : ~0u;
	m &= k > 3 ? m - 1 : ~0u;
	m &= k > 4 ? m - 1 : ~0u;
	m &= k > 5 ? m - 1 : ~0u;
	return m ? p + __builtin_ctz(m) + 1 : NULL;
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (int half = 0; half < 2; half++, p += 8) {
		uint64_t w, m;

		memcpy(&w, p, sizeof(w));
		m = ~w & 0x8080808080808080ull;
		for (; k > 1 && m; k--)
			m &= m - 1;
		if (m)
			return p + (__builtin_ctzll(m) >> 3) + 1;
	}
#else
	(void)p;
	(void)k;
#endif
	return NULL;
}

/* The length of the whole record at p, or 0 when it does not end before end
 * or is malformed (decode then tells which).  It reads what read.c's decode
 * reads: the reader cuts a large chunk into pieces on record boundaries. */
static inline size_t ha_record_len(const uint8_t *p, const uint8_t *end)
{
	/* Varints after an event's kind, its time included; a mark's differ. */
	static const uint8_t fields[HA_EV_NKINDS] = {
		[HA_EV_FREE] = 2, [HA_EV_MALLOC] = 4, [HA_EV_VALLOC] = 4, [HA_EV_PVALLOC] = 4,
		[HA_EV_CALLOC] = 5, [HA_EV_REALLOC] = 6, [HA_EV_REALLOCARRAY] = 6,
		[HA_EV_POSIX_MEMALIGN] = 5, [HA_EV_ALIGNED_ALLOC] = 5, [HA_EV_MEMALIGN] = 5,
	};
	struct ha_cursor c = { p, end, 0, 0 };
	uint64_t n;
	size_t l;

	if (p >= end)
		return 0;
	switch (*c.p++) {
	case HA_REC_INFO:
		ha_cur_s(&c, &l);
		ha_cur_s(&c, &l);
		break;
	case HA_REC_MODULE:
		for (int i = 0; i < 3; i++)
			ha_cur_v(&c);
		ha_cur_s(&c, &l);
		ha_cur_s(&c, &l);
		n = ha_cur_v(&c);
		if (n > HA_MAX_SEGS)
			return 0;
		for (uint64_t i = 0; i < 3 * n && !c.bad; i++)
			ha_cur_v(&c);
		break;
	case HA_REC_UNLOAD:
		ha_cur_v(&c);
		ha_cur_v(&c);
		break;
	case HA_REC_STACK:
		ha_cur_v(&c);
		n = ha_cur_v(&c);
		if (n == 0 || n > HA_MAX_FRAMES)
			return 0;
		for (uint64_t i = 0; i < n && !c.bad; i++)
			ha_cur_v(&c);	/* frame 0, then zigzag deltas: varints alike */
		break;
	case HA_REC_BATCH:
		ha_cur_v(&c);
		ha_cur_v(&c);
		n = ha_cur_v(&c);
		for (uint64_t i = 0; i < n && !c.bad; i++) {
			unsigned kind;

			if (c.p >= c.end)
				return 0;
			kind = *c.p++;
			if (kind >= HA_EV_NKINDS)
				return 0;
			if (kind != HA_EV_MARK && c.end - c.p >= 16) {
				/* Most events: a word or two, no loop per byte (this
				 * scan had been 8% of an 8-thread trace's time). */
				const uint8_t *q = ha_skip_varints(c.p, fields[kind]);

				if (q) {
					c.p = q;
					continue;
				}
			}
			if (kind == HA_EV_MARK) {
				ha_cur_v(&c);
				ha_cur_s(&c, &l);
				continue;
			}
			for (unsigned f = 0; f < fields[kind] && !c.bad; f++)
				ha_cur_v(&c);
		}
		break;
	case HA_REC_BATCH3:
		ha_cur_v(&c);
		ha_cur_v(&c);
		n = ha_cur_v(&c);
		for (uint64_t i = 0; i < n && !c.bad; i++) {
			unsigned tag, kind;

			if (c.end - c.p < 2)
				return 0;
			tag = (unsigned)c.p[0] | (unsigned)c.p[1] << 8;
			kind = tag & 15;
			c.p += 2;
			if (kind >= HA_EV_NKINDS || (size_t)(c.end - c.p) < ha_packed_len(tag))
				return 0;
			c.p += ha_packed_len(tag);
			if (kind == HA_EV_MARK)
				ha_cur_s(&c, &l);
			for (unsigned f = ha_pack_extras(kind); f > 0; f--)
				ha_cur_v(&c);
		}
		break;
	case HA_REC_SYNC:
	case HA_REC_LOST:
		ha_cur_v(&c);
		break;
	case HA_REC_END:
		ha_cur_v(&c);
		ha_cur_v(&c);
		ha_cur_v(&c);
		break;
	default:
		return 0;
	}
	return c.bad ? 0 : (size_t)(c.p - p);
}

#endif
