"""Edge cases and errors of the per-label hinge loss (``out=`` of both
losses: checks/test_out.py).

Every input here is small: this file also runs with NUMBA_DISABLE_JIT=1
(see runtime/test_threads_and_nojit.py), where the kernels are plain Python.
"""

import contextlib
import os
import re

import naive
import numpy as np
import pytest
import scipy.sparse

from fastmargin import (
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
)

NOJIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
REDUCTIONS = ("none", "mean", "sum")
FLOAT_DTYPES = (np.float32, np.float64)
FUNCTIONS = (
    multilabel_hinge_loss,
    multilabel_hinge_loss_grad,
    multilabel_hinge_loss_and_grad,
)


def nonfinite_context():
    """Uncompiled kernels do their arithmetic on NumPy scalars, which warn
    about overflow and inf * 0; compiled kernels never warn."""
    if NOJIT:
        return np.errstate(invalid="ignore", over="ignore")
    return contextlib.nullcontext()


def loss_and_grad(scores, target, **kwargs):
    with nonfinite_context():
        return multilabel_hinge_loss_and_grad(scores, target, **kwargs)


def reference(
    scores, indicator, margin=1.0, squared=False, reduction="none", grad_output=None
):
    with np.errstate(invalid="ignore", over="ignore"):
        return naive.hinge_loss_and_grad(
            scores, indicator, margin, squared, reduction, grad_output
        )


def assert_matches_reference(scores, target, indicator, rtol=1e-12, **kwargs):
    loss, grad = loss_and_grad(scores, target, **kwargs)
    expected_loss, expected_grad = reference(
        scores,
        indicator,
        kwargs.get("margin", 1.0),
        kwargs.get("squared", False),
        kwargs.get("reduction", "mean"),
        kwargs.get("grad_output"),
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=0)
    return loss, grad


# --------------------------------------------------------------------------
# Rows without labels, with every label, duplicates, one class


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_rows_without_labels_and_rows_with_every_label(dtype, squared):
    scores = np.array([[0.5, -2.0, 0.25, -1.0], [0.5, -2.0, 0.25, -1.0]], dtype=dtype)
    # Row 0: no labels, z = 1 + x = [1.5, -1, 1.25, 0]:
    #   plain 2.75 / 4, squared (2.25 + 1.5625) / 4; slopes +1 (x2 * z if
    #   squared) at classes 0 and 2, 0 at 1 and at the kink z = 0 (class 3).
    # Row 1: every label, z = 1 - x = [0.5, 3, 0.75, 2]:
    #   plain 6.25 / 4, squared (0.25 + 9 + 0.5625 + 4) / 4; slopes -1 (-2z).
    target = np.array([[-1, 3, 0], [3, 1, 0]])
    target_full = np.array([[-1, -1, -1, -1], [2, 1, 0, 3]])
    for t in (target_full, np.array([[False] * 4, [True] * 4])):
        loss, grad = loss_and_grad(scores, t, squared=squared, reduction="none")
        if squared:
            np.testing.assert_allclose(loss, [3.8125 / 4, 13.8125 / 4], rtol=1e-7)
            np.testing.assert_allclose(
                grad, [[3 / 4, 0, 2.5 / 4, 0], [-1 / 4, -6 / 4, -1.5 / 4, -4 / 4]], rtol=1e-7
            )
        else:
            np.testing.assert_allclose(loss, [2.75 / 4, 6.25 / 4], rtol=1e-7)
            np.testing.assert_allclose(grad, [[1, 0, 1, 0], [-1, -1, -1, -1]] / np.float64(4))
    # An empty row in padded form (first entry -1) and a row of 0 width.
    loss = multilabel_hinge_loss(scores, target, reduction="none")
    assert loss[0] == multilabel_hinge_loss(scores[0], np.zeros(0, np.int64))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_duplicated_indices_are_one_label(dtype):
    rng = np.random.default_rng(1)
    scores = (rng.integers(-8, 9, size=(3, 6)) / 4).astype(dtype)
    once = np.array([[2, 4, -1, -1, -1, -1], [0, -1, 0, 0, 0, 0], [5, 1, 3, -1, 9, 9]])
    repeated = np.array([[2, 4, 2, 2, 4, -1], [0, 0, 0, 0, 0, 0], [5, 5, 1, 3, 1, -1]])
    for squared in (False, True):
        for reduction in REDUCTIONS:
            a = loss_and_grad(scores, once, squared=squared, reduction=reduction)
            b = loss_and_grad(scores, repeated, squared=squared, reduction=reduction)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert_matches_reference(
        scores, repeated, naive.labels_indicator(once, 6), rtol=1e-6, reduction="none"
    )


@pytest.mark.parametrize("squared", [False, True])
def test_one_class(squared):
    scores = np.array([[0.5], [-3.0], [2.0], [1.0]])
    target = np.array([[0], [-1], [0], [-1]])
    indicator = target >= 0
    for reduction in REDUCTIONS:
        loss, grad = assert_matches_reference(
            scores, target, indicator, squared=squared, reduction=reduction
        )
        assert grad.shape == (4, 1)
    # Row by row: z = 1 - 0.5 = 0.5, 1 + (-3) = -2 -> 0, 1 - 2 = -1 -> 0,
    # 1 + 1 = 2.
    loss = multilabel_hinge_loss(scores, indicator, squared=squared, reduction="none")
    np.testing.assert_array_equal(loss, [0.25, 0, 0, 4] if squared else [0.5, 0, 0, 2])
    # 1-D, one class: bool form (the integer [0] warns that it looks like an
    # indicator, tested in targets/test_forms.py).
    loss, grad = loss_and_grad(np.array([0.5]), np.array([True]))
    assert loss == 0.5 and grad.shape == (1,) and grad[0] == -1.0


# --------------------------------------------------------------------------
# NaN and infinities


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("on_label", [True, False])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_nan_score_makes_its_row_loss_and_its_own_gradient_nan(dtype, on_label, squared):
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((3, 8)).astype(dtype)
    indicator = np.zeros((3, 8), bool)
    indicator[:, :3] = True
    scores[1, 1 if on_label else 6] = np.nan
    nan_at = (1, 1 if on_label else 6)
    for reduction in REDUCTIONS:
        loss, grad = loss_and_grad(scores, indicator, squared=squared, reduction=reduction)
        if reduction == "none":
            assert np.isnan(loss[1]) and np.all(np.isfinite(loss[[0, 2]]))
        else:
            assert np.isnan(loss)
        assert np.isnan(grad[nan_at])
        others = np.ones(grad.shape, bool)
        others[nan_at] = False
        assert np.all(np.isfinite(grad[others]))
    # The other entries are exactly those without the NaN.
    clean = scores.copy()
    clean[nan_at] = 0.0
    grad_clean = loss_and_grad(clean, indicator, squared=squared, reduction="none")[1]
    grad = loss_and_grad(scores, indicator, squared=squared, reduction="none")[1]
    assert np.array_equal(grad[others], grad_clean[others])
    assert_matches_reference(
        scores, indicator, indicator, rtol=1e-6, squared=squared, reduction="none"
    )


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_infinite_scores(dtype, squared):
    scores = np.zeros((5, 4), dtype=dtype)
    indicator = np.zeros((5, 4), bool)
    indicator[:, 0] = True
    scores[0, 0] = -np.inf  # a label scored -inf: z = +inf
    scores[1, 2] = np.inf  # a non-label scored +inf: z = +inf
    scores[2, 0] = np.inf  # a label scored +inf: z = -inf, no loss
    scores[3, 2] = -np.inf  # a non-label scored -inf: z = -inf, no loss
    for reduction in REDUCTIONS:
        loss, grad = assert_matches_reference(
            scores, indicator, indicator, rtol=1e-6, squared=squared, reduction=reduction
        )
        if reduction == "none":
            assert np.isposinf(loss[0]) and np.isposinf(loss[1])
            assert np.all(np.isfinite(loss[2:]))
        else:
            assert np.isposinf(loss)
        assert not np.any(np.isnan(grad))
    loss, grad = loss_and_grad(scores, indicator, squared=squared, reduction="sum")
    # Row 2 and 3: the infinite entries lie beyond the margin: slope 0.
    assert grad[2, 0] == 0 and grad[3, 2] == 0
    if squared:  # slope 2z is infinite where z is
        assert np.isneginf(grad[0, 0]) and np.isposinf(grad[1, 2])
    else:  # slope -s / C: finite
        assert grad[0, 0] == -0.25 and grad[1, 2] == 0.25
        assert np.all(np.isfinite(grad))


def test_float32_overflow_of_margin_plus_score_is_infinite():
    # z = 3e38 + 3e38 overflows to +inf in float32 (the scores' dtype).
    scores = np.array([[3e38, 0.0]], dtype=np.float32)
    loss, grad = loss_and_grad(scores, np.array([[1]]), margin=3e38, reduction="none")
    assert np.isposinf(loss[0]) and grad[0, 0] == np.float32(0.5)
    assert_matches_reference(
        scores,
        np.array([[False, True]]),
        np.array([[False, True]]),
        rtol=1e-6,
        margin=3e38,
        reduction="none",
    )


# --------------------------------------------------------------------------
# Empty batch and shapes


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_empty_batch(dtype, squared):
    scores = np.empty((0, 5), dtype=dtype)
    for target in (
        np.empty((0, 3), np.int64),
        np.empty((0, 5), bool),
        scipy.sparse.csr_matrix((0, 5)),
        scipy.sparse.coo_array((0, 5)),
    ):
        mean = multilabel_hinge_loss(scores, target, squared=squared)
        assert isinstance(mean, dtype) and np.isnan(mean)
        total = multilabel_hinge_loss(scores, target, squared=squared, reduction="sum")
        assert isinstance(total, dtype) and total == 0
        none = multilabel_hinge_loss(scores, target, squared=squared, reduction="none")
        assert none.shape == (0,) and none.dtype == dtype
        for reduction in REDUCTIONS:
            grad = multilabel_hinge_loss_grad(scores, target, reduction=reduction)
            assert grad.shape == (0, 5) and grad.dtype == dtype
        loss, grad = multilabel_hinge_loss_and_grad(
            scores, target, margin=np.arange(5.0), reduction="none", grad_output=np.empty(0)
        )
        assert loss.shape == (0,) and grad.shape == (0, 5)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.float16, np.bool_])
def test_other_real_input_dtypes_are_converted_to_float64(dtype):
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 3, size=(3, 5))
    scores = raw.astype(dtype)
    indicator = rng.random((3, 5)) < 0.5
    loss, grad = assert_matches_reference(scores, indicator, indicator, reduction="none")
    assert loss.dtype == np.float64 and grad.dtype == np.float64
    # Lists are accepted too.
    loss_list, grad_list = loss_and_grad(raw.tolist(), indicator.tolist(), reduction="none")
    expected = loss_and_grad(raw.astype(float), indicator, reduction="none")
    assert np.array_equal(loss_list, expected[0]) and np.array_equal(grad_list, expected[1])


def test_junk_after_the_first_minus_one_is_never_read():
    scores = np.array([[0.5, -0.25, 1.0], [2.0, 0.0, -1.0]])
    target = np.array([[1, -1, 999, -7], [-1, 2**40, -2, 5]])
    clean = np.array([[1, -1, -1, -1], [-1, -1, -1, -1]])
    for reduction in REDUCTIONS:
        a = loss_and_grad(scores, target, reduction=reduction)
        b = loss_and_grad(scores, clean, reduction=reduction)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# --------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("bad", [7, -2, 100])
@pytest.mark.parametrize("target_dtype", [np.int32, np.int64])
def test_out_of_range_padded_index_names_row_and_value(function, bad, target_dtype):
    scores = np.zeros((3, 7))
    target = np.array([[0, 1, -1, 2], [3, 4, 5, 6], [6, -1, 99, -5]], dtype=target_dtype)
    target[1, 2] = bad
    with pytest.raises(ValueError, match=rf"target\[1, 2\] = {bad}\b"):
        function(scores, target)
    with pytest.raises(ValueError, match=rf"target\[2\] = {bad}\b"):
        function(scores[0], target[1])
    # The first bad row is reported.
    target[2, 0] = 8
    with pytest.raises(ValueError, match=rf"target\[1, 2\] = {bad}\b"):
        function(scores, target)


def test_huge_padded_values_are_errors():
    scores = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"target\[0, 0\] = 9223372036854775807\b"):
        multilabel_hinge_loss(scores[:1], np.array([[np.iinfo(np.int64).max]]))
    target = np.array([[0, 1], [2**64 - 1, 0]], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"target\[1, 0\] = 18446744073709551615"):
        multilabel_hinge_loss(scores, target)
    with pytest.raises(ValueError, match=r"target\[0, 1\] = 255\b"):
        multilabel_hinge_loss(scores[:1], np.array([[0, 255]], dtype=np.uint8))


@pytest.mark.parametrize(
    "function", FUNCTIONS + (multilabel_margin_loss, multilabel_margin_loss_and_grad)
)
@pytest.mark.parametrize("bad", [4, 5, -1, -3])
@pytest.mark.parametrize("cls", [scipy.sparse.csr_matrix, scipy.sparse.csr_array])
def test_out_of_range_sparse_index_names_row_and_value(function, bad, cls):
    # scipy's raw (data, indices, indptr) constructor does not check the
    # column indices; fastmargin must, naming the row and the value.
    indices = np.array([0, 2, 1, bad, 3], dtype=np.int32)
    indptr = np.array([0, 2, 2, 5], dtype=np.int32)
    matrix = cls((np.ones(5), indices, indptr), shape=(3, 4))
    assert matrix.indices[3] == bad  # scipy kept it
    value = rf"(?<![\d-]){re.escape(str(bad))}(?!\d)"
    with pytest.raises(ValueError, match=rf"row 2\b.*{value}.*outside \[0, 4\)"):
        function(np.zeros((3, 4)), matrix)
    # A COO with an index past the shape is refused by scipy itself.
    with pytest.raises(ValueError):
        scipy.sparse.coo_matrix(([1.0], ([0], [4])), shape=(3, 4))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_float_targets_are_indicators_when_all_zero_or_one(function):
    """Multi-hot float targets (PyTorch's BCEWithLogitsLoss, Keras' y_true)
    are indicators; any other float is a TypeError that says why."""
    scores = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]])
    labels = np.array([[1, 0, 1], [0, 0, 1]])
    expected = function(scores, labels.astype(bool))
    for dtype in (np.float16, np.float32, np.float64):
        result = function(scores, labels.astype(dtype))
        pairs = zip(result, expected) if isinstance(result, tuple) else [(result, expected)]
        for got, want in pairs:
            np.testing.assert_array_equal(got, want)
    for target in ([[0.5, 1, 0], [0, 0, 1]], labels * 2.0, np.where(labels, np.nan, 0.0)):
        with pytest.raises(TypeError, match="every value must be 0 or 1"):
            function(scores, target)
    with pytest.raises(ValueError, match="indicator target must have the input's shape"):
        function(scores, labels[:, :2].astype(float))
    for target in (np.array([["0", "1", "0"]] * 2), np.array([[1 + 0j] * 3] * 2)):
        with pytest.raises(TypeError, match="target"):
            function(scores, target)


@pytest.mark.parametrize("function", FUNCTIONS + (multilabel_margin_loss,))
def test_target_shape_errors(function):
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"indicator target must have the input's shape"):
        function(scores, np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"indicator target must have the input's shape"):
        function(scores, np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match=r"indicator target must have the input's shape"):
        function(scores[0], np.zeros((1, 3), bool))
    for shape in ((2, 4), (3, 3), (1, 3)):
        with pytest.raises(ValueError, match=r"sparse target must have shape \(N, C\)"):
            function(scores, scipy.sparse.csr_matrix(shape))
    with pytest.raises(ValueError, match="target has 3 rows but input has 2 samples"):
        function(scores, np.zeros((3, 1), np.int64))
    with pytest.raises(ValueError, match=r"target must have shape \(N, K\)"):
        function(scores, np.zeros(2, np.int64))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_margin_errors(function):
    scores = np.zeros((2, 3))
    target = np.array([[0], [1]])
    for margin in (np.ones(2), np.ones(4), np.ones((1, 3)), [1.0, 2.0]):
        with pytest.raises(ValueError, match=r"margin must be a scalar or have shape \(C,\)"):
            function(scores, target, margin=margin)
    for margin in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="margin must be finite"):
            function(scores, target, margin=margin)
    for margin in ([1.0, np.nan, 1.0], np.array([0.5, 1.0, np.inf]), [-np.inf, 0, 0]):
        with pytest.raises(ValueError, match=r"margin\[[0-2]\] = .* is not finite"):
            function(scores, target, margin=margin)
    with pytest.raises(ValueError, match=r"margin\[1\] = .*float32"):
        function(scores.astype(np.float32), target, margin=[1.0, 1e39, 1.0])
    with pytest.raises(ValueError, match="finite in the scores' dtype float32"):
        function(scores.astype(np.float32), target, margin=1e39)
    for margin in ("1", b"1", 1 + 2j, True, np.bool_(False), None, object()):
        with pytest.raises(TypeError, match="margin must be a real number"):
            function(scores, target, margin=margin)
    for margin in (
        np.array([1 + 0j] * 3),
        np.array(["a"] * 3),
        np.array([True] * 3),
        np.array([1, "a", None], dtype=object),
    ):
        with pytest.raises(TypeError, match="margin must hold real numbers"):
            function(scores, target, margin=margin)
    # Accepted: 1e39 for float64 scores, integers, NumPy scalars, 0-d arrays,
    # float32 and integer per-label arrays, lists.
    expected = multilabel_hinge_loss(scores, target, margin=2.0)
    for margin in (
        2,
        np.float32(2),
        np.array(2),
        np.int8(2),
        [2, 2, 2],
        np.full(3, 2.0, np.float32),
    ):
        assert multilabel_hinge_loss(scores, target, margin=margin) == expected
    function(scores, target, margin=1e39)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_squared_must_be_a_bool(function):
    scores = np.zeros((2, 3))
    target = np.array([[0], [1]])
    for squared in (1, 0, "yes", None, 1.0, np.array(True), [True]):
        with pytest.raises(TypeError, match="squared must be True or False"):
            function(scores, target, squared=squared)
    # NumPy booleans are accepted and mean what Python's do.
    for flag in (False, True):
        got = function(scores, target, squared=np.bool_(flag))
        expected = function(scores, target, squared=flag)
        for a, b in zip(
            got if isinstance(got, tuple) else (got,),
            expected if isinstance(expected, tuple) else (expected,),
            strict=True,
        ):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_reduction_input_and_grad_output_errors(function):
    scores = np.zeros((2, 3))
    target = np.array([[0], [1]])
    for reduction in ("avg", "Mean", "", None):
        with pytest.raises(ValueError, match="reduction"):
            function(scores, target, reduction=reduction)
    for bad_scores in (np.zeros((2, 3), np.complex128), np.array([["a", "b", "c"]] * 2)):
        with pytest.raises(TypeError, match="input must hold real scores"):
            function(bad_scores, target)
    for bad_scores, bad_target in (
        (np.zeros((2, 0)), np.zeros((2, 0), np.int64)),
        (np.zeros(0), np.zeros(0, np.int64)),
    ):
        with pytest.raises(ValueError, match="at least one class"):
            function(bad_scores, bad_target)
    with pytest.raises(ValueError, match=r"input must have shape \(C,\) or \(N, C\)"):
        function(np.zeros((2, 3, 1)), target)
    if function is multilabel_hinge_loss:
        return
    for bad in (1.0, np.ones(3), np.ones((2, 1))):
        with pytest.raises(ValueError, match=r"grad_output must have shape \(2,\)"):
            function(scores, target, reduction="none", grad_output=bad)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(\)"):
        function(scores, target, reduction="sum", grad_output=np.ones(2))
    with pytest.raises(TypeError, match="grad_output must hold real numbers"):
        function(scores, target, reduction="none", grad_output=["a", "b"])


def test_grad_output_chains():
    rng = np.random.default_rng(4)
    scores = rng.integers(-8, 9, size=(4, 5)) / 4
    indicator = rng.random((4, 5)) < 0.5
    weights = np.array([1.0, -2.0, 0.5, 0.0])
    for squared in (False, True):
        _, grad_none = loss_and_grad(
            scores, indicator, squared=squared, reduction="none", grad_output=weights
        )
        _, grad_ones = loss_and_grad(scores, indicator, squared=squared, reduction="none")
        np.testing.assert_allclose(grad_none, grad_ones * weights[:, None], rtol=1e-15)
        _, grad_sum = loss_and_grad(
            scores, indicator, squared=squared, reduction="sum", grad_output=-3
        )
        _, grad_mean = loss_and_grad(
            scores, indicator, squared=squared, reduction="mean", grad_output=-3
        )
        np.testing.assert_allclose(grad_sum, -3 * grad_ones, rtol=1e-15)
        np.testing.assert_allclose(grad_mean, -3 * grad_ones / 4, rtol=1e-15)
