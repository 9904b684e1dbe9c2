"""micrograd: a tiny tensor autodiff engine on NumPy (or any Array API library).

`DTYPE` is read from the environment at import (`DTYPE=float32 python ...`),
float64 by default; arrays are cast to it when wrapped or fed.
"""
from os import environ

DTYPE = environ.get('DTYPE', 'float64')
if DTYPE not in ('float16', 'float32', 'float64', 'float128'):
    raise ValueError(f"micrograd: DTYPE={DTYPE!r} in the environment; use "
                     "float16, float32, float64 or float128")

from .checks import detect_anomaly  # noqa: E402
from .engine import OPS, Op, Value, apply  # noqa: E402
from .ops import (  # noqa: E402
    abs, add, astype, equal, not_equal, arcsin, arcsinh, arctanh, broadcast_to, clip, concatenate, cos,
    div, einsum, exp, expand_dims, expm1, getitem, greater, greater_equal,
    less, less_equal, log, log1p, log_softmax, logsumexp, matmul, max,
    maximum, mean, min, minimum, mul, neg, one_hot, pow, relu, reshape,
    sigmoid, sin, softmax, softplus, split, sqrt, squeeze, stack,
    stop_gradient, sub, sum, tanh, tensordot, transpose, where)
from .gradcheck import gradcheck  # noqa: E402

# NumPy-style aliases
multiply, divide, subtract, negative, power = mul, div, sub, neg, pow

__all__ = [
    'DTYPE', 'OPS', 'Op', 'Value', 'apply', 'detect_anomaly', 'gradcheck',
    'abs', 'add', 'astype', 'equal', 'not_equal', 'arcsin', 'arcsinh', 'arctanh', 'broadcast_to', 'clip',
    'concatenate', 'cos', 'div', 'divide', 'einsum', 'exp', 'expand_dims',
    'expm1', 'getitem', 'greater', 'greater_equal', 'less', 'less_equal',
    'log', 'log1p', 'log_softmax', 'logsumexp', 'matmul', 'max', 'maximum',
    'mean', 'min', 'minimum', 'mul', 'multiply', 'neg', 'negative', 'one_hot',
    'pow', 'power', 'relu', 'reshape', 'sigmoid', 'sin', 'softmax',
    'softplus', 'split', 'sqrt',
    'squeeze', 'stack', 'stop_gradient', 'sub', 'subtract', 'sum', 'tanh',
    'tensordot', 'transpose', 'where']
from .chunked import chunked  # noqa: E402
from .compile import compile, compiled_source  # noqa: E402
from .draw import draw_dot, to_dot  # noqa: E402
from .profile import profile  # noqa: E402
from .serialize import load, save  # noqa: E402

__all__ += ['chunked', 'compile', 'compiled_source', 'draw_dot', 'load', 'profile', 'save', 'to_dot']
from . import data, losses, nn, optim, train  # noqa: E402  (mg.nn.Linear, ...)
