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


def adam_of(wrt, learning_rate=0.1):
    return ADAM(wrt=wrt, learning_rate=learning_rate, beta1=0.9, beta2=0.99,
                eps_adam=1e-8)


@pytest.mark.parametrize('make,error,message', [
    (lambda w: SGD(wrt=[w], learning_rate=-1), ValueError,
     'SGD: learning_rate must be non-negative'),
    (lambda w: SGD(wrt=[w], learning_rate=float('nan')), ValueError,
     'SGD: learning_rate'),
    (lambda w: SGD(wrt=[w], learning_rate='0.1'), TypeError,
     'SGD: learning_rate must be a number'),
    (lambda w: SGD(wrt=[w]), TypeError, 'SGD: learning_rate is required'),
    (lambda w: SGD(wrt=[w], learning_rate=0.1, momentum=-0.5), ValueError,
     'SGD: momentum'),
    (lambda w: SGD(wrt=[np.zeros(2)], learning_rate=0.1), TypeError,
     r'SGD: wrt must hold Values, got ndarray at wrt\[0\]'),
    (lambda w: SGD(wrt=w, learning_rate=0.1), TypeError,
     r'SGD: wrt must be a list of Values, got one Value'),
    (lambda w: SGD(wrt=3, learning_rate=0.1), TypeError,
     'SGD: wrt must be a list of Values, got int'),
    (lambda w: SGD(wrt=[w, w * 2], learning_rate=0.1), ValueError,
     r"SGD: wrt\[1\] is the output of 'mul', not a leaf"),
    (lambda w: SGD(wrt=[w, w], learning_rate=0.1), ValueError,
     r'SGD: wrt\[1\] is listed twice'),
    (lambda w: ADAM(wrt=[w], learning_rate=0.1, beta1=None, beta2=0.9,
                    eps_adam=1e-8), TypeError, 'ADAM: beta1 must be a number'),
    (lambda w: ADAM(wrt=[w], learning_rate=0.1, beta1=0.9, beta2=1.0,
                    eps_adam=1e-8), ValueError, 'ADAM: beta2 .* below 1'),
    (lambda w: ADAM(wrt=[w], learning_rate=0.1, beta1=0.9, beta2=0.9,
                    eps_adam=-1), ValueError, 'ADAM: eps_adam'),
    (lambda w: ADAM(wrt=[w], learning_rate=0.1, beta1=0.9, beta2=0.9),
     TypeError, 'ADAM: eps_adam must be a number'),
    (lambda w: ADAM(wrt=[w], learning_rate=-0.1, beta1=0.9, beta2=0.9,
                    eps_adam=1e-8), ValueError, 'ADAM: learning_rate')])
def test_optimisers_refuse_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(Value(np.zeros(2)))


@pytest.mark.parametrize('make', [
    lambda w, rates: SGD(wrt=[w], learning_rate=rates),
    lambda w, rates: adam_of([w], rates)])
def test_bad_learning_rates_from_a_generator(make):
    w = Value(np.zeros(2))
    (w * w).sum().backward()
    opt = make(w, iter([0.1, -1.0]))
    opt.step()
    name = type(opt).__name__
    with pytest.raises(ValueError, match=f'{name}: learning_rate must be '
                                         'non-negative, got -1.0'):
        opt.step()
    opt = make(w, iter([0.1]))
    opt.step()
    with pytest.raises(ValueError, match=f'{name}: the learning_rate '
                                         'generator is exhausted after 1'):
        opt.step()


def test_adam_with_a_generator_rate_matches_hand_computation():
    w = Value(np.zeros(3))
    loss = quadratic(w)
    rates = [0.1, 0.05, 0.02, 0.01]
    opt = ADAM(wrt=[w], learning_rate=iter(rates), beta1=0.8, beta2=0.9,
               eps_adam=1e-3)
    x, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for t, lr in enumerate(rates, start=1):
        loss.forward()
        loss.backward()
        opt.step()
        g = 2 * (x - [1, -2, 3])
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        m_hat, v_hat = m / (1 - 0.8 ** t), v / (1 - 0.9 ** t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + 1e-3)
        np.testing.assert_allclose(w.data, x, rtol=1e-12)


def test_float32_steps_match_a_float64_hand_computation():
    w = Value(np.zeros(3), dtype='float32')
    loss = quadratic(w)
    opt = adam_of([w], 0.05)
    x, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for t in range(1, 6):
        loss.forward()
        loss.backward()
        opt.step()
        g = 2 * (x - [1, -2, 3])
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        m_hat, v_hat = m / (1 - 0.9 ** t), v / (1 - 0.99 ** t)
        x = x - 0.05 * m_hat / (np.sqrt(v_hat) + 1e-8)
        assert w.data.dtype == np.float32
        np.testing.assert_allclose(w.data, x, rtol=1e-5, atol=1e-6)


MAKERS = [lambda ws: SGD(wrt=ws, learning_rate=0.1),
          lambda ws: SGD(wrt=ws, learning_rate=0.1, momentum=0.9),
          lambda ws: adam_of(ws)]


@pytest.mark.parametrize('make', MAKERS)
def test_step_reads_a_read_only_broadcast_gradient(make):
    x = Value(np.ones(3))
    x.sum().backward()
    assert not x.grad.flags.writeable     # the premise
    grad = x.grad
    make([x]).step()
    assert x.grad is grad
    np.testing.assert_array_equal(x.grad, [1, 1, 1])
    assert np.all(x.data < 1)


@pytest.mark.parametrize('make', MAKERS)
def test_step_leaves_a_gradient_shared_by_two_parameters_intact(make):
    # add hands the same gradient array to both parents: moving one
    # parameter must not change the other's gradient
    a, b = Value(np.zeros(3)), Value(np.zeros(3))
    u = np.array([1.0, -2.0, 3.0])
    (a + b).backward(u)
    assert a.grad is b.grad             # the premise: one shared array
    make([a, b]).step()
    np.testing.assert_array_equal(a.grad, u)
    np.testing.assert_array_equal(a.data, b.data)   # the same step for both
    assert np.all(np.sign(a.data) == -np.sign(u))


def test_parameters_without_a_gradient_are_left_alone():
    w, unused = Value(np.ones(2)), Value(np.ones(2))
    (w * w).sum().backward()
    assert unused.grad is None
    for make in MAKERS:
        make([w, unused]).step()
    np.testing.assert_array_equal(unused.data, [1, 1])
    assert np.all(w.data < 1)


def test_scalar_mlp_has_41_parameters():
    model = MLP(3, [4, 4, 1])
    out = model([2.0, 3.0, -1.0])
    assert isinstance(out, Value) and out.shape == ()
    assert len(model.parameters()) == 41
    assert 'MLP of' in repr(model) and 'ReLUNeuron(3)' in repr(model)
    assert len(Layer(3, 2).parameters()) == 8
    assert len(Neuron(5).parameters()) == 6


def test_neuron_computes_relu_of_the_weighted_sum():
    x = [2.0, 3.0, -1.0]
    for nonlin in (True, False):
        for _ in range(5):
            n = Neuron(3, nonlin=nonlin)
            n.b.data[...] = np.random.uniform(-1, 1)
            act = float(n.b.data) + sum(float(w.data) * xi
                                        for w, xi in zip(n.w, x))
            out = n(x)
            assert isinstance(out, Value)
            assert np.isclose(out.data, max(act, 0) if nonlin else act)
    layer = Layer(3, 2, nonlin=False)
    outs = layer(x)
    assert len(outs) == 2
    for neuron, out in zip(layer.neurons, outs):
        assert np.isclose(out.data, neuron(x).data)


def test_mlp_l2_norms():
    model = MLP(3, [4, 1])
    loss = model([2.0, 3.0, -1.0]) ** 2
    loss.backward()
    params = model.parameters()
    assert np.isclose(model.L2_norm(), sum(float(p.data) ** 2 for p in params))
    assert np.isclose(model.grad_L2_norm(),
                      sum(float(p.grad) ** 2 for p in params))
    for layer in model.layers:
        assert np.isclose(layer.L2_norm(), sum(float(p.data) ** 2
                                               for p in layer.parameters()))


def test_scalar_mlp_trains():
    np.random.seed(0)
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0],
          [1.0, 1.0, -1.0]]
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
