"""Metrics: numbers to read off predictions, without gradients.

    from micrograd.metrics import accuracy, argmax, pinball_loss, coverage
    accuracy(model(Value(X_test)), y_test)          # logits and labels
    pinball_loss(pred, y, quantiles)                # one loss per quantile
    coverage(pred, y)                               # share of y below each

Each takes Values or arrays (a Value's `.data` is read) and returns NumPy
arrays or floats; nothing here enters a graph. `one_hot` is the graph op
`micrograd.one_hot`, re-exported here.
"""
from __future__ import annotations

import numpy as np

from .backend import to_host
from .engine import Value
from .ops import one_hot  # noqa: F401  (re-exported: labels as one-hot rows)

__all__ = ['argmax', 'argmin', 'one_hot', 'accuracy', 'pinball_loss',
           'coverage']


def _array(x, what: str) -> np.ndarray:
    """x (a Value, an array of any backend, a list) as a NumPy array."""
    if isinstance(x, Value):
        x = x.data
    try:
        return to_host(x)
    except Exception as exc:
        raise TypeError(f'{what} must be an array or a Value, got '
                        f'{type(x).__name__}') from exc


def argmax(x, axis: int = -1) -> np.ndarray:
    """The index of the largest value along `axis` (the first one at ties);
    no gradient."""
    return np.argmax(_array(x, 'argmax: x'), axis=axis)


def argmin(x, axis: int = -1) -> np.ndarray:
    """The index of the smallest value along `axis` (the first at ties)."""
    return np.argmin(_array(x, 'argmin: x'), axis=axis)


def accuracy(scores, labels) -> float:
    """The share of rows whose largest score (logit or probability, (N, C))
    is at the label's class (labels (N,) whole numbers in [0, C))."""
    scores, labels = _array(scores, 'accuracy: scores'), _array(
        labels, 'accuracy: labels')
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f'accuracy: scores must be (N, C) and labels (N,), '
                         f'got {scores.shape} and {labels.shape}')
    if scores.shape[0] == 0:
        raise ValueError('accuracy: no rows')
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def _quantile_pair(name, pred, y):
    pred, y = _array(pred, f'{name}: pred'), _array(y, f'{name}: y')
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if pred.ndim != 2 or y.shape != pred.shape[:1]:
        raise ValueError(f'{name}: pred must be (N, Q) and y (N,), got '
                         f'{pred.shape} and {y.shape}')
    return pred, y[:, None]


def pinball_loss(pred, y, quantiles) -> np.ndarray:
    """Per quantile (column of pred (N, Q)), the mean pinball loss
    max(tau r, (tau - 1) r), r = y - pred: a (Q,) array whose mean is
    `losses.pinball`'s value."""
    pred, y = _quantile_pair('pinball_loss', pred, y)
    taus = np.asarray(quantiles, dtype=np.float64)
    if taus.shape != pred.shape[1:]:
        raise ValueError(f'pinball_loss: {taus.size} quantiles for pred of '
                         f'shape {pred.shape}')
    r = y - pred
    return np.mean(np.maximum(taus * r, (taus - 1) * r), axis=0)


def coverage(pred, y) -> np.ndarray:
    """Per quantile (column of pred (N, Q)), the share of rows whose y is
    below the prediction: about tau for a calibrated tau-quantile."""
    pred, y = _quantile_pair('coverage', pred, y)
    return np.mean(y < pred, axis=0)
