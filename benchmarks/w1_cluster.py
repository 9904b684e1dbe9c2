"""W1 read from Parquet: one process `chunked` from memory, against
`micrograd.distributed` on a LocalCluster of 1 and 2 workers, against
PyTorch DistributedDataParallel (gloo, 2 processes on loopback).

    python benchmarks/w1_cluster.py                   # the full W1: 6M rows, 2.4 GB
    python benchmarks/w1_cluster.py --rows 500000     # smaller
    python benchmarks/w1_cluster.py --quick           # 20,000 rows (CI)

The rows (the numbers of workloads.w1_data, in blocks of 62,500 rows) are
written once as a folder of Parquet files, one file per block, under
--folder (kept and reused). Each setup runs in a process of its own, the
same model (W1's 100-32-9 quantile MLP, mean pinball loss, Adam, float32,
W1's starting parameters) on all the rows at every step (a full-batch
gradient):

- one process: `chunked` (2 threads) on the rows in memory, with
  `keep_freed_memory` (as the Performance section runs W1);
- LocalCluster of 1 worker x 2 threads and of 2 workers x 1 thread:
  `data_parallel` on `dd.read_parquet(folder)`, persisted on the workers
  (`cluster2-quiet`: 2 workers without Dask's statistical profiler);
- DDP: 2 processes, 1 torch thread each, each holding half the rows; a
  step runs forward and backward on its rows in chunks of --ddp-rows rows
  (the gradients added up under `no_sync`, all-reduced after the last
  chunk), then Adam.

Prints one JSON line per setup: seconds per step (median after one warm-up
step), CPU seconds per timed step of all its processes (client, scheduler
and workers; on a loaded machine the wall time grows, this less), peak
resident memory per process (VmHWM, MiB), tasks per step, bytes moved per
step, and the final loss; first and last a line with the machine's load.
For the workers also, each: the memory of the libraries alone (before any
data), of the partitions it holds, and its peak during the timed steps.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import QUANTILES, w1_params  # noqa: E402

BLOCK = 62_500                  # rows per Parquet file: a partition
FEATURES = [f'x{i}' for i in range(100)]


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


def parquet_files(folder: str) -> list:
    return sorted(glob.glob(os.path.join(folder, '*.parquet')))


def read_rows(files: list, part: int = 0, parts: int = 1):
    """X (rows, 100) and y (rows,) float32: all the rows of these files, or
    the part-th of `parts` equal runs of them; filled file by file (the
    peak is the rows plus one file)."""
    import pyarrow.parquet as pq
    counts = [pq.ParquetFile(f).metadata.num_rows for f in files]
    total = sum(counts)
    start, stop = total * part // parts, total * (part + 1) // parts
    X = np.empty((stop - start, len(FEATURES)), np.float32)
    y = np.empty(stop - start, np.float32)
    first = 0                       # the file's first row in all the rows
    for f, n in zip(files, counts):
        a, b = max(start, first), min(stop, first + n)
        if a < b:
            frame = pq.read_table(f).to_pandas().iloc[a - first:b - first]
            X[a - start:b - start] = frame[FEATURES].to_numpy(np.float32)
            y[a - start:b - start] = frame['y'].to_numpy(np.float32)
        first += n
    return X, y


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


def timed(step, steps: int, then=None) -> float:
    """The median seconds of `steps` calls of step(), after one warm-up
    call (code written, data in), then `then()` if given."""
    step()
    if then is not None:
        then()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _status_mib(field: str) -> float:
    """A memory line of /proc/self/status (e.g. 'VmRSS'), MiB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    return float('nan')


def _peak(dask_worker=None) -> float:
    """This process's peak resident memory, MiB (VmHWM: unlike ru_maxrss it
    does not carry over the parent's peak into a spawned worker)."""
    return _status_mib('VmHWM')


def _rss(dask_worker=None) -> float:
    """This process's resident memory now, MiB."""
    return _status_mib('VmRSS')


def _reset_peak(dask_worker=None) -> None:
    """Start VmHWM again from the present resident memory (Linux)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def _libraries(dask_worker=None) -> float:
    """Import what a worker's steps use; then its resident memory, MiB."""
    import dask.dataframe  # noqa: F401
    import pyarrow  # noqa: F401
    import micrograd  # noqa: F401
    import micrograd.distributed  # noqa: F401
    return _rss()


def _held(dask_worker) -> float:
    """MiB of the data this worker holds (its partitions)."""
    from dask.sizeof import sizeof
    return sum(sizeof(v) for v in dask_worker.data.values()) / 2**20


def _cpu(dask_worker=None) -> float:
    """CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _moved(dask_worker=None) -> int:
    """Bytes this worker sent to other workers so far."""
    return getattr(dask_worker, 'transfer_outgoing_bytes_total', 0)


# ------------------------------------------------------------- the setups

def one_process(folder: str, steps: int, **_) -> dict:
    from micrograd import chunked, keep_freed_memory
    from micrograd.optim import Adam
    X, y = read_rows(parquet_files(folder))
    loss, params = w1_graph()
    chunked(loss, rows=None, workers=2)
    opt = Adam(params, learning_rate=0.01)

    def step():
        loss.forward(x=X, y=y)
        opt.step()
    start = {}
    with keep_freed_memory():
        seconds = timed(step, steps, lambda: start.update(cpu=_cpu()))
        cpu = (_cpu() - start['cpu']) / steps
    return {'setup': 'one process, chunked, 2 threads, rows in memory',
            's_per_step': round(seconds, 4), 'cpu_s_per_step': round(cpu, 3),
            'peak_mib': [round(_peak())], 'tasks_per_step': 0,
            'bytes_per_step': 0, 'loss': float(loss.data)}


def on_cluster(folder: str, steps: int, workers: int, quiet=False,
               **_) -> dict:
    """data_parallel on a LocalCluster; quiet: without the workers'
    statistical profiler (Dask samples each worker's threads every 10 ms
    by default)."""
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster
    from micrograd.distributed import data_parallel, release, stats
    from micrograd.optim import Adam
    threads = max(1, 2 // workers)          # two cores in all
    if quiet:
        dask.config.set({'distributed.worker.profile.enabled': False})
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                           processes=True, host='127.0.0.1',
                           dashboard_address=None)
    client = Client(cluster)
    try:
        base = client.run(_libraries)       # a worker before any data
        frame = dd.read_parquet(folder)
        loss, params = data_parallel(
            w1_graph, {'x': frame[FEATURES], 'y': frame['y']}, client,
            threads=threads, persist=True)
        opt = Adam(params, learning_rate=0.01)

        def step():
            loss.forward()
            opt.step()
        start = {}

        def counters():             # after the warm-up (graphs built)
            start['moved'] = sum(client.run(_moved).values())
            start['cpu'] = _cpu() + sum(client.run(_cpu).values())
            start['peak'] = client.run(_peak)   # reading the Parquet files
            client.run(_reset_peak)             # from here: the steps'
            start['held'] = client.run(_held)
        seconds = timed(step, steps, counters)
        cpu = (_cpu() + sum(client.run(_cpu).values()) - start['cpu']) / steps
        between = (sum(client.run(_moved).values()) - start['moved']) / steps
        info = stats(loss)
        # the parameters go out with the tasks; one sum comes back to the
        # client; the workers send each other partial sums
        sent = info['parameter bytes sent'] + info['parameter bytes']
        result = {'setup': f'LocalCluster, {workers} worker(s) x {threads} '
                           f"thread(s), {info['partitions']} partitions, "
                           'persisted' + (', no profiler' if quiet else ''),
                  's_per_step': round(seconds, 4),
                  'cpu_s_per_step': round(cpu, 3),
                  'peak_mib': [round(max(v, start['peak'][w]))
                               for w, v in client.run(_peak).items()],
                  # per worker: libraries alone, partitions held, and the
                  # peak during the timed steps
                  'libraries_mib': [round(v) for v in base.values()],
                  'partitions_mib': [round(start['held'].get(w, 0))
                                     for w in base],
                  'steps_peak_mib': [round(v) for v in
                                     client.run(_peak).values()],
                  'tasks_per_step': info['tasks'],
                  'bytes_per_step': round(sent + between),
                  'loss': float(loss.data)}
        release(loss)
        return result
    finally:
        client.close()
        cluster.close()


def ddp(folder: str, steps: int, ddp_rows: int, world: int = 2, **_) -> dict:
    """PyTorch DistributedDataParallel on `world` processes (gloo)."""
    import torch.multiprocessing as mp
    with socket.socket() as s:                  # a free port on loopback
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        mp.start_processes(_ddp_rank, args=(world, folder, steps, ddp_rows,
                                            port, out),
                           nprocs=world, join=True, start_method='spawn')
        ranks = []
        for rank in range(world):
            with open(os.path.join(out, f'{rank}.json')) as f:
                ranks.append(json.load(f))
    gradient_bytes = ranks[0]['gradient_bytes']
    return {'setup': f'PyTorch DDP, gloo, {world} processes x 1 thread, '
                     f'{ddp_rows or "all"}-row chunks',
            's_per_step': ranks[0]['s_per_step'],
            'cpu_s_per_step': round(sum(r['cpu'] for r in ranks) / steps,
                                    3),
            'peak_mib': [r['peak_mib'] for r in ranks],
            'tasks_per_step': 0,
            # a ring all-reduce: each process sends and receives the
            # gradients' size once, about
            'bytes_per_step': gradient_bytes * world,
            'loss': ranks[0]['loss']}


def _ddp_rank(rank, world, folder, steps, chunk, port, out):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        X, y = read_rows(parquet_files(folder), rank, world)   # its half
        total = torch.tensor([len(X)])
        dist.all_reduce(total)                  # all the processes' rows
        total = int(total[0])
        X, y = torch.from_numpy(X), torch.from_numpy(y)
        model = DistributedDataParallel(QuantileMLP())
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        rows = chunk or len(X)
        bounds = [(a, min(len(X), a + rows)) for a in range(0, len(X), rows)]
        # DDP averages the processes' gradients: each adds its rows' losses
        # times world / (all rows x quantiles), so the average is the mean
        # over all rows, the full-batch gradient
        scale = world / (total * len(QUANTILES))
        box = {}

        def step():
            opt.zero_grad(set_to_none=True)
            local = 0.0
            for k, (a, b) in enumerate(bounds):
                last = k == len(bounds) - 1
                with (contextlib.nullcontext() if last else model.no_sync()):
                    loss = model(X[a:b], y[a:b]) * scale
                    loss.backward()
                local += loss.item()
            box['local'] = local / world
            opt.step()
        start = {}
        seconds = timed(step, steps, lambda: start.update(cpu=_cpu()))
        cpu = _cpu() - start['cpu']
        loss = torch.tensor([box['local']], dtype=torch.float64)
        dist.all_reduce(loss)
        with open(os.path.join(out, f'{rank}.json'), 'w') as f:
            json.dump({'s_per_step': round(seconds, 4), 'cpu': cpu,
                       'peak_mib': round(_peak()), 'loss': float(loss[0]),
                       'gradient_bytes': sum(p.numel() * p.element_size()
                                             for p in model.parameters())},
                      f)
    finally:
        dist.destroy_process_group()


def QuantileMLP():
    """W1's model and loss in PyTorch: relu(x W1 + b1) W2 + b2 from W1's
    starting parameters; forward(x, y) is the sum of the pinball losses of
    its rows and quantiles."""
    import torch

    class QuantileMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.params = torch.nn.ParameterList(
                [torch.nn.Parameter(torch.from_numpy(p))
                 for p in w1_params()])
            self.register_buffer('tau', torch.tensor(QUANTILES,
                                                     dtype=torch.float32))

        def forward(self, x, y):
            W1, b1, W2, b2 = self.params
            r = y[:, None] - (torch.relu(x @ W1 + b1) @ W2 + b2)
            tau = self.tau
            return torch.sum(tau * torch.relu(r) + (1 - tau) * torch.relu(-r))
    return QuantileMLP()


SETUPS = {'one': one_process, 'cluster1': on_cluster, 'cluster2': on_cluster,
          'cluster2-quiet': on_cluster, 'ddp': ddp}


def run_setup(name: str, folder: str, args) -> dict:
    """One setup, in a process of its own (its memory and its malloc
    apart from the others'); returns its JSON line."""
    command = [sys.executable, os.path.abspath(__file__), '--setup', name,
               '--folder-of-rows', folder, '--steps', str(args.steps),
               '--ddp-rows', str(args.ddp_rows)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {'setup': name, 'error': done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> dict:
    with open('/proc/loadavg') as f:
        one, five, fifteen = f.read().split()[:3]
    return {'load_average_1_5_15_min': [float(one), float(five),
                                        float(fifteen)],
            'cores': os.cpu_count()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', type=int, default=6_000_000)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--setups', default='one,cluster1,cluster2,ddp',
                   help='which, in this order: one, cluster1, cluster2, '
                        'cluster2-quiet (no Dask profiler), ddp')
    p.add_argument('--rounds', type=int, default=1,
                   help='run the setups this many times, in turn')
    p.add_argument('--ddp-rows', type=int, default=65_536,
                   help="DDP's rows per chunk (0: all of a process's rows)")
    p.add_argument('--folder', default=os.path.join(tempfile.gettempdir(),
                                                    'micrograd-w1'),
                   help='where the Parquet folders are kept')
    p.add_argument('--quick', action='store_true',
                   help='20,000 rows, 2 steps (CI)')
    p.add_argument('--setup', help=argparse.SUPPRESS)
    p.add_argument('--folder-of-rows', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.setup:                              # a child: one setup
        fn = SETUPS[args.setup]
        workers = 2 if args.setup.startswith('cluster2') else 1
        result = fn(args.folder_of_rows, args.steps, workers=workers,
                    ddp_rows=args.ddp_rows, quiet='quiet' in args.setup)
        print(json.dumps(result), flush=True)
        return
    if args.quick:
        args.rows, args.steps = 20_000, 2
    setups = args.setups.split(',')
    unknown = sorted(set(setups) - set(SETUPS))
    if unknown:
        p.error(f'unknown setups {unknown}; choose from {sorted(SETUPS)}')
    if 'ddp' in setups:
        try:
            import torch  # noqa: F401
        except ImportError:
            print(json.dumps({'setup': 'ddp', 'skipped': 'torch is not '
                              'installed'}), flush=True)
            setups.remove('ddp')
    folder = write_parquet(args.rows, args.folder)
    print(json.dumps({'rows': args.rows, 'steps': args.steps, **load()}),
          flush=True)
    for _ in range(args.rounds):
        for name in setups:
            print(json.dumps({'rows': args.rows,
                              **run_setup(name, folder, args)}), flush=True)
    print(json.dumps(load()), flush=True)


if __name__ == '__main__':
    main()
