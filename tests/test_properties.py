"""Properties every op of the table must have: gradient shapes, linearity
in the upstream gradient, inputs never mutated, fan-out and diamonds,
re-feeding a static graph, backward twice."""
import copy

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

import micrograd as mg
from op_table import ROWS

ROW_PARAMS = [pytest.param(row, id=row.name) for row in ROWS]


def run(row, case, upstream=None, seed=0):
    """Forward and backward on fresh leaves; returns (leaves, out, upstream)."""
    leaves = [mg.Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    if upstream is None:
        upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    return leaves, out, upstream


def grads_for(row, case, upstream):
    leaves, _, _ = run(row, case, upstream)
    return [np.array(v.grad) for v in leaves]


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_gradient_shape_equals_data_shape(row, data):
    case = data.draw(row.cases(), label='case')
    leaves, out, _ = run(row, case)
    for v in leaves:
        assert v.grad is not None
        assert v.grad.shape == v.data.shape
        assert v.grad.dtype == v.data.dtype == np.float64
    for node in out.topo():
        if node.requires_grad:
            assert node.grad.shape == node.data.shape
        else:                      # constants: no gradient, none computed
            assert node.grad is None or node is out


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data(), a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_backward_is_linear_in_the_upstream_gradient(row, data, a, b):
    case = data.draw(row.cases(), label='case')
    shape = run(row, case)[1].shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    u, v = rng.standard_normal(shape), rng.standard_normal(shape)
    combined = grads_for(row, case, a * u + b * v)
    separate = [a * gu + b * gv for gu, gv in
                zip(grads_for(row, case, u), grads_for(row, case, v))]
    for got, want in zip(combined, separate):
        assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def snapshot(obj):
    return copy.deepcopy(obj)


def assert_unchanged(before, after):
    if isinstance(before, np.ndarray):
        assert_array_equal(after, before)
    elif isinstance(before, (tuple, list)):
        for b, a in zip(before, after):
            assert_unchanged(b, a)
    elif isinstance(before, dict):
        for k in before:
            assert_unchanged(before[k], after[k])


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_inputs_are_never_mutated(row, data):
    """Arrays given to Value, constants in params, the upstream gradient:
    untouched by forward, backward (twice) and an in-place SGD step."""
    case = data.draw(row.cases(), label='case')
    arrays, params = snapshot(case.arrays), snapshot(case.params)
    leaves = [mg.Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    kept_upstream = upstream.copy()
    with np.errstate(all='ignore'):   # a step may leave an op's domain
        for _ in range(2):
            out.backward(upstream)
            for v in leaves:                   # an optimiser step
                v.data -= 0.1 * v.grad
            out.forward()
    assert_unchanged(arrays, case.arrays)
    assert_unchanged(params, case.params)
    assert_array_equal(upstream, kept_upstream)


def test_inputs_are_never_mutated_with_fan_out():
    rng = np.random.default_rng(4)
    x, w, c = (rng.standard_normal((3, 4)), rng.standard_normal((4,)),
               rng.standard_normal((3, 4)))
    feed = rng.standard_normal((3, 4))
    kept = [a.copy() for a in (x, w, c, feed)]
    vx, vw = mg.Value(x), mg.Value(w)
    data = mg.Value(c, requires_grad=False)          # wraps c without a copy
    ph = mg.Value(shape=(3, 4), name='p')
    a = vx * vw + data
    loss = (a * a + a + vx + vw + data * vx + ph * vx + ph).sum()
    upstream = np.array(1.0)
    for _ in range(3):
        loss.forward(p=feed)
        loss.backward(upstream)
        vx.data -= 0.01 * vx.grad
        vw.data -= 0.01 * vw.grad
    for before, after in zip(kept, (x, w, c, feed)):
        assert_array_equal(after, before)
    assert upstream == 1.0


# ---------------------------------------------------------------- fan-out, diamonds

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_fan_out_accumulates(shape, seed):
    rng = np.random.default_rng(seed)
    x, u = rng.uniform(0.5, 2.0, shape), rng.standard_normal(shape)
    v = mg.Value(x)
    (v * v * v + v + v - 2.0 * v).backward(u)           # 3x^2 + 1 + 1 - 2
    assert_allclose(v.grad, u * 3 * x ** 2, rtol=1e-12)
    v = mg.Value(x)
    y = v + v
    (y + y + y).backward(u)                            # aliasing adds: 6
    assert_allclose(v.grad, 6 * u, rtol=1e-12)
    mg.gradcheck(lambda a: a * a.exp() + a.log() * a + a, x)


@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_diamond_accumulates(shape, seed):
    rng = np.random.default_rng(seed)
    x, u = rng.uniform(-1.0, 1.0, shape), rng.standard_normal(shape)
    v = mg.Value(x)
    top = v.tanh()
    left, right = top * 2.0, top.exp()
    (left * right + left).backward(u)
    t = np.tanh(x)
    # d/dx (2t e^t + 2t) = (2 e^t + 2 t e^t + 2) (1 - t^2)
    assert_allclose(v.grad, u * (2 * np.exp(t) * (1 + t) + 2) * (1 - t * t),
                    rtol=1e-12)
    mg.gradcheck(lambda a: (a.tanh() * 2.0) * a.tanh().exp() + a.tanh(), x)


def test_shared_subgraph_across_many_paths():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    def f(x, w):
        h = (x @ w).tanh()                 # used by four consumers
        return (h * h).sum(axis=0) + h.max(axis=0) + mg.concatenate(
            [h, h], axis=0).mean(axis=0) + mg.stack([h[0], h[1], h[0]]).sum(
                axis=0)
    mg.gradcheck(f, x, w)


# ---------------------------------------------------------------- static graphs

@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_refeeding_a_static_graph_matches_an_eager_rebuild(row, data):
    spec = data.draw(row.specs, label='spec')
    seeds = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=2,
                               max_size=3, unique=True), label='seeds')
    first = row.case(spec, seeds[0])
    holders = [mg.Value(shape=a.shape, name=f'x{i}')
               for i, a in enumerate(first.arrays)]
    with np.errstate(invalid='ignore'):   # built on NaN (not yet fed)
        static = row.fn(*holders, **first.params)
    for seed in seeds:
        arrays = row.case(spec, seed).arrays       # new data, same settings
        feeds = {f'x{i}': a for i, a in enumerate(arrays)}
        upstream = np.random.default_rng(seed).standard_normal(static.shape)
        assert static.forward(**feeds) is static
        static.backward(upstream)
        leaves = [mg.Value(a) for a in arrays]
        eager = row.fn(*leaves, **first.params)
        eager.backward(upstream)
        assert_array_equal(static.data, eager.data)
        for holder, leaf in zip(holders, leaves):
            assert_array_equal(holder.grad, leaf.grad)


def test_refeeding_a_small_network():
    rng = np.random.default_rng(6)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x = mg.Value(shape=(5, 3), name='x')
    y = mg.Value(shape=(5, 4), name='y')
    vW, vb = mg.Value(W), mg.Value(b)
    loss = (((x @ vW + b).tanh() - y) ** 2).mean() + (vW * vW).sum() * 1e-3
    for _ in range(3):
        xs, ys = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
        loss.forward(x=xs, y=ys)
        loss.backward()
        got = [vW.grad.copy(), x.grad.copy()]
        eW, ex = mg.Value(W), mg.Value(xs)
        eager = (((ex @ eW + b).tanh() - ys) ** 2).mean() + \
            (eW * eW).sum() * 1e-3
        eager.backward()
        assert_allclose(loss.data, eager.data, rtol=1e-14)
        assert_array_equal(got[0], eW.grad)
        assert_array_equal(got[1], ex.grad)
    del vb


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_backward_twice_gives_the_same_gradients(row, data):
    case = data.draw(row.cases(), label='case')
    leaves, out, upstream = run(row, case)
    first = [np.array(v.grad) for v in leaves]
    out.backward(upstream)
    assert all(np.array_equal(v.grad, g) for v, g in zip(leaves, first))
    out.backward(2 * upstream)      # another upstream in between...
    out.backward(upstream)          # ...leaves no trace
    for v, g in zip(leaves, first):
        assert_array_equal(v.grad, g)


def test_stop_gradient_and_constants_get_no_gradient():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3))
    v, c = mg.Value(x), mg.Value(x, requires_grad=False)
    out = (v * mg.stop_gradient(v) + v.detach() * c + v * (v > 0)).sum()
    out.backward()
    assert c.grad is None
    assert_allclose(v.grad, x + (x > 0))


@pytest.mark.parametrize('row', ROW_PARAMS)
def test_float32_graph_stays_float32(row):
    """Numbers, arrays and lists mixed in become constants of the graph's
    dtype: no rule or constant upcasts a float32 graph."""
    for case in row.example_cases():
        leaves = [mg.Value(a, dtype='float32') for a in case.arrays]
        out = row.fn(*leaves, **case.params)
        out.backward()
        # astype is the one op that changes it, to the dtype in its name
        cast = ('astype' in row.covers and
                (np.longdouble if 'float128' in row.name else np.float64))
        assert out.dtype == (cast or np.float32)
        for v in leaves:
            assert v.grad.dtype == np.float32
        want = grads_for(row, case, np.ones(out.shape))
        for v, g in zip(leaves, want):
            assert_allclose(v.grad, g, rtol=2e-4, atol=2e-4)
