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
