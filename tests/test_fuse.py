"""Fused kernels (compile(fuse=True)): the same numbers as the NumPy rules.

Every op-table case runs its kernels as plain Python (Numba's DISABLE_JIT:
the same generated source, quick to check); the first case of each row
runs them compiled by Numba too."""
import cProfile
import io
import pstats
import re
import sys

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, fuse, losses
from micrograd.optim import SGD
from models import moons_mlp
from op_table import ROWS

EXAMPLES = [pytest.param(row, case, id=f'{row.name}-{i}')
            for row in ROWS for i, case in enumerate(row.example_cases())]
FIRSTS = [pytest.param(row, row.example_cases()[0], id=row.name)
          for row in ROWS]


def test_fuse_without_numba_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'numba', None)
    x = Value(np.ones(3))
    loss = (x * 2).relu().sum()
    with pytest.raises(ImportError, match=r'pip install "micrograd\[jit\]"'):
        mg.compile(loss, fuse=True)
    mg.compile(loss)                    # nothing else changes
    loss.forward()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


numba = pytest.importorskip('numba')


@pytest.fixture
def plain_kernels(monkeypatch):
    """The generated kernels run as Python, not compiled."""
    monkeypatch.setattr(numba.config, 'DISABLE_JIT', True)


@pytest.fixture(params=['whole step', 'kernels'])
def small_graphs(request, monkeypatch):
    """Small graphs as one fused_step (where their ops allow it), or always
    as kernels called one by one (as large graphs are)."""
    if request.param == 'kernels':
        monkeypatch.setattr(fuse, 'WHOLE_ELEMENTS', -1)
    return request.param


def fused_and_compiled(row, case):
    """(data, grads) of the case compiled without and with fusion, each
    run twice (the first run writes the code), the same upstream gradient."""
    rng = np.random.default_rng(0)
    upstream, results = None, []
    for fuse in (False, True):
        leaves = [Value(a) for a in case.arrays]
        out = row.fn(*leaves, **case.params)
        if upstream is None:
            upstream = rng.standard_normal(out.shape)
        mg.compile(out, fuse=fuse)
        for _ in range(2):
            out.forward()
            out.backward(upstream)
        results.append((np.array(out.data),
                        [np.array(v.grad) for v in leaves]))
    return results


def check_same(results):
    (data, grads), (fused_data, fused_grads) = results
    np.testing.assert_allclose(fused_data, data, rtol=1e-12, atol=1e-14)
    for g, h in zip(grads, fused_grads):
        np.testing.assert_allclose(h, g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize('row, case', EXAMPLES)
def test_fused_equals_compiled(row, case, plain_kernels, small_graphs):
    check_same(fused_and_compiled(row, case))


@pytest.mark.parametrize('row, case', FIRSTS)
def test_fused_equals_compiled_with_numba(row, case, small_graphs):
    check_same(fused_and_compiled(row, case))


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_small_graph_runs_as_one_step(dtype):
    """W2's step is one generated function (products through BLAS): the
    same losses and gradients as compile without fusion, step after step."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 2)).astype(dtype)
    y = np.sign(rng.standard_normal(100)).astype(dtype)
    runs = []
    for fused in (False, True):
        loss, ps, _ = moons_mlp(dtype, np.random.default_rng(1))
        mg.compile(loss, fuse=fused)
        opt = SGD(wrt=ps, learning_rate=0.5)
        history = []
        for rows in (100, 100, 100, 37, 100):   # a new batch size between
            loss.forward(x=X[:rows], y=y[:rows])
            loss.backward()
            history.append((float(loss.data),
                            [np.array(p.grad) for p in ps]))
            opt.step()
        runs.append(history)
        if fused:
            source = mg.compiled_source(loss)
    tight = dtype == 'float64'
    for (value, grads), (fused_value, fused_grads) in zip(*runs):
        np.testing.assert_allclose(fused_value, value,
                                   rtol=1e-12 if tight else 1e-5)
        for g, h in zip(grads, fused_grads):
            assert h.dtype == g.dtype
            np.testing.assert_allclose(h, g, rtol=1e-10 if tight else 1e-4,
                                       atol=1e-13 if tight else 1e-6)
    assert 'def fused_step(' in source and 'mm(' in source
    assert re.search(r'fused_add_relu_backward(_\d+)?\(',
                     source.split('def fused_step(')[1])


def test_step_tapes_only_what_its_backward_reads(plain_kernels):
    """In fused_step, a group's forward stores (on its tape `tp`) only the
    values its backward uses: relu's output for relu's gradient, not the
    sum before it; nothing for the weights' squares (their gradient needs
    the weights). The numbers stay compile's without fusion."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2))
    y = np.sign(rng.standard_normal(50))
    runs = []
    for fused in (False, True):
        loss, ps, _ = moons_mlp('float64', np.random.default_rng(1))
        mg.compile(loss, fuse=fused)
        loss.forward(x=X, y=y)
        loss.backward()
        runs.append([float(loss.data)] + [np.array(p.grad) for p in ps])
    for a, b in zip(*runs):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    tapes = dict(re.findall(r'def (fused_\w+_forward)\(.*\n    tp = '
                            r'np\.empty\(\((\d+)', mg.compiled_source(loss)))
    assert tapes['fused_add_relu_forward'] == '1', tapes    # relu's, not +'s
    assert tapes['fused_mul_sum_forward'] == '0', tapes     # W * W: none
    assert tapes['fused_mul_sub_relu_mean_forward'] == '1', tapes


def flat_model(dtype, rng):
    """A model whose loss is a mean over the batch times 4 elements (a
    count that is no batch size)."""
    W = Value(rng.standard_normal((3, 4)), dtype=dtype)
    x = Value(shape=(None, 3), name='x', dtype=dtype, requires_grad=False)
    return ((x @ W).tanh().reshape(-1) ** 2).mean(), W


@pytest.mark.parametrize('model', ['mlp', 'flat'])
def test_one_step_serves_every_batch_size(model, plain_kernels):
    """The batch size becomes a name in fused_step (one function, compiled
    once, for batches of 60 and 7 rows) where nothing else in the code
    depends on it (at 2 rows or 1 the products are written otherwise);
    else one per batch size, as before. Either way the numbers are
    compile's without fusion."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.sign(rng.standard_normal(60))
    sizes = (60, 60, 7, 7, 2, 2, 1, 1, 60)
    runs, functions, sources = [], {}, set()
    for fused in (False, True):
        if model == 'mlp':
            loss, ps, _ = moons_mlp('float64', np.random.default_rng(1))
        else:
            loss, W = flat_model('float64', np.random.default_rng(1))
            ps = [W]
        mg.compile(loss, fuse=fused)
        opt = SGD(wrt=ps, learning_rate=0.1)
        history = []
        for rows in sizes:
            feeds = {'x': X[:rows, :2] if model == 'mlp' else X[:rows]}
            if model == 'mlp':
                feeds['y'] = y[:rows]
            history.append(opt.minimize(loss, **feeds))
            history += [np.array(p.data) for p in ps]
            if fused:
                plan = loss.executor
                run = plan.whole_for_shapes[plan.signature()]
                functions[rows] = run.__globals__['fused_step']
                sources.add(plan.whole_source)
        runs.append(history)
    for a, b in zip(*runs):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    source = '\n'.join(sources)
    if model == 'mlp':
        assert functions[60] is functions[7]
        assert re.search(r'fused_add_relu_forward(_\d+)?\(np\.intp\(nb\), '
                         r'np\.intp\(16\)', source)
    else:                       # the mean counts 4 * rows: one per size
        assert functions[60] is not functions[7]
        assert not re.search(r'\bnb\b', source)


def test_one_step_is_one_entry_in_cprofile():
    loss, ps, _ = moons_mlp('float64', np.random.default_rng(1))
    mg.compile(loss, fuse=True)
    feeds = {'x': np.ones((100, 2)), 'y': np.ones(100)}    # as above
    for _ in range(2):
        loss.forward(**feeds)
        loss.backward()
    names = profiled_step(loss, feeds)
    assert '(fused_step)' in names
    assert '(matmul_backward)' not in names
    assert '(fused_add_relu_forward)' not in names


def test_one_step_with_a_seed_without_grad_and_its_data(plain_kernels):
    """A gradient seed, a forward under no_grad: each as compile without
    fusion gives. The data of inner nodes is not kept; the root's is."""
    rng = np.random.default_rng(2)
    feeds = {'x': rng.standard_normal((30, 2)),
             'y': np.sign(rng.standard_normal(30))}
    plain, plain_ps, _ = moons_mlp('float64', np.random.default_rng(1))
    mg.compile(plain)
    fused, fused_ps, hidden = moons_mlp('float64', np.random.default_rng(1))
    mg.compile(fused, fuse=True)

    def same(seed=None, no_grad=False):
        for root in (plain, fused):
            if no_grad:
                with mg.no_grad():
                    root.forward(**feeds)
            else:
                root.forward(**feeds)
            root.backward(seed)
        np.testing.assert_allclose(fused.data, plain.data, rtol=1e-13)
        for p, q in zip(plain_ps, fused_ps):
            np.testing.assert_allclose(q.grad, p.grad, rtol=1e-11,
                                       atol=1e-14)
    same()
    assert fused.executor.whole_for_shapes      # the step was written
    assert all(fused.executor.whole_for_shapes.values())
    same()
    same(seed=np.array(2.5))
    same(no_grad=True)
    same()
    with pytest.raises(ValueError, match="'reshape' node is not kept"):
        hidden.data + 1


def test_without_scipy_products_stay_calls(monkeypatch, plain_kernels):
    monkeypatch.setattr(fuse, '_blas', lambda: False)
    loss, ps, _ = moons_mlp('float64', np.random.default_rng(1))
    twin, twin_ps, _ = moons_mlp('float64', np.random.default_rng(1))
    mg.compile(loss, fuse=True)
    mg.compile(twin)
    feeds = {'x': np.ones((20, 2)), 'y': np.ones(20)}
    for root in (loss, twin, loss, twin):
        root.forward(**feeds)
        root.backward()
    for p, q in zip(ps, twin_ps):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-12)
    assert 'def fused_step(' not in mg.compiled_source(loss)
    assert 'matmul_backward(xp' in mg.compiled_source(loss)


def in_order_product(a, b):
    """a @ b summed over k in order, each product and sum rounded in the
    arrays' dtype (NumPy's ufuncs: no fused multiply-add)."""
    c = np.zeros((a.shape[0], b.shape[1]), a.dtype)
    for p in range(a.shape[1]):
        c = a[:, p:p + 1] * b[p:p + 1, :] if p == 0 else \
            c + a[:, p:p + 1] * b[p:p + 1, :]
    return c


def operand(rng, shape, dtype, layout):
    """An array of `shape`: C-ordered, a transposed view, or every other
    column of a wider array."""
    if layout == 'T':
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    if layout == 'strided':
        return rng.standard_normal((shape[0], 2 * shape[1])).astype(
            dtype)[:, ::2]
    return rng.standard_normal(shape).astype(dtype)


SMALL_SHAPES = [(100, 2, 16), (100, 1, 16), (2, 100, 16), (16, 100, 1),
                (100, 16, 1), (1, 1, 1), (1, 7, 1), (3, 1, 1), (1, 1, 5),
                (2, 9, 3), (7, 5, 6), (5, 0, 3), (100, 16, 16)]


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('layouts', [('C', 'C'), ('T', 'strided')])
def test_small_mm_sums_in_order(layouts, dtype):
    """The loop products of fused_step (any shape, any layout): each
    element the sum over k in order, so equal to NumPy's matmul up to the
    order of the sum."""
    loops = [fuse.load_kernel(fuse.MM_SOURCE, name, dtype)
             for name in ('small_mm', 'column_mm')]
    rng = np.random.default_rng(0)
    for m, k, n in SMALL_SHAPES:
        a = operand(rng, (m, k), dtype, layouts[0])
        b = operand(rng, (k, n), dtype, layouts[1])
        c = loops[n == 1](a, b)
        assert c.dtype == dtype and c.shape == (m, n)
        np.testing.assert_array_equal(c, in_order_product(a, b))
        exact = a.astype(np.float64) @ b.astype(np.float64)
        scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
        eps = np.finfo(dtype).eps
        assert np.all(np.abs(c - exact) <= (k + 1) * eps * scale)
        if dtype == 'float64':
            np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-15)


def test_small_mm_keeps_nan_and_inf():
    """No term is dropped or made up: inf and NaN reach the elements they
    are in, as in NumPy (no 0 * inf of absent terms)."""
    small_mm, column_mm = (fuse.load_kernel(fuse.MM_SOURCE, name, 'float64')
                           for name in ('small_mm', 'column_mm'))
    a = np.array([[1.0, np.inf], [2.0, 3.0], [np.nan, 0.0]])
    b = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    with np.errstate(invalid='ignore'):
        np.testing.assert_array_equal(small_mm(a, b), a @ b)
        column = np.ascontiguousarray(b[:, :1])
        np.testing.assert_array_equal(column_mm(a, column), a @ column)


def products(source):
    """{forward, x.T @ g, g @ y.T: 'mm' (BLAS), 'small_mm' or 'column_mm'
    (loops)} of the one product in a whole step's source."""
    kinds = {}
    copy = r'(?:np\.ascontiguousarray\()?'
    for f, x, xt, y, yt in re.findall(
            rf'\b(small_mm|column_mm|mm)\({copy}(\w+)(\.T)?\)?, '
            rf'{copy}(\w+)(\.T)?', source):
        kinds['g @ y.T' if yt else 'x.T @ g' if xt else 'forward'] = f
    return kinds


@pytest.mark.parametrize('shapes, expected', [
    (((100, 2), (2, 16)), ('small_mm', 'small_mm', 'mm')),
    (((100, 1), (1, 16)), ('small_mm', 'small_mm', 'mm')),
    (((2, 100), (100, 16)), ('small_mm', 'small_mm', 'small_mm')),
    (((100, 16), (16, 1)), ('mm', 'mm', 'small_mm')),
    (((16, 100), (100, 1)), ('mm', 'mm', 'small_mm')),
    (((100, 1), (1, 1)), ('column_mm', 'column_mm', 'column_mm')),
    (((100, 2), (2, 1)), ('column_mm', 'column_mm', 'small_mm')),
    (((100, 16), (16, 16)), ('mm', 'mm', 'mm')),
    (((2, 3000), (3000, 16)), ('mm', 'mm', 'mm')),     # too many terms
])
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_thin_products_run_as_loops(shapes, expected, dtype, monkeypatch):
    """In fused_step, a product with at most two rows or terms (and few
    multiplications) is loops, any other a BLAS call: the same numbers as
    compile without fusion, a transposed input too. (The code runs as
    Python but for the first case: test_small_mm_sums_in_order checks the
    compiled loops, element by element.)"""
    if (shapes, dtype) != (((100, 2), (2, 16)), 'float64'):
        monkeypatch.setattr(numba.config, 'DISABLE_JIT', True)
    rng = np.random.default_rng(0)
    arrays = [operand(rng, shapes[0], dtype, 'T'),
              operand(rng, shapes[1], dtype, 'C')]
    results = []
    for fused in (False, True):
        x, w = (Value(a, dtype=dtype) for a in arrays)
        h = x @ w
        loss = (h * h).sum()
        mg.compile(loss, fuse=fused)
        for _ in range(2):
            loss.forward()
            loss.backward()
        results.append((loss.data, x.grad, w.grad))
    assert products(loss.executor.whole_source) == dict(
        zip(['forward', 'x.T @ g', 'g @ y.T'], expected))
    rtol = 1e-12 if dtype == 'float64' else 1e-5
    for plain, fused in zip(*results):
        np.testing.assert_allclose(fused, plain, rtol=rtol, atol=rtol)


def test_without_scipy_thin_products_run_in_the_step(monkeypatch):
    """Loops need no BLAS: without SciPy, a graph whose products are all
    thin is one fused_step still."""
    monkeypatch.setattr(fuse, '_blas', lambda: False)
    rng = np.random.default_rng(0)
    X, w = rng.standard_normal((50, 2)), rng.standard_normal((2, 1))
    results = []
    for fused in (False, True):
        x, W = Value(X), Value(w)
        loss = (x @ W).relu().sum()
        mg.compile(loss, fuse=fused)
        for _ in range(2):
            loss.forward()
            loss.backward()
        results.append((loss.data, x.grad, W.grad))
    source = loss.executor.whole_source
    assert 'def fused_step(' in source and ' mm(' not in source
    assert set(products(source).values()) == {'column_mm', 'small_mm'}
    for plain, fused in zip(*results):
        np.testing.assert_allclose(fused, plain, rtol=1e-12, atol=1e-14)


def quantile_model(dtype, rng):
    """relu(x @ W1 + b1) @ W2 + b2 under the pinball loss, as in W1."""
    W1 = Value(rng.standard_normal((10, 8)) * 0.3, dtype=dtype)
    b1 = Value(np.full(8, 0.1), dtype=dtype)
    W2 = Value(rng.standard_normal((8, 3)) * 0.3, dtype=dtype)
    b2 = Value(np.zeros(3), dtype=dtype)
    x = Value(shape=(None, 10), name='x', dtype=dtype, requires_grad=False)
    y = Value(shape=(None,), name='y', dtype=dtype, requires_grad=False)
    loss = losses.pinball((x @ W1 + b1).relu() @ W2 + b2, y, [0.1, 0.5, 0.9])
    return loss, [W1, b1, W2, b2]


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('run', ['compile', 'chunked'])
def test_fused_quantile_model_equals_compiled(dtype, run):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 10)).astype(dtype)
    y = rng.standard_normal(1000).astype(dtype)
    loss, params = quantile_model(dtype, np.random.default_rng(1))
    twin, twin_params = quantile_model(dtype, np.random.default_rng(1))
    mg.compile(loss)
    if run == 'compile':
        mg.compile(twin, fuse=True)
    else:
        mg.chunked(twin, rows=300, workers=2, fuse=True)
    tight = dtype == 'float64'
    for rows in (1000, 1000, 7, 1000):          # a new batch size between
        loss.forward(x=X[:rows], y=y[:rows])
        loss.backward()
        twin.forward(x=X[:rows], y=y[:rows])
        twin.backward()
        np.testing.assert_allclose(twin.data, loss.data,
                                   rtol=1e-13 if tight else 1e-6)
        for p, q in zip(params, twin_params):
            np.testing.assert_allclose(q.grad, p.grad,
                                       rtol=1e-12 if tight else 2e-5,
                                       atol=1e-15 if tight else 1e-7)
    source = mg.compiled_source(twin)
    assert 'def fused_add_relu_backward(' in source
    assert 'def fused_add_sub_mul_abs_mean_forward(' in source
    # the mean's count is its loop's size, not a number: one kernel for
    # every batch size (and chunk size: 300, 100 and 7 rows)
    assert '/ F(n0 * n1)' in source
    assert not re.search(r'/ F\(\d', source)


def profiled_step(loss, feeds) -> str:
    """cProfile's table of one forward and backward."""
    profiler = cProfile.Profile()
    profiler.enable()
    loss.forward(**feeds)
    loss.backward()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).print_stats()
    return out.getvalue()


def test_fused_kernels_are_named_in_cprofile(monkeypatch):
    monkeypatch.setattr(fuse, 'WHOLE_ELEMENTS', -1)     # as large graphs run
    loss, _ = quantile_model('float32', np.random.default_rng(1))
    mg.compile(loss, fuse=True)
    feeds = {'x': np.ones((50, 10), np.float32),
             'y': np.ones(50, np.float32)}
    loss.forward(**feeds)
    loss.backward()
    names = profiled_step(loss, feeds)
    for name in ('fused_add_relu_forward', 'fused_add_relu_backward',
                 'fused_add_sub_mul_abs_mean_backward', 'matmul_backward'):
        assert f'({name})' in names


def test_elementwise_user_op_fuses_and_others_stay_calls(forget_user_ops):
    from micrograd.engine import Op, apply

    def cube_forward(xp, x):
        return x * x * x

    def cube_backward(xp, g, out, x, need):
        return (3 * g * x * x,)

    def branchy_forward(xp, x):                 # a branch on a value
        return x if bool(xp.all(x > 0)) else -x

    def branchy_backward(xp, g, out, x, need):
        return (g,)
    cube = Op('test_cube', cube_forward, cube_backward, kind='elementwise')
    branchy = Op('test_branchy', branchy_forward, branchy_backward,
                 kind='elementwise')
    x = Value(np.linspace(0.5, 2, 6))
    loss = (apply(branchy, apply(cube, x) + 1.0)).sum()
    mg.compile(loss, fuse=True)
    loss.forward()
    loss.backward()
    np.testing.assert_allclose(x.grad, 3 * x.data ** 2)
    source = mg.compiled_source(loss)
    assert 'def fused_test_cube_add_forward(' in source
    assert 'branchy_forward(xp' in source


def test_long_chain_splits_into_kernels_and_reads_its_constants():
    x = Value(np.linspace(-1, 1, 16))
    twin = Value(np.linspace(-1, 1, 16))
    losses_ = []
    for v in (x, twin):
        y = v
        for _ in range(40):             # 120 ops: more than one kernel
            y = (y * 1.0001 + 0.0001).tanh()
        losses_.append(y.sum())
    loss, twin_loss = losses_
    mg.compile(loss, fuse=True)
    mg.compile(twin_loss)
    for _ in range(2):
        loss.forward()
        loss.backward()
        twin_loss.forward()
        twin_loss.backward()
        np.testing.assert_allclose(loss.data, twin_loss.data, rtol=1e-13)
        np.testing.assert_allclose(x.grad, twin.grad, rtol=1e-12)
    source = mg.compiled_source(loss)
    assert source.count('= fused_mul_add_tanh_backward(') >= 2
    assert 'F(1.0001)' in source        # the number constants, as literals


def test_data_inside_a_kernel_is_not_kept():
    x = Value(np.linspace(-1, 1, 6))
    inner = (x * 2.0).relu()
    loss = (inner + 1.0).sum()
    mg.compile(loss, fuse=True)
    loss.forward()
    loss.forward()
    np.testing.assert_allclose(loss.data,
                               np.sum(np.maximum(2 * x.data, 0) + 1))
    with pytest.raises(ValueError, match="'relu' node is not kept: it lives "
                                         'inside a fused kernel'):
        inner.data + 1
