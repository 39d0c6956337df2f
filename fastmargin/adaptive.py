"""AdaptiveMargins: per-label hinge margins that move with each batch."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _dispatch
from ._checks import Call, Device, Reduction, TargetFormat, check_positive_int, check_real

# Blocks whose per-label partial sums AdaptiveMargins adds up in a fixed
# order: a number that depends on the shape alone, never on the threads.
# Each block holds C float64 partial sums: 32 MiB of them at most.
_LABEL_SUM_BLOCKS = 64


_LABEL_SUM_BYTES = 32 << 20


def _row_count(input):
    """N of an input of shape (N, C) (1 for one row of shape (C,))."""
    return int(np.prod(np.shape(input)[:-1]))


def _label_sum_blocks(n_rows, n_classes):
    """How many blocks of rows the per-label sums are split into."""
    return max(1, min(n_rows, _LABEL_SUM_BLOCKS, _LABEL_SUM_BYTES // (8 * n_classes)))


class AdaptiveMargins:
    """Per-label hinge margins that grow where the loss stays high.

    A hinge loss with one margin per label, where each label's margin moves
    after every batch in proportion to the hinge loss that label had::

        margins = clip(margins + rate * label_sums / N, low, high)

    where ``label_sums[c]`` is the sum over the batch's N samples of label
    c's hinge term (squared when ``squared=True``). The sums come from the
    same pass over the scores as the loss, and are added up in a fixed order
    that depends on the batch's shape alone, so the margins are identical
    run to run and for any number of threads.

    Parameters
    ----------
    n_labels : int
        Number of labels C, at least 1.
    initial : float, optional
        Every label's starting margin, within ``bounds``. Default 1.0.
    rate : float, optional
        Step of the update, finite and >= 0 (0 keeps the margins fixed).
        Default 0.1.
    bounds : (float, float), optional
        Finite ``(low, high)`` with ``low <= high``; margins never leave
        them. Default (0.5, 2.0).

    Attributes
    ----------
    margins : ndarray of float64, shape (C,)
        The current margins, updated in place by :meth:`loss_and_grad`.

    Raises
    ------
    TypeError, ValueError
        For a non-integer or non-positive ``n_labels``, a non-finite or
        negative ``rate``, ``bounds`` that are not two finite numbers in
        order, or an ``initial`` outside them.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmargin import AdaptiveMargins
    >>> adaptive = AdaptiveMargins(3, initial=1.0, rate=0.5, bounds=(0.5, 2.0))
    >>> scores = np.array([[2.0, -0.5, 0.5], [1.0, 0.0, -1.0]])
    >>> target = np.array([[0, 2], [0, -1]])
    >>> loss, grad = adaptive.loss_and_grad(scores, target)
    >>> adaptive.margins  # label 1: (0.5 + 1.0) / 2 * 0.5; label 2: (0.5 + 0) / 2 * 0.5
    array([1.   , 1.375, 1.125])
    """

    def __init__(
        self,
        n_labels: int,
        *,
        initial: float = 1.0,
        rate: float = 0.1,
        bounds: tuple[float, float] = (0.5, 2.0),
    ) -> None:
        self.n_labels = check_positive_int(n_labels, "n_labels")
        rate = check_real(rate, "rate")
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be finite and >= 0, got {rate!r}")
        try:
            low, high = bounds
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be a pair (low, high), got {bounds!r}") from None
        low, high = check_real(low, "bounds[0]"), check_real(high, "bounds[1]")
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"bounds must be finite with low <= high, got {bounds!r}")
        initial = check_real(initial, "initial")
        if not low <= initial <= high:
            raise ValueError(f"initial = {initial!r} lies outside bounds {bounds!r}")
        self.rate = rate
        self.bounds = (low, high)
        self.margins = np.full(self.n_labels, initial)

    def __repr__(self):
        return (
            f"AdaptiveMargins(n_labels={self.n_labels}, rate={self.rate}, "
            f"bounds={self.bounds})"
        )

    def loss_and_grad(
        self,
        input: ArrayLike,
        target: Any,
        *,
        target_format: TargetFormat = "auto",
        squared: bool = False,
        reduction: Reduction = "mean",
        normalize: bool = True,
        out: Any = None,
        device: Device = "auto",
    ) -> tuple[Any, Any]:
        """Hinge loss and gradient with the current margins, then update them.

        Parameters
        ----------
        input, target, target_format, squared, reduction, normalize, out, device : see below
            As for :func:`multilabel_hinge_loss_and_grad`; ``input`` must
            have ``n_labels`` classes. The margins stay a NumPy array on the
            host: on the GPU they are copied in, and the per-label sums
            copied back, each call.

        Returns
        -------
        loss : ndarray or scalar
            The loss with the margins as they were before this call.
        grad : ndarray
            Its gradient with respect to ``input``.

        Raises
        ------
        TypeError, ValueError
            As :func:`multilabel_hinge_loss_and_grad`, and a ValueError when
            ``input`` does not have ``n_labels`` classes or the margins are
            not finite in its dtype.

        Warns
        -----
        RuntimeWarning
            When the batch's per-label sums are not all finite (a NaN or
            infinite score), so that the margins were not updated.

        Notes
        -----
        The margins move only after a batch whose per-label sums are all
        finite. An empty batch leaves them as they are, and so does a batch
        with a NaN or infinite score: its loss and gradient show the NaN or
        infinity as usual, and the margins stay usable for the next batch
        (a training loop that skips such a batch loses nothing). ``rate=0``
        keeps the margins fixed whatever the batch.

        Examples
        --------
        >>> import numpy as np
        >>> from fastmargin import AdaptiveMargins
        >>> adaptive = AdaptiveMargins(2, rate=1.0)
        >>> loss, grad = adaptive.loss_and_grad(np.array([[0.5, 0.0]]), np.array([[0]]))
        >>> float(loss), adaptive.margins.tolist()  # label 0: 0.5, label 1: 1.0
        (0.75, [1.5, 2.0])
        """
        loss, grad, label_sums = self.loss_grad_and_label_sums(
            input,
            target,
            target_format=target_format,
            squared=squared,
            reduction=reduction,
            normalize=normalize,
            out=out,
            device=device,
        )
        self._move(label_sums, _row_count(input), stacklevel=2)
        return loss, grad

    def loss_grad_and_label_sums(
        self,
        input: ArrayLike,
        target: Any,
        *,
        target_format: TargetFormat = "auto",
        squared: bool = False,
        reduction: Reduction = "mean",
        normalize: bool = True,
        grad_output: ArrayLike | None = None,
        out: Any = None,
        device: Device = "auto",
    ) -> tuple[Any, Any, np.ndarray]:
        """Hinge loss, gradient and per-label sums; the margins stay as they are.

        :meth:`loss_and_grad` is this call followed by :meth:`update`; the
        two halves serve batches split across processes (as
        ``fastmargin.dask`` splits them), whose sums are added up before
        one update.

        Parameters
        ----------
        input, target, target_format, squared : see loss_and_grad
            As for :meth:`loss_and_grad`.
        reduction, normalize : see loss_and_grad
            As for :meth:`loss_and_grad`.
        grad_output : array_like, optional
            As for :func:`multilabel_hinge_loss_and_grad`: the gradient
            scaled in the same pass (the label sums are unscaled).
        out, device : see loss_and_grad
            As for :meth:`loss_and_grad`.

        Returns
        -------
        loss : ndarray or scalar
            The loss with the current margins.
        grad : ndarray
            Its gradient with respect to ``input``.
        label_sums : ndarray of float64, shape (C,)
            Label c's hinge terms (squared when ``squared``) summed over the
            batch's rows, in a fixed order that depends on the batch's shape
            alone.

        Raises
        ------
        TypeError, ValueError
            As :meth:`loss_and_grad`.

        Examples
        --------
        >>> import numpy as np
        >>> from fastmargin import AdaptiveMargins
        >>> adaptive = AdaptiveMargins(2, rate=1.0)
        >>> scores, target = np.array([[0.5, 0.0]]), np.array([[0]])
        >>> loss, grad, sums = adaptive.loss_grad_and_label_sums(scores, target)
        >>> sums.tolist(), adaptive.margins.tolist()
        ([0.5, 1.0], [1.0, 1.0])
        """
        shape = tuple(np.shape(input))
        n_classes = shape[-1] if shape else None
        if n_classes != self.n_labels:
            raise ValueError(
                f"input must have {self.n_labels} classes (n_labels), got shape {shape}"
            )
        finite = np.isfinite(self.margins)
        if not finite.all():
            label = int(np.argmin(finite))
            raise ValueError(
                f"AdaptiveMargins.margins[{label}] = {float(self.margins[label])!r} is not "
                "finite (set from outside: the updates keep margins finite); set the "
                "margins again, for example adaptive.margins[:] = 1.0"
            )
        n_rows = _row_count(input)
        label_sums = np.zeros((_label_sum_blocks(n_rows, n_classes), n_classes))
        call = Call(
            input=input,
            target=target,
            margin=self.margins,
            reduction=reduction,
            normalize=normalize,
            grad_output=grad_output,
            with_grad=True,
            out=out,
            target_format=target_format,
            squared=squared,
            label_sums=label_sums,
        )
        loss, grad = _dispatch.hinge(call, device)
        return loss, grad, label_sums.sum(axis=0)

    def update(self, label_sums: ArrayLike, n_rows: int) -> None:
        """Move the margins by a batch's per-label sums (see the class).

        Parameters
        ----------
        label_sums : array_like of float64, shape (C,)
            The batch's per-label hinge sums, as
            :meth:`loss_grad_and_label_sums` returns them (added up over the
            parts of a batch split across processes).
        n_rows : int
            The batch's number of rows N; 0 leaves the margins as they are.

        Raises
        ------
        TypeError
            If ``n_rows`` is not an int.
        ValueError
            If ``label_sums`` does not have shape (C,) or ``n_rows < 0``.

        Warns
        -----
        RuntimeWarning
            When the sums are not all finite: the margins stay as they are.

        Examples
        --------
        >>> import numpy as np
        >>> from fastmargin import AdaptiveMargins
        >>> adaptive = AdaptiveMargins(2, rate=1.0)
        >>> adaptive.update(np.array([0.5, 1.0]), n_rows=1)
        >>> adaptive.margins.tolist()
        [1.5, 2.0]
        """
        label_sums = np.asarray(label_sums, dtype=np.float64)
        if label_sums.shape != (self.n_labels,):
            raise ValueError(
                f"label_sums must have shape ({self.n_labels},), got {label_sums.shape}"
            )
        if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)):
            raise TypeError(f"n_rows must be an int, got {type(n_rows).__name__}")
        if n_rows < 0:
            raise ValueError(f"n_rows must be >= 0, got {n_rows}")
        self._move(label_sums, int(n_rows), stacklevel=2)

    def _move(self, label_sums, n_rows, stacklevel):
        """The update rule; a warning points ``stacklevel`` frames up."""
        if n_rows and self.rate:
            if np.isfinite(label_sums).all():
                step = self.margins + self.rate * (label_sums / n_rows)
                np.clip(step, *self.bounds, out=self.margins)
            else:
                warnings.warn(
                    "AdaptiveMargins: the batch's per-label hinge sums are not all "
                    "finite (a NaN or infinite score); the margins were not updated",
                    RuntimeWarning,
                    stacklevel=stacklevel + 1,
                )
