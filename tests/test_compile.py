"""Compiled graphs: the generated straight-line code gives exactly the
interpreted walk's values and leaf gradients, on every op of the table."""
import cProfile
import importlib
import pstats

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
from op_table import ROWS

EXAMPLES = [pytest.param(row, case, id=f'{row.name}-{i}')
            for row in ROWS for i, case in enumerate(row.example_cases())]


@pytest.mark.parametrize('row, case', EXAMPLES)
def test_compiled_equals_interpreted(row, case):
    rng = np.random.default_rng(0)
    leaves = [Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected = [np.array(v.grad) for v in leaves]
    data = np.array(out.data)
    mg.compile(out)
    for _ in range(2):                     # twice: no state leaks between runs
        out.forward()
        out.backward(upstream)
        np.testing.assert_array_equal(out.data, data)
        for v, g in zip(leaves, expected):
            np.testing.assert_array_equal(v.grad, g)


def test_compiled_graph_refeeds_variable_batches_and_trains():
    model = nn.TensorMLP(3, [8, 2], rng=0)
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    loss = (model(x) ** 2).mean()
    twin = nn.TensorMLP(3, [8, 2], rng=0)
    twin_loss = (twin(x) ** 2).mean()
    mg.compile(loss)
    rng = np.random.default_rng(1)
    for rows in (5, 2, 9):
        batch = rng.standard_normal((rows, 3))
        loss.forward(x=batch)
        loss.backward()
        twin_loss.forward(x=batch)
        twin_loss.backward()
        np.testing.assert_allclose(loss.data, twin_loss.data)
        for p, q in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(p.grad, q.grad)
            p.data -= 0.1 * p.grad
            q.data -= 0.1 * q.grad
    with pytest.raises(ValueError, match="feed 'x' has shape"):
        loss.forward(x=np.ones((2, 4)))
    with pytest.raises(ValueError, match='unknown feed'):
        loss.forward(x=np.ones((2, 3)), z=1)


def test_leaf_without_gradient_path_gets_zeros_and_intermediates_are_freed():
    a, b = Value(np.ones(3)), Value(np.ones(2))
    h = a * 2
    loss = (h * 3).sum() + mg.where(b > 0, 1.0, 0.0).sum()
    mg.compile(loss)
    loss.forward()
    loss.backward()
    np.testing.assert_array_equal(a.grad, [6, 6, 6])
    np.testing.assert_array_equal(b.grad, [0, 0])
    assert h.grad is None                 # freed once consumed
    assert loss.grad == 1


def test_source_is_readable_and_names_the_rules():
    x = Value(shape=(2, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 1)))
    loss = (x @ w).tanh().sum()
    with pytest.raises(ValueError, match='not compiled'):
        mg.compiled_source(loss)
    source = mg.compiled_source(mg.compile(loss))
    for text in ('def forward(feeds):', 'def backward(seed, fit):',
                 'matmul_forward(xp, n0, N[1]._data)', 'tanh_backward(',
                 'need=(False, True)', "axis=(0, 1)", 'fit(2, t0, d3.shape, True)'):
        assert text in source, text
    profile = cProfile.Profile()
    profile.enable()
    loss.forward(x=np.ones((2, 3)))
    loss.backward()
    profile.disable()
    special = mg.compiled_source(loss).split('# specialised for leaf shapes '
                                             '((2, 3), (3, 1))\n')[1]
    assert 'def backward(seed):' in special and 'fit(' not in special
    names = {f[2] for f in pstats.Stats(profile).stats}
    assert {'matmul_forward', 'matmul_backward', 'tanh_backward'} <= names


def test_an_op_on_one_node_twice_computes_its_gradient_once():
    """x * x and x + x: the two gradients are equal, so the compiled code
    asks the rule for one and uses it twice; the result is bit for bit the
    interpreted walk's."""
    a = Value(np.array([1.0, -2.0, 3.0]))
    b = Value(np.array([0.5, -1.0, 2.0]))
    loss = (a * a).sum() + 3 * (b + b).sum() + (a * b * b).sum()
    loss.backward()
    expected = [a.grad.copy(), b.grad.copy()]
    mg.compile(loss)
    loss.forward()
    loss.backward()
    np.testing.assert_array_equal(a.grad, expected[0])
    np.testing.assert_array_equal(b.grad, expected[1])
    np.testing.assert_array_equal(a.grad, 2 * a.data + b.data ** 2)
    # two such nodes, in three functions: backward and step, generic, and
    # the backward specialised (step is written when chunked first uses it)
    assert mg.compiled_source(loss).count('    t1 = t0') == 2 * 3


pytestmark = pytest.mark.usefixtures('forget_user_ops')


def _user_op(name, scale):
    """A user op whose rules are called fwd / bwd, like every other's."""
    def fwd(xp, x):
        return x * scale

    def bwd(xp, g, out, x, need):
        return (g * scale,)
    return mg.Op(name, fwd, bwd)


def _compiled_matches_interpreted(loss, leaves):
    loss.backward()
    expected = [float(loss.data)] + [np.array(v.grad) for v in leaves]
    mg.compile(loss)
    for _ in range(2):
        loss.forward()
        loss.backward()
        np.testing.assert_array_equal(loss.data, expected[0])
        for v, g in zip(leaves, expected[1:]):
            np.testing.assert_array_equal(v.grad, g)


def test_user_rules_with_the_same_name_lambdas_and_reserved_names():
    x = Value(np.array([1.0, 2.0, 3.0]))
    double, triple = _user_op('user_double', 2.0), _user_op('user_triple', 3.0)
    square = mg.Op('user_square', lambda xp, x: x * x,
                   lambda xp, g, out, x, need: (2 * g * x,))

    def forward(xp, x):                  # the plan's own function names
        return x + 1.0

    def backward(xp, g, out, x, need):
        return (g,)

    def n0(xp, x):                       # a generated variable's name
        return x - 1.0

    def fit(xp, g, out, x, need):
        return (g,)
    shift, unshift = mg.Op('user_shift', forward, backward), mg.Op(
        'user_unshift', n0, fit)
    h = mg.apply(square, mg.apply(double, x) + mg.apply(triple, x))
    loss = mg.apply(unshift, mg.apply(shift, h)).sum() + mg.apply(
        double, x).sum()
    _compiled_matches_interpreted(loss, [x])
    np.testing.assert_array_equal(x.grad, 50 * x.data + 2)
    source = mg.compiled_source(loss)
    assert 'fwd(xp, ' in source and '_fwd(xp, ' in source   # one renamed
    assert '_lambda_(xp, ' in source


@pytest.mark.parametrize('settings', [
    {'lo': 0.0, 'hi': float('inf')}, {'lo': float('-inf'), 'hi': 2.0},
    {'lo': np.float32(0.5), 'hi': np.int64(3)},
    {'lo': np.float64(-0.0), 'hi': None}, {'lo': None, 'hi': 1.5}])
def test_every_setting_round_trips_in_the_generated_code(settings):
    x = Value(np.array([-1.0, 0.25, 2.0, 5.0]))
    loss = (x.clip(settings['lo'], settings['hi']) * 2).sum()
    _compiled_matches_interpreted(loss, [x])


def test_literal_settings_keep_their_value_type_and_sign():
    seen = []

    def fwd(xp, x, c, d, pair, scalars):
        seen.append((c, d, pair, scalars))
        return x * 1.0

    def bwd(xp, g, out, x, c, d, pair, scalars, need):
        return (g,)
    op = mg.Op('user_settings', fwd, bwd)
    x = Value(np.ones(2))
    loss = mg.apply(op, x, c=-0.0, d=float('nan'),
                    pair=(float('-inf'), None, 2, (1.5, 'a')),
                    scalars=(np.float32(2.5), np.int64(3))).sum()
    mg.compile(loss)
    seen.clear()
    loss.forward()
    c, d, pair, scalars = seen[-1]
    assert c == 0.0 and np.copysign(1.0, c) == -1.0 and np.isnan(d)
    assert pair == (float('-inf'), None, 2, (1.5, 'a'))
    assert scalars == (2.5, 3)
    assert [type(s) for s in scalars] == [np.float32, np.int64]


def test_long_graphs_are_written_in_blocks_that_pass_live_values(monkeypatch):
    """Past BLOCK lines a function is written as blocks called in turn;
    values cross blocks through `live` and are popped at their last use.
    Same numbers as the interpreted walk, for backward and chunked step,
    with a feed whose name looks like a generated variable."""
    code = importlib.import_module('micrograd.compile')
    monkeypatch.setattr(code, 'BLOCK', 4)
    model = nn.TensorMLP(3, [4, 4, 2], rng=0)
    x = Value(shape=(None, 3), name='n0', requires_grad=False)
    loss = ((model(x) * model(x)).tanh() + 1.0).mean()
    batch = np.random.default_rng(0).standard_normal((6, 3))
    loss.forward(n0=batch)
    loss.backward()
    expected = [float(loss.data)] + [p.grad.copy() for p in
                                     model.parameters()]
    mg.compile(loss)
    for _ in range(2):
        loss.forward(n0=batch)
        loss.backward()
        np.testing.assert_array_equal(loss.data, expected[0])
        for p, g in zip(model.parameters(), expected[1:]):
            np.testing.assert_array_equal(p.grad, g)
    source = mg.compiled_source(loss)
    for text in ('def forward(feeds):\n    live = {}\n    b0_forward(feeds, '
                 'live)', 'def b1_backward(seed, live):',
                 "live.pop('g", "feeds['n0']"):
        assert text in source, text
    assert source.count('\ndef b') > 10
    mg.chunked(loss, rows=4, workers=2)
    loss.forward(n0=batch)
    loss.backward()
    np.testing.assert_allclose(loss.data, expected[0], rtol=1e-12)
    for p, g in zip(model.parameters(), expected[1:]):
        np.testing.assert_allclose(p.grad, g, rtol=1e-9, atol=1e-15)
    assert 'def b1_step(feeds, seed, fit, live):' in mg.compiled_source(loss)
