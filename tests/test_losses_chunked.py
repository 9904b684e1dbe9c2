"""Every loss under `micrograd.chunked`: the whole-batch values and
gradients, and labels checked at every feed, as in the other executors."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, losses


N, C = 1001, 4


def placeholder(name, *shape):
    return Value(shape=(None,) + shape, name=name, requires_grad=False)


def build(kind, w):
    x = placeholder('x', 3)
    if kind == 'cross_entropy':
        return losses.cross_entropy(x @ w, placeholder('y'))
    scores = x @ w[:, 0]                      # (N,)
    if kind == 'hinge':
        return losses.hinge(scores, placeholder('y'))
    return losses.binary_cross_entropy_with_logits(scores, placeholder('y'))


def labels(kind, rng):
    if kind == 'cross_entropy':
        return rng.integers(0, C, N).astype(float)
    if kind == 'hinge':
        return np.where(rng.random(N) > 0.5, 1.0, -1.0)
    return rng.random(N)


BAD = {'cross_entropy': 2.5, 'hinge': 0.0, 'binary_cross_entropy': 1.5}


@pytest.mark.parametrize('kind', list(BAD))
def test_loss_chunked_equals_whole_batch_and_checks_labels(kind):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, C))
    w, w_ref = Value(W), Value(W)
    loss, ref = build(kind, w), build(kind, w_ref)
    mg.chunked(loss, rows=100)
    feeds = {'x': rng.standard_normal((N, 3)), 'y': labels(kind, rng)}
    ref.forward(**feeds)
    ref.backward()
    loss.forward(**feeds)
    loss.backward()
    np.testing.assert_allclose(loss.data, ref.data, rtol=1e-12)
    np.testing.assert_allclose(w.grad, w_ref.grad, rtol=1e-9, atol=1e-15)
    bad = feeds['y'].copy()
    bad[-1] = BAD[kind]                          # in the last chunk
    with pytest.raises(ValueError, match='must'):
        loss.forward(x=feeds['x'], y=bad)
