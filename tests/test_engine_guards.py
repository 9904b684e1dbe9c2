"""The engine's guards against silently wrong numbers: type promotion,
elementwise ==, requires_grad changes, stale activations, threads, integer
placeholders, user rules, errors that name the op, and detect_anomaly.
Each runs on every executor where it applies."""
import threading
import warnings

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value

EXECUTORS = ['interpreted', 'compiled', 'chunked']


pytestmark = pytest.mark.usefixtures('forget_user_ops')


def _execute(root, how):
    if how == 'compiled':
        mg.compile(root)
    elif how == 'chunked':
        mg.chunked(root, rows=3, workers=2)
    return root


def _regression(how, rows=8):
    """mean((x @ w + b - y)**2) on batch placeholders, and its leaves."""
    rng = np.random.default_rng(0)
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    w, b = Value(rng.standard_normal(3)), Value(np.array(0.5))
    d = x @ w + b - y
    loss = _execute((d * d).mean(axis=0), how)
    feeds = {'x': rng.standard_normal((rows, 3)), 'y': rng.standard_normal(rows)}
    return loss, w, b, feeds


# ---- type promotion ----------------------------------------------------

def test_constants_beside_booleans_and_integers_are_floats():
    x = Value(np.array([1.0, 2.0, 3.0]))
    assert mg.where(x < 2.5, x, 0.5).data.tolist() == [1.0, 2.0, 0.5]
    assert ((x < 2.5) * 1.5).data.tolist() == [1.5, 1.5, 0.0]
    assert float((mg.sum(x < 2.5) + 0.5).data) == 2.5
    ints = Value(np.array([1, 2, 3]), dtype='int64', requires_grad=False)
    assert (ints * 0.5).data.tolist() == [0.5, 1.0, 1.5]
    assert (ints * 0.5).dtype == np.float64


def test_where_gradient_with_a_constant_branch():
    x = Value(np.array([1.0, 2.0, 3.0]))
    mg.where(x < 2.5, x, 0.5).backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0]


def test_integer_values_take_the_float_dtype_of_the_graph():
    x = Value(np.ones(3), dtype='float32')
    i = Value(np.array([1, 2, 3]), dtype='int64', requires_grad=False)
    assert (x * i).dtype == np.float32
    assert (x * 0.5).dtype == np.float32
    assert (x + np.arange(3)).dtype == np.float32
    (x * i).backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1, 2, 3]


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_python_numbers_on_either_side_take_the_float_values_dtype(dtype):
    x = Value(np.array([0.5, 2.0]), dtype=dtype)
    c = np.asarray(0.1, dtype=dtype)
    for y, want in [(x * 0.1, x.data * c), (0.1 * x, c * x.data),
                    (0.1 - x, c - x.data), (x + 3, x.data + 3),
                    (3 ** x, np.asarray(3, dtype) ** x.data),
                    (x / x, x.data / x.data)]:
        assert y.dtype == np.dtype(dtype) and y.requires_grad
        assert y.data.tobytes() == want.tobytes()
        parents = [p for p in y.parents if p is not x]
        assert all(not p.requires_grad and p.dtype == y.dtype
                   for p in parents)
    ints = Value(np.array([1, 2]), dtype='int64', requires_grad=False)
    assert (2 - ints).dtype == np.int64 and (2 - ints).data.tolist() == [1, 0]
    assert (0.5 * ints).dtype == np.float64 and not (0.5 * ints).requires_grad


def test_integer_values_cannot_ask_for_a_gradient():
    with pytest.raises(TypeError, match='floating-point'):
        Value(np.array([1, 2]), dtype='int64')
    v = Value(np.array([1, 2]), dtype='int64', requires_grad=False)
    with pytest.raises(TypeError, match='floating-point'):
        v.requires_grad = True


def test_two_float_dtypes_do_not_mix_silently():
    a = Value(np.ones(2), dtype='float32')
    b = Value(np.ones(2), dtype='float64')
    with pytest.raises(TypeError, match='float32 and float64'):
        a * b
    assert (a * mg.astype(b, 'float32')).dtype == np.float32


def test_float32_model_refuses_a_float64_placeholder_that_asks_for_grads():
    model = mg.nn.TensorMLP(3, [4, 1], rng=0, dtype='float32')
    x = Value(shape=(None, 3), name='x', dtype='float64')
    with pytest.raises(TypeError, match='float32 and float64'):
        model(x)


def test_float64_data_takes_the_float32_parameters_dtype():
    model = mg.nn.TensorMLP(3, [4, 1], rng=0, dtype='float32')
    x = Value(shape=(None, 3), name='x', dtype='float64', requires_grad=False)
    loss = model(x).sum()
    loss.forward(x=np.ones((5, 3)))
    loss.backward()
    assert loss.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    data = Value(np.ones((5, 3)), dtype='float64', requires_grad=False)
    assert model(data).dtype == np.float32
    a, b = (Value(np.ones(2), dtype=d, requires_grad=False)
            for d in ('float32', 'float64'))
    assert (a + b).dtype == np.float64          # data only: NumPy's rule


def test_astype_gradient_comes_back_in_the_input_dtype():
    x = Value(np.array([1.5, 2.5]), dtype='float32')
    y = x.astype('float64') * 2.0
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 2.0]
    assert not x.astype('int32').requires_grad


def test_bogus_dtype_is_a_type_error_listing_the_accepted_ones():
    with pytest.raises(TypeError, match="'bogus'.*float32"):
        Value(np.ones(2), dtype='bogus')


# ---- == and != -----------------------------------------------------------

def test_equality_is_elementwise():
    x = Value(np.array([0.0, 1.0, 0.0]))
    assert mg.where(x == 0.0, 10.0, x).data.tolist() == [10.0, 1.0, 10.0]
    assert (x != 0.0).data.tolist() == [False, True, False]
    assert (np.zeros(3) == x).data.tolist() == [True, False, True]
    assert (x == x).data.tolist() == [True, True, True]


def test_values_stay_hashable_by_identity():
    x, y = Value(np.zeros(2)), Value(np.zeros(2))
    assert len({x, y, x}) == 2 and {x: 1}[x] == 1
    assert (x == None) is False and (x != None) is True  # noqa: E711
    with pytest.raises(TypeError, match='ambiguous'):
        x in [y]                                      # would call ==


# ---- requires_grad changes, every executor -------------------------------

@pytest.mark.parametrize('how', EXECUTORS)
def test_requires_grad_changed_after_building_is_honoured(how):
    loss, w, b, feeds = _regression(how)
    loss.forward(**feeds)
    loss.backward()
    b.requires_grad = False
    b.grad = None
    loss.forward(**feeds)
    loss.backward()
    assert b.grad is None
    np.testing.assert_allclose(w.grad, _grad_of_w(feeds), rtol=1e-12)
    b.requires_grad = True
    loss.forward(**feeds)
    loss.backward()
    assert b.grad is not None


def test_requires_grad_changed_between_building_parts_of_a_graph():
    w, b = Value(np.array([1.0, 2.0])), Value(np.array([3.0]))
    older = w * 3.0                     # made before the change
    w.requires_grad = False
    loss = (older * 2.0 + b).sum()      # made after it
    loss.backward()
    assert not older.requires_grad and older.grad is None
    assert w.grad is None and b.grad.tolist() == [2.0]
    fresh = (w * 3.0 * 2.0 + b).sum()   # made after it, all of it
    fresh.backward()
    assert w.grad is None and b.grad.tolist() == [2.0]


def _grad_of_w(feeds):
    loss, w, b, _ = _regression('interpreted')
    loss.forward(**feeds)
    loss.backward()
    return w.grad


def test_requires_grad_of_an_op_output_is_refused():
    x = Value(np.ones(2))
    with pytest.raises(ValueError, match="output of 'mul'"):
        (x * 2).requires_grad = False


# ---- stale activations ----------------------------------------------------

@pytest.mark.parametrize('how', EXECUTORS)
def test_backward_after_a_parameter_changed_needs_a_forward(how):
    loss, w, b, feeds = _regression(how)
    loss.forward(**feeds)
    loss.backward()
    w.data -= 0.1
    with pytest.raises(RuntimeError, match='stale.*forward'):
        loss.backward()
    loss.forward(**feeds)
    loss.backward()
    np.testing.assert_allclose(w.grad, _grad_after(feeds, 0.1), rtol=1e-12)


def _grad_after(feeds, step):
    loss, w, b, _ = _regression('interpreted')
    w.data -= step
    loss.forward(**feeds)
    loss.backward()
    return w.grad


def test_eager_graph_is_stale_after_an_optimiser_step():
    w = Value(np.array([1.0, 2.0]))
    loss = (w * w).sum()
    loss.backward()
    mg.optim.SGD([w], learning_rate=0.1).step()
    with pytest.raises(RuntimeError, match='stale'):
        loss.backward()
    loss.forward()
    loss.backward()
    assert w.grad.tolist() == pytest.approx([1.6, 3.2])


def test_load_state_dict_makes_graphs_stale_until_forward():
    model = mg.nn.Linear(2, 1, rng=0)
    loss = model(Value(np.ones((3, 2)), requires_grad=False)).sum()
    model.load_state_dict(model.state_dict())
    with pytest.raises(RuntimeError, match='stale'):
        loss.backward()


# ---- threads ---------------------------------------------------------------

@pytest.mark.parametrize('how', ['interpreted', 'compiled'])
def test_backward_after_another_threads_forward_is_refused(how):
    loss, w, b, feeds = _regression(how)
    other = {k: v + 1 for k, v in feeds.items()}
    loss.forward(**feeds)
    t = threading.Thread(target=lambda: loss.forward(**other))
    t.start()
    t.join()
    with pytest.raises(RuntimeError, match='another thread'):
        loss.backward()


def test_threads_each_with_their_own_graph_agree_with_one_thread():
    feeds = [_regression('interpreted', rows=5 + k)[3] for k in range(4)]
    expected = [_grad_of_w(f) for f in feeds]
    results = [None] * 4

    def work(k):
        for _ in range(20):
            loss, w, b, _ = _regression('interpreted')
            loss.forward(**feeds[k])
            loss.backward()
            results[k] = w.grad

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_many_threads_on_one_graph_never_return_another_feeds_gradient():
    loss, w, b, feeds = _regression('interpreted')
    batches = [{k: v * (1 + j) for k, v in feeds.items()} for j in range(4)]
    expected = [_grad_of_w(f) for f in batches]
    wrong, refused = [], []

    def work(j):
        for _ in range(50):
            try:
                loss.forward(**batches[j])
                loss.backward()
                got = w.grad
            except RuntimeError:
                refused.append(j)
                continue
            if not np.allclose(got, expected[j]):
                wrong.append(j)

    threads = [threading.Thread(target=work, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


# ---- integer placeholders -------------------------------------------------

def test_integer_placeholder_is_quiet_and_takes_whole_numbers_only():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        y = Value(shape=(None,), name='y', dtype='int64', requires_grad=False)
    out = y * 1.0
    out.forward(y=np.array([1.0, 2.0]))
    assert out.data.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="'y'.*whole numbers"):
        out.forward(y=np.array([2.5, 1.0]))
    with pytest.raises(ValueError, match="'y'.*not fed"):
        out.forward()


# ---- errors that name the op ---------------------------------------------

@pytest.mark.parametrize('how', ['interpreted', 'compiled'])
def test_batch_placeholders_with_different_rows_are_named(how):
    x = Value(shape=(None, 10), name='x', requires_grad=False)
    y = Value(shape=(None, 10), name='y', requires_grad=False)
    w = Value(np.ones(10))
    loss = _execute(((x - y) * w).sum(), how)
    with pytest.raises(ValueError, match='different numbers of rows'):
        loss.forward(x=np.ones((20, 10)), y=np.ones((5, 10)))


@pytest.mark.parametrize('how', ['interpreted', 'compiled'])
def test_rule_errors_during_a_walk_name_the_op_and_shapes(how):
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)))
    loss = _execute((x @ w).sum(), how)
    loss.forward(x=np.ones((4, 3)))
    w.data = np.ones((4, 2))              # the parameter's shape changed
    with pytest.raises(ValueError, match=r'matmul.*\(4, 3\) and \(4, 2\)'):
        loss.forward(x=np.ones((4, 3)))


def _user_op(backward, name='user_op', two=False):
    def fwd(xp, *xs):
        return xs[0] * 2.0 if not two else xs[0] * xs[1]
    return mg.Op(name, fwd, backward)


def test_user_rule_without_need_is_named():
    def bwd(xp, g, out, x, y):
        return g * y, g * x
    op = _user_op(bwd, 'two_no_need', two=True)
    out = mg.apply(op, Value(np.ones(2)), Value(np.ones(2)))
    with pytest.raises(TypeError, match="two_no_need backward.*'need'"):
        out.backward()


def test_user_rule_returning_a_bare_array_is_named():
    def bwd(xp, g, out, x, need):
        return g * 2.0
    out = mg.apply(_user_op(bwd, 'bare'), Value(np.ones(2)))
    with pytest.raises(TypeError, match='bare backward.*one gradient per input'):
        out.backward()


def test_user_rule_returning_too_few_gradients_names_the_op():
    def bwd(xp, g, out, x, y, need):
        return (g * y,)
    op = _user_op(bwd, 'too_few', two=True)
    out = mg.apply(op, Value(np.ones(2)), Value(np.ones(2)))
    with pytest.raises(ValueError, match="too_few backward.*1 gradient.*2"):
        out.backward()


def test_user_rule_gradient_of_the_wrong_shape_names_the_op():
    def bwd(xp, g, out, x, need):
        return (xp.ones((5,)),)
    out = mg.apply(_user_op(bwd, 'bad_shape'), Value(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r'bad_shape backward.*\(5,\).*\(2, 3\)'):
        out.backward()


def test_user_rule_writing_into_g_is_stopped_before_it_corrupts_anything():
    def bwd(xp, g, out, x, need):
        g *= 2.0
        return (g,)
    x = Value(np.ones(3))
    mid = x * 1.0
    out = mg.apply(_user_op(bwd, 'writes_g'), mid) + mid
    with pytest.raises(ValueError, match='writes_g backward.*read-only'):
        out.backward()


# ---- detect_anomaly -----------------------------------------------------

@pytest.mark.parametrize('how', ['interpreted', 'compiled'])
def test_detect_anomaly_stops_at_the_first_non_finite_output(how):
    x = Value(shape=(None,), name='x', requires_grad=False)
    w = Value(np.ones(1))
    loss = _execute(((x * w).log() * 2.0).sum(), how)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loss.forward(x=np.array([-1.0, 1.0]))     # off: NaN, no error
        assert np.isnan(loss.data)
        with mg.detect_anomaly():
            with pytest.raises(FloatingPointError, match="output of 'log'"):
                loss.forward(x=np.array([-1.0, 1.0]))
    loss.forward(x=np.array([2.0, 1.0]))
    assert np.isfinite(loss.data)


def test_detect_anomaly_names_the_op_whose_gradient_is_not_finite():
    x = Value(np.array([0.0, 4.0]))
    y = x.sqrt().sum()
    with mg.detect_anomaly():
        with pytest.raises(FloatingPointError, match="gradient of 'sqrt'"):
            y.backward()


# ---- one-element Values as numbers ------------------------------------------

def test_item_float_and_int_of_a_one_element_value():
    loss = (Value(np.array([1.5, 2.0])) * 2.0).sum()
    assert loss.item() == 7.0 and isinstance(loss.item(), float)
    assert float(loss) == 7.0 and int(loss) == 7
    assert float(Value(np.array([[3.0]]))) == 3.0
    with pytest.raises(ValueError, match=r'shape \(2,\)'):
        Value(np.ones(2)).item()
    with pytest.raises(ValueError, match='one element'):
        float(Value(np.ones(2)))
