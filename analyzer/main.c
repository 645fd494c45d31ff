/* SPDX-License-Identifier: MIT */
/* hotalloc: the command line.  `record` runs a program under the tracer;
 * `report` reads traces and prints what they say. */
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "commands.h"
#include "hotalloc/format.h"
#include "profile.h"
#include "report.h"
#include "util.h"

#define HA_VERSION "0.1.0"

static const char usage[] =
	"usage: hotalloc COMMAND [OPTIONS]\n"
	"\n"
	"  record [-o PATTERN] [--] CMD [ARGS...]   run CMD under the tracer\n"
	"  report [OPTIONS] TRACE...               where the program allocates, peaks, leaks\n"
	"  diff BASE NEW                            what changed, per site\n"
	"  check BASELINE NEW [--limit ...]         exit 1 when an allocation limit breaks\n"
	"  dump TRACE                               every record of a trace, one per line\n"
	"\n"
	"  hotalloc COMMAND --help for a command's options; hotalloc --version.\n";

static const char report_usage[] =
	"usage: hotalloc report [OPTIONS] TRACE|DIR...\n"
	"  --format text|json          text for people (default), json for scripts\n"
	"  --group-by stack|line|function\n"
	"                              a site is a whole stack (default), the line\n"
	"                              that called the allocator, or its function\n"
	"  --sort count|bytes|peak|leaked|churn   (default count)\n"
	"  --top N                     sites shown (default 10 in text, all in json; 0 = all)\n"
	"  --short-lived TIME          blocks freed sooner are churn (default 1ms;\n"
	"                              units ns, us, ms, s)\n"
	"  --from MARK, --to MARK      only what is allocated between the first MARK\n"
	"                              (hotalloc_mark) and the first --to MARK after it\n"
	"  --per MARK                  also per operation: divided by MARK's count\n"
	"  --merge                     several traces as one combined view\n"
	"  --sysroot DIR               read the traced objects under DIR\n"
	"  --debug-dir DIR             look for separate debug files in DIR too\n"
	"  A folder stands for every trace in it.\n";

/* "250us" -> 250000; returns 0 on success. */
static int parse_time(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end);
	double mult = 1e6;

	if (end == s || v < 0)
		return -1;
	if (!strcmp(end, "ns"))
		mult = 1;
	else if (!strcmp(end, "us"))
		mult = 1e3;
	else if (!strcmp(end, "ms") || !*end)
		mult = 1e6;
	else if (!strcmp(end, "s"))
		mult = 1e9;
	else
		return -1;
	*ns = (uint64_t)(v * mult);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds path, or the traces in it when it is a folder. */
static void add_input(char ***paths, size_t *n, const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	size_t first = *n;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*paths = xrealloc(*paths, (*n + 1) * sizeof(char *));
		(*paths)[(*n)++] = xstrdup(path);
		return;
	}
	d = opendir(path);
	if (!d)
		ha_die("cannot open folder '%s'", path);
	while ((de = readdir(d))) {
		char full[4096];

		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (de->d_name[0] == '.' || !ha_trace_sniff(full))
			continue;
		*paths = xrealloc(*paths, (*n + 1) * sizeof(char *));
		(*paths)[(*n)++] = xstrdup(full);
	}
	closedir(d);
	if (*n == first)
		ha_die("folder '%s' holds no hotalloc traces", path);
	qsort(*paths + first, *n - first, sizeof(char *), cmp_str);
}

int ha_cmd_report(int argc, char **argv)
{
	const char *format = "text", *v;
	char **paths = NULL;
	size_t n = 0;
	struct ha_profile *profiles;
	struct ha_report_opts ro = { HA_GROUP_STACK, HA_SORT_COUNT, 10, 1000000, false };
	struct ha_load_opts lo = { .short_ns = 1000000, .progress = isatty(2) };
	int i, status = HA_EXIT_OK;
	bool opts = true, top_given = false;

	for (i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = false;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--format"))) {
			format = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--group-by"))) {
			if (!strcmp(v, "stack"))
				ro.group = HA_GROUP_STACK;
			else if (!strcmp(v, "line"))
				ro.group = HA_GROUP_LINE;
			else if (!strcmp(v, "function"))
				ro.group = HA_GROUP_FUNCTION;
			else
				ha_die("report: unknown --group-by '%s' (stack, line or function)", v);
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--sort"))) {
			static const char *const names[] = { "count", "bytes", "peak", "leaked", "churn" };
			size_t k;
			for (k = 0; k < 5 && strcmp(v, names[k]); k++)
				;
			if (k == 5)
				ha_die("report: unknown --sort '%s' (count, bytes, peak, leaked or churn)", v);
			ro.sort = (enum ha_sort)k;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--top"))) {
			char *end;
			long t = strtol(v, &end, 10);
			if (*end || end == v || t < 0)
				ha_die("report: --top takes a whole number, not '%s'", v);
			ro.top = (size_t)t;
			top_given = true;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--short-lived"))) {
			if (parse_time(v, &ro.short_ns) < 0)
				ha_die("report: --short-lived takes a time such as 500us or 2ms, not '%s'", v);
			lo.short_ns = ro.short_ns;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--sysroot"))) {
			lo.sysroot = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--debug-dir"))) {
			lo.debug_dir = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--from"))) {
			lo.from = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--to"))) {
			lo.to = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--per"))) {
			lo.per = v;
		} else if (opts && !strcmp(argv[i], "--merge")) {
			ro.merge = true;
		} else if (opts && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
			fputs(report_usage, stdout);
			return HA_EXIT_OK;
		} else if (opts && argv[i][0] == '-' && argv[i][1]) {
			ha_die("report: unknown option '%s'; see 'hotalloc report --help'", argv[i]);
		} else {
			add_input(&paths, &n, argv[i]);
		}
	}
	if (strcmp(format, "text") && strcmp(format, "json"))
		ha_die("report: unknown format '%s' (text or json)", format);
	if (!top_given && !strcmp(format, "json"))
		ro.top = 0;
	if (!n)
		ha_die("report: no trace given; see 'hotalloc report --help'");
	profiles = xcalloc(n, sizeof(*profiles));
	for (size_t k = 0; k < n && status == HA_EXIT_OK; k++)
		if (ha_profile_load(&profiles[k], paths[k], &lo) < 0)
			status = HA_EXIT_USAGE;
	if (status == HA_EXIT_OK && !strcmp(format, "json"))
		ha_report_json(stdout, profiles, n, &ro);
	else if (status == HA_EXIT_OK)
		ha_report_text(stdout, profiles, n, &ro);
	for (size_t k = 0; k < n; k++) {
		ha_profile_free(&profiles[k]);
		free(paths[k]);
	}
	free(profiles);
	free(paths);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ha_error("cannot write the report to standard output");
		return HA_EXIT_USAGE;
	}
	return status;
}

int main(int argc, char **argv)
{
	/* Buffers of 1 MiB and more (chunks, the live table, the channel, the
	 * DWARF of a large library) get pages of their own, which go back when
	 * they are freed.  glibc's default raises the bar after the first such
	 * free and keeps later ones in its heaps for good: on an 8-thread trace,
	 * 49 MiB of peak RSS for 36 MiB of peak heap; with this, 38 MiB. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? HA_EXIT_USAGE : HA_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("hotalloc %s (trace format %u)\n", HA_VERSION, HA_FORMAT_VERSION);
		return HA_EXIT_OK;
	}
	if (!strcmp(argv[1], "record"))
		return ha_cmd_record(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return ha_cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dump"))
		return ha_cmd_dump(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return ha_cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "diff"))
		return ha_cmd_diff(argc - 1, argv + 1);
	ha_die("unknown command '%s'; see 'hotalloc --help'", argv[1]);
}
