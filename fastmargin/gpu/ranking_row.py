"""One row of the GPU ranking kernels (``gpu/ranking.py``), computed by the
whole thread block: the device functions that both launches share.

Per row (``ranking_row``):

1. the row's entries are read in rounds of ``blockDim`` entries, stopping
   after the round that holds the first -1 (padded rows) or the first bad
   entry; ``cuda.atomic.min`` on shared integers finds both positions, so
   the status does not depend on the threads' order;
2. the target classes, then the target scores (float64), are sorted by a
   block-wide bitonic network; thresholds ``x[t] - margin`` rounded in the
   scores' dtype, and the gaps between target scores of the CPU's exact
   path (``_target_gaps``);
3. the threads stride over the classes: a non-target's count of violated
   targets is a binary search among the sorted thresholds, its gradient
   ``count * scale``, its loss terms (``_class_terms``, never negative, so
   that nothing cancels whatever the scores' magnitudes) added (when the
   count is positive) to a per-thread float64 partial; the counts go to a
   histogram by integer atomics (exact);
4. the histogram gives the violations per sorted target position (the CPU's
   ``_violations_from_histogram``), hence the targets' gradients; NaN,
   infinite and overflowing rows follow the CPU's exact path,
   ``_has_undefined_pair`` and ``_pairwise_row_sum``.

Float sums are per-thread partials in a fixed order, then
``gpu/common.block_sum``: identical bits run to run. No float atomics.
"""

import math

import numpy as np
from numba import cuda

from ..kernels import ranking_terms
from ..kernels.labels import ROW_OF_ZEROS_AND_ONES, ROW_OK
from ..kernels.options import gpu_kernel
from ..kernels.ranking import LARGEST_INDEX
from .common import block_sum, device_next_power_of_two, lower_bound

# Status of a row left to the long-row launch (never seen by callers).
ROW_DEFERRED = -3

# Slots of the small shared integer array: end, first bad entry, bits.
FLAGS = 3

# Bits of flags[2]: what the target scores hold.
_TARGET_NAN = 1

_PART_POS_INF = 2

_PART_NEG_INF = 4

# The CPU's leaf helpers, compiled for the device from the same source.
_threshold = gpu_kernel(device=True)(ranking_terms.target_threshold.py_func)

_violations_from_histogram = gpu_kernel(device=True)(
    ranking_terms.violations_from_histogram.py_func
)

_target_gaps = gpu_kernel(device=True)(ranking_terms.target_gaps.py_func)

_class_terms = gpu_kernel(device=True)(ranking_terms.class_terms.py_func)


@gpu_kernel(device=True)
def _read_row(indices, start, length, padded, n_classes, classes, capacity, flags):
    """Read a row's used entries into ``classes[:capacity]``, in parallel;
    return ``(n, status)`` as ``kernels/labels.read_labels`` would, with status
    ``ROW_DEFERRED`` when the row has more than ``capacity`` used entries.

    Threads check entries in rounds of ``blockDim``; the rounds stop after
    the first that holds a -1 (padded rows) or a bad entry, or once past
    ``capacity``. The first -1 and the first bad entry are found by integer
    ``atomic.min``; a bad entry counts only before the first -1.
    """
    tid = cuda.threadIdx.x
    threads = cuda.blockDim.x
    if tid == 0:
        flags[0] = length
        flags[1] = length
        flags[2] = 0
    cuda.syncthreads()
    above_one = 0
    base = 0
    while base < length and base <= capacity:
        position = base + tid
        stop = 0
        if position < length:
            label = indices[start + position]
            if padded and label == -1:
                cuda.atomic.min(flags, 0, position)
                stop = 1
            elif label < 0 or label >= n_classes:
                cuda.atomic.min(flags, 1, position)
                stop = 1
            else:
                if position < capacity:
                    classes[position] = label
                if label > 1:
                    above_one = 1
        base += threads
        if cuda.syncthreads_or(np.int32(stop)):
            break
    above_one = cuda.syncthreads_or(np.int32(above_one))
    end = flags[0]
    bad = flags[1]
    if bad < end:
        return 0, bad
    if end > capacity:
        # Stopped past the capacity with no -1 yet (end is then length).
        return 0, np.int64(ROW_DEFERRED)
    if padded and end == length and above_one == 0:
        return end, np.int64(ROW_OF_ZEROS_AND_ONES)
    return end, np.int64(ROW_OK)


@gpu_kernel(device=True)
def _block_sort(values, count, padding):
    """Sort ``values[:count]`` ascending, in place, with the block's threads:
    a bitonic network over the next power of two (``values`` must have that
    many slots; those past ``count`` get ``padding``, which must not sort
    below any value). Starts and ends with a barrier's guarantees: callers
    write ``values`` before and read it after."""
    tid = cuda.threadIdx.x
    threads = cuda.blockDim.x
    size = device_next_power_of_two(count)
    for i in range(count + tid, size, threads):
        values[i] = padding
    cuda.syncthreads()
    half = size // 2
    stage = 2
    while stage <= size:
        step = stage // 2
        while step > 0:
            for pair in range(tid, half, threads):
                low = (pair // step) * (2 * step) + pair % step
                high = low + step
                first = values[low]
                second = values[high]
                if (first > second) if (low & stage) == 0 else (first < second):
                    values[low] = second
                    values[high] = first
            cuda.syncthreads()
            step //= 2
        stage *= 2


@gpu_kernel(device=True)
def _fill_row(grad, row, value):
    """``grad[row, :] = value`` with the block's threads."""
    for j in range(cuda.threadIdx.x, grad.shape[1], cuda.blockDim.x):
        grad[row, j] = value


@gpu_kernel(device=True)
def _is_target(classes, n_targets, j):
    """Whether class j is among the sorted ``classes[:n_targets]``."""
    position = lower_bound(classes, 0, n_targets, j)
    return position < n_targets and classes[position] == j


@gpu_kernel(device=True)
def _pairwise_sum(x, classes, n_targets, native_margin, sums):
    """The CPU's ``_pairwise_row_sum`` with the block's threads: each
    thread sums its stride of non-targets pair by pair, in float64, then a
    fixed-order block sum."""
    partial = 0.0
    margin = np.float64(native_margin)
    for j in range(cuda.threadIdx.x, x.shape[0], cuda.blockDim.x):
        if _is_target(classes, n_targets, j):
            continue
        value = np.float64(x[j])
        for t in range(n_targets):
            score = x[classes[t]]
            if _threshold(score, native_margin, x.dtype) < value:
                partial += (margin - np.float64(score)) + value
    return block_sum(partial, sums)


@gpu_kernel(device=True)
def ranking_row(
    scores,
    row,
    indptr,
    indices,
    padded,
    margin,
    loss_divisor,
    loss,
    status,
    grad,
    grad_scale,
    capacity,
    classes,
    sorted_scores,
    thresholds,
    violations,
    gaps,
    sums,
    flags,
):
    """Compute row ``row`` with the whole block (every thread calls it).

    Scratch (shared memory, or a block's rows of global scratch): ``classes``
    and ``sorted_scores`` with a power of two >= ``capacity`` slots,
    ``thresholds`` with ``capacity``, ``violations`` and ``gaps`` with
    ``capacity + 1``;
    ``sums`` (float64, a slot per thread) and ``flags`` (int64, 3) in shared
    memory. Every branch around a barrier is on values that all threads
    share.
    """
    tid = cuda.threadIdx.x
    threads = cuda.blockDim.x
    x = scores[row]
    n_classes = x.shape[0]
    # The previous row is done with the scratch.
    cuda.syncthreads()
    start = indptr[row]
    n, row_status = _read_row(
        indices,
        start,
        indptr[row + 1] - start,
        padded,
        n_classes,
        classes,
        capacity,
        flags,
    )
    if tid == 0:
        status[row] = row_status
    if row_status == ROW_DEFERRED:
        return
    if row_status >= 0:
        if tid == 0:
            loss[row] = np.nan
        return
    if n == 0:
        if tid == 0:
            loss[row] = 0.0
        if grad is not None:
            _fill_row(grad, row, 0.0 * grad_scale[row])
        return

    _block_sort(classes, n, LARGEST_INDEX)
    if n >= n_classes:
        n_distinct = 0
        for base in range(0, n, threads):
            k = base + tid
            n_distinct += cuda.syncthreads_count(
                np.int32(k < n and (k == 0 or classes[k] != classes[k - 1]))
            )
        if n_distinct == n_classes:
            # No (target, non-target) pair: zero loss, a zero gradient
            # times the row's factor (NaN for a NaN grad_output).
            if tid == 0:
                loss[row] = 0.0
            if grad is not None:
                _fill_row(grad, row, 0.0 * grad_scale[row])
            return

    # The margin as the scores' dtype has it: decisions are taken there.
    native_margin = x.dtype.type(margin)
    bits = 0
    for k in range(tid, n, threads):
        score = x[classes[k]]
        value = np.float64(score)
        sorted_scores[k] = value
        if value != value:
            bits |= _TARGET_NAN
        # The first part of PyTorch's pair term, for _has_undefined_pair.
        part = native_margin - score
        if part == np.inf:
            bits |= _PART_POS_INF
        if part == -np.inf:
            bits |= _PART_NEG_INF
    if bits != 0:
        cuda.atomic.or_(flags, 2, bits)
    cuda.syncthreads()
    bits = flags[2]
    if bits & _TARGET_NAN:
        # A NaN target score with a non-target: an undefined pair.
        if tid == 0:
            loss[row] = np.nan
        if grad is not None:
            _fill_row(grad, row, np.nan)
        return
    part_pos_inf = (bits & _PART_POS_INF) != 0
    part_neg_inf = (bits & _PART_NEG_INF) != 0

    _block_sort(sorted_scores, n, np.inf)
    margin_64 = np.float64(native_margin)
    for k in range(tid, n, threads):
        thresholds[k] = _threshold(sorted_scores[k], native_margin, x.dtype)
    for k in range(tid, n + 1, threads):
        violations[k] = 0
    if tid == 0:
        _target_gaps(sorted_scores, n, margin_64, gaps)
    cuda.syncthreads()
    scale = grad_scale[row] if grad is not None else 0.0

    # The non-targets: counts, their gradients, their loss terms as the
    # CPU's exact path adds them (never cancelling; added only where the
    # count is positive, so infinite scores give the exact sum).
    partial = 0.0
    undefined = 0
    for j in range(tid, n_classes, threads):
        if _is_target(classes, n, j):
            continue
        value = np.float64(x[j])
        count = lower_bound(thresholds, 0, n, value)
        cuda.atomic.add(violations, count, 1)
        if count > 0:
            partial += _class_terms(value, count, sorted_scores, margin_64, gaps)
        if grad is not None:
            grad[row, j] = count * scale
        if not math.isfinite(value):
            if value != value or (value < 0 and part_pos_inf) or (value > 0 and part_neg_inf):
                undefined = 1
    row_sum = block_sum(partial, sums)
    undefined = cuda.syncthreads_or(np.int32(undefined))
    if tid == 0:
        _violations_from_histogram(violations, sorted_scores, n)
    cuda.syncthreads()
    violated = violations[0]
    cuda.syncthreads()

    if undefined:
        row_sum = np.nan
    elif not math.isfinite(row_sum):
        # Scores near the float64 limit overflowed the sorted sums.
        row_sum = _pairwise_sum(x, classes, n, native_margin, sums)
    # violations[0] counts the non-targets violating anything: where none
    # does the sum is exactly 0, and never may a sum of hinges be negative.
    if math.isfinite(row_sum) and (violated == 0 or row_sum < 0.0):
        row_sum = 0.0
    if tid == 0:
        loss[row] = row_sum / loss_divisor

    if grad is not None:
        if row_sum != row_sum:
            _fill_row(grad, row, np.nan)
        else:
            # Each target: minus the violations of its sorted position, once
            # per time it is listed (the first of equal thresholds serves).
            for k in range(tid, n, threads):
                label = classes[k]
                if k > 0 and classes[k - 1] == label:
                    continue
                repeats = 1
                while k + repeats < n and classes[k + repeats] == label:
                    repeats += 1
                threshold = _threshold(x[label], native_margin, x.dtype)
                position = lower_bound(thresholds, 0, n, threshold)
                grad[row, label] = -(repeats * violations[position]) * scale
