"""Minibatches of row-aligned arrays.

    for xb, yb in batches(X, y, batch_size=256, shuffle=True, seed=0):
        loss.forward(x=xb, y=yb)
    for feeds in batches({'x': X, 'y': y}, batch_size=256):     # dicts
        loss.forward(**feeds)

Row i of every array stays together. `batches(...)` returns an iterable:
each pass over it is one epoch, and with `shuffle` each epoch draws a new
permutation from one seeded `numpy.random.Generator`, so the epochs differ
from each other and the whole sequence is the same from run to run.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Union

import numpy as np

from .engine import Value

Batch = Union[tuple, dict]


class Batches:
    """Minibatches of `batch_size` rows: a tuple of arrays (or a dict, when
    built from one) per batch. Iterate it once per epoch; `len()` is the
    number of batches in an epoch."""

    def __init__(self, arrays: list, names: list | None, batch_size: int,
                 shuffle: bool, rng: np.random.Generator, drop_last: bool):
        self.arrays, self.names, self.batch_size = arrays, names, batch_size
        self.shuffle, self.rng, self.drop_last = shuffle, rng, drop_last
        self.rows = arrays[0].shape[0]

    def __len__(self) -> int:
        full, partial = divmod(self.rows, self.batch_size)
        return full + (1 if partial and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Batch]:
        order = self.rng.permutation(self.rows) if self.shuffle else None
        for b in range(len(self)):
            start = b * self.batch_size
            rows = (slice(start, start + self.batch_size) if order is None
                    else order[start:start + self.batch_size])
            batch = tuple(a[rows] for a in self.arrays)   # slices are views
            yield dict(zip(self.names, batch)) if self.names else batch

    def __repr__(self):
        return (f'Batches({len(self.arrays)} arrays, {self.rows} rows, '
                f'batch_size={self.batch_size}, shuffle={self.shuffle}, '
                f'drop_last={self.drop_last})')


def batches(*arrays, batch_size: int | None = None, shuffle: bool = False,
            seed: int | np.random.Generator | None = None,
            drop_last: bool = False) -> Batches:
    """Row-aligned minibatches of `arrays` (each with rows on axis 0), or
    of one dict of name -> array (then each batch is a dict, ready for
    `loss.forward(**batch)`). batch_size comes by keyword or as the last
    positional argument: `batches(X, y, 8)`.

    Batch k holds rows [k * batch_size, (k + 1) * batch_size) of the epoch's
    order: the rows in turn, or a permutation drawn for each epoch when
    `shuffle` (from `seed`: an int, None for fresh entropy, or a Generator
    to share). The last, partial batch is kept unless `drop_last`.
    """
    if batch_size is None:
        if len(arrays) > 1 and isinstance(arrays[-1], (int, np.integer)) \
                and not isinstance(arrays[-1], bool):
            arrays, batch_size = arrays[:-1], arrays[-1]
        else:
            raise TypeError('batches: give batch_size, as batches(X, y, 8) '
                            'or batches(X, y, batch_size=8)')
    names = None
    if len(arrays) == 1 and isinstance(arrays[0], Mapping):
        names, arrays = list(arrays[0]), list(arrays[0].values())
        if not all(isinstance(n, str) for n in names):
            raise TypeError(f'batches: dict keys must be strings (placeholder '
                            f'names), got {names}')
    elif any(isinstance(a, Mapping) for a in arrays):
        raise TypeError('batches: give either arrays or one dict of them, '
                        'not both')
    if not arrays:
        raise ValueError('batches: give at least one array')
    if isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f'batches: batch_size must be a positive int, '
                         f'got {batch_size!r}')
    labels = names or [f'array {i}' for i in range(len(arrays))]
    arrays = [_rows_array(a, label) for a, label in zip(arrays, labels)]
    rows = [a.shape[0] for a in arrays]
    if len(set(rows)) > 1:
        counts = ', '.join(f'{label}: {n}' for label, n in zip(labels, rows))
        raise ValueError('batches: the arrays must have the same number of '
                         f'rows, got {counts}')
    return Batches(arrays, names, int(batch_size), bool(shuffle),
                   np.random.default_rng(seed), drop_last)


def _rows_array(a, label: str):
    """a as an array with at least one axis (lists become NumPy arrays)."""
    if isinstance(a, Value):
        raise TypeError(f'batches: {label} is a Value; pass its .data (or '
                        'the array it was made from)')
    if not hasattr(a, 'shape'):
        a = np.asarray(a)
    if len(a.shape) == 0:
        raise ValueError(f'batches: {label} is 0-d; every array needs rows '
                         '(axis 0)')
    return a
