"""fastmargin on a CUDA GPU against PyTorch CUDA: results checked, then timed.

Run on a machine with an NVIDIA GPU, PyTorch with CUDA and the ``cuda``
extra (``pip install -e ".[cuda]"``)::

    python benchmarks/gpu_table.py [--repeat 20] [--json results.json]

For each case it first checks fastmargin's loss and gradient against
PyTorch's on the same device arrays, then times, with CUDA events on
PyTorch's current stream after a warm-up (so compilation is never timed),
the median of:

- ranking loss: fused ``multilabel_margin_loss_and_grad`` on PyTorch CUDA
  tensors against ``torch.nn.functional.multilabel_margin_loss`` forward +
  backward;
- per-label hinge: fused ``multilabel_hinge_loss_and_grad`` against PyTorch
  autograd on ``clamp(margin - s * x, min=0).mean()`` with a dense s;
- the front end's cost on a small batch (64, 100), where kernels take
  microseconds: fastmargin's time per call there is mostly overhead.

Bandwidth: the bytes a fused call must move (scores read, gradient written,
used target entries read) over its median time, against a measured
device-to-device copy (``Tensor.copy_`` of 1 GiB: read + write).
Without a CUDA GPU it says so and exits with status 1: it never prints a
GPU figure it did not measure.
"""

import argparse
import json
import statistics
import sys

import numpy as np

from fastmargin.cli.timing import (
    fastmargin_hinge_call,
    fastmargin_ranking_call,
    floor_bytes,
    hinge_signs,
    make_batch,
    torch_hinge_call,
    torch_ranking_call,
)

# (name, loss, N, C, targets per row, target layout)
CASES = (
    ("ranking", "ranking", 65536, 1000, 5, "torch"),
    ("ranking", "ranking", 4096, 10000, 200, "torch"),
    ("ranking", "ranking", 4096, 1000, 5, "torch"),
    ("hinge", "hinge", 65536, 1000, 5, "compact"),
    ("hinge", "hinge", 4096, 10000, 20, "compact"),
    ("overhead", "ranking", 64, 100, 5, "torch"),
    ("overhead", "hinge", 64, 100, 5, "compact"),
)


def cuda_median_ms(torch, call, repeat, warmup=3):
    """Median milliseconds of ``call()`` by CUDA events on the current stream."""
    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def copy_bandwidth(torch, repeat):
    """Bytes per second of a device-to-device copy of 1 GiB (read + write)."""
    source = torch.empty(2**30, dtype=torch.uint8, device="cuda")
    destination = torch.empty_like(source)
    milliseconds = cuda_median_ms(torch, lambda: destination.copy_(source), repeat)
    return 2 * source.numel() / (milliseconds * 1e-3)


def run_case(torch, loss_name, n_rows, n_classes, n_targets, layout, repeat):
    host_scores, host_targets = make_batch(n_rows, n_classes, n_targets, layout=layout)
    scores = torch.from_numpy(host_scores).cuda()
    targets = torch.from_numpy(host_targets).cuda()
    if loss_name == "ranking":
        ours = fastmargin_ranking_call(scores, targets)
        theirs = torch_ranking_call(host_scores, host_targets, device="cuda")
    else:
        ours = fastmargin_hinge_call(scores, targets)
        signs = hinge_signs(host_scores, host_targets)
        theirs = torch_hinge_call(host_scores, signs, device="cuda")
    loss, grad = ours()
    expected_loss, expected_grad = theirs()
    assert type(grad) is torch.Tensor and grad.is_cuda, type(grad)
    np.testing.assert_allclose(float(loss), float(expected_loss.detach()), rtol=1e-4)
    np.testing.assert_allclose(
        grad.cpu().numpy(), expected_grad.cpu().numpy(), rtol=1e-5, atol=1e-9
    )
    ours_ms = cuda_median_ms(torch, ours, repeat)
    theirs_ms = cuda_median_ms(torch, theirs, repeat)
    moved = floor_bytes(host_scores, host_targets)
    return {
        "loss": loss_name,
        "shape": [n_rows, n_classes],
        "targets_per_row": n_targets,
        "fastmargin_ms": ours_ms,
        "torch_ms": theirs_ms,
        "speedup": theirs_ms / ours_ms,
        "bytes": moved,
        "bandwidth": moved / (ours_ms * 1e-3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: nothing to compare with", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print("no CUDA GPU visible to PyTorch: no GPU figures measured", file=sys.stderr)
        return 1
    bandwidth = copy_bandwidth(torch, args.repeat)
    name = torch.cuda.get_device_name()
    print(f"{name}; device-to-device copy {bandwidth / 1e9:.0f} GB/s; median of {args.repeat}")
    print("| case | N x C, T | fastmargin ms | PyTorch ms | speed-up | GB/s | of copy |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for case, loss_name, n_rows, n_classes, n_targets, layout in CASES:
        result = run_case(torch, loss_name, n_rows, n_classes, n_targets, layout, args.repeat)
        result["case"] = case
        results.append(result)
        print(
            f"| {case} {loss_name} | {n_rows} x {n_classes}, {n_targets} | "
            f"{result['fastmargin_ms']:.3f} | {result['torch_ms']:.3f} | "
            f"{result['speedup']:.1f}x | {result['bandwidth'] / 1e9:.0f} | "
            f"{result['bandwidth'] / bandwidth:.0%} |"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"gpu": name, "copy_bandwidth": bandwidth, "results": results}, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
