"""fastmargin.torch in a PyTorch training step on the CPU, against PyTorch's
own loss, measured here and now.

Three figures, float32 throughout, targets in PyTorch's -1 padded (N, C)
int64 layout:

1. One training step of a 2-layer MLP, ``Linear(256, 512) -> ReLU ->
   Linear(512, C)``: ``model.zero_grad(set_to_none=True)``, forward, loss,
   backward (no optimizer), with ``fastmargin.torch.MultiLabelMarginLoss``
   against ``torch.nn.MultiLabelMarginLoss``, at PyTorch's default number of
   intra-op threads and at 1. Both criteria train the same model on the same
   batch. fastmargin's kernels run on fastmargin's own thread pool (numba's
   thread count, which this script leaves alone) between PyTorch's OpenMP
   matrix products, so each step alternates the two pools: besides the
   median, each step contender reports its slowest timed step over its
   median (a stall between the pools would show there).
2. The loss's share: forward + backward of each criterion on a leaf scores
   tensor that requires grad, and the raw fused NumPy call
   ``fastmargin.multilabel_margin_loss_and_grad(scores.numpy(),
   target.numpy(), target_format="indices")`` on the same batch. Goals:
   PyTorch's loss over fastmargin's at least 40x; fastmargin's loss within
   1.5x of the raw call. The scores are ``make_batch``'s standard normal
   ones, as in ``ranking_table.py``; PyTorch's kernel runs some 1.5x faster
   on an untrained MLP's small outputs (its hinge branch always taken), so
   this is not a part of the step's time.
3. The module's cost over the raw call at 64 x 100 (5 targets), in
   microseconds: (a) the forward alone with the gradient kept (the input
   requires grad), (b) forward + backward, each minus the raw call; (c) a
   trivial ``torch.autograd.Function`` (forward ``x.sum()``, backward
   ``g.expand_as(x)``), forward + backward: what any autograd.Function pays.
   Goal: under 30 microseconds a call.

How: for each shape, all its contenders (both steps at both thread counts,
both losses, the raw call) run in one interleaved measurement
(``fastmargin.cli.timing.alternating_times``), and so do those at 64 x 100:
each is first called untimed (twice; 20 times at 64 x 100), so numba's JIT
compilation and first touches are never timed; then rounds take turns, each
contender making three untimed calls and then five timed ones, so that a
noisy neighbour on this shared machine hits all alike. Figures are medians of
the timed calls: 5 x ``--rounds`` of them (200 times as many at 64 x 100).
Each contender sets the number of PyTorch threads before its calls (about
0.2 microseconds). Before timing, the two criteria's losses and gradients on
the same scores are checked to agree.

Run: ``python benchmarks/torch_training.py [--rounds 3] [--load K]
[--quick]``; prints Markdown. ``--load K`` runs K CPU-bound processes beside
the timings; ``--quick`` uses tiny shapes and one round (seconds, a smoke
run). At the end it prints how much CPU time other processes (not this
one, not its ``--load`` processes) used during the run, and the time the
hypervisor stole, from Linux's ``/proc/stat``: more than a few percent of a
core means the figures may be disturbed.
"""

import argparse
import os
import time

import numpy as np

from fastmargin import multilabel_margin_loss_and_grad
from fastmargin.cli.timing import (
    ROUND_CALLS,
    add_load_option,
    alternating_times,
    busy_processes,
    copy_bandwidth,
    load_note,
    machine_line,
    make_batch,
    torch_autograd_call,
)

FEATURES, HIDDEN = 256, 512
# (N, C, targets per row) of the training step and the loss's share.
CASES = [(4096, 1000, 5), (1024, 10000, 20)]
QUICK_CASES = [(256, 100, 5), (128, 1000, 20)]
# Where the kernel takes microseconds: the module's own cost shows.
TINY = (64, 100, 5)
# Timed calls at TINY per timed call of a step (they are some 10^4 x quicker).
TINY_CALLS = 200
QUICK_TINY_CALLS = 20

SPEEDUP_GOAL = 40  # PyTorch's loss share over fastmargin's, at least
RAW_RATIO_GOAL = 1.5  # fastmargin's loss share over the raw fused call, at most
OVERHEAD_GOAL = 30e-6  # seconds over the raw call, per call


def fused_numpy_call(torch, scores, targets):
    """The raw fused call on NumPy views of CPU tensors (a callable), as
    the module makes it, without the module."""
    scores, targets = torch.from_numpy(scores), torch.from_numpy(targets)
    return lambda: multilabel_margin_loss_and_grad(
        scores.numpy(), targets.numpy(), target_format="indices"
    )


def criterion_call(scores, targets, criterion):
    """``criterion(leaf, target).backward()`` on a leaf copy of ``scores``
    that requires grad (a callable returning the loss and the gradient)."""
    return torch_autograd_call(
        scores, targets, "cpu", lambda torch, leaf, target: criterion(leaf, target)
    )


def training_step(model, criterion, features, target):
    """One step of ``model`` with ``criterion`` (a callable): gradients
    dropped, forward, loss, backward."""

    def step():
        model.zero_grad(set_to_none=True)
        criterion(model(features), target).backward()

    return step


def at_threads(torch, count, call):
    """``call`` run with ``count`` PyTorch intra-op threads."""

    def threaded():
        torch.set_num_threads(count)
        return call()

    return threaded


def sum_function(torch):
    """The trivial ``torch.autograd.Function``: forward ``x.sum()``,
    backward ``g.expand_as(x)`` (the same classic form as fastmargin's)."""

    class Sum(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sum()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad.expand_as(x)

    return Sum


def check_agreement(torch, calls):
    """The criteria's ``(loss, grad)`` callables agree on the same scores."""
    (loss, grad), *others = (call() for call in calls)
    for other_loss, other_grad in others:
        torch.testing.assert_close(other_loss, loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(other_grad, grad, rtol=1e-5, atol=1e-7)


def measure_case(torch, criteria, shape, rounds, thread_counts):
    """Median seconds per call of every contender on one shape, by key:
    ``(criterion, "step", threads)``, ``(criterion, "loss")`` and
    ``"NumPy"``; and each step's slowest timed call over its median."""
    n_rows, n_classes, n_targets = shape
    scores, targets = make_batch(n_rows, n_classes, n_targets)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, n_classes)
    )
    features = torch.randn(n_rows, FEATURES)
    target = torch.from_numpy(targets)
    default = thread_counts[0]
    losses = {name: criterion_call(scores, targets, c) for name, c in criteria.items()}
    torch.set_num_threads(default)
    check_agreement(torch, losses.values())
    calls = {}
    for count in thread_counts:
        for name, criterion in criteria.items():
            step = training_step(model, criterion, features, target)
            calls[name, "step", count] = at_threads(torch, count, step)
    for name, call in losses.items():
        calls[name, "loss"] = at_threads(torch, default, call)
    calls["NumPy"] = fused_numpy_call(torch, scores, targets)
    try:
        times = alternating_times(calls, repeat=rounds * ROUND_CALLS, warmup=2)
    finally:
        torch.set_num_threads(default)
    medians = {key: float(np.median(t)) for key, t in times.items()}
    spikes = {key: max(t) / medians[key] for key, t in times.items() if "step" in key}
    return medians, spikes


def measure_overhead(torch, criteria, repeat):
    """Median seconds per call at TINY of the raw fused call, fastmargin's
    forward with the gradient kept, fastmargin's and PyTorch's forward +
    backward, and the trivial autograd.Function's forward + backward."""
    scores, targets = make_batch(*TINY)
    leaf = torch.tensor(scores, requires_grad=True)
    target = torch.from_numpy(targets)
    ours = criteria["fastmargin"]
    trivial = sum_function(torch)
    calls = {
        "NumPy": fused_numpy_call(torch, scores, targets),
        "forward": lambda: ours(leaf, target),
        "forward + backward": criterion_call(scores, targets, ours),
        "trivial": torch_autograd_call(
            scores, targets, "cpu", lambda torch, leaf, _: trivial.apply(leaf)
        ),
        "PyTorch": criterion_call(scores, targets, criteria["PyTorch"]),
    }
    times = alternating_times(calls, repeat=repeat, warmup=20)
    return {name: float(np.median(t)) for name, t in times.items()}


def cpu_seconds():
    """CPU seconds so far: used by the whole machine, by this process with
    its finished children, and stolen by the hypervisor (a virtual
    machine's neighbours); None where ``/proc/stat`` is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    # user, nice, system, idle, iowait, irq, softirq, steal: all but idle and iowait.
    machine = (sum(ticks[:7]) - ticks[3] - ticks[4]) / tick
    own = os.times()
    own_seconds = own.user + own.system + own.children_user + own.children_system
    return machine, own_seconds, ticks[7] / tick if len(ticks) > 7 else 0.0


def disturbance_line(start, end, wall):
    """What else ran during ``wall`` seconds, from two :func:`cpu_seconds`."""
    others = max((end[0] - start[0]) - (end[1] - start[1]), 0.0)
    stolen = end[2] - start[2]
    return (
        f"Other processes used {others:.2f} CPU seconds during the {wall:.0f} s of this "
        f"run ({others / wall:.0%} of a core); the hypervisor stole {stolen:.2f} s."
    )


def shape_text(shape):
    return f"{shape[0]} x {shape[1]}, {shape[2]}"


def goal_text(met):
    return "met" if met else "**not met**"


def print_step_table(results, thread_counts):
    print(
        "| N x C, targets | PyTorch threads | PyTorch step (ms) | fastmargin step (ms) "
        "| speed-up | slowest / median step: PyTorch, fastmargin |"
    )
    print("|---|---|---|---|---|---|")
    for shape, (medians, spikes) in results.items():
        for count in thread_counts:
            theirs, ours = ("PyTorch", "step", count), ("fastmargin", "step", count)
            print(
                f"| {shape_text(shape)} | {count} | {medians[theirs] * 1e3:.1f} "
                f"| {medians[ours] * 1e3:.1f} | {medians[theirs] / medians[ours]:.2f}x "
                f"| {spikes[theirs]:.2f}, {spikes[ours]:.2f} |"
            )


def print_loss_table(results):
    print(
        "| N x C, targets | PyTorch loss (ms) | fastmargin loss (ms) | raw fused call (ms) "
        f"| PyTorch / fastmargin (goal >= {SPEEDUP_GOAL}x) "
        f"| fastmargin / raw call (goal <= {RAW_RATIO_GOAL}) |"
    )
    print("|---|---|---|---|---|---|")
    for shape, (medians, _) in results.items():
        theirs, ours = medians["PyTorch", "loss"], medians["fastmargin", "loss"]
        raw = medians["NumPy"]
        print(
            f"| {shape_text(shape)} | {theirs * 1e3:.1f} | {ours * 1e3:.2f} | {raw * 1e3:.2f} "
            f"| {theirs / ours:.0f}x, {goal_text(theirs / ours >= SPEEDUP_GOAL)} "
            f"| {ours / raw:.2f}, {goal_text(ours / raw <= RAW_RATIO_GOAL)} |"
        )


def print_overhead_table(medians):
    raw = medians["NumPy"]
    rows = [
        ("raw fused call", "NumPy", None),
        ("(a) fastmargin forward, gradient kept", "forward", raw),
        ("(b) fastmargin forward + backward", "forward + backward", raw),
        ("(c) trivial autograd.Function forward + backward", "trivial", None),
        ("PyTorch forward + backward", "PyTorch", None),
    ]
    print(
        f"| {shape_text(TINY)} | median (us) | over the raw call (us) "
        f"| goal < {OVERHEAD_GOAL * 1e6:.0f} us |"
    )
    print("|---|---|---|---|")
    for label, key, base in rows:
        over = "" if base is None else f"{(medians[key] - base) * 1e6:.1f}"
        goal = "" if base is None else goal_text(medians[key] - base < OVERHEAD_GOAL)
        print(f"| {label} | {medians[key] * 1e6:.1f} | {over} | {goal} |")
    beyond = medians["forward + backward"] - raw - medians["trivial"]
    print()
    print(
        f"(b)'s cost over the raw call beyond (c), the floor of any autograd.Function: "
        f"{beyond * 1e6:.1f} us."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="default 3, 1 with --quick")
    add_load_option(parser)
    parser.add_argument("--quick", action="store_true", help="tiny shapes: a smoke run")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    import torch

    from fastmargin.torch import MultiLabelMarginLoss

    start_cpu, start_time = cpu_seconds(), time.perf_counter()
    criteria = {
        "PyTorch": torch.nn.MultiLabelMarginLoss(),
        "fastmargin": MultiLabelMarginLoss(),
    }
    default = torch.get_num_threads()
    thread_counts = sorted({default, 1}, reverse=True)
    bandwidth = copy_bandwidth()  # measured idle
    print(machine_line(bandwidth))
    print(
        f"PyTorch {torch.__version__}, {default} intra-op threads by default. MLP "
        f"Linear({FEATURES}, {HIDDEN}) -> ReLU -> Linear({HIDDEN}, C), float32; a step is "
        "zero_grad(set_to_none=True), forward, loss, backward (no optimizer)."
    )
    print(load_note(args.load))
    if args.quick:
        print("Quick run: small shapes, few calls; the goals are for the full run.")
    print()
    results = {}
    for shape in QUICK_CASES if args.quick else CASES:
        with busy_processes(args.load):
            results[shape] = measure_case(torch, criteria, shape, rounds, thread_counts)
    tiny_calls = QUICK_TINY_CALLS if args.quick else TINY_CALLS
    with busy_processes(args.load):
        overhead = measure_overhead(torch, criteria, rounds * ROUND_CALLS * tiny_calls)
    print_step_table(results, thread_counts)
    print()
    print_loss_table(results)
    print()
    print_overhead_table(overhead)
    print()
    end_cpu, wall = cpu_seconds(), time.perf_counter() - start_time
    if start_cpu is not None and end_cpu is not None:
        print(disturbance_line(start_cpu, end_cpu, wall))


if __name__ == "__main__":
    main()
