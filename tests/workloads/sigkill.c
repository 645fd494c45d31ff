/* SPDX-License-Identifier: MIT */
/* sigkill: allocates without end, to be killed mid-run; or allocates a little and
 * aborts.  Used to check traces of processes that die by a signal.
 *
 * Usage: sigkill PIDFILE    churns until killed (gives up with status 3 after 60 s)
 *        sigkill abort      mallocs 1000 blocks of 64 bytes, then calls abort()
 *
 * In the first form the program keeps a window of 64 live blocks, freeing the oldest
 * and mallocing a new one (16 to 520 bytes) per iteration; after the first 10000
 * iterations it writes its pid and a newline to PIDFILE (written to PIDFILE.tmp, then
 * renamed), so whoever kills it knows that at least 10001 mallocs have happened.  No
 * stdio, so nothing else is allocated. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define CHECK(cond) WL_CHECK("sigkill", cond)
#define WINDOW 64

static void write_pidfile(const char *path)
{
	char tmp[PATH_MAX], num[21];
	size_t len = strlen(path);
	int fd;

	CHECK(len + 5 < sizeof(tmp));
	memcpy(tmp, path, len);
	memcpy(tmp + len, ".tmp", 5);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	wl_puts(fd, wl_utoa((uint64_t)getpid(), num));
	wl_puts(fd, "\n");
	CHECK(close(fd) == 0);
	CHECK(rename(tmp, path) == 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	void *window[WINDOW] = { 0 };
	double start = now();

	if (argc != 2) {
		wl_puts(2, "usage: sigkill PIDFILE | abort\n");
		return 2;
	}
	if (!strcmp(argv[1], "abort")) {
		for (int i = 0; i < 1000; i++)
			CHECK(wl_sink(malloc(64)) != NULL);
		abort();
	}
	for (uint64_t i = 0; ; i++) {
		unsigned slot = (unsigned)(i % WINDOW);

		free(wl_sink(window[slot]));
		window[slot] = wl_sink(malloc(16 + 8 * (i % WINDOW)));
		CHECK(window[slot] != NULL);
		if (i == 10000)
			write_pidfile(argv[1]);
		if (i % 65536 == 0 && now() - start > 60.0) {
			wl_puts(2, "sigkill: error: nobody killed me within 60 s\n");
			return 3;
		}
	}
}
