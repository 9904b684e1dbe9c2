"""Reductions over axes (sum, mean, max, min, logsumexp) and
normalisations along an axis (softmax, log_softmax)."""
from __future__ import annotations

import builtins
import math

from ..engine import Op, Value, apply
from .common import _value, _axes, _keep, public


# sum: z = sum_i x_i over `axis`;  dz/dx_i = 1 (g spread back over the axis)
def sum_forward(xp, x, axis, keepdims):
    return xp.sum(x, axis=axis, keepdims=keepdims)


def sum_backward(xp, g, out, x, axis, keepdims, need):
    return (_keep(xp, g, x.shape, axis, keepdims),)


SUM = Op('sum', sum_forward, sum_backward, kind='reduce', linear=True)


@public(method=True)
def sum(x, axis=None, keepdims=False) -> Value:  # noqa: A001
    """Sum over `axis` (None: all; int, negative int or tuple)."""
    x = _value(x)
    return apply(SUM, x, axis=_axes(axis, x.ndim, 'sum'), keepdims=keepdims)


# mean: z = sum_i x_i / n over `axis`;  dz/dx_i = 1 / n
def mean_forward(xp, x, axis, keepdims):
    return xp.mean(x, axis=axis, keepdims=keepdims)


def mean_backward(xp, g, out, x, axis, keepdims, need):
    n = math.prod(x.shape[a] for a in axis)
    return (_keep(xp, g, x.shape, axis, keepdims) / n,)


MEAN = Op('mean', mean_forward, mean_backward, kind='reduce', linear=True)


@public(method=True)
def mean(x, axis=None, keepdims=False) -> Value:
    """Mean over `axis` (None: all; int, negative int or tuple)."""
    x = _value(x)
    return apply(MEAN, x, axis=_axes(axis, x.ndim, 'mean'), keepdims=keepdims)


# max: z = max_i x_i over `axis`;  g goes to the maxima, ties share it equally
def max_forward(xp, x, axis, keepdims):
    return xp.max(x, axis=axis, keepdims=keepdims)


def max_backward(xp, g, out, x, axis, keepdims, need):
    return (_extremum_backward(xp, g, out, x, axis, keepdims),)


def _extremum_backward(xp, g, out, x, axis, keepdims):
    """g split equally between the elements equal to the max (or min),
    counted in float32 at least (float16 counts only to 2048 exactly and
    overflows at 65520 ties), the shares in g's dtype."""
    hit = x == _keep(xp, out, x.shape, axis, keepdims)
    wide = xp.float32 if x.dtype == getattr(xp, 'float16', None) else x.dtype
    count = xp.sum(xp.astype(hit, wide), axis=axis, keepdims=True)
    share = xp.astype(_keep(xp, g, x.shape, axis, keepdims) / count, g.dtype)
    return xp.astype(hit, g.dtype) * share


MAX = Op('max', max_forward, max_backward, kind='reduce')


@public(method=True)
def max(x, axis=None, keepdims=False) -> Value:  # noqa: A001
    """Max over `axis`; tied maxima share the gradient equally."""
    x = _value(x)
    return apply(MAX, x, axis=_axes(axis, x.ndim, 'max'), keepdims=keepdims)


# min: z = min_i x_i over `axis`;  g goes to the minima, ties share it equally
def min_forward(xp, x, axis, keepdims):
    return xp.min(x, axis=axis, keepdims=keepdims)


def min_backward(xp, g, out, x, axis, keepdims, need):
    return (_extremum_backward(xp, g, out, x, axis, keepdims),)


MIN = Op('min', min_forward, min_backward, kind='reduce')


@public(method=True)
def min(x, axis=None, keepdims=False) -> Value:  # noqa: A001
    """Min over `axis`; tied minima share the gradient equally."""
    x = _value(x)
    return apply(MIN, x, axis=_axes(axis, x.ndim, 'min'), keepdims=keepdims)


# logsumexp: z = log sum_i e**x_i = m + log sum_i e**(x_i - m), m = max x;
# dz/dx_i = e**(x_i - z) = e**(x_i - m) / sum_j e**(x_j - m)  (the softmax,
# from the shifted form: z rounds where m is large, 1e17 + log 2 to 1e17)
def logsumexp_forward(xp, x, axis, keepdims):
    m = _shift(xp, x, axis)
    z = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return z if keepdims else xp.squeeze(z, axis=axis)


def logsumexp_backward(xp, g, out, x, axis, keepdims, need):
    e = xp.exp(x - _shift(xp, x, axis))
    return (_keep(xp, g, x.shape, axis, keepdims) * (
         e / xp.sum(e, axis=axis, keepdims=True)),)


def _shift(xp, x, axis):
    """max x over `axis` (kept), 0 where it is not finite (all -inf)."""
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0.0)


LOGSUMEXP = Op('logsumexp', logsumexp_forward, logsumexp_backward,
                kind='reduce')


@public(method=True)
def logsumexp(x, axis=None, keepdims=False) -> Value:
    """log(sum(exp(x))) over `axis`, without overflow."""
    x = _value(x)
    return apply(LOGSUMEXP, x, axis=_axes(axis, x.ndim, 'logsumexp'),
                 keepdims=keepdims)


# softmax: z_i = e**x_i / sum_j e**x_j;  dL/dx = z * (g - sum_j g_j z_j)
def softmax_forward(xp, x, axis):
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softmax_backward(xp, g, out, x, axis, need):
    return (out * (g - xp.sum(g * out, axis=axis, keepdims=True)),)


SOFTMAX = Op('softmax', softmax_forward, softmax_backward, kind='along_axis')


@public(method=True)
def softmax(x, axis=-1) -> Value:
    """exp(x) normalised to sum 1 along `axis`, without overflow."""
    x = _value(x)
    return apply(SOFTMAX, x, axis=_axes(axis, x.ndim, 'softmax'))


# log_softmax: z_i = x_i - logsumexp(x);  dL/dx = g - e**z * sum_j g_j
def log_softmax_forward(xp, x, axis):
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def log_softmax_backward(xp, g, out, x, axis, need):
    return (g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),)


LOG_SOFTMAX = Op('log_softmax', log_softmax_forward, log_softmax_backward,
                  kind='along_axis')


@public(method=True)
def log_softmax(x, axis=-1) -> Value:
    """log(softmax(x)) along `axis`, computed stably."""
    x = _value(x)
    return apply(LOG_SOFTMAX, x, axis=_axes(axis, x.ndim, 'log_softmax'))


# prod: z = prod_i x_i over `axis`;  dz/dx_i = prod_{j != i} x_j, the
# product of the elements before i times that of the elements after i (no
# division: exact where elements are 0, the product of the others at a
# single 0 and 0 where there are two)
def prod_forward(xp, x, axis, keepdims):
    return xp.prod(x, axis=axis, keepdims=keepdims)


def prod_backward(xp, g, out, x, axis, keepdims, need):
    kept = tuple(a for a in range(x.ndim) if a not in axis)
    moved = xp.permute_dims(x, kept + axis)            # reduced axes last
    n = math.prod(x.shape[a] for a in axis)
    rows = xp.reshape(moved, tuple(moved.shape[:len(kept)]) + (n,))
    before = xp.cumulative_prod(rows, axis=-1, include_initial=True)
    after = xp.cumulative_prod(xp.flip(rows, axis=-1), axis=-1,
                               include_initial=True)
    others = before[..., :-1] * xp.flip(after[..., :-1], axis=-1)
    others = xp.permute_dims(xp.reshape(others, tuple(moved.shape)),
                             tuple((kept + axis).index(a)
                                   for a in range(x.ndim)))
    return (_keep(xp, g, x.shape, axis, keepdims) * others,)


PROD = Op('prod', prod_forward, prod_backward, kind='reduce')


@public(method=True)
def prod(x, axis=None, keepdims=False) -> Value:
    """Product over `axis`; gradient exact where elements are 0."""
    x = _value(x)
    return apply(PROD, x, axis=_axes(axis, x.ndim, 'prod'), keepdims=keepdims)


# var: z = sum_i (x_i - m)**2 / (n - ddof), m the mean over `axis`;
# dz/dx_i = 2 (x_i - m) / (n - ddof)
def var_forward(xp, x, axis, ddof, keepdims):
    return xp.var(x, axis=axis, correction=ddof, keepdims=keepdims)


def var_backward(xp, g, out, x, axis, ddof, keepdims, need):
    n = math.prod(x.shape[a] for a in axis)
    centred = x - xp.mean(x, axis=axis, keepdims=True)
    return (_keep(xp, g, x.shape, axis, keepdims) * centred * (2 / (n - ddof)),)


VAR = Op('var', var_forward, var_backward, kind='reduce')


def _ddof(name, x, axis, ddof):
    n = math.prod(x.shape[a] for a in axis)
    if not isinstance(ddof, int) or not 0 <= ddof < builtins.max(n, 1):
        raise ValueError(f'{name}: ddof={ddof!r} needs 0 <= ddof < {n}, the '
                         f'number of elements reduced (shape {x.shape}, '
                         f'axis {axis})')
    return ddof


@public(method=True)
def var(x, axis=None, ddof=0, keepdims=False) -> Value:
    """Variance over `axis`, divided by n - ddof."""
    x = _value(x)
    axis = _axes(axis, x.ndim, 'var')
    return apply(VAR, x, axis=axis, ddof=_ddof('var', x, axis, ddof),
                 keepdims=keepdims)


# std: z = sqrt(var x);  dz/dx_i = (x_i - m) / ((n - ddof) z)  (0 where z is
# 0, as PyTorch: all elements equal)
def std_forward(xp, x, axis, ddof, keepdims):
    return xp.std(x, axis=axis, correction=ddof, keepdims=keepdims)


def std_backward(xp, g, out, x, axis, ddof, keepdims, need):
    n = math.prod(x.shape[a] for a in axis)
    z = _keep(xp, out, x.shape, axis, keepdims)
    centred = x - xp.mean(x, axis=axis, keepdims=True)
    scale = xp.where(z == 0, 0.0, 1 / ((n - ddof) * xp.where(z == 0, 1.0, z)))
    return (_keep(xp, g, x.shape, axis, keepdims) * centred * scale,)


STD = Op('std', std_forward, std_backward, kind='reduce')


@public(method=True)
def std(x, axis=None, ddof=0, keepdims=False) -> Value:
    """Standard deviation over `axis` (sqrt of var with ddof); gradient 0
    where all the elements reduced are equal."""
    x = _value(x)
    axis = _axes(axis, x.ndim, 'std')
    return apply(STD, x, axis=axis, ddof=_ddof('std', x, axis, ddof),
                 keepdims=keepdims)


# cumsum: z_i = sum_{j <= i} x_j along one axis;
# dL/dx_j = sum_{i >= j} g_i  (the cumulative sum of g from the end)
def cumsum_forward(xp, x, axis):
    return xp.cumulative_sum(x, axis=axis[0])


def cumsum_backward(xp, g, out, x, axis, need):
    a = axis[0]
    return (xp.flip(xp.cumulative_sum(xp.flip(g, axis=a), axis=a), axis=a),)


CUMSUM = Op('cumsum', cumsum_forward, cumsum_backward,
             kind='along_axis', linear=True)


@public(method=True)
def cumsum(x, axis=None) -> Value:
    """Cumulative sum along `axis` (None: of the flattened x, as NumPy)."""
    x = _value(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if isinstance(axis, (tuple, list)):
        raise ValueError(f'cumsum: axis must be an int or None, got {axis!r}')
    return apply(CUMSUM, x, axis=_axes(axis, x.ndim, 'cumsum'))


# sort: z = x sorted along one axis, z_k = x_{p(k)} with p = argsort x;
# dL/dx_{p(k)} = g_k: g scattered back by the inverse permutation
def sort_forward(xp, x, axis):
    return xp.sort(x, axis=axis[0])


def sort_backward(xp, g, out, x, axis, need):
    a = axis[0]
    order = xp.argsort(x, axis=a, stable=True)
    return (xp.take_along_axis(g, xp.argsort(order, axis=a), axis=a),)


SORT = Op('sort', sort_forward, sort_backward, kind='along_axis')


@public
def sort(x, axis=-1) -> Value:
    """x sorted along `axis` (None: flattened), a new Value; gradient back
    to each element's place (tied elements: in their stable order)."""
    x = _value(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if isinstance(axis, (tuple, list)) or x.ndim == 0:
        raise ValueError(f'sort: needs an int axis of an input with at least '
                         f'one axis, got axis={axis!r}, shape {x.shape}')
    return apply(SORT, x, axis=_axes(axis, x.ndim, 'sort'))
