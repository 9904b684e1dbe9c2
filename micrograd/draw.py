"""Draw a graph: `to_dot(root)` gives Graphviz DOT text (no dependency);
`draw_dot(root)` a `graphviz.Digraph` (pip install graphviz, and the `dot`
program to render it)."""
from __future__ import annotations

from .engine import Value


def _label(node: Value) -> str:
    if node.op is not None:
        kind = node.op.name
    elif node.placeholder is not None:
        kind = f'placeholder {node.name}'
    else:
        kind = 'leaf' if node.requires_grad else 'constant'
    return f'{kind}\\n{node.shape} {node.dtype}'


def _graph(root: Value):
    """(nodes as (id, label, is_leaf), edges as (parent id, child id))."""
    topo = root.topo()
    ids = {id(n): f'n{i}' for i, n in enumerate(topo)}
    nodes = [(ids[id(n)], _label(n), n.op is None) for n in topo]
    edges = [(ids[id(p)], ids[id(n)]) for n in topo for p in n.parents]
    return nodes, edges


def to_dot(root: Value) -> str:
    """DOT text: one box per node (op or kind, shape, dtype), edges from
    parents to children, in the graph's cached order."""
    nodes, edges = _graph(root)
    lines = ['digraph micrograd {', '  rankdir=LR;',
             '  node [shape=box, fontname="Helvetica"];']
    for name, label, leaf in nodes:
        style = ', style=filled, fillcolor="#e8f0fe"' if leaf else ''
        lines.append(f'  {name} [label="{_escape(label)}"{style}];')
    lines += [f'  {a} -> {b};' for a, b in edges]
    lines.append('}')
    return '\n'.join(lines) + '\n'


def _escape(text: str) -> str:
    return text.replace('"', '\\"')


def draw_dot(root: Value):
    """A graphviz.Digraph of the graph (needs the optional graphviz package)."""
    try:
        import graphviz
    except ImportError:
        raise ImportError('draw_dot needs the graphviz package: pip install '
                          'graphviz (and the Graphviz `dot` program to render);'
                          ' to_dot(root) gives the DOT text without it') from None
    dot = graphviz.Digraph('micrograd', graph_attr={'rankdir': 'LR'},
                           node_attr={'shape': 'box'})
    for name, label, leaf in _graph(root)[0]:
        dot.node(name, label, **({'style': 'filled', 'fillcolor': '#e8f0fe'}
                                 if leaf else {}))
    for a, b in _graph(root)[1]:
        dot.edge(a, b)
    return dot
