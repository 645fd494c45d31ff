/* SPDX-License-Identifier: MIT */
/* The one clock of every timestamp (ha__now): CLOCK_MONOTONIC at first, then,
 * on x86-64 with an invariant TSC that the kernel itself uses as its
 * clocksource, the TSC read directly and converted to CLOCK_MONOTONIC
 * nanoseconds, once the writer has calibrated it, 10 to 20 ms after start.
 * The conversion is published once and never changed: a later, finer one
 * could move stamps backwards or reorder them against the writer's SYNC
 * times.  Should the kernel give up the TSC during the run (its watchdog
 * finds it unstable), the stamps stay on it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include "internal.h"

#define CAL_NS 10000000ull	/* the calibration's two samples are at least this far apart */
#define CAL_READS 8		/* each sample: the tightest of this many bracketed reads */
#define CAL_MAX_PPM 20		/* a rate less sure than this waits for better samples */
#define CONV_SHIFT 32

/* The TSC-to-nanoseconds conversion: written by the writer before ready
 * is released, read-only after.  A line of its own, read by every stamp. */
static struct {
	_Atomic int ready;
	uint32_t khz;			/* the TSC's measured rate, for messages */
	uint64_t tsc0, ns0;		/* a TSC read and CLOCK_MONOTONIC at that read */
	uint64_t mult;			/* ns per tick, times 2^CONV_SHIFT */
} __attribute__((aligned(HA_CACHELINE))) conv;

/* A (tsc, ns) pair: ns is a CLOCK_MONOTONIC read bracketed by two ordered
 * TSC reads, tsc the first of them and gap the ticks between them. */
struct sample {
	uint64_t tsc, ns, gap;
};

/* The writer's calibration state (a fork child inherits it, and goes on). */
static struct {
	bool eligible;		/* the checks passed: calibrating */
	struct sample first;
	const char *why;	/* why the TSC is not used, for HOTALLOC_DEBUG_CLOCK */
	uint64_t switched_ns;	/* when the TSC took over, relative to ha__start_ns */
	uint32_t ppm;		/* the bound of the measured rate's error */
} cal = { .why = "not calibrated yet" };

static uint64_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)

/* The stamp's TSC read.  It must not happen before the loads that precede
 * it: a free of a block another thread allocated is stamped after the load
 * that found the pointer, an allocation after the allocator's loads that
 * found a block another thread freed, and each stamp must be later than the
 * one the other thread took before its store.  A plain rdtsc may execute
 * ahead of those loads: tests/unit/clock_stress.c catches it on these
 * machines, with stamps up to 80 ns below the stamp they followed.  rdtscp
 * waits until every earlier instruction has executed and every earlier load
 * is globally visible (lfence; rdtsc too, at about the same cost here; the
 * kernel's own ordered read prefers rdtscp where it exists).  Later
 * instructions may run ahead of it, which is harmless: the stores that must
 * follow a stamp (the real free's, the ring's) become visible only after it
 * retires.  So a thread's successive stamps never go backwards either.
 * What it does not order is a store before it against another thread's load
 * after that thread's stamp: the in-flight flag against the writer's SYNC
 * time (writer.c).  That window is the store buffer's, nanoseconds, the
 * same as with clock_gettime, and the analyzer's 2 ms of slack (events
 * stamped in the last 2 ms before a SYNC wait for the next) covers it.
 * Cost on these virtual machines, in a loop with work between reads:
 * 24 to 33 ns a stamp, against 31 to 41 for clock_gettime, whose vDSO takes
 * an ordered read too (the saving is its call and its sequence lock), and
 * 15 to 19 for a plain rdtsc. */
static inline uint64_t rdtsc_stamp(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi) : : "rcx", "memory");
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t tsc_now(void)
{
	int64_t d = (int64_t)(rdtsc_stamp() - conv.tsc0);

	/* A read a few ticks below tsc0 (the switch, seen from a CPU whose
	 * TSC is a hair behind the writer's) is tsc0, not 2^64 ticks on. */
	d &= ~(d >> 63);
	return conv.ns0 + (uint64_t)(((unsigned __int128)(uint64_t)d * conv.mult) >> CONV_SHIFT);
}

/* Before the switch.  A thread held up (preempted) between its look at
 * ready and its clock_gettime while the TSC took over would return a
 * CLOCK_MONOTONIC time later than TSC stamps taken meanwhile, which may
 * have drifted a few ppm behind CLOCK_MONOTONIC, and its next stamp could
 * be smaller: so ready is looked at again after the read. */
static inline uint64_t mono_now(void)
{
	uint64_t t = now_mono();

	if (ha_unlikely(atomic_load_explicit(&conv.ready, memory_order_acquire)))
		return tsc_now();
	return t;
}

uint64_t ha__now(void)
{
	if (ha_likely(atomic_load_explicit(&conv.ready, memory_order_acquire)))
		return tsc_now();
	return mono_now();
}

/* Fully ordered: not before earlier instructions, not after later ones.  For
 * the calibration, whose reads must bracket the vDSO's own (ordered) read. */
static inline uint64_t rdtsc_fenced(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

static struct sample take_sample(void)
{
	struct sample best = { 0, 0, UINT64_MAX };

	for (int i = 0; i < CAL_READS; i++) {
		uint64_t a = rdtsc_fenced(), ns = now_mono(), b = rdtsc_fenced();

		if (b - a < best.gap)
			best = (struct sample){ a, ns, b - a };
	}
	return best;
}

/* An invariant TSC (CPUID 0x80000007 EDX bit 8: one rate in every P-, C-
 * and T-state) and rdtscp (0x80000001 EDX bit 27). */
static bool cpu_has_tsc(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return false;
	__cpuid(0x80000001, a, b, c, d);
	if (!(d & (1u << 27)))
		return false;
	__cpuid(0x80000007, a, b, c, d);
	return d & (1u << 8);
}

/* The kernel's clocksource is the TSC: it found the TSCs of all CPUs in step
 * and keeps watching them, and CLOCK_MONOTONIC is itself a scaled TSC read.
 * Raw open and read: no stdio, no allocation. */
static bool kernel_uses_tsc(void)
{
	char buf[32];
	ssize_t n;
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n == 4 && !memcmp(buf, "tsc\n", 4);
}

void ha__clock_start(void)
{
	int tsc_mode = 0;

	if (atomic_load_explicit(&conv.ready, memory_order_acquire) || cal.eligible)
		return;	/* a fork child keeps its parent's clock, or its calibration */
	if (!ha__opt.clock_tsc) {
		cal.why = "HOTALLOC_CLOCK=monotonic";
	} else if (!cpu_has_tsc()) {
		cal.why = "no invariant TSC or no rdtscp";
	} else if (!kernel_uses_tsc()) {
		cal.why = "the kernel's clocksource is not tsc";
	} else if (prctl(PR_GET_TSC, &tsc_mode, 0, 0, 0) < 0 || tsc_mode != PR_TSC_ENABLE) {
		/* The program made rdtsc fault (PR_TSC_SIGSEGV, as rr does). */
		cal.why = "rdtsc is disabled in this process";
	} else {
		cal.first = take_sample();
		cal.eligible = true;
	}
}

void ha__clock_calibrate(void)
{
	struct sample s;
	unsigned __int128 mult;
	uint64_t dns, dtsc;

	if (!cal.eligible || atomic_load_explicit(&conv.ready, memory_order_relaxed))
		return;
	if (now_mono() - cal.first.ns < CAL_NS)
		return;
	s = take_sample();
	/* The rate, from the middles of the two brackets: off by at most
	 * (gap1 + gap2) / 2 ticks over at least 10 ms, a few ppm. */
	dns = s.ns - cal.first.ns;
	dtsc = (s.tsc + s.gap / 2) - (cal.first.tsc + cal.first.gap / 2);
	if ((int64_t)dtsc <= 0 || dns == 0) {
		cal.eligible = false;
		cal.why = "the TSC did not advance";
		return;
	}
	if ((unsigned __int128)(s.gap + cal.first.gap) * 500000u > (unsigned __int128)dtsc * CAL_MAX_PPM) {
		/* A read was preempted or cut by a hypervisor exit: try again
		 * next round (the span grows), from the tighter sample. */
		if (s.gap < cal.first.gap)
			cal.first = s;
		return;
	}
	mult = ((unsigned __int128)dns << CONV_SHIFT) / dtsc;
	/* 10 MHz to 100 GHz; anything else is not a clock to trust. */
	if (mult > ((unsigned __int128)100 << CONV_SHIFT) || mult < (1ull << CONV_SHIFT) / 100) {
		cal.eligible = false;
		cal.why = "the TSC's rate is implausible";
		return;
	}
	/* The anchor is the later sample: (tsc0, ns0) = (a, ns), where the
	 * vDSO read the TSC at some r, a <= r <= a + gap, and returned ns =
	 * mono(r).  The converted clock at r is ns0 + (r - a) * rate >= ns =
	 * mono(r): from the switch on it is at or ahead of CLOCK_MONOTONIC, by
	 * at most the bracket (tens of ns), and the rate's error moves that by
	 * a few ppm of the time since.  So a TSC stamp is never earlier than a
	 * clock_gettime stamp taken before it, on its thread or on another
	 * whose store it saw (a freed block handed out again).  The other way
	 * round cannot happen: a thread that saw the store of a thread which
	 * read ready as set reads it as set too (release and acquire on ready),
	 * and mono_now covers a thread preempted across the switch.  Every
	 * thread, the writer's SYNC times included, uses this one conversion. */
	conv.tsc0 = s.tsc;
	conv.ns0 = s.ns;
	conv.mult = (uint64_t)mult;
	conv.khz = (uint32_t)(((unsigned __int128)dtsc * 1000000u) / dns);
	cal.ppm = (uint32_t)(((s.gap + cal.first.gap) * 500000u + dtsc - 1) / dtsc);
	cal.switched_ns = s.ns > ha__start_ns ? s.ns - ha__start_ns : 0;
	atomic_store_explicit(&conv.ready, 1, memory_order_release);
}

#else

uint64_t ha__now(void)
{
	return now_mono();
}

void ha__clock_start(void)
{
	cal.why = "not x86-64";
}

void ha__clock_calibrate(void)
{
}

#endif

bool ha__clock_is_tsc(void)
{
	return atomic_load_explicit(&conv.ready, memory_order_acquire);
}

void ha__clock_report(void)
{
	if (ha__clock_is_tsc())
		ha__log("debug", "clock: tsc at %u kHz (rate within %u ppm) from %llu ms", conv.khz,
			cal.ppm, (unsigned long long)(cal.switched_ns / 1000000u));
	else
		ha__log("debug", "clock: monotonic (%s)", cal.why);
}
