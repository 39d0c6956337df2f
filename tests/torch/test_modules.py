"""fastmargin.torch in eager mode: parity with ``torch.nn.MultiLabelMarginLoss``
and with fastmargin's NumPy functions, autograd (gradcheck, the kept
gradient, no second derivative), the custom operators (opcheck), the
adaptive margins' buffer, errors, and a 50-step training trajectory."""

import subprocess
import sys

import naive
import numpy as np
import pytest
import torch
from forms import pytorch_layout_targets

import fastmargin
from fastmargin.torch import (
    AdaptiveMarginHingeLoss,
    MultiLabelHingeLoss,
    MultiLabelMarginLoss,
    multilabel_hinge_loss,
    multilabel_margin_loss,
    ops,
)

REDUCTIONS = ("none", "mean", "sum")
TOLERANCES = {
    torch.float64: dict(rtol=1e-10, atol=1e-14),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
}


def loss_and_grad(criterion, scores, target, weights=None):
    """``criterion``'s loss and the gradient of ``sum(loss * weights)`` with
    respect to a fresh leaf copy of ``scores``."""
    leaf = scores.detach().clone().requires_grad_()
    loss = criterion(leaf, target)
    loss.backward(torch.ones_like(loss) if weights is None else weights)
    return loss.detach(), leaf.grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (16, 10), (33, 40), (12,)])
def test_module_matches_torch(shape, dtype, reduction):
    """Values and gradients of every reduction equal torch's op within 1e-10
    (float64) and 1e-5 (float32), for per-sample weights too."""
    rng = np.random.default_rng(sum(shape))
    n_rows, n_classes = (1, shape[0]) if len(shape) == 1 else shape
    target = torch.from_numpy(pytorch_layout_targets(rng, n_rows, n_classes))
    scores = torch.from_numpy(rng.standard_normal((n_rows, n_classes)) * 1.5).to(dtype)
    if len(shape) == 1:
        scores, target = scores[0], target[0]
    weights = None
    if reduction == "none" and len(shape) == 2:
        weights = torch.from_numpy(rng.standard_normal(n_rows)).to(dtype)
    ours = loss_and_grad(MultiLabelMarginLoss(reduction=reduction), scores, target, weights)
    theirs = loss_and_grad(
        torch.nn.MultiLabelMarginLoss(reduction=reduction), scores, target, weights
    )
    for mine, expected in zip(ours, theirs):
        assert mine.shape == expected.shape and mine.dtype == expected.dtype
        torch.testing.assert_close(mine, expected, **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_and_backward_give_the_numpy_functions_bits(dtype):
    """The module returns fastmargin's own loss and gradient, bit for bit
    (the backward scales the kept gradient by 1.0), from padded and
    compact targets alike."""
    rng = np.random.default_rng(1)
    scores = torch.from_numpy(rng.standard_normal((50, 30))).to(dtype)
    padded = pytorch_layout_targets(rng, 50, 30)
    loss, grad = fastmargin.multilabel_margin_loss_and_grad(
        scores.numpy(), padded, target_format="indices"
    )
    for target in (
        padded,
        fastmargin.targets_from_indicator(fastmargin.indicator_from_targets(padded, 30)),
    ):
        if target is not padded:  # duplicates dropped: compare with the NumPy call
            loss, grad = fastmargin.multilabel_margin_loss_and_grad(scores.numpy(), target)
        ours = loss_and_grad(MultiLabelMarginLoss(), scores, torch.from_numpy(target))
        assert torch.equal(ours[0], torch.from_numpy(np.asarray(loss)))
        assert torch.equal(ours[1], torch.from_numpy(grad))


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", ["scalar", "per label"])
@pytest.mark.parametrize("target_kind", ["indices", "bool", "float"])
def test_hinge_module_matches_the_reference(target_kind, margin, reduction, squared):
    """MultiLabelHingeLoss against the obviously-correct NumPy reference, for
    index, bool and float 0/1 targets and per-label margin buffers."""
    rng = np.random.default_rng(7)
    scores = torch.from_numpy(rng.standard_normal((20, 9)) * 2)
    indicator = rng.random((20, 9)) < 0.3
    margins = rng.uniform(0.5, 2.0, 9) if margin == "per label" else 0.75
    target = {
        "indices": lambda: fastmargin.targets_from_indicator(indicator),
        "bool": lambda: indicator,
        "float": lambda: indicator.astype(np.float32),
    }[target_kind]()
    criterion = MultiLabelHingeLoss(
        torch.from_numpy(margins) if margin == "per label" else margins, squared, reduction
    )
    weights = torch.from_numpy(rng.standard_normal(20)) if reduction == "none" else None
    loss, grad = loss_and_grad(criterion, scores, torch.from_numpy(target), weights)
    expected_loss, expected_grad = naive.hinge_loss_and_grad(
        scores.numpy(),
        indicator,
        margins,
        squared,
        reduction,
        None if weights is None else weights.numpy(),
    )
    np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-12, atol=1e-15)


def test_gradcheck():
    """Finite differences agree with the kept gradient (scores drawn away
    from the hinges' kinks)."""
    rng = np.random.default_rng(2)
    scores = torch.from_numpy(rng.standard_normal((6, 8))).requires_grad_()
    target = torch.from_numpy(pytorch_layout_targets(rng, 6, 8))
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda x, r=reduction: multilabel_margin_loss(x, target, reduction=r), (scores,)
        )
        assert torch.autograd.gradcheck(
            lambda x, r=reduction: multilabel_hinge_loss(x, target > 3, 0.5, True, r),
            (scores,),
        )


def operator_cases():
    rng = np.random.default_rng(3)
    scores = torch.from_numpy(rng.standard_normal((5, 7)))
    target = torch.from_numpy(pytorch_layout_targets(rng, 5, 7))
    margins = torch.linspace(0.5, 1.5, 7, dtype=torch.float64)
    grad = scores.clone().requires_grad_()
    yield ops.RANKING_LOSS, (scores, target, 1.0, "none", "indices")
    yield ops.RANKING_LOSS_AND_GRAD, (grad, target, 0.5, "mean", "indices")
    yield ops.HINGE_LOSS, (scores, target, margins, 1.0, False, "sum", "indices")
    yield ops.HINGE_LOSS_AND_GRAD, (grad, target, None, 2.0, True, "none", "indices")
    yield (
        ops.HINGE_LOSS_AND_GRAD,
        (
            scores.float().requires_grad_(),
            target > 2,
            margins,
            1.0,
            False,
            "mean",
            "indicator",
        ),
    )
    yield (
        ops.ADAPTIVE_HINGE_LOSS_AND_GRAD,
        (
            grad,
            target,
            margins,
            0.1,
            0.5,
            2.0,
            False,
            "mean",
            "indices",
        ),
    )


@pytest.mark.parametrize("case", range(6))
def test_opcheck(case):
    """torch.library.opcheck: schema, fake (meta) shapes, autograd
    registration and the operators' behaviour under dispatch."""
    op, args = list(operator_cases())[case]
    torch.library.opcheck(op, args)


def test_half_precision_is_computed_in_float32():
    """bfloat16 and float16 scores: a float32 loss (as torch's op under
    autocast) and a gradient of the scores' dtype, equal to the float32
    computation rounded once."""
    rng = np.random.default_rng(4)
    target = torch.from_numpy(pytorch_layout_targets(rng, 16, 12))
    for dtype in (torch.bfloat16, torch.float16):
        scores = torch.from_numpy(rng.standard_normal((16, 12))).to(dtype)
        loss, grad = loss_and_grad(MultiLabelMarginLoss(), scores, target)
        full_loss, full_grad = loss_and_grad(MultiLabelMarginLoss(), scores.float(), target)
        assert loss.dtype == torch.float32 and grad.dtype == dtype
        assert torch.equal(loss, full_loss)
        assert torch.equal(grad, full_grad.to(dtype))


def test_without_grad_no_gradient_is_kept():
    """A forward that autograd will not differentiate runs the loss-only
    kernel: no graph, the same value."""
    rng = np.random.default_rng(5)
    scores = torch.from_numpy(rng.standard_normal((10, 6)))
    target = torch.from_numpy(pytorch_layout_targets(rng, 10, 6))
    with_grad = MultiLabelMarginLoss()(scores.clone().requires_grad_(), target)
    with torch.no_grad():
        in_no_grad = MultiLabelMarginLoss()(scores.clone().requires_grad_(), target)
    plain = MultiLabelMarginLoss()(scores, target)
    assert with_grad.grad_fn is not None
    assert in_no_grad.grad_fn is None and plain.grad_fn is None
    assert torch.equal(in_no_grad, with_grad.detach()) and torch.equal(plain, in_no_grad)


@pytest.mark.parametrize("criterion", [MultiLabelMarginLoss(), MultiLabelHingeLoss()])
def test_a_second_derivative_raises(criterion):
    """create_graph=True gives the right first derivative; differentiating
    it again raises a clear error instead of a silent zero."""
    rng = np.random.default_rng(6)
    scores = torch.from_numpy(rng.standard_normal((4, 5))).requires_grad_()
    target = torch.from_numpy(pytorch_layout_targets(rng, 4, 5))
    (grad,) = torch.autograd.grad(criterion(scores, target), scores, create_graph=True)
    _, expected = loss_and_grad(criterion, scores, target)
    assert torch.equal(grad.detach(), expected)
    with pytest.raises(RuntimeError, match="no second derivative"):
        grad.sum().backward()


def test_inputs_are_not_modified_and_any_layout_works():
    """Non-contiguous (transposed, strided) and read-only inputs give the
    contiguous copy's results, and are left as they were."""
    rng = np.random.default_rng(8)
    base = torch.from_numpy(rng.standard_normal((9, 14)))
    target = torch.from_numpy(pytorch_layout_targets(rng, 14, 9))
    scores = base.t()  # (14, 9), not contiguous
    before = scores.clone()
    loss, grad = loss_and_grad(MultiLabelMarginLoss(reduction="sum"), scores, target)
    expected = loss_and_grad(
        MultiLabelMarginLoss(reduction="sum"), scores.contiguous(), target
    )
    assert torch.equal(loss, expected[0]) and torch.equal(grad, expected[1])
    assert torch.equal(scores, before)
    strided = torch.from_numpy(rng.standard_normal((14, 18)))[:, ::2]
    strided_target = target.clone()
    MultiLabelMarginLoss()(strided, strided_target)
    assert torch.equal(strided_target, target)


def test_errors_name_the_argument():
    """Wrong dtypes, reductions, margins and target entries are clear
    TypeErrors and ValueErrors."""
    scores = torch.zeros(3, 4)
    target = torch.tensor([[0, -1, 0, 0]] * 3)
    with pytest.raises(TypeError, match="input must be float16, bfloat16, float32 or float64"):
        multilabel_margin_loss(scores.long(), target)
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        multilabel_margin_loss(scores.numpy(), target)
    with pytest.raises(ValueError, match="reduction must be"):
        MultiLabelMarginLoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction must be"):
        multilabel_hinge_loss(scores, target, reduction="elementwise")
    with pytest.raises(TypeError, match="margin must be a real number"):
        MultiLabelMarginLoss(margin="1")
    with pytest.raises(ValueError, match=r"target\[0, 0\] = 5 is not a class index"):
        multilabel_margin_loss(scores, torch.tensor([[5, -1, 0, 0]] * 3))
    with pytest.raises(ValueError, match="margin"):
        multilabel_margin_loss(scores, target, margin=float("nan"))


def test_numpy_targets_are_taken_as_tensors():
    """A NumPy target works as the equal tensor does."""
    scores = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
    target = np.array([[3, 0, -1, 1]])
    assert torch.equal(
        multilabel_margin_loss(scores, target),
        multilabel_margin_loss(scores, torch.from_numpy(target)),
    )


def adaptive_batches(rng, n_batches, n_rows, n_classes):
    for _ in range(n_batches):
        scores = torch.from_numpy(rng.standard_normal((n_rows, n_classes)))
        yield scores, torch.from_numpy(rng.random((n_rows, n_classes)) < 0.3)


@pytest.mark.parametrize("squared", [False, True])
def test_adaptive_margins_have_the_numpy_rules_bits(squared):
    """Four training batches move the buffer exactly as AdaptiveMargins moves
    its margins; losses and gradients are equal too."""
    rng = np.random.default_rng(9)
    criterion = AdaptiveMarginHingeLoss(
        7, initial=1.2, rate=0.4, bounds=(0.6, 1.9), squared=squared
    )
    rule = fastmargin.AdaptiveMargins(7, initial=1.2, rate=0.4, bounds=(0.6, 1.9))
    for scores, target in adaptive_batches(rng, 4, 11, 7):
        loss, grad = loss_and_grad(criterion, scores, target)
        expected_loss, expected_grad = rule.loss_and_grad(
            scores.numpy(), target.numpy(), squared=squared
        )
        assert torch.equal(loss, torch.from_numpy(np.asarray(expected_loss)))
        assert torch.equal(grad, torch.from_numpy(expected_grad))
        assert torch.equal(criterion.margins, torch.from_numpy(rule.margins))
    assert not torch.equal(criterion.margins, torch.full((7,), 1.2, dtype=torch.float64))


def test_adaptive_margins_freeze_in_eval_and_survive_a_state_dict():
    """eval() freezes the margins (the loss then uses them as they are); a
    state_dict round trip restores them, and training goes on alike."""
    rng = np.random.default_rng(10)
    batches = list(adaptive_batches(rng, 3, 8, 5))
    criterion = AdaptiveMarginHingeLoss(5, rate=0.5)
    criterion(*batches[0])
    trained = criterion.margins.clone()
    criterion.eval()
    eval_loss = criterion(*batches[1])
    assert torch.equal(criterion.margins, trained)
    expected = multilabel_hinge_loss(*batches[1], margin=trained)
    assert torch.equal(eval_loss, expected)
    restored = AdaptiveMarginHingeLoss(5, rate=0.5)
    restored.load_state_dict(criterion.state_dict())
    assert list(criterion.state_dict()) == ["margins"]
    assert torch.equal(restored.margins, trained)
    criterion.train()
    assert torch.equal(criterion(*batches[2]), restored(*batches[2]))
    assert torch.equal(criterion.margins, restored.margins)
    assert not torch.equal(criterion.margins, trained)


def test_per_label_hinge_margins_are_a_buffer():
    """A tensor margin is a buffer: in state_dict, moved by .to()."""
    criterion = MultiLabelHingeLoss(torch.tensor([1.0, 0.5, 2.0]))
    assert set(criterion.state_dict()) == {"margin"}
    assert criterion.to(torch.float64).margin.dtype == torch.float64
    assert "margin" not in MultiLabelHingeLoss(0.5).state_dict()
    assert (
        repr(criterion)
        == "MultiLabelHingeLoss(margin=per label, squared=False, reduction='mean')"
    )


def test_fifty_sgd_steps_follow_torchs_trajectory():
    """A small MLP trained 50 SGD steps in float64 with our module and with
    torch's ends with parameters equal within 1e-9."""
    rng = np.random.default_rng(11)
    features = torch.from_numpy(rng.standard_normal((64, 12)))
    target = torch.from_numpy(pytorch_layout_targets(rng, 64, 15))
    parameters = []
    for criterion in (MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss()):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(12, 32), torch.nn.ReLU(), torch.nn.Linear(32, 15)
        ).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        for _ in range(50):
            optimizer.zero_grad()
            criterion(model(features), target).backward()
            optimizer.step()
        parameters.append(torch.cat([p.detach().ravel() for p in model.parameters()]))
    assert (parameters[0] - parameters[1]).abs().max() < 1e-9
    assert criterion(model(features), target) < 0.5 * criterion(
        torch.zeros(64, 15, dtype=torch.float64), target
    )


def test_importing_fastmargin_never_imports_torch():
    """Only ``fastmargin.torch`` imports torch."""
    code = (
        "import sys, numpy as np, fastmargin\n"
        "fastmargin.multilabel_margin_loss(np.ones((2, 3)), np.array([[0], [1]]))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("criterion", [MultiLabelMarginLoss(), MultiLabelHingeLoss()])
def test_kept_gradient_is_never_aliased_by_the_accumulated_one(criterion):
    """``loss.backward()`` hands autograd the kept gradient as it is; three
    backward passes of a retained graph still add up to three times one
    (a ``.grad`` sharing memory with the kept gradient would give four)."""
    rng = np.random.default_rng(12)
    scores = torch.from_numpy(rng.standard_normal((6, 9))).requires_grad_()
    loss = criterion(scores, torch.from_numpy(pytorch_layout_targets(rng, 6, 9)))
    loss.backward(retain_graph=True)
    once = scores.grad.clone()
    loss.backward(retain_graph=True)
    loss.backward()
    assert torch.equal(scores.grad, 3 * once)
    assert once.abs().sum() > 0
