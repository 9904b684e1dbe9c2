"""Comparisons (no gradient), stop_gradient, casts, and the checks of
labels and targets that losses put in the graph."""
from __future__ import annotations

import builtins

from ..backend import is_float
from ..engine import Op, Value, apply
from .common import _value, public
from .shape import expand_dims


def greater_forward(xp, x, y):
    return x > y


def greater_equal_forward(xp, x, y):
    return x >= y


def less_forward(xp, x, y):
    return x < y


def less_equal_forward(xp, x, y):
    return x <= y


def equal_forward(xp, x, y):
    return x == y


def not_equal_forward(xp, x, y):
    return x != y


GREATER = Op('greater', greater_forward, kind='elementwise')
GREATER_EQUAL = Op('greater_equal', greater_equal_forward, kind='elementwise')
LESS = Op('less', less_forward, kind='elementwise')
LESS_EQUAL = Op('less_equal', less_equal_forward, kind='elementwise')
EQUAL = Op('equal', equal_forward, kind='elementwise', symmetric=True)
NOT_EQUAL = Op('not_equal', not_equal_forward,
                kind='elementwise', symmetric=True)


@public
def greater(x, y) -> Value:
    """x > y as a boolean Value (no gradient)."""
    return apply(GREATER, x, y)


@public
def greater_equal(x, y) -> Value:
    """x >= y as a boolean Value (no gradient)."""
    return apply(GREATER_EQUAL, x, y)


@public
def less(x, y) -> Value:
    """x < y as a boolean Value (no gradient)."""
    return apply(LESS, x, y)


@public
def less_equal(x, y) -> Value:
    """x <= y as a boolean Value (no gradient)."""
    return apply(LESS_EQUAL, x, y)


@public
def equal(x, y) -> Value:
    """x == y elementwise, as a boolean Value (no gradient); NotImplemented
    beside what is not array-like, so `v == None` is False."""
    return NotImplemented if _not_array(y) else apply(EQUAL, x, y)


@public
def not_equal(x, y) -> Value:
    """x != y elementwise, as a boolean Value (no gradient)."""
    return NotImplemented if _not_array(y) else apply(NOT_EQUAL, x, y)


def _not_array(y) -> bool:
    return y is None or isinstance(y, (str, bytes, dict, set))


def stop_gradient_forward(xp, x):
    return x


STOP_GRADIENT = Op('stop_gradient', stop_gradient_forward, kind='elementwise')


@public
def stop_gradient(x) -> Value:
    """x's value, with no gradient flowing back through it."""
    return apply(STOP_GRADIENT, x)


# astype: z = x as another dtype;  dz/dx = 1 (g cast back to x's dtype)
def astype_forward(xp, x, dtype):
    return xp.astype(x, dtype)


def astype_backward(xp, g, out, x, dtype, need):
    return (xp.astype(g, x.dtype),)


ASTYPE = Op('astype', astype_forward, astype_backward,
             kind='elementwise', linear=True)


@public(method=True)
def astype(x, dtype) -> Value:
    """x cast to `dtype` (a name such as 'float32', or a dtype); a cast to
    an integer or boolean type passes no gradient."""
    x = _value(x)
    dtype = x.bk.dtype(dtype)
    if not is_float(x.bk, dtype):
        x = stop_gradient(x)
    return apply(ASTYPE, x, dtype=dtype)


# one_hot: z[..., c] = 1 where label == c, else 0, for labels of shape
# (..., 1) that are whole numbers in [0, classes); a NaN label (an unfed
# placeholder) gives a row of NaN. Labels are checked at every forward: a
# ValueError names `what` and the bad labels (a lazy array, which checking
# would compute, gets NaN rows instead).
def one_hot_forward(xp, labels, classes, what):
    ok = (labels >= 0) & (labels < classes) & (xp.floor(labels) == labels)
    _refuse_bad(xp, labels, ok | xp.isnan(labels), f'{what} must be whole '
                f'numbers in [0, {classes}) for {classes} classes')
    hot = xp.astype(labels == xp.arange(classes, dtype=labels.dtype),
                    labels.dtype)
    return xp.where(ok, hot, xp.nan)


def _same_rank(node, rows):
    """One output row from each input row (a new last axis in place of a
    size-1 one)."""
    return node.parents[0].ndim == node.ndim


ONE_HOT = Op('one_hot', one_hot_forward, kind='shape', keeps_rows=_same_rank)


@public
def one_hot(labels, classes: int, what: str = 'one_hot: labels') -> Value:
    """Labels (...) as one-hot rows (..., classes), checked at every forward
    to be whole numbers in [0, classes) (`what` names them in the error); a
    NaN label gives a NaN row."""
    labels = _value(labels)
    if not isinstance(classes, int) or isinstance(classes, bool) or \
            classes < 1:
        raise ValueError(f'one_hot: classes must be a positive int, got '
                         f'{classes!r}')
    return apply(ONE_HOT, expand_dims(labels, -1), classes=classes,
                 what=what)


# check_values: z = x, once every x is a value `allowed` names (NaN, an
# unfed placeholder, passes); else a ValueError naming `what` and the bad
# values (a lazy array gets NaN there instead). Checked at every forward;
# dz/dx = 1
def _signs(xp, v):
    return (v == 1) | (v == -1)


def _unit_interval(xp, v):
    return (v >= 0) & (v <= 1)


ALLOWED = {'be -1 or +1': _signs, 'lie in [0, 1]': _unit_interval}


def check_values_forward(xp, x, allowed, what):
    ok = ALLOWED[allowed](xp, x) | xp.isnan(x)
    _refuse_bad(xp, x, ok, f'{what} must {allowed}')
    return xp.where(ok, x, xp.nan) if xp.is_lazy else x


def check_values_backward(xp, g, out, x, allowed, what, need):
    return (g,)


CHECK_VALUES = Op('check_values', check_values_forward, check_values_backward,
                   kind='elementwise', linear=True)


def check_values(x, allowed: str, what: str) -> Value:
    """x, checked at every forward to hold values `allowed` admits (a key of
    ALLOWED); `what` names x in the error."""
    if allowed not in ALLOWED:
        raise ValueError(f'check_values: allowed must be one of '
                         f'{sorted(ALLOWED)}, got {allowed!r}')
    return apply(CHECK_VALUES, x, allowed=allowed, what=what)


def _refuse_bad(xp, x, ok, message: str) -> None:
    """A ValueError, `message` and the values of x (up to 5) where the mask
    `ok` is False; nothing when all pass or x is lazy (checking would
    compute it)."""
    if xp.is_lazy or bool(xp.all(ok)):
        return
    values = xp.sort(xp.unique_values(x[~ok]))
    shown = ', '.join(f'{float(values[i]):g}'
                      for i in range(builtins.min(5, values.shape[0])))
    more = ', ...' if values.shape[0] > 5 else ''
    raise ValueError(f'{message}, got {shown}{more}')


def isnan_forward(xp, x):
    return xp.isnan(x)


def isfinite_forward(xp, x):
    return xp.isfinite(x)


def logical_not_forward(xp, x):
    return xp.logical_not(x)


ISNAN = Op('isnan', isnan_forward, kind='elementwise')
ISFINITE = Op('isfinite', isfinite_forward, kind='elementwise')
LOGICAL_NOT = Op('logical_not', logical_not_forward, kind='elementwise')


@public
def isnan(x) -> Value:
    """Where x is NaN, as a boolean Value (no gradient)."""
    return apply(ISNAN, x)


@public
def isfinite(x) -> Value:
    """Where x is neither inf nor NaN, as a boolean Value (no gradient)."""
    return apply(ISFINITE, x)


@public
def logical_not(x) -> Value:
    """Not x, for a boolean x, as a boolean Value (no gradient)."""
    x = _value(x)
    if x.dtype != x.bk.bool:
        raise TypeError(f'logical_not: x must be boolean, got {x.dtype}')
    return apply(LOGICAL_NOT, x)
