"""The command line's argument parser (``info``, ``bench``, ``precompile``)
and the checks of ``bench``'s arguments that argparse cannot make.
"""

import argparse
import os

from .. import __version__, _precompile
from .bench import command_bench
from .info import command_info
from .precompile import command_precompile
from .report import CommandError, check_plot_path
from .timing import TARGET_FORMS, add_load_option

# ``bench``'s list options when not given.
DEFAULTS = {
    "loss": list(_precompile.LOSSES),
    "n": [4096],
    "classes": [1000],
    "targets": [5],
    "dtype": ["float32"],
    "form": ["padded"],
}
DEFAULT_REPEAT = 5
DEFAULT_WARMUP = 2


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``PROG: error: MESSAGE``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def build_parser(prog="fastmargin"):
    """The argument parser of the ``fastmargin`` command.

    Parameters
    ----------
    prog : str, optional
        The command's name in usage lines and errors.

    Returns
    -------
    argparse.ArgumentParser
        Each command's namespace has ``handler`` (called with the namespace,
        returns the exit status) and ``parser`` (the command's own parser).
    """
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
    info.set_defaults(handler=command_info, parser=info)

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
        "--loss",
        choices=_precompile.LOSSES,
        nargs="+",
        default=list(_precompile.LOSSES),
        help="(default: both)",
    )
    precompile.add_argument(
        "--dtype",
        choices=_precompile.DTYPES,
        nargs="+",
        default=["float32"],
        help="score dtypes (default float32)",
    )
    precompile.add_argument(
        "--target",
        choices=_precompile.TARGETS,
        nargs="+",
        default=["int64"],
        help="target forms (default int64 indices)",
    )
    precompile.add_argument(
        "--all", action="store_true", help="every loss, dtype and target form"
    )
    precompile.set_defaults(handler=command_precompile, parser=precompile)

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
            "request cannot be met here (--plot without matplotlib, a batch "
            "larger than memory)."
        ),
    )
    several = {"nargs": "+", "action": "extend"}
    bench.add_argument(
        "--loss",
        choices=_precompile.LOSSES,
        **several,
        help="ranking, hinge or both (default: both)",
    )
    bench.add_argument(
        "--n",
        type=_positive_int,
        metavar="N",
        **several,
        help="samples per batch (default 4096)",
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
    bench.add_argument(
        "--dtype", choices=_precompile.DTYPES, **several, help="score dtype (default float32)"
    )
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
    add_load_option(bench, type=_count)
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
    bench.set_defaults(handler=command_bench, parser=bench)
    return parser


def _available_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def validate(args, parser):
    """Fill in ``bench``'s list options and check what argparse cannot.

    Each list option gets its default when not given, else each value once,
    in the order given.

    Parameters
    ----------
    args : argparse.Namespace
        ``bench``'s parsed arguments, changed in place.
    parser : argparse.ArgumentParser
        ``bench``'s parser, which reports a bad argument (exit status 2).

    Raises
    ------
    CommandError
        When the largest batch would not fit in memory, or the plot cannot
        be written.
    """
    for option in DEFAULTS:
        if getattr(args, option) is None:
            setattr(args, option, list(DEFAULTS[option]))
        else:
            setattr(args, option, list(dict.fromkeys(getattr(args, option))))
    for n_targets in args.targets:
        for n_classes in args.classes:
            if n_targets > n_classes:
                parser.error(
                    f"--targets must lie in [0, --classes], got {n_targets} "
                    f"(with --classes {n_classes})"
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
        check_plot_path(args.plot)
