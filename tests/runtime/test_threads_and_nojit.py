"""Reproducibility across thread counts, and the uncompiled (NUMBA_DISABLE_JIT) run.

Index bugs inside ``prange`` loops are not caught by NUMBA_BOUNDSCHECK, so the
reference, edge-case and target-form tests are also run with
NUMBA_DISABLE_JIT=1, where the kernels execute as plain Python and an
out-of-bounds index raises.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from fastmargin import (
    indicator_from_targets,
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
    targets_from_indicator,
)

REPOSITORY = Path(__file__).resolve().parents[2]
REDUCTIONS = ("none", "mean", "sum")


def varied_case(dtype, target_dtype=np.int64, n_rows=37, n_classes=50, seed=0):
    """PyTorch-layout targets with 0..n_classes used entries per row."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_rows, n_classes)).astype(dtype)
    # Target counts cover empty rows, the small path (1..8), the general path
    # (9..40 and beyond) and a row where every class is a target.
    counts = [0, 1, 2, 5, 8, 9, 12, 20, 33, 40, n_classes]
    counts += list(rng.integers(0, n_classes + 1, size=n_rows - len(counts)))
    target = np.full((n_rows, n_classes), -1, dtype=target_dtype)
    for row, count in enumerate(counts):
        if row % 3 == 0:  # distinct targets
            target[row, :count] = rng.permutation(n_classes)[:count]
        else:  # with duplicates
            target[row, :count] = rng.integers(0, n_classes, size=count)
    return scores, target


def all_results(scores, target):
    results = []
    # Per-label margins for the hinge, one per class.
    margins = np.linspace(0.25, 1.75, scores.shape[1])
    indicator = indicator_from_targets(target, scores.shape[1])
    for reduction in REDUCTIONS:
        grad_output = np.linspace(-1.0, 2.0, len(scores)) if reduction == "none" else 0.75
        results.append(
            multilabel_margin_loss_and_grad(
                scores, target, reduction=reduction, grad_output=grad_output
            )
        )
        results.append(multilabel_margin_loss(scores, target, reduction=reduction))
        results.append(
            multilabel_margin_loss_grad(
                scores, target, reduction=reduction, grad_output=grad_output
            )
        )
        for squared in (False, True):
            for hinge_target in (target, indicator):
                kwargs = dict(margin=margins, squared=squared, reduction=reduction)
                results.append(
                    multilabel_hinge_loss_and_grad(
                        scores, hinge_target, grad_output=grad_output, **kwargs
                    )
                )
                results.append(multilabel_hinge_loss(scores, hinge_target, **kwargs))
                results.append(
                    multilabel_hinge_loss_grad(
                        scores, hinge_target, grad_output=grad_output, **kwargs
                    )
                )
    results.append(indicator)
    results.append(targets_from_indicator(indicator))
    return results


def assert_identical(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, tuple):
            assert_identical(a, b)
        else:
            assert np.asarray(a).dtype == np.asarray(b).dtype
            assert np.array_equal(a, b, equal_nan=True)


def run_with_threads(n_threads, scores, target):
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(n_threads)
        assert numba.get_num_threads() == n_threads
        return all_results(scores, target)
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("target_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_for_one_and_two_threads(dtype, target_dtype):
    previous = numba.get_num_threads()
    scores, target = varied_case(dtype, target_dtype)
    scores[4, target[4, 0]] = np.nan  # a NaN target: row 4 (8 targets) is NaN
    one = run_with_threads(1, scores, target)
    two = run_with_threads(2, scores, target)
    assert numba.get_num_threads() == previous
    assert_identical(one, two)
    loss = one[0][0]
    assert np.isnan(loss[4]) and np.all(np.isfinite(np.delete(loss, 4)))
    # More threads than rows, and every thread count numba allows here.
    for n_threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        assert_identical(one, run_with_threads(n_threads, scores, target))
        small = scores[5:7], target[5:7]  # 9 and 12 targets, 2 rows
        assert_identical(run_with_threads(1, *small), run_with_threads(n_threads, *small))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_across_repeated_calls(dtype):
    scores, target = varied_case(dtype, seed=1)
    first = all_results(scores, target)
    second = all_results(scores.copy(), target.copy())
    assert_identical(first, second)
    assert_identical(first, all_results(scores, target))


@pytest.mark.slow
def test_reference_and_edge_tests_pass_without_jit():
    env = dict(os.environ)
    env["NUMBA_DISABLE_JIT"] = "1"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/ranking/test_reference.py",
        "tests/ranking/test_edges.py",
        "tests/hinge/test_reference.py",
        "tests/hinge/test_edges.py",
        "tests/targets/test_forms.py",
        "tests/checks/test_arguments.py",
        "tests/checks/test_out.py",
        "-x",
    ]
    completed = subprocess.run(
        command,
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert " passed" in completed.stdout and "skipped" not in completed.stdout, output


# The same results in a process that compiles the hinge kernels (cold numba
# cache) as in one that loads them from the cache: "identical run to run"
# must not depend on whether this run happened to compile. (The ranking
# kernels take far longer to compile; they are left out to keep this quick.)
COLD_AND_WARM_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    from fastmargin import (
        AdaptiveMargins, multilabel_hinge_loss, multilabel_hinge_loss_and_grad,
        targets_from_indicator,
    )
    rng = np.random.default_rng(2024)
    results = {}
    for n_classes in (40, 100):
        for density in (0.3, 0.9):
            scores = rng.standard_normal((64, n_classes)) * 1.5
            indicator = rng.random((64, n_classes)) < density
            target = targets_from_indicator(indicator)
            margin = rng.uniform(-0.5, 2.0, size=n_classes)
            for squared in (False, True):
                for name, form in (("padded", target), ("bool", indicator)):
                    key = f"{n_classes} {density} {squared} {name}"
                    kwargs = dict(margin=margin, squared=squared, reduction="none")
                    loss = multilabel_hinge_loss(scores, form, **kwargs)
                    fused, grad = multilabel_hinge_loss_and_grad(scores, form, **kwargs)
                    results["hinge loss " + key] = loss.tobytes().hex()
                    results["hinge fused " + key] = fused.tobytes().hex()
                    results["hinge grad " + key] = grad.tobytes().hex()
                adaptive = AdaptiveMargins(n_classes, rate=0.5)
                loss, grad = adaptive.loss_and_grad(
                    scores, target, squared=squared, reduction="none"
                )
                margins = adaptive.margins.tobytes()
                results["adaptive " + key] = (loss.tobytes() + margins).hex()
    print(json.dumps(results))
    """
)


@pytest.mark.slow
def test_identical_with_a_cold_and_a_warm_numba_cache(tmp_path):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")  # empty: compiles
    env.pop("NUMBA_DISABLE_JIT", None)
    runs = []
    for _ in ("cold", "warm"):
        completed = subprocess.run(
            [sys.executable, "-c", COLD_AND_WARM_SCRIPT],
            cwd=REPOSITORY,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert completed.returncode == 0, completed.stderr
        runs.append(json.loads(completed.stdout))
    cold, warm = runs
    assert cold.keys() == warm.keys() and len(cold) == 4 * 2 * (2 * 3 + 1)
    differ = sorted(key for key in cold if cold[key] != warm[key])
    assert not differ, f"cold and warm cache runs differ for: {differ}"
    # Within each run, the loss-only call returns what the fused call does.
    for results in (cold, warm):
        for key in results:
            if key.startswith("hinge loss "):
                fused_key = key.replace("hinge loss ", "hinge fused ")
                assert results[key] == results[fused_key], key
