"""Helpers shared by the asv benchmark modules (no benchmarks here).

Everything a benchmark's ``setup`` needs: the batch shapes, the data in each
target form (built once per process, however often asv re-runs ``setup``),
and checks that turn a feature missing at an older commit into
``NotImplementedError``, which asv records as "skipped" rather than
"failed". asv runs the suite in this working tree against every commit it
benchmarks, so the suite must cope with a fastmargin that predates a
function, a keyword or a target form.
"""

import functools
import inspect
import time

import numpy as np

import fastmargin

try:
    from fastmargin.cli import timing as _timing
except ImportError:  # commits before fastmargin.cli
    try:
        from fastmargin import _bench as _timing
    except ImportError:  # commits before the benchmark helpers
        _timing = None

# Batch shapes, "N x C x targets per row".
SMALL = "256x100x3"
TYPICAL = "4096x1000x5"
FEW_CLASSES = "4096x100x5"
WIDE = "1024x10000x20"  # 40 MB of float32 scores
MANY_TARGETS = "256x10000x500"  # the ranking loss's many-targets path

RANKING_SHAPES = (SMALL, TYPICAL, WIDE, MANY_TARGETS)
HINGE_SHAPES = (SMALL, TYPICAL, WIDE)
BIG_SHAPES = (TYPICAL, WIDE)
DTYPES = ("float32", "float64")
# "padded": PyTorch's (N, C) int64 layout, -1 padded; "compact": (N, T)
# int64; "bool": (N, C) indicator; "csr": scipy.sparse CSR indicator.
TARGET_FORMS = ("padded", "compact", "bool", "csr")


def parse_shape(shape):
    """``"4096x1000x5"`` -> ``(4096, 1000, 5)``."""
    n_rows, n_classes, n_targets = (int(part) for part in shape.split("x"))
    return n_rows, n_classes, n_targets


def _make_batch(n_rows, n_classes, n_targets, dtype, layout):
    if _timing is not None:
        return _timing.make_batch(n_rows, n_classes, n_targets, dtype=dtype, layout=layout)
    # The same draw as fastmargin.cli.timing.make_batch, for commits without it.
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((n_rows, n_classes)).astype(dtype)
    labels = np.argsort(rng.random((n_rows, n_classes)), axis=1)[:, :n_targets]
    if layout == "compact":
        return scores, labels.astype(np.int64)
    targets = np.full((n_rows, n_classes), -1, dtype=np.int64)
    targets[:, :n_targets] = labels
    return scores, targets


@functools.lru_cache(maxsize=4)
def batch(shape, dtype="float32", form="padded"):
    """Scores and targets for one shape, dtype and target form.

    The same scores and labels for every form (one seed). Cached: asv may
    call ``setup`` before every timing sample, and the data need not change.
    """
    check_target_form(form)
    n_rows, n_classes, n_targets = parse_shape(shape)
    layout = "torch" if form == "padded" else "compact"
    scores, targets = _make_batch(n_rows, n_classes, n_targets, np.dtype(dtype), layout)
    if form in ("bool", "csr"):
        indicator = np.zeros((n_rows, n_classes), dtype=bool)
        np.put_along_axis(indicator, targets, True, axis=1)
        targets = indicator
    if form == "csr":
        import scipy.sparse

        csr = getattr(scipy.sparse, "csr_array", scipy.sparse.csr_matrix)
        targets = csr(indicator)
    return scores, targets


def function(name):
    """``fastmargin.<name>``, or NotImplementedError when this commit lacks it."""
    found = getattr(fastmargin, name, None)
    if found is None:
        raise NotImplementedError(f"fastmargin.{name} does not exist at this commit")
    return found


def check_keyword(func, keyword):
    """NotImplementedError when ``func`` takes no ``keyword`` at this commit."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # no signature to read: just try the call
        return
    if keyword in parameters:
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    raise NotImplementedError(f"{func.__name__} takes no {keyword}= at this commit")


def check_target_form(form):
    """NotImplementedError for a target form this commit does not read.

    bool and scipy.sparse targets arrived with the target converters
    (``fastmargin.indicator_from_targets``); before that a bool array would
    have been read as class indices 0 and 1.
    """
    if form not in TARGET_FORMS:
        raise ValueError(f"unknown target form {form!r}")
    if form in ("bool", "csr"):
        function("indicator_from_targets")


def bench_helper(name):
    """``fastmargin.cli.timing.<name>`` (``fastmargin._bench.<name>`` at
    older commits), or NotImplementedError."""
    found = getattr(_timing, name, None)
    if found is None:
        raise NotImplementedError(
            f"fastmargin.cli.timing.{name} does not exist at this commit"
        )
    return found


def reset_peak_memory():
    """Set the process's peak resident memory back to its current resident
    memory (Linux: ``/proc/self/clear_refs``), so that a ``peakmem_``
    benchmark measures the call and not the data generation in ``setup``.
    Returns whether it could; elsewhere the peak includes ``setup``."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def median_seconds(call, repeat):
    """Median wall time of ``repeat`` calls of ``call`` (already warm)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class _Call:
    """Base of the benchmark classes: ``setup`` builds one call, with its data
    bound, and makes it once, so that JIT compilation (or the load of the
    on-disk numba cache) happens in ``setup`` and never in a timing.

    Every asv benchmark runs in a fresh process, and asv may re-run
    ``setup`` before each timing sample; the data are cached per process
    (:func:`batch`) and a re-run costs one untimed call.
    """

    def _prepare(
        self,
        function_name,
        shape,
        dtype="float32",
        form="padded",
        *,
        out=False,
        **keywords,
    ):
        """Return ``fastmargin.<function_name>`` bound to the batch (and to
        an ``out=`` buffer), called once."""
        scores, targets = batch(shape, dtype, form)
        func = function(function_name)
        if out:
            check_keyword(func, "out")
            keywords["out"] = np.empty_like(scores)
        call = functools.partial(func, scores, targets, **keywords)
        call()
        return call
