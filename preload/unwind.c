/* SPDX-License-Identifier: MIT */
/* Stack capture: libunwind, behind a per-thread cache of recent stacks that
 * is validated, frame by frame, against the stack itself.
 *
 * Frame 0 is the program's function that called the allocator: its return
 * address sits in the slot just above our shim's frame, which our own frame
 * pointers lead to.  The cache is a tree of frames per thread, from the leaf
 * outwards: a node is a frame (its return address), reached from the frame
 * it called, and knows the address of the slot that holds its caller's
 * return address.  A capture walks the tree reading those slots: a frame
 * whose return address and stack pointer are the same as when it was cached
 * is the same function at the same call with the same frame, so its caller's
 * slot is where the node says, and the value read there picks the next node.
 * A frame whose size can vary at one pc (alloca, variable-length arrays) has
 * a frame pointer; for those the saved frame pointer is checked too, which
 * pins the frame's extent; a realigned frame is never trusted.  So two call
 * paths that reach the same leaf at the same depth never share a stack: their
 * slots differ somewhere, and at the first slot that differs libunwind takes
 * over, from that frame outwards, not from the leaf.  Nothing on the
 * program's stack is ever written.
 *
 * Walking the tree is a chain of dependent loads; the latest path through
 * each frame-0 node is also kept flat (slots, return addresses, frame-pointer
 * checks), so that a repeated stack is confirmed with independent loads. */
#define UNW_LOCAL_ONLY
#define _GNU_SOURCE
#include <libunwind.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include "internal.h"

/* Frames inside libhotalloc.so that sit above the program's call: the hook,
 * the shim, this function.  A few spare slots cover them. */
#define OWN_FRAMES_MAX 8
#define ROOT_BUCKETS 256
#define CACHE_NODES HA_SCACHE_NODES	/* per thread: 1.25 MiB (touched as used) */
#define WINDOW 4096			/* captures per look at the miss rate */
#define PLAIN_SPELL (1u << 16)		/* captures done plain after a bad window */
#define SEEN_BITS (1u << 16)		/* stacks seen once, by hash */
#define FLAT_SETS 16			/* flat paths: sets by frame-0 node */
#define FLAT_WAYS 4			/* paths kept per set */
#define FLATS (FLAT_SETS * FLAT_WAYS)

struct node {
	uint64_t pc;		/* return address into this frame */
	uint64_t slot;		/* where pc was read (compared for roots only) */
	uint64_t rbp_loc;	/* where this frame's rbp is saved; bit 0: check it */
	uint64_t rbp;		/* its value when cached */
	uint64_t next_slot;	/* the caller's return-address slot; 0: this frame's
				 * extent is not pinned, unwind its callers afresh */
	uint64_t next_rbp_loc;	/* where the caller's rbp is saved */
	uint32_t child;		/* first caller node (index, 0 = none) */
	uint32_t sibling;	/* next node with the same callee, or in the same root bucket */
	uint16_t end;		/* the recorded stack ends with this frame */
	uint16_t announced;	/* the writer knows this node's token */
	uint32_t hint;		/* the caller node taken last */
	uint64_t hint_pc;	/* and its pc */
};

/* A path from frame-0 node `root` to the node `token`, flat: d holds the
 * slots, then the return addresses (depth each), then the frame pointers to
 * check, as (address, value) pairs. */
struct flat {
	uint32_t root, gen, n, nchk, token;
	uint32_t hit;		/* confirmed a capture since it was made */
	uint64_t used;
	uint64_t d[];
};

struct ha_scache {
	uint32_t root[ROOT_BUCKETS];	/* frame-0 nodes by (slot, pc) */
	uint32_t nnodes, depth;
	uint32_t gen;			/* clears so far: a flat path of another is stale */
	uint64_t clock;			/* captures, for the flat paths' replacement */
	uint32_t win, win_misses;	/* this window's captures and misses */
	uint64_t hits, misses;		/* for HOTALLOC_DEBUG_SCACHE */
	uint32_t plain_left;		/* captures left to do with plain libunwind */
	uint8_t waste[FLAT_SETS];	/* paths of the set replaced in a row without a hit */
	uint64_t seen[SEEN_BITS / 64];	/* stacks met once and not cached (a stack is
					 * cached at its second sighting) */
	size_t flat_size;
	struct node nodes[CACHE_NODES + 1];	/* [0] unused */
	unsigned char flats[];		/* FLATS x flat_size */
};

void ha__scache_counts(const struct ha_scache *c, uint64_t *hits, uint64_t *misses)
{
	*hits += c->hits;
	*misses += c->misses;
}

__attribute__((constructor(101))) static void unwind_setup(void)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

static unsigned capture_plain(uint64_t *frames, unsigned max)
{
	void *buf[HA_MAX_DEPTH + OWN_FRAMES_MAX];
	int n, skip = 0;
	unsigned out = 0;

	n = unw_backtrace(buf, (int)(max + OWN_FRAMES_MAX));
	while (skip < n && (uintptr_t)buf[skip] >= ha__self_lo && (uintptr_t)buf[skip] < ha__self_hi)
		skip++;
	for (int i = skip; i < n && out < max; i++)
		frames[out++] = (uint64_t)(uintptr_t)buf[i];
	return out;
}

static inline uint64_t load(uint64_t addr)
{
	return *(const volatile uint64_t *)(uintptr_t)addr;
}

struct ha_scache *ha__scache_new(unsigned depth)
{
	size_t flat_size = sizeof(struct flat) + 4 * (size_t)depth * sizeof(uint64_t);
	struct ha_scache *c = mmap(NULL, sizeof(*c) + FLATS * flat_size, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (c == MAP_FAILED)
		return NULL;
	c->depth = depth;
	c->flat_size = flat_size;
	c->gen = 1;
	return c;
}

void ha__scache_clear(struct ha_scache *c)
{
	memset(c->root, 0, sizeof(c->root));
	memset(c->seen, 0, sizeof(c->seen));
	memset(c->waste, 0, sizeof(c->waste));
	c->nnodes = 0;
	c->gen++;
}

static inline struct flat *flat_of(struct ha_scache *c, uint32_t root, unsigned way)
{
	return (struct flat *)(c->flats + ((root % FLAT_SETS) * FLAT_WAYS + way) * c->flat_size);
}

/* True when the flat path f is the stack now: every slot and checked frame
 * pointer as cached.  Independent loads, looked at eight at a time.  All the
 * slots lie between frame 0 and the top of this thread's stack. */
static bool flat_ok(const struct ha_scache *c, const struct flat *f)
{
	const uint64_t *slots = f->d, *pcs = slots + c->depth, *chk = pcs + c->depth;
	uint64_t diff = 0;

	/* Outermost first: paths from one frame 0 tend to part far from it. */
	for (unsigned i = f->n - 1; i > 0; i--) {
		diff |= load(slots[i]) ^ pcs[i];
		if ((i & 7) == 0 && diff)
			return false;
	}
	for (unsigned i = 0; i < f->nchk; i++)
		diff |= load(chk[2 * i]) ^ chk[2 * i + 1];
	return !diff;
}

/* Makes the flat copy of the path of nodes path[0..n), in place of the
 * least recently used path of its set.  A set whose paths keep being
 * replaced before they confirm anything (more paths from one frame 0 than it
 * has ways, taken in turn: each is gone before it comes back) is copied into
 * once in WASTE_PROBE times only, until one of its paths is used again. */
#define WASTE_MAX 8
#define WASTE_PROBE 16
static void flatten(struct ha_scache *c, const uint32_t *path, unsigned n, uint32_t token)
{
	unsigned set = path[0] % FLAT_SETS;
	struct flat *f = flat_of(c, path[0], 0);

	if (c->waste[set] >= WASTE_MAX && c->clock % WASTE_PROBE)
		return;
	for (unsigned w = 1; w < FLAT_WAYS && f->gen == c->gen; w++) {
		struct flat *g = flat_of(c, path[0], w);

		if (g->gen != c->gen || g->used < f->used)
			f = g;
	}
	if (f->gen == c->gen && !f->hit) {
		if (c->waste[set] < WASTE_MAX)
			c->waste[set]++;
	} else {
		c->waste[set] = 0;
	}
	uint64_t *slots = f->d, *pcs = slots + c->depth, *chk = pcs + c->depth;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct node *nd = &c->nodes[path[i]];

		slots[i] = nd->slot;
		pcs[i] = nd->pc;
		if (nd->rbp_loc & 1) {
			chk[2 * k] = nd->rbp_loc & ~1ull;
			chk[2 * k + 1] = nd->rbp;
			k++;
		}
	}
	f->n = n;
	f->nchk = k;
	f->token = token;
	f->root = path[0];
	f->gen = c->gen;
	f->used = c->clock;
	f->hit = 0;
}

static inline unsigned root_bucket(uint64_t slot, uint64_t pc)
{
	return (unsigned)(((slot ^ (pc << 7)) * 0x9e3779b97f4a7c15ull) >> 56);
}

/* A node is current when its frame pointer, if it must be checked, is the one cached. */
static inline bool rbp_ok(const struct node *nd)
{
	return !(nd->rbp_loc & 1) || load(nd->rbp_loc & ~1ull) == nd->rbp;
}

void ha__scache_announced(struct ha_scache *c, uint32_t token)
{
	if (c && token && token <= c->nnodes)
		c->nodes[token].announced = 1;
}

/* A new node linked at *link (a root bucket or a node's child list); NULL when full. */
static struct node *add_node(struct ha_scache *c, uint32_t *link, uint64_t pc, uint64_t slot,
			     uint64_t rbp_loc, uint64_t rbp)
{
	struct node *nd;

	if (c->nnodes >= CACHE_NODES)
		return NULL;
	nd = &c->nodes[++c->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->pc = pc;
	nd->slot = slot;
	nd->rbp_loc = rbp_loc;
	nd->rbp = rbp;
	nd->sibling = *link;
	*link = c->nnodes;
	return nd;
}

/* libunwind from frame d (pc, its return-address slot, where its rbp is
 * saved) outwards, into frames[d..max).  With link, the frames are also added
 * to the cache under it, as long as each one's extent is pinned.  Returns the
 * number of frames in all. */
static unsigned unwind_from(struct ha_scache *c, uint32_t *link, uint64_t *frames, uint32_t *path,
			    unsigned d, unsigned max, uint64_t pc, uint64_t slot, uint64_t rbp_loc,
			    uint32_t *token)
{
	unw_context_t uc;
	unw_cursor_t cur;
	uint64_t uc_lo = (uint64_t)(uintptr_t)&uc, uc_hi = uc_lo + sizeof(uc);
	uint64_t rbp = load(rbp_loc), prev_slot = slot;
	struct node *prev = link ? add_node(c, link, pc, slot, rbp_loc, rbp) : NULL;
	unsigned n = d;

	if (prev)
		path[n] = (uint32_t)(prev - c->nodes);
	frames[n++] = pc;
	memset(&uc.uc_mcontext.gregs, 0, sizeof(uc.uc_mcontext.gregs));
	/* The call instruction, not the one after it: the right unwind rule
	 * even when the call is the last instruction of its function. */
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(pc - 1);
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(slot + 8);
	uc.uc_mcontext.gregs[REG_RBP] = (greg_t)rbp;
	if (unw_init_local(&cur, &uc) < 0)
		goto out;
	while (n < max && unw_step(&cur) > 0) {
		unw_save_loc_t ip_loc, bp_loc;
		unw_word_t ip, sp, bp;
		uint64_t bp_at;

		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || unw_get_reg(&cur, UNW_REG_SP, &sp) < 0 || !ip)
			break;
		frames[n++] = ip;
		if (!prev)
			continue;
		/* Is the callee's extent pinned: by its stack pointer alone, or
		 * by its frame pointer (then checked)?  A realigned frame is not. */
		if (prev->rbp + 16 == sp)
			prev->rbp_loc |= 1;
		else if (prev->rbp > prev_slot + 8 && prev->rbp < sp)
			goto unpinned;
		if (unw_get_reg(&cur, UNW_X86_64_RBP, &bp) < 0 || unw_is_signal_frame(&cur) > 0 ||
		    unw_get_save_loc(&cur, UNW_REG_IP, &ip_loc) < 0 ||
		    unw_get_save_loc(&cur, UNW_X86_64_RBP, &bp_loc) < 0 ||
		    ip_loc.type != UNW_SLT_MEMORY || ip_loc.u.addr != sp - 8)
			goto unpinned;
		if (bp_loc.type == UNW_SLT_MEMORY && (bp_loc.u.addr < uc_lo || bp_loc.u.addr >= uc_hi))
			bp_at = bp_loc.u.addr;
		else if (bp_loc.type == UNW_SLT_MEMORY || bp_loc.type == UNW_SLT_NONE)
			bp_at = rbp_loc;	/* unchanged since frame d */
		else
			goto unpinned;
		prev->next_slot = ip_loc.u.addr;
		prev->next_rbp_loc = bp_at;
		prev_slot = ip_loc.u.addr;
		prev = add_node(c, &prev->child, ip, ip_loc.u.addr, bp_at, bp);
		if (prev)
			path[n - 1] = (uint32_t)(prev - c->nodes);
		continue;
unpinned:
		prev->next_slot = 0;
		prev = NULL;
	}
out:
	if (prev) {
		prev->end = 1;
		*token = (uint32_t)(prev - c->nodes);
		flatten(c, path, n, *token);
	}
	return n;
}

/* A stack the cache does not hold.  libunwind's backtrace is much cheaper
 * than its cursor, which the cache needs to learn where the slots are; so a
 * stack is only learnt the second time it is met (many stacks of a compiler,
 * say, are met once). */
static unsigned miss(struct ha_scache *c, uint32_t *link, uint64_t *frames, uint32_t *path, unsigned d,
		     unsigned max, uint64_t pc, uint64_t slot, uint64_t rbp_loc, uint32_t *token)
{
	unsigned n = capture_plain(frames, max);
	uint64_t bit = ha__hash_words(frames, n) % SEEN_BITS;

	c->misses++;
	c->win_misses++;
	if (!(c->seen[bit / 64] & (1ull << (bit % 64)))) {
		c->seen[bit / 64] |= 1ull << (bit % 64);
		return n;
	}
	return unwind_from(c, link, frames, path, d, max, pc, slot, rbp_loc, token);
}

unsigned ha__capture(struct ha_scache *c, uint64_t *frames, unsigned max, uint32_t *token)
{
	uint64_t *fp = __builtin_frame_address(0);
	uint32_t path[HA_MAX_DEPTH];
	uint64_t slot, rbp_loc, v;
	struct node *nd;
	struct flat *f;
	uint32_t *link, idx;
	unsigned n = 0;

	*token = 0;
	if (!max)
		return 0;
	if (!c || c->depth < max)
		return capture_plain(frames, max);
	/* A miss unwinds frame by frame with libunwind's cursor, which is much
	 * slower than its backtrace when the program's stacks keep changing (a
	 * compiler): a thread that misses often does without the cache for a
	 * while. */
	if (ha_unlikely(c->plain_left)) {
		c->plain_left--;
		return capture_plain(frames, max);
	}
	if (ha_unlikely(++c->win == WINDOW)) {
		if (c->win_misses > WINDOW / 8)
			c->plain_left = PLAIN_SPELL;
		c->win = c->win_misses = 0;
	}
	/* Up our own frame pointers to the shim's frame: the first whose
	 * return address is outside libhotalloc. */
	for (int i = 0; fp[1] >= ha__self_lo && fp[1] < ha__self_hi; i++) {
		fp = (uint64_t *)fp[0];
		if (!fp || i == OWN_FRAMES_MAX)
			return capture_plain(frames, max);
	}
	if (c->nnodes + max + 1 > CACHE_NODES)
		ha__scache_clear(c);	/* full: start again */
	slot = (uint64_t)(uintptr_t)&fp[1];
	rbp_loc = (uint64_t)(uintptr_t)&fp[0];
	v = fp[1];
	link = &c->root[root_bucket(slot, v)];
	for (idx = *link; idx; idx = c->nodes[idx].sibling) {
		nd = &c->nodes[idx];
		if (nd->slot == slot && nd->pc == v && rbp_ok(nd))
			break;
	}
	if (!idx)
		return miss(c, link, frames, path, 0, max, v, slot, rbp_loc, token);
	/* The flat copies of the latest paths from this frame 0. */
	c->clock++;
	for (unsigned w = 0; w < FLAT_WAYS; w++) {
		f = flat_of(c, idx, w);
		if (f->root == idx && f->gen == c->gen && f->n <= max && flat_ok(c, f)) {
			c->hits++;
			f->used = c->clock;
			f->hit = 1;
			c->waste[idx % FLAT_SETS] = 0;
			*token = f->token;
			if (c->nodes[f->token].announced)
				return 0;
			memcpy(frames, f->d + c->depth, f->n * sizeof(uint64_t));
			return f->n;
		}
	}
	path[0] = idx;
	for (;;) {
		frames[n++] = nd->pc;
		if (nd->end || n == max) {
			c->hits++;
			*token = (uint32_t)(nd - c->nodes);
			flatten(c, path, n, *token);
			return nd->announced ? 0 : n;
		}
		if (!nd->next_slot) {
			/* This frame's extent is not pinned: its callers afresh. */
			c->misses++;
			c->win_misses++;
			return capture_plain(frames, max);
		}
		slot = nd->next_slot;
		rbp_loc = nd->next_rbp_loc;
		v = load(slot);
		link = &nd->child;
		/* The caller taken last time first: the next node's address does
		 * not wait for the load from the stack. */
		idx = nd->hint;
		if (!idx || nd->hint_pc != v || !rbp_ok(&c->nodes[idx])) {
			for (idx = *link; idx; idx = c->nodes[idx].sibling)
				if (c->nodes[idx].pc == v && rbp_ok(&c->nodes[idx]))
					break;
			if (!idx)
				return miss(c, link, frames, path, n, max, v, slot, rbp_loc, token);
			nd->hint = idx;
			nd->hint_pc = v;
		}
		nd = &c->nodes[idx];
		path[n] = idx;
	}
}
