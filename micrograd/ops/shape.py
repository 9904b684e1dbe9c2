"""Shape and movement: reshape, transpose, expand_dims, squeeze,
broadcast_to, concatenate, stack, indexing and split."""
from __future__ import annotations

import builtins
import math

from ..engine import Op, Value, apply
from .common import _value, _values, _axes, public


# reshape: same elements, new shape;  the gradient takes the old shape back
def reshape_forward(xp, x, shape):
    return xp.reshape(x, shape)


def reshape_backward(xp, g, out, x, shape, need):
    return (xp.reshape(g, x.shape),)


def _reshape_keeps_rows(node, rows):
    """A reshape of each row on its own: (-1, ...) with the row size kept."""
    shape, parent = node.meta['shape'], node.parents[0]
    return shape[0] == -1 and math.prod(shape[1:]) == math.prod(parent.shape[1:])


RESHAPE = Op('reshape', reshape_forward, reshape_backward,
              kind='shape', linear=True, keeps_rows=_reshape_keeps_rows)


@public
def reshape(x, shape) -> Value:
    """Same data, new shape (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return apply(RESHAPE, x, shape=shape)


# expand_dims: z = x with new size-1 axes;  the gradient takes x's shape back
def expand_dims_forward(xp, x, axes):
    dims = iter(x.shape)
    return xp.reshape(x, tuple(1 if i in axes else next(dims)
                               for i in range(x.ndim + len(axes))))


def expand_dims_backward(xp, g, out, x, axes, need):
    return (xp.reshape(g, x.shape),)


def _axes_spare_rows(node, rows):
    """New or dropped size-1 axes, none of them the rows' axis 0."""
    return 0 not in node.meta['axes']


EXPAND_DIMS = Op('expand_dims', expand_dims_forward, expand_dims_backward,
                  kind='shape', linear=True, keeps_rows=_axes_spare_rows)


@public(method=True)
def expand_dims(x, axis) -> Value:
    """New size-1 axes at `axis` (int or tuple)."""
    x = _value(x)
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    return apply(EXPAND_DIMS, x,
                 axes=_axes(axis, x.ndim + count, 'expand_dims'))


# squeeze: z = x without some size-1 axes;  the gradient takes x's shape back
def squeeze_forward(xp, x, axes):
    return xp.squeeze(x, axis=axes)


def squeeze_backward(xp, g, out, x, axes, need):
    return (xp.reshape(g, x.shape),)


SQUEEZE = Op('squeeze', squeeze_forward, squeeze_backward,
              kind='shape', linear=True, keeps_rows=_axes_spare_rows)


@public(method=True)
def squeeze(x, axis=None) -> Value:
    """Drop size-1 axes (all of them, or those in `axis`)."""
    x = _value(x)
    axes = (tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None
            else _axes(axis, x.ndim, 'squeeze'))
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f'squeeze: axis {axis!r} of shape {x.shape} is not 1')
    return apply(SQUEEZE, x, axes=axes)


# transpose: z = x with axes permuted;  the gradient is permuted back
def transpose_forward(xp, x, axes):
    return xp.permute_dims(x, axes)


def transpose_backward(xp, g, out, x, axes, need):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (xp.permute_dims(g, tuple(inverse)),)


def _transpose_keeps_rows(node, rows):
    """A permutation that leaves axis 0 first."""
    return node.meta['axes'][0] == 0


TRANSPOSE = Op('transpose', transpose_forward, transpose_backward,
                kind='shape', linear=True, keeps_rows=_transpose_keeps_rows)


@public
def transpose(x, axes=None) -> Value:
    """Permute the axes (None: reverse them, as `.T`)."""
    x = _value(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    if sorted(a % builtins.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f'transpose: axes {axes} do not permute shape '
                         f'{x.shape}')
    return apply(TRANSPOSE, x, axes=tuple(a % x.ndim for a in axes))


# broadcast_to: z = x repeated along new or size-1 axes;
# the gradient is summed back (by the engine's unbroadcast)
def broadcast_to_forward(xp, x, shape):
    return xp.broadcast_to(x, shape)


def broadcast_to_backward(xp, g, out, x, shape, need):
    return (g,)


BROADCAST_TO = Op('broadcast_to', broadcast_to_forward,
                  broadcast_to_backward, kind='shape', linear=True)


@public
def broadcast_to(x, shape) -> Value:
    """x broadcast to `shape` (a read-only view)."""
    return apply(BROADCAST_TO, x, shape=tuple(shape))


# concatenate: z = [x_1, x_2, ...] along `axis`;  each gets its slice of g
def concatenate_forward(xp, *xs, axis):
    return xp.concat(xs, axis=axis)


def concatenate_backward(xp, g, out, *xs, axis, need):
    grads, start = [], 0
    for x, needed in zip(xs, need):
        stop = start + x.shape[axis]
        grads.append(g[(slice(None),) * axis + (slice(start, stop), ...)]
                     if needed else None)
        start = stop
    return grads


CONCATENATE = Op('concatenate', concatenate_forward, concatenate_backward,
                  kind='shape', linear=True)


@public
def concatenate(values, axis=0) -> Value:
    """Join Values along an existing axis."""
    values = _values(*values)
    if not values:
        raise ValueError('concatenate: needs at least one Value')
    return apply(CONCATENATE, *values,
                 axis=_axes(axis, values[0].ndim, 'concatenate')[0])


# stack: z[..., i, ...] = x_i along a new `axis`;  each gets g[..., i, ...]
def stack_forward(xp, *xs, axis):
    return xp.stack(xs, axis=axis)


def stack_backward(xp, g, out, *xs, axis, need):
    return [g[(slice(None),) * axis + (i, ...)] if needed else None
            for i, needed in enumerate(need)]


STACK = Op('stack', stack_forward, stack_backward, kind='shape', linear=True)


@public
def stack(values, axis=0) -> Value:
    """Join same-shape Values along a new axis."""
    values = _values(*values)
    if not values:
        raise ValueError('stack: needs at least one Value')
    return apply(STACK, *values,
                 axis=_axes(axis, values[0].ndim + 1, 'stack')[0])


# getitem: z = x[index];  g is added back at the indexed places
# (an element picked twice gets both contributions)
def getitem_forward(xp, x, index):
    return xp.getitem(x, index)


def getitem_backward(xp, g, out, x, index, need):
    return (xp.scatter_add(x.shape, index, g),)


GETITEM = Op('getitem', getitem_forward, getitem_backward,
              kind='index', linear=True)


@public
def getitem(x, index) -> Value:
    """x[index]: ints, slices, None, ..., boolean masks, integer arrays."""
    x = _value(x)
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Value) for i in items):
        raise TypeError('getitem: index with arrays, not Values')
    items = tuple(x.bk.asarray(i) if isinstance(i, list) or (
        hasattr(i, 'shape') and x.bk.name != 'numpy') else i for i in items)
    return apply(GETITEM, x, index=items if isinstance(index, tuple)
                 else items[0])


@public(method=True)
def split(x, indices_or_sections, axis=0) -> list[Value]:
    """Split along `axis` into equal sections (an int) or at the given
    indices, as NumPy's split; each piece is a getitem of x."""
    x = _value(x)
    axis = _axes(axis, x.ndim, 'split')[0]
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f'split: axis {axis} of shape {x.shape} does not '
                             f'split into {indices_or_sections} equal parts')
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (
            indices_or_sections + 1)
    else:
        bounds = [0, *indices_or_sections, n]
    lead = (slice(None),) * axis
    return [getitem(x, lead + (slice(a, b), ...))
            for a, b in zip(bounds[:-1], bounds[1:])]


# scatter_add: z = zeros(shape) with the values added at z[index] (an
# element hit twice gets both);  dL/dvalues = g[index]  (getitem's gradient,
# and getitem is its gradient: each is the other's transpose)
def scatter_add_forward(xp, values, shape, index):
    return xp.scatter_add(shape, index, values)


def scatter_add_backward(xp, g, out, values, shape, index, need):
    return (xp.getitem(g, index),)


SCATTER_ADD = Op('scatter_add', scatter_add_forward, scatter_add_backward,
                  kind='index', linear=True)


@public
def scatter_add(shape, index, values) -> Value:
    """zeros(shape) with `values` added at [index] (repeated places add up):
    the transpose of `getitem(x, index)`; `values` has x[index]'s shape."""
    values = _value(values)
    shape = tuple(shape)
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Value) for i in items):
        raise TypeError('scatter_add: index with arrays, not Values')
    items = tuple(values.bk.asarray(i) if isinstance(i, list) or (
        hasattr(i, 'shape') and values.bk.name != 'numpy') else i
        for i in items)
    index = items if isinstance(index, tuple) else items[0]
    want = tuple(values.bk.getitem(values.bk.zeros(shape, dtype=values.dtype),
                                   index).shape)
    if values.shape != want:
        raise ValueError(f'scatter_add: values of shape {values.shape} do not '
                         f'fit index {index!r} of shape {shape} (want {want})')
    return apply(SCATTER_ADD, values, shape=shape, index=index)


# take_rows: z[i..., :] = w[idx[i...], :] (an embedding lookup: w of shape
# (num, dim), idx whole numbers in [0, num), z of shape idx.shape + (dim,));
# dw = the rows of g added back at their indices (a row picked twice gets
# both); no gradient for idx. Indices are checked at every forward.
def _rows_index(xp, w, idx):
    from .logic import _refuse_bad
    ok = (idx >= 0) & (idx < w.shape[0]) & (xp.floor(idx) == idx)
    _refuse_bad(xp, idx, ok, f'take_rows: indices must be whole numbers in '
                f'[0, {w.shape[0]}) for {w.shape[0]} rows')
    return xp.astype(xp.reshape(idx, (-1,)), xp.int64)


def take_rows_forward(xp, w, idx):
    rows = xp.take(w, _rows_index(xp, w, idx), axis=0)
    return xp.reshape(rows, (*idx.shape, *w.shape[1:]))


def take_rows_backward(xp, g, out, w, idx, need):
    flat = xp.reshape(g, (-1, *w.shape[1:]))
    rows = xp.astype(xp.reshape(idx, (-1,)), xp.int64)  # checked by forward
    return (xp.scatter_add(tuple(w.shape), (rows,), flat)
            if need[0] else None, None)


def _index_rows(node, rows):
    """Row i of the output is w's row idx[i]: rows stay apart when the
    indices carry the batch and the weight does not."""
    return not rows[0] and node.parents[1].ndim >= 1


TAKE_ROWS = Op('take_rows', take_rows_forward, take_rows_backward,
               kind='index', linear=True, keeps_rows=_index_rows)


@public
def take_rows(w, indices) -> Value:
    """w[indices]: the rows of w (num, ...) at integer `indices` (an array
    or a Value, e.g. an integer placeholder), of shape indices.shape +
    w.shape[1:]; what an Embedding layer does."""
    w, indices = _value(w), _value(indices)
    if w.ndim < 1:
        raise ValueError('take_rows: w must have at least one axis, got a '
                         '0-d Value')
    return apply(TAKE_ROWS, w, indices)
