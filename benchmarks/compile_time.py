"""First-call times in fresh interpreters, with a cold and with a warm
numba cache: what compiling costs, and whether ``cache=True`` hits.

- Each default variant (ranking and hinge, fused and loss-only, float32
  scores, int64 targets of a few labels per row) is called first in a new
  ``python`` process with an empty cache directory (cold: it compiles what
  that call runs), then in another process with that directory (warm: it
  loads). The times are of the first call alone, after ``import fastmargin``.
- Every variant together: :func:`fastmargin.precompile` of every loss, score
  dtype and target form (rows of few and many targets and of infinite scores
  included, so every kernel path), into an empty cache, timed with its
  worker processes in parallel (wall time) and, for the total work, in one
  process.

Run: ``python benchmarks/compile_time.py``.
"""

import os
import subprocess
import sys
import tempfile
import textwrap

# One default variant's first call; prints its seconds.
_FIRST_CALL = textwrap.dedent(
    """
    import time
    import numpy as np
    import fastmargin
    scores = np.random.default_rng(0).standard_normal((64, 100)).astype(np.float32)
    target = np.array([[1, 7, 30, -1]] * 64)
    call = {call}
    start = time.perf_counter()
    call(scores, target)
    print(time.perf_counter() - start)
    """
)
DEFAULT_VARIANTS = {
    "ranking, fused": "fastmargin.multilabel_margin_loss_and_grad",
    "ranking, loss only": "fastmargin.multilabel_margin_loss",
    "hinge, fused": "fastmargin.multilabel_hinge_loss_and_grad",
    "hinge, loss only": "fastmargin.multilabel_hinge_loss",
}
_EVERY_VARIANT = textwrap.dedent(
    """
    import time
    from fastmargin import _precompile
    start = time.perf_counter()
    {how}
    print(time.perf_counter() - start)
    """
)
_IN_PARALLEL = (
    "_precompile.precompile(dtypes=_precompile.DTYPES, targets=_precompile.TARGETS)"
)
_IN_ONE_PROCESS = (
    "[_precompile.run_variant(*v) for v in "
    "_precompile.variants(dtypes=_precompile.DTYPES, targets=_precompile.TARGETS)]"
)


def seconds(code, cache_dir):
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    environment.pop("NUMBA_DISABLE_JIT", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True,
        check=True,
    )
    return float(result.stdout.split()[-1])


def main():
    print("| first call of | cold cache (s) | warm cache (s) |")
    print("|---|---|---|")
    for name, call in DEFAULT_VARIANTS.items():
        code = _FIRST_CALL.format(call=call)
        with tempfile.TemporaryDirectory() as cache_dir:
            cold = seconds(code, cache_dir)
            warm = seconds(code, cache_dir)
        print(f"| {name} | {cold:.2f} | {warm:.3f} |", flush=True)
    for name, how in (
        ("every variant, precompile (parallel workers)", _IN_PARALLEL),
        ("every variant, one process", _IN_ONE_PROCESS),
    ):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold = seconds(_EVERY_VARIANT.format(how=how), cache_dir)
            warm = seconds(_EVERY_VARIANT.format(how=how), cache_dir)
        print(f"| {name} | {cold:.1f} | {warm:.2f} |", flush=True)


if __name__ == "__main__":
    main()
