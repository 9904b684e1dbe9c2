"""Losses, built from micrograd ops (so the engine differentiates them).

Each returns a 0-d Value, the mean over the rows. Targets and labels may be
arrays or Values (placeholders).
"""
from __future__ import annotations

from . import ops
from .engine import Value, constant


def _as_value(y, like: Value) -> Value:
    return y if isinstance(y, Value) else constant(y, like)


def pinball(pred: Value, y, quantiles) -> Value:
    """Mean quantile (pinball) loss: with r = y - pred,
    mean(tau * relu(r) + (1 - tau) * relu(-r)) over rows and quantiles.
    pred (N, Q); y (N,) or (N, 1); quantiles Q numbers in (0, 1)."""
    taus = [float(q) for q in quantiles]
    if not all(0 < q < 1 for q in taus):
        raise ValueError(f'pinball: quantiles must lie in (0, 1), got {taus}')
    if pred.ndim != 2 or pred.shape[1] != len(taus):
        raise ValueError(f'pinball: pred has shape {pred.shape}, expected '
                         f'(N, {len(taus)}) for {len(taus)} quantiles')
    y = _as_value(y, pred)
    if y.ndim == 1:
        y = ops.expand_dims(y, -1)
    if y.ndim != 2 or y.shape[1] != 1:
        raise ValueError(f'pinball: y has shape {y.shape}, expected (N,) '
                         'or (N, 1)')
    tau = constant(pred.bk.asarray(taus), pred)
    r = y - pred
    return (tau * ops.relu(r) + (1 - tau) * ops.relu(-r)).mean()


def mse(pred: Value, y) -> Value:
    """Mean squared error: mean((pred - y) ** 2)."""
    d = pred - _as_value(y, pred)
    return (d * d).mean()


def hinge(scores: Value, labels) -> Value:
    """Mean hinge (max-margin) loss, labels in {-1, +1}:
    mean(relu(1 - labels * scores))."""
    return ops.relu(1 - _as_value(labels, scores) * scores).mean()


def binary_cross_entropy_with_logits(logits: Value, targets) -> Value:
    """Mean of -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), computed
    stably as relu(x) - x t + log1p(exp(-|x|)); targets in [0, 1]."""
    t = _as_value(targets, logits)
    return (ops.relu(logits) - logits * t +
            ops.log1p(ops.exp(-ops.abs(logits)))).mean()


def cross_entropy(logits: Value, labels) -> Value:
    """Mean of -log softmax(logits)[label]: logits (N, C), integer labels
    (N,) in [0, C)."""
    if logits.ndim != 2:
        raise ValueError(f'cross_entropy: logits has shape {logits.shape}, '
                         'expected (N, C)')
    xp = logits.bk
    labels = xp.asarray(labels.data if isinstance(labels, Value) else labels)
    if tuple(labels.shape) != (logits.shape[0],):
        raise ValueError(f'cross_entropy: labels have shape '
                         f'{tuple(labels.shape)}, expected ({logits.shape[0]},)')
    classes = xp.arange(logits.shape[1])
    onehot = constant(xp.astype(labels[:, None] == classes[None, :],
                                logits.dtype), logits)
    return -(ops.log_softmax(logits, axis=-1) * onehot).sum(axis=-1).mean()
