#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every test suite against BUILD_DIR and ends with one line
# "N passed, N failed" over all of them.  Usage: tests/run-all.sh BUILD_DIR
set -u
B=$1
D=$(dirname "$0")
total_pass=0
total_fail=0

# run NAME CMD...: runs a suite, echoes its output, adds its closing counts.
run() {
	name=$1
	shift
	echo "== $name"
	out=$("$@" 2>&1)
	st=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
	elif [ "$st" -eq 0 ]; then
		p=1 f=0
	else
		p=0 f=1
	fi
	[ "$st" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

run "ring stress (ThreadSanitizer)" "$B/unit/ring_stress_tsan" 4 100000
run "ring stress (ASan, UBSan)" "$B/unit/ring_stress_asan" 8 100000
run "time ordering (ASan, UBSan)" "$B/unit/order_check" 400
run "time ordering, 3-operation blocks (ASan, UBSan)" "$B/unit/order_check_small" 400
run "varint decoding (ASan, UBSan)" "$B/unit/varint_check" 200000
run "analyzer channel stress (ThreadSanitizer)" "$B/unit/pipe_stress_tsan" 500000 256
run "analyzer channel stress (ASan, UBSan)" "$B/unit/pipe_stress_asan" 2000000 1024
# Smaller than a publication batch: runs end where the ring wraps.
run "analyzer channel stress, 2 slots (ThreadSanitizer)" "$B/unit/pipe_stress_tsan" 100000 2
run "analyzer channel stress, 4 slots (ASan, UBSan)" "$B/unit/pipe_stress_asan" 300000 4
run "function names by span, against libdwfl's (ASan, UBSan)" "$B/unit/symspan_check" 499 3
run "command line" sh "$D/cli.sh" "$B"
run "command line, analyzer under ASan and UBSan" sh "$D/cli.sh" "$B/asan"
[ -x "$D/capture.sh" ] && run "capture" "$D/capture.sh" "$B"
[ -x "$D/analyzer.sh" ] && run "analyzer" "$D/analyzer.sh" "$B"
[ -x "$D/analyzer_tsan.sh" ] && run "analyzer threads (ThreadSanitizer)" "$D/analyzer_tsan.sh" "$B"
[ -x "$D/gate.sh" ] && run "gate" "$D/gate.sh" "$B"
[ -x "$D/stackcache.sh" ] && run "stack cache" "$D/stackcache.sh" "$B"
[ -x "$D/sampling.sh" ] && run "sampling" "$D/sampling.sh" "$B"
[ -x "$D/clock.sh" ] && run "clock" "$D/clock.sh" "$B"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
