"""What every GPU kernel of fastmargin shares: launch geometry, the device
copies of the CPU's per-row helpers, fixed-order reductions.

Imported only when a GPU path runs (it needs ``numba-cuda``). Layout of a
launch: one thread block per row, rows taken grid-stride by a grid whose
size depends on the shape alone; the block's threads stride over the row's
classes. Every float sum is taken in an order fixed by the block size, so
results are identical run to run.
"""

import math

import numpy as np
from numba import cuda

from ..kernels.labels import read_labels as _cpu_read_labels
from ..kernels.options import gpu_kernel
from ..kernels.sorting import lower_bound as _cpu_lower_bound

# Most threads per block (a power of two: the tree sums halve it).
MAX_THREADS = 256
# Most blocks of a launch: rows beyond it are taken grid-stride.
MAX_BLOCKS = 16384
# Threads of the one block that reduces a batch.
REDUCE_THREADS = 256

# The CPU's row reader and binary search, compiled for the device from the
# same Python source: one definition of how targets are read and searched.
read_labels = gpu_kernel(device=True)(_cpu_read_labels.py_func)
lower_bound = gpu_kernel(device=True)(_cpu_lower_bound.py_func)


def next_power_of_two(count):
    """The least power of two >= ``count`` (1 for ``count`` <= 1); plain
    Python, compiled for the device below."""
    size = 1
    while size < count:
        size *= 2
    return size


device_next_power_of_two = gpu_kernel(device=True)(next_power_of_two)


def stream_allocator(stream):
    """``allocate(shape, dtype)``: numba's own device arrays on ``stream``
    (the launchers' default when the caller gives no allocator)."""
    return lambda shape, dtype: cuda.device_array(shape, dtype, stream=stream)


def threads_per_row(n_classes):
    """Threads of a row's block: a warp for small rows, up to MAX_THREADS
    for long ones (about 16 classes to a thread), always a power of two."""
    threads = 32
    while threads < MAX_THREADS and threads * 16 < n_classes:
        threads *= 2
    return threads


def row_blocks(n_rows, limit=MAX_BLOCKS):
    """Blocks of a grid-stride launch over ``n_rows`` rows."""
    return max(1, min(n_rows, limit))


@gpu_kernel(device=True)
def block_sum(value, shared):
    """Sum of ``value`` over the block's threads, in a fixed tree order
    (``blockDim.x`` a power of two, ``shared`` float64 with a slot per
    thread). Every thread gets the total; ``shared`` is free again after."""
    tid = cuda.threadIdx.x
    shared[tid] = value
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            shared[tid] += shared[tid + step]
        cuda.syncthreads()
        step //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@gpu_kernel()
def reduce_rows(row_losses, divisor, result):
    """``result[0] = sum(row_losses) / divisor``: the batch reduction of
    "mean" (divisor N) and "sum" (divisor 1), in a fixed order (one block of
    REDUCE_THREADS threads, each summing a stride of rows in order, then a
    tree); ``result`` has the scores' dtype."""
    shared = cuda.shared.array(REDUCE_THREADS, np.float64)
    partial = 0.0
    for row in range(cuda.threadIdx.x, row_losses.shape[0], cuda.blockDim.x):
        partial += row_losses[row]
    total = block_sum(partial, shared)
    if cuda.threadIdx.x == 0:
        result[0] = total / divisor


@gpu_kernel()
def summarise_status(status, summary):
    """``summary[0]``: the first row whose status names a bad entry (or
    len(status)); ``summary[1]``: the largest status. Integer atomics: the
    result does not depend on the order."""
    for row in range(cuda.grid(1), status.shape[0], cuda.gridsize(1)):
        value = status[row]
        if value >= 0:
            cuda.atomic.min(summary, 0, row)
        cuda.atomic.max(summary, 1, value)


@gpu_kernel()
def fill_padded_indptr(indptr, width):
    """``indptr[i] = i * width``: a padded (N, K) target's row starts."""
    for i in range(cuda.grid(1), indptr.shape[0], cuda.gridsize(1)):
        indptr[i] = i * width


def flat_blocks(size, threads=MAX_THREADS):
    """Blocks for a grid-stride launch over ``size`` items."""
    return max(1, min(MAX_BLOCKS, math.ceil(size / threads)))


@gpu_kernel()
def copy_rows(source, destination):
    """``destination[i, j] = source[i, j]``, converting the dtype: makes a
    C-contiguous float32/float64 (or int64) copy of any strided array."""
    n_columns = source.shape[1]
    for flat in range(cuda.grid(1), source.shape[0] * n_columns, cuda.gridsize(1)):
        row = flat // n_columns
        destination[row, flat - row * n_columns] = source[row, flat - row * n_columns]


@gpu_kernel()
def copy_cast(source, destination):
    """``destination[i] = source[i]`` in the destination's dtype."""
    for i in range(cuda.grid(1), source.shape[0], cuda.gridsize(1)):
        destination[i] = source[i]


@gpu_kernel()
def fill(destination, value):
    """Every ``destination[i] = value``."""
    for i in range(cuda.grid(1), destination.shape[0], cuda.gridsize(1)):
        destination[i] = value


@gpu_kernel()
def divide_weights(weights, divisor, scale):
    """``scale[i] = weights[i] / divisor`` in float64, ``weights`` of length
    N or 1 (broadcast): the per-row gradient factor, as the CPU computes it."""
    n_weights = weights.shape[0]
    for i in range(cuda.grid(1), scale.shape[0], cuda.gridsize(1)):
        scale[i] = np.float64(weights[i if n_weights > 1 else 0]) / divisor


@gpu_kernel()
def labels_from_indicator(indicator, labels):
    """Row i of ``labels`` (int64, shaped like ``indicator``): the True
    columns of row i ascending, then -1. A thread per row."""
    n_columns = indicator.shape[1]
    for row in range(cuda.grid(1), indicator.shape[0], cuda.gridsize(1)):
        position = 0
        for column in range(n_columns):
            if indicator[row, column]:
                labels[row, position] = column
                position += 1
        for rest in range(position, n_columns):
            labels[row, rest] = -1


def launch_flat(kernel, size, stream, *args):
    """Launch a grid-stride ``kernel(*args)`` over ``size`` items on ``stream``."""
    kernel[flat_blocks(size), MAX_THREADS, stream](*args)
