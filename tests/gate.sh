#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Gate tests: "hotalloc check" and "hotalloc diff" on a workload whose sites and
# counts are known (tests/workloads/gatework.c), traced for real: an unchanged run
# passes, +10% at one named site fails and names it, a rebuild whose code moved still
# matches (and so does the same build under another name), a new site fails with its
# stack, --ignore, limits files, hard limits, --from/--to, --per, bad baselines, the
# four output formats, the README's CI example run as written, and scripts/hotalloc-gate.
#
# Usage: tests/gate.sh BUILD_DIR
#   BUILD_DIR holds hotalloc and libhotalloc.so; the workloads are built into
#   BUILD_DIR/tests/ with tests/workloads.mk if they are missing or stale.
# Prints "ok NAME" or "FAIL NAME: expected A got B" per check and last "N passed,
# N failed"; exits 1 if a check failed.  The temporary folder is kept (its path printed
# on a line starting with "#") when a check failed, or always with KEEP=1; the bad
# baselines are also checked with BUILD_DIR/asan/hotalloc (ASan + UBSan) when it exists.
# Environment: GATE_TIMEOUT (seconds per command, default 60).
#
# Line numbers are never written here: each allocating line of the workload carries a
# marker comment ("/* @NAME */") and marker_line finds it.
set -u

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$(cd "$1" 2>/dev/null && pwd -P) || {
	echo "gate.sh: error: cannot enter build directory '$1'" >&2
	exit 2
}
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
HA=$BUILD/hotalloc
TIMEOUT=${GATE_TIMEOUT:-60}
SRC=$ROOT/tests/workloads/gatework.c
GATE_SCRIPT=$ROOT/scripts/hotalloc-gate

for f in "$HA" "$BUILD/libhotalloc.so"; do
	[ -e "$f" ] || { fail "setup: expected '$f' to exist got no such file (run make first)"; finish; exit 1; }
done
if ! make -s -C "$ROOT" -f tests/workloads.mk BUILD="$BUILD" gate-workloads >/dev/null; then
	fail "setup: expected the gate workloads to build got a make error"
	finish
	exit 1
fi
W=$BUILD/tests
GW=$W/gatework
T=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-gate.XXXXXX")
cd "$T" || exit 2

# ---- helpers ----

# has NAME FILE STRING: some line of FILE contains STRING (fixed).
has() {
	if grep -qF -- "$3" "$2"; then
		ok "$1"
	else
		fail "$1: expected a line with '$3' got: $(oneline "$2")"
	fi
}

# has_re NAME FILE ERE: some line of FILE matches ERE.
has_re() {
	if grep -qE -- "$3" "$2"; then
		ok "$1"
	else
		fail "$1: expected a line matching '$3' got: $(oneline "$2")"
	fi
}

# lacks NAME FILE STRING: no line of FILE contains STRING.
lacks() {
	if grep -qF -- "$3" "$2"; then
		fail "$1: expected no line with '$3' got: $(grep -F -- "$3" "$2" | head -n 2 | tr '\n' '|')"
	else
		ok "$1"
	fi
}

# py NAME EXPECTED FILE EXPR: a Python expression on d, the JSON in FILE.
py() {
	local got
	got=$(json "$3" "$4" 2>&1) || got="(not JSON: $(echo "$got" | tail -n 1))"
	expect_eq "$1" "$2" "$got"
}

# marker_line NAME: the line of gatework.c carrying "/* @NAME */".
marker_line() {
	grep -n "/\* @$1 \*/" "$SRC" | cut -d: -f1
}

# rec NAME CMD...: traces CMD into NAME.trace and reports it into NAME.json; exactly
# one trace is written.
rec() {
	local name=$1 n
	shift
	timeout "$TIMEOUT" "$HA" record -o "$name.trace" -- "$@" >"$name.rec.out" 2>"$name.rec.err"
	n=$(grep -c "^hotalloc: trace written to '" "$name.rec.err")
	if [ "$n" != 1 ] || [ ! -s "$name.trace" ]; then
		fail "record $name: expected one trace got $n (stderr: $(oneline "$name.rec.err"))"
		return 1
	fi
	"$HA" report --format json "$name.trace" >"$name.json" 2>"$name.report.err" ||
		fail "report $name: expected exit status 0 got $? (stderr: $(oneline "$name.report.err"))"
}

# commas N: N with thousands separators, as the text output writes counts.
commas() {
	python3 -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$1"
}

# Python on the site whose allocating frame is function F: S is the site.
site_of() {
	echo "[s for s in d['sites'] if s['stack'][s['caller_frame']]['function'] == '$1'][0]"
}

# stack_after FILE HEADER: function names of the indented stack lines that follow the
# first line of FILE beginning with HEADER, space-separated.
stack_after() {
	awk -v h="$2" '
		found && /^     / { sub(/^ +(<- )?/, ""); split($0, a, "  "); printf "%s ", a[1]; next }
		found { exit }
		index($0, h) == 1 { found = 1 }' "$1" | sed 's/ $//'
}

# first_frame_after FILE HEADER: the whole first stack line after HEADER, trimmed.
first_frame_after() {
	awk -v h="$2" 'found { sub(/^ +/, ""); print; exit } index($0, h) == 1 { found = 1 }' "$1"
}

L_TOKEN=$(marker_line parse_token)
L_INTERN=$(marker_line intern_name)
if [ -z "$L_TOKEN" ] || [ -z "$L_INTERN" ]; then
	fail "setup: expected markers @parse_token and @intern_name in $SRC got '$L_TOKEN' '$L_INTERN'"
fi

# ---- 1. the same binary, twice: passes, as JSON baseline and as traces ----

rec base "$GW" || { finish; exit 1; }
rec base2 "$GW"
py "workload: parse_token allocations" 10000 base.json "$(site_of parse_token)['allocations']"
py "workload: parse_token bytes" 1000000 base.json "$(site_of parse_token)['bytes']"
py "workload: parse_one allocations" 1000 base.json "$(site_of parse_one)['allocations']"
py "workload: setup allocations" 100 base.json "$(site_of setup)['allocations']"
py "workload: peak_bytes" 4800 base.json "d['totals']['peak_bytes']"
py "workload: leaked_bytes" 0 base.json "d['totals']['leaked_bytes']"
status "same binary: check json baseline vs trace exits 0" 0 same1 "$HA" check base.json base2.trace
has "same binary: check says pass" same1.out "hotalloc check: pass, 0 of"
status "same binary: check trace vs trace exits 0" 0 same2 "$HA" check base.trace base2.trace
status "same binary: check json vs json exits 0" 0 same3 "$HA" check base.json base2.json

# ---- 2. +10% at parse_token: fails, naming the site and the numbers ----

rec more "$GW" --more
py "workload: --more parse_token allocations" 11000 more.json "$(site_of parse_token)['allocations']"
tb=$(json base.json "d['totals']['allocations']")
status "+10% at parse_token: check exits 1" 1 more "$HA" check base.json more.trace
has "+10% at parse_token: verdict" more.out "hotalloc check: FAIL, 2 of"
has "+10% at parse_token: site numbers before, after, delta" more.out \
	"FAIL site allocations: 10,000 -> 11,000 (+1,000, +10.0%); limit site.allocations=+0% allows 10,000"
f=$(first_frame_after more.out "FAIL site allocations:")
case $f in
parse_token\ \ *gatework.c:"$L_TOKEN") ok "+10% at parse_token: site named with function and file:line" ;;
*) fail "+10% at parse_token: site named with function and file:line: expected 'parse_token  .../gatework.c:$L_TOKEN' got '$f'" ;;
esac
expect_eq "+10% at parse_token: stack of the site" "parse_token parse_one run_ops main" \
	"$(stack_after more.out "FAIL site allocations:" | cut -d' ' -f1-4)"
has "+10% at parse_token: totals before, after, delta" more.out \
	"FAIL allocations: $(commas "$tb") -> $(commas $((tb + 1000))) (+1,000, +"
has_re "+10% at parse_token: total's responsible site" more.out \
	"^ +\+1,000, \+10\.0%  10,000 -> 11,000  parse_token  .*gatework\.c:$L_TOKEN\$"
expect_eq "+10% at parse_token: one site blamed for the total" 1 "$(grep -cE '^     \+[0-9,]+, ' more.out)"
status "+10% at parse_token: trace vs trace exits 1" 1 more2 "$HA" check base.trace more.trace

# ---- 3. a rebuild whose code moved: every site still matches ----

rec moved "$W/moved/gatework"
a0=$(nm "$GW" | awk '$3 == "parse_token" { print $1 }')
a1=$(nm "$W/moved/gatework" | awk '$3 == "parse_token" { print $1 }')
if [ -n "$a0" ] && [ "$a0" != "$a1" ]; then ok "moved: parse_token's address moved"; else
	fail "moved: parse_token's address moved: expected an address other than '$a0' got '$a1'"; fi
l0=$(json base.json "$(site_of parse_token)['stack'][0]['line']")
l1=$(json moved.json "$(site_of parse_token)['stack'][0]['line']")
if [ "$l0" != "$l1" ]; then ok "moved: parse_token's line moved"; else
	fail "moved: parse_token's line moved: expected a line other than $l0 got $l1"; fi
status "moved: check exits 0" 0 moved "$HA" check base.json moved.trace
status "moved: diff exits 0" 0 moveddiff "$HA" diff --format json --top 0 base.json moved.trace
py "moved: diff statuses" "['matched', 'matched', 'matched']" moveddiff.out \
	"sorted(s['status'] for s in d['sites'])"
# The same build under another file name (a build system that names its binaries
# bench-<hash>, or one run through a symlink) is no different to the matching.
mkdir -p renamed && cp "$GW" renamed/gatework_v2
rec renamed.run renamed/gatework_v2
status "renamed binary: check exits 0" 0 renamed "$HA" check base.json renamed.run.trace

# ---- 4. a new allocating site: fails, with its stack ----

rec newsite "$GW" --new-site
status "new site: check exits 1" 1 newsite "$HA" check base.json newsite.trace
has "new site: verdict" newsite.out "FAIL new site: 1,000 allocations; limit new_site.allocations=0 allows 0"
f=$(first_frame_after newsite.out "FAIL new site:")
case $f in
intern_name\ \ *gatework.c:"$L_INTERN") ok "new site: named with function and file:line" ;;
*) fail "new site: named with function and file:line: expected 'intern_name  .../gatework.c:$L_INTERN' got '$f'" ;;
esac
expect_eq "new site: its stack" "intern_name parse_one run_ops main" \
	"$(stack_after newsite.out "FAIL new site:" | cut -d' ' -f1-4)"
has_re "new site: blamed for the total" newsite.out "\(new site\)  intern_name  "

# ---- 5. --ignore, limits files, hard limits ----

status "ignore: new site dropped, check exits 0" 0 ign "$HA" check --ignore 'intern_name' base.json newsite.trace
has "ignore: totals without it" ign.out "ok   allocations: 11,100 -> 11,100"
rec both "$GW" --more --new-site
status "ignore: other regressions still fail" 1 ign2 "$HA" check --ignore 'intern_name' base.json both.trace
lacks "ignore: ignored site not shown" ign2.out "intern_name"
status "ignore: bad regex exits 2" 2 ign3 "$HA" check --ignore '(' base.json newsite.trace
cat >loose.txt <<'EOF'
# Limits kept beside the baseline: parse_token is meant to grow by 10%.
allocations=+10%        # the totals may grow as much
site.allocations=+10%
   # an indented comment, and a blank line:

new_site.allocations=0
leaked_bytes=+0%
EOF
cat >tight.txt <<'EOF'
# Only 5% allowed per site.
site.allocations=+5%
EOF
status "limits file: loosened to +10%, exits 0" 0 loose "$HA" check --limits loose.txt base.json more.trace
has "limits file: loosened verdict" loose.out "hotalloc check: pass, 0 of"
status "limits file: tightened to +5%, exits 1" 1 tight "$HA" check --limits tight.txt base.json more.trace
has "limits file: tightened verdict names the limit" tight.out \
	"FAIL site allocations: 10,000 -> 11,000 (+1,000, +10.0%); limit site.allocations=+5% allows 10,500"
printf 'allocations=+2%%\nsite.allocations=lots\n' >bad.txt
status "limits file: a bad line exits 2" 2 badlim "$HA" check --limits bad.txt base.json more.trace
has "limits file: the bad line named" badlim.err "line 2"
status "hard limit: peak_bytes=1KiB fails (peak 4800 B)" 1 hard1 "$HA" check --limit peak_bytes=1KiB base.json base2.trace
has "hard limit: peak_bytes verdict" hard1.out "FAIL peak_bytes: 4.7 KiB -> 4.7 KiB (+0 B, +0.0%); limit peak_bytes=1KiB allows 1.0 KiB"
status "hard limit: peak_bytes=8KiB passes" 0 hard2 "$HA" check --limit peak_bytes=8KiB base.json base2.trace
status "hard limit: allocations=1000000 passes" 0 hard3 "$HA" check --limit allocations=1000000 base.json more.trace
status "hard limit: allocations=12099 fails (12,100 with --more)" 1 hard4 "$HA" check --limit allocations=12099 base.json more.trace

# ---- 6. --from/--to leave out a set-up phase that changes ----

rec setupA "$GW" --setup 100 250
rec setupB "$GW" --setup 400 250
py "set-up: first run's set-up allocations" 100 setupA.json "$(site_of setup)['allocations']"
py "set-up: second run's set-up allocations" 400 setupB.json "$(site_of setup)['allocations']"
status "set-up: check --from --to exits 0" 0 win1 "$HA" check --from steady --to 'done' setupA.trace setupB.trace
has "set-up: window totals" win1.out "ok   allocations: 2,750 -> 2,750 (+0, +0.0%)"
status "set-up: check without --from --to exits 1" 1 win2 "$HA" check setupA.trace setupB.trace
has "set-up: set-up site blamed" win2.out "FAIL site allocations: 100 -> 400 (+300, +300.0%)"
"$HA" report --format json --from steady --to 'done' setupA.trace >setupA.win.json 2>/dev/null
status "set-up: windowed json baseline vs trace exits 0" 0 win3 "$HA" check --from steady --to 'done' setupA.win.json setupB.trace
status "set-up: misspelt marker exits 2" 2 win4 "$HA" check --from stedy --to 'done' setupA.trace setupB.trace
expect_eq "set-up: misspelt marker, one stderr line" 1 "$(wc -l <win4.err)"
has "set-up: misspelt marker named" win4.err "marker 'stedy' (--from) does not occur"

# ---- 7. --per: exact allocations per operation ----

rec perMore "$GW" --more --setup 100 250
"$HA" report --format json --from steady --to 'done' --per op setupA.trace >per.json 2>per.err
py "per: count" 250 per.json "d['per']['count']"
py "per: mark" op per.json "d['per']['mark']"
py "per: allocations_per_op exactly 11" True per.json "d['per']['allocations_per_op'] == 11"
py "per: bytes_per_op exactly 1256" True per.json "d['per']['bytes_per_op'] == 1256"
"$HA" report --format json --from steady --to 'done' --per op perMore.trace >perMore.win.json 2>/dev/null
py "per: --more allocations_per_op exactly 12" True perMore.win.json "d['per']['allocations_per_op'] == 12"
status "per: one more per op fails allocations_per_op=+0%" 1 per1 \
	"$HA" check --from steady --to 'done' --per op --limit allocations_per_op=+0% setupA.trace perMore.trace
has "per: verdict numbers" per1.out "FAIL allocations per operation: 11 -> 12 (+1, +9.1%); limit allocations_per_op=+0% allows 11"
status "per: unchanged per-op count passes" 0 per2 \
	"$HA" check --from steady --to 'done' --per op --limit allocations_per_op=+0% setupA.trace setupB.trace
status "per: without a window, one more per op fails" 1 per3 \
	"$HA" check --per op --limit allocations_per_op=+0% setupA.trace perMore.trace
status "per: json baseline made with --per, exits 1" 1 per4 \
	"$HA" check --from steady --to 'done' --per op --limit allocations_per_op=+0% per.json perMore.trace
status "per: json baseline made without --per exits 2" 2 per5 \
	"$HA" check --per op --limit allocations_per_op=+0% base.json perMore.trace
status "per: allocations_per_op without --per exits 2" 2 per6 \
	"$HA" check --limit allocations_per_op=+0% setupA.trace perMore.trace

# ---- 8. bad baselines and options: exit 2, one clear line ----

size=$(stat -c %s base.json)
head -c $((size / 2)) base.json >truncated.json
printf '{"name": "not a report", "items": [1, 2, 3]}\n' >notreport.json
printf '[1, 2]\n' >array.json
python3 -c 'import random, sys
r = random.Random(7)
open(sys.argv[1], "wb").write(bytes([0]) + bytes(r.randrange(256) for _ in range(4095)))' random.bin
: >empty.json
"$HA" report --format json --top 1 base.trace >top1.json 2>/dev/null
"$HA" report --format json --group-by line base.trace >byline.json 2>/dev/null

# bad_input HOTALLOC LABEL: every bad baseline and option, with that analyzer.
bad_input() {
	local ha=$1 p=$2 b pat
	for b in truncated.json:"is not a hotalloc report" notreport.json:"is not a hotalloc JSON report" \
		array.json:"" random.bin:"is neither a hotalloc trace nor a JSON report" \
		empty.json:"is neither a hotalloc trace nor a JSON report" \
		missing.json:"cannot open 'missing.json': No such file or directory" \
		top1.json:"made with --top" byline.json:"--group-by line"; do
		pat=${b#*:}
		b=${b%%:*}
		status "${p}bad baseline $b: exits 2" 2 "bad.$b" "$ha" check "$b" base2.trace
		expect_eq "${p}bad baseline $b: one stderr line" 1 "$(wc -l <"bad.$b.err")"
		expect_eq "${p}bad baseline $b: nothing on stdout" 0 "$(wc -c <"bad.$b.out")"
		has_re "${p}bad baseline $b: error names the file" "bad.$b.err" "^hotalloc: error: .*'$b'"
		[ -n "$pat" ] && has "${p}bad baseline $b: says why" "bad.$b.err" "$pat"
	done
	status "${p}unknown option: exits 2" 2 badopt "$ha" check --frobnicate base.json base2.trace
	expect_eq "${p}unknown option: one stderr line" 1 "$(wc -l <badopt.err)"
	has "${p}unknown option: named" badopt.err "hotalloc: error: check: unknown option '--frobnicate'"
	status "${p}diff unknown option: exits 2" 2 badopt2 "$ha" diff --frobnicate base.json base2.trace
	status "${p}one input: exits 2" 2 badopt3 "$ha" check base.json
	status "${p}bad limit: exits 2" 2 badopt4 "$ha" check --limit allocations=+lots base.json base2.trace
	status "${p}unknown format: exits 2" 2 badopt5 "$ha" check --format xml base.json base2.trace
}
bad_input "$HA" ""
[ -x "$BUILD/asan/hotalloc" ] && bad_input "$BUILD/asan/hotalloc" "asan: "

# ---- 9. the four formats carry the same verdicts; --junit and --markdown files ----

# formats NAME WANT_STATUS WANT_BROKEN BASE NEW: every format of one check agrees.
formats() {
	local n=$1 want=$2 broken=$3 base=$4 new=$5 result=pass
	[ "$broken" -gt 0 ] && result=fail
	status "$n: text exits $want" "$want" "$n.text" "$HA" check "$base" "$new"
	expect_eq "$n: text FAIL lines" "$broken" "$(grep -c '^FAIL ' "$n.text.out")"
	status "$n: json exits $want" "$want" "$n.json" "$HA" check --format json "$base" "$new"
	py "$n: json result" "$result" "$n.json.out" "d['result']"
	py "$n: json broken" "$broken" "$n.json.out" "d['broken']"
	py "$n: json broken verdicts" "$broken" "$n.json.out" "sum(v['broken'] for v in d['verdicts'])"
	status "$n: junit exits $want" "$want" "$n.junit" "$HA" check --format junit "$base" "$new"
	expect_eq "$n: junit failures" "$broken $broken" "$(python3 -c '
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
print(r.get("failures"), len(r.findall("./testcase/failure")))' "$n.junit.out" 2>&1 | tail -n 1)"
	status "$n: markdown exits $want" "$want" "$n.md" "$HA" check --format markdown "$base" "$new"
	expect_eq "$n: markdown FAIL rows" "$broken" "$(grep -c '^| \*\*FAIL\*\* |' "$n.md.out")"
	status "$n: --junit --markdown exit $want" "$want" "$n.files" \
		"$HA" check --format json --junit "$n.x.xml" --markdown "$n.x.md" "$base" "$new"
	if cmp -s "$n.x.xml" "$n.junit.out"; then ok "$n: --junit file as --format junit"; else
		fail "$n: --junit file as --format junit: expected the same bytes got $(oneline "$n.x.xml")"; fi
	if cmp -s "$n.x.md" "$n.md.out"; then ok "$n: --markdown file as --format markdown"; else
		fail "$n: --markdown file as --format markdown: expected the same bytes got $(oneline "$n.x.md")"; fi
	if cmp -s "$n.files.out" "$n.json.out"; then ok "$n: stdout json beside the files"; else
		fail "$n: stdout json beside the files: expected the --format json output got $(oneline "$n.files.out")"; fi
}
formats "formats fail" 1 2 base.json more.trace
has "formats fail: markdown names the site" "formats fail.md.out" 'parse\_token  '
has "formats fail: junit names the site" "formats fail.junit.out" "site.allocations=+0% at parse_token  "
formats "formats more and new site" 1 3 base.json both.trace
formats "formats pass" 0 0 base.json base2.trace
status "formats: unwritable --junit exits 2" 2 fmtbad "$HA" check --junit "$T/no/such/dir/j.xml" base.json base2.trace

# ---- 10. the README's CI example, as written; scripts/hotalloc-gate ----

python3 - "$ROOT/README.md" <<'EOF' >ci.blocks 2>ci.err
# Writes the ```sh blocks under "### In CI" (up to the next heading) as ci.1.sh, ci.2.sh...
import sys
lines = open(sys.argv[1]).read().split("\n")
start = lines.index("### In CI") + 1
blocks, cur, fence = [], None, None
for line in lines[start:]:
    if fence is None and line.startswith("#"):
        break
    if fence is None and line.startswith("```"):
        fence = line[3:].strip()
        cur = []
    elif fence is not None and line.startswith("```"):
        if fence == "sh":
            blocks.append("\n".join(cur) + "\n")
        fence = None
    elif fence is not None:
        cur.append(line)
for i, b in enumerate(blocks, 1):
    open("ci.%d.sh" % i, "w").write(b)
print(len(blocks))
EOF
expect_eq "README CI: sh blocks under '### In CI'" 2 "$(cat ci.blocks)"
has "README CI: first block records a baseline" ci.1.sh "hotalloc record -o base.trace -- ./bench_parser"
has "README CI: second block checks" ci.2.sh "hotalloc check allocs-baseline.json new.trace"
CIPATH=$BUILD:$PATH
expect_eq "README CI: hotalloc on PATH is BUILD_DIR's" "$HA" "$(PATH=$CIPATH command -v hotalloc)"
# ci_run DIR BLOCK BENCH: runs a README block in DIR with BENCH as ./bench_parser.  The
# binary is copied, not linked: the module name of an unresolved frame (_start) is the
# executable's, and the real one would be bench_parser on both sides.
ci_run() {
	mkdir -p "$1"
	cp "$3" "$1/bench_parser"
	(cd "$1" && PATH=$CIPATH timeout "$TIMEOUT" sh -e "$T/$2" >out 2>err)
}
ci_run ci.base ci.1.sh "$GW"
expect_eq "README CI: baseline block exits 0" 0 $?
py "README CI: baseline is a report" 11100 ci.base/allocs-baseline.json "d['totals']['allocations']"
has "README CI: limits file written" ci.base/allocs-limits.txt "new_site.bytes=64KiB"
for d in ci.same ci.more; do
	mkdir -p $d
	cp ci.base/allocs-baseline.json ci.base/allocs-limits.txt $d/
done
ci_run ci.same ci.2.sh "$GW"
expect_eq "README CI: unchanged run, check block exits 0" 0 $?
expect_eq "README CI: unchanged run, one trace new.trace" "hotalloc: trace written to '$T/ci.same/new.trace'" \
	"$(grep '^hotalloc: trace written' ci.same/err)"
expect_eq "README CI: unchanged run, junit failures" 0 "$(python3 -c '
import sys, xml.etree.ElementTree as ET
print(ET.parse(sys.argv[1]).getroot().get("failures"))' ci.same/hotalloc-junit.xml 2>&1)"
has "README CI: unchanged run, summary written" ci.same/hotalloc-summary.md "### hotalloc check: pass"
ci_run ci.more ci.2.sh "$W/gatework_more"
expect_eq "README CI: +10% at parse_token, check block exits 1" 1 $?
expect_eq "README CI: +10% run, one trace new.trace" "hotalloc: trace written to '$T/ci.more/new.trace'" \
	"$(grep '^hotalloc: trace written' ci.more/err)"
has "README CI: +10% run, limit named" ci.more/out "FAIL allocations: 11,100 -> 12,100 (+1,000, +9.0%); limit allocations=+2% allows 11,322"
has_re "README CI: +10% run, site named" ci.more/out "parse_token  .*gatework\.c:$L_TOKEN\$"
expect_eq "README CI: +10% run, junit failures" 1 "$(python3 -c '
import sys, xml.etree.ElementTree as ET
print(ET.parse(sys.argv[1]).getroot().get("failures"))' ci.more/hotalloc-junit.xml 2>&1)"
has "README CI: +10% run, summary" ci.more/hotalloc-summary.md "### hotalloc check: **FAIL**"

mkdir -p hg && cd hg || exit 2
status "hotalloc-gate: --update exits 0" 0 upd env PATH="$CIPATH" "$GATE_SCRIPT" --update gate-baseline.json -- "$GW"
py "hotalloc-gate: baseline written" 11100 gate-baseline.json "d['totals']['allocations']"
status "hotalloc-gate: unchanged run exits 0" 0 same env PATH="$CIPATH" "$GATE_SCRIPT" gate-baseline.json -- "$GW"
: >summary.md
status "hotalloc-gate: --more exits 1" 1 more env PATH="$CIPATH" HOTALLOC_JUNIT=gate-junit.xml \
	GITHUB_STEP_SUMMARY=summary.md "$GATE_SCRIPT" gate-baseline.json -- "$GW" --more
has "hotalloc-gate: --more names the site" more.out "FAIL site allocations: 10,000 -> 11,000 (+1,000, +10.0%)"
has "hotalloc-gate: junit written" gate-junit.xml 'failures="2"'
has "hotalloc-gate: step summary appended" summary.md "### hotalloc check: **FAIL**"
status "hotalloc-gate: --limits loosened exits 0" 0 loose env PATH="$CIPATH" \
	"$GATE_SCRIPT" --limits ../loose.txt gate-baseline.json -- "$GW" --more
status "hotalloc-gate: HOTALLOC, --new-site exits 1" 1 new env HOTALLOC="$HA" \
	"$GATE_SCRIPT" gate-baseline.json -- "$GW" --new-site
status "hotalloc-gate: --check-arg --ignore exits 0" 0 ign env HOTALLOC="$HA" \
	"$GATE_SCRIPT" --check-arg --ignore --check-arg intern_name gate-baseline.json -- "$GW" --new-site
status "hotalloc-gate: no baseline exits 2" 2 nobase env HOTALLOC="$HA" "$GATE_SCRIPT" nothere.json -- "$GW"
status "hotalloc-gate: failing command passes its status on" 3 cmdfail env HOTALLOC="$HA" \
	"$GATE_SCRIPT" gate-baseline.json -- sh -c 'exit 3'
cd "$T" || exit 2

# ---- done ----

if [ "$FAIL" -gt 0 ] || [ -n "${KEEP:-}" ]; then
	echo "# kept $T"
else
	cd / && rm -rf "$T"
fi
finish
