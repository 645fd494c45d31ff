#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks for tests/clock.sh on traces of tests/workloads/clocked.c.

  clock_check.py run NAME OUT WALL_NS PARENT.json CHILD.json
      one run: counts the workload states, lifetimes against the workload's own
      measurements (OUT: its stdout), duration against WALL_NS (measured outside)
  clock_check.py same NAME A_OUT A_PARENT.json A_CHILD.json B_OUT B_PARENT.json B_CHILD.json
      two runs (TSC and CLOCK_MONOTONIC) give the same totals, calls and sites, and
      the same longest lifetimes, to 1% and the programs' own brackets, once divided
      by what each program measured
  clock_check.py dump NAME DUMP.txt
      every thread's event times in "hotalloc dump" never decrease

Prints "ok NAME/CHECK" or "FAIL NAME/CHECK: ..." lines, and "# " lines with figures.
"""
import json
import sys

ROUNDS, HANDOFFS, CHILD = 25, 100000, 5
SITES = {"hold_short": (ROUNDS, 96), "hold_long": (ROUNDS, 160)}
CHILD_SITES = {"hold_child": (CHILD, 64)}
# A traced lifetime lies between the program's inner and outer measurements of it;
# the tracer's clock may differ from the program's CLOCK_MONOTONIC by the TSC's
# offset at the switch (tens of ns) and its rate's error (a few ppm of 30 ms).
SLACK_NS = 1000
# The traced run: at least main's own, at most the wall time outside, and within
# this fraction of it (exec, the loader and the tracer's start and end are outside).
DURATION_SHARE = 0.9
TOTALS = ("allocations", "frees", "bytes_allocated", "leaked_blocks", "leaked_bytes",
          "cross_thread_frees", "failed_calls", "unmatched_frees", "reused_while_live")


def ok(name):
    print(f"ok {name}")


def fail(name, why):
    print(f"FAIL {name}: {why}")


def load(path):
    with open(path) as f:
        return json.load(f)


def site(report, function):
    """The site with a frame in function."""
    for s in report["sites"]:
        if any(fr.get("function") == function for fr in s["stack"]):
            return s
    return None


def measured(out):
    """The workload's lines: {name: {"count":, "min":, "max":}} and its run time."""
    sites, run = {}, None
    for line in open(out):
        words = line.split()
        if not words:
            continue
        fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if words[0] == "run":
            run = int(fields["ns"])
        else:
            sites[words[0]] = {k: int(v) for k, v in fields.items()}
    return sites, run


def check_sites(name, report, expect, times):
    bad = []
    for fn, (count, size) in expect.items():
        s = site(report, fn)
        if s is None:
            bad.append(f"no site for {fn}")
            continue
        if (s["allocations"], s["bytes"], s["frees"]) != (count, count * size, count):
            bad.append(f"{fn}: expected {count} allocations of {count * size} bytes and {count} frees "
                       f"got {s['allocations']}, {s['bytes']}, {s['frees']}")
    if bad:
        fail(f"{name}/sites", "; ".join(bad))
    else:
        ok(f"{name}/sites")
    bad = []
    for fn in expect:
        s, m = site(report, fn), times.get(fn)
        if s is None or m is None or not s.get("lifetime_ns"):
            bad.append(f"{fn}: no lifetime (report {s is not None}, workload {m is not None})")
            continue
        traced = s["lifetime_ns"]["max"]
        print(f"# {name}: {fn} longest life {traced} ns traced, between {m['max']} and "
              f"{m['outer']} ns measured by the program")
        if traced < m["max"] - SLACK_NS or traced > m["outer"] + SLACK_NS:
            bad.append(f"{fn}: longest life expected between {m['max']} and {m['outer']} ns "
                       f"(+-{SLACK_NS}) got {traced} ns")
    if bad:
        fail(f"{name}/lifetimes", "; ".join(bad))
    else:
        ok(f"{name}/lifetimes")


def cmd_run(name, out, wall_ns, parent_path, child_path):
    parent, child = load(parent_path), load(child_path)
    times, run_ns = measured(out)
    check_sites(name, parent, SITES, times)
    check_sites(f"{name}/child", child, CHILD_SITES, times)

    # The handed-over blocks: every one freed by the other thread, none lost.
    t = parent["totals"]
    want = {"unmatched_frees": 0, "reused_while_live": 0, "failed_calls": 0}
    got = {k: t[k] for k in want}
    lost = parent["trace"]["lost_events"] + child["trace"]["lost_events"]
    if got != want or t["cross_thread_frees"] < 2 * HANDOFFS or lost:
        fail(f"{name}/handoffs", f"expected {want}, cross_thread_frees >= {2 * HANDOFFS}, no lost events "
             f"got {got}, cross_thread_frees {t['cross_thread_frees']}, lost {lost}")
    else:
        ok(f"{name}/handoffs")

    # The run's length.
    dur = parent["trace"]["duration_s"] * 1e9
    print(f"# {name}: duration {dur / 1e6:.1f} ms traced, main ran {run_ns / 1e6:.1f} ms, "
          f"{wall_ns / 1e6:.1f} ms wall outside")
    if run_ns is None or dur < run_ns - SLACK_NS or dur > wall_ns or dur < DURATION_SHARE * wall_ns:
        fail(f"{name}/duration", f"expected the traced duration between main's {run_ns} ns and the "
             f"wall time {wall_ns} ns, and at least {DURATION_SHARE:.0%} of the wall time, got {dur:.0f} ns")
    else:
        ok(f"{name}/duration")


def cmd_same(name, a_out, a_parent, a_child, b_out, b_parent, b_child):
    a_times, b_times = measured(a_out)[0], measured(b_out)[0]
    for which, a_path, b_path, fns in (("parent", a_parent, b_parent, SITES),
                                       ("child", a_child, b_child, CHILD_SITES)):
        a, b = load(a_path), load(b_path)
        diff = [f"totals.{k}: {a['totals'][k]} vs {b['totals'][k]}" for k in TOTALS
                if a["totals"][k] != b["totals"][k]]
        diff += [f"calls.{k}: {a['calls'][k]} vs {b['calls'][k]}" for k in a["calls"]
                 if a["calls"][k] != b["calls"].get(k)]
        sa = sorted((s["allocations"], s["bytes"], s["frees"], s["leaked_blocks"]) for s in a["sites"])
        sb = sorted((s["allocations"], s["bytes"], s["frees"], s["leaked_blocks"]) for s in b["sites"])
        if sa != sb:
            diff.append(f"sites (allocations, bytes, frees, leaked): {sa} vs {sb}")
        if diff:
            fail(f"{name}/{which}/totals", "; ".join(diff))
        else:
            ok(f"{name}/{which}/totals")
        # The runs slept for different times (the scheduler): each longest
        # traced life is compared as a multiple of what its program measured
        # inside the calls, to 1% plus the wider of the two runs' brackets
        # (a thread preempted inside malloc or free widens its bracket).
        diff = []
        for fn in fns:
            la = (site(a, fn) or {}).get("lifetime_ns")
            lb = (site(b, fn) or {}).get("lifetime_ns")
            ma, mb = a_times.get(fn), b_times.get(fn)
            if not la or not lb or not ma or not mb:
                diff.append(f"{fn}: no lifetime")
                continue
            ra, rb = la["max"] / ma["max"], lb["max"] / mb["max"]
            tol = 0.01 + max(ma["outer"] / ma["max"], mb["outer"] / mb["max"]) - 1
            print(f"# {name}/{which}: {fn} longest life {la['max']} ns ({ra:.5f} of the program's "
                  f"{ma['max']} ns) vs {lb['max']} ns ({rb:.5f} of {mb['max']} ns)")
            if abs(ra - rb) > tol:
                diff.append(f"{fn} longest life: {ra:.5f} vs {rb:.5f} of the program's own "
                            f"(allowed: {tol:.5f} apart)")
        if diff:
            fail(f"{name}/{which}/lifetimes", "; ".join(diff))
        else:
            ok(f"{name}/{which}/lifetimes")


def cmd_dump(name, path):
    last, events, back = {}, 0, []
    for line in open(path):
        words = line.split()
        # Event lines: TIME TID KIND ...
        if len(words) < 3 or not words[0].isdigit() or not words[1].isdigit():
            continue
        ts, tid = int(words[0]), words[1]
        events += 1
        if ts < last.get(tid, 0):
            back.append(f"thread {tid}: {ts} after {last[tid]}")
        last[tid] = max(ts, last.get(tid, 0))
    if not events:
        fail(f"{name}/dump", "no event in the dump")
    elif back:
        fail(f"{name}/dump", f"{len(back)} times go backwards, first: {'; '.join(back[:3])}")
    else:
        print(f"# {name}: {events} events of {len(last)} threads in time order")
        ok(f"{name}/dump")


def main(argv):
    if len(argv) == 7 and argv[1] == "run":
        cmd_run(argv[2], argv[3], int(argv[4]), argv[5], argv[6])
    elif len(argv) == 9 and argv[1] == "same":
        cmd_same(*argv[2:])
    elif len(argv) == 4 and argv[1] == "dump":
        cmd_dump(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
