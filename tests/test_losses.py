"""Losses: values against plain NumPy, gradients against central differences
(micrograd.gradcheck, float64), against PyTorch where it is installed, and
the errors for bad shapes and labels."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value
from micrograd.losses import (binary_cross_entropy_with_logits, cross_entropy,
                              hinge, mse, pinball)

rng = np.random.default_rng(0)
Q = (0.1, 0.5, 0.9)
N, C = 6, 4
PRED, Y = rng.standard_normal((N, 3)), rng.standard_normal(N)
SCORES = rng.standard_normal(N)
SIGNS = np.array([1., -1., -1., 1., 1., -1.])
LOGITS = rng.standard_normal((N, C)) * 3
LABELS = np.array([0, 3, 1, 1, 2, 3])
TARGETS = rng.random(N)


# ---- the same losses in plain NumPy --------------------------------------

def np_pinball(pred, y, q):
    r = y.reshape(-1, 1) - pred
    q = np.asarray(q)
    return np.mean(np.where(r > 0, q * r, (q - 1) * r))


def np_hinge(s, labels):
    return np.mean(np.maximum(0, 1 - labels * s))


def np_bce(x, t):
    """-t log p - (1 - t) log(1 - p), p = sigmoid(x), as logaddexp."""
    return np.mean(t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x))


def np_cross_entropy(logits, labels):
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


# ---- values and gradients ----------------------------------------------

@pytest.mark.parametrize('y', [Y, Y.reshape(-1, 1)], ids=['(N,)', '(N,1)'])
def test_pinball(y):
    loss = pinball(Value(PRED), y, Q)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.data, np_pinball(PRED, y, Q), rtol=1e-13)
    mg.gradcheck(lambda p: pinball(p, y, Q), PRED)
    mg.gradcheck(lambda p, t: pinball(p, t, Q), PRED, y)   # and wrt y


def test_pinball_weights_each_side_by_its_quantile():
    # one row, pred below y by 2 in column 0 and above it by 3 in column 1
    loss = pinball(Value([[1.0, 6.0]]), [3.0], (0.2, 0.7))
    assert float(loss.data) == pytest.approx((0.2 * 2 + 0.3 * 3) / 2)


def test_mse():
    np.testing.assert_allclose(mse(Value(PRED), PRED[::-1]).data,
                               np.mean((PRED - PRED[::-1]) ** 2), rtol=1e-13)
    np.testing.assert_allclose(mse(Value(PRED), 0.5).data,
                               np.mean((PRED - 0.5) ** 2), rtol=1e-13)
    mg.gradcheck(mse, PRED, PRED[::-1])


def test_hinge():
    np.testing.assert_allclose(hinge(Value(SCORES), SIGNS).data,
                               np_hinge(SCORES, SIGNS), rtol=1e-13)
    assert float(hinge(Value(3 * SIGNS), SIGNS).data) == 0.0   # margins > 1
    mg.gradcheck(lambda s: hinge(s, SIGNS), SCORES)


def test_binary_cross_entropy_with_logits():
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(Value(SCORES), TARGETS).data,
        np_bce(SCORES, TARGETS), rtol=1e-13)
    mg.gradcheck(lambda x: binary_cross_entropy_with_logits(x, TARGETS),
                 SCORES)
    mg.gradcheck(binary_cross_entropy_with_logits, SCORES, TARGETS)


def test_binary_cross_entropy_is_stable_for_large_logits():
    x = Value(np.array([-800.0, -40.0, 40.0, 800.0]))
    t = np.array([1.0, 0.0, 1.0, 0.0])
    loss = binary_cross_entropy_with_logits(x, t)
    loss.backward()
    np.testing.assert_allclose(loss.data, np.mean([800, 0, 0, 800]),
                               rtol=1e-12)
    # d/dx = sigmoid(x) - t, over 4 rows
    np.testing.assert_allclose(x.grad, np.array([-1, 0, 0, 1]) / 4,
                               atol=1e-15)


def test_cross_entropy():
    loss = cross_entropy(Value(LOGITS), LABELS)
    np.testing.assert_allclose(loss.data, np_cross_entropy(LOGITS, LABELS),
                               rtol=1e-13)
    mg.gradcheck(lambda z: cross_entropy(z, LABELS), LOGITS)
    as_list = cross_entropy(Value(LOGITS), LABELS.tolist())
    np.testing.assert_allclose(as_list.data, loss.data, rtol=1e-15)


def test_float32_stays_float32():
    p32 = Value(PRED, dtype='float32')
    for loss in (pinball(p32, Y, Q), mse(p32, PRED), hinge(p32[:, 0], SIGNS),
                 binary_cross_entropy_with_logits(p32, PRED > 0),
                 cross_entropy(p32, LABELS % 3)):
        assert loss.dtype == np.float32
        loss.backward()
        assert p32.grad.dtype == np.float32


# ---- placeholders: the graph is built once and fed -------------------------

def test_placeholder_targets_are_fed_each_forward():
    """Targets and labels given as placeholders take the fed values."""
    def placeholder(name, *shape):
        return Value(shape=(None,) + shape, name=name, requires_grad=False)
    p, s, z = placeholder('p', 3), placeholder('s'), placeholder('z', C)
    y, t, k = placeholder('y'), placeholder('t'), placeholder('k')
    cases = [
        (pinball(p, y, Q), lambda f: np_pinball(f['p'], f['y'], Q)),
        (mse(s, y), lambda f: np.mean((f['s'] - f['y']) ** 2)),
        (hinge(s, y), lambda f: np_hinge(f['s'], f['y'])),
        (binary_cross_entropy_with_logits(s, t),
         lambda f: np_bce(f['s'], f['t'])),
        (cross_entropy(z, k), lambda f: np_cross_entropy(f['z'], f['k']))]
    for rows in (N, 3):             # two batch sizes, new targets each time
        feeds = {'p': rng.standard_normal((rows, 3)),
                 's': rng.standard_normal(rows),
                 'z': rng.standard_normal((rows, C)),
                 'y': np.where(rng.random(rows) > 0.5, 1.0, -1.0),
                 't': rng.random(rows),
                 'k': rng.integers(0, C, rows)}
        for loss, reference in cases:
            used = {n.name: feeds[n.name] for n in loss.topo()
                    if n.name in feeds}
            loss.forward(**used)
            np.testing.assert_allclose(loss.data, reference(used),
                                       rtol=1e-12)


def test_cross_entropy_gradient_with_placeholder_labels():
    logits = Value(LOGITS)
    labels = Value(shape=(None,), name='k', requires_grad=False)
    loss = cross_entropy(logits, labels)
    loss.forward(k=LABELS)
    loss.backward()
    softmax = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
    expected = (softmax - np.eye(C)[LABELS]) / N
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-10, atol=1e-15)


def test_losses_on_the_strict_array_api():
    xp = pytest.importorskip('array_api_strict')
    cases = [
        (lambda a: pinball(a, xp.asarray(Y), Q), PRED,
         np_pinball(PRED, Y, Q)),
        (lambda a: mse(a, xp.asarray(PRED[::-1])), PRED,
         np.mean((PRED - PRED[::-1]) ** 2)),
        (lambda a: hinge(a, xp.asarray(SIGNS)), SCORES,
         np_hinge(SCORES, SIGNS)),
        (lambda a: binary_cross_entropy_with_logits(a, xp.asarray(TARGETS)),
         SCORES, np_bce(SCORES, TARGETS)),
        (lambda a: cross_entropy(a, xp.asarray(LABELS)), LOGITS,
         np_cross_entropy(LOGITS, LABELS))]
    for loss_of, a, expected in cases:
        v = Value(xp.asarray(a))
        loss = loss_of(v)
        loss.backward()
        assert float(loss.data) == pytest.approx(expected, rel=1e-12)
        assert tuple(v.grad.shape) == a.shape
        assert np.isfinite(np.asarray(xp.sum(v.grad * v.grad)))


# ---- errors ----------------------------------------------------------------

@pytest.mark.parametrize('call, message', [
    (lambda: pinball(Value(PRED), Y, (0.1, 0.9)),
     r'pinball: pred has shape \(6, 3\), expected \(N, 2\) for 2 quantiles'),
    (lambda: pinball(Value(PRED[:, 0]), Y, (0.5,)),
     r'pinball: pred has shape \(6,\), expected \(N, 1\)'),
    (lambda: pinball(Value(PRED), Y, (0.1, 0.5, 1.0)),
     r'pinball: quantiles must lie in \(0, 1\), got \[0.1, 0.5, 1.0\]'),
    (lambda: pinball(Value(PRED), Y, (0.0, 0.5, 0.9)),
     r'pinball: quantiles must lie in \(0, 1\)'),
    (lambda: pinball(Value(PRED), Y, (0.1, float('nan'), 0.9)),
     r'pinball: quantiles must lie in \(0, 1\)'),
    (lambda: pinball(Value(PRED[:, :0]), Y, ()),
     r'pinball: quantiles must lie in \(0, 1\), got \[\]'),
    (lambda: pinball(Value(PRED), Y, 'abc'),
     r"pinball: quantiles must be a sequence of numbers in \(0, 1\), "
     r"got 'abc'"),
    (lambda: pinball(Value(PRED), Y, 0.5),
     r'pinball: quantiles must be a sequence'),
    (lambda: pinball(Value(PRED), np.ones((6, 2)), Q),
     r'pinball: y has shape \(6, 2\), expected \(6,\) or \(6, 1\) for pred '
     r'of shape \(6, 3\)'),
    (lambda: pinball(Value(PRED), Y[:5], Q),
     r'pinball: y has shape \(5,\), expected \(6,\) or \(6, 1\)'),
    (lambda: pinball(Value(PRED), 1.0, Q), r'pinball: y has shape \(\)'),
    (lambda: mse(Value(PRED[:, :1]), Y),
     r'mse: y has shape \(6,\) but pred has shape \(6, 1\); they must match'),
    (lambda: mse(Value(PRED), PRED[:4]),
     r'mse: y has shape \(4, 3\) but pred has shape \(6, 3\)'),
    (lambda: hinge(Value(SCORES), (SIGNS + 1) / 2),
     r'hinge: labels must be -1 or \+1, got 0$'),
    (lambda: hinge(Value(SCORES), np.arange(10.0)[:6]),
     r'hinge: labels must be -1 or \+1, got 0, 2, 3, 4, 5$'),
    (lambda: hinge(Value(SCORES), np.arange(7.0, 14.0)[:6] * SIGNS),
     r'hinge: labels must be -1 or \+1, got -12, -9, -8, 7, 10, \.\.\.$'),
    (lambda: hinge(Value(SCORES[:, None]), SIGNS),
     r'hinge: labels has shape \(6,\) but scores has shape \(6, 1\)'),
    (lambda: binary_cross_entropy_with_logits(Value(SCORES), 2 * TARGETS),
     r'binary_cross_entropy_with_logits: targets must lie in \[0, 1\], got'),
    (lambda: binary_cross_entropy_with_logits(Value(SCORES), TARGETS[:5]),
     r'binary_cross_entropy_with_logits: targets has shape \(5,\) but '
     r'logits has shape \(6,\)'),
    (lambda: cross_entropy(Value(LOGITS[0]), LABELS[:1]),
     r'cross_entropy: logits has shape \(4,\), expected \(N, C\)'),
    (lambda: cross_entropy(Value(LOGITS), LABELS[:3]),
     r'cross_entropy: labels have shape \(3,\), expected \(6,\) for logits '
     r'of shape \(6, 4\)'),
    (lambda: cross_entropy(Value(LOGITS), LABELS[:, None]),
     r'cross_entropy: labels have shape \(6, 1\)'),
    (lambda: cross_entropy(Value(LOGITS), LABELS + 1),
     r'cross_entropy: labels must lie in \[0, 4\) for 4 classes, got 4$'),
    (lambda: cross_entropy(Value(LOGITS), LABELS - 1),
     r'cross_entropy: labels must lie in \[0, 4\) for 4 classes, got -1$'),
    (lambda: cross_entropy(Value(LOGITS), LABELS.astype(float)),
     r'cross_entropy: labels must be integer class indices, got dtype '
     r'float64'),
])
def test_errors_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_size_one_axes_match_a_placeholders_unfed_batch():
    """An unfed `None` axis holds 1, so a loss can be built on it."""
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    loss = pinball(x, Y, Q)              # (1, 3) against 6 rows: allowed
    loss.forward(x=PRED)
    np.testing.assert_allclose(loss.data, np_pinball(PRED, Y, Q), rtol=1e-13)


# ---- PyTorch -------------------------------------------------------------

def test_against_torch():
    torch = pytest.importorskip('torch')
    F = torch.nn.functional
    T = torch.tensor                       # float64 and int64, as the arrays
    tau = T(Q, dtype=torch.float64)
    cases = {
        'pinball': (lambda v: pinball(v, Y, Q), lambda t: torch.mean(
            tau * torch.relu(T(Y)[:, None] - t) +
            (1 - tau) * torch.relu(t - T(Y)[:, None])), PRED),
        'mse': (lambda v: mse(v, PRED[::-1]),
                lambda t: F.mse_loss(t, T(PRED[::-1].copy())), PRED),
        'hinge': (lambda v: hinge(v, SIGNS),
                  lambda t: torch.relu(1 - T(SIGNS) * t).mean(), SCORES),
        'bce': (lambda v: binary_cross_entropy_with_logits(v, TARGETS),
                lambda t: F.binary_cross_entropy_with_logits(t, T(TARGETS)),
                SCORES * 10),
        'cross_entropy': (lambda v: cross_entropy(v, LABELS),
                          lambda t: F.cross_entropy(t, T(LABELS)), LOGITS)}
    for name, (ours, theirs, a) in cases.items():
        v, t = Value(a), T(a, requires_grad=True)
        out, ref = ours(v), theirs(t)
        out.backward()
        ref.backward()
        np.testing.assert_allclose(out.data, ref.item(), rtol=1e-12,
                                   err_msg=name)
        np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-10,
                                   atol=1e-15, err_msg=name)


# ---- smooth losses have their exact gradient everywhere ---------------------

def test_binary_cross_entropy_at_logit_zero_has_gradient_sigmoid_minus_t():
    """At x = 0 the gradient is (sigmoid(0) - t) / N = (0.5 - t) / N: the
    conventions of relu and abs at their kinks must not leak into it."""
    x = Value(np.zeros(4))
    t = np.array([0.0, 1.0, 0.3, 1.0])
    binary_cross_entropy_with_logits(x, t).backward()
    np.testing.assert_allclose(x.grad, (0.5 - t) / 4, rtol=1e-15)
    mg.gradcheck(lambda z: binary_cross_entropy_with_logits(z, t),
                 np.array([0.0, -0.0, 0.0, 1.0]))


def test_binary_cross_entropy_is_softplus_minus_x_t():
    x = np.concatenate([SCORES * 10, [0.0, -0.0, 800.0, -800.0]])
    t = np.concatenate([TARGETS, [0.0, 1.0, 0.5, 0.5]])
    loss = binary_cross_entropy_with_logits(Value(x), t)
    assert float(loss.data) == float(np.mean(
        (mg.softplus(Value(x)) - Value(x) * t).data))


def test_zero_initialised_logistic_regression_trains_as_torch_does():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    t = (X @ np.array([1.0, -2.0, 0.5]) > 0).astype(float)
    w, tw = Value(np.zeros(3)), torch.zeros(3, dtype=torch.float64,
                                            requires_grad=True)
    for _ in range(5):
        loss = binary_cross_entropy_with_logits(mg.matmul(X, w), t)
        loss.backward()
        w.data -= 0.5 * w.grad
        ref = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.as_tensor(X) @ tw, torch.as_tensor(t))
        ref.backward()
        with torch.no_grad():
            tw -= 0.5 * tw.grad
            tw.grad.zero_()
        np.testing.assert_allclose(loss.data, ref.item(), rtol=1e-12)
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12)


def test_softplus_is_stable_and_its_gradient_is_sigmoid():
    x = np.array([-800.0, -30.0, -0.0, 0.0, 1e-300, 30.0, 800.0])
    v = Value(x)
    out = mg.softplus(v)
    out.backward()
    np.testing.assert_allclose(out.data, np.logaddexp(0.0, x), rtol=1e-15)
    with np.errstate(over='ignore'):
        np.testing.assert_allclose(v.grad, 1 / (1 + np.exp(-x)), rtol=1e-15)


def test_cross_entropy_with_equal_logits():
    """Equal logits (all 0 at initialisation, or all large): gradient
    (1/C - onehot) / N, exactly."""
    for value in (0.0, 1e17):
        logits = Value(np.full((3, 4), value))
        cross_entropy(logits, [0, 3, 1]).backward()
        np.testing.assert_allclose(logits.grad,
                                   (0.25 - np.eye(4)[[0, 3, 1]]) / 3,
                                   rtol=1e-15)
    mg.gradcheck(lambda z: cross_entropy(z, [0, 3, 1]), np.zeros((3, 4)))


def test_cross_entropy_with_a_minus_inf_logit_elsewhere():
    """A class masked out with -inf: finite loss, no NaN (0 * -inf)."""
    logits = Value(np.array([[0.0, -np.inf, 0.0]]))
    loss = cross_entropy(logits, [0])
    loss.backward()
    assert float(loss.data) == pytest.approx(np.log(2))
    np.testing.assert_allclose(logits.grad, [[-0.5, 0.0, 0.5]])


def test_pinball_at_an_exact_fit_shares_the_slopes_equally():
    """r = 0 is a kink of the loss itself, where its two pieces tie: the
    gradient is the mean of their slopes, (1/2 - tau) / (N Q), as at any
    tie (0 for the median, as abs at 0), the same as PyTorch's maximum."""
    torch = pytest.importorskip('torch')
    pred = Value(np.zeros((2, 3)))
    pinball(pred, np.zeros(2), Q).backward()
    np.testing.assert_allclose(pred.grad, np.tile(0.5 - np.array(Q), (2, 1))
                               / 6, rtol=1e-15)
    pred = Value(np.array([[1.0, 0.0, -1.0]]))     # each side and the fit
    pinball(pred, [0.0], Q).backward()
    np.testing.assert_allclose(pred.grad, [[(1 - 0.1) / 3, 0.0, -0.9 / 3]],
                               atol=1e-17)
    p = torch.zeros((2, 3), dtype=torch.float64, requires_grad=True)
    r, tau = -p, torch.tensor(Q, dtype=torch.float64)
    torch.maximum(tau * r, (tau - 1) * r).mean().backward()
    np.testing.assert_allclose(p.grad.numpy(), np.tile(0.5 - np.array(Q),
                                                        (2, 1)) / 6)


def test_hinge_at_the_margin_and_mse_at_zero():
    s = Value(np.array([1.0, -1.0, 0.5]))
    hinge(s, [1.0, -1.0, 1.0]).backward()           # margins 1, 1, 0.5
    np.testing.assert_allclose(s.grad, [0.0, 0.0, -1 / 3])
    p = Value(np.array([2.0, 0.0]))
    mse(p, [2.0, 0.0]).backward()
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])


# ---- large equal inputs: the shifted form in the rules ---------------------

@pytest.mark.parametrize('dtype, big', [('float64', 1e17), ('float32', 1e7),
                                        ('float64', -1e17)])
def test_logsumexp_softmax_gradients_for_large_equal_inputs(dtype, big):
    x = np.array([big, big])
    v = Value(x, dtype=dtype)
    mg.logsumexp(v).backward()
    np.testing.assert_allclose(v.grad, [0.5, 0.5], rtol=1e-6)
    u = np.array([1.0, 3.0])
    for f in (mg.softmax, mg.log_softmax):
        v = Value(x, dtype=dtype)
        (f(v) * u).sum().backward()
        want = [-0.5, 0.5] if f is mg.softmax else [-1.0, 1.0]
        np.testing.assert_allclose(v.grad, want, rtol=1e-6)
    v = Value(np.array([[big, big]]), dtype=dtype)
    cross_entropy(v, [1]).backward()
    np.testing.assert_allclose(v.grad, [[0.5, -0.5]], rtol=1e-6)


# ---- labels and targets through placeholders --------------------------------

def _labels(name='k'):
    return Value(shape=(None,), name=name, requires_grad=False)


def _run(loss, plan, **feeds):
    if plan == 'compile':
        mg.compile(loss)
    loss.forward(**feeds)
    loss.backward()
    return loss


PLANS = ['interpreted', 'compile']


UNFED = {
    'pinball': (lambda p, y: pinball(p, y, Q), PRED),
    'mse': (mse, SCORES), 'hinge': (hinge, SCORES),
    'bce': (binary_cross_entropy_with_logits, SCORES),
    'cross_entropy': (cross_entropy, LOGITS)}


@pytest.mark.parametrize('plan', PLANS)
@pytest.mark.parametrize('name', list(UNFED))
def test_every_loss_with_unfed_targets_gives_nan_loss_and_gradients(plan,
                                                                    name):
    loss_of, a = UNFED[name]
    pred = Value(a)
    loss = loss_of(pred, _labels())
    with pytest.warns(UserWarning, match="'k' was not fed"):
        _run(loss, plan)
    assert np.isnan(loss.data)
    assert np.isnan(pred.grad).all()


@pytest.mark.parametrize('plan', PLANS)
def test_unfed_labels_give_nan_like_every_loss(plan):
    logits = Value(LOGITS)
    loss = cross_entropy(logits, _labels())
    with pytest.warns(UserWarning, match="'k' was not fed"):
        _run(loss, plan)
    assert np.isnan(loss.data)
    assert np.isnan(logits.grad).all()


@pytest.mark.parametrize('plan', PLANS)
@pytest.mark.parametrize('bad, shown', [(LABELS + 10, '10, 11, 12, 13'),
                                        (np.r_[LABELS[:5], 2.5], '2.5'),
                                        (LABELS - 1, '-1'),
                                        (np.r_[LABELS[:5], np.inf], 'inf')])
def test_bad_placeholder_labels_are_refused_at_every_forward(plan, bad, shown):
    loss = cross_entropy(Value(LOGITS), _labels())
    _run(loss, plan, k=LABELS)                       # good labels first
    with pytest.raises(ValueError, match=r'cross_entropy: labels must be '
                       r'whole numbers in \[0, 4\) for 4 classes, got ' +
                       shown):
        loss.forward(k=bad)


def test_labels_computed_in_the_graph_are_checked():
    labels = _labels()
    loss = cross_entropy(Value(LOGITS), labels + 10)
    with pytest.raises(ValueError, match='got 10, 11, 12, 13'):
        loss.forward(k=LABELS)


def test_nan_label_gives_nan_loss():
    loss = cross_entropy(Value(LOGITS), _labels())
    loss.forward(k=np.r_[LABELS[:5], np.nan])
    assert np.isnan(loss.data)


@pytest.mark.parametrize('plan', PLANS)
def test_placeholder_hinge_labels_and_bce_targets_are_checked(plan):
    s = Value(SCORES)
    loss = hinge(s, _labels('y'))
    _run(loss, plan, y=SIGNS)
    np.testing.assert_allclose(loss.data, np_hinge(SCORES, SIGNS))
    with pytest.raises(ValueError, match=r'hinge: labels must be -1 or \+1, '
                       'got 0$'):
        loss.forward(y=(SIGNS + 1) / 2)
    loss = binary_cross_entropy_with_logits(s, _labels('t'))
    _run(loss, plan, t=TARGETS)
    np.testing.assert_allclose(loss.data, np_bce(SCORES, TARGETS))
    with pytest.raises(ValueError, match=r'binary_cross_entropy_with_logits: '
                       r'targets must lie in \[0, 1\], got 1.5, 2$'):
        loss.forward(t=np.r_[TARGETS[:4], 2.0, 1.5])
    with pytest.warns(UserWarning):
        loss.forward()                           # unfed: NaN, no error
    assert np.isnan(loss.data)


def test_one_hot():
    hot = mg.one_hot(np.array([2.0, 0.0, np.nan]), 3)
    np.testing.assert_array_equal(hot.data[:2], [[0, 0, 1], [1, 0, 0]])
    assert np.isnan(hot.data[2]).all()
    assert not hot.requires_grad
    with pytest.raises(ValueError, match=r'one_hot: labels must be whole '
                       r'numbers in \[0, 3\) for 3 classes, got 3$'):
        mg.one_hot(np.array([3.0]), 3)
    with pytest.raises(ValueError, match='one_hot: classes must be a '
                       'positive int, got 0'):
        mg.one_hot(np.array([0.0]), 0)
