"""AdaptiveMargins: per-label hinge margins updated from each batch's loss.

Checked against ``naive.adaptive_steps``, a transcription of the rule
``margins = clip(margins + rate * S / N, low, high)``; the loss of each step
is the plain hinge loss with the margins as they were.
"""

import contextlib

import forms
import naive
import numba
import numpy as np
import pytest
import scipy.sparse

from fastmargin import AdaptiveMargins, multilabel_hinge_loss, multilabel_hinge_loss_and_grad

FLOAT_DTYPES = (np.float32, np.float64)
REDUCTIONS = ("none", "mean", "sum")


def batches(seed, n_steps, n_labels, dtype=np.float64, sizes=(5, 8, 1, 13, 3)):
    """(scores, bool indicator) batches of varied sizes, continuous scores."""
    rng = np.random.default_rng(seed)
    out = []
    for step in range(n_steps):
        n_rows = sizes[step % len(sizes)]
        scores = (rng.standard_normal((n_rows, n_labels)) * 1.5).astype(dtype)
        indicator = rng.random((n_rows, n_labels)) < 0.35
        out.append((scores, indicator))
    return out


def target_form(indicator, step, rng):
    """Alternate target forms from step to step: the rule does not care."""
    kind = step % 3
    if kind == 0:
        return indicator
    if kind == 1:
        return forms.padded_rows(indicator, rng, width=indicator.shape[1] + 1)
    return scipy.sparse.csr_matrix(indicator)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_steps_match_the_transcription(dtype, squared):
    n_labels, rate, bounds, initial = 6, 0.3, (0.25, 1.75), 0.75
    data = batches(10, 8, n_labels, dtype)
    rng = np.random.default_rng(0)
    adaptive = AdaptiveMargins(n_labels, initial=initial, rate=rate, bounds=bounds)
    assert adaptive.margins.dtype == np.float64 and adaptive.margins.shape == (n_labels,)
    np.testing.assert_array_equal(adaptive.margins, np.full(n_labels, initial))
    trajectory = [adaptive.margins.copy()]
    for step, (scores, indicator) in enumerate(data):
        before = adaptive.margins.copy()
        target = target_form(indicator, step, rng)
        loss, grad = adaptive.loss_and_grad(scores, target, squared=squared)
        # The step's loss and gradient: the reference with the old margins.
        expected_loss, expected_grad = naive.hinge_loss_and_grad(
            scores, indicator, before, squared, "mean"
        )
        rtol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(loss, expected_loss, rtol=rtol)
        np.testing.assert_allclose(grad, expected_grad, rtol=rtol)
        assert type(loss) is dtype and grad.dtype == dtype
        # One step of the rule, from the margins the object had.
        expected = naive.adaptive_steps(
            [(scores, indicator)], n_labels, before, rate, bounds, squared
        )[-1]
        np.testing.assert_allclose(adaptive.margins, expected, rtol=1e-13, atol=0)
        trajectory.append(adaptive.margins.copy())
    # The whole trajectory, from the start, with the transcription alone.
    expected_trajectory = naive.adaptive_steps(data, n_labels, initial, rate, bounds, squared)
    np.testing.assert_allclose(
        np.array(trajectory),
        np.array(expected_trajectory),
        rtol=1e-6 if dtype == np.float32 else 1e-12,
    )
    # The margins moved, within the bounds.
    assert np.all(np.array(trajectory[-1]) > initial)
    assert np.all(np.array(trajectory[-1]) <= bounds[1])


def test_docstring_example_by_hand():
    # Margins 1, rate 0.5, labels {0, 2} and {0}:
    #   row 0, x = [2, -0.5, 0.5]: terms max(0, 1-2) = 0, max(0, 1-0.5) = 0.5,
    #                              max(0, 1-0.5) = 0.5
    #   row 1, x = [1, 0, -1]:     terms 0, max(0, 1+0) = 1, max(0, 1-1) = 0
    #   S = [0, 1.5, 0.5], N = 2: margins 1 + 0.5 * S / 2 = [1, 1.375, 1.125]
    adaptive = AdaptiveMargins(3, initial=1.0, rate=0.5, bounds=(0.5, 2.0))
    scores = np.array([[2.0, -0.5, 0.5], [1.0, 0.0, -1.0]])
    adaptive.loss_and_grad(scores, np.array([[0, 2], [0, -1]]))
    np.testing.assert_array_equal(adaptive.margins, [1.0, 1.375, 1.125])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_loss_and_gradient_are_the_hinge_with_the_old_margins(squared, dtype):
    adaptive = AdaptiveMargins(9, initial=0.5, rate=0.7, bounds=(0.0, 3.0))
    for scores, indicator in batches(11, 5, 9, dtype):
        before = adaptive.margins.copy()
        for reduction in REDUCTIONS:
            if reduction != "mean":  # one update per step: probe with rate 0
                probe = AdaptiveMargins(9, initial=0.5, rate=0.0, bounds=(0.0, 3.0))
                probe.margins[:] = before
                got = probe.loss_and_grad(
                    scores, indicator, squared=squared, reduction=reduction
                )
                assert np.array_equal(probe.margins, before)
            else:
                got = adaptive.loss_and_grad(scores, indicator, squared=squared)
            expected = multilabel_hinge_loss_and_grad(
                scores, indicator, margin=before, squared=squared, reduction=reduction
            )
            # Equal to rounding, and then exactly: the same terms, summed in
            # the same fixed order, whether or not the label sums are kept.
            np.testing.assert_allclose(got[0], expected[0], rtol=1e-14)
            assert np.array_equal(got[0], expected[0])
            assert np.array_equal(got[1], expected[1])
            assert np.array_equal(
                got[0],
                multilabel_hinge_loss(
                    scores, indicator, margin=before, squared=squared, reduction=reduction
                ),
            )


def test_update_does_not_depend_on_reduction_or_normalize():
    """The rule reads the per-label sums, whatever scales the loss."""
    data = batches(12, 3, 4)
    results = []
    for reduction, normalize in [(r, True) for r in REDUCTIONS] + [("sum", False)]:
        adaptive = AdaptiveMargins(4, rate=0.4)
        for scores, indicator in data:
            adaptive.loss_and_grad(scores, indicator, reduction=reduction, normalize=normalize)
        results.append(adaptive.margins.copy())
    for other in results[1:]:
        assert np.array_equal(results[0], other)
    assert not np.array_equal(results[0], np.ones(4))


def test_clip_at_the_upper_bound_is_exact():
    scores = np.full((3, 4), -5.0)  # every label scored far below its margin
    indicator = np.ones((3, 4), bool)
    indicator[:, 3] = False  # label 3 is never on: its terms are 0
    adaptive = AdaptiveMargins(4, initial=0.9, rate=10.0, bounds=(0.8, 1.3))
    adaptive.loss_and_grad(scores, indicator)
    # Labels 0-2: 0.9 + 10 * (1 - (-5)) clipped to 1.3; label 3: z = 0.9 - 5 < 0.
    np.testing.assert_array_equal(adaptive.margins, [1.3, 1.3, 1.3, 0.9])
    adaptive.loss_and_grad(scores, indicator)
    np.testing.assert_array_equal(adaptive.margins, [1.3, 1.3, 1.3, 0.9])


def test_margins_never_leave_the_bounds():
    for low, high in ((0.5, 2.0), (-1.0, 0.25), (1.0, 1.0)):
        initial = low
        adaptive = AdaptiveMargins(5, initial=initial, rate=2.0, bounds=(low, high))
        for scores, indicator in batches(13, 6, 5):
            adaptive.loss_and_grad(scores, indicator, squared=True)
            assert np.all(adaptive.margins >= low) and np.all(adaptive.margins <= high)
        if low == high:  # a degenerate interval: margins fixed at its value
            np.testing.assert_array_equal(adaptive.margins, np.full(5, low))
        else:
            assert np.any(adaptive.margins > low)


def test_rate_zero_keeps_the_margins():
    adaptive = AdaptiveMargins(6, initial=1.25, rate=0.0)
    for scores, indicator in batches(14, 4, 6):
        adaptive.loss_and_grad(scores * 10, indicator, squared=True)
    np.testing.assert_array_equal(adaptive.margins, np.full(6, 1.25))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_empty_batch_leaves_the_margins(dtype):
    adaptive = AdaptiveMargins(4, initial=1.0, rate=0.5)
    adaptive.loss_and_grad(np.array([[0.0, 1.0, -1.0, 2.0]], dtype=dtype), np.array([[1, -1]]))
    before = adaptive.margins.copy()
    assert not np.array_equal(before, np.ones(4))
    for target in (
        np.empty((0, 2), np.int64),
        np.empty((0, 4), bool),
        scipy.sparse.csr_matrix((0, 4)),
    ):
        loss, grad = adaptive.loss_and_grad(np.empty((0, 4), dtype=dtype), target)
        assert np.isnan(loss) and type(loss) is dtype
        assert grad.shape == (0, 4) and grad.dtype == dtype
        loss, _ = adaptive.loss_and_grad(
            np.empty((0, 4), dtype=dtype), target, reduction="sum"
        )
        assert loss == 0
        np.testing.assert_array_equal(adaptive.margins, before)


def test_one_dimensional_input_is_one_sample():
    scores = np.array([0.25, -1.5, 2.0])
    adaptive = AdaptiveMargins(3, rate=0.5, bounds=(0.0, 4.0))
    loss, grad = adaptive.loss_and_grad(scores, np.array([2, -1]), reduction="none")
    assert loss.shape == () and grad.shape == (3,)
    # Terms: label 2: max(0, 1 - 2) = 0; non-labels: max(0, 1 + 0.25) = 1.25,
    # max(0, 1 - 1.5) = 0. Margins 1 + 0.5 * terms.
    np.testing.assert_array_equal(adaptive.margins, [1.625, 1.0, 1.0])


def test_out_and_squared_are_passed_on():
    scores, indicator = batches(15, 1, 5)[0]
    adaptive = AdaptiveMargins(5, rate=0.2)
    out = np.full(scores.shape, np.nan)
    loss, grad = adaptive.loss_and_grad(scores, indicator, squared=True, out=out)
    assert grad is out
    expected = multilabel_hinge_loss_and_grad(scores, indicator, squared=True)
    assert np.array_equal(out, expected[1]) and loss == expected[0]
    expected_margins = naive.adaptive_steps(
        [(scores, indicator)], 5, 1.0, 0.2, (0.5, 2.0), squared=True
    )[-1]
    np.testing.assert_allclose(adaptive.margins, expected_margins, rtol=1e-13)


def test_margins_array_is_updated_in_place():
    adaptive = AdaptiveMargins(3, rate=0.5)
    margins = adaptive.margins
    adaptive.loss_and_grad(np.zeros((2, 3)), np.array([[0, -1], [1, 2]]))
    assert adaptive.margins is margins
    assert not np.array_equal(margins, np.ones(3))


# A NaN anywhere, +inf at a non-label, -inf at a label: a non-finite term.
@pytest.mark.parametrize("bad, column", [(np.nan, 1), (np.inf, 1), (-np.inf, 0)])
@pytest.mark.parametrize("rate", [0.5, 0.0])
def test_a_batch_with_a_nan_or_infinite_score_leaves_the_margins(bad, column, rate):
    """Regression: a NaN score made its label's margin NaN, and every later
    call raised about a "margin" the caller never passed; with rate=0 an
    infinite score made margins NaN (0 * inf). Such a batch's loss shows
    the NaN or infinity, and the margins stay as they were, usable."""
    scores = np.array([[0.0, 0.0, 0.5], [1.0, 0.0, -0.5]])
    scores[0, column] = bad
    target = np.array([[0], [2]])
    adaptive = AdaptiveMargins(3, rate=rate, bounds=(0.0, 4.0))
    adaptive.loss_and_grad(np.array([[0.2, -0.3, 0.9]]), np.array([[1]]))
    before = adaptive.margins.copy()
    expected_loss, expected_grad = multilabel_hinge_loss_and_grad(
        scores, target, margin=before, reduction="none"
    )
    # rate=0: no update to skip, so no warning (warnings are errors here).
    with (
        pytest.warns(RuntimeWarning, match="margins were not updated")
        if rate
        else (contextlib.nullcontext())
    ):
        loss, grad = adaptive.loss_and_grad(scores, target, reduction="none")
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    assert not np.isfinite(loss[0]) and np.isfinite(loss[1])
    np.testing.assert_array_equal(adaptive.margins, before)
    # The next clean batch updates them as usual.
    clean = np.array([[0.1, 0.2, 0.3]])
    adaptive.loss_and_grad(clean, np.array([[0]]))
    expected = naive.adaptive_steps(
        [(clean, np.array([[True, False, False]]))],
        3,
        initial=before,
        rate=rate,
        bounds=(0.0, 4.0),
    )[-1]
    np.testing.assert_allclose(adaptive.margins, expected, rtol=1e-15)


def test_margins_set_to_nan_from_outside_are_named():
    adaptive = AdaptiveMargins(3)
    adaptive.margins[2] = np.nan
    with pytest.raises(ValueError, match=r"AdaptiveMargins\.margins\[2\] = nan"):
        adaptive.loss_and_grad(np.zeros((1, 3)), np.array([[0]]))


def test_a_refused_call_leaves_the_margins():
    adaptive = AdaptiveMargins(3, rate=0.5)
    adaptive.loss_and_grad(np.array([[0.0, 1.0, 2.0]]), np.array([[2, -1]]))
    before = adaptive.margins.copy()
    for target in (np.array([[0, 3]]), np.array([[0.5]]), np.zeros((1, 2), bool)):
        with pytest.raises((ValueError, TypeError)):
            adaptive.loss_and_grad(np.array([[0.0, 1.0, 2.0]]), target)
        np.testing.assert_array_equal(adaptive.margins, before)
    with pytest.raises(ValueError, match="reduction"):
        adaptive.loss_and_grad(np.zeros((1, 3)), np.array([[0]]), reduction="avg")
    with pytest.raises(TypeError, match="squared"):
        adaptive.loss_and_grad(np.zeros((1, 3)), np.array([[0]]), squared=1)
    with pytest.raises(TypeError, match="normalize"):
        adaptive.loss_and_grad(np.zeros((1, 3)), np.array([[0]]), normalize="no")
    np.testing.assert_array_equal(adaptive.margins, before)


def test_constructor_and_shape_errors():
    for n_labels in (0, -1):
        with pytest.raises(ValueError, match="n_labels must be at least 1"):
            AdaptiveMargins(n_labels)
    for n_labels in (2.0, "3", True, None):
        with pytest.raises(TypeError, match="n_labels must be an int"):
            AdaptiveMargins(n_labels)
    assert AdaptiveMargins(np.int64(2)).margins.shape == (2,)
    for rate in (-0.1, np.inf, np.nan, -np.inf):
        with pytest.raises(ValueError, match="rate must be finite and >= 0"):
            AdaptiveMargins(3, rate=rate)
    for rate in ("a", None, True, 1j):
        with pytest.raises(TypeError, match="rate must be a real number"):
            AdaptiveMargins(3, rate=rate)
    for bounds in ((2.0, 1.0), (0.0, np.inf), (np.nan, 1.0), (-np.inf, 1.0)):
        with pytest.raises(ValueError, match="bounds must be finite with low <= high"):
            AdaptiveMargins(3, bounds=bounds, initial=1.0)
    for bounds in ((1.0,), 3, (1.0, 2.0, 3.0), None):
        with pytest.raises(ValueError, match="bounds must be a pair"):
            AdaptiveMargins(3, bounds=bounds)
    with pytest.raises(TypeError, match=r"bounds\[0\] must be a real number"):
        AdaptiveMargins(3, bounds=("a", 1.0))
    for initial in (3.0, 0.1, np.nan):
        with pytest.raises(ValueError, match="lies outside bounds"):
            AdaptiveMargins(3, initial=initial)
    with pytest.raises(TypeError, match="initial must be a real number"):
        AdaptiveMargins(3, initial="1")
    adaptive = AdaptiveMargins(3)
    for scores in (
        np.zeros((2, 4)),
        np.zeros(4),
        np.float64(1.0),
        np.zeros((2, 3, 1)),
        np.zeros((2, 2)),
    ):
        with pytest.raises(ValueError, match=r"input must have 3 classes \(n_labels\)"):
            adaptive.loss_and_grad(scores, np.zeros((2, 1), np.int64))
    np.testing.assert_array_equal(adaptive.margins, np.ones(3))


def run_steps(n_threads, data, squared):
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(n_threads)
        assert numba.get_num_threads() == n_threads
        adaptive = AdaptiveMargins(data[0][0].shape[1], rate=0.05, bounds=(0.5, 3.0))
        results = []
        for scores, indicator in data:
            results.append(
                adaptive.loss_and_grad(scores, indicator, squared=squared, reduction="none")
            )
            results.append(adaptive.margins.copy())
        return results
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_identical_margins_for_one_and_two_threads_and_run_to_run(dtype, squared):
    # Batches above and below the 64 blocks the label sums are split into.
    data = batches(16, 6, 37, dtype, sizes=(300, 7, 64, 65, 1, 130))
    one = run_steps(1, data, squared)
    two = run_steps(2, data, squared)
    again = run_steps(numba.config.NUMBA_NUM_THREADS, data, squared)
    for a, b, c in zip(one, two, again, strict=True):
        for x, y, z in zip(
            a if isinstance(a, tuple) else (a,),
            b if isinstance(b, tuple) else (b,),
            c if isinstance(c, tuple) else (c,),
            strict=True,
        ):
            assert x.dtype == y.dtype == z.dtype
            assert np.array_equal(x, y) and np.array_equal(x, z)
    assert not np.array_equal(one[-1], np.ones(37))


def test_loss_and_grad_is_the_sums_then_the_update():
    """loss_grad_and_label_sums leaves the margins alone; update() with its
    sums then moves them to the very bits loss_and_grad reaches; the
    warning of a non-finite batch names the caller's line."""
    rng = np.random.default_rng(21)
    scores = rng.standard_normal((40, 6))
    target = rng.random((40, 6)) < 0.3
    whole = AdaptiveMargins(6, rate=0.3)
    halves = AdaptiveMargins(6, rate=0.3)
    expected = whole.loss_and_grad(scores, target)
    loss, grad, sums = halves.loss_grad_and_label_sums(scores, target)
    assert np.array_equal(halves.margins, np.ones(6))
    halves.update(sums, 40)
    assert np.array_equal(halves.margins, whole.margins)
    assert np.array_equal(loss, expected[0]) and np.array_equal(grad, expected[1])
    with pytest.warns(RuntimeWarning, match="not updated") as caught:
        halves.update(np.full(6, np.nan), 40)
    assert caught[0].filename == __file__
    with pytest.raises(ValueError, match=r"label_sums must have shape \(6,\)"):
        halves.update(np.ones(5), 40)
    with pytest.raises(ValueError, match="n_rows must be >= 0"):
        halves.update(sums, -1)
    with pytest.raises(TypeError, match="n_rows must be an int"):
        halves.update(sums, 4.0)
