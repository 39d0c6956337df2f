"""Parity with ``torch.nn.functional.multilabel_margin_loss``, forward and backward.

PyTorch takes targets of shape (N, C) (or (C,) for a 1-D input), int64, each
row read up to its first -1; unlike fastmargin it range-checks the padding
too, so the padding drawn here stays in [-1, C).
"""

import math

import naive
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from forms import pytorch_layout_targets
from hypothesis import given
from hypothesis import strategies as st

from fastmargin import (
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

REDUCTIONS = ("none", "mean", "sum")
TOLERANCES = {
    np.float64: dict(rtol=1e-10, atol=1e-14),
    np.float32: dict(rtol=1e-5, atol=1e-6),
}


def torch_loss_and_grad(scores, target, reduction, grad_output=None):
    x = torch.tensor(scores, requires_grad=True)
    loss = F.multilabel_margin_loss(x, torch.from_numpy(target), reduction=reduction)
    if grad_output is None:
        loss.backward(torch.ones_like(loss))
    else:
        loss.backward(torch.as_tensor(grad_output, dtype=x.dtype))
    return loss.detach().numpy(), x.grad.numpy()


def assert_matches_torch(scores, target, reduction, grad_output=None):
    loss, grad = multilabel_margin_loss_and_grad(
        scores, target, reduction=reduction, grad_output=grad_output
    )
    expected_loss, expected_grad = torch_loss_and_grad(scores, target, reduction, grad_output)
    tol = TOLERANCES[scores.dtype.type]
    assert np.shape(loss) == expected_loss.shape
    assert np.asarray(loss).dtype == expected_loss.dtype
    np.testing.assert_allclose(loss, expected_loss, **tol)
    assert grad.shape == expected_grad.shape
    assert grad.dtype == expected_grad.dtype
    np.testing.assert_allclose(grad, expected_grad, **tol)
    return loss, grad


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_match_torch(dtype, reduction, seed):
    rng = np.random.default_rng(seed)
    n_rows, n_classes = [(1, 1), (7, 3), (16, 10), (33, 40)][seed]
    scores = (rng.standard_normal((n_rows, n_classes)) * 1.5).astype(dtype)
    target = pytorch_layout_targets(rng, n_rows, n_classes)
    grad_output = rng.standard_normal(n_rows) if reduction == "none" else None
    assert_matches_torch(scores, target, reduction, grad_output)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_grad_output_matches_torch(dtype, reduction):
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((9, 12)).astype(dtype)
    target = pytorch_layout_targets(rng, 9, 12)
    assert_matches_torch(scores, target, reduction, grad_output=-2.75)


def test_many_targets_match_torch():
    # Rows with 9..40 targets exercise the general (binary-search) path.
    rng = np.random.default_rng(5)
    n_rows, n_classes = 12, 48
    scores = rng.standard_normal((n_rows, n_classes))
    target = np.full((n_rows, n_classes), -1, dtype=np.int64)
    for row in range(n_rows):
        n_used = 9 + 3 * row
        target[row, :n_used] = rng.choice(n_classes, size=n_used, replace=False)
    for reduction in REDUCTIONS:
        assert_matches_torch(scores, target, reduction)
        assert_matches_torch(scores.astype(np.float32), target, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_dimensional_input_matches_torch(dtype, reduction):
    rng = np.random.default_rng(3)
    scores = rng.standard_normal(10).astype(dtype)
    target = np.array([4, 1, 4, 7, -1, 2, 9, -1, 0, 3])
    grad_output = np.float64(1.75) if reduction == "none" else None
    loss, grad = assert_matches_torch(scores, target, reduction, grad_output)
    assert np.shape(loss) == ()
    assert grad.shape == (10,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_duplicates_match_torch_and_count_each_time(dtype):
    scores = np.array([[0.5, 0.25, -0.5, 1.0], [0.0, 0.75, 0.5, -0.25]], dtype=dtype)
    once = np.array([[2, -1, -1, -1], [1, 3, -1, -1]])
    thrice = np.array([[2, 2, 2, -1], [1, 3, 1, 3]])
    loss_once, grad_once = assert_matches_torch(scores, once, "none")
    loss_thrice, grad_thrice = assert_matches_torch(scores, thrice, "none")
    # Row 0 lists target 2 three times: three times the loss and gradient.
    np.testing.assert_allclose(loss_thrice[0], 3 * loss_once[0], rtol=1e-6)
    np.testing.assert_allclose(grad_thrice[0], 3 * grad_once[0], rtol=1e-6)
    np.testing.assert_allclose(loss_thrice[1], 2 * loss_once[1], rtol=1e-6)
    assert loss_once[0] > 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_int32_and_compact_targets_equal_pytorch_layout(reduction):
    rng = np.random.default_rng(8)
    n_rows, n_classes = 20, 30
    scores = rng.standard_normal((n_rows, n_classes)).astype(np.float32)
    # Up to 6 targets per row (some rows none, some duplicated), padded to C.
    n_used = rng.integers(0, 7, size=n_rows)
    n_used[:2] = 0, 6
    padded = rng.integers(-1, n_classes, size=(n_rows, n_classes))
    for row in range(n_rows):
        padded[row, : n_used[row]] = rng.integers(0, n_classes // 2, size=n_used[row])
        padded[row, n_used[row]] = -1
    assert all(len(naive.used_targets(padded[row])) == n_used[row] for row in range(n_rows))
    width = int(n_used.max())
    # Compact (N, K): the used entries, -1 where a row is shorter.
    compact = np.full((n_rows, width), -1, dtype=np.int64)
    for row in range(n_rows):
        compact[row, : n_used[row]] = padded[row, : n_used[row]]
    grad_output = rng.standard_normal(n_rows) if reduction == "none" else 0.5

    expected = multilabel_margin_loss_and_grad(
        scores, padded, reduction=reduction, grad_output=grad_output
    )
    assert_matches_torch(scores, padded, reduction, grad_output)
    for target in (padded.astype(np.int32), compact, compact.astype(np.int32)):
        loss, grad = multilabel_margin_loss_and_grad(
            scores, target, reduction=reduction, grad_output=grad_output
        )
        assert np.array_equal(loss, expected[0])
        assert np.array_equal(grad, expected[1])
        assert np.array_equal(
            multilabel_margin_loss(scores, target, reduction=reduction), expected[0]
        )
        assert np.array_equal(
            multilabel_margin_loss_grad(
                scores, target, reduction=reduction, grad_output=grad_output
            ),
            expected[1],
        )


@pytest.mark.parametrize("n_targets", [2, 6, 20, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_ties_are_decided_as_torch_decides(dtype, n_targets):
    # Scores on a grid of tenths: not exact in binary, so margin - x[t] + x[j]
    # lands on, just above or just below 0 depending on rounding in the
    # scores' dtype. A different decision moves a gradient entry by 1/C.
    rng = np.random.default_rng(n_targets)
    n_rows, n_classes = 64, 48
    scores = (rng.integers(-25, 25, (n_rows, n_classes)) / 10).astype(dtype)
    target = np.full((n_rows, n_classes), -1, dtype=np.int64)
    for row in range(n_rows):
        target[row, :n_targets] = rng.integers(0, n_classes, n_targets)
    loss, grad = multilabel_margin_loss_and_grad(scores, target, reduction="none")
    expected_loss, expected_grad = torch_loss_and_grad(scores, target, "none")
    # torch sums float32 gradients in float32: allow its rounding, not 1/C.
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, expected_loss, **TOLERANCES[dtype])


def test_reviewed_tie_example_matches_torch():
    # 1 - (-3.0) + (-4.0) == 0 exactly in float64: pair (0, 2) is not violated.
    scores = np.array([-3.0, -1.7, -4.0])
    target = np.array([0, 1, -1])
    loss, grad = multilabel_margin_loss_and_grad(scores, target, reduction="sum")
    expected_loss, expected_grad = torch_loss_and_grad(scores, target, "sum")
    assert loss == expected_loss == 0.0
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [np.nan, np.inf])
def test_a_nan_or_infinite_grad_output_reaches_rows_without_pairs(reduction, weight):
    """Regression: rows with no (target, non-target) pair (no target, or
    every class a target) got a zero gradient whatever ``grad_output`` was;
    PyTorch multiplies by it (0 * NaN = NaN), as every other row does."""
    scores = np.array([[0.3, -0.2, 0.9], [0.1, 0.5, -0.4], [0.2, 0.0, 1.5], [1.0, 2.0, 3.0]])
    target = np.array([[-1, 0, 0], [0, 1, 2], [2, 0, -1], [1, -1, 0]])
    n_rows = scores.shape[0]
    grad_output = np.full(n_rows, weight) if reduction == "none" else np.float64(weight)
    input = torch.tensor(scores, requires_grad=True)
    loss = F.multilabel_margin_loss(input, torch.tensor(target), reduction=reduction)
    loss.backward(torch.tensor(grad_output))
    grad = multilabel_margin_loss_grad(
        scores, target, reduction=reduction, grad_output=grad_output
    )
    np.testing.assert_array_equal(grad, input.grad.numpy())
    assert np.isnan(grad[:2]).all()  # the rows without pairs


def exact_row_losses(scores, target, margin=1.0):
    """Each row's loss from its pair terms ``(margin - x[t]) + x[j]`` (the
    pairs decided as the kernels decide them), summed exactly (math.fsum),
    divided by C: what a loss "accurate to its own terms" must approach."""
    x = np.asarray(scores)
    native_margin = x.dtype.type(margin)
    losses = []
    for row, target_row in zip(x, target):
        used = naive.used_targets(target_row)
        others = [j for j in range(x.shape[1]) if j not in set(used.tolist())]
        terms = [
            (float(native_margin) - float(row[t])) + float(row[j])
            for t in used
            for j in others
            if (native_margin - row[t]) + row[j] > 0
        ]
        losses.append(math.fsum(terms) / x.shape[1])
    return np.array(losses)


@pytest.mark.parametrize(
    "scores, target",
    [
        ([[0.0, 1e16, 0.5]], [[0, 1, -1]]),
        ([[-0.0, 0.0, 5e29, 0.25]], [[0, 2, -1, -1]]),
        ([[1e17] + [0.01 * k for k in range(1, 24)]], [list(range(20)) + [-1] * 4]),
        ([[3e8, 3e8 + 0.25, -2.0, 1e-3]], [[0, 2, -1, -1]]),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_huge_target_score_does_not_swallow_the_other_terms(scores, target, dtype):
    """Regression: row sums were centred on the median target score, so a
    huge one rounded the other pairs' terms away (0.0 instead of PyTorch's
    0.5 for the first row, 15.36 instead of 17.1 with 20 targets)."""
    scores = np.array(scores, dtype=dtype)
    target = np.array(target)
    expected = F.multilabel_margin_loss(
        torch.from_numpy(scores), torch.from_numpy(target), reduction="none"
    ).numpy()
    exact = exact_row_losses(scores, target).astype(dtype)
    loss = multilabel_margin_loss(scores, target, reduction="none")
    rtol = 4 * np.finfo(np.float32).eps if dtype == np.float32 else 2.0**-43
    np.testing.assert_allclose(loss, exact, rtol=rtol, atol=0)
    np.testing.assert_allclose(loss, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)


@st.composite
def rows_of_mixed_magnitudes(draw):
    """Rows whose scores mix ordinary values, zeros of both signs and a few
    huge ones, with a few targets (some rows many): where sums that subtract
    large terms lose the small ones."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_rows = draw(st.integers(1, 4))
    n_classes = draw(st.integers(2, 14))
    big = st.builds(
        lambda sign, exponent, nudge: sign * 10.0**exponent + nudge,
        st.sampled_from([-1.0, 1.0]),
        st.integers(4, 30),
        st.sampled_from([0.0, 0.5, -0.75, 1.0]),
    )
    value = st.one_of(
        st.floats(-3, 3, allow_nan=False, width=32),
        st.sampled_from([0.0, -0.0]),
        big,
    )
    scores = np.array(
        draw(
            st.lists(
                st.lists(value, min_size=n_classes, max_size=n_classes),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
    ).astype(dtype)
    target = np.full((n_rows, n_classes + 1), -1)  # every row ends with a -1
    for row in range(n_rows):
        n_used = draw(st.integers(1, n_classes))
        target[row, :n_used] = draw(
            st.lists(st.integers(0, n_classes - 1), min_size=n_used, max_size=n_used)
        )
    margin = draw(st.sampled_from([1.0, 0.5, 3.0]))
    return scores, target, margin


@given(rows_of_mixed_magnitudes())
def test_the_loss_is_accurate_to_its_own_terms(case):
    """For any finite scores, each row's loss is accurate to the exact sum of
    its pair terms, whatever their magnitudes (float32: a few ulps; float64:
    the documented 2**-44 limit, plus rounding); the gradient (integer
    counts, exact) matches the pair-by-pair reference."""
    scores, target, margin = case
    with np.errstate(over="ignore"):
        exact = exact_row_losses(scores, target, margin)
    if not np.all(np.isfinite(exact)):
        return  # a sum that truly overflows: covered elsewhere
    loss, grad = multilabel_margin_loss_and_grad(
        scores, target, margin=margin, reduction="none"
    )
    rtol = 4 * np.finfo(np.float32).eps if scores.dtype == np.float32 else 2.0**-43
    np.testing.assert_allclose(loss, exact.astype(scores.dtype), rtol=rtol, atol=0)
    _, expected_grad = naive.ranking_loss_and_grad(scores, target, margin, reduction="none")
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-7)
