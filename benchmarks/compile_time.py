"""First-call time in a fresh interpreter, with a cold and with a warm on-disk
numba cache: shows whether ``cache=True`` hits.

Run: ``python benchmarks/compile_time.py``. Each measurement is a new
``python`` process whose numba cache lives in a temporary directory; the
first process fills it, the second reads it.
"""

import os
import subprocess
import sys
import tempfile

_FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np
import fastmargin
scores = np.zeros((4, 10), np.float32)
targets = np.array([[1, 2, -1]] * 4)
fastmargin.multilabel_margin_loss_and_grad(scores, targets)
print(time.perf_counter() - start)
"""


def first_call_seconds(cache_dir):
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = first_call_seconds(cache_dir)
        warm = first_call_seconds(cache_dir)
    print(f"import + first fused call, cold cache: {cold:.2f} s")
    print(f"import + first fused call, warm cache: {warm:.2f} s")


if __name__ == "__main__":
    main()
