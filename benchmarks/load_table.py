"""Calls on an idle machine and beside busy processes, side by side.

A training loop rarely has the machine to itself: a data loader decodes, a
second job runs. For each shape of the ranking and hinge tables, and for two
small batches, this times the fused loss + gradient (float32 scores,
PyTorch-layout int64 targets for the ranking loss, compact ones for the
hinge) first with no load, then with ``--load`` CPU-bound processes running
(a Python loop each), and reports the median and the 90th percentile of
each. At (64, 100) it also times the vectorised NumPy expression of the
hinge under the same load: the smallest calls must not be slower than it.
JIT compilation is kept out by a warm-up; each timing is one call.

Goals (issue 11), with one busy process: each loaded median at most 2x its
idle median; each loaded p90 at most 1.5x the loaded median; at (64, 100)
fastmargin no slower than NumPy.

Run: ``python benchmarks/load_table.py [--load 1] [--calls 200]``; prints
Markdown.
"""

import argparse
import time

import numpy as np

from fastmargin.cli.timing import (
    add_load_option,
    busy_processes,
    fastmargin_hinge_call,
    fastmargin_ranking_call,
    hinge_signs,
    load_note,
    machine_line,
    make_batch,
    numpy_hinge_call,
)

# (N, C, targets per row): the small batches, then the tables' shapes.
SHAPES = [
    (64, 100, 5),
    (256, 1000, 5),
    (4096, 100, 5),
    (4096, 1000, 5),
    (1024, 10000, 20),
    (256, 10000, 500),
]
# Calls per figure shrink with the work per call: about a second each.
SECONDS_PER_FIGURE = 1.0


def contenders(n_rows, n_classes, n_targets):
    """The timed calls of one shape, by name."""
    scores, padded = make_batch(n_rows, n_classes, n_targets)
    compact = padded[:, :n_targets]
    calls = {
        "ranking": fastmargin_ranking_call(scores, padded),
        "hinge": fastmargin_hinge_call(scores, compact),
    }
    if n_rows * n_classes <= 64 * 100:
        calls["NumPy hinge"] = numpy_hinge_call(scores, hinge_signs(scores, compact))
    return calls


def times_of(call, n_calls):
    """Seconds of ``n_calls`` single calls, after a warm-up."""
    for _ in range(3):
        call()
    times = np.empty(n_calls)
    for index in range(n_calls):
        start = time.perf_counter()
        call()
        times[index] = time.perf_counter() - start
    return times


def calls_for(call, most):
    """How many calls make about SECONDS_PER_FIGURE (at least 15)."""
    start = time.perf_counter()
    call()
    call()
    each = (time.perf_counter() - start) / 2
    return int(max(15, min(most, SECONDS_PER_FIGURE / max(each, 1e-7))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_option(parser, default=1)
    parser.add_argument("--calls", type=int, default=300, help="most calls per figure")
    args = parser.parse_args()
    print(machine_line(None))
    print(load_note(args.load))
    print()
    print(
        "| N x C, T | call | idle median (ms) | idle p90 | loaded median (ms) "
        "| loaded p90 | loaded / idle median | loaded p90 / median |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        calls = contenders(*shape)
        counts = {name: calls_for(call, args.calls) for name, call in calls.items()}
        idle = {name: times_of(call, counts[name]) for name, call in calls.items()}
        with busy_processes(args.load):
            loaded = {name: times_of(call, counts[name]) for name, call in calls.items()}
        for name in calls:
            idle_median, idle_p90 = np.percentile(idle[name], [50, 90]) * 1e3
            median, p90 = np.percentile(loaded[name], [50, 90]) * 1e3
            print(
                f"| {shape[0]} x {shape[1]}, {shape[2]} | {name} | {idle_median:.3f} "
                f"| {idle_p90:.3f} | {median:.3f} | {p90:.3f} "
                f"| {median / idle_median:.2f} | {p90 / median:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
