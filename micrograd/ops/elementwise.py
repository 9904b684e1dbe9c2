"""Elementwise functions: of one input (exp, tanh, relu, ...) and of
several (maximum, minimum, where, clip)."""
from __future__ import annotations

from ..engine import Op, Value, apply
from .common import _exact, _value, public


# exp: z = e**x;  dz/dx = z
def exp_forward(xp, x):
    return xp.exp(x)


def exp_backward(xp, g, out, x, need):
    return (g * out,)


EXP = Op('exp', exp_forward, exp_backward, kind='elementwise')


@public(method=True)
def exp(x) -> Value:
    """e ** x."""
    return apply(EXP, x)


# log: z = ln x;  dz/dx = 1 / x  (NaN where x < 0, as z)
def log_forward(xp, x):
    return xp.log(x)


def log_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / x, out),)


LOG = Op('log', log_forward, log_backward, kind='elementwise')


@public(method=True)
def log(x) -> Value:
    """Natural logarithm."""
    return apply(LOG, x)


# log1p: z = ln(1 + x);  dz/dx = 1 / (1 + x)  (NaN where x < -1)
def log1p_forward(xp, x):
    return xp.log1p(x)


def log1p_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / (1 + x), out),)


LOG1P = Op('log1p', log1p_forward, log1p_backward, kind='elementwise')


@public(method=True)
def log1p(x) -> Value:
    """ln(1 + x), accurate near 0."""
    return apply(LOG1P, x)


# expm1: z = e**x - 1;  dz/dx = e**x = z + 1
def expm1_forward(xp, x):
    return xp.expm1(x)


def expm1_backward(xp, g, out, x, need):
    return (g * (out + 1),)


EXPM1 = Op('expm1', expm1_forward, expm1_backward, kind='elementwise')


@public(method=True)
def expm1(x) -> Value:
    """e ** x - 1, accurate near 0."""
    return apply(EXPM1, x)


# sqrt: z = x ** 0.5;  dz/dx = 1 / (2 z)  (inf at x = 0, NaN where x < 0)
def sqrt_forward(xp, x):
    return xp.sqrt(x)


def sqrt_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / (2 * out)),)


SQRT = Op('sqrt', sqrt_forward, sqrt_backward, kind='elementwise')


@public(method=True)
def sqrt(x) -> Value:
    """Square root."""
    return apply(SQRT, x)


# tanh: z = tanh x;  dz/dx = 1 - z**2
def tanh_forward(xp, x):
    return xp.tanh(x)


def tanh_backward(xp, g, out, x, need):
    return (g * (1 - out * out),)


TANH = Op('tanh', tanh_forward, tanh_backward, kind='elementwise')


@public(method=True)
def tanh(x) -> Value:
    """Hyperbolic tangent."""
    return apply(TANH, x)


# sigmoid: z = 1 / (1 + e**-x) = e**x / (1 + e**x);  dz/dx = z (1 - z)
def sigmoid_forward(xp, x):
    e = xp.exp(xp.where(x >= 0, -x, x))    # e**-|x|, in (0, 1]: no overflow
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(xp, g, out, x, need):
    return (g * out * (1 - out),)


SIGMOID = Op('sigmoid', sigmoid_forward, sigmoid_backward, kind='elementwise')


@public(method=True)
def sigmoid(x) -> Value:
    """Logistic function, stable for large |x|."""
    return apply(SIGMOID, x)


# softplus: z = log(1 + e**x) = max(x, 0) + log(1 + e**-|x|);
# dz/dx = sigmoid x  (smooth everywhere: the max and |x| of the stable form
# stay in the forward rule, their kinks never reach the gradient)
def softplus_forward(xp, x):
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_backward(xp, g, out, x, need):
    return (g * sigmoid_forward(xp, x),)


SOFTPLUS = Op('softplus', softplus_forward, softplus_backward,
               kind='elementwise')


@public(method=True)
def softplus(x) -> Value:
    """log(1 + e ** x), stable for large |x|; gradient sigmoid(x)."""
    return apply(SOFTPLUS, x)


# relu: z = max(x, 0);  dz/dx = 1 where x > 0, else 0 (0 at the kink x = 0;
# NaN where x is NaN: sign(z) is all three)
def relu_forward(xp, x):
    return xp.maximum(x, 0.0)


def relu_backward(xp, g, out, x, need):
    return (g * xp.sign(out),)


RELU = Op('relu', relu_forward, relu_backward, kind='elementwise')


@public(method=True)
def relu(x) -> Value:
    """max(x, 0); gradient 0 at x = 0."""
    return apply(RELU, x)


# abs: z = |x|;  dz/dx = sign(x) (0 at the kink x = 0)
def abs_forward(xp, x):
    return xp.abs(x)


def abs_backward(xp, g, out, x, need):
    return (g * xp.sign(x),)


ABS = Op('abs', abs_forward, abs_backward, kind='elementwise')


@public(method=True)
def abs(x) -> Value:  # noqa: A001  (micrograd.abs, as abs(x))
    """|x|; gradient 0 at x = 0."""
    return apply(ABS, x)


# sin: z = sin x;  dz/dx = cos x
def sin_forward(xp, x):
    return xp.sin(x)


def sin_backward(xp, g, out, x, need):
    return (g * xp.cos(x),)


SIN = Op('sin', sin_forward, sin_backward, kind='elementwise')


@public(method=True)
def sin(x) -> Value:
    """Sine."""
    return apply(SIN, x)


# cos: z = cos x;  dz/dx = -sin x
def cos_forward(xp, x):
    return xp.cos(x)


def cos_backward(xp, g, out, x, need):
    return (-g * xp.sin(x),)


COS = Op('cos', cos_forward, cos_backward, kind='elementwise')


@public(method=True)
def cos(x) -> Value:
    """Cosine."""
    return apply(COS, x)


# arctanh: z = atanh x;  dz/dx = 1 / (1 - x**2)  (NaN where |x| > 1)
def arctanh_forward(xp, x):
    return xp.atanh(x)


def arctanh_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / (1 - x * x), out),)


ARCTANH = Op('arctanh', arctanh_forward, arctanh_backward, kind='elementwise')


@public(method=True)
def arctanh(x) -> Value:
    """Inverse hyperbolic tangent."""
    return apply(ARCTANH, x)


# arcsin: z = asin x;  dz/dx = 1 / sqrt(1 - x**2)  (NaN where |x| > 1)
def arcsin_forward(xp, x):
    return xp.asin(x)


def arcsin_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / xp.sqrt(1 - x * x)),)


ARCSIN = Op('arcsin', arcsin_forward, arcsin_backward, kind='elementwise')


@public(method=True)
def arcsin(x) -> Value:
    """Inverse sine."""
    return apply(ARCSIN, x)


# arcsinh: z = asinh x;  dz/dx = 1 / sqrt(x**2 + 1)
def arcsinh_forward(xp, x):
    return xp.asinh(x)


def arcsinh_backward(xp, g, out, x, need):
    return (g / xp.sqrt(x * x + 1),)


ARCSINH = Op('arcsinh', arcsinh_forward, arcsinh_backward, kind='elementwise')


@public(method=True)
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


MAXIMUM = Op('maximum', maximum_forward, maximum_backward,
              kind='elementwise', symmetric=True)


@public
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


MINIMUM = Op('minimum', minimum_forward, minimum_backward,
              kind='elementwise', symmetric=True)


@public
def minimum(x, y) -> Value:
    """Elementwise min; at ties each input gets half the gradient."""
    return apply(MINIMUM, x, y)


# where: z = x where cond else y;  g goes to x where cond, to y elsewhere
def where_forward(xp, cond, x, y):
    return xp.where(cond, x, y)


def where_backward(xp, g, out, cond, x, y, need):
    return (None,
            xp.keep_where(cond, g) if need[1] else None,
            xp.keep_where(xp.logical_not(cond), g) if need[2] else None)


WHERE = Op('where', where_forward, where_backward, kind='elementwise')


@public
def where(cond, x, y) -> Value:
    """x where the boolean `cond` holds, else y (no gradient for cond)."""
    if isinstance(cond, Value) and cond.dtype != cond.bk.bool:
        raise TypeError(f'where: cond must be boolean, got {cond.dtype}')
    return apply(WHERE, cond, x, y)


# clip: z = min(max(x, lo), hi);  dz/dx = 1 where lo <= x <= hi, else 0
# (NaN where x is NaN)
def clip_forward(xp, x, lo, hi):
    return xp.clip(x, min=lo, max=hi)


def clip_backward(xp, g, out, x, lo, hi, need):
    return (xp.where(out == x, g, 0 * out),)    # 0 * NaN: NaN where x is


CLIP = Op('clip', clip_forward, clip_backward, kind='elementwise')


@public(method=True)
def clip(x, lo=None, hi=None) -> Value:
    """x limited to [lo, hi] (numbers or None); gradient 1 inside, bounds
    included, 0 outside."""
    return apply(CLIP, x, lo=lo, hi=hi)


# arctan: z = atan x;  dz/dx = 1 / (1 + x**2)
def arctan_forward(xp, x):
    return xp.atan(x)


def arctan_backward(xp, g, out, x, need):
    return (g / (1 + x * x),)


ARCTAN = Op('arctan', arctan_forward, arctan_backward, kind='elementwise')


@public(method=True)
def arctan(x) -> Value:
    """Inverse tangent."""
    return apply(ARCTAN, x)


# arctan2: z = atan2(y, x), the angle of the point (x, y);
# dz/dy = x / (x**2 + y**2), dz/dx = -y / (x**2 + y**2)  (undefined at 0, 0)
def arctan2_forward(xp, y, x):
    return xp.atan2(y, x)


def arctan2_backward(xp, g, out, y, x, need):
    r2 = x * x + y * y
    return (_exact(xp, g, g * x / r2) if need[0] else None,
            _exact(xp, g, -g * y / r2) if need[1] else None)


ARCTAN2 = Op('arctan2', arctan2_forward, arctan2_backward, kind='elementwise')


@public
def arctan2(y, x) -> Value:
    """The angle of the point (x, y), in (-pi, pi], NumPy's argument order."""
    return apply(ARCTAN2, y, x)


# hypot: z = sqrt(x**2 + y**2);  dz/dx = x / z, dz/dy = y / z  (0 at z = 0,
# as the gradient of norm)
def hypot_forward(xp, x, y):
    return xp.hypot(x, y)


def hypot_backward(xp, g, out, x, y, need):
    r = xp.where(out == 0, 1.0, out)
    return (g * x / r if need[0] else None,
            g * y / r if need[1] else None)


HYPOT = Op('hypot', hypot_forward, hypot_backward,
            kind='elementwise', symmetric=True)


@public
def hypot(x, y) -> Value:
    """sqrt(x**2 + y**2) without overflow; gradient 0 at (0, 0)."""
    return apply(HYPOT, x, y)


# logaddexp: z = log(e**x + e**y);  dz/dx = e**(x - z), dz/dy = e**(y - z)
def logaddexp_forward(xp, x, y):
    return xp.logaddexp(x, y)


def logaddexp_backward(xp, g, out, x, y, need):
    return (g * xp.exp(x - out) if need[0] else None,
            g * xp.exp(y - out) if need[1] else None)


LOGADDEXP = Op('logaddexp', logaddexp_forward, logaddexp_backward,
                kind='elementwise', symmetric=True)


@public
def logaddexp(x, y) -> Value:
    """log(e ** x + e ** y), without overflow."""
    return apply(LOGADDEXP, x, y)


# sinh: z = sinh x;  dz/dx = cosh x
def sinh_forward(xp, x):
    return xp.sinh(x)


def sinh_backward(xp, g, out, x, need):
    return (g * xp.cosh(x),)


SINH = Op('sinh', sinh_forward, sinh_backward, kind='elementwise')


@public(method=True)
def sinh(x) -> Value:
    """Hyperbolic sine."""
    return apply(SINH, x)


# cosh: z = cosh x;  dz/dx = sinh x
def cosh_forward(xp, x):
    return xp.cosh(x)


def cosh_backward(xp, g, out, x, need):
    return (g * xp.sinh(x),)


COSH = Op('cosh', cosh_forward, cosh_backward, kind='elementwise')


@public(method=True)
def cosh(x) -> Value:
    """Hyperbolic cosine."""
    return apply(COSH, x)


# tan: z = tan x;  dz/dx = 1 + z**2
def tan_forward(xp, x):
    return xp.tan(x)


def tan_backward(xp, g, out, x, need):
    return (g * (1 + out * out),)


TAN = Op('tan', tan_forward, tan_backward, kind='elementwise')


@public(method=True)
def tan(x) -> Value:
    """Tangent."""
    return apply(TAN, x)


# arccos: z = acos x;  dz/dx = -1 / sqrt(1 - x**2)  (NaN where |x| > 1)
def arccos_forward(xp, x):
    return xp.acos(x)


def arccos_backward(xp, g, out, x, need):
    return (_exact(xp, g, -g / xp.sqrt(1 - x * x)),)


ARCCOS = Op('arccos', arccos_forward, arccos_backward, kind='elementwise')


@public(method=True)
def arccos(x) -> Value:
    """Inverse cosine."""
    return apply(ARCCOS, x)


LN2, LN10 = 0.6931471805599453, 2.302585092994046   # ln 2, ln 10


# log2: z = log2 x = ln x / ln 2;  dz/dx = 1 / (x ln 2)  (NaN where x < 0)
def log2_forward(xp, x):
    return xp.log2(x)


def log2_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / (x * LN2), out),)


LOG2 = Op('log2', log2_forward, log2_backward, kind='elementwise')


@public(method=True)
def log2(x) -> Value:
    """Base-2 logarithm."""
    return apply(LOG2, x)


# log10: z = log10 x = ln x / ln 10;  dz/dx = 1 / (x ln 10)
def log10_forward(xp, x):
    return xp.log10(x)


def log10_backward(xp, g, out, x, need):
    return (_exact(xp, g, g / (x * LN10), out),)


LOG10 = Op('log10', log10_forward, log10_backward, kind='elementwise')


@public(method=True)
def log10(x) -> Value:
    """Base-10 logarithm."""
    return apply(LOG10, x)


# exp2: z = 2**x;  dz/dx = z ln 2
def exp2_forward(xp, x):
    return xp.pow(2.0, x)


def exp2_backward(xp, g, out, x, need):
    return (g * out * LN2,)


EXP2 = Op('exp2', exp2_forward, exp2_backward, kind='elementwise')


@public(method=True)
def exp2(x) -> Value:
    """2 ** x."""
    return apply(EXP2, x)


# sign, floor, ceil: piecewise constant;  dz/dx = 0 (also at the jumps,
# as PyTorch)
def sign_forward(xp, x):
    return xp.sign(x)


def sign_backward(xp, g, out, x, need):
    return (xp.zeros_like(g),)


SIGN = Op('sign', sign_forward, sign_backward, kind='elementwise')


@public(method=True)
def sign(x) -> Value:
    """-1, 0 or 1 as x is negative, zero or positive; gradient 0."""
    return apply(SIGN, x)


def floor_forward(xp, x):
    return xp.floor(x)


def floor_backward(xp, g, out, x, need):
    return (xp.zeros_like(g),)


FLOOR = Op('floor', floor_forward, floor_backward, kind='elementwise')


@public(method=True)
def floor(x) -> Value:
    """The largest integer <= x (as a float); gradient 0."""
    return apply(FLOOR, x)


def ceil_forward(xp, x):
    return xp.ceil(x)


def ceil_backward(xp, g, out, x, need):
    return (xp.zeros_like(g),)


CEIL = Op('ceil', ceil_forward, ceil_backward, kind='elementwise')


@public(method=True)
def ceil(x) -> Value:
    """The smallest integer >= x (as a float); gradient 0."""
    return apply(CEIL, x)


# mod: z = x - floor(x / y) y  (the sign of y, as NumPy's mod);
# dz/dx = 1, dz/dy = -floor(x / y)  (away from the jumps where x / y is an
# integer)
def mod_forward(xp, x, y):
    return xp.remainder(x, y)


def mod_backward(xp, g, out, x, y, need):
    return (g if need[0] else None,
            -g * xp.floor(x / y) if need[1] else None)


MOD = Op('mod', mod_forward, mod_backward, kind='elementwise')


@public
def mod(x, y) -> Value:
    """x modulo y with the sign of y (NumPy's mod, `x % y`); gradient 1 for
    x and -floor(x / y) for y."""
    return apply(MOD, x, y)


def _rmod(x, y) -> Value:
    """y % x, for `number % Value`."""
    return apply(MOD, y, x)


Value.__mod__, Value.__rmod__ = mod, _rmod


# dropout_mask: the factors of inverted dropout, of x's shape and dtype:
# 0 with probability p, else 1 / (1 - p), drawn afresh at every forward
# from `state.rng` (a NumPy Generator); all 1 while `state.training` is
# False. No gradient: dropout is x * mask, and mul's rule reads the mask
# this forward drew (the walk, compiled and chunked code all keep each
# node's output), so the gradient is exact, also where x is 0.
def dropout_mask_forward(xp, x, p, state):
    if not state.training or p == 0:
        return xp.ones(tuple(x.shape), dtype=x.dtype)
    keep = xp.asarray(state.rng.random(tuple(x.shape)) >= p)
    return xp.astype(keep, x.dtype) * (1.0 / (1.0 - p))


DROPOUT_MASK = Op('dropout_mask', dropout_mask_forward, kind='elementwise')


def dropout(x, p: float, state) -> Value:
    """Inverted dropout: each element of x zeroed with probability p, the
    others scaled by 1 / (1 - p), a fresh mask at every forward; x as it is
    (times 1) while `state.training` is False. `state` has `.training` and
    `.rng` (nn.Dropout is one)."""
    x = _value(x)
    return x * apply(DROPOUT_MASK, x, p=p, state=state)
