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

Code is written when first needed, so that compiling costs no more than
ordering the graph: the forward at the first forward, a backward at the
first backward for given leaf shapes. Rules are called by their own names
(`r<k>_<name>` for a user rule whose name is taken or not an identifier).

Shapes are static too. The first backward for given leaf shapes does what
the generic code (shown by compiled_source) says, walking the graph: it fits
every gradient to its parent's shape at run time (`fit`) and notes the
shapes it met. From them a specialised backward is
written, with no shape tests: an edge whose shapes agree costs nothing, one
that needs a sum gets `xp.sum(t, axis=...)` with the axes spelled out, and a
gradient that only needs broadcasting is left small where the next rule is
elementwise (it broadcasts for free there). New leaf shapes (a new batch
size) get their own specialised code, kept for when they come back.

The code is written in two parts: the forward and backward SCHEDULES
(`forward_schedule`, `backward_schedule`: rule calls, fits, accumulations
and frees, as data) are built once per plan; each kind of function
(stored or in local variables, generic or specialised, in blocks) is a
rendering of them, and the generic backward runs the schedule directly.

A long function (more than BLOCK lines) is written as blocks called in
turn, passing the values live between them in a dict: Python compiles one
huge function slowly and with a large peak of memory.
"""
from __future__ import annotations

import builtins
import functools
import keyword
import math
import re
import threading
from typing import NamedTuple

from .checks import check_feeds, feed
from .engine import Value, prepare, sum_axes
from .executor import Executor

# Settings written into the code as they are; anything else (a NumPy
# scalar, inf or nan, an array) is bound in the namespace as a constant.
LITERALS = (int, bool, str, type(None))
# Lines a generated function holds at most (more: blocks, see _function).
BLOCK = 10_000
# Names the generated code defines itself; a rule never takes one of them.
RESERVED = frozenset({'xp', 'N', 'check_feeds', 'feed', 'forward', 'backward',
                      'step', 'signature', 'step_signature', 'fit', 'feeds',
                      'seed', 'live'})


def _literal(value) -> str | None:
    """The source of `value` if it reads back as itself (exact types only:
    repr(np.float32(2.5)) and repr(inf) are not Python), else None."""
    if type(value) is tuple:
        parts = [_literal(v) for v in value]
        if None in parts:
            return None
        return f'({", ".join(parts)}{"," if len(parts) == 1 else ""})'
    if type(value) is float:
        return repr(value) if math.isfinite(value) else None
    return repr(value) if type(value) in LITERALS else None


def _rule_names(topo) -> dict:
    """{rule: its name in the generated code}. A rule keeps its own name
    (`matmul_forward`) unless that is not an identifier (a lambda), is a
    name of the generated code, or belongs to another rule (two user ops
    whose rules are both called `fwd`): then `r<k>_<name>`."""
    names, taken = {}, set()
    for node in topo:
        if node.op is None:
            continue
        for rule in (node.op.forward, node.op.backward):
            if rule is None or rule in names:
                continue
            name = getattr(rule, '__name__', '') or 'rule'
            if (not name.isidentifier() or keyword.iskeyword(name) or
                    name in RESERVED or name in taken or
                    re.fullmatch(r'[a-z]\d+(_.*)?', name)):
                name = f'r{len(names)}_' + re.sub(r'\W', '_', name)
            names[rule] = name
            taken.add(name)
    return names


class Plan(Executor):
    """The generated forward and backward of one root (an `Executor`).
    Each function is written and compiled when first used: `forward` at
    the first forward, a backward for given leaf shapes at the first
    backward that meets them (that one walks the graph, as the generic code
    in compiled_source reads, noting the shapes), `step` and `evaluate`
    likewise for `chunked`."""

    def __init__(self, root: Value):
        self.epoch = prepare(root)      # requires_grad flags up to date
        self.root, self.topo = root, root.topo()
        self.index = {id(n): i for i, n in enumerate(self.topo)}
        self.rules = _rule_names(self.topo)
        # the globals of the generated code: the rules by name, constants
        self.namespace = {'xp': root.bk, 'N': self.topo,
                          'check_feeds': check_feeds, 'feed': feed}
        self.namespace.update({name: rule
                               for rule, name in self.rules.items()})
        self.leaves = [n for n in self.topo
                       if n.op is None and n.requires_grad]
        self.forward_steps = forward_schedule(self.topo, self.index)
        self.backward_steps = backward_schedule(self.topo, self.index)
        self.backward_for_shapes = {}   # leaf shapes -> backward(seed)
        self.step_for_shapes = {}       # leaf shapes -> step(feeds, seed)
        self.specialised_source = ''
        self._ones = self._forward = self._evaluate = None
        self._lock = threading.Lock()   # chunk threads may write code at once
        for node in self.topo:
            node.grad = None

    def rebuild(self) -> Plan:
        """A new plan for the same root (a leaf's requires_grad changed)."""
        return Plan(self.root)

    def source(self) -> str:
        """The generic code (as text: it is never compiled; the first
        backward for new leaf shapes does what it says, walking the graph),
        then the code specialised for the most recent new leaf shapes."""
        return '\n\n'.join(filter(None, [
            *self._forward_source(), *self._backward_source(),
            *self._step_source(), self._signature_source(),
            self.specialised_source]))

    def _define(self, sources) -> dict:
        """Compile `sources` (functions' source texts) one by one in a copy
        of the namespace; return that."""
        namespace = dict(self.namespace)
        for source in sources:
            exec(builtins.compile(source, f'<micrograd plan {id(self):x}>',
                                  'exec'), namespace)
        return namespace

    def _signatures(self):
        if 'signature' not in self.__dict__:
            defined = self._define([self._signature_source()])
            self.step_signature = defined['step_signature']
            self.signature = defined['signature']

    def forward(self, feeds, grads=False):
        """The first forward writes the code; later ones run it directly.
        (The gradients wait for backward: returns False.)"""
        if self._forward is None:
            with self._lock:
                self._signatures()
                self._forward = self._define(self._forward_source())['forward']
        self._forward(feeds)
        return False

    def evaluate(self, feeds):
        """The root's data from `feeds` in local variables, nothing stored
        (thread-safe; named leaves taken from `feeds`, checked by the
        caller): a forward that no backward follows."""
        if self._evaluate is None:
            with self._lock:
                self._evaluate = self._define(
                    self._evaluate_source())['evaluate']
        return self._evaluate(feeds)

    def backward(self, grad=None):
        root = self.root
        if grad is None:
            shape = root.data.shape
            if self._ones is None or self._ones.shape != shape:
                self._ones = root.bk.ones(shape, dtype=root.data.dtype)
            grad = self._ones
        if 'signature' not in self.__dict__:
            with self._lock:
                self._signatures()
        sig = self.signature()
        code = self.backward_for_shapes.get(sig)
        if code is None:
            self._trace([n.data for n in self.topo], grad, sig, False)
        else:
            code(grad)

    def step(self, feeds, seed):
        """Forward and backward in local variables (thread-safe): returns
        (root data, gradients of self.leaves)."""
        if 'signature' not in self.__dict__:
            with self._lock:
                self._signatures()
        sig = self.step_signature(feeds)
        code = self.step_for_shapes.get(sig)
        if code is None:
            values = []
            for node in self.topo:
                if node.op is None:
                    values.append(node.data if node.name is None
                                  else feeds[node.name])
                else:
                    values.append(node.op.forward(
                        self.root.bk, *[values[self.index[id(p)]]
                                        for p in node.parents], **node.meta))
            return self._trace(values, seed, sig, True)
        return code(feeds, seed)

    # ---- specialisation on shapes -------------------------------------
    def _trace(self, values, seed, sig, in_locals):
        """The generic backward (`_run_backward`), then the code specialised
        for these leaf shapes written and kept (a backward, or `in_locals` a
        step). Returns what step() returns."""
        result, shapes = self._run_backward(values, seed)
        with self._lock:
            self._specialise(values, shapes, sig, in_locals)
        if in_locals:
            return values[-1], tuple(result)
        for leaf, g in zip(self.leaves, result):
            leaf.grad = g
        self.topo[-1].grad = seed

    def _run_backward(self, values, seed):
        """Run the backward schedule from `seed`, given every node's data
        (`values`), fitting each gradient to its parent's shape at run time:
        the leaves' gradients, and the shapes noted on each edge."""
        xp, topo = self.root.bk, self.topo
        shapes = {}

        def fit(edge, t, shape, elementwise_next):
            tshape, shape = tuple(t.shape), tuple(shape)
            shapes[edge] = tshape, shape
            axes, summed, kept, spread = fitting(tshape, shape,
                                                 elementwise_next)
            if axes:
                t = xp.sum(t, axis=axes)
            if summed != kept:
                t = xp.reshape(t, kept)
            return xp.broadcast_to(t, shape) if spread else t

        last = len(topo) - 1
        grads, temps = {last: seed}, []
        for group in self.backward_steps.groups:
            for step in group:
                if type(step) is RuleCall:
                    node = topo[step.node]
                    temps = list(node.op.backward(
                        xp, grads[step.node], values[step.node],
                        *[values[j] for j in step.parents], need=step.need,
                        **node.meta))
                    if step.twice:
                        temps[1] = temps[0]
                elif type(step) is Fit:
                    temps[step.temp] = fit(
                        step.edge, temps[step.temp],
                        values[step.parent].shape, step.elementwise_next)
                elif type(step) is Accumulate:
                    t, j = temps[step.temp], step.parent
                    grads[j] = t if step.first else grads[j] + t
                else:                   # Free
                    del grads[step.node]
        result = [grads[i] if reached else
                  xp.zeros(values[i].shape, dtype=values[i].dtype)
                  for i, reached in self.backward_steps.leaves]
        return result, shapes

    def _specialise(self, values, shapes, sig, in_locals):
        """Write and keep the code for these leaf shapes (`shapes`: those
        fit() noted on each edge; `values`: every node's data): a step if
        `in_locals`, else a backward."""
        if in_locals:
            sources = self._step_source(shapes)
            self.step_for_shapes[sig] = self._define(sources)['step']
        else:
            sources = self._backward_source(shapes)
            self.backward_for_shapes[sig] = self._define(sources)['backward']
        self.specialised_source = (
            f'# specialised for leaf shapes {sig}\n' + '\n\n'.join(sources))

    # ---- rendering the schedules as source -------------------------------
    def _call(self, rule, node, args):
        """`rule(xp, args..., meta...)`; simple settings become literals."""
        name = self.rules[rule]
        parts = ['xp', *args]
        for key, value in node.meta.items():
            literal = _literal(value)
            if literal is not None:
                parts.append(f'{key}={literal}')
            else:
                const = f'k{self.index[id(node)]}_{key}'
                self.namespace[const] = value
                parts.append(f'{key}={const}')
        return f'{name}({", ".join(parts)})'

    def _signature_source(self):
        """signature() and step_signature(feeds): the shapes of the leaves,
        which fix the shape of every array in the graph."""
        lines = []
        for from_feeds in (False, True):
            items = [f'feeds[{n.name!r}].shape'
                     if from_feeds and n.name is not None
                     else f'N[{i}]._data.shape'
                     for i, n in enumerate(self.topo) if n.op is None]
            lines.append(f'def {"step_" if from_feeds else ""}signature('
                         f'{"feeds" if from_feeds else ""}):\n'
                         f'    return ({"".join(s + ", " for s in items)})')
        return '\n\n'.join(lines)

    def _ref(self, i) -> str:
        """Node i's data in the code: `n<i>`, or for a leaf that is not fed
        (a parameter, a constant) `N[<i>]._data`, read where it is used."""
        node = self.topo[i]
        return (f'N[{i}]._data' if node.op is None and node.name is None
                else f'n{i}')

    def _forward_source(self):
        """forward(feeds): each node's data computed and stored."""
        return _function('forward', 'feeds', [
            ['    if feeds:', '        check_feeds(N, feeds)'],
            *self._render_forward(in_locals=False)])

    def _evaluate_source(self):
        """evaluate(feeds): the forward in local variables, returning the
        root's data."""
        return _function('evaluate', 'feeds', [
            *self._render_forward(in_locals=True),
            [f'    return {self._ref(len(self.topo) - 1)}']])

    def _backward_source(self, shapes=None):
        """backward(seed) storing the leaves' gradients. Generic (shapes
        None): every gradient goes through fit(). Given the shapes fit()
        noted: only the sums and broadcasts they call for."""
        return _function('backward', 'seed, fit' if shapes is None else
                         'seed', self._render_backward(False, shapes))

    def _step_source(self, shapes=None):
        """step(feeds, seed): forward and backward in local variables,
        named leaves taken from `feeds` (checked by the caller); returns
        (root data, gradients of self.leaves)."""
        return _function('step', 'feeds, seed, fit=None', [
            *self._render_forward(in_locals=True),
            *self._render_backward(True, shapes)])

    def _render_forward(self, in_locals):
        """The forward schedule's lines, a list for each step: each node's
        data computed and stored on the node; or, `in_locals`, kept in
        local variables (named leaves read from `feeds`)."""
        groups = []
        for step in self.forward_steps:
            i = step.node
            if type(step) is Feed:
                groups.append([f'    n{i} = feeds[{step.name!r}]']
                              if in_locals else
                              [f'    feed(N[{i}], feeds)',
                               f'    n{i} = N[{i}]._data'])
            else:
                node = self.topo[i]
                args = [self._ref(j) for j in step.parents]
                store = '' if in_locals else f'N[{i}]._data = '
                groups.append([f'    n{i} = {store}'
                               + self._call(node.op.forward, node, args)])
        return groups

    def _render_backward(self, in_locals, shapes):
        """The backward schedule's lines, a list for each group (temporaries
        `t<k>` live within one): storing the leaves' gradients; or,
        `in_locals`, the second half of step(). Generic (shapes None):
        fit() at run time; else the fits the noted shapes call for, and
        `+=` where a gradient is already our own buffer of the full shape."""
        last = len(self.topo) - 1
        lines = [f'    g{last} = seed']
        groups = [lines]
        owned = set()           # gradients that are buffers we allocated
        gshape = {}             # a gradient's shape, when specialised
        loaded = set()
        fitted, untouched = {}, {}

        def data(i):
            node = self.topo[i]
            if in_locals or node.op is None and node.name is None:
                return self._ref(i)
            if i not in loaded:
                loaded.add(i)
                lines.append(f'    d{i} = N[{i}]._data')
            return f'd{i}'

        for group in self.backward_steps.groups:
            lines = []
            groups.append(lines)
            for step in group:
                if type(step) is RuleCall:
                    i, node = step.node, self.topo[step.node]
                    args = [f'g{i}', data(i), *map(data, step.parents),
                            f'need={step.need!r}']
                    temps = len(step.parents)
                    lines.append(f'    {", ".join(f"t{k}" for k in range(temps))}'
                                 ', = ' + self._call(node.op.backward, node,
                                                     args))
                    if step.twice:
                        lines.append('    t1 = t0')
                elif type(step) is Fit:
                    t = f't{step.temp}'
                    if shapes is None:
                        lines.append(f'    {t} = fit({step.edge}, {t}, '
                                     f'{data(step.parent)}.shape, '
                                     f'{step.elementwise_next})')
                        fitted[t] = None
                    else:
                        before = len(lines)
                        fitted[t] = _render_fit(lines, t, *shapes[step.edge],
                                                step.elementwise_next)
                        untouched[t] = len(lines) == before
                elif type(step) is Accumulate:
                    t, j = f't{step.temp}', step.parent
                    shape = fitted[t]
                    if step.first:
                        if shape is not None and temps == 1 and untouched[t]:
                            # t0 as the rule returned it: name it g<j>
                            lines[-1] = f'    g{j}' + lines[-1][len('    t0'):]
                        else:
                            lines.append(f'    g{j} = {t}')
                        gshape[j] = shape
                    elif (j in owned and shape is not None and
                          gshape[j] == _broadcast(gshape[j], shape)):
                        lines.append(f'    g{j} += {t}')
                    else:
                        lines.append(f'    g{j} = g{j} + {t}')
                        owned.add(j)
                        gshape[j] = (None if shape is None else
                                     _broadcast(gshape[j], shape))
                else:                   # Free: the gradient is used up
                    lines.append(f'    del g{step.node}')
        groups.append(self._hand_out(
            data, last, in_locals,
            {i for i, reached in self.backward_steps.leaves if reached}))
        return groups

    def _hand_out(self, data, last, in_locals, reached) -> list:
        """The lines that end the backward code: each leaf gets its gradient
        (zeros where none reached it), as N[i].grad or returned."""
        lines, grads = [], []
        for i, _ in self.backward_steps.leaves:
            value = (f'g{i}' if i in reached else
                     f'xp.zeros({data(i)}.shape, dtype={data(i)}.dtype)')
            grads.append(value)
            if not in_locals:
                lines.append(f'    N[{i}].grad = {value}')
        if in_locals:
            lines.append(f'    return {self._ref(last)}, '
                         f'({"".join(g + ", " for g in grads)})')
        else:
            lines.append(f'    N[{last}].grad = seed')
        return lines


# ---- the schedule: what the generated code does, as data ------------------
# Built once per plan from the graph; rendered as source for each kind of
# function (stored or in local variables, generic or specialised, in
# blocks), and run directly by the generic backward (Plan._trace).

class Feed(NamedTuple):
    """Forward: the named leaf `node` takes its fed array."""
    node: int
    name: str


class Apply(NamedTuple):
    """Forward: `node` = its op's forward rule on its parents' data."""
    node: int
    parents: tuple


class RuleCall(NamedTuple):
    """Backward: t0, t1, ... = the backward rule of `node` on its gradient,
    its data and its parents' data; `need`: one flag per parent; `twice`:
    a symmetric op on one node twice (x * x), asked once, used twice."""
    node: int
    parents: tuple
    need: tuple
    twice: bool


class Fit(NamedTuple):
    """Backward: t<temp> fitted to the shape of `parent` (edge number
    `edge`, which keys the shapes noted); `elementwise_next`: it may stay
    unbroadcast, as the parent's own rule is elementwise."""
    temp: int
    edge: int
    parent: int
    elementwise_next: bool


class Accumulate(NamedTuple):
    """Backward: t<temp> added to the gradient of `parent`; `first`: it
    becomes that gradient."""
    temp: int
    parent: int
    first: bool


class Free(NamedTuple):
    """Backward: the gradient of `node` is used up (the generated `del`)."""
    node: int


class BackwardSchedule(NamedTuple):
    """`groups`: the steps, a list for each node whose rule runs (the
    temporaries of one never outlive it), from the root back; `leaves`:
    (index, reached) for each leaf that needs a gradient, in the graph's
    order (not reached: its gradient is zeros)."""
    groups: list
    leaves: list


def forward_schedule(topo: list, index: dict) -> list:
    """The forward's steps: a Feed for each named leaf, an Apply for each
    op node, in the graph's order."""
    steps = []
    for i, node in enumerate(topo):
        if node.op is not None:
            steps.append(Apply(i, tuple(index[id(p)] for p in node.parents)))
        elif node.name is not None:
            steps.append(Feed(i, node.name))
    return steps


def backward_schedule(topo: list, index: dict) -> BackwardSchedule:
    """The backward's steps from the root (the last node) back, for the
    current requires_grad flags: each node that a gradient reaches and
    that needs one calls its rule; each edge to a parent that needs a
    gradient fits the rule's output and adds it up; the node's gradient is
    then freed. Edges are numbered in the graph's order."""
    edges = {}                  # (node, parent position) -> edge number
    for i, node in enumerate(topo):
        if node.op is not None and node.requires_grad:
            for pos, parent in enumerate(node.parents):
                if parent.requires_grad:
                    edges[i, pos] = len(edges)
    last = len(topo) - 1
    reached, groups = {last}, []
    for i in range(last, -1, -1):
        node = topo[i]
        if i not in reached or node.op is None or not node.requires_grad:
            continue
        parents = tuple(index[id(p)] for p in node.parents)
        need = tuple(p.requires_grad for p in node.parents)
        twice = (node.op.symmetric and need == (True, True)
                 and parents[0] == parents[1])
        group = [RuleCall(i, parents, (True, False) if twice else need,
                          twice)]
        for pos, j in enumerate(parents):
            if (i, pos) in edges:
                parent = topo[j]
                group.append(Fit(pos, edges[i, pos], j,
                                 parent.op is not None and
                                 parent.op.kind == 'elementwise'))
                group.append(Accumulate(pos, j, j not in reached))
                reached.add(j)
        if i != last:
            group.append(Free(i))
        groups.append(group)
    leaves = [(i, i in reached) for i, node in enumerate(topo)
              if node.op is None and node.requires_grad]
    return BackwardSchedule(groups, leaves)


def _render_fit(lines, t, tshape, shape, elementwise_next):
    """Append the lines that fit gradient `t` of shape `tshape` to `shape`;
    returns the shape it ends with."""
    axes, summed, kept, spread = fitting(tshape, shape, elementwise_next)
    if axes:
        lines.append(f'    {t} = xp.sum({t}, axis={axes!r})')
    if summed != kept:
        lines.append(f'    {t} = xp.reshape({t}, {kept!r})')
    if spread:
        lines.append(f'    {t} = xp.broadcast_to({t}, {shape!r})')
        return shape
    return kept


# Names of values the generated code passes from line to line (n: data,
# d: data read from the node, g: gradient), string literals skipped.
NAMES = re.compile(r'\b[ndg]\d+\b')
QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'" r'|"(?:[^"\\\n]|\\.)*"')


def _names(text: str) -> set:
    if "'" in text or '"' in text:
        text = QUOTED.sub('', text)
    return set(NAMES.findall(text))


def _function(name: str, params: str, groups: list) -> list:
    """The source of `def name(params):` running the lines of `groups`: one
    function, or past BLOCK lines a function calling blocks `b<k>_name` in
    turn (Python compiles one huge function slowly and with a large peak).
    A block starts with the values it uses from earlier ones, taken from
    the dict `live` (popped at their last use), and ends putting back those
    it set that later blocks use. Returns the functions' sources."""
    if sum(map(len, groups)) <= BLOCK:
        return [f'def {name}({params}):\n'
                + '\n'.join(line for group in groups for line in group)]
    blocks, block = [], []
    for group in groups:
        if block and len(block) + len(group) > BLOCK:
            blocks.append(block)
            block = []
        block.extend(group)
    blocks.append(block)
    used = [_names('\n'.join(block)) for block in blocks]
    first, last = {}, {}
    for b, names in enumerate(used):
        for x in names:
            first.setdefault(x, b)
            last[x] = b
    args = ', '.join([p.split('=')[0].strip() for p in params.split(',')]
                     + ['live'])
    head = [f'def {name}({params}):', '    live = {}']
    sources = []
    for b, (block, names) in enumerate(zip(blocks, used)):
        names = sorted(names)
        head.append(f'    {"return " if b == len(blocks) - 1 else ""}'
                    f'b{b}_{name}({args})')
        sources.append('\n'.join([
            f'def b{b}_{name}({args}):',
            *[f'    {x} = live.pop({x!r})' if last[x] == b else
              f'    {x} = live[{x!r}]' for x in names if first[x] < b],
            *block,
            *[f'    live[{x!r}] = {x}' for x in names if last[x] > b and
              (first[x] == b or x[0] == 'g')]]))
    return ['\n'.join(head), *sources]


@functools.lru_cache(maxsize=1024)
def fitting(tshape: tuple, shape: tuple, elementwise_next: bool):
    """How a gradient of shape `tshape` is fitted to `shape` (see
    engine.unbroadcast): the axes to sum, the shape after summing them, the
    shape with the summed non-leading axes kept as 1, and whether it must
    still be broadcast (not when `elementwise_next`: the next rule is
    elementwise and broadcasts it for free)."""
    axes = sum_axes(tshape, shape)
    summed = tuple(n for a, n in enumerate(tshape) if a not in axes)
    kept = tuple(1 if a in axes else n for a, n in enumerate(tshape)
                 )[max(len(tshape) - len(shape), 0):]
    return axes, summed, kept, kept != shape and not elementwise_next


def _broadcast(a: tuple, b: tuple) -> tuple:
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + b
    return tuple(m if n == 1 else n for n, m in zip(a, b))


def compile(root: Value, fuse: bool = False) -> Value:  # noqa: A001
    """Make `root.forward` and `root.backward` run generated straight-line
    code; returns root. The graph must not change afterwards. `fuse`:
    groups of elementwise ops run as fused Numba kernels (see fuse.py;
    needs the `jit` extra)."""
    if fuse:
        from .fuse import FusedPlan
        root.executor = FusedPlan(root)
    else:
        root.executor = Plan(root)
    return root


def compiled_source(root: Value) -> str:
    """The Python source that `compile(root)` generated: the generic code,
    then, once a backward has run, the code specialised for the most recent
    new leaf shapes."""
    source = None if root.executor is None else root.executor.source()
    if source is None:
        raise ValueError('compiled_source: this Value is not compiled; call '
                         'micrograd.compile(root) first')
    return source
