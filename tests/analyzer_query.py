# SPDX-License-Identifier: MIT
# Evaluates expressions over "hotalloc report --format json" reports, for
# tests/analyzer.sh; stdlib only.
#
# Usage:
#   analyzer_query.py REPORT EXPR [ARG]
#       Prints the value of EXPR over REPORT.
#   analyzer_query.py --batch FILE
#       FILE holds NUL-terminated fields, three per query: REPORT, EXPR, ARG.  Prints
#       one line per query, in order (one Python start for a whole case).
#
# EXPR is a Python expression over d, the report (an object, or a list of them when
# several traces were reported without --merge), and arg, ARG as a string ("" when
# absent), with these helpers:
#   sites(r=d)            the report's sites, in report order
#   site(fn, line=0, r=d) the one site whose caller frame (stack[caller_frame]) is in
#                         function fn (and at that line, when given); an error if none
#                         or several match
#   caller(s)             that frame
#   where(frame)          "function@tests/workloads/file.c:line" (the file's last three
#                         path parts, so an absolute or a relative build path reads alike)
#   chain(s, n)           where() of the first n frames of s, joined by " < "
#   order(field, r=d)     each site's caller function and its value of field, in report
#                         order: "hold_b=12000 hold_a=8000 ..."
#   total(key, r=d)       r["totals"][key]
# A value prints as it is when it is a string, else as JSON, on one line.  An error
# prints "error: ..." instead, so that the test shows it as the value it got.
import json
import sys


def caller(s):
    return s["stack"][s["caller_frame"]]


def where(frame):
    f = frame["file"]
    f = "/".join(f.split("/")[-3:]) if f else "?"
    return "%s@%s:%d" % (frame["function"], f, frame["line"])


def chain(s, n):
    return " < ".join(where(f) for f in s["stack"][:n])


def evaluate(d, expr, arg):
    def sites(r=d):
        return r["sites"]

    def site(fn, line=0, r=d):
        found = [s for s in sites(r) if caller(s)["function"] == fn
                 and (not line or caller(s)["line"] == line)]
        if len(found) != 1:
            raise LookupError("%d sites have their caller frame in %s%s" %
                              (len(found), fn, ":%d" % line if line else ""))
        return found[0]

    def order(field, r=d):
        return " ".join("%s=%s" % (caller(s)["function"], s[field]) for s in sites(r))

    def total(key, r=d):
        return r["totals"][key]

    env = {"d": d, "arg": arg, "sites": sites, "site": site, "caller": caller,
           "where": where, "chain": chain, "order": order, "total": total}
    try:
        v = eval(expr, env)  # the expression is the test's own text
    except Exception as e:  # noqa: BLE001 - any failure is a value to show
        v = "error: %s: %s" % (type(e).__name__, e)
    v = v if isinstance(v, str) else json.dumps(v)
    return v.replace("\n", "\\n")


def load(path, cache):
    if path not in cache:
        try:
            with open(path, encoding="utf-8") as f:
                cache[path] = json.load(f)
        except (OSError, ValueError) as e:
            cache[path] = e
    return cache[path]


def query(path, expr, arg, cache):
    d = load(path, cache)
    if isinstance(d, Exception):
        return "error: cannot read report '%s': %s" % (path, d)
    return evaluate(d, expr, arg)


def main():
    cache = {}
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        with open(sys.argv[2], encoding="utf-8") as f:
            fields = f.read().split("\0")[:-1]
        for i in range(0, len(fields) - 2, 3):
            print(query(fields[i], fields[i + 1], fields[i + 2], cache))
    elif len(sys.argv) in (3, 4):
        print(query(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else "", cache))
    else:
        sys.exit("usage: analyzer_query.py REPORT EXPR [ARG] | --batch FILE")


if __name__ == "__main__":
    main()
