"""The demo on a Dask cluster: `--dask local:N` or `--dask tcp://host:8786`,
and a Parquet dataset whose training rows stay on the workers."""
from __future__ import annotations

import numpy as np

from .files import DemoError, frame_array, parquet_columns


def connect(address: str):
    """A dask.distributed Client: on a new LocalCluster of N worker
    processes (one thread each) for 'local:N', else on the scheduler at
    `address`. Closing the client closes the local cluster too."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DemoError('--dask needs dask.distributed (pip install '
                        '"micrograd[distributed]")') from None
    if address.startswith('local:'):
        count = address[len('local:'):]
        if not count.isdigit() or int(count) < 1:
            raise DemoError(f'--dask {address}: give local:N with N workers '
                            '(a whole number, at least 1)')
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1,
                               processes=True, host='127.0.0.1',
                               dashboard_address=':0')
        client = Client(cluster)
        client.close_cluster = cluster
        return client
    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DemoError(f'--dask {address}: cannot reach a Dask scheduler '
                        f'there ({exc})') from None


def close(client) -> None:
    client.close()
    cluster = getattr(client, 'close_cluster', None)
    if cluster is not None:
        cluster.close()


def parquet_rows(client, path: str, target: str, dtype, validation: float,
                 seed: int):
    """A Parquet dataset split at random (seeded) into fitted rows, which
    stay on the cluster, and validation and held-out rows, brought to the
    client. Returns (names, fitted: {'x': frame, 'y': series}, standardised,
    lazily; n_fit, (Xv, yv) and (Xh, yh) as arrays, (mu, sd, ym, ys))."""
    import dask.dataframe as dd
    try:
        frame = dd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DemoError(f'{path}: cannot read it as Parquet: {exc}') from None
    names = parquet_columns(path, frame.dtypes, target)
    shares = [0.8 * (1 - validation), 0.8 * validation, 0.2]
    fitted, val, held = frame.random_split(shares, random_state=seed)
    fitted = fitted.astype('float64')
    rows, count, mean, var, low, high, val, held = client.compute(
        [fitted.map_partitions(len).sum(), fitted.count(), fitted.mean(),
         fitted.var(ddof=0), fitted.min(), fitted.max(), val, held], sync=True)
    bad = [c for c in count.index if count[c] != rows or
           not np.isfinite([low[c], high[c]]).all()]
    if bad:
        raise DemoError(f"{path}: column '{bad[0]}' has cells that are not "
                        'finite numbers (empty, nan or inf)')
    n_fit = int(rows)
    if n_fit < 1 or len(held) < 1 or (validation and len(val) < 1):
        raise DemoError(f'too few rows in {path} to hold out a test set and '
                        f'a validation split of {validation}')
    mu = mean[names].to_numpy()
    sd = np.sqrt(var[names].to_numpy()) + 1e-8
    ym, ys = float(mean[target]), float(np.sqrt(var[target])) + 1e-8
    train = {'x': (fitted[names] - mu) / sd,
             'y': (fitted[target] - ym) / ys}

    def arrays(part):
        X = (frame_array(path, part[names], np.float64) - mu) / sd
        return X.astype(dtype), frame_array(path, part[[target]], dtype)[:, 0]
    return names, train, n_fit, arrays(val), arrays(held), (mu, sd, ym, ys)
