/* SPDX-License-Identifier: MIT */
/* Where every interposed call is turned into a record: the recursion guard,
 * errno, lazy start-up, stack capture and the push into the thread's ring.
 * All the paranoia of the preloaded side lives here. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <link.h>
#include "hotalloc/format.h"
#include "internal.h"

HA_TLS struct ha_tls ha__tls;
_Atomic int ha__state;
_Atomic int ha__paused;
uintptr_t ha__self_lo, ha__self_hi;
static _Atomic int init_once;
static pthread_key_t exit_key;
static _Atomic int may_start;	/* the constructor ran: the writer may be started lazily */
pid_t ha__pid;

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t me = (uintptr_t)data;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < lo + ph->p_memsz) {
			ha__self_lo = lo;
			ha__self_hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

static void thread_exit(void *arg)
{
	(void)arg;
	/* Later destructors and libc's own thread teardown still call free:
	 * the thread keeps its rings to the end, and the writer retires them
	 * when the kernel says the thread is gone. */
	ha__tls.exiting = 1;
	if (ha__tls.ring)
		atomic_store(&ha__tls.ring->owner_exiting, 1);
	if (ha__tls.nested_ring)
		atomic_store(&ha__tls.nested_ring->owner_exiting, 1);
}

static void atfork_child(void)
{
	ha__pid = (pid_t)syscall(SYS_getpid);
	ha__tls.ring = NULL;
	ha__tls.nested_ring = NULL;
	ha__tls.tid = 0;
	pthread_setspecific(exit_key, NULL);
	ha__rings_reset_child();
	ha__writer_reset_child();
	if (!ha__opt.follow)
		atomic_store(&ha__state, HA_STOPPED);
}

/* First call from anywhere: resolve the real functions and set up the rings.
 * The writer thread waits for the constructor (or a full ring). */
static HA_COLD void init_slow(void)
{
	int expected = 0;

	ha__boot_resolve();
	if (!atomic_compare_exchange_strong(&init_once, &expected, 1)) {
		while (atomic_load(&init_once) != 2)
			;
		return;
	}
	ha__tls.busy = 2;
	ha__pid = (pid_t)syscall(SYS_getpid);
	ha__start_ns = ha__now();
	ha__env_load();
	if (getauxval(AT_SECURE)) {
		/* Setuid and other secure-mode programs are not traced. */
		atomic_store(&ha__state, HA_STOPPED);
	} else if (ha__rings_init() < 0) {
		ha__log("error", "cannot map the ring table: %s; tracing is off", strerror(ENOMEM));
		atomic_store(&ha__state, HA_STOPPED);
	} else if (ha__opt.sample && ha__sample_init() < 0) {
		ha__log("error", "cannot map the sampled-block set: %s; tracing is off", strerror(ENOMEM));
		atomic_store(&ha__state, HA_STOPPED);
	} else {
		dl_iterate_phdr(find_self, (void *)(uintptr_t)&find_self);
		pthread_key_create(&exit_key, thread_exit);
		pthread_atfork(NULL, NULL, atfork_child);
		if (!ha__opt.follow)
			ha__env_unfollow();
		atomic_store(&ha__state, HA_ON);
	}
	ha__tls.busy = 0;
	atomic_store(&init_once, 2);
}

void ha__init(void)
{
	if (atomic_load(&init_once) != 2)
		init_slow();
}

__attribute__((constructor)) static void ha_constructor(void)
{
	int saved = errno;

	ha__init();
	if (atomic_load(&ha__state) == HA_ON) {
		atomic_store(&may_start, 1);
		ha__tls.busy = 2;
		ha__writer_start();
		ha__tls.busy = 0;
	}
	errno = saved;
}

__attribute__((destructor)) static void ha_destructor(void)
{
	int saved = errno;

	ha__tls.busy = 2;
	ha__writer_finish(HA_END_EXIT);
	if (ha__getenv("HOTALLOC_DEBUG_SCACHE")) {
		uint64_t hits = 0, misses = 0;

		for (uint32_t i = 0; i < atomic_load(&ha__rings_used) && i < HA_MAX_RINGS; i++)
			if (ha__rings[i].scache)
				ha__scache_counts(ha__rings[i].scache, &hits, &misses);
		ha__log("debug", "stack cache: %llu hits, %llu misses", (unsigned long long)hits,
			(unsigned long long)misses);
	}
	if (ha__getenv("HOTALLOC_DEBUG_CLOCK"))
		ha__clock_report();
	ha__tls.busy = 0;
	errno = saved;
}

void ha__fault(const char *msg)
{
	int expected = HA_ON;

	if (atomic_compare_exchange_strong(&ha__state, &expected, HA_STOPPED))
		ha__log("error", "%s; tracing stopped, the program goes on", msg);
}

static HA_COLD struct ha_ring *ring_slow(struct ha_tls *t)
{
	struct ha_ring *r;

	t->busy = 2;	/* starting the writer and pthread_setspecific may allocate */
	if (!t->tid)
		t->tid = (uint32_t)syscall(SYS_gettid);
	if (!atomic_load(&ha__writer_running) && atomic_load(&may_start) && ha__writer_start() < 0) {
		t->busy = 1;
		return NULL;
	}
	r = ha__ring_acquire(t->tid);
	if (!r) {
		static _Atomic int warned;
		if (!atomic_exchange(&warned, 1))
			ha__log("warning", "no ring left for thread %u; its events are counted as lost",
				t->tid);
		t->busy = 1;
		return NULL;
	}
	t->ring = r;
	if (t->exiting)
		atomic_store(&r->owner_exiting, 1);
	else
		pthread_setspecific(exit_key, r);
	t->busy = 1;
	return r;
}

/* A signal handler interrupted the hook on this thread, and calls the
 * allocator: its events go to a second ring (the first is mid-push).
 * Only lock-free pool operations and mmap here: async-signal-safe. */
static HA_COLD struct ha_ring *nested_ring(struct ha_tls *t)
{
	if (!t->nested_ring && t->tid) {
		t->nested_ring = ha__ring_acquire(t->tid);
		if (t->nested_ring && t->exiting)
			atomic_store(&t->nested_ring->owner_exiting, 1);
	}
	return t->nested_ring;
}

static inline struct ha_ring *get_ring(struct ha_tls *t)
{
	if (t->nested)
		return nested_ring(t);
	if (ha_likely(t->ring != NULL))
		return t->ring;
	return ring_slow(t);
}

_Atomic uint64_t ha__lost_ringless;

static HA_COLD void lost_one(struct ha_tls *t)
{
	if (t->ring)
		t->ring->lost++;
	else
		atomic_fetch_add(&ha__lost_ringless, 1);
}

enum { SKIP, NORMAL, NESTED };

static HA_COLD int enter_slow(struct ha_tls *t)
{
	if (t->busy == 1 && !t->nested) {
		/* Recorded, without a stack: libunwind may not be re-entered
		 * on a thread whose unwind was interrupted. */
		t->nested = 1;
		return NESTED;
	}
	if (t->busy == 1)
		lost_one(t);	/* a signal within a signal within the hook */
	return SKIP;
}

/* Decides how this call is recorded; sets busy for NORMAL. */
static inline int enter(struct ha_tls *t)
{
	if (ha_unlikely(t->busy))
		return t->busy == 1 ? enter_slow(t) : SKIP;
	if (ha_unlikely(atomic_load_explicit(&ha__state, memory_order_relaxed) != HA_ON)) {
		if (atomic_load(&init_once) == 2)
			return SKIP;
		ha__init();
		if (atomic_load(&ha__state) != HA_ON)
			return SKIP;
	}
	t->busy = 1;
	return NORMAL;
}

static inline void leave(struct ha_tls *t, int mode, int saved_errno)
{
	if (mode == NESTED)
		t->nested = 0;
	else
		t->busy = 0;
	errno = saved_errno;
}

static HA_COLD struct ha_scache *stack_cache_slow(struct ha_ring *r)
{
	static _Atomic int warned;

	if (!ha__opt.stack_cache)
		return NULL;
	if (!r->scache) {
		r->scache = ha__scache_new(ha__opt.depth);
		if (!r->scache) {
			if (!atomic_exchange(&warned, 1))
				ha__log("warning", "cannot map a stack cache: %s; stacks are unwound in full",
					strerror(ENOMEM));
			return NULL;
		}
	} else {
		ha__scache_clear(r->scache);
	}
	r->scache_stale = 0;
	return r->scache;
}

/* The ring owner's stack cache, or NULL when there is none. */
static inline struct ha_scache *stack_cache(struct ha_ring *r)
{
	if (ha_likely(r->scache && !r->scache_stale))
		return r->scache;
	return stack_cache_slow(r);
}

/* The realloc stamped t0 is pushed or given up: SYNC may pass it again. */
static inline void pre_done(uint64_t t0)
{
	if (t0 > 1 && ha__tls.ring)
		atomic_store_explicit(&ha__tls.ring->pending_pre, 0, memory_order_release);
}

/* Pushes a free of p stamped ts (0: now).  Called between enter and leave. */
static void push_free(struct ha_tls *t, void *p, uint64_t ts)
{
	struct ha_ring *r = get_ring(t);
	struct ha_rec *rec;

	if (ha_unlikely(!r)) {
		atomic_fetch_add(&ha__lost_ringless, 1);
		return;
	}
	rec = ha__ring_reserve(r, HA_REC_FREE_WORDS);
	if (ha_unlikely(!rec)) {
		r->lost++;
		return;
	}
	atomic_store_explicit(&r->inflight, 1, memory_order_relaxed);
	rec->ts = ts ? ts : ha__now();
	rec->words = HA_REC_FREE_WORDS;
	rec->kind = HA_EV_FREE;
	rec->nframes = 0;
	rec->tid = t->tid;
	rec->addr = (uint64_t)(uintptr_t)p;
	ha__ring_commit(r, HA_REC_FREE_WORDS);
	atomic_store_explicit(&r->inflight, 0, memory_order_release);
}

/* A free of p stamped ts, from outside the hook (a paused realloc). */
static void free_at(void *p, uint64_t ts)
{
	struct ha_tls *t = &ha__tls;
	int saved, mode = enter(t);

	if (mode == SKIP)
		return;
	saved = errno;
	push_free(t, p, ts);
	leave(t, mode, saved);
}

/* The bytes an allocation call asked for (calloc: nmemb * size, saturated). */
static inline uint64_t alloc_bytes(int kind, uint64_t a, uint64_t size)
{
	uint64_t bytes;

	if (kind == HA_EV_CALLOC && __builtin_mul_overflow(a, size, &bytes))
		return UINT64_MAX;
	return kind == HA_EV_CALLOC ? bytes : size;
}

/* Sampling: decides whether this call is recorded: 0 no, 1 as it is, 2 as
 * the release of the old block alone (a realloc whose old block was sampled
 * and whose new one is not: recorded as realloc(old, 0), which keeps the
 * "before" time apart from the event's own).  A realloc whose old block was
 * not sampled loses its old half. */
static HA_COLD int sample_alloc(int kind, bool picked, void *ret, uint64_t a, uint64_t size,
				void **old, uint64_t *t0)
{
	bool old_kept = false;

	/* ha__stamp took the old block out of the set if it was sampled. */
	if (*old && *t0 > 1) {
		if (ret || !size)
			old_kept = true;
		else
			ha__sample_keep(*old);	/* the call failed: still a sampled block */
	}
	if (ret && (picked || ha__sample_pick(alloc_bytes(kind, a, size))) && ha__sample_keep(ret)) {
		if (!old_kept) {
			*old = NULL;
			*t0 = UINT64_MAX;	/* no release part: "pre" is 0 */
		}
		return 1;
	}
	return old_kept ? 2 : 0;
}

void ha__on_alloc(int kind, void *ret, uint64_t a, uint64_t size, void *old, uint64_t t0)
{
	struct ha_tls *t = &ha__tls;
	uint64_t frames[HA_MAX_DEPTH];
	struct ha_scache *sc = NULL;
	struct ha_ring *r;
	struct ha_rec *rec;
	uint32_t token = 0;
	unsigned n = 0, words;
	bool stackless = false, picked = kind & HA_KIND_PICKED;
	int saved, mode;

	kind &= ~HA_KIND_PICKED;
	/* Sampling: most calls never get here (ha__sample_gate); those that
	 * did not ask it, with no old block to look up, are decided now. */
	if (ha_unlikely(ha__opt.sample) && !old && !picked && ha__sample_skip(alloc_bytes(kind, a, size)))
		return;
	if (ha_unlikely(atomic_load_explicit(&ha__paused, memory_order_relaxed))) {
		/* Paused: the new block is not recorded, but the block a realloc
		 * gave up is, as a free, so it is not taken for a leak. */
		if (!ha__opt.sample && old && (ret || !size))
			ha__on_free(old);
		else if (ha__opt.sample && t0 > 1 && (ret || !size))
			free_at(old, t0);
		else if (ha__opt.sample && t0 > 1)
			ha__sample_keep(old);	/* failed: still a sampled block */
		pre_done(t0);
		return;
	}
	mode = enter(t);
	if (mode == SKIP) {
		pre_done(t0);
		return;
	}
	saved = errno;
	if (ha_unlikely(ha__opt.sample)) {
		int how = sample_alloc(kind, picked, ret, a, size, &old, &t0);

		if (!how)
			goto out;
		if (how == 2) {
			ret = NULL;
			size = 0;
			stackless = true;	/* no stack for a release */
		}
	}
	r = get_ring(t);
	if (ha_unlikely(!r)) {
		atomic_fetch_add(&ha__lost_ringless, 1);
		goto out;
	}
	if (ha_likely(mode == NORMAL && !stackless)) {
		sc = stack_cache(r);
		n = ha__capture(sc, frames, ha__opt.depth, &token);
	}
	words = 5 + n + (t0 != 0) + (token != 0);
	rec = ha__ring_reserve(r, words);
	if (ha_unlikely(!rec)) {
		r->lost++;
		goto out;
	}
	atomic_store_explicit(&r->inflight, 1, memory_order_relaxed);
	/* Released after inflight is set: a writer that reads the cleared
	 * time also sees the push in flight, and waits for it. */
	pre_done(t0);
	rec->ts = ha__now();
	rec->words = (uint16_t)words;
	rec->kind = (uint8_t)kind;
	rec->nframes = (uint8_t)n;
	rec->tid = t->tid;
	rec->addr = (uint64_t)(uintptr_t)ret;
	rec->a = old ? (uint64_t)(uintptr_t)old : a;
	rec->b = size;
	memcpy(rec + 1, frames, n * sizeof(uint64_t));
	if (t0)
		((uint64_t *)(rec + 1))[n] = t0;
	if (token) {
		rec->kind |= HA_RK_TOKEN;
		((uint64_t *)rec)[words - 1] = token;
	}
	ha__ring_commit(r, words);
	atomic_store_explicit(&r->inflight, 0, memory_order_release);
	if (token && n)
		ha__scache_announced(sc, token);
out:
	pre_done(t0);
	leave(t, mode, saved);
}

void ha__on_free(void *p)
{
	struct ha_tls *t = &ha__tls;
	int saved, mode;

	/* Sampling: only the frees of sampled blocks are recorded. */
	if (ha_unlikely(ha__opt.sample) && (!ha__sample_maybe(p) || !ha__sample_take(p)))
		return;
	mode = enter(t);
	if (mode == SKIP)
		return;
	saved = errno;
	push_free(t, p, 0);
	leave(t, mode, saved);
}

/* realloc's "before" stamp: taken before the real call, so the old block's
 * release is ordered before any other thread can receive its address. */
uint64_t ha__stamp(const void *old)
{
	struct ha_ring *r;
	uint64_t t;

	if (ha_unlikely(ha__tls.busy == 2 || atomic_load_explicit(&ha__state, memory_order_relaxed) != HA_ON) ||
	    !old)
		return 1;
	/* Sampling: only a sampled old block needs the stamp, and it leaves
	 * the set now, before the real call can hand its address to another
	 * thread (put back by ha__on_alloc if the call fails). */
	if (ha_unlikely(ha__opt.sample) && !ha__sample_take(old))
		return 1;
	/* Until the record is pushed, the writer's SYNC must not pass t; and
	 * while t is being read, not pass anything (1): a thread preempted
	 * between the clock read and the store below would otherwise let SYNCs
	 * pass t for as long as it is off the CPU. */
	r = ha__tls.ring;
	if (r)
		atomic_store_explicit(&r->pending_pre, 1, memory_order_relaxed);
	t = ha__now();
	if (r)
		atomic_store_explicit(&r->pending_pre, t, memory_order_release);
	return t;
}


void ha__on_mark(const char *name)
{
	struct ha_tls *t = &ha__tls;
	struct ha_ring *r;
	struct ha_rec *rec;
	size_t len = strnlen(name, 200);
	unsigned words = HA_REC_FREE_WORDS + (unsigned)(len + 8) / 8;
	int saved, mode = enter(t);

	if (mode == SKIP)
		return;
	saved = errno;
	r = get_ring(t);
	if (!r || !(rec = ha__ring_reserve(r, words)))
		goto out;
	atomic_store_explicit(&r->inflight, 1, memory_order_relaxed);
	rec->ts = ha__now();
	rec->words = (uint16_t)words;
	rec->kind = HA_EV_MARK;
	rec->nframes = 0;
	rec->tid = t->tid;
	rec->addr = len;
	memset((char *)rec + HA_REC_FREE_WORDS * 8, 0, (words - HA_REC_FREE_WORDS) * 8);
	memcpy((char *)rec + HA_REC_FREE_WORDS * 8, name, len);
	ha__ring_commit(r, words);
	atomic_store_explicit(&r->inflight, 0, memory_order_release);
out:
	leave(t, mode, saved);
}

void ha__flush_before(unsigned end_reason)
{
	int saved = errno;

	/* In a vfork child (or a raw clone) the memory is the parent's: touch nothing. */
	if (atomic_load(&ha__state) != HA_ON || ha__tls.busy || (pid_t)syscall(SYS_getpid) != ha__pid)
		return;
	ha__tls.busy = 2;
	if (end_reason == HA_END_EXEC)
		ha__writer_sync(2);
	else if (end_reason == HA_END_NONE)
		ha__writer_sync(0);
	else
		ha__writer_finish(end_reason);
	ha__tls.busy = 0;
	errno = saved;
}

void ha__sync_modules(void)
{
	int saved = errno;

	if (atomic_load(&ha__state) != HA_ON || ha__tls.busy || (pid_t)syscall(SYS_getpid) != ha__pid)
		return;
	ha__tls.busy = 2;
	ha__writer_sync(1);
	ha__tls.busy = 0;
	errno = saved;
}
