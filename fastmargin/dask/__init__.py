"""fastmargin's losses over Dask arrays: lazy results, one task a row chunk.

Install with ``pip install fastmargin[dask]``; importing ``fastmargin`` alone
never imports dask. The six functions take the in-memory functions'
arguments, with ``input`` a ``dask.array.Array`` of scores chunked by rows,
and return Dask arrays: the gradient chunked as the scores, per-row losses
chunked as the rows ("none"), or a 0-d array ("mean", "sum") added up in a
fixed tree, so that the same chunks give the same bits on every scheduler
(synchronous, threaded, ``dask.distributed``). Computing the results runs
fastmargin's kernels in the workers; nothing is gathered.
:class:`AdaptiveMargins` takes Dask batches too: their loss moves the
margins when it is computed.

Each worker process compiles fastmargin's kernels once, or loads them from
numba's disk cache, which the processes of one machine share (the cache
directory is beside fastmargin's installed files; ``FASTMARGIN_CACHE=0``
turns it off).
"""

from .adaptive import AdaptiveLoss, AdaptiveMargins
from .losses import (
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

__all__ = [
    "AdaptiveLoss",
    "AdaptiveMargins",
    "multilabel_hinge_loss",
    "multilabel_hinge_loss_and_grad",
    "multilabel_hinge_loss_grad",
    "multilabel_margin_loss",
    "multilabel_margin_loss_and_grad",
    "multilabel_margin_loss_grad",
]
