"""The exact path of the ranking loss's CPU kernels: each class's terms
added as parts that are never negative, so nothing cancels whatever the
scores' magnitudes, infinite and NaN scores included; and the thresholds
that decide, as PyTorch decides, whether a pair is violated. The GPU kernel
compiles these same functions for the device.
"""

import math

import numpy as np

from .options import cpu_kernel
from .sorting import lower_bound


@cpu_kernel(inline="always")
def target_threshold(score, native_margin, dtype):
    """``score - margin`` rounded once in the scores' dtype, as float64: a
    class violates a target exactly when its score exceeds the target's
    threshold. +inf stays +inf (padding)."""
    return np.float64(dtype.type(score) - native_margin)


@cpu_kernel(internal=True)
def exact_row_sum(
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
    ``d_p = sorted_scores[p] - margin`` (see :func:`exact_row_sum`)."""
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
def pairwise_row_sum(x, sorted_classes, n_targets, native_margin):
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
def has_undefined_pair(x, sorted_classes, n_targets, native_margin):
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
