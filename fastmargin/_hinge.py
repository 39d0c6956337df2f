"""CPU kernels of the per-label (one-vs-rest) hinge loss, loss and gradient
fused in one pass.

For one row with scores ``x`` (C classes), margins ``m`` and signs
``s[c] = +1`` for the row's labels, -1 for the others::

    loss = sum over c of h(m[c] - s[c] * x[c]), divided by C

with ``h(z) = max(0, z)``, or ``max(0, z)**2`` when squared. ``z`` is
computed in the scores' dtype, as the hand-written expression in that dtype
computes it; the terms are summed in float64. A NaN score gives a NaN term
and a NaN gradient entry; the others are unaffected (the terms are
independent). At the kink (z = 0) the slope taken is 0.

The row's labels come from the canonical target form of ``_labels.py`` and
are marked in a per-block bool scratch row (then unmarked), or come straight
from a bool indicator row: either way the streaming loop reads one mask, so
one loop serves every target form, and a label listed twice is one label.

Contract of the driver (the front end guarantees it): ``scores`` is
C-contiguous float32/float64 (N, C) with N, C >= 1; ``indptr``, ``indices``,
``padded``, ``width`` as in ``_labels.py``, or ``indicator`` a C-contiguous
bool (N, C) array (then the label lists are not read); ``margins`` has the
scores' dtype, shape (C,), finite; ``loss`` float64 (N,); ``status`` int64
(N,); ``grad`` None or shaped like ``scores``, with ``grad_scale`` float64
(N,); ``label_sums`` None or float64 zeros of shape (n_blocks, C);
``1 <= n_blocks <= N``.
"""

import numba
import numpy as np

from ._labels import ROW_OK, read_labels
from ._numba_options import VECTOR_REDUCTION_FASTMATH, cpu_kernel


# The whole driver may reassociate float sums (each row's and each label's
# sum is vectorised); the compiled order is fixed, so results stay identical
# run to run and for any thread count.
@cpu_kernel(parallel=True, fastmath=VECTOR_REDUCTION_FASTMATH)
def hinge_rows(
    scores, indptr, indices, padded, width, indicator, margins, squared, loss, status,
    grad, grad_scale, label_sums, n_blocks,
):
    """Fill ``loss`` (and ``grad``, ``label_sums`` unless None) for every row.

    Rows are split into ``n_blocks`` contiguous blocks; block b adds each of
    its rows' per-label terms, in row order, to ``label_sums[b]``, so the
    front end's fixed-order sum over blocks does not depend on the threads.
    ``status[i]`` is what reading row i's labels found
    (``_labels.read_labels``); a row with a bad entry is left uncomputed.
    """
    n_rows, n_classes = scores.shape
    all_labels = np.empty((n_blocks, width), np.int64)
    all_masks = np.zeros((n_blocks, n_classes if indicator is None else 0), np.bool_)
    for block in numba.prange(n_blocks):
        labels = all_labels[block]
        mask = all_masks[block]
        for row in range(block * n_rows // n_blocks, (block + 1) * n_rows // n_blocks):
            scale = grad_scale[row] if grad is not None else 0.0
            if indicator is not None:
                status[row] = ROW_OK
                loss[row] = _hinge_row(
                    scores[row], indicator[row], margins, squared, grad, row, scale,
                    label_sums, block,
                )
                continue
            n_labels, row_status = read_labels(
                indptr, indices, padded, row, n_classes, labels
            )
            status[row] = row_status
            if row_status >= 0:
                loss[row] = np.nan
                continue
            for k in range(n_labels):
                mask[labels[k]] = True
            loss[row] = _hinge_row(
                scores[row], mask, margins, squared, grad, row, scale, label_sums, block
            )
            for k in range(n_labels):
                mask[labels[k]] = False


@cpu_kernel(inline="always")
def _hinge_row(x, is_label, margins, squared, grad, row, scale, label_sums, block):
    """One row's loss; writes its gradient row and adds to its block's
    label sums. Branches once on ``squared`` so that each loop is compiled
    with it constant."""
    if squared:
        total = _hinge_terms(x, is_label, margins, True, grad, row, scale, label_sums, block)
    else:
        total = _hinge_terms(x, is_label, margins, False, grad, row, scale, label_sums, block)
    return total / x.shape[0]


@cpu_kernel(inline="always")
def _hinge_terms(x, is_label, margins, squared, grad, row, scale, label_sums, block):
    """Sum of the row's hinge terms, streaming once over its classes."""
    zero = x.dtype.type(0)
    total = 0.0
    for c in range(x.shape[0]):
        value = x[c]
        z = margins[c] - (value if is_label[c] else -value)
        hinge = np.float64(zero if z <= zero else z)  # NaN stays NaN
        term = hinge * hinge if squared else hinge
        total += term
        if label_sums is not None:
            label_sums[block, c] += term
        if grad is not None:
            if squared:
                slope = 2.0 * hinge
            else:
                slope = 1.0 if z > zero else (hinge if z != z else 0.0)
            grad[row, c] = (-slope if is_label[c] else slope) * scale
    return total
