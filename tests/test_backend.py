"""The backend (micrograd/backend.py): dtypes by name, the float test, the
shim's functions on NumPy and on the strict Array API namespace (which must
agree), the read-only guard for user rules, and backend resolution."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import backend
from micrograd.backend import NUMPY, is_float, parse_einsum, resolve_backend

xp_strict = pytest.importorskip('array_api_strict')
STRICT = resolve_backend(xp_strict)


def to_numpy(x):
    return np.asarray(x) if isinstance(x, np.ndarray) else np.from_dlpack(x)


def test_dtypes_by_name_and_a_clear_error_for_unknown_ones():
    assert NUMPY.dtype('float32') == np.float32
    assert STRICT.dtype('float64') == xp_strict.float64
    assert NUMPY.dtype(np.float64) == np.float64   # a dtype passes through
    with pytest.raises(TypeError, match="'float99'.*float32"):
        NUMPY.dtype('float99')
    with pytest.raises(TypeError, match="'sum'"):
        NUMPY.dtype('sum')              # a namespace name that is no dtype


def test_is_float_per_backend():
    assert is_float(NUMPY, np.dtype('float32'))
    assert not is_float(NUMPY, np.dtype('int64'))
    assert not is_float(NUMPY, np.dtype(bool))
    assert is_float(STRICT, xp_strict.float32)
    assert not is_float(STRICT, xp_strict.int32)


def test_every_spelling_of_one_library_is_one_backend():
    assert resolve_backend('numpy') is NUMPY
    assert resolve_backend(np) is NUMPY
    assert resolve_backend(NUMPY) is NUMPY
    assert resolve_backend(xp_strict) is resolve_backend('array_api_strict')
    assert backend.backend_of(np.ones(2)) is NUMPY
    assert backend.backend_of(xp_strict.ones(2)) is STRICT


def test_read_only_guards_numpy_arrays_only_as_a_view():
    a = np.ones(3)
    view = NUMPY.read_only(a)
    with pytest.raises(ValueError, match='read-only'):
        view *= 2
    a *= 2                              # the caller's array stays writable
    assert view.tolist() == [2, 2, 2]


@pytest.mark.parametrize('index', [
    np.array([0, 2, 2]), (slice(None), np.array([1, 1, 0])), (1, slice(0, 2)),
    (slice(None, None, -1), None)])
def test_scatter_add_agrees_on_numpy_and_the_standard(index):
    shape = (3, 3)
    g = np.arange(9.0).reshape(shape)[index] + 1
    want = NUMPY.scatter_add(shape, index, g)
    strict_index = tuple(xp_strict.asarray(i) if isinstance(i, np.ndarray)
                         else i for i in (index if isinstance(index, tuple)
                                          else (index,)))
    strict_index = strict_index if isinstance(index, tuple) else strict_index[0]
    got = STRICT.scatter_add(shape, strict_index, xp_strict.asarray(g))
    np.testing.assert_array_equal(to_numpy(got), want)
    if not isinstance(index, tuple) or any(isinstance(i, np.ndarray)
                                           for i in index):
        assert want.sum() == g.sum()    # duplicates accumulate


@pytest.mark.parametrize('subscripts,shapes', [
    ('ij,jk->ik', [(2, 3), (3, 4)]), ('bij,bjk->bik', [(2, 2, 3), (2, 3, 1)]),
    ('i,i->', [(4,), (4,)]), ('ij->ji', [(2, 3)]), ('ij,k->ijk', [(2, 1), (3,)])])
def test_einsum_shim_agrees_with_numpy(subscripts, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    got = STRICT.einsum(subscripts, *[xp_strict.asarray(a) for a in arrays])
    np.testing.assert_allclose(to_numpy(got), np.einsum(subscripts, *arrays),
                               rtol=1e-12)


def test_parse_einsum_refuses_what_it_cannot_do():
    assert parse_einsum('ij,jk->ik', 2) == (['ij', 'jk'], 'ik')
    assert parse_einsum('ij,jk', 2) == (['ij', 'jk'], 'ik')
    with pytest.raises(ValueError, match='names 2 operands, got 1'):
        parse_einsum('ij,jk->ik', 1)
    with pytest.raises(ValueError, match='distinct letters'):
        parse_einsum('ii->i', 1)
    with pytest.raises(ValueError, match='not in inputs'):
        parse_einsum('ij->k', 1)


def test_mutable_flags():
    assert NUMPY.mutable and STRICT.mutable
    da = pytest.importorskip('dask.array')
    assert not backend.backend_of(da.ones(2)).mutable
