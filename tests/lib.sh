# SPDX-License-Identifier: MIT
# Shared helpers of the shell test suites: counters, assertions that print
# both sides, and the closing "N passed, N failed" line.
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }

# expect_eq NAME EXPECTED GOT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2' got '$3'"; fi
}

# json FILE EXPR: prints a field of a JSON file (python3 expression on d).
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# oneline FILE: its start on one line, for messages.
oneline() {
	head -c 400 "$1" 2>/dev/null | tr '\n' '|'
}

# status NAME WANT OUT CMD...: runs CMD (under timeout $TIMEOUT) with stdout in OUT.out
# and stderr in OUT.err and checks its exit status.
status() {
	local name=$1 want=$2 out=$3 got
	shift 3
	timeout "$TIMEOUT" "$@" >"$out.out" 2>"$out.err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$name"
	else
		fail "$name: expected exit status $want got $got (stdout: $(oneline "$out.out") stderr: $(oneline "$out.err"))"
	fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
