"""Dispatch of validated calls to the CPU kernels: which kernels run, over
which rows, on how many threads.

The kernels are serial loops over a range of rows (or blocks of rows);
:mod:`._threads` spreads the ranges over threads. Calls too small to repay
waking a thread run serially in the calling thread: the smallest chunk of
work worth a thread was measured per loss (``benchmarks/serial_threshold.py``).

The ranking loss runs in up to three passes, each a kernel that the front
end calls only when some row needs it, so that a call compiles only what it
runs: rows of at most eight targets (the common case), rows of more targets
that the first pass left, and rows whose scores are infinite or NaN, which
either counting pass hands to the exact path.
"""

import numpy as np

from . import _threads
from ._hinge import hinge_rows
from ._labels import (
    ROW_HAS_MANY_TARGETS,
    ROW_NEEDS_EXACT,
    copy_entries_to_end,
    count_entries_to_end,
    count_indicator_labels,
    fill_indicator_from_labels,
    fill_labels_from_indicator,
)
from ._ranking import (
    few_targets_scratch,
    ranking_exact,
    ranking_few_targets,
    ranking_many_targets,
    sorted_rows_scratch,
)

# The least work, in scores (rows x classes), of a chunk: a chunk wakes a
# pool thread and makes one kernel call (tens of microseconds in all), so a
# call of fewer than twice this many scores runs serially. Measured on the
# project's 2-core machine by benchmarks/serial_threshold.py: with twice
# these sizes (2 or 3 chunks), 2 threads already took 0.82 to 0.90 of the
# serial time; with the sizes doubled, calls of 1.5 to 2.5 times them ran
# serially and lost 10 to 20%.
RANKING_CHUNK_SCORES = 1 << 14
HINGE_CHUNK_SCORES = 1 << 15
# Converting labels touches each entry once: far cheaper per entry.
LABELS_CHUNK_ENTRIES = 1 << 18
# The hinge kernel's indicator when the labels come as lists: an array all
# the same, so that one compiled variant serves every target form.
_NO_INDICATOR = np.zeros((0, 0), np.bool_)


def ranking(scores, labels, margin, loss_divisor, loss, status, grad, grad_scale):
    """Fill ``loss``, ``status`` (and ``grad``) for every row of ``scores``
    (the contract of ``_ranking.py``; ``labels`` a ``LabelRows``)."""
    n_rows, n_classes = scores.shape

    def run(kernel, rows, scratch):
        def chunk(start, stop):
            kernel(
                scores, labels.indptr, labels.indices, labels.padded, margin, loss_divisor,
                loss, status, grad, grad_scale, rows[start:stop], *scratch(),
            )

        n_chunks = _threads.chunk_count(rows.size, rows.size * n_classes, RANKING_CHUNK_SCORES)
        _threads.parallel_for(chunk, rows.size, n_chunks)

    with_grad = grad is not None
    run(
        ranking_few_targets[with_grad], np.arange(n_rows, dtype=np.int64),
        lambda: few_targets_scratch(labels.width),
    )
    if n_rows == 0 or status.min() > max(ROW_HAS_MANY_TARGETS, ROW_NEEDS_EXACT):
        return  # the common case: no row left for another pass
    for kernel, left in (
        (ranking_many_targets, ROW_HAS_MANY_TARGETS),
        (ranking_exact, ROW_NEEDS_EXACT),
    ):
        rows = np.flatnonzero(status == left)
        if rows.size:
            run(
                kernel[with_grad], rows,
                lambda: sorted_rows_scratch(labels.width, n_classes, scores.dtype),
            )


def hinge(
    scores, labels, margins, squared, loss_divisor, loss, status, grad, grad_scale, label_sums
):
    """Fill ``loss``, ``status`` (and ``grad``, ``label_sums``) for every row
    (the contract of ``_hinge.py``). With ``label_sums`` its blocks are the
    rows' blocks; otherwise the blocks are the threads' chunks."""
    n_rows, n_classes = scores.shape
    work = n_rows * n_classes
    if label_sums is None:
        n_blocks = _threads.chunk_count(n_rows, work, HINGE_CHUNK_SCORES)
        n_chunks = n_blocks
    else:
        n_blocks = label_sums.shape[0]
        n_chunks = _threads.chunk_count(n_blocks, work, HINGE_CHUNK_SCORES)
    indicator = _NO_INDICATOR if labels.indicator is None else labels.indicator

    def chunk(first_block, stop_block):
        hinge_rows(
            scores, labels.indptr, labels.indices, labels.padded, labels.width, indicator,
            margins, squared, loss_divisor, loss, status, grad, grad_scale, label_sums,
            n_blocks, first_block, stop_block,
        )

    _threads.parallel_for(chunk, n_blocks, n_chunks)


def _over_rows(kernel, n_rows, work, *arguments):
    """Call ``kernel(*arguments, start, stop)`` over ``[0, n_rows)``."""
    n_chunks = _threads.chunk_count(n_rows, work, LABELS_CHUNK_ENTRIES)
    _threads.parallel_for(lambda start, stop: kernel(*arguments, start, stop), n_rows, n_chunks)


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
        fill_labels_from_indicator, indicator.shape[0], indicator.size, indicator, starts,
        labels,
    )


def indicator_from_labels(labels, indicator, status):
    """Set ``indicator[i, c]`` for the used labels c of each row of
    ``labels`` (a ``LabelRows``); ``status`` as ``read_labels`` reports."""
    _over_rows(
        fill_indicator_from_labels, indicator.shape[0], labels.indices.size, labels.indptr,
        labels.indices, labels.padded, labels.width, indicator, status,
    )
