# SPDX-License-Identifier: MIT
# Reads the JSON that "hotalloc report --format json" prints and compares its fields
# with expected numbers, for tests/capture.sh; stdlib only.
#
# Usage:
#   capture_check.py check CASE REPORT [--base BASE] [--clean] EXPR...
#       EXPR is FIELD OP VALUE with OP one of = != < <= > >=, FIELD a dotted path such
#       as totals.allocations, VALUE JSON (a bare word is taken as a string).
#       "calls.*=0" stands for every calls.X not named by another EXPR.
#       With --base, integer fields are compared as REPORT minus BASE.
#       --clean adds trace.format_version=3, trace.truncated=false and
#       trace.lost_events=0, checked on REPORT and on BASE as they are.
#       --label TEXT ends each FAIL line with "[TEXT]", to tell runs apart.
#       Prints "FAIL CASE: field ..." per mismatch; exits 1 if there was one.
#   capture_check.py get REPORT FIELD...
#       Prints each field on a line of its own (strings as they are, others as JSON).
#   capture_check.py roles CASE PARENT_COMMAND EXEC_COMMAND REPORT...
#       Sorts the reports of a fork/exec family: prints "parent FILE", "child FILE"
#       (the fork child, same command as the parent) and "exec FILE" (the exec'd
#       image: EXEC_COMMAND, the child's pid), and FAIL lines for wrong pids and ppids.
import json
import re
import sys

OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
EXPR = re.compile(r"^([A-Za-z0-9_.*]+)(!=|<=|>=|=|<|>)(.*)$")
MISSING = object()


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print("FAIL %s: cannot read report '%s': %s" % (CASE, path, e))
        sys.exit(1)


def lookup(obj, path):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


def show(v):
    return "(missing)" if v is MISSING else json.dumps(v)


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def cmd_check(args):
    report_path, rest = args[0], args[1:]
    base_path = None
    exprs = []
    clean = False
    label = ""
    i = 0
    while i < len(rest):
        if rest[i] == "--label":
            label = " [%s]" % rest[i + 1]
            i += 2
            continue
        if rest[i] == "--base":
            base_path = rest[i + 1]
            i += 2
            continue
        if rest[i] == "--clean":
            clean = True
            i += 1
            continue
        m = EXPR.match(rest[i])
        if not m:
            print("FAIL %s: bad expectation '%s'" % (CASE, rest[i]))
            return 1
        exprs.append((m.group(1), m.group(2), parse_value(m.group(3))))
        i += 1

    report = load(report_path)
    base = load(base_path) if base_path else None

    # Expand "calls.*" to the calls that no other expression names.
    named = {f for f, _, _ in exprs}
    expanded = []
    for field, op, want in exprs:
        if field.endswith(".*"):
            prefix = field[:-2]
            obj = lookup(report, prefix)
            if not isinstance(obj, dict):
                expanded.append((prefix, op, want))
                continue
            for key in obj:
                if prefix + "." + key not in named:
                    expanded.append((prefix + "." + key, op, want))
        else:
            expanded.append((field, op, want))

    failed = 0
    if clean:
        for which, rep in (("", report), (" of the baseline", base)):
            if rep is None:
                continue
            for field, want in (("trace.format_version", 3), ("trace.truncated", False),
                                ("trace.lost_events", 0)):
                got = lookup(rep, field)
                if got != want or type(got) is not type(want):
                    print("FAIL %s: field %s%s expected %s got %s%s"
                          % (CASE, field, which, show(want), show(got), label))
                    failed = 1

    for field, op, want in expanded:
        got = lookup(report, field)
        note = ""
        if base is not None and is_int(got):
            b = lookup(base, field)
            if is_int(b):
                note = " (difference from baseline: %d - %d)" % (got, b)
                got = got - b
            else:
                print("FAIL %s: field %s of the baseline expected a number got %s%s"
                      % (CASE, field, show(b), label))
                failed = 1
                continue
        ok = (is_int(got) and is_int(want)) or (got is not MISSING and type(got) is type(want))
        if ok:
            try:
                ok = OPS[op](got, want)
            except TypeError:
                ok = False
        if not ok:
            shown = show(want) if op == "=" else "%s %s" % (op, show(want))
            print("FAIL %s: field %s expected %s got %s%s%s"
                  % (CASE, field, shown, show(got), note, label))
            failed = 1
    return failed


def cmd_get(args):
    report = load(args[0])
    for field in args[1:]:
        v = lookup(report, field)
        print(v if isinstance(v, str) else show(v))
    return 0


def cmd_roles(args):
    parent_cmd, exec_cmd, paths = args[0], args[1], args[2:]
    reps = [(p, load(p)) for p in paths]
    info = [(p, lookup(r, "trace.pid"), lookup(r, "trace.ppid"), lookup(r, "trace.command"))
            for p, r in reps]
    pids = {pid for _, pid, _, _ in info}
    failed = 0

    parents = [x for x in info if x[3] == parent_cmd and x[2] not in pids]
    if len(parents) != 1:
        print("FAIL %s: field parent-traces expected 1 got %d (commands: %s)"
              % (CASE, len(parents), ", ".join(show(x[3]) for x in info)))
        return 1
    parent = parents[0]
    print("parent %s" % parent[0])
    children = [x for x in info if x is not parent and x[3] == parent_cmd]
    execs = [x for x in info if x is not parent and x[3] == exec_cmd and exec_cmd != parent_cmd]
    for role, xs in (("child", children), ("exec", execs)):
        for x in xs:
            print("%s %s" % (role, x[0]))
            if x[2] != parent[1]:
                print("FAIL %s: field trace.ppid of the %s trace expected %s got %s"
                      % (CASE, role, show(parent[1]), show(x[2])))
                failed = 1
    if children and execs and children[0][1] != execs[0][1]:
        print("FAIL %s: field trace.pid of the exec trace expected %s (the fork child's) got %s"
              % (CASE, show(children[0][1]), show(execs[0][1])))
        failed = 1
    others = [x for x in info if x is not parent and x not in children and x not in execs]
    for x in others:
        print("FAIL %s: field trace.command of '%s' expected %s or %s got %s"
              % (CASE, x[0], show(parent_cmd), show(exec_cmd), show(x[3])))
        failed = 1
    return failed


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.stderr.write("usage: capture_check.py check|get|roles ...\n")
        sys.exit(2)
    sub = sys.argv[1]
    if sub == "get":
        CASE = "get"
        sys.exit(cmd_get(sys.argv[2:]))
    CASE = sys.argv[2]
    if sub == "check":
        sys.exit(cmd_check(sys.argv[3:]))
    if sub == "roles":
        sys.exit(cmd_roles(sys.argv[3:]))
    sys.stderr.write("capture_check.py: error: unknown command '%s'\n" % sub)
    sys.exit(2)
