"""Optimisers and state loading under bad or unusual input: immutable
arrays (Dask), gradients that are not finite or of the wrong shape or
dtype, bad rates and schedules, clipping huge gradients, and state dicts
that are wrong in any way."""
import math

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
from micrograd.optim import (ADAM, SGD, Adam, AdamW, clip_grad_norm, constant,
                             cosine, step_decay, warmup)

START = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.5]])


def gradients(steps):
    rng = np.random.default_rng(1)
    return [rng.standard_normal(START.shape) for _ in range(steps)]


MAKERS = {
    'sgd': lambda wrt: SGD(wrt, learning_rate=0.1),
    'sgd-decay': lambda wrt: SGD(wrt, learning_rate=0.1, weight_decay=0.1),
    'momentum': lambda wrt: SGD(wrt, learning_rate=0.1, momentum=0.9),
    'nesterov': lambda wrt: SGD(wrt, learning_rate=0.1, momentum=0.9,
                                nesterov=True, weight_decay=0.05),
    'adam': lambda wrt: Adam(wrt, learning_rate=0.1, weight_decay=0.1),
    'adamw': lambda wrt: AdamW(wrt, learning_rate=0.1, weight_decay=0.1),
    'ADAM': lambda wrt: ADAM(wrt, learning_rate=0.1, beta1=0.8, beta2=0.99,
                             eps_adam=1e-6),
}


def run_steps(make, wrap, unwrap, steps=5):
    """Parameter and buffers after `steps` steps on arrays made by wrap."""
    w = Value(wrap(START))
    opt = make([w])
    for g in gradients(steps):
        w.grad = wrap(g)
        opt.step()
    buffers = {name: unwrap(getattr(opt, name)[0]) for name in opt.buffers}
    return unwrap(w.data), buffers


@pytest.mark.parametrize('kind', MAKERS)
def test_optimisers_on_dask_arrays_step_like_numpy(kind):
    da = pytest.importorskip('dask.array')
    expected = run_steps(MAKERS[kind], np.asarray, np.asarray)
    got = run_steps(MAKERS[kind], lambda a: da.from_array(a, chunks=2),
                    lambda a: np.asarray(a.compute()))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    assert got[1].keys() == expected[1].keys()
    for name in got[1]:
        np.testing.assert_allclose(got[1][name], expected[1][name],
                                   rtol=1e-12)


@pytest.mark.parametrize('mutable', [True, False])
@pytest.mark.parametrize('kind', MAKERS)
def test_optimisers_on_strict_arrays_step_like_numpy(kind, mutable,
                                                     monkeypatch):
    """In place (the library allows it) and as new arrays (as for a library
    whose arrays are immutable), the same numbers as NumPy."""
    xp = pytest.importorskip('array_api_strict')
    bk = mg.Value(xp.asarray(0.0)).bk
    assert bk.mutable
    monkeypatch.setattr(bk, 'mutable', mutable)
    expected = run_steps(MAKERS[kind], np.asarray, np.asarray)
    got = run_steps(MAKERS[kind], xp.asarray, lambda a: np.asarray(a))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    for name in got[1]:
        np.testing.assert_allclose(got[1][name], expected[1][name],
                                   rtol=1e-12)


def test_dask_backend_is_not_mutable():
    da = pytest.importorskip('dask.array')
    assert not Value(da.zeros(2)).bk.mutable
    assert Value(np.zeros(2)).bk.mutable


@pytest.mark.parametrize('kind', MAKERS)
def test_numpy_steps_stay_in_place(kind):
    w = Value(START.copy())
    opt = MAKERS[kind]([w])
    data = w.data
    arrays = [id(a) for name in opt.buffers + ('scratch',)
              for a in getattr(opt, name)]
    for g in gradients(3):
        w.grad = g
        opt.step()
    assert w.data is data
    assert [id(a) for name in opt.buffers + ('scratch',)
            for a in getattr(opt, name)] == arrays


# ---- check_finite ----------------------------------------------------------

def snapshot(opt):
    return ([p.data.copy() for p in opt.wrt], opt.num_steps,
            {k: np.copy(v) for k, v in opt.state_dict().items()})


def assert_unchanged(opt, before):
    after = snapshot(opt)
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1] == after[1]
    for key in before[2]:
        np.testing.assert_array_equal(before[2][key], after[2][key])


@pytest.mark.parametrize('kind', MAKERS)
@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_check_finite_refuses_a_step_and_names_the_parameter(kind, bad):
    a, b = Value(START.copy()), Value(np.ones(3), name='bias')
    make = MAKERS[kind]
    opt = make([a, b])
    opt.check_finite = True          # as if given to the constructor
    a.grad, b.grad = np.ones_like(START), np.ones(3)
    opt.step()
    before = snapshot(opt)
    b.grad = np.array([1.0, bad, 2.0])
    with pytest.raises(FloatingPointError,
                       match=r"the gradient of wrt\[1\] 'bias' of shape "
                             r'\(3,\) is not finite'):
        opt.step()
    assert_unchanged(opt, before)


def test_check_finite_is_an_option_of_every_optimiser():
    w = Value(np.zeros(2))
    for opt in (SGD([w], 0.1, check_finite=True),
                Adam([w], check_finite=True), AdamW([w], check_finite=True),
                ADAM([w], 0.1, 0.9, 0.99, 1e-8, check_finite=True)):
        assert opt.check_finite
        w.grad = np.array([np.nan, 0.0])
        with pytest.raises(FloatingPointError, match=r'wrt\[0\] of shape'):
            opt.step()
    assert not SGD([w], 0.1).check_finite             # off by default
    with pytest.raises(TypeError, match='SGD: check_finite must be True or '
                                        'False'):
        SGD([w], 0.1, check_finite='yes')


def test_check_finite_leaves_a_schedule_where_it_was():
    w = Value(np.zeros(2))
    opt = SGD([w], learning_rate=iter([0.5, 0.25]), check_finite=True)
    w.grad = np.array([np.inf, 0.0])
    with pytest.raises(FloatingPointError):
        opt.step()
    w.grad = np.array([1.0, 0.0])
    opt.step()
    np.testing.assert_array_equal(w.data, [-0.5, 0.0])   # the first rate


# ---- gradients, rates and schedules that are wrong -------------------------

@pytest.mark.parametrize('grad, what', [
    (np.ones((1, 3)), r'has shape \(1, 3\) and dtype float64'),
    (np.ones(()), r'has shape \(\) and dtype float64'),
    (np.ones(3, dtype=np.float32), r'has shape \(3,\) and dtype float32'),
    (np.ones(3, dtype=bool), r'has shape \(3,\) and dtype bool'),
    (np.ones(3, dtype=np.complex128), 'has shape .* and dtype complex128'),
])
@pytest.mark.parametrize('kind', ['sgd', 'momentum', 'adam'])
def test_steps_refuse_a_gradient_unlike_its_parameter(kind, grad, what):
    a, b = Value(START.copy()), Value(np.ones(3))
    opt = MAKERS[kind]([a, b])
    before = snapshot(opt)
    a.grad, b.grad = np.ones_like(START), grad
    with pytest.raises(ValueError, match=rf'the gradient of wrt\[1\] of '
                                         rf'shape \(3,\) {what}'):
        opt.step()
    assert_unchanged(opt, before)


@pytest.mark.parametrize('make, error, message', [
    (lambda w: SGD([w], learning_rate=math.nan), ValueError,
     'SGD: learning_rate must be non-negative, got nan'),
    (lambda w: SGD([w], learning_rate=math.inf), ValueError,
     'SGD: learning_rate must be finite, got inf'),
    (lambda w: Adam([w], learning_rate=math.inf), ValueError,
     'Adam: learning_rate must be finite'),
    (lambda w: SGD([w], 0.1, momentum=math.inf), ValueError,
     'SGD: momentum must be finite'),
    (lambda w: SGD([w], 0.1, momentum=math.nan), ValueError,
     'SGD: momentum must be non-negative'),
    (lambda w: AdamW([w], weight_decay=math.nan), ValueError,
     'AdamW: weight_decay must be non-negative'),
    (lambda w: Adam([w], eps=math.inf), ValueError, 'Adam: eps must be '
     'finite'),
    (lambda w: Adam([w], beta1=math.nan), ValueError, 'Adam: beta1'),
    (lambda w: SGD([w], learning_rate=1j), TypeError,
     'SGD: learning_rate must be a number'),
])
def test_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make(Value(np.zeros(2)))


@pytest.mark.parametrize('rate, message', [
    (math.nan, 'must be non-negative, got nan'),
    (math.inf, 'must be finite, got inf'),
    (-0.5, 'must be non-negative, got -0.5'),
])
def test_a_schedule_yielding_a_bad_rate_is_refused(rate, message):
    w = Value(np.zeros(2))
    w.grad = np.ones(2)
    opt = Adam([w], learning_rate=iter([0.1, rate]))
    opt.step()
    before = snapshot(opt)
    with pytest.raises(ValueError, match=f'Adam: learning_rate {message}'):
        opt.step()
    assert opt.num_steps == 1                            # not counted
    np.testing.assert_array_equal(w.data, before[0][0])


@pytest.mark.parametrize('make, error, message', [
    (lambda: constant(math.nan), ValueError, 'constant: learning_rate'),
    (lambda: step_decay(0.1, 0), ValueError,
     'step_decay: step_size must be at least 1, got 0'),
    (lambda: step_decay(0.1, 2.5), TypeError,
     'step_decay: step_size must be a whole number'),
    (lambda: step_decay(0.1, 2, gamma=-1), ValueError, 'step_decay: gamma'),
    (lambda: step_decay(math.inf, 2), ValueError,
     'step_decay: learning_rate must be finite'),
    (lambda: cosine(0.1, -5), ValueError,
     'cosine: total_steps must be at least 0'),
    (lambda: cosine(0.1, 10, min_rate=math.nan), ValueError,
     'cosine: min_rate'),
    (lambda: warmup(0.1, 0.5), TypeError, 'warmup: steps must be a whole'),
    (lambda: warmup(-0.1, 5), ValueError, 'warmup: schedule must be '
     'non-negative'),
])
def test_schedules_check_their_arguments_when_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ---- clip_grad_norm --------------------------------------------------------

def test_clip_grad_norm_does_not_overflow_in_float32():
    a = Value(np.zeros(3, dtype=np.float32), dtype='float32')
    b = Value(np.zeros(4, dtype=np.float32), dtype='float32')
    a.grad = np.full(3, 1e20, dtype=np.float32)
    b.grad = np.full(4, -1e20, dtype=np.float32)
    norm = clip_grad_norm([a, b], 1.0)
    assert math.isclose(norm, 1e20 * math.sqrt(7), rel_tol=1e-6)
    total = math.sqrt(float((a.grad.astype(float) ** 2).sum() +
                            (b.grad.astype(float) ** 2).sum()))
    assert math.isclose(total, 1.0, rel_tol=1e-6)
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, 1 / math.sqrt(7), rtol=1e-6)


def test_clip_grad_norm_of_tiny_gradients_is_not_zero():
    a = Value(np.zeros(2, dtype=np.float32), dtype='float32')
    a.grad = np.array([3e-30, 4e-30], dtype=np.float32)
    assert math.isclose(clip_grad_norm([a], 1.0), 5e-30, rel_tol=1e-6)


@pytest.mark.parametrize('bad', [np.inf, np.nan])
def test_clip_grad_norm_leaves_non_finite_gradients_alone(bad):
    a, b = Value(np.zeros(2)), Value(np.zeros(2), name='b')
    a.grad, b.grad = np.array([1.0, 2.0]), np.array([bad, 1.0])
    norm = clip_grad_norm([a, b], 1.0)
    assert math.isnan(norm) if np.isnan(bad) else norm == math.inf
    np.testing.assert_array_equal(a.grad, [1.0, 2.0])
    with pytest.raises(FloatingPointError, match=r"clip_grad_norm: the "
                       r"gradient of wrt\[1\] 'b' of shape \(2,\) is not "
                       'finite'):
        clip_grad_norm([a, b], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize('max_norm, error, message', [
    (-1.0, ValueError, 'max_norm must be non-negative, got -1.0'),
    (math.nan, ValueError, 'max_norm must be non-negative, got nan'),
    ('1', TypeError, 'max_norm must be a number'),
])
def test_clip_grad_norm_refuses_a_bad_max_norm(max_norm, error, message):
    a = Value(np.zeros(2))
    a.grad = np.array([3.0, 4.0])
    with pytest.raises(error, match=f'clip_grad_norm: {message}'):
        clip_grad_norm([a], max_norm)
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])
    assert clip_grad_norm([a], math.inf) == 5.0          # no clipping


# ---- load_state_dict -------------------------------------------------------

def trained_adam():
    w = Value(START.copy())
    opt = Adam([w], learning_rate=0.1)
    for g in gradients(2):
        w.grad = g
        opt.step()
    return opt


@pytest.mark.parametrize('change, error, message', [
    ({'num_steps': -1}, ValueError, "'num_steps' must be >= 0, got -1"),
    ({'num_steps': 1.5}, TypeError, "'num_steps' must be a whole number"),
    ({'num_steps': True}, TypeError, "'num_steps' must be a whole number"),
    ({'num_steps': np.array([2, 3])}, TypeError,
     r"'num_steps' must be a whole number, got an array of shape \(2,\)"),
    ({'num_steps': np.array(2.0)}, TypeError,
     "'num_steps' must be a whole number, got an array of shape \\(\\) and "
     'dtype float64'),
    ({'m.0': np.full(START.shape, 'a')}, TypeError,
     "'m.0' must be an array of real numbers"),
    ({'m.0': None}, TypeError, "'m.0' must be an array of real numbers"),
    ({'v.0': np.ones(START.shape, dtype=complex)}, TypeError,
     "'v.0' must be an array of real numbers"),
    ({'v.0': np.ones(START.shape, dtype=bool)}, TypeError, "'v.0'"),
    ({'m.0': np.ones(3)}, ValueError, r"'m.0' has shape \(3,\), expected "
     r'\(2, 3\)'),
    ({'v.0': np.full(START.shape, np.nan)}, ValueError,
     "'v.0' holds values that are not finite"),
])
def test_optimiser_load_state_dict_validates_and_names_the_key(change, error,
                                                              message):
    opt = trained_adam()
    state = {**opt.state_dict(), **change}
    fresh = Adam([Value(START.copy())], learning_rate=0.1)
    before = snapshot(fresh)
    with pytest.raises(error, match=f'Adam.load_state_dict: {message}'):
        fresh.load_state_dict(state)
    assert_unchanged(fresh, before)


def test_optimiser_state_survives_save_and_load(tmp_path):
    opt = trained_adam()
    mg.save(tmp_path / 'opt.npz', opt.state_dict())
    fresh = Adam([Value(opt.wrt[0].data.copy())], learning_rate=0.1)
    fresh.load_state_dict(mg.load(tmp_path / 'opt.npz'))
    assert fresh.num_steps == 2 and isinstance(fresh.num_steps, int)
    for a, b in ((opt.m[0], fresh.m[0]), (opt.v[0], fresh.v[0])):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match='Adam.load_state_dict: state must be '
                                        'a dict'):
        fresh.load_state_dict([('num_steps', 1)])


@pytest.mark.parametrize('value, error, message', [
    (np.full((2, 1), 'x'), TypeError,
     "load_state_dict: 'layers.0.bias' must be an array of real numbers"),
    (None, TypeError, "'layers.0.bias' must be an array of real numbers"),
    (np.ones((2, 1), dtype=complex), TypeError, "'layers.0.bias'"),
    (np.full(2, np.inf), ValueError,
     "'layers.0.bias' holds values that are not finite"),
    (np.full(2, 1e300), ValueError,
     "'layers.0.bias' holds values that are not finite .*float32"),
])
def test_module_load_state_dict_names_the_key(value, error, message):
    model = nn.TensorMLP(3, [2, 1], rng=0, dtype='float32')
    state = model.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    bias = next(k for k in state if k.endswith('bias'))
    state[bias] = value
    with pytest.raises(error, match=message.replace('layers.0.bias', bias)):
        with np.errstate(over='ignore'):
            model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
