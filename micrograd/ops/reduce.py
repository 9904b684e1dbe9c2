"""Reductions over axes (sum, mean, max, min, logsumexp) and
normalisations along an axis (softmax, log_softmax)."""
from __future__ import annotations

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
