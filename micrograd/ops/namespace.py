"""The op library seen as an array namespace, and the backward walk that
runs the rules on it: gradients that are Values, differentiable again.

Backward rules call only `xp` names and operators. `Namespace(bk)` answers
each name a rule calls with micrograd's own differentiable op, so a rule
given Values (`g`, `out` and the inputs are the graph's nodes) builds a
graph instead of computing arrays: `backward(create_graph=True)` leaves
`.grad` as Values whose graph depends on the leaves, and the same rules give
the second derivative, the third, ... (the autodidax/JAX idea: one set of
rules, every order). A user-defined op whose rule uses only these names
gets higher derivatives too.
"""
from __future__ import annotations

from ..checks import rule_error, seed_grad
from ..engine import Value, unbroadcast
from ..promotion import constant
from . import contract, elementwise, logic, reduce, shape
from .. import linalg as _linalg

_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'


class Namespace:
    """`xp` for rules run on Values: each function is a micrograd op.
    Constants and dtypes (`xp.nan`, `xp.float32`) come from the backend;
    a function that has no differentiable counterpart here is refused by
    name (the rule that calls it has no higher derivatives)."""

    def __init__(self, bk):
        self.bk = bk
        self.is_lazy = bk.is_lazy

    def __getattr__(self, attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        found = getattr(self.bk, attr)
        if callable(found) and not isinstance(found, type):   # not a dtype
            raise AttributeError(
                f"xp.{attr}: micrograd has no differentiable '{attr}' for "
                'backward(create_graph=True); the rule that calls it '
                'cannot be differentiated again')
        return found

    # ---- elementwise -------------------------------------------------
    exp = staticmethod(elementwise.exp)
    log = staticmethod(elementwise.log)
    log1p = staticmethod(elementwise.log1p)
    expm1 = staticmethod(elementwise.expm1)
    sqrt = staticmethod(elementwise.sqrt)
    tanh = staticmethod(elementwise.tanh)
    sin = staticmethod(elementwise.sin)
    cos = staticmethod(elementwise.cos)
    abs = staticmethod(elementwise.abs)
    asin = staticmethod(elementwise.arcsin)
    asinh = staticmethod(elementwise.arcsinh)
    atanh = staticmethod(elementwise.arctanh)
    sign = staticmethod(elementwise.sign)
    sinh = staticmethod(elementwise.sinh)
    cosh = staticmethod(elementwise.cosh)
    tan = staticmethod(elementwise.tan)
    acos = staticmethod(elementwise.arccos)
    atan = staticmethod(elementwise.arctan)
    atan2 = staticmethod(elementwise.arctan2)
    hypot = staticmethod(elementwise.hypot)
    logaddexp = staticmethod(elementwise.logaddexp)
    log2 = staticmethod(elementwise.log2)
    log10 = staticmethod(elementwise.log10)
    exp2 = staticmethod(elementwise.exp2)
    floor = staticmethod(elementwise.floor)
    ceil = staticmethod(elementwise.ceil)
    remainder = staticmethod(elementwise.mod)
    maximum = staticmethod(elementwise.maximum)
    minimum = staticmethod(elementwise.minimum)
    isnan = staticmethod(logic.isnan)
    isfinite = staticmethod(logic.isfinite)
    logical_not = staticmethod(logic.logical_not)
    getitem = staticmethod(shape.getitem)

    @staticmethod
    def where(cond, x, y):
        return elementwise.where(cond, x, y)

    @staticmethod
    def keep_where(mask, g):
        return elementwise.where(mask, g, 0.0)

    @staticmethod
    def clip(x, min=None, max=None):  # noqa: A002  (the standard's names)
        return elementwise.clip(x, min, max)

    def zeros_like(self, x):
        """Zeros shaped like x: a constant (no gradient flows through)."""
        if not isinstance(x, Value):
            return self.bk.zeros_like(x)
        return constant(self.bk.zeros(tuple(x.shape), dtype=x.dtype), x)

    def astype(self, x, dtype):
        if not isinstance(x, Value):
            return self.bk.astype(x, dtype)
        return x if x.dtype == dtype else logic.astype(x, dtype)

    # ---- reductions --------------------------------------------------
    sum = staticmethod(reduce.sum)       # same signatures as the standard's
    mean = staticmethod(reduce.mean)
    max = staticmethod(reduce.max)
    min = staticmethod(reduce.min)
    prod = staticmethod(reduce.prod)

    @staticmethod
    def var(x, axis=None, correction=0.0, keepdims=False):
        return reduce.var(x, axis=axis, ddof=int(correction), keepdims=keepdims)

    @staticmethod
    def std(x, axis=None, correction=0.0, keepdims=False):
        return reduce.std(x, axis=axis, ddof=int(correction), keepdims=keepdims)

    @staticmethod
    def cumulative_sum(x, axis=None, include_initial=False):
        if axis is None:
            x, axis = shape.reshape(x, (-1,)), 0
        out = reduce.cumsum(x, axis=axis)
        return _with_initial(out, axis % x.ndim, 0) if include_initial else out

    @staticmethod
    def cumulative_prod(x, axis=None, include_initial=False):
        """The running products along `axis`, one multiplication per
        element (micrograd has no cumulative-product op)."""
        if axis is None:
            x, axis = shape.reshape(x, (-1,)), 0
        axis %= x.ndim
        parts, run = [], None
        for i in range(x.shape[axis]):
            item = x[_along(x, axis, slice(i, i + 1))]
            run = item if run is None else run * item
            parts.append(run)
        out = shape.concatenate(parts, axis=axis) if parts else x
        return _with_initial(out, axis, 1) if include_initial else out

    # ---- sorting (the order is an index: computed on the data) ----------
    def argsort(self, x, axis=-1, stable=True):
        data = x.data if isinstance(x, Value) else x
        return self.bk.argsort(data, axis=axis, stable=stable)

    def sort(self, x, axis=-1, stable=True):
        if not isinstance(x, Value):
            return self.bk.sort(x, axis=axis, stable=stable)
        return self.take_along_axis(x, self.argsort(x, axis, stable),
                                    axis=axis)

    def take_along_axis(self, x, indices, axis=-1):
        """x picked at integer `indices` (an array) along `axis`: a
        getitem with `indices` there and a range on every other axis."""
        indices = indices.data if isinstance(indices, Value) else indices
        axis %= x.ndim
        index = tuple(
            indices if a == axis else self.bk.reshape(
                self.bk.arange(x.shape[a]),
                tuple(n if b == a else 1 for b, n in enumerate(x.shape)))
            for a in range(x.ndim))
        return shape.getitem(x, index)

    # ---- shape -------------------------------------------------------
    @staticmethod
    def flip(x, axis=None):
        axes = range(x.ndim) if axis is None else (
            axis if isinstance(axis, (tuple, list)) else (axis,))
        index = [slice(None)] * x.ndim
        for a in axes:
            index[a % x.ndim] = slice(None, None, -1)
        return shape.getitem(x, tuple(index))

    def tril(self, x, k=0):
        """x's lower triangle (below diagonal k): x times a constant mask."""
        n, m = x.shape[-2:]
        mask = self.bk.tril(self.bk.ones((n, m), dtype=x.dtype), k=k)
        return x * constant(mask, x)

    @staticmethod
    def reshape(x, shape_, copy=None):
        return shape.reshape(x, shape_)

    @staticmethod
    def permute_dims(x, axes):
        return shape.transpose(x, axes)

    @staticmethod
    def matrix_transpose(x):
        axes = list(range(x.ndim))
        axes[-2:] = axes[-1], axes[-2]
        return shape.transpose(x, axes)

    @staticmethod
    def expand_dims(x, axis=0):
        return shape.expand_dims(x, axis)

    @staticmethod
    def squeeze(x, axis=None):
        return shape.squeeze(x, axis)

    @staticmethod
    def broadcast_to(x, shape_):
        return shape.broadcast_to(x, shape_)

    @staticmethod
    def concat(xs, axis=0):
        return shape.concatenate(list(xs), axis=axis)

    @staticmethod
    def stack(xs, axis=0):
        return shape.stack(list(xs), axis=axis)

    @staticmethod
    def scatter_add(shape_, index, g):
        """(an index is no variable: a Value there gives its data)"""
        index = tuple(i.data if isinstance(i, Value) else i for i in index) \
            if isinstance(index, tuple) else \
            index.data if isinstance(index, Value) else index
        return shape.scatter_add(shape_, index, g)

    # ---- contractions ------------------------------------------------
    @staticmethod
    def einsum(subscripts, *operands):
        return contract.einsum(subscripts, *operands)

    @staticmethod
    def tensordot(x, y, axes=2):
        """The standard's tensordot (axes: a count, or two lists of axes)
        as an einsum."""
        if isinstance(axes, int):
            axes = (tuple(range(x.ndim - axes, x.ndim)), tuple(range(axes)))
        ax, ay = [a % x.ndim for a in axes[0]], [a % y.ndim for a in axes[1]]
        sx, sy = list(_LETTERS[:x.ndim]), list(_LETTERS[x.ndim:x.ndim + y.ndim])
        for i, j in zip(ax, ay):
            sy[j] = sx[i]
        out = [c for i, c in enumerate(sx) if i not in ax] + \
              [c for j, c in enumerate(sy) if j not in ay]
        return contract.einsum(f"{''.join(sx)},{''.join(sy)}->{''.join(out)}",
                               x, y)


def _along(x, axis, item):
    """The index that takes `item` on `axis` and all of every other axis."""
    return (slice(None),) * axis + (item,) + (slice(None),) * (x.ndim - axis - 1)


def _with_initial(x, axis, value):
    """x with a constant slice of `value` put first along `axis`."""
    lead = tuple(1 if a == axis else n for a, n in enumerate(x.shape))
    first = constant(x.bk.full(lead, value, dtype=x.dtype), x)
    return shape.concatenate([first, x], axis=axis)


class _Linalg:
    """`xp.linalg` for rules run on Values: micrograd.linalg's ops."""
    solve = staticmethod(_linalg.solve)
    inv = staticmethod(_linalg.inv)
    det = staticmethod(_linalg.det)
    slogdet = staticmethod(_linalg.slogdet)
    cholesky = staticmethod(_linalg.cholesky)

    @staticmethod
    def vector_norm(x, axis=None, keepdims=False, ord=2):  # noqa: A002
        if ord != 2:
            raise AttributeError(f'xp.linalg.vector_norm: micrograd has no '
                                 f'differentiable ord={ord!r}')
        return _linalg.norm(x, axis=axis, keepdims=keepdims)


Namespace.linalg = _Linalg()

_NAMESPACES: dict = {}


def namespace(bk) -> Namespace:
    """The Namespace of backend `bk` (one per backend)."""
    ns = _NAMESPACES.get(id(bk))
    if ns is None:
        ns = _NAMESPACES[id(bk)] = Namespace(bk)
    return ns


def backward_graph(root: Value, seed) -> None:
    """The backward walk on Values: the rules run with `namespace(bk)` on
    the graph's nodes (`out` is the node itself), so every `.grad` is a
    Value whose graph depends on the leaves. `seed`: None (ones), an
    array, or a Value (the gradient is then differentiable in it too)."""
    topo = root.topo()
    xp = namespace(root.bk)
    for node in topo:
        node.grad = None
    if seed is None:
        seed = root.bk.ones(root._data.shape, dtype=root._data.dtype)
    elif isinstance(seed, Value) and seed.shape != root.shape:
        raise ValueError(f'backward: gradient has shape {seed.shape}, root '
                         f'has shape {root.shape}')
    root.grad = seed if isinstance(seed, Value) else constant(
        seed_grad(root, seed), root)
    node = None
    try:
        for node in reversed(topo):
            g = node.grad
            if g is None or node.op is None or not node._rg:
                continue
            parents = node.parents
            grads = node.op.backward(xp, g, node, *parents,
                                     need=tuple([p._rg for p in parents]),
                                     **node.meta)
            for parent, pg in zip(parents, grads):
                if pg is None or not parent._rg:
                    continue
                if not isinstance(pg, Value):       # a number or an array
                    pg = constant(pg, node)
                if pg.shape != parent.shape:
                    pg = unbroadcast(xp, pg, parent.shape)
                parent.grad = pg if parent.grad is None else parent.grad + pg
    except Exception as exc:
        if node is None or hasattr(exc, 'op_name'):
            raise
        raise rule_error(node, exc, 'backward(create_graph=True)') from exc
    for node in topo:
        if node.grad is None and node._rg:
            node.grad = constant(root.bk.zeros(node._data.shape,
                                               dtype=node._data.dtype), node)
