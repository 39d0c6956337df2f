"""asv ``track_`` benchmarks of the README's ratios: the speed-up over PyTorch
(and, for the hinge, over NumPy) and the time over the memory floor.

Each is measured within one process, the contenders alternating so that a
noisy neighbour hits them alike, as ``benchmarks/ranking_table.py`` and
``benchmarks/hinge_table.py`` do: fused loss and gradient, float32, mean
reduction, a fresh gradient per call. The PyTorch benchmarks are skipped
(asv: "n/a") where PyTorch is not installed.

Direction: asv counts every increase as a regression. For a time over the
floor that is right; a speed-up is better when it grows, so a higher
speed-up shows under "worsened" in ``asv compare``/``asv continuous``.
The ratios are single values (no samples), so they move by several percent
from run to run with the machine's load; their graphs, not a strict gate,
are the point.
"""

import functools

import numpy as np

from .bench_common import (
    FEW_CLASSES,
    MANY_TARGETS,
    TYPICAL,
    WIDE,
    batch,
    bench_helper,
    function,
    median_seconds,
)

# The README table's ranking shapes (its speed-up goals: 40x, 25x, 80x, 300x);
# PyTorch takes 7.5 s a call at MANY_TARGETS, too slow to track here.
RANKING_TORCH_SHAPES = (TYPICAL, FEW_CLASSES, WIDE)
RANKING_FLOOR_SHAPES = (TYPICAL, FEW_CLASSES, WIDE, MANY_TARGETS)
HINGE_RATIO_SHAPES = (TYPICAL, WIDE)


def _rounds(seconds_per_call):
    """Rounds of alternation: fewer when the slower contender is slow."""
    return 3 if seconds_per_call > 0.3 else 7


def _speedup(fast, slow):
    """Median time of ``slow`` over median time of ``fast``, alternating:
    each round makes three untimed calls of ``fast`` (back to speed after
    the other's spell), times five, then times one call of ``slow``."""
    fast()
    slow_first = median_seconds(slow, 1)
    fast_times, slow_times = [], []
    for _ in range(_rounds(slow_first)):
        for _ in range(3):
            fast()
        fast_times.extend(median_seconds(fast, 1) for _ in range(5))
        slow_times.append(median_seconds(slow, 1))
    return float(np.median(slow_times) / np.median(fast_times))


@functools.lru_cache(maxsize=1)
def _bandwidth():
    """np.copyto bandwidth (read + write bytes per second), once a process."""
    return bench_helper("copy_bandwidth")()


def _torch_call(helper, *arguments):
    call = bench_helper(helper)(*arguments)
    if call is None:
        raise NotImplementedError("PyTorch is not installed")
    return call


class _Speedup:
    """A reference's time over fastmargin's fused call; subclasses name the
    loss, the target layout and the reference."""

    param_names = ("shape",)
    unit = "x"
    timeout = 300
    function_name = layout = None

    def reference(self, scores, targets):
        raise NotImplementedError

    def setup(self, shape):
        scores, targets = batch(shape, "float32", self.layout)
        self.slow = self.reference(scores, targets)
        self.fast = functools.partial(function(self.function_name), scores, targets)
        self.fast()
        self.slow()

    def track_speedup(self, shape):
        return _speedup(self.fast, self.slow)


class RankingSpeedupOverTorch(_Speedup):
    """PyTorch's ``multilabel_margin_loss`` forward + backward time over
    fastmargin's fused call, PyTorch-layout int64 targets."""

    params = (RANKING_TORCH_SHAPES,)
    function_name = "multilabel_margin_loss_and_grad"
    layout = "padded"

    def reference(self, scores, targets):
        return _torch_call("torch_ranking_call", scores, targets)


class HingeSpeedupOverTorch(_Speedup):
    """PyTorch autograd on ``clamp(1 - s * x, min=0).mean()`` (dense sign
    matrix s, built once, untimed) over fastmargin's fused hinge call with
    compact int64 targets."""

    params = (HINGE_RATIO_SHAPES,)
    function_name = "multilabel_hinge_loss_and_grad"
    layout = "compact"

    def reference(self, scores, targets):
        signs = bench_helper("hinge_signs")(scores, targets)
        return _torch_call("torch_hinge_call", scores, signs)


class HingeSpeedupOverNumpy(HingeSpeedupOverTorch):
    """The vectorised NumPy expression of the hinge's mean and gradient
    (``fastmargin.cli.timing.numpy_hinge_call``, dense sign matrix built once,
    untimed) over fastmargin's fused hinge call with compact int64 targets."""

    def reference(self, scores, targets):
        signs = bench_helper("hinge_signs")(scores, targets)
        return bench_helper("numpy_hinge_call")(scores, signs)


def _time_over_floor(call, floor_bytes):
    """Median time of ``call`` over the memory floor: the bytes that must
    move divided by the copy bandwidth measured in this process."""
    for _ in range(3):
        call()
    return median_seconds(call, 15) / (floor_bytes / _bandwidth())


class _FloorRatio:
    """A fused call's time over its memory floor; subclasses name the loss,
    its floor and its target layout."""

    param_names = ("shape",)
    unit = "x floor"
    function_name = floor_name = layout = None

    def setup(self, shape):
        scores, targets = batch(shape, "float32", self.layout)
        self.floor_bytes = bench_helper(self.floor_name)(scores, targets)
        self.call = functools.partial(function(self.function_name), scores, targets)
        self.call()
        _bandwidth()

    def track_time_over_floor(self, shape):
        return _time_over_floor(self.call, self.floor_bytes)


class RankingFloorRatio(_FloorRatio):
    """fastmargin's fused ranking call time over its memory floor (scores
    read, gradient written, used target entries read, at np.copyto's
    bandwidth), PyTorch-layout int64 targets. 1 would be a perfect stream."""

    params = (RANKING_FLOOR_SHAPES,)
    function_name = "multilabel_margin_loss_and_grad"
    floor_name = "ranking_floor_bytes"
    layout = "padded"


class HingeFloorRatio(_FloorRatio):
    """fastmargin's fused hinge call time over its memory floor (scores read,
    gradient written, compact target entries read), compact int64 targets."""

    params = (HINGE_RATIO_SHAPES,)
    function_name = "multilabel_hinge_loss_and_grad"
    floor_name = "hinge_floor_bytes"
    layout = "compact"
