"""Slow, obviously-correct NumPy references for fastmargin's losses.

These transcribe the definitions pair by pair, with no algorithmic tricks, in
float64. Every kernel test compares against them.
"""

import numpy as np


def used_targets(target_row):
    """The entries of a padded target row before its first -1."""
    target_row = np.asarray(target_row)
    stops = np.flatnonzero(target_row == -1)
    return target_row[: stops[0]] if stops.size else target_row


def ranking_row_loss_and_grad(scores, target_row, margin=1.0):
    """Loss and gradient of one row of the multi-label ranking margin loss.

    loss = sum over used targets t (duplicates counted each time) and classes
    j not among the targets of max(0, margin - x[t] + x[j]), divided by C.
    As in PyTorch, whether a pair is violated is decided in the scores' dtype
    (float32 stays float32, with the margin converted to it): the hinge's
    slope is 1 where ``(margin - x[t]) + x[j] > 0`` there. Values are summed in
    float64. A NaN argument makes the whole row NaN (max(0, NaN) is NaN).
    """
    x = np.asarray(scores)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    native_margin = x.dtype.type(margin)
    n_classes = x.shape[0]
    used = used_targets(target_row)
    is_target = np.zeros(n_classes, dtype=bool)
    is_target[used] = True
    loss = 0.0
    grad = np.zeros(n_classes)
    for t in used:
        for j in range(n_classes):
            if is_target[j]:
                continue
            decision = (native_margin - x[t]) + x[j]
            if np.isnan(decision):
                loss = np.nan
            elif decision > 0:
                loss += float(native_margin) - float(x[t]) + float(x[j])
                grad[t] -= 1.0
                grad[j] += 1.0
    if np.isnan(loss):
        grad[:] = np.nan
    return loss / n_classes, grad / n_classes


def ranking_loss_and_grad(
    scores, target, margin=1.0, reduction="mean", grad_output=None
):
    """Reduced loss and its gradient for a batch (or a single 1-D row)."""
    x = np.asarray(scores)
    target = np.asarray(target)
    if x.ndim == 1:
        loss, grad = ranking_loss_and_grad(
            x[None], target[None], margin, reduction, grad_output
        )
        return (loss[0] if reduction == "none" else loss), grad[0]
    rows = [ranking_row_loss_and_grad(x[i], target[i], margin) for i in range(len(x))]
    losses = np.array([loss for loss, _ in rows], dtype=np.float64)
    grads = np.array([grad for _, grad in rows], dtype=np.float64).reshape(x.shape)
    return reduce_loss_and_grad(losses, grads, reduction, grad_output)


def reduce_loss_and_grad(losses, grads, reduction, grad_output=None):
    """Apply a reduction to per-row losses and chain ``grad_output``."""
    n_rows = losses.shape[0]
    if reduction == "none":
        weights = np.ones(n_rows) if grad_output is None else np.asarray(grad_output)
        return losses, grads * np.reshape(weights, (n_rows, 1))
    weight = 1.0 if grad_output is None else float(grad_output)
    if reduction == "sum":
        return losses.sum(), grads * weight
    return (losses.sum() / n_rows if n_rows else np.nan), grads * weight / n_rows
