"""Target forms of both losses, the converters, and the 0/1 warning.

The same labels written as padded indices (PyTorch layout, compact,
unsorted, int32/int64 and other integers), as a bool indicator and as every
scipy.sparse format must give identical results; the converters between
indices and indicators round-trip; an integer target that looks like an
indicator warns. Inputs of every kind are never modified.

Every input is small: this file also runs with NUMBA_DISABLE_JIT=1 (see
runtime/test_threads_and_nojit.py).
"""

import warnings

import forms
import naive
import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from fastmargin import (
    AdaptiveMargins,
    indicator_from_targets,
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
    targets_from_indicator,
)

FLOAT_DTYPES = (np.float32, np.float64)
HINGE_FUNCTIONS = (
    multilabel_hinge_loss,
    multilabel_hinge_loss_grad,
    multilabel_hinge_loss_and_grad,
)
RANKING_FUNCTIONS = (
    multilabel_margin_loss,
    multilabel_margin_loss_grad,
    multilabel_margin_loss_and_grad,
)
ALL_FUNCTIONS = HINGE_FUNCTIONS + RANKING_FUNCTIONS
LOSSES = {
    "hinge": multilabel_hinge_loss_and_grad,
    "ranking": multilabel_margin_loss_and_grad,
}


def results(function, scores, target):
    """Loss and gradient, with and without reduction and grad_output; an
    integer target that reads two ways read as indices, as it must say."""
    grad_output = np.linspace(-1.0, 2.0, scores.shape[0]) if scores.ndim == 2 else 1.5
    index_format = naive.as_indices(scores, target)
    return (
        function(scores, target, reduction="none", grad_output=grad_output, **index_format),
        function(scores, target, reduction="mean", **index_format),
    )


def assert_identical(first, second):
    if isinstance(first, tuple):
        assert isinstance(second, tuple) and len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            assert_identical(a, b)
    else:
        assert np.asarray(first).dtype == np.asarray(second).dtype
        assert np.shape(first) == np.shape(second)
        assert np.array_equal(first, second, equal_nan=True)


def labelled_case(seed, n_rows=6, n_classes=7, dtype=np.float64):
    """Scores on a quarter grid (kinks and ties) and labels with an empty
    row, a row with every class and a single-label row."""
    rng = np.random.default_rng(seed)
    scores = (rng.integers(-8, 9, size=(n_rows, n_classes)) / 4).astype(dtype)
    indicator = rng.random((n_rows, n_classes)) < 0.4
    if n_rows >= 3:
        indicator[0] = False
        indicator[1] = True
        indicator[2] = np.arange(n_classes) == n_classes - 1
    return rng, scores, indicator


def dense_index_forms(indicator, rng, *, duplicates):
    """Padded index forms of the same labels (ranking: duplicate-free)."""
    n_classes = indicator.shape[1]
    compact_width = int(indicator.sum(axis=1).max())
    return {
        "pytorch_int64": forms.pytorch_layout(indicator, np.int64),
        "pytorch_int32": forms.pytorch_layout(indicator, np.int32),
        "compact_int64": forms.padded_rows(
            indicator,
            rng,
            width=compact_width,
            shuffle=False,
            duplicates=False,
            junk=False,
        ),
        "compact_int32_unsorted": forms.padded_rows(
            indicator,
            rng,
            width=compact_width,
            dtype=np.int32,
            duplicates=False,
            junk=False,
        ),
        "wide_unsorted_junk": forms.padded_rows(
            indicator, rng, width=n_classes + 4, duplicates=duplicates
        ),
        "int8": forms.padded_rows(
            indicator, rng, dtype=np.int8, duplicates=duplicates, junk=False
        ),
        "int16_fortran": np.asfortranarray(
            forms.padded_rows(indicator, rng, dtype=np.int16, duplicates=duplicates)
        ),
    }


@pytest.mark.parametrize("loss", ["hinge", "ranking"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_form_of_the_same_labels_gives_identical_results(seed, dtype, loss):
    rng, scores, indicator = labelled_case(seed, dtype=dtype)
    function = LOSSES[loss]
    expected = results(function, scores, indicator)
    # The indicator's result is the reference's.
    if loss == "hinge":
        reference = naive.hinge_loss_and_grad(
            scores, indicator, 1.0, False, "none", np.linspace(-1.0, 2.0, 6)
        )
    else:
        reference = naive.ranking_loss_and_grad(
            scores, forms.pytorch_layout(indicator), 1.0, "none", np.linspace(-1.0, 2.0, 6)
        )
    np.testing.assert_allclose(expected[0][0], reference[0], rtol=1e-6)
    np.testing.assert_allclose(expected[0][1], reference[1], rtol=1e-6)
    assert np.any(expected[0][1] != 0)
    targets = dense_index_forms(indicator, rng, duplicates=loss == "hinge")
    for name in forms.SPARSE_FORM_NAMES:
        targets[name] = forms.sparse_form(indicator, name, rng)
    for name, target in targets.items():
        try:
            assert_identical(results(function, scores, target), expected)
        except AssertionError as error:
            raise AssertionError(f"target form {name}") from error


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_one_dimensional_forms(dtype):
    _, scores, indicator = labelled_case(3, n_rows=1, n_classes=9, dtype=dtype)
    scores, indicator = scores[0], indicator[0]
    indicator[:3] = [True, False, True]
    labels = np.flatnonzero(indicator)
    forms_1d = {
        "compact": labels,
        "unsorted_int32": labels[::-1].astype(np.int32),
        "padded_junk": np.concatenate([labels, [-1, 99, -5]]),
        "pytorch": np.concatenate([labels, -np.ones(9 - labels.size, np.int64)]),
    }
    for loss, function in LOSSES.items():
        expected = results(function, scores, indicator)
        assert expected[0][0].shape == () and expected[0][1].shape == (9,)
        for target in forms_1d.values():
            assert_identical(results(function, scores, target), expected)
        # A 1-D input with a (1, C) sparse target is not promised; (C,)
        # indices and bool are. The hinge's duplicates are one label.
        if loss == "hinge":
            doubled = np.concatenate([labels, labels])
            assert_identical(results(function, scores, doubled), expected)


def test_ranking_counts_listed_duplicates_but_not_sparse_duplicates():
    # Ranking: a duplicate listed in padded indices counts twice (as in
    # PyTorch); a duplicate COO entry is one label.
    scores = np.array([[0.5, 0.25, -0.5, 1.0]])
    once = np.array([[2, -1]])
    twice = np.array([[2, 2, -1]])
    coo = scipy.sparse.coo_matrix(([1, 1], ([0, 0], [2, 2])), shape=(1, 4))
    loss_once = multilabel_margin_loss(scores, once, reduction="sum")
    assert loss_once > 0
    np.testing.assert_allclose(
        multilabel_margin_loss(scores, twice, reduction="sum"), 2 * loss_once, rtol=1e-15
    )
    assert multilabel_margin_loss(scores, coo, reduction="sum") == loss_once
    # The hinge: one label in every form.
    hinge_once = multilabel_hinge_loss(scores, once, reduction="sum")
    assert multilabel_hinge_loss(scores, twice, reduction="sum") == hinge_once
    assert multilabel_hinge_loss(scores, coo, reduction="sum") == hinge_once


@pytest.mark.parametrize("loss", ["hinge", "ranking"])
def test_explicit_zeros_are_not_labels(loss):
    function = LOSSES[loss]
    scores = np.array([[0.5, -0.25, 1.5, 0.0], [1.0, 2.0, -1.0, 0.25]])
    indicator = np.array([[True, False, False, True], [False, False, True, False]])
    expected = results(function, scores, indicator)
    # Stored zeros at (0, 1), (1, 0) and (1, 3); labels stored as 3 and -2.
    data = np.array([3, 0, 0, 1, -2, 0])
    indices = np.array([0, 1, 3, 3, 2, 0])
    rows = np.array([0, 0, 1, 0, 1, 1])
    for matrix in (
        scipy.sparse.coo_matrix((data, (rows, indices)), shape=(2, 4)),
        scipy.sparse.coo_array((data, (rows, indices)), shape=(2, 4)),
        scipy.sparse.csr_matrix(
            (np.array([3, 0, 1, 0, -2, 0]), np.array([0, 1, 3, 3, 2, 0]), np.array([0, 3, 6])),
            shape=(2, 4),
        ),
    ):
        assert matrix.nnz == 6
        assert_identical(results(function, scores, matrix), expected)
    # A matrix of stored zeros only: no labels at all.
    zeros = scipy.sparse.csr_matrix((np.zeros(3), ([0, 1, 1], [0, 1, 2])), shape=(2, 4))
    assert_identical(
        results(function, scores, zeros), results(function, scores, np.zeros((2, 4), bool))
    )


# --------------------------------------------------------------------------
# Converters


@st.composite
def padded_targets(draw):
    n_classes = draw(st.integers(1, 10))
    one_dimensional = draw(st.booleans())
    n_rows = 1 if one_dimensional else draw(st.integers(0, 5))
    width = draw(st.integers(0, n_classes + 3))
    junk = st.one_of(st.integers(-9, n_classes + 9), st.just(-1))
    rows = []
    for _ in range(n_rows):
        n_used = draw(st.integers(0, width))
        row = draw(st.lists(st.integers(0, n_classes - 1), min_size=n_used, max_size=n_used))
        if n_used < width:
            row += [-1] + draw(
                st.lists(junk, min_size=width - n_used - 1, max_size=width - n_used - 1)
            )
        rows.append(row)
    dtype = draw(st.sampled_from([np.int8, np.int16, np.int32, np.int64]))
    target = np.array(rows, dtype=np.int64).reshape(n_rows, width).astype(dtype)
    return (target[0] if one_dimensional else target), n_classes


@given(padded_targets())
def test_narrow_index_rows_keep_their_entries_up_to_the_first_minus_one(case):
    """The kernels read int64 label lists only: a padded target of another
    integer dtype is converted, keeping each row up to and including its
    first -1 (the junk after it is dropped) as a padded row of its own."""
    from fastmargin._targets import _compact_rows

    target, _ = case
    target = np.atleast_2d(target)
    if target.dtype == np.int64:
        target = target.astype(np.int32)
    rows = _compact_rows(np.ascontiguousarray(target), may_be_indicator=False)
    assert rows.padded and rows.indices.dtype == np.int64 and rows.indptr.dtype == np.int64
    assert rows.width == target.shape[1] and rows.padded_source is not None
    for row, entries in enumerate(target.tolist()):
        kept = entries[: entries.index(-1) + 1] if -1 in entries else entries
        assert rows.indices[rows.indptr[row] : rows.indptr[row + 1]].tolist() == kept
    assert rows.indptr[0] == 0 and rows.indptr[-1] == rows.indices.size


def test_a_wide_narrow_index_row_is_not_copied_whole():
    """Regression (peak memory): an int8 target of PyTorch's (N, C) layout
    was copied to int64 whole, 8 bytes per class; only its used entries
    are converted now."""
    from fastmargin._targets import as_label_rows

    target = np.full((1, 1_000_000), -1, np.int8)
    target[0, :5] = [3, 1, 4, 1, 5]
    rows = as_label_rows(target, 1, 1_000_000, False, keep_indicator=False)
    assert rows.indices.tolist() == [3, 1, 4, 1, 5, -1]


@given(padded_targets())
def test_converters_round_trip(case):
    target, n_classes = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converters never warn
        indicator = indicator_from_targets(target, n_classes)
        expected = naive.labels_indicator(target, n_classes)
        assert indicator.dtype == np.bool_ and indicator.shape == expected.shape
        assert np.array_equal(indicator, expected)
        labels = targets_from_indicator(indicator)
        expected_labels = naive.sorted_label_rows(expected)
        assert labels.dtype == np.int64 and labels.shape == expected_labels.shape
        assert np.array_equal(labels, expected_labels)
        # And back: the indicator is recovered exactly.
        assert np.array_equal(indicator_from_targets(labels, n_classes), indicator)
        # The integer 0/1 form of the indicator is accepted too.
        assert np.array_equal(targets_from_indicator(indicator.astype(np.uint8)), labels)


@pytest.mark.parametrize("name", forms.SPARSE_FORM_NAMES)
def test_targets_from_sparse_indicator(name):
    rng = np.random.default_rng(11)
    indicator = rng.random((5, 6)) < 0.4
    indicator[0] = False
    indicator[3] = True
    matrix = forms.sparse_form(indicator, name, rng)
    snapshot = forms.sparse_snapshot(matrix)
    labels = targets_from_indicator(matrix)
    assert labels.dtype == np.int64
    assert np.array_equal(labels, naive.sorted_label_rows(indicator))
    assert np.array_equal(labels, targets_from_indicator(indicator))
    assert forms.snapshots_equal(snapshot, forms.sparse_snapshot(matrix))


def test_targets_from_sparse_edge_shapes():
    assert targets_from_indicator(scipy.sparse.csr_matrix((0, 4))).shape == (0, 0)
    empty_rows = targets_from_indicator(scipy.sparse.csr_array((3, 4)))
    assert empty_rows.shape == (3, 0) and empty_rows.dtype == np.int64


def test_targets_from_one_dimensional_sparse_array():
    # scipy's sparse arrays may be 1-D (coo_array, csr_array, dok_array).
    # Such an indicator is either read like the dense (C,) one or refused
    # with a ValueError; any other exception is a crash.
    dense = np.array([True, False, True, False])
    expected = targets_from_indicator(dense)
    np.testing.assert_array_equal(expected, [0, 2])
    for cls in (scipy.sparse.coo_array, scipy.sparse.csr_array, scipy.sparse.dok_array):
        matrix = cls(dense.astype(np.int8))
        assert matrix.shape == (4,)
        try:
            labels = targets_from_indicator(matrix)
        except ValueError:
            continue
        np.testing.assert_array_equal(labels, expected)


def test_converter_edge_cases():
    # Empty batch, 0-width targets, all-False rows, 1-D.
    assert indicator_from_targets(np.zeros((0, 3), np.int64), 4).shape == (0, 4)
    zero_width = indicator_from_targets(np.zeros((2, 0), np.int64), 4)
    assert zero_width.shape == (2, 4) and not zero_width.any()
    assert indicator_from_targets(np.zeros(0, np.int32), 3).shape == (3,)
    np.testing.assert_array_equal(
        indicator_from_targets(np.array([2, -1, 9]), 3), [False, False, True]
    )
    np.testing.assert_array_equal(
        indicator_from_targets([[1, 1, -1], [-1, 0, 0]], 2), [[False, True], [False, False]]
    )
    assert targets_from_indicator(np.zeros((0, 5), bool)).shape == (0, 0)
    assert targets_from_indicator(np.zeros((3, 5), bool)).shape == (3, 0)
    assert targets_from_indicator(np.zeros(5, bool)).shape == (0,)
    np.testing.assert_array_equal(
        targets_from_indicator(np.array([False, True, True])), [1, 2]
    )
    np.testing.assert_array_equal(
        targets_from_indicator([[0, 1, 1], [0, 0, 0], [1, 0, 0]]),
        [[1, 2], [-1, -1], [0, -1]],
    )
    # A full row has no -1.
    np.testing.assert_array_equal(
        targets_from_indicator(np.ones((2, 3), bool)), [[0, 1, 2], [0, 1, 2]]
    )
    # Non-contiguous and Fortran-ordered inputs.
    indicator = np.asfortranarray(np.random.default_rng(0).random((4, 6)) < 0.5)
    np.testing.assert_array_equal(
        targets_from_indicator(indicator[:, ::2]),
        naive.sorted_label_rows(indicator[:, ::2]),
    )
    target = np.asfortranarray(np.array([[5, 0, -1], [3, 3, 1]]))[::-1]
    np.testing.assert_array_equal(
        indicator_from_targets(target, 6), naive.labels_indicator(target, 6)
    )


def test_converters_do_not_warn_and_read_zero_one_targets_as_indices():
    target = np.array([[0, 1, 1], [1, 0, 0]])  # an "indicator" of shape (2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(
            indicator_from_targets(target, 3), [[True, True, False], [True, True, False]]
        )


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.uint64])
def test_integer_zero_one_indicator_accepted_and_other_integers_rejected(dtype):
    indicator = np.array([[1, 0, 1], [0, 0, 0]], dtype=dtype)
    np.testing.assert_array_equal(targets_from_indicator(indicator), [[0, 2], [-1, -1]])
    bad = indicator.copy()
    bad[1, 1] = 2
    with pytest.raises(ValueError, match="only 0s and 1s"):
        targets_from_indicator(bad)
    if np.issubdtype(dtype, np.signedinteger):
        bad[1, 1] = -1
        with pytest.raises(ValueError, match="only 0s and 1s"):
            targets_from_indicator(bad)


def test_converter_errors():
    with pytest.raises(TypeError, match="indicator"):
        targets_from_indicator(np.array([[1.0, 0.0]]))
    with pytest.raises(TypeError, match="indicator"):
        targets_from_indicator(np.array([["1", "0"]]))
    for shape in ((), (2, 2, 2)):
        with pytest.raises(ValueError, match="indicator must have shape"):
            targets_from_indicator(np.zeros(shape, bool))
    with pytest.raises(ValueError, match=r"target\[1, 2\] = 9 is not a class index"):
        indicator_from_targets(np.array([[0, -1, 5], [1, 2, 9]]), 4)
    with pytest.raises(ValueError, match=r"target\[0, 1\] = -3 is not a class index"):
        indicator_from_targets(np.array([[0, -3, 5]]), 4)
    with pytest.raises(ValueError, match=r"target\[2\] = 4 is not a class index"):
        indicator_from_targets(np.array([0, 1, 4, -1, 77]), 4)
    for n_classes in (0, -2):
        with pytest.raises(ValueError, match="n_classes must be at least 1"):
            indicator_from_targets(np.array([[0]]), n_classes)
    for n_classes in (2.0, "3", True, None):
        with pytest.raises(TypeError, match="n_classes must be an int"):
            indicator_from_targets(np.array([[0]]), n_classes)
    assert indicator_from_targets(np.array([[1]]), np.int32(2)).shape == (1, 2)
    for target in (np.array([[True, False]]), np.array([[0.0, 1.0]]), [[0.5]]):
        with pytest.raises(TypeError, match="target must hold integer"):
            indicator_from_targets(target, 3)
    for shape in ((), (1, 1, 1)):
        with pytest.raises(ValueError, match="target must have shape"):
            indicator_from_targets(np.zeros(shape, np.int64), 3)


# --------------------------------------------------------------------------
# The 0/1-indicator warning


def ambiguous_targets():
    """Integer targets of the scores' (3, 4) shape, only 0s and 1s, no -1."""
    return {
        "mixed_int64": np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 0]]),
        "int32": np.array([[1, 0, 0, 0], [0, 1, 0, 1], [1, 1, 0, 0]], dtype=np.int32),
        "uint8_all_zero": np.zeros((3, 4), dtype=np.uint8),
        "fortran": np.asfortranarray(np.array([[0, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 1]])),
    }


AMBIGUOUS = "reads two ways"


def flat(result):
    return np.concatenate(
        [np.ravel(part) for part in (result if isinstance(result, tuple) else (result,))]
    )


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
@pytest.mark.parametrize("name", sorted(ambiguous_targets()))
def test_zero_one_integer_target_of_the_input_shape_needs_a_format(function, name):
    """Regression: scikit-learn's 0/1 label matrices were read as class
    indices with a UserWarning shown once per call site, so a training loop
    computed a wrong loss silently after the first call. Now "auto" refuses
    them, every time, and target_format says which reading is meant."""
    target = ambiguous_targets()[name]
    scores = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    for _ in range(2):  # every call, not once per call site
        with pytest.raises(ValueError, match=AMBIGUOUS) as error:
            function(scores, target)
    assert 'target_format="indicator"' in str(error.value)
    # "indices": class indices, exactly as the same rows with an ending -1.
    ended = np.concatenate([target.astype(np.int64), -np.ones((3, 1), np.int64)], axis=1)
    as_indices = function(scores, target, target_format="indices")
    assert_identical(as_indices, function(scores, ended))
    # "indicator": labels, exactly as the bool indicator.
    as_indicator = function(scores, target, target_format="indicator")
    assert_identical(as_indicator, function(scores, target.astype(bool)))
    if name != "uint8_all_zero":
        assert not np.array_equal(flat(as_indices), flat(as_indicator))


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_one_dimensional_zero_one_target_needs_a_format(function):
    for scores, target in (
        (np.array([0.5, -1.0, 2.0]), np.array([0, 1, 1])),
        (np.array([7.0]), np.array([0])),
    ):  # one class, label 0
        with pytest.raises(ValueError, match=AMBIGUOUS):
            function(scores, target)
        assert_identical(
            function(scores, target, target_format="indicator"),
            function(scores, target.astype(bool)),
        )


def test_adaptive_margins_takes_a_target_format_like_the_hinge():
    target = np.array([[0, 1, 1], [1, 1, 0]])
    with pytest.raises(ValueError, match=AMBIGUOUS):
        AdaptiveMargins(3).loss_and_grad(np.zeros((2, 3)), target)
    adaptive, bools = AdaptiveMargins(3), AdaptiveMargins(3)
    result = adaptive.loss_and_grad(np.zeros((2, 3)), target, target_format="indicator")
    assert_identical(result, bools.loss_and_grad(np.zeros((2, 3)), target.astype(bool)))
    np.testing.assert_array_equal(adaptive.margins, bools.margins)


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_target_format_checks(function):
    scores = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    with pytest.raises(ValueError, match="target_format must be one of"):
        function(scores, np.array([[0], [1], [2]]), target_format="labels")
    with pytest.raises(ValueError, match='target_format="indicator" needs 0s and 1s'):
        function(scores, np.full((3, 4), 2), target_format="indicator")
    with pytest.raises(ValueError, match="indicator target must have the input's shape"):
        function(scores, np.array([[0], [1], [2]]), target_format="indicator")
    sparse = scipy.sparse.csr_array(np.eye(3, 4, dtype=bool))
    with pytest.raises(TypeError, match='target_format="indices" needs class indices'):
        function(scores, sparse, target_format="indices")
    assert_identical(
        function(scores, sparse, target_format="indicator"), function(scores, sparse)
    )


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_ragged_label_lists_are_class_indices(function):
    scores = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    padded = np.array([[0, 3], [1, -1], [-1, -1]])
    expected = function(scores, padded)
    for lists in ([[0, 3], [1], []], [np.array([0, 3]), (1,), np.array([], int)]):
        assert_identical(function(scores, lists), expected)
    series_like = np.empty(3, object)  # what np.asarray makes of a pandas Series of lists
    series_like[:] = [[0, 3], [1], []]
    assert_identical(function(scores, series_like), expected)
    with pytest.raises(ValueError, match=r"target\[0, 1\] = 4 is not a class index"):
        function(scores, [[0, 4], [1], []])


def test_targets_from_lists():
    from fastmargin import targets_from_lists

    np.testing.assert_array_equal(
        targets_from_lists([[2, 0, 2], [], [1]]), [[2, 0, 2], [-1, -1, -1], [1, -1, -1]]
    )
    assert targets_from_lists([]).shape == (0, 0)
    assert targets_from_lists([[], []]).shape == (2, 0)
    assert targets_from_lists([np.array([1, 2], np.uint8)], n_classes=3).dtype == np.int64
    with pytest.raises(ValueError, match="label list 1 holds -1"):
        targets_from_lists([[0], [-1]])
    with pytest.raises(ValueError, match="label list 0 holds 3, not a class index"):
        targets_from_lists([[3]], n_classes=3)
    with pytest.raises(TypeError, match="label list 0 must hold integer class indices"):
        targets_from_lists([[0.5]])
    with pytest.raises(ValueError, match="label list 0 must be a flat sequence"):
        targets_from_lists([[[0]]])
    with pytest.raises(ValueError, match="label list 0 holds"):
        targets_from_lists([np.array([2**63], np.uint64)])
    with pytest.raises(ValueError, match="n_classes must be at least 1"):
        targets_from_lists([[0]], n_classes=0)


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_targets_that_are_not_ambiguous_are_accepted(function):
    scores = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    base = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 0]])
    with_minus_one = base.copy()
    with_minus_one[2, 3] = -1  # one row ends early
    with_two = base.copy()
    with_two[1, 0] = 2  # a value > 1 in one row
    with_three = base.copy()
    with_three[0, 0] = 3
    candidates = {
        "a -1 in one row": with_minus_one,
        "a -1 first": np.where(np.arange(4) == 0, -1, base),
        "a 2 in one row": with_two,
        "a 3": with_three,
        "narrower": base[:, :3],
        "wider": np.concatenate([base, np.zeros((3, 1), np.int64)], axis=1),
        "bool": base.astype(bool),
        "sparse": scipy.sparse.csr_matrix(base),
        "int sparse with zeros and ones": scipy.sparse.coo_array(base.astype(np.int8)),
    }
    for name, target in candidates.items():
        try:
            function(scores, target)
        except ValueError as error:
            raise AssertionError(f"{name} was refused") from error
    # 1-D: a -1, or a different length.
    function(scores[0], np.array([0, 1, -1, 1]))
    function(scores[0], np.array([0, 1, 1]))


# --------------------------------------------------------------------------
# Inputs are never modified; read-only, Fortran-order and strided inputs


def all_calls(scores, target, grad_output):
    """Every public function once (errors in the target form are the caller's)."""
    out = []
    for function in ALL_FUNCTIONS:
        kwargs = {}
        if function not in (multilabel_hinge_loss, multilabel_margin_loss):
            kwargs["grad_output"] = grad_output
        out.append(function(scores, target, reduction="none", **kwargs))
    return out


@pytest.mark.parametrize("name", ("bool", "padded") + forms.SPARSE_FORM_NAMES)
def test_inputs_are_never_modified(name):
    rng, scores, indicator = labelled_case(4)
    scores[2, 1] = np.nan
    scores[3, 0] = np.inf
    if name == "bool":
        target = indicator
    elif name == "padded":
        target = forms.padded_rows(indicator, rng, width=9, duplicates=False)
    else:
        target = forms.sparse_form(indicator, name, rng)
    grad_output = np.arange(6.0)
    scores_copy, grad_output_copy = scores.copy(), grad_output.copy()
    if scipy.sparse.issparse(target):
        before = forms.sparse_snapshot(target)
    else:
        before = target.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        all_calls(scores, target, grad_output)
        with pytest.warns(RuntimeWarning, match="margins were not updated"):
            AdaptiveMargins(7).loss_and_grad(scores, target)
    if scipy.sparse.issparse(target):
        targets_from_indicator(target)
        assert forms.snapshots_equal(before, forms.sparse_snapshot(target))
    else:
        assert np.array_equal(target, before)
    assert np.array_equal(scores, scores_copy, equal_nan=True)
    assert np.array_equal(grad_output, grad_output_copy)


def test_read_only_non_canonical_sparse_target():
    # Unsorted, duplicated column indices and stored zeros in arrays that
    # cannot be written: canonicalising in place would raise.
    rng, scores, indicator = labelled_case(5)
    expected = all_calls(scores, indicator, np.ones(6))
    for name in ("csr_messy", "csr_messy_array", "coo_messy"):
        matrix = forms.sparse_form(indicator, name, rng)
        assert not matrix.has_canonical_format
        arrays = (
            (matrix.data, matrix.indices, matrix.indptr)
            if name != "coo_messy"
            else (matrix.data, matrix.row, matrix.col)
        )
        for array in arrays:
            array.setflags(write=False)
        got = all_calls(scores, matrix, np.ones(6))
        for a, b in zip(got, expected, strict=True):
            assert_identical(a, b)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_read_only_fortran_and_strided_inputs_and_targets(dtype):
    rng, scores, indicator = labelled_case(6, n_rows=6, n_classes=8, dtype=dtype)
    padded = forms.padded_rows(indicator, rng, width=10, duplicates=False)
    expected = all_calls(scores, indicator, np.ones(6))

    def assert_same(got):
        for a, b in zip(got, expected, strict=True):
            assert_identical(a, b)

    # Read-only.
    scores_ro, indicator_ro, padded_ro = scores.copy(), indicator.copy(), padded.copy()
    for array in (scores_ro, indicator_ro, padded_ro):
        array.setflags(write=False)
    assert_same(all_calls(scores_ro, indicator_ro, np.ones(6)))
    assert_same(all_calls(scores_ro, padded_ro, np.ones(6)))
    # Fortran order.
    assert_same(all_calls(np.asfortranarray(scores), np.asfortranarray(indicator), np.ones(6)))
    assert_same(all_calls(np.asfortranarray(scores), np.asfortranarray(padded), np.ones(6)))
    # Strided views of larger arrays (every other row and column).
    big_scores = np.zeros((12, 16), dtype=dtype)
    big_scores[::2, ::2] = scores
    big_indicator = np.zeros((12, 16), dtype=bool)
    big_indicator[::2, ::2] = indicator
    big_padded = np.full((12, 20), 5, dtype=np.int64)
    big_padded[::2, ::2] = padded
    strided = big_scores[::2, ::2]
    assert not strided.flags.c_contiguous
    assert_same(all_calls(strided, big_indicator[::2, ::2], np.ones(6)))
    assert_same(all_calls(strided, big_padded[::2, ::2], np.ones(6)))
    # Reversed rows of both (a negative stride).
    reversed_expected = all_calls(scores[::-1].copy(), indicator[::-1].copy(), np.ones(6))
    for a, b in zip(
        all_calls(scores[::-1], indicator[::-1], np.ones(6)), reversed_expected, strict=True
    ):
        assert_identical(a, b)
