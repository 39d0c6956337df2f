"""The ``precompile`` command: compiles fastmargin's kernels into numba's
on-disk cache (:func:`fastmargin.precompile`), with a progress bar and one
line per loss.
"""

from .. import _precompile
from .report import progress_bar


def command_precompile(args):
    """The ``precompile`` command.

    Parameters
    ----------
    args : argparse.Namespace
        Its parsed arguments (``loss``, ``dtype``, ``target``, ``all``).

    Returns
    -------
    int
        The exit status, 0.
    """
    if args.all:
        args.loss, args.dtype, args.target = (
            _precompile.LOSSES,
            _precompile.DTYPES,
            _precompile.TARGETS,
        )
    print(
        f"compiling {', '.join(args.loss)} for {', '.join(args.dtype)} scores and "
        f"{', '.join(args.target)} targets, {len(args.loss)} worker process(es) ...",
        flush=True,
    )
    with progress_bar(len(args.loss), True) as progress:
        progress.show("compiling")

        def report(done, total, loss, seconds):
            progress.advance()
            print(f"[{done}/{total}] {loss}: {seconds:.1f} s", flush=True)

        _precompile.precompile(args.loss, args.dtype, args.target, progress=report)
    return 0
