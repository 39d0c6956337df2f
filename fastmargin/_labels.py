"""The label kernels (``kernels/labels.py``) run over rows on fastmargin's
threads: the conversions between target forms, each entry touched once."""

from . import _threads
from .kernels.labels import (
    copy_entries_to_end,
    count_entries_to_end,
    count_indicator_labels,
    fill_indicator_from_labels,
    fill_labels_from_indicator,
)

# Converting labels touches each entry once: far cheaper per entry.
LABELS_CHUNK_ENTRIES = 1 << 18


def _over_rows(kernel, n_rows, work, *arguments):
    """Call ``kernel(*arguments, start, stop)`` over ``[0, n_rows)``."""
    n_chunks = _threads.chunk_count(n_rows, work, LABELS_CHUNK_ENTRIES)
    _threads.parallel_for(
        lambda start, stop: kernel(*arguments, start, stop), n_rows, n_chunks
    )


def count_labels(indicator, counts):
    """``counts[i]``: the True entries of row i of a bool (N, C) indicator."""
    _over_rows(count_indicator_labels, indicator.shape[0], indicator.size, indicator, counts)


def row_lengths(padded, counts):
    """``counts[i]``: the entries of row i of a -1 padded index matrix up to
    and including its first -1."""
    # Reads stop at each row's -1: the matrix's size only bounds the work.
    _over_rows(count_entries_to_end, padded.shape[0], padded.size, padded, counts)


def compact_rows(padded, starts, entries):
    """Copy row i of a -1 padded index matrix, up to and including its first
    -1, to ``entries[starts[i]:]``."""
    _over_rows(copy_entries_to_end, padded.shape[0], entries.size, padded, starts, entries)


def labels_from_indicator(indicator, starts, labels):
    """Write row i's True columns, ascending, to ``labels[starts[i]:]``."""
    _over_rows(
        fill_labels_from_indicator,
        indicator.shape[0],
        indicator.size,
        indicator,
        starts,
        labels,
    )


def indicator_from_labels(labels, indicator, status):
    """Set ``indicator[i, c]`` for the used labels c of each row of
    ``labels`` (a ``LabelRows``); ``status`` as ``read_labels`` reports."""
    _over_rows(
        fill_indicator_from_labels,
        indicator.shape[0],
        labels.indices.size,
        labels.indptr,
        labels.indices,
        labels.padded,
        labels.width,
        indicator,
        status,
    )
