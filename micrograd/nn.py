"""Neural network building blocks.

The scalar `Neuron`, `Layer` and `MLP` of the original micrograd: each weight
is its own 0-d Value, so the graph shows every multiplication (for teaching;
tensor layers are far faster).
"""
from __future__ import annotations

import numpy as np

from .engine import Value


class Module:
    """Something with parameters."""

    def parameters(self) -> list[Value]:
        return []


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
