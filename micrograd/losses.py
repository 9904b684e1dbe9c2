"""Losses, built only from micrograd ops (so the engine differentiates them).

    loss = pinball(model(x), y, quantiles=(0.1, 0.5, 0.9))
    loss.backward()

Each returns a 0-d Value: the mean over rows (and columns). Targets and
labels may be arrays, numbers or Values (placeholders fed later). Shapes are
checked when the loss is built; a size-1 axis matches any size, since that
is what a placeholder's `None` axis holds until it is fed. Label values are
checked when they are arrays (a placeholder's values arrive later).
"""
from __future__ import annotations

from . import ops
from .engine import Value, constant


def pinball(pred, y, quantiles) -> Value:
    """Mean quantile (pinball) loss. With r = y - pred and tau the quantile
    of each column,

        loss = mean over rows and columns of tau relu(r) + (1 - tau) relu(-r)

    (an under-prediction costs tau per unit, an over-prediction 1 - tau, so
    the minimiser is the tau-quantile of y). pred (N, Q), y (N,) or (N, 1),
    quantiles Q numbers in (0, 1), one per column of pred. At an exact fit
    (r = 0, a kink) the gradient with respect to pred is (1/2 - tau) / (N Q),
    the two sides' slopes shared equally, as at any tie.
    """
    pred = _as_input(pred)
    taus = _quantiles(quantiles)
    if pred.ndim != 2 or pred.shape[1] != len(taus):
        raise ValueError(f'pinball: pred has shape {pred.shape}, expected '
                         f'(N, {len(taus)}) for {len(taus)} quantiles')
    y = _target(y, pred)
    if y.ndim not in (1, 2) or y.shape[1:] not in ((), (1,)) or \
            not _rows_match(y, pred):
        raise ValueError(f'pinball: y has shape {y.shape}, expected '
                         f'({pred.shape[0]},) or ({pred.shape[0]}, 1) for '
                         f'pred of shape {pred.shape}')
    if y.ndim == 1:
        y = ops.expand_dims(y, -1)                    # (N,) -> (N, 1)
    tau = constant(pred.bk.asarray(taus, dtype=pred.dtype), pred)  # (Q,)
    h = (pred - y) * 0.5                                         # (N, Q)
    # With h = -r / 2 the loss is max((1 - tau) 2h, -tau 2h) = |h| +
    # (1 - 2 tau) h: one pass over (N, Q) more than relu(2h) - tau 2h, and
    # at an exact fit (h = 0, where the two pieces tie) the gradient is that
    # of a tie, shared equally: 1/2 - tau, the middle of the subgradients
    # [-tau, 1 - tau] (0 for the median, as abs at 0), where the relu form
    # gives -tau.
    return (ops.abs(h) + (1 - 2 * tau) * h).mean()


def mse(pred, y) -> Value:
    """Mean squared error: mean((pred - y) ** 2). y has pred's shape (or is
    a number)."""
    pred = _as_input(pred)
    d = pred - _target(y, pred, 'mse: y', 'pred')
    return (d * d).mean()


def hinge(scores, labels) -> Value:
    """Mean hinge (max-margin) loss for labels in {-1, +1}:

        mean(relu(1 - labels * scores))

    zero once each score has the sign of its label with margin 1."""
    scores = _as_input(scores)
    if not isinstance(labels, Value):
        labels = _check_values(scores.bk, labels, 'hinge: labels must be -1 '
                               'or +1', lambda v: (v == 1) | (v == -1))
    else:                                 # checked again at every forward
        labels = ops.check_values(labels, 'be -1 or +1', 'hinge: labels')
    labels = _target(labels, scores, 'hinge: labels', 'scores')
    return ops.relu(1 - labels * scores).mean()


def binary_cross_entropy_with_logits(logits, targets) -> Value:
    """Mean binary cross entropy of sigmoid(x) against targets t in [0, 1]:

        -t log(sigmoid(x)) - (1 - t) log(1 - sigmoid(x)) = softplus(x) - x t

    softplus never overflows, and its gradient is sigmoid(x) exactly, at
    x = 0 too: d/dx = sigmoid(x) - t."""
    logits = _as_input(logits)
    what = 'binary_cross_entropy_with_logits: targets'
    if not isinstance(targets, Value):
        targets = _check_values(logits.bk, targets, f'{what} must lie in '
                                '[0, 1]', lambda v: (v >= 0) & (v <= 1))
    else:                                 # checked again at every forward
        targets = ops.check_values(targets, 'lie in [0, 1]', what)
    t = _target(targets, logits, what, 'logits')
    return (ops.softplus(logits) - logits * t).mean()


def cross_entropy(logits, labels) -> Value:
    """Mean cross entropy of softmax(logits) against integer labels:

        mean over rows i of -log_softmax(logits)[i, labels[i]]

    logits (N, C); labels (N,), class indices in [0, C). The log-probability
    at the label is picked with a one-hot mask built in the graph (one_hot),
    so labels may be a placeholder: its labels are checked at every forward,
    and a NaN label (unfed) gives a NaN loss."""
    logits = _as_input(logits)
    if logits.ndim != 2:
        raise ValueError(f'cross_entropy: logits has shape {logits.shape}, '
                         'expected (N, C)')
    xp, classes = logits.bk, logits.shape[1]
    if not isinstance(labels, Value):
        labels = _class_indices(xp, labels, classes)
    labels = _target(labels, logits)
    if labels.ndim != 1 or not _rows_match(labels, logits):
        raise ValueError(f'cross_entropy: labels have shape {labels.shape}, '
                         f'expected ({logits.shape[0]},) for logits of shape '
                         f'{logits.shape}')
    hot = ops.one_hot(labels, classes, 'cross_entropy: labels')  # (N, C)
    logp = ops.log_softmax(logits, axis=-1)                      # (N, C)
    # A logit of -inf (a class masked out) has logp -inf: raised to the
    # lowest finite number (no gradient there), so that 0 * logp is 0.
    lowest = float(xp.finfo(logits.dtype).min)
    at_label = hot * ops.clip(logp, lowest)      # a NaN row stays NaN
    return (-at_label.sum(axis=-1)).mean()    # the mean last: a row mean


# ---------------------------------------------------------------- helpers

def _as_input(x) -> Value:
    """The prediction as a Value (an array becomes a constant)."""
    return x if isinstance(x, Value) else Value(x, requires_grad=False)


def _target(y, like: Value, what: str = '', like_name: str = '') -> Value:
    """y as a Value of like's dtype and backend. Given `what` ('mse: y'),
    check that y has like's shape (size-1 axes match anything) or is 0-d."""
    y = y if isinstance(y, Value) else constant(y, like)
    if what and y.ndim and not _same_shape(y.shape, like.shape):
        raise ValueError(f'{what} has shape {y.shape} but {like_name} has '
                         f'shape {like.shape}; they must match')
    return y


def _same_shape(a: tuple, b: tuple) -> bool:
    """Equal shapes, where a size-1 axis (an unfed placeholder's None)
    matches any size."""
    return len(a) == len(b) and all(m == n or 1 in (m, n)
                                    for m, n in zip(a, b))


def _rows_match(a: Value, b: Value) -> bool:
    return a.shape[0] == b.shape[0] or 1 in (a.shape[0], b.shape[0])


def _quantiles(quantiles) -> list[float]:
    try:
        taus = [float(q) for q in quantiles]
    except (TypeError, ValueError):
        raise ValueError('pinball: quantiles must be a sequence of numbers in '
                         f'(0, 1), got {quantiles!r}') from None
    if not taus or not all(0 < t < 1 for t in taus):
        raise ValueError(f'pinball: quantiles must lie in (0, 1), got {taus}')
    return taus


def _class_indices(xp, labels, classes: int):
    """Array labels as xp's, or a ValueError: integers in [0, classes)."""
    labels = xp.asarray(labels)
    if not xp.isdtype(labels.dtype, 'integral'):
        raise ValueError('cross_entropy: labels must be integer class '
                         f'indices, got dtype {labels.dtype}')
    return _check_values(xp, labels, 'cross_entropy: labels must lie in '
                         f'[0, {classes}) for {classes} classes',
                         lambda v: (v >= 0) & (v < classes))


def _check_values(xp, array, message: str, ok):
    """array (as xp's), or a ValueError: message and the values that fail
    `ok`. Lazy arrays are not checked (that would compute them)."""
    array = xp.asarray(array)
    if not xp.is_lazy and not bool(xp.all(ok(array))):
        bad = xp.sort(xp.unique_values(array[~ok(array)]))
        shown = ', '.join(f'{float(bad[i]):g}'
                          for i in range(min(5, bad.shape[0])))
        more = ', ...' if bad.shape[0] > 5 else ''
        raise ValueError(f'{message}, got {shown}{more}')
    return array
