"""Arithmetic: + - * / ** and unary minus."""
from __future__ import annotations

from ..engine import Op, Value, apply
from .common import _exact, public


# add: z = x + y;  dz/dx = 1, dz/dy = 1
def add_forward(xp, x, y):
    return x + y


def add_backward(xp, g, out, x, y, need):
    return g, g


ADD = Op('add', add_forward, add_backward,
          kind='elementwise', symmetric=True, linear=True)


@public
def add(x, y) -> Value:
    """x + y, broadcasting."""
    return apply(ADD, x, y)


# sub: z = x - y;  dz/dx = 1, dz/dy = -1
def sub_forward(xp, x, y):
    return x - y


def sub_backward(xp, g, out, x, y, need):
    return g, (-g if need[1] else None)


SUB = Op('sub', sub_forward, sub_backward, kind='elementwise', linear=True)


@public
def sub(x, y) -> Value:
    """x - y, broadcasting."""
    return apply(SUB, x, y)


# mul: z = x * y;  dz/dx = y, dz/dy = x
def mul_forward(xp, x, y):
    return x * y


def mul_backward(xp, g, out, x, y, need):
    return (g * y if need[0] else None), (g * x if need[1] else None)


MUL = Op('mul', mul_forward, mul_backward,
          kind='elementwise', symmetric=True, linear=True)


@public
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


DIV = Op('div', div_forward, div_backward, kind='elementwise')


@public
def div(x, y) -> Value:
    """x / y, elementwise, broadcasting."""
    return apply(DIV, x, y)


# pow: z = x ** y;  dz/dx = y * x ** (y - 1), dz/dy = z * log(x)
def pow_forward(xp, x, y):
    return x ** y


def pow_backward(xp, g, out, x, y, need):
    # y = 0 and z = 0 are exact zeros (not 0 * inf) at x = 0; at y = 0,
    # y / x: the same 0, and the derivatives of y x**(y-1) (second order)
    gx = _exact(xp, g, g * xp.where(y == 0, y / xp.where(x == 0, 1.0, x),
                                    y * x ** xp.where(y == 0, 1.0, y - 1))
                ) if need[0] else None
    gy = _exact(xp, g, g * xp.where(out == 0, 0.0, out * xp.log(x))) \
        if need[1] else None
    return gx, gy


POW = Op('pow', pow_forward, pow_backward, kind='elementwise')


@public
def pow(x, y) -> Value:  # noqa: A001  (micrograd.pow, as x ** y)
    """x ** y, for a number or a Value exponent."""
    return apply(POW, x, y)


# neg: z = -x;  dz/dx = -1
def neg_forward(xp, x):
    return -x


def neg_backward(xp, g, out, x, need):
    return (-g,)


NEG = Op('neg', neg_forward, neg_backward, kind='elementwise', linear=True)


@public
def neg(x) -> Value:
    """-x."""
    return apply(NEG, x)
