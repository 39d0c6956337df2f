"""A linear multi-label model trained with scipy.optimize over Dask row chunks.

The objective is the one of ``linear_svm_scipy.py`` (LIBLINEAR's L2-SVM for
every label at once, W: features x labels)::

    0.5 * ||W||**2 + C * multilabel_hinge_loss(X @ W, Y, squared=True,
                                               reduction="sum", normalize=False)

but the samples live on a ``dask.distributed`` cluster (two worker
processes), in row chunks. Each objective call of
``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` builds the lazy
graph ``X @ W -> fastmargin.dask.multilabel_hinge_loss_and_grad -> X.T @ G``
and computes the loss and ``X.T @ G`` with one ``dask.compute``: the kernel
runs once a chunk, in the workers, for both, and only the scalar loss and
the (features x labels) gradient come back; W goes out with the graph.

The features and labels are sent to the workers once, before training:
``client.scatter`` puts row chunk i of X and of Y on the same worker, and
``da.from_delayed`` makes Dask arrays of the scattered chunks (rather than
``client.persist(da.from_array(X))``, which ships X inside the graph, and
distributed warns about graphs over 10 MiB). The labels go to the cluster
too: an in-memory target would be sliced into every call's graph.

The same objective is computed in memory as well (NumPy and
``fastmargin.multilabel_hinge_loss_and_grad`` on ``X @ W``). The example
checks that the Dask objective and gradient equal the in-memory ones up to
rounding (the chunks' partial sums are added in another order) at several
W, and trains both ways to the same optimum.

Run it::

    python examples/dask_linear_model.py
    python examples/dask_linear_model.py --samples 100000 --chunk-rows 10000

It prints the largest relative differences between the Dask and in-memory
objective and gradient, then each training's iterations, objective and time,
and how far apart the two optima are.
"""

import argparse
import time
from typing import NamedTuple

import dask
import dask.array as da
import numpy as np
import scipy.optimize
from distributed import Client, LocalCluster

import fastmargin
import fastmargin.dask

SETTINGS = {"squared": True, "reduction": "sum", "normalize": False}


def generate(n_samples, n_features, n_labels, seed=0):
    """Gaussian features and a bool label indicator: sample i has label c
    when a hidden linear teacher's score, plus noise, is positive."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_samples, n_features))
    teacher = rng.standard_normal((n_features, n_labels))
    noise = 0.5 * np.sqrt(n_features) * rng.standard_normal((n_samples, n_labels))
    labels = features @ teacher + noise > 0
    return features, labels


def memory_objective(flat_weights, features, labels, cost):
    """The objective and its gradient in memory, for
    ``scipy.optimize.minimize(..., jac=True)``."""
    weights = flat_weights.reshape(features.shape[1], labels.shape[1])
    hinge, grad_scores = fastmargin.multilabel_hinge_loss_and_grad(
        features @ weights, labels, **SETTINGS
    )
    value = 0.5 * np.dot(flat_weights, flat_weights) + cost * float(hinge)
    gradient = weights + cost * (features.T @ grad_scores)
    return value, gradient.ravel()


def dask_objective(flat_weights, features, labels, cost):
    """The same over Dask arrays ``features`` and ``labels`` with the same
    row chunks: one ``dask.compute`` a call, on the current scheduler."""
    weights = flat_weights.reshape(features.shape[1], labels.shape[1])
    hinge, grad_scores = fastmargin.dask.multilabel_hinge_loss_and_grad(
        features @ weights, labels, **SETTINGS
    )
    hinge, grad_weights = dask.compute(hinge, features.T @ grad_scores)
    value = 0.5 * np.dot(flat_weights, flat_weights) + cost * float(hinge)
    gradient = weights + cost * grad_weights
    return value, gradient.ravel()


def scatter_rows(client, arrays, rows_per_chunk):
    """Arrays with the same number of rows, sent to the cluster's workers in
    row chunks (chunk i of every array on the same worker, the workers in
    turn): Dask arrays of the scattered chunks, chunked alike."""
    workers = sorted(client.scheduler_info()["workers"])
    blocks = [[] for _ in arrays]
    n_rows = arrays[0].shape[0]
    for i, start in enumerate(range(0, n_rows, rows_per_chunk)):
        parts = [array[start : start + rows_per_chunk] for array in arrays]
        futures = client.scatter(parts, workers=[workers[i % len(workers)]])
        for chunks, future, part in zip(blocks, futures, parts):
            chunks.append(da.from_delayed(future, shape=part.shape, dtype=part.dtype))
    return [da.concatenate(chunks, axis=0) for chunks in blocks]


def train(objective, args, n_weights, tolerance=1e-10):
    """Minimise ``objective`` with L-BFGS-B from zero weights."""
    return scipy.optimize.minimize(
        objective,
        np.zeros(n_weights),
        args=args,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": tolerance, "ftol": 1e-15},
    )


def relative_difference(value, reference):
    """Largest absolute difference over the largest absolute reference."""
    return float(np.max(np.abs(value - reference)) / np.max(np.abs(reference)))


class Summary(NamedTuple):
    """What ``main`` returns: objectives, differences and iteration counts."""

    start_objective: float  # at W = 0
    dask_objective: float  # at the optimum of the Dask training
    memory_objective: float  # at the optimum of the in-memory training
    objective_difference: float  # largest relative difference, Dask vs memory
    gradient_difference: float  # the same for the gradient, against C * X.T @ G
    weight_difference: float  # between the two optima, relative
    gradient_reduction: float  # largest |gradient| at the Dask optimum over that at W = 0
    dask_iterations: int
    memory_iterations: int


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=2500)
    parser.add_argument("--cost", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    features, labels = generate(args.samples, args.features, args.labels, args.seed)
    n_weights = args.features * args.labels
    memory_args = (features, labels, args.cost)
    start = time.perf_counter()
    in_memory = train(memory_objective, memory_args, n_weights)
    memory_seconds = time.perf_counter() - start

    # The scheduler serves HTTP (health, metrics) even without a dashboard,
    # on port 8787 unless told otherwise, and warns when that port is taken
    # (by another cluster, say): a free port on localhost instead.
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        lazy_features, lazy_labels = scatter_rows(client, [features, labels], args.chunk_rows)
        dask_args = (lazy_features, lazy_labels, args.cost)
        print(
            f"{args.samples} samples x {args.features} features, {args.labels} labels, "
            f"in {lazy_features.numblocks[0]} row chunks on {args.workers} workers"
        )
        start = time.perf_counter()
        on_dask = train(dask_objective, dask_args, n_weights)
        dask_seconds = time.perf_counter() - start

        # The Dask objective against the in-memory one: at zero, at random
        # weights and at both optima. The gradient W + C * X.T @ G nearly
        # cancels at an optimum, so its differences are measured against the
        # size of the data term C * X.T @ G, where the rounding happens.
        rng = np.random.default_rng(args.seed + 1)
        points = {
            "W = 0": np.zeros(n_weights),
            "random W": 0.1 * rng.standard_normal(n_weights),
            "Dask optimum": on_dask.x,
            "in-memory optimum": in_memory.x,
        }
        checks = {}
        for name, point in points.items():
            value, gradient = dask_objective(point, *dask_args)
            reference, reference_gradient = memory_objective(point, *memory_args)
            checks[name] = (
                value,
                gradient,
                reference,
                abs(value - reference) / abs(reference),
                float(
                    np.abs(gradient - reference_gradient).max()
                    / np.abs(reference_gradient - point).max()
                ),
            )

    start_value, start_gradient, *_ = checks["W = 0"]
    end_value, end_gradient, *_ = checks["Dask optimum"]
    summary = Summary(
        start_objective=float(start_value),
        dask_objective=float(end_value),
        memory_objective=float(checks["in-memory optimum"][2]),
        objective_difference=float(max(check[3] for check in checks.values())),
        gradient_difference=max(check[4] for check in checks.values()),
        weight_difference=relative_difference(on_dask.x, in_memory.x),
        gradient_reduction=float(np.abs(end_gradient).max() / np.abs(start_gradient).max()),
        dask_iterations=on_dask.nit,
        memory_iterations=in_memory.nit,
    )
    print("Dask vs in memory (relative differences):")
    for name, (value, *_, objective_difference, gradient_difference) in checks.items():
        print(
            f"  {name:>18}: objective {value:.12g} differs by {objective_difference:.1e}, "
            f"gradient by {gradient_difference:.1e}"
        )
    print(
        f"Dask:      {on_dask.nit} iterations ({on_dask.nfev} calls, {dask_seconds:.1f} s), "
        f"objective {summary.dask_objective:.12g} (from {start_value:.12g})"
    )
    print(
        f"in memory: {in_memory.nit} iterations ({in_memory.nfev} calls, "
        f"{memory_seconds:.1f} s), objective {summary.memory_objective:.12g}"
    )
    print(
        f"optima: objectives differ by "
        f"{abs(summary.dask_objective / summary.memory_objective - 1):.1e}, weights by "
        f"{summary.weight_difference:.1e} of the largest; largest gradient entry "
        f"{summary.gradient_reduction:.1e} of the start's"
    )
    return summary


if __name__ == "__main__":
    main()
