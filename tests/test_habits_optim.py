"""Parameter groups, the lr spelling, the current learning rate, schedules
that take their length from fit, and batches(X, y, 8)."""
import numpy as np
import pytest

from micrograd import Value
from micrograd.data import batches
from micrograd.optim import SGD, ADAM, Adam, AdamW, cosine, warmup
from micrograd.train import fit


def _params():
    w = Value(np.array([1.0, -2.0]))
    b = Value(np.array([0.5]))
    return w, b


def _grads(*ps):
    for p in ps:
        p.grad = np.ones_like(p.data)


@pytest.mark.parametrize('cls', [SGD, Adam, AdamW])
def test_groups_match_separate_optimisers(cls):
    w, b = _params()
    opt = cls([{'params': [w], 'weight_decay': 0.1},
               {'params': [b], 'weight_decay': 0.0, 'lr': 0.5}], lr=0.1)
    w2, b2 = _params()
    ow = cls([w2], learning_rate=0.1, weight_decay=0.1)
    ob = cls([b2], learning_rate=0.5, weight_decay=0.0)
    for _ in range(3):
        _grads(w, b, w2, b2)
        opt.step(); ow.step(); ob.step()
    np.testing.assert_allclose(w.data, w2.data, rtol=1e-12)
    np.testing.assert_allclose(b.data, b2.data, rtol=1e-12)
    assert opt.wrt == [w, b]


def test_biases_kept_out_of_weight_decay():
    w, b = _params()
    opt = AdamW([{'params': [w]}, {'params': [b], 'weight_decay': 0.0}],
                lr=0.1, weight_decay=0.5)
    w.grad, b.grad = np.zeros(2), np.zeros(1)
    opt.step()
    assert np.all(np.abs(w.data) < [1.0, 2.0])     # decayed
    assert b.data[0] == 0.5                        # not decayed


def test_groups_state_dict_round_trip():
    w, b = _params()
    opt = Adam([{'params': [w]}, {'params': [b], 'weight_decay': 0.0}])
    _grads(w, b)
    opt.step()
    state = opt.state_dict()
    assert set(state) == {'num_steps', 'm.0', 'm.1', 'v.0', 'v.1'}
    w2, b2 = _params()
    opt2 = Adam([{'params': [w2]}, {'params': [b2], 'weight_decay': 0.0}])
    opt2.load_state_dict(state)
    np.testing.assert_array_equal(opt2.m[1], opt.m[1])


def test_bad_groups_are_named():
    w, b = _params()
    with pytest.raises(KeyError, match="parameter group 1 needs 'params'"):
        Adam([{'params': [w]}, {'parms': [b]}])
    with pytest.raises(TypeError, match='mixes parameter groups'):
        Adam([{'params': [w]}, b])
    with pytest.raises(ValueError, match='parameter group 0 weight_decay'):
        Adam([{'params': [w], 'weight_decay': -1.0}])
    with pytest.raises(ValueError, match='listed twice'):
        Adam([{'params': [w]}, {'params': [w]}])


@pytest.mark.parametrize('make', [
    lambda ps, **kw: SGD(ps, **kw), lambda ps, **kw: Adam(ps, **kw),
    lambda ps, **kw: AdamW(ps, **kw),
    lambda ps, **kw: ADAM(ps, beta1=0.9, beta2=0.999, eps_adam=1e-8, **kw)])
def test_lr_alias(make):
    w, _ = _params()
    assert make([w], lr=0.25).learning_rate == 0.25
    with pytest.raises(TypeError, match='learning_rate or lr'):
        make([w], lr=0.25, learning_rate=0.25)


def test_current_learning_rate_of_a_schedule():
    w, _ = _params()
    opt = SGD([w], lr=warmup(0.1, steps=2))
    assert opt.lr is None                       # a schedule, before any step
    rates = []
    for _ in range(3):
        _grads(w)
        opt.step()
        rates.append(opt.lr)
    assert rates == [0.05, 0.1, 0.1]
    assert opt.current_learning_rate == 0.1
    assert SGD([w], lr=0.3).lr == 0.3


def test_cosine_without_total_steps():
    w, _ = _params()
    opt = SGD([w], lr=cosine(1e-2))
    _grads(w)
    with pytest.raises(ValueError, match='cosine: total_steps is not set'):
        opt.step()


@pytest.mark.parametrize('wrap', [lambda s: s, lambda s: warmup(s, 2)])
def test_fit_gives_cosine_its_total_steps(wrap):
    w = Value(np.array([3.0]))
    loss = (w * w).sum()
    opt = SGD([w], lr=wrap(cosine(0.1)))
    history = fit(loss, opt, [{}], steps=10, progress=False)
    assert history.lr[-1] < 0.01 and history.lr[0] > 0.0
    assert opt.learning_rate.total_steps == 10


def test_batches_positional_batch_size():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    sizes = [len(xb) for xb, yb in batches(X, y, 4)]
    assert sizes == [4, 4, 2]
    with pytest.raises(TypeError, match='batches: give batch_size'):
        batches(X, y)
