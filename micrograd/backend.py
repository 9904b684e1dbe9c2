"""Backends: the array library a graph computes with.

A backend is an Array API standard namespace (`xp.exp`, `xp.permute_dims`,
`xp.sum(..., axis=, keepdims=)`...) plus a small shim for what the standard
lacks: `scatter_add` (the gradient of indexing), `einsum`, `materialize`
(one compute for lazy libraries) and the `is_lazy` flag.

A leaf picks its backend from its array's type, once per type; every node
made from it inherits it. NumPy 2 is its own standard namespace; other
libraries come through their `__array_namespace__` or `array-api-compat`,
imported only when such an array shows up.
"""
from __future__ import annotations

from numbers import Number

import math

import numpy as np


class Backend:
    """An array namespace and the shim. Standard names are looked up on the
    namespace once, then cached on the object (plain attribute access)."""

    is_lazy = False
    mutable = True      # arrays take x[...] = y and x *= c in place

    def __init__(self, namespace, name: str):
        self.ns, self.name = namespace, name
        self.floats = {}        # dtype -> is it a real floating type?

    def __getattr__(self, attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        value = getattr(self.ns, attr)
        setattr(self, attr, value)
        return value

    def __repr__(self):
        return f'Backend({self.name!r})'

    def dtype(self, spec):
        """A dtype of this library from a name ('float32') or a dtype."""
        if not isinstance(spec, str):
            return spec
        found = getattr(self.ns, spec, None) if spec in DTYPES else None
        if found is None:
            raise TypeError(f'dtype {spec!r} is not one of {self.name}\'s: '
                            f'{", ".join(d for d in DTYPES if hasattr(self.ns, d))}')
        return found

    def read_only(self, x):
        """x, guarded against writes where the library can (user rules)."""
        return x

    def materialize(self, *arrays):
        """`arrays` computed, in one compute for all of them, and returned as
        arrays of this library (identity for eager libraries)."""
        return arrays

    def synchronize(self, *arrays) -> None:
        """Wait until the device has done the work asked of it (and, given
        arrays, until they exist), so that a clock read next measures it:
        CuPy and PyTorch on CUDA queue their kernels and return at once.
        Nothing to wait for on the CPU."""
        if self.name == 'cupy':             # cupy only for CuPy arrays
            import cupy
            cupy.cuda.get_current_stream().synchronize()
        elif self.name == 'torch':
            import torch
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.synchronize()

    def multiply_into(self, out, x, c):
        """x * c written into `out` (optimiser steps: no new array)."""
        out[...] = x
        out *= c
        return out

    def keep_where(self, mask, g):
        """g where the boolean mask holds, 0 elsewhere (masked gradients)."""
        return self.ns.where(mask, g, 0.0)

    def getitem(self, x, index):
        """x[index] with NumPy's meaning, in the standard's terms: a basic
        index spells out every axis and steps forward (a backward step is a
        `flip`); one 1-D integer array among full slices is a `take`; any
        other integer arrays and boolean masks become one `take` of flat
        positions (the standard's own array indexing is narrower)."""
        if _is_basic(index):
            items, flips = _forward_steps(index, tuple(x.shape))
            out = x[items]
            return self.ns.flip(out, axis=flips) if flips else out
        found = _integer_axis(self.ns, index, tuple(x.shape))
        if found is not None:
            axis, idx = found
            return self.ns.take(x, self.wrap_index(idx, x.shape[axis], axis),
                                axis=axis)
        return self._take_advanced(x, index)

    def scatter_add(self, shape, index, g):
        """zeros(shape) with `g` added at `x[index]`; duplicates accumulate.
        Memory is proportional to the output and the index: the indexed
        positions are sorted and summed run by run (`segment_sum`), never
        through a dense one-hot matrix. CuPy uses `cupyx.scatter_add`."""
        out = self.ns.zeros(shape, dtype=g.dtype)
        if _is_basic(index):    # no element twice: one assignment
            items, flips = _forward_steps(index, tuple(shape))
            if flips:
                g = self.ns.flip(g, axis=flips)
            items = tuple(i for i in items if i is not None)
            target = tuple(out[items].shape)
            if math.prod(target):           # (a 0-size write is nothing)
                out[items] = self.reshape(g, target)
            return out
        if self.name == 'cupy':             # only ever imported for CuPy
            import cupyx
            cupyx.scatter_add(out, index, g)
            return out
        found = _integer_axis(self.ns, index, tuple(shape))
        if found is not None:               # whole rows along one axis
            axis, idx = found
            rows = self.ns.moveaxis(g, axis, 0)
            idx = self.wrap_index(idx, shape[axis], axis)
            summed = self.segment_sum(idx, rows, shape[axis])
            return self.ns.moveaxis(summed, 0, axis)
        size = math.prod(shape)             # any index: flat positions
        positions = self.getitem(self.reshape(self.ns.arange(size), shape),
                                 index)
        summed = self.segment_sum(self.reshape(positions, (-1,)),
                                  self.reshape(g, (-1,)), size)
        return self.reshape(summed, tuple(shape))

    def segment_sum(self, keys, values, n: int):
        """out[r] = the sum of values[i] (rows along axis 0) over every i
        with keys[i] == r, for r in range(n); keys in [0, n).

        Sort the keys; a segmented scan (Hillis-Steele: at step s, add the
        row s places back where it has the same key) leaves in the last row
        of each run of equal keys the run's sum, after about log2(k) passes
        over the k rows; each output row r finds the last row of its run
        with `searchsorted`. Memory: a few arrays of k rows and of n rows.
        (Each run is summed only from its own rows, so no difference of
        large partial sums loses a small one, as a cumulative sum would.)"""
        ns = self.ns
        k, rest = keys.shape[0], tuple(values.shape[1:])
        if k == 0 or n == 0:
            return ns.zeros((n,) + rest, dtype=values.dtype)
        order = ns.argsort(keys, stable=True)
        keys, values = ns.take(keys, order), ns.take(values, order, axis=0)
        ones = (1,) * len(rest)             # (keys against rows of values)
        step = 1
        while step < k:
            same = self.reshape(keys[step:] == keys[:-step],
                                (k - step,) + ones)
            values = ns.concat([values[:step, ...], values[step:, ...] +
                                ns.where(same, values[:-step, ...], 0.0)])
            step *= 2
        wanted = ns.arange(n, dtype=keys.dtype)
        last = ns.searchsorted(keys, wanted, side='right') - 1
        last = ns.where(last < 0, 0, last)  # (r before every key: absent)
        present = self.reshape(ns.take(keys, last) == wanted, (n,) + ones)
        return ns.where(present, ns.take(values, last, axis=0), 0.0)

    def nonzero(self, mask):
        """The integer arrays of a boolean mask's True places."""
        return self.ns.nonzero(mask)

    def wrap_index(self, idx, side: int, axis: int):
        """An integer index array into an axis of length `side`, negative
        entries wrapped. An entry outside [-side, side) is an IndexError,
        as in NumPy (some libraries' `take` would wrap it or, as a flat
        position, pick another element without a word)."""
        if bool(self.ns.any((idx < -side) | (idx >= side))):
            raise IndexError(_out_of_bounds(tuple(idx.shape), side,
                                            axis))
        return self.ns.where(idx < 0, idx + side, idx)

    def _take_advanced(self, x, index):
        """x[index] for integer arrays and boolean masks anywhere (NumPy's
        rules), as one `take` along the indexed axes flattened into one:
        masks become their `nonzero` arrays, an int beside arrays a 0-d
        array, None a new axis; the broadcast arrays give flat positions
        into those axes; the result's broadcast axes go where the arrays
        stood when they were adjacent, first otherwise."""
        ns = self.ns
        items = _spell_out(_expand_masks(self, index), x.ndim)
        for k, i in enumerate(items):       # None: a new axis of x
            if i is None or isinstance(i, _NewAxis):
                x = ns.expand_dims(x, axis=k)
        items = tuple(slice(None) if i is None else
                      i.index if isinstance(i, _NewAxis) else i
                      for i in items)
        picked = [k for k, i in enumerate(items) if not isinstance(i, slice)]
        x = self.getitem(x, tuple(i if isinstance(i, slice) else slice(None)
                                  for i in items))
        sides = [x.shape[k] for k in picked]
        arrays = ns.broadcast_arrays(*[
            ns.asarray(items[k]) if isinstance(items[k], int) else items[k]
            for k in picked])
        flat = None
        for axis, side, idx in zip(picked, sides, arrays):  # C order
            idx = self.wrap_index(idx, side, axis)
            flat = idx if flat is None else flat * side + idx
        others = [k for k in range(x.ndim) if k not in picked]
        x = ns.permute_dims(x, tuple(picked + others))
        x = self.reshape(x, (math.prod(sides),) +
                         tuple(x.shape[len(picked):]))
        out = ns.take(x, self.reshape(flat, (-1,)), axis=0)
        out = self.reshape(out, tuple(flat.shape) + tuple(x.shape[1:]))
        if picked != list(range(picked[0], picked[-1] + 1)) or not picked[0]:
            return out                          # not adjacent: in front
        nb, before = flat.ndim, picked[0]
        return ns.permute_dims(out, tuple(range(nb, nb + before)) +
                               tuple(range(nb)) +
                               tuple(range(nb + before, out.ndim)))

    def einsum(self, subscripts: str, *operands):
        """Einstein summation by broadcasting and summing (no repeated
        index inside one operand)."""
        inputs, output = parse_einsum(subscripts, len(operands))
        letters = sorted(set(''.join(inputs)), key=''.join(inputs).index)
        total = None
        for sub, x in zip(inputs, operands):
            present = [c for c in letters if c in sub]
            x = self.ns.permute_dims(x, tuple(sub.index(c) for c in present))
            x = self.reshape(x, tuple(
                x.shape[present.index(c)] if c in sub else 1 for c in letters))
            total = x if total is None else total * x
        summed = tuple(i for i, c in enumerate(letters) if c not in output)
        if summed:
            total = self.ns.sum(total, axis=summed)
        kept = [c for c in letters if c in output]
        return self.ns.permute_dims(total, tuple(kept.index(c) for c in output))


class NumpyBackend(Backend):
    """NumPy 2: the standard names are NumPy's own."""

    def __init__(self):
        super().__init__(np, 'numpy')
        self._ones = np.ones(0)

    # Fast paths for the hottest calls: NumPy's module-level wrappers cost
    # about a microsecond each, and where() is 4x slower than a multiply.
    def multiply_into(self, out, x, c):
        return np.multiply(x, c, out=out)

    def keep_where(self, mask, g):
        """g * mask (an inf or NaN upstream gradient at a masked element
        gives NaN, where the generic path gives 0)."""
        return g * mask

    def sum(self, x, axis=None, keepdims=False, dtype=None):
        if dtype is not None or x.dtype.kind == 'b':
            return np.sum(x, axis=axis, keepdims=keepdims, dtype=dtype)
        if (axis == (0,) and x.ndim == 2 and x.shape[0] > 64 and
                x.dtype.char in 'fd' and x.flags.c_contiguous):
            # down the rows (bias gradients): a BLAS product with ones is
            # about 8x faster than add.reduce on narrow rows
            ones = self._ones
            if ones.shape[0] != x.shape[0] or ones.dtype != x.dtype:
                self._ones = ones = np.ones(x.shape[0], dtype=x.dtype)
            total = ones @ x
            return total[None] if keepdims else total
        return np.add.reduce(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        if x.dtype.kind not in 'fc':
            return np.mean(x, axis=axis, keepdims=keepdims)
        n = x.size if axis is None else math.prod(x.shape[a] for a in axis)
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / n

    def reshape(self, x, shape, copy=None):
        return np.reshape(x, shape, copy=copy) if copy else x.reshape(shape)

    def matrix_transpose(self, x):
        return x.swapaxes(-1, -2)

    def getitem(self, x, index):
        return x[index]

    def read_only(self, x):
        view = x.view()
        view.flags.writeable = False
        return view

    def scatter_add(self, shape, index, g):
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    def einsum(self, subscripts, *operands):
        parse_einsum(subscripts, len(operands))
        return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


class DaskBackend(Backend):
    """Dask arrays through array-api-compat: lazy, computed by `materialize`."""
    is_lazy = True
    mutable = False     # x *= c makes a new array

    def materialize(self, *arrays):
        """One compute for all of `arrays` (work they share is done once);
        each comes back as a Dask array holding its computed chunks
        (`dask.persist`), so a graph built on it starts from them."""
        import dask
        return dask.persist(*arrays)

    def synchronize(self, *arrays) -> None:
        """Compute `arrays` (nothing runs until then); no arrays, no work
        is pending."""
        if arrays:
            self.materialize(*arrays)

    def reshape(self, x, shape, copy=None):
        """Dask reshapes only where chunks split or merge evenly; elsewhere
        the axes after the first, then all axes, go in one chunk first."""
        for whole in ((), tuple(range(1, x.ndim)), tuple(range(x.ndim))):
            try:
                return self.ns.reshape(x.rechunk({i: -1 for i in whole})
                                       if whole else x, shape, copy=copy)
            except NotImplementedError:
                if len(whole) == x.ndim:
                    raise

    def nonzero(self, mask):
        """A mask's True places, computed at once: they fix the shape of
        what the mask picks, which a graph must know when it is built."""
        import dask.array as da
        return tuple(da.from_array(i) for i in np.nonzero(to_host(mask)))

    def wrap_index(self, idx, side: int, axis: int):
        """(checked when computed: the index stays lazy)"""
        idx = idx.map_blocks(_check_bounds, side, axis, tuple(idx.shape),
                             dtype=idx.dtype)
        return self.ns.where(idx < 0, idx + side, idx)

    def take_along_axis(self, x, indices, axis: int = -1):
        """x picked at `indices` (x's shape but along `axis`) along `axis`,
        as one `take` of flat positions (Dask has no take_along_axis)."""
        ns = self.ns
        x, indices = ns.moveaxis(x, axis, -1), ns.moveaxis(indices, axis, -1)
        n, lead = x.shape[-1], tuple(indices.shape[:-1])
        starts = self.reshape(ns.arange(math.prod(lead)) * n, lead + (1,))
        flat = self.reshape(self.wrap_index(indices, n, axis) + starts,
                            (-1,))
        picked = ns.take(self.reshape(x, (-1,)), flat)
        picked = self.reshape(picked, tuple(indices.shape))
        return ns.moveaxis(picked, -1, axis)

    @property
    def linalg(self):
        return DaskLinalg(self.ns.linalg)


class DaskLinalg:
    """`xp.linalg` for Dask: the chunks' own library's function on the whole
    (batched) array in one lazy task. Dask's own linalg takes 2-D arrays
    only, has no det or slogdet, and its cholesky returns the upper
    factor. Anything else comes from array-api-compat's Dask linalg."""

    def __init__(self, linalg):
        self._linalg = linalg

    def __getattr__(self, name):
        return getattr(self._linalg, name)

    def inv(self, a):
        return _linalg_task('inv', tuple(a.shape), a)

    def cholesky(self, a, upper: bool = False):
        lower = _linalg_task('cholesky', tuple(a.shape), a)
        return self._linalg.matrix_transpose(lower) if upper else lower

    def det(self, a):
        return _linalg_task('det', tuple(a.shape[:-2]), a)

    def slogdet(self, a):
        from array_api_compat.dask.array.linalg import SlogdetResult
        return SlogdetResult(_linalg_task('slogdet', tuple(a.shape[:-2]), a,
                                          part=0),
                             _linalg_task('slogdet', tuple(a.shape[:-2]), a,
                                          part=1))

    def solve(self, a, b):
        if b.ndim == 1:
            shape = tuple(a.shape[:-1])
        else:
            shape = (np.broadcast_shapes(tuple(a.shape[:-2]),
                                         tuple(b.shape[:-2])) +
                     tuple(b.shape[-2:]))
        return _linalg_task('solve', shape, a, b)


def _out_of_bounds(shape: tuple, side: int, axis: int) -> str:
    return (f'an index (of shape {shape}) is out of bounds for axis {axis} '
            f'with size {side}')


def _check_bounds(block, side: int, axis: int, shape: tuple):
    """A Dask block of an index, refused if an entry is out of bounds."""
    if ((block < -side) | (block >= side)).any():
        raise IndexError(_out_of_bounds(shape, side, axis))
    return block


def _linalg_task(name: str, shape: tuple, *arrays, part=None):
    """The linalg function `name` of the chunks' library on whole arrays,
    as one Dask task whose result has `shape` (`part`: of a tuple)."""
    import dask
    import dask.array as da
    return da.from_delayed(dask.delayed(_whole_linalg)(name, part, *arrays),
                           shape=shape, dtype=arrays[0].dtype,
                           meta=arrays[0]._meta)


def _whole_linalg(name, part, *arrays):
    import array_api_compat
    result = getattr(array_api_compat.array_namespace(*arrays).linalg,
                     name)(*arrays)
    return result if part is None else result[part]


DTYPES = ('float16', 'float32', 'float64', 'float128', 'complex64',
          'complex128', 'bool', 'int8', 'int16', 'int32', 'int64', 'uint8',
          'uint16', 'uint32', 'uint64')
NUMPY = NumpyBackend()


def is_float(bk: Backend, dtype) -> bool:
    """Is `dtype` a real floating-point type? (Cached per backend and dtype.)"""
    found = bk.floats.get(dtype)
    if found is None:
        kind = getattr(dtype, 'kind', None)
        found = bk.floats[dtype] = (kind == 'f' if isinstance(kind, str) else
                                    bool(bk.isdtype(dtype, 'real floating')))
    return found
_BY_TYPE: dict[type, Backend] = {np.ndarray: NUMPY}
_BY_NAMESPACE: dict[int, Backend] = {id(np): NUMPY}


def default_backend() -> Backend:
    """The backend of placeholders and of numbers and lists: NumPy."""
    return NUMPY


def backend_of(x) -> Backend:
    """The backend for array `x`, cached by type."""
    bk = _BY_TYPE.get(type(x))
    if bk is None:
        bk = _BY_TYPE[type(x)] = _find_backend(x)
    return bk


def to_host(x) -> np.ndarray:
    """Any backend's array as a NumPy array on the host: computed (Dask),
    copied from the device (CuPy, PyTorch on CUDA), or as is (NumPy).
    Saving, drawing, checking and printing go through here."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, 'compute') and hasattr(x, 'dask'):      # Dask: compute once
        x = x.compute()
    if hasattr(x, 'get') and type(x).__module__.startswith('cupy'):
        return x.get()                                    # device to host
    if hasattr(x, 'detach') and hasattr(x, 'cpu'):        # PyTorch tensors
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)


# Every spelling of a library: name -> (the namespace module to import,
# the pip extra that brings it). Modules and arrays of the library resolve
# to the same Backend object as these names.
LIBRARIES = {
    'numpy': ('numpy', None),
    'dask': ('array_api_compat.dask.array', 'dask'),
    'cupy': ('array_api_compat.cupy', 'cupy'),
    'torch': ('array_api_compat.torch', 'torch'),
    'array_api_strict': ('array_api_strict', 'test'),
}
_ALIASES = {'np': 'numpy', 'dask.array': 'dask', 'pytorch': 'torch',
            'array_api_compat.numpy': 'numpy',
            'array_api_compat.dask': 'dask',
            'array_api_compat.dask.array': 'dask',
            'array_api_compat.cupy': 'cupy',
            'array_api_compat.torch': 'torch'}


def resolve_backend(spec) -> Backend:
    """The Backend for `backend=`: a Backend, a library name ('numpy',
    'dask', 'cupy', 'torch', 'array_api_strict'), a module (numpy, torch,
    dask.array, array_api_compat.torch, ...) or an array. Every spelling of
    one library gives the one Backend its arrays resolve to."""
    if isinstance(spec, Backend):
        return spec
    if isinstance(spec, str):
        return _for_name(spec)
    name = getattr(spec, '__name__', None)
    if isinstance(name, str) and type(spec).__name__ == 'module':
        library = _library(name)
        if library is not None:
            return _for_name(library)
        if hasattr(spec, '__array_api_version__'):
            return _for_namespace(spec)     # another standard namespace
        raise _unknown(repr(name))
    return backend_of(spec)             # an array


def _library(name: str) -> str | None:
    """The library a module or name spells ('dask.array' -> 'dask')."""
    if name in LIBRARIES:
        return name
    return _ALIASES.get(name)


def _for_name(name: str) -> Backend:
    library = _library(name)
    if library is None:                 # another standard namespace?
        import importlib
        try:
            module = importlib.import_module(name)
        except (ImportError, TypeError, ValueError):
            module = None
        if not hasattr(module, '__array_api_version__'):
            raise _unknown(repr(name))
        return _for_namespace(module)
    if library == 'numpy':
        return NUMPY
    module, extra = LIBRARIES[library]
    import importlib
    try:
        return _for_namespace(importlib.import_module(module))
    except ImportError as exc:
        raise ImportError(
            f"backend={name!r}: {exc.name or library} is not installed; "
            f'pip install "micrograd[{extra}]"'
            + (' and the CuPy wheel for your CUDA (cupy-cuda12x, ...)'
               if library == 'cupy' else '')) from None


def _unknown(what: str) -> ValueError:
    return ValueError(
        f'backend={what} is not an array library micrograd knows; give one '
        f'of {", ".join(map(repr, LIBRARIES))} (or its module, or an array '
        f'of it); pip install "micrograd[dask]", "micrograd[torch]" or '
        '"micrograd[cupy]" for the others')


def _find_backend(x) -> Backend:
    if isinstance(x, (np.ndarray, np.generic, Number, list, tuple)):
        return NUMPY
    library = type(x).__module__.split('.')[0]
    if library in ('dask', 'cupy', 'torch'):
        import array_api_compat
        return _for_namespace(array_api_compat.array_namespace(x))
    if hasattr(x, '__array_namespace__'):
        return _for_namespace(x.__array_namespace__())
    raise TypeError(f'Value: cannot wrap {type(x).__name__}; give an array '
                    'or a number')


def _for_namespace(ns) -> Backend:
    bk = _BY_NAMESPACE.get(id(ns))
    if bk is None:
        full = ns.__name__
        name = _library(full) or full
        if name == 'numpy':             # array_api_compat.numpy: NumPy's own
            return NUMPY
        cls = DaskBackend if name == 'dask' else Backend
        bk = _BY_NAMESPACE[id(ns)] = cls(ns, name)
        if cls is Backend:
            bk.mutable = _writes_in_place(ns)
    return bk


def _writes_in_place(ns) -> bool:
    """Whether the library's arrays are written in place by x *= c and
    x[...] = y (False for immutable arrays, such as JAX's)."""
    try:
        x = alias = ns.zeros((1,))
        x *= 2
        x[...] = ns.ones((1,))
    except Exception:
        return False
    return x is alias


def _is_basic(index) -> bool:
    """True for ints, slices, None and Ellipsis (no element is hit twice)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice))
               for i in items)


class _NewAxis:
    """A 0-d boolean mask: a new axis of length 1, indexed by `index` (an
    integer array: [0] where the mask is True, [] where it is False)."""

    def __init__(self, index):
        self.index = index


def _expand_masks(bk, index) -> tuple:
    """The index as a tuple, each boolean mask replaced by the integer
    arrays of its True places (one per axis it spans)."""
    items = []
    for i in (index if isinstance(index, tuple) else (index,)):
        dtype = getattr(i, 'dtype', None)
        if dtype is None or dtype != bk.bool:
            items.append(i)
        elif len(i.shape) == 0:
            items.append(_NewAxis(bk.nonzero(bk.reshape(i, (1,)))[0]))
        else:
            items.extend(bk.nonzero(i))
    return tuple(items)


def _spell_out(items: tuple, ndim: int) -> tuple:
    """Index items, one per axis of the result's source: ... and the
    implicit trailing axes as full slices (None and new axes stay)."""
    used = sum(1 for i in items
               if i is not None and i is not Ellipsis and
               not isinstance(i, _NewAxis))
    k = next((k for k, i in enumerate(items) if i is Ellipsis), len(items))
    return (items[:k] + (slice(None),) * (ndim - used) + items[k + 1:])


def _forward_steps(index, shape: tuple):
    """A basic index with every step positive, and the result's axes to
    flip: x[4:0:-2] is flip(x[2:5:2]) (some libraries refuse steps < 0)."""
    items = _spell_out(index if isinstance(index, tuple) else (index,),
                       len(shape))
    out, flips, axis, result_axis = [], [], 0, 0
    for i in items:
        if isinstance(i, slice) and i.step is not None and i.step < 0:
            picked = range(shape[axis])[i]
            i = (slice(picked[-1], picked[0] + 1, -i.step) if len(picked)
                 else slice(0, 0))
            flips.append(result_axis)
        out.append(i)
        axis += i is not None
        result_axis += not isinstance(i, int)
    return tuple(out), tuple(flips)


def _integer_axis(ns, index, shape):
    """(axis, idx) for an index made of full slices (or ...) and one 1-D
    integer array; None for any other index."""
    items, ndim = (index if isinstance(index, tuple) else (index,)), len(shape)
    if any(i is None for i in items):
        return None
    if any(i is Ellipsis for i in items):
        k = next(k for k, i in enumerate(items) if i is Ellipsis)
        items = (items[:k] + (slice(None),) * (ndim - len(items) + 1) +
                 items[k + 1:])
    arrays = [k for k, i in enumerate(items) if not isinstance(i, slice)]
    if (len(arrays) != 1 or len(items) > ndim or
            any(i != slice(None) for i in items if isinstance(i, slice))):
        return None
    axis, idx = arrays[0], items[arrays[0]]
    if (len(getattr(idx, 'shape', ())) != 1 or
            not ns.isdtype(idx.dtype, 'integral')):
        return None
    return axis, idx


def parse_einsum(subscripts: str, count: int):
    """'ij,jk->ik' -> (['ij', 'jk'], 'ik'); implicit output is the sorted
    indices that appear once. Repeated indices inside an operand and '...'
    are refused."""
    spec = subscripts.replace(' ', '')
    lhs, arrow, rhs = spec.partition('->')
    inputs = lhs.split(',')
    if len(inputs) != count:
        raise ValueError(f"einsum: '{subscripts}' names {len(inputs)} "
                         f'operands, got {count}')
    joined = ''.join(inputs)
    if not arrow:
        rhs = ''.join(sorted(c for c in set(joined) if joined.count(c) == 1))
    for sub in inputs + [rhs]:
        if not (sub.isalpha() or sub == '') or len(set(sub)) != len(sub):
            raise ValueError(f"einsum: '{subscripts}': each operand needs "
                             'distinct letters (no repeated index, no ...)')
    if set(rhs) - set(joined):
        raise ValueError(f"einsum: '{subscripts}': output index not in inputs")
    return inputs, rhs
