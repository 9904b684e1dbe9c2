"""Models several test files train."""
import numpy as np

from micrograd import Value, losses


def moons_mlp(dtype, rng, biases=False):
    """W2's model: a 2-16-16-1 MLP under the hinge loss, L2 on the weights;
    placeholders x (rows, 2) and y (rows,). Biases start at zero, or drawn
    (`biases=True`: no gradient is exactly zero). Returns (loss, parameters,
    the scores)."""
    ps = [Value(a, dtype=dtype) for k, m in ((2, 16), (16, 16), (16, 1))
          for a in (rng.uniform(-1, 1, (k, m)) / np.sqrt(k),
                    rng.uniform(-0.1, 0.1, m) if biases else np.zeros(m))]
    x = Value(shape=(None, 2), name='x', dtype=dtype, requires_grad=False)
    y = Value(shape=(None,), name='y', dtype=dtype, requires_grad=False)
    h = x
    for i in range(3):
        h = h @ ps[2 * i] + ps[2 * i + 1]
        h = h.relu() if i < 2 else h.reshape(-1)
    loss = losses.hinge(h, y) + 1e-4 * sum((p * p).sum() for p in ps[::2])
    return loss, ps, h
