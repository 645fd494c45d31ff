/* SPDX-License-Identifier: MIT */
/* The hotalloc trace format, shared by the preloaded library (writer) and the
 * analyzer (reader).  Everything is little-endian.  See README.md, "Trace format". */
#ifndef HOTALLOC_FORMAT_H
#define HOTALLOC_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HA_FORMAT_VERSION 3u		/* 2: sample_bytes in the header; 3: BATCH3 */
#define HA_FORMAT_OLDEST 1u		/* the oldest version readers accept */
#define HA_FILE_MAGIC "HOTALLOC"		/* 8 bytes, no terminator on disk */
#define HA_CHUNK_MAGIC 0x4b434148u		/* "HACK" */

/* The file header: 64 bytes at offset 0. */
struct ha_file_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;		/* sizeof(struct ha_file_header) */
	uint32_t pid;
	uint32_t ppid;
	uint64_t start_mono_ns;		/* CLOCK_MONOTONIC at start; event times are relative */
	uint64_t start_real_ns;		/* CLOCK_REALTIME at start, for display */
	uint32_t flags;			/* HA_FILE_* */
	uint32_t sample_bytes;		/* 0: every event; else the mean bytes between
					 * sampled allocations (HOTALLOC_SAMPLE) */
	uint32_t reserved[4];
};

#define HA_FILE_FORKED 0x1u		/* the process is a fork child of ppid */

/* A chunk: this header, then comp_size bytes of payload.  A chunk decodes on
 * its own (no compression state crosses chunks); stack and module ids are
 * defined once per file and referred to by later chunks. */
struct ha_chunk_header {
	uint32_t magic;			/* HA_CHUNK_MAGIC */
	uint16_t codec;			/* HA_CODEC_* */
	uint16_t flags;
	uint32_t comp_size;		/* payload bytes on disk */
	uint32_t raw_size;		/* payload bytes after decompression */
	uint64_t seq;			/* 0, 1, 2, ... */
};

#define HA_CODEC_RAW 0u
#define HA_CODEC_ZSTD 1u			/* one zstd frame with a content checksum */
#define HA_CHUNK_MAX_RAW (64u << 20)		/* readers refuse larger chunks */

/* Records inside a chunk payload: one type byte, then LEB128 varints
 * ("v"), zigzag varints ("z") and strings ("s": varint length, bytes). */
enum ha_record_type {
	HA_REC_INFO = 1,	/* s key, s value ("cmdline", "exe", "hostname") */
	HA_REC_MODULE = 2,	/* v id, v ts, v bias, s path, s build_id,
				 * v nseg, nseg x (v vaddr, v memsz, v pflags) */
	HA_REC_UNLOAD = 3,	/* v id, v ts */
	HA_REC_STACK = 4,	/* v id, v nframes, v frame0, z (frame[i]-frame[i-1])... */
	HA_REC_BATCH = 5,	/* v tid, v base_ts, v count, count x event */
	HA_REC_SYNC = 6,	/* v ts: every event stamped before ts is in this
				 * chunk or an earlier one, but for those stamped
				 * within the few instructions of a push */
	HA_REC_LOST = 7,	/* v count: events that could not be recorded */
	HA_REC_END = 8,		/* v reason (HA_END_*), v ts, v events_written */
	HA_REC_BATCH3 = 9,	/* as BATCH, its events packed (below); version 3
				 * writers write these, readers take both */
};

#define HA_END_EXIT 0u		/* the process ran its exit handlers */
#define HA_END_EXEC 1u		/* the image was replaced by exec; a failed exec
				 * is followed by more chunks */
#define HA_END_UNEXIT 2u	/* _exit or _Exit */

/* Events inside a BATCH, each: one kind byte, v dts (from the previous event
 * of the batch, or base_ts), then by kind:
 *   free                          z addr delta
 *   malloc, valloc, pvalloc       z addr delta, v size, v stack
 *   calloc                        z addr delta, v nmemb, v size, v stack
 *   realloc, reallocarray         z addr delta, z old delta, v size (nmemb *
 *                                 size for reallocarray), v stack, v pre (ns
 *                                 from the call's start to this event's time)
 *   memalign, aligned_alloc,
 *   posix_memalign                z addr delta, v align, v size, v stack
 *   mark                          s name
 * "addr delta" is the address minus the previous address in the batch (0 at
 * start), so runs of nearby blocks cost few bytes.  A failed call has
 * address 0.  Sizes are as requested (calloc: nmemb and size separately).
 * Stack ids are 1-based; 0 means no stack was captured. */
enum ha_event_kind {
	HA_EV_FREE = 0,
	HA_EV_MALLOC = 1,
	HA_EV_CALLOC = 2,
	HA_EV_REALLOC = 3,
	HA_EV_REALLOCARRAY = 4,
	HA_EV_POSIX_MEMALIGN = 5,
	HA_EV_ALIGNED_ALLOC = 6,
	HA_EV_MEMALIGN = 7,
	HA_EV_VALLOC = 8,
	HA_EV_PVALLOC = 9,
	HA_EV_MARK = 10,
	HA_EV_NKINDS
};

/* Names as used in reports, indexed by enum ha_event_kind. */
#define HA_EVENT_NAMES { "free", "malloc", "calloc", "realloc", "reallocarray", \
	"posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "mark" }

/* Varint helpers.  Writers need HA_VARINT_MAX bytes of room per value. */
#define HA_VARINT_MAX 10

static inline uint8_t *ha_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t ha_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t ha_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Reads one varint from [*pp, end).  Returns 0, or -1 when it runs off the
 * end or is longer than 10 bytes; *pp is advanced on success only. */
static inline int ha_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;

	while (p < end && shift < 64) {
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			*pp = p;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

/* Events inside a BATCH3 ("packed"), each: a 16-bit tag, then fields of
 * whole bytes, little-endian, as long as the tag says, then varints for what
 * few events have:
 *   tag bits 0-3    kind
 *        bits 4-5   c: the time delta takes 1 << c bytes (1, 2, 4, 8)
 *        bits 6-8   c: the address delta (zigzag) takes c + 1 bytes
 *        bits 9-10  c: the size takes 1 << c bytes
 *        bits 11-12 c: the stack id takes c + 1 bytes
 *        bit 13     the address delta is from the batch's last freed
 *                   address (1), or from its last allocated one (0)
 *        bit 14     the address delta counts 16 bytes a unit (1), or 1 (0)
 *        bit 15     0
 *   free                          dts, addr delta
 *   malloc, valloc, pvalloc       dts, addr delta, size, stack
 *   calloc                        the same, size the element's, then v nmemb
 *   realloc, reallocarray         the same, then z old delta, v pre
 *   memalign, aligned_alloc,
 *   posix_memalign                the same, then v align
 *   mark                          dts, then s name (bits 6-14 are 0)
 * The values are BATCH's but for the address: a free sets the batch's last
 * freed address, every other event but a mark its last allocated one (both
 * 0 at the batch's start), and an event's address is a delta from either,
 * as its writer chose (the nearer).  A thread that frees what another one
 * allocated, and allocates in its own arena, has two runs of nearby
 * addresses far apart; one delta from the previous event's address, as in
 * BATCH, crossed between them at every event.  A free's size and stack bits
 * are 0.  Every field's place follows from the tag alone, so a reader takes
 * an event's fields with a few loads and masks, not byte by byte.  A field
 * gets the fewest bytes its code allows; readers accept more. */
#define HA_PACK_RESERVED 0x8000u
#define HA_PACK_FROM_FREED 0x2000u
#define HA_PACK_BY16 0x4000u

/* The varints after a packed event's fields, by kind (a mark's name aside). */
static inline unsigned ha_pack_extras(unsigned kind)
{
	switch (kind) {
	case HA_EV_REALLOC:
	case HA_EV_REALLOCARRAY:
		return 2;	/* old delta, pre */
	case HA_EV_CALLOC:
	case HA_EV_POSIX_MEMALIGN:
	case HA_EV_ALIGNED_ALLOC:
	case HA_EV_MEMALIGN:
		return 1;	/* nmemb, or alignment */
	default:
		return 0;
	}
}

/* Codes for a value's field (writers). */
static inline unsigned ha_pack_pow(uint64_t v)		/* 1 << c bytes */
{
	return v < (1ull << 8) ? 0 : v < (1ull << 16) ? 1 : v < (1ull << 32) ? 2 : 3;
}

static inline unsigned ha_pack_len(uint64_t v)		/* c + 1 bytes */
{
	return v ? (unsigned)(63 - __builtin_clzll(v)) / 8 : 0;
}

/* Writes v's n low bytes at p (n <= 8), writing 8: the caller has 8 bytes
 * of room; returns p + n. */
static inline uint8_t *ha_put_le(uint8_t *p, uint64_t v, unsigned n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__builtin_memcpy(p, &v, 8);
#else
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
#endif
	return p + n;
}

/* The zigzag delta of addr from the nearer of a batch's last allocated and
 * last freed addresses (bases[0], bases[1]), in 16-byte units when it can
 * be: the tag bits that say which (HA_PACK_FROM_FREED, HA_PACK_BY16) are
 * added to *tag_bits. */
static inline uint64_t ha_pack_delta(uint64_t addr, const uint64_t bases[2], unsigned *tag_bits)
{
	int64_t da = (int64_t)(addr - bases[0]), df = (int64_t)(addr - bases[1]);
	uint64_t za = ha_zigzag(da), zf = ha_zigzag(df);
	int64_t d = da;

	if (zf < za) {
		d = df;
		*tag_bits |= HA_PACK_FROM_FREED;
	}
	if (d % 16)
		return ha_zigzag(d);
	*tag_bits |= HA_PACK_BY16;
	return ha_zigzag(d / 16);
}

/* Writes a packed event's tag and fields, but the varints that follow (and a
 * mark's name); returns where they go.  Writers need HA_PACK_MAX bytes of
 * room (and a mark's name's). */
#define HA_PACK_MAX (2 + 8 + 8 + 8 + 4 + 3 * HA_VARINT_MAX + 8)

static inline uint8_t *ha_put_packed(uint8_t *p, unsigned kind, uint64_t dts, uint64_t zaddr,
				     unsigned tag_bits, uint64_t size, uint32_t stack)
{
	uint8_t *tag = p;
	unsigned cd = ha_pack_pow(dts), ca, cs, ck;

	tag[0] = (uint8_t)(kind | cd << 4);
	tag[1] = 0;
	p = ha_put_le(p + 2, dts, 1u << cd);
	if (kind == HA_EV_MARK)
		return p;		/* the name follows */
	ca = ha_pack_len(zaddr);
	tag[0] |= (uint8_t)(ca << 6);
	tag[1] = (uint8_t)(ca >> 2 | tag_bits >> 8);
	p = ha_put_le(p, zaddr, ca + 1);
	if (kind == HA_EV_FREE)
		return p;
	cs = ha_pack_pow(size);
	ck = ha_pack_len(stack);
	tag[1] |= (uint8_t)(cs << 1 | ck << 3);
	p = ha_put_le(p, size, 1u << cs);
	return ha_put_le(p, stack, ck + 1);
}

/* A whole packed event but a mark (whose name follows its fields): the
 * delta of addr from the batch's bases (which it then updates), the tag and
 * fields, and the varints of its kind (ha_pack_extras): a is realloc's old
 * block, then pre its time before the call; calloc's nmemb, whose size is
 * the element's; the aligned kinds' alignment.  Needs HA_PACK_MAX bytes. */
static inline uint8_t *ha_put_packed_event(uint8_t *p, unsigned kind, uint64_t dts, uint64_t addr,
					   uint64_t bases[2], uint64_t size, uint32_t stack,
					   uint64_t a, uint64_t pre)
{
	unsigned bits = 0;
	uint64_t z = ha_pack_delta(addr, bases, &bits);

	bases[kind == HA_EV_FREE] = addr;
	p = ha_put_packed(p, kind, dts, z, bits, size, stack);
	switch (ha_pack_extras(kind)) {
	case 2:
		p = ha_put_varint(p, ha_zigzag((int64_t)(a - addr)));
		return ha_put_varint(p, pre);
	case 1:
		return ha_put_varint(p, a);
	default:
		return p;
	}
}

#endif
