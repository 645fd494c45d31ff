# SPDX-License-Identifier: MIT
# A Python program that allocates a great deal (objects, threads, a subprocess) and
# prints a deterministic result; traced and untraced runs must print the same bytes.
#
# Usage: python3 busy.py [EXIT_STATUS]   (prints its report, then exits with EXIT_STATUS)
import hashlib
import json
import subprocess
import sys
import threading
from collections import Counter
from fractions import Fraction


def primes(limit):
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\0\0"
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, limit + 1, i)))
    return [i for i, v in enumerate(sieve) if v]


def words(n):
    # A fixed linear congruential generator: no dependence on hash seeds or time.
    state = 12345
    out = []
    for _ in range(n):
        state = (state * 1103515245 + 12345) % (1 << 31)
        out.append("w%d" % (state % 997))
    return out


def worker(k, results):
    results[k] = sum(len(str(x)) for x in range(k * 20000, (k + 1) * 20000))


def main():
    status = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    p = primes(200000)
    print("primes", len(p), p[-1])
    counts = Counter(words(100000))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    print("top words", top)
    table = {str(i): [i, i * i, {"half": Fraction(i, 2).limit_denominator()}.__repr__()]
             for i in range(2000)}
    blob = json.dumps(table, sort_keys=True).encode()
    print("json sha256", hashlib.sha256(blob).hexdigest())
    results = [0] * 4
    threads = [threading.Thread(target=worker, args=(k, results)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("threads", results)
    child = subprocess.run([sys.executable, "-c", "print(sum(range(1000)))"],
                           capture_output=True, check=True)
    print("subprocess", child.stdout.decode().strip())
    text = " ".join(words(20000))
    print("text", len(text), text.count("w1"), text[:40])
    sys.stdout.flush()
    sys.exit(status)


main()
