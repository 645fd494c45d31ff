/* SPDX-License-Identifier: MIT */
/* manythreads: creates and joins many short-lived threads, to show that per-thread
 * tracer state is released when a thread ends.
 *
 * Usage: manythreads [threads T=100000] [iterations per thread M=1]
 *        (a stress workload, not a benchmark)
 *
 * Threads are created in batches of 4 and joined before the next batch starts; each
 * makes M malloc(48)/free pairs.  What the threads themselves make is:
 *   calls.malloc = calls.free = allocations = frees = T*M
 *   bytes_allocated = 48*T*M;  leaked_blocks = leaked_bytes = 0
 * pthread_create allocates inside libc, so compare against "manythreads T 0", which
 * creates and joins the same threads.  At exit the program writes its peak resident
 * set size to stderr as the line "manythreads: VmHWM N kB" (read from /proc/self/status
 * with read(2), which allocates nothing). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workload.h"

#define BATCH 4

static uint64_t per_thread;

static void *worker(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < per_thread; i++) {
		char *p = wl_sink(malloc(48));

		WL_CHECK("manythreads", p);
		p[47] = 1;
		free(wl_sink(p));
	}
	return NULL;
}

/* Writes the VmHWM line of /proc/self/status to stderr. */
static void report_hwm(void)
{
	char buf[4096], *line, *end;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	WL_CHECK("manythreads", fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	WL_CHECK("manythreads", n > 0);
	buf[n] = '\0';
	line = strstr(buf, "VmHWM:");
	WL_CHECK("manythreads", line != NULL);
	line += strlen("VmHWM:");
	while (*line == ' ' || *line == '\t')
		line++;
	end = strchr(line, '\n');
	if (end)
		*end = '\0';
	wl_puts(2, "manythreads: VmHWM ");
	wl_puts(2, line);
	wl_puts(2, "\n");
}

int main(int argc, char **argv)
{
	uint64_t nthreads = wl_arg(argc, argv, 1, 100000);
	pthread_t tid[BATCH];

	per_thread = wl_arg(argc, argv, 2, 1);
	for (uint64_t done = 0; done < nthreads; ) {
		unsigned k = 0;

		while (k < BATCH && done + k < nthreads) {
			WL_CHECK("manythreads", pthread_create(&tid[k], NULL, worker, NULL) == 0);
			k++;
		}
		for (unsigned i = 0; i < k; i++)
			WL_CHECK("manythreads", pthread_join(tid[i], NULL) == 0);
		done += k;
	}
	report_hwm();
	return 0;
}
