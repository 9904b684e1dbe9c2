"""micrograd: a tiny tensor autodiff engine on NumPy (or any Array API library).

`DTYPE` is read from the environment at import (`DTYPE=float32 python ...`),
float64 by default; arrays are cast to it when wrapped or fed.
"""
import os as _os

DTYPE = _os.environ.get('DTYPE', 'float64')
if DTYPE not in ('float16', 'float32', 'float64', 'float128'):
    raise ValueError(f"micrograd: DTYPE={DTYPE!r} in the environment; use "
                     "float16, float32, float64 or float128")

from .backend import to_host  # noqa: E402
from .checks import detect_anomaly  # noqa: E402
from .engine import OPS, Op, Value, apply  # noqa: E402
from .executor import Executor, no_grad  # noqa: E402
from . import ops  # noqa: E402
from .ops import *  # noqa: E402,F401,F403  (every @public op function)
from .gradcheck import gradcheck  # noqa: E402
from .functional import (grad, hessian, hvp, jacobian, jvp,  # noqa: E402
                         value_and_grad, vjp)
from .chunked import chunked, keep_freed_memory  # noqa: E402
from .compile import compile, compiled_source  # noqa: E402
from .draw import draw_dot, to_dot  # noqa: E402
from .profile import profile  # noqa: E402
from .serialize import load, save  # noqa: E402
from . import (data, functional, linalg, losses, metrics,  # noqa: E402
               nn, optim, train)     # (mg.nn.Linear, mg.linalg.inv, ...)

# NumPy-style aliases
multiply, divide, subtract, negative, power = mul, div, sub, neg, pow  # noqa: F405

__all__ = ['DTYPE', 'Executor', 'OPS', 'Op', 'Value', 'apply',
           'detect_anomaly', 'keep_freed_memory', 'no_grad', 'gradcheck',
           'grad', 'value_and_grad', 'vjp', 'jvp', 'hvp', 'jacobian',
           'hessian', *ops.__all__, 'multiply', 'divide', 'subtract',
           'negative', 'power', 'chunked', 'compile', 'compiled_source',
           'draw_dot', 'load', 'profile', 'save', 'to_dot', 'to_host']
