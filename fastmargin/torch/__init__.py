"""fastmargin's losses for PyTorch: ``torch.nn`` modules, functions, and
the custom operators under ``torch.ops.fastmargin`` that ``torch.compile``
traces. Install with ``pip install fastmargin[torch]``; importing
``fastmargin`` alone never imports torch.

- :class:`MultiLabelMarginLoss`: a drop-in for
  ``torch.nn.MultiLabelMarginLoss`` (plus ``margin``);
- :class:`MultiLabelHingeLoss`: the per-label hinge, scalar or per-label
  margins;
- :class:`AdaptiveMarginHingeLoss`: the hinge with
  :class:`fastmargin.AdaptiveMargins`'s margins, a buffer updated in
  training mode;
- :func:`multilabel_margin_loss`, :func:`multilabel_hinge_loss`: their
  functional forms.

CPU tensors run on fastmargin's CPU kernels (through NumPy views, no copy),
CUDA tensors on its GPU kernels, on PyTorch's current stream.
"""

from .functional import multilabel_hinge_loss, multilabel_margin_loss
from .modules import AdaptiveMarginHingeLoss, MultiLabelHingeLoss, MultiLabelMarginLoss

__all__ = [
    "AdaptiveMarginHingeLoss",
    "MultiLabelHingeLoss",
    "MultiLabelMarginLoss",
    "multilabel_hinge_loss",
    "multilabel_margin_loss",
]
