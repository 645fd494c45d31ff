/* SPDX-License-Identifier: MIT */
/* Checks the analyzer's unchecked varint (ha_cur_fast, analyzer/decode.h)
 * against the format's reference decoder (ha_get_varint, include/hotalloc/
 * format.h): every length from 1 to 10 bytes, the edges of each length,
 * random values, values written overlong (with continuation bytes of zero),
 * and sequences of 11 or more continuation bytes, which both must reject.
 * Each value is decoded where it sits at every offset of the word, so that
 * the bytes after it are those of other values, as in a chunk.  Run under
 * ASan and UBSan by `make test`.  Also packed events (BATCH3, format.h):
 * random ones of every kind and field length, written as the library writes
 * them and read back by ha_decode_packed, fast or near the buffer's end,
 * each field checked; cut short anywhere, a packed event is rejected, never
 * read past its buffer (each a heap block of its exact size, for ASan).
 * Usage: varint_check [randoms]; exit 0 when all held. */
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
	struct ha_cursor c = { buf + off, buf + len, 0, 0 };

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

/* A random value of up to 64 bits, most often small. */
static uint64_t any(void)
{
	return next_rand() >> (next_rand() % 64);
}

/* Random streams of packed events, each decoded back and compared; every
 * stream also cut at each byte of its last event. */
static void check_packed(unsigned long rounds)
{
	enum { N = 24 };

	for (unsigned long r = 0; r < rounds && failures <= 20; r++) {
		struct ha_event want[N];
		uint8_t tmp[N * (HA_PACK_MAX + 64)], *p = tmp, *last = tmp;
		uint64_t wb[2] = { 0, 0 }, rb[2] = { 0, 0 }, prev = 0, ts = 0;
		uint32_t nstacks = UINT32_MAX;

		for (int i = 0; i < N; i++) {
			struct ha_event *e = &want[i];
			unsigned kind = (unsigned)(next_rand() % HA_EV_NKINDS);
			uint64_t dts = any(), elem = 0, pre = 0;

			memset(e, 0, sizeof(*e));
			last = p;
			e->kind = (uint8_t)kind;
			e->ts = prev += dts;
			if (kind == HA_EV_MARK) {
				size_t len = next_rand() % 12;

				p = ha_put_packed(p, kind, dts, 0, 0, 0, 0);
				p = ha_put_varint(p, len);
				memset(p, 'm', len);
				e->mark_len = (uint32_t)len;
				p += len;
				continue;
			}
			/* Nearby addresses, aligned or not, or anywhere. */
			e->addr = next_rand() % 3 ? wb[next_rand() % 2] + (uint64_t)(int64_t)(int16_t)next_rand() *
						 (next_rand() % 2 ? 16 : 1) : next_rand();
			if (kind != HA_EV_FREE) {
				e->size = any();
				e->stack = (uint32_t)(next_rand() >> (next_rand() % 64));
			}
			if (kind == HA_EV_CALLOC) {
				elem = e->size;
				e->align = any();
				if (__builtin_mul_overflow(e->align, elem, &e->size))
					e->size = UINT64_MAX;
			}
			if (ha_pack_extras(kind) == 2) {	/* realloc */
				pre = next_rand() % 2 ? any() % (e->ts + 1) : any();
				e->old = next_rand();
				e->pre = pre <= e->ts ? e->ts - pre : 0;
			} else if (ha_pack_extras(kind) == 1 && kind != HA_EV_CALLOC) {
				e->align = any();
			}
			p = ha_put_packed_event(p, kind, dts, e->addr, wb,
						kind == HA_EV_CALLOC ? elem : e->size, e->stack,
						ha_pack_extras(kind) == 2 ? e->old : e->align, pre);
		}
		for (size_t cut = (size_t)(last - tmp); cut <= (size_t)(p - tmp); cut++) {
			size_t len = cut;
			uint8_t *buf = malloc(len ? len : 1);
			struct ha_cursor c = { buf, buf + len, 0, 1 };
			int whole = len == (size_t)(p - tmp);

			memcpy(buf, tmp, len);
			rb[0] = rb[1] = 0;
			ts = 0;
			for (int i = 0; i < N; i++) {
				struct ha_event got;
				const struct ha_event *e = &want[i];
				bool okay = ha_decode_packed(&c, &got, &ts, rb, nstacks);

				if (i == N - 1 && !whole) {
					if (okay) {
						fprintf(stderr, "varint_check: packed event cut at %zu of %td read\n",
							len, p - tmp);
						failures++;
					}
					break;
				}
				if (!okay || got.kind != e->kind || got.ts != e->ts || got.addr != e->addr ||
				    got.size != e->size || got.stack != e->stack || got.old != e->old ||
				    got.pre != e->pre || got.align != e->align || got.mark_len != e->mark_len) {
					fprintf(stderr, "varint_check: packed event %d (kind %u) read back %s: "
						"addr %llx/%llx size %llu/%llu old %llx/%llx align %llu/%llu\n",
						i, e->kind, okay ? "wrong" : "as malformed",
						(unsigned long long)got.addr, (unsigned long long)e->addr,
						(unsigned long long)got.size, (unsigned long long)e->size,
						(unsigned long long)got.old, (unsigned long long)e->old,
						(unsigned long long)got.align, (unsigned long long)e->align);
					failures++;
					break;
				}
			}
			if (whole && c.p != c.end) {
				fprintf(stderr, "varint_check: packed stream read to %td of %zu\n", c.p - buf, len);
				failures++;
			}
			free(buf);
		}
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
	check_packed(n / 20 + 1);
	if (failures) {
		fprintf(stderr, "varint_check: %u failures\n", failures);
		return 1;
	}
	printf("varint_check: agreed with the reference on every case; packed events read back\n");
	return 0;
}
