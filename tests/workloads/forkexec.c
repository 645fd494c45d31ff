/* SPDX-License-Identifier: MIT */
/* forkexec: a parent and a fork child that each allocate known amounts; the child
 * then execs another program or calls _exit.
 *
 * Usage: forkexec exec PROGRAM [ARGS...]    child calls execve(PROGRAM, {PROGRAM, ARGS})
 *        forkexec execvp PROGRAM [ARGS...]  the same through execvp
 *        forkexec self                      child execs this program as "forkexec target"
 *        forkexec exit                      child calls _exit(7)
 *        forkexec target                    what "self" runs
 *
 * No stdio, so nothing else is allocated.  Counts per process (calls.malloc =
 * allocations, calls.free = frees, all other calls 0):
 *   parent:  mallocs 3 x 1000, frees one, forks, waits, mallocs 500 and frees it;
 *            allocations 4, frees 2, bytes_allocated 3500, peak_bytes 3000,
 *            leaked_blocks 2, leaked_bytes 2000.  Exits 0 when the child ended as
 *            expected (status 0 after an exec, 7 after _exit), else 1.
 *   child:   mallocs 4 x 2000 and frees two of them, then execs or calls _exit(7);
 *            allocations 4, frees 2, bytes_allocated 8000, peak_bytes 8000,
 *            leaked_blocks 2, leaked_bytes 4000 (counting only its own blocks: the
 *            two it inherited from the parent are neither freed nor counted).
 *   target:  mallocs 5 x 3000 and frees four; allocations 5, frees 4,
 *            bytes_allocated 15000, peak_bytes 15000, leaked_blocks 1,
 *            leaked_bytes 3000. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload.h"

#define CHECK(cond) WL_CHECK("forkexec", cond)
#define MAX_ARGS 32

extern char **environ;

/* Mallocs n blocks of size bytes, frees the first nfree, leaves the rest live. */
static void alloc_some(unsigned n, size_t size, unsigned nfree)
{
	void *blocks[8];

	CHECK(n <= 8 && nfree <= n);
	for (unsigned i = 0; i < n; i++) {
		blocks[i] = wl_sink(malloc(size));
		CHECK(blocks[i] != NULL);
		memset(blocks[i], (int)i, size);
	}
	for (unsigned i = 0; i < nfree; i++)
		free(wl_sink(blocks[i]));
}

static void usage(void)
{
	wl_puts(2, "usage: forkexec exec|execvp PROGRAM [ARGS...] | self | exit | target\n");
	_exit(2);
}

/* Runs in the fork child: allocates, then leaves by exec or by _exit. */
static void child(int argc, char **argv)
{
	const char *mode = argv[1];
	char *args[MAX_ARGS + 2];
	char self[PATH_MAX];

	alloc_some(4, 2000, 2);
	if (!strcmp(mode, "exit"))
		_exit(7);
	if (!strcmp(mode, "self")) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		CHECK(n > 0);
		self[n] = '\0';
		args[0] = self;
		args[1] = (char *)"target";
		args[2] = NULL;
		execve(self, args, environ);
		wl_fail("forkexec", "cannot exec itself", __LINE__);
	}
	CHECK(argc - 2 <= MAX_ARGS);
	for (int i = 2; i < argc; i++)
		args[i - 2] = argv[i];
	args[argc - 2] = NULL;
	if (!strcmp(mode, "exec"))
		execve(args[0], args, environ);
	else
		execvp(args[0], args);
	wl_puts(2, "forkexec: error: cannot exec '");
	wl_puts(2, args[0]);
	wl_puts(2, "'\n");
	_exit(127);
}

int main(int argc, char **argv)
{
	const char *mode;
	int status, expect;
	void *a, *b, *c, *d;
	pid_t pid;

	if (argc < 2)
		usage();
	mode = argv[1];
	if (!strcmp(mode, "target")) {
		alloc_some(5, 3000, 4);
		return 0;
	}
	if (!strcmp(mode, "exec") || !strcmp(mode, "execvp")) {
		if (argc < 3)
			usage();
		expect = 0;
	} else if (!strcmp(mode, "self")) {
		expect = 0;
	} else if (!strcmp(mode, "exit")) {
		expect = 7;
	} else {
		usage();
	}

	a = wl_sink(malloc(1000));
	b = wl_sink(malloc(1000));
	c = wl_sink(malloc(1000));
	CHECK(a && b && c);
	free(wl_sink(c));

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child(argc, argv);
	CHECK(waitpid(pid, &status, 0) == pid);

	d = wl_sink(malloc(500));
	CHECK(d != NULL);
	free(wl_sink(d));

	if (!WIFEXITED(status) || WEXITSTATUS(status) != expect) {
		wl_puts(2, "forkexec: error: the child did not exit as expected\n");
		return 1;
	}
	return 0;
}
