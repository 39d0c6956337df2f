"""AdaptiveMargins over Dask batches: a lazy loss whose computation moves
the margins."""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import dask
import dask.array as da
import dask.threaded
import numpy as np
from dask.base import DaskMethodsMixin
from dask.highlevelgraph import HighLevelGraph

import fastmargin

from .losses import lazy_loss

# The AdaptiveLoss objects of this process, by key: a finalize step that
# runs here (after its task was pickled or not) finds the original object.
_LOSSES = weakref.WeakValueDictionary()


def _hinge_with_label_sums(
    scores, target, *, reduction, grad_output, margins, bounds, **settings
):
    """One chunk's per-row hinge losses and gradient (scaled per row by
    ``grad_output``) with ``margins``, and its per-label sums, shape (1, C)."""
    rule = fastmargin.AdaptiveMargins(margins.shape[0], initial=bounds[0], bounds=bounds)
    rule.margins[:] = margins
    losses, grad, label_sums = rule.loss_grad_and_label_sums(
        scores, target, reduction=reduction, grad_output=grad_output, **settings
    )
    return losses, grad, label_sums[None, :]


class AdaptiveLoss(DaskMethodsMixin):
    """The lazy loss of a Dask batch; computing it moves the margins, once.

    :meth:`AdaptiveMargins.loss_and_grad` makes it; computing it
    (``.compute()`` or ``dask.compute``) returns the loss and moves the
    margins of the :class:`AdaptiveMargins` that made it.

    Parameters
    ----------
    loss : dask.array.Array
        The loss as a plain Dask array (kept as ``array``: computing that
        moves nothing, for arithmetic on the loss).
    label_sums : dask.array.Array, shape (C,)
        The batch's per-label sums.
    n_rows : int
        The batch's number of rows.
    adaptive : AdaptiveMargins
        Whose margins move.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import AdaptiveMargins
    >>> adaptive = AdaptiveMargins(2, rate=1.0)
    >>> loss, _ = adaptive.loss_and_grad(da.ones((4, 2), chunks=2), np.array([[0]] * 4))
    >>> float(loss.compute()), adaptive.margins.tolist()
    (1.0, [1.0, 2.0])
    >>> loss.compute() and adaptive.margins.tolist()  # moved once only
    [1.0, 2.0]
    """

    def __init__(self, loss, label_sums, n_rows, adaptive):
        self.array = loss
        self._label_sums = label_sums
        self._n_rows = n_rows
        self._adaptive = adaptive
        self._moved = False
        self._key = uuid.uuid4().hex
        _LOSSES[self._key] = self

    def compute(self, **kwargs):
        """The loss, computed with its label sums by any scheduler; the
        margins move here, in this process (the first time only)."""
        loss, label_sums = dask.compute(self.array, self._label_sums, **kwargs)
        self._move_once(label_sums)
        return loss

    def _move_once(self, label_sums):
        if not self._moved:
            self._moved = True
            self._adaptive.update(label_sums, self._n_rows)

    def __repr__(self):
        return f"AdaptiveLoss({self.array!r})"

    def __dask_graph__(self):
        return HighLevelGraph.merge(self.array.dask, self._label_sums.dask)

    def __dask_keys__(self):
        return [self.array.__dask_keys__(), self._label_sums.__dask_keys__()]

    def __dask_layers__(self):
        return (*self.array.__dask_layers__(), *self._label_sums.__dask_layers__())

    def __dask_tokenize__(self):
        return (type(self).__name__, self.array.name, self._label_sums.name)

    __dask_scheduler__ = staticmethod(dask.threaded.get)

    @staticmethod
    def __dask_optimize__(graph, keys, **kwargs):
        return graph

    def __dask_postcompute__(self):
        return self._finish, ()

    def __dask_postpersist__(self):
        raise TypeError(
            "an AdaptiveLoss moves the margins when computed, not persisted: compute "
            "it, or persist its .array (which moves nothing)"
        )

    def _finish(self, results):
        """The computed loss; the margins move by the batch's label sums."""
        finish_loss, loss_args = self.array.__dask_postcompute__()
        finish_sums, sums_args = self._label_sums.__dask_postcompute__()
        original = _LOSSES.get(self._key)
        if original is None:
            raise RuntimeError(
                "this AdaptiveLoss was finished in another process (a dask.distributed "
                "worker), where its margins do not live: call loss.compute(), which "
                "moves them in this process, or use loss_grad_and_label_sums and update"
            )
        original._move_once(finish_sums(results[1], *sums_args))
        return finish_loss(results[0], *loss_args)


class AdaptiveMargins(fastmargin.AdaptiveMargins):
    """:class:`fastmargin.AdaptiveMargins` that also takes Dask batches.

    Parameters
    ----------
    n_labels : int
        Number of labels C.
    initial : float, optional
        Every label's starting margin. Default 1.0.
    rate : float, optional
        Step of the update. Default 0.1.
    bounds : (float, float), optional
        Limits of the margins. Default (0.5, 2.0).

    See Also
    --------
    fastmargin.AdaptiveMargins : The rule, and the in-memory batches.

    Notes
    -----
    For a Dask batch, :meth:`loss_and_grad` builds the graph with the
    margins as they are when it is called, and returns an
    :class:`AdaptiveLoss` and the lazy gradient. The margins move, the
    first time only, when that loss is computed:

    - by ``loss.compute()``, with any scheduler (``dask.distributed``
      included): the loss and the label sums are computed together and the
      margins move in the process that calls it;
    - by ``dask.compute(loss, grad)`` with the synchronous or threaded
      scheduler; where the scheduler finishes results in another process
      (``dask.distributed``, the "processes" scheduler) this raises a
      RuntimeError that points to ``loss.compute()``.

    ``persist`` of the loss, and computing ``loss.array``, move nothing.
    The label sums of the chunks are added up in a fixed tree, so the same
    chunks give the same margins every time. For full control,
    :meth:`loss_grad_and_label_sums` returns the lazy loss, gradient and
    label sums, and :meth:`update` moves the margins by the computed sums.
    A training loop computes each batch before it builds the next batch's
    graph.

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmargin.dask import AdaptiveMargins
    >>> adaptive = AdaptiveMargins(3, rate=0.5)
    >>> scores = da.from_array(np.array([[2.0, -0.5, 0.5], [1.0, 0.0, -1.0]]), chunks=1)
    >>> loss, grad = adaptive.loss_and_grad(scores, np.array([[0, 2], [0, -1]]))
    >>> adaptive.margins  # nothing computed yet
    array([1., 1., 1.])
    >>> loss, grad = dask.compute(loss, grad)
    >>> adaptive.margins
    array([1.   , 1.375, 1.125])
    """

    def loss_and_grad(
        self,
        input: Any,
        target: Any,
        *,
        target_format: str = "auto",
        squared: bool = False,
        reduction: str = "mean",
        normalize: bool = True,
        out: Any = None,
        device: str = "auto",
    ) -> tuple[Any, Any]:
        """Hinge loss and gradient; a Dask batch's loss moves the margins when computed.

        Parameters
        ----------
        input : ndarray or dask.array.Array, shape (N, C)
            Scores; a Dask array chunked by rows, as for
            :func:`fastmargin.dask.multilabel_hinge_loss`.
        target, target_format, squared, reduction, normalize, out, device : see fastmargin
            As for :meth:`fastmargin.AdaptiveMargins.loss_and_grad` (``out``
            must be None for a Dask batch).

        Returns
        -------
        loss : AdaptiveLoss or ndarray or scalar
            For a Dask batch, an :class:`AdaptiveLoss`; else as
            :meth:`fastmargin.AdaptiveMargins.loss_and_grad`.
        grad : dask.array.Array or ndarray
            The gradient, chunked as ``input`` for a Dask batch.

        Raises
        ------
        TypeError, ValueError
            As :meth:`fastmargin.AdaptiveMargins.loss_and_grad`; for a Dask
            batch, also as :func:`fastmargin.dask.multilabel_hinge_loss`.

        Examples
        --------
        >>> import dask.array as da
        >>> import numpy as np
        >>> from fastmargin.dask import AdaptiveMargins
        >>> adaptive = AdaptiveMargins(2, rate=1.0)
        >>> scores = da.from_array(np.array([[0.5, 0.0]] * 4), chunks=2)
        >>> loss, grad = adaptive.loss_and_grad(scores, np.array([[0]] * 4))
        >>> grad.chunks
        ((2, 2), (2,))
        >>> float(loss.compute()), adaptive.margins.tolist()
        (0.75, [1.5, 2.0])
        """
        options = {
            "target_format": target_format,
            "squared": squared,
            "reduction": reduction,
            "normalize": normalize,
            "out": out,
            "device": device,
        }
        if not isinstance(input, da.Array):
            return super().loss_and_grad(input, target, **options)
        loss, grad, label_sums = self.loss_grad_and_label_sums(input, target, **options)
        return AdaptiveLoss(loss, label_sums, input.shape[0], self), grad

    def loss_grad_and_label_sums(
        self,
        input: Any,
        target: Any,
        *,
        target_format: str = "auto",
        squared: bool = False,
        reduction: str = "mean",
        normalize: bool = True,
        out: Any = None,
        device: str = "auto",
    ) -> tuple[Any, Any, Any]:
        """Hinge loss, gradient and per-label sums; the margins stay as they are.

        Parameters
        ----------
        input : ndarray or dask.array.Array, shape (N, C)
            Scores; a Dask array chunked by rows gives lazy results.
        target, target_format, squared, reduction, normalize, out, device : see fastmargin
            As for :meth:`fastmargin.AdaptiveMargins.loss_grad_and_label_sums`
            (``out`` must be None for a Dask batch).

        Returns
        -------
        loss, grad : dask.array.Array or ndarray
            As :func:`fastmargin.dask.multilabel_hinge_loss_and_grad` (lazy
            for a Dask batch).
        label_sums : dask.array.Array or ndarray, shape (C,)
            The per-label sums, float64; for a Dask batch the chunks' sums
            added up in a fixed tree. Pass them, computed, to
            :meth:`update`.

        Raises
        ------
        TypeError, ValueError
            As :meth:`loss_and_grad`.

        Examples
        --------
        >>> import dask
        >>> import dask.array as da
        >>> import numpy as np
        >>> from fastmargin.dask import AdaptiveMargins
        >>> adaptive = AdaptiveMargins(2, rate=1.0)
        >>> scores = da.from_array(np.array([[0.5, 0.0]] * 4), chunks=2)
        >>> lazy = adaptive.loss_grad_and_label_sums(scores, np.array([[0]] * 4))
        >>> loss, grad, sums = dask.compute(*lazy)   # any scheduler
        >>> adaptive.update(sums, n_rows=4)
        >>> adaptive.margins.tolist()
        [1.5, 2.0]
        """
        settings = {
            "target_format": target_format,
            "squared": squared,
            "normalize": normalize,
            "device": device,
        }
        if not isinstance(input, da.Array):
            return super().loss_grad_and_label_sums(
                input, target, reduction=reduction, out=out, **settings
            )
        if input.ndim != 2 or input.shape[1] != self.n_labels:
            raise ValueError(
                f"input must have {self.n_labels} classes (n_labels), got shape {input.shape}"
            )
        if not np.isfinite(self.margins).all():
            raise ValueError(
                "AdaptiveMargins.margins are not all finite; set them again, for example "
                "adaptive.margins[:] = 1.0"
            )
        return lazy_loss(
            _hinge_with_label_sums,
            input,
            target,
            reduction=reduction,
            grad_output=None,
            out=out,
            with_grad=True,
            with_label_sums=True,
            margins=self.margins.copy(),
            bounds=self.bounds,
            **settings,
        )
