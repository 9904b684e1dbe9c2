"""Optimisers: move parameters against their gradients, in place.

    optimiser = SGD(wrt=[W, b], learning_rate=0.1, momentum=0.9)
    loss.forward(**batch); loss.backward(); optimiser.step()

`learning_rate` is a number or a generator of numbers (a schedule: one
`next()` per step). Parameters are updated in place in their own dtype;
gradients are only read.
"""
from __future__ import annotations

from numbers import Number

from .engine import Value


def _check_wrt(name: str, wrt) -> list:
    wrt = list(wrt)
    for v in wrt:
        if not isinstance(v, Value):
            raise TypeError(f'{name}: wrt must hold Values, got '
                            f'{type(v).__name__}')
    return wrt


def _check_number(name: str, arg: str, value, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, Number) or not value >= 0:
        raise ValueError(f'{name}: {arg} must be a non-negative number, '
                         f'got {value!r}')
    return value


def _next_rate(name: str, learning_rate) -> float:
    """This step's learning rate: the number, or the schedule's next one."""
    rate = (next(learning_rate) if hasattr(learning_rate, '__next__')
            else learning_rate)
    return _check_number(name, 'learning_rate', rate)


class SGD:
    """Stochastic gradient descent, with optional momentum:

        velocity = momentum * velocity + g
        w = w - learning_rate * velocity       (w - learning_rate * g without)
    """

    def __init__(self, wrt=(), learning_rate=None, momentum=None):
        self.wrt = _check_wrt('SGD', wrt)
        if not hasattr(learning_rate, '__next__'):
            _check_number('SGD', 'learning_rate', learning_rate)
        self.learning_rate = learning_rate
        self.momentum = _check_number('SGD', 'momentum', momentum, True)
        self.velocity = ([v.bk.zeros(v.data.shape, dtype=v.data.dtype)
                          for v in self.wrt] if momentum else None)

    def step(self) -> None:
        """One update of every parameter, from its current `.grad`."""
        lr = _next_rate('SGD', self.learning_rate)
        for j, v in enumerate(self.wrt):
            if v.grad is None:
                continue
            if self.velocity is None:
                v.data -= lr * v.grad
            else:
                self.velocity[j] *= self.momentum
                self.velocity[j] += v.grad
                v.data -= lr * self.velocity[j]


class ADAM:
    """Adam (Kingma and Ba), with bias-corrected moments:

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w = w - learning_rate * m_hat / (sqrt(v_hat) + eps_adam)
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)

    e.g. learning_rate=.001, beta1=.9, beta2=.999, eps_adam=1e-8.
    """

    def __init__(self, wrt=(), learning_rate=None, beta1=None, beta2=None,
                 eps_adam=None):
        self.wrt = _check_wrt('ADAM', wrt)
        if not hasattr(learning_rate, '__next__'):
            _check_number('ADAM', 'learning_rate', learning_rate)
        self.learning_rate = learning_rate
        self.beta1 = _check_number('ADAM', 'beta1', beta1)
        self.beta2 = _check_number('ADAM', 'beta2', beta2)
        self.eps_adam = _check_number('ADAM', 'eps_adam', eps_adam)
        self.m = [v.bk.zeros(v.data.shape, dtype=v.data.dtype)
                  for v in self.wrt]
        self.v = [v.bk.zeros(v.data.shape, dtype=v.data.dtype)
                  for v in self.wrt]
        self.num_steps = 0

    def step(self) -> None:
        """One update of every parameter, from its current `.grad`."""
        lr = _next_rate('ADAM', self.learning_rate)
        self.num_steps += 1
        b1, b2, t = self.beta1, self.beta2, self.num_steps
        for j, p in enumerate(self.wrt):
            g = p.grad
            if g is None:
                continue
            m, v = self.m[j], self.v[j]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            p.data -= lr * m_hat / (p.bk.sqrt(v_hat) + self.eps_adam)
