#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Clock tests: the tracer's timestamps (preload/clock.c) switch from CLOCK_MONOTONIC to
# the TSC 10 to 20 ms after start where the machine allows it (HOTALLOC_CLOCK=auto), and
# the traces must not change but for the cost.
#   stress/...   tests/unit/clock_stress.c: threads passing a token across the switch,
#                no stamp below the one it followed; the converted clock within 5 us
#                of CLOCK_MONOTONIC; its checks count here
#   MODE/used    HOTALLOC_DEBUG_CLOCK's exit line in the process and its fork child:
#                "tsc" in auto mode on a machine with an invariant TSC, rdtscp and the
#                kernel's clocksource tsc, "monotonic" otherwise and with
#                HOTALLOC_CLOCK=monotonic
#   MODE/...     tests/workloads/clocked.c traced in each MODE (auto, monotonic): sites
#                and counts as the workload states; each site's longest lifetime
#                between the program's own measurements from inside and outside the
#                malloc and free calls (1 us of slack: a 0.1% error in the TSC's rate
#                fails); handed-over blocks all paired; the traced duration no shorter
#                than main's own, no longer than the wall time measured here and at
#                least 90% of it; every thread's times in "hotalloc dump" in order; in
#                the process and its fork child
#   same/...     the two modes give the same totals, calls and sites, and the same
#                longest lifetimes (to 1% and the programs' own brackets) once divided
#                by what each program measured
#   bogus        HOTALLOC_CLOCK=bogus: one warning line, and the trace is made
#
# Usage: tests/clock.sh BUILD_DIR
#   BUILD_DIR holds hotalloc and libhotalloc.so; the workload and the stress test are
#   built into BUILD_DIR when missing or older than their sources.
# Prints "ok NAME" or "FAIL NAME: ..." per check, "# " lines with figures, and last
# "N passed, N failed"; exits 1 if a check failed.  The temporary folder is kept when a
# check failed, or always with KEEP=1.  Environment: CLOCK_TIMEOUT (seconds per
# command, default 120), PYTHON.
set -u

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '3,32p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$(cd "$1" 2>/dev/null && pwd -P) || {
	echo "clock.sh: error: cannot enter build directory '$1'" >&2
	exit 2
}

# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

HA=$BUILD/hotalloc
PY=${PYTHON:-python3}
CHECK=$ROOT/tests/clock_check.py
TIMEOUT=${CLOCK_TIMEOUT:-120}
WARN="-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror"

# build OUT FLAGS SOURCES...: compiles (in ROOT) when OUT is missing or older than a source.
build() {
	local out=$1 flags=$2 src fresh=1
	shift 2
	for src in "$@" tests/workloads/workload.h tests/workloads/handoff.h preload/internal.h; do
		[ "$out" -nt "$ROOT/$src" ] || fresh=0
	done
	[ -x "$out" ] && [ "$fresh" = 1 ] && return 0
	mkdir -p "$(dirname "$out")"
	# shellcheck disable=SC2086
	(cd "$ROOT" && ${CC:-cc} $flags -o "$out" "$@")
}

setup_ok=1
for f in "$HA" "$BUILD/libhotalloc.so"; do
	[ -e "$f" ] || { fail "setup: '$f' does not exist (run make first)"; setup_ok=0; }
done
build "$BUILD/tests/clocked" "-O1 -g $WARN -pthread" tests/workloads/clocked.c ||
	{ fail "setup: cannot build tests/workloads/clocked.c"; setup_ok=0; }
build "$BUILD/unit/clock_stress" "-O2 -g $WARN -Wno-missing-prototypes -Iinclude -pthread" \
	tests/unit/clock_stress.c preload/clock.c ||
	{ fail "setup: cannot build tests/unit/clock_stress.c"; setup_ok=0; }
[ "$setup_ok" = 1 ] || { finish; exit; }
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-clock.XXXXXX")

# relay: turns a checker's lines into ours.
relay() {
	local line
	while IFS= read -r line; do
		case "$line" in
		"ok "*) ok "${line#ok }" ;;
		"FAIL "*) fail "${line#FAIL }" ;;
		[0-9]*" passed, "*" failed") ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done
}

# Would the library use the TSC here?  (What clock.c asks: CPUID's invariant TSC, which
# the kernel shows as constant_tsc and nonstop_tsc, rdtscp, and the clocksource.)
TSC=0
if [ "$(uname -m)" = x86_64 ] &&
	grep -qw constant_tsc /proc/cpuinfo && grep -qw nonstop_tsc /proc/cpuinfo &&
	grep -qw rdtscp /proc/cpuinfo &&
	[ "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)" = tsc ]; then
	TSC=1
else
	echo "# this machine keeps CLOCK_MONOTONIC: the TSC is not tested"
fi

# ---- the clock on its own ----

"$BUILD/unit/clock_stress" 2 1000000 >"$TMPROOT/stress.out" 2>&1
st=$?
relay < <(sed 's/^ok /ok stress\//; s/^FAIL /FAIL stress\//' "$TMPROOT/stress.out")
expect_eq "stress: exit status" 0 "$st"
"$BUILD/unit/clock_stress" 2 100000 monotonic >"$TMPROOT/stress-mono.out" 2>&1
st=$?
relay < <(sed 's/^ok /ok stress-monotonic\//; s/^FAIL /FAIL stress-monotonic\//' "$TMPROOT/stress-mono.out")
expect_eq "stress-monotonic: exit status" 0 "$st"

# ---- the workload, in each mode ----

# run MODE: traces clocked in TMPROOT/MODE with HOTALLOC_CLOCK=MODE; reports and dumps
# both traces (parent, child).  Prints a reason and returns 1 when something is missing.
run() {
	local mode=$1 dir=$TMPROOT/$1 t0 t1 status n k=0 t
	mkdir -p "$dir"
	t0=$(date +%s%N)
	(cd "$dir" && HOTALLOC_CLOCK="$mode" HOTALLOC_DEBUG_CLOCK=1 timeout "$TIMEOUT" \
		"$HA" record -o "$dir/%p.trace" -- "$BUILD/tests/clocked" >out 2>err)
	status=$?
	t1=$(date +%s%N)
	echo $((t1 - t0)) >"$dir/wall"
	if [ "$status" -ne 0 ]; then
		echo "exit status expected 0 got $status (stderr: $(tail -n 2 "$dir/err" | tr '\n' '|'))"
		return 1
	fi
	# Which trace is the child's: the report says (trace.forked).
	: >"$dir/traces"
	for t in "$dir"/*.trace; do
		[ -e "$t" ] || continue
		k=$((k + 1))
		if ! "$HA" report --format json "$t" >"$dir/$k.json" 2>"$dir/$k.err" ||
			! "$HA" dump "$t" >"$dir/$k.dump" 2>>"$dir/$k.err"; then
			echo "report of '$t' failed: $(tail -n 1 "$dir/$k.err")"
			return 1
		fi
		if [ "$(json "$dir/$k.json" 'd["trace"]["forked"]')" = True ]; then
			cp "$dir/$k.json" "$dir/child.json"
			cp "$dir/$k.dump" "$dir/child.dump"
		else
			cp "$dir/$k.json" "$dir/parent.json"
			cp "$dir/$k.dump" "$dir/parent.dump"
		fi
	done
	n=$k
	if [ "$n" -ne 2 ] || [ ! -e "$dir/parent.json" ] || [ ! -e "$dir/child.json" ]; then
		echo "expected 2 traces (a process and its fork child) got $n"
		return 1
	fi
}

for mode in auto monotonic; do
	dir=$TMPROOT/$mode
	why=$(run "$mode") || { fail "$mode: $why"; continue; }
	# The clock used, by the process and by its child (which inherits it).
	used=$(sed -n 's/^hotalloc: debug: clock: \([a-z]*\).*/\1/p' "$dir/err" | tr '\n' ' ')
	if [ "$mode" = auto ] && [ "$TSC" = 1 ]; then
		want="tsc tsc "
	else
		want="monotonic monotonic "
	fi
	expect_eq "$mode/used: the clock of the process and of its child" "$want" "$used"
	if [ "$mode" = monotonic ] && ! grep -q '^hotalloc: debug: clock: monotonic (HOTALLOC_CLOCK=monotonic)$' "$dir/err"; then
		fail "$mode/used: expected the reason 'HOTALLOC_CLOCK=monotonic' got '$(grep debug "$dir/err" | head -n 1)'"
	fi
	grep '^hotalloc: debug: clock' "$dir/err" | head -n 1 | sed 's/^/# /'
	relay < <("$PY" "$CHECK" run "$mode" "$dir/out" "$(cat "$dir/wall")" "$dir/parent.json" "$dir/child.json" 2>&1)
	relay < <("$PY" "$CHECK" dump "$mode" "$dir/parent.dump" 2>&1)
	relay < <("$PY" "$CHECK" dump "$mode/child" "$dir/child.dump" 2>&1)
done
if [ -e "$TMPROOT/auto/child.json" ] && [ -e "$TMPROOT/monotonic/child.json" ]; then
	relay < <("$PY" "$CHECK" same same "$TMPROOT/auto/out" "$TMPROOT/auto/parent.json" \
		"$TMPROOT/auto/child.json" "$TMPROOT/monotonic/out" "$TMPROOT/monotonic/parent.json" \
		"$TMPROOT/monotonic/child.json" 2>&1)
else
	fail "same: a run is missing"
fi

# ---- a bad value: one warning, the default clock, a trace all the same ----

mkdir -p "$TMPROOT/bogus"
(cd "$TMPROOT/bogus" && HOTALLOC_CLOCK=bogus status "bogus: exit status" 0 "$TMPROOT/bogus/run" \
	"$HA" record -o "$TMPROOT/bogus/%p.trace" -- "$BUILD/tests/clocked" 1 1000)
expect_eq "bogus: the warning" \
	"hotalloc: warning: ignoring HOTALLOC_CLOCK='bogus': not auto or monotonic" \
	"$(grep -v "^hotalloc: trace written" "$TMPROOT/bogus/run.err")"
expect_eq "bogus: traces written" 2 "$(grep -c "^hotalloc: trace written" "$TMPROOT/bogus/run.err")"
(cd "$TMPROOT/bogus" && HOTALLOC_CLOCK=auto status "auto: exit status" 0 "$TMPROOT/bogus/auto" \
	"$HA" record -o "$TMPROOT/bogus/auto-%p.trace" -- "$BUILD/tests/clocked" 1 1000)
expect_eq "auto: no message but the traces" "" "$(grep -v "^hotalloc: trace written" "$TMPROOT/bogus/auto.err")"

if [ "$FAIL" -gt 0 ] || [ "${KEEP:-0}" = 1 ]; then
	echo "# kept $TMPROOT"
else
	rm -rf "$TMPROOT"
fi
finish
