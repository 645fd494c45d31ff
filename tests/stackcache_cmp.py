# SPDX-License-Identifier: MIT
# Checks the JSON reports of tests/stackcache.sh; stdlib only.
#
# Usage: stackcache_cmp.py NAME EXPECT SOURCE DEPTH PLAIN_REPORT... -- CACHED_REPORT...
# Reads each report once and prints, after "# " lines that say what differs (both
# sides), "ok NAME/CHECK" or "FAIL NAME/CHECK: ..." for three checks, and last
# "allocations N" (the cached run's main process's):
#   same    The runs with HOTALLOC_STACK_CACHE=0 (PLAIN) and with the cache (CACHED)
#           have the same sites: per process (the main one, a fork child), the same
#           symbolized stacks (function, file, line, module, inlined of every frame;
#           never addresses, which ASLR moves) with the same allocations, bytes and
#           frees, and the same totals and calls.
#   plain, cached
#           Every "expect ROLE SIZE COUNT CHAIN" line of EXPECT (the workload's
#           stdout) is exactly one site of that run's report of ROLE ("main": not a
#           fork child, "child": the fork child) whose blocks are all SIZE bytes
#           (bytes = SIZE * allocations), with COUNT allocations, and whose frames in
#           the file SOURCE (a base name), innermost first, with argument lists dropped
#           from C++ names, are CHAIN ("name*N": N frames of name in a row).  A stack of
#           DEPTH frames was cut at HOTALLOC_DEPTH: its frames must begin CHAIN.  The
#           sites of each SIZE hold together the expected allocations of that SIZE, no
#           more, and every site allocating from a function that begins a CHAIN is
#           expected (no allocation of a path charged to another stack).
# Exit status 0, or 2 on a usage error or an unreadable report.
import json
import os
import sys

SHOW = 6	# differences printed per check
# Totals that depend on timing or on how threads interleave.
UNSTABLE = {"peak_bytes", "peak_time_s", "allocations_per_s", "short_lived"}


def load(path):
    with open(path) as f:
        return json.load(f)


def role(report):
    return "child" if report["trace"].get("forked") else "main"


def by_role(reports):
    out = {}
    for r in reports:
        for one in r if isinstance(r, list) else [r]:
            if role(one) in out:
                raise SystemExit("stackcache_cmp.py: error: two reports of role %s" % role(one))
            out[role(one)] = one
    return out


def frame_key(f):
    return (f.get("function"), f.get("file"), f.get("line"), f.get("module"), f.get("inlined"))


def show_stack(key):
    return " < ".join("%s@%s:%s" % (fn, os.path.basename(fl or mod or "?"), ln) for fn, fl, ln, mod, _ in key)


def site_map(report):
    m = {}
    for s in report["sites"]:
        v = m.setdefault(tuple(frame_key(f) for f in s["stack"]), [0, 0, 0])
        v[0] += s["allocations"]
        v[1] += s["bytes"]
        v[2] += s["frees"]
    return m


def same(plain, cached, say):
    """Appends what differs to say; returns the number of differences."""
    bad = 0
    if sorted(plain) != sorted(cached):
        say("processes: plain %s, cached %s" % (sorted(plain), sorted(cached)))
        return 1
    for r in sorted(plain):
        a, b = plain[r], cached[r]
        for name, rep in (("plain", a), ("cached", b)):
            if rep["trace"].get("lost_events") or rep["trace"].get("truncated"):
                bad += 1
                say("%s: %s run: lost_events %s, truncated %s"
                    % (r, name, rep["trace"].get("lost_events"), rep["trace"].get("truncated")))
        for sect in ("totals", "calls"):
            for k in sorted((set(a[sect]) | set(b[sect])) - UNSTABLE):
                if a[sect].get(k) != b[sect].get(k):
                    bad += 1
                    say("%s: %s.%s: plain %s, cached %s" % (r, sect, k, a[sect].get(k), b[sect].get(k)))
        ma, mb = site_map(a), site_map(b)
        diff = [k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k)]
        bad += len(diff)
        for k in sorted(diff, key=lambda k: -max(ma.get(k, [0])[0], mb.get(k, [0])[0]))[:SHOW]:
            say("%s: stack %s: plain %s, cached %s (allocations, bytes, frees)"
                % (r, show_stack(k), ma.get(k) or "no such site", mb.get(k) or "no such site"))
        if len(diff) > SHOW:
            say("%s: ... %d stacks differ in all (of %d plain, %d cached)" % (r, len(diff), len(ma), len(mb)))
        if not diff:
            say("%s: %d stacks, %d allocations, identical" % (r, len(ma), a["totals"]["allocations"]))
    return bad


def expand(chain):
    out = []
    for part in chain.split(","):
        name, _, n = part.partition("*")
        out += [name] * (int(n) if n else 1)
    return out


def ours(site, source):
    return [f["function"].split("(", 1)[0] for f in site["stack"]
            if f.get("file") and os.path.basename(f["file"]) == source]


def read_expect(path, say):
    want = {}	# role -> [(size, count, chain)]
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) != 5 or w[0] != "expect":
                say("%s: not an expectation: %r" % (path, line))
                return None
            want.setdefault(w[1], []).append((int(w[2]), int(w[3]), expand(w[4])))
    return want


def design(want, source, depth, reports, say):
    """Appends what differs from want to say; returns the number of differences."""
    if sorted(want) != sorted(reports):
        say("processes: expected %s, reports %s" % (sorted(want), sorted(reports)))
        return 1
    bad = 0
    for r in sorted(want):
        sites = [s for s in reports[r]["sites"] if s["allocations"]]
        by_size = {}
        for s in sites:
            if s["bytes"] % s["allocations"] == 0:
                by_size.setdefault(s["bytes"] // s["allocations"], []).append(s)
        per_size = {}
        n0 = bad
        for size, count, chain in want[r]:
            per_size[size] = per_size.get(size, 0) + count
            hits = []
            for s in by_size.get(size, []):
                o = ours(s, source)
                if o == chain or (len(s["stack"]) == depth and o and len(o) < len(chain) and chain[:len(o)] == o):
                    hits.append(s)
            if len(hits) == 1 and hits[0]["allocations"] == count:
                continue
            bad += 1
            if bad - n0 > SHOW:
                continue
            if len(hits) == 1:
                say("%s: %d B via %s: expected %d allocations got %d"
                    % (r, size, ",".join(chain), count, hits[0]["allocations"]))
            else:
                say("%s: %d B via %s: expected 1 site with %d allocations got %d sites%s"
                    % (r, size, ",".join(chain), count, len(hits),
                       "".join("; %d B site: %s (%d)" % (size, ",".join(ours(s, source)) or "-", s["allocations"])
                               for s in by_size.get(size, [])[:4])))
        for size, n in sorted(per_size.items()):
            got = sum(s["allocations"] for s in by_size.get(size, []) if ours(s, source))
            if got != n:
                bad += 1
                if bad - n0 <= SHOW:
                    say("%s: all sites of %d B: expected %d allocations got %d" % (r, size, n, got))
        # Every site that allocates from one of the workload's allocating functions
        # (the first names of the chains) must be expected: one whose blocks are not
        # all one size mixes paths.
        leaves = {chain[0] for _, _, chain in want[r]}
        for s in sites:
            o = ours(s, source)
            if o and o[0] in leaves and (s["bytes"] % s["allocations"]
                                         or s["bytes"] // s["allocations"] not in per_size):
                bad += 1
                if bad - n0 <= SHOW:
                    say("%s: unexpected site: %d allocations, %d bytes via %s"
                        % (r, s["allocations"], s["bytes"], ",".join(o)))
        if bad - n0 > SHOW:
            say("%s: ... %d differences in all" % (r, bad - n0))
        elif bad == n0:
            say("%s: %d expected sites, %d allocations, as designed"
                % (r, len(want[r]), sum(per_size.values())))
    return bad


def main(argv):
    if len(argv) < 8 or "--" not in argv:
        sys.stderr.write("usage: stackcache_cmp.py NAME EXPECT SOURCE DEPTH PLAIN... -- CACHED...\n")
        return 2
    name, expect_path, source, depth = argv[1], argv[2], argv[3], int(argv[4])
    i = argv.index("--")
    try:
        plain = by_role([load(p) for p in argv[5:i]])
        cached = by_role([load(p) for p in argv[i + 1:]])
    except (OSError, ValueError) as e:
        sys.stderr.write("stackcache_cmp.py: error: cannot read a report: %s\n" % e)
        return 2
    msgs = []
    want = read_expect(expect_path, msgs.append)
    checks = (("same", lambda say: same(plain, cached, say)),
              ("plain", lambda say: design(want, source, depth, plain, say)),
              ("cached", lambda say: design(want, source, depth, cached, say)))
    for what, fn in checks:
        if want is None:
            bad = 1
        else:
            msgs = []
            bad = fn(msgs.append)
        for m in msgs:
            print("# " + m)
        if bad:
            print("FAIL %s/%s: %s" % (name, what, msgs[0] if msgs else "failed"))
        else:
            print("ok %s/%s" % (name, what))
    print("allocations %d" % (cached["main"]["totals"]["allocations"] if "main" in cached else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
