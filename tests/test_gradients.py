"""Every row of the op table against central differences (micrograd.gradcheck:
float64, a random upstream gradient), on hypothesis-drawn shapes and on each
row's fixed examples (0-d, size-1, broadcasting, duplicate indices, ...);
that the table covers every op; and the documented rules at ties and kinks.
"""
import inspect

import numpy as np
import pytest
from hypothesis import given, strategies as st
from numpy.testing import assert_allclose

import micrograd as mg
from micrograd.gradcheck import GradcheckError
from op_table import (ANY, KINKS, ROWS, differentiable_value_methods,
                      public_differentiable_functions)

ROW_PARAMS = [pytest.param(row, id=row.name) for row in ROWS]
EXAMPLE_PARAMS = [pytest.param(row, case, id=f'{row.name}-{i}')
                  for row in ROWS for i, case in enumerate(row.example_cases())]


def check(row, case):
    assert all(a.dtype == np.float64 for a in case.arrays)
    assert mg.gradcheck(row.bind(case.params), *case.arrays)


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_gradient(row, data):
    check(row, data.draw(row.cases(), label='case'))


@pytest.mark.parametrize('row, case', EXAMPLE_PARAMS)
def test_gradient_examples(row, case):
    check(row, case)


# ---------------------------------------------------------------- coverage

def ops_in_graph(row, case):
    values = [mg.Value(a) for a in case.arrays]
    out = row.fn(*values, **case.params)
    return {node.op.name for node in out.topo() if node.op is not None}


def test_every_op_with_a_backward_rule_has_a_row():
    """Every op of the library (not those users define: their rules are
    `checked`) that has a backward rule."""
    differentiable = {name for name, op in mg.OPS.items()
                      if op.backward is not None and not op.checked}
    covered = {name for row in ROWS for name in row.covers}
    assert differentiable - covered == set(), 'ops without a row'


def test_every_public_differentiable_function_has_a_row():
    called = {f for row in ROWS for f in row.public}
    missing = sorted(name for name, f in
                     public_differentiable_functions().items()
                     if f not in called)
    assert missing == [], 'public functions without a row'


def test_every_differentiable_value_method_has_a_row():
    used = {name for row in ROWS for name in row.uses}
    assert differentiable_value_methods() - used == set()


@pytest.mark.parametrize('row', ROW_PARAMS)
def test_row_exercises_the_ops_it_claims(row):
    for case in row.example_cases():
        assert set(row.covers) <= ops_in_graph(row, case)


@pytest.mark.parametrize('row', [p for p in ROW_PARAMS if p.values[0].uses])
def test_row_uses_the_value_methods_it_claims(row, monkeypatch):
    hits = set()

    def spy(name, function):
        def wrapper(*args, **kwargs):
            hits.add(name)
            return function(*args, **kwargs)
        return wrapper

    for name in row.uses:
        attr = inspect.getattr_static(mg.Value, name)
        if isinstance(attr, property):
            monkeypatch.setattr(mg.Value, name, property(spy(name, attr.fget)))
        else:
            monkeypatch.setattr(mg.Value, name, spy(name, attr))
    case = row.example_cases()[0]
    row.fn(*[mg.Value(a) for a in case.arrays], **case.params)
    assert hits == set(row.uses)


def test_gradcheck_can_fail():
    """The checker itself catches a wrong rule (here: d/dx x**2 taken as x)."""
    def wrong_square_backward(xp, g, out, x, need):
        return (g * x,)
    def square_forward(xp, x):
        return x * x
    wrong = mg.Op('wrong_square_for_test', square_forward,
                  wrong_square_backward)
    try:
        with pytest.raises(GradcheckError):
            mg.gradcheck(lambda x: mg.apply(wrong, x), np.array([0.5, -1.5]))
    finally:
        del mg.OPS['wrong_square_for_test']


# ---------------------------------------------------------------- broadcasting

BROADCAST_PATTERNS = [((3, 1), (3, 4)), ((4,), (3, 4)), ((), (3, 4)),
                      ((1, 4), (3, 1)), ((2, 1, 3), (4, 1)),
                      ((1,), (1, 1, 1)), ((5, 1, 1), (1, 2, 1))]


@pytest.mark.parametrize('xs, ys', BROADCAST_PATTERNS)
def test_broadcast_mul_gradients(xs, ys):
    """z = x * y: dL/dx = sum of u * y over the broadcast axes, in x's
    shape; likewise for y."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(xs), rng.standard_normal(ys)
    u = rng.standard_normal(np.broadcast_shapes(xs, ys))
    vx, vy = mg.Value(x), mg.Value(y)
    (vx * vy).backward(u)
    assert vx.grad.shape == xs and vy.grad.shape == ys
    assert_allclose(vx.grad, _sum_to(u * y, xs), rtol=1e-12)
    assert_allclose(vy.grad, _sum_to(u * x, ys), rtol=1e-12)
    mg.gradcheck(lambda a, b: a * b, x, y)
    mg.gradcheck(lambda a, b: (a - b) / (1.5 + b * b), x, y)


def _sum_to(g, shape):
    """Reference unbroadcast: sum leading axes, then size-1 axes."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead)))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1),
                 keepdims=True)


def test_bias_added_to_rows_gets_the_sum_over_rows():
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
    u = rng.standard_normal((5, 4))
    vb = mg.Value(b)
    (mg.Value(x) + vb).backward(u)
    assert_allclose(vb.grad, u.sum(axis=0), rtol=1e-12)


# ---------------------------------------------------------------- ties and kinks

def expected_tie_share(x, u, axis, keepdims, pick):
    """The documented rule: g is split equally between tied extrema."""
    m = pick(x, axis=axis, keepdims=True)
    hit = (x == m).astype(float)
    g = u if keepdims else np.expand_dims(u, axis) if axis is not None \
        else np.reshape(u, (1,) * x.ndim)
    return hit * g / hit.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize('reduce, pick', [(mg.max, np.max), (mg.min, np.min)])
@pytest.mark.parametrize('axis, keepdims', [(None, False), (1, False),
                                            (0, True), ((0, 1), False)])
def test_max_min_ties_share_gradient_equally(reduce, pick, axis, keepdims):
    x = np.array([[1., 3., 3., -2.],
                  [-2., 0., 3., -2.],
                  [5., 5., 5., 5.]])
    rng = np.random.default_rng(3)
    u = rng.standard_normal(pick(x, axis=axis, keepdims=keepdims).shape)
    v = mg.Value(x)
    reduce(v, axis=axis, keepdims=keepdims).backward(u)
    assert_allclose(v.grad, expected_tie_share(x, u, axis, keepdims, pick),
                    rtol=1e-12)
    # the shares of each reduced group add up to its upstream gradient
    total = v.grad.sum(axis=axis, keepdims=keepdims)
    assert_allclose(total, u, rtol=1e-12)


def test_max_of_all_equal_splits_evenly():
    v = mg.Value(np.full((2, 3), 4.0))
    mg.max(v).backward(np.array(6.0))
    assert_allclose(v.grad, np.full((2, 3), 1.0))


@pytest.mark.parametrize('binary, wins', [(mg.maximum, np.greater),
                                          (mg.minimum, np.less)])
def test_maximum_minimum_ties_share_gradient_equally(binary, wins):
    x = np.array([1., 2., 3., 4.])
    y = np.array([1., 0., 3., 9.])
    u = np.array([0.7, -1.3, 2.0, 0.4])
    vx, vy = mg.Value(x), mg.Value(y)
    binary(vx, vy).backward(u)
    tie = x == y
    assert_allclose(vx.grad, np.where(tie, u / 2, np.where(wins(x, y), u, 0)))
    assert_allclose(vy.grad, np.where(tie, u / 2, np.where(wins(y, x), u, 0)))
    vx2 = mg.Value(x)
    binary(vx2, vx2).backward(u)            # x against itself: 1/2 + 1/2
    assert_allclose(vx2.grad, u)


def test_relu_and_abs_have_gradient_zero_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    for f, expected in ((mg.relu, [0.0, 0.0, 1.0]), (mg.abs, [-1.0, 0.0, 1.0])):
        v = mg.Value(x)
        f(v).backward()
        assert_allclose(v.grad, expected)


def test_clip_passes_gradient_inside_bounds_included():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    v = mg.Value(x)
    mg.clip(v, -1.0, 1.0).backward(np.arange(1.0, 6.0))
    assert_allclose(v.grad, [0.0, 2.0, 3.0, 4.0, 0.0])
    v = mg.Value(x)
    mg.clip(v, None, 0.0).backward()
    assert_allclose(v.grad, [1.0, 1.0, 1.0, 0.0, 0.0])


def test_duplicate_indices_accumulate():
    x = np.arange(5.0)
    v = mg.Value(x)
    idx = np.array([1, 3, 1, -4, 0])          # 1 three times (-4 is 1)
    u = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])
    v[idx].backward(u)
    assert_allclose(v.grad, [10000.0, 1101.0, 0.0, 10.0, 0.0])
    v2 = mg.Value(np.arange(6.0).reshape(2, 3))
    v2[:, np.array([2, 2])].backward(np.ones((2, 2)))
    assert_allclose(v2.grad, [[0, 0, 2], [0, 0, 2]])


def test_split_pieces_cover_the_input():
    x = np.arange(12.0).reshape(3, 4)
    v = mg.Value(x)
    pieces = mg.split(v, [1, 3], axis=1)
    assert [p.shape for p in pieces] == [(3, 1), (3, 2), (3, 1)]
    weights = [1.0, 2.0, 3.0]
    total = mg.add(mg.add(pieces[0].sum() * weights[0],
                          pieces[1].sum() * weights[1]),
                   pieces[2].sum() * weights[2])
    total.backward()
    assert_allclose(v.grad, np.broadcast_to([1.0, 2.0, 2.0, 3.0], (3, 4)))


# ------------------------------------------------ drawn kinks and ties

KINK_PARAMS = [pytest.param(kink, id=kink.row.name) for kink in KINKS]
KINK_EXAMPLES = [pytest.param(kink, case, id=f'{kink.row.name}-{i}')
                 for kink in KINKS
                 for i, case in enumerate(kink.row.example_cases())]


def check_rule(kink, case):
    """The gradients at kinks and ties are the README's rules."""
    leaves = [mg.Value(a) for a in case.arrays]
    out = kink.row.fn(*leaves, **case.params)
    u = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(u)
    for leaf, want in zip(leaves, kink.rule(case.arrays, case.params, u)):
        assert_allclose(leaf.grad, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize('kink', KINK_PARAMS)
@given(data=st.data())
def test_documented_rule_at_drawn_kinks_and_ties(kink, data):
    check_rule(kink, data.draw(kink.row.cases(), label='case'))


@pytest.mark.parametrize('kink, case', KINK_EXAMPLES)
def test_documented_rule_at_kinks_and_ties_examples(kink, case):
    check_rule(kink, case)


def test_specials_are_drawn():
    """The op table's samplers do hit exact zeros, -0.0 and repeated
    elements (ties) where the op is smooth."""
    rng = np.random.default_rng(0)
    (a,) = ANY(rng, [(200,)])
    assert (a == 0).sum() > 10 and np.signbit(a[a == 0]).any()
    assert len(np.unique(a)) < 190


# ---------------------------------------------------------------- 0 * inf

SINGULAR = {  # f, x: some x where f's derivative is infinite or undefined
    'sqrt': (mg.sqrt, [-1.0, 0.0, -0.0, 4.0]),
    'log': (mg.log, [-1.0, 0.0, -0.0, 4.0]),
    'log1p': (mg.log1p, [-2.0, -1.0, 3.0]),
    'x ** 0.5': (lambda v: v ** 0.5, [-1.0, 0.0, 4.0]),
    'x ** -1': (lambda v: v ** -1.0, [0.0, -0.0, 4.0]),
    'number / x': (lambda v: 1.0 / v, [0.0, -0.0, 4.0]),
    '0 ** x': (lambda v: mg.pow(0.0, v), [-1.0, 2.0]),
    'arctanh': (mg.arctanh, [-1.0, 1.0, 2.0, 0.5]),
    'arcsin': (mg.arcsin, [-1.0, 1.0, 2.0, 0.5]),
}


@pytest.mark.parametrize('name', list(SINGULAR))
def test_a_branch_where_does_not_pick_sends_back_zero(name):
    """where(ok, f(x), 0) where f's derivative is inf or NaN outside `ok`:
    the gradient there is 0 (not 0 * inf = NaN), the exact gradient of the
    function where computes; elsewhere f's own."""
    f, x = SINGULAR[name]
    x = np.array(x)
    with np.errstate(all='ignore'):
        ok = np.isfinite(f(mg.Value(x)).data) & (x > -0.99) & (x < 0.99) \
            if name in ('arctanh', 'arcsin') else (x > 0.5) | (x == 2.0)
        v = mg.Value(x)
        mg.where(ok, f(v), 0.0).backward(np.full(x.shape, 1.0))
        w = mg.Value(x)
        f(w).backward(np.full(x.shape, 1.0))
    np.testing.assert_array_equal(v.grad, np.where(ok, w.grad, 0.0))
    assert np.isfinite(v.grad).all()


def test_infinite_and_undefined_derivatives_stay_where_they_are_used():
    with np.errstate(all='ignore'):
        for f, x, want in ((mg.sqrt, 0.0, np.inf), (mg.log, -1.0, np.nan),
                           (mg.log, 0.0, np.inf), (mg.arcsin, 2.0, np.nan)):
            v = mg.Value(np.array([x]))
            f(v).backward()
            np.testing.assert_array_equal(v.grad, [want])
        v = mg.Value(np.array([0.0]))
        (mg.sqrt(v) * 0.0).backward()         # a zero weight: 0, not 0 * inf
        np.testing.assert_array_equal(v.grad, [0.0])


@pytest.mark.parametrize('binary', [mg.maximum, mg.minimum])
def test_maximum_minimum_with_nan_pass_the_gradient(binary):
    """A NaN has no order: each input gets g (as in PyTorch), so the NaN
    shows in the gradients instead of a silent 0."""
    x, y = np.array([1.0, np.nan, np.nan]), np.array([np.nan, 2.0, np.nan])
    vx, vy = mg.Value(x), mg.Value(y)
    binary(vx, vy).backward(np.array([0.5, 2.0, 3.0]))
    np.testing.assert_array_equal(vx.grad, [0.5, 2.0, 3.0])
    np.testing.assert_array_equal(vy.grad, [0.5, 2.0, 3.0])


def test_nan_input_gives_nan_gradient_through_relu_abs_and_clip():
    """NaN in, NaN out, NaN gradient: never a silent 0."""
    x = np.array([np.nan, -1.0, 0.0, 2.0])
    for f, want in ((mg.relu, [np.nan, 0, 0, 1]), (mg.abs, [np.nan, -1, 0, 1]),
                    (lambda v: mg.clip(v, -0.5, 1.0), [np.nan, 0, 1, 0])):
        v = mg.Value(x)
        f(v).backward(np.ones(4))
        np.testing.assert_array_equal(v.grad, want)


def test_many_float16_ties_share_the_gradient():
    """70,000 tied maxima in float16 (a count float16 cannot hold): each
    gets 1/70,000 of the gradient, in float16."""
    v = mg.Value(np.zeros(70_000), dtype='float16')
    mg.max(v).backward()
    assert v.grad.dtype == np.float16
    np.testing.assert_allclose(v.grad.astype(float), 1 / 70_000,
                               rtol=5e-3)     # float16 subnormals
