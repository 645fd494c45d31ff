#!/bin/sh
# SPDX-License-Identifier: MIT
# The analyzer's two threads (reading and ordering on one, applying on the other,
# analyzer/replay.c) under ThreadSanitizer: traces of workloads with cross-thread frees,
# realloc chains and markers are reported by a TSan build of the analyzer, with and
# without a --from/--to window and --per, and each report must be byte-identical to the
# one the normal build makes on one thread (HOTALLOC_ANALYZER_THREADS=1) and on two;
# TSan must report nothing.  A trace rewritten in large chunks (tests/unit/rechunk.c)
# must be reported as the original, and refused or cut as it should when damaged.
# Traces rewritten with the other encoding of events (tests/unit/repack.c: BATCH's
# varints, format version 2, against BATCH3's packed events, version 3) must be
# reported as the originals.
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
	# (timeout outside the preload: it is not the program traced)
	if ! timeout "$TIMEOUT" env HOTALLOC_OUT="$T/$name.trace" LD_PRELOAD="$B/libhotalloc.so" "$@" \
		>/dev/null 2>"$name.rec.err"; then
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

# Large chunks, as a writer that falls behind makes them: the analyzer hands a chunk of
# more than 2 MiB to the reader in pieces (analyzer/read.c).  A threads trace (8 MiB
# of events in 1 MiB chunks) joined into two chunks of about 4 MiB is reported like the
# original, by every build; cut inside its second chunk, it is reported up to the first
# alone; corrupt inside it, it is refused.
ASAN=$B/asan/hotalloc
[ -x "$ASAN" ] || ASAN=
# strip JSON: the report without the fields that name the file and count its chunks.
strip() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in ("file", "chunks", "file_bytes", "format_version"):
    d["trace"].pop(k, None)
print(json.dumps(d, sort_keys=True))' "$1"
}
if trace threadsbig "$W/threads" 8 100000 &&
	"$B/unit/rechunk" threadsbig.trace big.trace 2 >rechunk.out 2>&1 &&
	grep -q ' -> 2 chunks' rechunk.out &&
	[ "$(sed 's/.*smallest \([0-9]*\) bytes.*/\1/' rechunk.out)" -gt 2097152 ]; then
	HOTALLOC_ANALYZER_THREADS=1 timeout "$TIMEOUT" "$HA" report --format json threadsbig.trace >threadsbig.one 2>/dev/null
	ok "large chunks: $(cat rechunk.out)"
	same bigchunks big.trace
	if [ "$(strip threadsbig.one)" = "$(strip bigchunks.one)" ]; then
		ok "large chunks: reported as the same trace in 1 MiB chunks"
	else
		fail "large chunks: the reports differ: $(diff threadsbig.one bigchunks.one | head -c 300 | tr '\n' '|')"
	fi
	# A trace of 35 MiB of events in one chunk: reported in no more memory than the
	# same in 1 MiB chunks and 12 MiB (whole, the chunk and its compressed bytes took
	# 30 to 40 MiB more).
	if trace threadshuge "$W/threads" 8 400000 &&
		"$B/unit/rechunk" threadshuge.trace one.trace 1 >/dev/null 2>&1; then
		set -- $(python3 -c 'import resource, subprocess, sys
for f in sys.argv[2:]:
    p = subprocess.run([sys.argv[1], "report", "--format", "json", f], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)' \
			"$HA" threadshuge.trace one.trace)
		# ru_maxrss of the children is their largest yet: $3 is at least $1.
		if [ "$2" -eq 0 ] && [ "$4" -eq 0 ] && [ "$3" -le $(($1 + 12288)) ]; then
			ok "large chunks: one chunk of 35 MiB read in pieces: peak RSS $3 KiB against $1 KiB"
		else
			fail "large chunks: one chunk of 35 MiB: peak RSS $3 KiB against $1 KiB (status $2, $4)"
		fi
	fi
	if [ -n "$ASAN" ]; then
		timeout "$TIMEOUT" "$ASAN" report --format json big.trace >big.asan 2>big.asan.err
		if cmp -s big.asan bigchunks.one; then
			ok "large chunks: the ASan build agrees"
		else
			fail "large chunks: the ASan build differs or failed: $(oneline big.asan.err)"
		fi
	fi
	# Where each chunk starts (after the file header) and ends.
	set -- $(python3 -c 'import struct, sys
f = open(sys.argv[1], "rb"); h = f.read(16); at = struct.unpack("<I", h[12:16])[0]
ends = []
while True:
    f.seek(at); c = f.read(24)
    if len(c) < 24: break
    at += 24 + struct.unpack("<I", c[8:12])[0]; ends.append(at)
print(*ends)' big.trace)
	head -c "$1" big.trace >first.trace
	# Torn late in the chunk, after pieces of it could have been handed out.
	head -c $(($1 + ($2 - $1) * 9 / 10)) big.trace >torn.trace
	for hb in "$HA" $ASAN; do
		timeout "$TIMEOUT" "$hb" report --format json first.trace >first.json 2>first.err
		timeout "$TIMEOUT" "$hb" report --format json torn.trace >torn.json 2>torn.err
		st=$?
		if [ "$st" -eq 0 ] && grep -q "ends mid-chunk" torn.err && [ -s first.json ] &&
			[ "$(json torn.json 'd["totals"]')" = "$(json first.json 'd["totals"]')" ] &&
			[ "$(json torn.json 'd["totals"]["allocations"]')" -gt 0 ]; then
			ok "large chunks: torn inside the second, reported up to the first ($hb)"
		else
			fail "large chunks: torn inside the second ($hb): status $st, $(oneline torn.err)"
		fi
		cp big.trace corrupt.trace
		printf 'XXXXXXXXXXXXXXXX' | dd of=corrupt.trace bs=1 seek=$(($1 + ($2 - $1) / 2)) conv=notrunc 2>/dev/null
		timeout "$TIMEOUT" "$hb" report --format json corrupt.trace >corrupt.json 2>corrupt.err
		st=$?
		if [ "$st" -eq 2 ] && [ "$(wc -l <corrupt.err)" -eq 1 ] &&
			grep -q "is corrupt: chunk 1 at byte $1 " corrupt.err; then
			ok "large chunks: corrupt inside the second, refused ($hb)"
		else
			fail "large chunks: corrupt inside the second ($hb): status $st, $(oneline corrupt.err)"
		fi
	done
else
	fail "large chunks: rechunk: $(oneline rechunk.out)"
fi

# Both encodings of events (include/hotalloc/format.h).  Each trace, its events packed
# as the library writes them (BATCH3), is rewritten in BATCH's varints as version 2,
# and that again packed: the three are reported alike, in JSON and in text, by the
# normal build and the TSan one.  families has every kind of call, failed ones too,
# regrow realloc chains, gatework markers, manythreads 64 threads, big 4 MiB chunks
# (read in pieces, their records found by length).
trace families "$W/families" 2 || :
for name in families regrow gatework manythreads threads big; do
	[ -s "$name.trace" ] || { fail "encodings: no $name trace"; continue; }
	if ! "$B/unit/repack" "$name.trace" "$name-v2.trace" 2 >"$name.rp" 2>&1 ||
		! "$B/unit/repack" "$name-v2.trace" "$name-v3.trace" 3 >>"$name.rp" 2>&1; then
		fail "encodings: $name: repack: $(oneline "$name.rp")"
		continue
	fi
	bad=
	for hb in "$HA" "$TSAN"; do
		for f in "$name" "$name-v2" "$name-v3"; do
			timeout "$TIMEOUT" "$hb" report --format json "$f.trace" >"$f.enc.json" 2>"$f.enc.err" &&
				timeout "$TIMEOUT" "$hb" report "$f.trace" >"$f.enc.txt" 2>>"$f.enc.err" ||
				bad="$bad $f: $(oneline "$f.enc.err")"
			grep -q ThreadSanitizer "$f.enc.err" && bad="$bad $f: ThreadSanitizer"
		done
		[ "$(json "$name-v2.enc.json" 'd["trace"]["format_version"]')" = 2 ] ||
			bad="$bad: the rewrite is not version 2"
		[ "$(json "$name.enc.json" 'd["trace"]["format_version"]')" = 3 ] ||
			bad="$bad: the original is not version 3"
		for f in "$name-v2" "$name-v3"; do
			[ "$(strip "$f.enc.json")" = "$(strip "$name.enc.json")" ] ||
				bad="$bad $f: JSON differs: $(diff "$name.enc.json" "$f.enc.json" | head -c 200 | tr '\n' '|')"
			cmp -s "$f.enc.txt" "$name.enc.txt" || bad="$bad $f: text differs"
		done
	done
	events=$(sed -n 's/.* batches, \([0-9]*\) events.*/\1/p' "$name.rp" | head -n 1)
	if [ -z "$bad" ] && [ "${events:-0}" -gt 0 ] &&
		[ "$(json "$name.enc.json" 'd["totals"]["allocations"]')" -gt 0 ]; then
		ok "encodings: $name: $events events, packed and in varints, reported alike"
	else
		fail "encodings: $name:${bad:- no events}"
	fi
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
