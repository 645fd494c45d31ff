#!/bin/sh
# SPDX-License-Identifier: MIT
# The command line on bad input: every error is one line on stderr and exit
# status 2, never a crash; a truncated trace reports with a warning.
# Usage: tests/cli.sh BUILD_DIR
set -u
B=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
HA="$B/hotalloc"

# expect_error NAME EXPECTED_STATUS PATTERN CMD...: status, and one stderr line matching PATTERN
expect_error() {
	name=$1 want=$2 pat=$3
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	st=$?
	lines=$(wc -l <"$T/err")
	if [ "$st" -ne "$want" ]; then
		fail "$name: exit status expected $want got $st"
	elif [ "$lines" -ne 1 ] || ! grep -q "$pat" "$T/err"; then
		fail "$name: expected one line matching '$pat', got: $(cat "$T/err")"
	else
		ok "$name"
	fi
}

"$HA" record -o "$T/good.trace" -- "$B/tests/demo" 2>/dev/null
[ -s "$T/good.trace" ] && ok "demo traced" || fail "demo traced: no trace"

expect_error "missing file" 2 "cannot open '$T/nope.trace': No such file" "$HA" report "$T/nope.trace"
printf 'hello world, not a trace at all....................................................' >"$T/foreign"
expect_error "foreign file" 2 "is not a hotalloc trace" "$HA" report "$T/foreign"
: >"$T/empty"
expect_error "empty file" 2 "is empty" "$HA" report "$T/empty"
cp "$T/good.trace" "$T/v9.trace"
printf '\011' | dd of="$T/v9.trace" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_error "unknown version" 2 "format version 9; this hotalloc reads versions 1 to 3" "$HA" report "$T/v9.trace"
cp "$T/good.trace" "$T/corrupt.trace"
size=$(stat -c %s "$T/corrupt.trace")
printf 'XXXXXXXX' | dd of="$T/corrupt.trace" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_error "corrupt chunk" 2 "is corrupt: chunk" "$HA" report "$T/corrupt.trace"
printf 'XXXX' | dd of="$T/badmagic.trace" bs=1 count=0 2>/dev/null
cp "$T/good.trace" "$T/badmagic.trace"
printf 'XXXX' | dd of="$T/badmagic.trace" bs=1 seek=64 conv=notrunc 2>/dev/null
expect_error "bad chunk header" 2 "chunk 0 at byte 64 has a bad header" "$HA" report "$T/badmagic.trace"
expect_error "unknown option" 2 "unknown option '--frobnicate'" "$HA" report --frobnicate "$T/good.trace"
expect_error "unknown format" 2 "unknown format 'xml'" "$HA" report --format xml "$T/good.trace"
expect_error "unknown command" 2 "unknown command 'frob'" "$HA" frob
expect_error "record without command" 2 "no command given" "$HA" record
expect_error "record unknown option" 2 "unknown option '--bogus'" "$HA" record --bogus -- true
mkdir "$T/nodir"
expect_error "directory without traces" 2 "holds no hotalloc traces" "$HA" report "$T/nodir"

# A trace cut in the middle of its last chunk: reported, with one warning.
size=$(stat -c %s "$T/good.trace")
head -c $((size - 10)) "$T/good.trace" >"$T/torn.trace"
"$HA" report --format json "$T/torn.trace" >"$T/torn.json" 2>"$T/err"
st=$?
expect_eq "torn trace exit status" 0 "$st"
grep -q "ends mid-chunk" "$T/err" && ok "torn trace warns" || fail "torn trace warns: $(cat "$T/err")"
expect_eq "torn trace says truncated" True "$(json "$T/torn.json" 'd["trace"]["truncated"]')"

# The gate refuses runs it did not see whole: a torn trace, and a trace
# that ends with an exec (a wrapper script: the program is in NAME-1.trace).
"$HA" report --format json "$T/good.trace" >"$T/good.json" 2>/dev/null
"$HA" check "$T/good.json" "$T/torn.trace" >/dev/null 2>"$T/err"
expect_eq "check refuses a torn trace" 2 "$?"
grep -q "is truncated (the program was killed)" "$T/err" && ok "torn trace: says why" || fail "torn trace: says why: $(cat "$T/err")"
"$HA" record -o "$T/wrap.trace" -- sh -c "exec '$B/tests/demo'" 2>/dev/null
[ -s "$T/wrap-1.trace" ] && ok "exec'd program traced beside its wrapper" || fail "exec'd program traced beside its wrapper: $(ls "$T")"
expect_error "check refuses a trace that ends with exec" 2 "ends with an exec" "$HA" check "$T/good.json" "$T/wrap.trace"
"$HA" check "$T/good.json" "$T/wrap-1.trace" >/dev/null 2>&1
expect_eq "check passes the exec'd trace" 0 "$?"

# Inputs the fuzzer found (tests/fuzz/crashes/): a clear verdict, 0 or 2,
# quickly and within bounded memory, never a crash.
for f in "$(dirname "$0")"/fuzz/crashes/*; do
	[ -f "$f" ] || continue
	# ASan reserves terabytes of address space for its shadow: no ulimit there.
	if [ "$(basename "$B")" = asan ]; then
		timeout 20 "$HA" report --format json "$f" >/dev/null 2>"$T/err"
	else
		(ulimit -v 4000000; timeout 20 "$HA" report --format json "$f") >/dev/null 2>"$T/err"
	fi
	st=$?
	case $st in
	0 | 2) ok "fuzz input $(basename "$f") exits $st" ;;
	*) fail "fuzz input $(basename "$f"): exit status $st: $(head -c 300 "$T/err")" ;;
	esac
done

# record passes the exit status on, and a signal death as 128+N.
"$HA" record -o "$T/x.trace" -- sh -c 'exit 7' 2>/dev/null
expect_eq "record exit status" 7 "$?"
"$HA" record -o "$T/y.trace" -- sh -c 'kill -TERM $$' 2>/dev/null
expect_eq "record signal status" 143 "$?"
"$HA" record -o "$T/z.trace" -- /nonexistent/prog 2>"$T/err"
expect_eq "record missing command status" 127 "$?"
grep -q "cannot run '/nonexistent/prog'" "$T/err" && ok "record missing command message" || fail "record missing command message: $(cat "$T/err")"

# The trace file is private and never follows a symlink planted at its name.
expect_eq "trace mode 0600" 600 "$(stat -c %a "$T/good.trace")"
ln -s "$T/victim" "$T/planted.trace"
"$HA" record -o "$T/planted.trace" -- "$B/tests/demo" 2>/dev/null
[ ! -e "$T/victim" ] && ok "symlink not followed" || fail "symlink not followed: the victim file was created"
[ -s "$T/planted-1.trace" ] && ok "taken name gets a suffix" || fail "taken name gets a suffix: $(ls "$T")"

# make install: the installed hotalloc finds its installed library by itself.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(basename "$B")" != asan ]; then
	make -s -C "$ROOT" install PREFIX="$T/inst" BUILD="$B" >"$T/install.log" 2>&1
	expect_eq "make install" 0 "$?"
	env -u HOTALLOC_LIB "$T/inst/bin/hotalloc" record -o "$T/inst.trace" -- "$B/tests/demo" 2>"$T/err"
	[ -s "$T/inst.trace" ] && ok "installed record finds its library" ||
		fail "installed record finds its library: $(cat "$T/err")"
	[ -f "$T/inst/include/hotalloc.h" ] && ok "public header installed" || fail "public header installed"
fi

finish
