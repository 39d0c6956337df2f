"""CPU kernels of the multi-label ranking margin loss (PyTorch's
``MultiLabelMarginLoss``), loss and gradient fused in one pass.

For one row with scores ``x`` (C classes) and used targets ``t_1..t_T``::

    loss = sum over k, over classes j not among the targets, of
           max(0, margin - x[t_k] + x[j]), divided by C

A non-target j violates exactly the targets whose score is below
``x[j] + margin``. With the T target scores sorted (and their prefix sums),
j's ``count`` of violated targets is a binary search, its loss term is
``count * (x[j] + margin) - prefix[count]`` and its gradient is
``count / C``. A target at sorted position p loses one ``1 / C`` for each
non-target whose count exceeds p: a histogram of the counts, summed from the
top, gives every target's gradient. Per row that is O(C log T + T log T) work,
one read of the scores and one write of the gradient, instead of the O(T * C)
pair loop.

Contract of the drivers (the front end guarantees it, the kernels never
re-check): ``scores`` is C-contiguous float32/float64 of shape (N, C) with
C >= 1; ``targets`` is C-contiguous int32/int64 of shape (N, K); ``loss`` is
float64 (N,); ``bad_entry`` is int64 (N,); ``grad`` is None or an array shaped
like ``scores``, and ``grad_scale`` is then float64 (N,), the factor of row i's
gradient (``grad_output[i] / C`` times the reduction's factor).
"""

import math

import numba
import numpy as np

from ._numba_options import VECTOR_REDUCTION_FASTMATH, cpu_kernel
from ._sorting import count_below, sort_prefix

# Rows with at most this many targets take the vectorised branch-free scan.
SMALL_TARGETS = 8


@cpu_kernel(parallel=True)
def ranking_rows(scores, targets, margin, loss, bad_entry, grad, grad_scale, n_chunks):
    """Fill ``loss`` (and ``grad`` unless it is None) for every row.

    Rows are split into ``n_chunks`` contiguous chunks, one per thread, each
    with its own scratch (``numba.get_num_threads()`` is read by the caller:
    calling it in here would stop numba from caching the kernel).

    Row i's per-sample loss goes to ``loss[i]``. A used target entry outside
    [0, C), or negative other than the -1 that ends the row, leaves the row
    uncomputed and its column in ``bad_entry[i]`` (-1 for a good row).
    """
    n_rows = scores.shape[0]
    width = targets.shape[1]
    n_chunks = min(n_rows, n_chunks)
    # Per-thread scratch, allocated once: rows never touch the heap.
    slots = max(width, SMALL_TARGETS) + 1
    float_scratch = np.empty((n_chunks, slots), np.float64)
    int_scratch = np.empty((n_chunks, width + slots), np.int64)
    for chunk in numba.prange(n_chunks):
        start = chunk * n_rows // n_chunks
        stop = (chunk + 1) * n_rows // n_chunks
        for row in range(start, stop):
            bad_entry[row] = _ranking_row(
                scores,
                targets,
                margin,
                row,
                loss,
                grad,
                grad_scale,
                float_scratch[chunk],
                int_scratch[chunk],
            )


@cpu_kernel()
def _ranking_row(
    scores, targets, margin, row, loss, grad, grad_scale, float_scratch, int_scratch
):
    """Compute one row; return the column of a bad target entry, or -1."""
    x = scores[row]
    n_classes = x.shape[0]
    width = targets.shape[1]
    classes = int_scratch[:width]
    violations = int_scratch[width:]  # width + 1 slots, one per sorted target
    sorted_scores = float_scratch

    n_targets = 0
    for k in range(width):
        label = targets[row, k]
        if label == -1:
            break
        if label < 0 or label >= n_classes:
            loss[row] = np.nan
            return k
        classes[n_targets] = label
        n_targets += 1

    sort_prefix(classes, n_targets)
    n_distinct = 0
    for k in range(n_targets):
        if k == 0 or classes[k] != classes[k - 1]:
            n_distinct += 1
    if n_targets == 0 or n_distinct == n_classes:
        # No (target, non-target) pair: zero loss, zero gradient.
        loss[row] = 0.0
        if grad is not None:
            grad[row, :] = 0
        return -1

    targets_finite = True
    for k in range(n_targets):
        value = np.float64(x[classes[k]])
        sorted_scores[k] = value
        targets_finite &= math.isfinite(value)
    sort_prefix(sorted_scores, n_targets)
    # Scores are centred on a target score so that a large common offset does
    # not cancel catastrophically in the sums below.
    centre = sorted_scores[n_targets // 2] if targets_finite else 0.0
    for k in range(n_targets):
        sorted_scores[k] -= centre
    scale = grad_scale[row] if grad is not None else 0.0

    row_sum = np.nan
    if targets_finite and n_targets <= SMALL_TARGETS:
        row_sum = _small_row_sum(
            x, classes, n_targets, sorted_scores, centre, margin, violations,
            grad, row, scale,
        )
    if not math.isfinite(row_sum):
        # Many targets, or a non-finite score somewhere: the general path,
        # exact for infinities, then the NaN rule.
        row_sum = _general_row_sum(
            x, classes, n_targets, sorted_scores, centre, margin, violations,
            grad, row, scale,
        )
        if not (targets_finite and math.isfinite(row_sum)) and _has_undefined_pair(
            x, classes, n_targets
        ):
            row_sum = np.nan

    if grad is not None:
        if row_sum != row_sum:
            grad[row, :] = np.nan
        else:
            _target_gradients(
                x, classes, n_targets, sorted_scores, centre, violations,
                grad, row, scale,
            )
    loss[row] = row_sum / n_classes
    return -1


@cpu_kernel()
def _target_gradients(
    x, classes, n_targets, sorted_scores, centre, violations, grad, row, scale
):
    """Write each target's gradient: minus the violations of its sorted
    position, once per time the target is listed."""
    k = 0
    while k < n_targets:
        label = classes[k]
        repeats = 1
        while k + repeats < n_targets and classes[k + repeats] == label:
            repeats += 1
        position = count_below(sorted_scores, n_targets, np.float64(x[label]) - centre)
        grad[row, label] = -(repeats * violations[position]) * scale
        k += repeats


@cpu_kernel(fastmath=VECTOR_REDUCTION_FASTMATH)
def _small_row_sum(
    x, classes, n_targets, sorted_scores, centre, margin, violations, grad, row, scale
):
    """Row sum for finite target scores and at most SMALL_TARGETS targets.

    A branch-free count against eight sorted target slots (the unused ones
    +inf, never below a bound), written out so that LLVM vectorises the loop
    over classes with the eight violation counters in registers. The loss is
    sum_j count_j * bound_j - sum_p score_p * violations_p, with no per-class
    select; a non-finite score in the row makes the result non-finite and the
    caller then takes the general path.
    """
    inf = np.inf
    s0 = sorted_scores[0]
    s1 = sorted_scores[1] if n_targets > 1 else inf
    s2 = sorted_scores[2] if n_targets > 2 else inf
    s3 = sorted_scores[3] if n_targets > 3 else inf
    s4 = sorted_scores[4] if n_targets > 4 else inf
    s5 = sorted_scores[5] if n_targets > 5 else inf
    s6 = sorted_scores[6] if n_targets > 6 else inf
    s7 = sorted_scores[7] if n_targets > 7 else inf
    v0 = v1 = v2 = v3 = v4 = v5 = v6 = v7 = 0
    total = 0.0
    n_classes = x.shape[0]
    run_start = 0
    for k in range(n_targets + 1):
        # Non-targets are the runs between consecutive sorted target classes.
        run_stop = classes[k] if k < n_targets else n_classes
        for j in range(run_start, run_stop):
            bound = (np.float64(x[j]) - centre) + margin
            c0 = np.int64(s0 < bound)
            c1 = np.int64(s1 < bound)
            c2 = np.int64(s2 < bound)
            c3 = np.int64(s3 < bound)
            c4 = np.int64(s4 < bound)
            c5 = np.int64(s5 < bound)
            c6 = np.int64(s6 < bound)
            c7 = np.int64(s7 < bound)
            v0 += c0
            v1 += c1
            v2 += c2
            v3 += c3
            v4 += c4
            v5 += c5
            v6 += c6
            v7 += c7
            count = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7
            total += count * bound
            if grad is not None:
                grad[row, j] = count * scale
        run_start = max(run_start, run_stop + 1)
    violations[0] = v0
    violations[1] = v1
    violations[2] = v2
    violations[3] = v3
    violations[4] = v4
    violations[5] = v5
    violations[6] = v6
    violations[7] = v7
    for p in range(n_targets):
        total -= sorted_scores[p] * violations[p]
    return total


@cpu_kernel()
def _general_row_sum(
    x, classes, n_targets, sorted_scores, centre, margin, violations, grad, row, scale
):
    """Row sum for any row: binary-search counts and a histogram of them.

    Each class's term is taken only where its count is positive, so infinite
    scores give the exact sum (the NaN rule is the caller's).
    """
    n_classes = x.shape[0]
    violations[: n_targets + 1] = 0
    total = 0.0
    run_start = 0
    for k in range(n_targets + 1):
        run_stop = classes[k] if k < n_targets else n_classes
        for j in range(run_start, run_stop):
            bound = (np.float64(x[j]) - centre) + margin
            count = count_below(sorted_scores, n_targets, bound)
            violations[count] += 1
            if count > 0:
                total += count * bound
            if grad is not None:
                grad[row, j] = count * scale
        run_start = max(run_start, run_stop + 1)
    # violations[p] <- number of non-targets whose count exceeds p, i.e. that
    # violate sorted position p; the sorted scores' share of the sum goes with it.
    above = 0
    for p in range(n_targets, -1, -1):
        here = violations[p]
        violations[p] = above
        above += here
        if p < n_targets and violations[p] > 0:
            total -= sorted_scores[p] * violations[p]
    return total


@cpu_kernel()
def _has_undefined_pair(x, sorted_classes, n_targets):
    """Whether some pair term ``margin - x[t] + x[j]`` is NaN.

    That happens when either score is NaN, or both are the same infinity.
    Only called for rows that hold a non-finite score, and only once the row
    is known to have a target and a non-target.
    """
    target_nan = False
    target_pos_inf = False
    target_neg_inf = False
    for k in range(n_targets):
        value = x[sorted_classes[k]]
        target_nan |= value != value
        target_pos_inf |= value == np.inf
        target_neg_inf |= value == -np.inf
    if target_nan:
        return True
    for j in range(x.shape[0]):
        value = x[j]
        if math.isfinite(value):
            continue
        position = count_below(sorted_classes, n_targets, j)
        if position < n_targets and sorted_classes[position] == j:
            continue  # j is a target
        if value != value:
            return True
        if (value > 0 and target_pos_inf) or (value < 0 and target_neg_inf):
            return True
    return False
