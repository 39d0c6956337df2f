"""The CPU half of a call: validated arguments in the kernels' contract,
the kernels run over rows on fastmargin's threads, results reduced.

Mirrors ``gpu/host.py`` name for name (``prepare``, ``finish``,
``reduce_losses``, ``ranking``, ``hinge``). The kernels are serial loops
over a range of rows (or blocks of rows); ``_threads`` spreads the ranges
over threads. Calls too small to repay waking a thread run serially in the
calling thread: the smallest chunk of work worth a thread was measured per
loss (``benchmarks/serial_threshold.py``).

The ranking loss runs in up to three passes, each a kernel that is called
only when some row needs it, so that a call compiles only what it runs:
rows of at most eight targets (the common case), rows of more targets that
the first pass left, and rows whose scores are infinite or NaN, which
either counting pass hands to the exact path.
"""

from typing import NamedTuple

import numpy as np

from . import _buffers, _threads
from ._checks import (
    check_flag,
    check_margin,
    check_out,
    check_reduction,
    check_scores,
    gradient_scale,
    host_array,
    label_margins,
    row_divisor,
)
from ._targets import LabelRows, as_label_rows, raise_for_bad_rows, raise_if_ambiguous
from .kernels.hinge import hinge_rows
from .kernels.labels import ROW_HAS_MANY_TARGETS, ROW_NEEDS_EXACT
from .kernels.ranking import (
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


# The hinge kernel's indicator when the labels come as lists: an array all
# the same, so that one compiled variant serves every target form.
_NO_INDICATOR = np.zeros((0, 0), np.bool_)


def as_scores(input):
    """Return ``(scores, one_dimensional)`` with scores (N, C) float32/float64."""
    scores = host_array(input, "input")
    _, computed_dtype = check_scores(scores.shape, scores.dtype)
    scores = scores.astype(computed_dtype, copy=False)
    one_dimensional = scores.ndim == 1
    if one_dimensional:
        scores = scores.reshape(1, -1)
    return np.ascontiguousarray(scores), one_dimensional


class Batch(NamedTuple):
    """A validated call: the kernels' inputs and preallocated outputs."""

    scores: np.ndarray
    one_dimensional: bool
    rows: LabelRows
    loss_divisor: float
    loss: np.ndarray
    status: np.ndarray
    grad: np.ndarray | None  # (N, C), what the kernel writes
    grad_scale: np.ndarray | None
    grad_result: np.ndarray | None  # the same memory, as returned


def prepare(call, *, keep_indicator):
    """Validate what both losses share of ``call`` (a ``_checks.Call``) and
    allocate the outputs (the gradient goes to ``out`` when the caller
    gives one)."""
    input, target, out = call.input, call.target, call.out
    scores, one_dimensional = as_scores(input)
    n_rows, n_classes = scores.shape
    rows = as_label_rows(
        target,
        n_rows,
        n_classes,
        one_dimensional,
        keep_indicator=keep_indicator,
        target_format=call.target_format,
    )
    check_reduction(call.reduction)
    loss_divisor = row_divisor(call.normalize, n_classes)
    grad = grad_scale = grad_result = None
    if call.with_grad:
        grad_scale = gradient_scale(
            call.grad_output, call.reduction, n_rows, loss_divisor, one_dimensional
        )
        if out is None:
            grad = _buffers.empty(scores.shape, scores.dtype)
            grad_result = grad.reshape(-1) if one_dimensional else grad
        else:
            inputs = {
                "input": (input, scores),
                "target": (target, rows.indptr, rows.indices, rows.indicator),
                "grad_output": (call.grad_output,),
            }
            grad = check_out(out, scores, one_dimensional, inputs)
            grad_result = out
    return Batch(
        scores,
        one_dimensional,
        rows,
        loss_divisor,
        np.empty(n_rows),
        np.empty(n_rows, np.int64),
        grad,
        grad_scale,
        grad_result,
    )


def finish(batch, reduction):
    """Raise for bad targets, warn about a likely indicator, reduce."""
    scores, one_dimensional, rows = batch.scores, batch.one_dimensional, batch.rows
    status = batch.status
    if status.size:
        largest_status = status.max()
        raise_for_bad_rows(largest_status, status, rows, scores.shape[1], one_dimensional)
        raise_if_ambiguous(rows, largest_status)
    loss = reduce_losses(batch.loss, reduction, scores.dtype, one_dimensional)
    return loss, batch.grad_result


def reduce_losses(row_losses, reduction, dtype, one_dimensional):
    """Reduce float64 per-row losses in a fixed order; cast to ``dtype``."""
    if reduction == "none":
        losses = row_losses.astype(dtype)
        return losses.reshape(()) if one_dimensional else losses
    total = row_losses.sum()  # pairwise, fixed order: reproducible
    if reduction == "sum":
        return dtype.type(total)
    n_rows = row_losses.shape[0]
    return dtype.type(total / n_rows if n_rows else np.nan)


def ranking_kernels(scores, labels, margin, loss_divisor, loss, status, grad, grad_scale):
    """Fill ``loss``, ``status`` (and ``grad``) for every row of ``scores``
    (the contract of ``kernels/ranking.py``; ``labels`` a ``LabelRows``)."""
    n_rows, n_classes = scores.shape

    def run(kernel, rows, scratch):
        def chunk(start, stop):
            kernel(
                scores,
                labels.indptr,
                labels.indices,
                labels.padded,
                margin,
                loss_divisor,
                loss,
                status,
                grad,
                grad_scale,
                rows[start:stop],
                *scratch(),
            )

        n_chunks = _threads.chunk_count(rows.size, rows.size * n_classes, RANKING_CHUNK_SCORES)
        _threads.parallel_for(chunk, rows.size, n_chunks)

    with_grad = grad is not None
    run(
        ranking_few_targets[with_grad],
        np.arange(n_rows, dtype=np.int64),
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
                kernel[with_grad],
                rows,
                lambda: sorted_rows_scratch(labels.width, n_classes, scores.dtype),
            )


def hinge_kernels(
    scores, labels, margins, squared, loss_divisor, loss, status, grad, grad_scale, label_sums
):
    """Fill ``loss``, ``status`` (and ``grad``, ``label_sums``) for every row
    (the contract of ``kernels/hinge.py``). With ``label_sums`` its blocks are the
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
            scores,
            labels.indptr,
            labels.indices,
            labels.padded,
            labels.width,
            indicator,
            margins,
            squared,
            loss_divisor,
            loss,
            status,
            grad,
            grad_scale,
            label_sums,
            n_blocks,
            first_block,
            stop_block,
        )

    _threads.parallel_for(chunk, n_blocks, n_chunks)


def ranking(call):
    """The ranking loss of ``call`` (a ``_checks.Call``) on the CPU:
    ``(loss, grad or None)``."""
    batch = prepare(call, keep_indicator=False)
    margin = check_margin(call.margin, batch.scores.dtype)
    ranking_kernels(
        batch.scores,
        batch.rows,
        margin,
        batch.loss_divisor,
        batch.loss,
        batch.status,
        batch.grad,
        batch.grad_scale,
    )
    return finish(batch, call.reduction)


def hinge(call):
    """The per-label hinge of ``call`` (a ``_checks.Call``) on the CPU:
    ``(loss, grad or None)``. ``call.margin`` may be a scalar or
    per-label; with ``call.label_sums`` (float64 zeros of shape (blocks, C))
    the kernel also adds up each label's terms."""
    batch = prepare(call, keep_indicator=True)
    margins = label_margins(call.margin, batch.scores.shape[1], batch.scores.dtype)
    squared = check_flag(call.squared, "squared")
    hinge_kernels(
        batch.scores,
        batch.rows,
        margins,
        squared,
        batch.loss_divisor,
        batch.loss,
        batch.status,
        batch.grad,
        batch.grad_scale,
        call.label_sums,
    )
    return finish(batch, call.reduction)
