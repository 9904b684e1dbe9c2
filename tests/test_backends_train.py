"""A small training run on Dask arrays and on PyTorch CPU tensors equals
the NumPy run: a two-layer tanh model with a mean-squared loss on a fixed
tiny dataset, its parameters made on the library, 20 Adam steps (Dask
compiled; PyTorch interpreted and compiled: the Dask graph of 20 steps
takes seconds to build); every step's loss and the final parameters agree
in float64."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import micrograd as mg
from micrograd.backend import to_host
from micrograd.optim import Adam

import library_arrays
from library_arrays import torch_tensor

pytest.importorskip('array_api_compat')
STEPS = 20


def dask_array(a):
    return library_arrays.dask_array(a, chunks=4)


def train(wrap, compiled):
    """Losses of every step and the final parameters, as NumPy arrays."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    Y = np.sin(X @ np.array([[1.0], [-2.0], [0.5]]))
    params = [mg.Value(wrap(rng.uniform(-1, 1, shape) / np.sqrt(shape[0])))
              for shape in ((3, 8), (8,), (8, 1), (1,))]
    w1, b1, w2, b2 = params
    bk = w1.bk
    x = mg.Value(shape=(None, 3), name='x', requires_grad=False, backend=bk)
    y = mg.Value(shape=(None, 1), name='y', requires_grad=False, backend=bk)
    loss = (((x @ w1 + b1).tanh() @ w2 + b2 - y) ** 2).mean()
    if compiled:
        mg.compile(loss)
    opt = Adam(params, learning_rate=0.05)
    losses = []
    for _ in range(STEPS):
        loss.forward(x=wrap(X), y=wrap(Y))
        loss.backward()
        opt.step()
        losses.append(loss.data)
    computed = bk.materialize(*losses, *[p.data for p in params])
    return ([float(to_host(a)) for a in computed[:STEPS]],
            [to_host(a) for a in computed[STEPS:]])


@pytest.mark.parametrize('wrap, compiled', [
    pytest.param(dask_array, True, id='dask-compiled'),
    pytest.param(torch_tensor, False, id='torch-interpreted'),
    pytest.param(torch_tensor, True, id='torch-compiled')])
def test_training_equals_numpy(wrap, compiled):
    want_losses, want_params = train(np.asarray, compiled)
    losses, params = train(wrap, compiled)
    assert want_losses[-1] < want_losses[0] / 2        # it learns
    assert_allclose(losses, want_losses, rtol=1e-12)
    for got, want in zip(params, want_params):
        assert got.shape == want.shape
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)
