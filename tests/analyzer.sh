#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Analyzer tests: workloads whose sites are known to the line (tests/workloads/
# leaksites.c, deepstack.c, regrow.c, temporary.c, grouping.c, widgets.cc, inlined.c)
# are traced for real, and what "hotalloc report" says about them is checked number by
# number: leaks and the peak charged to the lines that made them, whole symbolized
# stacks, realloc growth chains, temporary blocks, C++ names and inlined frames,
# --group-by, --sort and --top, several traces and --merge, and a golden text report.
#
# Usage: tests/analyzer.sh BUILD_DIR [CASE...]
#   BUILD_DIR holds hotalloc and libhotalloc.so; the workloads are built into
#   BUILD_DIR/tests/ with tests/workloads.mk if they are missing or stale.  Each
#   workload is traced once; then every CASE (default: all) runs with BUILD_DIR/hotalloc
#   and runs again with BUILD_DIR/asan/hotalloc (ASan + UBSan) when it exists, its
#   checks named "asan: ...".
# Prints "ok NAME" or "FAIL NAME: expected 'A' got 'B'" per check and last "N passed,
# N failed"; exits 1 if a check failed.  The temporary folder with the traces and the
# reports is kept (its path printed on a line starting with "#") when a check failed,
# or always with KEEP=1.  GOLDEN_UPDATE=1 writes tests/golden/leaksites.txt from this
# run instead of comparing with it.  Environment: ANALYZER_TIMEOUT (seconds per
# command, default 120), PYTHON (default python3).
#
# Line numbers are never written here: each allocating or calling line of a workload
# carries a marker comment ("/* @NAME */" or "// @NAME") and marker_line finds it.

# Cases are called by name (case_NAME); expressions in single quotes are Python.
# shellcheck disable=SC2317,SC2016
set -u

ALL_CASES="leak peak deepstack realloc temporary cxx inlined grouping sort golden multi"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$(cd "$1" 2>/dev/null && pwd -P) || {
	echo "analyzer.sh: error: cannot enter build directory '$1'" >&2
	exit 2
}
shift
CASES=${*:-$ALL_CASES}
for c in $CASES; do
	case " $ALL_CASES " in
	*" $c "*) ;;
	*) echo "analyzer.sh: error: unknown case '$c'; cases are: $ALL_CASES" >&2; exit 2 ;;
	esac
done

# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
HA=$BUILD/hotalloc
PY=${PYTHON:-python3}
QUERY=$ROOT/tests/analyzer_query.py
SRC=$ROOT/tests/workloads
GOLDEN=$ROOT/tests/golden/leaksites.txt
TIMEOUT=${ANALYZER_TIMEOUT:-120}
WORKLOADS="leaksites deepstack regrow temporary grouping widgets inlined"

# ---- set-up: the tool, the library and the workloads must exist ----
for f in "$HA" "$BUILD/libhotalloc.so"; do
	[ -e "$f" ] || fail "setup: '$f' does not exist (run make first)"
done
make -s -C "$ROOT" -f tests/workloads.mk BUILD="$BUILD" analyzer-workloads >/dev/null ||
	fail "setup: cannot build the workloads with tests/workloads.mk"
[ "$FAIL" -eq 0 ] || { finish; exit 1; }
W=$BUILD/tests
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-analyzer.XXXXXX")
TR=$TMPROOT/traces
mkdir -p "$TR"

# ---- helpers ----

# marker_line MARKER FILE: the line of tests/workloads/FILE that ends with the
# comment "@MARKER"; 0 (and a message on stderr) unless there is exactly one.
marker_line() {
	local n
	n=$(grep -nE "(/\*|//) @$1( \*/)?\$" "$SRC/$2" | cut -d: -f1)
	case "$n" in
	'' | *[!0-9]*)
		echo "analyzer.sh: marker '@$1' is not on exactly one line of $2" >&2
		echo 0
		;;
	*) echo "$n" ;;
	esac
}

# at FUNCTION FILE MARKER: "FUNCTION@tests/workloads/FILE:LINE", as where() prints it.
at() {
	echo "$1@tests/workloads/$2:$(marker_line "$3" "$2")"
}

# q REPORT EXPR [ARG]: the value of a Python expression over a JSON report, with ARG
# in the variable arg (see analyzer_query.py).
q() {
	"$PY" "$QUERY" "$@"
}

# expect NAME EXPECTED EXPR [ARG]: one check of EXPR over the current report, $REP.
# Checks are queued in $OUT/checks and run by run_checks when the case ends, all in
# one Python process.
CK_NAMES=()
CK_WANTS=()
expect() {
	CK_NAMES+=("$PFX$CASE: $1")
	CK_WANTS+=("$2")
	printf '%s\0%s\0%s\0' "$REP" "$3" "${4-}" >>"$OUT/checks"
}

# run_checks: runs the queued checks; each prints "ok NAME" or "FAIL NAME: ...".
run_checks() {
	local i=0 got
	[ "${#CK_NAMES[@]}" -gt 0 ] || return 0
	while IFS= read -r got && [ "$i" -lt "${#CK_NAMES[@]}" ]; do
		expect_eq "${CK_NAMES[i]}" "${CK_WANTS[i]}" "$got"
		i=$((i + 1))
	done < <("$PY" "$QUERY" --batch "$OUT/checks" 2>&1)
	while [ "$i" -lt "${#CK_NAMES[@]}" ]; do
		expect_eq "${CK_NAMES[i]}" "${CK_WANTS[i]}" "(no answer from analyzer_query.py)"
		i=$((i + 1))
	done
	CK_NAMES=()
	CK_WANTS=()
	rm -f "$OUT/checks"
}

# report OUT ARGS...: runs "hotalloc report ARGS" (the analyzer of this pass) with
# stdout in OUT and stderr in OUT.err; checks that it exits 0.  Returns its status.
report() {
	local out=$1 st why=""
	shift
	timeout "$TIMEOUT" "$HAR" report "$@" >"$out" 2>"$out.err"
	st=$?
	[ "$st" -eq 0 ] || why=" (stderr: $(tail -n 3 "$out.err" | tr '\n' '|' | cut -c1-400))"
	expect_eq "$PFX$CASE: report ${*//$TMPROOT\//} exits 0" 0 "$st$why"
	return "$st"
}

# record NAME [AS [OPTION...] [-- ARG...]]: traces workload NAME, run with the ARGs,
# into $TR/AS.trace (AS defaults to NAME), with the record OPTIONs given.
record() {
	local name=$1 as=${2:-$1} st opts=()
	shift 2 2>/dev/null || shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	timeout "$TIMEOUT" "$HA" record "${opts[@]}" -o "$TR/$as.trace" -- "$W/$name" "$@" \
		>"$TR/$as.out" 2>"$TR/$as.err"
	st=$?
	expect_eq "record $as: exit status" 0 "$st"
	[ -s "$TR/$as.trace" ] || fail "record $as: expected a trace in '$TR/$as.trace' got none ($(tail -n 2 "$TR/$as.err" | tr '\n' '|'))"
}

# ---- the cases: each writes its reports into $OUT, made with the analyzer $HAR ----

# 1. Leaks: exact blocks and bytes, charged to the function and line that allocated.
case_leak() {
	REP=$OUT/leak.json
	report "$REP" --format json "$TR/leaksites.trace" || return
	expect "totals allocations frees bytes" "70 61 21336" \
		'"%d %d %d" % (total("allocations"), total("frees"), total("bytes_allocated"))'
	expect "totals leaked_blocks" 9 'total("leaked_blocks")'
	expect "totals leaked_bytes" 536 'total("leaked_bytes")'
	expect "leak_late caller frame at its line" "$(at leak_late leaksites.c leak_late)" \
		'where(caller(site("leak_late")))'
	expect "leak_late leaked_blocks" 7 'site("leak_late")["leaked_blocks"]'
	expect "leak_late leaked_bytes" 336 'site("leak_late")["leaked_bytes"]'
	expect "keep_early caller frame at its line" "$(at keep_early leaksites.c keep_early)" \
		'where(caller(site("keep_early")))'
	expect "keep_early leaked_blocks" 2 'site("keep_early")["leaked_blocks"]'
	expect "keep_early leaked_bytes" 200 'site("keep_early")["leaked_bytes"]'
	expect "no other site leaks" "keep_early=200/2 leak_late=336/7" \
		'" ".join(sorted("%s=%d/%d" % (caller(s)["function"], s["leaked_bytes"], s["leaked_blocks"]) for s in sites() if s["leaked_blocks"] or s["leaked_bytes"]))'
}

# 2. The peak: its exact size and time, and each site's part of it.
case_peak() {
	local t3
	REP=$OUT/peak.json
	report "$REP" --format json "$TR/leaksites.trace" || return
	expect "totals peak_bytes" 20200 'total("peak_bytes")'
	expect "hold_b (made the peak) at its line" "$(at hold_b leaksites.c hold_b)" \
		'where(caller(site("hold_b")))'
	expect "hold_b peak_bytes" 12000 'site("hold_b")["peak_bytes"]'
	expect "hold_a peak_bytes" 8000 'site("hold_a")["peak_bytes"]'
	expect "keep_early peak_bytes" 200 'site("keep_early")["peak_bytes"]'
	expect "churn_small and leak_late peak_bytes" "0 0" \
		'"%d %d" % (site("churn_small")["peak_bytes"], site("leak_late")["peak_bytes"])'
	expect "sites' peak_bytes add up to the peak" 20200 'sum(s["peak_bytes"] for s in sites())'
	# The peak is first reached by the third 4000-byte malloc; the dump has its time.
	t3=$("$HA" dump "$TR/leaksites.trace" |
		awk '$3 == "malloc" && $5 == "size=4000" && ++n == 3 { printf "%.6g", $1 / 1e9 }')
	expect "peak_time_s is the third hold_b block's time" "${t3:-none in the dump}" \
		'"%.6g" % total("peak_time_s")'
}

# 3. Four sites behind a 14-deep chain: every frame in order, and exact counts.
case_deepstack() {
	local k i n size want
	REP=$OUT/deepstack.json
	report "$REP" --format json "$TR/deepstack.trace" || return
	expect "sites_total" 4 'd["sites_total"]'
	expect "totals allocations" 10000 'total("allocations")'
	n=0
	for k in a b c d; do
		n=$((n + 1000))
		size=$((32 << (n / 1000 - 1)))
		want="$(at "site_$k" deepstack.c "alloc_$k") < $(at chain_14 deepstack.c "site_$k")"
		for i in 13 12 11 10 09 08 07 06 05 04 03 02 01; do
			want="$want < $(at "chain_$i" deepstack.c "chain_$(printf '%02d' $((10#$i + 1)))")"
		done
		want="$want < $(at main deepstack.c chain_01)"
		expect "site_$k: its 16 frames to main, in order, with lines" "$want" \
			'chain(site(arg), 16)' "site_$k"
		expect "site_$k: caller frame 0; the 16 frames in the workload, not inlined" \
			"0: deepstack" \
			'"%d: " % site(arg)["caller_frame"] + ", ".join(sorted(set(f["module"].split("/")[-1] + (" inlined" if f["inlined"] else "") for f in site(arg)["stack"][:16])))' \
			"site_$k"
		expect "site_$k: libc's start-up below main" "libc.so.6" \
			'site(arg)["stack"][16]["module"].split("/")[-1]' "site_$k"
		expect "site_$k allocations" "$n" 'site(arg)["allocations"]' "site_$k"
		expect "site_$k bytes" "$((n * size))" 'site(arg)["bytes"]' "site_$k"
	done
}

# 4. Realloc growth chains: 100 buffers grown 8 times each by one realloc line.
case_realloc() {
	REP=$OUT/realloc.json
	report "$REP" --format json "$TR/regrow.trace" || return
	expect "calls realloc malloc free" "850 50 150" \
		'"%d %d %d" % (d["calls"]["realloc"], d["calls"]["malloc"], d["calls"]["free"])'
	expect "totals allocations frees" "900 900" '"%d %d" % (total("allocations"), total("frees"))'
	expect "totals realloc_chains" 100 'total("realloc_chains")'
	expect "grow_buffer's realloc line is the site" "$(at grow_buffer regrow.c grow_realloc)" \
		'where(caller(site("grow_buffer")))'
	expect "grow_buffer allocations" 800 'site("grow_buffer")["allocations"]'
	expect "grow_buffer realloc_chains.chains" 100 'site("grow_buffer")["realloc_chains"]["chains"]'
	expect "grow_buffer realloc_chains.reallocs" 700 'site("grow_buffer")["realloc_chains"]["reallocs"]'
	expect "grow_buffer realloc_chains.final_bytes_avg" 192 \
		'site("grow_buffer")["realloc_chains"]["final_bytes_avg"]'
	expect "grow_buffer hint mentions reserve capacity" "reserve capacity" \
		'"reserve capacity" if "reserve capacity" in (site("grow_buffer")["hint"] or "") else site("grow_buffer")["hint"]'
	expect "grow_once's malloc (grown once): allocations, no chain" "50 0" \
		'"%d %d" % ((s := site("grow_once", int(arg)))["allocations"], s["realloc_chains"]["chains"])' \
		"$(marker_line once_malloc regrow.c)"
	expect "grow_once's realloc (grown once): allocations, no chain" "50 0" \
		'"%d %d" % ((s := site("grow_once", int(arg)))["allocations"], s["realloc_chains"]["chains"])' \
		"$(marker_line once_realloc regrow.c)"

	# Chains longer than a live block's growth field holds (16,383), moved on the way.
	REP=$OUT/realloc-long.json
	report "$REP" --format json "$TR/regrow-long.trace" || return
	expect "long: totals realloc_chains" 2 'total("realloc_chains")'
	expect "long: freed chain: allocations, chains, reallocs, final bytes" "20000 1 19999 160000" \
		'"%d %d %d %d" % ((s := site("grow_long_freed", int(arg)))["allocations"], *s["realloc_chains"].values())' \
		"$(marker_line long_freed regrow.c)"
	expect "long: leaked chain: allocations, chains, reallocs, final bytes, leaked" "17000 1 16999 136000 1" \
		'"%d %d %d %d %d" % ((s := site("grow_long_leaked", int(arg)))["allocations"], *s["realloc_chains"].values(), s["leaked_blocks"])' \
		"$(marker_line long_leaked regrow.c)"
}

# 5. Temporary blocks: 500 + 1 + 200 freed before anything else was allocated, and
#    500 blocks that were not.
case_temporary() {
	REP=$OUT/temporary.json
	report "$REP" --format json "$TR/temporary.trace" || return
	expect "totals allocations" 1201 'total("allocations")'
	expect "totals temporary" 701 'total("temporary")'
	expect "each site at its line" "$(at batch_site temporary.c batch_site) $(at first_of_two temporary.c first_of_two) $(at pair_site temporary.c pair_site) $(at second_of_two temporary.c second_of_two) $(at spoiler_site temporary.c spoiler_site)" \
		'" ".join(sorted(where(caller(s)) for s in sites()))'
	expect "pair_site: 500 malloc+free pairs, 500 temporary" "500/500" \
		'"%d/%d" % (site("pair_site")["allocations"], site("pair_site")["temporary"])'
	expect "batch_site: 300 held past another allocation, 0 temporary" "300/0" \
		'"%d/%d" % (site("batch_site")["allocations"], site("batch_site")["temporary"])'
	expect "spoiler_site: 1 allocation, freed last, 1 temporary" "1/1" \
		'"%d/%d" % (site("spoiler_site")["allocations"], site("spoiler_site")["temporary"])'
	expect "first_of_two: 200 freed after second_of_two allocated, 0 temporary" "200/0" \
		'"%d/%d" % (site("first_of_two")["allocations"], site("first_of_two")["temporary"])'
	expect "second_of_two: 200, each the latest when freed, 200 temporary" "200/200" \
		'"%d/%d" % (site("second_of_two")["allocations"], site("second_of_two")["temporary"])'
}

# 6a. C++: demangled names, and the caller frame past libstdc++'s operator new.
case_cxx() {
	local fn
	REP=$OUT/cxx.json
	report "$REP" --format json "$TR/widgets.trace" || return
	for fn in "ns::Widget::make(int)" "ns::Box<double>::create(unsigned long)"; do
		case $fn in
		*make*) set -- widget_new make_call 120 3840 ;;
		*) set -- box_new create_call 80 6400 ;;
		esac
		expect "$fn: the caller frame, then main, with lines" \
			"$(at "$fn" widgets.cc "$1") < $(at main widgets.cc "$2")" \
			'" < ".join(where(f) for f in site(arg)["stack"][site(arg)["caller_frame"]:][:2])' "$fn"
		expect "$fn: frames above the caller frame are operator new in libstdc++" \
			"1: operator new(unsigned long) in libstdc++.so.6" \
			'"%d: " % site(arg)["caller_frame"] + ", ".join(f["function"] + " in " + f["module"].split("/")[-1] for f in site(arg)["stack"][:site(arg)["caller_frame"]])' \
			"$fn"
		expect "$fn: allocations and bytes" "$3 $4" \
			'"%(allocations)d %(bytes)d" % site(arg)' "$fn"
	done
}

# 6b. An always_inline function at -O2 shown as a frame of its own, marked inlined.
case_inlined() {
	REP=$OUT/inlined.json
	report "$REP" --format json "$TR/inlined.trace" || return
	expect "the inlined function is the caller frame" "$(at make_label inlined.c inline_malloc) inlined=True" \
		'where(caller(site("make_label"))) + " inlined=%s" % caller(site("make_label"))["inlined"]'
	expect "stack: make_label < label_user < main, with lines" \
		"$(at make_label inlined.c inline_malloc) < $(at label_user inlined.c inline_call) < $(at main inlined.c label_user)" \
		'chain(site("make_label"), 3)'
	expect "inlined flags of those frames" "True False False" \
		'" ".join(str(f["inlined"]) for f in site("make_label")["stack"][:3])'
	expect "allocations" 64 'site("make_label")["allocations"]'
}

# 7a. --group-by line and function merge the stacks that meet on a line or function.
case_grouping() {
	local node odd even
	node=$(marker_line new_node grouping.c)
	odd=$(marker_line odd_line grouping.c)
	even=$(marker_line even_line grouping.c)
	REP=$OUT/by-stack.json
	report "$REP" --format json "$TR/grouping.trace" || return
	expect "by stack: 4 sites" "4: new_node=200 new_node=300 two_lines=60 two_lines=60" \
		'"%d: " % d["sites_total"] + " ".join(sorted("%s=%d" % (caller(s)["function"], s["allocations"]) for s in sites()))'
	REP=$OUT/by-line.json
	report "$REP" --format json --group-by line "$TR/grouping.trace" || return
	expect "by line: 3 sites" 3 'd["sites_total"]'
	expect "by line: new_node's line, its key" "grouping.c:$node" \
		'site("new_node")["key"].split("/")[-1]'
	expect "by line: new_node's line has 2 stacks, summed" "stacks 2, allocations 500, bytes 16000, frees 500, temporary 500" \
		'"stacks %(stacks)d, allocations %(allocations)d, bytes %(bytes)d, frees %(frees)d, temporary %(temporary)d" % site("new_node")'
	expect "by line: two_lines' odd line, apart" "key grouping.c:$odd, stacks 1, allocations 60, bytes 3840" \
		'"key %s, stacks %d, allocations %d, bytes %d" % ((s := site("two_lines", int(arg)))["key"].split("/")[-1], s["stacks"], s["allocations"], s["bytes"])' \
		"$odd"
	expect "by line: two_lines' even line, apart" "key grouping.c:$even, stacks 1, allocations 60, bytes 5760" \
		'"key %s, stacks %d, allocations %d, bytes %d" % ((s := site("two_lines", int(arg)))["key"].split("/")[-1], s["stacks"], s["allocations"], s["bytes"])' \
		"$even"
	REP=$OUT/by-function.json
	report "$REP" --format json --group-by function "$TR/grouping.trace" || return
	expect "by function: 2 sites" 2 'd["sites_total"]'
	expect "by function: new_node" "key new_node, stacks 2, allocations 500, bytes 16000" \
		'"key %(key)s, stacks %(stacks)d, allocations %(allocations)d, bytes %(bytes)d" % site("new_node")'
	expect "by function: two_lines' two lines merged" "key two_lines, stacks 2, allocations 120, bytes 9600" \
		'"key %(key)s, stacks %(stacks)d, allocations %(allocations)d, bytes %(bytes)d" % site("two_lines")'
}

# 7b. --sort orders the rows by that figure (ties by bytes); --top N shows N rows.
case_sort() {
	REP=$OUT/sort-count.json
	report "$REP" --format json "$TR/leaksites.trace" || return
	expect "default sort is count" "churn_small=50 hold_a=8 leak_late=7 hold_b=3 keep_early=2" \
		'order("allocations")'
	expect "ranks" "[1, 2, 3, 4, 5]" '[s["rank"] for s in sites()]'
	REP=$OUT/sort-bytes.json
	report "$REP" --format json --sort bytes "$TR/leaksites.trace" || return
	expect "--sort bytes" "hold_b=12000 hold_a=8000 churn_small=800 leak_late=336 keep_early=200" \
		'order("bytes")'
	REP=$OUT/sort-leaked.json
	report "$REP" --format json --sort leaked "$TR/leaksites.trace" || return
	expect "--sort leaked" "leak_late=336 keep_early=200 hold_b=0 hold_a=0 churn_small=0" \
		'order("leaked_bytes")'
	REP=$OUT/sort-peak.json
	report "$REP" --format json --sort peak "$TR/leaksites.trace" || return
	expect "--sort peak" "hold_b=12000 hold_a=8000 keep_early=200 churn_small=0 leak_late=0" \
		'order("peak_bytes")'
	REP=$OUT/top2.json
	report "$REP" --format json --top 2 "$TR/leaksites.trace" || return
	expect "--top 2: 2 of 5 sites, the top two by count" "2 of 5: churn_small=50 hold_a=8" \
		'"%d of %d: " % (len(sites()), d["sites_total"]) + order("allocations")'
	REP=$OUT/top2-bytes.json
	report "$REP" --format json --top 2 --sort bytes "$TR/leaksites.trace" || return
	expect "--top 2 --sort bytes" "2 of 5: hold_b=12000 hold_a=8000" \
		'"%d of %d: " % (len(sites()), d["sites_total"]) + order("bytes")'
	report "$OUT/top2.txt" --top 2 "$TR/leaksites.trace" || return
	expect_eq "$PFX$CASE: --top 2 text: 2 site blocks" "Top 2 of 5 sites, 2 blocks" \
		"$(grep -o '^Top [0-9]* of [0-9]* sites' "$OUT/top2.txt"), $(grep -c '^#[0-9]' "$OUT/top2.txt") blocks"
}

# The text report with every run-dependent figure replaced: the workload's path, the
# pid, times ("47 ns", "1.2 ms", "2.50 s") and rates ("3.5 M/s", "27.9 k/s", "12 /s").
normalize() {
	sed -E -e "s#$W/#BUILD/tests/#g" \
		-e 's/^(  pid )[0-9]+/\1PID/' \
		-e 's#[0-9]+(\.[0-9]+)? [kM]?/s\b#RATE#g' \
		-e 's/\b[0-9]+(\.[0-9]+)? (ns|us|ms|s)\b/TIME/g' "$1"
}

# 8. The text report of leaksites against tests/golden/leaksites.txt.  With
#    --short-lived 60s every freed block is short-lived, so that no count (and no hint)
#    depends on how long the machine took; every time is normalized away.  The trace
#    keeps 2 frames per stack (record --depth 2): the site and main, not libc's
#    start-up frames, whose names depend on whether libc6-dbg is installed.
case_golden() {
	report "$OUT/golden.raw" --top 5 --short-lived 60s "$TR/leaksites-depth2.trace" || return
	normalize "$OUT/golden.raw" >"$OUT/golden.txt"
	if [ "${GOLDEN_UPDATE:-0}" = 1 ] && [ -z "$PFX" ]; then
		mkdir -p "$(dirname "$GOLDEN")"
		cp "$OUT/golden.txt" "$GOLDEN"
		echo "# wrote $GOLDEN"
	fi
	if diff -u "$GOLDEN" "$OUT/golden.txt" >"$OUT/golden.diff" 2>&1; then
		ok "$PFX$CASE: text report matches tests/golden/leaksites.txt"
	else
		sed 's/^/# /' "$OUT/golden.diff"
		fail "$PFX$CASE: text report: expected tests/golden/leaksites.txt got the difference above ($OUT/golden.diff)"
	fi
}

# 9. Several traces: an array in the order given, a folder's traces in name order,
#    and --merge as one object whose totals are the sums.
case_multi() {
	local a=$OUT/multi/leaksites.trace b=$OUT/multi/regrow.trace sums
	local keys="allocations frees bytes_allocated peak_bytes leaked_bytes leaked_blocks temporary
		short_lived realloc_chains cross_thread_frees failed_calls unmatched_frees reused_while_live"
	mkdir -p "$OUT/multi"
	cp "$TR/leaksites.trace" "$a"
	cp "$TR/regrow.trace" "$b"
	echo "not a trace" >"$OUT/multi/notes.txt"
	REP=$OUT/ab.json
	report "$REP" --format json "$a" "$b" || return
	expect "A B: an array of 2, in that order" "list of 2: leaksites.trace regrow.trace" \
		'"%s of %d: " % (type(d).__name__, len(d)) + " ".join(r["trace"]["file"].split("/")[-1] for r in d)'
	expect "A B: each its own totals" "70 900" \
		'" ".join(str(r["totals"]["allocations"]) for r in d)'
	sums=$(q "$REP" '" ".join("%s=%d" % (k, sum(r["totals"][k] for r in d)) for k in arg.split())' "$keys")
	REP=$OUT/ba.json
	report "$REP" --format json "$b" "$a" || return
	expect "B A: in that order" "list of 2: regrow.trace leaksites.trace" \
		'"%s of %d: " % (type(d).__name__, len(d)) + " ".join(r["trace"]["file"].split("/")[-1] for r in d)'
	REP=$OUT/dir.json
	report "$REP" --format json "$OUT/multi" || return
	expect "folder: its 2 traces, by name, notes.txt skipped" "list of 2: leaksites.trace regrow.trace" \
		'"%s of %d: " % (type(d).__name__, len(d)) + " ".join(r["trace"]["file"].split("/")[-1] for r in d)'
	REP=$OUT/merged.json
	report "$REP" --format json --merge "$a" "$b" || return
	expect "--merge: one object over 2 traces" "dict, merged 2" \
		'"%s, merged %d" % (type(d).__name__, len(d["merged"]))'
	expect "--merge: totals are the sums of A's and B's" "$sums" \
		'" ".join("%s=%d" % (k, total(k)) for k in arg.split())' "$keys"
	expect "--merge: the known sums" "970 961 122736 20400 536 9 100" \
		'" ".join(str(total(k)) for k in ("allocations", "frees", "bytes_allocated", "peak_bytes", "leaked_bytes", "leaked_blocks", "realloc_chains"))'
	expect "--merge: calls are the sums" "malloc=120 realloc=850 free=211" \
		'" ".join("%s=%d" % (k, d["calls"][k]) for k in ("malloc", "realloc", "free"))'
	REP=$OUT/merged-twice.json
	report "$REP" --format json --merge "$TR/leaksites.trace" "$TR/leaksites-again.trace" || return
	expect "--merge of two runs: a stack's sites meet" "5 sites: churn_small=2 hold_a=2 hold_b=2 keep_early=2 leak_late=2" \
		'"%d sites: " % d["sites_total"] + " ".join(sorted("%s=%d" % (caller(s)["function"], s["stacks"]) for s in sites()))'
	expect "--merge of two runs: counts doubled" "churn_small=100 hold_a=16 leak_late=14 hold_b=6 keep_early=4" \
		'order("allocations")'
}

# ---- the driver ----

for w in $WORKLOADS; do
	record "$w"
done
record leaksites leaksites-again
record leaksites leaksites-depth2 --depth 2
record regrow regrow-long -- long

# run_pass DIR PREFIX ANALYZER: every case with ANALYZER, check names starting with
# PREFIX, reports in $TMPROOT/DIR/CASE/.
run_pass() {
	local c
	PFX=$2
	HAR=$3
	for c in $CASES; do
		CASE=$c
		OUT=$TMPROOT/$1/$c
		mkdir -p "$OUT"
		"case_$c"
		run_checks
	done
}

run_pass plain "" "$HA"
if [ -x "$BUILD/asan/hotalloc" ]; then
	run_pass asan "asan: " "$BUILD/asan/hotalloc"
else
	echo "# no $BUILD/asan/hotalloc: the pass under ASan and UBSan is skipped"
fi

if [ "${KEEP:-0}" = 1 ] || [ "$FAIL" -ne 0 ]; then
	echo "# kept $TMPROOT"
else
	rm -rf "$TMPROOT"
fi
finish
