"""Fused kernels for compiled graphs (Numba, an optional extra).

    loss = micrograd.compile(loss, fuse=True)
    print(micrograd.compiled_source(loss))     # the plan, then the kernels

NumPy cannot fuse: `relu(x @ W + b)` is a pass over memory for the add and
another for the relu, and their gradients two more. On a compiled graph
whose shapes are known, each maximal group of connected elementwise nodes
of one shape (the op record's kind says `elementwise`), with the sums and
means that end it, becomes one generated loop that makes one pass over
memory: a kernel for the forward, and one for the backward that recomputes
the group's values from its inputs and writes the gradients of the
group's inputs, summing a broadcast row (a bias) over the rows as it goes.
Matrix products and every other op stay calls of their rules.

The kernels are written from the rules themselves: a rule runs once on
`KernelNamespace`, whose arrays are the scalars of one element (`Term`s that
write the line of code each operation stands for). A rule that does what
one element cannot (an `if` on a value, an index, a function missing here)
is not fused: its node stays a call. A user op with an elementwise rule
fuses like a built-in.

Each kernel is written to a file in the cache directory (named after its
source's hash) and compiled by Numba with `cache=True`, so a second run of
the same program loads it from disk instead of compiling it again.
"""
from __future__ import annotations

import hashlib
import heapq
import importlib.util
import math
import os
import re
import sys
import tempfile
import threading
import weakref

import numpy as np

from .checks import check_feeds, feed
from .chunked import NotKept
from .compile import Plan, Fit, Accumulate, _render_fit
from .executor import step_follows

JIT_HINT = ('compile(fuse=True) needs Numba; install it with '
            'pip install "micrograd[jit]"')


def _numba():
    """The numba module, or one ImportError saying how to install it."""
    try:
        import numba
    except ImportError:
        raise ImportError(JIT_HINT) from None
    return numba


class NotFusable(Exception):
    """A rule does something one element cannot express."""


# ---- the rules run on one element ------------------------------------------

class Trace:
    """The lines a traced rule writes, one per operation (`u<k> = ...`)."""

    def __init__(self, dtype=None):
        self.lines, self.count, self.dtype = [], 0, dtype

    def let(self, text: str, boolean=False) -> Term:
        name = f'u{self.count}'
        self.count += 1
        self.lines.append(f'{name} = {text}')
        return Term(self, name, boolean)


class Dim(int):
    """A size of a kernel's loop as its rules see it in a Term's shape: an
    int that writes itself as the loop's size (`n0`), and so do products of
    them (a mean's count, `n0 * n1`). Kernels then serve any such size."""

    def __new__(cls, value, text):
        dim = super().__new__(cls, value)
        dim.text = text
        return dim

    def __mul__(self, other):
        if isinstance(other, Dim):
            return Dim(int(self) * int(other), f'{self.text} * {other.text}')
        if isinstance(other, int) and not isinstance(other, bool):
            return self if other == 1 else Dim(int(self) * other,
                                               f'{self.text} * {other}')
        return NotImplemented

    __rmul__ = __mul__


def _named(shape, loop) -> tuple:
    """`shape` (broadcast against the loop's) with each size that is the
    loop's as a Dim named after it."""
    off = len(loop) - len(shape)
    return tuple(Dim(n, f'n{off + d}') if n != 1 and n == loop[off + d]
                 else n for d, n in enumerate(shape))


def _literal(x) -> str:
    """A number as kernel source of the kernel's float type F."""
    if isinstance(x, Dim):
        return f'F({x.text})'
    if isinstance(x, (bool,)) or type(x).__name__ == 'bool_':
        return 'True' if x else 'False'
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise NotFusable(f'{type(x).__name__} in a rule') from None
    if math.isnan(value):
        return 'F(np.nan)'
    if math.isinf(value):
        return 'F(np.inf)' if value > 0 else 'F(-np.inf)'
    return f'F({value!r})'


def _num(x) -> str:
    """x as a float operand (a boolean Term becomes F(b))."""
    if isinstance(x, Term):
        return f'F({x.text})' if x.boolean else x.text
    if isinstance(x, Reduced):
        raise NotFusable('arithmetic on a reduction')
    return _literal(x)


def _trace_of(*xs) -> Trace:
    for x in xs:
        if isinstance(x, Term):
            return x.trace
    raise NotFusable('no element in an operation')


def _binary(symbol):
    def op(self, other):
        return self.trace.let(f'{_num(self)} {symbol} {_num(other)}')

    def rop(self, other):
        return self.trace.let(f'{_num(other)} {symbol} {_num(self)}')
    return op, rop


def _compare(symbol):
    def op(self, other):
        return self.trace.let(f'{_num(self)} {symbol} {_num(other)}', True)
    return op


class Term:
    """One element of an array inside a kernel: a local variable's name.
    Operators write a line and return the Term of its result; `shape`,
    `ndim` and `dtype` are those of the array it stands for."""
    __array_ufunc__ = None          # NumPy scalars defer to the operators
    shape, ndim, dtype = (), 0, None

    def __init__(self, trace: Trace, text: str, boolean=False):
        self.trace, self.text, self.boolean = trace, text, boolean
        self.dtype = trace.dtype

    __add__, __radd__ = _binary('+')
    __sub__, __rsub__ = _binary('-')
    __mul__, __rmul__ = _binary('*')
    __truediv__, __rtruediv__ = _binary('/')
    __pow__, __rpow__ = _binary('**')
    __lt__, __le__ = _compare('<'), _compare('<=')
    __gt__, __ge__ = _compare('>'), _compare('>=')
    __eq__, __ne__ = _compare('=='), _compare('!=')
    __hash__ = object.__hash__

    def __neg__(self):
        return self.trace.let(f'-{_num(self)}')

    def __pos__(self):
        return self

    def __abs__(self):
        return self.trace.let(f'np.abs({_num(self)})')

    def __and__(self, other):
        return self.trace.let(f'{_bool(self)} and {_bool(other)}', True)

    def __or__(self, other):
        return self.trace.let(f'{_bool(self)} or {_bool(other)}', True)

    def __invert__(self):
        return self.trace.let(f'not {_bool(self)}', True)

    def __bool__(self):
        raise NotFusable('a branch on a value')

    def __iter__(self):
        raise NotFusable('iterating over an element')


def _bool(x) -> str:
    if isinstance(x, Term):
        return x.text if x.boolean else f'{x.text} != 0'
    return 'True' if x else 'False'


class Reduced:
    """What xp.sum / xp.mean of a Term returns: a reduction that ends a
    group (the kernel adds the element up; nothing else may use it)."""

    def __init__(self, how: str, term: Term, axis, keepdims):
        self.how, self.term, self.axis = how, term, axis
        self.keepdims = keepdims


def _unary(function, boolean=False):
    def call(self, x):
        if not isinstance(x, Term):
            raise NotFusable('a function of constants')
        return x.trace.let(f'np.{function}({_num(x)})', boolean)
    call.__name__ = function
    return call


def _binary_function(function):
    def call(self, x, y):
        return _trace_of(x, y).let(f'np.{function}({_num(x)}, {_num(y)})')
    call.__name__ = function
    return call


class KernelNamespace:
    """The array namespace the rules see while a kernel is written: its
    functions take and return Terms (one element), so that running a
    rule writes its code. A name that is missing means "not fusable"."""
    import numpy as _np
    float32, float64, bool = _np.float32, _np.float64, _np.bool_
    nan, inf, pi, e = _np.nan, _np.inf, _np.pi, _np.e
    is_lazy = False
    del _np

    for _name in ('exp', 'log', 'log1p', 'expm1', 'sqrt', 'tanh', 'sin',
                  'cos', 'tan', 'sinh', 'cosh', 'log2', 'log10', 'floor',
                  'ceil', 'trunc', 'sign', 'abs', 'square', 'negative',
                  'arcsin', 'arccos', 'arctan', 'arcsinh', 'arccosh',
                  'arctanh', 'exp2', 'reciprocal'):
        locals()[_name] = _unary(_name)
    for _name, _as in (('asin', 'arcsin'), ('acos', 'arccos'),
                       ('atan', 'arctan'), ('asinh', 'arcsinh'),
                       ('acosh', 'arccosh'), ('atanh', 'arctanh')):
        locals()[_name] = _unary(_as)
    for _name in ('isnan', 'isinf', 'isfinite'):
        locals()[_name] = _unary(_name, boolean=True)
    for _name in ('maximum', 'minimum', 'hypot', 'arctan2', 'logaddexp',
                  'copysign', 'remainder', 'fmod', 'power'):
        locals()[_name] = _binary_function(_name)
    atan2, pow = locals()['arctan2'], locals()['power']
    del _name, _as

    def where(self, condition, x, y):
        trace = _trace_of(condition, x, y)
        return trace.let(f'{_num(x)} if {_bool(condition)} else {_num(y)}')

    def clip(self, x, lo=None, hi=None):
        if lo is not None:
            x = self.maximum(x, lo)
        return x if hi is None else self.minimum(x, hi)

    def logical_not(self, x):
        return _trace_of(x).let(f'not {_bool(x)}', True)

    def logical_and(self, x, y):
        return _trace_of(x, y).let(f'{_bool(x)} and {_bool(y)}', True)

    def logical_or(self, x, y):
        return _trace_of(x, y).let(f'{_bool(x)} or {_bool(y)}', True)

    def astype(self, x, dtype, copy=True):
        if not isinstance(x, Term):
            raise NotFusable('astype of a constant')
        if getattr(dtype, 'kind', None) == 'b' or dtype is bool:
            return x.trace.let(_bool(x), True)
        if x.trace.dtype is None or str(self._np_dtype(dtype)) != \
                x.trace.dtype:
            raise NotFusable(f'astype to {dtype}')
        return x.trace.let(_num(x))

    @staticmethod
    def _np_dtype(dtype):
        import numpy
        return numpy.dtype(dtype)

    def reshape(self, x, shape, copy=None):
        return x

    def broadcast_to(self, x, shape):
        return x

    def expand_dims(self, x, axis=0):
        return x

    def asarray(self, x, dtype=None, copy=None):
        if isinstance(x, Term):
            return x
        raise NotFusable('an array constant')

    def zeros_like(self, x, dtype=None):
        return _trace_of(x).let('F(0.0)')

    def ones_like(self, x, dtype=None):
        return _trace_of(x).let('F(1.0)')

    def sum(self, x, axis=None, keepdims=False, dtype=None):
        return Reduced('sum', x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return Reduced('mean', x, axis, keepdims)


XP = KernelNamespace()


# ---- groups: which nodes fuse ----------------------------------------------

class Group:
    """Nodes fused into one kernel: `members` (graph order), of which
    `sinks` are reductions ending it; `shape`: the loop's shape (that of
    every elementwise member); `inputs`: the nodes outside it that it
    reads; `outputs`: the members used outside it (or the root)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype
        self.members, self.sinks, self.inputs, self.outputs = [], set(), [], []
        self.baked = {}         # number constants read: their literals
        self.taped = None       # see taped()


def _float_dtype(array):
    dtype = getattr(array, 'dtype', None)
    return str(dtype) if str(dtype) in ('float32', 'float64') else None


def _traces(node, trace_backward, dtype, shapes) -> bool:
    """Whether the node's rules can be written for one element (`shapes`:
    the node's, then its parents')."""
    trace = Trace(dtype)

    def term(name, shape):
        t = Term(trace, name)
        t.shape, t.ndim = shape, len(shape)
        return t
    try:
        ins = [term(f'x{k}', s) for k, s in enumerate(shapes[1:])]
        out = node.op.forward(XP, *ins, **node.meta)
        if node.op.kind == 'reduce':
            if not (isinstance(out, Reduced) and out.term is ins[0]):
                return False
            out = term('o', shapes[0])
        elif not isinstance(out, Term) or out.boolean:
            return False
        else:
            out = term('o', shapes[0])
        if trace_backward:
            need = tuple(p.requires_grad for p in node.parents)
            grads = node.op.backward(XP, term('g', shapes[0]), out, *ins,
                                     need=need, **node.meta)
            if len(grads) != len(ins):
                return False
            for flag, grad in zip(need, grads):
                if flag and not (isinstance(grad, Term) and not grad.boolean
                                 or isinstance(grad, (int, float))):
                    return False
    except Exception:           # noqa: BLE001  any failure: stays a call
        return False
    return True


# Members a group holds at most: Numba's compile time grows faster than
# the function's length (a 1,500-op chain in one kernel takes minutes).
MAX_MEMBERS = 48


def number_constant(node, value) -> bool:
    """A 0-d constant made from a Python number by an operator (`y * 2.0`):
    written into the kernel as a literal, not passed in."""
    return (node.op is None and node.name is None and not node.requires_grad
            and getattr(node, '_version', 0) == -1 and
            getattr(value, 'shape', None) == () and
            _float_dtype(value) is not None)


def partition(topo, index, values, lone_reductions=False) -> list:
    """The groups of the graph for these node values (shapes, dtypes).
    `lone_reductions`: a sum or mean that ends no group makes one of its
    own (in a whole step, where it would otherwise be a call)."""
    group_of, groups = {}, []

    def depends_on(j, group) -> bool:
        """Whether node j (outside `group`) depends on a member of it."""
        low = group.members[0]
        stack, seen = [j], set()
        while stack:
            k = stack.pop()
            for p in topo[k].parents:
                q = index[id(p)]
                if q < low or q in seen:
                    continue
                if group_of.get(q) is group:
                    return True
                seen.add(q)
                stack.append(q)
        return False

    for i, node in enumerate(topo):
        op = node.op
        if op is None or op.kind not in ('elementwise', 'reduce'):
            continue
        dtype = _float_dtype(values[i])
        parents = [index[id(p)] for p in node.parents]
        if dtype is None or any(_float_dtype(values[j]) != dtype
                                for j in parents):
            continue
        shape = tuple(values[i].shape)
        shapes = [shape, *[tuple(values[j].shape) for j in parents]]
        if op.kind == 'reduce':
            if len(parents) != 1:
                continue
            group = group_of.get(parents[0])
            if not _traces(node, node.requires_grad, dtype, shapes):
                continue
            if (group is None or parents[0] in group.sinks or
                    len(group.members) >= MAX_MEMBERS or
                    tuple(values[parents[0]].shape) != group.shape):
                if not lone_reductions:
                    continue
                group = Group(tuple(values[parents[0]].shape), dtype)
                groups.append(group)
            group.members.append(i)
            group.sinks.add(i)
            group_of[i] = group
            continue
        if any(len(values[j].shape) > len(shape) for j in parents) or \
                not _traces(node, node.requires_grad, dtype, shapes):
            continue
        chosen = None
        for j in parents:
            group = group_of.get(j)
            if (group is not None and j not in group.sinks and
                    group.shape == shape and group.dtype == dtype and
                    len(group.members) < MAX_MEMBERS and
                    not any(group_of.get(k) is not group and
                            depends_on(k, group) for k in parents)):
                chosen = group
                break
        if chosen is None:
            chosen = Group(shape, dtype)
            groups.append(chosen)
        chosen.members.append(i)
        group_of[i] = chosen
    last = len(topo) - 1
    for group in groups:
        members = set(group.members)
        for i in group.members:
            for p in topo[i].parents:
                j = index[id(p)]
                if j in members or j in group.inputs or j in group.baked:
                    continue
                if number_constant(p, values[j]):
                    group.baked[j] = _literal(values[j][()])
                else:
                    group.inputs.append(j)
    consumers = {}
    for i, node in enumerate(topo):
        for p in node.parents:
            consumers.setdefault(index[id(p)], []).append(i)
    for group in groups:
        group.outputs = [i for i in group.members if i == last or any(
            group_of.get(c) is not group for c in consumers.get(i, ()))]
    return groups, group_of


def units(topo, index, group_of) -> list:
    """The forward's order of work: op nodes and groups (a group runs once
    all of its inputs are ready), near the graph's own order."""
    unit_of, deps = {}, {}
    for i, node in enumerate(topo):
        if node.op is None:
            continue
        unit = group_of.get(i, i)
        key = id(unit) if not isinstance(unit, int) else i
        unit_of[i] = key
        deps.setdefault(key, [unit, i, set()])
    for i, node in enumerate(topo):
        if node.op is None:
            continue
        for p in node.parents:
            j = index[id(p)]
            if j in unit_of and unit_of[j] != unit_of[i]:
                deps[unit_of[i]][2].add(unit_of[j])
    waiting = {k: len(d[2]) for k, d in deps.items()}
    users = {}
    for k, d in deps.items():
        for j in d[2]:
            users.setdefault(j, []).append(k)
    ready = [(d[1], k) for k, d in deps.items() if not waiting[k]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, k = heapq.heappop(ready)
        order.append(deps[k][0])
        for u in users.get(k, ()):
            waiting[u] -= 1
            if not waiting[u]:
                heapq.heappush(ready, (deps[u][1], u))
    return order


# ---- kernels ---------------------------------------------------------------

def _index(shape, loop) -> str:
    """The element of an array of `shape` (broadcast against the loop's
    shape) that loop index i0, i1, ... reads."""
    off = len(loop) - len(shape)
    parts = ['0' if n == 1 else f'i{off + d}' for d, n in enumerate(shape)]
    return f'[{", ".join(parts)}]' if parts else '[()]'


def _dims(shape, loop) -> str:
    """The shape of such an array, in the loop's sizes n0, n1, ..."""
    off = len(loop) - len(shape)
    parts = ['1' if n == 1 else f'n{off + d}' for d, n in enumerate(shape)]
    return f'({", ".join(parts)}{"," if len(parts) == 1 else ""})'


def _reduced(node, loop):
    """(index, shape) of a reduction's output in the loop's terms."""
    axis, keep = node.meta['axis'], node.meta['keepdims']
    index = [('0' if a in axis else f'i{a}') for a in range(len(loop))
             if keep or a not in axis]
    shape = [('1' if a in axis else f'n{a}') for a in range(len(loop))
             if keep or a not in axis]
    count = ' * '.join(f'n{a}' for a in axis) or '1'
    return (f'[{", ".join(index)}]' if index else '[()]',
            f'({", ".join(shape)}{"," if len(shape) == 1 else ""})', count)


def _name(topo, group) -> str:
    names = []
    for i in group.members:
        name = ''.join(c if c.isalnum() else '_' for c in topo[i].op.name)
        if name not in names:
            names.append(name)
    return 'fused_' + '_'.join(names)[:60]


class KernelWriter:
    """The source of one group's forward or backward kernel."""

    def __init__(self, topo, index, values, group):
        self.topo, self.index, self.group = topo, index, group
        self.values = values
        self.loop = group.shape
        self.trace = Trace(group.dtype)
        self.params = [f'n{a}' for a in range(len(self.loop))]
        self.head, self.body, self.tail = [], [], []
        self.terms = {}

    def load(self, j, prefix='a'):
        """Term of external node j's element (a parameter a<k>)."""
        name = f'{prefix}{len(self.params)}'
        self.params.append(name)
        shape = tuple(self.values[j].shape)
        term = self.trace.let(f'{name}{_index(shape, self.loop)}')
        term.shape, term.ndim = _named(shape, self.loop), len(shape)
        term.dtype = self.values[j].dtype
        return term

    def node_term(self, i, result) -> Term:
        term = self.trace.let(_num(result))
        value = self.values[i]
        term.shape, term.ndim, term.dtype = (
            _named(tuple(value.shape), self.loop), len(value.shape),
            value.dtype)
        return term

    def forward_terms(self, tape=None, taped=None):
        """Load the inputs and write every member's forward (sinks: their
        Reduced). `tape` 'write': also store the values of the members
        `taped` in the array `tp`, plane k for taped[k] (a whole step's
        forward); 'read': load those from it instead of computing them
        again (its backward). Returns the number of planes."""
        for j in self.group.inputs:
            self.terms[j] = self.load(j)
        for j, literal in self.group.baked.items():
            self.terms[j] = self.trace.let(literal)
        at = ''.join(f', i{a}' for a in range(len(self.loop)))
        plane = {i: k for k, i in enumerate(taped or ())}
        self.loads = {}         # taped member -> the name its load got
        for i in self.group.members:
            node = self.topo[i]
            args = [self.terms[self.index[id(p)]] for p in node.parents]
            if i in self.group.sinks:
                self.terms[i] = node.op.forward(XP, *args, **node.meta)
                continue
            if tape == 'read' and i in plane:
                load = self.trace.let(f'tp[{plane[i]}{at}]')
                self.loads[i] = load.text
                self.terms[i] = self.node_term(i, load)
                continue
            self.terms[i] = self.node_term(
                i, node.op.forward(XP, *args, **node.meta))
            if tape == 'write' and i in plane:
                self.body.append(f'tp[{plane[i]}{at}] = {self.terms[i].text}')
        return len(plane)

    def read(self) -> set:
        """The names (u<k>) that the kernel's stores use, directly or
        through other lines: the rest is dead code."""
        live = set()
        for line in self.body:
            live.update(re.findall(r'\bu\d+\b', line))
        for line in reversed(self.trace.lines):
            name, _, text = line.partition(' = ')
            if name in live:
                live.update(re.findall(r'\bu\d+\b', text))
        return live

    def finish(self, out, total, count):
        """After the loop: `out` = the float64 `total` / count, in F."""
        self.tail += [f'{out} = np.empty({total}.shape, F)',
                      f'{out}_, {total}_ = {out}.reshape({out}.size), '
                      f'{total}.reshape({total}.size)',
                      f'for q in range({total}.size):',
                      f'    {out}_[q] = F({total}_[q] / ({count}))']

    def source(self, name, outputs) -> str:
        loop = self.loop
        lines = [f'@numba.njit(cache=True, nogil=True, error_model="numpy")',
                 f'def {name}({", ".join(self.params)}):', *self.head]
        depth = 1
        for a in range(len(loop)):
            lines.append('    ' * depth + f'for i{a} in range(n{a}):')
            depth += 1
        lines += ['    ' * depth + line for line in self.trace.lines]
        lines += ['    ' * depth + line for line in self.body]
        lines += ['    ' + line for line in self.tail]
        lines.append(f'    return ({"".join(o + ", " for o in outputs)})')
        return '\n'.join(lines)


def forward_kernel(topo, index, values, group, name, tape=False):
    """Source of the group's forward: returns its outputs' arrays (`tape`:
    and the values of the members its backward reads, `taped(...)`)."""
    w = KernelWriter(topo, index, values, group)
    planes = w.forward_terms('write' if tape else None,
                             taped(topo, index, values, group) if tape else ())
    outs = []
    if tape:
        dims = ''.join(f', n{a}' for a in range(len(w.loop)))
        w.head.append(f'    tp = np.empty(({planes}{dims}), F)')
    for k, i in enumerate(group.outputs):
        o = f'o{k}'
        if i in group.sinks:
            red = w.terms[i]
            at, shape, count = _reduced(topo[i], w.loop)
            w.head.append(f'    r{k} = np.zeros({shape}, np.float64)')
            w.body.append(f'r{k}{at} += {_num(red.term)}')
            w.finish(o, f'r{k}', count if red.how == 'mean' else '1')
        else:
            w.head.append(f'    {o} = np.empty({_dims(w.loop, w.loop)}, F)')
            w.body.append(f'{o}{_index(w.loop, w.loop)} = '
                          f'{w.terms[i].text}')
        outs.append(o)
    return w.source(name + '_forward', outs + ['tp'] * tape)


def backward_kernel(topo, index, values, group, name, reached, tape=False):
    """Source of the group's backward, given the outputs whose gradient
    arrives from outside (`reached`, in this order): returns the gradients
    of the inputs that need one, and their node indices. `tape`: the
    values of the members it reads come from the forward's tape (its last
    parameter) instead of being computed again."""
    w, outs, parents = _backward(topo, index, values, group, reached, taped(
        topo, index, values, group) if tape else None)
    return w.source(name + '_backward', outs), parents


def _backward(topo, index, values, group, reached, tape):
    """backward_kernel's writer (members in the list `tape` loaded from
    it), its outputs and their nodes."""
    w = KernelWriter(topo, index, values, group)
    w.forward_terms('read' if tape is not None else None, tape)
    grads = {}                  # member -> its gradient's Terms so far
    for i in reached:
        node = topo[i]
        if i in group.sinks:
            at, _, _ = _reduced(node, w.loop)
            g = f'g{len(w.params)}'
            w.params.append(g)
            grads[i] = [w.trace.let(f'{g}{at}')]
            o = f's{len(w.params)}'
            w.params.append(o)
            w.terms[i] = w.node_term(i, w.trace.let(f'{o}{at}'))
        else:
            grads[i] = [w.load(i, 'g')]
    contributions = {}
    members = set(group.members)
    for i in reversed(group.members):
        node = topo[i]
        if not grads.get(i) or not node.requires_grad:
            continue
        g = grads[i][0]
        for more in grads[i][1:]:
            g = g + more
        g = w.node_term(i, g)
        parents = [index[id(p)] for p in node.parents]
        need = tuple(p.requires_grad for p in node.parents)
        results = node.op.backward(XP, g, w.terms[i],
                                   *[w.terms[j] for j in parents],
                                   need=need, **node.meta)
        for j, flag, t in zip(parents, need, results):
            if not flag or t is None:
                continue
            if not isinstance(t, Term):
                t = w.trace.let(_num(t))
            (grads if j in members else contributions).setdefault(
                j, []).append(t)
    outs, parents = [], []
    for j in group.inputs:
        if j not in contributions:
            continue
        total = contributions[j][0]
        for more in contributions[j][1:]:
            total = total + more
        shape = tuple(values[j].shape)
        o, r = f'b{len(outs)}', f'r{len(outs)}'
        if shape == w.loop:
            w.head.append(f'    {o} = np.empty({_dims(shape, w.loop)}, F)')
            w.body.append(f'{o}{_index(shape, w.loop)} = {_num(total)}')
        else:
            w.head.append(f'    {r} = np.zeros({_dims(shape, w.loop)}, '
                          'np.float64)')
            w.body.append(f'{r}{_index(shape, w.loop)} += {_num(total)}')
            w.finish(o, r, '1')
        outs.append(o)
        parents.append(j)
    if tape is not None:
        w.params.append('tp')
    return w, outs, parents


def taped(topo, index, values, group) -> list:
    """The members whose values a whole step's backward of the group uses
    (with a gradient arriving at every output): the forward stores only
    those on its tape."""
    if group.taped is None:
        every = [i for i in group.members if i not in group.sinks]
        w, _, _ = _backward(topo, index, values, group, group.outputs, every)
        used = w.read()
        group.taped = [i for i in every if w.loads[i] in used]
    return group.taped


MODULE_HEAD = '''\
# micrograd fused kernels (generated)
import numba
import numpy as np

F = np.{dtype}



'''

_modules, _modules_lock = {}, threading.Lock()


def cache_dir() -> str:
    """Where kernels' sources (and Numba's compiled code beside them) are
    kept: $MICROGRAD_CACHE, else ~/.cache/micrograd/fused (or a temporary
    directory if that cannot be written)."""
    path = os.environ.get('MICROGRAD_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or
        os.path.join(os.path.expanduser('~'), '.cache'), 'micrograd', 'fused')
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = os.path.join(tempfile.gettempdir(), 'micrograd-fused')
    os.makedirs(path, exist_ok=True)
    return path


def load_kernel(source: str, name: str, dtype: str):
    """The kernel `name` of `source`, from a module file named after the
    source's hash (written once; Numba caches its machine code beside)."""
    text = MODULE_HEAD.format(dtype=dtype) + source + '\n'
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    with _modules_lock:
        plain = _numba().config.DISABLE_JIT      # kernels run as Python
        module = _modules.get((digest, plain))
        if module is None:
            path = os.path.join(cache_dir(), f'mgk_{digest}.py')
            if not os.path.exists(path):
                temp = f'{path}.{os.getpid()}.{threading.get_ident()}'
                with open(temp, 'w') as f:
                    f.write(text)
                os.replace(temp, path)
            spec = importlib.util.spec_from_file_location(
                f'micrograd_fused_{digest}{"_plain" if plain else ""}', path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            _modules[digest, plain] = module
    return getattr(module, name)


# ---- the whole step of a small graph ----------------------------------------
# Where every array of a graph is small, the time of a step is the calls,
# not the arithmetic: forward and backward then run as one generated Numba
# function (`fused_step`), which calls the groups' kernels and does the few
# other ops (matrix products through BLAS, reshapes, transposes) itself. Any
# other op (or no SciPy, which Numba's BLAS calls need), or a larger graph,
# keeps the step above: kernels called from Python.

WHOLE_ELEMENTS = 1 << 16        # every array at most this many elements

MM_SOURCE = '''\
@numba.njit(cache=True, nogil=True, error_model="numpy")
def mm(a, b):
    """a (m, k) @ b (k, n): BLAS (through SciPy's bindings)."""
    return np.dot(a, b)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def small_mm(a, b):
    """a (m, k) @ b (k, n) by loops, each c[i, j] summed over k in order:
    the first two terms at once, then four a pass, j innermost."""
    m, k = a.shape
    n = b.shape[1]
    if k == 0:
        return np.zeros((m, n), a.dtype)
    c = np.empty((m, n), a.dtype)
    for i in range(m):
        x0 = a[i, 0]
        if k == 1:
            for j in range(n):
                c[i, j] = x0 * b[0, j]
        else:
            x1 = a[i, 1]
            for j in range(n):
                c[i, j] = x0 * b[0, j] + x1 * b[1, j]
        p = 2
        while p + 4 <= k:
            x0, x1, x2, x3 = a[i, p], a[i, p + 1], a[i, p + 2], a[i, p + 3]
            for j in range(n):
                c[i, j] = (c[i, j] + x0 * b[p, j] + x1 * b[p + 1, j]
                           + x2 * b[p + 2, j] + x3 * b[p + 3, j])
            p += 4
        for p in range(p, k):
            x0 = a[i, p]
            for j in range(n):
                c[i, j] += x0 * b[p, j]
    return c


@numba.njit(cache=True, nogil=True, error_model="numpy")
def column_mm(a, b):
    """a (m, k) @ b (k, 1) as small_mm, i innermost."""
    m, k = a.shape
    if k == 0:
        return np.zeros((m, 1), a.dtype)
    c = np.empty((m, 1), a.dtype)
    x0 = b[0, 0]
    if k == 1:
        for i in range(m):
            c[i, 0] = a[i, 0] * x0
    else:
        x1 = b[1, 0]
        for i in range(m):
            c[i, 0] = a[i, 0] * x0 + a[i, 1] * x1
    p = 2
    while p + 4 <= k:
        x0, x1, x2, x3 = b[p, 0], b[p + 1, 0], b[p + 2, 0], b[p + 3, 0]
        for i in range(m):
            c[i, 0] = (c[i, 0] + a[i, p] * x0 + a[i, p + 1] * x1
                       + a[i, p + 2] * x2 + a[i, p + 3] * x3)
        p += 4
    for p in range(p, k):
        x0 = b[p, 0]
        for i in range(m):
            c[i, 0] += a[i, p] * x0
    return c
'''

# A thin product (few rows or a short sum: min(m, k) at most THIN, and at
# most LOOP_PRODUCT multiplications) costs less by loops than by a BLAS
# call, whose own overhead is a microsecond or more; the others, larger or
# square (16 x 16 blocks), go faster through BLAS. The loops are given
# C-ordered operands only (a transposed one is copied: one compiled
# signature per dtype, a second costs a second or two of compile time).
THIN, LOOP_PRODUCT = 2, 1 << 14


def _contiguous(x, shape) -> str:
    return f'np.ascontiguousarray({x}).reshape({tuple(shape)!r})'


def _permuted(x, axes) -> str:
    if axes == tuple(range(len(axes))):     # 0-d and 1-d: x itself
        return x
    return f'np.ascontiguousarray(np.transpose({x}, {axes!r}))'


def _blas() -> bool:
    """Can generated code call BLAS? (Numba's np.dot needs SciPy.)"""
    return importlib.util.find_spec('scipy') is not None


def _product(m, k, n) -> str:
    """The function computing an (m, k) @ (k, n) product inside
    `fused_step`: `small_mm` or `column_mm` (loops) for a thin one, else
    `mm` (BLAS); raises NotFusable for a product that needs BLAS without
    SciPy."""
    if min(m, k) <= THIN and m * k * n <= LOOP_PRODUCT:
        return 'column_mm' if n == 1 else 'small_mm'
    if _blas():
        return 'mm'
    raise NotFusable(f'a ({m}, {k}) @ ({k}, {n}) product without SciPy in '
                     'a whole step')


def _sizes(shape, in_step) -> list:
    """A kernel's loop sizes as arguments. Inside fused_step, those of a
    loop over more than UNROLLED elements are run-time integers
    (`np.intp(100)`): given literals, Numba compiles the kernel for those
    constants, and LLVM unrolls the inner loop fully and leaves it scalar
    (W2's 100 x 16 kernels took 2.5 times as long in float32). A shorter
    loop keeps its literals: unrolled, it costs less than a vectorised
    loop's checks (W3's kernels over 16 elements, twice as fast)."""
    if in_step and math.prod(shape) > UNROLLED:
        return [f'np.intp({n})' for n in shape]
    return [str(n) for n in shape]


UNROLLED = 64


def _transposed(x, mm) -> str:
    """x.T as an operand of `mm`: a view for BLAS, a copy for loops."""
    return f'{x}.T' if mm == 'mm' else f'np.ascontiguousarray({x}.T)'


def step_forward(node, args, shape, shapes) -> str:
    """The expression computing an op node that is no kernel, inside
    `fused_step` (`shape`: the node's, `shapes`: its parents'); raises
    NotFusable for an op it cannot write."""
    name = node.op.name
    if name == 'matmul' and len(shapes[0]) == 2 and \
            len(shapes[1]) in (1, 2):
        m, k = shapes[0]
        if len(shapes[1]) == 1:             # (m, k) @ (k,): a column
            mm = _product(m, k, 1)
            return _contiguous(f'{mm}({args[0]}, '
                               f'{_contiguous(args[1], (k, 1))})', shape)
        return f'{_product(m, k, shapes[1][1])}({args[0]}, {args[1]})'
    if name in ('reshape', 'expand_dims', 'squeeze'):
        return _contiguous(args[0], shape)
    if name == 'transpose':
        return _permuted(args[0], tuple(node.meta['axes']))
    raise NotFusable(f'{name} in a whole step')


def step_backward(node, g, args, need, shape, shapes) -> list:
    """The expressions of the gradients of an op node that is no kernel
    (None where not needed), inside `fused_step`."""
    name = node.op.name
    if name == 'matmul':                    # g @ y.T and x.T @ g
        x, y = args
        (m, k), n = shapes[0], (*shapes[1], 1)[1]
        gy = _product(m, n, k) if need[0] else None
        xg = _product(k, m, n) if need[1] else None
        if len(shapes[1]) == 1:             # y a column, g (m,) too
            g, y = _contiguous(g, (m, 1)), _contiguous(y, (k, 1))
            return [f'{gy}({g}, {_transposed(y, gy)})' if need[0] else None,
                    _contiguous(f'{xg}({_transposed(x, xg)}, {g})', (k,))
                    if need[1] else None]
        return [f'{gy}({g}, {_transposed(y, gy)})' if need[0] else None,
                f'{xg}({_transposed(x, xg)}, {g})' if need[1] else None]
    if name == 'check_values':
        return [g]
    if name == 'transpose':
        axes = node.meta['axes']
        return [_permuted(g, tuple(sorted(range(len(axes)),
                                          key=axes.__getitem__)))]
    return [_contiguous(g, shapes[0])]      # reshape, expand_dims, squeeze


def _loops(shape) -> list:
    """The heads of nested loops over `shape` (indices i0, i1, ...), at
    fused_step's indentation; their body goes 4 * (len(shape) + 1) in."""
    return [f'    {"    " * a}for i{a} in range({n}):'
            for a, n in enumerate(shape)]


def _fill_loop(target, source, shape) -> list:
    """Lines writing array `source` (None: zeros) into `target`, both of
    `shape` (a loop: Numba compiles `target[...] = source` slowly)."""
    at = _index(shape, shape)
    value = f'{source}{at}' if source is not None else 'F(0.0)'
    return _loops(shape) + [f'    {"    " * len(shape)}{target}{at} = {value}']


def update_loop(optimiser, j, target, grad, buffers, scalars, shape,
                dtype) -> list:
    """The lines (inside fused_step) that move parameter j, array `target`,
    in place: `optimiser.rule` run on one element (Terms), in a loop over
    the parameter's shape; `buffers` (its state arrays) move with it."""
    trace = Trace(dtype)
    at = _index(shape, shape)
    w, g, *state = [trace.let(f'{a}{at}') for a in (target, grad, *buffers)]
    new = optimiser.rule(XP, w, g, [Term(trace, r) for r in scalars],
                         optimiser.decay[j], *state)
    if len(new) != 1 + len(buffers):
        raise NotFusable(f'{optimiser.name}.rule returns {len(new)} arrays')
    body = trace.lines + [f'{a}{at} = {_num(t)}'
                          for a, t in zip((target, *buffers), new)]
    return _loops(shape) + [f'    {"    " * len(shape)}{line}'
                            for line in body]


# ---- the fused plan ---------------------------------------------------------

class InKernel(NotKept):
    """What a node inside a fused kernel holds: its data never leaves the
    kernel. Reading it raises."""
    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise ValueError(
            f"the data of this '{self.op}' node is not kept: it lives inside "
            'a fused kernel (compile(fuse=True)); compile without fuse to '
            'look at it')

    def __repr__(self):
        return f'<{self.op} data inside a fused kernel>'


for _attr, _rule in list(vars(NotKept).items()):   # operators refuse too
    if _rule is NotKept._refuse:
        setattr(InKernel, _attr, InKernel._refuse)
del _attr, _rule


class FusedPlan(Plan):
    """A compiled plan whose specialised code (per leaf shapes) calls a
    fused kernel for each group of elementwise nodes, and the rules
    for the rest (see the module's docstring)."""

    def __init__(self, root):
        _numba()
        super().__init__(root)
        self.forward_for_shapes = {}
        self.whole_for_shapes = {}      # leaf shapes -> whole step or None
        self.shapes_for = {}            # leaf shapes -> the edges' shapes
        # id(optimiser) -> (weakref to it, {(leaf shapes, its settings):
        # whole step moving its parameters, or None})
        self.updates = {}
        self.has_grads = False          # did the last forward fill them?
        self.inner_kept = True          # do inner nodes hold their data?
        self.whole_source = ''
        self.kernel_source = {}         # kernel name -> its source
        self.named = [i for i, n in enumerate(self.topo)
                      if n.op is None and n.name is not None]

    def rebuild(self):
        return FusedPlan(self.root)

    def _signature_source(self):
        """As Plan's, without the number constants (their shape is fixed:
        a W3 step would read a thousand of them three times)."""
        lines = []
        for from_feeds in (False, True):
            items = [f'feeds[{n.name!r}].shape'
                     if from_feeds and n.name is not None
                     else f'N[{i}]._data.shape'
                     for i, n in enumerate(self.topo) if n.op is None and
                     not number_constant(n, n.data)]
            lines.append(f'def {"step_" if from_feeds else ""}signature('
                         f'{"feeds" if from_feeds else ""}):\n'
                         f'    return ({"".join(s + ", " for s in items)})')
        return '\n\n'.join(lines)

    def source(self) -> str:
        return '\n\n'.join(filter(None, [
            super().source(), getattr(self, 'forward_source', ''),
            *self.kernel_source.values(), self.whole_source]))

    def _values(self, feeds=None):
        """Every node's data, computed by the rules from the leaves (named
        leaves from `feeds` when given)."""
        values = []
        for node in self.topo:
            if node.op is None:
                values.append(feeds[node.name] if feeds is not None and
                              node.name is not None else node.data)
            else:
                values.append(node.op.forward(
                    self.root.bk, *[values[self.index[id(p)]]
                                    for p in node.parents], **node.meta))
        return values

    def forward(self, feeds, grads=False):
        if 'signature' not in self.__dict__:
            with self._lock:
                self._signatures()
        topo = self.topo
        if feeds:
            check_feeds(topo, feeds)
        for i in self.named:
            feed(topo[i], feeds)
        sig = self.signature()
        self.has_grads = grads and self._whole_step(sig)
        if self.has_grads:
            return True
        self.inner_kept = True
        code = self.forward_for_shapes.get(sig)
        if code is not None:
            code()
            return False
        values = self._values()
        for node, value in zip(topo, values):
            if node.op is not None:
                node._data = value
        with self._lock:
            source = self._fused_forward_source(values, in_locals=False)
            code = self._define(source)['forward']
            self.forward_for_shapes[sig] = code
            self.forward_source = (f'# fused forward for leaf shapes {sig}\n'
                                   + source[0])
        code()                  # compiles the kernels: the first step's cost
        return False

    def backward(self, grad=None):
        if grad is None and self.has_grads:
            return                      # the forward filled them
        if 'signature' not in self.__dict__:
            with self._lock:
                self._signatures()
        sig = self.signature()
        whole = self.whole_for_shapes.get(sig)
        if whole:
            whole(self._seed() if grad is None else grad)
            return
        if sig not in self.backward_for_shapes:
            # the fused forward leaves the inside of its groups unstored:
            # the first backward for these shapes recomputes them
            values = self._values()
            root = self.root
            if grad is None:
                grad = root.bk.ones(values[-1].shape, dtype=values[-1].dtype)
            self._trace(values, grad, sig, False)
            self.backward_for_shapes[sig](grad)     # compiles the kernels
            return
        super().backward(grad)

    def step(self, feeds, seed):
        if 'signature' in self.__dict__ and \
                self.step_signature(feeds) in self.step_for_shapes:
            return super().step(feeds, seed)
        super().step(feeds, seed)       # writes the code for these shapes
        return super().step(feeds, seed)        # and compiles its kernels

    def _seed(self):
        """Ones of the root's shape and dtype (kept while they fit)."""
        data = self.root._data
        if self._ones is None or self._ones.shape != data.shape or \
                self._ones.dtype != data.dtype:
            self._ones = self.root.bk.ones(data.shape, dtype=data.dtype)
        return self._ones

    def _whole_step(self, sig) -> bool:
        """Forward and backward at once, where the graph is small: whether
        that ran (and filled the gradients). When an optimiser's step
        follows (`Optimiser.minimize`), it moves the parameters too."""
        whole = self.whole_for_shapes.get(sig, False)
        if whole is False:      # the first step for these shapes
            self._first_whole(sig)
            return True
        if whole is None:
            return False
        then = step_follows.current()
        if then is not None and then.root is self.root and \
                self._update(sig, then.optimiser):
            then.done = True
        else:
            whole(self._seed())
        if self.inner_kept:     # a forward of kernels kept them
            self._not_kept()
        return True

    def _update(self, sig, optimiser) -> bool:
        """fused_step with optimiser's update: whether it ran."""
        if optimiser.rule is None or optimiser.check_finite:
            return False
        mine = self.updates.get(id(optimiser))
        if mine is None or mine[0]() is not optimiser:
            mine = self.updates[id(optimiser)] = (weakref.ref(optimiser), {})
        key = sig, optimiser.settings()
        run = mine[1].get(key, False)
        if run is False:
            with self._lock:
                run = mine[1][key] = self._whole(
                    self._values(), self.shapes_for[sig], optimiser)
        return run is not None and run(self._seed(), optimiser)

    def _first_whole(self, sig):
        """The first forward with gradients for these shapes: the rules
        compute the step (and the backward for these shapes is written);
        then fused_step is written if the graph is small enough."""
        values = self._values()
        for node, value in zip(self.topo, values):
            if node.op is not None:
                node._data = value
        self._trace(values, self._seed(), sig, False)
        with self._lock:
            self.shapes_for[sig] = self._shapes
            self.whole_for_shapes[sig] = self._whole(values, self._shapes)

    def _not_kept(self):
        """After fused_step: only the root's data is kept."""
        for node in self.topo[:-1]:
            if node.op is not None:
                node._data = InKernel(node)
        self.inner_kept = False

    def _whole(self, values, shapes, optimiser=None):
        """A function of the seed that runs fused_step for these shapes,
        stores the data the plan keeps and hands out the gradients; None
        where an array is too large or an op has no loop form. With an
        `optimiser`, fused_step then moves its parameters too (the
        function's arguments: the seed and the optimiser); None where that
        cannot be written."""
        written = self._write_whole(values, shapes, optimiser)
        if written is None:
            return None
        step, wrapper, kernels, dtype = self._any_batch(
            written, values, optimiser)
        function = load_kernel('\n\n\n'.join(
            [MM_SOURCE, *kernels, step]), 'fused_step', dtype)
        namespace = self._define([])
        namespace.update(fused_step=function, E=np.empty, F=np.dtype(dtype))
        exec(compile(wrapper, f'<micrograd fused step {id(self):x}>', 'exec'),
             namespace)
        self._not_kept()
        self.whole_source = (f'# one step for leaf shapes {self.signature()}'
                             f'\n{step}\n\n{wrapper}')
        return namespace['whole']

    def _write_whole(self, values, shapes, optimiser):
        """The sources of fused_step and of its wrapper `whole`, the kernels
        it calls, its dtype; None where it cannot be written."""
        dtype = _float_dtype(values[-1])
        if dtype is None or any(
                not isinstance(v, (np.ndarray, np.generic)) or
                str(v.dtype) != dtype or
                v.size > WHOLE_ELEMENTS for v in values):
            return None
        topo = self.topo
        groups, group_of = partition(topo, self.index, values, True)
        order = units(topo, self.index, group_of)
        names = self._kernels(groups, values)
        self.step_checks = []
        try:
            lines = self._render_units(order, names, values, True, True)
            backward, reached = self._render_units_backward(
                order, names, values, shapes, True, True)
        except NotFusable:
            return None
        last = len(topo) - 1            # only the root's data is kept
        leaves = [i for i, _ in self.backward_steps.leaves]
        lines += backward
        # the root's data and the gradients go into arrays the wrapper made
        # (returning arrays from Numba costs more than passing them in)
        lines += _fill_loop('out', f'n{last}', values[last].shape)
        for k, i in enumerate(leaves):
            lines += _fill_loop(f'q{k}', f'g{i}' if i in reached else None,
                                values[i].shape)
        moved, buffers, scalars = set(), [], []
        if optimiser is not None:
            try:
                moved, buffers, scalars, update = self._update_lines(
                    optimiser, leaves, values, dtype)
            except NotFusable:
                return None
            lines += update
        text = '\n'.join(lines)
        params = sorted({i for i in map(int, re.findall(r'\bn(\d+)\b', text))
                         if topo[i].op is None} | moved)
        kernels = []
        for alias, source in self.kernel_source.items():
            if re.search(rf'\b{alias}\(', text):
                kernels.append(re.sub(r'def \w+\(', f'def {alias}(',
                                      source, count=1))
        # a moved parameter is p<i> (written in place), read as n<i>; a leaf
        # of another layout is copied for the products
        arg = {i: f'p{i}' if i in moved else f'n{i}' for i in params}
        products = {i for i in params
                    if re.search(rf'mm\([^\n]*\bn{i}\b', text)}
        step = '\n'.join([
            '@numba.njit(cache=True, nogil=True, error_model="numpy")',
            f'def fused_step({"".join(arg[i] + ", " for i in params)}'
            f'{"".join(b + ", " for b, _ in buffers)}seed, out'
            f'{"".join(f", q{k}" for k in range(len(leaves)))}'
            f'{"".join(", " + r for r in scalars)}):',
            *[f'    {r} = F({r})' for r in scalars],
            *[f'    n{i} = np.ascontiguousarray({arg[i]})' if i in products
              else f'    n{i} = {arg[i]}' for i in params
              if i in products or i in moved],
            text])
        steps = optimiser is not None
        wrapper = '\n'.join([
            f'def whole(seed{", O" if steps else ""}):',
            *(['    if not (' + ' and '.join(
                f'N[{i}]._data.flags.writeable' for i in moved) + '):',
               '        return False      # (moved by the step instead)']
              if steps else []),
            *self.step_checks,          # (before the step starts: it counts)
            *(['    R = O._step_scalars()'] if steps else []),
            '    grads = (' + ''.join(f'E({tuple(values[i].shape)!r}, F), '
                                     for i in leaves) + ')',
            f'    N[{last}]._data = out = E({tuple(values[last].shape)!r}, F)',
            f'    fused_step({"".join(f"N[{i}]._data, " for i in params)}'
            f'{"".join(value + ", " for _, value in buffers)}seed, out, '
            f'*grads{", *R" if steps else ""})',
            f'    ({"".join(f"N[{i}].grad, " for i in leaves)}) = grads',
            f'    N[{last}].grad = seed',
            '    return True'])
        return step, wrapper, kernels, dtype

    def _any_batch(self, written, values, optimiser):
        """`written` (as _write_whole returns it) for any batch size, where
        that is one name: when the placeholders' free dimensions (None) are
        all one size, and the graph fed a row more (a probe) writes the
        same code but for that number, it becomes `nb`, read from a fed
        array (the probe is the batch and its first row again). The same source then serves every batch size: Numba compiles
        it once. Else `written` as it is."""
        free = {(i, a): values[i].shape[a] for i in self.named
                for a, d in enumerate(self.topo[i].placeholder or ())
                if d is None}
        sizes = set(free.values())
        if len(sizes) != 1 or min(sizes) < 2:
            return written
        size = sizes.pop()
        feeds = {}
        for i in self.named:        # the probe: each batch and its first row
            array = values[i]
            for a in range(array.ndim):
                if (i, a) in free:
                    array = np.concatenate(
                        [array, np.take(array, [0], axis=a)], axis=a)
            feeds[self.topo[i].name] = array
        probe = self._values(feeds)
        seed = np.ones(probe[-1].shape, probe[-1].dtype)
        kept = self.step_checks
        other = self._write_whole(probe, self._run_backward(probe, seed)[1],
                                  optimiser)
        self.step_checks = kept
        if other is None:
            return written
        number = r'(?<![\w.])(\d+)(?![\w.])'
        texts = []
        for text, probed in zip(written[:2], other[:2]):
            parts, others = re.split(number, text), re.split(number, probed)
            if len(parts) != len(others):
                return written
            for k, (a, b) in enumerate(zip(parts, others)):
                if a == b:
                    continue
                if k % 2 == 0 or (a, b) != (str(size), str(size + 1)):
                    return written
                parts[k] = 'nb'
            texts.append(''.join(parts))
        (i, a), *_ = free
        step, wrapper = texts
        step = re.sub(r'(def fused_step\(.*\):\n)',
                      rf'\1    nb = n{i}.shape[{a}]\n', step, count=1)
        if re.search(r'\bnb\b', wrapper):
            wrapper = re.sub(r'(def whole\(.*\):\n)',
                             rf'\1    nb = N[{i}]._data.shape[{a}]\n',
                             wrapper, count=1)
        return step, wrapper, written[2], written[3]

    def _update_lines(self, optimiser, leaves, values, dtype):
        """fused_step's last lines: each of optimiser's parameters moved in
        place by its `rule`, in a loop over its elements. Returns the moved
        leaves, the buffers (argument, and the wrapper's expression), the
        step's scalars (arguments: r<group>_<name>) and the lines."""
        where = {i: k for k, i in enumerate(leaves)}
        moved, buffers, scalars, lines = set(), [], [], []
        for k, group in enumerate(optimiser.param_groups):
            names = [f'r{k}_{s}' for s in optimiser.scalar_names]
            scalars += names
            for j in group['indices']:
                i = self.index.get(id(optimiser.wrt[j]))
                if i not in where:
                    raise NotFusable('a parameter outside the graph')
                moved.add(i)
                mine = [(f'b{i}_{b}', f'O.{b}[{j}]') for b in optimiser.buffers]
                buffers += mine
                lines += update_loop(optimiser, j, f'p{i}', f'q{where[i]}',
                                     [b for b, _ in mine], names,
                                     tuple(values[i].shape), dtype)
        return moved, buffers, scalars, lines

    def _specialise(self, values, shapes, sig, in_locals):
        self._shapes = shapes           # (for _whole, after a _trace)
        groups, group_of = partition(self.topo, self.index, values)
        order = units(self.topo, self.index, group_of)
        names = self._kernels(groups, values)
        forward = self._render_units(order, names, values, in_locals)
        backward = self._render_units_backward(order, names, values, shapes,
                                               in_locals)
        if in_locals:
            source = [f'def step(feeds, seed):\n' + '\n'.join(
                forward + backward)]
            self.step_for_shapes[sig] = self._define(source)['step']
        else:
            source = ['def backward(seed):\n' + '\n'.join(backward)]
            self.backward_for_shapes[sig] = self._define(source)['backward']
        self.specialised_source = (f'# specialised for leaf shapes {sig}\n'
                                   + '\n\n'.join(source))

    # ---- rendering ----------------------------------------------------------
    def _kernels(self, groups, values) -> dict:
        """The name of each group's kernels (named after its ops)."""
        return {id(group): _name(self.topo, group) for group in groups}

    def _kernel(self, source, name, dtype):
        """Load kernel `name` of `source`; returns its name in the plan's
        code (`name`, or `name_<k>` for a second kernel of that name: a
        source of its own, which cProfile names `name` too)."""
        alias, k = name, 1
        while self.kernel_source.get(alias, source) != source:
            k += 1
            alias = f'{name}_{k}'
        self.kernel_source[alias] = source
        self.namespace[alias] = load_kernel(source, name, dtype)
        return alias

    def _fused_forward_source(self, values, in_locals):
        groups, group_of = partition(self.topo, self.index, values)
        for group in groups:            # values that live only in a kernel
            for i in set(group.members) - set(group.outputs):
                self.topo[i]._data = InKernel(self.topo[i])
        order = units(self.topo, self.index, group_of)
        names = self._kernels(groups, values)
        return ['def forward():\n' + '\n'.join(
            self._render_units(order, names, values, in_locals))]

    def _render_units(self, order, names, values, in_locals,
                      in_step=False) -> list:
        """The forward's lines. `in_step`: inside fused_step, where every
        node's data is a local `n<i>` and the ops that are no kernel are
        written by step_forward."""
        ref = (lambda j: f'n{j}') if in_step else self._ref
        lines = []
        if in_step:
            pass                # the leaves are fused_step's parameters
        elif in_locals:
            lines += [f'    n{i} = feeds[{self.topo[i].name!r}]'
                      for i in self.named]
        else:
            lines += [f'    n{i} = N[{i}]._data' for i in self.named]
        for unit in order:
            if isinstance(unit, int):
                node = self.topo[unit]
                parents = [self.index[id(p)] for p in node.parents]
                args = [ref(j) for j in parents]
                if in_step and node.op.name == 'check_values' and \
                        self.topo[parents[0]].op is None:
                    # a leaf's values checked (by the wrapper, in Python)
                    self.step_checks.append('    ' + self._call(
                        node.op.forward, node, [f'N[{parents[0]}]._data']))
                    lines.append(f'    n{unit} = {args[0]}')
                    continue
                if in_step:
                    lines.append(f'    n{unit} = ' + step_forward(
                        node, args, values[unit].shape,
                        [values[j].shape for j in parents]))
                    continue
                store = '' if in_locals else f'N[{unit}]._data = '
                lines.append(f'    n{unit} = {store}' +
                             self._call(node.op.forward, node, args))
                continue
            name = self._kernel(
                forward_kernel(self.topo, self.index, values, unit,
                               names[id(unit)], tape=in_step),
                names[id(unit)] + '_forward', unit.dtype)
            args = _sizes(unit.shape, in_step) + [
                ref(j) for j in unit.inputs]
            outs = [f'n{i}' for i in unit.outputs]
            if in_step:           # the members' values, for its backward
                outs.append(f'tp{unit.members[0]}')
            lines.append(f'    {"".join(o + ", " for o in outs)}= '
                         f'{name}({", ".join(args)})')
            if not in_locals:
                lines += [f'    N[{i}]._data = n{i}' for i in unit.outputs]
        return lines

    def _render_units_backward(self, order, names, values, shapes,
                               in_locals, in_step=False) -> list:
        """The backward's lines (`in_step`: inside fused_step; then it
        returns them with the nodes the gradient reached, and the leaves'
        gradients are handed out by the caller)."""
        topo, last = self.topo, len(self.topo) - 1
        steps = {group[0].node: group for group in self.backward_steps.groups}
        lines = [f'    g{last} = seed']
        reached = {last}
        loaded = set()

        def data(i):
            if in_step:
                return f'n{i}'
            if in_locals or topo[i].op is None and topo[i].name is None:
                return self._ref(i)
            if i not in loaded:
                loaded.add(i)
                lines.append(f'    d{i} = N[{i}]._data')
            return f'd{i}'

        def accumulate(j, t):
            if j in reached:
                lines.append(f'    g{j} = g{j} + {t}')
            else:
                lines.append(f'    g{j} = {t}')
                reached.add(j)

        for unit in reversed(order):
            if isinstance(unit, int):
                i = unit
                if i not in reached or i not in steps:
                    continue
                call, *rest = steps[i]
                node = topo[i]
                if in_step:
                    grads = step_backward(
                        node, f'g{i}', [data(j) for j in call.parents],
                        call.need, values[i].shape,
                        [values[j].shape for j in call.parents])
                    lines += [f'    t{k} = {t}' for k, t in enumerate(grads)
                              if t is not None]
                else:
                    args = [f'g{i}', data(i), *map(data, call.parents),
                            f'need={call.need!r}']
                    temps = len(call.parents)
                    lines.append(
                        f'    {"".join(f"t{k}, " for k in range(temps))}= '
                        + self._call(node.op.backward, node, args))
                if call.twice:
                    lines.append('    t1 = t0')
                for step in rest:
                    if type(step) is Fit:
                        pshape = tuple(values[step.parent].shape)
                        tshape, _ = shapes[step.edge]
                        before = len(lines)
                        _render_fit(lines, f't{step.temp}', tshape, pshape,
                                    False)
                        if in_step and len(lines) > before:
                            raise NotFusable('a broadcast gradient')
                    elif type(step) is Accumulate:
                        accumulate(step.parent, f't{step.temp}')
                if i != last and not in_step:
                    lines.append(f'    del g{i}')
                continue
            arriving = [i for i in unit.outputs if i in reached]
            if not arriving:
                continue
            source, parents = backward_kernel(
                topo, self.index, values, unit, names[id(unit)], arriving,
                tape=in_step)
            if not parents:
                continue
            name = self._kernel(source, names[id(unit)] + '_backward',
                                unit.dtype)
            args = _sizes(unit.shape, in_step)
            args += [data(j) for j in unit.inputs]
            for i in arriving:
                args.append(f'g{i}')
                if i in unit.sinks:
                    args.append(data(i))
            if in_step:
                args.append(f'tp{unit.members[0]}')
            lines.append(f'    {"".join(f"t{j}_, " for j in parents)}= '
                         f'{name}({", ".join(args)})')
            for j in parents:
                accumulate(j, f't{j}_')
            if not in_step:
                lines += [f'    del g{i}' for i in arriving if i != last]
        if in_step:
            return lines, reached
        return lines + self._hand_out(data, last, in_locals, reached)
