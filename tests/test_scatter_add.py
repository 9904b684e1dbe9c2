"""The gradient of indexing beyond NumPy: the generic `scatter_add` (sort
the positions, sum each run of equal ones, find each output's run with
`searchsorted`) and the generic `getitem` it relies on, against NumPy's
indexing and `add.at`; its memory (proportional to the output and the
index, never a dense one-hot matrix); CuPy's `cupyx.scatter_add`, imported
only for CuPy arrays."""
import sys
import tracemalloc
import types

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from micrograd.backend import Backend, resolve_backend

xp = pytest.importorskip('array_api_strict')
STRICT = resolve_backend(xp)


def to_numpy(a):
    return np.from_dlpack(a)


def on_strict(index):
    items = index if isinstance(index, tuple) else (index,)
    items = tuple(xp.asarray(i) if isinstance(i, np.ndarray) else i
                  for i in items)
    return items if isinstance(index, tuple) else items[0]


A = np.array
INDICES = [
    ((5,), A([1, 1, 4, -1, 0, 1])),                 # duplicates, negative
    ((5,), A(3)),                                   # a 0-d integer array
    ((5,), A([], dtype=np.int64)),                  # nothing picked
    ((3, 4), (A([0, 2, 0]), A([1, 1, 1]))),         # repeated pairs
    ((3, 4), (A([[0], [2], [-1]]), A([1, -4, 1]))),  # broadcast arrays
    ((3, 4), (1, A([3, 0, 3]))),                    # an int beside an array
    ((2, 3, 4), (A([1, 1]), slice(None), A([0, 0]))),   # arrays apart
    ((2, 3, 4), (slice(None), A([2, 0, 2]), A([1, 1, 1]))),  # adjacent
    ((2, 3, 4), (Ellipsis, A([3, -1]))),
    ((2, 3, 4), (A([1, 0]), None, slice(1, None))),  # None beside arrays
    ((2, 3, 4), (slice(None, None, -1), A([2, 2]))),  # a backward step too
    ((3, 2), A([[0, 1], [1, 1]])),                  # a 2-D integer array
    ((2, 3), A([[True, False, True], [False, False, True]])),   # masks
    ((3, 2), A([True, False, True])),
    ((2, 3), (slice(None), A([True, False, True]))),
    ((2, 3), (A([False, True]), A([2, 0, 1]) >= 1)),
    ((2,), A(True)),                                # 0-d masks
    ((2,), A(False)),
    ((4, 3), (slice(3, 0, -2), slice(None, None, -1))),  # basic only
    ((4, 3), (0, None, slice(None, 1, -1))),
]


@pytest.mark.parametrize('shape, index', INDICES,
                         ids=[str(i) for i in range(len(INDICES))])
def test_generic_getitem_and_scatter_add_agree_with_numpy(shape, index):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    picked = x[index]
    g = rng.standard_normal(picked.shape)
    want = np.zeros(shape)
    np.add.at(want, index, g)
    got = STRICT.getitem(xp.asarray(x), on_strict(index))
    assert tuple(got.shape) == picked.shape
    assert_array_equal(to_numpy(got), picked)
    summed = STRICT.scatter_add(shape, on_strict(index), xp.asarray(g))
    assert tuple(summed.shape) == shape
    assert_allclose(to_numpy(summed), want, rtol=1e-15, atol=1e-15)


def test_runs_are_summed_from_their_own_rows_only():
    """A huge gradient beside a small one does not swallow it (a difference
    of cumulative sums would give 1e20 - 1e20 = 0 for the second row)."""
    keys = xp.asarray(np.array([0, 1, 1, 3]))
    values = xp.asarray(np.array([1e20, 1.0, 2.0, -1e-30]))
    out = STRICT.segment_sum(keys, values, 5)
    assert to_numpy(out).tolist() == [1e20, 3.0, 0.0, -1e-30, 0.0]


@pytest.mark.parametrize('rest', [(), (4,)])
def test_generic_scatter_add_memory_is_proportional_to_output_and_index(
        rest):
    """5,000 indices (duplicates and negatives among them) into 20,000
    rows: the peak is a small multiple of the bytes of the output, the
    index and the gradient (a one-hot matrix took 900 MB here)."""
    rng = np.random.default_rng(0)
    index = rng.integers(-20_000, 20_000, 5_000)
    g = rng.standard_normal((5_000,) + rest)
    shape = (20_000,) + rest
    idx_strict, g_strict = xp.asarray(index), xp.asarray(g)
    tracemalloc.start()
    try:
        out = STRICT.scatter_add(shape, idx_strict, g_strict)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    want = np.zeros(shape)
    np.add.at(want, index, g)
    assert_allclose(to_numpy(out), want, rtol=1e-13, atol=1e-13)
    size = 8 * (np.prod(shape) + index.size + g.size)
    assert peak < 8 * size, f'peak {peak / 1e6:.1f} MB for {size / 1e6:.2f} MB'


def test_cupyx_is_imported_only_for_cupy_arrays(monkeypatch):
    """Any other library never imports cupyx (an import of it here would
    fail); a CuPy backend hands the whole index, masks included, to
    cupyx.scatter_add."""
    monkeypatch.setitem(sys.modules, 'cupyx', None)     # import -> error
    index = xp.asarray(np.array([[True, False], [True, True]]))
    out = STRICT.scatter_add((2, 2), index, xp.asarray(np.ones(3)))
    assert to_numpy(out).tolist() == [[1, 0], [1, 1]]

    calls = []

    def scatter_add(out, index, values):
        calls.append((tuple(out.shape), index, values))

    monkeypatch.setitem(sys.modules, 'cupyx', types.SimpleNamespace(
        scatter_add=scatter_add))
    fake_cupy = Backend(xp, 'cupy')
    values = xp.asarray(np.ones(3))
    out = fake_cupy.scatter_add((2, 2), index, values)
    assert calls == [((2, 2), index, values)]


def _library(name):
    if name == 'array_api_strict':
        return xp.asarray
    if name == 'torch':
        return pytest.importorskip('torch').as_tensor
    da = pytest.importorskip('dask.array')
    return lambda a: da.from_array(a, chunks=2)


@pytest.mark.parametrize('library', ['array_api_strict', 'torch', 'dask'])
@pytest.mark.parametrize('index', [
    (A([0, 1]), A([3, 0])), (A([0, 1]), A([-4, 0])), (slice(None), A([5])),
    (A([[0], [2]]), A([1]))], ids=['past-end', 'before-start', 'one-array',
                                  'rows'])
def test_an_index_out_of_bounds_is_an_index_error(library, index):
    """As in NumPy: never a flat position that picks another element (the
    Dask check runs when the index is computed)."""
    import micrograd as mg
    from micrograd.backend import to_host
    pytest.importorskip('array_api_compat')
    convert = _library(library)
    with pytest.raises(IndexError, match='out of bounds for axis'):
        v = mg.Value(convert(np.arange(6.0).reshape(2, 3)))
        to_host(v[tuple(convert(i) if isinstance(i, np.ndarray) else i
                        for i in index)].data)
    with pytest.raises(IndexError, match='out of bounds for axis'):
        values = mg.Value(convert(np.ones(np.zeros((2, 3))[
            tuple(np.minimum(i, 0) if isinstance(i, np.ndarray) else i
                  for i in index)].shape)))
        to_host(mg.scatter_add((2, 3), tuple(
            convert(i) if isinstance(i, np.ndarray) else i for i in index),
            values).data)
