"""Edge cases, errors and input handling of the ranking margin loss.

Every input here is small: this file also runs with NUMBA_DISABLE_JIT=1
(see runtime/test_threads_and_nojit.py), where the kernels are plain Python.
"""

import contextlib
import os

import naive
import numpy as np
import pytest

from fastmargin import (
    multilabel_hinge_loss,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

NOJIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
REDUCTIONS = ("none", "mean", "sum")
FLOAT_DTYPES = (np.float32, np.float64)
FUNCTIONS = (
    multilabel_margin_loss,
    multilabel_margin_loss_grad,
    multilabel_margin_loss_and_grad,
)


def nonfinite_context():
    """Silence NumPy's RuntimeWarnings about inf - inf where kernels run as Python.

    Compiled kernels never warn; uncompiled (NUMBA_DISABLE_JIT=1) they do the
    same arithmetic on NumPy scalars, which warns and, with
    filterwarnings=error, would raise. The front end is still checked strictly
    in ordinary runs.
    """
    if NOJIT:
        return np.errstate(invalid="ignore", over="ignore")
    return contextlib.nullcontext()


def reference(scores, target, margin=1.0, reduction="none", grad_output=None):
    # inf - inf and overflow in the reference are intended
    with np.errstate(invalid="ignore", over="ignore"):
        return naive.ranking_loss_and_grad(scores, target, margin, reduction, grad_output)


def loss_and_grad(scores, target, **kwargs):
    with nonfinite_context():
        return multilabel_margin_loss_and_grad(scores, target, **kwargs)


def random_case(seed=0, n_rows=4, n_classes=6, width=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    width = n_classes if width is None else width
    scores = rng.standard_normal((n_rows, n_classes)).astype(dtype)
    target = np.full((n_rows, width), -1, dtype=np.int64)
    for row in range(n_rows):
        n_used = int(rng.integers(0, min(width, n_classes) + 1))
        target[row, :n_used] = rng.integers(0, n_classes, size=n_used)
    return scores, target


def assert_matches_reference(scores, target, rtol=1e-12, **kwargs):
    loss, grad = loss_and_grad(scores, target, **kwargs)
    expected_loss, expected_grad = reference(
        scores,
        target,
        kwargs.get("margin", 1.0),
        kwargs.get("reduction", "mean"),
        kwargs.get("grad_output"),
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=0)
    return loss, grad


# --------------------------------------------------------------------------
# Rows without pairs


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_empty_rows_have_zero_loss_and_gradient(dtype):
    scores = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, 4.0], [0.0, 1.0, 2.0]], dtype=dtype)
    target = np.array([[-1, 2, 1], [-1, -1, -1], [0, -1, 5]])
    loss, grad = loss_and_grad(scores, target, reduction="none")
    np.testing.assert_array_equal(loss[:2], [0.0, 0.0])
    np.testing.assert_array_equal(grad[:2], 0.0)
    assert loss[2] > 0  # row 2 has a target and a violated non-target


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_width_target_gives_zero(reduction):
    scores = np.array([[1.0, 2.0, 3.0], [4.0, -1.0, 0.0]])
    loss, grad = loss_and_grad(scores, np.empty((2, 0), dtype=np.int64), reduction=reduction)
    np.testing.assert_array_equal(loss, np.zeros(2) if reduction == "none" else 0.0)
    np.testing.assert_array_equal(grad, np.zeros((2, 3)))
    loss_1d, grad_1d = loss_and_grad(
        scores[0], np.empty(0, dtype=np.int32), reduction=reduction
    )
    assert loss_1d == 0.0
    np.testing.assert_array_equal(grad_1d, np.zeros(3))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_all_classes_targets_gives_zero(dtype):
    scores = np.array([[5.0, -5.0, 0.0, 1.0], [3.0, 2.0, 1.0, 0.0]], dtype=dtype)
    # Row 0 every class once; row 1 every class, some several times.
    target = np.array([[3, 1, 0, 2, -1, 9], [0, 1, 1, 2, 3, 0]])
    loss, grad = loss_and_grad(scores, target, reduction="none")
    np.testing.assert_array_equal(loss, [0.0, 0.0])
    np.testing.assert_array_equal(grad, np.zeros((2, 4)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_rows_without_violations_are_exactly_zero(dtype):
    # Non-targets lie more than a margin below every target, so no pair term
    # is positive: the loss and gradient must be exactly 0 (never a rounding
    # residue, never negative), whatever the number of targets.
    rng = np.random.default_rng(15)
    n_rows, n_classes = 24, 26
    scores = rng.uniform(0.0, 1.0, size=(n_rows, n_classes))
    target = np.full((n_rows, n_classes), -1)
    for row in range(n_rows):
        n_used = row + 1
        used = rng.choice(n_classes, size=n_used, replace=False)
        target[row, :n_used] = used
        others = np.setdiff1d(np.arange(n_classes), used)
        scores[row, others] = rng.uniform(-3.0, -2.0, size=others.size)
    scores = scores.astype(dtype)
    for margin in (0.3, 0.40691048135229924, 1.0):
        loss, grad = loss_and_grad(scores, target, margin=margin, reduction="none")
        np.testing.assert_array_equal(loss, np.zeros(n_rows))
        np.testing.assert_array_equal(grad, np.zeros((n_rows, n_classes)))


def test_one_class():
    scores = np.array([[0.5], [-3.0], [2.0]])
    target = np.array([[0], [-1], [0]])
    for reduction in REDUCTIONS:
        loss, grad = loss_and_grad(scores, target, reduction=reduction)
        np.testing.assert_array_equal(loss, np.zeros(3) if reduction == "none" else 0.0)
        np.testing.assert_array_equal(grad, np.zeros((3, 1)))
    # 1-D, target 0 then -1: the bare [0] would be an integer target of the
    # input's shape holding only 0s (the 0/1-indicator warning).
    loss, grad = loss_and_grad(np.array([7.0]), np.array([0, -1]))
    assert loss == 0.0 and grad.shape == (1,)


# --------------------------------------------------------------------------
# Duplicates


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_duplicates_count_as_often_as_they_appear(dtype):
    scores = np.array([[0.25, 0.5, -0.75, 1.5, 0.0]], dtype=dtype)
    single = np.array([[2, -1]])
    for repeats in (1, 2, 5, 12):
        target = np.array([[2] * repeats + [-1]])
        loss, grad = assert_matches_reference(scores, target, rtol=1e-6, reduction="sum")
        loss_single, grad_single = loss_and_grad(scores, single, reduction="sum")
        np.testing.assert_allclose(loss, repeats * loss_single, rtol=1e-6)
        np.testing.assert_allclose(grad, repeats * grad_single, rtol=1e-6)
    # Mixed duplicates, on both sides of the small/general split (8 targets).
    target = np.array([[0, 3, 0, 2, 0, 3, 2, 2, 0, 3, -1]])
    assert_matches_reference(scores, target, rtol=1e-6, reduction="none")
    assert_matches_reference(scores, target[:, :7], rtol=1e-6, reduction="none")


def test_duplicates_and_many_targets_match_naive_and_torch():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(14)
    n_rows, n_classes = 4, 45
    scores = rng.standard_normal((n_rows, n_classes))
    # PyTorch layout: 3, 9, 17 (past the insertion-sort cut-off) and 44 used
    # entries, drawn from few classes so that most are repeated.
    target = rng.integers(-1, n_classes, size=(n_rows, n_classes))
    for row, n_used in enumerate([3, 9, 17, 44]):
        target[row, :n_used] = rng.integers(0, 12, size=n_used)
        target[row, n_used] = -1
    for reduction in REDUCTIONS:
        loss, grad = assert_matches_reference(scores, target, reduction=reduction)
        x = torch.tensor(scores, requires_grad=True)
        expected = F.multilabel_margin_loss(x, torch.from_numpy(target), reduction=reduction)
        expected.backward(torch.ones_like(expected))
        np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------
# NaN and infinities


@pytest.mark.parametrize("n_targets", [1, 3, 10])
@pytest.mark.parametrize("nan_on", ["target", "non-target"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_nan_score_makes_its_row_nan(dtype, nan_on, n_targets):
    n_classes = 12
    scores, _ = random_case(seed=1, n_rows=3, n_classes=n_classes, dtype=dtype)
    target = np.full((3, n_classes), -1)
    target[:, :n_targets] = np.arange(n_targets)
    scores[1, 0 if nan_on == "target" else n_classes - 1] = np.nan
    for reduction in REDUCTIONS:
        loss, grad = loss_and_grad(scores, target, reduction=reduction)
        if reduction == "none":
            assert np.isnan(loss[1])
            assert np.all(np.isfinite(loss[[0, 2]]))
        else:
            assert np.isnan(loss)
        assert np.all(np.isnan(grad[1]))
        assert np.all(np.isfinite(grad[[0, 2]]))
    loss, grad = loss_and_grad(scores, target, reduction="none")
    expected_loss, expected_grad = reference(scores, target)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_nan_in_row_without_pairs_gives_zero(dtype):
    scores = np.array(
        [[np.nan, 1.0, 2.0], [np.nan, np.nan, 0.0], [1.0, np.nan, 0.0]], dtype=dtype
    )
    # Row 0: no targets; row 1: no targets (empty after -1); row 2: all classes.
    target = np.array([[-1, 0, 1], [-1, -1, -1], [2, 0, 1]])
    loss, grad = loss_and_grad(scores, target, reduction="none")
    np.testing.assert_array_equal(loss, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad, np.zeros((3, 3)))
    assert loss_and_grad(scores, target, reduction="mean")[0] == 0.0


@pytest.mark.parametrize("n_targets", [1, 10])
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_equal_infinities_make_the_row_nan(dtype, sign, n_targets):
    scores, _ = random_case(seed=2, n_rows=2, n_classes=12, dtype=dtype)
    target = np.full((2, 12), -1)
    target[:, :n_targets] = np.arange(n_targets)
    scores[0, 0] = sign * np.inf  # a target
    scores[0, 11] = sign * np.inf  # a non-target
    loss, grad = loss_and_grad(scores, target, reduction="none")
    assert np.isnan(loss[0])
    assert np.all(np.isnan(grad[0]))
    assert np.isfinite(loss[1]) and np.all(np.isfinite(grad[1]))
    expected_loss, expected_grad = reference(scores, target)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)


@pytest.mark.parametrize("n_targets", [1, 3, 10])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_infinite_non_target_gives_infinite_loss_and_finite_gradient(dtype, n_targets):
    scores, _ = random_case(seed=3, n_rows=2, n_classes=12, dtype=dtype)
    target = np.full((2, 12), -1)
    target[:, :n_targets] = np.arange(n_targets)
    scores[0, 11] = np.inf
    for reduction in REDUCTIONS:
        loss, grad = loss_and_grad(scores, target, reduction=reduction)
        assert np.isposinf(loss[0] if reduction == "none" else loss)
        assert np.all(np.isfinite(grad))
        expected_loss, expected_grad = reference(scores, target, reduction=reduction)
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-6)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=0)
    # The infinite class violates every target: gradient n_targets / C.
    grad = loss_and_grad(scores, target, reduction="sum")[1]
    np.testing.assert_allclose(grad[0, 11], n_targets / 12, rtol=1e-6)


@pytest.mark.parametrize(
    "where, value",
    [("target", -np.inf), ("target", np.inf), ("non-target", -np.inf)],
    ids=["-inf target", "+inf target", "-inf non-target"],
)
@pytest.mark.parametrize("n_targets", [2, 10])
def test_other_infinities_match_reference(where, value, n_targets):
    scores, _ = random_case(seed=4, n_rows=2, n_classes=12)
    target = np.full((2, 12), -1)
    target[:, :n_targets] = np.arange(n_targets)
    scores[0, 1 if where == "target" else 11] = value
    loss, grad = assert_matches_reference(scores, target, reduction="none")
    assert not np.any(np.isnan(loss)) and np.all(np.isfinite(grad))
    assert np.isposinf(loss[0]) == (value == -np.inf and where == "target")


# --------------------------------------------------------------------------
# Empty batch and shapes


@pytest.mark.parametrize("width", [0, 3, 5])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_empty_batch(dtype, width):
    scores = np.empty((0, 5), dtype=dtype)
    target = np.empty((0, width), dtype=np.int64)
    mean = multilabel_margin_loss(scores, target)
    assert isinstance(mean, dtype) and np.isnan(mean)
    total = multilabel_margin_loss(scores, target, reduction="sum")
    assert isinstance(total, dtype) and total == 0
    none = multilabel_margin_loss(scores, target, reduction="none")
    assert none.shape == (0,) and none.dtype == dtype
    for reduction in REDUCTIONS:
        grad = multilabel_margin_loss_grad(scores, target, reduction=reduction)
        assert grad.shape == (0, 5) and grad.dtype == dtype
    loss, grad = multilabel_margin_loss_and_grad(
        scores, target, reduction="none", grad_output=np.empty(0)
    )
    assert loss.shape == (0,) and grad.shape == (0, 5)


# --------------------------------------------------------------------------
# Memory layouts and read-only arrays


def test_non_contiguous_input():
    scores, target = random_case(seed=5, n_rows=4, n_classes=12)
    strided = scores[:, ::2]
    target = np.where(target < 6, target, 0)
    assert not strided.flags.c_contiguous
    assert_matches_reference(strided, target, reduction="none")
    # Strided targets and a reversed 1-D input too.
    assert_matches_reference(scores[::-1, 1::2], target[::-1, ::-1], reduction="sum")
    assert_matches_reference(scores[1, ::-2], target[2, ::2], reduction="none")


def test_read_only_input_and_target():
    scores, target = random_case(seed=6)
    scores.setflags(write=False)
    target.setflags(write=False)
    expected = reference(scores, target, reduction="none", grad_output=np.arange(4.0))
    loss, grad = loss_and_grad(scores, target, reduction="none", grad_output=np.arange(4.0))
    np.testing.assert_allclose(loss, expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-12)
    assert grad.flags.writeable


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_fortran_order(dtype):
    scores, target = random_case(seed=7, n_rows=5, n_classes=7, dtype=dtype)
    fortran_scores = np.asfortranarray(scores)
    fortran_target = np.asfortranarray(target)
    assert fortran_scores.flags.f_contiguous and not fortran_scores.flags.c_contiguous
    loss, grad = loss_and_grad(fortran_scores, fortran_target, reduction="none")
    expected_loss, expected_grad = loss_and_grad(scores, target, reduction="none")
    assert np.array_equal(loss, expected_loss)
    assert np.array_equal(grad, expected_grad)
    assert_matches_reference(fortran_scores, fortran_target, rtol=1e-6, reduction="sum")


@pytest.mark.parametrize(
    "target_dtype",
    [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.uint32, np.uint64],
)
def test_any_integer_target_dtype(target_dtype):
    scores, target = random_case(seed=8, n_rows=4, n_classes=6)
    if np.issubdtype(target_dtype, np.unsignedinteger):
        target = np.array([[5, 0, 0, 2], [1, 1, 1, 1], [3, 4, 2, 0], [0, 1, 2, 3]])
    converted = target.astype(target_dtype)
    loss, grad = loss_and_grad(scores, converted, reduction="none")
    expected_loss, expected_grad = loss_and_grad(
        scores, target.astype(np.int64), reduction="none"
    )
    assert np.array_equal(loss, expected_loss)
    assert np.array_equal(grad, expected_grad)
    assert_matches_reference(scores, converted, reduction="mean")


def test_inputs_are_never_modified():
    scores, target = random_case(seed=9, n_rows=4, n_classes=10)
    scores[0, 3] = np.nan
    scores[2, 1] = np.inf
    target[1, 5:] = [999, -7, 3, -1, 12]  # junk (row 1 ends at its first -1)
    target[1, :5] = [4, 4, 0, 2, -1]
    grad_output = np.array([1.0, -2.0, 0.5, 3.0])
    for dtype in FLOAT_DTYPES:
        x = scores.astype(dtype)
        for reduction in REDUCTIONS:
            x_copy, target_copy, go_copy = x.copy(), target.copy(), grad_output.copy()
            go = grad_output if reduction == "none" else grad_output[:1].reshape(())
            for function in FUNCTIONS:
                kwargs = {} if function is multilabel_margin_loss else {"grad_output": go}
                with nonfinite_context():
                    function(x, target, reduction=reduction, **kwargs)
                assert np.array_equal(x, x_copy, equal_nan=True)
                assert np.array_equal(target, target_copy)
                assert np.array_equal(grad_output, go_copy)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int32, np.int64, np.uint8, np.float16, np.bool_]
)
def test_other_real_input_dtypes_are_converted_to_float64(dtype):
    rng = np.random.default_rng(10)
    if dtype == np.bool_:
        scores = rng.integers(0, 2, size=(3, 6)).astype(bool)
    elif dtype == np.float16:
        scores = (rng.integers(-12, 13, size=(3, 6)) / 4).astype(np.float16)
    else:
        scores = rng.integers(0, 5, size=(3, 6)).astype(dtype)
    target = np.array([[0, 3, -1], [5, -1, 999], [1, 1, 2]])
    for reduction in REDUCTIONS:
        loss, grad = assert_matches_reference(scores, target, reduction=reduction)
        assert np.asarray(loss).dtype == np.float64
        assert grad.dtype == np.float64 and grad.shape == scores.shape
    # Plain Python lists are accepted as well.
    loss, grad = loss_and_grad(scores.tolist(), target.tolist(), reduction="sum")
    expected = loss_and_grad(scores.astype(np.float64), target, reduction="sum")
    assert loss == expected[0] and np.array_equal(grad, expected[1])


def test_large_offset_stays_accurate():
    scores, target = random_case(seed=11, n_rows=5, n_classes=12)
    target[0, :10] = np.arange(10)  # one row on the general path
    shifted = scores + 1e6
    for reduction in REDUCTIONS:
        assert_matches_reference(shifted, target, rtol=1e-9, reduction=reduction)
    # The loss is shift-invariant: close to the unshifted loss too.
    np.testing.assert_allclose(
        loss_and_grad(shifted, target, reduction="none")[0],
        loss_and_grad(scores, target, reduction="none")[0],
        rtol=1e-8,
        atol=1e-9,
    )


# --------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("bad", [7, -2, 100])
@pytest.mark.parametrize("target_dtype", [np.int32, np.int64])
def test_out_of_range_target_names_row_and_value(function, bad, target_dtype):
    scores = np.zeros((3, 7))
    target = np.array([[0, 1, -1, 2], [3, 4, 5, 6], [6, -1, 99, -5]], dtype=target_dtype)
    target[1, 2] = bad
    with pytest.raises(ValueError, match=rf"target\[1, 2\] = {bad}\b"):
        function(scores, target)
    # 1-D input: the column alone.
    with pytest.raises(ValueError, match=rf"target\[2\] = {bad}\b"):
        function(scores[0], target[1])


def test_out_of_range_target_on_the_general_path_and_first_bad_row():
    scores = np.zeros((3, 20))
    target = np.tile(np.arange(20), (3, 1))
    target[1, 15] = 20
    target[2, 0] = -3
    with pytest.raises(ValueError, match=r"target\[1, 15\] = 20\b"):
        multilabel_margin_loss(scores, target)


def test_huge_target_values_are_errors():
    scores = np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"target"):
        multilabel_margin_loss(scores, np.array([[np.iinfo(np.int64).max]]))
    with pytest.raises(ValueError, match=r"target"):
        multilabel_margin_loss(scores, np.array([[np.iinfo(np.uint64).max]], dtype=np.uint64))
    with pytest.raises(ValueError, match=r"target\[0, 0\] = 255\b"):
        multilabel_margin_loss(scores, np.array([[255]], dtype=np.uint8))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_junk_after_first_minus_one_is_not_checked(reduction):
    scores, _ = random_case(seed=12, n_rows=3, n_classes=5)
    target = np.array([[1, -1, 999, -7], [-1, 5, -2, 2**40], [4, 0, -1, -1000]])
    loss, grad = assert_matches_reference(scores, target, reduction=reduction)
    clean = np.array([[1, -1, -1, -1], [-1, -1, -1, -1], [4, 0, -1, -1]])
    assert np.array_equal(loss, loss_and_grad(scores, clean, reduction=reduction)[0])
    assert np.array_equal(grad, loss_and_grad(scores, clean, reduction=reduction)[1])


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "target",
    [
        np.array([[0.0, 1.0, 2.0]]),
        np.array([["0", "1", "0"]]),
        [[0.5, 1, 0]],
        np.array([[0.0, 1.0]]),
    ],
    ids=["float", "str", "list-of-float", "float-as-indices"],
)
def test_non_integer_target_is_type_error(function, target):
    """Floats are indicators only when all 0 or 1; never class indices."""
    with pytest.raises(TypeError, match="target"):
        function(np.zeros((1, 3)), target, target_format="indices")
    if target is not None and np.asarray(target).shape == (1, 3):
        with pytest.raises(TypeError, match="target"):
            function(np.zeros((1, 3)), target)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_bool_target_is_an_indicator_never_indices(function):
    # A bool target is a 0/1 indicator: of the input's shape, or an error
    # (never read as class indices 0 and 1).
    with pytest.raises(ValueError, match="indicator target must have the input's shape"):
        function(np.zeros((1, 3)), np.array([[True, False]]))
    with pytest.raises(TypeError, match='target_format="indices" needs integer class'):
        function(np.zeros((1, 3)), np.array([[True, False, True]]), target_format="indices")
    scores = np.array([[0.5, 0.0, -0.25]])
    indicator = np.array([[False, True, True]])
    expected = function(scores, np.array([[1, 2, -1]]))
    got = function(scores, indicator)
    for a, b in zip(
        got if isinstance(got, tuple) else (got,),
        expected if isinstance(expected, tuple) else (expected,),
        strict=True,
    ):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("margin", [np.nan, np.inf, -np.inf, float("nan")])
def test_non_finite_margin_is_value_error(function, margin):
    with pytest.raises(ValueError, match="margin"):
        function(np.zeros((2, 3)), np.zeros((2, 1), dtype=np.int64), margin=margin)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("reduction", ["avg", "Mean", "", None, "elementwise_mean"])
def test_unknown_reduction_is_value_error(function, reduction):
    with pytest.raises(ValueError, match="reduction"):
        function(np.zeros((2, 3)), np.zeros((2, 1), dtype=np.int64), reduction=reduction)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "scores, target",
    [
        (np.zeros((3, 0)), np.zeros((3, 0), dtype=np.int64)),
        (np.zeros(0), np.zeros(0, dtype=np.int64)),
        (np.zeros((0, 0)), np.zeros((0, 0), dtype=np.int64)),
    ],
    ids=["(3, 0)", "(0,)", "(0, 0)"],
)
def test_zero_classes_is_value_error(function, scores, target):
    with pytest.raises(ValueError, match="at least one class"):
        function(scores, target)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "scores, target",
    [
        (np.float64(1.0), np.zeros(1, dtype=np.int64)),
        (np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=np.int64)),
    ],
    ids=["0-D", "3-D"],
)
def test_input_dimension_is_value_error(function, scores, target):
    with pytest.raises(ValueError, match=r"input must have shape \(C,\) or \(N, C\)"):
        function(scores, target)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_target_shape_mismatch_is_value_error(function):
    with pytest.raises(ValueError, match=r"target must have shape \(N, K\)"):
        function(np.zeros((2, 3)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"target must have shape \(K,\)"):
        function(np.zeros(3), np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"target must have shape"):
        function(np.zeros((2, 3)), np.zeros((2, 3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="target has 3 rows but input has 2 samples"):
        function(np.zeros((2, 3)), np.zeros((3, 3), dtype=np.int64))


@pytest.mark.parametrize(
    "function", [multilabel_margin_loss_grad, multilabel_margin_loss_and_grad]
)
def test_grad_output_shape_is_value_error(function):
    scores = np.zeros((2, 3))
    target = np.zeros((2, 1), dtype=np.int64)
    for bad in (1.0, np.ones(3), np.ones((2, 1)), np.ones(1)):
        with pytest.raises(ValueError, match=r"grad_output must have shape \(2,\)"):
            function(scores, target, reduction="none", grad_output=bad)
    for reduction in ("mean", "sum"):
        for bad in (np.ones(2), np.ones(1)):
            with pytest.raises(ValueError, match=r"grad_output must have shape \(\)"):
                function(scores, target, reduction=reduction, grad_output=bad)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(\)"):
        function(scores[0], target[0], reduction="none", grad_output=np.ones(1))


def test_grad_output_accepted_forms():
    scores, target = random_case(seed=13, n_rows=3, n_classes=5)
    target[:, :2] = [[0, -1], [1, 3], [4, 2]]
    grad = loss_and_grad(scores, target, reduction="none", grad_output=[1.0, -2.0, 0.5])[1]
    expected = reference(scores, target, grad_output=np.array([1.0, -2.0, 0.5]))[1]
    assert np.all(np.any(expected != 0, axis=1))
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    expected = reference(scores, target, reduction="sum", grad_output=3.0)[1]
    for go in (3, 3.0, np.float32(3.0), np.array(3.0), [3.0]):
        if isinstance(go, list):  # shape (1,) is not a scalar
            with pytest.raises(ValueError, match="grad_output"):
                loss_and_grad(scores, target, reduction="sum", grad_output=go)
            continue
        grad = loss_and_grad(scores, target, reduction="sum", grad_output=go)[1]
        np.testing.assert_allclose(grad, expected, rtol=1e-12)
    zero = loss_and_grad(scores, target, reduction="mean", grad_output=0.0)[1]
    assert np.all(zero == 0)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_input_is_type_error(function, dtype):
    with pytest.raises(TypeError, match="input must hold real scores"):
        function(np.zeros((2, 3), dtype=dtype), np.zeros((2, 1), dtype=np.int64))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_non_numeric_input_is_type_error(function):
    with pytest.raises(TypeError, match="input must hold real scores"):
        function(np.array([["a", "b"]]), np.zeros((1, 1), dtype=np.int64))


# --------------------------------------------------------------------------
# Finite differences


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_central_differences(seed, reduction):
    rng = np.random.default_rng(100 + seed)
    n_rows, n_classes = 3, 7 + 3 * seed
    scores = rng.standard_normal((n_rows, n_classes))
    target = np.full((n_rows, n_classes), -1)
    for row, n_used in enumerate([1, 4, min(n_classes - 1, 10)]):
        target[row, :n_used] = rng.integers(0, n_classes, size=n_used)
    margin = float(rng.uniform(0.5, 1.5))
    if reduction == "none":
        grad_output = rng.standard_normal(n_rows)
    else:
        grad_output = float(rng.standard_normal())

    def objective(x):
        loss = multilabel_margin_loss(x, target, margin=margin, reduction=reduction)
        return float(np.sum(np.asarray(grad_output) * loss))

    grad = multilabel_margin_loss_grad(
        scores, target, margin=margin, reduction=reduction, grad_output=grad_output
    )
    h = 1e-6
    numeric = np.empty_like(scores)
    for index in np.ndindex(scores.shape):
        step = np.zeros_like(scores)
        step[index] = h
        numeric[index] = (objective(scores + step) - objective(scores - step)) / (2 * h)
    assert np.any(grad != 0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------
# Review findings: overflow-safe centring and stricter argument checks


def test_centring_does_not_overflow_finite_scores():
    # Target scores 3.4e308 apart: centring on one of them would overflow.
    scores = np.array([-1.7e308, 1.7e308, 0.0])
    with nonfinite_context():
        loss = multilabel_margin_loss(scores, np.array([0, 1, -1]), reduction="none")
    np.testing.assert_allclose(loss, (1.0 + 1.7e308) / 3, rtol=1e-15)


@pytest.mark.parametrize("margin", ["1", b"1", True, np.bool_(True), np.array([1.0]), None])
def test_margin_must_be_a_real_number(margin):
    with pytest.raises(TypeError, match="margin must be a real number"):
        multilabel_margin_loss(np.zeros((1, 3)), np.array([[0, -1]]), margin=margin)


def test_margin_accepts_numpy_scalars_and_zero_d_arrays():
    scores, target = np.zeros((1, 3)), np.array([[0, -1]])
    expected = multilabel_margin_loss(scores, target, margin=2.0)
    assert multilabel_margin_loss(scores, target, margin=np.float32(2)) == expected
    assert multilabel_margin_loss(scores, target, margin=np.array(2)) == expected


def test_timedelta_input_is_not_a_score():
    with pytest.raises(TypeError, match="input must hold real scores"):
        multilabel_margin_loss(np.zeros((1, 3), "m8[s]"), np.array([[0, -1]]))


def test_empty_one_dimensional_input_reports_its_own_shape():
    with pytest.raises(ValueError, match=r"at least one class, got shape \(0,\)"):
        multilabel_margin_loss(np.zeros(0), np.array([0]))


def test_huge_unsigned_target_names_its_row_and_column():
    target = np.array([[0, 1], [2**64 - 1, 0]], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"target\[1, 0\] = 18446744073709551615"):
        multilabel_margin_loss(np.zeros((2, 3)), target)


def test_non_numeric_grad_output_is_a_type_error():
    with pytest.raises(TypeError, match="grad_output must hold real numbers"):
        multilabel_margin_loss_grad(
            np.zeros((2, 3)), np.array([[0], [1]]), reduction="none", grad_output=["a", "b"]
        )


# Second review: scores near the float64 limit, and margins that overflow
# in the scores' dtype.


@pytest.mark.parametrize(
    "scores, target",
    [
        # Sorted sums overflow although the true loss is 1.
        ([0.0, 1e308, 1.0, 1.0], [0, 1]),
        # True loss infinite (a pair term overflows), gradient finite.
        ([-1e308, 1e308, 1.7e308, 1.7e308, -0.5e308, -0.5e308, -0.5e308], [0, 1]),
        ([-1e308, 1e308, -0.5e308, -0.5e308, -0.5e308], [0, 1]),
        # 99 targets (bucket grid) whose thresholds span more than float64.
        ([-1e308] + [1.7e308] * 98 + [0.85e308], list(range(99))),
    ],
)
def test_scores_near_the_float64_limit_match_reference(scores, target):
    scores, target = np.array(scores), np.array(target)
    loss, grad = loss_and_grad(scores, target, reduction="none")
    expected_loss, expected_grad = reference(scores, target)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    assert np.all(np.isfinite(grad))


def test_margin_minus_score_overflowing_meets_opposite_infinity_as_nan():
    # float32: 3e38 - (-3e38) overflows to +inf, and +inf + (-inf) is NaN.
    scores = np.array([-3e38, -np.inf], dtype=np.float32)
    loss, grad = loss_and_grad(scores, np.array([0]), margin=3e38, reduction="none")
    expected_loss, _ = reference(scores, np.array([0]), margin=3e38)
    assert np.isnan(loss) and np.isnan(expected_loss) and np.all(np.isnan(grad))


def test_margin_must_be_finite_in_the_scores_dtype():
    with pytest.raises(ValueError, match="finite in the scores' dtype float32"):
        multilabel_margin_loss(np.zeros((1, 3), np.float32), np.array([[0]]), margin=1e39)
    # The same margin is fine for float64 scores.
    multilabel_margin_loss(np.zeros((1, 3)), np.array([[0]]), margin=1e39)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_margin_finite_in_float32_is_exactly_what_rounds_to_a_finite_float32(sign):
    # The largest float32 plus half its ulp (2**103) rounds to infinity; any
    # float64 below it rounds to the largest float32 and must be accepted.
    largest = float(np.finfo(np.float32).max)
    scores = np.zeros((1, 3), np.float32)
    below = sign * (largest + 2.0**103 - 2.0**78)
    assert np.isfinite(np.float32(below))
    for function in (multilabel_margin_loss, multilabel_hinge_loss):
        function(scores, np.array([[0]]), margin=below)
        with pytest.raises(ValueError, match="finite in the scores' dtype float32"):
            function(scores, np.array([[0]]), margin=sign * (largest + 2.0**103))
