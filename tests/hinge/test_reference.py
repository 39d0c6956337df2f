"""Property tests of the per-label hinge loss against the NumPy reference.

On the dyadic grid (scores and margins in quarters) every z = m - s*x is
exact in float32 and float64, so kinks (z exactly 0, slope 0) are hit on
purpose and must be decided exactly as the reference decides them; any
other disagreement moves a gradient entry by 1/C and fails the tolerance.
Continuous scores are tested too, against the reference, against finite
differences and against PyTorch autograd.

Every input is small: this file also runs with NUMBA_DISABLE_JIT=1 (see
runtime/test_threads_and_nojit.py).
"""

import forms
import naive
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastmargin import (
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
)

FLOAT_DTYPES = (np.float32, np.float64)
INT_DTYPES = (np.int32, np.int64)
REDUCTIONS = ("none", "mean", "sum")
TARGET_FORMS = ("padded", "bool") + forms.SPARSE_FORM_NAMES


def tolerance(dtype):
    return 1e-6 if np.dtype(dtype) == np.float32 else 1e-12


def call(function, scores, target, **kwargs):
    return function(scores, target, **kwargs, **naive.as_indices(scores, target))


def check_result_types(loss, grad, scores, reduction):
    dtype = scores.dtype
    assert isinstance(grad, np.ndarray)
    assert grad.dtype == dtype and grad.shape == scores.shape
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
        assert loss.shape == ((scores.shape[0],) if scores.ndim == 2 else ())
    else:
        assert isinstance(loss, np.generic) and type(loss) is dtype.type


def check_against_reference(
    scores, target, indicator, margin, squared, reduction, grad_output, rtol, normalize=True
):
    """Fused call vs the reference, and the three public functions agree
    bitwise."""
    kwargs = dict(margin=margin, squared=squared, reduction=reduction, normalize=normalize)
    loss, grad = call(
        multilabel_hinge_loss_and_grad, scores, target, grad_output=grad_output, **kwargs
    )
    check_result_types(loss, grad, scores, reduction)
    expected_loss, expected_grad = naive.hinge_loss_and_grad(
        scores, indicator, margin, squared, reduction, grad_output, normalize
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=0)
    if scores.shape[0]:
        assert np.all(loss >= 0)  # a sum of hinges
    loss_only = call(multilabel_hinge_loss, scores, target, **kwargs)
    grad_only = call(
        multilabel_hinge_loss_grad, scores, target, grad_output=grad_output, **kwargs
    )
    check_result_types(loss_only, grad_only, scores, reduction)
    assert np.array_equal(loss_only, loss, equal_nan=True)
    assert np.array_equal(grad_only, grad, equal_nan=True)
    return loss, grad


def hinge_junk(n_classes):
    """Entries after the -1: out of range, negative, another -1; never read."""
    return st.one_of(st.integers(-10, n_classes + 10), st.sampled_from([999, -7, -1]))


@st.composite
def hinge_cases(draw):
    """scores, target (any form), its bool indicator, margin, squared,
    reduction, grad_output."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    form = draw(st.sampled_from(TARGET_FORMS))
    one_dimensional = form in ("padded", "bool") and draw(st.booleans())
    n_rows = 1 if one_dimensional else draw(st.integers(0, 6))
    n_classes = draw(st.one_of(st.integers(1, 12), st.sampled_from([17, 33, 64, 71])))
    quarters = draw(
        st.lists(
            st.integers(-12, 12), min_size=n_rows * n_classes, max_size=n_rows * n_classes
        )
    )
    scores = (np.array(quarters, dtype=np.float64) / 4).reshape(n_rows, n_classes)
    if form == "padded":
        width = draw(st.integers(0, n_classes + 4))
        target = np.array(
            draw(forms.padded_index_rows(n_rows, n_classes, width, hinge_junk(n_classes))),
            dtype=draw(st.sampled_from(INT_DTYPES)),
        ).reshape(n_rows, width)
        indicator = naive.labels_indicator(target, n_classes)
    else:
        bits = draw(
            st.lists(st.booleans(), min_size=n_rows * n_classes, max_size=n_rows * n_classes)
        )
        indicator = np.array(bits, dtype=bool).reshape(n_rows, n_classes)
        if form == "bool":
            target = indicator
        else:
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            target = forms.sparse_form(indicator, form, rng)
    if draw(st.booleans()):
        margin = draw(st.sampled_from([0.0, 0.25, 1.0, 1.5, -0.5, 2]))
    else:
        # One margin per label: quarters (float64 or float32) or integers.
        values = draw(st.lists(st.integers(-4, 8), min_size=n_classes, max_size=n_classes))
        margin_dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
        if margin_dtype == np.int64:
            margin = np.array(values, dtype=np.int64)
        else:
            margin = (np.array(values) / 4).astype(margin_dtype)
    squared = draw(st.booleans())
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
        scores, target, indicator = scores[0], target[0], indicator[0]
    return scores.astype(dtype), target, indicator, margin, squared, reduction, grad_output


@given(hinge_cases(), st.booleans())
def test_matches_reference_on_dyadic_grid(case, normalize):
    scores, target, indicator, margin, squared, reduction, grad_output = case
    check_against_reference(
        scores,
        target,
        indicator,
        margin,
        squared,
        reduction,
        grad_output,
        tolerance(scores.dtype),
        normalize,
    )


@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(FLOAT_DTYPES),
    form=st.sampled_from(TARGET_FORMS),
    reduction=st.sampled_from(REDUCTIONS),
    squared=st.booleans(),
    per_label=st.booleans(),
    n_rows=st.integers(0, 6),
    n_classes=st.one_of(st.integers(1, 12), st.sampled_from([40, 100])),
)
def test_matches_reference_on_continuous_scores(
    seed, dtype, form, reduction, squared, per_label, n_rows, n_classes
):
    rng = np.random.default_rng(seed)
    scores = (rng.standard_normal((n_rows, n_classes)) * 1.5).astype(dtype)
    indicator = rng.random((n_rows, n_classes)) < rng.random()
    if form == "padded":
        target_dtype = INT_DTYPES[int(rng.integers(0, 2))]
        target = forms.padded_rows(indicator, rng, dtype=target_dtype)
        assert np.array_equal(naive.labels_indicator(target, n_classes), indicator)
    elif form == "bool":
        target = indicator
    else:
        target = forms.sparse_form(indicator, form, rng)
    if per_label:
        margin = rng.uniform(-0.5, 2.0, size=n_classes)
    else:
        margin = float(rng.uniform(0.0, 2.0))
    if reduction == "none":
        grad_output = rng.standard_normal(n_rows)
    else:
        grad_output = float(rng.standard_normal())
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    check_against_reference(
        scores, target, indicator, margin, squared, reduction, grad_output, rtol
    )


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_hand_computed_example(dtype, squared):
    # Labels {0, 2} and {0}; margin 1:
    #   row 0: x = [2, -0.5, 0.5]: z = 1-2 = -1, 1+(-0.5) = 0.5, 1-0.5 = 0.5
    #   row 1: x = [1, 0, -1]:     z = 1-1 = 0 (kink), 1+0 = 1, 1+(-1) = 0 (kink)
    # plain:   losses (0.5+0.5)/3 = 1/3 and 1/3;
    #          gradients [0, 1, -1]/3 and [0, 1, 0]/3
    # squared: losses (0.25+0.25)/3 = 1/6 and 1/3;
    #          gradients [0, 2*0.5, -2*0.5]/3 = [0, 1, -1]/3 and [0, 2, 0]/3
    scores = np.array([[2.0, -0.5, 0.5], [1.0, 0.0, -1.0]], dtype=dtype)
    target = np.array([[0, 2], [0, -1]])
    loss, grad = multilabel_hinge_loss_and_grad(
        scores, target, squared=squared, reduction="none"
    )
    if squared:
        np.testing.assert_allclose(loss, [1 / 6, 1 / 3], rtol=1e-7)
        np.testing.assert_allclose(grad, [[0, 1 / 3, -1 / 3], [0, 2 / 3, 0]], rtol=1e-7)
    else:
        np.testing.assert_allclose(loss, [1 / 3, 1 / 3], rtol=1e-7)
        np.testing.assert_allclose(grad, [[0, 1 / 3, -1 / 3], [0, 1 / 3, 0]], rtol=1e-7)
    # "mean" halves the gradient and averages the losses.
    loss, grad_mean = multilabel_hinge_loss_and_grad(scores, target, squared=squared)
    np.testing.assert_allclose(loss, (1 / 2 if squared else 2 / 3) / 2, rtol=1e-7)
    np.testing.assert_array_equal(
        grad_mean,
        multilabel_hinge_loss_grad(scores, target, squared=squared, reduction="sum") / 2,
    )


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_central_differences(seed, reduction, squared):
    rng = np.random.default_rng(200 + seed)
    n_rows, n_classes = 3, 6 + 5 * seed
    indicator = rng.random((n_rows, n_classes)) < 0.4
    margin = rng.uniform(0.5, 1.5, size=n_classes) if seed else 0.8
    scores = rng.standard_normal((n_rows, n_classes))
    # Keep every z = m - s*x at least 0.01 away from the kink.
    s = np.where(indicator, 1.0, -1.0)
    z = margin - s * scores
    scores = np.where(np.abs(z) < 0.01, scores + s * 0.05, scores)
    assert np.all(np.abs(margin - s * scores) > 0.005)
    grad_output = rng.standard_normal(n_rows) if reduction == "none" else -1.5

    def objective(x):
        loss = multilabel_hinge_loss(
            x, indicator, margin=margin, squared=squared, reduction=reduction
        )
        return float(np.sum(np.asarray(grad_output) * loss))

    grad = multilabel_hinge_loss_grad(
        scores,
        indicator,
        margin=margin,
        squared=squared,
        reduction=reduction,
        grad_output=grad_output,
    )
    h = 1e-6
    numeric = np.empty_like(scores)
    for index in np.ndindex(scores.shape):
        step = np.zeros_like(scores)
        step[index] = h
        numeric[index] = (objective(scores + step) - objective(scores - step)) / (2 * h)
    assert np.count_nonzero(grad) > scores.size // 4
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def torch_hinge(scores, indicator, margin, squared, reduction, grad_output):
    import torch

    x = torch.tensor(scores, requires_grad=True)
    s = torch.tensor(np.where(indicator, 1.0, -1.0), dtype=x.dtype)
    m = torch.as_tensor(np.broadcast_to(margin, scores.shape[-1:]).copy(), dtype=x.dtype)
    terms = torch.clamp(m - s * x, min=0)
    if squared:
        terms = terms**2
    if reduction == "mean":
        loss = terms.mean()
    elif reduction == "sum":
        loss = terms.sum() / scores.shape[-1]
    else:
        loss = terms.mean(dim=-1)
    weights = (
        torch.ones_like(loss)
        if grad_output is None
        else torch.as_tensor(grad_output, dtype=x.dtype)
    )
    loss.backward(weights)
    return loss.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (16, 40), (7,)])
def test_matches_torch_autograd(shape, reduction, squared):
    rng = np.random.default_rng(sum(shape))
    scores = rng.standard_normal(shape) * 1.5  # continuous: never on a kink
    indicator = rng.random(shape) < 0.3
    margin = rng.uniform(0.25, 2.0, size=shape[-1]) if len(shape) == 2 else 1.0
    if reduction == "none":
        grad_output = rng.standard_normal(shape[:-1])
    else:
        grad_output = None
    # A bool indicator here; padded indices of the same labels agree exactly.
    loss, grad = multilabel_hinge_loss_and_grad(
        scores,
        indicator,
        margin=margin,
        squared=squared,
        reduction=reduction,
        grad_output=grad_output,
    )
    expected_loss, expected_grad = torch_hinge(
        scores, indicator, margin, squared, reduction, grad_output
    )
    assert np.shape(loss) == expected_loss.shape
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
    assert np.any(grad != 0)
    if len(shape) == 2:
        padded = forms.pytorch_layout(indicator)
        again = multilabel_hinge_loss_and_grad(
            scores,
            padded,
            margin=margin,
            squared=squared,
            reduction=reduction,
            grad_output=grad_output,
            **naive.as_indices(scores, padded),
        )
        assert np.array_equal(again[0], loss) and np.array_equal(again[1], grad)


def test_reference_agrees_with_the_hand_written_one_vs_rest_formula():
    # The reference itself, against the vectorised formula of the notes,
    # max(0, m - y*x + (1 - y)*x) for 0/1 labels y (no kinks: continuous).
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((6, 9))
    y = (rng.random((6, 9)) < 0.5).astype(np.float64)
    margin = rng.uniform(0.5, 1.5, size=9)
    expected = np.maximum(0.0, margin - y * scores + (1 - y) * scores).mean(axis=1)
    loss, grad = naive.hinge_loss_and_grad(scores, y.astype(bool), margin, False, "none")
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    active = margin - y * scores + (1 - y) * scores > 0
    np.testing.assert_allclose(grad, np.where(active, 1 - 2 * y, 0.0) / 9, rtol=1e-14)
