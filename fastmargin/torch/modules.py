"""fastmargin's losses as ``torch.nn`` modules."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.modules.loss import _Loss

import fastmargin

from .functional import (
    check_input,
    check_margin,
    check_reduction,
    fused,
    multilabel_hinge_loss,
    multilabel_margin_loss,
)
from .ops import ADAPTIVE_HINGE_LOSS_AND_GRAD, adaptive_hinge_loss_and_grad


class MultiLabelMarginLoss(_Loss):
    """Drop-in for ``torch.nn.MultiLabelMarginLoss`` on fastmargin's kernels.

    The same constructor (``size_average`` and ``reduce`` are PyTorch's
    deprecated spellings of ``reduction``) and ``forward(input, target)``,
    plus ``margin``.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated in PyTorch; when given, they set ``reduction`` as there.
    reduction : {"mean", "sum", "none"}, optional
        Default "mean".
    margin : float, optional
        The hinge margin (PyTorch fixes it to 1). Default 1.0.

    See Also
    --------
    multilabel_margin_loss : The function, with the targets it takes.

    Notes
    -----
    In training, when the input requires grad, the forward computes the
    loss and the gradient in one pass, and autograd keeps the gradient (one
    tensor of the input's shape and dtype, float32 for half inputs) until
    the backward.

    Examples
    --------
    >>> import torch
    >>> from fastmargin.torch import MultiLabelMarginLoss
    >>> criterion = MultiLabelMarginLoss()
    >>> scores = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
    >>> loss = criterion(scores, torch.tensor([[3, 0, -1, 1]]))
    >>> loss.backward()
    >>> scores.grad
    tensor([[-0.5000,  0.5000,  0.5000, -0.5000]])
    """

    def __init__(
        self, size_average=None, reduce=None, reduction: str = "mean", *, margin: float = 1.0
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        check_reduction(self.reduction)
        self.margin = check_margin(margin)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of ``input`` for ``target`` (see
        :func:`multilabel_margin_loss`)."""
        return multilabel_margin_loss(input, target, self.margin, self.reduction)

    def extra_repr(self):
        return f"margin={self.margin}, reduction={self.reduction!r}"


class MultiLabelHingeLoss(_Loss):
    """The per-label (one-vs-rest) hinge loss as a module.

    Parameters
    ----------
    margin : float or Tensor of shape (C,), optional
        One margin for all labels, or one per label: a tensor is kept as the
        buffer ``margin`` (in ``state_dict``, moved by ``.to()``). Default 1.0.
    squared : bool, optional
        Square each hinge term. Default False.
    reduction : {"mean", "sum", "none"}, optional
        Default "mean".

    See Also
    --------
    multilabel_hinge_loss : The function, with the targets it takes.

    Examples
    --------
    >>> import torch
    >>> from fastmargin.torch import MultiLabelHingeLoss
    >>> criterion = MultiLabelHingeLoss(margin=torch.tensor([1.0, 0.5, 1.0]))
    >>> criterion(torch.tensor([[2.0, -0.5, 0.5]]), torch.tensor([[0, 2]]))
    tensor(0.1667)
    """

    def __init__(
        self, margin: float | Tensor = 1.0, squared: bool = False, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=check_reduction(reduction))
        if isinstance(margin, Tensor):
            self.register_buffer("margin", margin.detach().clone())
        else:
            self.margin = check_margin(margin)
        self.squared = squared

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of ``input`` for ``target`` (see
        :func:`multilabel_hinge_loss`)."""
        return multilabel_hinge_loss(input, target, self.margin, self.squared, self.reduction)

    def extra_repr(self):
        margin = "per label" if isinstance(self.margin, Tensor) else self.margin
        return f"margin={margin}, squared={self.squared}, reduction={self.reduction!r}"


class AdaptiveMarginHingeLoss(_Loss):
    """The per-label hinge with :class:`fastmargin.AdaptiveMargins`'s margins.

    In training mode each forward uses the current margins, then moves them
    by the batch's per-label hinge sums (the same code as
    ``AdaptiveMargins``, so the same bits for the same batches). In eval
    mode (``module.eval()``) the margins stay as they are.

    Parameters
    ----------
    n_labels : int
        Number of labels C.
    initial : float, optional
        Every label's starting margin, within ``bounds``. Default 1.0.
    rate : float, optional
        Step of the update, finite and >= 0. Default 0.1.
    bounds : (float, float), optional
        Finite ``(low, high)``; margins never leave them. Default (0.5, 2.0).
    squared : bool, optional
        Square each hinge term. Default False.
    reduction : {"mean", "sum", "none"}, optional
        Default "mean".

    Attributes
    ----------
    margins : Tensor of float64, shape (C,)
        The current margins, a buffer: in ``state_dict`` and moved by
        ``.to(device)`` (a ``.to(dtype)`` of the module would cast them, as
        any floating buffer, and the update would then round to that dtype).

    Examples
    --------
    >>> import torch
    >>> from fastmargin.torch import AdaptiveMarginHingeLoss
    >>> criterion = AdaptiveMarginHingeLoss(3, rate=0.5)
    >>> scores = torch.tensor([[2.0, -0.5, 0.5], [1.0, 0.0, -1.0]])
    >>> loss = criterion(scores, torch.tensor([[0, 2], [0, -1]]))
    >>> criterion.margins
    tensor([1.0000, 1.3750, 1.1250], dtype=torch.float64)
    >>> _ = criterion.eval()(scores, torch.tensor([[0, 2], [0, -1]]))
    >>> criterion.margins   # unchanged in eval mode
    tensor([1.0000, 1.3750, 1.1250], dtype=torch.float64)
    """

    def __init__(
        self,
        n_labels: int,
        initial: float = 1.0,
        rate: float = 0.1,
        bounds: tuple[float, float] = (0.5, 2.0),
        squared: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=check_reduction(reduction))
        rule = fastmargin.AdaptiveMargins(n_labels, initial=initial, rate=rate, bounds=bounds)
        self.n_labels, self.rate, self.bounds = rule.n_labels, rule.rate, rule.bounds
        self.squared = squared
        self.register_buffer("margins", torch.from_numpy(rule.margins))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of ``input`` for ``target`` with the current margins,
        which then move in training mode."""
        if not self.training:
            return multilabel_hinge_loss(
                input, target, self.margins, self.squared, self.reduction
            )
        target, target_format = check_input(input, target, self.reduction)
        low, high = self.bounds
        settings = (self.rate, low, high, self.squared, self.reduction, target_format)
        loss, _, margins = fused(
            adaptive_hinge_loss_and_grad,
            ADAPTIVE_HINGE_LOSS_AND_GRAD,
            input,
            target,
            self.margins,
            *settings,
        )
        with torch.no_grad():
            self.margins.copy_(margins)
        return loss

    def extra_repr(self):
        return (
            f"n_labels={self.n_labels}, rate={self.rate}, bounds={self.bounds}, "
            f"squared={self.squared}, reduction={self.reduction!r}"
        )
