"""The op library: one block per op, forward and backward side by side.

A block is a comment with the math, `NAME_forward(xp, *inputs, **meta)`,
`NAME_backward(xp, g, out, *inputs, **meta)` and the public function.
`xp` is the graph's backend (an Array API namespace plus a small shim), `g`
the upstream gradient, `out` the op's output. Arrays come positionally,
metadata (axis, shape, ...) by keyword. A one-input rule returns the input's
gradient; a rule that takes `need` returns one gradient per input, computing
only those `need` asks for. A gradient only has to broadcast against its
input: the engine sums or broadcasts it to the input's shape.
"""
from __future__ import annotations

import builtins
import math

from .backend import is_float, parse_einsum
from .engine import Op, Value, apply, constant


def _value(x) -> Value:
    return x if isinstance(x, Value) else Value(x, requires_grad=False)


def _values(*xs) -> list:
    """xs as Values: arrays, lists and numbers become constants of the first
    Value's dtype and backend, as `apply` makes them (no float32 upcast, no
    NumPy constant beside another library's Value)."""
    like = next((x for x in xs if isinstance(x, Value)), None)
    if like is None:
        return [_value(x) for x in xs]
    return [x if isinstance(x, Value) else constant(x, like) for x in xs]


def _axes(axis, ndim: int, name: str) -> tuple:
    """axis (None, int, negative int, tuple) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in items:
        if not isinstance(a, int) or not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f'{name}: axis {a!r} is out of bounds for a '
                             f'{ndim}-d input')
    axes = tuple(sorted(a % builtins.max(ndim, 1) for a in items))
    if len(set(axes)) != len(axes):
        raise ValueError(f'{name}: repeated axis in {axis!r}')
    return axes


def _keep(xp, g, shape, axis, keepdims):
    """A reduced array with its reduced axes put back as size 1 (a 0-d one
    broadcasts as it is)."""
    if keepdims or g.ndim == 0:
        return g
    return xp.reshape(g, tuple(1 if i in axis else n
                               for i, n in enumerate(shape)))


def _exact(xp, g, grad, out=None):
    """A rule's gradient `grad` (g times the derivative), exact where the
    derivative is infinite or undefined: 0 where g is 0 (a branch `where`
    did not pick sends back 0, not 0 * inf = NaN); given `out`, NaN where
    the function is undefined (out is NaN) and g is not 0."""
    if out is not None:
        grad = xp.where(xp.isnan(out), out, grad)
    return xp.where(g == 0, 0.0, grad)


# ---------------------------------------------------------------- arithmetic

# add: z = x + y;  dz/dx = 1, dz/dy = 1
def add_forward(xp, x, y):
    return x + y


def add_backward(xp, g, out, x, y, need):
    return g, g


ADD = Op('add', add_forward, add_backward)


def add(x, y) -> Value:
    """x + y, broadcasting."""
    return apply(ADD, x, y)


# sub: z = x - y;  dz/dx = 1, dz/dy = -1
def sub_forward(xp, x, y):
    return x - y


def sub_backward(xp, g, out, x, y, need):
    return g, (-g if need[1] else None)


SUB = Op('sub', sub_forward, sub_backward)


def sub(x, y) -> Value:
    """x - y, broadcasting."""
    return apply(SUB, x, y)


# mul: z = x * y;  dz/dx = y, dz/dy = x
def mul_forward(xp, x, y):
    return x * y


def mul_backward(xp, g, out, x, y, need):
    return (g * y if need[0] else None), (g * x if need[1] else None)


MUL = Op('mul', mul_forward, mul_backward)


def mul(x, y) -> Value:
    """x * y, elementwise, broadcasting."""
    return apply(MUL, x, y)


# div: z = x / y;  dz/dx = 1 / y, dz/dy = -x / y**2 = -z / y
# (infinite at y = 0: 0 there where g is 0, see _exact)
def div_forward(xp, x, y):
    return x / y


def div_backward(xp, g, out, x, y, need):
    return (_exact(xp, g, g / y) if need[0] else None,
            _exact(xp, g, -g * out / y) if need[1] else None)


DIV = Op('div', div_forward, div_backward)


def div(x, y) -> Value:
    """x / y, elementwise, broadcasting."""
    return apply(DIV, x, y)


# pow: z = x ** y;  dz/dx = y * x ** (y - 1), dz/dy = z * log(x)
def pow_forward(xp, x, y):
    return x ** y


def pow_backward(xp, g, out, x, y, need):
    # y = 0 and z = 0 are exact zeros (not 0 * inf) at x = 0
    gx = _exact(xp, g, g * xp.where(y == 0, 0.0, y * x ** xp.where(
        y == 0, 1.0, y - 1))) if need[0] else None
    gy = _exact(xp, g, g * xp.where(out == 0, 0.0, out * xp.log(x))) \
        if need[1] else None
    return gx, gy


POW = Op('pow', pow_forward, pow_backward)


def pow(x, y) -> Value:  # noqa: A001  (micrograd.pow, as x ** y)
    """x ** y, for a number or a Value exponent."""
    return apply(POW, x, y)


# neg: z = -x;  dz/dx = -1
def neg_forward(xp, x):
    return -x


def neg_backward(xp, g, out, x):
    return -g


NEG = Op('neg', neg_forward, neg_backward)


def neg(x) -> Value:
    """-x."""
    return apply(NEG, x)


# ---------------------------------------------------------------- elementwise

# exp: z = e**x;  dz/dx = z
def exp_forward(xp, x):
    return xp.exp(x)


def exp_backward(xp, g, out, x):
    return g * out


EXP = Op('exp', exp_forward, exp_backward)


def exp(x) -> Value:
    """e ** x."""
    return apply(EXP, x)


# log: z = ln x;  dz/dx = 1 / x  (NaN where x < 0, as z)
def log_forward(xp, x):
    return xp.log(x)


def log_backward(xp, g, out, x):
    return _exact(xp, g, g / x, out)


LOG = Op('log', log_forward, log_backward)


def log(x) -> Value:
    """Natural logarithm."""
    return apply(LOG, x)


# log1p: z = ln(1 + x);  dz/dx = 1 / (1 + x)  (NaN where x < -1)
def log1p_forward(xp, x):
    return xp.log1p(x)


def log1p_backward(xp, g, out, x):
    return _exact(xp, g, g / (1 + x), out)


LOG1P = Op('log1p', log1p_forward, log1p_backward)


def log1p(x) -> Value:
    """ln(1 + x), accurate near 0."""
    return apply(LOG1P, x)


# expm1: z = e**x - 1;  dz/dx = e**x = z + 1
def expm1_forward(xp, x):
    return xp.expm1(x)


def expm1_backward(xp, g, out, x):
    return g * (out + 1)


EXPM1 = Op('expm1', expm1_forward, expm1_backward)


def expm1(x) -> Value:
    """e ** x - 1, accurate near 0."""
    return apply(EXPM1, x)


# sqrt: z = x ** 0.5;  dz/dx = 1 / (2 z)  (inf at x = 0, NaN where x < 0)
def sqrt_forward(xp, x):
    return xp.sqrt(x)


def sqrt_backward(xp, g, out, x):
    return _exact(xp, g, g / (2 * out))


SQRT = Op('sqrt', sqrt_forward, sqrt_backward)


def sqrt(x) -> Value:
    """Square root."""
    return apply(SQRT, x)


# tanh: z = tanh x;  dz/dx = 1 - z**2
def tanh_forward(xp, x):
    return xp.tanh(x)


def tanh_backward(xp, g, out, x):
    return g * (1 - out * out)


TANH = Op('tanh', tanh_forward, tanh_backward)


def tanh(x) -> Value:
    """Hyperbolic tangent."""
    return apply(TANH, x)


# sigmoid: z = 1 / (1 + e**-x) = e**x / (1 + e**x);  dz/dx = z (1 - z)
def sigmoid_forward(xp, x):
    e = xp.exp(-xp.abs(x))                 # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(xp, g, out, x):
    return g * out * (1 - out)


SIGMOID = Op('sigmoid', sigmoid_forward, sigmoid_backward)


def sigmoid(x) -> Value:
    """Logistic function, stable for large |x|."""
    return apply(SIGMOID, x)


# softplus: z = log(1 + e**x) = max(x, 0) + log(1 + e**-|x|);
# dz/dx = sigmoid x  (smooth everywhere: the max and |x| of the stable form
# stay in the forward rule, their kinks never reach the gradient)
def softplus_forward(xp, x):
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_backward(xp, g, out, x):
    return g * sigmoid_forward(xp, x)


SOFTPLUS = Op('softplus', softplus_forward, softplus_backward)


def softplus(x) -> Value:
    """log(1 + e ** x), stable for large |x|; gradient sigmoid(x)."""
    return apply(SOFTPLUS, x)


# relu: z = max(x, 0);  dz/dx = 1 where x > 0, else 0 (0 at the kink x = 0;
# NaN where x is NaN: sign(z) is all three)
def relu_forward(xp, x):
    return xp.maximum(x, 0.0)


def relu_backward(xp, g, out, x):
    return g * xp.sign(out)


RELU = Op('relu', relu_forward, relu_backward)


def relu(x) -> Value:
    """max(x, 0); gradient 0 at x = 0."""
    return apply(RELU, x)


# abs: z = |x|;  dz/dx = sign(x) (0 at the kink x = 0)
def abs_forward(xp, x):
    return xp.abs(x)


def abs_backward(xp, g, out, x):
    return g * xp.sign(x)


ABS = Op('abs', abs_forward, abs_backward)


def abs(x) -> Value:  # noqa: A001  (micrograd.abs, as abs(x))
    """|x|; gradient 0 at x = 0."""
    return apply(ABS, x)


# sin: z = sin x;  dz/dx = cos x
def sin_forward(xp, x):
    return xp.sin(x)


def sin_backward(xp, g, out, x):
    return g * xp.cos(x)


SIN = Op('sin', sin_forward, sin_backward)


def sin(x) -> Value:
    """Sine."""
    return apply(SIN, x)


# cos: z = cos x;  dz/dx = -sin x
def cos_forward(xp, x):
    return xp.cos(x)


def cos_backward(xp, g, out, x):
    return -g * xp.sin(x)


COS = Op('cos', cos_forward, cos_backward)


def cos(x) -> Value:
    """Cosine."""
    return apply(COS, x)


# arctanh: z = atanh x;  dz/dx = 1 / (1 - x**2)  (NaN where |x| > 1)
def arctanh_forward(xp, x):
    return xp.atanh(x)


def arctanh_backward(xp, g, out, x):
    return _exact(xp, g, g / (1 - x * x), out)


ARCTANH = Op('arctanh', arctanh_forward, arctanh_backward)


def arctanh(x) -> Value:
    """Inverse hyperbolic tangent."""
    return apply(ARCTANH, x)


# arcsin: z = asin x;  dz/dx = 1 / sqrt(1 - x**2)  (NaN where |x| > 1)
def arcsin_forward(xp, x):
    return xp.asin(x)


def arcsin_backward(xp, g, out, x):
    return _exact(xp, g, g / xp.sqrt(1 - x * x))


ARCSIN = Op('arcsin', arcsin_forward, arcsin_backward)


def arcsin(x) -> Value:
    """Inverse sine."""
    return apply(ARCSIN, x)


# arcsinh: z = asinh x;  dz/dx = 1 / sqrt(x**2 + 1)
def arcsinh_forward(xp, x):
    return xp.asinh(x)


def arcsinh_backward(xp, g, out, x):
    return g / xp.sqrt(x * x + 1)


ARCSINH = Op('arcsinh', arcsinh_forward, arcsinh_backward)


def arcsinh(x) -> Value:
    """Inverse hyperbolic sine."""
    return apply(ARCSINH, x)


# maximum: z = max(x, y);  the larger input gets g, ties share it equally
def maximum_forward(xp, x, y):
    return xp.maximum(x, y)


def maximum_backward(xp, g, out, x, y, need):
    # each gets g unless the other wins; a NaN (no order) gives both g
    share = xp.where(x == y, g / 2, g)
    return (xp.where(y > x, 0.0, share) if need[0] else None,
            xp.where(x > y, 0.0, share) if need[1] else None)


MAXIMUM = Op('maximum', maximum_forward, maximum_backward)


def maximum(x, y) -> Value:
    """Elementwise max; at ties each input gets half the gradient."""
    return apply(MAXIMUM, x, y)


# minimum: z = min(x, y);  the smaller input gets g, ties share it equally
def minimum_forward(xp, x, y):
    return xp.minimum(x, y)


def minimum_backward(xp, g, out, x, y, need):
    # each gets g unless the other wins; a NaN (no order) gives both g
    share = xp.where(x == y, g / 2, g)
    return (xp.where(y < x, 0.0, share) if need[0] else None,
            xp.where(x < y, 0.0, share) if need[1] else None)


MINIMUM = Op('minimum', minimum_forward, minimum_backward)


def minimum(x, y) -> Value:
    """Elementwise min; at ties each input gets half the gradient."""
    return apply(MINIMUM, x, y)


# where: z = x where cond else y;  g goes to x where cond, to y elsewhere
def where_forward(xp, cond, x, y):
    return xp.where(cond, x, y)


def where_backward(xp, g, out, cond, x, y, need):
    return (None,
            xp.select(cond, g) if need[1] else None,
            xp.select(~cond, g) if need[2] else None)


WHERE = Op('where', where_forward, where_backward)


def where(cond, x, y) -> Value:
    """x where the boolean `cond` holds, else y (no gradient for cond)."""
    if isinstance(cond, Value) and cond.dtype != cond.bk.bool:
        raise TypeError(f'where: cond must be boolean, got {cond.dtype}')
    return apply(WHERE, cond, x, y)


# clip: z = min(max(x, lo), hi);  dz/dx = 1 where lo <= x <= hi, else 0
# (NaN where x is NaN)
def clip_forward(xp, x, lo, hi):
    return xp.clip(x, min=lo, max=hi)


def clip_backward(xp, g, out, x, lo, hi):
    return xp.where(out == x, g, 0 * out)      # 0 * NaN: NaN where x is


CLIP = Op('clip', clip_forward, clip_backward)


def clip(x, lo=None, hi=None) -> Value:
    """x limited to [lo, hi] (numbers or None); gradient 1 inside, bounds
    included, 0 outside."""
    return apply(CLIP, x, lo=lo, hi=hi)


# ---------------------------------------------------------------- not differentiable

def greater_forward(xp, x, y):
    return x > y


def greater_equal_forward(xp, x, y):
    return x >= y


def less_forward(xp, x, y):
    return x < y


def less_equal_forward(xp, x, y):
    return x <= y


def equal_forward(xp, x, y):
    return x == y


def not_equal_forward(xp, x, y):
    return x != y


GREATER = Op('greater', greater_forward)
GREATER_EQUAL = Op('greater_equal', greater_equal_forward)
LESS = Op('less', less_forward)
LESS_EQUAL = Op('less_equal', less_equal_forward)
EQUAL = Op('equal', equal_forward)
NOT_EQUAL = Op('not_equal', not_equal_forward)


def greater(x, y) -> Value:
    """x > y as a boolean Value (no gradient)."""
    return apply(GREATER, x, y)


def greater_equal(x, y) -> Value:
    """x >= y as a boolean Value (no gradient)."""
    return apply(GREATER_EQUAL, x, y)


def less(x, y) -> Value:
    """x < y as a boolean Value (no gradient)."""
    return apply(LESS, x, y)


def less_equal(x, y) -> Value:
    """x <= y as a boolean Value (no gradient)."""
    return apply(LESS_EQUAL, x, y)


def equal(x, y) -> Value:
    """x == y elementwise, as a boolean Value (no gradient); NotImplemented
    beside what is not array-like, so `v == None` is False."""
    return NotImplemented if _not_array(y) else apply(EQUAL, x, y)


def not_equal(x, y) -> Value:
    """x != y elementwise, as a boolean Value (no gradient)."""
    return NotImplemented if _not_array(y) else apply(NOT_EQUAL, x, y)


def _not_array(y) -> bool:
    return y is None or isinstance(y, (str, bytes, dict, set))


def stop_gradient_forward(xp, x):
    return x


STOP_GRADIENT = Op('stop_gradient', stop_gradient_forward)


def stop_gradient(x) -> Value:
    """x's value, with no gradient flowing back through it."""
    return apply(STOP_GRADIENT, x)


# astype: z = x as another dtype;  dz/dx = 1 (g cast back to x's dtype)
def astype_forward(xp, x, dtype):
    return xp.astype(x, dtype)


def astype_backward(xp, g, out, x, dtype):
    return xp.astype(g, x.dtype)


ASTYPE = Op('astype', astype_forward, astype_backward)


def astype(x, dtype) -> Value:
    """x cast to `dtype` (a name such as 'float32', or a dtype); a cast to
    an integer or boolean type passes no gradient."""
    x = _value(x)
    dtype = x.bk.dtype(dtype)
    if not is_float(x.bk, dtype):
        x = stop_gradient(x)
    return apply(ASTYPE, x, dtype=dtype)


# one_hot: z[..., c] = 1 where label == c, else 0, for labels of shape
# (..., 1) that are whole numbers in [0, classes); a NaN label (an unfed
# placeholder) gives a row of NaN. Labels are checked at every forward: a
# ValueError names `what` and the bad labels (a lazy array, which checking
# would compute, gets NaN rows instead).
def one_hot_forward(xp, labels, classes, what):
    ok = (labels >= 0) & (labels < classes) & (xp.floor(labels) == labels)
    _refuse_bad(xp, labels, ok | xp.isnan(labels), f'{what} must be whole '
                f'numbers in [0, {classes}) for {classes} classes')
    hot = xp.astype(labels == xp.arange(classes, dtype=labels.dtype),
                    labels.dtype)
    return xp.where(ok, hot, xp.nan)


ONE_HOT = Op('one_hot', one_hot_forward)


def one_hot(labels, classes: int, what: str = 'one_hot: labels') -> Value:
    """Labels (...) as one-hot rows (..., classes), checked at every forward
    to be whole numbers in [0, classes) (`what` names them in the error); a
    NaN label gives a NaN row."""
    labels = _value(labels)
    if not isinstance(classes, int) or isinstance(classes, bool) or \
            classes < 1:
        raise ValueError(f'one_hot: classes must be a positive int, got '
                         f'{classes!r}')
    return apply(ONE_HOT, expand_dims(labels, -1), classes=classes,
                 what=what)


# check_values: z = x, once every x is a value `allowed` names (NaN, an
# unfed placeholder, passes); else a ValueError naming `what` and the bad
# values (a lazy array gets NaN there instead). Checked at every forward;
# dz/dx = 1
def _signs(xp, v):
    return (v == 1) | (v == -1)


def _unit_interval(xp, v):
    return (v >= 0) & (v <= 1)


ALLOWED = {'be -1 or +1': _signs, 'lie in [0, 1]': _unit_interval}


def check_values_forward(xp, x, allowed, what):
    ok = ALLOWED[allowed](xp, x) | xp.isnan(x)
    _refuse_bad(xp, x, ok, f'{what} must {allowed}')
    return xp.where(ok, x, xp.nan) if xp.is_lazy else x


def check_values_backward(xp, g, out, x, allowed, what):
    return g


CHECK_VALUES = Op('check_values', check_values_forward, check_values_backward)


def check_values(x, allowed: str, what: str) -> Value:
    """x, checked at every forward to hold values `allowed` admits (a key of
    ALLOWED); `what` names x in the error."""
    if allowed not in ALLOWED:
        raise ValueError(f'check_values: allowed must be one of '
                         f'{sorted(ALLOWED)}, got {allowed!r}')
    return apply(CHECK_VALUES, x, allowed=allowed, what=what)


def _refuse_bad(xp, x, ok, message: str) -> None:
    """A ValueError, `message` and the values of x (up to 5) where the mask
    `ok` is False; nothing when all pass or x is lazy (checking would
    compute it)."""
    if xp.is_lazy or bool(xp.all(ok)):
        return
    values = xp.sort(xp.unique_values(x[~ok]))
    shown = ', '.join(f'{float(values[i]):g}'
                      for i in range(builtins.min(5, values.shape[0])))
    more = ', ...' if values.shape[0] > 5 else ''
    raise ValueError(f'{message}, got {shown}{more}')


# ---------------------------------------------------------------- reductions

# sum: z = sum_i x_i over `axis`;  dz/dx_i = 1 (g spread back over the axis)
def sum_forward(xp, x, axis, keepdims):
    return xp.sum(x, axis=axis, keepdims=keepdims)


def sum_backward(xp, g, out, x, axis, keepdims):
    return _keep(xp, g, x.shape, axis, keepdims)


SUM = Op('sum', sum_forward, sum_backward)


def sum(x, axis=None, keepdims=False) -> Value:  # noqa: A001
    """Sum over `axis` (None: all; int, negative int or tuple)."""
    x = _value(x)
    return apply(SUM, x, axis=_axes(axis, x.ndim, 'sum'), keepdims=keepdims)


# mean: z = sum_i x_i / n over `axis`;  dz/dx_i = 1 / n
def mean_forward(xp, x, axis, keepdims):
    return xp.mean(x, axis=axis, keepdims=keepdims)


def mean_backward(xp, g, out, x, axis, keepdims):
    n = math.prod(x.shape[a] for a in axis)
    return _keep(xp, g, x.shape, axis, keepdims) / n


MEAN = Op('mean', mean_forward, mean_backward)


def mean(x, axis=None, keepdims=False) -> Value:
    """Mean over `axis` (None: all; int, negative int or tuple)."""
    x = _value(x)
    return apply(MEAN, x, axis=_axes(axis, x.ndim, 'mean'), keepdims=keepdims)


# max: z = max_i x_i over `axis`;  g goes to the maxima, ties share it equally
def max_forward(xp, x, axis, keepdims):
    return xp.max(x, axis=axis, keepdims=keepdims)


def max_backward(xp, g, out, x, axis, keepdims):
    return _extremum_backward(xp, g, out, x, axis, keepdims)


def _extremum_backward(xp, g, out, x, axis, keepdims):
    """g split equally between the elements equal to the max (or min),
    counted in float32 at least (float16 counts only to 2048 exactly and
    overflows at 65520 ties), the shares in g's dtype."""
    hit = x == _keep(xp, out, x.shape, axis, keepdims)
    wide = xp.float32 if x.dtype == getattr(xp, 'float16', None) else x.dtype
    count = xp.sum(xp.astype(hit, wide), axis=axis, keepdims=True)
    share = xp.astype(_keep(xp, g, x.shape, axis, keepdims) / count, g.dtype)
    return xp.astype(hit, g.dtype) * share


MAX = Op('max', max_forward, max_backward)


def max(x, axis=None, keepdims=False) -> Value:  # noqa: A001
    """Max over `axis`; tied maxima share the gradient equally."""
    x = _value(x)
    return apply(MAX, x, axis=_axes(axis, x.ndim, 'max'), keepdims=keepdims)


# min: z = min_i x_i over `axis`;  g goes to the minima, ties share it equally
def min_forward(xp, x, axis, keepdims):
    return xp.min(x, axis=axis, keepdims=keepdims)


def min_backward(xp, g, out, x, axis, keepdims):
    return _extremum_backward(xp, g, out, x, axis, keepdims)


MIN = Op('min', min_forward, min_backward)


def min(x, axis=None, keepdims=False) -> Value:  # noqa: A001
    """Min over `axis`; tied minima share the gradient equally."""
    x = _value(x)
    return apply(MIN, x, axis=_axes(axis, x.ndim, 'min'), keepdims=keepdims)


# logsumexp: z = log sum_i e**x_i = m + log sum_i e**(x_i - m), m = max x;
# dz/dx_i = e**(x_i - z) = e**(x_i - m) / sum_j e**(x_j - m)  (the softmax,
# from the shifted form: z rounds where m is large, 1e17 + log 2 to 1e17)
def logsumexp_forward(xp, x, axis, keepdims):
    m = _shift(xp, x, axis)
    z = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return z if keepdims else xp.squeeze(z, axis=axis)


def logsumexp_backward(xp, g, out, x, axis, keepdims):
    e = xp.exp(x - _shift(xp, x, axis))
    return _keep(xp, g, x.shape, axis, keepdims) * (
        e / xp.sum(e, axis=axis, keepdims=True))


def _shift(xp, x, axis):
    """max x over `axis` (kept), 0 where it is not finite (all -inf)."""
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0.0)


LOGSUMEXP = Op('logsumexp', logsumexp_forward, logsumexp_backward)


def logsumexp(x, axis=None, keepdims=False) -> Value:
    """log(sum(exp(x))) over `axis`, without overflow."""
    x = _value(x)
    return apply(LOGSUMEXP, x, axis=_axes(axis, x.ndim, 'logsumexp'),
                 keepdims=keepdims)


# softmax: z_i = e**x_i / sum_j e**x_j;  dL/dx = z * (g - sum_j g_j z_j)
def softmax_forward(xp, x, axis):
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softmax_backward(xp, g, out, x, axis):
    return out * (g - xp.sum(g * out, axis=axis, keepdims=True))


SOFTMAX = Op('softmax', softmax_forward, softmax_backward)


def softmax(x, axis=-1) -> Value:
    """exp(x) normalised to sum 1 along `axis`, without overflow."""
    x = _value(x)
    return apply(SOFTMAX, x, axis=_axes(axis, x.ndim, 'softmax'))


# log_softmax: z_i = x_i - logsumexp(x);  dL/dx = g - e**z * sum_j g_j
def log_softmax_forward(xp, x, axis):
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def log_softmax_backward(xp, g, out, x, axis):
    return g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True)


LOG_SOFTMAX = Op('log_softmax', log_softmax_forward, log_softmax_backward)


def log_softmax(x, axis=-1) -> Value:
    """log(softmax(x)) along `axis`, computed stably."""
    x = _value(x)
    return apply(LOG_SOFTMAX, x, axis=_axes(axis, x.ndim, 'log_softmax'))


# ---------------------------------------------------------------- linear algebra

# matmul: Z = X @ Y (NumPy rules: 1-D operands, broadcast batches);
# dL/dX = G @ Y^T, dL/dY = X^T @ G
def matmul_forward(xp, x, y):
    return x @ y


def matmul_backward(xp, g, out, x, y, need):
    vec_x, vec_y = x.ndim == 1, y.ndim == 1
    if vec_y:                             # (k,) acts as a (k, 1) matrix
        y, g = xp.expand_dims(y, axis=-1), xp.expand_dims(g, axis=-1)
    if vec_x:                             # (k,) acts as a (1, k) matrix
        x, g = xp.expand_dims(x, axis=0), xp.expand_dims(g, axis=-2)
    gx = g @ xp.matrix_transpose(y) if need[0] else None
    gy = xp.matrix_transpose(x) @ g if need[1] else None
    if vec_x and need[0]:
        gx = xp.squeeze(gx, axis=-2)
    if vec_y and need[1]:
        gy = xp.squeeze(gy, axis=-1)
    return gx, gy


MATMUL = Op('matmul', matmul_forward, matmul_backward)


def matmul(x, y) -> Value:
    """x @ y with NumPy's matmul rules (batches broadcast)."""
    x, y = _values(x, y)
    k_y = y.shape[-2] if y.ndim > 1 else y.shape[0] if y.ndim else None
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] != k_y:
        raise ValueError(f'matmul: shapes {x.shape} and {y.shape} do not align')
    return apply(MATMUL, x, y)


# tensordot: contracts x's last n axes, from the last, with y's first n axes:
# Z[a.., b..] = sum_k X[a.., k_n..k_1] Y[k_1..k_n, b..];
# dL/dX = G . Y over the b axes, dL/dY = X . G over the a axes
def tensordot_forward(xp, x, y, n):
    return xp.tensordot(x, y, axes=(_last_axes(x.ndim, n), tuple(range(n))))


def tensordot_backward(xp, g, out, x, y, n, need):
    fx, fy = x.ndim - n, y.ndim - n       # free axes of x and of y
    gx = gy = None
    if need[0]:                           # axes: x free, then y's 0..n-1
        gx = xp.tensordot(g, y, axes=(tuple(range(fx, fx + fy)),
                                      tuple(range(n, n + fy))))
        gx = xp.permute_dims(gx, tuple(range(fx)) +
                             tuple(range(fx + n - 1, fx - 1, -1)))
    if need[1]:                           # axes: x's contracted, then y free
        gy = xp.tensordot(x, g, axes=(tuple(range(fx)), tuple(range(fx))))
        gy = xp.permute_dims(gy, tuple(range(n - 1, -1, -1)) +
                             tuple(range(n, n + fy)))
    return gx, gy


def _last_axes(ndim, n):
    return tuple(range(ndim - 1, ndim - 1 - n, -1))


TENSORDOT = Op('tensordot', tensordot_forward, tensordot_backward)


def tensordot(x, y, axes=1) -> Value:
    """Contract x's last axis with y's first, x's next-to-last with y's
    second, ... `axes` pairs in all (the original micrograd's convention)."""
    x, y, n = *_values(x, y), axes
    if not isinstance(n, int):
        raise TypeError(f'tensordot: axes must be an int, got {n!r}')
    sx = [x.shape[a] for a in _last_axes(x.ndim, n)]
    if n < 0 or n > builtins.min(x.ndim, y.ndim) or sx != list(y.shape[:n]):
        raise ValueError(f'tensordot: shapes {x.shape} and {y.shape} do not '
                         f'align for n={n}')
    return apply(TENSORDOT, x, y, n=n)


# einsum: Z = sum over the indices missing from the output of the product;
# dL/dX_i = einsum of G with the other operands, onto X_i's indices
def einsum_forward(xp, *operands, inputs, output):
    return xp.einsum(','.join(inputs) + '->' + output, *operands)


def einsum_backward(xp, g, out, *operands, inputs, output, need):
    grads = []
    for i, (sub, x) in enumerate(zip(inputs, operands)):
        others = inputs[:i] + inputs[i + 1:]
        # indices only x has are summed in the forward: broadcast back
        kept = ''.join(c for c in sub if c in output + ''.join(others))
        if need[i]:
            gi = xp.einsum(','.join((output,) + others) + '->' + kept,
                           g, *operands[:i], *operands[i + 1:])
            gi = xp.reshape(gi, tuple(n if c in kept else 1
                                      for c, n in zip(sub, x.shape)))
        grads.append(gi if need[i] else None)
    return grads


EINSUM = Op('einsum', einsum_forward, einsum_backward)


def einsum(subscripts: str, *operands) -> Value:
    """Einstein summation, e.g. einsum('bij,jk->bik', x, w); each operand's
    indices are distinct."""
    inputs, output = parse_einsum(subscripts, len(operands))
    return apply(EINSUM, *operands, inputs=tuple(inputs), output=output)


# ---------------------------------------------------------------- shape

# reshape: same elements, new shape;  the gradient takes the old shape back
def reshape_forward(xp, x, shape):
    return xp.reshape(x, shape)


def reshape_backward(xp, g, out, x, shape):
    return xp.reshape(g, x.shape)


RESHAPE = Op('reshape', reshape_forward, reshape_backward)


def reshape(x, shape) -> Value:
    """Same data, new shape (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return apply(RESHAPE, x, shape=shape)


# expand_dims: z = x with new size-1 axes;  the gradient takes x's shape back
def expand_dims_forward(xp, x, axes):
    dims = iter(x.shape)
    return xp.reshape(x, tuple(1 if i in axes else next(dims)
                               for i in range(x.ndim + len(axes))))


def expand_dims_backward(xp, g, out, x, axes):
    return xp.reshape(g, x.shape)


EXPAND_DIMS = Op('expand_dims', expand_dims_forward, expand_dims_backward)


def expand_dims(x, axis) -> Value:
    """New size-1 axes at `axis` (int or tuple)."""
    x = _value(x)
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    return apply(EXPAND_DIMS, x,
                 axes=_axes(axis, x.ndim + count, 'expand_dims'))


# squeeze: z = x without some size-1 axes;  the gradient takes x's shape back
def squeeze_forward(xp, x, axes):
    return xp.squeeze(x, axis=axes)


def squeeze_backward(xp, g, out, x, axes):
    return xp.reshape(g, x.shape)


SQUEEZE = Op('squeeze', squeeze_forward, squeeze_backward)


def squeeze(x, axis=None) -> Value:
    """Drop size-1 axes (all of them, or those in `axis`)."""
    x = _value(x)
    axes = (tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None
            else _axes(axis, x.ndim, 'squeeze'))
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f'squeeze: axis {axis!r} of shape {x.shape} is not 1')
    return apply(SQUEEZE, x, axes=axes)


# transpose: z = x with axes permuted;  the gradient is permuted back
def transpose_forward(xp, x, axes):
    return xp.permute_dims(x, axes)


def transpose_backward(xp, g, out, x, axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return xp.permute_dims(g, tuple(inverse))


TRANSPOSE = Op('transpose', transpose_forward, transpose_backward)


def transpose(x, axes=None) -> Value:
    """Permute the axes (None: reverse them, as `.T`)."""
    x = _value(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    if sorted(a % builtins.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f'transpose: axes {axes} do not permute shape '
                         f'{x.shape}')
    return apply(TRANSPOSE, x, axes=tuple(a % x.ndim for a in axes))


# broadcast_to: z = x repeated along new or size-1 axes;
# the gradient is summed back (by the engine's unbroadcast)
def broadcast_to_forward(xp, x, shape):
    return xp.broadcast_to(x, shape)


def broadcast_to_backward(xp, g, out, x, shape):
    return g


BROADCAST_TO = Op('broadcast_to', broadcast_to_forward, broadcast_to_backward)


def broadcast_to(x, shape) -> Value:
    """x broadcast to `shape` (a read-only view)."""
    return apply(BROADCAST_TO, x, shape=tuple(shape))


# concatenate: z = [x_1, x_2, ...] along `axis`;  each gets its slice of g
def concatenate_forward(xp, *xs, axis):
    return xp.concat(xs, axis=axis)


def concatenate_backward(xp, g, out, *xs, axis, need):
    grads, start = [], 0
    for x, needed in zip(xs, need):
        stop = start + x.shape[axis]
        grads.append(g[(slice(None),) * axis + (slice(start, stop), ...)]
                     if needed else None)
        start = stop
    return grads


CONCATENATE = Op('concatenate', concatenate_forward, concatenate_backward)


def concatenate(values, axis=0) -> Value:
    """Join Values along an existing axis."""
    values = _values(*values)
    if not values:
        raise ValueError('concatenate: needs at least one Value')
    return apply(CONCATENATE, *values,
                 axis=_axes(axis, values[0].ndim, 'concatenate')[0])


# stack: z[..., i, ...] = x_i along a new `axis`;  each gets g[..., i, ...]
def stack_forward(xp, *xs, axis):
    return xp.stack(xs, axis=axis)


def stack_backward(xp, g, out, *xs, axis, need):
    return [g[(slice(None),) * axis + (i, ...)] if needed else None
            for i, needed in enumerate(need)]


STACK = Op('stack', stack_forward, stack_backward)


def stack(values, axis=0) -> Value:
    """Join same-shape Values along a new axis."""
    values = _values(*values)
    if not values:
        raise ValueError('stack: needs at least one Value')
    return apply(STACK, *values,
                 axis=_axes(axis, values[0].ndim + 1, 'stack')[0])


# getitem: z = x[index];  g is added back at the indexed places
# (an element picked twice gets both contributions)
def getitem_forward(xp, x, index):
    return xp.getitem(x, index)


def getitem_backward(xp, g, out, x, index):
    return xp.scatter_add(x.shape, index, g)


GETITEM = Op('getitem', getitem_forward, getitem_backward)


def getitem(x, index) -> Value:
    """x[index]: ints, slices, None, ..., boolean masks, integer arrays."""
    x = _value(x)
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Value) for i in items):
        raise TypeError('getitem: index with arrays, not Values')
    items = tuple(x.bk.asarray(i) if isinstance(i, list) or (
        hasattr(i, 'shape') and x.bk.name != 'numpy') else i for i in items)
    return apply(GETITEM, x, index=items if isinstance(index, tuple)
                 else items[0])


def split(x, indices_or_sections, axis=0) -> list[Value]:
    """Split along `axis` into equal sections (an int) or at the given
    indices, as NumPy's split; each piece is a getitem of x."""
    x = _value(x)
    axis = _axes(axis, x.ndim, 'split')[0]
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f'split: axis {axis} of shape {x.shape} does not '
                             f'split into {indices_or_sections} equal parts')
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (
            indices_or_sections + 1)
    else:
        bounds = [0, *indices_or_sections, n]
    lead = (slice(None),) * axis
    return [getitem(x, lead + (slice(a, b), ...))
            for a, b in zip(bounds[:-1], bounds[1:])]


# Methods of Value, where NumPy (or the original micrograd) has them.
for _name in ('exp', 'log', 'log1p', 'expm1', 'sqrt', 'tanh', 'sigmoid',
              'softplus', 'relu', 'abs', 'sin', 'cos', 'arctanh', 'arcsin',
              'arcsinh',
              'clip', 'sum', 'mean', 'max', 'min', 'logsumexp', 'softmax',
              'log_softmax', 'squeeze', 'expand_dims', 'split', 'astype'):
    setattr(Value, _name, globals()[_name])
