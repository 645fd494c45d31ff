# SPDX-License-Identifier: MIT
# summary.py: the statistics of scripts/bench.sh: reads the runs it recorded, writes them
# with their medians and ratios as JSON, and prints the tracer and analyzer tables.
#
# Usage: python3 bench/summary.py DIR OUT.json
#
# DIR holds what scripts/bench.sh wrote, tab-separated, "-" or "nan" for no value:
#   results.tsv   workload variant run wall_s cpu_s peak_rss_kib trace_bytes estimated_bytes
#   meta.tsv      workload events exact_bytes command
#   analysis.tsv  workload analyzer run wall_s cpu_s peak_rss_kib input_bytes
#   failures.tsv  workload tool reason
#   settings.tsv  key value
import json
import os
import platform
import statistics
import sys
import time

VARIANTS = ("hotalloc", "hotalloc_sampled", "heaptrack")
# results.tsv's variant names, as the script calls them.
TSV_NAME = {"untraced": "untraced", "hotalloc": "hotalloc", "sampled": "hotalloc_sampled",
            "heaptrack": "heaptrack"}


def number(text, kind=float):
    return None if text in ("-", "nan", "") else kind(text)


def median(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def ratio(a, b):
    return a / b if a is not None and b else None


def minus(a, b):
    return a - b if a is not None and b is not None else None


def rows(path):
    with open(path) as f:
        for line in f:
            yield line.rstrip("\n").split("\t")


def main(folder, out_path):
    settings = dict(rows(os.path.join(folder, "settings.tsv")))
    samples = {}
    for name, variant, _run, wall, cpu, rss, size, est in rows(os.path.join(folder, "results.tsv")):
        s = samples.setdefault((name, TSV_NAME[variant]), {
            "wall_s": [], "cpu_s": [], "peak_rss_kib": [], "trace_bytes": [],
            "estimated_bytes_allocated": []})
        s["wall_s"].append(float(wall))
        s["cpu_s"].append(number(cpu))
        s["peak_rss_kib"].append(number(rss, int))
        if size != "-":
            s["trace_bytes"].append(int(size))
        if est != "-":
            s["estimated_bytes_allocated"].append(int(est))
    failed = {(name, tool): reason for name, tool, reason in rows(os.path.join(folder, "failures.tsv"))}

    workloads = []
    for name, events, exact, command in rows(os.path.join(folder, "meta.tsv")):
        events, exact = int(events), number(exact, int)
        w = {"name": name, "command": command, "events": events, "bytes_allocated": exact}
        base = samples[(name, "untraced")]
        for key in ("trace_bytes", "estimated_bytes_allocated"):
            del base[key]
        base.update(wall_median_s=median(base["wall_s"]), cpu_median_s=median(base["cpu_s"]),
                    peak_rss_median_kib=median(base["peak_rss_kib"]))
        w["untraced"] = base
        for tool in VARIANTS:
            s = samples.get((name, tool))
            if s is None and (name, tool) not in failed:
                w[tool] = None
                continue
            s = s or {"wall_s": [], "cpu_s": [], "peak_rss_kib": [], "trace_bytes": [],
                      "estimated_bytes_allocated": []}
            if tool != "hotalloc_sampled":
                del s["estimated_bytes_allocated"]
            if (name, tool) in failed:
                # Runs before the failure stay in the file, but no figure is drawn from them.
                w[tool] = dict(s, failed=failed[(name, tool)])
                continue
            wall, cpu = median(s["wall_s"]), median(s["cpu_s"])
            rss = median(s["peak_rss_kib"])
            extra_wall = minus(wall, base["wall_median_s"])
            extra_rss = minus(rss, base["peak_rss_median_kib"])
            s.update(wall_median_s=wall, cpu_median_s=cpu, peak_rss_median_kib=rss,
                     wall_ratio=ratio(wall, base["wall_median_s"]),
                     cpu_ratio=ratio(cpu, base["cpu_median_s"]),
                     extra_wall_s=extra_wall,
                     extra_cpu_s=minus(cpu, base["cpu_median_s"]),
                     ns_per_event=ratio(extra_wall, events / 1e9),
                     bytes_per_event=ratio(median(s["trace_bytes"]), events),
                     extra_peak_rss_mib=None if extra_rss is None else extra_rss / 1024)
            if tool == "hotalloc_sampled":
                est = median(s["estimated_bytes_allocated"])
                s["estimated_bytes_allocated_median"] = est
                s["estimate_error_pct"] = (None if est is None or not exact
                                           else (est - exact) / exact * 100)
            w[tool] = s
        ha, ht = w["hotalloc"], w["heaptrack"]
        if ht and "failed" not in ht:
            w["hotalloc_extra_over_heaptrack_extra"] = {
                key: ratio(ha["extra_%s_s" % key], ht["extra_%s_s" % key])
                if ht["extra_%s_s" % key] and ht["extra_%s_s" % key] > 0 else None
                for key in ("wall", "cpu")}
        else:
            w["hotalloc_extra_over_heaptrack_extra"] = None
        workloads.append(w)

    # The analyzers: events per second of median wall, and peak RSS.
    asamples = {}
    for name, tool, _run, wall, cpu, rss, size in rows(os.path.join(folder, "analysis.tsv")):
        s = asamples.setdefault((name, tool), {"input_bytes": int(size), "wall_s": [],
                                               "cpu_s": [], "peak_rss_kib": []})
        s["wall_s"].append(float(wall))
        s["cpu_s"].append(number(cpu))
        s["peak_rss_kib"].append(number(rss, int))
    analyzers = []
    for w in workloads:
        if (w["name"], "hotalloc") not in asamples:
            continue
        a = {"name": w["name"], "command": w["command"], "events": w["events"]}
        for tool in ("hotalloc", "heaptrack_print"):
            s = asamples.get((w["name"], tool))
            if s is None:
                a[tool] = None
                continue
            wall = median(s["wall_s"])
            a[tool] = dict(s, wall_median_s=wall, cpu_median_s=median(s["cpu_s"]),
                           peak_rss_median_kib=median(s["peak_rss_kib"]),
                           events_per_s=ratio(w["events"], wall))
        ha, htp = a["hotalloc"], a["heaptrack_print"]
        a["hotalloc_rate_over_heaptrack_print_rate"] = (
            ratio(ha["events_per_s"], htp["events_per_s"]) if htp else None)
        analyzers.append(a)

    doc = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                 "load_average": list(os.getloadavg())},
        "runs": int(settings["runs"]), "scale": float(settings["scale"]),
        "cpu_timer": settings["cpu_timer"], "sample_bytes": int(settings["sample_bytes"]),
        "heaptrack": settings["heaptrack"] or None,
        "heaptrack_print": settings["heaptrack_print"] or None,
        "heaptrack_memory_cap_mib": int(settings["heaptrack_memory_cap_mib"]),
        "heaptrack_timeout_s": settings["heaptrack_timeout_s"],
        "elapsed_s": float(settings["elapsed_s"]),
        "notes": "medians over runs; ratios are traced/untraced, CPU being user + sys of the "
                 "whole process tree; ns_per_event is (traced - untraced median wall) / events; "
                 "events is the sum of the calls in hotalloc's report of the first full trace; "
                 "bytes_per_event uses the same count for every tool; hotalloc_sampled ran with "
                 "HOTALLOC_SAMPLE=sample_bytes, and estimate_error_pct compares the median of "
                 "its reports' totals.bytes_allocated with bytes_allocated of the full trace; "
                 "a tool with 'failed' failed a run and was not run again on that workload",
        "workloads": workloads,
        "analyzer": {
            "runs": int(settings["analyzer_runs"]),
            "notes": "hotalloc: `hotalloc report --format json TRACE`; heaptrack_print: "
                     "`heaptrack_print -f FILE` on heaptrack's file of the same workload; both "
                     "read the file of round 1 of the tracing runs, output to /dev/null; "
                     "events_per_s is events / median wall; peak RSS (KiB) is of the "
                     "analyzer's largest process",
            "workloads": analyzers,
        },
    }
    with open(out_path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(out_path + ".tmp", out_path)
    print_tables(doc)


def fmt(v, digits, percent=False):
    if v is None:
        return "n/a"
    return "%+.*f%%" % (digits, v) if percent else "%.*f" % (digits, v)


def table(head, body):
    widths = [max(len(r[i]) for r in body + [head]) for i in range(len(head))]
    for r in [head] + body:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                        for i, c in enumerate(r)))


def print_tables(doc):
    def get(w, tool, key):
        t = w[tool]
        if t is None:
            return "n/a"
        if "failed" in t:
            return "failed"
        return t[key]

    def cell(v, digits, percent=False):
        return v if isinstance(v, str) else fmt(v, digits, percent)

    head = ["workload", "events", "base s",
            "ha wall", "ha cpu", "ha ns/ev", "ha B/ev", "ha +MiB",
            "hs wall", "hs cpu", "hs ns/ev", "hs B/ev", "est err",
            "ht wall", "ht cpu", "ht ns/ev", "ht B/ev", "ha/ht wall", "ha/ht cpu"]
    body = []
    for w in doc["workloads"]:
        r = [w["name"], "{:,}".format(w["events"]), fmt(w["untraced"]["wall_median_s"], 3)]
        for tool, more in (("hotalloc", "+MiB"), ("hotalloc_sampled", "err"), ("heaptrack", None)):
            r += [cell(get(w, tool, "wall_ratio"), 2), cell(get(w, tool, "cpu_ratio"), 2),
                  cell(get(w, tool, "ns_per_event"), 0), cell(get(w, tool, "bytes_per_event"), 2)]
            if more == "+MiB":
                r.append(cell(get(w, tool, "extra_peak_rss_mib"), 1))
            elif more == "err":
                r.append(cell(get(w, tool, "estimate_error_pct"), 1, True))
        extra = w["hotalloc_extra_over_heaptrack_extra"]
        fill = "failed" if w["heaptrack"] and "failed" in w["heaptrack"] else "n/a"
        r += [fmt(extra["wall"], 2), fmt(extra["cpu"], 2)] if extra else [fill, fill]
        body.append(r)
    table(head, body)
    print("medians of %d run(s) at BENCH_SCALE=%g; base s: untraced wall; ha: hotalloc, every event;"
          % (doc["runs"], doc["scale"]))
    print("hs: hotalloc, HOTALLOC_SAMPLE=%s; ht: %s (cap %d MiB)"
          % (doc["sample_bytes"], doc["heaptrack"] or "heaptrack not found",
             doc["heaptrack_memory_cap_mib"]))
    print("wall, cpu: traced / untraced (cpu: user + sys of the process tree); ns/ev: extra wall per")
    print("event; B/ev: trace bytes per event; +MiB: extra peak RSS; est err: sampled estimate of the")
    print("bytes allocated against the full trace's; ha/ht: hotalloc's extra wall (cpu) / heaptrack's")

    def aget(a, tool, key, by=1):
        v = a[tool][key] if a[tool] else None
        return None if v is None else v / by

    head = ["analyzer", "events", "ha MB", "ha s", "ha Mev/s", "ha RSS", "htp MB", "htp s",
            "htp Mev/s", "htp RSS", "ha/htp rate"]
    body = []
    for a in doc["analyzer"]["workloads"]:
        r = [a["name"], "{:,}".format(a["events"])]
        for tool in ("hotalloc", "heaptrack_print"):
            r += [fmt(aget(a, tool, "input_bytes", 1e6), 1), fmt(aget(a, tool, "wall_median_s"), 3),
                  fmt(aget(a, tool, "events_per_s", 1e6), 2),
                  fmt(aget(a, tool, "peak_rss_median_kib", 1024), 1)]
        body.append(r + [fmt(a["hotalloc_rate_over_heaptrack_print_rate"], 2)])
    if body:
        print()
        table(head, body)
        htp = doc["heaptrack_print"]
        print("ha: hotalloc report --format json, htp: %s; medians of %d run(s) on one trace"
              % (htp + " -f" if htp else "heaptrack_print not found", doc["analyzer"]["runs"]))
        print("of each workload; MB: input file (10^6 bytes); s: wall; Mev/s: million events per s;")
        print("RSS: peak resident MiB; ha/htp rate: hotalloc's events/s / heaptrack_print's")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 bench/summary.py DIR OUT.json")
    main(sys.argv[1], sys.argv[2])
