"""Training steps on each backend: seconds per step, and on Dask the
computes per step and the size of the parameters' task graphs.

    python benchmarks/backend_steps.py                # 20 steps, 40,000 rows
    python benchmarks/backend_steps.py --rows 200000 --steps 50

W1's model (10-32-9 MLP here, pinball loss, Adam, float64) on the same rows
fed as NumPy arrays, PyTorch CPU tensors and Dask arrays (4 chunks of rows),
interpreted and compiled. Per backend: the median seconds per step (forward,
backward, optimiser step) after one warm-up step, the final loss (equal
across backends), and on Dask the computes in backward and in the
optimiser step, and the tasks in the first parameter's graph at step 1 and
at the last step (equal: no step chains into the next).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import micrograd as mg
from micrograd import Value, losses, nn
from micrograd.backend import resolve_backend, to_host
from micrograd.optim import Adam


def run(backend, compiled, X, y, steps):
    bk = resolve_backend(backend)
    model = nn.TensorMLP(X.shape[1], [32, 9], rng=0, backend=bk)
    x = Value(shape=(None, X.shape[1]), name='x', requires_grad=False,
              backend=bk)
    t = Value(shape=(None,), name='y', requires_grad=False, backend=bk)
    loss = losses.pinball(model(x), t, np.linspace(0.1, 0.9, 9))
    if compiled:
        mg.compile(loss)
    opt = Adam(model.parameters(), learning_rate=0.01)
    if backend == 'dask':
        import dask.array as da
        feeds = {'x': da.from_array(X, chunks=(len(X) // 4, -1)),
                 'y': da.from_array(y, chunks=len(y) // 4)}
        from dask.callbacks import Callback

        class Computes(Callback):
            count = 0

            def _start(self, dsk):
                Computes.count += 1
        counter = Computes()
    else:
        feeds = {'x': bk.asarray(X), 'y': bk.asarray(y)}
        counter = None
    times, computes, tasks = [], [], []
    for step in range(steps + 1):
        start = time.perf_counter()
        if counter is not None:
            counter.register()
            before = Computes.count
        loss.forward(**feeds)
        loss.backward()
        middle = Computes.count if counter is not None else 0
        opt.step()
        if counter is not None:
            counter.unregister()
            computes.append((middle - before, Computes.count - middle))
            tasks.append(len(model.parameters()[0].data.dask))
        if step:
            times.append(time.perf_counter() - start)
    return (statistics.median(times), float(to_host(loss.data)), computes,
            tasks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=40_000)
    parser.add_argument('--steps', type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 10))
    y = X @ rng.standard_normal(10) / 10 + rng.standard_normal(args.rows)
    print(f'{args.rows} rows, {args.steps} steps (machine load: see uptime)')
    print('| backend | graph | s/step | final loss | computes (backward, '
          'step) | param tasks step 1 / last |')
    print('|---|---|---|---|---|---|')
    for backend in ('numpy', 'torch', 'dask'):
        for compiled in (False, True):
            try:
                s, final, computes, tasks = run(backend, compiled, X, y,
                                                args.steps)
            except ImportError as exc:
                print(f'| {backend} | - | not installed ({exc}) | | | |')
                break
            counts = (f'{computes[1]} every step' if computes and
                      len(set(computes[1:])) == 1 else
                      str(sorted(set(computes))) if computes else '-')
            sizes = f'{tasks[1]} / {tasks[-1]}' if tasks else '-'
            print(f"| {backend} | {'compiled' if compiled else 'interpreted'}"
                  f' | {s:.4f} | {final:.10f} | {counts} | {sizes} |')


if __name__ == '__main__':
    main()
