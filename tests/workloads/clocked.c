/* SPDX-License-Identifier: MIT */
/* clocked: blocks held for known times, and blocks freed by another thread, for about a
 * second, so that the tracer's switch from CLOCK_MONOTONIC to the TSC (10 to 20 ms after
 * start) falls inside both; then a fork child that holds blocks on the clock it inherits.
 *
 * Usage: clocked [rounds R=25] [handoffs N=100000]   (a test workload, not a benchmark)
 *
 * The main thread, R times: a = malloc(96) in hold_short, b = malloc(160) in hold_long;
 * sleeps 10 ms; frees a; sleeps 20 ms; frees b.  Meanwhile two threads each malloc N
 * blocks (32 and 40 bytes) and hand them to the other, which frees them
 * (tests/workloads/handoff.h): 2N cross-thread frees.  Then the process forks; the
 * child does malloc(64) in hold_child, sleeps 5 ms and frees it, 5 times, and exits.
 * Nothing leaks.  What the program itself allocates, besides glibc's own blocks for
 * its two threads, is
 *   R blocks of 96 bytes and R of 160 (hold_short, hold_long), 2N handed over,
 *   and in the child 5 blocks of 64 (hold_child).
 * Each block the main thread or the child holds is timed by the program itself with
 * CLOCK_MONOTONIC twice: from just after malloc returned to just before free was
 * called (inner), and from just before malloc was called to just after free returned
 * (outer).  The tracer stamps an allocation inside malloc's call and a free inside
 * free's, so a traced lifetime lies between the two whatever the scheduler does.  On
 * stdout, one line per site (the longest inner and outer times of its blocks), then
 * the main thread's own running time:
 *   hold_short count=R max=NS outer=NS
 *   hold_long count=R max=NS outer=NS
 *   hold_child count=5 max=NS outer=NS     (written by the child)
 *   run ns=NS                              (from main's start to its return) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "handoff.h"
#include "workload.h"

#define PROG "clocked"

static struct ring rings[2];
static uint64_t handoffs;
static atomic_uint ready;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

struct timing {
	const char *name;
	uint64_t count, max, outer;
};

/* A block's life: allocated between t[0] and t[1], freed between t[2] and t[3]. */
static void timed(struct timing *tm, const uint64_t t[4])
{
	if (t[2] - t[1] > tm->max)
		tm->max = t[2] - t[1];
	if (t[3] - t[0] > tm->outer)
		tm->outer = t[3] - t[0];
	tm->count++;
}

static void print_timing(const struct timing *t)
{
	char num[21];

	wl_puts(1, t->name);
	wl_puts(1, " count=");
	wl_puts(1, wl_utoa(t->count, num));
	wl_puts(1, " max=");
	wl_puts(1, wl_utoa(t->max, num));
	wl_puts(1, " outer=");
	wl_puts(1, wl_utoa(t->outer, num));
	wl_puts(1, "\n");
}

/* Each allocating function is its own site. */
__attribute__((noinline)) static void *hold_short(void)
{
	return wl_sink(malloc(96));
}

__attribute__((noinline)) static void *hold_long(void)
{
	return wl_sink(malloc(160));
}

__attribute__((noinline)) static void *hold_child(void)
{
	return wl_sink(malloc(64));
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	size_t size = 32 + 8 * (size_t)t;
	struct ring *out = &rings[t], *in = &rings[1 - t];
	unsigned char *pending = NULL, *p;
	uint64_t made = 0, freed = 0;

	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < 2)
		sched_yield();
	/* Not done while a block is still pending (the other thread waits for it). */
	while (made < handoffs || freed < handoffs || pending) {
		int progress = 0;

		if (!pending && made < handoffs) {
			pending = wl_sink(malloc(size));
			WL_CHECK(PROG, pending);
			pending[0] = (unsigned char)t;
			made++;
		}
		if (pending && ring_push(out, pending)) {
			pending = NULL;
			progress = 1;
		}
		while ((p = ring_pop(in)) != NULL) {
			WL_CHECK(PROG, p[0] == (unsigned char)(1 - t));
			free(wl_sink(p));
			freed++;
			progress = 1;
		}
		if (!progress)
			sched_yield();
	}
	return NULL;
}

static void child(void)
{
	struct timing tc = { "hold_child", 0, 0, 0 };

	for (int i = 0; i < 5; i++) {
		uint64_t t[4];
		unsigned char *c;

		t[0] = now_ns();
		c = hold_child();
		t[1] = now_ns();
		WL_CHECK(PROG, c);
		sleep_ms(5);
		c[0] = 1;
		t[2] = now_ns();
		free(c);
		t[3] = now_ns();
		timed(&tc, t);
	}
	print_timing(&tc);
	exit(0);
}

int main(int argc, char **argv)
{
	uint64_t start = now_ns(), rounds = wl_arg(argc, argv, 1, 25);
	struct timing ts = { "hold_short", 0, 0, 0 }, tl = { "hold_long", 0, 0, 0 };
	pthread_t tid[2];
	char num[21];
	int status;
	pid_t pid;

	handoffs = wl_arg(argc, argv, 2, 100000);
	for (unsigned t = 0; t < 2; t++)
		WL_CHECK(PROG, pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)t) == 0);
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t ta[4], tb[4];
		unsigned char *a, *b;

		ta[0] = now_ns();
		a = hold_short();
		ta[1] = tb[0] = now_ns();
		b = hold_long();
		tb[1] = now_ns();
		WL_CHECK(PROG, a && b);
		sleep_ms(10);
		a[0] = 1;
		ta[2] = now_ns();
		free(a);
		ta[3] = now_ns();
		sleep_ms(20);
		b[0] = 1;
		tb[2] = now_ns();
		free(b);
		tb[3] = now_ns();
		timed(&ts, ta);
		timed(&tl, tb);
	}
	for (unsigned t = 0; t < 2; t++)
		WL_CHECK(PROG, pthread_join(tid[t], NULL) == 0);
	print_timing(&ts);
	print_timing(&tl);
	pid = fork();
	WL_CHECK(PROG, pid >= 0);
	if (pid == 0)
		child();
	WL_CHECK(PROG, waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	wl_puts(1, "run ns=");
	wl_puts(1, wl_utoa(now_ns() - start, num));
	wl_puts(1, "\n");
	return 0;
}
