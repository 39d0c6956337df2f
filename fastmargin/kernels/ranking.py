"""CPU kernels of the multi-label ranking margin loss (PyTorch's
``MultiLabelMarginLoss``), loss and gradient fused in one pass.

For one row with scores ``x`` (C classes) and used targets ``t_1..t_T``::

    loss = sum over k, over classes j not among the targets, of
           max(0, margin - x[t_k] + x[j]), divided by loss_divisor

(C, as PyTorch divides it, or 1 for the plain sum: ``normalize=False``).

Which pairs are violated is decided as PyTorch decides it, in the scores'
dtype: ``(margin - x[t]) + x[j] > 0``. Rounding keeps the sign of a sum, and
``margin - x[t]`` is the exact negation of ``x[t] - margin``, so that is
exactly ``x[j] > threshold_t`` with ``threshold_t = x[t] - margin`` rounded
once in the scores' dtype. Thresholds are monotone in the target scores, so
with the targets sorted, j's ``count`` of violated targets is the number of
thresholds below ``x[j]``; its gradient is ``count / C``, and its share of
the loss is ``count * (x[j] + margin)`` minus the scores of the targets it
violates. Counting, for each sorted target position p, the classes that
violate it (``violations[p]``) gives every target's gradient,
``-violations[p] / C``, and the row's sum (in float64, centred on a target
score so that a common offset cancels before the sums)::

    sum_j count_j * (x[j] + margin)  -  sum_p x[t_p] * violations_p

Per row that is O(C log T + T log T) work instead of PyTorch's O(T * C), one
read of the scores and one write of the gradient. How a count is found
depends on T:

- T <= 8: eight branch-free comparisons, vectorised across classes, with the
  eight ``violations`` counters kept in registers;
- T <= 96: 16, 24, 32, 48, 64 or 96 branch-free comparisons in the scores'
  own dtype (eight float32 lanes to a vector), vectorised; counts go through
  a histogram (at 10000 classes, 0.8 ns per class at T = 16, 2.8 at T = 96,
  where the bucket grid below takes about 4; ``benchmarks/ranking_paths.py``);
- larger T: the class's bucket in an equal-width grid over the thresholds
  locates it in O(1), a search inside the bucket finishes it.

The fast paths loop over every class, targets included, and take the targets
back out afterwards; they assume finite scores and hand any row whose sum
comes out non-finite to an exact path that walks the non-targets alone. The
centred sums add and subtract terms that can be far larger than the loss
(one huge target score): the fast paths also add up the terms' magnitude,
and a row whose rounding error could exceed ``FLOAT32_ERROR_LIMIT`` or
``FLOAT64_ERROR_LIMIT`` of its sum goes to the exact path too, whose terms
(``class_terms``) are never negative, so nothing cancels there.

The counting passes live in ``ranking_counts.py``; the exact path's sums
and the thresholds that decide a pair, in ``ranking_terms.py`` (the GPU
kernel compiles those for the device).

Three kernels compute a list of rows each (``_host.ranking_kernels`` runs them
over chunks of rows on several threads, the second and third only when the
first leaves rows to them): ``ranking_few_targets`` for rows of at most
eight targets, ``ranking_many_targets`` for the others, and
``ranking_exact`` for rows whose scores are not all finite. Each is a pair
of kernels, without and with the gradient.

Contract of the kernels (the front end guarantees it, the kernels never
re-check): ``scores`` is C-contiguous float32/float64 of shape (N, C) with
N, C >= 1; the targets are in the canonical form of ``kernels/labels.py``
(``indptr`` int64 (N + 1,), ``indices`` int64, ``padded``), and the
scratch comes from :func:`few_targets_scratch` or
:func:`sorted_rows_scratch` for a ``width`` of at least every row's entry
count; ``margin`` is a finite float; ``loss_divisor`` a float > 0;
``loss`` is float64 (N,); ``status`` is int64 (N,); ``grad`` is None or a
C-contiguous array shaped like ``scores``, and ``grad_scale`` is then
float64 (N,), the factor of row i's gradient (``grad_output[i]`` over the
loss divisor, times the reduction's factor); ``rows`` is
int64, distinct rows in [0, N). Every array is the caller's and outlives
the call: the kernels allocate nothing and work on borrowed views of their
arguments (``kernels/options.borrowed``).
"""

import math

import numpy as np

from .labels import ROW_HAS_MANY_TARGETS, ROW_NEEDS_EXACT, read_labels
from .options import borrowed, cpu_kernel
from .ranking_counts import (
    BUCKETS_PER_TARGET,
    LINEAR_TARGETS,
    SMALL_TARGETS,
    counted_row_sum,
    counted_sum_holds,
    small_row_sum,
)
from .ranking_rows import (
    all_targets_finite,
    centre,
    finish_row,
    gather_target_scores,
    has_no_pairs,
    sorted_targets,
    write_zero_row,
)
from .ranking_terms import (
    exact_row_sum,
    has_undefined_pair,
    pairwise_row_sum,
    target_threshold,
)
from .sorting import sort_eight

# Pads the sorted target classes of small rows (sorts after every index).
LARGEST_INDEX = np.iinfo(np.int64).max


def few_targets_scratch(width):
    """Scratch for ``ranking_few_targets`` over targets of ``width``
    entries a row: ``(classes, sorted_scores, thresholds, violations)``."""
    return (
        np.empty(max(width, SMALL_TARGETS), np.int64),
        np.empty(SMALL_TARGETS, np.float64),
        np.empty(SMALL_TARGETS, np.float64),
        np.empty(SMALL_TARGETS + 1, np.int64),
    )


def _make_few_targets(with_grad):
    """Build the kernel for the listed ``rows`` that have at most
    SMALL_TARGETS targets, for calls with a gradient or without
    (``with_grad``, a constant of the built kernel).

    Row i's per-sample loss goes to ``loss[i]`` and what reading its
    targets found to ``status[i]`` (see ``kernels/labels.read_labels``): a used
    entry outside [0, C) leaves the row uncomputed. A row with more targets
    gets status ``ROW_HAS_MANY_TARGETS`` and one whose sum is not finite
    ``ROW_NEEDS_EXACT``, both left for ``ranking_many_targets`` and
    ``ranking_exact`` (the front end calls them only when some row needs
    them, so that a call compiles only the paths it runs). The scratch
    arrays come from :func:`few_targets_scratch`.
    """

    @cpu_kernel()
    def few_targets(
        scores,
        indptr,
        indices,
        padded,
        margin,
        loss_divisor,
        loss,
        status,
        grad,
        grad_scale,
        rows,
        classes,
        sorted_scores,
        thresholds,
        violations,
    ):
        scores, indptr, indices = borrowed(scores), borrowed(indptr), borrowed(indices)
        loss, status, rows = borrowed(loss), borrowed(status), borrowed(rows)
        classes, sorted_scores = borrowed(classes), borrowed(sorted_scores)
        thresholds, violations = borrowed(thresholds), borrowed(violations)
        if with_grad:  # pruned otherwise: ``grad`` stays the argument, None
            grad, grad_scale = borrowed(grad), borrowed(grad_scale)
        n_classes = scores.shape[1]
        for row in rows:
            x = scores[row]
            n_targets, row_status = read_labels(
                indptr, indices, padded, row, n_classes, classes
            )
            status[row] = row_status
            if row_status >= 0:
                loss[row] = np.nan
                continue
            if n_targets > SMALL_TARGETS:
                status[row] = ROW_HAS_MANY_TARGETS
                continue
            sort_eight(classes, n_targets, LARGEST_INDEX)
            if has_no_pairs(classes, n_targets, n_classes):
                write_zero_row(loss, grad, grad_scale, row)
                continue
            targets_finite = gather_target_scores(x, classes, n_targets, sorted_scores)
            sort_eight(sorted_scores, n_targets, np.inf)
            native_margin = x.dtype.type(margin)
            for k in range(SMALL_TARGETS):
                thresholds[k] = target_threshold(sorted_scores[k], native_margin, x.dtype)
            offset = centre(sorted_scores, n_targets, targets_finite, native_margin)
            scale = grad_scale[row] if grad is not None else 0.0
            row_sum, magnitude = np.nan, 0.0
            if targets_finite:
                row_sum, magnitude = small_row_sum(
                    x,
                    classes,
                    n_targets,
                    sorted_scores,
                    thresholds,
                    offset,
                    violations,
                    grad,
                    row,
                    scale,
                )
            if not counted_sum_holds(row_sum, magnitude, violations, x):
                status[row] = ROW_NEEDS_EXACT
                continue
            finish_row(
                x,
                classes,
                n_targets,
                thresholds,
                native_margin,
                violations,
                row_sum,
                loss_divisor,
                loss,
                grad,
                row,
                scale,
            )

    return few_targets


# Indexed by whether the call computes the gradient: borrowing ``grad``
# would hide from numba that it is None, and with it which branches to drop.
ranking_few_targets = (_make_few_targets(False), _make_few_targets(True))


def sorted_rows_scratch(width, n_classes, dtype):
    """Scratch for ``ranking_many_targets`` and ``ranking_exact``:
    ``(classes, sorted_scores, thresholds, native_thresholds, violations,
    buckets, counts, gaps)``."""
    slots = max(width, LINEAR_TARGETS) + 1
    return (
        np.empty(max(width, SMALL_TARGETS), np.int64),
        np.empty(slots, np.float64),
        np.empty(slots, np.float64),
        np.empty(LINEAR_TARGETS, dtype),
        np.empty(slots, np.int64),
        np.empty(BUCKETS_PER_TARGET * width + 3, np.int64),
        np.empty(n_classes, np.int32),
        np.empty(slots, np.float64),
    )


def _make_sorted_rows(exact, with_grad):
    """Build the kernel for rows whose targets are sorted in full: counting
    (``exact`` False) or the exact walk over the non-targets, with the
    gradient or without. Both are constants of the built kernel, so each
    compiles one path only."""

    @cpu_kernel()
    def sorted_rows(
        scores,
        indptr,
        indices,
        padded,
        margin,
        loss_divisor,
        loss,
        status,
        grad,
        grad_scale,
        rows,
        classes,
        sorted_scores,
        thresholds,
        native_thresholds,
        violations,
        buckets,
        counts,
        gaps,
    ):
        scores, indptr, indices = borrowed(scores), borrowed(indptr), borrowed(indices)
        loss, status, rows = borrowed(loss), borrowed(status), borrowed(rows)
        classes, sorted_scores = borrowed(classes), borrowed(sorted_scores)
        thresholds, native_thresholds = borrowed(thresholds), borrowed(native_thresholds)
        violations, buckets, counts = borrowed(violations), borrowed(buckets), borrowed(counts)
        gaps = borrowed(gaps)
        if with_grad:  # pruned otherwise: ``grad`` stays the argument, None
            grad, grad_scale = borrowed(grad), borrowed(grad_scale)
        n_classes = scores.shape[1]
        for row in rows:
            x = scores[row]
            n_targets, row_status = sorted_targets(
                x, indptr, indices, padded, row, classes, sorted_scores
            )
            status[row] = row_status
            if row_status >= 0:
                loss[row] = np.nan
                continue
            if has_no_pairs(classes, n_targets, n_classes):
                write_zero_row(loss, grad, grad_scale, row)
                continue
            targets_finite = all_targets_finite(sorted_scores, n_targets)
            native_margin = x.dtype.type(margin)
            for k in range(n_targets):
                thresholds[k] = target_threshold(sorted_scores[k], native_margin, x.dtype)
            scale = grad_scale[row] if grad is not None else 0.0
            if exact:
                row_sum = exact_row_sum(
                    x,
                    classes,
                    n_targets,
                    sorted_scores,
                    thresholds,
                    native_margin,
                    violations,
                    gaps,
                    grad,
                    row,
                    scale,
                )
                if has_undefined_pair(x, classes, n_targets, native_margin):
                    row_sum = np.nan
                elif not math.isfinite(row_sum):
                    # Scores near the float64 limit overflowed the sorted sums.
                    row_sum = pairwise_row_sum(x, classes, n_targets, native_margin)
            else:
                offset = centre(sorted_scores, n_targets, targets_finite, native_margin)
                row_sum, magnitude = np.nan, 0.0
                if targets_finite:
                    row_sum, magnitude = counted_row_sum(
                        x,
                        classes,
                        n_targets,
                        sorted_scores,
                        thresholds,
                        native_thresholds,
                        offset,
                        violations,
                        buckets,
                        counts,
                        grad,
                        row,
                        scale,
                    )
                if not counted_sum_holds(row_sum, magnitude, violations, x):
                    status[row] = ROW_NEEDS_EXACT
                    continue
            finish_row(
                x,
                classes,
                n_targets,
                thresholds,
                native_margin,
                violations,
                row_sum,
                loss_divisor,
                loss,
                grad,
                row,
                scale,
            )

    return sorted_rows


# Rows of any number of targets, by counting (arguments as
# ranking_few_targets, with scratch from sorted_rows_scratch); a row whose
# sum is not finite gets status ROW_NEEDS_EXACT. By whether the call
# computes the gradient, as ranking_few_targets.
ranking_many_targets = tuple(
    _make_sorted_rows(False, with_grad) for with_grad in (False, True)
)
# Rows walked over their non-targets alone: any scores, infinite or NaN
# included. For the rare rows that the counting passes hand over.
ranking_exact = tuple(_make_sorted_rows(True, with_grad) for with_grad in (False, True))
