"""fastmargin's losses as PyTorch custom operators (``torch.ops.fastmargin``).

Each operator calls fastmargin's public functions: NumPy views of CPU
tensors (no copy), or the CUDA tensors themselves, which fastmargin's GPU
path runs on PyTorch's current stream and allocates through PyTorch.
float16 and bfloat16 scores are computed in float32: their loss and the
operators' gradient output are float32 (PyTorch's own op under autocast
computes in float32 too), and the gradient that autograd hands back is
rounded to the scores' dtype once, after the scaling by ``grad_output``.

The ``*_and_grad`` operators return the loss and its gradient from one pass
and carry the autograd formula: the backward only scales the kept gradient
by ``grad_output``. The loss-only operators serve calls that need no
gradient.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import Tensor

import fastmargin

HALF_DTYPES = (torch.float16, torch.bfloat16)
REAL_DTYPES = (torch.float32, torch.float64, *HALF_DTYPES)


def _array(tensor):
    """What fastmargin takes of a tensor: a CUDA tensor as it is, a NumPy
    view of a CPU one."""
    return tensor if tensor.is_cuda else tensor.numpy()


def _scores(input):
    """The scores as fastmargin computes them: float32 for half inputs."""
    return _array(input.float() if input.dtype in HALF_DTYPES else input)


def _margin(margins, margin):
    """The per-label ``margins`` tensor when given, else the scalar."""
    return margin if margins is None else _array(margins)


def _loss_tensor(loss):
    """fastmargin's loss as a tensor (GPU results are tensors already)."""
    if isinstance(loss, torch.Tensor):
        return loss
    return torch.from_numpy(np.asarray(loss))


def _compute_dtype(input):
    """The dtype fastmargin computes ``input`` in: float32 for half inputs."""
    return torch.float32 if input.dtype in HALF_DTYPES else input.dtype


def _grad_tensor(grad):
    """fastmargin's gradient as a tensor (GPU results are tensors already)."""
    return grad if isinstance(grad, torch.Tensor) else torch.from_numpy(grad)


def _fake_loss(input, reduction):
    """The loss that the operators return, for shape propagation."""
    shape = input.shape[:-1] if reduction == "none" else ()
    return input.new_empty(shape, dtype=_compute_dtype(input))


def _call(loss_function, input, target, **settings):
    """Run one of fastmargin's public functions on tensors: the loss, or
    ``(loss, grad)`` for a ``*_and_grad`` function."""
    result = loss_function(_scores(input), _array(target), **settings)
    if isinstance(result, tuple):
        loss, grad = result
        return _loss_tensor(loss), _grad_tensor(grad)
    return _loss_tensor(result)


def ranking_loss(
    input: Tensor, target: Tensor, margin: float, reduction: str, target_format: str
) -> Tensor:
    """The ranking loss alone (:func:`fastmargin.multilabel_margin_loss`)."""
    settings = {"margin": margin, "reduction": reduction, "target_format": target_format}
    return _call(fastmargin.multilabel_margin_loss, input, target, **settings)


def ranking_loss_and_grad(
    input: Tensor, target: Tensor, margin: float, reduction: str, target_format: str
) -> tuple[Tensor, Tensor]:
    """The ranking loss and its gradient from one pass."""
    settings = {"margin": margin, "reduction": reduction, "target_format": target_format}
    return _call(fastmargin.multilabel_margin_loss_and_grad, input, target, **settings)


def hinge_loss(
    input: Tensor,
    target: Tensor,
    margins: Tensor | None,
    margin: float,
    squared: bool,
    reduction: str,
    target_format: str,
) -> Tensor:
    """The per-label hinge alone (:func:`fastmargin.multilabel_hinge_loss`),
    with the per-label ``margins`` when given, else ``margin``."""
    settings = {"squared": squared, "reduction": reduction, "target_format": target_format}
    margin = _margin(margins, margin)
    return _call(fastmargin.multilabel_hinge_loss, input, target, margin=margin, **settings)


def hinge_loss_and_grad(
    input: Tensor,
    target: Tensor,
    margins: Tensor | None,
    margin: float,
    squared: bool,
    reduction: str,
    target_format: str,
) -> tuple[Tensor, Tensor]:
    """The per-label hinge and its gradient from one pass."""
    settings = {"squared": squared, "reduction": reduction, "target_format": target_format}
    margin = _margin(margins, margin)
    return _call(
        fastmargin.multilabel_hinge_loss_and_grad, input, target, margin=margin, **settings
    )


def adaptive_hinge_loss_and_grad(
    input: Tensor,
    target: Tensor,
    margins: Tensor,
    rate: float,
    low: float,
    high: float,
    squared: bool,
    reduction: str,
    target_format: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """The per-label hinge with ``margins`` (float64, shape (C,)) and its
    gradient, and the margins after :class:`fastmargin.AdaptiveMargins`'s
    update for this batch (the same code, so the same bits)."""
    bounds = (low, high)
    rule = fastmargin.AdaptiveMargins(margins.shape[0], initial=low, rate=rate, bounds=bounds)
    rule.margins[:] = margins.cpu().numpy()
    settings = {"squared": squared, "reduction": reduction, "target_format": target_format}
    loss, grad = _call(rule.loss_and_grad, input, target, **settings)
    return loss, grad, torch.from_numpy(rule.margins).to(margins.device)


def _fake(function, outputs):
    """The shape propagation of ``function``: empty tensors like its
    ``outputs``, some of "loss", "grad" and "margins"."""
    signature = inspect.signature(function)

    def fake(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs).arguments
        input = arguments["input"]
        like = {
            "loss": lambda: _fake_loss(input, arguments["reduction"]),
            "grad": lambda: torch.empty_like(input, dtype=_compute_dtype(input)),
            "margins": lambda: torch.empty_like(arguments["margins"]),
        }
        results = tuple(like[name]() for name in outputs)
        return results if len(results) > 1 else results[0]

    return fake


def _keep_gradient(ctx, inputs, output):
    """Keep the forward's gradient (an output, not differentiable itself;
    float32 for half inputs) and the input, for
    :func:`_scale_kept_gradient`."""
    ctx.mark_non_differentiable(*output[1:])
    # The other outputs never get a gradient: no zero tensors made for them.
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(output[1], inputs[0])
    ctx.n_inputs = len(inputs)


def _scale_kept_gradient(ctx, grad_loss, *unused):
    """The input's gradient: the kept one scaled by ``grad_loss`` (one value
    per sample for ``reduction="none"``)."""
    if grad_loss is None:  # only the other outputs were used: nothing flows back
        return (None,) * ctx.n_inputs
    grad, input = ctx.saved_tensors
    if grad_loss.dim():  # one value per sample: scale each row
        grad = grad * grad_loss.unsqueeze(-1).to(grad.dtype)
    elif _is_one(grad_loss):
        pass  # loss.backward(): the kept gradient as it is, no pass over it
    else:
        grad = grad * grad_loss.to(grad.dtype)
    grad = grad.to(input.dtype)  # half inputs: rounded once, after the scaling
    if torch.is_grad_enabled():  # create_graph=True: a second derivative may follow
        grad = _NoSecondDerivative.apply(grad, input)
    return (grad,) + (None,) * (ctx.n_inputs - 1)


def _is_one(grad_loss):
    """Whether a 0-d ``grad_loss`` is exactly 1, asked only of a plain CPU
    tensor: reading one on a GPU would wait for the GPU, and a traced
    graph's (a fake or functional tensor subclass) has no value."""
    if type(grad_loss) is not torch.Tensor or grad_loss.is_cuda:
        return False
    return not torch.compiler.is_compiling() and grad_loss.item() == 1.0


class _NoSecondDerivative(torch.autograd.Function):
    """Passes a gradient on; differentiating it again raises (PyTorch's
    ``MultiLabelMarginLoss`` has no second derivative either)."""

    @staticmethod
    def forward(grad, input):
        return grad.view_as(grad)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, unused):
        raise RuntimeError(
            "fastmargin's losses have no second derivative: their gradient is "
            "piecewise constant in the scores and is not differentiable again "
            "(as for torch.nn.MultiLabelMarginLoss)"
        )


def _custom_op(name, function, outputs):
    op = torch.library.custom_op(f"fastmargin::{name}", function, mutates_args=())
    op.register_fake(_fake(function, outputs))
    if "grad" in outputs:
        op.register_autograd(_scale_kept_gradient, setup_context=_keep_gradient)
    return op


# The operators, for torch.compile and for anyone calling torch.ops.fastmargin.
LOSS = ("loss",)
LOSS_AND_GRAD = ("loss", "grad")
RANKING_LOSS = _custom_op("multilabel_margin_loss", ranking_loss, LOSS)
RANKING_LOSS_AND_GRAD = _custom_op(
    "multilabel_margin_loss_and_grad", ranking_loss_and_grad, LOSS_AND_GRAD
)
HINGE_LOSS = _custom_op("multilabel_hinge_loss", hinge_loss, LOSS)
HINGE_LOSS_AND_GRAD = _custom_op(
    "multilabel_hinge_loss_and_grad", hinge_loss_and_grad, LOSS_AND_GRAD
)
ADAPTIVE_HINGE_LOSS_AND_GRAD = _custom_op(
    "adaptive_hinge_loss_and_grad", adaptive_hinge_loss_and_grad, (*LOSS_AND_GRAD, "margins")
)


class FusedLoss(torch.autograd.Function):
    """The eager twin of the ``*_and_grad`` operators: the same function and
    autograd formula without the operator dispatch. ``FusedLoss.apply(
    function, *arguments)``. (The classic ``forward(ctx, ...)`` form: a
    separate ``setup_context`` costs some 20 microseconds more a call.)"""

    @staticmethod
    def forward(ctx, function, *arguments):
        output = function(*arguments)
        _keep_gradient(ctx, arguments, output)
        return output

    @staticmethod
    def backward(ctx, *grads):
        return (None, *_scale_kept_gradient(ctx, *grads))
