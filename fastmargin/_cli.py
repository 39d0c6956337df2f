"""The ``fastmargin`` command-line tool (``python -m fastmargin``).

Commands
--------
info
    Versions, threads, GPU, numba cache directory.
bench
    Times the fused loss + gradient on generated batches, against PyTorch
    (when importable) and, for the hinge, the vectorised NumPy expression.

Without a command: a short ``info`` and a ``bench`` of the default shape.
Options without a command (``python -m fastmargin --n 64 ...``) mean
``bench``.

rich (table, progress bar), tqdm (progress bar, when rich is missing) and
matplotlib (``--plot``) are optional: without them the tool prints plain
aligned text; ``--plot`` then stops with a one-line error.

Exit status: 0 on success; 2 for a bad argument (one line on stderr);
1 when something asked for cannot be done here (``--device cuda``,
``--plot`` without matplotlib, a batch too big for memory).
"""

import argparse
import importlib.metadata
import itertools
import json
import math
import os
import platform
import sys
import textwrap
from pathlib import Path

import numpy as np
from numba.core import event as numba_event

from . import _threads
from ._bench import cpu_name

LOSSES = ("ranking", "hinge")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
DEFAULTS = {
    "loss": list(LOSSES),
    "n": [4096],
    "classes": [1000],
    "targets": [5],
    "dtype": ["float32"],
    "form": ["padded"],
    "device": ["cpu"],
}
DEFAULT_REPEAT = 5
DEFAULT_WARMUP = 2
CONTENDERS = ("fastmargin", "pytorch", "numpy")
CONTENDER_NAMES = {"fastmargin": "fastmargin", "pytorch": "PyTorch", "numpy": "NumPy"}


class CommandError(Exception):
    """A request that is well formed but cannot be carried out here; the
    message is printed on one line and the exit status is 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``PROG: error: MESSAGE``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types ----------------------------------------------------------


def _positive_int(text):
    """The value of an option that must be a positive integer.

    >>> _positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _count(text):
    """The value of an option that must be a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


# -- machine information -----------------------------------------------------


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpu():
    """``(usable, description)``. numba.cuda is imported only when the
    numba-cuda package is installed; any failure is reported, not raised."""
    if _version("numba-cuda") is None:
        return False, "numba-cuda not installed"
    try:
        from numba import cuda

        if not cuda.is_available():
            return False, "no CUDA driver or no GPU (numba.cuda.is_available() is False)"
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        return True, f"{name} (compute capability {'.'.join(map(str, device.compute_capability))})"
    except Exception as error:  # a broken driver, a missing library: say so
        first_line = (str(error).strip().splitlines() or [""])[0]
        return False, f"CUDA not usable: {type(error).__name__}: {first_line}"


_LOCATORS = {
    "UserProvidedCacheLocator": "NUMBA_CACHE_DIR",
    "InTreeCacheLocator": "__pycache__ next to fastmargin's source files",
    "InTreeCacheLocatorFsAgnostic": "__pycache__ next to fastmargin's source files",
    "UserWideCacheLocator": "numba's user-wide cache: fastmargin's own folder is not writable",
    "ZipCacheLocator": "numba's cache for packages inside a zip file",
    "IPythonCacheLocator": "numba's cache for IPython cells",
}


def _numba_cache():
    """Where numba caches fastmargin's kernels, asked of a kernel's own cache
    (``(path or None, description)``)."""
    import numba

    if numba.config.DISABLE_JIT:
        return None, "JIT disabled (NUMBA_DISABLE_JIT=1): nothing is compiled or cached"
    try:
        from .kernels import hinge as hinge_kernels

        cache = hinge_kernels.hinge_rows._cache
        path = cache._cache_path
        locator = type(cache._impl.locator).__name__.lstrip("_")
    except AttributeError:  # numba internals moved, or caching is off
        if numba.config.CACHE_DIR:
            return numba.config.CACHE_DIR, "NUMBA_CACHE_DIR"
        return None, "unknown (numba's cache internals are not where expected)"
    cached = len(list(Path(path).glob("*.nbi"))) if os.path.isdir(path) else 0
    how = _LOCATORS.get(locator, locator)
    return path, f"{how}; {cached} kernel index files"


# numba threading layers that are unsafe for numba's own parallel code, and
# why (fastmargin runs on its own threads and is safe under any of them).
_UNSAFE_LAYERS = {
    "omp": "GNU OpenMP: a process forked after a parallel call dies",
    "workqueue": "aborts when two Python threads run parallel code at once",
}


def _numba_layer():
    """``(layer, started)``: numba's threading layer for parallel numba code
    in this process, started or (without starting it) the one numba would
    pick: the configured one, else the first of tbb, omp and workqueue that
    loads. fastmargin itself never runs on it."""
    import importlib

    import numba

    try:
        return numba.threading_layer(), True
    except ValueError:  # no parallel numba code has run in this process
        pass
    configured = numba.config.THREADING_LAYER
    if configured != "default":  # a layer, or a kind (safe, forksafe, ...)
        return configured, False
    for layer in ("tbb", "omp", "workqueue"):
        try:
            importlib.import_module(f"numba.np.ufunc.{layer}pool")
        except ImportError:
            continue
        return layer, False
    return None, False


def machine_info(bandwidth=None):
    """Versions, CPU, threads, GPU and cache of this machine, as a dict."""
    import numba

    from . import __version__

    layer, layer_started = _numba_layer()
    gpu_usable, gpu = _gpu()
    cache_path, cache_how = _numba_cache()
    info = {
        "fastmargin": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "llvmlite": _version("llvmlite"),
        "numba-cuda": _version("numba-cuda"),
        "torch": _version("torch"),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numba_threads": _threads.thread_count(),
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading": "fastmargin's own threads (fork-safe, thread-safe)",
        "threading_layer": layer,
        "threading_layer_started": layer_started,
        "threading_layer_warning": _UNSAFE_LAYERS.get(layer),
        "gpu_usable": gpu_usable,
        "gpu": gpu,
        "numba_cache_dir": cache_path,
        "numba_cache": cache_how,
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    if bandwidth is not None:
        info["copy_bandwidth_gb_s"] = bandwidth / 1e9
    return info


def _info_lines(info):
    def version(name):
        return info[name] or "not installed"

    threads = (
        f"{info['numba_threads']} threads, {info['threading']}; at most "
        f"{info['numba_max_threads']} (numba.set_num_threads, NUMBA_NUM_THREADS), "
        f"{info['cpu_count']} CPUs"
    )
    layer = info["threading_layer"] or "none"
    layer += "" if info["threading_layer_started"] else " (not started)"
    if info["threading_layer_warning"]:
        layer += (
            f"; warning: unsafe for your own parallel numba code: "
            f"{info['threading_layer_warning']} (pip install tbb for the safe TBB layer)"
        )
    rows = [
        ("fastmargin", info["fastmargin"]),
        ("numba", info["numba"]),
        ("numpy", info["numpy"]),
        ("scipy", version("scipy")),
        ("llvmlite", version("llvmlite")),
        ("numba-cuda", version("numba-cuda")),
        ("torch", version("torch") + ("" if info["torch"] is None else " (for comparisons)")),
        ("python", f"{info['python']} on {info['platform']}"),
        ("cpu", f"{info['cpu']} ({info['machine']})"),
        ("threads", threads),
        ("numba layer", layer + "; fastmargin does not use it"),
        ("gpu", info["gpu"] if info["gpu_usable"] else f"none: {info['gpu']}"),
        ("numba cache", f"{info['numba_cache_dir'] or '-'} ({info['numba_cache']})"),
    ]
    width = max(len(key) for key, _ in rows)
    return [f"{key:<{width}}  {value}" for key, value in rows]


def _short_info(info):
    gpu = info["gpu"] if info["gpu_usable"] else f"none ({info['gpu']})"
    return (
        f"fastmargin {info['fastmargin']}, numba {info['numba']}, numpy {info['numpy']}; "
        f"{info['numba_threads']} threads (fastmargin's own); GPU: {gpu}"
    )


def _command_precompile(args):
    from . import _precompile

    if args.all:
        args.loss, args.dtype, args.target = (
            _precompile.LOSSES, _precompile.DTYPES, _precompile.TARGETS
        )
    print(
        f"compiling {', '.join(args.loss)} for {', '.join(args.dtype)} scores and "
        f"{', '.join(args.target)} targets, {len(args.loss)} worker process(es) ...",
        flush=True,
    )
    with _progress(len(args.loss), True) as progress:
        progress.show("compiling")

        def report(done, total, loss, seconds):
            progress.advance()
            print(f"[{done}/{total}] {loss}: {seconds:.1f} s", flush=True)

        _precompile.precompile(args.loss, args.dtype, args.target, progress=report)
    return 0


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


def _announce_compiling():
    """Register a :class:`_CompileNotice` for the rest of the process."""
    notice = _CompileNotice()
    numba_event.register("numba:compile", notice)
    return notice


def _command_info(args):
    info = machine_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n".join(_info_lines(info)))
    return 0


# -- benchmark ---------------------------------------------------------------


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
    from ._bench import (
        fastmargin_hinge_call,
        fastmargin_ranking_call,
        floor_bytes,
        hinge_signs,
        numpy_hinge_call,
        target_in_form,
        alternating_times,
        torch_hinge_call,
        torch_ranking_call,
    )

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


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def show(self, description):
        """Say what runs now."""

    def advance(self):
        """One case done."""


class _RichProgress(_NoProgress):
    def __init__(self, total):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._total = total

    def __enter__(self):
        self._progress.__enter__()
        self._task = self._progress.add_task("benchmark", total=self._total)
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def show(self, description):
        self._progress.update(self._task, description=description)

    def advance(self):
        self._progress.update(self._task, advance=1)


class _TqdmProgress(_NoProgress):
    def __init__(self, total):
        from tqdm import tqdm

        self._bar = tqdm(total=total, file=sys.stderr, leave=False, unit="case")

    def __exit__(self, *exc):
        self._bar.close()
        return False

    def show(self, description):
        self._bar.set_description(description)

    def advance(self):
        self._bar.update(1)


def _progress(total, enabled):
    """A progress bar on stderr, from rich or else tqdm, when stderr is a
    terminal; nothing otherwise."""
    if not enabled or total < 2 or not sys.stderr.isatty():
        return _NoProgress()
    for bar in (_RichProgress, _TqdmProgress):
        try:
            return bar(total)
        except ImportError:
            continue
    return _NoProgress()


def _format_ms(value):
    """Milliseconds with four significant digits or so.

    >>> [_format_ms(v) for v in (1234.5, 143.14, 16.234, 2.4823, 0.000127, None)]
    ['1234', '143.1', '16.23', '2.482', '0.000127', '-']
    """
    return _significant(value, 4)


def _format_ratio(value, suffix=""):
    """A ratio with three significant digits or so.

    >>> [_format_ratio(v, "x") for v in (371.4, 58.26, 1.853, 0.0412, None)]
    ['371x', '58.3x', '1.85x', '0.041x', '-']
    """
    return _significant(value, 3, suffix)


def _significant(value, digits, suffix=""):
    """``value`` with ``digits`` significant digits, never fewer decimals
    than none ("-" for None)."""
    if value is None:
        return "-"
    if value >= 1 and math.isfinite(value):
        decimals = max(0, digits - 1 - math.floor(math.log10(value)))
        return f"{value:.{decimals}f}{suffix}"
    return f"{value:.{digits - 1}g}{suffix}"


TABLE_HEADER = (
    "loss",
    "N x C",
    "targets",
    "dtype",
    "form",
    "fastmargin (ms)",
    "IQR (ms)",
    "floor (ms)",
    "x floor",
    "PyTorch (ms)",
    "NumPy (ms)",
    "vs PyTorch",
    "vs NumPy",
)


def _table_rows(records):
    def median(stats):
        return None if stats is None else stats["median_ms"]

    return [
        (
            record["loss"],
            f"{record['n']} x {record['classes']}",
            str(record["targets"]),
            record["dtype"],
            record["form"],
            _format_ms(record["fastmargin"]["median_ms"]),
            _format_ms(record["fastmargin"]["iqr_ms"]),
            _format_ms(record["floor_ms"]),
            _format_ratio(record["x_floor"]),
            _format_ms(median(record["pytorch"])),
            _format_ms(median(record["numpy"])),
            _format_ratio(record["speedup_vs_pytorch"], "x"),
            _format_ratio(record["speedup_vs_numpy"], "x"),
        )
        for record in records
    ]


def plain_table(header, rows):
    """Plain text columns; those whose cells are all numbers (or "-") are
    right-aligned, header included.

    >>> print(plain_table(("a", "bb"), [("x", "1.5"), ("yyy", "10x")]))
    a     bb
    ---  ---
    x    1.5
    yyy  10x
    """
    columns = list(zip(header, *rows))
    widths = [max(len(cell) for cell in column) for column in columns]
    right = [
        bool(rows) and all(cell[:1].isdigit() or cell == "-" for cell in column[1:])
        for column in columns
    ]

    def line(cells):
        return "  ".join(
            cell.rjust(width) if flush else cell.ljust(width)
            for cell, width, flush in zip(cells, widths, right)
        ).rstrip()

    lines = [line(header), "  ".join("-" * width for width in widths)]
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def _print_table(records, plain):
    rows = _table_rows(records)
    if not plain:
        try:
            from rich import box
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        print(plain_table(TABLE_HEADER, rows))
        return
    console = Console()
    if not console.is_terminal:  # piped: no wrapping at 80 columns
        console = Console(width=max(console.width, 200))
    table = Table(box=box.SIMPLE, header_style="bold")
    for index, name in enumerate(TABLE_HEADER):
        table.add_column(name, justify="left" if index in (0, 1, 3, 4) else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _plot(records, path, x_key):
    """Median time against ``x_key`` ("classes" or "targets"), log-log, one
    panel per loss, one line per contender (and per other varying setting),
    with the interquartile range as error bars."""
    from matplotlib.figure import Figure

    losses = [loss for loss in LOSSES if any(r["loss"] == loss for r in records)]
    figure = Figure(figsize=(6.4 * len(losses), 4.8), layout="constrained")
    axes = figure.subplots(1, len(losses), squeeze=False)[0]
    settings = [key for key in ("n", "classes", "targets", "dtype", "form") if key != x_key]
    for axis, loss in zip(axes, losses):
        mine = [r for r in records if r["loss"] == loss]
        varying = [key for key in settings if len({r[key] for r in mine}) > 1]
        for contender in CONTENDERS:
            # The references do not depend on the target form.
            keys = [k for k in varying if contender == "fastmargin" or k != "form"]
            lines = {}
            for record in mine:
                stats = record[contender]
                if stats is None or record[x_key] <= 0:
                    continue
                line = tuple(record[key] for key in keys)
                lines.setdefault(line, {})[record[x_key]] = stats
            for line, points in lines.items():
                xs = sorted(points)
                medians = np.array([points[x]["median_ms"] for x in xs])
                low = medians - np.array([points[x]["q1_ms"] for x in xs])
                high = np.array([points[x]["q3_ms"] for x in xs]) - medians
                label = ", ".join(
                    [CONTENDER_NAMES[contender]] + [f"{k}={v}" for k, v in zip(keys, line)]
                )
                axis.errorbar(xs, medians, yerr=[low, high], marker="o", capsize=3, label=label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("classes C" if x_key == "classes" else "targets per row")
        axis.set_ylabel("time per loss + gradient call (ms, median)")
        axis.set_title(f"{loss} loss")
        axis.grid(True, which="both", alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def _check_plot_path(path):
    """Fail before the benchmark, not after it: matplotlib importable, a
    format it writes, a folder that exists."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise CommandError(
            "--plot needs matplotlib, which is not installed "
            '(pip install matplotlib, or pip install "fastmargin[cli]")'
        ) from None
    suffix = Path(path).suffix.lstrip(".").lower()
    formats = FigureCanvasAgg.get_supported_filetypes()
    if suffix not in formats:
        raise CommandError(
            f"--plot {path}: unknown image format {suffix!r}; use one of "
            + ", ".join(f".{name}" for name in sorted(formats))
        )
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise CommandError(f"--plot {path}: folder {folder} does not exist")


def _available_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _validate(args, parser):
    for option in DEFAULTS:
        if getattr(args, option) is None:
            setattr(args, option, list(DEFAULTS[option]))
        else:  # each value once, in the order given
            setattr(args, option, list(dict.fromkeys(getattr(args, option))))
    for n_targets in args.targets:
        for n_classes in args.classes:
            if n_targets > n_classes:
                parser.error(
                    f"--targets must lie in [0, --classes], got {n_targets} "
                    f"(with --classes {n_classes})"
                )
    if "cuda" in args.device:
        from .gpu import gpu_unavailable_reason

        reason = gpu_unavailable_reason()
        if reason is not None:
            raise CommandError(f"--device cuda: {reason}")
        raise CommandError(
            "--device cuda: the command line times the CPU only; GPU timings "
            "against PyTorch CUDA: python benchmarks/gpu_table.py"
        )
    # Scores, gradient, padded int64 targets, indicator, and the
    # references' copies and temporaries: about this many bytes per entry.
    biggest = max(args.n) * max(args.classes)
    need = biggest * (8 + 1 + 8 * (8 if "float64" in args.dtype else 4))
    memory = _available_memory()
    if memory is not None and need > memory:
        raise CommandError(
            f"a {max(args.n)} x {max(args.classes)} batch needs about "
            f"{need / 2**30:.1f} GiB, more than this machine's {memory / 2**30:.1f} GiB"
        )
    if args.plot is not None:
        _check_plot_path(args.plot)


def _run_bench(args):
    """Every record of the benchmark asked for by ``args`` (validated)."""
    from ._bench import busy_processes, copy_bandwidth, make_batch, target_in_form

    bandwidth = copy_bandwidth()  # idle: the floor is the machine's
    machine = machine_info(bandwidth)
    machine["busy_processes"] = args.load
    cases = _cases(args)
    records = []
    data_key, data = None, None
    with _progress(len(cases), args.progress) as progress, busy_processes(args.load):
        for batch, loss in cases:
            if batch != data_key:
                data_key, data = None, None  # free the previous batch first
                n_rows, n_classes, n_targets, dtype = batch
                scores, compact = make_batch(
                    n_rows, n_classes, n_targets, dtype=np.dtype(dtype), layout="compact"
                )
                targets = {form: target_in_form(compact, n_classes, form) for form in args.form}
                data, data_key = (scores, compact, targets), batch
            progress.show(f"{loss} {batch[0]} x {batch[1]}, {batch[2]} targets, {batch[3]}")
            records += _measure_group(batch, loss, args, bandwidth, machine, data)
            progress.advance()
    if "torch" in sys.modules:  # imported by the reference calls
        machine["torch_threads"] = sys.modules["torch"].get_num_threads()
    return records, bandwidth


def _command_bench(args):
    from ._bench import load_note, machine_line

    _announce_compiling()
    records, bandwidth = _run_bench(args)
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(machine_line(bandwidth), end="")
        if args.load:
            print(load_note(args.load))
        _print_table(records, args.plain)
        _print_notes(records, args)
    if args.plot is not None:
        x_key = "targets" if len(args.targets) > 1 else "classes"
        try:
            _plot(records, args.plot, x_key)
        except OSError as error:
            raise CommandError(f"--plot {args.plot}: {error.strerror or error}") from None
        print(f"plot written to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _print_notes(records, args):
    from ._bench import ROUND_CALLS, SETTLE_CALLS

    notes = (
        f"Times: median of {args.repeat} timed calls of the fused loss + gradient "
        f"(mean reduction), after {args.warmup} warm-up calls; contenders take turns, "
        f"{ROUND_CALLS} timed calls at most after {SETTLE_CALLS} untimed ones. IQR: interquartile "
        "range of fastmargin's times. floor: the bytes that must move (scores read, "
        "gradient written, targets read) over the copy bandwidth. vs: the "
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


# -- the parser --------------------------------------------------------------


def _prog():
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m fastmargin" if name == "__main__.py" else "fastmargin"


def build_parser(prog="fastmargin"):
    """The argument parser of the ``fastmargin`` command."""
    from . import __version__

    parser = _Parser(
        prog=prog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "fastmargin's command-line tool. Without a command: a short `info` and a\n"
            "`bench` of the default shape (ranking and hinge, 4096 x 1000, 5 targets,\n"
            "float32, padded). Options without a command mean `bench`."
        ),
        epilog=(
            "examples:\n"
            f"  {prog} info\n"
            f"  {prog} bench --n 1024 --classes 10000 --targets 20\n"
            f"  {prog} bench --loss hinge --classes 100 1000 10000 --plot hinge.png\n"
            f"  {prog} bench --form padded compact bool csr --json > timings.json\n"
            f"  {prog} COMMAND --help"
        ),
    )
    parser.add_argument("--version", action="version", version=f"fastmargin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{info,bench,precompile}")

    info = commands.add_parser(
        "info",
        help="versions, threads, GPU and numba cache",
        description=(
            "Versions of fastmargin and its dependencies, numba's threads and "
            "threading layer, whether a GPU is usable, and where numba caches "
            "fastmargin's compiled kernels."
        ),
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=_command_info, parser=info)

    precompile = commands.add_parser(
        "precompile",
        help="compile the kernels ahead of their first call",
        description=(
            "Compile fastmargin's kernels into numba's on-disk cache, one worker "
            "process per loss, so that later processes load them instead of "
            "compiling on their first calls. Run once after installing or "
            "upgrading fastmargin."
        ),
    )
    precompile.add_argument(
        "--loss", choices=LOSSES, nargs="+", default=list(LOSSES), help="(default: both)"
    )
    precompile.add_argument(
        "--dtype", choices=DTYPES, nargs="+", default=["float32"],
        help="score dtypes (default float32)",
    )
    precompile.add_argument(
        "--target", choices=("int64", "int32", "bool", "csr"), nargs="+",
        default=["int64"], help="target forms (default int64 indices)",
    )
    precompile.add_argument(
        "--all", action="store_true", help="every loss, dtype and target form"
    )
    precompile.set_defaults(handler=_command_precompile, parser=precompile)

    bench = commands.add_parser(
        "bench",
        help="time the kernels on generated data",
        description=(
            "Time fastmargin's fused loss + gradient on generated batches, for "
            "every combination of the values given, against PyTorch (when "
            "importable: ranking: multilabel_margin_loss forward + backward; "
            "hinge: autograd on clamp(1 - s*x, min=0).mean()) and, for the "
            "hinge, the vectorised NumPy expression. JIT compilation is kept "
            "out by warm-up calls; the memory floor is the bytes that must "
            "move over the copy bandwidth measured once per run."
        ),
        epilog=(
            "Exit status: 0 on success, 2 for a bad argument, 1 when the "
            "request cannot be met here (--device cuda, --plot without "
            "matplotlib, a batch larger than memory)."
        ),
    )
    several = {"nargs": "+", "action": "extend"}
    bench.add_argument(
        "--loss", choices=LOSSES, **several, help="ranking, hinge or both (default: both)"
    )
    bench.add_argument(
        "--n", type=_positive_int, metavar="N", **several, help="samples per batch (default 4096)"
    )
    bench.add_argument(
        "--classes", type=_positive_int, metavar="C", **several, help="classes (default 1000)"
    )
    bench.add_argument(
        "--targets",
        type=_count,
        metavar="T",
        **several,
        help="labels per sample, at most C (default 5)",
    )
    bench.add_argument("--dtype", choices=DTYPES, **several, help="score dtype (default float32)")
    from ._bench import TARGET_FORMS

    bench.add_argument(
        "--form",
        choices=TARGET_FORMS,
        **several,
        help=(
            "target form given to fastmargin: padded = PyTorch's (N, C) -1 padded "
            "indices, compact = (N, T) indices, bool = (N, C) indicator, csr = "
            "scipy.sparse CSR indicator (default padded)"
        ),
    )
    bench.add_argument(
        "--device",
        choices=DEVICES,
        **several,
        help=(
            "cpu (default); cuda says why it cannot run here, or points to "
            "benchmarks/gpu_table.py, which times the GPU"
        ),
    )
    bench.add_argument(
        "--repeat",
        type=_positive_int,
        default=DEFAULT_REPEAT,
        help=f"timed calls per contender (default {DEFAULT_REPEAT})",
    )
    bench.add_argument(
        "--warmup",
        type=_positive_int,
        default=DEFAULT_WARMUP,
        help=f"untimed calls per contender first (default {DEFAULT_WARMUP})",
    )
    bench.add_argument(
        "--load",
        type=_count,
        default=0,
        metavar="K",
        help="run K busy processes (a CPU-bound Python loop each) beside the timings (default 0)",
    )
    bench.add_argument(
        "--no-compare",
        dest="compare",
        action="store_false",
        help="time fastmargin alone (no PyTorch, no NumPy)",
    )
    bench.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of records (every number, and the machine) and nothing else",
    )
    bench.add_argument(
        "--plot",
        metavar="FILE.png",
        help=(
            "save a log-log plot of time against classes (against targets when "
            "several --targets are given), one line per contender; needs matplotlib"
        ),
    )
    bench.add_argument(
        "--plain", action="store_true", help="plain text table even when rich is installed"
    )
    bench.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    bench.set_defaults(handler=_command_bench, parser=bench)
    return parser


def _default_run(prog):
    """No arguments: a short info line, then the default benchmark."""
    args = build_parser(prog).parse_args(["bench"])
    _validate(args, args.parser)
    print(_short_info(machine_info()))
    return args.handler(args)


def main(argv=None):
    """Run the command line tool; return its exit status (for ``sys.exit``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = _prog()
    try:
        if not argv:
            return _default_run(prog)
        if argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
            argv.insert(0, "bench")  # the one-shape spelling of earlier versions
        parser = build_parser(prog)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.command == "bench":
            _validate(args, args.parser)
        return args.handler(args)
    except CommandError as error:
        command = "bench" if argv and argv[0] == "bench" else None
        print(f"{prog}{' ' + command if command else ''}: error: {error}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{prog}: error: out of memory; try a smaller --n or --classes", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
