# SPDX-License-Identifier: MIT
# timer.py: scripts/bench.sh's timer when /usr/bin/time is missing (or BENCH_TIMER=python).
#
# Usage: python3 bench/timer.py OUT ERRFILE CMD...
#
# Runs CMD with stdin from /dev/null, stdout discarded and stderr to ERRFILE; writes
# "user sys maxrss wall" of it to OUT (CPU of its waited-for children included; maxrss in
# KiB, of its largest process); exits with its status (128 + N after signal N).  Wall is
# timed here, so python's own start-up is not in it.
import resource
import subprocess
import sys
import time

with open(sys.argv[2], "wb") as err:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run(sys.argv[3:], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=err).returncode
    t1 = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    out.write("%.6f %.6f %d %.6f\n" % (after.ru_utime - before.ru_utime,
                                       after.ru_stime - before.ru_stime,
                                       after.ru_maxrss, t1 - t0))
sys.exit(rc if rc >= 0 else 128 - rc)
