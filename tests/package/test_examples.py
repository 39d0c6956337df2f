"""The scripts in ``examples/`` run, on small sizes, and reach what they
claim."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_svm_reaches_liblinears_optimum():
    """normalize=False: the loss and gradient enter a LIBLINEAR-style
    objective unscaled, and L-BFGS-B lands on LIBLINEAR's own solution."""
    example = load("linear_svm_scipy")
    ours, theirs, difference = example.main(
        ["--samples", "300", "--features", "60", "--labels", "5", "--density", "0.1"]
    )
    assert ours <= theirs * (1 + 1e-9)
    assert abs(ours - theirs) <= 1e-7 * theirs
    assert difference < 1e-4


def test_torch_training_learns_the_teachers_labels():
    """The MLP trained with fastmargin.torch.MultiLabelMarginLoss, on a tiny
    problem (a few seconds): the last epoch's loss is under a fifth of the
    first's, and on held-out samples the top-scored label is a true one at
    least three times as often as chance (the top-scored label of a random
    ranking is one of the 3 true labels among 20 with probability 0.15)."""
    import torch

    example = load("torch_training")
    threads = torch.get_num_threads()
    try:  # the example sets PyTorch's thread count for the whole process
        first, last, top1, chance = example.main(
            ["--samples", "600", "--features", "16", "--labels", "20", "--hidden", "32"]
            + ["--epochs", "8", "--print-every", "4"]
        )
    finally:
        torch.set_num_threads(threads)
    assert chance == 3 / 20
    assert last < first / 5
    assert top1 > 3 * chance


@pytest.mark.slow
def test_dask_linear_model_matches_the_in_memory_training():
    """The Dask objective (X in 8 row chunks on a 2-process LocalCluster)
    equals the in-memory one at W = 0, at random W and at both optima, and
    L-BFGS-B reaches the same optimum either way, far below the start.
    No warning is filtered: the example keeps the scheduler's HTTP server
    off port 8787 (which warns when another cluster holds it) and scatters
    the data rather than shipping it in a graph (which warns over 10 MiB)."""
    import multiprocessing

    example = load("dask_linear_model")
    summary = example.main(
        ["--samples", "2000", "--features", "20", "--labels", "5", "--chunk-rows", "250"]
    )
    assert summary.objective_difference <= 1e-10
    assert summary.gradient_difference <= 1e-9
    assert summary.dask_objective == pytest.approx(summary.memory_objective, rel=1e-9, abs=0)
    assert summary.weight_difference < 1e-6
    assert summary.dask_objective < 0.5 * summary.start_objective
    assert summary.gradient_reduction < 1e-5
    assert summary.dask_iterations > 5
    assert multiprocessing.active_children() == []
