"""asv benchmark of the first call in a fresh interpreter: ``import
fastmargin`` and one fused ranking call, as ``benchmarks/compile_time.py``
measures it, with a cold and with a warm on-disk numba cache.

Each timing sample is a new ``python`` process (asv's ``timeraw_``). The
numba cache lives in a temporary directory (``NUMBA_CACHE_DIR``), never in
the installed package's own ``__pycache__``:

- cold: a fresh empty directory, made inside the timed process before
  anything is imported (untimed), so every sample compiles from scratch;
- warm: a directory filled once per benchmark process by an untimed priming
  interpreter, then only read.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

# Timed, in the child: what a user's first call costs.
_FIRST_CALL = """
import numpy as np
import fastmargin
scores = np.zeros((4, 10), np.float32)
targets = np.array([[1, 2, -1]] * 4)
fastmargin.multilabel_margin_loss_and_grad(scores, targets)
"""

# Untimed, in the child, before the statement: where numba's cache goes.
# numba reads NUMBA_CACHE_DIR when it is first imported.
_COLD_CACHE = """
import atexit, os, shutil, tempfile
_cache_dir = tempfile.mkdtemp(prefix="fastmargin-asv-numba-cold-")
atexit.register(shutil.rmtree, _cache_dir, True)
os.environ["NUMBA_CACHE_DIR"] = _cache_dir
"""

_WARM_CACHE = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache_dir!r}
"""

_warm_cache_dir = None


def _primed_cache_dir():
    """A numba cache directory holding the first call's kernels: made and
    filled once per process (asv may re-run setup before every sample)."""
    global _warm_cache_dir
    if _warm_cache_dir is None:
        cache_dir = tempfile.mkdtemp(prefix="fastmargin-asv-numba-warm-")
        atexit.register(shutil.rmtree, cache_dir, True)
        subprocess.run(
            [sys.executable, "-c", _FIRST_CALL],
            env=dict(os.environ, NUMBA_CACHE_DIR=cache_dir),
            check=True,
            capture_output=True,
        )
        _warm_cache_dir = cache_dir
    return _warm_cache_dir


class FirstCall:
    """Seconds from a fresh interpreter's ``import numpy, fastmargin`` to the
    end of its first fused call (float32 scores, int64 targets)."""

    params = ("cold", "warm")
    param_names = ("numba_cache",)
    # A cold sample compiles every kernel the call needs (about 15 s on the
    # project's 2-core machine): few samples, one process, no warm-up runs.
    number = 1
    repeat = (1, 3, 60.0)
    rounds = 1
    warmup_time = 0.0
    timeout = 600

    def setup(self, numba_cache):
        if numba_cache == "warm":
            self.cache_setup = _WARM_CACHE.format(cache_dir=_primed_cache_dir())
        else:
            self.cache_setup = _COLD_CACHE

    def timeraw_import_and_first_call(self, numba_cache):
        return _FIRST_CALL, self.cache_setup
