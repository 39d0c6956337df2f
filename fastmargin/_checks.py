"""Every check of the arguments, in one place: what the public functions
take, and the errors (naming the argument and its bad value) for what they
refuse. Host and GPU calls share them; the checks look at shapes, dtypes
and host values only. Nothing else of fastmargin is imported here.
"""

import math
import numbers
import operator
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse

REDUCTIONS = ("none", "mean", "sum")


# The arrays that scipy.sparse formats keep their contents in.
SPARSE_PARTS = ("data", "indices", "indptr", "row", "col", "coords", "offsets")


# By itemsize of the computed dtype: the smallest magnitude that rounds to
# infinity, the largest finite value plus half its ulp (2**128 - 2**103 for
# float32, exact in float64; a tie rounds to even, which is infinity).
_OVERFLOW_THRESHOLD = {
    4: float(np.finfo(np.float32).max) + 2.0**103,
    8: math.inf,
}


DEVICES = ("auto", "cpu", "cuda")


class Call(NamedTuple):
    """One loss call's arguments as the public function received them,
    handed down unchecked: ``prepare`` (host or GPU) checks them."""

    input: Any
    target: Any
    margin: Any
    reduction: Any
    normalize: Any
    grad_output: Any
    with_grad: bool
    out: Any
    target_format: Any
    squared: Any = False  # the hinge only
    label_sums: Any = None  # AdaptiveMargins: float64 zeros (blocks, C)


# The public functions' type hints for these settings.
TargetFormat = Literal["auto", "indices", "indicator"]
Reduction = Literal["mean", "sum", "none"]
Device = Literal["auto", "cpu", "cuda"]


# DLPack device types of memory on a CUDA GPU (kDLCUDA, kDLCUDAManaged).
_DLPACK_CUDA = (2, 13)


def host_array(value, name, hint=""):
    """``np.asarray(value)``, with a ValueError that names the argument for
    a ragged nested sequence (NumPy's own says only "inhomogeneous shape")."""
    try:
        return np.asarray(value)
    except ValueError as error:
        raise ValueError(
            f"{name} is a ragged nested sequence (rows of different lengths) and "
            f"cannot be read as an array{hint}: {error}"
        ) from None


def check_positive_int(value, name):
    """Return ``value`` as an int >= 1, or raise naming the argument."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def check_device(device):
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(
            f"device must be one of {', '.join(map(repr, DEVICES))}, got {device!r}"
        )


def library_name(value):
    """The top-level package of ``value``'s type ("torch", "cupy", ...)."""
    return type(value).__module__.split(".")[0]


def is_gpu_array(value):
    """Whether ``value`` lives in GPU memory (never imports numba.cuda)."""
    if value is None or isinstance(value, np.ndarray) or scipy.sparse.issparse(value):
        return False
    if library_name(value) == "torch":
        # A tensor that requires grad refuses its array interface.
        return bool(getattr(value, "is_cuda", False))
    if hasattr(value, "__cuda_array_interface__") or getattr(value, "__cuda_ndarray__", False):
        return True  # (Numba's device arrays, the simulator's included, say the latter)
    dlpack_device = getattr(value, "__dlpack_device__", None)
    if dlpack_device is None:
        return False
    try:
        return dlpack_device()[0] in _DLPACK_CUDA
    except Exception:  # a host object whose __dlpack_device__ refuses
        return False


def check_scores(shape, dtype):
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


def check_out_layout(out_shape, out_dtype, contiguous_and_writeable, scores, one_dimensional):
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


def check_real(value, name):
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


def check_margin(margin, dtype):
    value = check_real(margin, "margin")
    if not math.isfinite(value):
        raise ValueError(f"margin must be finite, got {margin!r}")
    # What rounds to infinity in the scores' dtype (float32 or float64),
    # compared without converting (np.errstate costs more than the kernel
    # of a small call).
    if abs(value) >= _OVERFLOW_THRESHOLD[dtype.itemsize]:
        raise ValueError(f"margin must be finite in the scores' dtype {dtype}, got {margin!r}")
    return value


def label_margins(margin, n_classes, dtype):
    """The hinge's margins as an array of the scores' dtype: one finite
    margin per label (C,), or a scalar as (1,), which the kernels apply to
    every label."""
    if isinstance(margin, (int, float)):
        return np.full(1, check_margin(margin, dtype), dtype=dtype)
    margins = host_array(margin, "margin")
    if margins.ndim == 0:
        return np.full(1, check_margin(margin, dtype), dtype=dtype)
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


def check_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduction!r}"
        )


def check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def row_divisor(normalize, n_classes):
    """What each row's sum of hinge terms is divided by: C (PyTorch's
    convention), or 1 for the plain sum."""
    return float(n_classes) if check_flag(normalize, "normalize") else 1.0


def check_grad_output(shape, dtype, reduction, n_rows, one_dimensional):
    """Raise unless ``grad_output``'s shape and dtype fit the loss."""
    if dtype.kind not in "biuf":
        raise TypeError(f"grad_output must hold real numbers, got dtype {dtype}")
    expected = (n_rows,) if reduction == "none" and not one_dimensional else ()
    if tuple(shape) != expected:
        raise ValueError(
            f"grad_output must have shape {expected}, the shape of the "
            f'loss with reduction="{reduction}", got {tuple(shape)}'
        )


def gradient_divisor(reduction, n_rows, loss_divisor):
    """What ``grad_output`` is divided by to give the kernels' per-row
    factor: each row's sum is divided by ``loss_divisor``, and by N for
    "mean"."""
    return loss_divisor * max(n_rows, 1) if reduction == "mean" else loss_divisor


def gradient_scale(grad_output, reduction, n_rows, loss_divisor, one_dimensional):
    """Per-row factor of the kernels' slopes, float64 (N,).

    The gradient of ``sum(grad_output * loss)`` for "none", of
    ``grad_output * loss`` for "mean" and "sum".
    """
    divisor = gradient_divisor(reduction, n_rows, loss_divisor)
    if grad_output is None:
        return np.full(n_rows, 1.0 / divisor)
    weights = host_array(grad_output, "grad_output")
    check_grad_output(weights.shape, weights.dtype, reduction, n_rows, one_dimensional)
    weights = np.broadcast_to(weights.astype(np.float64).reshape(-1), (n_rows,))
    return weights / divisor


def check_out(out, scores, one_dimensional, inputs):
    """Check a caller's ``out`` array and return it as an (N, C) view.

    ``inputs`` maps each argument's name to the arrays it stands for: the
    caller's object and what the kernel reads of it (a tensor, memoryview
    or DataFrame as input is seen as the array it converts to)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    check_out_layout(
        out.shape,
        out.dtype,
        out.flags.c_contiguous and out.flags.writeable,
        scores,
        one_dimensional,
    )
    for name, values in inputs.items():
        for value in values:
            # A sparse target's arrays are inputs too.
            parts = (
                [getattr(value, part, None) for part in SPARSE_PARTS]
                if scipy.sparse.issparse(value)
                else [value]
            )
            for array in parts:
                if isinstance(array, np.ndarray) and np.may_share_memory(out, array):
                    raise ValueError(f"out must not share memory with {name}")
    return out.reshape(scores.shape)


# How a dense target is read: "auto" by its dtype (integers are class
# indices, bools and 0/1 floats indicators), or as the caller says.
TARGET_FORMATS = ("auto", "indices", "indicator")


def check_target_format(target_format):
    if not isinstance(target_format, str) or target_format not in TARGET_FORMATS:
        raise ValueError(
            f"target_format must be one of {', '.join(map(repr, TARGET_FORMATS))}, "
            f"got {target_format!r}"
        )


def check_compressed(target):
    """Check the index arrays of a compressed (CSR, CSC or BSR) matrix, which
    scipy trusts and a corrupted one gets wrong (reads out of bounds):
    ``indptr`` in O(N), and for the formats that scipy converts, the minor
    indices too. A CSR's column indices are checked by the kernels as they
    read them."""
    if target.format not in ("csr", "csc", "bsr"):
        return
    indptr, indices = target.indptr, target.indices
    if indptr.ndim != 1 or indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise TypeError(
            f"target is a sparse matrix whose indptr and indices are not 1-D integer "
            f"arrays (dtypes {indptr.dtype} and {indices.dtype})"
        )
    rows, columns = target.shape
    block_rows, block_columns = target.blocksize if target.format == "bsr" else (1, 1)
    n_major, n_minor = (
        (columns, rows)
        if target.format == "csc"
        else (rows // block_rows, columns // block_columns)
    )
    if indptr.shape[0] != n_major + 1:
        raise ValueError(
            f"target is a corrupted {target.format.upper()} matrix: its indptr has "
            f"{indptr.shape[0]} entries, its shape {target.shape} needs {n_major + 1}"
        )
    stored = min(indices.shape[0], target.data.shape[0])
    if indptr[0] != 0 or indptr[-1] > stored or np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(
            f"target is a corrupted {target.format.upper()} matrix: its indptr must "
            f"start at 0, never decrease and end at most at {stored} (the stored "
            f"entries), got {indptr[0]} ... {indptr[-1]}"
        )
    if target.format != "csr" and stored:
        used = indices[: indptr[-1]]
        if used.size and (used.min() < 0 or used.max() >= n_minor):
            raise ValueError(
                f"target is a corrupted {target.format.upper()} matrix: an index "
                f"lies outside [0, {n_minor})"
            )


def is_indicator(shape, dtype, n_rows, n_classes, one_dimensional, target_format="auto"):
    """Check a dense target's shape and dtype (not its values): True for an
    indicator, False for padded class indices. With ``target_format``
    "auto", bools and floats are indicators and integers are indices;
    "indicator" takes integers as indicators too. Host and device targets
    share it, so both get the same errors.

    Raises
    ------
    TypeError
        If ``dtype`` is not bool, integer or float, or does not fit
        ``target_format`` (indices must be integers).
    ValueError
        If the shape does not fit the scores'.
    """
    scores_shape = (n_classes,) if one_dimensional else (n_rows, n_classes)
    shape = tuple(shape)
    if dtype.kind in "bf" or (dtype.kind in "iu" and target_format == "indicator"):
        if target_format == "indices":
            raise TypeError(
                f'target_format="indices" needs integer class indices, got dtype {dtype}'
            )
        if shape != scores_shape:
            raise ValueError(
                f"an indicator target must have the input's shape {scores_shape}, "
                f"got shape {shape} (dtype {dtype})"
            )
        return True
    if dtype.kind not in "iu":
        raise TypeError(
            "target must hold integer class indices padded with -1, a 0/1 "
            f"indicator or a scipy.sparse label matrix, got dtype {dtype}"
        )
    expected_ndim = 1 if one_dimensional else 2
    if len(shape) != expected_ndim:
        expected = "(K,)" if one_dimensional else "(N, K)"
        raise ValueError(
            f"target must have shape {expected} to match input of "
            f"{expected_ndim} dimension(s), got shape {shape}"
        )
    if not one_dimensional and shape[0] != n_rows:
        raise ValueError(f"target has {shape[0]} rows but input has {n_rows} samples")
    return False
