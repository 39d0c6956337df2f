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
from .options import VECTOR_REDUCTION_FASTMATH, borrowed, cpu_kernel
from .sorting import lower_bound, sort_eight, sort_prefix

# Largest T for the eight-counter scan (its comparisons are written out).
SMALL_TARGETS = 8
# Largest T for the vectorised linear count, and its most slots.
LINEAR_TARGETS = 96
# Grid buckets per target score for larger T: most buckets hold no score, so
# the search inside a score's bucket rarely has anything to do.
BUCKETS_PER_TARGET = 8
# Pads the sorted target classes of small rows (sorts after every index).
LARGEST_INDEX = np.iinfo(np.int64).max
# The counting passes add and subtract terms larger than the row's loss
# (class scores offset by a centre, target scores times their violations):
# where those are far larger than the loss, as when one target score is
# huge, their rounding would swallow it. The passes also add up the terms'
# magnitude; a row whose rounding error could exceed this fraction of its
# sum goes to the exact path, whose terms never cancel (for float32 scores
# far below float32's resolution; for float64, about the error of a
# pair-by-pair sum of a few hundred terms: a tighter limit sends more rows
# of nearly separated float64 data to the slower exact path, 4% of them at
# 4096 x 100 with 2**-44, 14% with 2**-46).
FLOAT32_ERROR_LIMIT = 2.0**-32
FLOAT64_ERROR_LIMIT = 2.0**-44
# Rounding error per unit of that magnitude: float64's unit roundoff, twice.
_ROUNDING = 2.0**-52


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
        scores, indptr, indices, padded, margin, loss_divisor, loss, status, grad,
        grad_scale, rows, classes, sorted_scores, thresholds, violations,
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
            n_targets, row_status = read_labels(indptr, indices, padded, row, n_classes, classes)
            status[row] = row_status
            if row_status >= 0:
                loss[row] = np.nan
                continue
            if n_targets > SMALL_TARGETS:
                status[row] = ROW_HAS_MANY_TARGETS
                continue
            sort_eight(classes, n_targets, LARGEST_INDEX)
            if _has_no_pairs(classes, n_targets, n_classes):
                _write_zero_row(loss, grad, grad_scale, row)
                continue
            targets_finite = _gather_target_scores(x, classes, n_targets, sorted_scores)
            sort_eight(sorted_scores, n_targets, np.inf)
            native_margin = x.dtype.type(margin)
            for k in range(SMALL_TARGETS):
                thresholds[k] = target_threshold(sorted_scores[k], native_margin, x.dtype)
            offset = _centre(sorted_scores, n_targets, targets_finite, native_margin)
            scale = grad_scale[row] if grad is not None else 0.0
            row_sum, magnitude = np.nan, 0.0
            if targets_finite:
                row_sum, magnitude = _small_row_sum(
                    x, classes, n_targets, sorted_scores, thresholds, offset, violations,
                    grad, row, scale,
                )
            if not _counted_sum_holds(row_sum, magnitude, violations, x):
                status[row] = ROW_NEEDS_EXACT
                continue
            _finish_row(
                x, classes, n_targets, thresholds, native_margin, violations, row_sum,
                loss_divisor, loss, grad, row, scale,
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
        scores, indptr, indices, padded, margin, loss_divisor, loss, status, grad,
        grad_scale, rows, classes, sorted_scores, thresholds, native_thresholds, violations,
        buckets, counts, gaps,
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
            n_targets, row_status = _sorted_targets(
                x, indptr, indices, padded, row, classes, sorted_scores
            )
            status[row] = row_status
            if row_status >= 0:
                loss[row] = np.nan
                continue
            if _has_no_pairs(classes, n_targets, n_classes):
                _write_zero_row(loss, grad, grad_scale, row)
                continue
            targets_finite = _targets_finite(sorted_scores, n_targets)
            native_margin = x.dtype.type(margin)
            for k in range(n_targets):
                thresholds[k] = target_threshold(sorted_scores[k], native_margin, x.dtype)
            scale = grad_scale[row] if grad is not None else 0.0
            if exact:
                row_sum = _exact_row_sum(
                    x, classes, n_targets, sorted_scores, thresholds, native_margin,
                    violations, gaps, grad, row, scale,
                )
                if _has_undefined_pair(x, classes, n_targets, native_margin):
                    row_sum = np.nan
                elif not math.isfinite(row_sum):
                    # Scores near the float64 limit overflowed the sorted sums.
                    row_sum = _pairwise_row_sum(x, classes, n_targets, native_margin)
            else:
                offset = _centre(sorted_scores, n_targets, targets_finite, native_margin)
                row_sum, magnitude = np.nan, 0.0
                if targets_finite:
                    row_sum, magnitude = _counted_row_sum(
                        x, classes, n_targets, sorted_scores, thresholds, native_thresholds,
                        offset, violations, buckets, counts, grad, row, scale,
                    )
                if not _counted_sum_holds(row_sum, magnitude, violations, x):
                    status[row] = ROW_NEEDS_EXACT
                    continue
            _finish_row(
                x, classes, n_targets, thresholds, native_margin, violations, row_sum,
                loss_divisor, loss, grad, row, scale,
            )

    return sorted_rows


# Rows of any number of targets, by counting (arguments as
# ranking_few_targets, with scratch from sorted_rows_scratch); a row whose
# sum is not finite gets status ROW_NEEDS_EXACT. By whether the call
# computes the gradient, as ranking_few_targets.
ranking_many_targets = tuple(_make_sorted_rows(False, with_grad) for with_grad in (False, True))
# Rows walked over their non-targets alone: any scores, infinite or NaN
# included. For the rare rows that the counting passes hand over.
ranking_exact = tuple(_make_sorted_rows(True, with_grad) for with_grad in (False, True))


@cpu_kernel(inline="always")
def _sorted_targets(x, indptr, indices, padded, row, classes, sorted_scores):
    """Read row ``row``'s targets into ``classes`` and sort them; their
    scores, as float64, into ``sorted_scores``, sorted. Returns
    ``kernels/labels.read_labels``' ``(n_targets, status)``."""
    n_targets, row_status = read_labels(indptr, indices, padded, row, x.shape[0], classes)
    if row_status < 0:
        sort_prefix(classes, n_targets)
        _gather_target_scores(x, classes, n_targets, sorted_scores)
        sort_prefix(sorted_scores, n_targets)
    return n_targets, row_status


@cpu_kernel(inline="always")
def _gather_target_scores(x, classes, n_targets, target_scores):
    """Copy the targets' scores, as float64, to ``target_scores``; return
    whether all are finite."""
    targets_finite = True
    for k in range(n_targets):
        value = np.float64(x[classes[k]])
        target_scores[k] = value
        targets_finite &= math.isfinite(value)
    return targets_finite


@cpu_kernel(inline="always")
def _targets_finite(sorted_scores, n_targets):
    targets_finite = True
    for k in range(n_targets):
        targets_finite &= math.isfinite(sorted_scores[k])
    return targets_finite


@cpu_kernel(inline="always")
def _has_no_pairs(sorted_classes, n_targets, n_classes):
    """Whether the row has no (target, non-target) pair: no target, or every
    class a target."""
    n_distinct = 0
    for k in range(n_targets):
        n_distinct += k == 0 or sorted_classes[k] != sorted_classes[k - 1]
    return n_targets == 0 or n_distinct == n_classes


@cpu_kernel(inline="always")
def _write_zero_row(loss, grad, grad_scale, row):
    """A row without pairs: loss 0, gradient 0 times its factor (a NaN or
    infinite ``grad_output`` gives NaN, as PyTorch's does)."""
    loss[row] = 0.0
    if grad is not None:
        grad[row, :] = 0.0 * grad_scale[row]


@cpu_kernel(inline="always")
def _centre(sorted_scores, n_targets, targets_finite, native_margin):
    """Centre the sorted target scores on their median, in place, so that a
    large common offset cancels before it is summed (unless centring itself
    would overflow); return the margin less the centre."""
    centre = 0.0
    if targets_finite and math.isfinite(sorted_scores[n_targets - 1] - sorted_scores[0]):
        centre = sorted_scores[n_targets // 2]
    for k in range(n_targets):
        sorted_scores[k] -= centre
    return np.float64(native_margin) - centre


@cpu_kernel(inline="always")
def _finish_row(
    x, classes, n_targets, thresholds, native_margin, violations, row_sum, loss_divisor,
    loss, grad, row, scale,
):
    """Store the row's loss, its sum divided by ``loss_divisor``, and its
    targets' gradients (NaN throughout for a NaN sum)."""
    # The sorted formulation subtracts large sums; where no pair is violated
    # (violations[0] counts the classes violating anything) that could leave
    # a rounding residue instead of exactly 0, and never may a sum of hinges
    # come out negative.
    if math.isfinite(row_sum) and (violations[0] == 0 or row_sum < 0.0):
        row_sum = 0.0
    if grad is not None:
        if row_sum != row_sum:
            grad[row, :] = np.nan
        else:
            _write_target_gradients(
                x, classes, n_targets, thresholds, native_margin, violations, grad,
                row, scale,
            )
    loss[row] = row_sum / loss_divisor


@cpu_kernel(inline="always")
def target_threshold(score, native_margin, dtype):
    """``score - margin`` rounded once in the scores' dtype, as float64: a
    class violates a target exactly when its score exceeds the target's
    threshold. +inf stays +inf (padding)."""
    return np.float64(dtype.type(score) - native_margin)


@cpu_kernel(inline="always")
def _write_target_gradients(
    x, classes, n_targets, thresholds, native_margin, violations, grad, row, scale
):
    """Each target's gradient: minus the violations of its sorted position,
    once per time the target is listed (``classes`` is sorted). Targets with
    equal thresholds have equal violations, so the first such position
    serves."""
    k = 0
    while k < n_targets:
        label = classes[k]
        repeats = 1
        while k + repeats < n_targets and classes[k + repeats] == label:
            repeats += 1
        threshold = target_threshold(x[label], native_margin, x.dtype)
        position = lower_bound(thresholds, 0, n_targets, threshold)
        grad[row, label] = -(repeats * violations[position]) * scale
        k += repeats


@cpu_kernel(inline="always")
def _small_row_sum(
    x, classes, n_targets, sorted_scores, thresholds, offset, violations, grad, row, scale
):
    """Row sum for finite target scores and at most SMALL_TARGETS targets,
    and the magnitude of the terms it added and subtracted.

    ``thresholds[n_targets:8]`` hold +inf. The scan treats every class as a
    non-target; the target classes are taken back out here. A non-finite
    score makes the result non-finite (0 * inf or inf), which sends the row
    to the exact path.
    """
    total, v0, v1, v2, v3, v4, v5, v6, v7 = _scan_eight(
        x,
        offset,
        thresholds[0],
        thresholds[1],
        thresholds[2],
        thresholds[3],
        thresholds[4],
        thresholds[5],
        thresholds[6],
        thresholds[7],
        grad,
        row,
        scale,
    )
    violations[0] = v0
    violations[1] = v1
    violations[2] = v2
    violations[3] = v3
    violations[4] = v4
    violations[5] = v5
    violations[6] = v6
    violations[7] = v7
    magnitude = _scan_magnitude(total, v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7, thresholds, offset)
    for k in range(n_targets):
        if k > 0 and classes[k] == classes[k - 1]:
            continue
        value = np.float64(x[classes[k]])
        count = lower_bound(thresholds, 0, n_targets, value)
        total -= count * (value + offset)
        magnitude += count * abs(value + offset)
        for p in range(SMALL_TARGETS):  # fixed length: no branch on count
            violations[p] -= p < count
    for p in range(n_targets):
        total -= sorted_scores[p] * violations[p]
        magnitude += abs(sorted_scores[p]) * violations[p]
    return total, magnitude


@cpu_kernel(inline="always")
def _scan_magnitude(total, weight, thresholds, offset):
    """``sum_j count_j * |x[j] + offset|`` of a scan that returned ``total``
    (``sum_j count_j * (x[j] + offset)``) with ``weight = sum_j count_j``:
    each counted class lies above the lowest threshold, so its term is
    ``(x[j] - thresholds[0])``, never negative, plus a common part."""
    common = thresholds[0] + offset
    return abs(total - weight * common) + weight * abs(common)


@cpu_kernel(inline="always")
def _counted_sum_holds(row_sum, magnitude, violations, x):
    """Whether a counting pass's row sum stands: finite, and either no class
    violates anything (the sum is 0) or its rounding error is below the
    error limit of the scores' dtype. Otherwise the exact path computes the
    row."""
    if not math.isfinite(row_sum):
        return False
    if violations[0] == 0:
        return True
    limit = FLOAT32_ERROR_LIMIT if x.itemsize == 4 else FLOAT64_ERROR_LIMIT
    return magnitude * _ROUNDING <= limit * row_sum


# Not inlined: an inlined body would take its caller's fastmath flags, and
# without reassociation LLVM does not vectorise the sum.
@cpu_kernel(fastmath=VECTOR_REDUCTION_FASTMATH, internal=True)
def _scan_eight(x, offset, t0, t1, t2, t3, t4, t5, t6, t7, grad, row, scale):
    """Branch-free counts against eight sorted thresholds (unused ones +inf,
    never below a score), written out so that LLVM vectorises the loop over
    classes with the eight violation counters in registers. Returns
    ``(sum_j count_j * (x[j] + offset), violations_0, ..., violations_7)``."""
    v0 = v1 = v2 = v3 = v4 = v5 = v6 = v7 = 0
    total = 0.0
    for j in range(x.shape[0]):
        value = np.float64(x[j])
        c0 = np.int64(t0 < value)
        c1 = np.int64(t1 < value)
        c2 = np.int64(t2 < value)
        c3 = np.int64(t3 < value)
        c4 = np.int64(t4 < value)
        c5 = np.int64(t5 < value)
        c6 = np.int64(t6 < value)
        c7 = np.int64(t7 < value)
        v0 += c0
        v1 += c1
        v2 += c2
        v3 += c3
        v4 += c4
        v5 += c5
        v6 += c6
        v7 += c7
        count = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7
        total += count * (value + offset)
        if grad is not None:
            grad[row, j] = count * scale
    return total, v0, v1, v2, v3, v4, v5, v6, v7


@cpu_kernel(inline="always")
def _counted_row_sum(
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
):
    """Row sum for finite target scores and more than SMALL_TARGETS targets,
    and the magnitude of the terms it added and subtracted.

    Every class's count goes to ``counts``; a histogram of them, less the
    target classes, gives the violations. Non-finite scores make the result
    non-finite, as in :func:`_small_row_sum`.
    """
    if n_targets <= LINEAR_TARGETS:
        # Thresholds are values of the scores' dtype: exact there, and float32
        # compares eight to a vector (25% faster than float64 at 20 targets).
        for p in range(LINEAR_TARGETS):
            native_thresholds[p] = thresholds[p] if p < n_targets else np.inf
        if n_targets <= 16:
            _linear_counts_16(x, native_thresholds, counts)
        elif n_targets <= 24:
            _linear_counts_24(x, native_thresholds, counts)
        elif n_targets <= 32:
            _linear_counts_32(x, native_thresholds, counts)
        elif n_targets <= 48:
            _linear_counts_48(x, native_thresholds, counts)
        elif n_targets <= 64:
            _linear_counts_64(x, native_thresholds, counts)
        else:
            _linear_counts_96(x, native_thresholds, counts)
    else:
        _bucketed_counts(x, thresholds, n_targets, buckets, counts)
    total = _apply_counts(x, offset, counts, grad, row, scale)
    violations[: n_targets + 1] = 0
    for j in range(x.shape[0]):
        violations[counts[j]] += 1
    weight = 0
    for p in range(1, n_targets + 1):
        weight += p * violations[p]
    magnitude = _scan_magnitude(total, weight, thresholds, offset)
    for k in range(n_targets):
        if k > 0 and classes[k] == classes[k - 1]:
            continue
        count = counts[classes[k]]
        violations[count] -= 1
        value = np.float64(x[classes[k]])
        total -= count * (value + offset)
        magnitude += count * abs(value + offset)
    weighted, absolute = violations_from_histogram(violations, sorted_scores, n_targets)
    return total - weighted, magnitude + absolute


# Not inlined: see _scan_eight.
@cpu_kernel(fastmath=VECTOR_REDUCTION_FASTMATH, internal=True)
def _apply_counts(x, offset, counts, grad, row, scale):
    """Write each class's gradient ``count * scale`` and return
    sum_j count_j * (x[j] + offset)."""
    total = 0.0
    for j in range(x.shape[0]):
        count = counts[j]
        total += count * (np.float64(x[j]) + offset)
        if grad is not None:
            grad[row, j] = count * scale
    return total


def _make_linear_counts(n_slots):
    """Build the vectorised linear count against ``n_slots`` thresholds.

    The slot count is a compile-time constant of each built kernel, so LLVM
    unrolls the inner loop and vectorises across classes; rows use the
    smallest kernel that holds their targets.
    """

    @cpu_kernel(internal=True)
    def linear_counts(x, native_thresholds, counts):
        """``counts[j]`` = number of ``native_thresholds[:n_slots]`` (sorted,
        unused ones +inf) below ``x[j]``."""
        for j in range(x.shape[0]):
            value = x[j]
            count = np.int32(0)
            for p in range(n_slots):
                count += np.int32(native_thresholds[p] < value)
            counts[j] = count

    return linear_counts


_linear_counts_16 = _make_linear_counts(16)
_linear_counts_24 = _make_linear_counts(24)
_linear_counts_32 = _make_linear_counts(32)
_linear_counts_48 = _make_linear_counts(48)
_linear_counts_64 = _make_linear_counts(64)
_linear_counts_96 = _make_linear_counts(LINEAR_TARGETS)


@cpu_kernel(inline="always")
def _bucketed_counts(x, thresholds, n_targets, buckets, counts):
    """Counts located through an equal-width grid over the thresholds.

    ``_bucket_of`` is monotone, so a threshold in a lower bucket than a score
    is below it and one in a higher bucket is not: only the score's own
    bucket (rarely more than one threshold) needs a search. ``buckets[k]`` is
    the number of thresholds in buckets below k.
    """
    n_buckets = BUCKETS_PER_TARGET * n_targets
    low = thresholds[0]
    spread = thresholds[n_targets - 1] - low
    if not math.isfinite(spread):
        # Thresholds near the float64 limit: no grid, search them all.
        for j in range(x.shape[0]):
            counts[j] = lower_bound(thresholds, 0, n_targets, np.float64(x[j]))
        return
    inverse_width = n_buckets / spread if spread > 0.0 else 0.0
    k = 0
    for p in range(n_targets):
        key = _bucket_of(thresholds[p], low, inverse_width, n_buckets)
        while k <= key:
            buckets[k] = p
            k += 1
    while k < n_buckets + 3:
        buckets[k] = n_targets
        k += 1
    for j in range(x.shape[0]):
        value = np.float64(x[j])
        key = _bucket_of(value, low, inverse_width, n_buckets)
        counts[j] = lower_bound(thresholds, buckets[key], buckets[key + 1], value)


@cpu_kernel(inline="always")
def _bucket_of(value, low, inverse_width, n_buckets):
    """Grid bucket in [0, n_buckets + 1] of a value, monotone in the value;
    NaN goes to bucket 0. No add after the multiply: nothing can be fused
    into an FMA in one caller and not in another."""
    position = (value - low) * inverse_width
    position = position if position > -1.0 else -1.0
    position = position if position < n_buckets else np.float64(n_buckets)
    return np.int64(position) + 1


@cpu_kernel(inline="always")
def violations_from_histogram(violations, sorted_scores, n_targets):
    """Turn a histogram of counts into violations per sorted position, in
    place; return ``sum_p sorted_score_p * violations_p`` and the same sum of
    absolute values.

    A position p is violated by every non-target whose count exceeds p.
    Positions nobody violates are skipped, so a +inf target score never
    meets a zero count.
    """
    above = 0
    weighted = 0.0
    absolute = 0.0
    for p in range(n_targets, -1, -1):
        here = violations[p]
        violations[p] = above
        above += here
        if p < n_targets and violations[p] > 0:
            weighted += sorted_scores[p] * violations[p]
            absolute += abs(sorted_scores[p]) * violations[p]
    return weighted, absolute


@cpu_kernel(internal=True)
def _exact_row_sum(
    x, classes, n_targets, sorted_scores, thresholds, native_margin, violations, gaps,
    grad, row, scale,
):
    """Row sum for any row, walking the non-targets alone, from terms that
    never cancel.

    Pair (t, j)'s term is ``x[j] - d_t`` with ``d_t = x[t] - margin`` in
    float64 (PyTorch's ``(margin - x[t]) + x[j]``). With ``d`` sorted, a
    class that violates the first k targets adds::

        sum_{p<k} (x[j] - d_p) = k * (x[j] - d_{k-1}) + gaps[k],
        gaps[k] = sum_{p<k} (d_{k-1} - d_p)

    and neither part is negative: whatever the scores' magnitudes, the sum
    is as accurate as a pair-by-pair one. The non-targets are the runs
    between consecutive sorted target classes. A class's terms are added
    only where its count is positive, so infinite scores give the exact
    sum; the NaN rule is the caller's.
    """
    margin = np.float64(native_margin)
    target_gaps(sorted_scores, n_targets, margin, gaps)
    n_classes = x.shape[0]
    violations[: n_targets + 1] = 0
    total = 0.0
    run_start = 0
    for k in range(n_targets + 1):
        run_stop = classes[k] if k < n_targets else n_classes
        for j in range(run_start, run_stop):
            value = np.float64(x[j])
            count = lower_bound(thresholds, 0, n_targets, value)
            violations[count] += 1
            if count > 0:
                total += class_terms(value, count, sorted_scores, margin, gaps)
            if grad is not None:
                grad[row, j] = count * scale
        run_start = max(run_start, run_stop + 1)
    violations_from_histogram(violations, sorted_scores, n_targets)
    return total


@cpu_kernel(inline="always")
def target_gaps(sorted_scores, n_targets, margin, gaps):
    """``gaps[k] = sum_{p<k} (d_{k-1} - d_p)`` for k = 0..T, with
    ``d_p = sorted_scores[p] - margin`` (see :func:`_exact_row_sum`)."""
    gaps[0] = 0.0
    if n_targets > 0:
        gaps[1] = 0.0
    for k in range(2, n_targets + 1):
        gaps[k] = gaps[k - 1]
        # Equal neighbours (even infinite ones) add nothing: never inf - inf.
        if sorted_scores[k - 1] != sorted_scores[k - 2]:
            step = (sorted_scores[k - 1] - margin) - (sorted_scores[k - 2] - margin)
            gaps[k] += (k - 1) * step


@cpu_kernel(inline="always")
def class_terms(value, count, sorted_scores, margin, gaps):
    """The terms of a class of score ``value`` that violates the first
    ``count`` (> 0) sorted targets: two parts, neither negative."""
    return count * (value - (sorted_scores[count - 1] - margin)) + gaps[count]


@cpu_kernel(internal=True)
def _pairwise_row_sum(x, sorted_classes, n_targets, native_margin):
    """Row sum pair by pair, in float64: O(T * C), for the rare row whose
    scores are so large that the sorted sums overflow. Pairs are decided by
    the kernels' rule; a sum that is truly infinite stays infinite."""
    n_classes = x.shape[0]
    total = 0.0
    run_start = 0
    for k in range(n_targets + 1):
        run_stop = sorted_classes[k] if k < n_targets else n_classes
        for j in range(run_start, run_stop):
            value = np.float64(x[j])
            for t in range(n_targets):
                score = x[sorted_classes[t]]
                if target_threshold(score, native_margin, x.dtype) < value:
                    total += (np.float64(native_margin) - np.float64(score)) + value
        run_start = max(run_start, run_stop + 1)
    return total


@cpu_kernel(internal=True)
def _has_undefined_pair(x, sorted_classes, n_targets, native_margin):
    """Whether some pair term ``(margin - x[t]) + x[j]`` is NaN in the scores'
    dtype, as PyTorch evaluates it.

    That happens when either part is NaN, or ``margin - x[t]`` (infinite for
    an infinite target score, or by overflow) meets a non-target score that
    is the opposite infinity. Called for rows whose fast sum is not finite,
    once the row is known to have a target and a non-target.
    """
    part_nan = False
    part_pos_inf = False
    part_neg_inf = False
    for k in range(n_targets):
        part = native_margin - x[sorted_classes[k]]
        part_nan |= part != part
        part_pos_inf |= part == np.inf
        part_neg_inf |= part == -np.inf
    if part_nan:
        return True
    for j in range(x.shape[0]):
        value = x[j]
        if math.isfinite(value):
            continue
        position = lower_bound(sorted_classes, 0, n_targets, j)
        if position < n_targets and sorted_classes[position] == j:
            continue  # j is a target
        if value != value:
            return True
        if (value < 0 and part_pos_inf) or (value > 0 and part_neg_inf):
            return True
    return False
