"""What the commands show: progress bars, the results table (rich, or plain
aligned text), the plot, and the one-line error of a request that cannot be
carried out (:class:`CommandError`).

rich (table, progress bar) and matplotlib (plot) are optional: without rich
the table is plain text and there is no progress bar; without matplotlib
:func:`check_plot_path` stops with a :class:`CommandError`.
"""

import math
import sys
from pathlib import Path

import numpy as np

from .._precompile import LOSSES

CONTENDERS = ("fastmargin", "pytorch", "numpy")
CONTENDER_NAMES = {"fastmargin": "fastmargin", "pytorch": "PyTorch", "numpy": "NumPy"}


class CommandError(Exception):
    """A request that is well formed but cannot be carried out here; the
    message is printed on one line and the exit status is 1."""


# -- progress bars -------------------------------------------------------------


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


def progress_bar(total, enabled):
    """A progress bar on stderr.

    Parameters
    ----------
    total : int
        Steps to go.
    enabled : bool
        False for none.

    Returns
    -------
    context manager
        Whose ``show(description)`` says what runs and ``advance()`` counts
        a step: rich's bar when rich is installed, stderr is a terminal and
        there are two steps or more; otherwise one that shows nothing.
    """
    if not enabled or total < 2 or not sys.stderr.isatty():
        return _NoProgress()
    try:
        return _RichProgress(total)
    except ImportError:
        return _NoProgress()


# -- the table -----------------------------------------------------------------


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

    Parameters
    ----------
    header : sequence of str
    rows : list of sequences of str

    Returns
    -------
    str

    Examples
    --------
    >>> print(plain_table(("a", "bb"), [("x", "1.5"), ("yyy", "10x")]))
    a     bb
    ---  ---
    x    1.5
    yyy  10x
    """
    columns = list(zip(header, *rows, strict=True))
    widths = [max(len(cell) for cell in column) for column in columns]
    right = [
        bool(rows) and all(cell[:1].isdigit() or cell == "-" for cell in column[1:])
        for column in columns
    ]

    def line(cells):
        return "  ".join(
            cell.rjust(width) if flush else cell.ljust(width)
            for cell, width, flush in zip(cells, widths, right, strict=True)
        ).rstrip()

    lines = [line(header), "  ".join("-" * width for width in widths)]
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def print_table(records, plain):
    """Print one row per benchmark record on stdout.

    Parameters
    ----------
    records : list of dict
        The ``bench`` command's records.
    plain : bool
        Plain text even when rich is installed.
    """
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


# -- the plot ------------------------------------------------------------------


def plot(records, path, x_key):
    """Save the median time against ``x_key``, log-log.

    One panel per loss, one line per contender (and per other varying
    setting), with the interquartile range as error bars.

    Parameters
    ----------
    records : list of dict
        The ``bench`` command's records.
    path : str
        The image file, in a format matplotlib writes.
    x_key : {"classes", "targets"}
    """
    from matplotlib.figure import Figure

    losses = [loss for loss in LOSSES if any(r["loss"] == loss for r in records)]
    figure = Figure(figsize=(6.4 * len(losses), 4.8), layout="constrained")
    axes = figure.subplots(1, len(losses), squeeze=False)[0]
    settings = [key for key in ("n", "classes", "targets", "dtype", "form") if key != x_key]
    for axis, loss in zip(axes, losses, strict=True):
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
                settings_shown = [f"{k}={v}" for k, v in zip(keys, line, strict=True)]
                label = ", ".join([CONTENDER_NAMES[contender], *settings_shown])
                axis.errorbar(
                    xs, medians, yerr=[low, high], marker="o", capsize=3, label=label
                )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("classes C" if x_key == "classes" else "targets per row")
        axis.set_ylabel("time per loss + gradient call (ms, median)")
        axis.set_title(f"{loss} loss")
        axis.grid(True, which="both", alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def check_plot_path(path):
    """Check that :func:`plot` can write ``path``, so that the command fails
    before the benchmark and not after it.

    Parameters
    ----------
    path : str

    Raises
    ------
    CommandError
        When matplotlib is not installed, does not write the file's format,
        or the folder does not exist.
    """
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
