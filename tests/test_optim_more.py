"""Adam, AdamW, SGD with nesterov and weight decay, clipping, schedules,
optimiser state."""
import itertools
import math

import numpy as np
import pytest

from micrograd import Value
from micrograd.optim import (ADAM, SGD, Adam, AdamW, clip_grad_norm, constant,
                             cosine, step_decay, warmup)

TARGET = np.array([1.0, -2.0, 3.0])


def loss_of(w):
    return ((w - TARGET) ** 2).sum()


def run(opt, w, loss, steps):
    for _ in range(steps):
        loss.forward()
        loss.backward()
        opt.step()


def reference_adam(steps, lr, b1, b2, eps, wd, decoupled):
    x, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for t in range(1, steps + 1):
        g = 2 * (x - TARGET)
        if decoupled:
            x = x * (1 - lr * wd)
        else:
            g = g + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return x


@pytest.mark.parametrize('cls,wd,decoupled', [(Adam, 0.0, False),
                                              (Adam, 0.1, False),
                                              (AdamW, 0.1, True)])
def test_adam_family_matches_reference(cls, wd, decoupled):
    w = Value(np.zeros(3))
    opt = cls(wrt=[w], learning_rate=0.05, beta1=0.8, beta2=0.99, eps=1e-6,
              weight_decay=wd)
    run(opt, w, loss_of(w), 7)
    np.testing.assert_allclose(
        w.data, reference_adam(7, 0.05, 0.8, 0.99, 1e-6, wd, decoupled),
        rtol=1e-12)


def test_original_adam_is_adam():
    w1, w2 = Value(np.zeros(3)), Value(np.zeros(3))
    run(ADAM(wrt=[w1], learning_rate=0.01, beta1=0.9, beta2=0.999,
             eps_adam=1e-8), w1, loss_of(w1), 5)
    run(Adam(wrt=[w2], learning_rate=0.01), w2, loss_of(w2), 5)
    np.testing.assert_allclose(w1.data, w2.data, rtol=1e-12)


@pytest.mark.parametrize('nesterov', [False, True])
def test_sgd_nesterov_and_weight_decay(nesterov):
    w = Value(np.zeros(3))
    opt = SGD(wrt=[w], learning_rate=0.05, momentum=0.9, nesterov=nesterov,
              weight_decay=0.01)
    run(opt, w, loss_of(w), 6)
    x, vel = np.zeros(3), np.zeros(3)
    for _ in range(6):
        g = 2 * (x - TARGET) + 0.01 * x
        vel = 0.9 * vel + g
        x = x - 0.05 * (g + 0.9 * vel if nesterov else vel)
    np.testing.assert_allclose(w.data, x, rtol=1e-12)
    with pytest.raises(ValueError, match='nesterov needs a momentum'):
        SGD(wrt=[w], learning_rate=0.1, nesterov=True)


def test_steps_allocate_no_new_arrays_and_stay_in_place():
    w = Value(np.zeros((50, 50), dtype=np.float32), dtype='float32')
    loss = ((w - 1.0) ** 2).sum()
    opt = AdamW(wrt=[w], learning_rate=0.01)
    buffer = w.data
    run(opt, w, loss, 3)
    assert w.data is buffer and w.data.dtype == np.float32
    scratch = [id(a) for a in opt.scratch + opt.m + opt.v]
    run(opt, w, loss, 2)
    assert [id(a) for a in opt.scratch + opt.m + opt.v] == scratch


def test_optimiser_state_dict_round_trip():
    w1 = Value(np.zeros(3))
    opt1 = Adam(wrt=[w1], learning_rate=0.05)
    run(opt1, w1, loss_of(w1), 3)
    state = opt1.state_dict()
    assert state['num_steps'] == 3 and set(state) == {'num_steps', 'm.0', 'v.0'}
    w2 = Value(w1.data)
    opt2 = Adam(wrt=[w2], learning_rate=0.05)
    opt2.load_state_dict(state)
    run(opt1, w1, loss_of(w1), 2)
    run(opt2, w2, loss_of(w2), 2)
    np.testing.assert_array_equal(w1.data, w2.data)
    with pytest.raises(KeyError, match='expected keys'):
        opt2.load_state_dict({'num_steps': 1})


def test_clip_grad_norm():
    a, b = Value(np.array([3.0])), Value(np.array([4.0]))
    loss = (a * a / 2).sum() + (b * b / 2).sum()    # grads 3 and 4: norm 5
    loss.backward()
    shared = a.grad
    assert math.isclose(clip_grad_norm([a, b], 1.0), 5.0)
    np.testing.assert_allclose([a.grad[0], b.grad[0]], [0.6, 0.8])
    assert shared[0] == 3.0                 # the old array was not written
    assert math.isclose(clip_grad_norm([a, b], 10.0), 1.0)
    np.testing.assert_allclose([a.grad[0], b.grad[0]], [0.6, 0.8])


def test_schedules():
    take = lambda g, n: list(itertools.islice(g, n))  # noqa: E731
    assert take(constant(0.1), 3) == [0.1, 0.1, 0.1]
    assert take(step_decay(1.0, 2, 0.5), 5) == [1, 1, 0.5, 0.5, 0.25]
    c = take(cosine(1.0, 4, 0.0), 6)
    np.testing.assert_allclose(c, [1, 0.853553, 0.5, 0.146447, 0, 0],
                               atol=1e-6)
    assert take(warmup(0.4, 4), 6) == [0.1, 0.2, 0.30000000000000004, 0.4,
                                       0.4, 0.4]
    w = Value(np.zeros(3))
    opt = SGD(wrt=[w], learning_rate=warmup(step_decay(0.1, 10), 2))
    run(opt, w, loss_of(w), 3)
    assert not np.allclose(w.data, 0)


def test_bad_arguments():
    w = Value(np.zeros(3))
    with pytest.raises(ValueError, match='AdamW: beta2'):
        AdamW(wrt=[w], beta2=1.5)
    with pytest.raises(ValueError, match='Adam: weight_decay'):
        Adam(wrt=[w], weight_decay=-1)
    opt = SGD(wrt=[w], learning_rate=iter([0.1, -1.0]))
    loss = loss_of(w)
    loss.backward()
    opt.step()
    with pytest.raises(ValueError, match='SGD: learning_rate'):
        opt.step()
