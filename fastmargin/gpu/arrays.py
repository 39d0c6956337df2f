"""GPU arrays of the caller's library (PyTorch, CuPy, Numba, or NumPy
arrays copied in with device="cuda"): zero-copy Numba views of them, new
arrays allocated by that library (so results come back as its arrays), its
GPU and its current stream.
"""

import contextlib
import importlib
import importlib.util
import warnings
from typing import NamedTuple

import numpy as np
from numba import cuda

from .._checks import host_array, is_gpu_array, library_name
from .._targets import LabelRows
from . import common


class Library(NamedTuple):
    """The caller's array library: where results are allocated, on which
    GPU and stream kernels run, and whether results go back to the host."""

    name: str  # "torch", "cupy", "numba" or "numpy" (host arrays, device="cuda")
    gpu: object  # a context manager selecting the caller's GPU
    stream: object  # a numba stream; None until the caller's GPU is selected
    torch_device: object  # the torch.device of a torch caller


def library_of(input):
    """The caller's library and GPU (its stream comes with :func:`on_gpu`)."""
    module = library_name(input)
    if module == "torch" and input.is_cuda:
        return Library("torch", cuda.gpus[input.device.index], None, input.device)
    if module == "cupy":
        return Library("cupy", cuda.gpus[input.device.id], None, None)
    if is_gpu_array(input):
        context = getattr(getattr(input, "gpu_data", None), "context", None)
        gpu = contextlib.nullcontext() if context is None else cuda.gpus[context.device.id]
        return Library("numba", gpu, None, None)
    return Library("numpy", contextlib.nullcontext(), None, None)


def _callers_stream(input, library):
    """The stream the caller's own work runs on, as a numba stream: PyTorch's
    or CuPy's current stream, a Numba array's own stream, else the
    per-thread default stream (never the legacy default stream of our own
    choice). Made once the caller's GPU is current."""
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
def on_gpu(input):
    """Select the caller's GPU, yield its library with the stream set, and
    silence numba's low-occupancy warning: a small batch gets a small grid on
    purpose (one block per row)."""
    from numba.cuda.core.errors import NumbaPerformanceWarning

    library = library_of(input)
    with library.gpu, warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        yield library._replace(stream=_callers_stream(input, library))


def device_view(value, library, name):
    """A Numba device view of a GPU array (zero-copy), or a device copy of
    a host array (device="cuda"). Views never synchronise on the array's
    stream: the kernels run on the caller's stream, after its work."""
    from numba.cuda.cudadrv.devicearray import is_cuda_ndarray

    if is_cuda_ndarray(value):
        return value
    if library_name(value) == "torch":
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
    return to_device(np.ascontiguousarray(host_array(value, name)), library)


def to_device(host, library):
    """A device copy of a host array, allocated by the caller's library
    (numba's own ``to_device`` would cudaMalloc, and later free, each time)."""
    _, view = new_array(host.shape, host.dtype, library)
    if host.size:
        view.copy_to_device(host, stream=library.stream)
    return view


def new_array(shape, dtype, library):
    """``(result, view)``: a new GPU array of the caller's library and its
    Numba view."""
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


def allocator(library):
    """``allocate(shape, dtype)`` for the kernels' scratch: the caller's
    library's allocator (pooled by PyTorch and CuPy), a Numba view back."""
    return lambda shape, dtype: new_array(shape, dtype, library)[1]


def to_library(result, library):
    """A result as the caller gets it: host arrays for host callers."""
    if library.name == "numpy":
        return result.copy_to_host(stream=library.stream)
    return result


def byte_span(value):
    """``(first, last + 1)`` byte addresses of a GPU array, when it says."""
    if library_name(value) == "torch":
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


def contiguous_2d(view, shape, dtype, library):
    """``view`` (any strides; shape ``shape``, or its 1-D form for one row)
    as a C-contiguous array of ``shape`` and ``dtype``, copied only if needed."""
    if np.dtype(view.dtype) == dtype and view.is_c_contiguous():
        return view.reshape(shape)
    if view.ndim == 1:
        _, copy = new_array(view.shape, dtype, library)
        kernel = common.copy_cast
    else:
        _, copy = new_array(shape, dtype, library)
        kernel = common.copy_rows
    if copy.size:
        common.launch_flat(
            kernel, view.shape[0] if view.ndim == 1 else copy.size, library.stream, view, copy
        )
    return copy.reshape(shape)


def padded_rows(indices, width, library, may_be_indicator):
    """LabelRows of a C-contiguous (N, K) padded index array on the device."""
    n_rows = indices.shape[0]
    _, indptr = new_array((n_rows + 1,), np.int64, library)
    common.launch_flat(common.fill_padded_indptr, n_rows + 1, library.stream, indptr, width)
    return LabelRows(indptr, indices.reshape(-1), True, width, None, None, may_be_indicator)
