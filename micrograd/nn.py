"""Neural network building blocks.

Tensor layers (`Linear`, `Sequential`, `ReLU`, `Tanh`, `Sigmoid`,
`TensorMLP`, `Dropout`, `LayerNorm`, `Embedding`) work on whole arrays, eagerly (`model(Value(array))`) or on
placeholders (build once, `loss.forward(**feeds)` many times).

The scalar `Neuron`, `Layer` and `MLP` of the original micrograd keep
working: each weight is its own 0-d Value, so the graph shows every
multiplication (for teaching; tensor layers are far faster).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import ops
from .backend import backend_of, resolve_backend, to_host
from .checks import state_array
from .engine import Value


class Module:
    """Something with parameters, found in its attributes (Values that are
    leaves, Modules, and lists or tuples of them), named by attribute path:
    'layers.0.weight'."""

    def parameters(self) -> list[Value]:
        return [p for _, p in self.named_parameters()]

    def named_parameters(self, prefix: str = '') -> list[tuple[str, Value]]:
        found = []
        for name, attr in vars(self).items():
            _collect(f'{prefix}{name}', attr, found)
        return found

    def state_dict(self) -> dict:
        """name -> a copy of the parameter's array."""
        return {name: p.bk.asarray(p.data, copy=True)
                for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Set every parameter from `state` (same names, same shapes, real
        numbers, finite); graphs built on the parameters see the new values.
        Everything is checked before any parameter changes; errors name the
        key."""
        if not isinstance(state, Mapping):
            raise TypeError('load_state_dict: state must be a dict of name '
                            f'-> array, got {type(state).__name__}')
        params = dict(self.named_parameters())
        missing, extra = set(params) - set(state), set(state) - set(params)
        if missing or extra:
            raise KeyError(f'load_state_dict: missing {sorted(missing)}, '
                           f'unexpected {sorted(extra, key=str)}')
        arrays = {name: state_array('load_state_dict', name, state[name], p)
                  for name, p in params.items()}
        for name, p in params.items():
            p.data = arrays[name]

    def zero_grad(self) -> None:
        """Clear every parameter's `.grad` (to None), as the original
        micrograd's training loop does before `backward` (which starts
        from zero anyway)."""
        for p in self.parameters():
            p.grad = None

    def L2_norm(self) -> float:
        """sum_p sum(p**2) over the parameters: the squared L2 norm, under
        the original micrograd's name."""
        return float(sum(float(p.bk.sum(p.data * p.data))
                         for p in self.parameters()))

    def grad_L2_norm(self) -> float:
        """sum_p sum(p.grad**2) over the parameters that have a gradient."""
        return float(sum(float(p.bk.sum(p.grad * p.grad))
                         for p in self.parameters() if p.grad is not None))

    training = True     # a class default: modules are made in training mode

    def train(self, mode: bool = True):
        """Training mode (`mode=True`) or evaluation mode, for this module
        and every module inside it (Dropout drops only in training mode);
        returns the module."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: `train(False)`."""
        return self.train(False)

    def modules(self) -> list:
        """This module and every module inside it (attributes, lists)."""
        found = [self]
        for attr in vars(self).values():
            _collect_modules(attr, found)
        return found

    def to(self, backend, dtype=None):
        """Move every leaf Value of the module (parameters, frozen ones
        too) to `backend` (a name, a module or an array: see
        `resolve_backend`) and, if given, `dtype`; returns the module.
        The parameters become new Values: build graphs and optimisers
        after `to`, not before."""
        bk = resolve_backend(backend)
        for name, attr in vars(self).items():
            setattr(self, name, _moved(attr, bk, dtype))
        return self

    def __call__(self, x):
        _check_backend(self, x)
        return self.forward(x)


def _moved(attr, bk, dtype):
    """attr with its leaf Values on backend `bk` (Modules moved in place)."""
    if isinstance(attr, Value):
        if attr.op is not None or (attr.bk is bk and dtype is None):
            return attr
        host = to_host(attr.data)
        return Value(host, name=attr.name, dtype=dtype or host.dtype.name,
                     requires_grad=attr.requires_grad, backend=bk)
    if isinstance(attr, Module):
        return attr.to(bk, dtype)
    if isinstance(attr, (list, tuple)):
        return type(attr)(_moved(item, bk, dtype) for item in attr)
    return attr


def _check_backend(module, x):
    """Refuse an input of another array library than the module's
    parameters, with the way to move the model."""
    if isinstance(x, Value):
        bk = x.bk
    elif hasattr(x, 'shape') and not isinstance(x, np.ndarray):
        bk = backend_of(x)
    else:
        return                  # numbers, lists, NumPy arrays: converted
    params = module.named_parameters()
    if params and params[0][1].bk is not bk:
        have = params[0][1].bk.name
        raise TypeError(
            f'{type(module).__name__}: the input is a {bk.name} array, the '
            f"parameters are {have}'s; make the model with "
            f"backend='{bk.name}' or move it with model.to('{bk.name}')")


def _collect_modules(attr, found):
    if isinstance(attr, Module):
        found.extend(attr.modules())
    elif isinstance(attr, (list, tuple)):
        for item in attr:
            _collect_modules(item, found)


def _collect(name, attr, found):
    if isinstance(attr, Value):
        if attr.op is None and attr.requires_grad:
            found.append((name, attr))
    elif isinstance(attr, Module):
        found.extend(attr.named_parameters(prefix=name + '.'))
    elif isinstance(attr, (list, tuple)):
        for i, item in enumerate(attr):
            _collect(f'{name}.{i}', item, found)


def _generator(rng):
    return rng if isinstance(rng, np.random.Generator) else \
        np.random.default_rng(rng)


class Linear(Module):
    """y = x @ weight + bias; weight (nin, nout) ~ U(-1, 1) / sqrt(nin),
    bias zeros. `rng`: a seed or a numpy Generator, for reproducible weights
    (drawn in NumPy, then made on `backend`: the same numbers everywhere)."""

    def __init__(self, nin: int, nout: int, bias: bool = True, rng=None,
                 dtype=None, backend=None):
        gen = _generator(rng)
        self.weight = Value(gen.uniform(-1, 1, (nin, nout)) / np.sqrt(nin),
                            dtype=dtype, backend=backend)
        self.bias = Value(np.zeros(nout), dtype=dtype,
                          backend=backend) if bias else None

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def __repr__(self):
        nin, nout = self.weight.shape
        return f'Linear({nin}, {nout}, bias={self.bias is not None})'


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return ops.relu(x)

    def __repr__(self):
        return 'ReLU()'


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return ops.tanh(x)

    def __repr__(self):
        return 'Tanh()'


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x):
        return ops.sigmoid(x)

    def __repr__(self):
        return 'Sigmoid()'


class Sequential(Module):
    """Modules applied in order: Sequential(Linear(2, 16), ReLU(), ...)."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        return 'Sequential(' + ', '.join(map(repr, self.layers)) + ')'


class TensorMLP(Sequential):
    """The tensor counterpart of `MLP(nin, nouts)`: Linear layers of sizes
    nin -> nouts[0] -> ... -> nouts[-1], `activation` between them, the
    last one linear. TensorMLP(2, [16, 16, 1], rng=0)."""

    def __init__(self, nin: int, nouts, activation=ReLU, rng=None,
                 dtype=None, backend=None):
        gen = _generator(rng)
        sizes = [nin, *nouts]
        layers = []
        for i in range(len(nouts)):
            layers.append(Linear(sizes[i], sizes[i + 1], rng=gen, dtype=dtype,
                                 backend=backend))
            if i < len(nouts) - 1:
                layers.append(activation())
        super().__init__(*layers)


class Neuron(Module):
    """act(sum_i w_i x_i + b), act = relu unless nonlin=False."""

    def __init__(self, nin: int, nonlin: bool = True, values=None):
        if values is None:
            values = np.random.uniform(-1, 1, nin)
        self.w = [Value(w) for w in values]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self):
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons reading the same `nin` inputs."""

    def __init__(self, nin: int, nout: int, **kwargs):
        values = np.random.uniform(-1, 1, (nin, nout))
        self.neurons = [Neuron(nin, values=column, **kwargs)
                        for column in values.T]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes nin -> nouts[0] -> ... -> nouts[-1]; relu between
    layers, the last one linear."""

    def __init__(self, nin: int, nouts: list[int]):
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


class Dropout(Module):
    """Inverted dropout: in training mode each element is zeroed with
    probability p and the others scaled by 1 / (1 - p), with a fresh mask
    at every forward (`loss.forward(...)` redraws it, compiled or chunked
    too), drawn from a generator seeded by `rng` (a seed or a numpy
    Generator); in evaluation mode (`model.eval()`) it passes x through.

    The mode is read at every forward: a graph built in training mode
    follows `train()` / `eval()`. A graph built in evaluation mode has no
    dropout in it at all (build a validation graph after `model.eval()`)."""

    def __init__(self, p: float = 0.5, rng=None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or \
                not 0 <= p < 1:
            raise ValueError(f'Dropout: p must be a number in [0, 1), got '
                             f'{p!r}')
        self.p, self.rng = float(p), _generator(rng)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return ops.dropout(x, self.p, self)

    def __repr__(self):
        return f'Dropout(p={self.p})'


class LayerNorm(Module):
    """Each row normalised over its last axis (`features` values), then
    scaled and shifted: (x - mean) / sqrt(var + eps) * weight + bias, with
    weight ones and bias zeros, learned. Rows stay apart (`chunked` takes
    it)."""

    def __init__(self, features: int, eps: float = 1e-5, dtype=None,
                 backend=None):
        if isinstance(features, bool) or not isinstance(features, int) or \
                features < 1:
            raise ValueError(f'LayerNorm: features must be a positive int, '
                             f'got {features!r}')
        self.eps = eps
        self.weight = Value(np.ones(features), dtype=dtype, backend=backend)
        self.bias = Value(np.zeros(features), dtype=dtype, backend=backend)

    def forward(self, x):
        features = self.weight.shape[0]
        if not x.shape or x.shape[-1] != features:
            raise ValueError(f'LayerNorm({features}): the last axis of x '
                             f'must have {features} values, x has shape '
                             f'{x.shape}')
        centred = x - ops.mean(x, axis=-1, keepdims=True)
        var = ops.mean(centred * centred, axis=-1, keepdims=True)
        return centred / ops.sqrt(var + self.eps) * self.weight + self.bias

    def __repr__(self):
        return f'LayerNorm({self.weight.shape[0]}, eps={self.eps})'


class Embedding(Module):
    """A learned row of `dim` values for each of `num` tokens: the rows of
    weight (num, dim) ~ N(0, 1) at integer indices (an array or an integer
    placeholder, `Value(shape=(None,), name='tokens', dtype='int64',
    requires_grad=False)`); output indices.shape + (dim,)."""

    def __init__(self, num: int, dim: int, rng=None, dtype=None,
                 backend=None):
        self.weight = Value(_generator(rng).standard_normal((num, dim)),
                            dtype=dtype, backend=backend)

    def forward(self, indices):
        return ops.take_rows(self.weight, indices)

    def __repr__(self):
        num, dim = self.weight.shape
        return f'Embedding({num}, {dim})'
