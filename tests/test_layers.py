"""Dropout, LayerNorm and Embedding: gradients against central differences,
the same numbers compiled and chunked, and train() / eval() modes."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn


def _central_differences(f, a, eps=1e-6):
    grad = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        hi, lo = a.copy(), a.copy()
        hi[k] += eps
        lo[k] -= eps
        grad[k] = (f(hi) - f(lo)) / (2 * eps)
    return grad


# ---- Dropout

def test_dropout_masks_scales_and_redraws():
    drop = nn.Dropout(0.25, rng=0)
    x = Value(shape=(None, 50), name='x', requires_grad=False)
    y = drop(x)
    X = np.ones((40, 50))
    first = y.forward(x=X).data.copy()
    assert set(np.unique(first)) == {0.0, 1 / 0.75}
    assert 0.2 < np.mean(first == 0) < 0.3
    second = y.forward(x=X).data
    assert not np.array_equal(first, second)        # a fresh mask each forward
    x2 = Value(shape=(None, 50), name='x', requires_grad=False)
    again = nn.Dropout(0.25, rng=0)(x2).forward(x=X).data
    np.testing.assert_array_equal(again, first)     # seeded


def test_dropout_gradient_uses_the_mask_of_its_forward_even_at_zeros():
    drop = nn.Dropout(0.5, rng=1)
    w = Value(np.array([[0.0, 1.0, -2.0, 0.0, 3.0, 0.5]] * 3))
    out = drop(w)
    u = np.arange(18.0).reshape(3, 6)
    out.backward(u)
    mask = out.parents[1].data          # the factors the forward drew
    np.testing.assert_array_equal(w.grad, u * mask)
    assert set(np.unique(mask)) == {0.0, 2.0} and (mask[:, 0] > 0).any()


def test_dropout_gradient_against_central_differences_fixed_mask():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 5))
    lin = nn.Linear(5, 3, rng=0)
    drop = nn.Dropout(0.3, rng=0)

    def loss_of(array):
        drop.rng = np.random.default_rng(7)      # the same mask every time
        return float(((drop(lin(Value(array))) ** 2).sum()).data)

    drop.rng = np.random.default_rng(7)
    x = Value(a)
    loss = (drop(lin(x)) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad, _central_differences(loss_of, a),
                               rtol=1e-6, atol=1e-8)


def test_train_and_eval_modes_are_recursive_and_read_at_forward():
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(),
                          nn.Dropout(0.5, rng=0), nn.Linear(8, 1, rng=1))
    x = Value(shape=(None, 4), name='x', requires_grad=False)
    out = model(x)
    X = np.random.default_rng(0).standard_normal((16, 4))
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    a = out.forward(x=X).data.copy()
    b = out.forward(x=X).data.copy()
    np.testing.assert_array_equal(a, b)              # no dropout in eval
    np.testing.assert_allclose(a, nn.Sequential(*model.layers[:2],
                               *model.layers[3:])(Value(X)).data)
    model.train()
    assert model[2].training
    c = out.forward(x=X).data
    assert not np.allclose(c, a)
    model.eval()
    assert model(Value(X)).op is not None and not any(
        n.op is not None and n.op.name == 'dropout_mask'
        for n in model(Value(X)).topo())    # built in eval: no dropout node


def test_dropout_under_compile_and_chunked():
    for wrap in (mg.compile, lambda r: mg.chunked(r, rows=8, workers=2)):
        model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.5, rng=0))
        x = Value(shape=(None, 4), name='x', requires_grad=False)
        loss = (model(x) ** 2).mean()
        wrap(loss)
        X = np.ones((32, 4))
        first = loss.forward(x=X).data.copy()
        loss.backward()
        g1 = model[0].weight.grad.copy()
        loss.forward(x=X)
        loss.backward()
        assert loss.data != first                 # the mask was redrawn
        assert not np.allclose(model[0].weight.grad, g1)
        model.eval()
        loss.forward(x=X)
        loss.backward()
        grad = model[0].weight.grad.copy()
        ref = (model[0](Value(X, requires_grad=False)) ** 2).mean()
        ref.backward()          # without dropout
        np.testing.assert_allclose(loss.data, ref.data, rtol=1e-12)
        np.testing.assert_allclose(grad, model[0].weight.grad, rtol=1e-12)


@pytest.mark.parametrize('p', [-0.1, 1.0, True, '0.5'])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match='Dropout: p must be'):
        nn.Dropout(p)


# ---- LayerNorm

def test_layernorm_normalises_rows_and_gradcheck():
    ln = nn.LayerNorm(5)
    X = np.random.default_rng(0).standard_normal((3, 5)) * 4 + 2
    y = ln(Value(X)).data
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-4)
    ln.weight.data = np.linspace(0.5, 2, 5)
    ln.bias.data = np.linspace(-1, 1, 5)

    def f(x, w, b):
        ln.weight, ln.bias = w, b
        return ln(x)
    assert mg.gradcheck(f, X, ln.weight.data, ln.bias.data)
    with pytest.raises(ValueError, match=r'LayerNorm\(5\): the last axis'):
        ln(Value(np.ones((2, 4))))


# ---- Embedding

def test_embedding_gradcheck_with_repeated_indices():
    idx = np.array([[0, 3, 3], [1, 0, 2]])
    assert mg.gradcheck(lambda w: mg.take_rows(w, idx),
                        np.random.default_rng(0).standard_normal((4, 3)))
    emb = nn.Embedding(4, 3, rng=0)
    assert emb(idx).shape == (2, 3, 3)
    with pytest.raises(ValueError, match=r'indices must be whole numbers in '
                                         r'\[0, 4\).*got 4'):
        emb(np.array([4]))


def _text_model(seed=0):
    emb = nn.Embedding(10, 4, rng=seed)
    head = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 1, rng=seed))
    tokens = Value(shape=(None,), name='tokens', dtype='int64',
                   requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = ((head(emb(tokens)).sum(axis=1) - y) ** 2).mean()
    return [*emb.parameters(), *head.parameters()], loss


@pytest.mark.parametrize('mode', ['compile', 'chunked'])
def test_embedding_and_layernorm_compiled_and_chunked(mode):
    rng = np.random.default_rng(1)
    feeds = {'tokens': rng.integers(0, 10, 300), 'y': rng.standard_normal(300)}
    params, whole = _text_model()
    whole.forward(**feeds)
    whole.backward()
    expected = [p.grad.copy() for p in params]
    params2, loss = _text_model()
    if mode == 'compile':
        mg.compile(loss)
    else:
        mg.chunked(loss, rows=64, workers=2)
    for _ in range(2):
        loss.forward(**feeds)
        loss.backward()
        np.testing.assert_allclose(loss.data, whole.data, rtol=1e-12)
        for p, g in zip(params2, expected):
            np.testing.assert_allclose(p.grad, g, rtol=1e-9, atol=1e-14)


def test_embedding_refuses_a_batch_weight_under_chunked():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    loss = mg.take_rows(x, np.array([0, 0])).sum(axis=0).sum()
    with pytest.raises(ValueError, match="'take_rows'.*mixes rows"):
        mg.chunked(loss)
