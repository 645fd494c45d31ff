/* SPDX-License-Identifier: MIT */
/* Stress test of preload/clock.c, the tracer's timestamps.  Threads pass a
 * token around, each stamping it with ha__now() after it has seen the
 * previous holder's stamp (the order a block freed by one thread and handed
 * out to another must keep), while the clock switches from CLOCK_MONOTONIC to
 * the TSC under them.  Checks that no stamp is below the stamp it followed,
 * on its thread or through the token; that the converted clock stays within
 * a few microseconds of CLOCK_MONOTONIC; and times a call of each clock.
 * Not a benchmark, though it prints figures.
 * Usage: clock_stress [threads=2] [handoffs=400000] [monotonic]
 * The switch comes after half the handoffs, and at least as many again
 * follow it.  monotonic: as HOTALLOC_CLOCK=monotonic, no switch. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../../preload/internal.h"

/* What clock.c needs from the rest of the library. */
struct ha_options ha__opt;
uint64_t ha__start_ns;
void ha__log(const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# %s: ", level);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static unsigned nthreads = 2, handoffs = 400000;
static unsigned long pass, failures;

/* CHECK(cond, name, fmt, ...): prints "ok name" or "FAIL name: message". */
#define CHECK(cond, name, ...) do { \
	if (cond) { \
		pass++; \
		printf("ok %s\n", name); \
	} else { \
		failures++; \
		printf("FAIL %s: ", name); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} \
} while (0)

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the token ---- */

static struct {
	_Atomic uint64_t turn;		/* handoffs done; thread turn % nthreads holds it */
	_Atomic int stop;		/* set by main: the threads return */
	_Atomic uint64_t stamp;		/* the holder's stamp */
} __attribute__((aligned(64))) token;

struct worker {
	unsigned id;
	uint64_t back_thread, back_token;	/* stamps below the thread's last, the token's */
	uint64_t worst;				/* the largest step back, ns */
	pthread_t thread;
} __attribute__((aligned(64)));

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t last = 0;

	for (;;) {
		uint64_t turn, seen, t;
		unsigned spins = 0;

		while ((turn = atomic_load_explicit(&token.turn, memory_order_acquire)) % nthreads != w->id &&
		       !atomic_load_explicit(&token.stop, memory_order_relaxed))
			if (++spins % 64 == 0)
				sched_yield();
		if (atomic_load_explicit(&token.stop, memory_order_relaxed))
			return NULL;
		seen = atomic_load_explicit(&token.stamp, memory_order_relaxed);
		t = ha__now();
		if (t < last) {
			w->back_thread++;
			w->worst = last - t > w->worst ? last - t : w->worst;
		}
		if (t < seen) {
			w->back_token++;
			w->worst = seen - t > w->worst ? seen - t : w->worst;
		}
		last = t;
		atomic_store_explicit(&token.stamp, t, memory_order_relaxed);
		atomic_store_explicit(&token.turn, turn + 1, memory_order_release);
	}
}

/* ---- timing ---- */

static volatile uint64_t sink;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median over 7 runs of the ns per call of f. */
static double per_call(uint64_t (*f)(void))
{
	enum { CALLS = 2000000, RUNS = 7 };
	double runs[RUNS];

	for (int r = 0; r < RUNS; r++) {
		uint64_t t0 = mono(), s = 0;

		for (int i = 0; i < CALLS; i++)
			s += f();
		sink = s;
		runs[r] = (double)(mono() - t0) / CALLS;
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
	return runs[RUNS / 2];
}

/* ha__now() minus CLOCK_MONOTONIC, from the tightest of 8 bracketed reads. */
static int64_t offset(void)
{
	uint64_t best = UINT64_MAX;
	int64_t off = 0;

	for (int i = 0; i < 8; i++) {
		uint64_t a = mono(), t = ha__now(), b = mono();

		if (b - a < best) {
			best = b - a;
			off = (int64_t)t - (int64_t)(a + (b - a) / 2);
		}
	}
	return off;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct worker *w;
	uint64_t switched_at = 0, worst_at = 0, t0;
	int64_t worst_off = 0;
	double t_mono, t_before, t_after;

	if (argc > 1)
		nthreads = (unsigned)atoi(argv[1]);
	if (argc > 2)
		handoffs = (unsigned)atoi(argv[2]);
	if (nthreads < 1 || nthreads > 64 || handoffs < 2) {
		fprintf(stderr, "usage: clock_stress [threads 1..64] [handoffs 2..] [monotonic]\n");
		return 2;
	}
	ha__opt.clock_tsc = !(argc > 3 && !strcmp(argv[3], "monotonic"));

	t_mono = per_call(mono);
	t_before = per_call(ha__now);

	/* The threads start on CLOCK_MONOTONIC; the switch comes under them,
	 * after half the handoffs (this thread plays the writer), and they go
	 * on for at least as many again, for at most 2 s without a switch. */
	w = calloc(nthreads, sizeof(*w));
	ha__start_ns = t0 = mono();
	ha__clock_start();
	for (unsigned i = 0; i < nthreads; i++) {
		w[i].id = i;
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	for (uint64_t turn, waited = 0;; sleep_ms(1)) {
		turn = atomic_load(&token.turn);
		if (turn >= handoffs / 2 && !switched_at) {
			ha__clock_calibrate();
			if (ha__clock_is_tsc())
				switched_at = atomic_load(&token.turn);
			else
				waited++;
		}
		turn = atomic_load(&token.turn);
		if (turn >= handoffs && (!switched_at || turn - switched_at >= handoffs / 2) &&
		    (switched_at || !ha__opt.clock_tsc || waited > 2000))
			break;
	}
	atomic_store(&token.stop, 1);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(w[i].thread, NULL);
	ha__clock_report();
	printf("# %u threads, %llu handoffs in %llu ms; the TSC took over at handoff %llu\n", nthreads,
	       (unsigned long long)atomic_load(&token.turn), (unsigned long long)((mono() - t0) / 1000000u),
	       (unsigned long long)switched_at);

	for (unsigned i = 0; i < nthreads; i++) {
		char name[64];

		snprintf(name, sizeof(name), "thread %u: in order", i);
		CHECK(!w[i].back_thread, name, "%llu stamps below the thread's previous one (worst by %llu ns)",
		      (unsigned long long)w[i].back_thread, (unsigned long long)w[i].worst);
		snprintf(name, sizeof(name), "thread %u: after the token", i);
		CHECK(!w[i].back_token, name, "%llu stamps below the token's (worst by %llu ns)",
		      (unsigned long long)w[i].back_token, (unsigned long long)w[i].worst);
	}
	if (!ha__opt.clock_tsc)
		CHECK(!ha__clock_is_tsc(), "monotonic", "monotonic was asked for, the TSC is used");
	else if (ha__clock_is_tsc())
		CHECK(switched_at > 0, "switch during the handoffs", "the switch came after the handoffs");
	else
		printf("# this machine keeps CLOCK_MONOTONIC: the switch was not tested\n");

	/* The converted clock against CLOCK_MONOTONIC over 300 ms: ahead by at
	 * most the calibration's bracket at the switch, then off by the rate's
	 * error (a few ppm of the time since).  5 us is generous. */
	for (int i = 0; i < 4; i++) {
		int64_t off = offset();
		uint64_t since = (mono() - t0) / 1000000u;

		printf("# %llu ms: the clock is %lld ns off CLOCK_MONOTONIC\n", (unsigned long long)since,
		       (long long)off);
		if (off < 0 ? -off > worst_off : off > worst_off) {
			worst_off = off < 0 ? -off : off;
			worst_at = since;
		}
		sleep_ms(100);
	}
	CHECK(worst_off < 5000, "within 5 us of CLOCK_MONOTONIC",
	      "the clock is %lld ns off CLOCK_MONOTONIC after %llu ms", (long long)worst_off,
	      (unsigned long long)worst_at);

	t_after = per_call(ha__now);
	printf("# ns per call, median of 7 runs: clock_gettime %.1f; ha__now on CLOCK_MONOTONIC %.1f, on %s %.1f\n",
	       t_mono, t_before, ha__clock_is_tsc() ? "the TSC" : "CLOCK_MONOTONIC", t_after);
	printf("%lu passed, %lu failed\n", pass, failures);
	return failures ? 1 : 0;
}
