#!/bin/bash
# SPDX-License-Identifier: MIT
# make-corpus.sh: rebuilds the fuzzer's seed corpus, tests/fuzz/corpus/, by tracing small
# runs of the capture-test workloads, each once with raw chunks (HOTALLOC_ZSTD_LEVEL=0,
# which mutate well) and once with zstd chunks, plus a torn and an unended trace, and
# the raw ones again in format version 2's encoding of events (v2-*: BATCH's varints,
# rewritten by tests/unit/repack.c), which the analyzer still reads.
# Every seed stays under 20 KB.
#
# Usage: tests/fuzz/make-corpus.sh BUILD_DIR     (after `make test-build`)

set -eu
[ $# -eq 1 ] || { printf 'usage: tests/fuzz/make-corpus.sh BUILD_DIR\n' >&2; exit 2; }
build=$(cd "$1" && pwd)
out=$(cd "$(dirname "$0")" && pwd)/corpus
hotalloc=$build/hotalloc
wl=$build/tests
[ -x "$hotalloc" ] || { printf 'make-corpus: error: cannot find %s; run make\n' "$hotalloc" >&2; exit 1; }
[ -x "$build/unit/repack" ] ||
	{ printf 'make-corpus: error: cannot find %s; run make test-build\n' "$build/unit/repack" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-corpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# trace NAME CMD...: NAME-raw.trace and NAME-zstd.trace; a forking CMD adds NAME-*-N
# (numbered in the order of the pids).
trace() {
	local name=$1 level tag f i
	shift
	for level in 0 1; do
		tag=raw
		[ "$level" = 1 ] && tag=zstd
		rm -f "$tmp"/*.trace
		# sigkill abort ends in abort(): its status is expected to be 134.
		HOTALLOC_ZSTD_LEVEL=$level "$hotalloc" record -o "$tmp/%p.trace" -- "$@" \
			>/dev/null 2>"$tmp/stderr" || [ "$name" = abort ] ||
			{ printf 'make-corpus: error: tracing %s failed\n' "$*" >&2; cat "$tmp/stderr" >&2; exit 1; }
		i=0
		for f in "$tmp"/*.trace; do
			if [ $i = 0 ]; then
				cp "$f" "$out/$name-$tag.trace"
			else
				cp "$f" "$out/$name-$tag-$i.trace"
			fi
			i=$((i + 1))
		done
	done
}

rm -rf "$out"
mkdir -p "$out"
trace churn "$wl/churn" 40
trace churn-1500 "$wl/churn" 1500
trace families "$wl/families" 1
trace leakpeak "$wl/leakpeak" 3 10
trace threads "$wl/threads" 2 20
trace threads-4 "$wl/threads" 4 200
trace manythreads "$wl/manythreads" 3 2
trace dlopen "$wl/dlopen" "$wl/libdlalloc.so" 2 3
trace exceptions "$wl/exceptions" 5
trace forkexec "$wl/forkexec" exec /bin/true
trace abort "$wl/sigkill" abort
# Several chunks with SYNC records between them: a perl script that sleeps, with short
# stacks so that the raw trace stays small.
HOTALLOC_ZSTD_LEVEL=0 "$hotalloc" record --depth 4 -o "$out/perl-raw.trace" -- \
	perl -e 'for (1..3) { my @a = map { "x" x $_ } 1..20; select(undef, undef, undef, 0.12) }' 2>/dev/null
HOTALLOC_ZSTD_LEVEL=1 "$hotalloc" record --depth 4 -o "$out/perl-zstd.trace" -- \
	perl -e 'for (1..3) { my @a = map { "x" x $_ } 1..20; select(undef, undef, undef, 0.12) }' 2>/dev/null

# A torn trace (the file ends inside a chunk) and one that ends after a whole chunk
# without its END record (a killed program).
head -c 1000 "$out/churn-raw.trace" >"$out/torn-raw.trace"
python3 - "$out/dlopen-raw.trace" "$out/unended-raw.trace" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
comp = struct.unpack_from("<I", d, 64 + 8)[0]
open(sys.argv[2], "wb").write(d[:64 + 24 + comp])
PY

for f in "$out"/*-raw*.trace; do
	case $f in */torn-raw.trace | */unended-raw.trace) continue ;; esac
	"$build/unit/repack" "$f" "$out/v2-${f##*/}" 2 >/dev/null
done

big=$(find "$out" -type f -size +20k)
[ -z "$big" ] || { printf 'make-corpus: error: seeds over 20 KB: %s\n' "$big" >&2; exit 1; }
printf 'make-corpus: %d seeds in %s\n' "$(ls "$out" | wc -l)" "$out" >&2
