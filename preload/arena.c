/* SPDX-License-Identifier: MIT */
/* The writer thread's private allocator: power-of-two size classes carved
 * from mmap'd slabs, never the program's malloc.  Single-threaded by
 * contract (the writer only); a fork child starts it afresh. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include "internal.h"

#define MIN_SHIFT 5			/* 32-byte blocks */
#define MAX_SHIFT 20			/* 1 MiB; larger ones are mmap'd alone */
#define SLAB (1u << 20)
#define HDR 16				/* each block starts with its size */

static void *free_lists[MAX_SHIFT + 1];
static unsigned char *slab_cur, *slab_end;

static unsigned class_of(size_t size)
{
	unsigned shift = MIN_SHIFT;

	while (((size_t)1 << shift) < size)
		shift++;
	return shift;
}

static void *carve(size_t bytes)
{
	void *p;

	if ((size_t)(slab_end - slab_cur) < bytes) {
		size_t sz = bytes > SLAB ? bytes : SLAB;
		void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return NULL;
		slab_cur = m;
		slab_end = slab_cur + sz;
	}
	p = slab_cur;
	slab_cur += bytes;
	return p;
}

void *ha__arena_alloc(size_t size)
{
	size_t total = size + HDR;
	unsigned char *p;

	if (size > ((size_t)1 << 40))
		return NULL;
	if (total > ((size_t)1 << MAX_SHIFT)) {
		p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
	} else {
		unsigned c = class_of(total);

		if (free_lists[c]) {
			p = free_lists[c];
			memcpy(&free_lists[c], p, sizeof(void *));
		} else if (!(p = carve((size_t)1 << c))) {
			return NULL;
		}
		total = (size_t)1 << c;
	}
	memcpy(p, &total, sizeof(total));
	return p + HDR;
}

void ha__arena_free(void *ptr)
{
	unsigned char *p = ptr;
	size_t total;

	if (!p)
		return;
	p -= HDR;
	memcpy(&total, p, sizeof(total));
	if (total > ((size_t)1 << MAX_SHIFT)) {
		munmap(p, total);
		return;
	}
	unsigned c = class_of(total);
	memcpy(p, &free_lists[c], sizeof(void *));
	free_lists[c] = p;
}

void ha__arena_reset_child(void)
{
	/* The parent's writer may have been in the middle of an update at fork
	 * time; the child forgets the lists (their pages stay, unused). */
	memset(free_lists, 0, sizeof(free_lists));
	slab_cur = slab_end = NULL;
}
