"""The ``bench`` command: times fastmargin's fused loss + gradient on
generated batches, for every combination of the values asked for, against
PyTorch (when importable) and, for the hinge, the vectorised NumPy
expression; prints a table and notes, or JSON records, and a plot.
"""

import itertools
import json
import sys
import textwrap

import numpy as np
from numba.core import event as numba_event

from .info import machine_info
from .report import CommandError, plot, print_table, progress_bar
from .timing import (
    ROUND_CALLS,
    SETTLE_CALLS,
    alternating_times,
    busy_processes,
    copy_bandwidth,
    fastmargin_hinge_call,
    fastmargin_ranking_call,
    floor_bytes,
    hinge_signs,
    load_note,
    machine_line,
    make_batch,
    numpy_hinge_call,
    target_in_form,
    torch_hinge_call,
    torch_ranking_call,
)


class _CompileNotice(numba_event.Listener):
    """Says once, on stderr, that numba is compiling (a first run's calls
    can take seconds each); numba's event API calls it when a compilation
    starts and ends."""

    said = False

    def on_start(self, event):
        if not self.said:
            self.said = True
            print("compiling kernels (first run only) ...", file=sys.stderr, flush=True)

    def on_end(self, event):
        pass


def _statistics(times):
    """Summary in milliseconds of a list of seconds.

    >>> _statistics([0.001, 0.002, 0.003])["median_ms"]
    2.0
    """
    ms = np.asarray(times) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {
        "median_ms": float(median),
        "q1_ms": float(q1),
        "q3_ms": float(q3),
        "iqr_ms": float(q3 - q1),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "times_ms": [float(value) for value in ms],
    }


def _cases(args):
    """The benchmark's groups: one per batch (N, C, T, dtype) and loss; each
    times every asked form, with the references timed once."""
    batches = itertools.product(args.n, args.classes, args.targets, args.dtype)
    return [(batch, loss) for batch in batches for loss in args.loss]


def _measure_group(batch, loss, args, bandwidth, machine, data):
    """Time fastmargin on every asked target form of one batch, and the
    references (which take the labels in their own form) once; one record
    per form."""
    n_rows, n_classes, n_targets, dtype = batch
    scores, compact, targets = data
    forms = args.form
    references = {}
    if loss == "ranking":
        fast = fastmargin_ranking_call
        if args.compare:  # PyTorch wants its own (N, C) -1 padded layout
            padded = targets.get("padded")
            if padded is None:
                padded = target_in_form(compact, n_classes, "padded")
            references["pytorch"] = torch_ranking_call(scores, padded)
    else:
        fast = fastmargin_hinge_call
        if args.compare:  # a dense +1/-1 sign matrix, built untimed
            signs = hinge_signs(scores, compact)
            references["pytorch"] = torch_hinge_call(scores, signs)
            references["numpy"] = numpy_hinge_call(scores, signs)
    calls = {("fastmargin", form): fast(scores, targets[form]) for form in forms}
    calls.update({(name, None): call for name, call in references.items() if call is not None})
    times = alternating_times(calls, args.repeat, args.warmup)
    reference_stats = {
        name: _statistics(times[(name, None)]) if (name, None) in times else None
        for name in ("pytorch", "numpy")
    }
    records = []
    for form in forms:
        fast_stats = _statistics(times[("fastmargin", form)])
        n_bytes = floor_bytes(scores, targets[form])
        floor_ms = n_bytes / bandwidth * 1e3
        record = {
            "loss": loss,
            "device": "cpu",
            "n": n_rows,
            "classes": n_classes,
            "targets": n_targets,
            "dtype": dtype,
            "form": form,
            "repeat": args.repeat,
            "warmup": args.warmup,
            "fastmargin": fast_stats,
            "pytorch": reference_stats["pytorch"],
            "numpy": reference_stats["numpy"],
            "floor_bytes": n_bytes,
            "floor_ms": floor_ms,
            "x_floor": fast_stats["median_ms"] / floor_ms,
            "x_floor_best": fast_stats["min_ms"] / floor_ms,
        }
        for name in ("pytorch", "numpy"):
            stats = reference_stats[name]
            record[f"speedup_vs_{name}"] = (
                None if stats is None else stats["median_ms"] / fast_stats["median_ms"]
            )
        record["machine"] = machine
        records.append(record)
    return records


def _run_bench(args):
    """Every record of the benchmark asked for by ``args`` (validated), and
    the copy bandwidth."""
    bandwidth = copy_bandwidth()  # idle: the floor is the machine's
    machine = machine_info(bandwidth)
    machine["busy_processes"] = args.load
    cases = _cases(args)
    records = []
    data_key, data = None, None
    with progress_bar(len(cases), args.progress) as progress, busy_processes(args.load):
        for batch, loss in cases:
            if batch != data_key:
                data_key, data = None, None  # free the previous batch first
                n_rows, n_classes, n_targets, dtype = batch
                scores, compact = make_batch(
                    n_rows, n_classes, n_targets, dtype=np.dtype(dtype), layout="compact"
                )
                targets = {
                    form: target_in_form(compact, n_classes, form) for form in args.form
                }
                data, data_key = (scores, compact, targets), batch
            progress.show(f"{loss} {batch[0]} x {batch[1]}, {batch[2]} targets, {batch[3]}")
            records += _measure_group(batch, loss, args, bandwidth, machine, data)
            progress.advance()
    if "torch" in sys.modules:  # imported by the reference calls
        machine["torch_threads"] = sys.modules["torch"].get_num_threads()
    return records, bandwidth


def _print_notes(records, args):
    notes = (
        f"Times: median of {args.repeat} timed calls of the fused loss + gradient "
        f"(mean reduction), after {args.warmup} warm-up calls; contenders take turns, "
        f"{ROUND_CALLS} timed calls at most after {SETTLE_CALLS} untimed ones. IQR: "
        "interquartile range of fastmargin's times. floor: the bytes that must move "
        "(scores read, gradient written, targets read) over the copy bandwidth. vs: the "
        "reference's median over fastmargin's."
    )
    print(textwrap.fill(notes, width=100))
    if args.compare and all(record["pytorch"] is None for record in records):
        print("PyTorch is not installed: no comparison with PyTorch.")
    if any(record["loss"] == "ranking" for record in records) and args.compare:
        print(
            "Ranking: PyTorch gets the same labels in its padded (N, C) layout; "
            "no NumPy reference."
        )


def command_bench(args):
    """The ``bench`` command.

    Parameters
    ----------
    args : argparse.Namespace
        Its parsed arguments, validated (every list option filled in).

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    CommandError
        When the plot cannot be written.
    """
    numba_event.register("numba:compile", _CompileNotice())  # for the rest of the process
    records, bandwidth = _run_bench(args)
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(machine_line(bandwidth), end="")
        if args.load:
            print(load_note(args.load))
        print_table(records, args.plain)
        _print_notes(records, args)
    if args.plot is not None:
        x_key = "targets" if len(args.targets) > 1 else "classes"
        try:
            plot(records, args.plot, x_key)
        except OSError as error:
            raise CommandError(f"--plot {args.plot}: {error.strerror or error}") from None
        print(f"plot written to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0
