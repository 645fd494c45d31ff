/* SPDX-License-Identifier: MIT */
/* `hotalloc record`: runs a command with libhotalloc.so preloaded, passes its
 * exit status on, and names the trace files it wrote. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "commands.h"
#include "hotalloc/format.h"
#include "util.h"

#ifndef HA_LIBDIR
#define HA_LIBDIR "/usr/local/lib/hotalloc"
#endif

static const char usage[] =
	"usage: hotalloc record [-o PATTERN] [--depth N] [--sample BYTES] [--no-follow] [--] COMMAND [ARGS...]\n"
	"  -o PATTERN    trace file name; %p is the pid, %e the executable's name\n"
	"                (default hotalloc.%e.%p.trace in the current directory)\n"
	"  --depth N     keep at most N frames per stack (default 64, at most 255)\n"
	"  --sample BYTES  record a sample: one allocation per BYTES allocated on average\n"
	"                (Poisson; 512KiB is a production setting; KiB and MiB suffixes;\n"
	"                1 to 1GiB); the report estimates every figure from it\n"
	"  --no-follow   do not trace the command's children (fork and exec)\n";

/* Finds libhotalloc.so: $HOTALLOC_LIB, beside this binary (the build tree),
 * ../lib/hotalloc beside it (an install), then the configured libdir. */
static int find_library(char *out, size_t size)
{
	char self[PATH_MAX], *slash;
	const char *env = getenv("HOTALLOC_LIB");
	ssize_t n;

	if (env && *env) {
		if (!realpath(env, out) || access(out, R_OK))
			ha_die("cannot use HOTALLOC_LIB '%s': %s", env, strerror(errno));
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 64);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			strcpy(slash, "/libhotalloc.so");
			if (!access(self, R_OK) && realpath(self, out))
				return 0;
			strcpy(slash, "/../lib/hotalloc/libhotalloc.so");
			if (!access(self, R_OK) && realpath(self, out))
				return 0;
		}
	}
	if ((size_t)snprintf(out, size, "%s/libhotalloc.so", HA_LIBDIR) >= size)
		return -1;
	return access(out, R_OK);
}

/* Turns the pattern into a glob: %p and %e become *, and a re-exec suffix is allowed. */
static void pattern_glob(const char *pat, char *out, size_t size)
{
	size_t n = 0;

	for (const char *p = pat; *p && n + 4 < size; p++) {
		if (p[0] == '%' && (p[1] == 'p' || p[1] == 'e')) {
			out[n++] = '*';
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			out[n++] = '%';
			p++;
		} else if (*p == '*' || *p == '?' || *p == '[' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = *p;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = 0;
}

static bool written_since(const char *path, uint64_t since_ns)
{
	struct ha_file_header h;
	FILE *f = fopen(path, "rb");
	bool ok;

	if (!f)
		return false;
	ok = fread(&h, 1, sizeof(h), f) == sizeof(h) && !memcmp(h.magic, HA_FILE_MAGIC, 8) &&
	     h.start_real_ns >= since_ns;
	fclose(f);
	return ok;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_traces(const char *pattern, uint64_t since_ns)
{
	char g[PATH_MAX * 2], g2[PATH_MAX * 2 + 8];
	glob_t gl;
	size_t len;
	int found = 0;

	pattern_glob(pattern, g, sizeof(g));
	/* Re-exec'd images that found the name taken wrote NAME-N.trace. */
	len = strlen(g);
	if (len > 6 && !strcmp(g + len - 6, ".trace"))
		snprintf(g2, sizeof(g2), "%.*s-*.trace", (int)(len - 6), g);
	else
		snprintf(g2, sizeof(g2), "%s.*", g);
	memset(&gl, 0, sizeof(gl));
	glob(g, 0, NULL, &gl);
	glob(g2, GLOB_APPEND, NULL, &gl);
	/* The two patterns overlap ('*' matches "123-1"): sort, skip repeats. */
	qsort(gl.gl_pathv, gl.gl_pathc, sizeof(char *), cmp_path);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		if (i && !strcmp(gl.gl_pathv[i], gl.gl_pathv[i - 1]))
			continue;
		if (written_since(gl.gl_pathv[i], since_ns)) {
			fprintf(stderr, "hotalloc: trace written to '%s'\n", gl.gl_pathv[i]);
			found++;
		}
	}
	if (!found)
		ha_warn("no trace was written (pattern '%s'): see the messages above", pattern);
	globfree(&gl);
}

int ha_cmd_record(int argc, char **argv)
{
	char lib[PATH_MAX], pattern[PATH_MAX], preload[PATH_MAX * 2], cwd[PATH_MAX];
	const char *out = "hotalloc.%e.%p.trace", *old;
	struct timespec now;
	struct sigaction ign, old_int, old_quit;
	uint64_t since;
	int i, n, status;
	pid_t pid;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strncmp(argv[i], "-o", 2) && argv[i][2]) {
			out = argv[i] + 2;
		} else if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
			char *end;
			long d = strtol(argv[++i], &end, 10);
			if (*end || d < 0 || d > 255)
				ha_die("--depth takes a number from 0 to 255, not '%s'", argv[i]);
			setenv("HOTALLOC_DEPTH", argv[i], 1);
		} else if (!strcmp(argv[i], "--sample") && i + 1 < argc) {
			char *end, buf[32];
			unsigned long long b;

			errno = 0;
			b = strtoull(argv[++i], &end, 10);
			if (errno || b > (1ull << 30))
				b = 0;
			else if (!strcmp(end, "KiB") || !strcmp(end, "K"))
				b <<= 10;
			else if (!strcmp(end, "MiB") || !strcmp(end, "M"))
				b <<= 20;
			else if (*end)
				b = 0;
			if (argv[i][0] < '0' || argv[i][0] > '9' || b < 1 || b > (1ull << 30))
				ha_die("--sample takes a size from 1 to 1GiB (such as 524288 or 512KiB), not '%s'",
				       argv[i]);
			snprintf(buf, sizeof(buf), "%llu", b);
			setenv("HOTALLOC_SAMPLE", buf, 1);
		} else if (!strcmp(argv[i], "--sample") || !strcmp(argv[i], "--depth") || !strcmp(argv[i], "-o")) {
			ha_die("record: %s needs a value; see 'hotalloc record --help'", argv[i]);
		} else if (!strcmp(argv[i], "--no-follow")) {
			setenv("HOTALLOC_FOLLOW", "0", 1);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return HA_EXIT_OK;
		} else if (argv[i][0] == '-') {
			ha_die("record: unknown option '%s'; see 'hotalloc record --help'", argv[i]);
		} else {
			break;
		}
	}
	if (i >= argc)
		ha_die("record: no command given; see 'hotalloc record --help'");
	if (find_library(lib, sizeof(lib)) < 0)
		ha_die("cannot find libhotalloc.so (looked beside the hotalloc binary and in %s); "
		       "set HOTALLOC_LIB", HA_LIBDIR);
	if (out[0] != '/' && getcwd(cwd, sizeof(cwd)))
		n = snprintf(pattern, sizeof(pattern), "%s/%s", cwd, out);
	else
		n = snprintf(pattern, sizeof(pattern), "%s", out);
	if (n < 0 || (size_t)n >= sizeof(pattern))
		ha_die("record: the trace pattern '%s' is too long", out);
	setenv("HOTALLOC_OUT", pattern, 1);
	old = getenv("LD_PRELOAD");
	if (old && *old)
		n = snprintf(preload, sizeof(preload), "%s:%s", lib, old);
	else
		n = snprintf(preload, sizeof(preload), "%s", lib);
	if (n < 0 || (size_t)n >= sizeof(preload))
		ha_die("record: LD_PRELOAD is too long");

	clock_gettime(CLOCK_REALTIME, &now);
	since = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	/* Like a shell waiting for a job: the terminal's ^C goes to the child. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		ha_die("cannot fork: %s", strerror(errno));
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		setenv("LD_PRELOAD", preload, 1);
		execvp(argv[i], argv + i);
		fprintf(stderr, "hotalloc: error: cannot run '%s': %s\n", argv[i], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			ha_die("cannot wait for '%s': %s", argv[i], strerror(errno));
	}
	if (!(WIFEXITED(status) && WEXITSTATUS(status) >= 126))
		list_traces(pattern, since);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
