"""Row-chunked execution: the same loss and gradients as the whole batch,
and unsafe graphs refused."""
import importlib

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, losses, nn

QUANTILES = np.linspace(0.1, 0.9, 9)


def pinball_model(seed=0):
    model = nn.TensorMLP(5, [8, 9], rng=seed)
    x = Value(shape=(None, 5), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    return model, losses.pinball(model(x), y, QUANTILES)


@pytest.mark.parametrize('rows,workers', [(1000, 2), (333, 1), (50_000, 2),
                                          (4096, 3)])
def test_chunked_equals_whole_batch(rows, workers):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10_007, 5)), rng.standard_normal(10_007)
    whole_model, whole = pinball_model()
    model, loss = pinball_model()
    mg.chunked(loss, rows=rows, workers=workers)
    for step in range(2):                       # a second, re-fed step too
        whole.forward(x=X, y=y)
        whole.backward()
        loss.forward(x=X, y=y)
        loss.backward()
        np.testing.assert_allclose(loss.data, whole.data, rtol=1e-12)
        for p, q in zip(model.parameters(), whole_model.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-6, atol=1e-15)
            p.data -= 0.1 * p.grad
            q.data -= 0.1 * q.grad
        X, y = X[:5000] * 2, y[:5000]           # a different batch size


def test_chunked_sum_and_extra_non_batch_placeholders():
    rng = np.random.default_rng(1)
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    scale = Value(shape=(3,), name='scale', requires_grad=False)
    w = Value(rng.standard_normal((3, 2)))
    loss = ((x * scale) @ w).tanh().sum(axis=(0, 1))
    ref_w = Value(w.data)
    ref = ((x * scale) @ ref_w).tanh().sum()
    feeds = dict(x=rng.standard_normal((101, 3)), scale=np.arange(3.0))
    ref.forward(**feeds)
    ref.backward()
    mg.chunked(loss, rows=10)
    loss.forward(**feeds)
    loss.backward()
    np.testing.assert_allclose(loss.data, ref.data)
    np.testing.assert_allclose(w.grad, ref_w.grad, rtol=1e-10)


def unsafe_graphs():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)))
    h = x @ w
    yield 'batch norm', ((h - h.mean(axis=0)) ** 2).mean(), 'mean'
    yield 'sum over rows in the middle', (h.sum(axis=0) * h).mean(), 'sum'
    yield 'softmax over rows', mg.softmax(h, axis=0).mean(), 'softmax'
    yield 'indexing rows', h[:5].mean(), 'getitem'
    yield 'root not a row reduction', h.mean(axis=1) * 2, 'root'
    yield 'rows on the right of matmul', (w.T @ x.T).mean(), 'transpose'


@pytest.mark.parametrize('label,loss,op', list(unsafe_graphs()),
                         ids=[g[0] for g in unsafe_graphs()])
def test_graphs_that_mix_rows_are_refused(label, loss, op):
    match = 'root must be a sum or mean' if op == 'root' else f"'{op}'"
    with pytest.raises(ValueError, match=match):
        mg.chunked(loss)


def test_chunked_errors():
    w = Value(np.ones(3))
    with pytest.raises(ValueError, match='no placeholder with a leading None'):
        mg.chunked((w * 2).sum())
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = mg.chunked(((x @ w) - y).mean(), rows=4)
    with pytest.raises(ValueError, match=r'different numbers of rows: \[4, 5\]'):
        loss.forward(x=np.ones((5, 3)), y=np.ones(4))
    loss.forward(x=np.ones((5, 3)), y=np.ones(5))
    with pytest.raises(ValueError, match=r'gradient has shape \(2,\)'):
        loss.backward(np.ones(2))
    with pytest.raises(ValueError, match='positive'):
        mg.chunked(loss, rows=0)
    with pytest.raises(ValueError, match='blas_threads must be'):
        mg.chunked(loss, blas_threads=0)
    z = Value(shape=(None, 3), name='z')          # wants a gradient
    with pytest.raises(ValueError, match="placeholder 'z' asks for a gradient"):
        mg.chunked((z @ w).mean())


@pytest.mark.skipif(__import__('platform').libc_ver()[0] != 'glibc',
                    reason='keep_freed_memory acts on glibc malloc only')
def test_steady_state_steps_reuse_memory_instead_of_faulting_it_in():
    """Each step frees and allocates the same chunk-sized arrays (4 MB
    each here): with keep_freed_memory they come back from the heap, so a
    step faults in almost no new pages. (BLAS is held to one thread per
    worker through threadpoolctl; several BLAS threads in each worker make
    OpenBLAS map buffers of its own every call.)"""
    pytest.importorskip('threadpoolctl')
    import resource
    model = nn.TensorMLP(50, [64, 9], rng=0)
    x = Value(shape=(None, 50), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = mg.chunked(losses.pinball(model(x), y, QUANTILES), rows=8192)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((65536, 50)), rng.standard_normal(65536)
    with mg.keep_freed_memory() as kept:
        assert kept is True
        for _ in range(3):                          # reach the steady state
            loss.forward(x=X, y=Y)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            loss.forward(x=X, y=Y)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                  - before) / 3
    # one chunk's temporaries span > 3,000 pages; 8 chunks a step
    assert faults < 500, f'{faults:.0f} page faults a step'


@pytest.mark.parametrize('width,dtype,rows', [(32, 'float32', 8192),
                                              (64, 'float64', 2048),
                                              (1, 'float32', 65536),
                                              (100_000, 'float64', 256)])
def test_default_chunks_keep_the_widest_array_near_one_mebibyte(width, dtype,
                                                                rows):
    x = Value(shape=(None, 3), name='x', requires_grad=False, dtype=dtype)
    w = Value(np.ones((3, width)), dtype=dtype)
    loss = mg.chunked((x @ w).relu().mean())
    assert loss.executor.rows == rows
    loss.forward(x=np.ones((rows + 5, 3)))          # and it runs
    np.testing.assert_allclose(w.grad, np.full((3, width), 1 / width),
                               rtol=1e-3 if dtype == 'float32' else 1e-10)


@pytest.mark.parametrize('kind', ['mean', 'sum'])
def test_zero_rows_give_what_the_whole_batch_gives(kind):
    w = Value(np.ones((3, 2)))
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    out = (x @ w).tanh()
    loss = out.mean() if kind == 'mean' else out.sum()
    empty = np.ones((0, 3))
    with np.errstate(all='ignore'):
        loss.forward(x=empty)
        loss.backward()
    expected = np.array(loss.data), w.grad.copy()
    mg.chunked(loss, rows=4)
    with np.errstate(all='ignore'):
        loss.forward(x=empty)
    np.testing.assert_array_equal(loss.data, expected[0])
    np.testing.assert_array_equal(w.grad, expected[1])
    loss.forward(x=np.ones((9, 3)))                 # and rows again
    assert np.isfinite(loss.data)


def test_clip_to_infinity_runs_chunked():
    w = Value(np.array([[1.0], [-2.0]]))
    x = Value(shape=(None, 2), name='x', requires_grad=False)
    loss = mg.chunked((x @ w).clip(0.0, float('inf')).mean(), rows=2)
    loss.forward(x=np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]]))
    np.testing.assert_allclose(loss.data, 2 / 3)
    np.testing.assert_allclose(w.grad, [[4 / 3], [1 / 3]])


def test_inner_data_after_a_chunked_forward_is_refused_not_stale():
    model, loss = pinball_model()
    logits = loss.parents[0] if loss.parents else None
    inner = [n for n in loss.topo() if n.op is not None and n is not loss]
    mg.chunked(loss, rows=4)
    X, Y = np.ones((10, 5)), np.ones(10)
    loss.forward(x=X, y=Y)
    for node in inner:
        with pytest.raises(ValueError, match='not kept by a chunked forward'):
            node.data.argmax(1)
        with pytest.raises(ValueError, match='not kept by a chunked forward'):
            node.shape
        with pytest.raises(ValueError, match='not kept by a chunked forward'):
            np.asarray(node.data)
        assert 'not kept by a chunked forward' in repr(node)
    assert logits is not None
    # leaves and the root stay valid; the plan can be chunked again
    assert loss.shape == () and np.isfinite(loss.data)
    assert all(p.shape == p.grad.shape for p in model.parameters())
    mg.chunked(loss, rows=3, workers=1)
    loss.forward(x=X, y=Y)


def test_rows_that_do_not_match_are_named_whatever_the_chunking():
    w = Value(np.ones(3))
    for rows, workers in ((4, 2), (100, 1), (None, 2)):
        x = Value(shape=(None, 3), name='x', requires_grad=False)
        y = Value(shape=(None,), name='y', requires_grad=False)
        loss = mg.chunked(((x @ w) - y).mean(), rows=rows, workers=workers)
        with pytest.raises(ValueError, match=r'batch placeholders have '
                           r'different numbers of rows: \[5, 20\]'):
            loss.forward(x=np.ones((20, 3)), y=np.ones(5))


def test_chunked_on_array_api_strict_equals_numpy():
    xp = pytest.importorskip('array_api_strict')
    rng = np.random.default_rng(0)
    W, X, Y = (rng.standard_normal((3, 2)), rng.standard_normal((11, 3)),
               rng.standard_normal((11, 2)))
    grads = []
    for lib in (np, xp):
        w = Value(lib.asarray(W))
        x = Value(shape=(None, 3), name='x', requires_grad=False, backend=lib)
        y = Value(shape=(None, 2), name='y', requires_grad=False, backend=lib)
        loss = mg.chunked((((x @ w).tanh() - y) ** 2).mean(), rows=4)
        loss.forward(x=lib.asarray(X), y=lib.asarray(Y))
        grads.append((float(loss.data), np.from_dlpack(w.grad)))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12)


def test_one_chunk_uses_no_pool_and_many_chunks_keep_one():
    model, loss = pinball_model()
    mg.chunked(loss, rows=100, workers=2)
    plan = loss.executor
    loss.forward(x=np.ones((50, 5)), y=np.ones(50))    # one chunk
    assert plan.pool is None and plan.blas is None
    loss.forward(x=np.ones((500, 5)), y=np.ones(500))  # several chunks
    pool, blas = plan.pool, plan.blas
    assert pool is not None
    loss.forward(x=np.ones((500, 5)), y=np.ones(500))
    assert plan.pool is pool and plan.blas is blas


def counted(plan):
    """Count the calls of the compiled step, evaluate, forward and backward
    of a chunked plan."""
    calls = {'step': 0, 'evaluate': 0, 'forward': 0, 'backward': 0}
    for name in calls:
        method = getattr(plan, name)

        def count(*args, _name=name, _method=method):
            calls[_name] += 1
            return _method(*args)
        setattr(plan, name, count)
    return calls


@pytest.mark.parametrize('rows', [4, 100])
def test_forward_without_grad_computes_the_loss_only(rows):
    model, loss = pinball_model()
    whole_model, whole = pinball_model()
    mg.chunked(loss, rows=rows, workers=2)
    calls = counted(loss.executor.plan)
    X, Y = np.ones((10, 5)), np.linspace(0, 1, 10)
    with mg.no_grad():
        loss.forward(x=X, y=Y)
    one_chunk = rows > 10       # one chunk: the compiled forward, stored
    assert calls == {'step': 0, 'evaluate': 0 if one_chunk else 4,
                     'forward': 1 if one_chunk else 0, 'backward': 0}
    assert all(p.grad is None for p in model.parameters())
    whole.forward(x=X, y=Y)
    np.testing.assert_allclose(loss.data, whole.data, rtol=1e-12)
    loss.backward()     # then the gradients: from the stored activations
    assert calls == {'step': 0 if one_chunk else 4,    # or a fused pass
                     'evaluate': 0 if one_chunk else 4,
                     'forward': 1 if one_chunk else 0,
                     'backward': 1 if one_chunk else 0}
    whole.backward()
    for p, q in zip(model.parameters(), whole_model.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10)


def test_a_training_step_runs_the_forward_once():
    model, loss = pinball_model()
    mg.chunked(loss, rows=4, workers=2)
    calls = counted(loss.executor.plan)
    loss.forward(x=np.ones((10, 5)), y=np.ones(10))
    loss.backward()
    loss.backward()                     # again: nothing to compute
    assert calls == {'step': 4, 'evaluate': 0, 'forward': 0, 'backward': 0}


def test_a_batch_of_one_chunk_runs_as_compile_does():
    """One chunk: the compiled forward (activations kept on the nodes, so
    a step reuses the previous step's memory as compile's does) and the
    compiled backward, in forward(); the same numbers as the whole batch,
    and the inner data is real, not refused."""
    model, loss = pinball_model()
    whole_model, whole = pinball_model()
    mg.chunked(loss, rows=100, workers=2)
    calls = counted(loss.executor.plan)
    X, Y = np.linspace(-1, 1, 50).reshape(10, 5), np.linspace(0, 1, 10)
    for step in range(2):
        loss.forward(x=X, y=Y)
        loss.backward()                 # computed in forward already
        assert calls == {'step': 0, 'evaluate': 0, 'forward': step + 1,
                         'backward': step + 1}
    whole.forward(x=X, y=Y)
    whole.backward()
    assert loss.data == whole.data
    for p, q in zip(model.parameters(), whole_model.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)
    inner = [n for n in loss.topo() if n.op is not None and n is not loss]
    whole_inner = [n for n in whole.topo()
                   if n.op is not None and n is not whole]
    for n, m in zip(inner, whole_inner):
        np.testing.assert_array_equal(n.data, m.data)
    loss.backward(np.asarray(2.0))      # a given gradient: stored data
    assert calls['forward'] == 2 and calls['backward'] == 3
    for p, q in zip(model.parameters(), whole_model.parameters()):
        np.testing.assert_allclose(p.grad, 2 * q.grad, rtol=1e-12)
    loss.forward(x=np.ones((500, 5)), y=np.ones(500))   # several chunks:
    with pytest.raises(ValueError, match='not kept by a chunked forward'):
        inner[0].data.sum()                             # inner data refused
    loss.forward(x=X, y=Y)                              # one again: kept
    np.testing.assert_array_equal(inner[0].data, whole_inner[0].data)


def test_backward_with_a_gradient_scales_the_chunked_gradients():
    model, loss = pinball_model()
    whole_model, whole = pinball_model()
    mg.chunked(loss, rows=3, workers=1)
    X, Y = np.ones((10, 5)), np.linspace(0, 1, 10)
    for root in (loss, whole):
        root.forward(x=X, y=Y)
        root.backward(np.asarray(2.5))
    for p, q in zip(model.parameters(), whole_model.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10)


def test_chunked_changes_no_process_wide_setting_by_itself(monkeypatch):
    chunked_module = importlib.import_module('micrograd.chunked')
    called = []
    monkeypatch.setattr(chunked_module, '_mallopt',
                        lambda: lambda *args: called.append(args) or 1)
    model, loss = pinball_model()
    mg.chunked(loss, rows=4, workers=2)
    loss.forward(x=np.ones((10, 5)), y=np.ones(10))
    assert called == []
    with mg.keep_freed_memory():
        with mg.keep_freed_memory():            # nested: set once
            pass
        assert called == [(-3, 32 << 20), (-1, 256 << 20)]
    assert called[2:] == [(-3, 128 << 10), (-1, 128 << 10)]   # restored
