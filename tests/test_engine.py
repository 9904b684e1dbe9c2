"""The engine: graph walks, who gets gradients, errors, NumPy interplay."""
import time

import numpy as np
import pytest

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
    with pytest.raises(ValueError, match=r'backward: gradient has shape \(2,\)'):
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
    y = (s * x).sum()
    y.backward()
    assert s.grad is None and not s.requires_grad
    np.testing.assert_allclose(x.grad, s.data)     # only the direct path


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
    loss.forward()
    loss.backward()
    t2 = time.perf_counter()
    assert len(loss.topo()) > 100_000
    np.testing.assert_allclose(x.grad, 1.0001 ** 50_000)
    print(f'\n100,000-op chain: build {t1 - t0:.2f} s, '
          f'forward + backward {t2 - t1:.2f} s')


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


def test_fan_out_and_diamond_accumulate():
    x = Value(np.array([2.0]))
    a, b = x * 3, x * x
    y = a * b + a           # diamond through a and b, fan-out of a
    y.backward()
    # y = 3x^3 + 3x ; dy/dx = 9x^2 + 3
    np.testing.assert_allclose(x.grad, [39.0])


def test_accumulation_never_writes_into_shared_or_readonly_arrays():
    g = np.ones((3, 4))
    x = Value(np.ones(4))
    y = mg.broadcast_to(x, (3, 4))
    z = (y + y + y).sum()            # add hands the same g to both parents
    z.backward(None)
    np.testing.assert_allclose(x.grad, [9, 9, 9, 9])
    np.testing.assert_allclose(y.grad, np.full((3, 4), 3.0))
    s = Value(np.ones(3))
    t = s.sum() * 2 + s.sum() * 3
    t.backward()
    np.testing.assert_allclose(s.grad, [5, 5, 5])
    assert np.all(g == 1)


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
    with pytest.raises(ValueError, match=r'matmul: shapes \(3, 4\) and \(5,\) do not align'):
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
    with pytest.raises(ValueError, match=r"forward: feed 'x' has shape \(2, 3\), "
                                         r'placeholder expects \(2, 2\)'):
        loss.forward(x=np.ones((2, 3)), y=np.ones(2))
    with pytest.raises(ValueError, match=r"unknown feed name\(s\) \['z'\].*\['x', 'y'\]"):
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
