"""fastmargin.dask: lazy results equal to the in-memory functions', the
same bits on every run and scheduler, one kernel call a chunk for loss and
gradient, and clear errors when the graph is built."""

import functools
import subprocess
import sys

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse
from forms import pytorch_layout_targets

import fastmargin
import fastmargin.dask as fmd
from fastmargin.dask import chunks

RANKING = (
    "multilabel_margin_loss",
    "multilabel_margin_loss_grad",
    "multilabel_margin_loss_and_grad",
)
HINGE = (
    "multilabel_hinge_loss",
    "multilabel_hinge_loss_grad",
    "multilabel_hinge_loss_and_grad",
)
REDUCTIONS = ("mean", "sum", "none")
ROW_CHUNKS = (10, 10, 3, 14)  # uneven, as real data comes


def batch(seed=0, n_rows=37, n_classes=12, dtype=np.float64):
    rng = np.random.default_rng(seed)
    scores = (rng.standard_normal((n_rows, n_classes)) * 1.5).astype(dtype)
    return scores, pytorch_layout_targets(rng, n_rows, n_classes), rng


def as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


def assert_close(lazy, expected, rtol=1e-12):
    """Each lazy result computes to the in-memory one within ``rtol``."""
    computed = dask.compute(*as_list(lazy), scheduler="sync")
    for value, want in zip(computed, as_list(expected)):
        assert np.shape(value) == np.shape(want)
        assert np.asarray(value).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(value, want, rtol=rtol, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", RANKING + HINGE)
def test_equal_to_in_memory(name, reduction):
    """Every function and reduction, uneven row chunks, float64: within
    1e-12 of the in-memory result; per-row grad_output for "none"."""
    scores, target, rng = batch()
    settings = {"reduction": reduction, "target_format": "indices"}
    if name.endswith("grad") and reduction == "none":
        settings["grad_output"] = rng.standard_normal(37)
    elif name.endswith("grad"):
        settings["grad_output"] = 0.75
    if name in HINGE:
        settings["margin"] = rng.uniform(0.5, 1.5, 12)
        settings["squared"] = True
    lazy = getattr(fmd, name)(
        da.from_array(scores, chunks=(ROW_CHUNKS, 12)), target, **settings
    )
    assert_close(lazy, getattr(fastmargin, name)(scores, target, **settings))


@pytest.mark.parametrize("form", ["dask", "sparse", "bool dask", "lists"])
def test_target_forms(form):
    """Dask targets with the input's row chunks (and several column chunks),
    scipy.sparse matrices, bool indicators and ragged lists."""
    scores, target, _ = batch(1)
    indicator = fastmargin.indicator_from_targets(target, 12)
    expected = fastmargin.multilabel_hinge_loss_and_grad(scores, indicator)
    given = {
        "dask": lambda: da.from_array(target, chunks=(ROW_CHUNKS, 5)),
        "sparse": lambda: scipy.sparse.csr_matrix(indicator),
        "bool dask": lambda: da.from_array(indicator, chunks=(ROW_CHUNKS, 12)),
        "lists": lambda: [np.flatnonzero(row).tolist() for row in indicator],
    }[form]()
    lazy = fmd.multilabel_hinge_loss_and_grad(
        da.from_array(scores, chunks=(ROW_CHUNKS, 12)),
        given,
        target_format="indices" if form == "dask" else "auto",
    )
    assert_close(lazy, expected)


def test_same_bits_every_time_on_every_local_scheduler():
    """The fixed reduction tree: identical bits run after run, synchronous
    or threaded, for the loss and the gradient."""
    scores, target, _ = batch(2, n_rows=400)
    lazy = fmd.multilabel_margin_loss_and_grad(da.from_array(scores, chunks=13), target)
    first = dask.compute(*lazy, scheduler="sync")
    for scheduler in ("sync", "threads", "threads"):
        again = dask.compute(*lazy, scheduler=scheduler)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_loss_and_gradient_come_from_one_kernel_call_a_chunk(monkeypatch):
    """``_and_grad``: one task a chunk feeds both results."""
    calls = []
    original = fastmargin.multilabel_margin_loss_and_grad

    @functools.wraps(original)
    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fastmargin, "multilabel_margin_loss_and_grad", counted)
    scores, target, _ = batch(3)
    loss, grad = fmd.multilabel_margin_loss_and_grad(
        da.from_array(scores, chunks=(ROW_CHUNKS, 12)), target
    )
    dask.compute(loss, grad, scheduler="sync")
    assert len(calls) == len(ROW_CHUNKS)


def test_float32_and_empty_batches():
    """float32 results stay float32, within float32 rounding; an empty batch
    gives the in-memory NaN mean, zero sum and empty arrays."""
    scores, target, _ = batch(4, dtype=np.float32)
    lazy = fmd.multilabel_margin_loss_and_grad(
        da.from_array(scores, chunks=(ROW_CHUNKS, 12)), target
    )
    assert_close(lazy, fastmargin.multilabel_margin_loss_and_grad(scores, target), rtol=1e-6)
    empty = da.zeros((0, 5), chunks=(0, 5))
    for reduction in REDUCTIONS:
        expected = fastmargin.multilabel_margin_loss_and_grad(
            np.zeros((0, 5)), np.zeros((0, 2), int), reduction=reduction
        )
        lazy = fmd.multilabel_margin_loss_and_grad(
            empty, np.zeros((0, 2), int), reduction=reduction
        )
        computed = dask.compute(*lazy, scheduler="sync")
        np.testing.assert_array_equal(computed[0], expected[0])
        assert computed[1].shape == (0, 5)


def test_class_chunks_are_joined_or_refused(monkeypatch):
    """Scores chunked along classes are joined (row chunks kept); when the
    joined chunks would be too large, a ValueError says what to do."""
    scores, target, _ = batch(5)
    split = da.from_array(scores, chunks=(ROW_CHUNKS, 5))
    loss, grad = fmd.multilabel_margin_loss_and_grad(split, target)
    assert grad.chunks == (ROW_CHUNKS, (12,))
    assert_close((loss, grad), fastmargin.multilabel_margin_loss_and_grad(scores, target))
    monkeypatch.setattr(chunks, "MAX_CHUNK_BYTES", 1000)
    with pytest.raises(ValueError, match="chunked along classes .* fewer rows per chunk"):
        fmd.multilabel_margin_loss(split, target)


def test_errors_when_the_graph_is_built():
    """Mismatched and unknown chunks, wrong row counts, in-memory input,
    1-D input, out= and a non-scalar grad_output for "mean"."""
    scores, target, _ = batch(6)
    lazy_scores = da.from_array(scores, chunks=(ROW_CHUNKS, 12))
    with pytest.raises(ValueError, match=r"target's row chunks \(20, 17\) differ"):
        fmd.multilabel_margin_loss(lazy_scores, da.from_array(target, chunks=(20, 12)))
    unknown = lazy_scores[lazy_scores[:, 0] > -10]
    with pytest.raises(ValueError, match="input has unknown chunk sizes"):
        fmd.multilabel_margin_loss(unknown, target)
    with pytest.raises(ValueError, match="target must have the input's 37 rows"):
        fmd.multilabel_margin_loss(lazy_scores, target[:30])
    with pytest.raises(ValueError, match="target must have the input's 37 rows"):
        fmd.multilabel_margin_loss(lazy_scores, da.from_array(target[:30], chunks=10))
    with pytest.raises(TypeError, match="input must be a dask.array.Array"):
        fmd.multilabel_margin_loss(scores, target)
    with pytest.raises(ValueError, match="input must be 2-D"):
        fmd.multilabel_margin_loss(lazy_scores[0], target[0])
    with pytest.raises(ValueError, match="out= cannot be used"):
        fmd.multilabel_margin_loss_grad(lazy_scores, target, out=np.empty((37, 12)))
    with pytest.raises(ValueError, match="grad_output must be a scalar"):
        fmd.multilabel_hinge_loss_grad(lazy_scores, target, grad_output=np.ones(37))
    with pytest.raises(ValueError, match="reduction must be"):
        fmd.multilabel_hinge_loss(lazy_scores, target, reduction="avg")


def test_bad_target_entries_raise_at_compute():
    """A bad entry is found where the kernel reads it: compute raises the
    in-memory ValueError."""
    scores, target, _ = batch(7)
    target[20, 0] = 99
    lazy = fmd.multilabel_margin_loss(da.from_array(scores, chunks=(ROW_CHUNKS, 12)), target)
    with pytest.raises(ValueError, match="is not a class index"):
        lazy.compute(scheduler="sync")


def test_integer_targets_of_the_scores_width_read_as_a_whole():
    """An in-memory 0/1 integer target of the scores' width with a -1 (or a
    class index > 1) somewhere is read as indices in every chunk, as in
    memory, even in chunks holding only 0s and 1s."""
    scores, _, _ = batch(8, n_rows=20, n_classes=3)
    target = np.tile([[0, 1, 0]], (20, 1))
    target[-1] = [2, -1, 0]
    lazy = fmd.multilabel_margin_loss(da.from_array(scores, chunks=5), target)
    assert_close(lazy, fastmargin.multilabel_margin_loss(scores, target))


def test_importing_fastmargin_never_imports_dask():
    code = (
        "import sys, numpy as np, fastmargin\n"
        "fastmargin.multilabel_hinge_loss(np.ones((2, 3)), np.array([[0], [1]]))\n"
        "assert 'dask' not in sys.modules, 'dask was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
