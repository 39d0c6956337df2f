"""First-call times in fresh interpreters, with a cold and with a warm
numba cache: what compiling costs, and whether ``cache=True`` hits.

- Each default variant (ranking and hinge, fused and loss-only, float32
  scores, int64 targets of a few labels per row) is called first in a new
  ``python`` process with an empty cache directory (cold: it compiles what
  that call runs), then in another process with that directory (warm: it
  loads), three times over. The times are of the first call alone, after
  ``import fastmargin``.
- Every variant together, on common rows (a few targets, finite scores): each
  loss's every entry point, score dtype and target form called once in one
  process with an empty cache, as a program touching all of them would.
- Every kernel path of every variant: :func:`fastmargin.precompile` of every
  loss, score dtype and target form (rows of many targets and of infinite
  scores too), into an empty cache: its wall time (one worker process per
  loss, in parallel) and each worker's seconds.

Run: ``python benchmarks/compile_time.py``.
"""

import os
import statistics
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
# Cold first calls vary by a second or more on a shared machine.
REPEAT = 3
DEFAULT_VARIANTS = {
    "ranking, fused": "fastmargin.multilabel_margin_loss_and_grad",
    "ranking, loss only": "fastmargin.multilabel_margin_loss",
    "hinge, fused": "fastmargin.multilabel_hinge_loss_and_grad",
    "hinge, loss only": "fastmargin.multilabel_hinge_loss",
}
# Every variant: prints the wall time, then each loss's worker seconds.
_EVERY_VARIANT = textwrap.dedent(
    """
    import time
    from fastmargin import _precompile
    start = time.perf_counter()
    workers = _precompile.precompile(dtypes=_precompile.DTYPES, targets=_precompile.TARGETS)
    print(" ".join(f"{loss}={seconds}" for loss, seconds in sorted(workers.items())))
    print(time.perf_counter() - start)
    """
)


# Every variant on common rows (a few targets, finite scores), one process:
# what a program that touches every entry point, dtype and target form
# waits for in all.
_COMMON_ROWS = textwrap.dedent(
    """
    import time
    from fastmargin import _precompile
    start = time.perf_counter()
    every = _precompile.variants(dtypes=_precompile.DTYPES, targets=_precompile.TARGETS)
    for variant in every:
        _precompile.run_variant(*variant, every_path=False)
    print(time.perf_counter() - start)
    """
)


def seconds(code, cache_dir, with_workers=False):
    """The seconds that ``code`` prints last, run in a fresh interpreter
    with ``cache_dir`` as numba's cache (and the ``loss=seconds`` pairs it
    prints before, with ``with_workers``)."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    environment.pop("NUMBA_DISABLE_JIT", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    words = result.stdout.split()
    if with_workers:
        return float(words[-1]), [word.split("=") for word in words[:-1]]
    return float(words[-1])


def main():
    print(f"| first call of | cold cache (s), median (range) of {REPEAT} | warm cache (s) |")
    print("|---|---|---|")
    for name, call in DEFAULT_VARIANTS.items():
        code = _FIRST_CALL.format(call=call)
        colds, warms = [], []
        for _ in range(REPEAT):
            with tempfile.TemporaryDirectory() as cache_dir:
                colds.append(seconds(code, cache_dir))
                warms.append(seconds(code, cache_dir))
        print(
            f"| {name} | {statistics.median(colds):.2f} ({min(colds):.2f}-{max(colds):.2f}) "
            f"| {statistics.median(warms):.3f} |",
            flush=True,
        )
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = seconds(_COMMON_ROWS, cache_dir)
        warm = seconds(_COMMON_ROWS, cache_dir)
    print(f"| every variant, common rows only, one process | {cold:.1f} | {warm:.2f} |")
    with tempfile.TemporaryDirectory() as cache_dir:
        cold, workers = seconds(_EVERY_VARIANT, cache_dir, with_workers=True)
        warm = seconds(_EVERY_VARIANT, cache_dir)
    per_loss = ", ".join(f"{loss} {float(value):.1f} s" for loss, value in workers)
    print(f"| every variant (precompile; workers: {per_loss}) | {cold:.1f} | {warm:.2f} |")


if __name__ == "__main__":
    main()
