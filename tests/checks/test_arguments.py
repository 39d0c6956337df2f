"""Arguments checked once, at the front door, whatever object the caller
passes: ``out`` against the arrays the kernels read, numbers too large for a
float, ragged nested sequences, corrupted scipy.sparse matrices, 0-D input.

Each case here was found by stress testing, where the call gave a wrong
answer silently or raised an error that named no argument. Inputs are
small: this file also runs with NUMBA_DISABLE_JIT=1.
"""

import re

import numpy as np
import pytest
import scipy.sparse
import torch

from fastmargin import (
    AdaptiveMargins,
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
)

LOSSES = (multilabel_margin_loss, multilabel_hinge_loss)
FUSED = (multilabel_margin_loss_and_grad, multilabel_hinge_loss_and_grad)
SCORES = np.random.default_rng(0).standard_normal((4, 6))
TARGET = np.array([[0, 3, -1], [1, -1, -1], [2, 4, 5], [5, -1, -1]])


def as_memoryview(array):
    return memoryview(array)


@pytest.mark.parametrize("function", FUSED)
@pytest.mark.parametrize(
    "wrap", [torch.from_numpy, as_memoryview], ids=["tensor", "memoryview"]
)
def test_out_sharing_memory_with_a_non_ndarray_input_is_refused(function, wrap):
    """Regression: the overlap check ran only for an ``np.ndarray`` input,
    so ``out`` over the memory of a tensor or memoryview input was written
    while the kernel read it (loss 0.6594 instead of 0.9101 for the
    ranking loss)."""
    buffer = SCORES.copy()
    with pytest.raises(ValueError, match="out must not share memory with input"):
        function(wrap(buffer), TARGET, out=buffer)
    np.testing.assert_array_equal(buffer, SCORES)  # nothing written
    # A separate out gives the ndarray call's results.
    expected = function(SCORES, TARGET)
    result = function(wrap(SCORES.copy()), TARGET, out=np.empty_like(SCORES))
    np.testing.assert_array_equal(result[0], expected[0])
    np.testing.assert_array_equal(result[1], expected[1])


@pytest.mark.parametrize("function", FUSED)
def test_out_sharing_memory_with_a_tensor_target_is_refused(function):
    shared = np.zeros((4, 6))
    indices = shared.view(np.int64)  # (4, 6) padded rows, read in place
    indices[:] = -1
    indices[:, :3] = TARGET
    with pytest.raises(ValueError, match="out must not share memory with target"):
        function(SCORES, torch.from_numpy(indices), out=shared)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: AdaptiveMargins(3, rate=10**400), "rate"),
        (lambda: AdaptiveMargins(3, rate=-(10**400)), "rate"),
        (lambda: AdaptiveMargins(3, bounds=(0.5, 10**400)), r"bounds\[1\]"),
        (lambda: AdaptiveMargins(3, bounds=(-(10**400), 2.0)), r"bounds\[0\]"),
        (lambda: AdaptiveMargins(3, initial=10**400), "initial"),
        (lambda: multilabel_margin_loss(SCORES, TARGET, margin=10**400), "margin"),
        (lambda: multilabel_hinge_loss(SCORES, TARGET, margin=-(10**400)), "margin"),
    ],
)
def test_an_int_too_large_for_a_float_is_a_value_error_naming_the_argument(call, name):
    """Regression: ``float(10**400)`` raised OverflowError."""
    with pytest.raises(ValueError, match=rf"^{name} must be finite in float64, got an int of"):
        call()


@pytest.mark.parametrize("function", LOSSES + FUSED)
def test_ragged_nested_sequences_name_the_argument(function):
    """Regression: NumPy's "inhomogeneous shape" error surfaced as is."""
    with pytest.raises(ValueError, match="^input is a ragged nested sequence"):
        function([[0.5, 1.0, 2.0], [1.0]], [[0], [1]])
    # Ragged target rows are label lists (issue 12's label formats), except
    # where an indicator is asked for.
    with pytest.raises(ValueError, match="^target is a ragged nested sequence"):
        function(SCORES[:2], [[0, 3], [1]], target_format="indicator")
    if function in FUSED:
        with pytest.raises(ValueError, match="^grad_output is a ragged nested sequence"):
            function(SCORES[:2], [[0], [1]], reduction="none", grad_output=[[1.0], [1.0, 2.0]])
    if function in (multilabel_hinge_loss, multilabel_hinge_loss_and_grad):
        with pytest.raises(ValueError, match="^margin is a ragged nested sequence"):
            function(SCORES[:2], [[0], [1]], margin=[[1.0], [1.0, 2.0]])


def sparse_labels(form="csr"):
    indicator = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], bool)
    return scipy.sparse.csr_array(indicator).asformat(form)


def corrupted(form, part, change):
    matrix = sparse_labels(form)
    array = getattr(matrix, part).copy()
    setattr(matrix, part, change(array))
    return matrix


def _set(position, value):
    def change(array):
        array[position] = value
        return array

    return change


@pytest.mark.parametrize("function", LOSSES)
@pytest.mark.parametrize(
    "matrix, error, message",
    [
        (corrupted("csr", "indptr", lambda a: a[:-1]), ValueError, "indptr has 3 entries"),
        (corrupted("csc", "indptr", lambda a: a[:-1]), ValueError, "indptr has 4 entries"),
        (corrupted("csr", "indptr", _set(1, -3)), ValueError, "never decrease"),
        (corrupted("csr", "indptr", _set(2, 0)), ValueError, "never decrease"),
        (corrupted("csr", "indptr", _set(0, 1)), ValueError, "start at 0"),
        (corrupted("csr", "indptr", _set(-1, 99)), ValueError, "end at most at 4"),
        (corrupted("csc", "indices", _set(0, 7)), ValueError, r"outside \[0, 3\)"),
        (corrupted("csr", "indices", _set(0, 7)), ValueError, "column index 7"),
        (corrupted("csr", "indices", lambda a: a.astype(np.float64)), TypeError, "integer"),
    ],
)
def test_corrupted_sparse_internals_are_refused(function, matrix, error, message):
    """Regression: a short indptr read out of bounds (an IndexError with a
    varying index) and a decreasing one gave scipy's RuntimeError."""
    with pytest.raises(error, match=message):
        function(np.zeros((3, 4)), matrix)


@pytest.mark.parametrize("function", LOSSES)
@pytest.mark.parametrize("byte_order", [">i4", ">i8", "<i4"])
def test_sparse_index_arrays_of_any_byte_order_and_width(function, byte_order):
    expected = function(np.zeros((3, 4)), sparse_labels())
    for part in ("indices", "indptr"):
        matrix = corrupted("csr", part, lambda a: a.astype(byte_order))
        assert function(np.zeros((3, 4)), matrix) == expected


@pytest.mark.parametrize("function", LOSSES + FUSED)
def test_a_0d_input_is_refused_with_the_shapes_it_takes(function):
    with pytest.raises(ValueError, match=r"input must have shape \(C,\) or \(N, C\), got 0-D"):
        function(np.float64(0.3), np.int64(0))


@pytest.mark.parametrize("function", LOSSES)
@pytest.mark.parametrize("normalize", [1, 0, "no", None, np.float64(1.0)])
def test_normalize_must_be_a_bool(function, normalize):
    message = re.escape(f"normalize must be True or False, got {normalize!r}")
    with pytest.raises(TypeError, match=message):
        function(SCORES, TARGET, normalize=normalize)
    # np.bool_ is a bool.
    assert function(SCORES, TARGET, normalize=np.True_) == function(SCORES, TARGET)
