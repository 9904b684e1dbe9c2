"""A training loop that tells you what happens: `fit`.

    x = Value(shape=(None, 10), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = pinball(model(x), y, quantiles)                   # the training graph
    check = pinball(model(xv), yv, quantiles)   # validation: the same parameters
    history = fit(loss, Adam(model.parameters(), learning_rate=0.01),
                  batches({'x': X, 'y': Y}, batch_size=256, shuffle=True),
                  epochs=20, validation=(check, {'xv': Xv, 'yv': Yv}),
                  patience=5)
    history.best_step, history.loss, history.val_loss

Each step is `optimiser.minimize(loss, **batch)`: `loss.forward(**batch)`,
`loss.backward()`, `optimiser.step()` (one generated call on a small fused
graph).
Every `validate_every` steps (and at step 0 and at the end) the validation
graph is evaluated with `forward` under `no_grad`: no gradient is computed
(a chunked graph computes the loss only). The
parameters with the lowest validation loss so far are kept (a copy of each
of the optimiser's parameters) and restored at the end; after `patience`
validations without improvement, training stops early. The validation
graph is a separate graph on the same parameters (plain, compiled or
chunked).

Ctrl-C stops training at the end of the current step (the parameters are
never left half-updated); the best parameters are restored, and `fit`
raises `Interrupted` (a KeyboardInterrupt that carries the history), or,
with `on_interrupt='stop'`, returns the history with `stopped ==
'interrupted'`. A second Ctrl-C interrupts at once. Training also stops
when the training loss is not finite (`stopped == 'loss not finite'`).
"""
from __future__ import annotations

import math
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from .engine import Value
from .executor import no_grad
from .optim import needs_total_steps


@dataclass
class History:
    """What `fit` did: per step the training loss and learning rate; the
    validation losses and the steps they were measured at; the step whose
    parameters were kept; why it stopped ('finished', 'early stop',
    'interrupted', 'loss not finite')."""
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_step: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    best_step: int | None = None
    best_val: float = math.inf
    stopped: str = 'finished'

    @property
    def steps(self) -> int:
        """The number of optimiser steps taken."""
        return len(self.loss)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during `fit`; `.history` says what was done (the best
    parameters are already restored)."""

    def __init__(self, history: History):
        super().__init__(f'interrupted at step {history.steps}')
        self.history = history


def fit(loss: Value, optimiser, data: Iterable[Mapping], *,
        steps: int | None = None, epochs: int | None = None,
        validation=None, validate_every: int = 10,
        patience: int | None = None, progress: bool = True,
        on_interrupt: str = 'raise') -> History:
    """Train `optimiser`'s parameters on `loss`, feeding it each batch of
    `data` (dicts of placeholder name -> array, e.g. `batches({...})`;
    `[{}]` for a graph without placeholders), for `steps` steps or `epochs`
    passes over `data` (one of them).

    A learning-rate schedule that needs the run's length and was not given
    it (`cosine(1e-2)`, also inside `warmup`) gets `total_steps = steps`.

    validation: None, a pair (graph, feeds) evaluated as
    `float(graph.forward(**feeds).data)`, or a function returning a number.
    patience: stop after this many validations without improvement (None:
    never stop early; the best parameters are still restored).
    progress: a tqdm bar on a terminal (when tqdm is installed), else a line
    every tenth of the run; False for silence.
    """
    if (steps is None) == (epochs is None):
        raise ValueError('fit: give steps or epochs (exactly one)')
    total = steps if steps is not None else epochs
    for name, value in (('steps' if steps is not None else 'epochs', total),
                        ('validate_every', validate_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'fit: {name} must be a positive int, got '
                             f'{value!r}')
    if patience is not None and (not isinstance(patience, int) or
                                 isinstance(patience, bool) or patience < 1):
        raise ValueError(f'fit: patience must be a positive int or None, '
                         f'got {patience!r}')
    if on_interrupt not in ('raise', 'stop'):
        raise ValueError("fit: on_interrupt must be 'raise' or 'stop', got "
                         f'{on_interrupt!r}')
    evaluate = _validator(validation)
    if steps is None:
        try:
            steps = epochs * len(data)
        except TypeError:
            raise ValueError('fit: epochs needs data with a len(); give '
                             'steps instead') from None
        if steps == 0:
            raise ValueError('fit: data has no batches')
    for schedule in needs_total_steps(optimiser):    # e.g. cosine(1e-2)
        schedule.total_steps = steps
    history, params = History(), list(optimiser.wrt)
    best = None
    bar = _Progress(steps, progress)
    schedule = optimiser.learning_rate
    if hasattr(schedule, '__next__'):       # record the rates a schedule gives
        optimiser.learning_rate = _recorded(schedule, history.lr)

    def validate(step):
        nonlocal best
        value = evaluate()
        history.val_step.append(step)
        history.val_loss.append(value)
        if value < history.best_val:        # NaN never counts as better
            history.best_val, history.best_step = value, step
            best = [_copy(p.data) for p in params]
        return value

    with _CtrlC() as ctrl_c:
        try:
            if evaluate:
                bar.show(val=validate(0))
            for feeds in _endless(data, steps):
                value = optimiser.minimize(loss, **feeds)
                rate = optimiser.learning_rate
                if not hasattr(rate, '__next__'):   # a number
                    history.lr.append(float(rate))
                history.loss.append(value)
                step = history.steps
                if not math.isfinite(value):
                    history.stopped = 'loss not finite'
                    break
                shown = {'loss': value}
                if evaluate and (step % validate_every == 0 or step == steps):
                    shown['val'] = validate(step)
                    since = (step - history.best_step) // validate_every
                    if patience is not None and since >= patience:
                        history.stopped = 'early stop'
                        bar.show(**shown, step=step)
                        break
                bar.show(**shown, step=step)
                if ctrl_c.pressed:
                    history.stopped = 'interrupted'
                    break
        except KeyboardInterrupt:           # a second Ctrl-C, or no handler
            history.stopped = 'interrupted'
        finally:
            bar.close()
            if hasattr(schedule, '__next__'):
                optimiser.learning_rate = schedule
            if best is not None:
                for p, array in zip(params, best):
                    p.data = array      # assigned: graphs see it as new data
            elif not evaluate:
                history.best_step = history.steps
    if history.stopped == 'interrupted' and on_interrupt == 'raise':
        raise Interrupted(history)
    return history


def _validator(validation) -> Callable[[], float] | None:
    """validation as a function returning a float (or None)."""
    if validation is None or callable(validation):
        return validation
    try:
        graph, feeds = validation
    except (TypeError, ValueError):
        raise TypeError('fit: validation must be None, a function, or a pair '
                        '(graph, feeds)') from None
    if not isinstance(graph, Value) or not isinstance(feeds, Mapping):
        raise TypeError('fit: validation must be a pair (graph: Value, feeds: '
                        f'dict), got ({type(graph).__name__}, '
                        f'{type(feeds).__name__})')

    def evaluate():
        with no_grad():                 # the loss only, even chunked
            return float(graph.forward(**feeds).data)
    return evaluate


def _copy(array):
    """An independent copy of a parameter's array."""
    return array.copy() if hasattr(array, 'copy') else array * 1


def _endless(data, steps: int):
    """`steps` batches from `data`, passing over it again as needed."""
    given = 0
    while given < steps:
        empty = True
        for feeds in data:
            empty = False
            yield feeds
            given += 1
            if given == steps:
                return
        if empty:
            raise ValueError('fit: data has no batches')


def _recorded(schedule, rates: list):
    """The learning rates of `schedule`, each appended to `rates`."""
    for rate in schedule:
        rates.append(float(rate))
        yield rate


class _CtrlC:
    """While active (main thread only), Ctrl-C sets `pressed` instead of
    raising; a second Ctrl-C raises KeyboardInterrupt as usual."""

    def __init__(self):
        self.pressed, self.previous = False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        self.pressed = True
        signal.signal(signal.SIGINT, self.previous)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class _Progress:
    """A tqdm bar on a terminal, else a printed line every tenth of the run,
    with the running loss and the latest validation loss."""

    def __init__(self, steps: int, enabled: bool):
        self.steps, self.enabled, self.bar, self.val = steps, enabled, None, None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=steps, desc='training', leave=False,
                                mininterval=0.5)
            except ImportError:
                pass

    def show(self, step=0, loss=None, val=None):
        if val is not None:
            self.val = val
        if not self.enabled or step == 0:
            return
        text = {'loss': f'{loss:.4f}'}
        if self.val is not None:
            text['val'] = f'{self.val:.4f}'
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if step % 10 == 0 or val is not None:
                self.bar.set_postfix(text, refresh=False)
        elif step == 1 or step % max(self.steps // 10, 1) == 0:
            print(f'  step {step:6d}  ' + '  '.join(
                f'{k} {v}' for k, v in text.items()), flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
