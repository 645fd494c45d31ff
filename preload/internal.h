/* SPDX-License-Identifier: MIT */
/* Declarations shared by the files of the preloaded library (ha__ symbols).
 * Nothing here is exported from libhotalloc.so. */
#ifndef HOTALLOC_PRELOAD_INTERNAL_H
#define HOTALLOC_PRELOAD_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ha_likely(x) __builtin_expect(!!(x), 1)
#define ha_unlikely(x) __builtin_expect(!!(x), 0)
#define HA_TLS __thread __attribute__((tls_model("initial-exec")))
#define HA_COLD __attribute__((cold, noinline))
#define HA_CACHELINE 64
#define HA_MAX_DEPTH 256

/* A hash of n 8-byte words (a stack): a multiply-xor per word. */
static inline uint64_t ha__hash_words(const uint64_t *w, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

/* ---- boot.c: the real allocator and the bootstrap arena ---- */
struct ha_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	void *(*dlopen)(const char *, int);
	int (*dlclose)(void *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	void (*exit_)(int);
	void (*Exit)(int);
};
extern struct ha_real ha__real;

/* Resolves ha__real with dlsym(RTLD_NEXT); safe to call more than once and
 * from any thread.  Calls that dlsym makes meanwhile are served by the boot arena. */
void ha__boot_resolve(void);
/* True while ha__boot_resolve runs on some thread. */
extern _Atomic int ha__booting;
/* Boot arena: never freed, 64 KiB in all.  Returns NULL when exhausted. */
void *ha__boot_alloc(size_t size, size_t align);
#define HA_BOOT_SIZE (64 * 1024)
extern unsigned char ha__boot_arena[HA_BOOT_SIZE];
static inline bool ha__boot_owns(const void *p)
{
	return (const unsigned char *)p >= ha__boot_arena &&
	       (const unsigned char *)p < ha__boot_arena + HA_BOOT_SIZE;
}
size_t ha__boot_size(const void *p);

/* ---- env.c: options, read once at start ---- */
struct ha_options {
	unsigned depth;			/* HOTALLOC_DEPTH, frames kept per stack */
	bool follow;			/* HOTALLOC_FOLLOW */
	unsigned ring_kib;		/* HOTALLOC_RING_KIB */
	int zstd_level;			/* HOTALLOC_ZSTD_LEVEL, 0 = raw chunks */
	unsigned flush_ms;		/* HOTALLOC_FLUSH_MS, at most 100 */
	bool quiet;			/* HOTALLOC_QUIET */
	uint32_t sample;		/* HOTALLOC_SAMPLE: mean bytes between samples, 0 = all */
	bool stack_cache;		/* HOTALLOC_STACK_CACHE */
	bool clock_tsc;			/* HOTALLOC_CLOCK=auto: the TSC where the kernel trusts it */
	char out[1024];			/* HOTALLOC_OUT, absolute pattern */
};
extern struct ha_options ha__opt;
/* Reads HOTALLOC_* from the environment without allocating. */
void ha__env_load(void);
/* Removes libhotalloc from LD_PRELOAD in place, for HOTALLOC_FOLLOW=0. */
void ha__env_unfollow(void);
/* getenv that works before libc has set up environ for us (reads __environ). */
const char *ha__getenv(const char *name);

/* ---- log.c: messages through write(2), no stdio ---- */
/* Prints "hotalloc: LEVEL: " + the formatted message + newline on stderr.
 * Understands %s %d %u %lu %llu %zu %x and %%.  Async-signal-safe. */
void ha__log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats like ha__log into buf; returns the length. */
size_t ha__format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- clock.c: the timestamps ---- */
/* Nanoseconds on the process's one clock: CLOCK_MONOTONIC, or the TSC
 * converted to it once the writer has calibrated it (see clock.c).  Never
 * goes backwards on a thread; a stamp taken after another thread's stamp
 * became visible through memory is never smaller.  Any context. */
uint64_t ha__now(void);
/* From ha__writer_start, before the writer thread runs: decides whether the
 * TSC may be used (HOTALLOC_CLOCK, CPUID, the kernel's clocksource, prctl)
 * and takes the first calibration sample.  A no-op in a fork child whose
 * parent has switched.  No allocation; may change errno. */
void ha__clock_start(void);
/* The writer thread only, once a round: once 10 ms have passed since
 * ha__clock_start, publishes the conversion (once); two loads after that. */
void ha__clock_calibrate(void);
/* True once the TSC has taken over.  Any context. */
bool ha__clock_is_tsc(void);
/* Prints which clock is in use, and why (HOTALLOC_DEBUG_CLOCK). */
void ha__clock_report(void);

/* ---- ring.c: per-thread single-producer rings ---- */
/* A record in a ring.  words counts 8-byte words including this header. */
struct ha_rec {
	uint16_t words;
	uint8_t kind;			/* enum ha_event_kind, or HA_RK_PAD */
	uint8_t nframes;
	uint32_t tid;
	uint64_t ts;
	uint64_t addr;
	uint64_t a;			/* old address, alignment or nmemb */
	uint64_t b;			/* size */
	/* uint64_t frames[nframes] follow (allocations), or the mark name */
};
#define HA_RK_PAD 0xff
#define HA_RK_TOKEN 0x40		/* kind flag: the last word is a stack-cache token */
#define HA_REC_FREE_WORDS 3		/* words, kind, tid, ts, addr */

struct ha_ring {
	/* producer-owned line */
	_Atomic uint64_t head;		/* bytes published */
	_Atomic uint32_t inflight;	/* a push is between its clock read and publish */
	uint32_t owner_tid;
	uint64_t tail_cache;
	char pad0[HA_CACHELINE - 24];
	/* consumer-owned line */
	_Atomic uint64_t tail;		/* bytes consumed */
	char pad1[HA_CACHELINE - 8];
	/* shared, rarely written */
	_Atomic int state;		/* HA_RING_* */
	uint32_t index;
	_Atomic uint64_t next_free;	/* free-list link, tagged */
	uint8_t *buf;
	uint64_t size;			/* bytes, power of two */
	uint64_t lost;			/* events lost by the owner, written by the owner */
	uint64_t lost_seen;		/* the part of lost already reported, writer-owned */
	_Atomic int owner_exiting;	/* the owner ran its thread-exit destructor; the
					 * writer retires the ring once the thread is gone */
	uint64_t checked_ns;		/* writer-owned: when the owner was last looked for */
	_Atomic int stalled;		/* the owner gave up waiting for room; cleared by the writer */
	struct ha_scache *scache;	/* the owner's stack cache (unwind.c), kept across owners */
	_Atomic uint64_t pending_pre;	/* a realloc's "before" time not yet pushed, 1 while it is read, or 0 */
	int scache_stale;		/* a new owner: the cache must be emptied first */
	uint32_t *tokmap;		/* writer-owned: stack-cache token -> stack id */
};

enum { HA_RING_FREE, HA_RING_ACTIVE, HA_RING_RETIRED };

#define HA_MAX_RINGS 16384
extern struct ha_ring *ha__rings;		/* array of HA_MAX_RINGS, mmap'd */
extern _Atomic uint32_t ha__rings_used;		/* high-water index */

/* Sets up the ring table; 0 or -ENOMEM. Called once, under boot. */
int ha__rings_init(void);
/* Takes a ring for the calling thread; NULL when none is left. Never allocates
 * through malloc.  Lock-free. */
struct ha_ring *ha__ring_acquire(uint32_t tid);
/* The owner is done with the ring; the writer drains it and frees it. */
void ha__ring_retire(struct ha_ring *r);
/* Writer only: puts a drained retired ring back on the free list. */
void ha__ring_recycle(struct ha_ring *r);
/* Producer side: returns a pointer to room for `words` words, waiting for the
 * writer while the ring is full (lossless).  Returns NULL if tracing stopped. */
struct ha_rec *ha__ring_reserve(struct ha_ring *r, unsigned words);
/* Producer side: publishes the record returned by the last reserve. */
void ha__ring_commit(struct ha_ring *r, unsigned words);
/* In a fork child: forgets every ring (their contents belong to the parent). */
void ha__rings_reset_child(void);

/* ---- hook.c ---- */
struct ha_tls {
	struct ha_ring *ring;
	struct ha_ring *nested_ring;	/* for calls from a signal handler that interrupted the tracer */
	uint32_t tid;
	int busy;			/* 1: in the hook; 2: the tracer's own calls, passed through */
	int nested;			/* recording a call made while busy == 1 */
	int exiting;			/* the thread's key destructor ran */
	uint64_t sample_left;		/* sampling: bytes to allocate before the next sample;
					 * 0 until the thread's stream is seeded */
	uint64_t rng;			/* sampling: the thread's random stream, 0 = not seeded */
};
extern HA_TLS struct ha_tls ha__tls;
/* The public API (include/hotalloc.h declares them weak for programs). */
void hotalloc_mark(const char *name);
void hotalloc_pause(void);
void hotalloc_resume(void);
/* hotalloc_pause() depth: allocations are not recorded while it is above 0. */
extern _Atomic int ha__paused;
/* 0 before init, 1 tracing, 2 stopped (error, exit or disabled). */
extern _Atomic int ha__state;
enum { HA_OFF = 0, HA_ON = 1, HA_STOPPED = 2 };
extern uintptr_t ha__self_lo, ha__self_hi;	/* our own text, skipped in stacks */

void ha__init(void);
/* After the real call: ret is its result; a is nmemb (calloc) or the alignment;
 * old is realloc's old block; t0 is realloc's ha__stamp() before the call. */
void ha__on_alloc(int kind, void *ret, uint64_t a, uint64_t size, void *old, uint64_t t0);
/* A timestamp taken before a realloc's real call of old (nonzero). */
uint64_t ha__stamp(const void *old);
extern pid_t ha__pid;
void ha__on_free(void *p);
void ha__on_mark(const char *name);
/* Before the image goes away (exec, _exit, abort): everything recorded so
 * far is written.  HA_END_NONE: written, with no END record (abort). */
void ha__flush_before(unsigned end_reason);
#define HA_END_NONE 99u
/* Events dropped where no ring could be had; reported by the writer. */
extern _Atomic uint64_t ha__lost_ringless;
/* Before dlclose: the writer records the object list while it is still whole. */
void ha__sync_modules(void);
/* Stops tracing for good after a tracer fault; prints msg once. */
void ha__fault(const char *msg);

/* ---- sample.c: HOTALLOC_SAMPLE ---- */
/* Maps the set of sampled blocks; 0 or -1.  Called once, under boot. */
int ha__sample_init(void);
/* Counts bytes against the calling thread's countdown: true when this
 * allocation is the one sampled.  Hook context; lock-free. */
bool ha__sample_pick(uint64_t bytes);
/* Remembers a sampled block; false (and counted) when it cannot be tracked. */
bool ha__sample_keep(const void *p);
/* Forgets p if it is a sampled block: true when it was one.  Lock-free,
 * async-signal-safe; one byte load when p was not sampled. */
bool ha__sample_take(const void *p);
/* The set's counts per group of buckets, for the inline test below. */
#define HA_SAMPLE_SET_BITS 16
#define HA_SAMPLE_GROUP 8
extern _Atomic uint8_t ha__sample_grp[(1u << HA_SAMPLE_SET_BITS) / HA_SAMPLE_GROUP];
static inline unsigned ha__sample_bucket(uint64_t p)
{
	return (unsigned)((p * 0x9e3779b97f4a7c15ull) >> (64 - HA_SAMPLE_SET_BITS));
}
/* False when p is certainly not a sampled block: one byte load. */
static inline bool ha__sample_maybe(const void *p)
{
	return atomic_load_explicit(&ha__sample_grp[ha__sample_bucket((uint64_t)(uintptr_t)p) / HA_SAMPLE_GROUP],
				    memory_order_relaxed) != 0;
}
/* Sampling, the common case, inline: true when an allocation of bytes is
 * not picked (the countdown is charged).  False when not sampling. */
extern HA_TLS struct ha_tls ha__tls;
static inline bool ha__sample_skip(uint64_t bytes)
{
	struct ha_tls *t = &ha__tls;

	if (ha_likely(!ha__opt.sample))
		return false;
	if (ha_likely(bytes < t->sample_left)) {
		t->sample_left -= bytes;
		return true;
	}
	return false;
}
/* Sampling: the decision for a call that allocates bytes (and releases old
 * unless it is NULL), taken before the real call so that the shim can jump
 * to it when the call is not recorded (no frame of its own, one return
 * fewer to predict), and so that allocations the real call makes itself
 * (an interposer behind us) are counted after it, not before.
 *   HA_SAMPLE_PASS   not recorded; the countdown is charged
 *   0                not sampling, or old may be a sampled block: the hook
 *                    decides after the call
 *   HA_KIND_PICKED   picked (the countdown is drawn anew): or'ed into the
 *                    kind given to ha__on_alloc */
#define HA_SAMPLE_PASS 1
#define HA_KIND_PICKED 0x100
/* The countdown ran out: true when picked (a thread's first call seeds its
 * stream and may turn out not to be). */
bool ha__sample_pick_slow(uint64_t bytes);
static inline int ha__sample_gate(uint64_t bytes, const void *old)
{
	if (ha_likely(!ha__opt.sample))
		return 0;
	if (old && ha__sample_maybe(old))
		return 0;
	if (ha_likely(ha__sample_skip(bytes)))
		return HA_SAMPLE_PASS;
	return ha__sample_pick_slow(bytes) ? HA_KIND_PICKED : HA_SAMPLE_PASS;
}
/* Sampled allocations that could not be tracked (their bucket was full). */
extern _Atomic uint64_t ha__sample_untracked;

/* ---- unwind.c ---- */
struct ha_scache;
/* Fills frames with the caller's return addresses, innermost first, without
 * hotalloc's own frames.  Returns the count (0..max).  Hook context only;
 * c is the calling thread's stack cache, or NULL for plain libunwind. */
#define HA_SCACHE_NODES 16384
/* *token: 0, or the cache's name for this stack (1..HA_SCACHE_NODES).  A
 * token the writer already knows comes with no frames (the count is 0). */
unsigned ha__capture(struct ha_scache *c, uint64_t *frames, unsigned max, uint32_t *token);
/* The record carrying token's frames was pushed: later ones may omit them. */
void ha__scache_announced(struct ha_scache *c, uint32_t token);
/* A stack cache for stacks of up to depth frames (mmap); NULL on failure. */
struct ha_scache *ha__scache_new(unsigned depth);
/* Forgets every cached stack (the ring has a new owner thread). */
void ha__scache_clear(struct ha_scache *c);
/* Adds c's hits and misses (for HOTALLOC_DEBUG_SCACHE; racy reads). */
void ha__scache_counts(const struct ha_scache *c, uint64_t *hits, uint64_t *misses);

/* ---- writer.c ---- */
/* Starts the writer thread and the trace file; idempotent. 0 or -errno. */
int ha__writer_start(void);
/* Asks the writer to drain everything pushed so far and write it out, and
 * waits (bounded, about 2 s) until it has.  flags: 1 = look for dlopen and
 * dlclose changes first, 2 = an exec follows (write END(exec)). */
void ha__writer_sync(unsigned flags);
extern uint64_t ha__start_ns;	/* event times are relative to this */
extern int ha__forked;		/* this process is a fork child */
/* Final drain and END record; the writer thread stops. */
void ha__writer_finish(unsigned reason);
/* In a fork child: drop the parent's writer state; the next start makes a new file. */
void ha__writer_reset_child(void);
/* Wakes the writer (ring filling up). */
void ha__writer_kick(void);
extern _Atomic int ha__writer_running;

/* ---- arena.c: the writer's private allocator (mmap), also behind uthash ---- */
void *ha__arena_alloc(size_t size);
void ha__arena_free(void *p);
void ha__arena_reset_child(void);

/* ---- modules.c ---- */
struct ha_module_cb {
	void (*emit)(void *ctx, const char *path, uint64_t bias, const uint8_t *build_id,
		     unsigned build_id_len, const uint64_t *segs, unsigned nseg);
	void *ctx;
};
/* Calls emit once per loaded object.  Writer only. */
void ha__modules_scan(const struct ha_module_cb *cb);
/* Cheap check: did dlopen/dlclose change the object list since last_gen? */
uint64_t ha__modules_generation(void);

#endif
