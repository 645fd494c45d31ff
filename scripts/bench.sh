#!/bin/bash
# SPDX-License-Identifier: MIT
# bench.sh: times six synthetic workloads (bench/*.c) and four real programs from Debian
# packages (python3, perl, sqlite3 and gcc's cc1 on the inputs of bench/real/), each
# untraced, under hotalloc recording every event, under hotalloc sampling
# (HOTALLOC_SAMPLE) and under heaptrack, and prints the tracers' overhead per workload;
# then times the analyzers, `hotalloc report --format json` against `heaptrack_print`, on
# one trace of churn and xthreads-8 made by each tool.  bench/summary.py prints the two
# tables on stdout and writes them, every run included, to BUILD/bench.json.
#
# Usage: scripts/bench.sh BUILD_DIR   (`make bench` installs and builds what it needs first)
#
#   BENCH_RUNS=5        runs of each variant; the tables show medians
#   BENCH_ANALYZER_RUNS=5   runs of each analyzer, at most BENCH_RUNS (see the time budget)
#   BENCH_SCALE=1       multiplies every workload's size (0.02 for a smoke run)
#   BENCH_SAMPLE=524288 HOTALLOC_SAMPLE of the sampled variant: mean bytes between samples
#   BENCH_HEAPTRACK=heaptrack   the heaptrack command; a name that is not found (none)
#                       leaves heaptrack's columns "n/a"
#   BENCH_HEAPTRACK_PRINT=heaptrack_print   heaptrack's analyzer, likewise
#   BENCH_HEAPTRACK_MEM=6144    heaptrack's address-space cap in MiB (`ulimit -v`, for
#                       heaptrack and each of its processes)
#   BENCH_HEAPTRACK_TIMEOUT=    seconds before a heaptrack run is killed; by default 60 +
#                       40 times the workload's first untraced wall time
#   BENCH_TIMER=auto    auto: /usr/bin/time for CPU time and peak RSS when present, else
#                       python3's getrusage(RUSAGE_CHILDREN) (bench/timer.py); time or
#                       python forces one
#
# The real programs are /usr/bin/python3 (with PYTHONMALLOC=malloc), /usr/bin/perl,
# /usr/bin/sqlite3 and `gcc -print-prog-name=cc1`, not whatever comes first in PATH (a
# wrapper script there would be traced too); `scripts/install-deps --bench` installs them.
# The sqlite3 script and cc1's C file are generated before the first run, outside the
# timings, by bench/real/gen-insert.py and bench/real/gen-c.py: the same size always gives
# the same input.
#
# Wall time is taken around each run to the microsecond; CPU time is user + sys of the
# run and of every child it waited for (heaptrack's interpreter and zstd included); peak
# RSS is that of the run's largest process (with the python timer, never less than that
# python's own, about 10 MiB: a child's peak counts its parent's memory until it execs).
# Runs are interleaved, round after round, and the order of the four variants rotates
# from one round to the next so that a slow drift in the machine's load does not always
# land on the same one.  A run's stderr is kept only to be shown if it fails.  A run
# that exits non-zero stops the script with status 1, except heaptrack's: its interpreter
# can exhaust all memory (it did on recurse-256 with more distinct sizes), so heaptrack
# runs under the memory cap and the timeout above, and a run of it that fails or writes
# nothing makes the workload's heaptrack columns "failed", with its last messages on
# stderr; heaptrack is then not run again on that workload.  Progress goes to stderr.
#
# Events are the calls in hotalloc's report of the first full trace of each workload;
# the tools' ns/ev and B/ev divide by that same count.  The sampled variant's "est err"
# compares the total bytes allocated that `hotalloc report` estimates from each sampled
# trace (median over the runs) with the exact total of that full trace.
#
# The analyzer table reuses the first traced run of each of its workloads: the trace
# that round 1 of `hotalloc record` wrote and the file that round 1 of heaptrack wrote.
# Each analyzer reads its own tool's file BENCH_ANALYZER_RUNS times (interleaved, order
# rotating); events/s is the workload's event count over the median wall time, and peak
# RSS is the analyzer's maximum resident set, in MiB.
#
# Time budget: the default `make bench` must end within 15 minutes on a 2-core machine.
# It took 13 min 4 s on one (2 vCPUs, Debian 12, heaptrack 1.4, a fresh build included,
# other programs busy for its first 10 minutes): the timed runs 11 min 8 s (heaptrack's
# 6 min 10 s of it, hotalloc's full ones 3 min), the reports that count events and
# estimate bytes about a minute, the analyzers 47 s.  With another program keeping a
# core busy throughout it took 16 min 26 s, and on a slower day (untraced runs up to 3x
# slower than usual) 15 min 3 s with the analyzers run 3 times.  On 2026-12-06 it took
# 7 min 31 s (the analyzers 2 runs each, 26 s), the tracers faster than then: the
# analyzers have 5 runs again, about 40 s more: with 2, one slow run moves a median as
# much as the changes it is meant to show (this machine's wall times drifted by 15% within
# an hour that day).

set -u
export LC_ALL=C		# EPOCHREALTIME and printf use the C locale's decimal point

prog=bench
die() {
	printf '%s: error: %s\n' "$prog" "$1" >&2
	exit 1
}
warn() {
	printf '%s: warning: %s\n' "$prog" "$1" >&2
}

[ $# -eq 1 ] || { printf 'usage: scripts/bench.sh BUILD_DIR\n' >&2; exit 2; }
build=${1%/}
hotalloc=$build/hotalloc
root=$(cd "$(dirname "$0")/.." && pwd) || die "cannot find the source tree"
real=$root/bench/real
runs=${BENCH_RUNS:-5}
analyzer_runs=${BENCH_ANALYZER_RUNS:-5}
scale=${BENCH_SCALE:-1}
sample=${BENCH_SAMPLE:-524288}
heaptrack=${BENCH_HEAPTRACK:-heaptrack}
heaptrack_print=${BENCH_HEAPTRACK_PRINT:-heaptrack_print}
heaptrack_mem=${BENCH_HEAPTRACK_MEM:-6144}
heaptrack_timeout=${BENCH_HEAPTRACK_TIMEOUT:-}
timer=${BENCH_TIMER:-auto}

positive() {
	case $2 in
	'' | *[!0-9]* | 0*) die "$1 '$2' is not a positive whole number" ;;
	esac
}
positive BENCH_RUNS "$runs"
positive BENCH_ANALYZER_RUNS "$analyzer_runs"
positive BENCH_SAMPLE "$sample"
positive BENCH_HEAPTRACK_MEM "$heaptrack_mem"
[ -z "$heaptrack_timeout" ] || positive BENCH_HEAPTRACK_TIMEOUT "$heaptrack_timeout"
[ "$analyzer_runs" -le "$runs" ] || analyzer_runs=$runs
awk -v s="$scale" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ && s + 0 > 0) }' ||
	die "BENCH_SCALE '$scale' is not a positive number"
command -v python3 >/dev/null || die "cannot find 'python3', needed for the statistics"
[ -x "$hotalloc" ] || die "cannot find '$hotalloc'; run 'make' first"
command -v timeout >/dev/null || die "cannot find 'timeout' (coreutils), needed for heaptrack"
case $timer in
auto) if [ -x /usr/bin/time ]; then timer='time'; else timer='python'; fi ;;
time) [ -x /usr/bin/time ] || die "BENCH_TIMER=time but '/usr/bin/time' is missing" ;;
python) ;;
*) die "BENCH_TIMER '$timer' is not one of auto, time, python" ;;
esac
if command -v "$heaptrack" >/dev/null 2>&1; then
	heaptrack_version=$("$heaptrack" --version 2>/dev/null | head -n 1)
else
	heaptrack=
	heaptrack_version=
fi
# heaptrack_print is only timed on heaptrack's own files.
if [ -n "$heaptrack" ] && command -v "$heaptrack_print" >/dev/null 2>&1; then
	heaptrack_print_version=$("$heaptrack_print" --version 2>/dev/null | head -n 1)
else
	heaptrack_print=
	heaptrack_print_version=
fi
cc1=$(gcc -print-prog-name=cc1 2>/dev/null)
[ -x "$cc1" ] || die "cannot find gcc's cc1; run 'scripts/install-deps --bench'"

# Inputs generated before the first run: file | generator in bench/real/ and arguments.
# @N is a size, multiplied by BENCH_SCALE (at least 1).
inputs='insert.sql|gen-insert.py @48000
gen.c|gen-c.py @36'

# name | environment and command.  NAME=VALUE words first are the environment of every
# variant; a bare program name is a workload of bench/ in BUILD/bench/; {real} stands for
# bench/real, {gen} for the generated inputs' folder, {out} for a folder emptied before
# each run and {cc1} for gcc's cc1.  The default sizes give about the event counts of the
# issue's table: 40M, 24M, 24M, 16.6M, 4.8M, 4.8M, 6.3M, 3.7M, 3.9M and 1.1M, in this
# order; an untraced run lasts 0.4-2 s on a 2-core machine.
workloads='churn|churn @20000000
xthreads-2|xthreads 2 @12000000
xthreads-8|xthreads 8 @12000000
families|families @1037500
recurse-4|recurse 4 @2400000
recurse-256|recurse 256 @2400000
python3|PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 {real}/dictstr.py @73
perl|PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 /usr/bin/perl {real}/strhash.pl @66
sqlite3|/usr/bin/sqlite3 -bail -batch -init {gen}/insert.sql :memory:
cc1|{cc1} -quiet -O2 {gen}/gen.c -o {out}/gen.s'
# The workloads whose traces the analyzers are timed on.
analyzed=' churn xthreads-8 '

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-bench.XXXXXX") || die "cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
gen=$tmp/gen
mkdir "$gen" || die "cannot create '$gen'"

# size N: N times BENCH_SCALE, rounded, at least 1.
size() {
	awk -v n="$1" -v s="$scale" 'BEGIN { v = int(n * s + 0.5); printf "%d", v < 1 ? 1 : v }'
}

# timed ERRFILE CMD...: runs CMD (stdout discarded, stderr to ERRFILE) and sets
# wall, cpu (seconds), rss (peak resident set of its largest process, KiB) and status.
# With /usr/bin/time, wall is EPOCHREALTIME around it (time's %e has only centiseconds);
# with python3, the helper's own clock.
timed() {
	local err=$1 t0 t1 line
	shift
	: >"$tmp/cpu"
	t0=$EPOCHREALTIME
	if [ "$timer" = time ]; then
		/usr/bin/time -f '%U %S %M' -o "$tmp/cpu" "$@" </dev/null >/dev/null 2>"$err"
	else
		python3 "$root/bench/timer.py" "$tmp/cpu" "$err" "$@"
	fi
	status=$?
	t1=$EPOCHREALTIME
	# GNU time puts "Command exited with non-zero status N" before the figures.
	line=$(tail -n 1 "$tmp/cpu")
	cpu=$(printf '%s\n' "$line" | awk 'NF >= 2 { printf "%.6f", $1 + $2 }')
	[ -n "$cpu" ] || cpu=nan
	rss=$(printf '%s\n' "$line" | awk 'NF >= 3 { printf "%d", $3 }')
	[ -n "$rss" ] || rss=nan
	wall=$(printf '%s\n' "$line" | awk 'NF == 4 { printf "%.6f", $4 }')
	[ -n "$wall" ] || wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
}

# last_messages ERRFILE: its last lines, indented, on stderr.
last_messages() {
	if [ -s "$1" ]; then
		printf '%s: its last messages:\n' "$prog" >&2
		tail -n 5 "$1" | sed 's/^/    /' >&2
	fi
}

# fail_run WHAT ERRFILE: the message for a run that failed, with its last stderr lines.
fail_run() {
	printf '%s: error: %s exited with status %s\n' "$prog" "$1" "$status" >&2
	last_messages "$2"
	exit 1
}

# report_json TRACE WHAT: `hotalloc report --format json` of TRACE into $tmp/report.json.
report_json() {
	"$hotalloc" report --format json "$1" >"$tmp/report.json" 2>"$tmp/stderr" ||
		{ status=$?; fail_run "'hotalloc report' of the $2" "$tmp/stderr"; }
}

# report_field KEY WHAT: from $tmp/report.json, "calls" (the sum of the calls, with a
# warning if events were lost), "bytes" (totals.bytes_allocated) or "sample"
# (trace.sample_bytes, 0 in a full trace).
report_field() {
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
if sys.argv[2] == "calls":
    if r["trace"]["lost_events"]:
        sys.stderr.write("bench: warning: the %s lost %d events\n"
                         % (sys.argv[3], r["trace"]["lost_events"]))
    print(sum(r["calls"].values()))
elif sys.argv[2] == "bytes":
    print(r["totals"]["bytes_allocated"])
else:
    print(r["trace"].get("sample_bytes", 0))' "$tmp/report.json" "$1" "$2" ||
		die "cannot read the JSON report of the $2"
}

results=$tmp/results.tsv	# workload variant run wall cpu rss trace_bytes estimated_bytes
meta=$tmp/meta.tsv		# workload events exact_bytes command
analysis=$tmp/analysis.tsv	# workload analyzer run wall cpu rss input_bytes
failures=$tmp/failures.tsv	# workload tool reason
keep=$tmp/keep			# the traces the analyzers are timed on
: >"$results"
: >"$meta"
: >"$analysis"
: >"$failures"
mkdir "$keep" || die "cannot create '$keep'"
started=$EPOCHREALTIME

while IFS='|' read -r file spec; do
	args=()
	for word in $spec; do
		case $word in
		@*) word=$(size "${word#@}") ;;
		esac
		args+=("$word")
	done
	printf '%s: generating %s (%s)\n' "$prog" "$file" "${args[*]}" >&2
	python3 "$real/${args[0]}" "${args[@]:1}" >"$gen/$file" 2>"$tmp/stderr" ||
		{ status=$?; fail_run "'bench/real/${args[0]}'" "$tmp/stderr"; }
done <<<"$inputs"

while IFS='|' read -r name spec; do
	envs=()
	cmd=()
	words=()	# the command as shown: short names, no temporary paths
	for word in $spec; do
		if [ ${#cmd[@]} -eq 0 ] && [[ $word == [A-Z]*=* ]]; then
			envs+=("$word")
			words+=("$word")
			continue
		fi
		case $word in
		@*) word=$(size "${word#@}") ;;
		esac
		short=${word//\{real\}/bench/real}
		short=${short//\{gen\}\//}
		short=${short//\{out\}\//}
		word=${word//\{real\}/$real}
		word=${word//\{gen\}/$gen}
		word=${word//\{out\}/$tmp/out}
		word=${word//\{cc1\}/$cc1}
		if [ ${#cmd[@]} -eq 0 ]; then
			case $word in
			*/*) [ -x "$word" ] || die "cannot find '$word'; run 'scripts/install-deps --bench'" ;;
			*) word=$build/bench/$word
			   [ -x "$word" ] || die "cannot find '$word'; run 'make bench'" ;;
			esac
			short=${word##*/}
		fi
		cmd+=("$word")
		words+=("$short")
	done
	shown="${words[*]}"
	variants=(untraced hotalloc sampled)
	[ -n "$heaptrack" ] && variants+=(heaptrack)
	events=
	exact=
	base_wall=
	heaptrack_failed=
	# The workload's environment holds for every variant (and the timer, if python).
	for word in "${envs[@]}"; do
		# shellcheck disable=SC2163 # word is NAME=VALUE
		export "$word"
	done

	for ((run = 1; run <= runs; run++)); do
		printf '%s: %s, round %d of %d\n' "$prog" "$shown" "$run" "$runs" >&2
		for ((i = 0; i < ${#variants[@]}; i++)); do
			variant=${variants[(i + run - 1) % ${#variants[@]}]}
			bytes=
			estimated=
			rm -rf "$tmp/out"
			mkdir "$tmp/out"
			case $variant in
			untraced)
				timed "$tmp/stderr" "${cmd[@]}"
				[ "$status" -eq 0 ] || fail_run "untraced '$shown'" "$tmp/stderr"
				[ -n "$base_wall" ] || base_wall=$wall
				;;
			hotalloc)
				trace=$tmp/out/run.trace
				timed "$tmp/stderr" "$hotalloc" record -o "$trace" -- "${cmd[@]}"
				[ "$status" -eq 0 ] || fail_run "'hotalloc record' of '$shown'" "$tmp/stderr"
				[ -f "$trace" ] || die "'hotalloc record' of '$shown' wrote no trace '$trace'"
				bytes=$(stat -c %s "$trace")
				if [ -z "$events" ]; then
					# The real count of calls and bytes, from the tracer's own report.
					report_json "$trace" "trace of '$shown'"
					events=$(report_field calls "trace of '$shown'") || exit 1
					exact=$(report_field bytes "trace of '$shown'") || exit 1
				fi
				if [[ $analyzed == *" $name "* && ! -e $keep/$name.trace ]]; then
					mv "$trace" "$keep/$name.trace" || die "cannot keep the trace of '$shown'"
				fi
				;;
			sampled)
				trace=$tmp/out/run.trace
				HOTALLOC_SAMPLE=$sample timed "$tmp/stderr" "$hotalloc" record -o "$trace" -- "${cmd[@]}"
				[ "$status" -eq 0 ] || fail_run "'HOTALLOC_SAMPLE=$sample hotalloc record' of '$shown'" "$tmp/stderr"
				[ -f "$trace" ] || die "'hotalloc record' of '$shown' wrote no trace '$trace'"
				bytes=$(stat -c %s "$trace")
				report_json "$trace" "sampled trace of '$shown'"
				estimated=$(report_field bytes "sampled trace of '$shown'") || exit 1
				if [ "$run" -eq 1 ] && [ "$(report_field sample "sampled trace of '$shown'")" != "$sample" ]; then
					warn "the trace of 'HOTALLOC_SAMPLE=$sample hotalloc record' of '$shown' is not sampled at $sample bytes"
				fi
				;;
			heaptrack)
				[ -z "$heaptrack_failed" ] || continue
				limit=$heaptrack_timeout
				[ -n "$limit" ] || limit=$(awk -v w="$base_wall" 'BEGIN { printf "%d", 60 + 40 * w }')
				# ulimit -v caps each process that heaptrack starts; timeout signals
				# its whole process group.
				# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
				timed "$tmp/stderr" sh -c 'ulimit -v "$0" && exec "$@"' "$((heaptrack_mem * 1024))" \
					timeout -k 5 "$limit" "$heaptrack" -o "$tmp/out/run" "${cmd[@]}"
				# run.zst, or run.gz when heaptrack found no zstd.
				out=("$tmp/out/run".*)
				if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
					heaptrack_failed="timed out after $limit s"
				elif [ "$status" -ne 0 ]; then
					heaptrack_failed="exit status $status (memory cap $heaptrack_mem MiB)"
				elif [ ! -s "${out[0]}" ]; then
					heaptrack_failed="no output file (memory cap $heaptrack_mem MiB)"
				fi
				if [ -n "$heaptrack_failed" ]; then
					warn "heaptrack of '$shown' failed in round $run: $heaptrack_failed; its column shows 'failed'"
					last_messages "$tmp/stderr"
					printf '%s\theaptrack\t%s\n' "$name" "$heaptrack_failed" >>"$failures"
					continue
				fi
				bytes=$(stat -c %s "${out[0]}")
				if [[ $analyzed == *" $name "* && ! -e $keep/$name.heaptrack ]]; then
					# heaptrack_print tells .zst from .gz by the name.
					mkdir "$keep/$name.heaptrack" &&
						mv "${out[0]}" "$keep/$name.heaptrack/" ||
						die "cannot keep heaptrack's file of '$shown'"
				fi
				;;
			esac
			printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$name" "$variant" "$run" "$wall" "$cpu" \
				"$rss" "${bytes:--}" "${estimated:--}" >>"$results"
		done
	done
	for word in "${envs[@]}"; do
		unset "${word%%=*}"
	done
	printf '%s\t%s\t%s\t%s\n' "$name" "$events" "$exact" "$shown" >>"$meta"
done <<<"$workloads"
rm -rf "$tmp/out"

# The analyzers, each on its own tool's file of the same workload.
while IFS=$'\t' read -r name events exact shown; do
	[[ $analyzed == *" $name "* ]] || continue
	analyzers=(hotalloc)
	[ -n "$heaptrack_print" ] && [ -d "$keep/$name.heaptrack" ] && analyzers+=(heaptrack_print)
	for ((run = 1; run <= analyzer_runs; run++)); do
		printf '%s: analyzing the traces of %s, round %d of %d\n' "$prog" "$shown" "$run" \
			"$analyzer_runs" >&2
		for ((i = 0; i < ${#analyzers[@]}; i++)); do
			analyzer=${analyzers[(i + run - 1) % ${#analyzers[@]}]}
			case $analyzer in
			hotalloc)
				input=$keep/$name.trace
				timed "$tmp/stderr" "$hotalloc" report --format json "$input"
				[ "$status" -eq 0 ] || fail_run "'hotalloc report' of the trace of '$shown'" "$tmp/stderr"
				;;
			heaptrack_print)
				files=("$keep/$name.heaptrack"/*)
				input=${files[0]}
				timed "$tmp/stderr" "$heaptrack_print" -f "$input"
				[ "$status" -eq 0 ] || fail_run "heaptrack_print of heaptrack's file of '$shown'" "$tmp/stderr"
				;;
			esac
			printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$name" "$analyzer" "$run" "$wall" "$cpu" \
				"$rss" "$(stat -c %s "$input")" >>"$analysis"
		done
	done
done <"$meta"
rm -rf "$keep"

elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
{
	printf 'runs\t%s\n' "$runs"
	printf 'analyzer_runs\t%s\n' "$analyzer_runs"
	printf 'scale\t%s\n' "$scale"
	printf 'sample_bytes\t%s\n' "$sample"
	printf 'cpu_timer\t%s\n' "$timer"
	printf 'heaptrack\t%s\n' "$heaptrack_version"
	printf 'heaptrack_print\t%s\n' "$heaptrack_print_version"
	printf 'heaptrack_memory_cap_mib\t%s\n' "$heaptrack_mem"
	printf 'heaptrack_timeout_s\t%s\n' "${heaptrack_timeout:-auto}"
	printf 'elapsed_s\t%s\n' "$elapsed"
} >"$tmp/settings.tsv"
python3 "$root/bench/summary.py" "$tmp" "$build/bench.json" || die "cannot write the summary"
printf '%s: done in %s s; JSON in %s\n' "$prog" "$elapsed" "$build/bench.json" >&2
