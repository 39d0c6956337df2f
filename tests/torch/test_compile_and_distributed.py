"""fastmargin.torch inside PyTorch's machinery: ``torch.compile`` (the
custom operators under ``torch.ops.fastmargin``), ``DistributedDataParallel``
and autocast.

Compiled training steps (aot_eager, fullgraph) give the eager loss,
gradients and adaptive margins bit for bit, and are compiled once; inductor
agrees within 1e-12 (its fused reductions sum in another order). Two gloo
processes, each on half a batch, end with the whole batch's gradients.
Half-precision scores give a float32 loss and a gradient of their own dtype,
as PyTorch's op does under autocast.

The distributed test's workers run this file through ``runpy`` in spawned
processes (see the end of the file): pytest's importlib mode gives this
module a name that a spawned interpreter cannot always import, so a worker
function cannot be pickled by reference.
"""

import faulthandler
import gc
import multiprocessing
import runpy
import time
import weakref
from datetime import timedelta

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from fastmargin.torch import (
    AdaptiveMarginHingeLoss,
    MultiLabelHingeLoss,
    MultiLabelMarginLoss,
)

N_ROWS, N_FEATURES, N_HIDDEN, N_CLASSES = 32, 12, 16, 20


def make_mlp(n_features, n_hidden, n_classes, seed, dtype=torch.float64):
    """Features -> hidden ReLU layer -> one score per class, the same
    weights for the same seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Linear(n_features, n_hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(n_hidden, n_classes),
        ).to(dtype)


def padded_targets(generator, n_rows, n_classes, max_labels):
    """PyTorch's (N, C) int64 layout: each row's labels, then -1, then
    padding that nobody reads (anything in [-1, C), as PyTorch checks).
    Every fourth row has no label at all."""
    target = torch.randint(-1, n_classes, (n_rows, n_classes), generator=generator)
    for row in range(n_rows):
        n_labels = 0 if row % 4 == 0 else 1 + row % max_labels
        labels = torch.randperm(n_classes, generator=generator)[:n_labels]
        target[row, :n_labels] = labels
        if n_labels < n_classes:
            target[row, n_labels] = -1
    return target


def indicator(target, n_classes):
    """The bool (N, C) indicator of padded targets' labels."""
    result = torch.zeros(target.shape[0], n_classes, dtype=torch.bool)
    for row, labels in enumerate(target.tolist()):
        for label in labels:
            if label < 0:
                break
            result[row, label] = True
    return result


def batch(target_form, seed=0):
    """A float64 batch of features and targets in ``target_form``."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(N_ROWS, N_FEATURES, generator=generator, dtype=torch.float64)
    target = padded_targets(generator, N_ROWS, N_CLASSES, max_labels=4)
    if target_form == "bool":
        target = indicator(target, N_CLASSES)
    return features, target


# Per-label float64 margins for the hinge: a buffer, read by the compiled graph.
CRITERIA = {
    "margin": lambda: MultiLabelMarginLoss(),
    "hinge": lambda: MultiLabelHingeLoss(
        margin=torch.linspace(0.5, 1.5, N_CLASSES, dtype=torch.float64), squared=True
    ),
    # A small rate and wide bounds: the margins move every step and none
    # sticks at a bound, so that the comparison sees the update.
    "adaptive": lambda: AdaptiveMarginHingeLoss(N_CLASSES, rate=0.05, bounds=(0.25, 4.0)),
}


def step(model, criterion, features, target):
    """The compiled part of a training step: the forward and the loss."""
    return criterion(model(features), target)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch: no cache entries of another test's
    ``step`` count against dynamo's recompilation limit or in a counter."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def gradients(model):
    return [parameter.grad.clone() for parameter in model.parameters()]


def train_side_by_side(criterion_name, target_form, backend, n_steps=3):
    """``n_steps`` SGD steps of an eager and a compiled copy of the same
    model and criterion; the losses, gradients (and margins) of each step
    for both, and the compile counter."""
    features, target = batch(target_form)
    models = [make_mlp(N_FEATURES, N_HIDDEN, N_CLASSES, seed=1) for _ in range(2)]
    criteria = [CRITERIA[criterion_name]() for _ in range(2)]
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.5) for model in models]
    counter = CompileCounterWithBackend(backend)
    steps = [step, torch.compile(step, fullgraph=True, backend=counter)]
    history = {"eager": [], "compiled": []}
    for _ in range(n_steps):
        for name, run, model, criterion, optimizer in zip(
            history, steps, models, criteria, optimizers
        ):
            optimizer.zero_grad()
            loss = run(model, criterion, features, target)
            loss.backward()
            margins = getattr(criterion, "margins", None)
            history[name].append(
                (loss.detach(), gradients(model), None if margins is None else margins.clone())
            )
            optimizer.step()
    return history, counter, models, criteria, (features, target)


@pytest.mark.parametrize("target_form", ["padded", "bool"])
@pytest.mark.parametrize("criterion_name", sorted(CRITERIA))
def test_compiled_training_step_is_bitwise_eager(criterion_name, target_form):
    """torch.compile(fullgraph=True, backend="aot_eager") of the forward and
    loss, then backward: over three SGD steps the loss and every parameter's
    gradient equal the eager ones bit for bit (torch.equal), and the graph
    is compiled once and reused. AdaptiveMarginHingeLoss's margins after
    each compiled step equal the eager module's bit for bit, and they moved."""
    history, counter, _, criteria, _ = train_side_by_side(
        criterion_name, target_form, "aot_eager"
    )
    assert counter.frame_count == 1
    losses = []
    for (loss, grads, margins), (loss_c, grads_c, margins_c) in zip(
        history["eager"], history["compiled"]
    ):
        assert loss_c.dtype == torch.float64 and loss_c.shape == ()
        assert torch.equal(loss_c, loss)
        assert all(torch.equal(g_c, g) for g_c, g in zip(grads_c, grads))
        assert all(g.abs().sum() > 0 for g in grads)
        if criterion_name == "adaptive":
            assert margins_c.dtype == torch.float64
            assert torch.equal(margins_c, margins)
        losses.append(loss.item())
    # Each step's weights (and margins) were new to the reused graph.
    assert len(set(losses)) == len(losses)
    if criterion_name == "adaptive":
        initial = torch.ones(N_CLASSES, dtype=torch.float64)
        moved = [margins for _, _, margins in history["compiled"]]
        assert not torch.equal(moved[0], initial)
        assert not torch.equal(moved[-1], moved[0])
        assert bool(((moved[-1] > 0.25) & (moved[-1] < 4.0)).all())
        assert torch.equal(criteria[1].margins, criteria[0].margins)


@pytest.mark.parametrize("target_form", ["padded", "bool"])
def test_compiled_adaptive_margins_stay_in_eval_mode(target_form):
    """AdaptiveMarginHingeLoss in eval mode, compiled (aot_eager,
    fullgraph) after training steps: three steps, one compilation, the loss
    and gradients equal eager's, and the margins buffer never moves."""
    _, _, models, criteria, (features, target) = train_side_by_side(
        "adaptive", target_form, "aot_eager"
    )
    trained = criteria[0].margins.clone()
    for criterion in criteria:
        criterion.eval()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(step, fullgraph=True, backend=counter)
    for _ in range(3):
        results = []
        for run, model, criterion in zip([step, compiled], models, criteria):
            model.zero_grad()
            loss = run(model, criterion, features, target)
            loss.backward()
            results.append((loss.detach(), gradients(model)))
            assert torch.equal(criterion.margins, trained)
        (loss, grads), (loss_c, grads_c) = results
        assert torch.equal(loss_c, loss)
        assert all(torch.equal(g_c, g) for g_c, g in zip(grads_c, grads))
    assert counter.frame_count == 1


# Importing inductor imports torch.utils.mkldnn, which warns about its own
# use of torch.jit.script_method (torch 2.13): PyTorch's warning, not ours.
@pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)
@pytest.mark.slow
def test_inductor_training_step_matches_eager():
    """The default inductor backend, fullgraph, on the MultiLabelMarginLoss
    step: three SGD steps, one compilation; the loss and gradients equal
    eager's within 1e-12 (inductor's generated code may sum the bias
    gradients in another order, so they are not bit-identical)."""
    started = time.perf_counter()
    history, counter, _, _, _ = train_side_by_side("margin", "padded", "inductor")
    elapsed = time.perf_counter() - started
    print(f"inductor: compile and three steps took {elapsed:.1f} s")
    assert counter.frame_count == 1
    for (loss, grads, _), (loss_c, grads_c, _) in zip(history["eager"], history["compiled"]):
        torch.testing.assert_close(loss_c, loss, rtol=0, atol=1e-12)
        for g_c, g in zip(grads_c, grads):
            torch.testing.assert_close(g_c, g, rtol=0, atol=1e-12)
    assert history["compiled"][-1][0] < history["compiled"][0][0]


# The operator that a no-grad forward must call: a loss-only one, except for
# AdaptiveMarginHingeLoss in training mode, whose one operator also returns
# the updated margins.
NO_GRAD_OPERATOR = {
    "margin": "fastmargin::multilabel_margin_loss",
    "hinge": "fastmargin::multilabel_hinge_loss",
    "adaptive-eval": "fastmargin::multilabel_hinge_loss",
    "adaptive-train": "fastmargin::adaptive_hinge_loss_and_grad",
}


@pytest.mark.parametrize("case", sorted(NO_GRAD_OPERATOR))
def test_compiled_no_grad_step_takes_the_loss_only_path(case):
    """A step whose forward runs under torch.no_grad(), compiled with
    fullgraph (aot_eager): its graph calls the loss-only operator (no
    gradient computed and dropped), and the loss equals eager's bit for
    bit; AdaptiveMarginHingeLoss's margins still move in training mode, as
    eagerly, and stay in eval mode."""

    def no_grad_step(model, criterion, features, target):
        with torch.no_grad():
            return criterion(model(features), target)

    criterion_name, _, mode = case.partition("-")
    features, target = batch("padded")
    model = make_mlp(N_FEATURES, N_HIDDEN, N_CLASSES, seed=1)
    criteria = [CRITERIA[criterion_name]().train(mode != "eval") for _ in range(2)]
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(no_grad_step, fullgraph=True, backend=counter)
    for _ in range(2):
        loss = no_grad_step(model, criteria[0], features, target)
        loss_c = compiled(model, criteria[1], features, target)
        assert not loss_c.requires_grad
        assert torch.equal(loss_c, loss)
        if criterion_name == "adaptive":
            assert torch.equal(criteria[1].margins, criteria[0].margins)
    assert counter.frame_count == 1
    called = {
        str(node.target.name())
        for node in counter.graphs[0].graph.nodes
        if isinstance(node.target, torch._ops.OpOverload)
        and node.target.namespace == "fastmargin"
    }
    assert called == {NO_GRAD_OPERATOR[case]}
    if criterion_name == "adaptive":
        unmoved = torch.equal(criteria[1].margins, torch.ones(N_CLASSES, dtype=torch.float64))
        assert unmoved == (mode == "eval")


# Tolerances for half-precision scores, against PyTorch's op run in float32.
# bfloat16 has an 8-bit significand: neighbouring bfloat16 numbers near v
# are at most 2**-7 |v| apart. PyTorch's gradient (float32, rounded to
# bfloat16 once by autocast's cast) and ours (fastmargin's float32 gradient,
# rounded once) come from float32 values that agree but for float32
# rounding, so they are equal or neighbours: within BF16_ULP relative. The
# float32 sums that make a gradient entry may also leave a residue where the
# exact value is 0 (a few float32 roundings of the largest entry, 2**-20 of
# it absorbs them). float16 has an 11-bit significand: our float16 gradient
# is within half a spacing, 2**-11 |v|, of PyTorch's float32 one; 2**-10
# leaves room for the float32 differences before the rounding. A float32
# loss from the same (exactly widened) scores differs only by float32
# summation order: 1e-5 relative is above a few hundred roundings of 6e-8.
BF16_ULP = 2.0**-7
FLOAT16_RTOL = 2.0**-10
RESIDUE = 2.0**-20
FLOAT32_SUM_RTOL = 1e-5


def assert_within(ours, theirs, rtol):
    """``ours`` within ``rtol`` of ``theirs``, entry by entry, up to the
    float32 residue of the largest entry."""
    theirs = theirs.float()
    atol = RESIDUE * theirs.abs().max().item()
    torch.testing.assert_close(ours.float(), theirs, rtol=rtol, atol=atol)


def autocast_linear_step(criterion, features, target, scale=1.0):
    """A Linear under bfloat16 autocast, then ``criterion``; backward of the
    loss times ``scale``. The loss, the gradient arriving at the Linear's
    output, the Linear's output, and the Linear (with its gradients)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        linear = torch.nn.Linear(features.shape[1], target.shape[1])
    arrived = {}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = linear(features)
        scores.register_hook(lambda grad: arrived.setdefault("grad", grad))
        loss = criterion(scores, target)
    (loss * scale).backward()
    return loss.detach(), arrived["grad"], scores.detach(), linear


def autocast_data():
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(64, 24, generator=generator)
    return features, padded_targets(generator, 64, 30, max_labels=5)


def test_autocast_bfloat16_matches_pytorchs_op():
    """Under torch.autocast("cpu", bfloat16) a Linear's output is bfloat16;
    MultiLabelMarginLoss on it returns a float32 loss and sends a bfloat16
    gradient back, and the loss, that gradient and the Linear's weight and
    bias gradients agree with torch.nn.MultiLabelMarginLoss under the same
    autocast (which runs in float32) to within bfloat16 rounding: one
    spacing per gradient entry (BF16_ULP), propagated through the Linear's
    backward as a bound per parameter entry."""
    features, target = autocast_data()
    ours = autocast_linear_step(MultiLabelMarginLoss(), features, target)
    theirs = autocast_linear_step(torch.nn.MultiLabelMarginLoss(), features, target)
    (loss, grad, scores, linear), (loss_t, grad_t, scores_t, linear_t) = ours, theirs
    assert scores.dtype == torch.bfloat16 and torch.equal(scores, scores_t)
    assert loss.dtype == loss_t.dtype == torch.float32
    assert grad.dtype == grad_t.dtype == torch.bfloat16
    torch.testing.assert_close(loss, loss_t, rtol=FLOAT32_SUM_RTOL, atol=0)
    assert_within(grad, grad_t, BF16_ULP)
    assert grad.abs().sum() > 0
    # The Linear's backward: weight.grad = grad.T @ features and bias.grad =
    # grad summed over rows, in bfloat16. A difference of one spacing in each
    # incoming entry moves a parameter's gradient by at most BF16_ULP times
    # the sum of the absolute terms, and its own rounding by one more spacing.
    terms = grad_t.float().abs()
    weight_bound = BF16_ULP * (
        terms.T @ features.bfloat16().float().abs() + linear_t.weight.grad.abs()
    )
    bias_bound = BF16_ULP * (terms.sum(0) + linear_t.bias.grad.abs())
    assert linear.weight.grad.dtype == torch.float32
    assert bool(((linear.weight.grad - linear_t.weight.grad).abs() <= weight_bound).all())
    assert bool(((linear.bias.grad - linear_t.bias.grad).abs() <= bias_bound).all())


# Rounded once to bfloat16, a value moves by at most half a spacing: 2**-8 of
# itself.
BF16_HALF_ULP = 2.0**-8


# The kept gradient of half-precision scores is float32 and is rounded
# once, after the scaling (it was rounded three times: scale=1/3 caught it).
@pytest.mark.parametrize("scale", [1.0, 1 / 3], ids=["loss", "loss/3"])
def test_autocast_bfloat16_gradient_is_rounded_once(scale):
    """Under bfloat16 autocast, the backward of ``loss * scale`` (1/3: the
    gradient accumulation of three micro-batches) sends the Linear's output
    the float32 gradient rounded to bfloat16 once, as PyTorch's op does:
    within half a spacing (BF16_HALF_ULP) of the gradient of
    torch.nn.functional.multilabel_margin_loss on the same scores widened
    to float32. PyTorch's own op under autocast is checked to meet it too."""
    features, target = autocast_data()
    _, grad, scores, _ = autocast_linear_step(MultiLabelMarginLoss(), features, target, scale)
    _, grad_t, _, _ = autocast_linear_step(
        torch.nn.MultiLabelMarginLoss(), features, target, scale
    )
    wide = scores.float().requires_grad_()
    (torch.nn.functional.multilabel_margin_loss(wide, target) * scale).backward()
    assert grad.dtype == grad_t.dtype == torch.bfloat16
    assert_within(grad_t, wide.grad, BF16_HALF_ULP)
    assert_within(grad, wide.grad, BF16_HALF_ULP)


def test_float16_scores_without_autocast():
    """float16 scores straight in (no autocast): the loss is float32 and the
    gradient float16, close to PyTorch's op on the float32 copy of the
    scores (the loss to float32 summation order, the gradient to one
    float16 rounding, see FLOAT16_RTOL)."""
    generator = torch.Generator().manual_seed(4)
    target = padded_targets(generator, 64, 30, max_labels=5)
    scores = torch.randn(64, 30, generator=generator).half().requires_grad_()
    wide = scores.detach().float().requires_grad_()
    loss = MultiLabelMarginLoss()(scores, target)
    loss.backward()
    loss_t = torch.nn.MultiLabelMarginLoss()(wide, target)
    loss_t.backward()
    assert loss.dtype == torch.float32
    assert scores.grad.dtype == torch.float16
    torch.testing.assert_close(loss.detach(), loss_t.detach(), rtol=FLOAT32_SUM_RTOL, atol=0)
    assert_within(scores.grad, wide.grad, FLOAT16_RTOL)
    assert scores.grad.abs().sum() > 0


# The distributed test: 64 rows, 50 classes, up to 5 labels a row, split
# between two gloo processes.
DDP_ROWS, DDP_FEATURES, DDP_HIDDEN, DDP_CLASSES = 64, 16, 32, 50
DDP_WORLD = 2
DDP_TIMEOUT_S = 240
WORKER_RUN_NAME = "__fastmargin_ddp_worker__"


def ddp_batch():
    generator = torch.Generator().manual_seed(5)
    features = torch.randn(DDP_ROWS, DDP_FEATURES, generator=generator, dtype=torch.float64)
    target = padded_targets(generator, DDP_ROWS, DDP_CLASSES, max_labels=5)
    return features, target


def ddp_worker(rank, store_path, out_path):
    """One process: the shared model in DistributedDataParallel, the mean
    loss of its half of the batch, backward (DDP all-reduces and averages
    the gradients); saves its loss and gradients to ``out_path``."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    # A worker that hangs prints where, before the test kills it.
    faulthandler.dump_traceback_later(DDP_TIMEOUT_S - 30, exit=True)
    torch.set_num_threads(1)  # two processes on a small machine
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store_path}",
        rank=rank,
        world_size=DDP_WORLD,
        timeout=timedelta(seconds=120),
    )
    # PyTorch's teardown can deadlock (torch 2.13: twice in some twenty
    # runs here, under load): whatever drops the last reference to the gloo group
    # joins gloo's thread, which may still need the GIL to free a finished
    # all-reduce; a DDP Reducer does that holding the GIL. So the Reducer
    # goes first, and the last reference is this Python one, whose release
    # lets go of the GIL for the join.
    group = dist.group.WORLD
    try:
        features, target = ddp_batch()
        half = slice(rank * DDP_ROWS // DDP_WORLD, (rank + 1) * DDP_ROWS // DDP_WORLD)
        model = make_mlp(DDP_FEATURES, DDP_HIDDEN, DDP_CLASSES, seed=6)
        ddp_model = DistributedDataParallel(model)
        loss = MultiLabelMarginLoss(reduction="mean")(ddp_model(features[half]), target[half])
        loss.backward()
        grads = {name: p.grad for name, p in model.named_parameters()}
        torch.save({"loss": loss.detach(), "grads": grads}, out_path)
        reducer = weakref.ref(ddp_model.reducer)
        del ddp_model, loss
        gc.collect()
        assert reducer() is None, "the DDP Reducer outlived its module"
    finally:
        dist.destroy_process_group()
    del group


@pytest.mark.slow
def test_ddp_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    """Two spawned processes (gloo, a FileStore in tmp_path) each run
    MultiLabelMarginLoss(reduction="mean") on half of a 64-row batch under
    DistributedDataParallel: after backward both hold the same averaged
    gradients, and they equal one process's gradients on the whole batch
    within 1e-12 (float64); the halves' mean loss is the whole batch's."""
    context = multiprocessing.get_context("spawn")
    outputs = [tmp_path / f"rank{rank}.pt" for rank in range(DDP_WORLD)]
    workers = [
        context.Process(
            target=runpy.run_path,
            args=(__file__,),
            kwargs={
                "run_name": WORKER_RUN_NAME,
                "init_globals": {
                    "WORKER_ARGUMENTS": (rank, str(tmp_path / "store"), str(outputs[rank]))
                },
            },
        )
        for rank in range(DDP_WORLD)
    ]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + DDP_TIMEOUT_S
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        hung = [worker.pid for worker in workers if worker.is_alive()]
        assert hung == [], f"DDP workers still running after {DDP_TIMEOUT_S} s"
        assert [worker.exitcode for worker in workers] == [0] * DDP_WORLD
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)
    results = [torch.load(path) for path in outputs]

    features, target = ddp_batch()
    model = make_mlp(DDP_FEATURES, DDP_HIDDEN, DDP_CLASSES, seed=6)
    loss = MultiLabelMarginLoss(reduction="mean")(model(features), target)
    loss.backward()
    expected = {name: p.grad for name, p in model.named_parameters()}

    for result in results:
        assert result["grads"].keys() == expected.keys()
        for name, grad in expected.items():
            assert result["grads"][name].dtype == torch.float64
            torch.testing.assert_close(result["grads"][name], grad, rtol=0, atol=1e-12)
            assert grad.abs().sum() > 0
    for name in expected:
        assert torch.equal(results[0]["grads"][name], results[1]["grads"][name])
    half_losses = torch.stack([result["loss"] for result in results])
    torch.testing.assert_close(half_losses.mean(), loss.detach(), rtol=0, atol=1e-12)


if __name__ == WORKER_RUN_NAME:  # a spawned DDP worker, started through runpy
    ddp_worker(*WORKER_ARGUMENTS)  # noqa: F821 (given by runpy.run_path)
