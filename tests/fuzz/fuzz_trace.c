/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the analyzer: each input is written to a memfd and read
 * as a trace through the whole `hotalloc report --format json` pipeline (reader,
 * replay, sites, symbolizer, model, JSON writer), with the default options.
 *
 * A corrupt input must make ha_profile_load return -1; it must never reach
 * ha_die (exit(2)), which libFuzzer reports as "fuzz target exited".
 * Built and run by scripts/fuzz.sh; not linked with analyzer/main.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "profile.h"
#include "report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int trace_fd = -1;
static char trace_path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* One memfd for the whole run, rewritten for each input: no file system
	 * traffic, and nothing left behind. */
	trace_fd = memfd_create("fuzz.trace", MFD_CLOEXEC);
	if (trace_fd < 0) {
		perror("fuzz_trace: memfd_create");
		abort();
	}
	snprintf(trace_path, sizeof(trace_path), "/proc/self/fd/%d", trace_fd);
	devnull = fopen("/dev/null", "w");
	if (!devnull) {
		perror("fuzz_trace: cannot open '/dev/null'");
		abort();
	}
	return 0;
}

static void write_input(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(trace_fd, 0) < 0) {
		perror("fuzz_trace: ftruncate");
		abort();
	}
	while (done < size) {
		ssize_t n = pwrite(trace_fd, data + done, size - done, (off_t)done);

		if (n <= 0) {
			perror("fuzz_trace: pwrite");
			abort();
		}
		done += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ha_load_opts lo = {
		.short_ns = 1000000, .sysroot = NULL, .debug_dir = NULL, .progress = false,
	};
	static const struct ha_report_opts ro = {
		.group = HA_GROUP_STACK, .sort = HA_SORT_COUNT, .top = 0,
		.short_ns = 1000000, .merge = false,
	};
	struct ha_profile p;
	int rc;

	write_input(data, size);
	rc = ha_profile_load(&p, trace_path, &lo);
	if (rc == 0) {
		ha_report_json(devnull, &p, 1, &ro);
		fflush(devnull);
	} else if (rc != -1) {
		fprintf(stderr, "fuzz_trace: ha_profile_load returned %d, not 0 or -1\n", rc);
		abort();
	}
	/* After a failed load too: the caller releases what was built. */
	ha_profile_free(&p);
	return 0;
}
