#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz.sh: builds the trace-reader fuzzer (tests/fuzz/fuzz_trace.c with the analyzer,
# clang's libFuzzer, ASan and UBSan) when it is missing or older than its sources, and
# runs it for a bounded time from the seeds in tests/fuzz/corpus/.
#
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS=60]
#
#   FUZZ_CC=clang       the compiler (it needs libFuzzer: Debian's libclang-rt-14-dev)
#   FUZZ_ARGS=          more libFuzzer options, e.g. "-jobs=2 -workers=2" or "-seed=1"
#
# New inputs that widen coverage go to BUILD_DIR/fuzz-corpus/ (kept across runs; the
# seeds are only read).  A crash, a sanitizer report, a leak, a timeout (10 s), an
# out-of-memory (2 GB) or an exit() inside the analyzer stops the run: its input is kept
# in BUILD_DIR/fuzz-crashes/ and the script exits 1.  Exit 2: usage or build error.
# The analyzer's messages about corrupt traces are silenced (-close_fd_mask=2);
# reproduce one with: BUILD_DIR/fuzz/fuzz_trace FILE

set -u
prog=fuzz
die() {
	printf '%s: error: %s\n' "$prog" "$1" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	printf 'usage: scripts/fuzz.sh BUILD_DIR [SECONDS]\n' >&2
	exit 2
fi
build=${1%/}
seconds=${2:-60}
case $seconds in
'' | *[!0-9]* | 0) die "SECONDS '$seconds' is not a positive whole number" ;;
esac
cc=${FUZZ_CC:-clang}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || die "cannot enter '$root'"

bin=$build/fuzz/fuzz_trace
src=(tests/fuzz/fuzz_trace.c)
for f in analyzer/*.c; do
	[ "$f" = analyzer/main.c ] || src+=("$f")	# main() is libFuzzer's
done

# Once the Makefile has a rule for the fuzzer, it builds it; until then, this does, with
# the analyzer's libraries taken from the Makefile's link command for BUILD_DIR/hotalloc.
if make -n BUILD="$build" "$bin" >/dev/null 2>&1; then
	make --no-print-directory BUILD="$build" "$bin" >&2 || die "cannot build '$bin'"
else
	stale=
	if [ ! -x "$bin" ]; then
		stale=1
	else
		for f in "${src[@]}" analyzer/*.h include/hotalloc/*.h; do
			[ "$f" -nt "$bin" ] && { stale=1; break; }
		done
	fi
	if [ -n "$stale" ]; then
		command -v "$cc" >/dev/null 2>&1 ||
			die "cannot find '$cc'; run: apt-get install -y clang libclang-rt-14-dev"
		fuzzer_lib=$("$cc" -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)
		[ -f "$fuzzer_lib" ] ||
			fuzzer_lib=$("$cc" -print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-x86_64.a
		[ -f "$fuzzer_lib" ] ||
			die "'$cc' has no libFuzzer runtime; run: apt-get install -y libclang-rt-14-dev"
		libs=$(make -s -n -B BUILD="$build" "$build/hotalloc" 2>/dev/null | tail -n 1 |
			grep -o -- ' -l[^ ]*' | tr -d '\n')
		[ -n "$libs" ] || libs=' -ldw -lelf -liberty -lzstd -lm'
		mkdir -p "$build/fuzz" || die "cannot create '$build/fuzz'"
		printf '%s: building %s\n' "$prog" "$bin" >&2
		# shellcheck disable=SC2086
		"$cc" -Iinclude -Ianalyzer -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
			-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
			-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
			-o "$bin" "${src[@]}" $libs || die "cannot build '$bin'"
	fi
fi

[ -d tests/fuzz/corpus ] || die "cannot find the seeds in 'tests/fuzz/corpus'"
mkdir -p "$build/fuzz-corpus" "$build/fuzz-crashes" || die "cannot create the fuzzer's folders in '$build'"
before=$(ls "$build/fuzz-crashes" | wc -l)

# UBSan stops at its first report, so that libFuzzer sees it as a crash and keeps the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
printf '%s: running %s for %s s\n' "$prog" "$bin" "$seconds" >&2
# shellcheck disable=SC2086
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/" \
	${FUZZ_ARGS:-} "$build/fuzz-corpus" tests/fuzz/corpus </dev/null
status=$?
after=$(ls "$build/fuzz-crashes" | wc -l)
if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
	printf '%s: error: the fuzzer failed (status %d, %d new inputs in %s):\n' "$prog" \
		"$status" $((after - before)) "$build/fuzz-crashes" >&2
	new=$((after - before))
	[ "$new" -gt 0 ] && ls -t "$build/fuzz-crashes" | head -n "$new" | sed 's/^/    /' >&2
	exit 1
fi
printf '%s: no crash in %s s\n' "$prog" "$seconds" >&2
