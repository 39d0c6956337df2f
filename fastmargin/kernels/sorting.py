"""Allocation-free sorting and searching inside scratch arrays.

The kernels sort a handful of values per row inside a parallel loop, so these
routines work in place on part of an array and never allocate (numba's own
``ndarray.sort`` builds a work stack on the heap).
"""

import numpy as np

from .options import cpu_kernel

# Below this length insertion sort beats heapsort (few, cache-resident items).
_INSERTION_SORT_MAX = 16
# Up to this many items a linear count beats binary search.
_LINEAR_SEARCH_MAX = 8


# Batcher's 19-comparator network: sorts any 8 values with no data-dependent
# branch (each step is a min and a max).
_NETWORK_8 = np.array([
    (0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (1, 2), (5, 6),
    (0, 4), (3, 7), (1, 5), (2, 6), (1, 4), (3, 6), (2, 4), (3, 5), (3, 4),
])  # fmt: skip


@cpu_kernel(inline="always")
def sort_eight(values, count, padding):
    """Sort ``values[:count]`` ascending for ``count <= 8``, in place.

    ``values[count:8]`` are overwritten with ``padding``, which must not sort
    below any value (the largest integer, or +inf), and stay there. A
    branch-free network: for a handful of items it beats insertion sort,
    whose every comparison is a coin toss for the branch predictor. With NaN
    among the values the order is unspecified, but accesses stay in
    ``values[:8]``.
    """
    values[count:8] = padding
    # A loop over a constant table: LLVM unrolls it into the network, and
    # it compiles far quicker than unrolling it in numba (literal_unroll).
    for step in range(_NETWORK_8.shape[0]):
        first = _NETWORK_8[step, 0]
        second = _NETWORK_8[step, 1]
        low = values[first]
        high = values[second]
        values[first] = min(low, high)
        values[second] = max(low, high)


@cpu_kernel(inline="always")
def sort_prefix(values, count):
    """Sort ``values[:count]`` ascending, in place.

    Insertion sort for short prefixes, heapsort otherwise: O(count log count)
    worst case with no allocation. NaN values end up in unspecified places but
    every access stays inside ``values[:count]``.
    """
    if count <= _INSERTION_SORT_MAX:
        for i in range(1, count):
            item = values[i]
            j = i
            while j > 0 and values[j - 1] > item:
                values[j] = values[j - 1]
                j -= 1
            values[j] = item
        return
    for start in range(count // 2 - 1, -1, -1):
        _sift_down(values, start, count)
    for end in range(count - 1, 0, -1):
        values[0], values[end] = values[end], values[0]
        _sift_down(values, 0, end)


@cpu_kernel(inline="always")
def _sift_down(values, root, end):
    item = values[root]
    while True:
        child = 2 * root + 1
        if child >= end:
            break
        if child + 1 < end and values[child + 1] > values[child]:
            child += 1
        if not values[child] > item:
            break
        values[root] = values[child]
        root = child
    values[root] = item


@cpu_kernel(inline="always")
def lower_bound(sorted_values, start, stop, bound):
    """First position in the sorted ``sorted_values[start:stop]`` whose item is
    not below ``bound`` (``np.searchsorted(..., side="left")``, offset by
    ``start``).

    Short ranges are counted linearly: the loop length is fixed per call, so
    it costs no branch mispredictions. Longer ranges use binary search. A NaN
    bound gives ``start``.
    """
    if stop - start <= _LINEAR_SEARCH_MAX:
        position = start
        for i in range(start, stop):
            position += sorted_values[i] < bound
        return position
    while start < stop:
        middle = (start + stop) >> 1
        if sorted_values[middle] < bound:
            start = middle + 1
        else:
            stop = middle
    return start
