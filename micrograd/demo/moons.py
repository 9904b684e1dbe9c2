"""The original demo: a 2-16-16-1 MLP separating two moons."""
from __future__ import annotations

import os
import sys

import numpy as np

from .. import nn
from ..engine import Value
from ..losses import hinge
from ..optim import SGD
from ..train import fit
from .files import DemoError, check_file, check_folder
from .plots import plot_moons


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
    plot_path = check_file(os.path.join(check_folder(args.out), 'moons.png'))
    X, y = make_moons(100, 0.1, args.seed)
    model = nn.TensorMLP(2, [16, 16, 1], rng=args.seed)
    x = Value(X, requires_grad=False)
    scores = model(x).reshape(-1)
    l2 = sum((p * p).sum() for p in model.parameters())
    loss = hinge(scores, y) + 1e-4 * l2
    optimiser = SGD(wrt=model.parameters(), learning_rate=args.lr)
    print(f'two moons: MLP 2-16-16-1, hinge loss + 1e-4 L2, SGD lr {args.lr}, '
          f'{args.steps} steps', flush=True)
    history = fit(loss, optimiser, [{}], steps=args.steps, on_interrupt='stop')
    if history.stopped == 'loss not finite':
        raise DemoError(f'the loss became {history.loss[-1]} at step '
                        f'{history.steps} (try a smaller --lr)')
    scores.forward()
    accuracy = np.mean((np.asarray(scores.data) > 0) == (y > 0))
    print(f'accuracy {accuracy:.1%}')
    plot_moons(plot_path, model, X, y)
    if history.stopped == 'interrupted':
        print(f'micrograd.demo: interrupted at step {history.steps}',
              file=sys.stderr)
        return 130
    return 0
