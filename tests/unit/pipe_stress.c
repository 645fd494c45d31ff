/* SPDX-License-Identifier: MIT */
/* Stress test of analyzer/pipe.c, the channel between the analyzer's reading
 * and applying threads: a producer puts numbered items in bursts of random
 * length (flushing after each, as the replay does after a SYNC's release),
 * item by item or a run at a time (ha_pipe_room, as the replay does),
 * sometimes pausing so that the consumer sleeps on an empty channel, and a
 * slow consumer now and then lets it fill; the consumer checks that every
 * item arrives once, in order, intact, that a peek ahead shows the item that
 * comes later, and that the channel ends when closed.  Built under
 * ThreadSanitizer and under ASan + UBSan by `make test`.
 * Usage: pipe_stress [items] [capacity]; exit 0 when all held. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "../../analyzer/pipe.h"

static struct ha_pipe pipe_;
static unsigned long long items = 2000000;

static unsigned long long mix(unsigned long long x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void nap(void)
{
	struct timespec ts = { 0, 200000 };

	nanosleep(&ts, NULL);
}

static void *consumer(void *arg)
{
	const struct ha_pipe_item *it;
	unsigned long long n = 0;

	(void)arg;
	while ((it = ha_pipe_get(&pipe_))) {
		const struct ha_pipe_item *ahead = ha_pipe_peek(&pipe_, 5);

		if (it->op.ts != n || it->op.addr != mix(n) || it->op.stack != (uint32_t)~n) {
			fprintf(stderr, "pipe_stress: item %llu arrived as %llu\n", n,
				(unsigned long long)it->op.ts);
			exit(1);
		}
		if (ahead && ahead->op.ts != n + 5) {
			fprintf(stderr, "pipe_stress: peek after %llu shows %llu\n", n,
				(unsigned long long)ahead->op.ts);
			exit(1);
		}
		if (mix(n) % 100000 == 0)
			nap();		/* let the channel fill */
		n++;
	}
	if (n != items) {
		fprintf(stderr, "pipe_stress: %llu items arrived of %llu\n", n, items);
		exit(1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t cap = argc > 2 ? (size_t)strtoul(argv[2], NULL, 0) : 1024;
	unsigned long long n = 0;
	pthread_t t;

	if (argc > 1)
		items = strtoull(argv[1], NULL, 0);
	ha_pipe_init(&pipe_, cap);
	if (pthread_create(&t, NULL, consumer, NULL))
		return 1;
	while (n < items) {
		unsigned long long burst = 1 + mix(n) % 5000;

		if (burst % 2) {
			/* Item by item. */
			for (; burst && n < items; burst--, n++) {
				struct ha_pipe_item *it = ha_pipe_slot(&pipe_);

				it->op.ts = n;
				it->op.addr = mix(n);
				it->op.stack = (uint32_t)~n;
				ha_pipe_put(&pipe_);
			}
		} else {
			/* A run at a time, as the replay puts them. */
			if (burst > items - n)
				burst = items - n;
			while (burst) {
				size_t room;
				struct ha_pipe_item *it = ha_pipe_room(&pipe_, burst, &room);

				if (room < 1 || room > burst) {
					fprintf(stderr, "pipe_stress: room for %zu of %llu\n", room, burst);
					exit(1);
				}
				for (size_t j = 0; j < room; j++, n++) {
					it[j].op.ts = n;
					it[j].op.addr = mix(n);
					it[j].op.stack = (uint32_t)~n;
				}
				ha_pipe_put_n(&pipe_, room);
				burst -= room;
			}
		}
		ha_pipe_flush(&pipe_);
		if (mix(n) % 50 == 0)
			nap();		/* the consumer goes to sleep */
	}
	ha_pipe_close(&pipe_);
	pthread_join(t, NULL);
	ha_pipe_free(&pipe_);
	printf("pipe_stress: %llu items through a channel of %zu, in order\n", items, cap);
	return 0;
}
