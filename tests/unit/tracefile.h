/* SPDX-License-Identifier: MIT */
/* What the test tools that rewrite a trace (rechunk.c, repack.c) share: an
 * error exit, a growing buffer, reading a chunk and writing one. */
#ifndef HOTALLOC_TEST_TRACEFILE_H
#define HOTALLOC_TEST_TRACEFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "hotalloc/format.h"

static const char *tool_name, *in_path;

static void die(const char *what)
{
	fprintf(stderr, "%s: error: %s (%s)\n", tool_name, what, in_path);
	exit(1);
}

static void *grow(void *p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return p;
	while (*cap < need)
		*cap = *cap ? 2 * *cap : 1 << 20;
	p = realloc(p, *cap);
	if (!p)
		die("out of memory");
	return p;
}

/* Opens the input, checks its file header into *fh, and opens the output. */
static void open_trace(const char *in_name, const char *out_name, FILE **in, FILE **out,
		       struct ha_file_header *fh)
{
	in_path = in_name;
	*in = fopen(in_name, "rb");
	*out = fopen(out_name, "wb");
	if (!*in || !*out)
		die("cannot open the input or the output");
	if (fread(fh, sizeof(*fh), 1, *in) != 1 || memcmp(fh->magic, HA_FILE_MAGIC, 8) ||
	    fh->header_size != sizeof(*fh))
		die("not a trace");
}

/* The next chunk of in: its header in *h and its payload, decompressed, at
 * *raw + at (grown to hold it).  Returns 0 at the end of the file. */
static int read_chunk(FILE *in, struct ha_chunk_header *h, uint8_t **raw, size_t *raw_cap, size_t at)
{
	static uint8_t *cbuf;
	static size_t cbuf_cap;

	if (fread(h, sizeof(*h), 1, in) != 1) {
		free(cbuf);
		cbuf = NULL;
		cbuf_cap = 0;
		return 0;
	}
	if (h->magic != HA_CHUNK_MAGIC || h->raw_size > HA_CHUNK_MAX_RAW)
		die("a bad chunk header");
	cbuf = grow(cbuf, &cbuf_cap, h->comp_size);
	if (fread(cbuf, 1, h->comp_size, in) != h->comp_size)
		die("a torn chunk");
	*raw = grow(*raw, raw_cap, at + h->raw_size + 1);
	if (h->codec == HA_CODEC_RAW) {
		memcpy(*raw + at, cbuf, h->raw_size);
	} else {
		size_t n = ZSTD_decompress(*raw + at, h->raw_size, cbuf, h->comp_size);

		if (ZSTD_isError(n) || n != h->raw_size)
			die("a chunk that does not decompress");
	}
	return 1;
}

/* Writes a chunk of len payload bytes, numbered seq: as they are, or as one
 * zstd frame with a checksum (level 1, as the library writes them).  Returns
 * the bytes written after the header. */
static size_t write_chunk(FILE *out, unsigned codec, uint64_t seq, const uint8_t *payload, size_t len)
{
	static uint8_t *comp;
	static size_t comp_cap;
	struct ha_chunk_header h;
	const uint8_t *body = payload;
	size_t n = len;

	if (len > HA_CHUNK_MAX_RAW)
		die("a chunk larger than readers take");
	if (codec != HA_CODEC_RAW) {
		ZSTD_CCtx *cc = ZSTD_createCCtx();

		comp = grow(comp, &comp_cap, ZSTD_compressBound(len));
		if (!cc)
			die("out of memory");
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		n = ZSTD_compress2(cc, comp, comp_cap, payload, len);
		ZSTD_freeCCtx(cc);
		if (ZSTD_isError(n))
			die("cannot compress");
		body = comp;
	}
	memset(&h, 0, sizeof(h));
	h.magic = HA_CHUNK_MAGIC;
	h.codec = (uint16_t)codec;
	h.comp_size = (uint32_t)n;
	h.raw_size = (uint32_t)len;
	h.seq = seq;
	if (fwrite(&h, sizeof(h), 1, out) != 1 || (n && fwrite(body, 1, n, out) != n))
		die("cannot write the output");
	return n;
}

#endif
