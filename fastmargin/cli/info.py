"""What the machine offers fastmargin, and the ``info`` command: versions,
CPU, threads, numba's threading layer, where numba caches fastmargin's
kernels, and whether a GPU is usable (and why not).
"""

import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import sys
from pathlib import Path

import numba
import numpy as np

from .. import __version__, _threads
from ..kernels import options
from ..kernels.hinge import hinge_rows
from .timing import cpu_name


def installed_version(distribution):
    """The installed version of a distribution.

    Parameters
    ----------
    distribution : str
        Its name on PyPI, such as "numba-cuda".

    Returns
    -------
    str or None
        None when it is not installed.
    """
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def gpu_status():
    """Whether a GPU is usable, and which, or why not.

    numba.cuda is imported only when the numba-cuda package is installed;
    any failure is reported, not raised.

    Returns
    -------
    usable : bool
    description : str
        The GPU's name and compute capability, or one line saying why none
        is usable.
    """
    if installed_version("numba-cuda") is None:
        return False, "numba-cuda not installed"
    try:
        from numba import cuda

        if not cuda.is_available():
            return False, "no CUDA driver or no GPU (numba.cuda.is_available() is False)"
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        capability = ".".join(map(str, device.compute_capability))
        return True, f"{name} (compute capability {capability})"
    except Exception as error:  # a broken driver, a missing library: say so
        first_line = (str(error).strip().splitlines() or [""])[0]
        return False, f"CUDA not usable: {type(error).__name__}: {first_line}"


def _cache_folder(kernel):
    """The folder in which numba caches ``kernel`` (a ``cache=True``
    dispatcher).

    numba has no public call for this. Its documented rules (NUMBA_CACHE_DIR
    when set, else ``__pycache__`` beside the source when writable, else a
    user-wide folder) do not name the folder: under NUMBA_CACHE_DIR and in
    the user-wide cache it is a hashed subfolder, and whether the source's
    folder is writable numba finds out by writing there. So this is the one
    place that asks numba's own cache class (numba.core.caching, outside
    numba's public API), as the dispatcher does.
    """
    from numba.core.caching import FunctionCache

    return FunctionCache(kernel.py_func).cache_path


def _numba_cache():
    """``(path or None, description)``: where numba caches fastmargin's
    kernels, and why there."""
    if numba.config.DISABLE_JIT:
        return None, "JIT disabled (NUMBA_DISABLE_JIT=1): nothing is compiled or cached"
    if not options.CACHE:
        return None, "off (FASTMARGIN_CACHE=0): each process compiles the kernels it calls"
    try:
        path = _cache_folder(hinge_rows)
    except (ImportError, AttributeError):  # numba's internals moved
        if numba.config.CACHE_DIR:
            return numba.config.CACHE_DIR, "NUMBA_CACHE_DIR"
        return None, "unknown (numba's cache internals are not where expected)"
    source = inspect.getfile(hinge_rows.py_func)
    if path == os.path.join(os.path.dirname(source), "__pycache__"):
        how = "__pycache__ next to fastmargin's source files"
    elif numba.config.CACHE_DIR and path.startswith(numba.config.CACHE_DIR):
        how = "NUMBA_CACHE_DIR"
    elif ".zip" in source:
        how = "numba's cache for packages inside a zip file"
    else:
        how = "numba's user-wide cache: fastmargin's own folder is not writable"
    cached = len(list(Path(path).glob("*.nbi"))) if os.path.isdir(path) else 0
    return path, f"{how}; {cached} kernel index files"


# numba threading layers that are unsafe for numba's own parallel code, and
# why (fastmargin runs on its own threads and is safe under any of them).
_UNSAFE_LAYERS = {
    "omp": "GNU OpenMP: a process forked after a parallel call dies",
    "workqueue": "aborts when two Python threads run parallel code at once",
}


def _numba_layer():
    """``(layer, started)``: numba's threading layer for parallel numba code
    in this process, started or (without starting it) the one numba would
    pick: the configured one, else the first of tbb, omp and workqueue that
    loads. fastmargin itself never runs on it."""
    try:
        return numba.threading_layer(), True
    except ValueError:  # no parallel numba code has run in this process
        pass
    configured = numba.config.THREADING_LAYER
    if configured != "default":  # a layer, or a kind (safe, forksafe, ...)
        return configured, False
    for layer in ("tbb", "omp", "workqueue"):
        try:
            importlib.import_module(f"numba.np.ufunc.{layer}pool")
        except ImportError:
            continue
        return layer, False
    return None, False


def machine_info(bandwidth=None):
    """Versions, CPU, threads, GPU and cache of this machine.

    Parameters
    ----------
    bandwidth : float, optional
        The copy bandwidth in bytes per second, when measured.

    Returns
    -------
    dict
        Printable as JSON.
    """
    layer, layer_started = _numba_layer()
    gpu_usable, gpu = gpu_status()
    cache_path, cache_how = _numba_cache()
    info = {
        "fastmargin": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "scipy": installed_version("scipy"),
        "llvmlite": installed_version("llvmlite"),
        "numba-cuda": installed_version("numba-cuda"),
        "torch": installed_version("torch"),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numba_threads": _threads.thread_count(),
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading": "fastmargin's own threads (fork-safe, thread-safe)",
        "threading_layer": layer,
        "threading_layer_started": layer_started,
        "threading_layer_warning": _UNSAFE_LAYERS.get(layer),
        "gpu_usable": gpu_usable,
        "gpu": gpu,
        "numba_cache_dir": cache_path,
        "numba_cache": cache_how,
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    if bandwidth is not None:
        info["copy_bandwidth_gb_s"] = bandwidth / 1e9
    return info


def _info_lines(info):
    def version(name):
        return info[name] or "not installed"

    threads = (
        f"{info['numba_threads']} threads, {info['threading']}; at most "
        f"{info['numba_max_threads']} (numba.set_num_threads, NUMBA_NUM_THREADS), "
        f"{info['cpu_count']} CPUs"
    )
    layer = info["threading_layer"] or "none"
    layer += "" if info["threading_layer_started"] else " (not started)"
    if info["threading_layer_warning"]:
        layer += (
            f"; warning: unsafe for your own parallel numba code: "
            f"{info['threading_layer_warning']} (pip install tbb for the safe TBB layer)"
        )
    rows = [
        ("fastmargin", info["fastmargin"]),
        ("numba", info["numba"]),
        ("numpy", info["numpy"]),
        ("scipy", version("scipy")),
        ("llvmlite", version("llvmlite")),
        ("numba-cuda", version("numba-cuda")),
        ("torch", version("torch") + ("" if info["torch"] is None else " (for comparisons)")),
        ("python", f"{info['python']} on {info['platform']}"),
        ("cpu", f"{info['cpu']} ({info['machine']})"),
        ("threads", threads),
        ("numba layer", layer + "; fastmargin does not use it"),
        ("gpu", info["gpu"] if info["gpu_usable"] else f"none: {info['gpu']}"),
        ("numba cache", f"{info['numba_cache_dir'] or '-'} ({info['numba_cache']})"),
    ]
    width = max(len(key) for key, _ in rows)
    return [f"{key:<{width}}  {value}" for key, value in rows]


def short_info(info):
    """The one line printed before the default benchmark.

    Parameters
    ----------
    info : dict
        As :func:`machine_info` returns.

    Returns
    -------
    str
    """
    gpu = info["gpu"] if info["gpu_usable"] else f"none ({info['gpu']})"
    return (
        f"fastmargin {info['fastmargin']}, numba {info['numba']}, numpy {info['numpy']}; "
        f"{info['numba_threads']} threads (fastmargin's own); GPU: {gpu}"
    )


def command_info(args):
    """The ``info`` command.

    Parameters
    ----------
    args : argparse.Namespace
        Its parsed arguments (``json``).

    Returns
    -------
    int
        The exit status, 0.
    """
    info = machine_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n".join(_info_lines(info)))
    return 0
