"""Draw a graph.

    print(to_dot(loss))          # Graphviz DOT text; needs nothing
    draw_dot(loss)               # a graphviz.Digraph (pip install graphviz)
    to_dot(loss, values=True)    # ... with each node's data and gradient

One box per Value, labelled with what made it (the op's name and settings,
'placeholder NAME', 'leaf' for a parameter or 'constant' for data) and its
shape and dtype; one arrow per edge, from parent to child. Nodes are named
n0, n1, ... in the graph's cached topological order, so the same graph always
gives the same text. With `values=True`, two more lines: the data and the
gradient, in full for arrays of at most `SMALL` elements, otherwise as
min / mean / max (arrays are brought to the host first, from any backend).
A node that asks for no gradient (a constant, or an op on constants only)
shows 'grad not needed'; one whose gradient is not (or no longer) there,
'grad none'.
"""
from __future__ import annotations

import numpy as np

from .backend import to_host
from .engine import Value

SMALL = 6           # arrays of at most this many elements are shown whole

_LEAF_STYLE = {'style': 'filled', 'fillcolor': '#e8f0fe'}


def to_dot(root: Value, values: bool = False) -> str:
    """The graph that `root` depends on as Graphviz DOT text; `values`:
    each node's data and gradient too."""
    nodes, edges = _graph(root, values)
    lines = ['digraph micrograd {', '  rankdir=LR;',
             '  node [shape=box, fontname="Helvetica"];']
    for name, label, leaf in nodes:
        style = ''.join(f', {k}="{v}"' for k, v in _LEAF_STYLE.items()
                        if leaf)
        lines.append(f'  {name} [label="{label}"{style}];')
    lines += [f'  {parent} -> {child};' for parent, child in edges]
    lines.append('}')
    return '\n'.join(lines) + '\n'


def draw_dot(root: Value, values: bool = False):
    """A `graphviz.Digraph` of the graph (render it with `.render()` or
    show it in a notebook); `values`: each node's data and gradient too.
    Needs the optional graphviz package, and the Graphviz `dot` program
    to render."""
    try:
        import graphviz
    except ImportError:
        raise ImportError('draw_dot needs the graphviz Python package: pip '
                          'install graphviz (rendering also needs the '
                          'Graphviz `dot` program, e.g. apt install '
                          'graphviz); to_dot(root) gives the DOT text '
                          'without either') from None
    nodes, edges = _graph(root, values)
    dot = graphviz.Digraph('micrograd', graph_attr={'rankdir': 'LR'},
                           node_attr={'shape': 'box',
                                      'fontname': 'Helvetica'})
    for name, label, leaf in nodes:
        # the label is already DOT-escaped: hand it over as is
        dot.node(name, graphviz.nohtml(label), **(_LEAF_STYLE if leaf else {}))
    for parent, child in edges:
        dot.edge(parent, child)
    return dot


def _graph(root: Value, values: bool = False):
    """([(id, escaped label, is_leaf)], [(parent id, child id)]), in the
    cached topological order."""
    if not isinstance(root, Value):
        raise TypeError(f'to_dot: root must be a Value, got '
                        f'{type(root).__name__}')
    topo = root.topo()
    ids = {id(node): f'n{i}' for i, node in enumerate(topo)}
    nodes = [(ids[id(node)], _label(node, values), node.op is None)
             for node in topo]
    edges = [(ids[id(parent)], ids[id(node)])
             for node in topo for parent in node.parents]
    return nodes, edges


def _label(node: Value, values: bool = False) -> str:
    """Two lines, DOT-escaped: what made the node; its shape and dtype.
    `values`: two more, its data and its gradient."""
    if node.op is not None:
        kind = ' '.join([node.op.name] + [f'{k}={v!r}' for k, v in
                                          node.meta.items() if _shown(v)])
    elif node.placeholder is not None:
        kind = f'placeholder {node.name}'
    else:
        kind = 'leaf' if node.requires_grad else 'constant'
        kind += f' {node.name}' if node.name else ''
    try:
        shape = node.placeholder if node.op is None and \
            node.placeholder is not None else node.shape
        lines, kept = [kind, f'{shape} {node.dtype}'], True
    except ValueError:      # a chunked forward keeps no inner data
        lines, kept = [kind, 'data not kept (chunked forward)'], False
    if values:
        if kept:
            lines.append('data ' + _show(node.data))
        lines.append('grad ' + (_show(node.grad) if node.grad is not None
                                else 'none' if node.requires_grad
                                else 'not needed'))
    return r'\n'.join(map(_escape, lines))


def _show(array) -> str:
    """An array in one line: whole when small, else min / mean / max."""
    a = to_host(array)
    if a.size <= SMALL:
        if a.ndim == 0:
            return _number(a.item())
        return np.array2string(a, separator=', ', formatter={
            'all': _number}, max_line_width=1 << 20).replace('\n', '')
    if a.dtype == bool:
        return f'{int(np.count_nonzero(a))} of {a.size} true'
    a = a.astype(np.float64)
    return (f'min {_number(a.min())}, mean {_number(a.mean())}, '
            f'max {_number(a.max())}')


def _number(x) -> str:
    """A number in at most 4 significant digits: 0.5, -1.333, 1e+06."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    return f'{x:.4g}'


def _shown(setting) -> bool:
    """Is an op's setting worth showing: set (not None or False), and
    short (a number, a name, a few axes; not an array)?"""
    return setting is not None and setting is not False and _short(setting)


def _short(setting) -> bool:
    if isinstance(setting, tuple):
        return len(setting) <= 4 and all(map(_short, setting))
    return setting is None or isinstance(setting, (bool, int, float, str)) \
        and len(str(setting)) <= 16


def _escape(text: str) -> str:
    """text inside a DOT double-quoted string: backslashes, quotes and
    newlines escaped."""
    return (text.replace('\\', '\\\\').replace('"', '\\"')
            .replace('\n', '\\n'))
