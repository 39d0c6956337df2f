"""The public front end: validation, target forms and reductions in one place.

Each public function validates its arguments once, brings them into the
kernels' fixed contract (C-contiguous float32/float64 scores of shape (N, C),
padded class indices, preallocated outputs) and calls a kernel; kernels never
re-check.
"""

import math
import numbers
import warnings
from typing import NamedTuple, Optional

import numpy as np
import scipy.sparse

from . import _buffers, _device, _dispatch
from ._targets import (
    LabelRows,
    as_label_rows,
    check_positive_int,
    host_array,
    raise_for_bad_rows,
    raise_if_ambiguous,
)

_REDUCTIONS = ("none", "mean", "sum")
# The arrays that scipy.sparse formats keep their contents in.
_SPARSE_PARTS = ("data", "indices", "indptr", "row", "col", "coords", "offsets")
# Blocks whose per-label partial sums AdaptiveMargins adds up in a fixed
# order: a number that depends on the shape alone, never on the threads.
# Each block holds C float64 partial sums: 32 MiB of them at most.
_LABEL_SUM_BLOCKS = 64
_LABEL_SUM_BYTES = 32 << 20
# By itemsize of the computed dtype: the smallest magnitude that rounds to
# infinity, the largest finite value plus half its ulp (2**128 - 2**103 for
# float32, exact in float64; a tie rounds to even, which is infinity).
_OVERFLOW_THRESHOLD = {
    4: float(np.finfo(np.float32).max) + 2.0**103,
    8: math.inf,
}


def _as_scores(input):
    """Return ``(scores, one_dimensional)`` with scores (N, C) float32/float64."""
    scores = host_array(input, "input")
    _, computed_dtype = _check_scores(scores.shape, scores.dtype)
    scores = scores.astype(computed_dtype, copy=False)
    one_dimensional = scores.ndim == 1
    if one_dimensional:
        scores = scores.reshape(1, -1)
    return np.ascontiguousarray(scores), one_dimensional


def _check_scores(shape, dtype):
    """Raise unless scores of this shape and dtype can be used (host or
    GPU); return ``(one_dimensional, dtype computed in)``: float32 and
    float64 natively, other real dtypes (booleans, integers, other floats;
    not complex, not timedelta) as float64."""
    shape = tuple(shape)
    if dtype.kind not in "biuf":
        raise TypeError(f"input must hold real scores, got dtype {dtype}")
    if len(shape) not in (1, 2):
        raise ValueError(
            f"input must have shape (C,) or (N, C), got {len(shape)}-D shape {shape}"
        )
    if shape[-1] == 0:
        raise ValueError(f"input must have at least one class, got shape {shape}")
    native = dtype in (np.float32, np.float64)
    return len(shape) == 1, dtype if native else np.dtype(np.float64)


def _check_out_layout(out_shape, out_dtype, contiguous_and_writeable, scores, one_dimensional):
    """Raise unless an ``out`` of this shape, dtype and layout (host or GPU)
    can receive the gradient of ``scores`` (N, C)."""
    shape = tuple(scores.shape[1:] if one_dimensional else scores.shape)
    if tuple(out_shape) != shape or out_dtype != scores.dtype:
        raise ValueError(
            f"out must have the gradient's shape {shape} and dtype {scores.dtype}, "
            f"got shape {tuple(out_shape)} and dtype {out_dtype}"
        )
    if not contiguous_and_writeable:
        raise ValueError("out must be C-contiguous and writeable")


def _check_real(value, name):
    """Return ``value`` as a float; TypeError unless it is a real number."""
    is_real = isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"
    )
    if not is_real or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float64's range
        digits = len(str(abs(int(value))))
        raise ValueError(
            f"{name} must be finite in float64, got an int of {digits} digits"
        ) from None


def _check_margin(margin, dtype):
    value = _check_real(margin, "margin")
    if not math.isfinite(value):
        raise ValueError(f"margin must be finite, got {margin!r}")
    # What rounds to infinity in the scores' dtype (float32 or float64),
    # compared without converting (np.errstate costs more than the kernel
    # of a small call).
    if abs(value) >= _OVERFLOW_THRESHOLD[dtype.itemsize]:
        raise ValueError(f"margin must be finite in the scores' dtype {dtype}, got {margin!r}")
    return value


def _label_margins(margin, n_classes, dtype):
    """The hinge's margins as an array of the scores' dtype: one finite
    margin per label (C,), or a scalar as (1,), which the kernels apply to
    every label."""
    if isinstance(margin, (int, float)):
        return np.full(1, _check_margin(margin, dtype), dtype=dtype)
    margins = host_array(margin, "margin")
    if margins.ndim == 0:
        return np.full(1, _check_margin(margin, dtype), dtype=dtype)
    if margins.dtype.kind not in "iuf":
        raise TypeError(f"margin must hold real numbers, got dtype {margins.dtype}")
    if margins.shape != (n_classes,):
        raise ValueError(
            f"margin must be a scalar or have shape (C,) = ({n_classes},), "
            f"got shape {margins.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        native = margins.astype(dtype)
    finite = np.isfinite(native)
    if not finite.all():
        label = int(np.argmin(finite))
        raise ValueError(
            f"margin[{label}] = {margins[label]!r} is not finite in the scores' dtype {dtype}"
        )
    return native


def _check_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
            f"got {reduction!r}"
        )


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _loss_divisor(normalize, n_classes):
    """What each row's sum of hinge terms is divided by: C (PyTorch's
    convention), or 1 for the plain sum."""
    return float(n_classes) if _check_flag(normalize, "normalize") else 1.0


def _check_grad_output(shape, dtype, reduction, n_rows, one_dimensional):
    """Raise unless ``grad_output``'s shape and dtype fit the loss."""
    if dtype.kind not in "biuf":
        raise TypeError(f"grad_output must hold real numbers, got dtype {dtype}")
    expected = (n_rows,) if reduction == "none" and not one_dimensional else ()
    if tuple(shape) != expected:
        raise ValueError(
            f"grad_output must have shape {expected}, the shape of the "
            f'loss with reduction="{reduction}", got {tuple(shape)}'
        )


def _gradient_divisor(reduction, n_rows, loss_divisor):
    """What ``grad_output`` is divided by to give the kernels' per-row
    factor: each row's sum is divided by ``loss_divisor``, and by N for
    "mean"."""
    return loss_divisor * max(n_rows, 1) if reduction == "mean" else loss_divisor


def _gradient_scale(grad_output, reduction, n_rows, loss_divisor, one_dimensional):
    """Per-row factor of the kernels' slopes, float64 (N,).

    The gradient of ``sum(grad_output * loss)`` for "none", of
    ``grad_output * loss`` for "mean" and "sum".
    """
    divisor = _gradient_divisor(reduction, n_rows, loss_divisor)
    if grad_output is None:
        return np.full(n_rows, 1.0 / divisor)
    weights = host_array(grad_output, "grad_output")
    _check_grad_output(weights.shape, weights.dtype, reduction, n_rows, one_dimensional)
    weights = np.broadcast_to(weights.astype(np.float64).reshape(-1), (n_rows,))
    return weights / divisor


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


class _Batch(NamedTuple):
    """A validated call: the kernels' inputs and preallocated outputs."""

    scores: np.ndarray
    one_dimensional: bool
    rows: LabelRows
    loss_divisor: float
    loss: np.ndarray
    status: np.ndarray
    grad: Optional[np.ndarray]  # (N, C), what the kernel writes
    grad_scale: Optional[np.ndarray]
    grad_result: Optional[np.ndarray]  # the same memory, as returned


def _gradient_destination(out, scores, one_dimensional, inputs):
    """Check a caller's ``out`` array and return it as an (N, C) view.

    ``inputs`` maps each argument's name to the arrays it stands for: the
    caller's object and what the kernel reads of it (a tensor, memoryview
    or DataFrame as input is seen as the array it converts to)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    _check_out_layout(
        out.shape, out.dtype, out.flags.c_contiguous and out.flags.writeable, scores,
        one_dimensional,
    )
    for name, values in inputs.items():
        for value in values:
            # A sparse target's arrays are inputs too.
            parts = (
                [getattr(value, part, None) for part in _SPARSE_PARTS]
                if scipy.sparse.issparse(value)
                else [value]
            )
            for array in parts:
                if isinstance(array, np.ndarray) and np.may_share_memory(out, array):
                    raise ValueError(f"out must not share memory with {name}")
    return out.reshape(scores.shape)


def _prepare(
    input, target, reduction, normalize, grad_output, with_grad, out, *, keep_indicator,
    target_format,
):
    """Validate what both losses share and allocate the outputs (the
    gradient goes to ``out`` when the caller gives one)."""
    scores, one_dimensional = _as_scores(input)
    n_rows, n_classes = scores.shape
    rows = as_label_rows(
        target, n_rows, n_classes, one_dimensional, keep_indicator=keep_indicator,
        target_format=target_format,
    )
    _check_reduction(reduction)
    loss_divisor = _loss_divisor(normalize, n_classes)
    grad = grad_scale = grad_result = None
    if with_grad:
        grad_scale = _gradient_scale(
            grad_output, reduction, n_rows, loss_divisor, one_dimensional
        )
        if out is None:
            grad = _buffers.empty(scores.shape, scores.dtype)
            grad_result = grad.reshape(-1) if one_dimensional else grad
        else:
            inputs = {
                "input": (input, scores),
                "target": (target, rows.indptr, rows.indices, rows.indicator),
                "grad_output": (grad_output,),
            }
            grad = _gradient_destination(out, scores, one_dimensional, inputs)
            grad_result = out
    return _Batch(
        scores, one_dimensional, rows, loss_divisor, np.empty(n_rows),
        np.empty(n_rows, np.int64), grad, grad_scale, grad_result,
    )


def _finish(batch, reduction):
    """Raise for bad targets, warn about a likely indicator, reduce."""
    scores, one_dimensional, rows = batch.scores, batch.one_dimensional, batch.rows
    status = batch.status
    if status.size:
        largest_status = status.max()
        raise_for_bad_rows(largest_status, status, rows, scores.shape[1], one_dimensional)
        raise_if_ambiguous(rows, largest_status)
    loss = _reduce(batch.loss, reduction, scores.dtype, one_dimensional)
    return loss, batch.grad_result


def _ranking(
    input, target, margin, reduction, normalize, grad_output, with_grad, out, device,
    target_format,
):
    """Validate, run the ranking kernel once, and return (loss, grad or None)."""
    others = {"target": target, "grad_output": grad_output, "out": out}
    if _device.runs_on_gpu(device, input, others):
        return _device.ranking(
            input, target, margin, reduction, normalize, grad_output, with_grad, out,
            target_format,
        )
    batch = _prepare(
        input, target, reduction, normalize, grad_output, with_grad, out,
        keep_indicator=False, target_format=target_format,
    )
    margin = _check_margin(margin, batch.scores.dtype)
    _dispatch.ranking(
        batch.scores, batch.rows, margin, batch.loss_divisor, batch.loss, batch.status,
        batch.grad, batch.grad_scale,
    )
    return _finish(batch, reduction)


def _hinge(
    input, target, margin, squared, reduction, normalize, grad_output, with_grad, out,
    device, target_format, label_sums=None,
):
    """Validate, run the hinge kernel once, and return (loss, grad or None).

    ``margin`` may be a scalar or per-label; with ``label_sums`` (float64
    zeros of shape (blocks, C)) the kernel also adds up each label's terms.
    """
    others = {"target": target, "grad_output": grad_output, "out": out, "margin": margin}
    if _device.runs_on_gpu(device, input, others):
        blocks = None if label_sums is None else label_sums.shape[0]
        results = _device.hinge(
            input, target, margin, squared, reduction, normalize, grad_output, with_grad,
            out, blocks, target_format,
        )
        if label_sums is not None:
            label_sums += results[2]
        return results[:2]
    batch = _prepare(
        input, target, reduction, normalize, grad_output, with_grad, out,
        keep_indicator=True, target_format=target_format,
    )
    margins = _label_margins(margin, batch.scores.shape[1], batch.scores.dtype)
    squared = _check_flag(squared, "squared")
    _dispatch.hinge(
        batch.scores, batch.rows, margins, squared, batch.loss_divisor, batch.loss,
        batch.status, batch.grad, batch.grad_scale, label_sums,
    )
    return _finish(batch, reduction)


def _label_sum_blocks(n_rows, n_classes):
    """How many blocks of rows the per-label sums are split into."""
    return max(1, min(n_rows, _LABEL_SUM_BLOCKS, _LABEL_SUM_BYTES // (8 * n_classes)))


_RANKING_DOC_COMMON = """
    Parameters
    ----------
    input : array_like, shape (C,) or (N, C)
        Scores of C classes for each of N samples. float32 and float64 are
        computed natively; other real dtypes (booleans, integers, float16,
        longdouble) are converted to float64, and results are then float64.
    target : array_like or scipy.sparse matrix
        Each sample's targets, in one of these forms:

        - class indices of any integer dtype, shape (K,) or (N, K) for any
          K >= 0: PyTorch's (N, C) layout and a compact (N, K) both work.
          Each row is read up to its first -1; later entries are padding and
          are ignored (PyTorch also range-checks the padding). Duplicated
          indices count as often as they appear, as in PyTorch;
        - ragged label lists, ``[[0, 3], [1], []]`` (lists, arrays, a pandas
          Series of lists), read as :func:`targets_from_lists` pads them;
        - a 0/1 indicator of the input's shape: bool, or floats that are all
          0 or 1 (multi-hot ``y_true``; any other float is a TypeError), or
          integers with ``target_format="indicator"``;
        - a ``scipy.sparse`` matrix or array of shape (N, C) whose stored
          non-zeros are the targets (CSR is read as it is, other formats are
          converted to CSR).
    target_format : {"auto", "indices", "indicator"}, optional
        How to read a dense target. "auto" (the default) goes by its dtype:
        integers are class indices, bools and floats indicators; an integer
        target of the input's shape holding only 0s and 1s and no -1 (as
        scikit-learn's ``MultiLabelBinarizer`` writes labels) reads both
        ways, and is a ValueError that asks for "indices" or "indicator".
        "indices" reads integers as class indices always (PyTorch's
        reading); "indicator" reads any 0/1 array of the input's shape as
        an indicator.
    margin : float, optional
        The hinge margin, finite (PyTorch fixes it to 1), converted to the
        scores' dtype. Default 1.0.
    reduction : {"mean", "sum", "none"}, optional
        "none" gives one loss per sample, "mean" averages them over samples,
        "sum" adds them up. Default "mean".
    normalize : bool, optional
        Divide each sample's sum of hinge terms by C, as PyTorch does
        (default True). False gives the plain sum of the terms, as in a
        LIBLINEAR-style objective ``0.5 * ||W||**2 + C * loss`` with
        ``reduction="sum"``; the gradient follows.
"""

_LOSS_RETURNS = """
    Returns
    -------
    loss : ndarray or scalar
        With "none", an array of shape (N,) (0-d for 1-D input) in the input's
        float dtype; otherwise a NumPy scalar of that dtype.
"""


def _grad_sections(loss_name, grad_detail=""):
    """Returns and Raises of a ``<loss>_grad`` docstring."""
    return f"""
    Returns
    -------
    grad : ndarray
        Same shape and float dtype as ``input`` (``out`` when given).{grad_detail}

    Raises
    ------
    TypeError, ValueError
        As :func:`{loss_name}`, and for a ``grad_output`` of the wrong shape
        or an ``out`` that does not fit.
"""


def _and_grad_sections(loss_name):
    """Returns and Raises of a ``<loss>_and_grad`` docstring."""
    return f"""
    Returns
    -------
    loss : ndarray or scalar
        As returned by :func:`{loss_name}`.
    grad : ndarray
        As returned by :func:`{loss_name}_grad`.

    Raises
    ------
    TypeError, ValueError
        As :func:`{loss_name}_grad`.
"""


_DOC_GRAD_OUTPUT = """    grad_output : array_like, optional
        Gradient of the caller's objective with respect to the loss: the
        result is the gradient of ``sum(grad_output * loss)``. Shape (N,)
        (or () for 1-D input) with ``reduction="none"``, a scalar otherwise.
        Defaults to ones.
    out : ndarray, optional
        Where to write the gradient: a C-contiguous, writeable array of the
        input's shape and float dtype that shares no memory with the
        inputs; it is returned. Without it, a gradient of 32 MiB or more
        comes from one of at most two buffers (1 GiB in all) that fastmargin
        keeps and hands out again once no array refers to them: freshly
        mapped memory is zeroed page by page by the operating system, which
        for a 40 MB gradient costs a sixth of the ranking kernel. ``out``
        lets the caller own that memory instead. On the GPU, ``out`` is a
        GPU array (a NumPy array for host inputs with ``device="cuda"``).
"""

_DOC_DEVICE = """    device : {"auto", "cpu", "cuda"}, optional
        Where to compute. "auto" (the default) runs on the GPU when ``input``
        is a GPU array (a PyTorch CUDA tensor, a CuPy array, a Numba device
        array, anything with ``__cuda_array_interface__`` or CUDA DLPack),
        and on the CPU otherwise. "cuda" also takes host arrays: they are
        copied to the GPU and the results come back as NumPy. "cpu" refuses
        GPU arrays (it never copies them to the host on its own). On the
        GPU, kernels run on the input library's current stream and results
        are arrays of that library, on the GPU: the gradient, the "none"
        losses, and "mean"/"sum" losses as 0-d arrays. The host waits for
        the GPU once per call, to read back whether a target entry was bad.
        The GPU path needs the ``cuda`` extra (numba-cuda) and an NVIDIA
        GPU; without them "cuda" raises a RuntimeError saying which is
        missing.
"""

_RANKING_DOC_NOTES = """
    Notes
    -----
    Per sample, the loss is the sum over used targets t and over classes j
    that are not among the sample's targets of ``max(0, margin - x[t] + x[j])``,
    divided by C (unless ``normalize=False``). Whether a pair is violated is decided as PyTorch decides
    it, ``(margin - x[t]) + x[j] > 0`` in the scores' dtype, so gradients
    match PyTorch's even at exact ties; at the kink the slope is 0.

    The kernels sort each row's target scores and count, for every class, the
    targets it violates by branch-free comparisons (up to 96 targets) or an
    O(1) grid lookup: O(C log T) work per row at most, instead of PyTorch's
    O(T * C), in parallel over samples. Sums accumulate in float64 and are
    reduced in a fixed order, so results do not depend on the number of
    threads. Each row's loss is accurate to its own pair terms, whatever
    the scores' magnitudes (one huge target score included): to float32's
    rounding for float32 scores, and within 2**-44 (about 6e-14) of itself
    for float64 scores, about the error of a pair-by-pair sum of a few
    hundred terms. The fast sums are checked for cancellation; a row they
    cannot give that accurately is summed again from terms that never
    cancel.

    Differences from ``torch.nn.functional.multilabel_margin_loss``, on
    purpose:

    - a NaN score in a sample that has at least one target and one
      non-target makes that sample's loss and gradient NaN (PyTorch silently
      drops NaN pairs); so does a pair of equal infinite scores;
    - an empty batch gives NaN for "mean" and 0 for "sum" (PyTorch's CPU
      kernel returns uninitialised memory);
    - ``margin`` is a parameter, compact (N, K) targets and int32 targets are
      accepted, and padding after the first -1 is never range-checked;
    - a 0-D input (PyTorch reads it as one sample of one class, whose loss
      is always 0) is refused with a ValueError; ``input.reshape(1)`` gives
      PyTorch's reading.
"""


def multilabel_margin_loss(
    input, target, *, margin=1.0, reduction="mean", normalize=True, device="auto",
    target_format="auto",
):
    return _ranking(
        input, target, margin, reduction, normalize, None, False, None, device,
        target_format,
    )[0]


def multilabel_margin_loss_grad(
    input, target, *, margin=1.0, reduction="mean", normalize=True, grad_output=None,
    out=None, device="auto", target_format="auto",
):
    return _ranking(
        input, target, margin, reduction, normalize, grad_output, True, out, device,
        target_format,
    )[1]


def multilabel_margin_loss_and_grad(
    input, target, *, margin=1.0, reduction="mean", normalize=True, grad_output=None,
    out=None, device="auto", target_format="auto",
):
    return _ranking(
        input, target, margin, reduction, normalize, grad_output, True, out, device,
        target_format,
    )


multilabel_margin_loss.__doc__ = (
    """Multi-label ranking margin loss, as PyTorch's ``MultiLabelMarginLoss``.
"""
    + _RANKING_DOC_COMMON
    + _DOC_DEVICE
    + _LOSS_RETURNS
    + """
    Raises
    ------
    TypeError
        If ``input`` is not real, or ``target`` holds neither integers nor
        booleans.
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
    + _DOC_GRAD_OUTPUT
    + _DOC_DEVICE
    + _grad_sections(
        "multilabel_margin_loss",
        "\n        Where a hinge sits exactly at its kink the slope taken is 0, as in"
        "\n        PyTorch.",
    )
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
    + _DOC_GRAD_OUTPUT
    + _DOC_DEVICE
    + _and_grad_sections("multilabel_margin_loss")
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


_HINGE_DOC_COMMON = """
    Parameters
    ----------
    input : array_like, shape (C,) or (N, C)
        Scores of C labels for each of N samples. float32 and float64 are
        computed natively; other real dtypes are converted to float64, and
        results are then float64.
    target : array_like or scipy.sparse matrix
        Each sample's labels: class indices of any integer dtype, shape (K,)
        or (N, K), each row read up to its first -1 (a label listed twice is
        one label); ragged label lists (see :func:`targets_from_lists`); a
        0/1 indicator of the input's shape (bool, or floats all 0 or 1); or
        a ``scipy.sparse`` matrix or array of shape (N, C) whose stored
        non-zeros are the labels (CSR is read as it is).
    target_format : {"auto", "indices", "indicator"}, optional
        How to read a dense target, as for :func:`multilabel_margin_loss`:
        "auto" refuses an integer target of the input's shape holding only
        0s and 1s and no -1 (it reads two ways); "indicator" reads such a
        0/1 matrix (scikit-learn's label format) as labels, "indices" as
        class indices.
    margin : float or array_like, shape (C,), optional
        The margin, one for all labels or one per label, finite in the
        scores' dtype. Default 1.0.
    squared : bool, optional
        Use the squared hinge ``max(0, z)**2`` (the L2-SVM loss). Default
        False.
    reduction : {"mean", "sum", "none"}, optional
        "none" gives one loss per sample, "mean" averages them over samples,
        "sum" adds them up. Default "mean".
    normalize : bool, optional
        Divide each sample's sum of hinge terms by C, as PyTorch does
        (default True). False gives the plain sum of the terms, as in a
        LIBLINEAR-style objective ``0.5 * ||W||**2 + C * loss`` with
        ``reduction="sum"``; the gradient follows.
"""

_HINGE_DOC_NOTES = """
    Notes
    -----
    Per sample, the loss is ``sum over labels c of h(margin[c] - s[c] * x[c])``
    divided by C (unless ``normalize=False``), where ``s[c]`` is +1 for a label the sample has and -1
    otherwise, and ``h(z) = max(0, z)`` (or its square): the one-vs-rest hinge
    written by hand as ``max(0, margin - y*x + (1 - y)*x)`` for 0/1 labels y.
    ``z`` is computed in the scores' dtype and the terms are summed in
    float64, in a fixed order (results do not depend on the number of
    threads). At the kink ``z = 0`` the slope taken is 0. A NaN score makes
    its sample's loss NaN and its own gradient entry NaN; the other entries
    are unaffected. An empty batch gives NaN for "mean" and 0 for "sum".
"""


def multilabel_hinge_loss(
    input, target, *, margin=1.0, squared=False, reduction="mean", normalize=True,
    device="auto", target_format="auto",
):
    return _hinge(
        input, target, margin, squared, reduction, normalize, None, False, None, device,
        target_format,
    )[0]


def multilabel_hinge_loss_grad(
    input, target, *, margin=1.0, squared=False, reduction="mean", normalize=True,
    grad_output=None, out=None, device="auto", target_format="auto",
):
    return _hinge(
        input, target, margin, squared, reduction, normalize, grad_output, True, out,
        device, target_format,
    )[1]


def multilabel_hinge_loss_and_grad(
    input, target, *, margin=1.0, squared=False, reduction="mean", normalize=True,
    grad_output=None, out=None, device="auto", target_format="auto",
):
    return _hinge(
        input, target, margin, squared, reduction, normalize, grad_output, True, out,
        device, target_format,
    )


multilabel_hinge_loss.__doc__ = (
    """Per-label (one-vs-rest) hinge loss of multi-label scores.
"""
    + _HINGE_DOC_COMMON
    + _DOC_DEVICE
    + _LOSS_RETURNS
    + """
    Raises
    ------
    TypeError
        If ``input`` or ``margin`` is not real, ``squared`` is not a bool, or
        ``target`` holds neither integers nor booleans.
    ValueError
        For a used target entry outside [0, C), a target or margin of the
        wrong shape, a non-finite margin, 0 classes, a 0-D or 3-D input or an
        unknown reduction.

    See Also
    --------
    multilabel_hinge_loss_and_grad : the loss and its gradient in one pass.
    AdaptiveMargins : per-label margins that adapt to the data.
"""
    + _HINGE_DOC_NOTES
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_hinge_loss
    >>> scores = np.array([[2.0, -0.5, 0.5]])
    >>> multilabel_hinge_loss(scores, np.array([[0, 2]]))  # labels 0 and 2
    np.float64(0.3333333333333333)
    >>> multilabel_hinge_loss(scores, np.array([[True, False, True]]))
    np.float64(0.3333333333333333)
"""
)

multilabel_hinge_loss_grad.__doc__ = (
    """Gradient of the per-label hinge loss with respect to ``input``.
"""
    + _HINGE_DOC_COMMON
    + _DOC_GRAD_OUTPUT
    + _DOC_DEVICE
    + _grad_sections("multilabel_hinge_loss")
    + _HINGE_DOC_NOTES
    + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_hinge_loss_grad
    >>> scores = np.array([[0.5, -0.5, 0.5]])
    >>> multilabel_hinge_loss_grad(scores, np.array([[0, 2]]), reduction="sum")
    array([[-0.33333333,  0.33333333, -0.33333333]])
"""
)

multilabel_hinge_loss_and_grad.__doc__ = (
    """Per-label hinge loss and its gradient, from one pass.
"""
    + _HINGE_DOC_COMMON
    + _DOC_GRAD_OUTPUT
    + _DOC_DEVICE
    + _and_grad_sections("multilabel_hinge_loss")
    + _HINGE_DOC_NOTES
    + """
    Examples
    --------
    A linear multi-label model trained by plain gradient descent:

    >>> import numpy as np
    >>> from fastmargin import multilabel_hinge_loss_and_grad
    >>> rng = np.random.default_rng(0)
    >>> features = rng.standard_normal((64, 5))
    >>> labels = features[:, :3] > 0            # 3 labels, bool indicator
    >>> weights = np.zeros((5, 3))
    >>> for step in range(200):
    ...     loss, grad = multilabel_hinge_loss_and_grad(features @ weights, labels)
    ...     weights -= 1.0 * features.T @ grad
    >>> bool(loss < 0.1)
    True
"""
)


class AdaptiveMargins:
    """Per-label hinge margins that grow where the loss stays high.

    A hinge loss with one margin per label, where each label's margin moves
    after every batch in proportion to the hinge loss that label had::

        margins = clip(margins + rate * label_sums / N, low, high)

    where ``label_sums[c]`` is the sum over the batch's N samples of label
    c's hinge term (squared when ``squared=True``). The sums come from the
    same pass over the scores as the loss, and are added up in a fixed order
    that depends on the batch's shape alone, so the margins are identical
    run to run and for any number of threads.

    Parameters
    ----------
    n_labels : int
        Number of labels C, at least 1.
    initial : float, optional
        Every label's starting margin, within ``bounds``. Default 1.0.
    rate : float, optional
        Step of the update, finite and >= 0 (0 keeps the margins fixed).
        Default 0.1.
    bounds : (float, float), optional
        Finite ``(low, high)`` with ``low <= high``; margins never leave
        them. Default (0.5, 2.0).

    Attributes
    ----------
    margins : ndarray of float64, shape (C,)
        The current margins, updated in place by :meth:`loss_and_grad`.

    Raises
    ------
    TypeError, ValueError
        For a non-integer or non-positive ``n_labels``, a non-finite or
        negative ``rate``, ``bounds`` that are not two finite numbers in
        order, or an ``initial`` outside them.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import AdaptiveMargins
    >>> adaptive = AdaptiveMargins(3, initial=1.0, rate=0.5, bounds=(0.5, 2.0))
    >>> scores = np.array([[2.0, -0.5, 0.5], [1.0, 0.0, -1.0]])
    >>> target = np.array([[0, 2], [0, -1]])
    >>> loss, grad = adaptive.loss_and_grad(scores, target)
    >>> adaptive.margins  # label 1: (0.5 + 1.0) / 2 * 0.5; label 2: (0.5 + 0) / 2 * 0.5
    array([1.   , 1.375, 1.125])
    """

    def __init__(self, n_labels, *, initial=1.0, rate=0.1, bounds=(0.5, 2.0)):
        self.n_labels = check_positive_int(n_labels, "n_labels")
        rate = _check_real(rate, "rate")
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be finite and >= 0, got {rate!r}")
        try:
            low, high = bounds
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be a pair (low, high), got {bounds!r}") from None
        low, high = _check_real(low, "bounds[0]"), _check_real(high, "bounds[1]")
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(
                f"bounds must be finite with low <= high, got {bounds!r}"
            )
        initial = _check_real(initial, "initial")
        if not low <= initial <= high:
            raise ValueError(f"initial = {initial!r} lies outside bounds {bounds!r}")
        self.rate = rate
        self.bounds = (low, high)
        self.margins = np.full(self.n_labels, initial)

    def __repr__(self):
        return (
            f"AdaptiveMargins(n_labels={self.n_labels}, rate={self.rate}, "
            f"bounds={self.bounds})"
        )

    def loss_and_grad(
        self, input, target, *, squared=False, reduction="mean", normalize=True, out=None,
        device="auto", target_format="auto",
    ):
        """Hinge loss and gradient with the current margins, then update them.

        Parameters
        ----------
        input, target, squared, reduction, normalize, out, device, target_format
            As for :func:`multilabel_hinge_loss_and_grad`; ``input`` must
            have ``n_labels`` classes. The margins stay a NumPy array on the
            host: on the GPU they are copied in, and the per-label sums
            copied back, each call.

        Returns
        -------
        loss : ndarray or scalar
            The loss with the margins as they were before this call.
        grad : ndarray
            Its gradient with respect to ``input``.

        Raises
        ------
        TypeError, ValueError
            As :func:`multilabel_hinge_loss_and_grad`, and a ValueError when
            ``input`` does not have ``n_labels`` classes or the margins are
            not finite in its dtype.

        Warns
        -----
        RuntimeWarning
            When the batch's per-label sums are not all finite (a NaN or
            infinite score), so that the margins were not updated.

        Notes
        -----
        The margins move only after a batch whose per-label sums are all
        finite. An empty batch leaves them as they are, and so does a batch
        with a NaN or infinite score: its loss and gradient show the NaN or
        infinity as usual, and the margins stay usable for the next batch
        (a training loop that skips such a batch loses nothing). ``rate=0``
        keeps the margins fixed whatever the batch.
        """
        shape = tuple(np.shape(input))
        n_classes = shape[-1] if shape else None
        if n_classes != self.n_labels:
            raise ValueError(
                f"input must have {self.n_labels} classes (n_labels), got shape "
                f"{shape}"
            )
        finite = np.isfinite(self.margins)
        if not finite.all():
            label = int(np.argmin(finite))
            raise ValueError(
                f"AdaptiveMargins.margins[{label}] = {float(self.margins[label])!r} is not "
                "finite (set from outside: the updates keep margins finite); set the "
                "margins again, for example adaptive.margins[:] = 1.0"
            )
        n_rows = int(np.prod(shape[:-1]))
        label_sums = np.zeros((_label_sum_blocks(n_rows, n_classes), n_classes))
        loss, grad = _hinge(
            input, target, self.margins, squared, reduction, normalize, None, True, out,
            device, target_format, label_sums,
        )
        if n_rows and self.rate:
            batch_sums = label_sums.sum(axis=0)
            if np.isfinite(batch_sums).all():
                step = self.margins + self.rate * (batch_sums / n_rows)
                np.clip(step, *self.bounds, out=self.margins)
            else:
                warnings.warn(
                    "AdaptiveMargins: the batch's per-label hinge sums are not all "
                    "finite (a NaN or infinite score); the margins were not updated",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return loss, grad
