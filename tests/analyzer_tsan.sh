#!/bin/sh
# SPDX-License-Identifier: MIT
# The analyzer's two threads (reading and ordering on one, applying on the other,
# analyzer/replay.c) under ThreadSanitizer: traces of workloads with cross-thread frees,
# realloc chains and markers are reported by a TSan build of the analyzer, with and
# without a --from/--to window and --per, and each report must be byte-identical to the
# one the normal build makes on one thread (HOTALLOC_ANALYZER_THREADS=1) and on two;
# TSan must report nothing.
#
# Usage: tests/analyzer_tsan.sh BUILD_DIR   (after `make test-build`)
set -u
B=$(cd "${1:?usage: analyzer_tsan.sh BUILD_DIR}" 2>/dev/null && pwd -P) || {
	echo "analyzer_tsan.sh: error: no build directory '$1'" >&2
	exit 2
}
D=$(cd "$(dirname "$0")" && pwd)
. "$D/lib.sh"
HA=$B/hotalloc
TSAN=$B/tsan/hotalloc
W=$B/tests
TIMEOUT=${TIMEOUT:-300}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
trace() {	# trace NAME CMD...
	local name=$1
	shift
	if ! HOTALLOC_OUT="$T/$name.trace" LD_PRELOAD="$B/libhotalloc.so" "$@" >/dev/null 2>"$name.rec.err"; then
		fail "record $name: $(oneline "$name.rec.err")"
		return 1
	fi
}
# same NAME TRACE REPORT-ARGS...: the three analyzers agree and TSan is quiet.
same() {
	local name=$1 tr=$2
	shift 2
	HOTALLOC_ANALYZER_THREADS=1 timeout "$TIMEOUT" "$HA" report --format json "$@" "$tr" >"$name.one" 2>"$name.one.err"
	timeout "$TIMEOUT" "$HA" report --format json "$@" "$tr" >"$name.two" 2>"$name.two.err"
	timeout "$TIMEOUT" "$TSAN" report --format json "$@" "$tr" >"$name.tsan" 2>"$name.tsan.err"
	st=$?
	if [ "$st" -ne 0 ]; then
		fail "$name: TSan analyzer exited $st: $(oneline "$name.tsan.err")"
	elif grep -q 'ThreadSanitizer' "$name.tsan.err"; then
		fail "$name: ThreadSanitizer: $(oneline "$name.tsan.err")"
	elif ! cmp -s "$name.one" "$name.two"; then
		fail "$name: one thread and two differ: $(diff "$name.one" "$name.two" | head -c 300 | tr '\n' '|')"
	elif ! cmp -s "$name.one" "$name.tsan"; then
		fail "$name: the TSan build differs"
	elif ! [ -s "$name.one" ]; then
		fail "$name: empty report: $(oneline "$name.one.err")"
	else
		ok "$name: one thread, two and TSan agree"
	fi
}

trace threads "$W/threads" 8 20000 && same threads threads.trace
trace regrow "$W/regrow" && same regrow regrow.trace
trace gatework "$W/gatework" && {
	same gatework gatework.trace
	same gatework-window gatework.trace --from steady --to done
	same gatework-per gatework.trace --per done --group-by function
}
trace manythreads "$W/manythreads" 20000 && same manythreads manythreads.trace
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
