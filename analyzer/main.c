/* SPDX-License-Identifier: MIT */
/* hotalloc: the command line.  `record` runs a program under the tracer;
 * `report` reads traces and prints what they say. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	"  report [--format text|json] TRACE...     print what the traces say\n"
	"  dump TRACE                               every record of a trace, one per line\n"
	"\n"
	"  hotalloc COMMAND --help for a command's options; hotalloc --version.\n";

static const char report_usage[] =
	"usage: hotalloc report [--format text|json] TRACE|DIR...\n"
	"  --format text   a summary for people (default)\n"
	"  --format json   every figure, with the field names of README.md\n"
	"  A folder stands for every trace in it.\n";

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
	const char *format = "text";
	char **paths = NULL;
	size_t n = 0;
	struct ha_profile *profiles;
	int i, status = HA_EXIT_OK;
	bool opts = true;

	for (i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = false;
		} else if (opts && !strcmp(argv[i], "--format") && i + 1 < argc) {
			format = argv[++i];
		} else if (opts && !strncmp(argv[i], "--format=", 9)) {
			format = argv[i] + 9;
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
	if (!n)
		ha_die("report: no trace given; see 'hotalloc report --help'");
	profiles = xcalloc(n, sizeof(*profiles));
	for (size_t k = 0; k < n && status == HA_EXIT_OK; k++)
		if (ha_profile_load(&profiles[k], paths[k]) < 0)
			status = HA_EXIT_USAGE;
	if (status == HA_EXIT_OK && !strcmp(format, "json"))
		ha_report_json(stdout, profiles, n);
	else if (status == HA_EXIT_OK)
		ha_report_text(stdout, profiles, n);
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
	ha_die("unknown command '%s'; see 'hotalloc --help'", argv[1]);
}
