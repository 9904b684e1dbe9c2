"""Minibatches: `for xb, yb in batches(X, y, batch_size=256, shuffle=True)`."""
from __future__ import annotations

import numpy as np


def batches(*arrays, batch_size: int, shuffle: bool = False, seed=None,
            drop_last: bool = False):
    """One pass over row-aligned arrays in minibatches of `batch_size` rows.

    Yields tuples of arrays (or dicts, given one dict of name -> array, ready
    for `loss.forward(**batch)`). `shuffle` draws a permutation from `seed`
    (an int, or a numpy Generator that advances from pass to pass); the last
    partial batch is kept unless `drop_last`.
    """
    names = None
    if len(arrays) == 1 and isinstance(arrays[0], dict):
        names, arrays = list(arrays[0]), list(arrays[0].values())
    if not arrays:
        raise ValueError('batches: give at least one array')
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f'batches: batch_size must be a positive int, '
                         f'got {batch_size!r}')
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(f'batches: arrays have different numbers of rows: '
                         f'{lengths}')
    n = lengths[0]
    order = (np.random.default_rng(seed).permutation(n) if shuffle else None)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        rows = (slice(start, start + batch_size) if order is None
                else order[start:start + batch_size])
        chunk = tuple(a[rows] for a in arrays)
        yield dict(zip(names, chunk)) if names else chunk
