/* SPDX-License-Identifier: MIT */
/* The live blocks of a replay: an open-addressing hash table keyed by address
 * (linear probing, backward-shift deletion, no tombstones). */
#ifndef HOTALLOC_ADDRMAP_H
#define HOTALLOC_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

struct ha_block {
	uint64_t addr;		/* 0 = empty slot */
	uint64_t size;
	uint64_t ts;		/* when it was allocated (or last reallocated) */
	uint64_t serial;	/* the allocation's number in the replay */
	uint32_t stack;
	uint32_t tid;
	uint32_t grows;		/* growing reallocs in this block's history */
	uint32_t in_window : 1;	/* born inside the --from/--to window */
	uint32_t weight : 31;	/* allocations it stands for: 1, or more in a sampled trace */
};

struct ha_addrmap {
	struct ha_block *slots;
	size_t mask;		/* capacity - 1, capacity a power of two */
	size_t count;
	unsigned shift;		/* 64 - log2(capacity) */
};

void ha_addrmap_init(struct ha_addrmap *m);
void ha_addrmap_free(struct ha_addrmap *m);
/* Returns the block at addr, or NULL.  The pointer is valid until the next insert or remove. */
struct ha_block *ha_addrmap_find(struct ha_addrmap *m, uint64_t addr);
/* Inserts b (b->addr must not be present). */
void ha_addrmap_insert(struct ha_addrmap *m, const struct ha_block *b);
/* Removes addr; copies the block to *out when out is not NULL.  Returns 1 if it was there. */
int ha_addrmap_remove(struct ha_addrmap *m, uint64_t addr, struct ha_block *out);

#endif
