"""Every row of the op table against PyTorch: forward values and gradients
(with the same random upstream gradient) must agree. Skipped when torch is
not installed.

Mappings: max/min reductions -> torch.amax/amin (which split ties evenly, as
micrograd does); tensordot(a, b, n) -> torch.tensordot(a, b, dims=(a's last n
axes from the last, b's first n)); einsum -> torch.einsum; getitem -> torch
indexing (a gather of NumPy's positions where torch indexes differently:
negative steps, ints beside arrays); see op_table.py.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from numpy.testing import assert_allclose

import micrograd as mg
from op_table import KINKS, ROWS, to_namespace

torch = pytest.importorskip('torch')

ROW_PARAMS = [pytest.param(row, id=row.name) for row in ROWS]
EXAMPLE_PARAMS = [pytest.param(row, case, id=f'{row.name}-{i}')
                  for row in ROWS for i, case in enumerate(row.example_cases())]


def compare(row, case):
    leaves = [mg.Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(upstream)

    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
               for a in case.arrays]
    params = to_namespace(case.params, torch.as_tensor)
    t_out = row.torch(torch, *tensors, **params)
    assert tuple(t_out.shape) == out.shape
    assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    t_out.backward(torch.as_tensor(upstream))
    for leaf, t in zip(leaves, tensors):
        want = (np.zeros(t.shape) if t.grad is None else t.grad.numpy())
        assert_allclose(leaf.grad, want, rtol=1e-10, atol=1e-12)


def test_every_row_has_a_torch_equivalent():
    assert [row.name for row in ROWS if row.torch is None] == []


@pytest.mark.parametrize('row', ROW_PARAMS)
@given(data=st.data())
def test_matches_torch(row, data):
    compare(row, data.draw(row.cases(), label='case'))


@pytest.mark.parametrize('row, case', EXAMPLE_PARAMS)
def test_matches_torch_examples(row, case):
    compare(row, case)


@pytest.mark.parametrize('name, torch_name', [('max', 'amax'),
                                              ('min', 'amin')])
@pytest.mark.parametrize('axis', [None, 0, 1, (0, 1)])
def test_tied_extrema_split_like_torch(name, torch_name, axis):
    x = np.array([[1., 3., 3.], [3., -1., -1.], [2., 2., 2.]])
    v = mg.Value(x)
    out = getattr(mg, name)(v, axis=axis)
    u = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(u)
    t = torch.tensor(x, requires_grad=True)
    dims = (0, 1) if axis is None else axis
    getattr(torch, torch_name)(t, dim=dims).backward(torch.as_tensor(u))
    assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize('name', ['maximum', 'minimum'])
def test_tied_maximum_minimum_split_like_torch(name):
    x, y = np.array([1., 2., 3., -1.]), np.array([1., 0., 3., 5.])
    u = np.array([0.3, -1.1, 2.0, 0.7])
    vx, vy = mg.Value(x), mg.Value(y)
    getattr(mg, name)(vx, vy).backward(u)
    tx, ty = (torch.tensor(x, requires_grad=True),
              torch.tensor(y, requires_grad=True))
    getattr(torch, name)(tx, ty).backward(torch.as_tensor(u))
    assert_allclose(vx.grad, tx.grad.numpy())
    assert_allclose(vy.grad, ty.grad.numpy())


KINK_PARAMS = [pytest.param(kink, id=kink.row.name) for kink in KINKS]


@pytest.mark.parametrize('kink', KINK_PARAMS)
@given(data=st.data())
def test_kinks_and_ties_match_torch(kink, data):
    """At relu's and abs's 0, at ties and at clip's bounds torch follows
    the rules micrograd documents."""
    compare(kink.row, data.draw(kink.row.cases(), label='case'))
