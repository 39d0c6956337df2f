"""Converters between the target forms: -1 padded class indices and 0/1
indicator matrices (dense or scipy.sparse)."""

from typing import Any

import numpy as np
import scipy.sparse

from . import _labels
from ._checks import check_positive_int
from ._targets import as_target_array, canonical_csr, padded_rows, raise_for_bad_rows


def indicator_from_targets(target: Any, n_classes: int) -> np.ndarray:
    """Turn -1 padded class indices into a bool 0/1 indicator matrix.

    Parameters
    ----------
    target : array_like of int, shape (K,) or (N, K)
        Class indices, each row read up to its first -1 (later entries are
        ignored). A label listed twice is one label.
    n_classes : int
        Number of classes C, at least 1.

    Returns
    -------
    indicator : ndarray of bool, shape (C,) or (N, C)
        ``indicator[i, c]`` is True when row i lists class c.

    Raises
    ------
    TypeError
        If ``target`` does not hold integers, or ``n_classes`` is not an int.
    ValueError
        If ``n_classes < 1``, ``target`` is not 1-D or 2-D, or a used entry
        lies outside [0, C).

    See Also
    --------
    targets_from_indicator : The inverse conversion.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import indicator_from_targets
    >>> indicator_from_targets(np.array([[2, 0, -1], [1, -1, 7]]), 3)
    array([[ True, False,  True],
           [False,  True, False]])
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    target = as_target_array(target)
    if target.ndim not in (1, 2):
        raise ValueError(f"target must have shape (K,) or (N, K), got shape {target.shape}")
    if target.dtype == np.bool_ or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(
            f"target must hold integer class indices padded with -1, got dtype {target.dtype}"
        )
    one_dimensional = target.ndim == 1
    n_rows = 1 if one_dimensional else target.shape[0]
    scores_shape = (n_classes,) if one_dimensional else (n_rows, n_classes)
    rows = padded_rows(target, n_rows, n_classes, one_dimensional, scores_shape)
    indicator = np.zeros((n_rows, n_classes), dtype=bool)
    status = np.empty(n_rows, np.int64)
    _labels.indicator_from_labels(rows, indicator, status)
    if n_rows:
        raise_for_bad_rows(status.max(), status, rows, n_classes, one_dimensional)
    return indicator.reshape(-1) if one_dimensional else indicator


def targets_from_indicator(indicator: Any) -> np.ndarray:
    """Turn a 0/1 indicator matrix into -1 padded class indices.

    Parameters
    ----------
    indicator : array_like of bool or 0/1 integers, shape (C,) or (N, C), or scipy.sparse
        Row i holds a True (or 1, or a stored non-zero) at each of its labels.

    Returns
    -------
    target : ndarray of int64, shape (K,) or (N, K)
        Each row's labels in ascending order, then -1 up to K, the most
        labels any row has.

    Raises
    ------
    TypeError
        If ``indicator`` holds neither booleans nor integers.
    ValueError
        If it is not 1-D or 2-D, or an integer entry is neither 0 nor 1.

    See Also
    --------
    indicator_from_targets : The inverse conversion.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import targets_from_indicator
    >>> targets_from_indicator(np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]]))
    array([[ 0,  2],
           [-1, -1],
           [ 1, -1]])
    """
    if scipy.sparse.issparse(indicator):
        one_dimensional = indicator.ndim == 1
        if one_dimensional:
            indicator = indicator.reshape((1, indicator.shape[0]))
        labels = canonical_csr(indicator)
        counts = np.diff(labels.indptr)
        width = int(counts.max()) if counts.size else 0
        target = np.full((labels.shape[0], width), -1, dtype=np.int64)
        rows = np.repeat(np.arange(labels.shape[0]), counts)
        columns = np.arange(labels.nnz) - np.repeat(labels.indptr[:-1], counts)
        target[rows, columns] = labels.indices
        return target.reshape(-1) if one_dimensional else target
    indicator = np.asarray(indicator)
    if indicator.ndim not in (1, 2):
        raise ValueError(
            f"indicator must have shape (C,) or (N, C), got shape {indicator.shape}"
        )
    if indicator.dtype != np.bool_:
        if not np.issubdtype(indicator.dtype, np.integer):
            raise TypeError(
                f"indicator must hold booleans or 0/1 integers, got dtype {indicator.dtype}"
            )
        if np.any((indicator != 0) & (indicator != 1)):
            raise ValueError("an integer indicator must hold only 0s and 1s")
        indicator = indicator.astype(bool)
    one_dimensional = indicator.ndim == 1
    dense = np.ascontiguousarray(indicator.reshape(1, -1) if one_dimensional else indicator)
    counts = np.empty(dense.shape[0], np.int64)
    _labels.count_labels(dense, counts)
    width = int(counts.max()) if counts.size else 0
    target = np.full((dense.shape[0], width), -1, dtype=np.int64)
    _labels.labels_from_indicator(dense, np.arange(dense.shape[0]) * width, target.reshape(-1))
    return target.reshape(-1) if one_dimensional else target
