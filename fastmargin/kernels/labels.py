"""The kernels' canonical target form, and the compiled loops that read and
build it.

Every loss kernel reads a sample's labels as one list of int64 class
indices, ``indices[indptr[i]:indptr[i + 1]]``: a padded (N, K) int64 index
matrix is that with ``indptr[i] = i * K`` (a row then ends early at its
first -1), a CSR label matrix is that as it stands. :func:`read_labels` is
the one loop that reads such a row for every kernel, checking each used
entry on the way. One index dtype means one compiled variant of each
kernel per score dtype, whatever form the caller's target has.

The converters into that form (from dense 0/1 indicators, from int32
padded rows) and back to indicators live here too, as loops over a range
of rows (the front end spreads ranges over threads).
"""

import numpy as np

from .options import cpu_kernel

# Row statuses that :func:`read_labels` reports besides the position (>= 0)
# of a bad entry.
ROW_OK = -1
# Fine, but every entry was 0 or 1 and no -1 ended the row: a whole target
# of such rows is probably a 0/1 indicator matrix passed as integers.
ROW_OF_ZEROS_AND_ONES = -2
# Left by a ranking kernel for another one (the front end calls it): a row
# with more targets than the first handles, or a row whose scores need the
# exact path (infinite or NaN). No row keeps these once a call returns.
ROW_HAS_MANY_TARGETS = -3
ROW_NEEDS_EXACT = -4


@cpu_kernel(inline="always")
def read_labels(indptr, indices, padded, row, n_classes, labels):
    """Copy row ``row``'s used class indices into ``labels``.

    Parameters
    ----------
    indptr, indices : ndarray
        The canonical form: row i's entries are ``indices[indptr[i]:indptr[i + 1]]``.
    padded : bool
        Whether a -1 ends a row early (padded index rows); otherwise every
        entry is used.
    row, n_classes : int
        The row to read, and C.
    labels : ndarray of int64
        Scratch with room for the row's entries.

    Returns
    -------
    n_labels : int
        Number of used entries copied (duplicates kept).
    status : int
        The position within the row of the first used entry outside
        [0, C) (the row must not be computed), else ``ROW_OK`` or
        ``ROW_OF_ZEROS_AND_ONES``.
    """
    start = indptr[row]
    n_labels = 0
    zeros_and_ones = padded
    for position in range(start, indptr[row + 1]):
        label = indices[position]
        if padded and label == -1:
            return n_labels, ROW_OK
        if label < 0 or label >= n_classes:
            return n_labels, position - start
        zeros_and_ones &= label <= 1
        labels[n_labels] = label
        n_labels += 1
    return n_labels, ROW_OF_ZEROS_AND_ONES if zeros_and_ones else ROW_OK


@cpu_kernel()
def count_indicator_labels(indicator, counts, start, stop):
    """``counts[i]`` = number of True entries in row i of a 0/1 matrix, for
    rows ``start`` to ``stop - 1``."""
    for row in range(start, stop):
        count = 0
        for label in range(indicator.shape[1]):
            count += indicator[row, label]
        counts[row] = count


@cpu_kernel()
def count_entries_to_end(padded, counts, start, stop):
    """``counts[i]`` = entries of row i of a -1 padded (N, K) index matrix
    up to and including its first -1 (K when it has none), for rows
    ``start`` to ``stop - 1``."""
    for row in range(start, stop):
        count = padded.shape[1]
        for position in range(padded.shape[1]):
            if padded[row, position] == -1:
                count = position + 1
                break
        counts[row] = count


@cpu_kernel()
def copy_entries_to_end(padded, starts, entries, start, stop):
    """Copy row i of a -1 padded (N, K) index matrix, up to and including
    its first -1, to ``entries[starts[i]:]``, for rows ``start`` to
    ``stop - 1``: the rows stay padded rows (a -1 still ends each), in
    ``entries``' dtype, without their unused tails."""
    for row in range(start, stop):
        position = starts[row]
        for column in range(padded.shape[1]):
            label = padded[row, column]
            entries[position] = label
            position += 1
            if label == -1:
                break


@cpu_kernel()
def fill_labels_from_indicator(indicator, starts, labels, start, stop):
    """Write row i's True columns, ascending, to ``labels[starts[i]:]``, for
    rows ``start`` to ``stop - 1``."""
    for row in range(start, stop):
        position = starts[row]
        for label in range(indicator.shape[1]):
            if indicator[row, label]:
                labels[position] = label
                position += 1


@cpu_kernel()
def fill_indicator_from_labels(indptr, indices, padded, width, indicator, status, start, stop):
    """Set ``indicator[i, c]`` for every used label c of rows ``start`` to
    ``stop - 1`` (``indicator`` starts all False); ``status[i]`` as
    :func:`read_labels` reports it. ``width`` is the most entries a row
    holds."""
    n_classes = indicator.shape[1]
    labels = np.empty(width, np.int64)
    for row in range(start, stop):
        n_labels, row_status = read_labels(indptr, indices, padded, row, n_classes, labels)
        status[row] = row_status
        for k in range(n_labels):
            indicator[row, labels[k]] = True
