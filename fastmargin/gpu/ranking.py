"""GPU twin of the CPU ranking kernels (``kernels/ranking.py``): the
multi-label ranking margin loss (PyTorch's ``MultiLabelMarginLoss``) and its
gradient, fused, one thread block per row.

Results equal the CPU kernel's: the same statuses, bit-identical gradients
(every entry is an integer count times the row's scale, the counts decided
in the scores' dtype by the CPU's own ``target_threshold``), losses equal up to
the order of float64 summation, with the CPU's NaN and infinity outcomes.

The work of one row is ``gpu/ranking_row.ranking_row`` (see there).

Float sums are per-thread partials in a fixed order, then
``gpu/common.block_sum``: identical bits run to run. No float atomics.

Scratch: rows with at most ``SHARED_TARGETS`` used entries keep their
targets in shared memory (``ranking_kernel``). A row with more is marked
``ROW_DEFERRED`` in ``status`` and computed by a second launch,
``ranking_long_kernel``, on per-block scratch rows in global memory (at
most ``SCRATCH_BYTES`` in all; its grid is capped to fit). That launch
happens only when the batch's ``width`` exceeds the shared capacity.
"""

import numpy as np
from numba import cuda

from ..kernels.options import gpu_kernel
from .common import (
    MAX_THREADS,
    next_power_of_two,
    row_blocks,
    stream_allocator,
    threads_per_row,
)
from .ranking_row import FLAGS, ROW_DEFERRED, ranking_row

# Most used entries of a row computed in shared memory (a power of two: the
# bitonic sort pads to one). Shared memory per block: 8 * (5 * SHARED_TARGETS
# + 2 + MAX_THREADS + 3) bytes, about 12 KiB.
SHARED_TARGETS = 256
# Most bytes of global scratch for the rows beyond SHARED_TARGETS.
SCRATCH_BYTES = 64 * 2**20
# Histogram slots of the shared path (a compile-time constant).
_SHARED_HISTOGRAM = SHARED_TARGETS + 1


@gpu_kernel()
def ranking_kernel(
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
    capacity,
):
    """Every row with at most ``capacity`` (<= SHARED_TARGETS) used entries,
    in shared memory; longer rows get status ``ROW_DEFERRED``. One block
    per row, rows grid-stride."""
    classes = cuda.shared.array(SHARED_TARGETS, np.int64)
    sorted_scores = cuda.shared.array(SHARED_TARGETS, np.float64)
    thresholds = cuda.shared.array(SHARED_TARGETS, np.float64)
    violations = cuda.shared.array(_SHARED_HISTOGRAM, np.int64)
    gaps = cuda.shared.array(_SHARED_HISTOGRAM, np.float64)
    sums = cuda.shared.array(MAX_THREADS, np.float64)
    flags = cuda.shared.array(FLAGS, np.int64)
    for row in range(cuda.blockIdx.x, scores.shape[0], cuda.gridDim.x):
        ranking_row(
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
        )


@gpu_kernel()
def ranking_long_kernel(
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
    all_classes,
    all_sorted_scores,
    all_thresholds,
    all_violations,
    all_gaps,
):
    """The rows ``ranking_kernel`` deferred, each block on its own rows of
    the global scratch (``all_thresholds.shape[1]`` >= every row's entries)."""
    sums = cuda.shared.array(MAX_THREADS, np.float64)
    flags = cuda.shared.array(FLAGS, np.int64)
    block = cuda.blockIdx.x
    classes = all_classes[block]
    sorted_scores = all_sorted_scores[block]
    thresholds = all_thresholds[block]
    violations = all_violations[block]
    gaps = all_gaps[block]
    capacity = all_thresholds.shape[1]
    for row in range(block, scores.shape[0], cuda.gridDim.x):
        # Every thread reads the mark before the row's first barrier, and
        # only after that barrier does thread 0 overwrite it.
        if status[row] == ROW_DEFERRED:
            ranking_row(
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
            )


def long_row_scratch(n_rows, width):
    """``(blocks, sort_slots)`` of the long-row launch: each block holds
    two int64/float64 rows of ``sort_slots`` (a power of two >= width) and
    three of ``width`` (+1); the grid is capped so that all of it stays
    within SCRATCH_BYTES (one block at least)."""
    slots = max(int(width), 1)
    sort_slots = next_power_of_two(slots)
    per_block = 8 * (2 * sort_slots + 3 * slots + 2)
    return max(1, min(row_blocks(n_rows), SCRATCH_BYTES // per_block)), sort_slots


def launch_ranking(
    scores,
    indptr,
    indices,
    padded,
    width,
    margin,
    loss_divisor,
    loss,
    status,
    grad,
    grad_scale,
    stream,
    threads=None,
    shared_targets=None,
    allocate=None,
):
    """Launch the fused ranking loss (+ gradient) on ``stream``.

    Same contract and results as the CPU kernels run by
    ``_host.ranking_kernels`` (device arrays; ``grad`` and ``grad_scale``
    both None or both arrays). ``threads``: per
    block (a power of two <= MAX_THREADS), by default
    ``threads_per_row(C)``. ``shared_targets`` lowers the shared-memory
    capacity below SHARED_TARGETS (tests use it to run the long-row path on
    tiny shapes). ``allocate(shape, dtype)`` returns a device array for the
    long-row scratch (by default ``cuda.device_array`` on ``stream``); it is
    only called when ``width`` exceeds the shared capacity. Never
    synchronizes.
    """
    n_rows, n_classes = scores.shape
    if threads is None:
        threads = threads_per_row(n_classes)
    if not 1 <= threads <= MAX_THREADS or threads & (threads - 1):
        raise ValueError(f"threads must be a power of two <= {MAX_THREADS}, got {threads}")
    capacity = SHARED_TARGETS
    if shared_targets is not None:
        capacity = max(0, min(int(shared_targets), SHARED_TARGETS))
    blocks = row_blocks(n_rows)
    margin, loss_divisor = float(margin), float(loss_divisor)
    padded = bool(padded)
    ranking_kernel[blocks, threads, stream](
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
        np.int64(capacity),
    )
    if width > capacity:
        if allocate is None:
            allocate = stream_allocator(stream)
        long_blocks, sort_slots = long_row_scratch(n_rows, width)
        slots = max(int(width), 1)
        all_classes = allocate((long_blocks, sort_slots), np.int64)
        all_sorted = allocate((long_blocks, sort_slots), np.float64)
        all_thresholds = allocate((long_blocks, slots), np.float64)
        all_violations = allocate((long_blocks, slots + 1), np.int64)
        all_gaps = allocate((long_blocks, slots + 1), np.float64)
        ranking_long_kernel[long_blocks, threads, stream](
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
            all_classes,
            all_sorted,
            all_thresholds,
            all_violations,
            all_gaps,
        )
