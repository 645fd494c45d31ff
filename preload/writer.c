/* SPDX-License-Identifier: MIT */
/* The writer thread: drains every ring, deduplicates stacks, encodes the
 * records of include/hotalloc/format.h, compresses them with zstd and appends
 * self-contained chunks to the trace file at least every 100 ms.  It allocates
 * only from its private arena, and it is the only reader of the rings. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_customMem: zstd allocates from our arena */
#include <zstd.h>
#include <zstd_errors.h>
#include "hotalloc/format.h"
#include "internal.h"

#define uthash_malloc(sz) ha__arena_alloc(sz)
#define uthash_free(ptr, sz) ha__arena_free(ptr)
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (W.oom = 1)
/* Stacks are whole 8-byte words: a multiply-xor per word, not uthash's
 * byte-at-a-time default (a 64-frame stack is 512 bytes). */
#define HASH_FUNCTION(keyptr, keylen, hashv) \
	((hashv) = (unsigned)ha__hash_words((const uint64_t *)(keyptr), (keylen) / 8))
#include <uthash.h>

#define CHUNK_TARGET (1u << 20)		/* flush once a chunk's raw payload reaches this */
#define INFLIGHT_WAIT_NS 50000000ull	/* a producer stuck mid-push is waited for this long */
#define GEN_CHECK_NS 50000000ull	/* the loader's object list is looked at this often */
#define IDLE_CHECK_NS 20000000ull	/* an idle ring's owner is looked for this often */
#define SYNC_RESCAN 1u			/* sync_flags: look for dlopen/dlclose changes */
#define SYNC_EXEC 2u			/* sync_flags: an exec follows, write END(exec) */

struct stack_ent {
	UT_hash_handle hh;
	uint32_t id;
	uint32_t n;
	uint64_t frames[];
};

struct module_ent {
	uint64_t bias;
	uint32_t id;
	bool seen;
	char *path;
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static struct {
	int fd;
	bool have_fd;
	char path[1200];
	uint64_t seq;
	off_t good_size;		/* bytes of the file that end on a chunk boundary */
	struct buf defs;		/* stack and module definitions of the current chunk */
	struct buf events;		/* batches and syncs of the current chunk */
	struct buf spare;		/* the payload being compressed, or an empty buffer */
	uint8_t *comp;
	size_t comp_cap;
	ZSTD_CCtx *cctx;
	struct stack_ent *stacks;
	uint32_t next_stack;
	struct module_ent *mods;
	unsigned nmods, capmods;
	uint32_t next_mod;
	uint64_t mod_gen;
	uint64_t gen_checked;		/* when the loader's list was last looked at */
	uint64_t last_flush;
	uint64_t events_written;	/* encoded */
	uint64_t events_on_disk;
	int oom;
	pthread_t thread;
} W;

_Atomic int ha__writer_running;
uint64_t ha__start_ns;
int ha__forked;
static _Atomic int start_lock;
static _Atomic uint32_t kick_word;
static _Atomic uint64_t sync_req, sync_done;
static _Atomic unsigned sync_flags;
static _Atomic int finish_req, finish_done;
static _Atomic unsigned finish_reason;

/* ---- buffers ---- */

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64 * 1024;
	while (cap < b->len + more)
		cap *= 2;
	p = ha__arena_alloc(cap);
	if (!p)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->p, b->len);
	ha__arena_free(b->p);
	b->p = p;
	b->cap = cap;
	return 0;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
	p = ha_put_varint(p, len);
	memcpy(p, s, len);
	return p + len;
}

/* ---- the file ---- */

static int full_write(const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(W.fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void write_failed(int err)
{
	/* Cut the partial chunk, so the file ends where the last whole one does. */
	if (ftruncate(W.fd, W.good_size) < 0) {
		/* Nothing more can be done: the reader stops at the torn chunk. */
	}
	atomic_store(&ha__state, HA_STOPPED);
	ha__log("error", "cannot write '%s': %s; tracing stopped, the %llu events written before are kept",
		W.path, strerrordesc_np(err), (unsigned long long)W.events_on_disk);
}

static uint64_t drain_all(void);

/* Compresses in slices of this many bytes, draining the rings between them. */
#define SLICE (64u * 1024)

/* Compresses in into out's frame while the threads go on recording: the
 * rings are drained between slices (into the next chunk's buffers), so that
 * a thread does not wait for room for as long as a whole chunk takes (2 to
 * 3 ms at level 1, about what fills a 1 MiB ring).  The frame is the same
 * as ZSTD_compress2's, its content size included.  Returns its size, or a
 * zstd error code. */
static size_t compress_draining(uint8_t *out, size_t cap, const uint8_t *in, size_t raw)
{
	ZSTD_outBuffer o = { out, cap, 0 };
	ZSTD_inBuffer i = { in, 0, 0 };
	size_t r = ZSTD_CCtx_reset(W.cctx, ZSTD_reset_session_only);

	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setPledgedSrcSize(W.cctx, raw);
	while (!ZSTD_isError(r)) {
		ZSTD_EndDirective mode = raw - i.size <= SLICE ? ZSTD_e_end : ZSTD_e_continue;

		i.size = mode == ZSTD_e_end ? raw : i.size + SLICE;
		/* The output has room for the whole bound: each call takes its
		 * slice whole, and the last one ends the frame. */
		r = ZSTD_compressStream2(W.cctx, &o, &i, mode);
		if (ZSTD_isError(r))
			break;
		if (mode == ZSTD_e_end)
			return r ? (size_t)-ZSTD_error_dstSize_tooSmall : o.pos;
		if (i.pos != i.size)
			return (size_t)-ZSTD_error_dstSize_tooSmall;
		/* Not past a full next chunk: a writer that cannot keep up
		 * (8 threads on 2 cores) otherwise grew each chunk out of the
		 * last one's compression, to 8-21 MiB, and held three buffers
		 * of that size (8-thread bench: peak RSS 53 MiB, median of 9,
		 * against 40 now; wall 3.72 s against 3.65).  Then the rings
		 * hold what comes, as between drains. */
		if (W.defs.len + W.events.len < CHUNK_TARGET)
			drain_all();
	}
	return r;
}

/* Writes the pending definitions and events as one chunk.  drain: the rings
 * may be drained meanwhile, into the next chunk (not when the chunk must
 * hold everything recorded so far: a sync, an exec, the end). */
static int flush_chunk(bool drain)
{
	struct ha_chunk_header h;
	struct buf in;
	uint64_t written;
	size_t raw, out;
	int err;

	W.last_flush = ha__now();
	if (!W.defs.len && !W.events.len)
		return 0;
	if (buf_reserve(&W.defs, W.events.len) < 0)
		return -ENOMEM;
	memcpy(W.defs.p + W.defs.len, W.events.p, W.events.len);
	raw = W.defs.len + W.events.len;
	W.defs.len = W.events.len = 0;
	written = W.events_written;
	/* The payload leaves W.defs, which the drains may fill again. */
	in = W.defs;
	W.defs = W.spare;
	W.spare = in;
	W.spare.len = 0;

	memset(&h, 0, sizeof(h));
	h.magic = HA_CHUNK_MAGIC;
	h.raw_size = (uint32_t)raw;
	h.seq = W.seq++;
	out = raw;
	if (W.cctx) {
		size_t bound = ZSTD_compressBound(raw) + sizeof(h);

		if (bound > W.comp_cap) {
			ha__arena_free(W.comp);
			W.comp = ha__arena_alloc(bound);
			W.comp_cap = W.comp ? bound : 0;
			if (!W.comp)
				return -ENOMEM;
		}
		if (drain)
			out = compress_draining(W.comp + sizeof(h), W.comp_cap - sizeof(h), in.p, raw);
		else
			out = ZSTD_compress2(W.cctx, W.comp + sizeof(h), W.comp_cap - sizeof(h), in.p, raw);
		if (ZSTD_isError(out))
			return -EIO;
		h.codec = HA_CODEC_ZSTD;
		h.comp_size = (uint32_t)out;
		memcpy(W.comp, &h, sizeof(h));
		err = full_write(W.comp, sizeof(h) + out);
	} else {
		h.codec = HA_CODEC_RAW;
		h.comp_size = (uint32_t)raw;
		err = full_write(&h, sizeof(h));
		if (!err)
			err = full_write(in.p, raw);
	}
	if (err) {
		write_failed(-err);
		return err;
	}
	W.good_size += (off_t)(sizeof(h) + out);
	W.events_on_disk = written;
	return 0;
}

/* Expands %p and %e of the pattern; -ENAMETOOLONG when it does not fit. */
static int expand_pattern(char *out, size_t size, const char *pat)
{
	char exe[1024], *base;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t len = 0;

	exe[n > 0 ? n : 0] = 0;
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	for (const char *p = pat; *p; p++) {
		char num[24];
		const char *ins = NULL;

		if (p[0] == '%' && p[1] == 'p') {
			ha__format(num, sizeof(num), "%d", (int)getpid());
			ins = num;
		} else if (p[0] == '%' && p[1] == 'e') {
			ins = *base ? base : "unknown";
		} else if (p[0] == '%' && p[1] == '%') {
			ins = "%";
		}
		if (ins) {
			size_t l = strlen(ins);
			if (len + l >= size)
				return -ENAMETOOLONG;
			memcpy(out + len, ins, l);
			len += l;
			p++;
		} else {
			if (len + 1 >= size)
				return -ENAMETOOLONG;
			out[len++] = *p;
		}
	}
	out[len] = 0;
	return 0;
}

/* Creates the file with O_EXCL; when the name is taken (a re-exec keeps the
 * pid), tries NAME-1.trace, NAME-2.trace, ... */
static int create_file(void)
{
	char name[sizeof(W.path)];
	int err = expand_pattern(name, sizeof(name), ha__opt.out);

	if (err) {
		ha__log("error", "cannot create the trace: HOTALLOC_OUT '%s' is too long; tracing is off",
			ha__opt.out);
		return err;
	}
	for (unsigned i = 0; i < 100; i++) {
		size_t len = strlen(name);

		if (i == 0) {
			memcpy(W.path, name, len + 1);
		} else if (len > 6 && !strcmp(name + len - 6, ".trace")) {
			ha__format(W.path, sizeof(W.path), "%s", name);
			ha__format(W.path + len - 6, sizeof(W.path) - len + 6, "-%u.trace", i);
		} else {
			ha__format(W.path, sizeof(W.path), "%s.%u", name, i);
		}
		W.fd = open(W.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (W.fd >= 0) {
			W.have_fd = true;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	err = errno;
	ha__log("error", "cannot create '%s': %s; tracing is off", W.path, strerrordesc_np(err));
	return -err;
}

/* ---- records ---- */

static void emit_info(const char *key, const char *val, size_t len)
{
	uint8_t *p;

	if (buf_reserve(&W.defs, 1 + 2 * HA_VARINT_MAX + strlen(key) + len) < 0)
		return;
	p = W.defs.p + W.defs.len;
	*p++ = HA_REC_INFO;
	p = put_str(p, key, strlen(key));
	p = put_str(p, val, len);
	W.defs.len = (size_t)(p - W.defs.p);
}

static void emit_module(void *ctx, const char *path, uint64_t bias, const uint8_t *id,
			unsigned idlen, const uint64_t *segs, unsigned nseg)
{
	size_t plen = strlen(path);
	struct module_ent *m;
	uint8_t *p;

	(void)ctx;
	for (unsigned i = 0; i < W.nmods; i++) {
		if (W.mods[i].bias == bias && !strcmp(W.mods[i].path, path)) {
			W.mods[i].seen = true;
			return;
		}
	}
	if (W.nmods == W.capmods) {
		unsigned cap = W.capmods ? 2 * W.capmods : 64;
		struct module_ent *n = ha__arena_alloc(cap * sizeof(*n));

		if (!n)
			return;
		if (W.nmods)
			memcpy(n, W.mods, W.nmods * sizeof(*n));
		ha__arena_free(W.mods);
		W.mods = n;
		W.capmods = cap;
	}
	m = &W.mods[W.nmods];
	m->path = ha__arena_alloc(plen + 1);
	if (!m->path || buf_reserve(&W.defs, 16 + 4 * HA_VARINT_MAX + plen + idlen + nseg * 3 * HA_VARINT_MAX) < 0)
		return;
	memcpy(m->path, path, plen + 1);
	m->bias = bias;
	m->id = ++W.next_mod;
	m->seen = true;
	W.nmods++;
	p = W.defs.p + W.defs.len;
	*p++ = HA_REC_MODULE;
	p = ha_put_varint(p, m->id);
	p = ha_put_varint(p, ha__now() - ha__start_ns);
	p = ha_put_varint(p, bias);
	p = put_str(p, path, plen);
	p = put_str(p, (const char *)id, idlen);
	p = ha_put_varint(p, nseg);
	for (unsigned i = 0; i < 3 * nseg; i++)
		p = ha_put_varint(p, segs[i]);
	W.defs.len = (size_t)(p - W.defs.p);
}

static void scan_modules(void)
{
	struct ha_module_cb cb = { emit_module, NULL };
	unsigned keep = 0;

	for (unsigned i = 0; i < W.nmods; i++)
		W.mods[i].seen = false;
	ha__modules_scan(&cb);
	for (unsigned i = 0; i < W.nmods; i++) {
		if (W.mods[i].seen) {
			W.mods[keep++] = W.mods[i];
			continue;
		}
		if (buf_reserve(&W.defs, 1 + 2 * HA_VARINT_MAX) == 0) {
			uint8_t *p = W.defs.p + W.defs.len;
			*p++ = HA_REC_UNLOAD;
			p = ha_put_varint(p, W.mods[i].id);
			p = ha_put_varint(p, ha__now() - ha__start_ns);
			W.defs.len = (size_t)(p - W.defs.p);
		}
		ha__arena_free(W.mods[i].path);
	}
	W.nmods = keep;
}

static uint32_t stack_id(const uint64_t *frames, unsigned n)
{
	struct stack_ent *e;
	uint8_t *p;

	if (!n)
		return 0;
	HASH_FIND(hh, W.stacks, frames, n * sizeof(uint64_t), e);
	if (e)
		return e->id;
	e = ha__arena_alloc(sizeof(*e) + n * sizeof(uint64_t));
	if (!e || buf_reserve(&W.defs, 1 + (2 + n) * HA_VARINT_MAX) < 0) {
		W.oom = 1;
		return 0;
	}
	e->id = ++W.next_stack;
	e->n = n;
	memcpy(e->frames, frames, n * sizeof(uint64_t));
	HASH_ADD_KEYPTR(hh, W.stacks, e->frames, n * sizeof(uint64_t), e);
	p = W.defs.p + W.defs.len;
	*p++ = HA_REC_STACK;
	p = ha_put_varint(p, e->id);
	p = ha_put_varint(p, n);
	p = ha_put_varint(p, frames[0]);
	for (unsigned i = 1; i < n; i++)
		p = ha_put_varint(p, ha_zigzag((int64_t)(frames[i] - frames[i - 1])));
	W.defs.len = (size_t)(p - W.defs.p);
	return e->id;
}

static void emit_varint_record(int type, uint64_t a, uint64_t b, uint64_t c, int nvals)
{
	uint8_t *p;

	if (buf_reserve(&W.events, 1 + 3 * HA_VARINT_MAX) < 0)
		return;
	p = W.events.p + W.events.len;
	*p++ = (uint8_t)type;
	p = ha_put_varint(p, a);
	if (nvals > 1)
		p = ha_put_varint(p, b);
	if (nvals > 2)
		p = ha_put_varint(p, c);
	W.events.len = (size_t)(p - W.events.p);
}

/* A batch's count is written last, as a varint padded to 5 bytes. */
static void put_count(uint8_t *at, uint32_t count)
{
	for (int i = 0; i < 4; i++)
		at[i] = (uint8_t)(((count >> (7 * i)) & 0x7f) | 0x80);
	at[4] = (uint8_t)(count >> 28);
}

/* Encodes the records in [tail, head) of one ring as batches. */
static int encode_ring(struct ha_ring *r, uint64_t tail, uint64_t head)
{
	uint64_t mask = r->size - 1, prev_ts = 0, bases[2] = { 0, 0 };
	size_t count_off = 0;
	bool in_batch = false;
	uint32_t count = 0, tid = 0;

	while (tail < head) {
		const struct ha_rec *rec = (const struct ha_rec *)(r->buf + (tail & mask));
		const uint64_t *frames = (const uint64_t *)(rec + 1);
		uint64_t ts, pre = 0, dts;
		uint32_t sid = 0;
		uint8_t kind;
		uint8_t *p;

		if (!rec->words || tail + rec->words * 8u > head)
			return -EPROTO;
		tail += rec->words * 8u;
		if (rec->kind == HA_RK_PAD)
			continue;
		kind = rec->kind & (uint8_t)~HA_RK_TOKEN;
		if (kind >= HA_EV_NKINDS)
			return -EPROTO;
		ts = rec->ts > ha__start_ns ? rec->ts - ha__start_ns : 0;
		if (kind == HA_EV_REALLOC || kind == HA_EV_REALLOCARRAY) {
			uint64_t t0 = frames[rec->nframes];
			pre = rec->ts > t0 ? rec->ts - t0 : 0;
		}
		if (rec->kind & HA_RK_TOKEN) {
			/* A stack the thread's stack cache named: its frames come
			 * once, then the token alone (the ring keeps the order). */
			uint64_t tok = ((const uint64_t *)rec)[rec->words - 1];

			if (!r->tokmap && (r->tokmap = ha__arena_alloc((HA_SCACHE_NODES + 1) * sizeof(uint32_t))))
				memset(r->tokmap, 0, (HA_SCACHE_NODES + 1) * sizeof(uint32_t));
			if (tok > HA_SCACHE_NODES || !r->tokmap)
				sid = stack_id(frames, rec->nframes);
			else if (rec->nframes)
				sid = r->tokmap[tok] = stack_id(frames, rec->nframes);
			else
				sid = r->tokmap[tok];
			if (sid > W.next_stack)
				sid = 0;
		} else if (kind != HA_EV_FREE && kind != HA_EV_MARK) {
			sid = stack_id(frames, rec->nframes);
		}
		if (buf_reserve(&W.events, 16 + HA_PACK_MAX + (kind == HA_EV_MARK ? rec->addr : 0)) < 0)
			return -ENOMEM;
		p = W.events.p + W.events.len;
		if (!in_batch || rec->tid != tid || count == 0xfffffff) {
			if (in_batch)
				put_count(W.events.p + count_off, count);
			in_batch = true;
			tid = rec->tid;
			*p++ = HA_REC_BATCH3;
			p = ha_put_varint(p, tid);
			p = ha_put_varint(p, ts);
			count_off = (size_t)(p - W.events.p);
			p += 5;
			count = 0;
			prev_ts = ts;
			bases[0] = bases[1] = 0;
		}
		count++;
		dts = ts >= prev_ts ? ts - prev_ts : 0;
		if (ts > prev_ts)
			prev_ts = ts;
		if (kind == HA_EV_MARK) {
			p = ha_put_packed(p, kind, dts, 0, 0, 0, 0);
			p = put_str(p, (const char *)rec + HA_REC_FREE_WORDS * 8, rec->addr);
			W.events.len = (size_t)(p - W.events.p);
			W.events_written++;
			continue;
		}
		/* Packed (format.h).  A free's record is shorter: it ends
		 * before a and b. */
		if (kind == HA_EV_FREE)
			p = ha_put_packed_event(p, kind, dts, rec->addr, bases, 0, 0, 0, 0);
		else
			p = ha_put_packed_event(p, kind, dts, rec->addr, bases, rec->b, sid, rec->a, pre);
		W.events.len = (size_t)(p - W.events.p);
		W.events_written++;
	}
	if (in_batch)
		put_count(W.events.p + count_off, count);
	return 0;
}

static void wait_inflight(struct ha_ring *r)
{
	uint64_t start = 0;

	for (unsigned spins = 0; atomic_load_explicit(&r->inflight, memory_order_acquire); spins++) {
		if (spins < 100)
			continue;
		if (!start)
			start = ha__now();
		else if (ha__now() - start > INFLIGHT_WAIT_NS)
			return;
		sched_yield();
	}
}

/* Drains every ring once.  Returns the number of bytes taken. */
static uint64_t drain_all(void)
{
	uint64_t w = ha__now(), total = 0, lost = 0, sync = w;
	uint32_t n = atomic_load(&ha__rings_used);

	for (uint32_t i = 0; i < n; i++) {
		struct ha_ring *r = &ha__rings[i];
		int st = atomic_load_explicit(&r->state, memory_order_acquire);
		uint64_t head, tail;

		if (st == HA_RING_FREE)
			continue;
		/* Decided before head is read: a thread the kernel no longer
		 * knows has pushed its last record.  Threads that said they are
		 * exiting are looked for at every drain; any other idle ring's
		 * owner every 20 ms, for threads whose first call came after
		 * their exit destructors (libc's own teardown). */
		head = atomic_load_explicit(&r->head, memory_order_acquire);
		tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		if (st == HA_RING_ACTIVE && head == tail &&
		    (atomic_load(&r->owner_exiting) || w - r->checked_ns > IDLE_CHECK_NS)) {
			r->checked_ns = w;
			if (syscall(SYS_tgkill, ha__pid, r->owner_tid, 0) < 0 && errno == ESRCH)
				st = HA_RING_RETIRED;
		}
		/* A realloc stamped before w whose record is not pushed yet
		 * holds the SYNC back (read before the in-flight wait). */
		uint64_t pre = atomic_load_explicit(&r->pending_pre, memory_order_acquire);

		if (pre && pre < sync)
			sync = pre;
		wait_inflight(r);
		head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (head != tail) {
			if (encode_ring(r, tail, head) < 0) {
				ha__fault("a ring holds a malformed record");
				return total;
			}
			total += head - tail;
			atomic_store_explicit(&r->tail, head, memory_order_release);
		}
		if (atomic_load_explicit(&r->stalled, memory_order_relaxed))
			atomic_store(&r->stalled, 0);
		if (r->lost > r->lost_seen) {
			lost += r->lost - r->lost_seen;
			r->lost_seen = r->lost;
		}
		if (st == HA_RING_RETIRED) {
			r->lost_seen = 0;
			ha__ring_recycle(r);
		}
	}
	lost += atomic_exchange(&ha__lost_ringless, 0);
	lost += atomic_exchange(&ha__sample_untracked, 0);
	if (lost)
		emit_varint_record(HA_REC_LOST, lost, 0, 0, 1);
	if (total)
		emit_varint_record(HA_REC_SYNC, sync > ha__start_ns ? sync - ha__start_ns : 0, 0, 0, 1);
	return total;
}

static void writer_sleep(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	uint32_t v = atomic_load(&kick_word);

	syscall(SYS_futex, &kick_word, FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0);
}

void ha__writer_kick(void)
{
	atomic_fetch_add(&kick_word, 1);
	syscall(SYS_futex, &kick_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void write_end(unsigned reason)
{
	uint8_t *p;

	if (buf_reserve(&W.events, 1 + 3 * HA_VARINT_MAX) < 0)
		return;
	p = W.events.p + W.events.len;
	*p++ = HA_REC_END;
	p = ha_put_varint(p, reason);
	p = ha_put_varint(p, ha__now() - ha__start_ns);
	p = ha_put_varint(p, W.events_written);
	W.events.len = (size_t)(p - W.events.p);
}

static void *writer_main(void *arg)
{
	(void)arg;
	ha__tls.busy = 2;	/* whatever this thread allocates is the tracer's own */
	for (;;) {
		uint64_t req = atomic_load(&sync_req), took, now;
		unsigned flags = atomic_exchange(&sync_flags, 0);
		int finishing = atomic_load(&finish_req);

		if (W.oom) {
			ha__fault("the writer ran out of memory");
			break;
		}
		if (atomic_load(&ha__state) != HA_ON)
			break;
		/* dl_iterate_phdr takes the loader's lock: asked for at most every
		 * 50 ms, or when dlclose wants the list while it is whole. */
		now = ha__now();
		if ((flags & SYNC_RESCAN) || now - W.gen_checked > GEN_CHECK_NS) {
			uint64_t gen = ha__modules_generation();

			W.gen_checked = now;
			if ((flags & SYNC_RESCAN) || gen != W.mod_gen) {
				W.mod_gen = gen;
				scan_modules();
			}
		}
		took = drain_all();
		now = ha__now();
		if (finishing) {
			write_end(atomic_load(&finish_reason));
			flush_chunk(false);
			break;
		}
		if (flags & SYNC_EXEC)
			write_end(HA_END_EXEC);
		if (req != atomic_load(&sync_done) || (flags & SYNC_EXEC)) {
			if (flush_chunk(false) < 0)
				break;
			atomic_store(&sync_done, req);
			continue;
		}
		if (W.defs.len + W.events.len >= CHUNK_TARGET ||
		    (now - W.last_flush >= (uint64_t)ha__opt.flush_ms * 1000000u * 9 / 10 &&
		     W.defs.len + W.events.len)) {
			if (flush_chunk(true) < 0)
				break;
		}
		/* Last, so that the sleep separates the switch from the next SYNC time. */
		ha__clock_calibrate();
		writer_sleep(took ? 1000000u : 10000000u);
	}
	atomic_store(&sync_done, atomic_load(&sync_req));
	atomic_store(&finish_done, 1);
	atomic_store(&ha__writer_running, 0);
	return NULL;
}

static void *zalloc(void *opaque, size_t size)
{
	(void)opaque;
	return ha__arena_alloc(size);
}

static void zfree(void *opaque, void *p)
{
	(void)opaque;
	ha__arena_free(p);
}

static void write_header(void)
{
	struct ha_file_header h;
	struct timespec rt;
	char buf[8192];
	ssize_t n;
	int fd;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, HA_FILE_MAGIC, 8);
	h.version = HA_FORMAT_VERSION;
	h.header_size = sizeof(h);
	h.pid = (uint32_t)getpid();
	h.ppid = (uint32_t)getppid();
	h.start_mono_ns = ha__start_ns;
	clock_gettime(CLOCK_REALTIME, &rt);
	h.start_real_ns = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
	h.flags = ha__forked ? HA_FILE_FORKED : 0;
	h.sample_bytes = ha__opt.sample;
	if (full_write(&h, sizeof(h)) < 0) {
		write_failed(errno);
		return;
	}
	W.good_size = sizeof(h);
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n > 0)
			emit_info("argv", buf, (size_t)n);
	}
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n > 0)
		emit_info("exe", buf, (size_t)n);
}

int ha__writer_start(void)
{
	sigset_t all, old;
	int expected = 0, err;

	if (atomic_load(&ha__writer_running))
		return 0;
	if (!atomic_compare_exchange_strong(&start_lock, &expected, 1)) {
		while (atomic_load(&start_lock) == 1)
			sched_yield();
		return atomic_load(&ha__writer_running) ? 0 : -EAGAIN;
	}
	if (atomic_load(&ha__writer_running) || atomic_load(&ha__state) != HA_ON) {
		atomic_store(&start_lock, 0);
		return atomic_load(&ha__writer_running) ? 0 : -ECANCELED;
	}
	err = create_file();
	if (err)
		goto out_stop;
	if (ha__opt.zstd_level > 0) {
		ZSTD_customMem mem = { zalloc, zfree, NULL };

		W.cctx = ZSTD_createCCtx_advanced(mem);
		if (W.cctx) {
			ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_compressionLevel, ha__opt.zstd_level);
			ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_checksumFlag, 1);
		}
	}
	write_header();
	ha__clock_start();
	W.mod_gen = ha__modules_generation();
	scan_modules();
	W.last_flush = ha__now();
	atomic_store(&ha__writer_running, 1);
	/* The writer must never run the program's signal handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&W.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		atomic_store(&ha__writer_running, 0);
		ha__log("error", "cannot start the writer thread: %s; tracing is off", strerrordesc_np(err));
		close(W.fd);
		W.have_fd = false;
		unlink(W.path);
		err = -err;
		goto out_stop;
	}
	pthread_detach(W.thread);
	atomic_store(&start_lock, 2);
	return 0;
out_stop:
	atomic_store(&ha__state, HA_STOPPED);
	atomic_store(&start_lock, 2);
	return err;
}

/* Waits until *word reaches target, the writer stops, or about two seconds pass. */
static void wait_until(_Atomic uint64_t *word, uint64_t target)
{
	struct timespec ts = { 0, 50000 };

	for (unsigned i = 0; i < 40000 && atomic_load(word) < target; i++) {
		if (!atomic_load(&ha__writer_running))
			return;
		ha__writer_kick();
		nanosleep(&ts, NULL);
	}
}

void ha__writer_sync(unsigned flags)
{
	uint64_t req;

	if (!atomic_load(&ha__writer_running))
		return;
	atomic_fetch_or(&sync_flags, flags);
	req = atomic_fetch_add(&sync_req, 1) + 1;
	wait_until(&sync_done, req);
}

void ha__writer_finish(unsigned reason)
{
	struct timespec ts = { 0, 50000 };

	if (!atomic_load(&ha__writer_running))
		return;
	atomic_store(&finish_reason, reason);
	atomic_store(&finish_req, 1);
	for (unsigned i = 0; i < 40000 && !atomic_load(&finish_done); i++) {
		if (!atomic_load(&ha__writer_running))
			break;
		ha__writer_kick();
		nanosleep(&ts, NULL);
	}
	/* Whatever comes after the END record is not traced. */
	atomic_store(&ha__state, HA_STOPPED);
}

void ha__writer_reset_child(void)
{
	/* The parent's trace descriptor is the parent's to write. */
	if (W.have_fd)
		close(W.fd);
	ha__arena_reset_child();
	memset(&W, 0, sizeof(W));
	W.fd = -1;
	atomic_store(&ha__writer_running, 0);
	atomic_store(&start_lock, 0);
	atomic_store(&sync_req, 0);
	atomic_store(&sync_done, 0);
	atomic_store(&sync_flags, 0);
	atomic_store(&finish_req, 0);
	atomic_store(&finish_done, 0);
	ha__start_ns = ha__now();
	ha__forked = 1;
}
