#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sampling-mode tests: tests/workloads/sampled.c, whose allocations are known exactly,
# traced exactly and with HOTALLOC_SAMPLE / "hotalloc record --sample", and the
# estimates of the sampled reports held to the exact run within four standard errors
# of the estimator (computed from the workload's known sizes), blocks well above the
# rate counted exactly, no free of an unknown block and no address reused while live
# (either would mean the tracer recorded the free of an unsampled block or missed the
# free of a sampled one), one-thread determinism, threads with cross-thread frees,
# realloc chains and realloc between unsampled and sampled sizes, a realloc whose old
# block is handed out again before the tracer has looked it up (libsampled-grab.so),
# per-thread estimates from eight independent streams (bias and spread), the SAMPLED
# banner, the trace size, check/diff refusing estimates without --accept-estimates,
# and the --sample option's errors.
#
# Usage: tests/sampling.sh BUILD_DIR
#   BUILD_DIR holds hotalloc and libhotalloc.so; the workload and its interposer are
#   built into BUILD_DIR/tests/ (sampled, libsampled-grab.so) if missing or stale.
# Prints "ok NAME" or "FAIL NAME: ..." per check, "#" lines with the measured errors
# and wall times, and last "N passed, N failed"; exits 1 if a check failed.  The
# temporary folder is kept (its path printed on a "#" line) when a check failed, or
# always with KEEP=1.  Environment: SAMPLING_TIMEOUT (seconds per command, default 60).
#
# Why four standard errors: the tracer picks each allocation of s bytes independently
# with p = 1 - exp(-s/R) (a Poisson process over the bytes is memoryless, so restarting
# the countdown after a pick changes nothing), and the analyzer counts a picked block
# W times, W = floor(1/p) or ceil(1/p) with mean 1/p.  So an estimated count is a sum
# of independent terms of mean 1 and variance (1-p)/p + p*f*(1-f), f the fraction of
# 1/p; a byte figure the same times s^2.  Summed over the workload's known sizes that
# gives the standard error of every figure (about sqrt(R * bytes) for bytes).  Each
# figure checked rests on 30 picks or more (most on thousands), which makes the sum
# close to normal: 4 SE is passed by chance about once in 16,000 checks.
set -u

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	sed -n '3,31p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$(cd "$1" 2>/dev/null && pwd -P) || {
	echo "sampling.sh: error: cannot enter build directory '$1'" >&2
	exit 2
}
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
HA=$BUILD/hotalloc
HALIB=$BUILD/libhotalloc.so
TIMEOUT=${SAMPLING_TIMEOUT:-60}
SRC=$ROOT/tests/workloads/sampled.c
WL=$BUILD/tests/sampled
START=$(date +%s.%N)

for f in "$HA" "$HALIB"; do
	[ -e "$f" ] || { fail "setup: expected '$f' to exist got no such file (run make first)"; finish; exit 1; }
done
# The workload and its realloc interposer, with the flags of tests/workloads.mk.
WL_CFLAGS="-O1 -g -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -pthread"
GRAB=$BUILD/tests/libsampled-grab.so
for out in "$WL" "$GRAB"; do
	[ -e "$out" ] && [ ! "$SRC" -nt "$out" ] && [ ! "$ROOT/tests/workloads/workload.h" -nt "$out" ] &&
		[ ! "$ROOT/tests/workloads/handoff.h" -nt "$out" ] && continue
	mkdir -p "$BUILD/tests"
	extra=""
	[ "$out" = "$GRAB" ] && extra="-DSAMPLED_INTERPOSER -fPIC -shared"
	# shellcheck disable=SC2086
	if ! ${CC:-cc} $WL_CFLAGS $extra -o "$out" "$SRC" -ldl; then
		fail "setup: expected '$out' to build from tests/workloads/sampled.c got a compiler error"
		finish
		exit 1
	fi
done
T=$(mktemp -d "${TMPDIR:-/tmp}/hotalloc-sampling.XXXXXX")
cd "$T" || exit 2

# The workloads' arguments; the statistics below know what each one allocates.
MAIN_ARGS="main 2000000 16384"
THREADS_ARGS="threads 4 200000 4"
SEEDS_ARGS="seeds 8 250000"
REALLOC_ARGS="realloc 200 1000 1000"
GRAB_ARGS="grab 20000"

# ---- helpers ----

# one_error NAME OUT PATTERN: OUT.err is exactly one line, matching the ERE PATTERN,
# and OUT.out is empty.
one_error() {
	local n
	n=$(wc -l <"$2.err")
	if [ "$n" -eq 1 ] && grep -qE -- "$3" "$2.err" && [ ! -s "$2.out" ]; then
		ok "$1"
	else
		fail "$1: expected one stderr line matching '$3' and no stdout got $n lines: $(oneline "$2.err") stdout: $(oneline "$2.out")"
	fi
}

# elapsed SINCE: seconds since SINCE (date +%s.%N), to the millisecond.
elapsed() {
	python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(date +%s.%N)"
}

# rec NAME SAMPLE ARGS...: runs the workload with ARGS under "hotalloc record", with
# HOTALLOC_SAMPLE=SAMPLE in the environment (0: exact), into NAME.trace; reports it
# into NAME.json; NAME.time is the wall time of the traced run.  Exactly one trace.
rec() {
	local name=$1 sample=$2 n t0
	shift 2
	t0=$(date +%s.%N)
	HOTALLOC_SAMPLE=$sample timeout "$TIMEOUT" "$HA" record -o "$name.trace" -- "$WL" "$@" \
		>"$name.rec.out" 2>"$name.rec.err"
	elapsed "$t0" >"$name.time"
	n=$(grep -c "^hotalloc: trace written to '" "$name.rec.err")
	if [ "$n" != 1 ] || [ ! -s "$name.trace" ]; then
		fail "record $name: expected one trace got $n (stderr: $(oneline "$name.rec.err"))"
		return 1
	fi
	report "$name"
}

# report NAME: NAME.trace into NAME.json.
report() {
	"$HA" report --format json "$1.trace" >"$1.json" 2>"$1.report.err" ||
		fail "report $1: expected exit status 0 got $? (stderr: $(oneline "$1.report.err"))"
}

# stats ARGS...: runs the statistics script; its "ok"/"FAIL" lines are counted here,
# its "#" lines printed.
stats() {
	local line
	while IFS= read -r line; do
		case "$line" in
		"ok "*) ok "${line#ok }" ;;
		"FAIL "*) fail "${line#FAIL }" ;;
		*) echo "$line" ;;
		esac
	done < <(python3 "$T/stats.py" "$@" 2>&1 || echo "FAIL stats $*: the statistics script failed")
}

cat >"$T/stats.py" <<'EOF'
# The known composition of each mode of tests/workloads/sampled.c (see its header) and
# the checks of a report against it: exact runs field by field, sampled runs within
# 4 standard errors of the exact run (the variance is derived in tests/sampling.sh).
import json, math, sys

SIZES = [16, 64, 256, 1024, 2048, 3072, 4096, 4096]
BIG = 8 << 20
GROUP = 4               # standard errors allowed


def cnt(n, m, r):
    """How many i < n have i % m == r."""
    return (n - r + m - 1) // m if n > r else 0


def unit_var(s, rate):
    """Variance of one allocation's weighted count: (1-p)/p plus the rounding's."""
    if rate == 0:
        return 0.0
    p = -math.expm1(-s / rate)
    w = 1.0 / p
    f = w - math.floor(w)
    return (1 - p) / p + p * f * (1 - f)


def value(comp, kind):
    return sum(n * (s if kind == "b" else 1) for n, s in comp)


def var(comp, kind, rate):
    return sum(n * unit_var(s, rate) * (s * s if kind == "b" else 1) for n, s in comp)


def main_comp(n, k):
    c = cnt(n, 1000, 3)
    sites = {
        "pair": [(cnt(n, 8, j), SIZES[j]) for j in range(8)],
        "calloc_site": [(cnt(n, 16, 0), 512)],
        "memalign_site": [(cnt(n, 32, 1), 256)],
        "aligned_site": [(cnt(n, 64, 2), 4096)],
        "chain_site": [(c, 64)] + [(c, 64 + 256 * j) for j in range(1, 33)],
        "big_block": [(16, BIG)],
        "batch_site": [(262144, 512)],
        "leak_small": [(k, 4096)],
        "leak_large": [(2, BIG)],
    }
    allocs = sum(sites.values(), [])
    leaks = sites["leak_small"] + sites["leak_large"]
    freed = sum((v for key, v in sites.items() if not key.startswith("leak")), [])
    fig = {
        "allocations": (allocs, "n"), "bytes_allocated": (allocs, "b"),
        "frees": (freed, "n"), "leaked_blocks": (leaks, "n"), "leaked_bytes": (leaks, "b"),
        "peak_bytes": (sites["batch_site"], "b"),
    }
    calls = {"malloc": n + c + 16 + 262144 + k + 2, "calloc": cnt(n, 16, 0), "realloc": 32 * c,
             "posix_memalign": cnt(n, 32, 1), "aligned_alloc": cnt(n, 64, 2),
             "free": n + cnt(n, 16, 0) + cnt(n, 32, 1) + cnt(n, 64, 2) + c + 16 + 262144}
    return fig, sites, calls, 18


def threads_comp(t, n, big):
    prod, rnew, per = [], [], []
    for i in range(t):
        mine = [(cnt(n, 8, j), SIZES[(j + i) % 8]) for j in range(8)] + [(big, BIG)]
        src = (i + t - 1) % t
        grown = [(cnt(n, 8, 0), 2 * SIZES[src % 8]), (cnt(n, 8, 4), 2 * SIZES[(4 + src) % 8])]
        prod += mine
        rnew += grown
        per.append((value(mine + grown, "n"), value(mine + grown, "b")))
    allocs = prod + rnew
    fig = {"allocations": (allocs, "n"), "bytes_allocated": (allocs, "b"), "frees": (allocs, "n"),
           "cross_thread_frees": (prod, "n")}
    # free() calls: libc's own in pthread_create and thread exit come on top.
    calls = {"malloc": t * (n + big), "realloc": t * cnt(n, 4, 0)}
    return fig, sorted(per), calls, t * big


def seeds_comp(n):
    return [(cnt(n, 8, j), SIZES[j]) for j in range(8)] + [(2, BIG)]


def realloc_comp(c, steps, toggles):
    chain = [(c, 16)] + [(c, 16 + 64 * j) for j in range(1, steps + 1)]
    tog = [(toggles, s) for s in (16, BIG, 32, BIG, BIG, 24, 100)]
    fig = {"allocations": (chain + tog, "n"), "bytes_allocated": (chain + tog, "b"),
           "frees": (chain + tog, "n")}
    # realloc(NULL, 100) is counted as a malloc call.
    calls = {"malloc": c + 4 * toggles, "realloc": c * steps + 6 * toggles, "free": c + toggles}
    return fig, {"growth_chain": chain}, calls, 3 * toggles


def load(path):
    with open(path) as f:
        return json.load(f)


def out(ok, name, msg=""):
    print(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, msg)))


def eq(name, want, got):
    out(want == got, name, "expected %r got %r" % (want, got))


def big_bucket(d):
    return sum(h["count"] for h in d["size_histogram"] if h["min"] >= BIG)


def caller(site):
    return site["stack"][site["caller_frame"]]["function"] if site["stack"] else None


def site_sum(d, func, field):
    return sum(s[field] for s in d["sites"] if caller(s) == func)


def estimate(name, got, ref, variance, unit):
    """got within GROUP standard errors of ref, plus two rounding units (a weight of
    1/p rounded up when p is within 1e-7 of 1: rare events the normal law misses)."""
    sd = math.sqrt(variance)
    tol = GROUP * sd + 2 * unit
    err = got - ref
    rel = err / ref if ref else 0.0
    z = err / sd if sd > 0 else (0.0 if err == 0 else float("inf"))
    text = "estimate %s exact %s error %+d (%+.3f%%) SE %.3f%% z %+.2f tolerance +-%s" % (
        format(got, ","), format(ref, ","), err, 100 * rel, 100 * sd / ref if ref else 0, z,
        format(int(tol), ","))
    out(abs(err) <= tol, name, text)
    print("# est %s: %s" % (name, text))
    return z


def chains(label, d, ex):
    """realloc_chains is not an estimate under sampling (README, Known limits): a chain
    shows only where the block's reallocs were sampled one after another, so the figure
    is neither weighted back nor bounded.  It is shown for the record, not asserted; the
    soundness checks (no unmatched frees, no reuse while live) cover the reallocs."""
    got, want = d["totals"]["realloc_chains"], ex["totals"]["realloc_chains"]
    print("# est %s: realloc_chains (not an estimate) %s exact %s" % (label, format(got, ","),
                                                                      format(want, ",")))


def sound(d, label, rate):
    """What every trace of these tests must show."""
    tr, tot = d["trace"], d["totals"]
    eq("%s: format_version" % label, 3, tr["format_version"])
    eq("%s: sample_bytes" % label, rate, tr["sample_bytes"])
    eq("%s: estimated" % label, rate > 0, tr["estimated"])
    eq("%s: complete (not truncated, ends with exit)" % label, (False, "exit"), (tr["truncated"], tr["end"]))
    eq("%s: lost_events" % label, 0, tr["lost_events"])
    eq("%s: unmatched_frees" % label, 0, tot["unmatched_frees"])
    eq("%s: reused_while_live" % label, 0, tot["reused_while_live"])
    eq("%s: failed_calls" % label, 0, tot["failed_calls"])
    eq("%s: allocations - frees == leaked_blocks" % label, tot["allocations"] - tot["frees"],
       tot["leaked_blocks"])


def check(label, fig, d, ex, rate, big_n, extra):
    """The figures of a sampled report d against the exact report ex."""
    tot, xt = d["totals"], ex["totals"]
    for key, (comp, kind) in fig.items():
        comp = comp + extra if key in ("allocations", "bytes_allocated", "frees") else comp
        unit = 1 if kind == "n" else 2 * 4096
        estimate("%s: %s" % (label, key), tot[key], xt[key], var(comp, kind, rate), unit)
    eq("%s: %d blocks of 8 MiB or more, exactly" % (label, big_n), big_n, big_bucket(d))


def extras(ex, fig):
    """Allocations of the exact run beyond the workload's own (libc's, in pthread_create),
    as a composition of their mean size."""
    n = ex["totals"]["allocations"] - value(fig["allocations"][0], "n")
    b = ex["totals"]["bytes_allocated"] - value(fig["bytes_allocated"][0], "b")
    return [(n, b / n)] if n > 0 else []


def cmd_main(label, path, expath, rate, n, k):
    d, ex = load(path), load(expath)
    fig, sites, calls, big_n = main_comp(n, k)
    sound(d, label, rate)
    if rate == 0:
        for key, (comp, kind) in fig.items():
            eq("%s: %s" % (label, key), value(comp, kind), d["totals"][key])
        for key, want in calls.items():
            eq("%s: calls.%s" % (label, key), want, d["calls"][key])
        eq("%s: blocks of 8 MiB" % label, big_n, big_bucket(d))
        return
    check(label, fig, d, ex, rate, big_n, [])
    for func, comp in sites.items():
        if func in ("big_block", "leak_large"):
            continue
        estimate("%s: site %s allocations" % (label, func), site_sum(d, func, "allocations"),
                 value(comp, "n"), var(comp, "n", rate), 1)
        estimate("%s: site %s bytes" % (label, func), site_sum(d, func, "bytes"),
                 value(comp, "b"), var(comp, "b", rate), 2 * 4096)
    eq("%s: site big_block allocations, frees, bytes exactly" % label, (16, 16, 16 * BIG),
       (site_sum(d, "big_block", "allocations"), site_sum(d, "big_block", "frees"),
        site_sum(d, "big_block", "bytes")))
    eq("%s: site leak_large leaked blocks and bytes exactly" % label, (2, 2 * BIG),
       (site_sum(d, "leak_large", "leaked_blocks"), site_sum(d, "leak_large", "leaked_bytes")))
    leakers = sorted(set(caller(s) for s in d["sites"] if s["leaked_blocks"]))
    eq("%s: the sites that leak" % label, ["leak_large", "leak_small"], leakers)
    chains(label, d, ex)
    rel = GROUP * math.sqrt(var(fig["bytes_allocated"][0], "b", rate)) / d["totals"]["bytes_allocated"]
    out(rel <= 0.05, "%s: bytes_allocated tolerance (4 SE) within 5%%" % label, "4 SE is %.2f%%" % (100 * rel))


def cmd_threads(label, path, expath, rate, t, n, big):
    d, ex = load(path), load(expath)
    fig, per, calls, big_n = threads_comp(t, n, big)
    sound(d, label, rate)
    if rate == 0:
        tot = d["totals"]
        extra = tot["allocations"] - value(fig["allocations"][0], "n")
        out(0 <= extra <= 4 * t, "%s: allocations beyond the workload's (libc's, at most 4 per thread)" % label,
            "expected 0 to %d got %d" % (4 * t, extra))
        eq("%s: frees" % label, value(fig["frees"][0], "n"), tot["frees"])
        eq("%s: cross_thread_frees" % label, value(fig["cross_thread_frees"][0], "n"), tot["cross_thread_frees"])
        for key, want in calls.items():
            eq("%s: calls.%s" % (label, key), want, d["calls"][key])
        eq("%s: blocks of 8 MiB" % label, big_n, big_bucket(d))
        workers = sorted((th["allocations"], th["bytes"]) for th in d["threads"] if th["bytes"] >= BIG)
        eq("%s: per-thread allocations and bytes" % label, per, workers)
        return
    check(label, fig, d, ex, rate, big_n, extras(ex, fig))


def chi2_cdf(x, k):
    """P(X < x) for a chi-square of an even number k of degrees of freedom."""
    term, total = 1.0, 1.0
    for j in range(1, k // 2):
        term *= (x / 2) / j
        total += term
    return 1.0 - math.exp(-x / 2) * total


def chi2_quantile(q, k):
    lo, hi = 0.0, 10.0 * k + 100
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if chi2_cdf(mid, k) < q else (lo, mid)
    return lo


TAIL = 1e-4             # each side of the spread check


def cmd_seeds(label, path, expath, rate, s, n):
    d, ex = load(path), load(expath)
    comp = seeds_comp(n)
    sound(d, label, rate)
    workers = [th for th in d["threads"] if th["bytes"] >= 2 * BIG]
    if rate == 0:
        eq("%s: per-thread allocations and bytes" % label, [(value(comp, "n"), value(comp, "b"))] * s,
           [(th["allocations"], th["bytes"]) for th in workers])
        return
    eq("%s: threads with a sample" % label, s, len(workers))
    if len(workers) != s or s % 2:
        return
    chi_lo, chi_hi = chi2_quantile(TAIL, s), chi2_quantile(1 - TAIL, s)
    for kind, field in (("n", "allocations"), ("b", "bytes")):
        ref, sd = value(comp, kind), math.sqrt(var(comp, kind, rate))
        zs = []
        for i, th in enumerate(workers):
            zs.append(estimate("%s: thread %d %s" % (label, i + 1, field), th[field], ref,
                               var(comp, kind, rate), 1 if kind == "n" else 2 * 4096))
        mean = sum(th[field] for th in workers) / s
        zm = (mean - ref) / (sd / math.sqrt(s))
        out(abs(zm) <= GROUP, "%s: mean %s of %d streams unbiased" % (label, field, s),
            "mean %.0f exact %d (%+.3f%%) z %+.2f" % (mean, ref, 100 * (mean - ref) / ref, zm))
        print("# est %s: mean %s of %d streams %.0f exact %d error %+.3f%% (SE of the mean %.3f%%) z %+.2f"
              % (label, field, s, mean, ref, 100 * (mean - ref) / ref, 100 * sd / math.sqrt(s) / ref, zm))
        chi = sum(z * z for z in zs)
        out(chi_lo <= chi <= chi_hi, "%s: spread of the %d %s estimates as the variance says" % (label, s, field),
            "sum of z^2 %.2f, expected %.3f to %.2f (chi-square, %d degrees of freedom, %g each side)"
            % (chi, chi_lo, chi_hi, s, TAIL))
        print("# est %s: %s sum of z^2 over %d streams %.2f (expected %d on average, %.2f to %.2f allowed)"
              % (label, field, s, chi, s, chi_lo, chi_hi))


def cmd_realloc(label, path, expath, rate, c, steps, toggles):
    d, ex = load(path), load(expath)
    fig, sites, calls, big_n = realloc_comp(c, steps, toggles)
    sound(d, label, rate)
    tot = d["totals"]
    if rate == 0:
        for key, (comp, kind) in fig.items():
            eq("%s: %s" % (label, key), value(comp, kind), tot[key])
        for key, want in calls.items():
            eq("%s: calls.%s" % (label, key), want, d["calls"][key])
        eq("%s: blocks of 8 MiB" % label, big_n, big_bucket(d))
        eq("%s: realloc_chains" % label, c + toggles, tot["realloc_chains"])
        return
    check(label, fig, d, ex, rate, big_n, [])
    comp = sites["growth_chain"]
    estimate("%s: site growth_chain bytes" % label, site_sum(d, "growth_chain", "bytes"),
             value(comp, "b"), var(comp, "b", rate), 2 * 4096)
    eq("%s: nothing leaks (every sampled block's release recorded)" % label, (0, 0),
       (tot["leaked_blocks"], tot["leaked_bytes"]))
    eq("%s: frees == allocations" % label, tot["allocations"], tot["frees"])
    chains(label, d, ex)


def grab_comp(n):
    allocs = [(n, 4096), (n, 2000), (n, 4104), (n, 8192)]
    fig = {"allocations": (allocs, "n"), "bytes_allocated": (allocs, "b"),
           "frees": (allocs[:2] + [(n - 1, 4104)] + allocs[3:], "n")}
    return fig


def cmd_grab(label, path, expath, rate, n):
    d, ex = load(path), load(expath)
    fig = grab_comp(n)
    sound(d, label, rate)
    if rate == 0:
        for key, (comp, kind) in fig.items():
            eq("%s: %s" % (label, key), value(comp, kind), d["totals"][key])
        eq("%s: leaked blocks and bytes" % label, (1, 4104), (d["totals"]["leaked_blocks"], d["totals"]["leaked_bytes"]))
        return
    # The one leaked block (picked or not) is too few for an estimate: not checked.
    check(label, fig, d, ex, rate, 0, [])


def cmd_grabs(path):
    """How many reallocs of a dump had their old block malloc'd again (by the
    interposer) before the realloc's own record."""
    last, hits = {}, 0
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) < 4 or not (w[0].isdigit() and w[1].isdigit()):
                continue
            if w[2] == "malloc" and "size=4104" in w:
                last[w[1]] = w[3]
            elif w[2] == "realloc":
                old = [x[4:] for x in w if x.startswith("old=")]
                hits += bool(old and last.get(w[1]) == old[0])
                last.pop(w[1], None)
    print(hits)


def cmd_same(label, a, b):
    """Two reports of the same one-thread program sampled the same way: identical
    figures (all but the timings, and short_lived, which is a matter of timing: a block
    living 0.99 or 1.01 ms)."""
    da, db = load(a), load(b)
    timing = ("peak_time_s", "allocations_per_s", "short_lived")

    def figures(d):
        tot = {k: v for k, v in d["totals"].items() if k not in timing}
        sites = sorted((tuple(f["function"] for f in s["stack"]), s["allocations"], s["bytes"], s["frees"],
                        s["leaked_blocks"], s["leaked_bytes"], s["peak_bytes"]) for s in d["sites"])
        return tot, d["calls"], d["size_histogram"], sites

    fa, fb = figures(da), figures(db)
    diffs = ["%s: %s != %s" % (k, fa[0][k], fb[0][k]) for k in fa[0] if fa[0][k] != fb[0][k]]
    out(fa[0] == fb[0], "%s: identical totals" % label, "; ".join(diffs))
    out(fa[1] == fb[1], "%s: identical calls" % label, "%r != %r" % (fa[1], fb[1]))
    out(fa[2] == fb[2], "%s: identical size histogram" % label, "differs")
    out(fa[3] == fb[3], "%s: identical sites" % label,
        "%d of %d sites differ" % (sum(x != y for x, y in zip(fa[3], fb[3])), len(fa[3])))


def cmd_events(path):
    """A dump's events without times, threads or addresses: kind, sizes, stack."""
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 4 and w[0].isdigit() and w[1].isdigit():
                print(" ".join([w[2]] + [x for x in w[4:] if x.split("=")[0] in ("size", "nmemb", "align", "stack")]))


cmds = {"main": cmd_main, "threads": cmd_threads, "seeds": cmd_seeds, "realloc": cmd_realloc, "grab": cmd_grab}
if sys.argv[1] == "same":
    cmd_same(*sys.argv[2:5])
elif sys.argv[1] == "grabs":
    cmd_grabs(sys.argv[2])
elif sys.argv[1] == "events":
    cmd_events(sys.argv[2])
elif sys.argv[1] == "field":
    d = load(sys.argv[2])
    print(eval(sys.argv[3]))
else:
    mode, label, path, expath, rate = sys.argv[1:6]
    cmds[mode](label, path, expath, int(rate), *[int(x) for x in sys.argv[6:]])
EOF

# ---- 1. exact runs: the workload's own counts, and the reference figures ----

# shellcheck disable=SC2086
rec exact-main 0 $MAIN_ARGS && stats main "exact main" exact-main.json exact-main.json 0 ${MAIN_ARGS#main }
# shellcheck disable=SC2086
rec exact-threads 0 $THREADS_ARGS &&
	stats threads "exact threads" exact-threads.json exact-threads.json 0 ${THREADS_ARGS#threads }
# shellcheck disable=SC2086
rec exact-seeds 0 $SEEDS_ARGS && stats seeds "exact seeds" exact-seeds.json exact-seeds.json 0 ${SEEDS_ARGS#seeds }
# shellcheck disable=SC2086
rec exact-realloc 0 $REALLOC_ARGS &&
	stats realloc "exact realloc" exact-realloc.json exact-realloc.json 0 ${REALLOC_ARGS#realloc }

# ---- 2. one thread, sampled at 64 KiB, 512 KiB and 1 byte: estimates, exact big blocks ----

# HOTALLOC_SAMPLE by hand, without hotalloc record.
t0=$(date +%s.%N)
# shellcheck disable=SC2086
timeout "$TIMEOUT" env HOTALLOC_SAMPLE=65536 HOTALLOC_OUT="$T/main-64k.trace" LD_PRELOAD="$HALIB" \
	"$WL" $MAIN_ARGS >main-64k.rec.out 2>main-64k.rec.err
st=$?
elapsed "$t0" >main-64k.time
expect_eq "HOTALLOC_SAMPLE=65536 by hand: exit status" 0 "$st"
report main-64k
# shellcheck disable=SC2086
stats main "main@64KiB" main-64k.json exact-main.json 65536 ${MAIN_ARGS#main }
# shellcheck disable=SC2086
rec main-512k 524288 $MAIN_ARGS &&
	stats main "main@512KiB" main-512k.json exact-main.json 524288 ${MAIN_ARGS#main }
# One in every byte: every block of these sizes is picked, weights 1 (the set of
# sampled blocks holds the 262144 live blocks of the batch at once).
# shellcheck disable=SC2086
rec main-1 1 $MAIN_ARGS && stats main "main@1B" main-1.json exact-main.json 1 ${MAIN_ARGS#main }

# ---- 3. determinism: the same sample on every run, the same figures ----

t0=$(date +%s.%N)
# shellcheck disable=SC2086
timeout "$TIMEOUT" "$HA" record --sample 64KiB -o main-64k-b.trace -- "$WL" $MAIN_ARGS \
	>main-64k-b.rec.out 2>main-64k-b.rec.err
expect_eq "record --sample 64KiB: exit status" 0 $?
elapsed "$t0" >main-64k-b.time
report main-64k-b
expect_eq "record --sample 64KiB: trace.sample_bytes" 65536 "$(json main-64k-b.json "d['trace']['sample_bytes']")"
for r in main-64k main-64k-b; do
	"$HA" dump "$r.trace" >"$r.dump" 2>"$r.dump.err" || fail "dump $r: expected exit status 0 got $?"
	python3 "$T/stats.py" events "$r.dump" >"$r.events"
done
if [ -s main-64k.events ] && cmp -s main-64k.events main-64k-b.events; then
	ok "determinism: two runs record the same $(wc -l <main-64k.events) events (kind, size, stack)"
else
	fail "determinism: two runs record the same events: expected identical got $(wc -l <main-64k.events) vs $(wc -l <main-64k-b.events) events, first difference: $(diff main-64k.events main-64k-b.events | head -n 3 | tr '\n' '|')"
fi
stats same "determinism: two sampled runs" main-64k.json main-64k-b.json
"$HA" report --format json main-64k.trace >main-64k.again.json 2>/dev/null
stats same "determinism: one trace reported twice" main-64k.json main-64k.again.json
# What the difference costs: the gate on two runs of one deterministic program.
status "determinism: check --accept-estimates on two sampled runs of one program exits 0" 0 twoRuns \
	"$HA" check --accept-estimates main-64k.trace main-64k-b.trace

# ---- 4. the text report and the trace size ----

"$HA" report main-512k.trace >main-512k.txt 2>main-512k.txt.err
"$HA" report exact-main.trace >exact-main.txt 2>exact-main.txt.err
if grep -qE '^  SAMPLED: one allocation per 512(\.0)? KiB allocated, on average' main-512k.txt; then
	ok "text report: SAMPLED banner with the rate"
else
	fail "text report: SAMPLED banner: expected a line '  SAMPLED: one allocation per 512.0 KiB allocated, on average...' got: $(head -n 4 main-512k.txt | tr '\n' '|')"
fi
if grep -q 'SAMPLED' exact-main.txt; then
	fail "text report: no banner for an exact trace: expected no SAMPLED line got $(grep SAMPLED exact-main.txt | head -n 1)"
else
	ok "text report: no banner for an exact trace"
fi
if [ -s main-512k.trace ] && [ -s exact-main.trace ]; then
	sz_s=$(json main-512k.json "d['trace']['file_bytes']")
	sz_x=$(json exact-main.json "d['trace']['file_bytes']")
	echo "# trace size: exact $sz_x bytes, 64KiB $(json main-64k.json "d['trace']['file_bytes']"), 512KiB $sz_s"
	if [ "$((sz_s * 20))" -lt "$sz_x" ]; then
		ok "trace size: 512KiB trace under 5% of the exact one"
	else
		fail "trace size: 512KiB trace under 5% of the exact one: expected < $((sz_x / 20)) got $sz_s"
	fi
	expect_eq "trace size: file_bytes is the file's size" "$(stat -c %s main-512k.trace)" "$sz_s"
fi

# ---- 5. threads: every block freed by another thread; realloc of received blocks ----

# The interleaving differs from run to run: an unmatched free or a reused address
# here is a race of the tracer that this run happened to hit (section 8 makes one of
# them happen every time).

for r in 65536 524288 1; do
	# shellcheck disable=SC2086
	rec "threads-$r" "$r" $THREADS_ARGS &&
		stats threads "threads@$r" "threads-$r.json" exact-threads.json "$r" ${THREADS_ARGS#threads }
done

# ---- 6. eight independent streams: bias and spread of the per-thread estimates ----

# shellcheck disable=SC2086
rec seeds-64k 65536 $SEEDS_ARGS &&
	stats seeds "seeds@64KiB" seeds-64k.json exact-seeds.json 65536 ${SEEDS_ARGS#seeds }

# ---- 7. realloc: growth chains, unsampled <-> sampled, realloc(p, 0) ----

for r in 65536 524288 1; do
	# shellcheck disable=SC2086
	rec "realloc-$r" "$r" $REALLOC_ARGS &&
		stats realloc "realloc@$r" "realloc-$r.json" exact-realloc.json "$r" ${REALLOC_ARGS#realloc }
done

# ---- 8. realloc racing with an allocation that takes its old block's address ----

# libsampled-grab.so, preloaded after libhotalloc.so (record prepends its library),
# mallocs the block a moving realloc has just released, inside the realloc: what
# another thread may do at that moment (tests/workloads/sampled.c), every time.
grab_rec() {
	local name=$1 sample=$2
	shift 2
	LD_PRELOAD=$GRAB rec "$name" "$sample" "$@"
}
# shellcheck disable=SC2086
grab_rec exact-grab 0 $GRAB_ARGS && stats grab "grab exact" exact-grab.json exact-grab.json 0 ${GRAB_ARGS#grab }
if [ -s exact-grab.trace ]; then
	"$HA" dump exact-grab.trace >exact-grab.dump 2>&1
	expect_eq "grab exact: every realloc's old block malloc'd again inside the realloc" \
		"${GRAB_ARGS#grab }" "$(python3 "$T/stats.py" grabs exact-grab.dump)"
fi
for r in 65536 524288; do
	# shellcheck disable=SC2086
	grab_rec "grab-$r" "$r" $GRAB_ARGS &&
		stats grab "grab@$r" "grab-$r.json" exact-grab.json "$r" ${GRAB_ARGS#grab }
done

# ---- 9. the gate refuses estimates unless told ----

"$HA" report --format json exact-main.trace >exact-main.report.json
G='--accept-estimates'
for c in check diff; do
	status "gate: $c sampled exact exits 2" 2 "g-$c-se" "$HA" $c main-64k.trace exact-main.trace
	one_error "gate: $c sampled exact: one line naming $G" "g-$c-se" "^hotalloc: error: .*$G"
	status "gate: $c exact sampled exits 2" 2 "g-$c-es" "$HA" $c exact-main.trace main-64k.trace
	one_error "gate: $c exact sampled: one line naming $G" "g-$c-es" "^hotalloc: error: .*main-64k\.trace.*$G"
	status "gate: $c with a JSON report of a sampled trace as baseline exits 2" 2 "g-$c-js" \
		"$HA" $c main-64k.json exact-main.trace
	one_error "gate: $c sampled JSON baseline: one line naming $G" "g-$c-js" "^hotalloc: error: .*main-64k\.json.*$G"
	status "gate: $c $G on a sampled trace against itself exits 0" 0 "g-$c-acc" \
		"$HA" $c $G main-64k.trace main-64k.trace
	status "gate: $c exact inputs are not refused" 0 "g-$c-ex" "$HA" $c exact-main.report.json exact-main.trace
done
status "gate: check $G, sampled JSON baseline against its own trace exits 0" 0 g-acc-json \
	"$HA" check $G main-64k.json main-64k.trace
status "gate: check --format json on a sampled trace exits 2" 2 g-fmt \
	"$HA" check --format json main-64k.trace main-64k.trace

# ---- 10. record --sample: the values it takes and refuses ----

for v in 0 -5 2GiB 12XB 1073741825 18014398509481985KiB 17592186044417MiB; do
	status "record --sample $v exits 2" 2 "opt$v" "$HA" record --sample "$v" -o "opt$v.trace" -- /bin/true
	one_error "record --sample $v: one error line" "opt$v" "^hotalloc: error: .*--sample"
	[ -e "opt$v.trace" ] && fail "record --sample $v: expected no trace got '$T/opt$v.trace'"
done
status "record --sample without a value exits 2" 2 optnone "$HA" record --sample
one_error "record --sample without a value: one error line" optnone "^hotalloc: error: .*--sample"
status "record --sample 1024MiB (the maximum) exits 0" 0 optmax "$HA" record --sample 1024MiB -o optmax.trace -- /bin/true
[ -s optmax.trace ] && report optmax &&
	expect_eq "record --sample 1024MiB: trace.sample_bytes" 1073741824 "$(json optmax.json "d['trace']['sample_bytes']")"

# ---- 11. wall times (not checked: the machine is noisy) ----

t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$WL" $MAIN_ARGS
echo "# wall time of '$MAIN_ARGS': untraced $(elapsed "$t0") s, exact $(cat exact-main.time) s," \
	"HOTALLOC_SAMPLE=65536 $(cat main-64k.time) s, 524288 $(cat main-512k.time) s, 1 $(cat main-1.time) s"
echo "# suite time $(elapsed "$START") s"

if [ "$FAIL" -gt 0 ] || [ -n "${KEEP:-}" ]; then
	echo "# kept $T"
else
	cd / && rm -rf "$T"
fi
finish
