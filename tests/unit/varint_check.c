/* SPDX-License-Identifier: MIT */
/* Checks the analyzer's unchecked varint (ha_cur_fast, analyzer/decode.h)
 * against the format's reference decoder (ha_get_varint, include/hotalloc/
 * format.h): every length from 1 to 10 bytes, the edges of each length,
 * random values, values written overlong (with continuation bytes of zero),
 * and sequences of 11 or more continuation bytes, which both must reject.
 * Each value is decoded where it sits at every offset of the word, so that
 * the bytes after it are those of other values, as in a chunk.  Run under
 * ASan and UBSan by `make test`.  Usage: varint_check [randoms]; exit 0 when
 * all held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../analyzer/decode.h"

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static unsigned failures;

static unsigned long long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Encodes v in at least min bytes (padded with continuation bytes). */
static size_t put(uint8_t *p, uint64_t v, size_t min)
{
	size_t n = 0;

	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (v || n + 1 < min)
			b |= 0x80;
		p[n++] = b;
	} while (v || n < min);
	return n;
}

/* Decodes the bytes at buf + off both ways; they must agree on value,
 * length and validity. */
static void check_at(const uint8_t *buf, size_t off, size_t len, const char *what)
{
	const uint8_t *rp = buf + off;
	uint64_t want = 0, got;
	int rc = ha_get_varint(&rp, buf + len, &want);
	struct ha_cursor c = { buf + off, buf + len, 0 };

	got = ha_cur_fast(&c);
	if (rc < 0 ? !c.bad : (c.bad || got != want || c.p != rp)) {
		fprintf(stderr, "varint_check: %s at %zu: reference %s %llu (%td bytes), fast %s %llu (%td bytes)\n",
			what, off, rc < 0 ? "rejects" : "gives", (unsigned long long)want, rp - (buf + off),
			c.bad ? "rejects" : "gives", (unsigned long long)got, c.p - (buf + off));
		failures++;
	}
}

/* One value in a buffer with HA_FAST_ROOM bytes after it, all of the given
 * filler: continuation bytes or random ones. */
static void check_value(uint64_t v, size_t min, int filler, const char *what)
{
	uint8_t buf[16 + HA_FAST_ROOM + 16];

	for (size_t lead = 0; lead < 8; lead++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = filler >= 0 ? (uint8_t)filler : (uint8_t)next_rand();
		for (size_t i = 0; i < lead; i++)
			buf[i] = 0x80;
		put(buf + lead, v, min);
		check_at(buf, lead, sizeof(buf), what);
	}
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	uint8_t buf[32 + HA_FAST_ROOM];

	for (unsigned bits = 0; bits <= 64; bits++) {
		uint64_t top = bits == 64 ? ~0ull : (1ull << bits) - 1;

		check_value(top, 1, 0x80, "edge");
		check_value(top, 1, 0x00, "edge");
		check_value(top + 1, 1, 0xff, "edge + 1");
		check_value(top >> 1, 1, -1, "half edge");
	}
	for (size_t min = 1; min <= 10; min++) {
		check_value(0, min, -1, "overlong 0");
		check_value(0x7f, min, -1, "overlong 127");
		check_value(1ull << 55, min, -1, "overlong 2^55");
	}
	/* 11 to 20 continuation bytes, then a last one: malformed. */
	for (size_t k = 11; k <= 20; k++) {
		memset(buf, 0, sizeof(buf));
		memset(buf, 0xff, k);
		check_at(buf, 0, sizeof(buf), "too long");
	}
	/* A 10th byte that carries more than the 64th bit: both keep the low
	 * bits, as the reference always has. */
	memset(buf, 0, sizeof(buf));
	memset(buf, 0xff, 9);
	buf[9] = 0x7f;
	check_at(buf, 0, sizeof(buf), "10th byte overflow");
	/* Random streams of values of every size. */
	for (unsigned long i = 0; i < n; i++) {
		uint8_t s[16 * 10 + HA_FAST_ROOM];
		size_t len = 0;

		while (len < 16 * 10) {
			uint64_t v = next_rand() >> (next_rand() % 64);

			len += put(s + len, v, 1 + (next_rand() % 16 == 0 ? next_rand() % 10 : 0));
		}
		memset(s + len, 0, sizeof(s) - len);
		for (size_t off = 0; off + HA_FAST_ROOM <= sizeof(s) && off < len;) {
			const uint8_t *rp = s + off;
			uint64_t want;

			check_at(s, off, sizeof(s), "stream");
			if (ha_get_varint(&rp, s + sizeof(s), &want) < 0)
				break;
			off = (size_t)(rp - s);
		}
		if (failures > 20)
			break;
	}
	if (failures) {
		fprintf(stderr, "varint_check: %u failures\n", failures);
		return 1;
	}
	printf("varint_check: agreed with the reference on every case\n");
	return 0;
}
