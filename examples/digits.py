"""Classify handwritten digits with an MLP: minibatches, `fit` with a
validation loss, early stopping and the best parameters kept, test accuracy.

    python examples/digits.py               # scikit-learn's 8x8 digits
    python examples/digits.py --rows 600    # a subset, quicker

The data is scikit-learn's `load_digits` (1,797 images of 8x8 pixels) when
scikit-learn is installed, else a synthetic stand-in of the same shape (ten
noisy prototype images), so the example runs with NumPy alone.
"""
from __future__ import annotations

import argparse

import numpy as np

from micrograd import Value, compile, losses, nn
from micrograd.data import batches
from micrograd.metrics import accuracy
from micrograd.optim import AdamW, cosine, warmup
from micrograd.train import fit


def load(rows: int | None, seed: int = 0):
    """(images (N, 64) in [0, 1], labels (N,), where they come from)."""
    try:
        from sklearn.datasets import load_digits
        digits = load_digits()
        X, y, source = digits.data / 16.0, digits.target, 'load_digits'
    except ImportError:
        rng = np.random.default_rng(seed)
        prototypes = rng.uniform(0, 1, (10, 64)) > 0.6
        y = rng.integers(0, 10, 1797)
        X = np.clip(prototypes[y] + 0.9 * rng.standard_normal((1797, 64)),
                    0, 1)
        source = 'synthetic stand-in (scikit-learn not installed)'
    order = np.random.default_rng(seed).permutation(len(y))[:rows]
    return X[order], y[order].astype(np.int64), source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', type=int, default=None,
                        help='use only this many images')
    parser.add_argument('--epochs', type=int, default=60)
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--dropout', type=float, default=0.1)
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args(argv)

    X, y, source = load(args.rows)
    n = len(y)
    test, val = slice(0, n // 5), slice(n // 5, 2 * n // 5)
    train = slice(2 * n // 5, n)
    print(f'{n} images from {source}: {train.stop - train.start} to train, '
          f'{val.stop - val.start} to validate, {test.stop} to test')

    model = nn.Sequential(nn.Linear(64, args.hidden, rng=0), nn.ReLU(),
                          nn.Dropout(args.dropout, rng=0),
                          nn.Linear(args.hidden, 10, rng=1))
    x = Value(shape=(None, 64), name='x', requires_grad=False)
    label = Value(shape=(None,), name='label', requires_grad=False)
    loss = compile(losses.cross_entropy(model(x), label))   # with dropout

    model.eval()              # graphs built now have no dropout
    val_loss = losses.cross_entropy(model(Value(X[val], requires_grad=False)),
                                    y[val])
    model.train()

    weights = [m.weight for m in model.layers if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model.layers if isinstance(m, nn.Linear)]
    data = batches({'x': X[train], 'label': y[train]}, 32, shuffle=True,
                   seed=0)
    optimiser = AdamW([{'params': weights, 'weight_decay': 1e-2},
                       {'params': biases, 'weight_decay': 0.0}],
                      lr=warmup(cosine(1e-2), steps=20))
    history = fit(loss, optimiser, data, epochs=args.epochs,
                  validation=(val_loss, {}), validate_every=len(data),
                  patience=8, progress=not args.quiet)
    print(f'{history.steps} steps ({history.stopped}); best validation '
          f'loss {history.best_val:.4f} at step {history.best_step}; last '
          f'learning rate {optimiser.lr:.2e}')

    model.eval()
    scores = model(Value(X[test], requires_grad=False))
    score = accuracy(scores, y[test])
    print(f'test accuracy: {score:.3f}')
    return score


if __name__ == '__main__':
    main()
