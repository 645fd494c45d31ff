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
#include "tracefile.h"

static uint8_t *joined;
static size_t joined_len, largest, smallest = SIZE_MAX;
static uint64_t seq_out;

static void flush(FILE *out)
{
	if (!joined_len)
		return;
	write_chunk(out, HA_CODEC_ZSTD, seq_out++, joined, joined_len);
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
	size_t from = 0, want;
	FILE *in, *out;

	tool_name = "rechunk";
	if (argc != 4 || atoi(argv[3]) < 1) {
		fprintf(stderr, "usage: rechunk IN OUT N\n");
		return 1;
	}
	want = (size_t)atoi(argv[3]);
	open_trace(argv[1], argv[2], &in, &out, &fh);
	if (fwrite(&fh, sizeof(fh), 1, out) != 1)
		die("cannot write the output");
	while (read_chunk(in, &h, &all, &all_cap, all_len)) {
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
	free(all);
	free(ends);
	return 0;
}
