"""The demos: `python -m micrograd.demo quantile` and `... demo moons`.

quantile: an MLP predicts the quantiles 0.1 .. 0.9 of a target, trained with
the pinball loss and Adam in float32, on a built-in heteroscedastic data set
(or your own numeric CSV). It prints, on held-out rows, each quantile's
pinball loss and coverage (the share of targets below the predicted
quantile, which should be close to the quantile), saves a PNG of the
quantile bands (with matplotlib) and the trained parameters (.npz).

moons: the original demo, a 2-16-16-1 MLP separating two moons with the
hinge loss and SGD; saves the decision boundary as a PNG.
"""
from __future__ import annotations

import argparse
import csv
import functools
import os
import sys
import time

import numpy as np

from . import nn
from .chunked import chunked
from .data import batches
from .engine import Value
from .losses import hinge, pinball
from .optim import SGD, Adam
from .profile import profile
from .serialize import save

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class DemoError(Exception):
    """Bad input: reported in one line, exit status 2."""


# ---------------------------------------------------------------- data

def synthetic(rows: int, features: int, seed: int, dtype):
    """X ~ N(0, 1); y = X @ w + (1 + |X[:, 0]|) * t3 noise, w ~ N(0, 1) / 10:
    the noise, so the spread of the quantiles, grows with |X[:, 0]|."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32).astype(dtype)
    w = rng.standard_normal(features) / 10
    noise = rng.standard_t(3, rows)
    y = X @ w.astype(dtype) + (1 + np.abs(X[:, 0])) * noise
    return X, y.astype(dtype), [f'x{i}' for i in range(features)]


def read_csv(path: str, target: str, dtype):
    """Numeric CSV with a header row -> X, y, feature names."""
    if not os.path.isfile(path):
        raise DemoError(f'no such file: {path}')
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    if len(rows) < 3:
        raise DemoError(f'{path}: needs a header row and at least 2 data rows')
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if target not in header:
        raise DemoError(f"{path}: no column '{target}'; columns: "
                        + ', '.join(header))
    data = np.empty((len(body), len(header)), dtype=np.float64)
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DemoError(f'{path}: line {r} has {len(row)} fields, '
                            f'the header has {len(header)}')
        for c, field in enumerate(row):
            try:
                data[r - 2, c] = float(field)
            except ValueError:
                raise DemoError(f"{path}: column '{header[c]}' is not "
                                f'numeric (line {r}: {field!r})') from None
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    if not features:
        raise DemoError(f'{path}: no feature column besides the target')
    X = np.delete(data, t, axis=1).astype(dtype)
    return X, data[:, t].astype(dtype), features


# ---------------------------------------------------------------- training

def progress(iterable, total: int, label: str):
    """tqdm when installed, else a line every tenth of the way."""
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=label, leave=False,
                    mininterval=0.5)
    except ImportError:
        return iterable


def train(loss, feeds_for_step, optimiser, steps: int, show):
    """`steps` steps of forward, backward, update; `show(step, loss)`."""
    bar = progress(range(steps), steps, 'training')
    for step in bar:
        loss.forward(**feeds_for_step(step))
        loss.backward()
        optimiser.step()
        value = float(loss.data)
        if hasattr(bar, 'set_postfix'):
            if step % 10 == 0 or step == steps - 1:
                bar.set_postfix(loss=f'{value:.4f}', refresh=False)
        elif (step + 1) % max(steps // 10, 1) == 0 or step == 0:
            show(step + 1, value)
    return float(loss.data)


def quantile_demo(args) -> int:
    dtype = np.dtype(args.dtype)
    if args.csv:
        X, y, names = read_csv(args.csv, args.target, dtype)
        source = f'{args.csv} (target {args.target})'
    else:
        X, y, names = synthetic(args.rows, args.features, args.seed, dtype)
        source = f'synthetic, {args.rows:,} rows x {args.features} features'
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(X))
    cut = max(1, int(len(X) * 0.8))
    train_rows, test_rows = order[:cut], order[cut:]
    if len(test_rows) == 0:
        raise DemoError('too few rows to hold some out')
    # standardise with the training rows' statistics
    mu, sd = X[train_rows].mean(0), X[train_rows].std(0) + 1e-8
    ym, ys = y[train_rows].mean(), y[train_rows].std() + 1e-8
    Xs = ((X - mu) / sd).astype(dtype)
    yz = ((y - ym) / ys).astype(dtype)

    features = X.shape[1]
    model = nn.TensorMLP(features, [args.hidden, len(QUANTILES)],
                         rng=args.seed, dtype=dtype.name)
    x = Value(shape=(None, features), name='x', dtype=dtype.name,
              requires_grad=False)
    target = Value(shape=(None,), name='y', dtype=dtype.name,
                   requires_grad=False)
    loss = chunked(pinball(model(x), target, QUANTILES))   # rows in chunks
    optimiser = Adam(wrt=model.parameters(), learning_rate=args.lr)

    size = args.batch_size or len(train_rows)
    epochs = functools.partial(batches, Xs[train_rows], yz[train_rows],
                               batch_size=size, seed=rng,
                               shuffle=size < len(train_rows))
    stream = _endless(epochs)

    def feeds(step):
        xb, yb = next(stream)
        return {'x': xb, 'y': yb}

    print(f'quantile regression: {source}; MLP {features}-{args.hidden}-'
          f'{len(QUANTILES)}, {dtype.name}, Adam lr {args.lr}, '
          f'{args.steps} steps, batch {size:,}')
    start = time.perf_counter()
    final = train(loss, feeds, optimiser, args.steps,
                  lambda s, v: print(f'  step {s:5d}  pinball loss {v:.4f}'))
    seconds = time.perf_counter() - start
    print(f'trained in {seconds:.1f} s ({seconds / args.steps * 1e3:.1f} ms '
          f'per step); final training loss {final:.4f} (standardised units)')

    # held-out table, in the target's own units
    x_test = Value(Xs[test_rows], requires_grad=False)
    pred = np.asarray(model(x_test).data, dtype=np.float64) * ys + ym
    truth = y[test_rows].astype(np.float64)
    print(f'\nheld-out rows: {len(test_rows):,}')
    print(f"{'quantile':>9}{'pinball loss':>14}{'coverage':>10}")
    for q, column in zip(QUANTILES, pred.T):
        r = truth - column
        loss_q = np.mean(np.maximum(q * r, (q - 1) * r))
        coverage = np.mean(truth < column)
        print(f'{q:>9.1f}{loss_q:>14.4f}{coverage:>10.3f}')

    os.makedirs(args.out, exist_ok=True)
    params = os.path.join(args.out, 'quantile_model.npz')
    save(params, model.state_dict())
    print(f'\nparameters saved to {params}')
    plot_quantiles(os.path.join(args.out, 'quantile_bands.png'),
                   Xs[test_rows][:, 0] * sd[0] + mu[0], truth, pred, names[0])
    if args.profile:
        print('\nper-op profile of one training step (interpreted, one '
              'chunk: the whole batch):')
        profile(pinball(model(x), target, QUANTILES), **feeds(0))
    return 0


def _endless(epoch):
    """Minibatches forever: one call of `epoch()` per pass over the data."""
    while True:
        yield from epoch()


def _pyplot():
    """matplotlib.pyplot drawing to files, or None (with a message)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no plot '
              '(pip install "micrograd[demo]")')
        return None
    return plt


def plot_quantiles(path, x0, truth, pred, name):
    """Held-out targets around the predicted median, against the first
    feature, with the predicted quantile bands."""
    plt = _pyplot()
    if plt is None:
        return
    order = np.argsort(x0)
    median = pred[:, len(QUANTILES) // 2]
    show = order[:: max(1, len(order) // 4000)]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.scatter(x0[show], (truth - median)[show], s=3, alpha=0.3, color='grey',
               label='held-out target - predicted median')
    for j in range(len(QUANTILES) // 2):
        lo, hi = pred[:, j] - median, pred[:, -1 - j] - median
        ax.fill_between(x0[order], _smooth(lo[order]), _smooth(hi[order]),
                        alpha=0.15, color='C0',
                        label=f'{QUANTILES[j]:.1f}-{QUANTILES[-1 - j]:.1f}')
    resid = truth - median
    ax.set_ylim(*np.percentile(resid, [0.5, 99.5]))
    ax.set_xlabel(name)
    ax.set_ylabel('target around the predicted median')
    ax.set_title('Predicted quantile bands (held-out rows)')
    ax.legend(loc='upper left', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f'plot saved to {path}')


def _smooth(values, width=101):
    """A running mean, for readable bands over a noisy feature axis."""
    width = max(1, min(width, len(values) // 10 or 1))
    kernel = np.ones(width)
    return (np.convolve(values, kernel, mode='same') /
            np.convolve(np.ones(len(values)), kernel, mode='same'))


# ---------------------------------------------------------------- moons

def make_moons(n: int, noise: float, seed: int):
    """Two interleaving half circles, labels -1 and +1."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = rng.uniform(0, np.pi, n)
    outer = np.stack([np.cos(t[:half]), np.sin(t[:half])], axis=1)
    inner = np.stack([1 - np.cos(t[half:]), 0.5 - np.sin(t[half:])], axis=1)
    X = np.concatenate([outer, inner]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([-np.ones(half), np.ones(n - half)])
    return X, y


def moons_demo(args) -> int:
    X, y = make_moons(100, 0.1, args.seed)
    model = nn.TensorMLP(2, [16, 16, 1], rng=args.seed)
    x = Value(X, requires_grad=False)
    scores = model(x).reshape(-1)
    l2 = sum((p * p).sum() for p in model.parameters())
    loss = hinge(scores, y) + 1e-4 * l2
    optimiser = SGD(wrt=model.parameters(), learning_rate=args.lr)
    print(f'two moons: MLP 2-16-16-1, hinge loss + 1e-4 L2, SGD lr {args.lr}, '
          f'{args.steps} steps')
    train(loss, lambda step: {}, optimiser, args.steps,
          lambda s, v: print(f'  step {s:5d}  loss {v:.4f}'))
    scores.forward()
    accuracy = np.mean((np.asarray(scores.data) > 0) == (y > 0))
    print(f'accuracy {accuracy:.1%}')
    os.makedirs(args.out, exist_ok=True)
    plot_moons(os.path.join(args.out, 'moons.png'), model, X, y)
    return 0


def plot_moons(path, model, X, y):
    plt = _pyplot()
    if plt is None:
        return
    xx, yy = np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 200))
    grid = Value(np.c_[xx.ravel(), yy.ravel()], requires_grad=False)
    zz = np.asarray(model(grid).data).reshape(xx.shape) > 0
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(xx, yy, zz, cmap='Spectral', alpha=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=30, cmap='Spectral', edgecolors='k')
    ax.set_title('Decision boundary, MLP 2-16-16-1')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f'plot saved to {path}')


# ---------------------------------------------------------------- command line

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='python -m micrograd.demo',
                                description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='demo', required=True)
    q = sub.add_parser('quantile', help='quantile regression (the main demo)')
    q.add_argument('--rows', type=int, default=100_000,
                   help='synthetic rows (1,500,000 x 100 float32 = 600 MB)')
    q.add_argument('--features', type=int, default=100)
    q.add_argument('--csv', help='train on this numeric CSV (with a header)')
    q.add_argument('--target', help='the CSV column to predict')
    q.add_argument('--steps', type=int, default=300)
    q.add_argument('--batch-size', type=int, default=0,
                   help='rows per step (default: all, full batch)')
    q.add_argument('--hidden', type=int, default=32)
    q.add_argument('--lr', type=float, default=0.01)
    q.add_argument('--dtype', default='float32',
                   choices=['float32', 'float64'])
    q.add_argument('--seed', type=int, default=0)
    q.add_argument('--out', default='out')
    q.add_argument('--profile', action='store_true',
                   help='print a per-op time table after training')
    m = sub.add_parser('moons', help='two moons, the original demo')
    m.add_argument('--steps', type=int, default=200)
    m.add_argument('--lr', type=float, default=0.5)
    m.add_argument('--seed', type=int, default=0)
    m.add_argument('--out', default='out')
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.demo == 'moons':
            return moons_demo(args)
        if args.csv and not args.target:
            raise DemoError('--csv needs --target COLUMN')
        for name in ('rows', 'features', 'steps', 'hidden'):
            if getattr(args, name, 1) < 1:
                raise DemoError(f'--{name} must be at least 1')
        if args.batch_size < 0 or args.lr <= 0:
            raise DemoError('--batch-size must be >= 0 and --lr > 0')
        return quantile_demo(args)
    except DemoError as exc:
        print(f'micrograd.demo: error: {exc}', file=sys.stderr)
        return 2
    except MemoryError:
        print('micrograd.demo: error: out of memory; try fewer --rows',
              file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
