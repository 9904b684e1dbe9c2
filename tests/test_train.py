"""micrograd.train.fit: steps and epochs, validation without gradients,
early stopping that keeps the best parameters, history, Ctrl-C."""
import math
import signal

import numpy as np
import pytest

from micrograd import Value, nn
from micrograd.chunked import chunked
from micrograd.data import batches
from micrograd.losses import mse
from micrograd.optim import SGD, Adam, AdamW, cosine
from micrograd.train import Interrupted, fit


def problem(rows=64, seed=0):
    """A linear model on y = X @ w + noise, with placeholders x and y."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(rows)
    model = nn.Linear(3, 1, rng=seed)
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    t = Value(shape=(None, 1), name='t', requires_grad=False)
    return model, mse(model(x), t), X, y[:, None]


def test_steps_cycle_over_the_data_and_the_history_has_one_loss_a_step():
    model, loss, X, y = problem()
    data = batches({'x': X, 't': y}, batch_size=16)         # 4 batches
    history = fit(loss, SGD(model.parameters(), learning_rate=0.1), data,
                  steps=10, progress=False)
    assert history.steps == 10 and len(history.lr) == 10
    assert history.lr == [0.1] * 10
    assert history.loss[-1] < history.loss[0]
    assert history.stopped == 'finished' and history.best_step == 10
    assert fit(loss, SGD(model.parameters(), learning_rate=0.1), data,
               epochs=3, progress=False).steps == 12


def test_a_schedule_is_recorded_and_given_back():
    model, loss, X, y = problem()
    schedule = cosine(0.1, total_steps=5)
    opt = Adam(model.parameters(), learning_rate=schedule)
    history = fit(loss, opt, [{'x': X, 't': y}], steps=5, progress=False)
    assert opt.learning_rate is schedule
    assert history.lr[0] == pytest.approx(0.1) and history.lr[-1] < 0.1
    assert len(history.lr) == 5


def test_validation_computes_no_gradient_and_the_best_parameters_are_kept():
    model, loss, X, y = problem()
    xv = Value(shape=(None, 3), name='xv', requires_grad=False)
    tv = Value(shape=(None, 1), name='tv', requires_grad=False)
    check = mse(model(xv), tv)
    seen = []

    def validation():
        value = float(check.forward(xv=X[:16], tv=y[:16]).data)
        seen.append([p.data.copy() for p in model.parameters()])
        return value

    # a learning rate that diverges after a good start: the best is early
    opt = SGD(model.parameters(), learning_rate=1.05)
    history = fit(loss, opt, [{'x': X, 't': y}], steps=40,
                  validation=validation, validate_every=2, patience=3,
                  progress=False)
    assert history.stopped == 'early stop'
    assert history.val_step[0] == 0 and history.val_step[1] == 2
    best = history.val_loss.index(min(history.val_loss))
    assert history.best_step == history.val_step[best]
    assert history.best_val == min(history.val_loss)
    for p, kept in zip(model.parameters(), seen[best]):
        np.testing.assert_array_equal(p.data, kept)       # restored
    assert history.steps == history.best_step + 3 * 2     # patience 3


def test_validation_pair_uses_forward_only():
    model, loss, X, y = problem()
    xv = Value(shape=(None, 3), name='xv', requires_grad=False)
    tv = Value(shape=(None, 1), name='tv', requires_grad=False)
    check = mse(model(xv), tv)
    history = fit(loss, AdamW(model.parameters(), learning_rate=0.05), [
        {'x': X, 't': y}], steps=30, validation=(check, {'xv': X, 'tv': y}),
        validate_every=5, progress=False)
    params = {id(p) for p in model.parameters()}
    assert all(n.grad is None for n in check.topo() if id(n) not in params)
    assert history.val_step == [0, 5, 10, 15, 20, 25, 30]
    assert history.val_loss[-1] < history.val_loss[0]


def test_a_chunked_validation_graph_computes_the_loss_only():
    model, loss, X, y = problem()
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    t = Value(shape=(None, 1), name='t', requires_grad=False)
    check = chunked(mse(model(x), t), rows=7)
    plain = mse(model(x), t)
    expected = float(plain.forward(x=X, t=y).data)
    history = fit(loss, SGD(model.parameters(), learning_rate=0.1),
                  [{'x': X, 't': y}], steps=1, validate_every=1,
                  validation=(check, {'x': X, 't': y}), progress=False)
    assert history.val_loss[0] == pytest.approx(expected, rel=1e-12)
    loss.forward(x=X, t=y)
    loss.backward()
    grads = [p.grad.copy() for p in model.parameters()]
    fit(loss, SGD(model.parameters(), learning_rate=0.0), [{'x': X, 't': y}],
        steps=1, validate_every=1, validation=(check, {'x': X, 't': y}),
        progress=False)
    for p, g in zip(model.parameters(), grads):     # the training step's
        np.testing.assert_allclose(p.grad, g, rtol=1e-12)


@pytest.mark.parametrize('kwargs,message', [
    ({}, 'steps or epochs'), ({'steps': 0}, 'steps must be'),
    ({'steps': 1, 'patience': 0}, 'patience'),
    ({'steps': 1, 'validate_every': -1}, 'validate_every'),
    ({'steps': 1, 'on_interrupt': 'ignore'}, 'on_interrupt'),
    ({'steps': 1, 'validation': 3}, 'validation')])
def test_bad_arguments(kwargs, message):
    model, loss, X, y = problem()
    with pytest.raises((ValueError, TypeError), match=message):
        fit(loss, SGD(model.parameters(), learning_rate=0.1), [{}], **kwargs)


def test_a_non_finite_loss_stops_and_keeps_the_best_parameters():
    model, loss, X, y = problem()
    before = [p.data.copy() for p in model.parameters()]
    with np.errstate(over='ignore', invalid='ignore'):
        history = fit(loss, SGD(model.parameters(), learning_rate=1e200),
                      [{'x': X, 't': y}], steps=50, progress=False,
                      validation=lambda: float(loss.forward(x=X, t=y).data))
    assert history.stopped == 'loss not finite' and history.steps < 50
    assert history.best_step == 0
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
        assert np.isfinite(p.data).all()


def interrupting(data, at):
    """The batches of `data`, with a Ctrl-C (SIGINT) sent while batch `at`
    is being fetched."""
    for k, feeds in enumerate(data):
        if k == at:
            signal.raise_signal(signal.SIGINT)
        yield feeds


@pytest.mark.parametrize('use_chunked', [False, True])
def test_ctrl_c_stops_after_the_step_keeping_the_best(use_chunked):
    model, loss, X, y = problem(rows=4000)
    if use_chunked:
        loss = chunked(loss, rows=500, workers=2)       # a thread pool
    data = [{'x': X, 't': y}] * 100
    history = fit(loss, Adam(model.parameters(), learning_rate=0.01),
                  interrupting(data, 7), steps=100, progress=False,
                  validation=lambda: 1.0, on_interrupt='stop')
    assert history.stopped == 'interrupted'
    assert history.steps == 8                      # the step in flight ends
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_raises_interrupted_with_the_history():
    model, loss, X, y = problem()
    with pytest.raises(Interrupted) as caught:
        fit(loss, SGD(model.parameters(), learning_rate=0.1),
            interrupting([{'x': X, 't': y}] * 10, 3), steps=10,
            progress=False)
    assert caught.value.history.steps == 4
    assert 'interrupted at step 4' in str(caught.value)
    assert isinstance(caught.value, KeyboardInterrupt)


def test_progress_lines_without_a_terminal(capsys):
    model, loss, X, y = problem()
    fit(loss, SGD(model.parameters(), learning_rate=0.1), [{'x': X, 't': y}],
        steps=20, validation=lambda: 1.0, validate_every=5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11 and 'val 1.0000' in lines[-1]
    assert math.isfinite(float(lines[-1].split()[3]))
