"""The engine: graph walks, who gets gradients, errors, NumPy interplay."""
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import micrograd as mg
from micrograd import Value
from micrograd.engine import toposort, unbroadcast
from micrograd.backend import NUMPY


def test_backward_twice_gives_the_same_gradients():
    rng = np.random.default_rng(0)
    w = Value(rng.standard_normal((3, 2)))
    x = Value(rng.standard_normal((4, 3)), requires_grad=False)
    loss = ((x @ w).tanh() ** 2).sum()
    loss.backward()
    first = w.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(w.grad, first)


def test_non_scalar_root_differentiates_its_sum():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4))
    x, y = Value(a), Value(a)
    (x * x).backward()
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, y.grad)
    np.testing.assert_allclose(x.grad, 2 * a)


def test_backward_with_upstream_gradient():
    x = Value(np.array([1.0, 2.0, 3.0]))
    u = np.array([0.5, -1.0, 2.0])
    (x * x).backward(u)
    np.testing.assert_allclose(x.grad, 2 * x.data * u)
    with pytest.raises(ValueError,
                       match=r'backward: gradient has shape \(2,\)'):
        (x * x).backward(np.ones(2))


def test_requires_grad_false_gets_no_gradient():
    w = Value(np.ones((3, 2)))
    x = Value(np.ones((4, 3)), requires_grad=False)
    xx = x * 2                       # depends only on x
    y = (xx @ w).sum()
    y.backward()
    assert x.grad is None and xx.grad is None
    assert w.grad is not None and not xx.requires_grad
    assert y.requires_grad


@pytest.mark.parametrize('cut', [mg.stop_gradient, lambda v: v.detach()])
def test_stop_gradient_and_detach(cut):
    x = Value(np.array([1.0, 2.0]))
    s = cut(x * 3)
    s2 = (s * 2).exp()                 # depends on x only through the cut
    y = (s2 * x).sum()
    y.backward()
    assert s.grad is None and not s.requires_grad
    assert s2.grad is None and not s2.requires_grad
    np.testing.assert_allclose(x.grad, s2.data)    # only the direct path
    np.testing.assert_allclose(s.data, x.data * 3)


def test_python_numbers_get_no_gradient_buffer():
    x = Value(np.array([1.0, 2.0]))
    y = x * 2 + 1
    y.backward()
    constants = [n for n in y.topo() if n is not x and n.op is None]
    assert len(constants) == 2
    assert all(c.grad is None and not c.requires_grad for c in constants)


def test_placeholders_receive_gradients_by_default():
    x = Value(shape=(2,), name='x')
    y = (x * x).sum()
    y.forward(x=np.array([1.0, 3.0]))
    y.backward()
    np.testing.assert_allclose(x.grad, [2, 6])
    z = Value(shape=(2,), name='z', requires_grad=False)
    y = (z * x).sum()
    y.forward(x=np.ones(2), z=np.ones(2))
    y.backward()
    assert z.grad is None


def test_a_node_without_a_gradient_path_gets_zeros():
    x = Value(np.array([1.0, -2.0]))
    y = mg.where(x > 0, 1.0, 2.0).sum()     # x only reaches y via a comparison
    y.backward()
    assert x.grad is not None and np.all(x.grad == 0)


def test_chain_of_100000_ops():
    t0 = time.perf_counter()
    x = Value(np.linspace(-1, 1, 16))
    y = x
    for _ in range(50_000):
        y = y * 1.0001 + 0.0001          # two ops per round
    loss = y.sum()
    t1 = time.perf_counter()
    x.data = x.data * 2                  # forward() must see the new data
    loss.forward()
    t2 = time.perf_counter()
    loss.backward()
    t3 = time.perf_counter()
    assert len(loss.topo()) > 100_000
    a = 1.0001 ** 50_000                 # y = a x + c, c = 1e-4 sum_k 1.0001^k
    c = 1e-4 * (a - 1) / 0.0001
    np.testing.assert_allclose(loss.data, np.sum(a * x.data + c))
    np.testing.assert_allclose(x.grad, a)
    print(f'\n100,000-op chain: build {t1 - t0:.2f} s, forward '
          f'{t2 - t1:.2f} s, backward {t3 - t2:.2f} s')


def test_toposort_is_deterministic_and_parents_first():
    a, b = Value(1.0), Value(2.0)
    c = a * b + a
    d = c * c + b
    order = toposort(d)
    assert order == toposort(d)
    position = {id(n): i for i, n in enumerate(order)}
    for n in order:
        assert all(position[id(p)] < position[id(n)] for p in n.parents)
    assert order[-1] is d and len(order) == len({id(n) for n in order})


def test_graph_walk_is_the_same_for_every_build():
    """The order depends on how the graph is built, never on ids or hashes:
    two builds of the same program walk their nodes in the same order."""
    def build():
        x = Value(np.ones(3), name='x')
        w = Value(np.ones(3), name='w')
        a, b = x * w, x + w
        return ((a * b).tanh() + a.exp() - b).sum()

    def op_names(root):
        return [n.op.name if n.op else n.name or 'constant'
                for n in root.topo()]

    first = op_names(build())
    assert all(op_names(build()) == first for _ in range(5))
    assert first[:3] == ['x', 'w', 'mul'] and first[-1] == 'sum'


def test_fan_out_and_diamond_accumulate():
    x = Value(np.array([2.0]))
    a, b = x * 3, x * x
    y = a * b + a           # diamond through a and b, fan-out of a
    y.backward()
    # y = 3x^3 + 3x ; dy/dx = 9x^2 + 3
    np.testing.assert_allclose(x.grad, [39.0])


def test_a_seed_array_shared_by_two_edges_is_never_written():
    # add hands its upstream gradient, here the caller's own array `u`, to
    # both parents by assignment; `a` then gets a second contribution, which
    # must not be added into `u` in place (that would also change b.grad)
    rng = np.random.default_rng(3)
    xd = rng.standard_normal((3, 4))
    u = rng.standard_normal((3, 4))
    u_before = u.copy()
    x = Value(xd)
    a, b = x.tanh(), x * x
    root = (a + b) + a
    root.backward(u)
    np.testing.assert_array_equal(u, u_before)
    np.testing.assert_allclose(b.grad, u)
    np.testing.assert_allclose(a.grad, 2 * u)
    np.testing.assert_allclose(x.grad, 2 * u * (1 - np.tanh(xd) ** 2) +
                               u * 2 * xd)
    u.flags.writeable = False        # a write into it would now raise
    root.backward(u)
    np.testing.assert_allclose(a.grad, 2 * u)


def test_read_only_broadcast_gradients_accumulate_functionally():
    x = Value(np.ones(3))
    x.sum().backward()
    assert not x.grad.flags.writeable    # the premise: a broadcast view
    # three contributions, each such a view: assign, add, add again
    t = x.sum() * 2 + x.sum() * 3 + x.sum() * 4
    t.backward()
    np.testing.assert_allclose(x.grad, [9, 9, 9])
    t.backward()
    np.testing.assert_allclose(x.grad, [9, 9, 9])


def test_fan_out_of_broadcast_to_and_add():
    x = Value(np.array([1.0, 2.0, 3.0, 4.0]))
    y = mg.broadcast_to(x, (3, 4))
    z = (y + y + y * x).sum()        # add gives the same g to both parents
    z.backward()
    np.testing.assert_allclose(y.grad, np.broadcast_to(2 + x.data, (3, 4)))
    np.testing.assert_allclose(x.grad, 3 * (2 + x.data) + 3 * x.data)


# ---- random graphs with fan-out, checked by central differences ----------

SHAPES = [(3, 4), (4,), (3, 1), (1, 4), ()]


def random_graph(rng, n_leaves, n_ops):
    """Leaves of broadcast-compatible shapes, then ops on randomly picked
    earlier nodes (so nodes fan out), then a weighted sum of the last few
    nodes and one random node, so that many nodes reach the root."""
    leaves = [Value(rng.uniform(-1, 1, SHAPES[rng.integers(len(SHAPES))]))
              for _ in range(n_leaves)]
    nodes = list(leaves)
    for _ in range(n_ops):
        a = nodes[rng.integers(len(nodes))]
        b = nodes[rng.integers(len(nodes))]
        kind = rng.integers(7)
        if kind == 0:
            node = a + b
        elif kind == 1:
            node = a * b
        elif kind == 2:
            node = a - b
        elif kind == 3:
            node = mg.broadcast_to(a, (3, 4))
        elif kind == 4:
            node = (a * 0.5 + b).tanh()
        elif kind == 5 and a.ndim == 2:
            node = a.sum(axis=int(rng.integers(2)), keepdims=True)
        else:
            node = a / (1.5 + b.tanh())
        nodes.append(node)
    picked = nodes[-3:] + [nodes[rng.integers(len(nodes))]]
    weights = [rng.standard_normal((3, 4)) for _ in picked]
    root = sum((n * w).sum() for n, w in zip(picked, weights))
    return leaves, root


def central_differences(root, leaf, eps=1e-6):
    base = leaf.data.copy()
    grad = np.zeros_like(base)
    for k in range(base.size):
        for sign in (1, -1):
            moved = base.copy()
            moved.flat[k] += sign * eps
            leaf.data = moved
            grad.flat[k] += sign * float(root.forward().data) / (2 * eps)
    leaf.data = base
    root.forward()
    return grad


@settings(max_examples=60)
@given(seed=st.integers(0, 2 ** 32 - 1), n_leaves=st.integers(1, 3),
       n_ops=st.integers(1, 12))
def test_random_graphs_match_central_differences(seed, n_leaves, n_ops):
    rng = np.random.default_rng(seed)
    leaves, root = random_graph(rng, n_leaves, n_ops)
    before = [leaf.data.copy() for leaf in leaves]
    root.backward()
    in_graph = {id(n) for n in root.topo()}
    for leaf, data in zip(leaves, before):
        np.testing.assert_array_equal(leaf.data, data)   # inputs untouched
        if id(leaf) not in in_graph:     # the root does not depend on it
            assert leaf.grad is None
            continue
        assert leaf.grad.shape == leaf.shape
        numeric = central_differences(root, leaf)
        scale = max(1.0, float(np.abs(numeric).max()))
        np.testing.assert_allclose(leaf.grad, numeric, rtol=1e-5,
                                   atol=1e-6 * scale)


def test_broadcast_3_1_times_3_4():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((3, 4))
    x, y = Value(a), Value(b)
    (x * y).backward()
    assert x.grad.shape == (3, 1) and y.grad.shape == (3, 4)
    np.testing.assert_allclose(x.grad, b.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(y.grad, np.broadcast_to(a, (3, 4)))


@pytest.mark.parametrize('g_shape,shape', [
    ((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((2, 3, 4), (3, 1)),
    ((2, 3, 4), ()), ((3,), (3,)), ((1, 4), (3, 4)), ((4,), (2, 4))])
def test_unbroadcast(g_shape, shape):
    g = np.arange(float(np.prod(g_shape))).reshape(g_shape)
    out = unbroadcast(NUMPY, g, shape)
    assert out.shape == shape
    # summing what broadcasting repeated keeps the total for reductions
    if len(g_shape) >= len(shape) and all(
            s in (1, gs) for s, gs in zip(shape[::-1], g_shape[::-1])):
        assert np.isclose(out.sum(), g.sum())


def test_ndarray_and_value_give_a_value():
    x = Value(np.array([1.0, 2.0]))
    for r in (np.ones(2) + x, np.ones(2) * x, np.ones(2) - x, np.ones(2) / x,
              np.ones(2) ** x, np.ones((2, 2)) @ x):
        assert isinstance(r, Value)
    r = np.array([3.0, 4.0]) * x
    r.sum().backward()
    np.testing.assert_allclose(x.grad, [3, 4])


def test_numpy_functions_refuse_values():
    x = Value(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r'micrograd\.exp'):
        np.exp(x)
    with pytest.raises(TypeError, match=r'micrograd\.sum'):
        np.sum(x)


def test_errors_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r'matmul: shapes \(3, 4\) and '
                                         r'\(5,\) do not align'):
        Value(np.ones((3, 4))) @ Value(np.ones(5))
    with pytest.raises(ValueError, match=r'add: .*\(3,\) and \(4,\)'):
        Value(np.ones(3)) + Value(np.ones(4))
    with pytest.raises(ValueError, match=r'reshape: .*\(2, 3\)'):
        Value(np.ones((2, 3))).reshape(4)
    with pytest.raises(ValueError, match=r'sum: axis 2 is out of bounds'):
        Value(np.ones((2, 3))).sum(axis=2)


def test_feed_errors():
    x = Value(shape=(2, 2), name='x')
    y = Value(shape=(2,), name='y')
    loss = (x @ y).sum()
    with pytest.raises(ValueError, match=r"forward: feed 'x' has shape "
                                         r'\(2, 3\), placeholder expects '
                                         r'\(2, 2\)'):
        loss.forward(x=np.ones((2, 3)), y=np.ones(2))
    with pytest.raises(ValueError, match=r"unknown feed name\(s\) \['z'\]"
                                         r".*\['x', 'y'\]"):
        loss.forward(x=np.ones((2, 2)), y=np.ones(2), z=1)


def test_bad_construction():
    with pytest.raises(ValueError, match='placeholder needs a name'):
        Value(shape=(2,))
    with pytest.raises(ValueError, match='shape of non-negative ints'):
        Value(shape=(2, -1), name='x')
    with pytest.raises(ValueError, match='either data or shape'):
        Value(np.ones(2), shape=(2,))
    with pytest.raises(TypeError, match='cannot wrap'):
        Value(object())
    with pytest.raises(TypeError, match='truth value'):
        bool(Value(np.ones(2)) > 0)


def test_value_copies_parameters_but_not_data():
    a = np.ones(3)
    p = Value(a)
    p.data -= 1
    assert np.all(a == 1)
    d = Value(a, requires_grad=False)
    assert np.shares_memory(d.data, a)


def test_len_iter_and_properties():
    x = Value(np.arange(6.0).reshape(2, 3))
    assert len(x) == 2 and x.ndim == 2 and x.size == 6
    rows = list(x)
    assert [r.shape for r in rows] == [(3,), (3,)]
    sum(r.sum() for r in rows).backward()
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))
    with pytest.raises(TypeError):
        len(Value(1.0))


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
                min_size=1, max_size=40))
def test_toposort_on_random_graphs_has_every_ancestor_once_parents_first(picks):
    """Random DAGs (each new node joins two earlier ones, chosen by index):
    the order holds exactly the ancestors, each once, parents first."""
    nodes = [Value(1.0), Value(2.0)]
    for i, j in picks:
        nodes.append(nodes[i % len(nodes)] * nodes[j % len(nodes)])
    root = nodes[-1]
    ancestors, stack = {id(root)}, [root]
    while stack:
        for p in stack.pop().parents:
            if id(p) not in ancestors:
                ancestors.add(id(p))
                stack.append(p)
    order = toposort(root)
    assert [id(n) for n in order].count(id(root)) == 1
    assert {id(n) for n in order} == ancestors and len(order) == len(ancestors)
    position = {id(n): k for k, n in enumerate(order)}
    assert all(position[id(p)] < position[id(n)]
               for n in order for p in n.parents)


@pytest.mark.parametrize('shape', [(65, 3), (1000, 9), (1000, 1), (3, 1000)])
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('keepdims', [False, True])
def test_numpy_sum_down_the_rows_matches_numpy(shape, dtype, keepdims):
    """The BLAS path for sums over axis 0 (bias gradients) gives NumPy's
    sum, for contiguous and transposed arrays, with and without keepdims."""
    rng = np.random.default_rng(0)
    for x in (rng.standard_normal(shape).astype(dtype),
              rng.standard_normal(shape[::-1]).astype(dtype).T):
        got = NUMPY.sum(x, axis=(0,), keepdims=keepdims)
        want = np.sum(x, axis=0, keepdims=keepdims)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == 'float32'
                                   else 1e-12)
    x = np.ones((100, 2))
    x[3, 1] = np.nan
    assert np.isnan(NUMPY.sum(x, axis=(0,))[1])
