"""fastmargin's losses over Dask arrays: lazy results, one task a row chunk.

Install with ``pip install fastmargin[dask]``; importing ``fastmargin`` alone
never imports dask. The six functions take the in-memory functions'
arguments, with ``input`` a ``dask.array.Array`` of scores chunked by rows,
and return Dask arrays: the gradient chunked as the scores, per-row losses
chunked as the rows ("none"), or a 0-d array ("mean", "sum") added up in a
fixed tree, so that the same chunks give the same bits on every scheduler
(synchronous, threaded, ``dask.distributed``). Computing the results runs
fastmargin's kernels in the workers; nothing is gathered.
"""

from .losses import (
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

__all__ = [
    "multilabel_hinge_loss",
    "multilabel_hinge_loss_and_grad",
    "multilabel_hinge_loss_grad",
    "multilabel_margin_loss",
    "multilabel_margin_loss_and_grad",
    "multilabel_margin_loss_grad",
]
