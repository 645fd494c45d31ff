#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stack-cache tests: the tracer's per-thread stack cache (preload/unwind.c) must give
# every allocation exactly the stack that plain libunwind gives.  Each scenario of
# tests/workloads/stackpaths.c and stackpaths_cc.cc (paths that reach one leaf at one
# depth, alloca and VLA frames, thousands of recursive paths, longjmp, C++ exceptions,
# signal handlers, realigned frames, fork, threads) is traced twice, with
# HOTALLOC_STACK_CACHE=0 and with the cache, and checked:
#   NAME/same    the two JSON reports have the same sites: symbolized stacks
#                (function, file, line of every frame; not addresses) and counts
#   NAME/plain   the run without the cache has the sites and counts the workload
#                was designed to make (its "expect" lines: tests/stackcache_cmp.py)
#   NAME/cached  so has the run with the cache
#   NAME/used    HOTALLOC_DEBUG_SCACHE=1's exit line: no hit and no miss without the
#                cache; hits and misses with it; for samedepth, hits > 90% of the
#                allocations
#
# Usage: tests/stackcache.sh BUILD_DIR [SCENARIO...]
#   BUILD_DIR holds hotalloc and libhotalloc.so; the workloads are built into
#   BUILD_DIR/tests/ when missing or older than their sources.  Scenarios: samedepth
#   alloca recursion longjmp signal align fork threads mixed exceptions
#   exceptions-threads (default: all).
# Prints "ok NAME" or "FAIL NAME: ..." per check, "# " lines with details, and last
# "N passed, N failed"; exits 1 if a check failed.  The temporary folder (traces,
# reports, outputs) is kept when a check failed, or always with KEEP=1.
# Environment: STACKCACHE_TIMEOUT (seconds per command, default 120), PYTHON.
set -u

ALL="samedepth alloca recursion longjmp signal align fork threads mixed exceptions exceptions-threads"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '3,26p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$(cd "$1" 2>/dev/null && pwd -P) || {
	echo "stackcache.sh: error: cannot enter build directory '$1'" >&2
	exit 2
}
shift
SCENARIOS=${*:-$ALL}
for s in $SCENARIOS; do
	case " $ALL " in
	*" $s "*) ;;
	*) echo "stackcache.sh: error: unknown scenario '$s'; scenarios are: $ALL" >&2; exit 2 ;;
	esac
done

# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

HA=$BUILD/hotalloc
PY=${PYTHON:-python3}
CMP=$ROOT/tests/stackcache_cmp.py
TIMEOUT=${STACKCACHE_TIMEOUT:-120}
DEPTH=64	# HOTALLOC_DEPTH's default: the stacks of "recursion" are cut there
HIT_PERCENT=90
START=$(date +%s%N)

# ---- set-up: the tool, the library, the workloads (tests/workloads.mk's flags) ----

CFLAGS_WL="-O1 -g -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -pthread"
CXXFLAGS_WL="-O1 -g -std=c++17 -Wall -Wextra -Wshadow -Werror -pthread"

# build OUT COMPILER FLAGS SOURCE: compiles SOURCE (relative to ROOT, so the
# debug information names it tests/workloads/...) when OUT is missing or stale.
build() {
	local out=$1 cc=$2 flags=$3 src=$4
	if [ -x "$out" ] && [ "$out" -nt "$ROOT/$src" ] && [ "$out" -nt "$ROOT/tests/workloads/workload.h" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$out")"
	# shellcheck disable=SC2086
	(cd "$ROOT" && $cc $flags -o "$out" "$src")
}

setup_ok=1
for f in "$HA" "$BUILD/libhotalloc.so"; do
	[ -e "$f" ] || { fail "setup: '$f' does not exist (run make first)"; setup_ok=0; }
done
build "$BUILD/tests/stackpaths" "${CC:-cc}" "$CFLAGS_WL" tests/workloads/stackpaths.c ||
	{ fail "setup: cannot build tests/workloads/stackpaths.c"; setup_ok=0; }
build "$BUILD/tests/stackpaths_cc" "${CXX:-c++}" "$CXXFLAGS_WL" tests/workloads/stackpaths_cc.cc ||
	{ fail "setup: cannot build tests/workloads/stackpaths_cc.cc"; setup_ok=0; }
[ "$setup_ok" = 1 ] || { finish; exit; }
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-stackcache.XXXXXX")

# ---- one scenario ----

# record DIR CACHE(0|1) NTRACES CMD...: traces CMD in DIR (stdout DIR/out, stderr
# DIR/err) and reports every trace into DIR/N.json, listed in DIR/reports.
# Prints a reason and returns 1 when something is missing.
record() {
	local dir=$1 cache=$2 ntraces=$3 status n k=0 t
	shift 3
	mkdir -p "$dir"
	if [ "$cache" = 0 ]; then
		(cd "$dir" && HOTALLOC_STACK_CACHE=0 HOTALLOC_DEBUG_SCACHE=1 \
			timeout "$TIMEOUT" "$HA" record -- "$@" >out 2>err)
	else
		(cd "$dir" && HOTALLOC_DEBUG_SCACHE=1 timeout "$TIMEOUT" "$HA" record -- "$@" >out 2>err)
	fi
	status=$?
	if [ "$status" -ne 0 ]; then
		echo "exit status expected 0 got $status (stderr: $(tail -n 2 "$dir/err" | tr '\n' '|'))"
		return 1
	fi
	sed -n "s/^hotalloc: trace written to '\(.*\)'\$/\1/p" "$dir/err" >"$dir/traces"
	n=$(wc -l <"$dir/traces")
	if [ "$n" -ne "$ntraces" ]; then
		echo "traces expected $ntraces got $n"
		return 1
	fi
	: >"$dir/reports"
	while IFS= read -r t; do
		k=$((k + 1))
		if ! "$HA" report --format json "$t" >"$dir/$k.json" 2>"$dir/$k.err"; then
			echo "report of '$t' failed: $(tail -n 1 "$dir/$k.err")"
			return 1
		fi
		echo "$dir/$k.json" >>"$dir/reports"
	done <"$dir/traces"
}

# The "hits misses" of each exit line of HOTALLOC_DEBUG_SCACHE in FILE, one per line.
scache_counts() {
	sed -n 's/^hotalloc: debug: stack cache: \([0-9]*\) hits, \([0-9]*\) misses$/\1 \2/p' "$1"
}

scenario() {
	local name=$1 dir=$TMPROOT/$1 ntraces=1 src=stackpaths.c why counts hits misses allocs line
	local -a cmd plain cached
	case "$name" in
	exceptions) cmd=("$BUILD/tests/stackpaths_cc" exceptions); src=stackpaths_cc.cc ;;
	exceptions-threads) cmd=("$BUILD/tests/stackpaths_cc" threads); src=stackpaths_cc.cc ;;
	fork) cmd=("$BUILD/tests/stackpaths" fork); ntraces=2 ;;
	*) cmd=("$BUILD/tests/stackpaths" "$name") ;;
	esac
	for mode in plain cached; do
		why=$(record "$dir/$mode" "$([ $mode = plain ] && echo 0 || echo 1)" "$ntraces" "${cmd[@]}") || {
			fail "$name/$mode: $why"
			KEEP_TMP=1
			return
		}
	done
	# The workload's expectations do not depend on the tracer.
	if ! cmp -s "$dir/plain/out" "$dir/cached/out"; then
		fail "$name/expect: the workload's expect lines differ between the runs ($(diff "$dir/plain/out" "$dir/cached/out" | head -n 2 | tr '\n' '|'))"
		KEEP_TMP=1
	fi
	# NAME/same, NAME/plain, NAME/cached (see stackcache_cmp.py).
	mapfile -t plain <"$dir/plain/reports"
	mapfile -t cached <"$dir/cached/reports"
	allocs=
	while IFS= read -r line; do
		case "$line" in
		"ok "*) ok "${line#ok }" ;;
		"FAIL "*) fail "${line#FAIL }"; KEEP_TMP=1 ;;
		"allocations "*) allocs=${line#allocations } ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done < <("$PY" "$CMP" "$name" "$dir/plain/out" "$src" "$DEPTH" "${plain[@]}" -- "${cached[@]}" 2>&1)
	if [ -z "$allocs" ]; then
		fail "$name/check: stackcache_cmp.py gave no verdict"
		KEEP_TMP=1
		return
	fi

	# The cache was off, then used (of fork's two exit lines, the parent's is last).
	counts=$(scache_counts "$dir/plain/err" | sort -u | tr '\n' ' ')
	if [ "$counts" != "0 0 " ]; then
		fail "$name/used: without the cache expected '0 hits, 0 misses' got '$counts' (hits misses per process)"
		KEEP_TMP=1
		return
	fi
	read -r hits misses < <(scache_counts "$dir/cached/err" | tail -n 1)
	echo "# $name: cache: ${hits:-?} hits, ${misses:-?} misses, $allocs allocations"
	if [ -z "${hits:-}" ] || [ "$hits" -eq 0 ] || [ "$misses" -eq 0 ]; then
		fail "$name/used: with the cache expected hits and misses got '${hits:-none} hits, ${misses:-none} misses'"
		KEEP_TMP=1
	elif [ "$name" = samedepth ] && [ $((hits * 100)) -le $((allocs * HIT_PERCENT)) ]; then
		fail "$name/used: expected more than $HIT_PERCENT% of $allocs allocations to hit got $hits hits, $misses misses"
		KEEP_TMP=1
	else
		ok "$name/used"
	fi
}

# Milliseconds since $1 (a "date +%s%N").
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

KEEP_TMP=0
for s in $SCENARIOS; do
	t0=$(date +%s%N)
	scenario "$s"
	echo "# $s: $(ms_since "$t0") ms"
done
echo "# took $(ms_since "$START") ms"
if [ "$KEEP_TMP" = 1 ] || [ "${KEEP:-0}" = 1 ]; then
	echo "# kept $TMPROOT"
else
	rm -rf "$TMPROOT"
fi
finish
