/* SPDX-License-Identifier: MIT */
/* The live blocks of a replay: an open-addressing hash table keyed by address
 * (linear probing, backward-shift deletion, no tombstones). */
#ifndef HOTALLOC_ADDRMAP_H
#define HOTALLOC_ADDRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 32 bytes: a block is one half of a cache line, and the table's look-ups,
 * which miss the caches, fetch one line, not two for half of them (48 bytes
 * cost 3-7% of an 8-thread trace's analysis).  So the block keeps no weight
 * and no allocation number: a sampled block's weight is its size's, rounded
 * by one stored bit (replay.c), and a growth count past HA_BLOCK_GROWS_SAT
 * is kept aside (replay.h). */
struct ha_block {
	uint64_t addr;		/* 0 = empty slot */
	uint64_t ts;		/* when it was allocated (or last reallocated) */
	uint64_t bits;		/* size (48 bits), growth count, flags: see below */
	uint32_t stack;
	uint32_t tid;
};
#define HA_BLOCK_SIZE_MAX ((1ull << 48) - 1)
#define HA_BLOCK_GROWS_SHIFT 48		/* growing reallocs in its history, 14 bits */
#define HA_BLOCK_GROWS_SAT 16383ull	/* ... or this many and more, kept aside */
#define HA_BLOCK_IN_WINDOW (1ull << 62)	/* born inside the --from/--to window */
#define HA_BLOCK_ROUND_UP (1ull << 63)	/* a sampled block's weight was rounded up */

static inline uint64_t ha_block_size(const struct ha_block *b)
{
	return b->bits & HA_BLOCK_SIZE_MAX;
}

static inline uint64_t ha_block_grows_field(const struct ha_block *b)
{
	return (b->bits >> HA_BLOCK_GROWS_SHIFT) & HA_BLOCK_GROWS_SAT;
}

static inline bool ha_block_in_window(const struct ha_block *b)
{
	return b->bits & HA_BLOCK_IN_WINDOW;
}

_Static_assert(sizeof(struct ha_block) == 32, "a block is half a cache line");

struct ha_addrmap {
	struct ha_block *slots;
	size_t mask;		/* capacity - 1, capacity a power of two */
	size_t count;
	unsigned shift;		/* 64 - log2(capacity) */
};

static inline size_t ha_addrmap_home(const struct ha_addrmap *m, uint64_t addr)
{
	/* Fibonacci hashing, top bits: addresses are 16-byte aligned and clustered. */
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> m->shift);
}

/* A prefetch the compiler keeps, on x86-64 (elsewhere __builtin_prefetch,
 * which it may drop): GCC 12 dropped every __builtin_prefetch of the
 * applier's loop (objdump: none left) when they were three, and again with
 * a home slot rounded to a line's first, which was then measured as if it
 * had them. */
static inline void ha_prefetch_line(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p);
#endif
}

/* Asks the cache for addr's home slot: a replay that knows which addresses come
 * next hides the table's cache misses behind the work in between.  A hint only. */
static inline void ha_addrmap_prefetch(const struct ha_addrmap *m, uint64_t addr)
{
	size_t i = ha_addrmap_home(m, addr);

	/* The block, and the next slot's addr, which a remove reads to end
	 * its run: on the next line for every other slot (slot 0 after the
	 * last). */
	ha_prefetch_line(&m->slots[i]);
	ha_prefetch_line(&m->slots[(i + 1) & m->mask].addr);
}

/* The same, and a load of the home slot: on an Intel Xeon, a thread whose
 * every step misses on the table (the applier of an 8-thread trace) was 4
 * to 9% faster with the load 16 steps ahead than with no prefetch, and 2%
 * more with the prefetches too; the prefetches alone were 2.5 to 4% slower
 * than none.  On an AMD EPYC (Zen 5) the prefetches alone were 3 to 9%
 * faster than this: the replay chooses by the processor (replay.c).  What
 * the load reads goes nowhere. */
static inline void ha_addrmap_fetch(const struct ha_addrmap *m, uint64_t addr)
{
	uint64_t v;

	ha_addrmap_prefetch(m, addr);
	v = *(const volatile uint64_t *)&m->slots[ha_addrmap_home(m, addr)].addr;
	__asm__ volatile("" : : "r"(v));
}

void ha_addrmap_init(struct ha_addrmap *m);
void ha_addrmap_free(struct ha_addrmap *m);
/* Returns the block at addr, or NULL.  The pointer is valid until the next insert or remove. */
static inline struct ha_block *ha_addrmap_find(struct ha_addrmap *m, uint64_t addr)
{
	for (size_t i = ha_addrmap_home(m, addr);; i = (i + 1) & m->mask) {
		if (m->slots[i].addr == addr)
			return &m->slots[i];
		if (!m->slots[i].addr)
			return NULL;
	}
}

/* Removes the block at b, a pointer find or claim returned. */
void ha_addrmap_erase(struct ha_addrmap *m, struct ha_block *b);
/* Inserts b (b->addr must not be present). */
void ha_addrmap_insert(struct ha_addrmap *m, const struct ha_block *b);
/* Doubles the table (addrmap.c). */
void ha_addrmap_grow(struct ha_addrmap *m);

/* Keeps the table at most half full (linear probing's runs stay short) with
 * room for one more. */
static inline void ha_addrmap_reserve_one(struct ha_addrmap *m)
{
	if ((m->count + 1) * 2 > m->mask + 1)
		ha_addrmap_grow(m);
}

/* The slot for addr, found or claimed in one probe: *found tells which.  A
 * claimed slot has its addr set and the rest to be filled in by the caller; a
 * found one still holds the block that was there.  Valid as find's result. */
static inline struct ha_block *ha_addrmap_claim(struct ha_addrmap *m, uint64_t addr, int *found)
{
	size_t i;

	ha_addrmap_reserve_one(m);
	for (i = ha_addrmap_home(m, addr); m->slots[i].addr; i = (i + 1) & m->mask)
		if (m->slots[i].addr == addr) {
			*found = 1;
			return &m->slots[i];
		}
	*found = 0;
	m->count++;
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	m->slots[i].addr = addr;
	return &m->slots[i];
}

/* Removes addr; copies the block to *out when out is not NULL.  Returns 1 if it was there. */
int ha_addrmap_remove(struct ha_addrmap *m, uint64_t addr, struct ha_block *out);

#endif
