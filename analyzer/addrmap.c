/* SPDX-License-Identifier: MIT */
/* Open-addressing map from block address to block, for the replay. */
#include <stdlib.h>
#include <string.h>
#include "addrmap.h"
#include "util.h"

/* n zeroed slots.  A table of 1 MiB or more is put on huge pages when the
 * kernel allows it (madvise mode): its look-ups land anywhere, and with 4 KiB
 * pages a table of a few MiB missed the TLB as often as the cache.  (From
 * 1 MiB, not 2: the tables of 1.5 and 3 MiB an 8-thread trace went through
 * cost 640 page faults, a tenth of its analysis' faults.) */
static struct ha_block *table_alloc(size_t n)
{
	size_t bytes = n * sizeof(struct ha_block);
	void *p;

	/* On a line: a block never straddles two. */
	p = bytes < HA_HUGE_PAGE / 2 ? xaligned(64, bytes) : xhuge(bytes);
	memset(p, 0, bytes);
	return p;
}

void ha_addrmap_init(struct ha_addrmap *m)
{
	m->mask = 1023;
	m->shift = 64 - 10;
	m->count = 0;
	m->slots = table_alloc(m->mask + 1);
}

void ha_addrmap_free(struct ha_addrmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static void put(struct ha_addrmap *m, const struct ha_block *b)
{
	size_t i = ha_addrmap_home(m, b->addr);

	while (m->slots[i].addr)
		i = (i + 1) & m->mask;
	m->slots[i] = *b;
}

/* Doubles the table. */
void ha_addrmap_grow(struct ha_addrmap *m)
{
	struct ha_block *old = m->slots;
	size_t n = m->mask + 1;

	m->mask = 2 * n - 1;
	m->shift--;
	m->slots = table_alloc(2 * n);
	for (size_t i = 0; i < n; i++)
		if (old[i].addr)
			put(m, &old[i]);
	free(old);
}

void ha_addrmap_insert(struct ha_addrmap *m, const struct ha_block *b)
{
	ha_addrmap_reserve_one(m);
	put(m, b);
	m->count++;
}

void ha_addrmap_erase(struct ha_addrmap *m, struct ha_block *b)
{
	size_t i = (size_t)(b - m->slots), j;

	/* Backward-shift: move later members of the run into the hole when
	 * their home slot does not lie between the hole and them. */
	for (j = (i + 1) & m->mask; m->slots[j].addr; j = (j + 1) & m->mask) {
		size_t home = ha_addrmap_home(m, m->slots[j].addr);

		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].addr = 0;
	m->count--;
}

int ha_addrmap_remove(struct ha_addrmap *m, uint64_t addr, struct ha_block *out)
{
	struct ha_block *b = ha_addrmap_find(m, addr);

	if (!b)
		return 0;
	if (out)
		*out = *b;
	ha_addrmap_erase(m, b);
	return 1;
}
