"""The ``fastmargin`` command-line tool (``python -m fastmargin``).

Commands
--------
info
    Versions, threads, GPU, numba cache directory.
bench
    Times the fused loss + gradient on generated batches, against PyTorch
    (when importable) and, for the hinge, the vectorised NumPy expression.
precompile
    Compiles the kernels into numba's on-disk cache.

Without a command: a short ``info`` and a ``bench`` of the default shape.
Options without a command (``python -m fastmargin --n 64 ...``) mean
``bench``.

rich (table, progress bar) and matplotlib (``--plot``) are optional: without
them the tool prints plain aligned text; ``--plot`` then stops with a
one-line error.

Exit status: 0 on success; 2 for a bad argument (one line on stderr);
1 when something asked for cannot be done here (``--plot`` without
matplotlib, a batch too big for memory).

Modules, each importing only those below it:

- ``parser``: the argument parser and the checks of ``bench``'s arguments;
- ``bench``, ``precompile``: those commands;
- ``info``: the machine (versions, CPU, threads, numba's threading layer and
  cache, GPU) and the ``info`` command;
- ``report``: progress bars, tables, plots, and :class:`CommandError`;
- ``timing``: batches, timings, memory floors and the contenders' calls,
  shared with the scripts in ``benchmarks/``.
"""

import sys
from pathlib import Path

from .info import machine_info, short_info
from .parser import build_parser, validate
from .report import CommandError

__all__ = ["build_parser", "main"]


def _prog():
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m fastmargin" if name == "__main__.py" else "fastmargin"


def _default_run(prog):
    """No arguments: a short info line, then the default benchmark."""
    args = build_parser(prog).parse_args(["bench"])
    validate(args, args.parser)
    print(short_info(machine_info()))
    return args.handler(args)


def main(argv=None):
    """Run the command line tool.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit status, for ``sys.exit``.
    """
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
            validate(args, args.parser)
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
