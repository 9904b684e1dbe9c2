"""Check a function's backward pass against central differences, in float64.

    from micrograd import gradcheck, tanh
    gradcheck(lambda x, w: tanh(x @ w), x_array, w_array)

The output is projected on a random upstream gradient `u` (so every output
element matters), and each input's gradient is compared with
(f(x + eps e) - f(x - eps e)) . u / 2 eps: element by element for small
inputs, along random directions for large ones.
"""
from __future__ import annotations

import numpy as np

from .engine import Value


class GradcheckError(AssertionError):
    """The backward pass and the finite differences disagree."""


def gradcheck(f, *inputs, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-4, max_elements: int = 64,
              projections: int = 8, seed: int = 0) -> bool:
    """Compare f's gradients with central differences; raise a
    GradcheckError naming the worst element, or return True.

    `f` takes one Value per input and returns a Value. Inputs with more
    than `max_elements` elements are checked along `projections` random
    directions instead of element by element.
    """
    rng = np.random.default_rng(seed)
    arrays = [np.array(x.data if isinstance(x, Value) else x, dtype=np.float64)
              for x in inputs]
    values = [Value(a, dtype='float64') for a in arrays]
    out = f(*values)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    failures = []
    for i, (a, v) in enumerate(zip(arrays, values)):
        grad = np.asarray(v.grad, dtype=np.float64)
        if a.size <= max_elements:
            directions = [(np.unravel_index(k, a.shape), _unit(a.shape, k))
                          for k in range(a.size)]
        else:
            directions = [(f'random direction {p}',
                           rng.standard_normal(a.shape))
                          for p in range(projections)]
        for where, d in directions:
            numeric = (_project(f, arrays, i, a + eps * d, upstream) -
                       _project(f, arrays, i, a - eps * d, upstream)) / (2 * eps)
            analytic = float(np.sum(grad * d))
            err = abs(numeric - analytic)
            if not err <= atol + rtol * abs(numeric):
                failures.append((err, i, a.shape, where, analytic, numeric))
    if failures:
        err, i, shape, where, analytic, numeric = max(failures, key=_badness)
        raise GradcheckError(
            f'gradcheck: {len(failures)} mismatch(es); worst: input {i} '
            f'(shape {shape}) at {where}: backward gives {analytic:.6g}, '
            f'central differences give {numeric:.6g} (abs error {err:.3g}, '
            f'allowed {atol:g} + {rtol:g} * |numeric|)')
    return True


def _badness(failure):
    """Sort key: the error, NaN counting as the worst."""
    return failure[0] if failure[0] == failure[0] else np.inf


def _unit(shape, k):
    d = np.zeros(shape)
    d.flat[k] = 1.0
    return d


def _project(f, arrays, i, replaced, upstream):
    """sum(f(inputs with input i replaced) * upstream), in float64."""
    args = [Value(replaced if j == i else a, dtype='float64',
                  requires_grad=False) for j, a in enumerate(arrays)]
    return float(np.sum(np.asarray(f(*args).data) * upstream))
