"""Higher order: `backward(create_graph=True)` and the functional API
(micrograd/functional.py), against PyTorch's torch.func and closed forms;
a second-order graph compiled like any other."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import micrograd as mg
from micrograd.ops.namespace import Namespace

torch = pytest.importorskip('torch')
from torch import func as tf  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal((4, 2))


def f(x, w):
    return (mg.tanh(x @ w) ** 2).sum() + (mg.exp(w) * w).mean()


def tf_f(x, w):
    return (torch.tanh(x @ w) ** 2).sum() + (torch.exp(w) * w).mean()


def t(a):
    return torch.tensor(a, dtype=torch.float64)


# ---- backward(create_graph=True)

def test_create_graph_gives_differentiable_gradients():
    w = mg.Value(W)
    loss = f(mg.Value(X, requires_grad=False), w)
    loss.backward(create_graph=True)
    assert isinstance(w.grad, mg.Value)
    assert_allclose(w.grad.data, tf.grad(tf_f, 1)(t(X), t(W)).numpy(),
                    rtol=1e-12)
    (w.grad ** 2).sum().backward()
    want = tf.grad(lambda w: (tf.grad(tf_f, 1)(t(X), w) ** 2).sum())(t(W))
    assert_allclose(w.grad, want.numpy(), rtol=1e-10)


def test_plain_backward_still_gives_arrays():
    w = mg.Value(W)
    f(mg.Value(X), w).backward()
    assert isinstance(w.grad, np.ndarray)


def test_create_graph_takes_a_value_seed():
    x = mg.Value(np.array([1.0, 2.0]))
    u = mg.Value(np.array([3.0, -1.0]))
    (x ** 3).backward(u, create_graph=True)     # x.grad = 3 x**2 u
    (x.grad.sum()).backward()
    assert_allclose(u.grad, 3 * np.array([1.0, 2.0]) ** 2)
    assert_allclose(x.grad, 6 * np.array([1.0, 2.0]) * np.array([3.0, -1.0]))


def test_create_graph_seed_of_the_wrong_shape_is_refused():
    x = mg.Value(np.ones(3))
    with pytest.raises(ValueError, match=r'backward: gradient has shape'):
        (x * 2).backward(mg.Value(np.ones(2)), create_graph=True)


def test_a_name_without_a_differentiable_op_is_refused_by_name():
    with pytest.raises(AttributeError, match='xp.cumsum'):
        Namespace(mg.Value(1.0).bk).cumsum
    assert Namespace(mg.Value(1.0).bk).float32 is np.float32


def test_tanh_derivatives_up_to_order_6_match_torch():
    xs = np.linspace(-3, 3, 9)
    fs = [lambda x: mg.tanh(x)]
    tfs = [torch.tanh]
    for _ in range(6):
        fs.append(lambda x, p=fs[-1]: mg.grad(lambda y: p(y).sum())(x))
        tfs.append(lambda x, p=tfs[-1]: tf.grad(lambda y: p(y).sum())(x))
    for ours, theirs in zip(fs[1:], tfs[1:]):
        assert_allclose(ours(xs), theirs(t(xs)).numpy(), rtol=1e-9,
                        atol=1e-12)


def test_compile_runs_a_second_order_graph():
    x, w = mg.Value(X, name='x'), mg.Value(W)
    loss = (mg.tanh(x @ w) * mg.sigmoid(x @ w)).sum()
    loss.backward(create_graph=True)
    penalty = (w.grad ** 2).sum() + loss
    penalty.backward()
    want_value, want_grad = penalty.data.copy(), w.grad.copy()
    mg.compile(penalty)
    penalty.forward(x=X)
    penalty.backward()
    assert_allclose(penalty.data, want_value, rtol=1e-12)
    assert_allclose(w.grad, want_grad, rtol=1e-12)
    x2 = RNG.standard_normal(X.shape)     # new data: the same as interpreted
    penalty.forward(x=x2)
    penalty.backward()
    want = tf.grad(lambda w: (tf.grad(lambda w: (
        torch.tanh(t(x2) @ w) * torch.sigmoid(t(x2) @ w)).sum())(w) ** 2).sum()
        + (torch.tanh(t(x2) @ w) * torch.sigmoid(t(x2) @ w)).sum())(t(W))
    assert_allclose(w.grad, want.numpy(), rtol=1e-10)


# ---- the functional API against torch.func

def test_grad_and_value_and_grad():
    assert_allclose(mg.grad(f)(X, W), tf.grad(tf_f)(t(X), t(W)).numpy(),
                    rtol=1e-12)
    value, (gx, gw) = mg.value_and_grad(f, argnums=(0, 1))(X, W)
    tv, (tx, tw) = tf.grad_and_value(tf_f, argnums=(0, 1))(t(X), t(W))[::-1]
    assert_allclose(value, tv.item(), rtol=1e-12)
    assert_allclose(gx, tx.numpy(), rtol=1e-12)
    assert_allclose(gw, tw.numpy(), rtol=1e-12)


def test_grad_of_grad_nests():
    x = np.array([0.3, -0.7, 1.1])
    d2 = mg.grad(lambda x: mg.grad(lambda y: (y ** 3 * mg.sin(y)).sum())(
        x).sum())(x)
    want = tf.grad(lambda x: tf.grad(lambda y: (y ** 3 * torch.sin(y)).sum())(
        x).sum())(t(x))
    assert_allclose(d2, want.numpy(), rtol=1e-12)


def test_vjp_keeps_the_structure_of_f():
    def g(x, w):
        return {'h': mg.tanh(x @ w), 'pair': (w.sum(axis=0), x * 2)}

    def tg(x, w):
        return {'h': torch.tanh(x @ w), 'pair': (w.sum(axis=0), x * 2)}
    out, back = mg.vjp(g, X, W)
    assert set(out) == {'h', 'pair'} and isinstance(out['pair'], tuple)
    ct = {'h': RNG.standard_normal((3, 2)),
          'pair': (RNG.standard_normal(2), RNG.standard_normal((3, 4)))}
    ours = back(ct)
    _, tback = tf.vjp(tg, t(X), t(W))
    theirs = tback({'h': t(ct['h']), 'pair': (t(ct['pair'][0]),
                                              t(ct['pair'][1]))})
    for a, b in zip(ours, theirs):
        assert_allclose(a, b.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match='vjp: the cotangent has 1 part'):
        back(np.ones((3, 2)))


def test_jvp_by_the_double_vjp_trick():
    tx, tw = RNG.standard_normal(X.shape), RNG.standard_normal(W.shape)
    out, tangent = mg.jvp(lambda x, w: mg.tanh(x @ w), (X, W), (tx, tw))
    t_out, t_tangent = tf.jvp(lambda x, w: torch.tanh(x @ w), (t(X), t(W)),
                              (t(tx), t(tw)))
    assert_allclose(out, t_out.numpy(), rtol=1e-12)
    assert_allclose(tangent, t_tangent.numpy(), rtol=1e-10)


def test_hvp_jacobian_hessian():
    x = np.array([0.5, -1.0, 2.0])

    def h(x):
        return (x[0] * x[1] ** 2 + mg.exp(x) * mg.sin(x)).sum()

    def th(x):
        return (x[0] * x[1] ** 2 + torch.exp(x) * torch.sin(x)).sum()
    v = np.array([1.0, -2.0, 0.5])
    assert_allclose(mg.hvp(h, (x,), (v,)),
                    tf.jvp(tf.grad(th), (t(x),), (t(v),))[1].numpy(),
                    rtol=1e-12)
    assert_allclose(mg.hessian(h)(x), tf.hessian(th)(t(x)).numpy(),
                    rtol=1e-12)
    jac = mg.jacobian(lambda x, w: mg.tanh(x @ w), argnums=1)(X, W)
    assert jac.shape == (3, 2, 4, 2)
    assert_allclose(jac, tf.jacrev(lambda x, w: torch.tanh(x @ w), 1)(
        t(X), t(W)).numpy(), rtol=1e-12)


def test_functional_errors_name_the_function():
    with pytest.raises(ValueError, match='argnums: 2 is out of range'):
        mg.grad(f, argnums=2)(X, W)
    with pytest.raises(TypeError, match='grad: f must return a Value'):
        mg.grad(lambda x: 1.0)(X)


def my_softplus_forward(xp, x):
    return xp.log1p(xp.exp(x))


def my_softplus_backward(xp, g, out, x, need):
    return (g / (1 + xp.exp(-x)),)


def test_a_user_op_gets_higher_derivatives_from_its_rule():
    op = mg.Op('my_softplus_for_test', my_softplus_forward,
               my_softplus_backward, kind='elementwise')
    try:
        x = np.array([-1.5, 0.0, 0.7])
        h = mg.hessian(lambda x: mg.apply(op, x).sum())(x)
        s = 1 / (1 + np.exp(-x))
        assert_allclose(h, np.diag(s * (1 - s)), rtol=1e-12)
        assert mg.gradcheck(lambda x: mg.apply(op, x), x, order=2)
    finally:
        del mg.OPS['my_softplus_for_test']
