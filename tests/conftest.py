"""Shared pytest configuration: hypothesis profiles.

"default" is used for ordinary runs. "nojit" is loaded automatically when the
suite runs with ``NUMBA_DISABLE_JIT=1``: the kernels then execute as plain
Python (so that an out-of-bounds index raises instead of reading garbage),
which is slow, so property tests draw far fewer examples.
"""

import os
import sys
import warnings
from pathlib import Path

from hypothesis import HealthCheck, settings

# When a property test fails, hypothesis's pytest plugin imports its patch
# writer, which imports libcst, which triggers a DeprecationWarning from
# mypy_extensions at import time; with filterwarnings=error that turns the
# failure report into a pytest INTERNALERROR. Import it once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except Exception:  # optional dependency missing: nothing to pre-import
        pass

NOJIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nojit",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("nojit" if NOJIT else "default")

# tests/gpu_sim/ runs the GPU kernels under Numba's CUDA simulator, which
# must be switched on before numba.cuda is first imported: gpu/test_device.py
# runs that directory in its own pytest process with NUMBA_ENABLE_CUDASIM=1
# (and fails when it fails); an ordinary run does not collect it a second
# time. support/ holds the tests' helpers (the NumPy references, target
# forms, the GPU kernels' signatures) and compile_gpu_kernels.py, a script
# that gpu/test_device.py runs in a process of its own (it patches
# numba-cuda), never to be imported for doctests.
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
collect_ignore = ["support"] + ([] if SIMULATOR else ["gpu_sim"])
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
