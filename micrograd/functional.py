"""Derivatives as functions: `grad`, `value_and_grad`, `vjp`, `jvp`, `hvp`,
`jacobian`, `hessian`, thin layers over `backward(create_graph=True)`.

    import micrograd as mg
    df = mg.grad(lambda x: (x ** 3).sum())     # df(x) = 3 x**2
    d2f = mg.grad(lambda x: df(x).sum())       # 6 x: the same rules again

`f` takes arrays or Values and returns a Value (or a tuple, list or dict of
them); the results have the structure of f's output and of `argnums`.
Given arrays, they are arrays. Given Values (as a transform nested inside
another one passes them), they are Values, differentiable again: that is how
`grad(grad(f))` and `hessian = jacobian(grad(f))` work.
"""
from __future__ import annotations

import numpy as np

from .engine import Value
from .ops import reduce, shape

__all__ = ['grad', 'value_and_grad', 'vjp', 'jvp', 'hvp', 'jacobian',
           'hessian']


def _leaves(args, argnums):
    """(args with the differentiated ones as Values, those Values, does any
    come from an enclosing transform, i.e. must the result be a graph?)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args, wrt, nested = list(args), [], False
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ValueError(f'argnums: {i} is out of range for '
                             f'{len(args)} argument(s)')
        a = args[i]
        if isinstance(a, Value) and a.requires_grad:
            nested = True
        else:
            a = Value(a.data if isinstance(a, Value) else a,
                      dtype=_float_dtype(a))
        args[i] = a
        wrt.append(a)
    return args, wrt, nested


def _float_dtype(a):
    dtype = getattr(a, 'dtype', None)
    return dtype if getattr(dtype, 'kind', None) == 'f' else None


def _flatten(tree) -> tuple[list, object]:
    """The Values (or arrays) of a tuple/list/dict tree, and how to rebuild it."""
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(t) for t in tree]
        return [x for p in parts for x in p[0]], (type(tree), [p[1] for p in parts])
    if isinstance(tree, dict):
        parts = {k: _flatten(v) for k, v in tree.items()}
        return [x for p in parts.values() for x in p[0]], (dict, {
            k: p[1] for k, p in parts.items()})
    return [tree], None


def _unflatten(spec, items):
    items = iter(items)

    def build(s):
        if s is None:
            return next(items)
        kind, sub = s
        if kind is dict:
            return {k: build(v) for k, v in sub.items()}
        return kind(build(v) for v in sub)
    return build(spec)


def _as_value(out, name):
    if not isinstance(out, Value):
        raise TypeError(f'{name}: f must return a Value (or a tuple, list or '
                        f'dict of Values), got {type(out).__name__}')
    return out


def _result(v, nested):
    """A gradient as the caller wants it: the Value, or its array."""
    return v if nested else v.data


def _grads(wrt, nested):
    """The `.grad` of each Value of `wrt` after a backward (zeros if None)."""
    out = []
    for w in wrt:
        g = w.grad
        if g is None:
            g = w.bk.zeros(w.shape, dtype=w.dtype)
        if nested and not isinstance(g, Value):
            g = Value(g, requires_grad=False)
        out.append(g if nested or not isinstance(g, Value) else g.data)
    return out


def _pick(items, argnums):
    return items[0] if isinstance(argnums, int) else tuple(items)


def value_and_grad(f, argnums=0):
    """A function returning (f(*args), the gradient of f with respect to
    args[argnums]); f returns a Value (a non-scalar one: its sum)."""
    def value_and_gradient(*args):
        args, wrt, nested = _leaves(args, argnums)
        out = _as_value(f(*args), 'grad')
        out.backward(create_graph=nested)
        return _result(out, nested), _pick(_grads(wrt, nested), argnums)
    value_and_gradient.__name__ = f'value_and_grad({_name(f)})'
    return value_and_gradient


def grad(f, argnums=0):
    """The gradient of f (a function returning a Value, differentiated as its
    sum) with respect to args[argnums] (an int or a tuple of ints)."""
    vg = value_and_grad(f, argnums)

    def gradient(*args):
        return vg(*args)[1]
    gradient.__name__ = f'grad({_name(f)})'
    return gradient


def _name(f):
    return getattr(f, '__name__', type(f).__name__)


def _project(outs, cotangents):
    """sum over the outputs of sum(out * cotangent): a scalar Value."""
    total = None
    for o, c in zip(outs, cotangents):
        term = reduce.sum(_as_value(o, 'vjp') * c)
        total = term if total is None else total + term
    return total


def vjp(f, *primals):
    """(f(*primals), vjp_fn): vjp_fn(cotangent), the cotangent shaped as f's
    output, gives the tuple of cotangent . df/dprimal_i for each primal."""
    args, wrt, nested = _leaves(primals, tuple(range(len(primals))))
    out = f(*args)
    outs, spec = _flatten(out)

    def vjp_fn(cotangent):
        cts = _flatten(cotangent)[0]
        if len(cts) != len(outs):
            raise ValueError(f'vjp: the cotangent has {len(cts)} part(s), '
                             f"f's output {len(outs)}")
        for o, c in zip(outs, cts):
            if tuple(getattr(c, 'shape', ())) != _as_value(o, 'vjp').shape:
                raise ValueError(f'vjp: cotangent of shape {c.shape} for an '
                                 f'output of shape {o.shape}')
        graph = nested or any(isinstance(c, Value) for c in cts)
        _project(outs, cts).backward(create_graph=graph)
        return tuple(_grads(wrt, graph))
    return _unflatten(spec, [_result(o, nested) for o in outs]), vjp_fn


def jvp(f, primals, tangents):
    """(f(*primals), the derivative of f along `tangents`), forward mode by
    the double-vjp trick: u -> vjp(u) is linear in u, so the vjp of that
    function, at any u, along the tangents is J . tangents."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f'jvp: {len(primals)} primal(s) and '
                         f'{len(tangents)} tangent(s)')
    args, wrt, nested = _leaves(primals, tuple(range(len(primals))))
    outs, spec = _flatten(f(*args))
    rng = np.random.default_rng(0)   # any u will do; random avoids exact 0s
    us = [Value(rng.standard_normal(_as_value(o, 'jvp').shape), dtype=o.dtype,
                backend=o.bk) for o in outs]
    _project(outs, us).backward(create_graph=True)
    vjps = _grads(wrt, True)
    for u in us:
        u.grad = None
    _project(vjps, tangents).backward(create_graph=nested)
    return (_unflatten(spec, [_result(o, nested) for o in outs]),
            _unflatten(spec, _grads(us, nested)))


def hvp(f, primals, tangents):
    """The Hessian of scalar f times the tangents (one per primal): the
    gradient of (grad f . tangents), one backward over a backward."""
    primals, tangents = tuple(primals), tuple(tangents)
    args, wrt, nested = _leaves(primals, tuple(range(len(primals))))
    _as_value(f(*args), 'hvp').backward(create_graph=True)
    grads = _grads(wrt, True)
    for w in wrt:
        w.grad = None
    _project(grads, tangents).backward(create_graph=nested)
    found = _grads(wrt, nested)
    return found[0] if len(found) == 1 else tuple(found)


def jacobian(f, argnums=0):
    """The Jacobian of f: for an output of shape S and an input of shape T,
    an array of shape S + T (one backward per output element: for small
    outputs)."""
    def jacobian_of(*args):
        args, wrt, nested = _leaves(args, argnums)
        outs, spec = _flatten(f(*args))
        blocks = []
        for o in outs:
            o = _as_value(o, 'jacobian')
            rows = [[] for _ in wrt]
            for k in range(o.size):
                seed = np.zeros(o.size)
                seed[k] = 1.0
                for w in wrt:
                    w.grad = None
                o.backward(o.bk.asarray(seed.reshape(o.shape), dtype=o.dtype),
                           create_graph=nested)
                for row, g in zip(rows, _grads(wrt, nested)):
                    row.append(g)
            blocks.append(_pick([_assemble(row, o.shape, w.shape, nested, w)
                                 for row, w in zip(rows, wrt)], argnums))
        return _unflatten(spec, blocks)
    jacobian_of.__name__ = f'jacobian({_name(f)})'
    return jacobian_of


def _assemble(rows, out_shape, in_shape, nested, like):
    """The rows (one gradient per output element) as one array (or Value)
    of shape out_shape + in_shape."""
    full = tuple(out_shape) + tuple(in_shape)
    if not rows:
        return like.bk.zeros(full, dtype=like.dtype) if not nested else \
            Value(like.bk.zeros(full, dtype=like.dtype), requires_grad=False)
    if nested:
        return shape.reshape(shape.stack(rows), full)
    return like.bk.reshape(like.bk.stack(rows), full)


def hessian(f, argnums=0):
    """The Hessian of scalar f, the Jacobian of its gradient: shape T + T
    for an input of shape T (for small inputs)."""
    h = jacobian(grad(f, argnums), argnums)
    h.__name__ = f'hessian({_name(f)})'
    return h
