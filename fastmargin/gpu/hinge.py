"""GPU kernel of the per-label (one-vs-rest) hinge loss, loss and gradient
fused in one pass: the twin of ``kernels/hinge.hinge_rows``, with the same
semantics (see ``kernels/hinge.py``).

Imported only when a GPU path runs (it needs ``numba-cuda``).

Layout of a launch: one thread block per row, rows taken in contiguous
ranges (block b of a G-block grid takes rows [b*N//G, (b+1)*N//G), as the
CPU kernel splits its blocks); the block's threads stride over the row's
classes, c = tid, tid + blockDim, ... Each thread adds its terms in float64
in class order, and the row total is ``gpu/common.block_sum``'s fixed
tree, so the loss does not change from run to run. With per-label sums, the
grid is the front end's ``n_blocks`` blocks: class c of every row of block b
is handled by the same thread, which adds the rows' terms to
``label_sums[b, c]`` in row order. No float atomics anywhere.

Label lists: thread 0 reads the row with ``gpu/common.read_labels`` (the
CPU's reader, compiled for the device) into the block's ``width`` int64
scratch entries; the block then marks them in its own uint8 mask of C
entries, streams the row, and unmarks them, so the mask is zero again for
the next row (a label listed twice is one label). Each block zeroes its
mask at the start of the launch; the grid is limited so that masks and
label scratch take at most ``SCRATCH_BYTES``. A bool indicator row is read
directly.

The per-element arithmetic is ``kernels/hinge.hinge_element``, the CPU kernel's
own, compiled for the device from the same source.
"""

import numpy as np
from numba import cuda

from ..kernels.hinge import block_rows, hinge_element
from ..kernels.labels import ROW_OK
from ..kernels.options import gpu_kernel
from .common import (
    MAX_BLOCKS,
    MAX_THREADS,
    block_sum,
    read_labels,
    row_blocks,
    stream_allocator,
    threads_per_row,
)

# Most bytes of per-block scratch (label masks and label lists) of a launch.
SCRATCH_BYTES = 32 << 20


# The CPU kernel's per-element arithmetic, compiled for the device from the
# same source.
_hinge_element = gpu_kernel(device=True)(hinge_element.py_func)
_block_rows = gpu_kernel(device=True)(block_rows.py_func)


@gpu_kernel()
def hinge_rows_kernel(
    scores,
    indptr,
    indices,
    padded,
    indicator,
    margins,
    squared,
    loss_divisor,
    loss,
    status,
    grad,
    grad_scale,
    label_sums,
    labels,
    masks,
):
    """Fill ``loss``, ``status`` (and ``grad``, ``label_sums`` unless None)
    for block b's contiguous rows; ``labels`` (G, >= width) int64 and
    ``masks`` (G, C) uint8 are the blocks' scratch (not read with an
    indicator)."""
    shared = cuda.shared.array(MAX_THREADS, np.float64)
    row_info = cuda.shared.array(2, np.int64)  # n_labels, status
    n_rows = scores.shape[0]
    n_classes = scores.shape[1]
    tid = np.int64(cuda.threadIdx.x)
    step = np.int64(cuda.blockDim.x)
    block = np.int64(cuda.blockIdx.x)
    n_blocks = np.int64(cuda.gridDim.x)
    shared_margin = margins.shape[0] == 1
    block_labels = labels[block]
    mask = masks[block]
    if indicator is None:
        for c in range(tid, n_classes, step):
            mask[c] = 0
        cuda.syncthreads()
    first_row, stop_row = _block_rows(block, n_rows, n_blocks)
    for row in range(first_row, stop_row):
        n_labels = 0
        if indicator is None:
            if tid == 0:
                found, row_status = read_labels(
                    indptr, indices, padded, row, n_classes, block_labels
                )
                status[row] = row_status
                row_info[0] = found
                row_info[1] = row_status
            cuda.syncthreads()
            n_labels = row_info[0]
            if row_info[1] >= 0:  # a bad entry: the row is not computed
                if tid == 0:
                    loss[row] = np.nan
                cuda.syncthreads()  # row_info is read before thread 0 rewrites it
                continue
            for k in range(tid, n_labels, step):
                mask[block_labels[k]] = 1
            cuda.syncthreads()
        elif tid == 0:
            status[row] = ROW_OK
        x = scores[row]
        scale = 0.0
        if grad is not None:
            scale = grad_scale[row]
        partial = 0.0
        for c in range(tid, n_classes, step):
            if indicator is None:
                is_label = mask[c] != 0
            else:
                is_label = indicator[row, c]
            margin = margins[0] if shared_margin else margins[c]
            term, slope = _hinge_element(x, c, is_label, margin, squared)
            partial += term
            if label_sums is not None:
                label_sums[block, c] += term
            if grad is not None:
                grad[row, c] = slope * scale
        # block_sum synchronises after every thread has read the total: the
        # mask is no longer read when it is unmarked below.
        total = block_sum(partial, shared)
        if tid == 0:
            loss[row] = total / loss_divisor
        if indicator is None:
            for k in range(tid, n_labels, step):
                mask[block_labels[k]] = 0
            cuda.syncthreads()


def _grid(n_rows, n_classes, width, indicator, label_sums):
    """Blocks of the launch: the label-sum blocks, else one block per row up
    to MAX_BLOCKS and to SCRATCH_BYTES of scratch."""
    if label_sums is not None:
        return label_sums.shape[0]
    limit = MAX_BLOCKS
    if indicator is None:
        limit = min(limit, max(1, SCRATCH_BYTES // (n_classes + 8 * max(width, 1))))
    return row_blocks(n_rows, limit)


def launch_hinge(
    scores,
    indptr,
    indices,
    padded,
    width,
    indicator,
    margins,
    squared,
    loss_divisor,
    loss,
    status,
    grad,
    grad_scale,
    label_sums,
    stream,
    threads=None,
    allocate=None,
):
    """Launch the hinge kernel on ``stream`` (asynchronously): fills ``loss``
    and ``status`` (and ``grad``, ``label_sums`` unless None) for every row,
    as ``kernels/hinge.hinge_rows`` does. Arguments as there (all device arrays),
    ``label_sums``' first dimension giving the number of row blocks;
    ``threads`` overrides the threads per block (a power of two, at most
    MAX_THREADS); ``allocate(shape, dtype)`` returns a device array for the
    scratch (the front end passes the caller's library's allocator, whose
    pool spares a ``cudaMalloc`` per call), numba's by default."""
    n_rows, n_classes = scores.shape
    if threads is None:
        threads = threads_per_row(n_classes)
    blocks = _grid(n_rows, n_classes, width, indicator, label_sums)
    if allocate is None:
        allocate = stream_allocator(stream)
    if indicator is None:
        labels = allocate((blocks, max(width, 1)), np.int64)
        masks = allocate((blocks, n_classes), np.uint8)
    else:  # not read: placeholders of the kernel's types (a row per block)
        labels = allocate((blocks, 1), np.int64)
        masks = allocate((blocks, 1), np.uint8)
    hinge_rows_kernel[blocks, threads, stream](
        scores,
        indptr,
        indices,
        bool(padded),
        indicator,
        margins,
        bool(squared),
        float(loss_divisor),
        loss,
        status,
        grad,
        grad_scale,
        label_sums,
        labels,
        masks,
    )
