"""The steps of one row that the ranking loss's CPU kernels (``ranking.py``)
share: reading and sorting its targets, the rows without pairs, centring
the target scores, and storing the row's loss and its targets' gradients.
"""

import math

import numpy as np

from .labels import read_labels
from .options import cpu_kernel
from .ranking_terms import target_threshold
from .sorting import lower_bound, sort_prefix


@cpu_kernel(inline="always")
def sorted_targets(x, indptr, indices, padded, row, classes, sorted_scores):
    """Read row ``row``'s targets into ``classes`` and sort them; their
    scores, as float64, into ``sorted_scores``, sorted. Returns
    ``kernels/labels.read_labels``' ``(n_targets, status)``."""
    n_targets, row_status = read_labels(indptr, indices, padded, row, x.shape[0], classes)
    if row_status < 0:
        sort_prefix(classes, n_targets)
        gather_target_scores(x, classes, n_targets, sorted_scores)
        sort_prefix(sorted_scores, n_targets)
    return n_targets, row_status


@cpu_kernel(inline="always")
def gather_target_scores(x, classes, n_targets, target_scores):
    """Copy the targets' scores, as float64, to ``target_scores``; return
    whether all are finite."""
    targets_finite = True
    for k in range(n_targets):
        value = np.float64(x[classes[k]])
        target_scores[k] = value
        targets_finite &= math.isfinite(value)
    return targets_finite


@cpu_kernel(inline="always")
def all_targets_finite(sorted_scores, n_targets):
    targets_finite = True
    for k in range(n_targets):
        targets_finite &= math.isfinite(sorted_scores[k])
    return targets_finite


@cpu_kernel(inline="always")
def has_no_pairs(sorted_classes, n_targets, n_classes):
    """Whether the row has no (target, non-target) pair: no target, or every
    class a target."""
    n_distinct = 0
    for k in range(n_targets):
        n_distinct += k == 0 or sorted_classes[k] != sorted_classes[k - 1]
    return n_targets == 0 or n_distinct == n_classes


@cpu_kernel(inline="always")
def write_zero_row(loss, grad, grad_scale, row):
    """A row without pairs: loss 0, gradient 0 times its factor (a NaN or
    infinite ``grad_output`` gives NaN, as PyTorch's does)."""
    loss[row] = 0.0
    if grad is not None:
        grad[row, :] = 0.0 * grad_scale[row]


@cpu_kernel(inline="always")
def centre(sorted_scores, n_targets, targets_finite, native_margin):
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
def finish_row(
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
                x,
                classes,
                n_targets,
                thresholds,
                native_margin,
                violations,
                grad,
                row,
                scale,
            )
    loss[row] = row_sum / loss_divisor


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
