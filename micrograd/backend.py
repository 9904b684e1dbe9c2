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

    def multiply_into(self, out, x, c):
        """x * c written into `out` (optimiser steps: no new array)."""
        out[...] = x
        out *= c
        return out

    def keep_where(self, mask, g):
        """g where the boolean mask holds, 0 elsewhere (masked gradients)."""
        return self.ns.where(mask, g, 0.0)

    def getitem(self, x, index):
        """x[index] in the standard's terms: a basic index spells out every
        axis (a trailing ...), and one 1-D integer array among full slices is
        a `take` (the standard indexes with integer arrays only beside ints)."""
        if _is_basic(index):
            return x[_full_index(index)]
        found = _integer_axis(self.ns, index, tuple(x.shape))
        if found is not None:
            return self.ns.take(x, found[1], axis=found[0])
        return x[index]         # masks, integer arrays: as the library can

    def scatter_add(self, shape, index, g):
        """zeros(shape) with `g` added at `x[index]`; duplicates accumulate."""
        out = self.ns.zeros(shape, dtype=g.dtype)
        if _is_basic(index):    # no element twice; None only adds 1-axes
            items = tuple(i for i in _full_index(index) if i is not None)
            out[items] = self.ns.reshape(g, tuple(out[items].shape))
            return out
        found = _integer_axis(self.ns, index, tuple(shape))
        if found is None:
            raise NotImplementedError(
                'getitem: the gradient of this index needs NumPy or CuPy '
                '(other libraries: basic indices, or full slices and one 1-D '
                'integer array)')
        axis, idx = found
        onehot = self.ns.astype(self.ns.expand_dims(idx, axis=1) ==
                                self.ns.arange(shape[axis]), g.dtype)  # (k, n)
        moved = self.ns.moveaxis(g, axis, -1)                      # (..., k)
        return self.ns.moveaxis(moved @ onehot, -1, axis)

    def einsum(self, subscripts: str, *operands):
        """Einstein summation by broadcasting and summing (no repeated
        index inside one operand)."""
        inputs, output = parse_einsum(subscripts, len(operands))
        letters = sorted(set(''.join(inputs)), key=''.join(inputs).index)
        total = None
        for sub, x in zip(inputs, operands):
            present = [c for c in letters if c in sub]
            x = self.ns.permute_dims(x, tuple(sub.index(c) for c in present))
            x = self.ns.reshape(x, tuple(
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


def _full_index(index) -> tuple:
    """The index as a tuple that names every axis: a trailing ... added
    where it has none (NumPy's implicit full slices, spelled out)."""
    items = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in items):
        return items
    return items + (Ellipsis,)


def _integer_axis(ns, index, shape):
    """(axis, idx) for an index made of full slices (or ...) and one 1-D
    integer array, its negative entries wrapped; None for any other index."""
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
    return axis, ns.where(idx < 0, idx + shape[axis], idx)


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
