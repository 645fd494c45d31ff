/* SPDX-License-Identifier: MIT */
/* `hotalloc check` and `hotalloc diff`: the command lines of the gate. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "gate.h"
#include "util.h"

static const char check_usage[] =
	"usage: hotalloc check [OPTIONS] BASELINE NEW\n"
	"  BASELINE and NEW are each a trace or a JSON report (hotalloc report --format json).\n"
	"  Exit status: 0 when every limit holds, 1 when one is broken, 2 on a usage or input error.\n"
	"  --limit METRIC=VALUE   allocations, bytes, peak_bytes, leaked_bytes, leaked_blocks,\n"
	"                         allocations_per_op, bytes_per_op; site.METRIC for every site,\n"
	"                         new_site.METRIC for sites the baseline lacks.  VALUE: +2%%\n"
	"                         (relative), +100 (added), or 10000, 64MiB (a ceiling)\n"
	"  --limits FILE          one limit per line, '#' comments\n"
	"                         (default: allocations=+0%%, leaked_bytes=+0%%,\n"
	"                          site.allocations=+0%%, new_site.allocations=0)\n"
	"  --ignore REGEX         drop sites with a frame (function or file) matching REGEX\n"
	"  --from MARK --to MARK --per MARK   as for report, when an input is a trace\n"
	"  --accept-estimates     allow sampled traces (HOTALLOC_SAMPLE); refused by default\n"
	"  --format text|json|markdown|junit  on standard output (default text)\n"
	"  --junit FILE, --markdown FILE      the same verdicts, also written there\n";

static const char diff_usage[] =
	"usage: hotalloc diff [OPTIONS] BASE NEW\n"
	"  Per site, before, after and change, the largest changes first; new and gone sites marked.\n"
	"  --sort allocations|bytes|peak_bytes|leaked_bytes   (default allocations)\n"
	"  --top N                 sites shown (default 20; 0 = all)\n"
	"  --format text|json|markdown\n"
	"  --ignore REGEX, --from MARK, --to MARK, --per MARK, --accept-estimates  as for check\n";

struct gate_args {
	struct ha_gate_opts go;
	struct ha_limit *limits;
	size_t nlimits;
	const char *format, *junit, *markdown, *inputs[2];
	enum ha_metric sort;
	size_t top;
	int ninputs;
};

/* Parses the shared options; exits 2 on a usage error. */
static void parse(struct gate_args *a, int argc, char **argv, bool check, const char *usage)
{
	const char *v;
	bool opts = true;

	memset(a, 0, sizeof(*a));
	a->go.load.short_ns = 1000000;
	a->format = "text";
	a->top = 20;
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = false;
		} else if (opts && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
			fputs(usage, stdout);
			exit(HA_EXIT_OK);
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--format"))) {
			a->format = v;
		} else if (opts && !strcmp(argv[i], "--accept-estimates")) {
			a->go.accept_estimates = true;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--ignore"))) {
			a->go.ignore = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--from"))) {
			a->go.load.from = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--to"))) {
			a->go.load.to = v;
		} else if (opts && (v = ha_opt_value(argc, argv, &i, "--per"))) {
			a->go.load.per = v;
		} else if (opts && check && (v = ha_opt_value(argc, argv, &i, "--limit"))) {
			a->limits = xrealloc(a->limits, (a->nlimits + 1) * sizeof(*a->limits));
			if (ha_limit_parse(&a->limits[a->nlimits], v) < 0)
				exit(HA_EXIT_USAGE);
			a->nlimits++;
		} else if (opts && check && (v = ha_opt_value(argc, argv, &i, "--limits"))) {
			if (ha_limits_file(&a->limits, &a->nlimits, v) < 0)
				exit(HA_EXIT_USAGE);
		} else if (opts && check && (v = ha_opt_value(argc, argv, &i, "--junit"))) {
			a->junit = v;
		} else if (opts && check && (v = ha_opt_value(argc, argv, &i, "--markdown"))) {
			a->markdown = v;
		} else if (opts && !check && (v = ha_opt_value(argc, argv, &i, "--sort"))) {
			static const char *const names[] = { "allocations", "bytes", "peak_bytes", "leaked_bytes" };
			int k;
			for (k = 0; k < 4 && strcmp(v, names[k]); k++)
				;
			if (k == 4)
				ha_die("diff: unknown --sort '%s' (allocations, bytes, peak_bytes, leaked_bytes)", v);
			a->sort = (enum ha_metric)k;
		} else if (opts && !check && (v = ha_opt_value(argc, argv, &i, "--top"))) {
			char *end;
			long t = strtol(v, &end, 10);
			if (*end || end == v || t < 0)
				ha_die("diff: --top takes a whole number, not '%s'", v);
			a->top = (size_t)t;
		} else if (opts && argv[i][0] == '-' && argv[i][1]) {
			ha_die("%s: unknown option '%s'; see 'hotalloc %s --help'", check ? "check" : "diff",
			       argv[i], check ? "check" : "diff");
		} else if (a->ninputs < 2) {
			a->inputs[a->ninputs++] = argv[i];
		} else {
			ha_die("%s: takes two inputs, BASELINE and NEW; '%s' is a third", check ? "check" : "diff",
			       argv[i]);
		}
	}
	if (a->ninputs != 2)
		ha_die("%s: needs BASELINE and NEW; see 'hotalloc %s --help'", check ? "check" : "diff",
		       check ? "check" : "diff");
	if (strcmp(a->format, "text") && strcmp(a->format, "json") && strcmp(a->format, "markdown") &&
	    (!check || strcmp(a->format, "junit")))
		ha_die("%s: unknown format '%s'", check ? "check" : "diff", a->format);
}

static int load_both(struct gate_args *a, struct ha_snapshot s[2])
{
	for (int k = 0; k < 2; k++) {
		if (ha_snapshot_load(&s[k], a->inputs[k], &a->go) < 0)
			return -1;
		if (a->go.ignore && ha_snapshot_ignore(&s[k], a->go.ignore) < 0)
			return -1;
	}
	return 0;
}

static void free_args(struct gate_args *a)
{
	for (size_t i = 0; i < a->nlimits; i++)
		free(a->limits[i].text);
	free(a->limits);
}

int ha_cmd_check(int argc, char **argv)
{
	static const char *const defaults[] = { "allocations=+0%", "leaked_bytes=+0%",
						"site.allocations=+0%", "new_site.allocations=0" };
	struct gate_args a;
	struct ha_snapshot s[2];
	struct ha_check c;
	int status;

	parse(&a, argc, argv, true, check_usage);
	if (!a.nlimits) {
		a.limits = xcalloc(4, sizeof(*a.limits));
		for (int k = 0; k < 4; k++)
			ha_limit_parse(&a.limits[a.nlimits++], defaults[k]);
	}
	for (size_t i = 0; i < a.nlimits; i++)
		if (a.limits[i].scope == HA_SCOPE_PER_OP && !a.go.load.per)
			ha_die("check: limit '%s' needs --per MARK", a.limits[i].text);
	memset(s, 0, sizeof(s));
	if (load_both(&a, s) < 0) {
		ha_snapshot_free(&s[0]);
		ha_snapshot_free(&s[1]);
		free_args(&a);
		return HA_EXIT_USAGE;
	}
	ha_check_run(&c, &s[0], &s[1], a.limits, a.nlimits);
	ha_check_print(stdout, a.format, &c, &s[0], &s[1]);
	status = c.broken ? HA_EXIT_FAIL : HA_EXIT_OK;
	for (int k = 0; k < 2; k++) {
		const char *path = k ? a.markdown : a.junit;
		FILE *f;

		if (!path)
			continue;
		f = fopen(path, "w");
		if (!f) {
			ha_error("cannot write '%s'", path);
			status = HA_EXIT_USAGE;
			continue;
		}
		ha_check_print(f, k ? "markdown" : "junit", &c, &s[0], &s[1]);
		if (fclose(f) != 0) {
			ha_error("cannot write '%s'", path);
			status = HA_EXIT_USAGE;
		}
	}
	ha_check_free(&c);
	ha_snapshot_free(&s[0]);
	ha_snapshot_free(&s[1]);
	free_args(&a);
	if (fflush(stdout) != 0)
		return HA_EXIT_USAGE;
	return status;
}

int ha_cmd_diff(int argc, char **argv)
{
	struct gate_args a;
	struct ha_snapshot s[2];

	parse(&a, argc, argv, false, diff_usage);
	memset(s, 0, sizeof(s));
	if (load_both(&a, s) < 0) {
		ha_snapshot_free(&s[0]);
		ha_snapshot_free(&s[1]);
		return HA_EXIT_USAGE;
	}
	ha_diff_print(stdout, a.format, &s[0], &s[1], a.sort, a.top);
	ha_snapshot_free(&s[0]);
	ha_snapshot_free(&s[1]);
	free_args(&a);
	return fflush(stdout) ? HA_EXIT_USAGE : HA_EXIT_OK;
}
