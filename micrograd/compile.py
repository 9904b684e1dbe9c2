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
"""
from __future__ import annotations

import builtins

from .engine import Value, _check_feeds, _feed, unbroadcast

LITERALS = (int, float, bool, str, type(None))


def _literal(value) -> bool:
    if isinstance(value, tuple):
        return all(_literal(v) for v in value)
    return isinstance(value, LITERALS)


class Plan:
    """The generated forward and backward of one root."""

    def __init__(self, root: Value):
        self.root, self.topo = root, root.topo()
        self.index = {id(n): i for i, n in enumerate(self.topo)}
        self.ns = {'xp': root.bk, 'N': self.topo, 'unbroadcast': unbroadcast,
                   'check_feeds': _check_feeds, 'feed': _feed}
        self.leaves = [n for n in self.topo
                       if n.op is None and n.requires_grad]
        self.source = '\n\n'.join([
            self._forward_source(), self._backward_source(),
            self._forward_source(pure=True), self._backward_source(pure=True)])
        exec(builtins.compile(self.source, f'<micrograd plan {id(self):x}>', 'exec'),
             self.ns)
        self.forward, self._backward = self.ns['forward'], self.ns['backward']
        self.step = self.ns['step']
        self._ones = None

    def backward(self, grad=None):
        root = self.root
        if grad is None:
            shape = root.data.shape
            if self._ones is None or self._ones.shape != shape:
                self._ones = root.bk.ones(shape, dtype=root.data.dtype)
            grad = self._ones
        for node in self.topo:
            node.grad = None
        self._backward(grad)

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

    def _forward_source(self, pure=False):
        """forward(feeds) storing each node's data; or, pure, the first half
        of step(feeds, seed), which keeps everything in local variables and
        takes named leaves from `feeds` (checked by the caller)."""
        lines = (['def step(feeds, seed):'] if pure else
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
                store = '' if pure else f'N[{i}].data = '
                lines.append(f'    n{i} = {store}'
                             + self._call(node.op.forward, node, args))
        return '\n'.join(lines)

    def _backward_source(self, pure=False):
        """backward(seed) storing the leaves' gradients; or, pure, the second
        half of step(), returning (root data, gradients of self.leaves)."""
        lines = [] if pure else ['def backward(seed):']
        last = len(self.topo) - 1
        lines.append(f'    g{last} = seed')
        state = {last: 'shared'}        # gradient variable: 'shared' | 'owned'
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
                args.append(f'need={need!r}')
                outs = [f't{k}' for k in range(len(parents))]
                lines.append(f'    {", ".join(outs)}, = '
                             + self._call(node.op.backward, node, args))
            else:
                outs = ['t0']
                lines.append('    t0 = ' + self._call(node.op.backward, node,
                                                      args))
            for t, j, parent in zip(outs, parents, node.parents):
                if not parent.requires_grad:
                    continue
                d = data(j)
                lines.append(f'    if {t}.shape != {d}.shape: '
                             f'{t} = unbroadcast(xp, {t}, {d}.shape)')
                if j not in state:
                    lines.append(f'    g{j} = {t}')
                    state[j] = 'shared'
                elif state[j] == 'shared':
                    lines.append(f'    g{j} = g{j} + {t}')
                    state[j] = 'owned'
                else:
                    lines.append(f'    g{j} += {t}')
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


def compile(root: Value) -> Value:  # noqa: A001  (micrograd.compile)
    """Make `root.forward` and `root.backward` run generated straight-line
    code; returns root. The graph must not change afterwards."""
    root._plan = Plan(root)
    return root


def compiled_source(root: Value) -> str:
    """The Python source that `compile(root)` generated."""
    if root._plan is None:
        raise ValueError('compiled_source: this Value is not compiled; call '
                         'micrograd.compile(root) first')
    return root._plan.source
