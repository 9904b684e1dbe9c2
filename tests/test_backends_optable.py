"""The whole op table on Dask arrays and on PyTorch CPU tensors (both
through array-api-compat): `Value(library_array)` picks the backend from
the array, and every forward value and gradient, interpreted and compiled
(`micrograd.compile`), must equal the NumPy run in float64.

Each row's fixed examples (0-d, size-1, broadcasting, duplicates, ...) run
in one test. On PyTorch every example runs interpreted and compiled, and a
few drawn cases run too. On Dask, where building a graph costs about a
millisecond an op, the examples run interpreted and compiled in turn; the
arrays are cut in chunks of 2 along every axis, so the rules meet several
chunks, and all the results of a row are computed at once (one
`dask.compute`).

Rows left out, with the reason shown by pytest -ra: the casts to float128,
which neither library has.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose

import micrograd as mg
from micrograd.backend import to_host
from library_arrays import dask_array, torch_tensor
from op_table import ROWS, to_namespace

pytest.importorskip('array_api_compat')
NO_FLOAT128 = {'astype(x, float128)', 'x.astype(float128)'}




LIBRARIES = {'dask': dask_array, 'torch': torch_tensor}


def array_type(library):
    if library == 'dask':
        import dask.array as da
        return da.Array
    import torch
    return torch.Tensor


def numpy_run(row, case, upstream):
    leaves = [mg.Value(a) for a in case.arrays]
    out = row.fn(*leaves, **case.params)
    out.backward(upstream)
    return [out.data] + [leaf.grad for leaf in leaves]


def library_run(row, case, upstream, convert, compiled):
    """[out, grads...] on the library's arrays, interpreted or compiled;
    not yet computed (Dask)."""
    leaves = [mg.Value(convert(a)) for a in case.arrays]
    out = row.fn(*leaves, **to_namespace(case.params, convert))
    if compiled:
        mg.compile(out)
        out.forward()
    out.backward(convert(upstream))
    return out.bk, [out.data] + [leaf.grad for leaf in leaves]


def check_cases(row, cases, library, executors):
    """Each case run by the executors that `executors(k)` names for the
    k-th case (False: interpreted, True: compiled); all the results are
    computed at once, then compared with NumPy's."""
    convert, kind = LIBRARIES[library], array_type(library)
    expected, pending, bk = [], [], None
    for k, case in enumerate(cases):
        shape = row.fn(*[mg.Value(a) for a in case.arrays],
                       **case.params).shape
        upstream = np.random.default_rng(0).standard_normal(shape)
        want = numpy_run(row, case, upstream)
        for compiled in executors(k):
            bk, got = library_run(row, case, upstream, convert, compiled)
            assert all(isinstance(a, kind) for a in got), [
                type(a) for a in got]
            expected += want
            pending += got
    computed = bk.materialize(*pending) if pending else ()
    for got, want in zip(computed, expected):
        got = to_host(got)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def both(k):
    return (False, True)


def in_turn(k):
    """Interpreted for even cases, compiled for odd ones: every row meets
    both executors (each row has at least four examples), at half the cost
    of building every Dask graph twice."""
    return (bool(k % 2),)


ROW_PARAMS = [pytest.param(row, id=row.name, marks=(
    [pytest.mark.skip(reason='neither Dask nor PyTorch has float128')]
    if row.name in NO_FLOAT128 else [])) for row in ROWS]


@pytest.mark.parametrize('row', ROW_PARAMS)
def test_dask_examples_match_numpy(row):
    check_cases(row, row.example_cases(), 'dask', in_turn)


@pytest.mark.parametrize('row', ROW_PARAMS)
def test_torch_examples_match_numpy(row):
    check_cases(row, row.example_cases(), 'torch', both)


@pytest.mark.parametrize('row', ROW_PARAMS)
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_torch_drawn_cases_match_numpy(row, data):
    check_cases(row, [data.draw(row.cases(), label='case')], 'torch',
                lambda k: (data.draw(st.booleans(), label='compiled'),))


def test_exclusions_are_only_those_stated():
    assert NO_FLOAT128 <= {row.name for row in ROWS}
    assert all('float128' in name for name in NO_FLOAT128)
    assert min(len(row.examples) for row in ROWS) >= 2    # see in_turn
