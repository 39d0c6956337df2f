"""The public functions with ``device="cuda"``/``"auto"`` on the GPU path
(``gpu/host.py`` and both GPU kernels) against the same functions on the
CPU (``device="cpu"``, host arrays), under Numba's CUDA simulator.

Run in a process of their own, with the simulator switched on before numba
is imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/gpu_sim -q -p no:cacheprovider

Expected: results of the caller's kind (NumPy for host inputs, Numba device
arrays for device inputs) with the CPU's shapes and dtypes, gradients equal
to the CPU's, losses equal within rounding (float64 sums in another order),
the CPU's exceptions, inputs never modified. Shapes are tiny
and calls few: the simulator runs a Python thread per GPU thread.
"""

import os
import re

import numpy as np
import pytest
import scipy.sparse

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip(
        "GPU tests run under NUMBA_ENABLE_CUDASIM=1 in their own process",
        allow_module_level=True,
    )

from numba import cuda
from numba.cuda.cudadrv.devicearray import is_cuda_ndarray

from fastmargin import (
    AdaptiveMargins,
    multilabel_hinge_loss,
    multilabel_hinge_loss_and_grad,
    multilabel_hinge_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

LOSSES = ("ranking", "hinge")
FUNCTIONS = {
    "ranking": {
        "loss": multilabel_margin_loss,
        "grad": multilabel_margin_loss_grad,
        "and_grad": multilabel_margin_loss_and_grad,
    },
    "hinge": {
        "loss": multilabel_hinge_loss,
        "grad": multilabel_hinge_loss_grad,
        "and_grad": multilabel_hinge_loss_and_grad,
    },
}
REDUCTIONS = ("none", "mean", "sum")
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}
N_ROWS, N_CLASSES = 4, 7


# ----------------------------------------------------------------------
# Inputs


def scores(dtype=np.float64, n_rows=N_ROWS, n_classes=N_CLASSES, seed=0):
    """Scores with exact ties (the first half of the rows on a 0.25 grid)
    and ordinary values."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 1.0, (n_rows, n_classes))
    values[: n_rows // 2] = np.round(values[: n_rows // 2] * 4) / 4
    return values.astype(dtype)


def padded(dtype=np.int64):
    """(N_ROWS, 6) padded class indices: a duplicate, junk after -1 (out of
    range and negative, never read), an empty row, a row without -1."""
    return np.array(
        [
            [2, 0, 2, -1, 9, -5],
            [6, -1, 0, 0, 0, 0],
            [-1, 3, 3, 3, 3, 3],
            [1, 5, 4, 3, 0, 6],
        ],
        dtype=dtype,
    )


def indicator():
    """A bool (N_ROWS, N_CLASSES) indicator with an empty and a full row."""
    labels = np.random.default_rng(1).random((N_ROWS, N_CLASSES)) < 0.4
    labels[1] = False
    labels[2] = True
    return labels


def csr():
    """A CSR label matrix with unsorted column indices (read as it is)."""
    labels = scipy.sparse.csr_matrix(
        (np.ones(7), np.array([3, 0, 5, 6, 1, 4, 2]), np.array([0, 3, 3, 4, 7])),
        shape=(N_ROWS, N_CLASSES),
    )
    assert not labels.has_sorted_indices
    return labels


def target_of(form):
    if form in ("int32", "int64"):
        return padded(np.dtype(form))
    if form == "bool":
        return indicator()
    return csr()


# ----------------------------------------------------------------------
# Running and comparing


def call(loss, kind, *args, **kwargs):
    return FUNCTIONS[loss][kind](*args, **kwargs)


def parts(kind, result):
    """(loss or None, grad or None) of a public function's result."""
    if kind == "loss":
        return result, None
    if kind == "grad":
        return None, result
    loss, grad = result
    return loss, grad


def snapshot(value):
    """A host copy of an argument, to check later that it was not modified."""
    if is_cuda_ndarray(value):
        return value.copy_to_host()
    if scipy.sparse.issparse(value):
        return (value.data.copy(), value.indices.copy(), value.indptr.copy())
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def assert_unchanged(value, before):
    if is_cuda_ndarray(value):
        now = value.copy_to_host()
    elif scipy.sparse.issparse(value):
        now = (value.data, value.indices, value.indptr)
        for part, old in zip(now, before):
            assert part.dtype == old.dtype and np.array_equal(part, old)
        return
    else:
        now = value
    if isinstance(before, np.ndarray):
        assert now.dtype == before.dtype and now.shape == before.shape
        assert np.array_equal(now, before), "an input was modified"


def host(value):
    """The host copy of a device result (checked to be a device array)."""
    assert is_cuda_ndarray(value), f"expected a device array, got {type(value)}"
    return value.copy_to_host()


def assert_loss_close(gpu, cpu, dtype):
    np.testing.assert_allclose(gpu, cpu, rtol=RTOL[np.dtype(dtype)], atol=0)


def assert_host_result(gpu, cpu, kind, dtype):
    """A device="cuda" result with host inputs: NumPy, as the CPU's."""
    gpu_loss, gpu_grad = parts(kind, gpu)
    cpu_loss, cpu_grad = parts(kind, cpu)
    if cpu_loss is not None:
        assert type(gpu_loss) is type(cpu_loss)
        assert isinstance(cpu_loss, (np.ndarray, np.floating))
        assert gpu_loss.shape == cpu_loss.shape
        assert gpu_loss.dtype == cpu_loss.dtype == dtype
        assert_loss_close(gpu_loss, cpu_loss, dtype)
    if cpu_grad is not None:
        assert type(gpu_grad) is np.ndarray
        assert gpu_grad.shape == cpu_grad.shape
        assert gpu_grad.dtype == cpu_grad.dtype == dtype
        assert np.array_equal(gpu_grad, cpu_grad), (gpu_grad, cpu_grad)


def assert_device_result(gpu, cpu, kind, dtype):
    """A device="auto" result with device inputs: device arrays (0-d for a
    "mean"/"sum" loss) holding the CPU's values."""
    gpu_loss, gpu_grad = parts(kind, gpu)
    cpu_loss, cpu_grad = parts(kind, cpu)
    if cpu_loss is not None:
        loss = host(gpu_loss)
        assert loss.shape == np.shape(cpu_loss)
        assert loss.dtype == cpu_loss.dtype == dtype
        assert_loss_close(loss, cpu_loss, dtype)
    if cpu_grad is not None:
        grad = host(gpu_grad)
        assert grad.shape == cpu_grad.shape
        assert grad.dtype == cpu_grad.dtype == dtype
        assert np.array_equal(grad, cpu_grad), (grad, cpu_grad)


def run_host(loss, kind, input, target, **kwargs):
    """The call with device="cuda" and with device="cpu" on the same host
    arguments; checks that neither modified them; returns (gpu, cpu)."""
    arguments = {"input": input, "target": target, **kwargs}
    before = {name: snapshot(value) for name, value in arguments.items()}
    gpu = call(loss, kind, input, target, device="cuda", **kwargs)
    cpu = call(loss, kind, input, target, device="cpu", **kwargs)
    for name, value in arguments.items():
        assert_unchanged(value, before[name])
    return gpu, cpu


def run_device(loss, kind, input, target, *, device="auto", **kwargs):
    """The call with device arrays (and device="auto"), and with their host
    copies on the CPU; checks that the device arguments are unchanged."""
    arguments = {"input": input, "target": target, **kwargs}
    before = {name: snapshot(value) for name, value in arguments.items()}
    gpu = call(loss, kind, input, target, device=device, **kwargs)
    for name, value in arguments.items():
        if name != "out":
            assert_unchanged(value, before[name])
    host_kwargs = {name: before[name] for name in kwargs}
    cpu = call(loss, kind, before["input"], before["target"], device="cpu", **host_kwargs)
    return gpu, cpu


def cpu_error(loss, kind, *args, **kwargs):
    """(type, message) of the exception the CPU path raises."""
    with pytest.raises((TypeError, ValueError)) as caught:
        call(loss, kind, *args, device="cpu", **kwargs)
    return caught.type, str(caught.value)


def assert_same_error(gpu_call, expected):
    error_type, message = expected
    with pytest.raises(error_type, match=f"^{re.escape(message)}$") as caught:
        gpu_call()
    assert caught.type is error_type


# ----------------------------------------------------------------------
# 1. Host arrays, device="cuda": NumPy results equal to the CPU's


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSSES)
def test_host_reductions_and_dtypes(loss, dtype):
    input, target = scores(dtype), padded(np.int64)
    for reduction in REDUCTIONS:
        gpu, cpu = run_host(loss, "and_grad", input, target, reduction=reduction)
        assert_host_result(gpu, cpu, "and_grad", np.dtype(dtype))


@pytest.mark.parametrize("form", ["int32", "bool", "csr"])
@pytest.mark.parametrize("loss", LOSSES)
def test_host_target_forms(loss, form):
    gpu, cpu = run_host(
        loss, "and_grad", scores(np.float32, seed=2), target_of(form), reduction="none"
    )
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float32))


@pytest.mark.parametrize("kind", ["loss", "grad"])
@pytest.mark.parametrize("loss", LOSSES)
def test_host_loss_only_and_grad_only(loss, kind):
    margin = {"ranking": 0.5, "hinge": 1.5}[loss]
    gpu, cpu = run_host(
        loss,
        kind,
        scores(np.float32, seed=3),
        padded(np.int32),
        margin=margin,
        reduction="sum",
    )
    assert_host_result(gpu, cpu, kind, np.dtype(np.float32))


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("loss", LOSSES)
def test_host_grad_output(loss, reduction):
    grad_output = (
        np.array([2.0, -0.5, 0.0, 1 / 3], np.float32) if reduction == "none" else np.array(2.5)
    )
    gpu, cpu = run_host(
        loss,
        "and_grad",
        scores(seed=4),
        padded(),
        reduction=reduction,
        grad_output=grad_output,
    )
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float64))


@pytest.mark.parametrize("loss", LOSSES)
def test_host_one_dimensional(loss):
    input = scores(np.float32, seed=5)[0]
    gpu, cpu = run_host(loss, "loss", input, np.array([4, 1, -1, 99]), reduction="none")
    assert cpu.shape == ()
    assert_host_result(gpu, cpu, "loss", np.dtype(np.float32))
    # Integer scores are computed as float64; a 1-D bool target.
    gpu, cpu = run_host(
        loss,
        "and_grad",
        np.array([3, -1, 0, 2, 2]),
        np.array([0, 1, 0, 0, 1], bool),
        grad_output=np.float32(1.5),
    )
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float64))


@pytest.mark.parametrize("squared", [False, True])
def test_host_hinge_label_margins(squared):
    margins = np.array([1.0, 0.5, 2.0, 0.1, 1.7, 1.0, 0.25])
    gpu, cpu = run_host(
        "hinge",
        "and_grad",
        scores(np.float32, seed=6),
        indicator(),
        margin=margins,
        squared=squared,
        reduction="mean",
    )
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float32))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("loss", LOSSES)
def test_host_plain_sums(loss, reduction):
    """normalize=False (the plain sum of the terms) as on the CPU; C times
    the normalised loss and gradient."""
    input = scores(np.float64, seed=8)
    gpu, cpu = run_host(
        loss, "and_grad", input, padded(), reduction=reduction, normalize=False
    )
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float64))
    normalised = call(loss, "and_grad", input, padded(), device="cuda", reduction=reduction)
    for plain, divided in zip(gpu, normalised):
        np.testing.assert_allclose(plain, N_CLASSES * divided, rtol=1e-13)


# ----------------------------------------------------------------------
# 2. Device arrays, device="auto": device results


@pytest.mark.parametrize("loss", LOSSES)
def test_target_format_on_the_gpu(loss):
    """target_format as on the CPU: an integer 0/1 target of the input's
    shape reads two ways ("auto" refuses it); "indices" and "indicator"
    read it as the CPU does. A device target read as an indicator must be
    bool (its values would need checking on the GPU)."""
    input = scores(np.float32, n_rows=3, n_classes=4, seed=21)
    labels = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    for target in (labels, cuda.to_device(labels)):
        with pytest.raises(ValueError, match="reads two ways"):
            call(loss, "and_grad", input, target, device="cuda")
    gpu, cpu = run_host(loss, "and_grad", input, labels, target_format="indices")
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float32))
    gpu, cpu = run_host(loss, "and_grad", input, labels.astype(np.float32))
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float32))
    gpu, cpu = run_device(
        loss,
        "and_grad",
        cuda.to_device(input),
        cuda.to_device(labels),
        target_format="indices",
    )
    assert_device_result(gpu, cpu, "and_grad", np.dtype(np.float32))
    with pytest.raises(TypeError, match="must be bool"):
        call(
            loss,
            "and_grad",
            cuda.to_device(input),
            cuda.to_device(labels),
            target_format="indicator",
        )


@pytest.mark.parametrize("loss", LOSSES)
def test_device_reductions(loss):
    input, target = cuda.to_device(scores(np.float32)), cuda.to_device(padded(np.int32))
    for reduction in REDUCTIONS:
        gpu, cpu = run_device(loss, "and_grad", input, target, reduction=reduction)
        assert_device_result(gpu, cpu, "and_grad", np.dtype(np.float32))
        if reduction != "none":
            assert gpu[0].shape == ()
    # device="cuda" with device arrays: the same as "auto".
    gpu, cpu = run_device(loss, "loss", input, target, reduction="sum", device="cuda")
    assert_device_result(gpu, cpu, "loss", np.dtype(np.float32))


@pytest.mark.parametrize("loss", LOSSES)
def test_device_bool_target_and_grad_output(loss):
    input, target = cuda.to_device(scores(seed=7)), cuda.to_device(indicator())
    grad_output = cuda.to_device(np.array([2.0, -0.5, 0.0, 1 / 3], np.float32))
    gpu, cpu = run_device(
        loss, "and_grad", input, target, reduction="none", grad_output=grad_output
    )
    assert_device_result(gpu, cpu, "and_grad", np.dtype(np.float64))
    # A 0-d device grad_output for "sum", an int64 device target.
    gpu, cpu = run_device(
        loss,
        "grad",
        input,
        cuda.to_device(padded()),
        reduction="sum",
        grad_output=cuda.to_device(np.array(-1.25)),
    )
    assert_device_result(gpu, cpu, "grad", np.dtype(np.float64))


@pytest.mark.parametrize("loss", LOSSES)
def test_device_out(loss):
    input, target = cuda.to_device(scores(seed=8)), cuda.to_device(padded())
    out = cuda.to_device(np.full((N_ROWS, N_CLASSES), 7.25))
    gpu, cpu = run_device(loss, "and_grad", input, target, reduction="mean", out=out)
    assert gpu[1] is out
    assert_device_result(gpu, cpu, "and_grad", np.dtype(np.float64))
    # 1-D input: an out of shape (C,), a 0-d "none" loss.
    row = cuda.to_device(scores(np.float32, seed=9)[1])
    out = cuda.to_device(np.zeros(N_CLASSES, np.float32))
    labels = np.array([5, 0, -1], np.int32)
    result = call(loss, "and_grad", row, cuda.to_device(labels), reduction="none", out=out)
    cpu = call(loss, "and_grad", row.copy_to_host(), labels, reduction="none", device="cpu")
    assert result[1] is out
    assert host(result[0]).shape == ()
    assert_device_result(result, cpu, "and_grad", np.dtype(np.float32))


@pytest.mark.parametrize("loss", LOSSES)
def test_device_non_contiguous(loss):
    wide = cuda.to_device(scores(n_classes=2 * N_CLASSES, seed=10))
    input = wide[:, ::2]
    assert is_cuda_ndarray(input) and not input.is_c_contiguous()
    assert input.shape == (N_ROWS, N_CLASSES)
    target = cuda.to_device(np.repeat(padded(np.int64), 2, axis=1))[:, ::2]
    assert not target.is_c_contiguous()
    gpu, cpu = run_device(loss, "and_grad", input, target, reduction="none")
    assert_device_result(gpu, cpu, "and_grad", np.dtype(np.float64))


# ----------------------------------------------------------------------
# 4. Errors: the CPU's exception and message


@pytest.mark.parametrize("loss", LOSSES)
def test_out_of_range_target(loss):
    input = scores()
    bad = padded()
    bad[2, :3] = [3, 7, -1]  # row 2, column 1: 7 is not in [0, 7)
    expected = cpu_error(loss, "and_grad", input, bad)
    assert expected[0] is ValueError and "target[2, 1] = 7" in expected[1]
    assert_same_error(lambda: call(loss, "and_grad", input, bad, device="cuda"), expected)
    assert_same_error(
        lambda: call(loss, "loss", cuda.to_device(input), cuda.to_device(bad)), expected
    )
    one = np.array([0, -3, 2])
    expected = cpu_error(loss, "loss", input[0], one)
    assert "target[1] = -3" in expected[1]
    assert_same_error(lambda: call(loss, "loss", input[0], one, device="cuda"), expected)


@pytest.mark.parametrize("loss", LOSSES)
def test_argument_errors(loss):
    input, target = scores(), padded()
    device_input, device_target = cuda.to_device(input), cuda.to_device(target)
    floats = target.astype(np.float64)

    expected = cpu_error(loss, "loss", input, floats)
    assert expected[0] is ValueError  # floats are indicators: of the input's shape
    assert_same_error(lambda: call(loss, "loss", input, floats, device="cuda"), expected)
    assert_same_error(
        lambda: call(loss, "loss", device_input, cuda.to_device(floats)), expected
    )
    expected = cpu_error(loss, "loss", input, floats, target_format="indices")
    assert expected[0] is TypeError
    assert_same_error(
        lambda: call(loss, "loss", input, floats, device="cuda", target_format="indices"),
        expected,
    )
    assert_same_error(
        lambda: call(
            loss, "loss", device_input, cuda.to_device(floats), target_format="indices"
        ),
        expected,
    )

    expected = cpu_error(loss, "loss", input, target, reduction="avg")
    assert_same_error(
        lambda: call(loss, "loss", input, target, reduction="avg", device="cuda"), expected
    )
    assert_same_error(
        lambda: call(loss, "loss", device_input, device_target, reduction="avg"), expected
    )

    weights = np.ones(N_ROWS + 1)
    expected = cpu_error(loss, "grad", input, target, reduction="none", grad_output=weights)
    assert expected[0] is ValueError
    assert_same_error(
        lambda: call(
            loss, "grad", input, target, reduction="none", grad_output=weights, device="cuda"
        ),
        expected,
    )
    assert_same_error(
        lambda: call(
            loss,
            "grad",
            device_input,
            device_target,
            reduction="none",
            grad_output=cuda.to_device(weights),
        ),
        expected,
    )
    expected = cpu_error(loss, "grad", input, target, grad_output=np.ones(1))
    assert_same_error(
        lambda: call(
            loss, "grad", device_input, device_target, grad_output=cuda.to_device(np.ones(1))
        ),
        expected,
    )

    wrong = np.zeros((N_ROWS, N_CLASSES - 1))
    expected = cpu_error(loss, "grad", input, target, out=wrong)
    assert expected[0] is ValueError
    assert_same_error(
        lambda: call(loss, "grad", device_input, device_target, out=cuda.to_device(wrong)),
        expected,
    )
    wrong = np.zeros((N_ROWS, N_CLASSES), np.float32)
    expected = cpu_error(loss, "grad", input, target, out=wrong)
    assert_same_error(
        lambda: call(loss, "grad", device_input, device_target, out=cuda.to_device(wrong)),
        expected,
    )

    with pytest.raises(ValueError, match='device="cpu" but input is a GPU array'):
        call(loss, "loss", device_input, target, device="cpu")
    with pytest.raises(ValueError, match='device="cpu" but target is a GPU array'):
        call(loss, "loss", input, device_target, device="cpu")
    with pytest.raises(ValueError, match="target is a GPU array but input is on the host"):
        call(loss, "loss", input, device_target)
    with pytest.raises(ValueError, match="target is a GPU array but input is on the host"):
        call(loss, "loss", input, device_target, device="auto")
    for device in ("gpu", "CUDA", None):
        with pytest.raises(ValueError, match=re.escape(f"got {device!r}")) as caught:
            call(loss, "loss", input, target, device=device)
        assert str(caught.value).startswith("device must be one of 'auto', 'cpu', 'cuda'")
        with pytest.raises(ValueError, match="device must be one of"):
            call(loss, "loss", device_input, device_target, device=device)


@pytest.mark.parametrize("loss", LOSSES)
def test_host_out_with_device_cuda(loss):
    """With host inputs and device="cuda", a NumPy ``out`` is checked as on
    the CPU and receives the gradient."""
    expected = call(loss, "grad", scores(), padded(), device="cpu")
    out = np.zeros((N_ROWS, N_CLASSES))
    result = call(loss, "grad", scores(), padded(), out=out, device="cuda")
    assert result is out
    assert np.array_equal(out, expected)
    with pytest.raises(ValueError, match="out must have the gradient's shape"):
        call(loss, "grad", scores(), padded(), out=np.zeros((1, 1)), device="cuda")
    one_row = np.zeros(N_CLASSES)
    result = call(loss, "grad", scores()[0], padded()[0], out=one_row, device="cuda")
    assert result is one_row
    assert np.array_equal(one_row, call(loss, "grad", scores()[0], padded()[0], device="cpu"))


# ----------------------------------------------------------------------
# 5. The warning for an integer 0/1 target of the input's shape


@pytest.mark.parametrize("loss", LOSSES)
def test_ambiguous_zero_one_target(loss):
    """An integer 0/1 target of the input's shape with no -1 reads two ways:
    the same ValueError as on the CPU, for host and device targets."""
    input = scores(n_classes=5, seed=11)
    target = np.array([[1, 0, 0, 1, 1], [0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    expected = cpu_error(loss, "and_grad", input, target)
    assert expected[0] is ValueError and "reads two ways" in expected[1]
    assert_same_error(lambda: call(loss, "and_grad", input, target, device="cuda"), expected)
    assert_same_error(
        lambda: call(loss, "loss", cuda.to_device(input), cuda.to_device(target)), expected
    )
    # One row ended by a -1: class indices, no ambiguity.
    quiet = target.copy()
    quiet[3, 1] = -1
    gpu, cpu = run_host(loss, "and_grad", input, quiet)
    assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float64))


# ----------------------------------------------------------------------
# 6. AdaptiveMargins


def test_adaptive_margins():
    rng = np.random.default_rng(12)
    gpu = AdaptiveMargins(N_CLASSES, initial=1.0, rate=0.5, bounds=(0.25, 2.0))
    cpu = AdaptiveMargins(N_CLASSES, initial=1.0, rate=0.5, bounds=(0.25, 2.0))
    targets = [padded(), indicator(), csr()]
    for step, target in enumerate(targets):
        input = rng.normal(0.0, 1.0, (N_ROWS, N_CLASSES))
        squared = step == 1
        gpu_result = gpu.loss_and_grad(input, target, squared=squared, device="cuda")
        cpu_result = cpu.loss_and_grad(input, target, squared=squared, device="cpu")
        assert_host_result(gpu_result, cpu_result, "and_grad", np.dtype(np.float64))
        assert gpu.margins.dtype == np.float64 and gpu.margins.shape == (N_CLASSES,)
        np.testing.assert_allclose(gpu.margins, cpu.margins, rtol=1e-12, atol=0)
    assert not np.all(gpu.margins == 1.0)  # the margins moved


def test_adaptive_margins_device_arrays():
    gpu = AdaptiveMargins(N_CLASSES, initial=1.0, rate=0.5, bounds=(0.25, 2.0))
    cpu = AdaptiveMargins(N_CLASSES, initial=1.0, rate=0.5, bounds=(0.25, 2.0))
    input, target = scores(np.float32, seed=13), padded(np.int32)
    gpu_result = gpu.loss_and_grad(cuda.to_device(input), cuda.to_device(target))
    cpu_result = cpu.loss_and_grad(input, target, device="cpu")
    assert_device_result(gpu_result, cpu_result, "and_grad", np.dtype(np.float32))
    assert type(gpu.margins) is np.ndarray
    np.testing.assert_allclose(gpu.margins, cpu.margins, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------
# 7. An empty batch


@pytest.mark.parametrize("loss", LOSSES)
def test_empty_batch(loss):
    input = np.zeros((0, N_CLASSES), np.float32)
    target = np.zeros((0, 3), np.int64)
    for reduction, expected in (("mean", np.nan), ("sum", 0.0)):
        gpu, cpu = run_host(loss, "and_grad", input, target, reduction=reduction)
        assert_host_result(gpu, cpu, "and_grad", np.dtype(np.float32))
        assert type(gpu[0]) is np.float32
        np.testing.assert_array_equal(gpu[0], expected)
        assert gpu[1].shape == (0, N_CLASSES) and gpu[1].dtype == np.float32
    gpu = call(
        loss, "and_grad", cuda.to_device(input), cuda.to_device(target), reduction="none"
    )
    assert host(gpu[0]).shape == (0,)
    assert host(gpu[1]).shape == (0, N_CLASSES)
    gpu = call(loss, "loss", cuda.to_device(input), cuda.to_device(target))
    assert np.isnan(host(gpu))
