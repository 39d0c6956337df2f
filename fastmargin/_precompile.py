"""Compile kernels ahead of their first call, into numba's on-disk cache.

numba compiles a kernel for each combination of argument types the first
time it meets it, and keeps the result on disk. A fresh installation (or an
edit of fastmargin's source) therefore pays a few seconds per variant on its
first calls. :func:`precompile` pays them up front, in parallel processes,
with a progress report. Each process compiles whole kernels' variants (all
ranking variants in one, all hinge variants in another, ...), so that no two
processes write the same cache index.
"""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LOSSES = ("ranking", "hinge")
DTYPES = ("float32", "float64")
TARGETS = ("int64", "int32", "bool", "csr")
# The variants of the first calls that most programs make.
DEFAULT_DTYPES = ("float32",)
DEFAULT_TARGETS = ("int64",)


def variants(losses=LOSSES, dtypes=DEFAULT_DTYPES, targets=DEFAULT_TARGETS):
    """The variants :func:`precompile` compiles, as
    ``(loss, entry point, dtype, target form)``: every entry point (fused,
    loss only, and for the hinge ``AdaptiveMargins``) of each loss, dtype and
    target form, rows of few and of many targets and of infinite scores (the
    ranking loss compiles a kernel for each only when a row needs it)."""
    entries = {"ranking": ("and_grad", "loss"), "hinge": ("and_grad", "loss", "adaptive")}
    return [
        (loss, entry, dtype, target)
        for loss in losses
        for entry in entries[loss]
        for dtype in dtypes
        for target in targets
    ]


def run_variant(loss, entry, dtype, target, every_path=True):
    """Call one variant on a tiny batch whose rows take every kernel path
    (with ``every_path``), or only the common one: a few targets a row,
    finite scores."""
    import scipy.sparse

    from . import adaptive, losses

    n_classes = 12
    scores = np.linspace(-1.0, 1.0, 4 * n_classes).reshape(4, n_classes).astype(dtype)
    labels = [[1, 2], [3, 4, 5], [0, 5], [0, 1]]
    if every_path:
        scores[3, 0] = np.inf  # row 3: the exact path
        labels[1] = list(range(10))  # row 1: many targets
    padded = np.array([row + [-1] * (n_classes - len(row)) for row in labels])
    # Built without fastmargin's converters, whose kernels another worker
    # may be compiling.
    indicator = np.zeros(scores.shape, bool)
    for row, row_labels in enumerate(labels):
        indicator[row, row_labels] = True
    target_array = {
        "int64": padded,
        "int32": padded.astype(np.int32),
        "bool": indicator,
        "csr": scipy.sparse.csr_array(indicator),
    }[target]
    if loss == "ranking":
        function = (
            losses.multilabel_margin_loss_and_grad
            if entry == "and_grad"
            else losses.multilabel_margin_loss
        )
        function(scores, target_array)
    elif entry == "adaptive":
        adaptive.AdaptiveMargins(n_classes).loss_and_grad(scores, target_array)
    else:
        function = (
            losses.multilabel_hinge_loss_and_grad
            if entry == "and_grad"
            else losses.multilabel_hinge_loss
        )
        function(scores, target_array)


def _compile_group(group):
    """Run one group's variants; return its seconds."""
    start = time.perf_counter()
    for variant in group:
        run_variant(*variant)
    return time.perf_counter() - start


# What a worker runs: a fresh interpreter (nothing of the caller's process
# inherited, and no re-import of the caller's script, as multiprocessing's
# spawn would do) that prints its seconds last.
_WORKER = (
    "import json, sys\n"
    "from fastmargin._precompile import _compile_group\n"
    "print(_compile_group([tuple(v) for v in json.loads(sys.argv[1])]))\n"
)


def precompile(
    losses: Sequence[str] = LOSSES,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    targets: Sequence[str] = DEFAULT_TARGETS,
    *,
    processes: int | None = None,
    progress: Callable[..., Any] | None = None,
) -> dict[str, float]:
    """Compile fastmargin's kernels ahead of their first call.

    Compiled kernels go to numba's on-disk cache, where every later process
    finds them: run this once after installing (or upgrading) fastmargin,
    for example in a container image's build. Variants already in the cache
    are only loaded, which takes a fraction of a second.

    Parameters
    ----------
    losses : sequence of {"ranking", "hinge"}, optional
        Default both.
    dtypes : sequence of {"float32", "float64"}, optional
        Score dtypes. Default ("float32",).
    targets : sequence of {"int64", "int32", "bool", "csr"}, optional
        Target forms: -1 padded indices of either dtype, bool indicators,
        scipy.sparse CSR. Default ("int64",). The kernels are the same for
        every form (each is converted to int64 label lists first); the
        other forms add only their small converters.
    processes : int, optional
        Worker processes (fresh interpreters), one per loss at most.
        Default: as many as there are losses.
    progress : callable, optional
        Called as ``progress(done, total, loss, seconds)`` after each loss's
        variants are compiled.

    Returns
    -------
    seconds : dict
        Seconds each loss's worker took, by loss.

    Raises
    ------
    ValueError
        For an unknown loss, dtype or target form.
    RuntimeError
        When a worker fails (its error output is in the message).

    Notes
    -----
    The cache is numba's: ``__pycache__`` beside fastmargin's source when
    that is writable by the process that later loads it, else numba's
    per-user cache, or ``NUMBA_CACHE_DIR``. In a container image built as
    root and run as another user, set ``NUMBA_CACHE_DIR`` to a directory
    both can use, or the runtime user recompiles everything.

    Examples
    --------
    >>> import fastmargin
    >>> seconds = fastmargin.precompile(losses=["hinge"])
    >>> sorted(seconds)
    ['hinge']
    """
    for name, values, allowed in (
        ("losses", losses, LOSSES),
        ("dtypes", dtypes, DTYPES),
        ("targets", targets, TARGETS),
    ):
        if isinstance(values, str) or not set(values) <= set(allowed):
            raise ValueError(f"{name} must be a sequence drawn from {allowed}, got {values!r}")
    groups = {loss: variants((loss,), dtypes, targets) for loss in losses}
    workers = max(1, min(processes or len(groups), len(groups)))
    pending = list(groups.items())
    running = {}
    seconds = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                loss, group = pending.pop(0)
                running[loss] = subprocess.Popen(
                    [sys.executable, "-c", _WORKER, json.dumps(group)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            loss, worker = next(
                (
                    (loss, worker)
                    for loss, worker in running.items()
                    if worker.poll() is not None
                ),
                (None, None),
            )
            if worker is None:
                time.sleep(0.05)
                continue
            del running[loss]
            out, err = worker.communicate()
            if worker.returncode != 0:
                raise RuntimeError(f"compiling the {loss} kernels failed:\n{err}")
            seconds[loss] = float(out.split()[-1])
            if progress is not None:
                progress(len(seconds), len(groups), loss, seconds[loss])
    finally:
        for worker in running.values():  # an error or an interrupt: stop the rest
            worker.kill()
            worker.wait()
    return seconds
