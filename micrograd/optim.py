"""Optimisers: move parameters against their gradients, in place.

    optimiser = SGD(wrt=[W, b], learning_rate=0.1, momentum=0.9)
    loss.forward(**batch); loss.backward(); optimiser.step()

`learning_rate` (or `lr`, its PyTorch spelling) is a number or a generator
of numbers (a schedule: one `next()` per step; see `constant`,
`step_decay`, `cosine`, `warmup`); `optimiser.lr` is the rate of the latest
step. `wrt` is a list of Values, or a list of parameter groups as in
PyTorch, dicts {'params': [...], 'learning_rate': ..., 'weight_decay': ...}
whose settings override the optimiser's for their parameters:

    Adam([{'params': weights, 'weight_decay': 1e-2},
          {'params': biases, 'weight_decay': 0.0}], lr=1e-3)
Parameters are updated in place in their own dtype, through one scratch
buffer per parameter: a step allocates no full-size array. Gradients are
only read (they may be read-only views shared between nodes).

Arrays that cannot be written in place (Dask, JAX: `p.bk.mutable` is
False) get the same arithmetic as new arrays: each update is written with
augmented assignments on local names (`m *= beta1`), which NumPy does in
place and immutable libraries do by making a new array, and the results are
stored back (`self.m[j] = m`, `p.data = w`), the same object for NumPy.
Lazy arrays (Dask) are then computed, parameters and buffers together in
one compute, so that no step's graph holds the steps before it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Number

from .checks import state_array
from .engine import Value, _serials
from .executor import step_follows


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


class _Default:
    """The default of `learning_rate` where `lr` may give it instead."""

    def __repr__(self):
        return '<default>'


GIVEN = _Default()    # tells "not given" from any value


def _rate(name: str, learning_rate, lr, default):
    """The learning rate from `learning_rate` or its alias `lr` (one of
    them, or the default)."""
    if learning_rate is not GIVEN and lr is not None:
        raise TypeError(f'{name}: give learning_rate or lr (the same '
                        'setting), not both')
    if lr is not None:
        return lr
    return default if learning_rate is GIVEN else learning_rate


GROUP_KEYS = ('params', 'learning_rate', 'lr', 'weight_decay')


def _groups(name: str, wrt) -> list:
    """wrt as parameter groups: a list of dicts with 'params' (a list of
    Values) and optional 'learning_rate' (or 'lr') and 'weight_decay'."""
    if isinstance(wrt, Mapping):
        wrt = [wrt]
    elif not isinstance(wrt, Value):
        try:
            wrt = list(wrt)
        except TypeError:
            pass
    if not isinstance(wrt, list) or not wrt or not all(
            isinstance(g, Mapping) for g in wrt):
        if isinstance(wrt, list) and any(isinstance(g, Mapping) for g in wrt):
            raise TypeError(f'{name}: wrt mixes parameter groups (dicts) and '
                            'Values; put every Value in a group')
        return [{'params': _check_wrt(name, wrt)}]
    groups = []
    for k, group in enumerate(wrt):
        unknown = sorted(set(group) - set(GROUP_KEYS), key=str)
        if unknown or 'params' not in group:
            raise KeyError(f"{name}: parameter group {k} needs 'params' and "
                           f'may have {list(GROUP_KEYS[1:])}; got keys '
                           f'{sorted(group, key=str)}')
        group = dict(group)
        if 'lr' in group:
            if 'learning_rate' in group:
                raise TypeError(f"{name}: parameter group {k} gives both "
                                "'learning_rate' and 'lr'")
            group['learning_rate'] = group.pop('lr')
        if isinstance(group['params'], Value):
            group['params'] = [group['params']]
        groups.append(group)
    return groups


def _check_number(name: str, arg: str, value, optional=False, below=None,
                  finite=True):
    """value, if a non-negative number (below `below`; finite unless told);
    else an error that names the optimiser and the argument."""
    if value is None and optional:
        return None
    if not isinstance(value, Number) or isinstance(value, (bool, complex)):
        raise TypeError(f'{name}: {arg} must be a number, got {value!r}')
    if not value >= 0 or (below is not None and not value < below):
        limit = f' and below {below}' if below is not None else ''
        raise ValueError(f'{name}: {arg} must be non-negative{limit}, '
                         f'got {value!r}')
    if finite and value == math.inf:
        raise ValueError(f'{name}: {arg} must be finite, got {value!r}')
    return value


def _check_count(name: str, arg: str, value, least=0) -> int:
    """value, if a whole number >= least; else an error naming it."""
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f'{name}: {arg} must be a whole number, got '
                        f'{value!r}')
    if value < least:
        raise ValueError(f'{name}: {arg} must be at least {least}, got '
                         f'{value!r}')
    return int(value)


def _zeros_like(v: Value):
    return v.bk.zeros(v.data.shape, dtype=v.data.dtype)


def _fill(bk, out, x):
    """x copied into the buffer `out` where arrays are written in place;
    a new copy of x otherwise (never x itself: the augmented assignments
    that follow must not reach the caller's array)."""
    if bk.mutable:
        out[...] = x
        return out
    return bk.asarray(x, copy=True)


def _all_finite(bk, x) -> bool:
    return bool(bk.all(bk.isfinite(x)))


def _describe(j: int, p: Value) -> str:
    """'wrt[j]' with the parameter's name (if any) and shape."""
    label = f" '{p.name}'" if getattr(p, 'name', None) else ''
    return f'wrt[{j}]{label} of shape {tuple(p.shape)}'


class Optimiser:
    """What every optimiser shares: parameters, learning rate, buffers,
    state_dict. Subclasses define `update(j, p, g, lr)`.

    check_finite=True makes `step` refuse gradients that hold inf or NaN,
    naming the parameter, before anything moves (off by default: it reads
    every gradient once more)."""

    buffers: tuple = ()          # names of per-parameter state arrays

    def __init__(self, name, wrt, learning_rate, weight_decay=0.0,
                 check_finite=False):
        self.name = name
        groups = _groups(name, wrt)
        self.wrt = _check_wrt(name, [p for g in groups for p in g['params']])
        self.learning_rate = self._check_rate(learning_rate, 'learning_rate')
        self.weight_decay = _check_number(name, 'weight_decay', weight_decay)
        # per parameter group: its indices in wrt, rate source, weight decay
        self.param_groups, start = [], 0
        for k, group in enumerate(groups):
            n = len(group['params'])
            self.param_groups.append({
                'params': list(group['params']),
                'indices': range(start, start + n),
                'learning_rate': self._check_rate(
                    group['learning_rate'],
                    f'parameter group {k} learning_rate')
                if 'learning_rate' in group else None,
                'weight_decay': _check_number(
                    name, f'parameter group {k} weight_decay',
                    group['weight_decay']) if 'weight_decay' in group
                else weight_decay})
            start += n
        self.decay = [g['weight_decay'] for g in self.param_groups
                      for _ in g['indices']]
        if not isinstance(check_finite, bool):
            raise TypeError(f'{name}: check_finite must be True or False, '
                            f'got {check_finite!r}')
        self.check_finite = check_finite
        self.num_steps = 0
        self.last_rates = None      # per group, the rates of the latest step
        self.scratch = [_zeros_like(p) for p in self.wrt]
        self._lazy = [j for j, p in enumerate(self.wrt) if p.bk.is_lazy]
        for buffer in self.buffers:
            setattr(self, buffer, [_zeros_like(p) for p in self.wrt])

    def _check_rate(self, rate, arg):
        if not hasattr(rate, '__next__'):
            if rate is None:
                raise TypeError(f'{self.name}: {arg} is required (a '
                                'number or a generator of numbers)')
            _check_number(self.name, arg, rate)
        return rate

    @property
    def lr(self) -> float | None:
        """The learning rate of the latest step (of the first parameter
        group); before the first step, the learning rate if it is a number,
        None if it is a schedule. Assigning it sets `learning_rate`."""
        if self.last_rates is not None:
            return self.last_rates[0]
        first = self.param_groups[0]['learning_rate']
        rate = self.learning_rate if first is None else first
        return None if hasattr(rate, '__next__') else float(rate)

    @lr.setter
    def lr(self, value):
        self.learning_rate = self._check_rate(value, 'learning_rate')

    current_learning_rate = lr

    def _next_rate(self, source, arg):
        """This step's rate from `source` (a number or a schedule)."""
        if type(source) is float and 0 <= source < math.inf:
            return source               # (the common case, checked fast)
        rate = source
        if hasattr(rate, '__next__'):
            try:
                rate = next(rate)
            except StopIteration:
                raise ValueError(f'{self.name}: the {arg} generator '
                                 f'is exhausted after {self.num_steps} '
                                 'steps') from None
        return float(_check_number(self.name, arg, rate))

    def step(self) -> None:
        """One update of every parameter, from its current `.grad`. A
        gradient of another shape or dtype than its parameter (or, with
        check_finite, one that is not finite) is refused before any
        parameter, buffer or schedule moves."""
        for j, p in enumerate(self.wrt):
            g = p.grad
            if g is None:
                continue
            data = p.data
            if g.dtype != data.dtype or tuple(g.shape) != tuple(data.shape):
                raise ValueError(
                    f'{self.name}: the gradient of {_describe(j, p)} has '
                    f'shape {tuple(g.shape)} and dtype {g.dtype}; the '
                    f'parameter has dtype {p.data.dtype}: nothing was moved')
            if self.check_finite and not _all_finite(p.bk, g):
                raise FloatingPointError(
                    f'{self.name}: the gradient of {_describe(j, p)} is not '
                    'finite (inf or NaN): no parameter was moved')
        rates = self._start_step()
        for group, lr in zip(self.param_groups, rates):
            for j in group['indices']:
                p = self.wrt[j]
                if p.grad is not None:
                    self.update(j, p, p.grad, lr)
        if self._lazy:
            self._materialize(self._lazy)

    def _start_step(self) -> list:
        """This step's rate of each parameter group (a schedule's next);
        counts the step."""
        default = None
        rates = []
        for k, group in enumerate(self.param_groups):
            if group['learning_rate'] is not None:
                rates.append(self._next_rate(
                    group['learning_rate'],
                    f'parameter group {k} learning_rate'))
            else:
                if default is None:     # one draw per step, shared
                    default = self._next_rate(self.learning_rate,
                                              'learning_rate')
                rates.append(default)
        self.num_steps += 1
        self.last_rates = rates
        return rates

    def minimize(self, loss: Value, **feeds) -> float:
        """One training step: `loss.forward(**feeds)`, `loss.backward()`,
        `self.step()`; returns the loss (a number). On a small graph
        compiled with `fuse=True`, the three run as one generated function
        (the optimiser's `rule` written into the fused step); the numbers
        are the same."""
        if not isinstance(loss, Value):
            raise TypeError(f'{self.name}.minimize: loss must be a Value, '
                            f'got {type(loss).__name__}')
        with step_follows(self, loss) as then:
            loss.forward(**feeds)
        data = loss._data
        if getattr(data, 'size', 1) != 1:
            raise ValueError(f'{self.name}.minimize: the loss must be one '
                             f'number, got shape {tuple(data.shape)}')
        if then.done:           # the parameters moved inside the forward:
            version = next(_serials)    # graphs on them are now stale, as
            for p in self.wrt:          # after `p.data = ...`
                p._version = version
        else:
            loss.backward()
            self.step()
        return float(data)

    minimise = minimize

    # The fused form of an update (fuse.py writes it into a small graph's
    # step): `rule(xp, w, g, scalars, decay, *buffers)` is the update of
    # one element, returning the new w and buffers; `scalars` (this step's
    # numbers, from `step_scalars(lr, decay)`) are arguments of the
    # generated code, the `settings()` are written into it.
    rule, scalar_names = None, ()

    def settings(self) -> tuple:
        return tuple(self.decay)

    def _step_scalars(self) -> list:
        """Start a step (draw the rates, count it); the step's scalars of
        each parameter group, in order."""
        scalars = []
        for group, lr in zip(self.param_groups, self._start_step()):
            scalars += self.step_scalars(lr, group['weight_decay'])
        return scalars

    def _materialize(self, lazy):
        """Lazy arrays (Dask): the new parameters and buffers computed now,
        in one compute, so that the next step's graph starts from arrays
        instead of chaining every earlier step."""
        lists = [getattr(self, b) for b in self.buffers]
        arrays = [self.wrt[j].data for j in lazy] + [
            buffer[j] for buffer in lists for j in lazy]
        arrays = self.wrt[lazy[0]].bk.materialize(*arrays)
        for k, j in enumerate(lazy):
            self.wrt[j].data = arrays[k]
        for b, buffer in enumerate(lists, start=1):
            for k, j in enumerate(lazy):
                buffer[j] = arrays[b * len(lazy) + k]

    def state_dict(self) -> dict:
        """Step count and buffers as arrays ('m.0', 'v.0', ...). A learning
        rate generator is not saved: pass a fresh one positioned as needed."""
        state = {'num_steps': self.num_steps}
        for buffer in self.buffers:
            for j, array in enumerate(getattr(self, buffer)):
                state[f'{buffer}.{j}'] = self.wrt[j].bk.asarray(array, copy=True)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` gave (same parameters, same shapes).
        Everything is checked before anything changes: the keys, num_steps
        (a whole number >= 0), and each buffer (an array of real numbers, of
        its parameter's shape, finite); errors name the key."""
        where = f'{self.name}.load_state_dict'
        if not isinstance(state, Mapping):
            raise TypeError(f'{where}: state must be a dict, got '
                            f'{type(state).__name__}')
        expected = {f'{b}.{j}' for b in self.buffers
                    for j in range(len(self.wrt))} | {'num_steps'}
        if set(state) != expected:
            raise KeyError(f'{where}: expected keys {sorted(expected)}, got '
                           f'{sorted(state, key=str)}')
        num_steps = _state_count(where, state['num_steps'])
        new = {}
        for buffer in self.buffers:
            for j, array in enumerate(getattr(self, buffer)):
                key = f'{buffer}.{j}'
                new[key] = state_array(where, key, state[key], self.wrt[j])
        self.num_steps = num_steps
        for buffer in self.buffers:
            arrays = getattr(self, buffer)
            for j, array in enumerate(arrays):
                arrays[j] = _fill(self.wrt[j].bk, array, new[f'{buffer}.{j}'])


def _state_count(where: str, value) -> int:
    """num_steps from a state: a whole number >= 0 (a 0-d integer array, as
    load gives, included)."""
    if hasattr(value, 'shape') and hasattr(value, 'dtype'):
        if tuple(value.shape) != () or not str(value.dtype).startswith(
                ('int', 'uint')):
            raise TypeError(f"{where}: 'num_steps' must be a whole number, "
                            f'got an array of shape {tuple(value.shape)} and '
                            f'dtype {value.dtype}')
        value = int(value)
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{where}: 'num_steps' must be a whole number, got "
                        f'{value!r}')
    if value < 0:
        raise ValueError(f"{where}: 'num_steps' must be >= 0, got {value}")
    return int(value)


class SGD(Optimiser):
    """Stochastic gradient descent, SGD(wrt, learning_rate, momentum=None),
    for each parameter w with gradient `grad`:

        g = grad + weight_decay * w
        velocity = momentum * velocity + g
        w = w - learning_rate * velocity                 (plain momentum)
        w = w - learning_rate * (g + momentum * velocity)   (nesterov)
        w = w - learning_rate * g                        (momentum None)
    """

    def __init__(self, wrt=(), learning_rate=GIVEN, momentum=None,
                 nesterov=False, weight_decay=0.0, check_finite=False,
                 lr=None):
        learning_rate = _rate('SGD', learning_rate, lr, None)
        _check_number('SGD', 'momentum', momentum, optional=True)
        if nesterov and not momentum:
            raise ValueError('SGD: nesterov needs a momentum')
        self.buffers = ('velocity',) if momentum else ()
        super().__init__('SGD', wrt, learning_rate, weight_decay,
                         check_finite)
        self.momentum, self.nesterov = momentum, nesterov

    def settings(self) -> tuple:
        return self.momentum, self.nesterov, tuple(self.decay)

    scalar_names = ('lr',)

    def step_scalars(self, lr, decay) -> tuple:
        return (lr,)

    def rule(self, xp, w, g, scalars, decay, *velocity):
        """update's arithmetic on one element, in the same order."""
        (lr,) = scalars
        step = g + decay * w if decay else g
        if not self.momentum:
            return (w - step * lr,)
        v = self.momentum * velocity[0] + step
        step = step + self.momentum * v if self.nesterov else v
        return w - step * lr, v

    def update(self, j, p, g, lr):
        bk, w = p.bk, p.data
        decay = self.decay[j]
        if not (decay or self.momentum):      # plain SGD
            w -= bk.multiply_into(self.scratch[j], g, lr) if bk.mutable \
                else g * lr
            p.data = w
            return
        step = _fill(bk, self.scratch[j], g)
        if decay:
            step += decay * w
        if self.momentum:
            velocity = self.velocity[j]
            velocity *= self.momentum
            velocity += step
            if self.nesterov:
                step += self.momentum * velocity
            else:
                step = _fill(bk, step, velocity)
            self.velocity[j] = velocity
        step *= lr
        w -= step
        p.data = w


class Adam(Optimiser):
    """Adam (Kingma and Ba), bias-corrected; `weight_decay` is added to the
    gradient (L2), as in the paper. See AdamW for decoupled decay.

        m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g**2
        w = w - learning_rate * m_hat / (sqrt(v_hat) + eps)
        m_hat = m / (1 - beta1**t),    v_hat = v / (1 - beta2**t)
    """
    buffers = ('m', 'v')
    decoupled = False

    def __init__(self, wrt=(), learning_rate=GIVEN, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=0.0, name='Adam', check_finite=False,
                 lr=None):
        learning_rate = _rate(name, learning_rate, lr, 1e-3)
        super().__init__(name, wrt, learning_rate, weight_decay, check_finite)
        self.beta1 = _check_number(name, 'beta1', beta1, below=1)
        self.beta2 = _check_number(name, 'beta2', beta2, below=1)
        self.eps = _check_number(name, 'eps', eps)

    def settings(self) -> tuple:
        return self.beta1, self.beta2, self.decoupled, tuple(self.decay)

    scalar_names = ('shrink', 'rate', 'eps')

    def step_scalars(self, lr, decay) -> tuple:
        """The decoupled decay's factor, and the bias correction:
        m_hat / (sqrt(v_hat) + eps) = (sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2))"""
        t = self.num_steps
        c1, c2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t
        return (1 - lr * decay, lr * math.sqrt(c2) / c1,
                self.eps * math.sqrt(c2))

    def rule(self, xp, w, g, scalars, decay, m, v):
        """update's arithmetic on one element, in the same order."""
        shrink, rate, eps = scalars
        if decay and self.decoupled:
            w = w * shrink
        elif decay:
            g = g + decay * w
        m = self.beta1 * m + (1 - self.beta1) * g
        v = self.beta2 * v + (1 - self.beta2) * (g * g)
        return w - 1 / (xp.sqrt(v) + eps) * m * rate, m, v

    def update(self, j, p, g, lr):
        b1, b2 = self.beta1, self.beta2
        bk, w, m, v = p.bk, p.data, self.m[j], self.v[j]
        decay = self.decay[j]
        shrink, rate, eps = self.step_scalars(lr, decay)
        if decay and self.decoupled:
            w *= shrink
        tmp = _fill(bk, self.scratch[j], g)
        if decay and not self.decoupled:
            tmp += decay * w
        m *= b1
        v *= b2
        m += (1 - b1) * tmp
        tmp *= tmp
        tmp *= 1 - b2
        v += tmp
        tmp = _fill(bk, tmp, v)
        tmp **= 0.5
        tmp += eps
        tmp **= -1
        tmp *= m
        tmp *= rate
        w -= tmp
        self.m[j], self.v[j], p.data = m, v, w


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter):
    w = w * (1 - learning_rate * weight_decay), then the Adam step."""
    decoupled = True

    def __init__(self, wrt=(), learning_rate=GIVEN, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=1e-2, check_finite=False, lr=None):
        learning_rate = _rate('AdamW', learning_rate, lr, 1e-3)
        super().__init__(wrt, learning_rate, beta1, beta2, eps, weight_decay,
                         name='AdamW', check_finite=check_finite)


class ADAM(Adam):
    """The original micrograd's Adam: ADAM(wrt, learning_rate, beta1, beta2,
    eps_adam), e.g. learning_rate=.001, beta1=.9, beta2=.999, eps_adam=1e-8.
    At step t, for each parameter w with gradient g:

        m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g**2
        w = w - learning_rate * m_hat / (sqrt(v_hat) + eps_adam)
        m_hat = m / (1 - beta1**t),    v_hat = v / (1 - beta2**t)
    """

    def __init__(self, wrt=(), learning_rate=GIVEN, beta1=None, beta2=None,
                 eps_adam=None, check_finite=False, lr=None):
        learning_rate = _rate('ADAM', learning_rate, lr, None)
        _check_number('ADAM', 'eps_adam', eps_adam)    # named as given
        super().__init__(wrt, learning_rate, beta1, beta2, eps_adam,
                         name='ADAM', check_finite=check_finite)
        self.eps_adam = eps_adam


def clip_grad_norm(wrt, max_norm: float,
                   error_if_nonfinite: bool = False) -> float:
    """Scale the gradients of `wrt` together so that their global L2 norm is
    at most `max_norm`; returns the norm before clipping. Call it between
    backward() and step().

    The norm is computed as M * sqrt(sum((g / M)**2)), M the largest |g|,
    so huge or tiny gradients neither overflow nor underflow. A norm that
    is not finite (a gradient holds inf or NaN) leaves the gradients as they
    are and is returned (or, with error_if_nonfinite, raises
    FloatingPointError naming the parameter)."""
    params = _check_wrt('clip_grad_norm', wrt)
    max_norm = _check_number('clip_grad_norm', 'max_norm', max_norm,
                             finite=False)
    params = [p for p in params if p.grad is not None]
    peaks = [float(p.bk.max(p.bk.abs(p.grad)))
             for p in params if math.prod(p.grad.shape)]
    largest = math.nan if any(map(math.isnan, peaks)) else max(peaks,
                                                               default=0.0)
    if largest == 0.0:
        return 0.0
    if not math.isfinite(largest):
        if error_if_nonfinite:
            j, p = next((j, p) for j, p in enumerate(params)
                        if not _all_finite(p.bk, p.grad))
            raise FloatingPointError(
                f'clip_grad_norm: the gradient of {_describe(j, p)} is not '
                'finite (inf or NaN)')
        return largest
    total = largest * math.sqrt(sum(
        float(p.bk.sum((p.grad / largest) ** 2)) for p in params))
    if total > max_norm:
        scale = max_norm / total
        for p in params:
            p.grad = p.grad * scale       # new arrays: .grad is never mutated
    return total


# ---- learning-rate schedules: generators, one value per step ----------
# Each checks its arguments when called, then returns the generator.

def constant(learning_rate: float):
    """learning_rate, forever."""
    _check_number('constant', 'learning_rate', learning_rate)
    return _constant(learning_rate)


def _constant(learning_rate):
    while True:
        yield learning_rate


def step_decay(learning_rate: float, step_size: int, gamma: float = 0.1):
    """learning_rate * gamma ** (k // step_size) at step k."""
    _check_number('step_decay', 'learning_rate', learning_rate)
    _check_count('step_decay', 'step_size', step_size, least=1)
    _check_number('step_decay', 'gamma', gamma)
    return _step_decay(learning_rate, step_size, gamma)


def _step_decay(learning_rate, step_size, gamma):
    k = 0
    while True:
        yield learning_rate * gamma ** (k // step_size)
        k += 1


def cosine(learning_rate: float, total_steps: int | None = None,
           min_rate: float = 0.0):
    """From learning_rate down to min_rate along half a cosine over
    total_steps, then min_rate. total_steps=None: `fit` sets it to the
    number of steps it trains for (used elsewhere, the first step raises a
    ValueError asking for it)."""
    _check_number('cosine', 'learning_rate', learning_rate)
    if total_steps is not None:
        _check_count('cosine', 'total_steps', total_steps)
    _check_number('cosine', 'min_rate', min_rate)
    return Cosine(learning_rate, total_steps, min_rate)


class Cosine:
    """The generator `cosine` returns, with its `total_steps` settable
    until the first step (`fit` sets it when it is None)."""

    def __init__(self, learning_rate, total_steps, min_rate):
        self.learning_rate, self.min_rate = learning_rate, min_rate
        self.total_steps, self.k = total_steps, 0

    def __iter__(self):
        return self

    def __next__(self) -> float:
        total = self.total_steps
        if total is None:
            raise ValueError('cosine: total_steps is not set; give '
                             'cosine(learning_rate, total_steps), or train '
                             'with micrograd.train.fit, which sets it')
        t = min(self.k, total) / max(total, 1)
        self.k += 1
        return self.min_rate + (self.learning_rate - self.min_rate) * 0.5 * (
            1 + math.cos(math.pi * t))


def warmup(schedule, steps: int):
    """Linear warm-up over `steps` steps (rate * (k + 1) / steps), then the
    schedule (a number or a generator) as it is. Its `total_steps` is the
    schedule's (so `fit` can set a cosine's through it)."""
    _check_count('warmup', 'steps', steps)
    if not hasattr(schedule, '__next__'):
        _check_number('warmup', 'schedule', schedule)
    return Warmup(schedule, steps)


class Warmup:
    """The generator `warmup` returns."""

    def __init__(self, schedule, steps):
        self.inner = schedule if hasattr(schedule, '__next__') else \
            _constant(schedule)
        self.steps, self.k = steps, 0

    @property
    def total_steps(self):
        return getattr(self.inner, 'total_steps', 0)

    @total_steps.setter
    def total_steps(self, value):
        if hasattr(self.inner, 'total_steps'):
            self.inner.total_steps = value

    def __iter__(self):
        return self

    def __next__(self) -> float:
        rate = next(self.inner)
        k, self.k = self.k, self.k + 1
        return rate * (k + 1) / self.steps if k < self.steps else rate


def needs_total_steps(optimiser) -> list:
    """The schedules of `optimiser` whose total_steps is not set yet."""
    sources = [optimiser.learning_rate] + [
        g['learning_rate'] for g in optimiser.param_groups]
    return [s for s in sources if hasattr(s, '__next__') and
            getattr(s, 'total_steps', 0) is None]
