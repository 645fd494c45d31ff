# SPDX-License-Identifier: MIT
# dictstr.py: a dict- and str-heavy Python workload for `make bench`; run it with
# PYTHONMALLOC=malloc so that every object goes through malloc, and PYTHONHASHSEED=0 so
# that every run makes the same calls.
#
# Usage: python3 dictstr.py [rounds=73]   (a benchmark workload, not a test)
#
# Each round builds a dict of 2000 formatted keys to lists and small dicts, joins, splits
# and re-keys it, counts words with a dict, sorts and looks up its keys, then drops it all.
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 73
total = 0
for r in range(rounds):
    table = {}
    for i in range(2000):
        key = "item-%d-%d" % (r, i * 7919 % 100003)
        table[key] = [key.upper(), len(key), {"round": r, "name": key[::-1]}]
    text = " ".join(k + ":" + v[0].lower() for k, v in table.items())
    words = {}
    for w in text.split():
        head = w.split(":", 1)[0]
        words[head] = words.get(head, 0) + 1
    rekeyed = {v[2]["name"]: (k, str(v[1])) for k, v in table.items()}
    # Work that allocates next to nothing: sorting compares strings, and a lookup
    # returns a singleton.
    for k in sorted(table):
        if k not in words or k in rekeyed:
            raise SystemExit("dictstr.py: error: lost key '%s'" % k)
    total += len(words) + len(rekeyed) + len(text)
print(total)
