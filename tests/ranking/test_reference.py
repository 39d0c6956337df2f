"""Property tests of the ranking margin loss against the NumPy reference.

Scores on a dyadic grid (quarters in [-3, 3]) and dyadic margins make every
pair term, every row sum and every gradient count exact in float64, whatever
order the kernels add them in, so results are compared tightly and hinge
kinks (pair terms exactly 0) are exercised on purpose: both sides take the
slope 0 there. A second test uses continuous random scores, which never sit
on a kink.
"""

import forms
import naive
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fastmargin import (
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

FLOAT_DTYPES = (np.float32, np.float64)
INT_DTYPES = (np.int32, np.int64)
REDUCTIONS = ("none", "mean", "sum")
MARGINS = (0.0, 0.25, 0.5, 1.0, 1.5)

# Junk after a row's first -1: in range, out of range, negative, extreme.
JUNK = st.one_of(
    st.integers(-10, 20),
    st.sampled_from([999, -7, -2, -1, np.iinfo(np.int32).max, np.iinfo(np.int32).min]),
)


def tolerance(dtype):
    return 1e-6 if np.dtype(dtype) == np.float32 else 1e-12


@st.composite
def ranking_cases(draw):
    """A full argument set: scores, targets, margin, reduction, grad_output."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    target_dtype = draw(st.sampled_from(INT_DTYPES))
    one_dimensional = draw(st.booleans())
    n_rows = 1 if one_dimensional else draw(st.integers(0, 6))
    n_classes = draw(st.integers(1, 12))
    width = draw(st.integers(0, n_classes + 6))
    quarters = draw(
        st.lists(
            st.integers(-12, 12), min_size=n_rows * n_classes, max_size=n_rows * n_classes
        )
    )
    scores = (np.array(quarters, dtype=np.float64) / 4).reshape(n_rows, n_classes)
    target = np.array(
        draw(forms.padded_index_rows(n_rows, n_classes, width, JUNK)), dtype=target_dtype
    ).reshape(n_rows, width)
    margin = draw(st.sampled_from(MARGINS))
    reduction = draw(st.sampled_from(REDUCTIONS))
    grad_output = None
    if draw(st.booleans()):
        if reduction == "none":
            weights = draw(st.lists(st.integers(-8, 8), min_size=n_rows, max_size=n_rows))
            grad_output = np.array(weights, dtype=np.float64) / 4
            if one_dimensional:
                grad_output = grad_output.reshape(())
        else:
            grad_output = draw(st.integers(-8, 8)) / 4
    if one_dimensional:
        scores, target = scores[0], target[0]
    return scores.astype(dtype), target, margin, reduction, grad_output


def check_result_types(loss, grad, scores, reduction):
    dtype = scores.dtype
    assert isinstance(grad, np.ndarray)
    assert grad.dtype == dtype
    assert grad.shape == scores.shape
    if reduction == "none":
        assert isinstance(loss, np.ndarray)
        assert loss.dtype == dtype
        assert loss.shape == ((scores.shape[0],) if scores.ndim == 2 else ())
    else:
        assert not isinstance(loss, np.ndarray)
        assert isinstance(loss, np.generic)
        assert type(loss) is dtype.type


def check_against_reference(
    scores, target, margin, reduction, grad_output, rtol, normalize=True
):
    loss, grad = multilabel_margin_loss_and_grad(
        scores,
        target,
        margin=margin,
        reduction=reduction,
        grad_output=grad_output,
        normalize=normalize,
        **naive.as_indices(scores, target),
    )
    check_result_types(loss, grad, scores, reduction)

    expected_loss, expected_grad = naive.ranking_loss_and_grad(
        scores, target, margin, reduction, grad_output, normalize
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=0)

    # The fused call returns exactly what the two separate calls return.
    loss_only = multilabel_margin_loss(
        scores,
        target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        **naive.as_indices(scores, target),
    )
    grad_only = multilabel_margin_loss_grad(
        scores,
        target,
        margin=margin,
        reduction=reduction,
        grad_output=grad_output,
        normalize=normalize,
        **naive.as_indices(scores, target),
    )
    check_result_types(loss_only, grad_only, scores, reduction)
    assert np.array_equal(loss_only, loss, equal_nan=True)
    assert np.array_equal(grad_only, grad, equal_nan=True)


@given(ranking_cases(), st.booleans())
def test_matches_reference_on_dyadic_grid(case, normalize):
    scores, target, margin, reduction, grad_output = case
    check_against_reference(
        scores, target, margin, reduction, grad_output, tolerance(scores.dtype), normalize
    )


@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(FLOAT_DTYPES),
    target_dtype=st.sampled_from(INT_DTYPES),
    reduction=st.sampled_from(REDUCTIONS),
    one_dimensional=st.booleans(),
    n_rows=st.integers(0, 6),
    n_classes=st.integers(1, 12),
    extra_width=st.integers(-12, 6),
)
# One class, one row, target [[0]]: it looks like a 0/1 indicator (warns).
@example(
    seed=1,
    dtype=np.float32,
    target_dtype=np.int32,
    reduction="none",
    one_dimensional=False,
    n_rows=1,
    n_classes=1,
    extra_width=0,
)
def test_matches_reference_on_continuous_scores(
    seed, dtype, target_dtype, reduction, one_dimensional, n_rows, n_classes, extra_width
):
    rng = np.random.default_rng(seed)
    if one_dimensional:
        n_rows = 1
    width = max(0, n_classes + extra_width)
    scores = rng.standard_normal((n_rows, n_classes)).astype(dtype)
    target = rng.integers(-10, n_classes + 5, size=(n_rows, width))
    for row in range(n_rows):
        n_used = rng.integers(0, width + 1)
        target[row, :n_used] = rng.integers(0, n_classes, size=n_used)
        if n_used < width:
            target[row, n_used] = -1
    target = target.astype(target_dtype)
    margin = float(rng.uniform(0.0, 2.0))
    if reduction == "none":
        grad_output = rng.standard_normal(n_rows)
        if one_dimensional:
            grad_output = grad_output.reshape(())
    else:
        grad_output = float(rng.standard_normal())
    if one_dimensional:
        scores, target = scores[0], target[0]

    loss, grad = multilabel_margin_loss_and_grad(
        scores,
        target,
        margin=margin,
        reduction=reduction,
        grad_output=grad_output,
        **naive.as_indices(scores, target),
    )
    check_result_types(loss, grad, scores, reduction)
    expected_loss, expected_grad = naive.ranking_loss_and_grad(
        scores, target, margin, reduction, grad_output
    )
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    if n_rows:  # (the mean of an empty batch is NaN)
        assert np.all(loss >= 0)  # a sum of hinges: never negative
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance(dtype), atol=0)
    loss_only = multilabel_margin_loss(
        scores, target, margin=margin, reduction=reduction, **naive.as_indices(scores, target)
    )
    assert np.array_equal(loss_only, loss, equal_nan=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_docstring_example_values(dtype, reduction):
    # Hand-computed: targets {3, 0}, non-targets {1, 2}; pair terms
    # 1-0.8+0.2, 1-0.8+0.4, 1-0.1+0.2, 1-0.1+0.4 sum to 3.4, over C = 4.
    scores = np.array([[0.1, 0.2, 0.4, 0.8], [0.0, 0.0, 0.0, 0.0]], dtype=dtype)
    target = np.array([[3, 0, -1, 1], [1, -1, 5, 9]])
    loss, grad = multilabel_margin_loss_and_grad(scores, target, reduction=reduction)
    rows = np.array([0.85, 0.75])
    expected = {"none": rows, "sum": rows.sum(), "mean": rows.mean()}[reduction]
    np.testing.assert_allclose(loss, expected, rtol=tolerance(dtype))
    factor = 0.5 if reduction == "mean" else 1.0
    expected_grad = factor * np.array([[-0.5, 0.5, 0.5, -0.5], [0.25, -0.75, 0.25, 0.25]])
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance(dtype))


# Target counts at and around every boundary between the kernel's paths:
# eight written-out thresholds (T <= 8), linear counts with 16, 24, 32, 48,
# 64 and 96 slots, and the bucket grid beyond 96.
PATH_BOUNDARY_TARGETS = (1, 8, 9, 16, 17, 24, 25, 32, 33, 48, 49, 64, 65, 96, 97, 150)


@pytest.mark.parametrize("n_targets", PATH_BOUNDARY_TARGETS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_every_path_matches_reference_with_ties_and_duplicates(dtype, n_targets):
    rng = np.random.default_rng(n_targets)
    n_rows, n_classes = 4, 180
    # Quarters in [-3, 3]: many exact ties between target and non-target
    # scores, and between targets.
    scores = (rng.integers(-12, 13, (n_rows, n_classes)) / 4).astype(dtype)
    target = np.full((n_rows, n_targets + 3), -1, dtype=np.int64)
    for row in range(n_rows):
        if row % 2:  # duplicates
            target[row, :n_targets] = rng.integers(0, n_classes, n_targets)
        else:
            target[row, :n_targets] = rng.permutation(n_classes)[:n_targets]
    target[:, n_targets + 1 :] = 777  # junk after the -1, never read
    scores[3, target[3, :n_targets]] = 0.5  # every target score tied
    loss, grad = multilabel_margin_loss_and_grad(scores, target, margin=0.75, reduction="none")
    expected_loss, expected_grad = naive.ranking_loss_and_grad(scores, target, 0.75, "none")
    np.testing.assert_allclose(loss, expected_loss, rtol=tolerance(dtype), atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance(dtype), atol=1e-12)


@pytest.mark.parametrize("n_targets", (5, 20, 40, 80, 120))
def test_every_path_hands_non_finite_rows_to_the_exact_path(n_targets):
    rng = np.random.default_rng(n_targets)
    n_classes = 160
    scores = rng.standard_normal((5, n_classes))
    target = np.stack([rng.permutation(n_classes)[:n_targets] for _ in range(5)])
    non_target = [j for j in range(n_classes) if j not in set(target[0])][0]
    scores[0, non_target] = np.inf  # finite targets: loss inf, finite gradient
    scores[1, non_target] = -np.inf  # below everything: no effect
    scores[2, target[2, 0]] = -np.inf  # a target below everything: loss inf
    scores[3, non_target] = np.nan  # NaN row
    with np.errstate(invalid="ignore", over="ignore"):
        loss, grad = multilabel_margin_loss_and_grad(scores, target, reduction="none")
        expected_loss, expected_grad = naive.ranking_loss_and_grad(scores, target, 1.0, "none")
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
    assert np.isinf(loss[0]) and np.isinf(loss[2]) and np.isnan(loss[3])
    assert np.all(np.isfinite(grad[:3])) and np.all(np.isnan(grad[3]))
