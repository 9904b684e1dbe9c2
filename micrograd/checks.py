"""Checks that keep a walk from going wrong without a word: what a feed
holds, what a user's rule returns, errors that name the op, and the opt-in
finite checks (`detect_anomaly`).

The engine's walks call these; they know nothing of the ops themselves.
"""
from __future__ import annotations

import warnings
from numbers import Integral

from .backend import NUMPY, backend_of, is_float, resolve_backend, to_host


class FeedError(ValueError):
    """What was fed does not fit the graph (a name, a shape, a dtype)."""


class detect_anomaly:
    """`with micrograd.detect_anomaly():` every walk checks each op's output
    and each gradient, and raises FloatingPointError at the first that is not
    finite, naming the op and its inputs' shapes. Compiled and chunked roots
    run the interpreted walk meanwhile (the same rules and numbers, the whole
    batch at once). Off by default; off, it costs one flag test per walk.
    `detect_anomaly.on = True` turns it on for the whole program."""
    on = False

    def __enter__(self):
        self.saved, detect_anomaly.on = detect_anomaly.on, True
        return self

    def __exit__(self, *exc):
        detect_anomaly.on = self.saved


def check_finite(node, array, what: str) -> None:
    """Raise if `array` (node's output or a gradient it sends) is not finite."""
    if not bool(node.bk.all(node.bk.isfinite(array))):
        shapes = ' and '.join(str(p.shape) for p in node.parents)
        error = FloatingPointError(
            f"detect_anomaly: the {what} of '{node.op.name}' (inputs of "
            f'shapes {shapes}) is not finite')
        error.op_name = node.op.name
        raise error


def rule_error(node, exc: Exception, phase: str) -> Exception:
    """`exc`, raised by `node`'s rule during a walk, as an error of the same
    kind whose message names the op and its inputs' shapes (and, when batch
    placeholders were fed different numbers of rows, says so)."""
    shapes = ' and '.join(str(p.shape) for p in node.parents)
    message = f'{node.op.name} {phase} on shapes {shapes}: {exc}'
    rows = {n.name: n.shape[0] for n in node.topo()
            if n.placeholder and n.placeholder[0] is None}
    if len(set(rows.values())) > 1:
        message += ('; the batch placeholders have different numbers of '
                    f'rows: {rows}')
    error = (type(exc) if type(exc) in _KINDS else RuntimeError)(message)
    error.op_name = node.op.name
    return error


_KINDS = (ValueError, TypeError, IndexError, ArithmeticError,
          FloatingPointError, ZeroDivisionError, NotImplementedError,
          RuntimeError, AttributeError, MemoryError)


def check_rule(node, grads, fits) -> None:
    """What a user-defined backward rule returned: one gradient (or None)
    per input, each of a shape that broadcasts to the input's."""
    if not isinstance(grads, (tuple, list)):
        raise TypeError('a backward rule returns one gradient per input '
                        f'(a tuple), not a {type(grads).__name__}')
    if len(grads) != len(node.parents):
        raise ValueError(f'the backward rule returned {len(grads)} '
                         f'gradient(s) for {len(node.parents)} input(s)')
    for k, (parent, pg) in enumerate(zip(node.parents, grads)):
        if pg is None:
            continue
        if not hasattr(pg, 'shape'):
            raise TypeError(f'the backward rule returned a '
                            f'{type(pg).__name__} for input {k}, not an array')
        if fits(tuple(pg.shape), parent.shape) is None:
            raise ValueError(f'the backward rule returned a gradient of shape '
                             f'{tuple(pg.shape)} for input {k} of shape '
                             f'{parent.shape}')


def check_shape(shape, name):
    """A placeholder's shape: non-negative ints or None, as a tuple."""
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
        ok = all(n is None or isinstance(n, int) and n >= 0 for n in shape)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"Value: placeholder '{name}' needs a shape of "
                         f'non-negative ints (or None), got {shape!r}')
    return shape


def check_feeds(topo, feeds):
    """Refuse feed names that no placeholder of the graph has."""
    if not feeds:
        return
    names = {n.name for n in topo if n.op is None and n.name is not None}
    unknown = sorted(set(feeds) - names)
    if unknown:
        raise FeedError(f'forward: unknown feed name(s) {unknown}; '
                         f'placeholders of this graph: {sorted(names)}')


def feed(node, feeds):
    """Give a named leaf its fed array (cast to its dtype), or NaN if unfed.
    Integer placeholders take whole numbers only, and must be fed."""
    bk, dtype = node.bk, node.dtype
    if node.name in feeds:
        value = feeds[node.name]
        if hasattr(value, 'shape') and (bk.is_lazy or
                                        type(value) is not type(node._data)):
            value = _from_library(node, value)
        if not is_float(bk, dtype):
            value = _whole(node, value)
        array = bk.asarray(value, dtype=dtype)
        expected = node.placeholder or node.shape
        if len(array.shape) != len(expected) or any(
                e is not None and e != n for e, n in zip(expected, array.shape)):
            raise FeedError(f"forward: feed '{node.name}' has shape "
                             f'{tuple(array.shape)}, placeholder expects '
                             f'{expected}')
        node.data = array
    elif node.placeholder is not None:
        if not is_float(bk, dtype):
            raise FeedError(f"forward: placeholder '{node.name}' ({dtype}) "
                             'was not fed, and cannot hold NaN')
        warnings.warn(f"forward: placeholder '{node.name}' was not fed; "
                      'it holds NaN', stacklevel=4)
        node.data = bk.full(node.shape, float('nan'), dtype=dtype)


def _from_library(node, value):
    """A fed array of another type than the placeholder's data: NumPy
    arrays are taken by any backend (the library copies them in: to the
    device, into a Dask array); another library's arrays are refused,
    never pulled into memory without a word. Dask arrays need known
    chunk sizes."""
    kind = 'array'
    try:
        source = backend_of(value)
    except TypeError:
        if not type(value).__module__.startswith('dask.'):
            return value            # pandas, ...: read as the library can
        source, kind = resolve_backend('dask'), type(value).__name__
    if source is not node.bk and source is not NUMPY:
        raise FeedError(
            f"forward: feed '{node.name}' is a {source.name} {kind} and the "
            f"placeholder is {node.bk.name}'s; micrograd does not convert it "
            'behind your back: feed micrograd.to_host(x) (a NumPy array, '
            'which every backend takes) or make the placeholder with '
            f"backend='{source.name}'")
    shape = tuple(value.shape)
    if any(not isinstance(n, Integral) for n in shape):
        sizes = ', '.join(str(n) if isinstance(n, Integral) else '?'
                          for n in shape)
        raise FeedError(
            f"forward: feed '{node.name}' has unknown sizes ({sizes}) (a Dask "
            "DataFrame or its .values?): feed "
            'frame.to_dask_array(lengths=True)')
    return value


def _whole(node, value):
    """A feed for an integer placeholder: refused unless whole numbers."""
    bk = node.bk
    array = bk.asarray(value)
    if is_float(bk, array.dtype) and not bk.is_lazy and not bool(
            bk.all(bk.floor(array) == array)):
        raise FeedError(f"forward: feed '{node.name}' holds values that are "
                         f'not whole numbers, for a {node.dtype} placeholder')
    return array


def seed_grad(root, grad):
    """The gradient given to `backward(grad)`, as the root's dtype and shape."""
    g = root.bk.asarray(grad, dtype=root.dtype)
    if tuple(g.shape) != root.shape:
        raise ValueError(f'backward: gradient has shape {tuple(g.shape)}, '
                         f'root has shape {root.shape}')
    return g


def state_array(where: str, key: str, value, p):
    """state[key] (a saved array) as a new array of parameter p's backend
    and dtype, checked: real numbers, p's shape, finite; errors name `key`."""
    bk = p.bk
    try:
        if hasattr(value, 'shape') and backend_of(value) is not bk:
            value = to_host(value)      # (NumPy arrays: as they are)
        array = bk.asarray(value, copy=True)
        numbers = bk.isdtype(array.dtype, ('real floating', 'integral'))
    except Exception:
        numbers = False
    if not numbers:
        what = getattr(value, 'dtype', type(value).__name__)
        raise TypeError(f"{where}: '{key}' must be an array of real numbers "
                        f'(as {p.data.dtype}), got {what}')
    if tuple(array.shape) != tuple(p.data.shape):
        raise ValueError(f"{where}: '{key}' has shape {tuple(array.shape)}, "
                         f'expected {tuple(p.data.shape)}')
    array = bk.astype(array, p.data.dtype)
    if not bool(bk.all(bk.isfinite(array))):
        raise ValueError(f"{where}: '{key}' holds values that are not "
                         f'finite (inf or NaN, or too large for '
                         f'{p.data.dtype})')
    return array


# numpy ufuncs that a Value answers with its own op (`ndarray + Value`)
OPERATOR_UFUNCS = {
    'add': 'add', 'subtract': 'sub', 'multiply': 'mul', 'divide': 'div',
    'power': 'pow', 'matmul': 'matmul', 'negative': 'neg', 'absolute': 'abs',
    'greater': 'greater', 'greater_equal': 'greater_equal', 'less': 'less',
    'less_equal': 'less_equal', 'equal': 'equal', 'not_equal': 'not_equal',
    'remainder': 'mod'}


def refuse_numpy(name, ops):
    """The TypeError for a NumPy function given a Value (`ops`: the op
    library, to name the micrograd op to use instead)."""
    hint = f'micrograd.{name}(x)' if hasattr(ops, name) else 'the micrograd op'
    raise TypeError(f'numpy.{name} cannot take a Value (it would drop the '
                    f'graph); use {hint} instead, or numpy on .data')
