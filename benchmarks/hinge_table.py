"""The README's performance table for the per-label hinge loss, measured here
and now.

Fused loss + gradient of ``fastmargin.multilabel_hinge_loss_and_grad`` on
float32 scores with compact (N, T) int64 targets, against the vectorised
NumPy expression and PyTorch autograd on ``clamp(margin - s * x, min=0).mean()``
with a dense sign matrix s (built once, untimed), all in one run. Everything
is warmed up first (JIT compilation is never timed); rounds alternate between
the contenders so that a noisy neighbour hits all alike; in each round a
contender makes three untimed calls, then five timed ones; each figure is
the median of its timed calls.

fastmargin is timed twice: returning a fresh gradient array each call (the
default), and writing into one reused ``out=`` array, as a training loop
can. The difference is the operating system handing over, and zeroing,
fresh pages for a gradient of more than 32 MiB, which glibc maps anew on
every call (smaller ones come back from the heap warm).

Also measured against the plain fused call, on the same labels:
``AdaptiveMargins.loss_and_grad`` and bool-indicator and CSR targets.
The memory floor is the bytes that must move (scores read, gradient written,
target entries read) over the copy bandwidth that ``np.copyto`` reaches,
counting read and written bytes.

Run: ``python benchmarks/hinge_table.py [--rounds 7] [--load K]``; prints
Markdown. ``--load K`` runs K CPU-bound processes beside the timings
(``benchmarks/load_table.py`` puts idle and loaded side by side).
"""

import argparse

import numpy as np
import scipy.sparse

from fastmargin import AdaptiveMargins, indicator_from_targets, multilabel_hinge_loss_and_grad
from fastmargin.cli.timing import (
    ROUND_CALLS,
    add_load_option,
    alternating_times,
    busy_processes,
    copy_bandwidth,
    fastmargin_hinge_call,
    hinge_floor_bytes,
    hinge_signs,
    load_note,
    machine_line,
    make_batch,
    numpy_hinge_call,
    torch_hinge_call,
)

CASES = [(4096, 1000, 5), (4096, 1000, 20), (1024, 10000, 5), (1024, 10000, 20)]


def measure(n_rows, n_classes, n_targets, rounds):
    """Median seconds per call of each contender on one shape."""
    scores, targets = make_batch(n_rows, n_classes, n_targets, layout="compact")
    signs = hinge_signs(scores, targets)
    indicator = indicator_from_targets(targets, n_classes)
    csr = scipy.sparse.csr_array(indicator)
    adaptive = AdaptiveMargins(n_classes, rate=0.0)  # rate 0: same work, margins stay 1
    calls = {
        "fastmargin": fastmargin_hinge_call(scores, targets),
        "fastmargin, out=": fastmargin_hinge_call(scores, targets, np.empty_like(scores)),
        "AdaptiveMargins": lambda: adaptive.loss_and_grad(scores, targets),
        "bool targets": lambda: multilabel_hinge_loss_and_grad(scores, indicator),
        "CSR targets": lambda: multilabel_hinge_loss_and_grad(scores, csr),
        "NumPy": numpy_hinge_call(scores, signs),
        "PyTorch": torch_hinge_call(scores, signs),
    }
    calls = {name: call for name, call in calls.items() if call is not None}
    times = alternating_times(calls, repeat=rounds * ROUND_CALLS, warmup=1)
    return {name: float(np.median(t)) for name, t in times.items()}, hinge_floor_bytes(
        scores, targets
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    add_load_option(parser)
    args = parser.parse_args()
    bandwidth = copy_bandwidth()  # measured idle: the floor is the machine's
    print(machine_line(bandwidth))
    print(load_note(args.load))
    print()
    print(
        "| N x C | labels | fastmargin (ms) | x floor | with out= (ms) | x floor "
        "| NumPy (ms) | PyTorch (ms) | speed-up vs NumPy / PyTorch "
        "| Adaptive / plain | bool / padded | CSR / padded |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n_rows, n_classes, n_targets in CASES:
        with busy_processes(args.load):
            t, floor_bytes = measure(n_rows, n_classes, n_targets, args.rounds)
        floor = floor_bytes / bandwidth
        fast = t["fastmargin"]
        torch_time = t.get("PyTorch", float("nan"))
        print(
            f"| {n_rows} x {n_classes} | {n_targets} | {fast * 1e3:.2f} "
            f"| {fast / floor:.2f} | {t['fastmargin, out='] * 1e3:.2f} "
            f"| {t['fastmargin, out='] / floor:.2f} | {t['NumPy'] * 1e3:.1f} "
            f"| {torch_time * 1e3:.1f} "
            f"| {t['NumPy'] / fast:.0f}x / {torch_time / fast:.0f}x "
            f"| {t['AdaptiveMargins'] / fast:.2f} | {t['bool targets'] / fast:.2f} "
            f"| {t['CSR targets'] / fast:.2f} |"
        )


if __name__ == "__main__":
    main()
