"""``out=`` of every gradient function (both losses): where the gradient
goes, what it may not overlap, and the errors for one that does not fit.

Every input here is small: this file also runs with NUMBA_DISABLE_JIT=1
(see runtime/test_threads_and_nojit.py), where the kernels are plain Python.
"""

import numpy as np
import pytest
import scipy.sparse

from fastmargin import (
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

REDUCTIONS = ("none", "mean", "sum")
FLOAT_DTYPES = (np.float32, np.float64)
GRAD_FUNCTIONS = (
    multilabel_hinge_loss_grad,
    multilabel_hinge_loss_and_grad,
    multilabel_margin_loss_grad,
    multilabel_margin_loss_and_grad,
)


def out_cases():
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((4, 6))
    target = np.array([[0, 3, -1], [5, -1, 9], [1, 1, 2], [-1, -1, -1]])
    return scores, target


@pytest.mark.parametrize("function", GRAD_FUNCTIONS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_out_receives_the_gradient_whatever_it_held(function, dtype):
    scores, target = out_cases()
    scores = scores.astype(dtype)
    for reduction in REDUCTIONS:
        grad_output = np.arange(4.0) - 1 if reduction == "none" else 0.5
        expected = function(scores, target, reduction=reduction, grad_output=grad_output)
        expected_grad = expected[1] if isinstance(expected, tuple) else expected
        for fill in (np.nan, np.inf, 7.0):
            out = np.full(scores.shape, fill, dtype=dtype)
            result = function(
                scores, target, reduction=reduction, grad_output=grad_output, out=out
            )
            grad = result[1] if isinstance(result, tuple) else result
            assert grad is out
            assert np.array_equal(out, expected_grad)
            if isinstance(result, tuple):
                assert np.array_equal(result[0], expected[0])
    # 1-D input: out of shape (C,).
    out = np.full(6, np.nan, dtype=dtype)
    result = function(scores[2], target[2], out=out)
    grad = result[1] if isinstance(result, tuple) else result
    assert grad is out
    expected = function(scores[2], target[2])
    assert np.array_equal(out, expected[1] if isinstance(expected, tuple) else expected)
    # Empty batch.
    out = np.empty((0, 6), dtype=dtype)
    result = function(scores[:0], target[:0], out=out)
    assert (result[1] if isinstance(result, tuple) else result) is out


@pytest.mark.parametrize("function", GRAD_FUNCTIONS)
def test_out_errors(function):
    scores, target = out_cases()

    def call(out, **kwargs):
        return function(scores, target, out=out, **kwargs)

    for out in (
        np.empty((6, 4)),
        np.empty((4, 6, 1)),
        np.empty(24),
        np.empty((4, 6), np.float32),
        np.empty((4, 6), np.int64),
    ):
        with pytest.raises(ValueError, match="out must have the gradient's shape"):
            call(out)
    read_only = np.empty((4, 6))
    read_only.setflags(write=False)
    for out in (np.asfortranarray(np.empty((4, 6))), np.empty((4, 12))[:, ::2], read_only):
        with pytest.raises(ValueError, match="out must be C-contiguous and writeable"):
            call(out)
    for out in (np.empty((4, 6)).tolist(), memoryview(np.empty((4, 6)))):
        with pytest.raises(TypeError, match="out must be a NumPy array"):
            call(out)
    # Overlap with the input, the target or grad_output.
    with pytest.raises(ValueError, match="out must not share memory with input"):
        function(scores, target, out=scores)
    buffer = np.zeros(24)
    view = buffer.reshape(4, 6)
    with pytest.raises(ValueError, match="out must not share memory with input"):
        function(buffer[::-1].reshape(4, 6), target, out=view)
    shared = np.zeros((4, 6))
    as_target = shared.view(np.int64)[:, :3]
    as_target[:] = target
    with pytest.raises(ValueError, match="out must not share memory with target"):
        function(scores, as_target, out=shared)
    weights = np.zeros(30)
    with pytest.raises(ValueError, match="out must not share memory with grad_output"):
        function(
            scores,
            target,
            reduction="none",
            grad_output=weights[20:24],
            out=weights[:24].reshape(4, 6),
        )
    # Nothing was written to a refused out.
    marked = np.full((4, 6), 3.0)
    with pytest.raises(ValueError):
        function(scores, target, reduction="none", grad_output=marked[0, :4], out=marked)
    assert np.all(marked == 3.0)


@pytest.mark.parametrize("function", GRAD_FUNCTIONS)
def test_out_sharing_a_sparse_targets_values_is_refused(function):
    # out must not share memory with the target, a sparse one included:
    # writing the gradient there would change the caller's matrix.
    scores = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]])
    matrix = scipy.sparse.csr_matrix(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    out = matrix.data.reshape(2, 3)
    assert np.shares_memory(out, matrix.data)
    try:
        function(scores, matrix, out=out)
    except ValueError as error:
        assert "out must not share memory" in str(error)
    assert np.array_equal(matrix.data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), matrix.data
