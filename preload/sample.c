/* SPDX-License-Identifier: MIT */
/* Sampling mode (HOTALLOC_SAMPLE=BYTES): a Poisson process over the bytes a
 * thread allocates picks the allocations that are recorded, and a lock-free
 * set remembers the sampled blocks so that only their frees are recorded.
 * An allocation of s bytes is picked with probability 1 - exp(-s / BYTES);
 * the analyzer weighs it back by the inverse. */
#define _GNU_SOURCE
#include <math.h>
#include <sys/mman.h>
#include "internal.h"

/* The set: SET_BUCKETS buckets of SET_WAYS slots, one hash per address, no
 * probing past a bucket (so no tombstones).  A count per group of
 * HA_SAMPLE_GROUP buckets (at most 8 * 16 = 128 blocks, a byte) lets a free
 * of an unsampled block, by far the common case, stop after one byte load
 * from a table small enough to stay in the first-level cache (8 KiB). */
#define SET_BUCKETS (1u << HA_SAMPLE_SET_BITS)
#define SET_WAYS 16
_Static_assert(HA_SAMPLE_GROUP * SET_WAYS <= 255, "a group's count must fit in a byte");

static _Atomic uint64_t *set_slots;
_Atomic uint8_t ha__sample_grp[SET_BUCKETS / HA_SAMPLE_GROUP];
#define set_grp(b) ha__sample_grp[(b) / HA_SAMPLE_GROUP]
static _Atomic uint32_t seed_counter;
_Atomic uint64_t ha__sample_untracked;

int ha__sample_init(void)
{
	void *m = mmap(NULL, (size_t)SET_BUCKETS * SET_WAYS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	set_slots = m;
	return 0;
}

#define bucket_of ha__sample_bucket

static bool set_insert(uint64_t p)
{
	unsigned b = bucket_of(p);
	_Atomic uint64_t *s = set_slots + (size_t)b * SET_WAYS;

	for (unsigned i = 0; i < SET_WAYS; i++) {
		uint64_t expected = 0;

		if (atomic_load_explicit(&s[i], memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong(&s[i], &expected, p)) {
			atomic_fetch_add(&set_grp(b), 1);
			return true;
		}
	}
	return false;
}

bool ha__sample_take(const void *ptr)
{
	uint64_t p = (uint64_t)(uintptr_t)ptr;
	unsigned b = bucket_of(p);
	_Atomic uint64_t *s;

	if (ha_likely(atomic_load_explicit(&set_grp(b), memory_order_relaxed) == 0))
		return false;
	s = set_slots + (size_t)b * SET_WAYS;
	for (unsigned i = 0; i < SET_WAYS; i++) {
		uint64_t expected = p;

		if (atomic_load_explicit(&s[i], memory_order_relaxed) == p &&
		    atomic_compare_exchange_strong(&s[i], &expected, 0)) {
			atomic_fetch_sub(&set_grp(b), 1);
			return true;
		}
	}
	return false;
}

/* xorshift64*: the thread's stream.  Seeded from a counter of threads, so a
 * single-threaded program draws the same sample on every run. */
static uint64_t next_random(struct ha_tls *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Bytes until the next sample: exponential with mean ha__opt.sample. */
static uint64_t draw(struct ha_tls *t)
{
	double u = (double)((next_random(t) >> 11) + 1) * 0x1.0p-53;	/* (0, 1] */
	double d = -log(u) * (double)ha__opt.sample;

	return d >= 9e18 ? (uint64_t)INT64_MAX : (uint64_t)d + 1;
}

HA_COLD static bool pick_slow(struct ha_tls *t, uint64_t bytes)
{
	if (!t->rng) {
		t->rng = 0x9e3779b97f4a7c15ull * (atomic_fetch_add(&seed_counter, 1) + 1) ^
			 0x5851f42d4c957f2dull;
		if (!t->rng)
			t->rng = 1;
		/* The process is memoryless: a thread starts like any other moment. */
		t->sample_left = draw(t);
		if (bytes < t->sample_left) {
			t->sample_left -= bytes;
			return false;
		}
	}
	t->sample_left = draw(t);
	return true;
}

bool ha__sample_pick(uint64_t bytes)
{
	if (ha__sample_skip(bytes))
		return false;
	return pick_slow(&ha__tls, bytes);
}

bool ha__sample_pick_slow(uint64_t bytes)
{
	return pick_slow(&ha__tls, bytes);
}

bool ha__sample_keep(const void *p)
{
	if (set_insert((uint64_t)(uintptr_t)p))
		return true;
	/* All slots of its bucket hold live sampled blocks: it cannot be
	 * tracked, so it is not recorded (its free could not be found). */
	atomic_fetch_add(&ha__sample_untracked, 1);
	return false;
}
