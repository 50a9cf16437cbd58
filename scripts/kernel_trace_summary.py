#!/usr/bin/env python3
"""Where a replayed CUDA graph's time goes, from a libferrum-kernel-trace.so timeline.

Usage: kernel_trace_summary.py TRACE.tsv [--top N] [--min-kernels K]

A decode step is one replay of a graph: the kernels of one graph id, until a node repeats. Within a
step the kernels are taken in the order they finish (stream order; PDL lets a kernel start early but
never finish before its predecessor), and each is charged what it adds to the step: its end minus
the later of its own start and the previous kernel's end. Time with no kernel running is charged
as "idle". Steps with fewer than K kernels (prefill graphs, captures) are left out.

It also prints the median period between consecutive steps' starts: the period minus the step's
span is the time the GPU waits on the host between steps (scheduling, uploads, sampling).
"""
import argparse
import collections
import re
import subprocess
import sys


def short_name(mangled, grid):
    try:
        name = subprocess.run(["c++filt", mangled], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        name = mangled
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"ferrum::cuda::(\(anonymous namespace\)::)?", "", name)
    name = re.sub(r"\(.*\)$", "", name)  # parameters
    name = re.sub(r"ferrum::DType::k", "", name)
    if len(name) > 70:
        name = name[:67] + "..."
    return f"{name} <<<{grid}>>>"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--min-kernels", type=int, default=50)
    args = parser.parse_args()

    records = []
    with open(args.trace) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 7:
                continue
            start, end, graph, node, grid, block = (int(p) for p in parts[:6])
            records.append((start, end, graph, node, grid, block, parts[6]))
    graph_records = sorted((r for r in records if r[2] != 0), key=lambda r: (r[2], r[1]))

    steps, current, seen = [], [], set()
    for r in graph_records:
        if current and (r[2] != current[-1][2] or r[3] in seen):
            steps.append(current)
            current, seen = [], set()
        current.append(r)
        seen.add(r[3])
    if current:
        steps.append(current)
    steps = [s for s in steps if len(s) >= args.min_kernels]
    if not steps:
        sys.exit("no graph replay with enough kernels in the trace")
    # The most common kernel count is the decode step; other graphs (bucket sizes) are left out.
    size = collections.Counter(len(s) for s in steps).most_common(1)[0][0]
    steps = [s for s in steps if len(s) == size]

    names = {}
    charged = collections.defaultdict(float)
    durations = collections.defaultdict(float)
    calls = collections.Counter()
    idle = 0.0
    step_times = []
    for step in steps:
        step_times.append((step[-1][1] - min(r[0] for r in step)) / 1e3)
        previous_end = None
        for start, end, _, _, grid, _, mangled in step:
            key = (mangled, grid)
            if key not in names:
                names[key] = short_name(mangled, grid)
            label = names[key]
            begin = start if previous_end is None else max(start, previous_end)
            if previous_end is not None and start > previous_end:
                idle += (start - previous_end) / 1e3
            charged[label] += (end - begin) / 1e3
            durations[label] += (end - start) / 1e3
            calls[label] += 1
            previous_end = end

    n = len(steps)
    starts = sorted(min(r[0] for r in s) for s in steps)
    periods = sorted((b - a) / 1e3 for a, b in zip(starts, starts[1:]))
    step_times.sort()
    median = step_times[len(step_times) // 2]
    total = sum(charged.values()) / n + idle / n
    print(f"{n} steps of {size} kernels; step median {median:.1f} us, mean charged {total:.1f} us")
    if periods:
        period = periods[len(periods) // 2]
        print(f"median period between step starts {period:.1f} us: {period - median:.1f} us a step outside the graph")
    print(f"{'kernel <<<grid>>>':<84} {'calls':>6} {'us/step':>9} {'%':>6} {'us each':>8} {'span':>8}")
    rows = sorted(charged, key=lambda k: -charged[k])
    for label in rows[: args.top]:
        per_step = charged[label] / n
        print(f"{label:<84} {calls[label] / n:6.1f} {per_step:9.1f} {100 * per_step / total:6.1f} "
              f"{charged[label] / calls[label]:8.2f} {durations[label] / calls[label]:8.2f}")
    rest = sum(charged[k] for k in rows[args.top:]) / n
    print(f"{'(the rest)':<84} {'':>6} {rest:9.1f} {100 * rest / total:6.1f}")
    print(f"{'(idle: no kernel running)':<84} {'':>6} {idle / n:9.1f} {100 * idle / n / total:6.1f}")


if __name__ == "__main__":
    main()
