"""Shared pytest configuration: hypothesis profiles.

"default" is used for ordinary runs. "nojit" is loaded automatically when the
suite runs with ``NUMBA_DISABLE_JIT=1``: the kernels then execute as plain
Python (so that an out-of-bounds index raises instead of reading garbage),
which is slow, so property tests draw far fewer examples.
"""

import os
import warnings

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
