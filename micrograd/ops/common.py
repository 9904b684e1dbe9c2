"""What every op block shares: turning inputs into Values, axes, the
exact-zero rule, and `public`, which exports an op's function."""
from __future__ import annotations

import builtins

from ..engine import Value
from ..promotion import constant

EXPORTS: list[str] = []     # what `micrograd` exports, in order


def public(function=None, *, method=False):
    """Export `function` from micrograd (`micrograd.NAME`); with
    `method=True`, also make it a Value method (`x.NAME(...)`), as NumPy
    arrays have it. Used as a decorator: `@public` or
    `@public(method=True)`."""
    def register(f):
        EXPORTS.append(f.__name__)
        if method:
            setattr(Value, f.__name__, f)
        return f
    return register if function is None else register(function)


def _value(x) -> Value:
    return x if isinstance(x, Value) else Value(x, requires_grad=False)


def _values(*xs) -> list:
    """xs as Values: arrays, lists and numbers become constants of the first
    Value's dtype and backend, as `apply` makes them (no float32 upcast, no
    NumPy constant beside another library's Value)."""
    like = next((x for x in xs if isinstance(x, Value)), None)
    if like is None:
        return [_value(x) for x in xs]
    return [x if isinstance(x, Value) else constant(x, like) for x in xs]


def _axes(axis, ndim: int, name: str) -> tuple:
    """axis (None, int, negative int, tuple) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in items:
        if not isinstance(a, int) or not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f'{name}: axis {a!r} is out of bounds for a '
                             f'{ndim}-d input')
    axes = tuple(sorted(a % builtins.max(ndim, 1) for a in items))
    if len(set(axes)) != len(axes):
        raise ValueError(f'{name}: repeated axis in {axis!r}')
    return axes


def _keep(xp, g, shape, axis, keepdims):
    """A reduced array with its reduced axes put back as size 1 (a 0-d one
    broadcasts as it is)."""
    if keepdims or g.ndim == 0:
        return g
    return xp.reshape(g, tuple(1 if i in axis else n
                               for i, n in enumerate(shape)))


def _exact(xp, g, grad, out=None):
    """A rule's gradient `grad` (g times the derivative), exact where the
    derivative is infinite or undefined: 0 where g is 0 (a branch `where`
    did not pick sends back 0, not 0 * inf = NaN); given `out`, NaN where
    the function is undefined (out is NaN) and g is not 0."""
    if out is not None:
        grad = xp.where(xp.isnan(out), out, grad)
    return xp.where(g == 0, 0.0, grad)


