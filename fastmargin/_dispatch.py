"""Where a call runs: the CPU (``_host``) or the GPU (``gpu.host``).

``device="auto"`` runs on the GPU when ``input`` is a GPU array (anything
with ``__cuda_array_interface__``, or DLPack on a CUDA device: Numba device
arrays, CuPy arrays, PyTorch CUDA tensors) and on the CPU otherwise;
``"cuda"`` also copies host arrays in and returns NumPy results; ``"cpu"``
never copies a GPU array to the host. numba.cuda is imported only when a
call runs on the GPU.
"""

import numpy as np

from . import _host
from ._checks import check_device, is_gpu_array


def runs_on_gpu(device, input, others):
    """Decide where a call runs; raise for a device that cannot serve it.

    ``others`` maps argument names to the call's other array arguments.
    """
    check_device(device)
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
    from .gpu import raise_if_no_gpu

    raise_if_no_gpu()
    return True


def _plainly_on_host(device, input, values):
    """The common host call, told apart cheaply: a NumPy input, and every
    other array argument a NumPy array, a number or None (nothing that
    could live on the GPU)."""
    if device not in ("cpu", "auto") or not isinstance(input, np.ndarray):
        return False
    for value in values:
        if not (value is None or isinstance(value, (np.ndarray, float, int))):
            return False
    return True


def _runner(call, device, others):
    """The module that runs ``call``: ``_host``, or ``gpu.host`` when
    ``device`` and the arrays say so. ``others``: the call's other array
    arguments that could live on the GPU, by name."""
    if runs_on_gpu(device, call.input, others):
        from .gpu import host

        return host
    return _host


def ranking(call, device):
    """Run the ranking loss where ``device`` says: ``(loss, grad or None)``."""
    if _plainly_on_host(device, call.input, (call.target, call.grad_output, call.out)):
        return _host.ranking(call)
    others = {"target": call.target, "grad_output": call.grad_output, "out": call.out}
    return _runner(call, device, others).ranking(call)


def hinge(call, device):
    """Run the per-label hinge where ``device`` says: ``(loss, grad or
    None)``."""
    values = (call.target, call.grad_output, call.out, call.margin)
    if _plainly_on_host(device, call.input, values):
        return _host.hinge(call)
    others = dict(zip(("target", "grad_output", "out", "margin"), values))
    return _runner(call, device, others).hinge(call)
