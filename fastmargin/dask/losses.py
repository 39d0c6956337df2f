"""fastmargin's six loss functions over Dask arrays, as lazy Dask results.

One task a row chunk runs fastmargin's kernel on that chunk and returns its
per-row losses (or their float64 sum) and, for the gradient forms, the
chunk's gradient: the loss and the gradient of ``*_and_grad`` come from
the same task. "mean" and "sum" add the chunks' float64 partial sums in a
fixed tree (``split_every=SPLIT_EVERY``), so the same chunks give the same
bits every time, whichever scheduler runs the graph.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

import fastmargin

from .chunks import as_host_target, resolve_target_format, row_blocks, row_chunked_scores

# Partial sums combined per node of the reduction tree.
SPLIT_EVERY = 8
REDUCTIONS = ("mean", "sum", "none")


def _chunk(loss_function, with_grad, reduction, scale, settings, scores, target, grad_output):
    """One row chunk: ``(losses, grad, ...)`` as ``loss_function`` returns
    them (``losses`` alone without the gradient), with ``losses`` the
    per-row losses for "none", else their float64 sum as a 1-element array;
    the gradient scaled by ``scale`` per row ("mean"/"sum") or by the
    chunk's ``grad_output`` ("none")."""
    if not with_grad:
        losses = loss_function(scores, target, reduction="none", **settings)
        return (
            losses if reduction == "none" else np.sum(losses, dtype=np.float64, keepdims=True)
        )
    if reduction != "none":
        grad_output = np.full(scores.shape[0], scale)
    losses, *more = loss_function(
        scores, target, reduction="none", grad_output=grad_output, **settings
    )
    if reduction != "none":
        losses = np.sum(losses, dtype=np.float64, keepdims=True)
    return (losses, *more)


def _result_dtype(dtype):
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _check_call(reduction, grad_output, out):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be "mean", "sum" or "none", got {reduction!r}')
    if out is not None:
        raise ValueError("out= cannot be used with lazy Dask results; leave it None")
    if reduction != "none" and grad_output is not None and np.ndim(grad_output) != 0:
        raise ValueError(
            f'grad_output must be a scalar for reduction="{reduction}", got shape '
            f"{np.shape(grad_output)}"
        )


def lazy_loss(
    loss_function,
    input,
    target,
    *,
    reduction,
    grad_output,
    out,
    with_grad,
    with_label_sums=False,
    **settings,
):
    """Build the graph of ``loss_function`` (one of fastmargin's ``*_and_grad``
    functions when ``with_grad``, else a loss-only one) over the row chunks
    of ``input``: ``(loss, grad)``, or the loss alone. ``with_label_sums``:
    ``loss_function`` also returns the per-label sums of shape (C,), and the
    result ends with their float64 total over the chunks."""
    _check_call(reduction, grad_output, out)
    scores = row_chunked_scores(input)
    n_rows, n_classes = scores.shape
    row_chunks = scores.chunks[0]
    if not isinstance(target, da.Array):
        target = as_host_target(target)
    settings["target_format"] = resolve_target_format(
        target, n_classes, settings["target_format"]
    )
    targets, dependencies = row_blocks(target, row_chunks, "target")
    scale = 1.0 if grad_output is None or reduction == "none" else float(grad_output)
    if reduction == "mean":
        scale /= max(n_rows, 1)
    if reduction == "none" and grad_output is not None and with_grad:
        if not isinstance(grad_output, da.Array):
            grad_output = np.asarray(grad_output)
        grad_outputs, more = row_blocks(grad_output, row_chunks, "grad_output")
        dependencies += more
    else:
        grad_outputs = [None] * len(row_chunks)
    task = functools.partial(_chunk, loss_function, with_grad, reduction, scale, settings)
    token = tokenize(loss_function.__name__, scores, targets, grad_outputs, settings, scale)
    fused = f"{loss_function.__name__}-{token}"
    layer = {
        (fused, i): (task, (scores.name, i, 0), targets[i], grad_outputs[i])
        for i in range(len(row_chunks))
    }
    graph = HighLevelGraph.from_collections(fused, layer, dependencies=[scores, *dependencies])
    dtype = _result_dtype(scores.dtype)

    def output(name, chunks, item, output_dtype):
        """The Dask array of one item of the fused tasks' results."""
        if item is None:  # the tasks' results themselves
            return da.Array(graph, fused, chunks, dtype=output_dtype)
        pick = {
            (name, i, *([0] * (len(chunks) - 1))): (operator.getitem, (fused, i), item)
            for i in range(len(row_chunks))
        }
        layers = {**graph.layers, name: pick}
        return da.Array(
            HighLevelGraph(layers, {**graph.dependencies, name: {fused}}),
            name,
            chunks,
            dtype=output_dtype,
        )

    item = 0 if with_grad else None
    if reduction == "none":
        loss = output(f"loss-{token}", (row_chunks,), item, dtype)
    else:
        partial_sums = output(
            f"partial-sums-{token}", ((1,) * len(row_chunks),), item, np.float64
        )
        loss = partial_sums.sum(split_every=SPLIT_EVERY)
        if reduction == "mean":
            loss = loss / n_rows if n_rows else da.from_array(np.array(np.nan))
        loss = loss.astype(dtype)
    if not with_grad:
        return loss
    grad = output(f"grad-{token}", scores.chunks, 1, dtype)
    if not with_label_sums:
        return loss, grad
    label_sums = output(
        f"label-sums-{token}", ((1,) * len(row_chunks), (n_classes,)), 2, np.float64
    )
    return loss, grad, label_sums.sum(axis=0, split_every=SPLIT_EVERY)


def multilabel_margin_loss(
    input: da.Array,
    target: Any,
    *,
    target_format: str = "auto",
    margin: float = 1.0,
    reduction: str = "mean",
    normalize: bool = True,
    device: str = "auto",
) -> da.Array:
    """Multi-label ranking margin loss over a Dask array, lazily.

    Parameters
    ----------
    input : dask.array.Array, shape (N, C)
        Scores chunked by rows. Chunks along classes are joined first (row
        chunks kept), unless a chunk would then exceed 1 GiB
        (``chunks.MAX_CHUNK_BYTES``): a ValueError then asks for fewer rows
        per chunk.
    target : dask.array.Array, array_like or scipy.sparse matrix
        As for :func:`fastmargin.multilabel_margin_loss`, with N rows: a Dask
        array must have the input's row chunks; an in-memory target is
        split to match them. With ``target_format="auto"``, an integer
        Dask target of the input's width is read chunk by chunk, so a chunk
        holding only 0s and 1s raises at compute time: pass "indices" or
        "indicator".
    target_format, margin, reduction, normalize, device : see fastmargin.multilabel_margin_loss
        As for :func:`fastmargin.multilabel_margin_loss`; ``device`` applies
        to each chunk's call.

    Returns
    -------
    loss : dask.array.Array
        Per-row losses chunked as the rows for "none"; a 0-d array for
        "mean" and "sum", whose float64 partial sums are added in a fixed
        tree.

    See Also
    --------
    fastmargin.multilabel_margin_loss : The in-memory function.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import multilabel_margin_loss
    >>> scores = da.from_array(np.array([[0.1, 0.2, 0.4, 0.8]] * 4), chunks=(2, 4))
    >>> loss = multilabel_margin_loss(scores, np.array([[3, 0, -1, 1]] * 4))
    >>> round(float(loss.compute()), 4)
    0.85
    """
    return lazy_loss(
        fastmargin.multilabel_margin_loss,
        input,
        target,
        reduction=reduction,
        grad_output=None,
        out=None,
        with_grad=False,
        target_format=target_format,
        margin=margin,
        normalize=normalize,
        device=device,
    )


def multilabel_margin_loss_grad(
    input: da.Array,
    target: Any,
    *,
    target_format: str = "auto",
    margin: float = 1.0,
    reduction: str = "mean",
    normalize: bool = True,
    grad_output: Any = None,
    out: None = None,
    device: str = "auto",
) -> da.Array:
    """Gradient of the ranking margin loss over a Dask array, lazily.

    Parameters
    ----------
    input, target, target_format, margin, reduction, normalize : see multilabel_margin_loss
        As for :func:`multilabel_margin_loss`.
    grad_output : float or array_like or dask.array.Array, optional
        As for :func:`fastmargin.multilabel_margin_loss_grad`; for
        ``reduction="none"`` one value a row, a Dask array with the input's
        row chunks or an in-memory array split to match them.
    out : None
        Must be None: lazy results have no destination.
    device : {"auto", "cpu", "cuda"}, optional
        As for :func:`multilabel_margin_loss`.

    Returns
    -------
    grad : dask.array.Array
        Chunked as ``input`` (after any join of class chunks).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import multilabel_margin_loss_grad
    >>> scores = da.from_array(np.array([[0.1, 0.2, 0.4, 0.8]]), chunks=(1, 4))
    >>> multilabel_margin_loss_grad(scores, np.array([[3, 0, -1, 1]])).compute()
    array([[-0.5,  0.5,  0.5, -0.5]])
    """
    return multilabel_margin_loss_and_grad(
        input,
        target,
        target_format=target_format,
        margin=margin,
        reduction=reduction,
        normalize=normalize,
        grad_output=grad_output,
        out=out,
        device=device,
    )[1]


def multilabel_margin_loss_and_grad(
    input: da.Array,
    target: Any,
    *,
    target_format: str = "auto",
    margin: float = 1.0,
    reduction: str = "mean",
    normalize: bool = True,
    grad_output: Any = None,
    out: None = None,
    device: str = "auto",
) -> tuple[da.Array, da.Array]:
    """Ranking margin loss and its gradient over a Dask array, lazily.

    One task a row chunk computes both.

    Parameters
    ----------
    input, target, target_format, margin, reduction, normalize : see multilabel_margin_loss
        As for :func:`multilabel_margin_loss`.
    grad_output, out, device : see multilabel_margin_loss_grad
        As for :func:`multilabel_margin_loss_grad`.

    Returns
    -------
    loss : dask.array.Array
        As returned by :func:`multilabel_margin_loss`.
    grad : dask.array.Array
        As returned by :func:`multilabel_margin_loss_grad`.

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import multilabel_margin_loss_and_grad
    >>> scores = da.from_array(np.array([[0.1, 0.2, 0.4, 0.8]] * 4), chunks=(2, 4))
    >>> loss, grad = multilabel_margin_loss_and_grad(scores, np.array([[3, 0, -1, 1]] * 4))
    >>> loss, grad = dask.compute(loss, grad)   # one kernel call a chunk for both
    >>> round(float(loss), 4), grad.shape
    (0.85, (4, 4))
    """
    return lazy_loss(
        fastmargin.multilabel_margin_loss_and_grad,
        input,
        target,
        reduction=reduction,
        grad_output=grad_output,
        out=out,
        with_grad=True,
        target_format=target_format,
        margin=margin,
        normalize=normalize,
        device=device,
    )


def multilabel_hinge_loss(
    input: da.Array,
    target: Any,
    *,
    target_format: str = "auto",
    margin: Any = 1.0,
    squared: bool = False,
    reduction: str = "mean",
    normalize: bool = True,
    device: str = "auto",
) -> da.Array:
    """Per-label hinge loss over a Dask array, lazily.

    Parameters
    ----------
    input, target, target_format : see multilabel_margin_loss
        As for :func:`multilabel_margin_loss`.
    margin : float or array_like, shape (C,), optional
        As for :func:`fastmargin.multilabel_hinge_loss`; per-label margins
        are held in memory (a Dask array is computed when the graph is
        built).
    squared : bool, optional
        As for :func:`fastmargin.multilabel_hinge_loss`.
    reduction, normalize, device : see multilabel_margin_loss
        As for :func:`multilabel_margin_loss`.

    Returns
    -------
    loss : dask.array.Array
        As for :func:`multilabel_margin_loss`.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import multilabel_hinge_loss
    >>> scores = da.from_array(np.array([[2.0, -0.5, 0.5]] * 3), chunks=(2, 3))
    >>> float(multilabel_hinge_loss(scores, np.array([[0, 2]] * 3)).compute())
    0.3333333333333333
    """
    return lazy_loss(
        fastmargin.multilabel_hinge_loss,
        input,
        target,
        reduction=reduction,
        grad_output=None,
        out=None,
        with_grad=False,
        target_format=target_format,
        margin=_in_memory(margin),
        squared=squared,
        normalize=normalize,
        device=device,
    )


def multilabel_hinge_loss_grad(
    input: da.Array,
    target: Any,
    *,
    target_format: str = "auto",
    margin: Any = 1.0,
    squared: bool = False,
    reduction: str = "mean",
    normalize: bool = True,
    grad_output: Any = None,
    out: None = None,
    device: str = "auto",
) -> da.Array:
    """Gradient of the per-label hinge loss over a Dask array, lazily.

    Parameters
    ----------
    input, target, target_format, margin : see multilabel_hinge_loss
        As for :func:`multilabel_hinge_loss`.
    squared, reduction, normalize : see multilabel_hinge_loss
        As for :func:`multilabel_hinge_loss`.
    grad_output, out, device : see multilabel_margin_loss_grad
        As for :func:`multilabel_margin_loss_grad`.

    Returns
    -------
    grad : dask.array.Array
        Chunked as ``input`` (after any join of class chunks).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import multilabel_hinge_loss_grad
    >>> scores = da.from_array(np.array([[0.5, -0.5, 0.5]]), chunks=(1, 3))
    >>> multilabel_hinge_loss_grad(scores, np.array([[0, 2]]), reduction="sum").compute()
    array([[-0.33333333,  0.33333333, -0.33333333]])
    """
    return multilabel_hinge_loss_and_grad(
        input,
        target,
        target_format=target_format,
        margin=margin,
        squared=squared,
        reduction=reduction,
        normalize=normalize,
        grad_output=grad_output,
        out=out,
        device=device,
    )[1]


def multilabel_hinge_loss_and_grad(
    input: da.Array,
    target: Any,
    *,
    target_format: str = "auto",
    margin: Any = 1.0,
    squared: bool = False,
    reduction: str = "mean",
    normalize: bool = True,
    grad_output: Any = None,
    out: None = None,
    device: str = "auto",
) -> tuple[da.Array, da.Array]:
    """Per-label hinge loss and its gradient over a Dask array, lazily.

    One task a row chunk computes both.

    Parameters
    ----------
    input, target, target_format, margin : see multilabel_hinge_loss
        As for :func:`multilabel_hinge_loss`.
    squared, reduction, normalize : see multilabel_hinge_loss
        As for :func:`multilabel_hinge_loss`.
    grad_output, out, device : see multilabel_margin_loss_grad
        As for :func:`multilabel_margin_loss_grad`.

    Returns
    -------
    loss : dask.array.Array
        As returned by :func:`multilabel_hinge_loss`.
    grad : dask.array.Array
        As returned by :func:`multilabel_hinge_loss_grad`.

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import multilabel_hinge_loss_and_grad
    >>> scores = da.from_array(np.array([[2.0, -0.5, 0.5]] * 3), chunks=(2, 3))
    >>> loss, grad = dask.compute(
    ...     *multilabel_hinge_loss_and_grad(scores, np.array([[0, 2]] * 3))
    ... )
    >>> float(loss), grad.shape
    (0.3333333333333333, (3, 3))
    """
    return lazy_loss(
        fastmargin.multilabel_hinge_loss_and_grad,
        input,
        target,
        reduction=reduction,
        grad_output=grad_output,
        out=out,
        with_grad=True,
        target_format=target_format,
        margin=_in_memory(margin),
        squared=squared,
        normalize=normalize,
        device=device,
    )


def _in_memory(margin):
    """A per-label margin held in memory (a Dask array is computed)."""
    return margin.compute() if isinstance(margin, da.Array) else margin
