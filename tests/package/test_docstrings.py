"""Every public name's docstring passes numpydoc's validation (its examples
run as doctests: ``--doctest-modules`` in pyproject.toml), and the package
says it is typed."""

from pathlib import Path

import pytest
from numpydoc.validate import validate

import fastmargin
import fastmargin.dask
import fastmargin.torch

# Checks left out, as many numpydoc projects leave them out: an extended
# summary and a See Also section are not required of every name, and a
# single return value keeps its name ("loss : ndarray or scalar").
IGNORED = {"ES01", "SA01", "RT02"}
PUBLIC = [
    *(f"fastmargin.{name}" for name in fastmargin.__all__),
    "fastmargin.AdaptiveMargins.loss_and_grad",
    "fastmargin.AdaptiveMargins.loss_grad_and_label_sums",
    "fastmargin.AdaptiveMargins.update",
    *(f"fastmargin.torch.{name}" for name in fastmargin.torch.__all__),
    *(f"fastmargin.dask.{name}" for name in fastmargin.dask.__all__),
    "fastmargin.dask.AdaptiveMargins.loss_and_grad",
    "fastmargin.dask.AdaptiveMargins.loss_grad_and_label_sums",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc_validation(name):
    errors = [error for error in validate(name)["errors"] if error[0] not in IGNORED]
    assert errors == []


def test_the_package_ships_its_typed_marker():
    assert (Path(fastmargin.__file__).parent / "py.typed").is_file()
