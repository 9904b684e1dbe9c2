"""The engine: `Value`, the graph it builds, and the two walks over it.

A `Value` wraps an array and remembers the op and the parents that made it.
The graph is static once built: its topological order is worked out once,
cached on the root, and reused by every `forward(**feeds)` and `backward()`.

The engine does the differentiation; the arithmetic is done by the array
library, reached through one backend object per graph (see `backend.py`).
Each op lives in `ops.py` as a pair of named rules, `NAME_forward` and
`NAME_backward`, that the engine calls through an `Op` record.
"""
from __future__ import annotations

import inspect
import warnings
from numbers import Number

from . import DTYPE
from .backend import Backend, backend_of, default_backend, resolve_backend

OPS: dict[str, 'Op'] = {}   # every op of the library, by name


class Op:
    """An operation: its name and its two rules.

    `forward(xp, *inputs, **meta)` returns the output array.
    `backward(xp, g, out, *inputs, **meta)` returns the gradient for the input
    of a one-input op; a rule that takes `need` (one boolean per input) returns
    one gradient per input, None where `need` is False. A gradient only has to
    broadcast against its input: the engine undoes the broadcasting.
    An op without a backward rule is not differentiable (comparisons).
    """
    __slots__ = ('name', 'forward', 'backward', 'takes_need')

    def __init__(self, name, forward, backward=None):
        self.name, self.forward, self.backward = name, forward, backward
        self.takes_need = (backward is not None and
                           'need' in inspect.signature(backward).parameters)
        OPS[name] = self

    def __repr__(self):
        return f'Op({self.name!r})'


class Value:
    """A node of the graph: an array (`.data`), its gradient (`.grad`),
    and the op and parents that made it.

    `Value(array_or_number)` wraps data (cast to `DTYPE`, copied unless
    `requires_grad=False`); `Value(shape=(...), name='x')` is a placeholder
    whose data arrives with `root.forward(x=array)`.
    """
    __slots__ = ('data', 'grad', 'name', 'op', 'parents', 'meta', 'bk',
                 'requires_grad', 'placeholder', '_topo', '__weakref__')
    __array_priority__ = 1000

    def __init__(self, data=None, shape=None, name=None, *, dtype=None,
                 requires_grad=True, backend=None):
        if isinstance(data, Value):
            raise TypeError('Value: data is already a Value; use it directly')
        bk = resolve_backend(backend) if backend is not None else (
            default_backend() if data is None else backend_of(data))
        dtype = bk.dtype(dtype or DTYPE)
        if data is None:
            if not isinstance(name, str) or not name:
                raise ValueError('Value: a placeholder needs a name: '
                                 "Value(shape=(2, 3), name='x')")
            shape = _check_shape(shape, name)
            data = bk.full(shape, float('nan'), dtype=dtype)
        elif shape is not None:
            raise ValueError('Value: give either data or shape, not both')
        else:
            data = bk.asarray(data, dtype=dtype, copy=requires_grad or None)
        self.data, self.grad, self.name, self.bk = data, None, name, bk
        self.op, self.parents, self.meta = None, (), None
        self.requires_grad, self.placeholder = requires_grad, shape is not None
        self._topo = None

    @classmethod
    def _node(cls, data, op, parents, meta, bk):
        """A Value made by an op (no casting, no copying)."""
        node = object.__new__(cls)
        node.data, node.grad, node.name, node.bk = data, None, None, bk
        node.op, node.parents, node.meta = op, parents, meta
        node.requires_grad = op.backward is not None and any(
            p.requires_grad for p in parents)
        node.placeholder, node._topo = False, None
        return node

    # ---- what a Value looks like -------------------------------------
    shape = property(lambda self: tuple(self.data.shape),
                     doc='The shape of the data.')
    dtype = property(lambda self: self.data.dtype, doc='The data type.')
    ndim = property(lambda self: len(self.data.shape), doc='Number of axes.')
    size = property(lambda self: _prod(self.data.shape),
                    doc='Number of elements.')

    def __repr__(self):
        label = f', name={self.name!r}' if self.name else ''
        return f'Value(data={self.data}, grad={self.grad}{label})'

    def __len__(self):
        if not self.data.shape:
            raise TypeError('len() of a 0-d Value')
        return self.data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        raise TypeError('the truth value of a Value is ambiguous: '
                        'compare its .data instead')

    # ---- the graph ---------------------------------------------------
    def topo(self) -> list[Value]:
        """Every node this one depends on, parents before children (cached)."""
        if self._topo is None:
            self._topo = toposort(self)
        return self._topo

    def forward(self, **feeds) -> Value:
        """Feed placeholders by name and recompute the graph; returns self."""
        topo = self.topo()
        _check_feeds(topo, feeds)
        for node in topo:
            if node.op is not None:
                node.data = node.op.forward(
                    node.bk, *[p.data for p in node.parents], **node.meta)
            elif node.name is not None:
                _feed(node, feeds)
        return self

    def backward(self, grad=None) -> None:
        """Fill `.grad` of every node this one depends on that needs it.

        Each call starts from zero (no `zero_grad`). A non-scalar root is
        differentiated as its sum, or against `grad` when given.
        """
        topo, bk = self.topo(), self.bk
        for node in topo:
            node.grad = None
        self.grad = (bk.ones(self.data.shape, dtype=self.data.dtype)
                     if grad is None else _seed(self, grad))
        owned = set()          # ids of nodes whose .grad the engine allocated
        for node in reversed(topo):
            g = node.grad
            if g is None or node.op is None or not node.requires_grad:
                continue
            parents = node.parents
            inputs = [p.data for p in parents]
            if node.op.takes_need:
                need = tuple(p.requires_grad for p in parents)
                grads = node.op.backward(bk, g, node.data, *inputs,
                                         need=need, **node.meta)
            else:
                grads = (node.op.backward(bk, g, node.data, *inputs,
                                          **node.meta),)
            for parent, pg in zip(parents, grads):
                if pg is None or not parent.requires_grad:
                    continue
                pg = unbroadcast(bk, pg, parent.data.shape)
                if parent.grad is None:
                    parent.grad = pg                 # first: assign
                elif id(parent) in owned:
                    parent.grad += pg                # our buffer: in place
                else:
                    parent.grad = parent.grad + pg   # shared: functional
                    owned.add(id(parent))
        for node in topo:
            if node.grad is None and node.requires_grad:
                node.grad = bk.zeros(node.data.shape, dtype=node.data.dtype)

    # ---- one-line delegates to ops.py --------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __gt__(self, other): return ops.greater(self, other)
    def __ge__(self, other): return ops.greater_equal(self, other)
    def __lt__(self, other): return ops.less(self, other)
    def __le__(self, other): return ops.less_equal(self, other)
    __hash__ = object.__hash__

    @property
    def T(self) -> Value:
        """All axes reversed, as NumPy's `.T`."""
        return ops.transpose(self)

    def transpose(self, *axes) -> Value:
        """Permute the axes: `x.transpose(1, 0, 2)` or `x.transpose((1, 0, 2))`."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return ops.transpose(self, axes or None)

    def reshape(self, *shape) -> Value:
        """Same data, new shape: `x.reshape(2, 3)` or `x.reshape((2, 3))`."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return ops.reshape(self, shape)

    def detach(self) -> Value:
        """The same data, cut from the graph: no gradient flows through it."""
        return ops.stop_gradient(self)

    # `ndarray + Value` comes here through NumPy: it gives a Value. Other
    # NumPy functions refuse a Value rather than drop the graph.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        op = _OPERATOR_UFUNCS.get(ufunc.__name__)
        if op is None or method != '__call__' or kwargs:
            return _refuse_numpy(ufunc.__name__)
        return getattr(ops, op)(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        return _refuse_numpy(func.__name__)


def apply(op: Op, *inputs, **meta) -> Value:
    """Run `op` on `inputs` (Values, arrays or numbers) and record the node.

    Inputs that are not Values become constants (no gradient) of the first
    Value's dtype and backend, so a Python number never upcasts float32.
    """
    like = next((v for v in inputs if isinstance(v, Value)), None)
    if like is None:
        like = Value(inputs[0], requires_grad=False)
    parents = tuple(v if isinstance(v, Value) else constant(v, like)
                    for v in inputs)
    bk = like.bk
    for p in parents:
        if p.bk is not bk:
            raise TypeError(f'{op.name}: inputs come from two array libraries, '
                            f'{bk.name} and {p.bk.name}')
    try:
        data = op.forward(bk, *[p.data for p in parents], **meta)
    except (ValueError, TypeError, IndexError) as exc:
        shapes = ' and '.join(str(p.shape) for p in parents)
        raise type(exc)(f'{op.name}: cannot apply to shapes {shapes}: '
                        f'{exc}') from None
    return Value._node(data, op, parents, meta, bk)


def constant(x, like: Value) -> Value:
    """`x` (number or array) as a leaf of `like`'s dtype and backend; boolean
    arrays (conditions, masks) stay boolean."""
    boolean = getattr(x, 'dtype', None) == like.bk.bool
    return Value(x, dtype=like.bk.bool if boolean else like.dtype,
                 requires_grad=False, backend=like.bk)


def toposort(root: Value) -> list[Value]:
    """Iterative depth-first post-order: each node after all its parents."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node.parents)
                         if id(p) not in seen)
    return order


def unbroadcast(xp: Backend, g, shape: tuple):
    """Fit gradient `g` to `shape`: sum over the axes broadcasting added or
    stretched, broadcast over the axes a rule left out. The one place where
    broadcasting is undone, for every op and every edge."""
    gshape = tuple(g.shape)
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead > 0 or any(n == 1 and m != 1 for n, m in zip(shape, gshape[lead:])):
        axes = tuple(range(max(lead, 0))) + tuple(
            lead + i for i, n in enumerate(shape)
            if n == 1 and lead + i >= 0 and gshape[lead + i] != 1)
        g = xp.sum(g, axis=axes, keepdims=True)
        g = xp.reshape(g, tuple(g.shape)[max(lead, 0):])
    return xp.broadcast_to(g, shape) if tuple(g.shape) != shape else g


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _check_shape(shape, name):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
        ok = all(isinstance(n, int) and n >= 0 for n in shape)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"Value: placeholder '{name}' needs a shape of "
                         f'non-negative ints, got {shape!r}')
    return shape


def _check_feeds(topo, feeds):
    if not feeds:
        return
    names = {n.name for n in topo if n.op is None and n.name is not None}
    unknown = sorted(set(feeds) - names)
    if unknown:
        raise ValueError(f'forward: unknown feed name(s) {unknown}; '
                         f'placeholders of this graph: {sorted(names)}')


def _feed(node, feeds):
    """Give a named leaf its fed array (cast to its dtype), or NaN if unfed."""
    if node.name in feeds:
        value = feeds[node.name]
        array = node.bk.asarray(value, dtype=node.data.dtype)
        if tuple(array.shape) != tuple(node.data.shape):
            raise ValueError(f"forward: feed '{node.name}' has shape "
                             f'{tuple(array.shape)}, placeholder expects '
                             f'{tuple(node.data.shape)}')
        node.data = array
    elif node.placeholder:
        warnings.warn(f"forward: placeholder '{node.name}' was not fed; "
                      'it holds NaN', stacklevel=3)
        node.data = node.bk.full(node.data.shape, float('nan'),
                                 dtype=node.data.dtype)


def _seed(root, grad):
    g = root.bk.asarray(grad, dtype=root.data.dtype)
    if tuple(g.shape) != tuple(root.data.shape):
        raise ValueError(f'backward: gradient has shape {tuple(g.shape)}, '
                         f'root has shape {tuple(root.data.shape)}')
    return g


_OPERATOR_UFUNCS = {
    'add': 'add', 'subtract': 'sub', 'multiply': 'mul', 'divide': 'div',
    'power': 'pow', 'matmul': 'matmul', 'negative': 'neg', 'absolute': 'abs',
    'greater': 'greater', 'greater_equal': 'greater_equal', 'less': 'less',
    'less_equal': 'less_equal'}


def _refuse_numpy(name):
    hint = f'micrograd.{name}(x)' if hasattr(ops, name) else 'the micrograd op'
    raise TypeError(f'numpy.{name} cannot take a Value (it would drop the '
                    f'graph); use {hint} instead, or numpy on .data')


from . import ops  # noqa: E402  (ops.py builds on the names above)
