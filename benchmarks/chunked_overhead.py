"""What `chunked` costs per step beyond `compile`, on small batches.

    python benchmarks/chunked_overhead.py             # 2,000 steps each
    python benchmarks/chunked_overhead.py --steps 20000

A pinball loss on a 5-16-9 TensorMLP, fed 64 rows a step (one chunk) and
4,096 rows in chunks of 1,024 on 2 workers (several chunks): milliseconds
per forward + backward, compiled and chunked, best of 3 runs each,
interleaved so that both see the same machine.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import micrograd as mg
from micrograd import Value, losses, nn


def make(kind, rows):
    model = nn.TensorMLP(5, [16, 9], rng=0)
    x = Value(shape=(None, 5), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = losses.pinball(model(x), y, np.linspace(0.1, 0.9, 9))
    if kind == 'compiled':
        mg.compile(loss)
    else:
        mg.chunked(loss, rows=rows, workers=2)
    return loss


def run(loss, X, Y, steps):
    start = time.perf_counter()
    for _ in range(steps):
        loss.forward(x=X, y=Y)
        loss.backward()
    return (time.perf_counter() - start) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--steps', type=int, default=2000)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    for batch, rows in ((64, 1024), (4096, 1024)):
        X, Y = rng.standard_normal((batch, 5)), rng.standard_normal(batch)
        losses_ = {kind: make(kind, rows) for kind in ('compiled', 'chunked')}
        best = dict.fromkeys(losses_, float('inf'))
        steps = args.steps if batch <= rows else args.steps // 10
        for _ in range(3):
            for kind, loss in losses_.items():
                best[kind] = min(best[kind], run(loss, X, Y, steps))
        print(f'{batch:>6} rows ({-(-batch // rows)} chunk(s)): compiled '
              f"{best['compiled'] * 1e3:.3f} ms/step, chunked "
              f"{best['chunked'] * 1e3:.3f} ms/step "
              f"({best['chunked'] / best['compiled']:.2f}x)")


if __name__ == '__main__':
    main()
