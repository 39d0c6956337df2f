"""The counting passes of the ranking loss's CPU kernels: each class's count
of violated targets, found by branch-free comparisons (up to 96 targets) or
an equal-width bucket grid, gives the row's gradient and its sum of hinge
terms (see ``ranking.py`` for the formulation). Scores are assumed finite;
a row whose sum is not finite, or whose rounding could exceed the error
limits below, is left to the exact path (``ranking_terms.exact_row_sum``).
"""

import math

import numpy as np

from .options import VECTOR_REDUCTION_FASTMATH, cpu_kernel
from .ranking_terms import violations_from_histogram
from .sorting import lower_bound

# Largest T for the eight-counter scan (its comparisons are written out).
SMALL_TARGETS = 8

# Largest T for the vectorised linear count, and its most slots.
LINEAR_TARGETS = 96

# Grid buckets per target score for larger T: most buckets hold no score, so
# the search inside a score's bucket rarely has anything to do.
BUCKETS_PER_TARGET = 8

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


@cpu_kernel(inline="always")
def small_row_sum(
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
    magnitude = _scan_magnitude(
        total, v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7, thresholds, offset
    )
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
def counted_sum_holds(row_sum, magnitude, violations, x):
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
def counted_row_sum(
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
    non-finite, as in :func:`small_row_sum`.
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
