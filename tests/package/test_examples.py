"""The scripts in ``examples/`` run, on small sizes, and reach what they
claim."""

import importlib.util
from pathlib import Path

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
