"""to_dot: DOT text with one node per Value and one edge per parent link,
deterministic and correctly escaped; draw_dot with and without graphviz."""
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value
from micrograd.draw import draw_dot, to_dot

NODE = re.compile(r'  (n\d+) \[label="((?:[^"\\]|\\.)*)"'
                  r'(, style="filled", fillcolor="#e8f0fe")?\];')
EDGE = re.compile(r'  (n\d+) -> (n\d+);')
HEADER = ['digraph micrograd {', '  rankdir=LR;',
          '  node [shape=box, fontname="Helvetica"];']


def parse(dot):
    """{id: (label lines, filled)} and [(parent, child)]; fails on any line
    that is not valid DOT of the expected form."""
    lines = dot.split('\n')
    assert lines[:3] == HEADER and lines[-2:] == ['}', '']
    nodes, edges = {}, []
    for line in lines[3:-2]:
        if m := NODE.fullmatch(line):
            assert m[1] not in nodes
            nodes[m[1]] = (unescape(m[2]).split('\n'), bool(m[3]))
        elif m := EDGE.fullmatch(line):
            edges.append((m[1], m[2]))
        else:
            pytest.fail(f'not a node or edge line: {line!r}')
    return nodes, edges


def unescape(label):
    """A DOT string's escapes: \\" is ", \\\\ is \\, \\n a line break."""
    return re.sub(r'\\(.)', lambda m: {'n': '\n'}.get(m[1], m[1]), label)


def model():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)), name='W')
    b = Value(np.zeros(2, dtype=np.float32), requires_grad=False)
    return x, w, ((x @ w + b).relu() * 2).sum(axis=1).mean()


def test_one_node_per_value_and_one_edge_per_parent():
    x, w, loss = model()
    nodes, edges = parse(to_dot(loss))
    topo = loss.topo()
    assert list(nodes) == [f'n{i}' for i in range(len(topo))]
    ids = {id(n): f'n{i}' for i, n in enumerate(topo)}
    assert edges == [(ids[id(p)], ids[id(n)]) for n in topo
                     for p in n.parents]
    for parent, child in edges:           # parents before children
        assert int(parent[1:]) < int(child[1:])
    assert len(nodes) == 10 and len(edges) == 9


def test_labels_say_what_made_each_node():
    x, w, loss = model()
    nodes, _ = parse(to_dot(loss))
    labels = {tuple(lines): filled for lines, filled in nodes.values()}
    assert labels[('placeholder x', '(None, 3) float64')] is True
    assert labels[('leaf W', '(3, 2) float64')] is True
    assert labels[('constant', '(2,) float64')] is True     # b, cast
    assert labels[('constant', '() float64')] is True       # the 2
    assert labels[('matmul', '(1, 2) float64')] is False
    assert labels[('relu', '(1, 2) float64')] is False
    assert labels[('sum axis=(1,)', '(1,) float64')] is False
    assert labels[('mean axis=(0,)', '() float64')] is False
    loss.forward(x=np.ones((5, 3)))           # shapes follow the data
    assert ['relu', '(5, 2) float64'] in [v[0] for v in parse(
        to_dot(loss))[0].values()]


def test_short_settings_shown_arrays_not():
    a = Value(np.ones((3, 2)))
    picked = a[np.array([0, 2])]                  # an index array: not shown
    out = mg.clip(mg.concatenate([a, picked], axis=0), 0, 1.5)
    nodes, _ = parse(to_dot(out))
    assert [lines[0] for lines, _ in nodes.values()] == [
        'leaf', 'getitem', 'concatenate axis=0', 'clip lo=0 hi=1.5']


def test_dtype_shown():
    v = Value(np.ones(3), dtype='float32')
    nodes, _ = parse(to_dot(mg.exp(v)))
    assert [lines for lines, _ in nodes.values()] == [
        ['leaf', '(3,) float32'], ['exp', '(3,) float32']]


def test_output_is_deterministic():
    texts = {to_dot(model()[2]) for _ in range(3)}
    assert len(texts) == 1
    _, _, loss = model()
    assert to_dot(loss) == to_dot(loss)


@pytest.mark.parametrize('name', ['say "hi"', 'back\\slash', 'trailing\\',
                                  'two\nlines', '<b>html</b>', 'é'])
def test_names_are_escaped(name):
    x = Value(shape=(2,), name=name)
    dot = to_dot(mg.tanh(x))
    nodes, edges = parse(dot)                   # every line still valid
    assert nodes['n0'][0] == f'placeholder {name}'.split('\n') + [
        '(2,) float64']
    assert edges == [('n0', 'n1')]


def test_a_deep_chain():
    y = Value(np.ones(2))
    for _ in range(5000):
        y = y * 1.0001
    nodes, edges = parse(to_dot(y))
    assert len(nodes) == 10001 and len(edges) == 10000


def test_to_dot_needs_a_value():
    with pytest.raises(TypeError, match='to_dot: root must be a Value, got '
                                        'ndarray'):
        to_dot(np.ones(2))


@pytest.mark.skipif(shutil.which('dot') is None,
                    reason='the Graphviz dot program is not installed')
def test_graphviz_accepts_the_text():
    x = Value(shape=(2,), name='a "quoted" \\ name')
    out = subprocess.run(['dot', '-Tsvg'], input=to_dot(mg.tanh(x) * 2),
                         capture_output=True, text=True, check=True)
    assert '<svg' in out.stdout and 'tanh' in out.stdout


def test_draw_dot_without_graphviz_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'graphviz', None)   # import fails
    with pytest.raises(ImportError, match=r'pip install graphviz') as error:
        draw_dot(model()[2])
    assert '`dot` program' in str(error.value)
    assert 'to_dot' in str(error.value)


def test_draw_dot_builds_the_same_graph():
    graphviz = pytest.importorskip('graphviz')
    _, _, loss = model()
    graph = draw_dot(loss)
    assert isinstance(graph, graphviz.Digraph)
    ours = parse(to_dot(loss))
    source = graph.source
    labels = re.findall(r'(n\d+) \[label="((?:[^"\\]|\\.)*)"', source)
    assert [(n, unescape(lab).split('\n')) for n, lab in labels] == [
        (n, lines) for n, (lines, _) in ours[0].items()]
    assert re.findall(r'(n\d+) -> (n\d+)', source) == ours[1]
    assert source.count('fillcolor') == sum(f for _, f in ours[0].values())


# ---------------------------------------------------------------- values=True

def labels_by_kind(root, **kwargs):
    """{first label line: label lines} (the first line names the node)."""
    nodes, _ = parse(to_dot(root, **kwargs))
    return {lines[0]: lines for lines, _ in nodes.values()}


def test_values_off_by_default():
    x = Value(np.array([1.0, -2.0]), name='x')
    assert to_dot(x.relu()) == to_dot(x.relu(), values=False)
    assert 'data' not in to_dot(x.relu())


def test_small_arrays_shown_whole_with_their_gradients():
    x = Value(np.array([[1.0, -2.0], [0.5, 3.0]]), name='x')
    w = Value(np.array([2.0, -1.0]), name='w')
    y = ((x @ w).relu() * 2).sum()
    before = labels_by_kind(y, values=True)
    assert before['leaf x'][2:] == ['data [[1, -2], [0.5, 3]]', 'grad none']
    assert before['constant'][2:] == ['data 2', 'grad not needed']
    y.backward()
    after = labels_by_kind(y, values=True)
    assert after['leaf x'][2:] == ['data [[1, -2], [0.5, 3]]',
                                   'grad [[4, -2], [0, 0]]']
    assert after['leaf w'][2:] == ['data [2, -1]', 'grad [2, -4]']
    assert after['matmul'][2:] == ['data [4, -2]', 'grad [2, 0]']
    assert after['relu'][2:] == ['data [4, 0]', 'grad [2, 2]']
    assert after['sum axis=(0,)'][2:] == ['data 8', 'grad 1']
    assert after['constant'][2:] == ['data 2', 'grad not needed']


def test_large_arrays_summarised():
    w = Value(np.arange(12.0).reshape(3, 4) - 4, name='W')
    y = (w * w).sum()
    y.backward()
    lines = labels_by_kind(y, values=True)['leaf W']
    assert lines[1:] == ['(3, 4) float64', 'data min -4, mean 1.5, max 7',
                         'grad min -8, mean 3, max 14']
    mask = labels_by_kind(w > 0, values=True)['greater']
    assert mask[2:] == ['data 7 of 12 true', 'grad not needed']


def test_values_on_another_backend_come_to_the_host():
    xp = pytest.importorskip('array_api_strict')
    x = Value(xp.asarray([1.0, -1.0]), name='x')
    y = mg.tanh(x).sum()
    y.backward()
    lines = labels_by_kind(y, values=True)['leaf x']
    assert lines[2:] == ['data [1, -1]', 'grad [0.42, 0.42]']


def test_values_of_a_chunked_graph_say_what_is_not_kept():
    x = Value(shape=(None, 2), name='x', requires_grad=False)
    w = Value(np.array([1.0, -1.0]), name='w')
    loss = ((x * w).relu()).sum(axis=1).mean()
    mg.chunked(loss, rows=2, workers=1)
    loss.forward(x=np.ones((4, 2)))
    labels = labels_by_kind(loss, values=True)
    assert labels['relu'][1:] == ['data not kept (chunked forward)',
                                  'grad none']
    assert labels['leaf w'][2:] == ['data [1, -1]', 'grad [1, 0]']


def test_draw_dot_shows_values_too():
    graphviz = pytest.importorskip('graphviz')
    x = Value(np.array([1.0, -2.0]), name='x')
    y = x.relu().sum()
    y.backward()
    assert 'grad [1, 0]' in draw_dot(y, values=True).source
    assert isinstance(draw_dot(y, values=True), graphviz.Digraph)
