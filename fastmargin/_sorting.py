"""Allocation-free sorting and searching on a prefix of a scratch array.

The kernels sort a handful of values per row inside a parallel loop, so these
routines work in place on ``values[:count]`` and never allocate (numba's own
``ndarray.sort`` builds a work stack on the heap).
"""

from ._numba_options import cpu_kernel

# Below this length insertion sort beats heapsort (few, cache-resident items).
_INSERTION_SORT_MAX = 16


@cpu_kernel()
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


@cpu_kernel()
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


@cpu_kernel()
def count_below(sorted_values, count, bound):
    """Number of items of the sorted ``sorted_values[:count]`` below ``bound``.

    Branch-free binary search: the loop runs ``ceil(log2(count))`` times
    whatever the data, and the conditional update compiles to a select, so
    unpredictable comparisons cost no branch mispredictions.
    """
    if count == 0:
        return 0
    base = 0
    remaining = count
    while remaining > 1:
        half = remaining >> 1
        if sorted_values[base + half] < bound:
            base += half
        remaining -= half
    return base + (sorted_values[base] < bound)
