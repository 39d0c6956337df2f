"""fastmargin.dask on a real ``dask.distributed`` cluster: two worker
processes import fastmargin and run its kernels (loaded from numba's disk
cache when the cache is on: the workers share this machine's cache
directory), results equal the in-memory ones and the synchronous
scheduler's bit for bit, and the cluster shuts down cleanly."""

import multiprocessing

import dask
import dask.array as da
import numpy as np
import pytest
from forms import pytorch_layout_targets

import fastmargin
import fastmargin.dask as fmd

pytestmark = pytest.mark.slow


def worker_state():
    """What a worker process knows: its pid and whether it ran fastmargin."""
    import os
    import sys

    return os.getpid(), "fastmargin.kernels.ranking" in sys.modules


def test_local_cluster_with_two_worker_processes():
    """Loss and gradient of both losses on a 2-process LocalCluster: equal
    to the synchronous scheduler's bits and to the in-memory results within
    1e-12; both workers ran kernels; AdaptiveMargins moves in the client to
    the synchronous run's bits; no process is left behind."""
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(0)
    scores = rng.standard_normal((2000, 40))
    target = pytorch_layout_targets(rng, 2000, 40)
    lazy_scores = da.from_array(scores, chunks=(250, 40))
    lazy = [
        *fmd.multilabel_margin_loss_and_grad(lazy_scores, target),
        *fmd.multilabel_hinge_loss_and_grad(lazy_scores, target, reduction="none"),
    ]
    expected = [
        *fastmargin.multilabel_margin_loss_and_grad(scores, target),
        *fastmargin.multilabel_hinge_loss_and_grad(scores, target, reduction="none"),
    ]
    synchronous = dask.compute(*lazy, scheduler="sync")
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # The scheduler's HTTP server on a free port: its default, 8787,
            # may be taken by another cluster (a UserWarning, an error here).
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        distributed = dask.compute(*lazy)
        states = client.run(worker_state)
        on_cluster = fmd.AdaptiveMargins(40, rate=0.5)
        adaptive_loss, _ = on_cluster.loss_and_grad(lazy_scores, target)
        adaptive_loss.compute()  # the margins move here, in this process
        second, _ = on_cluster.loss_and_grad(lazy_scores, target)
        with pytest.raises(
            RuntimeError, match=r"finished in another process.*loss.compute\(\)"
        ):
            dask.compute(second)  # finished on a worker, where the margins are not
        explicit = fmd.AdaptiveMargins(40, rate=0.5)
        *_, label_sums = dask.compute(*explicit.loss_grad_and_label_sums(lazy_scores, target))
        explicit.update(label_sums, 2000)
    locally = fmd.AdaptiveMargins(40, rate=0.5)
    local_loss, _ = locally.loss_and_grad(lazy_scores, target)
    local_loss.compute(scheduler="sync")
    assert np.array_equal(on_cluster.margins, locally.margins)
    assert np.array_equal(explicit.margins, locally.margins)
    assert not np.array_equal(on_cluster.margins, np.ones(40))
    assert len(states) == 2
    assert all(ran for _, ran in states.values())
    assert len({pid for pid, _ in states.values()}) == 2
    for value, same, want in zip(distributed, synchronous, expected):
        assert np.array_equal(value, same)
        np.testing.assert_allclose(value, want, rtol=1e-12, atol=0)
    assert multiprocessing.active_children() == []
