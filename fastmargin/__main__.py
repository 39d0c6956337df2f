"""``python -m fastmargin``: time the fused ranking loss and gradient on a
generated batch, and compare with PyTorch when it is installed."""

import argparse
import sys

import numba
import numpy as np

from . import __version__
from ._bench import (
    best_and_median,
    copy_bandwidth,
    fastmargin_ranking_call,
    make_batch,
    ranking_floor_bytes,
    torch_ranking_call,
)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m fastmargin",
        description=(
            "Time fastmargin's fused multi-label margin loss + gradient on a "
            "generated batch (PyTorch target layout) and, when PyTorch is "
            "installed, PyTorch's forward + backward on the same data."
        ),
    )
    parser.add_argument("--n", type=_positive_int, default=4096, help="samples (default 4096)")
    parser.add_argument(
        "--classes", type=_positive_int, default=1000, help="classes C (default 1000)"
    )
    parser.add_argument(
        "--targets", type=int, default=5, help="targets per sample (default 5)"
    )
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32", help="score dtype"
    )
    parser.add_argument(
        "--repeat", type=_positive_int, default=10, help="timed calls (default 10)"
    )
    return parser


def main(argv=None):
    """Run the command line tool; return its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0 <= args.targets <= args.classes:
        parser.error(f"--targets must lie in [0, --classes], got {args.targets}")
    scores, targets = make_batch(
        args.n, args.classes, args.targets, dtype=np.dtype(args.dtype)
    )
    fast_best, fast_median = best_and_median(
        fastmargin_ranking_call(scores, targets), repeat=args.repeat
    )
    print(
        f"fastmargin {__version__}, numba {numba.__version__}, "
        f"{numba.get_num_threads()} threads ({numba.threading_layer()} layer)"
    )
    print(
        f"batch: {args.n} x {args.classes} {args.dtype} scores, "
        f"{args.targets} targets per sample (PyTorch layout)"
    )
    floor = ranking_floor_bytes(scores, targets) / copy_bandwidth()
    print(
        f"fastmargin loss+grad: {fast_median * 1e3:9.3f} ms per call "
        f"(best {fast_best * 1e3:.3f} ms, memory floor {floor * 1e3:.3f} ms, "
        f"{fast_best / floor:.2f}x the floor)"
    )
    torch_call = torch_ranking_call(scores, targets)
    if torch_call is None:
        print("PyTorch is not installed: no comparison.")
        return 0
    torch_best, torch_median = best_and_median(torch_call, repeat=max(3, args.repeat // 3))
    print(
        f"PyTorch forward+backward: {torch_median * 1e3:9.3f} ms per call "
        f"(best {torch_best * 1e3:.3f} ms)"
    )
    print(f"speed-up over PyTorch: {torch_median / fast_median:.1f}x (medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
