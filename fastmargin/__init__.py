"""fastmargin: fast Numba kernels for multi-label margin losses and their gradients.

Public functions
----------------
multilabel_margin_loss
    PyTorch's ``MultiLabelMarginLoss`` (the multi-label ranking hinge).
multilabel_margin_loss_grad
    Its gradient with respect to the scores.
multilabel_margin_loss_and_grad
    Both, from one pass over the data.
"""

from importlib.metadata import PackageNotFoundError, version

from ._frontend import (
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

try:
    __version__ = version("fastmargin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "multilabel_margin_loss",
    "multilabel_margin_loss_and_grad",
    "multilabel_margin_loss_grad",
]
