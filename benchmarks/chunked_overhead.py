"""What `chunked` costs per step against `compile`, by batch size.

    python benchmarks/chunked_overhead.py                 # default sizes
    python benchmarks/chunked_overhead.py --sizes 128,65536 --steps 4000

A pinball loss on a 5-16-9 TensorMLP; one training step is forward +
backward. For each batch size: milliseconds per step compiled and chunked
(the default chunk size, `rows=None`: 8,192 rows here, or `--rows`; 2
workers), best of
5 turns each, interleaved so that both see the same machine, and the
minor page faults per step. A batch of at most one chunk runs as compile
runs it; above that, the chunks run on the workers' threads.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import micrograd as mg
from micrograd import Value, losses, nn

SIZES = (64, 128, 1024, 8192, 16384, 65536, 262144)


def make(kind, rows=None, workers=2):
    model = nn.TensorMLP(5, [16, 9], rng=0)
    x = Value(shape=(None, 5), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = losses.pinball(model(x), y, np.linspace(0.1, 0.9, 9))
    if kind == 'compiled':
        mg.compile(loss)
    else:
        mg.chunked(loss, rows=rows, workers=workers)
    return loss


def run(loss, X, Y, steps):
    """(seconds, minor page faults) per step."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    for _ in range(steps):
        loss.forward(x=X, y=Y)
        loss.backward()
    return ((time.perf_counter() - start) / steps,
            (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
            / steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--steps', type=int, default=2000,
                   help='steps a turn at 128 rows (fewer for larger batches)')
    p.add_argument('--sizes', default=','.join(map(str, SIZES)))
    p.add_argument('--turns', type=int, default=5)
    p.add_argument('--rows', type=int, default=None,
                   help="chunked's rows (default: None, its own choice)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'rows':>8} {'chunks':>6} {'compiled ms':>12} {'chunked ms':>11}"
          f" {'ratio':>6} {'faults/step':>16}")
    for batch in map(int, args.sizes.split(',')):
        X, Y = rng.standard_normal((batch, 5)), rng.standard_normal(batch)
        losses_ = {kind: make(kind, args.rows)
                   for kind in ('compiled', 'chunked')}
        steps = max(3, args.steps * 128 // max(batch, 128))
        best = {kind: (float('inf'), 0.0) for kind in losses_}
        for loss in losses_.values():
            run(loss, X, Y, 2)                      # warm-up: writes code
        for _ in range(args.turns):
            for kind, loss in losses_.items():
                best[kind] = min(best[kind], run(loss, X, Y, steps))
        (c, cf), (k, kf) = best['compiled'], best['chunked']
        rows = losses_['chunked'].executor.rows
        chunks = -(-batch // rows)
        chunks = 1 if chunks <= 1 else -(-chunks // 2) * 2
        print(f'{batch:>8} {chunks:>6} {c * 1e3:>12.3f} {k * 1e3:>11.3f} '
              f'{k / c:>5.2f}x {cf:>7.0f} / {kf:<7.0f}')


if __name__ == '__main__':
    main()
