"""Tensor layers: Module, Linear, Sequential, activations, TensorMLP."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
from micrograd.nn import MLP, Layer, Neuron, TensorMLP


def test_linear_shapes_init_and_seed():
    layer = nn.Linear(100, 32, rng=0)
    assert layer.weight.shape == (100, 32) and layer.bias.shape == (32,)
    assert np.all(np.abs(layer.weight.data) <= 1 / np.sqrt(100))
    assert np.all(layer.bias.data == 0)
    again = nn.Linear(100, 32, rng=0)
    np.testing.assert_array_equal(layer.weight.data, again.weight.data)
    other = nn.Linear(100, 32, rng=1)
    assert not np.array_equal(layer.weight.data, other.weight.data)
    assert nn.Linear(3, 2, bias=False).parameters()[0].shape == (3, 2)
    assert len(nn.Linear(3, 2, bias=False).parameters()) == 1


def test_linear_matches_numpy_and_gradcheck():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    layer = nn.Linear(3, 2, rng=0)
    y = layer(Value(x, requires_grad=False))
    np.testing.assert_allclose(
        y.data, x @ layer.weight.data + layer.bias.data)
    mg.gradcheck(lambda x, w, b: x @ w + b, x, layer.weight.data,
                 rng.standard_normal(2))


def test_named_parameters_state_dict_round_trip():
    model = nn.TensorMLP(4, [8, 8, 2], rng=0)
    names = [n for n, _ in model.named_parameters()]
    assert names == ['layers.0.weight', 'layers.0.bias', 'layers.2.weight',
                     'layers.2.bias', 'layers.4.weight', 'layers.4.bias']
    assert len(model.parameters()) == 6
    state = model.state_dict()
    copy = nn.TensorMLP(4, [8, 8, 2], rng=1)
    x = Value(np.ones((3, 4)), requires_grad=False)
    out = copy(x)
    copy.load_state_dict(state)
    out.forward()          # graphs built before loading see the new values
    np.testing.assert_array_equal(out.data, model(x).data)
    state['layers.0.weight'][...] = 0      # a copy, not the parameter
    assert np.any(model.layers[0].weight.data != 0)


def test_load_state_dict_refuses_mismatches():
    model = nn.TensorMLP(4, [3, 1], rng=0)
    state = model.state_dict()
    with pytest.raises(KeyError, match='missing'):
        model.load_state_dict({k: v for k, v in state.items()
                               if k != 'layers.0.bias'})
    state['layers.0.bias'] = np.zeros(5)
    with pytest.raises(ValueError, match=r"'layers.0.bias' has shape \(5,\)"):
        model.load_state_dict(state)


def test_modules_eager_and_on_placeholders_agree():
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(3, 5, rng=0), nn.Tanh(),
                          nn.Linear(5, 4, rng=1), nn.Sigmoid(),
                          nn.Linear(4, 1, rng=2), nn.ReLU())
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    loss = model(x).sum()
    for rows in (7, 2):
        data = rng.standard_normal((rows, 3))
        loss.forward(x=data)
        loss.backward()
        graph_grads = [p.grad.copy() for p in model.parameters()]
        eager = model(Value(data, requires_grad=False)).sum()
        eager.backward()
        np.testing.assert_allclose(loss.data, eager.data)
        for g, p in zip(graph_grads, model.parameters()):
            np.testing.assert_allclose(g, p.grad)


def test_tensor_mlp_dtype_float32():
    model = nn.TensorMLP(2, [16, 1], rng=0, dtype='float32')
    out = model(Value(np.ones((4, 2)), dtype='float32', requires_grad=False))
    assert out.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert 'Linear(2, 16' in repr(model)


def test_scalar_mlp_still_works_beside_tensor_layers():
    assert len(nn.MLP(3, [4, 4, 1]).parameters()) == 41
    assert [n for n, _ in nn.Neuron(2).named_parameters()] == ['w.0', 'w.1',
                                                               'b']


@pytest.mark.parametrize('make', [lambda: MLP(2, [4, 1]), lambda: Layer(3, 2),
                                  lambda: Neuron(3),
                                  lambda: TensorMLP(2, [4, 1])])
def test_zero_grad_clears_every_parameter_gradient(make):
    """The original micrograd's loop: zero_grad, backward, step."""
    model = make()
    for p in model.parameters():
        p.grad = np.ones(p.shape)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_scalar_training_loop_with_zero_grad_descends():
    np.random.seed(0)
    model = MLP(2, [8, 1])
    xs, ys = [[2.0, 3.0], [-1.0, -2.0], [0.5, 1.0]], [1.0, -1.0, 1.0]
    losses = []
    for _ in range(20):
        loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.01 * p.grad
        losses.append(float(loss.data))
    assert losses[-1] < losses[0]
