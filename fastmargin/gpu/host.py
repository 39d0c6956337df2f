"""The GPU half of a call, mirroring ``_host.py`` name for name: the same
checks (on shapes and dtypes, which live on the host), then the kernels
launched on the caller's stream, then one small device-to-host copy (the
first bad row and the largest row status) to raise the CPU's ValueError for
a bad target. That is the only synchronisation, besides copying results
back for host inputs and AdaptiveMargins' per-label sums.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse

from .._checks import (
    check_flag,
    check_grad_output,
    check_margin,
    check_out,
    check_out_layout,
    check_reduction,
    check_scores,
    check_target_format,
    gradient_divisor,
    gradient_scale,
    is_gpu_array,
    is_indicator,
    label_margins,
    row_divisor,
)
from .._targets import (
    LabelRows,
    as_label_rows,
    raise_for_bad_rows,
    raise_if_ambiguous,
)
from . import common
from .arrays import (
    Library,
    allocator,
    byte_span,
    contiguous_2d,
    device_view,
    new_array,
    on_gpu,
    padded_rows,
    to_device,
    to_library,
)
from .hinge import launch_hinge
from .ranking import launch_ranking


class GpuBatch(NamedTuple):
    """A validated GPU call: the kernels' device inputs and outputs."""

    library: Library
    scores: object  # (N, C) float32/float64, C-contiguous
    one_dimensional: bool
    rows: LabelRows  # device arrays; ``indicator`` a device bool (N, C) or None
    host_target: object  # to quote a bad entry: the caller's target
    loss_divisor: float
    loss: object  # float64 (N,)
    status: object  # int64 (N,)
    grad: object | None  # (N, C) view the kernel writes
    grad_scale: object | None
    grad_result: object | None  # returned to the caller


def as_scores(input, library):
    """The scores as a C-contiguous float32/float64 (N, C) device array."""
    view = device_view(input, library, "input")
    one_dimensional, scores_dtype = check_scores(view.shape, np.dtype(view.dtype))
    shape = (1, view.shape[0]) if one_dimensional else tuple(view.shape)
    return contiguous_2d(view, shape, scores_dtype, library), one_dimensional


def _label_rows(target, scores, one_dimensional, library, keep_indicator, target_format):
    """The target in the kernels' canonical form, on the device."""

    n_rows, n_classes = scores.shape
    stream = library.stream
    if not is_gpu_array(target):
        rows = as_label_rows(
            target,
            n_rows,
            n_classes,
            one_dimensional,
            keep_indicator=keep_indicator,
            target_format=target_format,
        )
        indicator = rows.indicator
        return rows._replace(
            indptr=to_device(rows.indptr, library),
            indices=to_device(rows.indices, library),
            indicator=None if indicator is None else to_device(indicator, library),
        )
    if scipy.sparse.issparse(target) or type(target).__module__.startswith("cupyx"):
        raise TypeError(
            "a sparse target on the GPU is not supported: pass a scipy.sparse matrix"
        )
    view = device_view(target, library, "target")
    dtype = np.dtype(view.dtype)
    check_target_format(target_format)
    if is_indicator(view.shape, dtype, n_rows, n_classes, one_dimensional, target_format):
        if dtype != np.bool_:  # its values would need a check on the GPU
            raise TypeError(
                f"a GPU target read as an indicator must be bool, got dtype {dtype}: "
                "pass target.bool() (PyTorch) or target.astype(bool)"
            )
        indicator = contiguous_2d(view, scores.shape, np.bool_, library)
        if keep_indicator:
            # The label lists are not read beside an indicator: placeholders.
            return LabelRows(
                new_array((n_rows + 1,), np.int64, library)[1],
                new_array((0,), np.int64, library)[1],
                False,
                0,
                indicator,
                None,
                False,
            )
        _, labels = new_array(scores.shape, np.int64, library)
        common.launch_flat(common.labels_from_indicator, n_rows, stream, indicator, labels)
        return padded_rows(labels, n_classes, library, may_be_indicator=False)
    width = view.shape[view.ndim - 1]
    shape = (n_rows, width)
    index_dtype = dtype if dtype in (np.int32, np.int64) else np.dtype(np.int64)
    indices = contiguous_2d(view, shape, index_dtype, library)
    may_be_indicator = target_format == "auto" and tuple(view.shape) == (
        (n_classes,) if one_dimensional else (n_rows, n_classes)
    )
    return padded_rows(indices, width, library, may_be_indicator)


def _gradient_scale(grad_output, reduction, n_rows, loss_divisor, one_dimensional, library):
    """The kernels' per-row gradient factor (float64 (N,)) on the device,
    with the CPU's checks and the CPU's arithmetic."""

    if not is_gpu_array(grad_output):
        scale = gradient_scale(grad_output, reduction, n_rows, loss_divisor, one_dimensional)
        return to_device(np.ascontiguousarray(scale), library)
    weights = device_view(grad_output, library, "grad_output")
    check_grad_output(
        weights.shape, np.dtype(weights.dtype), reduction, n_rows, one_dimensional
    )
    weights = contiguous_2d(weights, (max(weights.size, 1),), weights.dtype, library)
    _, scale = new_array((n_rows,), np.float64, library)
    divisor = float(gradient_divisor(reduction, n_rows, loss_divisor))
    if n_rows:
        common.launch_flat(
            common.divide_weights, n_rows, library.stream, weights, divisor, scale
        )
    return scale


def _check_out(out, scores, one_dimensional, inputs, library):
    """Check a caller's ``out``; return (the kernel's (N, C) view, result).
    ``inputs`` maps each argument's name to the arrays it stands for (the
    caller's object and what the kernel reads of it).

    Host callers (device="cuda") give a NumPy ``out``, checked as on the CPU;
    the kernel writes a device buffer that :func:`finish` copies into it.
    """
    if library.name == "numpy":
        check_out(out, scores, one_dimensional, inputs)
        return new_array(scores.shape, scores.dtype, library)[1], out
    if not is_gpu_array(out):
        raise TypeError(
            f"out must be a GPU array when the call runs on the GPU, got {type(out).__name__}"
        )
    view = device_view(out, library, "out")
    check_out_layout(
        view.shape, np.dtype(view.dtype), view.is_c_contiguous(), scores, one_dimensional
    )
    span = byte_span(out)
    for name, values in inputs.items():
        for value in values:
            other = byte_span(value)
            if span and other and span[0] < other[1] and other[0] < span[1]:
                raise ValueError(f"out must not share memory with {name}")
    return view.reshape(scores.shape), out


def prepare(call, library, *, keep_indicator):
    """Validated device inputs and allocated outputs, as ``_host.prepare``."""
    input, target, out = call.input, call.target, call.out
    scores, one_dimensional = as_scores(input, library)
    n_rows, n_classes = scores.shape
    rows = _label_rows(
        target, scores, one_dimensional, library, keep_indicator, call.target_format
    )
    check_reduction(call.reduction)
    loss_divisor = row_divisor(call.normalize, n_classes)
    grad = grad_scale = grad_result = None
    if call.with_grad:
        grad_scale = _gradient_scale(
            call.grad_output, call.reduction, n_rows, loss_divisor, one_dimensional, library
        )
        if out is None:
            shape = (n_classes,) if one_dimensional else (n_rows, n_classes)
            grad_result, grad = new_array(shape, scores.dtype, library)
            grad = grad.reshape(scores.shape)
        else:
            inputs = {
                "input": (input, scores),
                "target": (target, rows.indptr, rows.indices, rows.indicator),
                "grad_output": (call.grad_output,),
            }
            grad, grad_result = _check_out(out, scores, one_dimensional, inputs, library)
    loss = new_array((n_rows,), np.float64, library)[1]
    status = new_array((n_rows,), np.int64, library)[1]
    return GpuBatch(
        library,
        scores,
        one_dimensional,
        rows,
        target,
        loss_divisor,
        loss,
        status,
        grad,
        grad_scale,
        grad_result,
    )


def finish(batch, reduction):
    """As ``_host.finish``: raise for bad targets, warn, reduce; results as
    the caller's library holds them."""

    library, scores = batch.library, batch.scores
    n_rows = scores.shape[0]
    if n_rows:
        summary = to_device(np.array([n_rows, -(2**62)], np.int64), library)
        common.launch_flat(
            common.summarise_status, n_rows, library.stream, batch.status, summary
        )
        first_bad, largest = summary.copy_to_host(stream=library.stream)
        library.stream.synchronize()  # the one wait: the two integers are read now
        if first_bad < n_rows:
            _raise_for_bad_target(batch)
        raise_if_ambiguous(batch.rows, largest)
    loss = reduce_losses(batch.loss, reduction, scores.dtype, batch.one_dimensional, library)
    grad = batch.grad_result
    if isinstance(grad, np.ndarray):  # a host caller's out
        batch.grad.copy_to_host(grad.reshape(scores.shape), stream=library.stream)
    elif grad is not None:
        grad = to_library(grad, library)
    return loss, grad


def _raise_for_bad_target(batch):
    """Raise the CPU's ValueError for the first bad entry (copies the status
    and the target to the host: an error path)."""
    library = batch.library
    target = batch.host_target
    if is_gpu_array(target):
        target = device_view(target, library, "target").copy_to_host(stream=library.stream)
    n_rows, n_classes = batch.scores.shape
    rows = as_label_rows(
        target,
        n_rows,
        n_classes,
        batch.one_dimensional,
        keep_indicator=False,
        target_format="indices",  # only index targets have bad entries
    )
    status = batch.status.copy_to_host(stream=library.stream)
    raise_for_bad_rows(status.max(), status, rows, n_classes, batch.one_dimensional)


def reduce_losses(row_losses, reduction, dtype, one_dimensional, library):
    """As ``_host.reduce_losses``: fixed order, the caller's library's arrays; a
    "mean"/"sum" result is a 0-d GPU array (a NumPy scalar for host inputs)."""
    stream = library.stream
    n_rows = row_losses.shape[0]
    if reduction == "none":
        result, view = new_array((n_rows,), dtype, library)
        if n_rows:
            common.launch_flat(common.copy_cast, n_rows, stream, row_losses, view)
        if one_dimensional:
            result = result.reshape(())
        return to_library(result, library)
    result, view = new_array((1,), dtype, library)
    if n_rows:
        divisor = float(n_rows) if reduction == "mean" else 1.0
        common.reduce_rows[1, common.REDUCE_THREADS, stream](row_losses, divisor, view)
    else:
        common.fill[1, 1, stream](view, np.nan if reduction == "mean" else 0.0)
    if library.name == "numpy":
        return dtype.type(view.copy_to_host(stream=stream)[0])
    return result.reshape(())


def ranking(call):
    """The ranking loss on the GPU, as ``_host.ranking``."""
    with on_gpu(call.input) as library:
        batch = prepare(call, library, keep_indicator=False)
        margin = check_margin(call.margin, np.dtype(batch.scores.dtype))
        rows = batch.rows
        if batch.scores.shape[0]:
            launch_ranking(
                batch.scores,
                rows.indptr,
                rows.indices,
                rows.padded,
                rows.width,
                margin,
                batch.loss_divisor,
                batch.loss,
                batch.status,
                batch.grad,
                batch.grad_scale,
                library.stream,
                allocate=allocator(library),
            )
        return finish(batch, call.reduction)


def hinge(call):
    """The per-label hinge on the GPU, as ``_host.hinge``: ``call.label_sums``
    (host float64 zeros of shape (blocks, C)), when given, receives the
    per-label sums of each block of rows."""
    with on_gpu(call.input) as library:
        batch = prepare(call, library, keep_indicator=True)
        margin, label_sums = call.margin, call.label_sums
        n_rows, n_classes = batch.scores.shape
        dtype = np.dtype(batch.scores.dtype)
        if is_gpu_array(margin):  # C values, checked on the host like any margin
            margin = device_view(margin, library, "margin").copy_to_host(stream=library.stream)
        margins = to_device(label_margins(margin, n_classes, dtype), library)
        squared = check_flag(call.squared, "squared")
        sums = None
        if label_sums is not None:
            sums = to_device(np.zeros(label_sums.shape), library)
        rows = batch.rows
        if n_rows:
            launch_hinge(
                batch.scores,
                rows.indptr,
                rows.indices,
                rows.padded,
                rows.width,
                rows.indicator,
                margins,
                squared,
                batch.loss_divisor,
                batch.loss,
                batch.status,
                batch.grad,
                batch.grad_scale,
                sums,
                library.stream,
                allocate=allocator(library),
            )
        loss, grad = finish(batch, call.reduction)
        if sums is not None:
            label_sums += sums.copy_to_host(stream=library.stream)
        return loss, grad
