#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Capture tests: runs workloads whose allocation counts are known under
# "hotalloc record" and checks every number that "hotalloc report --format json" gives.
#
# Usage: tests/capture.sh BUILD_DIR [CASE...]
#   BUILD_DIR holds hotalloc and libhotalloc.so; the workloads are built into
#   BUILD_DIR/tests/ with tests/workloads.mk if they are missing or stale.
#   With no CASE every case runs; "tests/capture.sh build churn" runs one.
# Each case runs in a fresh temporary directory and prints "ok NAME" or one
# "FAIL NAME: ..." line per wrong field; the last line is "N passed, N failed" and the
# exit status is 1 if any case failed.  Temporary directories of failed cases are kept
# (the path is printed on a line starting with "#"); KEEP=1 keeps all of them.
# Environment: CAPTURE_TIMEOUT (seconds per command, default 120), CAPTURE_MANYTHREADS
# (threads in the manythreads case, default 100000), PYTHON (default python3).
#
# Counts are checked either as absolute numbers, for workloads that make no allocation
# besides their own (no stdio), or as the difference from a baseline run of the same
# program with zero iterations, where libc or a runtime allocates on its own.

# Cases are called by name (case_NAME), and $(totals ...) is meant to split into words.
# shellcheck disable=SC2317,SC2046
set -u

ALL_CASES="zero leakpeak out-pattern preload churn families threads manythreads
	forkexec-exec forkexec-execvp forkexec-self forkexec-exit forkexec-nofollow
	dlopen exceptions sigkill abort python python-exit3 perl"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$(cd "$1" 2>/dev/null && pwd -P) || {
	echo "capture.sh: error: cannot enter build directory '$1'" >&2
	exit 2
}
shift
ALL_CASES=$(echo "$ALL_CASES" | xargs)
CASES=${*:-$ALL_CASES}
for c in $CASES; do
	case " $ALL_CASES " in
	*" $c "*) ;;
	*) echo "capture.sh: error: unknown case '$c'; cases are: $ALL_CASES" >&2; exit 2 ;;
	esac
done

HA=$BUILD/hotalloc
HALIB=$BUILD/libhotalloc.so
PY=${PYTHON:-python3}
CHECKER=$ROOT/tests/capture_check.py
SCRIPTS=$ROOT/tests/scripts-under-trace
TIMEOUT=${CAPTURE_TIMEOUT:-120}
MANYTHREADS=${CAPTURE_MANYTHREADS:-100000}
HWM_LIMIT_KB=65536

passed=0
failed=0

summary_and_exit() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# ---- set-up: the tool, the library and the workloads must exist ----
for f in "$HA" "$HALIB"; do
	if [ ! -e "$f" ]; then
		echo "FAIL setup: '$f' does not exist (run make first)"
		failed=1
	fi
done
if ! make -s -C "$ROOT" -f tests/workloads.mk BUILD="$BUILD" workloads >/dev/null; then
	echo "FAIL setup: cannot build the workloads with tests/workloads.mk"
	failed=1
fi
[ "$failed" -eq 0 ] || summary_and_exit
W=$(cd "$BUILD/tests" && pwd -P)
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-capture.XXXXXX")

# ---- helpers used inside a case (they run in the case's subshell) ----

fail() {
	echo "FAIL $CASE: $*"
	CASE_FAILED=1
}

# check REPORT [--base BASE] [--clean] FIELD=VALUE...: see capture_check.py.
check() {
	"$PY" "$CHECKER" check "$CASE" "$@" || CASE_FAILED=1
}

get() {
	"$PY" "$CHECKER" get "$@"
}

# The six totals, in the order of the report; "-" skips a field.
totals() {
	local names="allocations frees bytes_allocated peak_bytes leaked_bytes leaked_blocks" n
	for n in $names; do
		[ "$1" = "-" ] || printf 'totals.%s=%s\n' "$n" "$1"
		shift
	done
}

# Last two lines of a file, on one line, for messages.
tail2() {
	tail -n 2 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-300
}

# record OUT STATUS NTRACES CMD...
# Runs CMD under "hotalloc record $REC_OPTS" with stdout in OUT.out and stderr in
# OUT.err; checks the exit status and the number of "trace written" lines (NTRACES, or
# +N for at least N); reports each trace into OUT.K.json and lists those in
# OUT.reports.  Returns 1 when there is no report to look at.
REC_OPTS=()
record() {
	local out=$1 want_status=$2 want_traces=$3 status
	shift 3
	timeout "$TIMEOUT" "$HA" record "${REC_OPTS[@]}" -- "$@" >"$out.out" 2>"$out.err"
	status=$?
	if [ "$status" -eq 124 ] && [ "$want_status" -ne 124 ]; then
		fail "field exit-status expected $want_status got 124 (timed out after ${TIMEOUT}s)"
	elif [ "$status" -ne "$want_status" ]; then
		fail "field exit-status expected $want_status got $status (stderr: $(tail2 "$out.err"))"
	fi
	sed -n "s/^hotalloc: trace written to '\(.*\)'\$/\1/p" "$out.err" >"$out.traces"
	collect_reports "$out" "$want_traces"
}

# collect_reports OUT NTRACES: checks the count of OUT.traces, reports every file.
collect_reports() {
	local out=$1 want_traces=$2 n k=0 f status
	n=$(wc -l <"$out.traces")
	case "$want_traces" in
	+*) [ "$n" -ge "${want_traces#+}" ] ||
		fail "field trace-lines expected >= ${want_traces#+} got $n (stderr: $(tail2 "$out.err"))" ;;
	*) [ "$n" -eq "$want_traces" ] ||
		fail "field trace-lines expected $want_traces got $n (stderr: $(tail2 "$out.err"))" ;;
	esac
	sort "$out.traces" | uniq -d >"$out.dups"
	[ ! -s "$out.dups" ] ||
		fail "field repeated-trace-lines expected 0 got $(wc -l <"$out.dups") (named twice: $(tr '\n' ' ' <"$out.dups"))"
	: >"$out.reports"
	while IFS= read -r f; do
		k=$((k + 1))
		if [ ! -f "$f" ]; then
			fail "field trace-file expected '$f' to exist got no such file"
			continue
		fi
		"$HA" report --format json "$f" >"$out.$k.json" 2>"$out.$k.err"
		status=$?
		if [ "$status" -ne 0 ]; then
			fail "field report-status expected 0 got $status for '$f' (stderr: $(tail2 "$out.$k.err"))"
			continue
		fi
		echo "$out.$k.json" >>"$out.reports"
	done < <(sort -u "$out.traces")
	[ -s "$out.reports" ]
}

# The report whose trace.command is exactly CMD, among those listed in OUT.reports;
# of several (a process and its fork children), the one whose parent is not traced.
report_by_command() {
	local out=$1 cmd=$2 r pids="" first=""
	while IFS= read -r r; do
		pids="$pids $(get "$r" trace.pid) "
	done <"$out.reports"
	while IFS= read -r r; do
		[ "$(get "$r" trace.command)" = "$cmd" ] || continue
		first=${first:-$r}
		case "$pids" in
		*" $(get "$r" trace.ppid) "*) ;;
		*) echo "$r"; return 0 ;;
		esac
	done <"$out.reports"
	[ -n "$first" ] && echo "$first"
}

# ---- the cases ----

# A program that allocates nothing: everything is zero, and the default file name.
case_zero() {
	local rep pid trace
	record run 0 1 "$W/leakpeak" 0 0 || return
	rep=$(head -n 1 run.reports)
	check "$rep" --clean 'calls.*=0' $(totals 0 0 0 0 0 0) \
		"trace.command=$W/leakpeak 0 0"
	pid=$(get "$rep" trace.pid)
	trace=$(head -n 1 run.traces)
	[ "$(basename "$trace")" = "hotalloc.leakpeak.$pid.trace" ] ||
		fail "field trace-file expected 'hotalloc.leakpeak.$pid.trace' got '$(basename "$trace")'"
}

# Leaks and a peak, absolute: peak before the leaks, then leaks larger than the peak.
case_leakpeak() {
	record a 0 1 "$W/leakpeak" 10 100 || return
	check "$(head -n 1 a.reports)" --clean --label "leakpeak 10 100" \
		calls.malloc=110 calls.free=100 'calls.*=0' $(totals 110 100 100550 100000 550 10)
	record b 0 1 "$W/leakpeak" 200 20 || return
	check "$(head -n 1 b.reports)" --clean --label "leakpeak 200 20" \
		calls.malloc=220 calls.free=20 'calls.*=0' $(totals 220 20 221000 201000 201000 200)
}

# record -o PATTERN with %e and %p.
case_out_pattern() {
	local rep pid trace
	REC_OPTS=(-o 'custom-%e-%p.out')
	record run 0 1 "$W/leakpeak" 2 2 || return
	rep=$(head -n 1 run.reports)
	check "$rep" --clean calls.malloc=4 calls.free=2 'calls.*=0' $(totals 4 2 2030 2000 30 2)
	pid=$(get "$rep" trace.pid)
	trace=$(head -n 1 run.traces)
	[ "$(basename "$trace")" = "custom-leakpeak-$pid.out" ] ||
		fail "field trace-file expected 'custom-leakpeak-$pid.out' got '$(basename "$trace")'"
	[ -z "$(ls ./*.trace 2>/dev/null)" ] || fail "field default-named-files expected none got $(ls ./*.trace)"
}

# Preloading by hand with HOTALLOC_OUT; families checks glibc's return values and errno.
case_preload() {
	local status files rep pid
	timeout "$TIMEOUT" env LD_PRELOAD="$HALIB" HOTALLOC_OUT="$PWD/manual.%p.trace" \
		"$W/families" 2 >run.out 2>run.err
	status=$?
	[ "$status" -eq 0 ] || fail "field exit-status expected 0 got $status (stderr: $(tail2 run.err))"
	ls manual.*.trace >run.traces 2>/dev/null
	files=$(wc -l <run.traces)
	[ "$files" -eq 1 ] || { fail "field trace-files expected 1 got $files"; return; }
	collect_reports run 1 || return
	rep=$(head -n 1 run.reports)
	check "$rep" --clean calls.malloc=8 calls.calloc=4 calls.realloc=24 calls.reallocarray=6 \
		calls.free=24 calls.posix_memalign=6 calls.aligned_alloc=4 calls.memalign=4 \
		calls.valloc=4 calls.pvalloc=4 $(totals 42 42 34500 10000 0 0)
	pid=$(get "$rep" trace.pid)
	[ "$(head -n 1 run.traces)" = "manual.$pid.trace" ] ||
		fail "field trace-file expected 'manual.$pid.trace' got '$(head -n 1 run.traces)'"
}

# Two million malloc/free pairs from four sites.
case_churn() {
	record base 0 1 "$W/churn" 0 || return
	record run 0 1 "$W/churn" 2000000 || return
	check "$(head -n 1 run.reports)" --base "$(head -n 1 base.reports)" --clean \
		calls.malloc=2000000 calls.free=2000000 'calls.*=0' \
		$(totals 2000000 2000000 3362000000 5000 0 0)
}

# Every function of the family, in success and failure; the program checks errno.
case_families() {
	record base 0 1 "$W/families" 0 || return
	record run 0 1 "$W/families" 3 || return
	check "$(head -n 1 run.reports)" --base "$(head -n 1 base.reports)" --clean \
		calls.malloc=12 calls.calloc=6 calls.realloc=36 calls.reallocarray=9 \
		calls.free=36 calls.posix_memalign=9 calls.aligned_alloc=6 calls.memalign=6 \
		calls.valloc=6 calls.pvalloc=6 $(totals 63 63 51750 10000 0 0)
}

# Cross-thread frees: 8 threads x 50000 blocks, each freed by the next thread.
case_threads() {
	local t=8 n=50000
	record base 0 1 "$W/threads" "$t" 0 || return
	record run 0 1 "$W/threads" "$t" "$n" || return
	check "$(head -n 1 run.reports)" --base "$(head -n 1 base.reports)" --clean \
		calls.malloc=$((t * n)) calls.free=$((t * n)) 'calls.*=0' \
		$(totals $((t * n)) $((t * n)) $((n * (32 * t + 4 * t * (t - 1)))) - 0 0) \
		'totals.peak_bytes>0' "totals.peak_bytes<=$((t * 257 * (32 + 8 * (t - 1))))"
}

# Many short-lived threads: exact counts, and the traced process stays small.
case_manythreads() {
	local t=$MANYTHREADS out hwm
	record base 0 1 "$W/manythreads" "$t" 0 || return
	record run 0 1 "$W/manythreads" "$t" 1 || return
	check "$(head -n 1 run.reports)" --base "$(head -n 1 base.reports)" --clean \
		calls.malloc="$t" calls.free="$t" 'calls.*=0' $(totals "$t" "$t" $((48 * t)) - 0 0)
	for out in base run; do
		hwm=$(sed -n 's/^manythreads: VmHWM \([0-9]*\) kB$/\1/p' "$out.err")
		if [ -z "$hwm" ]; then
			fail "field VmHWM of the $out run expected a number got none"
		elif [ "$hwm" -ge "$HWM_LIMIT_KB" ]; then
			fail "field VmHWM of the $out run expected < $HWM_LIMIT_KB kB got $hwm kB"
		fi
	done
}

# forkexec_family OUT NTRACES PARENT_CMD EXEC_CMD: sorts OUT's reports into
# OUT.parent, OUT.child and OUT.exec (files holding a report path, or empty).
forkexec_family() {
	local out=$1 role
	"$PY" "$CHECKER" roles "$CASE" "$3" "$4" $(cat "$out.reports") >"$out.roles"
	grep '^FAIL' "$out.roles" && CASE_FAILED=1
	for role in parent child exec; do
		sed -n "s/^$role //p" "$out.roles" | head -n 1 >"$out.$role"
	done
	return 0
}

# The parent's and the fork child's numbers are the same in every forkexec mode.
check_parent_and_child() {
	local out=$1
	if [ -s "$out.parent" ]; then
		check "$(cat "$out.parent")" --clean --label "parent" calls.malloc=4 calls.free=2 'calls.*=0' \
			$(totals 4 2 3500 3000 2000 2)
	else
		fail "field parent-trace expected 1 got 0"
	fi
	if [ -s "$out.child" ]; then
		check "$(cat "$out.child")" --clean --label "fork child" calls.malloc=4 calls.free=2 'calls.*=0' \
			$(totals 4 2 8000 8000 4000 2)
	else
		fail "field fork-child-trace expected 1 got 0"
	fi
}

# forkexec_exec MODE: the fork child execs leakpeak 3 5 by execve or execvp.
forkexec_exec() {
	local mode=$1
	record run 0 3 "$W/forkexec" "$mode" "$W/leakpeak" 3 5 || return
	forkexec_family run 3 "$W/forkexec $mode $W/leakpeak 3 5" "$W/leakpeak 3 5"
	check_parent_and_child run
	if [ -s run.exec ]; then
		check "$(cat run.exec)" --clean --label "exec'd leakpeak" calls.malloc=8 calls.free=5 'calls.*=0' \
			$(totals 8 5 5060 5000 60 3)
	else
		fail "field exec-trace expected 1 got 0"
	fi
}

case_forkexec_exec() {
	forkexec_exec exec
}

case_forkexec_execvp() {
	forkexec_exec execvp
}

# The exec'd image is the same program with the same pid: the default file name
# (hotalloc.%e.%p.trace) is the same for the fork child and the exec'd image, and
# neither trace may overwrite the other.
case_forkexec_self() {
	local files
	record run 0 3 "$W/forkexec" self || return
	forkexec_family run 3 "$W/forkexec self" "$W/forkexec target"
	check_parent_and_child run
	if [ -s run.exec ]; then
		check "$(cat run.exec)" --clean --label "exec'd target" calls.malloc=5 calls.free=4 'calls.*=0' \
			$(totals 5 4 15000 15000 3000 1)
	else
		fail "field exec-trace expected 1 got 0"
	fi
	files=$(find . -maxdepth 1 -name 'hotalloc.forkexec.*.trace' | wc -l)
	[ "$files" -eq 3 ] || fail "field trace-files expected 3 got $files"
}

# The fork child ends with _exit(7); its trace must still end cleanly.
case_forkexec_exit() {
	record run 0 2 "$W/forkexec" exit || return
	forkexec_family run 2 "$W/forkexec exit" "-"
	check_parent_and_child run
}

# HOTALLOC_FOLLOW=0: only the parent is traced.
case_forkexec_nofollow() {
	local files
	HOTALLOC_FOLLOW=0 record run 0 1 "$W/forkexec" exec "$W/leakpeak" 3 5 || return
	check "$(head -n 1 run.reports)" --clean calls.malloc=4 calls.free=2 'calls.*=0' \
		$(totals 4 2 3500 3000 2000 2) "trace.command=$W/forkexec exec $W/leakpeak 3 5"
	files=$(find . -maxdepth 1 -name '*.trace' | wc -l)
	[ "$files" -eq 1 ] || fail "field trace-files expected 1 got $files"
}

# Allocations made inside a dlopen'ed library, 20 load/unload rounds.
case_dlopen() {
	local r=20 n=100
	record base 0 1 "$W/dlopen" "$W/libdlalloc.so" "$r" 0 || return
	record run 0 1 "$W/dlopen" "$W/libdlalloc.so" "$r" "$n" || return
	check "$(head -n 1 run.reports)" --base "$(head -n 1 base.reports)" --clean \
		calls.malloc=$((r * n)) calls.free=$((r * n)) 'calls.*=0' \
		$(totals $((r * n)) $((r * (n - 1))) $((64 * r * n)) - $((64 * r)) "$r")
}

# C++ exceptions and new/delete.
case_exceptions() {
	local n=10000
	record base 0 1 "$W/exceptions" 0 || return
	record run 0 1 "$W/exceptions" "$n" || return
	check "$(head -n 1 run.reports)" --base "$(head -n 1 base.reports)" --clean \
		calls.malloc=$((5 * n)) calls.free=$((4 * n)) 'calls.*=0' \
		$(totals $((4 * n)) $((4 * n)) $((384 * n)) 248 0 0)
}

# SIGKILL mid-run: record exits 137, the trace is truncated but readable.
case_sigkill() {
	local rec status pid rep
	timeout "$TIMEOUT" "$HA" record -- "$W/sigkill" "$PWD/pid" >run.out 2>run.err &
	rec=$!
	for _ in $(seq 200); do
		[ -s pid ] && break
		sleep 0.1
	done
	if [ ! -s pid ]; then
		kill "$rec" 2>/dev/null
		wait "$rec"
		fail "field pid-file expected written within 20 s got none (stderr: $(tail2 run.err))"
		return
	fi
	pid=$(cat pid)
	sleep 1
	kill -KILL "$pid"
	wait "$rec"
	status=$?
	[ "$status" -eq 137 ] || fail "field exit-status expected 137 got $status (stderr: $(tail2 run.err))"
	sed -n "s/^hotalloc: trace written to '\(.*\)'\$/\1/p" run.err >run.traces
	if [ ! -s run.traces ]; then
		fail "field trace-lines expected 1 got 0 (stderr: $(tail2 run.err))"
		# Look at the trace anyway, to report on the analyzer's side too.
		find . -maxdepth 1 -name '*.trace' >run.traces
	fi
	collect_reports run 1 || return
	rep=$(head -n 1 run.reports)
	check "$rep" trace.truncated=true 'totals.allocations>0' "trace.pid=$pid"
	[ -s run.1.err ] || fail "field report-warning expected a warning on stderr got nothing"
}

# abort(): record exits 128 + SIGABRT and the trace can be read.
case_abort() {
	record run 134 1 "$W/sigkill" abort || return
	check "$(head -n 1 run.reports)" 'trace.pid>0'
}

# script_case NAME STATUS INTERPRETER SCRIPT ARGS...: stdout and exit status traced
# and untraced must be identical; every trace must be complete.
script_case() {
	local status=$2 r
	shift 2
	"$@" >plain.out 2>plain.err
	local plain_status=$?
	[ "$plain_status" -eq "$status" ] ||
		fail "field untraced-exit-status expected $status got $plain_status (stderr: $(tail2 plain.err))"
	record run "$plain_status" +1 "$@" || return
	cmp -s plain.out run.out ||
		fail "field stdout expected identical to the untraced run got a difference ($(diff plain.out run.out | head -n 3 | tr '\n' '|'))"
	while IFS= read -r r; do
		check "$r" --clean --label "$(get "$r" trace.command)"
	done <run.reports
	r=$(report_by_command run "$*") || { fail "field trace-for-command expected one for '$*' got none"; return; }
	check "$r" 'totals.allocations>0' 'calls.malloc>0'
}

python_real() {
	"$PY" -c 'import sys; print(sys.executable)'
}

case_python() {
	local py r
	py=$(python_real)
	script_case python 0 "$py" "$SCRIPTS/busy.py" || return
	# The subprocess (exec'd through execve by _posixsubprocess) must be traced too.
	r=$(report_by_command run "$py -c print(sum(range(1000)))") ||
		{ fail "field subprocess-trace expected 1 got 0"; return; }
	check "$r" 'totals.allocations>0'
}

case_python_exit3() {
	script_case python-exit3 3 "$(python_real)" "$SCRIPTS/busy.py" 3
}

case_perl() {
	local cmd
	script_case perl 3 "$(command -v perl)" "$SCRIPTS/busy.pl" || return
	# Perl runs its children through fork and execvp.
	for cmd in "/bin/echo child says hello" "/bin/sh -c exit 0"; do
		report_by_command run "$cmd" >/dev/null || fail "field trace-for-command expected one for '$cmd' got none"
	done
}

# ---- the driver ----

run_case() {
	local name=$1 dir=$TMPROOT/$1
	mkdir -p "$dir"
	(
		cd "$dir" || exit 1
		CASE=$name
		CASE_FAILED=0
		"case_${name//-/_}"
		exit "$CASE_FAILED"
	) >"$dir/case.log" 2>&1
	local status=$?
	grep -v '^FAIL' "$dir/case.log" | sed 's/^/# /'
	grep '^FAIL' "$dir/case.log"
	if [ "$status" -eq 0 ]; then
		echo "ok $name"
		passed=$((passed + 1))
	else
		grep -q '^FAIL' "$dir/case.log" || echo "FAIL $name: the case stopped with status $status"
		echo "# kept $dir"
		failed=$((failed + 1))
	fi
}

for c in $CASES; do
	run_case "$c"
done
if [ "${KEEP:-0}" = 1 ]; then
	echo "# kept $TMPROOT"
elif [ "$failed" -eq 0 ]; then
	rm -rf "$TMPROOT"
fi
summary_and_exit
