"""Fit a small two-layer network to noisy data with micrograd.

    python examples/quickstart.py

The graph is built once on placeholders, then fed a minibatch per step:
forward(**feeds) and backward() reuse the same graph and its cached order.
"""
import numpy as np

from micrograd import Value
from micrograd.optim import ADAM

rng = np.random.default_rng(0)
X = rng.uniform(-3, 3, size=(512, 1))
y = np.sin(X) + 0.1 * rng.standard_normal(X.shape)

# parameters: Values wrapping arrays; data: placeholders fed at each step
W1 = Value(rng.uniform(-1, 1, (1, 32)))
b1 = Value(np.zeros(32))
W2 = Value(rng.uniform(-1, 1, (32, 1)) / np.sqrt(32))
b2 = Value(np.zeros(1))
x = Value(shape=(64, 1), name='x')
target = Value(shape=(64, 1), name='target')

pred = (x @ W1 + b1).tanh() @ W2 + b2
loss = ((pred - target) ** 2).mean()

optimiser = ADAM(wrt=[W1, b1, W2, b2], learning_rate=0.02,
                 beta1=0.9, beta2=0.999, eps_adam=1e-8)
for step in range(1, 1501):
    batch = rng.choice(len(X), size=64, replace=False)
    loss.forward(x=X[batch], target=y[batch])
    loss.backward()
    optimiser.step()
    if step % 300 == 0:
        print(f'step {step:5d}   mean squared error {float(loss.data):.4f}')

print(f'noise variance is {0.1 ** 2:.4f}: the fit is good when the error '
      'gets close to it')
