"""asv benchmarks of the ranking margin loss (PyTorch's MultiLabelMarginLoss):
``multilabel_margin_loss``, ``_grad`` and ``_and_grad``.

Reduction "mean", margin 1, T distinct labels per row drawn by
``fastmargin.cli.timing.make_batch``. Unless a benchmark says otherwise, targets
come in PyTorch's layout: (N, C) int64, -1 padded. Shapes are
"N x C x targets per row".
"""

from .bench_common import (
    BIG_SHAPES,
    DTYPES,
    MANY_TARGETS,
    RANKING_SHAPES,
    TARGET_FORMS,
    WIDE,
    _Call,
    reset_peak_memory,
)


class RankingLossAndGrad(_Call):
    """Fused loss and gradient: one pass, a fresh gradient array per call."""

    params = (RANKING_SHAPES, DTYPES)
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.call = self._prepare("multilabel_margin_loss_and_grad", shape, dtype)

    def time_loss_and_grad(self, shape, dtype):
        self.call()


class RankingLoss(_Call):
    """The loss alone (no gradient written)."""

    params = (RANKING_SHAPES, DTYPES)
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.call = self._prepare("multilabel_margin_loss", shape, dtype)

    def time_loss(self, shape, dtype):
        self.call()


class RankingGrad(_Call):
    """The gradient alone."""

    params = (RANKING_SHAPES, DTYPES)
    param_names = ("shape", "dtype")

    def setup(self, shape, dtype):
        self.call = self._prepare("multilabel_margin_loss_grad", shape, dtype)

    def time_grad(self, shape, dtype):
        self.call()


class RankingTargetForms(_Call):
    """Fused loss and gradient, float32, for each target form: PyTorch's
    padded (N, C) int64, compact (N, T) int64, a bool (N, C) indicator and a
    scipy.sparse CSR indicator (read without densifying)."""

    params = (TARGET_FORMS, BIG_SHAPES)
    param_names = ("targets", "shape")

    def setup(self, form, shape):
        self.call = self._prepare("multilabel_margin_loss_and_grad", shape, "float32", form)

    def time_loss_and_grad(self, form, shape):
        self.call()


class RankingOut(_Call):
    """Fused loss and gradient, float32, the gradient written into one reused
    ``out=`` buffer. Against RankingLossAndGrad, the difference is the
    allocation and first touch of a fresh gradient on every call."""

    params = (BIG_SHAPES,)
    param_names = ("shape",)

    def setup(self, shape):
        self.call = self._prepare(
            "multilabel_margin_loss_and_grad", shape, "float32", out=True
        )

    def time_loss_and_grad_out(self, shape):
        self.call()


class RankingMemory(_Call):
    """Peak resident memory of the whole process during one call, float32.

    The peak is reset at the end of ``setup`` (Linux), so it counts the
    interpreter and libraries, the scores and targets held by the benchmark,
    and what the call allocates: the gradient (fused call) and scratch,
    O(C + K) per thread. The loss alone should allocate nothing of size N x C.
    """

    params = ((WIDE, MANY_TARGETS),)
    param_names = ("shape",)

    def setup(self, shape):
        self.fused = self._prepare("multilabel_margin_loss_and_grad", shape)
        self.loss = self._prepare("multilabel_margin_loss", shape)
        reset_peak_memory()

    def peakmem_loss_and_grad(self, shape):
        self.fused()

    def peakmem_loss(self, shape):
        self.loss()
