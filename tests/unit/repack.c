/* SPDX-License-Identifier: MIT */
/* repack: rewrites a trace's events in the other encoding, so that the
 * analyzer's two event decoders (analyzer/decode.h: BATCH's varints, the
 * format's versions 1 and 2, and BATCH3's packed events, version 3) can be
 * checked against each other on the same events: the reports must match.
 *
 * Usage: repack IN OUT VERSION
 *   VERSION 2: every batch as BATCH; VERSION 3: every batch as BATCH3.  The
 *   file header is copied with its version set to VERSION; every other
 *   record is copied as it is; chunks stay as they are, one for one, each
 *   compressed again as it was (zstd with a checksum, or raw).  Events are
 *   read with the analyzer's own decoders.  Prints "N batches, E events:
 *   I bytes -> O bytes" (the payloads' sizes before compression).  Exit
 *   status 0, or 1 with a message on stderr. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../analyzer/decode.h"
#include "tracefile.h"

static uint8_t *out;
static size_t out_len, out_cap;
static unsigned long long batches, events;
static uint32_t nstacks;

static uint8_t *room(size_t n)
{
	out = grow(out, &out_cap, out_len + n);
	return out + out_len;
}

/* Copies [from, to) of the input. */
static void copy(const uint8_t *from, const uint8_t *to)
{
	memcpy(room((size_t)(to - from)), from, (size_t)(to - from));
	out_len += (size_t)(to - from);
}

/* One event, ev, after the batch's previous time and address. */
static void put_event(const struct ha_event *ev, uint64_t dts, uint64_t zaddr,
		      uint64_t bases[2], int version)
{
	uint8_t *p = room(HA_PACK_MAX + 4 * HA_VARINT_MAX + (ev->kind == HA_EV_MARK ? ev->mark_len : 0));
	uint64_t zold = ha_zigzag((int64_t)(ev->old - ev->addr)), pre = ev->ts - ev->pre;
	/* calloc: the decoders give nmemb and the product; the element's size
	 * is what was written (exact but when the product overflowed). */
	uint64_t elem = ev->align ? ev->size / ev->align : 0;

	if (version == 3 && ev->kind == HA_EV_MARK) {
		p = ha_put_packed(p, ev->kind, dts, 0, 0, 0, 0);
		p = ha_put_varint(p, ev->mark_len);
		memcpy(p, ev->mark, ev->mark_len);
		p += ev->mark_len;
	} else if (version == 3) {
		bool moves = ev->kind == HA_EV_REALLOC || ev->kind == HA_EV_REALLOCARRAY;

		p = ha_put_packed_event(p, ev->kind, dts, ev->addr, bases,
					ev->kind == HA_EV_CALLOC ? elem : ev->size, ev->stack,
					moves ? ev->old : ev->align, pre);
	} else {
		*p++ = ev->kind;
		p = ha_put_varint(p, dts);
		if (ev->kind == HA_EV_MARK) {
			p = ha_put_varint(p, ev->mark_len);
			memcpy(p, ev->mark, ev->mark_len);
			p += ev->mark_len;
		} else {
			p = ha_put_varint(p, zaddr);
		}
		switch (ev->kind) {
		case HA_EV_FREE:
		case HA_EV_MARK:
			break;
		case HA_EV_MALLOC:
		case HA_EV_VALLOC:
		case HA_EV_PVALLOC:
			p = ha_put_varint(p, ev->size);
			p = ha_put_varint(p, ev->stack);
			break;
		case HA_EV_REALLOC:
		case HA_EV_REALLOCARRAY:
			p = ha_put_varint(p, zold);
			p = ha_put_varint(p, ev->size);
			p = ha_put_varint(p, ev->stack);
			p = ha_put_varint(p, pre);
			break;
		case HA_EV_CALLOC:
			p = ha_put_varint(p, ev->align);
			p = ha_put_varint(p, elem);
			p = ha_put_varint(p, ev->stack);
			break;
		default:
			p = ha_put_varint(p, ev->align);
			p = ha_put_varint(p, ev->size);
			p = ha_put_varint(p, ev->stack);
			break;
		}
	}
	out_len = (size_t)(p - out);
}

/* A batch record (its type byte read), re-encoded. */
static void batch(struct ha_cursor *c, int packed, int version)
{
	uint64_t tid = ha_cur_v(c), ts = ha_cur_v(c), count = ha_cur_v(c), addr = 0;
	uint64_t in_bases[2] = { 0, 0 }, out_bases[2] = { 0, 0 };
	uint64_t prev_ts = ts, prev_addr = 0;
	uint8_t *p = room(1 + 3 * HA_VARINT_MAX);

	*p++ = version == 3 ? HA_REC_BATCH3 : HA_REC_BATCH;
	p = ha_put_varint(p, tid);
	p = ha_put_varint(p, ts);
	p = ha_put_varint(p, count);
	out_len = (size_t)(p - out);
	c->packed = packed;
	for (uint64_t i = 0; i < count; i++) {
		struct ha_event ev;

		if (!(packed ? ha_decode_packed(c, &ev, &ts, in_bases, nstacks) :
			       ha_decode_event(c, &ev, &ts, &addr, nstacks)))
			die("a malformed event");
		put_event(&ev, ev.ts - prev_ts, ha_zigzag((int64_t)(ev.addr - prev_addr)), out_bases,
			  version);
		prev_ts = ev.ts;
		if (ev.kind != HA_EV_MARK)
			prev_addr = ev.addr;
		events++;
	}
	c->packed = 0;
	batches++;
}

/* A chunk's payload, record by record: batches rewritten, the rest copied
 * (their lengths as the analyzer's reader finds them, decode.h). */
static void payload(const uint8_t *p, size_t len, int version)
{
	struct ha_cursor c = { p, p + len, 0, 0 };

	while (c.p < c.end) {
		size_t l;

		if (*c.p == HA_REC_BATCH || *c.p == HA_REC_BATCH3) {
			int packed = *c.p++ == HA_REC_BATCH3;

			batch(&c, packed, version);
			continue;
		}
		if (!(l = ha_record_len(c.p, c.end)))
			die("a malformed record");
		if (*c.p == HA_REC_STACK)
			nstacks++;
		copy(c.p, c.p + l);
		c.p += l;
	}
}

int main(int argc, char **argv)
{
	struct ha_file_header fh;
	struct ha_chunk_header h;
	uint8_t *raw = NULL;
	size_t raw_cap = 0, in_bytes = 0, out_bytes = 0;
	int version = argc == 4 ? atoi(argv[3]) : 0;
	FILE *in, *outf;

	tool_name = "repack";
	if (argc != 4 || (version != 2 && version != 3)) {
		fprintf(stderr, "usage: repack IN OUT 2|3\n");
		return 1;
	}
	open_trace(argv[1], argv[2], &in, &outf, &fh);
	fh.version = (uint32_t)version;
	if (fwrite(&fh, sizeof(fh), 1, outf) != 1)
		die("cannot write the output");
	while (read_chunk(in, &h, &raw, &raw_cap, 0)) {
		out_len = 0;
		payload(raw, h.raw_size, version);
		in_bytes += h.raw_size;
		out_bytes += out_len;
		write_chunk(outf, h.codec, h.seq, out, out_len);
	}
	if (fclose(outf))
		die("cannot write the output");
	fclose(in);
	printf("%llu batches, %llu events: %zu bytes -> %zu bytes\n", batches, events, in_bytes,
	       out_bytes);
	free(raw);
	free(out);
	return 0;
}
