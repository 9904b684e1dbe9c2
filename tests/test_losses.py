"""Losses: values against NumPy, gradients against central differences,
and against torch where it is installed."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value
from micrograd.losses import (binary_cross_entropy_with_logits, cross_entropy,
                              hinge, mse, pinball)

rng = np.random.default_rng(0)
Q = (0.1, 0.5, 0.9)
PRED, Y = rng.standard_normal((6, 3)), rng.standard_normal(6)


def np_pinball(pred, y, q):
    r = y.reshape(-1, 1) - pred
    return np.mean(np.maximum(np.asarray(q) * r, (np.asarray(q) - 1) * r))


@pytest.mark.parametrize('y', [Y, Y.reshape(-1, 1)])
def test_pinball_value_and_gradient(y):
    loss = pinball(Value(PRED), y, Q)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.data, np_pinball(PRED, y, Q))
    mg.gradcheck(lambda p: pinball(p, y, Q), PRED)
    mg.gradcheck(lambda p, t: pinball(p, t, Q), PRED, y)


def test_pinball_on_placeholders_and_errors():
    pred = Value(shape=(None, 3), name='p')
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = pinball(pred, y, Q)
    loss.forward(p=PRED, y=Y)
    np.testing.assert_allclose(loss.data, np_pinball(PRED, Y, Q))
    with pytest.raises(ValueError, match=r'pinball: pred has shape \(6, 3\), '
                                         r'expected \(N, 2\)'):
        pinball(Value(PRED), Y, (0.1, 0.9))
    with pytest.raises(ValueError, match='pinball: quantiles must lie in'):
        pinball(Value(PRED), Y, (0.1, 0.5, 1.0))
    with pytest.raises(ValueError, match=r'pinball: y has shape \(6, 2\)'):
        pinball(Value(PRED), np.ones((6, 2)), Q)


def test_mse_hinge_bce_values_and_gradients():
    s, labels = rng.standard_normal(8), np.where(rng.random(8) > 0.5, 1., -1.)
    t = rng.random(8)
    x = rng.standard_normal(8) * 30          # large logits: stability
    np.testing.assert_allclose(mse(Value(s), labels).data,
                               np.mean((s - labels) ** 2))
    np.testing.assert_allclose(hinge(Value(s), labels).data,
                               np.mean(np.maximum(0, 1 - labels * s)))
    # -t log p - (1 - t) log(1 - p), p = sigmoid(x), without overflow
    bce = np.mean(t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x))
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(Value(x), t).data, bce, rtol=1e-12)
    mg.gradcheck(lambda a: mse(a, labels), s)
    mg.gradcheck(lambda a: hinge(a, labels), s)
    mg.gradcheck(lambda a: binary_cross_entropy_with_logits(a, t), x / 10)


def test_cross_entropy():
    logits = rng.standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_allclose(cross_entropy(Value(logits), labels).data,
                               -logp[np.arange(5), labels].mean())
    mg.gradcheck(lambda z: cross_entropy(z, labels), logits)
    with pytest.raises(ValueError, match=r'cross_entropy: labels have shape'):
        cross_entropy(Value(logits), labels[:3])


def test_against_torch():
    torch = pytest.importorskip('torch')
    T = lambda a: torch.tensor(a, dtype=torch.float64,  # noqa: E731
                               requires_grad=True)
    labels = np.array([0, 3, 1, 1, 2])
    logits = rng.standard_normal((5, 4))
    tau = torch.tensor(Q, dtype=torch.float64)
    cases = [
        (lambda v: cross_entropy(v, labels),
         lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(labels)),
         logits),
        (lambda v: binary_cross_entropy_with_logits(v, np.abs(Y) / 3),
         lambda t: torch.nn.functional.binary_cross_entropy_with_logits(
             t, torch.tensor(np.abs(Y) / 3)), Y * 4),
        (lambda v: mse(v, Y), lambda t: torch.nn.functional.mse_loss(
            t, torch.tensor(Y)), -Y + 0.3),
        (lambda v: hinge(v, np.sign(Y)), lambda t: torch.relu(
            1 - torch.tensor(np.sign(Y)) * t).mean(), Y * 0.7),
        (lambda v: pinball(v, Y, Q), lambda t: torch.mean(torch.maximum(
            tau * (torch.tensor(Y)[:, None] - t),
            (tau - 1) * (torch.tensor(Y)[:, None] - t))), PRED)]
    for ours, theirs, a in cases:
        v, t = Value(a), T(a)
        out, ref = ours(v), theirs(t)
        out.backward()
        ref.backward()
        np.testing.assert_allclose(out.data, ref.item(), rtol=1e-10)
        np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-8,
                                   atol=1e-12)
