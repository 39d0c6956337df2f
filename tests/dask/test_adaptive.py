"""fastmargin.dask.AdaptiveMargins: a Dask batch's loss moves the margins
when computed (once), to within 1e-12 of the in-memory rule, with the same
bits every time."""

import dask
import dask.array as da
import numpy as np
import pytest

import fastmargin
from fastmargin.dask import AdaptiveLoss, AdaptiveMargins

ROW_CHUNKS = (9, 9, 4, 8)


def batches(seed, count=3, n_rows=30, n_classes=7):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        scores = rng.standard_normal((n_rows, n_classes)) * 1.5
        yield scores, rng.random((n_rows, n_classes)) < 0.3


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("squared", [False, True])
def test_three_batches_follow_the_in_memory_rule(squared, reduction):
    """Loss, gradient and margins after each computed batch: within 1e-12
    of fastmargin.AdaptiveMargins on the same batches."""
    lazy_rule = AdaptiveMargins(7, rate=0.4, bounds=(0.3, 2.5))
    rule = fastmargin.AdaptiveMargins(7, rate=0.4, bounds=(0.3, 2.5))
    for scores, target in batches(0):
        loss, grad = lazy_rule.loss_and_grad(
            da.from_array(scores, chunks=(ROW_CHUNKS, 7)),
            target,
            squared=squared,
            reduction=reduction,
        )
        assert isinstance(loss, AdaptiveLoss)
        before = lazy_rule.margins.copy()
        expected = rule.loss_and_grad(scores, target, squared=squared, reduction=reduction)
        assert np.array_equal(lazy_rule.margins, before)  # nothing computed yet
        computed = dask.compute(loss, grad, scheduler="sync")
        for value, want in zip(computed, expected):
            np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(lazy_rule.margins, rule.margins, rtol=1e-12, atol=0)
    assert not np.allclose(lazy_rule.margins, 1.0)


def test_margins_move_once_and_identically_every_time():
    """Computing a loss twice moves the margins once; two rules fed the
    same chunks end with the same bits, on any local scheduler."""
    finals = []
    for scheduler in ("sync", "threads"):
        lazy_rule = AdaptiveMargins(7, rate=0.4)
        for scores, target in batches(1):
            loss, _ = lazy_rule.loss_and_grad(
                da.from_array(scores, chunks=(ROW_CHUNKS, 7)), target
            )
            loss.compute(scheduler=scheduler)
            moved = lazy_rule.margins.copy()
            loss.compute(scheduler=scheduler)
            assert np.array_equal(lazy_rule.margins, moved)
        finals.append(lazy_rule.margins)
    assert np.array_equal(finals[0], finals[1])


def test_the_plain_array_and_persist_move_nothing():
    """``loss.array`` computes the loss without moving the margins; persist
    of the AdaptiveLoss is refused with a clear TypeError."""
    lazy_rule = AdaptiveMargins(7, rate=0.4)
    scores, target = next(batches(2))
    loss, _ = lazy_rule.loss_and_grad(da.from_array(scores, chunks=(ROW_CHUNKS, 7)), target)
    loss.array.compute(scheduler="sync")
    assert np.array_equal(lazy_rule.margins, np.ones(7))
    with pytest.raises(TypeError, match="moves the margins when computed, not persisted"):
        dask.persist(loss, scheduler="sync")


def test_in_memory_batches_and_errors():
    """NumPy batches go to fastmargin.AdaptiveMargins as they are; a Dask
    batch of the wrong width, non-finite margins and out= are refused when
    the graph is built."""
    lazy_rule, rule = AdaptiveMargins(7), fastmargin.AdaptiveMargins(7)
    scores, target = next(batches(3))
    assert np.array_equal(
        lazy_rule.loss_and_grad(scores, target)[1], rule.loss_and_grad(scores, target)[1]
    )
    assert np.array_equal(lazy_rule.margins, rule.margins)
    with pytest.raises(ValueError, match=r"input must have 7 classes"):
        lazy_rule.loss_and_grad(da.zeros((4, 6), chunks=2), np.zeros((4, 1), int))
    with pytest.raises(ValueError, match="out= cannot be used"):
        lazy_rule.loss_and_grad(
            da.from_array(scores, chunks=10), target, out=np.empty((30, 7))
        )
    lazy_rule.margins[2] = np.nan
    with pytest.raises(ValueError, match="margins are not all finite"):
        lazy_rule.loss_and_grad(da.from_array(scores, chunks=10), target)
