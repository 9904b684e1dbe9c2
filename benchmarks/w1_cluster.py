"""W1 read from Parquet: one process `chunked` from memory against
`micrograd.distributed` on a LocalCluster of 1 and 2 workers.

    python benchmarks/w1_cluster.py                    # 200,000 rows
    python benchmarks/w1_cluster.py --rows 6000000     # the full W1: 2.4 GB

The rows are written once as a folder of Parquet files (62,500 rows each,
the numbers of workloads.w1_data) under --folder. Prints one JSON line per
setup: seconds per step (median after one warm-up step), peak memory of the
process (MiB; per worker on the cluster), tasks per step, and bytes moved
per step (parameters to the workers, gradient sums between them and back).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from workloads import QUANTILES, w1_params  # noqa: E402

BLOCK = 62_500                  # rows per Parquet file: a partition


def write_parquet(rows: int, folder: str, features: int = 100) -> str:
    """W1's rows (as workloads.w1_data makes them, in blocks of BLOCK rows:
    the same distribution), one file per block (skipped when the folder
    already holds them)."""
    import pandas as pd
    done = os.path.join(folder, f'w1-{rows}')
    if os.path.exists(os.path.join(done, '_complete')):
        return done
    os.makedirs(done, exist_ok=True)
    rng = np.random.default_rng(0)
    w = (rng.standard_normal(features) / 10).astype(np.float32)
    names = [f'x{i}' for i in range(features)]
    for k, start in enumerate(range(0, rows, BLOCK)):
        n = min(rows, start + BLOCK) - start
        X = rng.standard_normal((n, features), dtype=np.float32)
        noise = rng.standard_t(3, n).astype(np.float32)
        frame = pd.DataFrame(X, columns=names)
        frame['y'] = X @ w + (1 + np.abs(X[:, 0])) * noise
        frame.to_parquet(os.path.join(done, f'part-{k:05d}.parquet'))
    open(os.path.join(done, '_complete'), 'w').close()
    return done


def w1_graph():
    """W1's graph with W1's starting parameters: (loss, parameters)."""
    from micrograd import Value, losses
    params = [Value(p, dtype='float32') for p in w1_params()]
    W1, b1, W2, b2 = params
    x = Value(shape=(None, 100), name='x', dtype='float32',
              requires_grad=False)
    t = Value(shape=(None,), name='y', dtype='float32', requires_grad=False)
    return losses.pinball((x @ W1 + b1).relu() @ W2 + b2, t, QUANTILES), \
        params


def timed(step, steps: int) -> float:
    step()                                   # warm-up: code written, data in
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_process(folder: str, steps: int) -> dict:
    import pandas as pd
    from micrograd import chunked
    from micrograd.optim import Adam
    frame = pd.read_parquet(folder)
    X = frame[[f'x{i}' for i in range(100)]].to_numpy(np.float32)
    y = frame['y'].to_numpy(np.float32)
    del frame
    loss, params = w1_graph()
    chunked(loss, rows=None, workers=2)
    opt = Adam(params, learning_rate=0.01)

    def step():
        loss.forward(x=X, y=y)
        opt.step()
    seconds = timed(step, steps)
    return {'setup': 'one process, chunked, 2 threads, from memory',
            's_per_step': round(seconds, 4),
            'peak_mib': round(_peak()),
            'tasks_per_step': 0, 'bytes_per_step': 0,
            'loss': float(loss.data)}


def _moved(dask_worker=None):
    """Bytes this worker sent to other workers so far."""
    return getattr(dask_worker, 'transfer_outgoing_bytes_total', 0)


def _peak():
    """This process's peak resident memory, MiB (VmHWM: unlike ru_maxrss it
    does not carry over the parent's peak into a spawned worker)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def on_cluster(folder: str, steps: int, workers: int) -> dict:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster
    from micrograd.distributed import data_parallel, release, stats
    from micrograd.optim import Adam
    threads = max(1, 2 // workers)          # two cores in all
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                           processes=True, host='127.0.0.1',
                           dashboard_address=None)
    client = Client(cluster)
    try:
        frame = dd.read_parquet(folder)
        loss, params = data_parallel(
            w1_graph, {'x': frame[[f'x{i}' for i in range(100)]],
                       'y': frame['y']}, client, threads=threads)
        opt = Adam(params, learning_rate=0.01)

        def step():
            loss.forward()
            opt.step()
        before = sum(client.run(_moved).values())
        seconds = timed(step, steps)
        between = (sum(client.run(_moved).values()) - before) / (steps + 1)
        info = stats(loss)
        # the parameters go to each worker; one sum comes back to the client
        sent = info['parameter bytes'] * (workers + 1)
        kept = 'persisted' if info['persisted'] else 'streamed'
        result = {'setup': f'LocalCluster, {workers} worker(s) x {threads} '
                           f"thread(s), {info['partitions']} partitions, "
                           f'{kept}',
                  's_per_step': round(seconds, 4),
                  'peak_mib_per_worker': [round(v) for v in
                                          client.run(_peak).values()],
                  'tasks_per_step': info['tasks'],
                  'bytes_per_step': round(sent + between),
                  'loss': float(loss.data)}
        release(loss)
        return result
    finally:
        client.close()
        cluster.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', type=int, default=200_000)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--workers', default='1,2')
    p.add_argument('--folder', default=os.path.join(tempfile.gettempdir(),
                                                    'micrograd-w1'))
    p.add_argument('--quick', action='store_true',
                   help='20,000 rows, 2 steps, 2 workers (CI)')
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.steps, args.workers = 20_000, 2, '2'
    folder = write_parquet(args.rows, args.folder)
    print(json.dumps({'rows': args.rows, **one_process(folder, args.steps)}),
          flush=True)
    for n in (int(w) for w in args.workers.split(',')):
        print(json.dumps({'rows': args.rows, **on_cluster(folder, args.steps,
                                                          n)}), flush=True)


if __name__ == '__main__':
    main()
