#!/bin/bash
# SPDX-License-Identifier: MIT
# bench.sh: times the workloads of bench/ untraced, under hotalloc and under heaptrack,
# and prints the tracers' overhead per workload; then times the analyzers, `hotalloc
# report --format json` against `heaptrack_print`, on one trace of churn and xthreads-8
# made by each tool (two tables on stdout, JSON in BUILD/bench.json).
#
# Usage: scripts/bench.sh BUILD_DIR          (`make bench` builds what it needs first)
#
#   BENCH_RUNS=3        runs of each variant; the table shows medians
#   BENCH_SCALE=1       multiplies every workload's size (0.05 for a CI smoke run)
#   BENCH_HEAPTRACK=heaptrack   the heaptrack command; a name that is not found (none)
#                       leaves heaptrack's columns "n/a"
#   BENCH_HEAPTRACK_PRINT=heaptrack_print   heaptrack's analyzer, likewise
#   BENCH_TIMER=auto    auto: /usr/bin/time for CPU time and peak RSS when present, else
#                       python3's getrusage(RUSAGE_CHILDREN); time or python forces one
#
# Wall time is taken around each run to the microsecond; CPU time is user + sys of the
# run and of every child it waited for (heaptrack's interpreter and zstd included).  Runs
# are interleaved, round after round, and the order of the three variants rotates from
# one round to the next so that a slow drift in the machine's load does not always land
# on the same one.  A run's stderr is kept only to be shown if it fails; any run that
# exits non-zero stops the script with status 1.  Progress goes to stderr.
#
# The analyzer table reuses the first traced run of each of its workloads: the trace
# that round 1 of `hotalloc record` wrote and the file that round 1 of heaptrack wrote.
# Each analyzer reads its own tool's file BENCH_RUNS times (interleaved, order rotating);
# events/s is the workload's event count (the calls in hotalloc's report) over the
# median wall time, and peak RSS is the analyzer's maximum resident set, in MiB.

set -u
export LC_ALL=C		# EPOCHREALTIME and printf use the C locale's decimal point

prog=bench
die() {
	printf '%s: error: %s\n' "$prog" "$1" >&2
	exit 1
}

[ $# -eq 1 ] || { printf 'usage: scripts/bench.sh BUILD_DIR\n' >&2; exit 2; }
build=${1%/}
hotalloc=$build/hotalloc
runs=${BENCH_RUNS:-3}
scale=${BENCH_SCALE:-1}
heaptrack=${BENCH_HEAPTRACK:-heaptrack}
heaptrack_print=${BENCH_HEAPTRACK_PRINT:-heaptrack_print}
timer=${BENCH_TIMER:-auto}

case $runs in
'' | *[!0-9]* | 0) die "BENCH_RUNS '$runs' is not a positive whole number" ;;
esac
awk -v s="$scale" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ && s + 0 > 0) }' ||
	die "BENCH_SCALE '$scale' is not a positive number"
command -v python3 >/dev/null || die "cannot find 'python3', needed for the statistics"
[ -x "$hotalloc" ] || die "cannot find '$hotalloc'; run 'make' first"
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

# name | program and arguments; @N is a size, multiplied by BENCH_SCALE (at least 1).
# Each default size makes an untraced run last about 0.2-0.5 s on a 2-core machine.
workloads='churn|churn @10000000
xthreads-2|xthreads 2 @2400000
xthreads-8|xthreads 8 @2400000
families|families @500000
recurse-4|recurse 4 @600000
recurse-256|recurse 256 @600000'
# The workloads whose traces the analyzers are timed on.
analyzed=' churn xthreads-8 '

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-bench.XXXXXX") || die "cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

cat >"$tmp/timer.py" <<'EOF'
# Runs argv[3:] with stdout discarded and stderr to argv[2]; writes "user sys maxrss wall"
# of it (CPU of its waited-for children included; maxrss in KiB, of its largest process)
# to argv[1]; exits with its status (128 + N after signal N).  Wall is timed here, so
# python's own start-up is not in it.
import resource, subprocess, sys, time
with open(sys.argv[2], "wb") as err:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run(sys.argv[3:], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=err).returncode
    t1 = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    out.write("%.6f %.6f %d %.6f\n" % (after.ru_utime - before.ru_utime,
                                       after.ru_stime - before.ru_stime,
                                       after.ru_maxrss, t1 - t0))
sys.exit(rc if rc >= 0 else 128 - rc)
EOF

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
		python3 "$tmp/timer.py" "$tmp/cpu" "$err" "$@"
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

# fail_run WHAT ERRFILE: the message for a run that failed, with its last stderr lines.
fail_run() {
	printf '%s: error: %s exited with status %s\n' "$prog" "$1" "$status" >&2
	if [ -s "$2" ]; then
		printf '%s: its last messages:\n' "$prog" >&2
		tail -n 5 "$2" | sed 's/^/    /' >&2
	fi
	exit 1
}

results=$tmp/results.tsv	# workload variant run wall cpu bytes
meta=$tmp/meta.tsv		# workload events command
analysis=$tmp/analysis.tsv	# workload analyzer run wall cpu rss input_bytes
keep=$tmp/keep			# the traces the analyzers are timed on
: >"$results"
: >"$meta"
: >"$analysis"
mkdir "$keep" || die "cannot create '$keep'"
started=$EPOCHREALTIME

while IFS='|' read -r name spec; do
	cmd=()
	for word in $spec; do
		case $word in
		@*) word=$(awk -v n="${word#@}" -v s="$scale" \
			'BEGIN { v = int(n * s + 0.5); printf "%d", v < 1 ? 1 : v }') ;;
		esac
		cmd+=("$word")
	done
	bin=$build/bench/${cmd[0]}
	[ -x "$bin" ] || die "cannot find '$bin'; run 'make bench'"
	cmd[0]=$bin
	shown="${cmd[*]#"$build/bench/"}"
	variants=(untraced hotalloc)
	[ -n "$heaptrack" ] && variants+=(heaptrack)
	events=

	for ((run = 1; run <= runs; run++)); do
		printf '%s: %s, round %d of %d\n' "$prog" "$shown" "$run" "$runs" >&2
		for ((i = 0; i < ${#variants[@]}; i++)); do
			variant=${variants[(i + run - 1) % ${#variants[@]}]}
			bytes=
			rm -rf "$tmp/out"
			mkdir "$tmp/out"
			case $variant in
			untraced)
				timed "$tmp/stderr" "${cmd[@]}"
				[ "$status" -eq 0 ] || fail_run "untraced '$shown'" "$tmp/stderr"
				;;
			hotalloc)
				trace=$tmp/out/run.trace
				timed "$tmp/stderr" "$hotalloc" record -o "$trace" -- "${cmd[@]}"
				[ "$status" -eq 0 ] || fail_run "'hotalloc record' of '$shown'" "$tmp/stderr"
				[ -f "$trace" ] || die "'hotalloc record' of '$shown' wrote no trace '$trace'"
				bytes=$(stat -c %s "$trace")
				if [ -z "$events" ]; then
					# The real count of calls, from the tracer's own report.
					"$hotalloc" report --format json "$trace" >"$tmp/report.json" 2>"$tmp/stderr" ||
						{ status=$?; fail_run "'hotalloc report' of the trace of '$shown'" "$tmp/stderr"; }
					events=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
if r["trace"]["lost_events"]:
    sys.stderr.write("bench: warning: trace of %s lost %d events\n"
                     % (sys.argv[2], r["trace"]["lost_events"]))
print(sum(r["calls"].values()))' "$tmp/report.json" "'$shown'") ||
						die "cannot read the JSON report of the trace of '$shown'"
				fi
				if [[ $analyzed == *" $name "* && ! -e $keep/$name.trace ]]; then
					mv "$trace" "$keep/$name.trace" || die "cannot keep the trace of '$shown'"
				fi
				;;
			heaptrack)
				timed "$tmp/stderr" "$heaptrack" -o "$tmp/out/run" "${cmd[@]}"
				[ "$status" -eq 0 ] || fail_run "heaptrack of '$shown'" "$tmp/stderr"
				# run.zst, or run.gz when heaptrack found no zstd.
				out=("$tmp/out/run".*)
				[ -f "${out[0]}" ] || die "heaptrack of '$shown' wrote no output in '$tmp/out'"
				bytes=$(stat -c %s "${out[0]}")
				if [[ $analyzed == *" $name "* && ! -e $keep/$name.heaptrack ]]; then
					# heaptrack_print tells .zst from .gz by the name.
					mkdir "$keep/$name.heaptrack" &&
						mv "${out[0]}" "$keep/$name.heaptrack/" ||
						die "cannot keep heaptrack's file of '$shown'"
				fi
				;;
			esac
			printf '%s\t%s\t%d\t%s\t%s\t%s\n' "$name" "$variant" "$run" "$wall" "$cpu" \
				"${bytes:--}" >>"$results"
		done
	done
	printf '%s\t%s\t%s\n' "$name" "$events" "$shown" >>"$meta"
done <<<"$workloads"
rm -rf "$tmp/out"

# The analyzers, each on its own tool's file of the same workload.
while IFS=$'\t' read -r name events shown; do
	[[ $analyzed == *" $name "* ]] || continue
	analyzers=(hotalloc)
	[ -n "$heaptrack_print" ] && [ -d "$keep/$name.heaptrack" ] && analyzers+=(heaptrack_print)
	for ((run = 1; run <= runs; run++)); do
		printf '%s: analyzing the traces of %s, round %d of %d\n' "$prog" "$shown" "$run" "$runs" >&2
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
python3 - "$results" "$meta" "$build/bench.json" "$runs" "$scale" "$timer" \
	"$heaptrack_version" "$elapsed" "$analysis" "$heaptrack_print_version" <<'EOF' || die "cannot write the summary"
import json, os, platform, statistics, sys, time

(results, meta, out_path, runs, scale, timer, ht_version, elapsed, analysis,
 htp_version) = sys.argv[1:]
samples = {}
for line in open(results):
    name, variant, run, wall, cpu, size = line.rstrip("\n").split("\t")
    s = samples.setdefault((name, variant), {"wall_s": [], "cpu_s": [], "bytes": []})
    s["wall_s"].append(float(wall))
    s["cpu_s"].append(None if cpu == "nan" else float(cpu))
    if size != "-":
        s["bytes"].append(int(size))

def median(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def ratio(a, b):
    return a / b if a is not None and b else None

workloads = []
for line in open(meta):
    name, events, command = line.rstrip("\n").split("\t")
    events = int(events)
    w = {"name": name, "command": command, "events": events}
    base = samples[(name, "untraced")]
    w["untraced"] = dict(base, wall_median_s=median(base["wall_s"]),
                         cpu_median_s=median(base["cpu_s"]))
    del w["untraced"]["bytes"]
    for tool in ("hotalloc", "heaptrack"):
        s = samples.get((name, tool))
        if s is None:
            w[tool] = None
            continue
        wall, cpu = median(s["wall_s"]), median(s["cpu_s"])
        extra = wall - w["untraced"]["wall_median_s"]
        w[tool] = dict(s, wall_median_s=wall, cpu_median_s=cpu,
                       wall_ratio=ratio(wall, w["untraced"]["wall_median_s"]),
                       cpu_ratio=ratio(cpu, w["untraced"]["cpu_median_s"]),
                       extra_wall_s=extra,
                       ns_per_event=extra / events * 1e9 if events else None,
                       bytes_per_event=ratio(median(s["bytes"]), events))
    ha, ht = w["hotalloc"], w["heaptrack"]
    w["hotalloc_extra_over_heaptrack_extra"] = (
        ratio(ha["extra_wall_s"], ht["extra_wall_s"]) if ht and ht["extra_wall_s"] > 0 else None)
    workloads.append(w)

# The analyzers: events per second of median wall, and peak RSS.
events_of = {w["name"]: w["events"] for w in workloads}
asamples = {}
for line in open(analysis):
    name, tool, run, wall, cpu, rss, size = line.rstrip("\n").split("\t")
    s = asamples.setdefault((name, tool), {"input_bytes": int(size), "wall_s": [],
                                           "cpu_s": [], "peak_rss_kib": []})
    s["wall_s"].append(float(wall))
    s["cpu_s"].append(None if cpu == "nan" else float(cpu))
    s["peak_rss_kib"].append(None if rss == "nan" else int(rss))
analyzers = []
for w in workloads:
    if (w["name"], "hotalloc") not in asamples:
        continue
    a = {"name": w["name"], "command": w["command"], "events": w["events"]}
    for tool in ("hotalloc", "heaptrack_print"):
        s = asamples.get((w["name"], tool))
        if s is None:
            a[tool] = None
            continue
        wall = median(s["wall_s"])
        a[tool] = dict(s, wall_median_s=wall, cpu_median_s=median(s["cpu_s"]),
                       peak_rss_median_kib=median(s["peak_rss_kib"]),
                       events_per_s=ratio(w["events"], wall))
    ha, htp = a["hotalloc"], a["heaptrack_print"]
    a["hotalloc_rate_over_heaptrack_print_rate"] = (
        ratio(ha["events_per_s"], htp["events_per_s"]) if htp else None)
    analyzers.append(a)

doc = {
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
             "load_average": list(os.getloadavg())},
    "runs": int(runs), "scale": float(scale), "cpu_timer": timer,
    "heaptrack": ht_version or None, "heaptrack_print": htp_version or None,
    "elapsed_s": float(elapsed),
    "notes": "medians over runs; ratios are traced/untraced; ns_per_event is "
             "(traced - untraced median wall) / events; events is the sum of the calls "
             "in hotalloc's report of one traced run; bytes_per_event uses the same count "
             "for both tools",
    "workloads": workloads,
    "analyzer": {
        "notes": "hotalloc: `hotalloc report --format json TRACE`; heaptrack_print: "
                 "`heaptrack_print -f FILE` on heaptrack's file of the same workload; both "
                 "read the file of round 1 of the tracing runs, output to /dev/null; "
                 "events_per_s is events / median wall; peak RSS (KiB) is of the "
                 "analyzer's largest process",
        "workloads": analyzers,
    },
}
with open(out_path + ".tmp", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(out_path + ".tmp", out_path)

def fmt(v, digits):
    return "n/a" if v is None else "%.*f" % (digits, v)

def get(w, tool, key):
    return w[tool][key] if w[tool] else None

head = ["workload", "events", "base s", "ha wall", "ha cpu", "ht wall", "ht cpu",
        "ha ns/ev", "ht ns/ev", "ha B/ev", "ht B/ev", "ha/ht extra"]
rows = [[w["name"], "{:,}".format(w["events"]), fmt(w["untraced"]["wall_median_s"], 3),
         fmt(get(w, "hotalloc", "wall_ratio"), 2), fmt(get(w, "hotalloc", "cpu_ratio"), 2),
         fmt(get(w, "heaptrack", "wall_ratio"), 2), fmt(get(w, "heaptrack", "cpu_ratio"), 2),
         fmt(get(w, "hotalloc", "ns_per_event"), 0), fmt(get(w, "heaptrack", "ns_per_event"), 0),
         fmt(get(w, "hotalloc", "bytes_per_event"), 2),
         fmt(get(w, "heaptrack", "bytes_per_event"), 2),
         fmt(w["hotalloc_extra_over_heaptrack_extra"], 2)] for w in workloads]
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                           for i, c in enumerate(r))
print(line(head))
for r in rows:
    print(line(r))
print("ha: hotalloc, ht: %s; medians of %s run(s) at BENCH_SCALE=%s; base s: untraced wall;"
      % (ht_version or "heaptrack not found", runs, scale))
print("wall, cpu: traced / untraced; ns/ev: extra wall per event; B/ev: trace bytes per event;")
print("ha/ht extra: hotalloc's extra wall / heaptrack's")

def scaled(v, by):
    return None if v is None else v / by

def aget(a, tool, key):
    return a[tool][key] if a[tool] else None

head = ["analyzer", "events", "ha MB", "ha s", "ha Mev/s", "ha RSS", "htp MB", "htp s",
        "htp Mev/s", "htp RSS", "ha/htp rate"]
rows = []
for a in analyzers:
    row = [a["name"], "{:,}".format(a["events"])]
    for tool in ("hotalloc", "heaptrack_print"):
        row += [fmt(scaled(aget(a, tool, "input_bytes"), 1e6), 1),
                fmt(aget(a, tool, "wall_median_s"), 3),
                fmt(scaled(aget(a, tool, "events_per_s"), 1e6), 2),
                fmt(scaled(aget(a, tool, "peak_rss_median_kib"), 1024), 1)]
    rows.append(row + [fmt(a["hotalloc_rate_over_heaptrack_print_rate"], 2)])
if rows:
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    print()
    print(line(head))
    for r in rows:
        print(line(r))
    print("ha: hotalloc report --format json, htp: %s; medians of %s run(s) on one trace"
          % (htp_version + " -f" if htp_version else "heaptrack_print not found", runs))
    print("of each workload; MB: input file (10^6 bytes); s: wall; Mev/s: million events per s;")
    print("RSS: peak resident MiB; ha/htp rate: hotalloc's events/s / heaptrack_print's")
EOF
printf '%s: done in %s s; JSON in %s\n' "$prog" "$elapsed" "$build/bench.json" >&2
