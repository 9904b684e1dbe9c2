"""Type promotion: what `apply` makes of its inputs before an op runs.

Numbers, arrays and lists become constants (no gradient) of the float dtype
of the Values beside them; booleans stay boolean; integer Values beside
floats are cast to the float dtype; where two float dtypes meet, data takes
the dtype of the Values that need gradients, and two such dtypes are
refused. A Python number never upcasts a float32 graph.
"""
from __future__ import annotations

import numpy as np

from . import DTYPE
from .backend import is_float
from .engine import Value

NUMBERS = (int, float)      # Python numbers (not bool, not NumPy scalars)


def promote(op, inputs) -> tuple:
    """The inputs of `op` as Values of one backend and one float dtype (the
    rules: `engine.apply` and the README's "Data type")."""
    if len(inputs) <= 2:                # the common cases, decided quickly
        x, y = inputs[0], inputs[-1]
        if isinstance(x, Value):
            if y is x or (isinstance(y, Value) and y.bk is x.bk and
                          y._data.dtype == x._data.dtype):
                return inputs           # one Value, or two of one kind
            if type(y) in NUMBERS and is_float(x.bk, x._data.dtype):
                return x, constant(y, x)    # a number takes x's dtype
        elif (type(x) in NUMBERS and isinstance(y, Value) and
              is_float(y.bk, y._data.dtype)):
            return constant(x, y), y
    values = [v for v in inputs if isinstance(v, Value)]
    if not values:
        values = [Value(inputs[0], requires_grad=False)]
        inputs = (values[0],) + inputs[1:]
    first = values[0]
    bk, dtype = first.bk, first._data.dtype
    if len(values) == len(inputs) and all(
            v._data.dtype == dtype and v.bk is bk for v in values):
        return inputs                   # the common case: nothing to do
    for v in values:
        if v.bk is not bk:
            raise TypeError(f'{op.name}: inputs come from two array libraries, '
                            f'{bk.name} and {v.bk.name}; move one to the '
                            'other: Value(micrograd.to_host(x), '
                            f"backend='{bk.name}'), or model.to('{bk.name}') "
                            'for an nn model')
    floats = {v._data.dtype for v in values if is_float(bk, v._data.dtype)}
    target = None
    if len(floats) > 1:                 # data takes the parameters' dtype
        learned = {v._data.dtype for v in values if v._rg}
        if len(learned) > 1:
            a, b = sorted(map(str, learned))[:2]
            raise TypeError(f'{op.name}: inputs of dtypes {a} and {b} do not '
                            'mix; cast one with .astype() first')
        target = learned.pop() if learned else bk.result_type(*floats)
    elif floats:
        target = floats.pop()
    like = next((v for v in values if v._data.dtype == target), first)
    parents = [v if isinstance(v, Value) else constant(v, like)
               for v in inputs]
    if target is None and len(parents) > 1:     # a float constant sets it
        target = next((p._data.dtype for p in parents
                       if is_float(bk, p._data.dtype)), None)
    if target is not None:              # integers and other floats: cast
        parents = [ops.astype(p, target) if p._data.dtype != bk.bool and
                   p._data.dtype != target else p for p in parents]
    return tuple(parents)


def constant(x, like: Value) -> Value:
    """`x` (number or array) as a leaf without gradient, on `like`'s
    backend: booleans stay boolean; beside a float Value, of its dtype;
    else floats take `DTYPE` and integers stay integers."""
    bk, like_dtype = like.bk, like._data.dtype
    if type(x) in NUMBERS:              # the common case, made quickly
        dtype = like_dtype if is_float(bk, like_dtype) else (
            bk.dtype(DTYPE) if type(x) is float else None)
        node = Value._node(bk.asarray(x, dtype=dtype), None, (), None, bk)
    else:
        # lists: NumPy's reading (floats are float64; torch would make
        # float32, rounding them before the cast below)
        array = x if hasattr(x, 'dtype') else bk.asarray(np.asarray(x))
        dtype = array.dtype
        if dtype != bk.bool and is_float(bk, like_dtype):
            dtype = like_dtype
        elif is_float(bk, dtype):
            dtype = bk.dtype(DTYPE)
        node = Value(array, dtype=dtype, requires_grad=False, backend=bk)
    node._rg, node._version = False, -1     # constants: never watched
    return node


from . import ops  # noqa: E402  (ops.astype; the op library uses constant)
