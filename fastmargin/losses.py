"""The six loss functions: the ranking hinge of PyTorch's
``MultiLabelMarginLoss`` and the per-label hinge, each as a loss, its
gradient, and both from one pass. Each validates nothing itself: it hands
its arguments, as a ``_checks.Call``, to ``_dispatch``.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from . import _dispatch
from ._checks import Call, Device, Reduction, TargetFormat
from ._docs import fill_doc

# Targets (``Any``): integer or bool arrays, ragged label lists, scipy.sparse
# matrices (see the docstrings). Results (``Any``): NumPy arrays and scalars
# on the CPU, arrays of the input's library on the GPU.


@fill_doc
def multilabel_margin_loss(
    input: ArrayLike,
    target: Any,
    *,
    target_format: TargetFormat = "auto",
    margin: float = 1.0,
    reduction: Reduction = "mean",
    normalize: bool = True,
    device: Device = "auto",
) -> Any:
    """Multi-label ranking margin loss, as PyTorch's ``MultiLabelMarginLoss``.

    {ranking_parameters}
    {device}

    {loss_returns}

    Raises
    ------
    TypeError
        If ``input`` is not real, or ``target`` holds neither integers nor
        booleans.
    ValueError
        For a used target entry outside [0, C) (or negative other than -1),
        mismatched shapes, 0 classes, a 0-D or 3-D input, a non-finite margin
        or an unknown reduction.

    See Also
    --------
    multilabel_margin_loss_and_grad : The loss and its gradient in one pass.

    {ranking_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_margin_loss
    >>> scores = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> target = np.array([[3, 0, -1, 1]])   # targets 3 and 0; 1 is padding
    >>> round(float(multilabel_margin_loss(scores, target)), 4)
    0.85
    """
    call = Call(
        input=input,
        target=target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=None,
        with_grad=False,
        out=None,
        target_format=target_format,
    )
    return _dispatch.ranking(call, device)[0]


@fill_doc
def multilabel_margin_loss_grad(
    input: ArrayLike,
    target: Any,
    *,
    target_format: TargetFormat = "auto",
    margin: float = 1.0,
    reduction: Reduction = "mean",
    normalize: bool = True,
    grad_output: ArrayLike | None = None,
    out: Any = None,
    device: Device = "auto",
) -> Any:
    """Gradient of the multi-label ranking margin loss with respect to ``input``.

    {ranking_parameters}
    {grad_output_and_out}
    {device}

    Returns
    -------
    grad : ndarray
        Same shape and float dtype as ``input`` (``out`` when given).
        Where a hinge sits exactly at its kink the slope taken is 0, as in
        PyTorch.

    Raises
    ------
    TypeError, ValueError
        As :func:`multilabel_margin_loss`, and for a ``grad_output`` of the
        wrong shape or an ``out`` that does not fit.

    {ranking_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_margin_loss_grad
    >>> scores = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> multilabel_margin_loss_grad(scores, np.array([[3, 0, -1, 1]]))
    array([[-0.5,  0.5,  0.5, -0.5]])
    """
    call = Call(
        input=input,
        target=target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=grad_output,
        with_grad=True,
        out=out,
        target_format=target_format,
    )
    return _dispatch.ranking(call, device)[1]


@fill_doc
def multilabel_margin_loss_and_grad(
    input: ArrayLike,
    target: Any,
    *,
    target_format: TargetFormat = "auto",
    margin: float = 1.0,
    reduction: Reduction = "mean",
    normalize: bool = True,
    grad_output: ArrayLike | None = None,
    out: Any = None,
    device: Device = "auto",
) -> tuple[Any, Any]:
    """Multi-label ranking margin loss and its gradient, from one pass.

    {ranking_parameters}
    {grad_output_and_out}
    {device}

    Returns
    -------
    loss : ndarray or scalar
        As returned by :func:`multilabel_margin_loss`.
    grad : ndarray
        As returned by :func:`multilabel_margin_loss_grad`.

    Raises
    ------
    TypeError, ValueError
        As :func:`multilabel_margin_loss_grad`.

    {ranking_notes}

    Examples
    --------
    Plain gradient descent on one sample's scores:

    >>> import numpy as np
    >>> from fastmargin import multilabel_margin_loss_and_grad
    >>> scores = np.array([0.1, 0.2, 0.4, 0.8])
    >>> target = np.array([3, 0, -1])
    >>> for step in range(20):
    ...     loss, grad = multilabel_margin_loss_and_grad(scores, target)
    ...     scores -= 0.5 * grad
    >>> float(loss)
    0.0
    """
    call = Call(
        input=input,
        target=target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=grad_output,
        with_grad=True,
        out=out,
        target_format=target_format,
    )
    return _dispatch.ranking(call, device)


@fill_doc
def multilabel_hinge_loss(
    input: ArrayLike,
    target: Any,
    *,
    target_format: TargetFormat = "auto",
    margin: float | ArrayLike = 1.0,
    squared: bool = False,
    reduction: Reduction = "mean",
    normalize: bool = True,
    device: Device = "auto",
) -> Any:
    """Per-label (one-vs-rest) hinge loss of multi-label scores.

    {hinge_parameters}
    {device}

    {loss_returns}

    Raises
    ------
    TypeError
        If ``input`` or ``margin`` is not real, ``squared`` is not a bool, or
        ``target`` holds neither integers nor booleans.
    ValueError
        For a used target entry outside [0, C), a target or margin of the
        wrong shape, a non-finite margin, 0 classes, a 0-D or 3-D input or an
        unknown reduction.

    See Also
    --------
    multilabel_hinge_loss_and_grad : The loss and its gradient in one pass.
    AdaptiveMargins : Per-label margins that adapt to the data.

    {hinge_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_hinge_loss
    >>> scores = np.array([[2.0, -0.5, 0.5]])
    >>> multilabel_hinge_loss(scores, np.array([[0, 2]]))  # labels 0 and 2
    np.float64(0.3333333333333333)
    >>> multilabel_hinge_loss(scores, np.array([[True, False, True]]))
    np.float64(0.3333333333333333)
    """
    call = Call(
        input=input,
        target=target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=None,
        with_grad=False,
        out=None,
        target_format=target_format,
        squared=squared,
    )
    return _dispatch.hinge(call, device)[0]


@fill_doc
def multilabel_hinge_loss_grad(
    input: ArrayLike,
    target: Any,
    *,
    target_format: TargetFormat = "auto",
    margin: float | ArrayLike = 1.0,
    squared: bool = False,
    reduction: Reduction = "mean",
    normalize: bool = True,
    grad_output: ArrayLike | None = None,
    out: Any = None,
    device: Device = "auto",
) -> Any:
    """Gradient of the per-label hinge loss with respect to ``input``.

    {hinge_parameters}
    {grad_output_and_out}
    {device}

    Returns
    -------
    grad : ndarray
        Same shape and float dtype as ``input`` (``out`` when given).

    Raises
    ------
    TypeError, ValueError
        As :func:`multilabel_hinge_loss`, and for a ``grad_output`` of the
        wrong shape or an ``out`` that does not fit.

    {hinge_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import multilabel_hinge_loss_grad
    >>> scores = np.array([[0.5, -0.5, 0.5]])
    >>> multilabel_hinge_loss_grad(scores, np.array([[0, 2]]), reduction="sum")
    array([[-0.33333333,  0.33333333, -0.33333333]])
    """
    call = Call(
        input=input,
        target=target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=grad_output,
        with_grad=True,
        out=out,
        target_format=target_format,
        squared=squared,
    )
    return _dispatch.hinge(call, device)[1]


@fill_doc
def multilabel_hinge_loss_and_grad(
    input: ArrayLike,
    target: Any,
    *,
    target_format: TargetFormat = "auto",
    margin: float | ArrayLike = 1.0,
    squared: bool = False,
    reduction: Reduction = "mean",
    normalize: bool = True,
    grad_output: ArrayLike | None = None,
    out: Any = None,
    device: Device = "auto",
) -> tuple[Any, Any]:
    """Per-label hinge loss and its gradient, from one pass.

    {hinge_parameters}
    {grad_output_and_out}
    {device}

    Returns
    -------
    loss : ndarray or scalar
        As returned by :func:`multilabel_hinge_loss`.
    grad : ndarray
        As returned by :func:`multilabel_hinge_loss_grad`.

    Raises
    ------
    TypeError, ValueError
        As :func:`multilabel_hinge_loss_grad`.

    {hinge_notes}

    Examples
    --------
    A linear multi-label model trained by plain gradient descent:

    >>> import numpy as np
    >>> from fastmargin import multilabel_hinge_loss_and_grad
    >>> rng = np.random.default_rng(0)
    >>> features = rng.standard_normal((64, 5))
    >>> labels = features[:, :3] > 0            # 3 labels, bool indicator
    >>> weights = np.zeros((5, 3))
    >>> for step in range(200):
    ...     loss, grad = multilabel_hinge_loss_and_grad(features @ weights, labels)
    ...     weights -= 1.0 * features.T @ grad
    >>> bool(loss < 0.1)
    True
    """
    call = Call(
        input=input,
        target=target,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=grad_output,
        with_grad=True,
        out=out,
        target_format=target_format,
        squared=squared,
    )
    return _dispatch.hinge(call, device)
