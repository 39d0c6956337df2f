"""Target forms, and their conversion to the kernels' canonical form.

A user's target is one of: class indices padded with -1 (any integer
dtype), ragged label lists, a 0/1 indicator matrix (bool, or 0/1 floats;
0/1 integers when the caller says so), or a ``scipy.sparse`` label matrix.
:func:`as_label_rows` turns each into :class:`LabelRows`, the form every
kernel reads (see ``kernels/labels.py``); the public converters
:func:`indicator_from_targets`, :func:`targets_from_indicator` and
:func:`targets_from_lists` are built on the same loops. Nothing here
computes a loss.
"""

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse

from . import _labels
from ._checks import (
    check_compressed,
    check_positive_int,
    check_target_format,
    host_array,
    is_indicator,
)
from .kernels.labels import ROW_OF_ZEROS_AND_ONES, ROW_OK

_INT64_MAX = np.iinfo(np.int64).max


class LabelRows(NamedTuple):
    """A target in the kernels' canonical form.

    Row i's labels are ``indices[indptr[i]:indptr[i + 1]]``, read up to the
    first -1 when ``padded``. A bool indicator that a kernel reads directly
    is kept as ``indicator`` (C-contiguous (N, C)); ``indptr`` then holds
    zeros and ``indices`` nothing.
    """

    indptr: np.ndarray  # int64, (N + 1,)
    # int64 (the CPU kernels are compiled for it alone): a padded int64
    # target is read in place; the other forms are converted, and padded
    # targets of other integer dtypes keep only their rows' used entries
    # (see ``_compact_rows``).
    indices: np.ndarray  # 1-D
    padded: bool
    width: int  # most entries in a row
    indicator: np.ndarray | None
    # The (N, K) padded matrix that error messages quote (None for others).
    padded_source: np.ndarray | None
    # An integer target of the input's own shape: the kernels' report of
    # 0/1-only rows then means it was probably meant as an indicator.
    may_be_indicator: bool


def as_label_rows(
    target, n_rows, n_classes, one_dimensional, *, keep_indicator, target_format="auto"
):
    """Return ``target`` (any accepted form) as :class:`LabelRows`.

    Parameters
    ----------
    target : array_like or scipy.sparse matrix/array
        Padded class indices (K,) / (N, K), ragged label lists, a 0/1
        indicator of the input's shape, or a sparse (N, C) label matrix.
    n_rows, n_classes : int
        Number of samples N and of classes C of the scores.
    one_dimensional : bool
        Whether the scores were a single 1-D sample.
    keep_indicator : bool
        Keep a bool indicator dense for a kernel that reads it directly
        (otherwise it becomes label lists).
    target_format : {"auto", "indices", "indicator"}
        How to read a dense target (see :func:`is_indicator`).

    Raises
    ------
    TypeError
        If ``target`` holds neither numbers nor booleans, or its dtype does
        not fit ``target_format``.
    ValueError
        If its shape does not match the scores, an indicator holds values
        other than 0 and 1, or an unsigned index does not fit in int64.
    """
    check_target_format(target_format)
    scores_shape = (n_classes,) if one_dimensional else (n_rows, n_classes)
    if scipy.sparse.issparse(target):
        if target_format == "indices":
            raise TypeError(
                'target_format="indices" needs class indices, got a scipy.sparse '
                'matrix (a label matrix: use target_format="auto" or "indicator")'
            )
        if target.ndim == 1 and target.shape == scores_shape:
            target = target.reshape((1, n_classes))  # a 1-D sparse array
        return _sparse_rows(target, n_rows, n_classes)
    target = as_target_array(target, lists_allowed=target_format != "indicator")
    if is_indicator(
        target.shape, target.dtype, n_rows, n_classes, one_dimensional, target_format
    ):
        indicator = np.ascontiguousarray(
            _indicator_values(target, target_format).reshape(n_rows, n_classes)
        )
        if keep_indicator:
            return LabelRows(
                np.zeros(n_rows + 1, np.int64),
                np.empty(0, np.int64),
                False,
                0,
                indicator,
                None,
                False,
            )
        return _indicator_rows(indicator)
    return padded_rows(
        target,
        n_rows,
        n_classes,
        one_dimensional,
        scores_shape,
        may_be_indicator=target_format == "auto",
    )


def as_target_array(target, lists_allowed=True):
    """``np.asarray(target)``, except that an empty list is an empty index
    row, not float64, and ragged label lists (a list of lists or arrays of
    different lengths, or a 1-D object array of them such as a pandas
    Series of lists) become -1 padded indices when ``lists_allowed``."""
    was_array = isinstance(target, np.ndarray)
    try:
        target = np.asarray(target)
    except ValueError:
        if not lists_allowed:
            host_array(target, "target")  # raises, naming the argument
        return targets_from_lists(target)
    if target.dtype == object and target.ndim == 1 and lists_allowed:
        return targets_from_lists(target)
    if not was_array and target.size == 0 and target.dtype == np.float64:
        target = target.astype(np.int64)
    return target


def _indicator_values(target, target_format):
    """A dense target read as an indicator, as bool: every value must be 0
    or 1 (a float that is neither is a TypeError when the float was only
    presumed to be an indicator, a ValueError when the caller said so)."""
    if target.dtype == np.bool_:
        return target
    with np.errstate(invalid="ignore"):
        zero_or_one = (target == 0) | (target == 1)
    if not zero_or_one.all():
        where = tuple(int(i) for i in np.argwhere(~zero_or_one)[0])
        value = target[where].item()
        if target_format == "auto":
            raise TypeError(
                f"a float target is read as a 0/1 indicator (multi-hot labels), so "
                f"every value must be 0 or 1, got target[{', '.join(map(str, where))}] "
                f"= {value!r}; class indices must be integers"
            )
        raise ValueError(
            f'target_format="indicator" needs 0s and 1s, got '
            f"target[{', '.join(map(str, where))}] = {value!r}"
        )
    return target.astype(bool)


def padded_rows(
    target, n_rows, n_classes, one_dimensional, scores_shape, may_be_indicator=False
):
    """LabelRows of a padded index target whose shape is already checked;
    with ``may_be_indicator``, one of the input's shape may turn out to be
    an ambiguous 0/1 matrix (see :func:`raise_if_ambiguous`)."""
    may_be_indicator = may_be_indicator and target.shape == scores_shape
    if one_dimensional:
        target = target.reshape(1, -1)
    if target.dtype != np.int64:
        if target.dtype == np.uint64 and target.size and target.max() > _INT64_MAX:
            row, column = np.argwhere(target > _INT64_MAX)[0]
            _raise_bad_index(target, row, column, n_classes, one_dimensional)
        return _compact_rows(np.ascontiguousarray(target), may_be_indicator)
    target = np.ascontiguousarray(target)
    width = target.shape[1]
    return LabelRows(
        np.arange(n_rows + 1, dtype=np.int64) * width,
        target.reshape(-1),
        True,
        width,
        None,
        target,
        may_be_indicator,
    )


def _compact_rows(target, may_be_indicator):
    """LabelRows of a C-contiguous (N, K) padded target of an integer dtype
    other than int64 (values within int64), as int64.

    Such targets (int32 most often; int8 or uint16 to save memory) deserve
    no int64 copy of the whole matrix (the padded (N, C) layout would double
    a call's memory traffic, and a (1, 10**7) int8 row would take 80 MB),
    and are not worth a compiled variant of every kernel each (a second or
    two on first use): each row is kept up to and including its first -1,
    a pass over the used entries only. The rows stay padded rows, so
    positions within a row, and what a row of 0s and 1s reports, are those
    of the caller's matrix.
    """
    n_rows, width = target.shape
    indptr = np.zeros(n_rows + 1, np.int64)
    _labels.row_lengths(target, indptr[1:])
    np.add.accumulate(indptr, out=indptr)
    indices = np.empty(indptr[-1], np.int64)
    _labels.compact_rows(target, indptr[:-1], indices)
    return LabelRows(indptr, indices, True, width, None, target, may_be_indicator)


def _sparse_rows(target, n_rows, n_classes):
    if target.shape != (n_rows, n_classes):
        raise ValueError(
            f"a sparse target must have shape (N, C) = {(n_rows, n_classes)}, "
            f"got shape {target.shape}"
        )
    labels = canonical_csr(target)
    indptr = labels.indptr.astype(np.int64)
    width = int(np.diff(indptr).max()) if n_rows else 0
    indices = labels.indices.astype(np.int64)
    return LabelRows(indptr, indices, False, width, None, None, False)


def canonical_csr(target):
    """CSR with sorted, distinct column indices and no stored zeros; the
    caller's matrix is never modified (CSR in canonical form is used as is)."""
    check_compressed(target)
    labels = target.tocsr()
    copied = labels is not target
    if not labels.has_canonical_format:
        labels = labels if copied else labels.copy()
        copied = True
        labels.sum_duplicates()
    if labels.nnz and not np.all(labels.data):
        labels = labels if copied else labels.copy()
        labels.eliminate_zeros()
    return labels


def _indicator_rows(indicator):
    """Label lists (CSR-like) of a C-contiguous bool (N, C) indicator."""
    n_rows = indicator.shape[0]
    counts = np.empty(n_rows, np.int64)
    _labels.count_labels(indicator, counts)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int64)
    _labels.labels_from_indicator(indicator, indptr[:-1], indices)
    width = int(counts.max()) if n_rows else 0
    return LabelRows(indptr, indices, False, width, None, None, False)


def _raise_bad_entry(rows, row, position, n_classes, one_dimensional):
    """Raise the ValueError for entry ``position`` of row ``row`` of ``rows``
    (a :class:`LabelRows`), which a kernel found not to be a class index."""
    if rows.padded_source is not None:
        _raise_bad_index(rows.padded_source, row, position, n_classes, one_dimensional)
    value = rows.indices[rows.indptr[row] + position]
    raise ValueError(f"target row {row} holds column index {value}, outside [0, {n_classes})")


def _raise_bad_index(target, row, column, n_classes, one_dimensional):
    where = f"target[{column}]" if one_dimensional else f"target[{row}, {column}]"
    raise ValueError(
        f"{where} = {target[row, column]} is not a class index: used entries "
        f"must lie in [0, {n_classes}), and -1 ends a row"
    )


def raise_if_ambiguous(rows, largest_status):
    """Raise when every row of an integer target of the input's shape, read
    with ``target_format="auto"``, held only 0s and 1s and no -1
    (``largest_status``: the largest row status): scikit-learn's and
    pandas' 0/1 label matrices look exactly like that, and so do index
    rows of classes 0 and 1, so neither reading may be guessed."""
    if rows.may_be_indicator and largest_status == ROW_OF_ZEROS_AND_ONES:
        raise ValueError(
            "target is an integer array of the input's shape holding only 0s and "
            "1s and no -1, which reads two ways: as a 0/1 indicator matrix (each "
            "row marks its labels, as scikit-learn's MultiLabelBinarizer writes "
            "them), or as class indices (each row lists classes 0 and 1). Pass "
            'target_format="indicator" or target_format="indices" to say which '
            "(or target.astype(bool) for an indicator)."
        )


def targets_from_lists(lists: Any, n_classes: int | None = None) -> np.ndarray:
    """Turn ragged label lists into -1 padded class indices.

    Parameters
    ----------
    lists : sequence of sequences of int
        Row i's labels: a list, tuple or 1-D array of class indices (any
        length, empty included), for example a pandas Series of lists. The
        loss functions take such lists as ``target`` directly, converted by
        this function.
    n_classes : int, optional
        Number of classes C: when given, every index must lie in [0, C).

    Returns
    -------
    target : ndarray of int64, shape (N, K)
        Row i's labels in their order, then -1 up to K, the longest row's
        length.

    Raises
    ------
    TypeError
        If a row holds anything but integers.
    ValueError
        If a row is not flat, or an index is negative (or not below
        ``n_classes``).

    See Also
    --------
    targets_from_indicator : The same from a 0/1 indicator matrix.

    Examples
    --------
    >>> from fastmargin import targets_from_lists
    >>> targets_from_lists([[0, 3], [1], []])
    array([[ 0,  3],
           [ 1, -1],
           [-1, -1]])
    """
    if n_classes is not None:
        n_classes = check_positive_int(n_classes, "n_classes")
    rows = []
    for i, row in enumerate(lists):
        row = np.asarray(row)
        if row.ndim != 1:
            raise ValueError(
                f"label list {i} must be a flat sequence of class indices, got shape "
                f"{row.shape}"
            )
        if row.size and row.dtype.kind not in "iu":
            raise TypeError(
                f"label list {i} must hold integer class indices, got dtype {row.dtype}"
            )
        if row.size:
            low, high = row.min(), row.max()
            if low < 0 or high > _INT64_MAX or (n_classes is not None and high >= n_classes):
                bad = low if low < 0 else high
                limit = "" if n_classes is None else f" below {n_classes}"
                raise ValueError(
                    f"label list {i} holds {bad}, not a class index (indices are >= 0{limit})"
                )
        rows.append(row)
    width = max((row.size for row in rows), default=0)
    target = np.full((len(rows), width), -1, np.int64)
    for i, row in enumerate(rows):
        target[i, : row.size] = row
    return target


def raise_for_bad_rows(largest_status, status, rows, n_classes, one_dimensional):
    """Raise for the first row whose ``status`` names a bad entry
    (``largest_status``: ``status.max()``)."""
    if largest_status > ROW_OK:
        row = int(np.argmax(status > ROW_OK))
        _raise_bad_entry(rows, row, int(status[row]), n_classes, one_dimensional)
