"""Where a call runs, and the GPU half of the front end.

``device="auto"`` runs on the GPU when ``input`` is a GPU array (anything
with ``__cuda_array_interface__``, or DLPack on a CUDA device: Numba device
arrays, CuPy arrays, PyTorch CUDA tensors) and on the CPU otherwise;
``"cuda"`` also copies host arrays in and returns NumPy results; ``"cpu"``
never copies a GPU array to the host.

The GPU half mirrors the CPU's ``_prepare``/``_finish``: the same checks (on
shapes and dtypes, which live on the host), then the kernels launched on the
caller's stream, then one small device-to-host copy (the first bad row and
the largest row status) to raise the CPU's ValueError for a bad target:
that is the only synchronisation, besides copying results back for host
inputs and AdaptiveMargins' per-label sums. Results are allocated by the
caller's own library (PyTorch, CuPy or Numba), so they come back as its
arrays, without copies.

numba-cuda is imported only here, and only when a call runs on the GPU.
"""

import contextlib
import importlib
import importlib.util
import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse

from ._targets import (
    LabelRows,
    as_label_rows,
    check_target_format,
    host_array,
    is_indicator,
    raise_for_bad_rows,
    raise_if_ambiguous,
)

DEVICES = ("auto", "cpu", "cuda")
# DLPack device types of memory on a CUDA GPU (kDLCUDA, kDLCUDAManaged).
_DLPACK_CUDA = (2, 13)


def check_device(device):
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(
            f"device must be one of {', '.join(map(repr, DEVICES))}, got {device!r}"
        )


def is_gpu_array(value):
    """Whether ``value`` lives in GPU memory (never imports numba.cuda)."""
    if value is None or isinstance(value, np.ndarray) or scipy.sparse.issparse(value):
        return False
    if type(value).__module__.split(".")[0] == "torch":
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


def _plainly_on_host(value):
    return value is None or isinstance(value, (np.ndarray, float, int))


def runs_on_gpu(device, input, others):
    """Decide where a call runs; raise for a device that cannot serve it.

    ``others`` maps argument names to the call's other array arguments.
    """
    check_device(device)
    if device in ("cpu", "auto") and isinstance(input, np.ndarray):
        # The common host call: nothing to look for unless an argument is
        # neither a NumPy array nor a number (a sparse target, a tensor).
        if all(_plainly_on_host(value) for value in others.values()):
            return False
    on_gpu = [name for name, value in others.items() if is_gpu_array(value)]
    input_on_gpu = is_gpu_array(input)
    if device == "cpu":
        name = "input" if input_on_gpu else (on_gpu[0] if on_gpu else None)
        if name is not None:
            raise ValueError(
                f'device="cpu" but {name} is a GPU array; fastmargin never copies '
                "GPU arrays to the host on its own: copy it to the host first, or "
                'use device="auto" or "cuda"'
            )
        return False
    if device == "auto" and not input_on_gpu:
        if on_gpu:
            raise ValueError(
                f"{on_gpu[0]} is a GPU array but input is on the host: move input "
                'to the GPU, or pass device="cuda" to copy the host arrays in'
            )
        return False
    raise_if_no_gpu()
    return True


def gpu_unavailable_reason():
    """Why no GPU path can run here, or None when one can."""
    if importlib.util.find_spec("numba_cuda") is None:
        return (
            "the numba-cuda package is not installed; install it with "
            "pip install \"fastmargin[cuda]\""
        )
    from numba import cuda

    if cuda.is_available():
        return None
    try:
        cuda.current_context()
    except Exception as error:  # the driver's own explanation
        detail = " ".join(str(error).split())
    else:  # pragma: no cover - is_available() and a context disagree
        detail = "numba.cuda.is_available() is False"
    return (
        f"no usable CUDA GPU ({detail}); fastmargin's GPU path needs an NVIDIA "
        "GPU with its driver, and numba-cuda with a CUDA 12 or 13 runtime "
        '(pip install "fastmargin[cuda]")'
    )


def raise_if_no_gpu():
    reason = gpu_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f'device="cuda" cannot run: {reason}')


class _Library(NamedTuple):
    """The caller's array library: where results are allocated, on which
    GPU and stream kernels run, and whether results go back to the host."""

    name: str  # "torch", "cupy", "numba" or "numpy" (host arrays, device="cuda")
    gpu: object  # a context manager selecting the caller's GPU
    stream: object  # a numba stream; None until the caller's GPU is selected
    torch_device: object  # the torch.device of a torch caller


def _library_of(input):
    """The caller's library and GPU (its stream comes with :func:`_on_gpu`)."""
    from numba import cuda

    module = type(input).__module__.split(".")[0]
    if module == "torch" and input.is_cuda:
        return _Library("torch", cuda.gpus[input.device.index], None, input.device)
    if module == "cupy":
        return _Library("cupy", cuda.gpus[input.device.id], None, None)
    if is_gpu_array(input):
        context = getattr(getattr(input, "gpu_data", None), "context", None)
        gpu = _CurrentGpu() if context is None else cuda.gpus[context.device.id]
        return _Library("numba", gpu, None, None)
    return _Library("numpy", _CurrentGpu(), None, None)


def _callers_stream(input, library):
    """The stream the caller's own work runs on, as a numba stream: PyTorch's
    or CuPy's current stream, a Numba array's own stream, else the
    per-thread default stream (never the legacy default stream of our own
    choice). Made once the caller's GPU is current."""
    from numba import cuda

    if library.name == "torch":
        import torch

        return cuda.external_stream(torch.cuda.current_stream(input.device).cuda_stream)
    if library.name == "cupy":
        import cupy

        with cupy.cuda.Device(input.device.id):
            return cuda.external_stream(cupy.cuda.get_current_stream().ptr)
    own = getattr(input, "stream", 0) if library.name == "numba" else 0
    return own if own else cuda.per_thread_default_stream()


@contextlib.contextmanager
def _on_gpu(input):
    """Select the caller's GPU, yield its library with the stream set, and
    silence numba's low-occupancy warning: a small batch gets a small grid on
    purpose (one block per row)."""
    from numba.cuda.core.errors import NumbaPerformanceWarning

    library = _library_of(input)
    with library.gpu, warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        yield library._replace(stream=_callers_stream(input, library))


class _CurrentGpu:
    """The GPU already current (Numba device arrays, host inputs)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _view(value, library, name):
    """A Numba device view of a GPU array (zero-copy), or a device copy of
    a host array (device="cuda"). Views never synchronise on the array's
    stream: the kernels run on the caller's stream, after its work."""
    from numba import cuda
    from numba.cuda.cudadrv.devicearray import is_cuda_ndarray

    if is_cuda_ndarray(value):
        return value
    if type(value).__module__.split(".")[0] == "torch":
        value = value.detach()  # read only: no autograd history to keep
    if hasattr(value, "__cuda_array_interface__"):
        return cuda.as_cuda_array(value, sync=False)
    if is_gpu_array(value):  # DLPack only: borrow a library that reads it
        for module in ("cupy", "torch"):
            if importlib.util.find_spec(module) is not None:
                borrowed = importlib.import_module(module).from_dlpack(value)
                return cuda.as_cuda_array(borrowed, sync=False)
        raise TypeError(
            f"{name} is a DLPack GPU array without __cuda_array_interface__; "
            "fastmargin reads it through CuPy or PyTorch, and neither is installed"
        )
    return _to_device(np.ascontiguousarray(host_array(value, name)), library)


def _to_device(host, library):
    """A device copy of a host array, allocated by the caller's library
    (numba's own ``to_device`` would cudaMalloc, and later free, each time)."""
    _, view = _empty(host.shape, host.dtype, library)
    if host.size:
        view.copy_to_device(host, stream=library.stream)
    return view


def _empty(shape, dtype, library):
    """``(result, view)``: a new GPU array of the caller's library and its
    Numba view."""
    from numba import cuda

    if library.name == "torch":
        import torch

        torch_dtype = getattr(torch, np.dtype(dtype).name)
        tensor = torch.empty(shape, dtype=torch_dtype, device=library.torch_device)
        return tensor, cuda.as_cuda_array(tensor, sync=False)
    if library.name == "cupy":
        import cupy

        array = cupy.empty(shape, dtype)
        return array, cuda.as_cuda_array(array, sync=False)
    array = cuda.device_array(shape, dtype, stream=library.stream)
    return array, array


def _allocator(library):
    """``allocate(shape, dtype)`` for the kernels' scratch: the caller's
    library's allocator (pooled by PyTorch and CuPy), a Numba view back."""
    return lambda shape, dtype: _empty(shape, dtype, library)[1]


def _to_library(result, library):
    """A result as the caller gets it: host arrays for host callers."""
    if library.name == "numpy":
        return result.copy_to_host(stream=library.stream)
    return result


class GpuBatch(NamedTuple):
    """A validated GPU call: the kernels' device inputs and outputs."""

    library: _Library
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


def _scores(input, library):
    """The scores as a C-contiguous float32/float64 (N, C) device array."""
    from ._frontend import _check_scores

    view = _view(input, library, "input")
    one_dimensional, scores_dtype = _check_scores(view.shape, np.dtype(view.dtype))
    shape = (1, view.shape[0]) if one_dimensional else tuple(view.shape)
    return _contiguous_2d(view, shape, scores_dtype, library), one_dimensional


def _label_rows(target, scores, one_dimensional, library, keep_indicator, target_format):
    """The target in the kernels' canonical form, on the device."""

    from . import _gpu_common

    n_rows, n_classes = scores.shape
    stream = library.stream
    if not is_gpu_array(target):
        rows = as_label_rows(
            target, n_rows, n_classes, one_dimensional, keep_indicator=keep_indicator,
            target_format=target_format,
        )
        indicator = rows.indicator
        return rows._replace(
            indptr=_to_device(rows.indptr, library),
            indices=_to_device(rows.indices, library),
            indicator=None if indicator is None else _to_device(indicator, library),
        )
    if scipy.sparse.issparse(target) or type(target).__module__.startswith("cupyx"):
        raise TypeError("a sparse target on the GPU is not supported: pass a scipy.sparse matrix")
    view = _view(target, library, "target")
    dtype = np.dtype(view.dtype)
    check_target_format(target_format)
    if is_indicator(view.shape, dtype, n_rows, n_classes, one_dimensional, target_format):
        if dtype != np.bool_:  # its values would need a check on the GPU
            raise TypeError(
                f"a GPU target read as an indicator must be bool, got dtype {dtype}: "
                "pass target.bool() (PyTorch) or target.astype(bool)"
            )
        indicator = _contiguous_2d(view, scores.shape, np.bool_, library)
        if keep_indicator:
            # The label lists are not read beside an indicator: placeholders.
            return LabelRows(
                _empty((n_rows + 1,), np.int64, library)[1],
                _empty((0,), np.int64, library)[1],
                False, 0, indicator, None, False,
            )
        _, labels = _empty(scores.shape, np.int64, library)
        _gpu_common.launch_flat(
            _gpu_common.labels_from_indicator, n_rows, stream, indicator, labels
        )
        return _padded(labels, n_classes, library, may_be_indicator=False)
    width = view.shape[view.ndim - 1]
    shape = (n_rows, width)
    index_dtype = dtype if dtype in (np.int32, np.int64) else np.dtype(np.int64)
    indices = _contiguous_2d(view, shape, index_dtype, library)
    may_be_indicator = target_format == "auto" and tuple(view.shape) == (
        (n_classes,) if one_dimensional else (n_rows, n_classes)
    )
    return _padded(indices, width, library, may_be_indicator)


def _contiguous_2d(view, shape, dtype, library):
    """``view`` (any strides; shape ``shape``, or its 1-D form for one row)
    as a C-contiguous array of ``shape`` and ``dtype``, copied only if needed."""
    from . import _gpu_common

    if np.dtype(view.dtype) == dtype and view.is_c_contiguous():
        return view.reshape(shape)
    if view.ndim == 1:
        _, copy = _empty(view.shape, dtype, library)
        kernel = _gpu_common.copy_cast
    else:
        _, copy = _empty(shape, dtype, library)
        kernel = _gpu_common.copy_rows
    if copy.size:
        _gpu_common.launch_flat(kernel, view.shape[0] if view.ndim == 1 else copy.size,
                                library.stream, view, copy)
    return copy.reshape(shape)


def _padded(indices, width, library, may_be_indicator):
    """LabelRows of a C-contiguous (N, K) padded index array on the device."""
    from . import _gpu_common

    n_rows = indices.shape[0]
    _, indptr = _empty((n_rows + 1,), np.int64, library)
    _gpu_common.launch_flat(
        _gpu_common.fill_padded_indptr, n_rows + 1, library.stream, indptr, width
    )
    return LabelRows(indptr, indices.reshape(-1), True, width, None, None, may_be_indicator)


def _gradient_scale(grad_output, reduction, n_rows, loss_divisor, one_dimensional, library):
    """The kernels' per-row gradient factor (float64 (N,)) on the device,
    with the CPU's checks and the CPU's arithmetic."""

    from . import _frontend, _gpu_common

    if not is_gpu_array(grad_output):
        scale = _frontend._gradient_scale(
            grad_output, reduction, n_rows, loss_divisor, one_dimensional
        )
        return _to_device(np.ascontiguousarray(scale), library)
    weights = _view(grad_output, library, "grad_output")
    _frontend._check_grad_output(
        weights.shape, np.dtype(weights.dtype), reduction, n_rows, one_dimensional
    )
    weights = _contiguous_2d(weights, (max(weights.size, 1),), weights.dtype, library)
    _, scale = _empty((n_rows,), np.float64, library)
    divisor = float(_frontend._gradient_divisor(reduction, n_rows, loss_divisor))
    if n_rows:
        _gpu_common.launch_flat(
            _gpu_common.divide_weights, n_rows, library.stream, weights, divisor, scale
        )
    return scale


def _gradient_destination(out, scores, one_dimensional, inputs, library):
    """Check a caller's ``out``; return (the kernel's (N, C) view, result).
    ``inputs`` maps each argument's name to the arrays it stands for (the
    caller's object and what the kernel reads of it).

    Host callers (device="cuda") give a NumPy ``out``, checked as on the CPU;
    the kernel writes a device buffer that :func:`finish` copies into it.
    """
    if library.name == "numpy":
        from ._frontend import _gradient_destination as check_host_out

        check_host_out(out, scores, one_dimensional, inputs)
        return _empty(scores.shape, scores.dtype, library)[1], out
    if not is_gpu_array(out):
        raise TypeError(
            f"out must be a GPU array when the call runs on the GPU, got {type(out).__name__}"
        )
    from ._frontend import _check_out_layout

    view = _view(out, library, "out")
    _check_out_layout(
        view.shape, np.dtype(view.dtype), view.is_c_contiguous(), scores, one_dimensional
    )
    span = _span(out)
    for name, values in inputs.items():
        for value in values:
            other = _span(value)
            if span and other and span[0] < other[1] and other[0] < span[1]:
                raise ValueError(f"out must not share memory with {name}")
    return view.reshape(scores.shape), out


def _span(value):
    """``(first, last + 1)`` byte addresses of a GPU array, when it says."""
    if type(value).__module__.split(".")[0] == "torch":
        value = value.detach()
    interface = getattr(value, "__cuda_array_interface__", None)
    if interface is None:
        return None
    start = interface["data"][0]
    itemsize = np.dtype(interface["typestr"]).itemsize
    shape = interface["shape"]
    if 0 in shape:
        return None
    strides = interface.get("strides") or np.cumprod((itemsize,) + tuple(shape[:0:-1]))[::-1]
    extent = sum((n - 1) * abs(stride) for n, stride in zip(shape, strides)) + itemsize
    low = start + sum((n - 1) * stride for n, stride in zip(shape, strides) if stride < 0)
    return low, low + extent


def prepare(
    input, target, reduction, normalize, grad_output, with_grad, out, library, *,
    keep_indicator, target_format,
):
    """The GPU ``_prepare``: validated device inputs and allocated outputs."""
    scores, one_dimensional = _scores(input, library)
    n_rows, n_classes = scores.shape
    rows = _label_rows(
        target, scores, one_dimensional, library, keep_indicator, target_format
    )
    from ._frontend import _check_reduction, _loss_divisor

    _check_reduction(reduction)
    loss_divisor = _loss_divisor(normalize, n_classes)
    grad = grad_scale = grad_result = None
    if with_grad:
        grad_scale = _gradient_scale(
            grad_output, reduction, n_rows, loss_divisor, one_dimensional, library
        )
        if out is None:
            shape = (n_classes,) if one_dimensional else (n_rows, n_classes)
            grad_result, grad = _empty(shape, scores.dtype, library)
            grad = grad.reshape(scores.shape)
        else:
            inputs = {
                "input": (input, scores),
                "target": (target, rows.indptr, rows.indices, rows.indicator),
                "grad_output": (grad_output,),
            }
            grad, grad_result = _gradient_destination(
                out, scores, one_dimensional, inputs, library
            )
    loss = _empty((n_rows,), np.float64, library)[1]
    status = _empty((n_rows,), np.int64, library)[1]
    return GpuBatch(
        library, scores, one_dimensional, rows, target, loss_divisor, loss, status, grad,
        grad_scale, grad_result,
    )


def finish(batch, reduction):
    """The GPU ``_finish``: raise for bad targets, warn, reduce; results as
    the caller's library holds them."""

    from . import _gpu_common

    library, scores = batch.library, batch.scores
    n_rows = scores.shape[0]
    if n_rows:
        summary = _to_device(np.array([n_rows, -(2**62)], np.int64), library)
        _gpu_common.launch_flat(
            _gpu_common.summarise_status, n_rows, library.stream, batch.status, summary
        )
        first_bad, largest = summary.copy_to_host(stream=library.stream)
        library.stream.synchronize()  # the one wait: the two integers are read now
        if first_bad < n_rows:
            _raise_for_bad_target(batch)
        raise_if_ambiguous(batch.rows, largest)
    loss = _reduce(batch.loss, reduction, scores.dtype, batch.one_dimensional, library)
    grad = batch.grad_result
    if isinstance(grad, np.ndarray):  # a host caller's out
        batch.grad.copy_to_host(grad.reshape(scores.shape), stream=library.stream)
    elif grad is not None:
        grad = _to_library(grad, library)
    return loss, grad


def _raise_for_bad_target(batch):
    """Raise the CPU's ValueError for the first bad entry (copies the status
    and the target to the host: an error path)."""
    library = batch.library
    target = batch.host_target
    if is_gpu_array(target):
        target = _view(target, library, "target").copy_to_host(stream=library.stream)
    n_rows, n_classes = batch.scores.shape
    rows = as_label_rows(
        target, n_rows, n_classes, batch.one_dimensional, keep_indicator=False,
        target_format="indices",  # only index targets have bad entries
    )
    status = batch.status.copy_to_host(stream=library.stream)
    raise_for_bad_rows(status.max(), status, rows, n_classes, batch.one_dimensional)


def _reduce(row_losses, reduction, dtype, one_dimensional, library):
    """The GPU ``_reduce``: fixed order, the caller's library's arrays; a
    "mean"/"sum" result is a 0-d GPU array (a NumPy scalar for host inputs)."""
    from . import _gpu_common

    stream = library.stream
    n_rows = row_losses.shape[0]
    if reduction == "none":
        result, view = _empty((n_rows,), dtype, library)
        if n_rows:
            _gpu_common.launch_flat(_gpu_common.copy_cast, n_rows, stream, row_losses, view)
        if one_dimensional:
            result = result.reshape(())
        return _to_library(result, library)
    result, view = _empty((1,), dtype, library)
    if n_rows:
        divisor = float(n_rows) if reduction == "mean" else 1.0
        _gpu_common.reduce_rows[1, _gpu_common.REDUCE_THREADS, stream](
            row_losses, divisor, view
        )
    else:
        _gpu_common.fill[1, 1, stream](view, np.nan if reduction == "mean" else 0.0)
    if library.name == "numpy":
        return dtype.type(view.copy_to_host(stream=stream)[0])
    return result.reshape(())


def ranking(
    input, target, margin, reduction, normalize, grad_output, with_grad, out, target_format
):
    """The ranking loss on the GPU (the front end's ``_ranking``)."""
    from ._frontend import _check_margin
    from ._gpu_ranking import launch_ranking

    with _on_gpu(input) as library:
        batch = prepare(
            input, target, reduction, normalize, grad_output, with_grad, out, library,
            keep_indicator=False, target_format=target_format,
        )
        margin = _check_margin(margin, np.dtype(batch.scores.dtype))
        rows = batch.rows
        if batch.scores.shape[0]:
            launch_ranking(
                batch.scores, rows.indptr, rows.indices, rows.padded, rows.width, margin,
                batch.loss_divisor, batch.loss, batch.status, batch.grad, batch.grad_scale,
                library.stream,
                allocate=_allocator(library),
            )
        return finish(batch, reduction)


def hinge(
    input, target, margin, squared, reduction, normalize, grad_output, with_grad, out,
    label_sums, target_format,
):
    """The per-label hinge on the GPU (the front end's ``_hinge``).

    ``label_sums``: None, or the number of row blocks whose per-label sums
    are wanted; they come back as a host float64 (blocks, C) array, the
    third result.
    """

    from ._frontend import _check_flag, _label_margins
    from ._gpu_hinge import launch_hinge

    with _on_gpu(input) as library:
        batch = prepare(
            input, target, reduction, normalize, grad_output, with_grad, out, library,
            keep_indicator=True, target_format=target_format,
        )
        n_rows, n_classes = batch.scores.shape
        dtype = np.dtype(batch.scores.dtype)
        if is_gpu_array(margin):  # C values, checked on the host like any margin
            margin = _view(margin, library, "margin").copy_to_host(stream=library.stream)
        margins = _to_device(_label_margins(margin, n_classes, dtype), library)
        squared = _check_flag(squared, "squared")
        sums = None
        if label_sums is not None:
            sums = _to_device(np.zeros((label_sums, n_classes)), library)
        rows = batch.rows
        if n_rows:
            launch_hinge(
                batch.scores, rows.indptr, rows.indices, rows.padded, rows.width,
                rows.indicator, margins, squared, batch.loss_divisor, batch.loss,
                batch.status, batch.grad, batch.grad_scale, sums, library.stream,
                allocate=_allocator(library),
            )
        loss, grad = finish(batch, reduction)
        if sums is None:
            return loss, grad
        return loss, grad, sums.copy_to_host(stream=library.stream)
