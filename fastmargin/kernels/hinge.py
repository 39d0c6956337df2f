"""CPU kernels of the per-label (one-vs-rest) hinge loss, loss and gradient
fused in one pass.

For one row with scores ``x`` (C classes), margins ``m`` and signs
``s[c] = +1`` for the row's labels, -1 for the others::

    loss = sum over c of h(m[c] - s[c] * x[c]), divided by loss_divisor

with ``h(z) = max(0, z)``, or ``max(0, z)**2`` when squared. ``z`` is
computed in the scores' dtype, as the hand-written expression in that dtype
computes it; the terms are summed in float64. A NaN score gives a NaN term
and a NaN gradient entry; the others are unaffected (the terms are
independent). At the kink (z = 0) the slope taken is 0.

The row's labels come from the canonical target form of ``kernels/labels.py`` and
are marked in a per-block bool scratch row (then unmarked), or come straight
from a bool indicator row: either way the streaming loop reads one mask, so
one loop serves every target form, and a label listed twice is one label.

Contract of the driver (the front end guarantees it): ``scores`` is
C-contiguous float32/float64 (N, C) with N, C >= 1; ``indptr``, ``indices``,
``padded``, ``width`` as in ``kernels/labels.py``, or ``indicator`` a
C-contiguous bool (N, C) array (then the label lists are not read; an empty
(0, 0) one otherwise: one compiled variant serves both); ``margins`` has the
scores' dtype, shape (C,) or (1,) (one margin for every class), finite;
``loss_divisor`` a float > 0 (C, or 1 for the plain sum); ``loss`` float64
(N,); ``status`` int64 (N,); ``grad`` None or shaped like ``scores``, with
``grad_scale`` float64
(N,); ``label_sums`` None or float64 zeros of shape (n_blocks, C);
``1 <= n_blocks <= N``.
"""

import numpy as np

from .labels import ROW_OK, read_labels
from .options import ORDERED_FASTMATH, cpu_kernel

# Each row's terms are written, TERMS_CHUNK classes at a time, to a
# per-block buffer by a vectorised loop, then added up in LANES independent
# running sums (term c goes to lane c % LANES, the tail to lane 0), combined
# pairwise at the end: an order written in the source, not chosen by the
# compiler. The chunk (a multiple of LANES, so the order is the same as in
# one pass) keeps the buffer in the first-level cache and its size fixed,
# however many classes a row has.
LANES = 8
TERMS_CHUNK = 2048


@cpu_kernel(fastmath=ORDERED_FASTMATH)
def hinge_rows(
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
    n_blocks,
    first_block,
    stop_block,
):
    """Fill ``loss`` (and ``grad``, ``label_sums`` unless None) for the rows
    of blocks ``first_block`` to ``stop_block - 1``.

    Rows are split into ``n_blocks`` contiguous blocks (block b holds rows
    ``b * N // n_blocks`` up to the next block's first); block b adds each
    of its rows' per-label terms, in row order, to ``label_sums[b]``, so the
    front end's fixed-order sum over blocks does not depend on which thread
    computed which block. ``status[i]`` is what reading row i's labels
    found (``kernels/labels.read_labels``); a row with a bad entry is left
    uncomputed.
    """
    n_rows, n_classes = scores.shape
    from_indicator = indicator.shape[0] != 0
    labels = np.empty(width, np.int64)
    mask = np.zeros(0 if from_indicator else n_classes, np.bool_)
    terms = np.empty(min(n_classes, TERMS_CHUNK), np.float64)
    shared_margins = np.full(
        min(n_classes, TERMS_CHUNK) if margins.shape[0] == 1 else 0, margins[0]
    )
    for block in range(first_block, stop_block):
        first_row, stop_row = block_rows(block, n_rows, n_blocks)
        for row in range(first_row, stop_row):
            scale = grad_scale[row] if grad is not None else 0.0
            n_labels = 0
            if from_indicator:
                status[row] = ROW_OK
                is_label = indicator[row]
            else:
                n_labels, row_status = read_labels(
                    indptr, indices, padded, row, n_classes, labels
                )
                status[row] = row_status
                if row_status >= 0:
                    loss[row] = np.nan
                    continue
                for k in range(n_labels):
                    mask[labels[k]] = True
                is_label = mask
            loss[row] = (
                _hinge_row(
                    scores[row],
                    is_label,
                    margins,
                    shared_margins,
                    squared,
                    grad,
                    row,
                    scale,
                    label_sums,
                    block,
                    terms,
                )
                / loss_divisor
            )
            for k in range(n_labels):
                mask[labels[k]] = False


@cpu_kernel(inline="always")
def block_rows(block, n_rows, n_blocks):
    """Rows ``[first, stop)`` of block ``block`` when N rows are split into
    ``n_blocks`` contiguous blocks (the GPU kernel splits them alike)."""
    return block * n_rows // n_blocks, (block + 1) * n_rows // n_blocks


@cpu_kernel(inline="always", fastmath=ORDERED_FASTMATH)
def _hinge_row(
    x, is_label, margins, shared_margins, squared, grad, row, scale, label_sums, block, terms
):
    """One row's sum of terms; writes its gradient row and adds to its
    block's label sums. ``shared_margins``: TERMS_CHUNK copies of the one
    margin of every class, when ``margins`` holds one (else unused)."""
    lanes = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    for start in range(0, x.shape[0], TERMS_CHUNK):
        stop = min(start + TERMS_CHUNK, x.shape[0])
        # One array type either way, so one compiled loop serves both.
        if margins.shape[0] == 1:
            chunk_margins = shared_margins[: stop - start]
        else:
            chunk_margins = margins[start:stop]
        if squared:  # constant in each compiled copy of the loop
            _write_terms(
                x,
                start,
                stop,
                is_label,
                chunk_margins,
                True,
                grad,
                row,
                scale,
                label_sums,
                block,
                terms,
            )
        else:
            _write_terms(
                x,
                start,
                stop,
                is_label,
                chunk_margins,
                False,
                grad,
                row,
                scale,
                label_sums,
                block,
                terms,
            )
        lanes = _add_in_lanes(terms, stop - start, lanes)
    s0, s1, s2, s3, s4, s5, s6, s7 = lanes
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@cpu_kernel(inline="always", fastmath=ORDERED_FASTMATH)
def hinge_element(x, c, is_label, margin, squared):
    """Class c's hinge term (float64) and its signed slope d(term)/d(x[c]).

    ``z = margin - s * x[c]`` in the scores' dtype; the term is
    ``max(0, z)`` (squared when ``squared``) in float64. A NaN score gives a
    NaN term and slope; the slope at the kink (z = 0) is 0. The GPU kernel
    (``gpu/hinge.py``) compiles this same source for the device.
    """
    zero = x.dtype.type(0)
    value = x[c]
    z = margin - (value if is_label else -value)
    hinge = np.float64(zero if z <= zero else z)  # NaN stays NaN
    if squared:
        term = hinge * hinge
        slope = 2.0 * hinge
    else:
        term = hinge
        slope = 1.0 if z > zero else (hinge if z != z else 0.0)
    return term, (-slope if is_label else slope)


@cpu_kernel(inline="always", fastmath=ORDERED_FASTMATH)
def _write_terms(
    x, start, stop, is_label, margins, squared, grad, row, scale, label_sums, block, terms
):
    """``terms[c - start]`` = class c's hinge term, for classes ``start`` to
    ``stop - 1`` (``margins`` holds theirs, from 0); writes the gradient and
    adds each term to its block's label sum. No sum across classes here: the
    loop vectorises without reassociating anything."""
    for k in range(start, stop):
        # Unsigned indices: numba then adds no negative-index wrap-around,
        # which (the loop starting at a variable) would stop it vectorising.
        c = np.uint64(k)
        offset = np.uint64(k - start)
        term, slope = hinge_element(x, c, is_label[c], margins[offset], squared)
        terms[offset] = term
        if label_sums is not None:
            label_sums[block, c] += term
        if grad is not None:
            grad[row, c] = slope * scale


@cpu_kernel(inline="always", fastmath=ORDERED_FASTMATH)
def _add_in_lanes(values, count, lanes):
    """Add ``values[:count]`` to the LANES running sums ``lanes``, each in
    order (a tail of fewer than LANES to the first); return them."""
    s0, s1, s2, s3, s4, s5, s6, s7 = lanes
    whole = count - count % LANES
    for k in range(0, whole, LANES):
        s0 += values[k]
        s1 += values[k + 1]
        s2 += values[k + 2]
        s3 += values[k + 3]
        s4 += values[k + 4]
        s5 += values[k + 5]
        s6 += values[k + 6]
        s7 += values[k + 7]
    for k in range(whole, count):
        s0 += values[k]
    return s0, s1, s2, s3, s4, s5, s6, s7
