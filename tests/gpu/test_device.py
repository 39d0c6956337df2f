"""The GPU path where there is no GPU: device choice and its errors here,
the kernels under Numba's CUDA simulator and through the real CUDA compiler
in their own processes.

The simulator must be switched on before numba.cuda is imported, so
tests/gpu_sim/ runs in a pytest process of its own with
NUMBA_ENABLE_CUDASIM=1; tests/support/compile_gpu_kernels.py compiles every kernel
to PTX for sm_90, which the simulator (running kernels as Python) cannot
check.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmargin
from fastmargin import _checks

REPOSITORY = Path(__file__).resolve().parents[2]
SCORES = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]])
TARGET = np.array([[2, -1], [0, 1]])
LOSSES = [
    fastmargin.multilabel_margin_loss,
    fastmargin.multilabel_margin_loss_and_grad,
    fastmargin.multilabel_hinge_loss,
    fastmargin.multilabel_hinge_loss_grad,
]


class FakeGpuArray:
    """Stands for a GPU array: it has the CUDA array interface."""

    __cuda_array_interface__ = {
        "shape": (2, 2),
        "typestr": "<i8",
        "data": (0, False),
        "version": 3,
    }
    shape = (2, 2)
    ndim = 2


class FakeDlpackGpuArray:
    """Stands for a DLPack-only array on a CUDA device."""

    def __dlpack_device__(self):
        return (2, 0)


def run(command, **env):
    """Run ``command`` from the repository root; return (code, output)."""
    completed = subprocess.run(
        command,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **env},
    )
    return completed.returncode, completed.stdout + completed.stderr


@pytest.mark.slow
def test_simulator_suite_passes():
    code, output = run(
        [sys.executable, "-m", "pytest", "tests/gpu_sim", "-q", "-p", "no:cacheprovider"],
        NUMBA_ENABLE_CUDASIM="1",
    )
    assert code == 0, output[-6000:]
    assert " passed" in output and "skipped" not in output, output[-2000:]


@pytest.mark.slow
def test_every_gpu_kernel_compiles_for_sm90():
    code, output = run([sys.executable, "tests/support/compile_gpu_kernels.py"])
    assert code == 0, output[-6000:]
    assert "kernel signatures compiled for sm_90" in output
    compiled = output.count("fastmargin.gpu.")
    assert compiled >= 60, output[-2000:]
    for module in ("gpu.common", "gpu.hinge", "gpu.ranking"):
        assert f"fastmargin.{module}." in output


def test_importing_and_cpu_calls_never_import_numba_cuda():
    code, output = run(
        [
            sys.executable,
            "-c",
            "import sys, numpy as np, fastmargin as fm\n"
            "x, t = np.ones((2, 3)), np.array([[0], [1]])\n"
            "fm.multilabel_margin_loss_and_grad(x, t)\n"
            "fm.multilabel_hinge_loss(x, t, device='cpu')\n"
            "assert 'numba.cuda' not in sys.modules, 'numba.cuda was imported'\n",
        ]
    )
    assert code == 0, output


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("device", ["gpu", "CUDA", None, 0])
def test_unknown_device_is_a_value_error(loss, device):
    with pytest.raises(ValueError, match="device must be one of 'auto', 'cpu', 'cuda'"):
        loss(SCORES, TARGET, device=device)


@pytest.mark.parametrize("loss", LOSSES)
def test_cpu_refuses_gpu_arrays(loss):
    with pytest.raises(ValueError, match='device="cpu" but target is a GPU array'):
        loss(SCORES, FakeGpuArray(), device="cpu")
    with pytest.raises(ValueError, match='device="cpu" but input is a GPU array'):
        loss(FakeDlpackGpuArray(), TARGET, device="cpu")


@pytest.mark.parametrize("loss", LOSSES)
def test_auto_refuses_a_gpu_target_with_host_input(loss):
    with pytest.raises(ValueError, match="target is a GPU array but input is on the host"):
        loss(SCORES, FakeGpuArray())


def test_auto_refuses_gpu_grad_output_and_margin_with_host_input():
    with pytest.raises(ValueError, match="grad_output is a GPU array"):
        fastmargin.multilabel_margin_loss_grad(SCORES, TARGET, grad_output=FakeGpuArray())
    with pytest.raises(ValueError, match="margin is a GPU array"):
        fastmargin.multilabel_hinge_loss(SCORES, TARGET, margin=FakeGpuArray())


def test_host_objects_are_not_gpu_arrays():
    import scipy.sparse

    for value in (SCORES, [1, 2], 3.0, None, scipy.sparse.csr_matrix(SCORES)):
        assert not _checks.is_gpu_array(value)
    assert _checks.is_gpu_array(FakeGpuArray())
    assert _checks.is_gpu_array(FakeDlpackGpuArray())


def test_cuda_without_numba_cuda_says_how_to_install(monkeypatch):
    import fastmargin.gpu

    real_find_spec = fastmargin.gpu.importlib.util.find_spec
    monkeypatch.setattr(
        fastmargin.gpu.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "numba_cuda" else real_find_spec(name, *args),
    )
    with pytest.raises(
        RuntimeError, match=r"numba-cuda package is not installed.*fastmargin\[cuda\]"
    ):
        fastmargin.multilabel_margin_loss(SCORES, TARGET, device="cuda")


def test_cuda_without_a_gpu_says_why():
    from numba import cuda

    if cuda.is_available():  # a machine with a GPU: nothing to refuse
        pytest.skip("a CUDA GPU is available here")
    for loss in LOSSES:
        with pytest.raises(RuntimeError, match='device="cuda" cannot run: no usable CUDA GPU'):
            loss(SCORES, TARGET, device="cuda")
    adaptive = fastmargin.AdaptiveMargins(3)
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        adaptive.loss_and_grad(SCORES, TARGET, device="cuda")


def test_gpu_benchmark_measures_nothing_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is available here")
    code, output = run([sys.executable, "benchmarks/gpu_table.py", "--repeat", "1"])
    assert code == 1, output
    assert "no CUDA GPU visible to PyTorch: no GPU figures measured" in output
    assert "GB/s" not in output


def test_torch_cpu_tensors_are_host_arrays_even_when_they_require_grad():
    import torch

    tensor = torch.ones(2, 3, requires_grad=True)  # refuses its array interfaces
    assert not _checks.is_gpu_array(tensor)
    assert not _checks.is_gpu_array(torch.ones(2, 3))


def test_kernels_accept_none_arguments_at_launch():
    """A None argument goes to the kernel as a null pointer-sized parameter
    (numba-cuda has no conversion of its own: NotImplementedError), through
    numba-cuda's own argument preparation, for every fastmargin kernel."""
    from numba.cuda import types
    from numba.cuda.dispatcher import _Kernel

    from fastmargin.gpu import common as _gpu_common
    from fastmargin.gpu import hinge as _gpu_hinge
    from fastmargin.gpu import ranking as _gpu_ranking
    from fastmargin.kernels.options import NoneArgument

    class Launch:  # what _prepare_args reads of a compiled kernel
        extensions = [NoneArgument()]

    arguments = []
    _Kernel._prepare_args(Launch(), types.none, None, 0, [], arguments)
    assert len(arguments) == 1 and arguments[0].value == 0
    assert type(arguments[0]).__name__ == "c_ulong"
    arguments = []
    _Kernel._prepare_args(Launch(), types.float64, 2.5, 0, [], arguments)
    assert arguments[0].value == 2.5
    with pytest.raises(NotImplementedError):
        _Kernel._prepare_args(
            type("Bare", (), {"extensions": []})(), types.none, None, 0, [], []
        )
    kernels = {
        kernel
        for module in (_gpu_common, _gpu_hinge, _gpu_ranking)
        for kernel in vars(module).values()
        if type(kernel).__name__ == "CUDADispatcher" and not kernel.targetoptions.get("device")
    }
    assert len(kernels) >= 10
    for kernel in kernels:
        assert any(isinstance(e, NoneArgument) for e in kernel.targetoptions["extensions"])
