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


def ranking_row_loss_and_grad(scores, target_row, margin=1.0, normalize=True):
    """Loss and gradient of one row of the multi-label ranking margin loss.

    loss = sum over used targets t (duplicates counted each time) and classes
    j not among the targets of max(0, margin - x[t] + x[j]), divided by C
    (by 1 unless ``normalize``).
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
    divisor = n_classes if normalize else 1
    return loss / divisor, grad / divisor


def ranking_loss_and_grad(
    scores, target, margin=1.0, reduction="mean", grad_output=None, normalize=True
):
    """Reduced loss and its gradient for a batch (or a single 1-D row)."""
    x = np.asarray(scores)
    target = np.asarray(target)
    if x.ndim == 1:
        loss, grad = ranking_loss_and_grad(
            x[None], target[None], margin, reduction, grad_output, normalize
        )
        return (loss[0] if reduction == "none" else loss), grad[0]
    rows = [
        ranking_row_loss_and_grad(x[i], target[i], margin, normalize) for i in range(len(x))
    ]
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


# --------------------------------------------------------------------------
# Per-label (one-vs-rest) hinge loss, target forms and adaptive margins


def labels_indicator(target, n_classes):
    """Bool (N, C) indicator of padded class-index rows (each read up to its
    first -1; a label listed twice is one label). A 1-D target gives (C,)."""
    target = np.asarray(target)
    rows = target.reshape(1, -1) if target.ndim == 1 else target
    indicator = np.zeros((rows.shape[0], n_classes), dtype=bool)
    for i in range(rows.shape[0]):
        for label in used_targets(rows[i]):
            indicator[i, int(label)] = True
    return indicator[0] if target.ndim == 1 else indicator


def sorted_label_rows(indicator):
    """Each row's labels, ascending, -1 padded to the most labels in a row:
    what ``targets_from_indicator`` returns, written out row by row."""
    indicator = np.asarray(indicator, dtype=bool)
    rows = indicator.reshape(1, -1) if indicator.ndim == 1 else indicator
    labels = [[c for c in range(rows.shape[1]) if rows[i, c]] for i in range(rows.shape[0])]
    width = max((len(row) for row in labels), default=0)
    padded = np.full((rows.shape[0], width), -1, dtype=np.int64)
    for i, row in enumerate(labels):
        padded[i, : len(row)] = row
    return padded[0] if indicator.ndim == 1 else padded


def looks_like_indicator(scores, target):
    """Whether an integer ``target`` reads two ways, so that fastmargin
    refuses it with target_format="auto": integer, the input's shape, at
    least one row, and every entry 0 or 1 (so no row ends early at a -1)."""
    target = np.asarray(target)
    return bool(
        np.issubdtype(target.dtype, np.integer)
        and target.shape == np.shape(scores)
        and target.size > 0
        and np.all((target == 0) | (target == 1))
    )


def as_indices(scores, target):
    """Keyword arguments that read ``target`` as class indices: the
    strategies can draw a target that reads two ways (small C, full rows),
    and index checks then say "indices" (test_target_forms.py checks the
    refusal of "auto")."""
    return {"target_format": "indices"} if looks_like_indicator(scores, target) else {}


def hinge_terms_and_slopes(scores, indicator, margin, squared=False):
    """Per-element hinge terms and slopes d(term)/dx, float64 (N, C).

    z = margin[c] - s * x[c] is computed in the scores' dtype (float32 stays
    float32, the margin converted to it), s = +1 for a label, -1 otherwise.
    term = max(0, z) (squared: max(0, z)**2) in float64; the slope of the
    term with respect to x[c] is -s (squared: -s * 2 * max(0, z)) where
    z > 0, 0 where z <= 0 (0 at the kink) and NaN where z is NaN.
    """
    x = np.asarray(scores)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    dtype = x.dtype.type
    n_rows, n_classes = x.shape
    margins = np.broadcast_to(np.asarray(margin, dtype=np.float64), (n_classes,))
    with np.errstate(over="ignore"):  # z overflowing to inf is the definition
        native_margins = [dtype(m) for m in margins]
    terms = np.zeros((n_rows, n_classes))
    slopes = np.zeros((n_rows, n_classes))
    for i in range(n_rows):
        for c in range(n_classes):
            s = 1.0 if indicator[i][c] else -1.0
            with np.errstate(over="ignore"):
                z = native_margins[c] - dtype(s) * x[i, c]  # in the scores' dtype
            if np.isnan(z):
                terms[i, c] = np.nan
                slopes[i, c] = np.nan
            elif z > 0:
                hinge = float(z)
                terms[i, c] = hinge * hinge if squared else hinge
                slopes[i, c] = -s * (2.0 * hinge if squared else 1.0)
    return terms, slopes


def hinge_loss_and_grad(
    scores,
    indicator,
    margin=1.0,
    squared=False,
    reduction="mean",
    grad_output=None,
    normalize=True,
):
    """Reduced per-label hinge loss and its gradient (float64).

    ``indicator`` is a bool array of the scores' shape (use
    :func:`labels_indicator` for padded indices). Per sample, the loss is the
    sum over classes of the hinge terms divided by C (by 1 unless
    ``normalize``).
    """
    x = np.asarray(scores)
    indicator = np.asarray(indicator, dtype=bool)
    if x.ndim == 1:
        loss, grad = hinge_loss_and_grad(
            x[None], indicator[None], margin, squared, reduction, grad_output, normalize
        )
        return (loss[0] if reduction == "none" else loss), grad[0]
    divisor = x.shape[1] if normalize else 1
    terms, slopes = hinge_terms_and_slopes(x, indicator, margin, squared)
    losses = np.array([sum(row.tolist()) / divisor for row in terms], dtype=np.float64)
    return reduce_loss_and_grad(losses, slopes / divisor, reduction, grad_output)


def adaptive_steps(batches, n_labels, initial=1.0, rate=0.1, bounds=(0.5, 2.0), squared=False):
    """Transcription of AdaptiveMargins' rule over a sequence of batches.

    ``batches`` is a list of ``(scores, indicator)`` with (N, C) scores and
    bool indicators. For each batch, the loss is computed with the margins
    as they are, then ``margins = clip(margins + rate * S / N, low, high)``
    with ``S[c]`` the sum over the batch's rows of label c's hinge term
    (squared when ``squared``); an empty batch, a batch whose sums are not
    all finite, and ``rate=0`` leave them unchanged.
    ``initial`` is a scalar or the (C,) margins to start from.
    Returns the margins before each batch and after the last, a list of
    float64 (C,) arrays.
    """
    low, high = bounds
    margins = np.array(np.broadcast_to(np.asarray(initial, dtype=np.float64), (n_labels,)))
    history = [margins.copy()]
    for scores, indicator in batches:
        scores = np.asarray(scores)
        n_rows = scores.shape[0]
        if n_rows:
            terms, _ = hinge_terms_and_slopes(scores, indicator, margins, squared)
            sums = np.array([sum(terms[:, c].tolist()) for c in range(n_labels)])
            if rate and np.isfinite(sums).all():  # else: unchanged
                margins = np.clip(margins + rate * (sums / n_rows), low, high)
        history.append(margins.copy())
    return history
