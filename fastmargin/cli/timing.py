"""Timing helpers shared by the ``bench`` command and the scripts in
``benchmarks/``.

Data generation, warm timing, the memory floor, the contenders' calls
(fastmargin, PyTorch, NumPy) and busy neighbour processes live here once,
so every report measures the same thing the same way.
"""

import contextlib
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np
import scipy.sparse

from .._threads import thread_count
from ..converters import indicator_from_targets
from ..losses import multilabel_hinge_loss_and_grad, multilabel_margin_loss_and_grad


def make_batch(n_rows, n_classes, n_targets, *, dtype=np.float32, layout="torch", seed=0):
    """Random scores and targets with ``n_targets`` distinct labels per row.

    Parameters
    ----------
    n_rows, n_classes, n_targets : int
        Batch shape and labels per row (``n_targets <= n_classes``).
    dtype : dtype, optional
        Score dtype. Default float32.
    layout : {"torch", "compact"}, optional
        "torch": int64 targets of shape (N, C), -1 padded, as PyTorch wants;
        "compact": shape (N, n_targets).
    seed : int, optional
        Seed of the generator.

    Returns
    -------
    scores : ndarray, shape (N, C)
    targets : ndarray of int64

    Examples
    --------
    >>> scores, targets = make_batch(2, 5, 2, layout="torch")
    >>> scores.shape, targets.shape, int((targets[0] >= 0).sum())
    ((2, 5), (2, 5), 2)
    """
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_rows, n_classes)).astype(dtype)
    # The first n_targets of a random permutation: distinct labels per row.
    labels = np.argsort(rng.random((n_rows, n_classes)), axis=1)[:, :n_targets]
    if layout == "compact":
        return scores, labels.astype(np.int64)
    if layout != "torch":
        raise ValueError(f'layout must be "torch" or "compact", got {layout!r}')
    targets = np.full((n_rows, n_classes), -1, dtype=np.int64)
    targets[:, :n_targets] = labels
    return scores, targets


def best_and_median(function, *, repeat=7, warmup=1):
    """Call ``function`` ``warmup`` times untimed (which keeps JIT
    compilation out of the figures), then time ``repeat`` calls.

    Returns
    -------
    best, median : float
        Seconds per call.
    """
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def copy_bandwidth(n_bytes=256 * 2**20, repeat=5):
    """Measured memory bandwidth of ``np.copyto`` of ``n_bytes``, best of
    ``repeat`` copies.

    Returns
    -------
    float
        Bytes per second, counting the bytes read and the bytes written.
    """
    source = np.ones(n_bytes // 8)
    destination = np.empty_like(source)
    best, _ = best_and_median(lambda: np.copyto(destination, source), repeat=repeat)
    return 2 * source.nbytes / best


def cpu_name():
    """The CPU's model name where the system says it (Linux), else the
    architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(bandwidth=None):
    """One line, newline included, saying where a benchmark ran: CPU,
    threads and the copy ``bandwidth`` in bytes per second (when given)."""
    line = (
        f"Machine: {cpu_name()}, {os.cpu_count()} CPUs, numba {numba.__version__}, "
        f"fastmargin with {thread_count()} threads"
    )
    if bandwidth is not None:
        line += f"; np.copyto bandwidth {bandwidth / 1e9:.1f} GB/s (read + write)"
    return line + "\n"


def ranking_floor_bytes(scores, targets):
    """Bytes the fused ranking loss + gradient must move: the scores read,
    the gradient written and the used entries of the -1 padded ``targets``
    (plus each row's -1)."""
    used = int(np.minimum((targets >= 0).sum(axis=1) + 1, targets.shape[1]).sum())
    return 2 * scores.nbytes + used * targets.itemsize


def fastmargin_ranking_call(scores, targets, out=None):
    """The timed fastmargin call (a callable): fused ranking loss and
    gradient, mean reduction; the gradient goes to ``out`` when given."""
    return lambda: multilabel_margin_loss_and_grad(scores, targets, out=out)


def torch_autograd_call(scores, other, device, loss_of):
    """A callable that runs ``loss_of(torch, leaf, other)`` forward and
    backward in PyTorch on ``device`` and returns ``(loss, grad)``, with
    ``leaf`` the scores (requiring grad) and ``other`` a NumPy array given
    to PyTorch; None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    leaf = torch.tensor(scores, requires_grad=True, device=device)
    other = torch.from_numpy(other).to(device)

    def call():
        leaf.grad = None
        loss = loss_of(torch, leaf, other)
        loss.backward()
        return loss, leaf.grad

    return call


def torch_ranking_call(scores, targets, device="cpu"):
    """PyTorch's forward + backward of ``multilabel_margin_loss`` on
    ``device``, targets in PyTorch's -1 padded layout.

    Returns
    -------
    callable or None
        Returns ``(loss, grad)``; None when PyTorch is not installed.
    """
    return torch_autograd_call(
        scores,
        targets,
        device,
        lambda torch, leaf, padded: torch.nn.functional.multilabel_margin_loss(leaf, padded),
    )


def hinge_floor_bytes(scores, targets):
    """Bytes the fused hinge loss + gradient must move: the scores read, the
    gradient written and the (compact) target entries read."""
    return 2 * scores.nbytes + targets.nbytes


def hinge_signs(scores, targets):
    """The dense +1/-1 label signs that a hand-written hinge multiplies by,
    in the scores' dtype (built once, outside any timing)."""
    indicator = indicator_from_targets(targets, scores.shape[1])
    return np.where(indicator, 1, -1).astype(scores.dtype)


def fastmargin_hinge_call(scores, targets, out=None):
    """The timed fastmargin call (a callable): fused hinge loss and
    gradient, mean reduction; the gradient goes to ``out`` when given."""
    return lambda: multilabel_hinge_loss_and_grad(scores, targets, out=out)


def numpy_hinge_call(scores, signs, margin=1.0):
    """The vectorised NumPy expression of the hinge's mean and gradient (a
    callable returning ``(loss, grad)``), ``signs`` from :func:`hinge_signs`."""

    def call():
        z = margin - signs * scores
        loss = np.maximum(z, 0).mean()
        grad = np.where(z > 0, -signs, 0) / z.size
        return loss, grad

    return call


def torch_hinge_call(scores, signs, margin=1.0, device="cpu"):
    """PyTorch autograd on ``clamp(margin - s * x, min=0).mean()`` on
    ``device``, ``signs`` from :func:`hinge_signs`.

    Returns
    -------
    callable or None
        Returns ``(loss, grad)``; None when PyTorch is not installed.
    """
    return torch_autograd_call(
        scores,
        signs,
        device,
        lambda torch, leaf, s: torch.clamp(margin - s * leaf, min=0).mean(),
    )


TARGET_FORMS = ("padded", "compact", "bool", "csr")
"""The target forms the benchmarks can feed the kernels: PyTorch's -1 padded
(N, C) int64 indices, compact (N, T) int64 indices, a bool (N, C)
indicator, and a ``scipy.sparse`` CSR indicator."""


def target_in_form(compact, n_classes, form):
    """The labels of ``compact`` ((N, T) int64 class indices, as
    ``make_batch(..., layout="compact")`` returns) in one of
    :data:`TARGET_FORMS`.

    Examples
    --------
    >>> _, compact = make_batch(3, 6, 2, layout="compact")
    >>> [target_in_form(compact, 6, form).shape for form in TARGET_FORMS]
    [(3, 6), (3, 2), (3, 6), (3, 6)]
    >>> bool(np.all(target_in_form(compact, 6, "padded")[:, 2:] == -1))
    True
    """
    if form == "compact":
        return compact
    if form == "padded":
        padded = np.full((compact.shape[0], n_classes), -1, dtype=np.int64)
        padded[:, : compact.shape[1]] = compact
        return padded
    indicator = indicator_from_targets(compact, n_classes)
    if form == "bool":
        return indicator
    if form == "csr":
        return scipy.sparse.csr_array(indicator)
    raise ValueError(f"form must be one of {TARGET_FORMS}, got {form!r}")


def target_floor_bytes(target):
    """Bytes a kernel must read of ``target``: for class indices, each row's
    used entries and the -1 that ends it (a compact row without -1: all of
    it); a bool indicator entirely; a sparse matrix's indptr, indices and
    data."""
    if scipy.sparse.issparse(target):
        target = target.tocsr()
        return target.indptr.nbytes + target.indices.nbytes + target.data.nbytes
    target = np.asarray(target)
    if target.dtype == np.bool_:
        return target.nbytes
    used = int(np.minimum((target >= 0).sum(axis=-1) + 1, target.shape[-1]).sum())
    return used * target.itemsize


def floor_bytes(scores, target):
    """Bytes a fused loss + gradient must move, for either loss and any
    target form: the scores read, the gradient written and
    :func:`target_floor_bytes`. Equals :func:`ranking_floor_bytes` for
    padded targets and :func:`hinge_floor_bytes` for compact ones."""
    return 2 * scores.nbytes + target_floor_bytes(target)


# Each round of :func:`alternating_times`: untimed calls, then timed ones.
SETTLE_CALLS = 3
ROUND_CALLS = 5


def alternating_times(calls, repeat, warmup):
    """Time each of ``calls`` (callables by name) ``repeat`` times, in
    rounds in which they take turns, so that a noisy neighbour hits all
    alike.

    Every call is first made ``warmup`` times (JIT compilation, first
    touches). In a round each makes ``SETTLE_CALLS`` untimed calls, then up
    to ``ROUND_CALLS`` timed ones: on a small (virtual) machine the first
    parallel work after an idle spell or another library's work runs slow,
    up to 2x for a call or two, which a training loop calling one kernel
    again and again does not see.

    Returns
    -------
    dict
        The seconds of each timed call, by name.
    """
    for call in calls.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in calls}
    for _ in range(-(-repeat // ROUND_CALLS)):  # rounds, rounded up
        for name, call in calls.items():
            for _ in range(SETTLE_CALLS):
                call()
            for _ in range(min(ROUND_CALLS, repeat - len(times[name]))):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    return times


# What a busy neighbour runs: a CPU-bound Python loop (a data loader's
# decoding, a second job), never sleeping.
_BUSY_LOOP = "while True:\n    pass\n"


@contextlib.contextmanager
def busy_processes(count):
    """Run ``count`` CPU-bound processes beside the ``with`` block (none for
    0), so that timings show how calls fare under load; they are killed on
    exit.

    Examples
    --------
    >>> with busy_processes(1) as processes:
    ...     len(processes), processes[0].poll() is None
    (1, True)
    """
    processes = []
    try:
        for _ in range(count):
            processes.append(
                subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL)
            )
        time.sleep(0.2 if count else 0.0)  # let them start spinning
        yield processes
    finally:
        for process in processes:
            process.kill()
            process.wait()


def add_load_option(parser, *, default=0, type=int):
    """Add ``--load K`` to an argparse ``parser``: how many
    :func:`busy_processes` run beside the timings."""
    parser.add_argument(
        "--load",
        type=type,
        default=default,
        metavar="K",
        help=(
            "run K busy processes (a CPU-bound Python loop each) beside the timings "
            f"(default {default})"
        ),
    )


def load_note(count):
    """The line a report prints about its load of ``count`` busy
    processes."""
    if not count:
        return "Load: none (idle machine)."
    return (
        f"Load: {count} busy process(es) (a CPU-bound Python loop each) ran beside "
        "the timings."
    )
