"""Reuse of large gradient buffers from one call to the next.

glibc maps every allocation above its mmap threshold (32 MiB at most) fresh
from the operating system and unmaps it when freed, and the OS zeroes each
page on first touch: a 40 MB gradient costs 2-3 ms of page zeroing, about
a sixth of the whole ranking kernel at (1024, 10000). A training loop asks
for a gradient of the same shape every step, so fastmargin keeps a few such
buffers and hands one out again once every array made from it is gone.

A buffer is in use while any array refers to it: NumPy views of views keep
a reference to the array that owns the memory (the buffer), so its
reference count says whether some result, or a view of one, is alive.
"""

import math
import sys
import threading

import numpy as np

# Smaller arrays come from malloc's own free lists: nothing to gain.
MIN_BYTES = 32 << 20
# At most this many buffers, and bytes in all, are kept for reuse.
MAX_BUFFERS = 2
MAX_BYTES = 1 << 30

_lock = threading.Lock()
_kept = []  # uint8 buffers, the least recently handed out first


def empty(shape, dtype):
    """An uninitialised C-contiguous array, like ``np.empty(shape, dtype)``.

    Arrays of at least MIN_BYTES reuse a kept buffer of the same size that
    no array refers to any more, else get a new one, kept when there is
    room (free buffers are dropped to make it, the least recently used
    first).
    """
    dtype = np.dtype(dtype)
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        for position in range(len(_kept)):
            if _kept[position].nbytes == n_bytes and _is_free(position):
                buffer = _kept.pop(position)
                _kept.append(buffer)
                return buffer.view(dtype).reshape(shape)
        buffer = np.empty(n_bytes, np.uint8)
        position = 0
        while position < len(_kept) and not _has_room(n_bytes):
            if _is_free(position):
                del _kept[position]
            else:
                position += 1
        if _has_room(n_bytes):
            _kept.append(buffer)
        return buffer.view(dtype).reshape(shape)


def _is_free(position):
    """Whether no array refers to ``_kept[position]``: its only references
    are the list's and getrefcount's argument."""
    return sys.getrefcount(_kept[position]) == 2


def _has_room(n_bytes):
    return len(_kept) < MAX_BUFFERS and sum(b.nbytes for b in _kept) + n_bytes <= MAX_BYTES
