"""A multi-label MLP trained in PyTorch with fastmargin's MultiLabelMarginLoss.

A hidden linear "teacher" scores every label for each generated sample, and
the sample's labels are its teacher's top few. A two-layer MLP learns them
from the features with ``fastmargin.torch.MultiLabelMarginLoss``, the drop-in
for ``torch.nn.MultiLabelMarginLoss``: the same (N, C) int64 targets, each
row's labels followed by -1 padding, and the same loss and gradient, from
fastmargin's kernels (one pass computes both).

Run it::

    python examples/torch_training.py
    python examples/torch_training.py --labels 100 --epochs 40

It prints the training loss every few epochs, then, on held-out samples, how
often the top-scored label is a true label (top-1 precision) and the
precision at k (k: labels per sample), each against its chance level.
"""

import argparse

import torch

from fastmargin.torch import MultiLabelMarginLoss


def generate(n_samples, n_features, n_labels, per_sample, seed=0):
    """Gaussian features and each sample's ``per_sample`` labels, those that
    a random linear teacher scores highest (plus some noise, so that the
    labels are learnable but not exactly linear).

    Returns
    -------
    features : Tensor of float32, shape (n_samples, n_features)
    target : Tensor of int64, shape (n_samples, n_labels)
        PyTorch's layout: each row's labels, then -1 padding.
    """
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n_samples, n_features, generator=generator)
    teacher = torch.randn(n_features, n_labels, generator=generator)
    scores = features @ teacher + 0.5 * torch.randn(n_samples, n_labels, generator=generator)
    target = torch.full((n_samples, n_labels), -1, dtype=torch.int64)
    target[:, :per_sample] = scores.topk(per_sample, dim=1).indices
    return features, target


def make_model(n_features, n_hidden, n_labels):
    """Features -> ReLU hidden layer -> one score per label."""
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, n_hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(n_hidden, n_labels),
    )


def train(model, features, target, epochs, batch_size, lr, print_every, seed=0):
    """Adam on shuffled mini-batches; the mean training loss of each epoch."""
    criterion = MultiLabelMarginLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    epoch_losses = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(features), generator=generator)
        total = 0.0
        for batch in order.split(batch_size):
            optimizer.zero_grad()
            loss = criterion(model(features[batch]), target[batch])
            loss.backward()
            optimizer.step()
            # Weighted by the batch's size: the last batch may be short.
            total += loss.item() * len(batch)
        epoch_losses.append(total / len(features))
        if epoch == 1 or epoch % print_every == 0 or epoch == epochs:
            print(f"epoch {epoch:3d}: loss {epoch_losses[-1]:.4f}")
    return epoch_losses


@torch.no_grad()
def precision_at(model, features, labels, k):
    """The mean fraction of each sample's ``k`` top-scored labels that are
    among its ``labels`` (shape (N, L), no padding); k=1: how often the
    top-scored label is a true one."""
    top = model(features).topk(k, dim=1).indices
    hits = (top[:, :, None] == labels[:, None, :]).any(dim=2)
    return hits.float().mean().item()


def main(argv=None):
    """Generate, train and evaluate; return ``(first epoch's loss, last
    epoch's loss, held-out top-1 precision, its chance level)``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--labels", type=int, default=50)
    parser.add_argument("--per-sample", type=int, default=3, help="labels per sample")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--print-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    # Layers this small run fastest on one thread: more threads only add
    # synchronisation, which costs a lot on a busy machine.
    parser.add_argument("--threads", type=int, default=1, help="PyTorch's CPU threads")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the model's initial weights
    features, target = generate(
        args.samples, args.features, args.labels, args.per_sample, seed=args.seed
    )
    # The last fifth is held out: the precision is measured on unseen samples.
    n_train = args.samples * 4 // 5
    model = make_model(args.features, args.hidden, args.labels)
    losses = train(
        model,
        features[:n_train],
        target[:n_train],
        args.epochs,
        args.batch_size,
        args.lr,
        args.print_every,
        seed=args.seed,
    )
    # Every sample has per_sample labels: the targets' first columns, no -1.
    held_out = features[n_train:], target[n_train:, : args.per_sample]
    top1 = precision_at(model, *held_out, k=1)
    top_k = precision_at(model, *held_out, k=args.per_sample)
    # A random ranking hits a true label with probability per_sample / labels.
    chance = args.per_sample / args.labels
    print(f"held out: top-1 precision {top1:.3f}, chance {chance:.3f}")
    print(f"held out: precision@{args.per_sample} {top_k:.3f}, chance {chance:.3f}")
    return losses[0], losses[-1], top1, chance


if __name__ == "__main__":
    main()
