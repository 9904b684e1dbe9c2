"""Draw a graph.

    print(to_dot(loss))          # Graphviz DOT text; needs nothing
    draw_dot(loss)               # a graphviz.Digraph (pip install graphviz)

One box per Value, labelled with what made it (the op's name and settings,
'placeholder NAME', 'leaf' for a parameter or 'constant' for data) and its
shape and dtype; one arrow per edge, from parent to child. Nodes are named
n0, n1, ... in the graph's cached topological order, so the same graph always
gives the same text.
"""
from __future__ import annotations

from .engine import Value

_LEAF_STYLE = {'style': 'filled', 'fillcolor': '#e8f0fe'}


def to_dot(root: Value) -> str:
    """The graph that `root` depends on as Graphviz DOT text."""
    nodes, edges = _graph(root)
    lines = ['digraph micrograd {', '  rankdir=LR;',
             '  node [shape=box, fontname="Helvetica"];']
    for name, label, leaf in nodes:
        style = ''.join(f', {k}="{v}"' for k, v in _LEAF_STYLE.items()
                        if leaf)
        lines.append(f'  {name} [label="{label}"{style}];')
    lines += [f'  {parent} -> {child};' for parent, child in edges]
    lines.append('}')
    return '\n'.join(lines) + '\n'


def draw_dot(root: Value):
    """A `graphviz.Digraph` of the graph (render it with `.render()` or
    show it in a notebook). Needs the optional graphviz package, and the
    Graphviz `dot` program to render."""
    try:
        import graphviz
    except ImportError:
        raise ImportError('draw_dot needs the graphviz Python package: pip '
                          'install graphviz (rendering also needs the '
                          'Graphviz `dot` program, e.g. apt install '
                          'graphviz); to_dot(root) gives the DOT text '
                          'without either') from None
    nodes, edges = _graph(root)
    dot = graphviz.Digraph('micrograd', graph_attr={'rankdir': 'LR'},
                           node_attr={'shape': 'box',
                                      'fontname': 'Helvetica'})
    for name, label, leaf in nodes:
        # the label is already DOT-escaped: hand it over as is
        dot.node(name, graphviz.nohtml(label), **(_LEAF_STYLE if leaf else {}))
    for parent, child in edges:
        dot.edge(parent, child)
    return dot


def _graph(root: Value):
    """([(id, escaped label, is_leaf)], [(parent id, child id)]), in the
    cached topological order."""
    if not isinstance(root, Value):
        raise TypeError(f'to_dot: root must be a Value, got '
                        f'{type(root).__name__}')
    topo = root.topo()
    ids = {id(node): f'n{i}' for i, node in enumerate(topo)}
    nodes = [(ids[id(node)], _label(node), node.op is None) for node in topo]
    edges = [(ids[id(parent)], ids[id(node)])
             for node in topo for parent in node.parents]
    return nodes, edges


def _label(node: Value) -> str:
    """Two lines, DOT-escaped: what made the node; its shape and dtype."""
    if node.op is not None:
        kind = ' '.join([node.op.name] + [f'{k}={v!r}' for k, v in
                                          node.meta.items() if _shown(v)])
        shape = node.shape
    elif node.placeholder is not None:
        kind, shape = f'placeholder {node.name}', node.placeholder
    else:
        kind = 'leaf' if node.requires_grad else 'constant'
        kind += f' {node.name}' if node.name else ''
        shape = node.shape
    return _escape(kind) + r'\n' + _escape(f'{shape} {node.dtype}')


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
