"""A linear multi-label SVM trained with scipy.optimize, to LIBLINEAR's optimum.

The one-vs-rest L2-SVM that LIBLINEAR solves for each label c (scikit-learn's
``LinearSVC(loss="squared_hinge", fit_intercept=False)``) minimises::

    0.5 * ||w_c||**2 + C * sum over samples i of max(0, 1 - s_ic * x_i . w_c)**2

with ``s_ic = +1`` when sample i has label c and -1 otherwise. Over all labels
at once (W: features x labels) that is::

    0.5 * ||W||**2 + C * multilabel_hinge_loss(X @ W, Y, squared=True,
                                               reduction="sum", normalize=False)

``normalize=False`` gives the plain sum of the hinge terms (the default divides
each sample's sum by the number of labels, as PyTorch does), so the loss and
its gradient go into the objective as they are: no scaling by hand.

Run it::

    python examples/linear_svm_scipy.py

It trains on generated sparse data with L-BFGS-B and compares the result
with LIBLINEAR's, one label at a time (scikit-learn needed for that part).
"""

import argparse

import numpy as np
import scipy.optimize
import scipy.sparse

from fastmargin import multilabel_hinge_loss_and_grad


def generate(n_samples, n_features, n_labels, density, seed=0):
    """Sparse features (CSR) and a bool label indicator that a linear model
    explains up to some noise; every label has samples with and without it."""
    rng = np.random.default_rng(seed)
    features = scipy.sparse.random(
        n_samples,
        n_features,
        density=density,
        format="csr",
        random_state=rng,
        data_rvs=rng.standard_normal,
    )
    true_weights = rng.standard_normal((n_features, n_labels))
    scores = features @ true_weights + 0.3 * rng.standard_normal((n_samples, n_labels))
    labels = scores > np.median(scores, axis=0)
    return features, labels


def objective(flat_weights, features, labels, cost):
    """The L2-SVM objective over all labels and its gradient, for
    ``scipy.optimize.minimize(..., jac=True)``."""
    weights = flat_weights.reshape(features.shape[1], labels.shape[1])
    hinge, grad_scores = multilabel_hinge_loss_and_grad(
        features @ weights, labels, squared=True, reduction="sum", normalize=False
    )
    value = 0.5 * np.dot(flat_weights, flat_weights) + cost * float(hinge)
    gradient = weights + cost * (features.T @ grad_scores)
    return value, gradient.ravel()


def train(features, labels, cost, tolerance=1e-10):
    """Minimise the objective with L-BFGS-B from zero weights."""
    start = np.zeros(features.shape[1] * labels.shape[1])
    result = scipy.optimize.minimize(
        objective,
        start,
        args=(features, labels, cost),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": tolerance, "ftol": 1e-15},
    )
    return result.x.reshape(features.shape[1], labels.shape[1]), result


def liblinear_weights(features, labels, cost):
    """LIBLINEAR's solution, one label at a time (scikit-learn's LinearSVC)."""
    from sklearn.svm import LinearSVC

    columns = []
    for label in range(labels.shape[1]):
        svm = LinearSVC(
            loss="squared_hinge",
            C=cost,
            fit_intercept=False,
            tol=1e-12,
            max_iter=100_000,
        )
        svm.fit(features, labels[:, label])
        columns.append(svm.coef_.ravel())
    return np.stack(columns, axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--density", type=float, default=0.02)
    parser.add_argument("--cost", type=float, default=1.0)
    args = parser.parse_args(argv)
    features, labels = generate(args.samples, args.features, args.labels, args.density)
    weights, result = train(features, labels, args.cost)
    reference = liblinear_weights(features, labels, args.cost)
    ours = objective(weights.ravel(), features, labels, args.cost)[0]
    theirs = objective(reference.ravel(), features, labels, args.cost)[0]
    difference = np.abs(weights - reference).max() / np.abs(reference).max()
    print(f"L-BFGS-B: {result.nit} iterations, objective {ours:.10g}")
    print(
        f"LIBLINEAR objective {theirs:.10g}; weights differ by {difference:.1e} of the largest"
    )
    return ours, theirs, difference


if __name__ == "__main__":
    main()
