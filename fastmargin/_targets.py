"""Target forms and their conversion to the kernels' canonical form.

The kernels take class indices as a C-contiguous int32 or int64 matrix of
shape (N, K), each row read up to its first -1. Everything that turns a
user's target into that form lives here, apart from the kernels.
"""

import numpy as np

_INT64_MAX = np.iinfo(np.int64).max


def as_padded_indices(target, n_rows, n_classes, one_dimensional):
    """Return ``target`` as the kernels' padded class-index matrix.

    Parameters
    ----------
    target : array_like of int
        Class indices, shape (K,) for a single sample or (N, K) for a batch,
        each row read up to its first -1.
    n_rows, n_classes : int
        Number of samples N and of classes C of the scores.
    one_dimensional : bool
        Whether the scores were a single 1-D sample.

    Returns
    -------
    indices : ndarray of int32 or int64, shape (N, K)
        C-contiguous; int32 and int64 are kept as they are (no copy when the
        input is already C-contiguous), other integer types become int64.
        Range checks are left to the kernels, which read only the used
        entries.

    Raises
    ------
    TypeError
        If ``target`` does not hold integers.
    ValueError
        If its shape does not match the scores, or an unsigned value does not
        fit in int64.
    """
    was_array = isinstance(target, np.ndarray)
    target = np.asarray(target)
    if not was_array and target.size == 0 and target.dtype == np.float64:
        target = target.astype(np.int64)  # np.asarray([]) is float64
    if target.dtype == np.bool_ or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(
            "target must hold integer class indices padded with -1, "
            f"got dtype {target.dtype}"
        )
    expected_ndim = 1 if one_dimensional else 2
    if target.ndim != expected_ndim:
        expected = "(K,)" if one_dimensional else "(N, K)"
        raise ValueError(
            f"target must have shape {expected} to match input of "
            f"{expected_ndim} dimension(s), got shape {target.shape}"
        )
    if one_dimensional:
        target = target.reshape(1, -1)
    if target.shape[0] != n_rows:
        raise ValueError(
            f"target has {target.shape[0]} rows but input has {n_rows} samples"
        )
    if target.dtype not in (np.int32, np.int64):
        if target.dtype == np.uint64 and target.size and target.max() > _INT64_MAX:
            row, column = np.argwhere(target > _INT64_MAX)[0]
            raise_bad_entry(target, row, column, n_classes, one_dimensional)
        target = target.astype(np.int64)
    return np.ascontiguousarray(target)


def raise_bad_entry(target, row, column, n_classes, one_dimensional):
    """Raise the ValueError for a used entry of the (N, K) ``target`` that is
    not a class index, naming the entry as the caller wrote it."""
    where = f"target[{column}]" if one_dimensional else f"target[{row}, {column}]"
    raise ValueError(
        f"{where} = {target[row, column]} is not a class index: used entries "
        f"must lie in [0, {n_classes}), and -1 ends a row"
    )
