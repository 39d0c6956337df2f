"""The public front end: validation, target forms and reductions in one place.

Each public function validates its arguments once, brings them into the
kernels' fixed contract (C-contiguous float32/float64 scores of shape (N, C),
padded class indices, preallocated outputs) and calls a kernel; kernels never
re-check.
"""

import math
import numbers

import numba
import numpy as np

from ._ranking import ranking_rows
from ._targets import as_padded_indices, raise_bad_entry

_REDUCTIONS = ("none", "mean", "sum")


def _as_scores(input):
    """Return ``(scores, one_dimensional)`` with scores (N, C) float32/float64."""
    scores = np.asarray(input)
    if scores.dtype not in (np.float32, np.float64):
        # Booleans, integers and other floats (not complex, not timedelta).
        if scores.dtype.kind not in "biuf":
            raise TypeError(f"input must hold real scores, got dtype {scores.dtype}")
        scores = scores.astype(np.float64)
    if scores.ndim not in (1, 2):
        raise ValueError(
            f"input must have shape (C,) or (N, C), got {scores.ndim}-D shape "
            f"{scores.shape}"
        )
    if scores.shape[-1] == 0:
        raise ValueError(f"input must have at least one class, got shape {scores.shape}")
    one_dimensional = scores.ndim == 1
    if one_dimensional:
        scores = scores.reshape(1, -1)
    return np.ascontiguousarray(scores), one_dimensional


def _check_margin(margin, dtype):
    is_real = isinstance(margin, numbers.Real) or (
        isinstance(margin, np.ndarray) and margin.ndim == 0 and margin.dtype.kind in "iuf"
    )
    if not is_real or isinstance(margin, (bool, np.bool_)):
        raise TypeError(f"margin must be a real number, got {margin!r}")
    value = float(margin)
    if not math.isfinite(value):
        raise ValueError(f"margin must be finite, got {margin!r}")
    with np.errstate(over="ignore"):
        native_margin = dtype.type(value)
    if not np.isfinite(native_margin):
        raise ValueError(f"margin must be finite in the scores' dtype {dtype}, got {margin!r}")
    return value


def _check_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
            f"got {reduction!r}"
        )


def _gradient_scale(grad_output, reduction, n_rows, n_classes, one_dimensional):
    """Per-row factor of the kernels' violation counts, float64 (N,).

    The gradient of ``sum(grad_output * loss)`` for "none", of
    ``grad_output * loss`` for "mean" and "sum"; each pair's slope is 1/C.
    """
    if reduction == "none":
        expected = () if one_dimensional else (n_rows,)
    else:
        expected = ()
    if grad_output is None:
        weights = np.ones(n_rows)
    else:
        weights = np.asarray(grad_output)
        if weights.dtype.kind not in "biuf":
            raise TypeError(f"grad_output must hold real numbers, got dtype {weights.dtype}")
        weights = weights.astype(np.float64)
        if weights.shape != expected:
            raise ValueError(
                f"grad_output must have shape {expected}, the shape of the "
                f'loss with reduction="{reduction}", got {weights.shape}'
            )
        weights = np.broadcast_to(weights.reshape(-1), (n_rows,))
    if reduction == "mean":
        return weights / (n_classes * max(n_rows, 1))
    return weights / n_classes


def _reduce(row_losses, reduction, dtype, one_dimensional):
    """Reduce float64 per-row losses in a fixed order; cast to ``dtype``."""
    if reduction == "none":
        losses = row_losses.astype(dtype)
        return losses.reshape(()) if one_dimensional else losses
    total = row_losses.sum()  # pairwise, fixed order: reproducible
    if reduction == "sum":
        return dtype.type(total)
    n_rows = row_losses.shape[0]
    return dtype.type(total / n_rows if n_rows else np.nan)


def _raise_for_bad_target(bad_entry, targets, n_classes, one_dimensional):
    bad_rows = np.flatnonzero(bad_entry >= 0)
    if bad_rows.size:
        row = bad_rows[0]
        raise_bad_entry(targets, row, bad_entry[row], n_classes, one_dimensional)


def _ranking(input, target, margin, reduction, grad_output, with_grad):
    """Validate, run the ranking kernel once, and return (loss, grad or None)."""
    scores, one_dimensional = _as_scores(input)
    n_rows, n_classes = scores.shape
    targets = as_padded_indices(target, n_rows, n_classes, one_dimensional)
    margin = _check_margin(margin, scores.dtype)
    _check_reduction(reduction)
    grad = grad_scale = None
    if with_grad:
        grad_scale = _gradient_scale(
            grad_output, reduction, n_rows, n_classes, one_dimensional
        )
        grad = np.empty_like(scores)
    row_losses = np.empty(n_rows)
    bad_entry = np.empty(n_rows, dtype=np.int64)
    if n_rows:
        ranking_rows(
            scores,
            targets,
            margin,
            row_losses,
            bad_entry,
            grad,
            grad_scale,
            numba.get_num_threads(),
        )
    _raise_for_bad_target(bad_entry, targets, n_classes, one_dimensional)
    loss = _reduce(row_losses, reduction, scores.dtype, one_dimensional)
    if grad is not None and one_dimensional:
        grad = grad.reshape(-1)
    return loss, grad


_RANKING_DOC_COMMON = """
    Parameters
    ----------
    input : array_like, shape (C,) or (N, C)
        Scores of C classes for each of N samples. float32 and float64 are
        computed natively; other real dtypes (booleans, integers, float16,
        longdouble) are converted to float64, and results are then float64.
    target : array_like of int, shape (K,) or (N, K)
        Class indices of each sample's targets, any integer dtype, any
        width K >= 0: PyTorch's (N, C) layout and a compact (N, K) both work.
        Each row is read up to its first -1; later entries are padding and
        are ignored (PyTorch also range-checks the padding). Duplicated
        indices count as often as they appear, as in PyTorch.
    margin : float, optional
        The hinge margin, finite (PyTorch fixes it to 1), converted to the
        scores' dtype. Default 1.0.
    reduction : {"mean", "sum", "none"}, optional
        "none" gives one loss per sample, "mean" averages them over samples,
        "sum" adds them up. Default "mean".
"""

_RANKING_DOC_GRAD_OUTPUT = """    grad_output : array_like, optional
        Gradient of the caller's objective with respect to the loss: the
        result is the gradient of ``sum(grad_output * loss)``. Shape (N,)
        (or () for 1-D input) with ``reduction="none"``, a scalar otherwise.
        Defaults to ones.
"""

_RANKING_DOC_NOTES = """
    Notes
    -----
    Per sample, the loss is the sum over used targets t and over classes j
    that are not among the sample's targets of ``max(0, margin - x[t] + x[j])``,
    divided by C. Whether a pair is violated is decided as PyTorch decides
    it, ``(margin - x[t]) + x[j] > 0`` in the scores' dtype, so gradients
    match PyTorch's even at exact ties; at the kink the slope is 0.

    The kernels sort each row's target scores and count, for every class, the
    targets it violates by branch-free comparisons (up to 96 targets) or an
    O(1) grid lookup: O(C log T) work per row at most, instead of PyTorch's
    O(T * C), in parallel over samples. Sums accumulate in float64 and are
    reduced in a fixed order, so results do not depend on the number of
    threads. The sorted formulation subtracts sums, so a row's loss carries
    an absolute error of about 1e-16 times the size of its summed terms.

    Differences from ``torch.nn.functional.multilabel_margin_loss``, on
    purpose:

    - a NaN score in a sample that has at least one target and one
      non-target makes that sample's loss and gradient NaN (PyTorch silently
      drops NaN pairs); so does a pair of equal infinite scores;
    - an empty batch gives NaN for "mean" and 0 for "sum" (PyTorch's CPU
      kernel returns uninitialised memory);
    - ``margin`` is a parameter, compact (N, K) targets and int32 targets are
      accepted, and padding after the first -1 is never range-checked.
"""


def multilabel_margin_loss(input, target, *, margin=1.0, reduction="mean"):
    return _ranking(input, target, margin, reduction, None, with_grad=False)[0]


def multilabel_margin_loss_grad(
    input, target, *, margin=1.0, reduction="mean", grad_output=None
):
    return _ranking(input, target, margin, reduction, grad_output, with_grad=True)[1]


def multilabel_margin_loss_and_grad(
    input, target, *, margin=1.0, reduction="mean", grad_output=None
):
    return _ranking(input, target, margin, reduction, grad_output, with_grad=True)


multilabel_margin_loss.__doc__ = (
    """Multi-label ranking margin loss, as PyTorch's ``MultiLabelMarginLoss``.
"""
    + _RANKING_DOC_COMMON
    + """
    Returns
    -------
    loss : ndarray or scalar
        With "none", an array of shape (N,) (0-d for 1-D input) in the input's
        float dtype; otherwise a NumPy scalar of that dtype.

    Raises
    ------
    TypeError
        If ``input`` is not real or ``target`` not integer.
    ValueError
        For a used target entry outside [0, C) (or negative other than -1),
        mismatched shapes, 0 classes, a 0-D or 3-D input, a non-finite margin
        or an unknown reduction.

    See Also
    --------
    multilabel_margin_loss_and_grad : the loss and its gradient in one pass.
"""
    + _RANKING_DOC_NOTES
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_margin_loss
    >>> scores = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> target = np.array([[3, 0, -1, 1]])   # targets 3 and 0; 1 is padding
    >>> round(float(multilabel_margin_loss(scores, target)), 4)
    0.85
"""
)

multilabel_margin_loss_grad.__doc__ = (
    """Gradient of the multi-label ranking margin loss with respect to ``input``.
"""
    + _RANKING_DOC_COMMON
    + _RANKING_DOC_GRAD_OUTPUT
    + """
    Returns
    -------
    grad : ndarray
        Same shape and float dtype as ``input``. Where a hinge sits exactly at
        its kink the slope taken is 0, as in PyTorch.

    Raises
    ------
    TypeError, ValueError
        As :func:`multilabel_margin_loss`, and a ValueError for a
        ``grad_output`` of the wrong shape.
"""
    + _RANKING_DOC_NOTES
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_margin_loss_grad
    >>> scores = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> multilabel_margin_loss_grad(scores, np.array([[3, 0, -1, 1]]))
    array([[-0.5,  0.5,  0.5, -0.5]])
"""
)

multilabel_margin_loss_and_grad.__doc__ = (
    """Multi-label ranking margin loss and its gradient, from one pass.
"""
    + _RANKING_DOC_COMMON
    + _RANKING_DOC_GRAD_OUTPUT
    + """
    Returns
    -------
    loss : ndarray or scalar
        As returned by :func:`multilabel_margin_loss`.
    grad : ndarray
        As returned by :func:`multilabel_margin_loss_grad`.

    Raises
    ------
    TypeError, ValueError
        As :func:`multilabel_margin_loss_grad`.
"""
    + _RANKING_DOC_NOTES
    + """
    Examples
    --------
    Plain gradient descent on one sample's scores:

    >>> import numpy as np
    >>> from fastmargin import multilabel_margin_loss_and_grad
    >>> scores = np.array([0.1, 0.2, 0.4, 0.8])
    >>> target = np.array([3, 0, -1])
    >>> for step in range(20):
    ...     loss, grad = multilabel_margin_loss_and_grad(scores, target)
    ...     scores -= 0.5 * grad
    >>> float(loss)
    0.0
"""
)
