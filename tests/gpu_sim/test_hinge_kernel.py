"""The GPU hinge kernel (``_gpu_hinge.launch_hinge``) against the CPU kernel
(``_hinge.hinge_rows``) on the same canonical inputs, under Numba's CUDA
simulator.

Run in a process of their own, with the simulator switched on before numba
is imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/gpu_sim -q -p no:cacheprovider

Expected: identical statuses, bit-identical gradients (elementwise, the
same arithmetic), losses and per-label sums equal within 1e-12 relative
(float64 sums in another order), NaN where the CPU has NaN. Shapes are
tiny: the simulator runs a Python thread per GPU thread.
"""

import itertools
import os
import zlib

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip(
        "GPU kernel tests run under NUMBA_ENABLE_CUDASIM=1 in their own process",
        allow_module_level=True,
    )

from gpu_signatures import hinge_signatures  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numba import cuda  # noqa: E402

from fastmargin.gpu import hinge as _gpu_hinge  # noqa: E402
from fastmargin.gpu.hinge import launch_hinge  # noqa: E402
from fastmargin.kernels.hinge import hinge_element, hinge_rows  # noqa: E402
from fastmargin.kernels.labels import ROW_OF_ZEROS_AND_ONES, ROW_OK  # noqa: E402

FORMS = ("padded_int32", "padded_int64", "csr_int32", "csr_int64", "indicator")
# (with a gradient, label-sum blocks or None)
OUTPUTS = ((False, None), (True, None), (False, 2), (True, 1), (True, 3))
GRAD_SENTINEL = 7.25


# ----------------------------------------------------------------------
# Inputs


def random_indicator(rng, n_rows, n_classes):
    """Labels with an empty row and a full row whenever there are enough rows."""
    indicator = rng.random((n_rows, n_classes)) < 0.35
    if n_rows >= 3:
        indicator[0] = False
        indicator[1] = True
    return indicator


def label_lists(indicator, rng):
    """Each row's labels, shuffled, some listed twice."""
    rows = []
    for row in indicator:
        labels = list(np.flatnonzero(row))
        if labels and rng.random() < 0.6:
            labels += list(rng.choice(labels, size=int(rng.integers(1, 3))))
        rows.append([int(v) for v in rng.permutation(labels)] if labels else [])
    return rows


def canonical(indicator, form, rng, *, lists=None):
    """(indptr, indices, padded, width, indicator-or-None) for ``form``:
    padded rows end at their first -1 and carry junk after it; CSR-like
    rows list every entry; ``lists`` overrides the label lists."""
    n_rows, n_classes = indicator.shape
    if form == "indicator":
        return (
            np.zeros(n_rows + 1, np.int64),
            np.zeros(0, np.int64),
            False,
            0,
            np.ascontiguousarray(indicator),
        )
    dtype = np.int32 if form.endswith("int32") else np.int64
    if lists is None:
        lists = label_lists(indicator, rng)
    if form.startswith("padded"):
        longest = max(len(labels) for labels in lists)
        width = longest + int(rng.integers(0, 3))
        target = np.full((n_rows, width), -1, np.int64)
        for i, labels in enumerate(lists):
            target[i, : len(labels)] = labels
            if len(labels) + 1 < width:  # junk after the -1, never read
                target[i, len(labels) + 1 :] = rng.choice(
                    [-7, -1, 0, n_classes, n_classes + 5, 999],
                    size=width - len(labels) - 1,
                )
        indptr = np.arange(n_rows + 1, dtype=np.int64) * width
        return indptr, target.ravel().astype(dtype), True, width, None
    indptr = np.zeros(n_rows + 1, np.int64)
    indptr[1:] = np.cumsum([len(labels) for labels in lists])
    flat = [label for labels in lists for label in labels]
    width = max(len(labels) for labels in lists)
    return indptr, np.array(flat, dtype=dtype), False, width, None


def random_scores(rng, n_rows, n_classes, dtype, margins, *, specials=True):
    """Scores with values exactly at the kinks (x = +-margin), zeros, NaN,
    +inf and -inf."""
    scores = rng.normal(0.0, 1.5, (n_rows, n_classes)).astype(dtype)
    if specials:
        picks = rng.random((n_rows, n_classes))
        kinks = np.broadcast_to(margins, scores.shape)
        signs = rng.choice(np.array([-1, 1], dtype=dtype), size=scores.shape)
        scores = np.where(picks < 0.15, signs * kinks, scores)
        scores[(picks >= 0.15) & (picks < 0.2)] = 0
        scores[(picks >= 0.2) & (picks < 0.24)] = np.nan
        scores[(picks >= 0.24) & (picks < 0.27)] = np.inf
        scores[(picks >= 0.27) & (picks < 0.30)] = -np.inf
    return np.ascontiguousarray(scores, dtype=dtype)


def random_margins(rng, n_classes, dtype):
    return rng.choice(np.array([1.0, 0.5, 2.0, 0.1, 1.7], dtype=dtype), size=n_classes)


# ----------------------------------------------------------------------
# Running both kernels


def run_cpu(scores, rows, margins, squared, grad_scale, n_label_blocks, loss_divisor=None):
    indptr, indices, padded, width, indicator = rows
    n_rows, n_classes = scores.shape
    loss_divisor = float(n_classes) if loss_divisor is None else loss_divisor
    loss = np.full(n_rows, -123.0)
    status = np.full(n_rows, -99, np.int64)
    grad = None if grad_scale is None else np.full_like(scores, GRAD_SENTINEL)
    label_sums = None if n_label_blocks is None else np.zeros((n_label_blocks, n_classes))
    n_blocks = 1 if n_label_blocks is None else n_label_blocks
    if indicator is None:  # the CPU kernel's contract: an empty indicator
        indicator = np.zeros((0, 0), np.bool_)
    hinge_rows(
        scores,
        indptr,
        indices,
        padded,
        width,
        indicator,
        margins,
        squared,
        loss_divisor,
        loss,
        status,
        grad,
        grad_scale,
        label_sums,
        n_blocks,
        0,
        n_blocks,
    )
    return loss, status, grad, label_sums


def run_gpu(
    scores, rows, margins, squared, grad_scale, n_label_blocks, threads, loss_divisor=None
):
    indptr, indices, padded, width, indicator = rows
    n_rows, n_classes = scores.shape
    loss_divisor = float(n_classes) if loss_divisor is None else loss_divisor
    stream = cuda.stream()

    def device(array):
        return None if array is None else cuda.to_device(array, stream=stream)

    loss = device(np.full(n_rows, -123.0))
    status = device(np.full(n_rows, -99, np.int64))
    grad = None if grad_scale is None else device(np.full_like(scores, GRAD_SENTINEL))
    label_sums = (
        None if n_label_blocks is None else device(np.zeros((n_label_blocks, n_classes)))
    )
    launch_hinge(
        device(scores),
        device(indptr),
        device(indices),
        padded,
        width,
        device(indicator),
        device(margins),
        squared,
        loss_divisor,
        loss,
        status,
        grad,
        device(grad_scale),
        label_sums,
        stream,
        threads=threads,
    )
    stream.synchronize()

    def host(array):
        return None if array is None else array.copy_to_host()

    return host(loss), host(status), host(grad), host(label_sums)


def assert_same(gpu, cpu):
    gpu_loss, gpu_status, gpu_grad, gpu_sums = gpu
    cpu_loss, cpu_status, cpu_grad, cpu_sums = cpu
    np.testing.assert_array_equal(gpu_status, cpu_status)
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-12, atol=0, equal_nan=True)
    assert (gpu_grad is None) == (cpu_grad is None)
    if cpu_grad is not None:
        assert gpu_grad.dtype == cpu_grad.dtype
        # Bit for bit, except that NaNs may differ in payload and zeros in
        # sign (the CPU kernel compiles with "nsz").
        both_nan = np.isnan(gpu_grad) & np.isnan(cpu_grad)
        uint = np.uint32 if cpu_grad.dtype == np.float32 else np.uint64
        same_bits = gpu_grad.view(uint) == cpu_grad.view(uint)
        both_zero = (gpu_grad == 0) & (cpu_grad == 0)
        assert np.all(both_nan | same_bits | both_zero), (gpu_grad, cpu_grad)
    assert (gpu_sums is None) == (cpu_sums is None)
    if cpu_sums is not None:
        np.testing.assert_allclose(gpu_sums, cpu_sums, rtol=1e-12, atol=0, equal_nan=True)


def compare(
    scores, rows, margins, squared, grad_scale, n_label_blocks, threads, loss_divisor=None
):
    cpu = run_cpu(scores, rows, margins, squared, grad_scale, n_label_blocks, loss_divisor)
    gpu = run_gpu(
        scores, rows, margins, squared, grad_scale, n_label_blocks, threads, loss_divisor
    )
    assert_same(gpu, cpu)
    return gpu, cpu


def grad_scales(rng, n_rows, with_grad):
    return rng.choice([1.0, 0.25, -2.0, 1 / 3], size=n_rows) if with_grad else None


# ----------------------------------------------------------------------
# Tests


def _main_cases():
    """Every form x squared x outputs; dtype and threads alternate so that
    each form meets both dtypes and both block sizes, with and without each
    output (the simulator is slow: no full cross product)."""
    cases = []
    for k, (form, squared, (with_grad, n_label_blocks)) in enumerate(
        itertools.product(FORMS, (False, True), OUTPUTS)
    ):
        dtype = (np.float32, np.float64)[k % 2]
        threads = (4, 8)[(k // 2) % 2]
        cases.append((form, squared, with_grad, n_label_blocks, dtype, threads))
    return cases


@pytest.mark.parametrize(
    "form, squared, with_grad, n_label_blocks, dtype, threads", _main_cases()
)
def test_matches_cpu(form, squared, with_grad, n_label_blocks, dtype, threads):
    seed = [form, squared, with_grad, n_label_blocks, np.dtype(dtype).itemsize, threads]
    rng = np.random.default_rng(zlib.crc32(repr(seed).encode()))
    n_rows, n_classes = 5, 11
    indicator = random_indicator(rng, n_rows, n_classes)
    margins = random_margins(rng, n_classes, dtype)
    scores = random_scores(rng, n_rows, n_classes, dtype, margins)
    rows = canonical(indicator, form, rng)
    compare(
        scores,
        rows,
        margins,
        squared,
        grad_scales(rng, n_rows, with_grad),
        n_label_blocks,
        threads,
    )


@pytest.mark.parametrize("squared", [False, True])
def test_one_margin_for_every_class_and_the_plain_sum(squared):
    """A (1,) margins array serves every class (the front end's scalar
    margin), and a loss divisor of 1 gives the plain sum of the terms."""
    rng = np.random.default_rng(23)
    n_rows, n_classes = 4, 9
    indicator = random_indicator(rng, n_rows, n_classes)
    margins = np.full(n_classes, 0.5)
    scores = random_scores(rng, n_rows, n_classes, np.float64, margins)
    rows = canonical(indicator, "padded", rng)
    grad_scale = grad_scales(rng, n_rows, True)
    shared = compare(scores, rows, margins[:1], squared, grad_scale, 2, 4, loss_divisor=1.0)
    per_label = run_cpu(scores, rows, margins, squared, grad_scale, 2, loss_divisor=1.0)
    assert_same(shared[0], per_label)
    divided = run_cpu(scores, rows, margins, squared, grad_scale, 2)
    np.testing.assert_allclose(per_label[0], n_classes * divided[0], rtol=1e-14)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("form", ["padded_int64", "csr_int32", "indicator"])
def test_scores_at_the_kinks_and_specials(form, squared):
    """Every score exactly at +-margin, or 0, NaN, +-inf, for labels and
    non-labels: slopes 0 at the kink, NaN terms and slopes for NaN."""
    rng = np.random.default_rng(5)
    margins = np.array([1.0, 0.5, 2.0, 0.1, 1.0, 1.0], np.float32)
    values = np.array([1.0, -1.0, 0.0, np.nan, np.inf, -np.inf], np.float32)
    # Row r: class c scores values[(r + c) % 6] * (margin if finite nonzero).
    scores = np.empty((6, 6), np.float32)
    for r in range(6):
        for c in range(6):
            v = values[(r + c) % 6]
            scores[r, c] = v * margins[c] if np.isfinite(v) and v != 0 else v
    indicator = np.zeros((6, 6), bool)
    indicator[::2, :3] = True
    indicator[1::2, 3:] = True
    rows = canonical(indicator, form, rng)
    compare(scores, rows, margins, squared, np.full(6, 0.5), 2, 4)


@pytest.mark.parametrize(
    "form, with_grad, n_label_blocks",
    [
        ("padded_int32", True, None),
        ("padded_int64", False, 2),
        ("csr_int64", True, 3),
        ("csr_int32", False, None),
        ("padded_int64", True, 1),
    ],
)
def test_bad_label(form, with_grad, n_label_blocks):
    """A row with an out-of-range label: its status is the entry's position,
    its loss NaN, its gradient row untouched, nothing added to the label
    sums; the other rows are right."""
    rng = np.random.default_rng(11)
    n_rows, n_classes = 5, 7
    dtype = np.float64
    indicator = random_indicator(rng, n_rows, n_classes)
    lists = label_lists(indicator, rng)
    lists[2] = [1, 3, n_classes, 0]  # bad at position 2
    lists[4] = [-3]  # bad at position 0 (not a -1: a negative label)
    margins = random_margins(rng, n_classes, dtype)
    scores = random_scores(rng, n_rows, n_classes, dtype, margins, specials=False)
    rows = canonical(indicator, form, rng, lists=lists)
    gpu, _ = compare(
        scores, rows, margins, False, grad_scales(rng, n_rows, with_grad), n_label_blocks, 8
    )
    loss, status, grad, _ = gpu
    assert status[2] == 2 and status[4] == 0
    assert np.isnan(loss[2]) and np.isnan(loss[4])
    assert np.isfinite(loss[[0, 1, 3]]).all()
    if grad is not None:
        assert (grad[[2, 4]] == GRAD_SENTINEL).all()


def test_zeros_and_ones_status():
    """Padded rows of only 0s and 1s with no -1 report ROW_OF_ZEROS_AND_ONES,
    and are computed."""
    rng = np.random.default_rng(3)
    lists = [[0, 1, 1], [1, 0, 0], [2, 0, 1]]
    indicator = np.zeros((3, 4), bool)
    rows = canonical(indicator, "padded_int64", rng, lists=lists)
    rows = (
        rows[0][:1] * 0 + np.arange(4, dtype=np.int64) * 3,
        np.array([v for labels in lists for v in labels], np.int64),
        True,
        3,
        None,
    )
    margins = np.ones(4)
    scores = random_scores(rng, 3, 4, np.float64, margins, specials=False)
    gpu, _ = compare(scores, rows, margins, True, np.ones(3), None, 4)
    assert list(gpu[1]) == [ROW_OF_ZEROS_AND_ONES, ROW_OF_ZEROS_AND_ONES, ROW_OK]


@pytest.mark.parametrize("form", ["padded_int32", "csr_int64", "indicator"])
@pytest.mark.parametrize(
    "n_rows, n_classes, n_label_blocks",
    [
        (1, 1, None),
        (1, 1, 1),
        (4, 1, 2),
        (1, 13, 1),
        (1, 13, None),
        (3, 20, 3),
    ],
)
def test_shapes(form, n_rows, n_classes, n_label_blocks):
    """C = 1, a single row, and C not a multiple of the threads."""
    rng = np.random.default_rng(n_rows * 100 + n_classes)
    indicator = rng.random((n_rows, n_classes)) < 0.5
    margins = random_margins(rng, n_classes, np.float32)
    scores = random_scores(rng, n_rows, n_classes, np.float32, margins)
    rows = canonical(indicator, form, rng)
    compare(scores, rows, margins, False, np.ones(n_rows), n_label_blocks, 8)


@pytest.mark.parametrize("form", FORMS)
def test_all_and_no_labels(form):
    """Rows with every class labelled (listed twice in places) and rows with
    none; a batch where no row has a label (width 0 for the padded form)."""
    rng = np.random.default_rng(8)
    indicator = np.zeros((4, 6), bool)
    indicator[[0, 2]] = True
    margins = random_margins(rng, 6, np.float64)
    scores = random_scores(rng, 4, 6, np.float64, margins)
    compare(scores, canonical(indicator, form, rng), margins, True, np.ones(4), 2, 4)
    none = np.zeros((3, 6), bool)
    rows = canonical(none, form, rng)
    compare(scores[:3], rows, margins, False, None, None, 4)


@pytest.mark.parametrize("form", ["padded_int32", "csr_int64", "indicator"])
def test_several_rows_per_block(monkeypatch, form):
    """A grid smaller than the batch (scratch limit): each block reuses its
    mask and label scratch for several rows."""
    rng = np.random.default_rng(21)
    n_rows, n_classes = 6, 9
    indicator = random_indicator(rng, n_rows, n_classes)
    rows = canonical(indicator, form, rng)
    width = rows[3]
    monkeypatch.setattr(_gpu_hinge, "SCRATCH_BYTES", 2 * (n_classes + 8 * max(width, 1)))
    if form != "indicator":
        assert _gpu_hinge._grid(n_rows, n_classes, width, None, None) == 2
    margins = random_margins(rng, n_classes, np.float32)
    scores = random_scores(rng, n_rows, n_classes, np.float32, margins)
    for squared in (False, True):
        compare(scores, rows, margins, squared, grad_scales(rng, n_rows, True), None, 4)


def test_default_threads():
    """threads=None picks ``threads_per_row(C)`` (a warp here)."""
    rng = np.random.default_rng(2)
    indicator = random_indicator(rng, 2, 5)
    margins = random_margins(rng, 5, np.float64)
    scores = random_scores(rng, 2, 5, np.float64, margins)
    rows = canonical(indicator, "csr_int32", rng)
    compare(scores, rows, margins, True, np.ones(2), 1, None)


def test_label_sums_add_to_existing_blocks():
    """Label sums of the bad rows are left out, and each block's sums are its
    own rows' terms."""
    rng = np.random.default_rng(4)
    n_rows, n_classes = 6, 5
    indicator = random_indicator(rng, n_rows, n_classes)
    margins = random_margins(rng, n_classes, np.float64)
    scores = random_scores(rng, n_rows, n_classes, np.float64, margins, specials=False)
    rows = canonical(indicator, "indicator", rng)
    _, cpu = compare(scores, rows, margins, True, None, 3, 8)
    sums = cpu[3]
    # Block b of 3 covers rows [2b, 2b + 2): the terms of those rows.
    for block in range(3):
        part = scores[2 * block : 2 * block + 2]
        signs = np.where(indicator[2 * block : 2 * block + 2], 1.0, -1.0)
        terms = np.maximum(0.0, margins - signs * part) ** 2
        np.testing.assert_allclose(sums[block], terms.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_element_function(dtype):
    """``hinge_element`` run as plain Python: the formula of the module
    docstring of ``_hinge``."""
    x = np.array([0.5, -1.0, 2.0, np.nan, np.inf, 1.0], dtype)
    margins = np.ones(6, dtype)
    for is_label in (False, True):
        for squared in (False, True):
            for c in range(6):
                term, slope = hinge_element(x, c, is_label, margins[c], squared)
                s = 1 if is_label else -1
                z = margins[c] - s * x[c]
                if np.isnan(x[c]):
                    assert np.isnan(term) and np.isnan(slope)
                    continue
                hinge = max(0.0, float(z))
                assert term == (hinge * hinge if squared else hinge)
                expected = (2.0 * hinge if squared else float(z > 0)) * -s
                assert slope == expected


@settings(max_examples=12, deadline=None)
@given(
    n_rows=st.integers(1, 5),
    n_classes=st.integers(1, 12),
    form=st.sampled_from(FORMS),
    squared=st.booleans(),
    outputs=st.sampled_from(OUTPUTS),
    dtype=st.sampled_from([np.float32, np.float64]),
    threads=st.sampled_from([4, 8]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_batches(n_rows, n_classes, form, squared, outputs, dtype, threads, seed):
    rng = np.random.default_rng(seed)
    with_grad, n_label_blocks = outputs
    if n_label_blocks is not None:
        n_label_blocks = min(n_label_blocks, n_rows)
    indicator = rng.random((n_rows, n_classes)) < rng.random()
    margins = random_margins(rng, n_classes, dtype)
    scores = random_scores(rng, n_rows, n_classes, dtype, margins)
    rows = canonical(indicator, form, rng)
    compare(
        scores,
        rows,
        margins,
        squared,
        grad_scales(rng, n_rows, with_grad),
        n_label_blocks,
        threads,
    )


def test_kernel_signatures_cover_the_launches(monkeypatch):
    """Every launch's argument types are among ``hinge_signatures()`` (the
    signatures compiled to PTX without a GPU)."""
    from numba import typeof
    from numba.core.sigutils import normalize_signature

    signatures = hinge_signatures()
    assert len(signatures) == 32
    assert len({signature for _, signature in signatures}) == 32
    assert {kernel.__name__ for kernel, _ in signatures} == {"hinge_rows_kernel"}
    known = {normalize_signature(signature)[0] for _, signature in signatures}

    launched = []
    kernel = _gpu_hinge.hinge_rows_kernel

    class Recorder:
        def __getitem__(self, configuration):
            def launch(*args):
                launched.append(tuple(typeof(getattr(a, "_ary", a)) for a in args))
                kernel[configuration](*args)

            return launch

    monkeypatch.setattr(_gpu_hinge, "hinge_rows_kernel", Recorder())
    rng = np.random.default_rng(6)
    for k, (form, dtype) in enumerate(itertools.product(FORMS, [np.float32, np.float64])):
        with_grad, n_label_blocks = OUTPUTS[k % len(OUTPUTS)]
        indicator = random_indicator(rng, 2, 3)
        margins = random_margins(rng, 3, dtype)
        scores = random_scores(rng, 2, 3, dtype, margins)
        rows = canonical(indicator, form, rng)
        run_gpu(
            scores,
            rows,
            margins,
            bool(k % 3),
            grad_scales(rng, 2, with_grad),
            n_label_blocks and 1,
            4,
        )
    assert len(launched) == 10
    for types in launched:
        assert types in known, types
