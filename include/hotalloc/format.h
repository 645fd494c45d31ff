/* SPDX-License-Identifier: MIT */
/* The hotalloc trace format, shared by the preloaded library (writer) and the
 * analyzer (reader).  Everything is little-endian.  See README.md, "Trace format". */
#ifndef HOTALLOC_FORMAT_H
#define HOTALLOC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define HA_FORMAT_VERSION 2u		/* 2: sample_bytes in the header */
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

#endif
