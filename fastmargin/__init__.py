"""fastmargin: fast Numba kernels for multi-label margin losses and their gradients.

Public functions
----------------
multilabel_margin_loss
    PyTorch's ``MultiLabelMarginLoss`` (the multi-label ranking hinge).
multilabel_margin_loss_grad
    Its gradient with respect to the scores.
multilabel_margin_loss_and_grad
    Both, from one pass over the data.
multilabel_hinge_loss, multilabel_hinge_loss_grad, multilabel_hinge_loss_and_grad
    The per-label (one-vs-rest) hinge, plain or squared, with one margin or
    one per label.
AdaptiveMargins
    Per-label hinge margins updated from each batch's loss.
indicator_from_targets, targets_from_indicator, targets_from_lists
    Converters between -1 padded class indices, 0/1 indicator matrices and
    ragged label lists.
precompile
    Compile the kernels ahead of their first call, in parallel processes.
"""

from importlib.metadata import PackageNotFoundError, version

from ._precompile import precompile
from ._targets import targets_from_lists
from .adaptive import AdaptiveMargins
from .converters import indicator_from_targets, targets_from_indicator
from .losses import (
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

try:
    __version__ = version("fastmargin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "AdaptiveMargins",
    "indicator_from_targets",
    "multilabel_hinge_loss",
    "multilabel_hinge_loss_and_grad",
    "multilabel_hinge_loss_grad",
    "multilabel_margin_loss",
    "multilabel_margin_loss_and_grad",
    "multilabel_margin_loss_grad",
    "precompile",
    "targets_from_indicator",
    "targets_from_lists",
]
