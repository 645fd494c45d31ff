/* SPDX-License-Identifier: MIT */
/* rechunk: rewrites a trace with its chunks joined into larger ones, as a
 * writer that falls behind makes them, so that the analyzer's handling of
 * large chunks (handed to the reader in pieces, analyzer/read.c) can be
 * checked against the same trace in small chunks: the reports must match.
 *
 * Usage: rechunk IN OUT N
 *   The chunks' payloads are joined, in order, into N chunks of about equal
 *   size (fewer when there are fewer chunks), each compressed again as one
 *   zstd frame with a checksum and numbered 0, 1, 2, ...  The file header is
 *   copied as it is.  Prints "I chunks -> O chunks, smallest S bytes, largest
 *   L bytes".  Exit status 0, or 1 with a message on stderr. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "hotalloc/format.h"

static const char *in_path;

static void die(const char *what)
{
	fprintf(stderr, "rechunk: error: %s (%s)\n", what, in_path);
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

static uint8_t *joined, *comp;
static size_t joined_len, comp_cap, largest, smallest = SIZE_MAX;
static uint64_t seq_out;

static void flush(FILE *out)
{
	struct ha_chunk_header h;
	size_t n;

	if (!joined_len)
		return;
	comp = grow(comp, &comp_cap, ZSTD_compressBound(joined_len));
	{
		ZSTD_CCtx *cc = ZSTD_createCCtx();

		if (!cc)
			die("out of memory");
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		n = ZSTD_compress2(cc, comp, comp_cap, joined, joined_len);
		ZSTD_freeCCtx(cc);
	}
	if (ZSTD_isError(n))
		die("cannot compress");
	memset(&h, 0, sizeof(h));
	h.magic = HA_CHUNK_MAGIC;
	h.codec = HA_CODEC_ZSTD;
	h.comp_size = (uint32_t)n;
	h.raw_size = (uint32_t)joined_len;
	h.seq = seq_out++;
	if (fwrite(&h, sizeof(h), 1, out) != 1 || fwrite(comp, 1, n, out) != n)
		die("cannot write the output");
	if (joined_len > largest)
		largest = joined_len;
	if (joined_len < smallest)
		smallest = joined_len;
	joined_len = 0;
}

/* The whole input, decompressed: a test's trace is small. */
static uint8_t *all;
static size_t all_len, all_cap, *ends, nends, ends_cap;

int main(int argc, char **argv)
{
	struct ha_file_header fh;
	struct ha_chunk_header h;
	uint8_t *cbuf = NULL;
	size_t cbuf_cap = 0, from = 0, want;
	unsigned long long n;
	FILE *in, *out;

	if (argc != 4 || atoi(argv[3]) < 1) {
		fprintf(stderr, "usage: rechunk IN OUT N\n");
		return 1;
	}
	in_path = argv[1];
	want = (size_t)atoi(argv[3]);
	in = fopen(argv[1], "rb");
	out = fopen(argv[2], "wb");
	if (!in || !out)
		die("cannot open the input or the output");
	if (fread(&fh, sizeof(fh), 1, in) != 1 || memcmp(fh.magic, HA_FILE_MAGIC, 8) ||
	    fh.header_size != sizeof(fh))
		die("not a trace of this format version");
	if (fwrite(&fh, sizeof(fh), 1, out) != 1)
		die("cannot write the output");
	while (fread(&h, sizeof(h), 1, in) == 1) {
		if (h.magic != HA_CHUNK_MAGIC || h.raw_size > HA_CHUNK_MAX_RAW)
			die("a bad chunk header");
		cbuf = grow(cbuf, &cbuf_cap, h.comp_size);
		if (fread(cbuf, 1, h.comp_size, in) != h.comp_size)
			die("a torn chunk");
		all = grow(all, &all_cap, all_len + h.raw_size);
		if (h.codec == HA_CODEC_RAW) {
			memcpy(all + all_len, cbuf, h.raw_size);
		} else {
			n = ZSTD_decompress(all + all_len, h.raw_size, cbuf, h.comp_size);
			if (ZSTD_isError(n) || n != h.raw_size)
				die("a chunk that does not decompress");
		}
		all_len += h.raw_size;
		ends = grow(ends, &ends_cap, (nends + 1) * sizeof(*ends));
		ends[nends++] = all_len;
	}
	/* Output chunk k ends with the first input chunk that reaches k+1 Nths
	 * of the bytes, and holds no more than HA_CHUNK_MAX_RAW. */
	for (size_t i = 0, k = 1; i < nends; i++) {
		bool last = i + 1 == nends;

		if (!last && ends[i] < all_len / want * k &&
		    ends[i + 1] - from <= HA_CHUNK_MAX_RAW)
			continue;
		joined = all + from;
		joined_len = ends[i] - from;
		flush(out);
		from = ends[i];
		while (k < want && ends[i] >= all_len / want * k)
			k++;
	}
	if (fclose(out))
		die("cannot write the output");
	fclose(in);
	printf("%zu chunks -> %llu chunks, smallest %zu bytes, largest %zu bytes\n", nends,
	       (unsigned long long)seq_out, nends ? smallest : 0, largest);
	free(cbuf);
	free(all);
	free(ends);
	free(comp);
	return 0;
}
