"""The reuse of large gradient buffers (fastmargin/_buffers.py): a buffer
comes back only when no result, nor any view of one, refers to it."""

import threading

import numpy as np
import pytest

import fastmargin
from fastmargin import _buffers


@pytest.fixture
def small_buffers(monkeypatch):
    """Reuse from 1 KiB on, with an empty list of kept buffers."""
    monkeypatch.setattr(_buffers, "MIN_BYTES", 1024)
    monkeypatch.setattr(_buffers, "_kept", [])
    return _buffers


def address(array):
    return array.__array_interface__["data"][0]


def test_a_free_buffer_is_reused(small_buffers):
    first = small_buffers.empty((16, 32), np.float32)
    where = address(first)
    del first
    second = small_buffers.empty((32, 16), np.float32)  # same bytes, other shape
    assert address(second) == where
    assert second.shape == (32, 16) and second.dtype == np.float32
    assert second.flags.c_contiguous and second.flags.writeable


@pytest.mark.parametrize(
    "keep",
    [
        lambda a: a,
        lambda a: a[1:3],
        lambda a: a.T,
        lambda a: a.reshape(-1)[::2],
        lambda a: memoryview(a),
        lambda a: a.view(np.int32),
    ],
)
def test_a_buffer_is_not_reused_while_anything_refers_to_it(small_buffers, keep):
    first = small_buffers.empty((16, 32), np.float32)
    first[...] = np.arange(first.size).reshape(first.shape)
    kept = keep(first)
    snapshot = np.asarray(kept).copy()
    del first
    second = small_buffers.empty((16, 32), np.float32)
    second[...] = -1.0
    assert np.array_equal(np.asarray(kept), snapshot)


def test_small_arrays_are_plain_numpy_arrays():
    array = _buffers.empty((3, 4), np.float64)
    assert array.base is None and array.shape == (3, 4)


def test_at_most_max_buffers_and_max_bytes_are_kept(small_buffers, monkeypatch):
    monkeypatch.setattr(small_buffers, "MAX_BYTES", 64 * 1024)
    live = [small_buffers.empty((1024 * (k + 1),), np.uint8) for k in range(5)]
    assert len(small_buffers._kept) <= small_buffers.MAX_BUFFERS
    del live
    big = small_buffers.empty((128 * 1024,), np.uint8)  # over MAX_BYTES: never kept
    assert all(buffer.nbytes <= 64 * 1024 for buffer in small_buffers._kept)
    assert big.nbytes == 128 * 1024
    # Free buffers make room for new ones, the least recently used first.
    for size in (2048, 4096, 8192):
        small_buffers.empty((size,), np.uint8)
    assert [buffer.nbytes for buffer in small_buffers._kept] == [4096, 8192]


@pytest.mark.parametrize("loss", ["ranking", "hinge"])
def test_results_kept_by_the_caller_are_never_overwritten(small_buffers, loss):
    function = {
        "ranking": fastmargin.multilabel_margin_loss_and_grad,
        "hinge": fastmargin.multilabel_hinge_loss_and_grad,
    }[loss]
    rng = np.random.default_rng(0)
    target = np.array([[0, 3, -1], [1, -1, -1], [2, 5, 7], [4, -1, -1]])
    batches = [rng.standard_normal((4, 64)) for _ in range(4)]
    kept = []
    for scores in batches:
        _, grad = function(scores, target)
        kept.append((grad, grad.copy()))
        _, again = function(scores, target)  # reuses a free buffer at most
        assert not np.shares_memory(again, grad)
    for grad, copy in kept:
        assert np.array_equal(grad, copy)
    addresses = {address(grad) for grad, _ in kept}
    assert len(addresses) == len(kept)


def test_concurrent_calls_get_their_own_buffers(small_buffers):
    """Threads with different inputs: a buffer handed to two calls at once
    would mix their gradients."""
    rng = np.random.default_rng(1)
    target = rng.integers(0, 256, (8, 4))
    inputs = [rng.standard_normal((8, 256)) for _ in range(4)]
    expected = [fastmargin.multilabel_margin_loss_grad(x, target).copy() for x in inputs]
    failures = []

    def work(scores, wanted):
        for _ in range(50):
            grad = fastmargin.multilabel_margin_loss_grad(scores, target)
            if not np.array_equal(grad, wanted):
                failures.append(grad.copy())

    threads = [threading.Thread(target=work, args=pair) for pair in zip(inputs, expected)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
