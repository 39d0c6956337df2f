"""asv benchmarks of the per-label (one-vs-rest) hinge loss:
``multilabel_hinge_loss``, ``_grad`` and ``_and_grad``, and
``AdaptiveMargins.loss_and_grad``.

Reduction "mean", margin 1, not squared, T distinct labels per row drawn by
``fastmargin.cli.timing.make_batch``. Unless a benchmark says otherwise, targets
are compact (N, T) int64 class indices, as in ``benchmarks/hinge_table.py``.
Shapes are "N x C x targets per row".
"""

import functools

from .bench_common import (
    BIG_SHAPES,
    DTYPES,
    HINGE_SHAPES,
    TARGET_FORMS,
    WIDE,
    _Call,
    batch,
    function,
    parse_shape,
    reset_peak_memory,
)


class HingeLossAndGrad(_Call):
    """Fused loss and gradient: one pass, a fresh gradient array per call."""

    params = (HINGE_SHAPES, DTYPES)
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.call = self._prepare("multilabel_hinge_loss_and_grad", shape, dtype, "compact")

    def time_loss_and_grad(self, shape, dtype):
        self.call()


class HingeLoss(_Call):
    """The loss alone (no gradient written)."""

    params = (HINGE_SHAPES, DTYPES)
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.call = self._prepare("multilabel_hinge_loss", shape, dtype, "compact")

    def time_loss(self, shape, dtype):
        self.call()


class HingeGrad(_Call):
    """The gradient alone."""

    params = (HINGE_SHAPES, DTYPES)
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.call = self._prepare("multilabel_hinge_loss_grad", shape, dtype, "compact")

    def time_grad(self, shape, dtype):
        self.call()


class HingeTargetForms(_Call):
    """Fused loss and gradient, float32, for each target form: padded (N, C)
    int64, compact (N, T) int64, a bool (N, C) indicator (read directly) and
    a scipy.sparse CSR indicator."""

    params = (TARGET_FORMS, BIG_SHAPES)
    param_names = ("targets", "shape")

    def setup(self, form, shape):
        self.call = self._prepare("multilabel_hinge_loss_and_grad", shape, "float32", form)

    def time_loss_and_grad(self, form, shape):
        self.call()


class HingeOut(_Call):
    """Fused loss and gradient, float32, the gradient written into one reused
    ``out=`` buffer. Against HingeLossAndGrad, the difference is the
    allocation and first touch of a fresh gradient on every call."""

    params = (BIG_SHAPES,)
    param_names = ("shape",)

    def setup(self, shape):
        self.call = self._prepare(
            "multilabel_hinge_loss_and_grad", shape, "float32", "compact", out=True
        )

    def time_loss_and_grad_out(self, shape):
        self.call()


class HingeAdaptiveMargins(_Call):
    """``AdaptiveMargins(C).loss_and_grad``, float32, compact targets: the
    fused hinge with per-label margins plus the per-label sums that update
    them (default rate and bounds; the margins move from call to call, the
    work does not)."""

    params = (BIG_SHAPES,)
    param_names = ("shape",)

    def setup(self, shape):
        scores, targets = batch(shape, "float32", "compact")
        adaptive = function("AdaptiveMargins")(parse_shape(shape)[1])
        self.call = functools.partial(adaptive.loss_and_grad, scores, targets)
        self.call()

    def time_loss_and_grad(self, shape):
        self.call()


class HingeMemory(_Call):
    """Peak resident memory of the whole process during one call, float32,
    compact targets. The peak is reset at the end of ``setup`` (Linux), so
    it counts the interpreter and libraries, the data held by the benchmark,
    and what the call allocates: the gradient (fused call) and a per-thread
    label row. The loss alone should allocate nothing of size N x C."""

    params = ((WIDE,),)
    param_names = ("shape",)

    def setup(self, shape):
        self.fused = self._prepare(
            "multilabel_hinge_loss_and_grad", shape, "float32", "compact"
        )
        self.loss = self._prepare("multilabel_hinge_loss", shape, "float32", "compact")
        reset_peak_memory()

    def peakmem_loss_and_grad(self, shape):
        self.fused()

    def peakmem_loss(self, shape):
        self.loss()
