"""The whole op table on `array_api_strict` arrays: `Value(xp.asarray(a))`
picks the strict backend from the array type, and every forward value and
gradient must equal the NumPy run. A rule that calls anything outside the
Array API standard (a NumPy-only function, method or indexing habit) fails
here.

Rows left out, with the reason shown by pytest -ra:
- `ndarray + x` and friends: array_api_strict's operators raise on a Value
  instead of returning NotImplemented (the NumPy path goes through
  __array_ufunc__, which the strict Array does not have);
- the casts to float128, which the standard does not have.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from numpy.testing import assert_allclose

import micrograd as mg
from op_table import ROWS, to_namespace

xp = pytest.importorskip('array_api_strict')
Array = type(xp.asarray(0.0))

ROW_PARAMS = [pytest.param(row, id=row.name, marks=(
    [pytest.mark.skip(reason=f'not on array_api_strict: {row.strict}')]
    if row.strict else [])) for row in ROWS]
EXAMPLE_PARAMS = [pytest.param(row, case, id=f'{row.name}-{i}', marks=(
    [pytest.mark.skip(reason='not on array_api_strict')] if row.strict
    else [])) for row in ROWS for i, case in enumerate(row.example_cases())]


def to_numpy(a):
    return np.from_dlpack(a) if isinstance(a, Array) else np.asarray(a)


def numpy_run(row, case, upstream):
    leaves = [mg.Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    out.backward(upstream)
    return out, leaves


def strict_run(row, case, upstream):
    leaves = [mg.Value(xp.asarray(a)) for a in case.arrays]
    params = to_namespace(case.params, xp.asarray)
    out = row.fn(*leaves, **params)
    out.backward(xp.asarray(upstream))
    return out, leaves


def compare(row, case):
    probe = mg.Value(case.arrays[0])
    shape = row.fn(*[mg.Value(a) for a in case.arrays], **case.params).shape
    upstream = np.random.default_rng(0).standard_normal(shape)
    expected, np_leaves = numpy_run(row, case, upstream)
    out, leaves = strict_run(row, case, upstream)
    assert out.bk.name == 'array_api_strict' and probe.bk.name == 'numpy'
    assert isinstance(out.data, Array)
    assert_allclose(to_numpy(out.data), expected.data, rtol=1e-12, atol=1e-13)
    for leaf, np_leaf in zip(leaves, np_leaves):
        assert isinstance(leaf.grad, Array), type(leaf.grad)
        assert leaf.grad.dtype == xp.float64
        assert_allclose(to_numpy(leaf.grad), np_leaf.grad, rtol=1e-12,
                        atol=1e-13)


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_strict_matches_numpy(row, data):
    compare(row, data.draw(row.cases(), label='case'))


@pytest.mark.parametrize('row, case', EXAMPLE_PARAMS)
def test_strict_matches_numpy_examples(row, case):
    compare(row, case)


def test_strict_exclusions_are_only_those_stated():
    """Only the reflected-ndarray rows and the casts to float128 (which the
    standard does not have) are left out; everything else, boolean masks
    and any integer arrays included, runs on array_api_strict."""
    excluded = {row.name for row in ROWS if row.strict}
    assert excluded == {'ndarray + x', 'ndarray - x', 'ndarray * x',
                        'ndarray / x', 'ndarray ** x', 'ndarray @ x',
                        'astype(x, float128)', 'x.astype(float128)'}


def test_generic_getitem_gradient_of_masks_and_several_arrays():
    """Masks and several integer arrays (duplicates included) index and
    accumulate as on NumPy, on a library whose own indexing cannot."""
    x = np.arange(6.0).reshape(2, 3)
    mask = np.array([[True, False, True], [False, False, True]])
    rows, cols = np.array([0, 1, 1]), np.array([2, 2, 0])
    v = mg.Value(xp.asarray(x))
    for index, numpy_index in (
            (xp.asarray(mask), mask),
            ((xp.asarray(rows), xp.asarray(cols)), (rows, cols)),
            ((xp.asarray(rows), xp.asarray(rows)), (rows, rows)),
            ((slice(None), xp.asarray(mask[0])), (slice(None), mask[0]))):
        out = v[index]
        assert_allclose(to_numpy(out.data), x[numpy_index])
        upstream = np.arange(1.0, 1.0 + out.data.size).reshape(out.shape)
        out.backward(xp.asarray(upstream))
        want = np.zeros_like(x)
        np.add.at(want, numpy_index, upstream)
        assert_allclose(to_numpy(v.grad), want)


def test_strict_duplicate_indices_accumulate():
    v = mg.Value(xp.asarray(np.arange(4.0)))
    v[xp.asarray(np.array([1, -3, 3, 1]))].backward(
        xp.asarray(np.array([1.0, 10.0, 100.0, 1000.0])))
    assert_allclose(to_numpy(v.grad), [0.0, 1011.0, 0.0, 100.0])


@pytest.mark.parametrize('settings', [{}, {'momentum': 0.9},
                                      {'weight_decay': 0.1}])
def test_strict_optimisers_step_like_numpy(settings):
    """The optimisers update arrays of any Array API library in place, the
    same numbers as on NumPy (plain SGD, momentum, decay, Adam)."""
    from micrograd.optim import SGD, Adam
    start, grad = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, -1.0])
    for make in (lambda w: SGD([w], learning_rate=0.1, **settings),
                 lambda w: Adam([w], learning_rate=0.1,
                                weight_decay=settings.get('weight_decay', 0))):
        results = []
        for wrap in (xp.asarray, np.asarray):
            w = mg.Value(wrap(start))
            opt = make(w)
            for _ in range(3):
                w.grad = wrap(grad)
                opt.step()
            results.append(to_numpy(w.data) if wrap is xp.asarray else w.data)
        assert_allclose(results[0], results[1], rtol=1e-12)


# ---- on a device NumPy cannot read: a stand-in for CuPy ---------------------
# (tests/device_standin.py: array_api_strict's arrays on 'device1', where
# any NumPy call on them raises). Every rule, interpreted and compiled, the
# optimisers, gradient clipping, optimiser state and a compiled training
# loop run there with NumPy's numbers: none calls NumPy on an array.

from device_standin import (  # noqa: E402
    BACKEND as DEVICE, assert_numpy_refuses, to_device,
    to_numpy as device_to_numpy)


@pytest.fixture
def on_device(monkeypatch):
    """array_api_strict's arrays resolve to the device stand-in (made
    inside ops too: labels, indices, constants)."""
    from micrograd import backend
    monkeypatch.setitem(backend._BY_TYPE, Array, DEVICE)
    assert_numpy_refuses(to_device(np.ones(2)))


DEVICE_ROWS = [pytest.param(row, id=row.name, marks=(
    [pytest.mark.skip(reason='not on array_api_strict')] if row.strict
    else [])) for row in ROWS]


@pytest.mark.parametrize('row', DEVICE_ROWS)
def test_device_rules_interpreted_and_compiled_match_numpy(row, on_device):
    for case in row.example_cases():
        leaves = [mg.Value(a) for a in case.arrays]
        out = row.fn(*leaves, **case.params)
        upstream = np.random.default_rng(0).standard_normal(out.shape)
        out.backward(upstream)
        for compiled in (False, True):
            on = [mg.Value(to_device(a)) for a in case.arrays]
            got = row.fn(*on, **to_namespace(case.params, to_device))
            assert got.bk is DEVICE
            if compiled:
                mg.compile(got)
                got.forward()
            got.backward(to_device(upstream))
            assert_allclose(device_to_numpy(got.data), out.data,
                            rtol=1e-12, atol=1e-13)
            for leaf, np_leaf in zip(on, leaves):
                assert_allclose(device_to_numpy(leaf.grad), np_leaf.grad,
                                rtol=1e-12, atol=1e-13)


def _optimisers():
    from micrograd.optim import ADAM, SGD, Adam, AdamW
    return {
        'sgd': lambda w: SGD(w, learning_rate=0.1, check_finite=True),
        'sgd-decay': lambda w: SGD(w, learning_rate=0.1, weight_decay=0.1),
        'momentum': lambda w: SGD(w, learning_rate=0.1, momentum=0.9),
        'nesterov': lambda w: SGD(w, learning_rate=0.1, momentum=0.9,
                                  nesterov=True, weight_decay=0.05),
        'adam': lambda w: Adam(w, learning_rate=0.1, weight_decay=0.1,
                               check_finite=True),
        'adamw': lambda w: AdamW(w, learning_rate=0.1, weight_decay=0.1),
        'ADAM': lambda w: ADAM(w, learning_rate=0.1, beta1=0.8, beta2=0.99,
                               eps_adam=1e-6)}


def _optimiser_run(make, wrap, unwrap):
    """5 steps with clipped gradients, the optimiser rebuilt from its
    state_dict after step 2: parameters and buffers, on the host."""
    from micrograd.optim import clip_grad_norm
    rng = np.random.default_rng(1)
    w = [mg.Value(wrap(rng.standard_normal((2, 3)))),
         mg.Value(wrap(rng.standard_normal(4)))]
    opt = make(w)
    for step in range(5):
        for p in w:
            p.grad = wrap(3 * rng.standard_normal(tuple(p.shape)))
        clip_grad_norm(w, 2.0)
        opt.step()
        if step == 2:
            state = opt.state_dict()
            opt = make(w)
            opt.load_state_dict(state)
    return ([unwrap(p.data) for p in w] +
            [unwrap(a) for name in opt.buffers for a in getattr(opt, name)])


@pytest.mark.parametrize('mutable', [True, False])
@pytest.mark.parametrize('kind', list(_optimisers()))
def test_device_optimisers_step_like_numpy(kind, mutable, on_device,
                                           monkeypatch):
    """Every optimiser, in place and (as for immutable arrays) not, with
    gradient clipping, the finite check and a state_dict round trip."""
    monkeypatch.setattr(DEVICE, 'mutable', mutable)
    make = _optimisers()[kind]
    want = _optimiser_run(make, np.asarray, np.asarray)
    got = _optimiser_run(make, to_device, device_to_numpy)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def _train(lib, wrap, unwrap, steps=5):
    """A two-layer model on placeholders, compiled, trained with Adam."""
    from micrograd.optim import Adam
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    params = [mg.Value(wrap(rng.standard_normal(s) / 2))
              for s in ((3, 8), (8,), (8, 2), (2,))]
    w1, b1, w2, b2 = params
    x = mg.Value(shape=(None, 3), name='x', requires_grad=False, backend=lib)
    y = mg.Value(shape=(None, 2), name='y', requires_grad=False, backend=lib)
    loss = (((x @ w1 + b1).tanh() @ w2 + b2 - y) ** 2).mean()
    mg.compile(loss)
    opt = Adam(params, learning_rate=0.05)
    losses = []
    for _ in range(steps):
        loss.forward(x=wrap(X), y=wrap(Y))
        loss.backward()
        opt.step()
        losses.append(float(unwrap(loss.data)))
    return losses, [unwrap(p.data) for p in params]


def test_device_compiled_training_matches_numpy(on_device):
    want = _train(np, np.asarray, np.asarray)
    got = _train(DEVICE, to_device, device_to_numpy)
    assert_allclose(got[0], want[0], rtol=1e-12)
    for a, b in zip(got[1], want[1]):
        assert_allclose(a, b, rtol=1e-12)
