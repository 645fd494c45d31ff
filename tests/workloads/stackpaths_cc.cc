// SPDX-License-Identifier: MIT
// stackpaths_cc: C++ exceptions thrown through frames that allocate, for
// tests/stackcache.sh (the C scenarios are in stackpaths.c).  Not a benchmark.
//
// Usage: stackpaths_cc exceptions|threads
//   exceptions  one thread; threads: 3 threads doing the same at the same time
//
// A dive goes 5 frames deep through dive0 and dive1 (bit l of a 5-bit pattern picks
// the function at level l); every level holds a Guard over a block from grab (a size
// naming the level and the bits so far), and the deepest frame, bottom, holds one
// more.  A throwing dive (throw_dive) throws Boom from bottom and catches it at the
// top: on the way out, each Guard's destructor allocates and frees a block 512 bytes
// bigger than its own (unwinding_alloc), so allocations happen while frames are being
// unwound.  Each throwing dive is followed by a dive on another pattern that returns
// (calm_dive), at the same depth.  Rounds r = 0..7; in each, every pattern p (one
// order, then the other) with r <= p % 8 dives with a throw, then 31 - p dives without.
//
// Output, written with write(2) at the end as in stackpaths.c: one line per site,
// "expect main SIZE COUNT CHAIN".  The exception object is __cxa_allocate_exception's
// malloc of sizeof(Boom) + 128 bytes (GCC's libstdc++ header, see exceptions.cc), one
// site per pattern.  Frames of operator new and of the C++ runtime are not in CHAIN.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <pthread.h>

#include "workload.h"

#define PROG "stackpaths_cc"
#define NOIPA __attribute__((noipa))

static const unsigned kThreads = 3;
static const unsigned kLevels = 5;
static const unsigned kPats = 1u << kLevels;
static const size_t kThrowBase = 25000;	// throwing dives
static const size_t kCalmBase = 26000;	// dives that return
static const size_t kUnwindExtra = 512;	// unwinding_alloc: the guard's size + this
static const size_t kExceptionHeader = 128;

struct Boom {
	long code;
	long detail[3];
};

static volatile long g_sink;

// ---- the expectations, as in stackpaths.c ----

static char g_out[1u << 20];
static size_t g_out_len;
static char g_chain[4096];
static size_t g_chain_len;
static unsigned g_mult = 1;
static thread_local int t_reg = 1;
static thread_local const char *t_root = "main";

static void out_str(char *buf, size_t *len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n >= cap)
		wl_fail(PROG, "expectation buffer full", __LINE__);
	memcpy(buf + *len, s, n);
	*len += n;
}

static void chain_start()
{
	if (!t_reg)
		return;
	g_chain_len = 0;
}

static void chain_add(const char *name)
{
	if (!t_reg)
		return;
	if (g_chain_len)
		out_str(g_chain, &g_chain_len, sizeof(g_chain), ",");
	out_str(g_chain, &g_chain_len, sizeof(g_chain), name);
}

static void expect(size_t size, uint64_t count)
{
	const size_t cap = sizeof(g_out);
	char num[21];

	if (!t_reg)
		return;
	g_chain[g_chain_len] = '\0';
	out_str(g_out, &g_out_len, cap, "expect main ");
	out_str(g_out, &g_out_len, cap, wl_utoa(size, num));
	out_str(g_out, &g_out_len, cap, " ");
	out_str(g_out, &g_out_len, cap, wl_utoa(count * g_mult, num));
	out_str(g_out, &g_out_len, cap, " ");
	out_str(g_out, &g_out_len, cap, g_chain);
	out_str(g_out, &g_out_len, cap, "\n");
}

// ---- the dives ----

NOIPA static void *grab(size_t size)
{
	return wl_sink(::operator new(size));
}

NOIPA static void unwinding_alloc(size_t size)
{
	::operator delete(wl_sink(::operator new(size)));
}

struct Guard {
	void *p;
	size_t size;
	NOIPA ~Guard();
};

Guard::~Guard()
{
	if (std::uncaught_exceptions() > 0)
		unwinding_alloc(size + kUnwindExtra);
	::operator delete(p);
}

// The size of the block at level (kLevels: bottom's) for the bits so far.
static size_t level_size(size_t base, unsigned bits, unsigned level)
{
	unsigned mask = level < kLevels ? (2u << level) - 1 : kPats - 1;

	return base + level * 32 + (bits & mask);
}

NOIPA static long bottom(unsigned bits, size_t base, bool boom)
{
	size_t size = level_size(base, bits, kLevels);
	Guard g{grab(size), size};

	if (boom)
		throw Boom{static_cast<long>(bits), {1, 2, 3}};
	return static_cast<long>(size);
}

NOIPA static long dive1(unsigned bits, unsigned level, size_t base, bool boom);

NOIPA static long dive0(unsigned bits, unsigned level, size_t base, bool boom)
{
	size_t size = level_size(base, bits, level);
	Guard g{grab(size), size};
	long r;

	if (level + 1 == kLevels)
		r = bottom(bits, base, boom);
	else if ((bits >> (level + 1)) & 1)
		r = dive1(bits, level + 1, base, boom);
	else
		r = dive0(bits, level + 1, base, boom);
	return r + 1;
}

NOIPA static long dive1(unsigned bits, unsigned level, size_t base, bool boom)
{
	size_t size = level_size(base, bits, level);
	Guard g{grab(size), size};
	long r;

	if (level + 1 == kLevels)
		r = bottom(bits, base, boom);
	else if ((bits >> (level + 1)) & 1)
		r = dive1(bits, level + 1, base, boom);
	else
		r = dive0(bits, level + 1, base, boom);
	return r + 2;
}

NOIPA static void throw_dive(unsigned bits)
{
	try {
		g_sink += bits & 1 ? dive1(bits, 0, kThrowBase, true) : dive0(bits, 0, kThrowBase, true);
		wl_fail(PROG, "the dive did not throw", __LINE__);
	} catch (const Boom &b) {
		WL_CHECK(PROG, b.code == static_cast<long>(bits));
	}
	g_sink++;
}

NOIPA static void calm_dive(unsigned bits)
{
	g_sink += bits & 1 ? dive1(bits, 0, kCalmBase, false) : dive0(bits, 0, kCalmBase, false);
	g_sink++;
}

// The chain from `inner` (the innermost of this file's frames, then the frame that
// called it) through the dives of bits down to level, out to the root.
static void dive_chain(const char *inner, const char *inner2, unsigned bits, unsigned level,
		       const char *dive)
{
	chain_start();
	chain_add(inner);
	if (inner2)
		chain_add(inner2);
	if (level == kLevels) {
		chain_add("bottom");
		level = kLevels - 1;
	}
	for (int l = static_cast<int>(level); l >= 0; l--)
		chain_add((bits >> l) & 1 ? "dive1" : "dive0");
	chain_add(dive);
	chain_add("run_exceptions");
	chain_add(t_root);
}

// Pattern p dives with a throw J(p) = 1 + p % 8 times and without C(p) = 1 + (31 - p) % 8
// times; the block at level l is one site for the patterns that share bits 0..l.
NOIPA static void run_exceptions()
{
	for (unsigned level = 0; level <= kLevels; level++) {
		unsigned mask = level < kLevels ? (2u << level) - 1 : kPats - 1;

		for (unsigned pre = 0; pre <= mask; pre++) {
			uint64_t jumps = 0, calms = 0;

			for (unsigned p = 0; p < kPats; p++) {
				if ((p & mask) != pre)
					continue;
				jumps += 1 + p % 8;
				calms += 1 + (kPats - 1 - p) % 8;
			}
			dive_chain("grab", nullptr, pre, level, "throw_dive");
			expect(level_size(kThrowBase, pre, level), jumps);
			dive_chain("unwinding_alloc", "Guard::~Guard", pre, level, "throw_dive");
			expect(level_size(kThrowBase, pre, level) + kUnwindExtra, jumps);
			dive_chain("grab", nullptr, pre, level, "calm_dive");
			expect(level_size(kCalmBase, pre, level), calms);
		}
	}
	for (unsigned p = 0; p < kPats; p++) {
		chain_start();
		chain_add("bottom");
		for (int l = kLevels - 1; l >= 0; l--)
			chain_add((p >> l) & 1 ? "dive1" : "dive0");
		chain_add("throw_dive");
		chain_add("run_exceptions");
		chain_add(t_root);
		expect(sizeof(Boom) + kExceptionHeader, 1 + p % 8);
	}
	for (unsigned r = 0; r < 8; r++) {
		for (unsigned i = 0; i < kPats; i++) {
			unsigned p = r % 2 ? kPats - 1 - i : i;

			if (r > p % 8)
				continue;
			throw_dive(p);
			calm_dive(kPats - 1 - p);
		}
	}
	g_sink++;
}

static pthread_barrier_t g_barrier;

NOIPA static void *thread_main(void *arg)
{
	t_reg = arg == nullptr;
	t_root = "thread_main";
	pthread_barrier_wait(&g_barrier);
	run_exceptions();
	return nullptr;
}

int main(int argc, char **argv)
{
	const char *s = argc == 2 ? argv[1] : "";

	if (!strcmp(s, "exceptions")) {
		run_exceptions();
	} else if (!strcmp(s, "threads")) {
		pthread_t tids[kThreads];

		g_mult = kThreads;
		WL_CHECK(PROG, pthread_barrier_init(&g_barrier, nullptr, kThreads) == 0);
		for (unsigned i = 0; i < kThreads; i++)
			WL_CHECK(PROG, pthread_create(&tids[i], nullptr, thread_main,
						      reinterpret_cast<void *>(static_cast<uintptr_t>(i))) == 0);
		for (unsigned i = 0; i < kThreads; i++)
			WL_CHECK(PROG, pthread_join(tids[i], nullptr) == 0);
	} else {
		wl_puts(2, "usage: stackpaths_cc exceptions|threads\n");
		return 2;
	}
	for (size_t done = 0; done < g_out_len;) {
		ssize_t n = write(1, g_out + done, g_out_len - done);

		if (n <= 0)
			wl_fail(PROG, "cannot write the expectations", __LINE__);
		done += static_cast<size_t>(n);
	}
	return 0;
}
