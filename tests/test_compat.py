"""The original tensor micrograd's documented behaviour, unchanged."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy import allclose, array, inf, isclose, nan, pi

from micrograd import DTYPE, Value, tensordot  # noqa: F401
from micrograd.engine import Value as EngineValue
from micrograd.nn import MLP, Layer, Neuron  # noqa: F401
from micrograd.optim import ADAM, SGD  # noqa: F401


def test_import_paths_name_the_same_class():
    assert EngineValue is Value


def test_readme_matrix_vector_example():
    a = Value(array([[2, 3], [5, 4]]))
    b = Value(array([1, -1]))
    c = (a @ b).relu()
    assert repr(c) == 'Value(data=[0. 1.], grad=None)'
    c.backward()
    assert allclose(c.grad, [1, 1])
    assert allclose(a.grad, [[0, 0], [1, -1]])
    assert allclose(b.grad, [5, 4])


def test_readme_placeholder_example():
    a = Value(shape=(2, 2), name='var1')
    b = Value(shape=(2,), name='var2')
    c = (a @ b).relu()
    c.forward(var1=array([[2, 3], [5, 4]]), var2=array([1, -1]))
    c.backward()
    assert allclose(c.data, [0, 1])
    assert allclose(a.grad, [[0, 0], [1, -1]])
    assert allclose(b.grad, [5, 4])


def test_placeholder_alone_is_its_own_root():
    a = Value(shape=(2,), name='a')
    a.forward(a=array([2, 3]))
    a.backward()
    assert allclose(a.data, [2, 3]) and allclose(a.grad, [1, 1])


def test_vector_exp_and_tanh():
    a = Value(shape=(2,), name='a')
    d = (a * 2).exp()
    d.forward(a=array([1, 2]))
    d.backward()
    assert allclose(d.data, [7.38905, 54.59815])
    assert allclose(a.grad, [14.77811, 109.1963])
    k = a.tanh()
    k.forward(a=array([0, 2]))
    k.backward()
    assert allclose(k.data, [0, 0.96402758])
    assert allclose(a.grad, [1, 0.07065082])
    assert allclose(k.grad, [1, 1])


def test_placeholder_sanity_and_refeed():
    a = Value(shape=(2,), name='a')
    b = Value(shape=(2,), name='b')
    c = (a + 2).relu() * b ** 2
    c.forward(a=array([-3, 1]), b=array([2, 3]))
    c.backward()
    assert allclose(c.data, [0, 27])
    assert allclose(a.grad, [0, 9])
    assert allclose(b.grad, [0, 18])
    c.forward(a=array([1, 1]), b=array([1, 2]))
    c.backward()
    assert allclose(c.data, [3, 12])
    assert allclose(a.grad, [1, 4])
    assert allclose(b.grad, [6, 12])


def test_unfed_placeholder_is_nan_with_warning():
    a = Value(shape=(2,), name='a')
    b = (a * 2).sum()
    with pytest.warns(UserWarning, match="'a' was not fed"):
        b.forward()
    assert np.isnan(b.data)
    # fed once, then unfed again: NaN again, as in the original
    b.forward(a=array([1.0, 2.0]))
    assert b.data == 6
    with pytest.warns(UserWarning):
        b.forward()
    assert np.isnan(b.data)


def test_graph_without_placeholders_needs_no_forward():
    c = Value(array([1.0, 2.0])) * 3
    assert allclose(c.data, [3, 6])


@pytest.mark.filterwarnings('ignore::RuntimeWarning')
def test_domain_edges_give_nan_and_inf():
    a = Value(shape=(2,), name='a')
    d = a.log()
    d.forward(a=array([-2.0, 2.0]))
    d.backward()
    assert np.isnan(d.data[0]) and np.isnan(a.grad[0])
    assert isclose(a.grad[1], 0.5)

    d = a.log1p()
    d.forward(a=array([-2, 3]))
    d.backward()
    assert allclose(d.data, [nan, 1.38629436], equal_nan=True)
    assert allclose(a.grad, [nan, 0.25], equal_nan=True)

    h = Value(shape=(5,), name='h')
    k = (h * 2).arctanh()
    k.forward(h=array([-1, -.5, 0, .5, 1]))
    k.backward()
    assert allclose(h.grad, [nan, inf, 2, inf, nan], equal_nan=True)

    k = h.arcsin()
    k.forward(h=array([-1.01, 0, 1 / 2 ** .5, 1, 1.01]))
    k.backward()
    assert allclose(k.data, [nan, 0, pi / 4, pi / 2, nan], equal_nan=True)
    assert allclose(h.grad, [nan, 1, 2 ** .5, inf, nan], equal_nan=True)


def test_unary_ops_on_0d_placeholders():
    a = Value(shape=(), name='a')
    for f, x, value, grad in [
            (lambda a: a.log(), 3, 1.09861229, 1 / 3),
            (lambda a: a.log1p(), 3, 1.38629436, 0.25),
            (lambda a: a.T ** 2, 3, 9, 6),
            (lambda a: a.tanh(), 2, 0.96402758, 0.07065082),
            (lambda a: a.arcsinh(), 0, 0, 1),
            (lambda a: a.exp(), 1, np.e, np.e)]:
        d = f(a)
        d.forward(a=x)
        d.backward()
        assert isclose(d.data, value) and isclose(a.grad, grad)


@pytest.mark.filterwarnings('ignore::RuntimeWarning')
def test_0d_domain_edges():
    a = Value(shape=(), name='a')
    k = (a * 2).arctanh()
    k.forward(a=.5)
    k.backward()
    assert k.data == inf and a.grad == inf
    k.forward(a=.75)
    k.backward()
    assert np.isnan(k.data) and np.isnan(a.grad)
    k = a.arcsin()
    k.forward(a=-1 / 2 ** .5)
    k.backward()
    assert isclose(k.data, -pi / 4) and isclose(a.grad, 2 ** .5)
    k = a.log()
    k.forward(a=-1.0)
    k.backward()
    assert np.isnan(k.data) and np.isnan(a.grad)


def test_transpose_property_T():
    f = Value(shape=(2, 1), name='f')
    g = f.T ** 2
    g.forward(f=array([[2], [-1]]))
    g.backward()
    assert g.shape == (1, 2)
    assert allclose(f.grad, [[4], [-2]])
    x = Value(np.arange(24.0).reshape(2, 3, 4))
    assert x.T.shape == (4, 3, 2)


X = array([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]])


@pytest.mark.parametrize('axis,shift,data,grad', [
    ((0, 2), 31, [0, 17], [[[0, 0, 0], [1, 1, 1]], [[0, 0, 0], [1, 1, 1]]]),
    ((0, -1), 31, [0, 17], [[[0, 0, 0], [1, 1, 1]], [[0, 0, 0], [1, 1, 1]]]),
    (0, 10, None, [[[0, 0, 1], [1, 1, 1]], [[0, 0, 1], [1, 1, 1]]]),
    (-3, 10, None, [[[0, 0, 1], [1, 1, 1]], [[0, 0, 1], [1, 1, 1]]]),
    (None, 77, [1], 1),
    (None, 79, [0], 0)])
def test_sum_axes(axis, shift, data, grad):
    a = Value(shape=(2, 2, 3), name='a')
    b = (a.sum(axis=axis) - shift).relu()
    b.forward(a=X)
    b.backward()
    if data is not None:
        assert allclose(b.data, data)
    assert allclose(a.grad, grad)


@pytest.mark.parametrize('axis,shift,grad', [
    ((0, 2), 6, [[[0, 0, 0], [1, 1, 1]], [[0, 0, 0], [1, 1, 1]]]),
    ((0, -1), 6, [[[0, 0, 0], [1, 1, 1]], [[0, 0, 0], [1, 1, 1]]]),
    (0, 5, [[[0, 0, 1], [1, 1, 1]], [[0, 0, 1], [1, 1, 1]]]),
    (-3, 5, [[[0, 0, 1], [1, 1, 1]], [[0, 0, 1], [1, 1, 1]]]),
    (None, 6, 1),
    (None, 7, 0)])
def test_mean_axes(axis, shift, grad):
    a = Value(shape=(2, 2, 3), name='a')
    b = (a.mean(axis=axis) - shift).relu()
    b.forward(a=X)
    b.backward()
    n = X.size / np.asarray(b.data).size
    assert allclose(a.grad, np.asarray(grad) / n)


@pytest.mark.parametrize('reduce', ['sum', 'mean'])
@pytest.mark.parametrize('axis', [None, ()])
def test_reductions_of_0d(reduce, axis):
    a = Value(shape=(), name='a')
    b = getattr(a ** 2, reduce)(axis=axis)
    b.forward(a=2.5)
    b.backward()
    assert isclose(b.data, 6.25) and isclose(a.grad, 5)


def test_tensordot_convention_shapes():
    a = Value(np.empty((2, 3, 4)))
    b = Value(np.empty((4, 3, 5)))
    assert tensordot(a, b, 1).shape == (2, 3, 3, 5)
    assert tensordot(a, b, 2).shape == (2, 5)
    assert tensordot(Value(np.empty(2)), Value(np.empty(3)), 0).shape == (2, 3)
    # the last axis of a meets the first of b, the next-to-last the second
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 5))
    expected = np.einsum('akj,jkb->ab', x, y)
    assert allclose(tensordot(Value(x), Value(y), 2).data, expected)


def test_tensordot_scalars_and_inner_product():
    a, b = Value(3), Value(5)
    c = tensordot(a, b, 0)
    c.backward()
    assert isclose(c.data, 15) and isclose(a.grad, 5) and isclose(b.grad, 3)
    f = Value(array([[2, 3], [4, 5]]))
    g = tensordot(a, f, 0)
    g.backward()
    assert allclose(g.data, [[6, 9], [12, 15]])
    assert isclose(a.grad, 14) and allclose(f.grad, 3)
    a, b = Value(array([2, 3])), Value(array([3, 4]))
    c = (a @ b) ** 2
    assert c.data == 18 ** 2
    c.backward()
    assert allclose(a.grad, [108, 144]) and allclose(b.grad, [72, 108])


def test_tensordot_of_an_expression_with_a_scalar():
    f = Value(array([[2, 3], [4, 5]]))
    b = Value(5)
    g = tensordot(f - 2, b, 0)
    g.backward()
    assert allclose(g.data, [[0, 5], [10, 15]])
    assert isclose(b.grad, 6) and allclose(f.grad, 5)


def test_tensordot_takes_the_original_axes_keyword():
    a = Value(np.ones((2, 3, 4)))
    b = Value(np.ones((4, 3, 5)))
    assert tensordot(a, b, axes=2).shape == (2, 5)


def test_scalar_chain():
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert isclose(x.data, -4) and isclose(x.grad, 46)
    assert isclose(y.data, -20) and isclose(y.grad, 1)


def test_more_scalar_ops():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert isclose(a.grad, 138.83381924)
    assert isclose(b.grad, 645.57725947)
    assert isclose(g.data, 24.704081632)


def test_dtype_default_is_float64():
    assert DTYPE == os.environ.get('DTYPE', 'float64')
    assert Value(array([1, 2])).dtype == np.dtype(DTYPE)


FLOAT32_PROGRAM = r'''
import numpy as np
from micrograd import DTYPE, Value
assert DTYPE == 'float32', DTYPE
w = Value(np.array([1.0, 2.0]))             # float64 array: cast
x = Value(shape=(3, 2), name='x')
y = ((x @ w) * 0.5 + 2).tanh() ** 2 / 3.0  # Python numbers: no upcast
loss = y.mean()
loss.forward(x=np.ones((3, 2)))             # float64 feed: cast
loss.backward()
for v in (w, x, y, loss):
    assert v.data.dtype == np.float32, (v, v.data.dtype)
    assert v.grad.dtype == np.float32, (v, v.grad.dtype)
print('ok')
'''


def test_dtype_float32_from_environment():
    env = dict(os.environ, DTYPE='float32')
    out = subprocess.run([sys.executable, '-c', FLOAT32_PROGRAM], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ok'


def test_bad_dtype_in_environment_is_a_clear_error():
    env = dict(os.environ, DTYPE='int8')
    out = subprocess.run([sys.executable, '-c', 'import micrograd'], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "DTYPE='int8'" in out.stderr


def test_the_environment_is_not_part_of_the_package():
    """DTYPE is read from os.environ, which the package does not export."""
    import micrograd
    with pytest.raises(AttributeError):
        micrograd.environ
    assert 'environ' not in dir(micrograd)
    assert DTYPE == os.environ.get('DTYPE', 'float64')


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    """Every ```python block of the README runs, but the two loop sketches
    (they use names the reader supplies: W, b, parameters, batches)."""
    readme = os.path.join(os.path.dirname(__file__), '..', 'README.md')
    text = open(readme).read()
    blocks = [b.split('```')[0] for b in text.split('```python\n')[1:]]
    monkeypatch.chdir(tmp_path)          # blocks may write files
    ran = 0
    for block in blocks:
        if 'wrt=[W, b]' in block or 'for batch in batches:' in block:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            exec(compile(block, 'README.md', 'exec'), {})
        ran += 1
    assert ran >= 8


# ---- the original's demos, in miniature: their code runs unchanged -------

def two_blobs(n=40, seed=0):
    """Two separable point clouds in 2-D, labels -1 and 1 (int64)."""
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, -1, 1)
    X = rng.normal(size=(n, 2)) * 0.4 + y[:, None] * np.array([1.0, -0.5])
    return X, y


def test_original_vector_demo_program():
    X, y = two_blobs()
    np.random.seed(1337)
    batch_size = len(X)
    nn_x = Value(shape=(batch_size, 2), name='x')
    nn_y = Value(shape=(batch_size,), name='y')
    m1 = Value(np.random.uniform(-1, 1, (2, 16)))
    b1 = Value(np.zeros(16))
    m2 = Value(np.random.uniform(-1, 1, (16,)))
    b2 = Value(0)
    y_pred = (nn_x @ m1 + b1).relu() @ m2 + b2
    loss = (1 - nn_y * y_pred).relu().mean()
    total_loss = loss + 1e-4 * ((m1 ** 2).sum() + (b1 ** 2).sum() +
                                (m2 ** 2).sum() + (b2 ** 2).sum())

    def learning_rate_schedule(start, decrement):
        r = start
        while r >= 0:
            yield r
            r -= decrement

    optimiser = SGD(wrt=[m1, b1, m2, b2],
                    learning_rate=learning_rate_schedule(start=1,
                                                         decrement=.9 / 30))
    total_loss.forward(x=X, y=y)
    first = float(total_loss.data)
    for k in range(30):
        total_loss.forward(x=X, y=y)
        total_loss.backward()
        optimiser.step()
        line = f'step {k} loss {total_loss.data:.6f}'
    assert line.startswith('step 29 loss ')
    total_loss.forward(x=X, y=y)
    acc = ((y_pred.data > 0) == (nn_y.data > 0)).astype(int).mean()
    assert float(total_loss.data) < 0.5 * first and acc >= 0.9
    scores = (Value(X) @ m1 + b1).relu() @ m2 + b2    # eager, no forward()
    assert np.array_equal(scores.data > 0, y_pred.data > 0)


def test_original_scalar_demo_program():
    X, y = two_blobs(n=16)
    np.random.seed(1337)
    model = MLP(2, [8, 1])
    assert len(model.parameters()) == 2 * 8 + 8 + 8 + 1

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum((p * p for p in model.parameters()))
        accuracy = [(yi > 0) == (scorei.data > 0)
                    for yi, scorei in zip(y, scores)]
        return data_loss + reg_loss, sum(accuracy) / len(accuracy)

    first, _ = loss()
    for k in range(20):
        total_loss, acc = loss()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 20
        for p in model.parameters():
            p.data -= learning_rate * p.grad
    total_loss, acc = loss()
    assert float(total_loss.data) < 0.5 * float(first.data) and acc >= 0.9
    for layer in model.layers:
        expected = sum(float(p.data) ** 2 for p in layer.parameters())
        assert isclose(layer.L2_norm(), expected)
        assert isclose(layer.grad_L2_norm(),
                       sum(float(p.grad) ** 2 for p in layer.parameters()))


def trace(root):
    """The original trace_graph notebook's walk, over `_prev`."""
    nodes, edges = set(), set()

    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)
    build(root)
    return nodes, edges


def test_original_trace_graph_walk():
    """The original trace_graph notebook walks the graph with `_prev` and
    labels op nodes with `_op`."""
    x = [Value(1.0), Value(-2.0)]
    w = [Value(0.5), Value(-0.25)]
    y = (w[0] * x[0] + w[1] * x[1]).relu()
    y.backward()
    nodes, edges = trace(y)
    assert nodes == set(y.topo())
    assert len(edges) == sum(len(n.parents) for n in nodes)
    assert sorted(n._op for n in nodes if n._op) == ['add', 'mul', 'mul',
                                                     'relu']
    assert all(n._op == '' for n in x + w)
    labels = ['{ data %.4f | grad %.4f }' % (n.data, n.grad) for n in x]
    assert labels == ['{ data 1.0000 | grad 0.5000 }',
                      '{ data -2.0000 | grad -0.2500 }']


class RecordingDigraph:
    """Stands in for graphviz.Digraph: records what the drawing code adds."""

    def __init__(self, format=None, graph_attr=None):
        self.nodes, self.edges = {}, []

    def node(self, name, label, **attrs):
        self.nodes[name] = label

    def edge(self, tail, head):
        self.edges.append((tail, head))


def original_draw_dot(root, Digraph, grad_of):
    """The original trace_graph notebook's draw_dot (trace + draw_dot), with
    its label's `n.grad` read through `grad_of` (the one change the README
    gives: a constant's .grad is None)."""
    nodes, edges = trace(root)
    dot = Digraph(format='svg', graph_attr={'rankdir': 'LR'})
    for n in nodes:
        dot.node(name=str(id(n)), shape='record',
                 label='{ data %.4f | grad %.4f }' % (n.data, grad_of(n)))
        if n._op:
            dot.node(name=str(id(n)) + n._op, label=n._op)
            dot.edge(str(id(n)) + n._op, str(id(n)))
    for n1, n2 in edges:
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)
    return dot


def test_original_trace_graph_drawing_runs_with_the_readme_change():
    import random
    from micrograd import nn
    x = Value(1.0)
    y = (x * 2 + 1).relu()              # the notebook's first example
    y.backward()
    with pytest.raises(TypeError):      # as written: a constant's grad is None
        original_draw_dot(y, RecordingDigraph, lambda n: n.grad)
    dot = original_draw_dot(y, RecordingDigraph,
                            lambda n: n.grad if n.grad is not None else 0)
    labels = sorted(label for label in dot.nodes.values() if '|' in label)
    assert labels == ['{ data 1.0000 | grad 0.0000 }',      # the constant 1
                      '{ data 1.0000 | grad 2.0000 }',      # x
                      '{ data 2.0000 | grad 0.0000 }',      # the constant 2
                      '{ data 2.0000 | grad 1.0000 }',      # x * 2
                      '{ data 3.0000 | grad 1.0000 }',      # + 1
                      '{ data 3.0000 | grad 1.0000 }']      # relu
    assert sorted(label for label in dot.nodes.values()
                  if '|' not in label) == ['add', 'mul', 'relu']
    random.seed(1337)                   # the second: a 2-input neuron
    neuron = nn.Neuron(2)
    y = neuron([Value(1.0), Value(-2.0)])
    y.backward()
    dot = original_draw_dot(y, RecordingDigraph,
                            lambda n: n.grad if n.grad is not None else 0)
    assert len(dot.nodes) == len(y.topo()) + sum(1 for n in y.topo()
                                                 if n._op)
    try:                                # and graphviz itself, if installed
        from graphviz import Digraph
    except ImportError:
        return
    assert 'grad 2.0000' in original_draw_dot(
        Value(1.0) * 2, Digraph,
        lambda n: n.grad if n.grad is not None else 0).source


FLOAT32_TRAINING = r'''
import numpy as np
from micrograd import Value
from micrograd.nn import MLP
from micrograd.optim import ADAM, SGD
np.random.seed(0)
model = MLP(3, [4, 1])
out = model([2.0, 3, np.float64(-1.0)])         # Python and NumPy numbers
loss = (out - 1) ** 2
loss.backward()
params = model.parameters()
assert {p.data.dtype for p in params} == {np.dtype('float32')}
assert {p.grad.dtype for p in params} == {np.dtype('float32')}
SGD(params, learning_rate=0.1, momentum=0.9).step()
ADAM(params, learning_rate=0.01, beta1=0.9, beta2=0.999, eps_adam=1e-8).step()
assert {p.data.dtype for p in params} == {np.dtype('float32')}
p = Value(shape=(2,), name='p')
q = (p ** 2 / 3 + np.ones(2)).sum()
q.forward(p=np.array([1, 2]))                  # an int feed: cast
q.backward()
assert p.data.dtype == q.data.dtype == p.grad.dtype == np.float32
assert Value(3).dtype == np.float32
print('ok')
'''


def test_float32_scalar_model_and_optimisers():
    env = dict(os.environ, DTYPE='float32')
    out = subprocess.run([sys.executable, '-c', FLOAT32_TRAINING], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ok'
