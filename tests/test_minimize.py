"""Optimiser.minimize: forward, backward and step in one call; on a small
graph compiled with fuse=True, one generated function that moves the
parameters too. Always the same numbers as the three calls."""
import cProfile
import io
import pstats

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value
from micrograd.optim import ADAM, SGD, Adam, AdamW, Optimiser, step_decay
from micrograd.train import fit
from models import moons_mlp


def mlp(dtype):
    loss, ps, _ = moons_mlp(dtype, np.random.default_rng(1), biases=True)
    return loss, ps


def batches(dtype, sizes=(100, 100, 37, 37, 100)):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 2)).astype(dtype)
    y = np.sign(rng.standard_normal(100)).astype(dtype)
    return [{'x': X[:n], 'y': y[:n]} for n in sizes]


OPTIMISERS = {
    'sgd': lambda ps: SGD(ps, learning_rate=0.5),
    'sgd momentum decay': lambda ps: SGD(ps, learning_rate=0.1, momentum=0.9,
                                         weight_decay=1e-3),
    'sgd nesterov': lambda ps: SGD(ps, learning_rate=0.1, momentum=0.8,
                                   nesterov=True),
    'sgd schedule': lambda ps: SGD(ps, learning_rate=step_decay(0.5, 2)),
    'adam': lambda ps: Adam(ps, learning_rate=0.01),
    'adam l2': lambda ps: Adam(ps, learning_rate=0.01, weight_decay=1e-2),
    'adamw': lambda ps: AdamW(ps, learning_rate=0.01),
    'ADAM': lambda ps: ADAM(ps, learning_rate=0.01, beta1=0.9, beta2=0.99,
                            eps_adam=1e-7),
    'groups': lambda ps: Adam([
        {'params': ps[::2], 'weight_decay': 1e-2},
        {'params': ps[1::2], 'learning_rate': 0.05}], learning_rate=0.01),
}


def train(dtype, make, fuse, three_calls, sizes=(100, 100, 37, 37, 100),
          before=None):
    """The losses, then each parameter, gradient and buffer after the steps,
    and the optimiser. `before(k, optimiser)` runs before step k."""
    loss, ps = mlp(dtype)
    if fuse is not None:
        mg.compile(loss, fuse=fuse)
    opt = make(ps)
    values = []
    for k, feeds in enumerate(batches(dtype, sizes)):
        if before is not None:
            before(k, opt)
        if three_calls:
            loss.forward(**feeds)
            loss.backward()
            opt.step()
            values.append(float(loss.data))
        else:
            values.append(opt.minimize(loss, **feeds))
    arrays = [p.data for p in ps] + [p.grad for p in ps] + [
        a for b in opt.buffers for a in getattr(opt, b)]
    return values, arrays, opt


def fused_steps(make, steps, dtype='float64'):
    """W2's model compiled with fusion, trained `steps` minimize steps on
    one batch: (loss, parameters, optimiser, the batch)."""
    loss, ps = mlp(dtype)
    mg.compile(loss, fuse=True)
    opt = make(ps)
    feeds = batches(dtype)[0]
    for _ in range(steps):
        opt.minimize(loss, **feeds)
    return loss, ps, opt, feeds


def assert_same_run(a, b):
    (values, arrays, opt), (values2, arrays2, opt2) = a, b
    assert values == values2
    assert all(type(v) is float for v in values2)
    for x, y in zip(arrays, arrays2):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    assert opt.num_steps == opt2.num_steps
    assert opt.last_rates == opt2.last_rates


@pytest.mark.parametrize('fuse', [None, False])
def test_minimize_is_forward_backward_step(fuse):
    make = OPTIMISERS['adam l2']
    assert_same_run(train('float64', make, fuse, True),
                    train('float64', make, fuse, False))


def test_minimize_checks_its_loss():
    x = Value(np.ones(3))
    opt = SGD([x], learning_rate=0.1)
    with pytest.raises(TypeError, match='SGD.minimize: loss must be a Value'):
        opt.minimize(np.ones(()))
    with pytest.raises(ValueError, match=r'SGD.minimize: the loss must be '
                                         r'one number, got shape \(3,\)'):
        opt.minimize(x * 2)
    np.testing.assert_array_equal(x.data, np.ones(3))   # nothing moved
    assert opt.num_steps == 0
    assert opt.minimise((x * x).sum()) == 3.0
    np.testing.assert_allclose(x.data, 0.8)


def test_fit_steps_by_minimize(monkeypatch):
    calls = []
    original = Optimiser.minimize

    def counted(self, loss, **feeds):
        calls.append(sorted(feeds))
        return original(self, loss, **feeds)
    monkeypatch.setattr(Optimiser, 'minimize', counted)
    loss, ps = mlp('float64')
    history = fit(loss, SGD(ps, learning_rate=0.1), batches('float64'),
                  steps=3, progress=False)
    assert calls == [['x', 'y']] * 3 and len(history.loss) == 3


# ---- inside the fused step ---------------------------------------------------

numba = pytest.importorskip('numba')
pytest.importorskip('scipy')        # the products inside fused_step


@pytest.fixture
def plain_kernels(monkeypatch):
    """The generated code runs as Python, not compiled."""
    monkeypatch.setattr(numba.config, 'DISABLE_JIT', True)


@pytest.fixture
def updates(monkeypatch):
    """The parameters each NumPy update (Optimiser.update) moved."""
    moved = []
    for cls in (SGD, Adam):
        def counted(self, j, p, g, lr, _update=cls.update):
            moved.append(j)
            return _update(self, j, p, g, lr)
        monkeypatch.setattr(cls, 'update', counted)
    return moved


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('name', list(OPTIMISERS))
def test_fused_minimize_moves_parameters_inside_the_step(
        name, dtype, plain_kernels, updates):
    """Bit for bit what the fused forward, backward and optimiser.step()
    give; only the first step of each batch size updates in NumPy (its
    forward runs the rules, which write fused_step)."""
    make = OPTIMISERS[name]
    reference = train(dtype, make, True, True)
    del updates[:]
    fused = train(dtype, make, True, False)
    assert_same_run(reference, fused)
    assert sorted(set(updates)) == list(range(6))
    assert len(updates) == 2 * 6    # the first steps for 100 rows, 37 rows


def test_fused_minimize_with_numba_is_one_call():
    """Compiled by Numba: the same numbers as the NumPy update, and one
    step is one entry, fused_step, in cProfile."""
    make = OPTIMISERS['adam l2']
    sizes = (100, 100, 100)
    assert_same_run(train('float32', make, True, True, sizes),
                    train('float32', make, True, False, sizes))
    loss, ps = mlp('float32')
    mg.compile(loss, fuse=True)
    opt = make(ps)
    feeds = batches('float32', sizes)[0]
    opt.minimize(loss, **feeds)
    opt.minimize(loss, **feeds)
    profiler = cProfile.Profile()
    profiler.enable()
    opt.minimize(loss, **feeds)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).print_stats()
    names = out.getvalue()
    assert '(fused_step)' in names
    assert '(update)' not in names and '(step)' not in names
    assert 'r0_rate' in mg.compiled_source(loss)


def test_fused_minimize_falls_back_where_it_cannot_move_them(
        plain_kernels, updates):
    """check_finite, a read-only parameter, a parameter outside the graph,
    an optimiser without a rule: the NumPy step, the same numbers."""
    class Halving(Optimiser):
        def __init__(self, wrt):
            super().__init__('Halving', wrt, 0.5)

        def update(self, j, p, g, lr):
            updates.append(j)
            p.data = p.data - lr * g

    def outside(ps):
        extra = Value(np.ones(3))
        (extra * 2).sum().backward()        # a gradient of another graph
        return SGD(ps + [extra], learning_rate=0.1)

    for make in (lambda ps: SGD(ps, learning_rate=0.1, check_finite=True),
                 outside, Halving):
        reference = train('float64', make, True, True, (100,) * 3)
        del updates[:]
        fused = train('float64', make, True, False, (100,) * 3)
        assert_same_run(reference, fused)
        assert len(updates) == 3 * len(fused[2].wrt)
    # a parameter made read-only: NumPy's update refuses it, so does this
    loss, ps, opt, feeds = fused_steps(
        lambda ps: SGD(ps, learning_rate=0.1), 2)
    ps[1].data.flags.writeable = False
    before = ps[1].data.copy()
    with pytest.raises(ValueError, match='read-only'):
        opt.minimize(loss, **feeds)
    np.testing.assert_array_equal(ps[1].data, before)


def test_fused_minimize_follows_changed_settings(plain_kernels):
    """A setting written into fused_step (momentum) changed between steps:
    the next step writes it anew."""
    def halve_momentum(k, opt):
        if k == 2:
            opt.momentum = 0.5

    def make(ps):
        return SGD(ps, learning_rate=0.1, momentum=0.9)
    sizes = (100,) * 4
    assert_same_run(train('float64', make, True, True, sizes, halve_momentum),
                    train('float64', make, True, False, sizes, halve_momentum))


def test_fused_minimize_refusing_labels_moves_nothing(plain_kernels):
    """The hinge loss's labels are checked before the step starts: a bad
    batch leaves the parameters, buffers and step count as they were."""
    loss, ps, opt, feeds = fused_steps(
        lambda ps: SGD(ps, learning_rate=0.1, momentum=0.9), 2)
    before = [p.data.copy() for p in ps] + [v.copy() for v in opt.velocity]
    bad = dict(feeds, y=feeds['y'] * 2)
    with pytest.raises(ValueError, match='hinge'):
        opt.minimize(loss, **bad)
    assert opt.num_steps == 2
    for a, b in zip(before, [p.data for p in ps] + opt.velocity):
        np.testing.assert_array_equal(a, b)


def test_after_fused_minimize_the_graph_is_stale(plain_kernels):
    """As after optimiser.step(): the parameters moved since the forward,
    so a backward without a new forward is refused."""
    loss, ps, opt, feeds = fused_steps(
        lambda ps: SGD(ps, learning_rate=0.1), 3)
    with pytest.raises(RuntimeError, match='changed after the last forward'):
        loss.backward()
