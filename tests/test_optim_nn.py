"""micrograd.optim and micrograd.nn, as the original documents them."""
import numpy as np
import pytest

from micrograd import Value
from micrograd.nn import MLP, Layer, Neuron
from micrograd.optim import ADAM, SGD


def quadratic(w):
    target = np.array([1.0, -2.0, 3.0])
    return ((w - target) ** 2).sum()


def test_sgd_plain_matches_hand_computation():
    w = Value(np.zeros(3))
    loss = quadratic(w)
    opt = SGD(wrt=[w], learning_rate=0.1)
    expected = np.zeros(3)
    for _ in range(3):
        loss.forward()
        loss.backward()
        opt.step()
        expected -= 0.1 * 2 * (expected - [1, -2, 3])
        np.testing.assert_allclose(w.data, expected)


def test_sgd_momentum_and_generator_rate():
    def rates():
        lr = 0.1
        while True:
            yield lr
            lr /= 2

    w = Value(np.zeros(3))
    loss = quadratic(w)
    opt = SGD(wrt=[w], learning_rate=rates(), momentum=0.9)
    expected, velocity, lr = np.zeros(3), np.zeros(3), 0.1
    for _ in range(4):
        loss.forward()
        loss.backward()
        opt.step()
        velocity = 0.9 * velocity + 2 * (expected - [1, -2, 3])
        expected = expected - lr * velocity
        lr /= 2
        np.testing.assert_allclose(w.data, expected)


def test_adam_matches_hand_computation():
    w = Value(np.zeros(3))
    loss = quadratic(w)
    opt = ADAM(wrt=[w], learning_rate=0.01, beta1=0.9, beta2=0.999,
               eps_adam=1e-8)
    x, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for t in range(1, 6):
        loss.forward()
        loss.backward()
        opt.step()
        g = 2 * (x - [1, -2, 3])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - 0.01 * (m / (1 - 0.9 ** t)) / (
            np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(w.data, x)


@pytest.mark.parametrize('make', [
    lambda w: SGD(wrt=w, learning_rate=0.1),
    lambda w: SGD(wrt=w, learning_rate=0.05, momentum=0.5),
    lambda w: ADAM(wrt=w, learning_rate=0.1, beta1=0.9, beta2=0.99,
                   eps_adam=1e-8)])
def test_optimisers_reduce_a_loss_and_keep_float32(make):
    w = Value(np.zeros(3, dtype=np.float32), dtype='float32')
    loss = quadratic(w)
    opt = make([w])
    loss.forward()
    first = float(loss.data)
    for _ in range(100):
        loss.forward()
        loss.backward()
        opt.step()
    assert float(loss.data) < 0.01 * first
    assert w.data.dtype == np.float32


def test_optimisers_refuse_bad_arguments():
    w = Value(np.zeros(2))
    with pytest.raises(ValueError, match='SGD: learning_rate'):
        SGD(wrt=[w], learning_rate=-1)
    with pytest.raises(ValueError, match='SGD: momentum'):
        SGD(wrt=[w], learning_rate=0.1, momentum=-0.5)
    with pytest.raises(TypeError, match='SGD: wrt must hold Values'):
        SGD(wrt=[np.zeros(2)], learning_rate=0.1)
    with pytest.raises(ValueError, match='ADAM: beta1'):
        ADAM(wrt=[w], learning_rate=0.1, beta1=None, beta2=0.9, eps_adam=1e-8)


def test_step_does_not_mutate_gradients():
    x = Value(np.ones(3))
    loss = (x * 2).sum()            # x.grad may be a read-only broadcast view
    loss.backward()
    before = np.array(x.grad)
    SGD(wrt=[x], learning_rate=0.1, momentum=0.9).step()
    ADAM(wrt=[x], learning_rate=0.1, beta1=0.9, beta2=0.9, eps_adam=1e-8).step()
    np.testing.assert_array_equal(x.grad, before)


def test_scalar_mlp_has_41_parameters():
    model = MLP(3, [4, 4, 1])
    out = model([2.0, 3.0, -1.0])
    assert isinstance(out, Value) and out.shape == ()
    assert len(model.parameters()) == 41
    assert 'MLP of' in repr(model) and 'ReLUNeuron(3)' in repr(model)
    assert len(Layer(3, 2).parameters()) == 8
    assert len(Neuron(5).parameters()) == 6


def test_scalar_mlp_trains():
    np.random.seed(0)
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    model = MLP(3, [4, 4, 1])
    loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
    opt = SGD(wrt=model.parameters(), learning_rate=0.02)
    first = float(loss.data)
    for _ in range(60):
        loss.forward()
        loss.backward()
        opt.step()
    assert float(loss.data) < 0.5 * first
