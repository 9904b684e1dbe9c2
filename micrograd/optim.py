"""Optimisers: move parameters against their gradients, in place.

    optimiser = SGD(wrt=[W, b], learning_rate=0.1, momentum=0.9)
    loss.forward(**batch); loss.backward(); optimiser.step()

`learning_rate` is a number or a generator of numbers (a schedule: one
`next()` per step; see `constant`, `step_decay`, `cosine`, `warmup`).
Parameters are updated in place in their own dtype, through one scratch
buffer per parameter: a step allocates no full-size array. Gradients are
only read (they may be read-only views shared between nodes).
"""
from __future__ import annotations

import math
from numbers import Number

from .engine import Value


def _check_wrt(name: str, wrt) -> list:
    """wrt as a list of distinct leaf Values (what a step can move)."""
    if isinstance(wrt, Value):
        raise TypeError(f'{name}: wrt must be a list of Values, got one '
                        'Value: write wrt=[v]')
    try:
        wrt = list(wrt)
    except TypeError:
        raise TypeError(f'{name}: wrt must be a list of Values, got '
                        f'{type(wrt).__name__}') from None
    seen = set()
    for j, v in enumerate(wrt):
        if not isinstance(v, Value):
            raise TypeError(f'{name}: wrt must hold Values, got '
                            f'{type(v).__name__} at wrt[{j}]')
        if v.op is not None:
            raise ValueError(f'{name}: wrt[{j}] is the output of '
                             f"'{v.op.name}', not a leaf: its data is "
                             'recomputed by forward(), so a step would be '
                             'lost')
        if id(v) in seen:
            raise ValueError(f'{name}: wrt[{j}] is listed twice; a step '
                             'would move it twice')
        seen.add(id(v))
    return wrt


def _check_number(name: str, arg: str, value, optional=False, below=None):
    """value, if a non-negative number (below `below`); else an error that
    names the optimiser and the argument."""
    if value is None and optional:
        return None
    if not isinstance(value, Number) or isinstance(value, bool):
        raise TypeError(f'{name}: {arg} must be a number, got {value!r}')
    if not value >= 0 or (below is not None and not value < below):
        limit = f' and below {below}' if below is not None else ''
        raise ValueError(f'{name}: {arg} must be non-negative{limit}, '
                         f'got {value!r}')
    return value


def _zeros_like(v: Value):
    return v.bk.zeros(v.data.shape, dtype=v.data.dtype)


class Optimiser:
    """What every optimiser shares: parameters, learning rate, buffers,
    state_dict. Subclasses define `update(j, p, g, lr)`."""

    buffers: tuple = ()          # names of per-parameter state arrays

    def __init__(self, name, wrt, learning_rate, weight_decay=0.0):
        self.name = name
        self.wrt = _check_wrt(name, wrt)
        if not hasattr(learning_rate, '__next__'):
            if learning_rate is None:
                raise TypeError(f'{name}: learning_rate is required (a '
                                'number or a generator of numbers)')
            _check_number(name, 'learning_rate', learning_rate)
        self.learning_rate = learning_rate
        self.weight_decay = _check_number(name, 'weight_decay', weight_decay)
        self.num_steps = 0
        self.scratch = [_zeros_like(p) for p in self.wrt]
        for buffer in self.buffers:
            setattr(self, buffer, [_zeros_like(p) for p in self.wrt])

    def step(self) -> None:
        """One update of every parameter, from its current `.grad`."""
        rate = self.learning_rate
        if hasattr(rate, '__next__'):
            try:
                rate = next(rate)
            except StopIteration:
                raise ValueError(f'{self.name}: the learning_rate generator '
                                 f'is exhausted after {self.num_steps} '
                                 'steps') from None
        lr = _check_number(self.name, 'learning_rate', rate)
        self.num_steps += 1
        for j, p in enumerate(self.wrt):
            if p.grad is not None:
                self.update(j, p, p.grad, lr)

    def state_dict(self) -> dict:
        """Step count and buffers as arrays ('m.0', 'v.0', ...). A learning
        rate generator is not saved: pass a fresh one positioned as needed."""
        state = {'num_steps': self.num_steps}
        for buffer in self.buffers:
            for j, array in enumerate(getattr(self, buffer)):
                state[f'{buffer}.{j}'] = self.wrt[j].bk.asarray(array, copy=True)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` gave (same parameters, same shapes)."""
        expected = {f'{b}.{j}' for b in self.buffers
                    for j in range(len(self.wrt))} | {'num_steps'}
        if set(state) != expected:
            raise KeyError(f'{self.name}.load_state_dict: expected keys '
                           f'{sorted(expected)}, got {sorted(state)}')
        self.num_steps = int(state['num_steps'])
        for buffer in self.buffers:
            arrays = getattr(self, buffer)
            for j, array in enumerate(arrays):
                new = state[f'{buffer}.{j}']
                if tuple(new.shape) != tuple(array.shape):
                    raise ValueError(f'{self.name}.load_state_dict: '
                                     f"'{buffer}.{j}' has shape "
                                     f'{tuple(new.shape)}, expected '
                                     f'{tuple(array.shape)}')
                array[...] = new


class SGD(Optimiser):
    """Stochastic gradient descent, SGD(wrt, learning_rate, momentum=None),
    for each parameter w with gradient `grad`:

        g = grad + weight_decay * w
        velocity = momentum * velocity + g
        w = w - learning_rate * velocity                 (plain momentum)
        w = w - learning_rate * (g + momentum * velocity)   (nesterov)
        w = w - learning_rate * g                        (momentum None)
    """

    def __init__(self, wrt=(), learning_rate=None, momentum=None,
                 nesterov=False, weight_decay=0.0):
        _check_number('SGD', 'momentum', momentum, optional=True)
        if nesterov and not momentum:
            raise ValueError('SGD: nesterov needs a momentum')
        self.buffers = ('velocity',) if momentum else ()
        super().__init__('SGD', wrt, learning_rate, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov

    def update(self, j, p, g, lr):
        if not (self.weight_decay or self.momentum):      # plain SGD
            p.data -= p.bk.multiply_into(self.scratch[j], g, lr)
            return
        step = self.scratch[j]
        step[...] = g
        if self.weight_decay:
            step += self.weight_decay * p.data
        if self.momentum:
            velocity = self.velocity[j]
            velocity *= self.momentum
            velocity += step
            if self.nesterov:
                step += self.momentum * velocity
            else:
                step[...] = velocity
        step *= lr
        p.data -= step


class Adam(Optimiser):
    """Adam (Kingma and Ba), bias-corrected; `weight_decay` is added to the
    gradient (L2), as in the paper. See AdamW for decoupled decay.

        m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g**2
        w = w - learning_rate * m_hat / (sqrt(v_hat) + eps)
        m_hat = m / (1 - beta1**t),    v_hat = v / (1 - beta2**t)
    """
    buffers = ('m', 'v')
    decoupled = False

    def __init__(self, wrt=(), learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=0.0, name='Adam'):
        super().__init__(name, wrt, learning_rate, weight_decay)
        self.beta1 = _check_number(name, 'beta1', beta1, below=1)
        self.beta2 = _check_number(name, 'beta2', beta2, below=1)
        self.eps = _check_number(name, 'eps', eps)

    def update(self, j, p, g, lr):
        b1, b2, t = self.beta1, self.beta2, self.num_steps
        m, v, tmp = self.m[j], self.v[j], self.scratch[j]
        if self.weight_decay and self.decoupled:
            p.data *= 1 - lr * self.weight_decay
        tmp[...] = g
        if self.weight_decay and not self.decoupled:
            tmp += self.weight_decay * p.data
        m *= b1
        v *= b2
        m += (1 - b1) * tmp
        tmp *= tmp
        tmp *= 1 - b2
        v += tmp
        # m_hat / (sqrt(v_hat) + eps) = (sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2))
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        tmp[...] = v
        tmp **= 0.5
        tmp += self.eps * math.sqrt(c2)
        tmp **= -1
        tmp *= m
        tmp *= lr * math.sqrt(c2) / c1
        p.data -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter):
    w = w * (1 - learning_rate * weight_decay), then the Adam step."""
    decoupled = True

    def __init__(self, wrt=(), learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=1e-2):
        super().__init__(wrt, learning_rate, beta1, beta2, eps, weight_decay,
                         name='AdamW')


class ADAM(Adam):
    """The original micrograd's Adam: ADAM(wrt, learning_rate, beta1, beta2,
    eps_adam), e.g. learning_rate=.001, beta1=.9, beta2=.999, eps_adam=1e-8.
    At step t, for each parameter w with gradient g:

        m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g**2
        w = w - learning_rate * m_hat / (sqrt(v_hat) + eps_adam)
        m_hat = m / (1 - beta1**t),    v_hat = v / (1 - beta2**t)
    """

    def __init__(self, wrt=(), learning_rate=None, beta1=None, beta2=None,
                 eps_adam=None):
        _check_number('ADAM', 'eps_adam', eps_adam)    # named as given
        super().__init__(wrt, learning_rate, beta1, beta2, eps_adam,
                         name='ADAM')
        self.eps_adam = eps_adam


def clip_grad_norm(wrt, max_norm: float) -> float:
    """Scale the gradients of `wrt` together so that their global L2 norm is
    at most `max_norm`; returns the norm before clipping. Call it between
    backward() and step()."""
    params = [p for p in wrt if p.grad is not None]
    total = math.sqrt(sum(float(p.bk.sum(p.grad * p.grad)) for p in params))
    if total > max_norm:
        scale = max_norm / (total + 1e-12)
        for p in params:
            p.grad = p.grad * scale       # new arrays: .grad is never mutated
    return total


# ---- learning-rate schedules: generators, one value per step ----------

def constant(learning_rate: float):
    """learning_rate, forever."""
    while True:
        yield learning_rate


def step_decay(learning_rate: float, step_size: int, gamma: float = 0.1):
    """learning_rate * gamma ** (k // step_size) at step k."""
    k = 0
    while True:
        yield learning_rate * gamma ** (k // step_size)
        k += 1


def cosine(learning_rate: float, total_steps: int, min_rate: float = 0.0):
    """From learning_rate down to min_rate along half a cosine over
    total_steps, then min_rate."""
    k = 0
    while True:
        t = min(k, total_steps) / max(total_steps, 1)
        yield min_rate + (learning_rate - min_rate) * 0.5 * (1 + math.cos(math.pi * t))
        k += 1


def warmup(schedule, steps: int):
    """Linear warm-up over `steps` steps (rate * (k + 1) / steps), then the
    schedule (a number or a generator) as it is."""
    inner = schedule if hasattr(schedule, '__next__') else constant(schedule)
    k = 0
    while True:
        rate = next(inner)
        yield rate * (k + 1) / steps if k < steps else rate
        k += 1
