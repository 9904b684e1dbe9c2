"""Compile a static graph into straight-line Python.

    loss = micrograd.compile(loss)      # same Value, now compiled
    print(micrograd.compiled_source(loss))
    loss.forward(x=batch); loss.backward()

The interpreted walks of engine.py visit each node and look up its op,
parents and settings every step. A graph is static, so that work can be done
once: `compile` writes the forward and backward steps out as plain Python
source, one line per rule call (`n7 = matmul_forward(xp, n3, n5)`), execs it,
and `forward` / `backward` run it from then on. The same rules are called,
so results are identical and cProfile shows the same names.

What differs from the interpreted walk: intermediate gradients live in local
variables and are freed as soon as the backward step ends; `.grad` is filled
for the leaves (parameters, placeholders) and the root only.

Shapes are static too. The first backward for given leaf shapes runs the
generic code, which fits every gradient to its parent's shape at run time
(`fit`) and notes the shapes it met. From them a specialised backward is
written, with no shape tests: an edge whose shapes agree costs nothing, one
that needs a sum gets `xp.sum(t, axis=...)` with the axes spelled out, and a
gradient that only needs broadcasting is left small where the next rule is
elementwise (it broadcasts for free there). New leaf shapes (a new batch
size) get their own specialised code, kept for when they come back.
"""
from __future__ import annotations

import builtins

from .checks import check_feeds as _check_feeds, feed as _feed
from .engine import Value, prepare, sum_axes

LITERALS = (int, float, bool, str, type(None))
# Rules that use their upstream gradient only elementwise, so that a
# gradient still to be broadcast to the node's shape gives the same numbers.
ELEMENTWISE = frozenset({
    'add', 'sub', 'mul', 'div', 'neg', 'exp', 'log', 'log1p', 'expm1', 'sqrt',
    'tanh', 'sigmoid', 'relu', 'abs', 'sin', 'cos'})
# Binary rules whose two gradients are equal when both inputs are one node.
SYMMETRIC = frozenset({'add', 'mul'})


def _literal(value) -> bool:
    if isinstance(value, tuple):
        return all(_literal(v) for v in value)
    return isinstance(value, LITERALS)


class Plan:
    """The generated forward and backward of one root."""
    grads_in_forward = False

    def __init__(self, root: Value):
        self.epoch = prepare(root)      # requires_grad flags up to date
        self.root, self.topo = root, root.topo()
        self.index = {id(n): i for i, n in enumerate(self.topo)}
        self.ns = {'xp': root.bk, 'N': self.topo, 'check_feeds': _check_feeds,
                   'feed': _feed}
        self.leaves = [n for n in self.topo
                       if n.op is None and n.requires_grad]
        self.edges = self._edges()
        self.source = '\n\n'.join([
            self._forward_source(), self._backward_source(),
            self._forward_source(pure=True), self._backward_source(pure=True),
            self._signature_source()])
        self._run(self.source, self.ns)
        self.forward = self.ns['forward']
        self.special = {}               # leaf shapes -> specialised namespace
        self.source_special = ''
        self._ones = None
        for node in self.topo:
            node.grad = None

    def rebuild(self) -> Plan:
        """A new plan for the same root (a leaf's requires_grad changed)."""
        return Plan(self.root)

    @staticmethod
    def _run(source, ns):
        exec(builtins.compile(source, f'<micrograd plan {id(ns):x}>', 'exec'),
             ns)

    def backward(self, grad=None):
        root = self.root
        if grad is None:
            shape = root.data.shape
            if self._ones is None or self._ones.shape != shape:
                self._ones = root.bk.ones(shape, dtype=root.data.dtype)
            grad = self._ones
        ns = self.special.get(self.ns['signature']())
        if ns is None:
            self._trace(self.ns['backward'], grad)
        else:
            ns['backward'](grad)

    def step(self, feeds, seed):
        """Forward and backward in local variables (thread-safe): returns
        (root data, gradients of self.leaves)."""
        ns = self.special.get(self.ns['step_signature'](feeds))
        if ns is None:
            return self._trace(self.ns['step'], feeds, seed)
        return ns['step'](feeds, seed)

    # ---- specialisation on shapes -------------------------------------
    def _edges(self):
        """{(node i, parent position): (k, lazy)} for each edge that can
        carry a gradient; k numbers them; lazy: the gradient may stay
        unbroadcast, as the parent's own rule is elementwise."""
        edges = {}
        for i, node in enumerate(self.topo):
            if node.op is None or not node.requires_grad:
                continue
            for pos, parent in enumerate(node.parents):
                if parent.requires_grad:
                    lazy = (parent.op is not None and
                            parent.op.name in ELEMENTWISE)
                    edges[i, pos] = (len(edges), lazy)
        return edges

    def _trace(self, generic, *args):
        """Run the generic code, noting each edge's gradient shape, then
        write and keep the code specialised for these leaf shapes."""
        shapes = {}

        def fit(k, t, shape, lazy):
            tshape, shape = tuple(t.shape), tuple(shape)
            shapes[k] = tshape, shape
            axes, summed, kept, spread = fitting(tshape, shape, lazy)
            xp = self.root.bk
            if axes:
                t = xp.sum(t, axis=axes)
            if summed != kept:
                t = xp.reshape(t, kept)
            return xp.broadcast_to(t, shape) if spread else t

        result = generic(*args, fit)
        sig = (self.ns['signature']() if generic is self.ns['backward'] else
               self.ns['step_signature'](args[0]))
        source = '\n\n'.join([
            self._backward_source(shapes=shapes), self._forward_source(
                pure=True), self._backward_source(pure=True, shapes=shapes)])
        ns = dict(self.ns)
        self._run(source, ns)
        self.special[sig] = ns
        self.source_special = f'# specialised for leaf shapes {sig}\n{source}'
        return result

    # ---- source generation ---------------------------------------------
    def _call(self, rule, node, args):
        """`rule(xp, args..., meta...)`; simple settings become literals."""
        name = rule.__name__
        self.ns[name] = rule
        parts = ['xp', *args]
        for key, value in node.meta.items():
            if _literal(value):
                parts.append(f'{key}={value!r}')
            else:
                const = f'k{self.index[id(node)]}_{key}'
                self.ns[const] = value
                parts.append(f'{key}={const}')
        return f'{name}({", ".join(parts)})'

    def _signature_source(self):
        """signature() and step_signature(feeds): the shapes of the leaves,
        which fix the shape of every array in the graph."""
        lines = []
        for pure in (False, True):
            items = [f'feeds[{n.name!r}].shape' if pure and n.name is not None
                     else f'N[{i}].data.shape'
                     for i, n in enumerate(self.topo) if n.op is None]
            lines.append(f'def {"step_" if pure else ""}signature('
                         f'{"feeds" if pure else ""}):\n'
                         f'    return ({"".join(s + ", " for s in items)})')
        return '\n\n'.join(lines)

    def _forward_source(self, pure=False):
        """forward(feeds) storing each node's data; or, pure, the first half
        of step(feeds, seed), which keeps everything in local variables and
        takes named leaves from `feeds` (checked by the caller)."""
        lines = (['def step(feeds, seed, fit=None):'] if pure else
                 ['def forward(feeds):', '    if feeds:',
                  '        check_feeds(N, feeds)'])
        for i, node in enumerate(self.topo):
            if node.op is None:
                if pure and node.name is not None:
                    lines.append(f'    n{i} = feeds[{node.name!r}]')
                    continue
                if node.name is not None:
                    lines.append(f'    feed(N[{i}], feeds)')
                lines.append(f'    n{i} = N[{i}].data')
            else:
                args = [f'n{self.index[id(p)]}' for p in node.parents]
                store = '' if pure else f'N[{i}]._data = '
                lines.append(f'    n{i} = {store}'
                             + self._call(node.op.forward, node, args))
        return '\n'.join(lines)

    def _backward_source(self, pure=False, shapes=None):
        """backward(seed) storing the leaves' gradients; or, pure, the second
        half of step(), returning (root data, gradients of self.leaves).
        Generic (shapes None): every gradient goes through fit(). Given the
        shapes fit() noted: only the sums and broadcasts they call for."""
        params = 'seed, fit' if shapes is None else 'seed'
        lines = [] if pure else [f'def backward({params}):']
        last = len(self.topo) - 1
        lines.append(f'    g{last} = seed')
        state = {last: 'shared'}        # gradient variable: 'shared' | 'owned'
        gshape = {}                     # its shape, when specialised
        loaded = set()

        def data(i):
            if pure:
                return f'n{i}'
            if i not in loaded:
                loaded.add(i)
                lines.append(f'    d{i} = N[{i}].data')
            return f'd{i}'

        for i in range(last, -1, -1):
            node = self.topo[i]
            if i not in state or node.op is None or not node.requires_grad:
                continue
            parents = [self.index[id(p)] for p in node.parents]
            args = [f'g{i}', data(i)] + [data(j) for j in parents]
            if node.op.takes_need:
                need = tuple(p.requires_grad for p in node.parents)
                twice = (node.op.name in SYMMETRIC and need == (True, True)
                         and parents[0] == parents[1])
                if twice:               # x * x: both gradients are one
                    need = (True, False)
                args.append(f'need={need!r}')
                outs = [f't{k}' for k in range(len(parents))]
                lines.append(f'    {", ".join(outs)}, = '
                             + self._call(node.op.backward, node, args))
                if twice:
                    lines.append('    t1 = t0')
            else:
                outs = ['t0']
                lines.append('    t0 = ' + self._call(node.op.backward, node,
                                                      args))
            for pos, (t, j) in enumerate(zip(outs, parents)):
                if (i, pos) not in self.edges:
                    continue
                k, lazy = self.edges[i, pos]
                if shapes is None:
                    lines.append(f'    {t} = fit({k}, {t}, {data(j)}.shape, '
                                 f'{lazy})')
                    fitted = None
                else:
                    fitted = self._fit_source(lines, t, *shapes[k], lazy)
                if j not in state:
                    lines.append(f'    g{j} = {t}')
                    state[j], gshape[j] = 'shared', fitted
                elif (state[j] == 'owned' and fitted is not None and
                      gshape[j] == _broadcast(gshape[j], fitted)):
                    lines.append(f'    g{j} += {t}')
                else:
                    lines.append(f'    g{j} = g{j} + {t}')
                    state[j] = 'owned'
                    gshape[j] = (None if fitted is None else
                                 _broadcast(gshape[j], fitted))
            if i != last:
                lines.append(f'    del g{i}')      # free it now
        grads = []
        for i, node in enumerate(self.topo):
            if node.op is None and node.requires_grad:
                value = (f'g{i}' if i in state else
                         f'xp.zeros({data(i)}.shape, dtype={data(i)}.dtype)')
                grads.append(value)
                if not pure:
                    lines.append(f'    N[{i}].grad = {value}')
        if pure:
            lines.append(f'    return n{last}, ({"".join(g + ", " for g in grads)})')
        else:
            lines.append(f'    N[{last}].grad = seed')
        return '\n'.join(lines)

    @staticmethod
    def _fit_source(lines, t, tshape, shape, lazy):
        """The lines that fit gradient `t` of shape `tshape` to `shape`;
        returns the shape it ends with."""
        axes, summed, kept, spread = fitting(tshape, shape, lazy)
        if axes:
            lines.append(f'    {t} = xp.sum({t}, axis={axes!r})')
        if summed != kept:
            lines.append(f'    {t} = xp.reshape({t}, {kept!r})')
        if spread:
            lines.append(f'    {t} = xp.broadcast_to({t}, {shape!r})')
            return shape
        return kept


def fitting(tshape: tuple, shape: tuple, lazy: bool):
    """How a gradient of shape `tshape` is fitted to `shape` (see
    engine.unbroadcast): the axes to sum, the shape after summing them, the
    shape with the summed non-leading axes kept as 1, and whether it must
    still be broadcast (not when `lazy`: the next rule is elementwise)."""
    axes = sum_axes(tshape, shape)
    summed = tuple(n for a, n in enumerate(tshape) if a not in axes)
    kept = tuple(1 if a in axes else n for a, n in enumerate(tshape)
                 )[max(len(tshape) - len(shape), 0):]
    return axes, summed, kept, kept != shape and not lazy


def _broadcast(a: tuple, b: tuple) -> tuple:
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + b
    return tuple(m if n == 1 else n for n, m in zip(a, b))


def compile(root: Value) -> Value:  # noqa: A001  (micrograd.compile)
    """Make `root.forward` and `root.backward` run generated straight-line
    code; returns root. The graph must not change afterwards."""
    root._plan = Plan(root)
    return root


def compiled_source(root: Value) -> str:
    """The Python source that `compile(root)` generated: the generic code,
    then, once a backward has run, the code specialised for the most recent
    new leaf shapes."""
    if root._plan is None:
        raise ValueError('compiled_source: this Value is not compiled; call '
                         'micrograd.compile(root) first')
    plan = getattr(root._plan, 'plan', root._plan)
    return '\n\n'.join(filter(None, [plan.source, plan.source_special]))
