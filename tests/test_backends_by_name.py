"""Backends picked by name, module or array, everywhere: every spelling of a
library is one Backend; layers, losses and optimisers on Dask and PyTorch
tensors give NumPy's numbers; Dask graphs stay lazy with one compute per
backward and parameters that do not chain across steps; feeds of another
library are refused with a sentence."""
import importlib.util

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
from micrograd.backend import NUMPY, backend_of, resolve_backend, to_host
from micrograd.checks import FeedError
from micrograd.gradcheck import GradcheckError
from micrograd.losses import pinball
from micrograd.optim import SGD, Adam, AdamW

da = pytest.importorskip('dask.array')
pytest.importorskip('array_api_compat')
try:
    import torch
except ImportError:         # the torch tests are skipped (see below)
    torch = None
import array_api_strict  # noqa: E402
import dask  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

DASK = backend_of(da.ones(2))
TORCH = backend_of(torch.ones(2)) if torch is not None else None
STRICT = backend_of(array_api_strict.ones(2))


@pytest.fixture(autouse=True)
def skip_torch_without_torch(request):
    """Tests with 'torch' in their name or parameters need PyTorch."""
    if torch is None and 'torch' in request.node.name:
        pytest.skip('torch is not installed')


# ---- 1. every spelling of a library is one backend --------------------

@pytest.mark.parametrize('spec', [
    'numpy', 'np', np, np.ones(2), 'array_api_compat.numpy', NUMPY])
def test_numpy_spellings(spec):
    assert resolve_backend(spec) is NUMPY


@pytest.mark.parametrize('spec', [
    'dask', 'dask.array', 'array_api_compat.dask.array',
    'array_api_compat.dask'])
def test_dask_names(spec):
    assert resolve_backend(spec) is DASK


def test_dask_modules_and_arrays():
    import array_api_compat.dask.array as compat_dask
    for spec in (da, dask, compat_dask, da.ones((2, 3), chunks=1), DASK):
        assert resolve_backend(spec) is DASK
    assert DASK.name == 'dask' and DASK.is_lazy and not DASK.mutable


def test_torch_spellings():
    import array_api_compat.torch as compat_torch
    for spec in ('torch', 'pytorch', 'array_api_compat.torch', torch,
                 compat_torch, torch.ones(2),
                 torch.ones((), dtype=torch.int64)):
        assert resolve_backend(spec) is TORCH
    assert TORCH.name == 'torch' and TORCH.mutable and not TORCH.is_lazy


def test_array_api_strict_spellings():
    for spec in ('array_api_strict', array_api_strict,
                 array_api_strict.ones(2)):
        assert resolve_backend(spec) is STRICT


@pytest.mark.parametrize('name,library', [
    ('torch', torch), ('dask', da), ('numpy', np),
    ('array_api_strict', array_api_strict)])
def test_a_placeholder_by_name_takes_the_librarys_own_arrays(name, library):
    """backend='torch' used to make a second backend that refused torch's
    own arrays ('two array libraries, torch and torch')."""
    x = Value(shape=(2,), name='x', backend=name)
    w = Value(library.asarray(np.array([1.0, 2.0])))
    assert x.bk is w.bk
    y = (x * w).sum()
    y.forward(x=library.asarray(np.array([3.0, 4.0])))
    assert float(to_host(y.data)) == 11.0


def test_cupy_by_name():
    if importlib.util.find_spec('cupy') is None:
        with pytest.raises(ImportError, match=r"backend='cupy': cupy is not "
                           r'installed; pip install "micrograd\[cupy\]"'):
            resolve_backend('cupy')
        return
    cupy = pytest.importorskip('cupy')
    bk = resolve_backend('cupy')
    assert bk is resolve_backend(cupy) is backend_of(cupy.ones(2))


@pytest.mark.parametrize('spec', ['tensorflow_nope', 'math', 'numpyy', ''])
def test_an_unknown_name_names_the_accepted_ones(spec):
    with pytest.raises(ValueError, match=(
            r"is not an array library .* 'numpy', 'dask', 'cupy', 'torch', "
            r"'array_api_strict'.*pip install")):
        resolve_backend(spec)


def test_a_module_that_is_no_array_library_is_refused():
    import math
    with pytest.raises(ValueError, match="backend='math' is not an array"):
        Value(shape=(2,), name='x', backend=math)


# ---- 2. layers on any backend -----------------------------------------

def test_the_readme_model_on_dask_or_torch_asks_for_to():
    with pytest.raises(TypeError, match=r"TensorMLP: the input is a dask "
                       r"array, the parameters are numpy's; make the model "
                       r"with backend='dask' or move it with "
                       r"model.to\('dask'\)"):
        nn.TensorMLP(100, [32, 9])(Value(da.ones((4, 100))))
    with pytest.raises(TypeError, match=r"model.to\('torch'\)"):
        nn.Linear(3, 2)(torch.ones((4, 3), dtype=torch.float64))


@pytest.mark.parametrize('make', [
    lambda: nn.TensorMLP(100, [32, 9], rng=0).to('dask'),
    lambda: nn.TensorMLP(100, [32, 9], rng=0, backend='dask'),
    lambda: nn.TensorMLP(100, [32, 9], rng=0, backend=da)])
def test_the_readme_model_on_dask(make):
    model = make()
    X = np.random.default_rng(1).standard_normal((4, 100))
    out = model(Value(da.from_array(X, chunks=2), requires_grad=False))
    assert out.bk is DASK and isinstance(out.data, da.Array)
    want = nn.TensorMLP(100, [32, 9], rng=0)(Value(X)).data
    np.testing.assert_allclose(to_host(out.data), want, rtol=1e-12)


@pytest.mark.parametrize('backend', ['torch', 'dask', 'array_api_strict'])
def test_every_layer_takes_backend_and_dtype(backend):
    layers = [nn.Linear(3, 2, rng=0, dtype='float32', backend=backend),
              nn.TensorMLP(3, [4, 2], rng=0, dtype='float32', backend=backend),
              nn.LayerNorm(3, dtype='float32', backend=backend),
              nn.Embedding(5, 3, rng=0, dtype='float32', backend=backend)]
    bk = resolve_backend(backend)
    for layer in layers:
        for name, p in layer.named_parameters():
            assert p.bk is bk, name
            assert str(to_host(p.data).dtype) == 'float32', name
    x = Value(bk.asarray(np.ones((2, 3)), dtype=bk.float32),
              requires_grad=False)
    out = nn.Sequential(layers[2], layers[0])(x)
    assert out.bk is bk


def test_to_moves_parameters_to_torch_with_dtype_and_names():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(),
                          nn.Linear(4, 1, rng=1))
    before = {k: to_host(v) for k, v in model.state_dict().items()}
    model.layers[2].bias.requires_grad = False      # a frozen one moves too
    assert model.to('torch', dtype='float32') is model
    assert [n for n, _ in model.named_parameters()] == [
        'layers.0.weight', 'layers.0.bias', 'layers.2.weight']
    assert model.layers[2].bias.bk is TORCH
    for name, p in model.named_parameters():
        assert p.bk is TORCH and p.data.dtype == torch.float32
        np.testing.assert_allclose(to_host(p.data), before[name], rtol=1e-6)
    model.to('numpy')
    assert all(p.bk is NUMPY and p.data.dtype == np.float32
               for p in model.parameters())


def test_lists_and_quantiles_are_not_rounded_to_float32_on_torch():
    """torch.asarray([0.1]) is float32: a list constant, and pinball's
    quantiles, were rounded before the cast to the graph's float64."""
    w = Value(torch.ones(2, dtype=torch.float64))
    assert to_host((w * [0.1, 0.2]).data).tolist() == [0.1, 0.2]
    pred = Value(torch.zeros((1, 1), dtype=torch.float64))
    loss = pinball(pred, torch.ones(1, dtype=torch.float64), (0.3,))
    assert float(to_host(loss.data)) == 0.3


def _fit(backend, optimiser, steps=5, compiled=False):
    """Five steps of a 3-8-2 MLP on fixed rows; the losses and parameters."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)), rng.standard_normal(32)
    bk = resolve_backend(backend)
    model = nn.TensorMLP(3, [8, 2], rng=0, backend=backend)
    x = Value(shape=(None, 3), name='x', requires_grad=False, backend=bk)
    t = Value(shape=(None,), name='y', requires_grad=False, backend=bk)
    loss = pinball(model(x), t, (0.2, 0.8)) + 1e-2 * (
        model.layers[0].weight ** 2).sum()
    if compiled:
        mg.compile(loss)
    opt = optimiser(model.parameters())
    Xb, yb = bk.asarray(X), bk.asarray(y)
    if bk is DASK:
        Xb, yb = da.from_array(X, chunks=8), da.from_array(y, chunks=8)
    losses = []
    for _ in range(steps):
        loss.forward(x=Xb, y=yb)
        loss.backward()
        opt.step()
        losses.append(float(to_host(loss.data)))
    return losses, [to_host(p.data) for p in model.parameters()]


LOSSES = {
    'pinball': lambda p, t, bk: pinball(p, bk.asarray(t[:, 0]),
                                        (0.1, 0.5, 0.9)),
    'mse': lambda p, t, bk: mg.losses.mse(p, bk.asarray(t * 0.5)),
    'hinge': lambda p, t, bk: mg.losses.hinge(
        p[:, 0], bk.asarray(np.where(t[:, 1] > 0, 1.0, -1.0))),
    'binary_cross_entropy_with_logits': lambda p, t, bk:
        mg.losses.binary_cross_entropy_with_logits(
            p[:, 0], bk.asarray(np.abs(t[:, 2]) / 3)),
    'cross_entropy': lambda p, t, bk: mg.losses.cross_entropy(
        p, bk.asarray(np.array([0, 2, 1, 1, 0, 2])))}


@pytest.mark.parametrize('name', LOSSES)
@pytest.mark.parametrize('backend', ['dask', 'torch', 'array_api_strict'])
def test_losses_give_numpys_numbers(name, backend):
    rng = np.random.default_rng(0)
    P, T = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    results = []
    for bk in (NUMPY, resolve_backend(backend)):
        pred = Value(bk.asarray(P))
        loss = LOSSES[name](pred, T, bk)
        loss.backward()
        assert loss.bk is bk
        results.append((to_host(loss.data), to_host(pred.grad)))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-14)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-14,
                               atol=1e-16)


OPTIMISERS = {
    'Adam': lambda w: Adam(w, learning_rate=0.05, weight_decay=1e-3),
    'AdamW': lambda w: AdamW(w, learning_rate=0.05, weight_decay=1e-2),
    'SGD momentum': lambda w: SGD(w, learning_rate=0.1, momentum=0.9),
    'SGD nesterov': lambda w: SGD(w, learning_rate=0.1, momentum=0.9,
                                  nesterov=True, weight_decay=1e-3)}


@pytest.mark.parametrize('name', OPTIMISERS)
@pytest.mark.parametrize('backend,compiled', [
    ('dask', False), ('dask', True), ('torch', False), ('torch', True)])
def test_optimisers_give_numpys_numbers(name, backend, compiled):
    want_losses, want = _fit('numpy', OPTIMISERS[name])
    losses, got = _fit(backend, OPTIMISERS[name], compiled=compiled)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-10)
    assert len(set(losses)) == len(losses)          # it does move
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ---- 3. Dask stays lazy: one compute per backward, no chains ------------

class Computes(Callback):
    """Counts Dask computes (each scheduler run) while active."""

    def __init__(self):
        super().__init__()
        self.count, self.tasks = 0, []

    def _start(self, dsk):
        self.count += 1
        self.tasks.append(len(dsk))


@pytest.mark.parametrize('compiled', [False, True])
def test_dask_training_computes_once_per_backward_and_does_not_chain(
        compiled):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((400, 10)), rng.standard_normal(400)
    model = nn.TensorMLP(10, [16, 3], rng=0, backend='dask')
    x = Value(shape=(None, 10), name='x', requires_grad=False, backend='dask')
    t = Value(shape=(None,), name='y', requires_grad=False, backend='dask')
    loss = pinball(model(x), t, (0.1, 0.5, 0.9))
    if compiled:
        mg.compile(loss)
    opt = Adam(model.parameters(), learning_rate=0.01)
    Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    tasks, per_step, scheduled = [], [], []
    for step in range(20):
        with Computes() as forward:
            loss.forward(x=Xd, y=yd)
        assert forward.count == 0               # forward stays lazy
        assert isinstance(loss.data, da.Array)
        with Computes() as backward:
            loss.backward()
        with Computes() as stepping:
            opt.step()
        per_step.append((backward.count, stepping.count))
        scheduled.append(backward.tasks + stepping.tasks)
        tasks.append([len(p.data.dask) for p in model.parameters()] +
                     [len(opt.m[0].dask), len(opt.v[-1].dask),
                      len(loss.data.dask),
                      len(model.parameters()[0].grad.dask)])
    assert per_step == [(1, 1)] * 20
    assert scheduled[1] == scheduled[19]    # tasks per compute: fixed
    assert tasks[0] == tasks[19] == [1] * 8
    numpy_model = nn.TensorMLP(10, [16, 3], rng=0)
    numpy_loss = pinball(numpy_model(Value(X, requires_grad=False)), y,
                         (0.1, 0.5, 0.9))
    numpy_opt = Adam(numpy_model.parameters(), learning_rate=0.01)
    for _ in range(20):
        numpy_loss.forward()
        numpy_loss.backward()
        numpy_opt.step()
    for p, q in zip(model.parameters(), numpy_model.parameters()):
        np.testing.assert_allclose(to_host(p.data), q.data, rtol=1e-10,
                                   atol=1e-13)


def test_a_hand_written_dask_update_does_not_chain():
    """p.data -= lr * p.grad, by hand: backward's one compute takes the
    leaves' data too, so the next step starts from arrays."""
    w = Value(da.from_array(np.ones(4), chunks=2))
    x = Value(shape=(4,), name='x', requires_grad=False, backend='dask')
    loss = ((w * x - 1.0) ** 2).sum()
    sizes = []
    for _ in range(10):
        loss.forward(x=da.from_array(np.arange(4.0), chunks=2))
        loss.backward()
        sizes.append(len(w.data.dask))
        w.data = w.data - 0.01 * w.grad
    assert sizes == [2] * 10            # one task per chunk, every step


# ---- 4. feeds of another library --------------------------------------

def _graph(backend):
    x = Value(shape=(None, 3), name='x', backend=backend)
    return (x * 2.0).sum()


@pytest.mark.parametrize('backend,fed,library', [
    ('numpy', lambda a: da.from_array(a), 'dask'),
    ('numpy', lambda a: torch.asarray(a), 'torch'),
    ('torch', lambda a: da.from_array(a), 'dask'),
    ('dask', lambda a: torch.asarray(a), 'torch'),
    ('numpy', lambda a: array_api_strict.asarray(a), 'array_api_strict'),
    ('torch', lambda a: array_api_strict.asarray(a), 'array_api_strict')])
def test_a_feed_of_another_library_is_refused(backend, fed, library):
    loss = _graph(backend)
    placeholder = resolve_backend(backend).name
    with Computes() as computes:
        with pytest.raises(FeedError, match=(
                f"feed 'x' is a {library} array and the placeholder is "
                f"{placeholder}'s.*micrograd.to_host\\(x\\).*backend="
                f"'{library}'")):
            loss.forward(x=fed(np.ones((2, 3))))
    assert computes.count == 0          # nothing was pulled into memory


@pytest.mark.parametrize('backend', ['torch', 'dask', 'array_api_strict'])
def test_numpy_feeds_go_into_every_backend(backend):
    loss = _graph(backend)
    loss.forward(x=np.ones((2, 3)))
    assert loss.bk is resolve_backend(backend)
    assert float(to_host(loss.data)) == 12.0


def test_a_dask_array_of_unknown_chunk_sizes_gets_a_sentence():
    pd = pytest.importorskip('pandas')
    dd = pytest.importorskip('dask.dataframe')
    frame = dd.from_pandas(pd.DataFrame(np.ones((10, 3))), npartitions=2)
    loss = _graph('dask')
    with pytest.raises(FeedError, match=r"feed 'x' has unknown sizes .*"
                       r'to_dask_array\(lengths=True\)'):
        loss.forward(x=frame.to_dask_array())
    loss.forward(x=frame.to_dask_array(lengths=True))
    assert float(to_host(loss.data)) == 60.0
    with pytest.raises(FeedError, match=r"unknown sizes \(\?, 3\)"):
        loss.forward(x=frame)                   # the frame itself
    with Computes() as computes:
        with pytest.raises(FeedError, match=r"feed 'x' is a dask DataFrame "
                           r"and the placeholder is numpy's"):
            _graph('numpy').forward(x=frame)    # it used to be computed
    assert computes.count == 0


# ---- 5. save, load, state_dict, gradcheck, profile --------------------

def _model(backend):
    return nn.TensorMLP(3, [4, 2], rng=0, backend=backend)


@pytest.mark.parametrize('backend', ['dask', 'torch', 'array_api_strict'])
def test_save_and_load_round_trip_onto_the_models_backend(backend, tmp_path):
    model = _model(backend)
    bk = resolve_backend(backend)
    state = model.state_dict()
    assert all(backend_of(a) is bk for a in state.values())
    mg.save(tmp_path / 'model.npz', state)
    loaded = mg.load(tmp_path / 'model.npz')
    assert all(isinstance(a, np.ndarray) for a in loaded.values())
    other = nn.TensorMLP(3, [4, 2], rng=5, backend=backend)
    other.load_state_dict(loaded)
    for (name, p), q in zip(other.named_parameters(), model.parameters()):
        assert p.bk is bk, name                 # back on the model's backend
        np.testing.assert_array_equal(to_host(p.data), to_host(q.data))


@pytest.mark.parametrize('source,target', [
    ('torch', 'numpy'), ('dask', 'numpy'), ('numpy', 'torch'),
    ('torch', 'dask'), ('dask', 'torch')])
def test_a_state_dict_of_one_library_loads_into_another(source, target):
    state = _model(source).state_dict()
    model = nn.TensorMLP(3, [4, 2], rng=7, backend=target)
    model.load_state_dict(state)
    bk = resolve_backend(target)
    for name, p in model.named_parameters():
        assert p.bk is bk and backend_of(p.data) is bk, name
        np.testing.assert_array_equal(to_host(p.data), to_host(state[name]))


@pytest.mark.parametrize('backend', ['dask', 'torch'])
def test_optimiser_state_dict_on_other_backends(backend, tmp_path):
    model = _model(backend)
    bk = resolve_backend(backend)
    x = Value(bk.asarray(np.ones((5, 3))), requires_grad=False)
    loss = (model(x) ** 2).mean()
    opt = Adam(model.parameters(), learning_rate=0.1)
    for _ in range(2):
        loss.forward()
        loss.backward()
        opt.step()
    mg.save(tmp_path / 'opt.npz', opt.state_dict())
    again = Adam(model.parameters(), learning_rate=0.1)
    again.load_state_dict(mg.load(tmp_path / 'opt.npz'))
    assert again.num_steps == 2
    for a, b in zip(again.m + again.v, opt.m + opt.v):
        assert backend_of(a) is bk
        np.testing.assert_array_equal(to_host(a), to_host(b))


def _conv(backend):
    return {'dask': lambda a: da.from_array(a, chunks=2),
            'torch': lambda a: torch.asarray(a),
            'array_api_strict': array_api_strict.asarray}[backend]


@pytest.mark.parametrize('backend', ['dask', 'torch', 'array_api_strict'])
def test_gradcheck_runs_f_on_the_inputs_backend(backend):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    seen = set()

    def f(x, w):
        seen.add(x.bk)
        return mg.tanh(x @ w)
    conv = _conv(backend)
    assert mg.gradcheck(f, conv(x), conv(w))
    assert mg.gradcheck(f, conv(x), conv(w), order=2)
    assert seen == {resolve_backend(backend)}


def test_gradcheck_catches_a_rule_wrong_only_off_numpy_on_torch():
    """A rule that is right on NumPy and wrong elsewhere: checked on the
    inputs' backend, gradcheck sees it (it used to run on NumPy)."""
    def square_forward(xp, x):
        return x * x

    def square_backward(xp, g, out, x, need):
        return (g * x * (2.0 if xp is NUMPY else 3.0),)
    op = mg.Op('square_on_numpy_only', square_forward, square_backward,
               kind='elementwise')
    try:
        x = np.array([0.5, -1.0])
        assert mg.gradcheck(lambda v: mg.apply(op, v), x)
        with pytest.raises(GradcheckError):
            mg.gradcheck(lambda v: mg.apply(op, v), torch.asarray(x))
    finally:
        mg.OPS.pop('square_on_numpy_only', None)


@pytest.mark.parametrize('backend', ['dask', 'torch'])
def test_profile_runs_on_other_backends(backend, capsys):
    model = _model(backend)
    x = Value(shape=(None, 3), name='x', requires_grad=False, backend=backend)
    loss = model(x).mean()
    table = mg.profile(loss, repeats=2, x=np.ones((5, 3)))
    assert 'matmul' in capsys.readouterr().out
    assert table
    assert backend_of(model.parameters()[0].grad) is resolve_backend(backend)


# ---- 6. chunked -------------------------------------------------------

@pytest.mark.parametrize('backend', ['dask', 'torch', 'array_api_strict'])
def test_chunked_gives_numpys_numbers(backend):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 10)), rng.standard_normal(300)
    results = {}
    for name in ('numpy', backend):
        bk = resolve_backend(name)
        model = nn.TensorMLP(10, [16, 3], rng=0, backend=name)
        x = Value(shape=(None, 10), name='x', requires_grad=False, backend=bk)
        t = Value(shape=(None,), name='y', requires_grad=False, backend=bk)
        loss = mg.chunked(pinball(model(x), t, (0.1, 0.5, 0.9)), rows=64,
                          workers=2)
        with Computes() as forward:
            loss.forward(x=bk.asarray(X), y=bk.asarray(y))
        with Computes() as backward:
            loss.backward()
        if bk is DASK:
            assert (forward.count, backward.count) == (0, 1)
        results[name] = [to_host(loss.data)] + [to_host(p.grad)
                                                for p in model.parameters()]
    for a, b in zip(results[backend], results['numpy']):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
