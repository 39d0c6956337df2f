"""The GPU ranking kernel (``_gpu_ranking.launch_ranking``) against the CPU
kernels (``_host.ranking_kernels``) on the same canonical inputs, under
Numba's CUDA simulator.

Run in a process of their own, with the simulator switched on before numba
is imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -p no:cacheprovider \
        tests/gpu_sim/test_ranking_kernel.py

Expected: identical statuses, bit-identical gradients (integer counts times
the row's scale, decided in the scores' dtype), losses equal within 1e-12
relative (float64 sums in another order), NaN where the CPU has NaN, and
gradient rows of bad rows left untouched. Shapes are tiny: the simulator
runs a Python thread per GPU thread.
"""

import math
import os

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip(
        "GPU kernel tests run under NUMBA_ENABLE_CUDASIM=1 in their own process",
        allow_module_level=True,
    )

from gpu_signatures import ranking_signatures  # noqa: E402
from numba import cuda  # noqa: E402

from fastmargin import _host  # noqa: E402
from fastmargin._targets import LabelRows  # noqa: E402
from fastmargin.gpu import ranking as _gpu_ranking  # noqa: E402
from fastmargin.gpu.ranking import launch_ranking  # noqa: E402
from fastmargin.kernels.labels import ROW_OF_ZEROS_AND_ONES, ROW_OK  # noqa: E402

# The simulator evaluates scores with NumPy scalars, which warn where the
# compiled kernels silently overflow or meet inf - inf.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

GRAD_SENTINEL = 7.25
THREADS = (4, 8)
DTYPES = (np.float32, np.float64)
INDEX_DTYPES = (np.int32, np.int64)


# ----------------------------------------------------------------------
# Inputs and the comparison


def padded_form(target, index_dtype=np.int64):
    """The canonical form of a padded (N, K) index target."""
    target = np.asarray(target)
    n_rows, width = target.shape
    indptr = np.arange(n_rows + 1, dtype=np.int64) * width
    return indptr, target.ravel().astype(index_dtype), True, width


def csr_form(rows, index_dtype=np.int64):
    """The canonical form of label lists (every entry used)."""
    lengths = [len(row) for row in rows]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.array([label for row in rows for label in row], dtype=index_dtype)
    return indptr, indices, False, max(lengths, default=0)


def run_cpu(scores, form, margin, grad_scale):
    indptr, indices, padded, width = form
    n_rows = scores.shape[0]
    loss = np.full(n_rows, -123.0)
    status = np.full(n_rows, -99, np.int64)
    grad = None if grad_scale is None else np.full_like(scores, GRAD_SENTINEL)
    labels = LabelRows(indptr, indices, padded, width, None, None, False)
    _host.ranking_kernels(
        scores, labels, margin, float(scores.shape[1]), loss, status, grad, grad_scale
    )
    return loss, status, grad


def run_gpu(scores, form, margin, grad_scale, threads, shared_targets=None):
    indptr, indices, padded, width = form
    n_rows = scores.shape[0]
    stream = cuda.stream()
    grad = grad_scale_device = None
    if grad_scale is not None:
        grad = cuda.to_device(np.full_like(scores, GRAD_SENTINEL), stream=stream)
        grad_scale_device = cuda.to_device(grad_scale, stream=stream)
    loss = cuda.to_device(np.full(n_rows, -123.0), stream=stream)
    status = cuda.to_device(np.full(n_rows, -99, np.int64), stream=stream)
    launch_ranking(
        cuda.to_device(scores, stream=stream),
        cuda.to_device(indptr, stream=stream),
        cuda.to_device(indices, stream=stream),
        padded,
        width,
        margin,
        float(scores.shape[1]),
        loss,
        status,
        grad,
        grad_scale_device,
        stream,
        threads=threads,
        shared_targets=shared_targets,
    )
    stream.synchronize()
    return (
        loss.copy_to_host(),
        status.copy_to_host(),
        None if grad is None else grad.copy_to_host(),
    )


def check(
    scores, form, *, margin=1.0, grad_scale="random", threads=4, shared_targets=None, seed=0
):
    """Run both kernels; assert the GPU's results equal the CPU's. Returns
    the CPU's (loss, status, grad) for further checks."""
    scores = np.ascontiguousarray(scores)
    if isinstance(grad_scale, str):
        grad_scale = np.random.default_rng(seed).uniform(-2.0, 2.0, scores.shape[0])
    expected = run_cpu(scores, form, margin, grad_scale)
    got = run_gpu(scores, form, margin, grad_scale, threads, shared_targets)
    loss, status, grad = expected
    np.testing.assert_array_equal(got[1], status)
    np.testing.assert_allclose(got[0], loss, rtol=1e-12, atol=1e-300, equal_nan=True)
    if grad is None:
        assert got[2] is None
    else:
        assert got[2].dtype == grad.dtype
        assert np.array_equal(got[2], grad, equal_nan=True), (got[2], grad)
    return expected


def tied_scores(rng, n_rows, n_classes, dtype):
    """Scores on a grid of halves: ties among targets and exact ties
    between ``x[j]`` and ``x[t] - margin``."""
    return (rng.integers(-4, 5, (n_rows, n_classes)) * 0.5).astype(dtype)


# ----------------------------------------------------------------------
# Ordinary rows


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_padded_rows(dtype, index_dtype, threads):
    """Duplicates, junk (even bad entries) after the -1, an empty row, a
    full-width row, ties."""
    rng = np.random.default_rng(1)
    target = np.array(
        [
            [3, 0, 3, -1, 99, -7, 2],
            [1, 2, 4, 7, 8, 9, 11],
            [-1, 0, 5, 5, 0, 0, 1],
            [5, 5, 5, -1, -1, -1, -1],
            [0, 11, 6, 2, -1, 3, 4],
        ]
    )
    scores = tied_scores(rng, 5, 12, dtype)
    check(scores, padded_form(target, index_dtype), threads=threads, seed=threads)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_label_lists(dtype, index_dtype, threads):
    """padded=False: no row ends early; an empty row, every class a target
    (with a duplicate), duplicates only."""
    rng = np.random.default_rng(2)
    rows = [[4, 1], [], list(range(6)) + [3], [2, 2, 2], [5, 0, 3, 1, 4]]
    scores = rng.normal(size=(5, 6)).astype(dtype)
    _, status, _ = check(scores, csr_form(rows, index_dtype), threads=threads, seed=threads)
    assert np.all(status == ROW_OK)


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_rows_continuous_scores(dtype):
    rng = np.random.default_rng(3)
    n_rows, n_classes, width = 6, 24, 9
    target = np.full((n_rows, width), -1)
    for row in range(n_rows):
        n = row * 2 if row < 5 else width
        target[row, :n] = rng.integers(0, n_classes, n)
    scores = rng.normal(size=(n_rows, n_classes)).astype(dtype) * 3
    check(scores, padded_form(target), threads=8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pytorch_layout_with_shifted_scores(dtype):
    """width == C, five targets a row; a large common offset (centring)."""
    rng = np.random.default_rng(4)
    n_rows, n_classes = 4, 16
    target = np.full((n_rows, n_classes), -1)
    for row in range(n_rows):
        target[row, :5] = rng.choice(n_classes, 5, replace=False)
    scores = (1000.0 + rng.normal(size=(n_rows, n_classes))).astype(dtype)
    check(scores, padded_form(target), threads=8, margin=0.75)


@pytest.mark.parametrize("margin", [0.0, 0.3, -1.5, 2.5, 1e-9])
@pytest.mark.parametrize("dtype", DTYPES)
def test_margins(dtype, margin):
    """The margin is rounded to the scores' dtype, as the CPU rounds it."""
    rng = np.random.default_rng(5)
    target = np.array([[0, 3, -1, -1], [1, 1, 2, 7], [6, -1, 0, 0]])
    scores = tied_scores(rng, 3, 8, dtype) + dtype(0.1)
    check(scores, padded_form(target), margin=margin)


def test_one_class():
    scores = np.array([[0.5], [1.0], [-2.0]], np.float32)
    check(scores, padded_form([[0], [-1], [0]]), threads=4)
    check(scores, csr_form([[0, 0], [], [0]]), threads=8)


def test_no_violation_gives_zero():
    """Targets far above every other class: loss and gradients exactly 0."""
    scores = np.array([[10.0, 11.0, 0.0, 1.0, -3.0]])
    loss, _, grad = check(scores, padded_form([[0, 1, -1]]))
    assert loss[0] == 0.0 and not grad.any()


@pytest.mark.parametrize("with_grad", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_none_and_scales(dtype, with_grad):
    rng = np.random.default_rng(6)
    target = np.array([[0, 2, -1], [1, 3, 4], [5, -1, 9]])
    scores = rng.normal(size=(3, 6)).astype(dtype)
    if with_grad:
        for grad_scale in ([0.0, -1.0, 1e-300], [1.0 / 6, 2.5, -3.0]):
            check(scores, padded_form(target), grad_scale=np.array(grad_scale))
    else:
        check(scores, padded_form(target), grad_scale=None)


# ----------------------------------------------------------------------
# Statuses


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_bad_entries(index_dtype, threads):
    """The first used entry outside [0, C) gives the status; its row's loss
    is NaN and its gradient untouched; other rows are computed."""
    rng = np.random.default_rng(7)
    target = np.array(
        [
            [0, 1, 6, 2, -1, 9, 9, 9, 9],  # C = 6: bad at 2
            [0, 1, 2, -1, 6, 7, -5, 9, 9],  # junk after -1: fine
            [1, 0, 3, 2, 4, 0, 1, 0, -3],  # < -1 at 8 (second round for 4 or 8 threads)
            [3, -2, -1, 0, 0, 0, 0, 0, 0],  # bad at 1
            [4, 5, 4, -1, -1, -1, -1, -1, -1],
        ]
    )
    scores = rng.normal(size=(5, 6))
    loss, status, grad = check(scores, padded_form(target, index_dtype), threads=threads)
    np.testing.assert_array_equal(status, [2, ROW_OK, 8, 1, ROW_OK])
    assert np.isnan(loss[[0, 2, 3]]).all() and np.isfinite(loss[[1, 4]]).all()
    assert (grad[[0, 2, 3]] == GRAD_SENTINEL).all()
    # In label lists -1 is an entry like any other.
    check(
        scores, csr_form([[0, -1], [2, 3], [5, 6, 1], [], [1]], index_dtype), threads=threads
    )


@pytest.mark.parametrize("threads", THREADS)
def test_zeros_and_ones_status(threads):
    scores = np.random.default_rng(8).normal(size=(5, 4)).astype(np.float32)
    target = np.array(
        [
            [0, 1, 1, 0],
            [1, 1, 1, 1],
            [0, 1, -1, 0],  # ended by -1
            [0, 2, 1, 0],
            [0, 0, 0, 5],  # bad
        ]
    )
    _, status, _ = check(scores, padded_form(target), threads=threads)
    np.testing.assert_array_equal(
        status, [ROW_OF_ZEROS_AND_ONES, ROW_OF_ZEROS_AND_ONES, ROW_OK, ROW_OK, 3]
    )
    # Label lists never report it.
    _, status, _ = check(scores, csr_form([[0, 1], [1], [0], [0, 0], []]))
    assert np.all(status == ROW_OK)


def test_empty_padded_target():
    """(N, 0) targets: no targets, and every row reports zeros-and-ones (as
    ``read_labels`` does for a padded row with no entry)."""
    scores = np.arange(6.0).reshape(2, 3)
    loss, status, grad = check(scores, padded_form(np.zeros((2, 0), np.int64)))
    assert (status == ROW_OF_ZEROS_AND_ONES).all()
    assert (loss == 0).all() and not grad.any()


# ----------------------------------------------------------------------
# NaN, infinities, overflow


NONFINITE_ROWS = [
    # (scores, targets)
    ([np.nan, 0.0, 1.0, 2.0], [0, 1]),  # NaN target
    ([0.0, 1.0, np.nan, 2.0], [0, 1]),  # NaN non-target
    ([np.nan, 0.0, 1.0, 2.0], [0, 1, 2, 3]),  # NaN, every class a target
    ([np.inf, 0.0, 1.0, 2.0], [0, 1]),  # +inf target
    ([-np.inf, 0.0, 1.0, 2.0], [0, 1]),  # -inf target: inf loss
    ([0.0, 1.0, np.inf, 2.0], [0, 1]),  # +inf non-target: inf loss
    ([0.0, 1.0, -np.inf, 2.0], [0, 1]),  # -inf non-target: finite
    ([np.inf, 0.0, np.inf, 2.0], [0, 1]),  # +inf both: undefined
    ([-np.inf, 0.0, -np.inf, 2.0], [0, 1]),  # -inf both: undefined
    ([np.inf, 0.0, -np.inf, 2.0], [0, 1]),  # +inf target, -inf other
    ([-np.inf, 0.0, np.inf, 2.0], [0, 1]),  # -inf target, +inf other
    ([np.inf, -np.inf, 1.0, 2.0], [0, 1]),  # both infinities as targets
    ([np.inf, 5.0, 1.0, -np.inf], [0, 1]),
]


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_scores(dtype, threads):
    scores = np.array([row for row, _ in NONFINITE_ROWS], dtype)
    rows = [targets for _, targets in NONFINITE_ROWS]
    for chunk in (slice(0, 6), slice(6, None)):
        part = rows[chunk]
        width = max(map(len, part))
        target = np.array([t + [-1] * (width - len(t)) for t in part])
        loss, _, _ = check(scores[chunk], padded_form(target), threads=threads)
        assert not np.isfinite(loss).all()  # each chunk exercises the fallbacks


def test_float64_overflow_fallback():
    """Sorted sums that overflow while the pair sum does not: the CPU's
    pairwise path; sums that are truly infinite stay infinite."""
    big = 0.8e308
    scores = np.array(
        [
            [-big, big, -0.7e308, -0.7e308, -0.7e308, 0.0],
            [-1e308, 1.0, 1e308, 1e308, 0.0, 0.0],
            [1.7e308, -1.7e308, 1.0, -1.0, 1.6e308, 0.0],
        ]
    )
    target = np.array([[0, 1, -1], [0, 1, -1], [0, 1, -1]])
    loss, _, _ = check(scores, padded_form(target), threads=4)
    assert np.isfinite(loss[0]) and loss[0] > 0
    assert loss[1] == np.inf
    loss, _, _ = check(scores, padded_form(target), threads=8, margin=-1e308)


@pytest.mark.parametrize("threads", [4, 32])
def test_a_huge_target_score_does_not_swallow_the_other_terms(threads):
    """The GPU adds the CPU exact path's terms, which never cancel: one
    huge target score leaves the other pairs' terms intact (the centred
    sums gave 0 instead of 0.5 for the first row)."""
    scores = np.array(
        [
            [0.0, 1e16, 0.5, -3.0],
            [-0.0, 0.0, 5e29, 0.25],
            [3e8, 3e8 + 0.25, -2.0, 1e-3],
        ]
    )
    target = np.array([[0, 1, -1], [0, 2, -1], [0, 3, -1]])
    loss, _, _ = check(scores, padded_form(target), threads=threads)
    exact = [
        math.fsum(
            (1.0 - row[t]) + row[j]
            for t in targets[:2]
            for j in range(4)
            if j not in targets[:2] and (1.0 - row[t]) + row[j] > 0
        )
        / 4
        for row, targets in zip(scores, target)
    ]
    assert exact[0] == 0.375
    np.testing.assert_allclose(loss, exact, rtol=4 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("margin", [1.0, -3e38, 3e38])
def test_float32_near_limit(margin):
    """Thresholds and ``margin - x[t]`` overflowing float32."""
    f = np.finfo(np.float32).max
    scores = np.array(
        [
            [f, -f, f, 0.0, -f, 1.0],
            [f, 0.5 * f, -f, -f, 1.0, f],
            [-f, 0.0, np.inf, 1.0, -np.inf, 2.0],
        ],
        np.float32,
    )
    target = np.array([[0, 1, 3], [1, 2, -1], [0, 1, -1]])
    check(scores, padded_form(target), margin=margin, threads=8)


# ----------------------------------------------------------------------
# Rows beyond the shared-memory capacity (the long-row launch)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_long_rows_padded(dtype, threads):
    """Capacity 3: rows of 4 to 8 entries go to the long-row kernel, the
    others stay; statuses, duplicates and junk as before."""
    rng = np.random.default_rng(9)
    target = np.array(
        [
            [0, 1, 2, 3, 4, -1, 30, 30],  # 5 entries: long
            [6, 6, -1, 0, 0, 0, 0, 0],  # 2 entries: short
            [0, 1, 2, 3, 4, 5, 6, 99],  # bad at 7, found by the short kernel
            [7, 1, 2, 2, 7, 7, 1, 0],  # 8 entries: long
            [-1, 1, 1, 1, 1, 1, 1, 1],  # empty
            [0, 1, 2, -1, 9, 9, 9, 9],  # exactly the capacity
        ]
    )
    scores = tied_scores(rng, 6, 10, dtype)
    _, status, _ = check(scores, padded_form(target), threads=threads, shared_targets=3)
    np.testing.assert_array_equal(status, [ROW_OK, ROW_OK, 7, ROW_OK, ROW_OK, ROW_OK])


@pytest.mark.parametrize("shared_targets", [0, 1, 2, 5])
def test_long_rows_lists(shared_targets):
    rng = np.random.default_rng(10)
    rows = [list(range(9)), [3, 3, 3, 3], [], [2, 11, 4], [1, 0, 8, 0, 1, 5], [8]]
    scores = rng.normal(size=(6, 9))
    scores[3, 2] = np.nan  # NaN target in a row that has a bad entry
    scores[4, 7] = np.inf
    check(scores, csr_form(rows), threads=4, shared_targets=shared_targets)


def test_long_rows_nonfinite_and_overflow():
    scores = np.array(
        [
            [np.nan, 0.0, 1.0, 2.0, 3.0, 4.0],
            [-np.inf, 0.0, 1.0, 2.0, 3.0, 4.0],
            [0.0, 1.0, 2.0, 3.0, -np.inf, np.inf],
            [-0.8e308, 0.8e308, -0.7e308, -0.7e308, -0.7e308, 0.0],
        ]
    )
    target = np.array([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 1, 0]])
    check(scores, padded_form(target), threads=4, shared_targets=2)


def test_bad_entry_found_by_the_long_row_kernel():
    """With 4 threads and capacity 3 the short kernel stops reading after
    the first round; the long-row kernel finds the bad entry at 5."""
    scores = np.random.default_rng(12).normal(size=(2, 8))
    target = np.array([[0, 1, 2, 3, 4, 99, -1, 0], [0, 1, 2, 3, 4, 5, -1, 99]])
    for threads in THREADS:
        _, status, _ = check(scores, padded_form(target), threads=threads, shared_targets=3)
        np.testing.assert_array_equal(status, [5, ROW_OK])


def test_grid_stride_and_one_scratch_block(monkeypatch):
    """Fewer blocks than rows: a block computes several rows one after the
    other, in shared memory and on one block of global scratch."""
    monkeypatch.setattr(_gpu_ranking, "row_blocks", lambda n_rows, limit=None: 2)
    monkeypatch.setattr(_gpu_ranking, "SCRATCH_BYTES", 1)
    assert _gpu_ranking.long_row_scratch(6, 8) == (1, 8)
    rng = np.random.default_rng(13)
    target = np.array(
        [
            [0, 1, 2, 3, 4, -1, 0, 0],
            [5, 6, -1, 0, 0, 0, 0, 0],
            [7, 7, 7, 7, 1, 1, 2, 3],
            [1, 0, 1, 0, 1, 0, 1, 0],
            [0, 1, 2, 9, -1, 0, 0, 0],
            [2, -1, 0, 0, 0, 0, 0, 0],
        ]
    )
    scores = tied_scores(rng, 6, 9, np.float32)
    scores[3, 0] = np.nan
    for shared_targets in (None, 3):
        _, status, _ = check(
            scores, padded_form(target), threads=4, shared_targets=shared_targets
        )
        np.testing.assert_array_equal(
            status, [ROW_OK, ROW_OK, ROW_OK, ROW_OF_ZEROS_AND_ONES, 3, ROW_OK]
        )


def test_allocate_for_the_long_row_scratch():
    """The caller's allocator serves the long-row scratch, and only when a
    row can exceed the shared capacity."""
    calls = []

    def allocate(shape, dtype):
        calls.append((shape, np.dtype(dtype)))
        return cuda.device_array(shape, dtype)

    scores = np.random.default_rng(16).normal(size=(3, 7))
    form = padded_form([[0, 1, 2, 3, 4], [1, -1, 0, 0, 0], [6, 5, -1, 0, 0]])
    stream = cuda.stream()
    args = [cuda.to_device(a) for a in (scores, form[0], form[1])] + list(form[2:])
    outputs = [cuda.device_array(3), cuda.device_array(3, np.int64), None, None]
    launch_ranking(*args, 1.0, 7.0, *outputs, stream, threads=4, allocate=allocate)
    assert calls == []
    launch_ranking(
        *args, 1.0, 7.0, *outputs, stream, threads=4, shared_targets=2, allocate=allocate
    )
    assert calls == [
        ((3, 8), np.dtype(np.int64)),
        ((3, 8), np.dtype(np.float64)),
        ((3, 5), np.dtype(np.float64)),
        ((3, 6), np.dtype(np.int64)),
        ((3, 6), np.dtype(np.float64)),
    ]
    expected = run_cpu(scores, form, 1.0, None)
    np.testing.assert_allclose(outputs[0].copy_to_host(), expected[0], rtol=1e-12)
    np.testing.assert_array_equal(outputs[1].copy_to_host(), expected[1])


def test_threads_must_be_a_power_of_two():
    scores = cuda.to_device(np.zeros((1, 3)))
    form = padded_form([[0]])
    args = [
        scores,
        cuda.to_device(form[0]),
        cuda.to_device(form[1]),
        True,
        1,
        1.0,
        3.0,
        cuda.device_array(1),
        cuda.device_array(1, np.int64),
        None,
        None,
        cuda.stream(),
    ]
    for threads in (3, 0, 512):
        with pytest.raises(ValueError, match="power of two"):
            launch_ranking(*args, threads=threads)


def test_many_targets_in_shared_memory():
    """40 entries (a 64-slot sort) with many duplicates and ties."""
    rng = np.random.default_rng(14)
    rows = [list(rng.integers(0, 20, 40)), list(rng.integers(0, 20, 33)), [4]]
    scores = tied_scores(rng, 3, 20, np.float64)
    check(scores, csr_form(rows), threads=8)
    check(scores, csr_form(rows), threads=8, shared_targets=16)


def test_default_threads():
    scores = np.random.default_rng(15).normal(size=(2, 5)).astype(np.float32)
    check(scores, padded_form([[0, 3, -1], [4, 4, 1]]), threads=None)


def test_long_row_scratch_bound():
    """The long-row grid keeps its scratch within SCRATCH_BYTES, with one
    block at least."""
    blocks, slots = _gpu_ranking.long_row_scratch(100_000, 10_000)
    assert slots == 16384
    assert blocks * 8 * (2 * slots + 3 * 10_000 + 2) <= _gpu_ranking.SCRATCH_BYTES
    assert _gpu_ranking.long_row_scratch(3, 10) == (3, 16)
    assert _gpu_ranking.long_row_scratch(5, 10**8)[0] == 1


# ----------------------------------------------------------------------
# Layout


def test_kernel_signatures_cover_the_launches():
    signatures = ranking_signatures()
    assert len(signatures) == 16
    names = {kernel.__name__ for kernel, _ in signatures}
    assert names == {"ranking_kernel", "ranking_long_kernel"}


def test_results_do_not_depend_on_threads():
    rng = np.random.default_rng(11)
    target = rng.integers(-1, 12, (4, 6))
    scores = rng.normal(size=(4, 12)).astype(np.float32)
    form = padded_form(target)
    grad_scale = rng.random(4)
    results = [run_gpu(scores, form, 1.0, grad_scale, threads) for threads in (1, 2, 4, 8)]
    for loss, status, grad in results[1:]:
        np.testing.assert_array_equal(status, results[0][1])
        np.testing.assert_allclose(loss, results[0][0], rtol=1e-12, equal_nan=True)
        assert np.array_equal(grad, results[0][2], equal_nan=True)
