"""The functional forms of fastmargin's PyTorch losses, as in
``torch.nn.functional``."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from .ops import (
    HINGE_LOSS,
    HINGE_LOSS_AND_GRAD,
    RANKING_LOSS,
    RANKING_LOSS_AND_GRAD,
    REAL_DTYPES,
    FusedLoss,
    hinge_loss,
    hinge_loss_and_grad,
    ranking_loss,
    ranking_loss_and_grad,
)

REDUCTIONS = ("mean", "sum", "none")


def check_input(input, target, reduction):
    """Validate what the operators take as they are; return the target as
    a tensor on ``input``'s device and how fastmargin reads it: integer
    tensors as class indices (PyTorch's reading, whatever their values),
    bool and floating tensors as 0/1 indicators."""
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if input.dtype not in REAL_DTYPES:
        raise TypeError(
            "input must be float16, bfloat16, float32 or float64, got dtype "
            f"{str(input.dtype).removeprefix('torch.')}"
        )
    check_reduction(reduction)
    if not isinstance(target, Tensor):
        try:
            target = torch.as_tensor(target, device=input.device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"target must be a tensor or array of class indices or a 0/1 indicator, "
                f"got {type(target).__name__}"
            ) from error
    if target.device != input.device:
        raise ValueError(
            f"target is on {target.device} but input on {input.device}: move them together"
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        return target, "indicator"
    return target, "indices"


def check_reduction(reduction):
    """``reduction``, one of "mean", "sum" and "none"."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be "mean", "sum" or "none", got {reduction!r}')
    return reduction


def check_margin(margin):
    """A scalar margin as a float (fastmargin checks that it is finite)."""
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise TypeError(f"margin must be a real number, got {type(margin).__name__}")
    return float(margin)


def fused(function, operator, input, *arguments):
    """All outputs of a fused forward (loss, gradient, ...), with autograd's
    formula when ``input`` requires grad. ``operator`` is its custom-operator
    twin, which ``torch.compile`` traces; eager calls skip the operator
    dispatch (tens of microseconds)."""
    if torch.compiler.is_compiling():
        return operator(input, *arguments)
    if input.requires_grad and torch.is_grad_enabled():
        return FusedLoss.apply(function, input, *arguments)
    return function(input, *arguments)


def fused_or_loss_only(loss_only, fused_function, operators, input, *arguments):
    """The loss of ``input``: from the fused forward that keeps the gradient
    when autograd will want it, else from the loss-only one (``operators``:
    the two custom-operator twins)."""
    loss_only_op, fused_op = operators
    if input.requires_grad and torch.is_grad_enabled():
        return fused(fused_function, fused_op, input, *arguments)[0]
    if torch.compiler.is_compiling():
        return loss_only_op(input, *arguments)
    return loss_only(input, *arguments)


def multilabel_margin_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """``torch.nn.functional.multilabel_margin_loss`` on fastmargin's kernels.

    Parameters
    ----------
    input : Tensor, shape (C,) or (N, C)
        Scores, float16, bfloat16, float32 or float64, on the CPU or a
        CUDA GPU.
    target : Tensor
        On ``input``'s device. Integer tensors hold class indices, each row
        read up to its first -1: PyTorch's (N, C) layout, or a compact
        (N, K) for any K. Bool or floating tensors of ``input``'s shape are
        0/1 indicators.
    margin : float, optional
        The hinge margin (PyTorch fixes it to 1). Default 1.0.
    reduction : {"mean", "sum", "none"}, optional
        As in PyTorch. Default "mean".

    Returns
    -------
    Tensor
        The loss, float32 for float16 and bfloat16 input (as PyTorch's own
        op under autocast), else of ``input``'s dtype.

    See Also
    --------
    MultiLabelMarginLoss : The module.
    fastmargin.multilabel_margin_loss : The NumPy function.

    Notes
    -----
    When ``input`` requires grad, one pass computes the loss and the
    gradient, and autograd keeps the gradient until the backward, which
    only scales it by the incoming gradient: one tensor of ``input``'s
    shape, in ``input``'s dtype (float32 for float16 and bfloat16, so that
    the gradient is rounded to the half dtype once, after the scaling). A
    second derivative raises, as for PyTorch's op.

    Examples
    --------
    >>> import torch
    >>> from fastmargin.torch import multilabel_margin_loss
    >>> scores = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
    >>> loss = multilabel_margin_loss(scores, torch.tensor([[3, 0, -1, 1]]))
    >>> loss.backward()
    >>> round(loss.item(), 4), scores.grad
    (0.85, tensor([[-0.5000,  0.5000,  0.5000, -0.5000]]))
    """
    target, target_format = check_input(input, target, reduction)
    return fused_or_loss_only(
        ranking_loss,
        ranking_loss_and_grad,
        (RANKING_LOSS, RANKING_LOSS_AND_GRAD),
        input,
        target,
        check_margin(margin),
        reduction,
        target_format,
    )


def multilabel_hinge_loss(
    input: Tensor,
    target: Tensor,
    margin: float | Tensor = 1.0,
    squared: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """The per-label (one-vs-rest) hinge loss on fastmargin's kernels.

    Parameters
    ----------
    input : Tensor, shape (C,) or (N, C)
        Scores, float16, bfloat16, float32 or float64, on the CPU or a
        CUDA GPU.
    target : Tensor
        Each sample's labels, on ``input``'s device: integer class indices
        (each row read up to its first -1), or a bool or floating 0/1
        indicator of ``input``'s shape.
    margin : float or Tensor of shape (C,), optional
        One margin for all labels, or one per label (on ``input``'s device).
        Default 1.0.
    squared : bool, optional
        Square each hinge term (an L2-SVM). Default False.
    reduction : {"mean", "sum", "none"}, optional
        Default "mean".

    Returns
    -------
    Tensor
        The loss (see :func:`multilabel_margin_loss` for its dtype).

    See Also
    --------
    MultiLabelHingeLoss : The module.
    fastmargin.multilabel_hinge_loss : The NumPy function, with the formula.

    Notes
    -----
    Autograd keeps the gradient from the forward, as for
    :func:`multilabel_margin_loss`.

    Examples
    --------
    >>> import torch
    >>> from fastmargin.torch import multilabel_hinge_loss
    >>> scores = torch.tensor([[2.0, -0.5, 0.5]])
    >>> multilabel_hinge_loss(scores, torch.tensor([[True, False, True]]))
    tensor(0.3333)
    """
    target, target_format = check_input(input, target, reduction)
    margins = margin if isinstance(margin, Tensor) else None
    return fused_or_loss_only(
        hinge_loss,
        hinge_loss_and_grad,
        (HINGE_LOSS, HINGE_LOSS_AND_GRAD),
        input,
        target,
        margins,
        1.0 if margins is not None else check_margin(margin),
        squared,
        reduction,
        target_format,
    )
