"""The GPU path: numba-cuda kernels and the host code that launches them.

Nothing here is imported unless a call runs on the GPU, except this
package's own module, which never imports numba.cuda at import time.
"""

import importlib.util


def gpu_unavailable_reason():
    """Why no GPU path can run here, or None when one can."""
    if importlib.util.find_spec("numba_cuda") is None:
        return (
            "the numba-cuda package is not installed; install it with "
            'pip install "fastmargin[cuda]"'
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
