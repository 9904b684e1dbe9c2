"""Second derivatives of every row of the op table, from the same rules run
on Values (`backward(create_graph=True)`): against central differences of
the first derivative (`gradcheck(order=2)`) and against PyTorch's double
backward (`torch.autograd.grad(..., create_graph=True)`) where installed.

A second derivative is checked as the gradient of
x -> sum_i grad_i(x) . w_i, grad_i the first derivative along a random
upstream gradient u, for random w_i: every second derivative matters.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from numpy.testing import assert_allclose

import micrograd as mg
from op_table import ROWS, to_namespace

# rows whose second derivative is not checked here, and why
NOT_CHECKED = {
    'astype(x, float128)': 'float128 has no PyTorch dtype; the float64 rows '
                           'check astype',
    'x.astype(float128)': 'float128 has no PyTorch dtype; the float64 rows '
                          'check astype',
}

# rows whose rule cannot run on Values (no second derivative), and why: not
# checked by any test here
NO_SECOND_ORDER = {}

# rows not twice differentiable where their output is 0 (the norm of a zero
# vector, the std of equal elements: kinks, like |x| at 0): drawn cases there
# (or near enough that central differences straddle it) are not checked
KINK_WHERE_ZERO = {'linalg.norm(x, axis, keepdims)',
                   'std(x, axis, ddof, keepdims)', 'x.std(axis, ddof, keepdims)'}

# PyTorch's pow rule is 0 for the base's gradient wherever the exponent is
# exactly 0, so its mixed second derivative there is 0; micrograd's is 1 / x,
# as central differences (above) confirm: cases with such an exponent are
# compared with central differences only
TORCH_MASKS_ZERO_EXPONENT = {'pow(x, y)', 'x ** y'}

ROW_PARAMS = [pytest.param(row, id=row.name) for row in ROWS]
EXAMPLE_PARAMS = [pytest.param(row, case, id=f'{row.name}-{i}')
                  for row in ROWS for i, case in enumerate(row.example_cases())]


@pytest.mark.parametrize('row, case', EXAMPLE_PARAMS)
def test_second_derivative_examples(row, case):
    if row.name in NO_SECOND_ORDER:
        pytest.skip(NO_SECOND_ORDER[row.name])
    assert mg.gradcheck(row.bind(case.params), *case.arrays, order=2)


@pytest.mark.parametrize('row', ROW_PARAMS)
@settings(max_examples=8)
@given(data=st.data())
def test_second_derivative(row, data):
    if row.name in NO_SECOND_ORDER:
        pytest.skip(NO_SECOND_ORDER[row.name])
    case = data.draw(row.cases(), label='case')
    if row.name in KINK_WHERE_ZERO:
        out = row.fn(*[mg.Value(a) for a in case.arrays], **case.params)
        # central differences need the kink farther than their step
        assume(np.all(np.abs(np.asarray(out.data)) > 1e-3))
    assert mg.gradcheck(row.bind(case.params), *case.arrays, order=2)


def second_derivatives(row, case, u, ws):
    """micrograd: the gradient of sum_i grad_i . w_i, grad_i along u."""
    leaves = [mg.Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    out.backward(u, create_graph=True)
    total = mg.Value(0.0)
    for v, w in zip(leaves, ws):
        total = total + (v.grad * w).sum()
        v.grad = None           # a leaf outside total's graph keeps None
    total.backward()
    return [np.zeros(v.shape) if v.grad is None else v.grad for v in leaves]


def torch_second_derivatives(torch, row, case, u, ws):
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
               for a in case.arrays]
    params = to_namespace(case.params, torch.as_tensor)
    out = row.torch(torch, *tensors, **params)
    firsts = torch.autograd.grad(out, tensors, torch.as_tensor(u),
                                 create_graph=True, allow_unused=True)
    total = sum((g * torch.as_tensor(w)).sum() for g, w in zip(firsts, ws)
                if g is not None and g.requires_grad)
    if not torch.is_tensor(total):          # first derivatives constant
        return [np.zeros(a.shape) for a in case.arrays]
    seconds = torch.autograd.grad(total, tensors, allow_unused=True)
    return [np.zeros(t.shape) if s is None else s.numpy(force=True)
            for s, t in zip(seconds, tensors)]


@pytest.mark.parametrize('row, case', EXAMPLE_PARAMS)
def test_second_derivative_matches_torch(row, case):
    torch = pytest.importorskip('torch')
    if row.name in NOT_CHECKED or row.name in NO_SECOND_ORDER:
        pytest.skip({**NOT_CHECKED, **NO_SECOND_ORDER}[row.name])
    if row.name in TORCH_MASKS_ZERO_EXPONENT and (case.arrays[1] == 0).any():
        pytest.skip('an exponent of exactly 0: PyTorch masks the derivative')
    rng = np.random.default_rng(1)
    out = row.fn(*[mg.Value(a) for a in case.arrays], **case.params)
    u = rng.standard_normal(out.shape)
    ws = [rng.standard_normal(a.shape) for a in case.arrays]
    ours = second_derivatives(row, case, u, ws)
    theirs = torch_second_derivatives(torch, row, case, u, ws)
    for a, b in zip(ours, theirs):
        assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def cube_forward(xp, x):
    return x ** 3


def cube_backward_first_order_only(xp, g, out, x, need):
    # right first derivative, but x cut from the graph: second derivative 0
    x = mg.stop_gradient(x) if isinstance(x, mg.Value) else x
    return (g * 3 * x ** 2,)


def test_gradcheck_order_2_finds_a_wrong_second_derivative():
    from micrograd.gradcheck import GradcheckError
    op = mg.Op('cube_first_order_only_for_test', cube_forward,
               cube_backward_first_order_only, kind='elementwise')
    try:
        x = np.array([0.5, -1.0, 2.0])
        assert mg.gradcheck(lambda x: mg.apply(op, x), x)
        with pytest.raises(GradcheckError, match='backward gives 0'):
            mg.gradcheck(lambda x: mg.apply(op, x), x, order=2)
    finally:
        del mg.OPS['cube_first_order_only_for_test']
    with pytest.raises(ValueError, match='gradcheck: order must be 1 or 2'):
        mg.gradcheck(mg.tanh, x, order=3)
